"""Without ../shared/data the real-media tests FAIL, naming what is missing, unless the opt-out
VMAFKIT_ALLOW_MISSING_MEDIA=1 turns them into skips. The oracle is pytest's own outcome for two
real e2e tests (one needs a clip, one the reference values) run with VMAFKIT_SHARED pointing at
an empty folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

NEEDS_SHARED_DATA = [
    "tests/e2e/test_score.py::test_reproduces_published_values",
    "tests/e2e/test_score.py::test_ten_bit_raw_and_odd_sized_container_score",
]
REPO = Path(__file__).resolve().parents[3]


def _pytest(shared: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "VMAFKIT_ALLOW_MISSING_MEDIA"}
    environ.update(VMAFKIT_SHARED=str(shared), **env)
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfEs", *NEEDS_SHARED_DATA]
    return subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env=environ, timeout=120)


def test_missing_shared_data_fails_unless_opted_out(tmp_path):
    proc = _pytest(tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 failed, 1 error" in proc.stdout  # the reference values are a fixture: its failure is an error
    assert f"test media folder {tmp_path / 'data' / 'media'} is missing" in proc.stdout
    assert f"published reference values file {tmp_path / 'data' / 'reference'}" in proc.stdout
    assert "VMAFKIT_ALLOW_MISSING_MEDIA=1" in proc.stdout

    opted_out = _pytest(tmp_path, VMAFKIT_ALLOW_MISSING_MEDIA="1")
    assert opted_out.returncode == 0, opted_out.stdout + opted_out.stderr
    assert "2 skipped" in opted_out.stdout and "failed" not in opted_out.stdout
