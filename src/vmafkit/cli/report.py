"""`vmafkit report OUT`: the self-contained HTML report of a run folder."""

from __future__ import annotations

import click

from vmafkit import layout
from vmafkit.cli._common import run_command


@click.command("report")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option(
    "--corpus",
    type=click.Path(exists=True, dir_okay=False),
    help=f"Corpus JSONL/Parquet (default: OUT/{layout.CORPUS_DIR}/{layout.CORPUS_FILE}, or the one the seed reports name).",
)
@run_command
def report_cmd(out_dir, corpus):
    """Write OUT/report.html: verdict, gate margins, per-fold PLCC, predicted vs VMAF, coverage, corpus.

    Works on a partial run: a section whose inputs are missing says so.
    """
    from vmafkit.report import write_report

    path = write_report(out_dir, corpus=corpus)
    click.echo(str(path))
    return 0


def register(main: click.Group) -> None:
    main.add_command(report_cmd)
