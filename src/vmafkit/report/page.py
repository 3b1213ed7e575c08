"""`OUT/report.html`: one self-contained page about a run (plots embedded as PNG data URIs).

Sections: the verdict, the gate's margins, per-fold PLCC per seed, predicted vs VMAF per held-out
source, interval coverage per fold, and a corpus summary. Each section reads only its own inputs
and, when they are missing or unreadable, says "not available" and why, so the report works on a
partial run. The page has inline CSS, no scripts and no external links, and holds no clock time
of its own: the same run folder gives the same bytes.

Where inputs are looked for: seed reports `loso_seed{N}.json`, their held-out predictions
`loso_seed{N}.predictions.jsonl` (or `.parquet`) and `PROMOTE.json` / `HOLD.json` in `OUT/loso`
(the `vmafkit run` layout) or `OUT` itself; the corpus is `--corpus`, else
`OUT/corpus/per_frame_canonical6.jsonl`, `OUT/per_frame_canonical6.jsonl`, or the path the seed
reports / verdict name.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from vmafkit import thresholds as T
from vmafkit.errors import InputError, VmafkitError
from vmafkit.io import atomic_write_text, iter_json_objects, read_json, sha256_file

REPORT_NAME = "report.html"
CORPUS_NAME = "per_frame_canonical6.jsonl"
_SEED_RE = re.compile(r"^loso_seed(\d+)\.json$")
_PRED_RE = re.compile(r"^loso_seed(\d+)\.predictions\.(jsonl|parquet)$")
MAX_SCATTER_FOLDS = 48
MAX_SCATTER_POINTS = 3000  # per fold: a deterministic, evenly spaced subsample beyond this
DPI = 96


# ----------------------------------------------------------------------------- finding the inputs


@dataclass
class RunInputs:
    out_dir: Path
    loso_dir: Path | None = None
    seed_reports: dict[int, dict[str, Any]] = field(default_factory=dict)
    seed_paths: dict[int, Path] = field(default_factory=dict)
    prediction_paths: dict[int, Path] = field(default_factory=dict)
    verdict: dict[str, Any] | None = None
    verdict_path: Path | None = None
    corpus_path: Path | None = None
    corpus_explicit: bool = False
    problems: list[str] = field(default_factory=list)  # unreadable inputs, one line each


def _rel(path: Path | None, base: Path) -> str:
    if path is None:
        return "-"
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path)


def _read_json_object(path: Path) -> dict[str, Any]:
    data = read_json(path, what="JSON file")
    if not isinstance(data, dict):
        raise InputError("is not a JSON object", path=path)
    return data


def _seed_files(folder: Path) -> dict[int, Path]:
    found = {}
    for path in folder.iterdir():
        match = _SEED_RE.match(path.name)
        if match and path.is_file():
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def find_inputs(out_dir: str | Path, corpus: str | Path | None = None) -> RunInputs:
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise InputError("run folder not found", path=out_dir)
    inputs = RunInputs(out_dir=out_dir)
    candidates = [d for d in (out_dir / "loso", out_dir) if d.is_dir()]
    for folder in candidates:
        if _seed_files(folder) or (folder / "PROMOTE.json").is_file() or (folder / "HOLD.json").is_file():
            inputs.loso_dir = folder
            break
    if inputs.loso_dir is not None:
        _load_loso(inputs, inputs.loso_dir)
        _keep_verdict_seeds(inputs)
    _find_corpus(inputs, corpus)
    return inputs


def _keep_verdict_seeds(inputs: RunInputs) -> None:
    """With a verdict, the run's seeds are the verdict's: leave out reports of other seeds (stale files)."""
    seeds = inputs.verdict.get("seeds") if inputs.verdict else None
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        return
    extra = sorted((set(inputs.seed_reports) | set(inputs.prediction_paths)) - set(seeds))
    if extra:
        inputs.problems.append(
            f"files of seeds {extra} are not part of the verdict (seeds {sorted(seeds)}); left out of this report"
        )
    for table in (inputs.seed_reports, inputs.seed_paths, inputs.prediction_paths):
        for seed in extra:
            table.pop(seed, None)


def _load_loso(inputs: RunInputs, loso: Path) -> None:
    for seed, path in _seed_files(loso).items():
        try:
            report = _read_json_object(path)
            if not isinstance(report.get("folds"), list):
                raise InputError("has no `folds` list", path=path)
            inputs.seed_reports[seed] = report
            inputs.seed_paths[seed] = path
        except InputError as exc:
            inputs.problems.append(str(exc))
    for path in sorted(loso.iterdir()):
        match = _PRED_RE.match(path.name)
        if match and path.is_file():
            seed = int(match.group(1))
            if seed not in inputs.prediction_paths or match.group(2) == "jsonl":
                inputs.prediction_paths[seed] = path
    verdicts = [p for p in (loso / "PROMOTE.json", loso / "HOLD.json") if p.is_file()]
    if len(verdicts) > 1:
        verdicts.sort(key=lambda p: p.stat().st_mtime_ns, reverse=True)
        inputs.problems.append(
            f"both PROMOTE.json and HOLD.json exist in {loso}; showing the newer, {verdicts[0].name}"
        )
    for path in verdicts[:1]:
        try:
            verdict = _read_json_object(path)
            if verdict.get("verdict") not in ("PROMOTE", "HOLD"):
                raise InputError("has no verdict PROMOTE or HOLD", path=path)
            from vmafkit.decide.verdict import stale_reason

            stale = stale_reason(verdict, loso)
            if stale is not None:
                raise InputError(f"STALE verdict, not shown: {stale}; re-run `vmafkit verdict`", path=path)
            inputs.verdict, inputs.verdict_path = verdict, path
        except InputError as exc:
            inputs.problems.append(str(exc))


def _corpus_named_by(inputs: RunInputs) -> list[Path]:
    named = []
    for report in inputs.seed_reports.values():
        value = report.get("corpus")
        value = value.get("path") if isinstance(value, dict) else value
        if isinstance(value, str) and value:
            named.append(Path(value))
    if inputs.verdict and isinstance(inputs.verdict.get("corpus"), dict):
        value = inputs.verdict["corpus"].get("path")
        if isinstance(value, str) and value:
            named.append(Path(value))
    resolved = []
    for path in named:
        resolved.append(path)
        if not path.is_absolute() and inputs.loso_dir is not None:
            resolved.append(inputs.loso_dir / path)
    return resolved


def _find_corpus(inputs: RunInputs, corpus: str | Path | None) -> None:
    if corpus is not None:
        inputs.corpus_path, inputs.corpus_explicit = Path(corpus), True
        return
    for path in (inputs.out_dir / "corpus" / CORPUS_NAME, inputs.out_dir / CORPUS_NAME, *_corpus_named_by(inputs)):
        if path.is_file():
            inputs.corpus_path = path
            return


# ----------------------------------------------------------------------------- small helpers


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, digits: int = 4) -> str:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return "n/a"
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}"


def _float(value: Any) -> float:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)


def _na(reason: str) -> str:
    return f'<p class="na">Not available: {_esc(reason)}</p>'


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{_esc(title)}</h2>\n{body}\n</section>'


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], *, cls: str = "") -> str:
    """Cells are HTML already (escape text with _esc before)."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "\n".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>'


