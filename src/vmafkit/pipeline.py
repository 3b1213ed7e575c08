"""`vmafkit run`: doctor -> corpus -> train -> verdict -> (PROMOTE) export -> report -> bundle.

DVC-style resume: each step records a fingerprint of its parameters and of its inputs' hashes,
plus the hashes of the outputs it wrote, in `OUT/pipeline.json`. A re-run skips every step whose
fingerprint is unchanged and whose outputs are still the recorded bytes, and resumes at the first
step whose inputs changed (then everything downstream of a changed output reruns, since its
inputs changed too). Steps that write deterministic outputs let unchanged work stay skipped.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from .errors import EXIT_HOLD, EXIT_OK, InputError
from .io import atomic_write_json, exclusive_lock, read_json, sha256_file
from .media.sources import snapshot_folder

STATE_FILE = "pipeline.json"
STATE_SCHEMA = "vmafkit-pipeline-v1"
CORPUS_REL = "corpus/per_frame_canonical6.jsonl"
LOSO_DIR = "loso"
MODELS_DIR = "models"
BUNDLE_NAME = "results.tar.gz"
DEMO_REFS = ".vmafkit-cache/demo-refs"
DEFAULT_SEEDS = (0, 1, 2, 3, 4)
DEFAULT_CQS = (19, 25, 31, 37)


@dataclass
class RunOptions:
    ref_dir: Path | None
    out_dir: Path
    encoders: Sequence[str] | str = "auto"
    cqs: Sequence[int] = DEFAULT_CQS
    presets: Sequence[str] = ("medium",)
    seeds: Sequence[int] = DEFAULT_SEEDS
    epochs: int = 200
    batch_size: int = 32
    lr: float = 5e-4
    weight_decay: float = 1e-5
    recipe: str = "robust"
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
        self.path = out_dir / STATE_FILE
        self.identity = identity
        self.state = self._load()

    def _load(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"schema": STATE_SCHEMA, "identity": self.identity, "steps": {}}
        state = read_json(self.path, what="pipeline state")
        if not isinstance(state, dict) or state.get("schema") != STATE_SCHEMA:
            raise InputError("is not a vmafkit pipeline state file; use an empty --out-dir", path=self.path)
        if state.get("identity") != self.identity:
            raise InputError(
                f"holds another run's files (reference {state.get('identity', {}).get('ref_dir')!r}); "
                "pick an empty --out-dir for this one", path=self.out_dir)
        return state

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


def run_step(ledger: StepLedger, name: str, params: dict[str, Any], inputs: Sequence[Path],
             action: Callable[[], tuple[Sequence[Path], dict[str, Any]]], log: Callable[[str], None]) -> str:
    fingerprint = _fingerprint(params, inputs)
    if ledger.is_current(name, fingerprint):
        log(f"{name}: up to date, skipped")
        return "skipped"
    log(f"{name}: running")
    outputs, info = action()
    ledger.record(name, fingerprint, outputs, info)
    return "ran"


# ----------------------------------------------------------------------------- the run


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("--out-dir exists and is not a folder", path=out_dir)
    if out_dir.is_dir() and not (out_dir / STATE_FILE).exists():
        foreign = [p.name for p in out_dir.iterdir() if p.name not in (".vmafkit.lock", ".vmafkit-cache")]
        if foreign:
            raise InputError(f"holds files that are not a vmafkit run ({', '.join(sorted(foreign)[:3])}); "
                             "pick an empty --out-dir", path=out_dir)


def resolve_encoders(requested: Sequence[str] | str, ffmpeg: str | None) -> tuple[list[str], str]:
    """`auto` = the platform's defaults that pass their probe (libx264 when none do)."""
    from .doctor import diagnose

    if requested == "auto" or list(requested) == ["auto"]:
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
    _check_out_dir(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(out_dir):
        ref_dir = _reference_folder(opts, out_dir, log)
        ledger = StepLedger(out_dir, {"ref_dir": "demo" if opts.demo else str(ref_dir)})
        encoders, family = resolve_encoders(opts.encoders, opts.ffmpeg)
        log(f"doctor: platform {family}; encoders {', '.join(encoders)}")
        result = RunResult(verdict="", exit_code=EXIT_OK, out_dir=out_dir, encoders=encoders)
        corpus = out_dir / CORPUS_REL
        loso = out_dir / LOSO_DIR
        result.steps["corpus"] = _corpus_step(ledger, opts, ref_dir, corpus, encoders, log)
        result.steps["train"] = _train_step(ledger, opts, corpus, loso, log)
        result.steps["verdict"], verdict_path = _verdict_step(ledger, opts, ref_dir, loso, log)
        result.verdict = json.loads(verdict_path.read_text())["verdict"]
        result.steps["export"] = _export_step(ledger, opts, corpus, verdict_path, out_dir / MODELS_DIR, result.verdict,
                                              log)
        result.report = _report(out_dir, corpus, log)
        result.steps["report"] = "ran"
        if opts.bundle:
            result.bundle = _bundle(out_dir, {"platform_family": family, "encoders": encoders}, opts.ffmpeg, log)
            result.steps["bundle"] = "ran"
    result.exit_code = EXIT_OK if result.verdict == "PROMOTE" else EXIT_HOLD
    result.wall_s = round(time.perf_counter() - started, 1)
    return result


def _reference_folder(opts: RunOptions, out_dir: Path, log) -> Path:
    if opts.demo:
        from .demo import make_demo_clips

        dest = out_dir / DEMO_REFS
        clips = make_demo_clips(dest)
        log(f"demo: {len(clips)} SYNTHETIC reference clips (ffmpeg lavfi sources) in {dest}")
        return dest
    if opts.ref_dir is None:
        raise InputError("give --ref-dir DIR (a folder of reference clips) or --demo")
    ref_dir = Path(opts.ref_dir).resolve()
    if not ref_dir.is_dir():
        raise InputError("reference folder not found", path=opts.ref_dir)
    return ref_dir


def _corpus_step(ledger, opts, ref_dir, corpus, encoders, log) -> str:
    from .corpus.build import build_corpus
    from .media.ffmpeg import find_ffmpeg
    from .media.sources import find_sources

    ff = find_ffmpeg(opts.ffmpeg)
    sources = find_sources(ref_dir, ff=ff)
    groups = sorted({s.group for s in sources})
    if len(groups) < 2:
        raise InputError(f"{len(sources)} source(s) in {len(groups)} group(s); LOSO needs at least 2 source groups",
                         path=ref_dir)
    params = {"encoders": list(encoders), "cqs": list(opts.cqs), "presets": list(opts.presets),
              "max_frames": opts.max_frames, "ffmpeg": ff.version, "libvmaf": ff.libvmaf_version,
              "sources": {s.name: [s.sha256, s.group] for s in sources}}

    def action():
        corpus.parent.mkdir(parents=True, exist_ok=True)
        built = build_corpus(ref_dir, encoders, opts.cqs, corpus, presets=opts.presets, jobs=opts.jobs,
                             max_frames=opts.max_frames, ffmpeg=opts.ffmpeg, progress=opts.progress,
                             scheduler=opts.scheduler, sources=sources)
        log(f"corpus: {built.n_rows} rows, {built.n_cells} cells ({built.cells_cached} cached)")
        return [corpus], built.to_json()

    return run_step(ledger, "corpus", params, [], action, log)


def _train_step(ledger, opts, corpus, loso, log) -> str:
    from .train.loso import train_loso
    from .train.model import Recipe

    recipe = Recipe.named(opts.recipe, epochs=opts.epochs, batch_size=opts.batch_size, lr=opts.lr,
                          weight_decay=opts.weight_decay)
    params = {"seeds": list(opts.seeds), "recipe": recipe.to_json(), "device": opts.device}

    def action():
        loso.mkdir(parents=True, exist_ok=True)
        kwargs = {"scheduler": opts.scheduler} if opts.scheduler else {}
        paths = train_loso(corpus, list(opts.seeds), loso, recipe=recipe, device=opts.device, progress=opts.progress,
                           **kwargs)
        outputs = [Path(p) for p in paths]
        outputs += sorted(p for p in loso.glob("loso_seed*.predictions.*") if _seed_of(p) in opts.seeds)
        return outputs, {}

    return run_step(ledger, "train", params, [corpus], action, log)


def _seed_of(path: Path) -> int | None:
    digits = path.name[len("loso_seed"):].split(".")[0]
    return int(digits) if digits.isdigit() else None


def _verdict_step(ledger, opts, ref_dir, loso, log) -> tuple[str, Path]:
    from .verdict import write_verdict

    reports = [loso / f"loso_seed{s}.json" for s in opts.seeds]
    predictions = sorted(p for p in loso.glob("loso_seed*.predictions.*") if _seed_of(p) in opts.seeds)
    params = {"seeds": list(opts.seeds), "ref_dir": str(ref_dir)}
    holder: dict[str, Path] = {}

    def action():
        verdict, path = write_verdict(loso, list(opts.seeds), ref_dir=ref_dir)
        holder["path"] = path
        log(f"verdict: {verdict['verdict']} (mean PLCC {verdict['gate']['mean_plcc']:.4f}, "
            f"spread {verdict['gate']['plcc_spread']:.4f})")
        return [path], {"verdict": verdict["verdict"]}

    status = run_step(ledger, "verdict", params, [*reports, *predictions], action, log)
    if "path" not in holder:
        name = ledger.info("verdict").get("verdict", "HOLD")
        holder["path"] = loso / f"{name}.json"
    return status, holder["path"]


def _export_step(ledger, opts, corpus, verdict_path, models, verdict, log) -> str:
    if verdict != "PROMOTE":
        if models.exists():
            shutil.rmtree(models)  # an export from an earlier PROMOTE is stale now
            log("export: HOLD, removed the stale export of an earlier run")
            ledger.forget("export")
            return "removed"
        ledger.forget("export")
        return "not needed (HOLD)"
    from .export import export_ensemble

    def action():
        if models.exists():
            shutil.rmtree(models)
        models.mkdir(parents=True)
        export_ensemble(corpus, verdict_path, models, progress=opts.progress)
        return sorted(p for p in models.rglob("*") if p.is_file()), {}

    return run_step(ledger, "export", {"device": opts.device}, [corpus, verdict_path], action, log)


def _report(out_dir: Path, corpus: Path, log) -> Path | None:
    try:
        from .report import write_report
    except ImportError:
        return None
    path = write_report(out_dir, corpus=corpus)
    log(f"report: {path}")
    return path


def _bundle(out_dir: Path, env: dict[str, Any], ffmpeg: str | None, log) -> Path:
    from .bundle import make_bundle
    from .media.ffmpeg import find_ffmpeg

    ff = find_ffmpeg(ffmpeg)
    tarball = out_dir / BUNDLE_NAME
    make_bundle(out_dir, tarball, extra_env={**env, "ffmpeg_version": ff.version, "libvmaf_version": ff.libvmaf_version,
                                              "ffmpeg_path": ff.path})
    log(f"bundle: {tarball} (check it with `vmafkit verify {tarball}`)")
    return tarball
