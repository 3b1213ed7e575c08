"""The base of the typed results the API returns (`GateResult`, `VerdictResult`, `ExportResult`).

A result is a frozen dataclass whose fields are what a caller decides on (`passed`, `verdict`,
`path`, ...), and whose `to_json()` is exactly what the command prints with `--json`. It also reads
as that JSON (`result["mean_plcc"]`), so code written against the dicts of 0.1 keeps working.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any


class JsonResult(Mapping[str, Any]):
    """Mapping access over `to_json()`; subclasses are dataclasses holding the JSON in `_json`."""

    _json: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The command's `--json` output (a copy: editing it changes nothing here)."""
        return copy.deepcopy(self._json)

    def __getitem__(self, key: str) -> Any:
        return self._json[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._json)

    def __len__(self) -> int:
        return len(self._json)
