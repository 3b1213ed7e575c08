"""Made-up test data, one maker per kind: corpus rows and corpora, held-out prediction files, seed
reports, LOSO folders and tiny real exports.

The corpora are synthetic (not libvmaf output): `synthetic_rows` is the one corpus factory, and
every other maker (and every test that needs a corpus row) builds on `corpus_row`. Its vmaf is a
smooth function of the canonical-6 (learnable in a few epochs), its rows follow
corpus/schema.py's REQUIRED_KEYS. tests/conftest.py offers the same as fixtures.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vmafkit.corpus.schema import CANONICAL6, SCHEMA_VERSION, write_jsonl_lines

DEFAULT_SOURCES = ("srcA", "srcB", "srcC")

# What the trainer tests need beside the defaults: a second encoder (the label-sensitivity
# measures move a row to another trained encoder) and enough rows per source that 3 sources clear
# the trainer's 100-row minimum even at a few frames (3 x 2 x 3 x 6 = 108).
TRAINER_SHAPE: dict[str, Any] = {"encoders": ("libx264", "libx265"), "cqs": (22, 30, 38), "frames": 12}

# A corpus a real (few-epoch) ensemble learns well enough to PROMOTE: its features predict vmaf up
# to a per-source offset and a codec effect the features miss, which the ensemble's labels learn and
# the nu-SVR baseline cannot, so the ensemble earns its keep as on the demo's clips.
LEARNABLE_SHAPE: dict[str, Any] = {
    "sources": ("srcA", "srcB", "srcC"),
    "encoders": ("libx264", "libx265"),
    "cqs": (20, 23, 26, 30, 33, 36, 40),
    "frames": 5,
    "encoder_effect": {"libx265": 6.0},
    "source_offset": 0.5,
}


def source_digest(src: str) -> str:
    """The made-up `src_sha256` of a source: the sha256 of its name."""
    return hashlib.sha256(src.encode()).hexdigest()


def corpus_row(src: str = "a", *, frame: int = 0, cq: int = 25, **over: Any) -> dict[str, Any]:
    """One valid corpus row (every REQUIRED_KEY, features 0.5, vmaf 80); `over` replaces or adds keys."""
    row: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "src": src,
        "src_sha256": source_digest(src),
        "encoder": "libx264",
        "preset": "medium",
        "cq": cq,
        "frame_index": frame,
        "vmaf": 80.0,
        "width": 64,
        "height": 48,
        "fps": 25,
        "pix_fmt": "yuv420p",
        "enc_bytes": 1000,
        "enc_time_ms": 1.0,
        **{k: 0.5 for k in CANONICAL6},
    }
    row.update(over)
    return row


def synthetic_rows(
    *,
    sources: Sequence[str] = DEFAULT_SOURCES,
    encoders: Sequence[str] = ("libx264",),
    cqs: Sequence[int] = (20, 30, 40),
    frames: int = 8,
    seed: int = 0,
    extreme_group: str | None = None,
    encoder_effect: dict[str, float] | None = None,
    source_offset: float = 2.0,
) -> list[dict[str, Any]]:
    """Rows for every (source, encoder, cq, frame), in that order, whose vmaf is a smooth function
    of the canonical-6 (and so of cq) with a per-source offset no feature reveals (what a held-out
    source's content adds); the same arguments give the same rows. Every source spans one motion2
    range, so a held-out source lies inside the others' training domain.

    `source_offset`: VMAF points each further source adds (the offset no feature reveals).
    `encoder_effect`: VMAF points added to an encoder's rows that no feature shows (what the
    ensemble's codec labels can learn and libvmaf's nu-SVR recipe, on features alone, cannot).

    `extreme_group`: that source's features are shifted far outside the others' range after its
    vmaf is drawn (leakage tests: a statistic fitted on it would be far off)."""
    rng = np.random.default_rng(seed)
    rows = []
    for s_i, src in enumerate(sources):
        for enc in encoders:
            for cq in cqs:
                for f in range(frames):
                    q = 1.0 - (cq - 15) / 40.0 + 0.05 * rng.standard_normal()
                    feats = {
                        "adm2": float(np.clip(0.7 + 0.3 * q + 0.01 * rng.standard_normal(), 0, 1)),
                        "vif_scale0": float(np.clip(0.3 + 0.6 * q, 0, 1)),
                        "vif_scale1": float(np.clip(0.5 + 0.45 * q, 0, 1)),
                        "vif_scale2": float(np.clip(0.6 + 0.38 * q, 0, 1)),
                        "vif_scale3": float(np.clip(0.65 + 0.33 * q, 0, 1)),
                        # one range for every source: a held-out source inside the others' domain
                        "motion2": float(2.0 + 0.5 * rng.random()),
                    }
                    vmaf = float(
                        np.clip(
                            100 * (0.6 * feats["adm2"] + 0.4 * feats["vif_scale1"])
                            - 40
                            + source_offset * s_i
                            + (encoder_effect or {}).get(enc, 0.0),
                            0,
                            100,
                        )
                    )
                    if src == extreme_group:
                        feats = {k: v + (500.0 if k == "motion2" else 50.0) for k, v in feats.items()}
                    rows.append(corpus_row(src, frame=f, cq=cq, encoder=enc, vmaf=vmaf, **feats))
    return rows


V1_MODEL = "vmaf_v1.0.16_3d0h"


def as_v1_rows(rows: Sequence[dict[str, Any]], model: str = V1_MODEL) -> list[dict[str, Any]]:
    """The rows as a VMAF v1 corpus's: the canonical-6 replaced by v1's 14 columns, each a fixed,
    non-negative function of them (so vmaf is as learnable from them), the v1 model named, and the
    scoring recipe `vmafkit corpus --model` gives it."""
    from vmafkit.media.libvmaf import recipe_id, scoring_recipe

    recipe = recipe_id(scoring_recipe(model, (), 1, None))
    out = []
    for row in rows:
        f = {k: float(row[k]) for k in CANONICAL6}
        v1 = {
            "integer_adm2": f["adm2"],
            "integer_adm3": 0.9 * f["adm2"] + 0.1 * f["vif_scale3"],
            **{f"integer_adm_scale{i}": f[f"vif_scale{i}"] for i in range(4)},
            "integer_aim": 1.0 - min(f["adm2"], 1.0),
            "integer_motion2": f["motion2"],
            "integer_motion3": 1.1 * f["motion2"],
            "integer_motion_sad": 2.0 * f["motion2"],
            "cambi_hrs": 5.0 * max(0.0, 1.0 - f["vif_scale0"]),
            "speed_chroma_u": max(0.0, 1.0 - f["vif_scale1"]),
            "speed_chroma_v": max(0.0, 1.0 - f["vif_scale2"]),
            "speed_chroma_uv": max(0.0, 2.0 - f["vif_scale1"] - f["vif_scale2"]),
        }
        new = {k: v for k, v in row.items() if k not in CANONICAL6}
        out.append({**new, **v1, "vmaf_model": model, "feature_set": "vmaf-v1.0.16", "scoring_recipe": recipe})
    return out


def write_corpus(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """The rows as a corpus file, in the corpus's own JSONL form."""
    Path(path).write_text(write_jsonl_lines(rows))
    return Path(path)


