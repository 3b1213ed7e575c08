"""Small synthetic corpora for the trainer tests (rows follow corpus/schema.py REQUIRED_KEYS)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vmafkit.corpus.schema import SCHEMA_VERSION, write_jsonl_lines


def synth_rows(
    *,
    groups=("srcA", "srcB", "srcC"),
    encoders=("libx264", "libx265"),
    cqs=(22, 30, 38),
    frames=12,
    seed=0,
    extreme_group: str | None = None,
) -> list[dict]:
    """Rows whose vmaf is a smooth function of the canonical-6 and cq (learnable in a few epochs).

    `extreme_group`: that group's features are shifted far outside the others' range (leakage tests)."""
    rng = np.random.default_rng(seed)
    rows = []
    for g_i, src in enumerate(groups):
        content = rng.uniform(-0.5, 0.5)
        motion = rng.uniform(0.5, 12.0)
        for enc in encoders:
            for cq in cqs:
                for f in range(frames):
                    t = float(
                        np.clip(1.0 - (cq - 18) / 30.0 + 0.15 * content + 0.03 * rng.standard_normal(), 0.02, 1.0)
                    )
                    feats = {
                        "adm2": 0.7 + 0.3 * t,
                        "vif_scale0": t**2.0,
                        "vif_scale1": t**1.5,
                        "vif_scale2": t**1.2,
                        "vif_scale3": t**1.1,
                        "motion2": max(0.0, motion + rng.normal(0, 0.5)),
                    }
                    if src == extreme_group:
                        feats = {k: v + (500.0 if k == "motion2" else 50.0) for k, v in feats.items()}
                    vmaf = float(np.clip(100 * (0.6 * t + 0.4 * t**2) - 0.2 * feats["motion2"] * (1 - t), 0, 100))
                    rows.append(
                        {
                            "schema_version": SCHEMA_VERSION,
                            "src": src,
                            "src_sha256": f"{g_i:064x}",
                            "encoder": enc,
                            "preset": "medium",
                            "cq": cq,
                            "frame_index": f,
                            "vmaf": round(vmaf, 6),
                            **{k: round(float(v), 6) for k, v in feats.items()},
                            "width": 320,
                            "height": 180,
                            "fps": 25.0,
                            "pix_fmt": "yuv420p",
                            "enc_bytes": 1000 + f,
                            "enc_time_ms": 1.0,
                        }
                    )
    return rows


def write_corpus(path: Path, rows: list[dict]) -> Path:
    path.write_text(write_jsonl_lines(rows))
    return path


def make_corpus(path: Path, **kwargs) -> Path:
    return write_corpus(path, synth_rows(**kwargs))
