"""The Python API: one function per pipeline stage, as `import vmafkit` exposes them.

    import vmafkit
    from vmafkit import Grid, Training
    pair = vmafkit.score("ref.y4m", "dis.mp4")                        # libvmaf, frame by frame
    vmafkit.build_corpus("refs", "corpus.jsonl", grid=Grid(encoders=("libx264",), cqs=(22, 34)))
    vmafkit.train_loso("corpus.jsonl", "loso", seeds=[0, 1], training=Training(epochs=20))
    vmafkit.gate("loso", seeds=[0, 1])                                # a GateResult, nothing written
    verdict = vmafkit.write_verdict("loso", seeds=[0, 1])             # PROMOTE.json or HOLD.json
    vmafkit.export("corpus.jsonl", verdict, "models")                 # PROMOTE only: ONNX + registry
    vmafkit.load("models").predict(ref="ref.y4m", dis="dis.mp4")      # ensemble score + interval
    vmafkit.run("out", demo=True)                                     # all of it, resumable

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
import inspect
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vmafkit import thresholds as T
from vmafkit._public import API_NAMES
from vmafkit.bundle import layout as bundle_layout
from vmafkit.bundle.pack import make_bundle as make_bundle
from vmafkit.corpus.build import BuildResult, build_grid
from vmafkit.corpus.grid import AUTO, Grid
from vmafkit.corpus.merge import MergeSummary
from vmafkit.corpus.seed_import import ImportSummary
from vmafkit.decide.derive import run_gate
from vmafkit.decide.results import GateResult, VerdictResult
from vmafkit.decide.verdict import write_verdict as _write_verdict
from vmafkit.errors import InputError
from vmafkit.errors import RefusedError as RefusedError
from vmafkit.errors import VmafkitError as VmafkitError
from vmafkit.media.demo import make_demo_clips as make_demo_clips
from vmafkit.media.diagnose import Diagnosis
from vmafkit.media.diagnose import diagnose as _diagnose
from vmafkit.media.options import DatasetScoring, RawGeometry, Scoring
from vmafkit.media.score import PairScore, score_pair
from vmafkit.pipeline import RunOptions, RunResult, resolve_encoders, run_pipeline
from vmafkit.pipeline.target import TargetResult
from vmafkit.serve.export import export_ensemble
from vmafkit.serve.handle import Ensemble
from vmafkit.serve.handle import load as _load
from vmafkit.serve.results import ExportResult, RegistryChange
from vmafkit.train.recipe import DEFAULT_SEEDS, SUBJECTIVE_TRAINING, Training
from vmafkit.train.result import TrainResult
from vmafkit.validation import check_api_arguments, check_seeds

__all__ = list(API_NAMES)  # listed once, in vmafkit/_public.py

if TYPE_CHECKING:  # imported when called: the report stage draws with matplotlib; the rest is light anyway
    from vmafkit.bundle.compare import CompareReport
    from vmafkit.bundle.reading import Limits, VerifyReport
    from vmafkit.host.doctor import DoctorReport
    from vmafkit.host.platform import PlatformInfo
    from vmafkit.pipeline.subjective import SubjectiveResult
    from vmafkit.report.rd import RdAnalysis

PathLike = str | Path


def _checked(func: Callable[..., Any]) -> Callable[..., Any]:
    """Check every argument against the function's annotations and the CLI's ranges
    (`validation.check_api_arguments`) before any work: a wrong type or value is one InputError
    naming the function and the argument, as the command line says it in one line. A keyword that
    is a field of one of the function's option objects (`width=` for `geometry=RawGeometry(...)`),
    the spelling before 0.2, still works for one release, with a DeprecationWarning."""
    import functools
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
        kwargs = _fold_moved_keywords(func.__name__, signature, hints, kwargs)
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InputError(f"{func.__name__}(): {exc}") from None
        check_api_arguments(func.__name__, bound.arguments, hints)
        return func(*args, **kwargs)

    return wrapper


OPTION_OBJECTS = (RawGeometry, Scoring, Grid, Training, DatasetScoring)
DEPRECATED_UNTIL = "0.3"  # the release that drops the flat keywords the option objects replaced


def _fold_moved_keywords(
    function: str, signature: inspect.Signature, hints: Mapping[str, Any], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """`score(ref, dis, width=160)` -> `score(ref, dis, geometry=RawGeometry(width=160))`, warned."""
    import warnings

    groups = {name: hint for name, hint in hints.items() if hint in OPTION_OBJECTS}
    moved: dict[str, dict[str, Any]] = {}
    for key in [k for k in kwargs if k not in signature.parameters]:
        for group, cls in groups.items():
            if key in {f.name for f in dataclasses.fields(cls)}:
                moved.setdefault(group, {})[key] = kwargs.pop(key)
                break
    for group, fields in moved.items():
        if group in kwargs:
            raise InputError(f"{function}(): give {group}= or its fields ({', '.join(fields)}), not both")
        cls = groups[group]
        spelled = ", ".join(f"{k}=..." for k in fields)
        warnings.warn(
            f"{function}({spelled}) is deprecated: pass {group}=vmafkit.{cls.__name__}({spelled}) "
            f"(the flat keywords are removed in {DEPRECATED_UNTIL})",
            DeprecationWarning,
            stacklevel=3,
        )
        kwargs[group] = dataclasses.replace(signature.parameters[group].default, **fields)
    return kwargs


@_checked
def diagnose(
    ref: PathLike,
    dis: PathLike,
    *,
    geometry: RawGeometry = RawGeometry(),
    max_frames: int | None = None,
    ffmpeg: str | None = None,
) -> Diagnosis:
    """What would make a VMAF score of `dis` against `ref` wrong (`media.diagnose`): a temporal
    offset, dropped or duplicated frames, different frame counts, frame rates, sizes, pixel formats,
    ranges or matrices, changed levels, frozen or black stretches, interlacing, a variable frame rate
    on one side. `.findings` holds one line each (none for a sound pair); `.to_json()` is what
    `vmafkit diagnose --json` writes. `geometry` describes raw inputs; `max_frames` limits each side.
    """
    return _diagnose(ref, dis, **geometry.as_kwargs(), max_frames=max_frames, ffmpeg=ffmpeg)


@_checked
def score(
    ref: PathLike,
    dis: PathLike,
    *,
    geometry: RawGeometry = RawGeometry(),
    scoring: Scoring = Scoring(),
    max_frames: int | None = None,
    ffmpeg: str | None = None,
    vmaf_bin: str | None = None,
    threads: int = 1,
    pool: Sequence[str] = ("mean",),
    align: str | int | None = None,
    shots: bool = False,
    worst: int | None = None,
    dump: PathLike | None = None,
) -> PairScore:
    """Score `dis` against `ref` with real libvmaf: per-frame VMAF and canonical-6 features
    (`.frames`) and their means (`.mean`); `.to_json()` is what `vmafkit score --json` writes.

    `geometry` (RawGeometry: width, height, pix_fmt, fps) describes raw `.yuv` inputs whose names
    lack it. Both inputs must decode to the same size and frame count (after `max_frames`), else
    InputError, unless `scoring` (Scoring) upscales `dis` with `scale` (an ffmpeg scale algorithm
    such as "bicubic") or scores both at `resolution` ("1920x1080"); its `vmaf_model`, `metrics` and
    `subsample` are `vmafkit score`'s --model, --metrics and --subsample. `vmaf_bin` scores with a
    standalone libvmaf `vmaf` CLI instead of ffmpeg's filter. `pool` ("mean", "harmonic", "min",
    "p1", "p5", ...: `media.pooling`) gives the clip's vmaf pooled those ways (`.pooled`). `align`
    ("auto", an offset in frames, or None) pairs the frames at a temporal offset (`media.align`;
    `.meta["alignment"]`), skipping the frames `auto` finds dropped or duplicated. `shots` pools
    each shot between the reference's scene cuts, `worst` N names the N worst frames (and shots),
    `dump` (a folder) gets their pictures side by side and `index.html`, the per-frame quality strip
    (`media.moments`, `.meta["moments"]`).
    """
    result = score_pair(
        ref,
        dis,
        **geometry.as_kwargs(),
        **scoring.as_kwargs(),
        max_frames=max_frames,
        ffmpeg=ffmpeg,
        vmaf_bin=vmaf_bin,
        threads=threads,
        pools=pool,
        align=align,
        shots=shots,
        worst=worst,
        dump=dump,
    )
    if dump is not None:
        from vmafkit.report.moments_page import write_moments_page

        write_moments_page(dump, result)
    return result


@_checked
def build_corpus(
    ref_dir: PathLike,
    out: PathLike,
    *,
    grid: Grid = Grid(),
    scoring: Scoring = Scoring(),
    max_frames: int | None = None,
    jobs: int | None = None,
    ffmpeg: str | None = None,
    vmaf_bin: str | None = None,
    scheduler: str | None = None,
    encoder_threads: int = 1,
    progress: bool = False,
) -> BuildResult:
    """Encode every reference clip in `ref_dir` at every cell of `grid` (Grid: encoders, cqs,
    presets and ladder rungs), score every frame with libvmaf as `scoring` says (Scoring, as for
    `score`), and write the per-frame corpus to `out` (JSONL, atomically).

    Finished cells are cached beside `out` (`.vmafkit-cache/cells/`), so a repeated or interrupted
    call resumes. `Grid(encoders="auto")` is this platform's default encoders that pass their
    1-frame probe. `jobs` cells run at once (default: the usable cores); `scheduler` sends them to a
    Dask cluster instead. With `grid.resolutions` (rung heights) every cell is encoded at each rung
    and scored scaled back up to the source's size (`vmafkit corpus --resolutions`).
    """
    encoders = resolve_encoders(AUTO, ffmpeg)[0] if grid.auto_encoders else list(grid.encoders)
    return build_grid(
        ref_dir,
        grid,
        out,
        encoders=encoders,
        scoring=scoring,
        jobs=jobs,
        max_frames=max_frames,
        ffmpeg=ffmpeg,
        vmaf_bin=vmaf_bin,
        progress=progress,
        scheduler=scheduler,
        encoder_threads=encoder_threads,
    )


@_checked
def train_loso(
    corpus: PathLike,
    out_dir: PathLike,
    *,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    training: Training = Training(),
    device: str = "auto",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = False,
    argv: Sequence[str] | None = None,
) -> TrainResult:
    """Retrain the ensemble with leave-one-source-out folds: one member per (seed, source group),
    plus one full-corpus member per seed. Writes `loso_seed{N}.json`, `.predictions.jsonl`,
    `.refit.json` and `.timing.json` per seed into `out_dir`.

    `training` (Training): the recipe, "robust" (labels masked in training, the default) or "seed"
    (the seed kit's exact recipe), and its `epochs`, `batch_size`, `lr`, `weight_decay` overrides
    (None: the recipe's own). `device`: "auto", "cpu" or "cuda". `argv` is recorded in the reports
    (the command line that asked). A retrain removes the folder's old verdict. Returns a TrainResult
    (`.loso_dir`, `.seeds`, `.reports`, `.to_json()`), which `gate` and `write_verdict` take in place
    of the folder, its seeds with it.
    """
    from vmafkit.train.loso import train_loso as _train_loso

    seeds = check_seeds(seeds, "seeds")
    reports = _train_loso(
        corpus,
        seeds,
        out_dir,
        recipe=training.to_recipe(),
        device=device,
        progress=progress,
        workers=workers,
        scheduler=scheduler,
        **({} if argv is None else {"argv": list(argv)}),
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
) -> GateResult:
    """The production gate over a LOSO folder (or `train_loso`'s result), every PLCC recomputed
    from its prediction files (a seed report that disagrees with them is refused): the gate report,
    `["passed"]` the outcome. `seeds`: default the result's seeds, or DEFAULT_SEEDS for a folder.
    Nothing is written; `write_verdict` records the same gate in a verdict file."""
    folder, chosen = _loso_and_seeds(loso_dir, seeds)
    return GateResult.from_json(run_gate(folder, DEFAULT_SEEDS if chosen is None else chosen, coverage))


@_checked
def write_verdict(
    loso_dir: PathLike | TrainResult,
    *,
    seeds: Sequence[int] | None = None,
    ref_dir: PathLike | None = None,
    coverage: float | None = None,
    argv: Sequence[str] | None = None,
) -> VerdictResult:
    """Gate the LOSO folder and write exactly one of `PROMOTE.json` / `HOLD.json` in it (the other
    is removed); returns (verdict, its path). `verdict["verdict"]` is "PROMOTE" or "HOLD";
    `ref_dir` (the reference clips) is snapshotted into the corpus fingerprint. `seeds` and
    `coverage` default to DEFAULT_SEEDS and 0.95; for a `vmafkit subjective train` folder (or its
    loso/) the verdict is the subjective gate's, with the run's own seeds and coverage. Given
    `train_loso`'s result, its folder and seeds are used. `argv`: the command line recorded in it."""
    folder, chosen = _loso_and_seeds(loso_dir, seeds)
    recorded = {} if argv is None else {"argv": list(argv)}
    return VerdictResult.from_json(*_write_verdict(folder, chosen, ref_dir=ref_dir, coverage=coverage, **recorded))


@_checked
def export(
    corpus: PathLike,
    verdict: PathLike | VerdictResult,
    out_dir: PathLike,
    *,
    model_id: str | None = None,
    device: str = "cpu",
    progress: bool = False,
    argv: Sequence[str] | None = None,
) -> ExportResult:
    """Export a PROMOTE verdict's ensemble to ONNX in `out_dir`: one model and sidecar per seed,
    the calibration file and `registry.json` rows (smoke until `vmafkit registry flip`).

    Refuses with RefusedError unless `verdict` (a PROMOTE.json path) re-derives from the files it
    pins and names this `corpus`; nothing is written unless every member passes the onnxruntime
    parity check. Returns an ExportResult (`.model_id`, `.seeds`, `.registry`, `.files`,
    `.to_json()`: `vmafkit export --json`'s summary, parity and evidence checks included). `verdict`
    may also be `write_verdict`'s result."""
    recorded = {} if argv is None else {"argv": list(argv)}
    verdict_path = verdict.path if isinstance(verdict, VerdictResult) else verdict
    summary = export_ensemble(
        corpus, verdict_path, out_dir, model_id=model_id, device=device, progress=progress, **recorded
    )
    return ExportResult.from_json(summary)


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
    geometry: RawGeometry = RawGeometry(),
    scoring: Scoring = Scoring(),
    max_frames: int | None = None,
    ffmpeg: str | None = None,
    align: str | int | None = None,
) -> dict[str, Any]:
    """The exported ensemble's quality prediction with a calibrated interval, per frame and per
    clip: the dict `vmafkit predict --json` writes (`["clips"][0]["pred"]`, `["lower"]`, ...).
    `load(models).predict(...)` returns the same as a `Prediction` and keeps the members loaded.

    Give either `ref` and `dis` (scored with libvmaf first, `geometry` and `scoring` as for
    `score`, and `align` to pair their frames at a temporal offset) or `features`: a JSONL file or a
    list of rows holding the ensemble's features. `encoder`/
    `preset`/`cq` label the rows; a robust-recipe ensemble also answers without them. Rows outside
    what the ensemble was trained on raise InputError unless `allow_out_of_domain` (then they are
    marked and get no interval). An ensemble trained on subjective scores (`vmafkit subjective
    train`) reads its own feature columns instead, takes no labels, and answers per clip on its scale.
    """
    return (
        _load(models, model_id=model_id)
        .predict(
            features,
            ref=ref,
            dis=dis,
            encoder=encoder,
            preset=preset,
            cq=cq,
            coverage=coverage,
            allow_out_of_domain=allow_out_of_domain,
            geometry=geometry,
            scoring=scoring,
            max_frames=max_frames,
            ffmpeg=ffmpeg,
            align=align,
        )
        .to_json()
    )


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
    grid: Grid = Grid(encoders=AUTO),
    scoring: Scoring = Scoring(),
    seeds: Sequence[int] = DEFAULT_SEEDS,
    training: Training = Training(),
    max_frames: int | None = None,
    jobs: int | None = None,
    device: str = "auto",
    ffmpeg: str | None = None,
    scheduler: str | None = None,
    bundle: bool = True,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> RunResult:
    """The whole job, as `vmafkit run`: doctor -> corpus -> train -> verdict -> (PROMOTE) export ->
    report -> bundle, into `out_dir`. A repeated call resumes at the first step whose inputs
    changed. Give `ref_dir` (reference clips) or `demo=True` (nine synthetic clips ffmpeg makes).

    `grid`, `scoring` and `training` are `build_corpus`'s and `train_loso`'s (the grid's default
    encoders here: "auto", this platform's that pass their probe). Returns a RunResult:
    `.verdict` ("PROMOTE"/"HOLD"), `.exit_code` (0/1, the command's), `.steps`, `.bundle`,
    `.report`. `log` receives one line per step (default: silent).
    """
    if demo and ref_dir is not None:
        raise InputError("give ref_dir or demo=True, not both")
    opts = RunOptions(
        ref_dir=Path(ref_dir) if ref_dir is not None else None,
        out_dir=Path(out_dir),
        grid=grid,
        scoring=scoring,
        training=training,
        seeds=check_seeds(seeds, "seeds"),
        jobs=jobs,
        max_frames=max_frames,
        device=device,
        ffmpeg=ffmpeg,
        scheduler=scheduler,
        demo=demo,
        progress=progress,
        bundle=bundle,
    )
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
def rescore(
    corpus: PathLike,
    out: PathLike,
    *,
    ref_dir: PathLike,
    scoring: Scoring = Scoring(),
    jobs: int | None = None,
    ffmpeg: str | None = None,
    vmaf_bin: str | None = None,
    progress: bool = False,
) -> BuildResult:
    """Re-score `corpus` with `scoring`'s libvmaf model, metrics and subsampling, from the encodes its
    build kept (no encoder runs), as `vmafkit rescore`: the new corpus, written to `out`, is what
    `build_corpus` with those choices writes, row for row. `ref_dir`: the reference clips it was
    built from. Every cell keeps its geometry, so `scoring.scale` / `scoring.resolution` must be unset."""
    from vmafkit.corpus.rescore import rescore_corpus

    return rescore_corpus(
        corpus, out, ref_dir=ref_dir, scoring=scoring, jobs=jobs, ffmpeg=ffmpeg, vmaf_bin=vmaf_bin, progress=progress
    )


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
    pool: Sequence[str] = ("mean",),
) -> RdAnalysis:
    """Rate-quality curves, BD-rate against `anchor` and the cq that reaches `target` VMAF, as
    `vmafkit rd` (`.to_json()` is its JSON); with `models`, that cq also by the ensemble's
    prediction and interval; with `plots`, one rate-quality plot per source in that folder. `pool`
    (one name: "mean", "harmonic", "min", "p5", ...) makes each cell's quality from its frames."""
    from vmafkit.io import ensure_output_folder
    from vmafkit.report.figures import write_rd_plots
    from vmafkit.report.rd import analyse_corpus

    if not 0.0 <= target <= 100.0:
        raise InputError(f"rd(): target must be in [0, 100], got {target!r}")
    if plots is not None:
        ensure_output_folder(plots, "plots folder")  # before the analysis: a bad folder costs no work
    analysis = analyse_corpus(corpus, anchor=anchor, target=target, models=models, coverage=coverage, pool=pool)
    if plots is not None:
        written = write_rd_plots(analysis.curves, plots, pool=analysis.pool)
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
) -> RegistryChange:
    """Put exported rows into production (smoke -> false) on a PROMOTE verdict, as `vmafkit
    registry flip`: RefusedError unless the verdict re-derives from its files and the folder's
    calibration, domains and ONNX members are what they give. `rows`: the member row ids (default:
    every exported row; `ensemble`: only its rows). Returns the change (`.to_json()`: the history entry)."""
    from vmafkit.serve.registry import flip

    return RegistryChange.from_json(flip(registry, verdict, ids=list(rows) if rows else None, ensemble=ensemble))


