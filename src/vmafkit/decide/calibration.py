"""Prediction intervals that hold for a new source, calibrated on the LOSO held-out residuals.

The trainer writes, per seed, every row's *held-out* prediction (`loso_seed{N}.predictions.jsonl`,
read by `train.predictions.read_predictions`: row, src, group, encoder, preset, cq, frame_index,
vmaf, pred, pred_unlabelled, fold). The ensemble prediction of a row is the mean over seeds. A frame's score is
|vmaf - ensemble|; for a model of the robust recipe it is the larger of that and the same with
every label left out (`pred_unlabelled`), so one interval holds whether or not predict is told
the encoder, preset and cq. A clip's score is |mean vmaf - mean ensemble| over one cell (src,
encoder, preset, cq).

Only rows that would be *served* are calibrated on: each row is checked against the training
domain of the fold that held it out (`train.domain.held_out_served`), exactly as predict checks a
row against the exported ensemble's domain, and a refused row is left out (predict gives it no
interval). The refusals are counted per source and gated on their own (`gate`), so a source that
is mostly unlike the others is a finding rather than a wider interval for everyone. A clip is
calibrated on only when every frame of it is served.

Frames of one source are not exchangeable with frames of another: a pooled quantile covers 95 %
of frames on average while a new source can see 50 %. So the guarantee is about sources:

1. per source s (a LOSO fold), q_s = the smallest half-width that covers at least a fraction
   `coverage` (the frame level, default 0.95) of that source's served frames (scores sorted,
   q_s = score[ceil(coverage * n_s)]);
2. across the S sources, the half-width is the k-th smallest q_s, k from a distribution-free
   tolerance bound (`metrics.tolerance_rank`): with confidence SOURCE_CONFIDENCE (0.9) over the
   calibration sources, at least SOURCE_LEVEL (0.9) of new sources have q_s at most that. With
   fewer than 22 sources that level is out of reach, k = S (the largest q_s) and the level
   attained at that confidence, (1 - 0.9) ** (1 / S), is stated: 0.77 at 9 sources, 0.84 at 13.

What is and is not guaranteed, exactly: the residuals are those of the *fold* models (trained
without the source), the interval is served around the full-corpus refit (the jackknife, not
jackknife+/CV+). The bound holds for the fold models' predictions of sources exchangeable with
the corpus's; for the refit it holds only to the extent that the refit, trained on one more
source, is no less accurate than a fold model (it has no finite-sample guarantee of its own).

The check that can fail (`coverage_check`): each source's coverage at the half-width calibrated on
the *other* sources. The number of sources below `coverage` may not exceed what the guarantee
allows (`metrics.allowed_misses`: the 95 % quantile of Binomial(S, 1 - attained level)), and the
worst source may not fall below `T.FOLD_COVERAGE_MIN`. With k = S (fewer than 22 sources), at most
one source can fall below by construction (only the one whose q_s exceeds every other's), so the
count bites from 22 sources on and the floor is what bites below: it fails when one source's
frames are far less predictable than every other source's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vmafkit import layout
from vmafkit import thresholds as T
from vmafkit.corpus.schema import clip_ids
from vmafkit.errors import InputError
from vmafkit.io import sha256_file
from vmafkit.train.metrics import allowed_misses, cell_means, source_half_width, source_quantile
from vmafkit.train.predictions import prediction_file, read_predictions

METHOD = (
    "per-source quantile of LOSO held-out absolute residuals of the seed-mean ensemble on the rows each "
    "fold's training domain serves, then a distribution-free tolerance bound across sources; clip = cell "
    "(src, encoder, preset, cq) mean; residuals of the fold models, interval served around the refit (jackknife)"
)


def _align(per_seed: Mapping[int, dict[str, np.ndarray]], paths: Mapping[int, Path]) -> dict[str, np.ndarray]:
    seeds = sorted(per_seed)
    base = per_seed[seeds[0]]
    for seed in seeds[1:]:
        other = per_seed[seed]
        where = paths.get(seed, f"seed {seed}")
        if other["row"].shape != base["row"].shape or not np.array_equal(other["row"], base["row"]):
            raise InputError(
                f"rows differ from seed {seeds[0]}'s prediction file (seeds must cover the same corpus)", path=where
            )
        if not np.allclose(other["vmaf"], base["vmaf"], rtol=0, atol=1e-9):
            raise InputError(f"vmaf targets differ from seed {seeds[0]}'s prediction file", path=where)
        if not np.array_equal(other["fold"], base["fold"]):
            raise InputError(f"fold assignment differs from seed {seeds[0]}'s prediction file", path=where)
    return base


def _cells(cols: Mapping[str, np.ndarray]) -> np.ndarray:
    rung = [cols["rung"]] if "rung" in cols else []  # read_predictions always gives it; a hand-made table may not
    return clip_ids(cols["src"], cols["encoder"], cols["preset"], cols["cq"], *rung)


def _by_fold(scores: np.ndarray, folds: np.ndarray) -> dict[str, np.ndarray]:
    return {fold: np.sort(scores[folds == fold]) for fold in sorted(set(folds.tolist()))}


def _served_half_width(q: float, scales: np.ndarray | None, quantile: float = 0.5) -> float:
    """A quantile over rows of the half-width served: q x each row's scale (q itself unscaled)."""
    if scales is None or not math.isfinite(q):
        return q
    return float(np.quantile(q * scales, quantile))


