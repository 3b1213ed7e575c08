"""`pipeline.cq_prior`: reading training curves (hand-computed lines, numpy pooling) and guiding the
search (the oracle: an exhaustive scan of the true curve)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vmafkit.pipeline.cq_prior import CurvePrior, crossing, curves_from_rows, one_cq_drop, value_at
from vmafkit.pipeline.cq_search import Probe, search_cq


def test_a_curve_is_read_linearly_between_its_cells():
    curve = ((20, 95.0), (30, 85.0), (40, 60.0))
    assert value_at(curve, 25) == pytest.approx(90.0)
    assert value_at(curve, 35) == pytest.approx(72.5)
    assert value_at(curve, 19) is None and value_at(curve, 41) is None
    assert crossing(curve, 90.0) == pytest.approx(25.0)
    assert crossing(curve, 80.0) == pytest.approx(32.0)  # 85 - 80 = 5 of the 25 lost over 10 cqs
    assert crossing(curve, 99.0) is None  # never met
    assert crossing(curve, 50.0) is None  # met at its highest cq: the crossing lies beyond it
    assert one_cq_drop(curve, 30) == pytest.approx(2.5) and one_cq_drop(curve, 40) is None


def test_the_highest_crossing_of_a_curve_that_dips_is_taken():
    curve = ((10, 95.0), (20, 85.0), (30, 92.0), (40, 80.0))
    assert crossing(curve, 90.0) == pytest.approx(30 + 2 / 12 * 10)


def test_curves_are_pooled_per_source_from_corpus_rows():
    rng = np.random.default_rng(0)
    rows, want = [], {}
    for src in ("a", "b"):
        for cq in (20, 30):
            values = rng.uniform(60, 99, size=7)
            want[src, cq] = float(np.mean(values))
            rows += [{"src": src, "encoder": "libx264", "preset": "medium", "cq": cq, "vmaf": v} for v in values]
    rows.append({"src": "a", "encoder": "libx265", "preset": "medium", "cq": 25, "vmaf": 1.0})  # other encoder
    rows.append({"src": "c", "encoder": "libx264", "preset": "medium", "cq": 25, "vmaf": 1.0})  # one cell: no curve
    rows.append({"src": "a", "encoder": "libx264", "preset": "medium", "cq": 25, "vmaf": 1.0, "scored_width": 9})
    curves = curves_from_rows(rows, encoder="libx264", preset="medium", pool_name="mean")
    assert set(curves) == {"a", "b"}
    for src, curve in curves.items():
        assert [c for c, _ in curve] == [20, 30]
        assert [v for _, v in curve] == pytest.approx([want[src, 20], want[src, 30]])


def logistic(middle: float):
    return lambda c: 100.0 / (1.0 + math.exp((c - middle) / 5.0))


def exhaustive(curve, target, lowest=0, highest=51):
    answers = [c for c in range(lowest, highest) if curve(c) >= target and curve(c + 1) < target]
    return max(answers) if answers else None


def training(middles):
    return {f"s{m}": tuple((c, logistic(m)(c)) for c in range(10, 52, 3)) for m in middles}


@pytest.mark.parametrize("target", [85.0, 90.0, 95.0])
@pytest.mark.parametrize("middle", [28.0, 33.0, 38.0])
def test_curves_like_the_title_find_the_exhaustive_answer_in_fewer_probes(target, middle):
    truth = logistic(middle)
    prior = CurvePrior(training([25, 28, 31, 34, 37, 40]))
    guided = search_cq(truth, target, lowest=0, highest=51, guide=prior)
    blind = search_cq(truth, target, lowest=0, highest=51)
    assert guided.cq == blind.cq == exhaustive(truth, target)
    assert len(guided.probes) <= 3 and guided.score_at(guided.cq) >= target


def test_over_many_titles_the_guide_saves_probes():
    prior = CurvePrior(training([25, 28, 31, 34, 37, 40]))
    guided = blind = 0
    for middle in np.arange(26.0, 40.0, 0.5):
        for target in (85.0, 90.0, 95.0):
            truth = logistic(middle)
            guided += len(search_cq(truth, target, lowest=0, highest=51, guide=prior).probes)
            blind += len(search_cq(truth, target, lowest=0, highest=51).probes)
    assert guided < 0.8 * blind  # 230 against 326 probes when written


@pytest.mark.parametrize("seed", range(15))
def test_a_misleading_guide_costs_probes_or_bits_but_never_a_miss(seed):
    """Curves of other shapes, and a noisy truth: the answer is still a measured cq that meets the
    target; the next cq was either measured to fail or settled by the guide."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(-1.0, 1.0, size=52)

    def truth(c):
        return logistic(30.0)(c) + float(noise[c])

    curves = {
        f"s{k}": tuple((c, 100.0 - rng.uniform(0.2, 3.0) * max(0, c - 10)) for c in range(10, 52, 4)) for k in range(5)
    }
    found = search_cq(truth, 88.0, lowest=0, highest=51, guide=CurvePrior(curves))
    assert found.cq is not None and found.score_at(found.cq) >= 88.0
    above = found.score_at(found.cq + 1)
    assert (above is not None and above < 88.0) or "not probed" in found.reason


def test_settled_only_when_every_near_curve_drops_more_than_the_margin():
    # three straight curves dropping 1, 2 and 3 per cq: at a probe 0.9 above the target, all three
    # would fail at cq + 1; at 1.1 the one-per-cq curve would not
    curves = {f"s{d}": tuple((c, 100.0 - d * (c - 10)) for c in range(10, 41, 5)) for d in (1, 2, 3)}
    prior = CurvePrior(curves)
    assert prior.settled(Probe(20, 90.9), 90.0)
    assert not prior.settled(Probe(20, 91.1), 90.0)
    # fewer than three curves reach the cq: no opinion
    assert not CurvePrior({k: v for k, v in list(curves.items())[:2]}).settled(Probe(20, 90.1), 90.0)
