"""media/align.py on made-up thumbnails (hand-known offsets), and the trims it asks of ffmpeg."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vmafkit.errors import InputError
from vmafkit.media import align
from vmafkit.media import ffmpeg as ffm


def moving(n: int, seed: int = 0) -> np.ndarray:
    """n frames 8x16 of a random texture that moves one pixel right per frame."""
    rng = np.random.default_rng(seed)
    texture = rng.uniform(0, 255, size=(8, 16 + n)).astype(np.float32)
    return np.stack([texture[:, i : i + 16] for i in range(n)])


@pytest.mark.parametrize("k", [-4, -1, 0, 1, 3])
def test_the_offset_of_a_shifted_copy_is_found(k):
    ref = moving(40)
    # DIS frame i + k shows REF frame i: k > 0 prepends k copies of the first frame, k < 0 drops frames
    dis = np.concatenate([np.repeat(ref[:1], k, axis=0), ref]) if k > 0 else ref[-k:]
    found = align.find_offset(ref, dis + np.float32(3.0), window=6)  # a brightness shift changes nothing
    assert found.offset == k and found.convincing
    assert (
        found.ncc == pytest.approx(1.0) and found.runner_up_offset is not None and abs(found.runner_up_offset - k) >= 2
    )
    assert (found.dis_skip, found.ref_skip) == (max(k, 0), max(-k, 0))


def test_a_still_pair_is_not_convincing():
    still = np.repeat(moving(1), 20, axis=0)
    found = align.find_offset(still, still, window=5)
    assert not found.convincing and found.margin == 0.0


def test_unrelated_motion_is_not_convincing():
    found = align.find_offset(moving(40, seed=1), moving(40, seed=2)[:, ::-1], window=6)
    assert not found.convincing


def test_the_frames_psnr_at_the_offset_is_reported():
    ref = moving(10)
    dis = ref + np.float32(1.0)  # MSE 1 everywhere: PSNR 10 log10(255^2) = 48.13 dB
    assert align.pair_psnr(ref, dis, 0) == (pytest.approx(48.1308, abs=1e-4), 10)
    assert align.pair_psnr(ref, ref, 0)[0] == align.PSNR_CAP_DB


@pytest.mark.parametrize(
    ("fps", "n_ref", "n_dis", "window"), [(25.0, 1000, 1000, 125), (60.0, 1000, 1000, 300), (25.0, 60, 40, 20)]
)
def test_the_window_is_five_seconds_at_most_300_frames_and_half_the_shorter_side(fps, n_ref, n_dis, window):
    assert align.search_window(fps, n_ref, n_dis) == window


@pytest.mark.parametrize(("value", "parsed"), [(None, None), ("off", None), ("auto", "auto"), ("-3", -3), (4, 4)])
def test_align_values(value, parsed):
    assert align.parse_align(value) == parsed


@pytest.mark.parametrize("value", ["soon", "1.5", "301", True])
def test_bad_align_values(value):
    with pytest.raises(InputError):
        align.parse_align(value)


def test_the_score_job_trims_each_side_by_its_skip_then_to_the_pairs():
    spec = ffm.InputSpec(Path("a.mp4"), False, 64, 48, "yuv420p", 25.0)
    job = ffm.ScoreJob(spec, spec, "yuv420p", max_frames=10, ref_skip=0, dis_skip=3)
    assert job.trim("dis") == ["trim=start_frame=3:end_frame=13"] and job.trim("ref") == ["trim=end_frame=10"]
    assert ffm.ScoreJob(spec, spec, "yuv420p").trim("ref") == []
    assert ffm.ScoreJob(spec, spec, "yuv420p", ref_skip=2).trim("ref") == ["trim=start_frame=2"]