def _level(
    scores: np.ndarray,
    folds: np.ndarray,
    coverage: float,
    checks: Mapping[str, np.ndarray] | None = None,
    scales: np.ndarray | None = None,
) -> dict[str, Any]:
    """Multiplier over all folds, and per fold the coverage of a multiplier from the other folds.
    `checks`: other score arrays (same rows) whose per-fold coverage is also measured. `scales`:
    per row, what the multiplier is multiplied by to give its half-width in VMAF points (None:
    scores are absolute residuals, the multiplier is the half-width); the half-widths reported are
    the median (and 90th percentile) over the rows of what would be served."""
    per_source = _by_fold(scores, folds)
    half, attained = source_half_width(list(per_source.values()), coverage)
    per_fold: dict[str, dict[str, Any]] = {}
    held_out_multiplier = np.empty(scores.size)
    for fold, mine in per_source.items():
        others = [v for f, v in per_source.items() if f != fold]
        q, _ = source_half_width(others, coverage)
        held_out_multiplier[folds == fold] = q
        item = {
            "n": int(mine.size),
            "half_width": _finite(_served_half_width(q, None if scales is None else scales[folds == fold])),
            "coverage": float(np.mean(mine <= q)),
            "source_quantile": source_quantile(mine, coverage),
        }
        for name, values in (checks or {}).items():
            item[f"coverage_{name}"] = float(np.mean(values[folds == fold] <= q))
        per_fold[fold] = item
    return {
        "n": int(scores.size),
        "n_sources": len(per_source),
        "multiplier": _finite(half),
        "half_width": _finite(_served_half_width(half, scales)),
        "half_width_p90": _finite(_served_half_width(half, scales, 0.9)),
        "source_level": attained,
        **_fold_stats(per_fold, coverage, attained),
        "half_widths": {
            f"{c:g}": _finite(_served_half_width(source_half_width(list(per_source.values()), c)[0], scales))
            for c in T.REPORTED_COVERAGES
        },
        "pooled_coverage": float(np.mean(scores <= half)),
        "per_fold": per_fold,
        "_per_source": per_source,
        "_held_out_multiplier": held_out_multiplier,
        "_scores": scores,
        "_scales": np.ones(scores.size) if scales is None else scales,
    }


def _fold_stats(per_fold: Mapping[str, Mapping[str, Any]], coverage: float, attained: float) -> dict[str, Any]:
    """The held-out summary of per-fold coverages: the worst, the share reaching `coverage`, the
    folds below it and how many the guarantee allows below."""
    covs = [float(v["coverage"]) for v in per_fold.values()] or [math.nan]
    return {
        "sources_below": [f for f, v in per_fold.items() if v["coverage"] < coverage - 1e-12],
        "sources_below_allowed": allowed_misses(len(per_fold), attained),
        "fold_coverage_min": float(np.min(covs)),
        "fold_hit_rate": float(np.mean([c >= coverage for c in covs])),
    }


