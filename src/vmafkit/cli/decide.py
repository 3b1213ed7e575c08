"""`vmafkit gate` and `vmafkit verdict`: judge the LOSO seed reports."""

from __future__ import annotations

import sys

import click

from vmafkit import thresholds as T
from vmafkit.cli._common import DEFAULT_SEEDS_TEXT, FiniteFloatRange, int_list, run_command
from vmafkit.io import dumps_json


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


def register(main: click.Group) -> None:
    @main.command("gate")
    @click.argument("loso_dir", type=click.Path(file_okay=False, path_type=str))
    @click.option("--seeds", default=DEFAULT_SEEDS_TEXT, show_default=True, help="Comma-separated seeds.")
    @click.option("--json", "as_json", is_flag=True, help="Print the gate report as JSON.")
    @run_command
    def gate_cmd(loso_dir: str, seeds: str, as_json: bool) -> int:
        """Apply the production gate to LOSO_DIR/loso_seed{N}.json (exit 0 pass, 1 fail, 2 bad input)."""
        from vmafkit.decide.gate import run_gate

        gate = run_gate(loso_dir, int_list(seeds, "--seeds"))
        if as_json:
            click.echo(dumps_json(gate), nl=False)
        else:
            _print_gate(gate)
        return 0 if gate["passed"] else 1

    @main.command("verdict")
    @click.argument("loso_dir", type=click.Path(file_okay=False, path_type=str))
    @click.option(
        "--ref-dir",
        type=click.Path(path_type=str),
        default=None,
        help="Reference-clip folder to snapshot into the corpus fingerprint.",
    )
    @click.option("--seeds", default=DEFAULT_SEEDS_TEXT, show_default=True, help="Comma-separated seeds.")
    @click.option(
        "--coverage",
        type=FiniteFloatRange(0, 1, min_open=True, max_open=True),
        default=T.DEFAULT_COVERAGE,
        show_default=True,
        help="Coverage of the calibrated interval reported in the verdict.",
    )
    @run_command
    def verdict_cmd(loso_dir: str, ref_dir: str | None, seeds: str, coverage: float) -> int:
        """Write LOSO_DIR/PROMOTE.json or HOLD.json (exit 0 PROMOTE, 1 HOLD, 2 bad input)."""
        from vmafkit.decide.verdict import write_verdict

        verdict, path = write_verdict(
            loso_dir, int_list(seeds, "--seeds"), ref_dir=ref_dir, argv=list(sys.argv), coverage=coverage
        )
        _print_gate(verdict["gate"])
        calib = verdict["calibration"]
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
        return 0 if verdict["verdict"] == "PROMOTE" else 1
