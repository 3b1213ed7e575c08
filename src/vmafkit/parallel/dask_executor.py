"""The executor interface on an existing dask.distributed cluster (`--scheduler tcp://HOST:PORT`).

`DaskExecutor(address).map_unordered(fn, items)` submits one task per item and yields
`(item, result)` as tasks finish (`distributed.as_completed`), exactly like `LocalExecutor`, so
the caller's checkpointing and progress bar work unchanged.

What the cluster must share with the client (the workers run the same Python functions):
- vmafkit itself, the same version, importable on every worker;
- the source files at the same absolute path on every worker (a shared file system), and the
  corpus cell cache folder too: a cell is written there atomically by whichever worker ran it,
  so a task re-run after a lost worker (or a whole re-run) finds the finished cell and does not
  encode it again;
- the same ffmpeg/libvmaf build at the same path (the rows record its version, and the cell
  cache key includes it).

Fault tolerance comes from Dask: when a worker is lost, the scheduler reschedules its tasks on
the remaining workers (up to `distributed.scheduler.allowed-failures` times per task); `retries`
also re-runs a task that raised (a flaky network mount, say). A result the client already received
is released at once, so the loss of the worker that computed it never triggers a recomputation.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from vmafkit.errors import InputError

T = TypeVar("T")
R = TypeVar("R")

ENV_CONNECT_TIMEOUT = "VMAFKIT_DASK_TIMEOUT"  # seconds to wait for the scheduler (default 10)
CONNECT_TIMEOUT_S = 10.0
WORKER_WAIT_S = 60.0
DEFAULT_RETRIES = 2
_announced: set[str] = set()  # scheduler addresses already announced by this process (`run`: corpus + train)


def _task_name(fn: Callable) -> str:
    inner = getattr(fn, "func", fn)  # functools.partial
    return getattr(inner, "__name__", "task").strip("<>").replace(" ", "_") or "task"


async def _probe(address: str, timeout: float) -> dict:
    """Ask `address` for its identity over one raw connection (no Client left half-open)."""
    from distributed.comm import connect

    comm = await connect(address, timeout=timeout)
    try:
        await asyncio.wait_for(comm.write({"op": "identity", "reply": True}), timeout)
        return await asyncio.wait_for(comm.read(), timeout)
    finally:
        comm.abort()


def connect_timeout() -> float:
    value = os.environ.get(ENV_CONNECT_TIMEOUT)
    try:
        return float(value) if value else CONNECT_TIMEOUT_S
    except ValueError:
        raise InputError(f"${ENV_CONNECT_TIMEOUT}={value!r} is not a number of seconds") from None


def check_scheduler(address: str, timeout: float | None = None) -> dict:
    """The scheduler's identity, or a one-line InputError naming the address."""
    timeout = connect_timeout() if timeout is None else timeout
    try:
        from distributed.comm.addressing import normalize_address, parse_address, parse_host_port
        from distributed.comm.registry import get_backend

        normalized = normalize_address(address)
        scheme, location = parse_address(normalized)
        get_backend(scheme)  # an unknown scheme is a ValueError
        if scheme in ("tcp", "tls", "ws", "wss"):
            parse_host_port(location)  # a bad port too
    except Exception as exc:  # noqa: BLE001  (ValueError, TypeError ... from the parser)
        raise InputError(f"--scheduler {address!r} is not a Dask address (expected tcp://HOST:PORT): {exc}") from None
    try:
        identity = asyncio.run(_probe(normalized, timeout))
    except Exception as exc:  # noqa: BLE001  (OSError, timeouts, a non-Dask peer's garbage)
        raise InputError(
            f"cannot reach a Dask scheduler at {address} within {timeout:g} s: {type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(identity, dict) or identity.get("type") != "Scheduler":
        raise InputError(f"{address} answered, but it is not a Dask scheduler")
    return identity


def _path_problems(readable: list[str], writable: list[str]) -> list[str]:
    """Run on a worker: what of these paths it cannot read / write."""
    import os

    problems = [f"cannot read {p}" for p in readable if not os.access(p, os.R_OK)]
    problems += [f"cannot write {p}" for p in writable if not (os.path.isdir(p) and os.access(p, os.W_OK | os.X_OK))]
    return problems


class DaskExecutor:
    """Tasks on a dask.distributed cluster; same interface as `executor.LocalExecutor`.

    `workers` is the cluster's total worker threads when connected (what callers size batches by).
    """

    def __init__(
        self,
        scheduler_address: str,
        *,
        timeout: float | None = None,
        retries: int = DEFAULT_RETRIES,
        wait_for_workers_s: float = WORKER_WAIT_S,
        announce: bool = True,
    ):
        from distributed import Client

        self.address = scheduler_address
        self.retries = int(retries)
        timeout = connect_timeout() if timeout is None else timeout
        check_scheduler(scheduler_address, timeout)
        try:
            self.client = Client(scheduler_address, timeout=timeout, set_as_default=False)
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"cannot connect to the Dask scheduler at {scheduler_address}: {exc}") from None
        try:
            self.client.wait_for_workers(1, timeout=wait_for_workers_s)
        except Exception:  # noqa: BLE001  (TimeoutError)
            self.close()
            raise InputError(
                f"the Dask scheduler at {scheduler_address} has no workers "
                f"(waited {wait_for_workers_s:g} s); start some with `dask worker {scheduler_address}`"
            ) from None
        nthreads = self.client.nthreads()
        self.n_workers = len(nthreads)
        self.workers = max(1, sum(nthreads.values()))
        scheduler = self.client.scheduler
        # distributed types these as optional; both are set once Client() has connected
        assert scheduler is not None and scheduler.address is not None
        address: str = scheduler.address
        self._description = (
            f"dask {address} ({self.n_workers} worker{'s' if self.n_workers != 1 else ''}, {self.workers} threads)"
        )
        if announce and address not in _announced:
            _announced.add(address)
            print(
                f"vmafkit: dask scheduler {address}, dashboard {self.dashboard_link()}",
                file=sys.stderr,
                flush=True,
            )

    def dashboard_link(self) -> str:
        try:
            return self.client.dashboard_link or "not served"
        except Exception:  # noqa: BLE001  (no dashboard service on the scheduler)
            return "not served"

    def describe(self) -> str:
        return self._description

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R]]:
        """Yield `(item, result)` as tasks finish; a task's exception is re-raised here.

        Keys are ours (`vmafkit-<fn>-<run>-<i>`), tasks are impure (never deduplicated against
        another client's), and each result is released as soon as it is yielded. On an error or
        an interrupt the tasks not yet finished are cancelled.
        """
        from distributed import as_completed

        items = list(items)
        if not items:
            return
        run = uuid.uuid4().hex[:12]
        name = _task_name(fn)
        futures = {}
        for i, item in enumerate(items):
            future = self.client.submit(fn, item, key=f"vmafkit-{name}-{run}-{i}", pure=False, retries=self.retries)
            futures[future.key] = (future, item)
        pending = as_completed([f for f, _ in futures.values()], loop=self.client.loop)
        try:
            for future in pending:
                _, item = futures[future.key]
                result = future.result()  # an erred task stays in `futures`: cancelled below
                del futures[future.key]
                future.release()
                yield item, result
        finally:
            if futures:
                self.client.cancel([f for f, _ in futures.values()], force=True)
            pending.clear()
            futures.clear()

    def require_paths(self, readable: Iterable = (), writable: Iterable = ()) -> None:
        """Check on every worker that these absolute paths are there (one InputError otherwise)."""
        readable = [str(p) for p in readable]
        writable = [str(p) for p in writable]
        try:
            problems = self.client.run(_path_problems, readable, writable)
        except Exception as exc:  # noqa: BLE001  (a worker lost during the check)
            raise InputError(f"could not check the Dask workers' files at {self.address}: {exc}") from None
        for worker, missing in sorted(problems.items()):
            if missing:
                raise InputError(
                    f"Dask worker {worker} {missing[0]}"
                    + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                    + ": sources, the cell cache and ffmpeg must be at the same absolute path on every worker"
                )

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            try:
                client.close(timeout=CONNECT_TIMEOUT_S)
            except Exception:  # noqa: BLE001  (closing a client whose scheduler is gone)
                pass

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
