"""kill -9 of a real `vmafkit` process during train, verdict, export and registry flip (issue 7).

After every kill, each output is either absent, the old complete file, or the new complete file
(the bytes a clean run writes); never a torn file. Kill points sweep the run's lifetime, so some
land mid-computation and some mid-write. A re-run then finishes and writes the clean run's bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vmafkit.io import dumps_json

from ..factories import TRAINER_SHAPE, export_models, make_corpus

VMAFKIT = [sys.executable, "-m", "vmafkit.cli"]
pytestmark = pytest.mark.slow


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def run_and_kill(argv: list[str], delay: float) -> bool:
    """Start argv in its own process group, SIGKILL the group after `delay` s; True if it was killed."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        return True


def assert_old_or_new(folder: Path, old: dict[str, bytes], new: dict[str, bytes], *, volatile=()) -> None:
    for name, data in snapshot(folder).items():
        if any(name.endswith(v) for v in volatile):
            # complete JSON (a JSON-lines file: every line whole); content varies by run (timings, timestamps)
            for line in data.decode().splitlines() if name.endswith(".jsonl") else [data]:
                json.loads(line)
            continue
        assert data in (old.get(name), new.get(name)), f"{name} is neither the old nor the new complete file"


def sweep(argv, folder, old, new, delays, *, volatile=(), reset=None) -> int:
    killed = 0
    for delay in delays:
        if reset:
            reset()
        killed += run_and_kill(argv, delay)
        assert_old_or_new(folder, old, new, volatile=volatile)
    return killed


def test_kill_during_train(tmp_path):
    corpus = make_corpus(tmp_path / "c.jsonl", **{**TRAINER_SHAPE, "frames": 30})
    out = tmp_path / "loso"

    def train(folder: Path, epochs: int) -> list[str]:
        return [
            *VMAFKIT,
            "train",
            "--corpus",
            str(corpus),
            "--seeds",
            "0,1",
            "--out",
            str(folder),
            "--epochs",
            str(epochs),
            "--no-progress",
        ]

    argv = train(out, 12)
    assert subprocess.run(train(out, 6), capture_output=True).returncode == 0  # an earlier complete run
    old = snapshot(out)
    clean = tmp_path / "clean"
    assert subprocess.run(train(clean, 12), capture_output=True).returncode == 0
    new = {k: v.replace(str(clean).encode(), str(out).encode()) for k, v in snapshot(clean).items()}
    started = time.monotonic()
    killed = sweep(argv, out, old, new, [0.3, 0.8, 1.5, 2.5], volatile=(".timing.json",))
    assert killed >= 2 and time.monotonic() - started < 300
    assert subprocess.run(argv, capture_output=True).returncode == 0
    final = snapshot(out)
    assert {k: v for k, v in final.items() if not k.endswith(".timing.json")} == {
        k: v for k, v in new.items() if not k.endswith(".timing.json")
    }


def test_kill_during_verdict_and_export_and_flip(tmp_path):
    (tmp_path / "ref").mkdir()
    models, verdict_path, corpus = export_models(tmp_path / "ref")
    loso = verdict_path.parent
    # verdict: any kill leaves a complete, valid verdict file (its timestamp differs per run)
    verdict_argv = [*VMAFKIT, "verdict", str(loso), "--seeds", "0,1,2"]
    sweep(verdict_argv, loso, snapshot(loso), {}, [0.2, 0.5, 0.9, 1.4], volatile=("PROMOTE.json", "HOLD.json"))
    assert sorted(p.name for p in loso.glob("*.json") if p.name in ("PROMOTE.json", "HOLD.json")) == ["PROMOTE.json"]
    assert subprocess.run(verdict_argv, capture_output=True).returncode == 0

    # export into a folder that holds an older complete export of the same verdict
    out = tmp_path / "models"
    export_argv = [
        *VMAFKIT,
        "export",
        "--corpus",
        str(corpus),
        "--verdict",
        str(loso / "PROMOTE.json"),
        "--out",
        str(out),
    ]
    clean = tmp_path / "models-clean"
    assert subprocess.run([*export_argv[:-1], str(clean)], capture_output=True).returncode == 0
    new = {k: v.replace(str(clean).encode(), str(out).encode()) for k, v in snapshot(clean).items()}
    # the registry pins each sidecar's bytes, and a sidecar names its own out-dir
    registry_rows = json.loads(new["registry.json"])
    for row in registry_rows["models"]:
        row["sidecar_sha256"] = hashlib.sha256(new[row["sidecar"]]).hexdigest()
    new["registry.json"] = dumps_json(registry_rows).encode()
    shutil.copytree(models, out)
    old = snapshot(out)
    # the history entry export adds carries its own time and what the registry held before
    killed = sweep(export_argv, out, old, new, [0.4, 0.9, 1.5, 2.2, 3.0], volatile=("registry_history.jsonl",))
    assert killed >= 1
    assert subprocess.run(export_argv, capture_output=True).returncode == 0

    final = snapshot(out)
    history = [json.loads(line) for line in final.pop("registry_history.jsonl").decode().splitlines()]
    expected = dict(new)
    (registered,) = [json.loads(line)["ids"] for line in expected.pop("registry_history.jsonl").decode().splitlines()]
    assert final == expected
    # the older export's entry, any a killed export completed, and the last export's: all whole registers
    assert len(history) >= 2 and all((h["action"], h["ids"]) == ("register", registered) for h in history)

    # registry flip: the registry is the old or the flipped file, and history lines are whole
    registry = out / "registry.json"
    flip_argv = [*VMAFKIT, "registry", "flip", "--registry", str(registry), "--verdict", str(loso / "PROMOTE.json")]
    before = registry.read_bytes()
    for delay in (0.05, 0.15, 0.3, 0.5, 0.8):
        registry.write_bytes(before)
        run_and_kill(flip_argv, delay)
        data = json.loads(registry.read_text())
        smokes = {row["smoke"] for row in data["models"]}
        assert registry.read_bytes() == before or smokes == {False}
        history = out / "registry_history.jsonl"
        if history.exists():
            for line in history.read_text().splitlines():
                json.loads(line)
    registry.write_bytes(before)
    assert subprocess.run(flip_argv, capture_output=True).returncode == 0
    assert {row["smoke"] for row in json.loads(registry.read_text())["models"]} == {False}


def test_kill_run_during_train_then_resume_skips_the_corpus(make_ref_dir, tmp_path):
    ref_dir = make_ref_dir("carphone_176x144_120f.mp4", "src01_hrc00_160x90_48f.yuv", "bikes_640x272_250f.mp4")
    out = tmp_path / "run"
    argv = [
        *VMAFKIT,
        "run",
        "--ref-dir",
        str(ref_dir),
        "--out",
        str(out),
        "--encoders",
        "libx264",
        "--cqs",
        "22,38",
        "--seeds",
        "0,1",
        "--epochs",
        "300",
        "--max-frames",
        "20",
        "--no-progress",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 180
    state = out / "pipeline.json"
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if state.exists() and "corpus" in json.loads(state.read_text())["steps"]:
                time.sleep(0.5)  # now inside the train step
                break
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    recorded = json.loads(state.read_text())["steps"]
    assert "corpus" in recorded and "train" not in recorded, "the kill did not land in the train step"
    corpus_bytes = (out / "corpus" / "per_frame_canonical6.jsonl").read_bytes()
    again = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert again.returncode in (0, 1), again.stderr
    assert "corpus skipped" in again.stdout and "train ran" in again.stdout
    assert (out / "corpus" / "per_frame_canonical6.jsonl").read_bytes() == corpus_bytes
