"""The report's figures: matplotlib (Agg, no pyplot state) rendered to PNG data URIs, so the page
is self-contained and the same inputs give the same bytes (no PNG metadata, fixed DPI)."""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from vmafkit import thresholds as T
from vmafkit.io import atomic_write_bytes, ensure_output_folder
from vmafkit.report.inputs import HeldOut
from vmafkit.report.rd import RatePoint, curve_basis

DPI = 96
MAX_SCATTER_POINTS = 3000  # per fold: a deterministic, evenly spaced subsample beyond this


def esc(value: Any) -> str:
    """Text for the report's HTML (every report page escapes with this)."""
    return html.escape(str(value), quote=True)


def short_text(text: str, limit: int = 38) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def axis_labels(names: Sequence[str], limit: int = 28) -> tuple[list[str], str]:
    """Axis labels without the prefix / suffix every name shares (and a note saying what was cut)."""
    names = [str(n) for n in names]
    if len(names) < 2:
        return [short_text(n, limit) for n in names], ""
    prefix = _common_prefix(names)
    suffix = _common_prefix([n[::-1] for n in names])[::-1]
    if any(len(n) - len(prefix) - len(suffix) < 1 for n in names):
        prefix, suffix = "", ""
    cut = [n[len(prefix) : len(n) - len(suffix)] for n in names]
    note = ""
    if prefix or suffix:
        parts = ([f"prefix “{prefix}”"] if prefix else []) + ([f"suffix “{suffix}”"] if suffix else [])
        note = "Labels leave out the common " + " and ".join(parts) + "."
    return [short_text(c, limit) for c in cut], note


def _common_prefix(names: Sequence[str]) -> str:
    first, last = min(names), max(names)
    k = 0
    while k < min(len(first), len(last)) and first[k] == last[k]:
        k += 1
    prefix = first[:k]
    # Cut at a separator, so "synthetic_bars" / "synthetic_blur" keep their whole words.
    cut = max(prefix.rfind(c) for c in "_-. ")
    return prefix[: cut + 1] if cut >= 0 else ""


def as_float(value: Any) -> float:
    """A JSON number as a float; NaN for anything else (null, a string, a bool)."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)


def format_number(value: Any, digits: int = 4) -> str:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return "n/a"
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}"


def figure(width: float, height: float, layout: Literal["constrained", "compressed", "tight"] | None = "constrained"):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout=layout)


def png(fig, alt: str) -> str:
    """The figure as an <img> with a base64 PNG data URI (no metadata: same bytes every time)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def gate_figure(per_seed: Mapping[int, float], mean: float, thr: float, smin: float, spread: float, smax: float) -> str:
    seeds = sorted(per_seed)
    values = np.array([per_seed[s] for s in seeds])
    fig = figure(9.5, 1.2 + 0.32 * len(seeds))
    ax = fig.add_subplot(1, 1, 1)
    colors = ["#2e7d32" if v >= smin - T.GATE_EPS else "#c62828" for v in values]
    y = np.arange(len(seeds))
    ax.barh(y, np.nan_to_num(values, nan=0.0), color=colors, height=0.6)
    ax.set_yticks(y, [f"seed {s}" for s in seeds])
    ax.invert_yaxis()
    finite = values[np.isfinite(values)]
    lo = min([*finite.tolist(), thr, smin]) if finite.size else min(thr, smin)
    ax.set_xlim(max(-1.0, lo - 0.02), 1.0)
    ax.axvline(smin, color="#c62828", ls="--", lw=1.2, label=f"per-seed minimum {smin:.3f}")
    if math.isfinite(mean):
        ax.axvline(mean, color="#1565c0", lw=1.2, label=f"mean {mean:.4f} (threshold {thr:.3f})")
    for yi, v in zip(y, values):
        if math.isfinite(v):
            ax.text(v, yi, f" {v:.4f}", va="center", fontsize=8)
    ax.set_xlabel("mean LOSO PLCC of the seed")
    title = f"spread {spread:.4f} (max {smax:.3f})" if math.isfinite(spread) else ""
    ax.set_title(title, fontsize=9)
    fig.legend(loc="outside upper center", ncol=2, fontsize=8, frameon=False)
    return png(fig, "per-seed PLCC against the gate thresholds")


