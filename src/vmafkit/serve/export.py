"""Full-corpus refit of every seed, ONNX export with an onnxruntime-vs-torch parity check,
sidecars, the interval calibration file, and the registry rows (smoke=true until flipped).

ONNX graph of one member (opset 17): inputs `features` [N, 6] float32 = the RAW canonical-6 in
`feature_order`, `codec_onehot` [N, 14] float32 = the codec block (12-slot encoder one-hot,
preset_norm, crf_norm with the sidecar's cq range); output `score` [N] float32. The
standardisation (x - mean) / std is inside the graph (`standardisation.inside_graph = true` in
the sidecar, which also carries mean/std), so a consumer feeds raw libvmaf numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vmafkit import layout
from vmafkit import thresholds as T
from vmafkit.decide.derive import Evidence
from vmafkit.decide.verdict import (
    VMAF_TARGET,
    corpus_fingerprint,
    fingerprint_difference,
    load_verdict,
    same_corpus,
    trusted_verdict_evidence,
    verdict_target,
)
from vmafkit.errors import InputError, RefusedError
from vmafkit.serve.members import ExportedEnsemble, export_summary, onnx_metadata, verdict_pin, write_members
from vmafkit.serve.onnx_graph import OUTPUT_NAME, graph_onnx_bytes, ort_session
from vmafkit.serve.registry import read_rows

DEFAULT_MODEL_ID = "fr_regressor_v2_ensemble_v1"
DEFAULT_SUBJECTIVE_MODEL_ID = "fr_regressor_v2_subjective_v1"  # the default id of a subjective ensemble
MEMBER_KIND = "fr_regressor_v2_ensemble_member"
INPUT_NAMES = ("features", "codec_onehot")


def _export_module(model, spec):
    import torch
    from torch import nn

    class ExportGraph(nn.Module):
        def __init__(self, inner: nn.Module):
            super().__init__()
            self.inner = inner
            self.register_buffer("mean", torch.tensor(spec.mean, dtype=torch.float32))
            self.register_buffer("std", torch.tensor(spec.std, dtype=torch.float32))

        def forward(self, features, codec_onehot):
            x = torch.cat([(features - self.mean) / self.std, codec_onehot], dim=1)
            return self.inner(x)

    return ExportGraph(model).eval()


def onnx_bytes(model, spec, *, metadata: Mapping[str, str] | None = None) -> bytes:
    """Serialise one member (standardisation inside) to ONNX opset 17; same weights -> same bytes."""
    import torch

    graph = _export_module(model, spec)
    example = (torch.zeros(2, len(spec.mean)), torch.zeros(2, 14))
    return graph_onnx_bytes(graph, example, INPUT_NAMES, metadata=metadata)


def parity(model, spec, data: bytes, features: np.ndarray, codec: np.ndarray, x_train: np.ndarray) -> dict[str, Any]:
    """Max abs difference of onnxruntime against torch on the given rows."""
    import torch

    feats32 = np.ascontiguousarray(features, dtype=np.float32)
    codec32 = np.ascontiguousarray(codec, dtype=np.float32)
    session = ort_session(data, threads=1)
    ort_out = session.run([OUTPUT_NAME], {"features": feats32, "codec_onehot": codec32})[0].astype(np.float64)
    graph = _export_module(model, spec)
    with torch.no_grad():
        torch_out = graph(torch.from_numpy(feats32), torch.from_numpy(codec32)).numpy().astype(np.float64)
        train_out = model(torch.from_numpy(np.ascontiguousarray(x_train, dtype=np.float32))).numpy().astype(np.float64)
    return {
        "max_abs_diff": float(np.max(np.abs(ort_out - torch_out))),
        "max_abs_diff_vs_training_path": float(np.max(np.abs(ort_out - train_out))),
        "tolerance": T.EXPORT_PARITY_TOL,
        "rows": int(features.shape[0]),
    }


def check_exportable(corpus_path: str | Path, verdict_path: str | Path) -> tuple[dict, dict, Evidence]:
    """(verdict, fingerprint, evidence) or RefusedError (exit 3) / InputError (exit 2).

    The verdict is re-derived from the files it pins (`verdict.trusted_verdict_evidence`): a
    hand-edited verdict, or one whose seed reports or predictions changed since, is refused; so is
    one whose held-out predictions were not replayed from saved fold members (a LOSO folder not
    written by `vmafkit train`)."""

    verdict_path = Path(verdict_path)
    verdict = load_verdict(verdict_path)
    if verdict["verdict"] != "PROMOTE":
        raise RefusedError(f"verdict is {verdict['verdict']}, not PROMOTE: nothing is exported", path=verdict_path)
    verdict, evidence = trusted_verdict_evidence(verdict_path)
    if evidence is None or evidence.fold_members is None:
        raise RefusedError(
            f"the verdict's held-out predictions are not tied to trained members (no "
            f"{layout.fold_members_name(verdict['seeds'][0])} pinned: the LOSO folder was not written by "
            "`vmafkit train`); re-run `vmafkit train` and `vmafkit verdict`; nothing is exported",
            path=verdict_path,
        )
    fingerprint = corpus_fingerprint(corpus_path)
    if not same_corpus(verdict["corpus"], fingerprint):
        raise RefusedError(
            f"corpus does not match the verdict's fingerprint ({fingerprint_difference(verdict['corpus'], fingerprint)})",
            path=corpus_path,
        )
    return verdict, fingerprint, evidence


def check_retrained_member(evidence: Evidence, verdict: Mapping[str, Any], verdict_path: Path) -> dict[str, Any]:
    """Retrain one fold member, drawn at random, on this CPU and refuse (exit 3) unless it equals the
    saved one bit for bit: held-out predictions replayed from members fitted on their own held-out
    rows, or with another seed or recipe, would otherwise pass. CPU training is bit for bit
    reproducible (any batch, any thread count); GPU training is not, so a run whose seed reports
    say it trained on a GPU is not retrained (said in the result): its predictions are still all
    replayed from its members."""
    from vmafkit.train.fold_members import retrain_matches
    from vmafkit.train.recipe import Recipe

    devices = sorted({str(r.get("device", "cpu")) for r in evidence.reports.values()})
    if any(d not in ("cpu", "dask:cpu") for d in devices):
        return {"skipped": f"trained on {', '.join(devices)}: a CPU retrain is not bit for bit the same, not retrained"}
    pinned = verdict["evidence"]["fold_members"]
    check = retrain_matches(evidence.corpus, Recipe.from_json(verdict["recipe"]), verdict_path.parent, pinned)
    if not check["matches"]:
        raise RefusedError(
            f"seed {check['seed']}, fold {check['fold']!r}: the saved member is not the one its recipe trains on "
            f"its fold (max weight difference {check['max_abs_diff']:.3g}; held-out RMSE {check['saved_rmse']:.3f} "
            f"saved vs {check['retrained_rmse']:.3f} retrained): it was not trained as the verdict says; "
            "nothing is exported",
            path=verdict_path,
        )
    return check


def check_refit_error(pred: np.ndarray, evidence: Evidence, verdict_path: Path) -> dict[str, Any]:
    """The refitted members' ensemble against the verdict's calibration: on the served corpus rows
    (rows they were fitted on), at least the calibrated share (coverage, 0.95 by default) must lie
    within the calibrated median frame half-width of the truth; else the members shipped are not
    the ones the verdict describes (RefusedError, exit 3). Fitted rows are not always predicted
    better than held-out ones (label masking: a real corpus gave RMSE 0.75 fitted vs 0.66 held out),
    so the check is the interval's promise, not a comparison of RMSEs."""
    served = evidence.served
    errors = np.abs(pred[served] - evidence.corpus.vmaf[served])
    summary = evidence.calibration["summary"]
    half_width = float(summary["frame"]["half_width"])
    coverage = float(summary["coverage"])
    covered = float(np.mean(errors <= half_width)) if errors.size else 1.0
    check = {
        "rows": int(served.sum()),
        "rmse_on_corpus": float(np.sqrt(np.mean(errors**2))) if errors.size else 0.0,
        "held_out_rmse": float(evidence.accuracy["pooled"]["rmse"]),
        "half_width": half_width,
        "covered": covered,
        "coverage": coverage,
    }
    if not covered >= coverage:
        raise RefusedError(
            f"the full-corpus members put only {covered:.1%} of the corpus's served rows within the calibrated "
            f"half-width {half_width:.2f} VMAF (the verdict promises {coverage:.0%} of new ones): they are not the "
            "members it describes; nothing is exported",
            path=verdict_path,
        )
    return check


