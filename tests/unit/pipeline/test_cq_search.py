"""`pipeline.cq_search` against an exhaustive scan of made-up quality curves (the oracle: every cq
measured, the highest meeting the target whose next cq fails it)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vmafkit.errors import InputError
from vmafkit.pipeline.cq_search import search_cq


def exhaustive(curve, target, lowest, highest):
    """By hand: the highest cq meeting the target with the next one failing, scanning every cq."""
    answers = [c for c in range(lowest, highest) if curve(c) >= target and curve(c + 1) < target]
    return max(answers) if answers else None


def logistic(c: int) -> float:
    return 100.0 / (1.0 + math.exp((c - 34) / 5.0))


@pytest.mark.parametrize("target", [50.0, 70.0, 85.0, 90.0, 95.0])
@pytest.mark.parametrize("first", [None, 10, 45])
def test_a_smooth_curve_gives_the_exhaustive_answer_with_few_probes(target, first):
    found = search_cq(logistic, target, lowest=0, highest=51, first=first)
    assert found.cq == exhaustive(logistic, target, 0, 51)
    assert found.score_at(found.cq) >= target and found.score_at(found.cq + 1) < target
    # bisection of 52 cqs takes 6 probes; widening from a far first guess adds up to 4
    assert len(found.probes) <= 10 and len({p.cq for p in found.probes}) == len(found.probes)


@pytest.mark.parametrize("seed", range(20))
def test_a_noisy_curve_still_ends_on_a_measured_crossing(seed):
    """Not monotone (rate-control noise of up to 1.5 VMAF): the answer is a cq that was measured to
    meet the target, whose next cq was measured to fail it."""
    noise = np.random.default_rng(seed).uniform(-1.5, 1.5, size=52)

    def curve(c: int) -> float:
        return logistic(c) + float(noise[c])

    found = search_cq(curve, 88.0, lowest=0, highest=51)
    assert found.score_at(found.cq) >= 88.0 and found.score_at(found.cq + 1) < 88.0
    assert found.cq in {c for c in range(51) if curve(c) >= 88.0 and curve(c + 1) < 88.0}


def test_unreachable_and_always_met_targets_say_so():
    never = search_cq(logistic, 99.9, lowest=20, highest=51)
    assert never.cq is None and "even cq 20" in never.reason
    always = search_cq(logistic, 1.0, lowest=0, highest=30)
    assert always.cq == 30 and "highest allowed" in always.reason


def test_an_empty_range_is_refused():
    with pytest.raises(InputError):
        search_cq(logistic, 90.0, lowest=30, highest=20)


def test_the_bracket_is_interpolated_on_the_logit_scale():
    """meets (20, 90), fails (30, 50), target 80, by hand: logit 90 = ln(10/90) = -2.197, logit 50 = 0,
    logit 80 = ln(20/80) = -1.386; the line crosses at 20 + 0.811/2.197 * 10 = 23.69 -> cq 23 (a plain
    line in VMAF would say 22.5 -> 22). On an end of the bracket, one cq in."""
    from vmafkit.pipeline.cq_search import Probe, _interpolated

    assert _interpolated(Probe(20, 90.0), Probe(30, 50.0), 80.0) == 23
    assert _interpolated(Probe(20, 80.5), Probe(30, 10.0), 80.0) == 21  # crossing just above 20
    assert _interpolated(Probe(20, 99.0), Probe(22, 10.0), 80.0) == 21
