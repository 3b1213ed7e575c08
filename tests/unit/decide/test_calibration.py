"""Conformal interval calibration from the LOSO held-out predictions."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmafkit.decide.calibration import calibrate, calibrate_from_loso
from vmafkit.errors import InputError
from vmafkit.train.metrics import conformal_quantile, source_half_width, source_quantile
from vmafkit.train.predictions import prediction_file

from ...factories import make_corpus, write_predictions


def test_conformal_quantile_ranks():
    scores = np.arange(1, 20, dtype=float)  # 1..19
    assert conformal_quantile(scores, 0.95) == 19.0  # k = ceil(20 * 0.95) = 19 exactly (no float overshoot to 20)
    assert conformal_quantile(scores[:18], 0.95) == math.inf  # k = 19 > n = 18
    assert conformal_quantile(np.arange(1, 100, dtype=float)[::-1], 0.9) == 90.0  # k = ceil(100 * 0.9) = 90
    with pytest.raises(InputError, match=r"coverage must be in \(0, 1\), got 1.0"):
        calibrate({0: _cols([1.0, 2.0], [1.0, 2.0], ["A", "B"])}, 1.0)


def _brute_force_rank_value(scores, k):
    """The smallest score s with at least k scores <= s (the definition, O(n^2))."""
    return min(s for s in scores if sum(t <= s for t in scores) >= k)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(min_value=0, max_value=50), min_size=1, max_size=60), st.floats(min_value=0.05, max_value=0.99)
)
def test_quantile_is_the_smallest_score_reaching_the_conformal_count(scores, coverage):
    q = conformal_quantile(np.array(scores), coverage)
    n = len(scores)
    k = math.ceil((n + 1) * coverage - 1e-9)  # the split-conformal count, Vovk et al. / Lei et al. 2018
    if k > n:
        assert q == math.inf
    else:
        assert q == _brute_force_rank_value(scores, k)


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
