"""Pack reference clips losslessly for shipping, and extract them back, verified.

``pack_corpus(ref_dir, corpus_dir)`` writes, for each reference clip under REF_DIR (recursively,
hidden names skipped):

* raw ``.yuv`` and ``.y4m``: ``<relpath>.mkv``, FFV1 (level 3, intra-only, slice CRCs) in
  Matroska, same pixel format and bit depth; the packed file is decoded again at once and its
  frames' sha256 compared with the original's before it is kept;
* any other container (``.mp4``, ``.mpg``, ...): the file as it is (re-encoding an already
  compressed file losslessly only makes it bigger);

and ``manifest.jsonl``, one JSON object a line, sorted by name::

    schema_version, name (relpath under REF_DIR), original_file (basename), container
    (y4m | yuv | the suffix), method (ffv1 | copy), packed (relpath under CORPUS_DIR),
    packed_size, packed_sha256, size, sha256 (original bytes), decoded_sha256 (sha256 of the
    decoded raw frames in `pix_fmt`, what ``ffmpeg -f hash -hash sha256`` prints), width, height,
    pix_fmt, fps, fps_source (y4m | name | default | probe), n_frames, restore (raw | y4m-exact |
    y4m-ffmpeg | copy), y4m_header (the original stream header line, y4m only), ffmpeg_version

``extract_corpus(corpus_dir, ref_dir)`` decodes each entry back to its original container:
raw bytes for ``.yuv``; for ``.y4m`` the original header line + ``FRAME`` markers + frames
(``y4m-exact``: byte-identical, checked against ``sha256``), or ffmpeg's y4m muxer when the
original had per-frame parameters (``y4m-ffmpeg``: frames checked against ``decoded_sha256``).
All or nothing: every entry is checked first (a safe name, an existing file that differs,
a missing or corrupt packed file refuse before anything is written); the clips are then restored
and verified in a hidden staging folder inside REF_DIR (``.vmafkit-extract-*``, flock-held while
in use) and renamed into place only when every one matched; a mismatch refuses (exit 2) and
leaves nothing behind, neither the clips before it nor a folder it made. A kill -9 can leave only
the staging folder, which the next extract removes. An existing file with the right sha256 is
kept; one with another sha256 is refused, never overwritten.

Raw ``.yuv`` geometry comes from the name: ``WxH`` (e.g. ``_480x270_``), ``NNfps`` (default 25,
recorded as ``fps_source: default``) and an optional pix_fmt token (``.yuv420p10le.``; default
yuv420p). This is a small private parser until ``vmafkit.media.sources`` provides one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmafkit.errors import InputError
from vmafkit.io import CHUNK, atomic_write_text, dumps_json, exclusive_lock, sha256_file
from vmafkit.media.ffmpeg import (
    decode_raw_to_stdout_argv,
    decode_to_y4m_argv,
    ffv1_pack_argv,
    file_url,
    find_ffmpeg,
    frame_hash_argv,
    probe_argv,
)
from vmafkit.media.sources import RAW_LAYOUTS, geometry_from_name, parse_video_stream, parse_y4m_header, raw_frame_size

SCHEMA_VERSION = 1
MANIFEST = "manifest.jsonl"
RAW_SUFFIXES = (".yuv",)
Y4M_SUFFIXES = (".y4m",)
CONTAINER_SUFFIXES = (
    ".mp4",
    ".mkv",
    ".mov",
    ".avi",
    ".mpg",
    ".mpeg",
    ".ts",
    ".m2ts",
    ".webm",
    ".m4v",
    ".ivf",
    ".264",
    ".265",
    ".h264",
    ".h265",
    ".hevc",
    ".obu",
    ".flv",
    ".mxf",
    ".nut",
)
DEFAULT_RAW_FPS = 25.0
DEFAULT_RAW_PIX_FMT = "yuv420p"
STAGING_PREFIX = ".vmafkit-extract-"
STAGING_LOCK = ".lock"
STALE_STAGING_AGE_S = 2.0  # a staging folder is locked within microseconds of being made


# --------------------------------------------------------------------------- ffmpeg


def ffmpeg_exe() -> str:
    return find_ffmpeg(require_libvmaf=False).path  # packing needs no libvmaf


def ffmpeg_version(ffmpeg: str) -> str:
    return find_ffmpeg(ffmpeg, require_libvmaf=False).version


def _run_ffmpeg(argv: list[str], what: str, path: Path) -> bytes:
    proc = subprocess.run(argv, capture_output=True, check=False)
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["(no message)"]
        raise InputError(f"ffmpeg failed to {what}: {tail[0]}", path=path)
    return proc.stdout


def _input_args(desc: SourceInfo, path: Path) -> list[str]:
    if desc.container == "yuv":
        assert desc.pix_fmt is not None  # a raw source's geometry comes from its name, always complete
        return [
            "-f",
            "rawvideo",
            "-pixel_format",
            desc.pix_fmt,
            "-video_size",
            f"{desc.width}x{desc.height}",
            "-framerate",
            str(desc.fps),
            "-i",
            file_url(path),
        ]
    return ["-i", file_url(path)]


def decoded_sha256(ffmpeg: str, args: list[str], pix_fmt: str | None, path: Path) -> str:
    """sha256 over the decoded raw frames (ffmpeg's hash muxer over rawvideo)."""
    out = _run_ffmpeg(frame_hash_argv(ffmpeg, args, pix_fmt), "decode", path)
    match = re.search(rb"SHA256=([0-9a-f]{64})", out)
    if not match:
        raise InputError("ffmpeg printed no frame hash", path=path)
    return match.group(1).decode()


# --------------------------------------------------------------------------- describing sources


@dataclass
class SourceInfo:
    container: str
    width: int | None
    height: int | None
    pix_fmt: str | None
    fps: Any
    fps_source: str
    n_frames: int | None
    y4m_header: str | None = None
    y4m_plain_frames: bool = False
    frames_sha256: str | None = None  # sha256 of the frame payloads, computed here (y4m/yuv)


def parse_raw_name(name: str) -> tuple[int, int, float, str, str]:
    """(width, height, fps, pix_fmt, fps_source) from a raw file name."""
    found = geometry_from_name(name)
    if "width" not in found:
        raise InputError("raw .yuv name carries no WxH geometry (e.g. clip_1920x1080_25fps.yuv)", path=name)
    fps = found.get("fps", DEFAULT_RAW_FPS)
    fps = int(fps) if float(fps).is_integer() else float(fps)
    return (
        found["width"],
        found["height"],
        fps,
        found.get("pix_fmt", DEFAULT_RAW_PIX_FMT),
        "name" if "fps" in found else "default",
    )


def _parse_y4m(path: Path) -> SourceInfo:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        header = handle.readline(4096)
        y4m = parse_y4m_header(header, path)
        width, height, pix_fmt = y4m.width, y4m.height, y4m.pix_fmt
        fps = f"{y4m.fps_num}/{y4m.fps_den}"
        size = raw_frame_size(width, height, pix_fmt)
        n_frames = 0
        plain = True
        while True:
            marker = handle.readline(4096)
            if not marker:
                break
            if not marker.startswith(b"FRAME") or not marker.endswith(b"\n"):
                raise InputError(f"y4m frame {n_frames} has no FRAME marker (truncated or corrupt)", path=path)
            plain = plain and marker == b"FRAME\n"
            remaining = size
            while remaining:
                block = handle.read(min(remaining, CHUNK))
                if not block:
                    raise InputError(f"y4m frame {n_frames} is truncated", path=path)
                digest.update(block)
                remaining -= len(block)
            n_frames += 1
    if n_frames == 0:
        raise InputError("y4m file holds no frames", path=path)
    return SourceInfo(
        "y4m", width, height, pix_fmt, fps, "y4m", n_frames, header[:-1].decode("latin-1"), plain, digest.hexdigest()
    )


def _probe_container(ffmpeg: str, path: Path) -> SourceInfo:
    proc = subprocess.run(probe_argv(ffmpeg, path), capture_output=True, check=False)
    stream = parse_video_stream(proc.stderr.decode("utf-8", "replace"))
    if stream is None:
        raise InputError("ffmpeg finds no video stream in it", path=path)
    fps = None if stream["fps_assumed"] else stream["fps"]
    return SourceInfo(
        path.suffix.lower().lstrip("."), stream["width"], stream["height"], stream["pix_fmt"], fps, "probe", None
    )


def describe_source(ffmpeg: str, path: Path) -> SourceInfo:
    suffix = path.suffix.lower()
    if suffix in Y4M_SUFFIXES:
        return _parse_y4m(path)
    if suffix in RAW_SUFFIXES:
        width, height, fps, pix_fmt, fps_source = parse_raw_name(path.name)
        size = raw_frame_size(width, height, pix_fmt)
        total = path.stat().st_size
        if total == 0 or total % size:
            raise InputError(
                f"size {total} is not a whole number of {width}x{height} {pix_fmt} frames ({size} bytes each)",
                path=path,
            )
        return SourceInfo(
            "yuv", width, height, pix_fmt, fps, fps_source, total // size, frames_sha256=sha256_file(path)
        )
    return _probe_container(ffmpeg, path)


def find_sources(ref_dir: Path) -> list[Path]:
    if not ref_dir.is_dir():
        raise InputError("is not a folder", path=ref_dir)
    found = []
    for root, dirnames, filenames in os.walk(ref_dir):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(root) / name
            if name.startswith(".") or path.is_symlink() and not path.is_file():
                continue
            if path.suffix.lower() in (*RAW_SUFFIXES, *Y4M_SUFFIXES, *CONTAINER_SUFFIXES):
                found.append(path)
    if not found:
        raise InputError("holds no reference clips (.y4m, .yuv or a video container)", path=ref_dir)
    return found


# --------------------------------------------------------------------------- pack


def _publish(tmp: Path, target: Path) -> None:
    """Rename a finished temp file into place with ordinary permissions (mkstemp makes 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o644 & ~umask)
    os.replace(tmp, target)


@contextlib.contextmanager
def _temp_path(folder: Path, name: str, suffix: str = ".tmp") -> Iterator[Path]:
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=suffix, dir=folder)
    os.close(fd)
    try:
        yield Path(tmp)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _safe_rel(name: str) -> str:
    from vmafkit.bundle import UnsafeBundle, safe_member_name

    try:
        return safe_member_name(name)
    except UnsafeBundle:
        raise InputError(f"manifest entry name {name!r} is not a plain relative path; refused") from None


def _read_manifest(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise InputError("not found: not a packed corpus (no manifest.jsonl)", path=path)
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError as exc:
            raise InputError(f"line {number}: malformed JSON: {exc}", path=path) from None
        missing = [k for k in ("name", "packed", "method", "sha256", "packed_sha256", "container") if k not in entry]
        if missing:
            raise InputError(f"line {number}: missing keys {', '.join(missing)}", path=path)
        if entry.get("schema_version") != SCHEMA_VERSION:
            raise InputError(
                f"line {number}: schema_version {entry.get('schema_version')!r}, expected {SCHEMA_VERSION}", path=path
            )
        entries.append(entry)
    return entries


def pack_corpus(
    ref_dir: str | Path, corpus_dir: str | Path, *, ffmpeg: str | None = None, log=lambda msg: None
) -> list[dict[str, Any]]:
    """Pack every clip under REF_DIR into CORPUS_DIR (see the module docstring); returns the
    manifest entries. Re-running reuses entries whose original and packed bytes are unchanged."""
    ref_dir, corpus_dir = Path(ref_dir), Path(corpus_dir)
    sources = find_sources(ref_dir)
    if corpus_dir.resolve() == ref_dir.resolve() or ref_dir.resolve() in corpus_dir.resolve().parents:
        raise InputError("--out must not be inside --ref-dir", path=corpus_dir)
    ffmpeg = ffmpeg or ffmpeg_exe()
    version = ffmpeg_version(ffmpeg)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(corpus_dir):
        previous: dict[str, dict[str, Any]] = {}
        if (corpus_dir / MANIFEST).is_file():
            try:
                previous = {e["name"]: e for e in _read_manifest(corpus_dir / MANIFEST)}
            except InputError:
                previous = {}
        entries = []
        for path in sources:
            rel = path.relative_to(ref_dir).as_posix()
            original_sha = sha256_file(path)
            old = previous.get(rel)
            if old and old.get("sha256") == original_sha and old.get("ffmpeg_version") == version:
                packed = corpus_dir / old["packed"]
                if packed.is_file() and sha256_file(packed) == old["packed_sha256"]:
                    log(f"kept   {rel}")
                    entries.append(old)
                    continue
            entries.append(_pack_one(ffmpeg, version, path, rel, original_sha, corpus_dir))
            log(f"packed {rel} -> {entries[-1]['packed']} ({entries[-1]['method']})")
        packed_names = [e["packed"] for e in entries]
        if len(set(packed_names)) != len(packed_names):
            raise InputError("two sources pack to the same name; rename one", path=ref_dir)
        text = "".join(dumps_json(e, indent=None) + "\n" for e in sorted(entries, key=lambda e: e["name"]))
        atomic_write_text(corpus_dir / MANIFEST, text)
    return entries


def _pack_one(ffmpeg: str, version: str, path: Path, rel: str, original_sha: str, corpus_dir: Path) -> dict[str, Any]:
    desc = describe_source(ffmpeg, path)
    entry: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "name": rel,
        "original_file": path.name,
        "container": desc.container,
        "size": path.stat().st_size,
        "sha256": original_sha,
        "width": desc.width,
        "height": desc.height,
        "pix_fmt": desc.pix_fmt,
        "fps": desc.fps,
        "fps_source": desc.fps_source,
        "n_frames": desc.n_frames,
        "ffmpeg_version": version,
        "y4m_header": desc.y4m_header,
    }
    if desc.container not in ("yuv", "y4m"):
        target = corpus_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        with _temp_path(target.parent, target.name) as tmp:
            shutil.copyfile(path, tmp)
            if sha256_file(tmp) != original_sha:
                raise InputError("changed while being copied; re-run", path=path)
            _publish(tmp, target)
        entry.update(
            method="copy",
            restore="copy",
            packed=rel,
            packed_size=target.stat().st_size,
            packed_sha256=original_sha,
            decoded_sha256=None,
        )
        return entry

    assert desc.pix_fmt is not None  # read from the y4m header or the raw name, never probed
    decoded = decoded_sha256(ffmpeg, _input_args(desc, path), desc.pix_fmt, path)
    if desc.frames_sha256 != decoded:
        # ffmpeg read other frames than the file holds (wrong geometry, odd header): refuse.
        raise InputError("ffmpeg's decoded frames differ from the file's frames; check the geometry", path=path)
    packed_rel = rel + ".mkv"
    target = corpus_dir / packed_rel
    target.parent.mkdir(parents=True, exist_ok=True)
    with _temp_path(target.parent, target.name) as tmp:
        _run_ffmpeg(ffv1_pack_argv(ffmpeg, _input_args(desc, path), desc.pix_fmt, tmp), "encode FFV1", path)
        roundtrip = decoded_sha256(ffmpeg, ["-i", file_url(tmp)], desc.pix_fmt, path)
        if roundtrip != decoded:
            raise InputError("FFV1 round trip changed the frames; not packed", path=path)
        packed_sha = sha256_file(tmp)
        _publish(tmp, target)
    if desc.container == "yuv":
        restore = "raw"
    else:
        restore = "y4m-exact" if desc.y4m_plain_frames else "y4m-ffmpeg"
    entry.update(
        method="ffv1",
        restore=restore,
        packed=packed_rel,
        packed_size=target.stat().st_size,
        packed_sha256=packed_sha,
        decoded_sha256=decoded,
    )
    return entry


# --------------------------------------------------------------------------- extract


def extract_corpus(
    corpus_dir: str | Path, ref_dir: str | Path, *, ffmpeg: str | None = None, log=lambda msg: None
) -> list[Path]:
    """Restore every clip of a packed corpus under REF_DIR, verified, all or nothing (see the
    module docstring)."""
    corpus_dir, ref_dir = Path(corpus_dir), Path(ref_dir)
    entries = _read_manifest(corpus_dir / MANIFEST)
    if not entries:
        raise InputError("manifest.jsonl lists no clips", path=corpus_dir)
    ffmpeg = ffmpeg or ffmpeg_exe()
    # 1. Everything that can be checked without writing, for every entry, before writing anything.
    written: list[Path] = []
    todo: list[tuple[dict[str, Any], str, Path, Path]] = []
    seen: set[str] = set()
    for entry in entries:
        rel = _safe_rel(entry["name"])
        if rel in seen:
            raise InputError(f"manifest.jsonl lists {rel!r} twice", path=corpus_dir)
        seen.add(rel)
        packed = corpus_dir / _safe_rel(entry["packed"])
        target = ref_dir / rel
        if target.is_file():
            if sha256_file(target) == entry["sha256"]:
                log(f"kept   {rel} (already there, sha256 matches)")
                written.append(target)
                continue
            raise InputError("already exists with other content; refusing to overwrite it", path=target)
        if target.exists() or target.is_symlink():
            raise InputError("already exists and is not a file; refusing to overwrite it", path=target)
        if not packed.is_file():
            raise InputError("packed file is missing", path=packed)
        if sha256_file(packed) != entry["packed_sha256"]:
            raise InputError(
                "packed file's sha256 does not match manifest.jsonl (corrupt or edited); refused", path=packed
            )
        todo.append((entry, rel, packed, target))
    if not todo:
        return written
    # 2. Restore and verify each clip in a staging folder; 3. rename them all into place.
    made = _missing_folders(ref_dir)
    ref_dir.mkdir(parents=True, exist_ok=True)
    sweep_stale_staging(ref_dir)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=ref_dir))
    lock = open(staging / STAGING_LOCK, "wb")
    published: list[Path] = []
    done = False
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        staged = []
        for number, (entry, rel, packed, target) in enumerate(todo):
            tmp = staging / f"{number:06d}.tmp"
            _restore(ffmpeg, entry, packed, tmp)
            staged.append((tmp, entry, rel, target))
        for tmp, entry, rel, target in staged:
            for folder in reversed(_missing_folders(target.parent)):
                folder.mkdir()
                made.append(folder)
            if target.exists() or target.is_symlink():  # appeared while we were restoring
                raise InputError("appeared while extracting; refusing to overwrite it", path=target)
            _publish(tmp, target)
            published.append(target)
            log(f"restored {rel} ({entry['restore']}, verified)")
            written.append(target)
        done = True
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        lock.close()
        if not done:  # refused or interrupted: take back every clip and folder this call made
            for target in published:
                with contextlib.suppress(OSError):
                    target.unlink()
            for folder in sorted(set(made), key=lambda p: len(p.parts), reverse=True):
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only when empty: never a folder that holds anything else
    return written


def _missing_folders(folder: Path) -> list[Path]:
    """`folder` and those of its parents that do not exist yet, innermost first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def sweep_stale_staging(ref_dir: Path, *, now: float | None = None) -> list[str]:
    """Remove the staging folders of killed extracts (lock free, not brand new); a live extract's
    is kept. Returns the names removed."""
    now = time.time() if now is None else now
    removed = []
    for folder in sorted(ref_dir.glob(f"{STAGING_PREFIX}*")):
        if not folder.is_dir() or folder.is_symlink():
            continue
        try:
            handle = open(folder / STAGING_LOCK, "rb")
        except OSError:
            handle = None
        try:
            if handle is not None:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue  # a live extract
            if now - folder.lstat().st_mtime >= STALE_STAGING_AGE_S:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder.name)
        finally:
            if handle is not None:
                handle.close()
    return removed


