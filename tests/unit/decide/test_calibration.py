"""Conformal interval calibration from the LOSO held-out predictions.

Edge cases of the interval calibration found by mutation testing (tools/mutation.py).

The oracle for `calibrate` is the rule of calibration.py's module doc, computed here from scratch
with numpy (each source's quantile is numpy's inverted-CDF quantile; the cross-source rank is
worked out from its formula) on small inputs whose answers are also given by hand.

More edge cases of the interval calibration found by mutation testing (tools/mutation.py).

The oracle for `calibrate` is the rule of calibration.py's module doc, computed here from scratch
with numpy on 10 sources (realistic for the gate): the ensemble is the mean over seeds, with three
or more seeds a frame's score is |vmaf - ensemble| / (spread + c), spread the seeds' population
std and c = 4 x its median over the served rows; each source's quantile is numpy's inverted-CDF
quantile of its served scores; with fewer than 22 sources the tolerance rank is k = S, so the
multiplier is the largest source quantile (and the level attained 0.1 ** (1 / S)); a clip is a
(src, encoder, preset, cq, rung) cell, calibrated on only when every frame of it is served, its
score |mean vmaf - mean ensemble| / the mean frame scale of the cell.
"""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom

from vmafkit import thresholds as T
from vmafkit.decide.calibration import (
    METHOD,
    calibrate,
    calibrate_from_loso,
    guarantee_text,
    quality_bands,
    row_scales,
    spread_offset,
)
from vmafkit.errors import InputError
from vmafkit.train.metrics import source_half_width, source_quantile
from vmafkit.train.predictions import prediction_file, read_predictions

from ...factories import make_corpus, write_predictions


def test_calibrate_refuses_a_coverage_of_one():
    with pytest.raises(InputError, match=r"coverage must be in \(0, 1\), got 1.0"):
        calibrate({0: _cols([1.0, 2.0], [1.0, 2.0], ["A", "B"])}, 1.0)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(min_value=0, max_value=50), min_size=1, max_size=60), st.floats(min_value=0.05, max_value=0.99)
)
def test_source_quantile_is_numpys_inverted_cdf(scores, coverage):
    """Per source: the smallest half-width covering >= coverage of its frames, i.e. the inverse of
    the empirical CDF (numpy's 'inverted_cdf' quantile is an independent implementation)."""
    got = source_quantile(np.sort(scores), coverage)
    assert got == float(np.quantile(scores, coverage, method="inverted_cdf"))
    assert np.mean(np.array(scores) <= got) >= coverage - 1e-12


def test_source_half_width_hand_cases():
    sources = [np.array([1.0, 2.0, 3.0, 4.0]), np.array([10.0, 20.0]), np.array([0.5])]
    # 75 % quantiles: 3.0, 20.0, 0.5 -> sorted 0.5, 3, 20. S = 3 at level 0.9, confidence 0.9:
    # even the largest covers 0.9 of sources only with probability 1 - 0.9^3 = 0.271, so k = 3 and
    # the level attained at confidence 0.9 is 0.1 ** (1 / 3)
    assert source_half_width(sources, 0.75, 0.9) == (20.0, pytest.approx(0.1 ** (1 / 3)))
    # level 0.5 at confidence 0.5: P(Bin(3, 0.5) <= 1) = (1 + 3) / 8 = 0.5 -> k = 2 -> 3.0, level 0.5
    assert source_half_width(sources, 0.75, 0.5, 0.5) == (3.0, 0.5)
    # 19 sources at 0.9 / 0.9: k = 19 (the largest), attained 0.1 ** (1 / 19)
    many = [np.array([float(v)]) for v in range(1, 20)]
    assert source_half_width(many, 0.95, 0.9) == (19.0, pytest.approx(0.1 ** (1 / 19)))
    # 60 sources: P(Bin(60, 0.9) <= k - 1) first reaches 0.9 at k = 58 (by hand with math.comb)
    sixty = [np.array([float(v)]) for v in range(1, 61)]

    def cdf(k: int) -> float:
        return sum(math.comb(60, j) * 0.9**j * 0.1 ** (60 - j) for j in range(k + 1))

    assert cdf(56) < 0.9 <= cdf(57)
    assert source_half_width(sixty, 0.95, 0.9) == (58.0, 0.9)
    assert source_half_width([], 0.95, 0.9) == (math.inf, 0.0)


def _cols(vmaf, pred, folds, src=None):
    n = len(vmaf)
    src = src if src is not None else folds
    return {
        "row": np.arange(n),
        "src": np.asarray(src),
        "encoder": np.array(["libx264"] * n),
        "preset": np.array(["medium"] * n),
        "cq": np.full(n, 30.0),
        "frame_index": np.arange(n),
        "vmaf": np.asarray(vmaf, float),
        "pred": np.asarray(pred, float),
        "fold": np.asarray(folds),
    }


