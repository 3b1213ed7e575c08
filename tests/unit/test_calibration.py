"""Conformal interval calibration from the LOSO held-out predictions."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vmafkit.calibration import calibrate, calibrate_from_loso, conformal_quantile, conformal_rank, read_predictions
from vmafkit.errors import InputError

from .decide_helpers import make_corpus, write_predictions


def test_conformal_rank_and_quantile():
    assert conformal_rank(19, 0.95) == 19  # ceil(20 * 0.95) = 19, exactly (no float overshoot to 20)
    assert conformal_rank(99, 0.9) == 90
    scores = np.arange(1, 20, dtype=float)  # 1..19
    assert conformal_quantile(scores, 0.95) == 19.0
    assert conformal_quantile(scores[:18], 0.95) == math.inf  # k = 19 > n = 18
    assert conformal_quantile(np.arange(1, 100, dtype=float)[::-1], 0.9) == 90.0
    with pytest.raises(InputError):
        conformal_rank(10, 1.0)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=50), min_size=1, max_size=200),
       st.floats(min_value=0.05, max_value=0.99))
def test_quantile_covers_at_least_the_level(scores, coverage):
    q = conformal_quantile(np.array(scores), coverage)
    n = len(scores)
    if math.isfinite(q):
        inside = np.mean(np.array(scores) <= q)
        assert inside >= math.ceil((n + 1) * coverage - 1e-9) / n - 1e-12 >= coverage - 1e-12
    else:
        assert math.ceil((n + 1) * coverage - 1e-9) > n


def _cols(vmaf, pred, folds, src=None):
    n = len(vmaf)
    src = src if src is not None else folds
    return {"row": np.arange(n), "src": np.asarray(src), "encoder": np.array(["libx264"] * n),
            "preset": np.array(["medium"] * n), "cq": np.full(n, 30.0), "frame_index": np.arange(n),
            "vmaf": np.asarray(vmaf, float), "pred": np.asarray(pred, float), "fold": np.asarray(folds)}


def test_ensemble_mean_over_seeds_and_per_fold_uses_other_folds():
    n_a, n_b = 40, 40
    vmaf = np.full(n_a + n_b, 50.0)
    folds = ["A"] * n_a + ["B"] * n_b
    # Fold A residuals tiny, fold B residuals large: A's interval (from B) covers all of A,
    # B's interval (calibrated on A only) covers none of B.
    err = np.concatenate([np.linspace(0.01, 0.1, n_a), np.linspace(5, 6, n_b)])
    s0 = _cols(vmaf, vmaf + err + 1.0, folds)
    s1 = _cols(vmaf, vmaf + err - 1.0, folds)  # the seed mean cancels the +-1 offsets
    out = calibrate({0: s0, 1: s1}, 0.9)
    summary = out["summary"]
    per_fold = {f["fold"]: f for f in summary["per_fold"]}
    assert per_fold["A"]["frame_coverage"] == 1.0 and per_fold["A"]["frame_half_width"] >= 5.0
    assert per_fold["B"]["frame_coverage"] == 0.0 and per_fold["B"]["frame_half_width"] <= 0.1 + 1e-12
    residuals = np.array(out["file"]["ensemble"]["frame"]["residuals"])
    np.testing.assert_allclose(residuals, np.sort(err), atol=1e-12)
    # single member (seed 0) keeps its +1 offset
    single = np.array(out["file"]["single_member"]["frame"]["residuals"])
    np.testing.assert_allclose(single, np.sort(err + 1.0), atol=1e-12)
    assert summary["frame"]["half_width"] == pytest.approx(conformal_quantile(err, 0.9), abs=1e-12)
    assert summary["fold_frame_coverage_min"] == 0.0 and summary["fold_frame_coverage_mean"] == 0.5


def test_clip_level_uses_cell_means():
    vmaf = np.array([10.0, 20.0, 30.0, 40.0])
    pred = np.array([12.0, 18.0, 30.0, 44.0])  # cell 1: mean err 0 (+2, -2); cell 2: mean err +2
    cols = _cols(vmaf, pred, ["A", "A", "B", "B"])
    cols["cq"] = np.array([20.0, 20.0, 30.0, 30.0])
    out = calibrate({0: cols}, 0.5)
    assert out["file"]["ensemble"]["clip"]["residuals"] == [0.0, 2.0]
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


def test_parquet_prediction_file(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    corpus = make_corpus(tmp_path / "c.jsonl")
    loso = tmp_path / "loso"
    loso.mkdir()
    jsonl = write_predictions(loso, 0, corpus)
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    jsonl.unlink()
    pq.write_table(pa.Table.from_pylist(rows), loso / "loso_seed0.predictions.parquet")
    cols = read_predictions(loso / "loso_seed0.predictions.parquet")
    assert cols["row"].tolist() == list(range(72))
    assert calibrate_from_loso(loso, [0])["summary"]["frame"]["n"] == 72
