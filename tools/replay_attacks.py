#!/usr/bin/env python3
"""Replay issue 12's cheap attack list against the real `vmafkit` CLI, each case in its own
subprocess under a wall-clock limit and an address-space limit, and check what the user sees.

    python tools/replay_attacks.py                  # every case; exit 1 if any fails
    python tools/replay_attacks.py -k disk -k cqs   # only cases whose name contains one of these
    python tools/replay_attacks.py --list           # the case names
    python tools/replay_attacks.py --json out.json  # also write the results as JSON

A case passes when the command
  * exits with status 2 (no signal, no timeout: `--timeout`, default 60 s),
  * stays under the address-space limit (RLIMIT_AS in the child, `--mem-gib`, default 4 GiB;
    going over shows as a MemoryError traceback, an abort or a kill, all of which fail),
  * prints exactly one stderr line starting "vmafkit: error:", nothing on stderr that is not a
    "vmafkit: ..." line, and no "Traceback" anywhere,
  * and, where the case says so, the error line matches its pattern (e.g. names the empty item)
    and the files on disk pass the case's check (e.g. a failed `registry flip` leaves
    registry.json byte-identical and writes no history entry).

Disk-full cases run the child with RLIMIT_FSIZE (the `ulimit -f` of the issue): a write past it
fails with EFBIG, since Python ignores SIGXFSZ.

The inputs are built in a temp folder by the script (synthetic corpora from the test helpers,
tiny clips from the bundled ffmpeg); nothing in the checkout is written. The table shows case,
exit status, seconds, peak RSS of the vmafkit process and the verdict.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ERROR_PREFIX = "vmafkit: error:"


@dataclass
class Case:
    name: str
    argv: list[str]  # after `vmafkit`
    expect: str | None = None  # regex the error line must match (case-insensitive)
    fsize: int | None = None  # RLIMIT_FSIZE for the child, bytes (disk full)
    check: Callable[[], str | None] | None = None  # after the run: a problem, or None
    exit_code: int = 2
    note: str = ""


@dataclass
class Result:
    case: str
    exit: int | None
    seconds: float
    rss_mb: float
    ok: bool
    problems: list[str] = field(default_factory=list)
    error_line: str = ""

    def to_json(self) -> dict:
        return self.__dict__


# ----------------------------------------------------------------------------- inputs


def _clip(ff: str, path: Path, size: str, source: str = "testsrc2", frames: int = 3) -> Path:
    w, h = size.split("x")
    subprocess.run(
        [
            ff,
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"{source}=s=64x64:r=25",
            "-frames:v",
            str(frames),
            "-vf",
            f"scale={w}:{h}",
            "-pix_fmt",
            "yuv420p",
            str(path),
        ],
        check=True,
    )
    return path


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _mutated(work: Path, good: Path, name: str, **changes) -> Path:
    """The good corpus with its first row's fields replaced."""
    rows = _rows(good)
    rows[0].update(changes)
    path = work / f"{name}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _raw_first_row(work: Path, good: Path, name: str, key: str, raw_value: str) -> Path:
    """The good corpus with the first row's `key` spelled as raw JSON text (e.g. a 400-digit number)."""
    lines = good.read_text().splitlines()
    row = json.loads(lines[0])
    row[key] = "__RAW__"
    lines[0] = json.dumps(row).replace('"__RAW__"', raw_value)
    path = work / f"{name}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


NONSENSE = {  # case name -> the first corpus row's replaced fields
    "vmaf 1e6": {"vmaf": 1e6},
    "vmaf -50": {"vmaf": -50.0},
    "cq -5": {"cq": -5},
    "cq 1e308": {"cq": 1e308},
    "frame_index 1.5": {"frame_index": 1.5},
    "frame_index -7": {"frame_index": -7},
    "adm2 1e308": {"adm2": 1e308},
    "encoder int": {"encoder": 264},
    "group null": {"group": None},
    'frame_index "abc"': {"frame_index": "abc"},
}


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")


