"""What `vmafkit.export` returns: a typed result (see `vmafkit.results`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vmafkit.results import JsonResult


@dataclasses.dataclass(frozen=True, eq=False)
class ExportResult(JsonResult):
    """An ensemble exported: its `model_id`, `seeds`, the models folder `out_dir` and its `registry`,
    the files written (`to_json()`: what `vmafkit export --json` prints, parity and evidence checks
    included)."""

    model_id: str
    seeds: list[int]
    out_dir: Path
    registry: Path
    files: list[Path]
    _json: dict[str, Any] = dataclasses.field(repr=False)

    @classmethod
    def from_json(cls, summary: Mapping[str, Any]) -> ExportResult:
        return cls(
            model_id=str(summary["id"]),
            seeds=[int(s) for s in summary["seeds"]],
            out_dir=Path(summary["out_dir"]),
            registry=Path(summary["registry"]),
            files=[Path(p) for p in summary["files"]],
            _json=dict(summary),
        )
