"""`vmafkit subjective train|gate`: subjective scores (MOS/DMOS) as the training target (issue 15).

Registered on `vmafkit` once "subjective" is in `cli.COMMAND_MODULES`; until then the same group
runs as `python -m vmafkit.cli.subjective ...` (identical flags, errors and exit codes).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from vmafkit import layout
from vmafkit import thresholds as T
from vmafkit import validation as V
from vmafkit.cli import VmafkitGroup
from vmafkit.cli._common import DEFAULT_RECIPE, DEFAULT_SEEDS_TEXT, FiniteFloatRange, int_list, run_command, split_list


def register(main: click.Group) -> None:
    main.add_command(subjective)


@click.group("subjective", cls=VmafkitGroup, context_settings={"help_option_names": ["-h", "--help"]})
def subjective() -> None:
    """Train and judge models against subjective scores (MOS/DMOS) instead of libvmaf's."""


def _scale_range(value: str | None):
    if value is None:
        return None
    parts = split_list(value)
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        raise click.BadParameter(f"expected LOW,HIGH, got {value!r}", param_hint="--scale-range") from None
    return low, high


@subjective.command("train")
@click.option(
    "--dataset",
    type=click.Path(path_type=Path, dir_okay=False),
    help="videos: JSON array / JSON lines / CSV of pairs {ref, dis, score[, content, score_std, n_obs, "
    "width, height, pix_fmt, fps]}",
)
@click.option(
    "--table",
    type=click.Path(path_type=Path, dir_okay=False),
    help="features: CSV, Parquet, JSON lines, or a JSON object of columns {column: {row_id: value}}",
)
@click.option("--features", default=None, help="--table: comma-separated feature columns")
@click.option("--target", default=None, help="--table: the subjective score column")
@click.option("--group", default=None, help="--table: the content column (one leave-one-out fold per content)")
@click.option("--id", "id_column", default=None, help="--table: a column naming each row (default: row0, row1, ...)")
@click.option("--out-dir", required=True, type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--scale",
    default=None,
    help="the scores' scale: mos-1-5, mos-0-100, dmos-0-100 or dmos-0-5 "
    "(recorded in every output; scores outside it are refused)",
)
@click.option("--scale-range", default=None, help="LOW,HIGH: declare (or override) the scale's range")
@click.option("--seeds", default=DEFAULT_SEEDS_TEXT, show_default=True, help="ensemble member seeds")
@click.option("--epochs", default=DEFAULT_RECIPE.epochs, show_default=True, type=click.IntRange(*V.EPOCHS_RANGE))
@click.option(
    "--batch-size", default=DEFAULT_RECIPE.batch_size, show_default=True, type=click.IntRange(*V.BATCH_SIZE_RANGE)
)
@click.option("--lr", default=DEFAULT_RECIPE.lr, show_default=True, type=FiniteFloatRange(0, V.LR_MAX, min_open=True))
@click.option(
    "--weight-decay",
    default=DEFAULT_RECIPE.weight_decay,
    show_default=True,
    type=FiniteFloatRange(*V.WEIGHT_DECAY_RANGE),
)
@click.option(
    "--bootstrap",
    default=T.SUBJECTIVE_BOOTSTRAP,
    show_default=True,
    type=click.IntRange(*V.BOOTSTRAP_RANGE),
    help="resamples of contents for intervals and the paired tests",
)
@click.option(
    "--coverage",
    default=T.DEFAULT_COVERAGE,
    show_default=True,
    type=FiniteFloatRange(0, 1, min_open=True, max_open=True),
    help="the ensemble interval's coverage",
)
@click.option("--device", default="cpu", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--workers", default=None, type=click.IntRange(*V.JOBS_RANGE), help="CPU shards for the ensemble fit")
@click.option("--jobs", default=None, type=click.IntRange(*V.JOBS_RANGE), help="--dataset: pairs scored at once")
@click.option(
    "--max-frames", default=None, type=click.IntRange(1, None), help="--dataset: score at most N frames a clip"
)
@click.option("--ffmpeg", default=None, help="--dataset: ffmpeg with libvmaf (default: found as `vmafkit doctor` says)")
@click.option("--vmaf-bin", default=None, help="--dataset: score with a standalone libvmaf `vmaf` CLI")
@click.option(
    "--cache-dir",
    default=None,
    type=click.Path(path_type=Path, file_okay=False),
    help=f"--dataset: the scored-pair cache (default {layout.pair_cache_dir('OUT')})",
)
@click.option("--json", "as_json", is_flag=True, help="print the report JSON instead of the table")
@click.option("--progress/--no-progress", default=None, help="progress on stderr (default: when it is a terminal)")
@run_command
def train(
    dataset,
    table,
    features,
    target,
    group,
    id_column,
    out_dir,
    scale,
    scale_range,
    seeds,
    epochs,
    batch_size,
    lr,
    weight_decay,
    bootstrap,
    coverage,
    device,
    workers,
    jobs,
    max_frames,
    ffmpeg,
    vmaf_bin,
    cache_dir,
    as_json,
    progress,
) -> int:
    """Leave-one-content-out: the ensemble, nu-SVR (libvmaf's recipe), a linear model [and stock VMAF
    through a logistic] against the subjective scores, with bootstrap intervals over contents."""
    from vmafkit.errors import InputError
    from vmafkit.io import dumps_json
    from vmafkit.subjective.models import subjective_recipe
    from vmafkit.subjective.run import Options, train_from_dataset, train_from_table
    from vmafkit.subjective.scale import resolve_scale

    if (dataset is None) == (table is None):
        raise InputError("give exactly one of --dataset (videos) or --table (a feature table)")
    if dataset is not None:
        given = [
            flag
            for flag, v in (("--features", features), ("--target", target), ("--group", group), ("--id", id_column))
            if v is not None
        ]
        if given:
            raise InputError(
                f"{', '.join(given)} go with --table; --dataset uses libvmaf's canonical-6, the pairs' "
                "score and content"
            )
    else:
        missing = [flag for flag, v in (("--features", features), ("--target", target), ("--group", group)) if not v]
        if missing:
            raise InputError(f"--table needs {', '.join(missing)}")
        video_only = [
            flag
            for flag, v in (
                ("--jobs", jobs),
                ("--max-frames", max_frames),
                ("--ffmpeg", ffmpeg),
                ("--vmaf-bin", vmaf_bin),
                ("--cache-dir", cache_dir),
            )
            if v is not None
        ]
        if video_only:
            raise InputError(f"{', '.join(video_only)} go with --dataset")
    scale_obj = resolve_scale(scale, value_range=_scale_range(scale_range)) if (scale or scale_range) else None
    show = sys.stderr.isatty() if progress is None else progress
    opts = Options(
        seeds=int_list(seeds, "--seeds"),
        recipe=subjective_recipe(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay),
        device=device,
        workers=workers,
        n_boot=bootstrap,
        coverage=coverage,
        progress=show,
        argv=list(sys.argv),
    )
    if dataset is not None:
        result = train_from_dataset(
            dataset,
            out_dir,
            opts,
            scale=scale_obj,
            ffmpeg=ffmpeg,
            vmaf_bin=vmaf_bin,
            jobs=jobs,
            max_frames=max_frames,
            cache_dir=cache_dir,
        )
    else:
        result = train_from_table(
            table, split_list(features), target, group, out_dir, opts, scale=scale_obj, id_column=id_column
        )
    if as_json:
        click.echo(dumps_json(result.report), nl=False)
    else:
        click.echo(result.table)
        click.echo(f"report: {result.report_path}")
    for warning in result.report["warnings"]:
        click.echo(f"vmafkit: warning: {warning}", err=True)
    return 0


@subjective.command("gate")
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="print the gate JSON")
@run_command
def gate(out_dir, as_json) -> int:
    """Re-derive the subjective gate from OUT's held-out predictions: exit 0 PROMOTE, 1 HOLD, 2 bad input."""
    from vmafkit.io import dumps_json
    from vmafkit.subjective.recheck import recheck

    result = recheck(out_dir)
    if as_json:
        click.echo(dumps_json(result), nl=False)
    else:
        verdict = result["gate"]
        click.echo(f"subjective gate: {verdict['verdict']}")
        for name, check in verdict["checks"].items():
            click.echo(
                f"  {'ok  ' if check['pass'] else 'FAIL'} {name}: {check['value']} (threshold {check['threshold']})"
            )
        for line in verdict["failing_aspects"]:
            click.echo(f"  - {line}")
    return 0 if result["gate"]["passed"] else 1


if __name__ == "__main__":  # pragma: no cover - `python -m vmafkit.cli.subjective`
    subjective(prog_name="vmafkit subjective")
