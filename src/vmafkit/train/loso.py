"""Leave-one-source-out training: folds x seeds -> `loso_seed{N}.json` (+ predictions, timing).
The file names are `layout`'s.

One fold per distinct `group` of the corpus (`Corpus.group`, which defaults to `src`), in sorted
group order. For each fold the `FeatureSpec` (canonical-6 mean/std and the cq range of
`crf_norm`) is fitted on the training rows only and then applied to the held-out rows. Every
(seed, fold) pair is one member; all members are trained together by `ensemble.fit_members`.

Files written to `out_dir` for each seed N (all atomically, canonical JSON with sorted keys):

`loso_seed{N}.json` — the report: the keys `seed, corpus, n_folds, folds[{held_out, n_train,
n_val, plcc, srocc, rmse}], mean_plcc, std_plcc, min_plcc, max_plcc, mean_srocc, mean_rmse,
epochs, batch_size, lr, weight_decay, num_codecs, encoder_vocab_version, wall_time_s,
run_provenance` (schemas/seed_report.schema.json checks those the gate reads) plus:

* `wall_time_s` is always `null` here so that the report is byte-identical across re-runs on CPU;
  the measured time is in `loso_seed{N}.timing.json` (`timing_file` names it).
* per fold: `krocc`, `plcc_logistic` (VQEG 5-parameter logistic, then PLCC), `clip` (`n_clips`,
  `plcc`, `srocc`, `rmse` over cell means: the mean over the frames of one (src, encoder, preset,
  cq) cell, for prediction and VMAF), `abs_residual_quantiles` (`"0.5"`, `"0.8"`, `"0.9"`,
  `"0.95"`, `"0.99"` of |pred - vmaf| over the fold's held-out frames), `conformal`
  (`{"0.8"|"0.9"|"0.95": {halfwidth, coverage}}`: the per-source conformal half-width
  (`metrics.source_half_width`, as calibration does) from the held-out absolute residuals of the
  *other* folds of this seed, and the fraction of this fold's held-out frames with
  |pred - vmaf| <= halfwidth), `feature_spec` (what was fitted on
  the training rows: mean, std, cq_min, cq_max, ...).
* summaries: `mean_krocc`, `mean_plcc_logistic`, `mean_clip_plcc`, `mean_clip_srocc`,
  `mean_clip_rmse`, `n_undefined_folds` (folds whose PLCC is undefined, e.g. a constant target;
  they are left out of the means / min / max, which ignore NaN), `pooled` (the same statistics
  over all held-out frames of all folds together, with `abs_residual_quantiles` and the
  per-source conformal `halfwidth` over all folds), `conformal_coverage` (`{"0.95": {mean, min,
  max}}` over folds), `recipe`, `device`, `predictions_file`, `timing_file`, `schema`.
* `corpus`: `{path, sha256, rows, sources, groups}`.
* Undefined numbers (NaN) are written as null.

`loso_seed{N}.predictions.jsonl` — the held-out prediction of every corpus row by this seed's
member of the fold that held it out (the format: `train.predictions`).

`loso_seed{N}.folds.f32` — the weights of this seed's member of every fold (`train.fold_members`
has the format); the report's `fold_members` names it with its sha256, and every decision
re-runs those members on their held-out rows before it believes the prediction file.

`loso_seed{N}.timing.json` — `{seed, wall_time_s (the whole run: load, fit, predict, write),
fit_time_s (wall time of the batched fit of all members; shared by every seed), fit_cpu_s (CPU
seconds of that fit, all shards), members, device, torch_threads, workers, report}`: not
deterministic, kept out of the report on purpose.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vmafkit import layout
from vmafkit.corpus.schema import Corpus, load_corpus
from vmafkit.errors import InputError
from vmafkit.io import atomic_write_json, exclusive_lock, sha256_file
from vmafkit.provenance import run_provenance
from vmafkit.train import metrics
from vmafkit.train.ensemble import MemberData, fit_members, predict_one, resolve_device
from vmafkit.train.features import (
    ENCODER_VOCAB_VERSION,
    NUM_CODECS,
    FeatureSpec,
    fold_inputs,
    model_inputs,
    unlabelled,
    with_encoder,
)
from vmafkit.train.fold_members import write_fold_members
from vmafkit.train.folds import Fold, leave_one_group_out
from vmafkit.train.predictions import write_predictions
from vmafkit.train.recipe import Recipe

REPORT_SCHEMA = "vmafkit-loso-seed-v1"
MIN_ROWS = 100
MIN_GROUPS = 2
ENTRYPOINT = "vmafkit train"


REFIT_SCHEMA = "vmafkit-refit-v1"
# The label-masking stream of the full-corpus members (LOSO folds use their fold index instead).
FULL_CORPUS_SALT = 2**31


@dataclass
class FullCorpus:
    """What the production members (one per seed, on every row) are fitted on."""

    spec: FeatureSpec
    x: np.ndarray  # [n, k + 14] float32, labels masked as the recipe says
    y: np.ndarray


def full_corpus_inputs(corpus: Corpus, recipe: Recipe) -> FullCorpus:
    """The full-corpus transform and inputs: `export` ships members fitted on exactly these."""
    spec = FeatureSpec.fit_corpus(corpus)
    x = model_inputs(corpus, np.arange(len(corpus)), spec)
    return FullCorpus(spec=spec, x=fold_inputs(x, recipe, FULL_CORPUS_SALT), y=corpus.vmaf.astype(np.float32))


def refit_record(seed: int, model, spec: FeatureSpec, recipe: Recipe, corpus_sha: str) -> dict[str, Any]:
    """The JSON of one production member: its weights (float32 values, exact as JSON numbers)."""
    state = {k: v.detach().to("cpu").numpy().astype(np.float64).tolist() for k, v in model.state_dict().items()}
    return {
        "schema": REFIT_SCHEMA,
        "seed": int(seed),
        "corpus_sha256": corpus_sha,
        "recipe": recipe.to_json(),
        "feature_spec": spec.to_json(),
        "state": state,
    }


def load_refit(path: Path, seed: int, spec: FeatureSpec, recipe: Recipe, corpus_sha: str):
    """The FRRegressor of a refit file, after checking it is this seed's member of this corpus,
    recipe and feature transform; InputError naming the file otherwise."""
    from vmafkit.io import read_json
    from vmafkit.train.model import FRRegressor

    data = read_json(path, what="refit file")
    expected = {
        "schema": REFIT_SCHEMA,
        "seed": int(seed),
        "corpus_sha256": corpus_sha,
        "recipe": recipe.to_json(),
        "feature_spec": spec.to_json(),
    }
    for key, value in expected.items():
        if not isinstance(data, dict) or data.get(key) != value:
            raise InputError(f"{key} does not match the corpus, recipe or seed being exported", path=path)
    model = FRRegressor(hidden=recipe.hidden, dropout=recipe.dropout, in_features=spec.width)
    reference = model.state_dict()
    state = data.get("state")
    if not isinstance(state, dict) or set(state) != set(reference):
        raise InputError("state does not hold the member's parameters", path=path)
    try:
        tensors = {k: torch.tensor(state[k], dtype=torch.float32) for k in reference}
    except (TypeError, ValueError):
        raise InputError("state holds values that are not numbers", path=path) from None
    for k, t in tensors.items():
        if t.shape != reference[k].shape or not torch.isfinite(t).all():
            raise InputError(f"state {k} has the wrong shape or non-finite values", path=path)
    model.load_state_dict(tensors)
    return model.eval()


@dataclass(frozen=True)
class TrainedFold(Fold):
    """A LOSO fold with what training its member needs: the FeatureSpec fitted on its training rows
    only, and both sides' model inputs."""

    spec: FeatureSpec
    x_train: np.ndarray  # [n_train, k + 14] float32
    y_train: np.ndarray
    x_held: np.ndarray


