"""The production gate: read `loso_seed{N}.json` reports and judge them against `thresholds`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Mapping

from . import thresholds as T
from .errors import InputError
from .io import read_json
from .validation import validate_or_raise


def seed_report_path(loso_dir: str | Path, seed: int) -> Path:
    return Path(loso_dir) / f"loso_seed{int(seed)}.json"


def load_seed_report(path: str | Path, seed: int | None = None) -> dict[str, Any]:
    """Read and check one seed report; any problem is an InputError (exit 2) naming the file."""
    path = Path(path)
    report = read_json(path, what="seed report")
    validate_or_raise(report, "seed_report", path=path, what="seed report")
    if seed is not None and int(report["seed"]) != int(seed):
        raise InputError(f"seed report says seed {report['seed']} but its name says seed {seed}", path=path)
    plcc = report["mean_plcc"]
    if plcc is None:
        raise InputError("mean_plcc is null: the PLCC of every fold is undefined (constant target or prediction)",
                         path=path)
    if not math.isfinite(plcc) or not -1.0 <= plcc <= 1.0:
        raise InputError(f"mean_plcc {plcc!r} is not a correlation in [-1, 1]", path=path)
    from .train.features import ENCODER_VOCAB_VERSION, NUM_CODECS

    if "num_codecs" in report and report["num_codecs"] != NUM_CODECS:
        raise InputError(f"num_codecs {report['num_codecs']} is not this vmafkit's {NUM_CODECS}", path=path)
    version = report.get("encoder_vocab_version")
    if version is not None and version != ENCODER_VOCAB_VERSION:
        raise InputError(f"encoder_vocab_version {version!r} is not this vmafkit's {ENCODER_VOCAB_VERSION!r}", path=path)
    return report


def report_corpus(report: Mapping[str, Any]) -> tuple[str, str | None]:
    """(corpus path, sha256 or None): the SPEC's `corpus` is a path; vmafkit's trainer writes an
    object {path, sha256, rows, ...}. Both are read."""
    corpus = report["corpus"]
    if isinstance(corpus, str):
        return corpus, None
    return str(corpus["path"]), corpus.get("sha256")


def load_seed_reports(loso_dir: str | Path, seeds: Iterable[int] = T.DEFAULT_SEEDS) -> dict[int, dict[str, Any]]:
    """{seed: report} for every seed; a missing or malformed report raises InputError."""
    seeds = normalise_seeds(seeds)
    loso_dir = Path(loso_dir)
    if not loso_dir.is_dir():
        raise InputError("LOSO folder not found", path=loso_dir)
    return {seed: load_seed_report(seed_report_path(loso_dir, seed), seed) for seed in seeds}


def normalise_seeds(seeds: Iterable[int]) -> list[int]:
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise InputError("no seeds given")
    if len(set(seeds)) != len(seeds):
        raise InputError(f"seeds repeat: {seeds}")
    if any(s < 0 for s in seeds):
        raise InputError(f"seeds must be non-negative: {seeds}")
    return sorted(seeds)


def evaluate_gate(per_seed_plccs: Mapping[int, float]) -> dict[str, Any]:
    """The gate report (SPEC keys). `per_seed_plccs` maps seed -> that seed's mean LOSO PLCC."""
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
    return {
        "passed": bool(mean_pass and spread_pass and per_seed_pass),
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
    }


def gate_from_reports(reports: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    return evaluate_gate({seed: float(r["mean_plcc"]) for seed, r in reports.items()})


def run_gate(loso_dir: str | Path, seeds: Iterable[int] = T.DEFAULT_SEEDS) -> dict[str, Any]:
    """Load the seed reports of `loso_dir` and return the gate report."""
    return gate_from_reports(load_seed_reports(loso_dir, seeds))


def failing_aspects(gate: Mapping[str, Any]) -> list[str]:
    """One human line per failing aspect, naming the seeds involved."""
    out: list[str] = []
    plccs = {int(k): float(v) for k, v in gate["per_seed_plccs"].items()}
    if not gate["mean_plcc_pass"]:
        out.append(f"mean_plcc {gate['mean_plcc']:.4f} < {gate['mean_plcc_threshold']:.4f}")
    if not gate["plcc_spread_pass"]:
        lo = min(plccs, key=lambda s: (plccs[s], s))
        hi = max(plccs, key=lambda s: (plccs[s], -s))
        out.append(f"plcc_spread {gate['plcc_spread']:.4f} > {gate['plcc_spread_max']:.4f} "
                   f"(seed {lo} lowest at {plccs[lo]:.4f}, seed {hi} highest at {plccs[hi]:.4f})")
    for seed in gate["failing_seeds"]:
        out.append(f"seed {seed} plcc {plccs[int(seed)]:.4f} < {gate['per_seed_min']:.4f}")
    return out
