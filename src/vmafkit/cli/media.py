"""Commands of the media stage: `doctor` (alias `prereqs`) and `score`."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.table import Table

from vmafkit import validation as V
from vmafkit.cli._common import FiniteFloatRange, run_command, split_list
from vmafkit.io import atomic_write_json, dumps_json


@click.command("doctor")
@click.option("--encoders", help="Encoders you plan to use (default: this platform's defaults).")
@click.option("--steps", default="corpus,train,export,predict", show_default=True, help="Steps you plan to run.")
@click.option("--ffmpeg", "ffmpeg_path", help="ffmpeg binary to use (else $VMAFKIT_FFMPEG, PATH, the wheel's).")
@click.option("--vmaf-bin", help="Standalone libvmaf `vmaf` CLI to check.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@run_command
def doctor_cmd(encoders, steps, ffmpeg_path, vmaf_bin, as_json):
    """Check this host: ffmpeg + libvmaf, working encoders (1-frame probes), platform family."""
    from vmafkit.host.doctor import diagnose

    report = diagnose(split_list(encoders) or None, split_list(steps), ffmpeg=ffmpeg_path, vmaf_bin=vmaf_bin)
    if as_json:
        click.echo(dumps_json(report.to_json()), nl=False)
    else:
        _print_doctor(report)
    for problem in report.problems:
        click.echo(f"vmafkit: missing: {problem}", err=True)
    return 0 if report.ok else 2


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
@click.option("--width", type=click.IntRange(1, V.DIMENSION_MAX), help="Width of raw .yuv inputs (else from the name).")
@click.option(
    "--height", type=click.IntRange(1, V.DIMENSION_MAX), help="Height of raw .yuv inputs (else from the name)."
)
@click.option("--pix-fmt", help="Pixel format of raw .yuv inputs (default yuv420p or from the name).")
@click.option("--fps", type=FiniteFloatRange(0, V.FPS_MAX, min_open=True), help="Frame rate of raw .yuv inputs.")
@click.option("--max-frames", type=click.IntRange(min=1), help="Score only the first N frames.")
@click.option("--ffmpeg", "ffmpeg_path", help="ffmpeg binary to use.")
@click.option("--vmaf-bin", help="Score with this standalone libvmaf `vmaf` CLI instead of ffmpeg's filter.")
@click.option("--threads", type=click.IntRange(*V.JOBS_RANGE), default=1, show_default=True, help="libvmaf threads.")
@click.option("--json", "json_out", help="Write the result to this file (else print it).")
@run_command
def score_cmd(ref, dis, width, height, pix_fmt, fps, max_frames, ffmpeg_path, vmaf_bin, threads, json_out):
    """Per-frame canonical-6 + VMAF of DIS against REF, and per-clip means, as JSON."""
    from vmafkit.media.score import score_pair

    result = score_pair(
        ref,
        dis,
        width=width,
        height=height,
        pix_fmt=pix_fmt,
        fps=fps,
        max_frames=max_frames,
        ffmpeg=ffmpeg_path,
        vmaf_bin=vmaf_bin,
        threads=threads,
    )
    if json_out:
        atomic_write_json(json_out, result.to_json())
        mean = result.mean
        click.echo(f"{len(result.frames)} frames; mean vmaf {mean['vmaf']:.4f} -> {json_out}", err=True)
    else:
        sys.stdout.write(dumps_json(result.to_json()))
    return 0


def register(main: click.Group) -> None:
    main.add_command(doctor_cmd)
    main.add_command(doctor_cmd, name="prereqs")
    main.add_command(score_cmd)
