"""Edge cases of the subjective gate (`vmafkit.decide.subjective_gate`) found by mutation testing.

The inputs have the shapes `decide.subjective_evidence` hands the gate: the ensemble's bootstrap block
({plcc, plcc_ci: [lo, hi], srocc, ...}), the conformal interval block ({held_out_coverage, ...}) and
the paired comparison with nu-SVR ({plcc_diff, plcc_p_value, srocc_diff, ..., rmse_p_value}). Every expected verdict is
worked out by hand from the rules in the module doc, and every expected message is written out in
full: the lines are what a user reads.

The subjective gate refuses a bootstrap too small for its paired test to reach significance.

Oracle, by hand: the paired test's p-value is 2 min(#{d* <= 0} + 1, #{d* >= 0} + 1) / (B + 1), so it
is at least 2/(B + 1). The rule asks that smallest p-value to be at most a fifth of the
significance level 0.05: 2/(B + 1) <= 0.01, B + 1 >= 200, B >= 199. With B = 10 the p-value never
falls below 2/11 = 0.18, and "not significantly worse than nu-SVR" would pass whatever the data.

Issue 20, item 3 (subjective): the gate never reads its settings from the file it checks
unchecked, and refits its cheap baselines instead of trusting their recorded predictions. The
oracles: the report's own numbers as the run wrote them, scikit-learn's NuSVR fitted here on the
items file with libvmaf's published settings, and hand-chosen bad values.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from tests.unit.pipeline.test_subjective_run import CANON, make_table, opts
from vmafkit import thresholds as T
from vmafkit.cli.subjective import subjective_group as subjective
from vmafkit.corpus.subjective_synthetic import write_synthetic_table
from vmafkit.decide.subjective_gate import check_resamples, evaluate
from vmafkit.decide.subjective_recheck import recheck
from vmafkit.decide.subjective_stats import ContentBootstrap
from vmafkit.errors import InputError
from vmafkit.io import dumps_json
from vmafkit.pipeline.subjective import Options, check_options, train_from_table
from vmafkit.train.subjective_models import subjective_recipe

EPS = T.GATE_EPS
CHECKS = ("contents", "plcc", "srocc", "plcc_ci_low", "coverage", "not_worse_than_nusvr")


def test_the_thresholds_the_hand_written_messages_assume():
    # every literal below (0.85, 0.75, 10 contents, p < 0.05, 199 resamples) was computed for these
    assert (T.SUBJECTIVE_MIN_CONTENTS, T.SUBJECTIVE_PLCC_MIN, T.SUBJECTIVE_SROCC_MIN) == (10, 0.85, 0.85)
    assert (T.SUBJECTIVE_PLCC_LOW_MIN, T.SUBJECTIVE_COVERAGE_MIN, T.SUBJECTIVE_SIGNIFICANCE) == (0.75, 0.85, 0.05)
    assert T.SUBJECTIVE_BOOTSTRAP_P_FACTOR == 5


def _good() -> tuple[int, dict, dict, dict]:
    """A model that clears every check with room to spare (12 contents)."""
    ensemble = {"plcc": 0.91, "plcc_ci": [0.82, 0.95], "srocc": 0.89, "srocc_ci": [0.80, 0.94], "n": 60}
    interval = {"held_out_coverage": 0.9, "fold_coverage_min": 0.8}
    versus = {"plcc_diff": 0.012, "plcc_p_value": 0.41, "plcc_diff_ci": [-0.01, 0.03]}
    return 12, ensemble, interval, versus


def _versus(**given) -> dict:
    """The gate's record of the comparison: all six keys, None where not given."""
    keys = [f"{s}_{k}" for s in ("plcc", "srocc", "rmse") for k in ("diff", "p_value")]
    return {k: given.get(k) for k in keys}


def _failing(result: dict) -> list[str]:
    return [name for name, check in result["checks"].items() if not check["pass"]]


# ----------------------------------------------------------------------------- the whole report


