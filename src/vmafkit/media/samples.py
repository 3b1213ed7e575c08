"""The samples a target-quality search encodes instead of the whole title (`vmafkit target`).

`plan_samples` spreads `count` stretches of `seconds` over the title: stretch i is centred in the
i-th of `count` equal parts. A scene cut within `T.TARGET_CUT_SNAP` sample lengths of a start moves
the start onto the cut, so the sample begins a shot the way the full encode does (an I-frame where
the shot starts). Samples that would cover more than `T.TARGET_MAX_SAMPLED_SHARE` of the title are
fewer (at least one); a title shorter than one sample is refused.

`sample_clip` writes the planned frames, in order, as one lossless clip (FFV1 in Matroska, the
title's pixel format) into a content-addressed file: its name is a hash of the title's bytes, the
frame ranges and the ffmpeg version, so every later search of the same title and plan reuses it,
and the cells encoded from it are cached cells of the corpus's cell cache.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmafkit import thresholds as T
from vmafkit.errors import InputError
from vmafkit.io import atomic_write_json, identity_hash, read_json, reserve_temp
from vmafkit.media import ffmpeg as ffm
from vmafkit.media.sources import Source, describe_source


@dataclass(frozen=True)
class SamplePlan:
    """Which frames the samples hold: `ranges` are [first, last) frame numbers of the title."""

    ranges: tuple[tuple[int, int], ...]
    title_frames: int
    fps: float
    snapped: int  # samples whose start moved onto a scene cut
    notes: tuple[str, ...] = ()

    @property
    def frames(self) -> int:
        return sum(last - first for first, last in self.ranges)

    @property
    def share(self) -> float:
        return self.frames / self.title_frames

    def describe(self) -> str:
        length = self.ranges[0][1] - self.ranges[0][0]
        count = len(self.ranges)
        cut = f", {self.snapped} starting at a scene cut" if self.snapped else ""
        return (
            f"{count} sample{'' if count == 1 else 's'} of {length} frame{'' if length == 1 else 's'} "
            f"({length / self.fps:.2g} s; {self.share:.0%} of the title{cut})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "ranges": [list(r) for r in self.ranges],
            "title_frames": self.title_frames,
            "frames": self.frames,
            "share": round(self.share, 4),
            "snapped_to_cuts": self.snapped,
            "notes": list(self.notes),
        }


def sample_frames(seconds: float, fps: float) -> int:
    """A sample's length in frames."""
    return max(1, round(seconds * fps))


def plan_samples(
    title_frames: int, fps: float, *, count: int, seconds: float, cuts: Sequence[int] = (), where: str | Path = ""
) -> SamplePlan:
    """The sample stretches of a `title_frames`-frame title at `fps` (module doc); `cuts` are the
    first frames of its shots after the first."""
    length = sample_frames(seconds, fps)
    if length > title_frames:
        raise InputError(
            f"the title is {title_frames / fps:.2f} s ({title_frames} frames), shorter than one sample of "
            f"{seconds:g} s: give a shorter --sample-seconds, or --full",
            path=where or None,
        )
    notes = []
    fitting = max(1, math.floor(title_frames * T.TARGET_MAX_SAMPLED_SHARE / length))
    if count > fitting:
        notes.append(
            f"{count} samples of {seconds:g} s would cover more than {T.TARGET_MAX_SAMPLED_SHARE:.0%} of the "
            f"{title_frames / fps:.1f} s title: {fitting} taken"
        )
        count = fitting
    part = title_frames / count
    ranges: list[tuple[int, int]] = []
    snapped = 0
    reach = T.TARGET_CUT_SNAP * length
    for i in range(count):
        start = min(max(0, round((i + 0.5) * part - length / 2)), title_frames - length)
        floor = ranges[-1][1] if ranges else 0
        near = [c for c in cuts if abs(c - start) <= reach and floor <= c <= title_frames - length]
        if near:
            start = min(near, key=lambda c: (abs(c - start), c))
            snapped += 1
        start = max(start, floor)
        ranges.append((start, start + length))
    return SamplePlan(tuple(ranges), title_frames, fps, snapped, tuple(notes))


def sample_clip(ff: ffm.Ffmpeg, title: Source, plan: SamplePlan, folder: Path) -> Source:
    """The plan's frames as one lossless clip in `folder` (made once; module doc), described. A
    clip is reused only while its bytes are the ones recorded when it was cut (`<clip>.json`): a
    damaged or replaced clip is cut again."""
    key = identity_hash(
        {
            "title_sha256": title.sha256,
            "ranges": [list(r) for r in plan.ranges],
            "ffmpeg_version": ff.version,
            "pix_fmt": title.pix_fmt,
        }
    )
    path = folder / f"{title.name}__samples__{key[:16]}.mkv"
    record = path.with_suffix(".json")
    if path.is_file() and record.is_file():
        clip = describe_source(path, group=title.name, ff=ff)
        if _recorded(record) == {"sha256": clip.sha256, "frames": plan.frames}:
            return _with_fps(clip, title.fps)
    folder.mkdir(parents=True, exist_ok=True)
    temp = reserve_temp(path)
    try:
        argv = ffm.sample_clip_argv(ff, title.input_spec, title.crop, plan.ranges, title.pix_fmt, temp)
        result = ffm.run_ffmpeg(argv)
        if result.returncode != 0:
            raise InputError(f"cannot cut the samples: {ffm.last_error_line(result.stderr)}", path=title.path)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    clip = describe_source(path, group=title.name, ff=ff)
    atomic_write_json(record, {"sha256": clip.sha256, "frames": plan.frames})
    return _with_fps(clip, title.fps)


def _recorded(record: Path) -> dict[str, Any] | None:
    try:
        data = read_json(record, what="sample clip record")
    except InputError:
        return None
    return data if isinstance(data, dict) else None


def _with_fps(clip: Source, fps: float) -> Source:
    """The clip at the title's rate, whatever its container says."""
    from dataclasses import replace

    return clip if clip.fps == fps else replace(clip, fps=fps)