def _finite(value: float) -> float | None:
    return None if not math.isfinite(value) else float(value)


def guarantee_text(coverage: float, source_level: float, n_sources: int) -> str:
    return (
        f"with {T.SOURCE_CONFIDENCE:.0%} confidence (a tolerance bound over {n_sources} LOSO sources), at least "
        f"{source_level:.0%} of new sources have at least {coverage:.0%} of their in-domain frames (clips) inside "
        "the interval; residuals of the fold models, served around the full-corpus refit (jackknife: no "
        "finite-sample guarantee for the refit itself)"
    )


def calibrate(
    per_seed: Mapping[int, dict[str, np.ndarray]],
    coverage: float = T.DEFAULT_COVERAGE,
    paths: Mapping[int, Path] | None = None,
    *,
    label_free: bool = False,
    served: np.ndarray | None = None,
) -> dict[str, Any]:
    """Calibration from aligned per-seed held-out predictions (see the module doc). `label_free`:
    the model answers without labels (robust recipe), so scores also cover `pred_unlabelled`.
    `served`: per row (in `row` order), whether the fold's training domain serves it
    (`train.domain.held_out_served`); None = every row.

    Returns {"summary": <JSON for the verdict>, "file": <JSON for the export's calibration file>}.
    """
    if not per_seed:
        raise InputError("no prediction files to calibrate on")
    if not 0.0 < coverage < 1.0:
        raise InputError(f"coverage must be in (0, 1), got {coverage}")
    paths = dict(paths or {})
    seeds = sorted(per_seed)
    base = _align(per_seed, paths)
    if label_free and any("pred_unlabelled" not in per_seed[s] for s in seeds):
        where = next((paths.get(s) for s in seeds if "pred_unlabelled" not in per_seed[s]), None)
        raise InputError("the recipe is label-free but the prediction file has no pred_unlabelled column", path=where)
    n_rows = base["row"].size
    served = np.ones(n_rows, dtype=bool) if served is None else np.asarray(served, dtype=bool)
    if served.shape != (n_rows,):
        raise InputError(f"served mask has {served.size} rows, the prediction files {n_rows}")
    if not served.any():
        raise InputError("every held-out row lies outside its fold's training domain: nothing to calibrate on")
    cell = _cells(base)  # ids 0..n_cells-1, so cell_means returns cell i at index i
    n_cells = int(cell.max()) + 1
    cell_fold = np.empty(n_cells, dtype=object)
    cell_fold[cell] = base["fold"]
    cell_fold = cell_fold.astype(str)
    vmaf_cell = cell_means(base["vmaf"], cell)
    cell_served = np.bincount(cell, weights=(~served).astype(np.float64), minlength=n_cells) == 0
    frame_fold = base["fold"][served]
    clip_fold = cell_fold[cell_served]

    def levels(members: list[int], offset: float | None) -> tuple[dict, dict]:
        """Frame and clip levels of the mean of `members`; `offset` None: absolute residuals, else
        residuals divided by (spread over members + offset) (`normalisation`)."""
        frame_scores, clip_scores, frame_scales, clip_scales = [], [], [], []
        frame_checks: dict[str, np.ndarray] = {}
        clip_checks: dict[str, np.ndarray] = {}
        for kind, key in (("labelled", "pred"), ("unlabelled", "pred_unlabelled")):
            if kind == "unlabelled" and not label_free:
                continue
            stack = np.stack([per_seed[s][key] for s in members])
            pred = stack.mean(axis=0)
            frame_scale = np.ones(n_rows) if offset is None else stack.std(axis=0) + offset
            clip_scale = cell_means(frame_scale, cell)
            frame = np.abs(base["vmaf"] - pred) / frame_scale
            clip = np.abs(vmaf_cell - cell_means(pred, cell)) / clip_scale
            frame_checks[kind], clip_checks[kind] = frame[served], clip[cell_served]
            frame_scores.append(frame)
            clip_scores.append(clip)
            frame_scales.append(frame_scale)
            clip_scales.append(clip_scale)
        frame_score, clip_score = np.max(frame_scores, axis=0), np.max(clip_scores, axis=0)
        # the half-width reported is the one served with labels given (the common case)
        scaled = offset is not None
        return (
            _level(
                frame_score[served], frame_fold, coverage, frame_checks, frame_scales[0][served] if scaled else None
            ),
            _level(
                clip_score[cell_served],
                clip_fold,
                coverage,
                clip_checks,
                clip_scales[0][cell_served] if scaled else None,
            ),
        )

    offset = spread_offset(per_seed, seeds, served)
    ens_frame, ens_clip = levels(seeds, offset)
    one_frame, one_clip = levels(seeds[:1], None)  # the smoke fallback member (lowest seed): no spread
    folds = sorted(ens_frame["per_fold"])
    refused = _refusals(base["fold"], served)
    per_fold = []
    no_clip = {"n": 0, "half_width": None, "coverage": None}
    for fold in folds:
        fr, cl = ens_frame["per_fold"][fold], ens_clip["per_fold"].get(fold, no_clip)
        item = {
            "fold": fold,
            "n_frames": fr["n"],
            "refusal_rate": refused["per_source"][fold],
            "frame_half_width": fr["half_width"],
            "frame_coverage": fr["coverage"],
            "frame_source_quantile": fr["source_quantile"],
            "n_clips": cl["n"],
            "clip_half_width": cl["half_width"],
            "clip_coverage": cl["coverage"],
        }
        if label_free:
            item["frame_coverage_labelled"] = fr["coverage_labelled"]
            item["frame_coverage_unlabelled"] = fr["coverage_unlabelled"]
        per_fold.append(item)

    def public(level: dict) -> dict:
        return {k: v for k, v in level.items() if not k.startswith("_") and k != "per_fold"}

    def residuals(level: dict) -> dict:
        sources = {fold: values.tolist() for fold, values in level["_per_source"].items()}
        return {"n": level["n"], "sources": sources}

    frame_cov = [f["frame_coverage"] for f in per_fold]
    clip_cov = [f["clip_coverage"] for f in per_fold if f["clip_coverage"] is not None] or [math.nan]
    summary = {
        "method": METHOD,
        "coverage": float(coverage),
        "source_level_target": T.SOURCE_LEVEL,
        "source_confidence": T.SOURCE_CONFIDENCE,
        "source_level": ens_frame["source_level"],
        "n_sources": ens_frame["n_sources"],
        "refused": refused,
        "coverage_check": {
            "sources_below": ens_frame["sources_below"],
            "n_below": len(ens_frame["sources_below"]),
            "n_below_allowed": ens_frame["sources_below_allowed"],
            "worst": float(np.min(frame_cov)),
            "worst_min": T.FOLD_COVERAGE_MIN,
        },
        "label_free": bool(label_free),
        "guarantee": guarantee_text(coverage, ens_frame["source_level"], ens_frame["n_sources"]),
        "seeds": seeds,
        "normalisation": normalisation(offset),
        "frame": public(ens_frame),
        "clip": public(ens_clip),
        "per_fold": per_fold,
        "frame_bands": quality_bands(ens_frame, base["vmaf"][served]),
        "fold_frame_coverage_mean": float(np.mean(frame_cov)),
        "fold_frame_coverage_min": float(np.min(frame_cov)),
        "fold_frame_hit_rate": ens_frame["fold_hit_rate"],
        "fold_clip_coverage_mean": _finite(float(np.mean(clip_cov))),
        "fold_clip_coverage_min": _finite(float(np.min(clip_cov))),
        "single_member": {"seed": seeds[0], "frame": public(one_frame), "clip": public(one_clip)},
        "prediction_files": [
            {"seed": s, "path": Path(paths[s]).name, "sha256": sha256_file(paths[s])} for s in seeds if s in paths
        ],
    }
    file = {
        "schema_version": 2,
        "kind": "per-source-conformal-abs-residual",
        "method": METHOD,
        "default_coverage": float(coverage),
        "source_level": T.SOURCE_LEVEL,
        "label_free": bool(label_free),
        "ensemble": {
            "seeds": seeds,
            "normalisation": normalisation(offset),
            "frame": residuals(ens_frame),
            "clip": residuals(ens_clip),
        },
        "single_member": {"seed": seeds[0], "frame": residuals(one_frame), "clip": residuals(one_clip)},
        "summary": summary,
    }
    return {"summary": summary, "file": file}


