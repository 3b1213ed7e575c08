"""The one owner of ffmpeg: locate it, read its versions, and build every ffmpeg argv.

No other module builds an ffmpeg command line. Paths always go in as `file:` URLs of absolute
paths, so names with a leading `-`, a `:` or other odd characters are never taken for options
or protocols; the libvmaf log goes to a temp folder whose name vmafkit chooses, so nothing the
user names ever lands inside a filter string.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from vmafkit.errors import InputError, raise_if_interrupted
from vmafkit.media import libvmaf

VMAF_MODEL = libvmaf.DEFAULT_MODEL
ENV_FFMPEG = "VMAFKIT_FFMPEG"
# Pixel formats libvmaf scores directly; anything else is converted to yuv420p (8-bit) or
# yuv420p10le (deeper) on both sides of the comparison.
LIBVMAF_PIX_FMTS = (
    "yuv420p",
    "yuv422p",
    "yuv444p",
    "yuv420p10le",
    "yuv422p10le",
    "yuv444p10le",
    "yuv420p12le",
    "yuv422p12le",
    "yuv444p12le",
)
FULL_RANGE_ALIASES = {"yuvj420p": "yuv420p", "yuvj422p": "yuv422p", "yuvj444p": "yuv444p"}
# libavutil's av_image_check_size: (w + 128) * (h + 128) must stay below INT_MAX / 8.
FFMPEG_IMAGE_AREA_LIMIT = (2**31 - 1) // 8
# The smallest frame side libvmaf scores: measured with the wheel's ffmpeg n9.0.2 / libvmaf 86da14d
# and vmaf_v0.6.1, every 8/10/12-bit 4:2:0, 4:2:2, 4:4:4 and gray format, 1 and 4 threads: ffmpeg
# segfaults (no message) when either scored side is 16 or less; 17 works on an axis without chroma
# subsampling, 18 on every axis. vmafkit crops odd sizes on subsampled axes to even before scoring
# (17 -> 16 there), so "the scored size is at least 17x17" is exactly the set of sizes that work.
LIBVMAF_MIN_SIDE = 17
# ffmpeg's scale filter algorithms (swscale `flags=`); libvmaf's documented procedure for an encode
# smaller than its reference upsamples it to the reference (or display) size with bicubic.
SCALE_FILTERS = (
    "bicubic",
    "bilinear",
    "fast_bilinear",
    "neighbor",
    "area",
    "bicublin",
    "gauss",
    "sinc",
    "lanczos",
    "spline",
    "experimental",
)
DEFAULT_SCALE_FILTER = "bicubic"


@dataclass(frozen=True)
class Ffmpeg:
    """A located ffmpeg binary and what it can do."""

    path: str
    reason: str
    version: str
    has_libvmaf: bool
    libvmaf_version: str | None

    def describe(self) -> dict:
        return {
            "path": self.path,
            "reason": self.reason,
            "version": self.version,
            "has_libvmaf": self.has_libvmaf,
            "libvmaf_version": self.libvmaf_version,
        }


def find_ffmpeg(explicit: str | os.PathLike | None = None, *, require_libvmaf: bool = True) -> Ffmpeg:
    """Locate ffmpeg: the explicit path, $VMAFKIT_FFMPEG, a PATH ffmpeg with libvmaf, the wheel's.

    An explicitly named binary without libvmaf is an error (never a silent fall back to a build
    that cannot score); a PATH ffmpeg without libvmaf is skipped in favour of the wheel's.
    """
    env_value = os.environ.get(ENV_FFMPEG)
    if explicit:
        return _checked(str(explicit), "--ffmpeg flag", require_libvmaf)
    if env_value:
        return _checked(env_value, f"${ENV_FFMPEG}", require_libvmaf)
    on_path = shutil.which("ffmpeg")
    if on_path and _inspect(on_path).has_libvmaf:
        return _inspect_as(on_path, "ffmpeg on PATH (has libvmaf)")
    wheel = _wheel_ffmpeg()
    if wheel:
        reason = "imageio-ffmpeg wheel" + (" (PATH ffmpeg lacks libvmaf)" if on_path else "")
        return _checked(wheel, reason, require_libvmaf)
    if on_path and not require_libvmaf:
        return _inspect_as(on_path, "ffmpeg on PATH")
    raise InputError(
        "no ffmpeg with the libvmaf filter found; `pip install imageio-ffmpeg==0.8.1` or pass --ffmpeg PATH"
    )


def _wheel_ffmpeg() -> str | None:
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError:
        return None


def _checked(path: str, reason: str, require_libvmaf: bool) -> Ffmpeg:
    resolved = shutil.which(path) or path
    if not Path(resolved).is_file():
        raise InputError(f"ffmpeg binary not found (from {reason})", path=path)
    found = _inspect_as(resolved, reason)
    if require_libvmaf and not found.has_libvmaf:
        raise InputError(
            f"this ffmpeg (from {reason}) has no libvmaf filter; use a build with --enable-libvmaf", path=path
        )
    return found


def _inspect_as(path: str, reason: str) -> Ffmpeg:
    info = _inspect(path)
    return Ffmpeg(
        path=info.path,
        reason=reason,
        version=info.version,
        has_libvmaf=info.has_libvmaf,
        libvmaf_version=info.libvmaf_version,
    )


@functools.lru_cache(maxsize=16)
def _inspect(path: str) -> Ffmpeg:
    try:
        out = subprocess.run([path, "-hide_banner", "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"cannot run ffmpeg: {exc}", path=path) from None
    first = (out.stdout or "").splitlines()[0] if out.stdout else ""
    match = re.match(r"ffmpeg version (\S+)", first)
    version = match.group(1) if match else "unknown"
    filters = subprocess.run([path, "-hide_banner", "-filters"], capture_output=True, text=True, timeout=30).stdout
    has_libvmaf = bool(re.search(r"^\s*\S*\s+libvmaf\s", filters, flags=re.MULTILINE))
    libvmaf_version = _libvmaf_version(path) if has_libvmaf else None
    return Ffmpeg(path=path, reason="", version=version, has_libvmaf=has_libvmaf, libvmaf_version=libvmaf_version)


@functools.lru_cache(maxsize=16)
def pixel_formats(path: str) -> frozenset[str]:
    """The names of every pixel format the ffmpeg at `path` knows (`ffmpeg -pix_fmts`): what a
    clip in a container can decode to; empty when that ffmpeg does not run or does not say."""
    try:
        out = subprocess.run([path, "-hide_banner", "-pix_fmts"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    _, _, table = (out or "").partition("-----")
    return frozenset(m.group(1) for m in re.finditer(r"^[A-Z.]{5}\s+(\S+)", table, flags=re.MULTILINE))


def _libvmaf_version(path: str) -> str | None:
    """libvmaf reports its version only in its log: score one synthetic frame to read it."""
    with tempfile.TemporaryDirectory(prefix="vmafkit-ver-") as tmp:
        log = Path(tmp) / "log.json"
        graph = f"testsrc2=s=64x64:r=25:d=0.04,format=yuv420p,split[a][b];[a][b]libvmaf=log_fmt=json:log_path={log}"
        argv = [*_quiet(path), "-filter_complex", graph, "-f", "null", "-"]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:  # a libvmaf that cannot score a test frame scores nothing: say why now,
            # rather than label every row "libvmaf None" (e.g. a full disk or `ulimit -f` in the temp folder)
            note = failure_note("ffmpeg", result.returncode, result.stderr or "") or last_error_line(result.stderr)
            raise InputError(f"libvmaf fails on a 64x64 test frame (reading its version): {note}", path=path)
        if not log.exists():
            return None
        try:
            return str(json.loads(log.read_text()).get("version") or "unknown")
        except json.JSONDecodeError:
            return None


# ----------------------------------------------------------------------------- argv builders


def file_url(path: str | os.PathLike) -> str:
    """`file:` + absolute path: immune to leading '-', ':' and protocol-looking names."""
    return "file:" + os.path.abspath(os.fspath(path))


def file_input_args(path: str | os.PathLike) -> list[str]:
    """An input ffmpeg probes itself (a container, a y4m): `-i file:...`."""
    return ["-i", file_url(path)]


@dataclass(frozen=True)
class InputSpec:
    """How ffmpeg must read one source: raw files need their geometry spelled out."""

    path: Path
    raw: bool
    width: int
    height: int
    pix_fmt: str
    fps: float

    def args(self) -> list[str]:
        if self.raw:
            return [
                "-f",
                "rawvideo",
                "-pix_fmt",
                self.pix_fmt,
                "-s",
                f"{self.width}x{self.height}",
                "-framerate",
                _fps_text(self.fps),
                "-i",
                file_url(self.path),
            ]
        return file_input_args(self.path)


def _fps_text(fps: float) -> str:
    return f"{fps:.6f}".rstrip("0").rstrip(".")


def scoring_pix_fmt(pix_fmt: str, bit_depth: int | None = None) -> str:
    """The pixel format both sides are compared in; with `bit_depth` 10 (a v1 model), its 10-bit
    form whatever the source's depth."""
    pix_fmt = FULL_RANGE_ALIASES.get(pix_fmt, pix_fmt)
    if bit_depth == 10:
        layout = re.match(r"yuv4[024]{2}p", pix_fmt)
        return f"{layout.group(0) if layout else 'yuv420p'}10le"
    if pix_fmt in LIBVMAF_PIX_FMTS:
        return pix_fmt
    deep = bool(re.search(r"(1[0-6])(le|be)$", pix_fmt)) or pix_fmt.startswith("p01")
    return "yuv420p10le" if deep else "yuv420p"


