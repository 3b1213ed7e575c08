"""`vmafkit import-corpus`: turn a corpus made by the seed kit into a native vmafkit corpus.

The seed kit wrote rows with only `src, encoder, cq, frame_index, enc_bytes, enc_time_ms, vmaf`
and the six features. Those rows are hours of encoding; this module fills in what a native row
also carries, from the reference clips the rows were made from (matched by name: the clip's file
name without its extension, as vmafkit names sources):

- from the clip: `src_sha256`, `width`/`height` (the even size encodes use), `src_width`/
  `src_height`, `fps`, `pix_fmt`, `bit_depth`, and the `group` from the folder's sources file;
- from flags: `preset` (one for all encoders, or one per encoder), `libvmaf_version`;
- always: `imported_from` = "seed-kit sha256:<hash of the seed file>", so an imported row is
  never mistaken for one vmafkit scored itself.

A seed row that already carries one of these fields (FILLED_FIELDS) with another value than the
import would write stops the import (exit 2, FILE:LINE, the field and both values) unless the
field is named in `overwrite_fields` (`--overwrite-field`): a row's own `src_sha256`, `group` or
`vmaf_model` is never replaced without a word.

A row whose source is not in the folder, or whose values are out of range, stops the import with
exit 2 and FILE:LINE; nothing is written until every row has passed.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmafkit.corpus.schema import (
    CANONICAL6,
    TARGET,
    read_rows,
    row_key,
    source_columns,
    validate_row,
    write_jsonl_lines,
)
from vmafkit.errors import InputError
from vmafkit.io import atomic_write_text, check_distinct_paths, check_output_path, iter_json_objects, sha256_file
from vmafkit.media import ffmpeg as ffm
from vmafkit.media.libvmaf import RECIPE_KEY, recipe_id, scoring_recipe
from vmafkit.media.sources import Source, find_sources

SEED_KEYS = ("src", "encoder", "cq", "frame_index", "enc_bytes", "enc_time_ms", TARGET, *CANONICAL6)
# The fields the import writes itself (from the clip, the flags, the seed file's hash): a seed row's
# own value of one of them must agree, or the field be named in overwrite_fields.
FILLED_FIELDS = (
    "schema_version",
    "src_sha256",
    "group",
    "width",
    "height",
    "src_width",
    "src_height",
    "fps",
    "pix_fmt",
    "bit_depth",
    "preset",
    "libvmaf_version",
    "vmaf_model",
    "scoring_recipe",
    "imported_from",
)
IMPORTED_FROM_PREFIX = "seed-kit sha256:"
UNKNOWN_VERSION = "unknown"


@dataclass(frozen=True)
class ImportSummary:
    out: Path
    n_rows: int
    sources: list[str]
    encoders: list[str]
    imported_from: str


def parse_presets(value: str, encoders: Sequence[str]) -> dict[str, str]:
    """`--preset medium` (every encoder) or `--preset libx264=medium,libx265=slow` -> {encoder: preset}."""
    value = value.strip()
    if not value:
        raise InputError("--preset is empty")
    if "=" not in value:
        return dict.fromkeys(encoders, value)
    presets: dict[str, str] = {}
    for item in value.split(","):
        encoder, sep, preset = (part.strip() for part in item.partition("="))
        if not sep or not encoder or not preset:
            raise InputError(f"--preset item {item.strip()!r} is not ENCODER=PRESET")
        presets[encoder] = preset
    missing = [e for e in encoders if e not in presets]
    if missing:
        raise InputError(f"--preset names no preset for {', '.join(missing)} (the seed file uses them)")
    return presets


def import_seed_corpus(
    seed_file: str | Path,
    ref_dir: str | Path,
    out: str | Path,
    *,
    preset: str,
    libvmaf_version: str | None = None,
    ffmpeg: str | None = None,
    overwrite_fields: Sequence[str] = (),
) -> ImportSummary:
    """Read `seed_file`, complete every row from the clips in `ref_dir`, write `out` atomically.

    A seed row's own value of a field the import writes (FILLED_FIELDS) that differs from what it
    would write is refused unless that field is in `overwrite_fields` (then replaced)."""
    overwrite = check_overwrite_fields(overwrite_fields)
    seed_file, out = Path(seed_file), check_output_path(out)
    check_distinct_paths({"the seed corpus": seed_file}, {"--out": out})
    numbered = list(iter_json_objects(seed_file, what="seed corpus"))
    if not numbered:
        raise InputError("has no rows", path=seed_file)
    for lineno, row in numbered:
        _check_seed_row(row, f"{seed_file}:{lineno}")
    encoders = sorted({row["encoder"] for _, row in numbered})
    presets = parse_presets(preset, encoders)
    sources = {s.name: s for s in find_sources(ref_dir, ff=ffm.find_ffmpeg(ffmpeg, require_libvmaf=False))}
    check_distinct_paths({"a reference clip": [s.path for s in sources.values()]}, {"--out": out})
    imported_from = IMPORTED_FROM_PREFIX + sha256_file(seed_file)
    rows: list[dict[str, Any]] = []
    seen: dict[tuple, int] = {}
    for lineno, row in numbered:
        where = f"{seed_file}:{lineno}"
        source = sources.get(row["src"])
        if source is None:
            raise InputError(f"{where}: source {row['src']!r} is not in {ref_dir}{_did_you_mean(row['src'], sources)}")
        full = _complete(row, source, presets[row["encoder"]], libvmaf_version, imported_from)
        _check_conflicts(row, full, overwrite, where)
        validate_row(full, where)
        key = row_key(full)
        if key in seen:
            raise InputError(f"{where}: the same frame as line {seen[key]} (src, encoder, cq, frame_index)")
        seen[key] = lineno
        rows.append(full)
    rows.sort(key=lambda r: (r["src"], r["encoder"], r["preset"], r["cq"], r["frame_index"]))
    atomic_write_text(out, write_jsonl_lines(rows))
    read_rows(out)  # what was written reads back as a native corpus
    return ImportSummary(
        out=out,
        n_rows=len(rows),
        sources=sorted({r["src"] for r in rows}),
        encoders=encoders,
        imported_from=imported_from,
    )


def _check_seed_row(row: Any, where: str) -> None:
    if not isinstance(row, dict):
        raise InputError(f"{where}: a row must be a JSON object, got {type(row).__name__}")
    missing = [k for k in SEED_KEYS if k not in row]
    if missing:
        raise InputError(f"{where}: missing keys {', '.join(missing)} (a seed-kit row has {', '.join(SEED_KEYS)})")
    for key in ("src", "encoder"):
        if not isinstance(row[key], str) or not row[key].strip():
            raise InputError(f"{where}: {key} must be a non-empty string, got {row[key]!r}")


def _complete(
    row: Mapping[str, Any], source: Source, preset: str, libvmaf_version: str | None, imported_from: str
) -> dict[str, Any]:
    return {
        **{k: row[k] for k in SEED_KEYS},
        **source_columns(source),
        "preset": preset,
        "libvmaf_version": libvmaf_version or UNKNOWN_VERSION,
        "vmaf_model": ffm.VMAF_MODEL,
        # the seed kit scored with libvmaf's defaults: v0.6.1, every frame, no extra metric, no resize
        RECIPE_KEY: recipe_id(scoring_recipe(ffm.VMAF_MODEL, (), 1, None)),
        "imported_from": imported_from,
    }


def check_overwrite_fields(fields: Sequence[str]) -> frozenset[str]:
    """The fields named for --overwrite-field, each one of FILLED_FIELDS (else InputError)."""
    if isinstance(fields, (str, bytes)) or not isinstance(fields, Sequence):
        raise InputError(f"overwrite_fields must be a list of field names, got {type(fields).__name__} {fields!r:.40}")
    for field in fields:
        if not isinstance(field, str) or field not in FILLED_FIELDS:
            close = difflib.get_close_matches(str(field), FILLED_FIELDS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InputError(
                f"--overwrite-field {field!r} is not a field the import writes ({hint}one of {', '.join(FILLED_FIELDS)})"
            )
    return frozenset(fields)


def _check_conflicts(
    seed_row: Mapping[str, Any], full: Mapping[str, Any], overwrite: frozenset[str], where: str
) -> None:
    """Refuse a seed row's own value of a filled field that the import would replace by another."""
    for field in FILLED_FIELDS:
        if field in seed_row and field not in overwrite and not _same(seed_row[field], full[field]):
            raise InputError(
                f"{where}: the seed row's {field} is {_shown(seed_row[field])} but the import would write "
                f"{_shown(full[field])}; fix the row or pass --overwrite-field {field} to replace it"
            )


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same JSON kind (25 and 25.0 are the same fps; true is not 1)."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def _did_you_mean(name: str, sources: Mapping[str, Source]) -> str:
    close = difflib.get_close_matches(name, list(sources), n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (it has: {', '.join(sorted(sources)[:8])}{', ...' if len(sources) > 8 else ''})"
