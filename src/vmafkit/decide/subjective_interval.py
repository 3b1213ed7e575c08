"""The ensemble's prediction interval, per-source conformal like vmafkit's VMAF intervals, and how
often it held on held-out contents.

Per content s, q_s = the smallest half-width covering at least `coverage` of that content's clips
(|score - ensemble|); the half-width is the k-th smallest q_s over contents, k from the tolerance
bound of `train.metrics.source_half_width`: "with SOURCE_CONFIDENCE, for at least the attained
level of new contents, at least `coverage` of their clips lie inside". Held-out check: each content's
clips are judged against the half-width calibrated on the *other* contents only, and the report
gives the pooled fraction inside (the held-out coverage), the per-content fractions and the worst.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vmafkit import thresholds as T
from vmafkit.train.folds import Fold
from vmafkit.train.metrics import source_half_width


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def conformal(
    pred: np.ndarray,
    target: np.ndarray,
    folds: Sequence[Fold],
    coverage: float = T.DEFAULT_COVERAGE,
    level: float = T.SOURCE_LEVEL,
) -> dict[str, Any]:
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    residual = np.abs(target - pred)
    per_source = {f.held_out: np.sort(residual[f.held]) for f in folds}
    held_half = np.empty(pred.size)
    per_fold: list[dict[str, Any]] = []
    for f in folds:
        others = [v for name, v in per_source.items() if name != f.held_out]
        h, attained = source_half_width(others, coverage, level)
        held_half[f.held] = h
        inside = residual[f.held] <= h
        per_fold.append(
            {
                "held_out": f.held_out,
                "n": int(f.held.size),
                "half_width": _finite(h),
                "source_level": attained,
                "coverage": float(inside.mean()),
            }
        )
    half, attained = source_half_width(list(per_source.values()), coverage, level)
    covered = residual <= held_half
    covs = [float(p["coverage"]) for p in per_fold]
    return {
        "method": "per-source (content) quantile of held-out |score - ensemble|, then a tolerance bound across contents "
        "(train.metrics.source_half_width); each content judged with the half-width of the other contents",
        "coverage_target": float(coverage),
        "source_level_target": float(level),
        "half_width": _finite(half),
        "source_level": attained,
        "held_out_coverage": float(covered.mean()),
        "fold_coverage_min": float(min(covs)),
        "fold_coverage_mean": float(np.mean(covs)),
        "per_fold": per_fold,
        "_held_half_width": held_half,
    }


def residuals_by_content(pred: np.ndarray, target: np.ndarray, groups: np.ndarray) -> dict[str, list[float]]:
    """{content: sorted |score - prediction| of its clips}: what `conformal` calibrates on, kept in
    an export's calibration file so that predict can give the interval at any coverage."""
    residual = np.abs(np.asarray(target, dtype=np.float64) - np.asarray(pred, dtype=np.float64))
    groups = np.asarray(groups, dtype=str)
    return {str(c): np.sort(residual[groups == c]).tolist() for c in sorted(set(groups.tolist()))}


def half_width(per_content: dict[str, Sequence[float]], coverage: float, level: float = T.SOURCE_LEVEL):
    """(half-width, attained content level) of a calibration's per-content residuals at `coverage`:
    the same number `conformal` reports as `half_width`."""
    return source_half_width([np.asarray(v, dtype=np.float64) for v in per_content.values()], coverage, level)
