"""The training recipe and the default ensemble seeds: the one place that holds their defaults.

The CLI options, `vmafkit run`, the subjective trainer and the benches take their defaults from
here. No torch: the CLI reads these values when it starts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

# Default ensemble members: five seeds, 0..4.
DEFAULT_SEEDS = (0, 1, 2, 3, 4)


@dataclass(frozen=True)
class Recipe:
    """The training recipe: the original kit's, plus `label_mask_rate`, the probability that a
    training row's encoder, preset and cq labels are each replaced by "not given"
    (`features.mask_labels`). 0 is the seed kit's exact recipe (`--recipe seed`)."""

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
        """`Recipe.named("robust")` (the default) or `Recipe.named("seed")` (the seed kit's exact
        recipe: labels never masked), with any field overridden."""
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


@dataclass(frozen=True, kw_only=True)
class Training:
    """The training options the commands share (`--recipe`, `--epochs`, `--batch-size`, `--lr`,
    `--weight-decay`), as `vmafkit train`, `run` and the API take them: a named recipe and the
    fields that override it (None: the recipe's own value). `.recipe()` is the Recipe they give."""

    recipe: str = "robust"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    weight_decay: float | None = None

    def __post_init__(self) -> None:
        from vmafkit.errors import InputError
        from vmafkit.validation import check_fields

        check_fields(self)
        if self.recipe not in RECIPE_NAMES:
            raise InputError(f"Training(): recipe must be one of {', '.join(RECIPE_NAMES)}, got {self.recipe!r}")

    def overrides(self) -> dict[str, int | float]:
        """The fields given (not None), as Recipe keywords."""
        given = {"epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr, "weight_decay": self.weight_decay}
        return {name: value for name, value in given.items() if value is not None}

    def to_recipe(self) -> Recipe:
        return Recipe.named(self.recipe, **self.overrides())


SUBJECTIVE_TRAINING = Training(recipe="seed")  # subjective scores: no codec labels to mask
