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

A model's **feature set** names the elementary features it logs, under stable column names:
`vmaf-v0.6.1` is the canonical-6 (every v0.6.1-family model), `vmaf-v1.0.16` the 14 features of
the VMAF v1 models (ADM2/3 and its four scales, AIM, motion2/3, motion SAD, CAMBI at high
resolution, SpEED chroma U/V/UV; no VIF). libvmaf names a v1 feature after its parameters
(`integer_adm2_csf_2_dlmw_0.7_egl_1_min_0.5_nw_0.02_nvd_5` for the 5H model; CAMBI gains
`_encbd_8_ench_272_encw_640` with encode-side parameters), so a v1 column is read from the one log
name that starts with its prefix (`V1_FEATURES`). v1 is scored at 10 bits, as Netflix's v1 notes
ask for SDR ("even if the encoded video is 8-bit"), and its CAMBI is told the encode's own width,
height and bit depth (`cambi.enc_width`/`enc_height`/`enc_bitdepth`), measured to matter: an 8-bit
encode scored at 10 bits without them reads as more banded (CAMBI 13.0 against 9.4 on bikes).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmafkit.errors import InputError

DEFAULT_MODEL = "vmaf_v0.6.1"
CANONICAL6 = ("adm2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3", "motion2")
TARGET = "vmaf"
# libvmaf's log names of the canonical-6 under the default model, in the same order.
LIBVMAF_NAMES = tuple(f"integer_{name}" for name in CANONICAL6)

V0_FEATURE_SET = "vmaf-v0.6.1"
V1_FEATURE_SET = "vmaf-v1.0.16"
# The v1 column -> the prefix of its libvmaf log name (the rest spells the model's parameters).
V1_FEATURES = {
    "integer_adm2": "integer_adm2_",
    "integer_adm3": "integer_adm3_",
    "integer_adm_scale0": "integer_adm_scale0_",
    "integer_adm_scale1": "integer_adm_scale1_",
    "integer_adm_scale2": "integer_adm_scale2_",
    "integer_adm_scale3": "integer_adm_scale3_",
    "integer_aim": "integer_aim_",
    "integer_motion2": "integer_motion2_",
    "integer_motion3": "integer_motion3_",
    "integer_motion_sad": "VMAF_integer_feature_motion_sad_score_",
    "cambi_hrs": "cambi_hrs_",
    "speed_chroma_u": "speed_chroma_u_",
    "speed_chroma_v": "speed_chroma_v_",
    "speed_chroma_uv": "speed_chroma_uv_",
}
FEATURE_SETS: dict[str, tuple[str, ...]] = {V0_FEATURE_SET: CANONICAL6, V1_FEATURE_SET: tuple(V1_FEATURES)}


@dataclass(frozen=True)
class VmafModel:
    """One `--model` choice."""

    name: str  # what --model takes and what rows record as `vmaf_model`
    version: str  # libvmaf's built-in model
    transform: bool  # libvmaf's enable_transform: the phone model's score mapping
    feature_names: tuple[str, ...]  # libvmaf's log names of the feature set's columns, in their order
    about: str
    feature_set: str = V0_FEATURE_SET
    score_max: float = 100.0  # the top of the model's score range (110 for v1's 4K 3H model)
    bit_depth: int | None = None  # scored at this depth whatever the inputs' (10 for v1), or theirs
    # The smallest 16:9 size measured to score (libvmaf's SpEED and CAMBI refuse smaller frames
    # with "problem during vmaf_read_pictures"); named when libvmaf fails on a smaller one.
    smallest_16_9: tuple[int, int] | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        """The per-frame feature columns this model's rows carry (its feature set)."""
        return FEATURE_SETS[self.feature_set]

    @property
    def is_v1(self) -> bool:
        return self.feature_set == V1_FEATURE_SET


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
        *(
            VmafModel(
                f"vmaf_v1.0.16{hfr}_{condition}",
                f"vmaf_v1.0.16{hfr}_{condition}",
                False,
                tuple(V1_FEATURES.values()),
                f"VMAF v1, {about}{', high frame rate (~50/60 fps)' if hfr else ''}",
                feature_set=V1_FEATURE_SET,
                score_max=score_max,
                bit_depth=10,
                smallest_16_9=smallest,
            )
            for hfr in ("", "_hfr")
            for condition, about, score_max, smallest in (
                ("3d0h", "1080p at 3H (the standard model)", 100.0, (320, 180)),
                ("5d0h", "1080p at 5H (the phone model)", 100.0, (480, 270)),
                ("1d5h_2160", "4K at 1.5H (the default 4K model)", 100.0, (320, 180)),
                ("3d0h_2160", "4K at 3H (consumer TV; scores up to 110)", 110.0, (640, 360)),
            )
        ),
    )
}


