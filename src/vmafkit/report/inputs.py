"""Reading a run folder for the report: which seed reports, prediction files, verdict and corpus
there are, and what can be derived from them (a provisional calibration, the seed-mean held-out
predictions). A file that cannot be read is a problem line, not a crash: the report works on a
partial run.

Where inputs are looked for: the seed reports, their held-out predictions and the verdict file in
`OUT/loso` (the `vmafkit run` layout) or `OUT` itself; the corpus is `--corpus`, else
`OUT/corpus/<corpus file>`, `OUT/<corpus file>`, or the path the seed reports / verdict name.
A `vmafkit subjective train` folder (`subjective_run`) is read through `decide.subjective_recheck`: the
statistics are re-derived from its held-out predictions, never taken from its report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vmafkit import layout
from vmafkit import thresholds as T
from vmafkit.errors import InputError
from vmafkit.io import read_json, require_regular_file


@dataclass
class RunInputs:
    out_dir: Path
    loso_dir: Path | None = None
    seed_reports: dict[int, dict[str, Any]] = field(default_factory=dict)
    seed_paths: dict[int, Path] = field(default_factory=dict)
    prediction_paths: dict[int, Path] = field(default_factory=dict)
    verdict: dict[str, Any] | None = None
    verdict_path: Path | None = None
    corpus_path: Path | None = None
    problems: list[str] = field(default_factory=list)  # unreadable inputs, one line each
    subjective_dir: Path | None = None  # a `vmafkit subjective train` folder


def _read_json_object(path: Path) -> dict[str, Any]:
    data = read_json(path, what="JSON file")
    if not isinstance(data, dict):
        raise InputError("is not a JSON object", path=path)
    return data


def _seed_files(folder: Path, pattern) -> dict[int, Path]:
    found = {}
    for path in folder.iterdir():
        match = pattern.match(path.name)
        if match and path.is_file():
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def _verdict_files(folder: Path) -> list[Path]:
    return [folder / name for name in layout.VERDICT_FILES if (folder / name).is_file()]


def find_inputs(out_dir: str | Path, corpus: str | Path | None = None) -> RunInputs:
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise InputError("run folder not found", path=out_dir)
    inputs = RunInputs(out_dir=out_dir)
    from vmafkit.decide.subjective_verdict import run_folder

    inputs.subjective_dir = run_folder(out_dir)
    candidates = [d for d in (layout.loso_dir(out_dir), out_dir) if d.is_dir()]
    for folder in candidates:
        if _seed_files(folder, layout.SEED_REPORT_RE) or _verdict_files(folder):
            inputs.loso_dir = folder
            break
    if inputs.loso_dir is not None:
        _load_loso(inputs, inputs.loso_dir)
        _keep_verdict_seeds(inputs)
    _find_corpus(inputs, corpus)
    return inputs


def _keep_verdict_seeds(inputs: RunInputs) -> None:
    """With a verdict, the run's seeds are the verdict's: leave out reports of other seeds (stale files)."""
    seeds = inputs.verdict.get("seeds") if inputs.verdict else None
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        return
    extra = sorted((set(inputs.seed_reports) | set(inputs.prediction_paths)) - set(seeds))
    if extra:
        inputs.problems.append(
            f"files of seeds {extra} are not part of the verdict (seeds {sorted(seeds)}); left out of this report"
        )
    for table in (inputs.seed_reports, inputs.seed_paths, inputs.prediction_paths):
        for seed in extra:
            table.pop(seed, None)


def _load_loso(inputs: RunInputs, loso: Path) -> None:
    for seed, path in _seed_files(loso, layout.SEED_REPORT_RE).items():
        try:
            report = _read_json_object(path)
            if not isinstance(report.get("folds"), list):
                raise InputError("has no `folds` list", path=path)
            inputs.seed_reports[seed] = report
            inputs.seed_paths[seed] = path
        except InputError as exc:
            inputs.problems.append(str(exc))
    inputs.prediction_paths.update(_seed_files(loso, layout.PREDICTIONS_RE))
    verdicts = _verdict_files(loso)
    if len(verdicts) > 1:
        verdicts.sort(key=lambda p: p.stat().st_mtime_ns, reverse=True)
        inputs.problems.append(
            f"both {' and '.join(layout.VERDICT_FILES)} exist in {loso}; showing the newer, {verdicts[0].name}"
        )
    for path in verdicts[:1]:
        try:
            verdict = _read_json_object(path)
            if verdict.get("verdict") != layout.VERDICT_FILES[path.name]:
                raise InputError(f"has no verdict {layout.VERDICT_FILES[path.name]}", path=path)
            from vmafkit.decide.verdict import stale_reason

            stale = stale_reason(verdict, loso)
            if stale is not None:
                raise InputError(f"STALE verdict, not shown: {stale}; re-run `vmafkit verdict`", path=path)
            inputs.verdict, inputs.verdict_path = verdict, path
        except InputError as exc:
            inputs.problems.append(str(exc))


def _corpus_named_by(inputs: RunInputs) -> list[Path]:
    """The corpus paths the seed reports and the verdict name (their `corpus` objects' `path`)."""
    named = []
    for record in [*inputs.seed_reports.values(), *([inputs.verdict] if inputs.verdict else [])]:
        value = record.get("corpus")
        value = value.get("path") if isinstance(value, dict) else None
        if isinstance(value, str) and value:
            named.append(Path(value))
    resolved = []
    for path in named:
        resolved.append(path)
        if not path.is_absolute() and inputs.loso_dir is not None:
            resolved.append(inputs.loso_dir / path)
    return resolved


def _find_corpus(inputs: RunInputs, corpus: str | Path | None) -> None:
    if corpus is not None:  # named by the user: it must be there (a missing default is a missing section)
        inputs.corpus_path = require_regular_file(corpus, what="corpus")
        return
    beside = inputs.out_dir / layout.CORPUS_FILE
    for path in (layout.corpus_file(inputs.out_dir), beside, *_corpus_named_by(inputs)):
        if path.is_file():
            inputs.corpus_path = path
            return


def provisional_calibration(inputs: RunInputs) -> tuple[dict[str, Any] | None, str | None]:
    """(calibration summary, None) computed from the held-out prediction files, for a run with no
    verdict to take it from; (None, why) when they cannot be read or calibrated on; (None, None)
    when there is no prediction file for some seed report."""
    paths = inputs.prediction_paths
    if not (paths and inputs.seed_reports and set(paths) == set(inputs.seed_reports)):
        return None, None
    from vmafkit.decide.calibration import calibrate
    from vmafkit.train.predictions import read_predictions
    from vmafkit.train.recipe import Recipe

    try:
        per_seed = {s: read_predictions(p) for s, p in paths.items()}
        first = next(iter(inputs.seed_reports.values()))
        label_free = Recipe.from_json(first.get("recipe") or {}).label_free
        return calibrate(per_seed, T.DEFAULT_COVERAGE, paths=paths, label_free=label_free)["summary"], None
    except InputError as exc:
        return None, str(exc)


@dataclass
class HeldOut:
    """Seed-mean held-out prediction per corpus row."""

    fold: np.ndarray
    vmaf: np.ndarray
    pred: np.ndarray  # ensemble mean
    cq: np.ndarray
    n_seeds: int


def held_out(inputs: RunInputs) -> HeldOut:
    """The seeds' held-out prediction files, averaged over seeds; InputError when there are none
    or they do not cover the same rows with the same targets."""
    from vmafkit.train.predictions import read_predictions

    if not inputs.prediction_paths:
        raise InputError(f"no held-out prediction files ({layout.PREDICTION_FILES})")
    seeds = sorted(inputs.prediction_paths)
    per_seed = [read_predictions(inputs.prediction_paths[s]) for s in seeds]
    base = per_seed[0]
    for seed, cols in zip(seeds[1:], per_seed[1:]):
        if not (np.array_equal(cols["row"], base["row"]) and np.array_equal(cols["vmaf"], base["vmaf"])):
            raise InputError(
                f"rows or targets differ from seed {seeds[0]}'s prediction file", path=inputs.prediction_paths[seed]
            )
    return HeldOut(
        fold=base["fold"],
        vmaf=base["vmaf"],
        pred=np.mean(np.stack([cols["pred"] for cols in per_seed]), axis=0),
        cq=base["cq"],
        n_seeds=len(seeds),
    )


@dataclass
class SubjectiveRun:
    """A subjective run as its held-out predictions give it (`decide.subjective_recheck`)."""

    models: dict[str, Any]  # {name: {plcc, plcc_ci, ..., [interval]}}
    comparisons: dict[str, Any]  # {ensemble_vs_<model>: paired bootstrap}
    gate: dict[str, Any]
    scale: dict[str, Any]
    features: list[str]
    warnings: list[str]
    bootstrap: dict[str, Any]
    n_items: int
    contents: list[str]
    target: np.ndarray  # per clip: the subjective score
    predictions: dict[str, np.ndarray]  # per clip: each model's held-out prediction
    groups: np.ndarray  # per clip: its content
    files: dict[str, Path]  # the run's own files, by role


def subjective_run(inputs: RunInputs) -> SubjectiveRun:
    """The subjective run of `inputs` re-derived from its evidence; InputError when there is none
    or its report disagrees with its held-out predictions."""
    from vmafkit.decide.subjective_evidence import PREDICTIONS_FILE, read_predictions
    from vmafkit.decide.subjective_recheck import recheck
    from vmafkit.train.folds import data_warnings
    from vmafkit.train.subjective_loso import ITEMS_FILE

    folder = inputs.subjective_dir
    if folder is None:
        raise InputError("not a `vmafkit subjective train` folder", path=inputs.out_dir)
    fresh = recheck(folder)
    cols = read_predictions(folder / PREDICTIONS_FILE)
    report = _read_json_object(folder / layout.SUBJECTIVE_REPORT_FILE)
    target: dict[str, Any] = fresh["target"] if isinstance(fresh.get("target"), dict) else {}
    names = [n for n in ("ensemble", "nusvr", "linear", "vmaf_logistic") if n in cols]
    return SubjectiveRun(
        models=fresh["models"],
        comparisons=fresh["comparisons"],
        gate=fresh["gate"],
        scale=dict(target.get("scale") or {}),
        features=list(target.get("features") or []),
        warnings=data_warnings(cols["groups"]),
        bootstrap=dict(report.get("bootstrap") or {}),
        n_items=len(cols["ids"]),
        contents=sorted(set(cols["groups"].tolist())),
        target=cols["target"],
        predictions={n: cols[n] for n in names},
        groups=cols["groups"],
        files={
            "report": folder / layout.SUBJECTIVE_REPORT_FILE,
            "predictions": folder / PREDICTIONS_FILE,
            "items": folder / ITEMS_FILE,
        },
    )