@_checked
def registry_rollback(
    registry: PathLike, *, reason: str, rows: Sequence[str] | None = None, ensemble: str | None = None
) -> RegistryChange:
    """Take rows out of production (smoke -> true) and record who, when and `reason`, as `vmafkit
    registry rollback`. `rows`: the member row ids (default: every non-smoke row; `ensemble`: only its
    rows). Returns the change (`.action` "noop" when nothing was in production)."""
    from vmafkit.serve.registry import rollback

    return RegistryChange.from_json(rollback(registry, reason, ids=list(rows) if rows else None, ensemble=ensemble))


# ----------------------------------------------------------------------------- host and bundles


@_checked
def doctor(
    *,
    encoders: Sequence[str] | None = None,
    steps: Sequence[str] = ("corpus", "train", "export", "predict"),
    ffmpeg: str | None = None,
    vmaf_bin: str | None = None,
) -> DoctorReport:
    """This host's readiness, as `vmafkit doctor`: ffmpeg + libvmaf, each encoder's 1-frame probe
    (`encoders`, default this platform's defaults), the Python modules `steps` need.
    `.ok`, `.problems` (one line each), `.to_json()`. Nothing is raised for a host that is not ready."""
    from vmafkit.host.doctor import diagnose

    return diagnose(list(encoders) if encoders else None, list(steps), ffmpeg=ffmpeg, vmaf_bin=vmaf_bin)


