"""Issue 12: every reader of a user file survives hostile bytes.

Each reader either loads the file or raises one InputError (one line, naming the file); never
another exception, never a hang, never unbounded memory. The fuzz runs with small caps
(vmafkit.io's constants monkeypatched) so huge lines and huge files are cheap to make; the
explicit cases at the end use the real caps.
"""

from __future__ import annotations

import json
import os
import resource
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vmafkit.io as vio
from vmafkit.corpus.merge import merge_shards
from vmafkit.corpus.schema import load_corpus
from vmafkit.decide.calibration import read_predictions
from vmafkit.decide.gate import load_seed_report
from vmafkit.decide.verdict import load_verdict
from vmafkit.errors import InputError
from vmafkit.media.sources import read_sources_config
from vmafkit.serve.predict import read_feature_rows
from vmafkit.serve.registry import registry_problems

from ...factories import make_corpus, write_predictions, write_seed_report

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
SMALL_LINE = 4096
SMALL_FILE = 64 << 10
SECONDS = 10.0  # per call, generous for a loaded 2-core machine; the hang we guard against is forever
RSS_GROWTH_MB = 512


# ----------------------------------------------------------------------------- the readers
# name -> (file name, how to call the reader on a path, the path its errors name)


def _merge(path: Path) -> Any:
    return merge_shards([path], path.parent / "merged.jsonl")


def _sources(path: Path) -> Any:
    return read_sources_config(path.parent)


def _registry(path: Path) -> Any:
    return registry_problems(path)


