"""Compare two sites' bundles: are their verdicts the same finding (`compare_bundles`)?"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vmafkit.bundle.layout import DEFAULT_BOOTSTRAP, DEFAULT_BOOTSTRAP_SEED, DEFAULT_CONFIDENCE, DEFAULT_TOLERANCE
from vmafkit.bundle.reading import Limits, LoadedBundle, load_bundle
from vmafkit.errors import InputError
from vmafkit.validation import BOOTSTRAP_RANGE


def _plcc_matrix(bundle: LoadedBundle) -> tuple[list[int], list[str], np.ndarray]:
    seeds = sorted(bundle.seed_reports)
    folds: list[str] = sorted(
        {
            str(f.get("held_out"))
            for r in bundle.seed_reports.values()
            for f in r.get("folds") or []
            if isinstance(f, dict)
        }
    )
    matrix = np.full((len(seeds), len(folds)), np.nan)
    for i, seed in enumerate(seeds):
        for fold in bundle.seed_reports[seed].get("folds") or []:
            if isinstance(fold, dict) and isinstance(fold.get("plcc"), (int, float)):
                matrix[i, folds.index(str(fold.get("held_out")))] = float(fold["plcc"])
    return seeds, folds, matrix


def _mean_plcc(matrix: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Mean over seeds of each seed's mean over the (resampled) folds; cols [B, F]."""
    picked = matrix[:, cols]  # [S, B, F]
    with np.errstate(invalid="ignore"), _quiet_nan():
        per_seed = np.nanmean(picked, axis=2)  # [S, B]
        return np.nanmean(per_seed, axis=0)  # [B]


class _quiet_nan:
    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def _num(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value):
        return float(value)
    return None


def _input_facts(bundle: LoadedBundle) -> dict[str, Any]:
    env = bundle.environment
    verdict = bundle.verdict
    args = {}
    prov = verdict.get("run_provenance")
    if isinstance(prov, Mapping) and isinstance(prov.get("args"), Mapping):
        args = prov["args"]
    corpus = verdict.get("corpus")
    encoders = env.get("encoders", args.get("encoders"))
    if isinstance(encoders, str):
        encoders = [e for e in encoders.split(",") if e]
    if isinstance(encoders, list):
        encoders = sorted(str(e) for e in encoders)
    packages = env.get("packages") or {}
    ffmpeg = env.get("ffmpeg")
    if not isinstance(ffmpeg, Mapping):
        ffmpeg = {}
    first = bundle.seed_reports[min(bundle.seed_reports)]
    facts = {
        "corpus.sha256": corpus.get("sha256") if isinstance(corpus, Mapping) else corpus,
        "corpus.rows": corpus.get("rows") if isinstance(corpus, Mapping) else None,
        "corpus.sources": corpus.get("sources") if isinstance(corpus, Mapping) else None,
        "encoders": encoders,
        "ffmpeg_version": env.get("ffmpeg_version", ffmpeg.get("version")),
        "libvmaf_version": env.get("libvmaf_version", ffmpeg.get("libvmaf_version")),
        "platform": (env.get("platform") or {}).get("family"),
        "vmafkit": packages.get("vmafkit"),
        "torch": packages.get("torch"),
        "seeds": sorted(bundle.seed_reports),
        "epochs": first.get("epochs"),
        "encoder_vocab_version": first.get("encoder_vocab_version"),
    }
    if isinstance(corpus, Mapping):
        for key in sorted(corpus):
            if key not in ("sha256", "rows", "sources", "path"):
                value = corpus[key]
                if isinstance(value, Mapping):  # e.g. ref_dir {path, sha256, count}: where it lived is no input
                    value = {k: v for k, v in value.items() if k != "path"}
                facts[f"corpus.{key}"] = value
    return facts


@dataclass
class CompareReport:
    a: str
    b: str
    verdict_a: str | None
    verdict_b: str | None
    same_verdict: bool
    tolerance: float
    confidence: float
    n_bootstrap: int
    bootstrap_seed: int
    paired: bool
    mean_plcc_a: float | None
    mean_plcc_b: float | None
    diff: float | None  # b - a
    ci: list[float] | None  # [low, high] of b - a
    within_tolerance: bool
    agree: bool
    reason: str
    per_seed: list[dict[str, Any]]
    per_fold: list[dict[str, Any]]
    inputs: list[dict[str, Any]]

    @property
    def differing_inputs(self) -> list[str]:
        return [item["name"] for item in self.inputs if not item["same"]]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["differing_inputs"] = self.differing_inputs
        return out


