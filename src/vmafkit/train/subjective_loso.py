"""The ensemble's held-out evidence in vmafkit's LOSO file format, in `OUT/loso/`.

`loso_seed{N}.json` and `loso_seed{N}.predictions.jsonl` as `train.loso` writes them (same keys,
`schema: vmafkit-loso-seed-v1`), with one item (clip) a row and one fold per content:

* predictions: `row, seed, src (= the item id), group and fold (= its content), encoder
  "unknown", preset "", cq 0, frame_index 0, vmaf, pred, pred_unlabelled`, where **`vmaf` holds
  the subjective target** and `pred` / `pred_unlabelled` this seed's held-out prediction on the
  target's scale (the codec block is always "not given" here, so they are equal);
* the report: every key of schemas/seed_report.schema.json; per fold the PLCC/SROCC/KROCC/RMSE *within* the held-out content
  (what `gate.check_report_numbers` recomputes), `pooled` (the same over all held-out clips: the
  number that matters for a subjective target), and a `target` block that says what `vmaf`
  means here: `{kind: "subjective", scale: {...}, pooling, features, ensemble_layout}`;
* `corpus` names `OUT/subjective_items.jsonl` (the per-clip features and targets, one JSON
  object a line) with its sha256.

`vmafkit gate OUT/loso` reads these files as they are (and judges them against the *VMAF*
thresholds: not meaningful for a subjective target). `vmafkit verdict OUT` (or `OUT/loso`) sees
the subjective run and judges it with the subjective gate instead (`decide.subjective_verdict`),
checking these files against `subjective_predictions.jsonl` and pinning them by sha256.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vmafkit import layout
from vmafkit.corpus.subjective_items import Items
from vmafkit.io import atomic_output, atomic_write_json, sha256_file
from vmafkit.provenance import run_provenance
from vmafkit.train import metrics
from vmafkit.train.folds import Fold
from vmafkit.train.predictions import write_predictions
from vmafkit.train.recipe import Recipe

ITEMS_FILE = layout.SUBJECTIVE_ITEMS_FILE


def write_items(path: Path, items: Items) -> None:
    lines = []
    for i in range(len(items)):
        row: dict[str, Any] = {
            "row": i,
            "id": items.ids[i],
            "content": str(items.groups[i]),
            "score": float(items.target[i]),
        }
        row.update({name: float(items.features[i, j]) for j, name in enumerate(items.feature_names)})
        if items.vmaf is not None:
            row["vmaf_v061"] = float(items.vmaf[i])
        if items.score_std is not None and np.isfinite(items.score_std[i]):
            row["score_std"] = float(items.score_std[i])
        if items.n_obs is not None and items.n_obs[i] > 0:
            row["n_obs"] = int(items.n_obs[i])
        lines.append(json.dumps(row, sort_keys=True, allow_nan=False) + "\n")
    with atomic_output(path, "wb") as handle:
        handle.write("".join(lines).encode("utf-8"))


def _stats(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    return {
        "plcc": metrics.plcc(pred, y),
        "srocc": metrics.srocc(pred, y),
        "krocc": metrics.krocc(pred, y),
        "rmse": metrics.rmse(pred, y),
    }


def write_loso(
    out_dir: Path,
    items: Items,
    items_path: Path,
    folds: Sequence[Fold],
    per_seed: Mapping[int, np.ndarray],
    recipe: Recipe,
    target_block: Mapping[str, Any],
    *,
    argv: list[str] | None = None,
    device: str = "cpu",
) -> list[Path]:
    """Write loso_seed{N}.json + .predictions.jsonl for every seed; returns the report paths."""
    from vmafkit.train.loso import REPORT_SCHEMA, training_fields  # the trainer brings torch: only when writing

    loso = layout.loso_dir(out_dir)
    loso.mkdir(parents=True, exist_ok=True)
    y = items.target
    corpus_block = {
        "path": str(items_path),
        "sha256": sha256_file(items_path),
        "rows": len(items),
        "sources": len(items),
        "groups": items.contents,
        "kind": "subjective-items",
    }
    paths = []
    for seed, pred in sorted(per_seed.items()):
        folds_out: list[dict[str, Any]] = []
        for f in folds:
            p, t = pred[f.held], y[f.held]
            folds_out.append(
                {"held_out": f.held_out, "n_train": int(f.train.size), "n_val": int(f.held.size), **_stats(p, t)}
            )
        plccs = [float(fr["plcc"]) for fr in folds_out]
        report_path = layout.seed_report(loso, seed)
        pred_path = layout.predictions_file(loso, seed)
        report = {
            "schema": REPORT_SCHEMA,
            "seed": int(seed),
            "corpus": corpus_block,
            "n_folds": len(folds),
            "folds": folds_out,
            "mean_plcc": metrics.nanmean(plccs),
            "std_plcc": metrics.nanstd(plccs),
            "min_plcc": metrics.nanmin(plccs),
            "max_plcc": metrics.nanmax(plccs),
            "n_undefined_folds": sum(1 for v in plccs if not np.isfinite(v)),
            "mean_srocc": metrics.nanmean([float(fr["srocc"]) for fr in folds_out]),
            "mean_rmse": metrics.nanmean([float(fr["rmse"]) for fr in folds_out]),
            "mean_krocc": metrics.nanmean([float(fr["krocc"]) for fr in folds_out]),
            "pooled": _stats(pred, y),
            **training_fields(recipe, device),
            "predictions_file": pred_path.name,
            "target": dict(target_block),
            "run_provenance": run_provenance(
                "vmafkit subjective train",
                {"out_dir": str(out_dir), "seed": int(seed)},
                inputs=[items_path],
                outputs=[report_path, pred_path],
                argv=argv,
            ),
        }
        _write_predictions(pred_path, seed, items, pred)
        atomic_write_json(report_path, report)
        paths.append(report_path)
    return paths


def _write_predictions(path: Path, seed: int, items: Items, pred: np.ndarray) -> None:
    """The LOSO prediction file of the items: no codec labels, so `pred_unlabelled` is `pred`."""
    n = len(items)
    groups = [str(g) for g in items.groups]
    write_predictions(
        path,
        seed,
        src=items.ids,
        group=groups,
        encoder=["unknown"] * n,
        preset=[""] * n,
        cq=np.zeros(n, dtype=np.int64),
        frame_index=np.zeros(n, dtype=np.int64),
        vmaf=np.asarray(items.target, dtype=np.float64),
        fold=groups,
        pred=np.asarray(pred, dtype=np.float64),
        pred_unlabelled=np.asarray(pred, dtype=np.float64),
    )
