"""Benchmark: one shard's training step, torch ops (`_step_grads`) vs the fused CPU kernels.

    python bench/train_step.py [--members 23] [--rows 30080] [--epochs 1] [--concurrent 2]

Each variant trains `--members` members (9 distinct random data sets, seeds 0, 1, ...) for
`--epochs` epochs of the default recipe in one process with one intra-op thread, as one shard of
`vmafkit train` does; then again with `--concurrent` such processes at once (what 2 workers on a
2-core machine do). Prints milliseconds per step (every member advanced by one batch).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time

import numpy as np
import torch

from vmafkit.train.ensemble import MemberData, _Trainer
from vmafkit.train.recipe import Recipe


def _members(count: int, rows: int) -> list[MemberData]:
    rng = np.random.default_rng(0)
    data = [
        (rng.standard_normal((rows, 20)).astype(np.float32), rng.uniform(0, 100, rows).astype(np.float32))
        for _ in range(9)
    ]
    return [MemberData(*data[i % 9], seed=i // 9) for i in range(count)]


def _ms_per_step(fused: bool, count: int, rows: int, epochs: int) -> float:
    torch.set_num_threads(1)
    trainer = _Trainer(_members(count, rows), Recipe(epochs=epochs), torch.device("cpu"), fused=fused)
    start = time.perf_counter()
    trainer.run()
    return (time.perf_counter() - start) * 1e3 / (epochs * trainer.S)


def _worker(args, queue) -> None:
    queue.put(_ms_per_step(*args))


def _concurrent(processes: int, args) -> float:
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(args, queue)) for _ in range(processes)]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    return max(results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=23)
    ap.add_argument("--rows", type=int, default=30080)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--concurrent", type=int, default=2)
    a = ap.parse_args()
    from vmafkit.train import kernels

    kernels.warm_up()
    rows = []
    for name, fused in (("torch ops (`_step_grads`)", False), ("fused kernels (`_FusedCpuStep`)", True)):
        args = (fused, a.members, a.rows, a.epochs)
        rows.append((name, _ms_per_step(*args), _concurrent(a.concurrent, args)))
    print(
        f"{a.members} members x {a.rows} rows, {a.epochs} epoch(s), 1 thread per process, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    print(f"| step | ms/step, 1 process | ms/step, {a.concurrent} processes at once (slowest) |")
    print("|---|---:|---:|")
    for name, alone, together in rows:
        print(f"| {name} | {alone:.3f} | {together:.3f} |")
    base = rows[0]
    print(f"speed-up: {base[1] / rows[1][1]:.2f}x alone, {base[2] / rows[1][2]:.2f}x concurrent")


if __name__ == "__main__":
    main()
