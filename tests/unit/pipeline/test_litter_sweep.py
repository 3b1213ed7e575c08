"""Issue 12: what killed runs leave (cell work folders, bundle and extract temps) is removed by the
next run, and what a live process still holds (a concurrent build sharing the cache) never is."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

import pytest

from vmafkit.bundle.pack import sweep_bundle_temps
from vmafkit.bundle.refpack import sweep_stale_staging
from vmafkit.corpus.build import check_distinct_sources, sweep_cache_litter
from vmafkit.errors import InputError

OLD = time.time() - 3600


def _age(path: Path, when: float = OLD) -> Path:
    os.utime(path, (when, when), follow_symlinks=False)
    return path


def _work_folder(cache: Path, name: str, *, lock_file: bool = True) -> Path:
    folder = cache / name
    folder.mkdir()
    (folder / "encoded.mkv").write_bytes(b"\0" * 100)
    if lock_file:
        (folder / ".lock").write_bytes(b"")
    return folder


def _hold(path: Path):
    handle = open(path, "rb")
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    return handle


def test_dead_work_folders_and_temps_go_live_ones_stay(tmp_path):
    cache = tmp_path / "cells"
    cache.mkdir()
    dead = _age(_work_folder(cache, ".cell-dead"))
    legacy = _age(_work_folder(cache, ".cell-legacy", lock_file=False))  # an older vmafkit's: no lock file
    live = _age(_work_folder(cache, ".cell-live"))  # a concurrent build sharing the cache is in it
    fresh_unlocked = _work_folder(cache, ".cell-starting", lock_file=False)  # made this instant
    fresh_lock_free = _work_folder(cache, ".cell-locking")  # lock file made, flock not yet taken
    temp = cache / ".a__libx264__medium__cq22__abc.jsonl.x1y2.tmp"
    temp.write_bytes(b"{}")
    _age(temp)
    fresh_temp = cache / ".b.jsonl.q.tmp"
    fresh_temp.write_bytes(b"{}")
    cell = cache / "a__libx264__medium__cq22__abc.jsonl"
    cell.write_text("{}\n")
    _age(cell)
    holder = _hold(live / ".lock")
    try:
        removed = sweep_cache_litter(cache)
    finally:
        holder.close()
    assert sorted(removed) == sorted([dead.name, legacy.name, temp.name])
    assert not dead.exists() and not legacy.exists() and not temp.exists()
    assert (live / "encoded.mkv").is_file() and fresh_unlocked.is_dir() and fresh_lock_free.is_dir()
    assert fresh_temp.is_file() and cell.is_file()  # finished cells are never touched
    # once its holder is gone (killed) and it is old, the live one is litter too
    _age(live)
    assert sweep_cache_litter(cache) == [live.name]


def test_bundle_temps_of_killed_writers_go_a_live_writer_keeps_its_own(tmp_path):
    tarball = tmp_path / "results.tar.gz"
    dead = tmp_path / ".results.tar.gz.k1ll3d.tmp"
    dead.write_bytes(b"partial")
    _age(dead)
    live = tmp_path / ".results.tar.gz.l1v3.tmp"
    live.write_bytes(b"being written")
    _age(live)
    other = tmp_path / ".other.tar.gz.x.tmp"  # another tarball's: not ours to judge
    other.write_bytes(b"x")
    _age(other)
    holder = _hold(live)
    try:
        assert sweep_bundle_temps(tarball) == [dead.name]
    finally:
        holder.close()
    assert live.is_file() and other.is_file() and not dead.exists()


def test_stale_extract_staging_goes_a_live_one_stays(tmp_path):
    dead = tmp_path / ".vmafkit-extract-dead"
    dead.mkdir()
    (dead / "000000.tmp").write_bytes(b"half a clip")
    (dead / ".lock").write_bytes(b"")
    _age(dead)
    live = tmp_path / ".vmafkit-extract-live"
    live.mkdir()
    (live / ".lock").write_bytes(b"")
    _age(live)
    clip = tmp_path / "clip.y4m"
    clip.write_bytes(b"YUV4MPEG2")
    holder = _hold(live / ".lock")
    try:
        assert sweep_stale_staging(tmp_path) == [dead.name]
    finally:
        holder.close()
    assert live.is_dir() and clip.is_file() and not dead.exists()


def test_byte_identical_sources_are_named_both(tmp_path):
    from types import SimpleNamespace

    elsewhere = tmp_path / "store"
    elsewhere.mkdir()
    (elsewhere / "a.y4m").write_bytes(b"YUV4MPEG2")
    refs = tmp_path / "refs"
    refs.mkdir()
    (refs / "a.y4m").symlink_to(elsewhere / "a.y4m")
    (refs / "copy of a.y4m").write_bytes(b"YUV4MPEG2")
    (refs / "b.y4m").write_bytes(b"other")
    a = SimpleNamespace(name="a", path=(refs / "a.y4m").resolve(), sha256="1" * 64)
    b = SimpleNamespace(name="b", path=refs / "b.y4m", sha256="2" * 64)
    copy = SimpleNamespace(name="copy of a", path=refs / "copy of a.y4m", sha256="1" * 64)
    check_distinct_sources([a, b], refs)
    with pytest.raises(InputError) as err:
        check_distinct_sources([a, b, copy], refs)
    message = str(err.value)
    assert f"{refs / 'a.y4m'} and {refs / 'copy of a.y4m'} are the same clip" in message  # as listed in the folder
    assert err.value.exit_code == 2
    with pytest.raises(InputError, match="same clip"):  # without the folder: the sources' own paths
        check_distinct_sources([a, copy])
