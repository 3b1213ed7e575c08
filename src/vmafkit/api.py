"""The Python API: one function per pipeline stage, as `import vmafkit` exposes them.

    import vmafkit
    pair = vmafkit.score("ref.y4m", "dis.mp4")                       # libvmaf, frame by frame
    vmafkit.build_corpus("refs", "corpus.jsonl", encoders=["libx264"], cqs=[22, 34])
    vmafkit.train_loso("corpus.jsonl", "loso", seeds=[0, 1], epochs=20)
    vmafkit.gate("loso", seeds=[0, 1])                                 # the gate report, nothing written
    verdict, path = vmafkit.write_verdict("loso", seeds=[0, 1])        # PROMOTE.json or HOLD.json
    vmafkit.export("corpus.jsonl", path, "models")                     # PROMOTE only: ONNX + registry
    vmafkit.predict("models", ref="ref.y4m", dis="dis.mp4")            # ensemble score + interval
    vmafkit.run("out", demo=True)                                      # all of it, resumable

Each function does what its `vmafkit` subcommand does and raises what the subcommand reports:
`InputError` (bad input, exit 2 on the command line) and `RefusedError` (exit 3). Options are
keyword-only; an option left at None takes the stage's own default (one owner per default).
`seeds` is a list of integers wherever it appears, checked by the one check `--seeds` gets
(validation.check_seeds): a string such as '12' is refused, never read as seeds 1 and 2.
Unlike the commands, nothing draws progress bars unless `progress=True`.

The training stage imports torch; it is imported when a function needs it, not with this module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vmafkit import thresholds as T
from vmafkit.bundle.pack import make_bundle
from vmafkit.corpus.build import BuildResult
from vmafkit.corpus.build import build_corpus as _build_corpus
from vmafkit.corpus.merge import MergeSummary
from vmafkit.corpus.seed_import import ImportSummary
from vmafkit.decide.derive import run_gate
from vmafkit.decide.verdict import write_verdict as _write_verdict
from vmafkit.errors import InputError, RefusedError, VmafkitError
from vmafkit.media.demo import make_demo_clips
from vmafkit.media.encoders import DEFAULT_CQS, DEFAULT_PRESETS
from vmafkit.media.libvmaf import DEFAULT_MODEL as DEFAULT_VMAF_MODEL
from vmafkit.media.libvmaf import parse_metrics
from vmafkit.media.score import PairScore, score_pair
from vmafkit.pipeline import RunOptions, RunResult, resolve_encoders, run_pipeline
from vmafkit.serve.export import export_ensemble
from vmafkit.serve.handle import Ensemble
from vmafkit.serve.handle import load as _load
from vmafkit.train.recipe import DEFAULT_SEEDS
from vmafkit.train.result import TrainResult
from vmafkit.validation import check_api_arguments, check_seeds, parse_heights, parse_size

__all__ = [
    "BuildResult",
    "InputError",
    "PairScore",
    "RefusedError",
    "RunResult",
    "TrainResult",
    "VmafkitError",
    "build_corpus",
    "export",
    "gate",
    "import_corpus",
    "load",
    "make_bundle",
    "make_demo_clips",
    "merge",
    "predict",
    "rd",
    "registry_flip",
    "registry_rollback",
    "registry_validate",
    "run",
    "score",
    "train_loso",
    "write_report",
    "write_verdict",
]

if TYPE_CHECKING:  # imported when called: the report stage draws with matplotlib
    from vmafkit.report.rd import RdAnalysis

PathLike = str | Path


def _checked(func: Callable[..., Any]) -> Callable[..., Any]:
    """Check every argument against the function's annotations and the CLI's ranges
    (`validation.check_api_arguments`) before any work: a wrong type or value is one InputError
    naming the function and the argument, as the command line says it in one line."""
    import functools
    import inspect
    import types
    import typing

    signature = inspect.signature(func)
    hints: dict[str, Any] = {}

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not hints:
            # the parameters' hints only: a return type may be imported for type checkers alone
            params = types.SimpleNamespace(
                __annotations__={k: v for k, v in func.__annotations__.items() if k != "return"}
            )
            hints.update(typing.get_type_hints(params, globalns=func.__globals__))
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InputError(f"{func.__name__}(): {exc}") from None
        check_api_arguments(func.__name__, bound.arguments, hints)
        return func(*args, **kwargs)

    return wrapper


@_checked
def score(
    ref: PathLike,
    dis: PathLike,
    *,
    width: int | None = None,
    height: int | None = None,
    pix_fmt: str | None = None,
    fps: float | None = None,
    max_frames: int | None = None,
    ffmpeg: str | None = None,
    vmaf_bin: str | None = None,
    threads: int = 1,
    vmaf_model: str = DEFAULT_VMAF_MODEL,
    metrics: Sequence[str] | str = (),
    subsample: int = 1,
    scale: str | None = None,
    resolution: Sequence[int] | str | None = None,
) -> PairScore:
    """Score `dis` against `ref` with real libvmaf: per-frame VMAF and canonical-6 features
    (`.frames`) and their means (`.mean`); `.to_json()` is what `vmafkit score --json` writes.

    `width`/`height`/`pix_fmt`/`fps` describe raw `.yuv` inputs whose names lack them;
    `vmaf_bin` scores with a standalone libvmaf `vmaf` CLI instead of ffmpeg's filter. Both
    inputs must decode to the same size and frame count (after `max_frames`), else InputError,
    unless `scale` (an ffmpeg scale algorithm such as "bicubic") resizes `dis` to `ref`'s size, or
    `resolution` ("1920x1080" or (1920, 1080)) scores both at that size. `vmaf_model` (a libvmaf
    model name), `metrics` (extra per-frame metrics, e.g. ["psnr", "ssim"]) and `subsample` (score
    frames 0, N, 2N, ...) are `vmafkit score`'s `--model`, `--metrics` and `--subsample`.
    """
    return score_pair(
        ref,
        dis,
        width=width,
        height=height,
        pix_fmt=pix_fmt,
        fps=fps,
        max_frames=max_frames,
        ffmpeg=ffmpeg,
        vmaf_bin=vmaf_bin,
        threads=threads,
        vmaf_model=vmaf_model,
        metrics=parse_metrics(metrics),
        subsample=subsample,
        scale=scale,
        resolution=None if resolution is None else parse_size(resolution),
    )


def _encoder_list(encoders: Sequence[str] | str, ffmpeg: str | None) -> list[str]:
    """A list of encoder names; a string is comma-separated, and "auto" is this platform's
    default encoders that pass their 1-frame probe (as `vmafkit run --encoders auto`)."""
    if isinstance(encoders, str):
        if encoders.strip() == "auto":
            return resolve_encoders("auto", ffmpeg)[0]
        return [name.strip() for name in encoders.split(",") if name.strip()]
    return list(encoders)


@_checked
def build_corpus(
    ref_dir: PathLike,
    out: PathLike,
    *,
    encoders: Sequence[str] | str = ("libx264",),
    cqs: Sequence[int] = DEFAULT_CQS,
    presets: Sequence[str] = DEFAULT_PRESETS,
    max_frames: int | None = None,
    jobs: int | None = None,
    ffmpeg: str | None = None,
    vmaf_bin: str | None = None,
    scheduler: str | None = None,
    encoder_threads: int = 1,
    vmaf_model: str = DEFAULT_VMAF_MODEL,
    metrics: Sequence[str] | str = (),
    subsample: int = 1,
    resolutions: Sequence[int] | str = (),
    scale: str | None = None,
    resolution: Sequence[int] | str | None = None,
    progress: bool = False,
) -> BuildResult:
    """Encode every reference clip in `ref_dir` with each encoder at each cq and preset, score
    every frame with libvmaf, and write the per-frame corpus to `out` (JSONL, atomically).

    Finished cells are cached beside `out` (`.vmafkit-cache/cells/`), so a repeated or interrupted
    call resumes. `encoders`: names, a comma-separated string, or "auto". `jobs` cells run at once
    (default: the usable cores); `scheduler` sends them to a Dask cluster instead. `vmaf_model`,
    `metrics`, `subsample`, `scale` and `resolution` are `score`'s; `resolutions` (rung heights,
    e.g. [1080, 720, 480] or "1080,720,480") encodes every cell at each rung of a ladder and scores
    it scaled back up to the source's size (`vmafkit corpus --resolutions`).
    """
    return _build_corpus(
        ref_dir,
        _encoder_list(encoders, ffmpeg),
        cqs,
        out,
        presets=presets,
        jobs=jobs,
        max_frames=max_frames,
        ffmpeg=ffmpeg,
        vmaf_bin=vmaf_bin,
        progress=progress,
        scheduler=scheduler,
        encoder_threads=encoder_threads,
        vmaf_model=vmaf_model,
        metrics=parse_metrics(metrics),
        subsample=subsample,
        resolutions=parse_heights(resolutions) if resolutions else (),
        scale=scale,
        resolution=None if resolution is None else parse_size(resolution),
    )


@_checked
def train_loso(
    corpus: PathLike,
    out_dir: PathLike,
    *,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    recipe: str = "robust",
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    weight_decay: float | None = None,
    device: str = "auto",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = False,
) -> TrainResult:
    """Retrain the ensemble with leave-one-source-out folds: one member per (seed, source group),
    plus one full-corpus member per seed. Writes `loso_seed{N}.json`, `.predictions.jsonl`,
    `.refit.json` and `.timing.json` per seed into `out_dir`; returns the seed reports' paths.

    `recipe`: "robust" (labels masked in training, the default) or "seed" (the seed kit's exact
    recipe); `epochs`, `batch_size`, `lr`, `weight_decay` override it (None: the recipe's own).
    `device`: "auto", "cpu" or "cuda". A retrain removes the folder's old verdict. Returns a
    TrainResult (`.loso_dir`, `.seeds`, `.reports`, `.to_json()`), which `gate` and
    `write_verdict` take in place of the folder, its seeds with it.
    """
    from vmafkit.train.loso import train_loso as _train_loso
    from vmafkit.train.model import Recipe

    seeds = check_seeds(seeds, "seeds")
    overrides = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay}
    try:
        chosen = Recipe.named(recipe, **{k: v for k, v in overrides.items() if v is not None})
    except ValueError as exc:
        raise InputError(str(exc)) from None
    reports = _train_loso(
        corpus,
        seeds,
        out_dir,
        recipe=chosen,
        device=device,
        progress=progress,
        workers=workers,
        scheduler=scheduler,
    )
    return TrainResult(loso_dir=Path(out_dir), seeds=tuple(seeds), reports=tuple(reports))


def _loso_and_seeds(loso_dir: PathLike | TrainResult, seeds: Sequence[int] | None) -> tuple[Path, list[int] | None]:
    """A LOSO folder (or what `train_loso` returned, whose seeds are the default) and the seeds."""
    if isinstance(loso_dir, TrainResult):
        return loso_dir.loso_dir, check_seeds(loso_dir.seeds if seeds is None else seeds, "seeds")
    return Path(loso_dir), None if seeds is None else check_seeds(seeds, "seeds")


@_checked
def gate(
    loso_dir: PathLike | TrainResult, *, seeds: Sequence[int] | None = None, coverage: float = T.DEFAULT_COVERAGE
) -> dict[str, Any]:
    """The production gate over a LOSO folder (or `train_loso`'s result), every PLCC recomputed
    from its prediction files (a seed report that disagrees with them is refused): the gate report,
    `["passed"]` the outcome. `seeds`: default the result's seeds, or DEFAULT_SEEDS for a folder.
    Nothing is written; `write_verdict` records the same gate in a verdict file."""
    folder, chosen = _loso_and_seeds(loso_dir, seeds)
    return run_gate(folder, DEFAULT_SEEDS if chosen is None else chosen, coverage)


@_checked
def write_verdict(
    loso_dir: PathLike | TrainResult,
    *,
    seeds: Sequence[int] | None = None,
    ref_dir: PathLike | None = None,
    coverage: float | None = None,
) -> tuple[dict[str, Any], Path]:
    """Gate the LOSO folder and write exactly one of `PROMOTE.json` / `HOLD.json` in it (the other
    is removed); returns (verdict, its path). `verdict["verdict"]` is "PROMOTE" or "HOLD";
    `ref_dir` (the reference clips) is snapshotted into the corpus fingerprint. `seeds` and
    `coverage` default to DEFAULT_SEEDS and 0.95; for a `vmafkit subjective train` folder (or its
    loso/) the verdict is the subjective gate's, with the run's own seeds and coverage. Given
    `train_loso`'s result, its folder and seeds are used."""
    folder, chosen = _loso_and_seeds(loso_dir, seeds)
    return _write_verdict(folder, chosen, ref_dir=ref_dir, coverage=coverage)


@_checked
def export(
    corpus: PathLike,
    verdict: PathLike,
    out_dir: PathLike,
    *,
    model_id: str | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> dict[str, Any]:
    """Export a PROMOTE verdict's ensemble to ONNX in `out_dir`: one model and sidecar per seed,
    the calibration file and `registry.json` rows (smoke until `vmafkit registry flip`).

    Refuses with RefusedError unless `verdict` (a PROMOTE.json path) re-derives from the files it
    pins and names this `corpus`; nothing is written unless every member passes the onnxruntime
    parity check. Returns the export summary."""
    return export_ensemble(corpus, verdict, out_dir, model_id=model_id, device=device, progress=progress)


@_checked
def predict(
    models: PathLike,
    ref: PathLike | None = None,
    dis: PathLike | None = None,
    *,
    features: PathLike | Sequence[Mapping[str, Any]] | None = None,
    encoder: str | None = None,
    preset: str | None = None,
    cq: float | None = None,
    coverage: float = T.DEFAULT_COVERAGE,
    model_id: str | None = None,
    allow_out_of_domain: bool = False,
    width: int | None = None,
    height: int | None = None,
    pix_fmt: str | None = None,
    fps: float | None = None,
    max_frames: int | None = None,
    ffmpeg: str | None = None,
    scale: str | None = None,
    resolution: Sequence[int] | str | None = None,
) -> dict[str, Any]:
    """The exported ensemble's quality prediction with a calibrated interval, per frame and per
    clip: the dict `vmafkit predict --json` writes (`["clips"][0]["pred"]`, `["lower"]`, ...).

    Give either `ref` and `dis` (scored with libvmaf first; the geometry options are `score`'s) or
    `features`: a JSONL file or a list of rows holding the canonical-6. `encoder`/`preset`/`cq`
    label the rows; a robust-recipe ensemble also answers without them. Rows outside what the
    ensemble was trained on raise InputError unless `allow_out_of_domain` (then they are marked
    and get no interval). An ensemble trained on subjective scores (`vmafkit subjective train`)
    reads its own feature columns instead, takes no labels, and answers per clip on its scale
    (`serve.subjective_predict`).
    """
    if features is not None and (ref is not None or dis is not None):
        raise InputError("give either features or ref and dis, not both")
    ensemble = _load(models, model_id=model_id)
    geometry: dict[str, Any] = {"width": width, "height": height, "pix_fmt": pix_fmt, "fps": fps}
    geometry.update(max_frames=max_frames, ffmpeg=ffmpeg)
    if scale is not None or resolution is not None:  # a VMAF ensemble's pair is scored as `score` does
        geometry.update(scale=scale, resolution=None if resolution is None else parse_size(resolution))
    return ensemble.predict(
        features,
        ref=ref,
        dis=dis,
        encoder=encoder,
        preset=preset,
        cq=cq,
        coverage=coverage,
        allow_out_of_domain=allow_out_of_domain,
        **({} if features is not None else geometry),
    ).to_json()


@_checked
def load(models: PathLike, *, model_id: str | None = None, threads: int = 2) -> Ensemble:
    """The exported ensemble in the models folder `models` (or its registry.json), loaded once:
    `.predict(features | ref=, dis=, ...)` (what `predict` takes, keyword-only) returns a
    `Prediction` (`.clips`, `.frames`, `.notes`, `.to_json()`) and reuses the loaded members;
    `.target_kind`, `.feature_order`, `.domain`, `.interval(coverage)` describe it. `model_id` picks
    one of several ensembles; `threads`: onnxruntime batches run at once."""
    return _load(models, model_id=model_id, threads=threads)


@_checked
def run(
    out_dir: PathLike,
    *,
    ref_dir: PathLike | None = None,
    demo: bool = False,
    encoders: Sequence[str] | str = "auto",
    cqs: Sequence[int] = DEFAULT_CQS,
    presets: Sequence[str] = DEFAULT_PRESETS,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    recipe: str = "robust",
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    weight_decay: float | None = None,
    max_frames: int | None = None,
    jobs: int | None = None,
    device: str = "auto",
    ffmpeg: str | None = None,
    scheduler: str | None = None,
    resolutions: Sequence[int] | str = (),
    scale: str | None = None,
    bundle: bool = True,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> RunResult:
    """The whole job, as `vmafkit run`: doctor -> corpus -> train -> verdict -> (PROMOTE) export ->
    report -> bundle, into `out_dir`. A repeated call resumes at the first step whose inputs
    changed. Give `ref_dir` (reference clips) or `demo=True` (nine synthetic clips ffmpeg makes).

    Returns a RunResult: `.verdict` ("PROMOTE"/"HOLD"), `.exit_code` (0/1, the command's),
    `.steps`, `.bundle`, `.report`. `log` receives one line per step (default: silent).
    `resolutions` and `scale`: the corpus's resolution ladder, as for `build_corpus`.
    """
    if demo and ref_dir is not None:
        raise InputError("give ref_dir or demo=True, not both")
    if isinstance(encoders, str) and encoders.strip() != "auto":
        encoders = _encoder_list(encoders, ffmpeg)
    opts = RunOptions(
        ref_dir=Path(ref_dir) if ref_dir is not None else None,
        out_dir=Path(out_dir),
        encoders=encoders,
        cqs=list(cqs),
        presets=list(presets),
        seeds=check_seeds(seeds, "seeds"),
        recipe=recipe,
        jobs=jobs,
        max_frames=max_frames,
        device=device,
        ffmpeg=ffmpeg,
        scheduler=scheduler,
        demo=demo,
        progress=progress,
        bundle=bundle,
        resolutions=parse_heights(resolutions) if resolutions else (),
        scale=scale,
    )
    if epochs is not None:
        opts.epochs = epochs
    if batch_size is not None:
        opts.batch_size = batch_size
    if lr is not None:
        opts.lr = lr
    if weight_decay is not None:
        opts.weight_decay = weight_decay
    return run_pipeline(opts, log=log or (lambda message: None))


# `make_bundle(out_dir, tarball)` (bundle.pack) and `make_demo_clips(dest)` (media.demo) are
# exported as they are: their signatures are already the API's.


@_checked
def merge(shards: Sequence[PathLike], out: PathLike, *, allow_mixed_versions: bool = False) -> MergeSummary:
    """Merge corpus shards into `out` (atomically), deduplicated by (src_sha256, encoder, preset, cq,
    width, height, frame_index), as `vmafkit merge`; shards scored by different libvmaf versions
    are refused unless `allow_mixed_versions`. Returns the summary (`.to_json()`)."""
    from vmafkit.corpus.merge import merge_shards

    return merge_shards(list(shards), out, allow_mixed_versions=allow_mixed_versions)


@_checked
def import_corpus(
    seed_file: PathLike,
    ref_dir: PathLike,
    out: PathLike,
    *,
    preset: str,
    libvmaf_version: str | None = None,
    overwrite_fields: Sequence[str] = (),
    ffmpeg: str | None = None,
) -> ImportSummary:
    """A seed-kit corpus made native, as `vmafkit import-corpus`: every row completed from its
    reference clip in `ref_dir`; a row whose own value of a field the import writes differs stops
    the import unless the field is in `overwrite_fields`."""
    from vmafkit.corpus.seed_import import import_seed_corpus

    return import_seed_corpus(
        seed_file,
        ref_dir,
        out,
        preset=preset,
        libvmaf_version=libvmaf_version,
        ffmpeg=ffmpeg,
        overwrite_fields=list(overwrite_fields),
    )


@_checked
def rd(
    corpus: PathLike,
    *,
    anchor: str | None = None,
    target: float = 95.0,
    models: PathLike | None = None,
    coverage: float = T.DEFAULT_COVERAGE,
    plots: PathLike | None = None,
) -> RdAnalysis:
    """Rate-quality curves, BD-rate against `anchor` and the cq that reaches `target` VMAF, as
    `vmafkit rd` (`.to_json()` is its JSON); with `models`, that cq also by the ensemble's
    prediction and interval; with `plots`, one rate-quality plot per source in that folder."""
    from vmafkit.io import ensure_output_folder
    from vmafkit.report.figures import write_rd_plots
    from vmafkit.report.rd import analyse_corpus

    if not 0.0 <= target <= 100.0:
        raise InputError(f"rd(): target must be in [0, 100], got {target!r}")
    if plots is not None:
        ensure_output_folder(plots, "plots folder")  # before the analysis: a bad folder costs no work
    analysis = analyse_corpus(corpus, anchor=anchor, target=target, models=models, coverage=coverage)
    if plots is not None:
        written = write_rd_plots(analysis.curves, plots)
        analysis = dataclasses.replace(analysis, plot_files=tuple(str(p) for p in written))
    return analysis


@_checked
def write_report(out_dir: PathLike, *, corpus: PathLike | None = None) -> Path:
    """Write OUT/report.html (verdict, gate margins, per-fold PLCC, predicted vs VMAF, coverage,
    corpus), as `vmafkit report`; a section whose inputs are missing says so."""
    from vmafkit.report import write_report as _write_report

    return _write_report(out_dir, corpus=corpus)


@_checked
def registry_validate(registry: PathLike) -> list[str]:
    """Every problem of a models folder's registry (schema, sha256 pins, sidecars, input schema);
    empty when valid, as `vmafkit registry validate`."""
    from vmafkit.serve.registry import validate_registry

    return validate_registry(registry)


@_checked
def registry_flip(
    registry: PathLike, verdict: PathLike, *, rows: Sequence[str] | None = None, ensemble: str | None = None
) -> dict[str, Any]:
    """Put exported rows into production (smoke -> false) on a PROMOTE verdict, as `vmafkit
    registry flip`: RefusedError unless the verdict re-derives from its files and the folder's
    calibration, domains and ONNX members are what they give. `rows`: the member row ids (default:
    every exported row; `ensemble`: only its rows). Returns the history entry."""
    from vmafkit.serve.registry import flip

    return flip(registry, verdict, ids=list(rows) if rows else None, ensemble=ensemble)


@_checked
def registry_rollback(
    registry: PathLike, *, reason: str, rows: Sequence[str] | None = None, ensemble: str | None = None
) -> dict[str, Any]:
    """Take rows out of production (smoke -> true) and record who, when and `reason`, as `vmafkit
    registry rollback`. `rows`: the member row ids (default: every non-smoke row; `ensemble`: only its
    rows). Returns the history entry (action "noop" when nothing was in production)."""
    from vmafkit.serve.registry import rollback

    return rollback(registry, reason, ids=list(rows) if rows else None, ensemble=ensemble)
