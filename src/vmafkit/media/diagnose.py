"""What commonly makes a VMAF score wrong, checked on the pair itself (`vmafkit diagnose`).

Each check names one cause with its evidence in one line, and says nothing when the pair is fine:
a correctly made encode of the reference gets no finding at all. Cheap checks read the two
streams' descriptions (`metadata_findings`: frame rate, size, pixel format, range and matrix tags;
`vmafkit score` prints these as notes with every score); `diagnose` also decodes both sides:
the temporal alignment (`media.align`: offset, drops, duplicates), the frame counts, the luma
levels of the aligned pairs (a range conversion applied twice or not at all), frozen and black
stretches (ffmpeg's freezedetect, blackdetect), interlacing (idet) and a variable frame rate (the frame intervals).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vmafkit import thresholds as T
from vmafkit.errors import InputError
from vmafkit.media import ffmpeg as ffm
from vmafkit.media.align import Alignment, follow_steps, listed_frames, pair_thumbs, search
from vmafkit.media.sources import Source, bit_depth_of, colour_mismatch_notes, describe_source

LIMITED_SLOPE = 219.0 / 255.0  # full range squeezed into 16..235
LIMITED_OFFSET = 16.0


@dataclass(frozen=True)
class Finding:
    """One cause of a wrong score: `check` names it (stable, for scripts), `line` says it with its evidence."""

    check: str
    line: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "line": self.line, "evidence": self.evidence}


@dataclass(frozen=True)
class Diagnosis:
    ref: str
    dis: str
    findings: list[Finding]
    checked: list[str]  # the checks that ran (a clean pair passed all of them)

    def to_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "dis": self.dis,
            "findings": [finding.to_json() for finding in self.findings],
            "checked": self.checked,
        }


def nominal_fps(ff: ffm.Ffmpeg, source: Source) -> float:
    """A container's nominal frame rate: its `tbr` (the rate its timestamps tick at), not its `fps`
    (the average over its duration, which a variable-rate stream moves: measured, a 90-frame
    passthrough encode of box says 28.69 fps, 29.97 tbr); raw and y4m: their given rate."""
    if source.kind != "container":
        return source.fps
    result = ffm.run_ffmpeg(ffm.probe_argv(ff, source.path))
    found = re.search(r"Video:.*?([\d.]+)(k?) tbr", result.stderr or "")
    return float(found.group(1)) * (1000 if found.group(2) else 1) if found else source.fps


def metadata_findings(ref: Source, dis: Source, ff: ffm.Ffmpeg | None = None) -> list[Finding]:
    """The checks on the streams' descriptions alone: frame rate (`nominal_fps` with `ff`, else
    the described rate), size, pixel format and bit depth, range and matrix tags."""
    out = []
    ref_fps, dis_fps = (nominal_fps(ff, ref), nominal_fps(ff, dis)) if ff is not None else (ref.fps, dis.fps)
    if abs(ref_fps - dis_fps) > T.DIAG_FPS_TOLERANCE * max(ref_fps, dis_fps):
        out.append(
            Finding(
                "frame_rate",
                f"frame rate: the reference runs at {ref_fps:g} fps and the distorted clip at {dis_fps:g} fps: frames "
                "are paired by index, so unless the distorted clip only re-labels the same frames, its frame "
                f"n is not the reference's frame n (convert it back to {ref_fps:g} fps, or check with --align auto)",
                {"ref_fps": ref_fps, "dis_fps": dis_fps},
            )
        )
    if ref.even_size != dis.even_size:  # an odd side cropped to even is how the corpus scores its encodes
        out.append(
            Finding(
                "size",
                f"size: the reference is {ref.width}x{ref.height} and the distorted clip {dis.width}x{dis.height}: "
                f"it is scored only resized, with `--scale {ffm.DEFAULT_SCALE_FILTER}` (to the reference's size, "
                "libvmaf's procedure) or `--resolution WxH`, and the scaler is part of the score",
                {"ref_size": [ref.width, ref.height], "dis_size": [dis.width, dis.height]},
            )
        )
    # yuvj420p is yuv420p tagged full range: the range check names that, not this one
    if ffm.FULL_RANGE_ALIASES.get(ref.pix_fmt, ref.pix_fmt) != ffm.FULL_RANGE_ALIASES.get(dis.pix_fmt, dis.pix_fmt):
        ref_bits, dis_bits = bit_depth_of(ref.pix_fmt), bit_depth_of(dis.pix_fmt)
        depth = f" ({ref_bits}-bit vs {dis_bits}-bit)" if ref_bits != dis_bits else ""
        out.append(
            Finding(
                "pix_fmt",
                f"pixel format: the reference is {ref.pix_fmt} and the distorted clip {dis.pix_fmt}{depth}: both are "
                "converted to one format before scoring, and the conversion (chroma resampling, dithering) "
                "is scored as part of the distortion",
                {"ref_pix_fmt": ref.pix_fmt, "dis_pix_fmt": dis.pix_fmt, "ref_bits": ref_bits, "dis_bits": dis_bits},
            )
        )
    for note in colour_mismatch_notes(ref, dis):
        check = "range_tag" if "range" in note.split(":")[0] else "matrix"
        out.append(Finding(check, note, {"ref": ref.colour.to_json(), "dis": dis.colour.to_json()}))
    return out


@dataclass(frozen=True)
class SideReport:
    """What one side's decode through `ffm.DIAGNOSE_FILTERS` logged."""

    frozen_s: float
    black_s: float
    interlaced_share: float
    vfr_share: float
    frozen: list[tuple[float, float]]
    black: list[tuple[float, float]]