@_checked
def platform(*, ffmpeg: str | None = None) -> PlatformInfo:
    """This host's family and its default encoder candidates, as `vmafkit platform` (`.to_dict()`
    is its JSON); with `ffmpeg`, the candidates that ffmpeg lacks are dropped."""
    from vmafkit.host.platform import detect

    return detect(ffmpeg=ffmpeg)


@_checked
def write_bundle(
    out_dir: PathLike, out: PathLike, *, ffmpeg: str | None = None, env: Mapping[str, str] | None = None
) -> Path:
    """Bundle a run folder's verdict, seed reports, corpus, exports and report into the tarball
    `out` with a manifest, as `vmafkit bundle` (under the folder's run lock, verified as written);
    `env`: extra environment facts to record (`{"encoders": "libx264,libx265"}`). `make_bundle` is
    the same without the lock, the ffmpeg record and the check."""
    from vmafkit.bundle.pack import bundle_run_folder

    return bundle_run_folder(out_dir, out, ffmpeg=ffmpeg, env=env)


@_checked
def verify(bundle: PathLike, *, max_bytes: int | None = None, max_members: int | None = None) -> VerifyReport:
    """Every member's size and sha256 against the bundle's manifest, as `vmafkit verify`: `.ok`,
    `.problems`, `.exit_code` (0 ok, 1 mismatch), `.to_dict()`. An unreadable or hostile bundle
    raises InputError; `max_bytes`/`max_members` bound what is read (default 8 GiB, 100,000)."""
    from vmafkit.bundle.reading import verify_bundle

    return verify_bundle(bundle, limits=_bundle_limits(max_bytes, max_members))


