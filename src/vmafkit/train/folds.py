"""The leave-one-group-out fold: one type for both targets.

A fold holds out every row of one group (a VMAF corpus's source group, a subjective dataset's
content) and trains on the rest. `loso.TrainedFold` adds what training a VMAF member needs; the
subjective trainer uses `Fold` as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Fold:
    """Fold `index` (in sorted group order) holds out the group `held_out`: `held` are its row
    indices, `train` the others'."""

    index: int
    held_out: str
    train: np.ndarray
    held: np.ndarray


def leave_one_group_out(groups: np.ndarray) -> list[Fold]:
    """One fold per distinct group, in sorted order."""
    groups = np.asarray(groups, dtype=str)
    folds = []
    for i, group in enumerate(sorted(set(groups.tolist()))):
        is_held = groups == group
        folds.append(Fold(i, group, np.flatnonzero(~is_held), np.flatnonzero(is_held)))
    return folds
