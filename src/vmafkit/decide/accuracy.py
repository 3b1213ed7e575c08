"""Accuracy in VMAF points, recomputed from the held-out prediction files and the corpus, beside
the classic baseline fitted on the same folds.

Everything here is re-derived from pinned files (the seed-mean of the held-out predictions, the
corpus's own targets, the baseline refitted from the corpus), never read from a seed report. Each
statistic is computed on the rows the fold's own training domain serves
(`train.domain.held_out_served`): a refused row is counted by the refusal terms instead.

* pooled: RMSE, bias, PLCC and SROCC over every served frame (row-weighted: a 960-frame source
  weighs 40 times a 24-frame one);
* per source: the same over that source's served frames; `fold_mean_*` averages them unweighted
  (one number per source, as the PLCC terms of the gate do);
* baseline: libvmaf's nu-SVR recipe (`train.baseline`) on the same folds and rows, its pooled RMSE
  and SROCC, and a one-sided Wilcoxon signed-rank test over sources of "the ensemble's per-source
  RMSE is larger than the baseline's plus the allowed margin" (`rmse_allowance`; scipy, exact for
  fewer than 50 sources without ties).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from vmafkit import thresholds as T
from vmafkit.corpus.schema import Corpus
from vmafkit.train import metrics


def _stats(pred: np.ndarray, target: np.ndarray) -> dict[str, Any]:
    if pred.size == 0:
        return {"n": 0, "rmse": None, "bias": None, "plcc": None, "srocc": None}
    return {
        "n": int(pred.size),
        "rmse": metrics.rmse(pred, target),
        "bias": float(np.mean(pred - target)),
        "plcc": _finite(metrics.plcc(pred, target)),
        "srocc": _finite(metrics.srocc(pred, target)),
    }


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def rmse_allowance(baseline_rmse: float) -> float:
    """The largest RMSE the ensemble may have beside a baseline of `baseline_rmse`: that plus the
    larger of `T.BASELINE_RMSE_MARGIN` of it and `T.BASELINE_RMSE_MARGIN_VMAF` VMAF points."""
    return baseline_rmse + max(T.BASELINE_RMSE_MARGIN * baseline_rmse, T.BASELINE_RMSE_MARGIN_VMAF)


def paired_worse_p(ensemble_rmse: list[float], baseline_rmse: list[float]) -> float | None:
    """One-sided p-value of "the ensemble's per-source RMSE exceeds the baseline's allowance"
    (`rmse_allowance`; Wilcoxon signed-rank over sources); None with fewer than 2 sources or when
    every difference is 0."""
    from scipy.stats import wilcoxon

    allowed = np.array([rmse_allowance(float(b)) for b in baseline_rmse])
    diff = np.asarray(ensemble_rmse, dtype=np.float64) - allowed
    if diff.size < 2 or not np.any(diff != 0):
        return None
    return float(wilcoxon(diff, alternative="greater", zero_method="wilcox").pvalue)


def accuracy_evidence(
    ensemble: np.ndarray,
    corpus: Corpus,
    served: np.ndarray,
    *,
    baseline: np.ndarray | None = None,
) -> dict[str, Any]:
    """The accuracy block of a verdict. `ensemble` [N]: seed-mean held-out prediction per corpus
    row; `served` [N]: rows their fold's domain serves; `baseline` [N]: the nu-SVR's held-out
    predictions (None: not compared)."""
    y = np.asarray(corpus.vmaf, dtype=np.float64)
    ensemble = np.asarray(ensemble, dtype=np.float64)
    served = np.asarray(served, dtype=bool)
    groups = corpus.group
    per_source: dict[str, dict[str, Any]] = {}
    for group in corpus.groups:
        rows = (groups == group) & served
        item = _stats(ensemble[rows], y[rows])
        item["n_refused"] = int(np.sum((groups == group) & ~served))
        if baseline is not None:
            item["baseline_rmse"] = metrics.rmse(baseline[rows], y[rows]) if rows.any() else None
        per_source[group] = item
    measured = {g: v for g, v in per_source.items() if v["n"]}
    worst_rmse = max(measured, key=lambda g: (measured[g]["rmse"], g)) if measured else None
    worst_bias = max(measured, key=lambda g: (abs(measured[g]["bias"]), g)) if measured else None
    out: dict[str, Any] = {
        "rows": {"served": int(served.sum()), "refused": int((~served).sum())},
        "pooled": _stats(ensemble[served], y[served]),
        "fold_mean": {
            key: _finite(metrics.nanmean([v[key] for v in measured.values()])) for key in ("rmse", "plcc", "srocc")
        },
        "source_rmse_max": {"source": worst_rmse, "value": measured[worst_rmse]["rmse"] if worst_rmse else None},
        "source_bias_max": {
            "source": worst_bias,
            "value": abs(measured[worst_bias]["bias"]) if worst_bias else None,
        },
        "per_source": per_source,
    }
    if baseline is not None:
        from vmafkit.train.baseline import MAX_TRAIN_ROWS, RECIPE

        base_stats = _stats(np.asarray(baseline, dtype=np.float64)[served], y[served])
        sources = [g for g in measured if per_source[g].get("baseline_rmse") is not None]
        out["baseline"] = {
            "recipe": {**RECIPE, "max_train_rows_per_fold": MAX_TRAIN_ROWS},
            "pooled": base_stats,
            "sources_better": sorted(g for g in sources if measured[g]["rmse"] < per_source[g]["baseline_rmse"]),
            "paired_worse_p": paired_worse_p(
                [measured[g]["rmse"] for g in sources], [per_source[g]["baseline_rmse"] for g in sources]
            ),
        }
    return out


def seed_mean(per_seed: Mapping[int, Mapping[str, np.ndarray]]) -> np.ndarray:
    """The ensemble's held-out prediction per row: the mean over seeds (files already aligned)."""
    return np.stack([np.asarray(per_seed[s]["pred"], dtype=np.float64) for s in sorted(per_seed)]).mean(axis=0)
