"""Fused CPU kernels (numba) for the elementwise half of the batched training step.

Why: in the batched step (`ensemble.py`) the matrix products are a few large MKL calls, but
eager torch runs the rest (GELU, its derivative, both dropout masks, the 64 -> 1 head, the MSE
gradient, the bias reductions) as about twenty separate passes over [k, B, H] tensors, and exact
GELU's backward evaluates erf and exp again. These three kernels do all of it: the
forward pass stores each hidden unit's GELU derivative (already multiplied by its dropout
multiplier), so the backward pass needs no transcendental function at all.

GELU is exact GELU, z * Phi(z), in float32: Phi from erf by Abramowitz & Stegun 7.1.26
(|error| <= 1.5e-7), exp(-z^2/2) by range reduction and a degree-6 polynomial (relative error
below 3e-7). `test_train_kernels.py` checks both against torch's float64 GELU and autograd.

Dropout: a unit is kept when its 16 random bits are >= `threshold` and then scaled by `scale`
(threshold 0 and scale 1 turn dropout off). The bits come from each member's own stream
(see `ensemble.py`), so the kernels never draw random numbers.

Every loop runs over one member at a time in a fixed order, and no loop runs across the boundary
between two members (the activation works in blocks of one member's [B * H] units), so a member's
values go through the same instructions (SIMD body or scalar remainder) whichever position it has
in the stack and however many members share the call (`test_member_independent_of_batch`,
`test_workers_do_not_change_results`). The kernels are compiled with fastmath for the CPU they run
on: results are bit-identical from run to run on one machine, not across CPU models (MKL's matrix
products already differ there).

Adam (`adam`) is here for the same reason: torch's fused CPU Adam runs a tensor in SIMD chunks and
its last `numel % width` elements in a scalar loop that rounds differently, so with the members
stacked in one tensor the output bias (one float per member) of a member got SIMD or scalar
arithmetic depending on its index in its shard, and `--workers` changed the weights. `adam` loops
member by member over each parameter block, in IEEE arithmetic (no fastmath, so no FMA contraction:
its SIMD body and scalar remainder give the same bits).
"""

from __future__ import annotations

import math

import numba
import numpy as np

_JIT = dict(fastmath=True, error_model="numpy", nogil=True)
_JIT_IEEE = dict(fastmath=False, error_model="numpy", nogil=True)  # exactly rounded, no FMA contraction


def _jit(fn, options=_JIT):
    """numba.njit with the compiled code cached on disk (next to this file, else numba's user-wide
    cache folder); where neither is writable, compile in memory instead of failing."""
    try:
        return numba.njit(cache=True, **options)(fn)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        return numba.njit(cache=False, **options)(fn)


def _jit_ieee(fn):
    return _jit(fn, _JIT_IEEE)


_BLOCK = 256  # elements per block of `_activate_block`: its scratch stays in L1

# Abramowitz & Stegun 7.1.26: erf(x) = 1 - t (a1 + t (a2 + ...)) exp(-x^2), t = 1 / (1 + p x), x >= 0
_P = np.float32(0.3275911)
_A1, _A2, _A3 = np.float32(0.254829592), np.float32(-0.284496736), np.float32(1.421413741)
_A4, _A5 = np.float32(-1.453152027), np.float32(1.061405429)
_INV_SQRT2 = np.float32(1.0 / math.sqrt(2.0))
_INV_SQRT_2PI = np.float32(1.0 / math.sqrt(2.0 * math.pi))
# exp(y) = 2^n * exp(r), n = round(y / ln 2), r = y - n ln 2 (ln 2 split in two for exactness)
_LOG2E = np.float32(1.0 / math.log(2.0))
_LN2_HI = np.float32(0.693145751953125)
_LN2_LO = np.float32(1.428606765330187e-06)
_EXP_FLOOR = np.float32(-87.0)  # exp(-87) ~ 1.6e-38: the smallest normal float32 is near
_C2, _C3, _C4 = np.float32(1 / 2), np.float32(1 / 6), np.float32(1 / 24)
_C5, _C6 = np.float32(1 / 120), np.float32(1 / 720)
_ONE = np.float32(1.0)
_HALF = np.float32(0.5)
_ZERO = np.float32(0.0)


