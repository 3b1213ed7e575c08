"""The models compared on the same leave-one-content-out folds, each fitted on the training folds
only and asked about the held-out content.

* `ensemble` — vmafkit's deep ensemble: one FRRegressor (20 -> 64 -> 64 -> 1, GELU, dropout 0.1,
  Adam, MSE, batch 32) per (seed, fold), all trained in one batched `train.ensemble.fit_members`
  call. Input: the chosen features standardised with the training folds' mean/std, in the
  model's 20-wide input (`ensemble_layout`): with libvmaf's canonical-6 the 6 feature slots plus
  the codec block of "not given" labels (`train.features.unlabelled`: the `unknown` encoder,
  preset_norm 0.5, crf_norm 0.5, the same for every clip); with k != 6 features, the k
  standardised features in the first k slots and zeros in the other 20 - k. A zero input slot
  has a zero gradient, so its first-layer weights only decay: the network computes exactly what
  an FRRegressor(in_features=k) with those initial weights would (PyTorch's default init draws
  them with fan-in 20, not k). `fit_members` checks x is [n, 20] (`features.INPUT_WIDTH`), so
  more than 20 features are refused. Target: the subjective score standardised with the training
  folds' mean/std (predictions are mapped back): the recipe's lr and epochs were tuned for VMAF's
  0-100 on thousands of rows; a MOS of 1-5 or a few hundred clips would otherwise train on
  another effective scale. The ensemble's prediction is the mean over seeds.
* `nusvr` — libvmaf v0.6.1's training recipe (`train.baseline`, its one home): scikit-learn's NuSVR (libsvm's nu-SVR, RBF kernel)
  with C = 4.0, nu = 0.9, gamma = 0.04, the features AND the target linearly rescaled to [0, 1]
  by the training folds' min/max (libvmaf's `norm_type: clip_0to1`; held-out values are rescaled
  with the same numbers, not clipped), predictions mapped back. Source: libvmaf's
  `model/vmaf_v0.6.1.json`, `param_dict` {"C": 4.0, "nu": 0.9, "gamma": 0.04, "norm_type":
  "clip_0to1"}, whose `model_dict` holds 7 slopes/intercepts: the score's and the 6 features'.
* `linear` — ordinary least squares on the training folds' standardised features.
* `vmaf_logistic` (videos only) — libvmaf's stock v0.6.1 score of the clip, mapped onto the
  subjective scale by the VQEG 5-parameter logistic (`train.metrics.logistic_fit`) fitted on the
  training folds; a straight line when the logistic fit fails.

With a declared scale (`--score-scale`), every model's predictions are clipped to its range, as libvmaf
clips its score to [0, 100].
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vmafkit.errors import InputError
from vmafkit.train import baseline
from vmafkit.train.features import INPUT_WIDTH, unlabelled
from vmafkit.train.folds import Fold
from vmafkit.train.recipe import Recipe

NUSVR_C = baseline.C
NUSVR_NU = baseline.NU
NUSVR_GAMMA = baseline.GAMMA
NUSVR_SOURCE = baseline.SOURCE
NUSVR_MAX_TRAIN_ROWS = baseline.MAX_TRAIN_ROWS


@dataclass(frozen=True)
class Affine:
    """x -> (x - shift) / scale, column-wise; fitted on training rows only."""

    shift: np.ndarray
    scale: np.ndarray

    @classmethod
    def zscore(cls, a: np.ndarray) -> Affine:
        a = np.asarray(a, dtype=np.float64)
        std = a.std(axis=0)
        return cls(a.mean(axis=0), np.where(std > 1e-12, std, 1.0))

    def apply(self, a: np.ndarray) -> np.ndarray:
        return (np.asarray(a, dtype=np.float64) - self.shift) / self.scale

    def invert(self, a: np.ndarray) -> np.ndarray:
        return np.asarray(a, dtype=np.float64) * self.scale + self.shift


# ------------------------------------------------------------------------------ ensemble


def ensemble_layout(n_features: int, canonical: bool) -> str:
    """How k features fill the model's 20-wide input (module doc)."""
    if canonical:
        return (
            "canonical-6 standardised on the training folds + the codec block of 'not given' labels "
            "(train.features.unlabelled: unknown encoder, preset_norm 0.5, crf_norm 0.5)"
        )
    if n_features > INPUT_WIDTH:
        raise InputError(
            f"{n_features} features: the ensemble's input is {INPUT_WIDTH} wide "
            f"(train.ensemble.fit_members checks x is [n, {INPUT_WIDTH}]); choose at most {INPUT_WIDTH}"
        )
    return (
        f"{n_features} features standardised on the training folds in input slots 1..{n_features}, zeros in the "
        f"other {INPUT_WIDTH - n_features} (equivalent to FRRegressor(in_features={n_features}); fit_members "
        f"accepts only [n, {INPUT_WIDTH}])"
    )


