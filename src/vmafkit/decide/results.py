"""What `vmafkit.gate` and `vmafkit.write_verdict` return: typed results (see `vmafkit.results`)."""

from __future__ import annotations

import copy
import dataclasses
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from vmafkit.results import JsonResult


@dataclasses.dataclass(frozen=True, eq=False)
class GateResult(JsonResult):
    """The production gate over a LOSO folder: `passed`, the numbers it decided on, and every check
    (`to_json()`: what `vmafkit gate --json` prints)."""

    passed: bool
    mean_plcc: float
    plcc_spread: float
    per_seed_plccs: dict[str, float]
    failing_seeds: list[int]
    _json: dict[str, Any] = dataclasses.field(repr=False)

    @classmethod
    def from_json(cls, gate: Mapping[str, Any]) -> GateResult:
        return cls(
            passed=bool(gate["passed"]),
            mean_plcc=float(gate["mean_plcc"]),
            plcc_spread=float(gate["plcc_spread"]),
            per_seed_plccs={str(k): float(v) for k, v in gate["per_seed_plccs"].items()},
            failing_seeds=[int(s) for s in gate["failing_seeds"]],
            _json=dict(gate),
        )


@dataclasses.dataclass(frozen=True, eq=False)
class VerdictResult:
    """A verdict written: `verdict` ("PROMOTE" or "HOLD"), the file `path`, its `recommendation`
    (`to_json()`: the verdict file's content, `result["gate"]` reads it). Unpacking it as
    `(verdict_dict, path)`, the return of 0.1, still works until 0.3, with a DeprecationWarning."""

    verdict: str
    path: Path
    recommendation: str
    _json: dict[str, Any] = dataclasses.field(repr=False)

    @property
    def promoted(self) -> bool:
        return self.verdict == "PROMOTE"

    @classmethod
    def from_json(cls, verdict: Mapping[str, Any], path: Path) -> VerdictResult:
        return cls(
            verdict=str(verdict["verdict"]),
            path=Path(path),
            recommendation=str(verdict.get("recommendation", "")),
            _json=dict(verdict),
        )

    def to_json(self) -> dict[str, Any]:
        return copy.deepcopy(self._json)

    def __getitem__(self, key: str) -> Any:
        return self._json[key]

    def __iter__(self) -> Iterator[Any]:
        """`verdict, path = write_verdict(...)` (0.1's tuple): deprecated."""
        warnings.warn(
            "unpacking write_verdict()'s result as (verdict, path) is deprecated: use .verdict / .path / "
            ".to_json() (removed in 0.3)",
            DeprecationWarning,
            stacklevel=2,
        )
        return iter((self.to_json(), self.path))
