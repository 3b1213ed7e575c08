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
from vmafkit.cli._common import VmafkitGroup


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
from vmafkit.cli import corpus, decide, kit, media, report, run, serve, subjective, target, train  # noqa: E402

COMMAND_MODULES = (media, corpus, train, decide, serve, kit, run, target, report, subjective)
for _module in COMMAND_MODULES:
    _module.register(main)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
