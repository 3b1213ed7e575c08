"""Issue 12: a first `vmafkit run` resumes after any interruption or refusal, a concurrent run is
told "in use", duplicate reference clips are refused before any encode, a refused extract-corpus
leaves nothing, and what killed runs left behind is cleaned by the next run.

Real `vmafkit run` subprocesses on small real clips (killed with SIGKILL of their process group,
as in test_crash_safety_*.py), tiny settings: 15 frames, 3 epochs, seeds 0,1.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vmafkit.errors import InputError

from ..conftest import media

VMAFKIT = [sys.executable, "-m", "vmafkit.cli"]
CLIPS = (
    "carphone_176x144_120f.mp4",
    "src01_hrc00_160x90_48f.yuv",
    "bikes_640x272_250f.mp4",
    "seeking_720x480_150f.mp4",
)
# 4 clips x 3 cqs = 12 cells (180 rows): long enough to be killed mid-corpus, enough rows for LOSO.
TINY = [
    "--encoders",
    "libx264",
    "--cqs",
    "22,30,38",
    "--seeds",
    "0,1",
    "--epochs",
    "3",
    "--max-frames",
    "15",
    "--no-progress",
]
CELLS_REL = Path("corpus") / ".vmafkit-cache" / "cells"
OLD = time.time() - 3600

pytestmark = pytest.mark.slow


def vmafkit(*args, timeout=900):
    return subprocess.run([*VMAFKIT, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def start(*args) -> subprocess.Popen:
    return subprocess.Popen(
        [*VMAFKIT, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)


def wait_for(condition, *, timeout: float, what: str, procs=()) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for proc in procs:
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"the run ended (exit {proc.returncode}) before {what}: {err[-2000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def finished_cells(out: Path) -> list[Path]:
    cells = out / CELLS_REL
    return sorted(p for p in cells.glob("*.jsonl")) if cells.is_dir() else []


def work_folders(out: Path) -> list[Path]:
    cells = out / CELLS_REL
    return sorted(cells.glob(".cell-*")) if cells.is_dir() else []


def ran_to_a_verdict(proc, out: Path) -> dict:
    assert proc.returncode in (0, 1), proc.stderr
    assert "pick an empty" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    verdicts = sorted((out / "loso").glob("PROMOTE.json")) + sorted((out / "loso").glob("HOLD.json"))
    assert len(verdicts) == 1, verdicts
    verdict = json.loads(verdicts[0].read_text())
    assert proc.returncode == {"PROMOTE": 0, "HOLD": 1}[verdict["verdict"]]
    assert verdict["corpus"]["rows"] == 4 * 3 * 15
    return verdict


def refused(proc, fragment: str) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert lines and lines[-1].startswith("vmafkit: error: ") and fragment in lines[-1], proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[-1]


def test_first_run_killed_mid_corpus_resumes_and_cleans_the_litter(make_ref_dir, tmp_path):
    """kill -9 during the corpus step of the very first run; the same command then resumes (no
    'pick an empty --out folder'), reuses every finished cell, and removes the work folders of the
    killed run and a killed bundle writer's temp, but not a work folder a live build still holds."""
    ref = make_ref_dir(*CLIPS)
    out = tmp_path / "run"
    args = ["run", "--ref-dir", ref, "--out", out, *TINY]
    proc = start(*args)
    try:
        wait_for(
            lambda: finished_cells(out) and any((p / ".lock").exists() for p in work_folders(out)),
            timeout=300,
            what="a finished cell and a locked work folder",
            procs=[proc],
        )
    finally:
        kill_group(proc)
    done_before = {p.name for p in finished_cells(out)}
    # A work folder gets its lock file a moment after it is made: one the kill caught in between
    # has none, and the sweep leaves such a folder for UNLOCKED_LITTER_AGE_S (60 s; it could be a
    # live build's first milliseconds). The locked ones are the litter this test sweeps at once.
    killed_litter = [p for p in work_folders(out) if (p / ".lock").exists()]
    unlocked = [p for p in work_folders(out) if not (p / ".lock").exists()]
    assert killed_litter, "the kill left no locked work folder"
    assert len(done_before) < 12 and not (out / "corpus" / "per_frame_canonical6.jsonl").exists()

    # A bundle writer killed earlier (old mtime, lock free) and a build sharing this cache right now.
    dead_temp = out / ".results.tar.gz.k1ll3d.tmp"
    dead_temp.write_bytes(b"half a tarball")
    os.utime(dead_temp, (OLD, OLD))
    live = out / CELLS_REL / ".cell-live"
    live.mkdir()
    (live / ".lock").write_bytes(b"")
    (live / "encoded.mkv").write_bytes(b"being encoded")
    time.sleep(2.1)  # the killed run's folders are past the brand-new guard of the sweep
    holder = open(live / ".lock", "rb")
    fcntl.flock(holder.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        again = vmafkit(*args)
    finally:
        holder.close()
    ran_to_a_verdict(again, out)
    corpus = json.loads((out / "pipeline.json").read_text())["steps"]["corpus"]["info"]
    assert corpus["n_cells"] == 12 and corpus["cells_cached"] >= len(done_before)  # nothing finished redone
    assert done_before <= {p.name for p in finished_cells(out)}
    assert not any(p.exists() for p in killed_litter), killed_litter
    assert [p for p in work_folders(out) if p not in unlocked] == [live] and (live / "encoded.mkv").is_file()
    assert not dead_temp.exists() and not list(out.glob(".results.tar.gz.*.tmp"))
    assert "cleanup: removed" in again.stderr


def test_refused_bad_value_leaves_nothing_and_the_corrected_command_runs(make_ref_dir, tmp_path):
    """`--cqs 22,52` (52 is outside libx264's 0..51) is refused before any folder is made; the
    corrected command on the same --out folder then runs (it was refused as 'not a vmafkit run')."""
    ref = make_ref_dir(*CLIPS)
    out = tmp_path / "new" / "run"
    bad = [*TINY[:2], "--cqs", "22,52", *TINY[4:]]
    refused(vmafkit("run", "--ref-dir", ref, "--out", out, *bad), "cq 52 is outside libx264's range")
    assert not (tmp_path / "new").exists()
    # refused under the lock (byte-identical clips): the folders it made are taken back as well
    twins = make_ref_dir(*CLIPS[:2], folder="twins")
    shutil.copyfile(media(CLIPS[0]), twins / "twin.mp4")
    refused(vmafkit("run", "--ref-dir", twins, "--out", out, *TINY), "same clip")
    assert not (tmp_path / "new").exists()
    mine = tmp_path / "mine"  # a folder the user made for it: left as it was (empty)
    mine.mkdir()
    refused(vmafkit("run", "--ref-dir", ref, "--out", mine, *bad), "cq 52")
    assert list(mine.iterdir()) == []
    # a refusal found only under the lock (one source group) takes back what it made, too
    one = make_ref_dir(CLIPS[0], folder="one")
    refused(vmafkit("run", "--ref-dir", one, "--out", mine, *TINY), "at least 2 source groups")
    assert list(mine.iterdir()) == []

    ran_to_a_verdict(vmafkit("run", "--ref-dir", ref, "--out", out, *TINY), out)


def test_a_second_run_on_the_same_out_dir_is_told_in_use(make_ref_dir, tmp_path):
    """Started 0.3 s after the first, and again while the first is in its corpus step: 'in use',
    never 'pick an empty --out folder'."""
    ref = make_ref_dir(*CLIPS)
    out = tmp_path / "run"
    args = ["run", "--ref-dir", ref, "--out", out, *TINY]
    first = start(*args)
    second = None
    try:
        time.sleep(0.3)
        second = start(*args)
        # whichever takes the lock runs; the other is refused at once
        wait_for(
            lambda: first.poll() is not None or second.poll() is not None,
            timeout=120,
            what="one of two concurrent runs to be refused",
        )
        loser, winner = (first, second) if first.poll() is not None else (second, first)
        _, err = loser.communicate(timeout=60)
        refused(subprocess.CompletedProcess(loser.args, loser.returncode, "", err), "in use")
        assert "pick an empty" not in err and len(err.strip().splitlines()) == 1, err
        wait_for(lambda: finished_cells(out), timeout=300, what="the corpus step", procs=[winner])
        third = vmafkit(*args)
        line = refused(third, "in use")
        assert "pick an empty" not in third.stderr and len(third.stderr.strip().splitlines()) == 1, line
        assert winner.poll() is None  # the refused run did not disturb the running one
    finally:
        kill_group(first)
        if second is not None:
            kill_group(second)


def test_byte_identical_reference_clips_are_refused_before_any_encode(make_ref_dir, tmp_path):
    ref = make_ref_dir(*CLIPS[:2])
    shutil.copyfile(media(CLIPS[1]), ref / "again_160x90_48f.yuv")  # same bytes, another name
    out = tmp_path / "run"
    started = time.monotonic()
    proc = vmafkit("run", "--ref-dir", ref, "--out", out, *TINY)
    line = refused(proc, "same clip")
    assert str(ref / CLIPS[1]) in line and str(ref / "again_160x90_48f.yuv") in line
    assert not out.exists()  # nothing encoded, nothing left
    assert time.monotonic() - started < 120

    corpus = vmafkit(
        "corpus",
        "--ref-dir",
        ref,
        "--encoders",
        "libx264",
        "--cqs",
        "22",
        "--out",
        tmp_path / "c.jsonl",
        "--no-progress",
    )
    assert corpus.returncode == 2 and "same clip" in corpus.stderr, corpus.stderr
    assert not (tmp_path / ".vmafkit-cache").exists() and not (tmp_path / "c.jsonl").exists()


# ----------------------------------------------------------------------------- extract-corpus


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    from vmafkit.bundle.refpack import pack_corpus

    base = tmp_path_factory.mktemp("packed")
    ref = base / "ref"
    ref.mkdir()
    for name in ("bluesky_640x360_3f.yuv", "ciscovt2people_320x192_12fps_9f.yuv", "parkjoy_480x270_50fps_10f.y4m"):
        shutil.copyfile(media(name), ref / name)
    pack_corpus(ref, base / "corpus")
    return ref, base / "corpus"


def _broken_copy(corpus: Path, dest: Path, how: str) -> Path:
    shutil.copytree(corpus, dest, ignore=shutil.ignore_patterns(".*"))
    entries = [json.loads(line) for line in (dest / "manifest.jsonl").read_text().splitlines()]
    last = entries[-1]
    assert last["name"] == "parkjoy_480x270_50fps_10f.y4m"  # sorted by name: restored last
    if how == "corrupt packed file":
        data = bytearray((dest / last["packed"]).read_bytes())
        data[len(data) // 2] ^= 0xFF
        (dest / last["packed"]).write_bytes(bytes(data))
    else:  # the packed file is intact but does not decode to what the manifest says
        last["decoded_sha256"] = "0" * 64
        (dest / "manifest.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    return dest


@pytest.mark.parametrize(
    "how,message", [("corrupt packed file", "packed file's sha256"), ("lying manifest", "decoded frames")]
)
def test_refused_extract_leaves_no_clip_behind(packed, tmp_path, how, message):
    from vmafkit.bundle.refpack import extract_corpus

    bad = _broken_copy(packed[1], tmp_path / "bad", how)
    out = tmp_path / "out"
    with pytest.raises(InputError, match=message):
        extract_corpus(bad, out)
    assert not out.exists()  # not the first clips, not the folder it made

    mine = tmp_path / "mine"  # a folder with the user's own file in it: left exactly as it was
    (mine / "sub").mkdir(parents=True)
    (mine / "notes.txt").write_text("mine")
    proc = vmafkit("extract-corpus", "--packed", bad, "--out", mine)
    assert proc.returncode == 2 and message in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert sorted(str(p.relative_to(mine)) for p in mine.rglob("*")) == ["notes.txt", "sub"]


def test_extract_removes_a_killed_extracts_staging_then_restores_all(packed, tmp_path):
    from vmafkit.bundle.refpack import extract_corpus

    ref, corpus = packed
    out = tmp_path / "out"
    stale = out / ".vmafkit-extract-k1ll3d"
    stale.mkdir(parents=True)
    (stale / "000000.tmp").write_bytes(b"half a clip")
    (stale / ".lock").write_bytes(b"")
    os.utime(stale, (OLD, OLD))
    written = extract_corpus(corpus, out)
    assert len(written) == 3
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in ref.iterdir())
    for path in written:
        assert path.read_bytes() == (ref / path.name).read_bytes()
