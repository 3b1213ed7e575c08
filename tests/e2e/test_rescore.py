"""`vmafkit rescore` (issue 22, item 3): a corpus scored again from its kept encodes.

The ffmpeg that vmafkit runs here is the wheel's, behind a two-line shell wrapper that appends
each command line to a log before it runs it: the encoder processes a step launched are counted
from that log (an encode is the only command line with `-c:v <encoder> ... <file>`), not from
vmafkit's own account of them. The oracle for the re-scored numbers is a fresh build with the new
model in another cache, which encodes again."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from vmafkit import layout
from vmafkit.corpus.schema import TIMING_KEYS
from vmafkit.media.ffmpeg import find_ffmpeg

from ..conftest import media

VMAFKIT = [sys.executable, "-m", "vmafkit.cli"]
CLIPS = ("cup_640x480_217f.mp4", "bikes_640x272_250f.mp4")
GRID = ["--cqs", "30,42", "--max-frames", "4"]
V1 = "vmaf_v1.0.16_3d0h"


@pytest.fixture
def logged_ffmpeg(tmp_path):
    """(wrapper path, log path): the wheel's ffmpeg, each command line logged before it runs."""
    log = tmp_path / "ffmpeg-argv.log"
    wrapper = tmp_path / "ffmpeg"
    wrapper.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$*" >> {shlex.quote(str(log))}\nexec {shlex.quote(find_ffmpeg().path)} "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper, log


def encodes_in(log: Path) -> int:
    lines = log.read_text().splitlines() if log.exists() else []
    return sum(1 for line in lines if "-c:v libx264" in line and "-f null" not in line)


def scorings_in(log: Path) -> int:
    """libvmaf runs on a kept encode (not the probe of libvmaf's version that every start runs)."""
    lines = log.read_text().splitlines() if log.exists() else []
    return sum(1 for line in lines if "libvmaf=" in line and f"/{layout.KEPT_ENCODES_DIR}/" in line)


def vmafkit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*VMAFKIT, *args], capture_output=True, text=True)


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def built(tmp_path, logged_ffmpeg):
    """A v0.6.1 corpus of two real clips, built through the logging wrapper: (refs, corpus)."""
    wrapper, log = logged_ffmpeg
    refs = tmp_path / "refs"
    refs.mkdir()
    for name in CLIPS:
        (refs / name).symlink_to(media(name))
    corpus = tmp_path / "corpus" / "v0.jsonl"
    corpus.parent.mkdir()
    proc = vmafkit("corpus", "--ref-dir", str(refs), "--out", str(corpus), *GRID, "--ffmpeg", str(wrapper))
    assert proc.returncode == 0, proc.stderr
    assert encodes_in(log) == 4  # the oracle counts: 2 clips x 2 cqs
    return refs, corpus


def test_rescore_launches_no_encoder_and_equals_a_fresh_build(tmp_path, built, logged_ffmpeg):
    refs, corpus = built
    wrapper, log = logged_ffmpeg
    log.unlink()
    new = tmp_path / "corpus" / "v1.jsonl"
    proc = vmafkit(
        "rescore", str(corpus), "--ref-dir", str(refs), "--model", V1, "--out", str(new), "--ffmpeg", str(wrapper)
    )
    assert proc.returncode == 0, proc.stderr
    assert encodes_in(log) == 0 and scorings_in(log) == 4  # every cell scored, none encoded
    assert "0 encoded, 4 scored from kept encodes" in proc.stderr

    fresh = tmp_path / "fresh" / "v1.jsonl"  # another cache: this build encodes everything again
    fresh.parent.mkdir()
    proc = vmafkit("corpus", "--ref-dir", str(refs), "--out", str(fresh), *GRID, "--model", V1)
    assert proc.returncode == 0, proc.stderr
    assert "4 encoded" in proc.stderr
    rescored, built_fresh = rows_of(new), rows_of(fresh)
    assert len(rescored) == len(built_fresh) == 16
    for a, b in zip(rescored, built_fresh):
        assert {k: v for k, v in a.items() if k not in TIMING_KEYS} == {
            k: v for k, v in b.items() if k not in TIMING_KEYS
        }
    assert rescored[0]["feature_set"] == "vmaf-v1.0.16" and "integer_adm3" in rescored[0]
    # the encode side is the old corpus's: its encode time too, not a new one
    assert [r["enc_time_ms"] for r in rescored] == [r["enc_time_ms"] for r in rows_of(corpus)]