@_jit
def _activate_block(z, bits, threshold, scale, a, s, poly, pow2):
    """a = gelu(z) * m, s = gelu'(z) * m for len(z) <= _BLOCK elements (m: dropout multiplier).

    Two loops so that both vectorise: the first writes exp's polynomial and 2^n as integer bits
    (`pow2`), the second reads those bits back as float32."""
    n = z.shape[0]
    for i in range(n):
        x = abs(z[i]) * _INV_SQRT2
        y = max(-x * x, _EXP_FLOOR)
        k = np.int32(y * _LOG2E - _HALF)  # y <= 0: truncation rounds to nearest
        kf = np.float32(k)
        r = (y - kf * _LN2_HI) - kf * _LN2_LO
        poly[i] = _ONE + r * (_ONE + r * (_C2 + r * (_C3 + r * (_C4 + r * (_C5 + r * _C6)))))
        pow2[i] = (k + np.int32(127)) << np.int32(23)
    two_n = pow2.view(np.float32)
    for i in range(n):
        zi = z[i]
        gauss = poly[i] * two_n[i]  # exp(-z^2 / 2)
        t = _ONE / (_ONE + _P * (abs(zi) * _INV_SQRT2))
        tail = _HALF * t * (_A1 + t * (_A2 + t * (_A3 + t * (_A4 + t * _A5)))) * gauss  # 1 - Phi(|z|)
        cdf = _HALF + math.copysign(_HALF - tail, zi)  # Phi(z), without a branch
        m = scale * np.float32(np.int32(bits[i]) >= threshold)
        a[i] = zi * cdf * m
        s[i] = (cdf + zi * gauss * _INV_SQRT_2PI) * m


@_jit
def activate(z, bits, threshold, scale, a, s):
    """Hidden layer forward over flat arrays: a = gelu(z) * m, s = gelu'(z) * m."""
    poly = np.empty(_BLOCK, dtype=np.float32)
    pow2 = np.empty(_BLOCK, dtype=np.int32)
    n = z.shape[0]
    for start in range(0, n, _BLOCK):
        stop = min(start + _BLOCK, n)
        w = stop - start
        _activate_block(
            z[start:stop], bits[start:stop], threshold, scale, a[start:stop], s[start:stop], poly[:w], pow2[:w]
        )


@_jit
def activate_rows(z, bits, threshold, scale, a, s):
    """`activate` member by member: z, bits, a, s [k, n] (n = B * H units of one member each)."""
    for j in range(z.shape[0]):
        activate(z[j], bits[j], threshold, scale, a[j], s[j])


@_jit
def output_grads(z2, bits, threshold, scale, w3, b3, y, w, a2, s2, gw3, gb3, gz2, gb2):
    """Second hidden layer, the 64 -> 1 head, the loss gradient and the head's backward pass.

    Shapes: z2, bits, a2, s2, gz2 [k, B, H]; w3, gw3, gb2 [k, H]; b3, gb3 [k]; y, w [k, B].
    w holds 2 / r for the r real rows of a member's batch (0 for padding): g = d loss / d out.
    Writes a2, s2, gw3, gb3, gz2 = d loss / d z2 and gb2."""
    k, B, H = z2.shape
    for j in range(k):  # per member: see `activate_rows`
        activate(z2[j].reshape(-1), bits[j].reshape(-1), threshold, scale, a2[j].reshape(-1), s2[j].reshape(-1))
    for j in range(k):
        g_bias = _ZERO
        for h in range(H):
            gw3[j, h] = _ZERO
            gb2[j, h] = _ZERO
        for b in range(B):
            out = b3[j]
            for h in range(H):
                out += a2[j, b, h] * w3[j, h]
            g = (out - y[j, b]) * w[j, b]
            g_bias += g
            for h in range(H):
                gw3[j, h] += a2[j, b, h] * g
                gz = g * w3[j, h] * s2[j, b, h]
                gz2[j, b, h] = gz
                gb2[j, h] += gz
        gb3[j] = g_bias


