"""Merge corpus shards from several hosts into one corpus.

Rows are deduplicated by (src_sha256, encoder, preset, cq, width, height, frame_index). Two rows with the same
key must carry the same numbers: if they differ (another libvmaf build or back-end), the merge
refuses rather than keeping one silently. Shards scored by different libvmaf versions are
refused unless explicitly allowed, since their numbers are not interchangeable.

Rows of two libvmaf models (`vmaf_model`) never merge: their vmaf and features are different
quantities. Nor do rows that carry different extra metric columns (`--metrics`): every row of the
merged corpus has the same columns.

One reference clip (one `src_sha256`) must sit in one LOSO group across all shards: when two hosts
named the same clip differently (another `src`, so another default group) or gave it different
`group` values, its frames would be trained on in one fold and held out in another, so the merge
refuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vmafkit.corpus.schema import (
    MERGE_KEY,
    SCHEMA_VERSION,
    TARGET,
    iter_jsonl,
    model_of,
    row_key,
    validate_row,
    write_jsonl_lines,
)
from vmafkit.errors import InputError
from vmafkit.io import atomic_output, check_distinct_paths, check_output_path
from vmafkit.media.libvmaf import METRIC_COLUMNS, RECIPE_KEY, feature_columns

SCORE_TOLERANCE = 1e-6


@dataclass
class MergeSummary:
    out: Path
    rows_in: int
    rows_out: int
    duplicates: int
    sources: list[str]
    per_shard: dict[str, int] = field(default_factory=dict)
    libvmaf_versions: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "out": str(self.out)}


def _scores(row: dict[str, Any]) -> tuple[str, ...]:
    """The numbers libvmaf gave a row: vmaf, its model's feature columns and its metric columns."""
    return (TARGET, *feature_columns(model_of(row)), *_metric_columns(row))


