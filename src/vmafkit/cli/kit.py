"""Kit commands: platform, bundle, verify, compare, extract, pack-corpus, extract-corpus, dist."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from vmafkit import validation as V
from vmafkit.bundle.layout import DEFAULT_BOOTSTRAP, DEFAULT_BOOTSTRAP_SEED, DEFAULT_CONFIDENCE, DEFAULT_TOLERANCE
from vmafkit.cli._common import FiniteFloatRange, run_command
from vmafkit.cli.options import (
    check_outputs,
    deprecated_option,
    emit_json,
    ffmpeg_option,
    json_option,
    out_option,
    renamed_option,
)
from vmafkit.errors import EXIT_HOLD, EXIT_OK


def _console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


_limit_options = [
    click.option(
        "--max-bytes",
        type=click.IntRange(min=1),
        default=None,
        help="Refuse a bundle whose members add up to more (default 8 GiB).",
    ),
    click.option(
        "--max-members",
        type=click.IntRange(min=1),
        default=None,
        help="Refuse a bundle with more members (default 100000).",
    ),
]


def _with_limits(func):
    for option in reversed(_limit_options):
        func = option(func)
    return func


def _fmt(value: Any, digits: int = 4, signed: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    if isinstance(value, (list, dict)):
        text = json.dumps(value, sort_keys=True)
        return text if len(text) <= 60 else text[:57] + "..."
    return str(value)


@click.command("platform")
@json_option
@ffmpeg_option
@run_command
def platform_cmd(json_to: str | None, ffmpeg: str | None) -> int:
    """Print this host's family and its default encoder candidates.

    With --ffmpeg, also list that ffmpeg's encoders and drop the candidates it lacks."""
    from vmafkit import api

    info = api.platform(ffmpeg=ffmpeg)
    if emit_json(info.to_dict(), json_to):
        return EXIT_OK
    console = _console()
    console.print(f"family: [bold]{info.family}[/bold]{' (faked)' if info.faked else ''}")
    console.print(f"default encoders: {', '.join(info.default_encoders)}")
    if "ffmpeg_encoders" in info.signals:
        console.print(f"in this ffmpeg: {', '.join(info.candidates()) or '(none)'}")
    console.print("each candidate is used only if its 1-frame probe passes (`vmafkit doctor`).")
    signals = {k: v for k, v in info.signals.items() if k != "ffmpeg_encoders"}
    console.print(f"signals: {json.dumps(signals, sort_keys=True)}")
    return EXIT_OK


@click.command("bundle")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@out_option("The bundle to write (.tar.gz).", type=click.Path(dir_okay=False, path_type=Path))
@ffmpeg_option
@click.option(
    "--env",
    "env",
    multiple=True,
    metavar="KEY=VALUE",
    help="Extra environment fact to record (repeatable), e.g. --env encoders=libx264.",
)
@run_command
def bundle_cmd(out_dir: Path, out: Path, ffmpeg: str | None, env: tuple[str, ...]) -> int:
    """Bundle OUT_DIR's verdict, seed reports, corpus, exports and report, with a manifest
    (and the versions of the ffmpeg that --ffmpeg names, or that vmafkit finds)."""
    from vmafkit import api
    from vmafkit.errors import InputError
    from vmafkit.io import sha256_file

    facts: dict[str, str] = {}
    for item in env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--env expects KEY=VALUE, got {item!r}")
        facts[key] = value
    path = api.write_bundle(out_dir, out, ffmpeg=ffmpeg, env=facts)
    report = api.verify(path)
    click.echo(f"bundle: {path} ({report.verdict}, {report.n_files} files, sha256 {sha256_file(path)})")
    return EXIT_OK


@click.command("verify")
@click.argument("bundle", type=click.Path(path_type=Path))
@json_option
@_with_limits
@run_command
def verify_cmd(bundle: Path, json_to: str | None, max_bytes: int | None, max_members: int | None) -> int:
    """Check every file's size and sha256 against the manifest. Exit 0 ok, 1 mismatch, 2 unreadable."""
    from vmafkit import api

    check_outputs({"BUNDLE": bundle}, {"--json": json_to})
    report = api.verify(bundle, max_bytes=max_bytes, max_members=max_members)
    if not emit_json(report.to_dict(), json_to):
        _print_verify(bundle, report)
    return report.exit_code


@click.command("extract")
@click.argument("bundle", type=click.Path(path_type=Path))
@out_option("New (or empty) folder to fill.", type=click.Path(path_type=Path), old=("--dest",))
@_with_limits
@run_command
def extract_cmd(bundle: Path, out: Path, max_bytes: int | None, max_members: int | None) -> int:
    """Extract a bundle safely (no `..`, absolute paths, links or devices; verified first)."""
    from vmafkit import api

    api.extract(bundle, out, max_bytes=max_bytes, max_members=max_members)
    click.echo(f"extracted {bundle} -> {out} (verified)")
    return EXIT_OK


@click.command("compare")
@click.argument("a", type=click.Path(path_type=Path))
@click.argument("b", type=click.Path(path_type=Path))
@click.option(
    "--tolerance",
    type=FiniteFloatRange(min=0),
    default=DEFAULT_TOLERANCE,
    show_default=True,
    help="Largest |mean PLCC difference| that still counts as the same finding.",
)
@click.option(
    "--bootstrap",
    "n_bootstrap",
    type=click.IntRange(*V.BOOTSTRAP_RANGE),
    default=DEFAULT_BOOTSTRAP,
    show_default=True,
    help="Bootstrap resamples of the folds.",
)
@click.option(
    "--confidence",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=DEFAULT_CONFIDENCE,
    show_default=True,
    help="Confidence level of the difference's interval.",
)
@click.option("--seed", type=int, default=DEFAULT_BOOTSTRAP_SEED, show_default=True, help="Bootstrap RNG seed.")
@json_option
@run_command
def compare_cmd(
    a: Path, b: Path, tolerance: float, n_bootstrap: int, confidence: float, seed: int, json_to: str | None
) -> int:
    """Are two sites' bundles the same finding? Exit 0 agree, 1 differ, 2 unreadable."""
    from vmafkit import api

    check_outputs({"A": a, "B": b}, {"--json": json_to})
    report = api.compare(a, b, tolerance=tolerance, n_bootstrap=n_bootstrap, confidence=confidence, seed=seed)
    if not emit_json(report.to_dict(), json_to):
        _print_compare(report)
    return EXIT_OK if report.agree else EXIT_HOLD