_NUMBER = r"(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)"


def parse_side_report(log: str, duration_s: float, frame_lines: str = "") -> SideReport:
    """The filters' info lines (freezedetect's freeze_start/freeze_end, blackdetect's black_start..,
    idet's single-frame counts) as numbers; a freeze that lasts to the end (no freeze_end logged)
    ends at `duration_s`. `frame_lines` (framecrc: `stream, pts, dts, duration, size, crc`) give
    the variable-rate share: of the frame intervals, those more than DIAG_VFR_INTERVAL_DEVIATION
    off their median (a gap or a change of rate, not the jitter of a millisecond time base)."""
    starts = [float(x) for x in re.findall(r"freeze_start: " + _NUMBER, log)]
    ends = [float(x) for x in re.findall(r"freeze_end: " + _NUMBER, log)]
    frozen = [(start, ends[i] if i < len(ends) else max(start, duration_s)) for i, start in enumerate(starts)]
    black = [(float(a), float(b)) for a, b in re.findall(r"black_start:" + _NUMBER + r" black_end:" + _NUMBER, log)]
    # a black stretch is frozen too: named once, as black
    frozen = [(a, b) for a, b in frozen if not any(a < end and start < b for start, end in black)]
    # each frame's own decision (the multi-frame count extends a few decisions to whole runs of frames)
    idet = re.findall(r"Single frame detection: TFF:\s*(\d+) BFF:\s*(\d+) Progressive:\s*(\d+)", log)
    tff, bff, progressive = (int(x) for x in idet[-1]) if idet else (0, 0, 0)
    # idet decides few frames of a small or short clip; a handful of them says nothing
    decided = tff + bff + progressive if tff + bff + progressive >= T.DIAG_INTERLACED_MIN_FRAMES else 0
    pts = [int(m) for m in re.findall(r"^\s*\d+,\s*(-?\d+),", frame_lines, flags=re.MULTILINE)]
    intervals = np.diff(np.array(pts, dtype=np.float64)) if len(pts) > 2 else np.array([])
    median = float(np.median(intervals)) if len(intervals) else 0.0
    off = np.abs(intervals - median) > T.DIAG_VFR_INTERVAL_DEVIATION * median if median > 0 else intervals != 0
    return SideReport(
        frozen_s=sum(b - a for a, b in frozen),
        black_s=sum(b - a for a, b in black),
        interlaced_share=(tff + bff) / decided if decided else 0.0,
        vfr_share=float(np.mean(off)) if len(intervals) else 0.0,
        frozen=frozen,
        black=black,
    )


