"""Issue 15 end to end: `vmafkit subjective train --dataset` on real clips and real libvmaf.

The dataset is made here (`vmafkit.corpus.subjective_synthetic`): ten real clips of
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
from vmafkit.corpus.subjective_synthetic import DATASET_NAME, make_synthetic_dataset
from vmafkit.media.score import score_pair

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
    from vmafkit.pipeline.subjective import Options, train_from_dataset
    from vmafkit.train.subjective_models import subjective_recipe

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

    from vmafkit.cli.subjective import subjective_group as subjective

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


# ----------------------------------------------------------------------------- past training


@pytest.fixture(scope="module")
def promoted_models(first_run, dataset, tmp_path_factory):
    """The same clips trained longer (the 20-epoch ensemble above is significantly worse than
    nu-SVR on them: a HOLD), then verdict, export and flip, each a real `vmafkit` process; the
    scored pairs come from the first run's cache."""
    first_out, _ = first_run
    tmp = tmp_path_factory.mktemp("subjective_promoted")
    out, models = tmp / "out", tmp / "models"
    longer = [a if a != "20" else "300" for a in FAST]
    cache = first_out / ".vmafkit-cache" / "pairs"
    cli("train", "--dataset", dataset, "--out", out, "--score-scale", "mos-1-5", "--cache-dir", cache, *longer)
    for argv in (
        ["verdict", out],
        [
            "export",
            "--corpus",
            out / "subjective_items.jsonl",
            "--verdict",
            out / "loso" / "PROMOTE.json",
            "--out",
            models,
        ],
        ["registry", "flip", "--registry", models / "registry.json", "--verdict", out / "loso" / "PROMOTE.json"],
    ):
        proc = subprocess.run([sys.executable, "-m", "vmafkit", *map(str, argv)], capture_output=True, text=True)
        assert proc.returncode == 0, (argv[0], proc.stdout, proc.stderr)
    return out, models


def test_predict_a_pair_with_the_promoted_subjective_ensemble(promoted_models, dataset):
    """`predict --ref --dis`: libvmaf's canonical-6 of every frame, pooled by their mean (as the
    dataset's clips were for training), through every exported member; the oracle runs
    onnxruntime here on the mean of score_pair's frames."""
    import onnxruntime as ort

    out, models = promoted_models
    pair = json.loads(dataset.read_text())[4]
    ref, dis = dataset.parent / pair["ref"], dataset.parent / pair["dis"]
    proc = subprocess.run(
        [sys.executable, "-m", "vmafkit", "predict", "--models", models, "--ref", ref, "--dis", dis, "--json"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["mode"] == "ensemble" and result["target"]["scale"]["name"] == "mos-1-5"
    (clip,) = result["clips"]
    assert clip["name"] == dis.name and clip["n_rows"] == 4
    frames = score_pair(ref, dis).frames
    pooled = np.array([[np.mean([f[k] for f in frames]) for k in CANONICAL6]], dtype=np.float32)
    outs = [
        ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"features": pooled})[0][0]
        for p in sorted(models.glob("*_seed*.onnx"))
    ]
    assert len(outs) == 2
    assert clip["score"] == pytest.approx(float(np.clip(np.mean(np.asarray(outs, dtype=np.float64)), 1, 5)), abs=1e-5)
    assert 1.0 <= clip["lower"] <= clip["score"] <= clip["upper"] <= 5.0


def test_report_of_a_video_run_has_stock_vmaf_beside_the_models(promoted_models):
    out, _ = promoted_models
    proc = subprocess.run([sys.executable, "-m", "vmafkit", "report", out], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    page = Path(proc.stdout.strip()).read_text()
    report = json.loads((out / "subjective_report.json").read_text())
    for name in ("ensemble", "nusvr", "linear", "vmaf_logistic"):
        assert f"{report['models'][name]['plcc']:.4f}" in page, name
    assert "n/a (no videos)" not in page and "ensemble vs vmaf_logistic" in page and "PROMOTE" in page
