"""vmafkit.train.metrics against scipy, plus the NaN and conformal contracts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as st
from hypothesis import given, settings
from hypothesis import strategies as st_h

from vmafkit.train import metrics as M

# small integer-valued floats: plenty of ties
tied = st_h.lists(st_h.integers(min_value=0, max_value=6).map(float), min_size=3, max_size=60)


def _pairs(values):
    n = len(values) // 2
    return np.array(values[:n]), np.array(values[n : 2 * n])


@settings(max_examples=150, deadline=None)
@given(tied)
def test_rank_correlations_match_scipy_with_ties(values):
    a, b = _pairs(values)
    if len(a) < 2:
        return
    for ours, theirs in (
        (M.srocc(a, b), st.spearmanr(a, b).statistic),
        (M.krocc(a, b), st.kendalltau(a, b).statistic),
        (M.plcc(a, b), st.pearsonr(a, b).statistic if np.ptp(a) and np.ptp(b) else math.nan),
    ):
        if math.isnan(theirs):
            assert math.isnan(ours)
        else:
            assert ours == pytest.approx(theirs, abs=1e-12)


def test_continuous_values_match_scipy():
    rng = np.random.default_rng(0)
    a = rng.standard_normal(3000)
    b = a + 0.5 * rng.standard_normal(3000)
    assert M.plcc(a, b) == pytest.approx(st.pearsonr(a, b).statistic, abs=1e-12)
    assert M.srocc(a, b) == pytest.approx(st.spearmanr(a, b).statistic, abs=1e-12)
    assert M.krocc(a, b) == pytest.approx(st.kendalltau(a, b).statistic, abs=1e-12)
    assert M.rmse(a, b) == pytest.approx(float(np.sqrt(np.mean((a - b) ** 2))))
    assert 0.8 < M.plcc(a, b) < 0.95


def test_rankdata_matches_scipy_average():
    x = np.array([3.0, 1.0, 3.0, 2.0, 3.0, 1.0])
    np.testing.assert_array_equal(M.rankdata(x), st.rankdata(x))


def test_undefined_is_nan_not_error():
    assert math.isnan(M.plcc([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert math.isnan(M.srocc([1.0], [2.0]))
    assert math.isnan(M.krocc([2.0, 2.0], [1.0, 3.0]))
    assert math.isnan(M.rmse([], []))
    with pytest.raises(ValueError):
        M.plcc([1.0, 2.0], [1.0])


def test_nan_safe_summaries_ignore_nan_in_any_order():
    vals = [0.97, math.nan, 0.95, None, 0.99]
    for order in (vals, vals[::-1], [math.nan] + vals):
        assert M.nanmin(order) == 0.95
        assert M.nanmax(order) == 0.99
        assert M.nanmean(order) == pytest.approx(0.97)
        assert M.nanstd(order) == pytest.approx(np.std([0.97, 0.95, 0.99]))
    assert math.isnan(M.nanmin([math.nan, None]))
    assert math.isnan(M.nanmean([]))


def _vqeg_logistic(x, b1, b2, b3, b4, b5):
    """VQEG 5-parameter logistic, written out here from its definition (not imported)."""
    return b1 * (0.5 - 1.0 / (1.0 + np.exp(b2 * (x - b3)))) + b4 * x + b5


def _scipy_plcc_logistic(x, y):
    """The oracle: scipy's curve_fit of the VQEG logistic on the raw data, then scipy's pearsonr."""
    from scipy.optimize import curve_fit

    params, _ = curve_fit(_vqeg_logistic, x, y, p0=[np.ptp(y), 0.1, np.median(x), 0.0, np.mean(y)], maxfev=20000)
    return st.pearsonr(_vqeg_logistic(x, *params), y).statistic


def test_logistic_fit_recovers_sigmoid_relation():
    x = np.linspace(-4, 4, 400)
    y = 100 / (1 + np.exp(-2.5 * x))
    assert M.plcc(x, y) < 0.97
    # y is a member of the logistic family (b1=100, b2=2.5, b3=0, b4=0, b5=50): known answer 1
    assert M.plcc_logistic(x, y) == pytest.approx(1.0, abs=1e-9)
    # also with a linear term (b4 != 0): still exactly in the family
    x = np.linspace(0, 10, 200)
    y = _vqeg_logistic(x, 30.0, 1.5, 5.0, 2.0, 10.0)
    assert M.plcc(x, y) < 0.98
    assert M.plcc_logistic(x, y) == pytest.approx(1.0, abs=1e-9)
    # a constant prediction cannot be fitted: falls back to (undefined) linear PLCC
    assert math.isnan(M.plcc_logistic(np.ones(10), np.arange(10.0)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_plcc_logistic_matches_scipy_curve_fit(seed):
    """Noisy sigmoid data (no exact answer): the PLCC after vmafkit's logistic mapping equals the
    PLCC after scipy's own least-squares fit of the same 5-parameter function."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 100, 300)
    y = np.clip(100 / (1 + np.exp(-(x - 50) / 8)) + 4 * rng.standard_normal(300), 0, 100)
    expected = _scipy_plcc_logistic(x, y)
    assert M.plcc_logistic(x, y) == pytest.approx(expected, abs=1e-6)
    assert expected - M.plcc(x, y) > 0.03  # the mapping matters here: linear PLCC is far off


def test_plcc_logistic_subsampled_fit_matches_scipy_full_fit():
    """Above LOGISTIC_MAX_POINTS the fit uses a subsample; the PLCC still matches scipy's full fit."""
    rng = np.random.default_rng(7)
    n = 3 * M.LOGISTIC_MAX_POINTS
    x = rng.uniform(0, 100, n)
    y = np.clip(100 / (1 + np.exp(-(x - 50) / 8)) + 4 * rng.standard_normal(n), 0, 100)
    assert M.plcc_logistic(x, y) == pytest.approx(_scipy_plcc_logistic(x, y), abs=1e-4)


def test_conformal_quantile_definition_and_coverage():
    r = np.arange(1.0, 20.0)  # 19 residuals
    assert M.conformal_quantile(r, 0.9) == 18.0  # ceil(20 * 0.9) = 18th smallest
    assert M.conformal_quantile(r, 0.5) == 10.0
    assert M.conformal_quantile(r[:5], 0.95) == math.inf  # too few for the level
    assert M.conformal_quantile([], 0.9) == math.inf  # no residuals: k = 1 > n = 0
    rng = np.random.default_rng(0)
    hits = []
    for _ in range(200):
        cal = np.abs(rng.standard_normal(50))
        test = np.abs(rng.standard_normal(200))
        hits.append(np.mean(test <= M.conformal_quantile(cal, 0.9)))
    assert 0.89 <= float(np.mean(hits)) <= 0.95  # marginal coverage >= nominal (finite-sample)


def test_abs_residual_quantiles_and_cell_means():
    q = M.abs_residual_quantiles([1.0, 2.0, 3.0, 4.0, 5.0], [0.0] * 5)
    assert list(q) == ["0.5", "0.8", "0.9", "0.95", "0.99"]
    assert q["0.5"] == 3.0 and q["0.99"] == pytest.approx(4.96)
    np.testing.assert_allclose(M.cell_means([1.0, 3.0, 10.0, 5.0], [7, 7, 2, 9]), [10.0, 2.0, 5.0])
