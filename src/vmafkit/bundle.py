"""Bundle a run's results, verify a bundle, extract it safely, compare two sites' bundles.

Bundle layout (a deterministic ``.tar.gz``; no directory members, regular files only)::

    manifest.json      {schema_version, verdict, verdict_file, generated_at_utc,
                        files[{path, size, sha256}], n_files, excluded[{path, reason}]}
    environment.json   host, platform family, Python + package versions, ffmpeg/libvmaf
                       versions and encoders (as given by the caller)
    <every selected file of OUT, at its path relative to OUT>

``manifest.files`` lists every member except ``manifest.json`` itself (so it includes
``environment.json``); ``n_files == len(files)``.

What goes in (the selection rule): every regular file under OUT, except

* hidden names (a path component starting with ``.``): locks (``.vmafkit.lock``), the atomic
  writers' temp files (``.name.XXXX.tmp``), ``.cache``, ``.git``, ...;
* ``*.tmp``, ``*.lock``, ``*.partial``, ``*.pyc`` files and ``*.tar.gz`` / ``*.tgz`` files
  (earlier bundles, kit tarballs);
* cache folders: any folder named ``cache``, ``cells``, ``cell_cache``, ``tmp``, ``__pycache__``;
* symlinks and non-regular files (never followed);
* ``manifest.json`` / ``environment.json`` at OUT's top (regenerated; an existing
  ``OUT/environment.json`` is read and its keys are kept in the new record);
* the tarball being written (not listed in ``excluded`` either);
* stale artefacts, see below. Every exclusion is listed in ``manifest.excluded`` with its reason.

Staleness (a stale verdict or export is never bundled):

* exactly one verdict file (``PROMOTE.json`` or ``HOLD.json``) must be selected; none, two
  (e.g. a ``PROMOTE.json`` next to a ``HOLD.json``) or a file whose ``verdict`` key disagrees
  with its name -> refused (exit 2);
* every ``loso_seed{N}.json`` must be the one the verdict read: when the verdict's
  ``run_provenance.inputs`` records its sha256, the hashes must match; without a recorded hash,
  a seed report newer than the verdict (mtime) makes the verdict stale -> refused (exit 2). A
  seed report whose seed is not in the verdict's ``seeds`` list is left out (an earlier run's);
* the corpus file named by the verdict's ``corpus`` fingerprint (``path`` or
  ``per_frame_canonical6.jsonl``), when bundled, must have the fingerprint's ``sha256`` -> else
  refused (exit 2);
* exports (``*.onnx`` and their sidecars ``X.json`` / ``X.onnx.json`` / ``X.sidecar.json`` /
  ``X_sidecar.json``): left out next to a HOLD verdict; next to PROMOTE, left out when the
  sidecar's ``verdict.sha256`` is not the bundled verdict file's sha256, else (no such key) when
  its ``corpus`` fingerprint's sha256 differs from the verdict's, else (neither) when the
  ``.onnx`` is older than the verdict. ``*_calibration.json`` files carrying ``verdict_sha256`` /
  ``corpus_sha256`` follow the same rule, and a ``registry.json`` in a folder where anything
  was left out as stale is left out too.

The same OUT gives the same bytes: sorted names, mtime/uid/gid/uname fixed, gzip mtime 0, and
``generated_at_utc`` taken from the verdict file (unless the caller passes one).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import platform as _platform
import re
import shutil
import socket
import tarfile
import tempfile
import zlib
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from .errors import InputError
from .io import CHUNK, atomic_output, dumps_json, read_json, sha256_file
from .thresholds import PLCC_SPREAD_MAX

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
ENVIRONMENT = "environment.json"
RESERVED_TOP = (MANIFEST, ENVIRONMENT)
VERDICT_FILES = {"PROMOTE.json": "PROMOTE", "HOLD.json": "HOLD"}
CORPUS_FILENAME = "per_frame_canonical6.jsonl"
SEED_REPORT_RE = re.compile(r"^loso_seed(\d+)\.json$")

EXCLUDED_DIR_NAMES = frozenset({"cache", "cells", "cell_cache", "tmp", "__pycache__"})
EXCLUDED_SUFFIXES = (".tmp", ".lock", ".partial", ".pyc", ".tar.gz", ".tgz")
SIDECAR_PATTERNS = ("{stem}.json", "{stem}.onnx.json", "{stem}.sidecar.json", "{stem}_sidecar.json")

FIXED_MTIME = 315532800  # 1980-01-01T00:00:00Z, what zip tools accept too
FILE_MODE = 0o644

DEFAULT_MAX_TOTAL_BYTES = 8 << 30  # 8 GiB uncompressed
DEFAULT_MAX_MEMBERS = 100_000
CAPTURE_MAX_BYTES = 64 << 20  # JSON members compare/verify keep in memory

DEFAULT_TOLERANCE = PLCC_SPREAD_MAX  # two sites agree within the gate's own spread limit
DEFAULT_BOOTSTRAP = 2000
DEFAULT_CONFIDENCE = 0.95
DEFAULT_BOOTSTRAP_SEED = 0


# --------------------------------------------------------------------------- selection


@dataclass
class Selection:
    out_dir: Path
    files: dict[str, Path]  # relpath (posix) -> path on disk
    excluded: list[dict[str, str]]
    verdict_rel: str
    verdict: dict[str, Any]

    @property
    def verdict_name(self) -> str:
        return VERDICT_FILES[PurePosixPath(self.verdict_rel).name]


def _exclude_reason(rel: str, is_top: bool) -> str | None:
    parts = rel.split("/")
    name = parts[-1]
    if any(part.startswith(".") for part in parts):
        return "hidden file (lock, temp file or cache)"
    if any(part in EXCLUDED_DIR_NAMES for part in parts[:-1]):
        return "cache or temp folder"
    if name.endswith(EXCLUDED_SUFFIXES):
        return "temp, lock or archive file"
    if is_top and name in RESERVED_TOP:
        return "reserved name (regenerated in the bundle)"
    return None


def _walk(out_dir: Path, skip: set[Path]) -> tuple[dict[str, Path], list[dict[str, str]]]:
    files: dict[str, Path] = {}
    excluded: list[dict[str, str]] = []
    for root, dirnames, filenames in os.walk(out_dir, topdown=True, followlinks=False):
        root_path = Path(root)
        rel_root = root_path.relative_to(out_dir).as_posix()
        prefix = "" if rel_root == "." else rel_root + "/"
        kept_dirs = []
        for name in sorted(dirnames):
            full = root_path / name
            rel = prefix + name
            if full.is_symlink():
                excluded.append({"path": rel, "reason": "symlink (never followed)"})
            elif name.startswith(".") or name in EXCLUDED_DIR_NAMES:
                excluded.append({"path": rel + "/", "reason": "cache, temp or hidden folder"})
            else:
                kept_dirs.append(name)
        dirnames[:] = kept_dirs
        for name in sorted(filenames):
            full = root_path / name
            rel = prefix + name
            if full.is_symlink():
                excluded.append({"path": rel, "reason": "symlink (never followed)"})
                continue
            if not full.is_file():
                excluded.append({"path": rel, "reason": "not a regular file"})
                continue
            if full.resolve() in skip:  # the bundle being written: not content, not listed either,
                continue  # so bundling into OUT twice gives the same bytes
            reason = _exclude_reason(rel, is_top=(prefix == ""))
            if reason:
                excluded.append({"path": rel, "reason": reason})
            else:
                files[rel] = full
    return files, excluded


def _provenance_hashes(verdict: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(path, sha256) of the verdict's recorded inputs that carry a hash."""
    prov = verdict.get("run_provenance")
    out = []
    if isinstance(prov, Mapping):
        for entry in prov.get("inputs") or []:
            if isinstance(entry, Mapping) and entry.get("sha256") and entry.get("path"):
                out.append((str(entry["path"]).replace("\\", "/"), str(entry["sha256"])))
    return out


