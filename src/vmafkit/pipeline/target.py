"""`vmafkit target`: the highest cq (fewest bits) whose encode of a title meets a VMAF target.

What is encoded: by default samples spread over the title (`media.samples`), cut once into one
lossless clip; with `full`, the whole title. Every probe is a cell of the corpus's cell cache
(`corpus.build.run_cell`: encoded with the encoder's real argv, scored by libvmaf), so a second
search of the same title (another target, another pool) reuses every encode already made, and a
killed search resumes where it stopped.

How it searches: `pipeline.cq_search` (an interpolated binary search that ends on a measured
crossing: the answer meets the aim, the next cq up was measured to fail it). On samples the aim is
the target plus `T.TARGET_SAMPLE_MARGIN`, because the samples' pooled VMAF misses the full
encode's; bench/target.py measures how often the full encode then meets the target, and that is the
guarantee the search states. `verify` encodes and scores the whole title at the answer.

With `models` (an exported ensemble's folder), the search is guided by the quality curves that
ensemble was trained on (`pipeline.cq_prior`), read from the training corpus the registry pins by
its sha256 (the run folder's `corpus/` beside `models/`); an encoder or preset the ensemble was not
trained on, or a cq outside its curves, is not guided (its domain). The ensemble cannot say a cq's
score before the cq is encoded (its inputs are the encode's own libvmaf features), so it does not
replace a probe; it predicts the answer's encode, with its calibrated interval, beside the measured
score, and refuses (a note, no number) where that encode lies outside its domain.

`resolutions` searches each ladder rung (encoded at the rung's size, scored scaled back up to the
title's, as `rd` does) and reports the rung/cq answers on the rate-quality hull (`report.rd`): the
rung with the fewest bits for the target.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vmafkit import layout
from vmafkit import thresholds as T
from vmafkit.corpus.build import Cell, CellContext, run_cell, rung_size
from vmafkit.corpus.schema import TARGET
from vmafkit.errors import InputError
from vmafkit.media import ffmpeg as ffm
from vmafkit.media.encoders import get_adapter, require_preset, require_working
from vmafkit.media.options import RawGeometry
from vmafkit.media.pooling import parse_pools, pool
from vmafkit.media.samples import SamplePlan, plan_samples, sample_clip, sample_frames
from vmafkit.media.sources import Source, describe_source
from vmafkit.parallel.executor import usable_cores
from vmafkit.pipeline.cq_prior import CurvePrior
from vmafkit.pipeline.cq_search import CqSearch, Probe, search_cq
from vmafkit.report.targets import SCHEMA as TARGET_SCHEMA


@dataclass
class RungSearch:
    """One rung's search (the title's own size when no ladder was asked): its probes, the answer,
    and the answer's encode measured on what was encoded (samples or the title)."""

    size: tuple[int, int]
    search: CqSearch
    rates_kbps: dict[int, float]  # cq -> the probe's bitrate
    native: bool = True
    verified: dict[str, Any] | None = None
    prediction: dict[str, Any] | None = None
    on_hull: bool = False

    @property
    def cq(self) -> int | None:
        return self.search.cq

    @property
    def label(self) -> str:
        return "native" if self.native else f"{self.size[0]}x{self.size[1]}"

    def to_json(self) -> dict[str, Any]:
        cq = self.cq
        return {
            "rung": self.label,
            "width": self.size[0],
            "height": self.size[1],
            "cq": cq,
            "vmaf": None if cq is None else self.search.score_at(cq),
            "rate_kbps": None if cq is None else round(self.rates_kbps[cq], 1),
            "next_cq_vmaf": None if cq is None else self.search.score_at(cq + 1),
            "reason": self.search.reason,
            "probes": [
                {"cq": p.cq, "vmaf": round(p.score, 4), "rate_kbps": round(self.rates_kbps[p.cq], 1)}
                for p in self.search.probes
            ],
            "on_hull": self.on_hull,
            "verified": self.verified,
            "prediction": self.prediction,
        }