def prepare(work: Path) -> None:
    """Write every input into `work` (run in its own process: the torch import of the export stays
    out of the parent, whose peak RSS every child would otherwise inherit in its ru_maxrss)."""
    sys.path.insert(0, str(REPO))
    from tests.factories import export_models, make_corpus
    from vmafkit.media.ffmpeg import find_ffmpeg

    ff = find_ffmpeg().path
    good = make_corpus(work / "good.jsonl", cqs=(20, 23, 26, 30, 33, 36, 40), frames=8)  # 168 rows, 3 sources
    (work / "reg").mkdir()
    export_models(work / "reg", seeds=(0, 1))  # reg/loso/PROMOTE.json and its smoke export in reg/models
    os.mkfifo(work / "fifo.jsonl")
    with open(work / "line50mb.jsonl", "wb") as handle:  # one 50 MB line, no newline
        handle.write(b'{"src": "' + b"x" * (50 << 20) + b'"}')
    (work / "deep.jsonl").write_text("[" * 100_000 + "]" * 100_000 + "\n")
    data = good.read_bytes()
    (work / "xff.jsonl").write_bytes(data[:200] + b"\xff" + data[200:])
    _raw_first_row(work, good, "cq400", "cq", "9" * 400)
    for name, changes in NONSENSE.items():
        _mutated(work, good, _slug(name), **changes)
    refs = work / "refs"  # two tiny, valid, different clips
    refs.mkdir()
    _clip(ff, refs / "alpha.y4m", "64x48", "testsrc2", frames=2)
    _clip(ff, refs / "beta.y4m", "64x48", "mandelbrot", frames=2)
    shutil.copytree(refs, work / "refs_width")
    (work / "refs_width" / "sources.toml").write_text('[sources.alpha]\nwidth = "160"\n')
    shutil.copytree(refs, work / "refs_groups")
    (work / "refs_groups" / "sources.toml").write_text("groups = 5\n")
    _clip(ff, work / "tiny16.y4m", "16x16")
    _clip(ff, work / "small64.y4m", "64x64")
    # issue 20's output rule: a features file and a corpus that a refused command must leave as they are
    (work / "features.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows(good)[:4]))
    shutil.copy(good, work / "standing.jsonl")
    os.mkfifo(work / "out_fifo")
    # issue 20's evidence and input cases: a 160x90 raw clip (to be declared 320x180), a LOSO
    # folder whose predictions were forged with the seed reports recomputed, a models folder whose
    # calibration was zeroed with the registry's pins updated
    subprocess.run(
        [ff, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "lavfi", "-i", "testsrc2=s=160x90:r=25"]
        + ["-frames:v", "8", "-pix_fmt", "yuv420p", "-f", "rawvideo", str(work / "raw_160x90.yuv")],
        check=True,
    )
    _forge_predictions(work)
    _edit_models_with_pins(work)
    # a private character device (/dev/null's numbers) stands in for /dev/null, so a regression
    # replaces this node, never the machine's /dev/null; creating one needs root (as in CI)
    with contextlib.suppress(OSError):
        os.mknod(work / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))


def _forge_predictions(work: Path) -> None:
    """reg/loso copied to forged_loso with every held-out prediction replaced by vmaf +- 0.5 and
    the seed reports recomputed from them (tests.factories, scipy): issue 20's attack."""
    from tests.factories import write_seed_report

    loso = work / "forged_loso"
    shutil.copytree(work / "reg" / "loso", loso)
    for verdict in ("PROMOTE.json", "HOLD.json"):
        (loso / verdict).unlink(missing_ok=True)
    for seed in (0, 1):
        path = loso / f"loso_seed{seed}.predictions.jsonl"
        rows = _rows(path)
        for row in rows:
            row["pred"] = row["pred_unlabelled"] = row["vmaf"] + (0.5 if row["row"] % 2 else -0.5)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        report = json.loads((loso / f"loso_seed{seed}.json").read_text())
        keep = {k: report[k] for k in ("recipe", "lr", "batch_size", "weight_decay", "fold_members")}
        write_seed_report(loso, seed, Path(report["corpus"]["path"]), epochs=report["epochs"], extra=keep)


