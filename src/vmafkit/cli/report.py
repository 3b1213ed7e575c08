"""Commands of the report stage: `report` (the HTML page of a run folder) and `rd` (rate–quality
curves and BD-rate from a corpus)."""

from __future__ import annotations

import click

from vmafkit import layout
from vmafkit.cli._common import FiniteFloatRange, run_command
from vmafkit.cli.options import (
    STDOUT,
    check_outputs,
    corpus_option,
    coverage_option,
    csv_option,
    emit_csv,
    emit_json,
    json_option,
    pool_option,
)
from vmafkit.errors import EXIT_OK


@click.command("report")
@click.argument("out_dir", type=click.Path(file_okay=False))
@corpus_option(
    f"Corpus JSONL/Parquet (default: OUT/{layout.CORPUS_DIR}/{layout.CORPUS_FILE}, or the one the seed reports name).",
    required=False,
)
@run_command
def report_cmd(out_dir, corpus):
    """Write OUT/report.html: verdict, gate margins, per-fold PLCC, predicted vs VMAF, coverage, corpus.

    Works on a partial run: a section whose inputs are missing says so.
    """
    from vmafkit import api

    path = api.write_report(out_dir, corpus=corpus)
    click.echo(str(path))
    return EXIT_OK


@click.command("rd")
@click.argument("corpus", type=click.Path(dir_okay=False))
@click.option("--anchor", help="Encoder the others are compared with (default: the first in name order).")
@click.option(
    "--target",
    type=FiniteFloatRange(0, 100),
    default=95.0,
    show_default=True,
    help="VMAF for the 'cq that reaches it' table.",
)
@click.option(
    "--plots",
    type=click.Path(file_okay=False),
    help="Folder for one rate–quality plot per source (rd_<source>.png).",
)
@click.option(
    "--models",
    type=click.Path(path_type=str),
    help=f"MODELS folder (or its {layout.REGISTRY_FILE}): the cq for --target also by the ensemble's "
    "prediction and its calibrated interval.",
)
@coverage_option("With --models: the interval's coverage.")
@pool_option
@json_option
@csv_option
@run_command
def rd_cmd(corpus, anchor, target, plots, models, coverage, pool, json_to, csv_to):
    """Rate–quality curves of CORPUS, BD-rate of every encoder against an anchor, and the cq for a VMAF.

    A point is one (source, encoder, rung, cq) cell: kbit/s from enc_bytes and the duration, and the
    mean VMAF of its frames. BD-rate: PCHIP of log10 rate over VMAF, over the shared VMAF range;
    negative = fewer bits than the anchor at equal VMAF; none (with the reason) where curves do not
    overlap. The summary counts one value per LOSO group (the mean of its sources: sources of one
    scene count once) and averages the groups, with a 95 % bootstrap interval over groups.
    """
    from vmafkit import api
    from vmafkit.report.rd import CSV_COLUMNS, csv_rows, format_table

    if json_to == STDOUT and csv_to == STDOUT:
        raise click.UsageError("a bare --json and a bare --csv would both print on stdout; give one of them a PATH")
    check_outputs(
        {"CORPUS": corpus, "--models": [models, *layout.own_files(models)] if models else None},
        {"--json": json_to, "--csv": csv_to},
        {"--plots": plots},
    )

    analysis = api.rd(corpus, anchor=anchor, target=target, models=models, coverage=coverage, plots=plots, pool=pool)
    for note in analysis.model_notes:
        click.echo(f"vmafkit: note: {note}", err=True)
    for path in analysis.plot_files:
        click.echo(f"plot: {path}", err=True)
    csv_printed = emit_csv(CSV_COLUMNS, csv_rows(analysis), csv_to)
    if not emit_json(analysis.to_json(), json_to) and not csv_printed:
        click.echo(format_table(analysis))
    return EXIT_OK


def register(main: click.Group) -> None:
    main.add_command(report_cmd)
    main.add_command(rd_cmd)
