"""What the verdict measures, before and after issue 19, on LOSO folders `vmafkit train` wrote.

    python bench/decide.py LOSO_DIR [LOSO_DIR ...] [--json OUT]

For each folder it re-derives the verdict exactly as `vmafkit verdict` does (nothing is read
from a seed report that can be recomputed) and prints:

- the verdict and every gate term (value, threshold, pass);
- the ensemble beside libvmaf's nu-SVR recipe refitted on the same folds (pooled RMSE, SROCC,
  bias; per source RMSE, refusal rate, held-out coverage, served frame half-width);
- coverage and width per quality band (the held-out vmaf: < 60, 60-80, 80-90, >= 90), each row's
  half-width calibrated without its own source;
- "before": the previous calibration, written here with numpy from its description (every
  held-out row, absolute residuals, per-source 95 % quantile, the largest across sources, each
  source judged against the largest of the others), and the previous gate (PLCC terms and the
  worst fold's coverage >= 0.75).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
from benchutil import cpu_model

from vmafkit import thresholds as T
from vmafkit.decide.derive import derive_evidence
from vmafkit.decide.verdict import build_verdict

BANDS = ((0.0, 60.0), (60.0, 80.0), (80.0, 90.0), (90.0, 100.01))


def _quantile(values: np.ndarray, coverage: float) -> float:
    ordered = np.sort(values)
    return float(ordered[max(1, math.ceil(coverage * ordered.size - 1e-9)) - 1])


def previous_method(fold: np.ndarray, score: np.ndarray, coverage: float) -> dict:
    """Old calibration: all rows, absolute scores, the largest per-source quantile (S <= 21)."""
    groups = sorted(set(fold.tolist()))
    q = {g: _quantile(score[fold == g], coverage) for g in groups}
    cover = {g: float(np.mean(score[fold == g] <= max(v for h, v in q.items() if h != g))) for g in groups}
    return {"half_width": max(q.values()), "worst": min(cover.values()), "per_source": cover}


def held_out_rows(ev, coverage: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per served row: its normalised score, its scale and the multiplier calibrated without its
    source (the numbers predict would have served for a new source like it)."""
    summary = ev.calibration["summary"]
    norm = summary["normalisation"]
    seeds = sorted(ev.preds)
    preds = np.stack([ev.preds[s]["pred"] for s in seeds])
    mean, spread = preds.mean(axis=0), preds.std(axis=0)
    scale = np.ones(mean.size) if norm["kind"] == "none" else spread + norm["offset"]
    score = np.abs(ev.corpus.vmaf - mean) / scale
    if "pred_unlabelled" in ev.preds[seeds[0]] and summary["label_free"]:
        free = np.stack([ev.preds[s]["pred_unlabelled"] for s in seeds])
        free_scale = np.ones(mean.size) if norm["kind"] == "none" else free.std(axis=0) + norm["offset"]
        score = np.maximum(score, np.abs(ev.corpus.vmaf - free.mean(axis=0)) / free_scale)
    fold = ev.corpus.group
    served = ev.served
    q = {g: _quantile(score[(fold == g) & served], coverage) for g in sorted(set(fold[served].tolist()))}
    multiplier = np.array([max((v for h, v in q.items() if h != g), default=math.inf) for g in fold])
    return score, scale, multiplier


