"""Quality predictions from the exported ensemble, with conformal intervals (onnxruntime).

Per frame: the ensemble mean of the members' scores, and [mean - h, mean + h] where h is the
half-width at the requested coverage from the calibration file: per-source quantiles of the LOSO
held-out residuals, then a conformal step across sources (`calibration`), so the interval's
guarantee is about a *new source*. Per clip (the frames sharing (clip, encoder, preset, cq)): the
mean of the per-frame ensemble scores, with a half-width calibrated the same way on the LOSO
*cell-mean* residuals. Scores and bounds are clipped to the model's range ([0, 100]; [0, 110] for
VMAF v1's 4K 3H model).

Nothing is served outside the training domain the sidecars record (`train.domain`): an encoder
name no adapter knows, an untrained encoder, preset or cq, a feature outside the trained range,
features another libvmaf model computed (a row's `vmaf_model`; `predict --ref --dis` scores with
the ensemble's own model), or a non-finite input is an InputError (exit 2) naming the row and the
domain. With
`allow_out_of_domain` such rows are scored but marked `in_domain: false` with the reason, and
get no interval (none was measured there).

While any registry row of the ensemble is smoke=true, only ONE member runs (the lowest seed,
deterministic) and the interval comes from that member's own LOSO residuals; the result says
`"mode": "smoke-single-member"`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from vmafkit import layout
from vmafkit import thresholds as T
from vmafkit.decide.calibration import ABSOLUTE, guarantee_text, row_scales
from vmafkit.decide.calibration import METHOD as CALIBRATION_METHOD
from vmafkit.decide.verdict import VMAF_TARGET
from vmafkit.errors import InputError
from vmafkit.io import iter_json_objects, read_json
from vmafkit.serve.onnx_graph import OUTPUT_NAME
from vmafkit.train.metrics import source_half_width
from vmafkit.validation import CQ_RANGE_OTHER, validate_or_raise

if TYPE_CHECKING:
    from vmafkit.media.score import PairScore

MODE_ENSEMBLE = "ensemble"
SPREAD_NAME = "spread"  # the merged graph's second output: the members' population std
MODE_SMOKE = "smoke-single-member"
PREDICTION_SCHEMA_VERSION = 1
VMAF_RANGE = (0.0, 100.0)
DEFAULT_BATCH = 4096


@dataclass(frozen=True)
class ServeRequest:
    """What `vmafkit.load(...).predict` asks of a loaded ensemble, whatever its target: rows
    (`features`: a file or mappings) or a pair (`ref`, `dis`, scored with `score_options` first),
    the codec `labels` (encoder, preset, cq; None where not given), and how to serve them."""

    features: str | Path | Sequence[Mapping[str, Any]] | None
    ref: str | Path | None
    dis: str | Path | None
    labels: Mapping[str, Any]
    coverage: float
    allow_out_of_domain: bool
    with_frames: bool
    clip: str | None
    score_options: Mapping[str, Any]


@dataclass
class LoadedEnsemble:
    """The members that will run, their shared feature transform and the calibration."""

    model_id: str
    mode: str
    seeds: list[int]
    onnx_paths: list[Path]
    spec: Any  # FeatureSpec
    domain: dict[str, Any]
    calibration: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)
    threads: int = 2
    _session: Any = None

    @property
    def session(self):
        """One onnxruntime session over the merged graph (all members + Mean), 1 intra-op thread:
        parallelism comes from `threads` Python threads each running its own share of batches."""
        if self._session is None:
            from vmafkit.serve.export import ort_session

            self._session = ort_session(merge_members(self.onnx_paths), threads=1)
        return self._session

    def scores(self, features: np.ndarray, codec: np.ndarray) -> np.ndarray:
        """Ensemble mean [N] (float64) for raw canonical-6 [N, 6] and codec block [N, 14]."""
        return run_batched(self.session, features, codec, threads=self.threads).astype(np.float64)

    def scores_and_spread(self, features: np.ndarray, codec: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(ensemble mean, spread) [N] float64: the spread is the members' population std (what a
        normalised calibration scales its intervals by); None for one member."""
        if len(self.onnx_paths) < 2:
            return self.scores(features, codec), None
        out = run_batched(self.session, features, codec, threads=self.threads, outputs=(OUTPUT_NAME, SPREAD_NAME))
        return out[0].astype(np.float64), out[1].astype(np.float64)

    def calibration_part(self) -> dict[str, Any] | None:
        """The calibration block the running members use (the ensemble's, or the smoke member's)."""
        if self.calibration is None:
            return None
        return self.calibration["ensemble"] if self.mode == MODE_ENSEMBLE else self.calibration["single_member"]

    target_kind: ClassVar[str] = VMAF_TARGET

    @property
    def feature_order(self) -> list[str]:
        return list(self.spec.feature_order)

    def interval(self, coverage: float) -> dict[str, Any]:
        """The calibrated interval's multipliers at `coverage` (`vmafkit.load(...).interval`)."""
        frame, clip, level = self.half_widths(coverage)
        return {
            "coverage": coverage,
            "frame": finite_or_none(frame),
            "clip": finite_or_none(clip),
            "source_level": level or None,
        }

    def serve(self, request: ServeRequest) -> dict[str, Any]:
        """The prediction document for the request's rows, or its pair scored first."""
        r = request
        options = {**r.labels, "coverage": r.coverage, "allow_out_of_domain": r.allow_out_of_domain}
        if r.features is not None:
            rows = read_feature_rows(r.features) if isinstance(r.features, (str, Path)) else list(r.features)
            return predict_features(self, rows, clip=r.clip, with_frames=r.with_frames, **options)
        assert r.ref is not None and r.dis is not None
        return predict_pair(self, r.ref, r.dis, **options, **r.score_options)

    def half_widths(self, coverage: float) -> tuple[float, float, float]:
        """(frame, clip) multipliers at `coverage` of frames (clips) for the calibration's share of
        new sources, and that share (the attained source level); inf, inf, 0 when uncalibrated. A
        row's half-width is the multiplier times its scale (`calibration.row_scales`: 1 for an
        absolute calibration)."""
        part = self.calibration_part()
        if part is None or self.calibration is None:
            return math.inf, math.inf, 0.0
        level = self.calibration["source_level"]
        frame, attained = source_half_width([np.asarray(v) for v in part["frame"]["sources"].values()], coverage, level)
        clip, _ = source_half_width([np.asarray(v) for v in part["clip"]["sources"].values()], coverage, level)
        return frame, clip, attained


