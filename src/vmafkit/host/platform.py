"""Host family detection and the default encoder candidates per family.

Families (the ``platform.family`` of a bundle's environment.json): ``linux-x86_64-cuda`` (nvenc), ``linux-x86_64-sycl`` (qsv),
``linux-x86_64-cpu`` (libx264 baseline), ``darwin-arm64`` / ``darwin-x86_64`` (videotoolbox),
and ``unknown`` (anything else; libx264 as the candidate).

Detection reads real signals, in this order:

1. uname (``platform.system()`` / ``platform.machine()``);
2. ``nvidia-smi -L`` (short timeout; a missing binary means no NVIDIA GPU): a ``GPU n:`` line
   on Linux x86_64 -> ``linux-x86_64-cuda``;
3. Intel graphics: ``vainfo`` naming an Intel driver (iHD / i965), or a ``/dev/dri/renderD*``
   node whose ``/sys/class/drm/renderD*/device/vendor`` is ``0x8086`` -> ``linux-x86_64-sycl``;
   a render node of another vendor (AMD, ...) does not count;
4. otherwise Linux x86_64 -> ``linux-x86_64-cpu``.

Optionally ``detect(ffmpeg=PATH)`` also lists that ffmpeg's encoders (``ffmpeg -encoders``);
they go into ``signals["ffmpeg_encoders"]`` and :meth:`PlatformInfo.candidates` drops default
encoders that ffmpeg lacks. The family's defaults are only *candidates*: the caller keeps one
only if its 1-frame probe passes (``vmafkit.media.encoders``).

Faking for tests (each replaces one real signal; unset = read the real one):

=============================  ===================================================================
``VMAFKIT_FAKE_PLATFORM``      a family name: skip every signal and report that family
``VMAFKIT_FAKE_UNAME``         ``System/machine``, e.g. ``Darwin/arm64``, ``Linux/x86_64``
``VMAFKIT_FAKE_NVIDIA_SMI``    the stdout of ``nvidia-smi -L``; ``""`` = ran, no GPU;
                               ``missing`` = binary not found
``VMAFKIT_FAKE_VAINFO``        the stdout of ``vainfo``; ``""`` or ``missing`` = no VA-API
``VMAFKIT_FAKE_DRI``           comma list of render nodes ``renderD128:0x8086``; ``""`` = none
``VMAFKIT_FAKE_FFMPEG_ENCODERS``  comma list of encoder names ffmpeg would list
=============================  ===================================================================
"""

from __future__ import annotations

import glob
import os
import platform as _platform
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vmafkit.media.ffmpeg import list_encoders_argv

CUDA = "linux-x86_64-cuda"
SYCL = "linux-x86_64-sycl"
CPU = "linux-x86_64-cpu"
DARWIN_ARM64 = "darwin-arm64"
DARWIN_X86_64 = "darwin-x86_64"
UNKNOWN = "unknown"

VIDEOTOOLBOX = ("h264_videotoolbox", "hevc_videotoolbox")
DEFAULT_ENCODERS: dict[str, tuple[str, ...]] = {
    CUDA: ("h264_nvenc", "hevc_nvenc", "av1_nvenc"),
    SYCL: ("h264_qsv", "hevc_qsv", "av1_qsv"),
    CPU: ("libx264",),
    DARWIN_ARM64: VIDEOTOOLBOX,
    DARWIN_X86_64: VIDEOTOOLBOX,
    UNKNOWN: ("libx264",),
}
FAMILIES = tuple(DEFAULT_ENCODERS)
INTEL_VENDOR = "0x8086"
DEV_DRI = "/dev/dri"  # render nodes live here ...
SYSFS_DRM = "/sys/class/drm"  # ... and their PCI vendor here (module constants so tests can redirect them)
SUBPROCESS_TIMEOUT_S = 5.0