def test_a_good_model_promotes_and_the_report_names_every_value_and_threshold():
    n, ensemble, interval, versus = _good()
    result = evaluate(n, ensemble, interval, versus)
    assert result == {
        "passed": True,
        "verdict": "PROMOTE",
        "failing_aspects": [],
        "checks": {
            "contents": {"pass": True, "value": 12, "threshold": 10},
            "plcc": {"pass": True, "value": 0.91, "threshold": 0.85},
            "srocc": {"pass": True, "value": 0.89, "threshold": 0.85},
            "plcc_ci_low": {"pass": True, "value": 0.82, "threshold": 0.75},  # the LOWER end of [0.82, 0.95]
            "coverage": {"pass": True, "value": 0.9, "threshold": 0.85},
            "not_worse_than_nusvr": {
                "pass": True,
                "value": _versus(plcc_diff=0.012, plcc_p_value=0.41),
                "threshold": 0.05,
            },
        },
    }
    assert tuple(result["checks"]) == CHECKS


def test_a_model_failing_everything_holds_with_one_readable_line_per_check():
    # 9 contents; PLCC 0.8; SROCC 0.84321 (4 decimals: 0.8432); interval [0.7, 0.95] whose lower
    # end fails and upper end would pass; coverage 0.8; 3.12 PLCC points behind nu-SVR at p = 0.012
    ensemble = {"plcc": 0.8, "plcc_ci": [0.7, 0.95], "srocc": 0.84321}
    interval = {"held_out_coverage": 0.8}
    versus = {"plcc_diff": -0.0312, "plcc_p_value": 0.012}
    result = evaluate(9, ensemble, interval, versus)
    assert result["verdict"] == "HOLD" and result["passed"] is False
    assert _failing(result) == list(CHECKS)
    assert result["failing_aspects"] == [
        "9 contents < 10: too few to promote",
        "held-out PLCC 0.8000 < 0.85",
        "held-out SROCC 0.8432 < 0.85",
        "PLCC interval's lower end 0.7000 < 0.75",
        "held-out interval coverage 0.8000 < 0.85",
        "significantly worse than nu-SVR (libvmaf's recipe): PLCC difference -0.0312, p = 0.012 < 0.05",
    ]
    assert result["checks"]["plcc_ci_low"]["value"] == 0.7
    assert result["checks"]["not_worse_than_nusvr"] == {
        "pass": False,
        "value": _versus(plcc_diff=-0.0312, plcc_p_value=0.012),
        "threshold": 0.05,
    }


def test_undefined_statistics_fail_their_checks_and_read_n_a():
    """A constant prediction has no PLCC or SROCC (None in the report), a bootstrap whose every
    resample was undefined gives the interval [None, None], an interval block without coverage
    and an undefined paired difference: none of them is a number that clears a threshold, and
    an undefined difference is not evidence of being worse."""
    ensemble = {"plcc": None, "plcc_ci": [None, None], "srocc": None}
    versus = {"plcc_diff": None, "plcc_p_value": None}
    result = evaluate(12, ensemble, {}, versus)
    assert _failing(result) == ["plcc", "srocc", "plcc_ci_low", "coverage"]
    assert result["failing_aspects"] == [
        "held-out PLCC n/a < 0.85",
        "held-out SROCC n/a < 0.85",
        "PLCC interval's lower end n/a < 0.75",
        "held-out interval coverage n/a < 0.85",
    ]
    assert result["checks"]["coverage"]["value"] is None
    assert result["checks"]["not_worse_than_nusvr"]["value"] == _versus()


def test_a_missing_interval_block_fails_the_lower_end_check():
    n, ensemble, interval, versus = _good()
    del ensemble["plcc_ci"]
    result = evaluate(n, ensemble, interval, versus)
    assert _failing(result) == ["plcc_ci_low"]
    assert result["failing_aspects"] == ["PLCC interval's lower end n/a < 0.75"]


# ----------------------------------------------------------------------------- boundaries


@pytest.mark.parametrize(("n_contents", "ok"), [(9, False), (10, True), (11, True)])
def test_ten_contents_are_enough(n_contents, ok):
    n, ensemble, interval, versus = _good()
    result = evaluate(n_contents, ensemble, interval, versus)
    assert result["checks"]["contents"] == {"pass": ok, "value": n_contents, "threshold": 10}
    assert result["verdict"] == ("PROMOTE" if ok else "HOLD")


