"""The held-out prediction file `loso_seed{N}.predictions.jsonl`: its one writer and its one reader.

`train.loso` (and the subjective trainer, in the same format) writes it; the gate, the
calibration, the verdict and the report read it through `read_predictions`. One JSON object a
line, sorted keys, rows in corpus order (`row` = 0-based index of the row in the corpus file,
blank lines not counted):
`{"cq", "encoder", "fold", "frame_index", "group", "pred", "pred_unlabelled", "preset", "row",
"seed", "src", "vmaf"}` where `fold` is the held-out group of the fold that predicted the row (the
same string as `group`, and as `folds[i].held_out` in the seed report), `pred` is the float32
prediction as a JSON number and `pred_unlabelled` the same member's prediction with encoder,
preset and cq all "not given". `shift_other_encoder` (optional; null when the fold trained on no
other encoder) is the largest |prediction with another trained encoder - pred| of that row. A corpus of several resolution-ladder rungs adds `rung` (its
`corpus.schema.rung_label`), so the rungs of one (src, encoder, preset, cq) stay separate clips;
without the key every row is at one rung.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vmafkit import layout
from vmafkit.corpus.schema import NATIVE_RUNG
from vmafkit.errors import InputError
from vmafkit.io import atomic_output, iter_json_objects

COLUMNS = ("row", "src", "encoder", "preset", "cq", "frame_index", "vmaf", "pred", "fold")


def write_predictions(
    path: Path,
    seed: int,
    *,
    src: Sequence[str] | np.ndarray,
    group: Sequence[str] | np.ndarray,
    encoder: Sequence[str] | np.ndarray,
    preset: Sequence[str] | np.ndarray,
    cq: np.ndarray,
    frame_index: np.ndarray,
    vmaf: np.ndarray,
    fold: Sequence[str] | np.ndarray,
    pred: np.ndarray,
    pred_unlabelled: np.ndarray,
    rung: Sequence[str] | np.ndarray | None = None,
    shift_other_encoder: np.ndarray | None = None,
) -> None:
    """Write one row per index of the columns (the corpus's own, and per row the fold that held
    it out and that fold's member's predictions, written exactly as given: float32 from training)."""
    # Equivalent to json.dumps(row, sort_keys=True) per row (tested), ~5x faster: strings are
    # escaped once per distinct value, floats use repr() as json does.
    esc: dict[str, str] = {}

    def q(value) -> str:
        text = str(value)
        if text not in esc:
            esc[text] = json.dumps(text)
        return esc[text]

    cqs = np.asarray(cq).tolist()
    fi = np.asarray(frame_index).tolist()
    vm = np.asarray(vmaf, dtype=np.float64).tolist()
    pr = np.asarray(pred).astype(np.float64).tolist()
    pu = np.asarray(pred_unlabelled).astype(np.float64).tolist()
    rungs = [f', "rung": {q(r)}' for r in rung] if rung is not None else [""] * len(vm)
    shifts = (
        [
            f'"shift_other_encoder": {v!r}, ' if math.isfinite(v) else '"shift_other_encoder": null, '
            for v in np.asarray(shift_other_encoder, dtype=np.float64).tolist()
        ]
        if shift_other_encoder is not None
        else [""] * len(vm)
    )
    lines = [
        f'{{"cq": {cqs[i]!r}, "encoder": {q(encoder[i])}, "fold": {q(fold[i])}, "frame_index": {fi[i]}, '
        f'"group": {q(group[i])}, "pred": {pr[i]!r}, "pred_unlabelled": {pu[i]!r}, '
        f'"preset": {q(preset[i])}, "row": {i}{rungs[i]}, '
        f'"seed": {seed}, {shifts[i]}"src": {q(src[i])}, "vmaf": {vm[i]!r}}}\n'
        for i in range(len(vm))
    ]
    with atomic_output(path, "wb") as handle:
        handle.write("".join(lines).encode("utf-8"))


def prediction_file(loso_dir: str | Path, seed: int) -> Path | None:
    """The seed's held-out prediction file in `loso_dir`, or None when there is none."""
    path = layout.predictions_file(loso_dir, seed)
    return path if path.is_file() else None


