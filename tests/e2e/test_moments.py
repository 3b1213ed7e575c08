"""`score --shots/--worst/--dump` on real clips (issue 23, item 3).

The reference is made here with known scene cuts: 30 frames of bikes (31-60, inside one of its
shots), 30 of cup (cropped to 640x272) and 30 more of bikes (140-169), as lossless y4m: cuts at
frames 30 and 60 by construction. The distorted clip is its x264 encode at crf 38. Oracles: the
shots' pools are numpy's over the per-frame scores grouped by the known cuts; the worst frames are
picked by hand (greedy, 12 frames apart); a dumped picture's halves are compared with the frames
ffmpeg extracts by hand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import vmafkit
from vmafkit.media.ffmpeg import find_ffmpeg

from ..conftest import media

VMAFKIT = [sys.executable, "-m", "vmafkit.cli"]
CUTS = (30, 60)


def run_ffmpeg(*argv) -> None:
    subprocess.run([find_ffmpeg().path, "-nostdin", "-loglevel", "error", "-y", *map(str, argv)], check=True)


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("moments")
    ref, dis = tmp / "cuts.y4m", tmp / "cuts_crf38.mp4"
    graph = (
        "[0:v]trim=start_frame=31:end_frame=61,settb=1/25,setpts=N,format=yuv420p[a];"
        "[1:v]trim=end_frame=30,settb=1/25,setpts=N,crop=640:272:0:100,format=yuv420p[b];"
        "[0:v]trim=start_frame=140:end_frame=170,settb=1/25,setpts=N,format=yuv420p[c];"
        "[a][b][c]concat=n=3:v=1:a=0[out]"
    )
    bikes, cup = media("bikes_640x272_250f.mp4"), media("cup_640x480_217f.mp4")
    run_ffmpeg("-i", bikes, "-i", cup, "-filter_complex", graph, "-map", "[out]", "-fps_mode", "passthrough", ref)
    run_ffmpeg("-i", ref, "-c:v", "libx264", "-crf", "38", "-preset", "veryfast", dis)
    return ref, dis


def test_shots_split_at_the_known_cuts_and_pool_like_numpy(pair):
    ref, dis = pair
    result = vmafkit.score(ref, dis, shots=True, pool=("mean", "p5"))
    shots = result.meta["moments"]["shots"]
    assert [(s["first_ref_frame"], s["last_ref_frame"]) for s in shots] == [(0, 29), (30, 59), (60, 89)]
    values = np.array([f["vmaf"] for f in result.frames])
    for shot, (first, last) in zip(shots, [(0, 30), (30, 60), (60, 90)]):
        assert shot["vmaf"]["mean"] == pytest.approx(values[first:last].mean(), abs=1e-9)
        assert shot["vmaf"]["p5"] == pytest.approx(np.percentile(values[first:last], 5), abs=1e-9)
        assert shot["scored_frames"] == last - first


def test_worst_frames_are_the_lowest_a_dip_apart_and_worst_shots_rank_by_the_first_pool(pair):
    ref, dis = pair
    result = vmafkit.score(ref, dis, shots=True, worst=3)
    values = [(f["vmaf"], f["frame_index"]) for f in result.frames]
    chosen: list[int] = []  # by hand: greedy, each at least 12 frames from those before
    for _, index in sorted(values):
        if len(chosen) < 3 and all(abs(index - c) >= 12 for c in chosen):
            chosen.append(index)
    moments = result.meta["moments"]
    assert [m["frame_index"] for m in moments["worst_frames"]] == chosen
    assert [m["shot"] for m in moments["worst_frames"]] == [1 + sum(c <= i for c in CUTS) for i in chosen]
    means = {s["shot"]: s["vmaf"]["mean"] for s in moments["shots"]}
    assert moments["worst_shots"] == sorted(means, key=means.get)


def test_dumped_pictures_are_the_scored_frames_side_by_side(pair, tmp_path):
    ref, dis = pair
    out = tmp_path / "dump"
    result = vmafkit.score(ref, dis, worst=2, dump=out)
    assert (out / "index.html").is_file()
    for moment in result.meta["moments"]["worst_frames"]:
        picture = np.asarray(Image.open(out / moment["image"]).convert("RGB"))
        assert picture.shape == (272, 1280, 3)
        for side, source, frame in (
            (slice(0, 640), ref, moment["ref_frame"]),
            (slice(640, 1280), dis, moment["dis_frame"]),
        ):
            hand = tmp_path / f"hand-{frame}.png"
            run_ffmpeg("-i", source, "-vf", f"select=eq(n\\,{frame}),format=rgb24", "-frames:v", "1", hand)
            assert np.array_equal(picture[:, side], np.asarray(Image.open(hand).convert("RGB")))


def test_an_aligned_pair_dumps_each_sides_own_frame(tmp_path):
    """DIS two frames late: the worst moment's distorted frame is its reference frame + 2."""
    dis = tmp_path / "late.mp4"
    run_ffmpeg("-i", media("bikes_640x272_250f.mp4"), "-vf", "tpad=start=2:start_mode=clone", "-frames:v", "60",
               "-c:v", "libx264", "-crf", "38", "-preset", "veryfast", dis)  # fmt: skip
    result = vmafkit.score(
        media("bikes_640x272_250f.mp4"), dis, align="auto", max_frames=50, worst=1, dump=tmp_path / "d"
    )
    (moment,) = result.meta["moments"]["worst_frames"]
    assert moment["dis_frame"] == moment["ref_frame"] + 2 and moment["frame_index"] == moment["ref_frame"]


