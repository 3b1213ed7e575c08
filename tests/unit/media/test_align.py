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
    found = align.find_offset(ref, dis + np.float32(3.0), 6)  # a brightness shift changes nothing
    assert found.offset == k and found.convincing
    assert (
        found.ncc == pytest.approx(1.0) and found.runner_up_offset is not None and abs(found.runner_up_offset - k) >= 2
    )
    assert (found.dis_skip, found.ref_skip) == (max(k, 0), max(-k, 0))


def test_a_still_pair_is_not_convincing():
    still = np.repeat(moving(1), 20, axis=0)
    found = align.find_offset(still, still, 5)
    assert not found.convincing and found.margin == 0.0


def test_unrelated_motion_is_not_convincing():
    found = align.find_offset(moving(40, seed=1), moving(40, seed=2)[:, ::-1], 6)
    assert not found.convincing


def test_the_frames_psnr_at_the_offset_is_reported():
    ref = moving(10)
    dis = ref + np.float32(1.0)  # MSE 1 everywhere: PSNR 10 log10(255^2) = 48.13 dB
    assert align.pair_psnr(ref, dis, 0) == (pytest.approx(48.1308, abs=1e-4), 10)
    assert align.pair_psnr(ref, ref, 0)[0] == align.PSNR_CAP_DB


@pytest.mark.parametrize(
    ("fps", "n_ref", "n_dis", "window"), [(25.0, 1000, 1000, 125), (60.0, 1000, 1000, 300), (25.0, 60, 40, 60)]
)
def test_the_reach_is_five_seconds_at_most_300_frames_and_the_longer_side(fps, n_ref, n_dis, window):
    assert align.search_window(fps, n_ref, n_dis) == window


@pytest.mark.parametrize(
    ("n_ref", "n_dis", "first", "last"),
    [
        (20, 60, -10, 50),  # at least 10 pairs: a 20-frame reference anywhere in a 60-frame capture
        (60, 20, -50, 10),
        (40, 40, -20, 20),
        (3, 3, -1, 1),  # at least two pairs
    ],
)
def test_the_offsets_searched_leave_half_the_shorter_side_paired(n_ref, n_dis, first, last):
    assert align.search_offsets(25.0, n_ref, n_dis) == list(range(first, last + 1))


def test_a_short_reference_inside_a_long_capture_is_found_where_it_lies():
    """REF is frames 15..34 of what DIS shows: DIS frame i + 15 shows REF frame i."""
    capture = moving(60)
    found = align.search(capture[15:35], capture, 25.0, where="d.mp4")
    assert found.offset == 15 and found.convincing


@pytest.mark.parametrize("n", [1, 2, 3])
def test_a_clip_of_a_few_frames_is_refused_not_guessed(n):
    clip = moving(n)
    with pytest.raises(InputError, match="too few frames to align"):
        align.search(clip, clip, 25.0, where="d.mp4")


def test_sides_of_different_shapes_are_refused_not_crashed():
    with pytest.raises(InputError, match="differ in shape"):
        align.find_offset(moving(10), moving(10)[:, :, :5], 3)


@pytest.mark.parametrize(("value", "parsed"), [(None, None), ("off", None), ("auto", "auto"), ("-3", -3), (4, 4)])
def test_align_values(value, parsed):
    assert align.parse_align(value) == parsed


@pytest.mark.parametrize("value", ["soon", "1.5", "301", True])
def test_bad_align_values(value):
    with pytest.raises(InputError):
        align.parse_align(value)


def test_the_score_job_trims_each_side_by_its_skip_then_to_the_pairs():
    spec = ffm.InputSpec(Path("a.mp4"), False, 64, 48, "yuv420p", 25.0)
    job = ffm.ScoreJob(spec, spec, "yuv420p", max_frames=10, ref_frames=((0, 10),), dis_frames=((3, 13),))
    assert job.trim("dis") == ["trim=start_frame=3:end_frame=13"] and job.trim("ref") == ["trim=end_frame=10"]
    assert ffm.ScoreJob(spec, spec, "yuv420p").trim("ref") == []
    assert ffm.ScoreJob(spec, spec, "yuv420p", ref_frames=((2, 9),)).trim("ref") == ["trim=start_frame=2"]


