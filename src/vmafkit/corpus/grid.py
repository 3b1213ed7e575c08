"""The grid a corpus covers: which encoders, cqs and presets encode each reference clip, and at
which ladder rungs (`--encoders`, `--cqs`, `--presets`, `--resolutions`). `vmafkit corpus` and
`run` parse their flags into a Grid, the API's `build_corpus` and `run` take one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from vmafkit.errors import InputError
from vmafkit.media.encoders import DEFAULT_CQS, DEFAULT_PRESETS
from vmafkit.validation import check_fields, parse_heights

AUTO = "auto"  # this platform's default encoders that pass their 1-frame probe


@dataclasses.dataclass(frozen=True, kw_only=True)
class Grid:
    """`encoders`: names, a comma-separated string, or "auto" (`vmafkit run`'s default);
    `cqs` and `presets` each cell's quality and speed settings; `resolutions`: the ladder's rung
    heights (e.g. (1080, 720) or "1080,720"), each cell encoded at every rung and scored scaled back
    to the source's size; () is no ladder. The encoders and cqs are checked against each other
    (each encoder's cq range) when the corpus is planned."""

    encoders: Sequence[str] | str = ("libx264",)
    cqs: Sequence[int] = DEFAULT_CQS
    presets: Sequence[str] = DEFAULT_PRESETS
    resolutions: Sequence[int] | str = ()

    def __post_init__(self) -> None:
        check_fields(self)
        encoders = self.encoders
        if isinstance(encoders, str) and encoders.strip() != AUTO:
            encoders = tuple(name.strip() for name in encoders.split(",") if name.strip())
        elif not isinstance(encoders, str):
            encoders = tuple(encoders)
        else:
            encoders = AUTO
        if not encoders:
            raise InputError("Grid(): encoders is empty (--encoders: give names, or auto)")
        if not self.cqs:
            raise InputError("Grid(): cqs is empty (--cqs: give cq values)")
        if not self.presets:
            raise InputError("Grid(): presets is empty (--presets: give preset names)")
        object.__setattr__(self, "encoders", encoders)
        object.__setattr__(self, "cqs", tuple(self.cqs))
        object.__setattr__(self, "presets", tuple(self.presets))
        object.__setattr__(self, "resolutions", parse_heights(self.resolutions) if self.resolutions else ())

    @property
    def auto_encoders(self) -> bool:
        return self.encoders == AUTO

    @property
    def heights(self) -> tuple[int, ...]:
        return tuple(int(h) for h in self.resolutions)
