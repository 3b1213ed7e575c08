"""`media.samples`: where the samples of a target search lie (hand-computed plans) and what the
sample clip holds (real ffmpeg; the oracle is the title's own frames, decoded separately and picked
by index with numpy)."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from tests.conftest import media
from vmafkit.errors import InputError
from vmafkit.media.ffmpeg import find_ffmpeg
from vmafkit.media.samples import plan_samples, sample_clip
from vmafkit.media.sources import describe_source


def test_samples_are_centred_in_equal_parts_of_the_title():
    # 300 frames, 3 parts of 100: 25-frame samples centred at 50, 150, 250 -> starts 38 (37.5 rounds
    # to even), 138 (137.5), 238 (237.5)
    plan = plan_samples(300, 25.0, count=3, seconds=1.0)
    assert plan.ranges == ((38, 63), (138, 163), (238, 263))
    assert plan.frames == 75 and plan.share == 0.25 and plan.snapped == 0 and plan.notes == ()


def test_a_start_moves_onto_a_scene_cut_within_half_a_sample():
    # bikes' cuts; 2 samples of 50 frames in 250: centred starts 38 and 162. Within 25 frames of 38
    # lies the cut at 30; 162 is 25 from both 137 and 187: the earlier wins the tie
    plan = plan_samples(250, 25.0, count=2, seconds=2.0, cuts=[30, 76, 137, 187, 242])
    assert plan.ranges == ((30, 80), (137, 187)) and plan.snapped == 2
    # a cut farther than half a sample is not taken
    far = plan_samples(250, 25.0, count=2, seconds=2.0, cuts=[70, 200])
    assert far.ranges == ((38, 88), (162, 212)) and far.snapped == 0


def test_a_sample_moves_to_the_nearest_cut_and_stays_inside_the_title():
    # 40 frames, 2 parts of 20, 10-frame samples: centred starts 5 and 25; the cuts at 9 and 21 are
    # within 5 frames (half a sample) of them
    assert plan_samples(40, 10.0, count=2, seconds=1.0, cuts=[9, 21]).ranges == ((9, 19), (21, 31))
    # one 30-frame sample in 60: start 15; a cut at 30 is 15 away (half a sample) and the sample
    # still fits (30..60); the nearer cut at 20 wins over it
    assert plan_samples(60, 10.0, count=1, seconds=3.0, cuts=[30]).ranges == ((30, 60),)
    assert plan_samples(60, 10.0, count=1, seconds=3.0, cuts=[20, 30]).ranges == ((20, 50),)


def test_samples_covering_more_than_half_the_title_are_fewer():
    plan = plan_samples(250, 25.0, count=4, seconds=2.0)
    assert len(plan.ranges) == 2 and "2 taken" in plan.notes[0]
    assert plan_samples(60, 25.0, count=4, seconds=2.0).ranges == ((5, 55),)  # at least one


def test_a_title_shorter_than_one_sample_is_refused_by_name():
    with pytest.raises(InputError, match=r"clip\.mp4.*shorter than one sample of 5 s"):
        plan_samples(100, 25.0, count=1, seconds=5.0, where="clip.mp4")


def _decoded(path, width, height) -> np.ndarray:
    raw = subprocess.run(
        [
            find_ffmpeg().path,
            "-v",
            "error",
            "-i",
            str(path),
            "-map",
            "0:v:0",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "yuv420p",
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    frame = width * height * 3 // 2
    return np.frombuffer(raw, np.uint8).reshape(-1, frame)


def test_the_sample_clip_holds_exactly_the_planned_frames_losslessly(tmp_path):
    ff = find_ffmpeg()
    title = describe_source(media("carphone_176x144_120f.mp4"), ff=ff)
    plan = plan_samples(120, title.fps, count=2, seconds=0.5, cuts=[])
    clip = sample_clip(ff, title, plan, tmp_path)
    frames = _decoded(title.path, 176, 144)
    want = np.concatenate([frames[first:last] for first, last in plan.ranges])
    assert np.array_equal(_decoded(clip.path, 176, 144), want)
    assert clip.fps == title.fps and clip.group == title.name
    # content-addressed: the same plan is the same file, not cut again
    before = clip.path.stat().st_mtime_ns
    assert sample_clip(ff, title, plan, tmp_path).path == clip.path and clip.path.stat().st_mtime_ns == before
    # no temp file left: the clip and the record of its bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([clip.path.name, clip.path.with_suffix(".json").name])


def test_a_damaged_sample_clip_is_cut_again(tmp_path):
    ff = find_ffmpeg()
    title = describe_source(media("carphone_176x144_120f.mp4"), ff=ff)
    plan = plan_samples(120, title.fps, count=2, seconds=0.5, cuts=[])
    clip = sample_clip(ff, title, plan, tmp_path)
    whole = clip.path.read_bytes()
    clip.path.write_bytes(whole[: len(whole) // 3])  # cut short, still a decodable start
    again = sample_clip(ff, title, plan, tmp_path)
    # cut again to the same bytes (bitexact): the cells encoded from the clip stay valid
    assert again.path.read_bytes() == whole and again.sha256 == clip.sha256