def finite_or_none(value: float) -> float | None:
    """A half-width as a document carries it: None for an unbounded (uncalibrated) one."""
    return value if math.isfinite(value) else None


def run_batched(
    session,
    features: np.ndarray,
    codec: np.ndarray,
    *,
    batch: int = DEFAULT_BATCH,
    threads: int = 1,
    outputs: Sequence[str] = (OUTPUT_NAME,),
) -> np.ndarray:
    """`score` [N] float32 of a (features, codec_onehot) -> score session, in batches of `batch`
    rows (small batches keep the activations in cache: measured up to 2x faster than 64 Ki rows,
    see BENCHMARKS.md), the rows split into `threads` contiguous shares run by Python threads (onnxruntime
    releases the GIL). Results do not depend on `threads`: every batch is the same either way."""
    feats = np.ascontiguousarray(features, dtype=np.float32)
    codec = np.ascontiguousarray(codec, dtype=np.float32)
    n = feats.shape[0]
    names = list(outputs)
    out = np.empty((len(names), n), dtype=np.float32)
    starts = list(range(0, n, batch))

    def work(share: list[int]) -> None:
        for a in share:
            b = min(a + batch, n)
            for k, values in enumerate(session.run(names, {"features": feats[a:b], "codec_onehot": codec[a:b]})):
                out[k, a:b] = values

    threads = max(1, min(int(threads), len(starts)))
    if threads == 1:
        work(starts)
    else:
        from concurrent.futures import ThreadPoolExecutor

        per = -(-len(starts) // threads)
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(work, [starts[i : i + per] for i in range(0, len(starts), per)]))
    return out[0] if len(names) == 1 else out


