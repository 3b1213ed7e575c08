"""`vmafkit run`: the whole pipeline in one command (each step is also its own subcommand)."""

from __future__ import annotations

import click

from vmafkit import validation as V
from vmafkit.cli._common import run_command
from vmafkit.cli.options import (
    collected_scoring,
    device_option,
    ffmpeg_option,
    grid_options,
    libvmaf_options,
    max_frames_option,
    out_option,
    progress_option,
    quiet_alias,
    scale_option,
    scheduler_option,
    seeds_option,
    training_options,
)


@click.command("run")
@click.option("--ref-dir", type=click.Path(), help="Folder of reference clips.")
@click.option("--demo", is_flag=True, help="Use nine built-in SYNTHETIC clips made by ffmpeg (no --ref-dir needed).")
@out_option("Run folder (created; a re-run resumes in it).", type=click.Path(), old=("--out-dir",))
@grid_options(
    encoders="auto", encoders_help="Comma-separated encoders, or auto = this platform's defaults that pass their probe."
)
@libvmaf_options
@scale_option
@collected_scoring
@seeds_option
@training_options
@click.option(
    "--jobs", type=click.IntRange(*V.JOBS_RANGE), help="Corpus cells in parallel (default: the usable cores)."
)
@max_frames_option
@device_option(purpose="torch device for training (auto: a GPU when torch sees one)")
@ffmpeg_option
@scheduler_option
@click.option("--no-bundle", is_flag=True, help="Skip the results bundle.")
@progress_option
@quiet_alias
@run_command
def run_cmd(out, demo, ref_dir, no_bundle, **options):
    """doctor -> corpus -> train -> verdict -> (PROMOTE) export -> report -> bundle.

    Exit 0 PROMOTE, 1 HOLD, 2 error. A re-run resumes at the first step whose inputs changed.
    """
    from vmafkit import api, layout

    if demo and ref_dir:
        raise click.UsageError("give --ref-dir or --demo, not both")
    log = lambda msg: click.echo(f"vmafkit: {msg}", err=True)  # noqa: E731
    result = api.run(out, ref_dir=ref_dir, demo=demo, bundle=not no_bundle, log=log, **options)
    click.echo(
        f"{result.verdict}: {result.out_dir} ({result.wall_s:.0f} s; steps: "
        + ", ".join(
            f"{k} {v}" + (f" {result.step_s[k]:.0f} s" if not v.startswith("skipped") and k in result.step_s else "")
            for k, v in result.steps.items()
        )
        + ")"
    )
    if result.bundle:
        click.echo(f"bundle: {result.bundle}")
    models = layout.models_dir(result.out_dir)
    if result.steps.get("export", "").startswith("skipped (flipped)"):
        click.echo(f"models: {models} serves this PROMOTE (flipped); nothing left to do")
    elif result.verdict == "PROMOTE":  # run exported already: only the flip is left
        click.echo(
            f"next: vmafkit registry flip --registry {layout.registry_file(models)} --verdict "
            f"{layout.verdict_file(layout.loso_dir(result.out_dir), 'PROMOTE')} (the export to {models} is done)"
        )
    return result.exit_code


def register(main: click.Group) -> None:
    main.add_command(run_cmd)
