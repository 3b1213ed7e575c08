"""The fold-members file `loso_seed{N}.folds.f32`: the weights of every LOSO member of one seed,
kept so that its held-out predictions can be re-derived instead of trusted.

A prediction file is numbers anyone can rewrite (pred = vmaf +- 0.5, the seed report recomputed to
match, gives a PROMOTE for a model that is 80 VMAF off). With the members saved, every decision
re-runs each fold's member on the rows it held out (`replay_held_out`: the same transform,
fitted on the fold's training rows of the pinned corpus) and refuses a prediction the member does
not give; `export` also retrains one member chosen at random and compares it with the saved one
bit for bit (`retrain_matches`), so members fitted on their own held-out rows are caught too.

Format (one owner, this module): no header, raw little-endian float32, the members in fold order
(`Corpus.groups`, sorted), each member's parameters in `FRRegressor.state_dict()` order, each
tensor row-major. The size is exactly n_folds x (the recipe's parameter count) x 4 bytes, so
the reader checks the size before it reads a byte. The seed report names the file and its
sha256 (`fold_members`); the verdict pins it like the other evidence. ~22 KB a member.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vmafkit import layout
from vmafkit.corpus.schema import Corpus
from vmafkit.errors import InputError
from vmafkit.io import atomic_output, read_bytes_capped, sha256_file
from vmafkit.train.ensemble import MemberData, fit_members, predict_one
from vmafkit.train.features import INPUT_WIDTH, FeatureSpec, fold_inputs, input_width, model_inputs, unlabelled
from vmafkit.train.model import FRRegressor
from vmafkit.train.recipe import Recipe

FORMAT = "vmafkit-fold-members-f32le-v1"
# A held-out prediction is float32 from training; the replay may run on another device or CPU.
# 1e-3 VMAF points is far below any decision and far above float32 rounding (~1e-5 at 100).
REPLAY_TOL = 1e-3
_DTYPE = np.dtype("<f4")


def _template(recipe: Recipe, width: int) -> dict[str, torch.Tensor]:
    return FRRegressor(hidden=recipe.hidden, dropout=recipe.dropout, in_features=width).state_dict()


def member_bytes(model: FRRegressor) -> bytes:
    """One member's parameters in the file's layout."""
    return b"".join(
        v.detach().to("cpu").contiguous().numpy().astype(_DTYPE, copy=False).tobytes()
        for v in model.state_dict().values()
    )


def write_fold_members(path: str | Path, models: Sequence[FRRegressor]) -> dict[str, Any]:
    """Write the members (fold order) and return the seed report's `fold_members` entry."""
    path = Path(path)
    with atomic_output(path, "wb") as handle:
        for model in models:
            handle.write(member_bytes(model))
    return {"file": path.name, "sha256": sha256_file(path), "format": FORMAT}


def read_fold_members(path: str | Path, n_folds: int, recipe: Recipe, width: int = INPUT_WIDTH) -> list[FRRegressor]:
    """The n_folds members (inputs `width` wide) of a fold-members file; InputError naming the file
    when its size is not exactly what n_folds members of this recipe take, or a weight is not finite."""
    path = Path(path)
    template = _template(recipe, width)
    per_member = sum(int(t.numel()) for t in template.values())
    expected = n_folds * per_member * _DTYPE.itemsize
    data = read_bytes_capped(path, what="fold-members file", max_bytes=expected)
    if len(data) != expected:
        raise InputError(
            f"fold-members file is {len(data)} bytes; {n_folds} members of this recipe take {expected}", path=path
        )
    values = np.frombuffer(data, dtype=_DTYPE).reshape(n_folds, per_member)
    if not np.isfinite(values).all():
        raise InputError("fold-members file holds non-finite weights", path=path)
    models = []
    for i in range(n_folds):
        state, at = {}, 0
        for name, ref in template.items():
            count = int(ref.numel())
            state[name] = torch.from_numpy(values[i, at : at + count].astype(np.float32)).reshape(ref.shape)
            at += count
        model = FRRegressor(hidden=recipe.hidden, dropout=recipe.dropout, in_features=width)
        model.load_state_dict(state)
        models.append(model.eval())
    return models


def report_entry(report: Mapping[str, Any], report_path: Path) -> dict[str, Any] | None:
    """The seed report's `fold_members` entry (None when it names none), shape-checked."""
    entry = report.get("fold_members")
    if entry is None:
        return None
    ok = (
        isinstance(entry, dict)
        and entry.get("format") == FORMAT
        and isinstance(entry.get("file"), str)
        and "/" not in entry["file"]
        and "\\" not in entry["file"]
        and entry["file"] not in ("", ".", "..")
        and isinstance(entry.get("sha256"), str)
    )
    if not ok:
        raise InputError(f"fold_members must be {{file, sha256, format: {FORMAT}}}", path=report_path)
    return entry


