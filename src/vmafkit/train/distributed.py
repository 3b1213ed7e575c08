"""Ensemble members on a Dask cluster: groups of members, one batched fit per task.

`fit_members_distributed(members, recipe, scheduler=...)` splits the members into groups (by
default one per Dask worker thread, balanced by rows, so the batched trainer still amortises its
per-step overhead over many members), runs `ensemble.fit_members` on each group as one Dask task
(the arrays travel with the task, the trained weights come back as numpy state_dicts) and returns
the models in the original order. A member's result does not depend on which members share its
batch nor on the worker's thread count (`ensemble.py`; `test_member_independent_of_batch`,
`test_workers_do_not_change_results` with the full 5 x 9 member set), so the models are exactly
those of a local `fit_members(members, recipe)` on the same CPU model; `tests/e2e/test_dask.py`
checks it bit for bit.

A lost worker's group is rescheduled on another worker by Dask; a group is a pure function of its
inputs, so the retried group gives the same weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from vmafkit.errors import InputError, VmafkitError, WorkerError
from vmafkit.train.ensemble import MemberData, fit_members
from vmafkit.train.model import FRRegressor
from vmafkit.train.recipe import Recipe


def plan_groups(members: Sequence[MemberData], n_groups: int) -> list[list[int]]:
    """Member indices split into at most `n_groups` non-empty groups of about equal rows.

    Members that share one training array (LOSO: the seeds of one fold) go to the same group when
    there are at least `n_groups` such units, so each array travels to one worker once (the trainer
    also keeps one copy of it). Deterministic: largest unit first, each to the currently lightest
    group (ties: lowest group); inside a group, indices keep their original order.
    """
    n_groups = max(1, min(int(n_groups), len(members)))
    units: dict[tuple[int, int], list[int]] = {}
    for i, m in enumerate(members):
        units.setdefault((id(m.x), id(m.y)), []).append(i)
    blocks = list(units.values()) if len(units) >= n_groups else [[i] for i in range(len(members))]
    cost = [sum(len(members[i].y) for i in block) for block in blocks]
    groups: list[list[int]] = [[] for _ in range(n_groups)]
    load = [0] * n_groups
    for b in sorted(range(len(blocks)), key=lambda b: (-cost[b], blocks[b][0])):
        g = load.index(min(load))
        groups[g].extend(blocks[b])
        load[g] += cost[b]
    return [sorted(g) for g in groups if g]


def _fit_group(task: tuple) -> list[dict[str, np.ndarray]]:
    """Runs on a worker: fit one group; the weights as numpy state_dicts (cheap to ship back)."""
    _indices, members, recipe, device = task
    models = fit_members(list(members), recipe, device=device, progress=False)
    return [{k: v.detach().cpu().numpy().copy() for k, v in m.state_dict().items()} for m in models]


def _to_model(state: dict[str, np.ndarray], recipe: Recipe) -> FRRegressor:
    width = int(np.shape(state["net.0.weight"])[1])  # the first Linear's in_features
    model = FRRegressor(hidden=recipe.hidden, dropout=recipe.dropout, in_features=width)
    model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()})
    return model.eval()


def fit_members_distributed(
    members: Sequence[MemberData],
    recipe: Recipe = Recipe(),
    *,
    scheduler,
    device: str = "cpu",
    groups: int | None = None,
    progress: bool = False,
) -> list[FRRegressor]:
    """Train the members on a Dask cluster; same result and order as `fit_members(members, recipe)`.

    `scheduler`: a `tcp://HOST:PORT` address or an open `DaskExecutor` (left open).
    `groups`: how many tasks (default: one per worker thread of the cluster). `device` is resolved
    on the worker ("auto" picks that worker's GPU when it has one).

    The split is the one `fit_members(..., workers=groups)` uses for its local shards.
    """
    from vmafkit.parallel.dask_executor import DaskExecutor
    from vmafkit.progress import make_progress

    members = list(members)
    if not members:
        raise InputError("no ensemble members to train")
    owned = not isinstance(scheduler, DaskExecutor)
    executor = DaskExecutor(scheduler) if owned else scheduler
    try:
        plan = plan_groups(members, groups or executor.workers)
        tasks = [(tuple(idx), [members[i] for i in idx], recipe, device) for idx in plan]
        states: list[dict | None] = [None] * len(members)
        bar = make_progress(progress)
        with bar:
            task_id = bar.add_task(f"train on {executor.describe()}", total=len(members), note=f"{len(plan)} groups")
            try:
                for (indices, *_), group_states in executor.map_unordered(_fit_group, tasks):
                    for i, state in zip(indices, group_states):
                        states[i] = state
                    bar.update(task_id, advance=len(indices))
            except VmafkitError:
                raise
            except Exception as exc:  # a task that raised on a worker, or a worker lost too often (KilledWorker)
                raise WorkerError(f"training on {executor.describe()} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        if owned:
            executor.close()
    missing = [i for i, s in enumerate(states) if s is None]
    if missing:  # cannot happen unless a task returned too few states
        raise WorkerError(f"training on the Dask cluster: members {missing} came back without weights")
    return [_to_model(state, recipe) for state in states]  # type: ignore[arg-type]
