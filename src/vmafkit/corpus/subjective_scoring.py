"""Score every pair of a subjective dataset with libvmaf, cached per pair, pooled per clip.

Scoring is `media.score.score_pair` (the same checks and ffmpeg argv as `vmafkit score`: geometry
from flags or names, equal frame counts and sizes, odd 4:2:0 sizes cropped to even). Each scored
pair is stored atomically in a content-addressed cache, like the corpus's cells
(`corpus.build`): its file name carries a hash of everything that determines the numbers (sha256
of both files' bytes, the geometry given, the ffmpeg and libvmaf versions, the back-end, the model,
the frame limit, and `--scale` and `--align` when given), so a re-run skips every pair already
scored, a half-written entry is never taken as done (atomic rename), and an interrupted run
resumes pair by pair. A cache entry that does not parse, or whose recorded identity differs, is
discarded and scored again. The cache is `OUT/.vmafkit-cache/pairs/` unless `--cache-dir` names
another (several runs may share one).

With `--align` (auto or N) each pair's frames are paired at an offset, as `vmafkit score --align`
pairs them (`media.align`); the offset found (and where it steps) is kept in the cache entry and in
the report's input block. A pair `auto` cannot align convincingly is refused, naming its distorted
file: never pooled at a guessed offset.

Pooling: one row per clip = the **arithmetic mean over frames** of each canonical-6 feature and of
libvmaf's per-frame v0.6.1 score (libvmaf's own default pooling, and how VMAF's models were
trained: per-clip mean features).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vmafkit.corpus.build import sweep_cache_litter
from vmafkit.corpus.schema import CANONICAL6, TARGET
from vmafkit.corpus.subjective_dataset import Pair, item_ids
from vmafkit.corpus.subjective_items import Items
from vmafkit.errors import InputError
from vmafkit.io import atomic_write_json, identity_hash, read_json, sha256_file
from vmafkit.media import ffmpeg as ffm
from vmafkit.media.align import parse_align
from vmafkit.media.score import BACKEND_FFMPEG, BACKEND_VMAF_CLI, score_pair
from vmafkit.parallel.executor import LocalExecutor, usable_cores

CACHE_SCHEMA = "vmafkit-subjective-pair-v1"
POOLING = "mean over frames (canonical-6 and libvmaf's per-frame v0.6.1 score)"


@dataclass
class ScoredPair:
    pair: Pair
    mean: dict[str, float]
    n_frames: int
    cached: bool
    cache_file: Path
    alignment: dict[str, Any] | None = None  # with --align: `media.align.Alignment.to_json()` of the pair


def pair_identity(
    pair: Pair,
    ref_sha: str,
    dis_sha: str,
    ff: ffm.Ffmpeg,
    *,
    backend: str,
    max_frames: int | None,
    scale_filter: str | None = None,
    align: str | int | None = None,
) -> dict[str, Any]:
    # a scale filter or an alignment joins the identity only when given: the cache of runs without
    # one stays valid
    scaled = {"scale_filter": scale_filter} if scale_filter is not None else {}
    aligned = {"align": align} if align is not None else {}
    return {
        **scaled,
        **aligned,
        "schema": CACHE_SCHEMA,
        "ref_sha256": ref_sha,
        "dis_sha256": dis_sha,
        "geometry": pair.geometry,
        "ffmpeg_version": ff.version,
        "libvmaf_version": ff.libvmaf_version if backend == BACKEND_FFMPEG else None,
        "backend": backend,
        "vmaf_model": ffm.VMAF_MODEL,
        "max_frames": max_frames,
    }


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:60] or "clip"


def load_cached(path: Path, identity: dict[str, Any]) -> dict[str, Any] | None:
    """A cache entry's JSON when present, whole and of this identity; a bad one is removed."""
    if not path.is_file():
        return None
    try:
        data = read_json(path, what="pair cache entry")
        ok = (
            isinstance(data, dict)
            and data.get("identity") == identity
            and isinstance(data.get("frames"), list)
            and data["frames"]
            and isinstance(data.get("mean"), dict)
            and all(isinstance(data["mean"].get(k), (int, float)) for k in (TARGET, *CANONICAL6))
            and ("align" not in identity or isinstance(data.get("alignment"), dict))
        )
    except InputError:
        ok = False
    if not ok:
        path.unlink(missing_ok=True)
        return None
    return data