def make_corpus(path: Path, **shape: Any) -> Path:
    """`write_corpus(path, synthetic_rows(**shape))`."""
    return write_corpus(path, synthetic_rows(**shape))


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


# ----------------------------------------------------------------------------- LOSO evidence


def write_predictions(
    loso_dir: Path,
    seed: int,
    corpus: Path,
    *,
    plcc: float = 0.96,
    bias: float = 0.0,
    pred: np.ndarray | None = None,
) -> Path:
    """Held-out predictions whose PLCC with vmaf is exactly `plcc` in every fold: vmaf + bias + a
    noise vector drawn from the seed and made orthogonal to the fold's centred vmaf, scaled so that
    corr = |y| / sqrt(|y|^2 + |e|^2) = plcc. `pred_unlabelled` adds a little more noise (what a
    robust-recipe member predicts with its labels left out). `pred`: these predictions instead (one
    per corpus row; `pred_unlabelled` is then the same)."""
    rng = np.random.default_rng(1000 + seed)
    rows = read_rows(corpus)
    vmaf = np.array([r["vmaf"] for r in rows])
    src = np.array([r["src"] for r in rows])
    if pred is not None:
        pred = np.asarray(pred, dtype=np.float64)
        free = pred
    else:
        pred = np.empty_like(vmaf)
        for fold in sorted(set(src.tolist())):
            inside = src == fold
            y = vmaf[inside] - vmaf[inside].mean()
            e = rng.standard_normal(y.size)
            e -= e.mean()
            e -= y * (e @ y) / (y @ y)
            scale = np.sqrt(y @ y) * np.sqrt(1.0 / plcc**2 - 1.0) / np.sqrt(e @ e)
            pred[inside] = vmaf[inside] + bias + scale * e
        free = pred + 0.1 * rng.standard_normal(pred.size)
    lines = [
        {
            "row": i,
            "src": r["src"],
            "group": r["src"],
            "encoder": r["encoder"],
            "preset": r["preset"],
            "cq": r["cq"],
            "frame_index": r["frame_index"],
            "vmaf": r["vmaf"],
            "pred": float(pred[i]),
            "pred_unlabelled": float(free[i]),
            "fold": r["src"],
            "seed": seed,
        }
        for i, r in enumerate(rows)
    ]
    path = Path(loso_dir) / f"loso_seed{seed}.predictions.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def write_seed_report(loso_dir: Path, seed: int, corpus: Path, *, epochs: int = 2, extra: dict | None = None) -> Path:
    """The seed report of the predictions file beside it, its PLCCs and SROCCs computed by scipy
    and its RMSEs by numpy (oracles independent of vmafkit's metrics)."""
    from scipy.stats import pearsonr, spearmanr

    preds = [
        json.loads(line) for line in (Path(loso_dir) / f"loso_seed{seed}.predictions.jsonl").read_text().splitlines()
    ]
    folds = []
    for fold in sorted({p["fold"] for p in preds}):
        mine = [p for p in preds if p["fold"] == fold]
        pred = np.array([p["pred"] for p in mine])
        vmaf = np.array([p["vmaf"] for p in mine])
        folds.append(
            {
                "held_out": fold,
                "n_train": len(preds) - len(mine),
                "n_val": len(mine),
                "plcc": float(pearsonr(pred, vmaf)[0]),
                "srocc": float(spearmanr(pred, vmaf)[0]),
                "rmse": float(np.sqrt(np.mean((pred - vmaf) ** 2))),
            }
        )
    plccs = [f["plcc"] for f in folds]
    recipe = {
        "epochs": epochs,
        "batch_size": 32,
        "lr": 5e-4,
        "weight_decay": 1e-5,
        "hidden": 64,
        "dropout": 0.1,
        "label_mask_rate": 0.5,
    }
    report = {
        "seed": seed,
        "corpus": {"path": str(corpus), "sha256": hashlib.sha256(Path(corpus).read_bytes()).hexdigest()},
        "n_folds": len(folds),
        "folds": folds,
        "mean_plcc": float(np.mean(plccs)),
        "std_plcc": float(np.std(plccs)),
        "min_plcc": min(plccs),
        "max_plcc": max(plccs),
        "mean_srocc": float(np.mean([f["srocc"] for f in folds])),
        "mean_rmse": float(np.mean([f["rmse"] for f in folds])),
        "epochs": epochs,
        "batch_size": 32,
        "lr": 5e-4,
        "weight_decay": 1e-5,
        "recipe": recipe,
        "num_codecs": 14,
        "encoder_vocab_version": "encoder-vocab-v1-12slot",
        "wall_time_s": 1.0,
        "run_provenance": {"schema": "ai-run-provenance-v1"},
    }
    report.update(extra or {})
    path = Path(loso_dir) / f"loso_seed{seed}.json"
    path.write_text(json.dumps(report))
    return path


