"""vmafkit.train.metrics against scipy, plus the NaN and conformal contracts.

Edge cases of vmafkit.train.metrics found by mutation testing (tools/mutation.py).

Every expected value comes from an independent oracle: scipy.stats, numpy, a finite-difference
derivative, or a number worked out by hand in the comment next to it.

More edge cases of vmafkit.train.metrics found by mutation testing (tools/mutation.py).

Every expected value comes from an independent oracle: scipy.stats (pearsonr, rankdata, binom),
scipy.optimize.curve_fit from many starts, numpy, or a number worked out by hand next to it.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.stats as st
from hypothesis import given, settings
from hypothesis import strategies as st_h
from scipy.optimize import curve_fit

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


def test_abs_residual_quantiles_and_cell_means():
    q = M.abs_residual_quantiles([1.0, 2.0, 3.0, 4.0, 5.0], [0.0] * 5)
    assert list(q) == ["0.5", "0.8", "0.9", "0.95", "0.99"]
    assert q["0.5"] == 3.0 and q["0.99"] == pytest.approx(4.96)
    np.testing.assert_allclose(M.cell_means([1.0, 3.0, 10.0, 5.0], [7, 7, 2, 9]), [10.0, 2.0, 5.0])


def _vqeg(x, b1, b2, b3, b4, b5):
    """The VQEG 5-parameter logistic, written out from its definition (not imported)."""
    return b1 * (0.5 - 1.0 / (1.0 + np.exp(b2 * (x - b3)))) + b4 * x + b5


def _scipy_plcc_logistic_edges(x, y):
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
    assert out["plcc_logistic"] == pytest.approx(_scipy_plcc_logistic_edges(x, y), abs=1e-6)
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


def test_rankdata_of_empty_and_single():
    assert M.rankdata([]).shape == (0,)
    np.testing.assert_array_equal(M.rankdata([4.0]), [1.0])


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
    assert M.plcc_logistic(x, y) == pytest.approx(_scipy_plcc_logistic_edges(x, y), abs=1e-6)


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


def _vqeg_more_edges(x, b1, b2, b3, b4, b5):
    """The VQEG 5-parameter logistic, written out from its definition (not imported)."""
    with np.errstate(over="ignore"):
        return b1 * (0.5 - 1.0 / (1.0 + np.exp(b2 * (x - b3)))) + b4 * x + b5


# ----------------------------------------------------------------------------- inputs (_pair)


def test_inputs_of_any_shape_are_flattened_and_compared_as_float64():
    pred = np.array([[61.0, 70.5], [82.0, 90.0], [55.5, 77.0]])  # 3 x 2: six predictions, row-major
    target = [60.0, 72.0, 80.0, 93.0, 50.0, 75.0]
    flat = pred.reshape(-1)
    assert M.plcc(pred, target) == pytest.approx(st.pearsonr(flat, target).statistic, abs=1e-12)
    assert M.srocc(pred, target) == pytest.approx(st.spearmanr(flat, target).statistic, abs=1e-12)
    assert M.rmse(pred, np.array(target).reshape(6, 1)) == pytest.approx(
        math.sqrt(np.mean((flat - np.array(target)) ** 2)), abs=1e-12
    )
    # one scalar against one value: one point, no correlation; RMSE |3 - 5| = 2
    assert math.isnan(M.plcc(3.0, [5.0])) and M.rmse(3.0, 5.0) == 2.0


def test_numeric_text_is_read_as_numbers():
    """Values as a CSV reader hands them over ("9" < "10" as numbers, not as text)."""
    pred, target = ["9", "10", "100", "55.5"], ["8", "12", "97", "50"]
    fp, ft = [9.0, 10.0, 100.0, 55.5], [8.0, 12.0, 97.0, 50.0]
    assert M.plcc(pred, target) == pytest.approx(st.pearsonr(fp, ft).statistic, abs=1e-12)
    assert M.rmse(pred, target) == pytest.approx(math.sqrt((1 + 4 + 9 + 5.5**2) / 4), abs=1e-12)
    assert M.plcc(fp, target) == pytest.approx(st.pearsonr(fp, ft).statistic, abs=1e-12)
    np.testing.assert_array_equal(M.rankdata(["10", "9", "100", "9"]), st.rankdata([10.0, 9.0, 100.0, 9.0]))
    np.testing.assert_array_equal(M.rankdata(["10", "9", "100", "9"]), [3.0, 1.5, 4.0, 1.5])
    # cells 5: (2 + 4) / 2 = 3; 1: 10; in ascending id order 1, 5
    np.testing.assert_array_equal(M.cell_means(["2", "10", "4.0"], [5, 1, 5]), [10.0, 3.0])


def test_length_mismatch_names_both_lengths_after_flattening():
    with pytest.raises(ValueError) as info:
        M.plcc([[1.0, 2.0], [3.0, 4.0]], [1.0, 2.0, 3.0])
    assert str(info.value) == "length mismatch: 4 vs 3"
    with pytest.raises(ValueError) as info:
        M.krocc([1.0, 2.0, 3.0], [[1.0], [2.0]])
    assert str(info.value) == "length mismatch: 3 vs 2"


# ----------------------------------------------------------------------------- plcc clip


def test_plcc_of_exactly_proportional_scores_is_exactly_one():
    """x = 97 72 63 54 55 against 8.2 x: the plain ratio of the dot products is 1.0000000000000002
    in binary; the correlation is 1 (and -1 against -8.2 x), as scipy's pearsonr says."""
    x = np.array([97.0, 72.0, 63.0, 54.0, 55.0])
    assert M.plcc(x, 8.2 * x) == 1.0 == st.pearsonr(x, 8.2 * x).statistic
    assert M.plcc(x, -8.2 * x) == -1.0 == st.pearsonr(x, -8.2 * x).statistic


