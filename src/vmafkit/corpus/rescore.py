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
    default_jobs,
    identity_hash,
    load_cached_cell,
    score_kept_encode,
    sweep_cache_litter,
)
from vmafkit.corpus.kept_encodes import ENCODE_KEY, load_kept_encode
from vmafkit.corpus.schema import FEATURE_SET_KEY, MERGE_KEY, SCHEMA_VERSION, read_rows, write_jsonl_lines
from vmafkit.errors import InputError
from vmafkit.io import atomic_output, atomic_write_text, check_distinct_paths, check_output_path, exclusive_lock
from vmafkit.media import ffmpeg as ffm
from vmafkit.media import libvmaf
from vmafkit.media.options import Scoring
from vmafkit.media.sources import Source, find_sources, refuse_hdr
from vmafkit.parallel.executor import make_executor, usable_cores

# A cell of the old corpus: its rows share these (MERGE_KEY without the frame).
CELL_KEY = tuple(k for k in MERGE_KEY if k != "frame_index")


@dataclass(frozen=True)
class RescoreCell:
    """One cell to score again: the build's Cell, its scoring geometry, and its kept encode's key."""

    cell: Cell
    encode_key: str
    scale_filter: str
    resolution: tuple[int, int] | None
    encoder_threads: int  # what the encode ran with (its rows' enc_threads): rows record it
    where: str  # the old corpus's first row of the cell, for errors

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
    check_distinct_paths({"the corpus": [corpus]}, {"--out": out})
    rows = read_rows(corpus)
    if not rows:
        raise InputError("corpus has no rows", path=corpus)
    ff = ffm.find_ffmpeg(ffmpeg)
    sources = find_sources(ref_dir, ff=ff)
    check_distinct_sources(sources, ref_dir)
    cache = (Path(cache_dir) if cache_dir else layout.cell_cache_dir(corpus)).absolute()
    plan = _plan(rows, corpus, {s.sha256: s for s in sources}, ref_dir)
    for item in plan:
        libvmaf.check_metric_sizes(
            metrics, *(item.resolution or item.cell.source.even_size), path=item.cell.source.path
        )
        refuse_hdr(item.cell.source, model.name, scoring.hdr_as_sdr)
    # every encode checked before any scoring: a missing one stops the run at once
    frames = [load_kept_encode(cache, item.encode_key).frames for item in plan]
    total_frames = sum(libvmaf.scored_frames(n, scoring.subsample) for n in frames)
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
            cached = sum(
                1
                for item in plan
                if layout.rescored_cell_file(cache, rescore_key(item, contexts[item.context_key])).is_file()
            )
            results = _score_all(plan, contexts, executor, progress, total_frames)
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
    rows: Sequence[dict[str, Any]], corpus: Path, by_sha: dict[str, Source], ref_dir: str | Path
) -> list[RescoreCell]:
    """The old corpus's cells, in its row order, each with its source and kept encode's key."""
    cells: dict[tuple, RescoreCell] = {}
    for lineno, row in enumerate(rows, start=1):
        where = f"{corpus}: row {lineno}"
        key = tuple(row[k] for k in CELL_KEY)
        encode = row.get(ENCODE_KEY)
        if not isinstance(encode, str) or not encode:
            raise InputError(
                f"{where}: row names no kept encode ({ENCODE_KEY}): the corpus was built before vmafkit kept "
                "encodes (or imported); rebuild it once with `vmafkit corpus` and it can be re-scored from then on"
            )
        known = cells.get(key)
        if known is not None:
            if known.encode_key != encode:
                raise InputError(f"{where}: {ENCODE_KEY} differs from the rest of its cell's rows ({known.where})")
            continue
        source = by_sha.get(str(row["src_sha256"]))
        if source is None:
            raise InputError(
                f"{where}: no clip in {ref_dir} has this row's src_sha256 ({str(row['src_sha256'])[:12]}, src "
                f"{row['src']}): give the reference clips the corpus was built from"
            )
        size = (int(row["width"]), int(row["height"]))
        scored = (int(row.get("scored_width", size[0])), int(row.get("scored_height", size[1])))
        cells[key] = RescoreCell(
            cell=Cell(
                source,
                str(row["encoder"]),
                str(row["preset"]),
                int(row["cq"]),
                None if size == source.even_size else size,
            ),
            encode_key=encode,
            scale_filter=str(row.get("scale_filter") or ffm.DEFAULT_SCALE_FILTER),
            # what the build's CellContext.resolution was: scored at the source's size unless it said otherwise
            resolution=None if scored == source.even_size else scored,
            encoder_threads=int(row.get("enc_threads", 1)),
            where=where,
        )
    return list(cells.values())


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
    """A cell's new rows: from an earlier (interrupted) rescore's cache, else scored and cached."""
    ctx = contexts[item.context_key]
    done = layout.rescored_cell_file(ctx.cache_dir, rescore_key(item, ctx))
    rows = load_cached_cell(done)
    if rows is None:
        rows = score_kept_encode(item.cell, ctx, load_kept_encode(ctx.cache_dir, item.encode_key))
        done.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(done, write_jsonl_lines(rows))
    return rows


def _score_all(
    plan: list[RescoreCell], contexts: dict[tuple, CellContext], executor, progress: bool, total_frames: int
) -> dict[Cell, list]:
    from vmafkit.progress import cell_progress

    results: dict[Cell, list] = {}
    with cell_progress(
        enabled=progress, n_cells=len(plan), total_frames=total_frames, where=executor.describe()
    ) as bar:
        for item, rows in executor.map_unordered(functools.partial(_score_one, contexts=contexts), plan):
            results[item.cell] = rows
            bar.advance(cells=1, frames=len(rows), label=item.cell.label)
    return results
