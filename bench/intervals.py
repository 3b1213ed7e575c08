"""Per-source coverage of the ensemble's conformal intervals: constant width vs scaled by the seeds' spread.

    python bench/intervals.py LOSO_DIR [--coverage 0.95]

LOSO_DIR holds `vmafkit train`'s `loso_seed{N}.predictions.jsonl` files. For every fold (held-out
source) the half-width is calibrated on the *other* folds' held-out residuals of the seed-mean
ensemble (as `vmafkit.decide.calibration` does) and the fold's frame coverage is measured. Variants:

  constant        |y - mean| <= q                         (what vmafkit ships)
  spread + c      |y - mean| <= q * (sd + c), sd = the seeds' standard deviation on the row,
                  c = 0.1 VMAF points or the median sd (normalised conformal)

Prints mean and worst per-fold coverage and the mean half-width of each, plus corr(sd, |res|).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from vmafkit import layout
from vmafkit.train.metrics import conformal_quantile
from vmafkit.train.predictions import prediction_file, read_predictions


def held_out_table(loso_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fold [n], vmaf [n], preds [n, seeds]) of every row, seeds in file order."""
    seeds = sorted(int(m.group(1)) for p in loso_dir.iterdir() if (m := layout.PREDICTIONS_RE.match(p.name)))
    columns = [read_predictions(prediction_file(loso_dir, s)) for s in seeds]
    order = [np.argsort(c["row"]) for c in columns]
    first = columns[0]
    preds = np.stack([c["pred"][o] for c, o in zip(columns, order)], axis=1)
    return np.asarray(first["fold"])[order[0]], np.asarray(first["vmaf"], dtype=float)[order[0]], preds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("loso_dir", type=Path)
    ap.add_argument("--coverage", type=float, default=0.95)
    a = ap.parse_args()
    fold, y, preds = held_out_table(a.loso_dir)
    mean, sd = preds.mean(axis=1), preds.std(axis=1, ddof=1)
    res = np.abs(y - mean)
    folds = sorted(set(fold.tolist()))
    print(f"{len(y)} rows, {preds.shape[1]} seeds, {len(folds)} folds; coverage asked {a.coverage}")
    print("| interval | mean per-fold coverage | worst fold | mean half-width |")
    print("|---|---:|---:|---:|")
    for name, scale in (
        ("constant", np.ones_like(sd)),
        ("spread + 0.1", sd + 0.1),
        ("spread + median spread", sd + np.median(sd)),
    ):
        covered, widths = [], []
        for f in folds:
            held = fold == f
            half = conformal_quantile(res[~held] / scale[~held], a.coverage) * scale[held]
            covered.append(float(np.mean(res[held] <= half)))
            widths.append(float(np.mean(half)))
        print(f"| {name} | {np.mean(covered):.3f} | {min(covered):.3f} | {np.mean(widths):.2f} |")
    print(f"corr(seed spread, |residual|) = {np.corrcoef(sd, res)[0, 1]:.3f}")


if __name__ == "__main__":
    main()
