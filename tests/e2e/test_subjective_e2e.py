"""Issue 15 end to end: `vmafkit subjective train --dataset` on real clips and real libvmaf.

The dataset is made here (`vmafkit.subjective.synthetic`): ten real clips of
../shared/data/media, cut to 4 frames and scaled to 160 px wide (lossless FFV1 references), each
encoded with libx264 at three cq values. The SCORES ARE SYNTHETIC (a function of cq and content,
see synthetic.README): no person rated these clips, so the numbers below check the pipeline, not
a model's worth. Small epochs, two seeds, a small bootstrap: the CPU is shared.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vmafkit.corpus.schema import CANONICAL6
from vmafkit.media.score import score_pair
from vmafkit.subjective.synthetic import DATASET_NAME, make_synthetic_dataset

from ..conftest import media

CLIPS = (
    "bigbuckbunny_1280x720_132f.mp4",
    "bikes_640x272_250f.mp4",
    "bluesky_640x360_3f.yuv",
    "box_640x480_456f.mp4",
    "carphone_176x144_120f.mp4",
    "ciscovt2people_320x192_12fps_9f.yuv",
    "cityCC0_720x405_190f.mpg",
    "cup_640x480_217f.mp4",
    "parkjoy_480x270_50fps_10f.y4m",
    "seeking_720x480_150f.mp4",
)
FAST = ["--epochs", "20", "--seeds", "0,1", "--bootstrap", "200", "--jobs", "2", "--workers", "1"]


def api(dataset: Path, out: Path, **kw):
    """The same run as `cli("train", ..., *FAST)`, in this process (no second start-up of torch)."""
    from vmafkit.subjective.models import subjective_recipe
    from vmafkit.subjective.run import Options, train_from_dataset

    opts = Options(seeds=[0, 1], recipe=subjective_recipe(epochs=20), n_boot=200, workers=1)
    return train_from_dataset(dataset, out, opts, jobs=2, **kw)


def cli(*args, check_rc: int | None = 0) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "vmafkit", "subjective", *map(str, args)], capture_output=True, text=True, timeout=600
    )
    if check_rc is not None:
        assert proc.returncode == check_rc, proc.stderr
    return proc


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("subjective_media")
    return make_synthetic_dataset([media(name) for name in CLIPS], folder, cqs=(22, 36, 50), frames=4, width=160)


@pytest.fixture(scope="module")
def first_run(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("subjective_out") / "out"
    proc = cli("train", "--dataset", dataset, "--out", out, "--score-scale", "mos-1-5", *FAST)
    return out, proc


def test_dataset_is_labelled_synthetic(dataset):
    assert dataset.name == DATASET_NAME and "SYNTHETIC" in (dataset.parent / "README.txt").read_text()
    pairs = json.loads(dataset.read_text())
    assert len(pairs) == 30 and len({p["content"] for p in pairs}) == 10


def test_four_models_side_by_side(first_run):
    out, proc = first_run
    report = json.loads((out / "subjective_report.json").read_text())
    assert report["n_items"] == 30 and report["n_groups"] == 10
    assert set(report["models"]) == {"ensemble", "nusvr", "linear", "vmaf_logistic"}
    for name, block in report["models"].items():
        assert -1 <= block["plcc"] <= 1 and len(block["plcc_ci"]) == 2 and block["rmse"] >= 0, name
    assert set(report["comparisons"]) == {"ensemble_vs_nusvr", "ensemble_vs_linear", "ensemble_vs_vmaf_logistic"}
    assert report["target"]["features"] == list(CANONICAL6) and report["target"]["pooling"].startswith(
        "mean over frames"
    )
    assert len(report["models"]["vmaf_logistic"]["mappings"]) == 10  # one logistic per training fold
    for line in ("ensemble", "nusvr", "linear", "vmaf_logistic", "significance:", "gate:"):
        assert line in proc.stdout
    # The synthetic score falls with cq; libvmaf's score does too: the stock model must rank the clips.
    assert report["models"]["vmaf_logistic"]["srocc"] > 0.5


def test_pooled_features_are_vmafkit_scores_frame_means(first_run, dataset):
    out, _ = first_run
    items = [json.loads(line) for line in (out / "subjective_items.jsonl").read_text().splitlines()]
    pairs = json.loads(dataset.read_text())
    for index in (0, 17):
        pair = pairs[index]
        scored = score_pair(dataset.parent / pair["ref"], dataset.parent / pair["dis"])
        item = items[index]
        for key in CANONICAL6:
            assert item[key] == pytest.approx(np.mean([f[key] for f in scored.frames]), abs=1e-12)
        assert item["vmaf_v061"] == pytest.approx(scored.mean["vmaf"], abs=1e-12)


def test_rerun_comes_from_the_cache_with_the_same_bytes(first_run, dataset, tmp_path):
    out, _ = first_run

    def report() -> dict:  # the run's argv aside (CLI there, Python here), the same bytes
        data = json.loads((out / "subjective_report.json").read_text())
        data["run_provenance"].pop("argv")
        return data

    before = report()
    api(dataset, out, scale="mos-1-5")
    timing = json.loads((out / "subjective_timing.json").read_text())
    assert timing["scored_now"] == 0 and timing["from_cache"] == 30
    assert report() == before
    # A damaged cache entry is scored again, and the numbers do not change.
    entries = sorted((out / ".vmafkit-cache" / "pairs").glob("*.json"))
    assert len(entries) == 30
    entries[5].write_text(entries[5].read_text()[:100])
    api(dataset, out, scale="mos-1-5")
    timing = json.loads((out / "subjective_timing.json").read_text())
    assert timing["scored_now"] == 1 and timing["from_cache"] == 29
    assert report() == before


def test_resume_scores_only_what_is_missing(dataset, tmp_path):
    pairs = json.loads(dataset.read_text())
    part = dataset.parent / "part.json"
    part.write_text(json.dumps(pairs[:9]))  # three contents
    cache = tmp_path / "cache"
    api(part, tmp_path / "a", cache_dir=cache)
    api(dataset, tmp_path / "b", cache_dir=cache)
    timing = json.loads((tmp_path / "b" / "subjective_timing.json").read_text())
    assert timing["from_cache"] == 9 and timing["scored_now"] == 21


def test_gate_runs_on_the_real_run(first_run):
    from click.testing import CliRunner

    from vmafkit.cli.subjective import subjective

    out, _ = first_run
    res = CliRunner().invoke(subjective, ["gate", str(out)], catch_exceptions=False)
    assert res.exit_code in (0, 1), res.output
    assert "subjective gate:" in res.stdout


def test_bad_media_is_one_line_naming_the_dataset_line(dataset, tmp_path):
    pairs = json.loads(dataset.read_text())[:6]
    folder = tmp_path / "bad"
    shutil.copytree(dataset.parent, folder, ignore=shutil.ignore_patterns("*.json"))
    (folder / "not_video.mp4").write_text("this is text, not a video\n")
    pairs[4]["dis"] = "not_video.mp4"
    path = folder / "d.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    proc = cli("train", "--dataset", path, "--out", tmp_path / "out", *FAST, check_rc=2)
    assert proc.stderr.startswith(f"vmafkit: error: {path}:5: ") and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
