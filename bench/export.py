"""`vmafkit export`'s wall time against `train`'s time per fold, on a real corpus (issue 12).

    python bench/export.py --corpus CORPUS [--seeds 0,1,2,3,4] [--epochs 200]

Trains CORPUS's LOSO ensemble into a temp folder (as `vmafkit train`: the folds' members and
the production members, one per seed on the full corpus, in one batched fit), writes the verdict
and, on PROMOTE, exports twice:

* `shipped`: as `vmafkit export` runs after `train` — the production members train fitted,
  pinned by the verdict, are loaded; no second fit;
* `refit`: from a copy of the LOSO folder without those files (a folder from an older vmafkit)
  — export fits the members itself, in one batched fit sharded like train's.

Prints train's fit time per fold (fit_time_s / folds), each export's wall time, and checks that
both exports wrote the same ONNX bytes. Then what issue 20's evidence checks cost inside those
times: replaying every held-out prediction from the saved fold members (every verdict, export
and flip does it) and retraining one fold member (export), each timed on its own.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from vmafkit import layout
from vmafkit.decide.verdict import write_verdict
from vmafkit.serve.export import export_ensemble
from vmafkit.train.loso import train_loso
from vmafkit.train.recipe import DEFAULT_SEEDS, Recipe


def timed_export(corpus: Path, verdict: Path, out: Path) -> float:
    started = time.perf_counter()
    export_ensemble(corpus, verdict, out)
    return time.perf_counter() - started


def evidence_costs(corpus_path: Path, loso: Path, seeds: list[int], verdict: dict) -> tuple[float, float, int]:
    from vmafkit.corpus.schema import load_corpus
    from vmafkit.train.fold_members import check_seed_members, retrain_matches
    from vmafkit.train.predictions import read_predictions

    corpus = load_corpus(corpus_path)
    recipe = Recipe.from_json(verdict["recipe"])
    reports = {s: json.loads(layout.seed_report(loso, s).read_text()) for s in seeds}
    preds = {s: read_predictions(layout.predictions_file(loso, s)) for s in seeds}
    started = time.perf_counter()
    check_seed_members(loso, reports, preds, corpus, recipe)
    replay = time.perf_counter() - started
    started = time.perf_counter()
    check = retrain_matches(corpus, recipe, loso, verdict["evidence"]["fold_members"], pick=0)
    retrain = time.perf_counter() - started
    if not check["matches"]:
        raise SystemExit(f"the retrained member differs from the saved one: {check}")
    size = sum(layout.fold_members_file(loso, s).stat().st_size for s in seeds)
    return replay, retrain, size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--seeds", default=",".join(map(str, DEFAULT_SEEDS)))
    ap.add_argument("--epochs", type=int, default=Recipe().epochs)
    a = ap.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        loso = root / "loso"
        started = time.perf_counter()
        train_loso(a.corpus, seeds, loso, Recipe(epochs=a.epochs), device="cpu", progress=False)
        train_wall = time.perf_counter() - started
        timing = json.loads(layout.timing_file(loso, seeds[0]).read_text())
        folds = json.loads(layout.seed_report(loso, seeds[0]).read_text())["n_folds"]
        verdict, path = write_verdict(loso, seeds)
        if verdict["verdict"] != "PROMOTE":
            raise SystemExit(f"verdict is {verdict['verdict']}: nothing to export ({verdict['failing_aspects']})")
        shipped = timed_export(a.corpus, path, root / "shipped")
        old = root / "old"
        shutil.copytree(loso, old)
        for refit in old.glob("*.refit.json"):
            refit.unlink()
        layout.verdict_file(old, "PROMOTE").unlink()
        _, old_path = write_verdict(old, seeds)
        refit = timed_export(a.corpus, old_path, root / "refit")
        same = all((root / "shipped" / p.name).read_bytes() == p.read_bytes() for p in (root / "refit").glob("*.onnx"))
        replay_s, retrain_s, members_bytes = evidence_costs(a.corpus, loso, seeds, verdict)
    per_fold = timing["fit_time_s"] / folds
    print(
        f"corpus {a.corpus}: {folds} folds x {len(seeds)} seeds + {len(seeds)} production members, "
        f"{a.epochs} epochs; train wall {train_wall:.1f} s, fit {timing['fit_time_s']:.1f} s\n"
    )
    print("| step | wall s | vs train per fold |")
    print("|---|---:|---:|")
    print(f"| train, fit per fold (fit / {folds}) | {per_fold:.1f} | 1.00x |")
    print(f"| export, shipped members (after train) | {shipped:.1f} | {shipped / per_fold:.2f}x |")
    print(f"| export, refit (LOSO folder without them) | {refit:.1f} | {refit / per_fold:.2f}x |")
    print(f"| replay every held-out prediction from the fold members | {replay_s:.1f} | {replay_s / per_fold:.2f}x |")
    print(f"| retrain one fold member (export's check) | {retrain_s:.1f} | {retrain_s / per_fold:.2f}x |")
    print(f"\nsame ONNX bytes both ways: {same}; fold-member files {members_bytes / 1e6:.2f} MB in all")


if __name__ == "__main__":
    main()