@dataclass(frozen=True)
class Levels:
    """Y_dis = slope * Y_ref + intercept, least squares over `pixels` aligned thumbnail pixels."""

    slope: float
    intercept: float
    pixels: int


def luma_levels(ref: np.ndarray, dis: np.ndarray, ref_frames: list[int], dis_frames: list[int]) -> Levels | None:
    """The line through the paired thumbnails' luma, over the pairs that show the same picture (their
    pixels correlate at least DIAG_LEVEL_MIN_CORRELATION: a level change keeps the correlation, a
    frozen, black or misaligned pair loses it) and their reference pixels inside DIAG_LEVEL_FIT_RANGE
    (clear of clipping); None with too few pixels to fit."""
    xs, ys = [], []
    for m, j in zip(ref_frames, dis_frames):
        x, y = ref[m].ravel().astype(np.float64), dis[j].ravel().astype(np.float64)
        if x.std() > 1.0 and y.std() > 1.0 and np.corrcoef(x, y)[0, 1] >= T.DIAG_LEVEL_MIN_CORRELATION:
            xs.append(x)
            ys.append(y)
    if not xs:
        return None
    x, y = np.concatenate(xs), np.concatenate(ys)
    low, high = T.DIAG_LEVEL_FIT_RANGE
    inside = (x >= low) & (x <= high)
    x, y = x[inside], y[inside]
    if len(x) < 100 or float(np.var(x)) < 1.0:
        return None
    slope = float(np.cov(x, y, bias=True)[0, 1] / np.var(x))
    return Levels(slope, float(y.mean() - slope * x.mean()), int(len(x)))


def levels_finding(levels: Levels) -> Finding | None:
    """A range conversion (full squeezed to limited, or limited stretched to full) or another change of
    levels between the aligned pairs' luma."""
    fit = f"Y_dis = {levels.slope:.3f} Y_ref {levels.intercept:+.1f} over {levels.pixels} thumbnail pixels"
    evidence = {"slope": round(levels.slope, 4), "intercept": round(levels.intercept, 2), "pixels": levels.pixels}
    squeezed = (LIMITED_SLOPE, LIMITED_OFFSET)
    stretched = (1.0 / LIMITED_SLOPE, -LIMITED_OFFSET / LIMITED_SLOPE)
    for (slope, intercept), how in (
        (squeezed, "squeezed into limited range (16-235)"),
        (stretched, "stretched to full range (0-255)"),
    ):
        if (
            abs(levels.slope - slope) <= T.DIAG_RANGE_SLOPE_TOLERANCE
            and abs(levels.intercept - intercept) <= T.DIAG_RANGE_INTERCEPT_TOLERANCE
        ):
            return Finding(
                "range",
                f"range: the distorted clip's luma is the reference's {how} ({fit}): a range conversion was "
                "applied that should not have been (or a range tag is wrong), and libvmaf scores it as distortion",
                evidence,
            )
    mid_grey_shift = levels.slope * 128.0 + levels.intercept - 128.0
    if abs(levels.slope - 1.0) > T.DIAG_LEVEL_SLOPE_TOLERANCE or abs(mid_grey_shift) > T.DIAG_LEVEL_SHIFT:
        return Finding(
            "levels",
            f"levels: the distorted clip's luma differs from the reference's by more than coding noise ({fit}): "
            "a brightness, contrast or gamma change is scored as distortion",
            evidence,
        )
    return None