def make_loso_dir(
    tmp_path: Path, plccs: dict[int, float], *, corpus: Path | None = None, predictions: bool = True, epochs: int = 2
) -> tuple[Path, Path]:
    """A LOSO folder with one prediction file (every fold at exactly that seed's PLCC) and the seed
    report of it per seed; returns (dir, corpus). predictions=False removes the prediction files."""
    corpus = corpus or make_corpus(tmp_path / "per_frame_canonical6.jsonl")
    loso = tmp_path / "loso"
    loso.mkdir(exist_ok=True)
    for seed, plcc in plccs.items():
        pred = write_predictions(loso, seed, corpus, plcc=plcc)
        write_seed_report(loso, seed, corpus, epochs=epochs)
        if not predictions:
            pred.unlink()
    return loso, corpus


def trained_loso(tmp_path: Path, seeds=(0, 1, 2), *, v1: bool = False) -> tuple[Path, Path]:
    """A LOSO folder the REAL trainer wrote (fold members, refits, predictions) on the learnable
    corpus (`v1`: as a VMAF v1 corpus, `as_v1_rows`), at the recipe that PROMOTEs it (~1 s a
    seed): (loso dir, corpus)."""
    from vmafkit.train.loso import train_loso
    from vmafkit.train.recipe import Recipe

    rows = synthetic_rows(**LEARNABLE_SHAPE)
    corpus = write_corpus(Path(tmp_path) / "per_frame_canonical6.jsonl", as_v1_rows(rows) if v1 else rows)
    loso = Path(tmp_path) / "loso"
    # the v1 corpus's 14 collinear columns need a gentler, longer fit to agree across seeds (measured)
    recipe = Recipe(epochs=200, lr=1e-2) if v1 else Recipe(epochs=100, lr=2e-2)
    train_loso(corpus, list(seeds), loso, recipe, device="cpu", progress=False)
    return loso, corpus


