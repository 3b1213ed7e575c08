"""Issue 20, item 2: an export switches into a models folder as one change. A refused, locked-out
or killed export leaves a production (flipped) folder byte-identical; the next command that takes
the folder's lock finishes or undoes a killed one; a `run` ending in HOLD never deletes a models
folder. The oracle is the folder's bytes before and after (every file, hashed by the test)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.factories import private_copy
from vmafkit import layout
from vmafkit.errors import LockBusy, RefusedError
from vmafkit.io import exclusive_lock
from vmafkit.serve import folder as F
from vmafkit.serve.registry import flip, validate_registry

REPO = Path(__file__).resolve().parents[3]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` (the lock file aside: flock rewrites its pid line) by sha256."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != layout.REGISTRY_LOCK
    }


@pytest.fixture(scope="module")
def production(pristine_models, tmp_path_factory):
    """A flipped (production) models folder, and the PROMOTE verdict and corpus it came from."""
    models, verdict, corpus = private_copy(pristine_models, tmp_path_factory.mktemp("prod"))
    flip(layout.registry_file(models), verdict)
    return models, verdict, corpus


@pytest.fixture
def prod(production, tmp_path):
    import shutil

    models, verdict, corpus = production
    copy = tmp_path / "models"
    shutil.copytree(models, copy)
    return copy, verdict, corpus


def test_an_export_while_another_holds_the_lock_leaves_production_byte_identical(prod):
    from vmafkit.serve.export import export_ensemble

    models, verdict, corpus = prod
    before = snapshot(models)
    with exclusive_lock(models, layout.REGISTRY_LOCK), pytest.raises(LockBusy):  # e.g. a `registry flip`
        export_ensemble(corpus, verdict, models, model_id="fr_regressor_v2_ensemble_v1")
    assert snapshot(models) == before
    assert validate_registry(layout.registry_file(models)) == []
    assert not [p.name for p in models.iterdir() if p.name.startswith(".export")]  # no staging left


def test_a_refused_registry_change_puts_every_file_back(prod, monkeypatch):
    from vmafkit.serve import members
    from vmafkit.serve.export import export_ensemble

    models, verdict, corpus = prod
    before = snapshot(models)

    def refuse(*args, **kwargs):
        raise RefusedError("refused for the test")

    monkeypatch.setattr(members, "register_locked", refuse)
    with pytest.raises(RefusedError):
        export_ensemble(corpus, verdict, models, model_id="fr_regressor_v2_ensemble_v1")
    assert snapshot(models) == before


def _files(folder: Path, names: dict[str, bytes]) -> None:
    for name, data in names.items():
        (folder / name).write_bytes(data)


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from vmafkit import layout
    from vmafkit.io import atomic_write_bytes
    from vmafkit.serve.folder import commit_files

    folder, when = Path(sys.argv[1]), sys.argv[2]

    def change_registry():
        if when == "after":
            atomic_write_bytes(layout.registry_file(folder), b'{"new": true}')
        os.kill(os.getpid(), signal.SIGKILL)

    commit_files(folder, {"a.onnx": b"new a", "c.onnx": b"new c"}, change_registry)
    """
)


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_killed_switch_is_undone_or_finished_by_the_next_command(tmp_path, when):
    """kill -9 inside the switch (files moved, journal written): before the registry changed, the
    next command that takes the lock puts the old files back and removes the new one; after it
    changed, the export committed and only the old files and the journal go."""
    folder = tmp_path / "models"
    folder.mkdir()
    _files(folder, {"a.onnx": b"old a", "b.onnx": b"old b", layout.REGISTRY_FILE: b'{"old": true}'})
    before = snapshot(folder)
    proc = subprocess.run([sys.executable, "-c", KILLER, str(folder), when], cwd=REPO, capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert (folder / layout.EXPORT_JOURNAL).exists()  # what the kill left
    assert (folder / "a.onnx").read_bytes() == b"new a"
    assert F.recover(folder) is True
    left = sorted(p.name for p in folder.iterdir() if p.name != layout.REGISTRY_LOCK)
    if when == "before":
        assert snapshot(folder) == before
        assert left == ["a.onnx", "b.onnx", layout.REGISTRY_FILE]
    else:
        assert (folder / "a.onnx").read_bytes() == b"new a" and (folder / "c.onnx").read_bytes() == b"new c"
        assert (folder / "b.onnx").read_bytes() == b"old b"
        assert left == ["a.onnx", "b.onnx", "c.onnx", layout.REGISTRY_FILE]
    assert F.recover(folder) is False  # nothing left to do


def test_the_sweep_removes_a_dead_exports_staging_and_temp_files_but_not_a_live_ones(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)  # a process that has exited
    (folder / f"{layout.EXPORT_STAGING_PREFIX}{dead_pid}-abc").mkdir()
    (folder / f"{layout.EXPORT_STAGING_PREFIX}{dead_pid}-abc" / "x.onnx").write_bytes(b"x")
    live = folder / f"{layout.EXPORT_STAGING_PREFIX}{os.getppid()}-def"  # pytest's parent: alive
    live.mkdir()
    (folder / ".registry.json.k2j3.tmp").write_bytes(b"half")
    (folder / "keep.onnx").write_bytes(b"keep")
    assert F.recover(folder) is False
    assert sorted(p.name for p in folder.iterdir() if p.name != layout.REGISTRY_LOCK) == sorted(
        ["keep.onnx", live.name]
    )


def test_a_journal_vmafkit_did_not_write_is_refused(tmp_path):
    from vmafkit.errors import InputError

    folder = tmp_path / "models"
    folder.mkdir()
    (folder / layout.EXPORT_JOURNAL).write_text(
        json.dumps({"staging": "../../etc", "previous": ".export-previous-1", "added": [], "replaced": []})
    )
    with pytest.raises(InputError, match="not an export journal"):
        F.recover(folder)


def test_validate_names_an_interrupted_export(prod):
    models, _, _ = prod
    (models / layout.EXPORT_JOURNAL).write_text("{}")
    problems = validate_registry(layout.registry_file(models))
    assert any("interrupted" in p for p in problems)


def test_a_hold_run_leaves_a_flipped_folder_and_moves_a_smoke_one_aside(prod, tmp_path):
    from vmafkit import pipeline

    models, _, _ = prod
    before = snapshot(models)

    class Ledger:
        forgotten: list[str] = []

        def forget(self, name):
            self.forgotten.append(name)

    logs: list[str] = []
    status = pipeline._export_step(Ledger(), None, None, None, models, "HOLD", logs.append)
    assert status == "kept (flipped, not this run's)" and snapshot(models) == before
    assert "not this run's" in logs[0]

    from vmafkit.serve.registry import rollback

    rollback(layout.registry_file(models), "back to smoke for the test")
    smoke = snapshot(models)
    status = pipeline._export_step(Ledger(), None, None, None, models, "HOLD", logs.append)
    assert status == "moved aside" and not models.exists()
    (aside,) = [p for p in models.parent.iterdir() if p.name.startswith("models" + layout.SUPERSEDED_INFIX)]
    assert snapshot(aside) == smoke  # whole, registry history included


def test_a_rerun_that_promotes_the_same_verdict_leaves_the_flipped_folder_as_it_is(prod):
    """`vmafkit run` again after the operator flipped: exporting again would put the rows back to
    smoke. The folder serves this very verdict, so the step is skipped and nothing changes; with
    another verdict's bytes it is not skipped."""
    from vmafkit import pipeline

    models, verdict, corpus = prod
    before = snapshot(models)
    logs: list[str] = []
    status = pipeline._export_step(None, None, corpus, verdict, models, "PROMOTE", logs.append)
    assert status == "skipped (flipped)" and snapshot(models) == before
    assert "serves this verdict" in logs[0]
    other = models.parent / "other_PROMOTE.json"
    other.write_bytes(verdict.read_bytes() + b" ")
    assert pipeline._serves_verdict(models, verdict) is True
    assert pipeline._serves_verdict(models, other) is False
