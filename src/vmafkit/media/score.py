"""Score a distorted stream against its reference, frame by frame, with real libvmaf.

Two back-ends give the same numbers: ffmpeg's `libvmaf` filter (default; decode and score in
one process) and a standalone libvmaf `vmaf` CLI (`vmafcli.py`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vmafkit import thresholds as T
from vmafkit.errors import InputError
from vmafkit.media import ffmpeg as ffm
from vmafkit.media import libvmaf, moments, pooling
from vmafkit.media.align import (
    AUTO,
    Alignment,
    follow_steps,
    listed_frames,
    pair_thumbs,
    parse_align,
    search,
    search_window,
)
from vmafkit.media.diagnose import metadata_findings
from vmafkit.media.libvmaf import CANONICAL6, TARGET, parse_libvmaf_log
from vmafkit.media.sources import Source, bit_depth_of, describe_source, refuse_hdr

BACKEND_FFMPEG = "ffmpeg-libvmaf"
BACKEND_VMAF_CLI = "vmaf-cli"
FRAME_KEYS = ("frame_index", TARGET, *CANONICAL6)  # a v0.6.1-family model's rows


@dataclass
class PairScore:
    """Per-frame vmaf and the model's feature set (the canonical-6 for v0.6.1), and their per-clip
    means."""

    frames: list[dict[str, float]]
    mean: dict[str, float]
    backend: str
    libvmaf_version: str | None
    meta: dict[str, Any] = field(default_factory=dict)
    pooled: dict[str, float] = field(default_factory=dict)  # the clip's vmaf by each asked pool

    def to_json(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "mean": self.mean,
            **({"pooled": {TARGET: self.pooled}} if self.pooled else {}),
            "backend": self.backend,
            "libvmaf_version": self.libvmaf_version,
            **self.meta,
        }


def frame_columns(metrics: Sequence[str] = (), vmaf_model: str = libvmaf.DEFAULT_MODEL) -> tuple[str, ...]:
    """The keys of every per-frame row, in order: frame_index, vmaf, the model's feature set, then
    the metrics' columns."""
    model = libvmaf.get_model(vmaf_model)
    return ("frame_index", TARGET, *model.columns, *libvmaf.metric_columns(metrics))


def clip_means(frames: list[dict[str, float]]) -> dict[str, float]:
    """Per-clip arithmetic means of every per-frame column but frame_index."""
    keys = [key for key in frames[0] if key != "frame_index"] if frames else []
    return {k: sum(f[k] for f in frames) / len(frames) for k in keys}


def run_libvmaf(ff: ffm.Ffmpeg, job: ffm.ScoreJob) -> list[dict[str, float]]:
    """One ffmpeg process decodes both streams and scores them; returns per-frame rows (every
    `subsample`-th frame, keeping its true frame_index)."""
    job.check_scored_size()
    with tempfile.TemporaryDirectory(prefix="vmafkit-score-") as tmp:
        log_path = Path(tmp) / "vmaf.json"
        argv = ffm.score_argv(ff, job, log_path)
        result = ffm.run_ffmpeg(argv)
        if result.returncode != 0 or not log_path.exists():
            raise InputError(f"libvmaf scoring failed: {ffm.last_error_line(result.stderr)}", path=job.where)
        try:
            data = json.loads(log_path.read_text())
        except json.JSONDecodeError:
            raise InputError("libvmaf wrote an unreadable log", path=job.where) from None
        frames = parse_libvmaf_log(data, job.where, vmaf_model=job.vmaf_model, metrics=job.metrics)
        if libvmaf.filter_metrics(job.metrics):
            stats_path = ffm.xpsnr_stats_path(log_path)
            text = stats_path.read_text() if stats_path.is_file() else ""
            xpsnr = libvmaf.parse_xpsnr_stats(text, job.where)
            for frame in frames:
                index = int(frame["frame_index"])
                if index not in xpsnr:
                    raise InputError(f"xpsnr gave no value for frame {index}", path=job.where)
                frame.update(xpsnr[index])
    return frames


