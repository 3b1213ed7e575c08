"""Atomic writes, hashing, canonical JSON and advisory locks.

Every file vmafkit writes goes through `atomic_write_*`: the bytes land in a temp file in the
same folder, are fsync'd, then renamed over the target, so a reader (or a crash) only ever sees
the old complete file or the new complete one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from .errors import InputError

CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _json_safe(value: Any) -> Any:
    """Replace NaN/inf by None so the output is strict JSON (json.dumps would write NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _json_safe(value.item())
    return value


def dumps_json(obj: Any, *, indent: int | None = 2) -> str:
    """Canonical JSON: sorted keys, strict (no NaN), trailing newline when indented."""
    text = json.dumps(_json_safe(obj), sort_keys=True, indent=indent, allow_nan=False, ensure_ascii=False)
    return text + "\n" if indent is not None else text


def ensure_parent_exists(path: str | Path) -> Path:
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"folder {parent} does not exist", path=path)
    return path


def _read_umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


_UMASK = _read_umask()  # read once: os.umask can only be read by setting it, which races threads


def _open_temp(path: Path) -> tuple[int, str]:
    """A temp file beside `path` with the mode a plain open() would give (mkstemp's is 0600)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_UMASK)
    return fd, tmp


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_output(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, dumps_json(obj))


@contextlib.contextmanager
def atomic_output(path: str | Path, mode: str = "wb") -> Iterator[Any]:
    """Stream into a temp file next to `path`; rename over it only if the block succeeds."""
    path = ensure_parent_exists(path)
    fd, tmp = _open_temp(path)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_json(path: str | Path, *, what: str = "JSON file") -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{what} not found", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {what}: {exc}", path=path) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed {what}: {exc.msg} at line {exc.lineno} column {exc.colno}", path=path) from None


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} (NaN or infinite) is not allowed")


def iter_json_objects(path: str | Path, *, what: str = "JSONL file") -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a JSON-lines file.

    Strict JSON (NaN and Infinity are refused); every error is one line naming file:line.
    """
    path = Path(path)
    try:
        handle = open(path, "r", encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{what} not found", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror}", path=path) from None
    with handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line, parse_constant=_reject_constant)
            except (json.JSONDecodeError, ValueError) as exc:
                msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                raise InputError(f"{path}:{lineno}: line is not valid JSON ({msg})") from None
            if not isinstance(row, dict):
                raise InputError(f"{path}:{lineno}: a row must be a JSON object, got {type(row).__name__}")
            yield lineno, row


class LockBusy(InputError):
    pass


@contextlib.contextmanager
def exclusive_lock(folder: str | Path, name: str = ".vmafkit.lock") -> Iterator[Path]:
    """Hold an advisory lock on `folder` for the block; a second holder fails at once (exit 2).

    flock is released by the kernel when the process dies, so a kill -9 never leaves a stale lock.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock_path = folder / name
    handle = open(lock_path, "a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise LockBusy(f"is in use by {holder}; wait for it to finish or pick another folder", path=folder) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield lock_path
    finally:
        handle.close()
