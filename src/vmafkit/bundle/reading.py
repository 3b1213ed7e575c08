"""Read bundles safely: verify one against its manifest, extract one, load one for comparing.

Every reader streams the tarball once through `_scan`, which refuses hostile members (absolute
or escaping paths, links, devices, duplicates) and tar/gzip bombs (`Limits`) before anything is
written; `safe_extract` writes into a temp folder renamed into place only when all is well."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from vmafkit.bundle.layout import (
    CAPTURE_MAX_BYTES,
    DEFAULT_MAX_MEMBERS,
    DEFAULT_MAX_TOTAL_BYTES,
    ENVIRONMENT,
    FILE_MODE,
    MANIFEST,
)
from vmafkit.errors import InputError
from vmafkit.io import CHUNK, loads_json
from vmafkit.layout import SEED_REPORT_RE, SEED_REPORTS, VERDICT_FILES


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
                        raise UnsafeBundle(
                            f"has more than {limits.max_members} members (tar bomb?); refused", path=where
                        )
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
                    assert source is not None  # a regular member always has a data stream
                    sink = _member_sink(write_into, name, member.name, where) if write_into is not None else None
                    size = _stream_member(source, digest, kept, sink)
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


def _member_sink(write_into: Path, name: str, member_name: str, where: str) -> Any:
    """A new file for the member under `write_into`: never outside it, never one that exists,
    never through a link."""
    target = write_into / name
    if os.path.commonpath([write_into, target.parent]) != str(write_into):
        raise UnsafeBundle(f"member {member_name!r} escapes the target; refused", path=where)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
    except (FileExistsError, IsADirectoryError):
        raise UnsafeBundle(f"member {member_name!r} appears twice; refused", path=where) from None
    return os.fdopen(fd, "wb")


def _stream_member(source: Any, digest: Any, kept: bytearray | None, sink: Any) -> int:
    """The member's data in CHUNKs into its digest, the kept bytes and the sink (closed after);
    returns its size."""
    size = 0
    try:
        while block := source.read(CHUNK):
            size += len(block)
            digest.update(block)
            if kept is not None:
                kept.extend(block)
            if sink is not None:
                sink.write(block)
    finally:
        if sink is not None:
            sink.close()
    return size


def _load_manifest(data: bytes | None, where: Path) -> dict[str, Any]:
    if data is None:
        raise InputError("is not a vmafkit bundle: no manifest.json", path=where)
    manifest = loads_json(data, where=f"{where}: manifest.json", what="manifest")
    import jsonschema

    schema = json.loads((Path(__file__).parent.parent / "schemas" / "bundle_manifest.schema.json").read_text())
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
        str(tarball),
        not problems,
        manifest.get("verdict"),
        len(manifest["files"]),
        problems,
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
        raise InputError("already exists and is not an empty folder; pick a new --out folder", path=dest)
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
        if name not in scanned.captured:
            raise InputError(f"cannot read {name} in the bundle: it is not there", path=tarball)
        return loads_json(scanned.captured[name], where=f"{tarball}: {name}", what="bundle file")

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
        raise InputError(f"bundle holds no {SEED_REPORTS}", path=tarball)
    environment = load(ENVIRONMENT) if ENVIRONMENT in scanned.captured else {}
    return LoadedBundle(tarball, manifest, load(verdict_file), environment, seed_reports)
