"""What the curves an ensemble was trained on say about a new title's cq for a quality target: the
`Guide` of `pipeline.cq_search` that `vmafkit target --models` uses.

The training corpus holds, per source, the pooled VMAF of each (encoder, preset, cq) cell: one
quality curve per source. Before anything is measured, the first cq is the median over the curves
of the cq where each crosses the target. After a probe (cq0, s0), each curve is moved up or down
to pass through it; the `T.TARGET_PRIOR_NEIGHBOURS` curves that needed the smallest move are the
titles most like this one at cq0, and the jump is the median of their moved crossings. cq + 1 is
settled (not probed) when the measured margin above the target is smaller than the smallest
one-cq drop those neighbours show at cq: each of them would fail at cq + 1.

The curves are measured on whole training clips; the ensemble's prediction is not used for them:
it scores an encode from that encode's own features, so it cannot say a cq's score before the cq
is encoded (module doc of `pipeline.target`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from vmafkit import thresholds as T
from vmafkit.corpus.schema import TARGET
from vmafkit.media.pooling import pool
from vmafkit.pipeline.cq_search import Probe

Curve = tuple[tuple[int, float], ...]  # (cq, pooled vmaf), cq increasing


def curves_from_rows(rows: Iterable[Mapping], *, encoder: str, preset: str, pool_name: str) -> dict[str, Curve]:
    """Per source, its cells of `encoder`/`preset` at the source's own size, pooled: (cq, vmaf)."""
    frames: dict[str, dict[int, list[float]]] = {}
    for row in rows:
        if row.get("encoder") != encoder or row.get("preset") != preset or row.get("scored_width"):
            continue
        frames.setdefault(str(row["src"]), {}).setdefault(int(row["cq"]), []).append(float(row[TARGET]))
    return {
        src: tuple((cq, pool(values, pool_name)) for cq, values in sorted(cells.items()))
        for src, cells in sorted(frames.items())
        if len(cells) >= 2
    }


def value_at(curve: Curve, cq: float) -> float | None:
    """The curve's vmaf at `cq` (linear between its cells); None outside its cq span."""
    cqs = [c for c, _ in curve]
    if not cqs[0] <= cq <= cqs[-1]:
        return None
    return float(np.interp(cq, cqs, [v for _, v in curve]))


def crossing(curve: Curve, target: float) -> float | None:
    """The highest cq where the curve (linear between its cells) still meets `target`; None when
    it never meets it, or meets it at its highest cq (the crossing lies beyond what it shows)."""
    best = None
    for (c0, v0), (c1, v1) in zip(curve, curve[1:], strict=False):
        if v0 >= target > v1:
            best = c0 + (v0 - target) * (c1 - c0) / (v0 - v1)
    return best


def one_cq_drop(curve: Curve, cq: int) -> float | None:
    """How much the curve loses from cq to cq + 1 (linear between its cells)."""
    here, above = value_at(curve, cq), value_at(curve, cq + 1)
    return None if here is None or above is None else here - above


@dataclass
class CurvePrior:
    """A `cq_search.Guide` from training curves (module doc)."""

    curves: dict[str, Curve]
    used: list[str] = field(default_factory=list)  # what it did, for the search's record

    def first(self, target: float) -> int | None:
        found = [c for c in (crossing(curve, target) for curve in self.curves.values()) if c is not None]
        if not found:
            return None
        guess = int(math.floor(float(np.median(found))))
        self.used.append(f"first cq {guess}: the median crossing of {len(found)} training curve(s)")
        return guess

    def neighbours(self, probe: Probe) -> list[tuple[float, Curve]]:
        """(shift, curve) of the curves closest to the probe at its cq, nearest first."""
        near = []
        for curve in self.curves.values():
            value = value_at(curve, probe.cq)
            if value is not None:
                shift = probe.score - value
                near.append((abs(shift), shift, curve))
        near.sort(key=lambda item: item[0])
        return [(shift, curve) for _, shift, curve in near[: T.TARGET_PRIOR_NEIGHBOURS]]

    def jump(self, probes: Sequence[Probe], target: float) -> int | None:
        last = probes[-1]
        found = []
        for shift, curve in self.neighbours(last):
            moved = tuple((c, v + shift) for c, v in curve)
            cross = crossing(moved, target)
            if cross is not None:
                found.append(cross)
        if not found:
            return None
        guess = int(math.floor(float(np.median(found))))
        self.used.append(f"after cq {last.cq}: jump to cq {guess} ({len(found)} nearest curve(s))")
        return guess

    def settled(self, meets: Probe, target: float) -> bool:
        drops = [one_cq_drop(curve, meets.cq) for _, curve in self.neighbours(meets)]
        known = [d for d in drops if d is not None]
        if len(known) < T.TARGET_PRIOR_NEIGHBOURS or meets.score - target >= min(known):
            return False
        self.used.append(
            f"cq {meets.cq + 1} not probed: {meets.score - target:.2f} above the aim, less than the "
            f"smallest one-cq drop of the nearest curves ({min(known):.2f})"
        )
        return True
