#!/usr/bin/env python3
"""Mutation testing of the decision modules (gate, verdict, calibration, accuracy, derive, metrics,
domain, baseline, rd, the subjective gate, registry, predict) with mutmut 3, and a per-module
kill-rate report.

    python tools/mutation.py                 # fresh run, then the report (exit 1 below --min-score)
    python tools/mutation.py --keep          # reuse the previous results where the source is unchanged
    python tools/mutation.py --rerun-survivors   # re-test only the mutants that survived last time
    python tools/mutation.py --report        # the report of the last run, nothing re-run
    python tools/mutation.py --report --diffs    # ... with the diff of every survivor
    python tools/mutation.py --modules gate,accuracy   # only these modules

The checkout is never touched: src/, tests/unit/, the shared test modules (tests/__init__.py,
conftest.py, factories.py) and pyproject.toml are copied into a work folder (default build/mutation, already git-ignored) whose pyproject.toml gets
the [tool.mutmut] section, and mutmut runs there (it writes its mutants/ below the work folder).
A file whose content did not change is not re-copied, so mutmut can reuse its mutants.

Only the modules in MODULES (or --modules) are mutated; each mutant is tested by the unit tests (from the selection
below) that call the mutated function, `-x -q -p no:cacheprovider`; tests/e2e never runs.
Kill rate = (killed + timeout) / (every mutant except "skipped"); a mutant no test reaches
("no tests") counts as a survivor.
"""

from __future__ import annotations

import argparse
import ast
import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

MODULES = {
    "gate": "src/vmafkit/decide/gate.py",
    "verdict": "src/vmafkit/decide/verdict.py",
    "calibration": "src/vmafkit/decide/calibration.py",
    "accuracy": "src/vmafkit/decide/accuracy.py",
    "derive": "src/vmafkit/decide/derive.py",
    "metrics": "src/vmafkit/train/metrics.py",
    "domain": "src/vmafkit/train/domain.py",
    "baseline": "src/vmafkit/train/baseline.py",
    "rd": "src/vmafkit/report/rd.py",
    "subjective_gate": "src/vmafkit/decide/subjective_gate.py",
    "registry": "src/vmafkit/serve/registry.py",
    "predict": "src/vmafkit/serve/predict.py",
    "fold_members": "src/vmafkit/train/fold_members.py",
    "rederive": "src/vmafkit/serve/rederive.py",
}

# The unit tests of those modules (and the tests that drive them through their callers).
TESTS = [
    "tests/unit/decide/test_evidence_tied_to_members.py",
    "tests/unit/decide/test_gate.py",
    "tests/unit/decide/test_verdict.py",
    "tests/unit/decide/test_calibration.py",
    "tests/unit/train/test_metrics.py",
    "tests/unit/serve/test_registry.py",
    "tests/unit/serve/test_predict.py",
    "tests/unit/decide/test_trust_attacks.py",
    "tests/unit/serve/test_export.py",
    "tests/unit/report/test_report.py",
    "tests/unit/decide/test_decide_accuracy.py",
    "tests/unit/report/test_rd.py",
    "tests/unit/decide/test_subjective_stats.py",
    "tests/unit/decide/test_subjective_gate.py",
    "tests/unit/pipeline/test_subjective_run.py",
    "tests/unit/decide/test_accuracy.py",
    "tests/unit/train/test_domain.py",
]
# Beside tests/unit/, what the unit tests import from tests/ (the package, its conftest, the data factories).
SHARED_TEST_FILES = ("__init__.py", "conftest.py", "factories.py")

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
KILLED = {1, 3}  # pytest: tests failed / internal error
TIMEOUT = {36, -24, 24, 152, 255}
SURVIVED = {0}
NO_TESTS = {5, 33}
SKIPPED = {34}


def test_selection() -> list[str]:
    return [t for t in dict.fromkeys(TESTS) if (REPO / t).is_file()]


def mutmut_section(tests: list[str]) -> str:
    def toml_list(items: list[str]) -> str:
        return "[" + ", ".join(json.dumps(i) for i in items) + "]"

    return "\n".join(
        [
            "",
            "[tool.mutmut]",
            'source_paths = ["src"]',
            f"only_mutate = {toml_list(list(MODULES.values()))}",
            f"pytest_add_cli_args_test_selection = {toml_list(tests)}",
            'pytest_add_cli_args = ["-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning"]',
            # the work folder sits inside the checkout: git would report the checkout's changes
            "use_git_change_detection = false",
            "",
        ]
    )


def _sync_file(src: Path, dst: Path) -> bool:
    """Copy `src` to `dst` when the content differs; the copy gets a fresh mtime (mutmut regenerates
    a file's mutants when the source is newer than them). True when copied."""
    if dst.is_file() and filecmp.cmp(src, dst, shallow=False):
        return False
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    now = time.time()
    os.utime(dst, (now, now))
    return True


