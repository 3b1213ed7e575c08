"""`vmafkit train`: LOSO retrain of the ensemble -> loso_seed{N}.json per seed."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from vmafkit import layout
from vmafkit import validation as V
from vmafkit.cli._common import run_command
from vmafkit.cli.options import (
    corpus_option,
    device_option,
    out_option,
    progress_option,
    scheduler_option,
    seeds_option,
    training_options,
)
from vmafkit.errors import EXIT_OK


@click.command("train")
@corpus_option("The per-frame corpus to train on (JSONL or Parquet).")
@seeds_option
@out_option(
    f"Folder for the seed reports ({layout.SEED_REPORTS}) and their prediction files.",
    type=click.Path(path_type=Path, file_okay=False),
    old=("--out-dir",),
)
@training_options
@device_option(purpose="torch device for the members' fit (auto: a GPU when torch sees one)")
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(*V.JOBS_RANGE),
    help="CPU: parallel member shards (default: torch's intra-op thread count); results do not depend on it",
)
@scheduler_option
@progress_option
@run_command
def train_cmd(corpus, out, **options) -> int:
    """Retrain every (seed, source-group) member with leave-one-source-out CV."""
    from vmafkit import api
    from vmafkit.io import read_json

    result = api.train_loso(corpus, out, argv=sys.argv, **options)
    for path in result.reports:
        rep = read_json(path, what="LOSO report")
        click.echo(
            f"{path}  mean_plcc={_fmt(rep.get('mean_plcc'))} min={_fmt(rep.get('min_plcc'))} "
            f"max={_fmt(rep.get('max_plcc'))} mean_rmse={_fmt(rep.get('mean_rmse'))}"
        )
    return EXIT_OK


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def register(main: click.Group) -> None:
    main.add_command(train_cmd)