@click.command("pack-corpus")
@click.option("--ref-dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@out_option("Folder for the packed clips and their manifest.jsonl.", type=click.Path(file_okay=False, path_type=Path))
@ffmpeg_option
@run_command
def pack_corpus_cmd(ref_dir: Path, out: Path, ffmpeg: str | None) -> int:
    """Pack reference clips losslessly (FFV1/mkv) with a verified manifest.jsonl."""
    from vmafkit import api

    entries = api.pack_corpus(ref_dir, out, ffmpeg=ffmpeg, log=click.echo)
    before = sum(e["size"] for e in entries)
    after = sum(e["packed_size"] for e in entries)
    click.echo(f"packed {len(entries)} clip(s) into {out}: {before} -> {after} bytes")
    return EXIT_OK


@click.command("extract-corpus")
@renamed_option(
    "--packed",
    "corpus",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The folder pack-corpus wrote (its manifest.jsonl and packed clips).",
)
@deprecated_option("--corpus", "--packed", "corpus")
@out_option("Folder for the restored reference clips.", type=click.Path(file_okay=False, path_type=Path))
@ffmpeg_option
@run_command
def extract_corpus_cmd(corpus: Path, out: Path, ffmpeg: str | None) -> int:
    """Restore a packed corpus's reference clips, each verified against its sha256."""
    from vmafkit import api

    written = api.extract_corpus(corpus, out, ffmpeg=ffmpeg, log=click.echo)
    click.echo(f"restored {len(written)} clip(s) into {out} (all verified)")
    return EXIT_OK


@click.command("dist")
@out_option("The kit to write (.tar.gz).", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--project",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Source checkout to build from (default: the one vmafkit runs from).",
)
@click.option(
    "--wheel",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Use this wheel instead of building one.",
)
@run_command
def dist_cmd(out: Path, project: Path | None, wheel: Path | None) -> int:
    """Write the portable kit: wheel, pinned requirements, README runbook, START.md."""
    from vmafkit import api
    from vmafkit.io import sha256_file

    path = api.dist(out, project=project, wheel=wheel)
    click.echo(f"kit: {path} (sha256 {sha256_file(path)})")
    return EXIT_OK


def _print_verify(bundle: Path, report) -> None:
    if report.ok:
        click.echo(f"ok: {bundle} ({report.verdict}, {report.n_files} files verified)")
        return
    click.echo(f"MISMATCH: {bundle}: {len(report.problems)} problem(s)", err=True)
    for problem in report.problems:
        click.echo(f"  {problem}", err=True)


def _print_compare(report) -> None:
    from rich.table import Table

    console = _console()
    console.print(f"A: {report.a}  verdict {report.verdict_a}")
    console.print(f"B: {report.b}  verdict {report.verdict_b}")
    seeds = Table(title="per-seed mean PLCC")
    for col in ("seed", "A", "B", "B - A"):
        seeds.add_column(col, justify="right")
    for row in report.per_seed:
        seeds.add_row(str(row["seed"]), _fmt(row["a"]), _fmt(row["b"]), _fmt(row["diff"], signed=True))
    console.print(seeds)
    folds = Table(title="per-fold PLCC")
    for col in ("seed", "held out", "A", "B", "B - A"):
        folds.add_column(col, justify="right" if col != "held out" else "left")
    for row in report.per_fold:
        folds.add_row(str(row["seed"]), row["held_out"], _fmt(row["a"]), _fmt(row["b"]), _fmt(row["diff"], signed=True))
    console.print(folds)
    inputs = Table(title="inputs")
    for col in ("input", "A", "B", "same"):
        inputs.add_column(col)
    for row in report.inputs:
        inputs.add_row(row["name"], _fmt(row["a"]), _fmt(row["b"]), "yes" if row["same"] else "[bold]NO[/bold]")
    console.print(inputs)
    ci = "-" if report.ci is None else f"[{report.ci[0]:+.4f}, {report.ci[1]:+.4f}]"
    console.print(
        f"mean PLCC A {_fmt(report.mean_plcc_a)}  B {_fmt(report.mean_plcc_b)}  B-A {_fmt(report.diff, signed=True)}  "
        f"{report.confidence:.0%} CI {ci} ({'paired' if report.paired else 'unpaired'} bootstrap over folds, "
        f"n={report.n_bootstrap}, seed {report.bootstrap_seed})"
    )
    verdict = "[bold green]AGREE[/bold green]" if report.agree else "[bold red]DIFFER[/bold red]"
    console.print(f"{verdict}: {report.reason}")
    if report.differing_inputs:
        console.print(f"inputs that differ: {', '.join(report.differing_inputs)}")


def register(main: click.Group) -> None:
    main.add_command(platform_cmd)
    main.add_command(bundle_cmd)
    main.add_command(verify_cmd)
    main.add_command(extract_cmd)
    main.add_command(compare_cmd)
    main.add_command(pack_corpus_cmd)
    main.add_command(extract_corpus_cmd)
    main.add_command(dist_cmd)
