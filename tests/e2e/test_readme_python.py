"""The README's "Use from Python" example runs as written: its ```python block, in a fresh
interpreter, in an empty folder (real ffmpeg, libx264, libvmaf, torch, onnxruntime)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
HEADING = "## Use from Python"


def readme_python_block() -> str:
    """The first ```python block after the heading, before the next `## ` heading."""
    text = README.read_text(encoding="utf-8")
    start = text.index(HEADING + "\n")
    section = re.split(r"(?m)^## ", text[start + len(HEADING) :], maxsplit=1)[0]
    match = re.search(r"(?ms)^```python\n(.*?)^```$", section)
    assert match, f"no ```python block under {HEADING!r} in {README}"
    return match.group(1)


def test_the_block_is_found():
    code = readme_python_block()
    assert code.startswith("import json\n") and "vmafkit.load(" in code and ".predict(" in code


def test_readme_python_example_runs(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", readme_python_block()], capture_output=True, text=True, cwd=tmp_path, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    work = tmp_path / "vmafkit-python"
    # 9 demo clips x libx264 x 4 cqs x the first 24 frames of each
    rows = [json.loads(line) for line in (work / "corpus.jsonl").read_text().splitlines()]
    assert len(rows) == 9 * 4 * 24 and {r["cq"] for r in rows} == {19, 25, 31, 37}
    assert f"corpus: {len(rows)} rows from 36 encodes" in proc.stdout
    # the example's settings clear the gate here; so the export and the prediction ran
    assert (work / "loso" / "PROMOTE.json").is_file() and not (work / "loso" / "HOLD.json").exists()
    assert "gate passed: True" in proc.stdout
    registry = json.loads((work / "models" / "registry.json").read_text())
    assert sorted(row["seed"] for row in registry["models"]) == [0, 1, 2]
    first = rows[0]
    vmaf = sum(r["vmaf"] for r in rows[:24]) / 24  # the predicted encode's libvmaf mean, from the corpus
    *_, line, rd_line = proc.stdout.strip().splitlines()
    assert line.startswith(f"{first['src']} at cq {first['cq']}: predicted ") and line.endswith(f"libvmaf {vmaf:.1f}")
    # rd's cq for VMAF 95, against a linear interpolation of the corpus's per-cq means written here
    means = {}
    for cq in (19, 25, 31, 37):
        frames = [r["vmaf"] for r in rows if r["src"] == first["src"] and r["cq"] == cq]
        means[cq] = sum(frames) / len(frames)
    above = max(cq for cq, v in means.items() if v >= 95)
    below = min(cq for cq, v in means.items() if v < 95)
    expected = above + (means[above] - 95) * (below - above) / (means[above] - means[below])
    assert rd_line == f"{first['src']} with libx264: VMAF 95 at cq {expected:.2f}"
    assert "PSNR-Y" in proc.stdout