def side_report(ff: ffm.Ffmpeg, source: Source, frames: int, max_frames: int | None) -> SideReport:
    """One decode of the side through freezedetect, blackdetect and idet, with its frame timestamps."""
    argv = ffm.diagnose_pass_argv(
        ff, source.input_spec, crop=source.crop, freeze_db=T.DIAG_FREEZE_NOISE_DB, freeze_s=T.DIAG_FREEZE_S,
        black_s=T.DIAG_BLACK_S, black_share=T.DIAG_BLACK_PIXEL_SHARE, max_frames=max_frames,
    )  # fmt: skip
    result = ffm.run_ffmpeg(argv)
    if result.returncode != 0:
        raise InputError(f"cannot decode it for the diagnosis: {ffm.last_error_line(result.stderr)}", path=source.path)
    return parse_side_report(result.stderr or "", frames / max(source.fps, 1e-9), result.stdout or "")


def _stretches(spans: list[tuple[float, float]], most: int = 3) -> str:
    shown = ", ".join(f"{a:.2f}-{b:.2f} s" for a, b in spans[:most])
    return shown + (f" and {len(spans) - most} more" if len(spans) > most else "")


def stretch_findings(ref: SideReport, dis: SideReport) -> list[Finding]:
    """Frozen or black stretches the distorted clip has beyond the reference's, interlacing, and a
    variable frame rate on one side only."""
    out = []
    for check, what, ref_s, dis_s, spans in (
        ("frozen", "frozen (the same picture repeated)", ref.frozen_s, dis.frozen_s, dis.frozen),
        ("black", "black", ref.black_s, dis.black_s, dis.black),
    ):
        if dis_s - ref_s > T.DIAG_STRETCH_EXCESS_S:
            out.append(
                Finding(
                    check,
                    f"{check}: the distorted clip is {what} for {dis_s:.2f} s ({_stretches(spans)}) against the "
                    f"reference's {ref_s:.2f} s: a stall, a dropped stretch or a bad capture, scored as if it were "
                    "the encode's quality",
                    {"ref_s": round(ref_s, 3), "dis_s": round(dis_s, 3), "dis_spans": [list(s) for s in spans]},
                )
            )
    for side, report in (("reference", ref), ("distorted clip", dis)):
        if report.interlaced_share > T.DIAG_INTERLACED_SHARE:
            out.append(
                Finding(
                    "interlaced",
                    f"interlaced: idet finds {100 * report.interlaced_share:.0f} % of the {side}'s frames interlaced: "
                    "libvmaf compares frames as progressive pictures; deinterlace both sides the same way first",
                    {"side": side, "interlaced_share": round(report.interlaced_share, 3)},
                )
            )
    ref_vfr, dis_vfr = ref.vfr_share > T.DIAG_VFR_SHARE, dis.vfr_share > T.DIAG_VFR_SHARE
    if ref_vfr != dis_vfr:
        vfr_side, cfr_side = ("reference", "distorted clip") if ref_vfr else ("distorted clip", "reference")
        share = ref.vfr_share if ref_vfr else dis.vfr_share
        out.append(
            Finding(
                "variable_frame_rate",
                f"variable frame rate: {100 * share:.0f} % of the {vfr_side}'s frame intervals are off their median by "
                f"more than {100 * T.DIAG_VFR_INTERVAL_DEVIATION:.0f} % (gaps or rate changes) and "
                f"the {cfr_side}'s do not: a constant-rate conversion duplicates or drops frames to fill the "
                "gaps, and frames are paired by index (check with --align auto)",
                {"ref_vfr_share": round(ref.vfr_share, 3), "dis_vfr_share": round(dis.vfr_share, 3)},
            )
        )
    return out


