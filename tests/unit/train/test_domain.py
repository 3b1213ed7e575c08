"""Edge cases of the served-domain check (train/domain.py) found by mutation testing.

Oracles: limits and distances computed by hand in the comments (ranges and margins chosen so the
float arithmetic is exact), scipy's Mahalanobis distance under a ridge-regularised covariance
computed here with numpy, and the exact texts a user reads (which feature, the value, the range).
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest
from scipy.spatial.distance import mahalanobis

from vmafkit import thresholds as T
from vmafkit.corpus.schema import CANONICAL6, MODEL_KEY, load_corpus
from vmafkit.train.domain import (
    JOINT_RIDGE,
    describe,
    describe_features,
    feature_domain,
    feature_problems,
    held_out_served,
    joint_distances,
    joint_domain,
    row_problems,
    rung_problem,
    training_domain,
)

from ...factories import corpus_row, synthetic_rows, write_corpus

ADM2 = CANONICAL6.index("adm2")


def _domain(**over):
    """A sidecar's domain by hand: every feature trained on [0, 20], so with the 5 % margin the
    limits are 0 - 0.05 * 20 = -1 and 20 + 1 = 21 (exact in binary)."""
    domain = {
        "encoders": {
            "libx264": {"presets": ["medium", "slow"], "cq": [20.0, 40.0]},
            "libx265": {"presets": ["fast"], "cq": [18.0, 30.5]},
        },
        "features": {name: [0.0, 20.0] for name in CANONICAL6},
        "feature_margin": T.DOMAIN_FEATURE_MARGIN,
        "label_free": True,
        "rungs": ["native", "480p"],
        MODEL_KEY: "vmaf_v0.6.1",
    }
    domain.update(over)
    return domain


def _rows(adm2_values):
    """Rows with every feature at 10 (mid-range) but adm2; trained labels."""
    feats = np.full((len(adm2_values), 6), 10.0)
    feats[:, ADM2] = adm2_values
    n = len(adm2_values)
    return feats, ["libx264"] * n, ["medium"] * n, np.full(n, 30.0)


# ----------------------------------------------------------------------------- per-feature box


def test_the_feature_margin_admits_the_boundary_and_refuses_just_beyond_it():
    """Trained [0, 20], 5 % margin: -1 and 21 (the limits themselves) and 20.99 / -0.99 are inside
    (a 0 % margin would refuse them); 21.01 and -1.01 are outside (a 20 % margin, 24, would admit)."""
    assert T.DOMAIN_FEATURE_MARGIN == 0.05  # the chosen value the hand limits above assume
    lo = 0.0 - T.DOMAIN_FEATURE_MARGIN * 20.0
    hi = 20.0 + T.DOMAIN_FEATURE_MARGIN * 20.0
    assert (lo, hi) == (-1.0, 21.0)
    problems = row_problems(_domain(), *_rows([-1.0, 21.0, 20.99, -0.99, 21.01, -1.01]))
    assert problems[:4] == [None] * 4
    assert problems[4] == "adm2 21.01 is outside the trained range -1..21 (with a 5% margin)"
    assert problems[5] == "adm2 -1.01 is outside the trained range -1..21 (with a 5% margin)"


def test_a_sidecar_without_the_joint_distance_is_checked_per_feature_only():
    """No "joint" key (written before the joint distance existed): rows far from each other along
    correlated directions are still served when each feature is inside its range."""
    feats = np.array([[0.0, 20.0, 0.0, 20.0, 0.0, 20.0], [20.0, 0.0, 20.0, 0.0, 20.0, 0.0]])
    assert row_problems(_domain(), feats, ["libx264"] * 2, ["slow"] * 2, np.array([20.0, 40.0])) == [None, None]


def test_a_narrow_range_gets_a_margin_of_its_own_width():
    """Trained [0, 0.5]: the margin is 0.05 * 0.5 = 0.025, so 0.52 is inside and 0.53 outside
    (a margin taken of a width of at least 1 would admit up to 0.55)."""
    domain = _domain(features={**{n: [0.0, 20.0] for n in CANONICAL6}, "adm2": [0.0, 0.5]})
    feats, encs, presets, cqs = _rows([0.52, 0.53])
    assert row_problems(domain, feats, encs, presets, cqs) == [
        None,
        "adm2 0.53 is outside the trained range -0.025..0.525 (with a 5% margin)",
    ]


def test_a_constant_feature_admits_only_its_value():
    """Trained on one value, 0.5: the margin is 0.05 * 1e-9, so 0.5 + 1e-11 is inside and 0.5 + 1e-6
    is outside."""
    domain = _domain(features={**{n: [0.0, 20.0] for n in CANONICAL6}, "adm2": [0.5, 0.5]})
    feats, encs, presets, cqs = _rows([0.5, 0.5 + 1e-11, 0.5 + 1e-6])
    assert row_problems(domain, feats, encs, presets, cqs) == [
        None,
        None,
        "adm2 0.500001 is outside the trained range 0.5..0.5 (with a 5% margin)",
    ]


# ----------------------------------------------------------------------------- labels, rungs, model


def test_every_reason_of_a_row_in_order_joined_by_semicolons():
    """Model, labels, rung, features: each problem named once, in that order."""
    feats = np.full((1, 6), 10.0)
    feats[0, ADM2] = 25.0
    feats[0, 5] = -3.0
    problems = row_problems(
        _domain(),
        feats,
        ["libx264"],
        ["veryfast"],
        np.array([45.0]),
        vmaf_models=["vmaf_float_v0.6.1"],
        rungs=["240p"],
    )
    assert problems == [
        "features of libvmaf model vmaf_float_v0.6.1, but this ensemble was trained on vmaf_v0.6.1's; "
        "preset veryfast was not trained for libx264 (trained: medium, slow); "
        "cq 45 is outside the trained range 20-40; "
        "rung 240p (its encode scaled up to be scored) was not trained (trained rungs: native, 480p); "
        "adm2 25 is outside the trained range -1..21 (with a 5% margin); "
        "motion2 -3 is outside the trained range -1..21 (with a 5% margin)"
    ]


def test_label_texts_list_every_trained_encoder_preset_and_cq_range():
    feats = np.full((4, 6), 10.0)
    problems = row_problems(
        _domain(label_free=False),
        feats,
        ["libaom", None, "libx265", "libx264"],
        ["medium", "fast", "slow", "slow"],
        np.array([30.0, 50.0, 19.0, float("nan")]),
    )
    assert problems == [
        "encoder libaom was not trained (trained: libx264, libx265)",
        # no encoder: cq is checked against every encoder's range
        "no encoder given and this ensemble was trained with every label (seed recipe); "
        "cq 50 is outside the trained range 20-40, 18-30.5",
        "preset slow was not trained for libx265 (trained: fast)",
        "no cq given and this ensemble was trained with every label (seed recipe)",
    ]


def test_rung_problem_names_the_rung_and_every_trained_one():
    assert rung_problem(_domain(), "240p") == (
        "rung 240p (its encode scaled up to be scored) was not trained (trained rungs: native, 480p)"
    )
    assert rung_problem(_domain(rungs=["480p", "720p"]), "native") == (
        "rung native (scored at its encoded size) was not trained (trained rungs: 480p, 720p)"
    )
    assert rung_problem(_domain(), "480p") is None  # trained
    assert rung_problem(_domain(), None) is None  # the row gives no size
    no_rungs = _domain()
    del no_rungs["rungs"]  # a sidecar written before rungs were recorded
    assert rung_problem(no_rungs, "240p") is None
    assert rung_problem(_domain(rungs=[]), "240p") is None


def test_row_problems_checks_each_rows_own_rung():
    feats, encs, presets, cqs = _rows([10.0, 10.0, 10.0])
    assert row_problems(_domain(rungs=["native"]), feats, encs, presets, cqs, rungs=["native", "480p", None]) == [
        None,
        "rung 480p (its encode scaled up to be scored) was not trained (trained rungs: native)",
        None,
    ]


# ----------------------------------------------------------------------------- describe


def test_describe_a_seed_ensemble_on_a_ladder():
    domain = _domain(label_free=False, **{MODEL_KEY: "vmaf_float_v0.6.1"})
    assert describe(domain) == (
        "trained on libx264 (presets medium,slow; cq 20-40); libx265 (presets fast; cq 18-30.5); "
        "rungs native, 480p; encoder, preset and cq required; libvmaf model vmaf_float_v0.6.1"
    )


def test_describe_names_no_ladder_for_native_only_or_unrecorded_rungs():
    one = {"libx264": {"presets": ["medium"], "cq": [22.0, 38.0]}}
    text = "trained on libx264 (presets medium; cq 22-38); labels optional; libvmaf model vmaf_v0.6.1"
    for rungs in (["native"], [], None):
        domain = _domain(encoders=one, rungs=rungs)
        del domain[MODEL_KEY]  # a domain recorded before --model: vmaf_v0.6.1's
        assert describe(domain) == text
    domain = _domain(encoders=one)
    del domain["rungs"]  # a sidecar written before rungs were recorded
    assert describe(domain) == text
    assert describe(_domain(encoders=one, rungs=["480p"])) == text.replace("); labels", "); rungs 480p; labels")


# ----------------------------------------------------------------------------- joint distance


def _ridge_precision(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """mean, std and precision as the module docstring defines them, computed independently:
    the population covariance of the standardised rows, plus JOINT_RIDGE on the diagonal."""
    mean = x.sum(axis=0) / len(x)
    std = np.sqrt(((x - mean) ** 2).sum(axis=0) / len(x))
    z = (x - mean) / std
    cov = z.T @ z / len(x)
    return mean, std, np.linalg.inv(cov + JOINT_RIDGE * np.eye(x.shape[1]))


def test_joint_distances_match_scipys_mahalanobis():
    rng = np.random.default_rng(7)
    t = rng.random(40)
    x = np.stack([t, t**2, 0.5 * t, 1 - t, t + 0.1 * rng.random(40), 3 * rng.random(40)], axis=1)
    joint = joint_domain(x)
    mean, std, vi = _ridge_precision(x)
    near = mean + 0.05 * std  # a row close to the centre: distance well under 1
    queries = np.vstack([x, mean, near, mean + 2 * std])
    expected = [mahalanobis((q - mean) / std, np.zeros(6), vi) for q in queries]
    np.testing.assert_allclose(joint_distances(joint, queries), expected, rtol=1e-9, atol=1e-12)
    assert joint_distances(joint, mean[None, :])[0] == pytest.approx(0.0, abs=1e-9)
    assert expected[-2] < 1.0
    assert joint["max_distance"] == pytest.approx(max(expected[:40]), rel=1e-9)
    assert joint["kind"] == "mahalanobis-standardised"
    assert joint["margin"] == T.DOMAIN_JOINT_MARGIN


def test_two_perfectly_correlated_rows():
    """[0, 0] and [2, 4]: mean [1, 2], std [1, 2], z = +-[1, 1]; population covariance [[1, 1], [1, 1]]
    plus the 0.05 ridge: [[1.05, 1], [1, 1.05]], inverse [[1.05, -1], [-1, 1.05]] / 0.1025.
    A trained row: d^2 = (1.05 * 2 - 2) / 0.1025 = 0.1 / 0.1025; the row [2, 0] (z = [1, -1]):
    d^2 = (1.05 * 2 + 2) / 0.1025 = 40."""
    assert JOINT_RIDGE == 0.05
    joint = joint_domain(np.array([[0.0, 0.0], [2.0, 4.0]]))
    assert joint["mean"] == [1.0, 2.0] and joint["std"] == [1.0, 2.0]
    np.testing.assert_allclose(joint["precision"], np.array([[1.05, -1.0], [-1.0, 1.05]]) / 0.1025, rtol=1e-12)
    assert joint["max_distance"] == pytest.approx(math.sqrt(0.1 / 0.1025), rel=1e-12)
    assert joint_distances(joint, np.array([[2.0, 0.0]]))[0] == pytest.approx(math.sqrt(40.0), rel=1e-12)


def test_a_single_training_row_uses_the_identity_correlation():
    """One row [1, 2]: std 0 -> 1, no covariance to estimate, so the identity plus the ridge:
    precision I / 1.05; the row [1.5, 2] lies 0.5 / sqrt(1.05) away."""
    joint = joint_domain(np.array([[1.0, 2.0]]))
    assert joint["std"] == [1.0, 1.0] and joint["max_distance"] == 0.0
    np.testing.assert_allclose(joint["precision"], np.eye(2) / 1.05, rtol=1e-12)
    assert joint_distances(joint, np.array([[1.5, 2.0]]))[0] == pytest.approx(0.5 / math.sqrt(1.05), rel=1e-12)


def test_a_constant_feature_is_measured_in_its_own_units_against_the_ridge():
    """One constant column [3, 3, 3]: std 0 -> 1, variance 0, precision 1 / 0.05 = 20; the value 3.5
    lies 0.5 * sqrt(20) = sqrt(5) away."""
    joint = joint_domain(np.array([[3.0], [3.0], [3.0]]))
    assert joint["std"] == [1.0] and joint["max_distance"] == 0.0
    assert joint["precision"][0][0] == pytest.approx(20.0, rel=1e-12)
    assert joint_distances(joint, np.array([[3.5]]))[0] == pytest.approx(math.sqrt(5.0), rel=1e-12)


def test_a_spread_of_1e_12_counts_as_constant():
    """Column [-1e-12, 1e-12] has std exactly 1e-12: not above the 1e-12 floor, so its unit is 1."""
    x = np.array([[-1e-12, 0.0], [1e-12, 1.0]])
    assert x[:, 0].std() == 1e-12
    assert joint_domain(x)["std"] == [1.0, 0.5]


def test_float32_features_are_summarised_in_float64():
    """mean/std of float32 input equal those of the same values in float64 (math.fsum: exact sum)."""
    x = np.array([[0.1], [0.2], [0.7], [0.3]], dtype=np.float32)
    values = [float(v) for v in x[:, 0]]
    mean = math.fsum(values) / 4
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / 4)
    joint = joint_domain(x)
    assert joint["mean"][0] == pytest.approx(mean, rel=1e-15)
    assert joint["std"][0] == pytest.approx(std, rel=1e-14)


def test_no_training_rows_have_no_farthest_distance():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the mean of no rows
        joint = joint_domain(np.empty((0, 6)))
    assert joint["max_distance"] == 0.0


def test_the_joint_margin_admits_the_limit_and_refuses_just_beyond_it():
    """Identity precision, farthest trained row 2, margin 50 %: the limit is 2 * 1.5 = 3. A row at
    [3, 0, ...] lies exactly 3 (inside), 2.9 inside (a 0 % margin would refuse it), 3.1 outside (a
    margin of 1 + 0.5 added twice, 5, would admit it)."""
    assert T.DOMAIN_JOINT_MARGIN == 0.5
    joint = {
        "kind": "mahalanobis-standardised",
        "mean": [0.0] * 6,
        "std": [1.0] * 6,
        "precision": np.eye(6).tolist(),
        "max_distance": 2.0,
        "margin": T.DOMAIN_JOINT_MARGIN,
    }
    assert 2.0 * (1 + T.DOMAIN_JOINT_MARGIN) == 3.0
    feats = np.zeros((3, 6))
    feats[:, 0] = [3.0, 2.9, 3.1]
    problems = row_problems(_domain(joint=joint), feats, ["libx264"] * 3, ["medium"] * 3, np.full(3, 30.0))
    assert problems == [
        None,
        None,
        "its features together lie 3.1 from the trained rows' centre (Mahalanobis, standardised), "
        "beyond the farthest trained row's 2 with a 50% margin",
    ]


# ----------------------------------------------------------------------------- training_domain


def _ladder_rows():
    """Three sources, features from the factory; srcB in 10-bit, srcC a 480-line encode scored at
    1080 lines; every row scored with libvmaf's float model."""
    rows = synthetic_rows(cqs=(20, 30), frames=2)
    for r in rows:
        r[MODEL_KEY] = "vmaf_float_v0.6.1"
        if r["src"] == "srcB":
            r["pix_fmt"] = "yuv420p10le"
        if r["src"] == "srcC":
            r.update(width=854, height=480, scored_width=1920, scored_height=1080)
    return rows


