"""Edge cases of vmafkit.train.metrics found by mutation testing (tools/mutation.py).

Every expected value comes from an independent oracle: scipy.stats, numpy, a finite-difference
derivative, or a number worked out by hand in the comment next to it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as st
from scipy.optimize import curve_fit

from vmafkit.train import metrics as M


def _vqeg(x, b1, b2, b3, b4, b5):
    """The VQEG 5-parameter logistic, written out from its definition (not imported)."""
    return b1 * (0.5 - 1.0 / (1.0 + np.exp(b2 * (x - b3)))) + b4 * x + b5


def _scipy_plcc_logistic(x, y):
    params, _ = curve_fit(_vqeg, x, y, p0=[np.ptp(y), 0.1, np.median(x), 0.0, np.mean(y)], maxfev=20000)
    return st.pearsonr(_vqeg(x, *params), y).statistic


# ----------------------------------------------------------------------------- agreement


def test_agreement_is_the_five_statistics_against_scipy():
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 100, 400)
    y = np.clip(100 / (1 + np.exp(-(x - 50) / 8)) + 4 * rng.standard_normal(400), 0, 100)
    out = M.agreement(x, y)
    assert list(out) == ["plcc", "srocc", "krocc", "rmse", "plcc_logistic"]
    assert out["plcc"] == pytest.approx(st.pearsonr(x, y).statistic, abs=1e-12)
    assert out["srocc"] == pytest.approx(st.spearmanr(x, y).statistic, abs=1e-12)
    assert out["krocc"] == pytest.approx(st.kendalltau(x, y).statistic, abs=1e-12)
    assert out["rmse"] == pytest.approx(float(np.sqrt(np.mean((x - y) ** 2))), rel=1e-12)
    assert out["plcc_logistic"] == pytest.approx(_scipy_plcc_logistic(x, y), abs=1e-6)
    assert all(isinstance(v, float) for v in out.values())


def test_agreement_of_undefined_inputs_is_nan_everywhere():
    out = M.agreement([5.0], [7.0])
    assert math.isnan(out["plcc"]) and math.isnan(out["srocc"]) and math.isnan(out["krocc"])
    assert math.isnan(out["plcc_logistic"])
    assert out["rmse"] == 2.0  # |5 - 7|: rmse is defined for one point


# ----------------------------------------------------------------------------- shapes


def test_column_vectors_are_flattened_like_1d():
    """Model outputs often come as [N, 1]; every statistic reads them as the N values."""
    x = np.array([3.0, 1.0, 3.0, 2.0, 3.0, 1.0, 7.0])
    y = np.array([1.0, 2.0, 2.0, 5.0, 4.0, 1.0, 9.0])
    col_x, col_y = x.reshape(-1, 1), y.reshape(-1, 1)
    np.testing.assert_array_equal(M.rankdata(col_x), st.rankdata(x))
    np.testing.assert_array_equal(M.rankdata(x.reshape(1, -1, 1)), st.rankdata(x))
    assert M.krocc(col_x, col_y) == pytest.approx(st.kendalltau(x, y).statistic, abs=1e-12)
    assert M.srocc(col_x, col_y) == pytest.approx(st.spearmanr(x, y).statistic, abs=1e-12)
    residuals = np.array([[4.0], [-9.0], [1.0], [0.5], [2.0]])
    # |r| sorted: 0.5 1 2 4 9; n = 5, coverage 0.5: k = ceil(6 * 0.5) = 3 -> 2.0
    assert M.conformal_quantile(residuals, 0.5) == 2.0
    assert M.conformal_quantile(residuals.reshape(1, -1), 0.5) == 2.0


def test_rankdata_of_empty_and_single():
    assert M.rankdata([]).shape == (0,)
    np.testing.assert_array_equal(M.rankdata([4.0]), [1.0])


# ----------------------------------------------------------------------------- conformal quantile


@pytest.mark.parametrize("coverage", [0.0, 1.0, 1.5, -0.2])
def test_conformal_quantile_refuses_coverage_outside_the_open_unit_interval(coverage):
    with pytest.raises(ValueError, match=r"coverage must be in \(0, 1\), got"):
        M.conformal_quantile([1.0, 2.0, 3.0], coverage)


def test_conformal_quantile_rank_equal_to_n_is_the_largest_residual():
    # n = 9, coverage 0.9: k = ceil(10 * 0.9) = 9 = n -> the 9th smallest, 9.0 (not inf)
    assert M.conformal_quantile(np.arange(1.0, 10.0), 0.9) == 9.0
    # n = 8: k = 9 > 8 -> inf
    assert M.conformal_quantile(np.arange(1.0, 9.0), 0.9) == math.inf


def test_conformal_quantile_edges_by_hand():
    """The edges conformal_quantile's doc decides (it is the one conformal quantile of vmafkit),
    each answer worked out by hand from k = ceil((n + 1) * coverage)."""
    # absolute values; NaN left out, inf kept (a real miss): |r| = 3 1 2 inf 5, n = 5,
    # k = ceil(6 * 0.5) = 3 -> sorted 1 2 3 5 inf -> 3.0
    assert M.conformal_quantile([-3.0, 1.0, math.nan, -2.0, math.inf, 5.0], 0.5) == 3.0
    # n = 2, k = ceil(3 * 0.5) = 2 -> the 2nd smallest of 1 and inf: inf (dropping inf would say 1.0)
    assert M.conformal_quantile([1.0, -math.inf], 0.5) == math.inf
    # no residuals, or only NaN: n = 0, k = 1 > 0 -> inf (an unbounded interval), never NaN
    assert M.conformal_quantile([], 0.5) == math.inf
    assert M.conformal_quantile([math.nan, math.nan], 0.01) == math.inf
    # one residual: k = ceil(2 * 0.5) = 1 -> it; k = ceil(2 * 0.51) = 2 > 1 -> inf
    assert M.conformal_quantile([-4.0], 0.5) == 4.0
    assert M.conformal_quantile([-4.0], 0.51) == math.inf
    # ties: |r| = 2 2 2 1, n = 4, k = ceil(5 * 0.8) = 4 -> 2.0
    assert M.conformal_quantile([2.0, -2.0, 2.0, 1.0], 0.8) == 2.0
    # the coverage is checked first, whatever the residuals
    for residuals in ([], [math.nan], [1.0]):
        with pytest.raises(ValueError, match=r"coverage must be in \(0, 1\)"):
            M.conformal_quantile(residuals, 1.0)


# ----------------------------------------------------------------------------- residual quantiles


def test_abs_residual_quantiles_are_numpy_linear_quantiles_of_the_difference():
    pred = np.array([10.0, 12.0, 7.0, 30.0, 1.0, 4.0])
    target = np.array([11.0, 9.0, 7.5, 20.0, 1.0, 8.0])
    out = M.abs_residual_quantiles(pred, target)
    r = np.abs(pred - target)
    assert out == {f"{q:g}": pytest.approx(float(np.quantile(r, q))) for q in (0.5, 0.8, 0.9, 0.95, 0.99)}
    # by hand: |r| sorted 0 0.5 1 3 4 10; median (linear) = (1 + 3) / 2 = 2
    assert out["0.5"] == 2.0


def test_abs_residual_quantiles_of_one_and_of_no_residual():
    one = M.abs_residual_quantiles([3.0], [5.5], levels=(0.5, 0.9))
    assert one == {"0.5": 2.5, "0.9": 2.5}
    none = M.abs_residual_quantiles([], [], levels=(0.5, 0.9))
    assert list(none) == ["0.5", "0.9"] and all(math.isnan(v) for v in none.values())


# ----------------------------------------------------------------------------- logistic


@pytest.mark.parametrize(
    "params", [(30.0, 1.5, 5.0, 2.0, 10.0), (-4.0, -0.7, -1.3, 0.5, 2.0), (1.0, 3.0, 0.8, 0.0, 0.0)]
)
def test_logistic_jacobian_is_the_derivative(params):
    """The analytic Jacobian the fit uses equals a central finite difference of the function."""
    x = np.linspace(-3.0, 9.0, 25)
    jac = M._logistic5_jac(x, *params)
    assert jac.shape == (25, 5)
    h = 1e-6
    for j in range(5):
        up, down = list(params), list(params)
        up[j] += h
        down[j] -= h
        numeric = (M._logistic5(x, *up) - M._logistic5(x, *down)) / (2 * h)
        np.testing.assert_allclose(jac[:, j], numeric, rtol=1e-5, atol=1e-6)


def test_logistic_function_is_the_vqeg_formula():
    x = np.linspace(-5, 5, 11)
    np.testing.assert_allclose(
        M._logistic5(x, 3.0, 0.8, 1.0, 0.2, -1.0), _vqeg(x, 3.0, 0.8, 1.0, 0.2, -1.0), rtol=1e-14, atol=1e-14
    )


def test_logistic_fit_returns_the_mapping_in_target_units():
    """The fit runs on standardised x and y; what it returns is in the target's units (mean 0 /
    scale 1 would hide a wrong un-standardisation). y is a member of the family: mapped == y."""
    x = np.linspace(0, 10, 200)
    y = _vqeg(x, 30.0, 1.5, 5.0, 2.0, 10.0)
    mapped, params = M.logistic_fit(x, y)
    assert params is not None and params.shape == (5,)
    np.testing.assert_allclose(mapped, y, atol=1e-6)


def test_logistic_fit_is_invariant_to_an_offset_of_the_predictions():
    """Predictions far from 0 (x in [1000, 1010]): standardising x first puts the start of the
    fit on the data, so the exact logistic relation is still recovered (PLCC 1)."""
    x = np.linspace(1000, 1010, 300)
    y = _vqeg(x, 60.0, 3.0, 1006.0, 0.1, 5.0)
    assert M.plcc(x, y) < 0.95
    assert M.plcc_logistic(x, y) == pytest.approx(1.0, abs=1e-9)
    mapped, _ = M.logistic_fit(x, y)
    np.testing.assert_allclose(mapped, y, atol=1e-5)


def test_logistic_fit_with_an_off_centre_sigmoid():
    x = np.linspace(0, 100, 300)
    y = _vqeg(x, 60.0, 0.3, 80.0, 0.1, 5.0)  # the bend at 80, far from the data's mean 50
    assert M.plcc(x, y) < 0.85
    assert M.plcc_logistic(x, y) == pytest.approx(1.0, abs=1e-9)


def test_logistic_fit_needs_six_points():
    """Five parameters: five points or fewer fall back to the identity (params None, f = x);
    six points of an exact logistic are fitted (PLCC 1 where the linear PLCC is 0.968)."""
    x = np.arange(6.0)
    y = _vqeg(x, 10.0, 2.0, 2.5, 0.0, 0.0)
    mapped, params = M.logistic_fit(x, y)
    assert params is not None
    np.testing.assert_allclose(mapped, y, atol=1e-9)
    assert M.plcc_logistic(x, y) == pytest.approx(1.0, abs=1e-9) and M.plcc(x, y) < 0.97
    mapped5, params5 = M.logistic_fit(x[:5], y[:5])
    assert params5 is None and mapped5.tolist() == x[:5].tolist()
    assert M.plcc_logistic(x[:5], y[:5]) == pytest.approx(st.pearsonr(x[:5], y[:5]).statistic, abs=1e-12)


def test_logistic_fit_with_unit_ranges():
    """A range of exactly 1 (x or y in [0, 1]) is an ordinary input, not a degenerate one."""
    x = np.linspace(0, 1, 50)
    y = _vqeg(x, 10.0, 20.0, 0.5, 0.0, 0.0)
    assert np.ptp(x) == 1.0 and M.plcc(x, y) < 0.94
    assert M.plcc_logistic(x, y) == pytest.approx(1.0, abs=1e-9)
    x = np.linspace(0, 3, 50)
    y = _vqeg(x, 10.0, 8.0, 1.5, 0.0, 0.0)
    y = (y - y.min()) / (y.max() - y.min())
    assert np.ptp(y) == 1.0 and M.plcc(x, y) < 0.93
    assert M.plcc_logistic(x, y) == pytest.approx(1.0, abs=1e-9)


def test_logistic_fit_of_constant_inputs_is_the_identity():
    x = np.linspace(0, 10, 20)
    mapped, params = M.logistic_fit(x, np.full(20, 4.0))  # constant target
    assert params is None and mapped.tolist() == x.tolist()
    mapped, params = M.logistic_fit(np.full(20, 4.0), x)  # constant prediction
    assert params is None


def test_logistic_subsample_keeps_the_extreme_predictions():
    """Above LOGISTIC_MAX_POINTS the fit runs on points evenly spaced over the predictions sorted
    from lowest to highest, both ends included: two extreme predictions whose teacher contradicts
    the trend move the fit, and the PLCC still equals scipy's fit on every point."""
    rng = np.random.default_rng(7)
    n = M.LOGISTIC_MAX_POINTS + 1
    x = np.sort(rng.uniform(0, 100, n))
    y = np.clip(100 / (1 + np.exp(-(x - 50) / 8)) + 4 * rng.standard_normal(n), 0, 100)
    x[0], y[0] = -200.0, 100.0
    x[-1], y[-1] = 300.0, 0.0
    assert M.plcc_logistic(x, y) == pytest.approx(_scipy_plcc_logistic(x, y), abs=1e-6)


