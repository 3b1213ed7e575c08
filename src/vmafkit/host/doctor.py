"""`vmafkit doctor`: what this host has, and a one-line hint for each missing thing the
requested steps need (and nothing more: no GPU is demanded when only CPU encoders are asked for)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from vmafkit.errors import InputError
from vmafkit.media import ffmpeg as ffm
from vmafkit.media.encoders import ADAPTERS, probe_encoder

STEP_MODULES = {"train": ("torch",), "export": ("torch", "onnx", "onnxruntime"), "predict": ("onnxruntime",)}
ALL_STEPS = ("corpus", "train", "export", "predict")


@dataclass
class DoctorReport:
    ffmpeg: dict[str, Any] | None
    platform: dict[str, Any]
    encoders: dict[str, dict[str, Any]]
    requested_encoders: list[str]
    modules: dict[str, bool]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "ok": self.ok}


NOTE_WIDTH = 60


def short_note(message: str, width: int = NOTE_WIDTH) -> str:
    """`message` on one line, at most `width` characters, shortened only at a word boundary (with
    '…'), never mid-word; a single word longer than `width` is kept whole. The full text stays in
    the probe's `message` (and in `problems`)."""
    text = " ".join(str(message).split())
    if len(text) <= width:
        return text
    words, kept = text.split(" "), ""
    for word in words:
        candidate = f"{kept} {word}" if kept else word
        if len(candidate) + 1 > width:  # room for the ellipsis
            break
        kept = candidate
    return (kept or words[0]).rstrip(",;:") + "…"


def _platform_info(ff: ffm.Ffmpeg | None) -> dict[str, Any]:
    try:
        from vmafkit.host import platform as host
    except ImportError:
        return {"family": "unknown", "default_encoders": ["libx264"], "signals": {}}
    info = host.detect(ffmpeg=ff.path if ff else None)
    return {"family": info.family, "default_encoders": list(info.default_encoders), "signals": info.signals}


def diagnose(
    encoders: Sequence[str] | None = None,
    steps: Sequence[str] = ALL_STEPS,
    *,
    ffmpeg: str | None = None,
    vmaf_bin: str | None = None,
    probe_all: bool = True,
) -> DoctorReport:
    problems: list[str] = []
    try:
        ff = ffm.find_ffmpeg(ffmpeg)
    except InputError as err:
        ff = None
        problems.append(f"ffmpeg: {err}")
    platform = _platform_info(ff)
    requested = list(encoders) if encoders else list(platform["default_encoders"])
    unknown = [name for name in requested if name not in ADAPTERS]
    problems += [f"encoder {name}: unknown; known encoders: {', '.join(sorted(ADAPTERS))}" for name in unknown]
    to_probe = sorted(ADAPTERS) if probe_all else [n for n in requested if n in ADAPTERS]
    probes: dict[str, dict[str, Any]] = {}
    if ff is not None:
        for name in to_probe:
            result = probe_encoder(ff, name)
            probes[name] = {
                "ok": result.ok,
                "message": result.message,
                "hardware": ADAPTERS[name].hardware,
                "note": "" if result.ok else short_note(result.message),
            }
        if "corpus" in steps:
            for name in requested:
                if name in probes and not probes[name]["ok"]:
                    problems.append(
                        f"encoder {name}: 1-frame trial encode fails ({probes[name]['message']}); "
                        "drop it from --encoders or fix its driver/device"
                    )
    if vmaf_bin and not (os.path.isfile(vmaf_bin) and os.access(vmaf_bin, os.X_OK)):
        problems.append(f"vmaf CLI {vmaf_bin}: not found or not executable")
    modules = {m: importlib.util.find_spec(m) is not None for s in steps for m in STEP_MODULES.get(s, ())}
    problems += [
        f"python module {m}: missing; `pip install vmafkit` pulls it in" for m, ok in modules.items() if not ok
    ]
    return DoctorReport(
        ffmpeg=ff.describe() if ff else None,
        platform=platform,
        encoders=probes,
        requested_encoders=requested,
        modules=modules,
        problems=problems,
    )
