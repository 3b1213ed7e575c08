"""Scale-out on a real Dask cluster on loopback: a `dask scheduler` and two `dask worker` processes.

The cluster is started with the `dask` command line (`python -m dask ...`, each process in its own
process group, workers without a nanny so that SIGKILL really loses the worker), bound to
127.0.0.1 only, and stopped by the fixture's finalizer (SIGTERM, then SIGKILL, to each process
group). As a safety net the scheduler has an idle timeout and the workers a death timeout, so a
test run killed before its finalizers still leaves nothing running for long.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vmafkit.corpus.build import build_corpus
from vmafkit.corpus.schema import TIMING_KEYS

from ..factories import TRAINER_SHAPE, make_corpus

VMAFKIT = [sys.executable, "-m", "vmafkit.cli"]
DASK = [sys.executable, "-m", "dask"]
CLIPS = ("parkjoy_480x270_50fps_10f.y4m", "ciscovt2people_320x192_12fps_9f.yuv", "bluesky_640x360_3f.yuv")
START_TIMEOUT_S = 90
RUN_TIMEOUT_S = 420
ROW_KEY = ("src_sha256", "encoder", "preset", "cq", "frame_index")


def _kill_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        _kill_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    _kill_group(proc, signal.SIGKILL)  # the group: children (ffmpeg) too
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover
        pass


class LoopbackCluster:
    """`dask scheduler` + N `dask worker` processes on 127.0.0.1, one process group each."""

    def __init__(self, folder: Path, n_workers: int = 2):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.scheduler_file = folder / "scheduler.json"
        self.procs: list[subprocess.Popen] = []
        self.workers: dict[str, subprocess.Popen] = {}  # name -> process
        self.address = ""
        self.n_workers = n_workers
        self.client = None

    def _spawn(self, argv: list[str], log: str) -> subprocess.Popen:
        with open(self.folder / log, "wb") as handle:
            proc = subprocess.Popen(
                argv,
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.folder,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def start(self) -> LoopbackCluster:
        from distributed import Client

        self._spawn(
            [
                *DASK,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--dashboard-address",
                "127.0.0.1:0",
                "--scheduler-file",
                str(self.scheduler_file),
                "--idle-timeout",
                "900",
            ],
            "scheduler.log",
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.scheduler_file.is_file() or not self.scheduler_file.read_text().strip().endswith("}"):
            if time.monotonic() > deadline or self.procs[0].poll() is not None:
                raise RuntimeError(f"dask scheduler did not start: {self.log('scheduler.log')[-2000:]}")
            time.sleep(0.2)
        self.address = json.loads(self.scheduler_file.read_text())["address"]
        assert self.address.startswith("tcp://127.0.0.1:")
        for i in range(self.n_workers):
            name = f"w{i}"
            self.workers[name] = self._spawn(
                [
                    *DASK,
                    "worker",
                    self.address,
                    "--name",
                    name,
                    "--nthreads",
                    "1",
                    "--no-nanny",
                    "--host",
                    "127.0.0.1",
                    "--no-dashboard",
                    "--death-timeout",
                    "60",
                    "--local-directory",
                    str(self.folder / name),
                ],
                f"{name}.log",
            )
        self.client = Client(self.address, timeout=30, set_as_default=False)
        self.client.wait_for_workers(self.n_workers, timeout=START_TIMEOUT_S)
        return self

    def log(self, name: str) -> str:
        path = self.folder / name
        return path.read_text(errors="replace") if path.is_file() else ""

    def worker_address(self, name: str) -> str:
        info = self.client.scheduler_info(n_workers=-1)["workers"]
        return next(addr for addr, w in info.items() if w.get("name") == name)

    def stop(self) -> None:
        if self.client is not None:
            try:
                self.client.close(timeout=10)
            except Exception:  # noqa: BLE001  (scheduler already gone)
                pass
        for proc in reversed(self.procs):
            _stop(proc)


@pytest.fixture
def cluster(tmp_path_factory, request):
    c = LoopbackCluster(tmp_path_factory.mktemp("dask"))
    request.addfinalizer(c.stop)  # registered before start: a half-started cluster is stopped too
    return c.start()


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _without_timings(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in rows]


def _corpus_argv(ref_dir: Path, out: Path, cqs: str, *extra: str) -> list[str]:
    return [
        *VMAFKIT,
        "corpus",
        "--ref-dir",
        str(ref_dir),
        "--encoders",
        "libx264",
        "--cqs",
        cqs,
        "--out",
        str(out),
        "--max-frames",
        "3",
        *extra,
    ]


def _local_corpus(ref_dir: Path, folder: Path, cqs: list[int]) -> list[dict]:
    folder.mkdir()
    out = folder / "c.jsonl"
    build_corpus(ref_dir, ["libx264"], cqs, out, max_frames=3, progress=False, jobs=1)
    return _rows(out)


@pytest.mark.slow
def test_corpus_on_dask_equals_local_run(cluster, make_ref_dir, tmp_path):
    ref_dir = make_ref_dir(*CLIPS)
    (tmp_path / "dask").mkdir()
    out = tmp_path / "dask" / "c.jsonl"
    proc = subprocess.run(
        _corpus_argv(ref_dir, out, "25,37", "--scheduler", cluster.address, "--progress"),  # stderr is a pipe
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stderr
    # The dashboard is announced once; the progress bar runs and names the cluster.
    assert proc.stderr.count("dashboard http://127.0.0.1:") == 1, proc.stderr
    assert f"6 cells on dask {cluster.address} (2 workers" in proc.stderr, proc.stderr
    assert "6/6" in proc.stderr and "18/18" in proc.stderr, proc.stderr
    rows = _rows(out)
    local = _local_corpus(ref_dir, tmp_path / "local", [25, 37])
    assert len(rows) == 3 * 2 * 3
    assert _without_timings(rows) == _without_timings(local)
    assert all(proc.poll() is None for proc in cluster.workers.values())

    # A re-run on the cluster finds every cell in the (shared) cache: nothing is encoded again.
    again = subprocess.run(
        _corpus_argv(ref_dir, out, "25,37", "--scheduler", cluster.address, "--no-progress"),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert again.returncode == 0, again.stderr
    assert "(6 cached, 0 encoded, " in again.stderr, again.stderr
    assert _rows(out) == rows


@pytest.mark.slow
def test_worker_killed_mid_run_loses_and_repeats_nothing(cluster, make_ref_dir, tmp_path):
    """SIGKILL a worker (its whole process group) while it runs a cell and cells are pending."""
    ref_dir = make_ref_dir(*CLIPS)
    cqs = [18, 22, 26, 30, 34, 38, 42, 46]  # 24 small cells: plenty still pending at the kill
    out_dir = tmp_path / "dask"
    out_dir.mkdir()
    out = out_dir / "c.jsonl"
    cache = out_dir / ".vmafkit-cache" / "cells"
    log = open(tmp_path / "corpus.log", "wb")
    run = subprocess.Popen(
        _corpus_argv(ref_dir, out, ",".join(map(str, cqs)), "--scheduler", cluster.address, "--no-progress"),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        # Wait for the first finished cell, then freeze (SIGSTOP) a worker that runs a cell, so the
        # cell cannot finish in the meantime, read which cells it holds, and SIGKILL it.
        deadline = time.monotonic() + RUN_TIMEOUT_S
        victim, in_flight = None, []
        while not in_flight:
            assert time.monotonic() < deadline, "no worker was caught running a cell"
            assert run.poll() is None, (tmp_path / "corpus.log").read_text()
            time.sleep(0.05)
            if not (cache.is_dir() and any(cache.glob("*.jsonl"))):
                continue
            busy = sorted(a for a, keys in cluster.client.processing().items() if _cell_keys(keys))
            if not busy:
                continue
            names = {a: w["name"] for a, w in cluster.client.scheduler_info(n_workers=-1)["workers"].items()}
            victim, victim_address = names[busy[0]], busy[0]
            _kill_group(cluster.workers[victim], signal.SIGSTOP)
            time.sleep(0.5)  # a completion already on the wire lands now
            in_flight = _cell_keys(cluster.client.processing().get(victim_address, []))
            if not in_flight:
                _kill_group(cluster.workers[victim], signal.SIGCONT)
        finished_before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in cache.glob("*.jsonl")}
        _kill_group(cluster.workers[victim], signal.SIGKILL)
        cluster.workers[victim].wait(timeout=30)
        assert len(finished_before) < 3 * len(cqs), "every cell finished before the kill: nothing was pending"

        rc = run.wait(timeout=RUN_TIMEOUT_S)
    finally:
        if run.poll() is None:
            _kill_group(run, signal.SIGKILL)
            run.wait(timeout=30)
        log.close()
    output = (tmp_path / "corpus.log").read_text()
    assert rc == 0, output
    # The scheduler saw the worker go, and the run finished on the survivor.
    assert f"Remove worker addr: {victim_address}" in cluster.log("scheduler.log")
    assert len(cluster.client.nthreads()) == 1

    rows = _rows(out)
    keys = [tuple(r[k] for k in ROW_KEY) for r in rows]
    assert len(keys) == len(set(keys)) == 3 * len(cqs) * 3  # every row exactly once
    local = _local_corpus(ref_dir, tmp_path / "local", cqs)
    assert _without_timings(rows) == _without_timings(local)
    # A cell finished before the loss was not recomputed: its cache file was never rewritten
    # (a rewrite is an atomic rename, so a new inode and mtime).
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in cache.glob("*.jsonl")}
    assert len(after) == 3 * len(cqs)
    assert {name: after[name] for name in finished_before} == finished_before
    assert "(0 cached, 24 encoded, " in output, output
    # The cell the dead worker was running was run again on the survivor, and finished there.
    for key in in_flight:
        story = [(t[2], t[3]) for t in cluster.client.story(key, on_error="ignore") if t[0] == "scheduler"]
        assert story.count(("waiting", "processing")) + story.count(("queued", "processing")) >= 2, story
        assert ("processing", "memory") in story, story


def _cell_keys(keys) -> list[str]:
    return [str(k) for k in keys if str(k).startswith("vmafkit-run_cell-")]


def _members(n_members: int = 5, seed: int = 0):
    from vmafkit.train.ensemble import MemberData

    rng = np.random.default_rng(seed)
    members = []
    for k, n in enumerate([300, 250, 300, 120, 200][:n_members]):
        x = rng.normal(size=(n, 20)).astype(np.float32)
        y = (50 + 10 * x[:, 0] - 5 * x[:, 3] + rng.normal(size=n)).astype(np.float32)
        members.append(MemberData(x, y, seed=k))
    return members


def _states(models):
    return [{k: v.detach().numpy() for k, v in m.state_dict().items()} for m in models]


@pytest.mark.slow
def test_members_fit_on_dask_equal_local_fits(cluster):
    from vmafkit.train.distributed import fit_members_distributed, plan_groups
    from vmafkit.train.ensemble import fit_members
    from vmafkit.train.recipe import Recipe

    members = _members()
    recipe = Recipe(epochs=4)
    remote = fit_members_distributed(members, recipe, scheduler=cluster.address, progress=False)
    assert [m.training for m in remote] == [False] * len(members)
    # Exactly the weights of the local one-batch fit, in the original member order (a member does
    # not depend on its batch-mates), and of the same groups fitted locally.
    groups = plan_groups(members, 2)
    assert len(groups) == 2
    by_group = [None] * len(members)
    for group in groups:
        for i, model in zip(group, fit_members([members[i] for i in group], recipe)):
            by_group[i] = model
    for local in (fit_members(members, recipe), by_group):
        for got, want in zip(_states(remote), _states(local)):
            assert got.keys() == want.keys()
            for name in want:
                np.testing.assert_array_equal(got[name], want[name])


# --- training: LOSO members on the cluster ------------------------------------------------------


def _synthetic_corpus(path: Path) -> Path:
    """A few hundred rows: 4 sources x 2 encoders x 3 cqs x 12 frames."""
    return make_corpus(path, sources=("src0", "src1", "src2", "src3"), **TRAINER_SHAPE)


def _comparable(report: dict) -> dict:
    """The report without what names where it ran: paths, argv, and `device` ("cpu" / "dask:cpu")."""
    report = dict(report)
    report.pop("run_provenance", None)
    report.pop("device", None)
    report["corpus"] = {k: v for k, v in report["corpus"].items() if k != "path"}
    return report


@pytest.mark.slow
def test_loso_reports_on_dask_equal_local_run(cluster, tmp_path):
    """The LOSO members fitted as Dask tasks give exactly the local run's reports."""
    from vmafkit.train import loso
    from vmafkit.train.recipe import Recipe

    corpus = _synthetic_corpus(tmp_path / "corpus.jsonl")
    recipe = Recipe(epochs=3)
    local = loso.train_loso(corpus, [0, 1], tmp_path / "local", recipe=recipe, device="cpu", progress=False, workers=2)
    remote = loso.train_loso(
        corpus, [0, 1], tmp_path / "dask", recipe=recipe, device="cpu", progress=False, scheduler=cluster.address
    )
    assert [p.name for p in remote] == [p.name for p in local] == ["loso_seed0.json", "loso_seed1.json"]
    for got, want in zip(remote, local):
        got_report, want_report = json.loads(got.read_text()), json.loads(want.read_text())
        assert want_report["n_folds"] == 4 and want_report["mean_plcc"] is not None
        assert "dask" in str(got_report["device"]) and "dask" not in str(want_report["device"])
        assert _comparable(got_report) == _comparable(want_report)  # exactly: members do not depend on batch-mates
        got_pred = (got.parent / got_report["predictions_file"]).read_text()
        assert got_pred == (want.parent / want_report["predictions_file"]).read_text()


@pytest.mark.slow
def test_cli_train_with_scheduler(cluster, tmp_path):
    corpus = _synthetic_corpus(tmp_path / "corpus.jsonl")
    outs = {}
    for name, extra in (("local", []), ("dask", ["--scheduler", cluster.address])):
        proc = subprocess.run(
            [
                *VMAFKIT,
                "train",
                "--corpus",
                str(corpus),
                "--seeds",
                "0,1",
                "--out",
                str(tmp_path / name),
                "--epochs",
                "3",
                "--device",
                "cpu",
                "--workers",
                "2",
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
        )
        assert proc.returncode == 0, proc.stderr
        outs[name] = proc
    assert "dashboard http://127.0.0.1:" in outs["dask"].stderr
    for seed in (0, 1):
        got = json.loads((tmp_path / "dask" / f"loso_seed{seed}.json").read_text())
        want = json.loads((tmp_path / "local" / f"loso_seed{seed}.json").read_text())
        assert _comparable(got) == _comparable(want)
