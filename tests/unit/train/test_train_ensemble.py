"""The batched ensemble trainer: hand-written gradients vs autograd, equivalence with a plain
nn.Module + torch.optim.Adam loop (no dropout), member independence, workers, CUDA-free checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vmafkit.errors import InputError
from vmafkit.train.ensemble import (
    MemberData,
    _Trainer,
    batched_grads,
    fit_members,
    initial_weights,
    predict_members,
    resolve_device,
)
from vmafkit.train.model import FRRegressor
from vmafkit.train.recipe import Recipe


def _data(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 20)).astype(np.float32)
    y = (50 + 10 * np.tanh(x[:, 0]) + 5 * x[:, 1] * x[:, 2]).astype(np.float32)
    return x, y


def _state(model: FRRegressor) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def test_hand_written_gradients_match_autograd():
    torch.manual_seed(0)
    k, B, H = 3, 8, 64
    mods = [initial_weights(s, Recipe()) for s in (0, 1, 2)]
    lin = [[m.net[0], m.net[3], m.net[6]] for m in mods]
    params = [
        torch.stack([f(ls) for ls in lin]).detach().double().requires_grad_(True)
        for f in (
            lambda ls: ls[0].weight.t(),
            lambda ls: ls[0].bias[None],
            lambda ls: ls[1].weight.t(),
            lambda ls: ls[1].bias[None],
            lambda ls: ls[2].weight.t(),
            lambda ls: ls[2].bias[None],
        )
    ]
    x = torch.randn(k, B, 20, dtype=torch.float64)
    y = torch.randn(k, B, 1, dtype=torch.float64) * 10
    real = torch.tensor([8, 5, 1])  # member 1 and 2: partial last batches, padded rows weigh 0
    w = torch.zeros(k, B, 1, dtype=torch.float64)
    for j, r in enumerate(real.tolist()):
        w[j, :r] = 2.0 / r
    m1 = (torch.rand(k, B, H) > 0.1).double() / 0.9
    m2 = (torch.rand(k, B, H) > 0.1).double() / 0.9
    # autograd: sum over members of the batch-mean MSE over real rows
    W1, b1, W2, b2, W3, b3 = params
    gelu = torch.nn.functional.gelu
    h = gelu(torch.baddbmm(b1, x, W1)) * m1
    h = gelu(torch.baddbmm(b2, h, W2)) * m2
    out = torch.baddbmm(b3, h, W3)
    loss = ((out - y) ** 2 * (w / 2)).sum()
    loss.backward()
    grads = [torch.zeros_like(p) for p in params]
    with torch.no_grad():
        batched_grads([p.detach() for p in params], x, y, w, m1, m2, grads, k)
    for p, g in zip(params, grads):
        assert torch.allclose(g, p.grad, rtol=1e-9, atol=1e-10), (g - p.grad).abs().max()
    assert any(g.abs().max() > 0 for g in grads)


def _plain_loop(x, y, seed, recipe):
    """nn.Module + autograd + torch.optim.Adam, with the batched trainer's shuffling (randperm)."""
    model = initial_weights(seed, recipe)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    model.train()
    for _ in range(recipe.epochs):
        perm = torch.randperm(len(y), generator=gen)
        for a in range(0, len(y), recipe.batch_size):
            b = perm[a : a + recipe.batch_size]
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(xt[b]), yt[b]).backward()
            opt.step()
    return model.eval()


def test_matches_plain_adam_loop_without_dropout():
    recipe = Recipe(epochs=3, batch_size=16, lr=1e-3, dropout=0.0)
    data = [_data(100, 1), _data(75, 2)]  # 7 and 5 steps per epoch: the second finishes early
    models = fit_members([MemberData(x, y, seed=s) for s, (x, y) in zip((3, 4), data)], recipe)
    for model, seed, (x, y) in zip(models, (3, 4), data):
        ref = _plain_loop(x, y, seed, recipe)
        for (name, a), b in zip(_state(model).items(), _state(ref).values()):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=name)
        init = _state(initial_weights(seed, recipe))
        assert not np.allclose(_state(model)["net.0.weight"], init["net.0.weight"])  # it did train


