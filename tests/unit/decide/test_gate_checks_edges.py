"""Edge cases of the gate's terms in VMAF points (`accuracy_checks`), of the lines that name a
failing term (`failing_aspects`), and of the recomputation of a seed report's numbers, found by
mutation testing (tools/mutation.py).

The oracles: the thresholds of `vmafkit.thresholds` with the arithmetic worked out next to each
test, the exact messages the gate prints, and scipy / numpy for every statistic of a prediction
file (the factory writes the reports with scipy's pearsonr / spearmanr and numpy's RMSE)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from vmafkit import thresholds as T
from vmafkit.decide import gate as G
from vmafkit.decide.gate import accuracy_checks, check_report_numbers, evaluate_gate, failing_aspects, report_corpus
from vmafkit.errors import InputError

from ...factories import make_corpus, make_loso_dir, passing_terms

EPS = T.GATE_EPS


def _terms(**over):
    """passing_terms() with some blocks replaced: accuracy=..., calibration=..."""
    terms = passing_terms()
    terms.update(over)
    return terms


def _acc(**over):
    acc = passing_terms()["accuracy"]
    acc.update(over)
    return acc


def _cal(**over):
    cal = passing_terms()["calibration"]
    cal.update(over)
    return cal


# ----------------------------------------------------------------------------- accuracy_checks


def test_every_term_of_passing_blocks_by_hand():
    """passing_terms(): each term's value, its threshold from thresholds.py, and pass. The baseline
    RMSE allowance of 1.2 is 1.2 + max(0.10 x 1.2, 1.0) = 2.2; the SROCC floor is 0.99 - 0.005."""
    checks = accuracy_checks(**passing_terms())
    assert checks == {
        "pooled_rmse": {"value": 1.0, "threshold": 5.0, "pass": True},
        "source_rmse_max": {"value": 1.5, "threshold": 8.0, "pass": True},
        "source_bias_max": {"value": 0.5, "threshold": 5.0, "pass": True},
        "frame_half_width_median": {"value": 3.0, "threshold": 8.0, "pass": True},
        "refusal_rate": {"value": 0.0, "threshold": 0.25, "pass": True},
        "coverage_sources_below": {"value": 1, "threshold": 4.0, "pass": True},
        "baseline_rmse": {"value": 1.0, "threshold": pytest.approx(2.2, abs=1e-12), "pass": True},
        "baseline_srocc": {"value": 0.99, "threshold": pytest.approx(0.985, abs=1e-12), "pass": True},
        "baseline_paired": {"value": 0.5, "threshold": 0.05, "pass": True},
    }
    assert all(type(c["pass"]) is bool for c in checks.values())


def test_missing_blocks_fail_every_term_they_carry():
    checks = accuracy_checks(None, None)
    assert list(checks) == [
        "pooled_rmse",
        "source_rmse_max",
        "source_bias_max",
        "frame_half_width_median",
        "refusal_rate",
        "coverage_sources_below",
        "baseline_rmse",
        "baseline_srocc",
        "baseline_paired",
    ]
    for name, check in checks.items():
        assert check["value"] is None and check["pass"] is False, name
    # without a baseline the thresholds of the baseline terms cannot be stated (NaN)
    assert math.isnan(checks["baseline_rmse"]["threshold"]) and math.isnan(checks["baseline_srocc"]["threshold"])
    assert checks["baseline_paired"]["threshold"] == T.BASELINE_ALPHA
    # a coverage check without its allowance gates the count against -1: nothing passes
    assert checks["coverage_sources_below"]["threshold"] == -1.0


def test_a_coverage_check_without_its_allowance_fails_even_at_zero_below():
    """0 sources below, no n_below_allowed: 0 <= -1 is false (the allowance was never computed)."""
    checks = accuracy_checks(passing_terms()["accuracy"], _cal(coverage_check={"n_below": 0}))
    assert checks["coverage_sources_below"] == {"value": 0, "threshold": -1.0, "pass": False}
    assert not evaluate_gate({0: 0.96}, 0.9, **_terms(calibration=_cal(coverage_check={"n_below": 0})))["passed"]


@pytest.mark.parametrize(
    ("name", "block", "path", "threshold"),
    [
        ("pooled_rmse", "accuracy", ("pooled", "rmse"), T.POOLED_RMSE_MAX),
        ("source_rmse_max", "accuracy", ("source_rmse_max", "value"), T.SOURCE_RMSE_MAX),
        ("source_bias_max", "accuracy", ("source_bias_max", "value"), T.SOURCE_BIAS_MAX),
        ("frame_half_width_median", "calibration", ("frame", "half_width"), T.FRAME_HALF_WIDTH_MEDIAN_MAX),
        ("refusal_rate", "calibration", ("refused", "rate"), T.REFUSAL_RATE_MAX),
    ],
)
def test_at_most_terms_have_exactly_eps_of_slack(name, block, path, threshold):
    def checked(value):
        terms = passing_terms()
        terms[block][path[0]][path[1]] = value
        return accuracy_checks(**terms)[name]

    assert checked(threshold + EPS) == {"value": threshold + EPS, "threshold": threshold, "pass": True}
    assert checked(threshold + EPS / 2)["pass"] is True
    assert checked(threshold)["pass"] is True
    assert checked(threshold + 3 * EPS)["pass"] is False
    assert checked(math.nan) == {"value": None, "threshold": threshold, "pass": False}
    assert checked(math.inf) == {"value": None, "threshold": threshold, "pass": False}


def test_coverage_count_is_inclusive():
    def checked(n_below, allowed):
        return accuracy_checks(None, {"coverage_check": {"n_below": n_below, "n_below_allowed": allowed}})

    assert checked(4, 4)["coverage_sources_below"] == {"value": 4, "threshold": 4.0, "pass": True}
    assert checked(5, 4)["coverage_sources_below"] == {"value": 5, "threshold": 4.0, "pass": False}


def test_baseline_srocc_floor_has_exactly_eps_of_slack():
    """The SROCC must reach the baseline's minus 0.005: at the floor (and EPS below) it passes."""

    def checked(srocc):
        acc = _acc(pooled={"rmse": 1.0, "srocc": srocc}, baseline={"pooled": {"rmse": 1.2, "srocc": 0.5}})
        return accuracy_checks(acc, None)["baseline_srocc"]

    floor = 0.5 - T.BASELINE_SROCC_MARGIN  # 0.495
    assert checked(floor)["threshold"] == floor
    assert checked(floor)["pass"] is True
    assert checked(floor - EPS)["pass"] is True
    assert checked(floor - 3 * EPS)["pass"] is False
    assert checked(0.49)["pass"] is False


