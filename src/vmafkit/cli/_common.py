"""Helpers shared by the command modules: error reporting, exit codes, list parsing."""

from __future__ import annotations

import functools
import math
import signal
import sys
from collections.abc import Callable
from typing import Any

import click

from vmafkit.errors import (
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    VmafkitError,
    path_error,
    storage_error,
    watch_interrupts,
)


def run_command(func: Callable[..., int | None]) -> Callable[..., None]:
    """Turn a VmafkitError into one stderr line + its exit code; return the command's code."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        watch_interrupts()
        try:
            code = func(*args, **kwargs)
        except VmafkitError as err:
            click.echo(f"vmafkit: error: {err}", err=True)
            sys.exit(err.exit_code)
        except KeyboardInterrupt:
            # one Ctrl-C is the answer; a second one while worker threads are joined at exit would
            # print a traceback from the interpreter's shutdown, so further ones are ignored
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            click.echo("vmafkit: interrupted; finished work is kept, re-run the same command to resume", err=True)
            sys.exit(EXIT_INTERRUPTED)
        sys.exit(EXIT_OK if code is None else int(code))

    return wrapper


def split_list(value: str | None) -> list[str]:
    """'a,b, c' -> ['a', 'b', 'c']; None or '' -> []."""
    if not value:
        return []
    return [item.strip() for item in value.split(",") if item.strip()]


def int_list(value: str | None, flag: str) -> list[int]:
    if not value:
        return []
    items = [item.strip() for item in value.split(",")]
    empty = [n for n, item in enumerate(items, start=1) if not item]
    if empty:
        raise click.BadParameter(f"item {empty[0]} of {value!r} is empty", param_hint=flag)
    try:
        return [int(item) for item in items]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {value!r}", param_hint=flag) from None


class FiniteFloatRange(click.FloatRange):
    """click.FloatRange that also refuses nan and inf (FloatRange lets nan through: every
    comparison with nan is false)."""

    name = "float range"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if number is not None and not math.isfinite(number):
            self.fail(f"{number} is not a finite number.", param, ctx)
        return number


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
        except VmafkitError as refused:  # an option object refused as the flags became it (options.collected)
            click.echo(f"vmafkit: error: {refused}", err=True)
            sys.exit(refused.exit_code)
        except Exception as exc:  # noqa: BLE001 - only storage failures are mapped; the rest re-raise
            err = storage_error(exc) or path_error(exc)
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
