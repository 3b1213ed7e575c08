"""A training worker that dies is one `vmafkit: error:` line and exit 2, never a traceback.

Real processes: `vmafkit train --workers 2` forks a shard process (Linux); the test finds it in
/proc and SIGKILLs it, as the kernel's OOM killer would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.factories import TRAINER_SHAPE, synthetic_rows, write_corpus

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="shards are forked processes on Linux")

EPOCHS = "800"  # a few seconds per shard: long enough to find the child before it finishes
WAIT_S = 120


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process is gone
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])  # field 4, after the (comm) that may hold spaces
        if parent == pid:
            found.append(int(entry.name))
    return found


def test_a_killed_training_worker_is_one_error_line_and_exit_2(tmp_path):
    corpus = write_corpus(tmp_path / "c.jsonl", synthetic_rows(**TRAINER_SHAPE))
    out = tmp_path / "loso"
    argv = [sys.executable, "-m", "vmafkit.cli", "train", "--corpus", str(corpus), "--out", str(out)]
    argv += ["--seeds", "0", "--epochs", EPOCHS, "--device", "cpu", "--workers", "2", "--no-progress"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + WAIT_S
        children: list[int] = []
        while not children and proc.poll() is None and time.monotonic() < deadline:
            children = _children(proc.pid)
            time.sleep(0.02)
        assert children, "the training shard process never started"
        os.kill(children[0], signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 2, stderr
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"vmafkit: error: training worker (pid {children[0]}, "), stderr
    assert lines[0].endswith("failed: the process was killed by SIGKILL"), stderr
    assert not list(out.glob("loso_seed*")) and stdout == ""
