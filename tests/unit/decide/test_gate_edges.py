"""Edge cases of the production gate found by mutation testing (tools/mutation.py).

The thresholds are read from `vmafkit.thresholds` (the one place that holds them); every
expected PLCC comes from scipy (the helper writes it) or is worked out by hand next to the test."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import pearsonr

from vmafkit import thresholds as T
from vmafkit.decide import gate as G
from vmafkit.decide.derive import run_gate
from vmafkit.decide.gate import (
    check_report_numbers,
    evaluate_gate,
    failing_aspects,
    gate_from_reports,
    load_evidence,
    load_seed_report,
    load_seed_reports,
    normalise_seeds,
    report_corpus,
)
from vmafkit.errors import InputError

from ...factories import make_corpus, make_loso_dir, passing_terms, read_rows, write_seed_report

EPS = T.GATE_EPS


def _loso(tmp_path, plccs):
    loso, _ = make_loso_dir(tmp_path, plccs, corpus=make_corpus(tmp_path / "c.jsonl"))
    return loso


def _edit_report(loso, which, **changes):
    path = loso / f"loso_seed{which}.json"
    report = json.loads(path.read_text())
    for key, value in changes.items():
        if value is _DROP:
            report.pop(key, None)
        else:
            report[key] = value
    path.write_text(json.dumps(report))
    return path


_DROP = object()


# ----------------------------------------------------------------------------- evaluate_gate boundaries


def test_per_seed_threshold_has_exactly_eps_of_slack():
    base = {0: 0.97, 1: 0.97}
    just_in = evaluate_gate({**base, 2: T.PER_SEED_PLCC_MIN - EPS / 2}, 0.9, **passing_terms())
    assert just_in["failing_seeds"] == [] and just_in["per_seed_pass"]
    just_out = evaluate_gate({**base, 2: T.PER_SEED_PLCC_MIN - 3 * EPS}, 0.9, **passing_terms())
    assert just_out["failing_seeds"] == [2] and not just_out["per_seed_pass"] and not just_out["passed"]


def test_mean_threshold_has_exactly_eps_of_slack():
    at = evaluate_gate({0: T.MEAN_PLCC_MIN - EPS / 2}, 0.9, **passing_terms())
    assert at["mean_plcc_pass"] and at["passed"]
    below = evaluate_gate({0: T.MEAN_PLCC_MIN - 3 * EPS}, 0.9, **passing_terms())
    assert not below["mean_plcc_pass"]


def test_spread_threshold_has_exactly_eps_of_slack():
    lo = 0.96
    inside = evaluate_gate({0: lo, 1: lo + T.PLCC_SPREAD_MAX + EPS / 2}, 0.9, **passing_terms())
    assert inside["plcc_spread_pass"] and inside["passed"]
    outside = evaluate_gate({0: lo, 1: lo + T.PLCC_SPREAD_MAX + 3 * EPS}, 0.9, **passing_terms())
    assert not outside["plcc_spread_pass"] and not outside["passed"]


def test_coverage_threshold_has_exactly_eps_of_slack():
    plccs = {0: 0.96}
    assert evaluate_gate(plccs, T.FOLD_COVERAGE_MIN - EPS / 2, **passing_terms())["interval_coverage_pass"]
    assert not evaluate_gate(plccs, T.FOLD_COVERAGE_MIN - 3 * EPS, **passing_terms())["interval_coverage_pass"]
    assert evaluate_gate(plccs, 1.0, **passing_terms())["interval_coverage_pass"]


def test_gate_report_values_by_hand():
    gate = evaluate_gate({2: 0.97, 0: 0.99, 1: 0.96}, 0.85, **passing_terms())
    assert gate["mean_plcc"] == pytest.approx((0.97 + 0.99 + 0.96) / 3, abs=1e-15)
    assert gate["plcc_spread"] == pytest.approx(0.03, abs=1e-15)
    assert list(gate["per_seed_plccs"].items()) == [("0", 0.99), ("1", 0.96), ("2", 0.97)]
    assert gate["mean_plcc_threshold"] == T.MEAN_PLCC_MIN and gate["plcc_spread_max"] == T.PLCC_SPREAD_MAX
    assert gate["per_seed_min"] == T.PER_SEED_PLCC_MIN and gate["interval_coverage_threshold"] == T.FOLD_COVERAGE_MIN
    assert gate["interval_coverage_min"] == 0.85
    assert all(
        type(gate[k]) is bool
        for k in ("passed", "mean_plcc_pass", "plcc_spread_pass", "per_seed_pass", "interval_coverage_pass")
    )
    with pytest.raises(InputError, match="^the gate needs at least one seed$"):
        evaluate_gate({}, 0.9)


def test_gate_from_reports_reads_mean_plcc():
    gate = gate_from_reports({3: {"mean_plcc": 0.96}, 1: {"mean_plcc": "0.97"}}, 0.9, **passing_terms())
    assert gate["per_seed_plccs"] == {"1": 0.97, "3": 0.96} and gate["interval_coverage_min"] == 0.9


# ----------------------------------------------------------------------------- failing aspects


def test_failing_aspects_ties_name_the_lowest_seed():
    gate = evaluate_gate({3: 0.99, 0: 0.97, 2: 0.97, 1: 0.99}, 0.9, **passing_terms())
    (line,) = failing_aspects(gate)
    assert line == "plcc_spread 0.0200 > 0.0050 (seed 0 lowest at 0.9700, seed 1 highest at 0.9900)"


def test_failing_aspects_every_aspect_in_order():
    gate = evaluate_gate({0: 0.90, 1: 0.95, 2: 0.91}, 0.5, **passing_terms())
    assert failing_aspects(gate) == [
        "mean_plcc 0.9200 < 0.9500",
        "plcc_spread 0.0500 > 0.0050 (seed 0 lowest at 0.9000, seed 1 highest at 0.9500)",
        "seed 0 plcc 0.9000 < 0.9500",
        "seed 2 plcc 0.9100 < 0.9500",
        f"worst-fold interval coverage 0.500 < {T.FOLD_COVERAGE_MIN:.3f} (a new source's frames fall outside the "
        "calibrated interval too often)",
    ]


def test_failing_aspects_of_a_gate_without_the_interval_keys():
    """A gate written before the interval term existed: the term counts as not measured, against
    this vmafkit's threshold."""
    gate = evaluate_gate({0: 0.96}, 0.9, **passing_terms())
    for key in ("interval_coverage_pass", "interval_coverage_min", "interval_coverage_threshold"):
        del gate[key]
    assert failing_aspects(gate) == [
        f"worst-fold interval coverage not measured < {T.FOLD_COVERAGE_MIN:.3f} "
        "(a new source's frames fall outside the calibrated interval too often)"
    ]


