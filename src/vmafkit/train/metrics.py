"""Agreement metrics between predictions and the VMAF teacher, and the per-source quantile and
tolerance rank the intervals are built from (`decide.calibration`).

All functions take 1-D arrays, compute in float64, and return a Python float; a statistic that
is undefined (fewer than 2 points, a constant input) is NaN, never an exception. Reports turn NaN
into JSON null (`io.dumps_json`). `nanmin` / `nanmax` / `nanmean` ignore NaN and give NaN only
when nothing is left, so one undefined fold cannot make a summary order-dependent.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from vmafkit import thresholds as T

QUANTILES = (0.5, 0.8, 0.9, 0.95, 0.99)
LOGISTIC_MAX_NFEV = 50
LOGISTIC_MAX_POINTS = 2000  # larger sets: fit on an evenly spaced subsample of the points sorted by prediction
COVERAGES = (0.8, 0.9, 0.95)


def _pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"length mismatch: {a.shape[0]} vs {b.shape[0]}")
    return a, b


def plcc(pred, target) -> float:
    """Pearson linear correlation."""
    a, b = _pair(pred, target)
    if a.size < 2:
        return math.nan
    a = a - a.mean()
    b = b - b.mean()
    denom = math.sqrt(float(np.dot(a, a)) * float(np.dot(b, b)))
    if denom == 0.0 or not math.isfinite(denom):
        return math.nan
    return float(np.clip(np.dot(a, b) / denom, -1.0, 1.0))


def rankdata(x) -> np.ndarray:
    """Ranks 1..n, ties get the average of the ranks they span (scipy's 'average')."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    n = x.size
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    # Boundaries of runs of equal values.
    new_run = np.empty(n, dtype=bool)
    if n:
        new_run[0] = True
        new_run[1:] = xs[1:] != xs[:-1]
    starts = np.flatnonzero(new_run)
    ends = np.append(starts[1:], n)
    avg = (starts + ends + 1) / 2.0  # mean of ranks start+1 .. end
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def srocc(pred, target) -> float:
    """Spearman rank correlation with ties (Pearson of average ranks)."""
    a, b = _pair(pred, target)
    if a.size < 2:
        return math.nan
    return plcc(rankdata(a), rankdata(b))


def krocc(pred, target) -> float:
    """Kendall's tau-b (ties in either variable handled), exact, O(n log^2 n) (Knight's method)."""
    a, b = _pair(pred, target)
    n = a.size
    if n < 2:
        return math.nan
    order = np.lexsort((b, a))  # by a, ties by b
    _, b_rank = np.unique(b, return_inverse=True)
    swaps = _inversions(b_rank.reshape(-1)[order].astype(np.int64))
    n0 = n * (n - 1) / 2.0
    n1 = _tie_pairs(a)
    n2 = _tie_pairs(b)
    _, joint = np.unique(np.stack([a, b], axis=1), axis=0, return_counts=True)
    n3 = float((joint * (joint - 1) / 2.0).sum())
    discordant = float(swaps)
    concordant = n0 - n1 - n2 + n3 - discordant
    denom = math.sqrt((n0 - n1) * (n0 - n2))
    if denom == 0.0:
        return math.nan
    return float(np.clip((concordant - discordant) / denom, -1.0, 1.0))


def _inversions(x: np.ndarray) -> int:
    """Pairs i < j with x[i] > x[j] (strict), for non-negative ints: a vectorised bottom-up merge."""
    n = x.size
    size = 1 << max(0, (n - 1).bit_length())
    pad = int(x.max()) + 1 if n else 1
    big = pad + 1
    arr = np.full(size, pad, dtype=np.int64)  # padding is the largest value: no inversions
    arr[:n] = x
    inversions = 0
    width = 1
    while width < size:
        blocks = arr.reshape(-1, 2, width)
        nb = blocks.shape[0]
        offset = (np.arange(nb, dtype=np.int64) * big)[:, None]
        left = (blocks[:, 0, :] + offset).ravel()  # globally sorted: each row sorted, rows offset
        right = (blocks[:, 1, :] + offset).ravel()
        at_most = np.searchsorted(left, right, side="right") - np.repeat(np.arange(nb, dtype=np.int64) * width, width)
        inversions += int((width - at_most).sum())
        arr = np.sort(blocks.reshape(nb, 2 * width), axis=1).ravel()
        width *= 2
    return inversions


def _tie_pairs(x: np.ndarray) -> float:
    _, counts = np.unique(x, return_counts=True)
    return float((counts * (counts - 1) / 2.0).sum())


def rmse(pred, target) -> float:
    a, b = _pair(pred, target)
    if a.size == 0:
        return math.nan
    return float(math.sqrt(np.mean((a - b) ** 2)))


def _logistic5(x, b1, b2, b3, b4, b5):
    return b1 * (0.5 - 1.0 / (1.0 + np.exp(np.clip(b2 * (x - b3), -60.0, 60.0)))) + b4 * x + b5


def _logistic5_jac(x, b1, b2, b3, b4, b5):
    e = np.exp(np.clip(b2 * (x - b3), -60.0, 60.0))
    s = 1.0 / (1.0 + e)
    ds = s * (1.0 - s)  # d(1/(1+e^u))/du = -s(1-s); the model has a minus in front
    return np.stack([0.5 - s, b1 * ds * (x - b3), -b1 * ds * b2, x, np.ones_like(x)], axis=1)


def logistic_fit(pred, target) -> tuple[np.ndarray, np.ndarray | None]:
    """Fit the VQEG 5-parameter logistic target ~ f(pred); returns (f(pred), params or None).

    f(x) = b1 * (0.5 - 1 / (1 + exp(b2 * (x - b3)))) + b4 * x + b5, least squares (trust region,
    analytic Jacobian, at most LOGISTIC_MAX_NFEV evaluations) on standardised x and y from a fixed
    start, so it is deterministic and well scaled; the mapping is returned in target units. If the
    fit fails numerically, params is None and f is the identity.
    """
    from scipy.optimize import least_squares

    a, b = _pair(pred, target)
    if a.size < 6 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return a, None
    ax, sx = float(a.mean()), float(a.std())
    ay, sy = float(b.mean()), float(b.std())
    xs = (a - ax) / sx
    ys = (b - ay) / sy
    fx, fy = xs, ys
    if xs.size > LOGISTIC_MAX_POINTS:
        order = np.argsort(xs, kind="mergesort")
        pick = order[np.linspace(0, xs.size - 1, LOGISTIC_MAX_POINTS).round().astype(np.int64)]
        fx, fy = xs[pick], ys[pick]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = least_squares(
                lambda p: _logistic5(fx, *p) - fy,
                x0=[1.0, 1.0, 0.0, 0.5, 0.0],
                jac=lambda p: _logistic5_jac(fx, *p),
                method="trf",
                x_scale="jac",
                bounds=([-np.inf, -50.0, -np.inf, -np.inf, -np.inf], [np.inf, 50.0, np.inf, np.inf, np.inf]),
                max_nfev=LOGISTIC_MAX_NFEV,
            )
        # A fit that stops at the evaluation budget is still a least-squares improvement on the
        # start; it is deterministic, so it is used (near-linear data never "converges": b1 -> 0).
        mapped = _logistic5(xs, *fit.x) * sy + ay
        if not np.all(np.isfinite(mapped)):
            return a, None
    except Exception:  # a numerical failure: fall back to the identity mapping
        return a, None
    return mapped, fit.x


def plcc_logistic(pred, target) -> float:
    """PLCC after the VQEG 5-parameter logistic mapping of predictions onto the target."""
    a, b = _pair(pred, target)
    mapped, params = logistic_fit(a, b)
    linear = plcc(a, b)
    if params is None:
        return linear
    fitted = plcc(mapped, b)
    return fitted if math.isfinite(fitted) else linear


def _finite(values: Iterable[float]) -> np.ndarray:
    arr = np.asarray([math.nan if v is None else float(v) for v in values], dtype=np.float64)
    return arr[np.isfinite(arr)]


def _of_finite(reduce: Callable[[np.ndarray], Any]) -> Callable[[Iterable[float]], float]:
    def statistic(values: Iterable[float]) -> float:
        arr = _finite(values)
        return float(reduce(arr)) if arr.size else math.nan

    return statistic


nanmin = _of_finite(np.min)
nanmax = _of_finite(np.max)
nanmean = _of_finite(np.mean)
nanstd = _of_finite(np.std)  # population standard deviation (ddof=0)


def source_quantile(sorted_scores: np.ndarray, coverage: float) -> float:
    """The smallest half-width covering at least `coverage` of one source's (sorted) scores."""
    n = sorted_scores.size
    return float(sorted_scores[max(1, math.ceil(coverage * n - 1e-9)) - 1])


@functools.lru_cache(maxsize=256)
def tolerance_rank(n_sources: int, level: float, confidence: float) -> tuple[int, float]:
    """(k, attained level) of a distribution-free tolerance bound over sources.

    The k-th smallest of S i.i.d. per-source quantiles is at least the `level`-quantile of their
    distribution with probability P(Binomial(S, level) <= k - 1). k is the smallest rank whose
    probability reaches `confidence`: with that confidence, at least `level` of new sources have a
    quantile no larger than the k-th smallest. When even k = S falls short (S < log(1 - confidence)
    / log(level): 22 sources for 0.9 / 0.9), k = S and the level attained at `confidence` is
    (1 - confidence) ** (1 / S), which is what is then stated."""
    from scipy.stats import binom

    if n_sources < 1:
        return 0, 0.0
    for k in range(1, n_sources + 1):
        if binom.cdf(k - 1, n_sources, level) >= confidence - 1e-12:
            return k, float(level)
    return n_sources, float((1.0 - confidence) ** (1.0 / n_sources))


def source_half_width(
    per_source: Sequence[np.ndarray],
    coverage: float,
    level: float = T.SOURCE_LEVEL,
    confidence: float = T.SOURCE_CONFIDENCE,
) -> tuple[float, float]:
    """(half-width, attained source level) from per-source *sorted* scores: with `confidence`, at
    least that level of new sources have at least `coverage` of their frames inside
    (`tolerance_rank`)."""
    if not 0.0 < coverage < 1.0:
        raise ValueError(f"coverage must be in (0, 1), got {coverage}")
    quantiles = sorted(source_quantile(np.asarray(s), coverage) for s in per_source if len(s))
    if not quantiles:
        return math.inf, 0.0
    k, attained = tolerance_rank(len(quantiles), level, confidence)
    return quantiles[k - 1], attained


def allowed_misses(n_sources: int, attained_level: float, alpha: float = T.COVERAGE_CHECK_ALPHA) -> int:
    """How many of `n_sources` held-out sources may fall below the frame level before the check
    fails: the (1 - alpha) quantile of Binomial(S, 1 - attained level), the number a true
    guarantee leaves below with probability at least 1 - alpha."""
    from scipy.stats import binom

    if n_sources < 1:
        return 0
    return int(binom.ppf(1.0 - alpha, n_sources, 1.0 - attained_level))


def abs_residual_quantiles(pred, target, levels: Sequence[float] = QUANTILES) -> dict[str, float]:
    """{"0.5": q, ...}: empirical quantiles (numpy 'linear') of |pred - target|."""
    a, b = _pair(pred, target)
    r = np.abs(a - b)
    if r.size == 0:
        return {_key(q): math.nan for q in levels}
    return {_key(q): float(np.quantile(r, q)) for q in levels}


def _key(q: float) -> str:
    return f"{q:g}"


def agreement(pred, target) -> dict[str, float]:
    """plcc, srocc, krocc, rmse and plcc_logistic of one prediction set."""
    return {
        "plcc": plcc(pred, target),
        "srocc": srocc(pred, target),
        "krocc": krocc(pred, target),
        "rmse": rmse(pred, target),
        "plcc_logistic": plcc_logistic(pred, target),
    }


def cell_means(values: np.ndarray, cell_ids: np.ndarray) -> np.ndarray:
    """Mean of `values` per cell id, in ascending id order (ids need not be contiguous)."""
    ids, inverse = np.unique(np.asarray(cell_ids), return_inverse=True)
    sums = np.bincount(inverse, weights=np.asarray(values, dtype=np.float64), minlength=ids.size)
    counts = np.bincount(inverse, minlength=ids.size)
    return sums / counts