def make_folds(corpus: Corpus) -> list[TrainedFold]:
    """One fold per group (sorted); the FeatureSpec of a fold is fitted on its training rows only."""
    folds = []
    for fold in leave_one_group_out(corpus.group):
        spec = FeatureSpec.fit_corpus(corpus, fold.train)
        folds.append(
            TrainedFold(
                fold.index,
                fold.held_out,
                fold.train,
                fold.held,
                spec=spec,
                x_train=model_inputs(corpus, fold.train, spec),
                y_train=corpus.vmaf[fold.train].astype(np.float32),
                x_held=model_inputs(corpus, fold.held, spec),
            )
        )
    return folds


def check_corpus(corpus: Corpus, path: Path) -> None:
    if len(corpus) < MIN_ROWS:
        raise InputError(f"corpus has {len(corpus)} rows; LOSO training needs at least {MIN_ROWS}", path=path)
    groups = corpus.groups
    if len(groups) < MIN_GROUPS:
        raise InputError(
            f"corpus has {len(groups)} source group ({', '.join(groups)}); LOSO needs at least {MIN_GROUPS}", path=path
        )


def check_seeds(seeds: Sequence[int]) -> list[int]:
    """`--seeds` (and a run's seeds) checked by the one seed check, validation.check_seeds."""
    from vmafkit.validation import check_seeds as checked

    return checked(seeds)


