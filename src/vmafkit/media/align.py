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

import dataclasses
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
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
    window: int = 0  # the search's reach either way (`search_offsets`)
    searched: tuple[int, int] | None = None  # the lowest and highest offsets searched
    ncc: float | None = None  # the NCC of the temporal differences at the offset
    runner_up_offset: int | None = None
    runner_up_ncc: float | None = None
    psnr_y_db: float | None = None  # mean PSNR-Y of the thumbnails' pairs at the offset
    pairs: int = 0  # aligned pairs the thumbnails compared
    # where the offset steps along the clip (drops, duplicates: `follow_steps`): (first DIS frame,
    # its offset) after the first stretch, which has `offset`
    steps: tuple[tuple[int, int], ...] = ()
    smallest_margin: float | None = None  # the least segment margin of a stepped path (`segment_margins`)
    whole_clip_offset: int | None = None  # with steps: the offset `ncc` and `psnr_y_db` are of

    def offset_at(self, dis_frame: int) -> int:
        offset = self.offset
        for first, stepped_to in self.steps:
            if dis_frame >= first:
                offset = stepped_to
        return offset

    def paired_frames(self, n_ref: int, n_dis: int) -> tuple[list[int], list[int]]:
        """(REF frames, DIS frames) of the scored pairs, in order: DIS frame j shows REF frame
        j - offset_at(j); a DIS frame showing the same REF frame as the one before (a duplicate)
        and frames whose partner lies outside the other side are not paired."""
        ref_frames: list[int] = []
        dis_frames: list[int] = []
        for j in range(n_dis):
            m = j - self.offset_at(j)
            if 0 <= m < n_ref and (not ref_frames or m > ref_frames[-1]):
                ref_frames.append(m)
                dis_frames.append(j)
        return ref_frames, dis_frames

    def drops_and_duplicates(self, n_ref: int, n_dis: int) -> tuple[list[int], list[int]]:
        """(REF frames missing from DIS between its first and last pair, DIS frames that repeat
        the REF frame of the frame before)."""
        ref_frames, dis_frames = self.paired_frames(n_ref, n_dis)
        if not ref_frames:
            return [], []
        paired_ref, paired_dis = set(ref_frames), set(dis_frames)
        dropped = [m for m in range(ref_frames[0], ref_frames[-1]) if m not in paired_ref]
        duplicated = [j for j in range(dis_frames[0], dis_frames[-1]) if j not in paired_dis]
        return dropped, duplicated

    @property
    def margin(self) -> float | None:
        if self.ncc is None or self.runner_up_ncc is None:
            return None
        return self.ncc - self.runner_up_ncc

    @property
    def convincing(self) -> bool:
        margin = self.margin
        # no offset two or more frames away to compare with (a clip of a few frames): nothing shows
        # that the best one is not a neighbour's echo, so it does not convince
        return self.forced or (margin is not None and margin >= T.ALIGN_MARGIN_NCC)

    @property
    def ref_skip(self) -> int:
        return max(0, -self.offset)

    @property
    def dis_skip(self) -> int:
        return max(0, self.offset)

    def to_json(self, dropped: list[int] | None = None, duplicated: list[int] | None = None) -> dict[str, Any]:
        """The alignment, with the dropped REF and duplicated DIS frames of the scored span when given."""
        events: dict[str, Any] = {}
        if dropped is not None and duplicated is not None:
            events = {"dropped_ref_frames": dropped, "duplicated_dis_frames": duplicated}
        return {
            "offset": self.offset,
            "meaning": "distorted frame i + offset shows reference frame i (positive: the distorted starts late)",
            "forced": self.forced,
            "window": self.window,
            "searched": list(self.searched) if self.searched else None,
            "ncc": _rounded(self.ncc),
            "runner_up_offset": self.runner_up_offset,
            "runner_up_ncc": _rounded(self.runner_up_ncc),
            "margin": _rounded(self.margin),
            "psnr_y_db": _rounded(self.psnr_y_db),
            "confident": self.convincing,
            "ref_skip": self.ref_skip,
            "dis_skip": self.dis_skip,
            "steps": [{"from_dis_frame": first, "offset": offset} for first, offset in self.steps],
            **(
                {"smallest_step_margin": _rounded(self.smallest_margin), "whole_clip_offset": self.whole_clip_offset}
                if self.steps
                else {}
            ),
            **events,
        }


