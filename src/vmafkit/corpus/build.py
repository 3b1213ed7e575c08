"""Build the per-frame corpus: every (source, encoder, preset, cq) cell encoded and scored.

With a resolution ladder (`resolutions`), each cell is also encoded at every rung below the
source's height (aspect kept, even sizes) and scored scaled back up to the source's size, the way
streaming ladders are scored; a rung is part of the cell's identity and its rows' `width`/`height`.

A finished cell is stored atomically in a content-addressed cache (its name is a hash of
everything that determines its rows), so a re-run skips it, a half-written cell is never taken
as done, and killing the run at any moment loses nothing already finished.

Each cell works in a `.cell-*` folder of the cache, holding an flock on the `.lock` file inside it
for as long as it works. A build first removes the work folders of killed builds, i.e. those whose
lock it can take (never one a live build, sharing the cache, still holds), and the temp files a
killed writer left in the cache.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import glob
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vmafkit import layout
from vmafkit.corpus.grid import Grid
from vmafkit.corpus.kept_encodes import ENCODE_KEY, KeptEncode, find_kept_encode, keep_encode
from vmafkit.corpus.schema import (
    FEATURE_SET_KEY,
    SCHEMA_VERSION,
    TARGET,
    iter_jsonl,
    source_columns,
    validate_row,
    write_jsonl_lines,
)
from vmafkit.errors import InputError
from vmafkit.io import (
    atomic_output,
    atomic_write_text,
    check_distinct_paths,
    check_output_path,
    exclusive_lock,
    identity_hash,
)
from vmafkit.media import ffmpeg as ffm
from vmafkit.media import libvmaf
from vmafkit.media.encoders import DEFAULT_CQS, DEFAULT_PRESETS, get_adapter, require_working
from vmafkit.media.options import Scoring
from vmafkit.media.score import BACKEND_FFMPEG, BACKEND_VMAF_CLI, check_model_fits, check_resolution, run_libvmaf
from vmafkit.media.sources import Source, find_sources, refuse_hdr
from vmafkit.parallel.executor import make_executor, usable_cores

WORK_PREFIX = ".cell-"
WORK_LOCK = ".lock"
# A work folder is locked within microseconds of being made; one this old whose lock is free (or
# that has no lock file: made by an older vmafkit) belongs to a build that was killed.
LOCKED_LITTER_AGE_S = 2.0
UNLOCKED_LITTER_AGE_S = 60.0


@dataclass(frozen=True)
class Cell:
    source: Source
    encoder: str
    preset: str  # the preset the encoder really uses (numeric for svt/aom/vpx, p1..p7 for nvenc)
    cq: int
    rung: tuple[int, int] | None = None  # encoded size of a ladder rung; None: the source's (even) size

    @property
    def encoded_size(self) -> tuple[int, int]:
        return self.rung or self.source.even_size

    @property
    def label(self) -> str:
        rung = f" {self.rung[0]}x{self.rung[1]}" if self.rung else ""
        return f"{self.source.name} {self.encoder} {self.preset} cq{self.cq}{rung}"

    def sort_key(self) -> tuple:
        rung = (1, -self.rung[1], -self.rung[0]) if self.rung else (0, 0, 0)  # the source's size, then rungs down
        return (self.source.name, self.encoder, self.preset, self.cq, rung)


@dataclass(frozen=True)
class CellContext:
    """Everything a worker needs besides the cell; immutable and picklable."""

    ff: ffm.Ffmpeg
    cache_dir: Path
    max_frames: int | None
    threads: int  # libvmaf threads: any count gives the same numbers
    vmaf_bin: str | None = None
    encoder_threads: int = 1  # part of the cell identity: x264/x265 output depends on it
    # Run-wide libvmaf choices (libvmaf.MODELS / METRICS, n_subsample): part of the cell identity.
    vmaf_model: str = ffm.VMAF_MODEL
    metrics: tuple[str, ...] = ()
    subsample: int = 1
    scale_filter: str = ffm.DEFAULT_SCALE_FILTER  # resizes rungs down and up, and both sides to `resolution`
    resolution: tuple[int, int] | None = None  # score every cell at this size; None: at the source's even size

    @property
    def backend(self) -> str:
        return BACKEND_VMAF_CLI if self.vmaf_bin else BACKEND_FFMPEG


@dataclass(frozen=True)
class CellGeometry:
    """The resizes of one cell: the encode down to its rung, then both sides to the scored size."""

    encode_scale: list[str]
    ref_scale: list[str]
    dis_scale: list[str]
    scored_size: tuple[int, int]

    @property
    def scaled(self) -> bool:
        return bool(self.encode_scale or self.ref_scale or self.dis_scale)


def cell_geometry(cell: Cell, ctx: CellContext) -> CellGeometry:
    even = cell.source.even_size
    encoded = cell.encoded_size
    scored = ctx.resolution or even
    return CellGeometry(
        encode_scale=ffm.scale_filter(*even, *encoded, ctx.scale_filter),
        ref_scale=ffm.scale_filter(*even, *scored, ctx.scale_filter),
        dis_scale=ffm.scale_filter(*encoded, *scored, ctx.scale_filter),
        scored_size=scored,
    )


def rung_size(source: Source, height: int) -> tuple[int, int] | None:
    """The encoded size of a ladder rung `height` for `source`: that height (made even) and the
    width that keeps the source's aspect (nearest even); None at or above the source's (even) height."""
    if height >= source.even_size[1]:
        return None
    height = max(2, height - height % 2)
    return max(2, 2 * ((source.width * height + source.height) // (2 * source.height))), height


@dataclass
class BuildResult:
    out: Path
    n_rows: int
    n_cells: int
    cells_cached: int
    cells_run: int  # cells scored by this build (not taken whole from the cell cache)
    sources: list[str]
    encoders: list[str]
    wall_s: float
    executor: str
    failures: list[str] = field(default_factory=list)
    encodes_reused: int = 0  # of cells_run, those scored from a kept encode (no encoder launched)

    @property
    def encodes_run(self) -> int:
        return self.cells_run - self.encodes_reused

    def summary_line(self) -> str:
        """What the command line prints when a build ends."""
        return (
            f"{self.n_rows} rows from {self.n_cells} cells ({self.cells_cached} cached, {self.encodes_run} encoded, "
            f"{self.encodes_reused} scored from kept encodes) of {len(self.sources)} sources in {self.wall_s:.1f} s "
            f"-> {self.out}"
        )

    def to_json(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}


def check_distinct_sources(sources: Sequence[Source], ref_dir: str | Path | None = None) -> None:
    """Refuse two byte-identical reference clips (same sha256) before any encode: every row of the
    one would duplicate a row of the other (same src_sha256, encoder, preset, cq, frame), which
    training refuses, and the same scene in two LOSO folds would leak. Both files are named as
    they are in `ref_dir` (a source's own path is resolved through symlinks)."""
    from vmafkit.media.sources import source_name

    listed: dict[str, Path] = {}
    if ref_dir is not None and Path(ref_dir).is_dir():
        listed = {source_name(p): p for p in sorted(Path(ref_dir).iterdir()) if not p.name.startswith(".")}
    seen: dict[str, Source] = {}
    for source in sources:
        first = seen.setdefault(source.sha256, source)
        if first is not source:
            a, b = (listed.get(s.name, s.path) for s in (first, source))
            raise InputError(
                f"{a} and {b} are the same clip (sha256 {source.sha256[:16]}...); "
                "remove one of them from the reference folder"
            )


def _try_flock(path: Path):
    """An open handle holding an exclusive flock on `path`, or None when another holder has it
    (or the file is gone)."""
    try:
        handle = open(path, "rb")
    except OSError:
        return None
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def _age_s(path: Path, now: float) -> float:
    try:
        return now - path.lstat().st_mtime
    except OSError:
        return -1.0


def sweep_cache_litter(cache_dir: str | Path, *, now: float | None = None) -> list[str]:
    """Remove what killed builds left in the cell cache: `.cell-*` work folders whose lock is free
    (no live build holds it) and that are not brand new, and stale atomic-write temp files (of
    cells and of kept-encode records).
    Returns the names removed. Safe while other builds use the same cache."""
    cache_dir = Path(cache_dir)
    now = time.time() if now is None else now
    removed: list[str] = []
    entries: list[Path] = []
    for folder in (cache_dir, layout.kept_encodes_dir(cache_dir)):  # a kept encode's record is written atomically too
        with contextlib.suppress(OSError):
            entries += sorted(folder.iterdir())
    for entry in entries:
        if entry.name.startswith(WORK_PREFIX) and entry.is_dir() and not entry.is_symlink():
            lock_file = entry / WORK_LOCK
            if lock_file.exists():
                held = _try_flock(lock_file)
                if held is None:
                    continue  # a live build works here
                try:
                    if _age_s(entry, now) >= LOCKED_LITTER_AGE_S:
                        shutil.rmtree(entry, ignore_errors=True)
                        removed.append(entry.name)
                finally:
                    held.close()
            elif _age_s(entry, now) >= UNLOCKED_LITTER_AGE_S:
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry.name)
        elif (
            entry.name.startswith(".")
            and entry.name.endswith(".tmp")
            and entry.is_file()
            and _age_s(entry, now) >= UNLOCKED_LITTER_AGE_S
        ):
            with contextlib.suppress(OSError):  # a cell's atomic write lasts milliseconds
                entry.unlink()
                removed.append(entry.name)
    return removed