def _edit_models_with_pins(work: Path) -> None:
    """reg/models copied to edited_models, its calibration's residuals zeroed and every registry
    pin updated to match: `registry validate` is satisfied, flip must not be."""
    import hashlib

    models = work / "edited_models"
    shutil.copytree(work / "reg" / "models", models)
    calibration = next(models.glob("*_calibration.json"))
    data = json.loads(calibration.read_text())
    for level in ("frame", "clip"):
        sources = data["ensemble"][level]["sources"]
        data["ensemble"][level]["sources"] = {k: [0.0] * len(v) for k, v in sources.items()}
    calibration.write_text(json.dumps(data))
    registry = json.loads((models / "registry.json").read_text())
    for row in registry["models"]:
        row["calibration_sha256"] = hashlib.sha256(calibration.read_bytes()).hexdigest()
    (models / "registry.json").write_text(json.dumps(registry))


def build_cases(work: Path) -> list[Case]:
    good = work / "good.jsonl"
    models, verdict = work / "reg" / "models", work / "reg" / "loso" / "PROMOTE.json"
    refs, fifo, tiny, small = work / "refs", work / "fifo.jsonl", work / "tiny16.y4m", work / "small64.y4m"
    a_file = refs / "alpha.y4m"
    raw, edited_registry = work / "raw_160x90.yuv", work / "edited_models" / "registry.json"
    registry = models / "registry.json"
    registry_before = registry.read_bytes() if registry.exists() else b""  # absent only for --list
    history = models / "registry_history.jsonl"
    history_before = history.read_bytes() if history.exists() else b""  # export's register entry

    def flip_left_nothing() -> str | None:
        if registry.read_bytes() != registry_before:
            return "registry.json changed although the flip failed"
        if (history.read_bytes() if history.exists() else b"") != history_before:
            return f"registry_history.jsonl records a flip that did not happen: {history.read_text()[-120:]!r}"
        return None

    def no_file(path: Path) -> Callable[[], str | None]:
        return lambda: f"{path.name} exists after a failed write" if path.exists() else None

    def train(corpus: Path | str, name: str, *extra: str) -> list[str]:
        return [
            "train",
            "--corpus",
            str(corpus),
            "--seeds",
            "0",
            "--out",
            str(work / f"train-{_slug(name)}"),
            "--epochs",
            "1",
            "--no-progress",
            *extra,
        ]

    def corpus(refs_dir: Path, name: str, *extra: str, cqs: str = "30") -> list[str]:
        return [
            "corpus",
            "--ref-dir",
            str(refs_dir),
            "--out",
            str(work / f"corpus-{_slug(name)}.jsonl"),
            "--cqs",
            cqs,
            "--max-frames",
            "1",
            "--no-progress",
            *extra,
        ]

    def unchanged(*paths: Path) -> Callable[[], str | None]:
        """What stands at each path now (a regular file's bytes; else its kind and device number)
        is what stands there after the run."""

        def snapshot(path: Path):
            if not path.exists():
                return None
            st = path.stat()
            return path.read_bytes() if path.is_file() else (st.st_mode, st.st_rdev)

        before = {path: snapshot(path) for path in paths}

        def check() -> str | None:
            for path, was in before.items():
                if snapshot(path) != was:
                    return f"{path} changed although the command was refused"
            return None

        return check

    def both(*checks: Callable[[], str | None]) -> Callable[[], str | None]:
        return lambda: next((problem for c in checks if (problem := c()) is not None), None)

    features, standing, out_fifo = work / "features.jsonl", work / "standing.jsonl", work / "out_fifo"
    seed_report = work / "reg" / "loso" / "loso_seed0.json"
    dev_null = work / "null"  # see prepare(); absent when not root: those cases are left out
    merged = work / "merged-full.jsonl"
    cases = [
        # ---- bad files
        Case("/dev/zero as --corpus", train("/dev/zero", "devzero")),
        Case("/dev/zero as --features", ["predict", "--models", str(models), "--features", "/dev/zero"]),
        Case("/dev/zero as merge shard", ["merge", "/dev/zero", "--out", str(work / "m-devzero.jsonl")]),
        Case("FIFO as --corpus", train(fifo, "fifo")),
        Case("FIFO as merge shard", ["merge", str(fifo), "--out", str(work / "m-fifo.jsonl")]),
        Case("50 MB single line --corpus", train(work / "line50mb.jsonl", "line50")),
        Case(
            "50 MB single line merge shard",
            ["merge", str(work / "line50mb.jsonl"), "--out", str(work / "m-line50.jsonl")],
        ),
        Case("400-digit cq", train(work / "cq400.jsonl", "cq400")),
        Case("100,000-deep JSON", train(work / "deep.jsonl", "deep")),
        Case("0xFF byte", train(work / "xff.jsonl", "xff")),
        Case('sources.toml width="160"', corpus(work / "refs_width", "width"), expect="width"),
        Case("sources.toml groups=5", corpus(work / "refs_groups", "groups"), expect="groups"),
    ]
    # ---- nonsense values in a corpus row
    cases += [Case(f"corpus {name}", train(work / f"{_slug(name)}.jsonl", name)) for name in NONSENSE]
    cases += [
        # ---- flags
        Case("train --batch-size 1000000000", train(good, "bs", "--batch-size", "1000000000"), expect="batch"),
        Case("train --lr 1e10", train(good, "lr", "--lr", "1e10"), expect="lr"),
        Case(
            "compare --bootstrap 1000000000",
            ["compare", str(work / "a.tar.gz"), str(work / "b.tar.gz"), "--bootstrap", "1000000000"],
            expect="bootstrap",
        ),
        Case(
            "corpus --encoder-threads 100000",
            corpus(refs, "threads", "--encoder-threads", "100000"),
            expect="encoder-threads",
        ),
        Case("corpus --cqs 19,,25", corpus(refs, "cqs", cqs="19,,25"), expect="empty"),
        Case(
            "run --ref-dir a file",
            ["run", "--ref-dir", str(a_file), "--out", str(work / "run-file"), "--no-progress"],
            expect="is a file",
        ),
        Case("corpus --ref-dir a file", corpus(a_file, "reffile"), expect="is a file"),
        Case("16x16 clip", ["score", "--ref", str(tiny), "--dis", str(tiny)], expect="17x17"),
        Case(
            "--vmaf-bin /bin/true",
            ["score", "--ref", str(small), "--dis", str(small), "--vmaf-bin", "/bin/true"],
            expect="printed nothing|wrote no",
        ),
        # ---- disk full (ulimit -f): one line, and no record of work that did not happen
        Case(
            "disk full: registry flip",
            ["registry", "flip", "--registry", str(registry), "--verdict", str(verdict)],
            fsize=len(registry_before),
            expect="EFBIG",
            check=flip_left_nothing,
        ),
        Case("disk full: train", train(good, "full"), fsize=4096, expect="EFBIG"),
        Case(
            "disk full: merge output",
            ["merge", str(good), "--out", str(merged)],
            fsize=4096,
            expect="EFBIG",
            check=no_file(merged),
        ),
        # ---- issue 20: one output rule (a regular file or a new path; never an input; never twice)
        Case(
            "score --json a device",
            ["score", "--ref", str(small), "--dis", str(small), "--json", str(dev_null)],
            expect="not a regular file",
            check=unchanged(dev_null),
        ),
        Case(
            "score --csv FIFO",
            ["score", "--ref", str(small), "--dis", str(small), "--csv", str(out_fifo)],
            expect="FIFO",
            check=unchanged(out_fifo),
        ),
        Case(
            "score --json DIS",
            ["score", "--ref", str(tiny), "--dis", str(small), "--json", str(small)],
            expect="--dis",
            check=unchanged(small),
        ),
        Case(
            "score --json x --csv x",
            ["score", "--ref", str(small), "--dis", str(small), "--json", str(work / "x.out"), "--csv", "x.out"],
            expect="same file",
            check=no_file(work / "x.out"),
        ),
        Case(
            "rd CORPUS --json CORPUS",
            ["rd", str(standing), "--json", str(standing)],
            expect="CORPUS",
            check=unchanged(standing),
        ),
        Case("rd --csv a device", ["rd", str(standing), "--csv", str(dev_null)], check=unchanged(dev_null)),
        Case(
            "merge --out a shard",
            ["merge", str(standing), str(good), "--out", str(standing)],
            expect="shard",
            check=unchanged(standing),
        ),
        Case(
            "merge --json a device",
            ["merge", str(good), "--out", str(work / "m-null.jsonl"), "--json", str(dev_null)],
            check=both(unchanged(dev_null), no_file(work / "m-null.jsonl")),
        ),
        Case(
            "predict --json FEATURES",
            ["predict", "--models", str(models), "--features", str(features), "--json", str(features)],
            expect="--features",
            check=unchanged(features),
        ),
        Case(
            "gate --json a seed report",
            ["gate", str(seed_report.parent), "--seeds", "0,1", "--json", str(seed_report)],
            expect="LOSO_DIR",
            check=unchanged(seed_report),
        ),
        Case(
            "corpus --out a reference clip",
            ["corpus", "--ref-dir", str(refs), "--out", str(a_file), "--cqs", "30", "--max-frames", "1"],
            expect="reference clip",
            check=unchanged(a_file),
        ),
        Case(
            'corpus --presets "" over a corpus',
            ["corpus", "--ref-dir", str(refs), "--out", str(standing), "--cqs", "30", "--presets", ""],
            expect="presets",
            check=unchanged(standing),
        ),
        Case("rd --plots a device", ["rd", str(standing), "--plots", str(dev_null)], check=unchanged(dev_null)),
        Case(
            "rd --plots under a file",
            ["rd", str(standing), "--plots", str(a_file / "plots")],
            expect="is a file",
            check=unchanged(a_file),
        ),
        Case(
            "a 300-byte file name",
            ["score", "--ref", str(work / ("n" * 300 + ".y4m")), "--dis", str(small)],
            expect="longer than the file system allows",
        ),
        # ---- issue 20: evidence tied to what was trained; inputs that say what they mean
        Case(
            "verdict on forged predictions (reports recomputed)",
            ["verdict", str(work / "forged_loso"), "--seeds", "0,1"],
            expect="saved member",
            check=both(no_file(work / "forged_loso" / "PROMOTE.json"), no_file(work / "forged_loso" / "HOLD.json")),
        ),
        Case(
            "flip a folder edited with its pins updated",
            ["registry", "flip", "--registry", str(edited_registry), "--verdict", str(verdict)],
            expect="calibration .* not what the verdict's pinned files give",
            check=unchanged(edited_registry),
            exit_code=3,
        ),
        Case(
            "raw 160x90 declared 320x180",
            ["score", "--ref", str(raw), "--dis", str(raw), "--width", "320", "--height", "180"],
            expect="looks 160 wide",
        ),
        Case(
            "score --resolution 65536x65536",
            ["score", "--ref", str(small), "--dis", str(small), "--resolution", "65536x65536", "--scale", "bicubic"],
            expect="too large to score",
        ),
        Case(
            "score --subsample 99999999999",
            ["score", "--ref", str(small), "--dis", str(small), "--subsample", "99999999999"],
            expect="--subsample",
        ),
        Case(
            "import-corpus --out its seed file",
            ["import-corpus", str(standing), "--ref-dir", str(refs), "--out", str(standing), "--preset", "medium"],
            expect="seed corpus",
            check=unchanged(standing),
        ),
    ]
    if not dev_null.exists() and (work / "good.jsonl").exists():
        cases = [c for c in cases if str(dev_null) not in c.argv]
    return cases