@dataclass(frozen=True)
class PairGeometry:
    """How the two sides of a pair are brought to one size before scoring: each side's own crop to
    even (Source.crop), then these resizes; `notes` say what was done that the user did not ask for."""

    size: tuple[int, int]  # the size both sides are scored at
    ref_size: tuple[int, int]
    dis_size: tuple[int, int]
    ref_scale: list[str]
    dis_scale: list[str]
    scale_filter: str | None  # the resize algorithm, when a side is resized
    notes: list[str]

    def to_json(self) -> dict[str, Any]:
        """What the score output records beyond the scored size (nothing for a same-size pair)."""
        out: dict[str, Any] = {}
        if self.scale_filter is not None:
            out.update(
                scale_filter=self.scale_filter,
                ref_width=self.ref_size[0],
                ref_height=self.ref_size[1],
                dis_width=self.dis_size[0],
                dis_height=self.dis_size[1],
            )
        if self.notes:
            out["notes"] = list(self.notes)
        return out


def pair_geometry(
    ref: Source,
    dis: Source,
    *,
    scale: str | None = None,
    resolution: tuple[int, int] | None = None,
    where: str | Path | None = None,
) -> PairGeometry:
    """The scored size and each side's resize (see `score_pair`), or an InputError naming DIS."""
    ref_w, ref_h = ref.even_size
    dis_w, dis_h = dis.even_size
    ref_size, dis_size = (ref.width, ref.height), (dis.width, dis.height)
    if resolution is not None:
        check_resolution(resolution)
        flags = scale or ffm.DEFAULT_SCALE_FILTER
        ref_scale = ffm.scale_filter(ref_w, ref_h, *resolution, flags)
        dis_scale = ffm.scale_filter(dis_w, dis_h, *resolution, flags)
        used = flags if ref_scale or dis_scale else None
        return PairGeometry((resolution[0], resolution[1]), ref_size, dis_size, ref_scale, dis_scale, used, [])
    if (ref_w, ref_h) == (dis_w, dis_h):
        notes = []
        if ref_size != dis_size:
            cropped = [f"{side} {s.width}x{s.height}" for side, s in (("reference", ref), ("distorted", dis)) if s.crop]
            notes.append(
                f"{' and '.join(cropped)} cropped top-left to {ref_w}x{ref_h} to match the other side, as the corpus "
                "scores an odd-size source against its encode"
            )
        return PairGeometry((ref_w, ref_h), ref_size, dis_size, [], [], None, notes)
    if scale is None:
        raise InputError(
            f"size {dis.width}x{dis.height} differs from the reference's {ref.width}x{ref.height}; pass --scale "
            f"{ffm.DEFAULT_SCALE_FILTER} to upscale it to the reference's size (libvmaf's documented procedure) "
            "or --resolution WxH to score both at one size",
            path=where or dis.path,
        )
    dis_scale = ffm.scale_filter(dis_w, dis_h, ref_w, ref_h, scale)
    return PairGeometry((ref_w, ref_h), ref_size, dis_size, [], dis_scale, scale, [])


def check_resolution(resolution: tuple[int, int]) -> None:
    """A scoring resolution is even on both axes (4:2:0 video is scored at even sizes) and big enough for libvmaf."""
    width, height = resolution
    if width % 2 or height % 2:
        raise InputError(f"--resolution {width}x{height}: width and height must be even")
    ffm.check_scorable_size(width, height)


@dataclass(frozen=True)
class AlignedPairs:
    """What `--align` pairs: the REF and DIS frames of the pairs to score (at most `max_frames`),
    the drops and duplicates among them, and notes on those and on the frames left without a partner."""

    alignment: Alignment
    ref_frames: list[int]
    dis_frames: list[int]
    dropped: list[int]  # REF frames missing from DIS within the scored pairs
    duplicated: list[int]  # DIS frames repeating the one before within the scored pairs
    notes: list[str]