# ----------------------------------------------------------------------------- ranks over sources


# ----------------------------------------------------------------------------- allowed misses


@pytest.mark.parametrize(("n_sources", "attained"), [(1, 0.9), (1, 0.5), (9, 0.774), (13, 0.838), (20, 0.9)])
def test_allowed_misses_is_scipys_binomial_quantile(n_sources, attained):
    """The 95 % quantile of Binomial(S, 1 - level), found by walking scipy's CDF upwards."""
    k = 0
    while st.binom.cdf(k, n_sources, 1.0 - attained) < 0.95:
        k += 1
    assert M.allowed_misses(n_sources, attained) == k


def test_allowed_misses_by_hand():
    # one source at level 0.9: P(0 below) = 0.9 < 0.95, P(<= 1 below) = 1: one miss allowed
    assert M.allowed_misses(1, 0.9) == 1
    # no sources: nothing may fall below
    assert M.allowed_misses(0, 0.9) == 0
    assert M.allowed_misses(0, 0.5) == 0


# ----------------------------------------------------------------------------- logistic fit


def _count_calls(monkeypatch):
    calls = {"f": 0, "jac": 0}
    f, jac = M._logistic5, M._logistic5_jac

    def counted_f(*args):
        calls["f"] += 1
        return f(*args)

    def counted_jac(*args):
        calls["jac"] += 1
        return jac(*args)

    monkeypatch.setattr(M, "_logistic5", counted_f)
    monkeypatch.setattr(M, "_logistic5_jac", counted_jac)
    return calls


def test_logistic_fit_stays_within_its_evaluation_budget(monkeypatch):
    """Near-linear data never converges (b1 -> 0): the fit stops at LOGISTIC_MAX_NFEV = 50
    evaluations of the model (plus one to map the predictions), its derivatives analytic (a
    finite-difference Jacobian would evaluate the model 5 more times per step)."""
    rng = np.random.default_rng(0)
    x = np.linspace(20.0, 95.0, 50)
    y = 2.0 * x + 0.5 * rng.standard_normal(50)
    calls = _count_calls(monkeypatch)
    mapped, params = M.logistic_fit(x, y)
    assert params is not None
    assert 1 <= calls["f"] <= 51 and calls["jac"] >= 1
    assert calls["f"] + calls["jac"] >= 20  # it did iterate (the budget is what stopped it)


def test_logistic_fit_of_two_steps_finds_the_least_squares_optimum():
    """A two-step target has several local optima: the fit must end at the best one, the best of
    curve_fit from 72 starts (on standardised data, where the logistic family is the same)."""
    t = np.linspace(-2.0, 2.0, 41)
    pred = 60.0 + 10.0 * t
    vmaf = 70.0 + 10.0 * (-0.5 * (t > 0.5) + 1.0 * (t > 1.1) - 0.5 * t)
    mapped, params = M.logistic_fit(pred, vmaf)
    assert params is not None
    sse = float(np.sum((mapped - vmaf) ** 2))
    xs = (pred - pred.mean()) / pred.std()
    ys = (vmaf - vmaf.mean()) / vmaf.std()
    best = math.inf
    bounds = ([-np.inf, -50.0, -np.inf, -np.inf, -np.inf], [np.inf, 50.0, np.inf, np.inf, np.inf])
    for b3 in np.linspace(-2.0, 2.0, 9):
        for b2 in (0.5, 2.0, 8.0, 30.0):
            for b1 in (-2.0, 2.0):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        p, _ = curve_fit(
                            _vqeg_more_edges, xs, ys, p0=[b1, b2, b3, 0.0, 0.0], bounds=bounds, maxfev=5000
                        )
                    except RuntimeError:
                        continue
                best = min(best, float(np.sum((_vqeg_more_edges(xs, *p) - ys) ** 2)))
    best_sse = best * vmaf.var()  # back to VMAF points: x sy^2
    assert sse == pytest.approx(best_sse, rel=1e-6)