READERS: dict[str, tuple[str, Callable[[Path], Any]]] = {
    "corpus_jsonl": ("per_frame_canonical6.jsonl", load_corpus),
    "corpus_parquet": ("corpus.parquet", load_corpus),
    "merge_shard": ("shard.jsonl", _merge),
    "features": ("feats.jsonl", read_feature_rows),
    "predictions": ("loso_seed0.predictions.jsonl", read_predictions),
    "seed_report": ("loso_seed0.json", load_seed_report),
    "verdict": ("PROMOTE.json", load_verdict),
    "registry": ("registry.json", _registry),
    "read_json": ("any.json", vio.read_json),
    "read_toml": ("any.toml", vio.read_toml),
    "sources_toml": ("sources.toml", _sources),
}
JSONL_READERS = ("corpus_jsonl", "merge_shard", "features", "predictions")
ALL_JSONISH = tuple(name for name in READERS if name not in ("corpus_parquet", "read_toml", "sources_toml"))


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> dict[str, bytes]:
    """A valid file for each reader (what the mutations start from)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    base = tmp_path_factory.mktemp("samples")
    corpus = make_corpus(base / "per_frame_canonical6.jsonl", frames=2)
    rows = [json.loads(line) for line in corpus.read_text().splitlines()]
    pred = write_predictions(base, 0, corpus)
    report = write_seed_report(base, 0, corpus)
    pq.write_table(pa.Table.from_pylist(rows), base / "c.parquet")
    c6 = ("adm2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3", "motion2")
    features = "".join(
        json.dumps({**{k: r[k] for k in c6}, "frame_index": r["frame_index"], "cq": r["cq"]}) + "\n" for r in rows[:10]
    )
    toml = b'[groups]\nscene = ["a", "b"]\n\n[sources.a]\nwidth = 160\nheight = 90\nfps = 25.0\npix_fmt = "yuv420p"\n'
    out = {
        "corpus_jsonl": corpus.read_bytes(),
        "corpus_parquet": (base / "c.parquet").read_bytes(),
        "merge_shard": corpus.read_bytes(),
        "features": features.encode(),
        "predictions": pred.read_bytes(),
        "seed_report": report.read_bytes(),
        "verdict": json.dumps({"verdict": "PROMOTE", "seeds": [0, 1, 2], "gate": {"passed": True}}).encode(),
        "registry": json.dumps({"schema_version": 1, "models": []}).encode(),
        "read_json": json.dumps({"a": [1, 2.5, {"b": None}], "c": "text"}).encode(),
        "read_toml": toml,
        "sources_toml": toml,
    }
    for name, data in out.items():
        assert len(data) < SMALL_FILE, name
    return out


def _hostile(valid: bytes, *, nesting: bool = True) -> st.SearchStrategy[bytes]:
    n = len(valid)
    choices = [
        st.binary(max_size=2048),
        st.integers(0, n).map(lambda k: valid[:k]),  # truncated
        st.tuples(st.integers(0, n - 1), st.binary(min_size=1, max_size=16)).map(  # bytes overwritten
            lambda t: valid[: t[0]] + t[1] + valid[t[0] + len(t[1]) :]
        ),
        st.tuples(st.integers(0, n), st.sampled_from([b"\xff", b"\xc3", b"\x00", b"\xed\xa0\x80", b"\n", b"\r"])).map(
            lambda t: valid[: t[0]] + t[1] + valid[t[0] :]
        ),  # bad UTF-8, NUL, an extra line break
        st.integers(SMALL_LINE - 16, 3 * SMALL_LINE).map(lambda k: b'{"a": "' + b"x" * k + b'"}\n'),  # long line
        st.integers(SMALL_FILE - 64, SMALL_FILE + 4096).map(lambda k: b'["' + b"x" * k + b'"]'),  # large file
        st.integers(20, 400).map(lambda k: b'{"cq": ' + b"9" * k + b"}\n"),  # a 400-digit number
    ]
    if nesting:
        choices += [
            st.integers(60, 3000).map(lambda k: b"[" * k + b"]" * k),
            st.integers(60, 3000).map(lambda k: b'{"a": ' * k + b"1" + b"}" * k + b"\n"),
            st.integers(60, 3000).map(lambda k: b"a = " + b"[" * k + b"]" * k + b"\n"),  # TOML
        ]
    return st.one_of(*choices)


def _call(reader: Callable[[Path], Any], path: Path) -> tuple[str, Any]:
    """('ok', result) or ('refused', message); any other exception fails the test."""
    started = time.monotonic()
    try:
        result = ("ok", reader(path))
    except InputError as exc:
        result = ("refused", str(exc))
    elapsed = time.monotonic() - started
    assert elapsed < SECONDS, f"{reader} took {elapsed:.1f} s on {path}"
    return result


def _assert_refusal_names_file(message: str, path: Path) -> None:
    assert "\n" not in message, message
    assert str(path) in message, message


@pytest.fixture
def small_caps(monkeypatch):
    monkeypatch.setattr(vio, "MAX_LINE_BYTES", SMALL_LINE)
    monkeypatch.setattr(vio, "MAX_JSON_BYTES", SMALL_FILE)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# sources.py parses with path.read_text + tomllib.loads, not vmafkit.io: deep nesting there is a
# RecursionError until it reads through io.read_toml (see test_sources_toml_deep_nesting below).
NESTING_OK = {name: name != "sources_toml" for name in READERS}


@pytest.mark.parametrize("name", list(READERS))
@FUZZ
@given(data=st.data())
def test_fuzz_reader_loads_or_refuses_with_one_line(name, data, samples, small_caps, tmp_path):
    filename, reader = READERS[name]
    raw = data.draw(_hostile(samples[name], nesting=NESTING_OK[name]), label="bytes")
    path = tmp_path / filename
    path.write_bytes(raw)
    before = _peak_rss_mb()
    outcome, value = _call(reader, path)
    assert _peak_rss_mb() - before < RSS_GROWTH_MB
    if outcome == "refused":
        _assert_refusal_names_file(value, path)


@pytest.mark.parametrize("name", list(READERS))
def test_valid_samples_load(name, samples, tmp_path):
    """The mutations start from files that load (so a refusal above is about the damage)."""
    filename, reader = READERS[name]
    path = tmp_path / filename
    path.write_bytes(samples[name])
    if name in ("verdict",):  # a minimal object: parses, then the schema check refuses it
        with pytest.raises(InputError, match="malformed verdict file"):
            reader(path)
        return
    reader(path)


# ----------------------------------------------------------------------------- explicit cases


@pytest.mark.parametrize("name", list(READERS))
def test_dev_zero_is_refused_at_once(name, tmp_path):
    filename, reader = READERS[name]
    path = tmp_path / filename
    path.symlink_to("/dev/zero")  # the reader's own file name, pointing at /dev/zero
    before = _peak_rss_mb()
    outcome, message = _call(reader, path)
    # sources_toml too: a sources file that is not a regular file is refused, never skipped (its
    # groups would silently not apply)
    assert outcome == "refused" and "not a regular file (a character device)" in message
    _assert_refusal_names_file(message, path)
    assert _peak_rss_mb() - before < 64


@pytest.mark.parametrize("reader", [load_corpus, read_feature_rows, read_predictions, vio.read_json])
def test_dev_zero_by_its_own_name(reader):
    with pytest.raises(InputError, match=r"^/dev/zero: .*not a regular file \(a character device\)$"):
        reader(Path("/dev/zero"))


def _run_with_fifo_guard(fifo: Path, func: Callable[[], Any]) -> tuple[str, Any]:
    """Run func in a thread; if it is still blocked after SECONDS, unblock it by opening the
    FIFO's write end (so the test fails instead of hanging)."""
    box: dict[str, Any] = {}

    def target():
        try:
            box["result"] = ("ok", func())
        except BaseException as exc:  # noqa: BLE001 - reported below
            box["result"] = ("error", exc)

    thread = threading.Thread(target=target, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(SECONDS)
    if thread.is_alive():
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        thread.join(5)
        pytest.fail(f"reader blocked on the FIFO {fifo} for {SECONDS} s")
    assert time.monotonic() - started < SECONDS
    return box["result"]


@pytest.mark.parametrize("name", list(READERS))
def test_fifo_returns_promptly(name, tmp_path):
    filename, reader = READERS[name]
    path = tmp_path / filename
    os.mkfifo(path)
    outcome, value = _run_with_fifo_guard(path, lambda: reader(path))
    assert outcome == "error" and isinstance(value, InputError), value
    assert "not a regular file (a FIFO)" in str(value)
    _assert_refusal_names_file(str(value), path)


@pytest.mark.parametrize("name", list(READERS))
def test_directory_is_refused(name, tmp_path):
    filename, reader = READERS[name]
    path = tmp_path / filename
    path.mkdir()
    outcome, message = _call(reader, path)
    assert outcome == "refused" and "not a regular file (a folder)" in message
    _assert_refusal_names_file(message, path)


@pytest.mark.parametrize("name", JSONL_READERS)
def test_two_megabyte_line_is_refused_without_reading_it_whole(name, tmp_path):
    filename, reader = READERS[name]
    path = tmp_path / filename
    path.write_bytes(b'{"a": "' + b"x" * (2 << 20) + b'"}\n')
    outcome, message = _call(reader, path)
    assert outcome == "refused"
    assert message == f"{path}:1: line is longer than {vio.MAX_LINE_BYTES} bytes"


@pytest.mark.parametrize("name", JSONL_READERS)
def test_a_file_without_line_breaks_is_refused_at_the_line_cap(name, tmp_path):
    """A sparse 64 GiB regular file of zeros: refused after one line's worth, not read whole."""
    filename, reader = READERS[name]
    path = tmp_path / filename
    with open(path, "wb") as handle:
        handle.truncate(64 << 30)
    outcome, message = _call(reader, path)
    assert outcome == "refused" and message.startswith(f"{path}:1: line is longer than")


def test_whole_file_json_over_the_size_cap_is_refused_by_its_size(tmp_path):
    path = tmp_path / "big.json"
    with open(path, "wb") as handle:
        handle.truncate(vio.MAX_JSON_BYTES + 1)  # sparse: nothing is read
    with pytest.raises(InputError, match=rf"big.json: JSON file is {vio.MAX_JSON_BYTES + 1} bytes; the limit is"):
        vio.read_json(path)


@pytest.mark.parametrize("name", ALL_JSONISH)
@pytest.mark.parametrize("opener", ["[", '{"a": '])
def test_nesting_100000_deep_is_refused(name, opener, tmp_path):
    filename, reader = READERS[name]
    path = tmp_path / filename
    closer = "]" if opener == "[" else "}"
    text = opener * 100_000 + "1" + closer * 100_000
    path.write_text(text + ("\n" if name in JSONL_READERS else ""))
    outcome, message = _call(reader, path)
    assert outcome == "refused" and f"nested deeper than {vio.MAX_JSON_DEPTH} levels" in message
    _assert_refusal_names_file(message, path)


@pytest.mark.parametrize("name", ALL_JSONISH)
def test_nesting_just_over_the_cap_is_refused_and_at_the_cap_loads(name, tmp_path):
    filename, reader = READERS[name]
    path = tmp_path / filename
    deep = vio.MAX_JSON_DEPTH + 1
    path.write_text('{"a": ' + "[" * (deep - 1) + "]" * (deep - 1) + "}\n")
    outcome, message = _call(reader, path)
    assert outcome == "refused" and "nested deeper than" in message
    assert vio.loads_json("[" * vio.MAX_JSON_DEPTH + "]" * vio.MAX_JSON_DEPTH, where="x") is not None


def test_read_toml_deep_nesting_is_refused(tmp_path):
    path = tmp_path / "a.toml"
    path.write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(InputError, match=r"a.toml: malformed TOML file: nested deeper than"):
        vio.read_toml(path)
    path.write_text("a = " + "9" * 400 + "\n")
    with pytest.raises(InputError, match="outside the 64-bit range"):
        vio.read_toml(path)
    path.write_text("a = " + "9" * 5000 + "\n")
    with pytest.raises(InputError, match="a.toml: malformed TOML file"):
        vio.read_toml(path)


def test_sources_toml_deep_nesting(tmp_path):
    (tmp_path / "sources.toml").write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(InputError, match="sources.toml"):
        read_sources_config(tmp_path)


@pytest.mark.parametrize("name", ALL_JSONISH)
def test_a_0xff_byte_is_refused_with_file_and_line(name, tmp_path, samples):
    filename, reader = READERS[name]
    path = tmp_path / filename
    lines = samples[name].split(b"\n")
    lines[0] = lines[0][:5] + b"\xff" + lines[0][5:]
    path.write_bytes(b"\n".join(lines))
    outcome, message = _call(reader, path)
    assert outcome == "refused" and f"{path}:1: " in message and "not UTF-8 (byte 0xff" in message


@pytest.mark.parametrize("name", ["read_toml", "sources_toml"])
def test_a_0xff_byte_in_toml(name, tmp_path, samples):
    filename, reader = READERS[name]
    path = tmp_path / filename
    path.write_bytes(b"# \xff\n" + samples[name])
    outcome, message = _call(reader, path)
    assert outcome == "refused" and str(path) in message and "\n" not in message


@pytest.mark.parametrize("name", JSONL_READERS)
def test_a_400_digit_cq_is_refused(name, tmp_path, samples):
    filename, reader = READERS[name]
    path = tmp_path / filename
    first, rest = samples[name].split(b"\n", 1)
    row = json.loads(first)
    text = json.dumps({**row, "cq": 0}).replace('"cq": 0', '"cq": ' + "9" * 400)
    path.write_bytes(text.encode() + b"\n" + rest)
    outcome, message = _call(reader, path)
    assert outcome == "refused"
    assert message.startswith(
        f"{path}:1: line is not valid JSON (integer 99999999999999999999... (400 digits) is outside the 64-bit range"
    )


def test_a_400_digit_cq_from_parquet_is_refused_by_range(tmp_path, samples):
    """Parquet has no 400-digit integers; the largest int64 is refused by the cq range check."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = pq.read_table(pa.BufferReader(samples["corpus_parquet"])).to_pylist()
    rows[1]["cq"] = 2**63 - 1
    path = tmp_path / "c.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    with pytest.raises(
        InputError,
        match=r"c.parquet:row 2: cq 9223372036854775807 is out of range \(allowed: 0 to 51 "
        r"for libx264\)",
    ):
        load_corpus(path)


def test_readers_still_read_ordinary_files(tmp_path):
    """A line of exactly MAX_LINE_BYTES (plus its newline) is allowed; blank lines are skipped."""
    path = tmp_path / "x.jsonl"
    pad = vio.MAX_LINE_BYTES - len('{"a": ""}')
    path.write_text('{"a": "' + "x" * pad + '"}\n\n  \n{"b": 1}\n')
    assert [(n, list(r)) for n, r in vio.iter_json_objects(path)] == [(1, ["a"]), (4, ["b"])]
    path.write_text('{"a": "' + "x" * (pad + 1) + '"}\n')
    with pytest.raises(InputError, match=r"x.jsonl:1: line is longer than"):
        list(vio.iter_json_objects(path))
    link = tmp_path / "link.json"
    (tmp_path / "t.json").write_text('{"k": [1, 2]}')
    link.symlink_to(tmp_path / "t.json")
    assert vio.read_json(link) == {"k": [1, 2]}
    with pytest.raises(InputError, match=r"missing.json: JSON file not found"):
        vio.read_json(tmp_path / "missing.json")


def test_json_writers_never_write_bare_nan(tmp_path):
    text = vio.dumps_json({"a": float("nan"), "b": [float("inf"), 1.5], "c": {"d": -float("inf")}})
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} written")) == {
        "a": None,
        "b": [None, 1.5],
        "c": {"d": None},
    }


def test_an_output_path_that_is_a_folder_is_refused_and_the_folder_kept(tmp_path):
    """`--out DIR` where a file is written: one InputError naming it, no temp file left, the folder
    and its content as they were (the rename over a folder would raise IsADirectoryError)."""
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "keep.txt").write_text("keep")
    with pytest.raises(InputError, match=r"models: is a folder; give the path of a file to write"):
        vio.atomic_write_text(folder, "text")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]
    assert (folder / "keep.txt").read_text() == "keep"
