"""Find and describe reference sources: geometry, fps, pixel format, bit depth, sha256, group.

Everything about a source comes from the source itself (container header, y4m header, or for
raw `.yuv` the flags / the file name); there is no global 1920x1080@25 default.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import hashlib
import math
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vmafkit.errors import InputError, not_a_folder
from vmafkit.io import read_json, read_toml, sha256_file
from vmafkit.media import ffmpeg as ffm

RAW_SUFFIXES = (".yuv", ".raw")
Y4M_SUFFIXES = (".y4m",)
CONTAINER_SUFFIXES = (
    ".mp4",
    ".mkv",
    ".mov",
    ".webm",
    ".mpg",
    ".mpeg",
    ".avi",
    ".ts",
    ".m2ts",
    ".mts",
    ".ivf",
    ".m4v",
    ".flv",
    ".nut",
    ".264",
    ".h264",
    ".265",
    ".h265",
    ".hevc",
    ".obu",
    ".mxf",
)
SOURCE_SUFFIXES = RAW_SUFFIXES + Y4M_SUFFIXES + CONTAINER_SUFFIXES
SOURCES_FILES = ("sources.toml", "sources.json")
RAW_DEFAULT_FPS = 25.0

# (log2 chroma width divisor, log2 chroma height divisor, bytes per sample, planes)
RAW_LAYOUTS = {
    "yuv420p": (1, 1, 1, 3),
    "yuv422p": (1, 0, 1, 3),
    "yuv444p": (0, 0, 1, 3),
    "gray": (0, 0, 1, 1),
    "yuv420p10le": (1, 1, 2, 3),
    "yuv422p10le": (1, 0, 2, 3),
    "yuv444p10le": (0, 0, 2, 3),
    "yuv420p12le": (1, 1, 2, 3),
    "yuv422p12le": (1, 0, 2, 3),
    "yuv444p12le": (0, 0, 2, 3),
    "gray10le": (0, 0, 2, 1),
    "gray12le": (0, 0, 2, 1),
    "gray16le": (0, 0, 2, 1),
    "yuv420p16le": (1, 1, 2, 3),
    "yuv422p16le": (1, 0, 2, 3),
    "yuv444p16le": (0, 0, 2, 3),
    "nv12": (1, 1, 1, 3),
    "p010le": (1, 1, 2, 3),
}
Y4M_COLORSPACES = {
    "420jpeg": "yuv420p",
    "420paldv": "yuv420p",
    "420mpeg2": "yuv420p",
    "420": "yuv420p",
    "422": "yuv422p",
    "444": "yuv444p",
    "mono": "gray",
    "420p10": "yuv420p10le",
    "422p10": "yuv422p10le",
    "444p10": "yuv444p10le",
    "420p12": "yuv420p12le",
    "422p12": "yuv422p12le",
    "444p12": "yuv444p12le",
    "mono10": "gray10le",
    "mono12": "gray12le",
    "420p16": "yuv420p16le",
    "422p16": "yuv422p16le",
    "444p16": "yuv444p16le",
    "mono16": "gray16le",
}


@dataclass(frozen=True)
class Colour:
    """A stream's colour description as its container tags it (`ffmpeg -i`: `yuv420p10le(tv,
    bt2020nc/bt2020/smpte2084)`); None where untagged (raw, y4m, most encodes)."""

    range: str | None = None  # "tv" (limited) or "pc" (full)
    matrix: str | None = None
    primaries: str | None = None
    transfer: str | None = None

    @property
    def hdr_transfer(self) -> str | None:
        """The transfer when it is HDR's (PQ or HLG), else None."""
        return self.transfer if self.transfer in HDR_TRANSFERS else None

    def to_json(self) -> dict[str, str | None]:
        return {"range": self.range, "matrix": self.matrix, "primaries": self.primaries, "transfer": self.transfer}


# ffmpeg's names of the HDR transfers: PQ (SMPTE ST 2084) and HLG (ARIB STD-B67)
HDR_TRANSFERS = {"smpte2084": "PQ (SMPTE ST 2084)", "arib-std-b67": "HLG (ARIB STD-B67)"}
_FIELD_ORDERS = {
    "progressive",
    "top first",
    "bottom first",
    "top coded first (swapped)",
    "bottom coded first (swapped)",
}


# Matrices that are one matrix under two names (BT.601's 625- and 525-line spellings)
_SAME_MATRIX = {"bt470bg": "bt601", "smpte170m": "bt601"}


def refuse_hdr(source: Source, vmaf_model: str, hdr_as_sdr: bool) -> None:
    """Every VMAF model (v0.6.1 and v1 alike) was trained on SDR: a clip tagged PQ or HLG is refused,
    naming its transfer, unless `hdr_as_sdr` says the user accepts SDR numbers for it."""
    transfer = source.colour.hdr_transfer
    if transfer is None or hdr_as_sdr:
        return
    raise InputError(
        f"is tagged {HDR_TRANSFERS[transfer]} (HDR), and {vmaf_model} is an SDR model: its scores of HDR "
        "video mean little; pass --hdr-as-sdr to score it as SDR anyway",
        path=source.path,
    )


def effective_range(source: Source) -> str | None:
    """The range ffmpeg converts a YUV source from: its tag, else ffmpeg's default for the pixel
    format (full for the `yuvj*` formats, limited for the other YUV ones); None for RGB or grey."""
    if not source.pix_fmt.startswith("yuv"):
        return None
    if source.colour.range:
        return source.colour.range
    return "pc" if source.pix_fmt.startswith("yuvj") else "tv"


def colour_mismatch_notes(ref: Source, dis: Source) -> list[str]:
    """One line for each colour property that differs between the sides (range; matrix where both
    tag one). ffmpeg converts a full-range side to the limited range libvmaf scores, which is right
    only when the tag is: the same code values tagged full range score far lower (measured on bikes:
    VMAF 99.5 -> 71.2)."""
    notes = []
    ref_range, dis_range = effective_range(ref), effective_range(dis)
    if ref_range and dis_range and ref_range != dis_range:
        words = {"tv": "limited", "pc": "full"}

        def said(source: Source, value: str) -> str:
            return f"{words[value]} range ({value}{'' if source.colour.range else '; untagged, ffmpeg assumes it'})"

        notes.append(
            f"the reference is {said(ref, ref_range)} and the distorted clip {said(dis, dis_range)}: ffmpeg "
            "converts the full-range side before scoring, which is right only if that side's tag is true"
        )
    ref_matrix, dis_matrix = ref.colour.matrix, dis.colour.matrix
    if (
        ref_matrix
        and dis_matrix
        and _SAME_MATRIX.get(ref_matrix, ref_matrix) != _SAME_MATRIX.get(dis_matrix, dis_matrix)
    ):
        notes.append(
            f"the reference's colour matrix is {ref_matrix} and the distorted clip's {dis_matrix}: libvmaf "
            "compares the code values, so a picture converted with the wrong matrix scores as a distortion"
        )
    return notes


def parse_colour(description: str) -> Colour:
    """The colour of a stream from the parenthesised part after its pixel format in `ffmpeg -i`
    (`tv, bt2020nc/bt2020/smpte2084, progressive`: range, then matrix/primaries/transfer, or one
    name when all three agree, then the field order); "unknown" reads as None."""
    colour_range = None
    names: list[str | None] = [None, None, None]
    for item in (part.strip() for part in description.split(",")):
        if item in ("tv", "pc"):
            colour_range = item
        elif item and item not in _FIELD_ORDERS and re.fullmatch(r"[\w.-]+(/[\w.-]+/[\w.-]+)?", item):
            parts = item.split("/")
            names = [None if p == "unknown" else p for p in (parts if len(parts) == 3 else parts * 3)]
    return Colour(colour_range, names[0], names[1], names[2])


@dataclass(frozen=True)
class Source:
    """One reference clip, as ffmpeg will read it."""

    path: Path
    name: str
    kind: str  # raw | y4m | container
    width: int
    height: int
    pix_fmt: str
    fps: float
    bit_depth: int
    frames: int | None  # known for raw and y4m without decoding; None for containers
    sha256: str
    size: int
    group: str
    fps_assumed: bool = False
    colour: Colour = Colour()

    @property
    def input_spec(self) -> ffm.InputSpec:
        return ffm.InputSpec(self.path, self.kind == "raw", self.width, self.height, self.pix_fmt, self.fps)

    @property
    def even_size(self) -> tuple[int, int]:
        """The size encodes and scoring use: chroma-subsampled axes cropped to even."""
        sub_w, sub_h = _subsampling(self.pix_fmt)
        width = self.width - (self.width % 2 if sub_w else 0)
        height = self.height - (self.height % 2 if sub_h else 0)
        return width, height

    @property
    def crop(self) -> list[str]:
        return ffm.crop_filter(self.width, self.height, *self.even_size)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


def _subsampling(pix_fmt: str) -> tuple[bool, bool]:
    if pix_fmt in RAW_LAYOUTS:
        layout = RAW_LAYOUTS[pix_fmt]
        return bool(layout[0]), bool(layout[1])
    if "420" in pix_fmt or pix_fmt.startswith(("nv12", "nv21", "p01")):
        return True, True
    if "422" in pix_fmt:
        return True, False
    return False, False


def bit_depth_of(pix_fmt: str) -> int:
    """Bits per component: yuv420p10le 10, gbrp16le 16; a packed RGB name counts every component
    (rgb48be, rgba64le: 16 each) or spells each one's (rgb565le: under 8, read as 8)."""
    match = re.search(r"(\d+)(le|be)$", pix_fmt)
    if not match:
        return 8
    bits = int(match.group(1))
    if bits <= 16:
        return bits
    return 16 if bits in (48, 64) else 8


# The pixel formats vmafkit names itself: raw layouts, y4m colour spaces, the formats libvmaf scores
# and the full-range (yuvj) ones it maps onto them. A clip in a container may also decode to any
# other format its ffmpeg knows (rgb24, gbrp, yuv411p, ...), which scoring converts.
KNOWN_PIX_FMTS = frozenset((*RAW_LAYOUTS, *Y4M_COLORSPACES.values(), *ffm.LIBVMAF_PIX_FMTS, *ffm.FULL_RANGE_ALIASES))


@functools.lru_cache(maxsize=256)
def is_pix_fmt(name: str) -> bool:
    """Whether a source can be in pixel format `name`: one of KNOWN_PIX_FMTS, or one the ffmpeg
    vmafkit uses lists in `ffmpeg -pix_fmts` (asked only for a name outside KNOWN_PIX_FMTS)."""
    if name in KNOWN_PIX_FMTS:
        return True
    try:
        ff = ffm.find_ffmpeg(require_libvmaf=False)
    except InputError:
        return False
    return name in ffm.pixel_formats(ff.path)


def raw_frame_size(width: int, height: int, pix_fmt: str) -> int:
    if pix_fmt not in RAW_LAYOUTS:
        raise InputError(f"raw pixel format {pix_fmt!r} is not supported; use one of {', '.join(RAW_LAYOUTS)}")
    log_w, log_h, sample_bytes, planes = RAW_LAYOUTS[pix_fmt]
    luma = width * height
    chroma = math.ceil(width / (1 << log_w)) * math.ceil(height / (1 << log_h))
    return (luma + (planes - 1) * chroma) * sample_bytes


# ----------------------------------------------------------------------------- name parsing


def geometry_from_name(name: str) -> dict[str, Any]:
    """`..._WxH_...`, `..._NNfps...` and a pixel-format token such as `.yuv420p10le.` in a name."""
    found: dict[str, Any] = {}
    size = re.search(r"(?<![0-9])(\d{2,5})x(\d{2,5})(?![0-9])", name)
    if size:
        found["width"], found["height"] = int(size.group(1)), int(size.group(2))
    fps = re.search(r"(?<![0-9.])(\d{1,3}(?:\.\d+)?)\s*fps", name, flags=re.IGNORECASE)
    if fps:
        found["fps"] = float(fps.group(1))
    for token in sorted(RAW_LAYOUTS, key=len, reverse=True):
        if re.search(rf"(?<![a-z0-9]){token}(?![a-z0-9])", name.lower()):
            found["pix_fmt"] = token
            break
    return found


# ----------------------------------------------------------------------------- describing


def describe_source(
    path: str | Path,
    *,
    width: int | None = None,
    height: int | None = None,
    pix_fmt: str | None = None,
    fps: float | None = None,
    group: str | None = None,
    ff: ffm.Ffmpeg | None = None,
) -> Source:
    """Describe a source; flags override what the name or header say."""
    path = Path(path)
    if not path.exists():
        raise InputError("source not found", path=path)
    if not path.is_file():
        raise InputError("source is not a regular file", path=path)
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise InputError(f"source is not readable: {exc.strerror}", path=path) from None
    suffix = path.suffix.lower()
    if is_raw_name(path, geometry_given=any(v is not None for v in (width, height, pix_fmt))):
        info = _describe_raw(path, width, height, pix_fmt, fps)
    elif suffix in Y4M_SUFFIXES:
        info = _describe_y4m(path)
    else:
        info = _describe_container(path, ff or ffm.find_ffmpeg())
    if info["width"] < 2 or info["height"] < 2:
        raise InputError(f"frame size {info['width']}x{info['height']} is too small to score", path=path)
    stem = source_name(path)
    return Source(
        path=path.resolve(),
        name=stem,
        kind=info["kind"],
        width=info["width"],
        height=info["height"],
        pix_fmt=info["pix_fmt"],
        fps=info["fps"],
        bit_depth=bit_depth_of(info["pix_fmt"]),
        frames=info["frames"],
        sha256=sha256_file(path),
        size=path.stat().st_size,
        group=group or stem,
        fps_assumed=info.get("fps_assumed", False),
        colour=info.get("colour", Colour()),
    )


def is_raw_name(path: Path, *, geometry_given: bool = False) -> bool:
    """Raw video: a `.yuv`/`.raw` name, a pixel format as the suffix (`clip.yuv444p`), or, when
    --width/--height/--pix-fmt are given, any name but a y4m's or a known container's (those
    carry their own geometry, so the flags meant for the raw side of a pair leave them alone)."""
    suffix = path.suffix.lower()
    if suffix in RAW_SUFFIXES or suffix[1:] in RAW_LAYOUTS:
        return True
    return geometry_given and suffix not in Y4M_SUFFIXES + CONTAINER_SUFFIXES


def source_name(path: Path) -> str:
    """The `src` of a path: its name without the media suffix (and a `.yuv420p10le` token)."""
    name = path.name
    if path.suffix.lower() in SOURCE_SUFFIXES:
        name = name[: -len(path.suffix)]
    return name


def _describe_raw(path: Path, width, height, pix_fmt, fps) -> dict[str, Any]:
    from_name = geometry_from_name(path.name)
    width = width or from_name.get("width")
    height = height or from_name.get("height")
    pix_fmt = pix_fmt or from_name.get("pix_fmt") or "yuv420p"
    if not width or not height:
        raise InputError(
            "raw video of unknown geometry: pass --width/--height or put WxH in its name, like "
            "clip_1920x1080_25fps.yuv",
            path=path,
        )
    fps_assumed = not (fps or from_name.get("fps"))
    fps = float(fps or from_name.get("fps") or RAW_DEFAULT_FPS)
    frame_size = raw_frame_size(width, height, pix_fmt)
    size = path.stat().st_size
    if size == 0:
        raise InputError("raw video is empty (0 frames)", path=path)
    if size % frame_size:
        fits = _other_pix_fmts_that_fit(size, width, height, pix_fmt)
        if fits:
            fit_fmt, fit_frames = fits[0]
            others = ", ".join(f"{n} frame{'s' * (n != 1)} of {f}" for f, n in fits[1:3])
            also = f" (or {others})" if others else ""
            raise InputError(
                f"size {size} bytes is {fit_frames} frame{'s' * (fit_frames != 1)} of {fit_fmt} at {width}x{height}"
                f"{also} but not a whole number of {pix_fmt} frames ({frame_size} bytes each): "
                f"pass --pix-fmt {fit_fmt}?",
                path=path,
            )
        raise InputError(
            f"size {size} bytes is not a whole number of {width}x{height} {pix_fmt} frames ({frame_size} bytes each): "
            "truncated file or wrong geometry",
            path=path,
        )
    _check_raw_content(path, width, height, pix_fmt)
    return {
        "kind": "raw",
        "width": width,
        "height": height,
        "pix_fmt": pix_fmt,
        "fps": fps,
        "frames": size // frame_size,
        "fps_assumed": fps_assumed,
    }


def _other_pix_fmts_that_fit(size: int, width: int, height: int, pix_fmt: str) -> list[tuple[str, int]]:
    """(pixel format, frames) for each other raw layout whose frames fill `size` bytes exactly, named
    by its first format in RAW_LAYOUTS (yuv420p10le stands for yuv420p12le too); gray last."""
    fits: dict[tuple, tuple[str, int]] = {}
    for candidate, layout in sorted(RAW_LAYOUTS.items(), key=lambda item: item[1][3] == 1):
        frame = raw_frame_size(width, height, candidate)
        if layout != RAW_LAYOUTS.get(pix_fmt) and size % frame == 0:
            fits.setdefault(layout, (candidate, size // frame))
    return list(fits.values())


def _mean_step(luma: np.ndarray, lag: int) -> float:
    return float(np.abs(luma[lag:] - luma[:-lag]).mean())


def _check_raw_content(path: Path, width: int, height: int, pix_fmt: str) -> None:
    """Catch a wrong declared geometry whose frame size still divides the file.

    In a real picture the pixel below is about as close as the pixel beside, and the row
    stride is a local minimum of the sample-to-sample distance: with a wrong width, rows do
    not line up. Only a clear failure of both tests is reported (flat or noisy content, where
    neither can be judged, passes). 16-bit samples read as 8-bit show as near-zero high bytes.
    """
    if width < 16 or height < 16:
        return
    sample_bytes = RAW_LAYOUTS[pix_fmt][2]
    count = width * height
    samples = np.fromfile(path, dtype=np.uint8 if sample_bytes == 1 else "<u2", count=count)
    if sample_bytes == 1 and count % 2 == 0 and samples[1::2].max() <= 15 < samples[0::2].max():
        raise InputError(
            f"declared {pix_fmt} but the samples look 16-bit (every high byte <= 15); "
            "pass --pix-fmt yuv420p10le or name the file like clip.yuv420p10le.yuv",
            path=path,
        )
    luma = samples.astype(np.float64)
    across = _mean_step(luma, 1)
    down = _mean_step(luma, width)
    beside = min(_mean_step(luma, width - 1), _mean_step(luma, width + 1))
    stride = _other_row_stride(luma, width)
    if stride is not None:
        raise InputError(
            f"declared geometry {width}x{height} looks wrong: the first frame's rows line up every {stride} "
            f"samples, not every {width}: the picture looks {stride} wide; pass the right --width/--height",
            path=path,
        )
    if across > 0 and down / across >= 1.8 and beside > 0 and down / beside >= 0.98:
        raise InputError(
            f"declared geometry {width}x{height} looks wrong: the rows of the first frame do not line up; "
            "pass the right --width/--height",
            path=path,
        )


# A width that divides (or is a multiple of) the true one passes the test above: its rows line up
# at 2, 3 or 4 real rows (or at half a row of a wider picture). The real row stride shows as a
# sample distance well below the declared width's (ratio < 0.8) and a local minimum (< 0.95 of
# its neighbours). On the raw clips of ../shared/data/media at their true width every candidate
# scored >= 1.42 on the first ratio; declared at 2x or 1/2x the true width, each was caught
# (ratios 0.05-0.70 and 0.66-0.92).
_STRIDE_RATIO_MAX = 0.8
_STRIDE_LOCAL_MIN_MAX = 0.95


def _other_row_stride(luma: np.ndarray, width: int) -> int | None:
    """The row stride the content shows when it is not `width` (None: `width` fits, or no other
    candidate is clear)."""
    declared = _mean_step(luma, width)
    if declared <= 0:
        return None
    candidates = [width // k for k in (2, 3, 4) if width % k == 0 and width // k >= 8]
    candidates += [k * width for k in (2, 3, 4) if k * width + 1 < luma.size // 2]
    best: tuple[float, int] | None = None
    for stride in candidates:
        step = _mean_step(luma, stride)
        around = min(_mean_step(luma, stride - 1), _mean_step(luma, stride + 1))
        if around > 0 and step < _STRIDE_RATIO_MAX * declared and step < _STRIDE_LOCAL_MIN_MAX * around:
            if best is None or step < best[0]:
                best = (step, stride)
    return None if best is None else best[1]


@dataclass(frozen=True)
class Y4mHeader:
    width: int
    height: int
    fps_num: int
    fps_den: int
    pix_fmt: str
    colour_range: str | None = None  # XCOLORRANGE=FULL / LIMITED, as ffmpeg reads it


def parse_y4m_header(header: bytes, path: Path) -> Y4mHeader:
    """The stream header line of a y4m file (with its newline): geometry, rate, pixel format."""
    if not header.startswith(b"YUV4MPEG2 ") or not header.endswith(b"\n"):
        raise InputError("not a YUV4MPEG2 file (bad header)", path=path)
    fields: dict[str, str] = {}
    for token in header.decode("ascii", "replace").split()[1:]:
        fields.setdefault(token[:1], token[1:])
    try:
        width, height = int(fields["W"]), int(fields["H"])
        num, den = (int(x) for x in fields.get("F", "25:1").split(":"))
    except (KeyError, ValueError):
        raise InputError("y4m header lacks a valid W/H/F", path=path) from None
    colorspace = fields.get("C", "420jpeg")
    pix_fmt = Y4M_COLORSPACES.get(colorspace)
    if pix_fmt is None:
        raise InputError(f"y4m colorspace C{colorspace} is not supported", path=path)
    ranges = {"XCOLORRANGE=FULL": "pc", "XCOLORRANGE=LIMITED": "tv"}
    tokens = header.decode("ascii", "replace").split()
    colour_range = next((ranges[token] for token in tokens if token in ranges), None)
    return Y4mHeader(width, height, num, den, pix_fmt, colour_range)


def _describe_y4m(path: Path) -> dict[str, Any]:
    with open(path, "rb") as handle:
        header = handle.readline(4096)
    y4m = parse_y4m_header(header, path)
    width, height, pix_fmt = y4m.width, y4m.height, y4m.pix_fmt
    num, den = y4m.fps_num, y4m.fps_den
    frame_bytes = raw_frame_size(width, height, pix_fmt)
    body = path.stat().st_size - len(header)
    frames = body // (frame_bytes + len(b"FRAME\n"))
    if frames == 0:
        raise InputError("y4m file has no frames", path=path)
    return {
        "kind": "y4m",
        "width": width,
        "height": height,
        "pix_fmt": pix_fmt,
        "fps": num / den if den else 25.0,
        "frames": frames,
        "colour": Colour(range=y4m.colour_range),
    }


def _describe_container(path: Path, ff: ffm.Ffmpeg) -> dict[str, Any]:
    result = ffm.run_ffmpeg(ffm.probe_argv(ff, path), timeout=60)
    stream = parse_video_stream(result.stderr)
    if stream is None:
        reason = ffm.last_error_line(result.stderr)
        if "Invalid data" in result.stderr or "could not find codec" in result.stderr.lower():
            raw_hint = (
                "" if path.suffix.lower() in CONTAINER_SUFFIXES else "; raw video? pass --width/--height/--pix-fmt"
            )
            raise InputError(f"ffmpeg cannot decode this file (not a video it knows{raw_hint})", path=path)
        if "Output file" in reason or "output file" in reason:
            reason = "no video stream"
        raise InputError(f"no decodable video stream ({reason})", path=path)
    return {"kind": "container", "frames": None, **stream}


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return parts


def parse_video_stream(stderr: str) -> dict[str, Any] | None:
    """Width, height, pix_fmt and fps of the first video stream in `ffmpeg -i` output."""
    for line in stderr.splitlines():
        match = re.search(r"Stream #\d+:\d+.*?: Video: (.*)$", line)
        if not match:
            continue
        parts = _split_top_level(match.group(1))
        pix_fmt = parts[1].split("(")[0].strip() if len(parts) > 1 else ""
        tagged = re.search(r"\((.*)\)", parts[1]) if len(parts) > 1 else None
        size = next((re.match(r"(\d+)x(\d+)", p) for p in parts if re.match(r"\d+x\d+", p)), None)
        if not size or not pix_fmt:
            continue
        fps_match = re.search(r"([\d.]+)(k?) fps", match.group(1)) or re.search(r"([\d.]+)(k?) tbr", match.group(1))
        fps = float(fps_match.group(1)) * (1000 if fps_match.group(2) else 1) if fps_match else RAW_DEFAULT_FPS
        return {
            "width": int(size.group(1)),
            "height": int(size.group(2)),
            "pix_fmt": pix_fmt,
            "fps": fps,
            "fps_assumed": fps_match is None,
            "colour": parse_colour(tagged.group(1)) if tagged else Colour(),
        }
    return None


# ----------------------------------------------------------------------------- folders


@dataclass
class SourcesConfig:
    """Optional `sources.toml` / `sources.json` in a reference folder."""

    groups: dict[str, str] = field(default_factory=dict)  # source name -> group
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # source name -> geometry flags
    path: Path | None = None
    # source name -> (where the file names it, as written there), e.g. ("groups.scene", "a.yuv")
    mentions: dict[str, tuple[str, str]] = field(default_factory=dict)

    def check_names(self, names: list[str], ref_dir: Path) -> None:
        """Refuse a name in the file that matches no source in the folder (a typo would silently drop
        that source out of its group, so the same scene could land in two LOSO folds)."""
        known = set(names)
        for name, (where, written) in self.mentions.items():
            if name in known:
                continue
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InputError(f"{where} names {written!r}, which matches no source in {ref_dir}{hint}", path=self.path)


def read_sources_config(ref_dir: Path) -> SourcesConfig:
    """`[groups] scene = ["a", "b"]` and `[sources.NAME] width=.. height=.. pix_fmt=.. fps=.. group=..`.

    One sources file or none: with both names present the reader would have to pick one and the
    other's groups would silently not apply, and a name present as a folder, FIFO, device or
    dangling link would silently read as no groups at all (one scene in two LOSO folds), so
    both are refused (exit 2) rather than skipped."""
    present = [ref_dir / name for name in SOURCES_FILES if os.path.lexists(ref_dir / name)]
    if len(present) > 1:
        raise InputError(
            f"two sources files, {present[0]} and {present[1]}: vmafkit reads one; "
            "merge them into one and remove the other"
        )
    if not present:
        return SourcesConfig()
    path = present[0]
    if path.is_symlink() and not path.exists():  # a missing target, or a loop
        target = ""
        with contextlib.suppress(OSError):
            target = f" (to {os.readlink(path)!r})"
        raise InputError(f"sources file is a dangling symbolic link{target}; fix or remove it", path=path)
    return _parse_sources_config(path)  # reading it refuses a folder, FIFO, device or socket (exit 2)


_OVERRIDE_TYPES = {
    "width": "a positive integer",
    "height": "a positive integer",
    "fps": "a positive number",
    "pix_fmt": "a string",
    "group": "a non-empty string",
}


def _valid_override(key: str, value: Any) -> bool:
    if key in ("width", "height"):
        return isinstance(value, int) and not isinstance(value, bool) and value > 0
    if key == "fps":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    return isinstance(value, str) and value.strip() != ""


def _parse_sources_config(path: Path) -> SourcesConfig:
    raw = read_toml(path, what="sources file") if path.suffix == ".toml" else read_json(path, what="sources file")
    if not isinstance(raw, dict):
        raise InputError("sources file must hold a table/object", path=path)
    config = SourcesConfig(path=path)
    group_where: dict[str, str] = {}

    def assign(name: str, group: str, where: str) -> None:
        if not name.strip():
            raise InputError(f"{where} names an empty source name", path=path)
        key = _strip_suffix(name)
        if key in config.groups and config.groups[key] != group:
            raise InputError(
                f"source {key!r} is in two groups: {config.groups[key]!r} ({group_where[key]}) and "
                f"{group!r} ({where}); a source belongs to one group",
                path=path,
            )
        config.groups[key] = group
        group_where.setdefault(key, where)
        config.mentions.setdefault(key, (where, name))

    groups = raw.get("groups") or {}
    if not isinstance(groups, dict):
        raise InputError("groups must be a table of group name = [source names]", path=path)
    for group, members in groups.items():
        if not str(group).strip():
            raise InputError("groups has an empty group name", path=path)
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise InputError(f"groups.{group} must be a list of source names (strings)", path=path)
        for member in members:
            assign(member, str(group), f"groups.{group}")
    sources = raw.get("sources") or {}
    if not isinstance(sources, dict):
        raise InputError("sources must be a table of [sources.NAME] entries", path=path)
    allowed = {"width", "height", "pix_fmt", "fps", "group"}
    for name, values in sources.items():
        if not isinstance(values, dict) or set(values) - allowed:
            raise InputError(f"sources.{name} may only set {', '.join(sorted(allowed))}", path=path)
        for key, value in values.items():
            if not _valid_override(key, value):
                raise InputError(f"sources.{name}.{key} must be {_OVERRIDE_TYPES[key]}, got {value!r}", path=path)
        if not name.strip():
            raise InputError("sources has an entry with an empty source name", path=path)
        config.overrides[_strip_suffix(name)] = dict(values)
        if "group" in values:
            assign(name, values["group"], f"sources.{name}.group")
        else:
            config.mentions.setdefault(_strip_suffix(name), (f"sources.{name}", name))
    return config


def _strip_suffix(name: str) -> str:
    return source_name(Path(name))


def is_media_file(path: Path) -> bool:
    """A regular, not hidden file with a media suffix (SOURCE_SUFFIXES): a reference clip."""
    return path.suffix.lower() in SOURCE_SUFFIXES and not path.name.startswith(".") and path.is_file()


def media_files(folder: Path, *, recursive: bool = False) -> list[Path]:
    """The reference clips in `folder` (`is_media_file`), sorted by name; `recursive`: below it
    too, hidden folders left out, sorted by relative path."""
    if not recursive:
        return sorted(p for p in folder.iterdir() if is_media_file(p))
    found = []
    for root, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(root) / name for name in filenames if is_media_file(Path(root) / name)]
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def find_sources(ref_dir: str | Path, *, ff: ffm.Ffmpeg | None = None, min_sources: int = 1) -> list[Source]:
    """Every media file directly in `ref_dir` (sorted by name), described and grouped."""
    ref_dir = Path(ref_dir)
    if not ref_dir.is_dir():
        raise not_a_folder(ref_dir, "reference folder")
    config = read_sources_config(ref_dir)
    paths = media_files(ref_dir)
    if len(paths) < min_sources:
        found = "no media files" if not paths else f"only {len(paths)} source(s)"
        raise InputError(
            f"{found} (looked for {', '.join(SOURCE_SUFFIXES[:6])}, ...); need at least {min_sources}", path=ref_dir
        )
    config.check_names([source_name(p) for p in paths], ref_dir)
    sources = []
    for path in paths:
        name = source_name(path)
        flags = {k: v for k, v in config.overrides.get(name, {}).items() if k != "group"}
        sources.append(describe_source(path, group=config.groups.get(name), ff=ff, **flags))
    names = [s.name for s in sources]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"two files share the source name {dupes[0]!r}; rename one", path=ref_dir)
    return sources


def snapshot_folder(folder: str | Path) -> dict[str, Any]:
    """{path, sha256, count}: sha256 over the sorted `relpath\\tsize` lines (each ending in a
    newline) of every file below `folder`, and the file count. Sizes, not bytes: hashing the bytes
    would dominate on a 37 GB reference folder. Symlinked folders are not followed; a dangling
    link is left out. This is the reference-folder snapshot a verdict pins (verdict.schema.json: `ref_dir`)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise not_a_folder(folder, "reference folder")
    lines = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in files:
            full = Path(root) / name
            with contextlib.suppress(FileNotFoundError):
                lines.append(f"{full.relative_to(folder).as_posix()}\t{full.stat().st_size}")
    lines.sort()
    digest = hashlib.sha256("".join(line + "\n" for line in lines).encode("utf-8")).hexdigest()
    return {"path": str(folder), "sha256": digest, "count": len(lines)}
