"""What vmafkit asks of libvmaf: its built-in VMAF models, the extra metrics it can report beside
VMAF, and the names each writes into libvmaf's JSON log.

The one owner of these names, of the canonical-6 feature names and the target (the corpus schema
and everything after it take them from here), and of reading libvmaf's JSON log into per-frame
rows (both scoring back-ends, `score.py` and `vmafcli.py`, return them). Every entry was checked by running the imageio-ffmpeg wheel's
ffmpeg n9.0.2 with libvmaf 86da14d (`tests/e2e/test_models_metrics.py` runs them all): the
built-ins it lacks (`vmaf_b_v0.6.3`, `vmaf_float_b_v0.6.3`, `vmaf_float_4k_v0.6.1neg`) are not
offered. The argv spellings (ffmpeg's filter options, the `vmaf` CLI's flags) live with their argv
builders (`ffmpeg.py`, `vmafcli.py`).

A model decides what the corpus's feature columns hold, not only the `vmaf` score: the NEG models
compute ADM and VIF with an enhancement gain limit of 1 (`integer_adm2_egl_1`, ...), the float
models compute the float features (`adm2`, ...). vmafkit stores them under the canonical-6 names
either way and records the model in every row (`vmaf_model`), so rows of two models never meet.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmafkit.errors import InputError

DEFAULT_MODEL = "vmaf_v0.6.1"
CANONICAL6 = ("adm2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3", "motion2")
TARGET = "vmaf"
# libvmaf's log names of the canonical-6 under the default model, in the same order.
LIBVMAF_NAMES = tuple(f"integer_{name}" for name in CANONICAL6)


@dataclass(frozen=True)
class VmafModel:
    """One `--model` choice."""

    name: str  # what --model takes and what rows record as `vmaf_model`
    version: str  # libvmaf's built-in model
    transform: bool  # libvmaf's enable_transform: the phone model's score mapping
    feature_names: tuple[str, ...]  # libvmaf's log names of the canonical-6, in their order
    about: str


def _integer(suffix: str = "") -> tuple[str, ...]:
    return tuple(f"integer_{n}{suffix if n != 'motion2' else ''}" for n in CANONICAL6)


def _float(suffix: str = "") -> tuple[str, ...]:
    return tuple(f"{n}{suffix if n != 'motion2' else ''}" for n in CANONICAL6)


_EGL = "_egl_1"  # libvmaf's suffix for ADM/VIF with enhancement gain limit 1 (the NEG models)
MODELS: dict[str, VmafModel] = {
    m.name: m
    for m in (
        VmafModel("vmaf_v0.6.1", "vmaf_v0.6.1", False, _integer(), "the default (1080p, TV viewing distance)"),
        VmafModel("vmaf_v0.6.1neg", "vmaf_v0.6.1neg", False, _integer(_EGL), "no gain for enhancement (NEG)"),
        VmafModel("vmaf_4k_v0.6.1", "vmaf_4k_v0.6.1", False, _integer(), "4K TV viewing distance"),
        VmafModel("vmaf_4k_v0.6.1neg", "vmaf_4k_v0.6.1neg", False, _integer(_EGL), "4K, NEG"),
        VmafModel("vmaf_float_v0.6.1", "vmaf_float_v0.6.1", False, _float(), "float features"),
        VmafModel("vmaf_float_v0.6.1neg", "vmaf_float_v0.6.1neg", False, _float(_EGL), "float features, NEG"),
        VmafModel("vmaf_float_4k_v0.6.1", "vmaf_float_4k_v0.6.1", False, _float(), "float features, 4K"),
        # Not a libvmaf built-in name: vmaf_v0.6.1 with its phone score transform switched on.
        VmafModel("vmaf_v0.6.1_phone", "vmaf_v0.6.1", True, _integer(), "vmaf_v0.6.1 with the phone transform"),
    )
}


@dataclass(frozen=True)
class Metric:
    """One `--metrics` choice: a libvmaf feature extractor computed in the same pass as VMAF."""

    name: str  # what --metrics takes
    feature: str  # libvmaf's feature extractor
    columns: tuple[str, ...]  # what it writes per frame: libvmaf's own log names, kept as the columns
    about: str
    # The smallest frames it scores (libvmaf fails "problem during vmaf_read_pictures" below them):
    min_both_sides: int = 0  # each side at least this
    min_larger_side: int = 0  # the larger side at least this


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("psnr", "psnr", ("psnr_y", "psnr_cb", "psnr_cr"), "PSNR of Y, Cb and Cr (dB)"),
        Metric(
            "psnr_hvs",
            "psnr_hvs",
            ("psnr_hvs_y", "psnr_hvs_cb", "psnr_hvs_cr", "psnr_hvs"),
            "PSNR-HVS of Y, Cb, Cr and combined (dB)",
        ),
        Metric("ssim", "float_ssim", ("float_ssim",), "SSIM of luma"),
        # Measured: 176x176 works, 175 on either side fails (5 scales of an 11-tap window).
        Metric("ms_ssim", "float_ms_ssim", ("float_ms_ssim",), "MS-SSIM of luma", min_both_sides=176),
        # Measured: 216x100 and 100x216 work, 215x215 fails (libvmaf's CAMBI_MIN_WIDTH_HEIGHT).
        Metric("cambi", "cambi", ("cambi",), "CAMBI banding (0 = none; higher is worse)", min_larger_side=216),
        Metric("ciede", "ciede", ("ciede2000",), "CIEDE2000 colour difference"),
    )
}
METRIC_COLUMNS = tuple(column for metric in METRICS.values() for column in metric.columns)


def get_model(name: str) -> VmafModel:
    """The model called `name`; InputError listing the allowed names otherwise."""
    model = MODELS.get(name)
    if model is None:
        raise InputError(f"unknown libvmaf model {name!r}; allowed: {', '.join(MODELS)}")
    return model


def parse_metrics(names: str | Iterable[str] | None) -> tuple[str, ...]:
    """'psnr, ssim' (or a sequence of names) -> ('psnr', 'ssim'), in the order given, each once;
    InputError naming the allowed metrics for an unknown one."""
    if names is None:
        return ()
    items = names.split(",") if isinstance(names, str) else list(names)
    chosen: list[str] = []
    for item in (str(i).strip() for i in items):
        if not item:
            continue
        if item not in METRICS:
            raise InputError(f"unknown metric {item!r}; allowed: {', '.join(METRICS)}")
        if item not in chosen:
            chosen.append(item)
    return tuple(chosen)


def metric_columns(metrics: Iterable[str]) -> tuple[str, ...]:
    """The per-frame columns `metrics` add, in their order."""
    return tuple(column for name in metrics for column in METRICS[name].columns)


def check_subsample(subsample: int) -> int:
    from vmafkit.validation import SUBSAMPLE_RANGE

    low, high = SUBSAMPLE_RANGE
    if isinstance(subsample, bool) or not isinstance(subsample, int) or not low <= subsample <= high:
        raise InputError(f"--subsample must be a whole number from {low} to {high}, got {subsample!r}")
    return subsample


def scored_frames(frames: int, subsample: int) -> int:
    """How many of `frames` frames libvmaf scores with n_subsample: indices 0, N, 2N, ..."""
    return math.ceil(frames / subsample)


def check_metric_sizes(metrics: Iterable[str], width: int, height: int, *, path: str | Path | None = None) -> None:
    """Refuse, before any work, frames too small for a chosen metric (libvmaf fails on them with
    nothing but "problem during vmaf_read_pictures")."""
    for name in metrics:
        metric = METRICS[name]
        if min(width, height) < metric.min_both_sides:
            raise InputError(
                f"frames are {width}x{height} as scored; --metrics {name} needs at least "
                f"{metric.min_both_sides}x{metric.min_both_sides}",
                path=path,
            )
        if max(width, height) < metric.min_larger_side:
            raise InputError(
                f"frames are {width}x{height} as scored; --metrics {name} needs a side of at least "
                f"{metric.min_larger_side}",
                path=path,
            )


def parse_libvmaf_log(
    data: dict[str, Any], where: str, *, vmaf_model: str = DEFAULT_MODEL, metrics: Sequence[str] = ()
) -> list[dict[str, float]]:
    """libvmaf's JSON log -> [{frame_index, vmaf, adm2, ..., metric columns}] in frame order.

    The canonical-6 are read under the names `vmaf_model` gives them (`MODELS`), the metrics
    under their own columns (`METRICS`)."""
    names = list(zip(CANONICAL6, get_model(vmaf_model).feature_names))
    columns = metric_columns(metrics)
    frames = []
    for entry in data.get("frames", []):
        metrics_of_frame = entry.get("metrics", {})
        try:
            row = {"frame_index": int(entry["frameNum"]), TARGET: float(metrics_of_frame["vmaf"])}
            for ours, theirs in names:
                row[ours] = float(metrics_of_frame[theirs])
            for column in columns:
                row[column] = float(metrics_of_frame[column])
        except KeyError as exc:
            raise InputError(f"libvmaf log lacks {exc.args[0]}", path=where) from None
        frames.append(row)
    frames.sort(key=lambda r: r["frame_index"])
    return frames
