"""Where independent tasks run: a local pool by default, the same interface for a cluster.

`Executor.map_unordered(fn, items)` yields `(item, result)` pairs as tasks finish, so callers
can checkpoint each result the moment it exists. A task's exception is re-raised in the caller.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    workers: int

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R]]: ...

    def describe(self) -> str: ...

    def require_paths(self, readable: Iterable, writable: Iterable) -> None: ...

    def close(self) -> None: ...


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class LocalExecutor:
    """Threads: the heavy work runs in ffmpeg child processes, so Python threads suffice and
    nothing has to be pickled. `workers=1` runs inline (simplest tracebacks)."""

    def __init__(self, workers: int | None = None):
        self.workers = max(1, workers or usable_cores())

    def describe(self) -> str:
        return f"local ({self.workers} worker{'s' if self.workers != 1 else ''})"

    def require_paths(self, readable: Iterable, writable: Iterable) -> None:
        """Local tasks see this machine's files, which the caller has already checked."""

    def close(self) -> None:
        """Nothing to release: the pool lives only inside map_unordered."""

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[tuple[T, R]]:
        items = list(items)
        if self.workers == 1:
            for item in items:
                yield item, fn(item)
            return
        pool = cf.ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="vmafkit")
        try:
            futures = {pool.submit(fn, item): item for item in items}
            for future in cf.as_completed(futures):
                yield futures[future], future.result()
        finally:
            # On error or interrupt: drop what has not started; running ffmpeg children finish
            # their cell (each is written atomically) or die with the process.
            pool.shutdown(wait=False, cancel_futures=True)


def make_executor(workers: int | None = None, scheduler: str | None = None) -> Executor:
    if scheduler:
        from vmafkit.parallel.dask_executor import DaskExecutor  # optional: only when a cluster is asked for

        return DaskExecutor(scheduler)
    return LocalExecutor(workers)
