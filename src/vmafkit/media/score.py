"""Score a distorted stream against its reference, frame by frame, with real libvmaf.

Two back-ends give the same numbers: ffmpeg's `libvmaf` filter (default; decode and score in
one process) and a standalone libvmaf `vmaf` CLI (`vmafcli.py`).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vmafkit.errors import InputError
from vmafkit.media import ffmpeg as ffm
from vmafkit.media import libvmaf
from vmafkit.media.libvmaf import CANONICAL6, TARGET, parse_libvmaf_log
from vmafkit.media.sources import Source, describe_source

BACKEND_FFMPEG = "ffmpeg-libvmaf"
BACKEND_VMAF_CLI = "vmaf-cli"
FRAME_KEYS = ("frame_index", TARGET, *CANONICAL6)


@dataclass
class PairScore:
    """Per-frame canonical-6 + vmaf, and their per-clip means."""

    frames: list[dict[str, float]]
    mean: dict[str, float]
    backend: str
    libvmaf_version: str | None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "mean": self.mean,
            "backend": self.backend,
            "libvmaf_version": self.libvmaf_version,
            **self.meta,
        }


def frame_columns(metrics: Sequence[str] = ()) -> tuple[str, ...]:
    """The keys of every per-frame row, in order: FRAME_KEYS, then the metrics' columns."""
    return (*FRAME_KEYS, *libvmaf.metric_columns(metrics))


def clip_means(frames: list[dict[str, float]]) -> dict[str, float]:
    """Per-clip arithmetic means of every per-frame column but frame_index."""
    keys = [key for key in frames[0] if key != "frame_index"] if frames else []
    return {k: sum(f[k] for f in frames) / len(frames) for k in keys}


def run_libvmaf(
    ff: ffm.Ffmpeg,
    distorted: ffm.InputSpec,
    reference: ffm.InputSpec,
    *,
    pix_fmt: str,
    ref_crop: list[str] | tuple = (),
    dis_crop: list[str] | tuple = (),
    max_frames: int | None = None,
    threads: int = 1,
    what: str = "",
    vmaf_model: str = ffm.VMAF_MODEL,
    metrics: Sequence[str] = (),
    subsample: int = 1,
) -> list[dict[str, float]]:
    """One ffmpeg process decodes both streams and scores them; returns per-frame rows (every
    `subsample`-th frame, keeping its true frame_index)."""
    ffm.check_scorable_size(*ffm.cropped_size(distorted.width, distorted.height, dis_crop), path=what or distorted.path)
    libvmaf.check_metric_sizes(
        metrics, *ffm.cropped_size(distorted.width, distorted.height, dis_crop), path=what or distorted.path
    )
    with tempfile.TemporaryDirectory(prefix="vmafkit-score-") as tmp:
        log_path = Path(tmp) / "vmaf.json"
        argv = ffm.score_argv(
            ff,
            distorted,
            reference,
            log_path,
            pix_fmt=pix_fmt,
            ref_crop=ref_crop,
            dis_crop=dis_crop,
            max_frames=max_frames,
            threads=threads,
            vmaf_model=vmaf_model,
            metrics=metrics,
            subsample=subsample,
        )
        result = ffm.run_ffmpeg(argv)
        if result.returncode != 0 or not log_path.exists():
            raise InputError(
                f"libvmaf scoring failed: {ffm.last_error_line(result.stderr)}", path=what or distorted.path
            )
        try:
            data = json.loads(log_path.read_text())
        except json.JSONDecodeError:
            raise InputError("libvmaf wrote an unreadable log", path=what or distorted.path) from None
    return parse_libvmaf_log(data, str(what or distorted.path), vmaf_model=vmaf_model, metrics=metrics)


def count_frames(ff: ffm.Ffmpeg, source: Source, max_frames: int | None = None) -> int:
    """Frames a source decodes to (known from the size for raw / y4m, decoded otherwise)."""
    if source.frames is not None:
        return min(source.frames, max_frames) if max_frames else source.frames
    result = ffm.run_ffmpeg(ffm.count_frames_argv(ff, source.input_spec, max_frames))
    if result.returncode != 0:
        raise InputError(f"cannot decode: {ffm.last_error_line(result.stderr)}", path=source.path)
    return ffm.progress_frames(result.stdout)


