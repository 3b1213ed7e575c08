"""Synthetic corpora, seed reports and held-out prediction files for the gate/verdict/export/
registry/predict tests (small: a few hundred rows)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np



def make_corpus(path: Path, *, sources=("srcA", "srcB", "srcC"), encoders=("libx264",), cqs=(20, 30, 40),
                frames=8, seed=0) -> Path:
    """A corpus whose vmaf is a smooth function of the canonical-6 and cq (learnable in a few epochs)."""
    rng = np.random.default_rng(seed)
    rows = []
    for s_i, src in enumerate(sources):
        digest = hashlib.sha256(src.encode()).hexdigest()
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
                        "motion2": float(2.0 + s_i + 0.5 * rng.random()),
                    }
                    vmaf = float(np.clip(100 * (0.6 * feats["adm2"] + 0.4 * feats["vif_scale1"]) - 40 + 2 * s_i, 0, 100))
                    rows.append({"src": src, "src_sha256": digest, "encoder": enc, "preset": "medium", "cq": cq,
                                 "frame_index": f, "vmaf": vmaf, **feats, "width": 64, "height": 48, "fps": 25,
                                 "pix_fmt": "yuv420p", "enc_bytes": 1000, "enc_time_ms": 1.0, "schema_version": 1})
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    return path


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def write_seed_report(loso_dir: Path, seed: int, corpus: Path, plcc: float, *, n_folds: int = 3, epochs: int = 2,
                      extra: dict | None = None) -> Path:
    folds = [{"held_out": f"src{chr(65 + i)}", "n_train": 10, "n_val": 5, "plcc": plcc, "srocc": plcc, "rmse": 1.0}
             for i in range(n_folds)]
    report = {"seed": seed, "corpus": str(corpus), "n_folds": n_folds, "folds": folds, "mean_plcc": plcc,
              "std_plcc": 0.0, "min_plcc": plcc, "max_plcc": plcc, "mean_srocc": plcc, "mean_rmse": 1.0,
              "epochs": epochs, "batch_size": 32, "lr": 5e-4, "weight_decay": 1e-5, "num_codecs": 14,
              "encoder_vocab_version": "encoder-vocab-v1-12slot", "wall_time_s": 1.0,
              "run_provenance": {"schema": "ai-run-provenance-v1"}}
    report.update(extra or {})
    path = Path(loso_dir) / f"loso_seed{seed}.json"
    path.write_text(json.dumps(report))
    return path


def write_predictions(loso_dir: Path, seed: int, corpus: Path, *, noise: float = 1.0, bias: float = 0.0) -> Path:
    """Held-out predictions: vmaf + bias + N(0, noise) drawn from the seed."""
    rng = np.random.default_rng(1000 + seed)
    lines = []
    for i, r in enumerate(read_rows(corpus)):
        lines.append({"row": i, "src": r["src"], "group": r["src"], "encoder": r["encoder"], "preset": r["preset"],
                      "cq": r["cq"], "frame_index": r["frame_index"], "vmaf": r["vmaf"],
                      "pred": r["vmaf"] + bias + noise * float(rng.standard_normal()), "fold": r["src"]})
    path = Path(loso_dir) / f"loso_seed{seed}.predictions.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def make_loso_dir(tmp_path: Path, plccs: dict[int, float], *, corpus: Path | None = None, predictions: bool = True,
                  epochs: int = 2) -> tuple[Path, Path]:
    """A LOSO folder with one seed report (and prediction file) per seed; returns (dir, corpus)."""
    corpus = corpus or make_corpus(tmp_path / "per_frame_canonical6.jsonl")
    loso = tmp_path / "loso"
    loso.mkdir(exist_ok=True)
    for seed, plcc in plccs.items():
        write_seed_report(loso, seed, corpus, plcc, epochs=epochs)
        if predictions:
            write_predictions(loso, seed, corpus)
    return loso, corpus


def export_models(tmp_path: Path, seeds=(0, 1, 2), *, plccs=None, model_id: str = "fr_regressor_v2_ensemble_v1"):
    """Tiny PROMOTE -> export (real full-corpus refit, 2 epochs). Returns (models dir, verdict path, corpus)."""
    from vmafkit.export import export_ensemble
    from vmafkit.verdict import write_verdict

    plccs = plccs or {s: 0.96 for s in seeds}
    # 3 sources x 7 cq = 21 clips: enough cells for a bounded 95 % clip interval (k = 21 <= n).
    corpus = make_corpus(tmp_path / "per_frame_canonical6.jsonl", cqs=(20, 23, 26, 30, 33, 36, 40), frames=4)
    loso, corpus = make_loso_dir(tmp_path, plccs, corpus=corpus, epochs=2)
    verdict, verdict_path = write_verdict(loso, list(plccs))
    assert verdict["verdict"] == "PROMOTE"
    models = tmp_path / "models"
    export_ensemble(corpus, verdict_path, models, model_id=model_id)
    return models, verdict_path, corpus


def private_copy(pristine: tuple[Path, Path, Path], tmp_path: Path) -> tuple[Path, Path, Path]:
    """A private copy of an `export_models` MODELS folder (tests mutate it): (models, verdict, corpus)."""
    src, verdict_path, corpus = pristine
    dst = tmp_path / "models"
    shutil.copytree(src, dst)
    return dst, verdict_path, corpus


def cli(args, **kwargs):
    from click.testing import CliRunner

    from vmafkit.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, **kwargs)
