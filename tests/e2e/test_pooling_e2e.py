"""`score --pool` on a real clip: the harmonic mean and the minimum equal the pooled values libvmaf
itself reports (its log's `pooled_metrics`, from a hand-written ffmpeg command), the mean equals
libvmaf's mean, and a percentile equals its formula applied by hand to libvmaf's frames."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from vmafkit.media.ffmpeg import find_ffmpeg

from ..conftest import media

VMAFKIT = [sys.executable, "-m", "vmafkit.cli"]
REF = "bikes_640x272_250f.mp4"
FRAMES = 24


def _percentile_by_hand(values: list[float], n: int) -> float:
    ordered = sorted(values)
    h = (len(ordered) - 1) * n / 100
    low = math.floor(h)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (h - low) * (ordered[high] - ordered[low])


def test_pools_equal_libvmafs_own_pooled_values(tmp_path):
    ff = find_ffmpeg().path
    dis = tmp_path / "dis.mp4"
    subprocess.run(
        [ff, "-nostdin", "-loglevel", "error", "-i", str(media(REF)), "-frames:v", str(FRAMES), "-c:v", "libx264",
         "-crf", "40", "-preset", "veryfast", str(dis)],
        check=True,
    )  # fmt: skip
    log = tmp_path / "oracle.json"
    graph = f"[0:v][1:v]libvmaf=model=version=vmaf_v0.6.1:log_fmt=json:log_path={log}:shortest=1"
    subprocess.run(
        [ff, "-nostdin", "-loglevel", "error", "-i", str(dis), "-i", str(media(REF)), "-lavfi", graph, "-f", "null", "-"],
        check=True,
    )  # fmt: skip
    oracle = json.loads(log.read_text())
    libvmaf_pooled = oracle["pooled_metrics"]["vmaf"]
    frames = [f["metrics"]["vmaf"] for f in oracle["frames"]]
    assert len(frames) == FRAMES

    out = tmp_path / "score.json"
    proc = subprocess.run(
        [*VMAFKIT, "score", "--ref", str(media(REF)), "--dis", str(dis), "--max-frames", str(FRAMES),
         "--pool", "mean,harmonic,min,p1,p5,p10", "--json", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    pooled = json.loads(out.read_text())["pooled"]["vmaf"]
    assert list(pooled) == sorted(["mean", "harmonic", "min", "p1", "p5", "p10"])  # JSON keys are sorted
    # libvmaf logs 6 decimals
    assert pooled["harmonic"] == pytest.approx(libvmaf_pooled["harmonic_mean"], abs=2e-6)
    assert pooled["min"] == pytest.approx(libvmaf_pooled["min"], abs=1e-6)
    assert pooled["mean"] == pytest.approx(libvmaf_pooled["mean"], abs=2e-6)
    for n in (1, 5, 10):
        assert pooled[f"p{n}"] == pytest.approx(_percentile_by_hand(frames, n), abs=1e-6)
    assert "harmonic" in proc.stderr and "p10" in proc.stderr
