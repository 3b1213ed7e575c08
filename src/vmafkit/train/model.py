"""FRRegressor: the seed's model, 20 -> 64 -> 64 -> 1 with GELU and dropout 0.1."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from .features import INPUT_WIDTH


@dataclass(frozen=True)
class Recipe:
    """The training recipe (the original kit's defaults)."""

    epochs: int = 200
    batch_size: int = 32
    lr: float = 5e-4
    weight_decay: float = 1e-5
    hidden: int = 64
    dropout: float = 0.1

    def to_json(self) -> dict:
        return asdict(self)


class FRRegressor(nn.Module):
    """One ensemble member. Input: standardised canonical-6 (6) + codec block (14)."""

    def __init__(self, hidden: int = 64, dropout: float = 0.1, in_features: int = INPUT_WIDTH):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_features, hidden), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)
