"""Train many FRRegressor members as one batched computation.

Why hand-written: one member's optimisation step (batch 32, a 20->64->64->1 MLP) is a few
hundred thousand multiply-adds, so a plain `nn.Module` + autograd + `torch.optim.Adam` loop spends
nearly all its time in Python and dispatcher overhead. Here the weights of all members are stacked
(`W1 [M,20,H]`, `W2 [M,H,H]`, ...), one step runs the forward pass, the hand-derived backward pass
(`bmm` / `baddbmm`, aten's fused `gelu_backward`) and a fused Adam step for every member at
once, with no autograd graph. `test_train_ensemble.py` checks these gradients against autograd.
On the CPU the step is `_FusedCpuStep`: the five matrix products stay batched MKL calls and the
elementwise rest (GELU and its derivative, dropout, the output head, the loss gradient, the bias
sums) runs in three fused numba kernels (`kernels.py`, checked in `test_train_kernels.py`), and
Adam is the numba `kernels.adam` over the flat parameter buffers; on CUDA it is `_step_grads`, the
same mathematics as torch ops, and torch's fused Adam kernel.

Semantics, per member (the same as `bench/reference_trainer.py`, the plain reference):

* Initial weights: `torch.manual_seed(seed); FRRegressor(hidden, dropout)` (PyTorch's default init),
  so a member starts from exactly the weights the reference starts from.
* Each epoch: a fresh permutation of the member's rows from its own `torch.Generator` seeded with
  `seed`; batches of `batch_size` in that order; the last batch of an epoch is the partial
  remainder (DataLoader `shuffle=True, drop_last=False`). Loss: MSE, mean over the batch's rows.
* Dropout: inverted dropout, each unit kept with probability 1 - p and scaled by 1 / (1 - p). The
  masks come from the member's own generator: on CPU a numpy SFC64 stream seeded with
  `SeedSequence([seed, 0x64726F70])`, 16 random bits per unit, a unit dropped when the bits are
  below round(p * 65536) (p = 0.1 -> 6554 / 65536 = 0.100006; the fused kernels compare the raw
  draws themselves); on CUDA a `torch.Generator` on the
  device. Masks are drawn per step of the member's own schedule only, so the stream a member
  consumes never depends on the other members.
* Adam (L2 weight decay added to the gradient, as `torch.optim.Adam(weight_decay=...)`), with the
  member's own step count for bias correction. CPU: `kernels.adam`, torch's float32 arithmetic
  except that exp_avg's lerp rounds twice where torch's SIMD loop rounds once (an FMA).

Members may have different row counts: member m runs ceil(n_m / batch_size) steps per epoch. The
members are ordered by that count (descending) so that at step s of an epoch the members still
running are a prefix of the stack; the others are simply not part of that step's tensors (no
update, no Adam step). The result for one member therefore does not depend on which other members
share the batch (`test_member_independent_of_batch`), on the CPU bit for bit: a member's values
must also go through the same instructions whatever its index in the stack and however many
members the stack holds. The batched matrix products compute each member's matrices alike; the
numba kernels never run a loop across two members (the activation works per member); and Adam is
`kernels.adam`, member by member, because torch's fused CPU Adam runs a tensor in SIMD chunks plus
a scalar remainder loop that rounds differently, so the stacked output biases (one float per
member) of the last members of a group (its size modulo the SIMD width) got other bits than the
rest: a member's weights then depended on its shard, i.e. on `--workers` (issue 11: up to 1.5e-5
in predictions).

`workers > 1` (CPU) splits the members into shards trained in parallel, one intra-op thread each
(forked processes on Linux, threads elsewhere): for tiny matrices this scales better than
intra-op parallelism, and it degrades gracefully on a busy machine, where OpenMP's spinning
threads collapse. Because of the independence above the weights are bit for bit those of one
worker, whatever the number of intra-op threads (`test_workers_do_not_change_results`: the full
5 seeds x 9 folds member set with 1, 2 and 3 workers).
"""

from __future__ import annotations

import math
import multiprocessing as mp
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from vmafkit.errors import InputError, WorkerError
from vmafkit.train.features import INPUT_WIDTH, NUM_CODECS
from vmafkit.train.model import FRRegressor
from vmafkit.train.recipe import Recipe

