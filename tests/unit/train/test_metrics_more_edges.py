"""More edge cases of vmafkit.train.metrics found by mutation testing (tools/mutation.py).

Every expected value comes from an independent oracle: scipy.stats (pearsonr, rankdata, binom),
scipy.optimize.curve_fit from many starts, numpy, or a number worked out by hand next to it."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.stats as st
from scipy.optimize import curve_fit

from vmafkit.train import metrics as M


def _vqeg(x, b1, b2, b3, b4, b5):
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


@pytest.mark.parametrize(
    ("n_sources", "level", "k"),
    [
        (19, 0.5, 10),  # ceil(20 x 0.5) = 10
        (19, 0.9, 18),  # ceil(20 x 0.9) = 18
        (13, 0.6, 9),  # ceil(14 x 0.6) = ceil(8.4) = 9
        (9, 0.9, 9),  # ceil(10 x 0.9) = 9 = S
        (9, 0.95, 9),  # ceil(10 x 0.95) = 10, at most S = 9
        (99, 0.55, 55),  # 100 x 0.55 is 55.00000000000001 in binary: the 1e-9 slack keeps k = 55
        (99, 0.07, 7),  # 100 x 0.07 is 7.000000000000001: k = 7
        (12, 0.05, 1),  # ceil(13 x 0.05) = ceil(0.65) = 1
        (12, 0.0, 1),  # ceil(0) = 0: at least the smallest
        (1, 0.5, 1),  # ceil(2 x 0.5) = 1
    ],
)
def test_source_rank_by_hand(n_sources, level, k):
    assert M.source_rank(n_sources, level) == k


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


# ----------------------------------------------------------------------------- conformal quantile


def test_conformal_quantile_is_the_kth_smallest_of_shuffled_residuals():
    """1..99 shuffled: the k-th smallest is k, k = ceil(100 x coverage) (50, 80, 90, 95)."""
    for seed in range(64):
        r = np.random.default_rng(seed).permutation(np.arange(1.0, 100.0))
        for coverage, k in ((0.5, 50), (0.8, 80), (0.9, 90), (0.95, 95)):
            assert M.conformal_quantile(r, coverage) == float(k), (seed, coverage)


def test_conformal_quantile_leaves_out_undefined_residuals():
    """None (an undefined prediction) is left out like NaN: 9 residuals 1..9, k = ceil(10 x 0.5) = 5."""
    r = [3.0, None, 9.0, 1.0, 7.0, None, 5.0, 2.0, 8.0, 4.0, 6.0]
    assert M.conformal_quantile(r, 0.5) == 5.0
    assert M.conformal_quantile(["3", "-1", "2"], 0.5) == 2.0  # |3| 1 2 sorted: 1 2 3, k = 2


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
                        p, _ = curve_fit(_vqeg, xs, ys, p0=[b1, b2, b3, 0.0, 0.0], bounds=bounds, maxfev=5000)
                    except RuntimeError:
                        continue
                best = min(best, float(np.sum((_vqeg(xs, *p) - ys) ** 2)))
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
                    p, _ = curve_fit(_vqeg, g, sub, p0=[60.0, b2, b3, 0.0, 50.0], maxfev=20000)
                except RuntimeError:
                    continue
            sse = float(np.sum((_vqeg(g, *p) - sub) ** 2))
            if sse < best_sse:
                best_sse, best = sse, p
    fitted = np.array([mapped[pred == v][0] for v in g])
    np.testing.assert_allclose(fitted, _vqeg(g, *best), atol=1e-3)