def test_member_independent_of_batch():
    recipe = Recipe(epochs=2, batch_size=32)
    a, b, c = _data(200, 1), _data(130, 2), _data(64, 3)
    together = fit_members([MemberData(*a, seed=0), MemberData(*b, seed=7), MemberData(*c, seed=1)], recipe)
    alone = fit_members([MemberData(*b, seed=7)], recipe)
    swapped = fit_members([MemberData(*c, seed=1), MemberData(*b, seed=7)], recipe)
    ref = _state(alone[0])
    for other in (together[1], swapped[1]):
        for name, value in _state(other).items():
            np.testing.assert_array_equal(value, ref[name], err_msg=name)
    # a different seed on the same data gives different weights (the seed is used)
    other_seed = fit_members([MemberData(*b, seed=8)], recipe)
    assert not np.array_equal(_state(other_seed[0])["net.0.weight"], ref["net.0.weight"])


def _loso_members(rows: list[int]) -> list[MemberData]:
    """`vmafkit train`'s member set: every seed x every fold, the seeds of a fold sharing its arrays."""
    folds = [_data(n, 100 + f) for f, n in enumerate(rows)]
    return [MemberData(x, y, seed) for seed in range(5) for x, y in folds]


def _assert_same_weights(a: list[FRRegressor], b: list[FRRegressor], label: str) -> None:
    differ = [
        i
        for i, (m1, m2) in enumerate(zip(a, b))
        if not all(torch.equal(v1, v2) for v1, v2 in zip(m1.state_dict().values(), m2.state_dict().values()))
    ]
    assert not differ, f"{label}: members {differ} of {len(a)} differ"


@pytest.mark.parametrize("hidden, batch_size, epochs", [(64, 32, 10), (13, 7, 2)])
def test_workers_do_not_change_results(hidden, batch_size, epochs):
    """The full 5 seeds x 9 folds member set, bit for bit, with 1, 2 and 3 workers.

    The shards then hold 45, 23/22 or 15 members, and the members with the same steps per epoch
    form groups of different sizes: a member's arithmetic must not depend on where in the stack it
    lands. (Before the fix, torch's fused Adam ran the stacked 1-float output biases of a group in
    SIMD chunks and the last few, group size modulo the SIMD width, in its scalar remainder loop,
    which rounds differently: a few members differed after some epochs.) (13, 7): no per-member
    size is a multiple of a SIMD width, so every remainder loop runs."""
    recipe = Recipe(epochs=epochs, hidden=hidden, batch_size=batch_size)
    members = _loso_members([150 + 12 * f for f in range(9)])  # 5 to 8 steps per epoch at batch 32
    one = fit_members(members, recipe, workers=1)
    for workers in (2, 3):
        _assert_same_weights(one, fit_members(members, recipe, workers=workers), f"workers=1 vs {workers}")