def test_a_side_with_a_gap_selects_its_runs_of_frames():
    spec = ffm.InputSpec(Path("a.mp4"), False, 64, 48, "yuv420p", 25.0)
    job = ffm.ScoreJob(spec, spec, "yuv420p", max_frames=5, ref_frames=((0, 2), (3, 6)))
    assert job.trim("ref") == ["select=between(n\\,0\\,1)+between(n\\,3\\,5)"]


@pytest.mark.parametrize(
    ("frames", "runs"),
    [([], ()), ([4], ((4, 5),)), ([0, 1, 2, 5, 6], ((0, 3), (5, 7))), ([1, 3, 5], ((1, 2), (3, 4), (5, 6)))],
)
def test_frame_ranges(frames, runs):
    assert ffm.frame_ranges(frames) == runs


def test_pairs_of_a_stepped_alignment_by_hand():
    """REF 0..9; DIS shows 0 1 2 4 5 5 6 7 8 9: REF 3 dropped (offset 0 -> -1 at DIS 3), DIS 5 a
    duplicate (offset -1 -> 0 at DIS 5)."""
    stepped = align.Alignment(offset=0, forced=False, steps=((3, -1), (5, 0)))
    ref_frames, dis_frames = stepped.paired_frames(10, 10)
    assert ref_frames == [0, 1, 2, 4, 5, 6, 7, 8, 9] and dis_frames == [0, 1, 2, 3, 4, 6, 7, 8, 9]
    assert stepped.drops_and_duplicates(10, 10) == ([3], [5])
    late = align.Alignment(offset=2, forced=True)  # DIS starts 2 late: its first two frames have no partner
    assert late.paired_frames(5, 5) == ([0, 1, 2], [2, 3, 4]) and late.drops_and_duplicates(5, 5) == ([], [])


def moving_frames(n: int, seed: int = 0) -> np.ndarray:
    """A clip whose every frame differs (independent noise): each pair's offset is unmistakable."""
    return np.random.default_rng(seed).uniform(0, 255, size=(n, 8, 8)).astype(np.float32)


@pytest.mark.parametrize(
    ("kept", "steps"),
    [
        (list(range(40)), []),
        ([*range(15), *range(16, 40)], [(15, -1)]),  # REF 15 dropped
        ([*range(21), 20, *range(21, 40)], [(21, 1)]),  # DIS 21 repeats REF 20
        ([*range(10), *range(13, 30), 29, 29, *range(30, 40)], [(10, -3), (27, -2), (28, -1)]),
        ([*range(20), 19, *range(21, 40)], [(20, 1), (21, 0)]),  # DIS 20 repeats REF 19 in place of REF 20
    ],
)
def test_track_offsets_finds_hand_made_drops_and_duplicates(kept, steps):
    ref = moving_frames(40)
    dis = ref[kept] + np.random.default_rng(1).normal(0, 2, size=(len(kept), 8, 8)).astype(np.float32)
    path, *_ = align.track_offsets(ref, dis, 0)
    assert [(j, int(path[j])) for j in range(1, len(path)) if path[j] != path[j - 1]] == steps
    assert all(j - int(path[j]) == kept[j] for j in range(len(kept)))


def test_follow_steps_refuses_steps_it_cannot_place():
    """A drop at DIS 20 in a clip whose motion is barely above its coding noise (motion of amplitude
    5 grey levels, noise sigma 3): the pairs at the stretches' own offsets are hardly better than at
    their neighbours, so the steps are refused; with four times the motion they are placed."""
    base = np.random.default_rng(5).uniform(0, 255, size=(1, 8, 8))
    kept = [*range(20), *range(21, 40)]
    noise = np.random.default_rng(2).normal(0, 3, size=(39, 8, 8))
    found = align.Alignment(offset=-1, forced=False)
    faint = (base + 0.02 * moving_frames(40)).astype(np.float32)
    with pytest.raises(InputError, match="too still or too distorted to place the steps"):
        align.follow_steps(faint, (faint[kept] + noise).astype(np.float32), found, where="d.mp4")
    clear = (base + 0.1 * moving_frames(40)).astype(np.float32)
    placed = align.follow_steps(clear, (clear[kept] + noise).astype(np.float32), found, where="d.mp4")
    assert placed.offset == 0 and placed.steps == ((20, -1),) and placed.whole_clip_offset == -1
