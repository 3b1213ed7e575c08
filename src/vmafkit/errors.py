"""The user-facing error type: a one-line message and the exit code the CLI returns."""

from __future__ import annotations

import signal
import threading
import types
from pathlib import Path

EXIT_OK = 0
EXIT_HOLD = 1  # the answer is no: a HOLD verdict, a failed gate, a bundle that does not verify, bundles that differ
EXIT_INPUT = 2  # every error that is not a refusal: bad input, a missing tool, a failed worker
EXIT_REFUSED = 3
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, the shell's convention)


class VmafkitError(Exception):
    """An error meant for the user: `str(err)` is one line, `err.exit_code` the CLI's code."""

    exit_code = EXIT_INPUT

    def __init__(self, message: str, *, path: str | Path | None = None, exit_code: int | None = None):
        one_line = " ".join(str(message).split())
        if path is not None:
            one_line = f"{path}: {one_line}"
        super().__init__(one_line)
        if exit_code is not None:
            self.exit_code = exit_code


class InputError(VmafkitError):
    """Bad input from the user (file, flag, corpus): exit 2."""

    exit_code = EXIT_INPUT


class RefusedError(VmafkitError):
    """A request that is well-formed but not allowed (export without PROMOTE, ...): exit 3."""

    exit_code = EXIT_REFUSED


class LockBusy(InputError):
    """The folder's lock is held by another process (another run in it): exit 2."""


class WorkerError(VmafkitError):
    """A worker (a training shard's process, a task on the Dask cluster) failed or died: exit 2.
    The message says what it reported (its exception, or its exit code), on one line."""

    exit_code = EXIT_INPUT


# ----------------------------------------------------------------------------- a full disk

# errno -> what to tell the user. EFBIG is what a write past `ulimit -f` gives once SIGXFSZ is
# ignored (Python ignores it at start-up; the CLI says so explicitly).
_STORAGE_ERRNOS = {
    "ENOSPC": "no space left on the device",
    "EDQUOT": "the disk quota is exceeded",
    "EFBIG": "a file outgrew the file size limit (`ulimit -f`) or the file system's largest file",
}
_STORAGE_TEXT = {"No space left on device": "ENOSPC", "Disk quota exceeded": "EDQUOT", "File too large": "EFBIG"}


def storage_error(exc: BaseException) -> InputError | None:
    """A one-line InputError (exit 2) for a write that failed because the disk (or quota, or file
    size limit) is full, found anywhere in `exc`'s cause/context chain; None for anything else.

    Every vmafkit write is atomic (temp file + rename) and every record (pipeline.json, the
    registry history, the cell cache) is written only after the work it records, so after this
    error nothing half-written or recorded-but-not-done is left behind."""
    import errno as errno_mod

    codes = {getattr(errno_mod, name): name for name in _STORAGE_ERRNOS if hasattr(errno_mod, name)}
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = codes.get(getattr(current, "errno", None)) if isinstance(current, OSError) else None
        if name is None:
            text = str(current)
            name = next((code for needle, code in _STORAGE_TEXT.items() if needle in text), None)
        if name is not None:
            where = getattr(current, "filename", None)
            target = f" {where}" if where else ""
            return InputError(
                f"cannot write{target}: {_STORAGE_ERRNOS[name]} ({name}); finished work is kept "
                "and nothing records the failed step as done: free space (or raise the limit) and "
                "re-run the same command"
            )
        current = current.__cause__ or current.__context__
    return None


def path_error(exc: BaseException) -> InputError | None:
    """A one-line InputError (exit 2) for a path the operating system refuses by its shape (a name
    longer than the file system allows, too many symlinks, a path through a file), found anywhere
    in `exc`'s cause/context chain; None for anything else."""
    import errno as errno_mod

    reasons = {
        errno_mod.ENAMETOOLONG: "a name in this path is longer than the file system allows (255 bytes a name)",
        errno_mod.ELOOP: "this path loops through symbolic links",
        errno_mod.ENOTDIR: "a folder in this path is a file",
    }
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in reasons:
            where = current.filename if current.filename is not None else None
            return InputError(reasons[current.errno], path=where)
        current = current.__cause__ or current.__context__
    return None


def not_a_folder(path: str | Path, what: str = "folder") -> InputError:
    """The InputError for a path that should be a folder and is not: says whether it is missing,
    a file, or something else (so `--ref-dir clip.mp4` reads "clip.mp4: is a file, not a reference folder")."""
    import os
    import stat

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return InputError(f"{what} not found", path=path)
    except OSError as exc:
        return InputError(f"{what} cannot be read: {exc.strerror or exc}", path=path)
    if stat.S_ISREG(mode):
        return InputError(f"is a file, not a {what}", path=path)
    if stat.S_ISDIR(mode):  # pragma: no cover - callers ask only for paths that are not folders
        return InputError(f"{what} is not usable", path=path)
    kinds = (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    kind = next((name for test, name in kinds if test(mode)), "not a folder")
    return InputError(f"is {kind}, not a {what}", path=path)


# Ctrl-C reaches vmafkit's ffmpeg children too (one process group): a child that exits on it must
# read as the interruption it is, not as a failed encode or score, in whichever thread waits for it.
INTERRUPTED = threading.Event()


def _note_interrupt(signum: int, frame: types.FrameType | None) -> None:
    INTERRUPTED.set()
    signal.default_int_handler(signum, frame)


def watch_interrupts() -> None:
    """Record Ctrl-C (then raise KeyboardInterrupt as Python does), so `raise_if_interrupted` can
    tell a child killed by it from a child that failed. Main thread only (signal's rule)."""
    INTERRUPTED.clear()  # a command run in-process (tests) starts from no Ctrl-C
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _note_interrupt)


def raise_if_interrupted() -> None:
    """KeyboardInterrupt when Ctrl-C has been pressed: for a worker whose child process failed."""
    if INTERRUPTED.is_set():
        raise KeyboardInterrupt
