"""Frames/s of ensemble prediction (5 members) through onnxruntime on CPU.

    python bench/predict.py [--rows 1000000] [--members 5] [--repeats 3] [--json OUT]

Members are FRRegressor graphs exported exactly as `vmafkit export` writes them (weights from
the members' seeded initialisation: the cost does not depend on the weight values). The table
compares the naive way (one session per member, large batches, mean in numpy) with the merged
single graph (all members + an ONNX Mean node, what `vmafkit predict` runs), over batch sizes and
threads, and checks that every variant gives the same ensemble scores. Times are the best of
--repeats runs over all rows (input arrays prepared beforehand; output written into one array).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time

import numpy as np
from benchutil import cpu_model

TARGET = 1_000_000  # frames/s


def build_members(n_members: int) -> list[bytes]:
    from vmafkit.serve.export import onnx_bytes
    from vmafkit.train.ensemble import initial_weights
    from vmafkit.train.features import FeatureSpec
    from vmafkit.train.recipe import Recipe

    spec = FeatureSpec(
        mean=(0.9, 0.6, 0.8, 0.85, 0.9, 3.0), std=(0.05, 0.15, 0.1, 0.08, 0.06, 2.0), cq_min=19.0, cq_max=37.0
    )
    return [onnx_bytes(initial_weights(seed, Recipe()), spec) for seed in range(n_members)]


def make_inputs(rows: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    feats = rng.random((rows, 6), dtype=np.float32)
    codec = np.zeros((rows, 14), dtype=np.float32)
    codec[np.arange(rows), rng.integers(0, 12, rows)] = 1.0
    codec[:, 12] = 0.5
    codec[:, 13] = rng.random(rows, dtype=np.float32)
    return feats, codec


def naive(sessions, feats, codec, batch):
    n = feats.shape[0]
    acc = np.zeros(n, dtype=np.float64)
    for s in sessions:
        for a in range(0, n, batch):
            acc[a : a + batch] += s.run(
                ["score"], {"features": feats[a : a + batch], "codec_onehot": codec[a : a + batch]}
            )[0]
    return (acc / len(sessions)).astype(np.float32)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)

    from vmafkit.serve.export import ort_session
    from vmafkit.serve.predict import merge_members, run_batched

    blobs = build_members(args.members)
    merged = merge_members(blobs)
    feats, codec = make_inputs(args.rows)
    ncpu = os.cpu_count() or 1
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

    variants = []
    for threads in sorted({1, min(2, ncpu)}):
        sessions = [ort_session(b, threads=threads) for b in blobs]
        variants.append(
            (
                f"naive: {args.members} sessions, batch 65536, intra_op {threads}",
                lambda s=sessions: naive(s, feats, codec, 65536),
            )
        )
        one = ort_session(merged, threads=threads)
        variants.append(
            (f"merged graph, batch 65536, intra_op {threads}", lambda s=one: run_batched(s, feats, codec, batch=65536))
        )
    single = ort_session(merged, threads=1)
    for batch in (2048, 8192):
        variants.append(
            (f"merged graph, batch {batch}, 1 thread", lambda b=batch: run_batched(single, feats, codec, batch=b))
        )
    if ncpu >= 2:
        for batch in (1024, 2048, 4096, 8192):
            variants.append(
                (
                    f"merged graph, batch {batch}, 2 py-threads x intra_op 1 (predict)",
                    lambda b=batch: run_batched(single, feats, codec, batch=b, threads=2),
                )
            )

    results, reference = [], None
    for name, fn in variants:
        out = fn()  # warm-up + correctness
        if reference is None:
            reference = out
        diff = float(np.max(np.abs(out.astype(np.float64) - reference)))
        runs = [_timed(fn) for _ in range(args.repeats)]
        wall, cpu = min(runs)
        cpu_best = min(c for _, c in runs)
        results.append(
            {
                "variant": name,
                "seconds": wall,
                "frames_per_s": args.rows / wall,
                "cpu_seconds": cpu_best,
                "frames_per_cpu_s": args.rows / cpu_best,
                "max_abs_diff_vs_naive": diff,
            }
        )

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    header = {
        "date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": ncpu,
        "cpu": cpu_model(),
        "python": sys.version.split()[0],
        "onnxruntime": _ort_version(),
        "rows": args.rows,
        "members": args.members,
        "repeats": args.repeats,
        "loadavg_1m_at_start": round(load_start, 2),
        "loadavg_1m_at_end": round(load[0], 2),
    }
    print(f"# ensemble prediction, onnxruntime CPU: {args.rows} rows x {args.members} members")
    print("# " + ", ".join(f"{k}={v}" for k, v in header.items()))
    print("# frames/s = rows / best wall time; frames/CPU-s = rows / best process CPU time (all threads):")
    print("# on a shared machine the second is the stable number, and nproc x it bounds an idle machine's.")
    print(
        f"| {'variant':<62} | {'wall s':>7} | {'frames/s':>11} | {'frames/CPU-s':>12} | {'max |diff|':>10} | >= 1M/s |"
    )
    print(f"|{'-' * 64}|{'-' * 9}|{'-' * 13}|{'-' * 14}|{'-' * 12}|---------|")
    for r in results:
        ok = "yes" if r["frames_per_s"] >= TARGET else "no"
        print(
            f"| {r['variant']:<62} | {r['seconds']:7.3f} | {r['frames_per_s']:11,.0f} | {r['frames_per_cpu_s']:12,.0f} | "
            f"{r['max_abs_diff_vs_naive']:10.1e} | {ok:>7} |"
        )
    fastest = max(results, key=lambda r: r["frames_per_s"])
    served = [r for r in results if "(predict)" in r["variant"]] or results
    per_cpu = max(served, key=lambda r: r["frames_per_cpu_s"])
    print(
        f"best wall: {fastest['frames_per_s']:,.0f} frames/s ({fastest['variant']}); served path "
        f"{per_cpu['frames_per_cpu_s']:,.0f} frames/CPU-s x {ncpu} cores = {per_cpu['frames_per_cpu_s'] * ncpu:,.0f} "
        f"frames/s if the cores were free (target {TARGET:,})"
    )
    bad = [r for r in results if r["max_abs_diff_vs_naive"] > 1e-4]
    if args.json:
        from vmafkit.io import atomic_write_json

        atomic_write_json(args.json, {"machine": header, "results": results})
    if bad:
        print(f"ERROR: {len(bad)} variants disagree with the naive ensemble", file=sys.stderr)
        return 1
    return 0


def _timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the whole process: all threads)."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


if __name__ == "__main__":
    sys.exit(main())
