"""The corpus row schema (one JSON object a line in `per_frame_canonical6.jsonl`).

This module is the one owner of the row's keys and version. Readers get a column-oriented
`Corpus` (numpy arrays) and one-line errors that name the file and line.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from ..errors import InputError
from ..io import iter_json_objects

SCHEMA_VERSION = 1
CORPUS_FILENAME = "per_frame_canonical6.jsonl"

CANONICAL6 = ("adm2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3", "motion2")
TARGET = "vmaf"
# libvmaf's metric names for the canonical-6, in the same order.
LIBVMAF_NAMES = tuple(f"integer_{name}" for name in CANONICAL6)

REQUIRED_KEYS = (
    "src", "src_sha256", "encoder", "preset", "cq", "frame_index", TARGET, *CANONICAL6,
    "width", "height", "fps", "pix_fmt", "enc_bytes", "enc_time_ms",
)
# Keys vmafkit adds so a shard is traceable; optional when reading shards of the original kit.
TRACE_KEYS = (
    "schema_version", "group", "ffmpeg_version", "libvmaf_version", "encoder_version",
    "backend", "vmaf_model", "bit_depth", "src_width", "src_height",
)
NUMERIC_KEYS = (TARGET, *CANONICAL6, "cq", "frame_index", "width", "height", "fps", "enc_bytes", "enc_time_ms")
MERGE_KEY = ("src_sha256", "encoder", "preset", "cq", "frame_index")
# Keys that vary between identical re-runs (timings): left out of determinism comparisons.
TIMING_KEYS = ("enc_time_ms",)


@dataclass
class Corpus:
    """Column view of a corpus file: what training and export consume."""

    path: Path
    features: np.ndarray  # [N, 6] float64, CANONICAL6 order
    vmaf: np.ndarray  # [N]
    src: np.ndarray  # [N] str
    group: np.ndarray  # [N] str: LOSO group (defaults to src)
    encoder: np.ndarray  # [N] str
    preset: np.ndarray  # [N] str
    cq: np.ndarray  # [N] float64
    frame_index: np.ndarray  # [N] int64
    src_sha256: np.ndarray  # [N] str
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.vmaf.shape[0])

    @property
    def sources(self) -> list[str]:
        return sorted(set(self.src.tolist()))

    @property
    def groups(self) -> list[str]:
        return sorted(set(self.group.tolist()))

    def cell_ids(self) -> np.ndarray:
        """An integer id per (src, encoder, preset, cq): the unit of per-clip statistics."""
        keys = np.char.add(np.char.add(np.char.add(self.src.astype(str), "|"), self.encoder.astype(str)),
                           np.char.add(np.char.add("|", self.preset.astype(str)), np.char.add("|", self.cq.astype(str))))
        _, ids = np.unique(keys, return_inverse=True)
        return ids.astype(np.int64)

    def subset(self, mask: np.ndarray) -> "Corpus":
        cols = {name: getattr(self, name)[mask] for name in _ARRAY_FIELDS}
        return Corpus(path=self.path, meta=dict(self.meta), **cols)


_ARRAY_FIELDS = ("features", "vmaf", "src", "group", "encoder", "preset", "cq", "frame_index", "src_sha256")


def validate_row(row: Any, where: str) -> dict[str, Any]:
    """Check one decoded row; raise InputError naming `where` (file:line) on the first problem."""
    if not isinstance(row, dict):
        raise InputError(f"{where}: a row must be a JSON object, got {type(row).__name__}")
    missing = [key for key in REQUIRED_KEYS if key not in row]
    if missing:
        raise InputError(f"{where}: missing keys {', '.join(missing)}")
    version = row.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise InputError(f"{where}: schema_version {version!r} is not the supported {SCHEMA_VERSION}")
    for key in NUMERIC_KEYS:
        value = row[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{where}: {key} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise InputError(f"{where}: {key} is {value} (NaN or infinite)")
    for key in ("src", "src_sha256", "encoder", "preset"):
        if not isinstance(row[key], (str, int)) or str(row[key]) == "":
            raise InputError(f"{where}: {key} must be a non-empty string, got {row[key]!r}")
    return row


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, parsed row) for each non-blank line; errors name file:line."""
    return iter_json_objects(path, what="corpus file")


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Every row of a JSONL (or Parquet) corpus, validated; a frame present twice is an error."""
    path = Path(path)
    if path.suffix == ".parquet":
        numbered = ((f"{path}:row {i + 1}", row) for i, row in enumerate(_read_parquet(path)))
    else:
        numbered = ((f"{path}:{lineno}", row) for lineno, row in iter_jsonl(path))
    rows, seen = [], {}
    for where, row in numbered:
        validate_row(row, where)
        key = row_key(row)
        if key in seen:
            raise InputError(f"{where}: duplicate row (same src_sha256, encoder, preset, cq, frame_index as {seen[key]}); "
                             "deduplicate with `vmafkit merge`")
        seen[key] = where
        rows.append(row)
    return rows


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except FileNotFoundError:
        raise InputError("corpus file not found", path=path) from None
    except Exception as exc:  # pyarrow raises many types for a bad file
        raise InputError(f"not a readable Parquet file ({exc})", path=path) from None


def rows_to_corpus(rows: list[dict[str, Any]], path: str | Path) -> Corpus:
    path = Path(path)
    if not rows:
        raise InputError("corpus has no rows", path=path)
    group_of: dict[str, str] = {}
    for i, r in enumerate(rows):
        group = str(r.get("group") or r["src"])
        first = group_of.setdefault(str(r["src_sha256"]), group)
        if first != group:
            raise InputError(f"row {i + 1}: source {str(r['src_sha256'])[:12]} (src {r['src']}) is in LOSO groups "
                             f"{first!r} and {group!r}: one clip in two folds leaks between them", path=path)
    sizes = sorted({(int(r["width"]), int(r["height"])) for r in rows})
    return Corpus(
        path=path,
        features=np.array([[float(r[k]) for k in CANONICAL6] for r in rows], dtype=np.float64),
        vmaf=np.array([float(r[TARGET]) for r in rows], dtype=np.float64),
        src=np.array([str(r["src"]) for r in rows]),
        group=np.array([str(r.get("group") or r["src"]) for r in rows]),
        encoder=np.array([str(r["encoder"]) for r in rows]),
        preset=np.array([str(r["preset"]) for r in rows]),
        cq=np.array([float(r["cq"]) for r in rows], dtype=np.float64),
        frame_index=np.array([int(r["frame_index"]) for r in rows], dtype=np.int64),
        src_sha256=np.array([str(r["src_sha256"]) for r in rows]),
        meta={"n_rows": len(rows), "frame_sizes": [list(wh) for wh in sizes],
              "pix_fmts": sorted({str(r["pix_fmt"]) for r in rows})},
    )


def load_corpus(path: str | Path) -> Corpus:
    """Read and validate a corpus file into columns (raises InputError, exit 2, on bad input)."""
    return rows_to_corpus(read_rows(path), path)


def row_key(row: dict[str, Any]) -> tuple:
    return tuple(row[k] for k in MERGE_KEY)


def write_jsonl_lines(rows: Iterable[dict[str, Any]]) -> str:
    """Canonical JSONL text (sorted keys, one row a line) for a sequence of rows."""
    return "".join(json.dumps(row, sort_keys=True, allow_nan=False) + "\n" for row in rows)