def test_cli_names_the_worst_on_stderr_and_refuses_bad_values(pair, tmp_path):
    ref, dis = pair
    proc = subprocess.run(
        [
            *VMAFKIT,
            "score",
            "--ref",
            str(ref),
            "--dis",
            str(dis),
            "--shots",
            "--worst",
            "2",
            "--json",
            str(tmp_path / "s.json"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("vmafkit: worst shot ") and any(
        line.startswith("vmafkit: worst frame #2:") for line in lines
    )
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for extra, needle in ((["--worst", "0"], "--worst"), (["--dump", str(blocker)], "--dump")):
        bad = subprocess.run(
            [*VMAFKIT, "score", "--ref", str(ref), "--dis", str(dis), *extra], capture_output=True, text=True
        )
        assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and needle in bad.stderr
    assert blocker.read_text() == "x"


def test_a_second_dump_replaces_the_first_ones_pictures_and_keeps_other_files(pair, tmp_path):
    ref, dis = pair
    out = tmp_path / "dump"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    vmafkit.score(ref, dis, worst=3, dump=out)
    vmafkit.score(ref, dis, worst=1, dump=out)
    pictures = sorted(p.name for p in out.glob("worst-*.png"))
    assert len(pictures) == 1 and pictures[0].startswith("worst-01-") and (out / "notes.txt").read_text() == "mine"


def test_a_dump_folder_whose_page_is_a_folder_is_refused_before_any_work(pair, tmp_path):
    ref, dis = pair
    (tmp_path / "d" / "index.html").mkdir(parents=True)
    proc = subprocess.run(
        [*VMAFKIT, "score", "--ref", str(ref), "--dis", str(dis), "--worst", "1", "--dump", str(tmp_path / "d")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "index.html" in proc.stderr and not list((tmp_path / "d").glob("*.png"))


def test_a_dump_folder_with_pattern_and_protocol_characters_gets_its_pictures(pair, tmp_path):
    """ffmpeg's image2 reads '%' as a pattern and 'x:' as a protocol: the folder must not be."""
    ref, dis = pair
    out = tmp_path / "a%d:b -c"
    result = vmafkit.score(ref, dis, worst=2, dump=out)
    assert sorted(p.name for p in out.glob("worst-*.png")) == sorted(
        m["image"] for m in result.meta["moments"]["worst_frames"]
    )