def heatmap(folds: list[str], seeds: list[int], matrix: np.ndarray, smin: float) -> str:
    from matplotlib import colormaps

    finite = matrix[np.isfinite(matrix)]
    lo = float(min(finite.min(), smin - 0.05)) if finite.size else smin - 0.05
    fig = figure(min(2.6 + 0.95 * len(seeds), 11.0), 0.9 + 0.3 * len(folds))
    ax = fig.add_subplot(1, 1, 1)
    cmap = colormaps["RdYlGn"].with_extremes(bad="#d0d0d0")
    image = ax.imshow(np.ma.masked_invalid(matrix), cmap=cmap, vmin=max(-1.0, lo), vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(seeds)), [f"seed {s}" for s in seeds], fontsize=8)
    ax.set_yticks(range(len(folds)), [short_text(f) for f in folds], fontsize=8)
    if len(folds) * len(seeds) <= 400:
        for i in range(len(folds)):
            for j in range(len(seeds)):
                v = matrix[i, j]
                ax.text(j, i, f"{v:.3f}" if math.isfinite(v) else "n/a", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, label="PLCC", shrink=0.8)
    ax.set_title("per-fold PLCC (held-out source x seed)", fontsize=9)
    return png(fig, "heatmap of per-fold PLCC per seed")


def coverage_figure(
    folds: list[str], ens: Mapping[str, Mapping], per_seed: Mapping[int, Mapping[str, tuple]], level: float
) -> str:
    series: list[tuple[str, list[float], Any]] = []
    if ens:
        series.append(("ensemble (frames)", [as_float(ens.get(f, {}).get("frame_coverage")) for f in folds], "#1565c0"))
        series.append(("ensemble (clips)", [as_float(ens.get(f, {}).get("clip_coverage")) for f in folds], "#6a1b9a"))
    from matplotlib import colormaps

    greys = colormaps["Greys"]
    for k, (seed, by_fold) in enumerate(sorted(per_seed.items())):
        shade = greys(0.35 + 0.5 * k / max(1, len(per_seed) - 1))
        series.append((f"seed {seed}", [by_fold.get(f, (math.nan,))[0] for f in folds], shade))
    fig = figure(min(max(6.0, 0.75 * len(folds) * max(1, len(series)) / 2.5 + 2), 11.5), 3.9)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(folds))
    width = 0.8 / max(1, len(series))
    for k, (label, values, color) in enumerate(series):
        ax.bar(x - 0.4 + width * (k + 0.5), np.nan_to_num(values, nan=0.0), width=width, color=color, label=label)
    ax.axhline(level, color="#c62828", ls="--", lw=1.2, label=f"nominal {level:.0%}")
    labels, note = axis_labels(folds, 22)
    ax.set_xticks(
        x, labels, rotation=30 if len(folds) > 6 else 0, ha="right" if len(folds) > 6 else "center", fontsize=7
    )
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("coverage")
    if note:
        ax.set_xlabel(note, fontsize=7, color="#555")
    fig.legend(fontsize=7, ncol=min(6, len(series) + 1), loc="outside upper center", frameon=False)
    return png(fig, "interval coverage per held-out source")