def _sync_tree(src: Path, dst: Path, *, mutants_root: Path | None = None) -> list[Path]:
    """Mirror `src` into `dst` (.py/.json and other data files; no caches). Returns the changed
    paths relative to `dst`'s parent layout. A changed file that mutmut only copies (not mutated)
    is also removed from mutants/, because mutmut never refreshes an existing copy."""
    changed: list[Path] = []
    wanted: set[Path] = set()
    for path in src.rglob("*"):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc" or ".egg-info" in str(path):
            continue
        rel = path.relative_to(src)
        wanted.add(rel)
        if _sync_file(path, dst / rel):
            changed.append(rel)
    for path in list(dst.rglob("*")) if dst.exists() else []:
        if path.is_file() and path.relative_to(dst) not in wanted and "__pycache__" not in path.parts:
            path.unlink()
            changed.append(path.relative_to(dst))
    return changed


def stage(work: Path, tests: list[str]) -> None:
    work.mkdir(parents=True, exist_ok=True)
    src_changed = _sync_tree(REPO / "src", work / "src")
    mutated = {Path(p).relative_to("src") for p in MODULES.values()}
    for rel in src_changed:
        copied = work / "mutants" / "src" / rel
        if rel not in mutated and copied.exists():
            copied.unlink()  # mutmut only copies a non-mutated file when the copy is missing
    # tests: only the unit tests and what they share (mutmut copies tests/ into mutants/)
    _sync_tree(REPO / "tests" / "unit", work / "tests" / "unit")
    for shared in SHARED_TEST_FILES:
        _sync_file(REPO / "tests" / shared, work / "tests" / shared)
    if (work / "tests" / "e2e").exists():
        shutil.rmtree(work / "tests" / "e2e")
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    pyproject = re.sub(r"(?ms)^\[tool\.mutmut\].*?(?=^\[|\Z)", "", pyproject)  # ours replaces any
    target = work / "pyproject.toml"
    text = pyproject.rstrip("\n") + "\n" + mutmut_section(tests)
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")


def forget_test_mapping(work: Path) -> None:
    """mutmut maps tests to functions once and then only adds *new* tests, so a function that is
    new or changed since then would count as "no tests". Drop the mapping (it is rebuilt by one
    plain run of the selection) and the "no tests" verdicts; every other verdict is kept."""
    (work / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)
    for rel in MODULES.values():
        meta = work / "mutants" / (rel + ".meta")
        if meta.is_file():
            data = json.loads(meta.read_text())
            codes = data["exit_code_by_key"]
            if any(v in NO_TESTS for v in codes.values()):
                data["exit_code_by_key"] = {k: (None if v in NO_TESTS else v) for k, v in codes.items()}
                meta.write_text(json.dumps(data, indent=4))


def mutmut(work: Path, *args: str) -> int:
    env = dict(os.environ)
    # tests/conftest.py finds the shared media beside the checkout; the work folder is elsewhere
    env.setdefault("VMAFKIT_SHARED", str(REPO.parent / "shared"))
    env.setdefault("PYTHONHASHSEED", "0")
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("MKL_NUM_THREADS", "1")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    cmd = [sys.executable, "-m", "mutmut", *args]
    shown_args = [a for a in args if not a.startswith("vmafkit.")]
    named = len(args) - len(shown_args)
    print(
        "+",
        " ".join([sys.executable, "-m", "mutmut", *shown_args]),
        f"+ {named} mutant names" if named else "",
        f"(in {work})",
        flush=True,
    )
    # mutmut redraws a spinner line many times a second: keep real lines, and the status every 60 s
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    buf, last_status, shown = b"", "", 0.0
    while True:
        chunk = proc.stdout.read1(65536)
        if not chunk:
            break
        buf += chunk
        *parts, buf = re.split(rb"[\r\n]", buf)
        for raw in parts:
            line = raw.decode("utf-8", "replace").rstrip()
            if not line:
                continue
            if line[0] in SPINNER:
                last_status = line[1:].strip()
                if time.monotonic() - shown >= 60:
                    print("  ", last_status, flush=True)
                    shown = time.monotonic()
            else:
                print(line, flush=True)
    if buf.strip():
        print(buf.decode("utf-8", "replace"), flush=True)
    if last_status:
        print("  ", last_status, flush=True)
    return proc.wait()


def load_results(work: Path) -> dict[str, dict[str, int | None]]:
    out = {}
    for module, rel in MODULES.items():
        meta = work / "mutants" / (rel + ".meta")
        out[module] = json.loads(meta.read_text())["exit_code_by_key"] if meta.is_file() else {}
    return out


