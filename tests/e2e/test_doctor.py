"""`vmafkit doctor` probes real encoders with a 1-frame trial encode."""

from __future__ import annotations

import json
import subprocess
import sys

VMAFKIT = [sys.executable, "-m", "vmafkit.cli"]


def test_cpu_encoders_need_no_gpu():
    proc = subprocess.run(
        [*VMAFKIT, "doctor", "--encoders", "libx264,libx265", "--json"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["ffmpeg"]["has_libvmaf"] and report["ffmpeg"]["libvmaf_version"]
    assert report["encoders"]["libx264"]["ok"] and report["ok"]
    assert report["problems"] == []


def test_a_failing_encoder_gives_one_hint_and_exit_2():
    proc = subprocess.run(
        [*VMAFKIT, "prereqs", "--encoders", "libx264,h264_nvenc", "--json"], capture_output=True, text=True
    )
    report = json.loads(proc.stdout)
    if report["encoders"]["h264_nvenc"]["ok"]:  # a host with a working NVIDIA GPU
        assert proc.returncode == 0
        return
    assert proc.returncode == 2
    hints = [line for line in proc.stderr.splitlines() if line.startswith("vmafkit: missing:")]
    assert len(hints) == 1 and "h264_nvenc" in hints[0]


def test_explicit_ffmpeg_without_libvmaf_is_refused(tmp_path):
    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\necho 'ffmpeg version 5.1-debian'\n")
    fake.chmod(0o755)
    proc = subprocess.run(
        [*VMAFKIT, "score", "--ffmpeg", str(fake), "--ref", "a.y4m", "--dis", "b.y4m"], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "no libvmaf" in proc.stderr
