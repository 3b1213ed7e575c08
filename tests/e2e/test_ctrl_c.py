"""Issue 20: Ctrl-C pressed again while vmafkit winds down is quiet. A real `vmafkit run --demo`
gets SIGINT on its process group (as a terminal sends it) during the corpus step, then three more
20 ms apart: one line, exit 130, no traceback from the interpreter's shutdown (before the fix, the
second one interrupted the join of the worker threads and printed "Exception ignored in: <module
'threading'>" with a traceback)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time


def test_repeated_ctrl_c_is_one_line_and_exit_130(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "vmafkit", "run", "--demo", "--out", str(tmp_path / "run"), "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    # wait until the corpus step runs (its worker threads are what the second Ctrl-C used to hit)
    while not (tmp_path / "run" / "corpus").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.5)
    for _ in range(4):
        try:
            os.killpg(proc.pid, signal.SIGINT)
        except ProcessLookupError:
            break
        time.sleep(0.02)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "Exception ignored" not in err, err[-2000:]
    assert err.strip().splitlines()[-1] == (
        "vmafkit: interrupted; finished work is kept, re-run the same command to resume"
    )
