"""Small run folders (verdict, seed reports, corpus, export, report) and hostile tarballs for the
bundle / compare tests. The JSON shapes follow src/vmafkit/schemas/; the values are made up and labelled so."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vmafkit.corpus.schema import write_jsonl_lines

from ...factories import synthetic_rows

FOLDS = ("bluesky", "ciscovt2people", "parkjoy", "sparks")
CORPUS_SOURCES = ("parkjoy", "sparks")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def seed_report(
    seed: int, plccs: dict[str, float], corpus: str = "corpus/per_frame_canonical6.jsonl"
) -> dict[str, Any]:
    folds = [
        {"held_out": name, "n_train": 30, "n_val": 10, "plcc": p, "srocc": p, "rmse": 1.0} for name, p in plccs.items()
    ]
    values = list(plccs.values())
    return {
        "seed": seed,
        "corpus": corpus,
        "n_folds": len(folds),
        "folds": folds,
        "mean_plcc": sum(values) / len(values),
        "std_plcc": 0.0,
        "min_plcc": min(values),
        "max_plcc": max(values),
        "mean_srocc": sum(values) / len(values),
        "mean_rmse": 1.0,
        "epochs": 3,
        "batch_size": 32,
        "lr": 5e-4,
        "weight_decay": 1e-5,
        "num_codecs": 12,
        "encoder_vocab_version": 1,
        "wall_time_s": 1.0,
    }


def make_run_dir(
    out: Path,
    *,
    verdict: str = "PROMOTE",
    seeds: Iterable[int] = (0, 1),
    plcc: dict[int, dict[str, float]] | None = None,
    offset: float = 0.0,
    export: bool = True,
    junk: bool = True,
    record_hashes: bool = True,
    corpus_text: str | None = None,
    env: dict[str, Any] | None = None,
) -> Path:
    """OUT/{corpus/per_frame_canonical6.jsonl, loso/loso_seed{N}.json, loso/<VERDICT>.json,
    models/fr_seed{N}.onnx + .json sidecar, calibration, registry, report.html} plus junk the bundle must leave out."""
    seeds = list(seeds)
    (out / "corpus").mkdir(parents=True, exist_ok=True)
    (out / "loso").mkdir(exist_ok=True)
    corpus = out / "corpus" / "per_frame_canonical6.jsonl"
    if corpus_text is None:
        corpus_text = write_jsonl_lines(synthetic_rows(sources=CORPUS_SOURCES, frames=1))
    corpus.write_text(corpus_text)
    fingerprint = {
        "path": str(corpus),
        "sha256": _sha(corpus),
        "rows": corpus_text.count("\n"),
        "sources": [{"src": src} for src in CORPUS_SOURCES],
    }
    inputs = []
    for s in seeds:
        values = (plcc or {}).get(s) or {f: 0.97 + 0.002 * i + 0.001 * s for i, f in enumerate(FOLDS)}
        values = {k: v + offset for k, v in values.items()}
        path = out / "loso" / f"loso_seed{s}.json"
        path.write_text(json.dumps(seed_report(s, values), sort_keys=True, indent=2))
        inputs.append(
            {"path": str(path), "exists": True, "kind": "file", "sha256": _sha(path) if record_hashes else None}
        )
    verdict_obj = {
        "schema_version": 1,
        "verdict": verdict,
        "generated_at_utc": "2026-11-23T20:00:00Z",
        "loso_dir": str(out / "loso"),
        "seeds": seeds,
        "gate": {"passed": verdict == "PROMOTE"},
        "corpus": fingerprint,
        "recommendation": "test",
        "run_provenance": {
            "schema": "ai-run-provenance-v1",
            "entrypoint": "test",
            "argv": [],
            "args": {"encoders": "libx264"},
            "inputs": inputs,
            "outputs": [],
        },
    }
    (out / "loso" / f"{verdict}.json").write_text(json.dumps(verdict_obj, sort_keys=True, indent=2))
    if export:  # the layout of `vmafkit export` (OUT/models): member ONNX + sidecars, calibration, registry
        models = out / "models"
        models.mkdir(exist_ok=True)
        verdict_sha = _sha(out / "loso" / f"{verdict}.json")
        for s in seeds:
            (models / f"fr_seed{s}.onnx").write_bytes(b"fake onnx bytes %d" % s)
            (models / f"fr_seed{s}.json").write_text(
                json.dumps({"corpus": fingerprint, "seed": s, "verdict": {"sha256": verdict_sha}})
            )
        (models / "fr_calibration.json").write_text(
            json.dumps({"corpus_sha256": fingerprint["sha256"], "verdict_sha256": verdict_sha})
        )
        (models / "registry.json").write_text(json.dumps({"schema_version": 1, "models": []}))
    (out / "report.html").write_text("<html>report</html>\n")
    if env is not None:
        (out / "environment.json").write_text(json.dumps(env))
    if junk:
        (out / ".vmafkit.lock").write_text("pid 1")
        (out / "loso" / ".PROMOTE.json.abc123.tmp").write_text("half-written")
        (out / "stray.tmp").write_text("temp")
        (out / "cache" / "ab").mkdir(parents=True, exist_ok=True)
        (out / "cache" / "ab" / "cell.json").write_text("{}")
        (out / "cells").mkdir(exist_ok=True)
        (out / "cells" / "x.jsonl").write_text("{}\n")
        (out / "old-results.tar.gz").write_bytes(b"not really")
    return out


def backdate(out: Path, seconds: int = 100) -> None:
    """Make every file older, keeping their order (so a later write is newer than all)."""
    for root, _, files in os.walk(out):
        for name in files:
            path = Path(root) / name
            st = path.stat()
            os.utime(path, ns=(st.st_atime_ns - seconds * 10**9, st.st_mtime_ns - seconds * 10**9))


def write_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    """A .tar.gz with exactly these members (hostile ones included)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    path.write_bytes(gzip.compress(buffer.getvalue()))
    return path


def file_member(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.mode = 0o644
    return info, data


def special_member(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


def manifest_for(files: dict[str, bytes], verdict: str = "PROMOTE") -> bytes:
    entries = [{"path": k, "size": len(v), "sha256": hashlib.sha256(v).hexdigest()} for k, v in sorted(files.items())]
    return json.dumps(
        {
            "schema_version": 1,
            "verdict": verdict,
            "generated_at_utc": "2026-01-01T00:00:00Z",
            "files": entries,
            "n_files": len(entries),
        }
    ).encode()


def read_members(tarball: Path) -> dict[str, bytes]:
    with tarfile.open(tarball, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def rewrite_bundle(src: Path, dst: Path, edit) -> Path:
    """Rebuild a bundle after `edit(members: dict[name, bytes])` changes it in place."""
    members = read_members(src)
    edit(members)
    order = ["manifest.json"] + sorted(k for k in members if k != "manifest.json")
    return write_tar(dst, [file_member(name, members[name]) for name in order if name in members])


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}
