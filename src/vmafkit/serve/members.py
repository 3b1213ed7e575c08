"""Writing what an export leaves in the models folder: each member's ONNX file and sidecar, the
calibration, and their registry rows, switched in as one change under the registry's lock
(`serve.folder.commit_files`: a refused or killed export leaves the folder as it was).

The VMAF export (`export.py`) and the subjective one (`subjective_export.py`) differ in what a
sidecar says about the model (inputs, standardisation, target, domain); what every member carries,
how it is written and how it is registered is here, once."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmafkit import layout
from vmafkit import thresholds as T
from vmafkit.io import dumps_json, sha256_bytes, sha256_file
from vmafkit.provenance import run_provenance
from vmafkit.serve.folder import commit_files
from vmafkit.serve.registry import register_locked
from vmafkit.validation import validate_or_raise

SIDECAR_SCHEMA_VERSION = 1


def verdict_pin(verdict_path: Path, verdict: Mapping[str, Any]) -> dict[str, Any]:
    """What every member records of the verdict it was exported under."""
    return {
        "path": str(verdict_path),
        "sha256": sha256_file(verdict_path),
        "generated_at_utc": verdict["generated_at_utc"],
    }


def onnx_metadata(model_id: str, seed: int, input_schema_hash: str, corpus_sha256: str, **own: str) -> dict[str, str]:
    """The metadata every member's ONNX file carries (onnxruntime shows it), with the model's own
    keys (`own`, prefixed `vmafkit.`) before the last one."""
    return {
        "vmafkit.id": layout.member_id(model_id, seed),
        "vmafkit.ensemble": model_id,
        "vmafkit.seed": str(seed),
        "vmafkit.input_schema_hash": input_schema_hash,
        "vmafkit.corpus_sha256": corpus_sha256,
        **{f"vmafkit.{key}": value for key, value in own.items()},
        "vmafkit.standardisation_inside_graph": "true",
    }


@dataclass(frozen=True)
class ExportedEnsemble:
    """What every member of one export shares."""

    out_dir: Path
    model_id: str
    kind: str  # the registry row's and sidecar's `kind`
    corpus_path: Path
    verdict_path: Path
    verdict_info: Mapping[str, Any]  # {path, sha256, generated_at_utc}
    fingerprint: Mapping[str, Any]  # the corpus (or items) fingerprint: {sha256, ...}
    input_schema_hash: str
    calibration_name: str
    calibration_bytes: bytes  # the calibration file, written with the members
    argv: list[str] | None

    @property
    def calibration_sha256(self) -> str:
        return sha256_bytes(self.calibration_bytes)

    @classmethod
    def pinned(
        cls,
        calibration: Mapping[str, Any],
        *,
        out_dir: Path,
        model_id: str,
        kind: str,
        corpus_path: Path,
        verdict_path: Path,
        verdict_info: Mapping[str, Any],
        fingerprint: Mapping[str, Any],
        input_schema_hash: str,
        argv: list[str] | None,
    ) -> ExportedEnsemble:
        """An export whose calibration file is `calibration` pinned to this ensemble, its corpus and
        its verdict (their ids and sha256), checked against the calibration schema."""
        pinned = {**calibration, "id": model_id, "corpus_sha256": fingerprint["sha256"]}
        pinned["verdict_sha256"] = verdict_info["sha256"]
        validate_or_raise(pinned, "calibration", what="calibration (internal)")
        return cls(
            out_dir, model_id, kind, corpus_path, verdict_path, verdict_info, fingerprint, input_schema_hash,
            layout.calibration_name(model_id), dumps_json(pinned).encode("utf-8"), argv,
        )  # fmt: skip


def write_members(
    export: ExportedEnsemble,
    blobs: Mapping[int, bytes],
    parity: Mapping[int, Mapping[str, Any]],
    model_block: Callable[[int], Mapping[str, Any]],
    *,
    notes: str,
    why: str,
) -> list[Path]:
    """Each seed's ONNX file and sidecar (the common keys plus `model_block(seed)`) and the
    calibration, switched into the models folder together with the registry change that registers
    every member as a smoke row (module doc); returns the files written."""
    files: dict[str, bytes] = {export.calibration_name: export.calibration_bytes}
    rows: list[dict[str, Any]] = []
    for seed in blobs:  # the order the seeds were given
        mid = layout.member_id(export.model_id, seed)
        onnx_name, sidecar_name = layout.member_onnx_name(mid), layout.sidecar_name(mid)
        onnx_path = export.out_dir / onnx_name
        sidecar_path = export.out_dir / sidecar_name
        digest = sha256_bytes(blobs[seed])
        sidecar = {
            **model_block(seed),
            "schema_version": SIDECAR_SCHEMA_VERSION,
            "id": mid,
            "ensemble": export.model_id,
            "seed": int(seed),
            "kind": export.kind,
            "onnx": onnx_name,
            "onnx_sha256": digest,
            "opset": T.EXPORT_OPSET,
            "input_schema_hash": export.input_schema_hash,
            "corpus": dict(export.fingerprint),
            "verdict": dict(export.verdict_info),
            "calibration": export.calibration_name,
            "parity": dict(parity[seed]),
            "run_provenance": run_provenance(
                "vmafkit export",
                {
                    "corpus": str(export.corpus_path),
                    "verdict": str(export.verdict_path),
                    "out_dir": str(export.out_dir),
                    "id": export.model_id,
                    "seed": seed,
                },
                inputs=[export.corpus_path, export.verdict_path],
                outputs=[onnx_path, sidecar_path],
                argv=export.argv,
            ),
        }
        validate_or_raise(sidecar, "sidecar", what="sidecar (internal)")
        sidecar_bytes = dumps_json(sidecar).encode("utf-8")
        files[onnx_name], files[sidecar_name] = blobs[seed], sidecar_bytes
        rows.append(
            {
                "id": mid,
                "kind": export.kind,
                "ensemble": export.model_id,
                "seed": int(seed),
                "onnx": onnx_name,
                "sha256": digest,
                "opset": T.EXPORT_OPSET,
                "smoke": True,
                "notes": notes,
                "sidecar": sidecar_name,
                "sidecar_sha256": sha256_bytes(sidecar_bytes),
                "calibration": export.calibration_name,
                "calibration_sha256": export.calibration_sha256,
                "input_schema_hash": export.input_schema_hash,
                "corpus_sha256": export.fingerprint["sha256"],
                "promoted_by": None,
            }
        )
    registry_path = layout.registry_file(export.out_dir)
    commit_files(export.out_dir, files, lambda: register_locked(registry_path, rows, ensemble=export.model_id, why=why))
    return [export.out_dir / name for name in files if name != export.calibration_name] + [registry_path]


def export_summary(
    export: ExportedEnsemble, seeds: Sequence[int], parity: Mapping[int, Any], files: Sequence[Path]
) -> dict[str, Any]:
    """What `export` returns (and `vmafkit export --json` prints)."""
    return {
        "id": export.model_id,
        "seeds": list(seeds),
        "out_dir": str(export.out_dir),
        "registry": str(layout.registry_file(export.out_dir)),
        "files": [str(p) for p in files],
        "parity": {str(s): parity[s] for s in seeds},
        "corpus_sha256": export.fingerprint["sha256"],
    }