# ----------------------------------------------------------------------------- nan-safe summaries


def test_nan_summaries_of_all_undefined_are_nan():
    for f in (M.nanmin, M.nanmax, M.nanmean, M.nanstd):
        assert math.isnan(f([None, math.nan, math.inf, -math.inf]))
    assert M.nanstd([1.0, 3.0]) == 1.0  # population sd: sqrt(((1-2)^2 + (3-2)^2) / 2)
    assert M.nanmax([-math.inf, 2.0, math.inf]) == 2.0  # infinities are not finite values


def test_plcc_and_rmse_by_hand():
    # x = 1 2 3, y = 2 4 7: centred x = -1 0 1, centred y = -7/3 -1/3 8/3;
    # sum xy = 7/3 + 8/3 = 5, |x|^2 = 2, |y|^2 = (49 + 1 + 64) / 9 = 114 / 9
    assert M.plcc([1.0, 2.0, 3.0], [2.0, 4.0, 7.0]) == pytest.approx(5 / math.sqrt(2 * 114 / 9), abs=1e-15)
    assert M.plcc([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == -1.0
    assert M.rmse([1.0, 2.0], [4.0, 6.0]) == pytest.approx(math.sqrt((9 + 16) / 2))
    with pytest.raises(ValueError, match="length mismatch: 2 vs 3"):
        M.rmse([1.0, 2.0], [1.0, 2.0, 3.0])


def test_cell_means_by_hand():
    # cells 5: (2 + 4) / 2 = 3; 1: 10; -3: (1 + 2 + 6) / 3 = 3, in ascending id order -3, 1, 5
    np.testing.assert_array_equal(M.cell_means([2, 10, 4, 1, 2, 6], [5, 1, 5, -3, -3, -3]), [3.0, 10.0, 3.0])


def test_conformal_quantile_rank_is_exact_for_decimal_coverages():
    r = np.arange(1.0, 100.0)  # n = 99
    # k = ceil(100 * 55 / 100) = 55 exactly -> 55.0; and ceil(100 * 7 / 100) = 7 -> 7.0
    assert M.conformal_quantile(r, 0.55) == 55.0
    assert M.conformal_quantile(r, 0.07) == 7.0


def test_plcc_is_clipped_to_minus_one_one():
    """x = 1 4 9 16 against 3.3 x: the plain ratio is 1.0000000000000002 in binary; a
    correlation is never outside [-1, 1]."""
    x = np.array([1.0, 4.0, 9.0, 16.0])
    assert M.plcc(x, 3.3 * x) == 1.0
    assert M.plcc(x, -3.3 * x) == -1.0


def test_plcc_of_a_constant_is_nan_without_a_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would be an exception here
        assert math.isnan(M.plcc([2.0, 2.0, 2.0], [1.0, 2.0, 3.0]))
        assert math.isnan(M.plcc([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]))


@pytest.mark.parametrize("coverage", [0.0, 1.0, 1.5])
def test_source_half_width_refuses_coverage_outside_the_open_interval(coverage):
    with pytest.raises(ValueError) as info:
        M.source_half_width([np.array([1.0, 2.0])], coverage)
    assert str(info.value) == f"coverage must be in (0, 1), got {coverage}"


def test_logistic_identity_fallback_is_float64():
    mapped, params = M.logistic_fit([1, 2, 3], [3, 1, 2])  # integers, too few points
    assert params is None and mapped.dtype == np.float64 and mapped.tolist() == [1.0, 2.0, 3.0]
