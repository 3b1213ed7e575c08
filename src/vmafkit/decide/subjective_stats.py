"""Agreement with the subjective scores, with intervals that respect what was sampled: contents.

Every statistic is computed over the pooled held-out predictions (each clip predicted by the
models of the fold that held its content out). Clips of one content are not independent draws,
so the uncertainty comes from a **bootstrap over contents**: each resample draws the contents
with replacement (all clips of a drawn content come along, a content drawn twice counts twice)
and recomputes the statistic; the interval is the percentile interval of the resamples (NaN
resamples, e.g. a constant target, are left out and counted). All models are scored on the same
resamples, so two models' difference is a **paired** bootstrap: its interval, and a two-sided
p-value from the same resamples (p = 2 min(#{d* <= 0} + 1, #{d* >= 0} + 1) / (B + 1), at most 1:
the smallest level at which the percentile interval of the difference excludes 0). The
resamples come from a fixed seed: same inputs, same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from vmafkit import thresholds as T
from vmafkit.decide.subjective_gate import check_resamples
from vmafkit.train import metrics

STATISTICS = ("plcc", "srocc", "krocc", "rmse")
# Which direction is better, per statistic (for the paired comparison's wording).
METHOD = (
    "percentile bootstrap over contents (clips of a drawn content resampled together), paired across models, fixed seed"
)


def statistics(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    return {name: statistics_one(name, pred, target) for name in STATISTICS}


class ContentBootstrap:
    """Resamples of contents, shared by every model scored with it."""

    def __init__(
        self,
        groups: np.ndarray,
        n_boot: int = T.SUBJECTIVE_BOOTSTRAP,
        seed: int = T.SUBJECTIVE_BOOTSTRAP_SEED,
        level: float = T.SUBJECTIVE_CI_LEVEL,
    ):
        # too few resamples and the paired test can never reach SUBJECTIVE_SIGNIFICANCE: refused here
        # too, for a count read from a report's own settings (`vmafkit subjective gate`)
        check_resamples(int(n_boot), "the run's --bootstrap")
        groups = np.asarray(groups, dtype=str)
        self.contents = sorted(set(groups.tolist()))
        self.members = [np.flatnonzero(groups == c) for c in self.contents]
        self.n_boot = int(n_boot)
        self.seed = int(seed)
        self.level = float(level)
        rng = np.random.default_rng([self.seed, len(self.contents), groups.size])
        self.draws = rng.integers(0, len(self.contents), size=(self.n_boot, len(self.contents)))
        self._indices = [np.concatenate([self.members[c] for c in draw]) for draw in self.draws]
        self._memo: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]] = {}

    def describe(self) -> dict[str, Any]:
        return {
            "method": METHOD,
            "resamples": self.n_boot,
            "seed": self.seed,
            "level": self.level,
            "n_contents": len(self.contents),
        }

    def interval(self, values: np.ndarray) -> tuple[float | None, float | None, int]:
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return None, None, 0
        alpha = (1.0 - self.level) / 2.0
        lo, hi = np.quantile(finite, [alpha, 1.0 - alpha])
        return float(lo), float(hi), int(finite.size)

    def scored(self, pred: np.ndarray, target: np.ndarray) -> dict[str, Any]:
        """{plcc, plcc_ci: [lo, hi], srocc, srocc_ci, krocc, krocc_ci, rmse, rmse_ci, n_resamples_used}."""
        pred = np.asarray(pred, dtype=np.float64)
        target = np.asarray(target, dtype=np.float64)
        out: dict[str, Any] = {}
        reps = self._replicates(pred, target)
        used = []
        for name in STATISTICS:
            out[name] = statistics_one(name, pred, target)
            lo, hi, n = self.interval(reps[name])
            out[f"{name}_ci"] = [lo, hi]
            used.append(n)
        out["n_resamples_used"] = int(min(used)) if used else 0
        return out

    def _replicates(self, pred: np.ndarray, target: np.ndarray) -> dict[str, np.ndarray]:
        key = (id(pred), id(target))
        hit = self._memo.get(key)
        if hit is not None and hit[0] is pred and hit[1] is target:
            return hit[2]
        reps = {name: np.empty(self.n_boot) for name in STATISTICS}
        for b, idx in enumerate(self._indices):
            p, t = pred[idx], target[idx]
            for name in STATISTICS:
                reps[name][b] = statistics_one(name, p, t)
        self._memo[key] = (pred, target, reps)  # the arrays are kept, so their ids cannot be reused
        return reps

    def paired(
        self, pred_a: np.ndarray, pred_b: np.ndarray, target: np.ndarray, a: str = "a", b: str = "b"
    ) -> dict[str, Any]:
        """The difference statistic(a) - statistic(b) for every statistic, with its paired
        interval and p-value (module doc), and a one-line reading of the PLCC difference."""
        pred_a = np.asarray(pred_a, dtype=np.float64)
        pred_b = np.asarray(pred_b, dtype=np.float64)
        target = np.asarray(target, dtype=np.float64)
        ra = self._replicates(pred_a, target)
        rb = self._replicates(pred_b, target)
        out: dict[str, Any] = {"a": a, "b": b, "difference": f"{a} - {b}"}
        for name in STATISTICS:
            observed = statistics_one(name, pred_a, target) - statistics_one(name, pred_b, target)
            d = ra[name] - rb[name]
            finite = d[np.isfinite(d)]
            lo, hi, n = self.interval(d)
            p = None
            if n:
                p = float(
                    min(
                        1.0,
                        2.0
                        * min(int(np.count_nonzero(finite <= 0)) + 1, int(np.count_nonzero(finite >= 0)) + 1)
                        / (n + 1),
                    )
                )
            out[f"{name}_diff"] = observed if math.isfinite(observed) else None
            out[f"{name}_diff_ci"] = [lo, hi]
            out[f"{name}_p_value"] = p
        out["plcc_significant"] = out["plcc_p_value"] is not None and out["plcc_p_value"] < T.SUBJECTIVE_SIGNIFICANCE
        out["reading"] = reading(out, a, b)
        return out


KROCC_DENSE_MAX = 600  # up to this many points, Kendall's tau-b by the dense O(n^2) sign product (faster there)


def krocc_small(pred: np.ndarray, target: np.ndarray) -> float:
    """Kendall's tau-b from the n x n sign matrices: the same number as `train.metrics.krocc`
    (ties in either variable handled), ~50x faster for the few dozen clips a bootstrap resample holds."""
    a = np.asarray(pred, dtype=np.float64).reshape(-1)
    b = np.asarray(target, dtype=np.float64).reshape(-1)
    n = a.size
    if n < 2:
        return math.nan
    sa = np.sign(a[:, None] - a[None, :])
    sb = np.sign(b[:, None] - b[None, :])
    s = float(np.sum(sa * sb)) / 2.0  # concordant - discordant over unordered pairs
    pairs_a = float(np.count_nonzero(sa)) / 2.0  # n0 - n1: pairs not tied in a
    pairs_b = float(np.count_nonzero(sb)) / 2.0
    denom = math.sqrt(pairs_a * pairs_b)
    if denom == 0.0:
        return math.nan
    return float(np.clip(s / denom, -1.0, 1.0))


def statistics_one(name: str, pred: np.ndarray, target: np.ndarray) -> float:
    if name == "plcc":
        return metrics.plcc(pred, target)
    if name == "srocc":
        return metrics.srocc(pred, target)
    if name == "krocc":
        return krocc_small(pred, target) if np.size(pred) <= KROCC_DENSE_MAX else metrics.krocc(pred, target)
    if name == "rmse":
        return metrics.rmse(pred, target)
    raise ValueError(name)


def reading(result: Mapping[str, Any], a: str, b: str) -> str:
    diff, p = result.get("plcc_diff"), result.get("plcc_p_value")
    lo, hi = result.get("plcc_diff_ci", [None, None])
    if diff is None or p is None:
        return f"PLCC difference {a} - {b} undefined"
    span = f"{diff:+.4f} [{lo:+.4f}, {hi:+.4f}], p = {p:.3f}"
    if p >= T.SUBJECTIVE_SIGNIFICANCE:
        return f"no significant PLCC difference between {a} and {b}: {span}"
    better = a if diff > 0 else b
    return f"{better} has the significantly higher PLCC: {a} - {b} = {span}"
