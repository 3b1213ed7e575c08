"""File names that break naive ffmpeg calls: scoring and the corpus still work (issue 7)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vmafkit.corpus.build import build_corpus
from vmafkit.media.score import score_pair

from ..conftest import media

VMAFKIT = [sys.executable, "-m", "vmafkit.cli"]
HOSTILE = [
    "with space_160x90.yuv",
    "quote'single_160x90.yuv",
    'quote"double_160x90.yuv',
    "colon:file_160x90.yuv",
    "comma,file_160x90.yuv",
    "brackets[0]_160x90.yuv",
    "back\\slash_160x90.yuv",
    "-leading-dash_160x90.yuv",
    "semi;colon=equals_160x90.yuv",
    "ünïcödé_日本_160x90.yuv",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_score_with_hostile_names(tmp_path, name):
    folder = tmp_path / "odd [dir], it's: here"
    folder.mkdir()
    ref = folder / name
    ref.symlink_to(media("src01_hrc00_160x90_48f.yuv"))
    dis = folder / ("dis " + name)
    dis.symlink_to(media("src01_hrc01_160x90_48f.yuv"))
    result = score_pair(ref, dis, max_frames=3)
    assert len(result.frames) == 3 and 80 < result.mean["vmaf"] < 100
    out = folder / ("out " + name + ".json")
    proc = subprocess.run(
        [*VMAFKIT, "score", "--ref", str(ref), "--dis", str(dis), "--max-frames", "2", "--json", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(out.read_text())["frames"]) == 2


def test_corpus_with_hostile_names_and_folder(tmp_path):
    folder = tmp_path / "refs, [x]: 'q' \\ -d"
    folder.mkdir()
    clip = media("src01_hrc00_160x90_48f.yuv").read_bytes()
    for i, name in enumerate(HOSTILE[:5]):  # five different clips (one luma sample each): duplicates are refused
        (folder / name).write_bytes(clip[:i] + bytes([clip[i] ^ 1]) + clip[i + 1 :])
    out_dir = tmp_path / "out: [x], 'y'"
    out_dir.mkdir()
    result = build_corpus(folder, ["libx264"], [30], out_dir / "c.jsonl", max_frames=2, progress=False)
    rows = [json.loads(line) for line in (out_dir / "c.jsonl").read_text().splitlines()]
    assert result.n_rows == 10 and {r["src"] for r in rows} == {n[:-4] for n in HOSTILE[:5]}