def _sweep_output_temps(out: Path) -> None:
    """The corpus file's own temps (`.NAME.XXXX.tmp`) of a killed build; called under the lock
    every build of `out` takes, so none of them is being written."""
    for temp in out.parent.glob(f".{glob.escape(out.name)}.*.tmp"):
        with contextlib.suppress(OSError):
            temp.unlink()


def plan_cells(
    sources: Sequence[Source],
    encoders: Sequence[str],
    presets: Sequence[str],
    cqs: Sequence[int],
    *,
    resolutions: Sequence[int] = (),
) -> list[Cell]:
    cells = []
    for source in sources:
        rungs = {rung_size(source, height) for height in resolutions} if resolutions else {None}
        for encoder in encoders:
            adapter = get_adapter(encoder)
            for preset in presets:
                for cq in cqs:
                    adapter.args(cq, preset)  # validates the cq range up front
                    for rung in rungs:
                        cells.append(Cell(source, encoder, adapter.preset_for(preset), int(cq), rung))
    return sorted(set(cells), key=Cell.sort_key)


def _encode_identity(cell: Cell, ctx: CellContext) -> dict[str, Any]:
    """What decides a cell's encode: the part of its identity the cell key and the encode key share."""
    args = get_adapter(cell.encoder).args(cell.cq, cell.preset)
    source = cell.source
    return {
        "schema_version": SCHEMA_VERSION,
        "src_sha256": source.sha256,
        "encoder": cell.encoder,
        "preset": cell.preset,
        "cq": cell.cq,
        "codec_args": list(args.codec_args),
        "filters": list(args.filters),
        "ffmpeg_version": ctx.ff.version,
        "max_frames": ctx.max_frames,
        "encoder_threads": ctx.encoder_threads,
        "geometry": [source.width, source.height, source.pix_fmt, source.fps, source.kind],
    }


