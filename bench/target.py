"""Target-quality search (`vmafkit target`, issue 24) on the real clips: how often the cq a sampled
search picks gives a full encode that meets the target, how much it overshoots, and how many encodes
it costs, beside the field's usual search and an exhaustive scan.

For every title and encoder, every cq of the grid is encoded and scored twice through vmafkit's cell
cache: its samples (the product's default plan) and the whole title (the truth). The searches are
then replayed on those tables, each probe a table lookup, so every strategy sees the same numbers
and its encodes are counted exactly:

- `exhaustive`: every cq of the grid on the samples; the highest meeting the aim.
- `plain`: the field's usual interpolated search (ab-av1's crf-search, written here from its
  description): start mid-range, step towards the target until it is bracketed, then interpolate
  between the bracket's ends; stop at a probe within 1 VMAF above the target or a one-cq bracket.
  It aims at the target itself.
- `vmafkit`: `pipeline.cq_search` aiming at target + margin, for several margins (the margin
  `vmafkit target` uses is T.TARGET_SAMPLE_MARGIN).
- `guided`: the same, guided (`pipeline.cq_prior`) by the full-title curves of the *other* titles
  (leave one title out), as `--models` is by the curves its ensemble was trained on.

The oracle is the highest cq of the grid whose full encode meets the target. "waste" is the full
encode's bitrate at the chosen cq over the oracle's (0 % when the search finds the oracle).

    python bench/target.py [--titles a.mp4,b.mp4] [--encoders libx264,libx265] [--cache DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchutil import cpu_model  # noqa: E402

from vmafkit import thresholds as T  # noqa: E402
from vmafkit.corpus.build import Cell, CellContext, run_cell  # noqa: E402
from vmafkit.media import ffmpeg as ffm  # noqa: E402
from vmafkit.media.encoders import get_adapter  # noqa: E402
from vmafkit.media.moments import scene_cuts  # noqa: E402
from vmafkit.media.samples import plan_samples, sample_clip  # noqa: E402
from vmafkit.media.score import count_frames  # noqa: E402
from vmafkit.media.sources import describe_source  # noqa: E402
from vmafkit.pipeline.cq_prior import CurvePrior  # noqa: E402
from vmafkit.pipeline.cq_search import search_cq  # noqa: E402

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "data" / "media"
TITLES = (
    "bigbuckbunny_1280x720_132f.mp4",
    "bikes_640x272_250f.mp4",
    "carphone_176x144_120f.mp4",
    "cityCC0_720x405_190f.mpg",
    "cup_640x480_217f.mp4",
    "seeking_720x480_150f.mp4",
)
ENCODERS = {"libx264": "medium", "libx265": "fast"}
GRID = (16, 42)
TARGETS = (85.0, 90.0, 95.0)
MARGINS = (0.0, 0.5, 1.0, 1.5, 2.0)
PLAIN_TOLERANCE = 1.0


def tables(title: Path, encoder: str, preset: str, ctx: CellContext, jobs: int, count: int, seconds: float) -> dict:
    """{cq: (sample vmaf, full vmaf, full kbps)} over the grid, and the plan's share of the title."""
    ff = ctx.ff
    source = describe_source(title, ff=ff)
    cuts = [frame for frame, _ in scene_cuts(ff, source, None)]
    plan = plan_samples(
        count_frames(ff, source),
        source.fps,
        count=count,
        seconds=seconds,
        cuts=cuts,
    )
    samples = sample_clip(ff, source, plan, ctx.cache_dir / "samples")
    real_preset = get_adapter(encoder).preset_for(preset)
    cqs = range(GRID[0], GRID[1] + 1)

    def mean_and_rate(clip, cq):
        rows = run_cell(Cell(clip, encoder, real_preset, cq), ctx)
        vmaf = float(np.mean([r["vmaf"] for r in rows]))
        return vmaf, rows[0]["enc_bytes"] * 8 / (len(rows) / clip.fps) / 1000

    with ThreadPoolExecutor(jobs) as pool:
        sampled = dict(zip(cqs, pool.map(lambda cq: mean_and_rate(samples, cq)[0], cqs), strict=True))
        full = dict(zip(cqs, pool.map(lambda cq: mean_and_rate(source, cq), cqs), strict=True))
    return {"sample": sampled, "full": full, "share": plan.share, "samples": len(plan.ranges)}


