"""Width and held-out coverage of the ensemble's interval: absolute residuals vs residuals scaled by
the seeds' spread, for several offsets, on LOSO folders `vmafkit train` wrote.

    python bench/intervals.py LOSO_DIR [LOSO_DIR ...] [--coverage 0.95]

Each folder's evidence is re-derived as the verdict does (`decide.derive.derive_evidence`: the
rows each fold's own domain serves, the seed-mean ensemble). Written here with numpy from the
description in `decide/calibration.py`, independently of it: per row the score is the larger of
|vmaf - mean| / scale and the same without labels (robust recipe), scale = 1 (absolute) or the
seeds' population std + f x its median over the served rows; per source the 95 % quantile (the
ceil(0.95 n)-th smallest); the multiplier is the largest per-source quantile (the tolerance rank
below 22 sources); each source is judged with the largest of the *others*. Printed per folder and
variant: the median served half-width (multiplier x scale over the served rows) / the worst
source's held-out coverage, and which variant vmafkit serves (`thresholds.SPREAD_OFFSET`).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from benchutil import cpu_model

from vmafkit import layout
from vmafkit import thresholds as T
from vmafkit.decide.derive import derive_evidence

FACTORS = (None, 0.5, 1.0, 2.0, 4.0, 8.0)


def _quantile(values: np.ndarray, coverage: float) -> float:
    ordered = np.sort(values)
    return float(ordered[max(1, math.ceil(coverage * ordered.size - 1e-9)) - 1])


def variants(loso: Path, coverage: float) -> tuple[dict, dict]:
    seeds = sorted(int(m.group(1)) for p in loso.iterdir() if (m := layout.PREDICTIONS_RE.match(p.name)))
    ev = derive_evidence(loso, seeds, coverage)
    preds = np.stack([ev.preds[s]["pred"] for s in seeds])
    frees = np.stack([ev.preds[s].get("pred_unlabelled", ev.preds[s]["pred"]) for s in seeds])
    y, group, served = ev.corpus.vmaf, ev.corpus.group, ev.served
    spread, spread_free = preds.std(axis=0), frees.std(axis=0)
    median = float(np.median(spread[served]))
    out = {}
    for factor in FACTORS:
        if factor is not None and (len(seeds) < 2 or median <= 0):
            continue
        scale = np.ones(y.size) if factor is None else spread + factor * median
        scale_free = np.ones(y.size) if factor is None else spread_free + factor * median
        score = np.maximum(np.abs(y - preds.mean(axis=0)) / scale, np.abs(y - frees.mean(axis=0)) / scale_free)
        sources = sorted(set(group[served].tolist()))
        q = {s: _quantile(score[served & (group == s)], coverage) for s in sources}
        worst = min(
            float(np.mean(score[served & (group == s)] <= max(v for t, v in q.items() if t != s))) for s in sources
        )
        width = float(np.median(max(q.values()) * scale[served]))
        out["absolute" if factor is None else f"spread + {factor:g} x median"] = (width, worst)
    return out, {"seeds": len(seeds), "sources": len(set(group.tolist())), "rows": int(y.size)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("loso", nargs="+", type=Path)
    ap.add_argument("--coverage", type=float, default=T.DEFAULT_COVERAGE)
    a = ap.parse_args()
    print(f"machine: {cpu_model()}; served: spread + {T.SPREAD_OFFSET:g} x median (thresholds.SPREAD_OFFSET)")
    print("median served frame half-width / worst held-out source coverage")
    for loso in a.loso:
        table, info = variants(loso, a.coverage)
        print(f"\n{loso}: {info['rows']} rows, {info['sources']} sources, {info['seeds']} seeds")
        for name, (width, worst) in table.items():
            print(f"  {name:24s} ±{width:5.2f} / {worst:.3f}")


if __name__ == "__main__":
    main()