@dataclass
class TargetResult:
    """What `vmafkit target` found; `to_json()` is what `--json` writes."""

    title: Path
    title_sha256: str
    target: float
    aim: float
    encoder: str
    preset: str
    pool: str
    rungs: list[RungSearch]
    samples: SamplePlan | None  # None: the whole title was encoded (`full`)
    guarantee: str
    encodes: int  # encodes made by this search (cached cells not counted)
    wall_s: float
    notes: list[str] = field(default_factory=list)
    guide: list[str] = field(default_factory=list)

    @property
    def best(self) -> RungSearch | None:
        """The rung whose answer needs the fewest bits (the title's own size without a ladder)."""
        found = [r for r in self.rungs if r.cq is not None]
        return min(found, key=lambda r: r.rates_kbps[r.cq], default=None)  # type: ignore[index]

    @property
    def cq(self) -> int | None:
        """The answer: the best rung's, as verified on the whole title when it was."""
        best = self.best
        if best is None:
            return None
        return best.verified["cq"] if best.verified is not None else best.cq

    @property
    def probes(self) -> int:
        return sum(len(r.search.probes) for r in self.rungs)

    def to_json(self) -> dict[str, Any]:
        best = self.best
        return {
            "schema": TARGET_SCHEMA,
            "title": str(self.title),
            "title_sha256": self.title_sha256,
            "target": self.target,
            "aim": self.aim,
            "pool": self.pool,
            "encoder": self.encoder,
            "preset": self.preset,
            "cq": self.cq,
            "rung": None if best is None else best.label,
            "encoded": "full title" if self.samples is None else "samples",
            "samples": None if self.samples is None else self.samples.to_json(),
            "guarantee": self.guarantee,
            "rungs": [r.to_json() for r in self.rungs],
            "probes": self.probes,
            "encodes": self.encodes,
            "wall_s": round(self.wall_s, 1),
            "guide": self.guide,
            "notes": self.notes,
        }


def check_target(vmaf: float) -> float:
    if not (0.0 <= float(vmaf) <= 100.0):
        raise InputError(f"the VMAF target must be in [0, 100], got {vmaf:g}")
    return float(vmaf)


def guarantee_text(full: bool, verified: bool = False) -> str:
    """What a search promises about the full encode, exactly as measured (module doc)."""
    if full:
        return "exact: the whole title was encoded and scored at every probe"
    if verified:
        return "verified: the whole title's encode at the answer was scored and meets the target"
    hits, searches = T.TARGET_BENCH_HITS
    return (
        f"measured, not proven: aiming {T.TARGET_SAMPLE_MARGIN:g} above the target on the samples, the full encode "
        f"met the target in {hits} of {searches} sampled searches of bench/target.py ({T.TARGET_BENCH_TITLES}; "
        "BENCHMARKS.md); --verify makes it certain for this title"
    )


