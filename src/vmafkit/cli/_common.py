"""Helpers shared by the command modules: error reporting, exit codes, list parsing."""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from typing import Any

import click

from vmafkit.errors import VmafkitError
from vmafkit.train.recipe import DEFAULT_SEEDS, Recipe

DEFAULT_RECIPE = Recipe()  # the option defaults of every command that trains
DEFAULT_SEEDS_TEXT = ",".join(str(s) for s in DEFAULT_SEEDS)


def run_command(func: Callable[..., int | None]) -> Callable[..., None]:
    """Turn a VmafkitError into one stderr line + its exit code; return the command's code."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            code = func(*args, **kwargs)
        except VmafkitError as err:
            click.echo(f"vmafkit: error: {err}", err=True)
            sys.exit(err.exit_code)
        except KeyboardInterrupt:
            click.echo("vmafkit: interrupted; finished work is kept, re-run the same command to resume", err=True)
            sys.exit(130)
        sys.exit(int(code or 0))

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
