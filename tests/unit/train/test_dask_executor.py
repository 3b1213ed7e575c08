"""DaskExecutor and the member grouping, on a small in-process Dask cluster (real scheduler and
workers, threads instead of processes) or with no cluster at all (connection errors)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from vmafkit.errors import EXIT_INPUT, InputError, WorkerError
from vmafkit.parallel.dask_executor import DaskExecutor, _path_problems
from vmafkit.parallel.executor import make_executor


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_is_one_line_input_error():
    address = f"tcp://127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    with pytest.raises(InputError) as info:
        DaskExecutor(address, timeout=1)
    assert time.monotonic() - started < 30  # bounded (generous: a loaded CI host)
    message = str(info.value)
    assert address in message and "\n" not in message
    assert info.value.exit_code == EXIT_INPUT


def test_not_an_address():
    with pytest.raises(InputError, match="not a Dask address"):
        make_executor(2, "bogus://x")


def test_a_peer_that_is_not_a_scheduler():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def answer_garbage():
        server.settimeout(10)
        try:
            conn, _ = server.accept()
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n" * 4)
            time.sleep(0.5)
            conn.close()
        except OSError:
            pass

    thread = threading.Thread(target=answer_garbage, daemon=True)
    thread.start()
    try:
        with pytest.raises(InputError, match=f"127.0.0.1:{port}"):
            DaskExecutor(f"tcp://127.0.0.1:{port}", timeout=2)
    finally:
        server.close()
        thread.join(timeout=10)


def test_cli_names_the_address_and_exits_2(make_ref_dir, tmp_path):
    ref_dir = make_ref_dir("bluesky_640x360_3f.yuv")
    address = f"tcp://127.0.0.1:{_closed_port()}"
    env = {**os.environ, "VMAFKIT_DASK_TIMEOUT": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "vmafkit.cli",
            "corpus",
            "--ref-dir",
            str(ref_dir),
            "--out",
            str(tmp_path / "c.jsonl"),
            "--cqs",
            "30",
            "--max-frames",
            "1",
            "--scheduler",
            address,
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and address in lines[0] and lines[0].startswith("vmafkit: error:"), proc.stderr
    assert not (tmp_path / "c.jsonl").exists()


@pytest.fixture(scope="module")
def inproc_cluster():
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close(timeout=30)


def _square(x: int) -> int:
    if x == 13:
        raise InputError("thirteen is refused", path="/some/clip.y4m")
    if x > 13:
        time.sleep(0.2)
    return x * x


def _vmafkit_tasks(dask_scheduler) -> list[str]:
    return [str(k) for k in dask_scheduler.tasks if str(k).startswith("vmafkit-")]


def test_map_unordered_yields_every_item_once(inproc_cluster, capsys, monkeypatch):
    from vmafkit.parallel import dask_executor

    monkeypatch.setattr(dask_executor, "_announced", set())
    with DaskExecutor(inproc_cluster) as ex:
        assert ex.describe().startswith(f"dask {inproc_cluster} (2 workers")
        assert ex.workers == 2
        got = list(ex.map_unordered(_square, range(12)))
        assert sorted(got) == [(i, i * i) for i in range(12)]
        assert list(ex.map_unordered(_square, [])) == []
        # A second map on the same executor does not reuse the first one's keys.
        assert sorted(ex.map_unordered(_square, range(3))) == [(0, 0), (1, 1), (2, 4)]
    with DaskExecutor(inproc_cluster):  # `vmafkit run` connects twice (corpus, train): announced once
        pass
    err = capsys.readouterr().err
    assert err.count("dashboard http://127.0.0.1:") == 1


def test_task_error_is_reraised_with_its_type_and_the_rest_cancelled(inproc_cluster):
    with DaskExecutor(inproc_cluster, retries=0, announce=False) as ex:
        with pytest.raises(InputError, match="/some/clip.y4m: thirteen is refused") as info:
            list(ex.map_unordered(_square, range(10, 40)))
        assert info.value.exit_code == EXIT_INPUT
        # Nothing of that map is left on the scheduler (cancelled, not left running).
        deadline = time.monotonic() + 30
        while ex.client.run_on_scheduler(_vmafkit_tasks):
            assert time.monotonic() < deadline, ex.client.run_on_scheduler(_vmafkit_tasks)
            time.sleep(0.1)


def test_require_paths_names_the_worker_and_the_path(inproc_cluster, tmp_path):
    present = tmp_path / "clip.y4m"
    present.write_bytes(b"x")
    assert _path_problems([str(present)], [str(tmp_path)]) == []
    assert _path_problems([str(tmp_path / "nope")], [str(tmp_path / "nodir")]) == [
        f"cannot read {tmp_path / 'nope'}",
        f"cannot write {tmp_path / 'nodir'}",
    ]
    with DaskExecutor(inproc_cluster, announce=False) as ex:
        ex.require_paths(readable=[present], writable=[tmp_path])
        with pytest.raises(
            InputError, match=r"Dask worker tcp://127\.0\.0\.1:\d+ cannot read .*/missing\.y4m.*same absolute path"
        ):
            ex.require_paths(readable=[tmp_path / "missing.y4m"], writable=[tmp_path])


def test_scheduler_without_workers_is_an_input_error():
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=0, processes=False, protocol="tcp", host="127.0.0.1", dashboard_address="127.0.0.1:0"
    ) as cluster:
        with pytest.raises(InputError, match="has no workers .*dask worker"):
            DaskExecutor(cluster.scheduler_address, wait_for_workers_s=1, announce=False)


def test_plan_groups_balanced_deterministic_and_complete():
    from vmafkit.train.distributed import plan_groups
    from vmafkit.train.ensemble import MemberData

    sizes = [300, 250, 300, 120, 200, 50, 400]
    members = [MemberData(np.zeros((n, 20), np.float32), np.zeros(n, np.float32), seed=i) for i, n in enumerate(sizes)]
    groups = plan_groups(members, 3)
    assert groups == plan_groups(members, 3)
    assert sorted(i for g in groups for i in g) == list(range(len(sizes)))
    assert all(g == sorted(g) for g in groups)
    loads = [sum(sizes[i] for i in g) for g in groups]
    assert max(loads) - min(loads) <= max(sizes)
    assert len(plan_groups(members, 100)) == len(sizes)  # never an empty group
    assert plan_groups(members, 1) == [list(range(len(sizes)))]


def test_fit_members_distributed_refuses_no_members(inproc_cluster):
    from vmafkit.train.distributed import fit_members_distributed

    with pytest.raises(InputError, match="no ensemble members"):
        fit_members_distributed([], scheduler=inproc_cluster)


def test_a_training_task_that_fails_on_a_worker_is_one_line(inproc_cluster):
    """A group that raises on the worker (here torch refuses a layer of -1 units) comes back as a
    WorkerError naming the cluster and the worker's exception: one line, exit 2, no traceback."""
    from vmafkit.train.distributed import fit_members_distributed
    from vmafkit.train.ensemble import MemberData
    from vmafkit.train.model import Recipe

    members = [MemberData(np.ones((8, 20), np.float32), np.ones(8, np.float32), seed=0)]
    with DaskExecutor(inproc_cluster, retries=0, announce=False) as ex:
        with pytest.raises(WorkerError) as info:
            fit_members_distributed(members, Recipe(epochs=1, hidden=-1), scheduler=ex)
    message = str(info.value)
    assert message.startswith(f"training on dask {inproc_cluster} (2 workers"), message
    assert "RuntimeError: " in message and "negative dimension" in message and "\n" not in message
    assert info.value.exit_code == EXIT_INPUT


def test_plan_groups_keeps_the_seeds_of_one_fold_together():
    from vmafkit.train.distributed import plan_groups
    from vmafkit.train.ensemble import MemberData

    xs = [np.zeros((n, 20), np.float32) for n in (100, 90, 80)]
    ys = [np.zeros(len(x), np.float32) for x in xs]
    members = [MemberData(xs[f], ys[f], seed) for seed in range(3) for f in range(3)]  # LOSO order
    fold_of = [i % 3 for i in range(len(members))]
    for n_groups in (2, 3):
        groups = plan_groups(members, n_groups)
        assert len(groups) == n_groups
        assert sorted(i for g in groups for i in g) == list(range(9))
        for group in groups:  # a fold's members never straddle two groups
            folds = {fold_of[i] for i in group}
            assert all(fold_of[j] not in folds for other in groups if other is not group for j in other)
    # More groups than folds: split by member so that every group has work.
    assert len(plan_groups(members, 5)) == 5
