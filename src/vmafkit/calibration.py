"""Split-conformal prediction intervals for the ensemble, calibrated on the LOSO residuals.

The trainer writes, per seed, every row's *held-out* prediction (`loso_seed{N}.predictions.jsonl`
or `.parquet`: row, src, group, encoder, preset, cq, frame_index, vmaf, pred, fold). Here:

* per row, the ensemble prediction is the mean over seeds of the held-out predictions;
* the frame-level score is |vmaf - ensemble|; the clip-level score is |mean vmaf - mean
  ensemble| over the frames of one cell (src, encoder, preset, cq), i.e. of one encoded clip;
* the half-width at coverage q is the k-th smallest score with k = ceil((n + 1) q) (the finite-
  sample conformal level ceil((n+1)q)/n); when k > n the interval is unbounded (too few rows);
* per fold (held-out source), coverage is measured with the half-width calibrated on the *other*
  folds only, so it is an honest out-of-source estimate of whether "95 %" means 95 %.

The guarantee assumes the scored unit is exchangeable with the calibration units; frames of one
source are not independent, which is why the per-fold (leave-one-source-out) coverage is reported
beside the pooled number. The exported models are refitted on the full corpus: the LOSO residuals
describe how the *recipe* generalises to an unseen source, which is the situation predict is used
in; they are not the refit model's residuals (on its own training corpus a tiny test ensemble
covered 93 % of frames at a 95 % level, so no in-sample guarantee is claimed).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from . import thresholds as T
from .errors import InputError
from .io import sha256_file

PRED_COLUMNS = ("row", "src", "encoder", "preset", "cq", "frame_index", "vmaf", "pred", "fold")
ROW_ALIASES = ("row", "row_index", "index", "idx")
METHOD = ("split conformal on LOSO held-out absolute residuals of the seed-mean ensemble; "
          "half-width = k-th smallest residual, k = ceil((n+1)q); clip = cell (src, encoder, preset, cq) mean")


def conformal_rank(n: int, coverage: float) -> int:
    """k = ceil((n + 1) * coverage): the rank of the conformal quantile among n scores."""
    if not 0.0 < coverage < 1.0:
        raise InputError(f"coverage must be in (0, 1), got {coverage}")
    return int(math.ceil((n + 1) * coverage - 1e-9))


def conformal_quantile(scores: np.ndarray, coverage: float, *, presorted: bool = False) -> float:
    """The finite-sample conformal quantile of `scores` at `coverage`; inf when n is too small."""
    scores = np.asarray(scores, dtype=np.float64)
    n = scores.size
    if n == 0:
        return math.inf
    k = conformal_rank(n, coverage)
    if k > n:
        return math.inf
    if presorted:
        return float(scores[k - 1])
    return float(np.partition(scores, k - 1)[k - 1])


def prediction_file(loso_dir: str | Path, seed: int) -> Path | None:
    """The seed's held-out prediction file (jsonl preferred over parquet), or None."""
    for suffix in ("jsonl", "parquet"):
        path = Path(loso_dir) / f"loso_seed{int(seed)}.predictions.{suffix}"
        if path.is_file():
            return path
    return None