def test_every_value_exactly_at_its_threshold_passes():
    ensemble = {"plcc": 0.85, "plcc_ci": [0.75, 0.9], "srocc": 0.85}
    result = evaluate(10, ensemble, {"held_out_coverage": 0.85}, {"plcc_diff": 0.0, "plcc_p_value": 1.0})
    assert _failing(result) == [] and result["verdict"] == "PROMOTE"


def test_the_slack_is_gate_eps_and_includes_its_edge():
    """at least `threshold - GATE_EPS` passes (the edge included); 3 GATE_EPS below fails."""

    def run(delta):
        ensemble = {"plcc": 0.85 - delta, "plcc_ci": [0.75 - delta, 0.9], "srocc": 0.85 - delta}
        return evaluate(10, ensemble, {"held_out_coverage": 0.85 - delta}, {"plcc_diff": 0.0, "plcc_p_value": 1.0})

    assert _failing(run(EPS)) == []
    assert _failing(run(3 * EPS)) == ["plcc", "srocc", "plcc_ci_low", "coverage"]


# ----------------------------------------------------------------------------- versus nu-SVR


@pytest.mark.parametrize(
    ("diff", "p", "worse"),
    [
        (-0.0312, 0.012, True),  # behind, significant: the one failing case
        # behind at p exactly 0.05 (= 2 x 5 / 200, attainable with 199 resamples): not < 0.05
        (-0.0312, 0.05, False),
        (-0.0312, 0.6, False),  # behind, not significant
        (0.0, 0.01, False),  # no difference at all is not "worse"
        (0.02, 0.01, False),  # significantly BETTER than nu-SVR
        (0.5, 0.01, False),  # far better
        (None, 0.01, False),  # undefined difference
        (-0.0312, None, False),  # undefined p-value
    ],
)
def test_only_a_significant_negative_difference_is_worse(diff, p, worse):
    n, ensemble, interval, _ = _good()
    result = evaluate(n, ensemble, interval, {"plcc_diff": diff, "plcc_p_value": p})
    check = result["checks"]["not_worse_than_nusvr"]
    assert check == {"pass": not worse, "value": _versus(plcc_diff=diff, plcc_p_value=p), "threshold": 0.05}
    assert result["verdict"] == ("HOLD" if worse else "PROMOTE")
    assert bool(result["failing_aspects"]) is worse


def test_the_p_value_is_printed_with_four_significant_digits_and_the_difference_with_four_decimals():
    # p = 2 x 3 / 200 = 0.03 with 199 resamples; difference -0.123456 -> -0.1235
    n, ensemble, interval, _ = _good()
    result = evaluate(n, ensemble, interval, {"plcc_diff": -0.123456, "plcc_p_value": 0.03})
    assert result["failing_aspects"] == [
        "significantly worse than nu-SVR (libvmaf's recipe): PLCC difference -0.1235, p = 0.03 < 0.05"
    ]


def test_a_p_value_just_below_the_level_does_not_print_as_the_level():
    # 2000 resamples, 49 of them <= 0: p = 2 x 50 / 2001 = 0.049975...; three decimals would read
    # "p = 0.050 < 0.05", a contradiction on the page
    n, ensemble, interval, _ = _good()
    result = evaluate(n, ensemble, interval, {"plcc_diff": -0.02, "plcc_p_value": 100 / 2001})
    assert result["failing_aspects"] == [
        "significantly worse than nu-SVR (libvmaf's recipe): PLCC difference -0.0200, p = 0.04998 < 0.05"
    ]


