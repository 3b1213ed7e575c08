"""The import rule of ARCHITECTURE.md: a stage imports only earlier stages and the shared helpers.

The oracle is the stage table below, written from ARCHITECTURE.md, not from the code: every
`import` statement in the package (including ones inside functions) is parsed with `ast`, and an
import of a later stage fails with the importing file, line and both stages named."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import vmafkit

PACKAGE = Path(vmafkit.__file__).parent

# Rank of each top-level module or package of vmafkit, in pipeline order. Equal rank: independent.
STAGES: dict[str, int] = {
    # shared helpers: every stage may use them; they use none of the stages
    "errors": 0,
    "io": 0,
    "layout": 0,
    "progress": 0,
    "provenance": 0,
    "thresholds": 0,
    "validation": 0,
    "_version": 0,
    "_public": 0,
    "results": 0,
    "parallel": 1,
    "media": 2,
    "host": 3,
    "corpus": 4,
    "train": 5,
    "decide": 7,
    "serve": 8,
    "report": 9,
    "bundle": 9,
    "pipeline": 10,
    "api": 11,
    "subjective": 11,  # the 0.1 home of the subjective target: a deprecation shim over pipeline.subjective
    "__init__": 12,  # the package's front door: re-exports the API (lazily)
    "cli": 12,
    "__main__": 13,
}


def _stage_of_file(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def _imported_stages(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise AssertionError(f"{path}:{node.lineno}: relative import; vmafkit uses absolute imports")
            if node.module == "vmafkit":
                names = [f"vmafkit.{alias.name}" for alias in node.names]
            elif node.module:
                names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "vmafkit" and len(parts) > 1:
                found.append((node.lineno, parts[1]))
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_stage():
    unknown = {_stage_of_file(p) for p in SOURCES} - set(STAGES)
    assert not unknown, f"add these to the stage table (and ARCHITECTURE.md): {sorted(unknown)}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_stage_imports_only_earlier_stages(path):
    own = _stage_of_file(path)
    for line, target in _imported_stages(path):
        if target == own:
            continue
        assert target in STAGES, f"{path}:{line}: imports unknown vmafkit.{target}"
        assert STAGES[target] < STAGES[own] or (STAGES[target] == 0 and STAGES[own] == 0 and target != own), (
            f"{path.relative_to(PACKAGE)}:{line}: stage {own!r} (rank {STAGES[own]}) imports "
            f"{target!r} (rank {STAGES[target]}), a later or parallel stage"
        )


def test_the_rule_catches_a_backward_import(tmp_path):
    """The checker itself bites: a corpus module that imports the decide stage is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from vmafkit.decide import gate\n")
    assert _imported_stages(bad) == [(2, "decide")]
    assert STAGES["decide"] > STAGES["corpus"]


UNIT_TESTS = Path(__file__).resolve().parents[1]
# test folders that are not a stage of the table above: the API and CLI together, and the project's own rules
NON_STAGE_TEST_FOLDERS = {"front_door": "vmafkit.api and vmafkit.cli", "project": "rules over the whole package"}


def test_the_unit_tests_mirror_the_stages():
    """tests/unit/<stage>/ for each stage's tests (issue 21): no test module at the top, and no folder
    that is neither a stage nor one of the two named above."""
    loose = sorted(p.name for p in UNIT_TESTS.glob("*.py") if p.name != "__init__.py")
    assert not loose, f"put these in tests/unit/<stage>/: {loose}"
    folders = {p.name for p in UNIT_TESTS.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert folders - set(STAGES) - set(NON_STAGE_TEST_FOLDERS) == set()
    assert {"media", "corpus", "train", "decide", "serve", "report", "bundle"} <= folders
