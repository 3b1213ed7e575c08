"""The fused CPU kernels (numba) against torch: GELU and its derivative in float64, the fused
step's gradients against autograd, and a short training run against the plain torch step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vmafkit.train import kernels
from vmafkit.train.ensemble import MemberData, _FusedCpuStep, _Trainer, initial_weights
from vmafkit.train.recipe import Recipe

THRESHOLD = 6554  # p = 0.1 on 16 bits, as the trainer draws it


def _gelu64(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """torch's exact GELU and its derivative (autograd), in float64."""
    zt = torch.from_numpy(z.astype(np.float64)).requires_grad_(True)
    out = torch.nn.functional.gelu(zt)
    out.sum().backward()
    return out.detach().numpy(), zt.grad.numpy()


def test_activation_is_float32_exact_gelu_and_derivative():
    z = np.concatenate([np.linspace(-12, 12, 100_001), [-1e30, -1e4, -87.0, -0.0, 0.0, 1e-30, 87.0, 1e4, 1e30]])
    z = z.astype(np.float32)
    keep = np.full(z.shape, 65535, dtype=np.uint16)
    a, s = np.empty_like(z), np.empty_like(z)
    kernels.activate(z, keep, 0, np.float32(1.0), a, s)
    ref_a, ref_s = _gelu64(z)
    scale = np.maximum(1.0, np.abs(z.astype(np.float64)))
    # torch's own float32 GELU is off by up to ~1.6e-7 (relative to max(1, |z|)) on this grid
    assert np.max(np.abs(a - ref_a) / scale) < 4e-7
    assert np.max(np.abs(s - ref_s)) < 1e-6
    assert np.isfinite(a).all() and np.isfinite(s).all()


def test_activation_applies_the_dropout_draws():
    rng = np.random.default_rng(0)
    z = rng.standard_normal(5000).astype(np.float32)
    bits = rng.integers(0, 65536, z.shape).astype(np.uint16)
    a, s = np.empty_like(z), np.empty_like(z)
    kernels.activate(z, bits, THRESHOLD, np.float32(1 / 0.9), a, s)
    ref_a, ref_s = _gelu64(z)
    keep = bits >= THRESHOLD
    assert not keep.all() and keep.any()
    np.testing.assert_array_equal(a[~keep], 0.0)
    np.testing.assert_array_equal(s[~keep], 0.0)
    np.testing.assert_allclose(a[keep], ref_a[keep] / 0.9, rtol=2e-6, atol=5e-7)  # the erf bound, scaled
    np.testing.assert_allclose(s[keep], ref_s[keep] / 0.9, rtol=2e-6, atol=1e-6)


def _stacked_params(seeds, recipe):
    mods = [initial_weights(s, recipe) for s in seeds]
    lin = [[m.net[0], m.net[3], m.net[6]] for m in mods]
    getters = (
        lambda ls: ls[0].weight.t(),
        lambda ls: ls[0].bias[None],
        lambda ls: ls[1].weight.t(),
        lambda ls: ls[1].bias[None],
        lambda ls: ls[2].weight.t(),
        lambda ls: ls[2].bias[None],
    )
    return [torch.stack([f(layer) for layer in lin]).detach().contiguous() for f in getters]


