"""Bounded, line-numbered readers of the tabular files a user names (CSV, JSON arrays).

Every reader goes through `vmafkit.io`'s regular-file and size caps, so a FIFO, a device, a
folder, a huge file, a 0xFF byte or JSON nested 100,000 deep is one InputError (exit 2) naming
the file and, where it has one, the line — never a hang or a traceback. JSON lines files use
`io.iter_json_objects` directly.
"""

from __future__ import annotations

import csv
import io as _io
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vmafkit.errors import InputError
from vmafkit.io import MAX_JSON_DEPTH, json_depth_exceeds, read_bytes_capped

MAX_TABLE_BYTES = 256 << 20  # a table or dataset file, whole
MAX_ROWS = 2_000_000
MAX_COLUMNS = 4096
INT_LIMIT = 2**63


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def read_text(path: str | Path, *, what: str) -> str:
    """A regular UTF-8 file under MAX_TABLE_BYTES (a leading BOM dropped); errors name file:line."""
    path = Path(path)
    data = read_bytes_capped(path, what=what, max_bytes=MAX_TABLE_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(f"{path}:{line}: {what} is not UTF-8 (byte 0x{data[exc.start]:02x})") from None
    return text[1:] if text.startswith("\ufeff") else text


def iter_csv(path: str | Path, *, what: str) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """(header, rows): each row a {column: text} with its physical line number. A header that
    repeats or leaves a column unnamed, a row of another width, a NUL byte, a field past csv's
    field limit, or more than MAX_ROWS rows: InputError naming file:line."""
    path = Path(path)
    text = read_text(path, what=what)
    if "\x00" in text:
        raise InputError(f"{path}:{_line_of(text, text.index(chr(0)))}: {what} holds a NUL byte (not a CSV file)")
    reader = csv.reader(_io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise InputError(f"{path}:{reader.line_num}: malformed CSV header ({exc})") from None
    if header is None:
        raise InputError(f"{what} is empty (no header line)", path=path)
    header = [h.strip() for h in header]
    if len(header) > MAX_COLUMNS:
        raise InputError(f"{path}:1: {len(header)} columns; the limit is {MAX_COLUMNS}")
    for i, name in enumerate(header):
        if not name:
            raise InputError(f"{path}:1: column {i + 1} of the header has no name")
        if header.index(name) != i:
            raise InputError(f"{path}:1: column {name!r} appears twice in the header")

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        count = 0
        while True:
            try:
                record = next(reader, None)
            except csv.Error as exc:
                raise InputError(f"{path}:{reader.line_num}: malformed CSV ({exc})") from None
            if record is None:
                return
            if not record or all(not field.strip() for field in record):
                continue  # blank line
            if len(record) != len(header):
                raise InputError(f"{path}:{reader.line_num}: {len(record)} fields, but the header has {len(header)}")
            count += 1
            if count > MAX_ROWS:
                raise InputError(f"{path}:{reader.line_num}: more than {MAX_ROWS} rows")
            yield reader.line_num, dict(zip(header, (field.strip() for field in record)))

    return header, rows()


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > 19:
        raise ValueError(f"integer {text[:20]}... is outside the 64-bit range")
    value = int(text)
    if not -INT_LIMIT <= value < INT_LIMIT:
        raise ValueError(f"integer {text} is outside the 64-bit range")
    return value


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_int=_bounded_int)
_WS = " \t\n\r"


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def iter_json_array(path: str | Path, *, what: str, text: str | None = None) -> Iterator[tuple[int, Any]]:
    """(line, element) for each element of a top-level JSON array, the line being where the element
    starts. Strict JSON (no NaN/Infinity, 64-bit integers), nesting capped at io.MAX_JSON_DEPTH."""
    path = Path(path)
    text = read_text(path, what=what) if text is None else text
    i = _skip(text, 0)
    if i >= len(text) or text[i] != "[":
        raise InputError(f"{path}:{_line_of(text, i)}: {what} must be a JSON array of objects")
    i = _skip(text, i + 1)
    if i < len(text) and text[i] == "]":
        i = _skip(text, i + 1)
        if i != len(text):
            raise InputError(f"{path}:{_line_of(text, i)}: text after the end of the JSON array")
        return
    count = 0
    while True:
        start = i
        try:
            element, end = _DECODER.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{exc.lineno}: malformed JSON ({exc.msg}, column {exc.colno})") from None
        except ValueError as exc:
            raise InputError(f"{path}:{_line_of(text, start)}: malformed JSON ({exc})") from None
        except RecursionError:
            raise InputError(
                f"{path}:{_line_of(text, start)}: JSON nested deeper than {MAX_JSON_DEPTH} levels"
            ) from None
        if json_depth_exceeds(element):
            raise InputError(f"{path}:{_line_of(text, start)}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
        count += 1
        if count > MAX_ROWS:
            raise InputError(f"{path}:{_line_of(text, start)}: more than {MAX_ROWS} elements")
        yield _line_of(text, start), element
        i = _skip(text, end)
        if i < len(text) and text[i] == ",":
            i = _skip(text, i + 1)
            continue
        if i < len(text) and text[i] == "]":
            i = _skip(text, i + 1)
            if i != len(text):
                raise InputError(f"{path}:{_line_of(text, i)}: text after the end of the JSON array")
            return
        raise InputError(f"{path}:{_line_of(text, i)}: expected ',' or ']' after an element of the JSON array")


def parse_number(value: Any, where: str, key: str) -> float:
    """A finite number from JSON (int/float, not bool) or CSV text."""
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            raise InputError(f"{where}: {key} must be a number, got {_show(value)}") from None
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{where}: {key} must be a number, got {_show(value)}")
    else:
        number = float(value)
    if not math.isfinite(number):
        raise InputError(f"{where}: {key} is {value!r} (NaN or infinite)")
    return number


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


def show(value: Any) -> str:
    return _show(value)