def find_cq(
    title: str | Path,
    vmaf: float,
    *,
    encoder: str = "libx264",
    preset: str = "medium",
    pool_name: str = "mean",
    models: str | Path | None = None,
    samples: int = T.TARGET_SAMPLES_DEFAULT,
    sample_seconds: float = T.TARGET_SAMPLE_SECONDS_DEFAULT,
    full: bool = False,
    verify: bool = False,
    resolutions: Sequence[int] = (),
    cq_range: tuple[int, int] | None = None,
    geometry: RawGeometry = RawGeometry(),
    out: str | Path | None = None,
    cache_dir: str | Path | None = None,
    ffmpeg: str | None = None,
    log: Callable[[str], None] | None = None,
) -> TargetResult:
    """The search (module doc); `log` gets one line per probe."""
    started = time.perf_counter()
    say = log or (lambda _line: None)
    target = check_target(vmaf)
    (pool_name,) = _one_pool(pool_name)
    adapter = get_adapter(encoder)
    lowest, highest = _cq_range(cq_range, adapter.cq_range, encoder)
    if samples < 1:
        raise InputError(f"--samples must be at least 1, got {samples}")
    if not 0 < sample_seconds <= T.TARGET_SAMPLE_SECONDS_MAX:
        raise InputError(f"--sample-seconds must be in (0, {T.TARGET_SAMPLE_SECONDS_MAX:g}], got {sample_seconds:g}")
    if full and (samples, sample_seconds) != (T.TARGET_SAMPLES_DEFAULT, T.TARGET_SAMPLE_SECONDS_DEFAULT):
        raise InputError("--full encodes the whole title: --samples and --sample-seconds do not apply")
    resolutions = _checked_heights(resolutions)
    for name, folder in (("--run", out), ("--cache", cache_dir), ("--models", models)):
        if folder is not None and not str(folder).strip():
            raise InputError(f"{name} is an empty path")
    ff = ffm.find_ffmpeg(ffmpeg)
    title_source = describe_source(title, **geometry.as_kwargs(), ff=ff)
    require_working(ff, [encoder])
    require_preset(ff, encoder, preset)
    real_preset = adapter.preset_for(preset)
    guide_curves, guide_notes = _guide(models, encoder, real_preset, pool_name)  # a bad MODELS: before any work
    cache = Path(cache_dir) if cache_dir is not None else layout.target_cache_dir(out)
    cells = layout.target_cells_dir(cache)
    _writable_folder(cells, "cache folder")
    _writable_folder(layout.target_samples_dir(cache), "cache folder")
    if out is not None:
        _writable_folder(layout.targets_dir(out), "run folder")
    # libvmaf on every core (any count gives the same numbers); the encoder on one thread, as every
    # vmafkit cell: x264's bitstream depends on its thread count, and an answer must not
    ctx = CellContext(ff=ff, cache_dir=cells, max_frames=None, threads=usable_cores())
    notes: list[str] = []
    encoded, plan = _what_to_encode(ff, title_source, full, samples, sample_seconds, cache, notes)
    # --verify settles a miss on the whole title, so its samples aim at the target itself (fewer bits)
    margin = 0.0 if plan is None or verify else T.TARGET_SAMPLE_MARGIN
    aim = min(target + margin, 100.0)
    notes += guide_notes
    guide_lines: list[str] = []
    made = [0]

    def rung_search(rung: tuple[int, int] | None) -> RungSearch:
        size = rung or title_source.even_size
        rates: dict[int, float] = {}
        label = "" if rung is None else f" {size[0]}x{size[1]}"

        def measure(cq: int) -> float:
            cell = Cell(encoded, encoder, real_preset, cq, rung)
            began = time.perf_counter()
            rows, fresh = _cell_rows(cell, ctx)
            made[0] += fresh
            score = pool([float(r[TARGET]) for r in rows], pool_name)
            rates[cq] = _rate_kbps(rows, encoded.fps)
            how = f"{time.perf_counter() - began:.1f} s" if fresh else "cached"
            say(f"probe{label} cq {cq}: vmaf {score:.2f} ({pool_name}), {rates[cq]:.0f} kbps [{how}]")
            return score

        guide = CurvePrior(guide_curves) if guide_curves is not None and rung is None else None
        found = search_cq(measure, aim, lowest=lowest, highest=highest, guide=guide)
        if guide is not None:
            guide_lines.extend(guide.used)
        return RungSearch(size=size, search=found, rates_kbps=rates, native=rung is None)

    rungs = [rung_search(rung) for rung in _rungs(title_source, encoded, resolutions, notes)]
    _mark_hull(rungs)
    result = TargetResult(
        title=title_source.path,
        title_sha256=title_source.sha256,
        target=target,
        aim=aim,
        encoder=encoder,
        preset=real_preset,
        pool=pool_name,
        rungs=rungs,
        samples=plan,
        guarantee=guarantee_text(plan is None),
        encodes=0,
        wall_s=0.0,
        notes=notes,
        guide=guide_lines,
    )
    best = result.best
    if best is not None and models is not None:
        best.prediction = _predicted(models, best, encoded, encoder, real_preset, ctx, notes, plan is not None)
    if verify and best is not None and plan is None:
        notes.append("--verify: the whole title was encoded at every probe; the answer is already exact")
    elif verify and best is not None:
        best.verified = _verify(title_source, best, encoder, real_preset, pool_name, target, lowest, ctx, made, say)
        if best.verified["meets"]:
            result.guarantee = guarantee_text(False, verified=True)
    result.encodes = made[0]
    result.wall_s = time.perf_counter() - started
    if out is not None:
        from vmafkit.report.targets import write_search

        write_search(out, result.to_json())
    return result


def _one_pool(name: str) -> tuple[str]:
    pools = parse_pools(name)
    if len(pools) != 1:
        raise InputError(f"a search targets one pool, got {', '.join(pools)}")
    return (pools[0],)


def _cq_range(given: tuple[int, int] | None, allowed: tuple[int, int], encoder: str) -> tuple[int, int]:
    if given is None:
        return allowed
    if len(given) != 2:
        raise InputError(f"--cq-range takes two cqs (low, high), got {len(given)}")
    lowest, highest = (int(v) for v in given)
    if not (allowed[0] <= lowest < highest <= allowed[1]):
        raise InputError(
            f"--cq-range {lowest}..{highest} must be increasing and inside {encoder}'s {allowed[0]}..{allowed[1]}"
        )
    return lowest, highest


