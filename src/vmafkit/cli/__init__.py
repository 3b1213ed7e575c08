"""The `vmafkit` command: a thin layer over the stage functions, which `vmafkit.api` offers to Python.

Each stage's subcommands live in their own module below and register on `main` (the modules
are listed at the bottom of this file); a command parses its flags, calls its stage's function, prints,
and returns an exit code. Flags that several commands have are defined once in `options.py`. A
`VmafkitError` becomes one line on stderr and its exit code (2 input, 3 refused); so do a bad flag
(exit 2) and a write that fails for want of space (ENOSPC, EDQUOT, or EFBIG past `ulimit -f`)
wherever it happens (exit 2).
"""

from __future__ import annotations

import signal
import sys

import click

from vmafkit._version import __version__
from vmafkit.errors import EXIT_INPUT, storage_error


class VmafkitGroup(click.Group):
    """The `vmafkit` group: every failure below it is one stderr line `vmafkit: error: ...` and exit
    2: a bad flag (click's usage errors, which would print a usage block) and a full disk (which
    would print a traceback) as much as a VmafkitError."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # `vmafkit registry` alone: click prints the help
                raise
            where = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
            message = " ".join(exc.format_message().split())
            hint = _json_took_an_argument(exc)
            if hint:
                message = f"{message.rstrip('.')}; {hint}"
            click.echo(f"vmafkit: error: {message} (see `{where} --help`)", err=True)
            sys.exit(EXIT_INPUT)
        except Exception as exc:  # noqa: BLE001 - only storage failures are mapped; the rest re-raise
            err = storage_error(exc)
            if err is None:
                raise
            click.echo(f"vmafkit: error: {err}", err=True)
            sys.exit(err.exit_code)


def _json_took_an_argument(exc: click.UsageError) -> str:
    """`vmafkit verify --json B.tar.gz`: `--json` took B.tar.gz as its PATH, so BUNDLE is missing.
    Say so, since click only reports the missing argument."""
    if not (isinstance(exc, click.MissingParameter) and isinstance(exc.param, click.Argument)):
        return ""
    taken = exc.ctx.params.get("json_to") if exc.ctx is not None else None
    if not taken or taken == "-":
        return ""
    return f"--json took {taken!r} as its PATH: put a bare --json after the arguments, or write --json=-"


def ignore_file_size_signal() -> None:
    """A write past `ulimit -f` then fails with EFBIG (mapped to a one-line error) instead of
    killing the process with SIGXFSZ. CPython already ignores it at start-up; say so explicitly.
    Child processes (ffmpeg, vmaf) get the default back, and their death by SIGXFSZ is reported."""
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


@click.group(cls=VmafkitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vmafkit")
def main() -> None:
    """Build a libvmaf corpus, retrain the LOSO ensemble, gate it, export, predict and bundle."""
    ignore_file_size_signal()


# Every command module, in the pipeline's order; each registers its commands on `main`.
from vmafkit.cli import corpus, decide, kit, media, report, run, serve, subjective, train  # noqa: E402

COMMAND_MODULES = (media, corpus, train, decide, serve, kit, run, report, subjective)
for _module in COMMAND_MODULES:
    _module.register(main)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
