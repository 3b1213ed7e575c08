"""Bad and unusual media (issue 7): clear one-line errors, or correct handling."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vmafkit.corpus.build import build_corpus
from vmafkit.errors import InputError
from vmafkit.media.ffmpeg import find_ffmpeg
from vmafkit.media.sources import describe_source

VMAFKIT = [sys.executable, "-m", "vmafkit.cli"]


def ffmpeg(*args: str) -> None:
    subprocess.run([find_ffmpeg().path, "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def test_444_and_422_sources_keep_their_format(tmp_path):
    refs = tmp_path / "refs"
    refs.mkdir()
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=160x96:r=25",
        "-frames:v",
        "3",
        "-pix_fmt",
        "yuv444p",
        str(refs / "chart444.y4m"),
    )
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "mandelbrot=s=160x96:r=25",
        "-frames:v",
        "3",
        "-pix_fmt",
        "yuv422p",
        str(refs / "fractal422.y4m"),
    )
    out = tmp_path / "c.jsonl"
    build_corpus(refs, ["libx264"], [30], out, progress=False)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert {(r["src"], r["pix_fmt"]) for r in rows} == {("chart444", "yuv444p"), ("fractal422", "yuv422p")}
    assert all(50 < r["vmaf"] <= 100 for r in rows)


def test_zero_frame_y4m_and_audio_only_file(tmp_path):
    empty = tmp_path / "empty.y4m"
    empty.write_bytes(b"YUV4MPEG2 W64 H64 F25:1 Ip A1:1 C420jpeg\n")
    with pytest.raises(InputError, match="no frames"):
        describe_source(empty)
    audio = tmp_path / "audio_only.mkv"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=0.2", str(audio))
    with pytest.raises(InputError, match="no decodable video stream"):
        describe_source(audio)


def test_truncated_raw_via_cli_names_file(tmp_path):
    from ..conftest import media

    cut = tmp_path / "cut_640x360.yuv"
    cut.write_bytes(media("bluesky_640x360_3f.yuv").read_bytes()[:-1000])
    refs = tmp_path / "refs"
    refs.mkdir()
    (refs / cut.name).symlink_to(cut)
    proc = subprocess.run(
        [*VMAFKIT, "corpus", "--ref-dir", str(refs), "--out", str(tmp_path / "c.jsonl"), "--no-progress"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "cut_640x360.yuv" in proc.stderr and "whole number" in proc.stderr