@_jit
def hidden_grads(gd1, s1, gb1):
    """gd1 (d loss / d a1, [k, B, H]) becomes d loss / d z1 in place; gb1 [k, H] = its sum over B."""
    k, B, H = gd1.shape
    for j in range(k):
        for h in range(H):
            gb1[j, h] = _ZERO
        for b in range(B):
            for h in range(H):
                g = gd1[j, b, h] * s1[j, b, h]
                gd1[j, b, h] = g
                gb1[j, h] += g


@_jit_ieee
def _adam_block(p, g, m, v, step_size, bias2_sqrt, c1, beta2, c2, weight_decay, eps):
    """One member's block of one parameter, float32 (all scalars are float32 here)."""
    for i in range(p.shape[0]):
        gi = g[i] + p[i] * weight_decay
        mi = m[i] + c1 * (gi - m[i])  # exp_avg.lerp_(grad, 1 - beta1)
        vi = v[i] * beta2 + c2 * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] = p[i] - step_size * mi / (math.sqrt(vi) / bias2_sqrt + eps)


@_jit_ieee
def adam(p, g, m, v, offsets, sizes, k, steps, lr, beta1, beta2, weight_decay, eps):
    """One Adam step (L2 weight decay added to the gradient, as `torch.optim.Adam(weight_decay=...)`)
    for the first k members of a stack.

    p, g, m, v: flat float32 buffers (parameters, gradients, exp_avg, exp_avg_sq) of the same
    layout: parameter block q holds member j's `sizes[q]` values at `offsets[q] + j * sizes[q]`.
    steps [>= k] int64: each member's step count, incremented here (bias correction per member,
    in float64 like torch). The arithmetic per value is torch's scalar loop; a member's values
    never share a SIMD chunk with another member's."""
    c1 = np.float32(1.0 - beta1)
    c2 = np.float32(1.0 - beta2)
    b2 = np.float32(beta2)
    wd = np.float32(weight_decay)
    e = np.float32(eps)
    for j in range(k):
        steps[j] += 1
        t = np.float64(steps[j])
        step_size = np.float32(lr / (1.0 - beta1**t))
        bias2_sqrt = np.float32(math.sqrt(1.0 - beta2**t))
        for q in range(offsets.shape[0]):
            n = sizes[q]
            a = offsets[q] + j * n
            _adam_block(
                p[a : a + n], g[a : a + n], m[a : a + n], v[a : a + n], step_size, bias2_sqrt, c1, b2, c2, wd, e
            )


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel with the trainer's argument types.

    Call before forking shard processes, so that children do not each compile."""
    k, B, H = 1, 2, 8
    z = np.zeros((k, B, H), dtype=np.float32)
    bits = np.zeros((k, B, H), dtype=np.uint16)
    vec = np.zeros((k, H), dtype=np.float32)
    row = np.zeros((k, B), dtype=np.float32)
    one = np.zeros(k, dtype=np.float32)
    activate(z.reshape(-1), bits.reshape(-1), 0, np.float32(1.0), z.copy().reshape(-1), z.copy().reshape(-1))
    activate_rows(
        z.reshape(k, -1), bits.reshape(k, -1), 0, np.float32(1.0), z.copy().reshape(k, -1), z.copy().reshape(k, -1)
    )
    output_grads(
        z,
        bits,
        0,
        np.float32(1.0),
        vec,
        one,
        row,
        row,
        z.copy(),
        z.copy(),
        vec.copy(),
        one.copy(),
        z.copy(),
        vec.copy(),
    )
    hidden_grads(z.copy(), z.copy(), vec.copy())
    flat = np.zeros(2 * H, dtype=np.float32)
    layout = np.array([0, H], dtype=np.int64)
    adam(
        flat,
        flat.copy(),
        flat.copy(),
        flat.copy(),
        layout,
        np.array([H, H], dtype=np.int64),
        k,
        np.zeros(k, dtype=np.int64),
        1e-3,
        0.9,
        0.999,
        0.0,
        1e-8,
    )
