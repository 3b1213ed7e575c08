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

Which files are clips, and a clip's geometry, fps and pixel format, are `vmafkit.media.sources`'
(raw ``.yuv``: ``WxH`` in the name, e.g. ``_480x270_``, ``NNfps`` (default 25, recorded as
``fps_source: default``) and an optional pix_fmt token ``.yuv420p10le.``, default yuv420p);
every ffmpeg command line and process is `vmafkit.media.ffmpeg`'s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmafkit.errors import InputError
from vmafkit.io import CHUNK, atomic_write_text, dumps_json, exclusive_lock, sha256_file
from vmafkit.media import ffmpeg as ffm
from vmafkit.media.sources import (
    RAW_LAYOUTS,
    RAW_SUFFIXES,
    Y4M_SUFFIXES,
    Source,
    describe_source,
    media_files,
    parse_y4m_header,
    raw_frame_size,
)

SCHEMA_VERSION = 1
MANIFEST = "manifest.jsonl"
STAGING_PREFIX = ".vmafkit-extract-"
STAGING_LOCK = ".lock"
STALE_STAGING_AGE_S = 2.0  # a staging folder is locked within microseconds of being made


# --------------------------------------------------------------------------- ffmpeg


def ffmpeg_exe() -> str:
    return _find_ffmpeg(None).path


def _find_ffmpeg(ffmpeg: str | None) -> ffm.Ffmpeg:
    return ffm.find_ffmpeg(ffmpeg, require_libvmaf=False)  # packing needs no libvmaf


def _run_ffmpeg(argv: list[str], what: str, path: Path) -> str:
    result = ffm.run_ffmpeg(argv)
    if result.returncode != 0:
        raise InputError(f"ffmpeg failed to {what}: {ffm.last_error_line(result.stderr)}", path=path)
    return result.stdout


def decoded_sha256(ffmpeg: str, args: list[str], pix_fmt: str | None, path: Path) -> str:
    """sha256 over the decoded raw frames (ffmpeg's hash muxer over rawvideo)."""
    out = _run_ffmpeg(ffm.frame_hash_argv(ffmpeg, args, pix_fmt), "decode", path)
    match = re.search(r"SHA256=([0-9a-f]{64})", out)
    if not match:
        raise InputError("ffmpeg printed no frame hash", path=path)
    return match.group(1)


# --------------------------------------------------------------------------- what the manifest records


@dataclass
class Packable:
    """A reference clip (media's `Source`) and what the manifest records beyond it."""

    source: Source
    container: str  # y4m | yuv | the container's suffix
    fps: Any  # "num/den" for y4m (its header's), a number for raw, None when a container's is unknown
    fps_source: str  # y4m | name | default | probe
    y4m_header: str | None = None
    y4m_plain_frames: bool = False
    frames_sha256: str | None = None  # sha256 of the frame payloads (y4m / raw), checked against the decode