DROPOUT_STREAM = 0x64726F70  # "drop": the SeedSequence salt of the CPU dropout stream
_PARAM_NAMES = ("W1", "b1", "W2", "b2", "W3", "b3")
_CHUNK_STEPS = 64  # steps whose batches and dropout masks are gathered at once
_ALIGN_FLOATS = 16  # each parameter block of the flat buffers starts on a 64-byte line


@dataclass
class MemberData:
    """One member's training data: `x` [n, 20] float32 (standardised canonical-6 + codec block),
    `y` [n] (the VMAF target) and the member's seed."""

    x: np.ndarray
    y: np.ndarray
    seed: int


ProgressFn = Callable[[int, int], None]  # (epochs done, epochs total)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cuda' without a GPU is an InputError."""
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {name}: no CUDA device is available (torch {torch.__version__})")
    try:
        return torch.device(name)
    except RuntimeError:
        raise InputError(f"--device {name}: not a device (use auto, cpu or cuda)") from None


def initial_weights(seed: int, recipe: Recipe, width: int = INPUT_WIDTH) -> FRRegressor:
    """The member's initial module: PyTorch's default init under `torch.manual_seed(seed)`, for
    inputs `width` wide (20 for the canonical-6, 28 for VMAF v1's features)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return FRRegressor(hidden=recipe.hidden, dropout=recipe.dropout, in_features=width)


def member_width(members: Sequence[MemberData]) -> int:
    """The members' common input width: some features, then the 14-wide codec block."""
    if not members:
        raise InputError("no ensemble members to train")
    shape = np.shape(members[0].x)
    width = int(shape[1]) if len(shape) == 2 else INPUT_WIDTH
    return width if width > NUM_CODECS else INPUT_WIDTH


def _check_members(members: Sequence[MemberData]) -> int:
    """The members' input width, after checking every member's x and y against it."""
    width = member_width(members)
    for i, m in enumerate(members):
        x = np.asarray(m.x)
        y = np.asarray(m.y)
        if x.ndim != 2 or x.shape[1] != width:
            raise InputError(f"member {i}: x must be [n, {width}], got {list(x.shape)}")
        if y.shape != (x.shape[0],):
            raise InputError(f"member {i}: y must be [{x.shape[0]}], got {list(y.shape)}")
        if x.shape[0] < 1:
            raise InputError(f"member {i}: no training rows")
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise InputError(f"member {i}: x or y holds NaN or infinite values")
    return width


def fit_members(
    members: list[MemberData],
    recipe: Recipe = Recipe(),
    device: str = "cpu",
    progress: bool | ProgressFn = False,
    *,
    workers: int = 1,
) -> list[FRRegressor]:
    """Train every member (one batched computation) and return eval-mode FRRegressors on CPU.

    `progress`: False, True (a rich progress bar over epochs), or a callable
    `(epochs_done, epochs_total)` called after each epoch. `workers` (CPU only): parallel shards.
    """
    _check_members(members)
    dev = resolve_device(device)
    callback, bar = _progress_callback(progress, len(members), recipe.epochs)
    try:
        workers = max(1, min(int(workers), len(members)))
        if dev.type != "cpu" or workers == 1:
            states = _Trainer(members, recipe, dev).run(callback)
        else:
            states = _fit_sharded(members, recipe, dev, workers, callback)
    finally:
        if bar is not None:
            bar.stop()
    return [_to_module(state, recipe) for state in states]


def _shards(members, workers: int) -> list[list[int]]:
    # Balanced by total work (rows); each member keeps its own streams, so any split is exact.
    order = sorted(range(len(members)), key=lambda i: -len(members[i].y))
    shards: list[list[int]] = [[] for _ in range(workers)]
    load = [0] * workers
    for i in order:
        w = load.index(min(load))
        shards[w].append(i)
        load[w] += len(members[i].y)
    return [s for s in shards if s]


