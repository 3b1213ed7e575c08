"""`vmafkit report`: a self-contained HTML page from a run folder, and graceful on partial runs.

The run folder here is made up (labelled so): two seed reports, their held-out predictions in the
trainer's format, a HOLD verdict and a tiny corpus following corpus/schema.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from vmafkit.cli import main
from vmafkit.corpus.schema import REQUIRED_KEYS
from vmafkit.errors import InputError
from vmafkit.report import write_report

from ...factories import synthetic_rows

SOURCES = ("alpha_clip_q", "beta_clip_q", "gamma_clip_q")
SEEDS = (3, 7)  # not 0/1, so the page must name the seeds it really read
CQS = (22, 40)
FRAMES = 4
SECTION_TITLES = (
    "Verdict",
    "Gate margins",
    "Accuracy against libvmaf&#x27;s recipe",
    "Per-fold PLCC per seed",
    "Predicted vs VMAF per held-out source",
    "Interval coverage per fold",
    "Corpus summary",
    "Worst moments",
    "Rate–quality and BD-rate",
)
PLCC = {
    3: {"alpha_clip_q": 0.97, "beta_clip_q": 0.91, "gamma_clip_q": 0.955},
    7: {"alpha_clip_q": 0.965, "beta_clip_q": 0.905, "gamma_clip_q": 0.96},
}


def _corpus_rows() -> list[dict]:
    """Made-up rows (not libvmaf output) with every REQUIRED_KEYS field and a group."""
    rows = [{**row, "group": row["src"]} for row in synthetic_rows(sources=SOURCES, cqs=CQS, frames=FRAMES)]
    assert all(set(REQUIRED_KEYS) <= set(r) for r in rows)
    return rows


def _seed_report(seed: int, corpus_path: Path) -> dict:
    folds = []
    for src in SOURCES:
        p = PLCC[seed][src]
        folds.append(
            {
                "held_out": src,
                "n_train": 16,
                "n_val": 8,
                "plcc": p,
                "srocc": p - 0.01,
                "rmse": 3.0,
                "clip": {"n_clips": 2, "plcc": p, "srocc": 1.0, "rmse": 2.0},
                "conformal": {"0.95": {"halfwidth": 6.0, "coverage": 0.875 if src == "beta_clip_q" else 1.0}},
            }
        )
    values = list(PLCC[seed].values())
    return {
        "seed": seed,
        "corpus": {"path": str(corpus_path), "sha256": "x" * 64, "rows": 24},
        "n_folds": 3,
        "folds": folds,
        "mean_plcc": sum(values) / 3,
        "min_plcc": min(values),
        "max_plcc": max(values),
        "epochs": 3,
        "batch_size": 32,
        "lr": 5e-4,
        "weight_decay": 1e-5,
    }


def _predictions(seed: int, rows: list[dict]) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [
        {
            "row": i,
            "seed": seed,
            "src": r["src"],
            "group": r["src"],
            "encoder": r["encoder"],
            "preset": r["preset"],
            "cq": float(r["cq"]),
            "frame_index": r["frame_index"],
            "vmaf": r["vmaf"],
            "pred": r["vmaf"] + float(rng.normal(0, 2.5)),
            "fold": r["src"],
        }
        for i, r in enumerate(rows)
    ]


def _verdict(corpus_path: Path) -> dict:
    per_seed = {str(s): sum(PLCC[s].values()) / 3 for s in SEEDS}
    gate = {
        "passed": False,
        "mean_plcc": sum(per_seed.values()) / 2,
        "mean_plcc_threshold": 0.95,
        "mean_plcc_pass": False,
        "plcc_spread": abs(per_seed["3"] - per_seed["7"]),
        "plcc_spread_max": 0.005,
        "plcc_spread_pass": True,
        "per_seed_plccs": per_seed,
        "per_seed_min": 0.95,
        "per_seed_pass": False,
        "failing_seeds": [3, 7],
    }
    calibration = {
        "coverage": 0.95,
        "frame": {"n": 24, "half_width": 5.5, "pooled_coverage": 0.96},
        "clip": {"n": 6, "half_width": 3.0, "pooled_coverage": 1.0},
        "per_fold": [
            {
                "fold": src,
                "n_frames": 8,
                "frame_half_width": 5.5,
                "frame_coverage": 0.75 + 0.1 * k,
                "n_clips": 2,
                "clip_half_width": 3.0,
                "clip_coverage": 1.0,
            }
            for k, src in enumerate(SOURCES)
        ],
        "fold_frame_coverage_mean": 0.85,
        "fold_frame_coverage_min": 0.75,
        "refused": {
            "n": 2,
            "rate": 2 / 24,
            "per_source": {"alpha_clip_q": 0.25, "beta_clip_q": 0.0, "gamma_clip_q": 0.0},
        },
        "frame_bands": [{"band": [80.0, 90.0], "n": 22, "coverage": 0.909, "median_half_width": 5.25}],
    }
    gate["checks"] = {
        "pooled_rmse": {"value": 2.125, "threshold": 5.0, "pass": True},
        "baseline_rmse": {"value": 2.125, "threshold": 1.75, "pass": False},
    }
    accuracy = {
        "pooled": {"n": 22, "rmse": 2.125, "bias": -0.375, "plcc": 0.9625, "srocc": 0.9375},
        "fold_mean": {"rmse": 2.0, "plcc": 0.95, "srocc": 0.93},
        "baseline": {"pooled": {"n": 22, "rmse": 0.75, "bias": 0.125, "plcc": 0.9875, "srocc": 0.9812}},
        "per_source": {
            src: {"n": 8 - (2 if k == 0 else 0), "rmse": 1.5 + k, "bias": 0.25 * k, "baseline_rmse": 0.5}
            for k, src in enumerate(SOURCES)
        },
    }
    return {
        "schema_version": 1,
        "verdict": "HOLD",
        "generated_at_utc": "2026-01-02T03:04:05Z",
        "loso_dir": "loso",
        "seeds": list(SEEDS),
        "gate": gate,
        "failing_aspects": ["mean_plcc 0.9442 < 0.9500"],
        "corpus": {"path": str(corpus_path), "sha256": "c" * 64, "rows": 24, "n_sources": 3, "sources": []},
        "calibration": calibration,
        "accuracy": accuracy,
        "recommendation": "keep smoke=true; investigate diversity",
    }


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def make_run(out: Path, *, verdict: bool = True, predictions: str | None = "jsonl", corpus: bool = True) -> Path:
    (out / "loso").mkdir(parents=True)
    (out / "corpus").mkdir()
    corpus_path = out / "corpus" / "per_frame_canonical6.jsonl"
    rows = _corpus_rows()
    if corpus:
        _write_jsonl(corpus_path, rows)
    for seed in SEEDS:
        (out / "loso" / f"loso_seed{seed}.json").write_text(json.dumps(_seed_report(seed, corpus_path)))
        preds = _predictions(seed, rows)
        if predictions == "jsonl":
            _write_jsonl(out / "loso" / f"loso_seed{seed}.predictions.jsonl", preds)
        elif predictions == "parquet":
            pa = pytest.importorskip("pyarrow")
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(preds), out / "loso" / f"loso_seed{seed}.predictions.parquet")
    if verdict:
        data = _verdict(corpus_path)
        data["evidence"] = {
            kind: [
                {
                    "seed": s,
                    "file": name.format(s),
                    "sha256": hashlib.sha256((out / "loso" / name.format(s)).read_bytes()).hexdigest(),
                }
                for s in SEEDS
            ]
            for kind, name in (("seed_reports", "loso_seed{}.json"), ("predictions", "loso_seed{}.predictions.jsonl"))
            if predictions == "jsonl" or kind == "seed_reports"
        }
        (out / "loso" / "HOLD.json").write_text(json.dumps(data))
    return out


def test_stale_verdict_is_not_shown(tmp_path):
    """A verdict whose pinned seed report changed (a retrain) is not shown as if it held."""
    out = make_run(tmp_path / "run")
    report = out / "loso" / f"loso_seed{SEEDS[0]}.json"
    report.write_text(report.read_text() + " ")
    page = write_report(out).read_text()
    assert "STALE verdict, not shown" in page and "changed since the verdict was written" in page
    assert "provisional" in page


def _images(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def _section(page: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', page, flags=re.S)
    assert match, anchor
    return match.group(1)


def assert_self_contained(page: str) -> None:
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, flags=re.I)
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page.lower() and "<link" not in page.lower() and "@import" not in page
    for ref in re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", page):
        assert ref.startswith(("data:image/png;base64,", "#")), ref


def test_full_run_report_is_self_contained_and_has_every_section(tmp_path):
    out = make_run(tmp_path / "run")
    path = write_report(out)
    assert path == out / "report.html"
    page = path.read_text()
    assert_self_contained(page)
    images = _images(page)
    # gate, heatmap, scatter, coverage, VMAF-vs-CQ curves, the worst cell's strip, rate–quality curves
    assert len(images) == 7
    assert all(img.startswith(b"\x89PNG\r\n\x1a\n") and len(img) > 2000 for img in images)
    for title in SECTION_TITLES:
        assert f"<h2>{title}</h2>" in page
    assert "Not available" not in page
    assert 'class="badge hold">HOLD' in page
    for seed in SEEDS:
        assert f"seed {seed}" in _section(page, "folds") and f"seed {seed}" in _section(page, "gate")
    for anchor in ("folds", "scatter", "coverage", "corpus"):
        for src in SOURCES:
            assert src in _section(page, anchor), (anchor, src)
    # Gate margins: the mean misses 0.95 by 0.0058 (mean of 0.945 and 0.94333...).
    gate = _section(page, "gate")
    assert "-0.0058" in gate and "FAIL" in gate
    # Per-fold PLCC from the seed reports; coverage from the verdict's calibration and the seeds.
    assert "0.9050" in _section(page, "folds")
    coverage = _section(page, "coverage")
    assert "0.750" in coverage and "0.875" in coverage
    assert "80–90" in coverage and "0.909" in coverage and "5.25" in coverage  # the quality band row
    # Accuracy: the verdict's numbers, ensemble beside the nu-SVR, per source with its refusals
    accuracy = _section(page, "accuracy")
    assert "2.125" in accuracy and "0.750" in accuracy and "25.0%" in accuracy
    gate_rows = _section(page, "gate")
    assert "RMSE vs nu-SVR allowance" in gate_rows and "-0.3750" in gate_rows  # 1.75 - 2.125
    assert "24</b> rows" in _section(page, "corpus")
    # A stale seed report of a seed the verdict does not list is left out, and the page says so.
    stale = {**_seed_report(3, out / "corpus" / "per_frame_canonical6.jsonl"), "seed": 5}
    (out / "loso" / "loso_seed5.json").write_text(json.dumps(stale))
    with_stale = write_report(out).read_text()
    assert "seed 5" not in _section(with_stale, "folds") and "seeds [5]" in _section(with_stale, "inputs")
    (out / "loso" / "loso_seed5.json").unlink()
    # Deterministic: the same folder renders to the same bytes (no clock time, no PNG metadata).
    assert write_report(out).read_text() == page


def test_no_verdict_gives_a_provisional_report(tmp_path):
    out = make_run(tmp_path / "run", verdict=False)
    page = write_report(out).read_text()
    assert_self_contained(page)
    assert "Not available" in _section(page, "verdict")
    assert "provisional" in _section(page, "gate")
    assert "provisional" in _section(page, "coverage")  # calibrated from the prediction files
    scatter = _section(page, "scatter")
    assert "Not available" not in scatter and "data:image/png;base64," in scatter
    assert "mean over 2 seed(s)" in scatter


def test_parquet_predictions_are_not_a_form_the_report_reads(tmp_path):
    """vmafkit writes held-out predictions as JSON lines only: a Parquet copy is not read."""
    out = make_run(tmp_path / "run", verdict=False, predictions="parquet")
    page = write_report(out).read_text()
    assert "Not available: no held-out prediction files (loso_seed{N}.predictions.jsonl)" in _section(page, "scatter")


def test_empty_run_folder_says_not_available_everywhere(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    page = write_report(out).read_text()
    assert_self_contained(page)
    for anchor in ("verdict", "gate", "folds", "scatter", "coverage", "corpus"):
        assert "Not available" in _section(page, anchor), anchor
    assert "data:image/png" not in page


def test_partial_and_broken_inputs_degrade_per_section(tmp_path):
    out = make_run(tmp_path / "run", verdict=False, predictions=None, corpus=False)
    (out / "loso" / "loso_seed9.json").write_text("{not json")
    page = write_report(out).read_text()
    assert "Per-fold PLCC per seed" in page and "Not available" not in _section(page, "folds")
    assert "Not available" in _section(page, "scatter")
    assert "Not available" in _section(page, "corpus")
    assert "loso_seed9.json" in _section(page, "inputs")  # the unreadable report is named, not fatal
    # The conformal coverage of the seed reports still shows without predictions or a verdict.
    assert "Not available" not in _section(page, "coverage")


def test_explicit_corpus_and_missing_folder(tmp_path):
    out = make_run(tmp_path / "run", corpus=False)
    other = tmp_path / "elsewhere.jsonl"
    _write_jsonl(other, _corpus_rows())
    page = write_report(out, corpus=other).read_text()
    assert "Not available" not in _section(page, "corpus")
    with pytest.raises(InputError):
        write_report(tmp_path / "missing")


def test_a_named_corpus_that_is_not_there_is_an_error_not_a_missing_section(tmp_path):
    """`--corpus` names a file: when it is missing (or a folder) the command says so, exit 2, and
    writes no page; only the default places may be absent."""
    out = make_run(tmp_path / "run", corpus=False)
    result = CliRunner().invoke(main, ["report", str(out), "--corpus", str(tmp_path / "typo.jsonl")])
    assert result.exit_code == 2 and "typo.jsonl: corpus not found" in result.output
    assert not (out / "report.html").exists()
    with pytest.raises(InputError, match="not a regular file"):
        write_report(out, corpus=tmp_path)


def test_cli_report(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    result = CliRunner().invoke(main, ["report", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("report.html")
    assert (out / "report.html").is_file()
    missing = CliRunner().invoke(main, ["report", str(tmp_path / "nope")])
    assert missing.exit_code == 2
    assert "not found" in missing.output


def test_rate_quality_section_shows_bd_rate_against_the_anchor(tmp_path):
    """libx265 cells are libx264's with twice the bytes at the same VMAF: +100 % by definition."""
    from ...factories import corpus_row, write_corpus

    rows = []
    for src, offset in (("alpha", 0.0), ("beta", 3.0)):
        for cq, size, vmaf in ((20, 8000, 95.0), (30, 4000, 85.0), (40, 2000, 70.0)):
            for encoder, factor in (("libx264", 1), ("libx265", 2)):
                rows.append(corpus_row(src, cq=cq, encoder=encoder, enc_bytes=size * factor, vmaf=vmaf - offset))
    corpus = write_corpus(tmp_path / "c.jsonl", rows)
    out = tmp_path / "run"
    out.mkdir()
    page = write_report(out, corpus=corpus).read_text()
    section = page[page.index('<section id="rd">') :]
    section = section[: section.index("</section>")]
    assert "libx265 vs libx264" in section
    assert section.count("+100.00 %") == 3  # alpha, beta, and their mean
    assert "rate–quality curves per source" in section


