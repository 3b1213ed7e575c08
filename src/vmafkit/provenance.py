"""The `run_provenance` block (schema ai-run-provenance-v1) every report and verdict carries."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from vmafkit.io import sha256_file

PROVENANCE_SCHEMA = "ai-run-provenance-v1"


def describe_path(path: str | Path, *, hash_files: bool = True) -> dict[str, Any]:
    """{path, exists, kind, sha256}; folders and missing paths have sha256 None."""
    path = Path(path)
    exists = path.exists()
    kind = "dir" if path.is_dir() else "file" if path.is_file() else "missing"
    digest = sha256_file(path) if (exists and kind == "file" and hash_files) else None
    return {"path": str(path), "exists": exists, "kind": kind, "sha256": digest}


def run_provenance(
    entrypoint: str,
    args: Mapping[str, Any],
    inputs: Iterable[str | Path] = (),
    outputs: Iterable[str | Path] = (),
    argv: list[str] | None = None,
) -> dict[str, Any]:
    """Outputs are the files this run writes: described as files-to-be, with no sha256 (a file
    cannot hold its own hash), so a re-run over an existing output gives the same block."""
    return {
        "schema": PROVENANCE_SCHEMA,
        "entrypoint": entrypoint,
        "argv": list(sys.argv if argv is None else argv),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in args.items()},
        "inputs": [describe_path(p) for p in inputs],
        "outputs": [_planned_output(p) for p in outputs],
    }


def _planned_output(path: str | Path) -> dict[str, Any]:
    return {"path": str(path), "exists": True, "kind": "file", "sha256": None}
