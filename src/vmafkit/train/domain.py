"""The training domain: what an ensemble was trained on, and which inputs lie outside it.

Export writes `training_domain(...)` into every sidecar (pinned by the registry's sha256), and
predict checks every row against it before a number is served: an encoder, a preset or a cq the
ensemble never saw, or a feature outside the trained range by more than `T.DOMAIN_FEATURE_MARGIN`
of that range, is outside; so is a row whose features another libvmaf model computed
(`vmaf_model`: the NEG and float models compute the canonical-6 differently). A model of the robust recipe was also trained without labels, so a
row that gives none is inside; a model of the seed recipe needs every label.

The six features are strongly correlated (the four vif scales move together), so a row can lie
inside every per-feature range and still far from anything trained on. The domain therefore also
holds a joint distance (`joint`): the Mahalanobis distance of the standardised features from the
training rows' mean, under their (ridge-regularised) covariance, and the largest such distance
among the training rows; a row farther than that by more than `T.DOMAIN_JOINT_MARGIN` is outside.
A sidecar written before the joint distance existed is checked per feature only.

`held_out_served` applies each LOSO fold's own training domain to its held-out rows, exactly as
predict would: the decide stage calibrates and measures accuracy on the rows that would be served.

Resolution-ladder rungs (`corpus.schema.rung_label`: "native" for a distorted video scored at its
encoded size, "480p" for a 480-line encode scaled up to be scored) are part of the domain too: a
row of a rung the ensemble never saw is outside. A row that gives no size, and a sidecar written
before rungs were recorded, are not checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vmafkit import thresholds as T
from vmafkit.corpus.schema import CANONICAL6, MODEL_KEY, NATIVE_RUNG, Corpus
from vmafkit.errors import InputError
from vmafkit.media.libvmaf import DEFAULT_MODEL, RECIPE_KEY
from vmafkit.media.sources import bit_depth_of


def training_domain(corpus: Corpus, *, label_free: bool) -> dict[str, Any]:
    """{encoders: {E: {presets, cq: [lo, hi]}}, features: {name: [lo, hi]}, feature_margin,
    frame_sizes, pix_fmts, bit_depths, rungs, label_free, vmaf_model} of the rows a model was fitted on."""
    encoders: dict[str, Any] = {}
    for enc in sorted(set(corpus.encoder.tolist())):
        rows = corpus.encoder == enc
        encoders[enc] = {
            "presets": sorted(set(corpus.preset[rows].tolist())),
            "cq": [float(corpus.cq[rows].min()), float(corpus.cq[rows].max())],
        }
    pix_fmts = list(corpus.meta.get("pix_fmts", []))
    return {
        "encoders": encoders,
        "features": {
            name: [float(corpus.features[:, i].min()), float(corpus.features[:, i].max())]
            for i, name in enumerate(corpus.feature_order)
        },
        "feature_order": list(corpus.feature_order),
        "feature_set": corpus.feature_set,
        "feature_margin": T.DOMAIN_FEATURE_MARGIN,
        "frame_sizes": list(corpus.meta.get("frame_sizes", [])),
        "pix_fmts": pix_fmts,
        "bit_depths": sorted({bit_depth_of(p) for p in pix_fmts}),
        "rungs": list(corpus.meta.get("rungs", [])),
        "label_free": bool(label_free),
        MODEL_KEY: str(corpus.meta.get(MODEL_KEY, DEFAULT_MODEL)),
        RECIPE_KEY: corpus.meta.get(RECIPE_KEY),
        "joint": joint_domain(corpus.features),
    }


JOINT_KIND = "mahalanobis-standardised"
# Ridge added to the correlation matrix before inverting it: the vif scales are nearly collinear,
# and a singular matrix would make the distance blow up along a direction nobody trained on
# *and* nobody will see (it is relative to the diagonal, which is 1 after standardising).
JOINT_RIDGE = 0.05


def joint_domain(features: np.ndarray) -> dict[str, Any]:
    """{kind, mean, std, precision, max_distance, margin}: the Mahalanobis distance of standardised
    features [n, k] from their mean, and the largest distance among these rows."""
    x = np.asarray(features, dtype=np.float64)
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    z = (x - mean) / std
    corr = np.atleast_2d(np.cov(z, rowvar=False, bias=True)) if z.shape[0] > 1 else np.eye(x.shape[1])
    precision = np.linalg.inv(corr + JOINT_RIDGE * np.eye(x.shape[1]))
    distances = _mahalanobis(z, precision)
    return {
        "kind": JOINT_KIND,
        "mean": mean.tolist(),
        "std": std.tolist(),
        "precision": precision.tolist(),
        "max_distance": float(distances.max()) if distances.size else 0.0,
        "margin": T.DOMAIN_JOINT_MARGIN,
    }


def _mahalanobis(z: np.ndarray, precision: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", z, precision, z), 0.0))


def joint_distances(joint: Mapping[str, Any], features: np.ndarray) -> np.ndarray:
    """Per row of `features` [N, k], its distance in the units of `joint["max_distance"]`."""
    z = (np.asarray(features, dtype=np.float64) - np.asarray(joint["mean"])) / np.asarray(joint["std"])
    return _mahalanobis(z, np.asarray(joint["precision"], dtype=np.float64))


def joint_limit(joint: Mapping[str, Any]) -> float:
    return float(joint["max_distance"]) * (1.0 + float(joint["margin"]))


def held_out_served(corpus: Corpus, *, label_free: bool) -> tuple[np.ndarray, list[str | None]]:
    """(served [N] bool, reason per row): each row checked against the training domain of the LOSO
    fold that held it out (the corpus's other groups), as predict checks a row against the
    exported ensemble's domain. A row's labels are given (the corpus has them)."""
    served = np.ones(len(corpus), dtype=bool)
    reasons: list[str | None] = [None] * len(corpus)
    for group in corpus.groups:
        held = corpus.group == group
        domain = training_domain(corpus.subset(~held), label_free=label_free)
        rows = np.flatnonzero(held)
        problems = row_problems(
            domain,
            corpus.features[rows],
            corpus.encoder[rows].tolist(),
            corpus.preset[rows].tolist(),
            corpus.cq[rows],
            rungs=corpus.rung[rows].tolist(),
        )
        for i, problem in zip(rows.tolist(), problems):
            reasons[i] = problem
            served[i] = problem is None
    return served, reasons


def model_of(domain: Mapping[str, Any]) -> str:
    """The libvmaf model whose features the ensemble was trained on; a domain recorded before
    vmafkit had a --model was vmaf_v0.6.1's."""
    return str(domain.get(MODEL_KEY) or DEFAULT_MODEL)


def feature_order(domain: Mapping[str, Any]) -> tuple[str, ...]:
    """The feature columns the ensemble takes, in their order; a domain recorded before feature
    sets existed was the canonical-6's."""
    return tuple(domain.get("feature_order") or CANONICAL6)


def feature_limits(domain: Mapping[str, Any], name: str) -> tuple[float, float]:
    lo, hi = domain["features"][name]
    pad = domain["feature_margin"] * max(hi - lo, 1e-9)
    return lo - pad, hi + pad


def describe(domain: Mapping[str, Any]) -> str:
    """One line: what the ensemble was trained on."""
    parts = [
        f"{enc} (presets {','.join(v['presets'])}; cq {v['cq'][0]:g}-{v['cq'][1]:g})"
        for enc, v in domain["encoders"].items()
    ]
    labels = "labels optional" if domain["label_free"] else "encoder, preset and cq required"
    rungs = domain.get("rungs") or []
    ladder = f"; rungs {', '.join(rungs)}" if rungs and rungs != [NATIVE_RUNG] else ""
    return "trained on " + "; ".join(parts) + ladder + f"; {labels}; libvmaf model {model_of(domain)}"


def rung_problem(domain: Mapping[str, Any], rung: str | None) -> str | None:
    """Why a row's rung (None: not given) is outside the domain; None when inside or unrecorded."""
    trained = domain.get("rungs") or []
    if rung is None or not trained or rung in trained:
        return None
    what = "scored at its encoded size" if rung == NATIVE_RUNG else "its encode scaled up to be scored"
    return f"rung {rung} ({what}) was not trained (trained rungs: {', '.join(trained)})"


def label_problems(domain: Mapping[str, Any], enc: str | None, preset: str | None, cq: float) -> list[str]:
    """Why one (encoder, preset, cq) is outside the domain; None / NaN = not given."""
    reasons = []
    given = {"encoder": enc is not None, "preset": preset is not None, "cq": not np.isnan(cq)}
    if not domain["label_free"]:
        missing = [k for k, v in given.items() if not v]
        if missing:
            reasons.append(f"no {'/'.join(missing)} given and this ensemble was trained with every label (seed recipe)")
    trained = domain["encoders"].get(enc) if enc is not None else None
    if enc is not None and trained is None:
        reasons.append(f"encoder {enc} was not trained (trained: {', '.join(domain['encoders'])})")
    if trained is not None and preset is not None and preset not in trained["presets"]:
        reasons.append(f"preset {preset} was not trained for {enc} (trained: {', '.join(trained['presets'])})")
    if given["cq"]:
        ranges = [trained["cq"]] if trained is not None else [v["cq"] for v in domain["encoders"].values()]
        if not any(lo <= cq <= hi for lo, hi in ranges):
            reasons.append(f"cq {cq:g} is outside the trained range {', '.join(f'{lo:g}-{hi:g}' for lo, hi in ranges)}")
    return reasons


def row_problems(
    domain: Mapping[str, Any],
    features: np.ndarray,
    encoders: Sequence[str | None],
    presets: Sequence[str | None],
    cqs: np.ndarray,
    *,
    vmaf_models: Sequence[str | None] | None = None,
    rungs: Sequence[str | None] | None = None,
    recipes: Sequence[str | None] | None = None,
) -> list[str | None]:
    """Per row, why it lies outside the training domain (None = inside). A label of None (cq NaN)
    is "not given", and so is a rung of None. `features` [N, k] in the domain's `feature_order`,
    finite. `vmaf_models` / `recipes`: per row, the libvmaf model that computed its features and
    the scoring recipe id it was scored with (None: not said, taken as the trained one's)."""
    n = features.shape[0]
    reasons: list[list[str]] = [[] for _ in range(n)]
    trained_model = model_of(domain)
    for i, model in enumerate(vmaf_models or ()):
        if model is not None and model != trained_model:
            reasons[i].append(f"features of libvmaf model {model}, but this ensemble was trained on {trained_model}'s")
    trained_recipe = domain.get(RECIPE_KEY)
    for i, recipe in enumerate(recipes or ()):
        if recipe is not None and trained_recipe is not None and recipe != trained_recipe:
            reasons[i].append(
                f"scored with scoring recipe {recipe}, but this ensemble was trained on rows of recipe "
                f"{trained_recipe} (another model, metrics, subsampling, depth or scale filter)"
            )
    by_labels: dict[tuple, list[str]] = {}
    for i in range(n):
        cq = float(cqs[i])
        key = (encoders[i], presets[i], None if np.isnan(cq) else cq)  # NaN != NaN as a dict key
        if key not in by_labels:
            by_labels[key] = label_problems(domain, encoders[i], presets[i], cq)
        reasons[i].extend(by_labels[key])
        rung = rung_problem(domain, rungs[i]) if rungs is not None else None
        if rung is not None:
            reasons[i].append(rung)
    names = feature_order(domain)
    if features.shape[1] != len(names):
        raise InputError(
            f"features have {features.shape[1]} columns, the ensemble takes {len(names)} ({', '.join(names)})"
        )
    limits = np.array([feature_limits(domain, name) for name in names])
    outside = (features < limits[:, 0]) | (features > limits[:, 1])
    for i, j in zip(*np.nonzero(outside)):
        lo, hi = limits[j]
        reasons[i].append(
            f"{names[j]} {features[i, j]:.6g} is outside the trained range {lo:.6g}..{hi:.6g} "
            f"(with a {domain['feature_margin']:.0%} margin)"
        )
    joint = domain.get("joint")
    if joint is not None and n:
        distance = joint_distances(joint, features)
        limit = joint_limit(joint)
        for i in np.flatnonzero(distance > limit).tolist():
            reasons[i].append(
                f"its features together lie {distance[i]:.3g} from the trained rows' centre (Mahalanobis, "
                f"standardised), beyond the farthest trained row's {float(joint['max_distance']):.3g} "
                f"with a {float(joint['margin']):.0%} margin"
            )
    return ["; ".join(r) if r else None for r in reasons]


# ---- a model of named feature columns (a subjective ensemble): feature ranges only -------------


def feature_domain(names: Sequence[str], features: np.ndarray) -> dict[str, Any]:
    """{features: {name: [lo, hi]}, feature_margin} of the rows [n, k] a model of the named
    columns was fitted on (no encoders, presets or cq: such a model takes no codec labels)."""
    features = np.asarray(features, dtype=np.float64)
    return {
        "features": {
            str(name): [float(features[:, j].min()), float(features[:, j].max())] for j, name in enumerate(names)
        },
        "feature_margin": T.DOMAIN_FEATURE_MARGIN,
    }


def feature_problems(domain: Mapping[str, Any], names: Sequence[str], features: np.ndarray) -> list[str | None]:
    """Per row of `features` [N, k] (columns `names`, finite), why it lies outside the domain's
    feature ranges (None = inside)."""
    limits = np.array([feature_limits(domain, name) for name in names]).reshape(len(names), 2)
    outside = (features < limits[:, 0]) | (features > limits[:, 1])
    reasons: list[list[str]] = [[] for _ in range(features.shape[0])]
    for i, j in zip(*np.nonzero(outside)):
        lo, hi = limits[j]
        reasons[i].append(
            f"{names[j]} {features[i, j]:.6g} is outside the trained range {lo:.6g}..{hi:.6g} "
            f"(with a {domain['feature_margin']:.0%} margin)"
        )
    return ["; ".join(r) if r else None for r in reasons]


def describe_features(domain: Mapping[str, Any]) -> str:
    """One line: the feature ranges a model of named columns was trained on."""
    ranges = ", ".join(f"{name} {lo:.4g}..{hi:.4g}" for name, (lo, hi) in domain["features"].items())
    return f"trained on {ranges} (a {domain['feature_margin']:.0%} margin outside is allowed)"
