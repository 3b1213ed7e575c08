"""Commands of the corpus stage: `corpus` and `merge`."""

from __future__ import annotations

import click

from vmafkit import layout
from vmafkit import validation as V
from vmafkit.cli._common import int_list, run_command, split_list
from vmafkit.io import dumps_json


@click.command("corpus")
@click.option("--ref-dir", required=True, help="Folder of reference clips (.y4m, .yuv, any container).")
@click.option("--encoders", default="libx264", show_default=True, help="Comma-separated encoders.")
@click.option("--cqs", default="19,25,31,37", show_default=True, help="Comma-separated CQ/CRF values.")
@click.option("--presets", default="medium", show_default=True, help="Comma-separated presets.")
@click.option("--out", required=True, help=f"Corpus JSONL to write ({layout.CORPUS_FILE}).")
@click.option("--jobs", type=click.IntRange(*V.JOBS_RANGE), help="Cells in parallel (default: the usable cores).")
@click.option("--max-frames", type=click.IntRange(min=1), help="Encode and score only the first N frames.")
@click.option("--ffmpeg", "ffmpeg_path", help="ffmpeg binary to use.")
@click.option("--vmaf-bin", help="Score with a standalone libvmaf `vmaf` CLI.")
@click.option(
    "--encoder-threads",
    type=click.IntRange(*V.ENCODER_THREADS_RANGE),
    default=1,
    show_default=True,
    help="Threads per encode; part of each cell's identity, since encoders' output depends on it.",
)
@click.option("--scheduler", help="Dask scheduler address (tcp://HOST:PORT); default: run locally.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@run_command
def corpus_cmd(
    ref_dir, encoders, cqs, presets, out, jobs, max_frames, ffmpeg_path, vmaf_bin, encoder_threads, scheduler, quiet
):
    """Encode every (source, encoder, preset, cq) cell and score every frame with libvmaf."""
    from vmafkit.corpus.build import build_corpus

    result = build_corpus(
        ref_dir,
        split_list(encoders),
        int_list(cqs, "--cqs"),
        out,
        presets=split_list(presets),
        jobs=jobs,
        max_frames=max_frames,
        ffmpeg=ffmpeg_path,
        vmaf_bin=vmaf_bin,
        progress=not quiet,
        scheduler=scheduler,
        encoder_threads=encoder_threads,
    )
    click.echo(
        f"{result.n_rows} rows from {result.n_cells} cells ({result.cells_cached} cached, "
        f"{result.cells_run} encoded) of {len(result.sources)} sources in {result.wall_s:.1f} s -> {result.out}",
        err=True,
    )
    return 0


@click.command("merge")
@click.argument("shards", nargs=-1, required=True)
@click.option("--out", required=True, help="Merged corpus JSONL.")
@click.option("--allow-mixed-versions", is_flag=True, help="Merge shards scored by different libvmaf versions.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@run_command
def merge_cmd(shards, out, allow_mixed_versions, as_json):
    """Merge corpus shards, deduplicated by (src_sha256, encoder, preset, cq, frame_index)."""
    from vmafkit.corpus.merge import merge_shards

    summary = merge_shards(shards, out, allow_mixed_versions=allow_mixed_versions)
    if as_json:
        click.echo(dumps_json(summary.to_json()), nl=False)
    else:
        click.echo(
            f"rows in {summary.rows_in}, out {summary.rows_out}, duplicates {summary.duplicates}, "
            f"sources {len(summary.sources)}: {', '.join(summary.sources)} -> {summary.out}"
        )
    return 0


def register(main: click.Group) -> None:
    main.add_command(corpus_cmd)
    main.add_command(merge_cmd)
