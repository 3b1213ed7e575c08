"""Predictions of an exported subjective ensemble (`vmafkit predict` on a registry whose members are
`serve.subjective_members.MEMBER_KIND`), with the interval calibrated on its held-out residuals.

Input: rows holding the model's feature columns by name (the sidecar's `feature_order`), from
a JSON lines or a CSV file (`--features`), or libvmaf's canonical-6 per frame of a scored pair
(`--ref/--dis`, for a model trained on them). A missing, non-numeric or non-finite value is an
InputError (exit 2) naming FILE:LINE.

Pooling: a subjective model was trained on one row per clip (a `--dataset` clip's features are the
mean over its frames). Rows sharing a clip id (their key `clip`, else `id`) are pooled by the mean
of their features, as training pooled frames, and that clip is predicted once; a row without a
clip id is a clip of its own. A clip's score is the mean of the members' scores, clipped to the
scale's range when the scale declares one (MOS 1-5, ...), and its interval [score - h, score + h]
(clipped the same way) has the half-width of the held-out per-content residuals at the requested
coverage (`decide.subjective_interval.half_width`: the guarantee is about a new content).

The training domain is the items' feature ranges (`train.domain.feature_domain`): a clip whose
pooled features lie outside them (beyond the margin) is refused, naming its first row's FILE:LINE,
unless `allow_out_of_domain` (then it is scored, marked `in_domain: false`, without an interval).

As for a VMAF ensemble, while any registry row of the ensemble is smoke=true only the lowest seed
runs, with the interval of that member's own held-out residuals (`mode: smoke-single-member`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from vmafkit import thresholds as T
from vmafkit.corpus.subjective_readers import iter_csv, parse_number
from vmafkit.decide.subjective_interval import half_width
from vmafkit.decide.subjective_verdict import KIND as SUBJECTIVE_TARGET
from vmafkit.errors import InputError
from vmafkit.io import iter_json_objects
from vmafkit.serve import subjective_members
from vmafkit.serve.predict import (
    MODE_ENSEMBLE,
    ServeRequest,
    finite_or_none,
    load_members,
    merge_members,
    pair_source,
    served_item,
)

PREDICTION_SCHEMA_VERSION = 1
CLIP_KEYS = ("clip", "id")
POOLING = (
    "rows sharing a clip id (key clip, else id) pooled by the mean of their features, as training pooled a "
    "clip's frames; a row without one is a clip of its own"
)


@dataclass
class LoadedSubjective:
    model_id: str
    mode: str
    seeds: list[int]
    onnx_paths: list[Path]
    feature_order: list[str]
    target: dict[str, Any]  # {kind, scale, ...} of the sidecar
    domain: dict[str, Any]
    calibration: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)
    _session: Any = None

    @property
    def scale(self) -> dict[str, Any]:
        return self.target["scale"]

    def clip_to_scale(self, values):
        low, high = self.scale.get("low"), self.scale.get("high")
        values = np.asarray(values, dtype=np.float64)
        return values if low is None or high is None else np.clip(values, low, high)

    def scores(self, features: np.ndarray) -> np.ndarray:
        """The members' mean [N] (float64) for raw features [N, k] in `feature_order`, unclipped."""
        if self._session is None:
            from vmafkit.serve.onnx_graph import ort_session

            self._session = ort_session(merge_members(self.onnx_paths), threads=1)
        x = np.ascontiguousarray(features, dtype=np.float32)
        return self._session.run([subjective_members.OUTPUT_NAME], {subjective_members.INPUT_NAME: x})[0].astype(
            np.float64
        )

    target_kind: ClassVar[str] = SUBJECTIVE_TARGET

    def interval(self, coverage: float) -> dict[str, Any]:
        """The calibrated interval's half-width at `coverage` (`vmafkit.load(...).interval`)."""
        clip, level = self.half_width(coverage)
        return {"coverage": coverage, "clip": finite_or_none(clip), "source_level": level or None}

    def serve(self, request: ServeRequest) -> dict[str, Any]:
        """The prediction document for the request's rows, or its pair scored first: per clip only
        (`with_frames` and `clip` do not apply), and no codec labels."""
        r = request
        given = [name for name, value in r.labels.items() if value is not None]
        if given:
            raise InputError(
                f"--{'/--'.join(given)}: a subjective ensemble takes no codec labels (it was trained on its "
                "feature columns alone)"
            )
        if r.features is not None:
            rows = read_rows(r.features) if isinstance(r.features, (str, Path)) else list(r.features)
            return predict_rows(self, rows, coverage=r.coverage, allow_out_of_domain=r.allow_out_of_domain)
        assert r.ref is not None and r.dis is not None
        return predict_pair(
            self, r.ref, r.dis, coverage=r.coverage, allow_out_of_domain=r.allow_out_of_domain, **r.score_options
        )

    def half_width(self, coverage: float) -> tuple[float, float]:
        """(half-width, attained content level) at `coverage`; (inf, 0) when uncalibrated."""
        if self.calibration is None:
            return math.inf, 0.0
        part = self.calibration["ensemble"] if self.mode == MODE_ENSEMBLE else self.calibration["single_member"]
        return half_width(part["clip"]["sources"], coverage, self.calibration["source_level"])


