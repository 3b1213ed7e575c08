"""Commands of the media stage: `doctor` (alias `prereqs`), `score` and `diagnose`."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from vmafkit import validation as V
from vmafkit.cli._common import run_command, split_list
from vmafkit.cli.options import (
    STDOUT,
    align_option,
    check_outputs,
    csv_option,
    emit_csv,
    emit_json,
    ffmpeg_option,
    geometry_options,
    json_option,
    max_frames_option,
    moments_options,
    pool_option,
    scoring_options,
    vmaf_bin_option,
)
from vmafkit.errors import EXIT_OK, InputError


@click.command("doctor")
@click.option("--encoders", help="Encoders you plan to use (default: this platform's defaults).")
@click.option("--steps", default="corpus,train,export,predict", show_default=True, help="Steps you plan to run.")
@ffmpeg_option
@vmaf_bin_option
@json_option
@run_command
def doctor_cmd(encoders, steps, ffmpeg, vmaf_bin, json_to):
    """Check this host: ffmpeg + libvmaf, working encoders (1-frame probes), platform family.

    Exit 0 ready, 2 when something the steps need is missing (one `missing:` line each)."""
    from vmafkit import api

    report = api.doctor(
        encoders=split_list(encoders) or None, steps=split_list(steps), ffmpeg=ffmpeg, vmaf_bin=vmaf_bin
    )
    if not emit_json(report.to_json(), json_to):
        _print_doctor(report)
    for problem in report.problems:
        click.echo(f"vmafkit: missing: {problem}", err=True)
    if not report.ok:
        raise InputError(f"this host is not ready for {steps}: {len(report.problems)} thing(s) missing (above)")
    return EXIT_OK


def _print_doctor(report) -> None:
    console = Console()
    ff = report.ffmpeg
    if ff:
        console.print(
            f"ffmpeg   {ff['path']}\n         found via {ff['reason']}; version {ff['version']}; "
            f"libvmaf {'yes ' + str(ff['libvmaf_version']) if ff['has_libvmaf'] else 'NO'}"
        )
    console.print(
        f"platform {report.platform['family']} (default encoders: {', '.join(report.platform['default_encoders'])})"
    )
    table = Table("encoder", "hardware", "works here", "requested", "note")
    for name, probe in sorted(report.encoders.items()):
        table.add_row(
            name,
            "yes" if probe["hardware"] else "",
            "[green]yes" if probe["ok"] else "[red]no",
            "yes" if name in report.requested_encoders else "",
            "" if probe["ok"] else probe.get("note", probe["message"]),
        )
    console.print(table)
    console.print("python   " + ", ".join(f"{m} {'ok' if ok else 'MISSING'}" for m, ok in report.modules.items()))
    console.print("[green]ready" if report.ok else f"[red]{len(report.problems)} problem(s)")


@click.command("score")
@click.option("--ref", required=True, help="Reference clip.")
@click.option("--dis", required=True, help="Distorted clip.")
@geometry_options
@scoring_options()
@max_frames_option
@ffmpeg_option
@vmaf_bin_option
@click.option("--threads", type=click.IntRange(*V.JOBS_RANGE), default=1, show_default=True, help="libvmaf threads.")
@pool_option
@align_option
@moments_options
@json_option
@csv_option
@run_command
def score_cmd(
    ref, dis, geometry, scoring, max_frames, ffmpeg, vmaf_bin, threads, pool, align, shots, worst, dump, json_to, csv_to
):
    """Per-frame VMAF and its model's features (+ --metrics) of DIS against REF, and per-clip means, as JSON
    (on stdout unless --json PATH, or a bare --csv takes stdout); --csv: the frames as CSV. A DIS
    of another size is scored upscaled with --scale, or both at --resolution."""
    from vmafkit import api
    from vmafkit.media.score import frame_columns

    if json_to == STDOUT and csv_to == STDOUT:
        raise click.UsageError("a bare --json and a bare --csv would both print on stdout; give one of them a PATH")
    check_outputs({"--ref": ref, "--dis": dis}, {"--json": json_to, "--csv": csv_to}, {"--dump": dump})
    result = api.score(
        ref,
        dis,
        geometry=geometry,
        scoring=scoring,
        max_frames=max_frames,
        ffmpeg=ffmpeg,
        vmaf_bin=vmaf_bin,
        threads=threads,
        pool=pool,
        align=align,
        shots=shots,
        worst=worst,
        dump=dump,
    )
    for note in result.meta.get("notes", []):
        click.echo(f"vmafkit: note: {note}", err=True)
    for line in moments_lines(result.meta.get("moments", {})):
        click.echo(f"vmafkit: {line}", err=True)
    csv_printed = emit_csv(frame_columns(scoring.metrics, result.meta["vmaf_model"]), result.frames, csv_to)
    json_printed = emit_json(result.to_json(), json_to or (None if csv_printed else STDOUT))
    pools = ", ".join(f"{name} vmaf {value:.4f}" for name, value in result.pooled.items())
    if not (json_printed or csv_printed):
        written = " and ".join(path for path in (json_to, csv_to) if path)
        click.echo(f"{len(result.frames)} frames; {pools} -> {written}", err=True)
    elif csv_printed and not json_to and list(result.pooled) != ["mean"]:
        # the CSV holds frames only: the pools asked for would be lost
        click.echo(f"vmafkit: {len(result.frames)} frames; {pools}", err=True)
    return EXIT_OK


@click.command("diagnose")
@click.argument("ref")
@click.argument("dis")
@geometry_options
@max_frames_option
@ffmpeg_option
@json_option
@run_command
def diagnose_cmd(ref, dis, geometry, max_frames, ffmpeg, json_to):
    """Why a score of DIS against REF could be wrong: one line per cause found, with its evidence
    (a temporal offset, dropped or duplicated frames, frame count, frame rate, size, pixel format,
    range or matrix, changed levels, frozen or black stretches, interlacing, variable frame rate);
    none for a sound pair. Exit 0 either way; --json writes the findings."""
    from vmafkit import api

    check_outputs({"REF": ref, "DIS": dis}, {"--json": json_to})
    result = api.diagnose(ref, dis, geometry=geometry, max_frames=max_frames, ffmpeg=ffmpeg)
    if emit_json(result.to_json(), json_to):
        return EXIT_OK
    for finding in result.findings:
        click.echo(finding.line)
    if not result.findings:
        click.echo(f"no problem found ({len(result.checked)} checks: {', '.join(result.checked)})")
    return EXIT_OK


def moments_lines(moments: dict) -> list[str]:
    """What `score --shots/--worst/--dump` tells on stderr beside the JSON: the worst shots and
    frames, one line each, and where the pictures went."""
    lines = []
    shots = {shot["shot"]: shot for shot in moments.get("shots", [])}
    if shots and "worst_shots" not in moments:
        lines.append(
            f"{len(shots)} shots (scene cuts at reference frames {', '.join(str(s['first_ref_frame']) for s in list(shots.values())[1:]) or 'none'})"
        )
    for number in moments.get("worst_shots", []):
        shot = shots[number]
        pools = ", ".join(f"{name} {value:.2f}" for name, value in shot["vmaf"].items())
        lines.append(
            f"worst shot {number}: reference frames {shot['first_ref_frame']}-{shot['last_ref_frame']}, vmaf {pools}"
        )
    for moment in moments.get("worst_frames", []):
        where = f", shot {moment['shot']}" if "shot" in moment else ""
        lines.append(
            f"worst frame #{moment['rank']}: vmaf {moment['vmaf']:.2f} at reference frame {moment['ref_frame']} / "
            f"distorted frame {moment['dis_frame']}{where}"
        )
    if "dump" in moments:
        lines.append(f"pictures and index.html -> {moments['dump']}")
    return lines


def register(main: click.Group) -> None:
    main.add_command(doctor_cmd)
    main.add_command(doctor_cmd, name="prereqs")
    main.add_command(score_cmd)
    main.add_command(diagnose_cmd)
