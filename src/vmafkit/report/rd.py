"""Rate–quality analysis of a corpus: curves, the convex hull across rungs, BD-rate, cq for a target.

A corpus is a rate–quality grid: every (source, encoder, preset, rung, cq) cell has its encoded
size (`enc_bytes`, the whole file, container included) and per-frame VMAF. One cell is one point:

- rate: `enc_bytes * 8 / 1000 / duration` kbit/s, duration = (last frame_index + 1) / fps;
- quality: the VMAF of the cell's frames pooled by their mean, or by the pool asked for (`--pool`: harmonic,
  min, a low percentile: `media.pooling`); one pool a run.

A curve is the points of one (source, encoder) — with the preset in the name when an encoder was
run with several — across every rung. With one rung, BD-rate uses the curve's points as the
Bjøntegaard method does (a point that costs more bits for less VMAF than another is dropped, so
the curve is monotone); with several rungs, it uses their upper convex hull in the (log10 rate,
VMAF) plane: the points an ABR ladder would pick.

BD-rate (Bjøntegaard) of a test curve against an anchor: log10(rate) as a piecewise-cubic
(PCHIP, monotone) function of VMAF for each curve, both integrated over the VMAF range the two
curves share; the mean difference d gives (10**d - 1) * 100 percent. Negative: the test encoder
needs fewer bits than the anchor for the same VMAF. Curves that share no VMAF range, or have
fewer than two hull points, get no number but a reason.

The summary per encoder counts each LOSO group once: sources of one scene (the corpus rows'
`group`, which defaults to the source's own name) are one piece of evidence, not several. Each
group's value is the mean BD-rate of its sources; the summary is the mean over groups, and its
interval a percentile bootstrap that resamples groups.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.interpolate import PchipInterpolator

from vmafkit.corpus.schema import read_rows
from vmafkit.errors import InputError
from vmafkit.media import pooling
from vmafkit.thresholds import RD_BOOTSTRAP

BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95
# Two points make a (linear) PCHIP; the Bjøntegaard convention is four. Fewer than two: no curve.
MIN_CURVE_POINTS = 2


@dataclass(frozen=True)
class RatePoint:
    """One corpus cell on the rate–quality plane."""

    rate_kbps: float
    vmaf: float
    cq: float
    width: int
    height: int
    n_frames: int

    @property
    def rung(self) -> str:
        return f"{self.width}x{self.height}"


@dataclass(frozen=True)
class ModelPoint:
    """The ensemble's per-clip VMAF of one cell, its interval (None when uncalibrated or outside
    the domain) and, outside the domain, why."""

    score: float
    lower: float | None
    upper: float | None
    reason: str | None


@dataclass(frozen=True)
class BdRate:
    """BD-rate of `encoder` against the anchor on one source: `pct` or, when none, `reason`.
    `group`: the source's LOSO group (None: the source is its own group)."""

    src: str
    encoder: str
    pct: float | None
    reason: str | None
    overlap: tuple[float, float] | None
    basis: str = "points"
    group: str | None = None

    @property
    def loso_group(self) -> str:
        return self.src if self.group is None else self.group


@dataclass(frozen=True)
class EncoderSummary:
    """The BD-rate of one encoder as one value per LOSO group (the mean over the group's sources
    that have a number), the mean over those groups, and its bootstrap interval over groups."""

    encoder: str
    n_sources: int
    mean_pct: float | None
    interval: tuple[float, float] | None
    n_groups: int = 0

    @property
    def counted(self) -> str:
        """How the mean was counted, in words."""
        groups = f"{self.n_groups} group{'' if self.n_groups == 1 else 's'}"
        return f"one value per LOSO group, {groups} from {self.n_sources} source{'' if self.n_sources == 1 else 's'}"


