"""Temporal alignment of a distorted video to its reference (`score --align`).

A distorted video that starts a frame or two late (an encoder's delay, a capture) or early (a
trimmed intro) is scored against the wrong reference frames, silently: one frame of offset costs
about 29 VMAF points on a real clip. `find_offset` finds the offset by a cheap comparison: both
sides' luma, cropped as they are scored and shrunk to `T.ALIGN_THUMB_WIDTH` pixels wide (area
average), and at every offset of the window the normalised cross-correlation (NCC) of the two
sides' *temporal differences* (frame i+1 minus frame i, every pixel): what moves must move at the
same moments. Differences, not frames: a slow clip's frames look alike at neighbouring offsets
(`bench/align.py --margins`: frame PSNR-Y picked a wrong offset for box 640x480 at crf 35, by
margins of 0.6 dB, where the NCC picked right by 0.11-0.13). The mean PSNR-Y of the frames at the
chosen offset is reported beside it.

**The offset's sign.** `offset` = k means DIS lags REF by k frames: DIS frame i + k shows REF frame i.
k > 0: DIS starts k frames late (its first k frames show nothing of REF's start); k < 0: DIS starts
|k| frames early (REF's first |k| frames are missing from it). The aligned pairs skip k frames of DIS
(k > 0) or |k| frames of REF (k < 0); the pairs run while both sides have frames.

**Confidence.** The best offset's NCC is compared with the best one at least two frames away from
it (the runner-up: a neighbour of the true offset correlates too): the alignment is convincing when
it beats the runner-up by `T.ALIGN_MARGIN_NCC`. A still, nearly still or heavily distorted clip
may not be alignable this way, and is said so (exit 2 with `--align auto`), never scored at a
guessed offset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vmafkit import thresholds as T
from vmafkit.errors import InputError
from vmafkit.media import ffmpeg as ffm
from vmafkit.media.sources import Source

AUTO = "auto"
PSNR_CAP_DB = 100.0  # identical thumbnails: the PSNR of an MSE of zero, capped as libvmaf caps PSNR


@dataclass(frozen=True)
class Alignment:
    """Where DIS's frames sit against REF's (the module doc's sign), and how sure the search is."""

    offset: int
    forced: bool  # given with --align N, not searched
    window: int = 0  # offsets searched: -window..window
    ncc: float | None = None  # the NCC of the temporal differences at the offset
    runner_up_offset: int | None = None
    runner_up_ncc: float | None = None
    psnr_y_db: float | None = None  # mean PSNR-Y of the thumbnails' pairs at the offset
    pairs: int = 0  # aligned pairs the thumbnails compared

    @property
    def margin(self) -> float | None:
        if self.ncc is None or self.runner_up_ncc is None:
            return None
        return self.ncc - self.runner_up_ncc

    @property
    def convincing(self) -> bool:
        margin = self.margin
        return self.forced or self.runner_up_ncc is None or (margin is not None and margin >= T.ALIGN_MARGIN_NCC)

    @property
    def ref_skip(self) -> int:
        return max(0, -self.offset)

    @property
    def dis_skip(self) -> int:
        return max(0, self.offset)

    def to_json(self) -> dict[str, Any]:
        return {
            "offset": self.offset,
            "meaning": "distorted frame i + offset shows reference frame i (positive: the distorted starts late)",
            "forced": self.forced,
            "window": self.window,
            "ncc": _rounded(self.ncc),
            "runner_up_offset": self.runner_up_offset,
            "runner_up_ncc": _rounded(self.runner_up_ncc),
            "margin": _rounded(self.margin),
            "psnr_y_db": _rounded(self.psnr_y_db),
            "confident": self.convincing,
            "ref_skip": self.ref_skip,
            "dis_skip": self.dis_skip,
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def parse_align(value: str | int | None) -> str | int | None:
    """`--align`: None or "off" (no alignment), "auto" (search), or an integer offset (forced)."""
    if value is None or value == "off":
        return None
    if value == AUTO:
        return AUTO
    if isinstance(value, bool):
        raise InputError(f"--align must be auto, off or a frame offset, got {value!r}")
    try:
        offset = int(str(value).strip())
    except ValueError:
        raise InputError(f"--align must be auto, off or a whole number of frames, got {value!r}") from None
    if abs(offset) > T.ALIGN_MAX_FRAMES:
        raise InputError(f"--align {offset}: at most {T.ALIGN_MAX_FRAMES} frames either way")
    return offset


def search_window(fps: float, n_ref: int, n_dis: int) -> int:
    """Offsets searched either way: `T.ALIGN_WINDOW_S` seconds of frames, and never so many that
    fewer than half of the shorter side's frames would be compared."""
    seconds = int(math.ceil(T.ALIGN_WINDOW_S * max(fps, 1.0)))
    return max(0, min(seconds, T.ALIGN_MAX_FRAMES, min(n_ref, n_dis) // 2))


def thumbs(ff: ffm.Ffmpeg, source: Source, frames: int | None) -> np.ndarray:
    """[n, h, w] float32: each frame's luma, cropped as it is scored, shrunk to ALIGN_THUMB_WIDTH wide."""
    width = T.ALIGN_THUMB_WIDTH
    even_w, even_h = source.even_size
    height = max(2, 2 * round(width * even_h / (2 * even_w)))
    argv = ffm.luma_thumbs_argv(ff, source.input_spec, crop=source.crop, width=width, height=height, max_frames=frames)
    with ffm.stream_ffmpeg(argv) as stream:
        data = stream.stdout.read()
        done = stream.finish()
    if done.returncode != 0:
        raise InputError(f"cannot decode it for alignment: {ffm.last_error_line(done.stderr)}", path=source.path)
    size = width * height
    n = len(data) // size
    return np.frombuffer(data[: n * size], dtype=np.uint8).reshape(n, height, width).astype(np.float32)


def _overlap(n_ref: int, n_dis: int, k: int) -> tuple[int, int]:
    """REF's frames [first, last) have DIS partners (DIS i + k) at offset k."""
    return max(0, -k), min(n_ref, n_dis - k)


def offset_ncc(ref: np.ndarray, dis: np.ndarray, window: int) -> dict[int, float]:
    """{offset: NCC of the temporal differences} for every offset of -window..window that leaves
    at least one pair of differences; the pairs of offset k are (REF i, DIS i + k)."""
    ref_d = np.diff(ref, axis=0).reshape(max(len(ref) - 1, 0), -1).astype(np.float64)
    dis_d = np.diff(dis, axis=0).reshape(max(len(dis) - 1, 0), -1).astype(np.float64)
    out: dict[int, float] = {}
    for k in range(-window, window + 1):
        first, last = _overlap(len(ref_d), len(dis_d), k)
        if last <= first:
            continue
        a, b = ref_d[first:last].ravel(), dis_d[first + k : last + k].ravel()
        norm = math.sqrt(float(a @ a) * float(b @ b))
        out[k] = float(a @ b) / norm if norm > 0 else 0.0
    return out


def pair_psnr(ref: np.ndarray, dis: np.ndarray, k: int) -> tuple[float, int]:
    """(mean PSNR-Y of the frame pairs at offset k, their number)."""
    first, last = _overlap(len(ref), len(dis), k)
    if last <= first:
        return math.nan, 0
    diff = ref[first:last] - dis[first + k : last + k]
    mse = np.mean(diff * diff, axis=(1, 2))
    psnr = np.where(mse > 0, 10.0 * np.log10(255.0**2 / np.maximum(mse, 1e-12)), PSNR_CAP_DB)
    return float(np.minimum(psnr, PSNR_CAP_DB).mean()), last - first


def find_offset(ref: np.ndarray, dis: np.ndarray, window: int) -> Alignment:
    """The offset of -window..window whose motion matches best (ties: the smallest |offset|), and the
    runner-up at least two frames away from it."""
    scores = offset_ncc(ref, dis, window)
    if not scores:
        raise InputError("nothing to align: a side has fewer than two frames")
    best = max(scores, key=lambda k: (scores[k], -abs(k)))
    others = {k: v for k, v in scores.items() if abs(k - best) >= 2}
    runner = max(others, key=lambda k: others[k]) if others else None
    psnr, pairs = pair_psnr(ref, dis, best)
    return Alignment(
        offset=best,
        forced=False,
        window=window,
        ncc=scores[best],
        runner_up_offset=runner,
        runner_up_ncc=others[runner] if runner is not None else None,
        psnr_y_db=psnr,
        pairs=pairs,
    )


def search(ref: np.ndarray, dis: np.ndarray, fps: float, *, where: str | Path) -> Alignment:
    """The offset `--align auto` finds between the two sides' thumbnails (`thumbs`), which must be
    convincing (InputError naming the numbers otherwise: never a confident wrong score)."""
    window = search_window(fps, len(ref), len(dis))
    found = find_offset(ref, dis, window)
    if not found.convincing:
        raise InputError(
            f"no convincing alignment within ±{window} frames: the motion of offset {found.offset} correlates "
            f"{found.ncc:.3f}, of offset {found.runner_up_offset} {found.runner_up_ncc:.3f} (a margin of "
            f"{found.margin:.3f} < {T.ALIGN_MARGIN_NCC:g}: still, repetitive or heavily distorted content); "
            "force one with --align N or score without --align",
            path=where,
        )
    return found