def _recorded_hash(rel: str, recorded: list[tuple[str, str]]) -> str | None:
    for path, digest in recorded:
        if path == rel or path.endswith("/" + rel):
            return digest
    return None


def _fingerprint_key(value: Any) -> Any:
    if isinstance(value, Mapping) and value.get("sha256"):
        return value["sha256"]
    return value


def _seed_list(verdict: Mapping[str, Any]) -> set[int] | None:
    seeds = verdict.get("seeds")
    if isinstance(seeds, list) and seeds and all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        return set(seeds)
    return None


def _json_or_none(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _exclude_stale_exports(files: dict[str, Path], excluded: list[dict[str, str]], verdict_name: str,
                           verdict_rel: str, verdict_path: Path, verdict_mtime: int, corpus: Any,
                           hasher: Callable[[Path], str]) -> None:
    """Leave out exports that do not derive from this verdict (see the module docstring)."""
    verdict_sha = hasher(verdict_path)
    verdict_fp = _fingerprint_key(corpus)
    stale_dirs: set[str] = set()

    def drop(rel: str, reason: str) -> None:
        if rel in files:
            excluded.append({"path": rel, "reason": reason})
            del files[rel]
            stale_dirs.add(str(PurePosixPath(rel).parent))

    for rel in sorted(r for r in files if r.endswith(".onnx")):
        stem = rel[: -len(".onnx")]
        sidecars = [p.format(stem=stem) for p in SIDECAR_PATTERNS]
        sidecars = [s for s in sidecars if s in files and s != verdict_rel]
        reason = None
        if verdict_name != "PROMOTE":
            reason = f"export next to a {verdict_name} verdict (stale, from an earlier run)"
        else:
            datas = [d for d in (_json_or_none(files[s]) for s in sidecars) if isinstance(d, Mapping)]
            verdict_shas = [d["verdict"].get("sha256") for d in datas
                            if isinstance(d.get("verdict"), Mapping) and d["verdict"].get("sha256")]
            fps = [_fingerprint_key(d.get("corpus", d.get("corpus_fingerprint"))) for d in datas
                   if d.get("corpus", d.get("corpus_fingerprint")) is not None]
            if verdict_shas:
                if any(v != verdict_sha for v in verdict_shas):
                    reason = "export made from another verdict (stale)"
            elif fps and verdict_fp is not None:
                if any(fp != verdict_fp for fp in fps):
                    reason = "export of another corpus than the verdict's (stale)"
            elif files[rel].stat().st_mtime_ns < verdict_mtime:
                reason = "export older than the verdict (stale)"
        if reason:
            for member in [rel, *sidecars]:
                drop(member, reason)

    for rel in sorted(r for r in files if r.endswith("_calibration.json")):
        data = _json_or_none(files[rel])
        if not isinstance(data, Mapping) or not ("verdict_sha256" in data or "corpus_sha256" in data):
            continue  # not an export's calibration file
        if verdict_name != "PROMOTE":
            drop(rel, f"export calibration next to a {verdict_name} verdict (stale)")
        elif data.get("verdict_sha256") not in (None, verdict_sha):
            drop(rel, "export calibration made from another verdict (stale)")
        elif data.get("corpus_sha256") not in (None, verdict_fp):
            drop(rel, "export calibration of another corpus (stale)")

    for rel in sorted(r for r in files if PurePosixPath(r).name == "registry.json"):
        if str(PurePosixPath(rel).parent) in stale_dirs:
            drop(rel, "registry beside stale exports")


class _Hasher:
    """sha256 of a file, computed once per (path, size, mtime) within one bundling."""

    def __init__(self) -> None:
        self.cache: dict[tuple[str, int, int], str] = {}

    def __call__(self, path: Path) -> str:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        if key not in self.cache:
            self.cache[key] = sha256_file(path)
        return self.cache[key]


def select_files(out_dir: str | Path, *, skip: Iterable[str | Path] = (), hasher: Callable[[Path], str] | None = None
                 ) -> Selection:
    """Apply the selection and staleness rules of the module docstring; refuse (exit 2) on a
    missing, doubled or stale verdict."""
    hasher = hasher or _Hasher()
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise InputError("is not a folder", path=out_dir)
    files, excluded = _walk(out_dir, {Path(p).resolve() for p in skip})

    verdicts = sorted(rel for rel in files if PurePosixPath(rel).name in VERDICT_FILES)
    if not verdicts:
        raise InputError("holds no PROMOTE.json or HOLD.json; run the verdict step first", path=out_dir)
    if len(verdicts) > 1:
        raise InputError(
            f"holds more than one verdict ({', '.join(verdicts)}): one is stale; re-run the verdict step, "
            "which keeps exactly one",
            path=out_dir,
        )
    verdict_rel = verdicts[0]
    verdict_path = files[verdict_rel]
    verdict = read_json(verdict_path, what="verdict file")
    if not isinstance(verdict, dict):
        raise InputError("verdict file is not a JSON object", path=verdict_path)
    expected = VERDICT_FILES[PurePosixPath(verdict_rel).name]
    if verdict.get("verdict") != expected:
        raise InputError(f"says verdict {verdict.get('verdict')!r} but is named {expected}.json", path=verdict_path)
    verdict_mtime = verdict_path.stat().st_mtime_ns
    recorded = _provenance_hashes(verdict)

    # Every file the verdict recorded with a hash must be unchanged; seed reports without a
    # recorded hash must be older than the verdict; seed reports of other seeds are left out.
    seeds = _seed_list(verdict)
    for rel in sorted(files):
        match = SEED_REPORT_RE.match(PurePosixPath(rel).name)
        if match and seeds is not None and int(match.group(1)) not in seeds:
            excluded.append({"path": rel, "reason": f"seed {match.group(1)} is not among the verdict's seeds"})
            del files[rel]
            continue
        digest = _recorded_hash(rel, recorded)
        if digest is not None:
            if hasher(files[rel]) != digest:
                raise InputError(
                    f"{verdict_rel} is stale: {rel} changed after the verdict read it; re-run the verdict step",
                    path=out_dir,
                )
        elif match and files[rel].stat().st_mtime_ns > verdict_mtime:
            raise InputError(
                f"{verdict_rel} is stale: {rel} is newer than it; re-run the verdict step", path=out_dir
            )

    # The corpus the verdict's fingerprint pins, when it is bundled: matched by the tail of the
    # fingerprint's path, else by file name when exactly one bundled file has that name.
    corpus = verdict.get("corpus")
    if isinstance(corpus, Mapping) and corpus.get("sha256"):
        corpus_path = str(corpus.get("path") or CORPUS_FILENAME).replace("\\", "/")
        hits = [rel for rel in files if corpus_path == rel or corpus_path.endswith("/" + rel)]
        if not hits:
            same_name = [rel for rel in files if PurePosixPath(rel).name == PurePosixPath(corpus_path).name]
            hits = same_name if len(same_name) == 1 else []
        for rel in hits:
            if hasher(files[rel]) != corpus["sha256"]:
                raise InputError(
                    f"{verdict_rel} is stale: {rel} is not the corpus it was made from (sha256 differs); "
                    "re-run train and verdict",
                    path=out_dir,
                )

    # Exports: ONNX members + sidecars, the calibration file, and a registry beside stale ones.
    _exclude_stale_exports(files, excluded, expected, verdict_rel, verdict_path, verdict_mtime, corpus, hasher)

    excluded.sort(key=lambda item: item["path"])
    return Selection(out_dir, files, excluded, verdict_rel, verdict)


# --------------------------------------------------------------------------- environment


def package_versions(dist: str = "vmafkit") -> dict[str, str | None]:
    """{name: version or None} for `dist` and its runtime requirements."""
    names = [dist]
    try:
        requires = metadata.requires(dist) or []
    except metadata.PackageNotFoundError:
        requires = []
    for req in requires:
        if "extra ==" in req.replace('"', "").replace("'", ""):
            continue
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
        if match:
            names.append(match.group(1))
    out: dict[str, str | None] = {}
    for name in names:
        key = name.lower()
        try:
            out[key] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[key] = None
    return dict(sorted(out.items()))


def environment_record(extra_env: Mapping[str, Any] | None = None, platform_info: Any = None) -> dict[str, Any]:
    """The environment record: host, platform, Python, packages; `extra_env` keys go on top
    (recommended: ffmpeg_version, libvmaf_version, ffmpeg_path, encoders, encoder_versions)."""
    if platform_info is None:
        from .platform import detect

        platform_info = detect()
    plat = platform_info.to_dict() if hasattr(platform_info, "to_dict") else dict(platform_info)
    if isinstance(plat.get("signals"), dict):  # the full encoder list is noise here
        plat["signals"] = {k: v for k, v in plat["signals"].items() if k != "ffmpeg_encoders"}
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "host": {
            "hostname": socket.gethostname(),
            "system": _platform.system(),
            "release": _platform.release(),
            "machine": _platform.machine(),
            "cpu_count": os.cpu_count(),
        },
        "platform": plat,
        "python": {
            "version": _platform.python_version(),
            "implementation": _platform.python_implementation(),
        },
        "packages": package_versions(),
    }
    for key, value in (extra_env or {}).items():
        record[str(key)] = value
    return record


