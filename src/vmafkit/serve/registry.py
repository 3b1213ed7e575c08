"""The model registry (`registry.json`): schema + semantic validation, register, flip, rollback,
history. This module is the registry's only writer: `export` registers its members here.

Register, flip and rollback take the registry's lock, read and check everything first and only
then write (atomically): a refusal leaves registry.json byte-identical. Each change is appended
to the history (`registry_history.jsonl` beside the registry, rewritten atomically) with who
(user@host), when (UTC), why and the previous state. A failed write (disk full, `ulimit -f`)
leaves both files as they were: the history never records a change that did not happen
(`_commit`).
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from vmafkit import layout
from vmafkit.decide.verdict import (
    fingerprint_difference,
    gate_headline,
    load_verdict,
    same_corpus,
    trusted_verdict_evidence,
    utc_now,
)
from vmafkit.errors import InputError, RefusedError
from vmafkit.io import atomic_output, atomic_write_bytes, atomic_write_json, exclusive_lock, read_json, sha256_file
from vmafkit.media.libvmaf import FEATURE_SETS
from vmafkit.serve import subjective_members
from vmafkit.serve.folder import recover
from vmafkit.validation import schema_errors, validate_or_raise

REGISTRY_SCHEMA_VERSION = 1


def history_path(registry_path: str | Path) -> Path:
    return Path(registry_path).parent / layout.REGISTRY_HISTORY_FILE


def _resolve(registry_path: Path, rel: str) -> Path:
    """A registry path, relative to the registry's folder (the schema refuses absolute and `..`)."""
    return registry_path.parent / rel


def _outside(registry_path: Path, rel: str) -> bool:
    """Whether `rel` leads outside the models folder (e.g. through a symlink)."""
    base = registry_path.parent.resolve()
    return not _resolve(registry_path, rel).resolve().is_relative_to(base)


def registry_problems(registry_path: str | Path, data: Any | None = None) -> list[str]:
    """Every problem with the registry: schema first, then the semantic checks (ids unique, each
    ONNX present with the recorded sha256, sidecars for non-smoke rows and their consistency, the
    input-schema hash equal to this vmafkit's)."""
    from vmafkit.train.features import input_schema_hash

    registry_path = Path(registry_path)
    if data is None:
        data = read_json(registry_path, what="registry")
    problems = schema_errors(data, "registry")
    if (registry_path.parent / layout.EXPORT_JOURNAL).exists():
        problems.append(
            f"an export into this folder was interrupted ({layout.EXPORT_JOURNAL}); the next export, "
            "`registry flip` or `registry rollback` finishes or undoes it"
        )
    if problems:
        return problems
    current = {input_schema_hash(order) for order in FEATURE_SETS.values()}
    seen: set[str] = set()
    for i, row in enumerate(data["models"]):
        where = f"models/{i} ({row['id']})"
        if row["id"] in seen:
            problems.append(f"{where}: duplicate id")
        seen.add(row["id"])
        problems += [f"{where}: {problem}" for problem in _row_problems(registry_path, row, current)]
    return problems


def _row_problems(registry_path: Path, row: Mapping[str, Any], current_schemas: set[str]) -> list[str]:
    """One registry row's problems: its files inside the folder, the ONNX bytes its sha256 pins,
    its input schema, then its sidecar and calibration (`_sidecar_problems`)."""
    escaping = [row[k] for k in ("onnx", "sidecar", "calibration") if row.get(k) and _outside(registry_path, row[k])]
    if escaping:
        return [f"{escaping[0]} lies outside the models folder"]
    problems = []
    onnx_path = _resolve(registry_path, row["onnx"])
    if not onnx_path.is_file():
        problems.append(f"onnx file {onnx_path} not found")
    elif sha256_file(onnx_path) != row["sha256"]:
        problems.append(f"sha256 of {onnx_path.name} does not match the registry")
    if row["kind"] == subjective_members.MEMBER_KIND:
        problem = _subjective_schema_problem(registry_path, row)
        if problem is not None:
            problems.append(problem)
    elif row["input_schema_hash"] not in current_schemas:
        problems.append(
            f"input_schema_hash {row['input_schema_hash'][:12]} is none of this vmafkit's "
            f"({', '.join(sorted(h[:12] for h in current_schemas))}: one per feature set; weights of another "
            "input layout)"
        )
    return problems + _sidecar_problems(registry_path, row)