def test_baseline_paired_p_value_is_gated_from_below():
    """paired_worse_p >= 0.05 passes (inclusive, EPS of slack); below it fails, value shown."""

    def checked(p):
        return accuracy_checks(_acc(baseline={"pooled": {"rmse": 1.2, "srocc": 0.99}, "paired_worse_p": p}), None)

    assert checked(T.BASELINE_ALPHA)["baseline_paired"] == {"value": 0.05, "threshold": 0.05, "pass": True}
    assert checked(T.BASELINE_ALPHA - EPS)["baseline_paired"]["pass"] is True
    assert checked(0.01)["baseline_paired"] == {"value": 0.01, "threshold": 0.05, "pass": False}
    assert checked(0.5)["baseline_paired"] == {"value": 0.5, "threshold": 0.05, "pass": True}


def test_a_baseline_without_a_paired_test_passes_that_term_unmeasured():
    """A baseline whose per-source differences were all 0 (or one source) has no p-value: nothing
    to test, the term passes, unmeasured; without any baseline it fails."""
    acc = _acc(baseline={"pooled": {"rmse": 1.2, "srocc": 0.99}, "paired_worse_p": None})
    assert accuracy_checks(acc, None)["baseline_paired"] == {"value": None, "threshold": 0.05, "pass": True}
    acc = _acc(baseline={"pooled": {"rmse": 1.2, "srocc": 0.99}})
    assert accuracy_checks(acc, None)["baseline_paired"] == {"value": None, "threshold": 0.05, "pass": True}
    no_base = _acc(baseline=None)
    assert accuracy_checks(no_base, None)["baseline_paired"] == {"value": None, "threshold": 0.05, "pass": False}


# ----------------------------------------------------------------------------- the lines of failing terms