def check_recipe(recipe: Recipe) -> None:
    """The recipe's numbers within the ranges the CLI enforces (validation.py), for API callers too."""
    from vmafkit.validation import BATCH_SIZE_RANGE, EPOCHS_RANGE, LR_MAX, WEIGHT_DECAY_RANGE

    def integer(value, low: int, high: int, flag: str) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
            raise InputError(f"{flag} must be an integer in {low}..{high}, got {value!r}")

    def number(value) -> bool:
        return isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and math.isfinite(value)

    integer(recipe.epochs, *EPOCHS_RANGE, "--epochs")
    integer(recipe.batch_size, *BATCH_SIZE_RANGE, "--batch-size")
    if not (number(recipe.lr) and 0 < recipe.lr <= LR_MAX):
        raise InputError(f"--lr must be a number in (0, {LR_MAX:g}], got {recipe.lr!r}")
    low, high = WEIGHT_DECAY_RANGE
    if not (number(recipe.weight_decay) and low <= recipe.weight_decay <= high):
        raise InputError(f"--weight-decay must be a number in [{low:g}, {high:g}], got {recipe.weight_decay!r}")
    if not (number(recipe.dropout) and 0 <= recipe.dropout < 1):
        raise InputError(f"dropout must be in [0, 1), got {recipe.dropout!r}")
    if not (number(recipe.label_mask_rate) and 0 <= recipe.label_mask_rate < 1):
        raise InputError(f"label_mask_rate must be in [0, 1), got {recipe.label_mask_rate!r}")


def default_workers(device: torch.device) -> int:
    """CPU: one shard per intra-op thread torch would use (parallel shards scale better)."""
    return max(1, torch.get_num_threads()) if device.type == "cpu" else 1