def test_a_build_with_another_model_reuses_the_kept_encodes(tmp_path, built, logged_ffmpeg):
    refs, corpus = built
    wrapper, log = logged_ffmpeg
    log.unlink()
    proc = vmafkit(
        "corpus", "--ref-dir", str(refs), "--out", str(corpus.parent / "psnr.jsonl"), *GRID,
        "--metrics", "psnr", "--ffmpeg", str(wrapper),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert encodes_in(log) == 0 and scorings_in(log) == 4


def test_an_interrupted_rescore_resumes_without_scoring_finished_cells_again(tmp_path, built, logged_ffmpeg):
    refs, corpus = built
    wrapper, log = logged_ffmpeg
    new = tmp_path / "corpus" / "psnr.jsonl"
    args = (
        "rescore",
        str(corpus),
        "--ref-dir",
        str(refs),
        "--metrics",
        "psnr",
        "--out",
        str(new),
        "--ffmpeg",
        str(wrapper),
    )
    assert vmafkit(*args).returncode == 0
    first = new.read_text()
    new.unlink()  # as if killed before the corpus was written: the scored cells are cached
    log.unlink()
    again = vmafkit(*args)
    assert again.returncode == 0 and "(4 cached, 0 encoded, 0 scored from kept encodes)" in again.stderr
    assert scorings_in(log) == 0 and new.read_text() == first


def test_a_missing_or_changed_kept_encode_stops_with_one_line_before_any_scoring(tmp_path, built, logged_ffmpeg):
    refs, corpus = built
    wrapper, log = logged_ffmpeg
    key = rows_of(corpus)[0]["encode_key"]
    video, record = layout.kept_encode_files(layout.cell_cache_dir(corpus), key)
    new = tmp_path / "new.jsonl"
    args = ("rescore", str(corpus), "--ref-dir", str(refs), "--model", V1, "--out", str(new), "--ffmpeg", str(wrapper))

    video.write_bytes(video.read_bytes()[:-1] + b"\0")
    log.unlink()
    proc = vmafkit(*args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert video.name in line and "changed since it was encoded" in line
    assert scorings_in(log) == 0 and not new.exists()

    record.unlink()
    proc = vmafkit(*args)
    assert proc.returncode == 2 and "not kept" in proc.stderr and "vmafkit corpus" in proc.stderr


def test_a_corpus_without_encode_keys_or_its_clips_is_refused_naming_why(tmp_path, built):
    refs, corpus = built
    rows = rows_of(corpus)
    old = tmp_path / "old.jsonl"
    old.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "encode_key"}) + "\n" for r in rows))
    proc = vmafkit("rescore", str(old), "--ref-dir", str(refs), "--model", V1, "--out", str(tmp_path / "n.jsonl"))
    assert proc.returncode == 2 and "row 1" in proc.stderr and "built before vmafkit kept encodes" in proc.stderr

    only_cup = tmp_path / "only_cup"
    only_cup.mkdir()
    (only_cup / CLIPS[0]).symlink_to(media(CLIPS[0]))
    proc = vmafkit(
        "rescore", str(corpus), "--ref-dir", str(only_cup), "--model", V1, "--out", str(tmp_path / "n.jsonl")
    )
    assert proc.returncode == 2 and "bikes_640x272_250f" in proc.stderr and "src_sha256" in proc.stderr

    proc = vmafkit("rescore", str(corpus), "--ref-dir", str(refs), "--out", str(corpus))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def _edited(path: Path, dest: Path, edit) -> Path:
    """A copy of corpus `path` (beside it, so it shares its cell cache) with `edit(rows)` applied."""
    rows = rows_of(path)
    edit(rows)
    dest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return dest


