"""The `vmafkit` command: a thin layer over `vmafkit.api`.

Each stage's subcommands live in their own module below and register on `main`; a command
parses its flags, calls the Python API, prints, and returns an exit code. A `VmafkitError`
becomes one line on stderr and its exit code (2 input, 3 refused).
"""

from __future__ import annotations

import importlib
import sys

import click

from .. import __version__

COMMAND_MODULES = ("media", "corpus", "train", "decide", "serve", "kit", "scale", "run", "report")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vmafkit")
def main() -> None:
    """Build a libvmaf corpus, retrain the LOSO ensemble, gate it, export, predict and bundle."""


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{name}":  # that stage's CLI is not written yet
                continue
            raise
        module.register(main)


_register_commands()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
