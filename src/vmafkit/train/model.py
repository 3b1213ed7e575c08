"""FRRegressor: the seed's model, 20 -> 64 -> 64 -> 1 with GELU and dropout 0.1. Its training
recipe (`Recipe`) and the default seeds live in `recipe.py`, which needs no torch."""

from __future__ import annotations

import torch
from torch import nn

from vmafkit.train.features import INPUT_WIDTH
from vmafkit.train.recipe import DEFAULT_SEEDS, RECIPE_NAMES, Recipe

__all__ = ["DEFAULT_SEEDS", "FRRegressor", "RECIPE_NAMES", "Recipe"]

_DEFAULT = Recipe()


class FRRegressor(nn.Module):
    """One ensemble member. Input: standardised canonical-6 (6) + codec block (14)."""

    def __init__(
        self, hidden: int = _DEFAULT.hidden, dropout: float = _DEFAULT.dropout, in_features: int = INPUT_WIDTH
    ):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_features, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)
