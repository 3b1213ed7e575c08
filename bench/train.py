"""Benchmark: vmafkit's batched LOSO trainer vs a plain one-model-at-a-time DataLoader loop.

    python bench/train.py [--corpus per_frame_canonical6.jsonl] [--rows 33840] [--seeds 0,1,2,3,4]
                          [--epochs 200] [--ref-members 2] [--workers N] [--json results.json]

Corpus: with --corpus, real rows are read and resampled with replacement (numpy seed 0) up to
--rows, keeping every source group (at least 9 are required unless --min-groups says otherwise).
Without --corpus a SYNTHETIC corpus is generated (see `synthetic_rows`): a production retrain's shape, 9
source groups x {h264_nvenc, h264_qsv} x cq {19, 25, 31, 37} x 470 frames = 33,840 rows, with
canonical-6 features driven by a per-frame latent quality (cq, source content, AR(1) drift over
frames) and a nonlinear VMAF target plus noise. The printed table says which one was used.

vmafkit side: `vmafkit.train.loso.train_loso` (what `vmafkit train` runs): every (seed, fold)
member, one batched computation; wall time is the whole call (features, fit, predictions, reports).

Reference side (`bench/reference_trainer.py`): the same recipe, one member at a time. A full
reference run of 45 members x 200 epochs takes hours here, so by default it trains only the first
--ref-members members (seed = first seed, folds 0, 1, ...) at full epochs; its wall time for all
members is extrapolated as (mean seconds per member) x (number of members), and the PLCC
comparison is made on exactly those members (vmafkit's PLCC of the same (seed, fold) members).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reference_trainer  # noqa: E402

from vmafkit import layout  # noqa: E402
from vmafkit.corpus.schema import SCHEMA_VERSION, load_corpus, read_rows, write_jsonl_lines  # noqa: E402
from vmafkit.train import metrics  # noqa: E402
from vmafkit.train.loso import make_folds, train_loso  # noqa: E402
from vmafkit.train.recipe import DEFAULT_SEEDS, Recipe  # noqa: E402

NETFLIX_LIKE = (
    "BigBuckBunny_25fps",
    "BirdsInCage_30fps",
    "CrowdRun_25fps",
    "ElFuente1_30fps",
    "ElFuente2_30fps",
    "FoxBird_25fps",
    "OldTownCross_25fps",
    "Seeking_25fps",
    "Tennis_24fps",
)


def synthetic_rows(frames: int = 470, seed: int = 0) -> list[dict]:
    """9 groups x 2 encoders x 4 cq x `frames` frames of plausible canonical-6 rows (documented above)."""
    rng = np.random.default_rng(seed)
    rows = []
    for g, src in enumerate(NETFLIX_LIKE):
        complexity = rng.uniform(-1, 1)
        motion_level = rng.uniform(0.5, 15.0)
        for e, enc in enumerate(("h264_nvenc", "h264_qsv")):
            for cq in (19, 25, 31, 37):
                drift = 0.0
                motion = motion_level
                for f in range(frames):
                    drift = 0.95 * drift + 0.05 * rng.standard_normal()
                    motion = max(0.0, 0.9 * motion + 0.1 * motion_level + 0.4 * rng.standard_normal())
                    q = 1.0 - (cq - 15) / 32.0 - 0.12 * complexity - 0.04 * e + 0.1 * drift - 0.006 * motion
                    q = float(np.clip(q + 0.01 * rng.standard_normal(), 0.02, 1.0))
                    feats = {
                        "adm2": 0.6 + 0.4 * q**0.8 + 0.005 * rng.standard_normal(),
                        "vif_scale0": q**2.2,
                        "vif_scale1": q**1.6,
                        "vif_scale2": q**1.3,
                        "vif_scale3": q**1.15,
                        "motion2": motion,
                    }
                    vmaf = 100 / (1 + np.exp(-7 * (0.7 * feats["adm2"] + 0.3 * feats["vif_scale1"] - 0.62)))
                    vmaf = float(np.clip(vmaf - 0.15 * motion * (1 - q) + 1.5 * rng.standard_normal(), 0, 100))
                    rows.append(
                        {
                            "schema_version": SCHEMA_VERSION,
                            "src": src,
                            "src_sha256": f"{g:064x}",
                            "encoder": enc,
                            "preset": "p4" if enc.endswith("nvenc") else "medium",
                            "cq": cq,
                            "frame_index": f,
                            "vmaf": round(vmaf, 6),
                            **{k: round(float(v), 6) for k, v in feats.items()},
                            "width": 1920,
                            "height": 1080,
                            "fps": 25.0,
                            "pix_fmt": "yuv420p",
                            "enc_bytes": 0,
                            "enc_time_ms": 0.0,
                        }
                    )
    return rows


def resampled_rows(path: Path, n: int, min_groups: int) -> list[dict]:
    rows = read_rows(path)
    groups = sorted({str(r.get("group") or r["src"]) for r in rows})
    if len(groups) < min_groups:
        raise SystemExit(f"{path}: {len(groups)} source groups, the benchmark needs >= {min_groups}")
    rng = np.random.default_rng(0)
    pick = rng.integers(0, len(rows), size=max(n, len(rows)) - len(rows))
    # A drawn row becomes a new frame of its cell (the loader refuses a frame present twice).
    offset = 1 + max(int(r["frame_index"]) for r in rows)
    extra = [{**rows[i], "frame_index": int(rows[i]["frame_index"]) + offset * (k + 1)} for k, i in enumerate(pick)]
    return (list(rows) + extra)[: max(n, len(rows))]


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split(" ")[:3])
    except OSError:
        return "n/a"


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M"),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path)
    ap.add_argument("--rows", type=int, default=33840)
    ap.add_argument("--min-groups", type=int, default=9)
    ap.add_argument("--seeds", default=",".join(map(str, DEFAULT_SEEDS)))
    ap.add_argument("--epochs", type=int, default=Recipe().epochs)
    ap.add_argument("--ref-members", type=int, default=2, help="members the reference trains (0: skip it)")
    ap.add_argument("--workers", type=int, default=None, help="vmafkit CPU shards (default: torch threads)")
    ap.add_argument(
        "--ref-threads",
        type=int,
        default=1,
        help="torch intra-op threads for the reference (1: fastest for a 20-64-64-1 MLP; 2 OpenMP "
        "threads spin badly when the cores are shared)",
    )
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", type=Path, help="write the results here too")
    args = ap.parse_args()
    load_start = _loadavg()
    seeds = [int(s) for s in args.seeds.split(",")]
    recipe = Recipe(epochs=args.epochs)

    work = Path(tempfile.mkdtemp(prefix="vmafkit-bench-train-"))
    if args.corpus:
        rows = resampled_rows(args.corpus, args.rows, args.min_groups)
        corpus_kind = f"real rows from {args.corpus}, resampled with replacement to {len(rows)}"
    else:
        rows = synthetic_rows(frames=max(1, round(args.rows / 72)))
        corpus_kind = f"SYNTHETIC (bench/train.py synthetic_rows: 9 groups x 2 enc x 4 cq), {len(rows)} rows"
    corpus_path = work / layout.CORPUS_FILE
    corpus_path.write_text(write_jsonl_lines(rows))
    corpus = load_corpus(corpus_path)
    n_members = len(seeds) * len(corpus.groups)
    print(f"corpus: {corpus_kind}; {len(corpus.groups)} groups; {n_members} members; {args.epochs} epochs", flush=True)

    t0 = time.perf_counter()
    train_loso(corpus_path, seeds, work / "loso", recipe, device=args.device, progress=True, workers=args.workers)
    vm_wall = time.perf_counter() - t0
    reports = {s: json.loads(layout.seed_report(work / layout.LOSO_DIR, s).read_text()) for s in seeds}
    timing = json.loads(layout.timing_file(work / layout.LOSO_DIR, seeds[0]).read_text())
    vm_mean = float(np.mean([r["mean_plcc"] for r in reports.values()]))
    print(
        f"vmafkit: {vm_wall:.1f} s wall (fit {timing['fit_time_s']:.1f} s wall, {timing.get('fit_cpu_s')} CPU-s), "
        f"mean PLCC {vm_mean:.5f}",
        flush=True,
    )

    result = {
        "machine": machine(),
        "loadavg_before": load_start,
        "corpus": corpus_kind,
        "rows": len(corpus),
        "groups": len(corpus.groups),
        "members": n_members,
        "recipe": recipe.to_json(),
        "vmafkit_wall_s": vm_wall,
        "vmafkit_fit_s": timing["fit_time_s"],
        "vmafkit_fit_cpu_s": timing.get("fit_cpu_s"),
        "vmafkit_workers": timing["workers"],
        "vmafkit_mean_plcc_all": vm_mean,
        "per_seed_mean_plcc": {s: r["mean_plcc"] for s, r in reports.items()},
    }
    if args.ref_members > 0:
        folds = make_folds(corpus)
        chosen = [(seeds[0], f) for f in folds][: args.ref_members]
        ref_plcc, vm_plcc, ref_times = [], [], []
        vm_threads = torch.get_num_threads()
        torch.set_num_threads(args.ref_threads)
        ref_cpu = []
        for seed, fold in chosen:
            t = time.perf_counter()
            c = time.process_time()
            model = reference_trainer.fit_one(fold.x_train, fold.y_train, seed, recipe)
            ref_times.append(time.perf_counter() - t)
            ref_cpu.append(time.process_time() - c)
            pred = reference_trainer.predict(model, fold.x_val)
            ref_plcc.append(metrics.plcc(pred, corpus.vmaf[fold.val]))
            vm_plcc.append(reports[seed]["folds"][fold.index]["plcc"])
            print(
                f"reference seed {seed} fold {fold.held_out}: {ref_times[-1]:.1f} s ({ref_cpu[-1]:.1f} CPU-s), PLCC {ref_plcc[-1]:.5f} "
                f"(vmafkit {vm_plcc[-1]:.5f})",
                flush=True,
            )
        torch.set_num_threads(vm_threads)
        per_member = float(np.mean(ref_times))
        ref_est = per_member * n_members
        result.update(
            {
                "reference_members_run": len(chosen),
                "reference_threads": args.ref_threads,
                "reference_s_per_member": per_member,
                "reference_wall_s_extrapolated": ref_est,
                "reference_cpu_s_per_member": float(np.mean(ref_cpu)),
                "reference_cpu_s_extrapolated": float(np.mean(ref_cpu)) * n_members,
                "speedup": ref_est / vm_wall,
                "reference_mean_plcc_subset": float(np.mean(ref_plcc)),
                "vmafkit_mean_plcc_subset": float(np.mean(vm_plcc)),
                "plcc_diff_subset": float(np.mean(vm_plcc) - np.mean(ref_plcc)),
            }
        )
    result["loadavg_after"] = _loadavg()
    _table(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return 0


def _table(r: dict) -> None:
    m = r["machine"]
    print()
    print(f"machine: {m['nproc']} cores, {m['cpu']}, torch {m['torch']} ({m['threads']} threads), {m['date_utc']} UTC")
    print(f"corpus: {r['corpus']}; {r['groups']} groups; {r['members']} members; recipe {r['recipe']}")
    print(f"load average (1/5/15 min) at start {r['loadavg_before']}, at end {r['loadavg_after']}")
    print("| trainer | wall time (s) | speed ratio | mean PLCC (same members) | mean PLCC (all members) |")
    print("|---|---|---|---|---|")
    if "reference_wall_s_extrapolated" in r:
        print(
            f"| reference (DataLoader, one member at a time, {r['reference_threads']} thread; "
            f"{r['reference_members_run']} of {r['members']} members run, "
            f"{r['reference_s_per_member']:.1f} s each, extrapolated) | {r['reference_wall_s_extrapolated']:.0f} | 1.0x | "
            f"{r['reference_mean_plcc_subset']:.5f} | n/a |"
        )
        print(
            f"| vmafkit train (batched, {r['vmafkit_workers']} workers) | {r['vmafkit_wall_s']:.1f} | "
            f"{r['speedup']:.1f}x | {r['vmafkit_mean_plcc_subset']:.5f} | {r['vmafkit_mean_plcc_all']:.5f} |"
        )
        print(f"PLCC difference (vmafkit - reference, same members): {r['plcc_diff_subset']:+.5f}")
        if r.get("vmafkit_fit_cpu_s"):
            print(
                f"CPU seconds: reference {r['reference_cpu_s_extrapolated']:.0f} (extrapolated, "
                f"{r['reference_cpu_s_per_member']:.1f} per member); vmafkit fit {r['vmafkit_fit_cpu_s']:.0f} "
                f"(all shards) -> CPU ratio {r['reference_cpu_s_extrapolated'] / r['vmafkit_fit_cpu_s']:.1f}x"
            )
    else:
        print(f"| vmafkit train (batched) | {r['vmafkit_wall_s']:.1f} | n/a | n/a | {r['vmafkit_mean_plcc_all']:.5f} |")


if __name__ == "__main__":
    sys.exit(main())
