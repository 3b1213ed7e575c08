"""The classic baseline the ensemble must beat: libvmaf's own training recipe, a nu-SVR on the
same six features, fitted on the same leave-one-group-out folds.

libvmaf's vmaf_v0.6.1 model is a libsvm nu-SVR (RBF kernel, C = 4, nu = 0.9, gamma = 0.04) whose
features and score are each rescaled linearly to [-1, 1] over the training set
("linear_rescale"); its prediction is mapped back and clipped to [0, 100]. The same recipe is used
here (scikit-learn's `NuSVR` wraps libsvm), per fold on the fold's training rows only.

A kernel SVR costs O(n^2) memory and between O(n^2) and O(n^3) time, and libvmaf was itself
trained on a few thousand frames; each fold is therefore fitted on at most `MAX_TRAIN_ROWS`
training rows, evenly spaced over the corpus order (deterministic: the same corpus gives the same
baseline, so a verdict can re-derive it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vmafkit.corpus.schema import Corpus

NU = 0.9
C = 4.0
GAMMA = 0.04
MAX_TRAIN_ROWS = 3000
SCORE_RANGE = (0.0, 100.0)
RECIPE = {"model": "nu-SVR (libsvm via scikit-learn)", "kernel": "rbf", "C": C, "nu": NU, "gamma": GAMMA}


@dataclass(frozen=True)
class LinearRescale:
    """x -> slope * x + intercept, mapping each training column's [min, max] onto [-1, 1]."""

    slope: np.ndarray
    intercept: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> LinearRescale:
        lo, hi = values.min(axis=0), values.max(axis=0)
        span = np.where(hi - lo > 1e-12, hi - lo, 1.0)
        slope = 2.0 / span
        return cls(slope=slope, intercept=-1.0 - slope * lo)

    def apply(self, values: np.ndarray) -> np.ndarray:
        return values * self.slope + self.intercept


def training_rows(rows: np.ndarray) -> np.ndarray:
    """At most MAX_TRAIN_ROWS of `rows`, evenly spaced (all of them when fewer)."""
    if rows.size <= MAX_TRAIN_ROWS:
        return rows
    return rows[np.linspace(0, rows.size - 1, MAX_TRAIN_ROWS).round().astype(np.int64)]


def fit_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """libvmaf's nu-SVR recipe fitted on (x_train, y_train) [n, k], [n], predicting x_test [m, k]."""
    from sklearn.svm import NuSVR

    features = LinearRescale.fit(x_train)
    score_lo, score_hi = SCORE_RANGE
    model = NuSVR(nu=NU, C=C, gamma=GAMMA, kernel="rbf")
    model.fit(features.apply(x_train), (y_train - score_lo) * 2.0 / (score_hi - score_lo) - 1.0)
    scaled = model.predict(features.apply(x_test))
    return np.clip((scaled + 1.0) * (score_hi - score_lo) / 2.0 + score_lo, score_lo, score_hi)


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
        out[held] = fit_predict(corpus.features[train], corpus.vmaf[train], corpus.features[held])
    if key is not None:
        _CACHE[key] = out.copy()
    return out