@dataclass(frozen=True)
class Metric:
    """One `--metrics` choice: a libvmaf feature extractor computed in the same pass as VMAF, or
    an ffmpeg filter run on the same decoded frames beside libvmaf (`ffmpeg_filter`: XPSNR)."""

    name: str  # what --metrics takes
    feature: str  # libvmaf's feature extractor ("" for an ffmpeg filter)
    columns: tuple[str, ...]  # what it writes per frame: libvmaf's own log names, kept as the columns
    about: str
    # The smallest frames it scores (libvmaf fails "problem during vmaf_read_pictures" below them):
    min_both_sides: int = 0  # each side at least this
    min_larger_side: int = 0  # the larger side at least this
    ffmpeg_filter: str | None = None  # computed by this ffmpeg filter, not by libvmaf


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
        # ffmpeg's xpsnr filter (ITU-T's extended perceptually weighted PSNR), on the same frames
        Metric("xpsnr", "", ("xpsnr_y", "xpsnr_u", "xpsnr_v"), "XPSNR of Y, U and V (dB)", ffmpeg_filter="xpsnr"),
    )
}
METRIC_COLUMNS = tuple(column for metric in METRICS.values() for column in metric.columns)
# XPSNR of a plane identical to the reference's is infinite; JSON has no infinity, so it is written
# null (and read back as null) in these columns only.
INFINITE_AS_NULL_COLUMNS = METRICS["xpsnr"].columns


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


def libvmaf_metrics(metrics: Iterable[str]) -> tuple[str, ...]:
    """The metrics libvmaf computes itself (not an ffmpeg filter's), in their order."""
    return tuple(name for name in metrics if METRICS[name].ffmpeg_filter is None)


def filter_metrics(metrics: Iterable[str]) -> tuple[str, ...]:
    """The metrics an ffmpeg filter computes beside libvmaf (XPSNR), in their order."""
    return tuple(name for name in metrics if METRICS[name].ffmpeg_filter is not None)


RECIPE_KEY = "scoring_recipe"  # a corpus row's: the id of the scoring recipe it was scored with


def scoring_recipe(
    vmaf_model: str,
    metrics: Sequence[str],
    subsample: int,
    scale_filter: str | None,
    hdr_as_sdr: bool = False,
) -> dict[str, Any]:
    """What makes two rows' numbers one quantity: the model and its feature set, the extra metrics,
    the subsampling, the depth it scores at (10 bits for v1, else the clip's own), the scale filter
    a resized side went through (None: nothing resized), and whether HDR was accepted as SDR. The
    libvmaf build is left out: every row carries its own `libvmaf_version`, which `merge` checks
    apart so that `--allow-mixed-versions` can accept a difference there and nowhere else."""
    model = get_model(vmaf_model)
    return {
        "model": model.name,
        "feature_set": model.feature_set,
        "metrics": list(metrics),
        "subsample": int(subsample),
        "depth": model.bit_depth or "source",
        "scale_filter": scale_filter,
        "hdr_as_sdr": bool(hdr_as_sdr),
    }


