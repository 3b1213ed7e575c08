"""VMAF v1 against VMAF v0.6.1 on the same real encodes: scoring cost, ensemble accuracy, interval width.

    python bench/v1_vs_v061.py [--frames 30] [--cqs 20,26,32,38,44] [--seeds 0,1,2,3,4] [--out DIR]

The reference clips are every clip in ../shared/data/media that v1's 3d0h model scores (at least
320x180): ten of them. One libx264 grid (preset medium, the --cqs) is built with `vmafkit.build_corpus`
and vmaf_v0.6.1 (that build encodes), then `vmafkit.rescore` scores the very same kept encodes with
each model (no encoder runs; the v0.6.1 rescore is checked equal to the build, row for row). Each corpus is trained with LOSO (the default robust recipe,
5 seeds) and gated into a verdict; the table gives, per model, what the verdict re-derived:

- scoring wall time of each model alone (a rescore of the kept encodes), and the build's (encode +
  v0.6.1 scoring) for scale;
- the ensemble's pooled held-out accuracy in VMAF points (RMSE, bias), PLCC and SROCC, on the frames
  its folds' domains serve, and libvmaf's nu-SVR recipe on the same features and frames;
- the worst source's RMSE, the share of held-out frames the folds' domains refuse;
- the calibrated interval at 95 %: the frame and clip half-widths, the worst fold's coverage.

Each model's ensemble predicts its own model's score (v1 predicts v1's vmaf), so the accuracies
compare how learnable each teacher is from its own features, not which teacher is right.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from benchutil import cpu_model

import vmafkit
from vmafkit.media.sources import find_sources

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "data" / "media"
MODELS = {"v0.6.1": "vmaf_v0.6.1", "v1 3d0h": "vmaf_v1.0.16_3d0h"}
MIN_SIZE = (320, 180)


def reference_folder(dest: Path) -> list[str]:
    """Links to every shared clip of at least MIN_SIZE (raw .yuv: size from the name)."""
    dest.mkdir(parents=True, exist_ok=True)
    names = []
    for source in find_sources(MEDIA):
        if source.width >= MIN_SIZE[0] and source.height >= MIN_SIZE[1] and not source.name.startswith("src01_"):
            (dest / source.path.name).symlink_to(source.path)
            names.append(source.name)
    return names


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _untimed(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "enc_time_ms"}


def kept_encode_cost(corpus: Path) -> str:
    """The disk the build's kept encodes take: the files in the cache, and the corpus's own account
    (enc_bytes summed over its cells), beside the raw 8-bit 4:2:0 frames they encode."""
    from vmafkit import layout

    folder = layout.kept_encodes_dir(layout.cell_cache_dir(corpus))
    on_disk = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    cells = {}
    for row in _rows(corpus):
        cells[row["encode_key"]] = row["enc_bytes"]
    raw = sum(r["width"] * r["height"] * 1.5 for r in _rows(corpus))
    return (
        f"{len(cells)} kept encodes take {on_disk / 1e6:.2f} MB on disk (videos + records; enc_bytes summed over "
        f"cells: {sum(cells.values()) / 1e6:.2f} MB), {on_disk / raw:.1%} of the {raw / 1e6:.0f} MB of raw frames they encode"
    )


def refusal_reasons(corpus: Path) -> str:
    """Which feature puts held-out frames outside their fold's domain, and of which source."""
    from collections import Counter

    from vmafkit.corpus.schema import load_corpus
    from vmafkit.train.domain import held_out_served

    loaded = load_corpus(corpus)
    served, reasons = held_out_served(loaded, label_free=True)
    by_cause: Counter = Counter()
    for i, reason in enumerate(reasons):
        for part in (reason or "").split("; "):
            if part:
                cause = part.split(" ")[0] if "outside the trained range" in part else part.split(",")[0][:40]
                by_cause[f"{cause} ({loaded.src[i]})"] += 1
    return ", ".join(f"{cause}: {n}" for cause, n in by_cause.most_common(6)) or "none"