def ensemble_inputs(x_std: np.ndarray, canonical: bool) -> np.ndarray:
    """[n, 20] float32 model inputs from standardised features [n, k] (`ensemble_layout`)."""
    x_std = np.asarray(x_std, dtype=np.float64)
    n, k = x_std.shape
    ensemble_layout(k, canonical)  # refuses k > 20
    out = np.zeros((n, INPUT_WIDTH), dtype=np.float32)
    out[:, :k] = x_std
    if canonical:
        out = unlabelled(out)
    return out


def subjective_recipe(**overrides) -> Recipe:
    """FRRegressor's recipe (`Recipe`'s defaults) with no label masking: the codec block is
    constant here. `overrides`: epochs, batch_size, lr, weight_decay."""
    return Recipe.named("seed", **overrides)


@dataclass
class EnsembleResult:
    per_seed: np.ndarray  # [S, n] held-out predictions of each seed's member of the item's fold
    mean: np.ndarray  # [n] ensemble (mean over seeds)
    layout: str
    fold_specs: list[dict[str, Any]]


def fit_predict_ensemble(
    x: np.ndarray,
    y: np.ndarray,
    folds: Sequence[Fold],
    seeds: Sequence[int],
    recipe: Recipe,
    *,
    canonical: bool,
    device: str = "cpu",
    workers: int = 1,
    progress: bool = False,
) -> EnsembleResult:
    from vmafkit.train.ensemble import MemberData, fit_members, predict_one

    layout = ensemble_layout(x.shape[1], canonical)
    prepared = []
    for f in folds:
        fx = Affine.zscore(x[f.train])
        fy = Affine.zscore(y[f.train])
        x_train = ensemble_inputs(fx.apply(x[f.train]), canonical)
        y_train = fy.apply(y[f.train]).astype(np.float32)
        prepared.append((f, fx, fy, x_train, y_train, ensemble_inputs(fx.apply(x[f.held]), canonical)))
    # One member per (seed, fold); the seeds of a fold share one x array (the trainer keeps one copy).
    members = [MemberData(p[3], p[4], int(seed)) for seed in seeds for p in prepared]
    models = fit_members(members, recipe, device=device, progress=progress, workers=workers)
    per_seed = np.empty((len(seeds), y.size), dtype=np.float64)
    for si, seed in enumerate(seeds):
        for fi, (f, _, fy, _, _, x_test) in enumerate(prepared):
            pred = fy.invert(predict_one(models[si * len(prepared) + fi], x_test).astype(np.float64))
            if not np.all(np.isfinite(pred)):
                raise InputError(
                    f"ensemble training diverged: seed {seed}, fold {f.held_out!r} gave NaN or infinite "
                    f"predictions (--lr {recipe.lr:g}); retry with a smaller --lr"
                )
            per_seed[si, f.held] = pred
    specs = [
        {
            "held_out": p[0].held_out,
            "feature_mean": p[1].shift.tolist(),
            "feature_std": p[1].scale.tolist(),
            "target_mean": float(p[2].shift),
            "target_std": float(p[2].scale),
        }
        for p in prepared
    ]
    return EnsembleResult(per_seed=per_seed, mean=per_seed.mean(axis=0), layout=layout, fold_specs=specs)


@dataclass
class ProductionEnsemble:
    """One member per seed fitted on every item (what an export ships), and the transforms the
    members' inputs and outputs went through (fitted on every item too)."""

    models: list  # FRRegressor, eval mode, on the CPU
    seeds: list[int]
    features: Affine  # raw features -> standardised
    target: Affine  # standardised target -> subjective scale (invert)
    tail: np.ndarray  # [20 - k] float32: the constant input slots after the k features
    layout: str
    canonical: bool

    def inputs(self, x: np.ndarray) -> np.ndarray:
        """[n, 20] float32: what the members are fed for raw features `x` [n, k] (training path)."""
        return ensemble_inputs(self.features.apply(x), self.canonical)