def test_ensemble_mean_over_seeds_and_per_fold_uses_other_folds():
    n_a, n_b = 40, 40
    vmaf = np.full(n_a + n_b, 50.0)
    folds = ["A"] * n_a + ["B"] * n_b
    # Fold A residuals tiny, fold B residuals large: A's interval (from B) covers all of A,
    # B's interval (calibrated on A only) covers none of B.
    err_a, err_b = np.linspace(0.01, 0.1, n_a), np.linspace(5, 6, n_b)
    err = np.concatenate([err_a, err_b])
    s0 = _cols(vmaf, vmaf + err + 1.0, folds)
    s1 = _cols(vmaf, vmaf + err - 1.0, folds)  # the seed mean cancels the +-1 offsets
    out = calibrate({0: s0, 1: s1}, 0.9)
    summary = out["summary"]
    per_fold = {f["fold"]: f for f in summary["per_fold"]}
    # 90 % of 40 frames: the 36th smallest residual of each source
    assert per_fold["A"]["frame_coverage"] == 1.0 and per_fold["A"]["frame_half_width"] == pytest.approx(err_b[35])
    assert per_fold["B"]["frame_coverage"] == 0.0 and per_fold["B"]["frame_half_width"] == pytest.approx(err_a[35])
    # two seeds: too few to scale by their spread (`SPREAD_MIN_SEEDS`), so the scores are absolute
    assert out["file"]["ensemble"]["normalisation"] == {"kind": "none"}
    sources = out["file"]["ensemble"]["frame"]["sources"]
    np.testing.assert_allclose(sources["A"], err_a, atol=1e-12)
    np.testing.assert_allclose(sources["B"], err_b, atol=1e-12)
    # single member (seed 0) keeps its +1 offset
    np.testing.assert_allclose(out["file"]["single_member"]["frame"]["sources"]["B"], err_b + 1.0, atol=1e-12)
    # two sources, level 0.9: k = min(2, ceil(3 * 0.9)) = 2, the larger source quantile; level 2 / 3
    assert summary["frame"]["half_width"] == pytest.approx(err_b[35], abs=1e-12)
    assert summary["source_level"] == pytest.approx(0.1 ** (1 / 2))
    assert summary["fold_frame_coverage_min"] == 0.0 and summary["fold_frame_coverage_mean"] == 0.5
    assert summary["fold_frame_hit_rate"] == 0.5


def test_label_free_scores_take_the_worse_of_labelled_and_unlabelled():
    vmaf = np.full(4, 50.0)
    cols = _cols(vmaf, vmaf + np.array([1.0, -1.0, 0.5, 0.0]), ["A", "A", "B", "B"])
    cols["pred_unlabelled"] = vmaf + np.array([0.0, 3.0, 0.0, -2.0])
    out = calibrate({0: cols}, 0.5, label_free=True)
    assert out["file"]["ensemble"]["frame"]["sources"] == {"A": [1.0, 3.0], "B": [0.5, 2.0]}
    labelled_only = calibrate({0: cols}, 0.5)
    assert labelled_only["file"]["ensemble"]["frame"]["sources"] == {"A": [1.0, 1.0], "B": [0.0, 0.5]}
    del cols["pred_unlabelled"]
    with pytest.raises(InputError, match="no pred_unlabelled"):
        calibrate({0: cols}, 0.5, label_free=True)


def test_clip_level_uses_cell_means():
    vmaf = np.array([10.0, 20.0, 30.0, 40.0])
    pred = np.array([12.0, 18.0, 30.0, 44.0])  # cell 1: mean err 0 (+2, -2); cell 2: mean err +2
    cols = _cols(vmaf, pred, ["A", "A", "B", "B"])
    cols["cq"] = np.array([20.0, 20.0, 30.0, 30.0])
    out = calibrate({0: cols}, 0.5)
    assert out["file"]["ensemble"]["clip"]["sources"] == {"A": [0.0], "B": [2.0]}
    assert out["summary"]["clip"]["n"] == 2


def test_misaligned_seeds_are_input_errors():
    a = _cols([1.0, 2.0], [1.0, 2.0], ["A", "B"])
    b = _cols([1.0, 2.5], [1.0, 2.0], ["A", "B"])
    with pytest.raises(InputError, match="vmaf targets differ"):
        calibrate({0: a, 1: b})
    c = _cols([1.0, 2.0], [1.0, 2.0], ["B", "A"])
    with pytest.raises(InputError, match="fold assignment"):
        calibrate({0: a, 1: c})


