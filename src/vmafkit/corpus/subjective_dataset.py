"""The subjective video dataset: pairs {ref, dis, score[, content, score_std, n_obs, width, height,
pix_fmt, fps]} in a JSON array, a JSON lines file or a CSV file with a header.

* `ref`, `dis`: paths (relative ones are relative to the dataset file's folder); any input
  `vmafkit score` accepts: .y4m, raw .yuv (geometry from `width`/`height`/`pix_fmt`/`fps` or
  from the name), or a container ffmpeg reads.
* `score`: the subjective score of `dis` (MOS, DMOS, ...; `--score-scale` names the scale).
* `content`: the scene; one leave-one-content-out fold each. Default: the reference's source
  name (its stem), so two references of one scene must name their content explicitly.
* `score_std`, `n_obs`: optional, recorded (not used by the fit).

Refused (exit 2, naming file:line): unknown keys (with a "did you mean"), missing or non-finite
values, a file that does not exist, the same (ref, dis) twice, one distorted clip in two contents,
one reference in two contents (a fold would be trained and tested on the same scene), scores
outside a declared `--score-scale`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vmafkit.corpus import subjective_readers as readers
from vmafkit.corpus.subjective_scale import Scale
from vmafkit.errors import InputError
from vmafkit.io import iter_json_objects
from vmafkit.media.sources import source_name
from vmafkit.validation import DIMENSION_MAX, FPS_MAX

REQUIRED = ("ref", "dis", "score")
OPTIONAL = ("content", "score_std", "n_obs", "width", "height", "pix_fmt", "fps")
KEYS = REQUIRED + OPTIONAL


@dataclass(frozen=True)
class Pair:
    ref: Path
    dis: Path
    score: float
    content: str
    where: str  # file:line of the entry
    score_std: float | None = None
    n_obs: int | None = None
    width: int | None = None
    height: int | None = None
    pix_fmt: str | None = None
    fps: float | None = None

    @property
    def geometry(self) -> dict[str, Any]:
        return {"width": self.width, "height": self.height, "pix_fmt": self.pix_fmt, "fps": self.fps}

    @property
    def name(self) -> str:
        return source_name(self.dis)


def _entries(path: Path) -> Iterator[tuple[int, Any]]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        _, rows = readers.iter_csv(path, what="dataset file")
        for line, row in rows:
            yield line, {k: v for k, v in row.items() if v != ""}
    elif suffix in (".jsonl", ".ndjson"):
        yield from iter_json_objects(path, what="dataset file")
    elif suffix == ".json":
        yield from readers.iter_json_array(path, what="dataset file")
    else:
        raise InputError(
            f"dataset file must be .json (an array of pairs), .jsonl or .csv, not {suffix or 'no suffix'!r}", path=path
        )


def _integer(value: Any, where: str, key: str, low: int, high: int) -> int:
    number = readers.parse_number(value, where, key)
    if not number.is_integer() or not low <= number <= high:
        raise InputError(f"{where}: {key} must be an integer in {low}..{high}, got {readers.show(value)}")
    return int(number)


def _text(value: Any, where: str, key: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InputError(f"{where}: {key} must be a string, got {readers.show(value)}")
    text = str(value).strip()
    if not text:
        raise InputError(f"{where}: {key} is empty")
    return text


def _file(value: Any, where: str, key: str, base: Path) -> Path:
    path = Path(_text(value, where, key))
    path = path if path.is_absolute() else base / path
    if not path.exists():
        raise InputError(f"{where}: {key} {str(value)!r} not found ({path})")
    if not path.is_file():
        raise InputError(f"{where}: {key} {str(value)!r} is not a regular file ({path})")
    return path


def parse_pair(entry: Any, where: str, base: Path, scale: Scale | None = None) -> Pair:
    if not isinstance(entry, dict):
        raise InputError(f"{where}: a pair must be an object with {', '.join(REQUIRED)}, got {type(entry).__name__}")
    unknown = [k for k in entry if k not in KEYS]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), KEYS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InputError(f"{where}: unknown key {unknown[0]!r}{hint}; a pair has {', '.join(KEYS)}")
    missing = [k for k in REQUIRED if k not in entry or entry[k] is None]
    if missing:
        raise InputError(f"{where}: missing {', '.join(missing)}")
    ref = _file(entry["ref"], where, "ref", base)
    dis = _file(entry["dis"], where, "dis", base)
    score = readers.parse_number(entry["score"], where, "score")
    if scale is not None:
        scale.check(score, where)
    content = _text(entry["content"], where, "content") if entry.get("content") is not None else source_name(ref)
    extra: dict[str, Any] = {}
    if entry.get("score_std") is not None:
        extra["score_std"] = readers.parse_number(entry["score_std"], where, "score_std")
        if extra["score_std"] < 0:
            raise InputError(f"{where}: score_std must be >= 0, got {entry['score_std']!r}")
    if entry.get("n_obs") is not None:
        extra["n_obs"] = _integer(entry["n_obs"], where, "n_obs", 1, 10**9)
    for key in ("width", "height"):
        if entry.get(key) is not None:
            extra[key] = _integer(entry[key], where, key, 1, DIMENSION_MAX)
    if entry.get("pix_fmt") is not None:
        extra["pix_fmt"] = _text(entry["pix_fmt"], where, "pix_fmt")
    if entry.get("fps") is not None:
        fps = readers.parse_number(entry["fps"], where, "fps")
        if not 0 < fps <= FPS_MAX:
            raise InputError(f"{where}: fps {entry['fps']!r} is out of range (above 0, up to {FPS_MAX:g})")
        extra["fps"] = fps
    return Pair(ref=ref, dis=dis, score=score, content=content, where=where, **extra)


def read_dataset(path: str | Path, scale: Scale | None = None) -> list[Pair]:
    """Every pair of a dataset file, validated (module doc); InputError naming file:line."""
    path = Path(path)
    base = path.parent
    pairs: list[Pair] = []
    seen_pair: dict[tuple[Path, Path], str] = {}
    content_of_ref: dict[Path, tuple[str, str]] = {}
    content_of_dis: dict[Path, tuple[str, str]] = {}
    for line, entry in _entries(path):
        where = f"{path}:{line}"
        pair = parse_pair(entry, where, base, scale)
        ref, dis = pair.ref.resolve(), pair.dis.resolve()
        key = (ref, dis)
        if key in seen_pair:
            raise InputError(f"{where}: the pair ({pair.ref}, {pair.dis}) is listed twice (first at {seen_pair[key]})")
        seen_pair[key] = where
        if ref == dis:
            raise InputError(f"{where}: dis is the reference itself ({pair.dis})")
        for table, clip, what in ((content_of_ref, ref, "reference"), (content_of_dis, dis, "distorted clip")):
            first = table.setdefault(clip, (pair.content, where))
            if first[0] != pair.content:
                raise InputError(
                    f"{where}: {what} {clip.name} is in content {pair.content!r} here and in "
                    f"{first[0]!r} at {first[1]}: one scene in two folds leaks between them"
                )
        pairs.append(pair)
    if not pairs:
        raise InputError("dataset file lists no pairs", path=path)
    return pairs


def item_ids(pairs: list[Pair]) -> list[str]:
    """One id per pair: the distorted clip's name, or `content/name` when names repeat."""
    names = [p.name for p in pairs]
    if len(set(names)) == len(names):
        return names
    ids = [f"{p.content}/{p.name}" for p in pairs]
    if len(set(ids)) == len(ids):
        return ids
    return [f"{p.content}/{p.name}#{i}" for i, p in enumerate(pairs)]