def listed_frames(frames: list[int], most: int = 8) -> str:
    """Frame numbers for a one-line message: the first `most`, then how many more."""
    shown = ", ".join(map(str, frames[:most]))
    return (shown + f", ... ({len(frames) - most} more)") if len(frames) > most else (shown or "none")


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
    """The search's reach either way: `T.ALIGN_WINDOW_S` seconds of frames, at most
    ALIGN_MAX_FRAMES, and never more than the longer side has frames."""
    seconds = int(math.ceil(T.ALIGN_WINDOW_S * max(fps, 1.0)))
    return max(0, min(seconds, T.ALIGN_MAX_FRAMES, max(n_ref, n_dis)))


def overlap(n_ref: int, n_dis: int, k: int) -> int:
    """Frame pairs at offset k (REF i with DIS i + k)."""
    first, last = _overlap(n_ref, n_dis, k)
    return max(0, last - first)


def search_offsets(fps: float, n_ref: int, n_dis: int) -> list[int]:
    """The offsets searched: within `search_window` either way, each leaving at least half of the
    shorter side's frames paired (at least two). A short side inside a longer one is searched
    wherever it fits: a 20-frame reference in a 60-frame capture up to 40 frames in."""
    reach = search_window(fps, n_ref, n_dis)
    least = max(2, math.ceil(min(n_ref, n_dis) / 2))
    return [k for k in range(-reach, reach + 1) if overlap(n_ref, n_dis, k) >= least]


def thumbs(ff: ffm.Ffmpeg, source: Source, frames: int | None, scored: tuple[int, int] | None = None) -> np.ndarray:
    """[n, h, w] float32: each frame's luma, cropped as it is scored, shrunk to ALIGN_THUMB_WIDTH wide
    with the aspect ratio of `scored` (the size the pair is scored at: both sides' thumbnails then
    have one shape, as their scored frames do) or else of the source's own frames."""
    width = T.ALIGN_THUMB_WIDTH
    even_w, even_h = scored or source.even_size
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


def pair_thumbs(
    ff: ffm.Ffmpeg, ref: Source, dis: Source, frames: int | None, scored: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Both sides' `thumbs`, decoded at once (two ffmpeg processes: the search is almost all
    decoding, and the two decodes are independent)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        ref_job = pool.submit(thumbs, ff, ref, frames, scored)
        dis_job = pool.submit(thumbs, ff, dis, frames, scored)
        return ref_job.result(), dis_job.result()


def _overlap(n_ref: int, n_dis: int, k: int) -> tuple[int, int]:
    """REF's frames [first, last) have DIS partners (DIS i + k) at offset k."""
    return max(0, -k), min(n_ref, n_dis - k)