def crop_filter(width: int, height: int, crop_w: int, crop_h: int) -> list[str]:
    """A top-left crop to the even size, or nothing when the size is already even."""
    if (crop_w, crop_h) == (width, height):
        return []
    return [f"crop={crop_w}:{crop_h}:0:0"]


def scale_filter(width: int, height: int, to_width: int, to_height: int, flags: str) -> list[str]:
    """A resize to `to_width`x`to_height` with the scale algorithm `flags`, or nothing when the size is already that."""
    check_scale_filter(flags)
    if (to_width, to_height) == (width, height):
        return []
    return [f"scale={to_width}:{to_height}:flags={flags}"]


def check_scale_filter(flags: str) -> None:
    if flags not in SCALE_FILTERS:
        raise InputError(f"unknown scale filter {flags!r}; use one of {', '.join(SCALE_FILTERS)}")


def scored_size(width: int, height: int, steps: Sequence[str] = ()) -> tuple[int, int]:
    """The size a stream is scored at after its `crop_filter` and `scale_filter` steps (the last one decides)."""
    for step in steps:
        match = re.fullmatch(r"(?:crop=(\d+):(\d+):0:0|scale=(\d+):(\d+):flags=\w+)", step)
        if match:
            numbers = [int(g) for g in match.groups() if g is not None]
            width, height = numbers[0], numbers[1]
    return width, height