def test_the_corpus_table_shows_each_cell_s_p5_and_lists_the_cells_whose_dips_the_mean_hides(tmp_path):
    """One cell of 20 frames at 90 VMAF but 3 at 40: its mean is 82.5, its 5th percentile 40 (numpy,
    the oracle), so it is listed; the cells without a dip are not."""
    out = make_run(tmp_path / "run", corpus=False)
    rows = synthetic_rows(sources=SOURCES, cqs=CQS, frames=20)
    dipped = [r for r in rows if r["src"] == SOURCES[1] and r["cq"] == CQS[0]]
    for r in rows:
        if r["src"] != SOURCES[1] or r["cq"] != CQS[0]:
            r["vmaf"] = 70.0 + 0.1 * r["frame_index"]  # no dip: p5 within 2 VMAF of the mean
    for r in dipped:
        r["vmaf"] = 40.0 if r["frame_index"] < 3 else 90.0
    values = [r["vmaf"] for r in dipped]
    assert (np.mean(values), np.percentile(values, 5)) == (pytest.approx(82.5), pytest.approx(40.0))
    other = tmp_path / "c.jsonl"
    _write_jsonl(other, rows)
    section = _section(write_report(out, corpus=other).read_text(), "corpus")
    assert "82.5 / 40.0" in section and "libvmaf model vmaf_v0.6.1, feature set vmaf-v0.6.1 (6 features)" in section
    assert "<b>1</b> cell(s) whose p5 lies more than 5 VMAF below their mean" in section
    assert f"{SOURCES[1]} libx264 medium cq {CQS[0]}: mean 82.5, p5 40.0" in section
    assert f"{SOURCES[0]} libx264" not in section.split("cell(s) whose")[1]