def _mark(ok: bool | None) -> str:
    if ok is None:
        return '<span class="muted">n/a</span>'
    return '<span class="pass">pass</span>' if ok else '<span class="fail">FAIL</span>'


def _short(text: str, limit: int = 38) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _labels(names: Sequence[str], limit: int = 28) -> tuple[list[str], str]:
    """Axis labels without the prefix / suffix every name shares (and a note saying what was cut)."""
    names = [str(n) for n in names]
    if len(names) < 2:
        return [_short(n, limit) for n in names], ""
    prefix = _common_prefix(names)
    suffix = _common_prefix([n[::-1] for n in names])[::-1]
    if any(len(n) - len(prefix) - len(suffix) < 1 for n in names):
        prefix, suffix = "", ""
    cut = [n[len(prefix) : len(n) - len(suffix)] for n in names]
    note = ""
    if prefix or suffix:
        parts = ([f"prefix “{prefix}”"] if prefix else []) + ([f"suffix “{suffix}”"] if suffix else [])
        note = "Labels leave out the common " + " and ".join(parts) + "."
    return [_short(c, limit) for c in cut], note


def _common_prefix(names: Sequence[str]) -> str:
    first, last = min(names), max(names)
    k = 0
    while k < min(len(first), len(last)) and first[k] == last[k]:
        k += 1
    prefix = first[:k]
    # Cut at a separator, so "synthetic_bars" / "synthetic_blur" keep their whole words.
    cut = max(prefix.rfind(c) for c in "_-. ")
    return prefix[: cut + 1] if cut >= 0 else ""


def _figure(width: float, height: float, layout: Literal["constrained", "compressed", "tight"] | None = "constrained"):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout=layout)