def cropped_size(width: int, height: int, crop: Sequence[str] = ()) -> tuple[int, int]:
    """The size a stream is scored at after `crop_filter`'s crop (if any)."""
    for step in crop:
        match = re.fullmatch(r"crop=(\d+):(\d+):0:0", step)
        if match:
            return int(match.group(1)), int(match.group(2))
    return width, height


def check_scorable_size(
    width: int, height: int, *, path: str | Path | None = None, source_size: tuple[int, int] | None = None
) -> None:
    """Refuse, before any work, a frame libvmaf cannot score (it crashes without a message) or one
    larger than ffmpeg's image size limit (its "Error reinitializing filters!" says nothing of it)."""
    if (width + 128) * (height + 128) >= FFMPEG_IMAGE_AREA_LIMIT:
        raise InputError(
            f"frames of {width}x{height} are too large to score: ffmpeg refuses an image with "
            f"(width + 128) x (height + 128) >= {FFMPEG_IMAGE_AREA_LIMIT} (16K UHD, 15360x8640, is within it)",
            path=path,
        )
    if min(width, height) >= LIBVMAF_MIN_SIDE:
        return
    cropped = ""
    if source_size is not None and tuple(source_size) != (width, height):
        cropped = f" (the source's {source_size[0]}x{source_size[1]} cropped to even on its chroma-subsampled axes)"
    raise InputError(
        f"frames are {width}x{height} as scored{cropped}; libvmaf needs at least "
        f"{LIBVMAF_MIN_SIDE}x{LIBVMAF_MIN_SIDE} (ffmpeg's libvmaf filter crashes on smaller frames)",
        path=path,
    )


def encode_argv(
    ff: Ffmpeg,
    source: InputSpec,
    out_path: Path,
    *,
    encoder: str,
    codec_args: Sequence[str],
    hw_init: Sequence[str] = (),
    encoder_filters: Sequence[str] = (),
    crop: Sequence[str] = (),
    max_frames: int | None = None,
    threads: int | None = None,
    scale: Sequence[str] = (),
) -> list[str]:
    """Encode a source (cropped to even size when needed, then scaled to a ladder rung's size when
    `scale` says so); `-progress` reports frames encoded."""
    filters = [*crop, *scale, *encoder_filters]
    argv = [*_quiet(ff.path, overwrite=True, progress=True), *hw_init, *source.args(), *FIRST_VIDEO_AS_IS]
    argv += ["-an", "-sn", "-dn"]
    if max_frames:
        argv += ["-frames:v", str(max_frames)]
    if filters:
        argv += ["-vf", ",".join(filters)]
    if threads:
        argv += ["-threads", str(threads)]
    argv += ["-c:v", encoder, *codec_args, file_url(out_path)]
    return argv