def replay_held_out(
    corpus: Corpus,
    recipe: Recipe,
    models: Sequence[FRRegressor],
    cols: Mapping[str, np.ndarray],
    where: Path,
) -> None:
    """Re-run each fold's member on the rows it held out (its transform refitted on the fold's
    training rows of `corpus`) and compare with the prediction file's `pred` and
    `pred_unlabelled`: InputError naming the file and the first row that differs by more than
    REPLAY_TOL. `cols`: `read_predictions` of the seed's file, already checked against the corpus."""

    groups = corpus.groups
    if len(models) != len(groups):
        raise InputError(f"holds {len(models)} members for {len(groups)} folds", path=where)
    for group, model in zip(groups, models):
        held = np.flatnonzero(corpus.group == group)
        train = np.flatnonzero(corpus.group != group)
        spec = FeatureSpec.fit_corpus(corpus, train)
        x_val = model_inputs(corpus, held, spec)
        checks = [("pred", x_val)]
        if "pred_unlabelled" in cols:
            checks.append(("pred_unlabelled", unlabelled(x_val)))
        for key, x in checks:
            replayed = predict_one(model, x).astype(np.float64)
            gap = np.abs(replayed - np.asarray(cols[key], dtype=np.float64)[held])
            if gap.size and not float(gap.max()) <= REPLAY_TOL:
                worst = int(np.argmax(gap))
                raise InputError(
                    f"row {int(held[worst])}: {key} {float(cols[key][held[worst]])!r} is not what fold "
                    f"{group!r}'s saved member gives ({float(replayed[worst])!r}): held-out predictions "
                    "must come from the trained members; re-run `vmafkit train`",
                    path=where,
                )


def check_seed_members(
    loso_dir: Path,
    reports: Mapping[int, Mapping[str, Any]],
    preds: Mapping[int, Mapping[str, np.ndarray]],
    corpus: Corpus,
    recipe: Recipe,
) -> dict[int, dict[str, Any]] | None:
    """Each seed's fold members checked (sha256 as its report pins it, size, and every held-out
    prediction replayed): {seed: {file, sha256}}, or None when no seed report names members
    (a LOSO folder not written by `vmafkit train`: its verdict is computed, but `export` and
    `registry flip` refuse it). Some seeds with members and some without is an InputError."""
    entries = {seed: report_entry(r, layout.seed_report(loso_dir, seed)) for seed, r in reports.items()}
    named = {seed: e for seed, e in entries.items() if e is not None}
    if not named:
        return None
    if len(named) != len(entries):
        missing = sorted(set(entries) - set(named))
        raise InputError(f"seed reports {missing} name no fold members while the others do", path=loso_dir)
    out = {}
    for seed, entry in sorted(named.items()):
        path = loso_dir / entry["file"]
        if not path.is_file():
            raise InputError("fold-members file named by the seed report not found", path=path)
        digest = sha256_file(path)
        if digest != entry["sha256"]:
            raise InputError(
                f"fold-members file changed since training (sha256 {digest[:12]} != the seed report's "
                f"{entry['sha256'][:12]})",
                path=path,
            )
        models = read_fold_members(path, len(corpus.groups), recipe, input_width(len(corpus.feature_order)))
        replay_held_out(corpus, recipe, models, preds[seed], layout.predictions_file(loso_dir, seed))
        out[seed] = {"file": entry["file"], "sha256": digest}
    return out


def retrain_matches(
    corpus: Corpus, recipe: Recipe, loso_dir: Path, pinned: Sequence[Mapping[str, Any]], *, pick: int | None = None
) -> dict[str, Any]:
    """Retrain one (seed, fold) member from the corpus and the recipe, and compare its weights with
    the saved ones: {seed, fold, max_abs_diff, matches, saved_rmse, retrained_rmse} (the last two:
    each member's RMSE on the fold's held-out rows). A member's training is bit for bit the same
    alone or in any batch (ensemble.py), so a saved member that was fitted on anything else (e.g.
    its own held-out rows) differs. `pick`: which of the n_seeds x n_folds members (default: drawn
    at random, so which one is checked cannot be known in advance)."""

    groups = corpus.groups
    total = len(pinned) * len(groups)
    index = secrets.randbelow(total) if pick is None else int(pick) % total
    item = sorted(pinned, key=lambda p: int(p["seed"]))[index // len(groups)]
    fold = index % len(groups)
    seed = int(item["seed"])
    width = input_width(len(corpus.feature_order))
    saved = read_fold_members(loso_dir / str(item["file"]), len(groups), recipe, width)[fold]
    train = np.flatnonzero(corpus.group != groups[fold])
    spec = FeatureSpec.fit_corpus(corpus, train)
    x_train = fold_inputs(model_inputs(corpus, train, spec), recipe, fold)
    fresh = fit_members([MemberData(x_train, corpus.vmaf[train].astype(np.float32), seed)], recipe, device="cpu")[0]
    a, b = saved.state_dict(), fresh.state_dict()
    diff = max(float((a[k] - b[k]).abs().max()) for k in a)
    held = np.flatnonzero(corpus.group == groups[fold])
    x_val = model_inputs(corpus, held, spec)
    truth = corpus.vmaf[held]

    def rmse(model: FRRegressor) -> float:
        return float(np.sqrt(np.mean((predict_one(model, x_val).astype(np.float64) - truth) ** 2)))

    return {
        "seed": seed,
        "fold": groups[fold],
        "max_abs_diff": diff,
        "matches": math.isfinite(diff) and diff == 0.0,
        "saved_rmse": rmse(saved),
        "retrained_rmse": rmse(fresh),
    }