ENV_PLATFORM = "VMAFKIT_FAKE_PLATFORM"
ENV_UNAME = "VMAFKIT_FAKE_UNAME"
ENV_NVIDIA_SMI = "VMAFKIT_FAKE_NVIDIA_SMI"
ENV_VAINFO = "VMAFKIT_FAKE_VAINFO"
ENV_DRI = "VMAFKIT_FAKE_DRI"
ENV_FFMPEG_ENCODERS = "VMAFKIT_FAKE_FFMPEG_ENCODERS"
FAKE_ENV_VARS = (ENV_PLATFORM, ENV_UNAME, ENV_NVIDIA_SMI, ENV_VAINFO, ENV_DRI, ENV_FFMPEG_ENCODERS)
MISSING = "missing"


@dataclass(frozen=True)
class PlatformInfo:
    family: str
    default_encoders: tuple[str, ...]
    signals: dict[str, Any] = field(default_factory=dict)

    @property
    def faked(self) -> bool:
        return bool(self.signals.get("faked"))

    def candidates(self) -> list[str]:
        """Default encoders this host's ffmpeg has (all of them when ffmpeg was not asked)."""
        have = self.signals.get("ffmpeg_encoders")
        if have is None:
            return list(self.default_encoders)
        return [name for name in self.default_encoders if name in set(have)]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["default_encoders"] = list(self.default_encoders)
        out["candidates"] = self.candidates()
        return out


