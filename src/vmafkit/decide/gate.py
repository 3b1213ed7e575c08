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
from vmafkit.decide.accuracy import rmse_allowance
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
    if a is None or (isinstance(a, float) and math.isnan(a)):
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
    per_key: dict[str, list[float]] = {"plcc": [], "srocc": [], "rmse": []}
    compute = {"plcc": metrics.plcc, "srocc": metrics.srocc, "rmse": metrics.rmse}
    for fold in report["folds"]:
        inside = preds["fold"] == str(fold["held_out"])
        for key, fn in compute.items():
            value = fn(preds["pred"][inside], preds["vmaf"][inside])
            if (key == "plcc" or key in fold) and not _same(fold.get(key), value):
                raise InputError(
                    f"fold {fold['held_out']}: {key} {fold.get(key)} disagrees with its predictions "
                    f"({value:.6f}); the report was edited or belongs to other predictions",
                    path=report_path,
                )
            per_key[key].append(value)
    plccs = per_key["plcc"]
    for key, value in (
        ("mean_plcc", metrics.nanmean(plccs)),
        ("min_plcc", metrics.nanmin(plccs)),
        ("max_plcc", metrics.nanmax(plccs)),
        ("mean_srocc", metrics.nanmean(per_key["srocc"])),
        ("mean_rmse", metrics.nanmean(per_key["rmse"])),
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


def _check(value: float | None, threshold: float, *, at_most: bool) -> dict[str, Any]:
    """One gate term: {value, threshold, pass}; a value that was not measured (None/NaN) fails."""
    measured = value is not None and math.isfinite(value)
    if not measured:
        passed = False
    elif at_most:
        passed = value <= threshold + T.GATE_EPS  # type: ignore[operator]
    else:
        passed = value >= threshold - T.GATE_EPS  # type: ignore[operator]
    return {"value": value if measured else None, "threshold": threshold, "pass": bool(passed)}


def accuracy_checks(
    accuracy: Mapping[str, Any] | None, calibration: Mapping[str, Any] | None
) -> dict[str, dict[str, Any]]:
    """The gate's terms in VMAF points and against the baseline (thresholds.py), from the accuracy
    block (`decide.accuracy`) and the calibration summary (`decide.calibration`); a block that is
    None fails every term it carries."""
    acc = accuracy or {}
    pooled = acc.get("pooled") or {}
    base = acc.get("baseline") or {}
    base_pooled = base.get("pooled") or {}
    calib = calibration or {}
    frame = calib.get("frame") or {}
    check = calib.get("coverage_check") or {}
    refused = calib.get("refused") or {}
    checks = {
        "pooled_rmse": _check(pooled.get("rmse"), T.POOLED_RMSE_MAX, at_most=True),
        "source_rmse_max": _check((acc.get("source_rmse_max") or {}).get("value"), T.SOURCE_RMSE_MAX, at_most=True),
        "source_bias_max": _check((acc.get("source_bias_max") or {}).get("value"), T.SOURCE_BIAS_MAX, at_most=True),
        "frame_half_width_median": _check(frame.get("half_width"), T.FRAME_HALF_WIDTH_MEDIAN_MAX, at_most=True),
        "refusal_rate": _check(refused.get("rate"), T.REFUSAL_RATE_MAX, at_most=True),
        "coverage_sources_below": _check(check.get("n_below"), float(check.get("n_below_allowed", -1)), at_most=True),
    }
    base_rmse, ens_rmse = base_pooled.get("rmse"), pooled.get("rmse")
    base_srocc, ens_srocc = base_pooled.get("srocc"), pooled.get("srocc")
    checks["baseline_rmse"] = _check(
        ens_rmse, rmse_allowance(base_rmse) if base_rmse is not None else math.nan, at_most=True
    )
    checks["baseline_srocc"] = _check(
        ens_srocc, base_srocc - T.BASELINE_SROCC_MARGIN if base_srocc is not None else math.nan, at_most=False
    )
    p_value = base.get("paired_worse_p")
    if base and p_value is None:  # every per-source difference 0, or one source: nothing to test
        checks["baseline_paired"] = {"value": None, "threshold": T.BASELINE_ALPHA, "pass": bool(base)}
    else:
        checks["baseline_paired"] = _check(p_value, T.BASELINE_ALPHA, at_most=False)
    return checks


def evaluate_gate(
    per_seed_plccs: Mapping[int, float],
    interval_coverage: float | None = None,
    *,
    accuracy: Mapping[str, Any] | None = None,
    calibration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The gate report (the `gate` object of schemas/verdict.schema.json). `per_seed_plccs` maps
    seed -> that seed's mean LOSO PLCC; `interval_coverage`: the worst source's frame coverage of
    the interval calibrated on the other sources, gated against `T.FOLD_COVERAGE_MIN`; `accuracy`
    (`decide.accuracy.accuracy_evidence`) and `calibration` (the calibration summary): the terms
    in VMAF points, against the baseline, the refusals and the coverage count (`accuracy_checks`).
    Anything None was not evaluated, and fails."""
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
    checks = accuracy_checks(accuracy, calibration)
    checks_pass = all(c["pass"] for c in checks.values())
    return {
        "passed": bool(mean_pass and spread_pass and per_seed_pass and coverage_pass and checks_pass),
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
        "checks": checks,
    }


def gate_from_reports(
    reports: Mapping[int, Mapping[str, Any]],
    interval_coverage: float | None,
    *,
    accuracy: Mapping[str, Any] | None = None,
    calibration: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The gate over reports already checked against their predictions (`load_evidence`)."""
    return evaluate_gate(
        {seed: float(r["mean_plcc"]) for seed, r in reports.items()},
        interval_coverage,
        accuracy=accuracy,
        calibration=calibration,
    )


_CHECK_TEXT = {
    "pooled_rmse": ("pooled held-out RMSE {value:.2f} VMAF > {threshold:.2f}", "the ensemble is inaccurate"),
    "source_rmse_max": (
        "worst source RMSE {value:.2f} VMAF > {threshold:.2f} ({source})",
        "one source is predicted badly",
    ),
    "source_bias_max": ("worst source |bias| {value:.2f} VMAF > {threshold:.2f} ({source})", "predictions are shifted"),
    "frame_half_width_median": (
        "median served frame half-width {value:.2f} VMAF > {threshold:.2f}",
        "the interval is too wide to act on",
    ),
    "refusal_rate": (
        "{value:.1%} of held-out frames refused by their fold's domain > {threshold:.0%}",
        "new content like the corpus's is often outside the training domain",
    ),
    "coverage_sources_below": (
        "{value:.0f} sources below the frame coverage at an interval calibrated without them > {threshold:.0f} allowed",
        "the interval's guarantee does not hold",
    ),
    "baseline_rmse": (
        "pooled RMSE {value:.3f} > libvmaf's nu-SVR recipe's plus its margin = {threshold:.3f}",
        "the ensemble does not beat the classic baseline",
    ),
    "baseline_srocc": (
        "pooled SROCC {value:.4f} < libvmaf's nu-SVR recipe's - {srocc_margin} = {threshold:.4f}",
        "the ensemble ranks frames worse than the classic baseline",
    ),
    "baseline_paired": (
        "per-source RMSE worse than the nu-SVR baseline's plus its margin (Wilcoxon p = {value:.3g} < {threshold:g})",
        "the ensemble is significantly worse than the classic baseline",
    ),
}


def _check_line(name: str, check: Mapping[str, Any], sources: Mapping[str, Any]) -> str:
    text, why = _CHECK_TEXT.get(name, (name + " {value} vs {threshold}", "failed"))
    if check.get("value") is None and name != "baseline_paired":
        return f"{name} not measured ({why})"
    if check.get("value") is None:
        return f"{name}: no paired test possible ({why})"
    line = text.format(
        value=check["value"],
        threshold=check["threshold"],
        source=sources.get(name) or "source not given",
        srocc_margin=f"{T.BASELINE_SROCC_MARGIN:g}",
    )
    return f"{line} ({why})"


def failing_aspects(gate: Mapping[str, Any], accuracy: Mapping[str, Any] | None = None) -> list[str]:
    """One human line per failing aspect, naming the seeds (and sources) involved."""
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
    sources = {
        "source_rmse_max": ((accuracy or {}).get("source_rmse_max") or {}).get("source"),
        "source_bias_max": ((accuracy or {}).get("source_bias_max") or {}).get("source"),
    }
    for name, check in (gate.get("checks") or {}).items():
        if not check.get("pass"):
            out.append(_check_line(name, check, sources))
    return out
