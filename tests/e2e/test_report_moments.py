"""The report's worst moments (issue 23, item 3): the corpus cell with the deepest dip, its strip,
and its worst frames as pictures from the reference clip and the kept encode.

A real corpus of two shared clips (libx264 at cq 20 and 45, 30 frames) is built here. Oracles: the
worst cell and its worst frame are found by hand from the rows (numpy's percentile); the pictures
are decoded back and compared with the reference frame ffmpeg extracts by hand."""

from __future__ import annotations

import base64
import io
import re
import subprocess

import numpy as np
import pytest
from PIL import Image

import vmafkit
from vmafkit.corpus.schema import read_rows
from vmafkit.media.ffmpeg import find_ffmpeg
from vmafkit.report.worst_cell import PICTURE_WIDTH, worst_cell, worst_moments_section

from ..conftest import media

CLIPS = ("bikes_640x272_250f.mp4", "carphone_176x144_120f.mp4")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report_moments")
    refs = tmp / "refs"
    refs.mkdir()
    for clip in CLIPS:
        (refs / clip).symlink_to(media(clip))
    (tmp / "corpus").mkdir()
    corpus = tmp / "corpus" / "per_frame_canonical6.jsonl"
    grid = vmafkit.Grid(encoders=("libx264",), cqs=(20, 45), presets=("veryfast",))
    vmafkit.build_corpus(refs, corpus, grid=grid, max_frames=30, jobs=1)
    return refs, corpus, read_rows(corpus)


def by_hand(rows):
    cells = {}
    for row in rows:
        cells.setdefault((row["src"], row["cq"]), []).append(row)
    key = min(cells, key=lambda k: np.percentile([r["vmaf"] for r in cells[k]], 5))
    worst = min(cells[key], key=lambda r: (r["vmaf"], r["frame_index"]))
    return key, worst


def test_the_worst_cell_is_the_lowest_p5(built):
    _, _, rows = built
    (src, cq), _ = by_hand(rows)
    key, cell = worst_cell(rows)
    assert (cell[0]["src"], key[3]) == (src, cq) and [r["frame_index"] for r in cell] == list(range(30))


def test_the_section_shows_the_worst_frame_from_the_clip_and_the_encode(built, tmp_path):
    refs, corpus, rows = built
    (src, _), worst = by_hand(rows)
    html = worst_moments_section(rows, corpus, str(refs))
    assert "No shots or pictures" not in html
    captions = re.findall(r"<figcaption>#(\d+): VMAF ([\d.]+) at frame (\d+)", html)
    assert captions[0] == ("1", f"{worst['vmaf']:.2f}", str(worst["frame_index"]))
    first = re.search(r"<figure><img alt='[^']*' src='data:image/png;base64,([^']+)'>", html).group(1)
    picture = np.asarray(Image.open(io.BytesIO(base64.b64decode(first))).convert("RGB")).astype(float)
    clip = next(c for c in CLIPS if c.startswith(src))
    hand = tmp_path / "hand.png"
    argv = [find_ffmpeg().path, "-nostdin", "-loglevel", "error", "-y", "-i", media(clip)]
    vf = f"select=eq(n\\,{worst['frame_index']}),format=rgb24"
    subprocess.run([*argv, "-vf", vf, "-frames:v", "1", str(hand)], check=True)
    reference = np.asarray(Image.open(hand).convert("RGB").resize((picture.shape[1] // 2, picture.shape[0]))).astype(
        float
    )
    left = picture[:, : picture.shape[1] // 2]
    assert picture.shape[1] <= PICTURE_WIDTH  # shrunk to the report's width, never enlarged
    assert np.abs(left - reference).mean() < 6.0  # the same picture, shrunk twice
    assert np.abs(picture[:, picture.shape[1] // 2 :] - reference).mean() > 0.0


def test_without_the_reference_folder_the_strip_stays_and_says_why(built, tmp_path):
    _, corpus, rows = built
    html = worst_moments_section(rows, corpus, str(tmp_path / "moved"))
    assert "<img" in html and "No shots or pictures: the reference folder the verdict names" in html
    assert "data:image/png;base64" in html and "<figure>" not in html