def score_pairs(
    pairs: Sequence[Pair],
    cache_dir: str | Path,
    *,
    ffmpeg: str | None = None,
    vmaf_bin: str | None = None,
    jobs: int | None = None,
    max_frames: int | None = None,
    progress: bool = False,
    scale_filter: str | None = None,
    align: str | int | None = None,
) -> list[ScoredPair]:
    """Score (or load from the cache) every pair; results in the order of `pairs`. `align`: "auto",
    an offset in frames, or None / "off" (frame by frame), as `media.score.score_pair` takes it."""
    if max_frames is not None and max_frames < 1:
        raise InputError(f"--max-frames must be at least 1, got {max_frames}")
    align = parse_align(align)
    ff = ffm.find_ffmpeg(ffmpeg)
    backend = BACKEND_VMAF_CLI if vmaf_bin else BACKEND_FFMPEG
    cache = Path(cache_dir).absolute()
    cache.mkdir(parents=True, exist_ok=True)
    sweep_cache_litter(cache)  # temp files of killed writers (never one a live run is writing)
    digests: dict[Path, str] = {}

    def digest(path: Path) -> str:
        key = path.resolve()
        if key not in digests:
            digests[key] = sha256_file(key)
        return digests[key]

    plans = []
    for pair in pairs:
        identity = pair_identity(
            pair,
            digest(pair.ref),
            digest(pair.dis),
            ff,
            backend=backend,
            max_frames=max_frames,
            scale_filter=scale_filter,
            align=align,
        )
        plans.append((pair, identity, cache / f"{_safe(pair.name)}__{identity_hash(identity)}.json"))
    jobs = max(1, min(jobs or usable_cores(), len(plans)))
    threads = max(1, usable_cores() // jobs)
    done = 0

    def work(index: int) -> ScoredPair:
        pair, identity, path = plans[index]
        cached = load_cached(path, identity)
        if cached is not None:
            mean = {k: float(v) for k, v in cached["mean"].items()}
            return ScoredPair(pair, mean, len(cached["frames"]), True, path, cached.get("alignment"))
        try:
            scored = score_pair(
                pair.ref,
                pair.dis,
                **pair.geometry,
                max_frames=max_frames,
                ffmpeg=ff.path,
                vmaf_bin=vmaf_bin,
                threads=threads,
                scale=scale_filter,
                align=align,
            )
        except InputError as exc:
            raise InputError(f"{pair.where}: {exc}") from None
        data = {
            "identity": identity,
            "ref": str(pair.ref),
            "dis": str(pair.dis),
            "frames": scored.frames,
            "mean": scored.mean,
            "backend": scored.backend,
            "libvmaf_version": scored.libvmaf_version,
            "pooling": POOLING,
        }
        alignment = scored.meta.get("alignment")
        if alignment is not None:
            data["alignment"] = alignment
        atomic_write_json(path, data)
        return ScoredPair(pair, dict(scored.mean), len(scored.frames), False, path, alignment)

    results: dict[int, ScoredPair] = {}
    for index, result in LocalExecutor(jobs).map_unordered(work, range(len(plans))):
        results[index] = result
        done += 1
        if progress:
            state = "cached" if result.cached else f"{result.n_frames} frames"
            print(f"subjective: scored {done}/{len(plans)} {result.pair.name} ({state})", file=sys.stderr, flush=True)
    return [results[i] for i in range(len(plans))]


def items_from_scores(
    scored: Sequence[ScoredPair], dataset_path: str | Path, *, align: str | int | None = None
) -> Items:
    """One item per pair: the pooled canonical-6, the subjective score, the content, libvmaf's score.
    With `align` (what the pairs were scored with) the source says it and each item's offset."""
    pairs = [s.pair for s in scored]
    ids = item_ids(pairs)
    align = parse_align(align)
    aligned: dict[str, Any] = {}
    if align is not None:
        offsets = [_offsets(item_id, s.alignment) for item_id, s in zip(ids, scored)]
        aligned = {"alignment": {"align": align, "items": offsets}}
    features = np.array([[s.mean[k] for k in CANONICAL6] for s in scored], dtype=np.float64).reshape(len(scored), 6)
    std = [p.score_std for p in pairs]
    obs = [p.n_obs for p in pairs]
    return Items(
        ids=ids,
        features=features,
        feature_names=CANONICAL6,
        target=np.array([p.score for p in pairs], dtype=np.float64),
        groups=np.array([p.content for p in pairs], dtype=str),
        vmaf=np.array([s.mean[TARGET] for s in scored], dtype=np.float64),
        score_std=np.array([np.nan if v is None else v for v in std], dtype=np.float64)
        if any(v is not None for v in std)
        else None,
        n_obs=np.array([0 if v is None else v for v in obs], dtype=np.int64)
        if any(v is not None for v in obs)
        else None,
        source={
            "kind": "dataset",
            "path": str(dataset_path),
            "sha256": sha256_file(dataset_path),
            "n_frames": [s.n_frames for s in scored],
            "scored_now": sum(1 for s in scored if not s.cached),
            "from_cache": sum(1 for s in scored if s.cached),
            **aligned,
        },
        pooling=POOLING,
    ).check()


def _offsets(item_id: str, alignment: dict[str, Any] | None) -> dict[str, Any]:
    """An item's offset, for the report: where its distorted frames sit against the reference's."""
    if alignment is None:
        raise InputError(f"internal: item {item_id} was scored without its alignment")
    keys = ("offset", "forced", "margin", "steps")
    return {"id": item_id, **{k: alignment.get(k) for k in keys}}
