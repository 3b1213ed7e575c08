"""What `vmafkit.export`, `registry_flip` and `registry_rollback` return: typed results (see
`vmafkit.results`)."""

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


@dataclasses.dataclass(frozen=True, eq=False)
class RegistryChange(JsonResult):
    """A registry flip or rollback: its `action` ("flip", "rollback", or "noop" when every selected
    row already was where the rollback puts it), the row `ids` it changed, and `who`, `when` and
    `why` (`to_json()`: the history entry appended to registry_history.jsonl, rows' previous state
    included)."""

    action: str
    ids: list[str]
    who: str
    when: str
    why: str
    _json: dict[str, Any] = dataclasses.field(repr=False)

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> RegistryChange:
        words = {key: str(entry[key]) for key in ("action", "who", "when", "why")}
        return cls(ids=[str(i) for i in entry["ids"]], _json=dict(entry), **words)
