"""JSON Schemas shipped in `vmafkit/schemas/` and one-line validation errors."""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from .errors import InputError

SCHEMA_FILES = {
    "registry": "registry.schema.json",
    "verdict": "verdict.schema.json",
    "seed_report": "seed_report.schema.json",
    "sidecar": "sidecar.schema.json",
    "calibration": "calibration.schema.json",
}


@functools.lru_cache(maxsize=None)
def load_schema(name: str) -> dict[str, Any]:
    """The JSON Schema `name` (a key of SCHEMA_FILES) as shipped in the package."""
    text = resources.files("vmafkit").joinpath("schemas", SCHEMA_FILES[name]).read_text(encoding="utf-8")
    return json.loads(text)


def schema_errors(obj: Any, name: str) -> list[str]:
    """Every schema violation as 'path: message', sorted by location."""
    schema = load_schema(name)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(obj), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}" for e in errors]


def validate_or_raise(obj: Any, name: str, *, path: str | Path | None = None, what: str | None = None) -> None:
    errors = schema_errors(obj, name)
    if errors:
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        raise InputError(f"malformed {what or name}: {errors[0]}{more}", path=path)