def cell_key(cell: Cell, ctx: CellContext) -> str:
    """Hash of everything that determines a cell's rows (not its timings)."""
    identity = _encode_identity(cell, ctx)
    identity.update({"libvmaf_version": ctx.ff.libvmaf_version, "backend": ctx.backend, "group": cell.source.group})
    identity.update(_libvmaf_identity(ctx))
    # Only a cell that is resized has these: the cells of a corpus without a ladder or --resolution keep their keys.
    if cell.rung is not None:
        identity["rung"] = list(cell.rung)
    geometry = cell_geometry(cell, ctx)
    if geometry.scaled:
        identity["scored_size"] = list(geometry.scored_size)
        identity["scale_filter"] = ctx.scale_filter
    return identity_hash(identity)


def _libvmaf_identity(ctx: CellContext) -> dict[str, Any]:
    """The libvmaf choices a cell was scored with, for its key. Only those that differ from the
    defaults are added, so the cells a build without these choices cached keep their keys (no
    other choice hashes without them)."""
    identity: dict[str, Any] = {}
    if ctx.vmaf_model != ffm.VMAF_MODEL:
        identity["vmaf_model"] = ctx.vmaf_model
    if ctx.metrics:
        identity["metrics"] = list(ctx.metrics)
    if ctx.subsample != 1:
        identity["subsample"] = ctx.subsample
    return identity


