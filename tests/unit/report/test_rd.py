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


def test_cq_for_target_by_a_real_exported_ensemble(tmp_path):
    """`--models`: each cell's prediction is the one `predict` serves for that cell's rows, and the
    model's cq lies between the cqs of its interval's ends (lower end: smaller, safer cq)."""
    import numpy as np

    from tests.factories import cli, export_models
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
    # a smoke registry (exported, not flipped) is served by one member: rd says so, as predict does
    (smoke_note,) = [n for n in payload["model_notes"] if "smoke=true" in n]
    assert "using ONE member" in smoke_note and smoke_note in analysis.model_notes
    result = cli(["rd", str(corpus), "--target", str(target), "--models", str(models)])
    assert result.exit_code == 0 and f"vmafkit: note: {smoke_note}" in result.stderr
