"""How wide the training domain should be: held-out errors of rows near and beyond its edges.

    python bench/domain_margin.py LOSO_DIR

For every LOSO fold the domain is what `train.domain.training_domain` records for the *other*
sources, and each held-out row is classed by it (the seed-mean ensemble's held-out |error| and
whether the verdict's interval, calibrated without the row's source, covers it):

- per-feature margin: rows inside the box at margin 0, rows admitted only by a margin of 5 / 10 /
  20 / 50 % of each feature's range (the band just outside the trained range), rows beyond 50 %;
- joint distance (Mahalanobis, standardised features, ridge R on the correlation matrix): among
  rows inside the 5 % box, those beyond the farthest training row by more than M, for a grid of
  (R, M).

A margin is worth having when the rows it admits are predicted about as well as the rows inside;
a joint check is worth having when the rows it refuses are predicted worse.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from benchutil import cpu_model
from decide import held_out_rows

from vmafkit.corpus.schema import CANONICAL6
from vmafkit.decide.derive import derive_evidence
from vmafkit.train import domain as D

FEATURE_MARGINS = (0.0, 0.05, 0.10, 0.20, 0.50)
JOINT_GRID = ((1e-3, 0.1), (1e-3, 0.5), (0.05, 0.1), (0.05, 0.5), (0.2, 0.1))


def print_row(label: str, rows: np.ndarray, error: np.ndarray, covered: np.ndarray) -> None:
    if not rows.any():
        print(f"  {label:32s} {0:6d}")
        return
    q50, q95 = np.median(error[rows]), np.quantile(error[rows], 0.95)
    print(f"  {label:32s} {rows.sum():6d}   {q50:6.2f}   {q95:6.2f}   {covered[rows].mean():.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("loso", type=Path)
    args = parser.parse_args()
    print(f"machine: {cpu_model()}")
    ev = derive_evidence(args.loso)
    corpus = ev.corpus
    mean = np.stack([ev.preds[s]["pred"] for s in sorted(ev.preds)]).mean(axis=0)
    error = np.abs(mean - corpus.vmaf)
    score, _, multiplier = held_out_rows(ev, ev.calibration["summary"]["coverage"])
    covered = score <= multiplier
    outside_by = np.full(len(corpus), np.inf)  # smallest margin (fraction of range) that admits the row
    joint_ratio: dict[tuple[float, float], np.ndarray] = {}
    for group in corpus.groups:
        held = corpus.group == group
        train = corpus.features[~held]
        lo, hi = train.min(axis=0), train.max(axis=0)
        span = np.maximum(hi - lo, 1e-9)
        x = corpus.features[held]
        excess = np.maximum((lo - x) / span, (x - hi) / span).max(axis=1)
        outside_by[held] = np.maximum(excess, 0.0)
        for ridge, margin in JOINT_GRID:
            saved = D.JOINT_RIDGE
            D.JOINT_RIDGE = ridge
            try:
                joint = D.joint_domain(train)
            finally:
                D.JOINT_RIDGE = saved
            ratio = D.joint_distances(joint, x) / max(joint["max_distance"], 1e-12)
            joint_ratio.setdefault((ridge, margin), np.zeros(len(corpus)))[held] = ratio
    print(f"\n{args.loso}: {len(corpus)} held-out rows, {len(corpus.groups)} sources")
    print("per-feature margin band          rows   |error| p50   p95   covered by the interval")
    lower = 0.0
    for upper in (*FEATURE_MARGINS[1:], np.inf):
        if lower == 0.0:
            rows, label = outside_by <= 0.0, "inside the trained range"
            print_row(label, rows, error, covered)
        rows = (outside_by > lower) & (outside_by <= upper)
        label = f"beyond {lower:.0%}" if upper == np.inf else f"admitted by a {lower:.0%}-{upper:.0%} margin"
        print_row(label, rows, error, covered)
        lower = upper
    in_box = outside_by <= 0.05
    print("joint distance (rows inside the 5 % box):  ridge  margin  refused  |error| p95 refused / kept")
    for (ridge, margin), ratio in joint_ratio.items():
        refused = in_box & (ratio > 1.0 + margin)
        kept = in_box & ~refused
        p_ref = f"{np.quantile(error[refused], 0.95):.2f}" if refused.any() else "—"
        print(
            f"  {ridge:10g}  {margin:6.0%}  {refused.mean():7.1%}   {p_ref:>6s} / {np.quantile(error[kept], 0.95):.2f}"
        )
    print(f"(the features: {', '.join(CANONICAL6)})")


if __name__ == "__main__":
    main()