def cell_path(cell: Cell, ctx: CellContext) -> Path:
    rung = f"__{cell.rung[0]}x{cell.rung[1]}" if cell.rung else ""
    return (
        ctx.cache_dir
        / f"{cell.source.name}__{cell.encoder}__{cell.preset}__cq{cell.cq}{rung}__{cell_key(cell, ctx)}.jsonl"
    )


def load_cached_cell(path: Path, cell: Cell) -> list[dict[str, Any]] | None:
    """A cached cell's rows, or None when absent. A cache file that is damaged (unparsable, a row
    that fails the corpus row checks, or rows of another cell) is discarded, and the cell made again."""
    if not path.is_file():
        return None
    try:
        rows = [validate_row(row, f"{path}:{lineno}") for lineno, row in iter_jsonl(path)]
    except InputError:
        rows = []
    identity = (cell.source.sha256, cell.encoder, cell.preset, cell.cq, cell.encoded_size)
    if not rows or any(
        (r["src_sha256"], r["encoder"], r["preset"], r["cq"], (r["width"], r["height"])) != identity for r in rows
    ):
        path.unlink(missing_ok=True)
        return None
    return rows


def encoder_version(encoded: Path, encoder: str, ff: ffm.Ffmpeg) -> str:
    """The encoder library's own version string when it writes one into the stream."""
    head = encoded.read_bytes()[: 1 << 16]
    for pattern in (rb"x264 - core \d+(?: r\d+ \w+)?", rb"x265 \(build \d+\) - [\w.+-]+"):
        match = re.search(pattern, head)
        if match:
            return match.group(0).decode("ascii", "replace")
    return f"{encoder} (ffmpeg {ff.version})"


def run_cell(cell: Cell, ctx: CellContext) -> list[dict[str, Any]]:
    """Encode, decode + score, and store one cell; returns its rows (from the cache if done)."""
    path = cell_path(cell, ctx)
    cached = load_cached_cell(path, cell)
    if cached is not None:
        return cached
    lock = None
    try:
        with tempfile.TemporaryDirectory(prefix=WORK_PREFIX, dir=ctx.cache_dir) as tmp:
            # Held until the folder is gone: a concurrent build's sweep never removes it.
            lock = open(Path(tmp) / WORK_LOCK, "wb")
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            rows = _encode_and_score(cell, ctx, Path(tmp))
    finally:
        if lock is not None:
            lock.close()
    atomic_write_text(path, write_jsonl_lines(rows))
    return rows


def encode_identity(cell: Cell, ctx: CellContext) -> dict[str, Any]:
    """Everything that decides a cell's encoded bytes, and nothing that only decides how it is
    scored: builds that differ in libvmaf's choices share the encode (corpus.kept_encodes)."""
    identity = _encode_identity(cell, ctx)
    identity["encoded_size"] = list(cell.encoded_size)
    identity["encode_scale"] = cell_geometry(cell, ctx).encode_scale
    return identity


def encode_key(cell: Cell, ctx: CellContext) -> str:
    """The kept encode's key: the hash of `encode_identity`."""
    return identity_hash(encode_identity(cell, ctx))


def _encode_and_score(cell: Cell, ctx: CellContext, tmp: Path) -> list[dict[str, Any]]:
    """Encode the cell into `tmp` (or take its kept encode) and keep it, score it against its
    source; its rows."""
    identity = encode_identity(cell, ctx)
    kept = find_kept_encode(ctx.cache_dir, identity_hash(identity))
    if kept is None:
        encoded = tmp / "encoded.mkv"
        frames, enc_ms = _encode(cell, ctx, encoded, cell_geometry(cell, ctx).encode_scale)
        version = encoder_version(encoded, cell.encoder, ctx.ff)
        kept = keep_encode(ctx.cache_dir, identity, encoded, frames=frames, enc_time_ms=enc_ms, encoder_version=version)
    return score_kept_encode(cell, ctx, kept)


