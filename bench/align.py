"""What `--align auto`'s search costs beside the VMAF pass it precedes.

    python bench/align.py [--frames 120] [--repeat 3]

Per clip of ../shared/data/media, a distorted version that starts 2 frames late (x264 crf 30,
`tpad=start=2:start_mode=clone`, made once, not timed). Timed, best of --repeat:

- search: what `--align auto` adds: both sides decoded to 64-pixel-wide luma thumbnails
  (`media.align.thumbs`) and the NCC of their temporal differences at every offset of the window
  (`media.align.search`); it also counts the frames, which a plain score does with its own decode;
- VMAF pass: `vmafkit.score` of the aligned pair (`align=2`: forced, no search) on one libvmaf thread;
  like every score, it decodes both sides once more first to count their frames;
- score --align auto: the same score with the search (whose thumbnail decode also counts the frames,
  so it replaces the counting decode).

With `--margins`, the second table the threshold `T.ALIGN_MARGIN_NCC` was chosen from: clips made
k frames late or early at crf 35 and 45 (60 frames), the offset the NCC of temporal differences
picks and its margin over the runner-up (two or more frames away), beside the offset plain frame
PSNR-Y would pick and its margin in dB.

"search / pass" is the search alone against the whole forced score (the conservative figure);
"auto / forced" is what `--align auto` costs a user beyond the same score at a known offset. The
issue's target is at most 15 %.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import tempfile
from pathlib import Path

from benchutil import best_of, cpu_model

import vmafkit
from vmafkit.errors import InputError
from vmafkit.media import ffmpeg as ffm
from vmafkit.media.align import find_offset, follow_steps, pair_psnr, pair_thumbs, search, search_offsets, thumbs
from vmafkit.media.sources import describe_source

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "data" / "media"
CLIPS = ("bikes_640x272_250f.mp4", "cup_640x480_217f.mp4", "seeking_720x480_150f.mp4", "bigbuckbunny_1280x720_132f.mp4")


MARGIN_CLIPS = (*CLIPS, "box_640x480_456f.mp4", "carphone_176x144_120f.mp4")


def shifted(ff: ffm.Ffmpeg, clip: Path, k: int, crf: int, out: Path) -> Path:
    vf = f"tpad=start={k}:start_mode=clone" if k > 0 else f"trim=start_frame={-k},setpts=PTS-STARTPTS"
    argv = [ff.path, "-nostdin", "-loglevel", "error", "-y", "-i", str(clip), "-vf", vf, "-frames:v", "60"]
    subprocess.run([*argv, "-c:v", "libx264", "-crf", str(crf), "-preset", "veryfast", str(out)], check=True)
    return out


def margins(ff: ffm.Ffmpeg, tmp: Path) -> None:
    print("\n| clip | true offset | crf | NCC pick | NCC margin | frame-PSNR pick | PSNR margin dB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for clip in MARGIN_CLIPS:
        ref_src = describe_source(MEDIA / clip, ff=ff)
        ref = thumbs(ff, ref_src, 60)
        for k in (-3, 1, 4):
            for crf in (35, 45):
                dis = thumbs(ff, describe_source(shifted(ff, MEDIA / clip, k, crf, tmp / f"m{k}_{crf}.mp4"), ff=ff), 60)
                offsets = search_offsets(ref_src.fps, len(ref), len(dis))
                found = find_offset(ref, dis, offsets)
                psnr = {j: pair_psnr(ref, dis, j)[0] for j in offsets}
                best = max(psnr, key=lambda j: psnr[j])
                runner = max(v for j, v in psnr.items() if abs(j - best) >= 2)
                print(
                    f"| {clip.split('_')[0]} | {k} | {crf} | {found.offset} | {found.margin:.3f} | {best} | "
                    f"{psnr[best] - runner:.2f} |"
                )


EVENT_CLIPS = (*MARGIN_CLIPS, "cityCC0_720x405_190f.mpg")
EVENT_FRAMES = 80


def decoded(ff: ffm.Ffmpeg, clip: Path, n: int) -> tuple[list[bytes], int, int]:
    """The clip's first n frames as raw yuv420p (every decoded frame once), cropped to even."""
    src = describe_source(clip, ff=ff)
    width, height = src.even_size
    argv = [ff.path, "-nostdin", "-loglevel", "error", "-i", str(clip), "-map", "0:v:0", "-fps_mode", "passthrough"]
    argv += ["-vf", f"crop={width}:{height}:0:0", "-frames:v", str(n), "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"]
    raw = subprocess.run(argv, check=True, capture_output=True).stdout
    size = width * height * 3 // 2
    return [raw[i * size : (i + 1) * size] for i in range(len(raw) // size)], width, height


def edited(ff: ffm.Ffmpeg, frames: list[bytes], size: tuple[int, int], shown: list[int], crf: int, out: Path) -> Path:
    argv = [ff.path, "-nostdin", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p"]
    argv += ["-s", f"{size[0]}x{size[1]}", "-r", "25", "-i", "-", "-c:v", "libx264", "-crf", str(crf)]
    subprocess.run([*argv, "-preset", "veryfast", str(out)], input=b"".join(frames[i] for i in shown), check=True)
    return out


def shown_frames(seed: int, n: int) -> list[int]:
    """REF frames in the order an edited DIS shows them: two drops and two duplicates at random places
    at least 8 frames from either end and 6 apart (the seed's)."""
    rng = random.Random(seed)
    places = sorted(rng.sample(range(8, n - 8, 6), 4))
    kinds = rng.sample(["drop", "drop", "dup", "dup"], 4)
    shown: list[int] = []
    for frame in range(n):
        kind = kinds[places.index(frame)] if frame in places else None
        if kind != "drop":
            shown += [frame, frame] if kind == "dup" else [frame]
    return shown


def truth_vmaf(ff: ffm.Ffmpeg, ref: Path, dis: Path, shown: list[int], tmp: Path) -> float:
    """Mean VMAF of the pairs the edit really made (DIS's repeats skipped), libvmaf by hand."""
    kept = [j for j in range(len(shown)) if j == 0 or shown[j] != shown[j - 1]]
    pick = lambda frames: "+".join(f"eq(n\\,{f})" for f in frames)  # noqa: E731
    log = tmp / "truth.json"
    graph = (
        f"[0:v]select={pick(kept)},setpts=N/25/TB[d];[1:v]select={pick([shown[j] for j in kept])},"
        f"setpts=N/25/TB,format=yuv420p[r];[d][r]libvmaf=log_fmt=json:log_path={log}"
    )
    argv = [
        ff.path,
        "-nostdin",
        "-loglevel",
        "error",
        "-i",
        str(dis),
        "-i",
        str(ref),
        "-lavfi",
        graph,
        "-f",
        "null",
        "-",
    ]
    subprocess.run(argv, check=True)
    return float(json.loads(log.read_text())["pooled_metrics"]["vmaf"]["mean"])


def events(ff: ffm.Ffmpeg, tmp: Path, seeds: int) -> None:
    """The drop/duplicate table: per clip and crf, `seeds` edited encodes and one clean encode."""
    print(
        f"\n# drops and duplicates, --align auto; {EVENT_FRAMES} frames, 2 drops + 2 duplicates per edit; {cpu_model()}"
    )
    print(
        "| clip | crf | edits found exactly | refused | events missed | events misplaced | pairs off | "
        "VMAF error (auto vs true pairs) | VMAF error without --align | clean pair: false events |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for clip in EVENT_CLIPS:
        frames, width, height = decoded(ff, MEDIA / clip, EVENT_FRAMES)
        reference = tmp / "ref.y4m"  # the frames as the edits saw them (even crop), losslessly
        edited_raw = [ff.path, "-nostdin", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "yuv420p"]
        subprocess.run([*edited_raw, "-s", f"{width}x{height}", "-r", "25", "-i", "-", str(reference)],
                       input=b"".join(frames), check=True)  # fmt: skip
        ref = thumbs(ff, describe_source(reference, ff=ff), None)
        for crf in (30, 38, 45):
            exact = refused = missed = misplaced = off = 0
            auto_err: list[float] = []
            naive_err: list[float] = []
            for seed in range(seeds):
                shown = shown_frames(seed, len(frames))
                dis_path = edited(ff, frames, (width, height), shown, crf, tmp / f"e{seed}.mp4")
                dis = thumbs(ff, describe_source(dis_path, ff=ff), None)
                truth = (
                    sorted(set(range(len(frames))) - set(shown)),
                    [j for j in range(1, len(shown)) if shown[j] == shown[j - 1]],
                )
                true_mean = truth_vmaf(ff, reference, dis_path, shown, tmp)
                n = min(len(frames), len(shown))
                naive_err.append(abs(vmafkit.score(reference, dis_path, max_frames=n).mean["vmaf"] - true_mean))
                try:
                    found = follow_steps(ref, dis, search(ref, dis, 25.0, where=dis_path), where=dis_path)
                except InputError:
                    refused += 1
                    continue
                got = found.drops_and_duplicates(len(ref), len(dis))
                exact += got == truth and found.offset == 0
                for true_events, found_events in zip(truth, got):
                    missed += sum(1 for e in true_events if all(abs(e - g) > 2 for g in found_events))
                    misplaced += sum(
                        1 for e in true_events if e not in found_events and any(abs(e - g) <= 2 for g in found_events)
                    )
                ref_of, dis_of = found.paired_frames(len(ref), len(dis))
                off += sum(1 for m, j in zip(ref_of, dis_of) if shown[j] != m)
                auto_err.append(abs(vmafkit.score(reference, dis_path, align="auto").mean["vmaf"] - true_mean))
            clean_path = edited(ff, frames, (width, height), list(range(len(frames))), crf, tmp / "clean.mp4")
            clean = thumbs(ff, describe_source(clean_path, ff=ff), None)
            try:
                found = follow_steps(ref, clean, search(ref, clean, 25.0, where=clean_path), where=clean_path)
                false_event = int(bool(found.steps) or found.offset != 0)
            except InputError:
                false_event = 0  # refused: no score, but no false claim either
            mean = lambda values: f"{sum(values) / len(values):.2f}" if values else "n/a"  # noqa: E731
            print(
                f"| {clip.split('_')[0]} | {crf} | {exact}/{seeds} | {refused}/{seeds} | {missed} | {misplaced} | {off} | "
                f"{mean(auto_err)} | {mean(naive_err)} | {false_event}/1 |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--margins", action="store_true", help="also the table of margins the threshold comes from")
    parser.add_argument("--events", type=int, default=0, metavar="SEEDS", help="also the drop/duplicate table")
    args = parser.parse_args()
    ff = ffm.find_ffmpeg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for clip in CLIPS:
            ref = MEDIA / clip
            dis = Path(tmp) / f"{clip}.late2.mp4"
            argv = [
                ff.path,
                "-nostdin",
                "-loglevel",
                "error",
                "-y",
                "-i",
                str(ref),
                "-vf",
                "tpad=start=2:start_mode=clone",
            ]
            argv += ["-frames:v", str(args.frames), "-c:v", "libx264", "-crf", "30", "-preset", "veryfast", str(dis)]
            subprocess.run(argv, check=True)
            ref_src, dis_src = describe_source(ref, ff=ff), describe_source(dis, ff=ff)
            found = []

            def search_once(ref_src=ref_src, dis_src=dis_src, found=found) -> None:
                r, d = pair_thumbs(ff, ref_src, dis_src, args.frames)
                whole = search(r, d, ref_src.fps, where=dis_src.path)
                found.append(follow_steps(r, d, whole, where=dis_src.path))

            search_s = best_of(args.repeat, search_once)
            n = args.frames - 2
            vmaf_s = best_of(args.repeat, lambda ref=ref, dis=dis, n=n: vmafkit.score(ref, dis, align=2, max_frames=n))
            auto_s = best_of(
                args.repeat, lambda ref=ref, dis=dis, n=n: vmafkit.score(ref, dis, align="auto", max_frames=n)
            )
            rows.append((clip, found[-1].offset, search_s, vmaf_s, auto_s))
    print(f"# --align auto's search against a VMAF pass; {args.frames} frames, best of {args.repeat}; {cpu_model()}")
    print("| clip | offset found | search s | forced score s | auto score s | search / pass | auto / forced |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for clip, offset, search_s, vmaf_s, auto_s in rows:
        print(
            f"| {clip} | {offset} | {search_s:.3f} | {vmaf_s:.3f} | {auto_s:.3f} | {search_s / vmaf_s:.1%} | "
            f"{auto_s / vmaf_s - 1:+.1%} |"
        )
    if args.margins:
        with tempfile.TemporaryDirectory() as tmp:
            margins(ff, Path(tmp))
    if args.events:
        with tempfile.TemporaryDirectory() as tmp:
            events(ff, Path(tmp), args.events)


if __name__ == "__main__":
    main()
