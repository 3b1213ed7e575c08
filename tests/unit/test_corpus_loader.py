"""Property-based tests of the corpus loader (issue 7): any damage gives one InputError that
names the file and line; valid corpora load whole."""

from __future__ import annotations

import json
import math
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmafkit.corpus.schema import CANONICAL6, REQUIRED_KEYS, load_corpus
from vmafkit.errors import InputError

from ..factories import corpus_row

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def make_row(src="a", frame=0, cq=25, **over):
    return corpus_row(src, frame=frame, cq=cq, **{"src_sha256": f"sha-{src}", **over})


rows_strategy = st.lists(
    st.tuples(
        st.sampled_from("abc"),
        st.integers(0, 30),
        st.sampled_from([19, 25, 31]),
        st.floats(0, 100, allow_nan=False),
        st.floats(0, 2, allow_nan=False),
    ),
    min_size=1,
    max_size=40,
    unique_by=lambda t: t[:3],
).map(lambda items: [make_row(s, f, c, vmaf=v, adm2=a) for s, f, c, v, a in items])


def write(path, rows, raw_lines=()):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "".join(raw_lines))
    return path


@FAST
@given(rows=rows_strategy)
def test_valid_corpora_load_whole(tmp_path, rows):
    corpus = load_corpus(write(tmp_path / "c.jsonl", rows))
    assert len(corpus) == len(rows)
    assert corpus.features.shape == (len(rows), 6)
    assert sorted(corpus.sources) == sorted({r["src"] for r in rows})


@FAST
@given(rows=rows_strategy, data=st.data())
def test_a_damaged_line_is_named(tmp_path, rows, data):
    bad_at = data.draw(st.integers(0, len(rows) - 1))
    damage = data.draw(st.sampled_from(["truncate", "drop_key", "nan", "inf", "version", "text", "duplicate"]))
    lines = [json.dumps(r) for r in rows]
    if damage == "truncate":
        lines[bad_at] = lines[bad_at][: data.draw(st.integers(1, len(lines[bad_at]) - 1))]
    elif damage == "drop_key":
        key = data.draw(st.sampled_from(REQUIRED_KEYS))
        lines[bad_at] = json.dumps({k: v for k, v in rows[bad_at].items() if k != key})
    elif damage in ("nan", "inf"):
        key = data.draw(st.sampled_from(CANONICAL6 + ("vmaf",)))
        lines[bad_at] = lines[bad_at].replace(
            f'"{key}": {json.dumps(rows[bad_at][key])}', f'"{key}": {"NaN" if damage == "nan" else "-Infinity"}'
        )
    elif damage == "version":
        lines[bad_at] = json.dumps({**rows[bad_at], "schema_version": data.draw(st.integers(2, 9))})
    elif damage == "text":
        lines[bad_at] = data.draw(st.text(string.ascii_letters + "{}[],:", min_size=1, max_size=20))
    else:
        lines.insert(bad_at + 1, lines[bad_at])
        bad_at += 1
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as err:
        load_corpus(path)
    message = str(err.value)
    assert f"{path}:{bad_at + 1}" in message and "\n" not in message


def test_empty_file_and_blank_lines(tmp_path):
    with pytest.raises(InputError, match="no rows"):
        load_corpus(write(tmp_path / "e.jsonl", []))
    path = write(tmp_path / "b.jsonl", [make_row()], raw_lines=["\n", "   \n"])
    assert len(load_corpus(path)) == 1


def test_non_finite_numbers_from_parquet_are_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "c.parquet"
    pq.write_table(pa.Table.from_pylist([make_row(), make_row(frame=1, vmaf=math.inf)]), path)
    with pytest.raises(InputError, match=r"c.parquet:row 2: vmaf is inf"):
        load_corpus(path)


def test_one_clip_in_two_groups_is_refused(tmp_path):
    """A corpus joined by hand (not through `vmafkit merge`) where the same reference bytes carry
    two names, and so two LOSO groups: training would test on a clip it trained on."""
    path = tmp_path / "c.jsonl"
    rows = [make_row("a", 0), make_row("a", 1), make_row("a_copy", 0, cq=31, src_sha256="sha-a"), make_row("b", 0)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(
        InputError, match=r"c\.jsonl: row 3: source sha-a \(src a_copy\) is in LOSO groups 'a' and 'a_copy'"
    ):
        load_corpus(path)
    rows[2]["group"] = "a"  # the same clip under two names but one group: fine
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert load_corpus(path).groups == ["a", "b"]
