"""The production gate: read the seed reports (`loso_seed{N}.json`), re-derive every PLCC from the
held-out prediction files beside them, and judge them against `thresholds`.

A seed report is a cache of numbers that can be recomputed, so it is never trusted: each fold's
PLCC, and the mean, min and max over folds, are recomputed from `loso_seed{N}.predictions.*`
and a report that disagrees (by more than `T.RECOMPUTE_TOL`) is refused, naming the file."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from vmafkit import layout
from vmafkit import thresholds as T
from vmafkit.errors import InputError
from vmafkit.io import read_json
from vmafkit.train.recipe import DEFAULT_SEEDS
from vmafkit.validation import validate_or_raise


def load_seed_report(path: str | Path, seed: int | None = None) -> dict[str, Any]:
    """Read and check one seed report; any problem is an InputError (exit 2) naming the file."""
    path = Path(path)
    report = read_json(path, what="seed report")
    validate_or_raise(report, "seed_report", path=path, what="seed report")
    if seed is not None and int(report["seed"]) != int(seed):
        raise InputError(f"seed report says seed {report['seed']} but its name says seed {seed}", path=path)
    plcc = report["mean_plcc"]
    if plcc is None:
        raise InputError(
            "mean_plcc is null: the PLCC of every fold is undefined (constant target or prediction)", path=path
        )
    if not math.isfinite(plcc) or not -1.0 <= plcc <= 1.0:
        raise InputError(f"mean_plcc {plcc!r} is not a correlation in [-1, 1]", path=path)
    report_corpus(report, path)
    from vmafkit.train.features import ENCODER_VOCAB_VERSION, NUM_CODECS

    if "num_codecs" in report and report["num_codecs"] != NUM_CODECS:
        raise InputError(f"num_codecs {report['num_codecs']} is not this vmafkit's {NUM_CODECS}", path=path)
    version = report.get("encoder_vocab_version")
    if version is not None and version != ENCODER_VOCAB_VERSION:
        raise InputError(
            f"encoder_vocab_version {version!r} is not this vmafkit's {ENCODER_VOCAB_VERSION!r}", path=path
        )
    return report


def report_corpus(report: Mapping[str, Any], path: str | Path | None = None) -> tuple[str, str]:
    """(corpus path, sha256) of a seed report: vmafkit's trainer writes `corpus` as an object
    {path, sha256, rows, ...}. The original kit's plain path (no sha256: nothing pins the bytes)
    is refused, naming the report (`path`)."""
    corpus = report["corpus"]
    if not (
        isinstance(corpus, Mapping) and isinstance(corpus.get("path"), str) and isinstance(corpus.get("sha256"), str)
    ):
        raise InputError(
            "corpus must be the object `vmafkit train` writes ({path, sha256, rows, ...}), not "
            f"{_shown(corpus)}; retrain with `vmafkit train`",
            path=path,
        )
    return str(corpus["path"]), corpus["sha256"]


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def load_seed_reports(loso_dir: str | Path, seeds: Iterable[int] = DEFAULT_SEEDS) -> dict[int, dict[str, Any]]:
    """{seed: report} for every seed; a missing or malformed report raises InputError. The
    reports' numbers are not checked here (see `load_evidence`)."""
    seeds = normalise_seeds(seeds)
    loso_dir = Path(loso_dir)
    if not loso_dir.is_dir():
        raise InputError("LOSO folder not found", path=loso_dir)
    return {seed: load_seed_report(layout.seed_report(loso_dir, seed), seed) for seed in seeds}


def _same(a: float | None, b: float) -> bool:
    if a is None:
        return not math.isfinite(b)
    return math.isfinite(b) and abs(float(a) - b) <= T.RECOMPUTE_TOL


def check_report_numbers(report: Mapping[str, Any], preds: Mapping[str, Any], report_path: Path) -> None:
    """InputError (naming the report) unless every fold PLCC and the mean/min/max in `report`
    equal what its held-out predictions give."""
    from vmafkit.train import metrics

    folds_in_file = sorted(set(preds["fold"].tolist()))
    folds_in_report = sorted(str(f["held_out"]) for f in report["folds"])
    if folds_in_file != folds_in_report:
        raise InputError(f"folds {folds_in_report} differ from the prediction file's {folds_in_file}", path=report_path)
    plccs = []
    for fold in report["folds"]:
        inside = preds["fold"] == str(fold["held_out"])
        value = metrics.plcc(preds["pred"][inside], preds["vmaf"][inside])
        if not _same(fold.get("plcc"), value):
            raise InputError(
                f"fold {fold['held_out']}: plcc {fold.get('plcc')} disagrees with its predictions "
                f"({value:.6f}); the report was edited or belongs to other predictions",
                path=report_path,
            )
        plccs.append(value)
    for key, value in (
        ("mean_plcc", metrics.nanmean(plccs)),
        ("min_plcc", metrics.nanmin(plccs)),
        ("max_plcc", metrics.nanmax(plccs)),
    ):
        if key in report and not _same(report[key], value):
            raise InputError(
                f"{key} {report[key]} disagrees with the mean over its folds' predictions ({value:.6f}); "
                "the report was edited",
                path=report_path,
            )