def _run(argv: Sequence[str], timeout: float | None = None) -> tuple[str, str | None]:
    """(stdout, problem): problem is None when the command ran and exited 0."""
    timeout = SUBPROCESS_TIMEOUT_S if timeout is None else timeout
    exe = shutil.which(argv[0]) if not os.path.isabs(argv[0]) else argv[0]
    if exe is None or not os.path.exists(exe):
        return "", MISSING
    try:
        proc = subprocess.run(
            [exe, *argv[1:]], stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return "", "timeout"
    except OSError as exc:
        return "", f"error: {exc}"
    text = proc.stdout.decode("utf-8", "replace") + proc.stderr.decode("utf-8", "replace")
    return text, None if proc.returncode == 0 else f"exit {proc.returncode}"


def read_uname() -> dict[str, Any]:
    fake = os.environ.get(ENV_UNAME)
    if fake is not None:
        system, _, machine = fake.partition("/")
        return {"system": system.strip(), "machine": machine.strip(), "faked": True}
    return {"system": _platform.system(), "machine": _platform.machine(), "faked": False}


def read_nvidia() -> dict[str, Any]:
    fake = os.environ.get(ENV_NVIDIA_SMI)
    if fake is not None:
        text, problem, faked = ("", MISSING, True) if fake.strip() == MISSING else (fake, None, True)
    else:
        (text, problem), faked = _run(["nvidia-smi", "-L"]), False
    gpus = [line.strip() for line in text.splitlines() if re.match(r"\s*GPU \d+:", line)]
    return {"gpus": gpus if problem is None else [], "status": problem or "ok", "faked": faked}


def _render_nodes() -> tuple[list[dict[str, str]], bool]:
    fake = os.environ.get(ENV_DRI)
    if fake is not None:
        nodes = []
        for item in fake.split(","):
            if item.strip():
                name, _, vendor = item.strip().partition(":")
                nodes.append({"node": name, "vendor": vendor.lower() or "unknown"})
        return nodes, True
    nodes = []
    for path in sorted(glob.glob(os.path.join(DEV_DRI, "renderD*"))):
        name = os.path.basename(path)
        try:
            vendor = Path(SYSFS_DRM, name, "device", "vendor").read_text().strip().lower()
        except OSError:
            vendor = "unknown"
        nodes.append({"node": name, "vendor": vendor})
    return nodes, False


def read_intel() -> dict[str, Any]:
    nodes, nodes_faked = _render_nodes()
    fake = os.environ.get(ENV_VAINFO)
    if fake is not None:
        text, problem, va_faked = ("", MISSING, True) if fake.strip() in ("", MISSING) else (fake, None, True)
    elif nodes:  # vainfo is only worth running when there is a render node
        (text, problem), va_faked = _run(["vainfo"]), False
    else:
        text, problem, va_faked = "", "no render node", False
    driver = None
    match = re.search(r"Driver version:\s*(.+)", text)
    if match:
        driver = match.group(1).strip()
    vainfo_intel = problem is None and bool(re.search(r"\bIntel\b|\biHD\b|\bi965\b", text))
    intel_nodes = [n["node"] for n in nodes if n["vendor"] == INTEL_VENDOR]
    return {
        "render_nodes": nodes,
        "intel_render_nodes": intel_nodes,
        "vainfo_status": problem or "ok",
        "vainfo_driver": driver,
        "vainfo_intel": vainfo_intel,
        "present": vainfo_intel or bool(intel_nodes),
        "faked": nodes_faked or va_faked,
    }


def read_ffmpeg_encoders(ffmpeg: str | os.PathLike[str] | None) -> list[str] | None:
    """Names in `ffmpeg -encoders` (video only), or None when not asked / not runnable."""
    fake = os.environ.get(ENV_FFMPEG_ENCODERS)
    if fake is not None:
        return sorted({name.strip() for name in fake.split(",") if name.strip()})
    if ffmpeg is None:
        return None
    text, problem = _run(list_encoders_argv(str(ffmpeg)), timeout=15.0)
    if problem is not None:
        return None
    names = set()
    for line in text.splitlines():
        match = re.match(r"\s*V[.A-Z]{5}\s+(\S+)\s", line)
        if match and match.group(1) != "=":
            names.add(match.group(1))
    return sorted(names)


def classify(system: str, machine: str, nvidia_gpus: bool, intel_gpu: bool) -> str:
    """The family for these signals (pure function: the table the docs describe)."""
    system_l, machine_l = system.lower(), machine.lower()
    if system_l == "darwin":
        if machine_l in ("arm64", "aarch64"):
            return DARWIN_ARM64
        if machine_l in ("x86_64", "amd64", "i386"):
            return DARWIN_X86_64
        return UNKNOWN
    if system_l == "linux" and machine_l in ("x86_64", "amd64"):
        if nvidia_gpus:
            return CUDA
        if intel_gpu:
            return SYCL
        return CPU
    return UNKNOWN


def detect(ffmpeg: str | os.PathLike[str] | None = None) -> PlatformInfo:
    """Detect this host's family from real (or faked) signals; see the module docstring."""
    encoders = read_ffmpeg_encoders(ffmpeg)
    fake_family = os.environ.get(ENV_PLATFORM)
    if fake_family:
        family = fake_family.strip()
        if family not in DEFAULT_ENCODERS:
            # A typo in a test variable must not silently become a real detection.
            from vmafkit.errors import InputError

            raise InputError(f"{ENV_PLATFORM}={family!r} is not a family; use one of {', '.join(FAMILIES)}")
        signals: dict[str, Any] = {"faked": True, "fake_platform": family}
        if encoders is not None:
            signals["ffmpeg_encoders"] = encoders
        return PlatformInfo(family, DEFAULT_ENCODERS[family], signals)

    uname = read_uname()
    is_linux_x86 = uname["system"].lower() == "linux" and uname["machine"].lower() in ("x86_64", "amd64")
    nvidia = read_nvidia() if is_linux_x86 else {"gpus": [], "status": "not checked", "faked": False}
    intel = read_intel() if is_linux_x86 and not nvidia["gpus"] else {"present": False, "status": "not checked"}
    family = classify(uname["system"], uname["machine"], bool(nvidia["gpus"]), bool(intel.get("present")))
    signals = {
        "uname": uname,
        "nvidia": nvidia,
        "intel": intel,
        "faked": any(bool(part.get("faked")) for part in (uname, nvidia, intel))
        or os.environ.get(ENV_FFMPEG_ENCODERS) is not None,
    }
    if encoders is not None:
        signals["ffmpeg_encoders"] = encoders
    return PlatformInfo(family, DEFAULT_ENCODERS[family], signals)
