"""The report page (`layout.REPORT_FILE` in the run folder): one self-contained HTML page about a
run, plots embedded as PNG data URIs.

Sections: the verdict, the gate's margins, per-fold PLCC per seed, predicted vs VMAF per held-out
source, interval coverage per fold, and a corpus summary; for a `vmafkit subjective train` folder,
the verdict, the models side by side (ensemble, nu-SVR, linear, stock VMAF + logistic) with their
intervals, the paired tests, the interval's coverage and the data warnings, and the subjective gate. Each section reads only its own inputs
(`inputs.py` finds them) and, when they are missing or unreadable, says "not available" and why,
so the report works on a partial run. The page has inline CSS, no scripts and no external links,
and holds no clock time of its own: the same run folder gives the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vmafkit import layout
from vmafkit import thresholds as T
from vmafkit.decide.subjective_stats import STATISTICS
from vmafkit.errors import VmafkitError
from vmafkit.io import atomic_write_text, sha256_file
from vmafkit.media.pooling import pool
from vmafkit.report.figures import (
    as_float,
    coverage_figure,
    curves_figure,
    esc,
    format_number,
    gate_figure,
    heatmap,
    rate_quality_figure,
    scatter_figure,
    subjective_figure,
)
from vmafkit.report.inputs import RunInputs, find_inputs, held_out, provisional_calibration, subjective_run

MAX_SCATTER_FOLDS = 48


# ----------------------------------------------------------------------------- small helpers


def _rel(path: Path | None, base: Path) -> str:
    if path is None:
        return "-"
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path)


# ----------------------------------------------------------------------------- small helpers


def _na(reason: str) -> str:
    return f'<p class="na">Not available: {esc(reason)}</p>'


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{esc(title)}</h2>\n{body}\n</section>'


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], *, cls: str = "") -> str:
    """Cells are HTML already (escape text with esc before)."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "\n".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>'


def _mark(ok: bool | None) -> str:
    if ok is None:
        return '<span class="muted">n/a</span>'
    return '<span class="pass">pass</span>' if ok else '<span class="fail">FAIL</span>'


def _guard(title: str, anchor: str, build) -> str:
    """Run one section builder; an unreadable input becomes "not available", never a crash."""
    try:
        return _section(anchor, title, build())
    except VmafkitError as exc:
        return _section(anchor, title, _na(str(exc)))
    except (ValueError, KeyError, TypeError, IndexError, OSError) as exc:
        return _section(anchor, title, _na(f"inputs could not be read ({type(exc).__name__}: {exc})"))


# ----------------------------------------------------------------------------- sections


def _scale_text(scale: Any) -> str:
    if not isinstance(scale, dict):
        return "n/a"
    low, high = scale.get("low"), scale.get("high")
    bounds = f" [{low:g}, {high:g}]" if isinstance(low, (int, float)) and isinstance(high, (int, float)) else ""
    return f"{scale.get('name', 'n/a')}{bounds}"