def curves_figure(corpus, srcs: list[str], combos: list[tuple[str, str]], cqs: list[float]) -> str:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(srcs) <= 10 else "tab20"]
    ncols = min(2, len(combos))
    nrows = math.ceil(len(combos) / ncols)
    fig = figure(5.2 * ncols + 2.6, 3.4 * nrows + 0.2)
    for k, (enc, preset) in enumerate(combos):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        for i, src in enumerate(srcs):
            mask = (corpus.src == src) & (corpus.encoder == enc) & (corpus.preset == preset)
            xs = [c for c in cqs if np.any(mask & (corpus.cq == c))]
            ys = [float(corpus.vmaf[mask & (corpus.cq == c)].mean()) for c in xs]
            if xs:
                ax.plot(xs, ys, marker="o", ms=3.5, lw=1.3, color=cmap(i % cmap.N), label=short_text(src, 40))
        ax.set_title(f"{enc} (preset {preset})", fontsize=9)
        ax.set_xlabel("CQ / CRF", fontsize=8)
        ax.set_ylabel("mean VMAF over frames", fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    handles, labels = fig.axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right upper", fontsize=7)
    return png(fig, "VMAF vs CQ per source and encoder")


def scatter_figure(held: HeldOut, folds: Sequence[str]) -> str:
    """Predicted (seed mean) vs VMAF, one panel per held-out source in `folds`, coloured by CQ."""
    from vmafkit.train.metrics import plcc, rmse

    ncols = min(3, len(folds))
    nrows = math.ceil(len(folds) / ncols)
    width, height = 3.4 * ncols + 1.2, 3.0 * nrows + 0.4
    fig = figure(width, height, layout=None)
    fig.subplots_adjust(
        left=0.75 / width,
        right=1 - 1.1 / width,
        bottom=0.55 / height,
        top=1 - 0.45 / height,
        wspace=0.32,
        hspace=0.42 * 3.0 / 2.6,
    )
    lo = float(min(held.vmaf.min(), held.pred.min()))
    hi = float(max(held.vmaf.max(), held.pred.max()))
    pad = max(1.0, 0.03 * (hi - lo))
    lims = (lo - pad, hi + pad)
    cq_finite = held.cq[np.isfinite(held.cq)]
    norm = None
    if cq_finite.size:
        from matplotlib.colors import Normalize

        norm = Normalize(vmin=float(cq_finite.min()), vmax=float(max(cq_finite.max(), cq_finite.min() + 1)))
    scatter = None
    for k, name in enumerate(folds):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        mask = held.fold == name
        y, p, c = held.vmaf[mask], held.pred[mask], held.cq[mask]
        idx = np.arange(y.size)
        if y.size > MAX_SCATTER_POINTS:
            idx = np.linspace(0, y.size - 1, MAX_SCATTER_POINTS).astype(int)
        scatter = ax.scatter(
            y[idx], p[idx], c=c[idx] if norm else "#1565c0", cmap="viridis", norm=norm, s=7, alpha=0.75, linewidths=0
        )
        ax.plot(lims, lims, color="#888", lw=0.8, ls="--")
        ax.set_xlim(lims)
        ax.set_ylim(lims)
        ax.set_aspect("equal")
        ax.set_title(
            f"{short_text(name, 34)}\nPLCC {format_number(plcc(p, y))}  RMSE {format_number(rmse(p, y), 2)}", fontsize=8
        )
        ax.tick_params(labelsize=7)
        if k % ncols == 0:
            ax.set_ylabel("predicted (seed mean)", fontsize=8)
        if k >= len(folds) - ncols:
            ax.set_xlabel("VMAF (libvmaf)", fontsize=8)
    if norm is not None and scatter is not None:
        cax = fig.add_axes((1 - 0.8 / width, 0.55 / height, 0.15 / width, min(0.5, 2.6 / height)))
        fig.colorbar(scatter, cax=cax, label="CQ")
    return png(fig, "predicted vs VMAF per held-out source")


def draw_rate_quality(ax, curves: Mapping[tuple[str, str], Sequence[RatePoint]], src: str, pool: str = "mean") -> None:
    """One source's rate–quality plane: every cell as a marker, the curve BD-rate uses as a line."""
    for k, enc in enumerate(sorted(e for s, e in curves if s == src)):
        points = curves[(src, enc)]
        basis, used = curve_basis(points)
        color = f"C{k % 10}"
        ax.scatter([p.rate_kbps for p in points], [p.vmaf for p in points], color=color, s=14, alpha=0.5)
        label = enc if basis == "points" else f"{enc} (hull across rungs)"
        ax.plot([p.rate_kbps for p in used], [p.vmaf for p in used], color=color, marker="o", ms=3.5, label=label)
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    # labels at 1, 2 and 5 per decade, written as plain numbers: the default minor labels overlap
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("rate (kbit/s, log scale)", fontsize=8)
    ax.set_ylabel("mean VMAF" if pool == "mean" else f"VMAF ({pool} of the frames)", fontsize=8)
    ax.set_title(short_text(src, 48), fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.tick_params(labelsize=7)


def rate_quality_figure(curves: Mapping[tuple[str, str], Sequence[RatePoint]], srcs: Sequence[str]) -> str:
    """Small multiples: one rate–quality panel per source in `srcs`."""
    ncols = min(3, len(srcs))
    nrows = math.ceil(len(srcs) / ncols)
    fig = figure(4.0 * ncols, 3.1 * nrows + 0.4)
    for k, src in enumerate(srcs):
        draw_rate_quality(fig.add_subplot(nrows, ncols, k + 1), curves, src)
    handles, labels = fig.axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside upper center", ncol=min(6, len(labels)), fontsize=7, frameon=False)
    return png(fig, "rate–quality curves per source")


def rd_plot_name(src: str) -> str:
    """`rd_<source>.png`, with anything but letters, digits, '.', '-' and '_' replaced."""
    return "rd_" + "".join(c if c.isalnum() or c in "._-" else "_" for c in src) + ".png"


def rd_plot_names(sources: Sequence[str]) -> dict[str, str]:
    """Each source's plot file name (`rd_plot_name`); sources whose names replace to the same file
    (`a b` and `a_b`) each get their name's sha256 prefix too, so no plot overwrites another."""
    import hashlib
    from collections import Counter

    plain = {src: rd_plot_name(src) for src in sources}
    taken = Counter(plain.values())
    return {
        src: name
        if taken[name] == 1
        else f"{name[: -len('.png')]}_{hashlib.sha256(src.encode('utf-8')).hexdigest()[:8]}.png"
        for src, name in plain.items()
    }


def write_rd_plots(
    curves: Mapping[tuple[str, str], Sequence[RatePoint]], folder: str | Path, *, pool: str = "mean"
) -> list[Path]:
    """One PNG file per source in `folder` (`vmafkit rd --plots`), each written atomically; the
    quality axis says the `pool` the curves were made with."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    folder = ensure_output_folder(folder, "plots folder")
    sources = sorted({s for s, _ in curves})
    names = rd_plot_names(sources)
    written = []
    for src in sources:
        fig = figure(6.4, 4.2)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        draw_rate_quality(ax, curves, src, pool)
        ax.legend(fontsize=8)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
        path = folder / names[src]
        atomic_write_bytes(path, buffer.getvalue())
        written.append(path)
    return written


def subjective_figure(run) -> str:
    """Left: each model's pooled held-out PLCC and SROCC with their bootstrap intervals over contents.
    Right: the ensemble's held-out prediction vs the subjective score, coloured by content."""
    names = list(run.predictions)
    fig = figure(10.5, 3.9)
    left = fig.add_subplot(1, 2, 1)
    y = np.arange(len(names))
    for offset, stat, color in ((-0.15, "plcc", "#1565c0"), (0.15, "srocc", "#6a1b9a")):
        values = np.array([as_float(run.models[n].get(stat)) for n in names])
        cis = [run.models[n].get(f"{stat}_ci") or [None, None] for n in names]
        lo = np.array([as_float(c[0]) for c in cis])
        hi = np.array([as_float(c[1]) for c in cis])
        err = np.vstack([np.nan_to_num(values - lo), np.nan_to_num(hi - values)])
        left.errorbar(values, y + offset, xerr=err, fmt="o", color=color, ms=4, capsize=3, label=stat.upper())
    left.axvline(T.SUBJECTIVE_PLCC_MIN, color="#c62828", ls="--", lw=1, label=f"gate {T.SUBJECTIVE_PLCC_MIN}")
    left.set_yticks(y, names)
    left.invert_yaxis()
    left.set_xlabel("pooled held-out correlation (95% bootstrap interval over contents)", fontsize=8)
    left.legend(fontsize=7, loc="lower left")
    left.grid(alpha=0.3)
    right = fig.add_subplot(1, 2, 2)
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(run.contents) <= 10 else "tab20"]
    for i, content in enumerate(run.contents):
        mask = run.groups == content
        right.scatter(run.target[mask], run.predictions["ensemble"][mask], s=12, color=cmap(i % cmap.N))
    low = float(min(run.target.min(), run.predictions["ensemble"].min()))
    high = float(max(run.target.max(), run.predictions["ensemble"].max()))
    right.plot([low, high], [low, high], color="#888", lw=0.8, ls="--")
    right.set_xlabel(f"subjective score ({run.scale.get('name', '?')})", fontsize=8)
    right.set_ylabel("ensemble, held out (content left out)", fontsize=8)
    right.set_title("colour: content", fontsize=8)
    right.grid(alpha=0.3)
    return png(fig, "models' held-out correlation with intervals, and ensemble vs subjective score")


def quality_strip_figure(
    pairs: Sequence[int],
    values: Sequence[float],
    *,
    shots: Sequence[tuple[int, int]] = (),
    worst: Sequence[tuple[int, float, int]] = (),
    title: str = "",
) -> str:
    """Per-frame VMAF along the clip: `values` at `pairs` (scored frame numbers), the shots as
    alternately shaded bands ([first, last] frame numbers, numbered), and the worst frames as red
    points labelled with their rank ((pair, vmaf, rank))."""
    fig = figure(10.5, 2.6)
    ax = fig.add_subplot(1, 1, 1)
    for number, (first, last) in enumerate(shots, start=1):
        if number % 2 == 0:
            ax.axvspan(first - 0.5, last + 0.5, color="#eef1f4", lw=0)
        if len(shots) < 2:
            break  # one shot: nothing to tell apart
        ax.text((first + last) / 2, 1.0, f"shot {number}", transform=ax.get_xaxis_transform(), ha="center",
                va="bottom", fontsize=7, color="#6b7280")  # fmt: skip
    ax.plot(list(pairs), list(values), color="#1565c0", lw=1.0)
    mean = float(np.mean(values)) if len(values) else math.nan
    if math.isfinite(mean):
        ax.axhline(mean, color="#1565c0", lw=0.8, ls="--", alpha=0.6)
        ax.text(1.0, mean, f" mean {mean:.1f}", transform=ax.get_yaxis_transform(), va="center", fontsize=7,
                color="#1565c0")  # fmt: skip
    for pair, value, rank in worst:
        ax.plot([pair], [value], "o", color="#c62828", ms=4)
        ax.annotate(str(rank), (pair, value), textcoords="offset points", xytext=(0, -10), ha="center", fontsize=7,
                    color="#c62828")  # fmt: skip
    ax.set_xlabel("frame")
    ax.set_ylabel("VMAF")
    low = min(values) if len(values) else 0.0
    ax.set_ylim(max(0.0, low - 8.0), 100.0 if max(values, default=0.0) <= 100.0 else max(values) + 2.0)
    if len(pairs):
        ax.set_xlim(min(pairs) - 0.5, max(pairs) + 0.5)
    if title:
        ax.set_title(short_text(title, 110), fontsize=9, loc="left")
    ax.grid(alpha=0.3)
    return png(fig, "per-frame VMAF along the clip, shots shaded, worst frames marked")
