"""The worst moments of a scored pair (`score --shots/--worst/--dump`).

A clip's mean hides the seconds where quality collapses, which is what an engineer looks at first.
`scene_cuts` splits the reference at its scene cuts (ffmpeg's scdet); `shots` pools each shot's
scored frames the ways asked; `worst` names the N worst frames and shots; `dump_frames` writes
each worst frame's reference and distorted pictures side by side (PNG), as they were scored.

Frames are counted in three ways here, all in the output: a *pair* is a scored row
(`frame_index`, 0-based, in scoring order), and each pair has a `ref_frame` and a `dis_frame` (the
sides' own decoded frame numbers: equal to the pair's unless `--align` paired them otherwise).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmafkit import thresholds as T
from vmafkit.errors import InputError
from vmafkit.media import ffmpeg as ffm
from vmafkit.media import pooling
from vmafkit.media.libvmaf import TARGET
from vmafkit.media.sources import Source


def parse_scene_cuts(log: str) -> list[tuple[int, float]]:
    """scdet's info lines (`lavfi.scd.score: S, lavfi.scd.time: T`, the time being frame / 1000 as
    `ffm.scene_cuts_argv` sets it) -> [(frame where a new shot starts, scdet's score)]."""
    out = []
    for score, time in re.findall(r"lavfi\.scd\.score: ([\d.]+), lavfi\.scd\.time: ([\d.]+)", log):
        out.append((round(float(time) * 1000), float(score)))
    return sorted(set(out))


def scene_cuts(ff: ffm.Ffmpeg, source: Source, max_frames: int | None) -> list[tuple[int, float]]:
    """[(first frame of a new shot, scdet's score)] of `source` at threshold T.SHOT_CUT_THRESHOLD."""
    argv = ffm.scene_cuts_argv(ff, source.input_spec, threshold=T.SHOT_CUT_THRESHOLD, max_frames=max_frames)
    result = ffm.run_ffmpeg(argv)
    if result.returncode != 0:
        raise InputError(f"cannot decode it for scene cuts: {ffm.last_error_line(result.stderr)}", path=source.path)
    return parse_scene_cuts(result.stderr or "")


@dataclass(frozen=True)
class Pairing:
    """Which frame of each side every scored pair shows: pair p is REF `ref_frames[p]` and DIS
    `dis_frames[p]` (the identity without --align)."""

    ref_frames: Sequence[int]
    dis_frames: Sequence[int]

    @classmethod
    def identity(cls, n: int) -> Pairing:
        return cls(range(n), range(n))


@dataclass(frozen=True)
class Shot:
    number: int  # 1-based
    first_ref_frame: int
    last_ref_frame: int  # inclusive
    cut_score: float | None  # scdet's score at the cut that starts it (None: the first shot)
    frames: int  # scored pairs in it
    pooled: dict[str, float]
    first_pair: int = 0  # its first and last scored pairs (frame_index)
    last_pair: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "shot": self.number,
            "first_ref_frame": self.first_ref_frame,
            "last_ref_frame": self.last_ref_frame,
            "cut_score": self.cut_score,
            "scored_frames": self.frames,
            "first_frame_index": self.first_pair,
            "last_frame_index": self.last_pair,
            TARGET: self.pooled,
        }


def shot_of(ref_frame: int, cuts: Sequence[tuple[int, float]]) -> int:
    """The 1-based shot a REF frame lies in: one more than the cuts at or before it."""
    return 1 + sum(1 for frame, _ in cuts if frame <= ref_frame)


def shots(
    frames: Sequence[dict[str, float]], pairing: Pairing, cuts: Sequence[tuple[int, float]], pools: Sequence[str]
) -> list[Shot]:
    """Each shot with scored pairs, its REF frame span and its pairs' vmaf pooled each way of `pools`."""
    members: dict[int, list[float]] = {}
    spans: dict[int, list[int]] = {}
    pairs: dict[int, list[int]] = {}
    for row in frames:
        pair = int(row["frame_index"])
        ref_frame = pairing.ref_frames[pair]
        number = shot_of(ref_frame, cuts)
        members.setdefault(number, []).append(row[TARGET])
        spans.setdefault(number, []).append(ref_frame)
        pairs.setdefault(number, []).append(pair)
    starts = [0, *(frame for frame, _ in cuts)]
    scores = [None, *(score for _, score in cuts)]
    out = []
    for number in sorted(members):
        last = starts[number] - 1 if number < len(starts) else max(spans[number])
        out.append(
            Shot(
                number=number,
                first_ref_frame=starts[number - 1],
                last_ref_frame=max(last, max(spans[number])),
                cut_score=scores[number - 1],
                frames=len(members[number]),
                pooled=pooling.pooled(members[number], pools),
                first_pair=min(pairs[number]),
                last_pair=max(pairs[number]),
            )
        )
    return out


@dataclass(frozen=True)
class Moment:
    """One of the worst scored frames."""

    rank: int
    pair: int
    ref_frame: int
    dis_frame: int
    vmaf: float
    shot: int | None
    image: str | None = None  # its side-by-side PNG, relative to the dump folder

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rank": self.rank,
            "frame_index": self.pair,
            "ref_frame": self.ref_frame,
            "dis_frame": self.dis_frame,
            TARGET: self.vmaf,
        }
        if self.shot is not None:
            out["shot"] = self.shot
        if self.image is not None:
            out["image"] = self.image
        return out


def check_worst(count: int) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= T.WORST_MAX:
        raise InputError(f"--worst must be a whole number from 1 to {T.WORST_MAX}, got {count!r}")
    return count


