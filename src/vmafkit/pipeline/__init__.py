"""`vmafkit run`: doctor -> corpus -> train -> verdict -> (PROMOTE) export -> report -> bundle.

DVC-style resume: each step records a fingerprint of its parameters and of its inputs' hashes,
plus the hashes of the outputs it wrote, in `OUT/pipeline.json`. A re-run skips every step whose
fingerprint is unchanged and whose outputs are still the recorded bytes, and resumes at the first
step whose inputs changed (then everything downstream of a changed output reruns, since its
inputs changed too). Steps that write deterministic outputs let unchanged work stay skipped.

Order of a run, so that any interruption or refusal leaves a folder the same command resumes in:
every option value is checked first (nothing written); then the out-dir's lock is taken (a second
run is told "in use"); then, under the lock, the reference clips and encoders are checked, and
`pipeline.json` is written *before any step*, marking the folder as this run's. A run refused
before that point removes what it created; after it, the folder is recognised as its own. The
litter of killed runs (cell work folders, temp files) is swept at the start of the next run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vmafkit import layout
from vmafkit.corpus.grid import AUTO, Grid
from vmafkit.errors import EXIT_HOLD, EXIT_OK, InputError, not_a_folder
from vmafkit.io import atomic_write_json, exclusive_lock, read_json, sha256_file
from vmafkit.media.options import Scoring
from vmafkit.media.sources import snapshot_folder
from vmafkit.train.recipe import DEFAULT_SEEDS, Training

STATE_SCHEMA = "vmafkit-pipeline-v1"


@dataclass
class RunOptions:
    """What `vmafkit run` (and `vmafkit.run`) was asked: the typed option objects the commands share
    (`Grid`, `Scoring`, `Training`) and the run's own settings."""

    ref_dir: Path | None
    out_dir: Path
    grid: Grid = field(default_factory=lambda: Grid(encoders=AUTO))
    scoring: Scoring = field(default_factory=Scoring)
    training: Training = field(default_factory=Training)
    seeds: Sequence[int] = DEFAULT_SEEDS
    jobs: int | None = None
    max_frames: int | None = None
    device: str = "auto"
    ffmpeg: str | None = None
    scheduler: str | None = None
    demo: bool = False
    progress: bool = True
    bundle: bool = True


@dataclass
class RunResult:
    verdict: str
    exit_code: int
    out_dir: Path
    steps: dict[str, str] = field(default_factory=dict)  # step -> "ran" | "skipped" | "removed"
    step_s: dict[str, float] = field(default_factory=dict)  # step -> its wall seconds in this run
    bundle: Path | None = None
    report: Path | None = None
    encoders: list[str] = field(default_factory=list)
    wall_s: float = 0.0


# ----------------------------------------------------------------------------- step records


def _hash_path(path: Path) -> str | None:
    if path.is_file():
        return sha256_file(path)
    if path.is_dir():
        return snapshot_folder(path)["sha256"]
    return None


