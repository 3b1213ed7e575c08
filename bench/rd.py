"""BD-rate of a corpus, `vmafkit rd`'s answer next to two independent computations.

    python bench/rd.py --corpus CORPUS [--anchor libx264] [--target 90]

For every source and encoder it prints:
- vmafkit's BD-rate (PCHIP of log10 rate over VMAF, integrated over the shared VMAF range);
- the original Bjøntegaard computation (VCEG-M33: a cubic polynomial fitted to log10 rate over
  quality, integrated the same way), written here with numpy alone, as the hand computation;
- the same PCHIP integral done numerically (trapezoid rule on 100,001 samples), which checks the
  closed-form integration;
- the spreadsheet computation: straight lines between the points in (VMAF, log10 rate), integrated
  exactly (trapezoids at the union of both curves' points) over the shared VMAF range.
Then the time the whole analysis takes, and "the cq that reaches VMAF T" per source and encoder.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy.interpolate import PchipInterpolator

from vmafkit.corpus.schema import read_rows
from vmafkit.report.rd import bd_rates, cq_for_target, curve_basis, curve_points, summarize


def polynomial_bd_rate(anchor: list[tuple[float, float]], test: list[tuple[float, float]]) -> float | None:
    """VCEG-M33: log10 rate as a cubic polynomial of quality (degree capped by the point count)."""
    qa, ra = np.array([q for _, q in anchor]), np.log10([r for r, _ in anchor])
    qt, rt = np.array([q for _, q in test]), np.log10([r for r, _ in test])
    low, high = max(qa.min(), qt.min()), min(qa.max(), qt.max())
    if not high > low:
        return None
    pa = np.polyint(np.polyfit(qa, ra, min(3, len(qa) - 1)))
    pt = np.polyint(np.polyfit(qt, rt, min(3, len(qt) - 1)))
    diff = ((np.polyval(pt, high) - np.polyval(pt, low)) - (np.polyval(pa, high) - np.polyval(pa, low))) / (high - low)
    return float((10**diff - 1) * 100)


def trapezoid_bd_rate(anchor: list[tuple[float, float]], test: list[tuple[float, float]]) -> float | None:
    qa, qt = [q for _, q in anchor], [q for _, q in test]
    low, high = max(min(qa), min(qt)), min(max(qa), max(qt))
    if not high > low:
        return None
    grid = np.linspace(low, high, 100_001)
    fa = PchipInterpolator(qa, np.log10([r for r, _ in anchor]))(grid)
    ft = PchipInterpolator(qt, np.log10([r for r, _ in test]))(grid)
    diff = np.trapezoid(ft - fa, grid) / (high - low)
    return float((10**diff - 1) * 100)


def straight_line_bd_rate(anchor: list[tuple[float, float]], test: list[tuple[float, float]]) -> float | None:
    """By hand: piecewise-linear log10 rate over VMAF, trapezoids at every point of either curve."""
    qa, qt = [q for _, q in anchor], [q for _, q in test]
    low, high = max(min(qa), min(qt)), min(max(qa), max(qt))
    if not high > low:
        return None
    knots = sorted({low, high, *[q for q in qa + qt if low <= q <= high]})
    fa = np.interp(knots, qa, np.log10([r for r, _ in anchor]))
    ft = np.interp(knots, qt, np.log10([r for r, _ in test]))
    area = sum((knots[i + 1] - knots[i]) * ((ft - fa)[i] + (ft - fa)[i + 1]) / 2 for i in range(len(knots) - 1))
    return float((10 ** (area / (high - low)) - 1) * 100)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--anchor", default="libx264")
    ap.add_argument("--target", type=float, default=90.0)
    args = ap.parse_args()

    t0 = time.perf_counter()
    rows = list(read_rows(args.corpus))
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    curves = curve_points(rows)
    results = bd_rates(curves, args.anchor)
    summary = summarize(results)
    targets = cq_for_target(curves, args.target)
    t_analysis = time.perf_counter() - t0

    print(f"{len(rows)} rows, {len(curves)} curves; read {t_read:.2f} s, analysis {t_analysis * 1000:.1f} ms\n")
    print(
        "| source | encoder | basis | vmafkit (PCHIP) | VCEG-M33 cubic | PCHIP, trapezoid | |Δ| PCHIP | straight lines |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|")
    worst = 0.0
    for r in results:
        _, anchor_pts = curve_basis(curves[(r.src, args.anchor)])
        _, test_pts = curve_basis(curves[(r.src, r.encoder)])
        a = [(p.rate_kbps, p.vmaf) for p in anchor_pts]
        t = [(p.rate_kbps, p.vmaf) for p in test_pts]
        poly, trap, lines = polynomial_bd_rate(a, t), trapezoid_bd_rate(a, t), straight_line_bd_rate(a, t)
        ours = "—" if r.pct is None else f"{r.pct:+.2f} %"
        delta = "" if r.pct is None or trap is None else f"{abs(r.pct - trap):.1e}"
        if r.pct is not None and trap is not None:
            worst = max(worst, abs(r.pct - trap))
        fmt = lambda v: "—" if v is None else f"{v:+.2f} %"  # noqa: E731
        print(f"| {r.src} | {r.encoder} | {r.basis} | {ours} | {fmt(poly)} | {fmt(trap)} | {delta} | {fmt(lines)} |")
    print(f"\nlargest |PCHIP closed form - trapezoid|: {worst:.1e} percentage points\n")
    for s in summary:
        interval = "n/a" if s.interval is None else f"[{s.interval[0]:+.2f}, {s.interval[1]:+.2f}]"
        mean = "—" if s.mean_pct is None else f"{s.mean_pct:+.2f} %"
        print(
            f"{s.encoder} vs {args.anchor}: mean BD-rate {mean} over {s.n_sources} sources, 95 % bootstrap {interval}"
        )
    print(f"\ncq reaching VMAF {args.target:g}:")
    for row in targets:
        print(
            f"  {row.src:40s} {row.encoder:12s} {row.rung:10s} {'—' if row.cq is None else f'{row.cq:.1f}'}"
            f"{'' if row.reason is None else '  (' + row.reason + ')'}"
        )


if __name__ == "__main__":
    main()
