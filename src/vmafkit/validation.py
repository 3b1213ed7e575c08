"""JSON Schemas shipped in `vmafkit/schemas/`, one-line validation errors, and the ranges of
numeric command-line inputs (one place for the CLI options and the Python API checks)."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterable, Mapping
from importlib import resources
from numbers import Integral
from pathlib import Path
from typing import Any

from vmafkit import thresholds as T
from vmafkit.errors import InputError

# ---- ranges of numeric inputs ------------------------------------------------------------
# Checked by the CLI options (click ranges) and again by the Python API (loso.check_recipe,
# compare_bundles), so a value that loads but is nonsense stops with exit 2 up front instead of
# allocating 240 GB (--batch-size 1e9) or running 160x slower (--encoder-threads 100000).
EPOCHS_RANGE = (1, 100_000)
BATCH_SIZE_RANGE = (1, 65_536)
LR_MAX = 1.0  # --lr in (0, LR_MAX]; Adam diverges long before 1
WEIGHT_DECAY_RANGE = (0.0, 1.0)
BOOTSTRAP_RANGE = (1, 100_000)  # compare: resamples; 1e5 x ~20 folds x 5 seeds is ~80 MB
# --encoder-threads is part of a corpus cell's identity, so its ceiling is a fixed constant, not
# a function of this host's cores: 64 is far past where x264/x265/SVT-AV1 stop scaling.
ENCODER_THREADS_RANGE = (1, 64)
JOBS_RANGE = (1, 1024)  # --jobs / --workers / --threads: processes or threads on one host
# Geometry and quality levels (corpus rows and the score/predict flags).
CQ_RANGE_OTHER = (0, 255)  # cq of an encoder without an adapter: the widest adapter range (AV1 vaapi/amf)
# --subsample: libvmaf's n_subsample is a C int, and past 2**31 it fails with ffmpeg's "Numerical
# result out of range"; a million frames apart (4.6 h at 60 fps) already scores only frame 0.
SUBSAMPLE_RANGE = (1, 1_000_000)
DIMENSION_MAX = 65536  # width/height: AV1's (the largest) maximum frame dimension
FPS_MAX = 10000.0
SEED_LIMIT = 2**63  # seeds are in [0, SEED_LIMIT): torch and numpy take a 64-bit seed


def check_seeds(seeds: object, argument: str | None = None) -> list[int]:
    """The one check of ensemble member seeds: `--seeds` once parsed, and every Python API function's
    `seeds` (named `argument` in the message), so the API takes exactly what the CLI takes.

    A list (any iterable but a string, bytes or a mapping) of distinct integers in [0, 2^63), at
    least one; a string is refused rather than read one character at a time (`seeds='12'` would
    be seeds 1 and 2), and so are a single number, floats and bools."""
    named = f"{argument}: " if argument else ""
    if isinstance(seeds, (str, bytes, bytearray, memoryview, Mapping)) or not isinstance(seeds, Iterable):
        text = repr(seeds)
        shown = text if len(text) <= 40 else f"{text[:37]}..."
        hint = " (a string is not split into seeds)" if isinstance(seeds, (str, bytes, bytearray)) else ""
        raise InputError(
            f"{argument or 'seeds'} must be a list of distinct non-negative integers such as [0, 1, 2], "
            f"got {type(seeds).__name__} {shown}{hint}"
        )
    values = list(seeds)
    if not values:
        raise InputError(f"{named}no seeds given (e.g. {'[0, 1, 2, 3, 4]' if argument else '--seeds 0,1,2,3,4'})")
    for seed in values:
        if isinstance(seed, bool) or not isinstance(seed, Integral) or not 0 <= int(seed) < SEED_LIMIT:
            raise InputError(f"{named}seed {seed!r} is not an integer in [0, 2^63)")
    if len(set(values)) != len(values):
        raise InputError(f"{named}seeds repeat: {','.join(map(str, values))}")
    return [int(seed) for seed in values]


SCHEMA_FILES = {
    "registry": "registry.schema.json",
    "verdict": "verdict.schema.json",
    "seed_report": "seed_report.schema.json",
    "sidecar": "sidecar.schema.json",
    "calibration": "calibration.schema.json",
}


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """The JSON Schema `name` (a key of SCHEMA_FILES) as shipped in the package."""
    text = resources.files("vmafkit").joinpath("schemas").joinpath(SCHEMA_FILES[name]).read_text(encoding="utf-8")
    return json.loads(text)


# What each pattern of the schemas means, for messages: jsonschema's own says "'a b' does not
# match '^[A-Za-z0-9._-]+$'", which a user has to decode.
PATTERN_MEANINGS = {
    "^[0-9a-f]{64}$": "a sha256 (64 lowercase hex digits)",
    "^[A-Za-z0-9._-]+$": "a plain name (letters, digits, '.', '_' and '-' only)",
    "^[^/\\\\]+$": "a plain file name (no '/' or '\\')",
    "^(?![/\\\\])(?!.*(^|/)\\.\\.(/|$))[^\\\\\\x00]+$": (
        "a relative path inside the folder (no leading '/', no '..', no '\\')"
    ),
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$": "a UTC time like 2026-01-31T12:00:00Z",
}


def _schema_message(error: Any) -> str:
    pattern = error.schema.get("pattern") if error.validator == "pattern" and isinstance(error.schema, dict) else None
    meaning = PATTERN_MEANINGS.get(pattern) if isinstance(pattern, str) else None
    if meaning is None:
        return str(error.message)
    shown = repr(error.instance)
    return f"{shown[:80] + '...' if len(shown) > 80 else shown} is not {meaning}"


def schema_errors(obj: Any, name: str) -> list[str]:
    """Every schema violation as 'path: message', sorted by location."""
    import jsonschema

    schema = load_schema(name)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(obj), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {_schema_message(e)}" for e in errors]


def validate_or_raise(obj: Any, name: str, *, path: str | Path | None = None, what: str | None = None) -> None:
    from vmafkit.io import MAX_JSON_DEPTH, json_depth_exceeds

    if json_depth_exceeds(obj):  # jsonschema recurses: refuse what read_json would refuse
        raise InputError(f"malformed {what or name}: nested deeper than {MAX_JSON_DEPTH} levels", path=path)
    try:
        errors = schema_errors(obj, name)
    except RecursionError:
        raise InputError(f"malformed {what or name}: nested too deep to validate", path=path) from None
    if errors:
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        raise InputError(f"malformed {what or name}: {errors[0]}{more}", path=path)


# ---- the Python API's arguments ---------------------------------------------------------------
# The API takes what the CLI takes, typed and ranged the same way: each public function's
# arguments are checked against its annotations and the ranges below (the CLI flags' own ranges)
# before any work, so a wrong type or value is one InputError naming the function and the
# argument, never a TypeError deep inside (`vmafkit.api`).


def parse_size(value: Any, flag: str = "--resolution") -> tuple[int, int]:
    """`WxH` (or a (W, H) pair) -> (W, H), both 1..DIMENSION_MAX; InputError naming `flag`."""
    import re

    if isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_int(v) for v in value):
        width, height = int(value[0]), int(value[1])
    else:
        match = re.fullmatch(r"\s*(\d{1,6})\s*[xX]\s*(\d{1,6})\s*", str(value)) if isinstance(value, str) else None
        if not match:
            raise InputError(f"{flag}: expected WIDTHxHEIGHT such as 1920x1080, got {value!r}")
        width, height = int(match.group(1)), int(match.group(2))
    if not (1 <= width <= DIMENSION_MAX and 1 <= height <= DIMENSION_MAX):
        raise InputError(f"{flag}: {value!r}: width and height must be 1 to {DIMENSION_MAX}")
    return width, height


def parse_heights(value: Any, flag: str = "--resolutions") -> tuple[int, ...]:
    """`1080,720,480` (or a sequence of heights) -> (1080, 720, 480), each 2..DIMENSION_MAX."""
    if isinstance(value, (tuple, list)) and all(_is_int(v) for v in value):
        heights = tuple(int(v) for v in value)
    else:
        items = [item.strip().removesuffix("p") for item in str(value).split(",")] if isinstance(value, str) else []
        if not items or not all(item.isdigit() for item in items):
            raise InputError(f"{flag}: expected comma-separated heights such as 1080,720,480, got {value!r}")
        heights = tuple(int(item) for item in items)
    bad = [h for h in heights if not 2 <= h <= DIMENSION_MAX]
    if bad:
        raise InputError(f"{flag}: height {bad[0]} is out of range (2 to {DIMENSION_MAX})")
    return heights


def _is_int(value: Any) -> bool:
    import numbers

    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


API_RANGES: dict[str, tuple[float | None, float | None, bool, bool]] = {
    # name: (low, high, low end open, high end open)
    "threads": (*JOBS_RANGE, False, False),
    "jobs": (*JOBS_RANGE, False, False),
    "workers": (*JOBS_RANGE, False, False),
    "encoder_threads": (*ENCODER_THREADS_RANGE, False, False),
    "max_frames": (1, None, False, False),
    "epochs": (*EPOCHS_RANGE, False, False),
    "batch_size": (*BATCH_SIZE_RANGE, False, False),
    "lr": (0.0, LR_MAX, True, False),
    "weight_decay": (*WEIGHT_DECAY_RANGE, False, False),
    "width": (1, DIMENSION_MAX, False, False),
    "height": (1, DIMENSION_MAX, False, False),
    "fps": (0.0, FPS_MAX, True, False),
    "cq": (*CQ_RANGE_OTHER, False, False),
    "coverage": (0.0, 1.0, True, True),
    "subsample": (*SUBSAMPLE_RANGE, False, False),
    "max_bytes": (1, None, False, False),
    "max_members": (1, None, False, False),
    "bootstrap": (*BOOTSTRAP_RANGE, False, False),
    "vmaf": (0.0, 100.0, False, False),
    "samples": (1, None, False, False),
    "sample_seconds": (0.0, T.TARGET_SAMPLE_SECONDS_MAX, True, False),
}


def _hint_matches(value: Any, hint: Any) -> bool:
    import collections.abc as abc
    import os
    import types
    import typing

    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_hint_matches(value, arm) for arm in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if isinstance(hint, type) and issubclass(hint, os.PathLike):
        return isinstance(value, os.PathLike)
    if origin in (abc.Sequence, list, tuple):
        args = typing.get_args(hint)
        if isinstance(value, (str, bytes)) or not isinstance(value, abc.Sequence):
            return False
        return not args or all(_hint_matches(item, args[0]) for item in value)
    if origin in (abc.Mapping, dict):
        return isinstance(value, abc.Mapping)
    if origin is abc.Callable or hint is abc.Callable:
        return callable(value)
    if isinstance(hint, type) and hint.__module__.startswith("vmafkit."):
        return isinstance(value, hint)  # one of vmafkit's own result types (e.g. TrainResult)
    return True  # a type this check does not know: the stage's own checks judge it


def _hint_text(hint: Any) -> str:
    import types
    import typing

    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_hint_text(arm) for arm in typing.get_args(hint))
    if hint is type(None):
        return "None"
    name = getattr(hint, "__name__", None)
    if name is not None and not typing.get_args(hint):
        return {
            "Path": "a path",
            "str": "a string",
            "int": "an integer",
            "float": "a number",
            "bool": "True/False",
        }.get(name, name)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is not None and getattr(origin, "__name__", "") == "Sequence" and args:
        items = {int: "integers", str: "strings", float: "numbers"}.get(args[0])
        if items is None:
            items = "mappings" if getattr(typing.get_origin(args[0]), "__name__", "") == "Mapping" else "items"
        return f"a list of {items}"
    return str(hint).replace("typing.", "").replace("collections.abc.", "")


def check_api_arguments(function: str, arguments: Mapping[str, Any], hints: Mapping[str, Any]) -> None:
    """Each argument against its annotation, then against API_RANGES; InputError on the first
    that fails (`function(): name must be ..., got ...`)."""
    import math

    for name, value in arguments.items():
        if name == "seeds":  # the one seed check `--seeds` gets, with its own messages
            if value is not None:
                check_seeds(value, "seeds")
            continue
        if isinstance(value, (str, os.PathLike)) and "\x00" in os.fspath(value):
            # no path or name holds one; the OS would refuse it with a bare ValueError
            raise InputError(f"{function}(): {name} contains a NUL byte, got {_short(value)}")
        hint = hints.get(name)
        if hint is not None and not _hint_matches(value, hint):
            raise InputError(f"{function}(): {name} must be {_hint_text(hint)}, got {_short(value)}")
        bounds = API_RANGES.get(name)
        if bounds is None or value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        low, high, low_open, high_open = bounds
        inside = (
            math.isfinite(value)
            and (low is None or (value > low if low_open else value >= low))
            and (high is None or (value < high if high_open else value <= high))
        )
        if not inside:
            top = "∞)" if high is None else f"{high:g}{')' if high_open else ']'}"
            span = f"{'(' if low_open else '['}{low:g}, {top}"
            raise InputError(f"{function}(): {name} must be in {span}, got {_short(value)}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_fields(options: Any) -> None:
    """A typed options object (a dataclass such as `media.options.Scoring`) checked the way the API
    checks its arguments: each field against its annotation and API_RANGES, one InputError naming
    the class and the field (`Scoring(): subsample must be in [1, 1e+06], got 0`)."""
    import dataclasses
    import sys
    import typing

    cls = type(options)
    module = sys.modules[cls.__module__].__dict__
    hints = typing.get_type_hints(cls, globalns=module)
    values = {f.name: getattr(options, f.name) for f in dataclasses.fields(options)}
    check_api_arguments(cls.__name__, values, hints)