# ----------------------------------------------------------------------------- seeds


def test_normalise_seeds():
    assert normalise_seeds([4, "2", 0]) == [0, 2, 4]
    assert normalise_seeds((0,)) == [0]
    with pytest.raises(InputError, match=r"^no seeds given$"):
        normalise_seeds([])
    with pytest.raises(InputError, match=r"^seeds repeat: \[1, 0, 1\]$"):
        normalise_seeds([1, 0, 1])
    with pytest.raises(InputError, match=r"^seeds must be non-negative: \[0, -1\]$"):
        normalise_seeds([0, -1])


# ----------------------------------------------------------------------------- seed reports


def test_report_corpus_reads_only_the_object_train_writes():
    assert report_corpus({"corpus": {"path": "c.jsonl", "sha256": "ab" * 32}}) == ("c.jsonl", "ab" * 32)
    expected = (
        "r.json: corpus must be the object `vmafkit train` writes ({path, sha256, rows, ...}), not {shown}; "
        "retrain with `vmafkit train`"
    )
    for corpus in ("c.jsonl", {"path": "c.jsonl"}, {"path": "c.jsonl", "sha256": None}, {"sha256": "ab"}):
        with pytest.raises(InputError) as info:
            report_corpus({"corpus": corpus}, "r.json")
        assert str(info.value) == expected.replace("{shown}", repr(corpus))