def merge_members(onnx_paths: Sequence[str | Path | bytes]) -> bytes:
    """One ONNX graph that runs every member on the shared inputs and outputs their Mean as
    `score` (one onnxruntime call per batch instead of one per member) and, with two or more
    members, their population standard deviation as `spread` (sqrt of the mean squared deviation
    from the mean: computed from deviations, not E[x^2] - E[x]^2, which float32 cancels)."""
    import onnx
    from onnx import helper

    models = [onnx.load_from_string(p) if isinstance(p, bytes) else onnx.load(str(p)) for p in onnx_paths]
    if len(models) == 1:
        return models[0].SerializeToString(deterministic=True)
    first = models[0]
    shared = {i.name for i in first.graph.input}
    nodes, inits, outs = [], [], []
    for k, model in enumerate(models):
        prefix = f"m{k}_"

        def rename(name: str, prefix: str = prefix) -> str:
            return name if (name in shared or name == "") else prefix + name

        for init in model.graph.initializer:
            new = onnx.TensorProto()
            new.CopyFrom(init)
            new.name = rename(init.name)
            inits.append(new)
        for node in model.graph.node:
            new = onnx.NodeProto()
            new.CopyFrom(node)
            new.name = prefix + node.name
            del new.input[:]
            new.input.extend(rename(n) for n in node.input)
            del new.output[:]
            new.output.extend(rename(n) for n in node.output)
            nodes.append(new)
        outs.append(rename(model.graph.output[0].name))
    nodes.append(helper.make_node("Mean", outs, [OUTPUT_NAME], name="ensemble_mean"))
    squares = []
    for k, member_out in enumerate(outs):
        nodes.append(helper.make_node("Sub", [member_out, OUTPUT_NAME], [f"dev{k}"], name=f"spread_dev{k}"))
        nodes.append(helper.make_node("Mul", [f"dev{k}", f"dev{k}"], [f"sq{k}"], name=f"spread_sq{k}"))
        squares.append(f"sq{k}")
    nodes.append(helper.make_node("Mean", squares, ["spread_var"], name="spread_mean"))
    nodes.append(helper.make_node("Sqrt", ["spread_var"], [SPREAD_NAME], name="spread_sqrt"))
    spread_out = onnx.ValueInfoProto()
    spread_out.CopyFrom(first.graph.output[0])
    spread_out.name = SPREAD_NAME
    graph = helper.make_graph(
        nodes, "vmafkit_ensemble", list(first.graph.input), [first.graph.output[0], spread_out], initializer=inits
    )
    del graph.output[0].metadata_props[:]
    del graph.output[1].metadata_props[:]
    merged = helper.make_model(graph, opset_imports=list(first.opset_import), producer_name="vmafkit")
    merged.ir_version = first.ir_version
    onnx.checker.check_model(merged)
    return merged.SerializeToString(deterministic=True)


def registry_rows(models_dir: Path, model_id: str | None) -> tuple[str, list[dict[str, Any]], Path]:
    """(ensemble id, its member rows by seed, the registry file) of MODELS, the registry validated."""
    from vmafkit.serve.registry import load_registry

    registry_path = layout.registry_file(models_dir) if models_dir.is_dir() else models_dir
    data = load_registry(registry_path)  # schema + sha256 + input-schema hash, or InputError
    members = [r for r in data["models"] if r.get("ensemble") and r.get("sidecar")]
    ensembles = sorted({r["ensemble"] for r in members})
    if model_id is None:
        if len(ensembles) != 1:
            raise InputError(f"registry holds ensembles {ensembles}; pick one with --id", path=registry_path)
        model_id = ensembles[0]
    rows = sorted((r for r in members if r["ensemble"] == model_id), key=lambda r: r["seed"])
    if not rows:
        raise InputError(f"no exported members of ensemble {model_id!r}", path=registry_path)
    return model_id, rows, registry_path


def _refuse_subjective(model_id: str, rows: Sequence[Mapping[str, Any]], registry_path: Path) -> None:
    from vmafkit.serve.subjective_members import MEMBER_KIND

    if any(r["kind"] == MEMBER_KIND for r in rows):
        raise InputError(
            f"ensemble {model_id} predicts subjective scores from its own feature columns: serve it with "
            "vmafkit.load (`vmafkit predict` and vmafkit.predict choose it themselves)",
            path=registry_path,
        )


def choose_members(rows: list[dict[str, Any]], base: Path) -> tuple[str, list[dict[str, Any]], list[dict], list[str]]:
    """(mode, the rows served, their validated sidecars, notes): every member when none is a smoke
    row, else ONE member (the lowest seed), said in a note."""
    notes: list[str] = []
    if all(not r["smoke"] for r in rows):
        mode, chosen = MODE_ENSEMBLE, rows
    else:
        mode, chosen = MODE_SMOKE, rows[:1]
        smoke = [r["id"] for r in rows if r["smoke"]]
        notes.append(
            f"registry rows {', '.join(smoke)} are smoke=true: using ONE member ({chosen[0]['id']}, "
            f"the lowest seed) instead of the {len(rows)}-member ensemble"
        )
    sidecars = []
    for row in chosen:
        sidecar = read_json(base / row["sidecar"], what="sidecar")
        validate_or_raise(sidecar, "sidecar", path=base / row["sidecar"], what="sidecar")
        sidecars.append(sidecar)
    return mode, chosen, sidecars, notes


