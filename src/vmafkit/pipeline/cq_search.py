"""The search behind `vmafkit target` (issue 24): the highest cq whose encode meets a quality
target, probing as few cqs as it can.

Quality falls as cq rises, but not strictly (an encoder's rate control is noisy at neighbouring
cqs), so the answer is defined on what was measured, not assumed: the highest probed cq that meets
the target, such that the next cq up was probed and fails it. The search keeps a bracket (the
highest cq known to meet, the lowest known to fail above it) and probes inside it where the line
between the bracket's two scores crosses the target, drawn on the logit scale of VMAF (on which the
logistic fall of VMAF with cq is straight, where the plain line of ab-av1's interpolated search
bends), at or below the crossing so that the next probe up settles it; an estimate on an end of the
bracket moves one cq in. After two moves of the same end in a row (the line keeps landing on one
side) the next probe is the bracket's middle. It ends when the bracket is one cq wide.

A `Guide` (`pipeline.cq_prior`: the quality curves an ensemble was trained on) replaces the blind
parts: the first cq, the jump from a probe towards the target while the target is not yet
bracketed (instead of doubling steps), and the stop without probing cq + 1 when every curve near
the measured ones says one cq more loses more than the measured margin above the target. The
answer stays a measured cq that meets the target; a guide can only cost waste (cq + 1 would have
met too), never a miss.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from vmafkit.errors import InputError


@dataclass(frozen=True)
class Probe:
    cq: int
    score: float

    @property
    def as_pair(self) -> tuple[int, float]:
        return self.cq, self.score


@dataclass
class CqSearch:
    """What a search found: `cq` (None when even `lowest` fails, or `highest` meets the target and
    so no cq above it was tried), and every probe in the order made."""

    target: float
    lowest: int
    highest: int
    probes: list[Probe] = field(default_factory=list)
    cq: int | None = None
    reason: str = ""

    def score_at(self, cq: int) -> float | None:
        return next((p.score for p in self.probes if p.cq == cq), None)


LOGIT_EDGE = 0.5  # scores are read as at least this far from 0 and 100 on the logit scale
CREEP = 2  # moves of the same end in a row after which the next probe is the bracket's middle


class Guide(Protocol):
    def first(self, target: float) -> int | None:
        """The first cq to probe; None: no opinion."""

    def jump(self, probes: Sequence[Probe], target: float) -> int | None:
        """The cq the last probe says reaches the target; None: no opinion."""

    def settled(self, meets: Probe, target: float) -> bool:
        """Whether cq + 1 surely fails, given that `meets` meets the target by its margin."""


def _logit(score: float) -> float:
    """VMAF on the scale where its fall with cq is close to a straight line: a logistic curve (the
    shape VMAF takes over cq, flat near 100 and near 0) is exactly straight there."""
    v = min(max(score, LOGIT_EDGE), 100.0 - LOGIT_EDGE)
    return math.log((100.0 - v) / v)


def _interpolated(meets: Probe, fails: Probe, target: float) -> int:
    """The cq strictly inside (meets.cq, fails.cq) at or below where the line through the bracket's
    ends reaches the target on the logit scale (so the next probe up settles it); one cq in from an
    end the line lands on; the middle when the line is flat."""
    low, high, goal = _logit(meets.score), _logit(fails.score), _logit(target)
    if low == high:
        return (meets.cq + fails.cq) // 2
    crossing = meets.cq + (goal - low) * (fails.cq - meets.cq) / (high - low)
    return min(max(math.floor(crossing), meets.cq + 1), fails.cq - 1)


def search_cq(
    measure: Callable[[int], float],
    target: float,
    *,
    lowest: int,
    highest: int,
    first: int | None = None,
    guide: Guide | None = None,
) -> CqSearch:
    """The highest cq in [lowest, highest] whose `measure` (its pooled VMAF) meets `target`, with
    the next cq up failing it (see the module doc). `first` is the first cq to probe (default: the
    guide's, else the middle). Every cq is measured at most once."""
    if not lowest <= highest:
        raise InputError(f"the cq range {lowest}..{highest} is empty")
    result = CqSearch(target, lowest, highest)
    seen: dict[int, float] = {}

    def probe(cq: int) -> Probe:
        if cq not in seen:
            seen[cq] = float(measure(cq))
            result.probes.append(Probe(cq, seen[cq]))
        return Probe(cq, seen[cq])

    if first is None and guide is not None:
        first = guide.first(target)
    start = min(max(first if first is not None else (lowest + highest) // 2, lowest), highest)

    def jumped(towards_lower: bool, blind: int) -> int:
        """The guide's jump when it points the right way (and somewhere new), else `blind`."""
        cq = guide.jump(result.probes, target) if guide is not None else None
        if cq is None:
            return blind
        last = result.probes[-1].cq
        # at least one cq the right way: a guess on the probe itself says the crossing is next to it
        cq = min(cq, last - 1) if towards_lower else max(cq, last + 1)
        cq = min(max(cq, lowest), highest)
        return blind if cq in seen else cq

    meets: Probe | None = None
    fails: Probe | None = None
    current = probe(start)
    if current.score >= target:
        meets = current
    else:
        fails = current
    # widen until the target is bracketed, doubling the step away from the first probe
    step = max(1, (highest - lowest) // 4)
    while meets is None:
        assert fails is not None
        if fails.cq == lowest:
            result.reason = f"even cq {lowest} scores {fails.score:.2f} < {target:g}"
            return result
        candidate = probe(jumped(True, max(lowest, fails.cq - step)))
        step *= 2
        if candidate.score >= target:
            meets = candidate
        else:
            fails = candidate
    while fails is None:
        if meets.cq == highest:
            result.reason = f"cq {highest}, the highest allowed, still scores {meets.score:.2f} >= {target:g}"
            result.cq = highest
            return result
        if guide is not None and guide.settled(meets, target):
            result.cq = meets.cq
            result.reason = f"cq {meets.cq + 1} not probed: the guide says it fails"
            return result
        candidate = probe(jumped(False, min(highest, meets.cq + step)))
        step *= 2
        if candidate.score >= target:
            meets = candidate
        else:
            fails = candidate
    # the bracket: meets.cq < fails.cq; narrow it to one cq. A straight line through a curved
    # quality curve keeps landing on one side (regula falsi's creep): after two moves of the same
    # end, the next probe is the bracket's middle
    moved: list[bool] = []
    asked: int | None = None  # the meeting cq the guide was last asked about
    while fails.cq - meets.cq > 1:
        if guide is not None and asked != meets.cq:
            asked = meets.cq
            if guide.settled(meets, target):
                result.reason = f"cq {meets.cq + 1} not probed: the guide says it fails"
                break
        creeping = len(moved) >= CREEP and len(set(moved[-CREEP:])) == 1
        cq = (meets.cq + fails.cq) // 2 if creeping else _interpolated(meets, fails, target)
        candidate = probe(cq)
        moved.append(candidate.score >= target)
        if moved[-1]:
            meets = candidate
        else:
            fails = candidate
    result.cq = meets.cq
    return result
