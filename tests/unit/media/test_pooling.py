"""Pooling a clip's VMAF (`--pool`): each pool against a value computed by hand from its formula
(module doc of `media.pooling`); libvmaf's own pooled min and harmonic mean are the oracle in
tests/e2e/test_pooling_e2e.py."""

from __future__ import annotations

import math

import pytest

from vmafkit.errors import InputError
from vmafkit.media.pooling import parse_pools, pool, pooled


def test_each_pool_by_hand():
    ten = [float(v) for v in range(10, 0, -1)]  # 10, 9, ..., 1: unsorted on purpose
    assert pool(ten, "mean") == 5.5
    assert pool(ten, "min") == 1.0
    # h = (10 - 1) * 0.10 = 0.9: 1 + 0.9 * (2 - 1)
    assert pool(ten, "p10") == pytest.approx(1.9, abs=1e-12)
    # h = 9 * 0.05 = 0.45: 1 + 0.45
    assert pool(ten, "p5") == pytest.approx(1.45, abs=1e-12)
    # h = 9 * 0.01 = 0.09
    assert pool(ten, "p1") == pytest.approx(1.09, abs=1e-12)
    assert pool(ten, "p50") == pytest.approx(5.5, abs=1e-12)
    # libvmaf's harmonic mean of 0, 1, 3: 1 / mean(1/1, 1/2, 1/4) - 1 = 3 / 1.75 - 1
    assert pool([0.0, 1.0, 3.0], "harmonic") == pytest.approx(3 / 1.75 - 1, abs=1e-12)
    # a frame at 0 does not divide by zero, and the harmonic mean sits below the mean
    low = pool([0.0, 100.0], "harmonic")
    assert low == pytest.approx(1 / ((1 + 1 / 101) / 2) - 1, abs=1e-12) and low < 50.0


def test_one_frame_and_no_frames():
    for name in ("mean", "harmonic", "min", "p5"):
        assert pool([42.0], name) == pytest.approx(42.0, abs=1e-12)
        assert math.isnan(pool([], name))


def test_pools_are_parsed_in_order_once_each():
    assert parse_pools("harmonic, p5,mean,p5") == ("harmonic", "p5", "mean")
    assert parse_pools(None) == ("mean",)
    assert pooled([1.0, 3.0], ["min", "mean"]) == {"min": 1.0, "mean": 2.0}


@pytest.mark.parametrize("bad", ["p0", "p100", "p05", "P5", "median", "p5.5", "geometric"])
def test_an_unknown_pool_names_what_is_allowed(bad):
    with pytest.raises(InputError, match=rf"^unknown pool '{bad}'; allowed: mean, harmonic, min, or pN"):
        parse_pools(f"mean,{bad}")


def test_an_empty_list_is_refused():
    with pytest.raises(InputError, match="no pool given"):
        parse_pools(" , ")