def subjective_from_rows(model_id: str, rows: list[dict[str, Any]], registry_path: Path) -> LoadedSubjective:
    """The subjective ensemble of the registry rows `predict.registry_rows` read (read once):
    its members prepared, their sidecars checked to agree."""
    if any(r["kind"] != subjective_members.MEMBER_KIND for r in rows):
        raise InputError(f"ensemble {model_id} is not (only) a subjective ensemble", path=registry_path)
    agree = {key: f"record different {key}" for key in ("feature_order", "target", "domain")}
    members = load_members(model_id, rows, registry_path, agree)
    first = members.sidecars[0]
    return LoadedSubjective(
        **members.loaded_fields(model_id),
        feature_order=list(first["feature_order"]),
        target=dict(first["target"]),
        domain=dict(first["domain"]),
    )


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a JSON lines (.jsonl, .ndjson) or CSV (.csv, a header line) file, each with its
    FILE:LINE under the key `_where`."""
    path = Path(path)
    suffix = path.suffix.lower()
    rows: list[dict[str, Any]] = []
    if suffix == ".csv":
        _, lines = iter_csv(path, what="features file")
        for line, row in lines:
            rows.append({**row, "_where": f"{path}:{line}"})
    elif suffix in (".jsonl", ".ndjson"):
        for line, row in iter_json_objects(path, what="features file"):
            rows.append({**row, "_where": f"{path}:{line}"})
    else:
        raise InputError(
            f"features file of a subjective model must be .jsonl or .csv, not {suffix or 'no suffix'!r}", path=path
        )
    if not rows:
        raise InputError("features file has no rows", path=path)
    return rows


def _clip_name(row: Mapping[str, Any], where: str) -> str | None:
    for key in CLIP_KEYS:
        value = row.get(key)
        if value is None or value == "":
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise InputError(f"{where}: {key} must be a string, got {value!r}")
        return str(value)
    return None


def predict_rows(
    ens: LoadedSubjective,
    rows: Sequence[Mapping[str, Any]],
    *,
    coverage: float = T.DEFAULT_COVERAGE,
    allow_out_of_domain: bool = False,
) -> dict[str, Any]:
    """Per-clip predictions with intervals (module doc); the dict `vmafkit predict --json` writes."""
    from vmafkit.train.domain import describe_features, feature_problems

    if not 0.0 < coverage < 1.0:
        raise InputError(f"--coverage must be in (0, 1), got {coverage}")
    if not rows:
        raise InputError("no feature rows to predict")
    names = ens.feature_order
    matrix = np.empty((len(rows), len(names)), dtype=np.float64)
    clips: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        where = str(row.get("_where", f"row {i + 1}"))
        missing = [name for name in names if name not in row]
        if missing:
            raise InputError(f"{where}: missing feature column {missing[0]!r} (the model reads {', '.join(names)})")
        matrix[i] = [parse_number(row[name], where, name) for name in names]
        clips.setdefault(_clip_name(row, where) or where, []).append(i)
    pooled = np.stack([matrix[members].mean(axis=0) for members in clips.values()])
    firsts = [str(rows[members[0]].get("_where", f"row {members[0] + 1}")) for members in clips.values()]
    problems = feature_problems(ens.domain, names, pooled)
    outside = [c for c, p in enumerate(problems) if p is not None]
    if outside and not allow_out_of_domain:
        c = outside[0]
        name, members = list(clips.items())[c]
        pooled_note = f" (clip {name}: the mean of its {len(members)} rows)" if len(members) > 1 else ""
        raise InputError(
            f"{firsts[c]}: outside the training domain{pooled_note}: {problems[c]} ({len(outside)} of {len(clips)} "
            f"clips outside; {describe_features(ens.domain)}); --allow-out-of-domain serves them marked "
            "in_domain: false"
        )
    scores = ens.clip_to_scale(ens.scores(pooled))
    h, attained = ens.half_width(coverage)
    notes = list(ens.notes)
    if outside:
        notes.append(
            f"{len(outside)} of {len(clips)} clips are outside the training domain: scored, marked "
            "in_domain: false, no interval"
        )
    if not math.isfinite(h):
        notes.append("no calibration for this ensemble: bounds are null")
    clips_out = []
    for c, (name, members) in enumerate(clips.items()):
        inside = problems[c] is None
        lower = upper = None
        if inside and math.isfinite(h):
            lower, upper = (float(v) for v in ens.clip_to_scale([scores[c] - h, scores[c] + h]))
        labels = {"clip": c, "name": name, "where": firsts[c], "n_rows": len(members)}
        clips_out.append(served_item(labels, float(scores[c]), (lower, upper), problems[c]))
    calibrated = math.isfinite(h)
    n_contents = int((ens.calibration or {}).get("summary", {}).get("n_sources", 0))
    return {
        "schema_version": PREDICTION_SCHEMA_VERSION,
        "model": ens.model_id,
        "mode": ens.mode,
        "members": ens.seeds,
        "target": {"kind": ens.target["kind"], "scale": ens.scale},
        "features": names,
        "coverage": float(coverage),
        "pooling": POOLING,
        "interval": {
            "method": (ens.calibration or {}).get("method"),
            "half_width": h if calibrated else None,
            "content_level": attained if calibrated else None,
            "guarantee": _guarantee(coverage, attained, n_contents) if calibrated else None,
            "calibrated_on": "ensemble" if ens.mode == MODE_ENSEMBLE else f"seed {ens.seeds[0]} alone",
        },
        "domain": {"description": describe_features(ens.domain), "n_outside": len(outside)},
        "notes": notes,
        "n_rows": len(rows),
        "clips": clips_out,
    }


def _guarantee(coverage: float, level: float, n_contents: int) -> str:
    return (
        f"with {T.SOURCE_CONFIDENCE:.0%} confidence (a tolerance bound over {n_contents} held-out contents), "
        f"at least {level:.0%} of new contents have at least {coverage:.0%} of their clips inside the interval"
    )


def predict_pair(
    ens: LoadedSubjective,
    ref: str | Path,
    dis: str | Path,
    *,
    coverage: float = T.DEFAULT_COVERAGE,
    allow_out_of_domain: bool = False,
    **score_kwargs: Any,
) -> dict[str, Any]:
    """Score DIS against REF with libvmaf and predict the clip (its frames pooled by their mean):
    for a model whose features are libvmaf's canonical-6, as `subjective train --dataset` trains."""
    from vmafkit.corpus.schema import CANONICAL6
    from vmafkit.media.score import score_pair

    if tuple(ens.feature_order) != CANONICAL6:
        raise InputError(
            f"ensemble {ens.model_id} reads {', '.join(ens.feature_order)}; --ref/--dis give libvmaf's canonical-6 "
            "only: give its feature columns with --features"
        )
    pair = score_pair(ref, dis, **score_kwargs)
    frames = [{**frame, "clip": Path(dis).name, "_where": f"{dis}: frame {i}"} for i, frame in enumerate(pair.frames)]
    result = predict_rows(ens, frames, coverage=coverage, allow_out_of_domain=allow_out_of_domain)
    result["source"] = pair_source(ref, dis, pair)
    return result
