"""Edges of report/rd.py: the hull and the monotone points at their boundaries, BD-rate's refusals,
sources without an anchor, the basis, groups without a number, "cq for a target" with a model,
and the exact table, CSV rows and messages a user reads.

Oracles: cases worked out by hand (the arithmetic in a comment beside each), the exact text the
report prints, and a stand-in for the ensemble that follows `predict_features`' documented contract.
"""

from __future__ import annotations

import pytest

from tests.factories import corpus_row, write_corpus
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

INF = float("inf")


def _p(rate, vmaf, cq=0.0, w=1920, h=1080):
    return RatePoint(rate_kbps=rate, vmaf=vmaf, cq=cq, width=w, height=h, n_frames=1)


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
        target_kind = handle.VMAF_TARGET
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
        target_kind = handle.SUBJECTIVE_TARGET
        model_id = "people"
        registry = "MODELS/registry.json"

    monkeypatch.setattr(handle, "load", lambda models, **_: Subjective())
    with pytest.raises(InputError, match="predicts subjective scores; rd --models needs one trained on VMAF"):
        model_predictions(_cell_rows(), "MODELS", coverage=0.5)