def _metric_columns(row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(k for k in METRIC_COLUMNS if k in row)


def _same_numbers(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(abs(float(a[k]) - float(b[k])) <= SCORE_TOLERANCE for k in _scores(a))


# What a row records about how it was made: when two rows disagree, these tell why.
PROVENANCE_KEYS = (
    "backend",
    "libvmaf_version",
    "ffmpeg_version",
    "vmaf_model",
    "encoder_version",
    "enc_threads",
    "width",
    "height",
    "pix_fmt",
    "src_width",
    "src_height",
    "fps",
    "scored_width",
    "scored_height",
    "scale_filter",
)


def _differences(first: dict[str, Any], other: dict[str, Any]) -> str:
    """What actually differs between two rows of one key: the numbers (first's value vs other's),
    then any provenance field; when no provenance field differs, say so, naming the shared ones."""
    numbers = [
        f"{k} {float(first[k]):.6g} vs {float(other[k]):.6g}"
        for k in _scores(first)
        if abs(float(first[k]) - float(other[k])) > SCORE_TOLERANCE
    ]
    changed = [f"{k} {first.get(k)!r} vs {other.get(k)!r}" for k in PROVENANCE_KEYS if first.get(k) != other.get(k)]
    text = ", ".join(numbers)
    if changed:
        return f"{text}; made differently: {', '.join(changed)}"
    same = ", ".join(
        f"{k} {first.get(k)}" for k in ("backend", "libvmaf_version", "ffmpeg_version") if first.get(k) is not None
    )
    return f"{text}; both rows record the same {same}" if same else text


def _group_of(row: dict[str, Any]) -> str:
    """The row's LOSO group, as the corpus loader reads it (`group`, defaulting to `src`)."""
    return str(row.get("group") or row["src"])


def merge_shards(shards: Sequence[str | Path], out: str | Path, *, allow_mixed_versions: bool = False) -> MergeSummary:
    if not shards:
        raise InputError("merge needs at least one shard")
    out = check_output_path(out)
    check_distinct_paths({"a shard": list(shards)}, {"--out": out})
    kept: dict[tuple, tuple[dict[str, Any], str]] = {}
    rows_in = duplicates = 0
    per_shard: dict[str, int] = {}
    versions: dict[str, str] = {}
    groups: dict[str, tuple[str, str, str]] = {}  # src_sha256 -> (group, src, where first seen)
    first_model: tuple[str, str] | None = None  # (vmaf_model, where first seen)
    first_columns: tuple[tuple[str, ...], str] | None = None  # (metric columns, where first seen)
    first_recipe: tuple[str | None, str] | None = None  # (scoring recipe id, where first seen)
    for shard in map(Path, shards):
        count = 0
        for lineno, row in iter_jsonl(shard):
            where = f"{shard}:{lineno}"
            if row.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
                raise InputError(
                    f"{where}: schema_version {row.get('schema_version')!r} is not {SCHEMA_VERSION}; "
                    "re-score that shard with this vmafkit"
                )
            validate_row(row, where)
            first_model = first_model or (model_of(row), where)
            if model_of(row) != first_model[0]:
                raise InputError(
                    f"{where}: scored with libvmaf model {model_of(row)}, but {first_model[1]} with "
                    f"{first_model[0]}; the models' vmaf and features differ, so their corpora never merge"
                )
            columns = _metric_columns(row)
            first_columns = first_columns or (columns, where)
            if columns != first_columns[0]:
                raise InputError(
                    f"{where}: metric columns {', '.join(columns) or 'none'}, but {first_columns[1]} has "
                    f"{', '.join(first_columns[0]) or 'none'}; merge shards scored with the same --metrics"
                )
            first_recipe = first_recipe or (row.get(RECIPE_KEY), where)
            if row.get(RECIPE_KEY) != first_recipe[0]:
                raise InputError(
                    f"{where}: scoring recipe {row.get(RECIPE_KEY)}, but {first_recipe[1]} has {first_recipe[0]} "
                    "(another subsampling, depth, scale filter or HDR choice, or a shard of a vmafkit before "
                    "recipes: None); merge shards scored the same way, re-scoring the odd one"
                )
            versions.setdefault(str(row.get("libvmaf_version")), where)
            count += 1
            sha, group, src = str(row["src_sha256"]), _group_of(row), str(row["src"])
            first_group, first_src, first_seen = groups.setdefault(sha, (group, src, where))
            if group != first_group:
                raise InputError(
                    f"{where}: src_sha256 {sha} (the same reference clip) is in LOSO group {group!r} (src {src!r}) "
                    f"here but in group {first_group!r} (src {first_src!r}) at {first_seen}; its frames would leak "
                    "across folds: give the clip one name and group on every host (sources.toml [groups]) and re-score"
                )
            key = row_key(row)
            if key in kept:
                first, first_where = kept[key]
                if not _same_numbers(first, row):
                    raise InputError(
                        f"{where}: row {dict(zip(MERGE_KEY, key))} was scored differently in {first_where}: "
                        f"{_differences(first, row)}; refusing to merge"
                    )
                duplicates += 1
                continue
            kept[key] = (row, where)
        per_shard[str(shard)] = count
        rows_in += count
    if len(versions) > 1 and not allow_mixed_versions:
        detail = ", ".join(f"{v} (first at {w})" for v, w in sorted(versions.items()))
        raise InputError(
            f"shards were scored by different libvmaf versions: {detail}; pass --allow-mixed-versions to merge anyway"
        )
    rows = sorted(
        (row for row, _ in kept.values()),
        key=lambda r: (
            str(r["src"]),
            *map(str, row_key(r)[1:3]),
            float(r["cq"]),
            -int(r["height"]),
            -int(r["width"]),
            int(r["frame_index"]),
        ),
    )
    with atomic_output(out, "w") as handle:
        handle.write(write_jsonl_lines(rows))
    return MergeSummary(
        out=out,
        rows_in=rows_in,
        rows_out=len(rows),
        duplicates=duplicates,
        sources=sorted({str(r["src"]) for r in rows}),
        per_shard=per_shard,
        libvmaf_versions=sorted(versions),
    )