def _fit_sharded(members, recipe, dev, workers, callback):
    """Shard 0 trains in this process, the others in forked child processes (Linux) or threads.

    Processes, because the step is dispatch-bound: Python threads would serialise on the GIL.
    One intra-op thread per shard. Initial weights are drawn here, before any fork or thread, as
    they come from torch's global RNG."""
    shards = _shards(members, workers)
    inits = [initial_weights(int(m.seed), recipe, member_width(members)) for m in members]
    if dev.type == "cpu":
        from vmafkit.train import kernels

        kernels.warm_up()  # compiled (or loaded) once here, not in every forked child
    use_fork = sys.platform.startswith("linux") and "fork" in mp.get_all_start_methods()
    results: dict[int, dict] = {}
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        if use_fork:
            ctx = mp.get_context("fork")
            children = []
            for shard in shards[1:]:
                recv, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(
                    target=_child_shard,
                    args=(send, [members[i] for i in shard], recipe, dev, [inits[i] for i in shard]),
                    daemon=True,
                )
                proc.start()
                send.close()
                children.append((shard, proc, recv))
            try:
                trainer = _Trainer([members[i] for i in shards[0]], recipe, dev, [inits[i] for i in shards[0]])
                for i, state in zip(shards[0], trainer.run(callback)):
                    results[i] = state
                for shard, proc, recv in children:
                    try:
                        status, payload = recv.recv()
                    except EOFError:  # it died before sending anything (killed, out of memory)
                        proc.join()
                        status, payload = "error", _how_it_ended(proc.exitcode)
                    proc.join()
                    if status != "ok":
                        raise WorkerError(
                            f"training worker (pid {proc.pid}, {len(shard)} of {len(members)} members) failed: "
                            f"{payload}"
                        )
                    for i, state in zip(shard, payload):
                        results[i] = {k: torch.from_numpy(v) for k, v in state.items()}
            finally:
                for _, proc, _ in children:
                    if proc.is_alive():
                        proc.terminate()
                        proc.join()
        else:
            errors: list[BaseException] = []

            def work(w: int) -> None:
                try:
                    trainer = _Trainer([members[i] for i in shards[w]], recipe, dev, [inits[i] for i in shards[w]])
                    for i, state in zip(shards[w], trainer.run(callback if w == 0 else None)):
                        results[i] = state
                except BaseException as exc:  # re-raised in the caller's thread
                    errors.append(exc)

            threads = [threading.Thread(target=work, args=(w,), daemon=True) for w in range(len(shards))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if errors:
                raise errors[0]
    finally:
        torch.set_num_threads(previous)
    return [results[i] for i in range(len(members))]


def _how_it_ended(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"the process was killed by {name}"
    return f"the process exited with code {exitcode}"


def _die_with_parent() -> None:
    """Linux: SIGTERM this process when its parent dies (a killed `vmafkit train` leaves no orphan)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG = 1
    except Exception:  # not glibc: the parent's finally-block still terminates us on normal errors
        pass


def _child_shard(conn, members, recipe, dev, inits) -> None:
    _die_with_parent()
    try:
        torch.set_num_threads(1)
        states = _Trainer(members, recipe, dev, inits).run(None)
        conn.send(("ok", [{k: v.numpy() for k, v in st.items()} for st in states]))
    except BaseException as exc:  # reported to the parent, which raises
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


class _Trainer:
    """The batched loop for one set of members on one device."""

    def __init__(
        self,
        members: Sequence[MemberData],
        recipe: Recipe,
        dev: torch.device,
        inits: Sequence[FRRegressor] | None = None,
        *,
        fused: bool | None = None,
    ):
        self.recipe = recipe
        self.dev = dev
        # CPU: the fused numba kernels (kernels.py); CUDA: the plain torch step (`_step_grads`).
        self.fused = dev.type == "cpu" if fused is None else bool(fused)
        if self.fused and dev.type != "cpu":
            raise InputError(f"the fused kernels run on the CPU only, not on {dev}")
        self.B = int(recipe.batch_size)
        self.H = int(recipe.hidden)
        self.W = member_width(members)
        if self.B < 1 or recipe.epochs < 0:
            raise InputError(f"batch size must be >= 1 and epochs >= 0 (got {self.B}, {recipe.epochs})")
        self.p = float(recipe.dropout)
        n = [int(len(m.y)) for m in members]
        steps = [math.ceil(k / self.B) for k in n]
        # Members ordered by steps per epoch, descending: the still-running members are a prefix.
        self.order = sorted(range(len(members)), key=lambda i: (-steps[i], i))
        self.n = [n[i] for i in self.order]
        self.steps = [steps[i] for i in self.order]
        self.seeds = [int(members[i].seed) for i in self.order]
        self.M = len(members)
        self.S = max(self.steps)
        self._data([members[i] for i in self.order])
        if inits is None:
            inits = [initial_weights(int(m.seed), recipe, self.W) for m in members]
        self._params([inits[i] for i in self.order])
        self._rngs()
        self._buffers()

    # -- set-up ---------------------------------------------------------------------------------
    def _data(self, members: Sequence[MemberData]) -> None:
        # Members that share one x array (LOSO: the seeds of one fold) share its copy on the device.
        xs, ys, offsets, seen = [], [], [], {}
        total = 0
        for m in members:
            key = (id(m.x), id(m.y))
            if key not in seen:
                seen[key] = total
                xs.append(np.ascontiguousarray(m.x, dtype=np.float32))
                ys.append(np.ascontiguousarray(m.y, dtype=np.float32))
                total += len(m.y)
            offsets.append(seen[key])
        self.X = torch.from_numpy(np.concatenate(xs)).to(self.dev)
        self.Y = torch.from_numpy(np.concatenate(ys)).to(self.dev)
        self.offsets = offsets
        # Loss weights per (step, member, row): 2/r for the r real rows of a batch (d MSE / d out).
        w = torch.zeros(self.S, self.M, self.B, dtype=torch.float32)
        for j, (n, s) in enumerate(zip(self.n, self.steps)):
            w[:s, j, :] = 2.0 / self.B
            last = n - (s - 1) * self.B
            w[s - 1, j, :] = 0.0
            w[s - 1, j, :last] = 2.0 / last
        self.loss_w = w.to(self.dev)
        self.active = [sum(1 for s in self.steps if s > t) for t in range(self.S)]
        # Groups of members with the same steps per epoch share Adam step counts.
        self.groups: list[tuple[int, int]] = []
        start = 0
        for j in range(1, self.M + 1):
            if j == self.M or self.steps[j] != self.steps[start]:
                self.groups.append((start, j))
                start = j

    def _params(self, mods: Sequence[FRRegressor]) -> None:
        """Parameters, gradients and Adam's two moments: one flat buffer each, in the same layout.

        Block q of a buffer holds `_PARAM_NAMES[q]` of every member, [M, *shape] contiguous, and
        starts on a 64-byte line; `self.params[q]` etc. are views of it. The fused CPU path runs
        Adam (`kernels.adam`) over the flat buffers, one call per step for all six blocks."""
        lin = [[layer for layer in m.net if isinstance(layer, torch.nn.Linear)] for m in mods]
        getters = (
            lambda ls: ls[0].weight.t(),
            lambda ls: ls[0].bias[None, :],
            lambda ls: ls[1].weight.t(),
            lambda ls: ls[1].bias[None, :],
            lambda ls: ls[2].weight.t(),
            lambda ls: ls[2].bias[None, :],
        )
        H = self.H
        shapes = ((self.W, H), (1, H), (H, H), (1, H), (H, 1), (1, 1))
        sizes = [a * b for a, b in shapes]
        offsets, total = [], 0
        for n in sizes:
            offsets.append(total)
            total += -(-self.M * n // _ALIGN_FLOATS) * _ALIGN_FLOATS
        self.block_offsets = np.array(offsets, dtype=np.int64)
        self.block_sizes = np.array(sizes, dtype=np.int64)
        self.flat = [torch.zeros(total, dtype=torch.float32, device=self.dev) for _ in range(4)]

        def views(flat: torch.Tensor) -> list[torch.Tensor]:
            return [flat[o : o + self.M * n].view(self.M, *shape) for o, n, shape in zip(offsets, sizes, shapes)]

        self.params, self.grads, self.exp_avg, self.exp_avg_sq = (views(f) for f in self.flat)
        with torch.no_grad():
            for param, get in zip(self.params, getters):
                param.copy_(torch.stack([get(layers) for layers in lin]))
        self.W1, self.b1, self.W2, self.b2, self.W3, self.b3 = self.params
        self.k_views = {k: _member_views(self.params, self.grads, k) for k in set(self.active)}
        if self.fused:
            # Per member step counts for `kernels.adam` (the members still running are a prefix).
            self.adam_steps = np.zeros(self.M, dtype=np.int64)
            self.flat_np = [f.numpy() for f in self.flat]
            return
        # torch's fused Adam (CUDA, and the plain CPU step): one step count per group (0-dim
        # views of one vector: one add_ per step).
        self.step_vec = torch.zeros(len(self.groups), dtype=torch.float32, device=self.dev)
        self.group_steps = [self.step_vec[g] for g in range(len(self.groups))]
        # Adam's tensor lists for "the first g groups" (prefix), built once.
        self.adam_lists: list[tuple[list[torch.Tensor], ...]] = []
        for g in range(1, len(self.groups) + 1):
            lists: tuple[list[torch.Tensor], ...] = ([], [], [], [], [])
            for gi in range(g):
                a, b = self.groups[gi]
                for t in range(len(self.params)):
                    lists[0].append(self.params[t][a:b])
                    lists[1].append(self.grads[t][a:b])
                    lists[2].append(self.exp_avg[t][a:b])
                    lists[3].append(self.exp_avg_sq[t][a:b])
                    lists[4].append(self.group_steps[gi])
            self.adam_lists.append((lists[0], lists[1], lists[2], lists[3], [], lists[4]))
        self.groups_active = [sum(1 for a, b in self.groups if b <= k) for k in self.active]
        self.step_views = {g: self.step_vec[:g] for g in set(self.groups_active)}

    def _rngs(self) -> None:
        self.shuffle_gen = [torch.Generator().manual_seed(s) for s in self.seeds]
        if self.dev.type == "cpu":
            self.drop_bitgen = [np.random.SFC64(np.random.SeedSequence([s, DROPOUT_STREAM])) for s in self.seeds]
        else:
            self.drop_gen = [torch.Generator(device=self.dev).manual_seed(s ^ DROPOUT_STREAM) for s in self.seeds]
        self.drop_threshold = int(round(self.p * 65536))
        self.keep_scale = 1.0 / (1.0 - self.p) if self.p < 1 else 0.0

    def _buffers(self) -> None:
        """The chunk buffers a step reads (rows, targets, dropout draws or multipliers) and, on the
        fused path, its step object; reused across chunks."""
        C = self.C = min(_CHUNK_STEPS, self.S)
        self._view_cache: dict[tuple[int, int], tuple] = {}
        self.w_views = [self.loss_w[s, :k].unsqueeze(-1) for s, k in enumerate(self.active)]
        # Reused, not reallocated per chunk: fresh large allocations cost page faults.
        self.keep_scale_f32 = np.float32(self.keep_scale)
        self.x_buf = torch.empty(C * self.M * self.B, self.W, dtype=torch.float32, device=self.dev)
        self.y_buf = torch.empty(C * self.M * self.B, dtype=torch.float32, device=self.dev)
        if self.fused:
            # Raw 16-bit draws: the kernels compare them with the threshold themselves.
            self.bits_np = np.zeros((C, 2, self.M, self.B, self.H), dtype=np.uint16)
            self.fused_step = _FusedCpuStep(
                self.params,
                self.grads,
                self.B,
                threshold=self.drop_threshold if self.p > 0 else 0,
                scale=self.keep_scale if self.p > 0 else 1.0,
            )
            self.y_np = self.y_buf.numpy().reshape(C, self.M, self.B)
            self.w_np_views = [self.loss_w.numpy()[s, :k] for s, k in enumerate(self.active)]
        elif self.dev.type == "cpu":
            self.mask_np = np.zeros((C, 2, self.M, self.B, self.H), dtype=np.float32)
            self.mask_buf = torch.from_numpy(self.mask_np)  # shares memory with mask_np
        else:
            self.mask_buf = torch.zeros(C, 2, self.M, self.B, self.H, dtype=torch.float32, device=self.dev)

    # -- per epoch ------------------------------------------------------------------------------
    def _data_views(self, t: int, k: int) -> tuple:
        """Views (x, x^T, y, m1, m2) of step t of the chunk buffers for the first k members (cached).

        Fused: y is a numpy [k, B] view and m1, m2 are the [k, B, H] 16-bit draws."""
        key = (t, k)
        views = self._view_cache.get(key)
        if views is None:
            C, M, B = self.C, self.M, self.B
            x = self.x_buf.view(C, M, B, self.W)[t, :k]
            y: torch.Tensor | np.ndarray
            m1: torch.Tensor | np.ndarray | None
            m2: torch.Tensor | np.ndarray | None
            if self.fused:
                y, m1, m2 = self.y_np[t, :k], self.bits_np[t, 0, :k], self.bits_np[t, 1, :k]
            else:
                y = self.y_buf.view(C, M, B, 1)[t, :k]
                m1 = self.mask_buf[t, 0, :k] if self.p > 0 else None
                m2 = self.mask_buf[t, 1, :k] if self.p > 0 else None
            views = self._view_cache[key] = (x, x.transpose(1, 2), y, m1, m2)
        return views

    def _epoch_index(self) -> torch.Tensor:
        idx = torch.empty(self.S, self.M, self.B, dtype=torch.int64)
        flat = idx.view(self.S, self.M * self.B)
        for j in range(self.M):
            padded = torch.full((self.S * self.B,), self.offsets[j], dtype=torch.int64)
            torch.add(
                torch.randperm(self.n[j], generator=self.shuffle_gen[j]), self.offsets[j], out=padded[: self.n[j]]
            )
            flat[:, j * self.B : (j + 1) * self.B] = padded.view(self.S, self.B)
        return idx.to(self.dev)

    def _masks(self, c0: int, c1: int) -> torch.Tensor | np.ndarray | None:
        """[C, 2, M, B, H] dropout multipliers (0 = dropped, 1/(1-p) = kept) for steps c0..c1;
        fused: the raw 16-bit draws (a unit is kept when its draw is >= the threshold).

        Slots of members that are finished at a step are left stale: they are never read."""
        if self.p <= 0:
            return None
        C, B, H = c1 - c0, self.B, self.H
        per_step = 2 * B * H
        for j in range(self.M):
            a = min(max(self.steps[j] - c0, 0), C)
            if a == 0:
                break  # members are ordered by steps: the rest are finished too
            if self.dev.type == "cpu":
                count = a * per_step
                bits = self.drop_bitgen[j].random_raw((count + 3) // 4).view(np.uint16)[:count].reshape(a, 2, B, H)
                if self.fused:
                    self.bits_np[:a, :, j] = bits
                    continue
                np.multiply(bits >= self.drop_threshold, self.keep_scale_f32, out=self.mask_np[:a, :, j])
            else:
                u = torch.rand((a, 2, B, H), generator=self.drop_gen[j], device=self.dev)
                torch.mul(u >= self.p, self.keep_scale, out=self.mask_buf[:a, :, j])
        return self.bits_np[:C] if self.fused else self.mask_buf[:C]

    # -- the step ---------------------------------------------------------------------------------
    def run(self, callback: ProgressFn | None = None) -> list[dict[str, torch.Tensor]]:
        r = self.recipe
        fused_adam = torch._fused_adam_
        if self.fused:
            from vmafkit.train.kernels import adam

            lr, weight_decay = float(r.lr), float(r.weight_decay)
        with torch.no_grad():
            for epoch in range(r.epochs):
                idx = self._epoch_index()
                for c0 in range(0, self.S, _CHUNK_STEPS):
                    c1 = min(c0 + _CHUNK_STEPS, self.S)
                    C = c1 - c0
                    ic = idx[c0:c1].reshape(-1)
                    rows = ic.shape[0]
                    torch.index_select(self.X, 0, ic, out=self.x_buf[:rows])
                    torch.index_select(self.Y, 0, ic, out=self.y_buf[:rows])
                    self._masks(c0, c1)
                    for t in range(C):
                        step = c0 + t
                        k = self.active[step]
                        x, xT, y, m1, m2 = self._data_views(t, k)
                        if self.fused:
                            self.fused_step(k, x, xT, y, self.w_np_views[step], m1, m2)
                            adam(
                                *self.flat_np,
                                self.block_offsets,
                                self.block_sizes,
                                k,
                                self.adam_steps,
                                lr,
                                0.9,
                                0.999,
                                weight_decay,
                                1e-8,
                            )
                            continue
                        _step_grads(self.k_views[k], x, xT, y, self.w_views[step], m1, m2)
                        g_act = self.groups_active[step]
                        self.step_views[g_act].add_(1.0)
                        fused_adam(
                            *self.adam_lists[g_act - 1],
                            lr=r.lr,
                            beta1=0.9,
                            beta2=0.999,
                            weight_decay=r.weight_decay,
                            eps=1e-8,
                            amsgrad=False,
                            maximize=False,
                        )
                if callback is not None:
                    callback(epoch + 1, r.epochs)
        states: list[dict[str, torch.Tensor]] = [None] * self.M  # type: ignore[list-item]
        for j, original in enumerate(self.order):
            states[original] = {name: p[j].detach().to("cpu").clone() for name, p in zip(_PARAM_NAMES, self.params)}
        return states


def batched_grads(params, x, y, w, m1, m2, grads, k: int) -> None:
    """Forward + hand-derived backward of k stacked members; writes d loss / d param into grads[:k].

    x [k,B,20], y [k,B,1], w [k,B,1] = 2/r for the r real rows of a member's batch (0 for padding),
    so the gradient is that of the batch-mean MSE; m1, m2 [k,B,H]: dropout multipliers or None.
    """
    _step_grads(_member_views(params, grads, k), x, x.transpose(1, 2), y, w, m1, m2)


def _member_views(params, grads, k: int) -> tuple:
    """The first k members' parameter and gradient views the step needs (built once per k)."""
    W1, b1, W2, b2, W3, b3 = (p[:k] for p in params)
    gW1, gb1, gW2, gb2, gW3, gb3 = (g[:k] for g in grads)
    return (W1, b1, W2, b2, W3.transpose(1, 2), b3, W2.transpose(1, 2), gW1, gb1, gW2, gb2, gW3.transpose(1, 2), gb3)


_gelu = torch.nn.functional.gelu
_gelu_bwd = torch.ops.aten.gelu_backward


def _step_grads(views, x, xT, y, w, m1, m2) -> None:
    # Every view is prepared outside: at ~45 tiny tensors per op the step is dispatch-bound.
    W1, b1, W2, b2, w3, b3, W2T, gW1, gb1, gW2, gb2, gW3T, gb3 = views
    z1 = torch.baddbmm(b1, x, W1)
    d1 = _gelu(z1)
    if m1 is not None:
        d1.mul_(m1)
    z2 = torch.baddbmm(b2, d1, W2)
    d2 = _gelu(z2)
    if m2 is not None:
        d2.mul_(m2)
    # The 64 -> 1 layer as multiply + sum, not bmm: a batch of matrix-vector products takes a
    # different kernel for k == 1 than for k > 1, which would make a member's rounding depend on
    # how many members share the step.
    g = torch.sum(d2 * w3, -1, keepdim=True).add_(b3).sub_(y).mul_(w)  # d loss / d out, [k,B,1]
    torch.sum(g, 1, keepdim=True, out=gb3)
    torch.sum(d2.mul_(g), 1, keepdim=True, out=gW3T)  # d2 is not needed after this
    gd2 = torch.mul(g, w3)  # [k,B,H]
    if m2 is not None:
        gd2.mul_(m2)
    gz2 = _gelu_bwd(gd2, z2)
    torch.bmm(d1.transpose(1, 2), gz2, out=gW2)
    torch.sum(gz2, 1, keepdim=True, out=gb2)
    gd1 = torch.bmm(gz2, W2T)
    if m1 is not None:
        gd1.mul_(m1)
    gz1 = _gelu_bwd(gd1, z1)
    torch.bmm(xT, gz1, out=gW1)
    torch.sum(gz1, 1, keepdim=True, out=gb1)


class _FusedCpuStep:
    """The CPU step: the five matrix products as batched MKL calls (torch), everything else in
    three fused numba kernels (`kernels.py`). Writes d loss / d param into `grads`, like
    `_step_grads`, for the first k members."""

    def __init__(self, params, grads, batch_size: int, *, threshold: int, scale: float):
        from vmafkit.train import kernels

        kernels.warm_up()
        self.kernels = kernels
        self.params, self.grads = params, grads
        M, H = params[0].shape[0], params[0].shape[2]
        # Activations and their gradients, [M, B, H] each; a step uses the first k members.
        self.buf = {
            name: torch.zeros(M, batch_size, H, dtype=torch.float32)
            for name in ("z1", "a1", "s1", "z2", "a2", "s2", "gz2", "gd1")
        }
        self.threshold = int(threshold)
        self.scale = np.float32(scale)
        self._views: dict[int, tuple] = {}

    def views(self, k: int) -> tuple:
        """(torch views, numpy views) of the first k members, built once per k."""
        cached = self._views.get(k)
        if cached is None:
            W1, b1, W2, b2, W3, b3 = (p[:k] for p in self.params)
            gW1, gb1, gW2, gb2, gW3, gb3 = (g[:k] for g in self.grads)
            buf = {name: t[:k] for name, t in self.buf.items()}
            tv = (
                W1,
                b1,
                W2,
                b2,
                W2.transpose(1, 2),
                gW1,
                gW2,
                buf["z1"],
                buf["a1"],
                buf["a1"].transpose(1, 2),
                buf["z2"],
                buf["gz2"],
                buf["gd1"],
            )
            npv = {name: t.numpy() for name, t in buf.items()}
            rows = {name: a.reshape(k, -1) for name, a in npv.items()}  # [k, B * H]: one member a row
            nv = (
                rows["z1"],
                rows["a1"],
                rows["s1"],
                npv["z2"],
                W3.numpy().reshape(k, -1),
                b3.numpy().reshape(k),
                npv["a2"],
                npv["s2"],
                gW3.numpy().reshape(k, -1),
                gb3.numpy().reshape(k),
                npv["gz2"],
                gb2.numpy().reshape(k, -1),
                npv["gd1"],
                npv["s1"],
                gb1.numpy().reshape(k, -1),
            )
            cached = self._views[k] = (tv, nv)
        return cached

    def __call__(self, k: int, x, xT, y: np.ndarray, w: np.ndarray, bits1: np.ndarray, bits2: np.ndarray) -> None:
        """x [k,B,20] (torch), y and w [k,B] (numpy), bits1 and bits2 [k,B,H] uint16 draws."""
        (W1, b1, W2, b2, W2T, gW1, gW2, z1, a1, a1T, z2, gz2, gd1), nv = self.views(k)
        z1r, a1r, s1r, z2n, w3, b3, a2n, s2n, gw3, gb3, gz2n, gb2, gd1n, s1n, gb1 = nv
        kern, thr, scale = self.kernels, self.threshold, self.scale
        torch.baddbmm(b1, x, W1, out=z1)
        kern.activate_rows(z1r, bits1.reshape(k, -1), thr, scale, a1r, s1r)
        torch.baddbmm(b2, a1, W2, out=z2)
        kern.output_grads(z2n, bits2, thr, scale, w3, b3, y, w, a2n, s2n, gw3, gb3, gz2n, gb2)
        torch.bmm(a1T, gz2, out=gW2)
        torch.bmm(gz2, W2T, out=gd1)
        kern.hidden_grads(gd1n, s1n, gb1)
        torch.bmm(xT, gd1, out=gW1)


def _to_module(state: dict[str, torch.Tensor], recipe: Recipe) -> FRRegressor:
    model = FRRegressor(hidden=recipe.hidden, dropout=recipe.dropout, in_features=int(state["W1"].shape[0]))
    layers = [layer for layer in model.net if isinstance(layer, torch.nn.Linear)]
    with torch.no_grad():
        for layer, (w, b) in zip(layers, (("W1", "b1"), ("W2", "b2"), ("W3", "b3"))):
            layer.weight.copy_(state[w].t())
            layer.bias.copy_(state[b].reshape(-1))
    return model.eval()


def predict_members(models: Sequence[FRRegressor], x: np.ndarray, *, chunk: int = 65536) -> np.ndarray:
    """[M, n] float32 predictions of each model (eval mode, CPU) on the same inputs x [n, 20]."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    out = np.empty((len(models), x.shape[0]), dtype=np.float32)
    with torch.no_grad():
        for i, model in enumerate(models):
            out[i] = predict_one(model, x, chunk=chunk)
    return out


def predict_one(model: FRRegressor, x: np.ndarray, *, chunk: int = 65536) -> np.ndarray:
    """[n] float32 predictions of one model in eval mode (no dropout)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    parts = []
    with torch.no_grad():
        for a in range(0, x.shape[0], chunk):
            parts.append(model(torch.from_numpy(x[a : a + chunk]).to(device)).to("cpu").numpy())
    model.train(was_training)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def _progress_callback(progress, n_members: int, epochs: int):
    if callable(progress) and not isinstance(progress, bool):
        return progress, None
    if not progress:
        return None, None
    from vmafkit.progress import make_progress

    bar = make_progress(True)
    task = bar.add_task(f"train {n_members} members", total=epochs, note="epochs, all members at once")
    bar.start()

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done)

    return update, bar
