"""BD-rate, the convex hull and "cq for a target VMAF", against cases computed by hand.

Oracles: closed forms worked out on paper (two-point curves, where PCHIP is the straight line, and
curves whose log-rate is linear in VMAF, where any monotone interpolation is exact)."""

from __future__ import annotations

import math

import pytest

from vmafkit.errors import InputError
from vmafkit.report.rd import (
    RatePoint,
    bd_rate_pct,
    bd_rates,
    cq_for_target,
    curve_points,
    summarize,
    upper_hull,
)


def test_half_the_bits_at_every_quality_is_minus_50_percent():
    anchor = [(100, 30), (200, 40), (400, 50), (800, 60)]
    test = [(50, 30), (100, 40), (200, 50), (400, 60)]
    pct, reason, overlap = bd_rate_pct(anchor, test)
    assert reason is None and overlap == (30, 60)
    assert pct == pytest.approx(-50.0, abs=1e-9)
    pct, _, _ = bd_rate_pct(test, anchor)
    assert pct == pytest.approx(100.0, abs=1e-9)


def test_shifted_quality_only_the_overlap_counts():
    # test reaches each quality 10 points higher at the same rate: log10 r drops by log10(2) at equal VMAF
    anchor = [(100, 30), (200, 40), (400, 50), (800, 60)]
    test = [(100, 40), (200, 50), (400, 60), (800, 70)]
    pct, _, overlap = bd_rate_pct(anchor, test)
    assert overlap == (40, 60)
    assert pct == pytest.approx(-50.0, abs=1e-9)


def test_two_point_curves_by_hand():
    # anchor: VMAF 0 -> 10 at log10 r 2 -> 3; test: VMAF 5 -> 15 at log10 r 2 -> 3.5. Overlap [5, 10].
    # anchor mean log r over [5, 10] = 2.75; test = 2 + 0.15 * 2.5 = 2.375; d = -0.375.
    anchor = [(10**2, 0), (10**3, 10)]
    test = [(10**2, 5), (10**3.5, 15)]
    pct, reason, overlap = bd_rate_pct(anchor, test)
    assert reason is None and overlap == (5, 10)
    assert pct == pytest.approx((10**-0.375 - 1) * 100, abs=1e-9)  # -57.83 %


def test_curves_that_do_not_overlap_get_a_reason_not_a_number():
    pct, reason, overlap = bd_rate_pct([(100, 30), (200, 40)], [(100, 50), (200, 60)])
    assert pct is None and overlap is None
    assert "do not overlap" in reason and "30.00–40.00" in reason and "50.00–60.00" in reason


def test_touching_ranges_are_no_overlap():
    pct, reason, _ = bd_rate_pct([(100, 30), (200, 40)], [(100, 40), (200, 60)])
    assert pct is None and "do not overlap" in reason


def test_one_point_is_not_a_curve():
    pct, reason, _ = bd_rate_pct([(100, 30)], [(100, 40), (200, 60)])
    assert pct is None and "1 point" in reason


def _p(rate, vmaf, cq=0.0, w=1920, h=1080):
    return RatePoint(rate_kbps=rate, vmaf=vmaf, cq=cq, width=w, height=h, n_frames=1)


def test_hull_drops_points_under_the_hull_and_past_the_top():
    # log10 rates 2, 2.5, 3, 3.5, 4. (2.5, 40) lies under the chord (2,30)-(3,60) (45 there): dropped.
    # (3, 60) is above the chord (2,30)-(3.5,70) (56.7 there): kept. (4, 68) is lower than (3.5, 70):
    # past the top, dropped.
    pts = [_p(100, 30), _p(10**2.5, 40), _p(1000, 60), _p(10**3.5, 70), _p(10**4, 68)]
    hull = upper_hull(pts)
    assert [(round(math.log10(p.rate_kbps), 6), p.vmaf) for p in hull] == [(2.0, 30), (3.0, 60), (3.5, 70)]


def test_hull_drops_a_point_under_a_convex_stretch():
    # (3, 60) lies under the chord (2,30)-(3.5,90) (70 there): not on the upper hull
    hull = upper_hull([_p(100, 30), _p(1000, 60), _p(10**3.5, 90)])
    assert [p.vmaf for p in hull] == [30, 90]


def test_hull_across_rungs_picks_the_better_rung_per_rate():
    low = [_p(100, 50, w=640, h=360), _p(1000, 70, w=640, h=360)]
    high = [_p(100, 40, w=1920, h=1080), _p(1000, 80, w=1920, h=1080)]
    hull = upper_hull(low + high)
    assert [(p.rung, p.vmaf) for p in hull] == [("640x360", 50), ("1920x1080", 80)]


def test_one_rung_uses_the_points_and_drops_only_dominated_ones():
    from vmafkit.report.rd import curve_basis

    # (1000, 60) is under the convex chord but on the curve: kept; (1500, 55) costs more for less: dropped
    basis, pts = curve_basis([_p(100, 30), _p(1000, 60), _p(1500, 55), _p(10**3.5, 90)])
    assert basis == "points" and [p.vmaf for p in pts] == [30, 60, 90]
    basis, pts = curve_basis([_p(100, 30), _p(1000, 60, w=640, h=360), _p(10**3.5, 90)])
    assert basis == "hull" and [p.vmaf for p in pts] == [30, 90]


