"""The held-out evidence of a subjective run, and everything the report derives from it.

`subjective_predictions.jsonl`: one JSON object a line, one line per clip (item), sorted keys:
`row` (0-based item index), `id`, `content` (= `fold`, the content held out when the clip was
predicted), `target` (the subjective score), `ensemble` (mean over seeds), `ensemble_seeds`
({seed: prediction}), `lower`/`upper` (the ensemble's interval calibrated on the other contents,
clipped to a declared scale), `nusvr`, `linear` and, with videos, `vmaf` (libvmaf's stock v0.6.1
score of the clip) and `vmaf_logistic` (that score through the logistic fitted on the other
contents).

`summarise` turns these columns into the report's statistics (models, comparisons, interval,
gate); `vmafkit subjective gate` runs it again on the file, so the report's numbers are never
trusted on their own.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vmafkit import layout
from vmafkit.decide import subjective_gate
from vmafkit.decide.subjective_gate import StatisticsSettings
from vmafkit.decide.subjective_interval import conformal
from vmafkit.decide.subjective_stats import ContentBootstrap
from vmafkit.errors import InputError
from vmafkit.io import atomic_output, iter_json_objects
from vmafkit.train.folds import Fold, content_folds

PREDICTIONS_FILE = layout.SUBJECTIVE_PREDICTIONS_FILE
# the schema of subjective_report.json: `pipeline.subjective` writes it, `subjective_recheck` reads it
REPORT_SCHEMA = "vmafkit-subjective-report-v1"
BASELINES = ("nusvr", "linear", "vmaf_logistic")


def write_predictions(
    path: Path,
    ids: Sequence[str],
    groups: np.ndarray,
    target: np.ndarray,
    columns: Mapping[str, np.ndarray],
    per_seed: Mapping[int, np.ndarray],
    lower: np.ndarray,
    upper: np.ndarray,
) -> None:
    lines = []
    for i in range(target.size):
        row: dict[str, Any] = {
            "row": i,
            "id": ids[i],
            "content": str(groups[i]),
            "fold": str(groups[i]),
            "target": float(target[i]),
            "lower": float(lower[i]) if math.isfinite(lower[i]) else None,
            "upper": float(upper[i]) if math.isfinite(upper[i]) else None,
            "ensemble_seeds": {str(s): float(v[i]) for s, v in per_seed.items()},
        }
        for name, values in columns.items():
            row[name] = float(values[i])
        lines.append(json.dumps(row, sort_keys=True, allow_nan=False) + "\n")
    with atomic_output(path, "wb") as handle:
        handle.write("".join(lines).encode("utf-8"))


def read_predictions(path: Path) -> dict[str, Any]:
    """Columns of a predictions file; InputError naming file:line on anything malformed."""
    rows = list(iter_json_objects(path, what="subjective predictions file"))
    if not rows:
        raise InputError("subjective predictions file has no rows", path=path)
    first = rows[0][1]
    numeric = ["target", "ensemble", "nusvr", "linear"] + [k for k in ("vmaf", "vmaf_logistic") if k in first]
    seeds = sorted(first.get("ensemble_seeds", {}) if isinstance(first.get("ensemble_seeds"), dict) else {}, key=str)
    cols: dict[str, list] = {k: [] for k in ["row", "id", "content", *numeric]}
    per_seed: dict[str, list] = {s: [] for s in seeds}
    for expected, (line, row) in enumerate(rows):
        where = f"{path}:{line}"
        for key in ("row", "id", "content", "fold", "ensemble_seeds", *numeric):
            if key not in row:
                raise InputError(f"{where}: missing key {key!r}")
        if row["row"] != expected:
            raise InputError(f"{where}: row {row['row']!r} out of order (expected {expected})")
        if row["fold"] != row["content"]:
            raise InputError(
                f"{where}: fold {row['fold']!r} is not the clip's content {row['content']!r}: "
                "a clip must be predicted by the fold that held its content out"
            )
        for key in numeric:
            value = row[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InputError(f"{where}: {key} must be a finite number, got {value!r}")
            cols[key].append(float(value))
        ens = row["ensemble_seeds"]
        if not isinstance(ens, dict) or sorted(ens, key=str) != seeds:
            raise InputError(f"{where}: ensemble_seeds must give seeds {seeds}")
        for s in seeds:
            value = ens[s]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InputError(f"{where}: ensemble_seeds[{s}] must be a finite number, got {value!r}")
            per_seed[s].append(float(value))
        if abs(float(np.mean([ens[s] for s in seeds])) - float(row["ensemble"])) > 1e-9 * max(
            1.0, abs(row["ensemble"])
        ):
            raise InputError(f"{where}: ensemble {row['ensemble']!r} is not the mean of its seeds' predictions")
        cols["row"].append(row["row"])
        cols["id"].append(str(row["id"]))
        cols["content"].append(str(row["content"]))
    out: dict[str, Any] = {k: np.asarray(v, dtype=np.float64) for k, v in cols.items() if k in numeric}
    out["ids"] = cols["id"]
    out["groups"] = np.asarray(cols["content"], dtype=str)
    out["per_seed"] = {int(s): np.asarray(v, dtype=np.float64) for s, v in per_seed.items()}
    return out


def summarise(
    target: np.ndarray,
    groups: np.ndarray,
    preds: Mapping[str, np.ndarray],
    per_seed: Mapping[int, np.ndarray],
    settings: StatisticsSettings,
    *,
    folds: Sequence[Fold] | None = None,
) -> dict[str, Any]:
    """{models, comparisons, interval, bootstrap, gate} from held-out predictions (module doc)."""
    folds = list(folds) if folds is not None else content_folds(groups)
    boot = ContentBootstrap(groups, n_boot=settings.n_boot, seed=settings.boot_seed, level=settings.level)
    models: dict[str, Any] = {}
    for name, values in preds.items():
        models[name] = {"n": int(values.size), **boot.scored(values, target)}
    from vmafkit.decide.subjective_stats import statistics

    models["ensemble"]["per_seed"] = {str(s): statistics(v, target) for s, v in sorted(per_seed.items())}
    interval = conformal(preds["ensemble"], target, folds, settings.coverage)
    held_half = interval.pop("_held_half_width")
    models["ensemble"]["interval"] = interval
    comparisons = {
        f"ensemble_vs_{b}": boot.paired(preds["ensemble"], preds[b], target, "ensemble", b)
        for b in BASELINES
        if b in preds
    }
    verdict = subjective_gate.evaluate(
        len(boot.contents), models["ensemble"], interval, comparisons["ensemble_vs_nusvr"]
    )
    return {
        "models": models,
        "comparisons": comparisons,
        "bootstrap": boot.describe(),
        "gate": verdict,
        "_held_half_width": held_half,
    }
