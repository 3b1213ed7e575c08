"""What `vmafkit diagnose` and `score --shots/--worst/--dump` cost beside a VMAF pass, and whether
the diagnosis raises a false alarm on sound pairs.

    python bench/diagnose.py [--frames 120] [--repeat 3]

Per clip of ../shared/data/media (those ffmpeg decodes as video, at least --frames long), a sound
distorted version: an x264 encode at crf 30 of its first --frames frames, every decoded frame once
(`-map 0:v:0 -fps_mode passthrough`). Timed, best of --repeat:

- VMAF pass: `vmafkit.score` of the pair (one libvmaf thread);
- diagnose: `vmafkit.diagnose` of the pair (alignment search on thumbnails, levels, and one decode
  of each side through idet, freezedetect and blackdetect);
- shots: the scene-cut pass `score --shots` adds (`media.moments.scene_cuts`: scdet on the reference);
- worst + dump: `vmafkit.score(..., shots=True, worst=5, dump=DIR)` against the plain score.

The last column lists the findings `diagnose` made on the sound pair: any is a false alarm.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from benchutil import best_of, cpu_model

import vmafkit
from vmafkit.media import ffmpeg as ffm
from vmafkit.media.moments import scene_cuts
from vmafkit.media.sources import describe_source

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "data" / "media"
CLIPS = (
    "bikes_640x272_250f.mp4",
    "box_640x480_456f.mp4",
    "cup_640x480_217f.mp4",
    "seeking_720x480_150f.mp4",
    "bigbuckbunny_1280x720_132f.mp4",
    "carphone_176x144_120f.mp4",
    "cityCC0_720x405_190f.mpg",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    ff = ffm.find_ffmpeg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for clip in CLIPS:
            ref = MEDIA / clip
            dis = Path(tmp) / f"{ref.stem}.crf30.mp4"
            argv = [ff.path, "-nostdin", "-loglevel", "error", "-y", "-i", str(ref), "-map", "0:v:0"]
            argv += [
                "-fps_mode",
                "passthrough",
                "-frames:v",
                str(args.frames),
                "-vf",
                "crop=trunc(iw/2)*2:trunc(ih/2)*2:0:0",
            ]
            subprocess.run([*argv, "-c:v", "libx264", "-crf", "30", "-preset", "veryfast", str(dis)], check=True)
            n = args.frames
            vmaf_s = best_of(args.repeat, lambda ref=ref, dis=dis, n=n: vmafkit.score(ref, dis, max_frames=n))
            found = []
            diag_s = best_of(
                args.repeat,
                lambda ref=ref, dis=dis, n=n, found=found: found.append(vmafkit.diagnose(ref, dis, max_frames=n)),
            )
            ref_src = describe_source(ref, ff=ff)
            shots_s = best_of(args.repeat, lambda ref_src=ref_src, n=n: scene_cuts(ff, ref_src, n))
            dump = Path(tmp) / f"{ref.stem}.dump"
            worst_s = best_of(
                args.repeat,
                lambda ref=ref, dis=dis, n=n, dump=dump: vmafkit.score(
                    ref, dis, max_frames=n, shots=True, worst=5, dump=dump
                ),
            )
            rows.append((clip, vmaf_s, diag_s, shots_s, worst_s, [f.check for f in found[-1].findings]))
    print(
        f"# diagnose and worst moments against a VMAF pass; {args.frames} frames, best of {args.repeat}; {cpu_model()}"
    )
    print(
        "| clip | VMAF pass s | diagnose s | diagnose / pass | shots s | shots / pass | shots+worst 5+dump / pass | findings on the sound pair |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for clip, vmaf_s, diag_s, shots_s, worst_s, findings in rows:
        print(
            f"| {clip} | {vmaf_s:.3f} | {diag_s:.3f} | {diag_s / vmaf_s:.1%} | {shots_s:.3f} | {shots_s / vmaf_s:.1%} | "
            f"{worst_s / vmaf_s - 1:+.1%} | {', '.join(findings) or 'none'} |"
        )


if __name__ == "__main__":
    main()