def fit_production(
    x: np.ndarray,
    y: np.ndarray,
    seeds: Sequence[int],
    recipe: Recipe,
    *,
    canonical: bool,
    device: str = "cpu",
    workers: int = 1,
    progress: bool = False,
) -> ProductionEnsemble:
    """The members an export ships: the LOSO recipe (`fit_predict_ensemble`) on every item, one per
    seed, in one batched `fit_members` call (deterministic for a seed, whatever `workers`)."""
    from vmafkit.train.ensemble import MemberData, fit_members

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    layout = ensemble_layout(x.shape[1], canonical)
    fx, fy = Affine.zscore(x), Affine.zscore(y)
    x_in = ensemble_inputs(fx.apply(x), canonical)
    y_in = fy.apply(y).astype(np.float32)
    members = [MemberData(x_in, y_in, int(seed)) for seed in seeds]
    models = fit_members(members, recipe, device=device, progress=progress, workers=workers)
    tail = ensemble_inputs(np.zeros((1, x.shape[1])), canonical)[0, x.shape[1] :].astype(np.float32)
    return ProductionEnsemble(
        models=[m.to("cpu").eval() for m in models],
        seeds=[int(s) for s in seeds],
        features=fx,
        target=fy,
        tail=tail,
        layout=layout,
        canonical=canonical,
    )


# ------------------------------------------------------------------------------ nu-SVR, linear


def fit_predict_nusvr(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """libvmaf v0.6.1's recipe (`train.baseline`) on one fold; predictions on the target's scale.
    At most NUSVR_MAX_TRAIN_ROWS training rows, evenly spaced (`baseline.training_rows`, as the VMAF
    gate's baseline): libsvm's cost grows with the square of the rows (20,000 items took 433 s)."""
    rows = baseline.training_rows(np.arange(len(y_train)))
    return baseline.fit_predict(np.asarray(x_train)[rows], np.asarray(y_train)[rows], x_test)


def fit_predict_linear(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    from sklearn.linear_model import LinearRegression

    fx = Affine.zscore(x_train)
    model = LinearRegression().fit(fx.apply(x_train), np.asarray(y_train, dtype=np.float64))
    return model.predict(fx.apply(x_test))


# ------------------------------------------------------------------------------ stock VMAF + logistic


def logistic5(x, b1, b2, b3, b4, b5):
    """The VQEG 5-parameter logistic, as `train.metrics.logistic_fit` fits it."""
    x = np.asarray(x, dtype=np.float64)
    return b1 * (0.5 - 1.0 / (1.0 + np.exp(np.clip(b2 * (x - b3), -60.0, 60.0)))) + b4 * x + b5


@dataclass
class LogisticMap:
    """`logistic_fit`'s mapping, reusable on held-out scores: it fits on x and y standardised by
    their own mean and (population) std, so those four numbers come with the parameters."""

    params: list[float] | None
    x_mean: float
    x_std: float
    y_mean: float
    y_std: float
    line: tuple[float, float] | None = None  # slope, intercept: the fallback when the fit failed

    @classmethod
    def fit(cls, v: np.ndarray, y: np.ndarray) -> LogisticMap:
        from vmafkit.train.metrics import logistic_fit

        v = np.asarray(v, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        _, params = logistic_fit(v, y)
        stats = (float(v.mean()), float(v.std()), float(y.mean()), float(y.std()))
        if params is not None:
            return cls([float(p) for p in params], *stats)
        if np.ptp(v) > 0:
            slope, intercept = np.polyfit(v, y, 1)
            return cls(None, *stats, line=(float(slope), float(intercept)))
        return cls(None, *stats, line=(0.0, float(y.mean())))

    def apply(self, v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=np.float64)
        if self.params is None:
            slope, intercept = self.line  # type: ignore[misc]
            return slope * v + intercept
        return logistic5((v - self.x_mean) / self.x_std, *self.params) * self.y_std + self.y_mean

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "vqeg-logistic-5" if self.params is not None else "linear (logistic fit failed)",
            "params_standardised": self.params,
            "x_mean": self.x_mean,
            "x_std": self.x_std,
            "y_mean": self.y_mean,
            "y_std": self.y_std,
            "line": list(self.line) if self.line else None,
        }


def fit_predict_vmaf_logistic(
    v_train: np.ndarray, y_train: np.ndarray, v_test: np.ndarray
) -> tuple[np.ndarray, LogisticMap]:
    mapping = LogisticMap.fit(v_train, y_train)
    pred = mapping.apply(v_test)
    if not np.all(np.isfinite(pred)):
        raise InputError("the logistic mapping of libvmaf's score gave non-finite values")
    return pred, mapping


# ------------------------------------------------------------------------------ all folds


def per_fold(
    fit_predict, x: np.ndarray, y: np.ndarray, folds: Sequence[Fold], advance: Callable[[], None] | None = None
) -> np.ndarray:
    """Held-out predictions [n] of a `fit_predict(x_train, y_train, x_test)` over the folds;
    `advance` is called after each fold (a progress bar)."""
    out = np.full(y.size, math.nan)
    for f in folds:
        out[f.held] = fit_predict(x[f.train], y[f.train], x[f.held])
        if advance is not None:
            advance()
    return out
