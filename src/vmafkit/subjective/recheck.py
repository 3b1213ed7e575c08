"""`vmafkit subjective gate OUT`: the gate re-derived from the held-out predictions, not read
from the report.

The report is a cache of numbers that can be recomputed, so it is not trusted: the statistics,
the paired tests, the interval's coverage and the gate are computed again from
`subjective_predictions.jsonl` with the report's own bootstrap settings (fixed seed, so the
numbers must be equal), and a report that disagrees is refused (exit 2, naming it).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from vmafkit.errors import InputError
from vmafkit.io import read_json
from vmafkit.subjective.evidence import PREDICTIONS_FILE, read_predictions, summarise
from vmafkit.subjective.run import REPORT_FILE, REPORT_SCHEMA
from vmafkit.subjective.stats import STATISTICS

TOLERANCE = 1e-9


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and (b is None or (isinstance(b, float) and not math.isfinite(b)))
    return abs(float(a) - float(b)) <= TOLERANCE * max(1.0, abs(float(b)))


def recheck(out_dir: str | Path) -> dict[str, Any]:
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise InputError("subjective run folder not found", path=out_dir)
    report_path = out_dir / REPORT_FILE
    report = read_json(report_path, what="subjective report")
    if not isinstance(report, dict) or report.get("schema") != REPORT_SCHEMA:
        raise InputError(
            f"not a subjective report (schema {report.get('schema') if isinstance(report, dict) else None!r})",
            path=report_path,
        )
    try:
        boot = report["bootstrap"]
        coverage = report["models"]["ensemble"]["interval"]["coverage_target"]
        n_boot, seed, level = int(boot["resamples"]), int(boot["seed"]), float(boot["level"])
    except (KeyError, TypeError, ValueError):
        raise InputError("report lacks its bootstrap or interval settings", path=report_path) from None
    cols = read_predictions(out_dir / PREDICTIONS_FILE)
    preds: dict[str, np.ndarray] = {
        name: cols[name] for name in ("ensemble", "nusvr", "linear", "vmaf_logistic") if name in cols
    }
    if set(preds) != set(report.get("models", {})):
        raise InputError(
            f"models {sorted(report.get('models', {}))} differ from the prediction file's {sorted(preds)}",
            path=report_path,
        )
    fresh = summarise(
        cols["target"],
        cols["groups"],
        preds,
        cols["per_seed"],
        n_boot=n_boot,
        seed=seed,
        level=level,
        coverage=coverage,
    )
    fresh.pop("_held_half_width")
    for name, block in fresh["models"].items():
        for stat in STATISTICS:
            if not _same(report["models"][name].get(stat), block[stat]):
                raise InputError(
                    f"models.{name}.{stat} {report['models'][name].get(stat)} disagrees with the held-out "
                    f"predictions ({block[stat]}); the report was edited or belongs to other predictions",
                    path=report_path,
                )
    if report.get("gate", {}).get("passed") != fresh["gate"]["passed"]:
        raise InputError(
            "gate.passed disagrees with what the held-out predictions give; the report was edited", path=report_path
        )
    if report.get("n_items") != len(cols["ids"]):
        raise InputError(
            f"n_items {report.get('n_items')} != the prediction file's {len(cols['ids'])} rows", path=report_path
        )
    return {
        "out_dir": str(out_dir),
        "models": fresh["models"],
        "comparisons": fresh["comparisons"],
        "gate": fresh["gate"],
        "target": report.get("target"),
    }