def plain_search(sample: dict, target: float) -> tuple[int | None, int]:
    """ab-av1-style: mid-range start, fixed steps halving on each turn until bracketed, then
    interpolation; stops on a probe in [target, target + tolerance) or a one-cq bracket."""
    lowest, highest = min(sample), max(sample)
    probed: dict[int, float] = {}
    cq, step = (lowest + highest) // 2, max(1, (highest - lowest) // 4)
    while True:
        probed[cq] = sample[cq]
        score = probed[cq]
        if target <= score < target + PLAIN_TOLERANCE:
            break
        meets = [c for c, v in probed.items() if v >= target]
        fails = [c for c, v in probed.items() if v < target and (not meets or c > max(meets))]
        if meets and fails:
            low, high = max(meets), min(fails)
            if high - low <= 1:
                break
            crossing = low + (probed[low] - target) * (high - low) / (probed[low] - probed[high])
            nxt = int(crossing) if low < int(crossing) < high else (low + high) // 2
        else:
            nxt = cq + step if score >= target else cq - step
            step = max(1, step // 2) if len(probed) > 1 else step
        nxt = min(max(nxt, lowest), highest)
        if nxt in probed:
            break
        cq = nxt
    meets = [c for c, v in probed.items() if v >= target]
    return (max(meets) if meets else None), len(probed)


def vmafkit_search(sample: dict, aim: float, guide=None) -> tuple[int | None, int]:
    found = search_cq(lambda cq: sample[cq], aim, lowest=min(sample), highest=max(sample), guide=guide)
    return found.cq, len(found.probes)


def verified_search(sample: dict, full: dict, target: float, margin: float) -> tuple[int | None, int, int]:
    """`vmafkit target --verify`: the sampled search, then the whole title at its answer, and when
    that misses, the search finished on the whole title below it (pipeline.target._verify)."""
    cq, probes = vmafkit_search(sample, target + margin)
    if cq is None:
        return None, probes, 0
    whole = {c: v for c, (v, _) in full.items()}
    if whole[cq] >= target:
        return cq, probes, 1
    if cq == min(whole):
        return None, probes, 1
    found = search_cq(lambda c: whole[c], target, lowest=min(whole), highest=cq, first=cq - 1)
    return found.cq, probes, len(found.probes)  # its probes include the answer's first full encode


def exhaustive(sample: dict, aim: float) -> tuple[int | None, int]:
    meets = [c for c, v in sample.items() if v >= aim]
    return (max(meets) if meets else None), len(sample)


def judge(answer: int | None, full: dict, target: float) -> dict:
    meeting = [c for c, (v, _) in full.items() if v >= target]
    oracle = max(meeting) if meeting else None
    if answer is None or oracle is None:
        return {"hit": False, "next_fails": False, "waste_pct": None, "over": None, "answered": answer is not None}
    vmaf, rate = full[answer]
    nxt = full.get(answer + 1)
    return {
        "hit": vmaf >= target,
        "next_fails": nxt is None or nxt[0] < target,
        "waste_pct": 100.0 * (rate / full[oracle][1] - 1.0),
        "over": vmaf - target,
        "answered": True,
    }


def summarise(name: str, outcomes: list[tuple[dict, int, int]]) -> str:
    judged = [o for o, _, _ in outcomes]
    hits = sum(o["hit"] for o in judged)
    hit_waste = [o["waste_pct"] for o in judged if o["hit"] and o["waste_pct"] is not None]
    misses = [o["over"] for o in judged if not o["hit"] and o["over"] is not None]
    return (
        f"| {name} | {len(judged)} | {hits} ({100 * hits / len(judged):.0f} %) | "
        f"{sum(o['next_fails'] for o in judged if o['hit'])} | {statistics.mean(e for _, e, _ in outcomes):.1f} | "
        f"{statistics.mean(f for _, _, f in outcomes):.1f} | "
        f"{statistics.mean(hit_waste) if hit_waste else 0:.1f} | {min(misses) if misses else 0:.2f} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--titles", default=",".join(TITLES))
    parser.add_argument("--encoders", default=",".join(ENCODERS))
    parser.add_argument("--cache", default="/tmp/vmafkit-bench-target")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--samples", type=int, default=T.TARGET_SAMPLES_DEFAULT)
    parser.add_argument("--sample-seconds", type=float, default=T.TARGET_SAMPLE_SECONDS_DEFAULT)
    args = parser.parse_args()
    ff = ffm.find_ffmpeg()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    ctx = CellContext(ff=ff, cache_dir=cache, max_frames=None, threads=1)
    titles = [MEDIA / t for t in args.titles.split(",")]
    encoders = args.encoders.split(",")
    started = time.perf_counter()
    data = {}
    for encoder in encoders:
        for title in titles:
            t0 = time.perf_counter()
            data[encoder, title.name] = tables(
                title, encoder, ENCODERS.get(encoder, "medium"), ctx, args.jobs, args.samples, args.sample_seconds
            )
            print(f"# {encoder} {title.name}: grid tables in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    print(f"# {cpu_model()}; {time.strftime('%Y-%m-%d')}; ffmpeg {ff.version}; libvmaf {ff.libvmaf_version}")
    named = ", ".join(f"{e} {ENCODERS.get(e, 'medium')}" for e in encoders)
    print(f"# titles {len(titles)}, encoders {named}, "
          f"cq grid {GRID[0]}..{GRID[1]}, targets {', '.join(f'{t:g}' for t in TARGETS)}, pool mean; "
          f"tables built in {time.perf_counter() - started:.0f} s")  # fmt: skip
    shares = sorted(d["share"] for d in data.values())
    print(f"# samples: {args.samples} x {args.sample_seconds:g} s asked, "
          f"covering {shares[0]:.0%}..{shares[-1]:.0%} of the titles")  # fmt: skip
    gaps = [d["full"][cq][0] - d["sample"][cq] for d in data.values() for cq in d["sample"]]
    print(f"# full - sample vmaf over every cell: median {np.median(gaps):+.2f}, "
          f"p5 {np.percentile(gaps, 5):+.2f}, p95 {np.percentile(gaps, 95):+.2f}")  # fmt: skip
    for (encoder, name), d in data.items():
        per = [d["full"][cq][0] - d["sample"][cq] for cq in d["sample"]]
        print(f"#   {encoder} {name}: {d['samples']} sample(s), {d['share']:.0%}; full - sample median {np.median(per):+.2f}, "
              f"range {min(per):+.2f}..{max(per):+.2f}")  # fmt: skip
    print()
    print("| strategy | searches | full encode meets target | of those, next cq fails | sample encodes per search "
          "| full-title encodes per search | bits over the oracle, % (hits) | worst miss, vmaf |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    rows: dict[str, list] = {}
    for (encoder, name), d in data.items():
        others = {
            other: tuple((cq, v) for cq, (v, _) in sorted(od["full"].items()))
            for (enc, other), od in data.items()
            if enc == encoder and other != name
        }
        for target in TARGETS:

            def add(strategy, answer_encodes, d=d, target=target, full_encodes=0):
                answer, encodes = answer_encodes[:2]
                full_encodes = answer_encodes[2] if len(answer_encodes) > 2 else full_encodes
                rows.setdefault(strategy, []).append((judge(answer, d["full"], target), encodes, full_encodes))

            add(
                f"exhaustive scan (samples, aim +{T.TARGET_SAMPLE_MARGIN:g})",
                exhaustive(d["sample"], target + T.TARGET_SAMPLE_MARGIN),
            )
            add("plain interpolated (samples, aim +0)", plain_search(d["sample"], target))
            for margin in MARGINS:
                add(f"vmafkit (samples, aim +{margin:g})", vmafkit_search(d["sample"], target + margin))
            margin = T.TARGET_SAMPLE_MARGIN
            add(f"plain interpolated (samples, aim +{margin:g})", plain_search(d["sample"], target + margin))
            add(
                f"vmafkit guided (samples, aim +{margin:g})",
                vmafkit_search(d["sample"], target + margin, CurvePrior(others)),
            )
            add(f"vmafkit --verify (samples, aim +{margin:g})", verified_search(d["sample"], d["full"], target, margin))
            add("vmafkit --verify (samples, aim +0)", verified_search(d["sample"], d["full"], target, 0.0))
            answer, probes = vmafkit_search({cq: v for cq, (v, _) in d["full"].items()}, target)
            add("vmafkit --full", (answer, 0, probes))
    for name, outcomes in rows.items():
        print(summarise(name, outcomes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