@dataclass(frozen=True)
class CqForTarget:
    """The cq at which a (source, encoder, rung) reaches the target VMAF, by linear interpolation."""

    src: str
    encoder: str
    rung: str
    cq: float | None
    reason: str | None
    # with a model: the cq at which its prediction reaches the target, and the cqs at which the
    # lower and the upper end of its interval do (the lower end's is the smaller, safe choice)
    model_cq: float | None = None
    model_cq_range: tuple[float | None, float | None] | None = None
    model_reason: str | None = None


def _cells(rows: Iterable[Mapping], where: str = "corpus") -> tuple[dict[tuple, list[Mapping]], dict[str, set[str]]]:
    """Rows grouped into cells (src, encoder, preset, width, height, cq), and each encoder's presets.
    A source name is a curve's name, so two reference clips under one name (another src_sha256)
    are refused rather than blended into one curve."""
    cells: dict[tuple, list[Mapping]] = defaultdict(list)
    presets: dict[str, set[str]] = defaultdict(set)
    clip_of: dict[str, str] = {}
    for row in rows:
        sha = str(row.get("src_sha256", ""))
        first = clip_of.setdefault(str(row["src"]), sha)
        if first != sha:
            raise InputError(
                f"src {row['src']!r} names two reference clips (src_sha256 {first[:12]} and {sha[:12]}); "
                "their curves would blend into one: give each clip its own name and re-score",
                path=where,
            )
        key = (row["src"], row["encoder"], row["preset"], int(row["width"]), int(row["height"]), float(row["cq"]))
        presets[row["encoder"]].add(row["preset"])
        cells[key].append(row)
    return cells, presets


def _curve_name(encoder: str, preset: str, presets: Mapping[str, set[str]]) -> str:
    return encoder if len(presets[encoder]) == 1 else f"{encoder}/{preset}"


def curve_points(
    rows: Iterable[Mapping], *, where: str = "corpus", pool: str = "mean"
) -> dict[tuple[str, str], list[RatePoint]]:
    """Group validated corpus rows into cells and cells into curves keyed by (src, encoder); a
    cell's quality is its frames' VMAF pooled by `pool` (`media.pooling`: mean, harmonic, ...)."""
    cells, presets = _cells(rows, where)
    curves: dict[tuple[str, str], list[RatePoint]] = defaultdict(list)
    for (src, encoder, preset, width, height, cq), cell in sorted(cells.items()):
        sizes = {int(r["enc_bytes"]) for r in cell}
        rates = {float(r["fps"]) for r in cell}
        if len(sizes) != 1 or len(rates) != 1:
            raise InputError(
                f"cell ({src}, {encoder}, {preset}, {width}x{height}, cq {cq:g}) has "
                f"{len(sizes)} different enc_bytes and {len(rates)} different fps values; "
                "one encode has one size and one frame rate",
                path=where,
            )
        (size,) = sizes
        (fps,) = rates
        if size <= 0:
            raise InputError(
                f"cell ({src}, {encoder}, {preset}, {width}x{height}, cq {cq:g}) has enc_bytes 0: its encode's "
                "size, and so its rate, is unknown; rd needs every cell's size (re-score it with `vmafkit corpus`)",
                path=where,
            )
        duration = (max(int(r["frame_index"]) for r in cell) + 1) / fps
        curves[(src, _curve_name(encoder, preset, presets))].append(
            RatePoint(
                rate_kbps=size * 8 / 1000 / duration,
                vmaf=pooling.pool([float(r["vmaf"]) for r in cell], pool),
                cq=cq,
                width=width,
                height=height,
                n_frames=len(cell),
            )
        )
    return dict(curves)