def read_predictions(path: str | Path) -> dict[str, np.ndarray]:
    """Columns of one seed's held-out prediction file; InputError naming file:line on bad input."""
    path = Path(path)
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq

            rows = pq.read_table(path).to_pylist()
        except FileNotFoundError:
            raise InputError("prediction file not found", path=path) from None
        except Exception as exc:
            raise InputError(f"not a readable Parquet file ({exc})", path=path) from None
        numbered = [(i + 1, r) for i, r in enumerate(rows)]
    else:
        numbered = []
        try:
            with open(path, encoding="utf-8") as handle:
                for lineno, line in enumerate(handle, start=1):
                    if line.strip():
                        try:
                            numbered.append((lineno, json.loads(line)))
                        except json.JSONDecodeError as exc:
                            raise InputError(f"{path}:{lineno}: line is not valid JSON ({exc.msg})") from None
        except FileNotFoundError:
            raise InputError("prediction file not found", path=path) from None
    if not numbered:
        raise InputError("prediction file has no rows", path=path)
    cols: dict[str, list] = {k: [] for k in PRED_COLUMNS}
    for lineno, row in numbered:
        where = f"{path}:{lineno}"
        if not isinstance(row, dict):
            raise InputError(f"{where}: a row must be a JSON object")
        row_key = next((k for k in ROW_ALIASES if k in row), None)
        missing = [k for k in PRED_COLUMNS if k != "row" and k not in row] + ([] if row_key else ["row"])
        if missing:
            raise InputError(f"{where}: missing keys {', '.join(missing)}")
        for key in ("vmaf", "pred", "cq"):
            value = row[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InputError(f"{where}: {key} must be a finite number, got {value!r}")
        cols["row"].append(int(row[row_key]))
        for key in PRED_COLUMNS[1:]:
            cols[key].append(row[key])
    out = {
        "row": np.asarray(cols["row"], dtype=np.int64),
        "src": np.asarray([str(v) for v in cols["src"]]),
        "encoder": np.asarray([str(v) for v in cols["encoder"]]),
        "preset": np.asarray([str(v) for v in cols["preset"]]),
        "cq": np.asarray(cols["cq"], dtype=np.float64),
        "frame_index": np.asarray(cols["frame_index"], dtype=np.int64),
        "vmaf": np.asarray(cols["vmaf"], dtype=np.float64),
        "pred": np.asarray(cols["pred"], dtype=np.float64),
        "fold": np.asarray([str(v) for v in cols["fold"]]),
    }
    order = np.argsort(out["row"], kind="stable")
    out = {k: v[order] for k, v in out.items()}
    if np.unique(out["row"]).size != out["row"].size:
        raise InputError("prediction file repeats a row index (each row must be held out exactly once)", path=path)
    return out


def _align(per_seed: Mapping[int, dict[str, np.ndarray]], paths: Mapping[int, Path]) -> dict[str, np.ndarray]:
    seeds = sorted(per_seed)
    base = per_seed[seeds[0]]
    for seed in seeds[1:]:
        other = per_seed[seed]
        where = paths.get(seed, f"seed {seed}")
        if other["row"].shape != base["row"].shape or not np.array_equal(other["row"], base["row"]):
            raise InputError(f"rows differ from seed {seeds[0]}'s prediction file (seeds must cover the same corpus)", path=where)
        if not np.allclose(other["vmaf"], base["vmaf"], rtol=0, atol=1e-9):
            raise InputError(f"vmaf targets differ from seed {seeds[0]}'s prediction file", path=where)
        if not np.array_equal(other["fold"], base["fold"]):
            raise InputError(f"fold assignment differs from seed {seeds[0]}'s prediction file", path=where)
    return base


def _cells(cols: Mapping[str, np.ndarray]) -> np.ndarray:
    keys = np.char.add(np.char.add(np.char.add(cols["src"], "|"), cols["encoder"]),
                       np.char.add(np.char.add("|", cols["preset"]), np.char.add("|", cols["cq"].astype(str))))
    _, ids = np.unique(keys, return_inverse=True)
    return ids.reshape(-1)


def _cell_means(values: np.ndarray, cell: np.ndarray, n_cells: int) -> np.ndarray:
    sums = np.bincount(cell, weights=values, minlength=n_cells)
    counts = np.bincount(cell, minlength=n_cells)
    return sums / counts


def _level(scores: np.ndarray, folds: np.ndarray, coverage: float) -> dict[str, Any]:
    """Pooled half-widths, and per fold the coverage with a half-width from the other folds."""
    sorted_scores = np.sort(scores)
    half = conformal_quantile(sorted_scores, coverage, presorted=True)
    per_fold = {}
    for fold in sorted(set(folds.tolist())):
        inside = folds == fold
        q = conformal_quantile(scores[~inside], coverage)
        per_fold[fold] = {"n": int(inside.sum()), "half_width": _finite(q),
                          "coverage": float(np.mean(scores[inside] <= q))}
    return {
        "n": int(scores.size),
        "half_width": _finite(half),
        "half_widths": {f"{c:g}": _finite(conformal_quantile(sorted_scores, c, presorted=True)) for c in T.REPORTED_COVERAGES},
        "pooled_coverage": float(np.mean(scores <= half)),
        "per_fold": per_fold,
        "_sorted": sorted_scores,
    }


def _finite(value: float) -> float | None:
    return None if not math.isfinite(value) else float(value)


def calibrate(per_seed: Mapping[int, dict[str, np.ndarray]], coverage: float = T.DEFAULT_COVERAGE,
              paths: Mapping[int, Path] | None = None) -> dict[str, Any]:
    """Calibration from aligned per-seed held-out predictions (see the module doc).

    Returns {"summary": <JSON for the verdict>, "file": <JSON for the export's calibration file>}.
    """
    if not per_seed:
        raise InputError("no prediction files to calibrate on")
    conformal_rank(1, coverage)  # validates coverage
    paths = dict(paths or {})
    seeds = sorted(per_seed)
    base = _align(per_seed, paths)
    preds = np.stack([per_seed[s]["pred"] for s in seeds])  # [M, n]
    ensemble = preds.mean(axis=0)
    single = preds[0]  # the smoke fallback member: lowest seed
    cell = _cells(base)
    n_cells = int(cell.max()) + 1
    cell_fold = np.empty(n_cells, dtype=object)
    cell_fold[cell] = base["fold"]
    cell_fold = cell_fold.astype(str)
    vmaf_cell = _cell_means(base["vmaf"], cell, n_cells)

    def levels(pred: np.ndarray) -> tuple[dict, dict]:
        frame = _level(np.abs(base["vmaf"] - pred), base["fold"], coverage)
        clip = _level(np.abs(vmaf_cell - _cell_means(pred, cell, n_cells)), cell_fold, coverage)
        return frame, clip

    ens_frame, ens_clip = levels(ensemble)
    one_frame, one_clip = levels(single)
    folds = sorted(ens_frame["per_fold"])
    per_fold = [{
        "fold": fold,
        "n_frames": ens_frame["per_fold"][fold]["n"],
        "frame_half_width": ens_frame["per_fold"][fold]["half_width"],
        "frame_coverage": ens_frame["per_fold"][fold]["coverage"],
        "n_clips": ens_clip["per_fold"][fold]["n"],
        "clip_half_width": ens_clip["per_fold"][fold]["half_width"],
        "clip_coverage": ens_clip["per_fold"][fold]["coverage"],
    } for fold in folds]

    def public(level: dict) -> dict:
        return {k: v for k, v in level.items() if k not in ("_sorted", "per_fold")}

    frame_cov = [f["frame_coverage"] for f in per_fold]
    clip_cov = [f["clip_coverage"] for f in per_fold]
    summary = {
        "method": METHOD,
        "coverage": float(coverage),
        "seeds": seeds,
        "frame": public(ens_frame),
        "clip": public(ens_clip),
        "per_fold": per_fold,
        "fold_frame_coverage_mean": float(np.mean(frame_cov)),
        "fold_frame_coverage_min": float(np.min(frame_cov)),
        "fold_clip_coverage_mean": float(np.mean(clip_cov)),
        "fold_clip_coverage_min": float(np.min(clip_cov)),
        "single_member": {"seed": seeds[0], "frame": public(one_frame), "clip": public(one_clip)},
        "prediction_files": [{"seed": s, "path": str(paths[s]), "sha256": sha256_file(paths[s])}
                             for s in seeds if s in paths],
    }
    file = {
        "schema_version": 1,
        "kind": "split-conformal-abs-residual",
        "method": METHOD,
        "default_coverage": float(coverage),
        "ensemble": {"seeds": seeds,
                     "frame": {"n": ens_frame["n"], "residuals": ens_frame["_sorted"].tolist()},
                     "clip": {"n": ens_clip["n"], "residuals": ens_clip["_sorted"].tolist()}},
        "single_member": {"seed": seeds[0],
                          "frame": {"n": one_frame["n"], "residuals": one_frame["_sorted"].tolist()},
                          "clip": {"n": one_clip["n"], "residuals": one_clip["_sorted"].tolist()}},
        "summary": summary,
    }
    return {"summary": summary, "file": file}


def calibrate_from_loso(loso_dir: str | Path, seeds: Iterable[int],
                        coverage: float = T.DEFAULT_COVERAGE) -> dict[str, Any] | None:
    """Calibrate from the prediction files in `loso_dir`; None when no seed has one; InputError
    when only some seeds have one or a file is malformed."""
    seeds = sorted(int(s) for s in seeds)
    paths = {s: prediction_file(loso_dir, s) for s in seeds}
    present = {s: p for s, p in paths.items() if p is not None}
    if not present:
        return None
    if len(present) != len(seeds):
        missing = [s for s in seeds if paths[s] is None]
        raise InputError(f"held-out prediction files missing for seeds {missing} "
                         f"(expected loso_seed{{N}}.predictions.jsonl or .parquet)", path=loso_dir)
    per_seed = {s: read_predictions(p) for s, p in present.items()}
    return calibrate(per_seed, coverage, paths=present)