@_checked
def extract(bundle: PathLike, out: PathLike, *, max_bytes: int | None = None, max_members: int | None = None) -> Path:
    """Extract a bundle into `out` (new or empty) safely, verified first, as `vmafkit extract`."""
    from vmafkit.bundle.reading import safe_extract

    return safe_extract(bundle, out, limits=_bundle_limits(max_bytes, max_members))


def _bundle_limits(max_bytes: int | None, max_members: int | None) -> Limits:
    from vmafkit.bundle.reading import Limits

    default = Limits()
    return Limits(max_bytes or default.max_total_bytes, max_members or default.max_members)


@_checked
def compare(
    a: PathLike,
    b: PathLike,
    *,
    tolerance: float = bundle_layout.DEFAULT_TOLERANCE,
    n_bootstrap: int = bundle_layout.DEFAULT_BOOTSTRAP,
    confidence: float = bundle_layout.DEFAULT_CONFIDENCE,
    seed: int = bundle_layout.DEFAULT_BOOTSTRAP_SEED,
) -> CompareReport:
    """Are two sites' bundles the same finding? As `vmafkit compare`: `.agree`, `.reason`, the
    per-seed and per-fold PLCCs and a paired bootstrap CI of the mean PLCC difference."""
    from vmafkit.bundle.compare import compare_bundles

    return compare_bundles(a, b, tolerance, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed)


