"""Nine SYNTHETIC reference clips made by ffmpeg's lavfi sources, for `vmafkit run --demo`.

They are not camera content: they exist so a new user can run the whole pipeline with no clips
of their own, and every name, the folder's `README.txt` and `sources.toml` say so. The nine were
picked for clearly different VMAF-vs-CQ behaviour under libx264 (flat until a late knee, steady
fall, steep fall, noise that the encoder throws away, ...), each with some spread over the
default CQs so that no held-out source is a constant.

Output is deterministic (fixed seeds, one filter thread, bit-exact muxing: the same ffmpeg on
the same machine writes the same bytes) and lossless (8-bit 4:2:0 y4m). A small manifest records
each clip's sha256; when the folder already holds the same clips nothing is regenerated.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmafkit.errors import InputError
from vmafkit.io import atomic_output, atomic_write_json, atomic_write_text, exclusive_lock, read_json, sha256_file
from vmafkit.media import ffmpeg as ffm
from vmafkit.media.sources import SOURCE_SUFFIXES

DEMO_SCHEMA = "vmafkit-demo-clips-v1"
MANIFEST_NAME = "demo_manifest.json"
README_NAME = "README.txt"
SOURCES_NAME = "sources.toml"
NAME_PREFIX = "synthetic_"
DEFAULT_FRAMES = 24
DEFAULT_SIZE = (320, 180)
DEFAULT_FPS = 24
# Every graph ends in this chain: limited-range 8-bit 4:2:0 with a bit-exact RGB->YUV conversion.
_TO_YUV = "scale=out_range=tv:flags=bicubic+accurate_rnd+full_chroma_int+bitexact,format=yuv420p,setparams=range=tv"


@dataclass(frozen=True)
class DemoClip:
    """One synthetic clip: a short key, what it shows, and its lavfi graph for (w, h, fps, frames)."""

    key: str
    description: str
    graph: Callable[[int, int, str, int], str]

    def file_name(self, width: int, height: int, fps: float) -> str:
        return f"{NAME_PREFIX}{self.key}_{width}x{height}_{_fps_token(fps)}fps.y4m"

    def full_graph(self, width: int, height: int, fps: float, frames: int) -> str:
        return f"{self.graph(width, height, _fps_token(fps), frames)},{_TO_YUV}"


def _overlay_box(w: int, h: int) -> tuple[int, int]:
    return max(16, (w * 3 // 10) & ~1), max(16, (h * 3 // 8) & ~1)


def _bars_graph(w: int, h: int, r: str, n: int) -> str:
    ow, oh = _overlay_box(w, h)
    return (
        f"smptehdbars=s={w}x{h}:r={r}[bars];testsrc=s={ow}x{oh}:r={r},"
        f"noise=alls=30:allf=u:all_seed=9[box];"
        f"[bars][box]overlay=x='mod(n*{max(1, w // 35)},{w})':"
        f"y='{h * 2 // 9}+{h // 9}*sin(n/4)'"
    )


# The nine clips, in the order the README lists them. Mean VMAF measured with libx264 preset medium
# at the defaults (320x180, 24 fps, 24 frames; imageio-ffmpeg 0.8.1), CQ 19 / 25 / 31 / 37:
#   testsrc2 98.7 96.4 89.6 76.8     mandelbrot 98.8 91.1 71.1 38.7    life 99.5 98.6 78.5 44.0
#   cellauto 94.4 89.5 76.0 52.2     perlin 90.6 75.3 52.0 28.6        zoneplate 99.8 99.0 88.5 72.1
#   sierpinski 97.8 97.0 93.7 84.2   grain 90.1 75.0 65.7 51.1         bars 99.9 99.8 99.3 91.3
CLIPS: tuple[DemoClip, ...] = (
    DemoClip(
        "testsrc2",
        "ffmpeg's testsrc2 pattern: moving coloured shapes over bars; medium motion, sharp edges",
        lambda w, h, r, n: f"testsrc2=s={w}x{h}:r={r}",
    ),
    DemoClip(
        "mandelbrot",
        "Mandelbrot fractal zooming in 10x over the clip: fine detail and fast zoom motion",
        lambda w, h, r, n: f"mandelbrot=s={w}x{h}:r={r}:maxiter=512:start_scale=1.5:end_scale=0.15:end_pts={max(n, 2)}",
    ),
    DemoClip(
        "life",
        "Conway's life (seeded) with mould trails in 2x2 cells: dense small changes everywhere",
        lambda w, h, r, n: f"life=s={w // 2}x{h // 2}:r={r}:seed=7:ratio=0.3:mold=16:life_color=#f0e060:"
        f"death_color=#102040:mold_color=#40a060,scale={w}x{h}:flags=neighbor+bitexact",
    ),
    DemoClip(
        "cellauto",
        "rule-30 cellular automaton, redrawn every frame and slightly blurred: grey high-frequency texture",
        lambda w, h, r, n: f"cellauto=s={w}x{h}:r={r}:rule=30:seed=11:ratio=0.5:full=1:scroll=0,gblur=sigma=0.7",
    ),
    DemoClip(
        "perlin",
        "Perlin noise clouds (5 octaves) drifting: smooth low-contrast texture",
        lambda w, h, r, n: f"perlin=s={w}x{h}:r={r}:octaves=5:persistence=0.6:xscale=4:yscale=3:tscale=2:"
        f"random_mode=seed:seed=3",
    ),
    DemoClip(
        "zoneplate",
        "moving zone plate: rings up to the Nyquist limit with aliasing, worst case for an encoder",
        lambda w, h, r, n: f"zoneplate=s={w}x{h}:r={r}:kx2=900:ky2=900:kt=60:kxt=20:kyt=10:ku=100:kv=50",
    ),
    DemoClip(
        "sierpinski",
        "Sierpinski carpet sliding slowly: hard black/white edges, little motion",
        lambda w, h, r, n: f"sierpinski=s={w}x{h}:r={r}:seed=5:jump=3:type=carpet",
    ),
    # gradients picks random colours whatever its seed: the colours are spelled out.
    DemoClip(
        "grain",
        "slowly turning radial gradient under strong temporal film grain (seeded noise filter)",
        lambda w, h, r, n: f"gradients=s={w}x{h}:r={r}:seed=3:n=4:c0=#301060:c1=#c04080:c2=#f0a030:c3=#2080c0:"
        f"speed=0.02:type=radial,{_TO_YUV},"
        f"noise=alls=20:allf=t+u:all_seed=1234",
    ),
    DemoClip(
        "bars",
        "SMPTE HD colour bars with a noise-textured test pattern gliding across: flat areas, one moving object",
        _bars_graph,
    ),
)


def _fps_token(fps: float) -> str:
    fps = float(fps)
    return str(int(fps)) if fps.is_integer() else f"{fps:.3f}".rstrip("0").rstrip(".")


def parse_size(size: Sequence[int] | str) -> tuple[int, int]:
    """(w, h) from a pair or a 'WxH' string; even sides, 32..7680 x 32..4320."""
    if isinstance(size, str):
        match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", size)
        if not match:
            raise InputError(f"demo clip size must look like 320x180, got {size!r}")
        width, height = int(match.group(1)), int(match.group(2))
    else:
        try:
            width, height = (int(v) for v in size)
        except (TypeError, ValueError):
            raise InputError(f"demo clip size must be (width, height), got {size!r}") from None
    if width % 2 or height % 2 or not (32 <= width <= 7680 and 32 <= height <= 4320):
        raise InputError(f"demo clip size {width}x{height}: both sides must be even, 32..7680 x 32..4320")
    return width, height


def demo_plan(
    *, frames: int = DEFAULT_FRAMES, size: Sequence[int] | str = DEFAULT_SIZE, fps: float = DEFAULT_FPS
) -> list[dict[str, Any]]:
    """What `make_demo_clips` would write: one {file, src, key, description, graph} per clip."""
    width, height = parse_size(size)
    if isinstance(frames, bool) or not isinstance(frames, int) or not 1 <= frames <= 100_000:
        raise InputError(f"demo clips need 1..100000 frames, got {frames!r}")
    if not 1 <= float(fps) <= 240:
        raise InputError(f"demo clip frame rate must be 1..240 fps, got {fps!r}")
    plan = []
    for clip in CLIPS:
        name = clip.file_name(width, height, fps)
        plan.append(
            {
                "file": name,
                "src": name[: -len(".y4m")],
                "key": clip.key,
                "description": clip.description,
                "graph": clip.full_graph(width, height, fps, frames),
            }
        )
    return plan


def _params(frames: int, size: Sequence[int] | str, fps: float) -> dict[str, Any]:
    width, height = parse_size(size)
    return {"width": width, "height": height, "fps": float(fps), "frames": int(frames), "pix_fmt": "yuv420p"}


def _y4m_size(width: int, height: int, frames: int, header: bytes) -> int:
    return len(header) + frames * (len(b"FRAME\n") + width * height * 3 // 2)


def _up_to_date(dest: Path, params: dict[str, Any], plan: list[dict[str, Any]]) -> bool:
    """True when the manifest matches these params and graphs and every clip has its recorded bytes."""
    manifest_path = dest / MANIFEST_NAME
    try:
        manifest = read_json(manifest_path, what="demo manifest")
    except InputError:  # missing, damaged or hostile: rebuild the demo clips
        return False
    if not isinstance(manifest, dict) or manifest.get("schema") != DEMO_SCHEMA or manifest.get("params") != params:
        return False
    recorded = manifest.get("clips")
    if not isinstance(recorded, list) or len(recorded) != len(plan):
        return False
    for want, have in zip(plan, recorded):
        if not isinstance(have, dict) or have.get("file") != want["file"] or have.get("graph") != want["graph"]:
            return False
        path = dest / want["file"]
        if not path.is_file() or path.stat().st_size != have.get("size") or sha256_file(path) != have.get("sha256"):
            return False
    return True


def _check_folder(dest: Path, plan: list[dict[str, Any]]) -> None:
    """Refuse a folder holding media that is not ours: it would silently join the demo corpus."""
    ours = {item["file"] for item in plan}
    for path in sorted(dest.iterdir()):
        if path.name.startswith(".") or not path.is_file() or path.suffix.lower() not in SOURCE_SUFFIXES:
            continue
        if path.name in ours:
            continue
        if not path.name.startswith(NAME_PREFIX):
            raise InputError(
                f"holds {path.name}, which is not a vmafkit demo clip; use an empty folder for the demo", path=dest
            )


def _remove_stale(dest: Path, plan: list[dict[str, Any]]) -> None:
    """Remove demo clips of other settings (another size or fps) so they do not join the corpus."""
    ours = {item["file"] for item in plan}
    for path in sorted(dest.glob(f"{NAME_PREFIX}*")):
        if path.is_file() and path.suffix.lower() in SOURCE_SUFFIXES and path.name not in ours:
            path.unlink()


def _render(ff: ffm.Ffmpeg, item: dict[str, Any], dest: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Render one clip into a temp folder, check its size, and move it into `dest` atomically."""
    with tempfile.TemporaryDirectory(prefix="vmafkit-demo-") as tmp:
        rendered = Path(tmp) / item["file"]
        result = ffm.run_ffmpeg(ffm.synth_clip_argv(ff, item["graph"], rendered, frames=params["frames"]), timeout=600)
        if result.returncode != 0 or not rendered.is_file():
            raise InputError(
                f"ffmpeg could not synthesise demo clip {item['key']}: {ffm.last_error_line(result.stderr)}",
                path=dest / item["file"],
            )
        with open(rendered, "rb") as handle:
            header = handle.readline(4096)
        expected = _y4m_size(params["width"], params["height"], params["frames"], header)
        if not header.startswith(b"YUV4MPEG2 ") or rendered.stat().st_size != expected:
            raise InputError(
                f"ffmpeg wrote a short or malformed demo clip {item['key']} "
                f"({rendered.stat().st_size} bytes, expected {expected})",
                path=dest / item["file"],
            )
        with open(rendered, "rb") as src, atomic_output(dest / item["file"], "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    path = dest / item["file"]
    return {**item, "sha256": sha256_file(path), "size": path.stat().st_size}


def _readme(params: dict[str, Any], clips: list[dict[str, Any]], ff: ffm.Ffmpeg) -> str:
    lines = [
        "SYNTHETIC DEMO CLIPS - NOT CAMERA CONTENT",
        "",
        "vmafkit made these nine reference clips with ffmpeg's lavfi sources (generated pictures:",
        "fractals, cellular automata, noise, test patterns) so that `vmafkit run --demo` can show the",
        "whole pipeline without clips of your own. A model trained on them says nothing about how",
        "VMAF behaves on real video: use your own reference clips (`vmafkit run --ref-dir DIR`) for that.",
        "",
        f"Each clip: {params['width']}x{params['height']}, {_fps_token(params['fps'])} fps, {params['frames']} frames, "
        f"8-bit 4:2:0, lossless y4m.",
        f"Made by ffmpeg {ff.version} (one filter thread, fixed seeds, bit-exact); {MANIFEST_NAME} holds each",
        "clip's sha256 and the exact filter graph; delete this folder to regenerate it.",
        "",
    ]
    for clip in clips:
        lines += [
            f"{clip['file']}",
            f"    {clip['description']}",
            f"    sha256 {clip['sha256']}",
            f"    lavfi: {clip['graph']}",
            "",
        ]
    return "\n".join(lines)


def _sources_toml(clips: list[dict[str, Any]]) -> str:
    lines = [
        "# SYNTHETIC reference clips made by vmafkit's demo from ffmpeg lavfi sources (not camera content).",
        "# Each clip is a different generator, so each is its own LOSO group.",
        "",
    ]
    for clip in clips:
        lines += [f"# {clip['description']}", f'[sources."{clip["src"]}"]', f'group = "{clip["src"]}"', ""]
    return "\n".join(lines)


def make_demo_clips(
    dest: str | Path,
    *,
    frames: int = DEFAULT_FRAMES,
    size: Sequence[int] | str = DEFAULT_SIZE,
    fps: float = DEFAULT_FPS,
    ffmpeg: str | None = None,
) -> list[Path]:
    """Write the nine synthetic reference clips into `dest` (created if needed); return their paths.

    Idempotent: when `dest` already holds the same clips (manifest params, graphs and sha256 all
    match) nothing is regenerated. Demo clips of other settings are removed; any other media
    file in `dest` is refused (InputError), since it would join the demo corpus unnoticed.
    """
    dest = Path(dest)
    plan = demo_plan(frames=frames, size=size, fps=fps)
    params = _params(frames, size, fps)
    if dest.exists() and not dest.is_dir():
        raise InputError("demo clip folder exists and is not a folder", path=dest)
    dest.mkdir(parents=True, exist_ok=True)
    paths = [dest / item["file"] for item in plan]
    # The lock lives beside the folder, not in it: the folder's contents stay exactly the clips
    # and their three text files, so a snapshot of it is the same from run to run.
    with exclusive_lock(dest.parent, name=f".{dest.name}.demo.lock"):
        _check_folder(dest, plan)
        if _up_to_date(dest, params, plan):
            return paths
        ff = ffm.find_ffmpeg(ffmpeg)
        _remove_stale(dest, plan)
        clips = [_render(ff, item, dest, params) for item in plan]
        atomic_write_text(dest / README_NAME, _readme(params, clips, ff))
        atomic_write_text(dest / SOURCES_NAME, _sources_toml(clips))
        atomic_write_json(
            dest / MANIFEST_NAME,
            {
                "schema": DEMO_SCHEMA,
                "synthetic": True,
                "note": "synthetic clips from ffmpeg lavfi sources, not camera content",
                "params": params,
                "ffmpeg_version": ff.version,
                "clips": [
                    {k: clip[k] for k in ("file", "src", "key", "description", "graph", "sha256", "size")}
                    for clip in clips
                ],
            },
        )
    return paths