def test_a_seed_report_with_the_original_kits_plain_corpus_path_is_refused(tmp_path):
    loso = _loso(tmp_path, {0: 0.96})
    path = _edit_report(loso, 0, corpus="c.jsonl")
    with pytest.raises(InputError) as info:
        load_seed_report(path, 0)
    assert str(info.value).startswith(f"{path}: corpus must be the object `vmafkit train` writes")


@pytest.mark.parametrize("value", [1.0, -1.0, 0.0])
def test_mean_plcc_bounds_are_inclusive(tmp_path, value):
    loso = _loso(tmp_path, {0: 0.96})
    path = _edit_report(loso, 0, mean_plcc=value)
    assert load_seed_report(path, 0)["mean_plcc"] == value
    assert load_seed_report(path)["mean_plcc"] == value  # no seed: the name is not checked


@pytest.mark.parametrize("value", [1.0000001, -1.5, math.nan, math.inf])
def test_mean_plcc_outside_minus_one_one_is_refused(tmp_path, value):
    loso = _loso(tmp_path, {0: 0.96})
    path = _edit_report(loso, 0, mean_plcc=value)
    with pytest.raises(InputError) as info:
        load_seed_report(path, 0)
    assert str(info.value) == f"{path}: mean_plcc {value!r} is not a correlation in [-1, 1]"


def test_seed_report_name_and_content_must_agree(tmp_path):
    loso = _loso(tmp_path, {0: 0.96})
    path = _edit_report(loso, 0, seed=3)
    with pytest.raises(InputError) as info:
        load_seed_report(path, 0)
    assert str(info.value) == f"{path}: seed report says seed 3 but its name says seed 0"
    assert load_seed_report(path, 3)["seed"] == 3


def test_null_mean_plcc_message(tmp_path):
    loso = _loso(tmp_path, {0: 0.96})
    path = _edit_report(loso, 0, mean_plcc=None)
    with pytest.raises(InputError) as info:
        load_seed_report(path, 0)
    assert str(info.value) == (
        f"{path}: mean_plcc is null: the PLCC of every fold is undefined (constant target or prediction)"
    )


def test_codec_layout_of_the_report_must_be_this_vmafkits(tmp_path):
    from vmafkit.train.features import ENCODER_VOCAB_VERSION, NUM_CODECS

    loso = _loso(tmp_path, {0: 0.96})
    path = _edit_report(loso, 0, num_codecs=NUM_CODECS + 1)
    with pytest.raises(InputError) as info:
        load_seed_report(path, 0)
    assert str(info.value) == f"{path}: num_codecs {NUM_CODECS + 1} is not this vmafkit's {NUM_CODECS}"
    path = _edit_report(loso, 0, num_codecs=NUM_CODECS, encoder_vocab_version="vocab-v0")
    with pytest.raises(InputError) as info:
        load_seed_report(path, 0)
    assert str(info.value) == (
        f"{path}: encoder_vocab_version 'vocab-v0' is not this vmafkit's {ENCODER_VOCAB_VERSION!r}"
    )
    # a report that predates both fields is read
    path = _edit_report(loso, 0, num_codecs=_DROP, encoder_vocab_version=_DROP)
    assert "num_codecs" not in load_seed_report(path, 0)


def test_load_seed_reports_of_a_missing_folder(tmp_path):
    with pytest.raises(InputError) as info:
        load_seed_reports(tmp_path / "nope", [0])
    assert str(info.value) == f"{tmp_path / 'nope'}: LOSO folder not found"
    loso = _loso(tmp_path, {2: 0.96, 0: 0.96})
    assert list(load_seed_reports(loso, [2, 0])) == [0, 2]


