"""A loaded models folder: `vmafkit.load(MODELS)` returns an `Ensemble` whose `predict(...)` reuses
its onnxruntime session, whatever the target (VMAF or subjective scores).

    ens = vmafkit.load("OUT/models")
    ens.target_kind, ens.feature_order, ens.domain, ens.interval(0.95)
    result = ens.predict(features=rows, encoder="libx264", preset="medium")   # or ref=..., dis=...
    result.clips[0]["score"], result.to_json()

The registry is read (and validated) once, when loading; every `predict` runs the members already
loaded. Options are keyword-only, as in scikit-learn; a bad input raises `InputError` (exit 2 on
the command line), a refusal `RefusedError`. `vmafkit predict` and `vmafkit rd --models` use this.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vmafkit import thresholds as T
from vmafkit.errors import InputError
from vmafkit.media.options import RawGeometry, Scoring
from vmafkit.serve import predict as vmaf_predict
from vmafkit.serve import subjective_predict
from vmafkit.serve.subjective_members import MEMBER_KIND as SUBJECTIVE_MEMBER_KIND


@dataclass(frozen=True)
class Prediction:
    """What `Ensemble.predict` returns: per-clip (and, for VMAF, per-frame) scores with intervals,
    the notes a user should read, and `to_json()`: the JSON `vmafkit predict --json` writes."""

    clips: list[dict[str, Any]]
    frames: list[dict[str, Any]]
    notes: list[str]
    interval: dict[str, Any]
    mode: str
    payload: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> Prediction:
        return cls(
            clips=list(payload.get("clips") or []),
            frames=list(payload.get("frames") or []),
            notes=list(payload.get("notes") or []),
            interval=dict(payload.get("interval") or {}),
            mode=str(payload.get("mode", "")),
            payload=payload,
        )

    def to_json(self) -> dict[str, Any]:
        return self.payload


class Ensemble:
    """An exported ensemble, loaded: its members' merged graph (one session, built on the first
    prediction and kept), its feature set, training domain and calibration."""

    def __init__(self, loaded: vmaf_predict.LoadedEnsemble | subjective_predict.LoadedSubjective, registry: Path):
        self._loaded = loaded
        self.registry = registry

    def __repr__(self) -> str:
        return (
            f"Ensemble({self.model_id!r}, target={self.target_kind!r}, mode={self.mode!r}, seeds={self.seeds}, "
            f"registry={str(self.registry)!r})"
        )

    @property
    def model_id(self) -> str:
        return self._loaded.model_id

    @property
    def mode(self) -> str:
        """ "ensemble" (flipped to production) or "smoke-single-member" (exported, not flipped)."""
        return self._loaded.mode

    @property
    def seeds(self) -> list[int]:
        return list(self._loaded.seeds)

    @property
    def target_kind(self) -> str:
        """ "vmaf" (trained on libvmaf's score) or "subjective" (on people's scores)."""
        return self._loaded.target_kind

    @property
    def feature_order(self) -> list[str]:
        """The feature columns each row must carry, in the model's order (its feature set)."""
        return list(self._loaded.feature_order)

    @property
    def domain(self) -> dict[str, Any]:
        """What the ensemble was trained on; rows outside it are refused (`allow_out_of_domain`)."""
        return dict(self._loaded.domain)

    @property
    def calibration(self) -> dict[str, Any] | None:
        return self._loaded.calibration

    @property
    def notes(self) -> list[str]:
        """What loading found worth saying (e.g. a smoke registry served by one member)."""
        return list(self._loaded.notes)

    def interval(self, coverage: float = T.DEFAULT_COVERAGE) -> dict[str, Any]:
        """The calibrated interval's multipliers at `coverage`: {coverage, frame, clip, source_level}
        for a VMAF ensemble (a row's half-width is the multiplier times its scale), {coverage, clip,
        source_level} for a subjective one; None values when uncalibrated."""
        if not 0.0 < coverage < 1.0:
            raise InputError(f"coverage must be in (0, 1), got {coverage}")
        return self._loaded.interval(coverage)

    def predict(
        self,
        features: str | Path | Sequence[Mapping[str, Any]] | None = None,
        *,
        ref: str | Path | None = None,
        dis: str | Path | None = None,
        encoder: str | None = None,
        preset: str | None = None,
        cq: float | None = None,
        coverage: float = T.DEFAULT_COVERAGE,
        allow_out_of_domain: bool = False,
        with_frames: bool = True,
        clip: str | None = None,
        geometry: RawGeometry = RawGeometry(),
        scoring: Scoring = Scoring(),
        max_frames: int | None = None,
        ffmpeg: str | None = None,
        align: str | int | None = None,
    ) -> Prediction:
        """Predict `features` (a JSON-lines file or rows holding `feature_order`), or the pair
        `ref`/`dis` (scored with libvmaf first; `geometry`, `scoring`, `max_frames`, `ffmpeg` and
        `align` are `vmafkit.score`'s, and the libvmaf model is the ensemble's own unless `scoring`
        names it).
        `encoder`/`preset`/`cq` label the rows (a VMAF ensemble only). Rows outside the domain
        raise InputError unless `allow_out_of_domain` (then they are marked and get no interval)."""
        if features is not None and (ref is not None or dis is not None):
            raise InputError("give either features or ref and dis, not both")
        if features is None and (ref is None or dis is None):
            raise InputError("give either features or both ref and dis")
        score_options = {**geometry.as_kwargs(), **scoring.as_kwargs(), "max_frames": max_frames, "ffmpeg": ffmpeg}
        if align is not None:
            score_options["align"] = align
        if features is not None and (
            geometry != RawGeometry() or not scoring.is_default or max_frames or ffmpeg or align is not None
        ):
            raise InputError(
                "geometry, scoring, max_frames, ffmpeg and align are how ref and dis are scored: give ref and dis"
            )
        request = vmaf_predict.ServeRequest(
            features=features,
            ref=ref,
            dis=dis,
            labels={"encoder": encoder, "preset": preset, "cq": cq},
            coverage=coverage,
            allow_out_of_domain=allow_out_of_domain,
            with_frames=with_frames,
            clip=clip,
            score_options=score_options,
        )
        payload = self._loaded.serve(request)
        return Prediction.from_json(payload)


def load(models: str | Path, *, model_id: str | None = None, threads: int = 2) -> Ensemble:
    """The ensemble `model_id` (or the registry's only one) of the models folder MODELS (or its
    registry.json), validated and ready to predict; InputError naming the file otherwise."""
    model_id, rows, registry_path = vmaf_predict.registry_rows(Path(models), model_id)
    if any(r["kind"] == SUBJECTIVE_MEMBER_KIND for r in rows):
        loaded: vmaf_predict.LoadedEnsemble | subjective_predict.LoadedSubjective = (
            subjective_predict.subjective_from_rows(model_id, rows, registry_path)
        )
    else:
        loaded = vmaf_predict.ensemble_from_rows(model_id, rows, registry_path, threads=threads)
    return Ensemble(loaded, registry_path)
