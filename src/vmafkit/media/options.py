"""How a pair is read and how it is scored: the option objects the scoring entry points take.

`RawGeometry` describes raw `.yuv` inputs whose names do not say their size (`--width`, `--height`,
`--pix-fmt`, `--fps`); `Scoring` is the libvmaf choice (`--model`, `--metrics`, `--subsample`) and
the size the pair is scored at (`--scale`, `--resolution`). `vmafkit score`, `corpus`, `run` and
`predict` parse their flags into these objects and hand them to the API function of the same
name, so an option is spelled, typed and checked in one place. Each object checks itself when made
(one InputError naming the class and the field) and normalises the spellings the command line
uses: `metrics="psnr,ssim"` and `resolution="1280x720"` become tuples. `DatasetScoring` is how
`subjective train --dataset` scores its pairs (`--jobs`, `--max-frames`, `--ffmpeg`, `--vmaf-bin`,
`--cache-dir`, `--scale`, `--align`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vmafkit.media import libvmaf
from vmafkit.media.ffmpeg import check_scale_filter
from vmafkit.validation import check_fields, parse_size


@dataclasses.dataclass(frozen=True, kw_only=True)
class RawGeometry:
    """Size, pixel format and frame rate of raw inputs (else read from their names)."""

    width: int | None = None
    height: int | None = None
    pix_fmt: str | None = None
    fps: float | None = None

    def __post_init__(self) -> None:
        check_fields(self)

    def as_kwargs(self) -> dict[str, Any]:
        """The stage functions' keywords (`media.score.score_pair`, `media.sources.describe_source`)."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Scoring:
    """The libvmaf model, extra metrics, frame subsampling, and the size the pair is scored at:
    `scale` (an ffmpeg scale algorithm) upscales a smaller distorted clip to the reference's size,
    `resolution` ("WxH" or (W, H)) scales both to that size."""

    vmaf_model: str | None = None  # None: libvmaf.DEFAULT_MODEL, or for predict the ensemble's own
    metrics: Sequence[str] | str = ()
    subsample: int = 1
    scale: str | None = None
    resolution: Sequence[int] | str | None = None
    hdr_as_sdr: bool = False  # score a clip tagged PQ or HLG with these SDR models anyway

    def __post_init__(self) -> None:
        check_fields(self)
        if self.vmaf_model is not None:
            libvmaf.get_model(self.vmaf_model)
        libvmaf.check_subsample(self.subsample)
        if self.scale is not None:
            check_scale_filter(self.scale)
        object.__setattr__(self, "metrics", libvmaf.parse_metrics(self.metrics))
        if self.resolution is not None:
            object.__setattr__(self, "resolution", parse_size(self.resolution))

    @property
    def size(self) -> tuple[int, int] | None:
        """`resolution` as (width, height), or None."""
        return None if self.resolution is None else (int(self.resolution[0]), int(self.resolution[1]))

    @property
    def is_default(self) -> bool:
        return self == Scoring()

    def as_kwargs(self) -> dict[str, Any]:
        """The stage functions' keywords (`media.score.score_pair`, `corpus.build.build_corpus`)."""
        chosen = {"vmaf_model": self.vmaf_model} if self.vmaf_model is not None else {}
        return {
            **chosen,
            "metrics": tuple(self.metrics),
            "subsample": self.subsample,
            "scale": self.scale,
            "resolution": self.size,
            # only when chosen: a run folder's fingerprint of its scoring stays what it was
            **({"hdr_as_sdr": True} if self.hdr_as_sdr else {}),
        }


@dataclasses.dataclass(frozen=True, kw_only=True)
class DatasetScoring:
    """How `subjective_train(dataset=...)` scores the dataset's pairs with libvmaf: `jobs` pairs at
    once, at most `max_frames` frames each, with this `ffmpeg` (or the standalone `vmaf_bin`), the
    scored pairs cached in `cache_dir` (default OUT/.vmafkit-cache/pairs), a distorted clip of
    another size upscaled with `scale` (an ffmpeg scale algorithm), and the frames paired at the
    offset `align` says ("auto": searched per pair, an int: forced for every pair, None or "off":
    frame by frame; `media.align`). Every field goes with --dataset only."""

    jobs: int | None = None
    max_frames: int | None = None
    ffmpeg: str | None = None
    vmaf_bin: str | None = None
    cache_dir: str | Path | None = None
    scale: str | None = None
    align: str | int | None = None

    def __post_init__(self) -> None:
        from vmafkit.media.align import parse_align

        check_fields(self)
        if self.scale is not None:
            check_scale_filter(self.scale)
        object.__setattr__(self, "align", parse_align(self.align))  # "off" -> None, "3" -> 3

    @property
    def given(self) -> list[str]:
        """The fields set (not None), in order: the flags that go with --dataset only."""
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name) is not None]

    def as_kwargs(self) -> dict[str, Any]:
        """The stage function's keywords (`pipeline.subjective.train_from_dataset`)."""
        chosen = dataclasses.asdict(self)
        chosen["scale_filter"] = chosen.pop("scale")
        return chosen
