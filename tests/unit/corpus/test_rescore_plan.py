"""corpus/rescore.py's check that a corpus holds whole cells: the frames a build scored of an encode
of N frames at subsampling s are 0, s, 2s, ... below N (hand-listed here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmafkit.corpus.build import Cell
from vmafkit.corpus.kept_encodes import KeptEncode
from vmafkit.corpus.rescore import RescoreCell, _check_whole_cell
from vmafkit.errors import InputError
from vmafkit.media.sources import Source


def _item(frames: int) -> RescoreCell:
    source = Source(
        path=Path("clip.y4m"), name="clip", kind="y4m", width=64, height=48, pix_fmt="yuv420p", fps=25.0,
        bit_depth=8, frames=4, sha256="0" * 64, size=1, group="clip",
    )  # fmt: skip
    return RescoreCell(Cell(source, "libx264", "medium", 30), _kept(frames), "bicubic", None, 1, "c.jsonl: row 1")


def _kept(frames: int) -> KeptEncode:
    return KeptEncode("0" * 32, Path("/cache/encodes/x.mkv"), "0" * 64, 10, frames, 1, "x264")


@pytest.mark.parametrize(
    ("indices", "frames"),
    [([0, 1, 2, 3], 4), ([0, 2], 4), ([0, 2, 4], 5), ([0], 4), ([0], 1), ([3, 0, 2, 1], 4)],
)
def test_whole_cells_pass(indices, frames):
    _check_whole_cell(_item(frames), indices)


@pytest.mark.parametrize(
    ("indices", "frames"), [([0, 1], 4), ([0, 2], 5), ([1, 2, 3], 4), ([0, 1, 2, 3], 2), ([0, 0], 2)]
)
def test_a_cell_cut_short_or_a_changed_frame_count_is_refused(indices, frames):
    with pytest.raises(InputError, match=r"rescore re-scores whole cells"):
        _check_whole_cell(_item(frames), indices)