@_checked
def pack_corpus(
    ref_dir: PathLike, out: PathLike, *, ffmpeg: str | None = None, log: Callable[[str], None] | None = None
) -> list[dict[str, Any]]:
    """Pack reference clips losslessly (FFV1/mkv) into `out` with a verified manifest.jsonl, as
    `vmafkit pack-corpus`; returns the manifest entries. `log` receives one line per clip."""
    from vmafkit.bundle.refpack import pack_corpus as _pack_corpus

    return _pack_corpus(ref_dir, out, ffmpeg=ffmpeg, log=log or (lambda message: None))


@_checked
def extract_corpus(
    corpus: PathLike, out: PathLike, *, ffmpeg: str | None = None, log: Callable[[str], None] | None = None
) -> list[Path]:
    """Restore a packed corpus's reference clips into `out`, each verified against its sha256, as
    `vmafkit extract-corpus`; returns their paths."""
    from vmafkit.bundle.refpack import extract_corpus as _extract_corpus

    return _extract_corpus(corpus, out, ffmpeg=ffmpeg, log=log or (lambda message: None))


@_checked
def dist(out: PathLike, *, project: PathLike | None = None, wheel: PathLike | None = None) -> Path:
    """Write the portable kit (wheel, pinned requirements, README runbook, START.md), as `vmafkit
    dist`; `wheel` skips building one, `project` is the source checkout (default: vmafkit's own)."""
    from vmafkit.bundle.kit import make_dist

    return make_dist(out, project=project, wheel=wheel)