def export_models(tmp_path: Path, seeds=(0, 1, 2), *, model_id: str = "fr_regressor_v2_ensemble_v1", v1: bool = False):
    """Real training -> PROMOTE -> export (members tied to the held-out evidence, as export
    requires); `v1`: of the learnable corpus as a VMAF v1 one. Returns (models dir, verdict path, corpus)."""
    from vmafkit.decide.verdict import write_verdict
    from vmafkit.serve.export import export_ensemble

    loso, corpus = trained_loso(tmp_path, seeds, v1=v1)
    verdict, verdict_path = write_verdict(loso, list(seeds))
    assert verdict["verdict"] == "PROMOTE", verdict["recommendation"]
    models = Path(tmp_path) / "models"
    export_ensemble(corpus, verdict_path, models, model_id=model_id)
    return models, verdict_path, corpus


def private_copy(pristine: tuple[Path, Path, Path], tmp_path: Path) -> tuple[Path, Path, Path]:
    """A private copy of an `export_models` MODELS folder (tests mutate it): (models, verdict, corpus)."""
    src, verdict_path, corpus = pristine
    dst = tmp_path / "models"
    shutil.copytree(src, dst)
    return dst, verdict_path, corpus


def cli(args, **kwargs):
    """The real `vmafkit` command in-process (click's runner), exceptions not swallowed."""
    from click.testing import CliRunner

    from vmafkit.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, **kwargs)


def passing_terms() -> dict[str, Any]:
    """accuracy= and calibration= blocks that pass every gate term in VMAF points (thresholds.py),
    for tests of the PLCC terms alone: `evaluate_gate(plccs, coverage, **passing_terms())`."""
    return {
        "accuracy": {
            "pooled": {"rmse": 1.0, "srocc": 0.99},
            "source_rmse_max": {"source": "srcA", "value": 1.5},
            "source_bias_max": {"source": "srcA", "value": 0.5},
            "baseline": {"pooled": {"rmse": 1.2, "srocc": 0.99}, "paired_worse_p": 0.5},
        },
        "calibration": {
            "frame": {"half_width": 3.0},
            "refused": {"rate": 0.0},
            "coverage_check": {"n_below": 1, "n_below_allowed": 4},
        },
    }