def offset_ncc(ref: np.ndarray, dis: np.ndarray, offsets: Sequence[int] | int) -> dict[int, float]:
    """{offset: NCC of the temporal differences} for every offset of `offsets` (an int w: -w..w)
    that leaves at least one pair of differences; the pairs of offset k are (REF i, DIS i + k).

    The NCC is a weighted mean of each pair's own normalised correlation, weighted by the pair's
    energy (the product of the two differences' norms, as a plain NCC over the whole clip weighs
    them) capped at ALIGN_NCC_WEIGHT_CAP times its median: so that a few violent changes (a cut to
    black and back, a flash) cannot outvote the motion of the rest, while nearly still pairs, whose
    differences are coding noise, still weigh little."""
    if isinstance(offsets, int):
        offsets = range(-offsets, offsets + 1)
    if len(ref) < 2 or len(dis) < 2 or ref.shape[1:] != dis.shape[1:]:
        return {}
    ref_d = np.diff(ref, axis=0).reshape(len(ref) - 1, -1).astype(np.float64)
    dis_d = np.diff(dis, axis=0).reshape(len(dis) - 1, -1).astype(np.float64)
    ref_norm, dis_norm = np.linalg.norm(ref_d, axis=1), np.linalg.norm(dis_d, axis=1)
    out: dict[int, float] = {}
    for k in offsets:
        first, last = _overlap(len(ref_d), len(dis_d), k)
        if last <= first:
            continue
        a, b = ref_d[first:last], dis_d[first + k : last + k]
        energy = ref_norm[first:last] * dis_norm[first + k : last + k]
        if not energy.any():
            out[k] = 0.0
            continue
        weight = np.minimum(energy, T.ALIGN_NCC_WEIGHT_CAP * float(np.median(energy[energy > 0])))
        correlation = np.divide(np.einsum("ij,ij->i", a, b), energy, out=np.zeros_like(energy), where=energy > 0)
        out[k] = float((weight * correlation).sum() / weight.sum())
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


def find_offset(ref: np.ndarray, dis: np.ndarray, offsets: Sequence[int] | int) -> Alignment:
    """The offset of `offsets` (an int w: -w..w) whose motion matches best (ties: the smallest
    |offset|), and the runner-up at least two frames away from it."""
    if isinstance(offsets, int):
        offsets = range(-offsets, offsets + 1)
    scores = offset_ncc(ref, dis, offsets)
    if not scores:
        raise InputError("nothing to align: a side has fewer than two frames, or the sides' pictures differ in shape")
    best = max(scores, key=lambda k: (scores[k], -abs(k)))
    others = {k: v for k, v in scores.items() if abs(k - best) >= 2}
    runner = max(others, key=lambda k: others[k]) if others else None
    psnr, pairs = pair_psnr(ref, dis, best)
    return Alignment(
        offset=best,
        forced=False,
        window=max((abs(k) for k in offsets), default=0),
        searched=(min(offsets), max(offsets)),
        ncc=scores[best],
        runner_up_offset=runner,
        runner_up_ncc=others[runner] if runner is not None else None,
        psnr_y_db=psnr,
        pairs=pairs,
    )


def search(ref: np.ndarray, dis: np.ndarray, fps: float, *, where: str | Path) -> Alignment:
    """The offset `--align auto` finds between the two sides' thumbnails (`thumbs`), which must be
    convincing (InputError naming the numbers otherwise: never a confident wrong score)."""
    if len(ref) < 2 or len(dis) < 2:
        raise InputError(f"too few frames to align ({len(ref)} reference, {len(dis)} distorted)", path=where)
    offsets = search_offsets(fps, len(ref), len(dis))
    found = find_offset(ref, dis, offsets)
    if found.runner_up_ncc is None:
        raise InputError(
            f"too few frames to align convincingly ({len(ref)} reference, {len(dis)} distorted: no offset two "
            "frames from the best one to compare it with); force one with --align N or score without --align",
            path=where,
        )
    if not found.convincing:
        raise InputError(
            f"no convincing alignment within offsets {offsets[0]}..{offsets[-1]}: the motion of offset {found.offset} "
            f"correlates {found.ncc:.3f}, of offset {found.runner_up_offset} {found.runner_up_ncc:.3f} (a margin of "
            f"{found.margin:.3f} < {T.ALIGN_MARGIN_NCC:g}: still, repetitive or heavily distorted content); "
            "force one with --align N or score without --align",
            path=where,
        )
    return found