def test_training_domain_records_what_the_rows_were(tmp_path):
    rows = _ladder_rows()
    domain = training_domain(load_corpus(write_corpus(tmp_path / "c.jsonl", rows)), label_free=False)
    assert domain["encoders"] == {"libx264": {"presets": ["medium"], "cq": [20.0, 30.0]}}
    assert domain["features"] == {n: [min(r[n] for r in rows), max(r[n] for r in rows)] for n in CANONICAL6}
    assert domain["feature_margin"] == 0.05
    assert domain["pix_fmts"] == ["yuv420p", "yuv420p10le"]
    assert domain["bit_depths"] == [8, 10]
    assert domain["frame_sizes"] == [[64, 48], [854, 480]]
    assert domain["rungs"] == ["native", "480p"]
    assert domain["label_free"] is False
    assert domain[MODEL_KEY] == "vmaf_float_v0.6.1"


def test_training_domain_of_a_corpus_without_meta(tmp_path):
    """A corpus whose meta records nothing: no sizes, formats or rungs, and libvmaf's default model."""
    corpus = load_corpus(write_corpus(tmp_path / "c.jsonl", synthetic_rows(cqs=(20, 30), frames=2)))
    domain = training_domain(dataclasses.replace(corpus, meta={}), label_free=True)
    assert (domain["frame_sizes"], domain["pix_fmts"], domain["bit_depths"], domain["rungs"]) == ([], [], [], [])
    assert domain[MODEL_KEY] == "vmaf_v0.6.1"
    assert domain["label_free"] is True


