"""Re-score an existing corpus with another libvmaf model or other metrics, encoding nothing.

Every row of a corpus built by this vmafkit names the kept encode its cell was scored from
(`encode_key`, corpus.kept_encodes). `rescore_corpus` groups the rows into their cells, takes each
cell's kept encode (re-hashed against its record), and scores it again against its reference clip
with the new choices: the geometry (encoded size, scored size, scale filter) and the encode side
of every row (size, time, encoder version) are the old corpus's, the scores and the scoring recipe
the new ones. The result is what `vmafkit corpus` with the new choices writes, row for row (the
same code scores both), without launching an encoder. Each re-scored cell is cached
(`layout.rescored_cell_file`), so an interrupted rescore resumes where it stopped.

A row without an encode key (a corpus built before vmafkit kept encodes, or imported from a seed
kit) cannot be re-scored: the error names it, and rebuilding that corpus once keeps its encodes.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmafkit import layout
from vmafkit.corpus.build import (
    BuildResult,
    Cell,
    CellContext,
    check_distinct_sources,
    check_outside_cache,
    default_jobs,
    load_cached_cell,
    score_kept_encode,
    sweep_cache_litter,
)
from vmafkit.corpus.kept_encodes import ENCODE_KEY, KeptEncode, load_kept_encode
from vmafkit.corpus.schema import (
    CELL_KEY,
    FEATURE_SET_KEY,
    SCHEMA_VERSION,
    read_rows,
    rows_to_corpus,
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
from vmafkit.media.options import Scoring
from vmafkit.media.score import check_model_fits
from vmafkit.media.sources import Source, find_sources, refuse_hdr
from vmafkit.parallel.executor import make_executor, usable_cores


@dataclass(frozen=True)
class RescoreCell:
    """One cell to score again: the build's Cell, its scoring geometry, and its kept encode (loaded,
    and so re-hashed against its record, once, before any scoring)."""

    cell: Cell
    kept: KeptEncode
    scale_filter: str
    resolution: tuple[int, int] | None
    encoder_threads: int  # what the encode ran with (its rows' enc_threads): rows record it
    where: str  # the old corpus's first row of the cell, for errors

    @property
    def encode_key(self) -> str:
        return self.kept.key

    @property
    def context_key(self) -> tuple:
        return (self.scale_filter, self.resolution, self.encoder_threads)


def rescore_corpus(
    corpus: str | Path,
    out: str | Path,
    *,
    ref_dir: str | Path,
    scoring: Scoring = Scoring(),
    cache_dir: str | Path | None = None,
    jobs: int | None = None,
    ffmpeg: str | None = None,
    vmaf_bin: str | None = None,
    progress: bool = False,
) -> BuildResult:
    """Score every cell of `corpus` again from its kept encode, with `scoring`'s libvmaf model,
    metrics and subsampling (its scale and resolution must be unset: each cell keeps the geometry
    it was built with), and write the new corpus to `out` (atomically). `ref_dir`: the reference
    clips it was built from (found by sha256); `cache_dir`: the cell cache that keeps the encodes
    (default: the one beside `corpus`)."""
    started = time.perf_counter()
    corpus, out = Path(corpus), check_output_path(out)
    if scoring.scale is not None or scoring.size is not None:
        raise InputError(
            "rescore keeps each cell's scoring geometry (size, scale filter); --scale and --resolution do not apply"
        )
    model = libvmaf.get_model(scoring.vmaf_model or libvmaf.DEFAULT_MODEL)
    metrics = libvmaf.parse_metrics(scoring.metrics)
    libvmaf.check_subsample(scoring.subsample)
    if vmaf_bin:
        libvmaf.check_vmaf_cli_metrics(metrics)
    rows = read_rows(corpus)
    if not rows:
        raise InputError("corpus has no rows", path=corpus)
    ff = ffm.find_ffmpeg(ffmpeg)
    sources = find_sources(ref_dir, ff=ff)
    check_distinct_sources(sources, ref_dir)
    cache = (Path(cache_dir) if cache_dir else layout.cell_cache_dir(corpus)).absolute()
    check_distinct_paths({"the corpus": [corpus], "a reference clip": [s.path for s in sources]}, {"--out": out})
    check_outside_cache(out, cache)
    rows_to_corpus(rows, corpus)  # one model, one recipe, one group per clip, as train reads it
    plan = _plan(rows, corpus, {s.sha256: s for s in sources}, ref_dir, cache)
    for item in plan:
        libvmaf.check_metric_sizes(
            metrics, *(item.resolution or item.cell.source.even_size), path=item.cell.source.path
        )
        refuse_hdr(item.cell.source, model.name, scoring.hdr_as_sdr)
    for size, source in sorted(
        {(item.resolution or item.cell.source.even_size, item.cell.source) for item in plan}, key=str
    ):
        check_model_fits(ff, model.name, *size, path=source.path)
    total_frames = sum(libvmaf.scored_frames(item.kept.frames, scoring.subsample) for item in plan)
    jobs = jobs or default_jobs(len(plan))
    contexts = {
        item.context_key: CellContext(
            ff=ff,
            cache_dir=cache,
            max_frames=None,
            threads=max(1, usable_cores() // jobs),
            vmaf_bin=vmaf_bin,
            vmaf_model=model.name,
            metrics=metrics,
            subsample=scoring.subsample,
            scale_filter=item.scale_filter,
            resolution=item.resolution,
            encoder_threads=item.encoder_threads,
        )
        for item in plan
    }
    executor = make_executor(jobs)
    try:
        with exclusive_lock(out.parent, name=f".{out.name}.lock"):
            sweep_cache_litter(cache)
            results, cached = _score_all(plan, contexts, executor, progress, total_frames)
            recipe = libvmaf.recipe_id(
                libvmaf.scoring_recipe(
                    model.name,
                    metrics,
                    scoring.subsample,
                    _recipe_scale_filter(rows),
                    scoring.hdr_as_sdr,
                )
            )
            new_rows = [
                {**row, libvmaf.RECIPE_KEY: recipe, FEATURE_SET_KEY: model.feature_set}
                for item in plan
                for row in results[item.cell]
            ]
            with atomic_output(out, "w") as handle:
                handle.write(write_jsonl_lines(new_rows))
    finally:
        executor.close()
    return BuildResult(
        out=out,
        n_rows=len(new_rows),
        n_cells=len(plan),
        cells_cached=cached,  # re-scored by an earlier, interrupted rescore
        cells_run=len(plan) - cached,
        encodes_reused=len(plan) - cached,
        sources=sorted({item.cell.source.name for item in plan}),
        encoders=sorted({item.cell.encoder for item in plan}),
        wall_s=round(time.perf_counter() - started, 3),
        executor=executor.describe(),
    )


def _plan(
    rows: Sequence[dict[str, Any]], corpus: Path, by_sha: dict[str, Source], ref_dir: str | Path, cache: Path
) -> list[RescoreCell]:
    """The old corpus's cells, in its row order, each with its source and kept encode; every check
    that ties a cell to its encode and its clip is made here, before any scoring."""
    cells: dict[tuple, RescoreCell] = {}
    frames_of: dict[tuple, list[int]] = {}
    for lineno, row in enumerate(rows, start=1):
        where = f"{corpus}: row {lineno}"
        key = tuple(row[k] for k in CELL_KEY)
        encode = row.get(ENCODE_KEY)
        if encode is None:
            raise InputError(
                f"{where}: row names no kept encode ({ENCODE_KEY}): the corpus was built before vmafkit kept "
                "encodes (or imported); rebuild it once with `vmafkit corpus` and it can be re-scored from then on"
            )
        frames_of.setdefault(key, []).append(int(row["frame_index"]))
        known = cells.get(key)
        if known is not None:
            if known.encode_key != encode:
                raise InputError(f"{where}: {ENCODE_KEY} differs from the rest of its cell's rows ({known.where})")
            continue
        source = _source_of(row, where, by_sha, ref_dir)
        size = (int(row["width"]), int(row["height"]))
        scored = (int(row.get("scored_width", size[0])), int(row.get("scored_height", size[1])))
        scale_filter = str(row.get("scale_filter") or ffm.DEFAULT_SCALE_FILTER)
        try:
            ffm.check_scale_filter(scale_filter)
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
        item = RescoreCell(
            cell=Cell(
                source,
                str(row["encoder"]),
                str(row["preset"]),
                int(row["cq"]),
                None if size == source.even_size else size,
            ),
            kept=load_kept_encode(cache, str(encode)),  # its form was checked with the row
            scale_filter=scale_filter,
            # what the build's CellContext.resolution was: scored at the source's size unless it said otherwise
            resolution=None if scored == source.even_size else scored,
            encoder_threads=int(row.get("enc_threads", 1)),
            where=where,
        )
        _check_encode_is_the_cells(item, row)
        cells[key] = item
    for key, item in cells.items():
        _check_whole_cell(item, frames_of[key])
    return list(cells.values())


def _source_of(row: dict[str, Any], where: str, by_sha: dict[str, Source], ref_dir: str | Path) -> Source:
    """The clip of `ref_dir` the row was made from (by sha256), under the name and LOSO group the
    corpus gave it: a clip renamed or regrouped since would silently move rows between folds."""
    source = by_sha.get(str(row["src_sha256"]))
    if source is None:
        raise InputError(
            f"{where}: no clip in {ref_dir} has this row's src_sha256 ({str(row['src_sha256'])[:12]}, src "
            f"{row['src']}): give the reference clips the corpus was built from"
        )
    group = str(row.get("group") or row["src"])
    if (source.name, source.group) != (str(row["src"]), group):
        raise InputError(
            f"{where}: src {row['src']} (LOSO group {group}) is {source.path.name} (group {source.group}) in "
            f"{ref_dir}: re-scored rows would change their source name or fold; give the folder (and sources "
            "file) the corpus was built from"
        )
    return source


def _check_encode_is_the_cells(item: RescoreCell, row: dict[str, Any]) -> None:
    """The kept encode named by a row is the encode of that row's cell: its identity (what its key
    is the hash of) names the cell's source, encoder, preset, cq, size, threads and argv, and its
    size is the row's enc_bytes."""
    from vmafkit.media.encoders import ADAPTERS

    cell, kept = item.cell, item.kept
    expected = {
        "src_sha256": cell.source.sha256,
        "encoder": cell.encoder,
        "preset": cell.preset,
        "cq": cell.cq,
        "encoded_size": list(cell.encoded_size),
        "encoder_threads": item.encoder_threads,
    }
    adapter = ADAPTERS.get(cell.encoder)
    if adapter is not None:
        expected["codec_args"] = list(adapter.args(cell.cq, cell.preset).codec_args)
    differ = [name for name, value in expected.items() if kept.identity.get(name) != value]
    if int(row["enc_bytes"]) != kept.enc_bytes:
        differ.append("enc_bytes")
    if differ:
        raise InputError(
            f"{item.where}: kept encode {item.encode_key} is not this row's cell ({cell.label}): its "
            f"{', '.join(differ)} differ; the corpus's rows or the encode were changed after the build"
        )


