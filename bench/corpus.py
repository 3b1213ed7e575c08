"""Corpus producer wall time on the same cells, three ways:

  vmafkit  `vmafkit corpus` (parallel cells, decode+score in one ffmpeg process, fresh cache)
  (a)      the bare ffmpeg commands, run back to back: encode, then decode+libvmaf score
  (b)      the seed's way, serial: encode, decode the encode to a .yuv file, then score yuv vs yuv

All three run the same encodes (vmafkit's argv: one encoder thread, which keeps the bitstream
independent of --jobs), so the comparison is of the pipelines, not of encoder settings.

Usage: python bench/corpus.py [--frames 60] [--cqs 19,25,31,37] [--encoders libx264] [--repeat 1]
Targets (issue 2): vmafkit <= 1.1 x (a), and >= 1.8 x faster than (b) on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from benchutil import cpu_model

from vmafkit.corpus.build import build_corpus
from vmafkit.media import ffmpeg as ffm
from vmafkit.media.encoders import get_adapter
from vmafkit.media.sources import find_sources
from vmafkit.parallel.executor import usable_cores

MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "media"
CLIPS = ("bikes_640x272_250f.mp4", "box_640x480_456f.mp4", "cityCC0_720x405_190f.mpg", "seeking_720x480_150f.mp4")


def run(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "SVT_LOG": "1"})
    if proc.returncode != 0:
        raise SystemExit(f"command failed: {' '.join(argv)}\n{proc.stderr[-2000:]}")


def bare_back_to_back(ff, sources, encoders, cqs, frames, work: Path) -> float:
    """(a): the same two commands vmafkit runs per cell (encode, then decode+score), one after another."""
    started = time.perf_counter()
    for source in sources:
        for encoder in encoders:
            adapter = get_adapter(encoder)
            for cq in cqs:
                args = adapter.args(cq, "medium")
                enc = work / f"{source.name}_{encoder}_{cq}.mkv"
                run(
                    ffm.encode_argv(
                        ff,
                        source.input_spec,
                        enc,
                        encoder=encoder,
                        codec_args=args.codec_args,
                        crop=source.crop,
                        max_frames=frames,
                        threads=1,
                    )
                )
                dis = ffm.InputSpec(enc, False, *source.even_size, source.pix_fmt, source.fps)
                run(
                    ffm.score_argv(
                        ff,
                        dis,
                        source.input_spec,
                        work / "a.json",
                        pix_fmt=ffm.scoring_pix_fmt(source.pix_fmt),
                        ref_crop=source.crop,
                        max_frames=frames,
                        threads=1,
                    )
                )
    return time.perf_counter() - started


def seed_way(ff, sources, encoders, cqs, frames, work: Path) -> float:
    """(b): per cell, serially: the same encode, then decode the encode AND the reference to raw
    .yuv files on disk, then score the two files (libvmaf's default single thread)."""
    started = time.perf_counter()
    passthrough = ["-fps_mode", "passthrough"]
    for source in sources:
        width, height = source.even_size
        raw = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width}x{height}"]
        vf = ["-vf", ",".join(source.crop)] if source.crop else []
        for encoder in encoders:
            adapter = get_adapter(encoder)
            for cq in cqs:
                args = adapter.args(cq, "medium")
                enc = work / f"{source.name}_{encoder}_{cq}.mkv"
                ref_yuv, dis_yuv = work / "ref.yuv", work / "dis.yuv"
                run(
                    ffm.encode_argv(
                        ff,
                        source.input_spec,
                        enc,
                        encoder=encoder,
                        codec_args=args.codec_args,
                        crop=source.crop,
                        max_frames=frames,
                        threads=1,
                    )
                )
                run(
                    [
                        ff.path,
                        "-y",
                        "-loglevel",
                        "error",
                        "-i",
                        str(enc),
                        *passthrough,
                        "-pix_fmt",
                        "yuv420p",
                        "-f",
                        "rawvideo",
                        str(dis_yuv),
                    ]
                )
                run(
                    [
                        ff.path,
                        "-y",
                        "-loglevel",
                        "error",
                        *source.input_spec.args(),
                        *passthrough,
                        "-frames:v",
                        str(frames),
                        *vf,
                        "-pix_fmt",
                        "yuv420p",
                        "-f",
                        "rawvideo",
                        str(ref_yuv),
                    ]
                )
                run(
                    [
                        ff.path,
                        "-loglevel",
                        "error",
                        *raw,
                        "-i",
                        str(dis_yuv),
                        *raw,
                        "-i",
                        str(ref_yuv),
                        "-lavfi",
                        f"[0:v][1:v]libvmaf=log_fmt=json:log_path={work}/b.json",
                        "-f",
                        "null",
                        "-",
                    ]
                )
                dis_yuv.unlink()
                ref_yuv.unlink()
    return time.perf_counter() - started


def vmafkit_way(ref_dir, encoders, cqs, frames, work: Path) -> float:
    out = work / "corpus.jsonl"
    started = time.perf_counter()
    build_corpus(ref_dir, encoders, cqs, out, max_frames=frames, progress=False)
    elapsed = time.perf_counter() - started
    shutil.rmtree(work / ".vmafkit-cache")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--cqs", default="19,25,31,37")
    parser.add_argument("--encoders", default="libx264")
    parser.add_argument("--repeat", type=int, default=1, help="take the best of N runs of each way")
    opts = parser.parse_args()
    cqs = [int(c) for c in opts.cqs.split(",")]
    encoders = opts.encoders.split(",")
    ff = ffm.find_ffmpeg()
    with tempfile.TemporaryDirectory(prefix="vmafkit-bench-") as tmp:
        work = Path(tmp)
        ref_dir = work / "refs"
        ref_dir.mkdir()
        for clip in CLIPS:
            (ref_dir / clip).symlink_to(MEDIA / clip)
        sources = find_sources(ref_dir, ff=ff)
        timings = {"vmafkit": [], "a": [], "b": []}
        for _ in range(opts.repeat):
            timings["vmafkit"].append(vmafkit_way(ref_dir, encoders, cqs, opts.frames, work))
            timings["a"].append(bare_back_to_back(ff, sources, encoders, cqs, opts.frames, work))
            timings["b"].append(seed_way(ff, sources, encoders, cqs, opts.frames, work))
    best = {k: min(v) for k, v in timings.items()}
    n_cells = len(sources) * len(encoders) * len(cqs)
    print(f"machine: {usable_cores()} cores, {cpu_model()}; ffmpeg {ff.version}; libvmaf {ff.libvmaf_version}")
    print(
        f"cells: {n_cells} ({len(sources)} sources x {','.join(encoders)} x cq {opts.cqs}), {opts.frames} frames each; "
        f"best of {opts.repeat}"
    )
    print("| way | wall s | frames/s | vs vmafkit |")
    print("|---|---:|---:|---:|")
    names = {
        "vmafkit": "vmafkit corpus",
        "a": "(a) bare encode + score, back to back",
        "b": "(b) seed's way: encode, decode to .yuv, score",
    }
    for key in ("vmafkit", "a", "b"):
        fps = n_cells * opts.frames / best[key]
        print(f"| {names[key]} | {best[key]:.2f} | {fps:.0f} | {best[key] / best['vmafkit']:.2f}x |")
    print(
        f"vmafkit / (a) = {best['vmafkit'] / best['a']:.2f} (target <= 1.10); "
        f"(b) / vmafkit = {best['b'] / best['vmafkit']:.2f} (target >= 1.80)"
    )


if __name__ == "__main__":
    main()