def train_loso(
    corpus_path: str | Path,
    seeds: Sequence[int],
    out_dir: str | Path,
    recipe: Recipe = Recipe(),
    device: str = "auto",
    progress: bool = True,
    *,
    workers: int | None = None,
    argv: list[str] | None = None,
    scheduler=None,
) -> list[Path]:
    """Train len(seeds) x n_groups members and write one report per seed; returns report paths.

    `workers`: local CPU shards (default: torch's intra-op thread count); the results do not
    depend on it. `scheduler`: a Dask scheduler address (or open DaskExecutor): the members are
    fitted on that cluster by `train.distributed.fit_members_distributed` (same weights)."""
    started = time.perf_counter()
    corpus_path = Path(corpus_path)
    out_dir = Path(out_dir)
    seeds = check_seeds(seeds)
    check_recipe(recipe)
    dev = resolve_device(device) if scheduler is None else torch.device("cpu")
    corpus = load_corpus(corpus_path)
    check_corpus(corpus, corpus_path)
    corpus_sha = sha256_file(corpus_path)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("--out exists and is not a folder", path=out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    workers = default_workers(dev) if workers is None else max(1, int(workers))

    with exclusive_lock(out_dir):
        # A verdict describes the seed reports it was computed from: retraining makes it stale.
        for name in layout.VERDICT_FILES:
            (out_dir / name).unlink(missing_ok=True)
        folds = make_folds(corpus)
        inputs = [fold_inputs(f.x_train, recipe, f.index) for f in folds]  # shared by the seeds of a fold
        members = [MemberData(inputs[f.index], f.y_train, seed) for seed in seeds for f in folds]
        # The production members (every row, one per seed) train in the same batched fit, so
        # that a PROMOTE needs no second fit: `export` ships these (a member's weights do not
        # depend on which members share its batch).
        full = full_corpus_inputs(corpus, recipe)
        members += [MemberData(full.x, full.y, seed) for seed in seeds]
        fit_started = time.perf_counter()
        cpu_started = _cpu_seconds()
        if scheduler is None:
            models = fit_members(members, recipe, device=str(dev), progress=progress, workers=workers)
        else:
            from vmafkit.train.distributed import fit_members_distributed

            models = fit_members_distributed(members, recipe, scheduler=scheduler, device=device, progress=progress)
        fit_time = time.perf_counter() - fit_started
        fit_cpu = _cpu_seconds() - cpu_started

        cells = corpus.cell_ids()
        corpus_block = {
            "path": str(corpus_path),
            "sha256": corpus_sha,
            "rows": len(corpus),
            "sources": len(corpus.sources),
            "groups": corpus.groups,
        }
        # Held-out predictions of every member first, and a diverged fit (NaN/inf weights or
        # outputs, e.g. from a too-large --lr) stops the run here: no report, no predictions.
        per_seed = []
        for si, seed in enumerate(seeds):
            fold_models = [models[si * len(folds) + f.index] for f in folds]
            preds = [predict_one(m, f.x_held) for m, f in zip(fold_models, folds)]
            shifts = [label_shifts(m, f, corpus) for m, f in zip(fold_models, folds)]
            check_converged(seed, folds, preds, shifts, recipe)
            refit = models[len(seeds) * len(folds) + si]
            if not all(torch.isfinite(v).all() for v in refit.state_dict().values()):
                raise InputError(
                    f"training diverged: seed {seed}, the full-corpus member has NaN or infinite weights "
                    f"(--lr {recipe.lr:g}); retry with a smaller --lr; no report was written"
                )
            per_seed.append((seed, preds, shifts, refit, fold_models))
        paths = []
        for seed, preds, shifts, refit, fold_models in per_seed:
            where = dev.type if scheduler is None else f"dask:{device}"
            report = seed_report(seed, corpus, corpus_block, folds, preds, cells, recipe, where, shifts)
            report_path = layout.seed_report(out_dir, seed)
            pred_path = layout.predictions_file(out_dir, seed)
            timing_path = layout.timing_file(out_dir, seed)
            refit_path = layout.refit_file(out_dir, seed)
            members_path = layout.fold_members_file(out_dir, seed)
            args = {
                "corpus": str(corpus_path),
                "seeds": list(seeds),
                "out_dir": str(out_dir),
                "device": where,
                **{k: v for k, v in recipe.to_json().items()},
            }
            report["run_provenance"] = run_provenance(
                ENTRYPOINT,
                args,
                inputs=[corpus_path],
                outputs=[report_path, pred_path, refit_path, members_path, timing_path],
                argv=argv,
            )
            _write_held_out(pred_path, seed, corpus, folds, preds, shifts)
            report["fold_members"] = write_fold_members(members_path, fold_models)
            atomic_write_json(refit_path, refit_record(seed, refit, full.spec, recipe, corpus_sha))
            atomic_write_json(report_path, report)
            atomic_write_json(
                timing_path,
                {
                    "seed": seed,
                    "wall_time_s": round(time.perf_counter() - started, 3),
                    "fit_time_s": round(fit_time, 3),
                    "fit_cpu_s": round(fit_cpu, 3),
                    "members": len(members),
                    "device": where,
                    "torch_threads": torch.get_num_threads(),
                    "workers": workers if (dev.type == "cpu" and scheduler is None) else 1,
                    "report": report_path.name,
                },
            )
            paths.append(report_path)
    return paths


def check_converged(
    seed: int, folds: list[TrainedFold], preds: list[np.ndarray], shifts: list[LabelShift], recipe: Recipe
) -> None:
    """InputError (exit 2) naming the seed and fold when a member's held-out predictions are not
    all finite: training diverged, and its numbers must not reach a report or a JSON file."""

    def non_finite(values: np.ndarray | None) -> int:
        return 0 if values is None else int(np.count_nonzero(~np.isfinite(np.asarray(values, dtype=np.float64))))

    for f, p, sh in zip(folds, preds, shifts):
        bad = non_finite(p)
        if bad or non_finite(sh.unlabelled) or non_finite(sh.to_unknown) or non_finite(sh.to_other):
            what = f"{bad} of its {p.size} held-out predictions" if bad else "its predictions with other labels"
            raise InputError(
                f"training diverged: seed {seed}, fold {f.held_out!r}: {what} are NaN or infinite "
                f"(--lr {recipe.lr:g}); retry with a smaller --lr (default {Recipe().lr:g}); "
                "no report or predictions were written"
            )


@dataclass
class LabelShift:
    """How far one fold's held-out predictions move when only the codec block changes."""

    unlabelled: np.ndarray  # predictions with encoder, preset and cq all "not given"
    to_unknown: np.ndarray  # |pred(unlabelled) - pred(true labels)| per row
    to_other: np.ndarray | None  # per row, the largest |pred(other trained encoder) - pred(true)|


def label_shifts(model, fold: TrainedFold, corpus: Corpus) -> LabelShift:
    true = predict_one(model, fold.x_held).astype(np.float64)
    free = predict_one(model, unlabelled(fold.x_held))
    trained = sorted(set(corpus.encoder[fold.train].tolist()))
    held_enc = corpus.encoder[fold.held]
    other = None
    for enc in trained:
        swapped = np.abs(predict_one(model, with_encoder(fold.x_held, enc)).astype(np.float64) - true)
        swapped[held_enc == enc] = 0.0  # the same label: no change by definition
        if np.any(held_enc != enc):
            other = swapped if other is None else np.maximum(other, swapped)
    return LabelShift(unlabelled=free, to_unknown=np.abs(free.astype(np.float64) - true), to_other=other)


def _shift_summary(values: list[np.ndarray | None]) -> dict[str, Any] | None:
    present = [v for v in values if v is not None and v.size]
    if not present:
        return None
    pooled = np.concatenate(present)
    return {
        "mean_abs": float(pooled.mean()),
        "p95_abs": float(np.quantile(pooled, 0.95)),
        "max_abs": float(pooled.max()),
    }


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the forked training shards)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def training_fields(recipe: Recipe, device: str) -> dict[str, Any]:
    """The seed report's record of how its members were trained (the trainer sets wall_time_s)."""
    return {
        "epochs": recipe.epochs,
        "batch_size": recipe.batch_size,
        "lr": recipe.lr,
        "weight_decay": recipe.weight_decay,
        "recipe": recipe.to_json(),
        "num_codecs": NUM_CODECS,
        "encoder_vocab_version": ENCODER_VOCAB_VERSION,
        "device": device,
        "wall_time_s": None,
    }


