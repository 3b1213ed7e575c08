"""Issue 15: `vmafkit subjective train --table` end to end on a GENERATED feature table, the files
it writes (report, predictions, LOSO-format evidence), `vmafkit subjective gate`, and the CLI's
errors (one line, exit 2, no traceback). Small epochs and bootstraps: the CPU is shared.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from vmafkit import thresholds as T
from vmafkit.cli.subjective import subjective_group as subjective
from vmafkit.corpus.subjective_synthetic import write_synthetic_table
from vmafkit.decide.subjective_recheck import recheck
from vmafkit.errors import InputError
from vmafkit.io import dumps_json
from vmafkit.pipeline.subjective import Options, train_from_table
from vmafkit.train.subjective_models import subjective_recipe

CANON = ["adm2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3", "motion2"]


def make_table(path: Path, n_contents: int = 10, per: int = 4, seed: int = 0) -> Path:
    """A generated table: canonical-6-like features and a nonlinear SYNTHETIC MOS with a content effect."""
    return write_synthetic_table(path, n_contents, per, seed)


def opts(**kw) -> Options:
    return Options(
        seeds=kw.pop("seeds", [0, 1]),
        recipe=subjective_recipe(epochs=kw.pop("epochs", 30)),
        n_boot=kw.pop("n_boot", 200),
        workers=1,
        **kw,
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("subjective")
    table = make_table(tmp / "table.jsonl")
    result = train_from_table(table, CANON, "mos", "content", tmp / "out", opts(), scale="mos-1-5", id_column="clip")
    return tmp, table, result


def test_report_has_every_model_and_statistic(run):
    tmp, _, result = run
    report = json.loads(result.report_path.read_text())
    assert report["n_items"] == 40 and report["n_groups"] == 10
    assert set(report["models"]) == {"ensemble", "nusvr", "linear"}  # no videos: no vmaf_logistic
    for block in report["models"].values():
        for stat in ("plcc", "srocc", "krocc", "rmse"):
            lo, hi = block[f"{stat}_ci"]
            assert lo <= block[stat] <= hi or stat == "rmse"
    comp = report["comparisons"]["ensemble_vs_nusvr"]
    assert {"plcc_diff", "plcc_diff_ci", "plcc_p_value", "srocc_p_value", "reading"} <= set(comp)
    assert report["significance"] == comp["reading"]
    interval = report["models"]["ensemble"]["interval"]
    assert 0 <= interval["held_out_coverage"] <= 1 and interval["coverage_target"] == T.DEFAULT_COVERAGE
    assert report["target"]["scale"]["name"] == "mos-1-5" and report["target"]["kind"] == "subjective"
    assert "unknown encoder" in report["models"]["ensemble"]["input_layout"]
    assert report["models"]["nusvr"]["recipe"]["C"] == 4.0
    assert report["gate"]["verdict"] in ("PROMOTE", "HOLD")
    assert "ensemble" in result.table and "nusvr" in result.table and "gate:" in result.table


def test_predictions_are_held_out_and_within_the_scale(run):
    tmp, _, result = run
    rows = [json.loads(line) for line in result.predictions_path.read_text().splitlines()]
    assert len(rows) == 40 and all(r["fold"] == r["content"] for r in rows)
    for r in rows:
        for key in ("ensemble", "nusvr", "linear", "lower", "upper"):
            assert 1.0 <= r[key] <= 5.0
        assert r["ensemble"] == pytest.approx(np.mean(list(r["ensemble_seeds"].values())))
        assert r["lower"] <= r["ensemble"] <= r["upper"]


def test_loso_files_are_read_by_the_vmaf_gate(run):
    from vmafkit.decide.gate import load_evidence

    tmp, _, result = run
    reports, preds, _ = load_evidence(tmp / "out" / "loso", [0, 1])  # checks every fold PLCC against the file
    rep = reports[0]
    assert rep["target"]["kind"] == "subjective" and rep["n_folds"] == 10
    items = [json.loads(line) for line in result.items_path.read_text().splitlines()]
    assert np.array_equal(preds[0]["vmaf"], [i["mos"] if "mos" in i else i["score"] for i in items])


def test_same_inputs_same_bytes(run, tmp_path):
    tmp, table, result = run
    train_from_table(table, CANON, "mos", "content", tmp_path / "again", opts(), scale="mos-1-5", id_column="clip")
    for name in (
        "subjective_report.json",
        "subjective_predictions.jsonl",
        "subjective_items.jsonl",
        "loso/loso_seed0.json",
        "loso/loso_seed1.predictions.jsonl",
    ):
        a = (tmp / "out" / name).read_text().replace(str(tmp / "out"), "OUT")
        b = (tmp_path / "again" / name).read_text().replace(str(tmp_path / "again"), "OUT")
        assert a == b, name


def test_gate_recomputes_and_refuses_an_edited_report(run, tmp_path):
    import shutil

    tmp, _, result = run
    fresh = recheck(tmp / "out")
    assert fresh["gate"]["passed"] == result.report["gate"]["passed"]
    copy = tmp_path / "copy"
    shutil.copytree(tmp / "out", copy)
    report = json.loads((copy / "subjective_report.json").read_text())
    report["models"]["ensemble"]["plcc"] = 0.999
    (copy / "subjective_report.json").write_text(dumps_json(report))
    with pytest.raises(InputError, match="models.ensemble.plcc 0.999 disagrees"):
        recheck(copy)
    rows = (copy / "subjective_predictions.jsonl").read_text().splitlines()
    row = json.loads(rows[3])
    row["ensemble"] += 1
    rows[3] = json.dumps(row)
    (copy / "subjective_predictions.jsonl").write_text("\n".join(rows) + "\n")
    with pytest.raises(InputError, match=r"subjective_predictions.jsonl:4: ensemble .* is not the mean"):
        recheck(copy)


def test_gate_holds_below_ten_contents(tmp_path):
    table = make_table(tmp_path / "small.jsonl", n_contents=4, per=2)
    result = train_from_table(table, CANON, "mos", "content", tmp_path / "out", opts(epochs=5, n_boot=199))
    assert not result.report["gate"]["passed"]
    assert any("contents < 10" in line for line in result.report["gate"]["failing_aspects"])
    warnings = result.report["warnings"]
    assert any("fewer than 3 clips" in w for w in warnings) and any("only 4 contents" in w for w in warnings)
    assert result.report["target"]["scale"]["name"] == "unspecified"


def test_other_feature_counts_pad_the_input(tmp_path):
    table = make_table(tmp_path / "t.jsonl", n_contents=5, per=3)
    result = train_from_table(
        table, ["adm2", "vif_scale0"], "mos", "content", tmp_path / "out", opts(epochs=5, n_boot=199)
    )
    assert "FRRegressor(in_features=2)" in result.report["models"]["ensemble"]["input_layout"]


def invoke(*args):
    return CliRunner().invoke(subjective, [str(a) for a in args], catch_exceptions=False)


def test_cli_table_run_and_gate(tmp_path):
    table = make_table(tmp_path / "t.jsonl", n_contents=3, per=3)
    out = tmp_path / "out"
    res = invoke(
        "train",
        "--table",
        table,
        "--feature-columns",
        ",".join(CANON),
        "--score-column",
        "mos",
        "--group",
        "content",
        "--out",
        out,
        "--epochs",
        "3",
        "--seeds",
        "0",
        "--bootstrap",
        "199",
        "--score-scale",
        "mos-1-5",
    )
    assert res.exit_code == 0, res.output
    assert "ensemble" in res.output and (out / "subjective_report.json").is_file()
    res = invoke("gate", out)
    assert res.exit_code == 1 and "subjective gate: HOLD" in res.output  # 3 contents: cannot pass
    res = invoke(
        "train",
        "--table",
        table,
        "--feature-columns",
        "adm2",
        "--score-column",
        "mos",
        "--group",
        "content",
        "--out",
        tmp_path / "j",
        "--epochs",
        "2",
        "--seeds",
        "0",
        "--bootstrap",
        "199",
        "--json",
    )
    assert res.exit_code == 0 and json.loads(res.stdout)["n_items"] == 9


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--out", "o"], "give exactly one of --dataset"),
        (["--table", "{t}", "--out", "o", "--feature-columns", "adm2"], "--table needs --score-column, --group"),
        (
            ["--table", "{t}", "--out", "o", "--feature-columns", "adm2", "--score-column", "mos", "--group", "nope"],
            "{t}:1: missing column 'nope'",
        ),
        (
            [
                "--table",
                "{t}",
                "--out",
                "o",
                "--feature-columns",
                "adm2",
                "--score-column",
                "mos",
                "--group",
                "content",
                "--jobs",
                "2",
            ],
            "--jobs go with --dataset",
        ),
        (
            [
                "--table",
                "{t}",
                "--out",
                "o",
                "--feature-columns",
                "adm2",
                "--score-column",
                "mos",
                "--group",
                "content",
                "--align",
                "auto",
            ],
            "--align go with --dataset",
        ),
        (["--dataset", "{t}", "--out", "o", "--feature-columns", "adm2"], "--feature-columns go with --table"),
        (
            [
                "--table",
                "{t}",
                "--out",
                "o",
                "--feature-columns",
                "adm2",
                "--score-column",
                "mos",
                "--group",
                "content",
                "--score-scale",
                "mos-1-10",
            ],
            "--score-scale 'mos-1-10' is not one of",
        ),
        (
            [
                "--table",
                "{t}",
                "--out",
                "o",
                "--feature-columns",
                "adm2",
                "--score-column",
                "mos",
                "--group",
                "content",
                "--seeds",
                "1,1",
            ],
            "seeds repeat",
        ),
    ],
)
def test_cli_errors_are_one_line_exit_2(tmp_path, args, expected):
    table = make_table(tmp_path / "t.jsonl", n_contents=3, per=2)
    argv = [a.replace("{t}", str(table)) if isinstance(a, str) else a for a in args]
    argv = [str(tmp_path / a) if a == "o" else a for a in argv]
    proc = subprocess.run(
        [sys.executable, "-m", "vmafkit", "subjective", "train", *argv], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("vmafkit: error: ") and expected.replace("{t}", str(table)) in proc.stderr
    assert not (tmp_path / "o").exists()  # refused before any folder is made


def test_items_file_is_itself_a_table(run, tmp_path):
    """subjective_items.jsonl (the per-clip features) reads back as a --table with the same numbers."""
    tmp, _, result = run
    again = train_from_table(
        result.items_path, CANON, "score", "content", tmp_path / "rt", opts(), scale="mos-1-5", id_column="id"
    )
    for name in ("ensemble", "nusvr", "linear"):
        assert again.report["models"][name]["plcc"] == result.report["models"][name]["plcc"], name


def test_dataset_scoring_goes_with_a_dataset_and_its_flat_keywords_still_fold_into_it(tmp_path):
    """subjective_train's dataset-only options are one DatasetScoring; given with a table they are
    refused by their flags' names, and the flat keywords of before (`jobs=`, `align=`) still arrive
    there, warned."""
    import vmafkit

    table = make_table(tmp_path / "t.jsonl", n_contents=3, per=2)
    columns = {"feature_columns": "adm2", "score_column": "mos", "group": "content"}
    scoring = vmafkit.DatasetScoring(jobs=2, cache_dir=tmp_path / "c", align="auto")
    with pytest.raises(InputError, match=r"^--jobs, --cache-dir, --align go with --dataset$"):
        vmafkit.subjective_train(tmp_path / "o", table=table, dataset_scoring=scoring, **columns)
    with (
        pytest.warns(DeprecationWarning, match=r"pass dataset_scoring=vmafkit\.DatasetScoring\(jobs=\.\.\., align="),
        pytest.raises(InputError, match=r"^--jobs, --align go with --dataset$"),
    ):
        vmafkit.subjective_train(tmp_path / "o", table=table, jobs=2, align=3, **columns)
    with pytest.raises(InputError, match=r"give dataset_scoring= or its fields \(jobs\), not both"):
        vmafkit.subjective_train(tmp_path / "o", table=table, dataset_scoring=scoring, jobs=2, **columns)
    assert not (tmp_path / "o").exists()
    # "off" is no alignment, a number in a string is that offset: as --align parses them
    assert vmafkit.DatasetScoring(align="off") == vmafkit.DatasetScoring()
    assert vmafkit.DatasetScoring(align="-2").align == -2 and vmafkit.DatasetScoring(align="auto").align == "auto"
    assert vmafkit.DatasetScoring(scale="bicubic", align=1).as_kwargs() == {
        "jobs": None,
        "max_frames": None,
        "ffmpeg": None,
        "vmaf_bin": None,
        "cache_dir": None,
        "scale_filter": "bicubic",
        "align": 1,
    }


def test_scale_range_and_registration(tmp_path):
    import click

    from vmafkit.cli.subjective import register

    group = click.Group("vmafkit")
    register(group)
    assert "subjective" in group.commands and {"train", "gate"} <= set(group.commands["subjective"].commands)
    table = make_table(tmp_path / "t.jsonl", n_contents=3, per=2)
    res = invoke(
        "train",
        "--table",
        table,
        "--feature-columns",
        "adm2",
        "--score-column",
        "mos",
        "--group",
        "content",
        "--out",
        tmp_path / "o",
        "--epochs",
        "2",
        "--seeds",
        "0",
        "--bootstrap",
        "199",
        "--score-scale-range",
        "0,10",
    )
    assert res.exit_code == 0, res.output
    scale = json.loads((tmp_path / "o" / "subjective_report.json").read_text())["target"]["scale"]
    assert (scale["low"], scale["high"], scale["name"]) == (0.0, 10.0, "custom [0,10]")