@dataclass(frozen=True)
class ScoreJob:
    """One pair to score and how: what both scoring back-ends take (ffmpeg's libvmaf filter,
    `media.score.run_libvmaf`, and a standalone `vmaf` CLI, `media.vmafcli.score_with_vmaf_cli`).
    Each side is cropped (`*_crop`, from `crop_filter`), then resized (`*_scale`, from
    `scale_filter`), then converted to `pix_fmt`; `what` names the pair in errors."""

    distorted: InputSpec
    reference: InputSpec
    pix_fmt: str
    ref_crop: Sequence[str] = ()
    dis_crop: Sequence[str] = ()
    ref_scale: Sequence[str] = ()
    dis_scale: Sequence[str] = ()
    max_frames: int | None = None
    threads: int = 1
    vmaf_model: str = VMAF_MODEL
    metrics: Sequence[str] = ()
    subsample: int = 1
    what: str = ""
    encode: libvmaf.EncodeSide | None = None  # what DIS was encoded at (v1's CAMBI is told)
    # the frames each side pairs (a temporal alignment, media.align), as [first, last) ranges
    # (`frame_ranges`); empty: every frame, in order
    ref_frames: Sequence[tuple[int, int]] = ()
    dis_frames: Sequence[tuple[int, int]] = ()

    def trim(self, side: str) -> list[str]:
        """The side's frame selection: one range is a trim (then `max_frames` pairs), several a
        select of those frames (a drop or duplicate skipped); `setpts=N` after it renumbers them."""
        ranges = self.ref_frames if side == "ref" else self.dis_frames
        if len(ranges) > 1:
            return ["select=" + "+".join(f"between(n\\,{first}\\,{last - 1})" for first, last in ranges)]
        skip = ranges[0][0] if ranges else 0
        bounds = ([f"start_frame={skip}"] if skip else []) + (
            [f"end_frame={skip + self.max_frames}"] if self.max_frames else []
        )
        return [f"trim={':'.join(bounds)}"] if bounds else []

    @property
    def where(self) -> str:
        return str(self.what or self.distorted.path)

    def check_scored_size(self) -> None:
        """The size both sides are scored at suits libvmaf and every metric asked for."""
        scored = scored_size(self.distorted.width, self.distorted.height, [*self.dis_crop, *self.dis_scale])
        check_scorable_size(*scored, path=self.where)
        libvmaf.check_metric_sizes(self.metrics, *scored, path=self.where)