# ----------------------------------------------------------------------------- subjective scores


@_checked
def target(
    ref: PathLike,
    vmaf: float,
    *,
    encoder: str = "libx264",
    preset: str = "medium",
    pool: str = "mean",
    models: PathLike | None = None,
    samples: int = T.TARGET_SAMPLES_DEFAULT,
    sample_seconds: float = T.TARGET_SAMPLE_SECONDS_DEFAULT,
    full: bool = False,
    verify: bool = False,
    resolutions: Sequence[int] = (),
    cq_range: tuple[int, int] | None = None,
    geometry: RawGeometry = RawGeometry(),
    run_dir: PathLike | None = None,
    cache: PathLike | None = None,
    ffmpeg: str | None = None,
    progress: bool = True,
) -> TargetResult:
    """The highest cq (fewest bits) whose `encoder` encode of `ref` meets VMAF `vmaf` under `pool`
    ("mean", "harmonic", "min", "pN"), searched on `samples` stretches of `sample_seconds` spread
    over the title (scene-aware), or on the whole title with `full` (`pipeline.target`). `.cq` is
    the answer, `.rungs[i].search.probes` every cq measured, `.guarantee` what it promises about
    the full encode, and `.to_json()` what `vmafkit target --json` writes. `verify` encodes and
    scores the whole title at the answer; `models` (an exported ensemble's folder) guides the search
    with the curves it was trained on and predicts the answer's encode with its interval;
    `resolutions` (heights) searches each ladder rung and marks the answers on the rate-quality hull.
    `cq_range` (low, high) bounds the search; `geometry` describes a raw title. Encodes are cached cells (in `run_dir`'s cache, else
    `cache`, else the user's cache folder), shared by later searches; `run_dir` also records the
    search for its report. `progress` prints a line per probe on stderr.
    """
    from vmafkit.pipeline.target import find_cq

    log: Callable[[str], None] | None = None
    if progress:
        from rich.console import Console

        console = Console(stderr=True, highlight=False)

        def log(line: str) -> None:
            console.print(line, markup=False)

    return find_cq(
        ref,
        vmaf,
        encoder=encoder,
        preset=preset,
        pool_name=pool,
        models=models,
        samples=samples,
        sample_seconds=sample_seconds,
        full=full,
        verify=verify,
        resolutions=resolutions,
        cq_range=cq_range,
        geometry=geometry,
        out=run_dir,
        cache_dir=cache,
        ffmpeg=ffmpeg,
        log=log,
    )


