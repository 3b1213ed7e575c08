"""A small subjective dataset made from real clips, with a SYNTHETIC score (tests, benchmarks), and
a generated feature table (`write_synthetic_table`) for runs that need no video at all.

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


TABLE_FEATURES = ("adm2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3", "motion2")


def write_synthetic_table(path: str | Path, n_contents: int = 10, per: int = 4, seed: int = 0) -> Path:
    """A JSON lines feature table with a SYNTHETIC MOS (no person rated anything): per content a
    random offset, per clip a hidden quality q in [0, 1]; canonical-6-like features that follow q
    (with noise), and a MOS that is a logistic of q plus the content's offset and noise, clipped to
    1-5. Columns: clip, content, mos and TABLE_FEATURES (`--table ... --features` of all six,
    `--target mos --group content --id-column clip`)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n_contents):
        offset = rng.normal(0, 0.15)
        for k in range(per):
            q = rng.uniform(0, 1)
            feats = {
                "adm2": 0.5 + 0.5 * q + rng.normal(0, 0.02),
                "vif_scale0": 0.2 + 0.7 * q**1.5,
                "vif_scale1": 0.3 + 0.6 * q + rng.normal(0, 0.02),
                "vif_scale2": 0.35 + 0.6 * q,
                "vif_scale3": 0.4 + 0.55 * q + rng.normal(0, 0.02),
                "motion2": rng.uniform(0, 20),
            }
            mos = float(np.clip(1 + 4 / (1 + np.exp(-8 * (q - 0.5))) + offset + rng.normal(0, 0.1), 1, 5))
            rows.append(
                {
                    "clip": f"c{c:02d}_{k}",
                    "content": f"c{c:02d}",
                    "mos": round(mos, 5),
                    **{f: round(v, 6) for f, v in feats.items()},
                }
            )
    path = Path(path)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