# --------------------------------------------------------------------------- writing


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = FIXED_MTIME
    info.mode = FILE_MODE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info


class _HashingReader(io.RawIOBase):
    def __init__(self, handle):
        self.handle = handle
        self.digest = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.digest.update(data)
        self.count += len(data)
        return data


def _utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_bundle(
    out_dir: str | Path,
    tarball: str | Path,
    *,
    extra_env: Mapping[str, Any] | None = None,
    generated_at_utc: str | None = None,
    platform_info: Any = None,
) -> Path:
    """Write `tarball` (atomically) from OUT per the module's rules; return its path."""
    out_dir = Path(out_dir)
    tarball = Path(tarball)
    if not tarball.name.endswith((".tar.gz", ".tgz")):
        raise InputError("bundle name must end in .tar.gz", path=tarball)
    hasher = _Hasher()
    selection = select_files(out_dir, skip=[tarball], hasher=hasher)

    env_extra: dict[str, Any] = {}
    existing_env = out_dir / ENVIRONMENT
    if existing_env.is_file() and not existing_env.is_symlink():
        loaded = read_json(existing_env, what="environment record")
        if isinstance(loaded, dict):
            env_extra.update(loaded)
    env_extra.update(extra_env or {})
    env = environment_record(None, platform_info)
    for key, value in env_extra.items():
        if key not in ("schema_version", "host", "platform", "python", "packages"):
            env[key] = value
    env_bytes = dumps_json(env).encode("utf-8")

    entries = [{"path": ENVIRONMENT, "size": len(env_bytes), "sha256": hashlib.sha256(env_bytes).hexdigest()}]
    for rel in sorted(selection.files):
        path = selection.files[rel]
        entries.append({"path": rel, "size": path.stat().st_size, "sha256": hasher(path)})
    entries.sort(key=lambda e: e["path"])
    stamp = generated_at_utc or str(selection.verdict.get("generated_at_utc") or "") or _utc_now()
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "verdict": selection.verdict_name,
        "verdict_file": selection.verdict_rel,
        "generated_at_utc": stamp,
        "files": entries,
        "n_files": len(entries),
        "excluded": selection.excluded,
    }
    manifest_bytes = dumps_json(manifest).encode("utf-8")

    with atomic_output(tarball, "wb") as handle:
        with gzip.GzipFile(filename="", mode="wb", fileobj=handle, mtime=0, compresslevel=6) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                tar.addfile(_tarinfo(MANIFEST, len(manifest_bytes)), io.BytesIO(manifest_bytes))
                for entry in entries:
                    rel = entry["path"]
                    if rel == ENVIRONMENT:
                        tar.addfile(_tarinfo(rel, len(env_bytes)), io.BytesIO(env_bytes))
                        continue
                    with open(selection.files[rel], "rb") as src:
                        reader = _HashingReader(src)
                        try:
                            tar.addfile(_tarinfo(rel, entry["size"]), reader)
                        except OSError as exc:  # the file shrank while we read it
                            raise InputError(f"changed while bundling ({exc}); re-run bundle", path=rel) from None
                        if reader.digest.hexdigest() != entry["sha256"] or src.read(1):
                            raise InputError("changed while bundling; re-run bundle", path=selection.files[rel])
    return tarball