def classify(code: int | None) -> str:
    if code is None:
        return "not checked"
    if code in KILLED:
        return "killed"
    if code in TIMEOUT:
        return "timeout"
    if code in SURVIVED:
        return "survived"
    if code in NO_TESTS:
        return "no tests"
    if code in SKIPPED:
        return "skipped"
    return "suspicious"


def survivors(results: dict[str, dict[str, int | None]]) -> list[tuple[str, str]]:
    return [
        (module, key)
        for module, codes in results.items()
        for key, code in sorted(codes.items())
        if classify(code) in ("survived", "no tests", "suspicious", "not checked")
    ]


def report(work: Path) -> float:
    results = load_results(work)
    rows = []
    totals = Counter()
    for module, codes in results.items():
        c = Counter(classify(v) for v in codes.values())
        considered = sum(c.values()) - c["skipped"]
        dead = c["killed"] + c["timeout"]
        rate = dead / considered if considered else float("nan")
        rows.append(
            (
                module,
                considered,
                c["killed"],
                c["timeout"],
                c["survived"],
                c["no tests"],
                c["suspicious"] + c["not checked"],
                rate,
            )
        )
        totals.update(c)
    considered = sum(totals.values()) - totals["skipped"]
    dead = totals["killed"] + totals["timeout"]
    overall = dead / considered if considered else float("nan")
    head = f"{'module':<12} {'mutants':>7} {'killed':>7} {'timeout':>7} {'survived':>8} {'no tests':>8} {'other':>6} {'kill rate':>9}"
    print(head)
    print("-" * len(head))
    for module, n, k, t, s, nt, other, rate in rows:
        print(f"{module:<12} {n:>7} {k:>7} {t:>7} {s:>8} {nt:>8} {other:>6} {rate:>9.1%}")
    print("-" * len(head))
    print(
        f"{'overall':<12} {considered:>7} {totals['killed']:>7} {totals['timeout']:>7} {totals['survived']:>8} "
        f"{totals['no tests']:>8} {totals['suspicious'] + totals['not checked']:>6} {overall:>9.1%}"
    )
    return overall


def _function_ranges(source: str) -> dict[str, tuple[int, int]]:
    """mutmut's mangled function name (x_f, xǁClassǁm) -> (first, last) source line."""
    out = {}
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out[f"x_{node.name}"] = (_first_line(node), node.end_lineno)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    out[f"xǁ{node.name}ǁ{item.name}"] = (_first_line(item), item.end_lineno)
    return out


def _first_line(node: ast.AST) -> int:
    """The function's first line as mutmut prints it: its first decorator, else `def`."""
    return min([d.lineno for d in node.decorator_list] + [node.lineno])


def _changed_line(diff: str, first: int) -> int | None:
    """Source line of the first removed line of a mutant's diff (the diff is of the function
    alone, so its line 1 is the function's first line)."""
    old = None
    for text in diff.splitlines():
        hunk = re.match(r"@@ -(\d+)", text)
        if hunk:
            old = int(hunk.group(1))
        elif old is not None and not text.startswith(("---", "+++")):
            if text.startswith("-"):
                return first + old - 1
            if not text.startswith("+"):
                old += 1
    return None


def survivor_details(work: Path, with_diff: bool) -> list[dict]:
    """Each survivor: module, mutant name, source line and the changed line before/after."""
    results = load_results(work)
    left = survivors(results)
    if not left:
        return []
    os.chdir(work)
    from mutmut.__main__ import get_diff_for_mutant
    from mutmut.configuration import Config

    Config.ensure_loaded()
    out = []
    for module, key in left:
        rel = MODULES[module]
        source = (work / rel).read_text(encoding="utf-8")
        lines = source.splitlines()
        func = key.rsplit(".", 1)[-1].rsplit("__mutmut_", 1)[0]
        first, last = _function_ranges(source).get(func, (1, len(lines)))
        diff = get_diff_for_mutant(key, path=rel)
        minus = [d[1:] for d in diff.splitlines() if d.startswith("-") and not d.startswith("---")]
        plus = [d[1:] for d in diff.splitlines() if d.startswith("+") and not d.startswith("+++")]
        line = _changed_line(diff, first)
        if line is not None and not (first <= line <= last and lines[line - 1].strip() == minus[0].strip()):
            line = None  # the function moved since the mutants were generated
        out.append(
            {
                "module": module,
                "mutant": key,
                "status": classify(results[module][key]),
                "line": line,
                "before": minus[0].strip() if minus else "",
                "after": plus[0].strip() if plus else "",
                "diff": diff if with_diff else None,
            }
        )
    return out


HARMLESS_FILE = Path(__file__).with_name("mutation_harmless.json")