def _sidecar_problems(registry_path: Path, row: Mapping[str, Any]) -> list[str]:
    """The row's sidecar (present for a non-smoke row, pinned, schema-valid, agreeing with the row)
    and its calibration file (present for a non-smoke row, pinned)."""
    sidecar_rel = row.get("sidecar")
    if not sidecar_rel:
        return [] if row["smoke"] else ["a non-smoke row needs a sidecar"]
    sidecar_path = _resolve(registry_path, sidecar_rel)
    if not sidecar_path.is_file():
        return [] if row["smoke"] else [f"sidecar {sidecar_path} not found"]
    problems = []
    pinned = row.get("sidecar_sha256")
    if pinned is None:
        problems.append(f"sidecar {sidecar_path.name} is not pinned (no sidecar_sha256)")
    elif sha256_file(sidecar_path) != pinned:
        problems.append(f"sidecar {sidecar_path.name} was changed (sha256 does not match sidecar_sha256)")
    try:
        sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return problems + [f"sidecar {sidecar_path.name} unreadable ({exc})"]
    errs = schema_errors(sidecar, "sidecar")
    if errs:
        return problems + [f"sidecar {sidecar_path.name}: {errs[0]}"]
    if sidecar["onnx_sha256"] != row["sha256"]:
        problems.append("sidecar's onnx_sha256 differs from the registry's sha256")
    if sidecar["input_schema_hash"] != row["input_schema_hash"]:
        problems.append("sidecar's input_schema_hash differs from the registry's")
    elif row["kind"] != subjective_members.MEMBER_KIND and row["input_schema_hash"] != _vmaf_schema_hash(sidecar):
        problems.append("input_schema_hash is not the hash of the input schema of its sidecar's feature_order")
    calib = row.get("calibration")
    if calib:
        calib_path = _resolve(registry_path, calib)
        if not calib_path.is_file():
            if not row["smoke"]:
                problems.append(f"calibration file {calib} not found")
        elif row.get("calibration_sha256") is None:
            problems.append(f"calibration file {calib} is not pinned (no calibration_sha256)")
        elif sha256_file(calib_path) != row["calibration_sha256"]:
            problems.append(f"calibration file {calib} was changed (sha256 does not match calibration_sha256)")
    return problems


def _vmaf_schema_hash(sidecar: Mapping[str, Any]) -> str | None:
    from vmafkit.train.features import input_schema_hash

    try:
        return input_schema_hash([str(name) for name in sidecar["feature_order"]])
    except (KeyError, TypeError):
        return None


def _subjective_schema_problem(registry_path: Path, row: Mapping[str, Any]) -> str | None:
    """A subjective member's input schema is its feature columns, which its sidecar names: the
    row's input_schema_hash must be the hash of the schema those columns give."""
    if not row.get("sidecar"):
        return "a subjective member needs its sidecar (it names the model's feature columns)"
    path = _resolve(registry_path, row["sidecar"])
    try:
        order = json.loads(path.read_text(encoding="utf-8"))["feature_order"]
        expected = subjective_members.input_schema_hash([str(name) for name in order])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # the sidecar's own checks below say what is wrong with it
    if row["input_schema_hash"] != expected:
        return (
            f"input_schema_hash {row['input_schema_hash'][:12]} is not {expected[:12]}, the subjective input "
            f"schema of its sidecar's feature columns (weights of another input layout)"
        )
    return None


def load_registry(registry_path: str | Path) -> dict[str, Any]:
    """Read and fully validate a registry; InputError (exit 2) listing the first problem."""
    registry_path = Path(registry_path)
    data = read_json(registry_path, what="registry")
    problems = registry_problems(registry_path, data)
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InputError(f"invalid registry: {problems[0]}{more}", path=registry_path)
    return data


def validate_registry(registry_path: str | Path) -> list[str]:
    """The list of problems (empty = valid); a missing or non-JSON file raises InputError."""
    return registry_problems(registry_path)


def _who() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = os.environ.get("USER", "unknown")
    return f"{user}@{socket.gethostname()}"


def _select(data: Mapping[str, Any], ids: Iterable[str] | None, ensemble: str | None) -> list[int]:
    rows = data["models"]
    ids = list(ids or [])
    if ids:
        known = {r["id"]: i for i, r in enumerate(rows)}
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise InputError(f"no registry rows with ids {unknown}")
        return [known[i] for i in ids]
    if ensemble:
        picked = [i for i, r in enumerate(rows) if r.get("ensemble") == ensemble]
        if not picked:
            raise InputError(f"no registry rows of ensemble {ensemble!r}")
        return picked
    return [i for i, r in enumerate(rows) if r.get("sidecar")]