def seed_report(
    seed: int,
    corpus: Corpus,
    corpus_block: dict,
    folds: list[TrainedFold],
    preds: list[np.ndarray],
    cells: np.ndarray,
    recipe: Recipe,
    device: str,
    shifts: list[LabelShift] | None = None,
) -> dict[str, Any]:
    residuals = [np.abs(p.astype(np.float64) - corpus.vmaf[f.held]) for f, p in zip(folds, preds)]
    sorted_residuals = [np.sort(r) for r in residuals]
    fold_reports: list[dict[str, Any]] = []
    for f, p, r in zip(folds, preds, residuals):
        y = corpus.vmaf[f.held]
        stats = metrics.agreement(p, y)
        fold_cells = cells[f.held]
        clip_pred = metrics.cell_means(p, fold_cells)
        clip_true = metrics.cell_means(y, fold_cells)
        others = [sorted_residuals[g.index] for g in folds if g.index != f.index]
        conformal = {}
        for level in metrics.COVERAGES:
            q, _ = metrics.source_half_width(others, level)
            conformal[f"{level:g}"] = {"halfwidth": q, "coverage": float(np.mean(r <= q))}
        fold_reports.append(
            {
                "held_out": f.held_out,
                "n_train": int(f.train.size),
                "n_val": int(f.held.size),
                **stats,
                "clip": {
                    "n_clips": int(clip_pred.size),
                    "plcc": metrics.plcc(clip_pred, clip_true),
                    "srocc": metrics.srocc(clip_pred, clip_true),
                    "rmse": metrics.rmse(clip_pred, clip_true),
                },
                "abs_residual_quantiles": metrics.abs_residual_quantiles(p, y),
                "conformal": conformal,
                "feature_spec": f.spec.to_json(),
            }
        )
        if shifts is not None:
            sh = shifts[f.index]
            fold_reports[-1]["label_sensitivity"] = {
                "to_unknown": _shift_summary([sh.to_unknown]),
                "to_other_encoder": _shift_summary([sh.to_other]),
            }

    def col(key: str, sub: str | None = None) -> list[float]:
        return [fr[sub][key] if sub else fr[key] for fr in fold_reports]

    plccs = col("plcc")
    all_pred = np.concatenate(preds).astype(np.float64)
    all_true = np.concatenate([corpus.vmaf[f.held] for f in folds])
    pooled: dict[str, Any] = metrics.agreement(all_pred, all_true)
    pooled["abs_residual_quantiles"] = metrics.abs_residual_quantiles(all_pred, all_true)
    pooled["conformal_halfwidth"] = {
        f"{lv:g}": metrics.source_half_width(sorted_residuals, lv)[0] for lv in metrics.COVERAGES
    }
    coverage = {}
    for level in metrics.COVERAGES:
        cov = [fr["conformal"][f"{level:g}"]["coverage"] for fr in fold_reports]
        coverage[f"{level:g}"] = {"mean": metrics.nanmean(cov), "min": metrics.nanmin(cov), "max": metrics.nanmax(cov)}
    return {
        "schema": REPORT_SCHEMA,
        "seed": seed,
        "corpus": corpus_block,
        "n_folds": len(folds),
        "folds": fold_reports,
        "mean_plcc": metrics.nanmean(plccs),
        "std_plcc": metrics.nanstd(plccs),
        "min_plcc": metrics.nanmin(plccs),
        "max_plcc": metrics.nanmax(plccs),
        "n_undefined_folds": int(sum(1 for v in plccs if not math.isfinite(v))),
        "mean_srocc": metrics.nanmean(col("srocc")),
        "mean_rmse": metrics.nanmean(col("rmse")),
        "mean_krocc": metrics.nanmean(col("krocc")),
        "mean_plcc_logistic": metrics.nanmean(col("plcc_logistic")),
        "mean_clip_plcc": metrics.nanmean(col("plcc", "clip")),
        "mean_clip_srocc": metrics.nanmean(col("srocc", "clip")),
        "mean_clip_rmse": metrics.nanmean(col("rmse", "clip")),
        "pooled": pooled,
        "conformal_coverage": coverage,
        **training_fields(recipe, device),
        "timing_file": layout.timing_name(seed),
        "predictions_file": layout.predictions_name(seed),
        "label_sensitivity": None
        if shifts is None
        else {
            "to_unknown": _shift_summary([sh.to_unknown for sh in shifts]),
            "to_other_encoder": _shift_summary([sh.to_other for sh in shifts]),
        },
    }


