"""Re-derive everything a decision rests on from the files it pins: the seed reports checked
against their held-out predictions, those predictions replayed from the saved fold members, the corpus they name (by sha256), the rows each fold's domain
serves, the calibration, the accuracy terms beside the nu-SVR baseline refitted from the corpus,
and the label sensitivity. `verdict` writes what this returns; `run_gate` judges it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vmafkit import layout
from vmafkit import thresholds as T
from vmafkit.decide.gate import gate_from_reports, load_evidence, normalise_seeds, report_corpus
from vmafkit.errors import InputError
from vmafkit.io import sha256_file
from vmafkit.train.recipe import DEFAULT_SEEDS


def resolve_corpus_path(reports: Mapping[int, Mapping[str, Any]], loso_dir: Path) -> Path:
    """The one corpus every seed report names (path and sha256); InputError when they disagree,
    the file is missing, or its bytes changed since training."""
    named = {seed: report_corpus(r, layout.seed_report(loso_dir, seed)) for seed, r in reports.items()}
    if len(set(named.values())) != 1:
        detail = "; ".join(f"seed {s}: {p} ({d[:12]})" for s, (p, d) in sorted(named.items()))
        raise InputError(f"seed reports name different corpora ({detail})", path=loso_dir)
    name, expected = next(iter(named.values()))
    path = Path(name)
    if not path.is_absolute() and not path.exists() and (loso_dir / path).exists():
        path = loso_dir / path
    if not path.is_file():
        raise InputError("corpus named by the seed reports not found", path=path)
    actual = sha256_file(path)
    if actual != expected:
        raise InputError(
            f"corpus bytes changed since training (sha256 {actual[:12]} != the seed reports' {expected[:12]})",
            path=path,
        )
    return path


def recipe_from_reports(reports: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    """The training recipe the seeds ran with (must agree across seeds)."""
    from vmafkit.train.recipe import Recipe

    keys = ("epochs", "batch_size", "lr", "weight_decay")
    recipes = {seed: {**{k: r[k] for k in keys}, **(r.get("recipe") or {})} for seed, r in reports.items()}
    distinct = {tuple(sorted(v.items())) for v in recipes.values()}
    if len(distinct) != 1:
        raise InputError(f"seed reports were trained with different recipes: {recipes}")
    recipe = Recipe.from_json(next(iter(recipes.values()))).to_json()
    return {**recipe, "name": Recipe.from_json(recipe).name}


def check_predictions_match_corpus(
    preds: Mapping[int, Mapping[str, Any]], paths: Mapping[int, Path], corpus, corpus_path: Path
) -> None:
    """Every prediction file holds each corpus row once, with the corpus's own vmaf and group:
    a prediction file with an edited target would make any PLCC."""
    for seed, cols in preds.items():
        where = paths[seed]
        if cols["row"].size != len(corpus) or not np.array_equal(cols["row"], np.arange(len(corpus))):
            raise InputError(f"rows do not match the {len(corpus)} rows of {corpus_path}", path=where)
        if not np.array_equal(cols["vmaf"], corpus.vmaf):
            bad = int(np.flatnonzero(cols["vmaf"] != corpus.vmaf)[0])
            raise InputError(
                f"row {bad}: vmaf {cols['vmaf'][bad]!r} is not the corpus's {corpus.vmaf[bad]!r}", path=where
            )
        if not np.array_equal(cols["fold"], np.asarray(corpus.group, dtype=str)):
            raise InputError("fold of some row is not its source group in the corpus", path=where)


def label_sensitivity(preds: Mapping[int, Mapping[str, np.ndarray]]) -> dict[str, Any] | None:
    """How far held-out predictions move when only the codec block changes, recomputed from the
    prediction files: `to_unknown` from |pred_unlabelled - pred|, `to_other_encoder` from each
    row's `shift_other_encoder` (the largest move to another trained encoder). Per seed: mean, 95th
    percentile and max over rows; over seeds: the mean of means, the largest p95 and max."""
    out: dict[str, Any] = {}
    for key in ("to_unknown", "to_other_encoder"):
        parts = []
        for cols in preds.values():
            if key == "to_unknown":
                if "pred_unlabelled" not in cols:
                    continue
                values = np.abs(np.asarray(cols["pred_unlabelled"], dtype=np.float64) - cols["pred"])
            else:
                if "shift_other_encoder" not in cols:
                    continue
                values = np.asarray(cols["shift_other_encoder"], dtype=np.float64)
                values = values[np.isfinite(values)]
            if values.size:
                parts.append((float(values.mean()), float(np.quantile(values, 0.95)), float(values.max())))
        out[key] = (
            None
            if not parts
            else {
                "mean_abs": float(np.mean([p[0] for p in parts])),
                "p95_abs_max": float(max(p[1] for p in parts)),
                "max_abs": float(max(p[2] for p in parts)),
            }
        )
    return out if any(out.values()) else None


@dataclass
class Evidence:
    """What a verdict is computed from, every number re-derived."""

    seeds: list[int]
    reports: dict[int, dict[str, Any]]
    preds: dict[int, dict[str, np.ndarray]]
    prediction_paths: dict[int, Path]
    corpus_path: Path
    corpus: Any  # corpus.schema.Corpus
    recipe: dict[str, Any]
    served: np.ndarray
    calibration: dict[str, Any]  # {"summary", "file"}
    accuracy: dict[str, Any]
    label_sensitivity: dict[str, Any] | None
    # {seed: {file, sha256}} of the fold members every held-out prediction was replayed from;
    # None when the seed reports name none (not written by `vmafkit train`: export refuses it)
    fold_members: dict[int, dict[str, Any]] | None = None

    def gate(self) -> dict[str, Any]:
        summary = self.calibration["summary"]
        return gate_from_reports(
            self.reports, summary["fold_frame_coverage_min"], accuracy=self.accuracy, calibration=summary
        )


def derive_evidence(
    loso_dir: str | Path, seeds: Iterable[int] | None = None, coverage: float = T.DEFAULT_COVERAGE
) -> Evidence:
    """Load and re-check every input of `loso_dir`'s verdict (InputError naming the file when one
    is missing, malformed, edited or stale) and recompute the evidence."""
    from vmafkit.corpus.schema import load_corpus
    from vmafkit.decide.accuracy import accuracy_evidence, seed_mean
    from vmafkit.decide.calibration import calibrate
    from vmafkit.train.baseline import loso_predictions
    from vmafkit.train.domain import held_out_served
    from vmafkit.train.fold_members import check_seed_members
    from vmafkit.train.recipe import Recipe

    loso_dir = Path(loso_dir)
    seeds = normalise_seeds(DEFAULT_SEEDS if seeds is None else seeds)
    reports, preds, pred_paths = load_evidence(loso_dir, seeds)
    corpus_path = resolve_corpus_path(reports, loso_dir)
    recipe = recipe_from_reports(reports)
    corpus = load_corpus(corpus_path)
    check_predictions_match_corpus(preds, pred_paths, corpus, corpus_path)
    trained_with = Recipe.from_json(recipe)
    fold_members = check_seed_members(loso_dir, reports, preds, corpus, trained_with)
    label_free = trained_with.label_free
    served, _ = held_out_served(corpus, label_free=label_free)
    calib = calibrate(preds, coverage, pred_paths, label_free=label_free, served=served)
    # resolve_corpus_path has checked the file's bytes against the reports' sha256: it is the key
    baseline = loso_predictions(corpus, cache_key=report_corpus(next(iter(reports.values())))[1])
    accuracy = accuracy_evidence(seed_mean(preds), corpus, served, baseline=baseline)
    return Evidence(
        seeds=seeds,
        reports=reports,
        preds=preds,
        prediction_paths=pred_paths,
        corpus_path=corpus_path,
        corpus=corpus,
        recipe=recipe,
        served=served,
        calibration=calib,
        accuracy=accuracy,
        label_sensitivity=label_sensitivity(preds),
        fold_members=fold_members,
    )


def run_gate(
    loso_dir: str | Path, seeds: Iterable[int] = DEFAULT_SEEDS, coverage: float = T.DEFAULT_COVERAGE
) -> dict[str, Any]:
    """Load and re-check the evidence of `loso_dir` and return the gate report."""
    return derive_evidence(loso_dir, seeds, coverage).gate()
