"""Commands of the corpus stage: `corpus`, `rescore`, `merge` and `import-corpus`."""

from __future__ import annotations

from pathlib import Path

import click

from vmafkit import layout
from vmafkit import validation as V
from vmafkit.cli._common import run_command
from vmafkit.cli.options import (
    check_outputs,
    emit_json,
    ffmpeg_option,
    grid_options,
    json_option,
    max_frames_option,
    out_option,
    progress_option,
    quiet_alias,
    rescoring_options,
    scheduler_option,
    scoring_options,
    vmaf_bin_option,
)
from vmafkit.errors import EXIT_OK, InputError

CORPUS_SUFFIXES = (".jsonl", ".parquet")


@click.command("corpus")
@click.option("--ref-dir", required=True, help="Folder of reference clips (.y4m, .yuv, any container).")
@grid_options(
    encoders="libx264",
    encoders_help="Comma-separated encoders, or auto = this platform's defaults that pass their probe.",
)
@out_option(f"Corpus JSONL to write ({layout.CORPUS_FILE}).")
@click.option("--jobs", type=click.IntRange(*V.JOBS_RANGE), help="Cells in parallel (default: the usable cores).")
@max_frames_option
@ffmpeg_option
@vmaf_bin_option
@scoring_options()
@click.option(
    "--encoder-threads",
    type=click.IntRange(*V.ENCODER_THREADS_RANGE),
    default=1,
    show_default=True,
    help="Threads per encode; part of each cell's identity, since encoders' output depends on it.",
)
@scheduler_option
@progress_option
@quiet_alias
@run_command
def corpus_cmd(ref_dir, out, **options):
    """Encode every (source, encoder, preset, cq[, ladder rung]) cell and score every frame with libvmaf."""
    from vmafkit import api

    result = api.build_corpus(ref_dir, out, **options)
    click.echo(result.summary_line(), err=True)
    return EXIT_OK


@click.command("rescore")
@click.argument("corpus", type=click.Path(dir_okay=False))
@click.option("--ref-dir", required=True, help="Folder of the reference clips the corpus was built from.")
@out_option("New corpus JSONL to write (the old one is left as it is).")
@click.option("--jobs", type=click.IntRange(*V.JOBS_RANGE), help="Cells in parallel (default: the usable cores).")
@ffmpeg_option
@vmaf_bin_option
@rescoring_options
@progress_option
@run_command
def rescore_cmd(corpus, ref_dir, out, **options):
    """Score CORPUS again with another --model / --metrics / --subsample from the encodes its build
    kept: no encoder runs, and the result equals a fresh `vmafkit corpus` with those choices."""
    from vmafkit import api

    check_outputs({"the corpus": [corpus]}, {"--out": out})
    result = api.rescore(corpus, out, ref_dir=ref_dir, **options)
    click.echo(result.summary_line(), err=True)
    return EXIT_OK


@click.command("merge")
@click.argument("shards", nargs=-1, required=True)
@out_option("Merged corpus JSONL.")
@click.option("--allow-mixed-versions", is_flag=True, help="Merge shards scored by different libvmaf versions.")
@json_option
@run_command
def merge_cmd(shards, out, allow_mixed_versions, json_to):
    """Merge corpus shards, deduplicated by (src_sha256, encoder, preset, cq, width, height, frame_index)."""
    from vmafkit import api

    if json_to is not None and Path(json_to).suffix.lower() in CORPUS_SUFFIXES:
        # `merge --json a.jsonl b.jsonl`: --json took shard a as its PATH and would overwrite it
        raise InputError(
            "--json would write the summary over a corpus file; put a bare --json after the shards, or write --json=-",
            path=json_to,
        )
    check_outputs({"a shard": list(shards)}, {"--out": out, "--json": json_to})
    summary = api.merge(list(shards), out, allow_mixed_versions=allow_mixed_versions)
    if not emit_json(summary.to_json(), json_to):
        click.echo(
            f"rows in {summary.rows_in}, out {summary.rows_out}, duplicates {summary.duplicates}, "
            f"sources {len(summary.sources)}: {', '.join(summary.sources)} -> {summary.out}"
        )
    return EXIT_OK


@click.command("import-corpus")
@click.argument("seed_file", type=click.Path(dir_okay=False))
@click.option("--ref-dir", required=True, help="Folder of the reference clips the seed corpus was made from.")
@out_option("Native corpus JSONL to write.")
@click.option(
    "--preset",
    required=True,
    help="Preset the seed kit encoded with: one for every encoder, or ENCODER=PRESET,... per encoder.",
)
@click.option("--libvmaf-version", help="libvmaf version that scored the seed corpus (default: unknown).")
@click.option(
    "--overwrite-field",
    "overwrite_fields",
    multiple=True,
    metavar="FIELD",
    help="Replace a seed row's own value of FIELD (e.g. group, preset, src_sha256) by what the import "
    "writes; without it a row whose value differs stops the import. Repeatable.",
)
@ffmpeg_option
@run_command
def import_corpus_cmd(seed_file, ref_dir, out, **options):
    """Turn a seed-kit corpus (src, encoder, cq, frame_index, enc_bytes, enc_time_ms, vmaf and the six
    features per row) into a native corpus, completing each row from its reference clip in REF_DIR."""
    from vmafkit import api

    summary = api.import_corpus(seed_file, ref_dir, out, **options)
    click.echo(
        f"{summary.n_rows} rows of {len(summary.sources)} sources ({', '.join(summary.encoders)}) "
        f"imported -> {summary.out}",
        err=True,
    )
    return EXIT_OK


def register(main: click.Group) -> None:
    main.add_command(corpus_cmd)
    main.add_command(rescore_cmd)
    main.add_command(merge_cmd)
    main.add_command(import_corpus_cmd)
