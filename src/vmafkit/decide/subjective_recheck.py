"""`vmafkit subjective gate OUT`: the gate re-derived from the held-out predictions, not read
from the report.

The report is a cache of numbers that can be recomputed, so it is not trusted: the statistics,
the paired tests, the interval's coverage and the gate are computed again from
`subjective_predictions.jsonl` with the report's own bootstrap settings (fixed seed, so the
numbers must be equal), and a report that disagrees is refused (exit 2, naming it).

Nor are the files the gate reads trusted beyond what they cannot fake cheaply:

* the run's settings the report records (resamples, bootstrap seed and level, the interval's
  coverage target) pass the same checks as `subjective train`'s options (`run.check_options`), and
  the level may not be below SUBJECTIVE_CI_LEVEL (a narrower interval would lift the PLCC
  interval's lower end over its threshold) — so a report cannot crash the gate, make it allocate
  without bound or loosen it;
* the baselines the gate compares with are refitted: nu-SVR (libvmaf's recipe) and the linear
  model are fitted again per fold on the items file (`subjective_items.jsonl`, whose sha256 the
  seed reports pin) and must give the predictions file's columns (`BASELINE_TOLERANCE`): degrading
  nu-SVR's predictions to make the ensemble look better is refused.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from vmafkit import layout
from vmafkit.decide.subjective_evidence import PREDICTIONS_FILE, REPORT_SCHEMA, read_predictions, summarise
from vmafkit.decide.subjective_gate import StatisticsSettings
from vmafkit.decide.subjective_stats import STATISTICS
from vmafkit.errors import InputError
from vmafkit.io import read_json

TOLERANCE = 1e-9
# |refitted - recorded| allowed for a baseline's held-out prediction, relative to the scores' span:
# libsvm and least squares are deterministic, so only float noise across machines is allowed
BASELINE_TOLERANCE = 1e-6
REFITTED_BASELINES = ("nusvr", "linear")


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and (b is None or (isinstance(b, float) and not math.isfinite(b)))
    return abs(float(a) - float(b)) <= TOLERANCE * max(1.0, abs(float(b)))


def recheck(out_dir: str | Path) -> dict[str, Any]:
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise InputError("subjective run folder not found", path=out_dir)
    report_path = out_dir / layout.SUBJECTIVE_REPORT_FILE
    report = read_json(report_path, what="subjective report")
    if not isinstance(report, dict) or report.get("schema") != REPORT_SCHEMA:
        raise InputError(
            f"not a subjective report (schema {report.get('schema') if isinstance(report, dict) else None!r})",
            path=report_path,
        )
    settings = _settings(report, report_path)
    cols = read_predictions(out_dir / PREDICTIONS_FILE)
    preds: dict[str, np.ndarray] = {
        name: cols[name] for name in ("ensemble", "nusvr", "linear", "vmaf_logistic") if name in cols
    }
    if set(preds) != set(report.get("models", {})):
        raise InputError(
            f"models {sorted(report.get('models', {}))} differ from the prediction file's {sorted(preds)}",
            path=report_path,
        )
    _check_baselines(out_dir, report, report_path, cols)
    fresh = summarise(
        cols["target"],
        cols["groups"],
        preds,
        cols["per_seed"],
        settings,
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


def _settings(report: dict[str, Any], report_path: Path) -> StatisticsSettings:
    """The run's bootstrap and interval settings, checked as `subjective train` checks its options."""
    from vmafkit import thresholds as T

    try:
        boot = report["bootstrap"]
        values = (
            boot["resamples"],
            boot["seed"],
            boot["level"],
            report["models"]["ensemble"]["interval"]["coverage_target"],
        )
    except (KeyError, TypeError):
        raise InputError("report lacks its bootstrap or interval settings", path=report_path) from None
    n_boot, seed, level, coverage = values
    if isinstance(n_boot, float) and n_boot.is_integer():
        n_boot = int(n_boot)
    try:
        settings = StatisticsSettings(n_boot, seed, level, coverage)
    except InputError as exc:
        raise InputError(f"the run's settings: {exc}", path=report_path) from None
    if level < T.SUBJECTIVE_CI_LEVEL:
        raise InputError(
            f"bootstrap.level {level:g} is below {T.SUBJECTIVE_CI_LEVEL}: the gate judges the PLCC interval at "
            "that level at least",
            path=report_path,
        )
    return settings


def _check_baselines(out_dir: Path, report: dict[str, Any], report_path: Path, cols: dict[str, Any]) -> None:
    """Refit the cheap baselines on the items and compare with the predictions file (module doc)."""
    from vmafkit.corpus.subjective_scale import Scale
    from vmafkit.corpus.subjective_table import read_table
    from vmafkit.train import subjective_models as M
    from vmafkit.train.folds import content_folds
    from vmafkit.train.subjective_loso import ITEMS_FILE

    target = report.get("target")
    scale_json = target.get("scale") if isinstance(target, dict) else None
    features = target.get("features") if isinstance(target, dict) else None
    if not isinstance(scale_json, dict) or not isinstance(features, list) or not features:
        raise InputError("report names no features or no scale in `target`", path=report_path)
    low, high = scale_json.get("low"), scale_json.get("high")
    bounds_ok = (low is None and high is None) or (
        all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (low, high))
        and low < high  # type: ignore[operator]
    )
    if not bounds_ok:
        raise InputError(f"target.scale low/high {low!r}, {high!r} are not a range", path=report_path)
    scale = Scale(str(scale_json.get("name")), low, high, None, "")
    items_path = out_dir / ITEMS_FILE
    if not items_path.is_file():
        raise InputError("items file not found", path=items_path)
    items = read_table(items_path, [str(f) for f in features], "score", "content", id_column="id")
    if list(items.ids) != list(cols["ids"]) or not np.array_equal(items.groups, cols["groups"]):
        raise InputError(f"clips or contents differ from {PREDICTIONS_FILE}'s", path=items_path)
    if not np.array_equal(items.target, cols["target"]):
        raise InputError(f"scores differ from {PREDICTIONS_FILE}'s", path=items_path)
    folds = content_folds(items.groups)
    x, y = items.features, items.target
    span = float(np.ptp(y)) or 1.0
    refit = {
        "nusvr": scale.clip(M.per_fold(M.fit_predict_nusvr, x, y, folds)),
        "linear": scale.clip(M.per_fold(M.fit_predict_linear, x, y, folds)),
    }
    for name in REFITTED_BASELINES:
        gap = np.abs(refit[name] - cols[name])
        worst = int(np.argmax(gap))
        if not gap[worst] <= BASELINE_TOLERANCE * span:
            raise InputError(
                f"{name} predictions differ from {name} refitted on {ITEMS_FILE} (clip {cols['ids'][worst]}: "
                f"{cols[name][worst]:.6g} recorded, {refit[name][worst]:.6g} refitted); the baseline the gate "
                "compares with was edited",
                path=out_dir / PREDICTIONS_FILE,
            )
