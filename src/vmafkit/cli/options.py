"""The flags several commands share, each defined once, and the old spellings kept for one release.

A concept has one spelling everywhere: `--progress/--no-progress`, `--json [PATH]`, `--csv [PATH]`,
`--out`, `--registry`, `--ffmpeg`, `--vmaf-bin`, `--model`, `--metrics`, `--subsample`, `--seeds`,
`--recipe`, `--scheduler`, `--max-frames`, `--device`, `--coverage` and the training
hyperparameters. A command that has one of these flags takes it from here, so its name, type and
default are the same in every command (`tests/unit/front_door/test_cli_grammar.py` checks); where a default
or help must differ (`--device`'s "cpu" for export and subjective train, `--coverage`'s meaning),
the definition takes it as an argument and says why.

A renamed flag keeps its old spelling for one release (`DEPRECATED_UNTIL`): hidden from `--help`,
it still works and prints one warning line on stderr. The old spelling is an eager hidden option
(or argument) that only records what it was given; the new option (`_RenamedOption`) takes that
value when the user did not give the new spelling too, so click's own required-check, type
conversion and range errors apply to the old spelling unchanged.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from vmafkit import layout
from vmafkit import thresholds as T
from vmafkit import validation as V
from vmafkit.cli._common import FiniteFloatRange
from vmafkit.corpus.grid import Grid
from vmafkit.errors import InputError
from vmafkit.io import (
    atomic_write_json,
    atomic_write_text,
    check_distinct_paths,
    check_output_path,
    dumps_csv,
    dumps_json,
)
from vmafkit.media import libvmaf
from vmafkit.media.encoders import DEFAULT_CQS, DEFAULT_PRESETS
from vmafkit.media.ffmpeg import SCALE_FILTERS
from vmafkit.media.options import RawGeometry, Scoring
from vmafkit.train.recipe import DEFAULT_SEEDS, RECIPE_NAMES, SUBJECTIVE_TRAINING, Recipe, Training

F = TypeVar("F", bound=Callable[..., Any])

DEPRECATED_UNTIL = "0.3"  # the release that drops the old spellings
STDOUT = "-"

# The training options' defaults are the recipe's (train/recipe.py imports no torch).
_DEFAULT_RECIPE = Recipe()
RECIPE_CHOICES = RECIPE_NAMES
DEFAULT_EPOCHS = _DEFAULT_RECIPE.epochs
DEFAULT_BATCH_SIZE = _DEFAULT_RECIPE.batch_size
DEFAULT_LR = _DEFAULT_RECIPE.lr
DEFAULT_WEIGHT_DECAY = _DEFAULT_RECIPE.weight_decay

_GIVEN = object()  # the old spelling passes on the value it was given (not a constant)


def warn_deprecated(old: str, new: str) -> None:
    click.echo(f"vmafkit: warning: {old} is deprecated; use {new} (removed in {DEPRECATED_UNTIL})", err=True)


def _old_spellings(ctx: click.Context) -> dict[str, tuple[str, str, Any]]:
    """target parameter name -> (old spelling, new spelling, value), for this command's context."""
    return ctx.meta.setdefault(f"vmafkit.old_spellings.{id(ctx)}", {})


class _RenamedOption(click.Option):
    """An option that also takes its value from its deprecated spelling (see the module doc)."""

    def consume_value(self, ctx: click.Context, opts: Any) -> tuple[Any, ParameterSource]:
        value, source = super().consume_value(ctx, opts)
        old = _old_spellings(ctx).get(self.name or "")
        if old is None:
            return value, source
        old_name, new_name, old_value = old
        if source == ParameterSource.COMMANDLINE:
            spellings = "/".join([*self.opts, *self.secondary_opts])
            raise click.UsageError(f"{old_name} is the old spelling of {new_name}; drop it, {spellings} is given", ctx)
        return old_value, ParameterSource.COMMANDLINE


def _record_old_spelling(target: str, old: str, new: str, value: Any) -> Callable[..., None]:
    def callback(ctx: click.Context, param: click.Parameter, given: Any) -> None:
        if given is None or given is False or ctx.resilient_parsing:
            return
        warn_deprecated(old, new)
        _old_spellings(ctx)[target] = (old, new, given if value is _GIVEN else value)

    return callback


