"""The one owner of every run-folder and file name vmafkit writes, and so of what its readers look for.

A `vmafkit run` folder (OUT), and where each name below is used::

    OUT/pipeline.json                           STATE_FILE: which step ran on what (pipeline/)
    OUT/.vmafkit.lock                           LOCK_FILE: the advisory lock of a writer (io.exclusive_lock)
    OUT/.vmafkit-cache/demo-refs/               demo_refs_dir: the --demo reference clips
    OUT/corpus/per_frame_canonical6.jsonl       corpus_file: the corpus step's output
    OUT/corpus/.vmafkit-cache/cells/            cell_cache_dir: the content-addressed cell cache
        encodes/<key>.mkv, <key>.json           kept_encode_files: each cell's encode, kept for `rescore`
        rescored/<key>.jsonl                    rescored_cell_file: a cell `rescore` scored (a re-run resumes)
    OUT/loso/                                   loso_dir: what `train` and `verdict` write
        loso_seed{N}.json                       seed_report: one seed's LOSO report
        loso_seed{N}.predictions.jsonl          predictions_file: its held-out prediction of every row
        loso_seed{N}.timing.json                timing_file: its wall and CPU times
        loso_seed{N}.refit.json                 refit_file: its production member (every row)
        loso_seed{N}.folds.f32                  fold_members_file: its LOSO members' weights
        PROMOTE.json | HOLD.json                verdict_file: exactly one of them
    OUT/models/                                 models_dir: what `export` writes
        <id>_seed{N}.onnx, <id>_seed{N}.json    member_onnx_name, sidecar_name (member_id names a member)
        <id>_calibration.json                   calibration_name
        registry.json, registry_history.jsonl   REGISTRY_FILE, REGISTRY_HISTORY_FILE (+ REGISTRY_LOCK)
    OUT/report.html                             REPORT_FILE
    OUT/results.tar.gz                          BUNDLE_FILE

A `vmafkit subjective train` folder (OUT) holds, beside `loso/` in the layout above::

    OUT/subjective_report.json                  SUBJECTIVE_REPORT_FILE: the side-by-side models
    OUT/subjective_predictions.jsonl            SUBJECTIVE_PREDICTIONS_FILE: held-out predictions per clip
    OUT/subjective_items.jsonl                  SUBJECTIVE_ITEMS_FILE: the clips trained on (features, score)
    OUT/subjective_timing.json                  SUBJECTIVE_TIMING_FILE: wall times per step
    OUT/.vmafkit-cache/pairs/                   pair_cache_dir: the scored-pair cache

The verdict step writes one of the verdict files; training removes both, because a verdict
describes the seed reports it was computed from and a retrain replaces them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

STATE_FILE = "pipeline.json"
LOCK_FILE = ".vmafkit.lock"
CACHE_DIR = ".vmafkit-cache"
CORPUS_DIR = "corpus"
CORPUS_FILE = "per_frame_canonical6.jsonl"
LOSO_DIR = "loso"
MODELS_DIR = "models"
REPORT_FILE = "report.html"
SUBJECTIVE_REPORT_FILE = "subjective_report.json"
SUBJECTIVE_PREDICTIONS_FILE = "subjective_predictions.jsonl"
SUBJECTIVE_ITEMS_FILE = "subjective_items.jsonl"
SUBJECTIVE_TIMING_FILE = "subjective_timing.json"
BUNDLE_FILE = "results.tar.gz"

VERDICTS = ("PROMOTE", "HOLD")
PROMOTE_FILE = "PROMOTE.json"
HOLD_FILE = "HOLD.json"
VERDICT_FILES = {PROMOTE_FILE: "PROMOTE", HOLD_FILE: "HOLD"}  # file name -> the verdict it holds

REGISTRY_FILE = "registry.json"
REGISTRY_HISTORY_FILE = "registry_history.jsonl"
REGISTRY_LOCK = ".registry.lock"
# An export switching its files into a models folder (serve/folder.py): the journal of the switch,
# the staged new files and the replaced old ones, each in the models folder itself (one file system,
# so every move is a rename).
EXPORT_JOURNAL = ".export-journal.json"
EXPORT_STAGING_PREFIX = ".export-staging-"
EXPORT_PREVIOUS_PREFIX = ".export-previous-"
# `vmafkit run` ending in HOLD moves an earlier run's smoke export aside: MODELS.superseded-<UTC stamp>
SUPERSEDED_INFIX = ".superseded-"

_SEED_PREFIX = "loso_seed"
_REPORT_SUFFIX = ".json"
_PREDICTIONS_SUFFIX = ".predictions.jsonl"
_TIMING_SUFFIX = ".timing.json"
_REFIT_SUFFIX = ".refit.json"
_FOLD_MEMBERS_SUFFIX = ".folds.f32"
SEED_REPORT_RE = re.compile(rf"^{_SEED_PREFIX}(\d+){re.escape(_REPORT_SUFFIX)}$")
PREDICTIONS_RE = re.compile(rf"^{_SEED_PREFIX}(\d+){re.escape(_PREDICTIONS_SUFFIX)}$")
# How messages name the per-seed files when no seed is meant in particular.
SEED_REPORTS = f"{_SEED_PREFIX}{{N}}{_REPORT_SUFFIX}"
PREDICTION_FILES = f"{_SEED_PREFIX}{{N}}{_PREDICTIONS_SUFFIX}"


# ---- OUT -------------------------------------------------------------------------------------


def corpus_file(out_dir: str | Path) -> Path:
    return Path(out_dir) / CORPUS_DIR / CORPUS_FILE


def loso_dir(out_dir: str | Path) -> Path:
    return Path(out_dir) / LOSO_DIR


def models_dir(out_dir: str | Path) -> Path:
    return Path(out_dir) / MODELS_DIR


def demo_refs_dir(out_dir: str | Path) -> Path:
    return Path(out_dir) / CACHE_DIR / "demo-refs"


def cell_cache_dir(corpus_path: str | Path) -> Path:
    """The cell cache of a corpus file: beside it, so that runs writing the same corpus share it."""
    return Path(corpus_path).parent / CACHE_DIR / "cells"


KEPT_ENCODES_DIR = "encodes"


def kept_encodes_dir(cell_cache: str | Path) -> Path:
    """Where a cell cache keeps its cells' encodes (content-addressed by the encode's identity)."""
    return Path(cell_cache) / KEPT_ENCODES_DIR


def kept_encode_files(cell_cache: str | Path, key: str) -> tuple[Path, Path]:
    """(the encoded video, its record: sha256, size, frames, encode time) of encode `key`."""
    folder = kept_encodes_dir(cell_cache)
    return folder / f"{key}.mkv", folder / f"{key}.json"


def rescored_cell_file(cell_cache: str | Path, key: str) -> Path:
    return Path(cell_cache) / "rescored" / f"{key}.jsonl"


def pair_cache_dir(out_dir: str | Path) -> Path:
    return Path(out_dir) / CACHE_DIR / "pairs"


def is_run_folder(folder: str | Path) -> bool:
    """Whether `folder` is a `vmafkit run` folder (it holds the pipeline's state file)."""
    return (Path(folder) / STATE_FILE).is_file()


# ---- a LOSO folder ---------------------------------------------------------------------------


def _seed_file(suffix: str) -> Callable[[int], str]:
    """The name of one of a seed's files: loso_seed{N} and the file's suffix."""

    def name(seed: int) -> str:
        return f"{_SEED_PREFIX}{int(seed)}{suffix}"

    return name


seed_report_name = _seed_file(_REPORT_SUFFIX)
predictions_name = _seed_file(_PREDICTIONS_SUFFIX)
timing_name = _seed_file(_TIMING_SUFFIX)
refit_name = _seed_file(_REFIT_SUFFIX)
fold_members_name = _seed_file(_FOLD_MEMBERS_SUFFIX)


def seed_report(loso: str | Path, seed: int) -> Path:
    return Path(loso) / seed_report_name(seed)


def predictions_file(loso: str | Path, seed: int) -> Path:
    return Path(loso) / predictions_name(seed)


def timing_file(loso: str | Path, seed: int) -> Path:
    return Path(loso) / timing_name(seed)


def refit_file(loso: str | Path, seed: int) -> Path:
    return Path(loso) / refit_name(seed)


def fold_members_file(loso: str | Path, seed: int) -> Path:
    return Path(loso) / fold_members_name(seed)


def verdict_file(loso: str | Path, verdict: str) -> Path:
    """PROMOTE.json or HOLD.json in `loso`."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict {verdict!r} is not one of {VERDICTS}")
    return Path(loso) / f"{verdict}.json"


def seed_of(name: str) -> int | None:
    """The seed a seed report or prediction file name carries (None for any other name)."""
    match = SEED_REPORT_RE.match(name) or PREDICTIONS_RE.match(name)
    return int(match.group(1)) if match else None


# ---- a models folder -------------------------------------------------------------------------


def member_id(model_id: str, seed: int) -> str:
    return f"{model_id}_seed{int(seed)}"


ONNX_SUFFIX = ".onnx"


def member_onnx_name(member: str) -> str:
    return f"{member}{ONNX_SUFFIX}"


def sidecar_name(member: str) -> str:
    """The sidecar of a member; for `X.onnx` it is `X.json`."""
    return f"{member}.json"


def calibration_name(model_id: str) -> str:
    return f"{model_id}_calibration.json"


def is_calibration_name(name: str) -> bool:
    return name.endswith(calibration_name(""))


def registry_file(models: str | Path) -> Path:
    return Path(models) / REGISTRY_FILE


def own_files(folder: str | Path) -> list[Path]:
    """The files directly in `folder` that vmafkit names itself (seed reports and their prediction,
    timing, refit and fold-member files, verdicts, registry, members and their sidecars, calibration, the corpus
    and subjective files): what a command that reads the folder takes as its inputs. A user's own
    file there (an earlier `--json out.json`) is not one of them. None when `folder` is no folder."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    fixed = {
        CORPUS_FILE,
        STATE_FILE,
        SUBJECTIVE_REPORT_FILE,
        SUBJECTIVE_PREDICTIONS_FILE,
        SUBJECTIVE_ITEMS_FILE,
        SUBJECTIVE_TIMING_FILE,
        REGISTRY_FILE,
        REGISTRY_HISTORY_FILE,
        *VERDICT_FILES,
    }
    names = {child.name for child in folder.iterdir() if child.is_file()}
    onnx_stems = {name[: -len(ONNX_SUFFIX)] for name in names if name.endswith(ONNX_SUFFIX)}
    per_seed = (_REPORT_SUFFIX, _PREDICTIONS_SUFFIX, _TIMING_SUFFIX, _REFIT_SUFFIX, _FOLD_MEMBERS_SUFFIX)
    own = [
        name
        for name in names
        if name in fixed
        or name.endswith(ONNX_SUFFIX)
        or is_calibration_name(name)
        or (name.endswith(".json") and name[: -len(".json")] in onnx_stems)
        or (name.startswith(_SEED_PREFIX) and name.endswith(per_seed))
    ]
    return [folder / name for name in sorted(own)]


TARGETS_DIR = "targets"  # the target searches a run folder holds (`vmafkit target --out`)
TARGET_CACHE = "target"  # the searches' cells and samples, inside a cache folder
ENV_CACHE_HOME = "XDG_CACHE_HOME"


def target_cells_dir(cache: str | Path) -> Path:
    """The cell cache of target searches (`corpus.build` cells and kept encodes) in a cache folder."""
    return Path(cache) / "cells"


def target_samples_dir(cache: str | Path) -> Path:
    """The sample clips target searches cut (`media.samples`, content-addressed) in a cache folder."""
    return Path(cache) / "samples"


def targets_dir(out_dir: str | Path) -> Path:
    return Path(out_dir) / TARGETS_DIR


def target_cache_dir(out_dir: str | Path | None) -> Path:
    """Where target searches keep cells and samples: the run folder's cache when given one, else
    the user's cache (`$XDG_CACHE_HOME/vmafkit/target`, `~/.cache/vmafkit/target`)."""
    if out_dir is not None:
        return Path(out_dir) / CACHE_DIR / TARGET_CACHE
    import os

    home = os.environ.get(ENV_CACHE_HOME) or str(Path.home() / ".cache")
    return Path(home) / "vmafkit" / TARGET_CACHE