def load_harmless() -> list[dict]:
    """Survivors judged harmless (equivalent mutants), each {module, function, after, reason}:
    matched on the module, the function and the mutated line (mutant numbers shift with edits)."""
    if not HARMLESS_FILE.is_file():
        return []
    return json.loads(HARMLESS_FILE.read_text(encoding="utf-8"))


def explain(details: list[dict], harmless: list[dict]) -> None:
    for d in details:
        func = d["mutant"].rsplit(".", 1)[-1].rsplit("__mutmut_", 1)[0]
        d["function"] = func
        d["reason"] = next(
            (
                h["reason"]
                for h in harmless
                if h["module"] == d["module"]
                and h["function"] == func
                and " ".join(h["after"].split()) == " ".join(d["after"].split())
            ),
            None,
        )


def markdown_table(details: list[dict]) -> str:
    def cell(text: str) -> str:
        return "`" + text.replace("|", "\\|").replace("`", "'") + "`" if text else "(line removed)"

    rows = ["| module | line | function | mutation (before → after) | why harmless |", "|---|---:|---|---|---|"]
    for d in details:
        rows.append(
            f"| {d['module']} | {d['line'] or ''} | `{d['function']}` | {cell(d['before'])} → {cell(d['after'])} "
            f"| {d['reason'] or 'UNEXPLAINED'} |"
        )
    return "\n".join(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", default=str(REPO / "build" / "mutation"), help="work folder (default build/mutation)")
    ap.add_argument("--keep", action="store_true", help="keep previous results for unchanged functions")
    ap.add_argument("--rerun-survivors", action="store_true", help="re-test only last run's survivors")
    ap.add_argument("--report", action="store_true", help="only print the report of the last run")
    ap.add_argument("--diffs", action="store_true", help="print the diff of every survivor")
    ap.add_argument("--json", help="also write the counts and survivors to this JSON file")
    ap.add_argument("--markdown", action="store_true", help="print the survivors as a Markdown table (TESTING.md)")
    ap.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--min-score", type=float, default=0.90)
    ap.add_argument(
        "--modules", help=f"comma-separated subset of the modules to mutate (default all: {', '.join(MODULES)})"
    )
    ap.add_argument("mutants", nargs="*", help="mutant names or globs to (re-)run, e.g. 'vmafkit.decide.gate.*'")
    args = ap.parse_args()
    if args.modules:
        chosen = [m.strip() for m in args.modules.split(",") if m.strip()]
        unknown = sorted(set(chosen) - set(MODULES))
        if unknown:
            ap.error(f"unknown modules {unknown}; known: {', '.join(MODULES)}")
        for name in list(MODULES):
            if name not in chosen:
                del MODULES[name]

    work = Path(args.workdir).resolve()
    if not args.report:
        tests = test_selection()
        fresh = not (args.keep or args.rerun_survivors or args.mutants)
        if fresh and (work / "mutants").exists():
            shutil.rmtree(work / "mutants")
        stage(work, tests)
        if not fresh:
            forget_test_mapping(work)
        print(f"mutating {', '.join(MODULES.values())}\ntests: {' '.join(tests)}", flush=True)
        names = list(args.mutants)
        if args.rerun_survivors:
            names += [key for _, key in survivors(load_results(work))]
            if not names:
                print("no survivors to re-run")
        if not (args.rerun_survivors and not names):
            started = time.monotonic()
            rc = mutmut(work, "run", "--max-children", str(args.max_children), *names)
            print(f"mutmut run exit {rc} after {time.monotonic() - started:.0f} s", flush=True)
            if rc != 0:
                return rc
    print()
    score = report(work)
    details = survivor_details(work, args.diffs)
    explain(details, load_harmless())
    unexplained = [d for d in details if d["reason"] is None]
    if details:
        print(
            f"\n{len(details)} surviving mutants, {len(details) - len(unexplained)} of them judged harmless "
            f"({HARMLESS_FILE.name}), {len(unexplained)} unexplained:"
        )
        for d in details:
            print(
                f"  {d['mutant']} [{d['status']}] {MODULES[d['module']]}:{d['line']}\n"
                f"      - {d['before']}\n      + {d['after']}\n"
                f"      = {'harmless: ' + d['reason'] if d['reason'] else 'UNEXPLAINED'}"
            )
            if d["diff"]:
                print("\n".join("      " + x for x in d["diff"].splitlines()))
    if args.markdown:
        print()
        print(markdown_table(details))
    if args.json:
        results = load_results(work)
        counts = {m: dict(Counter(classify(v) for v in c.values())) for m, c in results.items()}
        Path(args.json).write_text(json.dumps({"score": score, "counts": counts, "survivors": details}, indent=1))
    ok = score >= args.min_score
    print(f"\nkill rate {score:.1%} ({'>=' if ok else '<'} {args.min_score:.0%})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