def _check_whole_cell(item: RescoreCell, indices: list[int]) -> None:
    """The corpus holds exactly the frames a build scored of the kept encode: 0, s, 2s, ... below
    its frame count (s: the build's subsampling). Rescore re-scores whole cells, so a cell cut
    short (or a record whose frame count was changed) is refused rather than filled in."""
    kept = item.kept
    ordered = sorted(indices)
    # one row: frame 0 alone, which any subsampling of at least the frame count gives
    step = ordered[1] - ordered[0] if len(ordered) > 1 else max(kept.frames, 1)
    if step < 1 or ordered != list(range(0, kept.frames, step)):
        shown = f"{len(ordered)} frames ({ordered[0]}..{ordered[-1]})"
        raise InputError(
            f"{item.where}: the corpus holds {shown} of cell {item.cell.label}, which is not every "
            f"{'' if step == 1 else f'{step}th '}frame of its kept encode's {kept.frames} "
            f"({kept.record_path}): rescore re-scores whole cells; give "
            "the corpus as it was built"
        )


def _recipe_scale_filter(rows: Sequence[dict[str, Any]]) -> str | None:
    """The scale filter of the build's recipe: the one any resized cell used, None when none was."""
    return next((str(row["scale_filter"]) for row in rows if row.get("scale_filter")), None)


