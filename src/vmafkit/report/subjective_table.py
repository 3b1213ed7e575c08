"""The plain-text table `vmafkit subjective train` prints: one row per model, then the paired
tests, the ensemble's interval, the gate and the warnings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vmafkit.decide.subjective_stats import STATISTICS

ORDER = ("ensemble", "nusvr", "linear", "vmaf_logistic")


def _num(value: Any, digits: int = 4, sign: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _cell(block: Mapping[str, Any], name: str) -> str:
    lo, hi = block.get(f"{name}_ci") or [None, None]
    return f"{_num(block.get(name))} [{_num(lo)}, {_num(hi)}]"


def format_table(report: Mapping[str, Any]) -> str:
    boot = report["bootstrap"]
    scale = report["target"]["scale"]
    lines = [
        f"subjective: {report['n_items']} clips, {report['n_groups']} contents, leave-one-content-out; "
        f"target scale {scale['name']}; {boot['resamples']} bootstrap resamples over contents "
        f"({boot['level']:.0%} intervals)"
    ]
    header = f"{'model':<14}" + "".join(f"{name.upper() + ' [CI]':<27}" for name in STATISTICS)
    lines.append(header)
    for name in ORDER:
        block = report["models"].get(name)
        if block is not None:
            lines.append(f"{name:<14}" + "".join(f"{_cell(block, stat):<27}" for stat in STATISTICS))
    for key, comp in report["comparisons"].items():
        lo, hi = comp["plcc_diff_ci"]
        lines.append(
            f"{key.replace('_vs_', ' vs '):<28} PLCC diff {_num(comp['plcc_diff'], sign=True)} "
            f"[{_num(lo, sign=True)}, {_num(hi, sign=True)}], p = {_num(comp['plcc_p_value'], 3)}; "
            f"SROCC diff {_num(comp['srocc_diff'], sign=True)}, p = {_num(comp['srocc_p_value'], 3)}"
        )
    interval = report["models"]["ensemble"]["interval"]
    lines.append(
        f"ensemble interval ({interval['coverage_target']:.0%}): held-out coverage "
        f"{_num(interval['held_out_coverage'], 3)} (worst content {_num(interval['fold_coverage_min'], 3)}), "
        f"half-width {_num(interval['half_width'])} at source level {_num(interval['source_level'], 3)}"
    )
    lines.append(f"significance: {report['significance']}")
    gate = report["gate"]
    lines.append(f"gate: {gate['verdict']}" + ("" if gate["passed"] else " - " + "; ".join(gate["failing_aspects"])))
    for warning in report.get("warnings", []):
        lines.append(f"warning: {warning}")
    return "\n".join(lines)
