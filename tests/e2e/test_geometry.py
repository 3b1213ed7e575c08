"""Scoring the way the field does, end to end on real clips: cross-resolution pairs, odd/even
pairs, raw files of any name and resolution ladders in the corpus.

The Netflix reference values hold no cross-resolution pair, so the oracle is libvmaf's documented
procedure written out by hand below: one ffmpeg command whose filter graph upsamples the distorted
video (`scale=W:H:flags=...`) and feeds libvmaf, run with the same ffmpeg binary; vmafkit must
agree with it to 1e-6 on every frame and feature."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vmafkit.corpus.build import build_corpus
from vmafkit.corpus.schema import CANONICAL6, load_corpus
from vmafkit.media.ffmpeg import find_ffmpeg
from vmafkit.report.rd import curve_points

from ..conftest import media

VMAFKIT = [sys.executable, "-m", "vmafkit.cli"]
FRAMES = 3
KEYS = ("vmaf", *CANONICAL6)


def _ffmpeg(*args) -> None:
    subprocess.run([find_ffmpeg().path, "-y", "-nostdin", "-loglevel", "error", *map(str, args)], check=True)


def _hand_scored(inputs: list, graph: str, log: Path) -> list[dict]:
    """Per-frame {vmaf, adm2, ...} of `graph` (ending in [d][r]) fed to libvmaf, as one ffmpeg command."""
    _ffmpeg(*inputs, "-lavfi", f"{graph};[d][r]libvmaf=log_fmt=json:log_path={log}", "-f", "null", "-")
    frames = json.loads(log.read_text())["frames"]
    return [{"vmaf": f["metrics"]["vmaf"], **{k: f["metrics"][f"integer_{k}"] for k in CANONICAL6}} for f in frames]


def _agree(frames: list[dict], expected: list[dict]) -> None:
    assert len(frames) == len(expected) == FRAMES
    for got, want in zip(frames, expected):
        for key in KEYS:
            assert got[key] == pytest.approx(want[key], abs=1e-6), key


def _score(*args) -> subprocess.CompletedProcess:
    return subprocess.run([*VMAFKIT, "score", *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def seeking_384x288(tmp_path_factory) -> Path:
    """A 384x288 x264 encode of the first frames of the 720x480 Seeking clip: a low ladder rung."""
    out = tmp_path_factory.mktemp("cross") / "seeking_384x288.mp4"
    ref = media("seeking_720x480_150f.mp4")
    _ffmpeg("-i", ref, "-frames:v", FRAMES, "-vf", "scale=384:288", "-c:v", "libx264", "-crf", 30, out)
    return out


@pytest.mark.parametrize("flags", ["bicubic", "lanczos"])
def test_cross_resolution_pair_equals_libvmafs_documented_procedure(seeking_384x288, tmp_path, flags):
    ref = media("seeking_720x480_150f.mp4")
    out = tmp_path / "score.json"
    proc = _score("--ref", ref, "--dis", seeking_384x288, "--scale", flags, "--max-frames", FRAMES, "--json", out)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert {k: data[k] for k in ("width", "height", "scale_filter", "dis_width", "dis_height")} == {
        "width": 720,
        "height": 480,
        "scale_filter": flags,
        "dis_width": 384,
        "dis_height": 288,
    }
    expected = _hand_scored(
        ["-i", seeking_384x288, "-i", ref],
        f"[0:v]scale=720:480:flags={flags},format=yuv420p[d];[1:v]trim=end_frame={FRAMES},format=yuv420p[r]",
        tmp_path / "hand.json",
    )
    _agree(data["frames"], expected)


def test_a_display_resolution_scales_both_sides(seeking_384x288, tmp_path):
    ref = media("seeking_720x480_150f.mp4")
    proc = _score("--ref", ref, "--dis", seeking_384x288, "--resolution", "1280x720", "--max-frames", FRAMES, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["width"], data["height"], data["scale_filter"]) == (1280, 720, "bicubic")
    expected = _hand_scored(
        ["-i", seeking_384x288, "-i", ref],
        "[0:v]scale=1280:720:flags=bicubic,format=yuv420p[d];"
        f"[1:v]trim=end_frame={FRAMES},scale=1280:720:flags=bicubic,format=yuv420p[r]",
        tmp_path / "hand.json",
    )
    _agree(data["frames"], expected)


def test_a_cross_resolution_pair_without_scale_is_one_line_exit_2(seeking_384x288):
    proc = _score("--ref", media("seeking_720x480_150f.mp4"), "--dis", seeking_384x288, "--max-frames", FRAMES)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"vmafkit: error: {seeking_384x288}: size 384x288 differs from the reference's 720x480; pass --scale bicubic "
        "to upscale it to the reference's size (libvmaf's documented procedure) or --resolution WxH to score both "
        "at one size"
    ]


def test_an_odd_source_against_its_even_encode_is_scored_the_corpus_way(tmp_path):
    city = media("cityCC0_720x405_190f.mpg")
    encode = tmp_path / "city_720x404.mp4"  # x264 needs even sizes: the encode is 720x404
    _ffmpeg("-i", city, "-frames:v", FRAMES, "-vf", "crop=720:404:0:0", "-c:v", "libx264", "-crf", 30, encode)
    proc = _score("--ref", city, "--dis", encode, "--max-frames", FRAMES, "--json")
    assert proc.returncode == 0, proc.stderr
    note = (
        "reference 720x405 cropped top-left to 720x404 to match the other side, as the corpus scores an odd-size "
        "source against its encode"
    )
    assert proc.stderr.splitlines() == [f"vmafkit: note: {note}"]
    data = json.loads(proc.stdout)
    assert (data["width"], data["height"], data["notes"]) == (720, 404, [note])
    expected = _hand_scored(
        ["-i", encode, "-i", city],
        f"[0:v]format=yuv420p[d];[1:v]trim=end_frame={FRAMES},crop=720:404:0:0,format=yuv420p[r]",
        tmp_path / "hand.json",
    )
    _agree(data["frames"], expected)


def test_raw_flags_read_files_of_any_name(tmp_path):
    raw = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", "160x90", "-i"]
    ref, dis = tmp_path / "ref.bin", tmp_path / "dis.yuv444p"
    for source, target in ((media("src01_hrc00_160x90_48f.yuv"), ref), (media("src01_hrc01_160x90_48f.yuv"), dis)):
        _ffmpeg(
            *raw, source, "-frames:v", FRAMES, "-vf", "scale=481:321", "-pix_fmt", "yuv444p", "-f", "rawvideo", target
        )
    geometry = ["--width", 481, "--height", 321, "--pix-fmt", "yuv444p"]
    proc = _score("--ref", ref, "--dis", dis, *geometry, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["width"], data["height"], data["pix_fmt"]) == (481, 321, "yuv444p")
    spec = ["-f", "rawvideo", "-pix_fmt", "yuv444p", "-s", "481x321", "-framerate", 25, "-i"]
    expected = _hand_scored([*spec, dis, *spec, ref], "[0:v]null[d];[1:v]null[r]", tmp_path / "hand.json")
    _agree(data["frames"], expected)

    proc = _score("--ref", ref, "--dis", dis, "--width", 481, "--height", 321)  # --pix-fmt forgotten
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"vmafkit: error: {ref}: size {3 * 481 * 321 * 3} bytes is 3 frames of yuv444p at 481x321 (or 9 frames of "
        f"gray) but not a whole number of yuv420p frames ({481 * 321 + 2 * 241 * 161} bytes each): "
        "pass --pix-fmt yuv444p?"
    ]


def test_a_resolution_ladder_corpus_scores_each_rung_upscaled_to_its_source(make_ref_dir, tmp_path):
    ref_dir = make_ref_dir("src01_hrc00_160x90_48f.yuv")
    out = tmp_path / "c.jsonl"
    args = ["--ref-dir", ref_dir, "--cqs", 30, "--resolutions", "1080,90,48", "--max-frames", FRAMES, "--out", out]
    proc = subprocess.run([*VMAFKIT, "corpus", *map(str, args), "--no-progress"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    native = [r for r in rows if r["height"] == 90]
    rung = [r for r in rows if r["height"] == 48]
    assert len(native) == len(rung) == FRAMES and len(rows) == 2 * FRAMES  # 1080 and 90 are both the source's size
    assert not {"scored_width", "scored_height", "scale_filter"} & set(native[0])
    assert {(r["width"], r["height"], r["scored_width"], r["scored_height"], r["scale_filter"]) for r in rung} == {
        (86, 48, 160, 90, "bicubic")
    }

    # The oracle: the rung encoded and scored by hand, with the argv libvmaf's procedure calls for.
    raw = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", "160x90", "-framerate", 25]
    source, encode = media("src01_hrc00_160x90_48f.yuv"), tmp_path / "rung.mkv"
    codec = ["-threads", 1, "-c:v", "libx264", "-crf", 30, "-preset", "medium"]
    _ffmpeg(
        *raw,
        "-i",
        source,
        "-fps_mode",
        "passthrough",
        "-frames:v",
        FRAMES,
        "-vf",
        "scale=86:48:flags=bicubic",
        *codec,
        encode,
    )
    expected = _hand_scored(
        ["-i", encode, *raw, "-i", source],
        f"[0:v]scale=160:90:flags=bicubic,format=yuv420p[d];[1:v]trim=end_frame={FRAMES},format=yuv420p[r]",
        tmp_path / "hand.json",
    )
    _agree(sorted(rung, key=lambda r: r["frame_index"]), expected)
    assert sum(r["vmaf"] for r in rung) < sum(r["vmaf"] for r in native)

    # The rate-distortion analysis sees two rungs of one curve; the corpus loads and records its rungs.
    (points,) = curve_points(rows).values()
    assert sorted(p.rung for p in points) == ["160x90", "86x48"]
    assert load_corpus(out).meta["rungs"] == ["native", "48p"]

    # Another scale filter is another rung cell; the native cell resizes nothing and stays cached.
    again = build_corpus(
        ref_dir, ["libx264"], [30], out, max_frames=FRAMES, progress=False, resolutions=[90, 48], scale="lanczos"
    )
    assert (again.cells_cached, again.cells_run) == (1, 1)
    lanczos = [json.loads(line) for line in out.read_text().splitlines() if '"height": 48' in line]
    assert {r["scale_filter"] for r in lanczos} == {"lanczos"}


def test_a_corpus_scored_at_a_display_resolution_records_it(make_ref_dir, tmp_path):
    ref_dir = make_ref_dir("src01_hrc00_160x90_48f.yuv")
    out = tmp_path / "c.jsonl"
    build_corpus(ref_dir, ["libx264"], [30], out, max_frames=FRAMES, progress=False, resolution=(320, 180))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {(r["width"], r["height"], r["scored_width"], r["scored_height"], r["scale_filter"]) for r in rows} == {
        (160, 90, 320, 180, "bicubic")
    }
    raw = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", "160x90", "-framerate", 25]
    source, encode = media("src01_hrc00_160x90_48f.yuv"), tmp_path / "e.mkv"
    codec = ["-threads", 1, "-c:v", "libx264", "-crf", 30, "-preset", "medium"]
    _ffmpeg(*raw, "-i", source, "-fps_mode", "passthrough", "-frames:v", FRAMES, *codec, encode)
    up = "scale=320:180:flags=bicubic,format=yuv420p"
    expected = _hand_scored(
        ["-i", encode, *raw, "-i", source], f"[0:v]{up}[d];[1:v]trim=end_frame={FRAMES},{up}[r]", tmp_path / "h.json"
    )
    _agree(sorted(rows, key=lambda r: r["frame_index"]), expected)
    assert load_corpus(out).meta["rungs"] == ["90p"]


def test_predict_refuses_an_upscaled_pair_for_an_ensemble_trained_without_rungs(seeking_384x288, tmp_path):
    from tests.factories import export_models

    models, _, _ = export_models(tmp_path, seeds=(0, 1))
    ref = media("seeking_720x480_150f.mp4")
    args = ["predict", "--models", models, "--ref", ref, "--dis", seeking_384x288, "--max-frames", FRAMES]
    args += ["--scale", "bicubic"]
    proc = subprocess.run(
        [*VMAFKIT, *map(str, args), "--allow-out-of-domain", "--json"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    frames = json.loads(proc.stdout)["frames"]
    assert len(frames) == FRAMES and not any(f["in_domain"] for f in frames)
    assert all(
        "rung 288p (its encode scaled up to be scored) was not trained (trained rungs: native)" in f["out_of_domain"]
        for f in frames
    )
    refused = subprocess.run([*VMAFKIT, *map(str, args)], capture_output=True, text=True)
    assert refused.returncode == 2 and "rung 288p" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
