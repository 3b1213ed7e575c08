"""`Items`: one row per clip — the features, the subjective target and the content group.

Both entry points of `vmafkit subjective train` end here: the video dataset (libvmaf's
canonical-6, pooled per clip, plus libvmaf's own v0.6.1 score of the clip) and the feature table
(whatever columns the user names). Everything after this (folds, models, statistics) reads only
`Items`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vmafkit.corpus.schema import CANONICAL6
from vmafkit.errors import InputError


@dataclass
class Items:
    ids: list[str]  # one name per item (the distorted clip, or the table's row id)
    features: np.ndarray  # [n, k] float64
    feature_names: tuple[str, ...]
    target: np.ndarray  # [n] float64: the subjective score
    groups: np.ndarray  # [n] str: the content (a LOCO fold)
    vmaf: np.ndarray | None = None  # [n]: libvmaf's stock v0.6.1 score of the clip (videos only)
    score_std: np.ndarray | None = None  # [n] or None
    n_obs: np.ndarray | None = None  # [n] or None
    source: dict[str, Any] = field(default_factory=dict)  # where the items came from (file, sha256, kind)
    pooling: str | None = None  # how per-frame features became one row (videos only)

    def __len__(self) -> int:
        return int(self.target.shape[0])

    @property
    def contents(self) -> list[str]:
        return sorted(set(self.groups.tolist()))

    @property
    def canonical(self) -> bool:
        """The features are exactly libvmaf's canonical-6, in the canonical order."""
        return tuple(self.feature_names) == CANONICAL6

    def check(self) -> Items:
        n = len(self)
        if n == 0:
            raise InputError("no items to train on", path=self.source.get("path"))
        if self.features.shape != (n, len(self.feature_names)):
            raise InputError(f"features are {list(self.features.shape)}, expected [{n}, {len(self.feature_names)}]")
        if len(self.ids) != n or self.groups.shape != (n,):
            raise InputError("ids, groups and targets differ in length")
        for name, arr in (("features", self.features), ("target", self.target), ("vmaf", self.vmaf)):
            if arr is not None and not np.all(np.isfinite(arr)):
                raise InputError(f"{name} hold NaN or infinite values", path=self.source.get("path"))
        return self