def _failing(accuracy=None, calibration=None):
    terms = _terms()
    if accuracy is not None:
        terms["accuracy"] = accuracy
    if calibration is not None:
        terms["calibration"] = calibration
    gate = evaluate_gate({0: 0.96}, 0.9, **terms)
    return failing_aspects(gate, terms["accuracy"])


def test_failing_source_terms_name_their_sources():
    acc = _acc(
        source_rmse_max={"source": "srcQ", "value": 9.0},
        source_bias_max={"source": "srcZ", "value": 6.5},
    )
    assert _failing(accuracy=acc) == [
        "worst source RMSE 9.00 VMAF > 8.00 (srcQ) (one source is predicted badly)",
        "worst source |bias| 6.50 VMAF > 5.00 (srcZ) (predictions are shifted)",
    ]


def test_failing_measured_terms_lines():
    acc = _acc(
        pooled={"rmse": 6.0, "srocc": 0.9},
        baseline={"pooled": {"rmse": 1.2, "srocc": 0.99}, "paired_worse_p": 0.0123},
    )
    cal = _cal(frame={"half_width": 8.5}, refused={"rate": 0.3}, coverage_check={"n_below": 5, "n_below_allowed": 4})
    assert _failing(accuracy=acc, calibration=cal) == [
        "pooled held-out RMSE 6.00 VMAF > 5.00 (the ensemble is inaccurate)",
        "median served frame half-width 8.50 VMAF > 8.00 (the interval is too wide to act on)",
        "30.0% of held-out frames refused by their fold's domain > 25% "
        "(new content like the corpus's is often outside the training domain)",
        "5 sources below the frame coverage at an interval calibrated without them > 4 allowed "
        "(the interval's guarantee does not hold)",
        # allowance 1.2 + max(0.12, 1.0) = 2.2
        "pooled RMSE 6.000 > libvmaf's nu-SVR recipe's plus its margin = 2.200 "
        "(the ensemble does not beat the classic baseline)",
        # floor 0.99 - 0.005 = 0.985
        "pooled SROCC 0.9000 < libvmaf's nu-SVR recipe's - 0.005 = 0.9850 "
        "(the ensemble ranks frames worse than the classic baseline)",
        "per-source RMSE worse than the nu-SVR baseline's plus its margin (Wilcoxon p = 0.0123 < 0.05) "
        "(the ensemble is significantly worse than the classic baseline)",
    ]


def test_unmeasured_terms_lines():
    """No blocks at all: each term not measured; the paired test says it was not possible."""
    gate = evaluate_gate({0: 0.96}, 0.9)
    assert failing_aspects(gate) == [
        "pooled_rmse not measured (the ensemble is inaccurate)",
        "source_rmse_max not measured (one source is predicted badly)",
        "source_bias_max not measured (predictions are shifted)",
        "frame_half_width_median not measured (the interval is too wide to act on)",
        "refusal_rate not measured (new content like the corpus's is often outside the training domain)",
        "coverage_sources_below not measured (the interval's guarantee does not hold)",
        "baseline_rmse not measured (the ensemble does not beat the classic baseline)",
        "baseline_srocc not measured (the ensemble ranks frames worse than the classic baseline)",
        "baseline_paired: no paired test possible (the ensemble is significantly worse than the classic baseline)",
    ]


def test_a_term_unknown_to_this_vmafkit_gets_a_plain_line():
    gate = evaluate_gate({0: 0.96}, 0.9, **passing_terms())
    gate["checks"]["mystery"] = {"value": 1.5, "threshold": 1.0, "pass": False}
    gate["checks"]["riddle"] = {"value": None, "threshold": 1.0, "pass": False}
    assert failing_aspects(gate) == ["mystery 1.5 vs 1.0 (failed)", "riddle not measured (failed)"]