def alignment_findings(found: Alignment, n_ref: int, n_dis: int) -> list[Finding]:
    out = []
    if found.offset:
        late = f"{found.offset} frames late" if found.offset > 0 else f"{-found.offset} frames early"
        out.append(
            Finding(
                "offset",
                f"offset: the distorted clip starts {late} (its motion correlates {found.ncc:.3f} with the reference's "
                f"at that offset, at most {found.runner_up_ncc or 0.0:.3f} two or more frames away): frame by frame it is "
                "scored against the wrong pictures; score with --align auto",
                {"offset": found.offset, "ncc": found.ncc, "runner_up_ncc": found.runner_up_ncc},
            )
        )
    dropped, duplicated = found.drops_and_duplicates(n_ref, n_dis)
    if dropped or duplicated:
        out.append(
            Finding(
                "drops",
                f"dropped/duplicated frames: {len(dropped)} reference frames are missing from the distorted clip "
                f"(dropped: {listed_frames(dropped)}) and {len(duplicated)} of its frames repeat the one before "
                f"(duplicated: {listed_frames(duplicated)}): every pair after one is offset; score with --align auto",
                {"dropped_ref_frames": dropped, "duplicated_dis_frames": duplicated},
            )
        )
    return out


def diagnose(
    ref: str | Path,
    dis: str | Path,
    *,
    width: int | None = None,
    height: int | None = None,
    pix_fmt: str | None = None,
    fps: float | None = None,
    max_frames: int | None = None,
    ffmpeg: str | None = None,
) -> Diagnosis:
    """Every check of the module doc on the pair (at most `max_frames` frames of each side)."""
    ff = ffm.find_ffmpeg(ffmpeg)
    ref_src = describe_source(ref, ff=ff, width=width, height=height, pix_fmt=pix_fmt, fps=fps)
    dis_src = describe_source(dis, ff=ff, width=width, height=height, pix_fmt=pix_fmt, fps=fps)
    findings = metadata_findings(ref_src, dis_src, ff)
    checked = ["frame_rate", "size", "pix_fmt", "range_tag", "matrix"]
    ref_thumbs, dis_thumbs = pair_thumbs(ff, ref_src, dis_src, max_frames)
    n_ref, n_dis = len(ref_thumbs), len(dis_thumbs)
    if n_ref == 0 or n_dis == 0:
        raise InputError("has no decodable frames", path=ref if n_ref == 0 else dis)
    found: Alignment | None = None
    if ref_thumbs.shape[1:] != dis_thumbs.shape[1:]:
        findings.append(
            Finding(
                "alignment_unchecked",
                "alignment and levels: not checked, the two sides' pictures have different shapes (aspect ratios)",
            )
        )
    else:
        try:
            found = follow_steps(
                ref_thumbs, dis_thumbs, search(ref_thumbs, dis_thumbs, ref_src.fps, where=dis), where=dis
            )
        except InputError as exc:
            findings.append(
                Finding("alignment_unchecked", f"alignment: not checked: {str(exc).removeprefix(f'{dis}: ')}")
            )
        checked += ["offset", "drops"]
    if found is not None:
        findings += alignment_findings(found, n_ref, n_dis)
    ref_frames, dis_frames = (
        found.paired_frames(n_ref, n_dis) if found is not None else (list(range(min(n_ref, n_dis))),) * 2
    )
    unexplained = n_ref != n_dis and (found is None or not (found.offset or found.steps))
    if n_ref != n_dis:
        findings.append(
            Finding(
                "frame_count",
                f"frame count: the reference has {n_ref} frames and the distorted clip {n_dis}"
                + (": nothing above explains it (a trimmed end?)" if unexplained else ""),
                {"ref_frames": n_ref, "dis_frames": n_dis},
            )
        )
    checked.append("frame_count")
    if ref_thumbs.shape[1:] == dis_thumbs.shape[1:]:
        levels = luma_levels(ref_thumbs, dis_thumbs, ref_frames, dis_frames)
        finding = levels_finding(levels) if levels is not None else None
        if finding is not None:
            findings.append(finding)
        checked.append("levels")
    findings += stretch_findings(
        side_report(ff, ref_src, n_ref, max_frames), side_report(ff, dis_src, n_dis, max_frames)
    )
    checked += ["frozen", "black", "interlaced", "variable_frame_rate"]
    return Diagnosis(str(ref), str(dis), findings, checked)
