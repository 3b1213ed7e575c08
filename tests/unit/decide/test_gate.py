"""The production gate: thresholds from one module, the gate report's published keys, exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmafkit import thresholds as T
from vmafkit.decide.derive import run_gate
from vmafkit.decide.gate import evaluate_gate, failing_aspects, load_seed_reports
from vmafkit.errors import InputError

from ...factories import cli, make_corpus, make_loso_dir, passing_terms, write_predictions, write_seed_report

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
