"""`vmafkit train`: LOSO retrain of the ensemble -> loso_seed{N}.json per seed."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from vmafkit import layout
from vmafkit import validation as V
from vmafkit.cli._common import DEFAULT_RECIPE, DEFAULT_SEEDS_TEXT, FiniteFloatRange, int_list, run_command
from vmafkit.train.recipe import RECIPE_NAMES


def register(main: click.Group) -> None:
    main.add_command(train)


@click.command("train")
@click.option(
    "--corpus",
    "corpus",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="per-frame corpus (JSONL or Parquet)",
)
@click.option(
    "--seeds",
    default=DEFAULT_SEEDS_TEXT,
    show_default=True,
    help="comma-separated member seeds; exactly these are trained",
)
@click.option(
    "--out-dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help=f"where the seed reports ({layout.SEED_REPORTS}) go",
)
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
    "--recipe",
    "recipe_name",
    default=DEFAULT_RECIPE.name,
    show_default=True,
    type=click.Choice(RECIPE_NAMES),
    help="robust: encoder/preset/cq labels randomly masked in training, so predict may leave them out; "
    "seed: the seed kit's exact recipe",
)
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(*V.JOBS_RANGE),
    help="CPU: parallel member shards (default: torch's intra-op thread count); results do not depend on it",
)
@click.option("--scheduler", default=None, help="Dask scheduler address (tcp://HOST:PORT); default: train locally.")
@click.option("--progress/--no-progress", default=None, help="progress bar (default: when stderr is a terminal)")
@run_command
def train(
    corpus, seeds, out_dir, epochs, batch_size, lr, weight_decay, recipe_name, device, workers, scheduler, progress
) -> int:
    """Retrain every (seed, source-group) member with leave-one-source-out CV."""
    from vmafkit.train.loso import train_loso
    from vmafkit.train.recipe import Recipe

    seed_list = int_list(seeds, "--seeds")
    recipe = Recipe.named(recipe_name, epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay)
    show = sys.stderr.isatty() if progress is None else progress
    paths = train_loso(
        corpus,
        seed_list,
        out_dir,
        recipe=recipe,
        device=device,
        progress=show,
        workers=workers,
        argv=list(sys.argv),
        scheduler=scheduler,
    )
    from vmafkit.io import read_json

    for path in paths:
        rep = read_json(path, what="LOSO report")
        click.echo(
            f"{path}  mean_plcc={_fmt(rep.get('mean_plcc'))} min={_fmt(rep.get('min_plcc'))} "
            f"max={_fmt(rep.get('max_plcc'))} mean_rmse={_fmt(rep.get('mean_rmse'))}"
        )
    return 0


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"
