"""The verdict of an ensemble trained on subjective scores (`vmafkit subjective train` OUT).

`vmafkit verdict OUT` (or `OUT/loso`) writes `OUT/loso/PROMOTE.json` or `HOLD.json` as for a
VMAF run (`verdict.py` owns the file and its common keys); this module computes what is
particular to a subjective run, from its evidence, never from the numbers its report caches:

* the gate: `decide.subjective_recheck` re-derives every statistic, the interval's held-out coverage and
  the subjective gate (`decide.subjective_gate`, thresholds `SUBJECTIVE_*`) from
  `subjective_predictions.jsonl`, and refuses a report that disagrees;
* the LOSO files of the run (`loso/`) are checked against that file: every seed report's fold
  PLCCs against its prediction file (`gate.load_evidence`), every seed's held-out predictions
  equal to the predictions file's `ensemble_seeds`, the targets and contents equal to the
  items file's, which the seed reports pin by sha256;
* `target`: `{"kind": "subjective", "scale": {name, low, high, ...}}` (the scale the run declared);
  `features`: the model's input columns in order;
* `corpus`: the fingerprint of the items file (`subjective_items.jsonl`: one row per clip), its
  "sources" being the contents (the leave-one-out groups);
* `calibration`: the ensemble's conformal interval and its held-out coverage (`decide.subjective_interval`);
* `evidence`: the sha256 of every seed report and prediction file (in `loso/`) and of the run's
  report, predictions and items files (`evidence.subjective`, named relative to OUT), so
  `verdict.stale_reason` sees any of them change.

Seeds and coverage are the run's: the ensemble is the mean over every seed it trained, its
interval was calibrated at the run's coverage; asking for others is refused (exit 2).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from vmafkit import layout
from vmafkit.corpus.subjective_table import read_table
from vmafkit.decide.gate import load_evidence, normalise_seeds, report_corpus
from vmafkit.decide.subjective_evidence import PREDICTIONS_FILE, read_predictions
from vmafkit.decide.subjective_recheck import recheck
from vmafkit.errors import InputError
from vmafkit.io import read_json, sha256_file
from vmafkit.provenance import run_provenance
from vmafkit.train.subjective_loso import ITEMS_FILE

KIND = "subjective"
# Keys of a subjective verdict that decide something beyond verdict.DECIDING_KEYS.
DECIDING_KEYS = ("target", "features", "models", "comparisons")
# The run's own files, pinned by a subjective verdict (relative to the run folder).
RUN_FILES = (layout.SUBJECTIVE_REPORT_FILE, PREDICTIONS_FILE, ITEMS_FILE)
COVERAGE_TOL = 1e-12


def run_folder(path: str | Path) -> Path | None:
    """The subjective run folder that `path` is, or whose LOSO folder it is; None otherwise."""
    path = Path(path)
    if (path / layout.SUBJECTIVE_REPORT_FILE).is_file():
        return path
    if path == layout.loso_dir(path.parent) and (path.parent / layout.SUBJECTIVE_REPORT_FILE).is_file():
        return path.parent
    return None


def items_fingerprint(items_path: Path) -> dict[str, Any]:
    """{path, sha256, rows, n_sources, sources[{src: content, rows}], ref_dir: null, kind} of an
    items file (one row per clip); its identity keys are those of a VMAF corpus fingerprint."""
    from vmafkit.io import iter_json_objects

    counts: dict[str, int] = {}
    rows = 0
    for _, row in iter_json_objects(items_path, what="subjective items file"):
        content = str(row.get("content"))
        counts[content] = counts.get(content, 0) + 1
        rows += 1
    return {
        "kind": "subjective-items",
        "path": str(items_path),
        "sha256": sha256_file(items_path),
        "rows": rows,
        "n_sources": len(counts),
        "sources": [{"src": c, "rows": n} for c, n in sorted(counts.items())],
        "ref_dir": None,
    }


def _recipe(reports: dict[int, dict[str, Any]]) -> dict[str, Any]:
    from vmafkit.train.recipe import Recipe

    recipes = {seed: report.get("recipe") or {} for seed, report in reports.items()}
    if len({tuple(sorted(r.items())) for r in recipes.values()}) != 1:
        raise InputError(f"seed reports were trained with different recipes: {recipes}")
    recipe = Recipe.from_json(next(iter(recipes.values())))
    return {**recipe.to_json(), "name": recipe.name}


def _check_items_pinned(reports: dict[int, dict[str, Any]], loso: Path, items_path: Path) -> None:
    digest = sha256_file(items_path)
    for seed, report in reports.items():
        _, pinned = report_corpus(report, layout.seed_report(loso, seed))
        if pinned != digest:
            raise InputError(
                f"items file changed since training (sha256 {digest[:12]} != seed {seed}'s report's {pinned[:12]})",
                path=items_path,
            )


def _check_agreement(cols: dict[str, Any], preds: dict[int, dict[str, Any]], paths: dict[int, Path], items) -> None:
    """The LOSO files, the predictions file and the items file describe the same clips."""
    where = paths
    for seed, seed_cols in preds.items():
        if seed not in cols["per_seed"]:
            raise InputError(f"seed {seed} has no ensemble_seeds column in {PREDICTIONS_FILE}", path=where[seed])
        if not np.array_equal(seed_cols["pred"], cols["per_seed"][seed]):
            raise InputError(
                f"held-out predictions differ from {PREDICTIONS_FILE}'s ensemble_seeds[{seed}]", path=where[seed]
            )
        if not np.array_equal(seed_cols["vmaf"], cols["target"]):
            raise InputError(f"targets differ from {PREDICTIONS_FILE}'s", path=where[seed])
        if not np.array_equal(seed_cols["fold"], cols["groups"]):
            raise InputError(f"folds differ from the contents in {PREDICTIONS_FILE}", path=where[seed])
    if list(items.ids) != list(cols["ids"]) or not np.array_equal(items.target, cols["target"]):
        raise InputError(f"clips or scores differ from {PREDICTIONS_FILE}'s", path=items.source.get("path"))
    if not np.array_equal(items.groups, cols["groups"]):
        raise InputError(f"contents differ from {PREDICTIONS_FILE}'s", path=items.source.get("path"))


def _pin(folder: Path, name: str) -> dict[str, str]:
    return {"file": name, "sha256": sha256_file(folder / name)}


def build_body(
    out_dir: Path,
    seeds: Iterable[int] | None = None,
    *,
    coverage: float | None = None,
    argv: list[str] | None = None,
) -> dict[str, Any]:
    """Every key of the verdict but schema_version and generated_at_utc (verdict.py adds them)."""
    out_dir = Path(out_dir)
    loso = layout.loso_dir(out_dir)
    fresh = recheck(out_dir)
    report = read_json(out_dir / layout.SUBJECTIVE_REPORT_FILE, what="subjective report")
    cols = read_predictions(out_dir / PREDICTIONS_FILE)
    run_seeds = sorted(int(s) for s in cols["per_seed"])
    if seeds is not None and normalise_seeds(seeds) != run_seeds:
        raise InputError(
            f"--seeds {normalise_seeds(seeds)}: the subjective run trained seeds {run_seeds}; its ensemble is "
            "the mean over all of them (leave --seeds out)",
            path=out_dir,
        )
    interval = dict(fresh["models"]["ensemble"]["interval"])
    run_coverage = float(interval["coverage_target"])
    if coverage is not None and abs(float(coverage) - run_coverage) > COVERAGE_TOL:
        raise InputError(
            f"--coverage {coverage:g}: the subjective run calibrated its interval at {run_coverage:g} "
            "(`subjective train --coverage`); leave --coverage out",
            path=out_dir,
        )
    reports, preds, pred_paths = load_evidence(loso, run_seeds)
    items_path = out_dir / ITEMS_FILE
    if not items_path.is_file():
        raise InputError("items file not found", path=items_path)
    _check_items_pinned(reports, loso, items_path)
    target_block = report.get("target") if isinstance(report.get("target"), dict) else {}
    features = list(target_block.get("features") or [])
    if not features or not isinstance(target_block.get("scale"), dict):
        raise InputError(
            "report names no features or no scale in `target`", path=out_dir / layout.SUBJECTIVE_REPORT_FILE
        )
    items = read_table(items_path, features, "score", "content", id_column="id")
    _check_agreement(cols, preds, pred_paths, items)

    gate = fresh["gate"]
    verdict = "PROMOTE" if gate["passed"] else "HOLD"
    out_path = layout.verdict_file(loso, verdict)
    report_paths = {s: layout.seed_report(loso, s) for s in run_seeds}
    evidence = {
        "seed_reports": [{"seed": s, **_pin(loso, report_paths[s].name)} for s in run_seeds],
        "predictions": [{"seed": s, **_pin(loso, pred_paths[s].name)} for s in run_seeds],
        "subjective": [_pin(out_dir, name) for name in RUN_FILES],
    }
    statistics = {
        name: {k: v for k, v in block.items() if k not in ("per_seed", "interval")}
        for name, block in fresh["models"].items()
    }
    if gate["passed"]:
        advice = (
            f"flip seeds smoke->false: vmafkit export --corpus {items_path} --verdict {out_path} --out MODELS, "
            f"then vmafkit registry flip --registry {layout.registry_file('MODELS')} --verdict {out_path}; "
            "cite the items sha256 in the flip."
        )
    else:
        advice = "keep smoke=true; more contents, more clips per content or another recipe. Failing aspects: " + (
            "; ".join(gate["failing_aspects"])
        )
    inputs = [out_dir / name for name in RUN_FILES] + [report_paths[s] for s in run_seeds]
    inputs += [pred_paths[s] for s in run_seeds]
    return {
        "verdict": verdict,
        "loso_dir": str(loso),
        "seeds": run_seeds,
        "target": {"kind": KIND, "scale": dict(target_block["scale"])},
        "features": features,
        "gate": gate,
        "failing_aspects": list(gate["failing_aspects"]),
        "models": statistics,
        "comparisons": fresh["comparisons"],
        "corpus": items_fingerprint(items_path),
        "recipe": _recipe(reports),
        "evidence": evidence,
        "label_sensitivity": None,
        "calibration": {"coverage": run_coverage, **interval},
        "recommendation": advice,
        "run_provenance": run_provenance(
            "vmafkit verdict",
            {"run_dir": str(out_dir), "loso_dir": str(loso), "seeds": run_seeds, "coverage": run_coverage},
            inputs=inputs,
            outputs=[out_path],
            argv=argv,
        ),
        "_path": out_path,
    }
