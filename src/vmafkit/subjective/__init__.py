"""Deprecated home of the subjective target (0.1): it now lives in the stages.

The subjective slice was dealt into the pipeline's stages in 0.2: its data beside the corpus
(`corpus.subjective_*`), its models and folds in `train/`, its gate, interval, evidence and
verdict in `decide/`, its member definition in `serve/`, its table in `report/`, and the job in
`pipeline.subjective`. The four names this package exported keep working until 0.3, with a
DeprecationWarning naming their new home.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

_MOVED = {
    "Items": "vmafkit.corpus.subjective_items",
    "SubjectiveResult": "vmafkit.pipeline.subjective",
    "train_from_dataset": "vmafkit.pipeline.subjective",
    "train_from_table": "vmafkit.pipeline.subjective",
}

__all__ = sorted(_MOVED)


def __getattr__(name: str) -> Any:
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    home = _MOVED[name]
    warnings.warn(
        f"vmafkit.subjective.{name} moved to {home}.{name}; the old path goes in 0.3",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(home), name)