def recipe_id(recipe: Mapping[str, Any]) -> str:
    """The recipe's id: the first 16 hex digits of the sha256 of its canonical JSON."""
    text = json.dumps(dict(recipe), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_vmaf_cli_metrics(metrics: Iterable[str]) -> None:
    """The standalone `vmaf` CLI runs libvmaf alone: an ffmpeg filter's metric (XPSNR) is refused,
    before any work, for that back-end."""
    if filter_metrics(metrics):
        raise InputError(
            f"--metrics {', '.join(filter_metrics(metrics))} is ffmpeg's own filter, which the vmaf CLI "
            "back-end cannot run: score without --vmaf-bin"
        )


def parse_xpsnr_stats(text: str, where: str) -> dict[int, dict[str, float]]:
    """ffmpeg's xpsnr stats file (`n:    1  XPSNR y: 43.6692  XPSNR u: 52.1385  XPSNR v: 53.1321`,
    n counted from 1) -> {frame_index: {xpsnr_y, xpsnr_u, xpsnr_v}}. A frame identical in a plane
    reads `inf` there, kept as infinity. The closing `XPSNR average, N frames ...` line is the
    filter's own summary over every frame it saw, not only the scored ones: left out."""
    frames: dict[int, dict[str, float]] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        words = line.replace(":", " ").split()
        if not words or line.startswith("XPSNR average"):
            continue
        try:
            if words[0] != "n" or words[2::3] != ["XPSNR"] * 3 or words[3::3] != ["y", "u", "v"]:
                raise ValueError
            n = int(words[1])
            frames[n - 1] = {f"xpsnr_{p}": float(v) for p, v in zip("yuv", words[4::3])}
        except (ValueError, IndexError):
            raise InputError(f"unreadable xpsnr stats line {lineno}: {line[:80]!r}", path=where) from None
    return frames


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


# The smallest encode size libvmaf's CAMBI takes as `enc_width`/`enc_height` (measured: 216x150
# works; 215x150, 216x149 and every portrait size tried, 150x216 among them, fail the whole run).
CAMBI_ENCODE_MIN = (216, 150)


@dataclass(frozen=True)
class EncodeSide:
    """What the distorted clip was encoded at, before any rescaling for scoring: v1's CAMBI is told
    it (`cambi.enc_width`, `enc_height`, `enc_bitdepth`); width and height are None for an encode
    smaller than CAMBI_ENCODE_MIN, which CAMBI refuses to be told (it then judges the frames at the
    scored size, told the bit depth alone)."""

    width: int | None
    height: int | None
    bit_depth: int

    @classmethod
    def of(cls, width: int, height: int, bit_depth: int) -> EncodeSide:
        if width >= CAMBI_ENCODE_MIN[0] and height >= CAMBI_ENCODE_MIN[1]:
            return cls(width, height, bit_depth)
        return cls(None, None, bit_depth)


def feature_columns(vmaf_model: str) -> tuple[str, ...]:
    """The feature columns a row scored with `vmaf_model` carries: its model's feature set, the
    canonical-6 for a model name vmafkit does not know (a row of another kit's corpus)."""
    model = MODELS.get(vmaf_model)
    return model.columns if model is not None else CANONICAL6


def feature_set_of(vmaf_model: str) -> str:
    """The feature set of a row scored with `vmaf_model` (the v0.6.1 one for an unknown name)."""
    model = MODELS.get(vmaf_model)
    return model.feature_set if model is not None else V0_FEATURE_SET


def score_max_of(vmaf_model: str) -> float:
    """The top of `vmaf_model`'s score range (100, or 110 for v1's 4K 3H model)."""
    model = MODELS.get(vmaf_model)
    return model.score_max if model is not None else 100.0


def too_small_hint(model: VmafModel, width: int, height: int) -> str | None:
    """Why libvmaf may have refused frames of this size with this model (a v1 model's SpEED and CAMBI
    need larger frames than v0.6.1's features), or None when the size is not the likely cause."""
    if model.smallest_16_9 is None:
        return None
    least_w, least_h = model.smallest_16_9
    if width >= least_w and height >= least_h:
        return None
    return (
        f"{model.name} needs larger frames than {width}x{height} (its SpEED and CAMBI features; "
        f"{least_w}x{least_h} is the smallest 16:9 size measured to work): score at a larger --resolution "
        "or with a v0.6.1 model"
    )


def model_spec(vmaf_model: str, encode: EncodeSide | None = None) -> list[str]:
    """The `key=value` words of libvmaf's model option (joined with `:` by the `vmaf` CLI, with an
    escaped `\\:` inside ffmpeg's filter graph): the built-in model, its score transform, and for
    a v1 model the encode side of its CAMBI."""
    model = get_model(vmaf_model)
    words = [f"version={model.version}"]
    if model.transform:
        words.append("enable_transform=true")
    if model.is_v1 and encode is not None:
        if encode.width is not None and encode.height is not None:
            words += [f"cambi.enc_width={encode.width}", f"cambi.enc_height={encode.height}"]
        words.append(f"cambi.enc_bitdepth={encode.bit_depth}")
    return words


def _log_names(model: VmafModel, first_frame: dict[str, Any], where: str) -> list[tuple[str, str]]:
    """(column, libvmaf's log name) for the model's feature set, read off the first frame's keys."""
    if not model.is_v1:
        return list(zip(model.columns, model.feature_names))
    names = []
    for column, prefix in zip(model.columns, model.feature_names):
        found = [key for key in first_frame if key.startswith(prefix)]
        if len(found) != 1:
            raise InputError(f"libvmaf log has {len(found)} entries for {column} ({prefix}*), expected 1", path=where)
        names.append((column, found[0]))
    return names


def parse_libvmaf_log(
    data: Any, where: str, *, vmaf_model: str = DEFAULT_MODEL, metrics: Sequence[str] = ()
) -> list[dict[str, float]]:
    """libvmaf's JSON log -> [{frame_index, vmaf, <the model's feature set>, metric columns}] in
    frame order.

    The feature set's columns are read under the names `vmaf_model` gives them (`MODELS`; a v1
    model's by their prefix), the metrics under their own columns (`METRICS`). A log of another
    shape (a back-end's `vmaf` CLI may be anything), a value that is not a finite number (vmaf,
    features; a metric may be infinite, as PSNR of identical frames) or a frame twice is one
    InputError naming `where`."""
    entries = data.get("frames") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("metrics"), dict) for e in entries
    ):
        raise InputError("libvmaf log is not {frames: [{frameNum, metrics: {...}}, ...]}", path=where)
    names = _log_names(get_model(vmaf_model), entries[0]["metrics"] if entries else {}, where)
    columns = metric_columns(libvmaf_metrics(metrics))
    frames = []
    seen: set[int] = set()
    for entry in entries:
        values = entry["metrics"]
        try:
            index = entry["frameNum"]
            if isinstance(index, bool) or not isinstance(index, int) or index < 0 or index in seen:
                raise InputError(f"libvmaf log has frameNum {index!r} twice or not a frame number", path=where)
            seen.add(index)
            row = {"frame_index": index, TARGET: _finite(values[TARGET], TARGET, where)}
            for ours, theirs in names:
                row[ours] = _finite(values[theirs], theirs, where)
            for column in columns:
                row[column] = _number(values[column], column, where)
        except KeyError as exc:
            raise InputError(f"libvmaf log lacks {exc.args[0]}", path=where) from None
        frames.append(row)
    frames.sort(key=lambda r: r["frame_index"])
    return frames


def _number(value: Any, name: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise InputError(f"libvmaf log's {name} is {value!r}, not a number", path=where)
    return float(value)


def _finite(value: Any, name: str, where: str) -> float:
    number = _number(value, name, where)
    if not math.isfinite(number):
        raise InputError(f"libvmaf log's {name} is {value!r}, not a finite number", path=where)
    return number