@pytest.mark.parametrize(
    ("given", "worse"),
    [
        # SROCC behind, significantly: HOLD even though the PLCC is significantly BETTER
        (dict(plcc_diff=0.01, plcc_p_value=0.001, srocc_diff=-0.01, srocc_p_value=0.02), ["srocc"]),
        (dict(srocc_diff=-0.01, srocc_p_value=0.2), []),  # behind, not significant
        (dict(srocc_diff=0.01, srocc_p_value=0.001), []),  # ahead
        # RMSE: a POSITIVE difference (ensemble's error larger) is the worse direction
        (dict(rmse_diff=0.05, rmse_p_value=0.01), ["rmse"]),
        (dict(rmse_diff=-0.05, rmse_p_value=0.01), []),  # smaller error, significantly: better
        (dict(rmse_diff=0.05, rmse_p_value=0.05), []),  # p at the level is not below it
        (
            dict(
                plcc_diff=-0.02,
                plcc_p_value=0.004,
                srocc_diff=-0.03,
                srocc_p_value=0.001,
                rmse_diff=0.2,
                rmse_p_value=0.03,
            ),
            ["plcc", "srocc", "rmse"],
        ),
    ],
)
def test_srocc_and_rmse_may_not_be_significantly_worse_either(given, worse):
    n, ensemble, interval, _ = _good()
    result = evaluate(n, ensemble, interval, given)
    check = result["checks"]["not_worse_than_nusvr"]
    assert check["pass"] is (not worse) and check["value"] == _versus(**given)
    named = {"plcc": "PLCC", "srocc": "SROCC", "rmse": "RMSE"}
    if worse:
        (line,) = result["failing_aspects"]
        assert line.startswith("significantly worse than nu-SVR (libvmaf's recipe): ")
        parts = line.split(": ", 1)[1].split("; ")
        assert [part.split(" ")[0] for part in parts] == [named[w] for w in worse]
    else:
        assert result["failing_aspects"] == []


def test_the_line_for_a_worse_rmse_names_its_difference_and_p():
    n, ensemble, interval, _ = _good()
    result = evaluate(n, ensemble, interval, {"rmse_diff": 0.0712, "rmse_p_value": 0.0025})
    assert result["failing_aspects"] == [
        "significantly worse than nu-SVR (libvmaf's recipe): RMSE difference 0.0712, p = 0.0025 < 0.05"
    ]


# ----------------------------------------------------------------------------- resample count


def test_too_few_resamples_name_the_flag_by_default():
    # 2 / (198 + 1) = 0.010050... -> 0.0101 (3 significant digits); the minimum: 2/(B+1) <= 0.05/5
    with pytest.raises(InputError) as err:
        check_resamples(198)
    assert str(err.value) == (
        "--bootstrap 198 is too few resamples: the paired test against nu-SVR cannot give a p-value "
        "below 2/(B+1) = 0.0101, so the gate could never find the ensemble significantly worse at 0.05; "
        "the minimum is 199 (--bootstrap 199)"
    )
    assert check_resamples(199) == 199


def test_too_few_resamples_name_where_the_count_came_from():
    with pytest.raises(InputError) as err:
        check_resamples(10, "the run's --bootstrap")
    assert str(err.value).startswith("the run's --bootstrap 10 is too few resamples")
    assert "2/(B+1) = 0.182," in str(err.value)  # 2 / 11


MINIMUM = 199  # by hand (module doc), for SUBJECTIVE_SIGNIFICANCE 0.05 and a factor of 5


def test_the_hand_computed_minimum_matches_the_thresholds_it_was_computed_for():
    assert (T.SUBJECTIVE_SIGNIFICANCE, T.SUBJECTIVE_BOOTSTRAP_P_FACTOR) == (0.05, 5)
    assert T.SUBJECTIVE_BOOTSTRAP >= MINIMUM  # the default is legal


def _opts(n_boot: int) -> Options:
    return Options(seeds=[0], recipe=subjective_recipe(epochs=2), n_boot=n_boot, workers=1)


def test_ten_resamples_are_refused_naming_the_option_and_the_minimum():
    with pytest.raises(InputError) as err:
        check_options(_opts(10))
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("--bootstrap 10 is too few resamples")
    assert f"the minimum is {MINIMUM} (--bootstrap {MINIMUM})" in message
    assert "2/(B+1) = 0.182" in message  # 2 / 11, the smallest p-value with 10 resamples