def _png(fig, alt: str) -> str:
    """The figure as an <img> with a base64 PNG data URI (no metadata: same bytes every time)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{_esc(alt)}" src="data:image/png;base64,{data}">'


def _guard(title: str, anchor: str, build) -> str:
    """Run one section builder; an unreadable input becomes "not available", never a crash."""
    try:
        return _section(anchor, title, build())
    except VmafkitError as exc:
        return _section(anchor, title, _na(str(exc)))
    except (ValueError, KeyError, TypeError, IndexError, OSError) as exc:
        return _section(anchor, title, _na(f"inputs could not be read ({type(exc).__name__}: {exc})"))


# ----------------------------------------------------------------------------- sections


def _verdict_section(inp: RunInputs) -> str:
    v = inp.verdict
    if v is None:
        where = _rel(inp.loso_dir, inp.out_dir) if inp.loso_dir else "OUT or OUT/loso"
        return _na(f"no PROMOTE.json or HOLD.json in {where} (the verdict step has not run)")
    name = str(v.get("verdict"))
    gate = v.get("gate")
    if not isinstance(gate, dict):
        gate = {}
    corpus = v.get("corpus")
    if not isinstance(corpus, dict):
        corpus = {}
    rows = [
        ("verdict", f'<span class="badge {name.lower()}">{_esc(name)}</span>'),
        ("gate passed", _mark(gate.get("passed")) if "passed" in gate else "n/a"),
        ("file", _esc(_rel(inp.verdict_path, inp.out_dir))),
        ("generated (UTC)", _esc(v.get("generated_at_utc", "n/a"))),
        ("seeds", _esc(", ".join(str(s) for s in v.get("seeds", [])) or "n/a")),
    ]
    aspects = v.get("failing_aspects") or gate.get("failing_aspects")
    if aspects:
        rows.append(("failing aspects", "<br>".join(_esc(a) for a in aspects)))
    if corpus:
        rows += [
            ("corpus sha256", f"<code>{_esc(corpus.get('sha256', 'n/a'))}</code>"),
            (
                "corpus rows / sources",
                _esc(
                    f"{corpus.get('rows', 'n/a')} rows, "
                    f"{corpus.get('n_sources', len(corpus.get('sources') or []))} sources"
                ),
            ),
        ]
        ref = corpus.get("ref_dir")
        if isinstance(ref, dict):
            rows.append(
                (
                    "reference folder",
                    _esc(
                        f"{ref.get('path', '')} (snapshot {str(ref.get('sha256', ''))[:16]}, "
                        f"{ref.get('count', ref.get('n_files', '?'))} files)"
                    ),
                )
            )
    recipe = v.get("recipe")
    if isinstance(recipe, dict):
        rows.append(("recipe", _esc(", ".join(f"{k}={recipe[k]}" for k in sorted(recipe)))))
    body = _table(("", ""), rows, cls="kv")
    if v.get("recommendation"):
        body += f'<p class="rec"><b>Recommendation.</b> {_esc(v["recommendation"])}</p>'
    return body


def _gate(inp: RunInputs) -> tuple[dict[str, Any] | None, str]:
    if inp.verdict is not None and isinstance(inp.verdict.get("gate"), dict):
        return inp.verdict["gate"], f"from {_rel(inp.verdict_path, inp.out_dir)}"
    reported = {s: r.get("mean_plcc") for s, r in inp.seed_reports.items()}
    plccs = {s: float(p) for s, p in reported.items() if isinstance(p, (int, float)) and math.isfinite(p)}
    if not plccs:
        return None, ""
    from vmafkit.decide.gate import evaluate_gate

    calib = _provisional_calibration(inp)
    coverage = calib.get("fold_frame_coverage_min") if calib else None
    return evaluate_gate(plccs, coverage), "provisional: computed from the seed reports (no verdict file yet)"


def _provisional_calibration(inp: RunInputs) -> dict[str, Any] | None:
    """The calibration summary from the held-out prediction files when there is no verdict (None
    when they are incomplete or unreadable)."""
    if not (inp.prediction_paths and inp.seed_reports and set(inp.prediction_paths) == set(inp.seed_reports)):
        return None
    from vmafkit.decide.calibration import calibrate, read_predictions
    from vmafkit.train.model import Recipe

    try:
        per_seed = {s: read_predictions(p) for s, p in inp.prediction_paths.items()}
        first = next(iter(inp.seed_reports.values()))
        label_free = Recipe.from_json(first.get("recipe") or {}).label_free if isinstance(first, dict) else False
        return calibrate(per_seed, T.DEFAULT_COVERAGE, paths=inp.prediction_paths, label_free=label_free)["summary"]
    except InputError:
        return None


def _gate_section(inp: RunInputs) -> str:
    gate, origin = _gate(inp)
    if gate is None:
        return _na("no verdict and no readable seed reports (loso_seed{N}.json)")
    mean, thr = _float(gate.get("mean_plcc")), _float(gate.get("mean_plcc_threshold", T.MEAN_PLCC_MIN))
    spread, smax = _float(gate.get("plcc_spread")), _float(gate.get("plcc_spread_max", T.PLCC_SPREAD_MAX))
    smin = _float(gate.get("per_seed_min", T.PER_SEED_PLCC_MIN))
    per_seed = {int(k): _float(v) for k, v in (gate.get("per_seed_plccs") or {}).items()}
    failing = {int(s) for s in gate.get("failing_seeds") or []}

    def ok(margin: float) -> bool | None:
        return None if not math.isfinite(margin) else margin >= -T.GATE_EPS

    rows = [
        ("mean PLCC over seeds", "&ge;", _num(mean), _num(thr), _signed(mean - thr), _mark(ok(mean - thr))),
        (
            "spread (max &minus; min)",
            "&le;",
            _num(spread),
            _num(smax),
            _signed(smax - spread),
            _mark(ok(smax - spread)),
        ),
    ]
    for seed, plcc in sorted(per_seed.items()):
        verdict_ok = ok(plcc - smin)
        if seed in failing:
            verdict_ok = False
        rows.append((f"seed {seed}", "&ge;", _num(plcc), _num(smin), _signed(plcc - smin), _mark(verdict_ok)))
    cov = _float(gate.get("interval_coverage_min"))
    cov_min = _float(gate.get("interval_coverage_threshold", T.FOLD_COVERAGE_MIN))
    rows.append(
        (
            "worst-source interval coverage",
            "&ge;",
            _num(cov),
            _num(cov_min),
            _signed(cov - cov_min),
            _mark(ok(cov - cov_min)),
        )
    )
    body = (
        f'<p class="muted">{_esc(origin)}. Margin = how far inside the threshold (negative: by how much '
        f"it fails). Overall: {_mark(gate.get('passed')) if 'passed' in gate else 'n/a'}</p>"
    )
    body += _table(("check", "", "value", "threshold", "margin", ""), rows)
    if per_seed:
        body += _gate_figure(per_seed, mean, thr, smin, spread, smax)
    return body


def _signed(value: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    cls = "pass" if value >= -T.GATE_EPS else "fail"
    return f'<span class="{cls}">{value:+.4f}</span>'


def _gate_figure(
    per_seed: Mapping[int, float], mean: float, thr: float, smin: float, spread: float, smax: float
) -> str:
    seeds = sorted(per_seed)
    values = np.array([per_seed[s] for s in seeds])
    fig = _figure(9.5, 1.2 + 0.32 * len(seeds))
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
    return _png(fig, "per-seed PLCC against the gate thresholds")


def _fold_matrix(inp: RunInputs) -> tuple[list[str], list[int], np.ndarray, dict[str, dict[int, dict]]]:
    seeds = sorted(inp.seed_reports)
    by_fold: dict[str, dict[int, dict]] = {}
    for seed in seeds:
        for fold in inp.seed_reports[seed].get("folds") or []:
            if isinstance(fold, dict) and "held_out" in fold:
                by_fold.setdefault(str(fold["held_out"]), {})[seed] = fold
    folds = sorted(by_fold)
    matrix = np.full((len(folds), len(seeds)), np.nan)
    for i, name in enumerate(folds):
        for j, seed in enumerate(seeds):
            if seed in by_fold[name]:
                matrix[i, j] = _float(by_fold[name][seed].get("plcc"))
    return folds, seeds, matrix, by_fold


def _folds_section(inp: RunInputs) -> str:
    if not inp.seed_reports:
        return _na("no readable seed reports (loso_seed{N}.json); the train step has not run")
    folds, seeds, matrix, by_fold = _fold_matrix(inp)
    if not folds:
        return _na("the seed reports hold no folds")
    smin = T.PER_SEED_PLCC_MIN
    body = '<p class="muted">PLCC of each seed\'s model on the held-out source of each fold (per frame).</p>'
    body += _heatmap(folds, seeds, matrix, smin)
    rows = []
    for i, name in enumerate(folds):
        cells = [f'<td class="{"low" if math.isfinite(v) and v < smin else ""}">{_num(v)}</td>' for v in matrix[i]]
        entries = by_fold[name].values()
        n_val = {n for n in (f.get("n_val") for f in entries) if n is not None}
        srocc = _nanmean(_float(f.get("srocc")) for f in entries)
        rmse = _nanmean(_float(f.get("rmse")) for f in entries)
        clip = _nanmean(
            _float((f.get("clip") or {}).get("plcc")) if isinstance(f.get("clip"), dict) else math.nan for f in entries
        )
        row = [
            _esc(name),
            _esc(", ".join(str(n) for n in sorted(n_val)) or "n/a"),
            *cells,
            _num(_nanmean(matrix[i])),
            _num(srocc),
            _num(rmse, 2),
            _num(clip),
        ]
        rows.append(row)
    header = ["held-out source", "frames", *[f"seed {s}" for s in seeds], "mean", "SROCC", "RMSE", "clip PLCC"]
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body_rows = "\n".join(
        "<tr>" + "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in row) + "</tr>" for row in rows
    )
    means = [_float(inp.seed_reports[s].get("mean_plcc")) for s in seeds]
    foot = (
        "<tr><th>mean over folds</th><th></th>"
        + "".join(f"<th>{_num(m)}</th>" for m in means)
        + f"<th>{_num(_nanmean(means))}</th><th></th><th></th><th></th></tr>"
    )
    body += f"<table><thead><tr>{head}</tr></thead><tbody>\n{body_rows}\n</tbody><tfoot>{foot}</tfoot></table>"
    return body


def _nanmean(values: Iterable[float]) -> float:
    arr = np.array([v for v in values if isinstance(v, (int, float))], dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else math.nan


def _heatmap(folds: list[str], seeds: list[int], matrix: np.ndarray, smin: float) -> str:
    from matplotlib import colormaps

    finite = matrix[np.isfinite(matrix)]
    lo = float(min(finite.min(), smin - 0.05)) if finite.size else smin - 0.05
    fig = _figure(min(2.6 + 0.95 * len(seeds), 11.0), 0.9 + 0.3 * len(folds))
    ax = fig.add_subplot(1, 1, 1)
    cmap = colormaps["RdYlGn"].with_extremes(bad="#d0d0d0")
    image = ax.imshow(np.ma.masked_invalid(matrix), cmap=cmap, vmin=max(-1.0, lo), vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(seeds)), [f"seed {s}" for s in seeds], fontsize=8)
    ax.set_yticks(range(len(folds)), [_short(f) for f in folds], fontsize=8)
    if len(folds) * len(seeds) <= 400:
        for i in range(len(folds)):
            for j in range(len(seeds)):
                v = matrix[i, j]
                ax.text(j, i, f"{v:.3f}" if math.isfinite(v) else "n/a", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, label="PLCC", shrink=0.8)
    ax.set_title("per-fold PLCC (held-out source x seed)", fontsize=9)
    return _png(fig, "heatmap of per-fold PLCC per seed")


# ----------------------------------------------------------------------------- predictions


def _read_prediction_rows(path: Path) -> dict[str, list]:
    """Columns of a held-out prediction file (JSONL or Parquet); lenient about extra columns."""
    cols: dict[str, list]
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq

            cols = pq.read_table(path).to_pydict()
        except Exception as exc:  # pyarrow raises many types for a bad file
            raise InputError(f"not a readable Parquet file ({exc})", path=path) from None
    else:
        cols = {}
        n = 0
        for _, row in iter_json_objects(path, what="predictions file"):
            for key, value in row.items():
                cols.setdefault(key, [None] * n).append(value)
            n += 1
            for key in cols:
                if len(cols[key]) < n:
                    cols[key].append(None)
    for key in ("vmaf", "pred"):
        if key not in cols:
            raise InputError(f"has no `{key}` column", path=path)
    if "fold" not in cols and "src" not in cols:
        raise InputError("has neither a `fold` nor a `src` column", path=path)
    if not cols["vmaf"]:
        raise InputError("has no rows", path=path)
    return cols


@dataclass
class HeldOut:
    """Seed-mean held-out prediction per corpus row (rows present in every seed's file)."""

    fold: np.ndarray
    vmaf: np.ndarray
    pred: np.ndarray  # ensemble mean
    cq: np.ndarray
    n_seeds: int


def _held_out(inp: RunInputs) -> HeldOut:
    if not inp.prediction_paths:
        raise InputError("no held-out prediction files (loso_seed{N}.predictions.jsonl or .parquet)")
    sums: dict[Any, list] = {}
    seeds = sorted(inp.prediction_paths)
    for seed in seeds:
        cols = _read_prediction_rows(inp.prediction_paths[seed])
        n = len(cols["vmaf"])
        row_ids = cols.get("row")
        keys = (
            row_ids
            if row_ids and None not in row_ids
            else list(zip(*(cols.get(k) or [None] * n for k in ("src", "encoder", "preset", "cq", "frame_index"))))
        )
        fold = cols.get("fold") or cols["src"]  # _read_prediction_rows checked that one of the two is there
        cq = cols.get("cq") or [math.nan] * n
        for key, f, y, p, c in zip(keys, fold, cols["vmaf"], cols["pred"], cq):
            if not (
                isinstance(p, (int, float)) and isinstance(y, (int, float)) and math.isfinite(p) and math.isfinite(y)
            ):
                continue
            entry = sums.get(key)
            if entry is None:
                sums[key] = [str(f), float(y), float(p), 1, _float(c)]
            else:
                entry[2] += float(p)
                entry[3] += 1
    full = [e for e in sums.values() if e[3] == len(seeds)]
    if not full:
        raise InputError("the prediction files of the seeds share no rows")
    return HeldOut(
        fold=np.array([e[0] for e in full]),
        vmaf=np.array([e[1] for e in full]),
        pred=np.array([e[2] / e[3] for e in full]),
        cq=np.array([e[4] for e in full]),
        n_seeds=len(seeds),
    )


def _scatter_section(inp: RunInputs) -> str:
    held = _held_out(inp)
    from vmafkit.train.metrics import plcc, rmse

    folds = sorted(set(held.fold.tolist()))
    shown = folds[:MAX_SCATTER_FOLDS]
    ncols = min(3, len(shown))
    nrows = math.ceil(len(shown) / ncols)
    width, height = 3.4 * ncols + 1.2, 3.0 * nrows + 0.4
    fig = _figure(width, height, layout=None)
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
    rows = []
    scatter = None
    for k, name in enumerate(shown):
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
        r, e = plcc(p, y), rmse(p, y)
        ax.set_title(f"{_short(name, 34)}\nPLCC {_num(r)}  RMSE {_num(e, 2)}", fontsize=8)
        ax.tick_params(labelsize=7)
        if k % ncols == 0:
            ax.set_ylabel("predicted (seed mean)", fontsize=8)
        if k >= len(shown) - ncols:
            ax.set_xlabel("VMAF (libvmaf)", fontsize=8)
        rows.append(
            (
                _esc(name),
                str(int(mask.sum())),
                _num(r),
                _num(plcc(p, y) ** 2 if math.isfinite(r) else math.nan),
                _num(e, 2),
                _num(float(np.mean(p - y)), 2),
            )
        )
    if norm is not None and scatter is not None:
        cax = fig.add_axes((1 - 0.8 / width, 0.55 / height, 0.15 / width, min(0.5, 2.6 / height)))
        fig.colorbar(scatter, cax=cax, label="CQ")
    note = (
        f"Each point is one frame, predicted by the models that did not see its source: the mean over "
        f"{held.n_seeds} seed(s). Colour: CQ. Dashed: prediction = VMAF."
    )
    if len(folds) > len(shown):
        note += f" Showing the first {len(shown)} of {len(folds)} held-out sources."
    body = f'<p class="muted">{_esc(note)}</p>' + _png(fig, "predicted vs VMAF per held-out source")
    body += _table(("held-out source", "frames", "PLCC (seed mean)", "R\u00b2", "RMSE", "mean bias"), rows)
    return body


# ----------------------------------------------------------------------------- coverage


def _coverage_section(inp: RunInputs) -> str:
    calib = inp.verdict.get("calibration") if inp.verdict else None
    origin = f"from {_rel(inp.verdict_path, inp.out_dir)}" if calib else ""
    if not calib and inp.prediction_paths and inp.seed_reports and set(inp.prediction_paths) == set(inp.seed_reports):
        try:
            from vmafkit.decide.calibration import calibrate, read_predictions
            from vmafkit.train.model import Recipe

            predictions = {s: read_predictions(p) for s, p in inp.prediction_paths.items()}
            first = next(iter(inp.seed_reports.values()))
            label_free = Recipe.from_json(first.get("recipe") or {}).label_free if isinstance(first, dict) else False
            calib = calibrate(predictions, T.DEFAULT_COVERAGE, paths=inp.prediction_paths, label_free=label_free)[
                "summary"
            ]
            origin = "provisional: calibrated here from the held-out prediction files (no verdict file yet)"
        except InputError as exc:
            origin = f"ensemble calibration not possible ({exc})"
            calib = None
    level = float(calib.get("coverage", T.DEFAULT_COVERAGE)) if isinstance(calib, dict) else T.DEFAULT_COVERAGE
    key = f"{level:g}"
    per_seed: dict[int, dict[str, tuple[float, float]]] = {}
    for seed, report in sorted(inp.seed_reports.items()):
        for fold in report.get("folds") or []:
            conf = fold.get("conformal") if isinstance(fold, dict) else None
            if isinstance(conf, dict) and isinstance(conf.get(key), dict):
                per_seed.setdefault(seed, {})[str(fold.get("held_out"))] = (
                    _float(conf[key].get("coverage")),
                    _float(conf[key].get("halfwidth")),
                )
    if not isinstance(calib, dict) and not per_seed:
        return _na(
            "no interval calibration in the verdict, no conformal coverage in the seed reports, "
            "and no complete set of held-out prediction files to calibrate from"
        )
    body = (
        f'<p class="muted">Coverage = share of a held-out source\'s frames whose VMAF lies inside the '
        f"{level:.0%} interval calibrated on the <i>other</i> sources (nominal {level:.0%}). "
        f"{_esc(origin)}</p>"
    )
    ens = {}
    if isinstance(calib, dict) and isinstance(calib.get("per_fold"), list):
        for item in calib["per_fold"]:
            if isinstance(item, dict) and "fold" in item:
                ens[str(item["fold"])] = item
    folds = sorted(set(ens) | {f for d in per_seed.values() for f in d})
    body += _coverage_figure(folds, ens, per_seed, level)
    header = ["held-out source"]
    if ens:
        header += ["ensemble frame coverage", "frame half-width", "ensemble clip coverage", "clip half-width"]
    header += [f"seed {s}" for s in per_seed]
    rows = []
    for name in folds:
        row = [_esc(name)]
        if ens:
            e = ens.get(name, {})
            row += [
                _cov(e.get("frame_coverage"), level),
                _num(e.get("frame_half_width"), 2),
                _cov(e.get("clip_coverage"), level),
                _num(e.get("clip_half_width"), 2),
            ]
        row += [_cov(per_seed[s].get(name, (math.nan,))[0], level) for s in per_seed]
        rows.append(row)
    body += _table([_esc(h) for h in header], rows)
    if isinstance(calib, dict):
        frame = calib.get("frame") or {}
        clip = calib.get("clip") or {}
        frame_hw, clip_hw = _num(frame.get("half_width"), 2), _num(clip.get("half_width"), 2)
        guarantee = calib.get("guarantee")
        body += (
            f"<p><b>Guarantee:</b> {_esc(guarantee) if guarantee else 'n/a'}. Interval: &plusmn;{frame_hw} VMAF "
            f"per frame, &plusmn;{clip_hw} per clip; worst held-out source covers "
            f"{_num(calib.get('fold_frame_coverage_min'), 3)} of its frames (mean over sources "
            f"{_num(calib.get('fold_frame_coverage_mean'), 3)}; the gate asks &ge; {T.FOLD_COVERAGE_MIN:.2f}).</p>"
        )
    sensitivity = inp.verdict.get("label_sensitivity") if inp.verdict else None
    if isinstance(sensitivity, dict):
        parts = []
        for key, text in (
            ("to_unknown", "with no encoder/preset/cq"),
            ("to_other_encoder", "with another trained encoder"),
        ):
            item = sensitivity.get(key)
            if isinstance(item, dict):
                parts.append(f"{text}: mean {_num(item.get('mean_abs'), 2)}, max {_num(item.get('max_abs'), 2)} VMAF")
        if parts:
            body += (
                "<p>Label sensitivity (how far held-out predictions move when only the codec labels change): "
                + "; ".join(parts)
                + ".</p>"
            )
    return body


def _cov(value: Any, level: float) -> str:
    v = _float(value)
    if not math.isfinite(v):
        return "n/a"
    cls = "low" if v < level - 0.05 else ""
    return f'<span class="{cls}">{v:.3f}</span>'


def _coverage_figure(
    folds: list[str], ens: Mapping[str, Mapping], per_seed: Mapping[int, Mapping[str, tuple]], level: float
) -> str:
    series: list[tuple[str, list[float], str | tuple[float, float, float, float]]] = []
    if ens:
        series.append(("ensemble (frames)", [_float(ens.get(f, {}).get("frame_coverage")) for f in folds], "#1565c0"))
        series.append(("ensemble (clips)", [_float(ens.get(f, {}).get("clip_coverage")) for f in folds], "#6a1b9a"))
    from matplotlib import colormaps

    greys = colormaps["Greys"]
    for k, (seed, by_fold) in enumerate(sorted(per_seed.items())):
        shade = greys(0.35 + 0.5 * k / max(1, len(per_seed) - 1))
        series.append((f"seed {seed}", [by_fold.get(f, (math.nan,))[0] for f in folds], shade))
    fig = _figure(min(max(6.0, 0.75 * len(folds) * max(1, len(series)) / 2.5 + 2), 11.5), 3.9)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(folds))
    width = 0.8 / max(1, len(series))
    for k, (label, values, color) in enumerate(series):
        ax.bar(x - 0.4 + width * (k + 0.5), np.nan_to_num(values, nan=0.0), width=width, color=color, label=label)
    ax.axhline(level, color="#c62828", ls="--", lw=1.2, label=f"nominal {level:.0%}")
    labels, note = _labels(folds, 22)
    ax.set_xticks(
        x, labels, rotation=30 if len(folds) > 6 else 0, ha="right" if len(folds) > 6 else "center", fontsize=7
    )
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("coverage")
    if note:
        ax.set_xlabel(note, fontsize=7, color="#555")
    fig.legend(fontsize=7, ncol=min(6, len(series) + 1), loc="outside upper center", frameon=False)
    return _png(fig, "interval coverage per held-out source")