def model_predictions(
    rows: Sequence[Mapping], models: str | Path, *, coverage: float, notes: list[str] | None = None
) -> dict[tuple[str, str, str, float], ModelPoint]:
    """The ensemble in MODELS on every cell: its per-clip prediction and calibrated interval, keyed
    by (src, curve name, rung "WxH", cq). A cell outside the model's training domain gets no
    number but the reason. `notes`: collects what `predict` notes about the models (e.g. a smoke
    registry served by one member), each once."""
    from vmafkit.decide.verdict import VMAF_TARGET
    from vmafkit.serve.handle import load

    ensemble = load(models)
    if ensemble.target_kind != VMAF_TARGET:
        raise InputError(
            f"ensemble {ensemble.model_id} predicts {ensemble.target_kind} scores; rd --models needs one trained on VMAF",
            path=ensemble.registry,
        )
    cells, presets = _cells(rows)
    out = {}
    for (src, encoder, preset, width, height, cq), cell in sorted(cells.items()):
        result = ensemble.predict(cell, clip=src, coverage=coverage, with_frames=False, allow_out_of_domain=True)
        (clip,) = result.clips
        if notes is not None:
            notes.extend(note for note in result.notes if note not in notes)
        key = (src, _curve_name(encoder, preset, presets), f"{width}x{height}", cq)
        if clip["in_domain"]:
            out[key] = ModelPoint(clip["score"], clip["lower"], clip["upper"], None)
        else:
            out[key] = ModelPoint(clip["score"], None, None, f"outside the model's domain: {clip['out_of_domain']}")
    return out


def source_groups(rows: Iterable[Mapping], *, where: str = "corpus") -> dict[str, str]:
    """Each source's LOSO group: the rows' `group`, or the source's own name where there is none.
    A source whose rows name two groups is refused."""
    groups: dict[str, str] = {}
    for row in rows:
        src = str(row["src"])
        group = str(row.get("group") or src)
        first = groups.setdefault(src, group)
        if first != group:
            raise InputError(
                f"source {src} is in LOSO groups {first!r} and {group!r}; one source belongs to one group",
                path=where,
            )
    return groups


def upper_hull(points: Sequence[RatePoint]) -> list[RatePoint]:
    """The upper convex hull in the (log10 rate, VMAF) plane, up to its highest VMAF, rate ascending.

    Monotone-chain hull; points of equal rate keep the better one. The result rises strictly in
    both rate and VMAF, which is what the BD-rate interpolation needs."""
    best: dict[float, RatePoint] = {}
    for p in points:
        if p.rate_kbps <= 0 or not math.isfinite(p.rate_kbps):
            continue
        if p.rate_kbps not in best or p.vmaf > best[p.rate_kbps].vmaf:
            best[p.rate_kbps] = p
    ordered = [best[r] for r in sorted(best)]
    hull: list[RatePoint] = []
    for p in ordered:
        while len(hull) >= 2 and _not_right_turn(hull[-2], hull[-1], p):
            hull.pop()
        hull.append(p)
    top = max(range(len(hull)), key=lambda i: hull[i].vmaf, default=-1)
    return hull[: top + 1]


def monotone_points(points: Sequence[RatePoint]) -> list[RatePoint]:
    """The points whose VMAF beats every cheaper point's, rate ascending."""
    out: list[RatePoint] = []
    for p in sorted(points, key=lambda p: (p.rate_kbps, -p.vmaf)):
        usable = p.rate_kbps > 0 and math.isfinite(p.rate_kbps)
        if usable and (not out or (p.rate_kbps > out[-1].rate_kbps and p.vmaf > out[-1].vmaf)):
            out.append(p)
    return out


def curve_basis(points: Sequence[RatePoint]) -> tuple[str, list[RatePoint]]:
    """What BD-rate is computed on: ("points", the monotone points) for one rung, ("hull", the
    upper convex hull) across several."""
    if len({p.rung for p in points}) > 1:
        return "hull", upper_hull(points)
    return "points", monotone_points(points)


def _not_right_turn(a: RatePoint, b: RatePoint, c: RatePoint) -> bool:
    ax, bx, cx = math.log10(a.rate_kbps), math.log10(b.rate_kbps), math.log10(c.rate_kbps)
    cross = (bx - ax) * (c.vmaf - a.vmaf) - (b.vmaf - a.vmaf) * (cx - ax)
    return cross >= 0


