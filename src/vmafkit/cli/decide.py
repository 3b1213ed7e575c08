"""`vmafkit gate` and `vmafkit verdict`: judge the LOSO seed reports."""

from __future__ import annotations

import sys

import click

from vmafkit import layout
from vmafkit.cli._common import run_command
from vmafkit.cli.options import check_outputs, coverage_option, emit_json, json_option, seeds_option
from vmafkit.errors import EXIT_HOLD, EXIT_OK


def _print_gate(gate: dict) -> None:
    click.echo(f"gate: {'PASS' if gate['passed'] else 'FAIL'}")
    mark = lambda ok: "ok  " if ok else "FAIL"  # noqa: E731
    click.echo(
        f"  {mark(gate['mean_plcc_pass'])} mean PLCC   {gate['mean_plcc']:.4f}  (>= {gate['mean_plcc_threshold']})"
    )
    click.echo(
        f"  {mark(gate['plcc_spread_pass'])} PLCC spread {gate['plcc_spread']:.4f}  (<= {gate['plcc_spread_max']})"
    )
    click.echo(f"  {mark(gate['per_seed_pass'])} every seed  (>= {gate['per_seed_min']})")
    for seed, plcc in gate["per_seed_plccs"].items():
        flag = "  <- below" if int(seed) in gate["failing_seeds"] else ""
        click.echo(f"      seed {seed}: {plcc:.4f}{flag}")


def _print_subjective(verdict: dict) -> None:
    gate, scale = verdict["gate"], verdict["target"]["scale"]
    click.echo(f"target: subjective scores, scale {scale['name']}; features {', '.join(verdict['features'])}")
    click.echo(f"subjective gate: {'PASS' if gate['passed'] else 'FAIL'}")
    from vmafkit.decide.subjective_gate import check_line

    for name, check in gate["checks"].items():
        click.echo(f"  {check_line(name, check)}")
    calib = verdict["calibration"]
    half = calib.get("half_width")
    click.echo(
        f"interval @ {calib['coverage']:.0%}: ±{'unbounded' if half is None else f'{half:.3f}'} per clip; "
        f"held-out coverage {calib['held_out_coverage']:.3f} (worst content {calib['fold_coverage_min']:.3f})"
    )


@click.command("gate")
@click.argument("loso_dir", type=click.Path(file_okay=False, path_type=str))
@seeds_option
@json_option
@run_command
def gate_cmd(loso_dir: str, seeds: tuple[int, ...], json_to: str | None) -> int:
    """Apply the production gate to LOSO_DIR/loso_seed{N}.json (exit 0 pass, 1 fail, 2 bad input)."""
    from vmafkit import api

    check_outputs({"a file in LOSO_DIR": layout.own_files(loso_dir)}, {"--json": json_to})
    gate = api.gate(loso_dir, seeds=seeds)
    if not emit_json(gate.to_json(), json_to):
        _print_gate(gate)
    return EXIT_OK if gate["passed"] else EXIT_HOLD


@click.command("verdict")
@click.argument("loso_dir", type=click.Path(file_okay=False, path_type=str))
@click.option(
    "--ref-dir",
    type=click.Path(path_type=str),
    default=None,
    help="Reference-clip folder to snapshot into the corpus fingerprint.",
)
@seeds_option
@coverage_option("Coverage of the calibrated interval reported in the verdict.")
@run_command
def verdict_cmd(loso_dir: str, ref_dir: str | None, seeds: tuple[int, ...], coverage: float) -> int:
    """Write LOSO_DIR/PROMOTE.json or HOLD.json (exit 0 PROMOTE, 1 HOLD, 2 bad input).

    LOSO_DIR may also be a `vmafkit subjective train` folder (or its loso/): its verdict re-derives
    the subjective gate, with the run's seeds and coverage unless --seeds / --coverage are given."""
    from vmafkit import api
    from vmafkit.decide.verdict import VMAF_TARGET, verdict_target

    ctx = click.get_current_context()
    given = lambda name: ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT  # noqa: E731
    result = api.write_verdict(
        loso_dir,
        seeds=seeds if given("seeds") else None,
        ref_dir=ref_dir,
        argv=sys.argv,
        coverage=coverage if given("coverage") else None,
    )
    verdict, path = result.to_json(), result.path
    calib = verdict["calibration"]
    if verdict_target(verdict)["kind"] != VMAF_TARGET:
        _print_subjective(verdict)
    else:
        _print_gate(verdict["gate"])
        if calib is not None:
            fw, cw = calib["frame"]["half_width"], calib["clip"]["half_width"]
            fmt = lambda v: "unbounded" if v is None else f"±{v:.3f}"  # noqa: E731
            click.echo(
                f"interval @ {calib['coverage']:.0%}: frame {fmt(fw)}, clip {fmt(cw)}; "
                f"per-fold frame coverage mean {calib['fold_frame_coverage_mean']:.3f} "
                f"min {calib['fold_frame_coverage_min']:.3f}"
            )
    click.echo(f"{verdict['verdict']}: {path}")
    click.echo(f"recommendation: {verdict['recommendation']}")
    return EXIT_OK if verdict["verdict"] == "PROMOTE" else EXIT_HOLD


def register(main: click.Group) -> None:
    main.add_command(gate_cmd)
    main.add_command(verdict_cmd)
