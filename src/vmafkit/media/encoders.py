"""The encoder adapter table: name -> family, the argv for (cq, preset), hardware init, probe.

The argv shapes are a contract: corpora built with them stay interchangeable with earlier ones,
so change none (tests/unit/media/test_encoders.py spells each one out). An encoder is used only after
`probe_encoder` shows that a 1-frame trial encode works on this host.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from vmafkit.errors import InputError
from vmafkit.media import ffmpeg as ffm

# The corpus grid when none is given: four quality levels from near-transparent to clearly
# degraded on the x264/x265 scale, one preset. `corpus`, `run` and the Python API take these.
DEFAULT_CQS = (19, 25, 31, 37)
DEFAULT_PRESETS = ("medium",)

X26X_PRESETS = (
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
)
# x26x names ultrafast..placebo map onto nvenc's p1..p7 (part of the argv contract above).
NVENC_PRESET_MAP = {
    "ultrafast": "p1",
    "superfast": "p1",
    "veryfast": "p2",
    "faster": "p3",
    "fast": "p3",
    "medium": "p4",
    "slow": "p5",
    "slower": "p6",
    "veryslow": "p7",
    "placebo": "p7",
}
# Numeric-preset families: a name from the x26x ladder maps to a numeric speed level.
SVT_PRESET_MAP = {
    "ultrafast": "12",
    "superfast": "11",
    "veryfast": "10",
    "faster": "9",
    "fast": "8",
    "medium": "8",
    "slow": "6",
    "slower": "4",
    "veryslow": "2",
    "placebo": "0",
}
CPU_USED_MAP = {
    "ultrafast": "8",
    "superfast": "8",
    "veryfast": "7",
    "faster": "6",
    "fast": "5",
    "medium": "4",
    "slow": "3",
    "slower": "2",
    "veryslow": "1",
    "placebo": "0",
}
DEFAULT_HW_DEVICE = "/dev/dri/renderD128"
ENV_HW_DEVICE = "VMAFKIT_HW_DEVICE"


@dataclass(frozen=True)
class EncodeArgs:
    """What an adapter contributes to the encode command line."""

    codec_args: tuple[str, ...]
    hw_init: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()


@dataclass(frozen=True)
class Adapter:
    name: str
    family: str  # x26x | svtav1 | aom | vpx | vvenc | nvenc | qsv | vaapi | amf | videotoolbox
    codec: str  # h264 | hevc | av1 | vp9 | vvc
    hardware: bool
    build: Callable[[int, str, str], EncodeArgs] = field(repr=False, compare=False)
    cq_range: tuple[int, int] = (0, 63)

    def preset_for(self, preset: str | None) -> str:
        """The preset this family really uses for a requested one (recorded in the rows)."""
        preset = (preset or "medium").strip()
        if self.family == "nvenc":
            return preset if preset.startswith("p") and preset[1:].isdigit() else NVENC_PRESET_MAP.get(preset, "p4")
        if self.family == "svtav1":
            return preset if preset.isdigit() else SVT_PRESET_MAP.get(preset, "8")
        if self.family in ("aom", "vpx"):
            return preset if preset.isdigit() else CPU_USED_MAP.get(preset, "4")
        if self.family in ("x26x", "vvenc", "qsv"):
            return preset
        return preset  # families without a preset knob keep the label for the row

    def args(self, cq: int, preset: str | None = None, device: str | None = None) -> EncodeArgs:
        low, high = self.cq_range
        if not low <= int(cq) <= high:
            raise InputError(f"cq {cq} is outside {self.name}'s range {low}..{high}")
        device = device or os.environ.get(ENV_HW_DEVICE) or DEFAULT_HW_DEVICE
        return self.build(int(cq), self.preset_for(preset), device)


def _x26x(cq, preset, _dev):
    return EncodeArgs(("-crf", str(cq), "-preset", preset))


def _svtav1(cq, preset, _dev):
    return EncodeArgs(("-crf", str(cq), "-preset", preset))


def _crf_zero_bitrate(cq, preset, _dev):
    return EncodeArgs(("-crf", str(cq), "-b:v", "0", "-cpu-used", preset))


def _vvenc(cq, preset, _dev):
    return EncodeArgs(("-qp", str(cq), "-preset", preset))


def _nvenc(cq, preset, _dev):
    return EncodeArgs(("-cq", str(cq), "-preset", preset))


def _qsv(cq, preset, dev):
    return EncodeArgs(
        ("-global_quality", str(cq), "-preset", preset), hw_init=("-init_hw_device", f"qsv:hw,child_device={dev}")
    )


def _vaapi(cq, _preset, dev):
    return EncodeArgs(
        ("-qp", str(cq)),
        hw_init=("-init_hw_device", f"vaapi=va:{dev}", "-filter_hw_device", "va"),
        filters=("format=nv12", "hwupload=extra_hw_frames=16"),
    )


def _amf(cq, _preset, _dev):
    return EncodeArgs(("-rc", "cqp", "-qp_i", str(cq), "-qp_p", str(cq)))


def videotoolbox_quality(cq: int) -> int:
    """-q:v clamp(100 - 2*CQ, 1, 100) (part of the argv contract)."""
    return max(1, min(100, 100 - 2 * int(cq)))


def _videotoolbox(cq, _preset, _dev):
    return EncodeArgs(("-q:v", str(videotoolbox_quality(cq)), "-realtime", "0"))


def _table() -> dict[str, Adapter]:
    rows = [
        Adapter("libx264", "x26x", "h264", False, _x26x, (0, 51)),
        Adapter("libx265", "x26x", "hevc", False, _x26x, (0, 51)),
        Adapter("libsvtav1", "svtav1", "av1", False, _svtav1, (1, 63)),
        Adapter("libaom-av1", "aom", "av1", False, _crf_zero_bitrate, (0, 63)),
        Adapter("libvpx-vp9", "vpx", "vp9", False, _crf_zero_bitrate, (0, 63)),
        Adapter("libvvenc", "vvenc", "vvc", False, _vvenc, (0, 63)),
    ]
    for codec in ("h264", "hevc", "av1"):
        rows += [
            Adapter(f"{codec}_nvenc", "nvenc", codec, True, _nvenc, (0, 51)),
            Adapter(f"{codec}_qsv", "qsv", codec, True, _qsv, (1, 51)),
            Adapter(f"{codec}_vaapi", "vaapi", codec, True, _vaapi, (0, 255 if codec == "av1" else 51)),
            Adapter(f"{codec}_amf", "amf", codec, True, _amf, (0, 255 if codec == "av1" else 51)),
        ]
    rows += [
        Adapter("h264_videotoolbox", "videotoolbox", "h264", True, _videotoolbox, (0, 51)),
        Adapter("hevc_videotoolbox", "videotoolbox", "hevc", True, _videotoolbox, (0, 51)),
    ]
    return {row.name: row for row in rows}


ADAPTERS: dict[str, Adapter] = _table()


def get_adapter(name: str) -> Adapter:
    try:
        return ADAPTERS[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(str(name).strip().lower(), sorted(ADAPTERS), n=2, cutoff=0.6)
        hint = f"did you mean {' or '.join(map(repr, close))}?" if close else f"known: {', '.join(sorted(ADAPTERS))}"
        raise InputError(f"unknown encoder {name!r}; {hint}") from None


@dataclass(frozen=True)
class ProbeResult:
    encoder: str
    ok: bool
    message: str
    argv: tuple[str, ...]


@functools.lru_cache(maxsize=64)
def probe_encoder(ff: ffm.Ffmpeg, name: str) -> ProbeResult:
    """A 1-frame trial encode; cached per (ffmpeg, encoder) for the life of the process."""
    adapter = get_adapter(name)
    args = adapter.args(cq=min(max(30, adapter.cq_range[0]), adapter.cq_range[1]), preset=None)
    argv = ffm.probe_encoder_argv(ff, name, args.codec_args, args.hw_init, args.filters)
    result = ffm.run_ffmpeg(argv, timeout=60)
    if result.returncode == 0:
        return ProbeResult(name, True, "1-frame trial encode works", tuple(argv))
    return ProbeResult(name, False, ffm.last_error_line(result.stderr), tuple(argv))


def require_preset(ff: ffm.Ffmpeg, name: str, preset: str) -> None:
    """A 1-frame trial encode with `preset`: a preset the encoder refuses is one line, before any work."""
    adapter = get_adapter(name)
    args = adapter.args(cq=min(max(30, adapter.cq_range[0]), adapter.cq_range[1]), preset=preset)
    result = ffm.run_ffmpeg(ffm.probe_encoder_argv(ff, name, args.codec_args, args.hw_init, args.filters), timeout=60)
    if result.returncode != 0:
        raise InputError(f"--preset {preset}: {name} refuses it ({ffm.last_error_line(result.stderr)})")


def require_working(ff: ffm.Ffmpeg, names: list[str]) -> None:
    """Exit 2 with one line per encoder that fails its probe."""
    failures = [probe_encoder(ff, get_adapter(n).name) for n in names]
    failures = [p for p in failures if not p.ok]
    if failures:
        detail = "; ".join(f"{p.encoder}: {p.message}" for p in failures)
        raise InputError(
            f"encoder probe failed on this host ({detail}); pick encoders `vmafkit doctor` lists as working"
        )