# ----------------------------------------------------------------------------- running


def _limits(mem_bytes: int, fsize: int | None) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (mem_bytes, mem_bytes))
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash must not write a core file

    return apply


def run_case(case: Case, work: Path, timeout: float, mem_bytes: int) -> Result:
    out_path, err_path = work / ".stdout", work / ".stderr"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "80"}
    started = time.monotonic()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vmafkit", *case.argv],
            cwd=work,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=env,
            preexec_fn=_limits(mem_bytes, case.fsize),
            start_new_session=True,
        )
        status = rusage = None
        timed_out = False
        while True:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - started > timeout:
                timed_out = True
                with _quiet():
                    os.killpg(proc.pid, signal.SIGKILL)
                _, status, rusage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keep Popen from waiting again
        with _quiet():
            os.killpg(proc.pid, signal.SIGKILL)  # nothing it started may outlive the case
    seconds = time.monotonic() - started
    stdout = out_path.read_text(errors="replace")
    stderr = err_path.read_text(errors="replace")
    code = proc.returncode
    problems: list[str] = []
    if timed_out:
        problems.append(f"still running after {timeout:.0f} s (killed)")
    elif code < 0:
        problems.append(f"killed by {signal.Signals(-code).name}")
    elif code != case.exit_code:
        problems.append(f"exit {code}, expected {case.exit_code}")
    if "Traceback" in stderr or "Traceback" in stdout:
        problems.append("traceback")
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(ERROR_PREFIX)]
    if not timed_out:
        if len(errors) != 1:
            problems.append(f"{len(errors)} '{ERROR_PREFIX}' lines on stderr")
        stray = [line for line in lines if not line.startswith("vmafkit: ")]
        if stray and "traceback" not in problems:
            problems.append(f"{len(stray)} other stderr line(s), first: {stray[0][:100]!r}")
    error_line = errors[0] if errors else ""
    if case.expect and errors and not re.search(case.expect, error_line, flags=re.IGNORECASE):
        problems.append(f"error line does not match /{case.expect}/")
    if case.check is not None:
        problem = case.check()
        if problem:
            problems.append(problem)
    return Result(
        case.name,
        None if timed_out else code,
        round(seconds, 1),
        round(rusage.ru_maxrss / 1024, 1),
        not problems,
        problems,
        error_line,
    )