NORMALISED = "ensemble-spread"
ABSOLUTE = "none"


def spread_offset(
    per_seed: Mapping[int, Mapping[str, np.ndarray]], seeds: list[int], served: np.ndarray
) -> float | None:
    """The offset c of the normalised score |residual| / (spread + c): `T.SPREAD_OFFSET` times the
    median spread (population std over the seeds' held-out predictions) of the served rows. None
    (absolute residuals) for fewer than `T.SPREAD_MIN_SEEDS` seeds (the spread of two is one
    difference: too noisy to scale by), or when the seeds never disagree."""
    if len(seeds) < T.SPREAD_MIN_SEEDS:
        return None
    spread = np.stack([per_seed[s]["pred"] for s in seeds]).std(axis=0)[served]
    offset = T.SPREAD_OFFSET * float(np.median(spread))
    return offset if offset > 0.0 else None


def normalisation(offset: float | None) -> dict[str, Any]:
    """The calibration file's description of its scores: what predict divides by."""
    if offset is None:
        return {"kind": ABSOLUTE}
    return {"kind": NORMALISED, "offset": offset}


def row_scales(normalisation_block: Mapping[str, Any] | None, spread: np.ndarray | None, n: int) -> np.ndarray:
    """Per row, what the calibrated multiplier is multiplied by: spread + offset for a normalised
    calibration (`spread`: the members' population std per row), 1 for an absolute one."""
    if not normalisation_block or normalisation_block.get("kind") == ABSOLUTE:
        return np.ones(n)
    if spread is None:
        raise InputError("the calibration is normalised by the ensemble's spread, but no spread was computed")
    return np.asarray(spread, dtype=np.float64) + float(normalisation_block["offset"])