@_checked
def subjective_train(
    out: PathLike,
    *,
    dataset: PathLike | None = None,
    table: PathLike | None = None,
    feature_columns: Sequence[str] | str | None = None,
    score_column: str | None = None,
    group: str | None = None,
    id_column: str | None = None,
    score_scale: str | None = None,
    score_scale_range: Sequence[float] | None = None,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    training: Training = SUBJECTIVE_TRAINING,
    bootstrap: int = T.SUBJECTIVE_BOOTSTRAP,
    coverage: float = T.DEFAULT_COVERAGE,
    device: str = "cpu",
    workers: int | None = None,
    dataset_scoring: DatasetScoring = DatasetScoring(),
    progress: bool = False,
    argv: Sequence[str] | None = None,
) -> SubjectiveResult:
    """Train against subjective scores (MOS/DMOS), as `vmafkit subjective train`: leave-one-content-
    out, the ensemble, nu-SVR (libvmaf's recipe), a linear model [and stock VMAF through a
    logistic], with bootstrap intervals over contents, into the folder `out`.

    Give `dataset` (video pairs with scores, scored by libvmaf as `dataset_scoring` says: a
    DatasetScoring, whose `jobs`, `max_frames`, `ffmpeg`, `vmaf_bin`, `cache_dir` (the scored-pair
    cache), `scale` (the upscaling filter for a distorted clip of another size) and `align` ("auto"
    or an offset in frames, as for `score`: a pair `auto` cannot align convincingly is an InputError
    naming its distorted file) go with a dataset only) or `table` (a feature table, with
    `feature_columns`, `score_column`, `group` (the content column) and `id_column`).
    `score_scale` ("mos-1-5", ...) or `score_scale_range` ((low, high)) says the scores' scale.
    `training`: the hyperparameters (the recipe is the seed kit's: there are no codec labels to
    mask). Returns the result (`.report`, `.report_path`, `.table`); `write_verdict(out)` then
    gates it.
    """
    from vmafkit.corpus.subjective_scale import resolve_scale
    from vmafkit.pipeline.subjective import Options, train_from_dataset, train_from_table

    if (dataset is None) == (table is None):
        raise InputError("give exactly one of --dataset (videos) or --table (a feature table)")
    if training.recipe != SUBJECTIVE_TRAINING.recipe:
        raise InputError("subjective_train(): training.recipe must be 'seed': a subjective model has no codec labels")
    table_only = {"feature_columns": feature_columns, "score_column": score_column, "group": group}
    table_only["id_column"] = id_column
    # options of the other input, named as their flags: a table's with --dataset, dataset_scoring's with --table
    misplaced = [k for k, v in table_only.items() if v is not None] if dataset is not None else dataset_scoring.given
    if misplaced:
        spelled = ", ".join(f"--{name.replace('_', '-')}" for name in misplaced)
        kind = "--table" if dataset is not None else "--dataset"
        raise InputError(f"{spelled} go with {kind}" + _SUBJECTIVE_DATASET_HINT * (dataset is not None))
    needed = ("feature_columns", "score_column", "group")
    missing = [f"--{k.replace('_', '-')}" for k in needed if table is not None and not table_only[k]]
    if missing:
        raise InputError(f"--table needs {', '.join(missing)}")
    if score_scale_range is not None and len(score_scale_range) != 2:
        raise InputError(f"--score-scale-range: expected LOW,HIGH, got {list(score_scale_range)!r}")
    scale_range = None if score_scale_range is None else (float(score_scale_range[0]), float(score_scale_range[1]))
    score = resolve_scale(score_scale, value_range=scale_range) if (score_scale or scale_range) else None
    opts = Options(
        seeds=check_seeds(seeds, "seeds"),
        recipe=training.to_recipe(),
        device=device,
        workers=workers,
        n_boot=bootstrap,
        coverage=coverage,
        progress=progress,
        argv=None if argv is None else list(argv),
    )
    if dataset is not None:
        return train_from_dataset(dataset, out, opts, scale=score, **dataset_scoring.as_kwargs())
    assert table is not None and score_column is not None and group is not None and feature_columns is not None
    columns = feature_columns
    columns = [c.strip() for c in columns.split(",") if c.strip()] if isinstance(columns, str) else list(columns)
    return train_from_table(table, columns, score_column, group, out, opts, scale=score, id_column=id_column)


_SUBJECTIVE_DATASET_HINT = "; --dataset uses libvmaf's canonical-6, the pairs' score and content"


@_checked
def subjective_gate(out_dir: PathLike) -> dict[str, Any]:
    """Re-derive the subjective gate from a `subjective_train` folder's held-out predictions, as
    `vmafkit subjective gate`: `["gate"]["passed"]`, `["gate"]["verdict"]`, its checks."""
    from vmafkit.decide.subjective_recheck import recheck

    return recheck(out_dir)