def _aligned(
    ff: ffm.Ffmpeg, ref: Source, dis: Source, align: str | int, max_frames: int | None, scored: tuple[int, int]
) -> AlignedPairs:
    choice = parse_align(align)
    if choice is None:
        raise InputError("internal: _aligned called without an alignment")
    # the frames past --max-frames the search can reach: ALIGN_WINDOW_S of them, at most ALIGN_MAX_FRAMES
    reach = None if max_frames is None else max_frames + search_window(ref.fps, T.ALIGN_MAX_FRAMES, 0)
    if choice == AUTO:  # the thumbnails' decode counts the frames too
        ref_thumbs, dis_thumbs = pair_thumbs(ff, ref, dis, reach, scored)
        n_ref, n_dis = len(ref_thumbs), len(dis_thumbs)
        alignment = search(ref_thumbs, dis_thumbs, ref.fps, where=dis.path)
        alignment = follow_steps(ref_thumbs, dis_thumbs, alignment, where=dis.path)
    else:
        n_ref, n_dis = count_frames(ff, ref, reach), count_frames(ff, dis, reach)
        alignment = Alignment(offset=int(choice), forced=True)
    ref_frames, dis_frames = alignment.paired_frames(n_ref, n_dis)
    if not ref_frames:
        raise InputError(f"no frame pairs left at offset {alignment.offset}", path=dis.path)
    notes = []
    dropped, duplicated = alignment.drops_and_duplicates(n_ref, n_dis)
    if max_frames is not None and len(ref_frames) > max_frames:  # only what the scored pairs span
        dropped = [m for m in dropped if m < ref_frames[max_frames - 1]]
        duplicated = [j for j in duplicated if j < dis_frames[max_frames - 1]]
    if dropped or duplicated:
        notes.append(
            f"{len(dropped)} reference frames are missing from the distorted video (dropped: {listed_frames(dropped)}) "
            f"and {len(duplicated)} distorted frames repeat the one before (duplicated: {listed_frames(duplicated)}); "
            "the pairs skip them"
        )
    if max_frames is not None:
        ref_frames, dis_frames = ref_frames[:max_frames], dis_frames[:max_frames]
    else:
        unpaired_ref, unpaired_dis = n_ref - len(ref_frames) - len(dropped), n_dis - len(dis_frames) - len(duplicated)
        if unpaired_ref or unpaired_dis:
            notes.append(
                f"aligned at offset {alignment.offset}: {unpaired_ref} reference and {unpaired_dis} distorted "
                "frames at the ends have no partner and are not scored"
            )
    return AlignedPairs(alignment, ref_frames, dis_frames, dropped, duplicated, notes)


@functools.lru_cache(maxsize=256)
def _model_fits(ff: ffm.Ffmpeg, vmaf_model: str, width: int, height: int) -> str | None:
    """None when libvmaf scores a WxH frame with the model; else its last error line."""
    result = ffm.run_ffmpeg(ffm.model_fit_probe_argv(ff, vmaf_model, width, height), timeout=120)
    if result.returncode == 0:
        return None
    return ffm.failure_note("ffmpeg", result.returncode, result.stderr or "") or ffm.last_error_line(result.stderr)


def check_model_fits(ff: ffm.Ffmpeg, vmaf_model: str, width: int, height: int, *, path: str | Path) -> None:
    """Refuse, before any encode or scoring, a model that cannot score frames of WxH at all (VMAF
    v1's SpEED and CAMBI below a size that depends on both sides: measured, 640x350 scores with
    3d0h_2160 and 640x272 does not), by scoring one synthetic frame of that size. Models without a
    size limit (the v0.6.1 family) are not probed."""
    model = libvmaf.get_model(vmaf_model)
    if model.smallest_16_9 is None:
        return
    failure = _model_fits(ff, model.name, int(width), int(height))
    if failure is not None:
        least_w, least_h = model.smallest_16_9
        raise InputError(
            f"{model.name} cannot score {width}x{height} frames (libvmaf on a test frame of that size: {failure}); "
            f"{least_w}x{least_h} is the smallest 16:9 size measured to work: score at a larger --resolution or "
            "with a v0.6.1 model",
            path=path,
        )


def count_frames(ff: ffm.Ffmpeg, source: Source, max_frames: int | None = None) -> int:
    """Frames a source decodes to (known from the size for raw / y4m, decoded otherwise)."""
    if source.frames is not None:
        return min(source.frames, max_frames) if max_frames else source.frames
    result = ffm.run_ffmpeg(ffm.count_frames_argv(ff, source.input_spec, max_frames))
    if result.returncode != 0:
        raise InputError(f"cannot decode: {ffm.last_error_line(result.stderr)}", path=source.path)
    return ffm.progress_frames(result.stdout)


