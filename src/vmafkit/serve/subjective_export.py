"""`vmafkit export` of a subjective PROMOTE verdict: production members, ONNX, sidecars, the
interval's calibration file and the registry rows (smoke=true until `vmafkit registry flip`).

Refuses (RefusedError, exit 3) unless the verdict is PROMOTE and re-derives from the files it
pins (`verdict.load_trusted_verdict`), and `--corpus` is the items file it names. Then one member
per verdict seed is fitted on every item with the run's recipe (`train.subjective_models.fit_production`:
deterministic for a seed), and each is exported as

    features [N, k] float32 (RAW, `feature_order`)  ->  standardise (the items' mean/std)
      -> the model's 20-wide input (`train.subjective_models.ensemble_layout`: k slots, then the constant
         rest: the "not given" codec block for the canonical-6, zeros otherwise)
      -> FRRegressor -> * target std + target mean  ->  score [N] on the subjective scale

(`serve.subjective_members`: the one input, the input schema and its hash). Nothing is written
unless onnxruntime agrees with torch on every item within `T.EXPORT_PARITY_TOL`. Scores are not
clipped in the graph: predict clips the ensemble mean (and the bounds) to a declared scale.

The calibration file is the calibration schema's, with an item (one clip) in place of both a
frame and a clip: per content, the sorted held-out |score - ensemble| of `subjective_predictions.jsonl`
(and of the lowest seed alone, for a smoke registry), what `decide.subjective_interval` calibrated on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vmafkit import layout
from vmafkit import thresholds as T
from vmafkit.corpus.subjective_table import read_table
from vmafkit.decide.subjective_evidence import PREDICTIONS_FILE, read_predictions
from vmafkit.decide.subjective_interval import residuals_by_content
from vmafkit.decide.subjective_stats import statistics
from vmafkit.decide.subjective_verdict import items_fingerprint, run_folder
from vmafkit.decide.verdict import fingerprint_difference, load_trusted_verdict, load_verdict, same_corpus
from vmafkit.errors import InputError, RefusedError
from vmafkit.io import read_json
from vmafkit.serve import subjective_members
from vmafkit.serve.members import ExportedEnsemble, export_summary, onnx_metadata, verdict_pin, write_members
from vmafkit.serve.onnx_graph import graph_onnx_bytes, ort_session
from vmafkit.serve.registry import read_rows
from vmafkit.train.subjective_loso import ITEMS_FILE

CALIBRATION_METHOD = (
    "per-content quantile of held-out |score - ensemble| (leave-one-content-out), then split conformal "
    "across contents; an item is one clip, so `frame` and `clip` hold the same residuals"
)
POOLING = (
    "rows sharing a clip id (key `clip`, else `id`) are pooled by the mean of their features, as training "
    "pooled a clip's frames; a row without one is a clip of its own"
)


def _graph(model, ensemble):
    """The torch module exported for one member (module doc)."""
    import torch
    from torch import nn

    k = len(ensemble.features.shift)
    pad = np.zeros((k, k + ensemble.tail.size), dtype=np.float32)
    pad[np.arange(k), np.arange(k)] = 1.0
    tail = np.concatenate([np.zeros(k, dtype=np.float32), ensemble.tail])

    class SubjectiveGraph(nn.Module):
        def __init__(self, inner: nn.Module):
            super().__init__()
            self.inner = inner
            self.register_buffer("mean", torch.tensor(ensemble.features.shift, dtype=torch.float32))
            self.register_buffer("std", torch.tensor(ensemble.features.scale, dtype=torch.float32))
            self.register_buffer("pad", torch.from_numpy(pad))
            self.register_buffer("tail", torch.from_numpy(tail))
            self.register_buffer("y_mean", torch.tensor(float(ensemble.target.shift), dtype=torch.float32))
            self.register_buffer("y_std", torch.tensor(float(ensemble.target.scale), dtype=torch.float32))

        def forward(self, features):
            x = ((features - self.mean) / self.std) @ self.pad + self.tail
            return self.inner(x) * self.y_std + self.y_mean

    return SubjectiveGraph(model).eval()


def _parity(model, ensemble, data: bytes, x: np.ndarray) -> dict[str, Any]:
    import torch

    x32 = np.ascontiguousarray(x, dtype=np.float32)
    ort_out = (
        ort_session(data)
        .run([subjective_members.OUTPUT_NAME], {subjective_members.INPUT_NAME: x32})[0]
        .astype(np.float64)
    )
    with torch.no_grad():
        graph_out = _graph(model, ensemble)(torch.from_numpy(x32)).numpy().astype(np.float64)
        trained = model(torch.from_numpy(ensemble.inputs(x))).numpy().astype(np.float64)
    train_out = ensemble.target.invert(trained)
    return {
        "max_abs_diff": float(np.max(np.abs(ort_out - graph_out))),
        "max_abs_diff_vs_training_path": float(np.max(np.abs(ort_out - train_out))),
        "tolerance": T.EXPORT_PARITY_TOL,
        "rows": int(x.shape[0]),
    }


def _calibration(cols: dict[str, Any], seeds: list[int], coverage: float, target: dict[str, Any]) -> dict[str, Any]:
    def resid(pred: np.ndarray) -> dict[str, Any]:
        return {"n": int(pred.size), "sources": residuals_by_content(pred, cols["target"], cols["groups"])}

    single = min(seeds)
    ensemble = resid(cols["ensemble"])
    member = resid(cols["per_seed"][single])
    return {
        "schema_version": 2,
        "kind": "per-source-conformal-abs-residual",
        "method": CALIBRATION_METHOD,
        "default_coverage": float(coverage),
        "source_level": T.SOURCE_LEVEL,
        "label_free": True,  # no codec labels at all
        "target": target,
        "ensemble": {"seeds": sorted(seeds), "frame": ensemble, "clip": ensemble},
        "single_member": {"seed": single, "frame": member, "clip": member},
        "summary": {"n_sources": len(ensemble["sources"]), "unit": "clip", "coverage": float(coverage)},
    }


def check_exportable(corpus_path: Path, verdict_path: Path) -> tuple[dict[str, Any], Path]:
    """(trusted verdict, run folder), or RefusedError / InputError (see the module doc)."""
    verdict = load_verdict(verdict_path)
    if verdict["verdict"] != "PROMOTE":
        raise RefusedError(f"verdict is {verdict['verdict']}, not PROMOTE: nothing is exported", path=verdict_path)
    verdict = load_trusted_verdict(verdict_path)
    out_dir = run_folder(verdict_path.parent)
    if out_dir is None:  # load_trusted_verdict has just found it: only a race gets here
        raise RefusedError("the verdict's subjective run folder is gone", path=verdict_path)
    if not corpus_path.is_file():
        raise InputError("corpus (the subjective run's items file) not found", path=corpus_path)
    fingerprint = items_fingerprint(corpus_path)
    if not same_corpus(verdict["corpus"], fingerprint):
        raise RefusedError(
            f"is not the items file the verdict pins ({fingerprint_difference(verdict['corpus'], fingerprint)}); "
            f"export a subjective verdict with --corpus {out_dir / ITEMS_FILE}",
            path=corpus_path,
        )
    return verdict, out_dir


def export_subjective(
    corpus_path: str | Path,
    verdict_path: str | Path,
    out_dir: str | Path,
    *,
    model_id: str,
    device: str = "cpu",
    progress: bool = False,
    argv: list[str] | None = None,
) -> dict[str, Any]:
    """Export a subjective PROMOTE verdict's ensemble (module doc); returns the export summary
    (the keys `serve.export.export_ensemble` returns)."""
    from vmafkit.train.domain import feature_domain
    from vmafkit.train.ensemble import resolve_device
    from vmafkit.train.loso import default_workers
    from vmafkit.train.recipe import Recipe
    from vmafkit.train.subjective_models import fit_production

    corpus_path, verdict_path, models_dir = Path(corpus_path), Path(verdict_path), Path(out_dir)
    if not model_id or any(c in model_id for c in "/\\ ") or model_id.startswith("."):
        raise InputError(f"model id {model_id!r} must be a plain name")
    verdict, run_dir = check_exportable(corpus_path, verdict_path)
    models_dir.mkdir(parents=True, exist_ok=True)
    registry_path = layout.registry_file(models_dir)
    read_rows(registry_path)  # a bad registry stops us before any work

    seeds = [int(s) for s in verdict["seeds"]]
    features = list(verdict["features"])
    report = read_json(run_dir / layout.SUBJECTIVE_REPORT_FILE, what="subjective report")
    target_block = report["target"]
    items = read_table(corpus_path, features, "score", "content", id_column="id")
    recipe = Recipe.from_json(verdict["recipe"])
    ensemble = fit_production(
        items.features,
        items.target,
        seeds,
        recipe,
        canonical=items.canonical,
        device=device,
        workers=default_workers(resolve_device(device)),
        progress=progress,
    )
    cols = read_predictions(run_dir / PREDICTIONS_FILE)
    scale: dict[str, Any] = dict(verdict["target"]["scale"])
    target: dict[str, Any] = {"kind": "subjective", "scale": scale}
    schema_hash = subjective_members.input_schema_hash(features)
    domain = feature_domain(features, items.features)
    fingerprint = dict(verdict["corpus"])
    verdict_info = verdict_pin(verdict_path, verdict)

    import torch

    blobs: dict[int, bytes] = {}
    checks: dict[int, dict[str, Any]] = {}
    for seed, model in zip(seeds, ensemble.models):
        blob = graph_onnx_bytes(
            _graph(model, ensemble),
            (torch.zeros(2, len(features)),),
            [subjective_members.INPUT_NAME],
            metadata=onnx_metadata(
                model_id, seed, schema_hash, fingerprint["sha256"], target=f"subjective {scale['name']}"
            ),
        )
        check = _parity(model, ensemble, blob, items.features)
        if not check["max_abs_diff"] <= T.EXPORT_PARITY_TOL:
            raise RefusedError(
                f"seed {seed}: onnxruntime differs from torch by {check['max_abs_diff']:.3g} "
                f"> {T.EXPORT_PARITY_TOL} on the items; nothing was written"
            )
        blobs[seed], checks[seed] = blob, check

    calib = _calibration(cols, seeds, float(verdict["calibration"]["coverage"]), target)
    export = ExportedEnsemble.pinned(
        calib, out_dir=models_dir, model_id=model_id, kind=subjective_members.MEMBER_KIND, corpus_path=corpus_path,
        verdict_path=verdict_path, verdict_info=verdict_info, fingerprint=fingerprint, input_schema_hash=schema_hash,
        argv=argv,
    )  # fmt: skip

    def model_block(seed: int) -> dict[str, Any]:
        return {
            "inputs": {subjective_members.INPUT_NAME: ["N", len(features)]},
            "output": {subjective_members.OUTPUT_NAME: ["N"]},
            "feature_order": features,
            "standardisation": {
                "inside_graph": True,
                "mean": ensemble.features.shift.tolist(),
                "std": ensemble.features.scale.tolist(),
            },
            "target": {
                **target,
                "column": target_block.get("column"),
                "standardisation": {
                    "inside_graph": True,
                    "mean": float(ensemble.target.shift),
                    "std": float(ensemble.target.scale),
                },
                "clipped": "by predict, to the scale's range (not in the graph)",
            },
            "input_layout": ensemble.layout,
            "input_schema": subjective_members.input_schema(features),
            "pooling": {"training": target_block.get("pooling"), "predict": POOLING},
            "recipe": recipe.to_json(),
            "gate": verdict["gate"],
            "domain": domain,
            "loso_plcc": float(statistics(cols["per_seed"][seed], cols["target"])["plcc"]),
        }

    pinned = f"PROMOTE {verdict_info['sha256'][:12]} (items {fingerprint['sha256'][:12]})"
    files = write_members(
        export,
        blobs,
        checks,
        model_block,
        notes=f"subjective ({scale['name']}) export of {pinned}; smoke until `vmafkit registry flip`",
        why=f"subjective export of {pinned}",
    )
    return {**export_summary(export, seeds, checks, [models_dir / export.calibration_name, *files]), "target": target}
