"""More edge cases of the interval calibration found by mutation testing (tools/mutation.py).

The oracle for `calibrate` is the rule of calibration.py's module doc, computed here from scratch
with numpy on 10 sources (realistic for the gate): the ensemble is the mean over seeds, with three
or more seeds a frame's score is |vmaf - ensemble| / (spread + c), spread the seeds' population
std and c = 4 x its median over the served rows; each source's quantile is numpy's inverted-CDF
quantile of its served scores; with fewer than 22 sources the tolerance rank is k = S, so the
multiplier is the largest source quantile (and the level attained 0.1 ** (1 / S)); a clip is a
(src, encoder, preset, cq, rung) cell, calibrated on only when every frame of it is served, its
score |mean vmaf - mean ensemble| / the mean frame scale of the cell."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from vmafkit import thresholds as T
from vmafkit.decide.calibration import (
    calibrate,
    calibrate_from_loso,
    quality_bands,
    row_scales,
    spread_offset,
)
from vmafkit.errors import InputError

from ...factories import make_corpus, write_predictions

SOURCES = [f"s{i:02d}" for i in range(10)]
CQS = (22.0, 30.0, 38.0)
FRAMES = 6


def _per_seed(seeds=(0, 1, 2), *, rung=None, rng_seed=3):
    """10 sources x 3 cq x 6 frames = 180 rows; per seed its held-out predictions."""
    rng = np.random.default_rng(rng_seed)
    src = np.repeat(SOURCES, len(CQS) * FRAMES)
    cq = np.tile(np.repeat(CQS, FRAMES), len(SOURCES))
    n = src.size
    vmaf = np.round(rng.uniform(30.0, 98.0, n), 3)
    bias = {s: rng.normal(0.0, 1.5) for s in SOURCES}
    truth = vmaf + np.array([bias[s] for s in src]) + rng.normal(0.0, 2.0, n)
    out = {}
    for seed in seeds:
        cols = {
            "row": np.arange(n),
            "src": src,
            "encoder": np.array(["libx264"] * n),
            "preset": np.array(["medium"] * n),
            "cq": cq,
            "frame_index": np.tile(np.arange(FRAMES), n // FRAMES),
            "vmaf": vmaf,
            "pred": truth + rng.normal(0.0, 0.4 + 0.3 * (seed % 2), n),
            "fold": src,
        }
        if rung is not None:
            cols["rung"] = np.asarray(rung)
        out[seed] = cols
    return out


def _served_mask():
    """Refuse: s03's first frame of every cq (so s03 has no fully served clip), and s07's last two
    frames of cq 38 (one clip of s07 not served)."""
    served = np.ones(len(SOURCES) * len(CQS) * FRAMES, dtype=bool)
    s03 = SOURCES.index("s03") * len(CQS) * FRAMES
    served[s03 : s03 + len(CQS) * FRAMES : FRAMES] = False
    s07 = SOURCES.index("s07") * len(CQS) * FRAMES
    served[s07 + 3 * FRAMES - 2 : s07 + 3 * FRAMES] = False
    return served


def _oracle(per_seed, served, coverage=T.DEFAULT_COVERAGE):
    """Everything calibrate reports, from the module doc (see the module docstring above)."""
    seeds = sorted(per_seed)
    base = per_seed[seeds[0]]
    stack = np.stack([per_seed[s]["pred"] for s in seeds])
    ens = stack.mean(axis=0)
    spread = stack.std(axis=0)
    offset = 4.0 * float(np.median(spread[served])) if len(seeds) >= 3 else None
    scale = spread + offset if offset else np.ones(ens.size)
    score = np.abs(base["vmaf"] - ens) / scale
    folds = base["fold"]

    def q_of(values, c):
        return float(np.quantile(values, c, method="inverted_cdf"))

    def level(sc, fo, sca, c=coverage):
        per = {f: sc[fo == f] for f in sorted(set(fo.tolist()))}
        qs = {f: q_of(v, c) for f, v in per.items()}
        mult = max(qs.values())  # k = S below 22 sources
        held = {f: max(v for g, v in qs.items() if g != f) for f in per}
        return {
            "multiplier": mult,
            "half_width": float(np.median(mult * sca)),
            "half_width_p90": float(np.quantile(mult * sca, 0.9)),
            "held": held,
            "coverage": {f: float(np.mean(per[f] <= held[f])) for f in per},
            "half_width_of_fold": {f: float(np.median(held[f] * sca[fo == f])) for f in per},
        }

    frame = level(score[served], folds[served], scale[served])
    frame["half_widths"] = {
        f"{c:g}": float(np.median(level(score[served], folds[served], scale[served], c)["multiplier"] * scale[served]))
        for c in T.REPORTED_COVERAGES
    }
    keys = list(zip(base["src"], base["encoder"], base["preset"], base["cq"], base.get("rung", [""] * ens.size)))
    cells = sorted(set(keys))
    idx = {k: np.array([key == k for key in keys]) for k in cells}
    full = [k for k in cells if served[idx[k]].all()]
    clip_scale = np.array([scale[idx[k]].mean() for k in full])
    clip_score = np.array([abs(base["vmaf"][idx[k]].mean() - ens[idx[k]].mean()) for k in full]) / clip_scale
    clip_fold = np.array([folds[idx[k]][0] for k in full])
    clip = level(clip_score, clip_fold, clip_scale)
    clip["n"] = len(full)
    return {"offset": offset, "frame": frame, "clip": clip, "score": score, "scale": scale}


@pytest.fixture(scope="module")
def normalised():
    per_seed = _per_seed()
    served = _served_mask()
    return per_seed, served, calibrate(per_seed, served=served), _oracle(per_seed, served)


# ----------------------------------------------------------------------------- a normalised calibration


def test_normalisation_offset_is_four_median_spreads_of_the_served_rows(normalised):
    per_seed, served, out, oracle = normalised
    summary = out["summary"]
    assert summary["normalisation"]["kind"] == "ensemble-spread"
    assert summary["normalisation"]["offset"] == pytest.approx(oracle["offset"], rel=1e-12)
    assert out["file"]["ensemble"]["normalisation"] == summary["normalisation"]
    # the refused rows' spread is left out: over every row the median differs
    stack = np.stack([per_seed[s]["pred"] for s in (0, 1, 2)])
    assert 4.0 * np.median(stack.std(axis=0)) != pytest.approx(oracle["offset"], rel=1e-9)


def test_frame_half_widths_are_served_half_widths(normalised):
    _, _, out, oracle = normalised
    frame = out["summary"]["frame"]
    assert frame["multiplier"] == pytest.approx(oracle["frame"]["multiplier"], rel=1e-12)
    assert frame["half_width"] == pytest.approx(oracle["frame"]["half_width"], rel=1e-12)
    assert frame["half_width_p90"] == pytest.approx(oracle["frame"]["half_width_p90"], rel=1e-12)
    assert frame["half_width_p90"] > frame["half_width"]
    assert frame["half_widths"] == pytest.approx(oracle["frame"]["half_widths"], rel=1e-12)
    assert frame["source_level"] == pytest.approx(0.1 ** (1 / 10), rel=1e-12)  # 10 sources: 0.794


def test_clip_half_width_is_served_in_vmaf_points(normalised):
    _, _, out, oracle = normalised
    clip = out["summary"]["clip"]
    # 10 x 3 cells; s03 has none fully served, s07 one fewer: 30 - 3 - 1 = 26
    assert clip["n"] == oracle["clip"]["n"] == 26
    assert clip["multiplier"] == pytest.approx(oracle["clip"]["multiplier"], rel=1e-12)
    assert clip["half_width"] == pytest.approx(oracle["clip"]["half_width"], rel=1e-12)
    assert clip["half_width_p90"] == pytest.approx(oracle["clip"]["half_width_p90"], rel=1e-12)


def test_refusals_per_source(normalised):
    _, _, out, _ = normalised
    # s03: 3 of 18 frames refused, s07: 2 of 18; 5 of 180 over all
    assert out["summary"]["refused"] == {
        "n": 5,
        "rate": pytest.approx(5 / 180, abs=1e-15),
        "per_source": {s: pytest.approx({"s03": 3 / 18, "s07": 2 / 18}.get(s, 0.0), abs=1e-15) for s in SOURCES},
    }


def test_per_fold_rows(normalised):
    _, _, out, oracle = normalised
    per_fold = out["summary"]["per_fold"]
    assert [f["fold"] for f in per_fold] == SOURCES
    by = {f["fold"]: f for f in per_fold}
    assert list(by["s00"]) == [
        "fold",
        "n_frames",
        "refusal_rate",
        "frame_half_width",
        "frame_coverage",
        "frame_source_quantile",
        "n_clips",
        "clip_half_width",
        "clip_coverage",
    ]
    assert by["s03"]["refusal_rate"] == pytest.approx(3 / 18) and by["s00"]["refusal_rate"] == 0.0
    assert by["s07"]["refusal_rate"] == pytest.approx(2 / 18)
    assert (by["s03"]["n_frames"], by["s07"]["n_frames"], by["s00"]["n_frames"]) == (15, 16, 18)
    # a fold without a fully served clip: no clip interval
    assert (by["s03"]["n_clips"], by["s03"]["clip_half_width"], by["s03"]["clip_coverage"]) == (0, None, None)
    assert (by["s07"]["n_clips"], by["s00"]["n_clips"]) == (2, 3)
    for fold in ("s00", "s07"):
        assert by[fold]["frame_coverage"] == pytest.approx(oracle["frame"]["coverage"][fold], abs=1e-15)
        assert by[fold]["frame_half_width"] == pytest.approx(oracle["frame"]["half_width_of_fold"][fold], rel=1e-12)
        assert by[fold]["clip_coverage"] == pytest.approx(oracle["clip"]["coverage"][fold], abs=1e-15)
        assert by[fold]["clip_half_width"] == pytest.approx(oracle["clip"]["half_width_of_fold"][fold], rel=1e-12)
    clip_covs = [f["clip_coverage"] for f in per_fold if f["clip_coverage"] is not None]
    assert len(clip_covs) == 9
    assert out["summary"]["fold_clip_coverage_min"] == pytest.approx(min(oracle["clip"]["coverage"].values()))


def test_coverage_check_and_summary_fields(normalised):
    _, _, out, oracle = normalised
    summary = out["summary"]
    covs = oracle["frame"]["coverage"]
    below = [f for f in SOURCES if covs[f] < T.DEFAULT_COVERAGE]
    attained = 0.1 ** (1 / 10)
    allowed = 0
    while binom.cdf(allowed, 10, 1 - attained) < 0.95:
        allowed += 1
    assert summary["coverage_check"] == {
        "sources_below": below,
        "n_below": len(below),
        "n_below_allowed": allowed,
        "worst": pytest.approx(min(covs.values()), abs=1e-15),
        "worst_min": T.FOLD_COVERAGE_MIN,
    }
    assert summary["source_confidence"] == T.SOURCE_CONFIDENCE == 0.9
    assert summary["source_level_target"] == T.SOURCE_LEVEL


def test_frame_bands_use_each_rows_held_out_interval(normalised):
    per_seed, served, out, oracle = normalised
    vmaf = per_seed[0]["vmaf"][served]
    folds = per_seed[0]["fold"][served]
    held = np.array([oracle["frame"]["held"][f] for f in folds])
    score, scale = oracle["score"][served], oracle["scale"][served]
    expected = []
    for lo, hi in ((0.0, 60.0), (60.0, 80.0), (80.0, 90.0), (90.0, 100.0)):
        rows = (vmaf >= lo) & ((vmaf < hi) if hi < 100 else (vmaf <= hi))
        expected.append(
            {
                "band": [lo, hi],
                "n": int(rows.sum()),
                "coverage": pytest.approx(float(np.mean(score[rows] <= held[rows])), abs=1e-15),
                "median_half_width": pytest.approx(float(np.median(held[rows] * scale[rows])), rel=1e-12),
            }
        )
    assert out["summary"]["frame_bands"] == expected


# ----------------------------------------------------------------------------- served masks


def test_a_served_mask_of_zeros_and_ones_is_read_as_booleans():
    per_seed = _per_seed(seeds=(0,))
    served = [1] * 180
    served[0] = served[1] = 0  # two frames of s00 refused
    refused = calibrate(per_seed, served=served)["summary"]["refused"]
    assert refused["n"] == 2 and refused["rate"] == pytest.approx(2 / 180)
    assert refused["per_source"]["s00"] == pytest.approx(2 / 18) and refused["per_source"]["s01"] == 0.0


def test_served_mask_messages():
    per_seed = _per_seed(seeds=(0,))
    with pytest.raises(InputError) as info:
        calibrate(per_seed, served=np.ones(179, dtype=bool))
    assert str(info.value) == "served mask has 179 rows, the prediction files 180"
    with pytest.raises(InputError) as info:
        calibrate(per_seed, served=np.zeros(180, dtype=bool))
    assert str(info.value) == ("every held-out row lies outside its fold's training domain: nothing to calibrate on")


def test_calibrate_from_loso_passes_the_served_mask_on(tmp_path):
    corpus = make_corpus(tmp_path / "c.jsonl")
    loso = tmp_path / "loso"
    loso.mkdir()
    write_predictions(loso, 0, corpus)
    rows = (loso / "loso_seed0.predictions.jsonl").read_text().splitlines()
    served = np.ones(len(rows), dtype=bool)
    served[:2] = False  # rows 0 and 1 (of the first source)
    summary = calibrate_from_loso(loso, [0], served=served)["summary"]
    assert summary["refused"]["n"] == 2
    assert summary["refused"]["rate"] == pytest.approx(2 / len(rows))


# ----------------------------------------------------------------------------- clips and rungs


def test_rungs_of_one_cell_are_separate_clips():
    """Two rungs per (src, encoder, preset, cq): frames 0-2 at 1080p, 3-5 at 720p: 60 clips, not 30."""
    rung = np.tile(["1080p"] * 3 + ["720p"] * 3, 30)
    per_seed = _per_seed(seeds=(0,), rung=rung)
    out = calibrate(per_seed)
    assert out["summary"]["clip"]["n"] == 60
    oracle = _oracle(per_seed, np.ones(180, dtype=bool))
    assert oracle["clip"]["n"] == 60
    assert out["summary"]["clip"]["multiplier"] == pytest.approx(oracle["clip"]["multiplier"], rel=1e-12)


# ----------------------------------------------------------------------------- a fold exactly at the level


def test_a_source_exactly_at_the_frame_level_is_not_below_it():
    """Every source's absolute residuals are 1..20: its 0.95 quantile is the 19th smallest, 19,
    and at the multiplier of the others (19) it covers 19 of 20 frames: exactly 0.95, not below."""
    n = 20
    src = np.repeat(SOURCES, n)
    vmaf = np.tile(np.linspace(40.0, 97.0, n), len(SOURCES))
    residual = np.tile(np.arange(1.0, n + 1.0), len(SOURCES))
    cols = {
        "row": np.arange(src.size),
        "src": src,
        "encoder": np.array(["libx264"] * src.size),
        "preset": np.array(["medium"] * src.size),
        "cq": np.tile(np.repeat([22.0, 30.0, 38.0, 46.0], 5), len(SOURCES)),
        "frame_index": np.tile(np.arange(n), len(SOURCES)),
        "vmaf": vmaf,
        "pred": vmaf - residual,
        "fold": src,
    }
    summary = calibrate({0: cols})["summary"]
    assert summary["frame"]["multiplier"] == 19.0
    assert [f["frame_coverage"] for f in summary["per_fold"]] == [0.95] * 10
    assert summary["coverage_check"]["sources_below"] == [] and summary["coverage_check"]["n_below"] == 0
    assert summary["frame"]["sources_below"] == [] and summary["frame"]["fold_hit_rate"] == 1.0
    # the bands by hand: vmaf 40 + 3k (k = 0..19); the residual 1..20 of a row is k + 1, covered
    # iff <= 19: every row but the one at 97 (residual 20, band 90-100) is covered
    bands = summary["frame_bands"]
    assert [b["band"] for b in bands] == [[0.0, 60.0], [60.0, 80.0], [80.0, 90.0], [90.0, 100.0]]
    assert [b["n"] for b in bands] == [70, 70, 30, 30]  # 40..58: 7, 61..79: 7, 82..88: 3, 91..97: 3
    assert [b["coverage"] for b in bands] == [1.0, 1.0, 1.0, pytest.approx(2 / 3)]
    assert [b["median_half_width"] for b in bands] == [19.0] * 4


# ----------------------------------------------------------------------------- quality_bands by hand


def test_quality_bands_boundaries_by_hand():
    """Rows at vmaf 0, 59.99, 80 (the 80-90 band: its low end is inside), 90, 100 (the last band
    includes 100); nothing in 60-80, so that band is left out. Scores equal to the multiplier are
    covered; half-widths are the multiplier times each row's scale."""
    vmaf = np.array([0.0, 59.99, 80.0, 90.0, 100.0, 99.5])
    level = {
        "_held_out_multiplier": np.array([2.0, 2.0, 3.0, 1.0, 1.0, 1.0]),
        "_scales": np.array([1.0, 3.0, 2.0, 4.0, 6.0, 5.0]),
        "_scores": np.array([2.0, 2.5, 3.0, 0.5, 1.0, 1.5]),
    }
    assert quality_bands(level, vmaf) == [
        # rows 0, 59.99: scores 2 <= 2 and 2.5 > 2; widths 2 x 1, 2 x 3: median 4
        {"band": [0.0, 60.0], "n": 2, "coverage": 0.5, "median_half_width": 4.0},
        # row 80: 3 <= 3, width 3 x 2
        {"band": [80.0, 90.0], "n": 1, "coverage": 1.0, "median_half_width": 6.0},
        # rows 90, 100, 99.5: 0.5, 1 <= 1, 1.5 > 1; widths 4, 6, 5: median 5
        {"band": [90.0, 100.0], "n": 3, "coverage": pytest.approx(2 / 3), "median_half_width": 5.0},
    ]
    assert quality_bands(level, np.full(6, 70.0))[0]["band"] == [60.0, 80.0]