def score_pair(
    ref: str | Path,
    dis: str | Path,
    *,
    width: int | None = None,
    height: int | None = None,
    pix_fmt: str | None = None,
    fps: float | None = None,
    max_frames: int | None = None,
    ffmpeg: str | None = None,
    vmaf_bin: str | None = None,
    threads: int = 1,
    vmaf_model: str = ffm.VMAF_MODEL,
    metrics: Sequence[str] = (),
    subsample: int = 1,
) -> PairScore:
    """Score DIS against REF. Geometry flags apply to raw inputs that lack it in their names.

    Both inputs must decode to the same number of frames (after `max_frames`) and the same size;
    anything else is an error, never a silently misaligned score. `vmaf_model` (libvmaf.MODELS)
    gives the score and the canonical-6, `metrics` (libvmaf.METRICS) add their columns, and with
    `subsample` N only frames 0, N, 2N, ... are scored, in the same pass.
    """
    libvmaf.get_model(vmaf_model)  # refuse a bad name before any work
    metrics = libvmaf.parse_metrics(metrics)
    libvmaf.check_subsample(subsample)
    ff = ffm.find_ffmpeg(ffmpeg)
    ref_src = describe_source(ref, ff=ff, width=width, height=height, pix_fmt=pix_fmt, fps=fps)
    dis_src = describe_source(dis, ff=ff, width=width, height=height, pix_fmt=pix_fmt, fps=fps)
    if (ref_src.width, ref_src.height) != (dis_src.width, dis_src.height):
        raise InputError(
            f"size {dis_src.width}x{dis_src.height} differs from the reference's {ref_src.width}x{ref_src.height}",
            path=dis,
        )
    ffm.check_scorable_size(*ref_src.even_size, path=ref, source_size=(ref_src.width, ref_src.height))
    libvmaf.check_metric_sizes(metrics, *ref_src.even_size, path=ref)
    n_ref, n_dis = count_frames(ff, ref_src, max_frames), count_frames(ff, dis_src, max_frames)
    if n_ref == 0:
        raise InputError("reference has no decodable frames", path=ref)
    if n_ref != n_dis:
        raise InputError(f"has {n_dis} frames but the reference has {n_ref}", path=dis)
    compare_fmt = ffm.scoring_pix_fmt(ref_src.pix_fmt)
    if vmaf_bin:
        from vmafkit.media.vmafcli import score_with_vmaf_cli

        frames = score_with_vmaf_cli(
            vmaf_bin,
            ff,
            dis_src.input_spec,
            ref_src.input_spec,
            pix_fmt=compare_fmt,
            ref_crop=ref_src.crop,
            dis_crop=dis_src.crop,
            max_frames=max_frames,
            threads=threads,
            what=str(dis),
            vmaf_model=vmaf_model,
            metrics=metrics,
            subsample=subsample,
        )
        backend, version = BACKEND_VMAF_CLI, None
    else:
        frames = run_libvmaf(
            ff,
            dis_src.input_spec,
            ref_src.input_spec,
            pix_fmt=compare_fmt,
            ref_crop=ref_src.crop,
            dis_crop=dis_src.crop,
            max_frames=max_frames,
            threads=threads,
            what=str(dis),
            vmaf_model=vmaf_model,
            metrics=metrics,
            subsample=subsample,
        )
        backend, version = BACKEND_FFMPEG, ff.libvmaf_version
    expected = libvmaf.scored_frames(n_ref, subsample)
    if len(frames) != expected:
        raise InputError(f"libvmaf scored {len(frames)} frames, expected {expected}", path=dis)
    width, height = ref_src.even_size
    meta = {
        "ref": str(ref),
        "dis": str(dis),
        "width": width,
        "height": height,
        "pix_fmt": compare_fmt,
        "ffmpeg_version": ff.version,
        "vmaf_model": vmaf_model,
        "metrics": list(metrics),
        "subsample": subsample,
    }
    return PairScore(frames=frames, mean=clip_means(frames), backend=backend, libvmaf_version=version, meta=meta)