def test_what_a_corpus_row_says_about_its_encode_is_checked_before_any_scoring(tmp_path, built, logged_ffmpeg):
    """Found by attacking rescore: a row pointing at another cell's encode, a key that is a path, a
    cell cut short, a record whose frame count was changed, a renamed clip. Each stops with one line
    and exit 2 before libvmaf runs (the wrapper's log), instead of writing wrong rows."""
    refs, corpus = built
    wrapper, log = logged_ffmpeg
    rows = rows_of(corpus)
    other_cell = next(r["encode_key"] for r in rows if (r["src"], r["cq"]) != (rows[0]["src"], rows[0]["cq"]))
    first_cell = [i for i, r in enumerate(rows) if (r["src"], r["cq"]) == (rows[0]["src"], rows[0]["cq"])]

    def point_elsewhere(rs):
        for i in first_cell:
            rs[i]["encode_key"] = other_cell

    def traverse(rs):
        for i in first_cell:
            rs[i]["encode_key"] = "../../../../etc/passwd"

    def relabel_cq(rs):
        for i in first_cell:
            rs[i]["cq"] = 35

    cases = {
        "elsewhere": (point_elsewhere, "is not this row's cell"),
        "traversal": (traverse, "is not an encode key (32 hex digits)"),
        "relabelled": (relabel_cq, "is not this row's cell"),
        "cut": (lambda rs: rs.pop(first_cell[-1]), "rescore re-scores whole cells"),
        "threads": (lambda rs: rs[0].update(enc_threads="x"), "enc_threads must be a number"),
    }
    log.unlink()
    for name, (edit, message) in cases.items():
        bad = _edited(corpus, corpus.parent / f"{name}.jsonl", edit)
        proc = vmafkit(
            "rescore", str(bad), "--ref-dir", str(refs), "--out", str(tmp_path / "n.jsonl"), "--ffmpeg", str(wrapper)
        )
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, (name, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr, (name, proc.stderr)
    assert scorings_in(log) == 0 and not (tmp_path / "n.jsonl").exists()

    video, record = layout.kept_encode_files(layout.cell_cache_dir(corpus), rows[0]["encode_key"])
    data = json.loads(record.read_text())
    record.write_text(json.dumps({**data, "frames": 2}))  # the video has 4
    proc = vmafkit("rescore", str(corpus), "--ref-dir", str(refs), "--out", str(tmp_path / "n.jsonl"))
    assert proc.returncode == 2 and "rescore re-scores whole cells" in proc.stderr and "frames" in proc.stderr
    record.write_text(json.dumps(data))

    renamed = tmp_path / "renamed"
    renamed.mkdir()
    for clip in CLIPS:
        (renamed / f"x_{clip}").symlink_to(media(clip))
    proc = vmafkit("rescore", str(corpus), "--ref-dir", str(renamed), "--out", str(tmp_path / "n.jsonl"))
    assert proc.returncode == 2 and "re-scored rows would change their source name or fold" in proc.stderr


def test_rescore_never_writes_over_its_inputs_or_into_the_cache(tmp_path, built):
    refs, corpus = built
    clip = refs / CLIPS[0]
    key = rows_of(corpus)[0]["encode_key"]
    video, record = layout.kept_encode_files(layout.cell_cache_dir(corpus), key)
    before = {p: p.read_bytes() for p in (video, record)}
    for out, message in (
        (clip, "a reference clip"),
        (video, "inside the cell cache"),
        (record, "inside the cell cache"),
    ):
        proc = vmafkit("rescore", str(corpus), "--ref-dir", str(refs), "--out", str(out))
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert clip.resolve() == media(CLIPS[0]).resolve() and all(p.read_bytes() == b for p, b in before.items())


def test_a_damaged_re_scored_cell_in_the_cache_is_scored_again(tmp_path, built):
    refs, corpus = built
    new = tmp_path / "corpus" / "psnr.jsonl"
    args = ("rescore", str(corpus), "--ref-dir", str(refs), "--metrics", "psnr", "--out", str(new))
    assert vmafkit(*args).returncode == 0
    first = new.read_text()
    done = sorted((layout.cell_cache_dir(corpus) / "rescored").glob("*.jsonl"))
    done[0].write_text('{"a": 1}\n')
    again = vmafkit(*args)
    assert again.returncode == 0 and "(3 cached" in again.stderr  # the damaged one was scored again
    assert new.read_text() == first


def test_a_v1_corpus_of_frames_too_small_for_the_model_is_refused_before_any_encode(tmp_path, logged_ffmpeg):
    wrapper, log = logged_ffmpeg
    refs = tmp_path / "small"
    refs.mkdir()
    (refs / "carphone_176x144_120f.mp4").symlink_to(media("carphone_176x144_120f.mp4"))
    out = tmp_path / "c.jsonl"
    proc = vmafkit("corpus", "--ref-dir", str(refs), "--out", str(out), *GRID, "--model", V1, "--ffmpeg", str(wrapper))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "vmaf_v1.0.16_3d0h cannot score 176x144 frames" in proc.stderr and "320x180" in proc.stderr
    assert encodes_in(log) == 0 and not out.exists()