def _verdict_section(inp: RunInputs) -> str:
    v = inp.verdict
    if v is None:
        where = _rel(inp.loso_dir, inp.out_dir) if inp.loso_dir else f"OUT or OUT/{layout.LOSO_DIR}"
        return _na(f"no {' or '.join(layout.VERDICT_FILES)} in {where} (the verdict step has not run)")
    name = str(v.get("verdict"))
    gate = v.get("gate")
    if not isinstance(gate, dict):
        gate = {}
    corpus = v.get("corpus")
    if not isinstance(corpus, dict):
        corpus = {}
    target: dict[str, Any] = v["target"] if isinstance(v.get("target"), dict) else {"kind": "vmaf"}
    shown_target = (
        "libvmaf's VMAF score"
        if target.get("kind") == "vmaf"
        else f"{target.get('kind')} scores, scale {_scale_text(target.get('scale'))}"
    )
    rows = [
        ("verdict", f'<span class="badge {name.lower()}">{esc(name)}</span>'),
        ("target", esc(shown_target)),
        ("gate passed", _mark(gate.get("passed")) if "passed" in gate else "n/a"),
        ("file", esc(_rel(inp.verdict_path, inp.out_dir))),
        ("generated (UTC)", esc(v.get("generated_at_utc", "n/a"))),
        ("seeds", esc(", ".join(str(s) for s in v.get("seeds", [])) or "n/a")),
    ]
    aspects = v.get("failing_aspects") or gate.get("failing_aspects")
    if aspects:
        rows.append(("failing aspects", "<br>".join(esc(a) for a in aspects)))
    if corpus:
        rows += [
            ("corpus sha256", f"<code>{esc(corpus.get('sha256', 'n/a'))}</code>"),
            (
                "corpus rows / sources",
                esc(
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
                    esc(
                        f"{ref.get('path', '')} (snapshot {str(ref.get('sha256', ''))[:16]}, "
                        f"{ref.get('count', '?')} files)"
                    ),
                )
            )
    recipe = v.get("recipe")
    if isinstance(recipe, dict):
        rows.append(("recipe", esc(", ".join(f"{k}={recipe[k]}" for k in sorted(recipe)))))
    body = _table(("", ""), rows, cls="kv")
    if v.get("recommendation"):
        body += f'<p class="rec"><b>Recommendation.</b> {esc(v["recommendation"])}</p>'
    return body


def _gate(inp: RunInputs) -> tuple[dict[str, Any] | None, str]:
    if inp.verdict is not None and isinstance(inp.verdict.get("gate"), dict):
        return inp.verdict["gate"], f"from {_rel(inp.verdict_path, inp.out_dir)}"
    reported = {s: r.get("mean_plcc") for s, r in inp.seed_reports.items()}
    plccs = {s: float(p) for s, p in reported.items() if isinstance(p, (int, float)) and math.isfinite(p)}
    if not plccs:
        return None, ""
    from vmafkit.decide.gate import evaluate_gate

    calib, _ = provisional_calibration(inp)
    coverage = calib.get("fold_frame_coverage_min") if calib else None
    return evaluate_gate(plccs, coverage), "provisional: computed from the seed reports (no verdict file yet)"


def _gate_section(inp: RunInputs) -> str:
    gate, origin = _gate(inp)
    if gate is None:
        return _na(f"no verdict and no readable seed reports ({layout.SEED_REPORTS})")
    mean, thr = as_float(gate.get("mean_plcc")), as_float(gate.get("mean_plcc_threshold", T.MEAN_PLCC_MIN))
    spread, smax = as_float(gate.get("plcc_spread")), as_float(gate.get("plcc_spread_max", T.PLCC_SPREAD_MAX))
    smin = as_float(gate.get("per_seed_min", T.PER_SEED_PLCC_MIN))
    per_seed = {int(k): as_float(v) for k, v in (gate.get("per_seed_plccs") or {}).items()}
    failing = {int(s) for s in gate.get("failing_seeds") or []}

    def ok(margin: float) -> bool | None:
        return None if not math.isfinite(margin) else margin >= -T.GATE_EPS

    rows = [
        (
            "mean PLCC over seeds",
            "&ge;",
            format_number(mean),
            format_number(thr),
            _signed(mean - thr),
            _mark(ok(mean - thr)),
        ),
        (
            "spread (max &minus; min)",
            "&le;",
            format_number(spread),
            format_number(smax),
            _signed(smax - spread),
            _mark(ok(smax - spread)),
        ),
    ]
    for seed, plcc in sorted(per_seed.items()):
        verdict_ok = ok(plcc - smin)
        if seed in failing:
            verdict_ok = False
        rows.append(
            (f"seed {seed}", "&ge;", format_number(plcc), format_number(smin), _signed(plcc - smin), _mark(verdict_ok))
        )
    cov = as_float(gate.get("interval_coverage_min"))
    cov_min = as_float(gate.get("interval_coverage_threshold", T.FOLD_COVERAGE_MIN))
    rows.append(
        (
            "worst-source interval coverage",
            "&ge;",
            format_number(cov),
            format_number(cov_min),
            _signed(cov - cov_min),
            _mark(ok(cov - cov_min)),
        )
    )
    checks = gate.get("checks") or {}
    for name in sorted(
        checks, key=lambda k: (list(_CHECK_NAMES).index(k) if k in _CHECK_NAMES else len(_CHECK_NAMES), k)
    ):
        check = checks[name]
        if not isinstance(check, dict):
            continue
        at_least = name in _AT_LEAST_CHECKS
        value, threshold = as_float(check.get("value")), as_float(check.get("threshold"))
        margin = value - threshold if at_least else threshold - value
        rows.append(
            (
                esc(_CHECK_NAMES.get(name, name)),
                "&ge;" if at_least else "&le;",
                format_number(value) if check.get("value") is not None else "not measured",
                format_number(threshold),
                _signed(margin),
                _mark(bool(check.get("pass"))),
            )
        )
    body = (
        f'<p class="muted">{esc(origin)}. Margin = how far inside the threshold (negative: by how much '
        f"it fails). Overall: {_mark(gate.get('passed')) if 'passed' in gate else 'n/a'}</p>"
    )
    body += _table(("check", "", "value", "threshold", "margin", ""), rows)
    if per_seed:
        body += gate_figure(per_seed, mean, thr, smin, spread, smax)
    return body


_AT_LEAST_CHECKS = ("baseline_srocc", "baseline_paired")
_CHECK_NAMES = {
    "pooled_rmse": "pooled held-out RMSE (VMAF)",
    "source_rmse_max": "worst source RMSE (VMAF)",
    "source_bias_max": "worst source |bias| (VMAF)",
    "frame_half_width_median": "median frame half-width (VMAF)",
    "refusal_rate": "held-out frames refused",
    "coverage_sources_below": "sources below the frame coverage",
    "baseline_rmse": "RMSE vs nu-SVR allowance",
    "baseline_srocc": "SROCC vs nu-SVR - margin",
    "baseline_paired": "Wilcoxon p (worse than nu-SVR)",
}


def _accuracy_section(inp: RunInputs) -> str:
    acc = inp.verdict.get("accuracy") if inp.verdict else None
    if not isinstance(acc, dict):
        return _na("no accuracy block in the verdict (written by an older vmafkit, or no verdict yet)")
    pooled, base = acc.get("pooled") or {}, (acc.get("baseline") or {}).get("pooled") or {}
    fold_mean = acc.get("fold_mean") or {}
    body = (
        '<p class="muted">Held-out predictions of the rows each fold\'s own training domain serves, in VMAF '
        "points, beside libvmaf's own recipe (a nu-SVR on the same six features) refitted on the same folds. "
        "Pooled = every served frame (row-weighted); fold mean = one number per source.</p>"
    )
    body += _table(
        ("", "RMSE", "bias", "PLCC", "SROCC"),
        [
            (
                "ensemble, pooled",
                format_number(pooled.get("rmse"), 3),
                format_number(pooled.get("bias"), 3),
                format_number(pooled.get("plcc"), 4),
                format_number(pooled.get("srocc"), 4),
            ),
            (
                "ensemble, fold mean",
                format_number(fold_mean.get("rmse"), 3),
                "",
                format_number(fold_mean.get("plcc"), 4),
                format_number(fold_mean.get("srocc"), 4),
            ),
            (
                "nu-SVR (libvmaf's recipe), pooled",
                format_number(base.get("rmse"), 3),
                format_number(base.get("bias"), 3),
                format_number(base.get("plcc"), 4),
                format_number(base.get("srocc"), 4),
            ),
        ],
    )
    calib = inp.verdict.get("calibration") if inp.verdict else {}
    refused = ((calib or {}).get("refused") or {}).get("per_source") or {}
    rows = []
    for source, item in sorted((acc.get("per_source") or {}).items()):
        rows.append(
            (
                esc(source),
                str(item.get("n", "")),
                f"{as_float(refused.get(source)):.1%}" if source in refused else "",
                format_number(item.get("rmse"), 2),
                format_number(item.get("bias"), 2),
                format_number(item.get("baseline_rmse"), 2),
            )
        )
    body += _table(("source", "served frames", "refused", "RMSE", "bias", "nu-SVR RMSE"), rows)
    return body


def _signed(value: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    cls = "pass" if value >= -T.GATE_EPS else "fail"
    return f'<span class="{cls}">{value:+.4f}</span>'


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
                matrix[i, j] = as_float(by_fold[name][seed].get("plcc"))
    return folds, seeds, matrix, by_fold


def _folds_section(inp: RunInputs) -> str:
    if not inp.seed_reports:
        return _na(f"no readable seed reports ({layout.SEED_REPORTS}); the train step has not run")
    folds, seeds, matrix, by_fold = _fold_matrix(inp)
    if not folds:
        return _na("the seed reports hold no folds")
    smin = T.PER_SEED_PLCC_MIN
    body = '<p class="muted">PLCC of each seed\'s model on the held-out source of each fold (per frame).</p>'
    body += heatmap(folds, seeds, matrix, smin)
    rows = []
    for i, name in enumerate(folds):
        cells = [
            f'<td class="{"low" if math.isfinite(v) and v < smin else ""}">{format_number(v)}</td>' for v in matrix[i]
        ]
        entries = by_fold[name].values()
        n_val = {n for n in (f.get("n_val") for f in entries) if n is not None}
        srocc = _nanmean(as_float(f.get("srocc")) for f in entries)
        rmse = _nanmean(as_float(f.get("rmse")) for f in entries)
        clip = _nanmean(
            as_float((f.get("clip") or {}).get("plcc")) if isinstance(f.get("clip"), dict) else math.nan
            for f in entries
        )
        row = [
            esc(name),
            esc(", ".join(str(n) for n in sorted(n_val)) or "n/a"),
            *cells,
            format_number(_nanmean(matrix[i])),
            format_number(srocc),
            format_number(rmse, 2),
            format_number(clip),
        ]
        rows.append(row)
    header = ["held-out source", "frames", *[f"seed {s}" for s in seeds], "mean", "SROCC", "RMSE", "clip PLCC"]
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body_rows = "\n".join(
        "<tr>" + "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in row) + "</tr>" for row in rows
    )
    means = [as_float(inp.seed_reports[s].get("mean_plcc")) for s in seeds]
    foot = (
        "<tr><th>mean over folds</th><th></th>"
        + "".join(f"<th>{format_number(m)}</th>" for m in means)
        + f"<th>{format_number(_nanmean(means))}</th><th></th><th></th><th></th></tr>"
    )
    body += f"<table><thead><tr>{head}</tr></thead><tbody>\n{body_rows}\n</tbody><tfoot>{foot}</tfoot></table>"
    return body


def _nanmean(values: Iterable[float]) -> float:
    arr = np.array([v for v in values if isinstance(v, (int, float))], dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else math.nan


# ----------------------------------------------------------------------------- predictions


def _scatter_section(inp: RunInputs) -> str:
    held = held_out(inp)
    from vmafkit.train.metrics import plcc, rmse

    folds = sorted(set(held.fold.tolist()))
    shown = folds[:MAX_SCATTER_FOLDS]
    rows = []
    for name in shown:
        mask = held.fold == name
        y, p = held.vmaf[mask], held.pred[mask]
        r = plcc(p, y)
        rows.append(
            (
                esc(name),
                str(int(mask.sum())),
                format_number(r),
                format_number(r**2 if math.isfinite(r) else math.nan),
                format_number(rmse(p, y), 2),
                format_number(float(np.mean(p - y)), 2),
            )
        )
    note = (
        f"Each point is one frame, predicted by the models that did not see its source: the mean over "
        f"{held.n_seeds} seed(s). Colour: CQ. Dashed: prediction = VMAF."
    )
    if len(folds) > len(shown):
        note += f" Showing the first {len(shown)} of {len(folds)} held-out sources."
    body = f'<p class="muted">{esc(note)}</p>' + scatter_figure(held, shown)
    body += _table(("held-out source", "frames", "PLCC (seed mean)", "R\u00b2", "RMSE", "mean bias"), rows)
    return body


# ----------------------------------------------------------------------------- coverage


def _coverage_section(inp: RunInputs) -> str:
    calib = inp.verdict.get("calibration") if inp.verdict else None
    origin = f"from {_rel(inp.verdict_path, inp.out_dir)}" if calib else ""
    if not calib:
        calib, problem = provisional_calibration(inp)
        if calib is not None:
            origin = "provisional: calibrated here from the held-out prediction files (no verdict file yet)"
        elif problem is not None:
            origin = f"ensemble calibration not possible ({problem})"
    level = float(calib.get("coverage", T.DEFAULT_COVERAGE)) if isinstance(calib, dict) else T.DEFAULT_COVERAGE
    key = f"{level:g}"
    per_seed: dict[int, dict[str, tuple[float, float]]] = {}
    for seed, report in sorted(inp.seed_reports.items()):
        for fold in report.get("folds") or []:
            conf = fold.get("conformal") if isinstance(fold, dict) else None
            if isinstance(conf, dict) and isinstance(conf.get(key), dict):
                per_seed.setdefault(seed, {})[str(fold.get("held_out"))] = (
                    as_float(conf[key].get("coverage")),
                    as_float(conf[key].get("halfwidth")),
                )
    if not isinstance(calib, dict) and not per_seed:
        return _na(
            "no interval calibration in the verdict, no conformal coverage in the seed reports, "
            "and no complete set of held-out prediction files to calibrate from"
        )
    body = (
        f'<p class="muted">Coverage = share of a held-out source\'s frames whose VMAF lies inside the '
        f"{level:.0%} interval calibrated on the <i>other</i> sources (nominal {level:.0%}). "
        f"{esc(origin)}</p>"
    )
    ens = {}
    if isinstance(calib, dict) and isinstance(calib.get("per_fold"), list):
        for item in calib["per_fold"]:
            if isinstance(item, dict) and "fold" in item:
                ens[str(item["fold"])] = item
    folds = sorted(set(ens) | {f for d in per_seed.values() for f in d})
    body += coverage_figure(folds, ens, per_seed, level)
    header = ["held-out source"]
    if ens:
        header += ["ensemble frame coverage", "frame half-width", "ensemble clip coverage", "clip half-width"]
    header += [f"seed {s}" for s in per_seed]
    rows = []
    for name in folds:
        row = [esc(name)]
        if ens:
            e = ens.get(name, {})
            row += [
                _cov(e.get("frame_coverage"), level),
                format_number(e.get("frame_half_width"), 2),
                _cov(e.get("clip_coverage"), level),
                format_number(e.get("clip_half_width"), 2),
            ]
        row += [_cov(per_seed[s].get(name, (math.nan,))[0], level) for s in per_seed]
        rows.append(row)
    body += _table([esc(h) for h in header], rows)
    if isinstance(calib, dict):
        frame = calib.get("frame") or {}
        clip = calib.get("clip") or {}
        frame_hw, clip_hw = format_number(frame.get("half_width"), 2), format_number(clip.get("half_width"), 2)
        guarantee = calib.get("guarantee")
        body += (
            f"<p><b>Guarantee:</b> {esc(guarantee) if guarantee else 'n/a'}. Interval: &plusmn;{frame_hw} VMAF "
            f"per frame, &plusmn;{clip_hw} per clip (medians of what is served"
            f"{'; each frame scaled by the members&#39; spread' if (calib.get('normalisation') or {}).get('kind') == 'ensemble-spread' else ''}); worst held-out source covers "
            f"{format_number(calib.get('fold_frame_coverage_min'), 3)} of its frames (mean over sources "
            f"{format_number(calib.get('fold_frame_coverage_mean'), 3)}; the gate asks &ge; {T.FOLD_COVERAGE_MIN:.2f}).</p>"
        )
    bands = calib.get("frame_bands") if isinstance(calib, dict) else None
    if isinstance(bands, list) and bands:
        body += "<p>Per quality band of the held-out VMAF (each frame judged by the interval calibrated without its source):</p>"
        body += _table(
            ("VMAF band", "frames", "coverage", "median half-width"),
            [
                (
                    esc("–".join(f"{v:g}" for v in b.get("band", []))),
                    str(b.get("n", "")),
                    _cov(b.get("coverage"), level),
                    format_number(b.get("median_half_width"), 2),
                )
                for b in bands
                if isinstance(b, dict)
            ],
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
                parts.append(
                    f"{text}: mean {format_number(item.get('mean_abs'), 2)}, max {format_number(item.get('max_abs'), 2)} VMAF"
                )
        if parts:
            body += (
                "<p>Label sensitivity (how far held-out predictions move when only the codec labels change): "
                + "; ".join(parts)
                + ".</p>"
            )
    return body


def _cov(value: Any, level: float) -> str:
    v = as_float(value)
    if not math.isfinite(v):
        return "n/a"
    cls = "low" if v < level - 0.05 else ""
    return f'<span class="{cls}">{v:.3f}</span>'


# ----------------------------------------------------------------------------- corpus


def _corpus_section(inp: RunInputs) -> str:
    if inp.corpus_path is None:
        return _na(
            f"no corpus file (OUT/{layout.CORPUS_DIR}/{layout.CORPUS_FILE}, OUT/{layout.CORPUS_FILE}, "
            "or the one the seed reports name); pass --corpus FILE"
        )
    if not inp.corpus_path.is_file():
        return _na(f"corpus file {inp.corpus_path} not found")
    from vmafkit.corpus.schema import MODEL_KEY, load_corpus

    corpus = load_corpus(inp.corpus_path)
    srcs = corpus.sources
    combos = sorted({(e, p) for e, p in zip(corpus.encoder.tolist(), corpus.preset.tolist())})
    cqs = sorted(set(corpus.cq.tolist()))
    body = (
        f"<p>{esc(_rel(inp.corpus_path, inp.out_dir))}: <b>{len(corpus)}</b> rows, <b>{len(srcs)}</b> sources, "
        f"encoders {esc(', '.join(sorted(set(corpus.encoder.tolist()))))}, presets "
        f"{esc(', '.join(sorted(set(corpus.preset.tolist()))))}, CQ {esc(', '.join(f'{c:g}' for c in cqs))}; "
        f"VMAF {corpus.vmaf.min():.2f} to {corpus.vmaf.max():.2f} (mean {corpus.vmaf.mean():.2f}); libvmaf model "
        f"{esc(corpus.meta.get(MODEL_KEY))}, feature set {esc(corpus.feature_set)} "
        f"({len(corpus.feature_order)} features).</p>"
    )
    body += curves_figure(corpus, srcs, combos, cqs)
    # Rows per source x (encoder, preset, cq), and each cell's VMAF pooled as mean and as p5.
    header = ["source", *[f"{e} {p}<br>cq {c:g}" for e, p in combos for c in cqs], "rows"]
    rows = []
    dips: list[tuple[float, str]] = []
    for src in srcs:
        in_src = corpus.src == src
        row = [esc(src)]
        for e, p in combos:
            for c in cqs:
                mask = in_src & (corpus.encoder == e) & (corpus.preset == p) & (corpus.cq == c)
                n = int(mask.sum())
                if not n:
                    row.append('<span class="muted">0</span>')
                    continue
                mean, low = pool(corpus.vmaf[mask], "mean"), pool(corpus.vmaf[mask], REPORT_DIP_POOL)
                if mean - low > T.REPORT_DIP_VMAF:
                    dips.append((mean - low, f"{src} {e} {p} cq {c:g}: mean {mean:.1f}, {REPORT_DIP_POOL} {low:.1f}"))
                row.append(f'{n}<br><span class="muted">{mean:.1f} / {low:.1f}</span>')
        row.append(f"<b>{int(in_src.sum())}</b>")
        rows.append(row)
    body += (
        f'<p class="muted">Rows (frames) per cell; below each count, the cell\'s VMAF pooled as the mean / '
        f"as the {REPORT_DIP_POOL[1:]}th percentile of its frames (media.pooling: the pool that shows dips the "
        "mean hides).</p>"
    )
    body += _table([h if "<br>" in h else esc(h) for h in header], rows, cls="wide")
    if dips:
        listed = "".join(f"<li>{esc(text)}</li>" for _, text in sorted(dips, reverse=True)[:10])
        body += (
            f"<p><b>{len(dips)}</b> cell(s) whose {REPORT_DIP_POOL} lies more than {T.REPORT_DIP_VMAF:g} VMAF below "
            f"their mean (frames of much lower quality than the mean says; the worst first):</p><ul>{listed}</ul>"
        )
    else:
        body += (
            f'<p class="muted">No cell\'s {REPORT_DIP_POOL} lies more than {T.REPORT_DIP_VMAF:g} VMAF below its '
            "mean.</p>"
        )
    return body


REPORT_DIP_POOL = "p5"  # the pool the corpus table shows beside each cell's mean

MAX_RD_PANELS = 12  # sources drawn in the report; `vmafkit rd --plots` draws every one


def _moments_section(inp: RunInputs) -> str:
    if inp.corpus_path is None or not inp.corpus_path.is_file():
        return _na("no corpus file: see the corpus summary")
    from vmafkit.corpus.schema import read_rows
    from vmafkit.report.worst_cell import worst_moments_section

    verdict_corpus = (inp.verdict or {}).get("corpus")
    ref = verdict_corpus.get("ref_dir") if isinstance(verdict_corpus, dict) else None
    ref_dir = ref.get("path") if isinstance(ref, dict) and isinstance(ref.get("path"), str) else None
    return worst_moments_section(read_rows(inp.corpus_path), inp.corpus_path, ref_dir)


def _targets_section(inp: RunInputs) -> str:
    from vmafkit.report.targets import targets_section

    return targets_section(inp.out_dir)


def _rate_quality_section(inp: RunInputs) -> str:
    if inp.corpus_path is None or not inp.corpus_path.is_file():
        return _na("no corpus file: see the corpus summary")
    from vmafkit.report.rd import CONFIDENCE, analyse_corpus

    analysis = analyse_corpus(inp.corpus_path)
    srcs = sorted({s for s, _ in analysis.curves})
    encoders = sorted({e for _, e in analysis.curves})
    body = (
        "<p>One point per (source, encoder, rung, cq) cell: kbit/s from the encoded size and the duration, "
        "and the cell's mean VMAF. BD-rate: PCHIP of log10 rate over VMAF, over the VMAF range both curves "
        f"share; negative = fewer bits than the anchor <b>{esc(analysis.anchor)}</b> at equal VMAF. "
        "<code>vmafkit rd</code> prints the same numbers, with the cq that reaches a target VMAF.</p>"
    )
    if len(encoders) < 2:
        body += f'<p class="muted">One encoder ({esc(", ".join(encoders))}): no BD-rate to compute.</p>'
    else:
        others = [e for e in encoders if e != analysis.anchor]
        by = {(r.src, r.encoder): r for r in analysis.bd}
        rows = []
        for src in srcs:
            cells = []
            for enc in others:
                r = by.get((src, enc))
                if r is None:
                    cells.append('<span class="muted">-</span>')
                elif r.pct is None:
                    cells.append(f'<span class="muted" title="{esc(r.reason)}">none</span>')
                else:
                    cells.append(f"{r.pct:+.2f} %")
            rows.append([esc(src), *cells])
        foot = []
        for summary in analysis.summary:
            if summary.mean_pct is None:
                foot.append("none")
            elif summary.interval is None:
                foot.append(f"{summary.mean_pct:+.2f} %")
            else:
                low, high = summary.interval
                foot.append(f"{summary.mean_pct:+.2f} %<br>[{low:+.2f}, {high:+.2f}]")
        rows.append([f"<b>mean over sources</b> ({CONFIDENCE:.0%} bootstrap)", *foot])
        body += _table(["source", *[f"{esc(e)} vs {esc(analysis.anchor)}" for e in others]], rows)
        reasons = sorted({r.reason for r in analysis.bd if r.reason})
        if reasons:
            body += '<p class="muted">No BD-rate where: ' + "; ".join(esc(r) for r in reasons) + ".</p>"
    shown = srcs[:MAX_RD_PANELS]
    body += rate_quality_figure(analysis.curves, shown)
    if len(srcs) > len(shown):
        body += f'<p class="muted">{len(shown)} of {len(srcs)} sources drawn; <code>vmafkit rd --plots DIR</code> draws all.</p>'
    return body


# ----------------------------------------------------------------------------- subjective run

SUBJECTIVE_MODELS = (
    ("ensemble", "vmafkit's deep ensemble (mean over seeds)"),
    ("nusvr", "nu-SVR, libvmaf v0.6.1's recipe"),
    ("linear", "linear least squares"),
    ("vmaf_logistic", "libvmaf's stock score through a VQEG logistic"),
)


def _with_ci(block: dict, stat: str) -> str:
    lo, hi = block.get(f"{stat}_ci") or [None, None]
    return f'{format_number(block.get(stat))} <span class="muted">[{format_number(lo)}, {format_number(hi)}]</span>'


def _subjective_section(inp: RunInputs) -> str:
    run = subjective_run(inp)
    level = run.bootstrap.get("level", T.SUBJECTIVE_CI_LEVEL)
    shown_scale = esc(_scale_text(run.scale))
    body = (
        f"<p><b>{run.n_items}</b> clips, <b>{len(run.contents)}</b> contents, leave-one-content-out; target "
        f"scale {shown_scale}; features {esc(', '.join(run.features))}. Every number is re-derived here from "
        f"the held-out predictions ({esc(run.files['predictions'].name)}): intervals are {level:.0%} bootstrap "
        f"intervals over contents ({esc(run.bootstrap.get('resamples', 'n/a'))} resamples).</p>"
    )
    rows = []
    for name, what in SUBJECTIVE_MODELS:
        block = run.models.get(name)
        if block is None:
            rows.append((esc(name), esc(what), *['<span class="muted">n/a (no videos)</span>'] * 4))
            continue
        rows.append((f"<b>{esc(name)}</b>", esc(what), *[_with_ci(block, stat) for stat in STATISTICS]))
    body += _table(("model", "", "PLCC", "SROCC", "KROCC", "RMSE"), rows)
    body += subjective_figure(run)
    versus = run.comparisons.get("ensemble_vs_nusvr")
    if isinstance(versus, dict):
        body += f'<p class="rec"><b>Ensemble vs SVR.</b> {esc(versus.get("reading", "n/a"))}</p>'
    comp_rows = []
    for key, comp in run.comparisons.items():
        lo, hi = comp.get("plcc_diff_ci") or [None, None]
        comp_rows.append(
            (
                esc(key.replace("_vs_", " vs ")),
                f"{_signed(as_float(comp.get('plcc_diff')))} [{format_number(lo)}, {format_number(hi)}]",
                format_number(comp.get("plcc_p_value"), 3),
                _signed(as_float(comp.get("srocc_diff"))),
                format_number(comp.get("srocc_p_value"), 3),
            )
        )
    body += "<p>Paired bootstrap over contents (the same resampled contents for both models):</p>"
    body += _table(("comparison", "PLCC difference [interval]", "p", "SROCC difference", "p"), comp_rows)
    interval = run.models["ensemble"].get("interval") or {}
    target_cov = as_float(interval.get("coverage_target"))
    body += (
        f"<p><b>Coverage.</b> The ensemble's {target_cov:.0%} interval (&plusmn;"
        f"{format_number(interval.get('half_width'), 3)}, calibrated per content, level "
        f"{format_number(interval.get('source_level'), 3)}) held on "
        f"<b>{format_number(interval.get('held_out_coverage'), 3)}</b> of held-out clips, each content judged "
        f"with the half-width of the other contents; worst content {format_number(interval.get('fold_coverage_min'), 3)}"
        f" (the gate asks &ge; {T.SUBJECTIVE_COVERAGE_MIN}).</p>"
    )
    cov_rows = [
        (
            esc(fold.get("held_out")),
            esc(fold.get("n")),
            format_number(fold.get("half_width"), 3),
            _cov(fold.get("coverage"), target_cov),
        )
        for fold in interval.get("per_fold") or []
    ]
    body += _table(("held-out content", "clips", "half-width", "coverage"), cov_rows)
    if run.warnings:
        body += "<p><b>Warnings.</b></p><ul>" + "".join(f"<li>{esc(w)}</li>" for w in run.warnings) + "</ul>"
    else:
        body += '<p class="muted">No data warnings (every content has enough clips, enough contents).</p>'
    return body


def _subjective_gate_section(inp: RunInputs) -> str:
    run = subjective_run(inp)
    gate = run.gate
    rows = []
    for name, check in gate["checks"].items():
        value = check.get("value")
        shown = (
            ", ".join(f"{k} {format_number(v, 4)}" for k, v in value.items())
            if isinstance(value, dict)
            else format_number(value)
            if isinstance(value, float)
            else esc(value)
        )
        rows.append((esc(name), shown, esc(check.get("threshold")), _mark(bool(check.get("pass")))))
    body = (
        f'<p class="muted">Re-derived from the held-out predictions (thresholds: the SUBJECTIVE_* block of '
        f"thresholds.py). Overall: {_mark(gate.get('passed'))} ({esc(gate.get('verdict'))})</p>"
    )
    body += _table(("check", "value", "threshold", ""), rows)
    if gate.get("failing_aspects"):
        body += "<ul>" + "".join(f"<li>{esc(a)}</li>" for a in gate["failing_aspects"]) + "</ul>"
    return body


# ----------------------------------------------------------------------------- inputs + page


def _inputs_table(inp: RunInputs, run_files: Sequence[tuple[str, Path]], data_label: str) -> str:
    """Every input the page read, with its sha256: the verdict, the run's own files, the seed
    reports and their predictions, and the data trained on (`data_label`)."""
    rows = []

    def add(what: str, path: Path | None) -> None:
        if path is None or not path.is_file():
            shown = esc(_rel(path, inp.out_dir)) if path else "-"
            rows.append((esc(what), shown, '<span class="muted">missing</span>'))
        else:
            rows.append((esc(what), esc(_rel(path, inp.out_dir)), f"<code>{sha256_file(path)[:16]}</code>"))

    add("verdict", inp.verdict_path)
    for what, path in run_files:
        add(what, path)
    for seed, path in sorted(inp.seed_paths.items()):
        add(f"seed report {seed}", path)
    for seed, path in sorted(inp.prediction_paths.items()):
        add(f"held-out predictions {seed}", path)
    add(data_label, inp.corpus_path)
    body = _table(("input", "path (relative to the run folder)", "sha256 (first 16)"), rows, cls="kv txt")
    if inp.problems:
        items = "".join(f"<li>{esc(p)}</li>" for p in inp.problems)
        body += f"<p>Inputs that could not be read or were left out:</p><ul>{items}</ul>"
    return body


def _inputs_section(inp: RunInputs) -> str:
    return _inputs_table(inp, (), "corpus")


def _subjective_inputs_section(inp: RunInputs) -> str:
    from vmafkit.decide.subjective_evidence import PREDICTIONS_FILE

    assert inp.subjective_dir is not None  # only a subjective run's page has this section
    run_files = (
        ("subjective report", inp.subjective_dir / layout.SUBJECTIVE_REPORT_FILE),
        ("subjective held-out predictions", inp.subjective_dir / PREDICTIONS_FILE),
    )
    return _inputs_table(inp, run_files, "items (one row per clip)")


PAGE_CSS = """
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
figure{margin:10px 0} figcaption{font-size:.86em;color:#555}
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
    ("accuracy", "Accuracy against libvmaf's recipe", _accuracy_section),
    ("folds", "Per-fold PLCC per seed", _folds_section),
    ("scatter", "Predicted vs VMAF per held-out source", _scatter_section),
    ("coverage", "Interval coverage per fold", _coverage_section),
    ("corpus", "Corpus summary", _corpus_section),
    ("moments", "Worst moments", _moments_section),
    ("rd", "Rate–quality and BD-rate", _rate_quality_section),
    ("inputs", "Inputs", _inputs_section),
)


SUBJECTIVE_SECTIONS = (
    ("verdict", "Verdict", _verdict_section),
    ("subjective", "Models against the subjective scores", _subjective_section),
    ("subjective-gate", "Subjective gate", _subjective_gate_section),
    ("inputs", "Inputs", _subjective_inputs_section),
)


def render_report(inputs: RunInputs) -> str:
    """The whole page as a string (no file is written)."""
    import matplotlib

    chosen = SUBJECTIVE_SECTIONS if inputs.subjective_dir is not None else SECTIONS
    if layout.targets_dir(inputs.out_dir).is_dir():  # only a folder that holds searches shows them
        chosen = (*chosen[:-1], ("targets", "Target quality searches", _targets_section), chosen[-1])
    with matplotlib.rc_context(
        {"font.size": 8.5, "axes.titlesize": 9, "svg.hashsalt": "vmafkit", "figure.facecolor": "white"}
    ):
        sections = [_guard(title, anchor, lambda fn=fn: fn(inputs)) for anchor, title, fn in chosen]
    verdict = inputs.verdict.get("verdict") if inputs.verdict else None
    status = (
        f'<span class="badge {str(verdict).lower()}">{esc(verdict)}</span>'
        if verdict
        else '<span class="muted">no verdict yet</span>'
    )
    nav = "".join(f'<a href="#{anchor}">{esc(title)}</a>' for anchor, title, _ in chosen)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>vmafkit report: {esc(inputs.out_dir.name)}</title><style>{PAGE_CSS}</style></head><body><main>\n"
        f"<h1>vmafkit run report {status}</h1>"
        f'<p class="muted">Run folder <code>{esc(inputs.out_dir.name)}</code>. Self-contained page: every plot is '
        f"embedded.</p><nav>{nav}</nav>\n" + "\n".join(sections) + "\n</main></body></html>\n"
    )


def write_report(out_dir: str | Path, *, corpus: str | Path | None = None) -> Path:
    """Write the report page into `out_dir` atomically and return its path (InputError if out_dir
    is missing)."""
    inputs = find_inputs(out_dir, corpus)
    page = render_report(inputs)
    return atomic_write_text(Path(out_dir) / layout.REPORT_FILE, page)