def test_logistic_fit_of_a_step_is_at_the_steepness_bound():
    """A step (no target value between the two levels): the steeper the logistic, the smaller the
    squared error, so the fit ends at the bound on the steepness, |b2| = 50 (standardised x)."""
    x = np.linspace(40.0, 60.0, 40)  # no point at 50: the step lies between two points
    y = np.where(x > 50.0, 80.0, 40.0)
    mapped, params = M.logistic_fit(x, y)
    assert params is not None
    assert abs(params[1]) == pytest.approx(50.0, abs=1e-3)


def test_logistic_fit_of_a_constant_target_is_the_identity_without_a_warning():
    pred = np.array([50.0, 55.0, 60.0, 65.0, 70.0, 75.0, 80.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would be an exception here
        mapped, params = M.logistic_fit(pred, np.full(7, 70.0))
    assert params is None and mapped.tolist() == pred.tolist()


def test_logistic_fit_with_far_outliers_does_not_overflow():
    """Two predictions far out (-1500, 2500) beside a sharp step: at the fitted steepness the
    exponent of the far one passes 709 (where exp overflows); the model must saturate quietly and
    still map the predictions."""
    x = np.concatenate([np.linspace(40.0, 60.0, 400), [-1500.0, 2500.0]])
    y = np.where(x > 50.0, 80.0, 40.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mapped, params = M.logistic_fit(x, y)
    assert params is not None
    xs = (x - x.mean()) / x.std()
    assert np.max(params[1] * (xs - params[2])) > 709.0  # the far point's exponent, unclipped
    assert np.all(np.isfinite(mapped))


def test_logistic_fit_subsample_keeps_tied_predictions_in_input_order():
    """4000 predictions, the integers 0..99 forty times each (shuffled): the fit runs on 2000 of
    them, evenly spaced in prediction order, and tied predictions keep their input order (so the
    subsample does not depend on numpy's sort algorithm). Sorted positions 0, 2, ..., 1998 then
    2001, 2003, ..., 3999 (round(i x 3999 / 1999)): per prediction g the 1st, 3rd, ... of its 40
    rows for g < 50 and the 2nd, 4th, ... for g >= 50. Each row's target is f(g) - 4 on its 1st,
    3rd, ... occurrence and f(g) + 4 on the others, so the subsample is exactly 20 copies of
    (g, f(g) - 4) for g < 50 and of (g, f(g) + 4) from 50: the fit must be that of those 100
    points (curve_fit from 21 starts, the best)."""
    rng = np.random.default_rng(7)
    pred = rng.permutation(np.repeat(np.arange(100.0), 40))

    def f(g):
        return 20.0 + 60.0 / (1.0 + np.exp(-(g - 50.0) / 12.0))

    seen: dict[float, int] = {}
    offset = np.empty(pred.size)
    for i, g in enumerate(pred):
        offset[i] = -4.0 if seen.get(g, 0) % 2 == 0 else 4.0
        seen[g] = seen.get(g, 0) + 1
    mapped, params = M.logistic_fit(pred, f(pred) + offset)
    assert params is not None

    g = np.arange(100.0)
    sub = f(g) + np.where(g < 50.0, -4.0, 4.0)
    best_sse, best = math.inf, None
    for b3 in np.linspace(20.0, 80.0, 7):
        for b2 in (0.05, 0.2, 1.0):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    p, _ = curve_fit(_vqeg_more_edges, g, sub, p0=[60.0, b2, b3, 0.0, 50.0], maxfev=20000)
                except RuntimeError:
                    continue
            sse = float(np.sum((_vqeg_more_edges(g, *p) - sub) ** 2))
            if sse < best_sse:
                best_sse, best = sse, p
    fitted = np.array([mapped[pred == v][0] for v in g])
    np.testing.assert_allclose(fitted, _vqeg_more_edges(g, *best), atol=1e-3)