def member_calibration(
    base: Path, mode: str, chosen: list[dict[str, Any]], sidecars: list[dict], notes: list[str]
) -> dict | None:
    """The members' calibration file (named by the registry row, else by the sidecar), validated,
    when it fits what is served (the one member's seed, or exactly the ensemble's seeds); else None
    and a note saying why there is no interval."""
    calib_name = chosen[0].get("calibration") or sidecars[0].get("calibration")
    calib_path = base / calib_name if calib_name else None
    if calib_path is None or not calib_path.is_file():
        notes.append("no calibration file: intervals are unbounded")
        return None
    calibration = read_json(calib_path, what="calibration file")
    validate_or_raise(calibration, "calibration", path=calib_path, what="calibration file")
    if mode == MODE_SMOKE and calibration["single_member"]["seed"] != chosen[0]["seed"]:
        notes.append("calibration's single-member residuals are of another seed: no interval")
        return None
    if mode == MODE_ENSEMBLE and sorted(calibration["ensemble"]["seeds"]) != [int(r["seed"]) for r in chosen]:
        notes.append("calibration was made for other seeds than the registry's members: no interval")
        return None
    return calibration


def load_ensemble(models: str | Path, *, model_id: str | None = None, threads: int = 2) -> LoadedEnsemble:
    """Read the registry of MODELS (the folder, or its registry file; validated) and prepare the
    members to run."""
    model_id, rows, registry_path = registry_rows(Path(models), model_id)
    return ensemble_from_rows(model_id, rows, registry_path, threads=threads)


@dataclass(frozen=True)
class ChosenMembers:
    """The members a registry's rows say will run (`choose_members`), their sidecars and calibration:
    what both kinds of loaded ensemble (VMAF, subjective) are made from."""

    mode: str
    rows: list[dict[str, Any]]
    sidecars: list[dict[str, Any]]
    notes: list[str]
    calibration: dict[str, Any] | None
    base: Path

    @property
    def seeds(self) -> list[int]:
        return [int(r["seed"]) for r in self.rows]

    @property
    def onnx_paths(self) -> list[Path]:
        return [self.base / r["onnx"] for r in self.rows]

    def loaded_fields(self, model_id: str) -> dict[str, Any]:
        """What every loaded ensemble (VMAF, subjective) takes from its members."""
        return {
            "model_id": model_id,
            "mode": self.mode,
            "seeds": self.seeds,
            "onnx_paths": self.onnx_paths,
            "calibration": self.calibration,
            "notes": self.notes,
        }


def load_members(
    model_id: str, rows: list[dict[str, Any]], registry_path: Path, agree: Mapping[str, str]
) -> ChosenMembers:
    """The members of `model_id` that will run; `agree`: the sidecar keys every member must hold the
    same value of, each with what a disagreement is called (InputError naming the registry)."""
    base = registry_path.parent
    mode, chosen, sidecars, notes = choose_members(rows, base)
    for key, disagreement in agree.items():
        if len({json.dumps(s[key], sort_keys=True) for s in sidecars}) != 1:
            raise InputError(f"members of {model_id} {disagreement}", path=registry_path)
    return ChosenMembers(mode, chosen, sidecars, notes, member_calibration(base, mode, chosen, sidecars, notes), base)


def ensemble_from_rows(
    model_id: str, rows: list[dict[str, Any]], registry_path: Path, *, threads: int = 2
) -> LoadedEnsemble:
    """`load_ensemble` from the registry rows `registry_rows` read (the registry is read once)."""
    from vmafkit.train.features import FeatureSpec

    _refuse_subjective(model_id, rows, registry_path)
    agree = {
        "feature_spec": "were exported with different feature transforms",
        "domain": "record different training domains",
    }
    members = load_members(model_id, rows, registry_path, agree)
    for r, s in zip(members.rows, members.sidecars):
        if not s["standardisation"]["inside_graph"]:
            raise InputError(
                "sidecar says standardisation is outside the graph; this vmafkit only serves in-graph standardisation",
                path=members.base / r["sidecar"],
            )
    first = members.sidecars[0]
    return LoadedEnsemble(
        **members.loaded_fields(model_id),
        spec=FeatureSpec.from_json(first["feature_spec"]),
        domain=first["domain"],
        threads=threads,
    )


def read_feature_rows(path: str | Path) -> list[dict[str, Any]]:
    """A JSONL of per-frame feature rows, the ensemble's feature set by the names `vmafkit score` and
    the corpus write them (adm2, vif_scale0, ... for v0.6.1; integer_adm2, cambi_hrs, ... for v1)."""
    path = Path(path)
    rows = []
    for lineno, row in iter_json_objects(path, what="features file"):
        row["_where"] = f"{path}:{lineno}"
        rows.append(row)
    if not rows:
        raise InputError("features file has no rows", path=path)
    return rows


