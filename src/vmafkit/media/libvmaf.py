"""What libvmaf scores and how its JSON log reads: the canonical-6 feature names, the target, and
the per-frame rows both scoring back-ends (`score.py`, `vmafcli.py`) return.

The corpus schema (corpus/schema.py) and everything after it take these names from here."""

from __future__ import annotations

from typing import Any

from vmafkit.errors import InputError

CANONICAL6 = ("adm2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3", "motion2")
TARGET = "vmaf"
# libvmaf's metric names for the canonical-6, in the same order.
LIBVMAF_NAMES = tuple(f"integer_{name}" for name in CANONICAL6)


def parse_libvmaf_log(data: dict[str, Any], where: str) -> list[dict[str, float]]:
    """libvmaf's JSON log -> [{frame_index, vmaf, adm2, ...}] in frame order."""
    frames = []
    for entry in data.get("frames", []):
        metrics = entry.get("metrics", {})
        try:
            row = {"frame_index": int(entry["frameNum"]), TARGET: float(metrics["vmaf"])}
            for ours, theirs in zip(CANONICAL6, LIBVMAF_NAMES):
                row[ours] = float(metrics[theirs])
        except KeyError as exc:
            raise InputError(f"libvmaf log lacks {exc.args[0]}", path=where) from None
        frames.append(row)
    frames.sort(key=lambda r: r["frame_index"])
    return frames
