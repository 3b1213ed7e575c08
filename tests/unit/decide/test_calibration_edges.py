"""Edge cases of the interval calibration found by mutation testing (tools/mutation.py).

The oracle for `calibrate` is the rule of calibration.py's module doc, computed here from scratch
with numpy (each source's quantile is numpy's inverted-CDF quantile; the cross-source rank is
worked out from its formula) on small inputs whose answers are also given by hand."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest

from vmafkit import thresholds as T
from vmafkit.decide.calibration import METHOD, calibrate, calibrate_from_loso, guarantee_text
from vmafkit.errors import InputError
from vmafkit.train.metrics import conformal_quantile
from vmafkit.train.predictions import prediction_file, read_predictions

from ...factories import make_corpus, write_predictions


def _cols(vmaf, pred, folds, *, src=None, encoder=None, preset=None, cq=None, unlabelled=None):
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
        calibrate({0: _cols([1.0, 2.0], [1.0, 2.0], ["A", "B"])}, coverage)
    assert str(info.value) == f"coverage must be in (0, 1), got {coverage}"


def test_conformal_rank_by_hand():
    assert conformal_quantile([7.0], 0.5) == 7.0  # k = ceil(2 * 0.5) = 1
    assert conformal_quantile([9.0, 7.0, 8.0], 0.5) == 8.0  # k = ceil(4 * 0.5) = 2
    assert conformal_quantile([9.0, 7.0, 8.0, 6.0], 0.5) == 8.0  # k = ceil(5 * 0.5) = 3 (2.5 up)
    assert conformal_quantile([5.0, 3.0] * 4 + [4.0], 1e-6) == 3.0  # k = 1


def test_conformal_quantile_of_a_large_unsorted_array():
    rng = np.random.default_rng(5)
    scores = rng.permutation(np.arange(1000.0))  # 0..999 shuffled
    # k = ceil(1001 * 0.9) = 901 -> the 901st smallest = 900.0
    assert conformal_quantile(scores, 0.9) == 900.0
    assert conformal_quantile(list(scores.astype(int)), 0.5) == 500.0  # k = ceil(1001 * 0.5) = 501
    assert conformal_quantile(np.sort(scores), 0.9) == 900.0
    assert conformal_quantile([], 0.9) == math.inf
    assert conformal_quantile([3.0, 1.0, 2.0], 0.5) == 2.0  # k = 2
    # k = ceil(4 * 0.75) = 3 = n: the largest, not inf
    assert conformal_quantile([3.0, 1.0, 2.0], 0.75) == 3.0


@pytest.mark.parametrize("seed, n, coverage", [(9, 500, 0.9), (12, 301, 0.5), (191, 1000, 0.5), (219, 1000, 0.9)])
def test_conformal_quantile_of_shuffled_ranks(seed, n, coverage):
    """0..n-1 shuffled: the k-th smallest is k - 1, k = ceil((n + 1) * coverage)."""
    scores = np.random.default_rng(seed).permutation(n).astype(float)
    k = math.ceil((n + 1) * coverage - 1e-9)
    assert conformal_quantile(scores, coverage) == float(k - 1)


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
    a = _cols([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], ["A", "B", "B"])
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
    a = _cols([1.0, 2.0], [1.0, 2.0], ["A", "B"])
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
    s0 = _cols(vmaf, vmaf + sign * err + 0.25, folds, cq=cq)
    s1 = _cols(vmaf, vmaf + sign * err - 0.25, folds, cq=cq)
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
    cols = _cols(
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
    same = _cols(vmaf, pred, folds)
    assert calibrate({0: same}, 0.5)["file"]["ensemble"]["clip"]["sources"] == {"A": [0.5]}  # |(1+3+1-1+2+2-4+0)/8|
    for field, values in (
        ("src", ["s", "s", "t", "t", "s", "s", "t", "t"]),
        ("encoder", ["x", "x", "y", "y", "x", "x", "y", "y"]),
        ("preset", ["p", "p", "q", "q", "p", "p", "q", "q"]),
        ("cq", [20.0, 20.0, 25.0, 25.0, 20.0, 20.0, 25.0, 25.0]),
    ):
        split = _cols(vmaf, pred, folds, **{field: values})
        # cell 1: frames 0 1 4 5 -> mean error (1 + 3 + 2 + 2) / 4 = 2; cell 2: 2 3 6 7 -> (1 - 1 - 4 + 0) / 4 = -1
        assert calibrate({0: split}, 0.5)["file"]["ensemble"]["clip"]["sources"] == {"A": [1.0, 2.0]}, field


def test_a_fold_is_the_group_not_the_source_name():
    """Two sources of one group are one fold; cells keep their fold."""
    vmaf = np.array([10.0, 10.0, 10.0, 10.0])
    cols = _cols(
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
    cols = _cols([1.0, 2.0], [1.5, 2.5], ["A", "A"])
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
    cols = _cols(vmaf, vmaf + np.array([1.0, 2.0, 2.0, 3.0]), ["A", "A", "B", "B"], cq=[1.0, 2.0, 3.0, 4.0])
    out = calibrate({0: cols}, 0.5)
    per_fold = {f["fold"]: f for f in out["summary"]["per_fold"]}
    assert (per_fold["A"]["frame_half_width"], per_fold["A"]["frame_coverage"]) == (2.0, 1.0)
    assert (per_fold["B"]["frame_half_width"], per_fold["B"]["frame_coverage"]) == (1.0, 0.0)
    assert (per_fold["A"]["clip_half_width"], per_fold["A"]["clip_coverage"]) == (2.0, 1.0)
    assert out["summary"]["fold_frame_hit_rate"] == 0.5
    # three folds: C's half-width (the k-th of A's 1 and B's 2 -> 2) covers exactly half of C (1 and 3)
    cols = _cols(
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
    cols = _cols(
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
    cols = _cols(
        vmaf,
        vmaf + np.array([1.0, 1.0, 3.0, 3.0]),
        ["F"] * 4,
        encoder=["x|y", "x|y", "x", "x"],
        preset=["z", "z", "y|z", "y|z"],
    )
    assert calibrate({0: cols}, 0.5)["file"]["ensemble"]["clip"]["sources"] == {"F": [1.0, 3.0]}
