"""The user-facing error type: a one-line message and the exit code the CLI returns."""

from __future__ import annotations

from pathlib import Path

EXIT_OK = 0
EXIT_HOLD = 1
EXIT_INPUT = 2
EXIT_REFUSED = 3


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