# ----------------------------------------------------------------------------- recomputation


def test_recompute_tolerance_is_inclusive():
    assert G._same(0.5, 0.5)
    assert G._same(0.0, T.RECOMPUTE_TOL) and G._same(T.RECOMPUTE_TOL, 0.0)
    assert not G._same(0.0, 2 * T.RECOMPUTE_TOL) and not G._same(2 * T.RECOMPUTE_TOL, 0.0)
    assert G._same(None, math.nan) and not G._same(None, 0.5)
    assert not G._same(0.5, math.nan) and not G._same(0.5, math.inf)


def _cols(loso, seed):
    from vmafkit.decide.calibration import read_predictions

    return read_predictions(loso / f"loso_seed{seed}.predictions.jsonl")


def test_report_numbers_are_checked_fold_by_fold(tmp_path):
    loso = _loso(tmp_path, {0: 0.96})
    report = json.loads((loso / "loso_seed0.json").read_text())
    cols = _cols(loso, 0)
    check_report_numbers(report, cols, loso / "loso_seed0.json")  # as written: agrees
    # scipy's PLCC of fold srcB, independently of vmafkit
    inside = cols["fold"] == "srcB"
    expected = pearsonr(cols["pred"][inside], cols["vmaf"][inside])[0]
    assert report["folds"][1]["held_out"] == "srcB" and report["folds"][1]["plcc"] == pytest.approx(expected, abs=1e-12)
    edited = json.loads(json.dumps(report))
    edited["folds"][1]["plcc"] = 0.5
    with pytest.raises(InputError) as info:
        check_report_numbers(edited, cols, loso / "loso_seed0.json")
    assert str(info.value) == (
        f"{loso / 'loso_seed0.json'}: fold srcB: plcc 0.5 disagrees with its predictions "
        f"({expected:.6f}); the report was edited or belongs to other predictions"
    )
    for key, value in (("mean_plcc", np.mean), ("min_plcc", np.min), ("max_plcc", np.max)):
        edited = json.loads(json.dumps(report))
        edited[key] = 0.25
        with pytest.raises(InputError) as info:
            check_report_numbers(edited, cols, loso / "loso_seed0.json")
        truth = value([f["plcc"] for f in report["folds"]])
        assert str(info.value) == (
            f"{loso / 'loso_seed0.json'}: {key} 0.25 disagrees with the mean over its folds' "
            f"predictions ({truth:.6f}); the report was edited"
        )
    # the summary keys are optional: a report without them is checked fold by fold only
    for key in ("mean_plcc", "min_plcc", "max_plcc"):
        report.pop(key)
    check_report_numbers(report, cols, loso / "loso_seed0.json")


def test_report_with_a_different_fold_set(tmp_path):
    loso = _loso(tmp_path, {0: 0.96})
    report = json.loads((loso / "loso_seed0.json").read_text())
    report["folds"] = report["folds"][:2]
    with pytest.raises(InputError) as info:
        check_report_numbers(report, _cols(loso, 0), loso / "loso_seed0.json")
    assert str(info.value) == (
        f"{loso / 'loso_seed0.json'}: folds ['srcA', 'srcB'] differ from the prediction file's ['srcA', 'srcB', 'srcC']"
    )