# --------------------------------------------------------------------------- reading safely


class UnsafeBundle(InputError):
    """A hostile or oversized tarball: refused before anything is written (exit 2)."""


@dataclass(frozen=True)
class Limits:
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES
    max_members: int = DEFAULT_MAX_MEMBERS


class _LimitedReader(io.RawIOBase):
    """Caps the decompressed stream: a gzip bomb stops here whatever the tar headers claim."""

    def __init__(self, handle, limit: int, where: str):
        self.handle = handle
        self.limit = limit
        self.count = 0
        self.where = where

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.count += len(data)
        if self.count > self.limit:
            raise UnsafeBundle(f"decompresses to more than {self.limit} bytes (tar bomb?); refused", path=self.where)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def safe_member_name(name: str) -> str:
    """The member's normalised relative path, or UnsafeBundle for `..`, absolute paths, ..."""
    if not name or "\x00" in name or "\\" in name:
        raise UnsafeBundle(f"member name {name!r} is not a plain relative path; refused")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise UnsafeBundle(f"member {name!r} has an absolute path; refused")
    stripped = name
    while stripped.startswith("./"):
        stripped = stripped[2:]
    stripped = stripped.rstrip("/")
    parts = stripped.split("/")
    if not stripped or any(part in ("", ".", "..") for part in parts):
        raise UnsafeBundle(f"member {name!r} escapes or is not a plain relative path; refused")
    return stripped


