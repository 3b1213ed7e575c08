"""Pooling a clip's per-frame VMAF into one number, the ways people ask for (`--pool`).

The mean hides dips: a clip with a few seconds of collapse can keep a high mean. The pools that
expose them, each over the scored frames' `vmaf` (the frames `--subsample` kept):

* `mean`: the arithmetic mean.
* `harmonic`: libvmaf's harmonic mean, 1 / mean(1 / (v + 1)) - 1 (the +1 keeps a frame at 0 from
  dividing by zero); equal to the `harmonic_mean` libvmaf itself reports.
* `min`: the lowest frame.
* `pN` (N a whole number from 1 to 99, e.g. `p1`, `p5`, `p10`): the N-th percentile, linearly
  interpolated between the two nearest frames in sorted order (the "linear" definition, Hyndman
  and Fan's type 7, numpy's default): with the values sorted v(0) <= ... <= v(n-1) and
  h = (n - 1) N / 100, it is v(floor h) + (h - floor h)(v(floor h + 1) - v(floor h)).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

import numpy as np

from vmafkit.errors import InputError

DEFAULT_POOLS = ("mean",)
NAMED_POOLS = ("mean", "harmonic", "min")
_PERCENTILE = re.compile(r"p([1-9][0-9]?)")


def parse_pools(names: str | Iterable[str] | None) -> tuple[str, ...]:
    """'mean, harmonic, p5' (or a sequence) -> ('mean', 'harmonic', 'p5'), in the order given, each
    once; InputError naming what is allowed for anything else."""
    if names is None:
        return DEFAULT_POOLS
    items = names.split(",") if isinstance(names, str) else list(names)
    chosen: list[str] = []
    for item in (str(i).strip() for i in items):
        if not item:
            continue
        if item not in NAMED_POOLS and not _PERCENTILE.fullmatch(item):
            raise InputError(f"unknown pool {item!r}; allowed: {', '.join(NAMED_POOLS)}, or pN with N from 1 to 99")
        if item not in chosen:
            chosen.append(item)
    if not chosen:
        raise InputError(f"no pool given; allowed: {', '.join(NAMED_POOLS)}, or pN with N from 1 to 99")
    return tuple(chosen)


def pool(values: Sequence[float], name: str) -> float:
    """One pool (module doc) of per-frame values; NaN for no frames."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return math.nan
    if name == "mean":
        return float(v.mean())
    if name == "harmonic":
        return float(1.0 / np.mean(1.0 / (v + 1.0)) - 1.0)
    if name == "min":
        return float(v.min())
    match = _PERCENTILE.fullmatch(name)
    if match is None:
        raise InputError(f"unknown pool {name!r}")
    return float(np.percentile(v, int(match.group(1))))


def pooled(values: Sequence[float], names: Sequence[str]) -> dict[str, float]:
    """{pool: value} for each of `names` (parsed), in their order."""
    return {name: pool(values, name) for name in parse_pools(names)}