def _commit(registry_path: Path, data: dict[str, Any], entry: dict[str, Any], before: bytes | None) -> None:
    """Write the new registry and append `entry` to the history so that a failure (disk full,
    `ulimit -f`, a kill) leaves neither changed: the new history is written and fsync'd in a temp
    file first, then the registry is replaced atomically (where a full disk strikes, the registry
    write fails and the history temp file is dropped), then the history is renamed into place.
    Should that last rename fail, the registry gets its `before` bytes back. The history never
    records a change the registry does not hold."""
    path = history_path(registry_path)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if old and not old.endswith("\n"):
        old += "\n"
    registry_written = False
    try:
        with atomic_output(path, "wb") as history:
            history.write((old + json.dumps(entry, sort_keys=True) + "\n").encode("utf-8"))
            history.flush()
            os.fsync(history.fileno())  # ENOSPC / EFBIG for the history surface here, before any change
            atomic_write_json(registry_path, data)
            registry_written = True
    except BaseException:
        if registry_written and before is not None:
            with contextlib.suppress(OSError):  # keep the original error; the history is unchanged either way
                atomic_write_bytes(registry_path, before)
        raise


def read_rows(registry_path: str | Path) -> list[dict[str, Any]]:
    """The rows of a registry, schema-checked ([] when there is none yet); InputError (exit 2)
    for a malformed one. An export reads them before any work, so a bad registry stops it early."""
    registry_path = Path(registry_path)
    if not registry_path.exists():
        return []
    data = read_json(registry_path, what="registry")
    validate_or_raise(data, "registry", path=registry_path, what="registry")
    return list(data["models"])


def register(registry_path: str | Path, rows: list[dict[str, Any]], *, ensemble: str, why: str) -> dict[str, Any]:
    """Add the member rows of `ensemble`, replacing the ones it had: a row keeps the place of the
    row with its id, rows of the ensemble that are not in `rows` go, rows of other ensembles stay.
    Under the registry's lock, with a history entry (action "register"); returns the entry."""
    registry_path = Path(registry_path)
    with exclusive_lock(registry_path.parent, layout.REGISTRY_LOCK):
        recover(registry_path.parent, locked=True)
        return register_locked(registry_path, rows, ensemble=ensemble, why=why)


def register_locked(registry_path: Path, rows: list[dict[str, Any]], *, ensemble: str, why: str) -> dict[str, Any]:
    """`register`'s change, for a caller that holds the registry lock (an export's switch,
    `serve.folder.commit_files`)."""
    before = registry_path.read_bytes() if registry_path.exists() else None
    existing = read_rows(registry_path)
    by_id = {r["id"]: r for r in rows}
    replaced = [r for r in existing if r.get("ensemble") == ensemble or r["id"] in by_id]
    merged = [by_id.pop(r["id"], r) for r in existing if r.get("ensemble") != ensemble or r["id"] in by_id]
    merged += [r for r in rows if r["id"] in by_id]
    data = {"schema_version": REGISTRY_SCHEMA_VERSION, "models": merged}
    validate_or_raise(data, "registry", what="registry (internal)")
    entry = {
        "action": "register",
        "who": _who(),
        "when": utc_now(),
        "why": why,
        "ids": [r["id"] for r in rows],
        "previous": [
            {"id": r["id"], "smoke": r["smoke"], "notes": r["notes"], "promoted_by": r.get("promoted_by")}
            for r in replaced
        ],
        "registry_sha256_before": _sha_or_none(before),
    }
    _commit(registry_path, data, entry, before)
    return entry