# ----------------------------------------------------------------------------- held_out_served


def _flat_corpus(tmp_path, **row_over_c):
    """Sources a, b, c, every feature 0.5 (so no fold refuses a row on its features), cq 20 and 30,
    two frames each; `row_over_c` is applied to source c's rows."""
    rows = [
        corpus_row(src, frame=f, cq=cq, **(row_over_c if src == "c" else {}))
        for src in ("a", "b", "c")
        for cq in (20, 30)
        for f in range(2)
    ]
    return load_corpus(write_corpus(tmp_path / "c.jsonl", rows))


def test_held_out_served_checks_the_held_out_rows_rung(tmp_path):
    """Source c's rows are 480-line encodes scored upscaled; a domain that records only native
    (the meta here says so) refuses them with the rung's own text, and serves a and b."""
    corpus = _flat_corpus(tmp_path, width=854, height=480, scored_width=1920, scored_height=1080)
    corpus = dataclasses.replace(corpus, meta={**corpus.meta, "rungs": ["native"]})
    served, reasons = held_out_served(corpus, label_free=True)
    c = corpus.group == "c"
    assert served.tolist() == (~c).tolist()
    assert {reasons[i] for i in np.flatnonzero(c)} == {
        "rung 480p (its encode scaled up to be scored) was not trained (trained rungs: native)"
    }
    assert all(reasons[i] is None for i in np.flatnonzero(~c))


