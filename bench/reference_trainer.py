"""The plain reference trainer: one member at a time, a torch DataLoader loop, nn.Module + autograd
+ torch.optim.Adam. Kept deliberately straightforward; `bench/train.py` compares vmafkit's
batched trainer (`vmafkit.train.ensemble.fit_members`) with it.

Same recipe and semantics as the batched trainer: `torch.manual_seed(seed)` then `FRRegressor()`
(identical initial weights), every epoch a fresh permutation from a generator seeded with the
member's seed, batches of `batch_size` with the partial last batch kept (drop_last=False), MSE
(batch mean), Adam(lr, weight_decay as L2), nn.Dropout driven by torch's global RNG (seeded with the
member's seed). Dropout masks therefore differ from the batched trainer's (its own per-member
stream), so the two agree statistically (PLCC), not bit for bit.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler, TensorDataset

from vmafkit.train.model import FRRegressor
from vmafkit.train.recipe import Recipe


class EpochPermutation(Sampler):
    """shuffle=True with an explicit generator: a fresh torch.randperm each epoch."""

    def __init__(self, n: int, generator: torch.Generator):
        self.n = n
        self.generator = generator

    def __iter__(self):
        return iter(torch.randperm(self.n, generator=self.generator).tolist())

    def __len__(self) -> int:
        return self.n


def fit_one(x: np.ndarray, y: np.ndarray, seed: int, recipe: Recipe = Recipe()) -> FRRegressor:
    torch.manual_seed(seed)
    model = FRRegressor(hidden=recipe.hidden, dropout=recipe.dropout)
    data = TensorDataset(
        torch.from_numpy(np.asarray(x, dtype=np.float32)), torch.from_numpy(np.asarray(y, dtype=np.float32))
    )
    loader = DataLoader(
        data, batch_size=recipe.batch_size, sampler=EpochPermutation(len(data), torch.Generator().manual_seed(seed))
    )
    opt = torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    loss_fn = torch.nn.MSELoss()
    model.train()
    for _ in range(recipe.epochs):
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
    return model.eval()


def predict(model: FRRegressor, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(np.asarray(x, dtype=np.float32))).numpy()
