"""`subjective train --dataset ... --scale FILTER`: a pair whose distorted video is smaller than its
reference is scored upscaled, as `vmafkit score --scale` scores it, and is refused without a filter.

The oracle is `vmafkit score --scale bicubic` on the same real pair (a 96x54 x264 encode of a real
160x90 clip, made here with ffmpeg), which goes through the score command's own path."""

from __future__ import annotations

import json
import subprocess
import sys

import imageio_ffmpeg
import pytest

from tests.conftest import media
from vmafkit.corpus.subjective_dataset import Pair
from vmafkit.corpus.subjective_scoring import score_pairs
from vmafkit.errors import InputError

VMAFKIT = [sys.executable, "-m", "vmafkit"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("subjective-scale")
    ref = tmp / "talk_160x90.y4m"
    raw = media("src01_hrc00_160x90_48f.yuv")
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    common = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p"]
    common += ["-s", "160x90", "-framerate", "24", "-i", str(raw), "-frames:v", "4"]
    subprocess.run([*common, "-strict", "-1", str(ref)], check=True)
    dis = tmp / "talk_96x54.mp4"
    subprocess.run([*common, "-vf", "scale=96:54", "-c:v", "libx264", "-crf", "30", str(dis)], check=True)
    return tmp, ref, dis


def test_a_smaller_distorted_video_is_scored_upscaled_with_the_filter(pair):
    tmp, ref, dis = pair
    item = Pair(ref=ref, dis=dis, score=3.0, content="talk", where="pairs.json:1")
    with pytest.raises(InputError, match=r"pairs\.json:1: .*96x54"):
        score_pairs([item], tmp / "cache-none")
    (scored,) = score_pairs([item], tmp / "cache", scale_filter="bicubic")
    oracle = subprocess.run(
        [*VMAFKIT, "score", "--ref", str(ref), "--dis", str(dis), "--scale", "bicubic"], capture_output=True, text=True
    )
    assert oracle.returncode == 0, oracle.stderr
    expected = json.loads(oracle.stdout)["mean"]
    for key in ("vmaf", "adm2", "vif_scale0", "motion2"):
        assert scored.mean[key] == pytest.approx(expected[key], abs=1e-9), key
    cached = json.loads(scored.cache_file.read_text())
    assert cached["identity"]["scale_filter"] == "bicubic"


def test_a_score_scale_given_to_scale_points_to_score_scale(tmp_path):
    proc = subprocess.run(
        [*VMAFKIT, "subjective", "train", "--dataset", "d.json", "--out", str(tmp_path / "o"), "--scale", "mos-1-5"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "'mos-1-5' is a score scale: use --score-scale mos-1-5" in proc.stderr
