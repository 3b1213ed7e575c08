"""Label sensitivity and per-source interval coverage: the robust recipe against the seed's.

    python bench/trust.py --corpus CORPUS --out-dir DIR [--epochs 200] [--seeds 0,1,2,3,4]

Trains the LOSO ensemble twice on CORPUS (`--recipe robust`, the default, and `--recipe seed`, labels
never masked), derives each verdict (nothing is written but the LOSO folders), and
prints, per recipe: the gate's mean PLCC, mean RMSE, how far held-out predictions move when only
the codec block changes (true labels -> none given; true encoder -> another trained one), the
interval's half-width and guarantee, and per held-out source the frame coverage of the interval
calibrated on the other sources, for predictions made with the true labels and with none.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from vmafkit import layout
from vmafkit.decide.verdict import build_verdict
from vmafkit.train.loso import train_loso
from vmafkit.train.predictions import prediction_file, read_predictions
from vmafkit.train.recipe import DEFAULT_SEEDS, Recipe


def unlabelled_coverage(loso: Path, seeds: list[int], per_fold: list[dict]) -> dict[str, float]:
    """Per fold, coverage of |vmaf - mean over seeds of pred_unlabelled| by that fold's half-width."""
    cols = [read_predictions(prediction_file(loso, s)) for s in seeds]
    free = np.mean([c["pred_unlabelled"] for c in cols], axis=0)
    vmaf, fold = cols[0]["vmaf"], cols[0]["fold"]
    return {
        f["fold"]: float(np.mean(np.abs(vmaf - free)[fold == f["fold"]] <= f["frame_half_width"])) for f in per_fold
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--out-dir", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=Recipe().epochs)
    ap.add_argument("--seeds", default=",".join(map(str, DEFAULT_SEEDS)))
    ap.add_argument("--recipes", default="robust,seed", help="which recipes to train (comma-separated)")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    a = ap.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    results = {}
    for name in a.recipes.split(","):
        loso = a.out_dir / name
        started = time.perf_counter()
        train_loso(a.corpus, seeds, loso, Recipe.named(name, epochs=a.epochs), device="cpu", progress=False)
        wall = time.perf_counter() - started
        verdict, _ = build_verdict(loso, seeds)
        reports = [json.loads(layout.seed_report(loso, s).read_text()) for s in seeds]
        cal = verdict["calibration"]
        free = unlabelled_coverage(loso, seeds, cal["per_fold"])
        results[name] = {
            "train_wall_s": round(wall, 1),
            "verdict": verdict["verdict"],
            "mean_plcc": verdict["gate"]["mean_plcc"],
            "mean_rmse": float(np.mean([r["mean_rmse"] for r in reports])),
            "label_sensitivity": verdict["label_sensitivity"],
            "half_width": cal["frame"]["half_width"],
            "clip_half_width": cal["clip"]["half_width"],
            "source_level": cal["source_level"],
            "per_fold": {
                f["fold"]: {
                    "labelled": f.get("frame_coverage_labelled", f["frame_coverage"]),
                    "unlabelled": free[f["fold"]],
                    "half_width": f["frame_half_width"],
                }
                for f in cal["per_fold"]
            },
        }
    print(
        f"corpus {a.corpus} ({reports[0]['corpus']['rows']} rows, {reports[0]['n_folds']} folds), "
        f"{a.epochs} epochs, seeds {a.seeds}\n"
    )
    print(
        "| recipe | verdict | mean PLCC | mean RMSE | shift to no labels: mean / p95 / max | shift to another "
        "encoder: mean / max | frame half-width | worst fold, labelled | worst fold, no labels | folds >= 95 %, "
        "no labels | train s |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        ls = r["label_sensitivity"] or {}
        unk, oth = ls.get("to_unknown"), ls.get("to_other_encoder")
        folds = r["per_fold"].values()
        print(
            f"| {name} | {r['verdict']} | {r['mean_plcc']:.5f} | {r['mean_rmse']:.3f} | "
            + (f"{unk['mean_abs']:.2f} / {unk['p95_abs_max']:.2f} / {unk['max_abs']:.2f}" if unk else "n/a")
            + " | "
            + (f"{oth['mean_abs']:.2f} / {oth['max_abs']:.2f}" if oth else "n/a (one encoder)")
            + " | "
            + f"{r['half_width']:.2f} | {min(f['labelled'] for f in folds):.3f} | "
            + f"{min(f['unlabelled'] for f in folds):.3f} | "
            + f"{sum(f['unlabelled'] >= 0.95 for f in folds)}/{len(folds)} | {r['train_wall_s']} |"
        )
    print(
        "\nPer held-out source: frame coverage of the interval calibrated on the other sources (labelled / no labels)"
    )
    print("| source | " + " | ".join(results) + " |")
    print("|---|" + "---:|" * len(results))
    for fold in next(iter(results.values()))["per_fold"]:
        cells = [
            f"{r['per_fold'][fold]['labelled']:.3f} / {r['per_fold'][fold]['unlabelled']:.3f}" for r in results.values()
        ]
        print(f"| {fold} | " + " | ".join(cells) + " |")
    if a.json:
        a.json.write_text(json.dumps(results, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
