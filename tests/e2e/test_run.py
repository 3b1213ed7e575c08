"""`vmafkit run` end to end on real clips, and the demo, with tiny settings (issue 5)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vmafkit.io import exclusive_lock

VMAFKIT = [sys.executable, "-m", "vmafkit.cli"]
CLIPS = ("carphone_176x144_120f.mp4", "src01_hrc00_160x90_48f.yuv", "bikes_640x272_250f.mp4",
         "seeking_720x480_150f.mp4")
TINY = ["--encoders", "libx264", "--cqs", "22,38", "--seeds", "0,1", "--epochs", "3", "--max-frames", "15", "--quiet"]


def vmafkit(*args, timeout=600):
    return subprocess.run([*VMAFKIT, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def _verdict_file(out):
    found = sorted(out.rglob("PROMOTE.json")) + sorted(out.rglob("HOLD.json"))
    assert len(found) == 1, found
    return found[0]


@pytest.mark.slow
def test_run_on_real_clips_then_resume(make_ref_dir, tmp_path):
    ref_dir = make_ref_dir(*CLIPS)
    out = tmp_path / "run"
    proc = vmafkit("run", "--ref-dir", ref_dir, "--out-dir", out, *TINY)
    assert proc.returncode in (0, 1), proc.stderr
    verdict_path = _verdict_file(out)
    verdict = json.loads(verdict_path.read_text())
    assert verdict["verdict"] == ("PROMOTE" if proc.returncode == 0 else "HOLD")
    assert verdict["seeds"] == [0, 1]
    assert verdict["corpus"]["rows"] == 4 * 2 * 15
    assert (out / "models").exists() == (proc.returncode == 0)
    assert (out / "report.html").stat().st_size > 10_000
    bundle = out / "results.tar.gz"
    assert vmafkit("verify", bundle).returncode == 0

    again = vmafkit("run", "--ref-dir", ref_dir, "--out-dir", out, *TINY)
    assert again.returncode == proc.returncode
    assert "corpus skipped" in again.stdout and "train skipped" in again.stdout
    assert json.loads(_verdict_file(out).read_text()) == verdict  # untouched by the resumed run

    changed = vmafkit("run", "--ref-dir", ref_dir, "--out-dir", out, *TINY[:4], "--seeds", "0", *TINY[6:])
    assert changed.returncode in (0, 1), changed.stderr
    assert "corpus skipped" in changed.stdout and "train ran" in changed.stdout
    assert json.loads(_verdict_file(out).read_text())["seeds"] == [0]


@pytest.mark.slow
def test_demo_with_tiny_settings(tmp_path):
    out = tmp_path / "demo"
    proc = vmafkit("run", "--demo", "--out-dir", out, "--cqs", "20,40", "--seeds", "0", "--epochs", "2",
                   "--max-frames", "6", "--quiet")
    assert proc.returncode in (0, 1), proc.stderr
    assert "SYNTHETIC" in proc.stderr
    corpus = (out / "corpus" / "per_frame_canonical6.jsonl").read_text().splitlines()
    assert len({json.loads(line)["src"] for line in corpus}) == 9
    assert vmafkit("verify", out / "results.tar.gz").returncode == 0


def test_bad_run_inputs_exit_2(make_ref_dir, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = vmafkit("run", "--ref-dir", empty, "--out-dir", tmp_path / "o1", *TINY)
    assert proc.returncode == 2 and "no media files" in proc.stderr

    one = make_ref_dir("carphone_176x144_120f.mp4", folder="one")
    proc = vmafkit("run", "--ref-dir", one, "--out-dir", tmp_path / "o2", *TINY)
    assert proc.returncode == 2 and "at least 2 source" in proc.stderr

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    two = make_ref_dir(*CLIPS[:2], folder="two")
    proc = vmafkit("run", "--ref-dir", two, "--out-dir", foreign, *TINY)
    assert proc.returncode == 2 and "not a vmafkit run" in proc.stderr
    assert (foreign / "thesis.tex").read_text() == "precious"

    busy = tmp_path / "busy"
    with exclusive_lock(busy):
        proc = vmafkit("run", "--ref-dir", two, "--out-dir", busy, *TINY)
    assert proc.returncode == 2 and "in use" in proc.stderr
    for result in (proc,):
        assert len(result.stderr.strip().splitlines()) == 1