def table(loso: Path, coverage: float) -> dict:
    started = time.perf_counter()
    verdict, _ = build_verdict(loso, None, coverage=coverage)
    seconds = time.perf_counter() - started
    ev = derive_evidence(loso, verdict["seeds"], coverage)
    cal, acc = verdict["calibration"], verdict["accuracy"]
    seeds = sorted(ev.preds)
    mean = np.stack([ev.preds[s]["pred"] for s in seeds]).mean(axis=0)
    old_score = np.abs(ev.corpus.vmaf - mean)
    if cal["label_free"]:
        free = np.stack([ev.preds[s]["pred_unlabelled"] for s in seeds]).mean(axis=0)
        old_score = np.maximum(old_score, np.abs(ev.corpus.vmaf - free))
    before = previous_method(ev.corpus.group, old_score, coverage)
    score, scale, multiplier = held_out_rows(ev, coverage)
    served = ev.served
    bands = []
    for lo, hi in BANDS:
        rows = served & (ev.corpus.vmaf >= lo) & (ev.corpus.vmaf < hi)
        if rows.any():
            bands.append(
                {
                    "band": f"{lo:g}-{min(hi, 100):g}",
                    "n": int(rows.sum()),
                    "coverage": float(np.mean(score[rows] <= multiplier[rows])),
                    "median_half_width": float(np.median(multiplier[rows] * scale[rows])),
                }
            )
    per_fold = {f["fold"]: f for f in cal["per_fold"]}
    sources = []
    for group, item in acc["per_source"].items():
        fold = per_fold.get(group, {})
        sources.append(
            {
                "source": group,
                "rmse": item["rmse"],
                "bias": item["bias"],
                "baseline_rmse": item.get("baseline_rmse"),
                "refused": cal["refused"]["per_source"][group],
                "coverage": fold.get("frame_coverage"),
                "frame_half_width": fold.get("frame_half_width"),
                "clip_half_width": fold.get("clip_half_width"),
                "coverage_before": before["per_source"][group],
            }
        )
    gate = verdict["gate"]
    old_pass = gate["mean_plcc_pass"] and gate["plcc_spread_pass"] and gate["per_seed_pass"] and before["worst"] >= 0.75
    return {
        "loso": str(loso),
        "rows": int(ev.corpus.vmaf.size),
        "sources": len(acc["per_source"]),
        "verdict_before": "PROMOTE" if old_pass else "HOLD",
        "verdict": verdict["verdict"],
        "verdict_seconds": round(seconds, 1),
        "checks": gate["checks"],
        "mean_plcc": gate["mean_plcc"],
        "ensemble": acc["pooled"],
        "baseline": acc["baseline"]["pooled"],
        "paired_worse_p": acc["baseline"]["paired_worse_p"],
        "fold_mean": acc["fold_mean"],
        "refusal_rate": cal["refused"]["rate"],
        "frame_half_width": cal["frame"]["half_width"],
        "frame_half_width_p90": cal["frame"]["half_width_p90"],
        "clip_half_width": cal["clip"]["half_width"],
        "normalisation": cal["normalisation"],
        "worst_coverage": cal["coverage_check"]["worst"],
        "sources_below": cal["coverage_check"]["n_below"],
        "sources_below_allowed": cal["coverage_check"]["n_below_allowed"],
        "guarantee": cal["guarantee"],
        "before": {"frame_half_width": before["half_width"], "worst_coverage": before["worst"]},
        "bands": bands,
        "per_source": sources,
    }


def _f(value, fmt: str = ".2f") -> str:
    return "—" if value is None else format(value, fmt)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("loso", nargs="+", type=Path)
    parser.add_argument("--coverage", type=float, default=T.DEFAULT_COVERAGE)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    print(f"machine: {cpu_model()}")
    results = [table(p, args.coverage) for p in args.loso]
    for r in results:
        print(
            f"\n== {r['loso']}: {r['rows']} rows, {r['sources']} sources (verdict re-derived in {r['verdict_seconds']} s)"
        )
        print(f"verdict before / after        {r['verdict_before']} / {r['verdict']}")
        print(f"mean PLCC                     {r['mean_plcc']:.4f}")
        e, b = r["ensemble"], r["baseline"]
        print(
            f"pooled RMSE ens / nu-SVR      {e['rmse']:.3f} / {b['rmse']:.3f}   (fold mean ens {r['fold_mean']['rmse']:.3f})"
        )
        print(f"pooled SROCC ens / nu-SVR     {e['srocc']:.4f} / {b['srocc']:.4f}")
        print(
            f"pooled bias ens / nu-SVR      {e['bias']:+.3f} / {b['bias']:+.3f}   Wilcoxon p {_f(r['paired_worse_p'], '.3g')}"
        )
        print(f"refused (fold domain)         {r['refusal_rate']:.1%}")
        print(
            f"frame half-width before/after ±{r['before']['frame_half_width']:.2f} / ±{r['frame_half_width']:.2f} "
            f"(p90 ±{r['frame_half_width_p90']:.2f}; {r['normalisation']['kind']})"
        )
        print(f"clip half-width after         ±{_f(r['clip_half_width'])}")
        print(f"worst held-out coverage       {r['before']['worst_coverage']:.3f} -> {r['worst_coverage']:.3f}")
        print(f"sources below 95 % / allowed  {r['sources_below']} / {r['sources_below_allowed']}")
        print("gate terms:")
        for name, c in r["checks"].items():
            print(
                f"  {'ok  ' if c['pass'] else 'FAIL'} {name:26s} {_f(c['value'], '.4g'):>10s}  vs {_f(c['threshold'], '.4g')}"
            )
        print("per source: rmse  bias  nu-SVR  refused  coverage(before)  frame±  clip±")
        for s in r["per_source"]:
            print(
                f"  {s['source'][:30]:30s} {_f(s['rmse'])} {_f(s['bias'], '+.2f')} {_f(s['baseline_rmse'])} "
                f"{s['refused']:6.1%}  {_f(s['coverage'], '.3f')} ({s['coverage_before']:.3f})  "
                f"{_f(s['frame_half_width'])}  {_f(s['clip_half_width'])}"
            )
        print("per quality band (held-out vmaf): n  coverage  median half-width")
        for band in r["bands"]:
            print(f"  {band['band']:8s} {band['n']:6d}  {band['coverage']:.3f}  ±{band['median_half_width']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