def _write_held_out(
    path: Path,
    seed: int,
    corpus: Corpus,
    folds: list[TrainedFold],
    preds: list[np.ndarray],
    shifts: list[LabelShift],
) -> None:
    """The seed's held-out prediction file: each row predicted by the member of the fold that held
    it out, with that member's label-free prediction and its largest move to another encoder (the
    verdict recomputes the label sensitivity from these, never from the report)."""
    pred = np.empty(len(corpus), dtype=np.float32)
    free = np.empty(len(corpus), dtype=np.float32)
    other = np.full(len(corpus), np.nan, dtype=np.float64)
    fold_of = np.empty(len(corpus), dtype=object)
    for f, p, sh in zip(folds, preds, shifts):
        pred[f.held] = p
        free[f.held] = sh.unlabelled
        if sh.to_other is not None:
            other[f.held] = sh.to_other
        fold_of[f.held] = f.held_out
    write_predictions(
        path,
        seed,
        src=corpus.src,
        group=corpus.group,
        encoder=corpus.encoder,
        preset=corpus.preset,
        cq=corpus.cq,
        frame_index=corpus.frame_index,
        vmaf=corpus.vmaf,
        fold=fold_of,
        pred=pred,
        pred_unlabelled=free,
        shift_other_encoder=other,
        # ladder rungs keep the clips of one cq apart; a one-rung corpus writes no rung key
        rung=corpus.rung if np.unique(corpus.rung).size > 1 else None,
    )
