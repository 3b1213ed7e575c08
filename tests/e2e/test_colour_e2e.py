"""Colour honesty on real clips (issue 22, item 6): clips encoded here with real HDR tags (x265's
PQ and HLG), a full-range tag on limited-range values (the h264_metadata bitstream filter changes
the tag alone), and a matrix tag; what `vmafkit score` and `vmafkit corpus` do with them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vmafkit.media.ffmpeg import find_ffmpeg

from ..conftest import media

VMAFKIT = [sys.executable, "-m", "vmafkit.cli"]
REF = "bikes_640x272_250f.mp4"
FRAMES = 4


def _ffmpeg(*args) -> None:
    subprocess.run([find_ffmpeg().path, "-nostdin", "-loglevel", "error", "-y", *map(str, args)], check=True)


def _vmafkit(*args):
    return subprocess.run([*VMAFKIT, *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("colour")
    ref = media(REF)
    out = {}
    for name, transfer in (("pq", "smpte2084"), ("hlg", "arib-std-b67")):
        out[name] = tmp / f"{name}.mp4"
        params = f"colorprim=bt2020:transfer={transfer}:colormatrix=bt2020nc:log-level=error"
        _ffmpeg("-i", ref, "-frames:v", FRAMES, "-c:v", "libx265", "-pix_fmt", "yuv420p10le", "-x265-params", params,
                out[name])  # fmt: skip
    out["limited"] = tmp / "limited.mp4"
    _ffmpeg("-i", ref, "-frames:v", FRAMES, "-c:v", "libx264", "-qp", "0", out["limited"])
    out["tagged_full"] = tmp / "tagged_full.mp4"  # the same code values, tagged full range
    _ffmpeg("-i", out["limited"], "-c", "copy", "-bsf:v", "h264_metadata=video_full_range_flag=1", out["tagged_full"])
    out["bt709"] = tmp / "bt709.mp4"
    _ffmpeg("-i", ref, "-frames:v", FRAMES, "-c:v", "libx264", "-crf", "20", "-x264-params",
            "colorprim=bt709:transfer=bt709:colormatrix=bt709", out["bt709"])  # fmt: skip
    out["bt601"] = tmp / "bt601.mp4"
    _ffmpeg("-i", ref, "-frames:v", FRAMES, "-c:v", "libx264", "-crf", "30", "-x264-params",
            "colorprim=bt470bg:transfer=bt709:colormatrix=bt470bg", out["bt601"])  # fmt: skip
    return out


@pytest.mark.parametrize("name, said", [("pq", "PQ (SMPTE ST 2084)"), ("hlg", "HLG (ARIB STD-B67)")])
def test_an_hdr_clip_is_refused_in_one_line_naming_its_transfer(clips, name, said):
    proc = _vmafkit("score", "--ref", clips[name], "--dis", clips[name], "--max-frames", 2)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert f"is tagged {said} (HDR), and vmaf_v0.6.1 is an SDR model" in line and "--hdr-as-sdr" in line


def test_hdr_as_sdr_scores_it_and_says_so_in_the_output(clips, tmp_path):
    out = tmp_path / "s.json"
    proc = _vmafkit(
        "score", "--ref", clips["pq"], "--dis", clips["pq"], "--max-frames", 2, "--hdr-as-sdr", "--json", out
    )
    assert proc.returncode == 0, proc.stderr
    scored = json.loads(out.read_text())
    assert scored["hdr_as_sdr"] is True
    assert scored["colour"]["dis"] == {
        "range": "tv",
        "matrix": "bt2020nc",
        "primaries": "bt2020",
        "transfer": "smpte2084",
    }


def test_a_corpus_of_an_hdr_reference_is_refused_before_any_encode(clips, tmp_path):
    refs = tmp_path / "refs"
    refs.mkdir()
    (refs / "pq.mp4").symlink_to(clips["pq"])
    proc = _vmafkit("corpus", "--ref-dir", refs, "--out", tmp_path / "c.jsonl", "--cqs", 30, "--max-frames", 2)
    assert proc.returncode == 2 and "PQ (SMPTE ST 2084)" in proc.stderr
    assert not (tmp_path / "c.jsonl").exists() and not (tmp_path / ".vmafkit-cache" / "cells").exists()


def test_a_full_range_tag_on_limited_values_is_named_and_costs_what_the_note_says(clips, tmp_path):
    """The tag alone differs: ffmpeg converts the 'full range' side, and VMAF falls from ~99 (the
    lossless encode) to far lower; the note says why. The correctly tagged pair says nothing."""
    honest, mistagged = tmp_path / "honest.json", tmp_path / "mistagged.json"
    good = _vmafkit("score", "--ref", media(REF), "--dis", clips["limited"], "--max-frames", FRAMES, "--json", honest)
    bad = _vmafkit(
        "score", "--ref", media(REF), "--dis", clips["tagged_full"], "--max-frames", FRAMES, "--json", mistagged
    )
    assert good.returncode == bad.returncode == 0
    assert "note" not in good.stderr
    (note,) = [line for line in bad.stderr.splitlines() if line.startswith("vmafkit: note:")]
    assert (
        "the reference is limited range (tv; untagged, ffmpeg assumes it) and the distorted clip full range (pc)"
        in note
    )
    good_vmaf = json.loads(honest.read_text())["mean"]["vmaf"]
    bad_vmaf = json.loads(mistagged.read_text())["mean"]["vmaf"]
    assert good_vmaf > 99 and bad_vmaf < good_vmaf - 10


def test_a_matrix_that_differs_is_named(clips):
    proc = _vmafkit("score", "--ref", clips["bt709"], "--dis", clips["bt601"], "--max-frames", FRAMES)
    assert proc.returncode == 0, proc.stderr
    notes = [line for line in proc.stderr.splitlines() if line.startswith("vmafkit: note:")]
    assert notes == [
        "vmafkit: note: the reference's colour matrix is bt709 and the distorted clip's bt470bg: libvmaf compares "
        "the code values, so a picture converted with the wrong matrix scores as a distortion"
    ]