def test_prediction_files(tmp_path):
    corpus = make_corpus(tmp_path / "c.jsonl")
    loso = tmp_path / "loso"
    loso.mkdir()
    assert calibrate_from_loso(loso, [0, 1]) is None
    write_predictions(loso, 0, corpus)
    with pytest.raises(InputError, match=r"missing for seeds \[1\]"):
        calibrate_from_loso(loso, [0, 1])
    write_predictions(loso, 1, corpus)
    out = calibrate_from_loso(loso, [0, 1])
    assert out["summary"]["frame"]["n"] == 72 and out["summary"]["clip"]["n"] == 9
    assert [p["seed"] for p in out["summary"]["prediction_files"]] == [0, 1]
    lines = (loso / "loso_seed1.predictions.jsonl").read_text().splitlines()
    row = json.loads(lines[3])
    row.pop("pred")
    lines[3] = json.dumps(row)
    (loso / "loso_seed1.predictions.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"loso_seed1.predictions.jsonl:4: missing keys pred"):
        calibrate_from_loso(loso, [0, 1])


def test_a_parquet_prediction_file_is_not_one_vmafkit_reads(tmp_path):
    """vmafkit writes held-out predictions as JSON lines only; a Parquet copy is not looked at."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    corpus = make_corpus(tmp_path / "c.jsonl")
    loso = tmp_path / "loso"
    loso.mkdir()
    jsonl = write_predictions(loso, 0, corpus)
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    jsonl.unlink()
    pq.write_table(pa.Table.from_pylist(rows), loso / "loso_seed0.predictions.parquet")
    assert prediction_file(loso, 0) is None
    assert calibrate_from_loso(loso, [0]) is None


def _cols_edges(vmaf, pred, folds, *, src=None, encoder=None, preset=None, cq=None, unlabelled=None):
    n = len(vmaf)
    out = {
        "row": np.arange(n),
        "src": np.asarray(src if src is not None else folds),
        "encoder": np.asarray(encoder if encoder is not None else ["libx264"] * n),
        "preset": np.asarray(preset if preset is not None else ["medium"] * n),
        "cq": np.asarray(cq if cq is not None else [30.0] * n, float),
        "frame_index": np.arange(n),
        "vmaf": np.asarray(vmaf, float),
        "pred": np.asarray(pred, float),
        "fold": np.asarray(folds),
    }
    if unlabelled is not None:
        out["pred_unlabelled"] = np.asarray(unlabelled, float)
    return out


def _oracle_half_width(per_source, coverage, level=T.SOURCE_LEVEL):
    qs = sorted(float(np.quantile(v, coverage, method="inverted_cdf")) for v in per_source if len(v))
    if not qs:
        return math.inf, 0.0
    # the tolerance rank by hand: the smallest k with P(Binomial(S, level) <= k - 1) >= 0.9
    n = len(qs)
    for k in range(1, n + 1):
        if sum(math.comb(n, j) * level**j * (1 - level) ** (n - j) for j in range(k)) >= T.SOURCE_CONFIDENCE:
            return qs[k - 1], level
    return qs[-1], (1 - T.SOURCE_CONFIDENCE) ** (1 / n)


# ----------------------------------------------------------------------------- ranks and quantiles


@pytest.mark.parametrize("coverage", [0.0, 1.0, -0.5, 2.0])
def test_calibrate_refuses_coverage_outside_the_open_interval(coverage):
    with pytest.raises(InputError) as info:
        calibrate({0: _cols_edges([1.0, 2.0], [1.0, 2.0], ["A", "B"])}, coverage)
    assert str(info.value) == f"coverage must be in (0, 1), got {coverage}"


def test_guarantee_text():
    assert guarantee_text(0.95, 0.75, 3) == (
        "with 90% confidence (a tolerance bound over 3 LOSO sources), at least 75% of new sources have at "
        "least 95% of their in-domain frames (clips) inside the interval; residuals of the fold models, "
        "served around the full-corpus refit (jackknife: no finite-sample guarantee for the refit itself)"
    )


# ----------------------------------------------------------------------------- prediction files


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _row(i, **over):
    return {
        "row": i,
        "src": "a",
        "encoder": "libx264",
        "preset": "medium",
        "cq": 30,
        "frame_index": i,
        "vmaf": 50.0,
        "pred": 51.0,
        "fold": "a",
        **over,
    }


def test_prediction_file_is_the_jsonl_train_writes(tmp_path):
    assert prediction_file(tmp_path, 3) is None
    (tmp_path / "loso_seed3.predictions.parquet").write_bytes(b"")  # not a form vmafkit writes
    assert prediction_file(tmp_path, "3") is None
    (tmp_path / "loso_seed3.predictions.jsonl").write_text("")
    assert prediction_file(tmp_path, 3) == tmp_path / "loso_seed3.predictions.jsonl"
    (tmp_path / "loso_seed4.predictions.jsonl").mkdir()  # a folder is not a prediction file
    assert prediction_file(tmp_path, 4) is None


def test_read_predictions_sorts_by_row_and_types_the_columns(tmp_path):
    path = _write_jsonl(tmp_path / "p.jsonl", [_row(2, src=7, vmaf=10), _row(0, preset=4), _row(1, cq=25.5)])
    cols = read_predictions(path)
    assert cols["row"].tolist() == [0, 1, 2] and cols["row"].dtype == np.int64
    assert cols["frame_index"].tolist() == [0, 1, 2] and cols["frame_index"].dtype == np.int64
    assert cols["src"].tolist() == ["a", "a", "7"] and cols["preset"].tolist() == ["4", "medium", "medium"]
    assert cols["cq"].tolist() == [30.0, 25.5, 30.0] and cols["cq"].dtype == np.float64
    assert cols["vmaf"].tolist() == [50.0, 50.0, 10.0] and cols["vmaf"].dtype == np.float64
    assert cols["pred"].dtype == np.float64 and "pred_unlabelled" not in cols
    assert set(cols) == {"row", "src", "encoder", "preset", "cq", "frame_index", "vmaf", "pred", "fold", "rung"}
    assert cols["rung"].tolist() == ["native"] * 3  # no rung key: one rung


def test_read_predictions_with_unlabelled_predictions(tmp_path):
    path = _write_jsonl(tmp_path / "p.jsonl", [_row(1, pred_unlabelled=3), _row(0, pred_unlabelled=4.5)])
    cols = read_predictions(path)
    assert cols["pred_unlabelled"].tolist() == [4.5, 3.0] and cols["pred_unlabelled"].dtype == np.float64
    path = _write_jsonl(tmp_path / "p.jsonl", [_row(0, pred_unlabelled=1.0), _row(1)])
    with pytest.raises(InputError) as info:
        read_predictions(path)
    assert str(info.value) == f"{path}: some rows have pred_unlabelled and some do not"


@pytest.mark.parametrize(
    "key, value",
    [
        ("vmaf", "50"),
        ("pred", None),
        ("cq", True),
        ("vmaf", math.nan),
        ("pred", math.inf),
        ("pred_unlabelled", None),
        ("pred_unlabelled", False),
    ],
)
def test_read_predictions_refuses_a_non_finite_number(tmp_path, key, value):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(_row(0)) + "\n" + json.dumps(_row(1, **{key: value}), allow_nan=True) + "\n")
    if value is not None and isinstance(value, float) and not math.isfinite(value):
        with pytest.raises(InputError, match=r"p\.jsonl:2: line is not valid JSON"):  # strict JSON: no NaN/inf
            read_predictions(path)
        return
    with pytest.raises(InputError) as info:
        read_predictions(path)
    assert str(info.value) == f"{path}:2: {key} must be a finite number, got {value!r}"


@pytest.mark.parametrize(
    "key, value", [("row", -1), ("row", 1.0), ("row", True), ("row", "1"), ("frame_index", -3), ("frame_index", 2.5)]
)
def test_read_predictions_refuses_a_bad_index(tmp_path, key, value):
    path = _write_jsonl(tmp_path / "p.jsonl", [_row(0), _row(1, **{key: value})])
    with pytest.raises(InputError) as info:
        read_predictions(path)
    assert str(info.value) == f"{path}:2: {key} must be a non-negative integer, got {value!r}"


def test_read_predictions_structure_errors(tmp_path):
    path = _write_jsonl(
        tmp_path / "p.jsonl", [_row(0), {k: v for k, v in _row(1).items() if k not in ("pred", "fold")}]
    )
    with pytest.raises(InputError) as info:
        read_predictions(path)
    assert str(info.value) == f"{path}:2: missing keys pred, fold"
    path = _write_jsonl(tmp_path / "p.jsonl", [_row(0), _row(1), _row(0)])
    with pytest.raises(InputError) as info:
        read_predictions(path)
    assert str(info.value) == f"{path}: prediction file repeats a row index (each row must be held out exactly once)"
    path.write_text("\n")
    with pytest.raises(InputError) as info:
        read_predictions(path)
    assert str(info.value) == f"{path}: prediction file has no rows"
    with pytest.raises(InputError, match=r"nope\.jsonl: prediction file not found$"):
        read_predictions(tmp_path / "nope.jsonl")


# ----------------------------------------------------------------------------- alignment


def test_alignment_errors_name_the_seed_and_file(tmp_path):
    a = _cols_edges([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], ["A", "B", "B"])
    short = {k: v[:2] for k, v in a.items()}
    with pytest.raises(InputError) as info:
        calibrate({0: a, 4: short}, 0.5, {4: tmp_path / "s4.jsonl"})
    assert (
        str(info.value)
        == f"{tmp_path / 's4.jsonl'}: rows differ from seed 0's prediction file (seeds must cover the same corpus)"
    )
    shifted = dict(a, row=np.array([0, 1, 5]))
    with pytest.raises(InputError) as info:
        calibrate({0: a, 4: shifted}, 0.5)
    assert str(info.value) == "seed 4: rows differ from seed 0's prediction file (seeds must cover the same corpus)"
    with pytest.raises(InputError) as info:
        calibrate({2: a, 5: dict(a, vmaf=a["vmaf"] + np.array([0.0, 2e-9, 0.0]))}, 0.5)
    assert str(info.value) == "seed 5: vmaf targets differ from seed 2's prediction file"
    out = calibrate({2: a, 5: dict(a, vmaf=a["vmaf"] + np.array([0.0, 5e-10, 0.0]))}, 0.5)  # within 1e-9
    assert out["summary"]["seeds"] == [2, 5]
    with pytest.raises(InputError) as info:
        calibrate({0: a, 1: dict(a, fold=np.array(["A", "B", "A"]))}, 0.5, {1: tmp_path / "s1.jsonl"})
    assert str(info.value) == f"{tmp_path / 's1.jsonl'}: fold assignment differs from seed 0's prediction file"


def test_calibrate_input_errors(tmp_path):
    with pytest.raises(InputError, match=r"^no prediction files to calibrate on$"):
        calibrate({}, 0.9)
    a = _cols_edges([1.0, 2.0], [1.0, 2.0], ["A", "B"])
    with pytest.raises(InputError, match=r"^coverage must be in \(0, 1\), got 1\.0$"):
        calibrate({0: a}, 1.0)
    free = dict(a, pred_unlabelled=np.array([1.0, 2.0]))
    with pytest.raises(InputError) as info:
        calibrate(
            {0: free, 1: a, 2: a}, 0.5, {0: tmp_path / "s0", 1: tmp_path / "s1", 2: tmp_path / "s2"}, label_free=True
        )
    assert (
        str(info.value)
        == f"{tmp_path / 's1'}: the recipe is label-free but the prediction file has no pred_unlabelled column"
    )
    with pytest.raises(InputError) as info:
        calibrate({0: a}, 0.5, label_free=True)
    assert str(info.value) == "the recipe is label-free but the prediction file has no pred_unlabelled column"


# ----------------------------------------------------------------------------- the whole calibration


def test_calibrate_three_sources_by_hand_and_by_numpy():
    """Sources A (4 frames), B (5), C (3); 2 seeds whose mean is the prediction.

    Residuals |vmaf - mean pred|: A 1 2 3 4, B 0.5 1 1.5 2 10, C 6 7 8. At coverage 0.75 each
    source's quantile (smallest half-width covering >= 75 %): A 3 (3 of 4), B 2 (4 of 5), C 8
    (3 of 3: ceil(2.25) = 3). Across S = 3 sources at level 0.9: k = min(3, ceil(3.6)) = 3 ->
    8, attained level 3 / 4. Per fold, the half-width of the other two (k = min(2, ceil(2.7)) =
    2, the larger): A from {2, 8} = 8 -> covers 4/4; B from {3, 8} = 8 -> 4/5; C from {3, 2} = 3
    -> 0/3."""
    res = {"A": [1.0, 2.0, 3.0, 4.0], "B": [0.5, 1.0, 1.5, 2.0, 10.0], "C": [6.0, 7.0, 8.0]}
    folds = [f for f, v in res.items() for _ in v]
    err = np.concatenate([v for v in res.values()])
    n = err.size
    vmaf = 20.0 + 5.0 * np.arange(n)  # integers: every residual below is exact in binary
    sign = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)  # residuals of both signs
    cq = np.arange(n, dtype=float)  # every frame its own clip: clip residuals = frame residuals
    s0 = _cols_edges(vmaf, vmaf + sign * err + 0.25, folds, cq=cq)
    s1 = _cols_edges(vmaf, vmaf + sign * err - 0.25, folds, cq=cq)
    out = calibrate({1: s1, 0: s0}, 0.75)
    summary, file = out["summary"], out["file"]
    assert summary["frame"]["half_width"] == 8.0 and summary["source_level"] == pytest.approx(0.1 ** (1 / 3))
    assert (summary["frame"]["half_width"], summary["source_level"]) == _oracle_half_width(list(res.values()), 0.75)
    per_fold = {f["fold"]: f for f in summary["per_fold"]}
    assert [f["fold"] for f in summary["per_fold"]] == ["A", "B", "C"]
    assert (per_fold["A"]["frame_half_width"], per_fold["A"]["frame_coverage"]) == (8.0, 1.0)
    assert (per_fold["B"]["frame_half_width"], per_fold["B"]["frame_coverage"]) == (8.0, 0.8)
    assert (per_fold["C"]["frame_half_width"], per_fold["C"]["frame_coverage"]) == (3.0, 0.0)
    # two seeds: too few to scale by their spread (`SPREAD_MIN_SEEDS`), so the scores are absolute
    assert summary["normalisation"] == {"kind": "none"}
    assert [per_fold[f]["frame_source_quantile"] for f in "ABC"] == [3.0, 2.0, 8.0]
    assert [per_fold[f]["n_frames"] for f in "ABC"] == [4, 5, 3] == [per_fold[f]["n_clips"] for f in "ABC"]
    assert summary["fold_frame_coverage_min"] == 0.0
    assert summary["fold_frame_coverage_mean"] == pytest.approx((1.0 + 0.8 + 0.0) / 3)
    assert summary["fold_frame_hit_rate"] == pytest.approx(2 / 3)  # A and B reach 0.75
    assert summary["fold_clip_coverage_min"] == 0.0 and summary["fold_clip_coverage_mean"] == pytest.approx(0.6)
    frame = summary["frame"]
    assert set(frame) == {
        "n",
        "n_sources",
        "half_width",
        "source_level",
        "half_widths",
        "pooled_coverage",
        "fold_coverage_min",
        "fold_hit_rate",
        "sources_below",
        "sources_below_allowed",
        "multiplier",
        "half_width_p90",
    }
    # absolute scores: the multiplier is the half-width
    assert frame["multiplier"] == frame["half_width"] == frame["half_width_p90"] == 8.0
    assert frame["n"] == 12 and frame["n_sources"] == 3
    # C (0.0) is below 0.75 at the interval of the others; a true guarantee at the attained level
    # l = 0.1 ** (1 / 3) leaves Binomial(3, 1 - l) sources below: P(<= 2) = 1 - (1 - l) ** 3 = 0.846
    # < 0.95, so up to 3 are allowed
    assert frame["sources_below"] == ["C"]
    miss = 1 - 0.1 ** (1 / 3)
    assert 1 - miss**3 < 0.95 and frame["sources_below_allowed"] == 3
    assert frame["pooled_coverage"] == pytest.approx(np.mean(err <= 8.0))  # 11 of 12 (B's 10 is out)
    assert frame["fold_coverage_min"] == 0.0 and frame["fold_hit_rate"] == pytest.approx(2 / 3)
    assert list(frame["half_widths"]) == ["0.5", "0.8", "0.9", "0.95", "0.99"]
    for c in T.REPORTED_COVERAGES:
        assert frame["half_widths"][f"{c:g}"] == _oracle_half_width(list(res.values()), c)[0]
    # the file keeps every source's sorted residuals, for the ensemble and for the lowest seed alone
    assert file["ensemble"]["frame"] == {"n": 12, "sources": {f: sorted(v) for f, v in res.items()}}
    assert file["ensemble"]["seeds"] == [0, 1] and file["single_member"]["seed"] == 0
    one = file["single_member"]["frame"]["sources"]
    np.testing.assert_allclose(np.sort(np.concatenate(list(one.values()))), np.sort(np.abs(sign * err + 0.25)))
    assert summary["single_member"]["seed"] == 0 and set(summary["single_member"]) == {"seed", "frame", "clip"}
    # the fixed fields
    assert summary["method"] == METHOD and summary["coverage"] == 0.75 and summary["source_level_target"] == 0.9
    assert summary["n_sources"] == 3 and summary["label_free"] is False and summary["seeds"] == [0, 1]
    assert summary["guarantee"] == guarantee_text(0.75, summary["source_level"], 3)
    assert summary["prediction_files"] == []
    assert file["schema_version"] == 2 and file["kind"] == "per-source-conformal-abs-residual"
    assert file["method"] == METHOD and file["default_coverage"] == 0.75 and file["source_level"] == T.SOURCE_LEVEL
    assert file["label_free"] is False and file["summary"] is summary
    assert set(file) == {
        "schema_version",
        "kind",
        "method",
        "default_coverage",
        "source_level",
        "label_free",
        "ensemble",
        "single_member",
        "summary",
    }
    assert "frame_coverage_labelled" not in summary["per_fold"][0]


def test_calibrate_label_free_reports_both_coverages():
    """Frames A: labelled residuals 1 1, unlabelled 0 5; B: 2 2 / 2 0. Scores = the larger:
    A 1 5, B 2 2. Coverage 0.5: A's quantile 1, B's 2; fold A's half-width (from B) 2: covers
    1 of 2 scores, 2 of 2 labelled, 1 of 2 unlabelled; fold B's (from A) 1: 0 / 0 / 1 of 2."""
    vmaf = np.full(4, 50.0)
    cols = _cols_edges(
        vmaf,
        vmaf + np.array([1.0, -1.0, 2.0, -2.0]),
        ["A", "A", "B", "B"],
        cq=[1.0, 2.0, 3.0, 4.0],
        unlabelled=vmaf + np.array([0.0, 5.0, 2.0, 0.0]),
    )
    out = calibrate({0: cols}, 0.5, label_free=True)
    per_fold = {f["fold"]: f for f in out["summary"]["per_fold"]}
    assert (
        per_fold["A"]["frame_coverage"],
        per_fold["A"]["frame_coverage_labelled"],
        per_fold["A"]["frame_coverage_unlabelled"],
    ) == (0.5, 1.0, 0.5)
    assert (
        per_fold["B"]["frame_coverage"],
        per_fold["B"]["frame_coverage_labelled"],
        per_fold["B"]["frame_coverage_unlabelled"],
    ) == (0.0, 0.0, 0.5)
    assert out["summary"]["label_free"] is True and out["file"]["label_free"] is True
    assert out["file"]["ensemble"]["clip"]["sources"] == {"A": [1.0, 5.0], "B": [2.0, 2.0]}


def test_clips_are_cells_of_source_encoder_preset_and_cq():
    """Eight frames; each label alone splits a cell: the clip residual is |mean vmaf - mean pred|
    of the frames sharing (src, encoder, preset, cq)."""
    vmaf = np.array([10.0, 20.0, 10.0, 20.0, 10.0, 20.0, 10.0, 20.0])
    pred = vmaf + np.array([1.0, 3.0, 1.0, -1.0, 2.0, 2.0, -4.0, 0.0])
    folds = ["A"] * 8
    same = _cols_edges(vmaf, pred, folds)
    assert calibrate({0: same}, 0.5)["file"]["ensemble"]["clip"]["sources"] == {"A": [0.5]}  # |(1+3+1-1+2+2-4+0)/8|
    for field, values in (
        ("src", ["s", "s", "t", "t", "s", "s", "t", "t"]),
        ("encoder", ["x", "x", "y", "y", "x", "x", "y", "y"]),
        ("preset", ["p", "p", "q", "q", "p", "p", "q", "q"]),
        ("cq", [20.0, 20.0, 25.0, 25.0, 20.0, 20.0, 25.0, 25.0]),
    ):
        split = _cols_edges(vmaf, pred, folds, **{field: values})
        # cell 1: frames 0 1 4 5 -> mean error (1 + 3 + 2 + 2) / 4 = 2; cell 2: 2 3 6 7 -> (1 - 1 - 4 + 0) / 4 = -1
        assert calibrate({0: split}, 0.5)["file"]["ensemble"]["clip"]["sources"] == {"A": [1.0, 2.0]}, field


def test_a_fold_is_the_group_not_the_source_name():
    """Two sources of one group are one fold; cells keep their fold."""
    vmaf = np.array([10.0, 10.0, 10.0, 10.0])
    cols = _cols_edges(
        vmaf,
        vmaf + np.array([1.0, 2.0, 3.0, 4.0]),
        ["G", "G", "H", "H"],
        src=["a", "b", "c", "c"],
        cq=[1.0, 2.0, 3.0, 3.0],
    )
    out = calibrate({0: cols}, 0.5)
    assert out["file"]["ensemble"]["frame"]["sources"] == {"G": [1.0, 2.0], "H": [3.0, 4.0]}
    assert out["file"]["ensemble"]["clip"]["sources"] == {"G": [1.0, 2.0], "H": [3.5]}
    assert out["summary"]["n_sources"] == 2 and out["summary"]["clip"]["n"] == 3


def test_one_source_has_no_interval_for_itself():
    cols = _cols_edges([1.0, 2.0], [1.5, 2.5], ["A", "A"])
    out = calibrate({0: cols}, 0.5)
    (fold,) = out["summary"]["per_fold"]
    assert fold["frame_half_width"] is None and fold["frame_coverage"] == 1.0  # inf covers everything
    assert out["summary"]["frame"]["half_width"] == 0.5 and out["summary"]["source_level"] == pytest.approx(0.1)


def test_calibrate_from_loso_files(tmp_path):
    corpus = make_corpus(tmp_path / "c.jsonl")
    loso = tmp_path / "loso"
    loso.mkdir()
    for seed in (2, 0):
        write_predictions(loso, seed, corpus)
    out = calibrate_from_loso(loso, [2, "0"], 0.9)
    files = out["summary"]["prediction_files"]
    assert files == [
        {
            "seed": s,
            "path": f"loso_seed{s}.predictions.jsonl",
            "sha256": hashlib.sha256((loso / f"loso_seed{s}.predictions.jsonl").read_bytes()).hexdigest(),
        }
        for s in (0, 2)
    ]
    assert out["summary"]["coverage"] == 0.9 and out["summary"]["label_free"] is False
    assert calibrate_from_loso(loso, [0, 2], 0.9, label_free=True)["summary"]["label_free"] is True
    with pytest.raises(InputError) as info:
        calibrate_from_loso(loso, [0, 1, 2, 3])
    assert str(info.value) == (
        f"{loso}: held-out prediction files missing for seeds [1, 3] (expected loso_seed{{N}}.predictions.jsonl)"
    )
    assert calibrate_from_loso(loso, [5, 6]) is None


def test_a_score_equal_to_the_half_width_is_inside():
    """Folds A (scores 1 2) and B (2 3), coverage 0.5: A's quantile 1, B's 2. A's half-width
    (from B) is 2: both of A's scores are inside (2 <= 2), coverage 1.0; B's (from A) is 1: none
    of B's, 0.0. Fold A reaches 0.5 and B does not: hit rate 1/2 (a fold exactly at the level
    counts: C below with coverage 0.5)."""
    vmaf = np.full(4, 10.0)
    cols = _cols_edges(vmaf, vmaf + np.array([1.0, 2.0, 2.0, 3.0]), ["A", "A", "B", "B"], cq=[1.0, 2.0, 3.0, 4.0])
    out = calibrate({0: cols}, 0.5)
    per_fold = {f["fold"]: f for f in out["summary"]["per_fold"]}
    assert (per_fold["A"]["frame_half_width"], per_fold["A"]["frame_coverage"]) == (2.0, 1.0)
    assert (per_fold["B"]["frame_half_width"], per_fold["B"]["frame_coverage"]) == (1.0, 0.0)
    assert (per_fold["A"]["clip_half_width"], per_fold["A"]["clip_coverage"]) == (2.0, 1.0)
    assert out["summary"]["fold_frame_hit_rate"] == 0.5
    # three folds: C's half-width (the k-th of A's 1 and B's 2 -> 2) covers exactly half of C (1 and 3)
    cols = _cols_edges(
        np.full(6, 10.0),
        10.0 + np.array([1.0, 2.0, 2.0, 3.0, 1.0, 3.0]),
        ["A", "A", "B", "B", "C", "C"],
        cq=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        unlabelled=10.0 + np.array([1.0, 2.0, 2.0, 3.0, 0.5, 1.5]),
    )
    # scores (the larger of labelled and unlabelled): A 1 2, B 2 3, C 1 3; quantiles 1, 2, 1;
    # A from {2, 1} -> 2 (covers 2 of 2), B from {1, 1} -> 1 (0 of 2), C from {1, 2} -> 2 (1 of 2)
    out = calibrate({0: cols}, 0.5, label_free=True)
    per_fold = {f["fold"]: f for f in out["summary"]["per_fold"]}
    assert [per_fold[f]["frame_coverage"] for f in "ABC"] == [1.0, 0.0, 0.5]
    assert per_fold["C"]["frame_half_width"] == 2.0
    assert per_fold["A"]["frame_coverage_labelled"] == 1.0 and per_fold["A"]["frame_coverage_unlabelled"] == 1.0
    assert per_fold["C"]["frame_coverage_labelled"] == 0.5 and per_fold["C"]["frame_coverage_unlabelled"] == 1.0
    assert out["summary"]["frame"]["fold_hit_rate"] == pytest.approx(2 / 3)  # A (1.0) and C (0.5 = the level)


def test_read_predictions_columns_are_float64_even_for_integers(tmp_path):
    rows = [
        _row(i, vmaf=50 + i, pred=49, cq=30, pred_unlabelled=48, encoder=["libx264", "libx265"][i % 2])
        for i in range(3)
    ]
    cols = read_predictions(_write_jsonl(tmp_path / "p.jsonl", rows))
    for key in ("vmaf", "pred", "cq", "pred_unlabelled"):
        assert cols[key].dtype == np.float64, key
    assert cols["encoder"].tolist() == ["libx264", "libx265", "libx264"]
    assert cols["vmaf"].tolist() == [50.0, 51.0, 52.0]


def test_clip_cells_do_not_merge_names_containing_the_separator():
    vmaf = np.full(4, 10.0)
    cols = _cols_edges(
        vmaf,
        vmaf + np.array([1.0, 1.0, 3.0, 3.0]),
        ["F"] * 4,
        src=["a|b", "a|b", "a", "a"],
        encoder=["c", "c", "b|c", "b|c"],
    )
    # two different clips (mean errors 1 and 3), not one (mean error 2)
    assert calibrate({0: cols}, 0.5)["file"]["ensemble"]["clip"]["sources"] == {"F": [1.0, 3.0]}


def test_clip_cells_do_not_merge_encoder_and_preset_names_containing_the_separator():
    vmaf = np.full(4, 10.0)
    cols = _cols_edges(
        vmaf,
        vmaf + np.array([1.0, 1.0, 3.0, 3.0]),
        ["F"] * 4,
        encoder=["x|y", "x|y", "x", "x"],
        preset=["z", "z", "y|z", "y|z"],
    )
    assert calibrate({0: cols}, 0.5)["file"]["ensemble"]["clip"]["sources"] == {"F": [1.0, 3.0]}


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
