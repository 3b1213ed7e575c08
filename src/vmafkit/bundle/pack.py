"""Pack a run's results into a deterministic bundle (`make_bundle`).

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
* exports (``X.onnx`` and its sidecar ``X.json``, the names `vmafkit export` writes): left out
  next to a HOLD verdict; next to PROMOTE, left out when the
  sidecar's ``verdict.sha256`` is not the bundled verdict file's sha256, else (no such key) when
  its ``corpus`` fingerprint's sha256 differs from the verdict's, else (neither) when the
  ``.onnx`` is older than the verdict. ``*_calibration.json`` files carrying ``verdict_sha256`` /
  ``corpus_sha256`` follow the same rule, and a ``registry.json`` (and its
  ``registry_history.jsonl``) in a folder where anything was left out as stale is left out too.

The same OUT gives the same bytes: sorted names, mtime/uid/gid/uname fixed, gzip mtime 0, and
``generated_at_utc`` taken from the verdict file (unless the caller passes one).

The tarball is written to a temp file beside it (``.NAME.XXXX.tmp``) that the writer holds an
flock on; ``make_bundle`` first removes the temps of killed writers (those whose lock it can take
and that are not brand new), never one a live writer is still filling (``sweep_bundle_temps``).
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import gzip
import hashlib
import io
import json
import os
import platform as _platform
import re
import socket
import tarfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any, TypedDict

from vmafkit import layout
from vmafkit.bundle.layout import (
    ENVIRONMENT,
    EXCLUDED_DIR_NAMES,
    EXCLUDED_SUFFIXES,
    FILE_MODE,
    FIXED_MTIME,
    MANIFEST,
    RESERVED_TOP,
    SCHEMA_VERSION,
)
from vmafkit.errors import InputError
from vmafkit.io import atomic_output, dumps_json, read_json, sha256_file
from vmafkit.layout import SEED_REPORT_RE, VERDICT_FILES


class ManifestEntry(TypedDict):
    path: str
    size: int
    sha256: str


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


def _exclude_stale_exports(
    files: dict[str, Path],
    excluded: list[dict[str, str]],
    verdict_name: str,
    verdict_rel: str,
    verdict_path: Path,
    verdict_mtime: int,
    corpus: Any,
    hasher: Callable[[Path], str],
) -> None:
    """Leave out exports that do not derive from this verdict (see the module docstring)."""
    verdict_sha = hasher(verdict_path)
    verdict_fp = _fingerprint_key(corpus)
    stale_dirs: set[str] = set()

    def drop(rel: str, reason: str) -> None:
        if rel in files:
            excluded.append({"path": rel, "reason": reason})
            del files[rel]
            stale_dirs.add(str(PurePosixPath(rel).parent))

    for rel in sorted(r for r in files if r.endswith(layout.ONNX_SUFFIX)):
        sidecar = layout.sidecar_name(rel[: -len(layout.ONNX_SUFFIX)])
        sidecars = [sidecar] if sidecar in files and sidecar != verdict_rel else []
        reason = None
        if verdict_name != "PROMOTE":
            reason = f"export next to a {verdict_name} verdict (stale, from an earlier run)"
        else:
            datas = [d for d in (_json_or_none(files[s]) for s in sidecars) if isinstance(d, Mapping)]
            verdict_shas = [
                d["verdict"].get("sha256")
                for d in datas
                if isinstance(d.get("verdict"), Mapping) and d["verdict"].get("sha256")
            ]
            fps = [_fingerprint_key(d["corpus"]) for d in datas if d.get("corpus") is not None]
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

    for rel in sorted(r for r in files if layout.is_calibration_name(PurePosixPath(r).name)):
        data = _json_or_none(files[rel])
        if not isinstance(data, Mapping) or not ("verdict_sha256" in data or "corpus_sha256" in data):
            continue  # not an export's calibration file
        if verdict_name != "PROMOTE":
            drop(rel, f"export calibration next to a {verdict_name} verdict (stale)")
        elif data.get("verdict_sha256") not in (None, verdict_sha):
            drop(rel, "export calibration made from another verdict (stale)")
        elif data.get("corpus_sha256") not in (None, verdict_fp):
            drop(rel, "export calibration of another corpus (stale)")

    registry_files = (layout.REGISTRY_FILE, layout.REGISTRY_HISTORY_FILE)
    for rel in sorted(r for r in files if PurePosixPath(r).name in registry_files):
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


def select_files(
    out_dir: str | Path, *, skip: Iterable[str | Path] = (), hasher: Callable[[Path], str] | None = None
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
        raise InputError(f"holds no {' or '.join(VERDICT_FILES)}; run the verdict step first", path=out_dir)
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
            raise InputError(f"{verdict_rel} is stale: {rel} is newer than it; re-run the verdict step", path=out_dir)

    # The corpus the verdict's fingerprint pins, when it is bundled: matched by the tail of the
    # fingerprint's path, else by file name when exactly one bundled file has that name.
    corpus = verdict.get("corpus")
    if isinstance(corpus, Mapping) and corpus.get("sha256"):
        corpus_path = str(corpus.get("path") or layout.CORPUS_FILE).replace("\\", "/")
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
        from vmafkit.host.platform import detect

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


# A writer locks its temp within microseconds of creating it: an unlocked temp this old is dead.
STALE_TEMP_AGE_S = 2.0


def sweep_bundle_temps(tarball: str | Path, *, now: float | None = None) -> list[str]:
    """Remove the temp files (``.NAME.XXXX.tmp``) that killed writers of `tarball` left beside it;
    a temp whose flock is held (a live writer) is kept. Returns the names removed."""
    tarball = Path(tarball)
    now = time.time() if now is None else now
    removed: list[str] = []
    for temp in sorted(tarball.parent.glob(f".{glob.escape(tarball.name)}.*.tmp")):
        try:
            handle = open(temp, "rb")
        except OSError:
            continue
        with handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a live writer
            with contextlib.suppress(OSError):
                if now - os.fstat(handle.fileno()).st_mtime >= STALE_TEMP_AGE_S:
                    temp.unlink()
                    removed.append(temp.name)
    return removed


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

    entries: list[ManifestEntry] = [
        {"path": ENVIRONMENT, "size": len(env_bytes), "sha256": hashlib.sha256(env_bytes).hexdigest()}
    ]
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

    sweep_bundle_temps(tarball)
    with atomic_output(tarball, "wb") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # ours alone: a concurrent sweep keeps it
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


def bundle_run_folder(
    out_dir: str | Path, tarball: str | Path, *, ffmpeg: str | None = None, env: Mapping[str, str] | None = None
) -> Path:
    """`vmafkit bundle`: `make_bundle` under OUT's run lock (a `vmafkit run` still writing OUT is
    refused, never half-bundled; a read-only OUT, such as an extracted bundle, is bundled unlocked),
    with the versions of the ffmpeg vmafkit finds (or `ffmpeg`) and `env`'s extra facts recorded
    (`encoders` as a comma-separated list), then verified as written."""
    from vmafkit.bundle.reading import verify_bundle

    extra: dict[str, Any] = _ffmpeg_record(ffmpeg)
    for key, value in (env or {}).items():
        extra[key] = [v for v in value.split(",") if v] if key == "encoders" else value
    with _run_lock_if_writable(Path(out_dir)):
        path = make_bundle(out_dir, tarball, extra_env=extra)
    report = verify_bundle(path)
    if not report.ok:  # pragma: no cover - would be a bug in make_bundle
        raise InputError(f"the bundle just written does not verify: {report.problems[0]}", path=path)
    return path


def _ffmpeg_record(ffmpeg: str | None) -> dict[str, Any]:
    """ffmpeg / libvmaf versions for the environment record; a missing ffmpeg must not stop bundling."""
    from vmafkit.media.ffmpeg import find_ffmpeg

    try:
        found = find_ffmpeg(ffmpeg, require_libvmaf=False)
    except Exception as exc:  # noqa: BLE001 - recorded instead
        return {"ffmpeg_error": str(exc)}
    return {"ffmpeg_path": found.path, "ffmpeg_version": found.version, "libvmaf_version": found.libvmaf_version}


@contextlib.contextmanager
def _run_lock_if_writable(out_dir: Path):
    from vmafkit.errors import LockBusy
    from vmafkit.io import exclusive_lock

    if not out_dir.is_dir():
        yield
        return
    try:
        lock = exclusive_lock(out_dir)
        lock.__enter__()
    except LockBusy:
        raise
    except OSError:
        yield
        return
    try:
        yield
    finally:
        lock.__exit__(None, None, None)
