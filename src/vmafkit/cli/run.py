"""`vmafkit run`: the whole pipeline in one command (each step is also its own subcommand)."""

from __future__ import annotations

import os

import click

from vmafkit import validation as V
from vmafkit.cli._common import DEFAULT_RECIPE, DEFAULT_SEEDS_TEXT, FiniteFloatRange, int_list, run_command, split_list
from vmafkit.train.recipe import RECIPE_NAMES


@click.command("run")
@click.option("--ref-dir", type=click.Path(), help="Folder of reference clips.")
@click.option("--demo", is_flag=True, help="Use nine built-in SYNTHETIC clips made by ffmpeg (no --ref-dir needed).")
@click.option("--out-dir", required=True, type=click.Path(), help="Run folder (created; a re-run resumes in it).")
@click.option(
    "--encoders",
    default="auto",
    show_default=True,
    help="Comma-separated encoders, or auto = this platform's defaults that pass their probe.",
)
@click.option("--cqs", default="19,25,31,37", show_default=True)
@click.option("--presets", default="medium", show_default=True)
@click.option("--seeds", default=DEFAULT_SEEDS_TEXT, show_default=True)
@click.option("--epochs", type=click.IntRange(*V.EPOCHS_RANGE), default=DEFAULT_RECIPE.epochs, show_default=True)
@click.option(
    "--batch-size", type=click.IntRange(*V.BATCH_SIZE_RANGE), default=DEFAULT_RECIPE.batch_size, show_default=True
)
@click.option("--lr", type=FiniteFloatRange(0, V.LR_MAX, min_open=True), default=DEFAULT_RECIPE.lr, show_default=True)
@click.option(
    "--weight-decay",
    type=FiniteFloatRange(*V.WEIGHT_DECAY_RANGE),
    default=DEFAULT_RECIPE.weight_decay,
    show_default=True,
)
@click.option(
    "--recipe",
    "recipe_name",
    type=click.Choice(RECIPE_NAMES),
    default=DEFAULT_RECIPE.name,
    show_default=True,
    help="robust: labels masked in training so predict may leave them out; seed: the seed kit's exact recipe",
)
@click.option(
    "--jobs", type=click.IntRange(*V.JOBS_RANGE), help="Corpus cells in parallel (default: the usable cores)."
)
@click.option("--max-frames", type=click.IntRange(min=1), help="Encode and score only the first N frames of each clip.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--ffmpeg", "ffmpeg_path", help="ffmpeg binary to use.")
@click.option("--scheduler", help="Dask scheduler address (tcp://HOST:PORT) for corpus cells and ensemble fits.")
@click.option("--no-bundle", is_flag=True, help="Skip the results bundle.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@run_command
def run_cmd(
    ref_dir,
    demo,
    out_dir,
    encoders,
    cqs,
    presets,
    seeds,
    epochs,
    batch_size,
    lr,
    weight_decay,
    recipe_name,
    jobs,
    max_frames,
    device,
    ffmpeg_path,
    scheduler,
    no_bundle,
    quiet,
):
    """doctor -> corpus -> train -> verdict -> (PROMOTE) export -> report -> bundle.

    Exit 0 PROMOTE, 1 HOLD, 2 error. A re-run resumes at the first step whose inputs changed.
    """
    from vmafkit import layout
    from vmafkit.errors import not_a_folder
    from vmafkit.pipeline import RunOptions, run_pipeline

    if demo and ref_dir:
        raise click.UsageError("give --ref-dir or --demo, not both")
    if ref_dir and not os.path.isdir(ref_dir):
        raise not_a_folder(ref_dir, "reference folder")
    opts = RunOptions(
        ref_dir=ref_dir,
        out_dir=out_dir,
        encoders=split_list(encoders) or "auto",
        cqs=int_list(cqs, "--cqs"),
        presets=split_list(presets),
        seeds=int_list(seeds, "--seeds"),
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        recipe=recipe_name,
        jobs=jobs,
        max_frames=max_frames,
        device=device,
        ffmpeg=ffmpeg_path,
        scheduler=scheduler,
        demo=demo,
        progress=not quiet,
        bundle=not no_bundle,
    )
    result = run_pipeline(opts, log=lambda msg: click.echo(f"vmafkit: {msg}", err=True))
    click.echo(
        f"{result.verdict}: {result.out_dir} ({result.wall_s:.0f} s; steps: "
        + ", ".join(f"{k} {v}" for k, v in result.steps.items())
        + ")"
    )
    if result.bundle:
        click.echo(f"bundle: {result.bundle}")
    if result.verdict == "PROMOTE":  # run exported already: only the flip is left
        models = layout.models_dir(result.out_dir)
        click.echo(
            f"next: vmafkit registry flip --registry {layout.registry_file(models)} --verdict "
            f"{layout.verdict_file(layout.loso_dir(result.out_dir), 'PROMOTE')} (the export to {models} is done)"
        )
    return result.exit_code


def register(main: click.Group) -> None:
    main.add_command(run_cmd)
