"""Atomic writes, hashing, canonical JSON and CSV, and advisory locks.

Every file vmafkit writes goes through `atomic_write_*`: the bytes land in a temp file in the
same folder, are fsync'd, then renamed over the target, so a reader (or a crash) only ever sees
the old complete file or the new complete one.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import io
import json
import math
import os
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from vmafkit.errors import InputError, LockBusy
from vmafkit.layout import LOCK_FILE

CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def identity_hash(identity: Mapping[str, Any]) -> str:
    """A content-addressed cache name (a cell's, an encode's, a scored pair's): the first 32 hex
    digits of the sha256 of the identity's canonical JSON."""
    text = json.dumps(dict(identity), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


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


def dumps_csv(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """CSV with a header line of `columns`, then one line per row in that column order (numbers as
    Python writes them, so they read back to the same floats; a missing value is an empty field)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(column, "") for column in columns])
    return buffer.getvalue()


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


def reserve_temp(path: str | Path) -> Path:
    """An empty temp file beside `path` (as `atomic_output` makes), for a tool that writes it by
    name; the caller renames it over `path` when done, and removes it otherwise."""
    fd, tmp = _open_temp(Path(path))
    os.close(fd)
    return Path(tmp)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_output(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, dumps_json(obj))


# ---- where an output may go ---------------------------------------------------------------
# One rule for every file vmafkit writes: a regular file (replaced whole, atomically) or a new
# path. Anything else standing at the path (a folder, a device such as /dev/null, a FIFO, a
# socket, a link to one of those) is refused before a byte is written: the rename would replace
# the machine's /dev/null with a regular file. And no command writes over a file it reads, or
# writes two outputs to one path (`check_distinct_paths`).


def check_output_path(path: str | Path) -> Path:
    """`path` when vmafkit may write a file there (see above); else InputError naming it."""
    path = ensure_parent_exists(path)
    if not os.access(path.parent, os.W_OK | os.X_OK):  # the temp file goes beside it: refused now, not after the work
        raise InputError(f"cannot write into the folder {path.parent}: permission denied", path=path)
    try:
        st = os.stat(path)  # follows a link: what a reader of the path would see
    except FileNotFoundError:
        return path  # a new path (or a dangling link, which the rename replaces)
    except OSError as exc:
        raise InputError(f"cannot write here: {exc.strerror or exc}", path=path) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError("is a folder; give the path of a file to write", path=path)
    if not stat.S_ISREG(st.st_mode):
        raise InputError(
            f"is not a regular file ({_file_kind(st.st_mode)}); vmafkit writes only regular files, which it "
            "replaces whole: give the path of a file",
            path=path,
        )
    return path


def ensure_output_folder(path: str | Path, what: str = "output folder") -> Path:
    """`path` as a folder vmafkit may write files into, created with its parents; InputError when
    something that is not a folder stands at it (or on the way to it)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        kind = _file_kind(os.stat(path).st_mode) if path.exists() else "a dangling link"
        raise InputError(f"is {kind}, not a folder (the {what})", path=path) from None
    except NotADirectoryError:
        raise InputError(f"a folder on the way to this {what} is a file", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot create the {what}: {exc.strerror or exc}", path=path) from None
    return path


def same_path(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file: the same inode when both exist (links and `..` included),
    else the same absolute path once resolved."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def _named_paths(named: Mapping[str, Any]) -> list[tuple[str, Path]]:
    out = []
    for label, value in named.items():
        if value is None:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        out += [(label, Path(v)) for v in values if v is not None and str(v) != "-"]
    return out


def check_distinct_paths(inputs: Mapping[str, Any], outputs: Mapping[str, Any]) -> None:
    """Refuse (InputError, before anything is written) an output that is one of the command's
    inputs, or two outputs on one path. `inputs`/`outputs`: {label a user recognises (the flag or
    argument): a path, a list of paths, None (not given) or "-" (stdout)}."""
    outs = _named_paths(outputs)
    ins = _named_paths(inputs)
    for i, (label, path) in enumerate(outs):
        for in_label, in_path in ins:
            if same_path(path, in_path):
                raise InputError(
                    f"{label} names the same file as {in_label}, an input of this command: writing it would "
                    "destroy that input; give another path",
                    path=path,
                )
        for other_label, other in outs[i + 1 :]:
            if same_path(path, other):
                raise InputError(
                    f"{label} and {other_label} name the same file: give each output its own path", path=path
                )


@contextlib.contextmanager
def atomic_output(path: str | Path, mode: str = "wb") -> Iterator[Any]:
    """Stream into a temp file next to `path`; rename over it only if the block succeeds. A path
    vmafkit may not write (`check_output_path`) is refused before anything is written."""
    path = check_output_path(path)
    fd, tmp = _open_temp(path)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if exc.filename is None and exc.errno is not None:
            # a failed write() or fsync() names no file: name the one being written, so a full disk
            # reads "cannot write PATH: ..." (errors.storage_error)
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ---- reading user files -------------------------------------------------------------------
# Every reader of a file the user names goes through `open_regular` and the caps below, so a
# hostile path (/dev/zero, a FIFO, a folder, a 50 MB single line, JSON nested 100,000 deep, a
# 0xFF byte) is one InputError (exit 2) naming the file (and line), never a hang, a memory
# blow-up or a traceback. The caps are module constants so tests can lower them.

MAX_JSON_BYTES = 256 << 20  # whole-file JSON (seed report, verdict, registry, sidecar, ...)
MAX_LINE_BYTES = 1 << 20  # one line of a JSON-lines file (a corpus row is ~600 bytes)
MAX_JSON_DEPTH = 64  # nesting of arrays/objects; vmafkit's own files stay under 10


def open_regular(path: str | Path, *, what: str = "file") -> Any:
    """Open `path` for binary reading, refusing anything but a regular file (exit 2).

    O_NONBLOCK makes open() of a FIFO return at once (no writer needed), and fstat on the open
    descriptor decides: a FIFO, a device (/dev/zero), a socket or a folder is refused before a
    single byte is read. Symlinks to regular files are followed as usual."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError(f"{what} not found", path=path) from None
    except IsADirectoryError:
        raise InputError(f"{what} is not a regular file (a folder)", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror or exc}", path=path) from None
    except ValueError:  # a NUL byte in the path
        raise InputError(f"cannot read {what}: the path contains a NUL byte", path=repr(str(path))) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{what} is not a regular file ({_file_kind(st.st_mode)})", path=path)
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def require_regular_file(path: str | Path, *, what: str = "file") -> Path:
    """`path` when it is an existing regular file (for readers that open it themselves, e.g.
    pyarrow); else InputError (exit 2). Never blocks on a FIFO."""
    with open_regular(path, what=what):
        pass
    return Path(path)


def _file_kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a plain file"


def read_bytes_capped(path: str | Path, *, what: str = "file", max_bytes: int | None = None) -> bytes:
    """The whole of a regular file, refused (exit 2) when it is larger than `max_bytes`
    (default MAX_JSON_BYTES), checked on the size and again on what is read (a growing file)."""
    path = Path(path)
    cap = MAX_JSON_BYTES if max_bytes is None else max_bytes
    with open_regular(path, what=what) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > cap:
            raise InputError(f"{what} is {size} bytes; the limit is {cap}", path=path)
        try:
            data = handle.read(cap + 1)
        except OSError as exc:
            raise InputError(f"cannot read {what}: {exc.strerror or exc}", path=path) from None
    if len(data) > cap:
        raise InputError(f"{what} is larger than the limit of {cap} bytes", path=path)
    return data


def _line_of(data: bytes, pos: int) -> int:
    return data.count(b"\n", 0, pos) + 1


def read_text_capped(path: str | Path, *, what: str = "file", max_bytes: int | None = None) -> str:
    """A regular UTF-8 text file, whole, under the size cap; errors are one line naming file:line."""
    path = Path(path)
    data = read_bytes_capped(path, what=what, max_bytes=max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}:{_line_of(data, exc.start)}: {what} is not UTF-8 (byte 0x{data[exc.start]:02x})"
        ) from None


def json_depth_exceeds(obj: Any, limit: int | None = None) -> bool:
    """Whether `obj` nests arrays/objects deeper than `limit` (default MAX_JSON_DEPTH); iterative,
    so it works on any object json.loads could build."""
    limit = MAX_JSON_DEPTH if limit is None else limit
    stack = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} (NaN or infinite) is not allowed")


INT_LIMIT = 2**63  # a JSON integer must lie in [-INT_LIMIT, INT_LIMIT): every integer vmafkit reads is int64


def _bounded_int(text: str) -> int:
    digits = len(text) - text.startswith("-")
    value = int(text) if digits <= 20 else None
    if value is None or not -INT_LIMIT <= value < INT_LIMIT:
        shown = text if len(text) <= 24 else f"{text[:20]}... ({digits} digits)"
        raise ValueError(f"integer {shown} is outside the 64-bit range")
    return value


# Built once: json.loads with keyword arguments builds a decoder per call (3x slower on a corpus).
_DECODER = json.JSONDecoder(parse_int=_bounded_int)
_STRICT_DECODER = json.JSONDecoder(parse_int=_bounded_int, parse_constant=_reject_constant)


class _JsonProblem(Exception):
    """Why a text is not acceptable JSON (message only; callers add file or file:line)."""


def _parse_json(text: str, strict: bool) -> Any:
    # Cheap pre-check: a text with fewer brackets than the limit cannot nest deeper than it.
    deep_possible = text.count("[") + text.count("{") > MAX_JSON_DEPTH
    try:
        if strict:
            obj = _STRICT_DECODER.decode(text)
        else:
            obj = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise _JsonProblem(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise _JsonProblem(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    except (ValueError, OverflowError) as exc:  # NaN/Infinity (strict), an integer out of range
        raise _JsonProblem(" ".join(str(exc).split())[:200]) from None
    if deep_possible and json_depth_exceeds(obj):
        raise _JsonProblem(f"nested deeper than {MAX_JSON_DEPTH} levels")
    return obj


def loads_json(text: str | bytes, *, where: str, what: str = "JSON", strict: bool = False) -> Any:
    """json.loads with the nesting cap and one-line errors led by `where` (file or file:line).

    Integers outside the 64-bit range (a 400-digit cq) are refused. `strict`: the constants NaN
    and Infinity are refused too (a literal that overflows, 1e999, loads as inf: the row
    validators refuse non-finite numbers with the key's name)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{where}: {what} is not UTF-8 (byte 0x{text[exc.start]:02x})") from None
    try:
        return _parse_json(text, strict)
    except _JsonProblem as exc:
        raise InputError(f"{where}: malformed {what}: {exc}") from None


def read_json(path: str | Path, *, what: str = "JSON file") -> Any:
    """One JSON document from a regular file: size-capped, UTF-8, nesting-capped (exit 2 else)."""
    path = Path(path)
    text = read_text_capped(path, what=what)
    try:
        return _parse_json(text, strict=False)
    except _JsonProblem as exc:
        raise InputError(f"malformed {what}: {exc}", path=path) from None


def read_toml(path: str | Path, *, what: str = "TOML file") -> dict[str, Any]:
    """One TOML document from a regular file, with read_json's caps (size, UTF-8, nesting).

    tomllib recurses on nested arrays/inline tables (RecursionError on deep input) and converts
    integers with int() (ValueError past int_max_str_digits): both are refused (exit 2), and so
    are integers outside the 64-bit range, as in JSON."""
    path = Path(path)
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - 3.10: tomllib is new in 3.11, tomli is its backport
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise InputError(f"reading a {what} needs Python 3.11+ or the tomli package", path=path) from None
    text = read_text_capped(path, what=what)
    try:
        obj = tomllib.loads(text)
    except RecursionError:
        raise InputError(f"malformed {what}: nested deeper than {MAX_JSON_DEPTH} levels", path=path) from None
    except (ValueError, OverflowError) as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise InputError(f"malformed {what}: {' '.join(str(exc).split())[:200]}", path=path) from None
    if json_depth_exceeds(obj):
        raise InputError(f"malformed {what}: nested deeper than {MAX_JSON_DEPTH} levels", path=path)
    stack: list[Any] = [obj]
    while stack:  # TOML has no integer hook: refuse what _bounded_int refuses in JSON, after the fact
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, int) and not isinstance(value, bool) and not -INT_LIMIT <= value < INT_LIMIT:
            raise InputError(f"malformed {what}: integer {str(value)[:20]}... is outside the 64-bit range", path=path)
    return obj


def iter_json_objects(path: str | Path, *, what: str = "JSONL file") -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a JSON-lines file.

    Strict JSON (NaN and Infinity are refused, and integers outside the 64-bit range); lines
    longer than MAX_LINE_BYTES, bytes that are not UTF-8 and nesting deeper than MAX_JSON_DEPTH
    are refused; every error is one line naming file:line. The file must be a regular file."""
    path = Path(path)
    with open_regular(path, what=what) as handle:
        lineno = 0
        while True:
            try:
                raw = handle.readline(MAX_LINE_BYTES + 1)
            except OSError as exc:
                raise InputError(f"{path}:{lineno + 1}: cannot read {what}: {exc.strerror or exc}") from None
            if not raw:
                return
            lineno += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                raise InputError(f"{path}:{lineno}: line is longer than {MAX_LINE_BYTES} bytes")
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{path}:{lineno}: not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
                ) from None
            try:
                row = _parse_json(line, strict=True)
            except _JsonProblem as exc:
                raise InputError(f"{path}:{lineno}: line is not valid JSON ({exc})") from None
            if not isinstance(row, dict):
                raise InputError(f"{path}:{lineno}: a row must be a JSON object, got {type(row).__name__}")
            yield lineno, row


@contextlib.contextmanager
def exclusive_lock(folder: str | Path, name: str = LOCK_FILE) -> Iterator[Path]:
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
            raise LockBusy(
                f"is in use by {holder}; wait for it to finish or pick another folder", path=folder
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield lock_path
    finally:
        handle.close()
