"""BD-rate, the convex hull and "cq for a target VMAF", against cases computed by hand.

Oracles: closed forms worked out on paper (two-point curves, where PCHIP is the straight line, and
curves whose log-rate is linear in VMAF, where any monotone interpolation is exact).

Edges of report/rd.py: the hull and the monotone points at their boundaries, BD-rate's refusals,
sources without an anchor, the basis, groups without a number, "cq for a target" with a model,
and the exact table, CSV rows and messages a user reads.

Oracles: cases worked out by hand (the arithmetic in a comment beside each), the exact text the
report prints, and a stand-in for the ensemble that follows `predict_features`' documented contract.
"""

from __future__ import annotations

import math

import pytest

from tests.factories import corpus_row, write_corpus
from vmafkit.decide.subjective_verdict import KIND as SUBJECTIVE_TARGET
from vmafkit.decide.verdict import VMAF_TARGET
from vmafkit.errors import InputError
from vmafkit.report.rd import (
    CSV_COLUMNS,
    BdRate,
    CqForTarget,
    EncoderSummary,
    ModelPoint,
    RatePoint,
    RdAnalysis,
    analyse_corpus,
    bd_rate_pct,
    bd_rates,
    cq_for_target,
    csv_rows,
    curve_points,
    format_table,
    model_predictions,
    monotone_points,
    source_groups,
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


def test_summary_bootstrap_interval_brackets_the_mean_and_needs_two_groups():
    from vmafkit.report.rd import BdRate

    results = [BdRate(s, "x", v, None, (0, 1)) for s, v in (("a", -10.0), ("b", -30.0), ("c", -20.0))]
    results.append(BdRate("d", "x", None, "no overlap", None))
    (s,) = summarize(results)
    assert s.n_sources == 3 and s.n_groups == 3 and s.mean_pct == pytest.approx(-20.0)
    low, high = s.interval
    assert -30.0 <= low < -20.0 < high <= -10.0
    (one,) = summarize(results[:1])
    assert one.mean_pct == -10.0 and one.interval is None
    # two sources of one scene are one group: still no interval
    (scene,) = summarize([BdRate(s, "x", v, None, (0, 1), group="g") for s, v in (("a", -10.0), ("b", -30.0))])
    assert scene.n_groups == 1 and scene.n_sources == 2 and scene.mean_pct == -20.0 and scene.interval is None


def _grouped(values_and_groups):
    from vmafkit.report.rd import BdRate

    return [BdRate(f"s{i}", "x", v, None, (0, 1), group=g) for i, (v, g) in enumerate(values_and_groups)]


def test_summary_counts_one_value_per_loso_group_by_hand():
    # +10 on its own scene; +2 and +2 on two sources of one scene. By hand: groups {a: 10, s: 2},
    # mean over groups (10 + 2) / 2 = 6.0 — not the per-source mean (10 + 2 + 2) / 3 = 4.67.
    (s,) = summarize(_grouped([(10.0, "a"), (2.0, "s"), (2.0, "s")]))
    assert s.mean_pct == pytest.approx(6.0, abs=1e-12)
    assert (s.n_groups, s.n_sources) == (2, 3)
    assert s.counted == "one value per LOSO group, 2 groups from 3 sources"
    # a group's value is the mean of its sources: {a: 10, s: (1 + 5) / 2 = 3} -> 6.5
    (s,) = summarize(_grouped([(10.0, "a"), (1.0, "s"), (5.0, "s")]))
    assert s.mean_pct == pytest.approx(6.5, abs=1e-12)


def test_summary_interval_is_a_bootstrap_over_groups_not_sources():
    # Every group's mean is 6 although the sources differ: resampling groups can only give 6, so the
    # interval has zero width (a bootstrap over the five sources would not).
    (s,) = summarize(_grouped([(4.0, "a"), (8.0, "a"), (6.0, "b"), (5.0, "c"), (7.0, "c")]))
    assert s.mean_pct == pytest.approx(6.0) and s.interval == pytest.approx((6.0, 6.0), abs=1e-12)


def _percentile(sorted_values, q):
    """The q-th percentile by the textbook linear rule: position (n - 1) q / 100, interpolated."""
    pos = (len(sorted_values) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def test_summary_interval_against_a_plain_reimplementation():
    import numpy as np

    from vmafkit import thresholds as T

    values_and_groups = [(-12.0, "a"), (-4.0, "a"), (3.0, "b"), (-20.0, "c"), (9.0, "d"), (1.0, "d"), (-2.0, "e")]
    (s,) = summarize(_grouped(values_and_groups))
    # the definition: group means (by hand), B resamples of G groups with replacement (seed 0, the
    # draws as one B x G block), each resample's mean, the 2.5th and 97.5th percentiles
    group_means = [-8.0, 3.0, -20.0, 5.0, -2.0]  # a, b, c, d, e
    b = T.RD_BOOTSTRAP
    draws = np.random.default_rng(0).integers(0, len(group_means), size=(b, len(group_means)))
    means = sorted(sum(group_means[int(k)] for k in row) / len(row) for row in draws)
    assert s.mean_pct == pytest.approx(sum(group_means) / 5, abs=1e-12)  # -4.4
    assert s.interval == pytest.approx((_percentile(means, 2.5), _percentile(means, 97.5)), abs=1e-9)
    assert b == 2000


def test_rd_says_how_it_counted_in_text_and_json(tmp_path):
    """`vmafkit rd` on a corpus whose sources b and c are one scene: libx265 spends +10 % on a and
    +2 % on b and c at every cq (same VMAF), so the summary is (10 + 2) / 2 = 6 %, over 2 groups."""
    import json

    from tests.factories import cli, corpus_row, write_corpus

    rows = []
    for src, extra, group in (("a", 1.10, None), ("b", 1.02, "scene"), ("c", 1.02, "scene")):
        for cq, size, vmaf in ((20, 40000, 90.0), (30, 20000, 80.0), (40, 10000, 70.0)):
            for enc, nbytes in (("libx264", size), ("libx265", round(size * extra))):
                over = {} if group is None else {"group": group}
                rows.append(corpus_row(src, cq=cq, encoder=enc, enc_bytes=nbytes, vmaf=vmaf, **over))
    corpus = write_corpus(tmp_path / "c.jsonl", rows)

    payload = json.loads(cli(["rd", corpus, "--anchor", "libx264", "--json"]).output)
    assert [(r["src"], r["group"]) for r in payload["bd_rate"]] == [("a", "a"), ("b", "scene"), ("c", "scene")]
    (x265,) = payload["summary"]
    assert x265["mean_bd_rate_pct"] == pytest.approx(6.0, abs=1e-9)
    assert (x265["n_groups"], x265["n_sources"]) == (2, 3)
    assert x265["aggregation"] == "one value per LOSO group, 2 groups from 3 sources"
    assert x265["bootstrap"]["over"] == "LOSO groups"

    text = cli(["rd", corpus, "--anchor", "libx264"])
    assert text.exit_code == 0
    assert "libx265: mean +6.00 % (one value per LOSO group, 2 groups from 3 sources)" in text.output


def test_a_source_in_two_groups_is_refused():
    from tests.factories import corpus_row
    from vmafkit.report.rd import source_groups

    rows = [corpus_row("a", group="g1"), corpus_row("a", cq=30, group="g2"), corpus_row("b")]
    with pytest.raises(InputError, match="source a is in LOSO groups 'g1' and 'g2'"):
        source_groups(rows, where="c.jsonl")
    assert source_groups(rows[1:]) == {"a": "g2", "b": "b"}


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


def test_cq_for_target_by_a_real_exported_ensemble(models):
    """`--models`: each cell's prediction is the one `predict` serves for that cell's rows, and the
    model's cq lies between the cqs of its interval's ends (lower end: smaller, safer cq)."""
    import numpy as np

    from tests.factories import cli
    from vmafkit.corpus.schema import read_rows
    from vmafkit.report.rd import analyse_corpus, model_predictions
    from vmafkit.serve.predict import predict_features

    models, _, corpus = models
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
    # a smoke registry (exported, not flipped) is served by one member: rd says so, as predict does
    (smoke_note,) = [n for n in payload["model_notes"] if "smoke=true" in n]
    assert "using ONE member" in smoke_note and smoke_note in analysis.model_notes
    result = cli(["rd", str(corpus), "--target", str(target), "--models", str(models)])
    assert result.exit_code == 0 and f"vmafkit: note: {smoke_note}" in result.stderr


INF = float("inf")


# ----------------------------------------------------------------------------- the upper hull


def test_a_point_on_the_chord_is_not_a_hull_vertex():
    # log10 rates 2, 3, 4 (exact): (3, 40) lies on the chord (2,30)-(4,50) (40 there):
    # cross = (3-2)(50-30) - (40-30)(4-2) = 20 - 20 = 0, not a vertex
    hull = upper_hull([_p(100, 30), _p(1000, 40), _p(10_000, 50)])
    assert [p.vmaf for p in hull] == [30, 50]


def test_a_point_just_under_the_chord_is_dropped():
    # chord (2,30)-(4,50) is 40 at log10 rate 3; 39.9 lies 0.1 under it (cross = 20 - 19.8 = 0.2)
    hull = upper_hull([_p(100, 30), _p(1000, 39.9), _p(10_000, 50)])
    assert [p.vmaf for p in hull] == [30, 50]


def test_hull_skips_unusable_rates_wherever_they_are_and_keeps_rates_below_one():
    # rate 0 and inf have no log: skipped (also when first). Left: log10 rates -0.301, 2, 3 with
    # VMAF 20, 45, 50; slopes 25/2.301 = 10.9 then 5/1 = 5 fall, so all three are on the hull.
    pts = [_p(0, 99), _p(INF, 99), _p(0.5, 20), _p(100, 45), _p(1000, 50)]
    assert [(p.rate_kbps, p.vmaf) for p in upper_hull(pts)] == [(0.5, 20), (100, 45), (1000, 50)]


def test_hull_of_nothing_usable_is_empty():
    assert upper_hull([]) == []
    assert upper_hull([_p(0, 50), _p(-3, 60)]) == []


def test_equal_rate_and_vmaf_keeps_the_first_point():
    # "points of equal rate keep the better one": the second is not better, so the first stays
    first, second = _p(100, 30, w=640, h=360), _p(100, 30, w=1280, h=720)
    hull = upper_hull([first, second, _p(1000, 50)])
    assert [p.rung for p in hull] == ["640x360", "1920x1080"]


# ----------------------------------------------------------------------------- monotone points


def test_monotone_points_at_one_rate_keep_the_best_vmaf():
    # two points at 100 kbit/s: 40 beats 30, so 30 is not a point of the curve
    assert [p.vmaf for p in monotone_points([_p(100, 30), _p(100, 40), _p(200, 50)])] == [40, 50]


def test_monotone_points_drop_unusable_rates_and_equal_vmaf_at_more_bits():
    # rate 0 and inf: dropped; 0.5 kbit/s: a rate like any other; (200, 30) costs more for the same
    # VMAF as (100, 30): dropped. Left: (0.5, 25), (100, 30), (400, 40).
    pts = [_p(0, 20), _p(INF, 99), _p(0.5, 25), _p(100, 30), _p(200, 30), _p(400, 40)]
    assert [(p.rate_kbps, p.vmaf) for p in monotone_points(pts)] == [(0.5, 25), (100, 30), (400, 40)]


# ----------------------------------------------------------------------------- BD-rate's refusals

GOOD = [(100, 30), (200, 40), (400, 50)]


def test_too_few_points_name_the_curve():
    assert bd_rate_pct([(100, 30)], GOOD) == (
        None,
        "the anchor curve has 1 point(s); BD-rate needs at least 2",
        None,
    )
    assert bd_rate_pct(GOOD, [(100, 30)]) == (None, "the test curve has 1 point(s); BD-rate needs at least 2", None)


def test_equal_vmaf_at_two_rates_is_refused_for_either_curve():
    flat = [(100, 30), (200, 30), (400, 50)]
    assert bd_rate_pct(flat, GOOD) == (None, "the anchor curve's VMAF does not rise strictly with rate", None)
    assert bd_rate_pct(GOOD, flat) == (None, "the test curve's VMAF does not rise strictly with rate", None)


def test_a_rate_of_zero_is_refused_but_rates_below_one_are_not():
    assert bd_rate_pct([(0, 30), (200, 40)], GOOD) == (None, "the anchor curve has a rate of 0", None)
    assert bd_rate_pct(GOOD, [(0, 30), (200, 40)]) == (None, "the test curve has a rate of 0", None)
    # half the bits at every VMAF, at fractions of a kbit/s: log10 rate lower by log10 2 -> -50 %
    pct, reason, overlap = bd_rate_pct([(0.4, 30), (0.8, 40), (1.6, 50)], [(0.2, 30), (0.4, 40), (0.8, 50)])
    assert reason is None and overlap == (30.0, 50.0)
    assert pct == pytest.approx(-50.0, abs=1e-9)


def test_no_overlap_message_shows_each_curves_whole_range():
    pct, reason, overlap = bd_rate_pct([(100, 30), (200, 35), (400, 40)], [(100, 50), (200, 55), (400, 60)])
    assert (pct, overlap) == (None, None)
    assert reason == "the VMAF ranges do not overlap (anchor 30.00–40.00, test 50.00–60.00)"


# ----------------------------------------------------------------------------- bd_rates

ANCHOR = [_p(100, 30), _p(200, 40), _p(400, 50)]
HALF = [_p(50, 30), _p(100, 40), _p(200, 50)]  # half the anchor's rate at every VMAF: -50 %
HIGH = [_p(100, 60), _p(200, 70), _p(400, 80)]  # VMAF 60-80: no overlap with the anchor's 30-50


def test_a_source_without_the_anchor_gets_a_reason_per_encoder_it_has():
    curves = {
        ("a", "libx264"): ANCHOR,
        ("a", "libx265"): HALF,
        ("a", "vp9"): HIGH,
        ("b", "libx265"): HALF,  # b has neither libx264 nor vp9
        ("c", "libx264"): ANCHOR,
        ("c", "libx265"): HALF,
    }
    out = bd_rates(curves, "libx264", {"a": "a", "b": "scene", "c": "scene"})
    assert [(r.src, r.encoder) for r in out] == [("a", "libx265"), ("a", "vp9"), ("b", "libx265"), ("c", "libx265")]
    assert out[2] == BdRate("b", "libx265", None, "source has no libx264 curve", None, "points", "scene")
    a265, a_vp9, _, c265 = out
    assert (a265.src, a265.encoder, a265.reason, a265.overlap, a265.basis, a265.group) == (
        "a",
        "libx265",
        None,
        (30.0, 50.0),
        "points",
        "a",
    )
    assert a265.pct == pytest.approx(-50.0, abs=1e-9)
    assert a_vp9 == BdRate(
        "a",
        "vp9",
        None,
        "the VMAF ranges do not overlap (anchor 30.00–50.00, test 60.00–80.00)",
        None,
        "points",
        "a",
    )
    assert c265.group == "scene" and c265.pct == pytest.approx(-50.0, abs=1e-9)


def test_basis_is_the_hull_when_either_curve_spans_rungs():
    # concave in log rate ((100,30),(200,45),(400,50): slopes 15/0.301 then 5/0.301 fall), so the
    # hull keeps every point and BD-rate is the same -50 % on either basis
    ladder = [_p(100, 30, w=640, h=360), _p(200, 45), _p(400, 50)]
    one = [_p(100, 30), _p(200, 45), _p(400, 50)]
    half_ladder = [_p(50, 30, w=640, h=360), _p(100, 45), _p(200, 50)]
    half_one = [_p(50, 30), _p(100, 45), _p(200, 50)]
    curves = {
        ("a", "ref"): ladder,
        ("a", "x"): half_one,
        ("b", "ref"): one,
        ("b", "x"): half_ladder,
        ("c", "ref"): one,
        ("c", "x"): half_one,
    }
    out = bd_rates(curves, "ref")
    assert [(r.src, r.basis) for r in out] == [("a", "hull"), ("b", "hull"), ("c", "points")]
    assert [r.pct for r in out] == pytest.approx([-50.0] * 3, abs=1e-9)


def test_an_unknown_anchor_lists_the_encoders_there_are():
    with pytest.raises(InputError) as err:
        bd_rates({("a", "libx264"): ANCHOR, ("a", "libx265"): HALF}, "vp9")
    assert str(err.value) == "anchor encoder 'vp9' is not in the corpus (it has: libx264, libx265)"


# ----------------------------------------------------------------------------- summarize


def test_an_encoder_without_numbers_is_summarised_empty_and_the_next_one_still_counts():
    results = [
        BdRate("a", "av1", None, "no overlap", None),
        BdRate("a", "libx265", -10.0, None, (0, 1)),
        BdRate("b", "libx265", -30.0, None, (0, 1)),
    ]
    # libx265: groups a, b -> mean (-10 - 30) / 2 = -20. Bootstrap of 2 groups: each resample's mean
    # is -30 (p 1/4), -20 (1/2) or -10 (1/4); of 2000 resamples about 500 are -30 and 500 are -10,
    # so the 2.5th percentile lies among the -30s and the 97.5th among the -10s.
    assert summarize(results) == [
        EncoderSummary("av1", 0, None, None, 0),
        EncoderSummary("libx265", 2, -20.0, (-30.0, -10.0), 2),
    ]


# ----------------------------------------------------------------------------- cq for a target

CURVE = {("a", "x"): [_p(1, 90, cq=20), _p(1, 70, cq=30), _p(1, 60, cq=40)]}


def test_target_between_the_two_lowest_cqs():
    # 20 + (90 - 80) * (30 - 20) / (90 - 70) = 25
    (row,) = cq_for_target(CURVE, 80)
    assert (row.cq, row.reason) == (25.0, None)


def test_target_equal_to_the_lowest_cqs_vmaf_is_reached_there():
    # 90 >= 90: reached at cq 20 itself (20 + 0 * 10 / 20)
    (row,) = cq_for_target(CURVE, 90)
    assert (row.cq, row.reason) == (20.0, None)


def test_cq_for_target_reasons_show_the_tried_end():
    (high,) = cq_for_target(CURVE, 95)
    assert (high.cq, high.reason) == (None, "not reached: the lowest cq tried (20) gives VMAF 90.00")
    (low,) = cq_for_target(CURVE, 50)
    assert (low.cq, low.reason) == (None, "every cq tried reaches it: the highest (40) gives VMAF 60.00")


def _model(scores, lows=None, highs=None, reasons=None, rung="1920x1080"):
    lows = lows or [None] * len(scores)
    highs = highs or [None] * len(scores)
    reasons = reasons or [None] * len(scores)
    return {
        ("a", "x", rung, cq): ModelPoint(s, lo, hi, why)
        for cq, s, lo, hi, why in zip((20.0, 30.0, 40.0), scores, lows, highs, reasons)
    }


def test_model_cq_and_its_interval_cqs_by_hand():
    # prediction 90/70/60 -> 25 (as above); lower end 86/66/56: 20 + 6 * 10 / 20 = 23;
    # upper end 94/74/64: 74 < 80, so between cq 20 and 30: 20 + 14 * 10 / 20 = 27
    model = _model([90, 70, 60], [86, 66, 56], [94, 74, 64])
    (row,) = cq_for_target(CURVE, 80, model)
    assert (row.cq, row.model_cq, row.model_cq_range, row.model_reason) == (25.0, 25.0, (23.0, 27.0), None)


def test_model_that_reaches_the_target_everywhere_says_so():
    model = _model([95, 90, 85], [91, 86, 81], [99, 94, 89])
    (row,) = cq_for_target(CURVE, 80, model)
    assert (row.model_cq, row.model_cq_range) == (None, (None, None))
    assert row.model_reason == "every cq tried reaches it: the highest (40) gives VMAF 85.00"


def test_uncalibrated_model_gives_its_cq_and_says_it_has_no_interval():
    (row,) = cq_for_target(CURVE, 80, _model([90, 70, 60]))
    assert (row.model_cq, row.model_cq_range, row.model_reason) == (25.0, None, "the model has no calibrated interval")
    # no number from the model: its own reason comes first
    (row,) = cq_for_target(CURVE, 80, _model([75, 70, 60]))
    assert (row.model_cq, row.model_cq_range) == (None, None)
    assert row.model_reason == "not reached: the lowest cq tried (20) gives VMAF 75.00"


def test_a_cell_outside_the_domain_gives_no_model_cq_but_the_reason():
    why = "outside the model's domain: cq 40 above the trained 20-36"
    model = _model([90, 70, 60], [86, 66, 56], [94, 74, 64], [None, None, why])
    (row,) = cq_for_target(CURVE, 80, model)
    assert row == CqForTarget("a", "x", "1920x1080", 25.0, None, None, None, why)


# ----------------------------------------------------------------------------- model predictions


def _cell_rows():
    rows = []
    for preset, shift in (("fast", 0.0), ("medium", 4.0)):
        for cq, vmafs in ((20, (90.0, 94.0)), (40, (70.0, 72.0))):
            for i, v in enumerate(vmafs):
                rows.append(corpus_row("a", frame=i, cq=cq, preset=preset, vmaf=v + shift))
    return rows


@pytest.fixture
def fake_ensemble(monkeypatch):
    """A stand-in for `vmafkit.load`'s handle with its `predict` contract: a clip's score (here its
    mean vmaf minus 2), an interval whose half-width grows with `coverage` (here 20 x coverage), and
    rows outside the training domain (here cq above 36) refused unless `allow_out_of_domain`, else
    scored with no interval and the reason."""
    import vmafkit.serve.handle as handle
    from vmafkit import thresholds as T

    loaded = []

    class FakeEnsemble:
        target_kind = VMAF_TARGET
        model_id = "fake"
        registry = "MODELS/registry.json"

        def predict(self, rows, *, coverage=T.DEFAULT_COVERAGE, allow_out_of_domain=False, **_):
            score = sum(r["vmaf"] for r in rows) / len(rows) - 2
            outside = [f"cq {r['cq']} above the trained 20-36" for r in rows if r["cq"] > 36]
            if outside and not allow_out_of_domain:
                raise InputError(f"outside the training domain: {outside[0]}")
            if outside:
                clip = {"score": score, "lower": None, "upper": None, "in_domain": False, "out_of_domain": outside[0]}
            else:
                h = 20 * coverage
                clip = {"score": score, "lower": score - h, "upper": score + h, "in_domain": True}
            return handle.Prediction.from_json({"clips": [clip], "notes": []})

    def load(models, **_):
        loaded.append(models)
        return FakeEnsemble()

    monkeypatch.setattr(handle, "load", load)
    return loaded


def test_model_predictions_per_cell_with_the_preset_in_the_curve_name(fake_ensemble):
    predicted = model_predictions(_cell_rows(), "MODELS", coverage=0.5)
    assert fake_ensemble == ["MODELS"]
    # fast cq 20: mean (90 + 94) / 2 = 92, score 90, half-width 20 x 0.5 = 10 -> [80, 100];
    # medium: 4 higher. cq 40 is outside: score (70 + 72) / 2 - 2 = 69, no interval, the reason.
    why = "outside the model's domain: cq 40 above the trained 20-36"
    assert predicted == {
        ("a", "libx264/fast", "64x48", 20.0): ModelPoint(90.0, 80.0, 100.0, None),
        ("a", "libx264/fast", "64x48", 40.0): ModelPoint(69.0, None, None, why),
        ("a", "libx264/medium", "64x48", 20.0): ModelPoint(94.0, 84.0, 104.0, None),
        ("a", "libx264/medium", "64x48", 40.0): ModelPoint(73.0, None, None, why),
    }


def test_analysis_with_models_reports_the_model_per_curve(fake_ensemble, tmp_path):
    corpus = write_corpus(tmp_path / "c.jsonl", _cell_rows())
    analysis = analyse_corpus(corpus, target=80, models="MODELS", coverage=0.5)
    assert [(r.encoder, r.cq, r.model_cq, r.model_reason) for r in analysis.cq_rows] == [
        # libvmaf: 92 at cq 20, 71 at cq 40: 20 + 12 * 20 / 21
        (
            "libx264/fast",
            pytest.approx(20 + 12 * 20 / 21),
            None,
            "outside the model's domain: cq 40 above the trained 20-36",
        ),
        (
            "libx264/medium",
            pytest.approx(20 + 16 * 20 / 21),
            None,
            "outside the model's domain: cq 40 above the trained 20-36",
        ),
    ]


# ----------------------------------------------------------------------------- messages


def _two_sizes():
    rows = [corpus_row("a", frame=0, enc_bytes=2000), corpus_row("a", frame=1, enc_bytes=2001)]
    return rows


def test_a_cell_with_two_sizes_names_the_corpus():
    text = "cell (a, libx264, medium, 64x48, cq 25) has 2 different enc_bytes and 1 different fps values; "
    text += "one encode has one size and one frame rate"
    with pytest.raises(InputError) as err:
        curve_points(_two_sizes())
    assert str(err.value) == f"corpus: {text}"


def test_a_source_in_two_groups_names_the_corpus():
    rows = [corpus_row("a", group="g1"), corpus_row("a", cq=30, group="g2")]
    with pytest.raises(InputError) as err:
        source_groups(rows)
    assert str(err.value) == "corpus: source a is in LOSO groups 'g1' and 'g2'; one source belongs to one group"


def test_analyse_corpus_errors_name_the_file(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(InputError) as err:
        analyse_corpus(empty)
    assert str(err.value) == f"{empty}: has no rows"

    sizes = write_corpus(tmp_path / "sizes.jsonl", _two_sizes())
    with pytest.raises(InputError) as err:
        analyse_corpus(sizes)
    assert str(err.value).startswith(f"{sizes}: cell (a, libx264, medium, 64x48, cq 25) has 2 different enc_bytes")

    groups = write_corpus(tmp_path / "groups.jsonl", [corpus_row("a", group="g1"), corpus_row("a", cq=30, group="g2")])
    with pytest.raises(InputError) as err:
        analyse_corpus(groups)
    assert str(err.value) == f"{groups}: source a is in LOSO groups 'g1' and 'g2'; one source belongs to one group"


# ----------------------------------------------------------------------------- what a user reads


def _half_rate_corpus(tmp_path):
    rows = []
    for cq, size, vmaf in ((20, 4000, 90.0), (30, 2000, 80.0), (40, 1000, 70.0)):
        rows.append(corpus_row("a", cq=cq, encoder="libx264", enc_bytes=size, vmaf=vmaf))
        rows.append(corpus_row("a", cq=cq, encoder="libx265", enc_bytes=size // 2, vmaf=vmaf))
    return write_corpus(tmp_path / "c.jsonl", rows)


def test_the_table_of_a_whole_analysis_at_the_default_target(tmp_path):
    # libx265 spends half the bytes at every cq for the same VMAF: -50 %; one source, one group, no
    # interval. Default target 95: the lowest cq (20) gives 90, not reached.
    corpus = _half_rate_corpus(tmp_path)
    analysis = analyse_corpus(corpus)
    assert (analysis.corpus, analysis.anchor, analysis.target, analysis.models) == (str(corpus), "libx264", 95.0, None)
    assert format_table(analysis) == "\n".join(
        [
            "BD-rate against libx264 (negative: fewer bits for the same VMAF)",
            "",
            "  a       libx265          -50.00 %",
            "",
            "  libx265: mean -50.00 % (one value per LOSO group, 1 group from 1 source)",
            "",
            "cq that reaches VMAF 95",
            "",
            "  a       libx264             64x48   none (not reached: the lowest cq tried (20) gives VMAF 90.00)",
            "  a       libx265             64x48   none (not reached: the lowest cq tried (20) gives VMAF 90.00)",
        ]
    )


def _analysis_with_models():
    return RdAnalysis(
        corpus="c.jsonl",
        anchor="libx264",
        target=80.0,
        curves={("a", "libx264"): [], ("a", "libx265"): [], ("b", "libx265"): []},
        bd=[
            BdRate("a", "libx265", -12.5, None, (30.0, 60.0), "hull", "g"),
            BdRate("b", "libx265", None, "source has no libx264 curve", None),
        ],
        summary=[
            EncoderSummary("av1", 0, None, None, 0),
            EncoderSummary("libx265", 3, -12.5, (-20.0, -5.5), 2),
        ],
        cq_rows=[
            CqForTarget("a", "libx264", "1920x1080", 25.0, None, 25.04, (23.0, 27.0), None),
            CqForTarget(
                "a",
                "libx264",
                "640x360",
                None,
                "not reached: the lowest cq tried (20) gives VMAF 75.00",
                None,
                (None, 31.5),
                "not reached: the lowest cq tried (20) gives VMAF 78.00",
            ),
            CqForTarget("b", "libx265", "1920x1080", 31.3, None, None, None, "outside the model's domain: cq 40"),
        ],
        models="models/",
    )


def test_the_table_with_models_summaries_and_intervals():
    assert format_table(_analysis_with_models()) == "\n".join(
        [
            "BD-rate against libx264 (negative: fewer bits for the same VMAF)",
            "",
            "  a       libx265          -12.50 %",
            "  b       libx265            none   (source has no libx264 curve)",
            "",
            "  av1: no source has a BD-rate",
            "  libx265: mean -12.50 % (one value per LOSO group, 2 groups from 3 sources), "
            "95% bootstrap interval over groups [-20.00, -5.50]",
            "",
            "cq that reaches VMAF 80",
            "  (libvmaf's VMAF, then the model in models/: its prediction [interval])",
            "",
            "  a       libx264         1920x1080   25.0   model 25.0 [23.0, 27.0]",
            "  a       libx264           640x360   none (not reached: the lowest cq tried (20) gives VMAF 75.00)"
            "   model — [—, 31.5] (not reached: the lowest cq tried (20) gives VMAF 78.00)",
            "  b       libx265         1920x1080   31.3   model — (outside the model's domain: cq 40)",
        ]
    )


def test_the_table_of_one_encoder_with_a_long_source_name():
    analysis = RdAnalysis(
        corpus="c.jsonl",
        anchor="libx264",
        target=92.5,
        curves={("long_source_name", "libx264"): []},
        bd=[],
        summary=[],
        cq_rows=[
            CqForTarget(
                "long_source_name",
                "libx264",
                "64x48",
                None,
                "every cq tried reaches it: the highest (40) gives VMAF 96.00",
            ),
            CqForTarget("long_source_name", "libx264", "640x360", 33.3, None),
        ],
    )
    assert format_table(analysis) == "\n".join(
        [
            "BD-rate against libx264 (negative: fewer bits for the same VMAF)",
            "",
            "  (one encoder only: nothing to compare)",
            "",
            "",
            "cq that reaches VMAF 92.5",
            "",
            "  long_source_name  libx264             64x48   none (every cq tried reaches it: the highest (40) "
            "gives VMAF 96.00)",
            "  long_source_name  libx264           640x360   33.3",
        ]
    )


def test_csv_rows_have_the_columns_in_order_and_the_overlap_split():
    rows = csv_rows(_analysis_with_models())
    assert [list(r) for r in rows] == [list(CSV_COLUMNS)] * 2
    assert rows == [
        {
            "src": "a",
            "encoder": "libx265",
            "anchor": "libx264",
            "bd_rate_pct": -12.5,
            "reason": None,
            "vmaf_low": 30.0,
            "vmaf_high": 60.0,
            "basis": "hull",
            "pool": "mean",
        },
        {
            "src": "b",
            "encoder": "libx265",
            "anchor": "libx264",
            "bd_rate_pct": None,
            "reason": "source has no libx264 curve",
            "vmaf_low": None,
            "vmaf_high": None,
            "basis": "points",
            "pool": "mean",
        },
    ]


@pytest.mark.parametrize(
    ("anchor", "test", "which"),
    [
        # VMAF falls as the rate rises (50 at 100 kbit/s, 40 at 200): not a rate-quality curve
        ([(100, 50), (200, 40)], [(100, 50), (200, 45)], "anchor"),
        ([(100, 40), (200, 50)], [(100, 50), (200, 45)], "test"),
        # two VMAFs at one rate
        ([(100, 30), (100, 40)], [(100, 30), (200, 40)], "anchor"),
    ],
)
def test_bd_rate_refuses_a_curve_whose_vmaf_does_not_rise_with_rate(anchor, test, which):
    assert bd_rate_pct(anchor, test) == (None, f"the {which} curve's VMAF does not rise strictly with rate", None)


def test_a_curve_that_is_not_monotone_still_finds_the_cq_that_reaches_the_target():
    """cq 20 gives 94 (below 95: encoder noise), cq 25 gives 96, cq 30 gives 90: the answer is
    between 25 and 30, by hand 25 + (96 - 95) * (30 - 25) / (96 - 90) = 25.8333."""
    from vmafkit.report.rd import _crossing

    cq, reason = _crossing([20, 25, 30], [94.0, 96.0, 90.0], 95.0)
    assert reason is None and cq == pytest.approx(25 + 5 / 6)
    assert _crossing([20, 25, 30], [90.0, 94.0, 93.0], 95.0) == (
        None,
        "not reached: the best cq tried (25) gives VMAF 94.00",
    )
    assert _crossing([20, 25, 30], [94.0, 92.0, 96.0], 95.0) == (
        None,
        "the highest cq tried (30) reaches it (VMAF 96.00): no cq above it was tried",
    )


def test_two_clips_under_one_source_name_and_a_cell_without_a_size_are_refused(tmp_path):
    from vmafkit.report.rd import curve_points

    rows = [corpus_row("clip", frame=0, cq=cq, enc_bytes=1000 * (40 - cq)) for cq in (20, 30)]
    other = {**rows[0], "src_sha256": "f" * 64, "cq": 25}
    with pytest.raises(InputError, match="src 'clip' names two reference clips"):
        curve_points([*rows, other], where="c.jsonl")
    zero = [{**rows[0], "enc_bytes": 0}, rows[1]]
    with pytest.raises(InputError, match=r"c.jsonl: cell \(clip, libx264, medium, .* cq 20\) has enc_bytes 0"):
        curve_points(zero, where="c.jsonl")


def test_rd_models_refuses_an_ensemble_of_subjective_scores(monkeypatch):
    import vmafkit.serve.handle as handle

    class Subjective:
        target_kind = SUBJECTIVE_TARGET
        model_id = "people"
        registry = "MODELS/registry.json"

    monkeypatch.setattr(handle, "load", lambda models, **_: Subjective())
    with pytest.raises(InputError, match="predicts subjective scores; rd --models needs one trained on VMAF"):
        model_predictions(_cell_rows(), "MODELS", coverage=0.5)


# ----------------------------------------------------------------------------- --pool


def test_a_cells_quality_is_its_frames_pooled_as_asked():
    # 4 frames at 25 fps, 2000 bytes: 100 kbit/s; frames 90, 90, 90, 30 (one collapse)
    rows = _rows("a", "libx264", 23, 2000, [90, 90, 90, 30])
    by = {pool: curve_points(rows, pool=pool)[("a", "libx264")][0].vmaf for pool in ("mean", "min", "harmonic", "p50")}
    assert by["mean"] == pytest.approx(75.0)
    assert by["min"] == pytest.approx(30.0)
    # libvmaf's harmonic mean: 1 / mean(1/91, 1/91, 1/91, 1/31) - 1
    assert by["harmonic"] == pytest.approx(1 / ((3 / 91 + 1 / 31) / 4) - 1)
    assert by["p50"] == pytest.approx(90.0)  # h = 3 * 0.5 = 1.5 between the 2nd and 3rd sorted (90, 90)


def test_bd_rate_by_a_low_pool_sees_the_dips_the_mean_hides():
    """libx265 halves the bytes at the same mean VMAF, but each of its cells has one frame 30 points
    down: by the mean it saves 50 %; by each cell's minimum (40..60) its curve lies wholly below
    the anchor's (70..90), so there is no BD-rate to give, and the reason says why."""
    rows = []
    for cq, size, vmaf in ((20, 4000, 90.0), (30, 2000, 80.0), (40, 1000, 70.0)):
        rows += _rows("a", "libx264", cq, size, [vmaf] * 4)
        rows += _rows("a", "libx265", cq, size // 2, [vmaf + 10, vmaf + 10, vmaf + 10, vmaf - 30])
    (by_mean,) = bd_rates(curve_points(rows), "libx264", {"a": "a"})
    (by_min,) = bd_rates(curve_points(rows, pool="min"), "libx264", {"a": "a"})
    assert by_mean.pct == pytest.approx(-50.0, abs=1e-9)
    assert by_min.pct is None and "overlap" in (by_min.reason or "")


def test_rd_takes_one_pool_and_none_but_mean_with_models(tmp_path):
    corpus = _half_rate_corpus(tmp_path)
    assert analyse_corpus(corpus, pool="harmonic").to_json()["pool"] == "harmonic"
    table = format_table(analyse_corpus(corpus, pool="harmonic"))
    assert (
        table.splitlines()[0]
        == "BD-rate against libx264 (negative: fewer bits for the same VMAF (each clip's harmonic))"
    )
    with pytest.raises(InputError, match="^rd takes one pool a run .*got mean, min$"):
        analyse_corpus(corpus, pool=("mean", "min"))
    with pytest.raises(InputError, match="^--models compares with the ensemble's clip prediction"):
        analyse_corpus(corpus, pool="min", models=tmp_path)
    with pytest.raises(InputError, match="unknown pool 'median'"):
        analyse_corpus(corpus, pool="median")
