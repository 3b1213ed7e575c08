"""What scale a subjective score is on, so every output says what a prediction means.

A model trained on subjective scores predicts on *their* scale: a MOS of 1-5 (higher is better),
a DMOS of 0-100 (higher is worse), a MOS mapped to 0-100, ... The scale is recorded in the report,
in the seed reports (`target`) and would be in an export's sidecars, so nobody reads a MOS of 4.2
as a VMAF of 4.2. Scores outside a named scale's range are refused (exit 2, naming file:line).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from vmafkit.errors import InputError


@dataclass(frozen=True)
class Scale:
    name: str
    low: float | None  # None: not declared (the observed range is recorded instead)
    high: float | None
    higher_is_better: bool | None
    description: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def declared(self) -> bool:
        return self.low is not None and self.high is not None

    def check(self, value: float, where: str) -> None:
        if self.declared and not (self.low - 1e-12 <= value <= self.high + 1e-12):  # type: ignore[operator]
            raise InputError(
                f"{where}: score {value!r} is outside the {self.name} scale [{self.low:g}, {self.high:g}] "
                "(--score-scale names the scale the scores are on)"
            )

    def clip(self, values):
        """Predictions clipped to the declared range (libvmaf clips its score the same way); unchanged
        when the scale is not declared."""
        import numpy as np

        if not self.declared:
            return np.asarray(values, dtype=np.float64)
        return np.clip(np.asarray(values, dtype=np.float64), self.low, self.high)


SCALES: dict[str, Scale] = {
    "mos-1-5": Scale("mos-1-5", 1.0, 5.0, True, "mean opinion score, ACR 1 (bad) .. 5 (excellent)"),
    "mos-0-100": Scale("mos-0-100", 0.0, 100.0, True, "mean opinion score on a 0-100 continuous scale"),
    "dmos-0-100": Scale(
        "dmos-0-100", 0.0, 100.0, False, "differential MOS 0-100 (0 = same as reference; higher is worse)"
    ),
    "dmos-0-5": Scale("dmos-0-5", 0.0, 5.0, False, "differential MOS 0-5 (higher is worse)"),
}
SCALE_NAMES = tuple(SCALES)
UNSPECIFIED = "unspecified"


def resolve_scale(
    name: str | None,
    scores: Sequence[float] = (),
    *,
    value_range: tuple[float, float] | None = None,
    higher_is_better: bool | None = None,
) -> Scale:
    """The Scale for a `--score-scale` name; `value_range` overrides (or, with no name, declares) the
    range. No name and no range: 'unspecified', with the observed range recorded and nothing
    refused or clipped."""
    if value_range is not None:
        low, high = (float(v) for v in value_range)
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise InputError(f"--score-scale-range {low:g},{high:g}: need two finite numbers LOW < HIGH")
    if name is not None and name != UNSPECIFIED:
        if name not in SCALES:
            raise InputError(
                f"--score-scale {name!r} is not one of {', '.join(SCALE_NAMES)} (or use --score-scale-range LO,HI)"
            )
        base = SCALES[name]
        if value_range is None and higher_is_better is None:
            return base
        return Scale(
            base.name if value_range is None else f"{base.name} [{value_range[0]:g},{value_range[1]:g}]",
            value_range[0] if value_range else base.low,
            value_range[1] if value_range else base.high,
            base.higher_is_better if higher_is_better is None else higher_is_better,
            base.description,
        )
    if value_range is not None:
        return Scale(
            f"custom [{value_range[0]:g},{value_range[1]:g}]",
            float(value_range[0]),
            float(value_range[1]),
            higher_is_better,
            "a scale declared by --score-scale-range",
        )
    observed = [float(s) for s in scores]
    text = (
        f"not declared (--score-scale); observed scores {min(observed):g}..{max(observed):g}"
        if observed
        else "not declared (--score-scale)"
    )
    return Scale(UNSPECIFIED, None, None, higher_is_better, text)
