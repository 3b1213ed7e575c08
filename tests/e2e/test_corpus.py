"""`vmafkit corpus` end to end: real encoders, real libvmaf, real clips, few frames."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vmafkit.corpus.build import build_corpus
from vmafkit.corpus.schema import REQUIRED_KEYS, TIMING_KEYS, load_corpus
from vmafkit.errors import InputError

VMAFKIT = [sys.executable, "-m", "vmafkit.cli"]
CLIPS = (
    "parkjoy_480x270_50fps_10f.y4m",
    "ciscovt2people_320x192_12fps_9f.yuv",
    "cityCC0_720x405_190f.mpg",
    "sparks_ref_480x270_5f.yuv420p10le.yuv",
)


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _without_timings(rows):
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in rows]


def test_corpus_rows_resume_and_geometry(make_ref_dir, tmp_path):
    ref_dir = make_ref_dir(*CLIPS, sources={"groups": {"scenes": ["parkjoy_480x270_50fps_10f"]}})
    out = tmp_path / "out" / "per_frame_canonical6.jsonl"
    out.parent.mkdir()
    proc = subprocess.run(
        [
            *VMAFKIT,
            "corpus",
            "--ref-dir",
            str(ref_dir),
            "--encoders",
            "libx264",
            "--cqs",
            "22,40",
            "--out",
            str(out),
            "--max-frames",
            "3",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    rows = _rows(out)
    assert len(rows) == 4 * 2 * 3
    for row in rows:
        assert set(REQUIRED_KEYS) <= set(row)
    by_src = {r["src"]: r for r in rows}
    # Each source keeps its own geometry, fps, pixel format and bit depth.
    assert (by_src["parkjoy_480x270_50fps_10f"]["fps"], by_src["parkjoy_480x270_50fps_10f"]["group"]) == (
        50.0,
        "scenes",
    )
    assert by_src["ciscovt2people_320x192_12fps_9f"]["fps"] == 12.0
    city = by_src["cityCC0_720x405_190f"]
    assert (city["width"], city["height"], city["src_height"]) == (720, 404, 405)
    sparks = by_src["sparks_ref_480x270_5f.yuv420p10le"]
    assert (sparks["pix_fmt"], sparks["bit_depth"]) == ("yuv420p10le", 10)
    # Lower CQ means higher quality, frame by frame on average.
    for src in by_src:
        hi = [r["vmaf"] for r in rows if r["src"] == src and r["cq"] == 22]
        lo = [r["vmaf"] for r in rows if r["src"] == src and r["cq"] == 40]
        assert sum(hi) > sum(lo), src
    assert len(load_corpus(out)) == len(rows)

    # Resume: a re-run encodes nothing and writes the same rows (timings come from the cache too).
    again = build_corpus(ref_dir, ["libx264"], [22, 40], out, max_frames=3, progress=False)
    assert (again.cells_run, again.cells_cached) == (0, 8)
    assert _rows(out) == rows

    # A half-written cell (temp file) is never taken as done, and a corrupt cell is recomputed.
    cache = out.parent / ".vmafkit-cache" / "cells"
    cells = sorted(cache.glob("*.jsonl"))
    assert len(cells) == 8
    cells[0].write_text(cells[0].read_text()[:50])
    (cache / ".half.jsonl.tmp").write_text("{")
    third = build_corpus(ref_dir, ["libx264"], [22, 40], out, max_frames=3, progress=False)
    assert (third.cells_run, third.cells_cached) == (1, 7)
    assert _without_timings(_rows(out)) == _without_timings(rows)


def test_rows_are_deterministic_across_fresh_builds(make_ref_dir, tmp_path):
    ref_dir = make_ref_dir("ciscovt2people_320x192_12fps_9f.yuv", "bluesky_640x360_3f.yuv")
    outs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        out = tmp_path / name / "c.jsonl"
        build_corpus(ref_dir, ["libx264", "libx265"], [30], out, max_frames=2, progress=False, jobs=2)
        outs.append(_without_timings(_rows(out)))
    assert outs[0] == outs[1] and len(outs[0]) == 2 * 2 * 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--encoders", "libx264", "--out", "{missing}/c.jsonl"], "does not exist"),
        (["--encoders", "nope264", "--out", "{tmp}/c.jsonl"], "unknown encoder"),
        (["--encoders", "h264_nvenc", "--out", "{tmp}/c.jsonl"], "probe failed"),
        (["--encoders", "libx264", "--cqs", "99", "--out", "{tmp}/c.jsonl"], "outside libx264's range"),
    ],
)
def test_bad_input_is_one_line_exit_2(make_ref_dir, tmp_path, args, message):
    ref_dir = make_ref_dir("bluesky_640x360_3f.yuv")
    args = [a.format(missing=tmp_path / "missing", tmp=tmp_path) for a in args]
    proc = subprocess.run(
        [*VMAFKIT, "corpus", "--ref-dir", str(ref_dir), "--no-progress", *args], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_bad_sources_name_the_file(tmp_path):
    ref_dir = tmp_path / "refs"
    ref_dir.mkdir()
    (ref_dir / "nogeometry.yuv").write_bytes(b"\0" * 1000)
    out = tmp_path / "c.jsonl"
    proc = subprocess.run(
        [*VMAFKIT, "corpus", "--ref-dir", str(ref_dir), "--out", str(out), "--no-progress"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "nogeometry.yuv" in proc.stderr and "unknown geometry" in proc.stderr
    (ref_dir / "nogeometry.yuv").unlink()
    (ref_dir / "notvideo.mp4").write_text("hello, I am not a video")
    proc = subprocess.run(
        [*VMAFKIT, "corpus", "--ref-dir", str(ref_dir), "--out", str(out), "--no-progress"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "notvideo.mp4" in proc.stderr
    assert not out.exists()


def test_one_process_scoring_equals_scoring_decoded_yuv_files(make_ref_dir, tmp_path):
    """The corpus's decode+score-in-one-process must pair the same frames as the slow, obvious
    way: decode the encode and the reference to raw files, then score the files. A variable-rate
    mp4 and an odd-sized mpg are the cases where frame pairing could slip."""
    from vmafkit.media.ffmpeg import find_ffmpeg

    ff = find_ffmpeg().path
    ref_dir = make_ref_dir("box_640x480_456f.mp4", "cityCC0_720x405_190f.mpg")
    out = tmp_path / "c.jsonl"
    build_corpus(ref_dir, ["libx264"], [30], out, max_frames=20, progress=False)
    rows = _rows(out)
    keep = ["-fps_mode", "passthrough"]
    for src, crop, size in (
        ("box_640x480_456f.mp4", [], "640x480"),
        ("cityCC0_720x405_190f.mpg", ["-vf", "crop=720:404:0:0"], "720x404"),
    ):

        def ffmpeg(*args):
            subprocess.run([ff, "-y", "-loglevel", "error", *map(str, args)], check=True)

        enc, ref_yuv, dis_yuv, log = (tmp_path / n for n in ("e.mkv", "ref.yuv", "dis.yuv", "log.json"))
        ffmpeg(
            "-i",
            ref_dir / src,
            "-map",
            "0:v:0",
            *keep,
            "-frames:v",
            20,
            *crop,
            "-threads",
            1,
            "-c:v",
            "libx264",
            "-crf",
            30,
            "-preset",
            "medium",
            enc,
        )
        ffmpeg("-i", enc, *keep, "-pix_fmt", "yuv420p", "-f", "rawvideo", dis_yuv)
        ffmpeg("-i", ref_dir / src, *keep, "-frames:v", 20, *crop, "-pix_fmt", "yuv420p", "-f", "rawvideo", ref_yuv)
        raw = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", size]
        ffmpeg(
            *raw,
            "-i",
            dis_yuv,
            *raw,
            "-i",
            ref_yuv,
            "-lavfi",
            f"[0:v][1:v]libvmaf=log_fmt=json:log_path={log}",
            "-f",
            "null",
            "-",
        )
        expected = [f["metrics"]["vmaf"] for f in json.loads(log.read_text())["frames"]]
        ours = [r["vmaf"] for r in rows if r["src"] == src.rsplit(".", 1)[0]]
        assert ours == expected, src


def test_every_row_carries_its_builds_scoring_recipe_and_a_mixed_corpus_does_not_train(make_ref_dir, tmp_path):
    """Two real builds of one clip, one subsampled: each row names its build's recipe (the
    recipe written out by hand here), the ids differ, and their rows together are refused."""
    from vmafkit.media import libvmaf

    ref_dir = make_ref_dir("parkjoy_480x270_50fps_10f.y4m")
    plain = build_corpus(ref_dir, ["libx264"], [30], tmp_path / "plain.jsonl", max_frames=4, progress=False)
    sub = build_corpus(ref_dir, ["libx264"], [40], tmp_path / "sub.jsonl", max_frames=4, progress=False, subsample=2)
    by_hand = {
        "model": "vmaf_v0.6.1", "feature_set": "vmaf-v0.6.1", "metrics": [], "subsample": 2, "depth": "source",
        "scale_filter": None, "hdr_as_sdr": False,
    }  # fmt: skip
    plain_ids = {r["scoring_recipe"] for r in _rows(plain.out)}
    sub_ids = {r["scoring_recipe"] for r in _rows(sub.out)}
    assert plain_ids == {"1dfce7f748d20cc1"} and sub_ids == {libvmaf.recipe_id(by_hand)} != plain_ids
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(plain.out.read_text() + sub.out.read_text())
    with pytest.raises(InputError, match="scored with scoring recipe"):
        load_corpus(mixed)
