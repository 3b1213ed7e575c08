"""The production gate: thresholds from one module, the gate report's published keys, exit codes.

Edge cases of the production gate found by mutation testing (tools/mutation.py).

The thresholds are read from `vmafkit.thresholds` (the one place that holds them); every
expected PLCC comes from scipy (the helper writes it) or is worked out by hand next to the test.

Edge cases of the gate's terms in VMAF points (`accuracy_checks`), of the lines that name a
failing term (`failing_aspects`), and of the recomputation of a seed report's numbers, found by
mutation testing (tools/mutation.py).

The oracles: the thresholds of `vmafkit.thresholds` with the arithmetic worked out next to each
test, the exact messages the gate prints, and scipy / numpy for every statistic of a prediction
file (the factory writes the reports with scipy's pearsonr / spearmanr and numpy's RMSE).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import pearsonr, spearmanr

from vmafkit import thresholds as T
from vmafkit.decide import gate as G
from vmafkit.decide.derive import run_gate
from vmafkit.decide.gate import (
    accuracy_checks,
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

from ...factories import cli, make_corpus, make_loso_dir, passing_terms, read_rows, write_predictions, write_seed_report

GATE_KEYS = {
    "checks",
    "passed",
    "mean_plcc",
    "mean_plcc_threshold",
    "mean_plcc_pass",
    "plcc_spread",
    "plcc_spread_max",
    "plcc_spread_pass",
    "per_seed_plccs",
    "per_seed_min",
    "per_seed_pass",
    "failing_seeds",
    "interval_coverage_min",
    "interval_coverage_threshold",
    "interval_coverage_pass",
}
COVERED = 0.9  # a worst-fold interval coverage above the gate's threshold


def test_thresholds_values():
    assert (T.MEAN_PLCC_MIN, T.PLCC_SPREAD_MAX, T.PER_SEED_PLCC_MIN) == (0.95, 0.005, 0.95)
    assert T.EXPORT_PARITY_TOL == 1e-4 and T.DEFAULT_COVERAGE == 0.95
    assert T.FOLD_COVERAGE_MIN == 0.75 and T.SOURCE_LEVEL == 0.9


def test_thresholds_are_not_repeated_elsewhere():
    """Only thresholds.py spells the gate numbers among the decide/serve modules."""
    root = Path(__import__("vmafkit").__file__).parent
    files = [
        "decide/gate.py",
        "decide/verdict.py",
        "serve/export.py",
        "serve/registry.py",
        "serve/predict.py",
        "decide/calibration.py",
        "cli/decide.py",
        "cli/serve.py",
    ]
    for name in files:
        text = (root / name).read_text()
        code = re.sub(r'""".*?"""', "", text, flags=re.S)
        assert not re.search(r"(?<![\d.])0\.95(?!\d)|0\.005(?!\d)|1e-4", code), name


def test_all_pass_and_report_keys():
    gate = evaluate_gate({0: 0.96, 1: 0.961, 2: 0.962, 3: 0.96, 4: 0.9605}, COVERED, **passing_terms())
    assert set(gate) == GATE_KEYS
    assert gate["passed"] and gate["mean_plcc_pass"] and gate["plcc_spread_pass"] and gate["per_seed_pass"]
    assert gate["per_seed_plccs"] == {"0": 0.96, "1": 0.961, "2": 0.962, "3": 0.96, "4": 0.9605}
    assert gate["failing_seeds"] == []
    assert gate["plcc_spread"] == pytest.approx(0.002)
    assert failing_aspects(gate) == []


def test_spread_exactly_at_threshold_passes():
    # 0.955 - 0.950 is 0.0050000000000000044 in binary: the gate must still read it as 0.005.
    gate = evaluate_gate({0: 0.955, 1: 0.950}, COVERED, **passing_terms())
    assert gate["plcc_spread_pass"] and gate["passed"]


def test_spread_fails_names_seeds():
    gate = evaluate_gate({0: 0.99, 1: 0.97, 2: 0.98}, COVERED, **passing_terms())
    assert not gate["passed"] and not gate["plcc_spread_pass"] and gate["per_seed_pass"] and gate["mean_plcc_pass"]
    (line,) = failing_aspects(gate)
    assert "plcc_spread 0.0200 > 0.0050" in line and "seed 1 lowest" in line and "seed 0 highest" in line


def test_one_seed_below_fails():
    gate = evaluate_gate({0: 0.952, 1: 0.949, 2: 0.952}, COVERED, **passing_terms())
    assert not gate["passed"] and gate["failing_seeds"] == [1] and not gate["per_seed_pass"]
    assert gate["plcc_spread_pass"] and gate["mean_plcc_pass"]
    assert any("seed 1 plcc 0.9490 < 0.9500" in a for a in failing_aspects(gate))


def test_mean_below_fails():
    gate = evaluate_gate({0: 0.90, 1: 0.901}, COVERED, **passing_terms())
    assert not gate["mean_plcc_pass"] and gate["failing_seeds"] == [0, 1]
    assert failing_aspects(gate)[0].startswith("mean_plcc 0.9005 < 0.9500")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0.9, max_value=1.0), min_size=1, max_size=6))
def test_gate_is_the_three_conditions(plccs):
    gate = evaluate_gate(dict(enumerate(plccs)), COVERED, **passing_terms())
    mean = sum(plccs) / len(plccs)
    spread = max(plccs) - min(plccs)
    eps = T.GATE_EPS
    expected = mean >= 0.95 - eps and spread <= 0.005 + eps and min(plccs) >= 0.95 - eps
    assert gate["passed"] == expected
    assert gate["failing_seeds"] == [i for i, p in enumerate(plccs) if p < 0.95 - eps]


def test_interval_coverage_term():
    plccs = {0: 0.96, 1: 0.961}
    at = evaluate_gate(plccs, 0.75, **passing_terms())
    assert at["passed"] and at["interval_coverage_pass"] and at["interval_coverage_min"] == 0.75
    below = evaluate_gate(plccs, 0.74, **passing_terms())
    assert not below["passed"] and not below["interval_coverage_pass"] and below["mean_plcc_pass"]
    assert failing_aspects(below) == [
        "worst-fold interval coverage 0.740 < 0.750 (a new source's frames fall "
        "outside the calibrated interval too often)"
    ]
    unmeasured = evaluate_gate(plccs, None, **passing_terms())
    assert not unmeasured["passed"] and "not measured" in failing_aspects(unmeasured)[0]


def _loso(tmp_path, plccs):
    loso, _ = make_loso_dir(tmp_path, plccs, corpus=make_corpus(tmp_path / "c.jsonl"))
    return loso


def test_gate_recomputes_plcc_from_predictions(tmp_path):
    """The gate's per-seed PLCC is the one the prediction file gives (built to exactly 0.97 and
    0.962 per fold; checked against scipy in the helper), not a number typed into a report."""
    loso = _loso(tmp_path, {0: 0.97, 1: 0.962})
    gate = run_gate(loso, [0, 1])
    assert gate["per_seed_plccs"]["0"] == pytest.approx(0.97, abs=1e-9)
    assert gate["per_seed_plccs"]["1"] == pytest.approx(0.962, abs=1e-9)
    assert gate["plcc_spread"] == pytest.approx(0.008, abs=1e-9) and not gate["passed"]


@pytest.mark.parametrize(
    "edit",
    [
        lambda r: r.update(mean_plcc=0.99),
        lambda r: r["folds"][1].update(plcc=0.99),
        lambda r: r.update(min_plcc=0.99),
        lambda r: r["folds"][0].update(held_out="srcZ"),
    ],
)
def test_edited_seed_report_is_refused(tmp_path, edit):
    """Attack: only a cached number in the report is edited to pass the gate (folds average 0.76)."""
    loso = _loso(tmp_path, {0: 0.76})
    path = loso / "loso_seed0.json"
    report = json.loads(path.read_text())
    edit(report)
    path.write_text(json.dumps(report))
    with pytest.raises(InputError, match=r"loso_seed0\.json: .*(disagrees|differ)"):
        run_gate(loso, [0])
    result = cli(["gate", loso, "--seeds", "0"])
    assert result.exit_code == 2 and "loso_seed0.json" in result.stderr and "Traceback" not in result.stderr


def test_gate_without_predictions_is_refused(tmp_path):
    loso, _ = make_loso_dir(tmp_path, {0: 0.96}, predictions=False)
    with pytest.raises(InputError, match="prediction file of seed 0 missing"):
        run_gate(loso, [0])


def test_missing_seed_report_is_input_error(tmp_path):
    loso = _loso(tmp_path, {0: 0.96, 1: 0.96})
    with pytest.raises(InputError, match="loso_seed2.json"):
        load_seed_reports(loso, [0, 1, 2])


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda r: r.pop("mean_plcc"), "mean_plcc"),
        (lambda r: r.update(mean_plcc=0.5), "mean_plcc 0.5 disagrees"),
        (lambda r: r.update(mean_plcc="high"), "mean_plcc"),
        (lambda r: r.update(seed=7), "seed 7"),
        (lambda r: r.update(mean_plcc=1.5), r"\[-1, 1\]"),
        (lambda r: r.update(num_codecs=12), "num_codecs"),
        (lambda r: r.update(folds=[]), "folds"),
    ],
)
def test_malformed_seed_report(tmp_path, mutate, message):
    loso = _loso(tmp_path, {0: 0.96})
    path = loso / "loso_seed0.json"
    report = json.loads(path.read_text())
    mutate(report)
    path.write_text(json.dumps(report))
    with pytest.raises(InputError, match=message):
        run_gate(loso, [0])


def test_not_json_seed_report(tmp_path):
    loso = _loso(tmp_path, {0: 0.96})
    (loso / "loso_seed0.json").write_text("{not json")
    with pytest.raises(InputError, match="malformed seed report"):
        run_gate(loso, [0])


def test_cli_gate_json_and_exit_codes(tmp_path):
    loso = _loso(tmp_path, {0: 0.96, 1: 0.962})
    ok = cli(["gate", loso, "--seeds", "0,1", "--json"])
    assert ok.exit_code == 0
    report = json.loads(ok.stdout)
    assert set(report) == GATE_KEYS and report["passed"] is True
    write_predictions(loso, 1, tmp_path / "c.jsonl", plcc=0.94)
    write_seed_report(loso, 1, tmp_path / "c.jsonl")
    fail = cli(["gate", loso, "--seeds", "0,1"])
    assert fail.exit_code == 1 and "FAIL" in fail.stdout and "seed 1: 0.9400  <- below" in fail.stdout
    missing = cli(["gate", loso, "--seeds", "0,1,5"])
    assert missing.exit_code == 2 and "loso_seed5.json" in missing.stderr
    bad = cli(["gate", loso, "--seeds", "0,x"])
    assert bad.exit_code == 2


EPS = T.GATE_EPS


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
