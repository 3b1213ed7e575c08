"""PROMOTE/HOLD verdict files and the corpus fingerprint that pins what was trained on."""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from . import thresholds as T
from .calibration import calibrate_from_loso
from .errors import InputError
from .gate import failing_aspects, gate_from_reports, load_seed_reports, normalise_seeds, report_corpus, seed_report_path
from .io import atomic_write_json, read_json, sha256_file
from .provenance import run_provenance
from .validation import validate_or_raise

VERDICT_SCHEMA_VERSION = 1
PROMOTE_FILE = "PROMOTE.json"
HOLD_FILE = "HOLD.json"
# The fingerprint fields that identify the corpus itself (the path and the reference-folder
# snapshot describe where it lived and are informational).
IDENTITY_KEYS = ("sha256", "rows", "sources")


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def ref_dir_snapshot(ref_dir: str | Path) -> dict[str, Any]:
    """sha256 over the sorted `relpath\\tsize` lines of every file below `ref_dir` (not the bytes:
    that would dominate on a 37 GB corpus), and the file count. Symlinked folders are not followed."""
    ref_dir = Path(ref_dir)
    if not ref_dir.is_dir():
        raise InputError("reference folder not found", path=ref_dir)
    lines = []
    for root, dirs, files in os.walk(ref_dir):
        dirs.sort()
        for name in files:
            full = Path(root) / name
            with contextlib.suppress(FileNotFoundError):
                lines.append(f"{full.relative_to(ref_dir).as_posix()}\t{full.stat().st_size}")
    lines.sort()
    digest = hashlib.sha256("".join(line + "\n" for line in lines).encode("utf-8")).hexdigest()
    return {"path": str(ref_dir), "sha256": digest, "count": len(lines)}


def corpus_fingerprint(corpus_path: str | Path, ref_dir: str | Path | None = None) -> dict[str, Any]:
    """{path, sha256, rows, n_sources, sources[{src, src_sha256, rows}], ref_dir}."""
    from .corpus.schema import load_corpus

    corpus_path = Path(corpus_path)
    corpus = load_corpus(corpus_path)
    sources: dict[tuple[str, str], int] = {}
    for src, digest in zip(corpus.src.tolist(), corpus.src_sha256.tolist()):
        sources[(src, digest)] = sources.get((src, digest), 0) + 1
    return {
        "path": str(corpus_path),
        "sha256": sha256_file(corpus_path),
        "rows": len(corpus),
        "n_sources": len(sources),
        "sources": [{"src": s, "src_sha256": d, "rows": n} for (s, d), n in sorted(sources.items())],
        "ref_dir": ref_dir_snapshot(ref_dir) if ref_dir is not None else None,
    }


def fingerprint_identity(fingerprint: Mapping[str, Any]) -> dict[str, Any]:
    return {k: fingerprint.get(k) for k in IDENTITY_KEYS}