def bd_rate_pct(
    anchor: Sequence[tuple[float, float]], test: Sequence[tuple[float, float]]
) -> tuple[float | None, str | None, tuple[float, float] | None]:
    """BD-rate in percent of `test` against `anchor`, each a list of (rate, vmaf) points.

    Returns (pct, None, overlap) or (None, reason, overlap-or-None)."""
    curves = []
    for name, pts in (("anchor", anchor), ("test", test)):
        pts = sorted((float(q), float(r)) for r, q in pts)
        qualities = [q for q, _ in pts]
        if len(pts) < MIN_CURVE_POINTS:
            return None, f"the {name} curve has {len(pts)} point(s); BD-rate needs at least {MIN_CURVE_POINTS}", None
        rates = [r for _, r in pts]
        # sorted by VMAF, both columns must rise: equal VMAF, equal rate, or VMAF falling as the
        # rate rises are not one rate-quality curve
        if any(b <= a for a, b in zip(qualities, qualities[1:])) or any(b <= a for a, b in zip(rates, rates[1:])):
            return None, f"the {name} curve's VMAF does not rise strictly with rate", None
        if any(r <= 0 for _, r in pts):
            return None, f"the {name} curve has a rate of 0", None
        curves.append((np.array(qualities), np.log10([r for _, r in pts])))
    (qa, la), (qt, lt) = curves
    low, high = max(qa[0], qt[0]), min(qa[-1], qt[-1])
    if not high > low:
        return (
            None,
            f"the VMAF ranges do not overlap (anchor {qa[0]:.2f}–{qa[-1]:.2f}, test {qt[0]:.2f}–{qt[-1]:.2f})",
            None,
        )
    area_anchor = PchipInterpolator(qa, la).integrate(low, high)
    area_test = PchipInterpolator(qt, lt).integrate(low, high)
    mean_diff = (area_test - area_anchor) / (high - low)
    return float((10.0**mean_diff - 1.0) * 100.0), None, (float(low), float(high))


def bd_rates(
    curves: Mapping[tuple[str, str], Sequence[RatePoint]],
    anchor: str,
    groups: Mapping[str, str] | None = None,
) -> list[BdRate]:
    """BD-rate of every other encoder against `anchor`, per source (see `curve_basis`); each result
    carries its source's LOSO group from `groups` (`source_groups`; without it, each source is its
    own group)."""
    groups = groups or {}
    encoders = sorted({enc for _, enc in curves})
    if anchor not in encoders:
        raise InputError(f"anchor encoder {anchor!r} is not in the corpus (it has: {', '.join(encoders)})")
    out = []
    for src in sorted({s for s, _ in curves}):
        if (src, anchor) not in curves:
            for enc in encoders:
                if enc != anchor and (src, enc) in curves:
                    out.append(BdRate(src, enc, None, f"source has no {anchor} curve", None, group=groups.get(src)))
            continue
        anchor_basis, anchor_points = curve_basis(curves[(src, anchor)])
        for enc in encoders:
            if enc == anchor or (src, enc) not in curves:
                continue
            test_basis, test_points = curve_basis(curves[(src, enc)])
            pct, reason, overlap = bd_rate_pct(
                [(p.rate_kbps, p.vmaf) for p in anchor_points], [(p.rate_kbps, p.vmaf) for p in test_points]
            )
            basis = "hull" if "hull" in (anchor_basis, test_basis) else "points"
            out.append(BdRate(src, enc, pct, reason, overlap, basis, group=groups.get(src)))
    return out


