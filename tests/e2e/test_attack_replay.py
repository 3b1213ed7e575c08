"""CI runs issue 12's attack list (tools/replay_attacks.py) against the real CLI: every case must
exit 2 with exactly one `vmafkit: error:` line, no traceback, within its time and memory limits."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tools" / "replay_attacks.py"


def test_replay_script_lists_the_issue_cases(tmp_path):
    out = subprocess.run([sys.executable, str(SCRIPT), "--list"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    names = out.stdout.splitlines()
    for expected in (
        "/dev/zero as --corpus",
        "FIFO as --corpus",
        "100,000-deep JSON",
        "corpus --cqs 19,,25",
        "16x16 clip",
        "--vmaf-bin /bin/true",
        "disk full: registry flip",
        "score --json DIS",
        "rd CORPUS --json CORPUS",
        "corpus --out a reference clip",
        'corpus --presets "" over a corpus',
    ):
        assert expected in names


@pytest.mark.slow
def test_every_attack_is_one_line_exit_2(tmp_path):
    report = tmp_path / "attacks.json"
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--json", str(report)], capture_output=True, text=True, timeout=1800
    )
    results = json.loads(report.read_text()) if report.exists() else []
    failed = [f"{r['case']}: {'; '.join(r['problems'])} | {r['error_line'][:200]}" for r in results if not r["ok"]]
    assert out.returncode == 0 and results and not failed, "\n".join(failed) or out.stdout[-3000:] + out.stderr[-3000:]