# ----------------------------------------------------------------------------- corpus


def _corpus_section(inp: RunInputs) -> str:
    if inp.corpus_path is None:
        return _na(
            "no corpus file (OUT/corpus/per_frame_canonical6.jsonl, OUT/per_frame_canonical6.jsonl, "
            "or the one the seed reports name); pass --corpus FILE"
        )
    if not inp.corpus_path.is_file():
        return _na(f"corpus file {inp.corpus_path} not found")
    from vmafkit.corpus.schema import load_corpus

    corpus = load_corpus(inp.corpus_path)
    srcs = corpus.sources
    combos = sorted({(e, p) for e, p in zip(corpus.encoder.tolist(), corpus.preset.tolist())})
    cqs = sorted(set(corpus.cq.tolist()))
    body = (
        f"<p>{_esc(_rel(inp.corpus_path, inp.out_dir))}: <b>{len(corpus)}</b> rows, <b>{len(srcs)}</b> sources, "
        f"encoders {_esc(', '.join(sorted(set(corpus.encoder.tolist()))))}, presets "
        f"{_esc(', '.join(sorted(set(corpus.preset.tolist()))))}, CQ {_esc(', '.join(f'{c:g}' for c in cqs))}; "
        f"VMAF {corpus.vmaf.min():.2f} to {corpus.vmaf.max():.2f} (mean {corpus.vmaf.mean():.2f}).</p>"
    )
    body += _curves_figure(corpus, srcs, combos, cqs)
    # Rows per source x (encoder, preset, cq), and the mean VMAF of each cell.
    header = ["source", *[f"{e} {p}<br>cq {c:g}" for e, p in combos for c in cqs], "rows"]
    rows = []
    for src in srcs:
        in_src = corpus.src == src
        row = [_esc(src)]
        for e, p in combos:
            for c in cqs:
                mask = in_src & (corpus.encoder == e) & (corpus.preset == p) & (corpus.cq == c)
                n = int(mask.sum())
                row.append(
                    f'{n}<br><span class="muted">{corpus.vmaf[mask].mean():.1f}</span>'
                    if n
                    else '<span class="muted">0</span>'
                )
        row.append(f"<b>{int(in_src.sum())}</b>")
        rows.append(row)
    body += '<p class="muted">Rows (frames) per cell; below each count, the cell\'s mean VMAF.</p>'
    body += _table([h if "<br>" in h else _esc(h) for h in header], rows, cls="wide")
    return body


