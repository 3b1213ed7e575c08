"""PROMOTE/HOLD verdict files and the corpus fingerprint that pins what was trained on.

The one owner of the verdict file: its common keys, writing it, re-deriving it before anything
trusts it. A verdict's `target` says what its ensemble predicts (`{kind: "vmaf"}`, or for a
`vmafkit subjective train` folder `{kind: "subjective", scale}`, whose keys
`decide.subjective_verdict` derives)."""

from __future__ import annotations

import contextlib
import datetime as _dt
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from vmafkit import layout
from vmafkit import thresholds as T
from vmafkit.decide.derive import (  # noqa: F401  (resolve_corpus_path ... are part of verdict's API)
    Evidence,
    check_predictions_match_corpus,
    derive_evidence,
    label_sensitivity,
    recipe_from_reports,
    resolve_corpus_path,
)
from vmafkit.decide.gate import failing_aspects
from vmafkit.errors import InputError, RefusedError
from vmafkit.io import atomic_write_json, read_json, sha256_file
from vmafkit.media.sources import snapshot_folder
from vmafkit.provenance import run_provenance
from vmafkit.validation import validate_or_raise

VERDICT_SCHEMA_VERSION = 1
VMAF_TARGET = "vmaf"  # `target.kind` of an ensemble that learns libvmaf's score
# The fingerprint fields that identify the corpus itself (the path and the reference-folder
# snapshot describe where it lived and are informational).
IDENTITY_KEYS = ("sha256", "rows", "sources")


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def corpus_fingerprint(corpus_path: str | Path, ref_dir: str | Path | None = None, *, corpus=None) -> dict[str, Any]:
    """{path, sha256, rows, n_sources, sources[{src, src_sha256, rows}], ref_dir}. `corpus`: the
    file already loaded (saves a second parse)."""
    from vmafkit.corpus.schema import load_corpus

    corpus_path = Path(corpus_path)
    corpus = load_corpus(corpus_path) if corpus is None else corpus
    sources: dict[tuple[str, str], int] = {}
    for src, digest in zip(corpus.src.tolist(), corpus.src_sha256.tolist()):
        sources[(src, digest)] = sources.get((src, digest), 0) + 1
    return {
        "path": str(corpus_path),
        "sha256": sha256_file(corpus_path),
        "rows": len(corpus),
        "n_sources": len(sources),
        "sources": [{"src": s, "src_sha256": d, "rows": n} for (s, d), n in sorted(sources.items())],
        "ref_dir": snapshot_folder(ref_dir) if ref_dir is not None else None,
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


def recommendation(
    gate: Mapping[str, Any],
    corpus_path: Path,
    verdict_path: Path,
    *,
    exported_to: Path | None = None,
    accuracy: Mapping[str, Any] | None = None,
) -> str:
    """What to do next. `exported_to`: where the members are (or are being) exported already; by
    default OUT/models when the verdict is written inside a `vmafkit run` folder, which exports a
    PROMOTE itself, so the advice never asks for an export that already happened."""
    if exported_to is None:
        loso = Path(verdict_path).parent  # OUT/loso beside OUT/pipeline.json: a `vmafkit run` folder
        if loso == layout.loso_dir(loso.parent) and layout.is_run_folder(loso.parent):
            exported_to = layout.models_dir(loso.parent)
    if gate["passed"]:
        if exported_to is not None:
            return (
                f"flip seeds smoke->false: `vmafkit run` exports the members to {exported_to} (smoke=true), so "
                f"only vmafkit registry flip --registry {layout.registry_file(exported_to)} --verdict "
                f"{verdict_path} is left; cite corpus sha256 in the flip."
            )
        return (
            f"flip seeds smoke->false: vmafkit export --corpus {corpus_path} --verdict {verdict_path} "
            f"--out MODELS, then vmafkit registry flip --registry {layout.registry_file('MODELS')} "
            f"--verdict {verdict_path}; "
            f"cite corpus sha256 in the flip."
        )
    nothing = " (nothing was exported: `vmafkit run` exports only on PROMOTE)" if exported_to is not None else ""
    return f"keep smoke=true{nothing}; investigate diversity / hyperparameters. Failing aspects: " + "; ".join(
        failing_aspects(gate) if accuracy is None else failing_aspects(gate, accuracy)
    )


def verdict_target(verdict: Mapping[str, Any]) -> dict[str, Any]:
    """What the verdict's ensemble predicts: `{"kind": "vmaf"}` or `{"kind": "subjective", "scale":
    {...}}`; a verdict written before the key existed is a VMAF one."""
    target = verdict.get("target")
    return dict(target) if isinstance(target, Mapping) else {"kind": VMAF_TARGET}


def gate_headline(verdict: Mapping[str, Any]) -> str:
    """A few words on what passed the gate (registry notes)."""
    gate = verdict["gate"]
    target = verdict_target(verdict)
    if target["kind"] == VMAF_TARGET:
        return f"mean PLCC {gate['mean_plcc']:.4f}"
    plcc = gate["checks"]["plcc"]["value"]
    return f"{target['kind']} {target['scale']['name']}, pooled held-out PLCC {plcc:.4f}"


def build_verdict(
    loso_dir: str | Path,
    seeds: Iterable[int] | None = None,
    *,
    ref_dir: str | Path | None = None,
    argv: list[str] | None = None,
    coverage: float | None = None,
) -> tuple[dict[str, Any], Path]:
    """Compute the verdict (nothing is written): (verdict JSON, path it belongs at).

    `loso_dir`: a LOSO folder, or a `vmafkit subjective train` folder (or its loso/), whose verdict
    `decide.subjective_verdict` derives. `seeds` / `coverage` None: DEFAULT_SEEDS and
    T.DEFAULT_COVERAGE for a LOSO folder, the run's own for a subjective one."""
    verdict, out_path, _ = _build_verdict(loso_dir, seeds, ref_dir=ref_dir, argv=argv, coverage=coverage)
    return verdict, out_path


def _build_verdict(
    loso_dir: str | Path,
    seeds: Iterable[int] | None = None,
    *,
    ref_dir: str | Path | None = None,
    argv: list[str] | None = None,
    coverage: float | None = None,
) -> tuple[dict[str, Any], Path, Evidence | None]:
    """`build_verdict`, and the evidence it was computed from (None for a subjective run)."""
    from vmafkit.decide import subjective_verdict

    subjective_run = subjective_verdict.run_folder(loso_dir)
    if subjective_run is not None:
        if ref_dir is not None:
            raise InputError("--ref-dir snapshots a VMAF corpus's references; a subjective run has none", path=ref_dir)
        body = subjective_verdict.build_body(subjective_run, seeds, coverage=coverage, argv=argv)
        out_path = body.pop("_path")
        verdict = {"schema_version": VERDICT_SCHEMA_VERSION, "generated_at_utc": utc_now(), **body}
        validate_or_raise(verdict, "verdict", what="verdict (internal)")
        return verdict, out_path, None
    coverage = T.DEFAULT_COVERAGE if coverage is None else coverage
    loso_dir = Path(loso_dir)
    ev = derive_evidence(loso_dir, seeds, coverage)
    seeds, pred_paths, corpus_path, recipe = ev.seeds, ev.prediction_paths, ev.corpus_path, ev.recipe
    fingerprint = corpus_fingerprint(corpus_path, ref_dir, corpus=ev.corpus)
    calib = ev.calibration
    gate = ev.gate()
    out_path = layout.verdict_file(loso_dir, "PROMOTE" if gate["passed"] else "HOLD")
    report_paths = {s: layout.seed_report(loso_dir, s) for s in seeds}
    evidence = {
        "seed_reports": [
            {"seed": s, "file": report_paths[s].name, "sha256": sha256_file(report_paths[s])} for s in seeds
        ],
        "predictions": [{"seed": s, "file": pred_paths[s].name, "sha256": sha256_file(pred_paths[s])} for s in seeds],
    }
    refit_paths = {s: layout.refit_file(loso_dir, s) for s in seeds}
    present = [s for s in seeds if refit_paths[s].is_file()]
    if present and len(present) != len(seeds):
        missing = [s for s in seeds if s not in present]
        raise InputError(
            f"full-corpus member files missing for seeds {missing} ({layout.refit_name(missing[0])})", path=loso_dir
        )
    if present:  # the production members `train` fitted beside the folds: export ships these
        evidence["refits"] = [
            {"seed": s, "file": refit_paths[s].name, "sha256": sha256_file(refit_paths[s])} for s in seeds
        ]
    if ev.fold_members is not None:  # the members every held-out prediction was replayed from
        evidence["fold_members"] = [{"seed": s, **ev.fold_members[s]} for s in seeds]
    inputs = [report_paths[s] for s in seeds] + [pred_paths[s] for s in seeds] + [refit_paths[s] for s in present]
    inputs += [loso_dir / ev.fold_members[s]["file"] for s in seeds] if ev.fold_members is not None else []
    inputs.append(corpus_path)
    if ref_dir is not None:
        inputs.append(Path(ref_dir))
    verdict = {
        "schema_version": VERDICT_SCHEMA_VERSION,
        "verdict": "PROMOTE" if gate["passed"] else "HOLD",
        "generated_at_utc": utc_now(),
        "loso_dir": str(loso_dir),
        "seeds": seeds,
        "target": {"kind": VMAF_TARGET},
        "gate": gate,
        "failing_aspects": failing_aspects(gate, ev.accuracy),
        "corpus": fingerprint,
        "recipe": recipe,
        "evidence": evidence,
        "label_sensitivity": ev.label_sensitivity,
        "calibration": calib["summary"],
        "accuracy": ev.accuracy,
        "recommendation": recommendation(gate, corpus_path, out_path, accuracy=ev.accuracy),
        "run_provenance": run_provenance(
            "vmafkit verdict",
            {
                "loso_dir": str(loso_dir),
                "seeds": seeds,
                "ref_dir": str(ref_dir) if ref_dir is not None else None,
                "coverage": coverage,
                "mean_plcc_min": T.MEAN_PLCC_MIN,
                "plcc_spread_max": T.PLCC_SPREAD_MAX,
                "per_seed_plcc_min": T.PER_SEED_PLCC_MIN,
            },
            inputs=inputs,
            outputs=[out_path],
            argv=argv,
        ),
    }
    validate_or_raise(verdict, "verdict", what="verdict (internal)")
    return verdict, out_path, ev


def write_verdict(
    loso_dir: str | Path,
    seeds: Iterable[int] | None = None,
    *,
    ref_dir: str | Path | None = None,
    argv: list[str] | None = None,
    coverage: float | None = None,
) -> tuple[dict[str, Any], Path]:
    """Write exactly one of the verdict files (PROMOTE / HOLD) in `loso_dir` and remove the other.

    Every input is read and checked before any file is touched: a missing or malformed seed
    report raises InputError and leaves any existing verdict file as it was.
    """
    verdict, out_path = build_verdict(loso_dir, seeds, ref_dir=ref_dir, argv=argv, coverage=coverage)
    atomic_write_json(out_path, verdict)
    for name in layout.VERDICT_FILES:
        if name != out_path.name:
            with contextlib.suppress(FileNotFoundError):
                (out_path.parent / name).unlink()
    return verdict, out_path


def load_verdict(path: str | Path) -> dict[str, Any]:
    """Read and schema-check a verdict file (InputError, exit 2, when missing or malformed)."""
    verdict = read_json(path, what="verdict file")
    validate_or_raise(verdict, "verdict", path=path, what="verdict file")
    return verdict


# What a verdict decides; everything else (time, argv, paths) may differ on a re-derivation.
DECIDING_KEYS = ("verdict", "seeds", "gate", "recipe", "evidence", "calibration", "accuracy", "label_sensitivity")


def json_differs(a: Any, b: Any, tol: float = 1e-9) -> bool:
    """Whether two JSON values differ (numbers by more than `tol`: a float's last bit may move
    between the writing and the re-deriving process)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() != b.keys() or any(json_differs(a[k], b[k], tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) != len(b) or any(json_differs(x, y, tol) for x, y in zip(a, b))
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return not abs(a - b) <= tol
    return a != b


def stale_reason(verdict: Mapping[str, Any], loso_dir: Path) -> str | None:
    """Why the files a verdict pins no longer are what it was computed from (None = current)."""
    evidence = verdict.get("evidence")
    if not isinstance(evidence, dict):
        return "it pins no evidence (written by an older vmafkit, or by hand)"
    # A subjective run's own files are pinned relative to the run folder, the LOSO folder's parent.
    for kind, folder in (
        ("seed_reports", loso_dir),
        ("predictions", loso_dir),
        ("refits", loso_dir),
        ("fold_members", loso_dir),
        ("subjective", loso_dir.parent),
    ):
        for item in evidence.get(kind) or []:
            pinned = folder / str(item.get("file"))
            if not pinned.is_file():
                return f"{item.get('file')} (pinned by the verdict) is gone"
            digest = sha256_file(pinned)
            if digest != item.get("sha256"):
                return (
                    f"{item.get('file')} changed since the verdict was written (sha256 {digest[:12]} != "
                    f"pinned {str(item.get('sha256'))[:12]})"
                )
    return None


def load_trusted_verdict(path: str | Path) -> dict[str, Any]:
    """The verdict at `path`, after re-deriving it from the files it pins (its LOSO folder, beside
    it): RefusedError (exit 3) when a pinned file changed or is gone, or when the recomputed
    verdict differs in anything it decides (a hand-edited or stale verdict). Nothing is written."""
    return trusted_verdict_evidence(path)[0]


def trusted_verdict_evidence(path: str | Path) -> tuple[dict[str, Any], Evidence | None]:
    """`load_trusted_verdict`, and the evidence it was re-derived from (None for a subjective
    verdict): what export and flip compare the files they ship or switch to."""
    path = Path(path)
    verdict = load_verdict(path)
    loso_dir = path.parent
    stale = stale_reason(verdict, loso_dir)
    if stale is not None:
        raise RefusedError(f"{stale}; re-run `vmafkit verdict`", path=path)
    from vmafkit.decide import subjective_verdict

    coverage = verdict["calibration"]["coverage"]
    subjective = verdict_target(verdict)["kind"] == subjective_verdict.KIND
    if subjective and subjective_verdict.run_folder(loso_dir) is None:
        raise RefusedError("a subjective verdict must lie in its run folder's LOSO folder", path=path)
    try:
        fresh, _, evidence = _build_verdict(loso_dir, verdict["seeds"], coverage=coverage)
    except InputError as exc:
        raise RefusedError(f"the verdict's evidence no longer checks out ({exc})", path=path) from None
    if verdict_target(verdict) != verdict_target(fresh):
        raise RefusedError(
            "target does not match what its pinned files give (hand-edited or stale verdict); re-run `vmafkit verdict`",
            path=path,
        )
    for key in DECIDING_KEYS + (subjective_verdict.DECIDING_KEYS if subjective else ()):
        if json_differs(verdict.get(key), fresh.get(key)):
            raise RefusedError(
                f"{key} does not match what its pinned files give (hand-edited or stale verdict); "
                "re-run `vmafkit verdict`",
                path=path,
            )
    if not same_corpus(verdict["corpus"], fresh["corpus"]):
        raise RefusedError(
            f"corpus does not match what its pinned files give "
            f"({fingerprint_difference(verdict['corpus'], fresh['corpus'])})",
            path=path,
        )
    return verdict, evidence