def _rows(src, encoder, cq, size, vmafs, fps=25.0, preset="medium", w=64, h=48):
    return [
        {
            "src": src,
            "encoder": encoder,
            "preset": preset,
            "cq": cq,
            "width": w,
            "height": h,
            "fps": fps,
            "enc_bytes": size,
            "frame_index": i,
            "vmaf": v,
        }
        for i, v in enumerate(vmafs)
    ]


def test_curve_points_rate_and_mean_vmaf():
    # 4 frames at 25 fps = 0.16 s; 2000 bytes = 16 kbit -> 100 kbit/s
    rows = _rows("a", "libx264", 23, 2000, [80, 82, 84, 86])
    ((key, (point,)),) = curve_points(rows).items()
    assert key == ("a", "libx264")
    assert point.rate_kbps == pytest.approx(100.0) and point.vmaf == pytest.approx(83.0) and point.n_frames == 4


def test_curve_points_name_the_preset_when_an_encoder_has_several():
    rows = _rows("a", "libx264", 23, 2000, [80]) + _rows("a", "libx264", 23, 1500, [79], preset="fast")
    assert sorted(curve_points(rows)) == [("a", "libx264/fast"), ("a", "libx264/medium")]


def test_a_cell_with_two_sizes_is_refused():
    rows = _rows("a", "libx264", 23, 2000, [80, 81])
    rows[1]["enc_bytes"] = 2001
    with pytest.raises(InputError, match="2 different enc_bytes"):
        curve_points(rows, where="c.jsonl")


def test_bd_rates_per_source_and_the_anchor_is_checked():
    rows = []
    for cq, size, v in ((20, 4000, 90), (30, 2000, 80), (40, 1000, 70)):
        rows += _rows("a", "libx264", cq, size, [v])
        rows += _rows("a", "libx265", cq, size // 2, [v])
    curves = curve_points(rows)
    (result,) = bd_rates(curves, "libx264")
    assert result.encoder == "libx265" and result.pct == pytest.approx(-50.0, abs=1e-9)
    with pytest.raises(InputError, match="anchor encoder 'vp9' is not in the corpus"):
        bd_rates(curves, "vp9")


def test_summary_bootstrap_interval_brackets_the_mean_and_needs_two_sources():
    from vmafkit.report.rd import BdRate

    results = [BdRate(s, "x", v, None, (0, 1)) for s, v in (("a", -10.0), ("b", -30.0), ("c", -20.0))]
    results.append(BdRate("d", "x", None, "no overlap", None))
    (s,) = summarize(results)
    assert s.n_sources == 3 and s.mean_pct == pytest.approx(-20.0)
    low, high = s.interval
    assert -30.0 <= low < -20.0 < high <= -10.0
    (one,) = summarize(results[:1])
    assert one.mean_pct == -10.0 and one.interval is None


def test_cq_for_target_interpolates_between_tried_cqs():
    pts = [_p(1, 90, cq=20), _p(1, 80, cq=30), _p(1, 60, cq=40)]
    ((row),) = cq_for_target({("a", "x"): pts}, 70)
    assert row.cq == pytest.approx(35.0) and row.reason is None
    (high,) = cq_for_target({("a", "x"): pts}, 95)
    assert high.cq is None and "not reached" in high.reason and "cq tried (20)" in high.reason
    (low,) = cq_for_target({("a", "x"): pts}, 50)
    assert low.cq is None and "every cq tried reaches it" in low.reason
    (exact,) = cq_for_target({("a", "x"): pts}, 80)
    assert exact.cq == pytest.approx(30.0)


def test_cq_for_target_by_a_real_exported_ensemble(tmp_path):
    """`--models`: each cell's prediction is the one `predict` serves for that cell's rows, and the
    model's cq lies between the cqs of its interval's ends (lower end: smaller, safer cq)."""
    import numpy as np

    from tests.factories import export_models
    from vmafkit.corpus.schema import read_rows
    from vmafkit.report.rd import analyse_corpus, model_predictions
    from vmafkit.serve.predict import predict_features

    models, _, corpus = export_models(tmp_path)
    rows = read_rows(corpus)
    predicted = model_predictions(rows, models, coverage=0.9)
    src, enc, cq = rows[0]["src"], rows[0]["encoder"], float(rows[0]["cq"])
    cell = [r for r in rows if (r["src"], r["encoder"], float(r["cq"])) == (src, enc, cq)]
    (clip,) = predict_features(models, cell, coverage=0.9, with_frames=False)["clips"]
    point = predicted[(src, enc, f"{rows[0]['width']}x{rows[0]['height']}", cq)]
    assert (point.score, point.lower, point.upper) == (clip["score"], clip["lower"], clip["upper"])

    scores = {k: v.score for k, v in predicted.items() if k[0] == src}
    target = float(np.median(list(scores.values())))
    analysis = analyse_corpus(corpus, target=target, models=models, coverage=0.9)
    row = next(r for r in analysis.cq_rows if r.src == src)
    assert row.model_cq is not None
    low, high = row.model_cq_range
    assert low is None or low <= row.model_cq
    assert high is None or row.model_cq <= high
    payload = analysis.to_json()["cq_for_target"]
    assert payload["models"] == str(models) and "model_cq_range" in payload["rows"][0]