class _quiet:
    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        return kind is not None and issubclass(kind, (ProcessLookupError, PermissionError))


def print_table(results: list[Result]) -> None:
    width = max(len(r.case) for r in results)
    print(f"{'case':<{width}}  {'exit':>4}  {'seconds':>7}  {'RSS MB':>7}  verdict")
    for r in results:
        exit_text = "-" if r.exit is None else str(r.exit)
        verdict = "PASS" if r.ok else "FAIL: " + "; ".join(r.problems)
        print(f"{r.case:<{width}}  {exit_text:>4}  {r.seconds:>7.1f}  {r.rss_mb:>7.1f}  {verdict}")
    failed = [r for r in results if not r.ok]
    print(f"\n{len(results) - len(failed)} of {len(results)} cases pass" + (f"; {len(failed)} fail" if failed else ""))
    for r in failed:
        if r.error_line:
            print(f"  {r.case}: {r.error_line[:300]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", dest="only", action="append", default=[], help="Run only cases whose name contains this.")
    parser.add_argument("--timeout", type=float, default=60.0, help="Seconds per case (default 60).")
    parser.add_argument("--mem-gib", type=float, default=4.0, help="RLIMIT_AS per case in GiB (default 4).")
    parser.add_argument("--json", type=Path, help="Also write the results here as JSON.")
    parser.add_argument("--list", action="store_true", help="List the cases and exit.")
    parser.add_argument("--keep", action="store_true", help="Keep the work folder (its path is printed).")
    parser.add_argument("--prepare", type=Path, help=argparse.SUPPRESS)  # internal: write the inputs there
    args = parser.parse_args(argv)
    if args.prepare:
        prepare(args.prepare)
        return 0
    work = Path(tempfile.mkdtemp(prefix="vmafkit-attacks-"))
    try:
        if args.list:
            print("\n".join(c.name for c in build_cases(work)))
            return 0
        subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--prepare", str(work)],
            check=True,
            stdin=subprocess.DEVNULL,
        )
        cases = build_cases(work)
        if args.only:
            cases = [c for c in cases if any(k.lower() in c.name.lower() for k in args.only)]
            if not cases:
                parser.error(f"no case matches {args.only}")
        mem = int(args.mem_gib * (1 << 30))
        results = []
        for case in cases:
            result = run_case(case, work, args.timeout, mem)
            results.append(result)
            print(
                f"{'ok  ' if result.ok else 'FAIL'} {case.name} ({result.seconds:.1f} s)", file=sys.stderr, flush=True
            )
        print_table(results)
        if args.json:
            args.json.write_text(json.dumps([r.to_json() for r in results], indent=2) + "\n")
        return 0 if all(r.ok for r in results) else 1
    finally:
        if args.keep:
            print(f"work folder kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
