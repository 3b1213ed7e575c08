"""Issue 15: the four models — recipes as documented, and nothing fitted on held-out contents.

Generated data (no real scores). The ensemble runs with few epochs and two seeds (CPU budget).
"""

from __future__ import annotations

import numpy as np
import pytest

from vmafkit.errors import InputError
from vmafkit.train import metrics
from vmafkit.train import subjective_models as M
from vmafkit.train.features import INPUT_WIDTH, unlabelled
from vmafkit.train.folds import content_folds


def data(n_contents=6, per=4, k=6, seed=0):
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"c{i}" for i in range(n_contents)], per)
    x = rng.uniform(0, 1, size=(groups.size, k))
    y = 1 + 4 / (1 + np.exp(-6 * (x[:, 0] - 0.5))) + 0.1 * rng.normal(size=groups.size)
    return groups, x, y


def test_nusvr_is_libvmafs_recipe():
    from sklearn.svm import NuSVR

    _, x, y = data()
    x_tr, y_tr, x_te = x[:16], y[:16], x[16:]
    lo, hi = x_tr.min(0), x_tr.max(0)
    ylo, yhi = y_tr.min(), y_tr.max()
    manual = NuSVR(C=4.0, nu=0.9, gamma=0.04).fit((x_tr - lo) / (hi - lo), (y_tr - ylo) / (yhi - ylo))
    expected = manual.predict((x_te - lo) / (hi - lo)) * (yhi - ylo) + ylo
    assert np.allclose(M.fit_predict_nusvr(x_tr, y_tr, x_te), expected, rtol=0, atol=1e-12)
    assert (M.NUSVR_C, M.NUSVR_NU, M.NUSVR_GAMMA) == (4.0, 0.9, 0.04)


def test_logistic_map_reproduces_logistic_fit_and_extends_to_held_out():
    rng = np.random.default_rng(2)
    v = rng.uniform(20, 100, 40)
    y = 1 + 4 / (1 + np.exp(-(v - 60) / 8)) + 0.05 * rng.normal(size=40)
    mapped, params = metrics.logistic_fit(v, y)
    mapping = M.LogisticMap.fit(v, y)
    assert params is not None and np.allclose(mapping.apply(v), mapped, rtol=0, atol=1e-9)
    pred, _ = M.fit_predict_vmaf_logistic(v[:30], y[:30], v[30:])
    assert metrics.rmse(pred, y[30:]) < 0.3
    flat = M.LogisticMap.fit(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]))  # < 6 points: a straight line
    assert flat.params is None and np.allclose(flat.apply(np.array([4.0])), [4.0])


def test_ensemble_inputs_canonical_and_padded():
    x = np.random.default_rng(0).normal(size=(5, 6))
    got = M.ensemble_inputs(x, canonical=True)
    full = np.zeros((5, INPUT_WIDTH), dtype=np.float32)
    full[:, :6] = x
    assert np.array_equal(got, unlabelled(full))  # the 'not given' codec block
    x3 = x[:, :3]
    padded = M.ensemble_inputs(x3, canonical=False)
    assert np.array_equal(padded[:, :3], x3.astype(np.float32)) and not padded[:, 3:].any()
    with pytest.raises(InputError, match=f"input is {INPUT_WIDTH} wide"):
        M.ensemble_inputs(np.zeros((2, INPUT_WIDTH + 1)), canonical=False)


def test_padded_slots_do_not_change_predictions():
    """k features in a 20-wide input with zeros elsewhere: whatever the weights of the zero slots,
    the network computes the same thing (an FRRegressor(in_features=k))."""
    import torch

    from vmafkit.train.ensemble import predict_one
    from vmafkit.train.model import FRRegressor

    torch.manual_seed(0)
    model = FRRegressor()
    x = M.ensemble_inputs(np.random.default_rng(1).normal(size=(7, 4)), canonical=False)
    before = predict_one(model, x)
    with torch.no_grad():
        model.net[0].weight[:, 4:] = torch.randn(64, INPUT_WIDTH - 4) * 100
    assert np.array_equal(predict_one(model, x), before)
    small = FRRegressor(in_features=4)
    with torch.no_grad():
        small.net[0].weight.copy_(model.net[0].weight[:, :4])
        small.net[0].bias.copy_(model.net[0].bias)
        for i in (3, 6):
            small.net[i].load_state_dict(model.net[i].state_dict())
    assert np.allclose(predict_one(small, np.ascontiguousarray(x[:, :4])), before, atol=1e-6)


@pytest.mark.parametrize("k", [6, 3])
def test_held_out_predictions_never_see_the_held_out_targets(k):
    """Change the targets (and features) of one content: the other contents' training is unchanged
    except for that content's own fold, and that content's own held-out predictions do not move."""
    groups, x, y = data(k=k)
    folds = content_folds(groups)
    canonical = k == 6
    recipe = M.subjective_recipe(epochs=3)

    def run(yy):
        ens = M.fit_predict_ensemble(x, yy, folds, [0, 1], recipe, canonical=canonical, workers=1)
        return {
            "ensemble": ens.mean,
            "nusvr": M.per_fold(M.fit_predict_nusvr, x, yy, folds),
            "linear": M.per_fold(M.fit_predict_linear, x, yy, folds),
        }

    base = run(y)
    y2 = y.copy()
    held = groups == "c2"
    y2[held] = y2[held] * 3 + 10  # wild targets for one content
    moved = run(y2)
    for name in base:
        assert np.array_equal(base[name][held], moved[name][held]), name  # c2 is predicted by models never fed c2


def test_ensemble_is_deterministic_and_reports_its_layout():
    groups, x, y = data(k=6)
    folds = content_folds(groups)
    recipe = M.subjective_recipe(epochs=2)
    a = M.fit_predict_ensemble(x, y, folds, [0, 1], recipe, canonical=True, workers=1)
    b = M.fit_predict_ensemble(x, y, folds, [0, 1], recipe, canonical=True, workers=2)
    assert np.array_equal(a.per_seed, b.per_seed)
    assert np.allclose(a.mean, a.per_seed.mean(axis=0))
    assert "unknown encoder" in a.layout
    assert "FRRegressor(in_features=3)" in M.ensemble_layout(3, canonical=False)


def test_per_fold_reports_each_fold_and_fits_the_training_rows_only():
    """The baselines' progress advances once per fold, and each fold's predictions are a fit on the
    other contents only (oracle: numpy's least squares on those rows)."""
    groups, x, y = data()
    folds = content_folds(groups)
    calls = []
    pred = M.per_fold(M.fit_predict_linear, x, y, folds, lambda: calls.append(1))
    assert len(calls) == len(folds) == len(set(groups.tolist()))
    f = folds[0]
    design = np.c_[x[f.train], np.ones(f.train.size)]
    coef, *_ = np.linalg.lstsq(design, y[f.train], rcond=None)
    assert pred[f.held] == pytest.approx(np.c_[x[f.held], np.ones(f.held.size)] @ coef, abs=1e-6)
