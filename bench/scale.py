"""Scale-out: corpus wall time on a local Dask cluster with 1 vs 2 workers, and the Dask overhead.

  cells     the same cells (fresh cell cache every run) on: the local pool (2 jobs), and a
            loopback Dask cluster (`distributed.LocalCluster`, worker processes with 1 thread each)
            with 1 and 2 workers
  overhead  many tiny cells (1 frame each): the local pool vs the Dask path on 2 workers; the
            difference per cell is what Dask costs (submit, schedule, ship args and rows back),
            connecting to the scheduler included

Every run is `build_corpus(...)` with `jobs=2` (so each ffmpeg gets the same thread count), a fresh
cache folder, and the run's own wall time; the scenarios take turns (round robin). Usage:
    python bench/scale.py [--frames 30] [--cqs 22,28,34,40] [--repeat 1]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from benchutil import cpu_model

from vmafkit.corpus.build import build_corpus
from vmafkit.parallel.executor import usable_cores

MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "media"
CLIPS = ("bikes_640x272_250f.mp4", "parkjoy_480x270_50fps_10f.y4m", "seeking_720x480_150f.mp4")
TINY_CLIPS = ("parkjoy_480x270_50fps_10f.y4m", "ciscovt2people_320x192_12fps_9f.yuv", "bluesky_640x360_3f.yuv")


def ref_dir(work: Path, clips: tuple[str, ...], name: str) -> Path:
    folder = work / name
    folder.mkdir()
    for clip in clips:
        (folder / clip).symlink_to(MEDIA / clip)
    return folder


def one_run(refs: Path, work: Path, cqs: list[int], frames: int, scheduler: str | None) -> tuple[float, int, int]:
    out_dir = Path(tempfile.mkdtemp(dir=work))  # fresh: no cached cell
    started = time.perf_counter()
    result = build_corpus(
        refs, ["libx264"], cqs, out_dir / "c.jsonl", jobs=2, max_frames=frames, progress=False, scheduler=scheduler
    )
    wall = time.perf_counter() - started
    assert result.cells_cached == 0 and result.cells_run == result.n_cells
    return wall, result.n_cells, result.n_rows


def round_robin(scenarios, refs, work, cqs, frames, repeat) -> list[dict]:
    """Each repeat runs every scenario once, in turn, so a burst of load from another process
    hits all of them alike; the table shows the best (least disturbed) and the median run."""
    out = [{"label": label, "walls": []} for label, _ in scenarios]
    for _ in range(repeat):
        for record, (_, scheduler) in zip(out, scenarios):
            wall, record["cells"], record["rows"] = one_run(refs, work, cqs, frames, scheduler)
            record["walls"].append(wall)
    for record in out:
        record["best"], record["median"] = min(record["walls"]), statistics.median(record["walls"])
    return out


def cluster(n_workers: int):
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--cqs", default="22,28,34,40")
    parser.add_argument("--tiny-cqs", default="18,22,26,30,34,38,42,46")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    cqs = [int(c) for c in args.cqs.split(",")]
    tiny_cqs = [int(c) for c in args.tiny_cqs.split(",")]
    os.environ.setdefault("SVT_LOG", "1")

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="vmafkit-scale-") as tmp, cluster(1) as one, cluster(2) as two:
        work = Path(tmp)
        refs = ref_dir(work, CLIPS, "refs")
        tiny = ref_dir(work, TINY_CLIPS, "tiny")
        one_run(refs, work, cqs[:1], 1, None)  # warm-up (page cache, ffmpeg): not timed
        rows = round_robin(
            [
                ("local pool, 2 jobs", None),
                ("dask, 1 worker", one.scheduler_address),
                ("dask, 2 workers", two.scheduler_address),
            ],
            refs,
            work,
            cqs,
            args.frames,
            args.repeat,
        )
        small = round_robin(
            [("local pool, 2 jobs", None), ("dask, 2 workers", two.scheduler_address)],
            tiny,
            work,
            tiny_cqs,
            1,
            args.repeat,
        )
    load_after = os.getloadavg()

    print(
        f"machine: {os.cpu_count()} CPUs ({usable_cores()} usable), {cpu_model()}, "
        f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, python {platform.python_version()}; "
        f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after"
    )
    print(
        f"\ncells: {len(CLIPS)} clips x libx264 x cq {args.cqs}, {args.frames} frames each "
        f"({args.repeat} rounds, fresh cache each run)"
    )
    base = next(r for r in rows if r["label"] == "dask, 1 worker")["best"]
    print(f"{'run':<22}{'cells':>6}{'rows':>6}{'best s':>9}{'median s':>10}{'cells/s':>9}{'vs dask 1w':>12}")
    for r in rows:
        print(
            f"{r['label']:<22}{r['cells']:>6}{r['rows']:>6}{r['best']:>9.2f}{r['median']:>10.2f}"
            f"{r['cells'] / r['best']:>9.2f}{base / r['best']:>11.2f}x"
        )
    print(f"\noverhead: {len(TINY_CLIPS)} clips x libx264 x cq {args.tiny_cqs}, 1 frame each (tiny cells)")
    print(f"{'run':<22}{'cells':>6}{'best s':>9}{'median s':>10}{'ms/cell':>9}")
    for r in small:
        print(
            f"{r['label']:<22}{r['cells']:>6}{r['best']:>9.2f}{r['median']:>10.2f}{1000 * r['best'] / r['cells']:>9.1f}"
        )
    extra = small[1]["best"] - small[0]["best"]
    print(
        f"dask - local (best runs): {extra:+.2f} s in all, {1000 * extra / small[0]['cells']:+.1f} ms per cell "
        f"(connect + {small[0]['cells']} tasks)"
    )


if __name__ == "__main__":
    main()
