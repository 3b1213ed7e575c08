"""The report's worst moments: the corpus cell with the deepest dip (the lowest 5th-percentile
frame VMAF), its per-frame quality strip with the shots of its reference clip, and its worst
frames, reference | encode, from the clip and the kept encode (`corpus.kept_encodes`).

The pictures need the reference folder the verdict pins and the cell cache beside the corpus; a
run folder without them (moved, cleared, another machine) still gets the strip, with a line that
says what is missing. Nothing here can fail the report."""

from __future__ import annotations

import base64
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vmafkit import layout
from vmafkit import thresholds as T
from vmafkit.corpus.kept_encodes import load_kept_encode
from vmafkit.corpus.schema import CELL_KEY
from vmafkit.errors import VmafkitError
from vmafkit.media import ffmpeg as ffm
from vmafkit.media import moments
from vmafkit.media.libvmaf import TARGET
from vmafkit.media.sources import describe_source, media_files, source_name
from vmafkit.report.figures import esc, quality_strip_figure

PICTURE_WIDTH = 960  # a worst frame's reference | encode picture, shrunk to this width
WORST_PICTURES = 3


def worst_cell(rows: Sequence[dict[str, Any]]) -> tuple[tuple, list[dict[str, Any]]] | None:
    """(the cell's key, its rows by frame) of the cell with the lowest p5 of vmaf (ties: the first)."""
    cells: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        cells.setdefault(tuple(row[k] for k in CELL_KEY), []).append(row)
    if not cells:
        return None
    key = min(cells, key=lambda k: float(np.percentile([r[TARGET] for r in cells[k]], 5)))
    return key, sorted(cells[key], key=lambda r: int(r["frame_index"]))


def worst_moments_section(rows: Sequence[dict[str, Any]], corpus_path: Path, ref_dir: str | None) -> str:
    """The section's HTML (no heading)."""
    found = worst_cell(rows)
    if found is None:
        return "<p class='muted'>no corpus rows</p>"
    key, cell = found
    _, encoder, preset, cq, width, height = key
    src = cell[0]["src"]
    indices = [int(r["frame_index"]) for r in cell]
    values = [float(r[TARGET]) for r in cell]
    frames = [{"frame_index": float(i), TARGET: v} for i, v in zip(indices, values)]
    title = f"{src}, {encoder} {preset} cq {cq:g} ({width}x{height}): p5 {np.percentile(values, 5):.2f}, mean {np.mean(values):.2f}"
    pairing = moments.Pairing.identity(max(indices) + 1)
    pictures, cuts, note = [], None, ""
    try:
        source, encode = _media_of(cell[0], corpus_path, ref_dir)
        ff = ffm.find_ffmpeg()
        cuts = moments.scene_cuts(ff, source, len(pairing.ref_frames))
        worst = moments.worst_frames(frames, pairing, WORST_PICTURES, cuts)
        job = _picture_job(source, encode, int(width), int(height))
        with tempfile.TemporaryDirectory(prefix="vmafkit-report-") as tmp:
            for moment in moments.dump_frames(ff, job, worst, Path(tmp), width=PICTURE_WIDTH):
                data = base64.b64encode((Path(tmp) / str(moment.image)).read_bytes()).decode("ascii")
                caption = (
                    f"#{moment.rank}: VMAF {moment.vmaf:.2f} at frame {moment.ref_frame}"
                    + (f", shot {moment.shot}" if moment.shot is not None else "")
                    + " — reference (left) | encode (right)"
                )
                pictures.append(
                    f"<figure><img alt='{esc(caption)}' src='data:image/png;base64,{data}'>"
                    f"<figcaption>{esc(caption)}</figcaption></figure>"
                )
    except VmafkitError as exc:
        worst = moments.worst_frames(frames, pairing, WORST_PICTURES, None)
        note = f"<p class='na'>No shots or pictures: {esc(exc)}</p>"
    spans: list[tuple[int, int]] = []
    if cuts is not None:
        for shot in moments.shots(frames, pairing, cuts, ("mean",)):
            spans.append((shot.first_pair, shot.last_pair))
    strip = quality_strip_figure(
        indices,
        values,
        shots=spans,
        worst=[(m.pair, m.vmaf, m.rank) for m in worst],
        title=title,
    )
    lead = (
        "<p>The cell with the deepest dip (the lowest 5th-percentile frame VMAF); its shots are split at "
        f"the reference's scene cuts (scdet, threshold {T.SHOT_CUT_THRESHOLD:g}), its worst frames are "
        f"at least {T.WORST_FRAME_GAP} frames apart. <code>vmafkit score --shots --worst N --dump DIR</code> "
        "does this for any pair.</p>"
    )
    return lead + strip + note + "".join(pictures)


def _media_of(row: dict[str, Any], corpus_path: Path, ref_dir: str | None) -> tuple[Any, Any]:
    """The cell's reference clip (by name in the verdict's reference folder, checked by sha256) and
    its kept encode (re-hashed against its record); VmafkitError saying what is missing."""
    if not ref_dir or not Path(ref_dir).is_dir():
        raise VmafkitError(f"the reference folder the verdict names ({ref_dir or 'none'}) is not here")
    paths = [p for p in media_files(Path(ref_dir)) if source_name(p) == row["src"]]
    if not paths:
        raise VmafkitError(f"{row['src']} is not in {ref_dir}")
    source = describe_source(paths[0])
    if source.sha256 != row["src_sha256"]:
        raise VmafkitError(f"{paths[0]} is not the clip the corpus was built from (sha256 differs)")
    key = row.get("encode_key")
    if not key:
        raise VmafkitError("the corpus names no kept encode (built before vmafkit kept encodes)")
    return source, load_kept_encode(layout.cell_cache_dir(corpus_path), str(key))


def _picture_job(source: Any, encode: Any, width: int, height: int) -> ffm.ScoreJob:
    """Reference (cropped to even) and encode (scaled to the reference's size when it is a smaller
    rung, bicubic as scoring does) as the pictures show them."""
    even_w, even_h = source.even_size
    dis = ffm.InputSpec(encode.path, False, width, height, source.pix_fmt, source.fps)
    return ffm.ScoreJob(
        dis,
        source.input_spec,
        ffm.scoring_pix_fmt(source.pix_fmt),
        ref_crop=source.crop,
        dis_scale=ffm.scale_filter(width, height, even_w, even_h, ffm.DEFAULT_SCALE_FILTER),
    )