def load_evidence(
    loso_dir: str | Path, seeds: Iterable[int] = DEFAULT_SEEDS
) -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]], dict[int, Path]]:
    """(reports, predictions, prediction paths) for every seed, each report checked against its
    predictions. A missing prediction file is an InputError: the gate cannot recompute."""
    from vmafkit.train.predictions import prediction_file, read_predictions

    reports = load_seed_reports(loso_dir, seeds)
    paths: dict[int, Path] = {}
    preds: dict[int, dict[str, Any]] = {}
    for seed, report in reports.items():
        found = prediction_file(loso_dir, seed)
        if found is None:
            raise InputError(
                f"held-out prediction file of seed {seed} missing ({layout.predictions_name(seed)}): "
                "the gate recomputes every PLCC from it",
                path=loso_dir,
            )
        paths[seed] = found
        preds[seed] = read_predictions(found)
        check_report_numbers(report, preds[seed], layout.seed_report(loso_dir, seed))
    return reports, preds, paths


def normalise_seeds(seeds: Iterable[int]) -> list[int]:
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise InputError("no seeds given")
    if len(set(seeds)) != len(seeds):
        raise InputError(f"seeds repeat: {seeds}")
    if any(s < 0 for s in seeds):
        raise InputError(f"seeds must be non-negative: {seeds}")
    return sorted(seeds)


def evaluate_gate(per_seed_plccs: Mapping[int, float], interval_coverage: float | None = None) -> dict[str, Any]:
    """The gate report (the `gate` object of schemas/verdict.schema.json). `per_seed_plccs` maps
    seed -> that seed's mean LOSO PLCC; `interval_coverage`: the worst fold's frame coverage of the
    interval calibrated on the other folds (calibration), gated against `T.FOLD_COVERAGE_MIN`;
    None = not evaluated (fails)."""
    if not per_seed_plccs:
        raise InputError("the gate needs at least one seed")
    seeds = sorted(int(s) for s in per_seed_plccs)
    plccs = [float(per_seed_plccs[s]) for s in seeds]
    mean_plcc = sum(plccs) / len(plccs)
    spread = max(plccs) - min(plccs)
    failing = [s for s, p in zip(seeds, plccs) if p < T.PER_SEED_PLCC_MIN - T.GATE_EPS]
    mean_pass = mean_plcc >= T.MEAN_PLCC_MIN - T.GATE_EPS
    spread_pass = spread <= T.PLCC_SPREAD_MAX + T.GATE_EPS
    per_seed_pass = not failing
    coverage_pass = interval_coverage is not None and interval_coverage >= T.FOLD_COVERAGE_MIN - T.GATE_EPS
    return {
        "passed": bool(mean_pass and spread_pass and per_seed_pass and coverage_pass),
        "mean_plcc": mean_plcc,
        "mean_plcc_threshold": T.MEAN_PLCC_MIN,
        "mean_plcc_pass": bool(mean_pass),
        "plcc_spread": spread,
        "plcc_spread_max": T.PLCC_SPREAD_MAX,
        "plcc_spread_pass": bool(spread_pass),
        "per_seed_plccs": {str(s): p for s, p in zip(seeds, plccs)},
        "per_seed_min": T.PER_SEED_PLCC_MIN,
        "per_seed_pass": bool(per_seed_pass),
        "failing_seeds": failing,
        "interval_coverage_min": interval_coverage,
        "interval_coverage_threshold": T.FOLD_COVERAGE_MIN,
        "interval_coverage_pass": bool(coverage_pass),
    }


def gate_from_reports(reports: Mapping[int, Mapping[str, Any]], interval_coverage: float | None) -> dict[str, Any]:
    """The gate over reports already checked against their predictions (`load_evidence`)."""
    return evaluate_gate({seed: float(r["mean_plcc"]) for seed, r in reports.items()}, interval_coverage)


def run_gate(
    loso_dir: str | Path, seeds: Iterable[int] = DEFAULT_SEEDS, coverage: float = T.DEFAULT_COVERAGE
) -> dict[str, Any]:
    """Load and re-check the evidence of `loso_dir` and return the gate report."""
    from vmafkit.decide.calibration import calibrate
    from vmafkit.train.recipe import Recipe

    reports, preds, paths = load_evidence(loso_dir, seeds)
    label_free = Recipe.from_json(next(iter(reports.values())).get("recipe") or {}).label_free
    calib = calibrate(preds, coverage, paths, label_free=label_free)
    return gate_from_reports(reports, calib["summary"]["fold_frame_coverage_min"])


def failing_aspects(gate: Mapping[str, Any]) -> list[str]:
    """One human line per failing aspect, naming the seeds involved."""
    out: list[str] = []
    plccs = {int(k): float(v) for k, v in gate["per_seed_plccs"].items()}
    if not gate["mean_plcc_pass"]:
        out.append(f"mean_plcc {gate['mean_plcc']:.4f} < {gate['mean_plcc_threshold']:.4f}")
    if not gate["plcc_spread_pass"]:
        lo = min(plccs, key=lambda s: (plccs[s], s))
        hi = max(plccs, key=lambda s: (plccs[s], -s))
        out.append(
            f"plcc_spread {gate['plcc_spread']:.4f} > {gate['plcc_spread_max']:.4f} "
            f"(seed {lo} lowest at {plccs[lo]:.4f}, seed {hi} highest at {plccs[hi]:.4f})"
        )
    for seed in gate["failing_seeds"]:
        out.append(f"seed {seed} plcc {plccs[int(seed)]:.4f} < {gate['per_seed_min']:.4f}")
    if not gate.get("interval_coverage_pass", False):
        value = gate.get("interval_coverage_min")
        shown = "not measured" if value is None else f"{value:.3f}"
        out.append(
            f"worst-fold interval coverage {shown} < {gate.get('interval_coverage_threshold', T.FOLD_COVERAGE_MIN):.3f} "
            "(a new source's frames fall outside the calibrated interval too often)"
        )
    return out