QUALITY_BANDS = ((0.0, 60.0), (60.0, 80.0), (80.0, 90.0), (90.0, 100.0))


def quality_bands(level: Mapping[str, Any], vmaf: np.ndarray) -> list[dict[str, Any]]:
    """Per band of the held-out vmaf (the last band includes 100): rows, the coverage of each row by
    the interval calibrated without its source, and the median half-width that interval serves."""
    out = []
    for lo, hi in QUALITY_BANDS:
        rows = (vmaf >= lo) & ((vmaf < hi) if hi < 100.0 else (vmaf <= hi))
        if not rows.any():
            continue
        multiplier = level["_held_out_multiplier"][rows]
        width = multiplier * level["_scales"][rows]
        out.append(
            {
                "band": [lo, hi],
                "n": int(rows.sum()),
                "coverage": float(np.mean(level["_scores"][rows] <= multiplier)),
                "median_half_width": _finite(float(np.median(width))),
            }
        )
    return out


def _refusals(folds: np.ndarray, served: np.ndarray) -> dict[str, Any]:
    """{n, rate, per_source: {fold: rate}} of held-out rows their fold's domain refuses."""
    per_source = {fold: float(np.mean(~served[folds == fold])) for fold in sorted(set(folds.tolist()))}
    return {"n": int((~served).sum()), "rate": float(np.mean(~served)), "per_source": per_source}


def calibrate_from_loso(
    loso_dir: str | Path,
    seeds: Iterable[int],
    coverage: float = T.DEFAULT_COVERAGE,
    *,
    label_free: bool = False,
    served: np.ndarray | None = None,
) -> dict[str, Any] | None:
    """Calibrate from the prediction files in `loso_dir`; None when no seed has one; InputError
    when only some seeds have one or a file is malformed."""
    seeds = sorted(int(s) for s in seeds)
    paths = {s: prediction_file(loso_dir, s) for s in seeds}
    present = {s: p for s, p in paths.items() if p is not None}
    if not present:
        return None
    if len(present) != len(seeds):
        missing = [s for s in seeds if paths[s] is None]
        raise InputError(
            f"held-out prediction files missing for seeds {missing} (expected {layout.PREDICTION_FILES})",
            path=loso_dir,
        )
    per_seed = {s: read_predictions(p) for s, p in present.items()}
    return calibrate(per_seed, coverage, paths=present, label_free=label_free, served=served)