def _restore(ffmpeg: str, entry: dict[str, Any], packed: Path, tmp: Path) -> None:
    restore = entry.get("restore")
    name = entry["name"]
    if restore == "copy":
        shutil.copyfile(packed, tmp)
        if sha256_file(tmp) != entry["sha256"]:
            raise InputError("copy does not match its sha256; refused", path=name)
        return
    pix_fmt = entry.get("pix_fmt")
    if pix_fmt not in RAW_LAYOUTS or restore not in ("raw", "y4m-exact", "y4m-ffmpeg"):
        raise InputError(f"manifest entry has an unknown restore {restore!r} or pix_fmt {pix_fmt!r}", path=name)
    if restore == "y4m-ffmpeg":
        _run_ffmpeg(decode_to_y4m_argv(ffmpeg, packed, pix_fmt, tmp), "decode", packed)
        if decoded_sha256(ffmpeg, ["-i", file_url(tmp)], pix_fmt, tmp) != entry["decoded_sha256"]:
            raise InputError("decoded frames do not match decoded_sha256; refused", path=name)
        return
    size = raw_frame_size(int(entry["width"]), int(entry["height"]), pix_fmt)
    argv = decode_raw_to_stdout_argv(ffmpeg, packed, pix_fmt)
    frames_digest, file_digest = hashlib.sha256(), hashlib.sha256()
    n_frames = 0
    with open(tmp, "wb") as out, subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None  # both are PIPEs

        def write(data: bytes) -> None:
            out.write(data)
            file_digest.update(data)

        if restore == "y4m-exact":
            write(str(entry["y4m_header"]).encode("latin-1") + b"\n")
        while True:
            frame = proc.stdout.read(size)
            if not frame:
                break
            if len(frame) != size:
                proc.kill()
                raise InputError("decoder returned a partial frame; refused", path=name)
            frames_digest.update(frame)
            if restore == "y4m-exact":
                write(b"FRAME\n")
            write(frame)
            n_frames += 1
        err = proc.stderr.read()
        proc.wait()
        if proc.returncode != 0:
            raise InputError(f"ffmpeg failed to decode: {err.decode('utf-8', 'replace').strip()[-200:]}", path=packed)
        out.flush()
        os.fsync(out.fileno())
    if frames_digest.hexdigest() != entry["decoded_sha256"]:
        raise InputError("decoded frames do not match decoded_sha256 in manifest.jsonl; refused", path=name)
    if file_digest.hexdigest() != entry["sha256"]:
        raise InputError("restored bytes do not match the original's sha256; refused", path=name)
    if entry.get("n_frames") is not None and n_frames != entry["n_frames"]:
        raise InputError(f"decoded {n_frames} frames, manifest says {entry['n_frames']}; refused", path=name)


__all__ = [
    "SourceInfo",
    "decoded_sha256",
    "describe_source",
    "extract_corpus",
    "ffmpeg_exe",
    "find_sources",
    "pack_corpus",
    "parse_raw_name",
]