def _kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return "symlink"
    if member.islnk():
        return "hard link"
    if member.ischr() or member.isblk():
        return "device file"
    if member.isfifo():
        return "fifo"
    if member.isdir():
        return "dir"
    if member.isreg() and not member.issparse():
        return "file"
    return "special member"


@dataclass
class _Scanned:
    files: dict[str, tuple[int, str]] = field(default_factory=dict)  # name -> (size, sha256)
    captured: dict[str, bytes] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)


def _scan(
    tarball: str | Path,
    limits: Limits,
    *,
    capture: Callable[[str], bool] = lambda name: False,
    write_into: Path | None = None,
) -> _Scanned:
    """Stream every member once: check it, hash it, optionally keep it (capture) or write it
    under `write_into`. Hostile members raise UnsafeBundle; unreadable input InputError."""
    tarball = Path(tarball)
    if not tarball.is_file():
        raise InputError("bundle not found" if not tarball.exists() else "is not a file", path=tarball)
    where = str(tarball)
    stream_cap = limits.max_total_bytes + 1536 * (limits.max_members + 2) + (1 << 20)
    out = _Scanned()
    total = 0
    members = 0
    try:
        with open(tarball, "rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as gz:
            reader = io.BufferedReader(_LimitedReader(gz, stream_cap, where), CHUNK)
            with tarfile.open(fileobj=reader, mode="r|") as tar:
                for member in tar:
                    members += 1
                    if members > limits.max_members:
                        raise UnsafeBundle(f"has more than {limits.max_members} members (tar bomb?); refused", path=where)
                    name = safe_member_name(member.name)
                    kind = _kind(member)
                    if kind == "dir":
                        out.dirs.append(name)
                        if write_into is not None:
                            (write_into / name).mkdir(parents=True, exist_ok=True, mode=0o755)
                        continue
                    if kind != "file":
                        raise UnsafeBundle(f"member {member.name!r} is a {kind}; refused", path=where)
                    total += member.size
                    if total > limits.max_total_bytes:
                        raise UnsafeBundle(
                            f"members add up to more than {limits.max_total_bytes} bytes (tar bomb?); refused",
                            path=where,
                        )
                    if name in out.files:
                        out.duplicates.append(name)
                    digest = hashlib.sha256()
                    keep = capture(name) and member.size <= CAPTURE_MAX_BYTES
                    kept = bytearray() if keep else None
                    source = tar.extractfile(member)
                    sink = None
                    if write_into is not None:
                        target = write_into / name
                        if os.path.commonpath([write_into, target.parent]) != str(write_into):
                            raise UnsafeBundle(f"member {member.name!r} escapes the target; refused", path=where)
                        target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
                        try:
                            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
                        except (FileExistsError, IsADirectoryError):
                            raise UnsafeBundle(f"member {member.name!r} appears twice; refused", path=where) from None
                        sink = os.fdopen(fd, "wb")
                    try:
                        size = 0
                        while True:
                            block = source.read(CHUNK)
                            if not block:
                                break
                            size += len(block)
                            digest.update(block)
                            if kept is not None:
                                kept.extend(block)
                            if sink is not None:
                                sink.write(block)
                    finally:
                        if sink is not None:
                            sink.close()
                    if write_into is not None:  # keep the member's mtime (a bundle's are all equal)
                        os.utime(write_into / name, (max(member.mtime, 0), max(member.mtime, 0)))
                    out.files[name] = (size, digest.hexdigest())
                    if kept is not None:
                        out.captured[name] = bytes(kept)
    except UnsafeBundle:
        raise
    except InputError:
        raise
    except (tarfile.TarError, gzip.BadGzipFile, EOFError, zlib.error, OSError, ValueError) as exc:
        raise InputError(f"cannot read bundle: {exc.__class__.__name__}: {exc}", path=tarball) from None
    return out


def _load_manifest(data: bytes | None, where: Path) -> dict[str, Any]:
    if data is None:
        raise InputError("is not a vmafkit bundle: no manifest.json", path=where)
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"manifest.json is malformed: {exc}", path=where) from None
    import jsonschema

    schema = json.loads((Path(__file__).parent / "schemas" / "bundle_manifest.schema.json").read_text())
    try:
        jsonschema.validate(manifest, schema)
    except jsonschema.ValidationError as exc:
        loc = "/".join(str(p) for p in exc.absolute_path) or "(top)"
        raise InputError(f"manifest.json does not match its schema at {loc}: {exc.message}", path=where) from None
    return manifest


