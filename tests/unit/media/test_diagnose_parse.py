"""`media.diagnose`'s readers and level fit on hand-written inputs (the real filters run in
tests/e2e/test_diagnose.py)."""

from __future__ import annotations

import numpy as np
import pytest

from vmafkit.media import diagnose as D

LOG = """
[freezedetect @ 0x1] lavfi.freezedetect.freeze_start: 0.84
[freezedetect @ 0x1] lavfi.freezedetect.freeze_duration: 0.8
[freezedetect @ 0x1] lavfi.freezedetect.freeze_end: 1.64
[freezedetect @ 0x1] lavfi.freezedetect.freeze_start: 3.5
[blackdetect @ 0x2] black_start:2 black_end:2.6 black_duration:0.6
[Parsed_idet_0 @ 0x3] Single frame detection: TFF:    30 BFF:     0 Progressive:    10 Undetermined:     5
[Parsed_idet_0 @ 0x3] Multi frame detection: TFF:     0 BFF:     0 Progressive:    45 Undetermined:     0
"""


def framecrc(pts: list[int]) -> str:
    return "".join(f"0, {p:>10}, {p:>10}, 1, 614400, 0x12345678\n" for p in pts)


def test_side_report_reads_the_filters_lines():
    report = D.parse_side_report(LOG, 4.0, framecrc([0, 40, 80, 120]))
    assert report.frozen == [(0.84, 1.64), (3.5, 4.0)]  # the second lasts to the end
    assert report.black == [(2.0, 2.6)] and report.black_s == pytest.approx(0.6)
    assert report.frozen_s == pytest.approx(0.8 + 0.5)
    assert report.interlaced_share == pytest.approx(30 / 40) and report.vfr_share == 0.0


def test_a_black_stretch_is_not_also_called_frozen():
    log = LOG + "lavfi.freezedetect.freeze_start: 2.04\nlavfi.freezedetect.freeze_end: 2.6\n"
    assert (2.04, 2.6) not in D.parse_side_report(log, 4.0).frozen


@pytest.mark.parametrize(
    ("pts", "share"),
    [
        ([0, 33, 67, 100, 133, 167, 200], 0.0),  # a millisecond time base's jitter: constant rate
        ([0, 40, 80, 200, 240, 280, 320], 1 / 6),  # one gap of three frames
        ([0, 40, 80, 100, 120, 140, 160], 2 / 6),  # 25 fps then 50 fps: the median is 20
    ],
)
def test_variable_rate_share_counts_intervals_off_the_median(pts, share):
    assert D.parse_side_report("", 1.0, framecrc(pts)).vfr_share == pytest.approx(share)


def test_levels_fit_recovers_a_known_line_and_names_a_range_conversion():
    ref = np.random.default_rng(0).uniform(20, 235, size=(10, 16, 16)).astype(np.float32)
    squeezed = (ref * 219 / 255 + 16).astype(np.float32)
    levels = D.luma_levels(ref, squeezed, list(range(10)), list(range(10)))
    assert levels.slope == pytest.approx(219 / 255, abs=1e-4) and levels.intercept == pytest.approx(16, abs=0.02)
    finding = D.levels_finding(levels)
    assert finding.check == "range" and "squeezed into limited range" in finding.line
    assert D.levels_finding(D.Levels(1.0, 0.5, 1000)) is None  # coding noise: nothing
    assert D.levels_finding(D.Levels(1.0, 12.0, 1000)).check == "levels"  # brighter by 12


def test_levels_fit_ignores_pairs_that_show_other_pictures():
    """Frozen or misaligned pairs (uncorrelated pictures) would drag a least-squares slope towards 0."""
    rng = np.random.default_rng(1)
    ref = rng.uniform(20, 235, size=(10, 16, 16)).astype(np.float32)
    dis = ref.copy()
    dis[6:] = rng.uniform(20, 235, size=(4, 16, 16))
    levels = D.luma_levels(ref, dis, list(range(10)), list(range(10)))
    assert levels.slope == pytest.approx(1.0, abs=1e-6) and D.levels_finding(levels) is None