# ----------------------------------------------------------------------------- spread offset and row scales


def _preds(*columns):
    return {i: {"pred": np.asarray(c, float)} for i, c in enumerate(columns)}


def test_spread_offset_by_hand():
    served = np.ones(3, dtype=bool)
    # seeds 50 / 50.1 / 49.9 on every row: population std sqrt(0.02 / 3) = 0.08165; x 4 = 0.3266
    per_seed = _preds([50.0, 60.0, 70.0], [50.1, 60.1, 70.1], [49.9, 59.9, 69.9])
    assert spread_offset(per_seed, [0, 1, 2], served) == pytest.approx(4.0 * math.sqrt(0.02 / 3), rel=1e-9)
    # seeds that agree on two rows of three: median spread 0: absolute residuals
    per_seed = _preds([50.0, 60.0, 70.0], [50.0, 60.0, 73.0], [50.0, 60.0, 67.0])
    assert spread_offset(per_seed, [0, 1, 2], served) is None
    # ... unless the served rows are the one they dispute: std of 70 73 67 = sqrt(6); x 4
    assert spread_offset(per_seed, [0, 1, 2], np.array([False, False, True])) == pytest.approx(4.0 * math.sqrt(6.0))
    # two seeds: too few to scale by
    assert spread_offset(per_seed, [0, 1], served) is None


def test_row_scales():
    assert row_scales(None, None, 3).tolist() == [1.0, 1.0, 1.0]
    assert row_scales({"kind": "none"}, np.array([5.0]), 2).tolist() == [1.0, 1.0]
    assert row_scales({"kind": "ensemble-spread", "offset": 0.5}, [0.25, 2], 2).tolist() == [0.75, 2.5]
    with pytest.raises(InputError) as info:
        row_scales({"kind": "ensemble-spread", "offset": 0.5}, None, 2)
    assert str(info.value) == "the calibration is normalised by the ensemble's spread, but no spread was computed"
