"""Edge cases of the accuracy evidence (`vmafkit.decide.accuracy`) found by mutation testing, at a
realistic size (12 sources x 16 rows).

Oracles: numpy for RMSE and bias, scipy's pearsonr / spearmanr for the per-source correlations,
exact Wilcoxon signed-rank tails counted by hand (the subsets of ranks whose sum stays under the
observed negative rank sum), and libvmaf's vmaf_v0.6.1 recipe for the baseline's settings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from vmafkit import thresholds as T
from vmafkit.corpus.schema import Corpus, load_corpus
from vmafkit.decide.accuracy import accuracy_evidence, paired_worse_p, seed_mean

from ...factories import make_corpus

SOURCES = tuple(f"s{i:02d}" for i in range(12))
EMPTY = {"n": 0, "rmse": None, "bias": None, "plcc": None, "srocc": None}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    path = make_corpus(tmp_path_factory.mktemp("acc") / "c.jsonl", sources=SOURCES, cqs=(20, 26, 32, 38), frames=4)
    return load_corpus(Path(path))


def _noisy(corpus: Corpus, seed: int = 3) -> np.ndarray:
    return corpus.vmaf + np.random.default_rng(seed).normal(0.3, 1.0, corpus.vmaf.size)


def _offsets(corpus: Corpus, offset: dict[str, float]) -> np.ndarray:
    """The truth plus a constant per source: that source's RMSE is |offset|, its bias the offset."""
    return corpus.vmaf + np.array([offset[g] for g in corpus.group])


def test_the_margins_the_hand_computed_allowances_assume():
    # allowance(b) = b + max(0.1 b, 1.0): 3.0 for a baseline RMSE of 2.0, 2.0 for 1.0
    assert (T.BASELINE_RMSE_MARGIN, T.BASELINE_RMSE_MARGIN_VMAF) == (0.10, 1.0)


# ----------------------------------------------------------------------------- refused rows


def test_a_source_whose_every_row_is_refused_is_listed_but_measured_nowhere(corpus):
    y = corpus.vmaf
    pred = _noisy(corpus)
    served = corpus.group != "s03"  # its fold's domain refuses all 16 of its rows
    out = accuracy_evidence(pred, corpus, served, baseline=y + 2.0)
    assert out["per_source"]["s03"] == {**EMPTY, "n_refused": 16, "baseline_rmse": None}
    assert out["rows"] == {"served": 176, "refused": 16}
    # the unweighted mean over the 11 measured sources, by numpy and scipy
    others = [s for s in SOURCES if s != "s03"]
    masks = [corpus.group == s for s in others]
    rmse = [np.sqrt(np.mean((pred[m] - y[m]) ** 2)) for m in masks]
    plcc = [pearsonr(pred[m], y[m])[0] for m in masks]
    srocc = [spearmanr(pred[m], y[m])[0] for m in masks]
    assert out["fold_mean"] == {
        "rmse": pytest.approx(np.mean(rmse)),
        "plcc": pytest.approx(np.mean(plcc)),
        "srocc": pytest.approx(np.mean(srocc)),
    }
    # every measured source has a baseline RMSE of 2 (the baseline is the truth + 2) and enters the test
    assert out["per_source"]["s07"]["baseline_rmse"] == pytest.approx(2.0)
    assert len(out["baseline"]["sources_better"]) == 11  # ~1 VMAF of noise beats 2 everywhere here
    assert out["baseline"]["sources_better"] == sorted(s for s, r in zip(others, rmse, strict=True) if r < 2.0)


def test_nothing_served_gives_empty_statistics_not_numbers(corpus):
    served = np.zeros(corpus.vmaf.size, bool)
    out = accuracy_evidence(_noisy(corpus), corpus, served, baseline=corpus.vmaf + 2.0)
    assert out["pooled"] == EMPTY
    assert out["rows"] == {"served": 0, "refused": 192}
    assert out["fold_mean"] == {"rmse": None, "plcc": None, "srocc": None}
    assert out["source_rmse_max"] == {"source": None, "value": None}
    assert out["source_bias_max"] == {"source": None, "value": None}
    assert out["baseline"]["pooled"] == EMPTY
    assert out["baseline"]["sources_better"] == [] and out["baseline"]["paired_worse_p"] is None
    assert all(v == {**EMPTY, "n_refused": 16, "baseline_rmse": None} for v in out["per_source"].values())


def test_a_source_with_one_served_row_is_measured_on_that_row(corpus):
    y = corpus.vmaf
    pred = y.copy()
    s05 = np.flatnonzero(corpus.group == "s05")
    pred[s05[0]] += 1.5  # the one served row of s05 is 1.5 VMAF high: RMSE 1.5, bias +1.5
    served = np.ones(y.size, bool)
    served[s05[1:]] = False
    item = accuracy_evidence(pred, corpus, served)["per_source"]["s05"]
    # one point has no correlation
    assert item == {
        "n": 1,
        "rmse": pytest.approx(1.5),
        "bias": pytest.approx(1.5),
        "plcc": None,
        "srocc": None,
        "n_refused": 15,
    }


def test_served_given_as_zeros_and_ones_means_the_same_rows(corpus):
    """A mask read back from JSON or built as uint8 (1 = served) selects rows, it does not index them."""
    y = corpus.vmaf
    pred = _noisy(corpus, seed=8)
    mask = (np.arange(y.size) % 4 != 0).astype(np.uint8)  # every 4th row refused: 48 of 192
    out = accuracy_evidence(pred, corpus, mask)
    keep = mask == 1
    assert out["rows"] == {"served": 144, "refused": 48}
    assert out["pooled"]["n"] == 144
    assert out["pooled"]["rmse"] == pytest.approx(np.sqrt(np.mean((pred[keep] - y[keep]) ** 2)))
    assert out["pooled"]["bias"] == pytest.approx(np.mean(pred[keep] - y[keep]))
    assert out["per_source"]["s00"]["n_refused"] == 4