def _compare_to_manifest(manifest: Mapping[str, Any], scanned: _Scanned) -> list[str]:
    problems: list[str] = []
    listed: dict[str, Mapping[str, Any]] = {}
    for entry in manifest["files"]:
        if entry["path"] in listed:
            problems.append(f"manifest lists {entry['path']} twice")
        listed[entry["path"]] = entry
    if manifest["n_files"] != len(manifest["files"]):
        problems.append(f"manifest n_files is {manifest['n_files']} but it lists {len(manifest['files'])} files")
    if MANIFEST in listed:
        problems.append("manifest lists itself")
    for name in scanned.duplicates:
        problems.append(f"member {name} appears more than once")
    present = {name: info for name, info in scanned.files.items() if name != MANIFEST}
    for name in sorted(set(listed) - set(present)):
        problems.append(f"missing: {name} is in the manifest but not in the bundle")
    for name in sorted(set(present) - set(listed)):
        problems.append(f"extra: {name} is in the bundle but not in the manifest")
    for name in sorted(set(listed) & set(present)):
        size, digest = present[name]
        if size != listed[name]["size"]:
            problems.append(f"size mismatch: {name} is {size} bytes, manifest says {listed[name]['size']}")
        if digest != listed[name]["sha256"]:
            problems.append(f"sha256 mismatch: {name}")
    for name in scanned.dirs:
        if name not in {str(PurePosixPath(p).parent) for p in listed}:
            problems.append(f"extra: folder {name}/ is not in the manifest")
    return problems


@dataclass
class VerifyReport:
    tarball: str
    ok: bool
    verdict: str | None
    n_files: int
    problems: list[str]
    generated_at_utc: str | None = None

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify_bundle(tarball: str | Path, *, limits: Limits = Limits()) -> VerifyReport:
    """Check every member's size and sha256 and that the member set equals the manifest's.
    Mismatch -> report with ok False (CLI exit 1); unreadable or hostile -> InputError (exit 2)."""
    tarball = Path(tarball)
    scanned = _scan(tarball, limits, capture=lambda name: name == MANIFEST)
    manifest = _load_manifest(scanned.captured.get(MANIFEST), tarball)
    problems = _compare_to_manifest(manifest, scanned)
    return VerifyReport(
        str(tarball), not problems, manifest.get("verdict"), len(manifest["files"]), problems,
        manifest.get("generated_at_utc"),
    )


def safe_extract(
    tarball: str | Path,
    dest: str | Path,
    *,
    limits: Limits = Limits(),
    verify: bool = True,
) -> Path:
    """Extract into `dest` (which must not exist, or be an empty folder) via a temp folder in
    dest's parent, renamed into place only when every member was safe and (verify=True) the
    contents match the manifest. Refusals are InputError (exit 2) and leave no trace."""
    tarball = Path(tarball)
    dest = Path(dest)
    if dest.is_symlink() or (dest.exists() and (not dest.is_dir() or any(dest.iterdir()))):
        raise InputError("already exists and is not an empty folder; pick a new --dest", path=dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)).resolve()
    try:
        scanned = _scan(tarball, limits, write_into=tmp)
        if verify:
            manifest_path = tmp / MANIFEST
            data = manifest_path.read_bytes() if MANIFEST in scanned.files else None
            manifest = _load_manifest(data, tarball)
            problems = _compare_to_manifest(manifest, scanned)
            if problems:
                raise InputError(
                    f"does not verify ({len(problems)} problem(s), first: {problems[0]}); nothing extracted",
                    path=tarball,
                )
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o755 & ~umask)  # mkdtemp made it 0700
        if dest.exists():
            dest.rmdir()
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


# --------------------------------------------------------------------------- compare


@dataclass
class LoadedBundle:
    path: Path
    manifest: dict[str, Any]
    verdict: dict[str, Any]
    environment: dict[str, Any]
    seed_reports: dict[int, dict[str, Any]]


def load_bundle(tarball: str | Path, *, limits: Limits = Limits()) -> LoadedBundle:
    """Read and verify a bundle; refuse (exit 2) one that does not verify."""
    tarball = Path(tarball)

    def wanted(name: str) -> bool:
        base = PurePosixPath(name).name
        return name in (MANIFEST, ENVIRONMENT) or base in VERDICT_FILES or bool(SEED_REPORT_RE.match(base))

    scanned = _scan(tarball, limits, capture=wanted)
    manifest = _load_manifest(scanned.captured.get(MANIFEST), tarball)
    problems = _compare_to_manifest(manifest, scanned)
    if problems:
        raise InputError(f"does not verify: {problems[0]}; run `vmafkit verify` for the full list", path=tarball)

    def load(name: str) -> Any:
        try:
            return json.loads(scanned.captured[name].decode("utf-8"))
        except (KeyError, UnicodeDecodeError, ValueError) as exc:
            raise InputError(f"cannot read {name} in the bundle: {exc}", path=tarball) from None

    verdict_file = manifest.get("verdict_file") or next(
        (n for n in scanned.captured if PurePosixPath(n).name in VERDICT_FILES), None
    )
    if verdict_file is None or verdict_file not in scanned.captured:
        raise InputError("bundle holds no verdict file", path=tarball)
    seed_reports: dict[int, dict[str, Any]] = {}
    for name in sorted(scanned.captured):
        if SEED_REPORT_RE.match(PurePosixPath(name).name):
            report = load(name)
            if not isinstance(report, dict) or not isinstance(report.get("seed"), int):
                raise InputError(f"{name} in the bundle has no integer 'seed'", path=tarball)
            if report["seed"] in seed_reports:
                raise InputError(f"two seed reports for seed {report['seed']} in the bundle", path=tarball)
            seed_reports[report["seed"]] = report
    if not seed_reports:
        raise InputError("bundle holds no loso_seed{N}.json", path=tarball)
    environment = load(ENVIRONMENT) if ENVIRONMENT in scanned.captured else {}
    return LoadedBundle(tarball, manifest, load(verdict_file), environment, seed_reports)


