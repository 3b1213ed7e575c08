"""`--metrics xpsnr` on real clips: per frame, the value ffmpeg's own xpsnr filter writes in its
stats file when run by hand (the same frames: a same-size pair, subsampled; and an encode at half
size scaled up with bicubic), and null for a plane identical to the reference's (infinite XPSNR)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vmafkit.media.ffmpeg import find_ffmpeg
from vmafkit.media.score import score_pair

from ..conftest import media

VMAFKIT = [sys.executable, "-m", "vmafkit.cli"]
REF = "bikes_640x272_250f.mp4"
FRAMES = 8


def _ffmpeg(*args: str) -> None:
    subprocess.run([find_ffmpeg().path, "-nostdin", "-loglevel", "error", *map(str, args)], check=True)


def _stats_by_hand(tmp, dis, dis_steps: str) -> dict[int, tuple[float, float, float]]:
    """ffmpeg's xpsnr run by hand; its stats file read with a regex of this test's own."""
    import re

    stats = tmp / "by_hand.txt"
    graph = (
        f"[0:v]{dis_steps}format=yuv420p[d];[1:v]trim=end_frame={FRAMES},format=yuv420p[r];"
        f"[d][r]xpsnr=stats_file={stats}:shortest=1"
    )
    _ffmpeg("-i", dis, "-i", media(REF), "-lavfi", graph, "-f", "null", "-")
    found = {}
    for n, y, u, v in re.findall(
        r"n:\s*(\d+)\s+XPSNR y:\s*(\S+)\s+XPSNR u:\s*(\S+)\s+XPSNR v:\s*(\S+)", stats.read_text()
    ):
        found[int(n) - 1] = (float(y), float(u), float(v))
    return found


@pytest.fixture(scope="module")
def encodes(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("xpsnr")
    same = tmp / "same.mp4"
    half = tmp / "half.mp4"
    _ffmpeg("-i", media(REF), "-frames:v", FRAMES, "-c:v", "libx264", "-crf", "36", "-preset", "veryfast", same)
    _ffmpeg("-i", media(REF), "-frames:v", FRAMES, "-vf", "scale=320:136", "-c:v", "libx264", "-crf", "30", half)
    return tmp, same, half


def test_xpsnr_equals_ffmpegs_own_stats_subsampled(encodes):
    tmp, same, _ = encodes
    result = score_pair(media(REF), same, max_frames=FRAMES, metrics=("xpsnr",), subsample=3)
    by_hand = _stats_by_hand(tmp, same, "")
    assert [f["frame_index"] for f in result.frames] == [0, 3, 6]
    for frame in result.frames:
        assert (frame["xpsnr_y"], frame["xpsnr_u"], frame["xpsnr_v"]) == by_hand[frame["frame_index"]]
    assert result.mean["xpsnr_y"] == pytest.approx(sum(by_hand[i][0] for i in (0, 3, 6)) / 3, abs=1e-9)


def test_xpsnr_of_a_scaled_encode_is_on_the_frames_libvmaf_scores(encodes):
    tmp, _, half = encodes
    result = score_pair(media(REF), half, max_frames=FRAMES, metrics=("xpsnr", "psnr"), scale="bicubic")
    by_hand = _stats_by_hand(tmp, half, "scale=640:272:flags=bicubic,")
    assert len(result.frames) == FRAMES
    for frame in result.frames:
        assert (frame["xpsnr_y"], frame["xpsnr_u"], frame["xpsnr_v"]) == by_hand[frame["frame_index"]]
        assert "psnr_y" in frame  # libvmaf's metric, in the same pass


def test_an_identical_pair_has_infinite_xpsnr_written_null(tmp_path):
    out = tmp_path / "s.json"
    clip = media(REF)
    proc = subprocess.run(
        [*VMAFKIT, "score", "--ref", clip, "--dis", clip, "--max-frames", "2", "--metrics", "xpsnr", "--json", out],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    frames = json.loads(out.read_text())["frames"]
    assert [f["xpsnr_y"] for f in frames] == [None, None]