def pair_costs(ref: np.ndarray, dis: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """[len(dis), len(offsets)]: the mean squared luma difference of DIS frame j and REF frame
    j - offset (NaN where that REF frame does not exist)."""
    out = np.full((len(dis), len(offsets)), np.nan)
    for column, k in enumerate(offsets.tolist()):
        first, last = max(0, k), min(len(dis), len(ref) + k)
        if last > first:
            diff = dis[first:last] - ref[first - k : last - k]
            out[first:last, column] = np.mean(diff * diff, axis=(1, 2))
    return out


def track_offsets(
    ref: np.ndarray, dis: np.ndarray, centre: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The offset of every DIS frame (`offset` = k: DIS frame j shows REF frame j - k), allowing it to
    step along the clip: down by d (d REF frames dropped, d <= ALIGN_MAX_DROP) or up by one (a DIS
    frame duplicated), within ALIGN_DRIFT_FRAMES of `centre` (the whole-clip offset).

    A Viterbi path over the offsets: each frame costs its pair's squared difference in units of the
    clip's own coding noise (the median at `centre`, at least ALIGN_NOISE_FLOOR), capped at
    ALIGN_COST_CAP so that a single odd frame (a flash, a cut) cannot buy a step; a frame without a
    REF partner at that offset (before REF's start or after its end) costs ALIGN_UNPAIRED_COST, more
    than a typical pair (so the ends are not given up to save their noise) and far less than a step
    (so a late start is an offset, not a run of duplicates), and no step may land on one (so a stretch
    that matches nothing, black or frozen, cannot be skipped by stepping off the clip); each step costs
    ALIGN_STEP_PENALTY. A step is taken only when the frames after it match so much better that they
    pay for it, so a drop or duplicate needs some motion after it to be seen: in a still stretch it
    is invisible, and also harmless to the score.

    A lone repeated frame (DIS frame j shows the picture of frame j - 1 where REF moved on: a
    duplicate and a drop at once, a capture's stutter) is too short a stretch to pay for two steps;
    `repeated_frames` finds those after the path.

    Returns (the offset of every DIS frame, the offsets searched, the [DIS frame, offset] costs as
    the path weighed them, the same uncapped: squared difference over noise, NaN where unpaired)."""
    band = T.ALIGN_DRIFT_FRAMES
    offsets = np.arange(centre - band, centre + band + 1)
    raw = pair_costs(ref, dis, offsets)
    centre_costs = raw[:, band][np.isfinite(raw[:, band])]
    noise = max(float(np.median(centre_costs)) if len(centre_costs) else 0.0, T.ALIGN_NOISE_FLOOR)
    cost = np.where(np.isfinite(raw), np.minimum(raw / noise, T.ALIGN_COST_CAP), T.ALIGN_UNPAIRED_COST)
    unpaired = ~np.isfinite(raw)
    states = len(offsets)
    total = cost[0].copy()
    back = np.zeros((len(dis), states), dtype=np.int64)
    stay = np.arange(states)
    for j in range(1, len(dis)):
        best, came_from = total.copy(), stay.copy()
        moves = [(-1, T.ALIGN_STEP_PENALTY)] + [(d, T.ALIGN_STEP_PENALTY) for d in range(1, T.ALIGN_MAX_DROP + 1)]
        for shift, penalty in moves:  # from state s + shift: up one (a duplicate) or down d (drops)
            candidate = np.full(states, np.inf)
            if shift < 0:
                candidate[-shift:] = total[:shift] + penalty
            else:
                candidate[:-shift] = total[shift:] + penalty
            candidate[unpaired[j]] = np.inf  # a step lands on a pair: never into a clip's missing ends
            better = candidate < best
            best[better] = candidate[better]
            came_from[better] = stay[better] + shift
        total = best + cost[j]
        back[j] = came_from
    path = np.empty(len(dis), dtype=np.int64)
    path[-1] = int(np.argmin(total))
    for j in range(len(dis) - 1, 0, -1):
        path[j - 1] = back[j, path[j]]
    return repeated_frames(offsets[path], offsets, raw / noise), offsets, cost, raw / noise


def repeated_frames(path: np.ndarray, offsets: np.ndarray, relative: np.ndarray) -> np.ndarray:
    """`path` with each lone repeated frame moved up one offset: DIS frame j inside a stretch of one
    offset k that matches REF j - k badly (at least ALIGN_REPEAT_MIN_COST noise units) and the REF
    frame before, which its DIS neighbour shows, ALIGN_REPEAT_RATIO times better, while both its
    neighbours match their own REF frames (at most ALIGN_REPEAT_NEIGHBOUR_COST)."""
    out = path.copy()
    for j in range(1, len(path) - 1):
        k = int(path[j])
        if path[j - 1] != k or path[j + 1] != k or k + 1 > offsets[-1]:
            continue
        column = k - offsets[0]
        here, repeat = relative[j, column], relative[j, column + 1]
        neighbours = relative[j - 1, column], relative[j + 1, column]
        if not all(np.isfinite(c) and c <= T.ALIGN_REPEAT_NEIGHBOUR_COST for c in neighbours):
            continue  # inside a freeze or a bad stretch, not a lone stutter
        if np.isfinite(here) and np.isfinite(repeat) and here >= T.ALIGN_REPEAT_MIN_COST:
            if repeat * T.ALIGN_REPEAT_RATIO <= here:
                out[j] = k + 1
    return out


def follow_steps(ref: np.ndarray, dis: np.ndarray, found: Alignment, *, where: str | Path) -> Alignment:
    """`found` (the whole-clip offset, `search`) refined with the drops and duplicates along the clip
    (`track_offsets`), or unchanged when there are none. Each stretch between steps must be paired
    convincingly (`segment_margins` >= ALIGN_SEGMENT_MARGIN): else an InputError, never a score of
    pairs a misplaced step has shifted."""
    path, offsets, cost, _ = track_offsets(ref, dis, found.offset)
    segments = segment_margins(path, offsets, cost)
    if len(segments) == 1:
        return found
    worst = min(segments, key=lambda segment: segment[3])
    if worst[3] < T.ALIGN_SEGMENT_MARGIN:
        first, last, offset, margin = worst
        raise InputError(
            f"frames look dropped or duplicated ({len(segments) - 1} steps of the offset), but distorted frames "
            f"{first}-{last - 1} match offset {offset} only {margin:.2f} noise units better than a neighbouring "
            f"one (< {T.ALIGN_SEGMENT_MARGIN:g}): too still or too distorted to place the steps; score a stretch "
            "without drops, or force an offset with --align N",
            path=where,
        )
    steps = tuple((first, offset) for first, _, offset, _ in segments[1:])
    return dataclasses.replace(
        found,
        offset=segments[0][2],
        steps=steps,
        smallest_margin=min(segment[3] for segment in segments),
        whole_clip_offset=found.offset,
    )


def segment_margins(path: np.ndarray, offsets: np.ndarray, cost: np.ndarray) -> list[tuple[int, int, int, float]]:
    """[(first DIS frame, last + 1, offset, margin)] for each stretch of one offset on the path: the
    margin is how much cheaper, on average over the stretch, its pairs are than those one frame
    either way (the better neighbour), in noise units: a stretch paired at the wrong offset by a
    step taken in the wrong place has a small or negative margin."""
    out = []
    starts = [0, *[j for j in range(1, len(path)) if path[j] != path[j - 1]], len(path)]
    for first, last in zip(starts, starts[1:]):
        column = int(path[first] - offsets[0])
        own = cost[first:last, column].mean()
        neighbours = [cost[first:last, c].mean() for c in (column - 1, column + 1) if 0 <= c < len(offsets)]
        out.append((first, last, int(path[first]), float(min(neighbours) - own) if neighbours else math.inf))
    return out