def rescore_key(item: RescoreCell, ctx: CellContext) -> str:
    """Hash of what decides a re-scored cell's rows: its encode, source and geometry, and every
    libvmaf choice and build that scores it."""
    identity = {
        "schema_version": SCHEMA_VERSION,
        "encode_key": item.encode_key,
        "src_sha256": item.cell.source.sha256,
        "group": item.cell.source.group,
        "cell": [item.cell.encoder, item.cell.preset, item.cell.cq, list(item.cell.encoded_size)],
        "scale_filter": item.scale_filter,
        "resolution": list(item.resolution) if item.resolution else None,
        "ffmpeg_version": ctx.ff.version,
        "libvmaf_version": ctx.ff.libvmaf_version,
        "backend": ctx.backend,
        "vmaf_model": ctx.vmaf_model,
        "metrics": list(ctx.metrics),
        "subsample": ctx.subsample,
    }
    return identity_hash(identity)


def _score_one(item: RescoreCell, contexts: dict[tuple, CellContext]) -> list[dict[str, Any]]:
    """A cell's new rows, scored from its kept encode, and cached (an interrupted rescore resumes)."""
    ctx = contexts[item.context_key]
    rows = score_kept_encode(item.cell, ctx, item.kept)
    done = layout.rescored_cell_file(ctx.cache_dir, rescore_key(item, ctx))
    try:
        done.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(done, write_jsonl_lines(rows))
    except OSError as exc:
        raise InputError(f"cannot keep the re-scored cell ({exc.strerror or exc})", path=done.parent) from None
    return rows


def _score_all(
    plan: list[RescoreCell], contexts: dict[tuple, CellContext], executor, progress: bool, total_frames: int
) -> tuple[dict[Cell, list], int]:
    """Every cell's new rows, and how many came whole from an earlier rescore's cache (a damaged
    cache file is discarded and its cell scored again)."""
    from vmafkit.progress import cell_progress

    results: dict[Cell, list] = {}
    for item in plan:
        ctx = contexts[item.context_key]
        rows = load_cached_cell(layout.rescored_cell_file(ctx.cache_dir, rescore_key(item, ctx)), item.cell)
        if rows is not None:
            results[item.cell] = rows
    cached = len(results)
    todo = [item for item in plan if item.cell not in results]
    with cell_progress(
        enabled=progress, n_cells=len(plan), total_frames=total_frames, where=executor.describe()
    ) as bar:
        bar.advance(cells=cached, frames=sum(len(rows) for rows in results.values()))
        for item, rows in executor.map_unordered(functools.partial(_score_one, contexts=contexts), todo):
            results[item.cell] = rows
            bar.advance(cells=1, frames=len(rows), label=item.cell.label)
    return results, cached