def _walk_y4m(path: Path) -> tuple[str, str, int, bool, str]:
    """(header line, "num/den", frame count, every marker a plain FRAME, sha256 of the frame
    payloads) of a y4m file, reading every frame: a missing marker or a short frame is refused."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        header = handle.readline(4096)
        y4m = parse_y4m_header(header, path)
        size = raw_frame_size(y4m.width, y4m.height, y4m.pix_fmt)
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
    return header[:-1].decode("latin-1"), f"{y4m.fps_num}/{y4m.fps_den}", n_frames, plain, digest.hexdigest()


def describe_packable(ff: ffm.Ffmpeg, path: Path) -> Packable:
    source = describe_source(path, ff=ff)
    suffix = path.suffix.lower()
    if suffix in Y4M_SUFFIXES:
        header, rate, n_frames, plain, frames_sha = _walk_y4m(path)
        source = dataclasses.replace(source, frames=n_frames)
        return Packable(source, "y4m", rate, "y4m", header, plain, frames_sha)
    if suffix in RAW_SUFFIXES:  # the file is its frames; geometry and fps from the name
        fps = int(source.fps) if float(source.fps).is_integer() else source.fps
        return Packable(source, "yuv", fps, "default" if source.fps_assumed else "name", frames_sha256=source.sha256)
    return Packable(source, suffix.lstrip("."), None if source.fps_assumed else source.fps, "probe")


def find_clips(ref_dir: Path) -> list[Path]:
    """Every reference clip under `ref_dir`, recursively (media's `media_files`)."""
    if not ref_dir.is_dir():
        raise InputError("is not a folder", path=ref_dir)
    found = media_files(ref_dir, recursive=True)
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
    sources = find_clips(ref_dir)
    if corpus_dir.resolve() == ref_dir.resolve() or ref_dir.resolve() in corpus_dir.resolve().parents:
        raise InputError("--out must not be inside --ref-dir", path=corpus_dir)
    ff = _find_ffmpeg(ffmpeg)
    version = ff.version
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
            entries.append(_pack_one(ff, path, rel, original_sha, corpus_dir))
            log(f"packed {rel} -> {entries[-1]['packed']} ({entries[-1]['method']})")
        packed_names = [e["packed"] for e in entries]
        if len(set(packed_names)) != len(packed_names):
            raise InputError("two sources pack to the same name; rename one", path=ref_dir)
        text = "".join(dumps_json(e, indent=None) + "\n" for e in sorted(entries, key=lambda e: e["name"]))
        atomic_write_text(corpus_dir / MANIFEST, text)
    return entries


def _pack_one(ff: ffm.Ffmpeg, path: Path, rel: str, original_sha: str, corpus_dir: Path) -> dict[str, Any]:
    clip = describe_packable(ff, path)
    source = clip.source
    entry: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "name": rel,
        "original_file": path.name,
        "container": clip.container,
        "size": path.stat().st_size,
        "sha256": original_sha,
        "width": source.width,
        "height": source.height,
        "pix_fmt": source.pix_fmt,
        "fps": clip.fps,
        "fps_source": clip.fps_source,
        "n_frames": source.frames,
        "ffmpeg_version": ff.version,
        "y4m_header": clip.y4m_header,
    }
    if clip.frames_sha256 is None:  # a compressed container: shipped as it is
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

    decoded = decoded_sha256(ff.path, source.input_spec.args(), source.pix_fmt, path)
    if clip.frames_sha256 != decoded:
        # ffmpeg read other frames than the file holds (wrong geometry, odd header): refuse.
        raise InputError("ffmpeg's decoded frames differ from the file's frames; check the geometry", path=path)
    packed_rel = rel + ".mkv"
    target = corpus_dir / packed_rel
    target.parent.mkdir(parents=True, exist_ok=True)
    with _temp_path(target.parent, target.name) as tmp:
        _run_ffmpeg(ffm.ffv1_pack_argv(ff.path, source.input_spec.args(), source.pix_fmt, tmp), "encode FFV1", path)
        roundtrip = decoded_sha256(ff.path, ffm.file_input_args(tmp), source.pix_fmt, path)
        if roundtrip != decoded:
            raise InputError("FFV1 round trip changed the frames; not packed", path=path)
        packed_sha = sha256_file(tmp)
        _publish(tmp, target)
    if clip.container == "yuv":
        restore = "raw"
    else:
        restore = "y4m-exact" if clip.y4m_plain_frames else "y4m-ffmpeg"
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
    ffmpeg = _find_ffmpeg(ffmpeg).path
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
        _run_ffmpeg(ffm.decode_to_y4m_argv(ffmpeg, packed, pix_fmt, tmp), "decode", packed)
        if decoded_sha256(ffmpeg, ffm.file_input_args(tmp), pix_fmt, tmp) != entry["decoded_sha256"]:
            raise InputError("decoded frames do not match decoded_sha256; refused", path=name)
        return
    size = raw_frame_size(int(entry["width"]), int(entry["height"]), pix_fmt)
    frames_digest, file_digest = hashlib.sha256(), hashlib.sha256()
    n_frames = 0
    with open(tmp, "wb") as out, ffm.stream_ffmpeg(ffm.decode_raw_to_stdout_argv(ffmpeg, packed, pix_fmt)) as decoder:

        def write(data: bytes) -> None:
            out.write(data)
            file_digest.update(data)

        if restore == "y4m-exact":
            write(str(entry["y4m_header"]).encode("latin-1") + b"\n")
        while True:
            frame = decoder.stdout.read(size)
            if not frame:
                break
            if len(frame) != size:
                raise InputError("decoder returned a partial frame; refused", path=name)
            frames_digest.update(frame)
            if restore == "y4m-exact":
                write(b"FRAME\n")
            write(frame)
            n_frames += 1
        result = decoder.finish()
        if result.returncode != 0:
            raise InputError(f"ffmpeg failed to decode: {ffm.last_error_line(result.stderr)}", path=packed)
        out.flush()
        os.fsync(out.fileno())
    if frames_digest.hexdigest() != entry["decoded_sha256"]:
        raise InputError("decoded frames do not match decoded_sha256 in manifest.jsonl; refused", path=name)
    if file_digest.hexdigest() != entry["sha256"]:
        raise InputError("restored bytes do not match the original's sha256; refused", path=name)
    if entry.get("n_frames") is not None and n_frames != entry["n_frames"]:
        raise InputError(f"decoded {n_frames} frames, manifest says {entry['n_frames']}; refused", path=name)


__all__ = [
    "Packable",
    "decoded_sha256",
    "describe_packable",
    "extract_corpus",
    "ffmpeg_exe",
    "find_clips",
    "pack_corpus",
    "sweep_stale_staging",
]