def _curves_figure(corpus, srcs: list[str], combos: list[tuple[str, str]], cqs: list[float]) -> str:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(srcs) <= 10 else "tab20"]
    ncols = min(2, len(combos))
    nrows = math.ceil(len(combos) / ncols)
    fig = _figure(5.2 * ncols + 2.6, 3.4 * nrows + 0.2)
    for k, (enc, preset) in enumerate(combos):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        for i, src in enumerate(srcs):
            mask = (corpus.src == src) & (corpus.encoder == enc) & (corpus.preset == preset)
            xs = [c for c in cqs if np.any(mask & (corpus.cq == c))]
            ys = [float(corpus.vmaf[mask & (corpus.cq == c)].mean()) for c in xs]
            if xs:
                ax.plot(xs, ys, marker="o", ms=3.5, lw=1.3, color=cmap(i % cmap.N), label=_short(src, 40))
        ax.set_title(f"{enc} (preset {preset})", fontsize=9)
        ax.set_xlabel("CQ / CRF", fontsize=8)
        ax.set_ylabel("mean VMAF over frames", fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    handles, labels = fig.axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right upper", fontsize=7)
    return _png(fig, "VMAF vs CQ per source and encoder")


# ----------------------------------------------------------------------------- inputs + page


def _inputs_section(inp: RunInputs) -> str:
    rows = []

    def add(what: str, path: Path | None) -> None:
        if path is None or not path.is_file():
            shown = _esc(_rel(path, inp.out_dir)) if path else "-"
            rows.append((_esc(what), shown, '<span class="muted">missing</span>'))
        else:
            rows.append((_esc(what), _esc(_rel(path, inp.out_dir)), f"<code>{sha256_file(path)[:16]}</code>"))

    add("verdict", inp.verdict_path)
    for seed, path in sorted(inp.seed_paths.items()):
        add(f"seed report {seed}", path)
    for seed, path in sorted(inp.prediction_paths.items()):
        add(f"held-out predictions {seed}", path)
    add("corpus", inp.corpus_path)
    body = _table(("input", "path (relative to the run folder)", "sha256 (first 16)"), rows, cls="kv txt")
    if inp.problems:
        items = "".join(f"<li>{_esc(p)}</li>" for p in inp.problems)
        body += f"<p>Inputs that could not be read or were left out:</p><ul>{items}</ul>"
    return body


_CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;margin:0;color:#1d1d1f;background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:18px 28px 40px}
h1{font-size:1.55em;margin:.4em 0 .1em} h2{font-size:1.2em;border-bottom:2px solid #dde1e6;padding-bottom:4px;margin-top:0}
section{background:#fff;border:1px solid #e1e4e8;border-radius:8px;padding:14px 18px;margin:16px 0}
nav{font-size:.9em;margin:6px 0 4px} nav a{margin-right:14px;color:#1565c0;text-decoration:none}
table{border-collapse:collapse;margin:10px 0;font-size:.86em} th,td{border:1px solid #e1e4e8;padding:3px 8px;text-align:right;vertical-align:top}
th{background:#f0f2f5} td:first-child,th:first-child{text-align:left} tbody tr:nth-child(even){background:#fafbfc}
table.kv td:first-child{font-weight:600;color:#555} table.kv td{text-align:left} table.kv:not(.txt) thead{display:none}
table.wide{font-size:.78em} tfoot th{background:#eef1f4}
img{max-width:100%;height:auto;display:block;margin:8px 0}
.na{color:#8a6d3b;background:#fcf8e3;border:1px solid #f5e7b8;padding:8px 12px;border-radius:6px}
.muted{color:#6b7280} .pass{color:#2e7d32;font-weight:600} .fail{color:#c62828;font-weight:700}
.low{background:#fde7e7} span.low{padding:0 3px}
.badge{display:inline-block;padding:2px 12px;border-radius:12px;color:#fff;font-weight:700;letter-spacing:.04em}
.badge.promote{background:#2e7d32} .badge.hold{background:#c62828}
.rec{background:#f3f6fb;border-left:4px solid #1565c0;padding:8px 12px}
code{font-size:.92em}
"""

SECTIONS = (
    ("verdict", "Verdict", _verdict_section),
    ("gate", "Gate margins", _gate_section),
    ("folds", "Per-fold PLCC per seed", _folds_section),
    ("scatter", "Predicted vs VMAF per held-out source", _scatter_section),
    ("coverage", "Interval coverage per fold", _coverage_section),
    ("corpus", "Corpus summary", _corpus_section),
    ("inputs", "Inputs", _inputs_section),
)


def render_report(inputs: RunInputs) -> str:
    """The whole page as a string (no file is written)."""
    import matplotlib

    with matplotlib.rc_context(
        {"font.size": 8.5, "axes.titlesize": 9, "svg.hashsalt": "vmafkit", "figure.facecolor": "white"}
    ):
        sections = [_guard(title, anchor, lambda fn=fn: fn(inputs)) for anchor, title, fn in SECTIONS]
    verdict = inputs.verdict.get("verdict") if inputs.verdict else None
    status = (
        f'<span class="badge {str(verdict).lower()}">{_esc(verdict)}</span>'
        if verdict
        else '<span class="muted">no verdict yet</span>'
    )
    nav = "".join(f'<a href="#{anchor}">{_esc(title)}</a>' for anchor, title, _ in SECTIONS)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>vmafkit report: {_esc(inputs.out_dir.name)}</title><style>{_CSS}</style></head><body><main>\n"
        f"<h1>vmafkit run report {status}</h1>"
        f'<p class="muted">Run folder <code>{_esc(inputs.out_dir.name)}</code>. Self-contained page: every plot is '
        f"embedded.</p><nav>{nav}</nav>\n" + "\n".join(sections) + "\n</main></body></html>\n"
    )


def write_report(out_dir: str | Path, *, corpus: str | Path | None = None) -> Path:
    """Write `out_dir/report.html` atomically and return its path (InputError if out_dir is missing)."""
    inputs = find_inputs(out_dir, corpus)
    page = render_report(inputs)
    return atomic_write_text(Path(out_dir) / REPORT_NAME, page)