def compare_bundles(
    a: str | Path,
    b: str | Path,
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    n_bootstrap: int = DEFAULT_BOOTSTRAP,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = DEFAULT_BOOTSTRAP_SEED,
    limits: Limits = Limits(),
) -> CompareReport:
    """Are two sites' verdicts the same finding?

    diff = mean PLCC(B) - mean PLCC(A), where a bundle's mean PLCC is the mean over seeds of
    each seed's mean over folds. Its confidence interval is a percentile bootstrap over folds
    (held-out sources): when both bundles have the same folds, the same resampled folds are
    used for both (paired); otherwise each bundle's folds are resampled independently. The RNG
    is numpy's default_rng(seed), so the output is deterministic.

    agree = same verdict AND the whole interval lies within [-tolerance, +tolerance].
    """
    if not (tolerance >= 0):
        raise InputError(f"tolerance must be >= 0, got {tolerance}")
    if not (0 < confidence < 1):
        raise InputError(f"confidence must be in (0, 1), got {confidence}")
    low, high = BOOTSTRAP_RANGE
    if (
        isinstance(n_bootstrap, bool)
        or not isinstance(n_bootstrap, (int, np.integer))
        or not low <= n_bootstrap <= high
    ):
        raise InputError(f"n_bootstrap must be an integer in {low}..{high}, got {n_bootstrap!r}")
    left, right = load_bundle(a, limits=limits), load_bundle(b, limits=limits)
    verdict_a, verdict_b = left.manifest.get("verdict"), right.manifest.get("verdict")
    seeds_a, folds_a, m_a = _plcc_matrix(left)
    seeds_b, folds_b, m_b = _plcc_matrix(right)

    per_seed = []
    for s in sorted(set(seeds_a) | set(seeds_b)):
        ra, rb = left.seed_reports.get(s, {}), right.seed_reports.get(s, {})
        pa, pb = _num(ra.get("mean_plcc")), _num(rb.get("mean_plcc"))
        per_seed.append({"seed": s, "a": pa, "b": pb, "diff": None if pa is None or pb is None else pb - pa})
    per_fold = []
    for s in sorted(set(seeds_a) | set(seeds_b)):
        for fold in sorted(set(folds_a) | set(folds_b)):
            va = m_a[seeds_a.index(s), folds_a.index(fold)] if s in seeds_a and fold in folds_a else np.nan
            vb = m_b[seeds_b.index(s), folds_b.index(fold)] if s in seeds_b and fold in folds_b else np.nan
            pa, pb = _num(va), _num(vb)
            if pa is None and pb is None:
                continue
            per_fold.append(
                {"seed": s, "held_out": fold, "a": pa, "b": pb, "diff": None if pa is None or pb is None else pb - pa}
            )

    mean_a = mean_b = diff = None
    ci = None
    paired = bool(folds_a) and folds_a == folds_b
    reason = ""
    if not folds_a or not folds_b or np.isnan(m_a).all() or np.isnan(m_b).all():
        reason = "a bundle has no per-fold PLCC"
    else:
        mean_a = float(_mean_plcc(m_a, np.arange(len(folds_a))[None, :])[0])
        mean_b = float(_mean_plcc(m_b, np.arange(len(folds_b))[None, :])[0])
        diff = mean_b - mean_a
        rng = np.random.default_rng(seed)
        cols_a = rng.integers(0, len(folds_a), size=(n_bootstrap, len(folds_a)))
        cols_b = cols_a if paired else rng.integers(0, len(folds_b), size=(n_bootstrap, len(folds_b)))
        boots = _mean_plcc(m_b, cols_b) - _mean_plcc(m_a, cols_a)
        boots = boots[np.isfinite(boots)]
        if boots.size:
            alpha = (1 - confidence) / 2
            ci = [float(np.quantile(boots, alpha)), float(np.quantile(boots, 1 - alpha))]
        else:
            reason = "the bootstrap gave no finite difference"
    same_verdict = verdict_a == verdict_b
    within = ci is not None and ci[0] >= -tolerance and ci[1] <= tolerance
    agree = same_verdict and within
    if not reason:
        if agree:
            reason = f"same verdict and the {confidence:.0%} interval of the difference lies within ±{tolerance}"
        elif not same_verdict:
            reason = f"verdicts differ ({verdict_a} vs {verdict_b})"
        else:
            reason = f"same verdict, but the {confidence:.0%} interval of the difference is not within ±{tolerance}"

    facts_a, facts_b = _input_facts(left), _input_facts(right)
    inputs = [
        {"name": key, "a": facts_a.get(key), "b": facts_b.get(key), "same": facts_a.get(key) == facts_b.get(key)}
        for key in sorted(set(facts_a) | set(facts_b))
    ]
    inputs.append({"name": "folds", "a": folds_a, "b": folds_b, "same": folds_a == folds_b})
    return CompareReport(
        a=str(a),
        b=str(b),
        verdict_a=verdict_a,
        verdict_b=verdict_b,
        same_verdict=same_verdict,
        tolerance=tolerance,
        confidence=confidence,
        n_bootstrap=n_bootstrap,
        bootstrap_seed=seed,
        paired=paired,
        mean_plcc_a=mean_a,
        mean_plcc_b=mean_b,
        diff=diff,
        ci=ci,
        within_tolerance=within,
        agree=agree,
        reason=reason,
        per_seed=per_seed,
        per_fold=per_fold,
        inputs=inputs,
    )