def score_pair(
    ref: str | Path,
    dis: str | Path,
    *,
    width: int | None = None,
    height: int | None = None,
    pix_fmt: str | None = None,
    fps: float | None = None,
    max_frames: int | None = None,
    ffmpeg: str | None = None,
    vmaf_bin: str | None = None,
    threads: int = 1,
    vmaf_model: str = ffm.VMAF_MODEL,
    metrics: Sequence[str] = (),
    subsample: int = 1,
    scale: str | None = None,
    resolution: tuple[int, int] | None = None,
    pools: Sequence[str] = pooling.DEFAULT_POOLS,
    hdr_as_sdr: bool = False,
    align: str | int | None = None,
    shots: bool = False,
    worst: int | None = None,
    dump: str | Path | None = None,
) -> PairScore:
    """Score DIS against REF. Geometry flags apply to raw inputs that lack it in their names.

    Both inputs must decode to the same number of frames (after `max_frames`). Sizes (`pair_geometry`):
    the same, or the same once both are cropped to even (the corpus's odd-size case), or DIS scaled
    to REF's size with the `scale` filter, or both scaled to `resolution`; anything else is an
    error, never a silently misaligned score. `vmaf_model` (libvmaf.MODELS) gives the score and the
    canonical-6, `metrics` (libvmaf.METRICS) add their columns, and with `subsample` N only frames
    0, N, 2N, ... are scored, in the same pass. `pools` (`media.pooling`) give the clip's vmaf
    pooled those ways (`.pooled`). A side tagged PQ or HLG is refused unless `hdr_as_sdr`; a range
    or matrix that differs between the sides is a note. `align` ("auto", an offset in frames, or
    None: off): pair the sides' frames at the offset `media.align` finds (or is given) instead of
    frame by frame; the pairs then run while both sides have frames (at most `max_frames`), and
    `.meta["alignment"]` says the offset and how sure the search was. `shots` splits the pairs at
    the reference's scene cuts and pools each shot (`media.moments`), `worst` N names the N worst
    frames (and shots, with `shots`), and `dump` writes those frames' pictures, side by side, into
    that folder (the 5 worst when `worst` is not given): all in `.meta["moments"]`.
    """
    libvmaf.get_model(vmaf_model)  # refuse a bad name before any work
    pools = pooling.parse_pools(pools)
    metrics = libvmaf.parse_metrics(metrics)
    if vmaf_bin:
        libvmaf.check_vmaf_cli_metrics(metrics)
    libvmaf.check_subsample(subsample)
    if dump is not None and worst is None:
        worst = T.WORST_DUMP_DEFAULT
    if worst is not None:
        moments.check_worst(worst)
    dump_dir = moments.check_dump_dir(dump, moments.DUMP_PAGE) if dump is not None else None
    ff = ffm.find_ffmpeg(ffmpeg)
    ref_src = describe_source(ref, ff=ff, width=width, height=height, pix_fmt=pix_fmt, fps=fps)
    dis_src = describe_source(dis, ff=ff, width=width, height=height, pix_fmt=pix_fmt, fps=fps)
    for side in (ref_src, dis_src):
        refuse_hdr(side, vmaf_model, hdr_as_sdr)
    geometry = pair_geometry(ref_src, dis_src, scale=scale, resolution=resolution, where=dis)
    cropped_from = (ref_src.width, ref_src.height) if geometry.size == ref_src.even_size else None
    ffm.check_scorable_size(*geometry.size, path=ref, source_size=cropped_from)
    libvmaf.check_metric_sizes(metrics, *geometry.size, path=ref)
    paired = None if align is None else _aligned(ff, ref_src, dis_src, align, max_frames, geometry.size)
    if paired is None:
        n_ref, n_dis = count_frames(ff, ref_src, max_frames), count_frames(ff, dis_src, max_frames)
    else:
        n_ref = n_dis = len(paired.ref_frames)
    if n_ref == 0:
        raise InputError("reference has no decodable frames", path=ref)
    if n_ref != n_dis:
        raise InputError(
            f"has {n_dis} frames but the reference has {n_ref} (if it is offset or trimmed, try --align auto)", path=dis
        )
    model = libvmaf.get_model(vmaf_model)
    compare_fmt = ffm.scoring_pix_fmt(ref_src.pix_fmt, model.bit_depth)
    encode = (
        libvmaf.EncodeSide.of(dis_src.width, dis_src.height, bit_depth_of(dis_src.pix_fmt)) if model.is_v1 else None
    )
    # the same pair, the same options: both back-ends give the same numbers
    job = ffm.ScoreJob(
        dis_src.input_spec, ref_src.input_spec, compare_fmt,
        ref_crop=ref_src.crop, dis_crop=dis_src.crop, ref_scale=geometry.ref_scale, dis_scale=geometry.dis_scale,
        max_frames=n_ref if paired is not None else max_frames,
        ref_frames=ffm.frame_ranges(paired.ref_frames) if paired else (), dis_frames=ffm.frame_ranges(paired.dis_frames) if paired else (),
        threads=threads, vmaf_model=vmaf_model, metrics=metrics, subsample=subsample,
        what=str(dis), encode=encode,
    )  # fmt: skip
    try:
        if vmaf_bin:
            from vmafkit.media.vmafcli import score_with_vmaf_cli

            frames = score_with_vmaf_cli(vmaf_bin, ff, job)
            backend, version = BACKEND_VMAF_CLI, None
        else:
            frames = run_libvmaf(ff, job)
            backend, version = BACKEND_FFMPEG, ff.libvmaf_version
    except InputError as exc:
        hint = libvmaf.too_small_hint(model, *geometry.size)
        if hint is None:
            raise
        raise InputError(f"{exc}; {hint}") from None
    expected = libvmaf.scored_frames(n_ref, subsample)
    if len(frames) != expected:
        raise InputError(f"libvmaf scored {len(frames)} frames, expected {expected}", path=dis)
    width, height = geometry.size
    meta = {
        "ref": str(ref),
        "dis": str(dis),
        "width": width,
        "height": height,
        "pix_fmt": compare_fmt,
        "ffmpeg_version": ff.version,
        "vmaf_model": vmaf_model,
        "feature_set": model.feature_set,
        libvmaf.RECIPE_KEY: libvmaf.recipe_id(
            libvmaf.scoring_recipe(vmaf_model, metrics, subsample, geometry.scale_filter, hdr_as_sdr)
        ),
        **({"encode": dataclasses.asdict(encode)} if encode is not None else {}),
        "metrics": list(metrics),
        "subsample": subsample,
        "colour": {"ref": ref_src.colour.to_json(), "dis": dis_src.colour.to_json()},
        **({"hdr_as_sdr": True} if hdr_as_sdr else {}),
        **geometry.to_json(),
    }
    # the colour tags' notes, and the other causes of a wrong score the streams' descriptions show
    # (`media.diagnose`; a size mismatch is refused or resized above)
    notes = [f.line for f in metadata_findings(ref_src, dis_src, ff) if f.check not in ("size",)]
    if paired is not None:
        meta["alignment"] = paired.alignment.to_json(paired.dropped, paired.duplicated)
        notes.extend(paired.notes)
    if encode is not None and encode.width is None:
        least_w, least_h = libvmaf.CAMBI_ENCODE_MIN
        notes.append(
            f"the distorted clip was encoded at {dis_src.width}x{dis_src.height}, below the {least_w}x{least_h} "
            f"libvmaf's CAMBI takes as an encode size: {model.name}'s CAMBI is told the encode's bit depth only "
            "and judges the frames at the scored size"
        )
    if notes:
        meta["notes"] = [*meta.get("notes", []), *notes]
    if shots or worst is not None:
        pairing = moments.Pairing(paired.ref_frames, paired.dis_frames) if paired else moments.Pairing.identity(n_ref)
        meta["moments"] = moments.worst_moments(
            ff, ref_src, job, frames, pairing, with_shots=shots, worst=worst, dump=dump_dir, pools=pools
        )
    return PairScore(
        frames=frames,
        mean=clip_means(frames),
        backend=backend,
        libvmaf_version=version,
        meta=meta,
        pooled=pooling.pooled([f[TARGET] for f in frames], pools),
    )
