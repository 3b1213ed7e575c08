"""Issue 15: statistics over contents — bootstrap intervals, the paired test, folds, the interval.

Data here are generated numbers (no real scores); each check has an independent oracle.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmafkit import thresholds as T
from vmafkit.decide.subjective_interval import conformal
from vmafkit.decide.subjective_stats import ContentBootstrap, krocc_small
from vmafkit.errors import InputError
from vmafkit.train import metrics
from vmafkit.train.folds import content_folds, data_warnings


def data(n_contents=8, per=4, noise=0.3, seed=0):
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"c{i}" for i in range(n_contents)], per)
    y = rng.normal(size=groups.size) + np.repeat(rng.normal(size=n_contents), per)
    return groups, y, y + rng.normal(size=y.size) * noise


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 3)), min_size=0, max_size=40))
def test_dense_kendall_equals_the_project_kendall(pairs):
    a = np.array([p[0] for p in pairs], dtype=float)
    b = np.array([p[1] for p in pairs], dtype=float)
    x, y = krocc_small(a, b), metrics.krocc(a, b)
    assert (math.isnan(x) and math.isnan(y)) or x == pytest.approx(y, abs=1e-12)


def test_resamples_draw_whole_contents():
    groups, y, pred = data()
    boot = ContentBootstrap(groups, n_boot=199, seed=3)
    for draw, idx in zip(boot.draws, boot._indices):
        expected = np.concatenate([np.flatnonzero(groups == boot.contents[c]) for c in draw])
        assert np.array_equal(idx, expected)  # every clip of a drawn content, a content drawn twice twice
    again = ContentBootstrap(groups, n_boot=199, seed=3)
    assert np.array_equal(boot.draws, again.draws)  # fixed seed: same resamples


def test_interval_is_the_percentile_of_the_resampled_statistic():
    groups, y, pred = data()
    boot = ContentBootstrap(groups, n_boot=400, seed=1, level=0.9)
    block = boot.scored(pred, y)
    reps = np.array([metrics.plcc(pred[i], y[i]) for i in boot._indices])
    assert block["plcc"] == metrics.plcc(pred, y)
    assert block["plcc_ci"] == pytest.approx(list(np.quantile(reps, [0.05, 0.95])))
    assert block["plcc_ci"][0] <= block["plcc"] <= block["plcc_ci"][1]
    for name in ("srocc", "krocc", "rmse"):
        lo, hi = block[f"{name}_ci"]
        assert lo <= hi


def test_paired_test_identical_models_and_a_clearly_better_one():
    groups, y, pred = data(n_contents=12, noise=0.2)
    boot = ContentBootstrap(groups, n_boot=500, seed=0)
    same = boot.paired(pred, pred.copy(), y, "a", "b")
    assert same["plcc_diff"] == 0 and same["plcc_diff_ci"] == [0.0, 0.0] and same["plcc_p_value"] == 1.0
    assert not same["plcc_significant"] and same["reading"].startswith("no significant PLCC difference")
    worse = y + np.random.default_rng(9).normal(size=y.size) * 2.0
    res = boot.paired(pred, worse, y, "good", "bad")
    assert res["plcc_diff"] > 0 and res["plcc_diff_ci"][0] > 0
    assert res["plcc_p_value"] == pytest.approx(2 / 501)  # no resample has d <= 0: the smallest p with B = 500
    assert res["plcc_significant"] and res["reading"].startswith("good has the significantly higher PLCC")
    reverse = boot.paired(worse, pred, y, "bad", "good")
    assert reverse["plcc_diff"] == pytest.approx(-res["plcc_diff"]) and reverse["plcc_p_value"] == res["plcc_p_value"]


def test_p_value_formula_by_hand():
    groups, y, pred = data(n_contents=6, noise=0.8, seed=4)
    other = y + np.random.default_rng(5).normal(size=y.size) * 0.8
    boot = ContentBootstrap(groups, n_boot=300, seed=2)
    res = boot.paired(pred, other, y)
    d = np.array([metrics.plcc(pred[i], y[i]) - metrics.plcc(other[i], y[i]) for i in boot._indices])
    d = d[np.isfinite(d)]
    expected = min(1.0, 2 * min(np.sum(d <= 0) + 1, np.sum(d >= 0) + 1) / (d.size + 1))
    assert res["plcc_p_value"] == pytest.approx(expected)


def test_folds_hold_out_each_content_once():
    groups, _, _ = data(n_contents=5, per=3)
    folds = content_folds(groups)
    assert [f.held_out for f in folds] == sorted(set(groups))
    held = np.concatenate([f.held for f in folds])
    assert np.array_equal(np.sort(held), np.arange(groups.size))
    for f in folds:
        assert set(groups[f.held]) == {f.held_out} and f.held_out not in set(groups[f.train])
    with pytest.raises(InputError, match="needs at least 2"):
        content_folds(np.array(["x", "x", "x"]))


def test_warnings_for_small_contents_and_few_contents():
    groups = np.array(["a"] * 3 + ["b"] * 2 + ["c"] * 1)
    warnings = data_warnings(groups)
    assert any(f"fewer than {T.SUBJECTIVE_MIN_CLIPS_PER_CONTENT} clips: b (2), c (1)" in w for w in warnings)
    assert any(f"only 3 contents (< {T.SUBJECTIVE_MIN_CONTENTS})" in w for w in warnings)
    groups = np.repeat([f"c{i}" for i in range(T.SUBJECTIVE_MIN_CONTENTS)], T.SUBJECTIVE_MIN_CLIPS_PER_CONTENT)
    assert data_warnings(groups) == []


def test_conformal_coverage_by_hand():
    groups = np.repeat(["a", "b", "c", "d"], 3)
    y = np.zeros(12)
    pred = np.array([0.1, 0.2, 0.3, 1.0, 1.0, 1.0, 0.5, 0.5, 0.6, 0.05, 0.0, 0.2])
    folds = content_folds(groups)
    res = conformal(pred, y, folds, coverage=0.6, level=0.5)
    # per content: the smallest |r| covering >= 60 % of its 3 clips = the 2nd smallest
    q = {"a": 0.2, "b": 1.0, "c": 0.5, "d": 0.05}
    for fold in res["per_fold"]:
        others = sorted(v for k, v in q.items() if k != fold["held_out"])
        # tolerance rank over S = 3 others at level 0.5, confidence 0.9: P(Bin(3, 0.5) <= 2) = 7 / 8
        # < 0.9, so even the largest is needed: k = 3
        k = 3
        assert fold["half_width"] == others[k - 1]
        r = np.abs(pred[groups == fold["held_out"]])
        assert fold["coverage"] == pytest.approx(np.mean(r <= others[k - 1]))
    inside = np.concatenate([np.abs(pred[groups == f["held_out"]]) <= f["half_width"] for f in res["per_fold"]])
    assert res["held_out_coverage"] == pytest.approx(inside.mean())
    assert res["fold_coverage_min"] == min(f["coverage"] for f in res["per_fold"])