def renamed_option(*param_decls: str, **attrs: Any) -> Callable[[F], F]:
    """click.option for a flag that has a `deprecated_option` (its old spelling)."""
    return click.option(*param_decls, cls=_RenamedOption, **attrs)


def deprecated_option(old: str, new: str, target: str, *, value: Any = _GIVEN) -> Callable[[F], F]:
    """Hidden `old` for the option `new` (whose parameter is `target`, a `_RenamedOption`).
    `value`: what a bare flag `old` means (`--quiet` -> progress False); else `old VALUE`."""
    is_flag = value is not _GIVEN
    return click.option(
        old,
        f"deprecated_{old.lstrip('-').replace('-', '_')}",
        is_flag=is_flag,
        default=False if is_flag else None,
        hidden=True,
        is_eager=True,
        expose_value=False,
        callback=_record_old_spelling(target, old, new, value),
    )


class _HiddenArgument(click.Argument):
    """A positional argument kept for an old command line: not in the usage line."""

    def get_usage_pieces(self, ctx: click.Context) -> list[str]:
        return []


def deprecated_argument(metavar: str, new: str, target: str) -> Callable[[F], F]:
    """A hidden optional positional argument `metavar`, the old spelling of the option `new`."""
    return click.argument(
        f"deprecated_{metavar.lower()}",
        cls=_HiddenArgument,
        required=False,
        is_eager=True,
        expose_value=False,
        metavar=metavar,
        callback=_record_old_spelling(target, f"{metavar} as an argument", f"{new} {metavar}", _GIVEN),
    )


# ----------------------------------------------------------------------------- progress


def _progress_or_terminal(ctx: click.Context, param: click.Parameter, value: bool | None) -> bool:
    return sys.stderr.isatty() if value is None else bool(value)


def progress_option(func: F) -> F:
    """`--progress/--no-progress` (the command receives a bool); `--quiet` is its old spelling."""
    return click.option(
        "--progress/--no-progress",
        "progress",
        cls=_RenamedOption,
        default=None,
        callback=_progress_or_terminal,
        help="Progress bars on stderr (default: on when stderr is a terminal).",
    )(func)


def quiet_alias(func: F) -> F:
    """`--quiet`, the old spelling of `--no-progress` (corpus, run)."""
    return deprecated_option("--quiet", "--no-progress", "progress", value=False)(func)


# ----------------------------------------------------------------------------- JSON output


def json_option(func: F) -> F:
    """`--json [PATH]`: bare, the JSON goes to stdout (instead of the text); with PATH, it is written
    there (atomically) and the text is printed as usual. The command receives `json_to`: None, "-" or
    a path. Bare `--json` goes after the command's arguments (else it takes the next one as PATH)."""
    return click.option(
        "--json",
        "json_to",
        is_flag=False,
        flag_value=STDOUT,
        default=None,
        metavar="[PATH]",
        type=click.Path(dir_okay=False, allow_dash=True, path_type=str),
        help="Print the result as JSON to stdout, or with PATH write the JSON to PATH.",
    )(func)


def emit_json(payload: Any, json_to: str | None) -> bool:
    """Send `payload` where `--json` says; True when it went to stdout (so the text is not printed)."""
    if json_to is None:
        return False
    if json_to == STDOUT:
        click.echo(dumps_json(payload), nl=False)
        return True
    atomic_write_json(json_to, payload)
    return False


def check_outputs(
    inputs: Mapping[str, Any], files: Mapping[str, Any], folders: Mapping[str, Any] | None = None
) -> None:
    """Before a command does any work: every file it was told to write (`files`: --json PATH,
    --csv PATH, --out FILE; None or "-" = not given / stdout) may be written there
    (`io.check_output_path`: a regular file or a new path), and no output, file or folder, is one of
    its `inputs` or shares a path with another output (`io.check_distinct_paths`). So a refused
    output costs no work and leaves every other output unwritten."""
    for value in files.values():
        if value is not None and str(value) != STDOUT:
            check_output_path(value)
    check_distinct_paths(inputs, {**files, **(folders or {})})


def csv_option(func: F) -> F:
    """`--csv [PATH]`, built like `--json [PATH]`: bare, the CSV goes to stdout; with PATH, it is
    written there (atomically). The command receives `csv_to`: None, "-" or a path."""
    return click.option(
        "--csv",
        "csv_to",
        is_flag=False,
        flag_value=STDOUT,
        default=None,
        metavar="[PATH]",
        type=click.Path(dir_okay=False, allow_dash=True, path_type=str),
        help="Print the result's rows as CSV (a header line, then one line per row: per frame for score, "
        "per source and encoder for rd) to stdout, or with PATH write them to PATH.",
    )(func)


