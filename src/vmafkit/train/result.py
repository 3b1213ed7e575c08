"""`TrainResult`: what `vmafkit.train_loso` returns (no torch here, so the API imports light)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TrainResult(Sequence[Path]):
    """What `vmafkit.train_loso` returns: the LOSO folder, the seeds trained and their reports.
    `vmafkit.gate` and `vmafkit.write_verdict` take it in place of the folder, with its seeds.
    As a sequence it is the report paths (what `train_loso` returned before 0.4)."""

    loso_dir: Path
    seeds: tuple[int, ...]
    reports: tuple[Path, ...]

    def __len__(self) -> int:
        return len(self.reports)

    def __getitem__(self, index):
        return self.reports[index]

    def to_json(self) -> dict[str, Any]:
        return {"loso_dir": str(self.loso_dir), "seeds": list(self.seeds), "reports": [str(p) for p in self.reports]}