def worst_frames(
    frames: Sequence[dict[str, float]], pairing: Pairing, count: int, cuts: Sequence[tuple[int, float]] | None
) -> list[Moment]:
    """The `count` worst moments, worst first: the lowest-vmaf pair, then the lowest of those at least
    T.WORST_FRAME_GAP pairs from every one already taken, and so on (ties: the earlier pair). A dip
    spans several neighbouring frames; naming them all would hide the next dip."""
    check_worst(count)
    ranked = sorted(frames, key=lambda row: (row[TARGET], row["frame_index"]))
    taken: list[dict[str, float]] = []
    for row in ranked:
        if len(taken) == count:
            break
        if all(abs(row["frame_index"] - other["frame_index"]) >= T.WORST_FRAME_GAP for other in taken):
            taken.append(row)
    out = []
    for rank, row in enumerate(taken, start=1):
        pair = int(row["frame_index"])
        ref_frame = pairing.ref_frames[pair]
        out.append(
            Moment(
                rank=rank,
                pair=pair,
                ref_frame=ref_frame,
                dis_frame=pairing.dis_frames[pair],
                vmaf=row[TARGET],
                shot=shot_of(ref_frame, cuts) if cuts is not None else None,
            )
        )
    return out


def worst_shots(all_shots: Sequence[Shot], count: int, pool: str) -> list[Shot]:
    """The `count` shots lowest by `pool`, worst first (ties: the earlier shot)."""
    return sorted(all_shots, key=lambda shot: (shot.pooled[pool], shot.number))[: check_worst(count)]


def moment_image_name(moment: Moment) -> str:
    return f"worst-{moment.rank:02d}-ref{moment.ref_frame}-dis{moment.dis_frame}.png"


def check_dump_dir(folder: str | Path, page: str) -> Path:
    """The --dump folder: made if missing; refused if something other than a folder is there, or
    its `page` (the index the report writes) is something other than a file: before any work."""
    if not str(folder).strip():
        raise InputError("--dump needs a folder, got an empty path")
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise InputError("--dump must be a folder, and this is not one", path=path)
    if (path / page).exists() and not (path / page).is_file():
        raise InputError(
            "is in the --dump folder and is not a regular file (the page is written there)", path=path / page
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot make the --dump folder: {exc.strerror or exc}", path=path) from None
    return path


DUMP_PAGE = "index.html"  # the page `report.moments_page` writes beside the pictures
DUMPED = re.compile(r"worst-\d{2,3}-ref\d+-dis\d+\.png")


def dump_frames(
    ff: ffm.Ffmpeg, job: ffm.ScoreJob, moments: Sequence[Moment], folder: Path, width: int | None = None
) -> list[Moment]:
    """Each moment's REF | DIS picture as a PNG in `folder` (written to a temp name, then renamed:
    an interrupted dump leaves no half image); the moments with their image names. The pictures
    of an earlier dump into the folder (named as these are, and only those) are removed first, so
    the folder holds one score's worst moments."""
    for stale in folder.iterdir():
        if DUMPED.fullmatch(stale.name) and stale.is_file():
            stale.unlink()
    in_order = sorted(moments, key=lambda moment: moment.pair)
    pattern = folder / ".vmafkit-dump-%03d.png"
    argv = ffm.side_by_side_pngs_argv(
        ff,
        job,
        ref_frames=[m.ref_frame for m in in_order],
        dis_frames=[m.dis_frame for m in in_order],
        out_pattern=pattern,
        width=width,
    )
    result = ffm.run_ffmpeg(argv)
    partials = [folder / f".vmafkit-dump-{i:03d}.png" for i in range(1, len(in_order) + 1)]
    if result.returncode != 0 or not all(p.is_file() for p in partials):
        for partial in partials:
            partial.unlink(missing_ok=True)
        raise InputError(f"cannot write the pictures: {ffm.last_error_line(result.stderr)}", path=folder)
    named = {}
    for moment, partial in zip(in_order, partials):
        name = moment_image_name(moment)
        os.replace(partial, folder / name)  # whole pictures only, under their final names
        named[moment.rank] = dataclasses.replace(moment, image=name)
    return [named[moment.rank] for moment in moments]


def worst_moments(
    ff: ffm.Ffmpeg,
    ref: Source,
    job: ffm.ScoreJob,
    frames: list[dict[str, float]],
    pairing: Pairing,
    *,
    with_shots: bool,
    worst: int | None,
    dump: Path | None,
    pools: Sequence[str],
) -> dict[str, Any]:
    """A scored pair's `.meta["moments"]`: its shots (`with_shots`), its `worst` frames (and shots),
    their pictures in `dump`."""
    out: dict[str, Any] = {}
    cuts = scene_cuts(ff, ref, max(pairing.ref_frames) + 1) if with_shots else None
    all_shots = shots(frames, pairing, cuts, pools) if cuts is not None else []
    if cuts is not None:
        out["scene_cut_threshold"] = T.SHOT_CUT_THRESHOLD
        out["shots"] = [shot.to_json() for shot in all_shots]
    if worst is not None:
        found = worst_frames(frames, pairing, worst, cuts)
        if dump is not None:
            found = dump_frames(ff, job, found, dump)
            out["dump"] = str(dump)
        out["worst_frames"] = [moment.to_json() for moment in found]
        if cuts is not None:
            out["worst_shots"] = [shot.number for shot in worst_shots(all_shots, worst, pools[0])]
            out["worst_shots_by"] = pools[0]
    return out