def test_a_held_out_source_alone_at_a_rung_is_refused_by_its_folds_own_domain(tmp_path):
    """The corpus as loaded lists both rungs (c's 480p and a/b's native). c's fold was trained on a
    and b only, so its domain lists native alone and refuses c's 480p rows; a's and b's folds hold
    c's 480p rows in training and serve their own native ones. (Before the fix a fold's domain took
    the whole corpus's rung list and served c.)"""
    corpus = _flat_corpus(tmp_path, width=854, height=480, scored_width=1920, scored_height=1080)
    assert corpus.meta["rungs"] == ["native", "480p"]
    served, reasons = held_out_served(corpus, label_free=True)
    c = corpus.group == "c"
    assert served.tolist() == (~c).tolist()
    assert {reasons[i] for i in np.flatnonzero(c)} == {
        "rung 480p (its encode scaled up to be scored) was not trained (trained rungs: native)"
    }
    fold = corpus.subset(~c)
    assert fold.meta["rungs"] == ["native"] and fold.meta["n_rows"] == int((~c).sum())


def test_held_out_served_applies_the_recipe_to_a_row_without_cq(tmp_path):
    """One held-out row gives no cq: a label-free (robust) fold serves it, a seed fold refuses it."""
    corpus = _flat_corpus(tmp_path)
    row = int(np.flatnonzero(corpus.group == "c")[0])
    cq = corpus.cq.copy()
    cq[row] = np.nan
    corpus = dataclasses.replace(corpus, cq=cq)
    served, reasons = held_out_served(corpus, label_free=True)
    assert served[row] and reasons[row] is None
    served, reasons = held_out_served(corpus, label_free=False)
    assert not served[row]
    assert reasons[row] == "no cq given and this ensemble was trained with every label (seed recipe)"


