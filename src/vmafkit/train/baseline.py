"""The classic baseline the ensembles must beat: libvmaf's own training recipe, a nu-SVR, fitted
on the same leave-one-group-out folds. The one home of that recipe (the subjective models use it
too).

libvmaf's vmaf_v0.6.1 model is a libsvm nu-SVR (RBF kernel, C = 4, nu = 0.9, gamma = 0.04) whose
features and score are each rescaled linearly to [0, 1] over the training set (its model file's
`param_dict`: `norm_type: clip_0to1`; the `model_dict` holds the 7 slopes and intercepts); held-out
values are rescaled with the same numbers, not clipped, and the prediction is mapped back.
scikit-learn's `NuSVR` wraps libsvm.

A kernel SVR costs O(n^2) memory and between O(n^2) and O(n^3) time, and libvmaf was itself
trained on a few thousand frames; each VMAF fold is therefore fitted on at most `MAX_TRAIN_ROWS`
training rows, evenly spaced over the corpus order (deterministic: the same corpus gives the same
baseline, so a verdict can re-derive it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vmafkit.corpus.schema import Corpus

NU = 0.9
C = 4.0
GAMMA = 0.04
SOURCE = (
    "libvmaf model/vmaf_v0.6.1.json: param_dict C=4.0, nu=0.9, gamma=0.04, norm_type=clip_0to1; "
    "model_dict slopes/intercepts rescale the score and the 6 features"
)
MAX_TRAIN_ROWS = 3000
SCORE_RANGE = (0.0, 100.0)
RECIPE = {"model": "nu-SVR (libsvm via scikit-learn)", "kernel": "rbf", "C": C, "nu": NU, "gamma": GAMMA}


@dataclass(frozen=True)
class UnitRange:
    """x -> (x - low) / (high - low), column-wise, [low, high] of the training rows (a constant
    column maps to 0); `invert` maps back."""

    low: np.ndarray
    span: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> UnitRange:
        values = np.asarray(values, dtype=np.float64)
        lo, hi = values.min(axis=0), values.max(axis=0)
        return cls(lo, np.where(hi - lo > 1e-12, hi - lo, 1.0))

    def apply(self, values: np.ndarray) -> np.ndarray:
        return (np.asarray(values, dtype=np.float64) - self.low) / self.span

    def invert(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=np.float64) * self.span + self.low


def fit_predict(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    *,
    C: float = C,
    nu: float = NU,
    gamma: float = GAMMA,
) -> np.ndarray:
    """libvmaf's nu-SVR recipe fitted on (x_train [n, k], y_train [n]), predicting x_test [m, k] on
    the target's own scale (not clipped: the caller knows the scale)."""
    from sklearn.svm import NuSVR

    features = UnitRange.fit(x_train)
    score = UnitRange.fit(np.asarray(y_train, dtype=np.float64).reshape(-1, 1))
    model = NuSVR(C=C, nu=nu, gamma=gamma, kernel="rbf")
    model.fit(features.apply(x_train), score.apply(np.asarray(y_train).reshape(-1, 1)).ravel())
    return score.invert(model.predict(features.apply(x_test)).reshape(-1, 1)).ravel()


def training_rows(rows: np.ndarray) -> np.ndarray:
    """At most MAX_TRAIN_ROWS of `rows`, evenly spaced (all of them when fewer)."""
    if rows.size <= MAX_TRAIN_ROWS:
        return rows
    return rows[np.linspace(0, rows.size - 1, MAX_TRAIN_ROWS).round().astype(np.int64)]


_CACHE: dict[tuple[str, int], np.ndarray] = {}


def loso_predictions(corpus: Corpus, *, cache_key: str | None = None) -> np.ndarray:
    """[N] held-out nu-SVR prediction of every corpus row, by the baseline of the fold (group) that
    held it out. `cache_key` (the corpus's sha256): the result is remembered for this process,
    since a verdict is re-derived several times (verdict, export, flip) from the same bytes."""
    key = (cache_key, len(corpus)) if cache_key is not None else None
    if key is not None and key in _CACHE:
        return _CACHE[key].copy()
    out = np.empty(len(corpus), dtype=np.float64)
    for group in corpus.groups:
        held = corpus.group == group
        train = training_rows(np.flatnonzero(~held))
        out[held] = np.clip(
            fit_predict(corpus.features[train], corpus.vmaf[train], corpus.features[held]), *SCORE_RANGE
        )
    if key is not None:
        _CACHE[key] = out.copy()
    return out