def frame_ranges(frames: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """Increasing frame numbers as [first, last) runs: [0, 1, 2, 5, 6] -> ((0, 3), (5, 7))."""
    runs: list[tuple[int, int]] = []
    for frame in frames:
        if runs and frame == runs[-1][1]:
            runs[-1] = (runs[-1][0], frame + 1)
        else:
            runs.append((frame, frame + 1))
    return tuple(runs)


def score_argv(ff: Ffmpeg, job: ScoreJob, log_path: Path) -> list[str]:
    """Decode both streams and score them in one process: no decoded YUV ever touches the disk.

    Both streams get frame-index timestamps (`setpts=N` in a common time base), so frame n of
    the encode is compared with frame n of the reference whatever the containers' clocks say.
    A side of another size is resized (`ref_scale` / `dis_scale`, from `scale_filter`) after its
    crop and before the conversion to the scoring pixel format, as libvmaf's documented procedure does.
    """

    def chain(label: str, crop: Sequence[str], scale: Sequence[str], out: str) -> str:
        side = "dis" if out.startswith("dis") else "ref"
        steps = [*job.trim(side), *crop, *scale, f"format={job.pix_fmt}", "settb=1/1000", "setpts=N"]
        return f"[{label}]{','.join(steps)}[{out}]"

    vmaf = (
        f"[dis][ref]libvmaf={libvmaf_options(job.vmaf_model, job.metrics, job.subsample, job.encode)}:log_fmt=json"
        f":log_path={_filter_escape(log_path)}:n_threads={job.threads}:shortest=1"
    )
    inputs = [*job.distorted.args(), *job.reference.args()]
    if not libvmaf.filter_metrics(job.metrics):
        dis, ref = (
            chain("0:v:0", job.dis_crop, job.dis_scale, "dis"),
            chain("1:v:0", job.ref_crop, job.ref_scale, "ref"),
        )
        return [*_quiet(ff.path), *inputs, "-filter_complex", ";".join([dis, ref, vmaf]), "-f", "null", "-"]
    # XPSNR (ffmpeg's own filter) on the same decoded, cropped, scaled and converted frames
    graph = [
        chain("0:v:0", job.dis_crop, job.dis_scale, "dis_all"),
        chain("1:v:0", job.ref_crop, job.ref_scale, "ref_all"),
        "[dis_all]split[dis][dis_x]",
        "[ref_all]split[ref][ref_x]",
        vmaf + "[scored]",
        f"[dis_x][ref_x]xpsnr=stats_file={_filter_escape(xpsnr_stats_path(log_path))}:shortest=1[xpsnr]",
    ]
    outputs = ["-map", "[scored]", "-f", "null", "-", "-map", "[xpsnr]", "-f", "null", "-"]
    return [*_quiet(ff.path), *inputs, "-filter_complex", ";".join(graph), *outputs]


def xpsnr_stats_path(log_path: Path) -> Path:
    """Where `score_argv` has ffmpeg's xpsnr filter write its per-frame stats: beside the libvmaf log."""
    return log_path.with_name(log_path.stem + ".xpsnr.txt")


def libvmaf_options(
    vmaf_model: str, metrics: Sequence[str] = (), subsample: int = 1, encode: libvmaf.EncodeSide | None = None
) -> str:
    """The libvmaf filter's model, feature and n_subsample options, as they go into the graph.

    Inside a filter graph an option value's own `:` is written `\\:` (one backslash for the
    graph's parser, one for the option parser); measured: a single backslash is read as a
    second filter option ("Error applying option 'enable_transform'")."""
    options = ["model=" + "\\\\:".join(libvmaf.model_spec(vmaf_model, encode))]
    metrics = libvmaf.libvmaf_metrics(metrics)
    if metrics:
        options.append("feature=" + "|".join(f"name={libvmaf.METRICS[name].feature}" for name in metrics))
    if subsample != 1:
        options.append(f"n_subsample={libvmaf.check_subsample(subsample)}")
    return ":".join(options)


def _filter_escape(path: Path) -> str:
    """vmafkit picks the log path itself; refuse (never mis-quote) one with filter metacharacters."""
    text = str(path)
    if re.search(r"[:,\[\]';\\=\s]", text):
        raise InputError(
            "internal temp path has characters unsafe in a filter graph; set TMPDIR to a plain path", path=text
        )
    return text


def model_fit_probe_argv(ff: Ffmpeg, vmaf_model: str, width: int, height: int) -> list[str]:
    """libvmaf with `vmaf_model` on one synthetic frame of WxH (at the depth the model scores at):
    whether the model's features can work at that size at all (v1's SpEED and CAMBI cannot below
    a limit that depends on both sides)."""
    pix_fmt = scoring_pix_fmt("yuv420p", libvmaf.get_model(vmaf_model).bit_depth)
    graph = (
        f"testsrc2=s={int(width)}x{int(height)}:r=25:d=0.04,format={pix_fmt},split[a][b];"
        f"[a][b]libvmaf={libvmaf_options(vmaf_model)}"
    )
    return [*_quiet(ff.path), "-filter_complex", graph, "-f", "null", "-"]


def count_frames_argv(ff: Ffmpeg, source: InputSpec, max_frames: int | None = None) -> list[str]:
    argv = [*_quiet(ff.path, progress=True), *source.args(), *FIRST_VIDEO_AS_IS]
    if max_frames:
        argv += ["-frames:v", str(max_frames)]
    return argv + ["-f", "null", "-"]


def luma_thumbs_argv(
    ff: Ffmpeg, source: InputSpec, *, crop: Sequence[str], width: int, height: int, max_frames: int | None
) -> list[str]:
    """Every frame's luma, cropped as it is scored and shrunk to WxH (area average), as raw 8-bit
    gray on stdout: what the temporal alignment compares (a small fraction of a VMAF pass)."""
    steps = [*crop, f"scale={int(width)}:{int(height)}:flags=area", "format=gray"]
    argv = [*_quiet(ff.path), *source.args(), *FIRST_VIDEO_AS_IS, "-vf", ",".join(steps)]
    if max_frames:
        argv += ["-frames:v", str(max_frames)]
    return argv + ["-f", "rawvideo", "-"]


# what `vmafkit diagnose` decodes each side through: interlace, frozen and black stretches; each
# filter logs its findings at the info level (`media.diagnose` parses them)
DIAGNOSE_FILTERS = "idet,freezedetect=n={freeze_db}dB:d={freeze_s},blackdetect=d={black_s}:pic_th={black_share}"


def diagnose_pass_argv(
    ff: Ffmpeg, source: InputSpec, *, crop: Sequence[str], freeze_db: float, freeze_s: float, black_s: float,
    black_share: float, max_frames: int | None,
) -> list[str]:  # fmt: skip
    """One decode of every frame through `DIAGNOSE_FILTERS`, logging at the info level (the filters'
    reports are info lines); stdout gets one framecrc line per frame, whose second field is the
    frame's timestamp in the stream's time base (the frame intervals)."""
    steps = [
        *crop,
        DIAGNOSE_FILTERS.format(freeze_db=freeze_db, freeze_s=freeze_s, black_s=black_s, black_share=black_share),
    ]
    argv = [ff.path, "-hide_banner", "-nostdin", "-loglevel", "info", "-nostats", *source.args(), *FIRST_VIDEO_AS_IS]
    argv += ["-vf", ",".join(steps)]
    if max_frames:
        argv += ["-frames:v", str(max_frames)]
    return argv + ["-f", "framecrc", "-"]


def scene_cuts_argv(ff: Ffmpeg, source: InputSpec, *, threshold: float, max_frames: int | None) -> list[str]:
    """ffmpeg's scdet over every frame, each frame's time made its index / 1000 (`settb`, `setpts`),
    so that the `lavfi.scd.time` it logs (info level) for each cut says the frame: time * 1000."""
    steps = ["settb=1/1000", "setpts=N", f"scdet=threshold={threshold:g}"]
    argv = [ff.path, "-hide_banner", "-nostdin", "-loglevel", "info", "-nostats", *source.args(), *FIRST_VIDEO_AS_IS]
    argv += ["-vf", ",".join(steps)]
    if max_frames:
        argv += ["-frames:v", str(max_frames)]
    return argv + ["-f", "null", "-"]


def sample_clip_argv(
    ff: Ffmpeg, source: InputSpec, crop: Sequence[str], ranges: Sequence[tuple[int, int]], pix_fmt: str, out: Path
) -> list[str]:
    """The frames of `ranges` ([first, last) frame numbers), in order and renumbered at the source's
    rate, as one lossless clip (FFV1 in Matroska, `pix_fmt` kept): what a target search encodes."""
    pick = "+".join(f"between(n\\,{first}\\,{last - 1})" for first, last in ranges)
    steps = [*crop, f"select={pick}", "setpts=N/(FRAME_RATE*TB)"]
    argv = [*_quiet(ff.path, overwrite=True), *source.args(), *FIRST_VIDEO_AS_IS, "-an", "-sn", "-dn"]
    # bitexact: the same frames make the same bytes (no random segment id, no version string), so a
    # clip cut again (another machine, a cleaned cache) keeps the cells encoded from it
    argv += ["-vf", ",".join(steps), "-pix_fmt", pix_fmt, "-fflags", "+bitexact", "-flags:v", "+bitexact"]
    return argv + [*FFV1_ARGS, "-f", "matroska", file_url(out)]


def side_by_side_pngs_argv(
    ff: Ffmpeg,
    job: ScoreJob,
    *,
    ref_frames: Sequence[int],
    dis_frames: Sequence[int],
    out_pattern: Path,
    width: int | None = None,
) -> list[str]:
    """PNGs of REF frame `ref_frames[i]` (left) beside DIS frame `dis_frames[i]` (right), each side
    cropped and resized as `job` scores it, converted to RGB: what the worst moments looked like, in
    one decode of each side. Both lists increase (pairs are in order on both sides), so the sides'
    selected frames meet in order; `out_pattern` numbers them from 1 (`%03d`); `width`: each
    picture shrunk to that width (area average, never enlarged), as the report shows it."""

    def side(frames: Sequence[int], label: str, crop: Sequence[str], scale: Sequence[str], out_label: str) -> str:
        chosen = "+".join(f"eq(n\\,{int(frame)})" for frame in frames)
        steps = [f"select={chosen}", *crop, *scale, "format=rgb24", "settb=1/25", "setpts=N"]
        return f"[{label}]{','.join(steps)}[{out_label}]"

    shrink = f",scale=w=min({int(width)}\\,iw):h=-2:flags=area" if width else ""
    graph = ";".join(
        [
            side(ref_frames, "1:v:0", job.ref_crop, job.ref_scale, "r"),
            side(dis_frames, "0:v:0", job.dis_crop, job.dis_scale, "d"),
            f"[r][d]hstack=inputs=2{shrink}[out]",
        ]
    )
    argv = [*_quiet(ff.path, overwrite=True), *job.distorted.args(), *job.reference.args(), "-filter_complex", graph]
    argv += ["-map", "[out]", "-fps_mode", "passthrough", "-frames:v", str(len(ref_frames))]
    # the folder's own '%' would read as a pattern: doubled; the name's %03d is the pattern
    pattern = file_url(out_pattern.parent).replace("%", "%%") + "/" + out_pattern.name
    return argv + ["-f", "image2", "-c:v", "png", pattern]


def list_encoders_argv(ff_path: str) -> list[str]:
    """`ffmpeg -encoders`: every encoder compiled in, one a line."""
    return [ff_path, "-hide_banner", "-encoders"]


def decode_to_y4m_pipe_argv(ff: Ffmpeg, job: ScoreJob, out: Path, *, side: str) -> list[str]:
    """Decode one side of `job` ("ref" or "dis") as y4m into `out` (a named pipe the standalone
    `vmaf` CLI reads), cropped and scaled like the libvmaf filter's inputs (`score_argv`)."""
    spec, crop, scale = (
        (job.reference, job.ref_crop, job.ref_scale) if side == "ref" else (job.distorted, job.dis_crop, job.dis_scale)
    )
    steps = [*job.trim(side), *crop, *scale, f"format={job.pix_fmt}"]
    argv = [*_quiet(ff.path, overwrite=True), *spec.args(), *FIRST_VIDEO_AS_IS, "-vf", ",".join(steps)]
    if job.max_frames:
        argv += ["-frames:v", str(job.max_frames)]
    return argv + ["-strict", "-1", "-f", "yuv4mpegpipe", file_url(out)]


def probe_argv(ff: Ffmpeg | str, path: Path) -> list[str]:
    """`ffmpeg -i` alone prints the stream description (the wheel ships no ffprobe)."""
    return [ff.path if isinstance(ff, Ffmpeg) else ff, "-hide_banner", "-nostdin", "-i", file_url(path)]


def probe_encoder_argv(
    ff: Ffmpeg,
    encoder: str,
    codec_args: Sequence[str],
    hw_init: Sequence[str] = (),
    encoder_filters: Sequence[str] = (),
) -> list[str]:
    """A 1-frame trial encode of a synthetic frame: proves the encoder works on this host."""
    argv = [*_quiet(ff.path), *hw_init, "-f", "lavfi", "-i", "testsrc2=s=256x256:r=25", "-frames:v", "1"]
    if encoder_filters:
        argv += ["-vf", ",".join(encoder_filters)]
    return argv + ["-c:v", encoder, *codec_args, "-f", "null", "-"]


def synth_clip_argv(ff: Ffmpeg, graph: str, out_path: Path, *, frames: int) -> list[str]:
    """Render a lavfi source graph (vmafkit's own text, never the user's) to a y4m file, reproducibly.

    The graph must end in the pixel format to store and seed every random source (lavfi's
    `gradients` picks random colours whatever its seed: spell them out). It runs as a
    `-filter_complex` with one filter thread, so the bytes cannot depend on the host's core count
    (the demo's graphs give the same bytes for 1 and 8 threads today), and bit-exact flags keep
    version strings out of the output: the same ffmpeg writes the same bytes on every run.
    """
    if frames < 1:
        raise InputError(f"a synthetic clip needs at least 1 frame, got {frames}")
    return [
        *_quiet(ff.path, overwrite=True),
        "-filter_complex_threads",
        "1",
        "-filter_complex",
        f"{graph}[synth]",
        "-map",
        "[synth]",
        "-frames:v",
        str(int(frames)),
        "-an",
        "-sn",
        "-dn",
        "-map_metadata",
        "-1",
        "-fflags",
        "+bitexact",
        "-flags:v",
        "+bitexact",
        "-f",
        "yuv4mpegpipe",
        file_url(out_path),
    ]


FFV1_ARGS = ("-c:v", "ffv1", "-level", "3", "-g", "1", "-slicecrc", "1")


FIRST_VIDEO_AS_IS = ("-map", "0:v:0", "-fps_mode", "passthrough")  # every frame of the first video stream


def _quiet(ff_path: str, *, overwrite: bool = False, progress: bool = False) -> list[str]:
    """How every vmafkit ffmpeg starts: no banner, no stdin, errors only, no stats line; `overwrite`
    (-y) where the output is vmafkit's own temp file; `progress` for `-progress pipe:1` lines."""
    argv = [ff_path, "-hide_banner", "-nostdin", *(["-y"] if overwrite else []), "-loglevel", "error", "-nostats"]
    return argv + (["-progress", "pipe:1"] if progress else [])


def frame_hash_argv(ff_path: str, input_args: Sequence[str], pix_fmt: str | None) -> list[str]:
    """sha256 over the decoded raw frames (the hash muxer prints SHA256=... on stdout)."""
    fmt = ["-pix_fmt", pix_fmt] if pix_fmt else []
    return [*_quiet(ff_path), *input_args, "-map", "0:v:0", *fmt, "-f", "hash", "-hash", "sha256", "-"]


def ffv1_pack_argv(ff_path: str, input_args: Sequence[str], pix_fmt: str, out: Path) -> list[str]:
    """Lossless FFV1 (intra-only, slice CRCs) in Matroska, keeping the pixel format."""
    return [
        *_quiet(ff_path, overwrite=True),
        *input_args,
        "-map",
        "0:v:0",
        "-pix_fmt",
        pix_fmt,
        *FFV1_ARGS,
        "-f",
        "matroska",
        file_url(out),
    ]


def decode_to_y4m_argv(ff_path: str, packed: Path, pix_fmt: str, out: Path) -> list[str]:
    return [
        *_quiet(ff_path, overwrite=True),
        "-i",
        file_url(packed),
        "-map",
        "0:v:0",
        "-pix_fmt",
        pix_fmt,
        "-f",
        "yuv4mpegpipe",
        "-strict",
        "-1",
        file_url(out),
    ]


def decode_raw_to_stdout_argv(ff_path: str, packed: Path, pix_fmt: str) -> list[str]:
    return [*_quiet(ff_path), "-i", file_url(packed), "-map", "0:v:0", "-pix_fmt", pix_fmt, "-f", "rawvideo", "-"]


# ----------------------------------------------------------------------------- running


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str


def run_ffmpeg(argv: Sequence[str], *, timeout: float | None = None, env: dict | None = None) -> Completed:
    """Run ffmpeg; a failure's stderr always ends in a telling line (see `describe_exit`)."""
    full_env = dict(os.environ)
    full_env.setdefault("SVT_LOG", "1")  # libsvtav1 prints a banner otherwise
    if env:
        full_env.update(env)
    try:
        proc = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, env=full_env, errors="replace"
        )
    except subprocess.TimeoutExpired:
        raise InputError(f"ffmpeg did not finish within {timeout:.0f} s", path=argv[0]) from None
    except OSError as exc:
        raise InputError(f"cannot run ffmpeg: {exc.strerror or exc}", path=argv[0]) from None
    stderr = proc.stderr or ""
    if proc.returncode != 0:
        raise_if_interrupted()  # ffmpeg stopped by the Ctrl-C the user pressed: not a failure
        note = failure_note("ffmpeg", proc.returncode, stderr)
        if note:
            stderr = stderr.rstrip("\n") + ("\n" if stderr.strip() else "") + note + "\n"
    return Completed(proc.returncode, proc.stdout, stderr)