def _fingerprint(params: dict[str, Any], inputs: Sequence[Path]) -> str:
    payload = {"params": params, "inputs": {str(p): _hash_path(p) for p in inputs}}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class StepLedger:
    """The `pipeline.json` record of which step ran on what, with atomic updates."""

    def __init__(self, out_dir: Path, identity: dict[str, Any]):
        self.out_dir = out_dir
        self.path = out_dir / layout.STATE_FILE
        self.identity = identity
        self.state = self._load()

    def _load(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"schema": STATE_SCHEMA, "identity": self.identity, "steps": {}}
        state = read_json(self.path, what="pipeline state")
        if not isinstance(state, dict) or state.get("schema") != STATE_SCHEMA:
            raise InputError("is not a vmafkit pipeline state file; use an empty --out folder", path=self.path)
        if state.get("identity") != self.identity:
            if state.get("steps"):
                raise InputError(
                    f"holds another run's files (reference {state.get('identity', {}).get('ref_dir')!r}); "
                    "pick an empty --out folder for this one",
                    path=self.out_dir,
                )
            # No step finished: what is there is content-addressed cell cache, reusable by any run.
            state["identity"] = self.identity
            self.adopted = True
        return state

    adopted = False

    def save(self) -> None:
        atomic_write_json(self.path, self.state)

    def is_current(self, name: str, fingerprint: str) -> bool:
        record = self.state["steps"].get(name)
        if not record or record.get("fingerprint") != fingerprint:
            return False
        return all(_hash_path(self.out_dir / rel) == digest for rel, digest in record.get("outputs", {}).items())

    def record(self, name: str, fingerprint: str, outputs: Sequence[Path], info: dict[str, Any] | None = None) -> None:
        self.state["steps"][name] = {
            "fingerprint": fingerprint,
            "outputs": {str(p.relative_to(self.out_dir)): _hash_path(p) for p in outputs},
            "info": info or {},
            "finished_at_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        atomic_write_json(self.path, self.state)

    def forget(self, name: str) -> None:
        if self.state["steps"].pop(name, None) is not None:
            atomic_write_json(self.path, self.state)

    def info(self, name: str) -> dict[str, Any]:
        return self.state["steps"].get(name, {}).get("info", {})


def run_step(
    ledger: StepLedger,
    name: str,
    params: dict[str, Any],
    inputs: Sequence[Path],
    action: Callable[[], tuple[Sequence[Path], dict[str, Any]]],
    log: Callable[[str], None],
) -> str:
    fingerprint = _fingerprint(params, inputs)
    if ledger.is_current(name, fingerprint):
        log(f"{name}: up to date, skipped")
        return "skipped"
    log(f"{name}: running")
    outputs, info = action()
    ledger.record(name, fingerprint, outputs, info)
    return "ran"


# ----------------------------------------------------------------------------- the run


def _foreign_entries(out_dir: Path) -> list[str]:
    """Top-level names in OUT that no vmafkit run wrote (empty when OUT is a run or is empty).

    A folder with `pipeline.json` is a run. Without it, the lock and the cache are a run's, and so
    is a `corpus/` holding only what the corpus step writes (an older vmafkit wrote `pipeline.json`
    only after the corpus step: its interrupted first run left just that)."""
    if (out_dir / layout.STATE_FILE).exists():
        return []
    foreign = []
    for entry in out_dir.iterdir():
        if entry.name in (layout.LOCK_FILE, layout.CACHE_DIR, layout.TARGETS_DIR) or entry.name.startswith(
            f".{layout.STATE_FILE}."
        ):
            continue
        if entry.name == layout.CORPUS_DIR and _only_corpus_step_files(entry):
            continue
        foreign.append(entry.name)
    return sorted(foreign)


def _only_corpus_step_files(folder: Path) -> bool:
    if not folder.is_dir() or folder.is_symlink():
        return False
    corpus_name = layout.CORPUS_FILE
    return all(
        e.name in (corpus_name, layout.CACHE_DIR) or e.name.startswith(f".{corpus_name}.") for e in folder.iterdir()
    )


def _check_out_dir(out_dir: Path, *, locked: bool = False) -> None:
    """Refuse an out-dir that is a file, or that holds files no vmafkit run wrote. Before the lock
    (`locked` False) a folder with a lock file is left to the check made under the lock, so that
    a run still starting there is reported as "in use", not as foreign."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("--out exists and is not a folder", path=out_dir)
    if not out_dir.is_dir() or (not locked and (out_dir / layout.LOCK_FILE).exists()):
        return
    foreign = _foreign_entries(out_dir)
    if foreign:
        raise InputError(
            f"holds files that are not a vmafkit run ({', '.join(foreign[:3])}); pick an empty --out folder",
            path=out_dir,
        )


def validate_options(opts: RunOptions) -> None:
    """Every option value, checked before anything is written: a refused run leaves nothing."""
    from vmafkit.train.loso import check_recipe, check_seeds

    if opts.max_frames is not None and opts.max_frames < 1:
        raise InputError(f"--max-frames must be at least 1, got {opts.max_frames}")
    if opts.jobs is not None and opts.jobs < 1:
        raise InputError(f"--jobs must be at least 1, got {opts.jobs}")
    check_seeds(opts.seeds)
    check_recipe(opts.training.to_recipe())
    if not opts.scheduler:
        from vmafkit.train.ensemble import resolve_device

        resolve_device(opts.device)  # --device cuda without a GPU: refused now, not after the corpus
    if not opts.grid.auto_encoders:
        check_cell_values(list(opts.grid.encoders), opts.grid.cqs, opts.grid.presets)
    if not opts.demo:
        if opts.ref_dir is None:
            raise InputError("give --ref-dir DIR (a folder of reference clips) or --demo")
        if not Path(opts.ref_dir).is_dir():
            raise not_a_folder(opts.ref_dir, "reference folder")


def _is_auto(encoders: Sequence[str] | str) -> bool:
    return encoders == "auto" or list(encoders) == ["auto"]


def check_cell_values(encoders: Sequence[str], cqs: Sequence[int], presets: Sequence[str]) -> None:
    """Known encoders, each cq inside each encoder's range (what `plan_cells` would refuse later)."""
    from vmafkit.media.encoders import get_adapter

    if not encoders:
        raise InputError("no encoders given (--encoders)")
    for encoder in encoders:
        adapter = get_adapter(encoder)
        for preset in presets:
            for cq in cqs:
                adapter.args(int(cq), preset)


def resolve_encoders(requested: Sequence[str] | str, ffmpeg: str | None) -> tuple[list[str], str]:
    """`auto` = the platform's defaults that pass their probe (libx264 when none do)."""
    from vmafkit.host.doctor import diagnose

    if _is_auto(requested):
        report = diagnose(None, ("corpus", "train"), ffmpeg=ffmpeg, probe_all=False)
        working = [e for e in report.requested_encoders if report.encoders.get(e, {}).get("ok")]
        if not working:
            working = ["libx264"]
        return working, report.platform["family"]
    report = diagnose(list(requested), ("corpus", "train"), ffmpeg=ffmpeg, probe_all=False)
    if report.problems:
        raise InputError(report.problems[0])
    return list(requested), report.platform["family"]


def run_pipeline(opts: RunOptions, log: Callable[[str], None] = print) -> RunResult:
    started = time.perf_counter()
    out_dir = Path(opts.out_dir).resolve()
    validate_options(opts)
    _check_out_dir(out_dir)
    before = sorted(os.listdir(out_dir)) if out_dir.is_dir() else None  # what a refusal must leave
    made_parents = _missing_parents(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(out_dir):  # a second run is told "in use" here, before anything else
        ours = (out_dir / layout.STATE_FILE).exists()
        try:
            _check_out_dir(out_dir, locked=True)
            ref_dir = _reference_folder(opts, out_dir, log)
            encoders, family = resolve_encoders(opts.grid.encoders, opts.ffmpeg)
            check_cell_values(encoders, opts.grid.cqs, opts.grid.presets)
            sources = _sources(opts, ref_dir)
            ledger = StepLedger(out_dir, {"ref_dir": "demo" if opts.demo else str(ref_dir)})
            if not ours or ledger.adopted:
                ledger.save()  # the folder is this run's from here on: any interruption resumes
            ours = True
        except BaseException:
            if not ours:
                _remove_what_we_made(out_dir, before, made_parents)
            raise
        _sweep_litter(out_dir, log)
        log(f"doctor: platform {family}; encoders {', '.join(encoders)}")
        result = RunResult(verdict="", exit_code=EXIT_OK, out_dir=out_dir, encoders=encoders)
        corpus = layout.corpus_file(out_dir)
        loso = layout.loso_dir(out_dir)
        clock = time.perf_counter()

        def timed(step: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            result.step_s[step] = round(now - clock, 1)
            clock = now

        result.steps["corpus"] = _corpus_step(ledger, opts, ref_dir, sources, corpus, encoders, log)
        timed("corpus")
        result.steps["train"] = _train_step(ledger, opts, corpus, loso, log)
        timed("train")
        result.steps["verdict"], verdict_path = _verdict_step(ledger, opts, ref_dir, loso, log)
        result.verdict = json.loads(verdict_path.read_text())["verdict"]
        timed("verdict")
        result.steps["export"] = _export_step(
            ledger, opts, corpus, verdict_path, layout.models_dir(out_dir), result.verdict, log
        )
        timed("export")
        result.report = _report(out_dir, corpus, log)
        result.steps["report"] = "ran"
        timed("report")
        if opts.bundle:
            result.bundle = _bundle(out_dir, {"platform_family": family, "encoders": encoders}, opts.ffmpeg, log)
            result.steps["bundle"] = "ran"
            timed("bundle")
    result.exit_code = EXIT_OK if result.verdict == "PROMOTE" else EXIT_HOLD
    result.wall_s = round(time.perf_counter() - started, 1)
    return result


def _missing_parents(folder: Path) -> list[Path]:
    """The parents of `folder` that do not exist yet, innermost first."""
    missing = []
    parent = folder.parent
    while not parent.exists() and parent != parent.parent:
        missing.append(parent)
        parent = parent.parent
    return missing


def _remove_what_we_made(out_dir: Path, before: list[str] | None, made_parents: Sequence[Path] = ()) -> None:
    """A run refused before `pipeline.json` was written removes what it created (the folder
    itself and the parents it made, when it made it, else the entries that were not there), so
    the corrected command starts from the folder as it was."""
    if before is None:
        shutil.rmtree(out_dir, ignore_errors=True)
        for parent in made_parents:
            try:
                parent.rmdir()  # only while empty: never what someone else put there meanwhile
            except OSError:
                break
        return
    for name in sorted(set(os.listdir(out_dir)) - set(before)):
        path = out_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _sweep_litter(out_dir: Path, log) -> None:
    """What killed runs left: `pipeline.json` temps (only a run holding this folder's lock, i.e.
    us, writes them), cell work folders no live build holds, bundle temps no live writer holds."""
    from vmafkit.bundle.pack import sweep_bundle_temps
    from vmafkit.corpus.build import sweep_cache_litter

    removed = []
    for temp in out_dir.glob(f".{layout.STATE_FILE}.*.tmp"):
        temp.unlink(missing_ok=True)
        removed.append(temp.name)
    cells = layout.cell_cache_dir(layout.corpus_file(out_dir))
    if cells.is_dir():
        removed += sweep_cache_litter(cells)
    removed += sweep_bundle_temps(out_dir / layout.BUNDLE_FILE)
    if removed:
        log(
            f"cleanup: removed {len(removed)} leftover(s) of killed runs ({', '.join(sorted(removed)[:3])}"
            f"{', ...' if len(removed) > 3 else ''})"
        )


def _reference_folder(opts: RunOptions, out_dir: Path, log) -> Path:
    if opts.demo:
        from vmafkit.media.demo import make_demo_clips

        dest = layout.demo_refs_dir(out_dir)
        clips = make_demo_clips(dest)
        log(f"demo: {len(clips)} SYNTHETIC reference clips (ffmpeg lavfi sources) in {dest}")
        return dest
    if opts.ref_dir is None:
        raise InputError("give --ref-dir DIR (a folder of reference clips) or --demo")
    ref_dir = Path(opts.ref_dir).resolve()
    if not ref_dir.is_dir():
        raise not_a_folder(opts.ref_dir, "reference folder")
    return ref_dir


def _sources(opts, ref_dir: Path) -> list:
    """The reference clips, refused before any encode when LOSO cannot use them: fewer than 2
    source groups, or two byte-identical clips."""
    from vmafkit.corpus.build import check_distinct_sources
    from vmafkit.media.ffmpeg import find_ffmpeg
    from vmafkit.media.sources import find_sources

    sources = find_sources(ref_dir, ff=find_ffmpeg(opts.ffmpeg))
    check_distinct_sources(sources, ref_dir)
    groups = sorted({s.group for s in sources})
    if len(groups) < 2:
        raise InputError(
            f"{len(sources)} source(s) in {len(groups)} group(s); LOSO needs at least 2 source groups", path=ref_dir
        )
    return sources


def _corpus_step(ledger, opts, ref_dir, sources, corpus, encoders, log) -> str:
    from vmafkit.corpus.build import build_grid
    from vmafkit.media.ffmpeg import find_ffmpeg

    ff = find_ffmpeg(opts.ffmpeg)
    params = {
        "encoders": list(encoders),
        "cqs": list(opts.grid.cqs),
        "presets": list(opts.grid.presets),
        "max_frames": opts.max_frames,
        "ffmpeg": ff.version,
        "libvmaf": ff.libvmaf_version,
        "sources": {s.name: [s.sha256, s.group] for s in sources},
    }
    # only when given: the corpus step of a run without a ladder or another scoring keeps its fingerprint
    if opts.grid.resolutions:
        params["resolutions"] = list(opts.grid.resolutions)
        params["scale"] = opts.scoring.scale
    if not dataclasses.replace(opts.scoring, scale=None).is_default:
        params["scoring"] = opts.scoring.as_kwargs()

    def action():
        corpus.parent.mkdir(parents=True, exist_ok=True)
        built = build_grid(
            ref_dir,
            opts.grid,
            corpus,
            encoders=encoders,
            scoring=opts.scoring,
            sources=sources,
            jobs=opts.jobs,
            max_frames=opts.max_frames,
            ffmpeg=opts.ffmpeg,
            progress=opts.progress,
            scheduler=opts.scheduler,
        )
        log(f"corpus: {built.n_rows} rows, {built.n_cells} cells ({built.cells_cached} cached)")
        return [corpus], built.to_json()

    return run_step(ledger, "corpus", params, [], action, log)


def _train_step(ledger, opts, corpus, loso, log) -> str:
    from vmafkit.train.fold_members import FORMAT as FOLD_MEMBERS_FORMAT
    from vmafkit.train.loso import train_loso

    recipe = opts.training.to_recipe()
    # `evidence`: a LOSO folder of an older vmafkit keeps no fold members, and export refuses its
    # verdict; naming what train writes makes a resumed run of such a folder retrain
    params = {
        "seeds": list(opts.seeds),
        "recipe": recipe.to_json(),
        "device": opts.device,
        "evidence": FOLD_MEMBERS_FORMAT,
    }

    def action():
        loso.mkdir(parents=True, exist_ok=True)
        kwargs = {"scheduler": opts.scheduler} if opts.scheduler else {}
        paths = train_loso(
            corpus, list(opts.seeds), loso, recipe=recipe, device=opts.device, progress=opts.progress, **kwargs
        )
        outputs = [Path(p) for p in paths]
        outputs += [layout.predictions_file(loso, s) for s in opts.seeds]
        outputs += [layout.fold_members_file(loso, s) for s in opts.seeds]
        return outputs, {}

    return run_step(ledger, "train", params, [corpus], action, log)


def _verdict_step(ledger, opts, ref_dir, loso, log) -> tuple[str, Path]:
    from vmafkit.decide.verdict import write_verdict

    reports = [layout.seed_report(loso, s) for s in opts.seeds]
    predictions = [layout.predictions_file(loso, s) for s in opts.seeds]
    params = {"seeds": list(opts.seeds), "ref_dir": str(ref_dir)}
    holder: dict[str, Path] = {}

    def action():
        verdict, path = write_verdict(loso, list(opts.seeds), ref_dir=ref_dir)
        holder["path"] = path
        log(
            f"verdict: {verdict['verdict']} (mean PLCC {verdict['gate']['mean_plcc']:.4f}, "
            f"spread {verdict['gate']['plcc_spread']:.4f})"
        )
        return [path], {"verdict": verdict["verdict"]}

    status = run_step(ledger, "verdict", params, [*reports, *predictions], action, log)
    if "path" not in holder:
        name = ledger.info("verdict").get("verdict", "HOLD")
        holder["path"] = layout.verdict_file(loso, name)
    return status, holder["path"]


def _set_aside(models: Path) -> Path:
    """Move an earlier run's export out of the way, whole (registry history included): a new
    name beside it, never a deletion."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = models.with_name(f"{models.name}{layout.SUPERSEDED_INFIX}{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = models.with_name(f"{models.name}{layout.SUPERSEDED_INFIX}{stamp}-{n}")
    os.replace(models, aside)
    return aside


def _flipped(models: Path) -> bool:
    """Whether the models folder serves: a registry row someone flipped (smoke false)."""
    from vmafkit.serve.registry import read_rows

    try:
        return any(not row.get("smoke", True) for row in read_rows(layout.registry_file(models)))
    except InputError:
        return True  # unreadable: treat it as production, never move or delete it


def _serves_verdict(models: Path, verdict_path: Path) -> bool:
    """Whether every row of the models folder's registry was flipped on `verdict_path`'s bytes."""
    from vmafkit.serve.registry import read_rows

    try:
        rows = read_rows(layout.registry_file(models))
    except InputError:
        return False
    digest = sha256_file(verdict_path)
    return bool(rows) and all(
        not row.get("smoke", True) and (row.get("promoted_by") or {}).get("verdict_sha256") == digest for row in rows
    )


def _export_step(ledger, opts, corpus, verdict_path, models, verdict, log) -> str:
    if verdict != "PROMOTE":
        ledger.forget("export")
        if not models.exists():
            return "not needed (HOLD)"
        if _flipped(models):
            # a models folder in production (flipped) is served from where it stands: this run's
            # HOLD says nothing about it, so it is left exactly as it is, history included
            log(f"export: HOLD; {models} holds a flipped export of an earlier run, left as it is (not this run's)")
            return "kept (flipped, not this run's)"
        aside = _set_aside(models)  # a smoke export of an earlier PROMOTE: stale, kept aside
        log(f"export: HOLD; the earlier run's smoke export moved aside to {aside}")
        return "moved aside"
    if models.exists() and _serves_verdict(models, verdict_path):
        # flipped to production from this very verdict: exporting again would only put its rows
        # back to smoke (a re-run must never demote what the operator promoted)
        log(f"export: up to date ({models} serves this verdict, flipped; left as it is)")
        return "skipped (flipped)"
    from vmafkit.serve.export import export_ensemble

    def action():
        # into the folder as it stands: the export switches its files and registry rows in as one
        # change (serve/folder.py), keeps other ensembles' rows and appends to the history
        models.mkdir(parents=True, exist_ok=True)
        export_ensemble(corpus, verdict_path, models, device=opts.device, progress=opts.progress)
        # what export wrote; not the registry lock it held (rewritten by every later registry change)
        return sorted(p for p in models.rglob("*") if p.is_file() and not p.name.startswith(".")), {}

    return run_step(ledger, "export", {"device": opts.device}, [corpus, verdict_path], action, log)


def _report(out_dir: Path, corpus: Path, log) -> Path:
    from vmafkit.report import write_report

    path = write_report(out_dir, corpus=corpus)
    log(f"report: {path}")
    return path


def _bundle(out_dir: Path, env: dict[str, Any], ffmpeg: str | None, log) -> Path:
    from vmafkit.bundle import make_bundle
    from vmafkit.media.ffmpeg import find_ffmpeg

    ff = find_ffmpeg(ffmpeg)
    tarball = out_dir / layout.BUNDLE_FILE
    make_bundle(
        out_dir,
        tarball,
        extra_env={**env, "ffmpeg_version": ff.version, "libvmaf_version": ff.libvmaf_version, "ffmpeg_path": ff.path},
    )
    log(f"bundle: {tarball} (check it with `vmafkit verify {tarball}`)")
    return tarball
