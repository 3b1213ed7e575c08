"""The encodes a corpus build keeps, so that `rescore` scores them again without encoding.

Each cell's encoded video is kept in the cell cache (`layout.kept_encode_files`), named by the
encode's key: a hash of everything that decides its bytes (source, encoder, preset, cq, codec
arguments, ffmpeg build, frame limit, encoder threads, size and the scale that made a ladder rung),
and nothing that only decides its scores. Two builds that differ only in how they score (another
libvmaf model, other metrics) therefore share one encode, and the second one encodes nothing.

Beside the video, a small JSON record holds what the encode measured (its sha256, size, frames,
encode time, the encoder's version string). The video is moved into place first and the record
written last, both atomically, so a record always describes a complete video; a reader re-hashes
the video against its record before it uses it (a kept encode is never trusted blindly).

The disk cost is the encodes' own size: the corpus's `enc_bytes` summed over its cells.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vmafkit import layout
from vmafkit.errors import InputError
from vmafkit.io import atomic_write_json, identity_hash, read_json, sha256_file

RECORD_SCHEMA = "vmafkit.kept-encode/1"
ENCODE_KEY = "encode_key"  # a corpus row's: the key of the kept encode its cell was scored from
KEY_PATTERN = re.compile(r"[0-9a-f]{32}")


def check_key(key: Any, where: str) -> str:
    """An encode key as vmafkit writes it (32 hex digits): never a path, whatever a file says."""
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        shown = repr(key) if len(repr(key)) <= 40 else f"{repr(key)[:20]}..."
        raise InputError(f"{where}: {ENCODE_KEY} {shown} is not an encode key (32 hex digits)")
    return key


@dataclass(frozen=True)
class KeptEncode:
    """One kept encode: where its video is, and what encoding it measured."""

    key: str
    path: Path
    sha256: str
    enc_bytes: int
    frames: int
    enc_time_ms: int
    encoder_version: str
    # what the key is the hash of (source, encoder, preset, cq, size, ...): a reader checks the key
    # against it and the cell it is asked for against it, so no encode serves another cell
    identity: dict[str, Any] = field(default_factory=dict)

    @property
    def record_path(self) -> Path:
        """Its record, beside the video in the cache's encodes folder."""
        return layout.kept_encode_files(self.path.parent.parent, self.key)[1]

    def record(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("path")
        return {"schema": RECORD_SCHEMA, **data}


def keep_encode(
    cell_cache: Path,
    identity: Mapping[str, Any],
    encoded: Path,
    *,
    frames: int,
    enc_time_ms: int,
    encoder_version: str,
) -> KeptEncode:
    """Move a finished encode (in the same file system: a cell's work folder inside the cache) into
    the cache under the hash of its `identity`, and write its record; the kept encode."""
    key = identity_hash(identity)
    video, record = layout.kept_encode_files(cell_cache, key)
    video.parent.mkdir(parents=True, exist_ok=True)
    kept = KeptEncode(
        key=key,
        path=video,
        sha256=sha256_file(encoded),
        enc_bytes=encoded.stat().st_size,
        frames=int(frames),
        enc_time_ms=int(enc_time_ms),
        encoder_version=encoder_version,
        identity=dict(identity),
    )
    os.replace(encoded, video)
    atomic_write_json(record, kept.record())
    return kept


def find_kept_encode(cell_cache: Path, key: str) -> KeptEncode | None:
    """The kept encode `key` when its record and video are there and agree (sha256, size); None
    otherwise (never kept, or a damaged one, which the next build replaces)."""
    try:
        return load_kept_encode(cell_cache, key)
    except InputError:
        return None


def load_kept_encode(cell_cache: Path, key: str) -> KeptEncode:
    """The kept encode `key`, its video re-hashed against its record; InputError naming the file
    that is missing or does not match."""
    check_key(key, "kept encode")
    video, record_path = layout.kept_encode_files(cell_cache, key)
    if not record_path.is_file():
        raise InputError(
            f"the encode this corpus was scored from is not kept ({record_path.name} not found); "
            "it was built before vmafkit kept encodes, or the cache was cleared: rebuild it with `vmafkit corpus`",
            path=record_path.parent,
        )
    data = read_json(record_path, what="kept-encode record")
    fields = ("sha256", "enc_bytes", "frames", "enc_time_ms", "encoder_version")
    if not isinstance(data, dict) or data.get("schema") != RECORD_SCHEMA or data.get("key") != key:
        raise InputError(f"not a kept-encode record of encode {key}", path=record_path)
    if any(name not in data for name in (*fields, "identity")) or not _well_formed(data):
        raise InputError("kept-encode record lacks a field or holds a value of the wrong type", path=record_path)
    if not isinstance(data["identity"], dict) or identity_hash(data["identity"]) != key:
        raise InputError("kept-encode record's identity does not hash to its key (edited?)", path=record_path)
    if not video.is_file():
        raise InputError("kept encode not found (its record is there)", path=video)
    if video.stat().st_size != data["enc_bytes"] or sha256_file(video) != data["sha256"]:
        raise InputError("kept encode changed since it was encoded (size or sha256 differ from its record)", path=video)
    return KeptEncode(key=key, path=video, identity=data["identity"], **{name: data[name] for name in fields})


def _well_formed(data: dict[str, Any]) -> bool:
    counts = (data["enc_bytes"], data["frames"], data["enc_time_ms"])
    return (
        all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in counts)
        and data["frames"] > 0
        and isinstance(data["sha256"], str)
        and len(data["sha256"]) == 64
        and isinstance(data["encoder_version"], str)
    )
