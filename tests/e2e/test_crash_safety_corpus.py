"""kill -9 during `vmafkit corpus` loses nothing finished; a second run at once is refused (issue 7)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from vmafkit.corpus.build import build_corpus
from vmafkit.corpus.schema import TIMING_KEYS
from vmafkit.io import exclusive_lock

VMAFKIT = [sys.executable, "-m", "vmafkit.cli"]
CLIPS = ("bikes_640x272_250f.mp4", "box_640x480_456f.mp4", "cup_640x480_217f.mp4")


def _rows(path):
    return [
        {k: v for k, v in json.loads(line).items() if k not in TIMING_KEYS} for line in path.read_text().splitlines()
    ]


@pytest.mark.slow
def test_sigkill_mid_corpus_then_resume(make_ref_dir, tmp_path):
    ref_dir = make_ref_dir(*CLIPS)
    out = tmp_path / "run" / "c.jsonl"
    out.parent.mkdir()
    out.write_text("old complete corpus\n")
    cache = out.parent / ".vmafkit-cache" / "cells"
    argv = [
        *VMAFKIT,
        "corpus",
        "--ref-dir",
        str(ref_dir),
        "--encoders",
        "libx264",
        "--cqs",
        "20,26,32,38,44",
        "--out",
        str(out),
        "--max-frames",
        "12",
        "--jobs",
        "1",
        "--no-progress",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and len(list(cache.glob("*.jsonl"))) < 2 and proc.poll() is None:
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its ffmpeg children, mid-cell
        proc.wait(timeout=30)
    finished = sorted(cache.glob("*.jsonl"))
    assert 2 <= len(finished) < 15, "kill landed too late to test anything"
    for cell in finished:  # every stored cell is complete: 12 parseable rows
        assert len([json.loads(line) for line in cell.read_text().splitlines()]) == 12
    assert out.read_text() == "old complete corpus\n"  # the old output is untouched

    before = {p.name: p.stat().st_mtime_ns for p in finished}
    result = build_corpus(ref_dir, ["libx264"], [20, 26, 32, 38, 44], out, max_frames=12, progress=False)
    assert result.cells_cached >= len(finished) and result.n_rows == 3 * 5 * 12
    assert all((cache / name).stat().st_mtime_ns == mtime for name, mtime in before.items())  # not recomputed

    clean = tmp_path / "clean" / "c.jsonl"
    clean.parent.mkdir()
    build_corpus(ref_dir, ["libx264"], [20, 26, 32, 38, 44], clean, max_frames=12, progress=False)
    assert _rows(out) == _rows(clean)


def test_second_corpus_run_on_same_output_is_refused(make_ref_dir, tmp_path):
    ref_dir = make_ref_dir("bluesky_640x360_3f.yuv")
    out = tmp_path / "c.jsonl"
    with exclusive_lock(tmp_path / ".vmafkit-cache", name=".c.jsonl.lock"):
        proc = subprocess.run(
            [*VMAFKIT, "corpus", "--ref-dir", str(ref_dir), "--out", str(out), "--no-progress"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 2 and "in use" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not out.exists()
