"""`vmafkit export`'s refit against `train`'s time per fold, on a real LOSO folder (issue 12).

    python bench/export.py --corpus CORPUS --loso LOSO_DIR [--ref-dir REFS] [--train-again]

LOSO_DIR is a `vmafkit train` of CORPUS (seed reports, prediction and timing files). It is copied
to a temp folder (never written), its verdict written there when it has none, and, on PROMOTE,
`export_ensemble` is run twice on the same inputs:

* `workers=1`: the refit as it was before issue 12 (one shard: 5 members on one core);
* `default`: as `vmafkit export` runs it now, sharded over the CPU like `train`
  (`train.loso.default_workers`: torch's intra-op thread count on CPU).

It prints, for each, the refit's wall time (`fit_members` alone) and export's whole wall time
(load, refit, ONNX, parity check, calibration, registry), next to train's fit time per fold (the
timing files' `fit_time_s` / the folds of the seed report), and checks that both exports wrote the
same ONNX bytes (a member's weights do not depend on the number of workers). `--train-again`
retrains the LOSO folder's seeds here first (into the temp folder), so that train's time per fold
is measured on this machine under the same load as the exports.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torch  # noqa: E402

import vmafkit.train.ensemble as ensemble  # noqa: E402
import vmafkit.train.loso as loso_mod  # noqa: E402
from vmafkit.export import export_ensemble  # noqa: E402
from vmafkit.verdict import write_verdict  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchutil import cpu_model  # noqa: E402


def train_per_fold(loso: Path) -> tuple[float, int, int, int]:
    """(fit seconds per fold, folds, members, workers) from the LOSO folder's timing files."""
    timing = json.loads(next(iter(sorted(loso.glob("loso_seed*.timing.json")))).read_text())
    report = json.loads(next(iter(sorted(p for p in loso.glob("loso_seed*.json") if ".timing" not in p.name)))
                        .read_text())
    folds = int(report["n_folds"])
    return float(timing["fit_time_s"]) / folds, folds, int(timing["members"]), int(timing.get("workers", 1))


def timed_export(corpus: Path, verdict: Path, out: Path, workers: int | None) -> dict:
    fit_s: list[float] = []
    real_fit = ensemble.fit_members
    real_workers = loso_mod.default_workers

    def fit(*args, **kwargs):
        started = time.perf_counter()
        try:
            return real_fit(*args, **kwargs)
        finally:
            fit_s.append(time.perf_counter() - started)
            fit_s.append(kwargs.get("workers", 1))

    ensemble.fit_members = fit
    if workers is not None:
        loso_mod.default_workers = lambda dev: workers
    try:
        started = time.perf_counter()
        export_ensemble(corpus, verdict, out)
        wall = time.perf_counter() - started
    finally:
        ensemble.fit_members = real_fit
        loso_mod.default_workers = real_workers
    onnx = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.glob("*.onnx"))}
    return {"fit_s": fit_s[0], "workers": fit_s[1], "wall_s": wall, "onnx": onnx}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--loso", type=Path, required=True)
    ap.add_argument("--ref-dir", type=Path, default=None)
    ap.add_argument("--train-again", action="store_true", help="measure train's time per fold here and now")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        loso = Path(tmp) / "loso"
        shutil.copytree(args.loso, loso, ignore=shutil.ignore_patterns(".*", "PROMOTE.json", "HOLD.json"))
        seeds = sorted(int(p.name[len("loso_seed"):].split(".")[0]) for p in loso.glob("loso_seed*.timing.json"))
        source = "the LOSO folder's timing files"
        if args.train_again:
            from vmafkit.train.model import Recipe

            report = json.loads((loso / f"loso_seed{seeds[0]}.json").read_text())
            shutil.rmtree(loso)
            loso_mod.train_loso(args.corpus, seeds, loso, recipe=Recipe.from_json(report["recipe"]), device="cpu",
                                progress=False)
            source = "retrained here, now"
        per_fold, folds, members, train_workers = train_per_fold(loso)
        verdict, verdict_path = write_verdict(loso, seeds, ref_dir=args.ref_dir)
        if verdict["verdict"] != "PROMOTE":
            print(f"verdict {verdict['verdict']}: export refuses; nothing to time", file=sys.stderr)
            return 2
        old = timed_export(args.corpus, verdict_path, Path(tmp) / "models_w1", workers=1)
        new = timed_export(args.corpus, verdict_path, Path(tmp) / "models_default", workers=None)

    print(f"# export refit vs train per fold ({cpu_model()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads)")
    print(f"corpus {args.corpus} ; {len(seeds)} seeds ; train: {members} members over {folds} folds, "
          f"{train_workers} workers ({source}) ; load average {Path('/proc/loadavg').read_text().split()[0]}")
    print()
    print("| what | workers | refit (fit_members) s | export wall s |")
    print("|---|---|---|---|")
    print(f"| train, per fold ({len(seeds)} members) | {train_workers} | {per_fold:.1f} | |")
    print(f"| export, before (workers=1) | {old['workers']} | {old['fit_s']:.1f} | {old['wall_s']:.1f} |")
    print(f"| export, now (default_workers) | {new['workers']} | {new['fit_s']:.1f} | {new['wall_s']:.1f} |")
    print()
    same = old["onnx"] == new["onnx"]
    print(f"same ONNX bytes with 1 and {new['workers']} workers: {same}")
    print(f"export wall <= train per fold: {new['wall_s'] <= per_fold} ({new['wall_s']:.1f} s vs {per_fold:.1f} s)")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