def _plcc_matrix(bundle: LoadedBundle) -> tuple[list[int], list[str], np.ndarray]:
    seeds = sorted(bundle.seed_reports)
    folds: list[str] = sorted(
        {str(f.get("held_out")) for r in bundle.seed_reports.values() for f in r.get("folds") or [] if isinstance(f, dict)}
    )
    matrix = np.full((len(seeds), len(folds)), np.nan)
    for i, seed in enumerate(seeds):
        for fold in bundle.seed_reports[seed].get("folds") or []:
            if isinstance(fold, dict) and isinstance(fold.get("plcc"), (int, float)):
                matrix[i, folds.index(str(fold.get("held_out")))] = float(fold["plcc"])
    return seeds, folds, matrix


def _mean_plcc(matrix: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Mean over seeds of each seed's mean over the (resampled) folds; cols [B, F]."""
    picked = matrix[:, cols]  # [S, B, F]
    with np.errstate(invalid="ignore"), _quiet_nan():
        per_seed = np.nanmean(picked, axis=2)  # [S, B]
        return np.nanmean(per_seed, axis=0)  # [B]


class _quiet_nan:
    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def _num(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value):
        return float(value)
    return None


def _input_facts(bundle: LoadedBundle) -> dict[str, Any]:
    env = bundle.environment
    verdict = bundle.verdict
    args = {}
    prov = verdict.get("run_provenance")
    if isinstance(prov, Mapping) and isinstance(prov.get("args"), Mapping):
        args = prov["args"]
    corpus = verdict.get("corpus")
    encoders = env.get("encoders", args.get("encoders"))
    if isinstance(encoders, str):
        encoders = [e for e in encoders.split(",") if e]
    if isinstance(encoders, list):
        encoders = sorted(str(e) for e in encoders)
    packages = env.get("packages") or {}
    ffmpeg = env.get("ffmpeg") if isinstance(env.get("ffmpeg"), Mapping) else {}
    first = bundle.seed_reports[min(bundle.seed_reports)]
    facts = {
        "corpus.sha256": corpus.get("sha256") if isinstance(corpus, Mapping) else corpus,
        "corpus.rows": corpus.get("rows") if isinstance(corpus, Mapping) else None,
        "corpus.sources": corpus.get("sources") if isinstance(corpus, Mapping) else None,
        "encoders": encoders,
        "ffmpeg_version": env.get("ffmpeg_version", ffmpeg.get("version")),
        "libvmaf_version": env.get("libvmaf_version", ffmpeg.get("libvmaf_version")),
        "platform": (env.get("platform") or {}).get("family"),
        "vmafkit": packages.get("vmafkit"),
        "torch": packages.get("torch"),
        "seeds": sorted(bundle.seed_reports),
        "epochs": first.get("epochs"),
        "encoder_vocab_version": first.get("encoder_vocab_version"),
    }
    if isinstance(corpus, Mapping):
        for key in sorted(corpus):
            if key not in ("sha256", "rows", "sources", "path"):
                value = corpus[key]
                if isinstance(value, Mapping):  # e.g. ref_dir {path, sha256, count}: where it lived is no input
                    value = {k: v for k, v in value.items() if k != "path"}
                facts[f"corpus.{key}"] = value
    return facts


@dataclass
class CompareReport:
    a: str
    b: str
    verdict_a: str | None
    verdict_b: str | None
    same_verdict: bool
    tolerance: float
    confidence: float
    n_bootstrap: int
    bootstrap_seed: int
    paired: bool
    mean_plcc_a: float | None
    mean_plcc_b: float | None
    diff: float | None  # b - a
    ci: list[float] | None  # [low, high] of b - a
    within_tolerance: bool
    agree: bool
    reason: str
    per_seed: list[dict[str, Any]]
    per_fold: list[dict[str, Any]]
    inputs: list[dict[str, Any]]

    @property
    def differing_inputs(self) -> list[str]:
        return [item["name"] for item in self.inputs if not item["same"]]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["differing_inputs"] = self.differing_inputs
        return out


def compare_bundles(
    a: str | Path,
    b: str | Path,
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    n_bootstrap: int = DEFAULT_BOOTSTRAP,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = DEFAULT_BOOTSTRAP_SEED,
    limits: Limits = Limits(),
) -> CompareReport:
    """Are two sites' verdicts the same finding?

    diff = mean PLCC(B) - mean PLCC(A), where a bundle's mean PLCC is the mean over seeds of
    each seed's mean over folds. Its confidence interval is a percentile bootstrap over folds
    (held-out sources): when both bundles have the same folds, the same resampled folds are
    used for both (paired); otherwise each bundle's folds are resampled independently. The RNG
    is numpy's default_rng(seed), so the output is deterministic.

    agree = same verdict AND the whole interval lies within [-tolerance, +tolerance].
    """
    if not (tolerance >= 0):
        raise InputError(f"tolerance must be >= 0, got {tolerance}")
    if not (0 < confidence < 1):
        raise InputError(f"confidence must be in (0, 1), got {confidence}")
    if n_bootstrap < 1:
        raise InputError(f"n_bootstrap must be >= 1, got {n_bootstrap}")
    left, right = load_bundle(a, limits=limits), load_bundle(b, limits=limits)
    verdict_a, verdict_b = left.manifest.get("verdict"), right.manifest.get("verdict")
    seeds_a, folds_a, m_a = _plcc_matrix(left)
    seeds_b, folds_b, m_b = _plcc_matrix(right)

    per_seed = []
    for s in sorted(set(seeds_a) | set(seeds_b)):
        ra, rb = left.seed_reports.get(s, {}), right.seed_reports.get(s, {})
        pa, pb = _num(ra.get("mean_plcc")), _num(rb.get("mean_plcc"))
        per_seed.append({"seed": s, "a": pa, "b": pb, "diff": None if pa is None or pb is None else pb - pa})
    per_fold = []
    for s in sorted(set(seeds_a) | set(seeds_b)):
        for fold in sorted(set(folds_a) | set(folds_b)):
            va = m_a[seeds_a.index(s), folds_a.index(fold)] if s in seeds_a and fold in folds_a else np.nan
            vb = m_b[seeds_b.index(s), folds_b.index(fold)] if s in seeds_b and fold in folds_b else np.nan
            pa, pb = _num(va), _num(vb)
            if pa is None and pb is None:
                continue
            per_fold.append({"seed": s, "held_out": fold, "a": pa, "b": pb,
                             "diff": None if pa is None or pb is None else pb - pa})

    mean_a = mean_b = diff = None
    ci = None
    paired = bool(folds_a) and folds_a == folds_b
    reason = ""
    if not folds_a or not folds_b or np.isnan(m_a).all() or np.isnan(m_b).all():
        reason = "a bundle has no per-fold PLCC"
    else:
        mean_a = float(_mean_plcc(m_a, np.arange(len(folds_a))[None, :])[0])
        mean_b = float(_mean_plcc(m_b, np.arange(len(folds_b))[None, :])[0])
        diff = mean_b - mean_a
        rng = np.random.default_rng(seed)
        cols_a = rng.integers(0, len(folds_a), size=(n_bootstrap, len(folds_a)))
        cols_b = cols_a if paired else rng.integers(0, len(folds_b), size=(n_bootstrap, len(folds_b)))
        boots = _mean_plcc(m_b, cols_b) - _mean_plcc(m_a, cols_a)
        boots = boots[np.isfinite(boots)]
        if boots.size:
            alpha = (1 - confidence) / 2
            ci = [float(np.quantile(boots, alpha)), float(np.quantile(boots, 1 - alpha))]
        else:
            reason = "the bootstrap gave no finite difference"
    same_verdict = verdict_a == verdict_b
    within = ci is not None and ci[0] >= -tolerance and ci[1] <= tolerance
    agree = same_verdict and within
    if not reason:
        if agree:
            reason = f"same verdict and the {confidence:.0%} interval of the difference lies within ±{tolerance}"
        elif not same_verdict:
            reason = f"verdicts differ ({verdict_a} vs {verdict_b})"
        else:
            reason = f"same verdict, but the {confidence:.0%} interval of the difference is not within ±{tolerance}"

    facts_a, facts_b = _input_facts(left), _input_facts(right)
    inputs = [
        {"name": key, "a": facts_a.get(key), "b": facts_b.get(key), "same": facts_a.get(key) == facts_b.get(key)}
        for key in sorted(set(facts_a) | set(facts_b))
    ]
    inputs.append({"name": "folds", "a": folds_a, "b": folds_b, "same": folds_a == folds_b})
    return CompareReport(
        a=str(a), b=str(b), verdict_a=verdict_a, verdict_b=verdict_b, same_verdict=same_verdict,
        tolerance=tolerance, confidence=confidence, n_bootstrap=n_bootstrap, bootstrap_seed=seed,
        paired=paired, mean_plcc_a=mean_a, mean_plcc_b=mean_b, diff=diff, ci=ci,
        within_tolerance=within, agree=agree, reason=reason, per_seed=per_seed, per_fold=per_fold,
        inputs=inputs,
    )


__all__ = [
    "CompareReport", "Limits", "LoadedBundle", "Selection", "UnsafeBundle", "VerifyReport",
    "compare_bundles", "environment_record", "load_bundle", "make_bundle", "package_versions",
    "safe_extract", "safe_member_name", "select_files", "verify_bundle",
]