def summarize(
    results: Sequence[BdRate],
    *,
    resamples: int = RD_BOOTSTRAP,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
) -> list[EncoderSummary]:
    """Per encoder: one value per LOSO group (the mean BD-rate of the group's sources that have a
    number), their mean, and a percentile bootstrap interval that resamples groups (none with
    fewer than two groups). Sources of one scene thus count once, not once per source."""
    out = []
    for enc in sorted({r.encoder for r in results}):
        by_group: dict[str, list[float]] = defaultdict(list)
        for r in results:
            if r.encoder == enc and r.pct is not None:
                by_group[r.loso_group].append(r.pct)
        n_sources = sum(len(v) for v in by_group.values())
        if not by_group:
            out.append(EncoderSummary(enc, 0, None, None, 0))
            continue
        values = np.array([np.mean(by_group[g]) for g in sorted(by_group)], dtype=float)
        interval = None
        if values.size >= 2:
            rng = np.random.default_rng(seed)
            means = values[rng.integers(0, values.size, size=(resamples, values.size))].mean(axis=1)
            tail = (1.0 - confidence) / 2 * 100
            interval = (float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail)))
        out.append(EncoderSummary(enc, n_sources, float(values.mean()), interval, int(values.size)))
    return out


def cq_for_target(
    curves: Mapping[tuple[str, str], Sequence[RatePoint]],
    target: float,
    model: Mapping[tuple[str, str, str, float], ModelPoint] | None = None,
) -> list[CqForTarget]:
    """Per (source, encoder, rung): the cq whose interpolated mean VMAF equals `target`.

    Along cq, VMAF falls; the answer is the largest cq that still reaches the target, found by
    linear interpolation between the two tried cqs around it. Outside the tried cqs: no number.
    With `model` (`model_predictions`), the same for the ensemble's prediction and for both ends
    of its interval."""
    out = []
    for (src, enc), points in sorted(curves.items()):
        by_rung: dict[str, list[RatePoint]] = defaultdict(list)
        for p in points:
            by_rung[p.rung].append(p)
        for rung, pts in sorted(by_rung.items()):
            pts = sorted(pts, key=lambda p: p.cq)
            cqs = [p.cq for p in pts]
            cq, reason = _crossing(cqs, [p.vmaf for p in pts], target)
            row = CqForTarget(src, enc, rung, cq, reason)
            if model is not None:
                row = _with_model(row, cqs, [model[(src, enc, rung, c)] for c in cqs], target)
            out.append(row)
    return out


def _with_model(row: CqForTarget, cqs: list[float], predicted: list[ModelPoint], target: float) -> CqForTarget:
    outside = next((p.reason for p in predicted if p.reason), None)
    if outside:
        return replace(row, model_reason=outside)
    model_cq, reason = _crossing(cqs, [p.score for p in predicted], target)
    lows, highs = [p.lower for p in predicted], [p.upper for p in predicted]
    if any(v is None for v in lows + highs):
        return replace(row, model_cq=model_cq, model_reason=reason or "the model has no calibrated interval")
    safe, _ = _crossing(cqs, [float(v) for v in lows if v is not None], target)
    bold, _ = _crossing(cqs, [float(v) for v in highs if v is not None], target)
    return replace(row, model_cq=model_cq, model_cq_range=(safe, bold), model_reason=reason)


def _crossing(cqs: Sequence[float], vmafs: Sequence[float], target: float) -> tuple[float | None, str | None]:
    """The largest cq whose VMAF reaches `target`, interpolated towards the next cq tried. A curve
    need not fall monotonically (encoder noise at a low cq): any cq that reaches the target counts,
    not only the lowest."""
    reaching = [k for k, v in enumerate(vmafs) if v >= target]
    if not reaching:
        best = max(range(len(vmafs)), key=lambda k: (vmafs[k], -k))
        which = "lowest" if best == 0 else "best"
        return None, f"not reached: the {which} cq tried ({cqs[best]:g}) gives VMAF {vmafs[best]:.2f}"
    k = reaching[-1]
    if k == len(cqs) - 1:
        if len(reaching) == len(cqs):
            return None, f"every cq tried reaches it: the highest ({cqs[k]:g}) gives VMAF {vmafs[k]:.2f}"
        return None, f"the highest cq tried ({cqs[k]:g}) reaches it (VMAF {vmafs[k]:.2f}): no cq above it was tried"
    c0, c1, v0, v1 = cqs[k], cqs[k + 1], vmafs[k], vmafs[k + 1]
    return c0 + (v0 - target) * (c1 - c0) / (v0 - v1), None


