"""`vmafkit subjective train|gate`: subjective scores (MOS/DMOS) as the training target (issue 15).

The same group also runs as `python -m vmafkit.cli.subjective ...` (identical flags, errors and
exit codes).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from vmafkit import layout
from vmafkit import thresholds as T
from vmafkit import validation as V
from vmafkit.cli._common import VmafkitGroup, run_command, split_list
from vmafkit.cli.options import (
    align_option,
    check_outputs,
    collected,
    coverage_option,
    deprecated_option,
    device_option,
    emit_json,
    ffmpeg_option,
    json_option,
    max_frames_option,
    out_option,
    progress_option,
    renamed_option,
    scale_option,
    seeds_option,
    subjective_training_options,
    vmaf_bin_option,
)
from vmafkit.errors import EXIT_HOLD, EXIT_OK
from vmafkit.media.options import DatasetScoring


@click.group("subjective", cls=VmafkitGroup, context_settings={"help_option_names": ["-h", "--help"]})
def subjective_group() -> None:
    """Train and judge models against subjective scores (MOS/DMOS) instead of libvmaf's."""


def _scale_range(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    parts = split_list(value)
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        raise click.BadParameter(f"expected LOW,HIGH, got {value!r}", param_hint="--score-scale-range") from None
    return low, high


@subjective_group.command("train")
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
@renamed_option("--feature-columns", "feature_columns", default=None, help="--table: comma-separated feature columns")
@deprecated_option("--features", "--feature-columns", "feature_columns")
@renamed_option("--score-column", "score_column", default=None, help="--table: the subjective score column")
@deprecated_option("--target", "--score-column", "score_column")
@click.option("--group", default=None, help="--table: the content column (one leave-one-out fold per content)")
@renamed_option(
    "--id-column", "id_column", default=None, help="--table: a column naming each row (default: row0, row1, ...)"
)
@deprecated_option("--id", "--id-column", "id_column")
@out_option(
    f"Folder for {layout.SUBJECTIVE_REPORT_FILE}, the predictions and {layout.LOSO_DIR}/.",
    type=click.Path(path_type=Path, file_okay=False),
    old=("--out-dir",),
)
@renamed_option(
    "--score-scale",
    "score_scale",
    default=None,
    help="the scores' scale: mos-1-5, mos-0-100, dmos-0-100 or dmos-0-5 "
    "(recorded in every output; scores outside it are refused)",
)
@scale_option
@renamed_option(
    "--score-scale-range",
    "score_scale_range",
    default=None,
    callback=_scale_range,
    help="LOW,HIGH: declare (or override) the score scale's range",
)
@deprecated_option("--scale-range", "--score-scale-range", "score_scale_range")
@seeds_option
@subjective_training_options
@click.option(
    "--bootstrap",
    default=T.SUBJECTIVE_BOOTSTRAP,
    show_default=True,
    type=click.IntRange(*V.BOOTSTRAP_RANGE),
    help="resamples of contents for intervals and the paired tests",
)
@coverage_option("the ensemble interval's coverage")
@device_option(default="cpu", purpose="torch device for the ensemble fit")
@click.option("--workers", default=None, type=click.IntRange(*V.JOBS_RANGE), help="CPU shards for the ensemble fit")
@click.option("--jobs", default=None, type=click.IntRange(*V.JOBS_RANGE), help="--dataset: pairs scored at once")
@max_frames_option
@ffmpeg_option
@vmaf_bin_option
@click.option(
    "--cache-dir",
    default=None,
    type=click.Path(path_type=Path, file_okay=False),
    help=f"--dataset: the scored-pair cache (default {layout.pair_cache_dir('OUT')})",
)
@align_option
@json_option
@progress_option
@run_command
@collected(DatasetScoring, "dataset_scoring")
def train_cmd(dataset, table, out, json_to, **options) -> int:
    """Leave-one-content-out: the ensemble, nu-SVR (libvmaf's recipe), a linear model [and stock VMAF
    through a logistic] against the subjective scores, with bootstrap intervals over contents.

    --jobs, --max-frames, --ffmpeg, --vmaf-bin, --cache-dir, --scale and --align go with --dataset
    (--align auto|N: every pair's frames paired at the offset found for it, or N)."""
    from vmafkit import api

    check_outputs({"--dataset": dataset, "--table": table}, {"--json": json_to}, {"--out": out})
    result = api.subjective_train(out, dataset=dataset, table=table, argv=sys.argv, **options)
    if not emit_json(result.report, json_to):
        click.echo(result.table)
        click.echo(f"report: {result.report_path}")
    for warning in result.report["warnings"]:
        click.echo(f"vmafkit: warning: {warning}", err=True)
    return EXIT_OK


@subjective_group.command("gate")
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False))
@json_option
@run_command
def gate_cmd(out_dir, json_to) -> int:
    """Re-derive the subjective gate from OUT's held-out predictions: exit 0 PROMOTE, 1 HOLD, 2 bad input."""
    from vmafkit import api
    from vmafkit.decide.subjective_gate import check_line

    check_outputs(
        {
            "a file in OUT_DIR": layout.own_files(out_dir),
            "a file in OUT_DIR/loso": layout.own_files(Path(out_dir) / "loso"),
        },
        {"--json": json_to},
    )
    result = api.subjective_gate(out_dir)
    if not emit_json(result, json_to):
        verdict = result["gate"]
        click.echo(f"subjective gate: {verdict['verdict']}")
        for name, check in verdict["checks"].items():
            click.echo(f"  {check_line(name, check)}")
        for line in verdict["failing_aspects"]:
            click.echo(f"  - {line}")
    return EXIT_OK if result["gate"]["passed"] else EXIT_HOLD


def register(main: click.Group) -> None:
    main.add_command(subjective_group)


if __name__ == "__main__":  # pragma: no cover - `python -m vmafkit.cli.subjective`
    subjective_group(prog_name="vmafkit subjective")