def _served_problems(
    ens: LoadedEnsemble,
    rows: Sequence[Mapping[str, Any]],
    feats: np.ndarray,
    labels: tuple[list[str | None], list[str | None], np.ndarray],
    vmaf_model: str | None,
    rungs: list[str | None],
    allow_out_of_domain: bool,
) -> list[str | None]:
    """Per row, why it lies outside the ensemble's training domain (None: inside); InputError naming
    the first such row unless `allow_out_of_domain`."""
    from vmafkit.train.domain import describe, row_problems

    encs, presets, cqs = labels
    problems = row_problems(
        ens.domain,
        feats,
        encs,
        presets,
        cqs,
        vmaf_models=_vmaf_models(rows, vmaf_model),
        rungs=rungs,
        recipes=[_recipe_of(row, i) for i, row in enumerate(rows)],
    )
    outside = [i for i, p in enumerate(problems) if p is not None]
    if outside and not allow_out_of_domain:
        first = outside[0]
        where = rows[first].get("_where", f"row {first + 1}")
        raise InputError(
            f"{where}: outside the training domain: {problems[first]} ({len(outside)} of {len(rows)} rows "
            f"outside; {describe(ens.domain)}); --allow-out-of-domain serves them marked in_domain: false"
        )
    return problems


def _require_feature_set(ens: LoadedEnsemble, rows: Sequence[Mapping[str, Any]]) -> None:
    """One line when the first row lacks a feature the ensemble takes: which feature set it takes,
    and the libvmaf model that logs it (rows of another feature set are not this ensemble's input)."""
    from vmafkit.train.domain import model_of

    order = ens.spec.feature_order
    missing = [name for name in order if name not in rows[0]]
    if missing:
        where = rows[0].get("_where", "row 1")
        raise InputError(
            f"{where}: missing {missing[0]}: this ensemble takes the {ens.domain.get('feature_set', 'vmaf-v0.6.1')} "
            f"features ({', '.join(order[:3])}, ...), logged by libvmaf model {model_of(ens.domain)}; "
            f"score with `vmafkit score --model {model_of(ens.domain)}`"
        )


def _check_physical(rows: Sequence[Mapping[str, Any]], feats: np.ndarray, ens: LoadedEnsemble) -> None:
    """What no libvmaf run writes is an error, even with --allow-out-of-domain (which serves values
    outside the trained range, never nonsense): a feature outside its physical bounds (the corpus
    row's, `corpus.schema.FEATURE_BOUNDS`), a `feature_set` other than the ensemble's, a teacher
    `vmaf` that is not a number within the model's score range."""
    from vmafkit.corpus.schema import FEATURE_BOUNDS, FEATURE_SET_KEY
    from vmafkit.media.libvmaf import V0_FEATURE_SET, score_max_of
    from vmafkit.train.domain import model_of

    order = ens.spec.feature_order
    bounds = np.array([FEATURE_BOUNDS.get(name, (-np.inf, np.inf)) for name in order]).reshape(len(order), 2)
    bad = np.argwhere((feats < bounds[:, 0]) | (feats > bounds[:, 1]))
    if bad.size:
        i, j = (int(v) for v in bad[0])
        raise InputError(
            f"{rows[i].get('_where', f'row {i + 1}')}: {order[j]} {float(feats[i, j])!r} is not a value libvmaf writes "
            f"(allowed: {bounds[j, 0]:g} to {bounds[j, 1]:g})"
        )
    trained = ens.domain.get("feature_set", V0_FEATURE_SET)
    top = score_max_of(model_of(ens.domain))
    for i, row in enumerate(rows):
        where = row.get("_where", f"row {i + 1}")
        if FEATURE_SET_KEY in row and row[FEATURE_SET_KEY] != trained:
            raise InputError(f"{where}: {FEATURE_SET_KEY} {row[FEATURE_SET_KEY]!r} is not this ensemble's ({trained})")
        value = row.get("vmaf")
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= top
        ):
            raise InputError(
                f"{where}: vmaf (the teacher's score, echoed back) must be a number from 0 to {top:g}, got {value!r}"
            )


def _recipe_of(row: Mapping[str, Any], i: int) -> str | None:
    """A row's scoring recipe id (a corpus row's), or None when it gives none."""
    from vmafkit.media.libvmaf import RECIPE_KEY

    value = row.get(RECIPE_KEY)
    if value is not None and not isinstance(value, str):
        raise InputError(f"{row.get('_where', f'row {i + 1}')}: {RECIPE_KEY} must be a string, got {value!r}")
    return value