@dataclass(frozen=True)
class RdAnalysis:
    """Everything `vmafkit rd` reports about one corpus."""

    corpus: str
    anchor: str
    target: float
    curves: dict[tuple[str, str], list[RatePoint]]
    bd: list[BdRate]
    summary: list[EncoderSummary]
    cq_rows: list[CqForTarget]
    models: str | None = None
    model_notes: tuple[str, ...] = ()  # what predict notes about MODELS (smoke registry, ...)
    plot_files: tuple[str, ...] = ()  # the plots written (`vmafkit.rd(plots=...)`)
    pool: str = "mean"  # how a cell's frames make its quality (`media.pooling`)

    def to_json(self) -> dict:
        curves = []
        for (src, enc), points in sorted(self.curves.items()):
            basis, used = curve_basis(points)
            used_ids = {id(p) for p in used}
            curves.append(
                {
                    "src": src,
                    "encoder": enc,
                    "basis": basis,
                    "points": [
                        {
                            "rung": p.rung,
                            "cq": p.cq,
                            "kbps": p.rate_kbps,
                            "vmaf": p.vmaf,
                            "n_frames": p.n_frames,
                            "used": id(p) in used_ids,
                        }
                        for p in sorted(points, key=lambda p: (p.rate_kbps, p.cq))
                    ],
                }
            )
        return {
            "corpus": self.corpus,
            "anchor": self.anchor,
            "pool": self.pool,
            "bd_rate": [
                {
                    "src": r.src,
                    "group": r.loso_group,
                    "encoder": r.encoder,
                    "bd_rate_pct": r.pct,
                    "reason": r.reason,
                    "vmaf_range": None if r.overlap is None else list(r.overlap),
                    "basis": r.basis,
                }
                for r in self.bd
            ],
            "summary": [
                {
                    "encoder": s.encoder,
                    "n_sources": s.n_sources,
                    "n_groups": s.n_groups,
                    "aggregation": s.counted,
                    "mean_bd_rate_pct": s.mean_pct,
                    "interval": None if s.interval is None else list(s.interval),
                    "confidence": CONFIDENCE,
                    "bootstrap": {"over": "LOSO groups", "resamples": RD_BOOTSTRAP, "seed": BOOTSTRAP_SEED},
                }
                for s in self.summary
            ],
            "cq_for_target": {
                "target_vmaf": self.target,
                "models": self.models,
                "model_notes": list(self.model_notes),
                "rows": [
                    {
                        "src": r.src,
                        "encoder": r.encoder,
                        "rung": r.rung,
                        "cq": r.cq,
                        "reason": r.reason,
                        **(
                            {
                                "model_cq": r.model_cq,
                                "model_cq_range": None if r.model_cq_range is None else list(r.model_cq_range),
                                "model_reason": r.model_reason,
                            }
                            if self.models is not None
                            else {}
                        ),
                    }
                    for r in self.cq_rows
                ],
            },
            "curves": curves,
        }


CSV_COLUMNS = ("src", "encoder", "anchor", "bd_rate_pct", "reason", "vmaf_low", "vmaf_high", "basis", "pool")


def csv_rows(analysis: RdAnalysis) -> list[dict]:
    """One row per (source, encoder) BD-rate, for `vmafkit rd --csv`."""
    return [
        {
            "src": r.src,
            "encoder": r.encoder,
            "anchor": analysis.anchor,
            "bd_rate_pct": r.pct,
            "reason": r.reason,
            "vmaf_low": None if r.overlap is None else r.overlap[0],
            "vmaf_high": None if r.overlap is None else r.overlap[1],
            "basis": r.basis,
            "pool": analysis.pool,
        }
        for r in analysis.bd
    ]


