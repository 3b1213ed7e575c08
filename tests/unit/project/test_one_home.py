"""Every concept has one home: the run-folder and file names live in `vmafkit/layout.py` only,
and no two modules of the package import each other (directly or round a longer loop).

The oracle for the names is the list below, written from the run-folder layout README.md
documents, not taken from layout.py: the source of every other module is parsed with `ast`
and a string literal (docstrings and comments aside) that spells one of them fails, naming the
file and line."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import vmafkit
from vmafkit import layout

PACKAGE = Path(vmafkit.__file__).parent

# Written from README.md, independently of layout.py.
RUN_FOLDER_NAMES = (
    "loso_seed",  # loso_seed{N}.json and its .predictions.jsonl / .timing.json / .refit.json
    ".predictions.jsonl",
    ".timing.json",
    ".refit.json",
    "PROMOTE.json",
    "HOLD.json",
    "per_frame_canonical6",
    "pipeline.json",
    "results.tar.gz",
    "report.html",
    "registry.json",
    "registry_history",
    ".registry.lock",
    ".vmafkit-cache",
    ".vmafkit.lock",
    "_calibration.json",
    "subjective_report.json",
    "subjective_predictions.jsonl",
    "subjective_items.jsonl",
    "subjective_timing.json",
)


def _docstring_nodes(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def spelled_names(path: Path) -> list[str]:
    """'file:line: name' for every string literal in `path` (not a docstring) holding a run-folder name."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docs = _docstring_nodes(tree)
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            hits += [f"{path}:{node.lineno}: {name}" for name in RUN_FOLDER_NAMES if name in node.value]
    return hits


OTHER_MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "layout.py")


@pytest.mark.parametrize("path", OTHER_MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_layout_spells_run_folder_names(path):
    assert spelled_names(path) == [], "use vmafkit.layout for these names"


def test_the_name_check_bites(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('"""Writes loso_seed{N}.json (a docstring may say so)."""\n\nNAME = f"loso_seed{3}.json"\n')
    assert spelled_names(bad) == [f"{bad}:3: loso_seed"]


def test_layout_gives_the_names_spec_documents(tmp_path):
    assert layout.seed_report(tmp_path, 3) == tmp_path / "loso_seed3.json"
    assert layout.predictions_file(tmp_path, 3) == tmp_path / "loso_seed3.predictions.jsonl"
    assert layout.timing_file(tmp_path, 3) == tmp_path / "loso_seed3.timing.json"
    assert layout.refit_file(tmp_path, 3) == tmp_path / "loso_seed3.refit.json"
    assert layout.verdict_file(tmp_path, "PROMOTE") == tmp_path / "PROMOTE.json"
    assert layout.verdict_file(tmp_path, "HOLD") == tmp_path / "HOLD.json"
    with pytest.raises(ValueError):
        layout.verdict_file(tmp_path, "MAYBE")
    assert layout.corpus_file(tmp_path) == tmp_path / "corpus" / "per_frame_canonical6.jsonl"
    assert layout.cell_cache_dir(tmp_path / "c.jsonl") == tmp_path / ".vmafkit-cache" / "cells"
    assert layout.loso_dir(tmp_path) == tmp_path / "loso" and layout.models_dir(tmp_path) == tmp_path / "models"
    assert layout.registry_file(tmp_path) == tmp_path / "registry.json"
    assert layout.member_id("fr_v1", 2) == "fr_v1_seed2"
    assert layout.member_onnx_name("fr_v1_seed2") == "fr_v1_seed2.onnx"
    assert layout.sidecar_name("fr_v1_seed2") == "fr_v1_seed2.json"
    assert layout.calibration_name("fr_v1") == "fr_v1_calibration.json"
    assert layout.is_calibration_name("fr_v1_calibration.json") and not layout.is_calibration_name("fr_v1.json")


@pytest.mark.parametrize(
    "name, seed",
    [
        ("loso_seed0.json", 0),
        ("loso_seed12.predictions.jsonl", 12),
        ("loso_seed3.timing.json", None),  # not a report or a prediction file
        ("loso_seed3.predictions.parquet", None),  # vmafkit writes no Parquet predictions
        ("loso_seedX.json", None),
        ("xloso_seed1.json", None),
        ("PROMOTE.json", None),
    ],
)
def test_seed_of_reads_only_the_names_vmafkit_writes(name, seed):
    assert layout.seed_of(name) == seed


# ---- import cycles ---------------------------------------------------------------------------


def _module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the package's modules it imports (anywhere in it, functions included). `from
    pkg import sub` counts as importing `sub`, not `pkg`'s __init__."""
    modules = {_module_name(p, package): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                subs = [f"{node.module}.{alias.name}" for alias in node.names]
                targets = [t for t in subs if t in modules] or [node.module]
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_two_modules_import_each_other():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_check_bites(tmp_path):
    pkg = tmp_path / "vmafkit"
    (pkg / "media").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "media" / "__init__.py").write_text("")
    (pkg / "media" / "score.py").write_text("def f():\n    from vmafkit.media.vmafcli import g\n")
    (pkg / "media" / "vmafcli.py").write_text("from vmafkit.media.score import f\n")
    cycle = find_cycle(import_graph(pkg))
    assert cycle is not None and set(cycle) == {"vmafkit.media.score", "vmafkit.media.vmafcli"}