def emit_csv(columns: Sequence[str], rows: Iterable[Mapping[str, Any]], csv_to: str | None) -> bool:
    """Send the rows as CSV where `--csv` says; True when they went to stdout."""
    if csv_to is None:
        return False
    text = dumps_csv(columns, rows)
    if csv_to == STDOUT:
        click.echo(text, nl=False)
        return True
    atomic_write_text(csv_to, text)
    return False


# ----------------------------------------------------------------------------- where results go


def out_option(help: str, *, type: click.ParamType | None = None, old: tuple[str, ...] = ()) -> Callable[[F], F]:
    """`--out` (required): the file or folder the command writes. `old`: its former spellings."""

    def decorate(func: F) -> F:
        for old_name in old:
            func = deprecated_option(old_name, "--out", "out")(func)
        return click.option("--out", "out", cls=_RenamedOption, required=True, type=type, help=help)(func)

    return decorate


def corpus_option(help: str, *, required: bool = True) -> Callable[[F], F]:
    """`--corpus`: a per-frame corpus file (JSONL or Parquet) the command reads."""
    return click.option(
        "--corpus",
        "corpus",
        required=required,
        type=click.Path(dir_okay=False, path_type=str),
        help=help,
    )


def registry_option(func: F) -> F:
    return click.option(
        "--registry",
        "registry",
        cls=_RenamedOption,
        required=True,
        type=click.Path(path_type=str),
        help=f"The models folder's {layout.REGISTRY_FILE}.",
    )(func)


# ----------------------------------------------------------------------------- tools and work


def ffmpeg_option(func: F) -> F:
    return click.option(
        "--ffmpeg",
        "ffmpeg",
        default=None,
        metavar="PATH",
        help="ffmpeg binary to use (default: $VMAFKIT_FFMPEG, else an ffmpeg on PATH that has libvmaf, "
        "else the imageio-ffmpeg wheel's).",
    )(func)


def vmaf_bin_option(func: F) -> F:
    return click.option(
        "--vmaf-bin",
        "vmaf_bin",
        default=None,
        metavar="PATH",
        help="Score with this standalone libvmaf `vmaf` CLI instead of ffmpeg's libvmaf filter.",
    )(func)


