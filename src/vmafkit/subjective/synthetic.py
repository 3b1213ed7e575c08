"""A small subjective dataset made from real clips, with a SYNTHETIC score (tests, benchmarks).

No human rated these clips: the score is a made-up function of the encoding level and the content
(`synthetic_score`), so a run on it exercises the whole pipeline (real ffmpeg encodes, real
libvmaf scoring, the models, the statistics) but its numbers say nothing about people. The
dataset file is named `dataset_SYNTHETIC_scores.json` and a README beside it says so.

Each clip is cut to `frames` frames, scaled to at most `width` pixels wide and stored lossless
(FFV1, the reference); each reference is encoded at every cq with an encoder adapter
(`media.encoders`, libx264 by default) through `media.ffmpeg.encode_argv` (the distorted clips).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from vmafkit.errors import InputError
from vmafkit.media import ffmpeg as ffm
from vmafkit.media.encoders import get_adapter
from vmafkit.media.sources import describe_source, source_name

DATASET_NAME = "dataset_SYNTHETIC_scores.json"
README = """SYNTHETIC SUBJECTIVE SCORES - no person rated these clips.

score = clip(5 - 4 * (cq - cq_min) / (cq_max - cq_min) + offset(content), 1, 5), where offset(content)
is a fixed pseudo-random number in [-0.4, 0.4] derived from the content's name. The references are
real clips (cut and scaled, stored lossless as FFV1); the distorted clips are real encodes.
Use it to exercise `vmafkit subjective train`, never to judge a model against people.
"""


def synthetic_score(cq: int, cq_min: int, cq_max: int, content: str) -> float:
    digest = hashlib.sha256(content.encode("utf-8")).digest()
    offset = (int.from_bytes(digest[:4], "big") / 2**32 - 0.5) * 0.8
    span = max(1, cq_max - cq_min)
    return float(min(5.0, max(1.0, 5.0 - 4.0 * (cq - cq_min) / span + offset)))


def _run(argv: list[str], what: Path) -> None:
    result = ffm.run_ffmpeg(argv)
    if result.returncode != 0:
        raise InputError(f"encode failed: {ffm.last_error_line(result.stderr)}", path=what)


def make_synthetic_dataset(
    clips: Sequence[str | Path],
    out_dir: str | Path,
    *,
    cqs: Sequence[int] = (20, 30, 40, 50),
    frames: int = 6,
    width: int = 320,
    encoder: str = "libx264",
    ffmpeg: str | None = None,
) -> Path:
    """Write references, encodes, the dataset file and its README into `out_dir`; returns the dataset path."""
    if not clips or not cqs:
        raise InputError("a synthetic dataset needs clips and cq values")
    ff = ffm.find_ffmpeg(ffmpeg)
    adapter = get_adapter(encoder)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pairs = []
    cq_min, cq_max = min(cqs), max(cqs)
    for clip in clips:
        src = describe_source(clip, ff=ff)
        name = source_name(Path(clip))
        ref = out / f"{name}_ref.mkv"
        if not ref.exists():
            scale = [f"scale=w='min({int(width)},iw)':h=-2", "format=yuv420p"]
            _run(
                ffm.encode_argv(
                    ff,
                    src.input_spec,
                    ref,
                    encoder="ffv1",
                    codec_args=["-level", "3", "-g", "1"],
                    encoder_filters=scale,
                    crop=src.crop,
                    max_frames=frames,
                    threads=1,
                ),
                Path(clip),
            )
        ref_src = describe_source(ref, ff=ff)
        for cq in cqs:
            dis = out / f"{name}_{encoder}_cq{int(cq)}.mp4"
            if not dis.exists():
                args = adapter.args(int(cq), "medium")
                _run(
                    ffm.encode_argv(
                        ff,
                        ref_src.input_spec,
                        dis,
                        encoder=encoder,
                        codec_args=args.codec_args,
                        hw_init=args.hw_init,
                        encoder_filters=args.filters,
                        threads=1,
                    ),
                    ref,
                )
            pairs.append(
                {
                    "ref": ref.name,
                    "dis": dis.name,
                    "content": name,
                    "score": round(synthetic_score(int(cq), cq_min, cq_max, name), 4),
                }
            )
    path = out / DATASET_NAME
    path.write_text(json.dumps(pairs, indent=1) + "\n")
    (out / "README.txt").write_text(README)
    return path
