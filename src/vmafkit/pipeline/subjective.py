"""`vmafkit subjective train`: subjective scores as the target, four models side by side.

From videos (`train_from_dataset`): every pair is scored with libvmaf (cached, resumable), its
frames pooled per clip by their mean; the features are the canonical-6, and libvmaf's stock
v0.6.1 score of each clip is the fourth contender (through a logistic fitted on the training
folds). From a feature table (`train_from_table`): the named columns. Then (`evaluate_items`):
leave-one-content-out folds; the ensemble, nu-SVR (libvmaf's recipe), a linear model [and stock
VMAF + logistic] predict each held-out content; statistics with bootstrap intervals over contents;
the paired test of ensemble vs nu-SVR; the ensemble's conformal interval and its held-out
coverage; the subjective gate.

Files in OUT (each written atomically; the same inputs give byte-identical files on one machine's
CPU, the timing file apart):

* `subjective_report.json` — `n_items, n_groups, target, features, warnings, models{ensemble,
  nusvr, linear[, vmaf_logistic]}` each with `plcc, srocc, krocc, rmse` and `*_ci` (bootstrap
  over contents), `comparisons{ensemble_vs_<model>}` (paired bootstrap: differences, intervals,
  p-values), `ensemble.interval` (coverage), `gate`, `bootstrap`, `run_provenance`;
* `subjective_predictions.jsonl` — every clip's held-out prediction by every model (evidence.py);
* `subjective_items.jsonl` — the per-clip features and target (itself a valid `--table` input);
* `loso/loso_seed{N}.json` + `.predictions.jsonl` — the ensemble's evidence in the LOSO format;
* `subjective_timing.json` — wall times, what was scored now and what came from the cache.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vmafkit import layout
from vmafkit import thresholds as T
from vmafkit.corpus.subjective_items import Items
from vmafkit.corpus.subjective_scale import Scale, resolve_scale
from vmafkit.decide.subjective_evidence import REPORT_SCHEMA
from vmafkit.decide.subjective_gate import StatisticsSettings
from vmafkit.errors import InputError
from vmafkit.io import atomic_write_json, exclusive_lock
from vmafkit.progress import make_progress
from vmafkit.provenance import run_provenance
from vmafkit.train.folds import content_folds, data_warnings
from vmafkit.train.recipe import DEFAULT_SEEDS, Recipe

TIMING_FILE = layout.SUBJECTIVE_TIMING_FILE
ENTRYPOINT = "vmafkit subjective train"


@dataclass
class Options:
    seeds: Sequence[int] = DEFAULT_SEEDS
    recipe: Recipe = field(default_factory=lambda: Recipe.named("seed"))
    device: str = "cpu"
    workers: int | None = None
    n_boot: int = T.SUBJECTIVE_BOOTSTRAP
    boot_seed: int = T.SUBJECTIVE_BOOTSTRAP_SEED
    level: float = T.SUBJECTIVE_CI_LEVEL
    coverage: float = T.DEFAULT_COVERAGE
    progress: bool = False
    argv: list[str] | None = None


@dataclass
class SubjectiveResult:
    report: dict[str, Any]
    report_path: Path
    predictions_path: Path
    items_path: Path
    loso_reports: list[Path]
    table: str


def check_options(opts: Options) -> Options:
    from vmafkit.train.loso import check_recipe, check_seeds

    opts.seeds = check_seeds(opts.seeds)
    check_recipe(opts.recipe)
    if opts.recipe.label_mask_rate != 0:
        raise InputError("the subjective ensemble trains without label masking (its codec block is constant)")
    StatisticsSettings(opts.n_boot, opts.boot_seed, opts.level, opts.coverage)  # checks itself
    return opts


def _prepare_out(out_dir: str | Path) -> Path:
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("--out exists and is not a folder", path=out_dir)
    parent = out_dir.absolute().parent
    if not parent.is_dir():
        raise InputError(f"folder {parent} does not exist", path=out_dir)
    return out_dir


def train_from_dataset(
    dataset: str | Path,
    out_dir: str | Path,
    opts: Options | None = None,
    *,
    scale: Scale | str | None = None,
    ffmpeg: str | None = None,
    vmaf_bin: str | None = None,
    jobs: int | None = None,
    max_frames: int | None = None,
    cache_dir: str | Path | None = None,
    scale_filter: str | None = None,
    align: str | int | None = None,
) -> SubjectiveResult:
    """Score the dataset's pairs (cached) and run `evaluate_items` on the pooled clips. A pair whose
    distorted video has another size is scored upscaled to the reference's with `scale_filter`
    (ffmpeg's scale algorithm, as `vmafkit score --scale`); without one it is refused. `align`
    ("auto", an offset in frames, None: frame by frame) pairs each pair's frames as `vmafkit score
    --align` does; the report's `input.alignment` gives each item's offset."""
    from vmafkit.corpus.subjective_dataset import read_dataset
    from vmafkit.corpus.subjective_scoring import items_from_scores, score_pairs
    from vmafkit.media.align import parse_align

    opts = check_options(opts or Options())
    align = parse_align(align)  # "off" is None: recorded (and cached) as a run without --align
    out_dir = _prepare_out(out_dir)
    scale_obj = scale if isinstance(scale, Scale) or scale is None else resolve_scale(scale)
    pairs = read_dataset(dataset, scale_obj)
    content_folds(np.array([p.content for p in pairs], dtype=str))  # >= 2 contents, before any scoring
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(out_dir):
        cache = Path(cache_dir) if cache_dir is not None else layout.pair_cache_dir(out_dir)
        scored = score_pairs(
            pairs,
            cache,
            ffmpeg=ffmpeg,
            vmaf_bin=vmaf_bin,
            jobs=jobs,
            max_frames=max_frames,
            progress=opts.progress,
            scale_filter=scale_filter,
            align=align,
        )
        items = items_from_scores(scored, dataset, align=align)
        scoring_s = time.perf_counter() - started
        if scale_obj is None:
            scale_obj = resolve_scale(None, items.target.tolist())
        args = {
            "dataset": str(dataset),
            "max_frames": max_frames,
            "scale_filter": scale_filter,
            "vmaf_bin": vmaf_bin,
            "cache_dir": str(cache) if cache_dir is not None else None,
            **({"align": align} if align is not None else {}),  # only when given: as recorded before --align
        }
        return _evaluate_locked(
            items,
            out_dir,
            opts,
            scale_obj,
            inputs=[Path(dataset)],
            args=args,
            timing={"scoring_s": round(scoring_s, 3)},
        )


def train_from_table(
    table: str | Path,
    features: Sequence[str],
    target: str,
    group: str,
    out_dir: str | Path,
    opts: Options | None = None,
    *,
    scale: Scale | str | None = None,
    id_column: str | None = None,
) -> SubjectiveResult:
    """Read the table's named columns and run `evaluate_items`."""
    from vmafkit.corpus.subjective_table import read_table

    opts = check_options(opts or Options())
    out_dir = _prepare_out(out_dir)
    scale_obj = scale if isinstance(scale, Scale) or scale is None else resolve_scale(scale)
    items = read_table(table, features, target, group, id_column=id_column, scale=scale_obj)
    if scale_obj is None:
        scale_obj = resolve_scale(None, items.target.tolist())
    content_folds(items.groups)
    out_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(out_dir):
        args = {"table": str(table), "features": list(features), "target": target, "group": group, "id": id_column}
        return _evaluate_locked(items, out_dir, opts, scale_obj, inputs=[Path(table)], args=args, timing={})


def evaluate_items(
    items: Items, out_dir: str | Path, opts: Options | None = None, *, scale: Scale | None = None
) -> SubjectiveResult:
    """Folds, models, statistics, gate and files for items already in memory."""
    opts = check_options(opts or Options())
    out_dir = _prepare_out(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(out_dir):
        return _evaluate_locked(
            items.check(),
            out_dir,
            opts,
            scale or resolve_scale(None, items.target.tolist()),
            inputs=[],
            args={},
            timing={},
        )


def _evaluate_locked(
    items: Items,
    out_dir: Path,
    opts: Options,
    scale: Scale,
    *,
    inputs: list[Path],
    args: dict[str, Any],
    timing: dict[str, Any],
) -> SubjectiveResult:
    from vmafkit.decide.subjective_evidence import PREDICTIONS_FILE, summarise, write_predictions
    from vmafkit.report.subjective_table import format_table
    from vmafkit.train import subjective_models as M
    from vmafkit.train.ensemble import resolve_device
    from vmafkit.train.loso import default_workers
    from vmafkit.train.subjective_loso import ITEMS_FILE, write_items, write_loso

    started = time.perf_counter()
    folds = content_folds(items.groups)
    warnings = data_warnings(items.groups)
    member_layout = M.ensemble_layout(items.features.shape[1], items.canonical)
    dev = resolve_device(opts.device)
    workers = default_workers(dev) if opts.workers is None else max(1, int(opts.workers))
    x, y = items.features, items.target

    fit_started = time.perf_counter()
    ens = M.fit_predict_ensemble(
        x,
        y,
        folds,
        opts.seeds,
        opts.recipe,
        canonical=items.canonical,
        device=str(dev),
        workers=workers,
        progress=opts.progress,
    )
    ensemble_s = time.perf_counter() - fit_started
    per_seed = {int(s): scale.clip(ens.per_seed[i]) for i, s in enumerate(opts.seeds)}
    ensemble = np.mean(np.stack([per_seed[int(s)] for s in opts.seeds]), axis=0)
    preds = {"ensemble": ensemble}
    # nu-SVR's fits are the slow part of a large table (its cost grows with the square of the
    # training rows up to NUSVR_MAX_TRAIN_ROWS): shown with an ETA
    with make_progress(opts.progress) as bar:
        task = bar.add_task("baselines", total=2 * len(folds), note="nu-SVR, then linear, per fold")

        def advance() -> None:
            bar.update(task, advance=1)

        preds["nusvr"] = scale.clip(M.per_fold(M.fit_predict_nusvr, x, y, folds, advance))
        preds["linear"] = scale.clip(M.per_fold(M.fit_predict_linear, x, y, folds, advance))
    mappings = []
    if items.vmaf is not None:
        vmaf_pred = np.full(y.size, np.nan)
        for f in folds:
            vmaf_pred[f.held], mapping = M.fit_predict_vmaf_logistic(
                items.vmaf[f.train], y[f.train], items.vmaf[f.held]
            )
            mappings.append({"held_out": f.held_out, **mapping.to_json()})
        preds["vmaf_logistic"] = scale.clip(vmaf_pred)
    summary = summarise(
        y,
        items.groups,
        preds,
        per_seed,
        StatisticsSettings(opts.n_boot, opts.boot_seed, opts.level, opts.coverage),
        folds=folds,
    )
    held_half = summary.pop("_held_half_width")
    lower = scale.clip(ensemble - held_half) if np.all(np.isfinite(held_half)) else ensemble - held_half
    upper = scale.clip(ensemble + held_half) if np.all(np.isfinite(held_half)) else ensemble + held_half

    target_block = {
        "kind": "subjective",
        "scale": scale.to_json(),
        "column": items.source.get("target", "score"),
        "features": list(items.feature_names),
        "pooling": items.pooling,
        "ensemble_layout": member_layout,
        "target_standardised_on_training_folds": True,
    }
    models = summary["models"]
    models["ensemble"].update(
        {
            "recipe": opts.recipe.to_json(),
            "seeds": list(opts.seeds),
            "input_layout": member_layout,
            "target_scaling": "z-score with the training folds' mean/std, predictions mapped back",
            "prediction": "mean over seeds",
        }
    )
    models["nusvr"].update(
        {
            "recipe": {
                "C": M.NUSVR_C,
                "nu": M.NUSVR_NU,
                "gamma": M.NUSVR_GAMMA,
                "kernel": "rbf",
                "scaling": "features and target linearly to [0, 1] by the training folds' min/max",
                "implementation": "scikit-learn NuSVR (libsvm)",
                "source": M.NUSVR_SOURCE,
                "training_rows": f"at most {M.NUSVR_MAX_TRAIN_ROWS} per fold, evenly spaced (more: the fit's "
                "cost grows with the square of the rows)",
            }
        }
    )
    models["linear"].update({"recipe": "ordinary least squares on the training folds' standardised features"})
    if "vmaf_logistic" in models:
        models["vmaf_logistic"].update(
            {
                "recipe": "libvmaf's stock vmaf_v0.6.1 score (mean over frames) mapped by the VQEG "
                "5-parameter logistic fitted on the training folds",
                "mappings": mappings,
            }
        )

    out_dir.mkdir(parents=True, exist_ok=True)
    report_path = out_dir / layout.SUBJECTIVE_REPORT_FILE
    predictions_path = out_dir / PREDICTIONS_FILE
    items_path = out_dir / ITEMS_FILE
    write_items(items_path, items)
    write_predictions(predictions_path, items.ids, items.groups, y, preds, per_seed, lower, upper)
    loso_reports = write_loso(
        out_dir, items, items_path, folds, per_seed, opts.recipe, target_block, argv=opts.argv, device=dev.type
    )
    counts = {c: int(n) for c, n in zip(*np.unique(items.groups, return_counts=True))}
    source = {k: v for k, v in items.source.items() if k not in ("scored_now", "from_cache", "n_frames")}
    if "n_frames" in items.source:
        source["frames_per_clip"] = {
            "min": int(min(items.source["n_frames"])),
            "max": int(max(items.source["n_frames"])),
        }
    report = {
        "schema": REPORT_SCHEMA,
        "n_items": len(items),
        "n_groups": len(counts),
        "contents": [{"content": c, "n": n} for c, n in sorted(counts.items())],
        "input": source,
        "target": target_block,
        "folds": {
            "kind": "leave-one-content-out",
            "n_folds": len(folds),
            "fitted_on_training_folds": [
                "feature standardisation (ensemble, linear)",
                "[0, 1] rescaling of features and target (nusvr)",
                "target standardisation (ensemble)",
                "logistic mapping (vmaf_logistic)",
                "conformal half-width (other contents only)",
            ],
        },
        "warnings": warnings,
        **summary,
        "significance": summary["comparisons"]["ensemble_vs_nusvr"]["reading"],
        "files": {
            "predictions": PREDICTIONS_FILE,
            "items": ITEMS_FILE,
            "loso": [str(p.relative_to(out_dir)) for p in loso_reports],
            "timing": TIMING_FILE,
        },
        "thresholds": {k: getattr(T, k) for k in dir(T) if k.startswith("SUBJECTIVE_")},
    }
    report["run_provenance"] = run_provenance(
        ENTRYPOINT,
        {
            **args,
            "out_dir": str(out_dir),
            "seeds": list(opts.seeds),
            "bootstrap": opts.n_boot,
            "coverage": opts.coverage,
            "scale": scale.name,
            **opts.recipe.to_json(),
        },
        inputs=inputs,
        outputs=[report_path, predictions_path, items_path, *loso_reports],
        argv=opts.argv,
    )
    atomic_write_json(report_path, report)
    atomic_write_json(
        out_dir / TIMING_FILE,
        {
            **timing,
            "ensemble_fit_s": round(ensemble_s, 3),
            "evaluate_s": round(time.perf_counter() - started, 3),
            "members": len(opts.seeds) * len(folds),
            "workers": workers,
            "device": dev.type,
            "scored_now": items.source.get("scored_now"),
            "from_cache": items.source.get("from_cache"),
        },
    )
    return SubjectiveResult(
        report=report,
        report_path=report_path,
        predictions_path=predictions_path,
        items_path=items_path,
        loso_reports=loso_reports,
        table=format_table(report),
    )
