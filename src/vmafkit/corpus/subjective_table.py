"""The feature table: one row per clip, with the feature columns, the subjective target and the
content group the user names (`--features`, `--target`, `--group`).

Formats, by suffix:

* `.csv` — a header line, then one row a line (RFC 4180 quoting);
* `.parquet` — any Parquet file pyarrow reads (numeric feature/target columns);
* `.jsonl` / `.ndjson` — one JSON object a line;
* `.json` — a JSON object of columns, pandas' default `DataFrame.to_json()` layout
  `{column: {row_id: value}}` (a column may also be a plain list), or an array of row objects.

Every value is checked: features and target finite numbers, the group a non-empty string (an
integer group is read as its decimal text). Problems are one InputError (exit 2) naming the place:
`file:line` (CSV, JSON lines, an array of rows), `file:row N` (Parquet), `file: column C, row R`
(a JSON object of columns). A named column the file lacks is refused with the file's columns
and a "did you mean". The target or the group may not also be a feature (it would leak).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vmafkit.corpus import subjective_readers as readers
from vmafkit.corpus.subjective_items import Items
from vmafkit.corpus.subjective_scale import Scale
from vmafkit.errors import InputError
from vmafkit.io import iter_json_objects, loads_json, require_regular_file, sha256_file

SUFFIXES = (".csv", ".parquet", ".jsonl", ".ndjson", ".json")


def check_columns(features: Sequence[str], target: str, group: str, id_column: str | None = None) -> list[str]:
    features = [f.strip() for f in features]
    if not features or any(not f for f in features):
        raise InputError("--features: name at least one feature column (comma-separated)")
    for name in features:
        if features.count(name) > 1:
            raise InputError(f"--features names {name!r} twice")
    if not target or not group:
        raise InputError("--target and --group must name columns")
    for flag, name in (("--target", target), ("--group", group)):
        if name in features:
            raise InputError(f"{flag} {name!r} is also one of --features: the model would see its own answer")
    if target == group:
        raise InputError(f"--target and --group are the same column {target!r}")
    if id_column is not None and id_column in features:
        raise InputError(f"--id {id_column!r} is also one of --features")
    return features


def _missing(path: Path, wanted: Sequence[str], available: Sequence[str], where: str | None = None) -> None:
    for name in wanted:
        if name not in available:
            close = difflib.get_close_matches(name, list(available), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            shown = ", ".join(list(available)[:20]) + (" ..." if len(available) > 20 else "")
            raise InputError(f"{where or path}: no column {name!r} (columns: {shown}){hint}")


def _group_value(value: Any, where: str, column: str) -> str:
    if isinstance(value, bool) or value is None:
        raise InputError(f"{where}: group column {column!r} must be a non-empty string, got {readers.show(value)}")
    if isinstance(value, float):
        if not value.is_integer():
            raise InputError(f"{where}: group column {column!r} must be a string or an integer, got {value!r}")
        value = int(value)
    if not isinstance(value, (str, int)):
        raise InputError(f"{where}: group column {column!r} must be a string, got {readers.show(value)}")
    text = str(value).strip()
    if not text:
        raise InputError(f"{where}: group column {column!r} is empty")
    return text


class _Collector:
    def __init__(self, features: Sequence[str], target: str, group: str, id_column: str | None):
        self.features, self.target, self.group, self.id_column = list(features), target, group, id_column
        self.x: list[list[float]] = []
        self.y: list[float] = []
        self.g: list[str] = []
        self.ids: list[str] = []

    def add(self, row: dict[str, Any], where: str, default_id: str) -> None:
        missing = [c for c in [*self.features, self.target, self.group] if c not in row]
        if missing:
            close = difflib.get_close_matches(missing[0], [str(k) for k in row], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InputError(f"{where}: missing column {missing[0]!r}{hint}")
        self.x.append([readers.parse_number(row[c], where, f"column {c!r}") for c in self.features])
        self.y.append(readers.parse_number(row[self.target], where, f"target column {self.target!r}"))
        self.g.append(_group_value(row[self.group], where, self.group))
        if self.id_column is not None:
            if self.id_column not in row:
                raise InputError(f"{where}: missing column {self.id_column!r}")
            self.ids.append(_group_value(row[self.id_column], where, self.id_column))
        else:
            self.ids.append(default_id)
        if len(self.y) > readers.MAX_ROWS:
            raise InputError(f"{where}: more than {readers.MAX_ROWS} rows")


def read_table(
    path: str | Path,
    features: Sequence[str],
    target: str,
    group: str,
    *,
    id_column: str | None = None,
    scale: Scale | None = None,
) -> Items:
    """The named columns of a feature table as `Items` (module doc)."""
    path = Path(path)
    features = check_columns(features, target, group, id_column)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(
            f"feature table must be one of {', '.join(SUFFIXES)}, not {suffix or 'no suffix'!r}", path=path
        )
    col = _Collector(features, target, group, id_column)
    wanted = [*features, target, group] + ([id_column] if id_column else [])
    where_of: list[str] = []
    if suffix == ".csv":
        header, rows = readers.iter_csv(path, what="feature table")
        _missing(path, wanted, header, f"{path}:1")
        for line, row in rows:
            col.add(row, f"{path}:{line}", f"row{len(col.y)}")
            where_of.append(f"{path}:{line}")
    elif suffix in (".jsonl", ".ndjson"):
        for line, row in iter_json_objects(path, what="feature table"):
            col.add(row, f"{path}:{line}", f"row{len(col.y)}")
            where_of.append(f"{path}:{line}")
    elif suffix == ".parquet":
        _read_parquet(path, wanted, col, where_of)
    else:
        _read_json(path, wanted, col, where_of)
    if not col.y:
        raise InputError("feature table has no rows", path=path)
    if len(set(col.ids)) != len(col.ids):
        seen: dict[str, int] = {}
        for i, rid in enumerate(col.ids):
            if rid in seen:
                raise InputError(f"{where_of[i]}: id {rid!r} repeats (first at {where_of[seen[rid]]})")
            seen[rid] = i
    y = np.asarray(col.y, dtype=np.float64)
    if scale is not None:
        for i, value in enumerate(col.y):
            scale.check(value, where_of[i])
    return Items(
        ids=col.ids,
        features=np.asarray(col.x, dtype=np.float64).reshape(len(col.y), len(features)),
        feature_names=tuple(features),
        target=y,
        groups=np.asarray(col.g, dtype=str),
        source={
            "kind": "table",
            "path": str(path),
            "sha256": sha256_file(path),
            "features": features,
            "target": target,
            "group": group,
            "id": id_column,
        },
    ).check()


def _read_parquet(path: Path, wanted: list[str], col: _Collector, where_of: list[str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    require_regular_file(path, what="feature table")
    size = os.stat(path).st_size
    if size > readers.MAX_TABLE_BYTES:
        raise InputError(f"feature table is {size} bytes; the limit is {readers.MAX_TABLE_BYTES}", path=path)
    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # pyarrow raises many types for a bad file
        raise InputError(f"not a readable Parquet file ({' '.join(str(exc).split())[:200]})", path=path) from None
    _missing(path, wanted, schema.names)
    numeric = [*col.features, col.target]
    for name in numeric:
        kind = schema.field(name).type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)):
            raise InputError(f"{path}: column {name!r} is of type {kind}, not a number")
    try:
        meta = pq.read_metadata(path)
        if meta.num_rows > readers.MAX_ROWS:
            raise InputError(f"feature table has {meta.num_rows} rows; the limit is {readers.MAX_ROWS}", path=path)
        table = pq.read_table(path, columns=list(dict.fromkeys(wanted)))
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"not a readable Parquet file ({' '.join(str(exc).split())[:200]})", path=path) from None
    columns = {name: table.column(name).to_pylist() for name in dict.fromkeys(wanted)}
    for i in range(table.num_rows):
        where = f"{path}:row {i + 1}"
        row = {name: values[i] for name, values in columns.items()}
        for name, value in row.items():
            if value is None:
                raise InputError(f"{where}: column {name!r} is null")
        col.add(row, where, f"row{i}")
        where_of.append(where)


def _read_json(path: Path, wanted: list[str], col: _Collector, where_of: list[str]) -> None:
    text = readers.read_text(path, what="feature table")
    stripped = text.lstrip()
    if stripped.startswith("["):  # an array of row objects (pandas orient="records")
        for line, row in readers.iter_json_array(path, what="feature table", text=text):
            if not isinstance(row, dict):
                raise InputError(f"{path}:{line}: a row must be a JSON object, got {type(row).__name__}")
            col.add(row, f"{path}:{line}", f"row{len(col.y)}")
            where_of.append(f"{path}:{line}")
        return
    data = loads_json(text, where=str(path), what="feature table")
    if not isinstance(data, dict):
        raise InputError(
            "feature table must be a JSON object of columns {column: {row_id: value}} or an array of row objects",
            path=path,
        )
    _missing(path, wanted, list(data))
    first = data[wanted[0]]
    if isinstance(first, dict):
        row_ids = list(first)
    elif isinstance(first, list):
        row_ids = [str(i) for i in range(len(first))]
    else:
        raise InputError(
            f"{path}: column {wanted[0]!r} must be an object {{row_id: value}} or a list, got {type(first).__name__}"
        )
    if len(row_ids) > readers.MAX_ROWS:
        raise InputError(f"feature table has {len(row_ids)} rows; the limit is {readers.MAX_ROWS}", path=path)
    columns: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(wanted):
        values = data[name]
        if isinstance(values, list):
            values = {str(i): v for i, v in enumerate(values)}
        if not isinstance(values, dict):
            raise InputError(
                f"{path}: column {name!r} must be an object {{row_id: value}} or a list, got {type(values).__name__}"
            )
        if len(values) != len(row_ids) or any(rid not in values for rid in row_ids):
            odd = next((rid for rid in row_ids if rid not in values), None)
            if odd is None:
                odd = next(rid for rid in values if rid not in set(row_ids))
                raise InputError(f"{path}: column {name!r}, row {odd!r}: a row no other column has")
            raise InputError(f"{path}: column {name!r} lacks row {odd!r} (every column must have the same rows)")
        columns[name] = values
    for rid in row_ids:
        row = {name: values[rid] for name, values in columns.items()}
        bad = next(
            (
                name
                for name, v in row.items()
                if name != col.group
                and name != col.id_column
                and (
                    isinstance(v, bool)
                    or not isinstance(v, (int, float))
                    or v != v
                    or v in (float("inf"), float("-inf"))
                )
            ),
            None,
        )
        if bad is not None:
            raise InputError(
                f"{path}: column {bad!r}, row {rid!r}: must be a finite number, got {readers.show(row[bad])}"
            )
        where = f"{path}: row {rid!r}"
        col.add(row, where, rid)
        where_of.append(where)