def read_history(registry_path: str | Path) -> list[dict[str, Any]]:
    path = history_path(registry_path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def flip(
    registry_path: str | Path,
    verdict_path: str | Path,
    *,
    ids: Iterable[str] | None = None,
    ensemble: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """smoke -> false for the selected member rows (default: every row with a sidecar), only when
    the verdict is PROMOTE, it pins the same corpus as every sidecar, the sidecars' gate equals the
    verdict's, the verdict's seeds are exactly the rows' seeds, and every ONNX matches its sha256."""
    registry_path, verdict_path = Path(registry_path), Path(verdict_path)
    with exclusive_lock(registry_path.parent, layout.REGISTRY_LOCK):
        recover(registry_path.parent, locked=True)  # a killed export's switch, finished or undone first
        before = registry_path.read_bytes() if registry_path.exists() else None
        data = load_registry(registry_path)
        verdict = load_verdict(verdict_path)
        if verdict["verdict"] != "PROMOTE":
            raise RefusedError(f"verdict is {verdict['verdict']}, not PROMOTE; registry unchanged", path=verdict_path)
        verdict, evidence = trusted_verdict_evidence(verdict_path)
        picked = _select(data, ids, ensemble)
        if not picked:
            raise RefusedError(
                "no exported member rows (with sidecars) to flip; registry unchanged", path=registry_path
            )
        rows = data["models"]
        seeds_by_ensemble: dict[str, set[int]] = {}
        for i in picked:
            row = rows[i]
            if not row.get("sidecar"):
                raise RefusedError(f"{row['id']}: has no sidecar; only exported members can be flipped")
            sidecar = read_json(_resolve(registry_path, row["sidecar"]), what="sidecar")
            if not same_corpus(verdict["corpus"], sidecar["corpus"]):
                raise RefusedError(
                    f"{row['id']}: sidecar pins another corpus than the verdict "
                    f"({fingerprint_difference(verdict['corpus'], sidecar['corpus'])}); registry unchanged"
                )
            if sidecar["gate"] != verdict["gate"]:
                raise RefusedError(f"{row['id']}: sidecar was exported under another gate result than this verdict's")
            if (
                sha256_file(_resolve(registry_path, row["onnx"])) != row["sha256"]
                or sidecar["onnx_sha256"] != row["sha256"]
            ):
                raise RefusedError(f"{row['id']}: ONNX sha256 does not match the registry/sidecar; registry unchanged")
            seeds_by_ensemble.setdefault(row.get("ensemble", ""), set()).add(int(sidecar["seed"]))
        for name, seeds in seeds_by_ensemble.items():
            if seeds != set(verdict["seeds"]):
                raise RefusedError(
                    f"ensemble {name!r} has seeds {sorted(seeds)} but the verdict gated "
                    f"{sorted(verdict['seeds'])}; registry unchanged"
                )
        if evidence is not None:  # a VMAF verdict: what is switched in must be what its files give
            from vmafkit.serve.rederive import check_against_evidence

            check_against_evidence(registry_path, [rows[i] for i in picked], verdict, verdict_path, evidence)
        previous = [
            {
                "id": rows[i]["id"],
                "smoke": rows[i]["smoke"],
                "notes": rows[i]["notes"],
                "promoted_by": rows[i].get("promoted_by"),
            }
            for i in picked
        ]
        verdict_sha = sha256_file(verdict_path)
        for i in picked:
            rows[i]["smoke"] = False
            rows[i]["promoted_by"] = {
                "verdict_path": str(verdict_path),
                "verdict_sha256": verdict_sha,
                "corpus_sha256": verdict["corpus"]["sha256"],
                "generated_at_utc": verdict["generated_at_utc"],
                "flipped_at_utc": utc_now(),
            }
            rows[i]["notes"] = (
                f"production: PROMOTE {verdict_sha[:12]} (corpus {verdict['corpus']['sha256'][:12]}, "
                f"{gate_headline(verdict)})"
            )
        entry = {
            "action": "flip",
            "who": _who(),
            "when": utc_now(),
            "why": reason or f"PROMOTE verdict {verdict_path}",
            "ids": [rows[i]["id"] for i in picked],
            "previous": previous,
            "registry_sha256_before": _sha_or_none(before),
            "verdict_sha256": verdict_sha,
        }
        _commit(registry_path, data, entry, before)
        return entry


def rollback(
    registry_path: str | Path, reason: str, *, ids: Iterable[str] | None = None, ensemble: str | None = None
) -> dict[str, Any]:
    """smoke -> true for the selected rows (default: every non-smoke row) and record why.

    Returns the history entry; when every selected row is already smoke, nothing is written
    and the entry has action "noop"."""
    registry_path = Path(registry_path)
    if not reason or not reason.strip():
        raise InputError("rollback needs a --reason")
    with exclusive_lock(registry_path.parent, layout.REGISTRY_LOCK):
        recover(registry_path.parent, locked=True)  # a killed export's switch, finished or undone first
        before = registry_path.read_bytes() if registry_path.exists() else None
        data = read_json(registry_path, what="registry")
        errs = schema_errors(data, "registry")
        if errs:  # a rollback must work even when an ONNX went missing: schema only, not semantics
            raise InputError(f"invalid registry: {errs[0]}", path=registry_path)
        rows = data["models"]
        picked = (
            _select(data, ids, ensemble) if (ids or ensemble) else [i for i, r in enumerate(rows) if not r["smoke"]]
        )
        changed = [i for i in picked if not rows[i]["smoke"]]
        entry = {
            "action": "rollback",
            "who": _who(),
            "when": utc_now(),
            "why": reason.strip(),
            "ids": [rows[i]["id"] for i in changed],
            "previous": [
                {
                    "id": rows[i]["id"],
                    "smoke": rows[i]["smoke"],
                    "notes": rows[i]["notes"],
                    "promoted_by": rows[i].get("promoted_by"),
                }
                for i in changed
            ],
            "registry_sha256_before": _sha_or_none(before),
        }
        if not changed:
            return {**entry, "action": "noop"}
        for i in changed:
            rows[i]["smoke"] = True
            rows[i]["promoted_by"] = None
            rows[i]["notes"] = f"rolled back {entry['when']} by {entry['who']}: {entry['why']}"
        _commit(registry_path, data, entry, before)
        return entry


def _sha_or_none(data: bytes | None) -> str | None:
    import hashlib

    return hashlib.sha256(data).hexdigest() if data is not None else None
