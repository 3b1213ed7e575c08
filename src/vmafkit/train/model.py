"""FRRegressor: the seed's model, 20 -> 64 -> 64 -> 1 with GELU and dropout 0.1."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from vmafkit.train.features import INPUT_WIDTH


@dataclass(frozen=True)
class Recipe:
    """The training recipe: FRRegressor 20-64-64-1 with these fields, plus `label_mask_rate`, the
    probability that a training row's encoder, preset and cq labels are each replaced by "not
    given" (`features.mask_labels`). 0 is the `seed` recipe (`--recipe seed`: labels never masked,
    the recipe vmafkit started from)."""

    epochs: int = 200
    batch_size: int = 32
    lr: float = 5e-4
    weight_decay: float = 1e-5
    hidden: int = 64
    dropout: float = 0.1
    label_mask_rate: float = 0.5

    def to_json(self) -> dict:
        return asdict(self)

    @property
    def name(self) -> str:
        """ "robust" when labels are masked in training (the default), "seed" when not."""
        return "robust" if self.label_mask_rate > 0 else "seed"

    @property
    def label_free(self) -> bool:
        """Whether a model of this recipe was trained to answer without encoder/preset/cq."""
        return self.label_mask_rate > 0

    @classmethod
    def named(cls, name: str, **overrides) -> Recipe:
        """`Recipe.named("robust")` (the default) or `Recipe.named("seed")` (labels never masked),
        with any field overridden."""
        if name not in RECIPE_NAMES:
            raise ValueError(f"unknown recipe {name!r} (choose {', '.join(RECIPE_NAMES)})")
        return cls(**{"label_mask_rate": 0.5 if name == "robust" else 0.0, **overrides})

    @classmethod
    def from_json(cls, data: dict) -> Recipe:
        """The recipe a report or verdict recorded. Fields it lacks take this vmafkit's defaults,
        except `label_mask_rate`: a record without it predates label masking (the seed recipe)."""
        known = {k: data[k] for k in asdict(cls()) if k in data}
        known.setdefault("label_mask_rate", 0.0)
        return cls(**known)


RECIPE_NAMES = ("robust", "seed")


class FRRegressor(nn.Module):
    """One ensemble member. Input: standardised canonical-6 (6) + codec block (14)."""

    def __init__(self, hidden: int = 64, dropout: float = 0.1, in_features: int = INPUT_WIDTH):
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