@pytest.mark.parametrize("n_boot, ok", [(MINIMUM - 1, False), (MINIMUM, True), (T.SUBJECTIVE_BOOTSTRAP, True)])
def test_the_boundary(n_boot, ok):
    if ok:
        assert check_options(_opts(n_boot)).n_boot == n_boot
        ContentBootstrap(np.array(["a", "b", "c"]), n_boot=n_boot)
    else:
        with pytest.raises(InputError, match=f"--bootstrap {n_boot} is too few.*the minimum is {MINIMUM}"):
            check_options(_opts(n_boot))
        with pytest.raises(InputError, match=f"the run's --bootstrap {n_boot} is too few"):
            ContentBootstrap(np.array(["a", "b", "c"]), n_boot=n_boot)


def test_cli_train_refuses_ten_with_exit_2_and_one_line(tmp_path):
    table = write_synthetic_table(tmp_path / "t.jsonl", 3, 3, 0)
    args = ["train", "--table", table, "--feature-columns", "adm2", "--score-column", "mos", "--group", "content"]
    args += ["--out", tmp_path / "o", "--epochs", "2", "--seeds", "0", "--bootstrap", "10"]
    res = CliRunner().invoke(subjective, [str(a) for a in args])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "--bootstrap 10 is too few" in lines[0] and f"minimum is {MINIMUM}" in lines[0]
    assert not (tmp_path / "o").exists()  # refused before anything was trained or written


def test_gate_refuses_a_report_made_with_too_few_resamples(tmp_path):
    """A run made before the rule (or a report edited to claim fewer resamples): `subjective gate`
    takes the count from the report's own settings, and refuses it the same way."""
    table = write_synthetic_table(tmp_path / "t.jsonl", 4, 3, 0)
    out = tmp_path / "out"
    train_from_table(table, CANON, "mos", "content", out, _opts(MINIMUM), id_column="clip")
    gate = CliRunner().invoke(subjective, ["gate", str(out)])
    assert gate.exit_code == 1, gate.output  # accepted: judged (HOLD: 4 contents are too few to promote)

    report_path = out / "subjective_report.json"
    report = json.loads(report_path.read_text())
    report["bootstrap"]["resamples"] = 10
    report_path.write_text(json.dumps(report))
    gate = CliRunner().invoke(subjective, ["gate", str(out)])
    assert gate.exit_code == 2
    lines = gate.output.strip().splitlines()
    assert len(lines) == 1
    assert "--bootstrap 10 is too few" in lines[0] and f"the minimum is {MINIMUM}" in lines[0]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trust")
    table = make_table(tmp / "table.jsonl", n_contents=10, per=4, seed=3)
    train_from_table(table, CANON, "mos", "content", tmp / "out", opts(), scale="mos-1-5", id_column="clip")
    return tmp / "out"


@pytest.fixture
def copy(run_dir, tmp_path):
    dst = tmp_path / "out"
    shutil.copytree(run_dir, dst)
    return dst


def _edit_report(folder, change):
    path = folder / "subjective_report.json"
    report = json.loads(path.read_text())
    change(report)
    path.write_text(dumps_json(report))


def _edit_predictions(folder, change):
    path = folder / "subjective_predictions.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for row in rows:
        change(row)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_the_recorded_nusvr_is_what_libvmafs_recipe_gives_on_the_items(run_dir):
    """Independent oracle: sklearn's NuSVR, C 4 nu 0.9 gamma 0.04, features and score rescaled to
    [0, 1] by the training folds' min/max (libvmaf's clip_0to1), one fit per held-out content."""
    from sklearn.svm import NuSVR

    items = [json.loads(line) for line in (run_dir / "subjective_items.jsonl").read_text().splitlines()]
    recorded = {
        r["id"]: r["nusvr"]
        for r in map(json.loads, (run_dir / "subjective_predictions.jsonl").read_text().splitlines())
    }
    x = np.array([[r[f] for f in CANON] for r in items])
    y = np.array([r["score"] for r in items])
    contents = np.array([r["content"] for r in items])
    for content in np.unique(contents):
        train, test = contents != content, contents == content
        lo, hi = x[train].min(axis=0), x[train].max(axis=0)
        ylo, yhi = y[train].min(), y[train].max()
        model = NuSVR(C=4.0, nu=0.9, gamma=0.04).fit((x[train] - lo) / (hi - lo), (y[train] - ylo) / (yhi - ylo))
        expected = np.clip(model.predict((x[test] - lo) / (hi - lo)) * (yhi - ylo) + ylo, 1, 5)
        got = [recorded[i] for i in np.array([r["id"] for r in items])[test]]
        np.testing.assert_allclose(got, expected, atol=1e-6)
    recheck(run_dir)  # and the untouched run passes