def export_ensemble(
    corpus_path: str | Path,
    verdict_path: str | Path,
    out_dir: str | Path,
    *,
    model_id: str | None = None,
    device: str = "cpu",
    progress: bool = False,
    argv: list[str] | None = None,
) -> dict[str, Any]:
    """Refit each verdict seed on the full corpus and write ONNX + sidecars + calibration + registry.

    Refuses (RefusedError, exit 3) unless the verdict is PROMOTE for this exact corpus; nothing
    is written unless every member passes the onnxruntime-vs-torch parity check. A subjective
    verdict (`target.kind` "subjective") goes to `serve.subjective_export` (its corpus is the run's
    items file). `model_id` None: DEFAULT_MODEL_ID, or DEFAULT_SUBJECTIVE_MODEL_ID for a subjective one.
    """
    if verdict_target(load_verdict(verdict_path))["kind"] != VMAF_TARGET:
        from vmafkit.serve.subjective_export import export_subjective

        return export_subjective(
            corpus_path,
            verdict_path,
            out_dir,
            model_id=model_id or DEFAULT_SUBJECTIVE_MODEL_ID,
            device=device,
            progress=progress,
            argv=argv,
        )
    model_id = model_id or DEFAULT_MODEL_ID
    from vmafkit.corpus.schema import load_corpus
    from vmafkit.train.domain import training_domain
    from vmafkit.train.ensemble import MemberData, fit_members, resolve_device
    from vmafkit.train.features import NUM_CODECS, input_schema, input_schema_hash
    from vmafkit.train.loso import default_workers, full_corpus_inputs, load_refit
    from vmafkit.train.recipe import Recipe

    corpus_path, verdict_path, out_dir = Path(corpus_path), Path(verdict_path), Path(out_dir)
    if not model_id or any(c in model_id for c in "/\\ ") or model_id.startswith("."):
        raise InputError(f"model id {model_id!r} must be a plain name")
    verdict, fingerprint, evidence = check_exportable(corpus_path, verdict_path)
    # the calibration of exactly the evidence the verdict was re-derived from (served rows only)
    calib = evidence.calibration
    retrain_check = check_retrained_member(evidence, verdict, verdict_path)
    fingerprint = dict(verdict["corpus"])  # pin the verdict's snapshot (incl. the reference folder)
    out_dir.mkdir(parents=True, exist_ok=True)
    registry_path = layout.registry_file(out_dir)
    read_rows(registry_path)  # a bad registry stops us before any work

    seeds = list(verdict["seeds"])
    recipe = Recipe.from_json(verdict["recipe"])
    corpus = load_corpus(corpus_path)
    domain = training_domain(corpus, label_free=recipe.label_free)
    full = full_corpus_inputs(corpus, recipe)
    spec = full.spec
    codec = spec.codec_block(corpus.encoder, corpus.preset, corpus.cq)
    x = np.concatenate([spec.standardise(corpus.features), codec], axis=1).astype(np.float32)
    refits = verdict["evidence"].get("refits")
    if refits:
        # `train` fitted the production members beside the folds, and the verdict pins them
        # (load_trusted_verdict has checked their sha256): nothing to fit again.
        models = [
            load_refit(verdict_path.parent / item["file"], int(item["seed"]), spec, recipe, fingerprint["sha256"])
            for item in sorted(refits, key=lambda r: seeds.index(r["seed"]))
        ]
    else:
        # One batched fit of all seeds, sharded over the CPU like `train` (default_workers): a
        # member's weights are bit for bit the same whatever the number of workers (ensemble.py).
        members = [MemberData(x=full.x, y=full.y, seed=int(s)) for s in seeds]
        models = fit_members(
            members, recipe, device=device, progress=progress, workers=default_workers(resolve_device(device))
        )
    models = [m.to("cpu").eval() for m in models]
    from vmafkit.train.ensemble import predict_members

    refit_check = check_refit_error(predict_members(models, x).astype(np.float64).mean(axis=0), evidence, verdict_path)

    schema_hash = input_schema_hash(spec.feature_order)
    verdict_info = verdict_pin(verdict_path, verdict)
    blobs: dict[int, bytes] = {}
    checks: dict[int, dict] = {}
    for seed, model in zip(seeds, models):
        blob = onnx_bytes(
            model,
            spec,
            metadata=onnx_metadata(model_id, seed, schema_hash, fingerprint["sha256"]),
        )
        check = parity(model, spec, blob, corpus.features, codec, x)
        if not check["max_abs_diff"] <= T.EXPORT_PARITY_TOL:
            raise RefusedError(
                f"seed {seed}: onnxruntime differs from torch by {check['max_abs_diff']:.3g} "
                f"> {T.EXPORT_PARITY_TOL} on the corpus; nothing was written"
            )
        blobs[seed], checks[seed] = blob, check

    export = ExportedEnsemble.pinned(
        calib["file"], out_dir=out_dir, model_id=model_id, kind=MEMBER_KIND, corpus_path=corpus_path,
        verdict_path=verdict_path, verdict_info=verdict_info, fingerprint=fingerprint, input_schema_hash=schema_hash,
        argv=argv,
    )  # fmt: skip

    def model_block(seed: int) -> dict[str, Any]:
        return {
            "target": {"kind": VMAF_TARGET},
            "inputs": {"features": ["N", len(spec.feature_order)], "codec_onehot": ["N", NUM_CODECS]},
            "output": {OUTPUT_NAME: ["N"]},
            "feature_order": list(spec.feature_order),
            "standardisation": {"inside_graph": True, "mean": list(spec.mean), "std": list(spec.std)},
            "feature_spec": spec.to_json(),
            "cq_range": [spec.cq_min, spec.cq_max],
            "encoder_vocab": list(spec.encoder_vocab),
            "encoder_vocab_version": spec.encoder_vocab_version,
            "codec_layout": input_schema(spec.feature_order)["codec_layout"],
            "input_schema": input_schema(spec.feature_order),
            "recipe": recipe.to_json(),
            "gate": verdict["gate"],
            "domain": domain,
            "loso_plcc": float(verdict["gate"]["per_seed_plccs"][str(seed)]),
        }

    pinned = f"PROMOTE {verdict_info['sha256'][:12]} (corpus {fingerprint['sha256'][:12]})"
    files = write_members(
        export,
        blobs,
        checks,
        model_block,
        notes=f"exported from {pinned}; smoke until `vmafkit registry flip`",
        why=f"export of {pinned}",
    )
    summary = export_summary(export, seeds, checks, [out_dir / export.calibration_name, *files])
    summary["evidence_checks"] = {"retrained_member": retrain_check, "refit_error": refit_check}
    return summary