def test_check_line_without_a_named_source_says_so():
    check = {"value": 9.0, "threshold": 8.0, "pass": False}
    assert G._check_line("source_rmse_max", check, {}) == (
        "worst source RMSE 9.00 VMAF > 8.00 (source not given) (one source is predicted badly)"
    )
    # failing_aspects without the accuracy block (verdict.py's path when it has none): never "(None)"
    terms = passing_terms()
    terms["accuracy"]["source_rmse_max"] = {"source": "srcQ", "value": 9.0}
    gate = evaluate_gate({0: 0.96}, 0.9, **terms)
    assert failing_aspects(gate) == [
        "worst source RMSE 9.00 VMAF > 8.00 (source not given) (one source is predicted badly)"
    ]
    assert failing_aspects(gate, terms["accuracy"]) == [
        "worst source RMSE 9.00 VMAF > 8.00 (srcQ) (one source is predicted badly)"
    ]
    assert G._check_line("source_bias_max", {"value": 5.5, "threshold": 5.0}, {"source_bias_max": "srcB"}) == (
        "worst source |bias| 5.50 VMAF > 5.00 (srcB) (predictions are shifted)"
    )


# ----------------------------------------------------------------------------- _shown


def test_a_corpus_value_is_shown_whole_up_to_60_characters():
    at_60 = "x" * 58  # repr adds the two quotes: 60 characters
    at_61 = "y" * 59  # 61 characters: the first 57 and "..."
    with pytest.raises(InputError) as info:
        report_corpus({"corpus": at_60})
    assert f"not '{at_60}';" in str(info.value)
    with pytest.raises(InputError) as info:
        report_corpus({"corpus": at_61})
    assert str(info.value) == (
        "corpus must be the object `vmafkit train` writes ({path, sha256, rows, ...}), not "
        "'" + "y" * 56 + "...; retrain with `vmafkit train`"
    )


# ----------------------------------------------------------------------------- check_report_numbers


@pytest.fixture
def evidence(tmp_path):
    loso, _ = make_loso_dir(tmp_path, {0: 0.96}, corpus=make_corpus(tmp_path / "c.jsonl"))
    from vmafkit.decide.calibration import read_predictions

    path = loso / "loso_seed0.json"
    return json.loads(path.read_text()), read_predictions(loso / "loso_seed0.predictions.jsonl"), path


def _fold_srocc(pred, vmaf):
    return spearmanr(pred, vmaf)[0]


def _fold_rmse(pred, vmaf):
    return float(np.sqrt(np.mean((pred - vmaf) ** 2)))


@pytest.mark.parametrize(
    ("stat", "fold_index", "source", "edited", "oracle"),
    [("srocc", 1, "srcB", 0.25, _fold_srocc), ("rmse", 0, "srcA", 99.0, _fold_rmse)],
)
def test_a_fold_statistic_that_disagrees_is_refused(evidence, stat, fold_index, source, edited, oracle):
    report, cols, path = evidence
    inside = cols["fold"] == source
    truth = oracle(cols["pred"][inside], cols["vmaf"][inside])
    report["folds"][fold_index][stat] = edited
    with pytest.raises(InputError) as info:
        check_report_numbers(report, cols, path)
    assert str(info.value) == (
        f"{path}: fold {source}: {stat} {edited} disagrees with its predictions ({truth:.6f}); "
        "the report was edited or belongs to other predictions"
    )


def test_fold_srocc_and_rmse_are_optional_but_plcc_is_not(evidence):
    report, cols, path = evidence
    for fold in report["folds"]:
        del fold["srocc"], fold["rmse"]
    check_report_numbers(report, cols, path)  # a fold without srocc / rmse is checked on its PLCC only
    inside = cols["fold"] == "srcA"
    truth = np.corrcoef(cols["pred"][inside], cols["vmaf"][inside])[0, 1]
    del report["folds"][0]["plcc"]
    with pytest.raises(InputError) as info:
        check_report_numbers(report, cols, path)
    assert str(info.value) == (
        f"{path}: fold srcA: plcc None disagrees with its predictions ({truth:.6f}); "
        "the report was edited or belongs to other predictions"
    )


@pytest.mark.parametrize("key", ["mean_srocc", "mean_rmse"])
def test_summary_srocc_and_rmse_must_match_the_folds(evidence, key):
    report, cols, path = evidence
    per_fold = {"mean_srocc": "srocc", "mean_rmse": "rmse"}[key]
    truth = float(np.mean([f[per_fold] for f in report["folds"]]))
    report[key] = 0.125
    with pytest.raises(InputError) as info:
        check_report_numbers(report, cols, path)
    assert str(info.value) == (
        f"{path}: {key} 0.125 disagrees with the mean over its folds' predictions ({truth:.6f}); the report was edited"
    )