@pytest.mark.parametrize("name, shift", [("nusvr", -0.5), ("linear", +0.3)])
def test_a_degraded_baseline_is_refused(copy, name, shift):
    _edit_predictions(copy, lambda row: row.__setitem__(name, min(5.0, max(1.0, row[name] + shift))))
    with pytest.raises(InputError, match=rf"{name} predictions differ from {name} refitted on subjective_items.jsonl"):
        recheck(copy)


def test_a_baseline_within_float_noise_passes(copy):
    _edit_predictions(copy, lambda row: row.__setitem__("nusvr", row["nusvr"] + 1e-9))
    recheck(copy)


@pytest.mark.parametrize(
    "where, value, message",
    [
        (("bootstrap", "resamples"), 1e9, "--bootstrap must be an integer in 1..100000, got 1000000000"),
        (("bootstrap", "resamples"), 10, "--bootstrap 10 is too few resamples"),
        (("bootstrap", "resamples"), "2000", "--bootstrap must be an integer"),
        (("bootstrap", "level"), 5, "confidence level must be in (0, 1), got 5"),
        (("bootstrap", "level"), 0.5, "bootstrap.level 0.5 is below 0.95"),
        (("bootstrap", "seed"), -1, "the bootstrap seed must be an integer in 0..2**63-1, got -1"),
        (("bootstrap", "seed"), 1.5, "the bootstrap seed must be an integer"),
        (("models", "ensemble", "interval", "coverage_target"), 1.5, "--coverage must be in (0, 1), got 1.5"),
    ],
)
def test_the_reports_settings_are_checked_like_the_runs_options(copy, where, value, message):
    def change(report):
        block = report
        for key in where[:-1]:
            block = block[key]
        block[where[-1]] = value

    _edit_report(copy, change)
    with pytest.raises(InputError) as err:
        recheck(copy)
    assert "subjective_report.json: the run's settings: " in str(err.value) or "below 0.95" in str(err.value)
    assert message in str(err.value)


def test_the_nusvr_baseline_trains_on_at_most_3000_evenly_spaced_rows():
    """Bounded cost (issue 20: 20,000 items took 433 s): a fold with 3,500 training rows is fitted
    on the 3,000 rows at round(linspace(0, 3499, 3000)), the documented rule, here fitted directly
    with scikit-learn's NuSVR and libvmaf's settings."""
    from sklearn.svm import NuSVR

    from vmafkit.train.subjective_models import fit_predict_nusvr

    rng = np.random.default_rng(5)
    x = rng.uniform(size=(3500, 3))
    y = x @ [1.0, 2.0, -1.0] + rng.normal(0, 0.05, 3500)
    test = rng.uniform(size=(7, 3))
    keep = np.linspace(0, 3499, 3000).round().astype(int)
    lo, hi = x[keep].min(axis=0), x[keep].max(axis=0)
    ylo, yhi = y[keep].min(), y[keep].max()
    model = NuSVR(C=4.0, nu=0.9, gamma=0.04).fit((x[keep] - lo) / (hi - lo), (y[keep] - ylo) / (yhi - ylo))
    expected = model.predict((test - lo) / (hi - lo)) * (yhi - ylo) + ylo
    np.testing.assert_allclose(fit_predict_nusvr(x, y, test), expected, atol=1e-9)
    small = fit_predict_nusvr(x[:50], y[:50], test)  # under the cap: every row
    lo, hi, ylo, yhi = x[:50].min(axis=0), x[:50].max(axis=0), y[:50].min(), y[:50].max()
    model = NuSVR(C=4.0, nu=0.9, gamma=0.04).fit((x[:50] - lo) / (hi - lo), (y[:50] - ylo) / (yhi - ylo))
    np.testing.assert_allclose(small, model.predict((test - lo) / (hi - lo)) * (yhi - ylo) + ylo, atol=1e-9)