def _checked_heights(resolutions: Sequence[int]) -> tuple[int, ...]:
    heights = tuple(int(h) for h in resolutions)
    small = [h for h in heights if h < ffm.LIBVMAF_MIN_SIDE]
    if small:
        raise InputError(
            f"--resolutions: a rung of {small[0]} lines is below {ffm.LIBVMAF_MIN_SIDE}, too small to encode"
        )
    return heights


def _writable_folder(folder: Path, what: str) -> None:
    """Make `folder` (and its parents) and prove it takes a file, before any work."""
    import tempfile

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise InputError(f"cannot write the {what} here: {exc.strerror or exc}", path=folder) from None


def _what_to_encode(
    ff: ffm.Ffmpeg, title: Source, full: bool, count: int, seconds: float, cache: Path, notes: list[str]
) -> tuple[Source, SamplePlan | None]:
    """The title itself (`full`, or a title so short that the samples asked would cover more than
    `T.TARGET_MAX_SAMPLED_SHARE` of it: they would save little and guarantee less), or its samples
    cut into one lossless clip."""
    if full:
        return title, None
    from vmafkit.media.moments import scene_cuts
    from vmafkit.media.score import count_frames

    frames = count_frames(ff, title)
    length = sample_frames(seconds, title.fps)
    if length > frames:
        plan_samples(frames, title.fps, count=count, seconds=seconds, where=title.path)  # refuses, by name
    if count * length > T.TARGET_MAX_SAMPLED_SHARE * frames:
        notes.append(
            f"the title is {frames / title.fps:.1f} s: {count} sample(s) of {seconds:g} s would cover more than "
            f"{T.TARGET_MAX_SAMPLED_SHARE:.0%} of it, so the whole title was encoded (exact)"
        )
        return title, None
    cuts = [frame for frame, _ in scene_cuts(ff, title, None)]
    plan = plan_samples(frames, title.fps, count=count, seconds=seconds, cuts=cuts, where=title.path)
    notes.extend(plan.notes)
    return sample_clip(ff, title, plan, layout.target_samples_dir(cache)), plan


def _rungs(
    title: Source, encoded: Source, resolutions: Sequence[int], notes: list[str]
) -> list[tuple[int, int] | None]:
    if not resolutions:
        return [None]
    rungs: list[tuple[int, int] | None] = []
    for height in sorted({int(h) for h in resolutions}, reverse=True):
        if height <= 0:
            raise InputError(f"--resolutions takes heights above 0, got {height}")
        if height >= title.even_size[1]:
            if None not in rungs:
                rungs.insert(0, None)
            if height > title.even_size[1]:
                notes.append(f"rung {height}p is above the title's {title.height} lines: searched at the title's size")
            continue
        size = rung_size(encoded, height)
        if size is not None:
            rungs.append(size)
    return rungs


def _cell_rows(cell: Cell, ctx: CellContext) -> tuple[list[dict[str, Any]], int]:
    """The cell's rows, and 1 when this call encoded it (0: from the cache)."""
    from vmafkit.corpus.build import cell_path, load_cached_cell

    cached = load_cached_cell(cell_path(cell, ctx), cell) is not None  # a damaged cell is made again
    return run_cell(cell, ctx), 0 if cached else 1


def _rate_kbps(rows: Sequence[dict[str, Any]], fps: float) -> float:
    seconds = len(rows) / fps
    return float(rows[0]["enc_bytes"]) * 8 / seconds / 1000


def _mark_hull(rungs: list[RungSearch]) -> None:
    """Mark the rungs whose answer lies on the upper hull of the answers' (rate, vmaf) points."""
    from vmafkit.report.rd import RatePoint, upper_hull

    points = {}
    for i, rung in enumerate(rungs):
        if rung.cq is not None:
            score = rung.search.score_at(rung.cq)
            assert score is not None
            points[i] = RatePoint(rung.rates_kbps[rung.cq], score, rung.cq, *rung.size, 0)
    hull = set(upper_hull(list(points.values())))
    for i, point in points.items():
        rungs[i].on_hull = point in hull