def _column(rows: Sequence[Mapping[str, Any]], name: str) -> np.ndarray:
    out = np.empty(len(rows), dtype=np.float64)
    for i, row in enumerate(rows):
        where = row.get("_where", f"row {i + 1}")
        if name not in row:
            raise InputError(f"{where}: missing {name}")
        value = row[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InputError(f"{where}: {name} must be a finite number, got {value!r}")
        out[i] = float(value)
    return out


def known_encoder(name: str, where: str) -> str | None:
    """`name` when an adapter knows it; None for "unknown" (= not given); else InputError with the
    closest known names."""
    import difflib

    from vmafkit.media.encoders import ADAPTERS

    if name == "unknown":
        return None
    if name in ADAPTERS:
        return name
    lowered = {k.lower(): k for k in ADAPTERS}
    close = ([lowered[name.lower()]] if name.lower() in lowered else []) or difflib.get_close_matches(
        name, list(ADAPTERS), n=3
    )
    hint = f"; did you mean {' or '.join(close)}?" if close else f"; known: {', '.join(sorted(ADAPTERS))}"
    raise InputError(f"{where}: encoder {name!r} is not an encoder vmafkit knows{hint}")


def _rung_of(row: Mapping[str, Any], where: str) -> str | None:
    """The row's ladder rung from its integer width/height (+ scored_width/scored_height); None when it gives none."""
    from vmafkit.corpus.schema import rung_label

    sizes = {k: row[k] for k in ("width", "height", "scored_width", "scored_height") if k in row}
    for key, value in sizes.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not (math.isfinite(value) and value > 0 and value == int(value))
        ):
            raise InputError(f"{where}: {key} must be a positive integer, got {value!r}")
    return rung_label({k: int(v) for k, v in sizes.items()}) if "width" in sizes and "height" in sizes else None


def _labels(
    rows: Sequence[Mapping[str, Any]], encoder: str | None, preset: str | None, cq: float | None
) -> tuple[list[str | None], list[str | None], np.ndarray]:
    """Each row's (encoder, preset, cq): its own key, else the keyword; None / NaN = not given. A
    keyword is checked even where every row says its own, and a row that says otherwise than a
    given keyword is refused: which of the two was meant cannot be guessed."""
    n = len(rows)
    encs: list[str | None] = []
    presets: list[str | None] = []
    cqs = np.empty(n, dtype=np.float64)
    checked: dict[str, str | None] = {}
    if encoder is not None:
        checked[encoder] = known_encoder(encoder, "--encoder")
    for i, row in enumerate(rows):
        where = row.get("_where", f"row {i + 1}")
        _no_contradiction(row, where, encoder=encoder, preset=preset, cq=cq)
        enc = row.get("encoder", encoder)
        if enc is not None and not isinstance(enc, str):
            raise InputError(f"{where}: encoder must be a string, got {enc!r}")
        if enc is not None and enc not in checked:
            checked[enc] = known_encoder(enc, where)
        encs.append(checked[enc] if enc is not None else None)
        pre = row.get("preset", preset)
        if pre is not None and not isinstance(pre, (str, int)) or isinstance(pre, bool):
            raise InputError(f"{where}: preset must be a string, got {pre!r}")
        presets.append(None if pre is None else str(pre))
        index = row.get("frame_index", i)
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise InputError(f"{where}: frame_index must be a non-negative integer, got {index!r}")
        value = row.get("cq", cq)
        if value is None:
            cqs[i] = math.nan
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InputError(f"{where}: cq must be a finite number, got {value!r}")
        elif not CQ_RANGE_OTHER[0] <= value <= CQ_RANGE_OTHER[1]:
            raise InputError(
                f"{where}: cq {value!r} is out of range (allowed: {CQ_RANGE_OTHER[0]} to {CQ_RANGE_OTHER[1]})"
            )
        else:
            cqs[i] = float(value)
    return encs, presets, cqs


def _no_contradiction(row: Mapping[str, Any], where: str, **given: Any) -> None:
    for key, value in given.items():
        own = row.get(key)
        if value is None or own is None:
            continue
        same = (
            isinstance(own, (int, float)) and not isinstance(own, bool) and float(own) == float(value)
            if key == "cq"
            else str(own) == str(value)
        )
        if not same:
            raise InputError(
                f"{where}: the row's {key} {own!r} contradicts --{key} {value!r}; give --{key} only for rows "
                f"that do not say their own {key}, or correct the row"
            )


def _vmaf_models(rows: Sequence[Mapping[str, Any]], vmaf_model: str | None) -> list[str | None]:
    """Each row's libvmaf model: its own `vmaf_model` key, else the keyword; None = not said."""
    models: list[str | None] = []
    for i, row in enumerate(rows):
        value = row.get("vmaf_model", vmaf_model)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise InputError(f"{row.get('_where', f'row {i + 1}')}: vmaf_model must be a model name, got {value!r}")
        models.append(value)
    return models


def served_item(
    labels: Mapping[str, Any], score: float, bounds: tuple[float | None, float | None], problem: str | None
) -> dict[str, Any]:
    """One served value as predict's output carries it (a frame, a clip; either target): what it
    is, its score and interval (None, None without one), and whether it is inside the training
    domain, with the reason when it is not."""
    item = {**labels, "score": score, "lower": bounds[0], "upper": bounds[1], "in_domain": problem is None}
    if problem is not None:
        item["out_of_domain"] = problem
    return item