def test_held_out_served_uses_each_folds_own_feature_range(tmp_path):
    """Source c's adm2 is 0.9, the others' 0.5: c's fold (a, b) trained on adm2 0.5 only refuses
    it, a's fold (b, c: 0.5..0.9) serves a."""
    corpus = _flat_corpus(tmp_path, adm2=0.9)
    served, reasons = held_out_served(corpus, label_free=True)
    c = corpus.group == "c"
    assert served.tolist() == (~c).tolist()
    for i in np.flatnonzero(c):
        assert reasons[i].startswith("adm2 0.9 is outside the trained range 0.5..0.5 (with a 5% margin)")


# ----------------------------------------------------------------------------- named feature columns


def test_feature_domain_records_each_named_columns_range():
    domain = feature_domain(["a", "b"], [[1, 10], [3, 30], [2, 20]])
    assert domain == {"features": {"a": [1.0, 3.0], "b": [10.0, 30.0]}, "feature_margin": 0.05}
    assert all(type(v) is float for lohi in domain["features"].values() for v in lohi)


def test_feature_problems_box_with_margin_on_both_sides():
    """a trained [0, 20] -> limits -1..21; b trained [0, 0.5] -> -0.025..0.525 (0.05 * 0.5). Three
    rows of two columns: the limits themselves are inside, beyond them outside."""
    domain = feature_domain(["a", "b"], np.array([[0.0, 0.0], [20.0, 0.5]]))
    rows = np.array([[-1.0, 0.52], [21.0, 0.53], [-1.01, -0.03]])
    assert feature_problems(domain, ["a", "b"], rows) == [
        None,
        "b 0.53 is outside the trained range -0.025..0.525 (with a 5% margin)",
        "a -1.01 is outside the trained range -1..21 (with a 5% margin); "
        "b -0.03 is outside the trained range -0.025..0.525 (with a 5% margin)",
    ]
    assert feature_problems(domain, ["a", "b"], np.array([[21.01, 0.0]])) == [
        "a 21.01 is outside the trained range -1..21 (with a 5% margin)"
    ]


def test_feature_problems_of_one_column_and_of_more_rows_than_columns():
    domain = feature_domain(["x"], np.array([[2.0], [4.0]]))  # limits 2 - 0.1 .. 4 + 0.1
    assert feature_problems(domain, ["x"], np.array([[1.95], [4.05], [4.2], [3.0]])) == [
        None,
        None,
        "x 4.2 is outside the trained range 1.9..4.1 (with a 5% margin)",
        None,
    ]


def test_describe_features():
    domain = feature_domain(["sharp", "noise"], np.array([[0.123456, 0.0], [1.5, 20.0]]))
    assert describe_features(domain) == ("trained on sharp 0.1235..1.5, noise 0..20 (a 5% margin outside is allowed)")