def score_kept_encode(cell: Cell, ctx: CellContext, kept: KeptEncode) -> list[dict[str, Any]]:
    """Score a cell's encode against its source as `ctx` says; the cell's rows."""
    source = cell.source
    geometry = cell_geometry(cell, ctx)
    dis = ffm.InputSpec(kept.path, False, *cell.encoded_size, source.pix_fmt, source.fps)
    job = ffm.ScoreJob(
        dis, source.input_spec, ffm.scoring_pix_fmt(source.pix_fmt),
        ref_crop=source.crop, ref_scale=geometry.ref_scale, dis_scale=geometry.dis_scale,
        max_frames=kept.frames, threads=ctx.threads, vmaf_model=ctx.vmaf_model, metrics=ctx.metrics,
        subsample=ctx.subsample, what=f"{source.path} ({cell.encoder} cq{cell.cq})",
    )  # fmt: skip
    if ctx.vmaf_bin:
        from vmafkit.media.vmafcli import score_with_vmaf_cli

        scored = score_with_vmaf_cli(ctx.vmaf_bin, ctx.ff, job)
    else:
        scored = run_libvmaf(ctx.ff, job)
    expected = libvmaf.scored_frames(kept.frames, ctx.subsample)
    if len(scored) != expected:
        subsampled = f" (expected {expected}: --subsample {ctx.subsample})" if ctx.subsample != 1 else ""
        raise InputError(
            f"mismatched frame counts: encoded {kept.frames} frames, libvmaf scored {len(scored)}{subsampled} "
            f"({cell.encoder} cq{cell.cq})",
            path=source.path,
        )
    return _rows(cell, ctx, scored, kept)


def _encode(cell: Cell, ctx: CellContext, encoded: Path, scale: list[str]) -> tuple[int, int]:
    source = cell.source
    args = get_adapter(cell.encoder).args(cell.cq, cell.preset)
    argv = ffm.encode_argv(
        ctx.ff,
        source.input_spec,
        encoded,
        encoder=cell.encoder,
        codec_args=args.codec_args,
        hw_init=args.hw_init,
        encoder_filters=args.filters,
        crop=source.crop,
        max_frames=ctx.max_frames,
        threads=ctx.encoder_threads,
        scale=scale,
    )
    started = time.perf_counter()
    result = ffm.run_ffmpeg(argv)
    enc_ms = int(round((time.perf_counter() - started) * 1000))
    if result.returncode != 0:
        raise InputError(f"{cell.encoder} encode failed: {ffm.last_error_line(result.stderr)}", path=source.path)
    frames = ffm.progress_frames(result.stdout)
    if frames == 0 or not encoded.exists():
        raise InputError("source has 0 decodable video frames", path=source.path)
    return frames, enc_ms


def _rows(cell: Cell, ctx: CellContext, scored: list[dict[str, float]], kept: KeptEncode) -> list[dict[str, Any]]:
    width, height = cell.encoded_size
    common: dict[str, Any] = {
        **source_columns(cell.source),
        "width": width,  # the encoded size: a ladder rung's, else the source's even size
        "height": height,
        "encoder": cell.encoder,
        "preset": cell.preset,
        "cq": cell.cq,
        "enc_bytes": kept.enc_bytes,
        "enc_time_ms": kept.enc_time_ms,
        "enc_threads": ctx.encoder_threads,
        ENCODE_KEY: kept.key,
        "ffmpeg_version": ctx.ff.version,
        "libvmaf_version": ctx.ff.libvmaf_version if not ctx.vmaf_bin else None,
        "encoder_version": kept.encoder_version,
        "backend": ctx.backend,
        "vmaf_model": ctx.vmaf_model,
    }
    geometry = cell_geometry(cell, ctx)
    if geometry.scaled:  # scored at another size than encoded: say at which, and with what filter
        common["scored_width"], common["scored_height"] = geometry.scored_size
        common["scale_filter"] = ctx.scale_filter
    keys = (TARGET, *libvmaf.feature_columns(ctx.vmaf_model), *libvmaf.metric_columns(ctx.metrics))
    return [{**common, "frame_index": f["frame_index"], **{k: f[k] for k in keys}} for f in scored]


def check_outside_cache(out: Path, cache: Path) -> None:
    """A corpus is never written into the cell cache (over a cell, a kept encode or its record)."""
    resolved, folder = out.resolve(), cache.resolve()
    if resolved == folder or folder in resolved.parents:
        raise InputError(f"--out lies inside the cell cache {cache}: write the corpus elsewhere", path=out)