def summarise(verdict: dict, scoring_s: float, train_s: float) -> dict:
    acc, cal, gate = verdict["accuracy"], verdict["calibration"], verdict["gate"]
    worst = acc["source_rmse_max"]
    rows = acc["rows"]
    return {
        "scoring wall, from kept encodes (s)": scoring_s,
        "training wall (s)": train_s,
        "frames served / refused": f"{rows['served']} / {rows['refused']}",
        "pooled RMSE (VMAF)": acc["pooled"]["rmse"],
        "pooled bias (VMAF)": acc["pooled"]["bias"],
        "pooled PLCC": acc["pooled"]["plcc"],
        "pooled SROCC": acc["pooled"]["srocc"],
        "nu-SVR RMSE (VMAF)": acc["baseline"]["pooled"]["rmse"],
        "nu-SVR SROCC": acc["baseline"]["pooled"]["srocc"],
        "worst source RMSE": f"{worst['value']:.2f} ({worst['source']})",
        "mean seed PLCC": gate["mean_plcc"],
        "frame half-width @95%": cal["frame"]["half_width"],
        "clip half-width @95%": cal["clip"]["half_width"],
        "worst fold frame coverage": cal["fold_frame_coverage_min"],
        "verdict": verdict["verdict"],
        "failing": "; ".join(a.split(" (")[0] for a in verdict.get("failing_aspects", [])) or "-",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--cqs", default="20,26,32,38,44")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--out", type=Path, default=None, help="keep the work here (default: a temp folder)")
    args = parser.parse_args()
    work = args.out or Path(tempfile.mkdtemp(prefix="vmafkit-v1-bench-"))
    refs = work / "refs"
    names = reference_folder(refs) if not refs.exists() else sorted(p.stem for p in refs.iterdir())
    seeds = [int(s) for s in args.seeds.split(",")]
    grid = vmafkit.Grid(encoders=("libx264",), cqs=tuple(int(c) for c in args.cqs.split(",")))
    corpora = {label: work / "corpus" / f"{model}.jsonl" for label, model in MODELS.items()}
    corpora["v0.6.1"].parent.mkdir(parents=True, exist_ok=True)
    results = {}
    started = time.perf_counter()
    built = vmafkit.build_corpus(refs, corpora["v0.6.1"], grid=grid, max_frames=args.frames)
    build_s = time.perf_counter() - started
    print(f"build, v0.6.1: {built.summary_line()}", file=sys.stderr)
    for label, model in MODELS.items():
        # scoring alone, both models alike: each scores the build's kept encodes (no encoder runs)
        started = time.perf_counter()
        rescored = work / "corpus" / f"rescored-{model}.jsonl"
        built = vmafkit.rescore(corpora["v0.6.1"], rescored, ref_dir=refs, scoring=vmafkit.Scoring(vmaf_model=model))
        scoring_s = time.perf_counter() - started
        print(f"rescore, {label}: {built.summary_line()}", file=sys.stderr)
        if label != "v0.6.1":
            corpora[label] = rescored
        else:  # rescore's promise, checked on every run of this bench: the build's rows, row for row
            same = [_untimed(r) for r in _rows(rescored)] == [_untimed(r) for r in _rows(corpora[label])]
            print(f"rescored v0.6.1 corpus equals the build's: {same}", file=sys.stderr)
        started = time.perf_counter()
        trained = vmafkit.train_loso(corpora[label], work / f"loso-{model}", seeds=seeds, device="cpu")
        train_s = time.perf_counter() - started
        verdict = vmafkit.write_verdict(trained, ref_dir=refs).to_json()
        results[label] = summarise(verdict, scoring_s, train_s)
    print(f"# build (encode + v0.6.1 scoring): {build_s:.1f} s")
    print(
        f"# VMAF v1 vs v0.6.1 on the same encodes: {len(names)} clips ({', '.join(names)}), libx264 medium, "
        f"cq {args.cqs}, first {args.frames} frames; seeds {args.seeds}; {cpu_model()}"
    )
    labels = list(results)
    print("| | " + " | ".join(labels) + " |")
    print("|---|" + "---|" * len(labels))
    for key in results[labels[0]]:
        cells = [results[label][key] for label in labels]
        print(f"| {key} | " + " | ".join(f"{c:.3f}" if isinstance(c, float) else str(c) for c in cells) + " |")
    print(f"# disk: {kept_encode_cost(corpora['v0.6.1'])}")
    for label in labels:
        print(f"# held-out frames refused, by cause ({label}): {refusal_reasons(corpora[label])}")
    (work / "v1_vs_v061.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