def predict_features(
    models: str | Path | LoadedEnsemble,
    rows: Sequence[Mapping[str, Any]],
    *,
    vmaf_model: str | None = None,
    encoder: str | None = None,
    preset: str | None = None,
    cq: float | None = None,
    clip: str | None = None,
    coverage: float = T.DEFAULT_COVERAGE,
    model_id: str | None = None,
    with_frames: bool = True,
    allow_out_of_domain: bool = False,
) -> dict[str, Any]:
    """Per-frame and per-clip predictions with intervals for feature rows.

    `rows`: mappings with the canonical-6, optionally frame_index, vmaf (the
    teacher, echoed back), encoder, preset, cq, clip (or src) and vmaf_model (the libvmaf model that
    computed the features). The keyword arguments fill what rows lack; a row whose own encoder,
    preset or cq differs from a given keyword is refused (its clip and vmaf_model win); a label
    given nowhere is "not given", which a
    robust-recipe ensemble was trained for. Rows outside the training domain raise InputError
    unless `allow_out_of_domain` (module doc). Returns the dict `vmafkit predict --json` writes.
    """
    from vmafkit.media.libvmaf import score_max_of
    from vmafkit.train.domain import describe, model_of

    if not 0.0 < coverage < 1.0:
        raise InputError(f"--coverage must be in (0, 1), got {coverage}")
    if not rows:
        raise InputError("no feature rows to predict")
    ens = models if isinstance(models, LoadedEnsemble) else load_ensemble(models, model_id=model_id)
    _require_feature_set(ens, rows)
    feats = np.stack([_column(rows, name) for name in ens.spec.feature_order], axis=1)
    _check_physical(rows, feats, ens)
    n = len(rows)
    encs, presets, cqs = _labels(rows, encoder, preset, cq)
    names = [str(row.get("clip", row.get("src", clip if clip is not None else "clip"))) for row in rows]
    rungs = [_rung_of(row, row.get("_where", f"row {i + 1}")) for i, row in enumerate(rows)]
    problems = _served_problems(ens, rows, feats, (encs, presets, cqs), vmaf_model, rungs, allow_out_of_domain)
    outside = [i for i, p in enumerate(problems) if p is not None]
    codec = ens.spec.codec_block(
        [e if e is not None else "unknown" for e in encs], [p if p is not None else "" for p in presets], cqs
    )
    raw, spread = ens.scores_and_spread(feats, codec)
    score_range = (VMAF_RANGE[0], score_max_of(model_of(ens.domain)))  # to 110 for v1's 4K 3H model
    scores = np.clip(raw, *score_range)
    h_frame, h_clip, attained = ens.half_widths(coverage)
    scale = row_scales((ens.calibration_part() or {}).get("normalisation"), spread, n)
    notes = list(ens.notes)
    missing = [k for k, given in (("encoder", encs), ("preset", presets)) if any(v is None for v in given)]
    if np.isnan(cqs).any():
        missing.append("cq")
    if missing:
        notes.append(f"{'/'.join(missing)} not given for some rows: predicted without them (robust recipe)")
    if outside:
        notes.append(
            f"{len(outside)} of {n} rows are outside the training domain: scored, marked in_domain: false, no interval"
        )
    if not math.isfinite(h_frame) or not math.isfinite(h_clip):
        notes.append("no calibration for this ensemble: bounds are null")

    def bounds(value: float, h: float, inside: bool) -> tuple[float | None, float | None]:
        if not inside or not math.isfinite(h):
            return None, None
        return max(score_range[0], value - h), min(score_range[1], value + h)

    keys: dict[tuple, int] = {}
    clip_of = np.empty(n, dtype=np.int64)
    for i in range(n):
        # a ladder's rungs of one cq are separate clips
        clip_of[i] = keys.setdefault(
            (names[i], encs[i], presets[i], None if np.isnan(cqs[i]) else float(cqs[i]), rungs[i]), len(keys)
        )
    teacher = [row.get("vmaf") for row in rows]
    frames_out = []
    if with_frames:
        for i, row in enumerate(rows):
            inside = problems[i] is None
            item = served_item(
                {"clip": int(clip_of[i]), "frame_index": int(row.get("frame_index", i))},
                float(scores[i]),
                bounds(float(scores[i]), h_frame * scale[i], inside),
                problems[i],
            )
            value = teacher[i]
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                item["vmaf"] = float(value)
            frames_out.append(item)
    clips_out = []
    clip_widths: list[float] = []
    for (name, enc, pre, cqv, rung), c in keys.items():
        member = clip_of == c
        mean = float(np.clip(scores[member].mean(), *score_range))
        reasons = sorted({p for p in (problems[i] for i in np.flatnonzero(member)) if p is not None})
        clip_h = h_clip * float(scale[member].mean())
        if not reasons:
            clip_widths.append(clip_h)
        labels = {"clip": c, "name": name, "encoder": enc, "preset": pre, "cq": cqv}
        if rung is not None:
            labels["rung"] = rung
        labels["n_frames"] = int(member.sum())
        item = served_item(labels, mean, bounds(mean, clip_h, not reasons), "; ".join(reasons) or None)
        tv = [teacher[i] for i in np.flatnonzero(member)]
        numbers = [float(v) for v in tv if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if len(numbers) == len(tv):
            item["vmaf"] = float(np.mean(numbers))
        clips_out.append(item)
    calibrated = math.isfinite(h_frame)
    summary = (ens.calibration or {}).get("summary", {})
    adaptive = ((ens.calibration_part() or {}).get("normalisation") or {}).get("kind", ABSOLUTE) != ABSOLUTE
    served_rows = np.array([p is None for p in problems], dtype=bool)
    typical = float(np.median(h_frame * scale[served_rows])) if calibrated and served_rows.any() else h_frame
    return {
        "schema_version": PREDICTION_SCHEMA_VERSION,
        "model": ens.model_id,
        "mode": ens.mode,
        "members": ens.seeds,
        "coverage": float(coverage),
        "interval": {
            "method": CALIBRATION_METHOD,
            "frame_half_width": typical if calibrated else None,
            # typical served half-widths: the median over in-domain frames (clips); every frame and
            # clip carries its own bounds (an adaptive calibration scales them by the members' spread)
            "clip_half_width": (float(np.median(clip_widths)) if clip_widths else (None if adaptive else h_clip))
            if math.isfinite(h_clip)
            else None,
            "adaptive": adaptive,
            "source_level": attained if calibrated else None,
            "guarantee": guarantee_text(coverage, attained, summary.get("n_sources", 0)) if calibrated else None,
            "worst_fold_frame_coverage": summary.get("fold_frame_coverage_min") if calibrated else None,
            "calibrated_on": "ensemble" if ens.mode == MODE_ENSEMBLE else f"seed {ens.seeds[0]} alone",
        },
        "domain": {"description": describe(ens.domain), "n_outside": len(outside)},
        "notes": notes,
        "n_frames": n,
        "frames": frames_out,
        "clips": clips_out,
    }


def pair_source(ref: str | Path, dis: str | Path, pair: PairScore) -> dict[str, Any]:
    """What a prediction from a scored pair (`media.score.PairScore`) records of where it came from."""
    return {"ref": str(ref), "dis": str(dis), "backend": pair.backend, "libvmaf_version": pair.libvmaf_version}


def _pair_sizes(meta: Mapping[str, Any]) -> dict[str, int]:
    """The distorted video's own size and the size it was scored at (its ladder rung), from a score's meta."""
    if "width" not in meta:
        return {}
    return {
        "width": meta.get("dis_width", meta["width"]),
        "height": meta.get("dis_height", meta["height"]),
        "scored_width": meta["width"],
        "scored_height": meta["height"],
    }


def predict_pair(
    models: str | Path | LoadedEnsemble,
    ref: str | Path,
    dis: str | Path,
    *,
    encoder: str | None = None,
    preset: str | None = None,
    cq: float | None = None,
    coverage: float = T.DEFAULT_COVERAGE,
    model_id: str | None = None,
    allow_out_of_domain: bool = False,
    **score_kwargs: Any,
) -> dict[str, Any]:
    """Score DIS against REF with libvmaf (the ensemble's features per frame) and the libvmaf model
    the ensemble was trained on (unless `score_kwargs` names another), then predict as above."""
    from vmafkit.media.score import score_pair
    from vmafkit.train.domain import model_of

    ens = models if isinstance(models, LoadedEnsemble) else load_ensemble(models, model_id=model_id)
    if encoder is not None:
        known_encoder(encoder, "--encoder")  # refuse a typo before the scoring work
    score_kwargs.setdefault("vmaf_model", model_of(ens.domain))
    pair = score_pair(ref, dis, **score_kwargs)
    result = predict_features(
        ens,
        [{**frame, **_pair_sizes(pair.meta)} for frame in pair.frames],
        vmaf_model=score_kwargs["vmaf_model"],
        encoder=encoder,
        preset=preset,
        cq=cq,
        clip=Path(dis).name,
        coverage=coverage,
        allow_out_of_domain=allow_out_of_domain,
    )
    result["source"] = pair_source(ref, dis, pair)
    return result