# ----------------------------------------------------------------------------- the worst source


def test_the_worst_source_is_found_by_its_rmse_not_its_name(corpus):
    # s04 is 5 VMAF off, every other source 1 off (alternating signs): s04 is the worst on both
    # RMSE and |bias|, although s11 sorts last
    offset = {s: (1.0 if i % 2 else -1.0) for i, s in enumerate(SOURCES)}
    offset["s04"] = -5.0
    out = accuracy_evidence(_offsets(corpus, offset), corpus, np.ones(corpus.vmaf.size, bool))
    assert out["source_rmse_max"] == {"source": "s04", "value": pytest.approx(5.0)}
    assert out["source_bias_max"] == {"source": "s04", "value": pytest.approx(5.0)}
    assert out["per_source"]["s04"]["bias"] == pytest.approx(-5.0)
    assert out["fold_mean"]["rmse"] == pytest.approx((11 * 1.0 + 5.0) / 12)


# ----------------------------------------------------------------------------- against the baseline


def test_the_baseline_block_by_hand(corpus):
    """The baseline is the truth + 2 on every source: RMSE 2, allowance 2 + max(0.2, 1) = 3.

    The ensemble: s00 1 VMAF off (better), s01 exactly the baseline's predictions (equal RMSE: NOT
    better), s02..s11 3.5, 4.5, ..., 12.5 off. Differences from the allowance: -2, -1, +0.5, +1.5,
    ..., +9.5; ranks of |d|: 0.5->1, 1->2, 1.5->3, 2->4, 2.5->5, then 6..12; the negative ranks
    are 2 and 4, so W+ = 78 - 6 = 72 and p = P(W+ >= 72) = #{subsets of 1..12 with sum <= 6} / 2**12.
    Those subsets: {} {1} {2} {3} {1,2} {4} {1,3} {5} {1,4} {2,3} {6} {1,5} {2,4} {1,2,3}: 14."""
    y = corpus.vmaf
    base = y + 2.0
    offset = {"s00": 1.0, "s01": 0.0}
    offset.update({s: 3.5 + i for i, s in enumerate(SOURCES[2:])})
    ens = _offsets(corpus, offset)
    s01 = corpus.group == "s01"
    ens[s01] = base[s01]
    out = accuracy_evidence(ens, corpus, np.ones(y.size, bool), baseline=base)
    assert out["baseline"]["recipe"] == {
        # libvmaf's model/vmaf_v0.6.1.json: nu-SVR, rbf kernel, C=4.0, nu=0.9, gamma=0.04
        "model": "nu-SVR (libsvm via scikit-learn)",
        "kernel": "rbf",
        "C": 4.0,
        "nu": 0.9,
        "gamma": 0.04,
        "max_train_rows_per_fold": 3000,
    }
    assert out["baseline"]["pooled"]["rmse"] == pytest.approx(2.0)
    assert out["baseline"]["pooled"]["bias"] == pytest.approx(2.0)
    assert all(out["per_source"][s]["baseline_rmse"] == pytest.approx(2.0) for s in SOURCES)
    assert out["per_source"]["s01"]["rmse"] == out["per_source"]["s01"]["baseline_rmse"]
    assert out["baseline"]["sources_better"] == ["s00"]
    assert out["baseline"]["paired_worse_p"] == pytest.approx(14 / 4096)
    assert out["source_rmse_max"] == {"source": "s11", "value": pytest.approx(12.5)}


@pytest.mark.parametrize(
    ("ensemble", "p"),
    [
        # allowances 2.0 (baseline RMSE 1.0): d = +1, +2.5, both positive, W+ = 3, the largest of 4
        # equally likely sign patterns: p = 1/4
        ([3.0, 4.5], 0.25),
        # d = +1, -0.5: ranks 2 (+) and 1 (-), W+ = 2: patterns with W+ >= 2 are {2} and {1,2}: p = 2/4
        ([3.0, 1.5], 0.5),
    ],
)
def test_two_sources_are_enough_for_the_paired_test(ensemble, p):
    assert paired_worse_p(ensemble, [1.0, 1.0]) == pytest.approx(p)


def test_one_source_is_not_enough_for_the_paired_test():
    assert paired_worse_p([9.0], [1.0]) is None


# ----------------------------------------------------------------------------- seed mean


def test_the_seed_mean_of_float32_predictions_is_taken_in_float64():
    """A network's predictions arrive as float32; their mean is computed on their exact values in
    float64 (Python's float arithmetic is the oracle), not rounded back to float32."""
    a = np.array([0.1, 80.3, 55.55], dtype=np.float32)
    b = np.array([0.2, 80.4, 55.56], dtype=np.float32)
    got = seed_mean({1: {"pred": b}, 0: {"pred": a}})
    assert got.dtype == np.float64
    expected = [(float(x) + float(z)) / 2 for x, z in zip(a.tolist(), b.tolist(), strict=True)]
    assert got.tolist() == expected
    # not what float32 arithmetic gives (the difference a float32 mean would hide)
    assert got.tolist() != ((a + b) / np.float32(2)).astype(np.float64).tolist()