def read_predictions(path: str | Path) -> dict[str, np.ndarray]:
    """Columns of one seed's held-out prediction file, sorted by `row`: row, src, encoder, preset,
    cq, frame_index, vmaf, pred, fold, rung (every row's, or "native" for all when no row has one)
    and (when every row has it) pred_unlabelled. Any problem is an InputError naming file:line."""
    path = Path(path)
    numbered = list(iter_json_objects(path, what="prediction file"))
    if not numbered:
        raise InputError("prediction file has no rows", path=path)
    cols: dict[str, list] = {k: [] for k in COLUMNS}
    unlabelled: list[float | None] = []
    shifts: list[float | None] = []
    has_shift: list[bool] = []
    rungs: list[str | None] = []
    for lineno, row in numbered:
        where = f"{path}:{lineno}"
        missing = [k for k in COLUMNS if k not in row]
        if missing:
            raise InputError(f"{where}: missing keys {', '.join(missing)}")
        for key in ("vmaf", "pred", "cq", "pred_unlabelled"):
            value = row.get(key, 0.0 if key == "pred_unlabelled" else None)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InputError(f"{where}: {key} must be a finite number, got {value!r}")
        for key in ("row", "frame_index"):
            index = row[key]
            if isinstance(index, bool) or not isinstance(index, int) or index < 0:
                raise InputError(f"{where}: {key} must be a non-negative integer, got {index!r}")
        for key in COLUMNS:
            cols[key].append(row[key])
        unlabelled.append(row.get("pred_unlabelled"))
        shift = row.get("shift_other_encoder")
        has_shift.append("shift_other_encoder" in row)
        if shift is not None and (
            isinstance(shift, bool) or not isinstance(shift, (int, float)) or not 0.0 <= shift <= 1e6
        ):
            raise InputError(f"{where}: shift_other_encoder must be null or a number in [0, 1e6], got {shift!r}")
        shifts.append(shift)
        rung = row.get("rung")
        if rung is not None and (not isinstance(rung, str) or not rung):
            raise InputError(f"{where}: rung must be a non-empty string, got {rung!r}")
        rungs.append(rung)
    out = {
        "row": np.asarray(cols["row"], dtype=np.int64),
        "src": np.asarray([str(v) for v in cols["src"]]),
        "encoder": np.asarray([str(v) for v in cols["encoder"]]),
        "preset": np.asarray([str(v) for v in cols["preset"]]),
        "cq": np.asarray(cols["cq"], dtype=np.float64),
        "frame_index": np.asarray(cols["frame_index"], dtype=np.int64),
        "vmaf": np.asarray(cols["vmaf"], dtype=np.float64),
        "pred": np.asarray(cols["pred"], dtype=np.float64),
        "fold": np.asarray([str(v) for v in cols["fold"]]),
    }
    if any(r is not None for r in rungs) and any(r is None for r in rungs):
        raise InputError("some rows have a rung and some do not", path=path)
    out["rung"] = np.asarray([r if r is not None else NATIVE_RUNG for r in rungs])
    if all(v is not None for v in unlabelled):
        out["pred_unlabelled"] = np.asarray(unlabelled, dtype=np.float64)
    elif any(v is not None for v in unlabelled):
        raise InputError("some rows have pred_unlabelled and some do not", path=path)
    if all(has_shift):
        out["shift_other_encoder"] = np.asarray([math.nan if v is None else v for v in shifts], dtype=np.float64)
    elif any(has_shift):
        raise InputError("some rows have shift_other_encoder and some do not", path=path)
    order = np.argsort(out["row"], kind="stable")
    out = {k: v[order] for k, v in out.items()}
    if np.unique(out["row"]).size != out["row"].size:
        raise InputError("prediction file repeats a row index (each row must be held out exactly once)", path=path)
    return out
