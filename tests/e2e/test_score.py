"""`vmafkit score` through real ffmpeg + libvmaf against published Netflix numbers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vmafkit.corpus.schema import CANONICAL6
from vmafkit.errors import InputError
from vmafkit.media.score import score_pair

from ..conftest import SHARED, media

VMAFKIT = [sys.executable, "-m", "vmafkit.cli"]


def _check(mean: dict, published: dict, feature_places: int, vmaf_places: int) -> None:
    for name in CANONICAL6:
        assert round(mean[name] - published[f"integer_{name}"], feature_places) == 0, name
    assert round(mean["vmaf"] - published["vmaf"], vmaf_places) == 0


def test_reproduces_published_values(reference_values):
    for check in reference_values["checks"]:
        ref, dis = SHARED / "data" / check["ref"], SHARED / "data" / check["dis"]
        tol = check["tolerance"]
        result = score_pair(ref, dis, width=check["width"], height=check["height"], pix_fmt=check["pix_fmt"])
        assert len(result.frames) == check["frames"]
        _check(result.mean, check["dis_vs_ref_mean"], tol["features_places"], tol["vmaf_dis_places"])
        same = score_pair(ref, ref, width=check["width"], height=check["height"], pix_fmt=check["pix_fmt"])
        _check(same.mean, check["ref_vs_ref_mean"], tol["features_places"], tol["vmaf_ref_places"])


def test_cli_writes_frames_and_means(tmp_path):
    out = tmp_path / "score.json"
    ref, dis = media("src01_hrc00_160x90_48f.yuv"), media("src01_hrc01_160x90_48f.yuv")
    proc = subprocess.run(
        [*VMAFKIT, "score", "--ref", str(ref), "--dis", str(dis), "--max-frames", "4", "--json", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert [f["frame_index"] for f in data["frames"]] == [0, 1, 2, 3]
    assert set(data["frames"][0]) >= {"frame_index", "vmaf", *CANONICAL6}
    assert data["mean"]["vmaf"] == pytest.approx(sum(f["vmaf"] for f in data["frames"]) / 4)


def test_ten_bit_raw_and_odd_sized_container_score():
    sparks = media("sparks_ref_480x270_5f.yuv420p10le.yuv")
    result = score_pair(sparks, sparks, max_frames=2)
    assert result.meta["pix_fmt"] == "yuv420p10le" and len(result.frames) == 2
    assert result.mean["vmaf"] > 95
    city = media("cityCC0_720x405_190f.mpg")
    result = score_pair(city, city, max_frames=2)
    assert (result.meta["width"], result.meta["height"]) == (720, 404)  # even crop, same on both sides


def test_mismatched_frame_counts_are_refused(tmp_path):
    ref = media("src01_hrc00_160x90_48f.yuv")
    short = tmp_path / "short_160x90.yuv"
    short.write_bytes(ref.read_bytes()[: 160 * 90 * 3 // 2 * 10])
    with pytest.raises(InputError, match="has 10 frames but the reference has 48"):
        score_pair(ref, short)


def test_raw_with_partial_frame_is_refused_with_exit_2(tmp_path):
    bad = tmp_path / "cut_160x90.yuv"
    bad.write_bytes(media("src01_hrc00_160x90_48f.yuv").read_bytes()[:100000])
    proc = subprocess.run([*VMAFKIT, "score", "--ref", str(bad), "--dis", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert str(bad) in proc.stderr and "not a whole number" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
