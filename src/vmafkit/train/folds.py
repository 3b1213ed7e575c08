"""The leave-one-group-out fold: one type for both targets.

A fold holds out every row of one group (a VMAF corpus's source group, a subjective dataset's
content) and trains on the rest. `loso.TrainedFold` adds what training a VMAF member needs; the
subjective trainer uses `Fold` as it is.

A subjective dataset's folds are by content (scene) only, never by clip: clips of one scene share
their look, so a clip-level split would score a model on scenes it was trained on. Anything fitted
(standardisation, [0, 1] rescaling, the logistic mapping, the target's scaling) is fitted on the
training folds only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vmafkit import thresholds as T
from vmafkit.errors import InputError


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


def content_folds(groups: np.ndarray) -> list[Fold]:
    groups = np.asarray(groups, dtype=str)
    contents = sorted(set(groups.tolist()))
    if len(contents) < 2:
        raise InputError(
            f"{len(contents)} content ({', '.join(contents)}): leave-one-content-out needs at least 2 "
            "(and statistics mean little below "
            f"{T.SUBJECTIVE_MIN_CONTENTS})"
        )
    return leave_one_group_out(groups)


def data_warnings(groups: np.ndarray) -> list[str]:
    """Human lines: contents with fewer than SUBJECTIVE_MIN_CLIPS_PER_CONTENT clips, a dataset of
    fewer than SUBJECTIVE_MIN_CONTENTS contents."""
    groups = np.asarray(groups, dtype=str)
    names, counts = np.unique(groups, return_counts=True)
    out = []
    small = [(str(n), int(c)) for n, c in zip(names, counts) if c < T.SUBJECTIVE_MIN_CLIPS_PER_CONTENT]
    if small:
        listed = ", ".join(f"{n} ({c})" for n, c in small[:10]) + (" ..." if len(small) > 10 else "")
        out.append(
            f"{len(small)} content group(s) have fewer than {T.SUBJECTIVE_MIN_CLIPS_PER_CONTENT} clips: {listed}; "
            "their held-out folds say little and their conformal quantiles are coarse"
        )
    if names.size < T.SUBJECTIVE_MIN_CONTENTS:
        out.append(
            f"only {names.size} contents (< {T.SUBJECTIVE_MIN_CONTENTS}): the intervals over contents are wide, "
            "the conformal interval's source level is low, and the gate cannot pass"
        )
    return out