def same_corpus(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return fingerprint_identity(a) == fingerprint_identity(b)


def fingerprint_difference(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> str:
    for key in IDENTITY_KEYS:
        if expected.get(key) != actual.get(key):
            if key == "sources":
                return "the sources (or their sha256) differ"
            return f"{key} {actual.get(key)} != {expected.get(key)}"
    return "no difference"


def resolve_corpus_path(reports: Mapping[int, Mapping[str, Any]], loso_dir: Path) -> Path:
    """The one corpus every seed report names (path, and sha256 where the report carries it);
    InputError when they disagree, the file is missing, or its bytes changed since training."""
    named = {seed: report_corpus(r) for seed, r in reports.items()}
    paths = {seed: p for seed, (p, _) in named.items()}
    digests = {seed: d for seed, (_, d) in named.items() if d is not None}
    if len(set(paths.values())) != 1 or len(set(digests.values())) > 1:
        detail = "; ".join(f"seed {s}: {p}" + (f" ({digests[s][:12]})" if s in digests else "")
                           for s, p in sorted(paths.items()))
        raise InputError(f"seed reports name different corpora ({detail})", path=loso_dir)
    path = Path(next(iter(paths.values())))
    if not path.is_absolute() and not path.exists() and (loso_dir / path).exists():
        path = loso_dir / path
    if not path.is_file():
        raise InputError("corpus named by the seed reports not found", path=path)
    if digests:
        expected = next(iter(digests.values()))
        if sha256_file(path) != expected:
            raise InputError(f"corpus bytes changed since training (sha256 {sha256_file(path)[:12]} != the seed "
                             f"reports' {expected[:12]})", path=path)
    return path


def recipe_from_reports(reports: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    """The training recipe the seeds ran with (must agree across seeds)."""
    from .train.model import Recipe

    keys = ("epochs", "batch_size", "lr", "weight_decay")
    recipes = {seed: {k: r[k] for k in keys} for seed, r in reports.items()}
    distinct = {tuple(sorted(v.items())) for v in recipes.values()}
    if len(distinct) != 1:
        raise InputError(f"seed reports were trained with different recipes: {recipes}")
    recipe = Recipe().to_json()
    first = next(iter(reports.values()))
    if isinstance(first.get("recipe"), dict):  # vmafkit's trainer also writes the whole recipe
        recipe.update({k: v for k, v in first["recipe"].items() if k in recipe})
    recipe.update(next(iter(recipes.values())))
    return recipe


def recommendation(gate: Mapping[str, Any], corpus_path: Path, verdict_path: Path) -> str:
    if gate["passed"]:
        return (f"flip seeds smoke->false: vmafkit export --corpus {corpus_path} --verdict {verdict_path} "
                f"--out-dir MODELS, then vmafkit registry flip --registry MODELS/registry.json --verdict {verdict_path}; "
                f"cite corpus sha256 in the flip.")
    return ("keep smoke=true; investigate diversity / hyperparameters. Failing aspects: "
            + "; ".join(failing_aspects(gate)))


def build_verdict(loso_dir: str | Path, seeds: Iterable[int] = T.DEFAULT_SEEDS, *, ref_dir: str | Path | None = None,
                  argv: list[str] | None = None, coverage: float = T.DEFAULT_COVERAGE) -> tuple[dict[str, Any], Path]:
    """Compute the verdict (nothing is written): (verdict JSON, path it belongs at)."""
    loso_dir = Path(loso_dir)
    seeds = normalise_seeds(seeds)
    reports = load_seed_reports(loso_dir, seeds)
    corpus_path = resolve_corpus_path(reports, loso_dir)
    recipe = recipe_from_reports(reports)
    gate = gate_from_reports(reports)
    fingerprint = corpus_fingerprint(corpus_path, ref_dir)
    calib = calibrate_from_loso(loso_dir, seeds, coverage)
    verdict_name = PROMOTE_FILE if gate["passed"] else HOLD_FILE
    out_path = loso_dir / verdict_name
    inputs = [seed_report_path(loso_dir, s) for s in seeds]
    if calib is not None:
        inputs += [Path(p["path"]) for p in calib["summary"]["prediction_files"]]
    inputs.append(corpus_path)
    if ref_dir is not None:
        inputs.append(Path(ref_dir))
    verdict = {
        "schema_version": VERDICT_SCHEMA_VERSION,
        "verdict": "PROMOTE" if gate["passed"] else "HOLD",
        "generated_at_utc": utc_now(),
        "loso_dir": str(loso_dir),
        "seeds": seeds,
        "gate": gate,
        "failing_aspects": failing_aspects(gate),
        "corpus": fingerprint,
        "recipe": recipe,
        "calibration": calib["summary"] if calib is not None else None,
        "recommendation": recommendation(gate, corpus_path, out_path),
        "run_provenance": run_provenance(
            "vmafkit verdict",
            {"loso_dir": str(loso_dir), "seeds": seeds, "ref_dir": str(ref_dir) if ref_dir is not None else None,
             "coverage": coverage, "mean_plcc_min": T.MEAN_PLCC_MIN, "plcc_spread_max": T.PLCC_SPREAD_MAX,
             "per_seed_plcc_min": T.PER_SEED_PLCC_MIN},
            inputs=inputs, outputs=[out_path], argv=argv),
    }
    if calib is None:
        verdict["recommendation"] += (" No held-out prediction files (loso_seed{N}.predictions.*): "
                                      "no interval calibration, so export will refuse.")
    validate_or_raise(verdict, "verdict", what="verdict (internal)")
    return verdict, out_path


def write_verdict(loso_dir: str | Path, seeds: Iterable[int] = T.DEFAULT_SEEDS, *, ref_dir: str | Path | None = None,
                  argv: list[str] | None = None, coverage: float = T.DEFAULT_COVERAGE) -> tuple[dict[str, Any], Path]:
    """Write exactly one of PROMOTE.json / HOLD.json in `loso_dir` and remove the other.

    Every input is read and checked before any file is touched: a missing or malformed seed
    report raises InputError and leaves any existing verdict file as it was.
    """
    verdict, out_path = build_verdict(loso_dir, seeds, ref_dir=ref_dir, argv=argv, coverage=coverage)
    atomic_write_json(out_path, verdict)
    other = out_path.parent / (HOLD_FILE if out_path.name == PROMOTE_FILE else PROMOTE_FILE)
    with contextlib.suppress(FileNotFoundError):
        other.unlink()
    return verdict, out_path


def load_verdict(path: str | Path) -> dict[str, Any]:
    """Read and schema-check a verdict file (InputError, exit 2, when missing or malformed)."""
    verdict = read_json(path, what="verdict file")
    validate_or_raise(verdict, "verdict", path=path, what="verdict file")
    return verdict