def test_fused_step_gradients_match_autograd():
    recipe = Recipe()
    k, B, H = 3, 8, recipe.hidden
    params = _stacked_params((0, 1, 2), recipe)
    grads = [torch.zeros_like(p) for p in params]
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(k, B, 20, generator=gen)
    y = (torch.randn(k, B, generator=gen) * 10).numpy()
    w = np.zeros((k, B), dtype=np.float32)
    for j, r in enumerate((8, 5, 1)):  # members 1 and 2: partial last batches, padded rows weigh 0
        w[j, :r] = 2.0 / r
    rng = np.random.default_rng(1)
    bits1, bits2 = (rng.integers(0, 65536, (k, B, H)).astype(np.uint16) for _ in range(2))
    step = _FusedCpuStep(params, grads, B, threshold=THRESHOLD, scale=1 / 0.9)
    step(k, x, x.transpose(1, 2), y, w, bits1, bits2)

    p64 = [p.double().requires_grad_(True) for p in params]
    m1, m2 = (torch.from_numpy((b >= THRESHOLD) / 0.9) for b in (bits1, bits2))
    W1, b1, W2, b2, W3, b3 = p64
    gelu = torch.nn.functional.gelu
    h = gelu(torch.baddbmm(b1, x.double(), W1)) * m1
    h = gelu(torch.baddbmm(b2, h, W2)) * m2
    out = torch.baddbmm(b3, h, W3)[..., 0]
    ((out - torch.from_numpy(y).double()) ** 2 * torch.from_numpy(w / 2).double()).sum().backward()
    for name, g, p in zip(("W1", "b1", "W2", "b2", "W3", "b3"), grads, p64):
        ref = p.grad.float()
        assert ref.abs().max() > 0, name
        torch.testing.assert_close(g, ref, rtol=1e-4, atol=1e-5 * float(ref.abs().max()), msg=name)


@pytest.mark.parametrize("dropout, hidden, batch_size", [(0.0, 64, 16), (0.1, 64, 16), (0.1, 13, 7)])
def test_fused_and_plain_trainers_agree(dropout, hidden, batch_size):
    # (13, 7): sizes that are no multiple of a SIMD width, so the kernels' remainder loops run
    recipe = Recipe(epochs=2, batch_size=batch_size, dropout=dropout, hidden=hidden)
    rng = np.random.default_rng(3)
    members = []
    for seed, n in ((0, 90), (1, 70)):
        x = rng.standard_normal((n, 20)).astype(np.float32)
        members.append(MemberData(x, (50 + 10 * np.tanh(x[:, 0])).astype(np.float32), seed))
    fused = _Trainer(members, recipe, torch.device("cpu")).run()
    plain = _Trainer(members, recipe, torch.device("cpu"), fused=False).run()
    moved = 0.0
    for a, b, seed in zip(fused, plain, (0, 1)):
        init = dict(zip(("W1", "b1", "W2", "b2", "W3", "b3"), _stacked_params((seed,), recipe)))
        for name in a:
            torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-5, msg=name)
            moved = max(moved, float((a[name] - init[name][0]).abs().max()))
    assert moved > 1e-3  # both trained: the comparison is not between two copies of the init


def test_fused_path_is_cpu_only():
    x = np.zeros((40, 20), dtype=np.float32)
    with pytest.raises(Exception, match="CPU only"):
        _Trainer([MemberData(x, np.zeros(40, np.float32), 0)], Recipe(epochs=1), torch.device("meta"), fused=True)


def test_kernels_still_compile_where_no_cache_folder_is_writable(monkeypatch):
    """numba refuses `cache=True` at decoration time when neither the package folder nor its
    user-wide cache folder is writable (a read-only install); the kernels then compile in memory."""
    import importlib.util

    import numba

    real_njit = numba.njit
    asked = []

    def njit_without_cache(*args, cache=False, **kwargs):
        asked.append(cache)
        if cache:
            raise RuntimeError("cannot cache function 'activate': no locator available for file")
        return real_njit(*args, **kwargs)

    monkeypatch.setattr(numba, "njit", njit_without_cache)
    spec = importlib.util.spec_from_file_location("_kernels_uncached", kernels.__file__)
    uncached = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(uncached)
    assert True in asked and False in asked
    z = np.linspace(-3, 3, 301).astype(np.float32)
    a, s = np.empty_like(z), np.empty_like(z)
    uncached.activate(z, np.zeros(z.shape, np.uint16), 0, np.float32(1.0), a, s)
    np.testing.assert_allclose(a, _gelu64(z)[0], atol=4e-7)
