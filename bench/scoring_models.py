"""Scoring speed: VMAF v0.6.1 against VMAF v1, and what --metrics xpsnr and --pool cost.

    python bench/scoring_models.py [--frames 60] [--repeat 3] [--threads 1]

Every way scores the same pairs through `vmafkit.score` (ffmpeg's libvmaf filter, one process
per pair): real clips from ../shared/data/media, each against a libx264 encode made once here
(crf 30, veryfast: not timed). Per way, the best of --repeat runs, in frames per second, and the
ratio to v0.6.1:

- v0.6.1: `vmaf_v0.6.1`, the inputs' own depth (8 bits here);
- v0.6.1 at 10 bits: the same model on both sides converted to yuv420p10le (ffmpeg's format
  filter, as v1 is scored): what of v1's cost is the 10-bit conversion alone;
- v1 3d0h / 5d0h / 1d5h_2160 / 3d0h_2160: VMAF v1 as vmafkit scores it (10 bits, CAMBI told the
  encode side);
- v0.6.1 + xpsnr: ffmpeg's xpsnr filter beside libvmaf on the same frames;
- v0.6.1 + all pools: `--pool mean,harmonic,min,p1,p5,p10` (numpy on the frames: free).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchutil import cpu_model

from vmafkit.media import ffmpeg as ffm
from vmafkit.media.score import score_pair

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "data" / "media"
# at least 640x360: the smallest 16:9 size vmaf_v1.0.16_3d0h_2160 scores (measured)
CLIPS = ("cup_640x480_217f.mp4", "box_640x480_456f.mp4", "bigbuckbunny_1280x720_132f.mp4")
WAYS = {
    "v0.6.1": {"vmaf_model": "vmaf_v0.6.1"},
    "v0.6.1 at 10 bits": {"vmaf_model": "vmaf_v0.6.1", "ten_bit": True},
    "v1 3d0h": {"vmaf_model": "vmaf_v1.0.16_3d0h"},
    "v1 5d0h": {"vmaf_model": "vmaf_v1.0.16_5d0h"},
    "v1 1d5h_2160": {"vmaf_model": "vmaf_v1.0.16_1d5h_2160"},
    "v1 3d0h_2160": {"vmaf_model": "vmaf_v1.0.16_3d0h_2160"},
    "v0.6.1 + xpsnr": {"vmaf_model": "vmaf_v0.6.1", "metrics": ("xpsnr",)},
    "v0.6.1 + all pools": {"vmaf_model": "vmaf_v0.6.1", "pools": ("mean", "harmonic", "min", "p1", "p5", "p10")},
}


def encode(ff: str, clip: Path, frames: int, out: Path) -> None:
    argv = [ff, "-nostdin", "-loglevel", "error", "-y", "-i", str(clip), "-frames:v", str(frames)]
    subprocess.run([*argv, "-c:v", "libx264", "-crf", "30", "-preset", "veryfast", str(out)], check=True)


def ten_bit_v061(ff: str, ref: Path, dis: Path, frames: int, threads: int, log: Path) -> None:
    """v0.6.1 with both sides converted to 10 bits: the hand-written equivalent of vmafkit's graph."""
    graph = (
        f"[0:v]format=yuv420p10le,settb=1/1000,setpts=N[d];[1:v]trim=end_frame={frames},format=yuv420p10le,"
        f"settb=1/1000,setpts=N[r];[d][r]libvmaf=model=version=vmaf_v0.6.1:log_fmt=json:log_path={log}"
        f":n_threads={threads}:shortest=1"
    )
    argv = [ff, "-nostdin", "-loglevel", "error", "-i", str(dis), "-i", str(ref), "-lavfi", graph, "-f", "null", "-"]
    subprocess.run(argv, check=True, capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    ff = ffm.find_ffmpeg()
    clips = [MEDIA / name for name in CLIPS if (MEDIA / name).is_file()]
    print(f"# {cpu_model()}; ffmpeg {ff.version}, libvmaf {ff.libvmaf_version}; {args.frames} frames of each of")
    print(f"# {', '.join(c.name for c in clips)}; libvmaf threads {args.threads}; best of {args.repeat}")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        pairs = []
        for clip in clips:
            dis = tmp / f"{clip.stem}.mp4"
            encode(ff.path, clip, args.frames, dis)
            pairs.append((clip, dis))
        timings: dict[str, float] = {}
        for way, options in WAYS.items():
            best = float("inf")
            for _ in range(args.repeat):
                started = time.perf_counter()
                for ref, dis in pairs:
                    if options.get("ten_bit"):
                        ten_bit_v061(ff.path, ref, dis, args.frames, args.threads, tmp / "log.json")
                        continue
                    score_pair(
                        ref,
                        dis,
                        max_frames=args.frames,
                        threads=args.threads,
                        vmaf_model=options["vmaf_model"],
                        metrics=options.get("metrics", ()),
                        pools=options.get("pools", ("mean",)),
                    )
                best = min(best, time.perf_counter() - started)
            timings[way] = best
    total = args.frames * len(pairs)
    base = timings["v0.6.1"]
    print("\n| way | wall s | frames/s | time vs v0.6.1 |")
    print("|---|---:|---:|---:|")
    for way, seconds in timings.items():
        print(f"| {way} | {seconds:.2f} | {total / seconds:.0f} | {seconds / base:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
