"""Issue 15: the feature-table reader (CSV, Parquet, JSON lines, JSON object of columns).

Every format gives the same Items; every bad input is one InputError naming file:line (or
file: column/row), never a traceback or a hang. The tables here are generated (no real data).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest

from vmafkit.corpus.subjective_scale import SCALES
from vmafkit.corpus.subjective_table import read_table
from vmafkit.errors import InputError

FEATURES = ["f1", "f2", "f3"]


def _rows(n_contents: int = 4, per: int = 3) -> list[dict]:
    rng = np.random.default_rng(7)
    rows = []
    for c in range(n_contents):
        for k in range(per):
            rows.append(
                {
                    "clip": f"c{c}_{k}",
                    "content": f"c{c}",
                    "mos": float(np.round(rng.uniform(1, 5), 4)),
                    **{f: float(np.round(rng.normal(), 6)) for f in FEATURES},
                }
            )
    return rows


def write(tmp_path: Path, rows: list[dict], fmt: str, name: str = "table") -> Path:
    path = tmp_path / f"{name}.{fmt}"
    if fmt == "csv":
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif fmt == "json":  # pandas' default DataFrame.to_json(): {column: {row_id: value}}
        cols = {k: {str(i): r[k] for i, r in enumerate(rows)} for k in rows[0]}
        path.write_text(json.dumps(cols))
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json", "parquet"])
def test_every_format_reads_the_same_items(tmp_path, fmt):
    rows = _rows()
    items = read_table(write(tmp_path, rows, fmt), FEATURES, "mos", "content")
    assert items.feature_names == tuple(FEATURES)
    assert np.array_equal(items.features, np.array([[r[f] for f in FEATURES] for r in rows]))
    assert np.array_equal(items.target, np.array([r["mos"] for r in rows]))
    assert items.groups.tolist() == [r["content"] for r in rows]
    assert items.contents == ["c0", "c1", "c2", "c3"]
    assert items.source["kind"] == "table" and len(items.source["sha256"]) == 64


def test_json_columns_as_lists_and_records_array(tmp_path):
    rows = _rows()
    lists = tmp_path / "lists.json"
    lists.write_text(json.dumps({k: [r[k] for r in rows] for k in rows[0]}))
    records = tmp_path / "records.json"
    records.write_text(json.dumps(rows, indent=1))
    a = read_table(lists, FEATURES, "mos", "content")
    b = read_table(records, FEATURES, "mos", "content")
    assert np.array_equal(a.features, b.features) and np.array_equal(a.target, b.target)


def test_id_column_and_json_row_ids(tmp_path):
    rows = _rows()
    items = read_table(write(tmp_path, rows, "csv"), FEATURES, "mos", "content", id_column="clip")
    assert items.ids == [r["clip"] for r in rows]
    cols = {k: {f"r{i}": r[k] for i, r in enumerate(rows)} for k in rows[0]}
    path = tmp_path / "ids.json"
    path.write_text(json.dumps(cols))
    assert read_table(path, FEATURES, "mos", "content").ids == [f"r{i}" for i in range(len(rows))]


def _error(call) -> str:
    with pytest.raises(InputError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    return message


def test_csv_errors_name_file_and_line(tmp_path):
    rows = _rows()
    path = write(tmp_path, rows, "csv")
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace(lines[3].split(",")[3], "abc", 1)  # a feature that is not a number
    path.write_text("\n".join(lines) + "\n")
    msg = _error(lambda: read_table(path, FEATURES, "mos", "content"))
    assert msg.startswith(f"{path}:4: ") and "must be a number" in msg

    lines = write(tmp_path, rows, "csv").read_text().splitlines()
    lines[2] += ",extra"
    path.write_text("\n".join(lines) + "\n")
    msg = _error(lambda: read_table(path, FEATURES, "mos", "content"))
    assert msg.startswith(f"{path}:3: {len(rows[0]) + 1} fields, but the header has {len(rows[0])}")

    path.write_text("f1,f1,mos,content\n1,2,3,a\n")
    assert "appears twice" in _error(lambda: read_table(path, ["f1"], "mos", "content"))


def test_missing_column_says_did_you_mean(tmp_path):
    path = write(tmp_path, _rows(), "csv")
    msg = _error(lambda: read_table(path, ["f1", "f22"], "mos", "content"))
    assert msg.startswith(f"{path}:1: no column 'f22'") and "did you mean" in msg
    msg = _error(lambda: read_table(write(tmp_path, _rows(), "parquet"), FEATURES, "moss", "content"))
    assert "no column 'moss'" in msg and "did you mean 'mos'" in msg


def test_nan_empty_and_types_are_refused_with_their_place(tmp_path):
    rows = _rows()
    cols = {k: {str(i): r[k] for i, r in enumerate(rows)} for k in rows[0]}
    cols["f2"]["5"] = float("nan")
    path = tmp_path / "nan.json"
    path.write_text(json.dumps(cols))  # json.dumps writes NaN
    msg = _error(lambda: read_table(path, FEATURES, "mos", "content"))
    assert msg == f"{path}: column 'f2', row '5': must be a finite number, got nan"

    del cols["f2"]["5"]
    cols["f2"]["5"] = 1.0
    del cols["mos"]["2"]
    path.write_text(json.dumps(cols))
    assert "column 'mos' lacks row '2'" in _error(lambda: read_table(path, FEATURES, "mos", "content"))

    bad = [dict(r) for r in rows]
    bad[4]["content"] = ""
    msg = _error(lambda: read_table(write(tmp_path, bad, "jsonl", "empty"), FEATURES, "mos", "content"))
    assert msg.startswith(f"{tmp_path / 'empty.jsonl'}:5: group column 'content' is empty")

    bad = [dict(r) for r in rows]
    bad[1]["f1"] = True
    msg = _error(lambda: read_table(write(tmp_path, bad, "jsonl", "bool"), FEATURES, "mos", "content"))
    assert msg.startswith(f"{tmp_path / 'bool.jsonl'}:2: column 'f1' must be a number")


def test_parquet_null_and_string_feature(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _rows()
    rows[3]["f1"] = None
    path = tmp_path / "null.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    assert _error(lambda: read_table(path, FEATURES, "mos", "content")) == f"{path}:row 4: column 'f1' is null"
    rows = _rows()
    for r in rows:
        r["f3"] = str(r["f3"])
    pq.write_table(pa.Table.from_pylist(rows), path)
    assert "column 'f3' is of type string, not a number" in _error(lambda: read_table(path, FEATURES, "mos", "content"))
    path.write_bytes(b"PAR1 not really")
    assert "not a readable Parquet file" in _error(lambda: read_table(path, FEATURES, "mos", "content"))


def test_hostile_files(tmp_path):
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    assert "not a regular file (a FIFO)" in _error(lambda: read_table(fifo, FEATURES, "mos", "content"))
    folder = tmp_path / "dir.csv"
    folder.mkdir()
    assert "folder" in _error(lambda: read_table(folder, FEATURES, "mos", "content"))
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"f1,mos,content\n1,2,a\n\xff\xfe,3,b\n")
    assert _error(lambda: read_table(binary, ["f1"], "mos", "content")).startswith(f"{binary}:3: ")
    nul = tmp_path / "nul.csv"
    nul.write_bytes(b"f1,mos,content\n1,2\x00,a\n")
    assert "NUL byte" in _error(lambda: read_table(nul, ["f1"], "mos", "content"))
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    _error(lambda: read_table(deep, ["f1"], "mos", "content"))
    deep_obj = tmp_path / "deep_obj.json"
    deep_obj.write_text('{"f1": ' + "[" * 100_000 + "]" * 100_000 + "}")
    _error(lambda: read_table(deep_obj, ["f1"], "mos", "content"))
    missing = tmp_path / "nope.csv"
    assert "not found" in _error(lambda: read_table(missing, FEATURES, "mos", "content"))
    other = tmp_path / "t.xlsx"
    other.write_text("x")
    assert "must be one of" in _error(lambda: read_table(other, FEATURES, "mos", "content"))


def test_size_cap(tmp_path, monkeypatch):
    import vmafkit.corpus.subjective_readers as readers

    monkeypatch.setattr(readers, "MAX_TABLE_BYTES", 200)
    path = write(tmp_path, _rows(4, 5), "csv")
    assert "the limit is 200" in _error(lambda: read_table(path, FEATURES, "mos", "content"))


def test_column_roles_may_not_overlap(tmp_path):
    path = write(tmp_path, _rows(), "csv")
    assert "would see its own answer" in _error(lambda: read_table(path, ["f1", "mos"], "mos", "content"))
    assert "would see its own answer" in _error(lambda: read_table(path, ["f1", "content"], "mos", "content"))
    assert "twice" in _error(lambda: read_table(path, ["f1", "f1"], "mos", "content"))


def test_declared_scale_refuses_scores_outside_it(tmp_path):
    rows = _rows()
    rows[2]["mos"] = 7.5
    path = write(tmp_path, rows, "csv")
    msg = _error(lambda: read_table(path, FEATURES, "mos", "content", scale=SCALES["mos-1-5"]))
    assert msg.startswith(f"{path}:4: score 7.5 is outside the mos-1-5 scale")