def default_jobs(n_cells: int) -> int:
    return max(1, min(usable_cores(), n_cells))


def build_corpus(
    ref_dir: str | Path,
    encoders: Sequence[str],
    cqs: Sequence[int] = DEFAULT_CQS,
    out: str | Path = layout.CORPUS_FILE,
    *,
    presets: Sequence[str] = DEFAULT_PRESETS,
    jobs: int | None = None,
    max_frames: int | None = None,
    ffmpeg: str | None = None,
    vmaf_bin: str | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    scheduler: str | None = None,
    sources: Sequence[Source] | None = None,
    encoder_threads: int = 1,
    vmaf_model: str = ffm.VMAF_MODEL,
    metrics: Sequence[str] = (),
    subsample: int = 1,
    resolutions: Sequence[int] = (),
    scale: str | None = None,
    resolution: tuple[int, int] | None = None,
    hdr_as_sdr: bool = False,
) -> BuildResult:
    """Encode and score every cell in parallel, then write the corpus atomically (sorted rows).

    Encoders run with a fixed thread count (default 1; parallelism comes from running cells side
    by side) because x264/x265 bitstreams depend on it: the same cells give the same rows
    whatever --jobs is. `vmaf_model`, `metrics` and `subsample` are libvmaf's choices, as for
    `score_pair`: every row records the model, and carries the metrics' columns.
    """
    started = time.perf_counter()
    out = check_output_path(out)
    if not encoders:
        raise InputError("no encoders given")
    if not cqs:
        raise InputError("no cq values given")
    if not presets:
        # an empty grid would replace an existing corpus at `out` with nothing
        raise InputError("no presets given (--presets is empty)")
    if max_frames is not None and max_frames < 1:
        raise InputError(f"--max-frames must be at least 1, got {max_frames}")
    libvmaf.get_model(vmaf_model)
    metrics = libvmaf.parse_metrics(metrics)
    if vmaf_bin:
        libvmaf.check_vmaf_cli_metrics(metrics)
    libvmaf.check_subsample(subsample)
    if resolution is not None:
        check_resolution(resolution)
    bad_rungs = [height for height in resolutions if height < 2]
    if bad_rungs:
        raise InputError(f"--resolutions: rung height {bad_rungs[0]} is below 2")
    scale_filter = scale or ffm.DEFAULT_SCALE_FILTER
    ffm.check_scale_filter(scale_filter)
    ff = ffm.find_ffmpeg(ffmpeg)
    require_working(ff, list(encoders))
    sources = list(sources) if sources is not None else find_sources(ref_dir, ff=ff)
    check_distinct_sources(sources, ref_dir)
    check_distinct_paths({"a reference clip": [s.path for s in sources]}, {"--out": out})
    for source in sources:
        libvmaf.check_metric_sizes(metrics, *source.even_size, path=source.path)
        refuse_hdr(source, vmaf_model, hdr_as_sdr)
        check_model_fits(ff, vmaf_model, *(resolution or source.even_size), path=source.path)
    cells = plan_cells(sources, encoders, presets, cqs, resolutions=resolutions)
    jobs = jobs or default_jobs(len(cells))
    # Absolute: tasks may run in other processes or on other hosts (Dask), whose cwd is not ours.
    cache = (Path(cache_dir) if cache_dir else layout.cell_cache_dir(out)).absolute()
    check_outside_cache(out, cache)
    cache.mkdir(parents=True, exist_ok=True)
    ctx = CellContext(
        ff=ff,
        cache_dir=cache,
        max_frames=max_frames,
        threads=max(1, usable_cores() // jobs),
        vmaf_bin=vmaf_bin,
        encoder_threads=encoder_threads,
        vmaf_model=vmaf_model,
        metrics=metrics,
        subsample=subsample,
        scale_filter=scale_filter,
        resolution=(resolution[0], resolution[1]) if resolution is not None else None,
    )
    executor = make_executor(jobs, scheduler)
    try:
        executor.require_paths(  # on a cluster, every worker must see the same files
            readable=[s.path for s in sources] + [Path(ff.path)], writable=[cache]
        )
        with exclusive_lock(cache.parent, name=f".{out.name}.lock"):
            _sweep_output_temps(out)
            sweep_cache_litter(cache)
            results, cached, reused = _run_cells(cells, ctx, executor, progress)
            recipe = libvmaf.recipe_id(
                libvmaf.scoring_recipe(
                    vmaf_model,
                    metrics,
                    subsample,
                    scale_filter if (resolutions or resolution is not None) else None,
                    hdr_as_sdr,
                )
            )
            # the recipe is the build's, not a cell's: cached cells of an earlier build carry it too
            feature_set = libvmaf.feature_set_of(vmaf_model)
            rows = [
                {**row, libvmaf.RECIPE_KEY: recipe, FEATURE_SET_KEY: feature_set}
                for cell in cells
                for row in results[cell]
            ]
            with atomic_output(out, "w") as handle:
                handle.write(write_jsonl_lines(rows))
    finally:
        executor.close()  # a Dask client disconnects; the cluster keeps running
    return BuildResult(
        out=out,
        n_rows=len(rows),
        n_cells=len(cells),
        cells_cached=cached,
        cells_run=len(cells) - cached,
        encodes_reused=reused,
        sources=[s.name for s in sources],
        encoders=list(encoders),
        wall_s=round(time.perf_counter() - started, 3),
        executor=executor.describe(),
    )


def _expected_frames(cell: Cell, max_frames: int | None) -> int | None:
    frames = cell.source.frames
    if frames is None:
        return max_frames
    return min(frames, max_frames) if max_frames else frames


def _scored_frames(cell: Cell, ctx: CellContext) -> int | None:
    frames = _expected_frames(cell, ctx.max_frames)
    return None if frames is None else libvmaf.scored_frames(frames, ctx.subsample)


def _cost(cell: Cell, max_frames: int | None) -> float:
    frames = _expected_frames(cell, max_frames) or 250  # unknown length: assume a typical clip
    return cell.source.width * cell.source.height * frames


def _run_cells(cells: list[Cell], ctx: CellContext, executor, progress: bool) -> tuple[dict[Cell, list], int, int]:
    """Every cell's rows, the number taken whole from the cell cache, and the number of the others
    whose encode was kept (scored without encoding)."""
    from vmafkit.progress import cell_progress

    results: dict[Cell, list] = {}
    todo = []
    for cell in cells:
        rows = load_cached_cell(cell_path(cell, ctx), cell)
        if rows is None:
            todo.append(cell)
        else:
            results[cell] = rows
    reused = sum(1 for cell in todo if layout.kept_encode_files(ctx.cache_dir, encode_key(cell, ctx))[1].is_file())
    # Biggest cells first, so the last ones to finish are short and no worker idles long at the end.
    todo.sort(key=lambda c: -_cost(c, ctx.max_frames))
    expected = [_scored_frames(c, ctx) for c in cells]
    known = [e for e in expected if e is not None]
    total_frames = sum(known) if len(known) == len(expected) else None
    with cell_progress(
        enabled=progress, n_cells=len(cells), total_frames=total_frames, where=executor.describe()
    ) as bar:
        bar.advance(cells=len(results), frames=sum(len(r) for r in results.values()))
        for cell, rows in executor.map_unordered(functools.partial(run_cell, ctx=ctx), todo):
            results[cell] = rows
            bar.advance(cells=1, frames=len(rows), label=cell.label)
    return results, len(cells) - len(todo), reused


def build_grid(
    ref_dir: str | Path,
    grid: Grid,
    out: str | Path,
    *,
    encoders: Sequence[str],
    scoring: Scoring = Scoring(),
    **work: Any,
) -> BuildResult:
    """`build_corpus` over the option objects the API and `vmafkit run` hold: the cells of `grid`
    (with `encoders`, the grid's own or the ones "auto" resolved to), scored as `scoring` says;
    `work` is build_corpus's other keywords (jobs, max_frames, ffmpeg, progress, ...)."""
    return build_corpus(
        ref_dir,
        encoders,
        grid.cqs,
        out,
        presets=grid.presets,
        resolutions=grid.heights,
        **scoring.as_kwargs(),
        **work,
    )