def test_an_undefined_fold_plcc_must_be_null(tmp_path):
    """A fold whose predictions are constant has no PLCC: the report must say null, and the
    summary is over the defined folds only (numpy over the other two)."""
    corpus = make_corpus(tmp_path / "c.jsonl")
    loso, _ = make_loso_dir(tmp_path, {0: 0.96}, corpus=corpus)
    pred_path = loso / "loso_seed0.predictions.jsonl"
    rows = [json.loads(line) for line in pred_path.read_text().splitlines()]
    for r in rows:
        if r["fold"] == "srcC":
            r["pred"] = 50.0
    pred_path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = json.loads((loso / "loso_seed0.json").read_text())
    defined = [f["plcc"] for f in report["folds"] if f["held_out"] != "srcC"]
    report["folds"][2]["plcc"] = None
    report["folds"][2]["srocc"] = None  # constant predictions: no rank correlation either
    report["folds"][2]["rmse"] = float(np.sqrt(np.mean([(50.0 - r["vmaf"]) ** 2 for r in rows if r["fold"] == "srcC"])))
    sroccs = [f["srocc"] for f in report["folds"] if f["srocc"] is not None]
    report.update(
        mean_plcc=float(np.mean(defined)),
        min_plcc=min(defined),
        max_plcc=max(defined),
        mean_srocc=float(np.mean(sroccs)),
        mean_rmse=float(np.mean([f["rmse"] for f in report["folds"]])),
    )
    (loso / "loso_seed0.json").write_text(json.dumps(report))
    reports, preds, paths = load_evidence(loso, [0])
    assert paths == {0: pred_path} and reports[0]["folds"][2]["plcc"] is None
    report["folds"][2]["plcc"] = 0.9
    (loso / "loso_seed0.json").write_text(json.dumps(report))
    with pytest.raises(InputError, match=r"fold srcC: plcc 0\.9 disagrees with its predictions \(nan\)"):
        load_evidence(loso, [0])


def test_missing_prediction_file_message(tmp_path):
    loso, _ = make_loso_dir(tmp_path, {0: 0.96, 1: 0.96})
    (loso / "loso_seed1.predictions.jsonl").unlink()
    with pytest.raises(InputError) as info:
        load_evidence(loso, [0, 1])
    assert str(info.value) == (
        f"{loso}: held-out prediction file of seed 1 missing (loso_seed1.predictions.jsonl): "
        "the gate recomputes every PLCC from it"
    )


# ----------------------------------------------------------------------------- run_gate


def _coverage_by_hand(loso, seeds, coverage, label_free):
    """The worst fold's frame coverage, recomputed from the prediction files with numpy: each
    residual (with three or more seeds: divided by the seeds' population std + 4 x its median),
    labelled and, for the robust recipe, unlabelled: the larger; per fold, the interval from the *other* folds (each fold's
    `coverage` quantile by numpy's inverted CDF, then the largest: the tolerance rank below 22
    sources)."""
    rows = [
        [json.loads(line) for line in (loso / f"loso_seed{s}.predictions.jsonl").read_text().splitlines()]
        for s in seeds
    ]
    vmaf = np.array([r["vmaf"] for r in rows[0]])
    fold = np.array([r["fold"] for r in rows[0]])
    preds = np.array([[r["pred"] for r in seed] for seed in rows])
    frees = np.array([[r.get("pred_unlabelled", 0.0) for r in seed] for seed in rows])
    offset = 4.0 * np.median(preds.std(axis=0))
    # fewer than three seeds: too few to scale by their spread, the residuals are absolute
    scale, scale_free = (1.0, 1.0) if len(seeds) < 3 else (preds.std(axis=0) + offset, frees.std(axis=0) + offset)
    score = np.abs(vmaf - preds.mean(axis=0)) / scale
    if label_free:
        score = np.maximum(score, np.abs(vmaf - frees.mean(axis=0)) / scale_free)
    folds = sorted(set(fold.tolist()))
    q = {f: float(np.quantile(score[fold == f], coverage, method="inverted_cdf")) for f in folds}
    worst = 1.0
    for f in folds:
        others = max(v for g, v in q.items() if g != f)
        worst = min(worst, float(np.mean(score[fold == f] <= others)))
    return worst