def _verify(title, rung, encoder, preset, pool_name, target, lowest, ctx, made, say) -> dict[str, Any]:
    """Encode and score the whole title at the rung's answer. When it misses the target (the samples
    were kinder than the title), the search is finished on the whole title below the answer, so a
    verified answer always meets the target on the full encode."""
    geometry = None if rung.native else rung_size(title, rung.size[1])
    measured: dict[int, tuple[float, float, int]] = {}

    def full(cq: int) -> float:
        if cq not in measured:
            began = time.perf_counter()
            rows, fresh = _cell_rows(Cell(title, encoder, preset, cq, geometry), ctx)
            made[0] += fresh
            measured[cq] = (pool([float(r[TARGET]) for r in rows], pool_name), _rate_kbps(rows, title.fps), len(rows))
            say(f"verify {rung.label} cq {cq}: the full title scores {measured[cq][0]:.2f} ({pool_name}), "
                f"{measured[cq][1]:.0f} kbps [{time.perf_counter() - began:.1f} s]")  # fmt: skip
        return measured[cq][0]

    final: int | None = rung.cq
    if full(rung.cq) < target:
        final = None
        if rung.cq > lowest:
            final = search_cq(full, target, lowest=lowest, highest=rung.cq, first=rung.cq - 1).cq
    score, rate, frames = measured[final if final is not None else rung.cq]
    return {
        "cq": final,
        "sampled_cq": rung.cq,
        "vmaf": round(score, 4),
        "rate_kbps": round(rate, 1),
        "frames": frames,
        "meets": final is not None and score >= target,
        "full_encodes": sorted(measured),
    }


# ----------------------------------------------------------------------------- the ensemble


def _guide(models, encoder: str, preset: str, pool_name: str):
    """The training curves of the corpus `models` pins (None when it guides nothing), and notes."""
    if models is None:
        return None, []
    from vmafkit.corpus.schema import iter_jsonl
    from vmafkit.io import sha256_file
    from vmafkit.pipeline.cq_prior import curves_from_rows
    from vmafkit.serve.predict import registry_rows

    models = Path(models)
    _, rows, _ = registry_rows(models, None)
    pinned = {row.get("corpus_sha256") for row in rows}
    corpus = layout.corpus_file(models.resolve().parent)
    if len(pinned) != 1 or not corpus.is_file() or sha256_file(corpus) not in pinned:
        return None, [f"search not guided: the training corpus {models} pins is not beside it at {corpus} (or differs)"]
    curves = curves_from_rows(
        (row for _, row in iter_jsonl(corpus)), encoder=encoder, preset=preset, pool_name=pool_name
    )
    if not curves:
        return None, [f"search not guided: {models} was not trained on {encoder} preset {preset} (outside its domain)"]
    return curves, [f"search guided by {len(curves)} training curve(s) of {models}"]


def _predicted(
    models,
    rung: RungSearch,
    encoded: Source,
    encoder: str,
    preset: str,
    ctx: CellContext,
    notes: list[str],
    sampled: bool,
) -> dict[str, Any] | None:
    """The ensemble's prediction of the answer's encode (its frames pooled per clip), with its
    interval; None, with a note, when that encode lies outside the ensemble's domain."""
    from vmafkit.serve.handle import load

    assert rung.cq is not None
    cell = Cell(encoded, encoder, preset, rung.cq, None if rung.native else rung.size)
    rows = run_cell(cell, ctx)
    try:
        prediction = load(models).predict(
            rows, encoder=encoder, preset=preset, cq=rung.cq, allow_out_of_domain=True, with_frames=False
        )
    except InputError as exc:
        notes.append(f"the ensemble's prediction is not served: {exc}")
        return None
    encoded_what = "the samples' encode" if sampled else "the title's encode"
    clip = prediction.clips[0]
    if not clip.get("in_domain") or clip.get("lower") is None:
        notes.append(f"the ensemble's prediction is not served: the answer's encode lies outside {models}'s domain")
        return None
    notes.extend(f"ensemble: {note}" for note in prediction.notes)
    return {
        "score": clip["score"],
        "lower": clip["lower"],
        "upper": clip["upper"],
        "of": f"{encoded_what} at cq {rung.cq}",
        "interval": prediction.interval.get("guarantee"),
    }


__all__ = ["Probe", "RungSearch", "TargetResult", "find_cq"]