def test_adam_kernel_matches_torch_and_is_per_member():
    """`kernels.adam` (the CPU trainer's optimiser step) against torch's fused Adam, member by member;
    and a member's bits do not depend on its index in the stack nor on the stack's size."""
    from vmafkit.train import kernels

    shapes = ((20, 13), (1, 13), (13, 13), (1, 13), (13, 1), (1, 1))  # sizes of no SIMD width
    sizes = np.array([a * b for a, b in shapes], dtype=np.int64)

    def layout(M):  # the blocks of M members back to back: odd offsets on purpose
        return np.concatenate([[0], np.cumsum(M * sizes)[:-1]]).astype(np.int64), int(M * sizes.sum())

    def member(bufs, offsets, j):
        return [np.concatenate([b[o + j * n : o + (j + 1) * n] for o, n in zip(offsets, sizes)]) for b in bufs]

    M, k = 11, 9
    offsets, total = layout(M)
    rng = np.random.default_rng(0)
    start = [
        rng.standard_normal(total),
        rng.standard_normal(total) * 10,
        rng.standard_normal(total) * 0.1,
        rng.random(total) * 1e-2,
    ]
    bufs = [a.astype(np.float32) for a in start]
    steps = np.arange(M, dtype=np.int64) + 3  # every member its own step count
    hyper = (1e-3, 0.9, 0.999, 0.1, 1e-8)  # a large weight decay: its term is visible
    kernels.adam(*bufs, offsets, sizes, k, steps, *hyper)
    np.testing.assert_array_equal(steps, np.arange(M) + 3 + (np.arange(M) < k))
    before = [a.astype(np.float32) for a in start]
    for j in range(k, M):  # members past k are not part of the step
        for a, b in zip(member(bufs, offsets, j), member(before, offsets, j)):
            np.testing.assert_array_equal(a, b)
    for j in range(k):
        p, g, m, v = (torch.from_numpy(a) for a in member(before, offsets, j))
        torch._fused_adam_(
            [p],
            [g],
            [m],
            [v],
            [],
            [torch.tensor(float(j + 4))],
            lr=hyper[0],
            beta1=hyper[1],
            beta2=hyper[2],
            weight_decay=hyper[3],
            eps=hyper[4],
            amsgrad=False,
            maximize=False,
        )
        got = member(bufs, offsets, j)
        for name, a, b in zip(("param", "exp_avg", "exp_avg_sq"), (got[0], got[2], got[3]), (p, m, v)):
            # torch rounds exp_avg's lerp once (an FMA), the kernel twice: a few float32 ulps of the
            # operands, which shows in exp_avg's values that cancel to near 0
            np.testing.assert_allclose(a, b.numpy(), rtol=1e-6, atol=1e-6 * float(b.abs().max()), err_msg=name)
        # the same member alone (a stack of one): the same bits
        alone_offsets, _ = layout(1)
        alone = member(before, offsets, j)
        kernels.adam(*alone, alone_offsets, sizes, 1, np.array([j + 3], dtype=np.int64), *hyper)
        for a, b in zip(alone, got):
            np.testing.assert_array_equal(a, b)


def test_dropout_rate_and_member_stream():
    recipe = Recipe(epochs=1, batch_size=32)
    x, y = _data(320, 0)
    members = [MemberData(x, y, 0), MemberData(x, y, 1)]
    plain = _Trainer(members, recipe, torch.device("cpu"), fused=False)
    masks = plain._masks(0, plain.S).clone()
    kept = (masks > 0).float().mean().item()
    assert abs(kept - 0.9) < 0.01
    values = torch.unique(masks).tolist()
    assert len(values) == 2 and values[0] == 0.0 and values[1] == pytest.approx(1 / 0.9)
    assert not torch.equal(masks[:, :, 0], masks[:, :, 1])  # seeds 0 and 1 draw different masks
    # the fused CPU path reads the same stream as raw draws and keeps exactly the same units
    fused = _Trainer(members, recipe, torch.device("cpu"))
    bits = fused._masks(0, fused.S)
    assert bits.dtype == np.uint16
    np.testing.assert_array_equal(bits >= fused.drop_threshold, masks.numpy() > 0)


def test_returns_eval_modules_and_predict_members():
    x, y = _data(120, 0)
    models = fit_members([MemberData(x, y, 0), MemberData(x, y, 1)], Recipe(epochs=1))
    assert all(isinstance(m, FRRegressor) and not m.training for m in models)
    pred = predict_members(models, x[:10])
    assert pred.shape == (2, 10)
    with torch.no_grad():
        np.testing.assert_allclose(pred[1], models[1](torch.from_numpy(x[:10])).numpy(), rtol=1e-6)
    assert not np.allclose(pred[0], pred[1])


def test_progress_callback_called_per_epoch():
    x, y = _data(64, 0)
    seen = []
    fit_members([MemberData(x, y, 0)], Recipe(epochs=3), progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_bad_member_data_and_device():
    x, y = _data(64, 0)
    with pytest.raises(InputError):
        fit_members([MemberData(x[:, :6], y, 0)], Recipe(epochs=1))
    bad = y.copy()
    bad[3] = np.nan
    with pytest.raises(InputError):
        fit_members([MemberData(x, bad, 0)], Recipe(epochs=1))
    with pytest.raises(InputError):
        fit_members([], Recipe(epochs=1))
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA"):
            resolve_device("cuda")
        assert resolve_device("auto").type == "cpu"