class FfmpegStream:
    """A running ffmpeg whose stdout is read as a stream (`stream_ffmpeg`); its stderr goes to a
    temp file, so a chatty ffmpeg can never block on a full pipe."""

    def __init__(self, proc: subprocess.Popen, stderr_file: Any):
        assert proc.stdout is not None  # started with stdout=PIPE
        self.proc = proc
        self.stdout: IO[bytes] = proc.stdout
        self._stderr_file = stderr_file

    def finish(self) -> Completed:
        """Wait for ffmpeg to exit; its status and stderr (with `failure_note`'s line when needed)."""
        self.proc.wait()
        self._stderr_file.seek(0)
        stderr = self._stderr_file.read().decode("utf-8", "replace")
        if self.proc.returncode != 0:
            raise_if_interrupted()
            note = failure_note("ffmpeg", self.proc.returncode, stderr)
            if note:
                stderr = stderr.rstrip("\n") + ("\n" if stderr.strip() else "") + note + "\n"
        return Completed(self.proc.returncode, "", stderr)


@contextlib.contextmanager
def stream_ffmpeg(argv: Sequence[str]) -> Iterator[FfmpegStream]:
    """Run ffmpeg with its stdout readable as it is written; killed if the block leaves early."""
    with tempfile.TemporaryFile() as stderr_file:
        try:
            proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr_file)
        except OSError as exc:
            raise InputError(f"cannot run ffmpeg: {exc.strerror or exc}", path=argv[0]) from None
        try:
            yield FfmpegStream(proc, stderr_file)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


