"""An export switched into a models folder as one change, and the sweep after a killed one.

A models folder may be serving (`registry flip`): an export into it must leave it byte-identical
unless it succeeds, whatever stops it (a concurrent `registry flip` holding the lock, a refused
registry, Ctrl-C, kill -9, a full disk). So `commit_files`:

1. writes every new file (members, sidecars, calibration) into a staging folder inside the models
   folder, fsync'd, before touching anything (a kill here leaves only the staging folder);
2. takes the registry's lock (a holder: LockBusy, exit 2, nothing switched);
3. writes a journal naming the files it adds and replaces and the registry's sha256 before;
4. moves each replaced file aside, each new one into place (renames), then lets the caller change
   the registry (its rows and history, `registry._commit`) — the commit point;
5. deletes the journal and the old files.

A failure inside 3–5 rolls back at once; a kill leaves the journal, and the next command that takes
the folder's lock (`recover`: export, registry flip/rollback/validate) finishes the job: the
registry changed → the export committed (drop the old files); else → put every old file back and
remove the new ones. Staging folders and atomic-write temp files that no journal names are swept.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from vmafkit import layout
from vmafkit.errors import InputError
from vmafkit.io import atomic_write_json, exclusive_lock, fsync_dir, read_json, sha256_file

R = TypeVar("R")


def _registry_sha(folder: Path) -> str | None:
    registry = layout.registry_file(folder)
    return sha256_file(registry) if registry.is_file() else None


def _write_staged(staging: Path, files: Mapping[str, bytes]) -> None:
    for name, data in files.items():
        if Path(name).name != name or name.startswith("."):
            raise InputError(f"export file name {name!r} must be a plain name")  # pragma: no cover - internal
        with open(staging / name, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    fsync_dir(staging)


def commit_files(folder: str | Path, files: Mapping[str, bytes], change_registry: Callable[[], R]) -> R:
    """Switch `files` ({plain name: bytes}) into `folder` and run `change_registry` (which must not
    take the registry lock: it is held) as one change (module doc); returns what it returns."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{layout.EXPORT_STAGING_PREFIX}{os.getpid()}-", dir=folder))
    try:
        _write_staged(staging, files)
        with exclusive_lock(folder, layout.REGISTRY_LOCK):
            recover(folder, locked=True)
            previous = folder / (layout.EXPORT_PREVIOUS_PREFIX + staging.name[len(layout.EXPORT_STAGING_PREFIX) :])
            previous.mkdir()
            journal = {
                "staging": staging.name,
                "previous": previous.name,
                "replaced": sorted(name for name in files if (folder / name).exists()),
                "added": sorted(name for name in files if not (folder / name).exists()),
                "registry_sha256_before": _registry_sha(folder),
            }
            atomic_write_json(folder / layout.EXPORT_JOURNAL, journal)
            try:
                for name in files:
                    if (folder / name).exists():
                        os.replace(folder / name, previous / name)
                    os.replace(staging / name, folder / name)
                fsync_dir(folder)
                result = change_registry()
            except BaseException:
                with contextlib.suppress(Exception):  # keep the original error
                    _finish(folder, journal)
                raise
            _finish(folder, journal)
            return result
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _finish(folder: Path, journal: Mapping[str, Any]) -> None:
    """Complete a switch the journal describes: keep it when the registry changed, else undo it."""
    previous = folder / str(journal["previous"])
    if _registry_sha(folder) == journal["registry_sha256_before"]:  # the registry change never landed
        for name in journal["added"]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(folder / name)
        for name in journal["replaced"]:
            if (previous / name).exists():
                os.replace(previous / name, folder / name)
        fsync_dir(folder)
    os.unlink(folder / layout.EXPORT_JOURNAL)
    shutil.rmtree(previous, ignore_errors=True)
    shutil.rmtree(folder / str(journal["staging"]), ignore_errors=True)


def _writer_alive(name: str) -> bool:
    """Whether the process that made a staging/previous folder (its pid follows the prefix) still
    runs: an export stages before it takes the lock, so its folder is not litter while it lives."""
    pid = next((int(part) for part in name.split("-") if part.isdigit()), None)
    if pid is None:
        return False
    if pid == os.getpid():
        return True  # this process's own (its `finally` removes it)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _plain(value: Any, prefix: str) -> bool:
    return isinstance(value, str) and value.startswith(prefix) and "/" not in value and value not in (".", "..")


def recover(folder: str | Path, *, locked: bool = False) -> bool:
    """Finish or undo an export a kill interrupted (module doc) and sweep what killed commands left
    (staging folders, atomic-write temp files); True when a journal was found. `locked`: the caller
    holds the registry lock (else it is taken here)."""
    folder = Path(folder)
    if not folder.is_dir():
        return False
    if not locked:
        with exclusive_lock(folder, layout.REGISTRY_LOCK):
            return recover(folder, locked=True)
    found = False
    journal_path = folder / layout.EXPORT_JOURNAL
    if journal_path.exists():
        journal = read_json(journal_path, what="export journal")
        names_ok = isinstance(journal, dict) and all(
            isinstance(journal.get(k), list) and all(isinstance(n, str) and Path(n).name == n for n in journal[k])
            for k in ("added", "replaced")
        )
        if not (
            names_ok
            and _plain(journal.get("staging"), layout.EXPORT_STAGING_PREFIX)
            and _plain(journal.get("previous"), layout.EXPORT_PREVIOUS_PREFIX)
        ):
            raise InputError(
                "is not an export journal vmafkit wrote; move it away once the folder is checked", path=journal_path
            )
        _finish(folder, journal)
        found = True
    for child in folder.iterdir():
        name = child.name
        if child.is_dir() and name.startswith((layout.EXPORT_STAGING_PREFIX, layout.EXPORT_PREVIOUS_PREFIX)):
            if not _writer_alive(name):
                shutil.rmtree(child, ignore_errors=True)
        elif child.is_file() and name.startswith(".") and name.endswith(".tmp"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(child)
    return found