def _metrics(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...]:
    try:
        return libvmaf.parse_metrics(value)
    except InputError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def libvmaf_options(func: F) -> F:
    """`--model`, `--metrics`, `--subsample`: what libvmaf computes in its one pass (`media.libvmaf`)."""
    options = [
        click.option(
            "--model",
            "vmaf_model",
            type=click.Choice(list(libvmaf.MODELS)),
            default=libvmaf.DEFAULT_MODEL,
            show_default=True,
            metavar="NAME",
            help=f"libvmaf model, one of {', '.join(libvmaf.MODELS)}: it gives the vmaf score and its "
            "features (the v0.6.1 family: the canonical-6, computed otherwise by the neg and float models; "
            "vmaf_v1.0.16_*: VMAF v1's own, scored at 10 bits, on frames of at least 320x180, 480x270 for "
            "5d0h, 640x360 for 3d0h_2160); vmaf_v0.6.1_phone is vmaf_v0.6.1 with libvmaf's phone transform.",
        ),
        click.option(
            "--hdr-as-sdr",
            "hdr_as_sdr",
            is_flag=True,
            default=False,
            help="Score clips tagged PQ or HLG (HDR) with these SDR models anyway (refused otherwise).",
        ),
        click.option(
            "--metrics",
            "metrics",
            default=None,
            callback=_metrics,
            metavar="LIST",
            help=f"Comma-separated extra per-frame metrics, in the same pass: {', '.join(libvmaf.METRICS)}.",
        ),
        click.option(
            "--subsample",
            "subsample",
            type=click.IntRange(*V.SUBSAMPLE_RANGE),
            default=1,
            show_default=True,
            metavar="N",
            help="Score only frames 0, N, 2N, ... (libvmaf's n_subsample); frame_index stays the true index.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _pool_list(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    from vmafkit.media.pooling import parse_pools

    try:
        return parse_pools(value)
    except InputError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def pool_option(func: F) -> F:
    """`--pool LIST`: how the clip's per-frame VMAF is pooled (`media.pooling`)."""
    return click.option(
        "--pool",
        "pool",
        default="mean",
        show_default=True,
        callback=_pool_list,
        metavar="LIST",
        help="Comma-separated: pool each clip's VMAF these ways: mean, harmonic (libvmaf's), min, pN (the N-th "
        "percentile of the frames, N from 1 to 99, e.g. p5).",
    )(func)


def _align_choice(ctx: click.Context, param: click.Parameter, value: str | None) -> str | int | None:
    from vmafkit.media.align import parse_align

    try:
        return parse_align(value)
    except InputError as exc:
        raise click.BadParameter(str(exc)) from None


def align_option(func: F) -> F:
    """`--align auto|N|off`: pair the distorted video's frames with the reference's at an offset
    (`media.align`)."""
    return click.option(
        "--align",
        "align",
        default=None,
        callback=_align_choice,
        metavar="auto|N|off",
        help="Pair DIS's frames with REF's at a temporal offset: auto finds it (up to 5 s either way, from "
        "the two sides' motion; refused when not convincing) and the frames dropped or duplicated along the "
        "clip, N forces one (DIS frame i+N shows REF frame i; negative: DIS starts early), off (the default) "
        "pairs frame n with frame n.",
    )(func)


def moments_options(func: F) -> F:
    """`--shots`, `--worst N`, `--dump DIR`: the worst moments of a scored pair (`media.moments`)."""
    from vmafkit import thresholds as T

    func = click.option(
        "--dump",
        "dump",
        default=None,
        metavar="DIR",
        help=f"Write the worst frames' reference | distorted pictures (PNG, as scored; the {T.WORST_DUMP_DEFAULT} "
        "worst unless --worst) and index.html (the per-frame strip, shots, worst frames) into DIR.",
    )(func)
    func = click.option(
        "--worst",
        "worst",
        type=click.IntRange(1, T.WORST_MAX),
        default=None,
        metavar="N",
        help=f"Name the N worst frames, at least {T.WORST_FRAME_GAP} frames apart (one per dip), and with --shots "
        "the N worst shots by the first --pool.",
    )(func)
    return click.option(
        "--shots",
        "shots",
        is_flag=True,
        help="Split the clip at the reference's scene cuts (ffmpeg's scdet) and pool each shot's VMAF.",
    )(func)


def max_frames_option(func: F) -> F:
    return click.option(
        "--max-frames",
        "max_frames",
        type=click.IntRange(min=1),
        default=None,
        help="Only the first N frames of each clip.",
    )(func)


def scheduler_option(func: F) -> F:
    return click.option(
        "--scheduler",
        "scheduler",
        default=None,
        metavar="ADDRESS",
        help="Dask scheduler address (tcp://HOST:PORT); default: run on this machine.",
    )(func)


def _seed_list(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    """The seeds as integers, checked by the one seed check in the command line's words."""
    from vmafkit.cli._common import int_list

    return tuple(V.check_seeds(int_list(value, "--seeds")))


def seeds_option(func: F) -> F:
    """`--seeds LIST`: the command receives a tuple of integers (checked by the API's one seed check)."""
    return click.option(
        "--seeds",
        "seeds",
        default=",".join(str(s) for s in DEFAULT_SEEDS),
        show_default=True,
        metavar="LIST",
        callback=_seed_list,
        help="Comma-separated ensemble member seeds.",
    )(func)


def recipe_option(func: F) -> F:
    return click.option(
        "--recipe",
        "recipe",
        type=click.Choice(RECIPE_CHOICES),
        default="robust",
        show_default=True,
        help="robust: encoder/preset/cq labels randomly masked in training, so predict may leave them out; "
        "seed: labels never masked, so predict needs every label.",
    )(func)


def training_options(func: F) -> F:
    """`--epochs --batch-size --lr --weight-decay --recipe`, with the recipe's defaults, given to the
    command as one `training` (train.recipe.Training)."""
    return recipe_option(hyperparameter_options(collected(Training, "training")(func)))


def subjective_training_options(func: F) -> F:
    """`--epochs --batch-size --lr --weight-decay` as one `training` on the seed kit's recipe
    (subjective train: no codec labels to mask, so no --recipe)."""
    return hyperparameter_options(collected(Training, "training", base=SUBJECTIVE_TRAINING)(func))


def hyperparameter_options(func: F) -> F:
    """`--epochs --batch-size --lr --weight-decay`, with the recipe's defaults, as they are: each
    flag a keyword (`training_options` and `subjective_training_options` collect them)."""
    options = [
        click.option(
            "--epochs",
            type=click.IntRange(*V.EPOCHS_RANGE),
            default=DEFAULT_EPOCHS,
            show_default=True,
            help="Training epochs.",
        ),
        click.option(
            "--batch-size",
            type=click.IntRange(*V.BATCH_SIZE_RANGE),
            default=DEFAULT_BATCH_SIZE,
            show_default=True,
            help="Training batch size.",
        ),
        click.option(
            "--lr",
            type=FiniteFloatRange(0, V.LR_MAX, min_open=True),
            default=DEFAULT_LR,
            show_default=True,
            help="Adam learning rate.",
        ),
        click.option(
            "--weight-decay",
            type=FiniteFloatRange(*V.WEIGHT_DECAY_RANGE),
            default=DEFAULT_WEIGHT_DECAY,
            show_default=True,
            help="Adam L2 weight decay.",
        ),
    ]
    return _stacked(options, func)


def _stacked(options: Sequence[Callable[[F], F]], func: F) -> F:
    for option in reversed(options):
        func = option(func)
    return func


def collected(cls: type, keyword: str, base: Any = None) -> Callable[[F], F]:
    """The flags named like `cls`'s fields arrive in the command as one `cls` object, `keyword`:
    the typed option objects (`RawGeometry`, `Scoring`, `Grid`, `Training`) the API functions take.
    A flag left unset (None) leaves the field at the class's default (or `base`'s). Applied below
    the flags' own decorators, so click still sees (and `--help` shows) each flag."""
    import dataclasses
    import functools

    fields = {f.name for f in dataclasses.fields(cls)}

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            given = {name: kwargs.pop(name) for name in fields & set(kwargs)}
            chosen = {name: value for name, value in given.items() if value is not None}
            kwargs[keyword] = dataclasses.replace(base, **chosen) if base is not None else cls(**chosen)
            return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


# ----------------------------------------------------------------------------- geometry


class _Size(click.ParamType):
    """`WxH` -> (W, H), both 1..DIMENSION_MAX (`validation.parse_size`, the API's check too)."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        try:
            return V.parse_size(str(value))
        except InputError as exc:
            self.fail(str(exc).split(": ", 1)[1], param, ctx)


class _Heights(click.ParamType):
    """`1080,720,480` -> (1080, 720, 480): ladder rung heights, 2..DIMENSION_MAX
    (`validation.parse_heights`, the API's check too)."""

    name = "heights"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[int, ...]:
        if isinstance(value, tuple):
            return value
        try:
            return V.parse_heights(str(value))
        except InputError as exc:
            self.fail(str(exc).split(": ", 1)[1], param, ctx)


class _ScaleFilter(click.Choice):
    """ffmpeg's scale algorithms; a score scale's name (`subjective train --scale mos-1-5`, the
    spelling before 0.2) is pointed to --score-scale."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value.lower().startswith(("mos-", "dmos-")):
            self.fail(
                f"{value!r} is a score scale: use --score-scale {value} (--scale is the upscaling filter)", param, ctx
            )
        return super().convert(value, param, ctx)


def geometry_options(func: F) -> F:
    """`--width --height --pix-fmt --fps` of raw inputs, given to the command as one `geometry`
    (media.options.RawGeometry)."""
    options = [
        click.option(
            "--width",
            type=click.IntRange(1, V.DIMENSION_MAX),
            help="Width of raw inputs (else from the name); with --height/--pix-fmt, any name but a .y4m or a "
            "known container is read as raw video.",
        ),
        click.option(
            "--height", type=click.IntRange(1, V.DIMENSION_MAX), help="Height of raw inputs (else from the name)."
        ),
        click.option("--pix-fmt", help="Pixel format of raw inputs (default yuv420p or from the name)."),
        click.option("--fps", type=FiniteFloatRange(0, V.FPS_MAX, min_open=True), help="Frame rate of raw inputs."),
    ]
    return _stacked(options, collected(RawGeometry, "geometry")(func))


def scoring_options(*, libvmaf_choice: bool = True) -> Callable[[F], F]:
    """`--scale --resolution` and (with `libvmaf_choice`) `--model --metrics --subsample`, given to the
    command as one `scoring` (media.options.Scoring). predict has no libvmaf choice: its ensemble's
    features come from the model it was trained on."""

    def decorate(func: F) -> F:
        func = collected_scoring(func)
        func = resolution_option(scale_option(func))
        return libvmaf_options(func) if libvmaf_choice else func

    return decorate


def rescoring_options(func: F) -> F:
    """`--model --metrics --subsample --hdr-as-sdr` as one `scoring` (rescore: each cell keeps the
    geometry it was built with, so no --scale or --resolution)."""
    return libvmaf_options(collected_scoring(func))


def collected_scoring(func: F) -> F:
    """The scoring flags a command has (run: --scale alone) as one `scoring` (media.options.Scoring)."""
    return collected(Scoring, "scoring")(func)


def scale_option(func: F) -> F:
    return click.option(
        "--scale",
        "scale",
        type=_ScaleFilter(SCALE_FILTERS),
        default=None,
        metavar="FILTER",
        help="ffmpeg scale algorithm (bicubic, lanczos, ...) that resizes a distorted video of another size to "
        "the reference's size (score refuses such a pair without it), both sides to --resolution, and ladder "
        "rungs both ways (default there: bicubic, libvmaf's documented procedure).",
    )(func)


def resolution_option(func: F) -> F:
    return click.option(
        "--resolution",
        "resolution",
        type=_Size(),
        default=None,
        metavar="WxH",
        help="Score at this size (e.g. the display's): the reference and the distorted are both scaled to it "
        "with --scale (default bicubic); even width and height.",
    )(func)


def resolutions_option(func: F) -> F:
    return click.option(
        "--resolutions",
        "resolutions",
        type=_Heights(),
        default=None,
        metavar="HEIGHTS",
        help="Resolution ladder, comma-separated heights (e.g. 1080,720,480): every cell is encoded at each rung "
        "(aspect kept, even sizes; a rung at or above the source's height is the source's size) and scored "
        "scaled back up to the source's size with --scale (default bicubic).",
    )(func)


def grid_options(*, encoders: str, encoders_help: str) -> Callable[[F], F]:
    """`--encoders --cqs --presets --resolutions`: the corpus grid (corpus, run), given to the command
    as one `grid` (corpus.grid.Grid). `encoders`: the command's default (corpus: libx264, run: auto,
    which probes this platform's encoders first); the cq and preset defaults are the adapters'."""

    def decorate(func: F) -> F:
        func = _parsed_grid_lists(collected(Grid, "grid")(func))
        options = [
            click.option("--encoders", default=encoders, show_default=True, help=encoders_help),
            click.option(
                "--cqs",
                default=",".join(str(cq) for cq in DEFAULT_CQS),
                show_default=True,
                help="Comma-separated CQ/CRF values.",
            ),
            click.option(
                "--presets",
                default=",".join(DEFAULT_PRESETS),
                show_default=True,
                help="Comma-separated encoder presets.",
            ),
            resolutions_option,
        ]
        return _stacked(options, func)

    return decorate


def _parsed_grid_lists(func: F) -> F:
    """--cqs and --presets as the lists a Grid takes (`--cqs 19,x` is one line naming --cqs)."""
    import functools

    from vmafkit.cli._common import int_list, split_list

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs["cqs"] = int_list(kwargs["cqs"], "--cqs")
        kwargs["presets"] = split_list(kwargs["presets"])
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


DEVICES = ("auto", "cpu", "cuda")


def device_option(*, default: str = "auto", purpose: str = "torch device") -> Callable[[F], F]:
    """`--device` (train, run, export, subjective train), defined once. "auto" is a GPU when torch
    sees one; export keeps "cpu" (a refit on the CPU gives the same ONNX bytes on every host) and
    subjective train too (its few hundred items train faster than a GPU is set up)."""
    return click.option(
        "--device", type=click.Choice(list(DEVICES)), default=default, show_default=True, help=f"{purpose}."
    )


def coverage_option(purpose: str) -> Callable[[F], F]:
    """`--coverage` (verdict, predict, rd, subjective train): a share in (0, 1), default
    thresholds.DEFAULT_COVERAGE; `purpose` says what it covers there."""
    return click.option(
        "--coverage",
        type=FiniteFloatRange(0, 1, min_open=True, max_open=True),
        default=T.DEFAULT_COVERAGE,
        show_default=True,
        help=purpose,
    )