_SIGNAL_MEANING = {
    "SIGXFSZ": "a file outgrew the file size limit, see `ulimit -f`",
    "SIGSEGV": "it crashed",
    "SIGBUS": "it crashed",
    "SIGILL": "it crashed (an instruction this CPU lacks?)",
    "SIGFPE": "it crashed",
    "SIGABRT": "it aborted",
    "SIGKILL": "killed from outside, e.g. by the out-of-memory killer",
    "SIGTERM": "terminated from outside",
    "SIGPIPE": "its output pipe was closed",
}


def describe_exit(returncode: int) -> str:
    """'exited with status 1' or 'was killed by SIGSEGV (it crashed)'."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        meaning = _SIGNAL_MEANING.get(name)
        return f"was killed by {name}" + (f" ({meaning})" if meaning else "")
    return f"exited with status {returncode}"


def failure_note(tool: str, returncode: int, stderr: str) -> str | None:
    """The line to add when a failed tool's own stderr does not say what happened: it printed
    nothing, or it was killed by a signal (then its last words, if any, are kept in the note)."""
    told = _telling_lines(stderr)
    if returncode < 0:
        return f"{tool} {describe_exit(returncode)}" + (
            f" after printing: {last_error_line(stderr)}" if told else " and printed nothing on stderr"
        )
    if not told:
        return f"{tool} {describe_exit(returncode)} and printed nothing on stderr"
    return None


_GENERIC_ERRORS = (
    "Nothing was written",
    "Conversion failed",
    "Error while opening encoder",
    "Error splitting",
    "Error parsing global options",
    "Error opening output",
    "Terminating thread",
    "Task finished",
    "Could not open encoder before EOF",
    "Error sending frames to consumers",
    "Error while filtering",
    "Error while processing the decoded data",
    "Error marking filters as finished",
    "Error opening output files",
    "Error initializing output stream",
)
_PREFIX = re.compile(r"^(\[[^\]]*\]\s*)+")


def _telling_lines(stderr: str) -> list[str]:
    """stderr's non-blank lines, whitespace collapsed, without ffmpeg's `[component @ 0x...]` prefixes."""
    lines = [" ".join(_PREFIX.sub("", line.strip()).split()) for line in (stderr or "").splitlines()]
    return [line for line in lines if line]


def last_error_line(stderr: str) -> str:
    """The most telling line of ffmpeg's stderr (its last lines are often generic)."""
    lines = _telling_lines(stderr)
    specific = [line for line in lines if not line.startswith(_GENERIC_ERRORS)]
    return (specific or lines or ["it printed nothing on stderr"])[-1]


def last_lines(stderr: str, n: int = 3) -> str:
    """A tool's own last `n` stderr lines, joined on one line with ' | '."""
    lines = _telling_lines(stderr)
    return " | ".join(lines[-n:]) if lines else ""


def progress_frames(stdout: str) -> int:
    """The last `frame=N` of ffmpeg's `-progress` stream."""
    values = re.findall(r"^frame=(\d+)\s*$", stdout, flags=re.MULTILINE)
    return int(values[-1]) if values else 0
