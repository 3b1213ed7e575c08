"""The corpus row schema (one JSON object a line in the corpus file, `layout.CORPUS_FILE`).

This module is the one owner of the row's keys and version. Readers get a column-oriented
`Corpus` (numpy arrays) and one-line errors that name the file and line.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vmafkit.corpus.kept_encodes import ENCODE_KEY, check_key
from vmafkit.errors import InputError
from vmafkit.io import iter_json_objects, require_regular_file
from vmafkit.media.libvmaf import (
    CANONICAL6,
    DEFAULT_MODEL,
    INFINITE_AS_NULL_COLUMNS,
    METRIC_COLUMNS,
    RECIPE_KEY,
    TARGET,
    V1_FEATURES,
    feature_columns,
    feature_set_of,
    score_max_of,
)
from vmafkit.media.sources import Source
from vmafkit.validation import CQ_RANGE_OTHER, DIMENSION_MAX, ENCODER_THREADS_RANGE, FPS_MAX

SCHEMA_VERSION = 1


REQUIRED_KEYS = (
    "src",
    "src_sha256",
    "encoder",
    "preset",
    "cq",
    "frame_index",
    TARGET,
    "width",
    "height",
    "fps",
    "pix_fmt",
    "enc_bytes",
    "enc_time_ms",
)
# A row also carries its model's feature columns (`media.libvmaf.feature_columns`): the canonical-6
# for the v0.6.1 family, VMAF v1's own 14 for a v1 model.
NUMERIC_KEYS = (TARGET, "cq", "frame_index", "width", "height", "fps", "enc_bytes", "enc_time_ms")
# width/height: the encoded size, so the rungs of a resolution ladder (same cq, another size) are distinct rows.
MERGE_KEY = ("src_sha256", "encoder", "preset", "cq", "width", "height", "frame_index")
# A cell of a corpus: its rows share these (MERGE_KEY without the frame).
CELL_KEY = tuple(k for k in MERGE_KEY if k != "frame_index")
# The libvmaf model a row was scored with (`vmaf_model`) decides what its vmaf and canonical-6 are;
# a row without the key was scored with DEFAULT_MODEL, the only model vmafkit scored before it had
# a --model. The extra metric columns (`--metrics`) are media.libvmaf.METRIC_COLUMNS.
MODEL_KEY = "vmaf_model"
# The model's feature set (`media.libvmaf.FEATURE_SETS`), written beside it so a reader sees which
# feature columns a row holds; a row without it holds its model's (`feature_set_of`).
FEATURE_SET_KEY = "feature_set"
# Keys that vary between identical re-runs (timings): left out of determinism comparisons.
TIMING_KEYS = ("enc_time_ms",)


@dataclass
class Corpus:
    """Column view of a corpus file: what training and export consume."""

    path: Path
    features: np.ndarray  # [N, k] float64, in `feature_order` (the corpus model's feature set)
    vmaf: np.ndarray  # [N]
    src: np.ndarray  # [N] str
    group: np.ndarray  # [N] str: LOSO group (defaults to src)
    encoder: np.ndarray  # [N] str
    preset: np.ndarray  # [N] str
    cq: np.ndarray  # [N] float64
    frame_index: np.ndarray  # [N] int64
    src_sha256: np.ndarray  # [N] str
    rung: np.ndarray  # [N] str: rung_label ("native", or "480p" for a ladder rung scored upscaled)
    meta: dict[str, Any] = field(default_factory=dict)
    feature_order: tuple[str, ...] = CANONICAL6

    @property
    def feature_set(self) -> str:
        """The named feature set of `features` (`media.libvmaf.FEATURE_SETS`)."""
        return feature_set_of(str(self.meta.get(MODEL_KEY) or DEFAULT_MODEL))

    def __len__(self) -> int:
        return int(self.vmaf.shape[0])

    @property
    def sources(self) -> list[str]:
        return sorted(set(self.src.tolist()))

    @property
    def groups(self) -> list[str]:
        return sorted(set(self.group.tolist()))

    def cell_ids(self) -> np.ndarray:
        """An integer id per (src, encoder, preset, cq, rung): the unit of per-clip statistics."""
        return clip_ids(self.src, self.encoder, self.preset, self.cq, self.rung)

    def subset(self, mask: np.ndarray) -> Corpus:
        """The rows of `mask`, with the meta that describes rows (their count, their rungs) recomputed
        from them: a fold's training domain must list only the rungs its training rows hold, or a
        held-out source alone at a rung would count as served. (`frame_sizes` and `pix_fmts` stay the
        whole corpus's: the arrays do not keep them, and no domain check reads them.)"""
        cols = {name: getattr(self, name)[mask] for name in _ARRAY_FIELDS}
        meta = dict(self.meta)
        meta["n_rows"] = int(cols["rung"].size)
        if "rungs" in meta:
            present = set(cols["rung"].tolist())
            meta["rungs"] = [r for r in meta["rungs"] if r in present]
        return Corpus(path=self.path, meta=meta, feature_order=self.feature_order, **cols)


def clip_ids(*columns: np.ndarray) -> np.ndarray:
    """An integer id per distinct tuple of the columns' values, in sorted order.

    Keyed by the columns themselves, never by a joined string, so no name (a source called
    'a|b') can make two clips one."""
    codes = [np.unique(np.asarray(c).astype(str), return_inverse=True)[1].reshape(-1) for c in columns]
    _, ids = np.unique(np.stack(codes, axis=1), axis=0, return_inverse=True)
    return ids.reshape(-1).astype(np.int64)


_ARRAY_FIELDS = ("features", "vmaf", "src", "group", "encoder", "preset", "cq", "frame_index", "src_sha256", "rung")


# ---- value ranges of a row ---------------------------------------------------------------
# What a row may hold, checked at the edge (every reader of corpus rows calls validate_row), so
# values that parse but are nonsense (vmaf 1e6, cq -5 or a 400-digit integer, frame_index 1.5,
# adm2 1e308, an integer encoder, a null group) stop with exit 2 and file:line instead of being
# trained on.
VMAF_RANGE = (0.0, 100.0)  # libvmaf clips its VMAF score to [0, 100]
# The canonical-6's physical bounds, generous on purpose: a real libvmaf score never comes near
# them, they only stop nonsense (1e308, negatives). adm2 and vif_scale0..3 are ratios of
# non-negative sums (distorted over reference information), so >= 0; they sit in about [0, 1],
# exceed 1 a little on enhanced (sharpened) content, and libvmaf caps that enhancement gain at
# 100 (adm_enhn_gain_limit / vif_enhn_gain_limit max), hence 100. motion2 is a mean absolute
# difference of blurred luma on libvmaf's 8-bit scale, at most 255 (real clips: 0..~40); 1024
# leaves room for any bit-depth scaling.
FEATURE_BOUNDS: dict[str, tuple[float, float]] = {
    "adm2": (0.0, 100.0),
    "vif_scale0": (0.0, 100.0),
    "vif_scale1": (0.0, 100.0),
    "vif_scale2": (0.0, 100.0),
    "vif_scale3": (0.0, 100.0),
    "motion2": (0.0, 1024.0),
}
# VMAF v1's features, as generously: ADM2/3 and its scales are ratios like adm2 (gain limited),
# AIM a fraction of the reference's detail (about 0..0.1 on real encodes), motion2/3 and the motion
# SAD mean absolute differences on libvmaf's 8-bit scale (like motion2), CAMBI_HRS a banding score
# of at most 24 by construction, SpEED chroma a difference of local entropies (bits, small).
FEATURE_BOUNDS.update(
    {name: (0.0, 100.0) for name in V1_FEATURES if name.startswith(("integer_adm", "integer_aim"))}
    | {name: (0.0, 1024.0) for name in V1_FEATURES if name.startswith("integer_motion")}
    | {"cambi_hrs": (0.0, 100.0)}
    | {name: (0.0, 1e4) for name in V1_FEATURES if name.startswith("speed_chroma")}
)
# cq: the adapter's own range (media/encoders.py, e.g. libx264 0..51, libsvtav1 1..63); an
# encoder vmafkit has no adapter for (a shard of another kit) gets CQ_RANGE_OTHER, the widest
# adapter range. CQ_RANGE_OTHER, DIMENSION_MAX and FPS_MAX live in validation.py (the CLI uses
# them too).
FRAME_INDEX_MAX = 2**63 - 1  # int64, the corpus column's type
COUNT_MAX = 2**63 - 1  # enc_bytes, enc_time_ms
STRING_KEYS = ("src", "src_sha256", "encoder", "preset", "pix_fmt")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


def cq_range(encoder: str) -> tuple[int, int]:
    """The cq values `encoder` accepts: its adapter's range, else CQ_RANGE_OTHER."""
    from vmafkit.media.encoders import ADAPTERS

    adapter = ADAPTERS.get(encoder)
    return adapter.cq_range if adapter is not None else CQ_RANGE_OTHER


def _number(row: dict[str, Any], key: str, where: str) -> int | float:
    value = row[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{where}: {key} must be a number, got {_show(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{where}: {key} is {value} (NaN or infinite)")
    return value


def _in_range(row: dict[str, Any], key: str, where: str, low: float, high: float, what: str = "") -> None:
    value = _number(row, key, where)
    if not low <= value <= high:
        raise InputError(f"{where}: {key} {_show(value)} is out of range (allowed: {what or f'{low:g} to {high:g}'})")


def _integer(row: dict[str, Any], key: str, where: str, low: int, high: int, what: str) -> None:
    value = _number(row, key, where)
    if isinstance(value, float) and not value.is_integer() or not low <= value <= high:
        raise InputError(f"{where}: {key} must be {what}, got {_show(value)}")


def validate_row(row: Any, where: str) -> dict[str, Any]:
    """Check one decoded row; raise InputError naming `where` (file:line) on the first problem.

    Types and ranges: vmaf in VMAF_RANGE (to 110 for the model that scores so), the model's
    feature columns (the canonical-6, or v1's) in FEATURE_BOUNDS, cq in the encoder's
    range, frame_index a non-negative integer, width/height (and src_/scored_ sizes, when present)
    positive integers, fps positive, enc_bytes a non-negative integer, enc_time_ms >= 0, all
    finite; src, src_sha256, encoder, preset, pix_fmt non-empty strings; group and vmaf_model, when
    present, non-empty strings; a metric column, when present, a finite number; encoder not a known
    encoder's name in another case; pix_fmt a pixel format and bit_depth, when present, its depth."""
    if not isinstance(row, dict):
        raise InputError(f"{where}: a row must be a JSON object, got {type(row).__name__}")
    model, columns = _model_columns(row, where)
    _check_cache_keys(row, where)
    missing = [key for key in (*REQUIRED_KEYS, *columns) if key not in row]
    if missing:
        hint = ""
        if "src_sha256" in missing and all(key in row for key in ("src", "encoder", "cq", TARGET, *CANONICAL6)):
            hint = " (this looks like a seed-kit corpus: convert it with `vmafkit import-corpus`)"
        raise InputError(f"{where}: missing keys {', '.join(missing)}{hint}")
    version = row.get("schema_version", SCHEMA_VERSION)
    if isinstance(version, bool) or version != SCHEMA_VERSION:
        raise InputError(f"{where}: schema_version {_show(version)} is not the supported {SCHEMA_VERSION}")
    for key in (*NUMERIC_KEYS, *columns):
        _number(row, key, where)
    for key in STRING_KEYS:
        value = row[key]
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"{where}: {key} must be a non-empty string, got {_show(value)}")
    if RECIPE_KEY in row and not (isinstance(row[RECIPE_KEY], str) and re.fullmatch(r"[0-9a-f]{16}", row[RECIPE_KEY])):
        raise InputError(f"{where}: {RECIPE_KEY} must be 16 hex digits when present, got {_show(row[RECIPE_KEY])}")
    for key in ("group", MODEL_KEY):
        if key in row and (not isinstance(row[key], str) or not row[key].strip()):
            raise InputError(f"{where}: {key} must be a non-empty string when present, got {_show(row[key])}")
    for key in METRIC_COLUMNS:
        if key in row and not (row[key] is None and key in INFINITE_AS_NULL_COLUMNS):
            _number(row, key, where)
    _in_range(row, TARGET, where, VMAF_RANGE[0], score_max_of(model))
    for key in columns:
        _in_range(row, key, where, *FEATURE_BOUNDS[key])
    low, high = cq_range(row["encoder"])
    _in_range(row, "cq", where, low, high, f"{low} to {high} for {row['encoder']}")
    _integer(row, "frame_index", where, 0, FRAME_INDEX_MAX, "a non-negative integer")
    optional_sizes = (k for k in ("src_width", "src_height", "scored_width", "scored_height") if k in row)
    for key in ("width", "height", *optional_sizes):
        _integer(row, key, where, 1, DIMENSION_MAX, f"a positive integer up to {DIMENSION_MAX}")
    if "scale_filter" in row and (not isinstance(row["scale_filter"], str) or not row["scale_filter"].strip()):
        raise InputError(
            f"{where}: scale_filter must be a non-empty string when present, got {_show(row['scale_filter'])}"
        )
    value = row["fps"]
    if not 0 < value <= FPS_MAX:
        raise InputError(f"{where}: fps {_show(value)} is out of range (allowed: above 0, up to {FPS_MAX:g})")
    _integer(row, "enc_bytes", where, 0, COUNT_MAX, "a non-negative integer (the encoded file's size in bytes)")
    _in_range(row, "enc_time_ms", where, 0, COUNT_MAX, "0 or more")
    _check_encoder_name(row["encoder"], where)
    _check_pix_fmt(row, where)
    return row


def _model_columns(row: dict[str, Any], where: str) -> tuple[str, tuple[str, ...]]:
    """The row's libvmaf model and the feature columns it must carry; its `feature_set`, when
    present, must be that model's."""
    model = row.get(MODEL_KEY) or DEFAULT_MODEL
    if not isinstance(model, str) or not model.strip():
        raise InputError(f"{where}: {MODEL_KEY} must be a non-empty string when present, got {_show(model)}")
    if FEATURE_SET_KEY in row and row[FEATURE_SET_KEY] != feature_set_of(model):
        raise InputError(
            f"{where}: {FEATURE_SET_KEY} {_show(row[FEATURE_SET_KEY])} is not the feature set of "
            f"{MODEL_KEY} {_show(model)} ({feature_set_of(model)})"
        )
    return model, feature_columns(model)


def _check_cache_keys(row: dict[str, Any], where: str) -> None:
    """What ties a row to its kept encode (`encode_key`, and the encoder threads it ran with)."""
    if ENCODE_KEY in row:
        check_key(row[ENCODE_KEY], where)
    if "enc_threads" in row:
        low, high = ENCODER_THREADS_RANGE
        _integer(row, "enc_threads", where, low, high, f"an integer from {low} to {high}")


def _check_encoder_name(encoder: str, where: str) -> None:
    """An encoder vmafkit has no adapter for is allowed (a shard of another kit), but not a known
    name spelt in another case or with spaces: 'LIBX264' would train as a different, unknown encoder."""
    from vmafkit.media.encoders import ADAPTERS

    if encoder in ADAPTERS:
        return
    folded = encoder.strip().casefold()
    close = next((name for name in ADAPTERS if name.casefold() == folded), None)
    if close is not None:
        raise InputError(
            f"{where}: encoder {_show(encoder)} is not a known encoder name (did you mean {close!r}? "
            "encoder names are ffmpeg's, exactly as written)"
        )


def _check_pix_fmt(row: dict[str, Any], where: str) -> None:
    """pix_fmt a pixel format a source can be in (media.sources.is_pix_fmt), bit_depth (when
    present) the depth vmafkit derives from it (media.sources.bit_depth_of), as it writes them."""
    from vmafkit.media.sources import KNOWN_PIX_FMTS, bit_depth_of, is_pix_fmt

    pix_fmt = row["pix_fmt"]
    if not is_pix_fmt(pix_fmt):
        known = ", ".join(sorted(KNOWN_PIX_FMTS))
        raise InputError(
            f"{where}: pix_fmt {_show(pix_fmt)} is not a pixel format (allowed: {known}, "
            "or another name `ffmpeg -pix_fmts` lists)"
        )
    if "bit_depth" in row:
        depth = bit_depth_of(pix_fmt)
        _integer(row, "bit_depth", where, depth, depth, f"{depth}, the bit depth of pix_fmt {pix_fmt}")


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
    rows: list[dict[str, Any]] = []
    seen: dict[tuple, str] = {}
    for where, row in numbered:
        validate_row(row, where)
        key = row_key(row)
        if key in seen:
            raise InputError(
                f"{where}: duplicate row (same {', '.join(MERGE_KEY)} as {seen[key]}); deduplicate with `vmafkit merge`"
            )
        seen[key] = where
        rows.append(row)
    return rows


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    require_regular_file(path, what="corpus file")  # a FIFO would block pyarrow, a folder reads as a dataset
    try:
        return pq.read_table(path).to_pylist()
    except FileNotFoundError:
        raise InputError("corpus file not found", path=path) from None
    except Exception as exc:  # pyarrow raises many types for a bad file
        raise InputError(f"not a readable Parquet file ({exc})", path=path) from None


def model_of(row: dict[str, Any]) -> str:
    """The libvmaf model a row was scored with (MODEL_KEY)."""
    return str(row.get(MODEL_KEY) or DEFAULT_MODEL)


def rows_to_corpus(rows: list[dict[str, Any]], path: str | Path) -> Corpus:
    """Columns of validated rows. Rows of two libvmaf models are refused: their vmaf and features
    are different quantities, so nothing may be trained on both."""
    path = Path(path)
    if not rows:
        raise InputError("corpus has no rows", path=path)
    model = model_of(rows[0])
    columns = feature_columns(model)
    for i, r in enumerate(rows):
        if model_of(r) != model:
            raise InputError(
                f"row {i + 1} was scored with libvmaf model {model_of(r)} but row 1 with {model}; "
                "a corpus holds one model's rows (build one corpus per --model)",
                path=path,
            )
        if r.get(RECIPE_KEY) != rows[0].get(RECIPE_KEY):
            raise InputError(
                f"row {i + 1} was scored with scoring recipe {r.get(RECIPE_KEY)} but row 1 with "
                f"{rows[0].get(RECIPE_KEY)} (another model, metrics, subsampling, depth, scale filter or "
                "libvmaf build): their numbers are not one quantity; re-score one of them",
                path=path,
            )
    group_of: dict[str, str] = {}
    for i, r in enumerate(rows):
        group = str(r.get("group") or r["src"])
        first = group_of.setdefault(str(r["src_sha256"]), group)
        if first != group:
            raise InputError(
                f"row {i + 1}: source {str(r['src_sha256'])[:12]} (src {r['src']}) is in LOSO groups "
                f"{first!r} and {group!r}: one clip in two folds leaks between them",
                path=path,
            )
    sizes = sorted({(int(r["width"]), int(r["height"])) for r in rows})
    rungs = sorted({label for r in rows if (label := rung_label(r)) is not None}, key=rung_order)
    return Corpus(
        path=path,
        features=np.array([[float(r[k]) for k in columns] for r in rows], dtype=np.float64),
        feature_order=columns,
        vmaf=np.array([float(r[TARGET]) for r in rows], dtype=np.float64),
        src=np.array([str(r["src"]) for r in rows]),
        group=np.array([str(r.get("group") or r["src"]) for r in rows]),
        encoder=np.array([str(r["encoder"]) for r in rows]),
        preset=np.array([str(r["preset"]) for r in rows]),
        cq=np.array([float(r["cq"]) for r in rows], dtype=np.float64),
        frame_index=np.array([int(r["frame_index"]) for r in rows], dtype=np.int64),
        src_sha256=np.array([str(r["src_sha256"]) for r in rows]),
        rung=np.array([rung_label(r) or NATIVE_RUNG for r in rows]),
        meta={
            "n_rows": len(rows),
            "frame_sizes": [list(wh) for wh in sizes],
            "pix_fmts": sorted({str(r["pix_fmt"]) for r in rows}),
            MODEL_KEY: model,
            RECIPE_KEY: rows[0].get(RECIPE_KEY),
            "rungs": rungs,
        },
    )


def source_columns(source: Source) -> dict[str, Any]:
    """The columns a row takes from its reference clip: identity, group, the size encodes and
    scoring use (chroma-subsampled axes cropped to even), the clip's own size, fps, pixel format."""
    width, height = source.even_size
    return {
        "schema_version": SCHEMA_VERSION,
        "src": source.name,
        "src_sha256": source.sha256,
        "group": source.group,
        "width": width,
        "height": height,
        "src_width": source.width,
        "src_height": source.height,
        "fps": source.fps,
        "pix_fmt": source.pix_fmt,
        "bit_depth": source.bit_depth,
    }


NATIVE_RUNG = "native"


def rung_label(row: Mapping[str, Any]) -> str | None:
    """Which rung a row (corpus or feature row) was scored at: "native" when at its encoded size,
    "480p" when its 480-line encode was scaled up to be scored; None when the row gives no size."""
    if "height" not in row:
        return None
    scored = (row.get("scored_width", row.get("width")), row.get("scored_height", row["height"]))
    if scored == (row.get("width"), row["height"]):
        return NATIVE_RUNG
    return f"{int(row['height'])}p"


def rung_order(label: str) -> tuple[int, int]:
    """Sort key of rung labels: native first, then the rungs from the highest down."""
    return (0, 0) if label == NATIVE_RUNG else (1, -int(label.removesuffix("p")))


def load_corpus(path: str | Path) -> Corpus:
    """Read and validate a corpus file into columns (raises InputError, exit 2, on bad input)."""
    return rows_to_corpus(read_rows(path), path)


def row_key(row: dict[str, Any]) -> tuple:
    return tuple(row[k] for k in MERGE_KEY)


def write_jsonl_lines(rows: Iterable[dict[str, Any]]) -> str:
    """Canonical JSONL text (sorted keys, one row a line) for a sequence of rows."""
    return "".join(json.dumps(row, sort_keys=True, allow_nan=False) + "\n" for row in rows)
