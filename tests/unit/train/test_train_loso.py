"""LOSO training end to end on small synthetic corpora: report keys, seed list, determinism,
no leakage, held-out predictions, conformal bookkeeping, bad input -> exit 2."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from vmafkit.cli import main
from vmafkit.corpus.schema import CANONICAL6, load_corpus
from vmafkit.errors import InputError
from vmafkit.train import metrics as M
from vmafkit.train.loso import make_folds, train_loso
from vmafkit.train.recipe import Recipe

from ...factories import TRAINER_SHAPE, make_corpus, synthetic_rows, write_corpus

# The report's published keys (README.md, "Files in --out-dir"), written out here, not taken from the code.
REPORT_KEYS = {
    "seed",
    "corpus",
    "n_folds",
    "folds",
    "mean_plcc",
    "std_plcc",
    "min_plcc",
    "max_plcc",
    "mean_srocc",
    "mean_rmse",
    "epochs",
    "batch_size",
    "lr",
    "weight_decay",
    "num_codecs",
    "encoder_vocab_version",
    "wall_time_s",
    "run_provenance",
}
FOLD_KEYS = {
    "held_out",
    "n_train",
    "n_val",
    "plcc",
    "srocc",
    "rmse",
    "krocc",
    "plcc_logistic",
    "clip",
    "abs_residual_quantiles",
    "conformal",
    "feature_spec",
}
FAST = Recipe(epochs=3, lr=5e-3)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("corpus") / "corpus.jsonl", **TRAINER_SHAPE)  # 3 groups x 72 = 216 rows


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("loso")
    paths = train_loso(corpus, [3, 1], out, FAST, device="cpu", progress=False, workers=1)
    return out, paths


def _read(path: Path):
    return json.loads(path.read_text())


def test_seed_list_honoured_and_report_keys(trained, corpus):
    out, paths = trained
    assert [p.name for p in paths] == ["loso_seed3.json", "loso_seed1.json"]
    assert sorted(p.name for p in out.glob("loso_seed*.json")) == [
        "loso_seed1.json",
        "loso_seed1.refit.json",
        "loso_seed1.timing.json",
        "loso_seed3.json",
        "loso_seed3.refit.json",
        "loso_seed3.timing.json",
    ]
    rep = _read(out / "loso_seed3.json")
    assert REPORT_KEYS <= set(rep)
    assert rep["seed"] == 3 and rep["n_folds"] == 3 and rep["epochs"] == 3 and rep["lr"] == 5e-3
    assert rep["num_codecs"] == 14 and rep["wall_time_s"] is None
    assert [f["held_out"] for f in rep["folds"]] == ["srcA", "srcB", "srcC"]
    for fold in rep["folds"]:
        assert FOLD_KEYS <= set(fold)
        assert fold["n_train"] + fold["n_val"] == 216 and fold["n_val"] == 72
        assert set(fold["conformal"]) == {"0.8", "0.9", "0.95"}
    assert rep["corpus"]["rows"] == 216 and rep["corpus"]["groups"] == ["srcA", "srcB", "srcC"]
    prov = rep["run_provenance"]
    assert prov["schema"] == "ai-run-provenance-v1" and prov["inputs"][0]["sha256"] == rep["corpus"]["sha256"]
    assert prov["args"]["seeds"] == [3, 1]
    timing = _read(out / "loso_seed3.timing.json")
    assert timing["wall_time_s"] > 0 and timing["members"] == 8  # 2 seeds x 3 folds + 2 full-corpus members
    assert rep["min_plcc"] <= rep["mean_plcc"] <= rep["max_plcc"]
    assert _read(out / "loso_seed1.json")["seed"] == 1
    assert _read(out / "loso_seed1.json")["folds"][0]["plcc"] != rep["folds"][0]["plcc"]  # seeds differ


def test_predictions_file_matches_report(trained, corpus):
    out, _ = trained
    rows = [json.loads(line) for line in (out / "loso_seed3.predictions.jsonl").read_text().splitlines()]
    rep = _read(out / "loso_seed3.json")
    c = load_corpus(corpus)
    assert [r["row"] for r in rows] == list(range(len(c)))
    assert all(r["fold"] == r["group"] == r["src"] and r["seed"] == 3 for r in rows)
    assert [r["vmaf"] for r in rows] == c.vmaf.tolist()
    pred = np.array([r["pred"] for r in rows])
    for fold in rep["folds"]:
        held = c.group == fold["held_out"]
        assert fold["plcc"] == pytest.approx(M.plcc(pred[held], c.vmaf[held]), abs=1e-12)
        assert fold["rmse"] == pytest.approx(M.rmse(pred[held], c.vmaf[held]), abs=1e-9)
        # conformal: half-width from the OTHER folds' residuals (each source's 90 % quantile by
        # numpy's inverse empirical CDF, then the k-th of them, k = min(S, ceil((S + 1) * 0.9))),
        # coverage on this fold's frames
        res = np.abs(pred - c.vmaf)
        others = sorted(
            float(np.quantile(res[c.group == g], 0.9, method="inverted_cdf"))
            for g in sorted(set(c.group.tolist()))
            if g != fold["held_out"]
        )
        q = others[min(len(others), math.ceil((len(others) + 1) * 0.9)) - 1]
        assert fold["conformal"]["0.9"]["halfwidth"] == pytest.approx(q)
        assert fold["conformal"]["0.9"]["coverage"] == pytest.approx(float(np.mean(res[held] <= q)))
        assert fold["clip"]["n_clips"] == 6  # 2 encoders x 3 cq


def test_reports_are_byte_identical_across_runs_and_workers(trained, corpus):
    out, _ = trained
    before = {p.name: p.read_bytes() for p in out.iterdir() if "timing" not in p.name and not p.name.startswith(".")}
    train_loso(corpus, [3, 1], out, FAST, device="cpu", progress=False, workers=2)
    after = {p.name: p.read_bytes() for p in out.iterdir() if "timing" not in p.name and not p.name.startswith(".")}
    assert set(before) == {
        "loso_seed3.json",
        "loso_seed1.json",
        "loso_seed3.predictions.jsonl",
        "loso_seed1.predictions.jsonl",
        "loso_seed3.refit.json",
        "loso_seed1.refit.json",
        "loso_seed3.folds.f32",
        "loso_seed1.folds.f32",
    }
    assert before == after


def test_feature_spec_fitted_on_training_fold_only(tmp_path):
    rows = synthetic_rows(**TRAINER_SHAPE, extreme_group="srcC")
    for r in rows:
        if r["src"] == "srcC":
            r["cq"] += 12
    corpus = write_corpus(tmp_path / "c.jsonl", rows)
    c = load_corpus(corpus)
    folds = {f.held_out: f for f in make_folds(c)}
    held_c = folds["srcC"]
    train_rows = [r for r in rows if r["src"] != "srcC"]
    expect_mean = [np.mean([r[k] for r in train_rows]) for k in CANONICAL6]
    np.testing.assert_allclose(held_c.spec.mean, expect_mean, rtol=1e-12)
    assert held_c.spec.cq_max == 38.0 and held_c.spec.cq_min == 22.0  # not srcC's 34..50
    # the held-out rows are transformed with the training statistics: far out of range
    assert held_c.x_held[:, :6].min() > 10
    assert held_c.x_train[:, :6].std(axis=0) == pytest.approx(np.ones(6), abs=1e-4)
    # and the report records the same fitted numbers
    train_loso(corpus, [0], tmp_path / "out", Recipe(epochs=1), device="cpu", progress=False, workers=1)
    rep = _read(tmp_path / "out" / "loso_seed0.json")
    fold_c = next(f for f in rep["folds"] if f["held_out"] == "srcC")
    np.testing.assert_allclose(fold_c["feature_spec"]["mean"], expect_mean, rtol=1e-12)
    assert fold_c["feature_spec"]["cq_max"] == 38.0


def test_cli_trains_the_given_seeds(tmp_path, corpus):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        [
            "train",
            "--corpus",
            str(corpus),
            "--seeds",
            "2,0",
            "--out",
            str(out),
            "--epochs",
            "2",
            "--lr",
            "0.005",
            "--device",
            "cpu",
            "--workers",
            "1",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("loso_seed?.json")) == ["loso_seed0.json", "loso_seed2.json"]
    assert "loso_seed2.json" in result.output and "mean_plcc=" in result.output
    rep = _read(out / "loso_seed2.json")
    assert rep["epochs"] == 2 and rep["lr"] == 0.005 and rep["run_provenance"]["entrypoint"] == "vmafkit train"


def _bad_corpora(tmp_path: Path):
    good = synthetic_rows(**TRAINER_SHAPE)
    few = synthetic_rows(**{**TRAINER_SHAPE, "frames": 2})  # 3 groups x 12 = 36 rows
    one_group = synthetic_rows(**{**TRAINER_SHAPE, "frames": 30}, sources=("only",))
    nan_line = json.dumps(good[0]).replace(f'"vmaf": {json.dumps(good[0]["vmaf"])}', '"vmaf": NaN')
    missing = [dict(r) for r in good]
    del missing[5]["motion2"]
    version = [dict(r) for r in good]
    version[7]["schema_version"] = 99
    cases = {
        "few_rows": write_corpus(tmp_path / "few.jsonl", few),
        "one_group": write_corpus(tmp_path / "one.jsonl", one_group),
        "missing_column": write_corpus(tmp_path / "missing.jsonl", missing),
        "schema_version": write_corpus(tmp_path / "version.jsonl", version),
        "nan": tmp_path / "nan.jsonl",
        "absent": tmp_path / "does_not_exist.jsonl",
    }
    cases["nan"].write_text("".join(json.dumps(r) + "\n" for r in good[1:]) + nan_line + "\n")
    inf = [dict(r) for r in good]
    inf[3]["adm2"] = 1e400  # json.dumps writes Infinity
    cases["inf"] = tmp_path / "inf.jsonl"
    cases["inf"].write_text("".join(json.dumps(r) + "\n" for r in inf))
    return cases


@pytest.mark.parametrize("case", ["few_rows", "one_group", "missing_column", "schema_version", "nan", "inf", "absent"])
def test_bad_corpus_is_input_error_and_exit_2(tmp_path, case):
    path = _bad_corpora(tmp_path)[case]
    with pytest.raises(InputError) as err:
        train_loso(path, [0], tmp_path / "out", Recipe(epochs=1), device="cpu", progress=False)
    assert path.name in str(err.value) and "\n" not in str(err.value)
    result = CliRunner().invoke(
        main,
        [
            "train",
            "--corpus",
            str(path),
            "--seeds",
            "0",
            "--out",
            str(tmp_path / "out2"),
            "--epochs",
            "1",
            "--no-progress",
        ],
    )
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and path.name in lines[0] and lines[0].startswith("vmafkit: error:")


@pytest.mark.parametrize(
    "seeds, message",
    [
        ("0,0", "vmafkit: error: seeds repeat: 0,0"),
        ("", "vmafkit: error: no seeds given (e.g. --seeds 0,1,2,3,4)"),
        ("-1", "vmafkit: error: seed -1 is not an integer in [0, 2^63)"),
        ("a,b", "Invalid value for --seeds: expected comma-separated integers, got 'a,b'"),
    ],
)
def test_bad_seed_lists_exit_2(tmp_path, corpus, seeds, message):
    out = tmp_path / "o"
    result = CliRunner().invoke(
        main,
        ["train", "--corpus", str(corpus), "--seeds", seeds, "--out", str(out), "--epochs", "1", "--no-progress"],
    )
    assert result.exit_code == 2, result.output
    if message.startswith("vmafkit: error:"):
        assert result.output == message + "\n"  # exactly one line, nothing else
    else:  # click's own usage error
        assert message in result.output and "Traceback" not in result.output
    # refused before any work: the out dir is not even created, so no report can be in it
    assert not out.exists()


def _train_cli(corpus, out, seeds="0"):
    return CliRunner().invoke(
        main,
        [
            "train",
            "--corpus",
            str(corpus),
            "--seeds",
            seeds,
            "--out",
            str(out),
            "--epochs",
            "1",
            "--device",
            "cpu",
            "--workers",
            "1",
            "--no-progress",
        ],
    )


@pytest.mark.parametrize("verdict_name", ["PROMOTE.json", "HOLD.json"])
def test_retrain_removes_stale_verdict_but_refused_run_keeps_it(tmp_path, corpus, verdict_name):
    """train_loso removes PROMOTE.json / HOLD.json inside its lock, after the seeds, recipe and
    corpus were checked: a run refused by those checks (exit 2) leaves the verdict alone, a run
    that trains removes it (it describes the seed reports that are about to be replaced)."""
    out = tmp_path / "loso"
    out.mkdir()
    verdict = out / verdict_name
    verdict.write_text('{"verdict": "stale"}')
    other = out / "notes.txt"  # a file that is not a verdict: never touched
    other.write_text("keep")

    # refused runs: bad seeds, too small a corpus (checked after loading), missing corpus file
    few = write_corpus(tmp_path / "few.jsonl", synthetic_rows(**{**TRAINER_SHAPE, "frames": 2}))  # 36 rows < MIN_ROWS
    for args in ((corpus, "0,0"), (few, "0"), (tmp_path / "absent.jsonl", "0")):
        result = _train_cli(args[0], out, args[1])
        assert result.exit_code == 2, result.output
        assert result.output.startswith("vmafkit: error:") and len(result.output.strip().splitlines()) == 1
        assert verdict.read_text() == '{"verdict": "stale"}'
    with pytest.raises(InputError):
        train_loso(corpus, [0], out, Recipe(epochs=0), device="cpu", progress=False)
    assert verdict.read_text() == '{"verdict": "stale"}'
    assert not list(out.glob("loso_seed*"))

    # a run that trains removes the stale verdict (both names), and writes the seed report
    (out / "HOLD.json" if verdict_name == "PROMOTE.json" else out / "PROMOTE.json").write_text("{}")
    result = _train_cli(corpus, out)
    assert result.exit_code == 0, result.output
    assert not (out / "PROMOTE.json").exists() and not (out / "HOLD.json").exists()
    assert (out / "loso_seed0.json").is_file() and other.read_text() == "keep"


def test_bad_recipe_values_are_input_errors(tmp_path, corpus):
    for recipe in (Recipe(epochs=0), Recipe(batch_size=0), Recipe(lr=-1.0), Recipe(weight_decay=float("nan"))):
        with pytest.raises(InputError):
            train_loso(corpus, [0], tmp_path / "o", recipe, device="cpu", progress=False)


def test_predictions_lines_are_canonical_json(trained):
    out, _ = trained
    for line in (out / "loso_seed1.predictions.jsonl").read_text().splitlines()[:50]:
        assert line == json.dumps(json.loads(line), sort_keys=True)