def analyse_corpus(
    corpus: str | Path,
    *,
    anchor: str | None = None,
    target: float = 95.0,
    models: str | Path | None = None,
    coverage: float = CONFIDENCE,
    pool: str | Sequence[str] = "mean",
) -> RdAnalysis:
    """Read a corpus file and run the whole rate–quality analysis on it; with `models` (a models
    folder), "the cq for the target" also by the ensemble's prediction and its interval. `pool`
    (one of `media.pooling`'s) makes each cell's quality from its frames."""
    (pool,) = _one_pool(pool)
    if models is not None and pool != "mean":
        raise InputError(
            f"--models compares with the ensemble's clip prediction, a mean over frames; --pool {pool} "
            "has no prediction to compare with: leave --pool at mean with --models"
        )
    rows = read_rows(corpus)
    if not rows:
        raise InputError("has no rows", path=corpus)
    curves = curve_points(rows, where=str(corpus), pool=pool)
    encoders = sorted({enc for _, enc in curves})
    anchor = anchor or encoders[0]
    bd = bd_rates(curves, anchor, source_groups(rows, where=str(corpus)))
    notes: list[str] = []
    predicted = model_predictions(rows, models, coverage=coverage, notes=notes) if models is not None else None
    return RdAnalysis(
        corpus=str(corpus),
        anchor=anchor,
        target=float(target),
        curves=curves,
        bd=bd,
        summary=summarize(bd),
        cq_rows=cq_for_target(curves, target, predicted),
        models=None if models is None else str(models),
        model_notes=tuple(notes),
        pool=pool,
    )


def _one_pool(pool: str | Sequence[str]) -> tuple[str]:
    """rd draws one set of curves per run: exactly one pool."""
    pools = pooling.parse_pools(pool)
    if len(pools) != 1:
        raise InputError(f"rd takes one pool a run (one set of curves), got {', '.join(pools)}")
    return (pools[0],)


def _model_text(row: CqForTarget) -> str:
    def show(value: float | None) -> str:
        return "—" if value is None else f"{value:.1f}"

    text = show(row.model_cq)
    if row.model_cq_range is not None:
        text += f" [{show(row.model_cq_range[0])}, {show(row.model_cq_range[1])}]"
    if row.model_reason:
        text += f" ({row.model_reason})"
    return text


def format_table(analysis: RdAnalysis) -> str:
    """The plain-text report `vmafkit rd` prints."""
    quality = "VMAF" if analysis.pool == "mean" else f"VMAF (each clip's {analysis.pool})"
    lines = [f"BD-rate against {analysis.anchor} (negative: fewer bits for the same {quality})", ""]
    width = max([len(src) for src, _ in analysis.curves] + [6])
    for r in analysis.bd:
        value = f"{r.pct:+8.2f} %" if r.pct is not None else f"    none   ({r.reason})"
        lines.append(f"  {r.src:<{width}}  {r.encoder:<14} {value}")
    if not analysis.bd:
        lines.append("  (one encoder only: nothing to compare)")
    lines.append("")
    for s in analysis.summary:
        if s.mean_pct is None:
            lines.append(f"  {s.encoder}: no source has a BD-rate")
            continue
        interval = (
            ""
            if s.interval is None
            else f", {CONFIDENCE:.0%} bootstrap interval over groups [{s.interval[0]:+.2f}, {s.interval[1]:+.2f}]"
        )
        lines.append(f"  {s.encoder}: mean {s.mean_pct:+.2f} % ({s.counted}){interval}")
    lines += ["", f"cq that reaches {quality} {analysis.target:g}", ""]
    if analysis.models is not None:
        lines[-1:-1] = [f"  (libvmaf's VMAF, then the model in {analysis.models}: its prediction [interval])"]
    for row in analysis.cq_rows:
        value = f"{row.cq:6.1f}" if row.cq is not None else f"  none ({row.reason})"
        if analysis.models is not None:
            value += "   model " + _model_text(row)
        lines.append(f"  {row.src:<{width}}  {row.encoder:<14} {row.rung:>10} {value}")
    return "\n".join(lines)