@pytest.mark.parametrize("label_mask_rate", [0.5, 0.0])
def test_run_gate_interval_term_follows_the_recipe(tmp_path, label_mask_rate):
    """The robust recipe's interval also covers the unlabelled predictions; the seed recipe's not."""
    corpus = make_corpus(tmp_path / "c.jsonl")
    loso, _ = make_loso_dir(tmp_path, {0: 0.96, 1: 0.961, 2: 0.962}, corpus=corpus)
    for seed in (0, 1, 2):
        report = json.loads((loso / f"loso_seed{seed}.json").read_text())
        write_seed_report(
            loso, seed, corpus, extra={"recipe": {**report["recipe"], "label_mask_rate": label_mask_rate}}
        )
    for coverage in (0.95, 0.6):
        gate = run_gate(loso, [0, 1, 2], coverage=coverage)
        expected = _coverage_by_hand(loso, [0, 1, 2], coverage, label_free=label_mask_rate > 0)
        assert gate["interval_coverage_min"] == pytest.approx(expected, abs=1e-12)


def test_run_gate_label_free_needs_the_unlabelled_column(tmp_path):
    corpus = make_corpus(tmp_path / "c.jsonl")
    loso, _ = make_loso_dir(tmp_path, {0: 0.96}, corpus=corpus)
    path = loso / "loso_seed0.predictions.jsonl"
    rows = read_rows(path)
    for r in rows:
        del r["pred_unlabelled"]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(InputError) as info:
        run_gate(loso, [0])  # the helper's recipe is the robust one (label_mask_rate 0.5)
    assert str(info.value) == f"{path}: the recipe is label-free but the prediction file has no pred_unlabelled column"
    report = json.loads((loso / "loso_seed0.json").read_text())
    write_seed_report(loso, 0, corpus, extra={"recipe": {**report["recipe"], "label_mask_rate": 0.0}})
    assert run_gate(loso, [0])["interval_coverage_min"] is not None


def test_run_gate_of_a_report_without_recipe_is_the_seed_recipe(tmp_path):
    corpus = make_corpus(tmp_path / "c.jsonl")
    loso, _ = make_loso_dir(tmp_path, {0: 0.96}, corpus=corpus)
    _edit_report(loso, 0, recipe=_DROP)
    gate = run_gate(loso, [0])
    assert gate["interval_coverage_min"] == pytest.approx(_coverage_by_hand(loso, [0], 0.95, False), abs=1e-12)


def test_thresholds_minus_eps_exactly_still_pass():
    """The slack is inclusive: a value exactly at threshold -/+ GATE_EPS (as float arithmetic
    gives it) passes every term."""
    at_seed = T.PER_SEED_PLCC_MIN - EPS
    gate = evaluate_gate({0: at_seed}, 0.9, **passing_terms())
    assert gate["failing_seeds"] == [] and gate["per_seed_pass"]
    at_mean = T.MEAN_PLCC_MIN - EPS
    assert evaluate_gate({0: at_mean}, 0.9, **passing_terms())["mean_plcc_pass"]
    at_spread = T.PLCC_SPREAD_MAX + EPS
    gate = evaluate_gate({0: 0.0, 1: at_spread}, 0.9, **passing_terms())
    assert gate["plcc_spread"] == at_spread and gate["plcc_spread_pass"]
    assert evaluate_gate({0: 0.96}, T.FOLD_COVERAGE_MIN - EPS, **passing_terms())["interval_coverage_pass"]


def test_failing_aspects_quote_the_threshold_the_gate_was_evaluated_with():
    gate = evaluate_gate({0: 0.96}, 0.5, **passing_terms())
    gate["interval_coverage_threshold"] = 0.6  # a verdict written under another threshold
    assert failing_aspects(gate) == [
        "worst-fold interval coverage 0.500 < 0.600 (a new source's frames fall "
        "outside the calibrated interval too often)"
    ]


def test_a_schema_invalid_seed_report_is_named(tmp_path):
    loso = _loso(tmp_path, {0: 0.96})
    path = _edit_report(loso, 0, folds=_DROP)
    with pytest.raises(InputError) as info:
        load_seed_report(path, 0)
    assert str(info.value) == f"{path}: malformed seed report: (top): 'folds' is a required property"
