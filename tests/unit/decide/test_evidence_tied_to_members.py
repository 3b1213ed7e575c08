"""Evidence tied to what was trained: the attacks of issue 20, item 3, replayed on REAL training.

* Held-out predictions rewritten (pred = vmaf +- 0.5) with the seed reports recomputed to match:
  the verdict re-runs each fold's saved member and refuses (exit 2), naming the file and row.
* Members fitted on their own held-out rows (a consistent forgery: the predictions ARE what the
  saved members give): export retrains a member and refuses (exit 3).
* A LOSO folder without fold members (hand-made): its verdict is computed, export and flip refuse.
* A models folder edited after export with its registry pins updated (calibration, sidecar
  domain, ONNX of another seed): `registry validate` is satisfied, `registry flip` refuses.

The oracles are the attacks' own numbers (a forged prediction is 0.5 off by construction) and
independent re-fits (scipy for the recomputed seed reports, torch for the leaky members).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from vmafkit.errors import InputError, RefusedError

from ...factories import cli, read_rows, trained_loso, write_seed_report

TRAINED_RECIPE = {"epochs": 100, "lr": 2e-2}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rewrite_seed_report(loso: Path, seed: int, corpus: Path, fold_members: dict | None) -> None:
    """The seed report recomputed (scipy) from the prediction file now beside it, keeping the
    trainer's recipe: what an attacker who rewrote the predictions writes to make them agree."""
    original = json.loads((loso / f"loso_seed{seed}.json").read_text())
    extra = {"recipe": original["recipe"], "lr": original["lr"], "batch_size": original["batch_size"]}
    extra["weight_decay"] = original["weight_decay"]
    if fold_members is not None:
        extra["fold_members"] = fold_members
    write_seed_report(loso, seed, corpus, epochs=original["epochs"], extra=extra)


def _rewrite_predictions(loso: Path, seed: int, pred: np.ndarray, free: np.ndarray) -> None:
    path = loso / f"loso_seed{seed}.predictions.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    for row in lines:
        row["pred"] = float(pred[row["row"]])
        row["pred_unlabelled"] = float(free[row["row"]])
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in lines))


@pytest.fixture(scope="module")
def pristine_loso(tmp_path_factory):
    return trained_loso(tmp_path_factory.mktemp("tied"), seeds=(0, 1))


@pytest.fixture
def loso(pristine_loso, tmp_path):
    src, corpus = pristine_loso
    dst = tmp_path / "loso"
    shutil.copytree(src, dst)
    for report in dst.glob("loso_seed*.json"):
        data = json.loads(report.read_text())
        if "corpus" in data:
            data["corpus"]["path"] = str(corpus)
            report.write_text(json.dumps(data))
    return dst, corpus


def test_trainer_saves_every_fold_member_and_the_report_pins_it(loso):
    from vmafkit.train.fold_members import FORMAT

    loso_dir, corpus = loso
    rows = read_rows(corpus)
    n_groups = len({r["src"] for r in rows})
    # 20 -> 64 -> 64 -> 1: (20*64 + 64) + (64*64 + 64) + (64 + 1) parameters, float32, per fold
    per_member = (20 * 64 + 64) + (64 * 64 + 64) + (64 + 1)
    for seed in (0, 1):
        path = loso_dir / f"loso_seed{seed}.folds.f32"
        assert path.stat().st_size == n_groups * per_member * 4
        entry = json.loads((loso_dir / f"loso_seed{seed}.json").read_text())["fold_members"]
        assert entry == {"file": path.name, "sha256": _sha(path), "format": FORMAT}


def test_forged_predictions_with_consistent_reports_are_refused(loso):
    """The issue's attack: pred = vmaf +- 0.5, seed reports recomputed; before, this PROMOTEd a
    model 81 VMAF off."""
    loso_dir, corpus = loso
    vmaf = np.array([r["vmaf"] for r in read_rows(corpus)])
    sign = np.where(np.arange(vmaf.size) % 2 == 0, 0.5, -0.5)
    _rewrite_predictions(loso_dir, 0, vmaf + sign, vmaf + sign)
    members = json.loads((loso_dir / "loso_seed0.json").read_text())["fold_members"]
    _rewrite_seed_report(loso_dir, 0, corpus, members)
    result = cli(["verdict", str(loso_dir), "--seeds", "0,1"])
    assert result.exit_code == 2
    assert "loso_seed0.predictions.jsonl" in result.output and "saved member" in result.output
    assert "Traceback" not in result.output
    assert not (loso_dir / "PROMOTE.json").exists() and not (loso_dir / "HOLD.json").exists()


@pytest.mark.parametrize("damage", ["flip-byte", "truncate", "nan"])
def test_damaged_fold_members_file_is_refused(loso, damage):
    loso_dir, _ = loso
    path = loso_dir / "loso_seed1.folds.f32"
    data = bytearray(path.read_bytes())
    if damage == "flip-byte":
        data[100] ^= 0xFF
    elif damage == "truncate":
        data = data[:-4]
    else:
        data[0:4] = np.array([np.nan], dtype="<f4").tobytes()
    path.write_bytes(bytes(data))
    if damage != "flip-byte":  # the attacker updates the pin as well: size and values still checked
        report = loso_dir / "loso_seed1.json"
        body = json.loads(report.read_text())
        body["fold_members"]["sha256"] = _sha(path)
        report.write_text(json.dumps(body))
    from vmafkit.decide.verdict import write_verdict

    with pytest.raises(InputError) as err:
        write_verdict(loso_dir, [0, 1])
    message = str(err.value)
    assert "loso_seed1.folds.f32" in message
    expected = {"flip-byte": "changed since training", "truncate": "bytes", "nan": "non-finite"}[damage]
    assert expected in message


def _forge_fold_member(loso_dir: Path, corpus, seed: int, member) -> None:
    """Put `member` in place of seed's member of the first fold, with the predictions it gives and
    the seed report recomputed and re-pinned: a forgery the replay cannot see."""
    from vmafkit.train.ensemble import predict_one
    from vmafkit.train.features import FeatureSpec, model_inputs, unlabelled
    from vmafkit.train.fold_members import member_bytes

    group = corpus.groups[0]
    held = np.flatnonzero(corpus.group == group)
    train = np.flatnonzero(corpus.group != group)
    spec = FeatureSpec.fit(corpus.features[train], corpus.cq[train])
    x_held = model_inputs(corpus, held, spec)
    members_path = loso_dir / f"loso_seed{seed}.folds.f32"
    blob = member_bytes(member)
    members_path.write_bytes(blob + members_path.read_bytes()[len(blob) :])
    lines = [json.loads(line) for line in (loso_dir / f"loso_seed{seed}.predictions.jsonl").read_text().splitlines()]
    pred = np.array([r["pred"] for r in lines])
    free = np.array([r["pred_unlabelled"] for r in lines])
    pred[held] = predict_one(member, x_held)
    free[held] = predict_one(member, unlabelled(x_held))
    _rewrite_predictions(loso_dir, seed, pred, free)
    entry = json.loads((loso_dir / f"loso_seed{seed}.json").read_text())["fold_members"]
    entry["sha256"] = _sha(members_path)
    _rewrite_seed_report(loso_dir, seed, Path(corpus.path), entry)


def _fold_zero_inputs(corpus, *, leak: bool):
    """Fold 0's training inputs as the recipe makes them (labels masked), of ALL rows if `leak`."""
    from vmafkit.train.features import FeatureSpec, fold_inputs, model_inputs
    from vmafkit.train.recipe import Recipe

    train = np.flatnonzero(corpus.group != corpus.groups[0])
    spec = FeatureSpec.fit(corpus.features[train], corpus.cq[train])  # the honest transform
    rows = np.arange(len(corpus)) if leak else train
    x = fold_inputs(model_inputs(corpus, rows, spec), Recipe(**TRAINED_RECIPE), 0)
    return x, corpus.vmaf[rows].astype(np.float32)


def test_member_fitted_on_its_held_out_rows_fails_its_retrain(loso):
    """Seed 0's member of fold 0 trained on ALL rows (its held-out source included): the replay
    agrees (the predictions are what it gives), its retrain does not."""
    from vmafkit.corpus.schema import load_corpus
    from vmafkit.train.ensemble import MemberData, fit_members
    from vmafkit.train.fold_members import check_seed_members, retrain_matches
    from vmafkit.train.predictions import read_predictions
    from vmafkit.train.recipe import Recipe

    loso_dir, corpus_path = loso
    corpus = load_corpus(corpus_path)
    recipe = Recipe(**TRAINED_RECIPE)
    x, y = _fold_zero_inputs(corpus, leak=True)
    _forge_fold_member(loso_dir, corpus, 0, fit_members([MemberData(x, y, 0)], recipe)[0])
    reports = {s: json.loads((loso_dir / f"loso_seed{s}.json").read_text()) for s in (0, 1)}
    preds = {s: read_predictions(loso_dir / f"loso_seed{s}.predictions.jsonl") for s in (0, 1)}
    pinned = check_seed_members(loso_dir, reports, preds, corpus, recipe)  # the replay agrees
    assert pinned is not None
    items = [{"seed": s, **pinned[s]} for s in (0, 1)]
    caught = retrain_matches(corpus, recipe, loso_dir, items, pick=0)
    assert (caught["seed"], caught["fold"]) == (0, corpus.groups[0])
    assert not caught["matches"] and caught["max_abs_diff"] > 1e-3
    assert retrain_matches(corpus, recipe, loso_dir, items, pick=len(corpus.groups))["matches"]  # seed 1


def test_cherry_picked_member_passes_the_gate_but_not_export(loso, tmp_path, monkeypatch):
    """Seed 0's member of fold 0 replaced by one of another initialisation (the best of several
    tries, say): honest held-out predictions, a consistent folder, a PROMOTE; export retrains that
    member (its random draw pinned to it here) and refuses, writing nothing."""
    import vmafkit.train.fold_members as fold_members
    from vmafkit.corpus.schema import load_corpus
    from vmafkit.decide.verdict import write_verdict
    from vmafkit.serve.export import export_ensemble
    from vmafkit.train.ensemble import MemberData, fit_members
    from vmafkit.train.recipe import Recipe

    loso_dir, corpus_path = loso
    corpus = load_corpus(corpus_path)
    x, y = _fold_zero_inputs(corpus, leak=False)
    _forge_fold_member(loso_dir, corpus, 0, fit_members([MemberData(x, y, 7)], Recipe(**TRAINED_RECIPE))[0])
    verdict, verdict_path = write_verdict(loso_dir, [0, 1])
    assert verdict["verdict"] == "PROMOTE", verdict["failing_aspects"]
    monkeypatch.setattr(fold_members.secrets, "randbelow", lambda n: 0)  # the draw: seed 0, fold 0
    models = tmp_path / "models"
    with pytest.raises(RefusedError, match="not trained as the verdict says"):
        export_ensemble(corpus_path, verdict_path, models)
    assert not (models / "registry.json").exists()
    monkeypatch.setattr(fold_members.secrets, "randbelow", lambda n: 1)  # an untouched member: exported
    summary = export_ensemble(corpus_path, verdict_path, models)
    assert summary["evidence_checks"]["retrained_member"]["matches"]


def test_honest_members_retrain_bit_for_bit(loso):
    from vmafkit.corpus.schema import load_corpus
    from vmafkit.decide.verdict import write_verdict
    from vmafkit.train.fold_members import retrain_matches
    from vmafkit.train.recipe import Recipe

    loso_dir, corpus_path = loso
    corpus = load_corpus(corpus_path)
    verdict, _ = write_verdict(loso_dir, [0, 1])
    for pick in (0, 2 * len(corpus.groups) - 1):  # seed 0's first fold, seed 1's last
        check = retrain_matches(
            corpus, Recipe(**TRAINED_RECIPE), loso_dir, verdict["evidence"]["fold_members"], pick=pick
        )
        assert check["matches"] and check["max_abs_diff"] == 0.0
        assert check["saved_rmse"] == check["retrained_rmse"]


def test_predictions_without_fold_members_are_not_exported(loso, tmp_path):
    """Dropping the members from the seed reports (so nothing is replayed) leaves a verdict that
    export refuses (exit 3)."""
    loso_dir, corpus = loso
    for seed in (0, 1):
        (loso_dir / f"loso_seed{seed}.folds.f32").unlink()
        _rewrite_seed_report(loso_dir, seed, corpus, None)
    result = cli(["verdict", str(loso_dir), "--seeds", "0,1"])
    assert result.exit_code in (0, 1), result.output
    verdict = next(p for p in (loso_dir / "PROMOTE.json", loso_dir / "HOLD.json") if p.exists())
    assert "fold_members" not in json.loads(verdict.read_text())["evidence"]
    if verdict.name == "PROMOTE.json":
        out = tmp_path / "models"
        result = cli(["export", "--corpus", str(corpus), "--verdict", str(verdict), "--out", str(out)])
        assert result.exit_code == 3
        assert "not tied to trained members" in result.output and "folds.f32" in result.output
        assert not out.exists() or not any(out.iterdir())


def test_half_the_seeds_without_members_is_an_error(loso):
    loso_dir, corpus = loso
    _rewrite_seed_report(loso_dir, 1, corpus, None)
    from vmafkit.decide.verdict import write_verdict

    with pytest.raises(InputError, match=r"seed reports \[1\] name no fold members"):
        write_verdict(loso_dir, [0, 1])


# --- flip re-derives what it switches in --------------------------------------------------------


def _repin(models: Path) -> None:
    """Update every pin of the registry (and sidecar) to the files as they now are: what someone
    who can edit the folder does after editing it."""
    registry = models / "registry.json"
    data = json.loads(registry.read_text())
    for row in data["models"]:
        onnx_sha = _sha(models / row["onnx"])
        row["sha256"] = onnx_sha
        sidecar_path = models / row["sidecar"]
        sidecar = json.loads(sidecar_path.read_text())
        sidecar["onnx_sha256"] = onnx_sha
        sidecar_path.write_text(json.dumps(sidecar))
        row["sidecar_sha256"] = _sha(sidecar_path)
        if row.get("calibration"):
            row["calibration_sha256"] = _sha(models / row["calibration"])
    registry.write_text(json.dumps(data))


def _zero_residuals(models: Path) -> None:
    path = next(models.glob("*_calibration.json"))
    data = json.loads(path.read_text())
    for level in ("frame", "clip"):  # the attack: residuals zeroed, intervals that cover nothing
        sources = data["ensemble"][level]["sources"]
        data["ensemble"][level]["sources"] = {src: [0.0] * len(values) for src, values in sources.items()}
    path.write_text(json.dumps(data))


def _widen_domain(models: Path) -> None:
    for path in models.glob("*_seed*.json"):
        data = json.loads(path.read_text())
        data["domain"]["features"]["motion2"] = [-1000.0, 1000.0]
        path.write_text(json.dumps(data))


def _swap_onnx(models: Path) -> None:
    seed0, seed1 = sorted(models.glob("*_seed*.onnx"))
    shutil.copy(seed1, seed0)


@pytest.mark.parametrize(
    "edit, names",
    [(_zero_residuals, "calibration"), (_widen_domain, "domain"), (_swap_onnx, "ONNX model differs")],
)
def test_edited_folder_with_updated_pins_passes_validate_but_not_flip(models, edit, names):
    folder, verdict, _ = models
    edit(folder)
    _repin(folder)
    registry = folder / "registry.json"
    assert cli(["registry", "validate", "--registry", str(registry)]).exit_code == 0
    before = registry.read_bytes()
    result = cli(["registry", "flip", "--registry", str(registry), "--verdict", str(verdict)])
    assert result.exit_code == 3, result.output
    assert names in result.output and "registry unchanged" in result.output
    assert "Traceback" not in result.output
    assert registry.read_bytes() == before


def test_untouched_folder_flips(models):
    folder, verdict, _ = models
    result = cli(["registry", "flip", "--registry", str(folder / "registry.json"), "--verdict", str(verdict)])
    assert result.exit_code == 0, result.output


def test_edited_full_corpus_member_is_refused_by_export(loso, tmp_path):
    """A full-corpus member (what export ships) whose output bias was moved 20 VMAF points, the
    verdict re-written so that it pins the edited file: every frame lies 20 points off, outside the
    calibrated half-width, and export refuses (exit 3) before writing anything."""
    from vmafkit.decide.verdict import write_verdict

    loso_dir, corpus = loso
    refit = loso_dir / "loso_seed1.refit.json"
    data = json.loads(refit.read_text())
    data["state"]["net.6.bias"] = [data["state"]["net.6.bias"][0] + 20.0]
    refit.write_text(json.dumps(data))
    verdict, verdict_path = write_verdict(loso_dir, [0, 1])
    assert verdict["verdict"] == "PROMOTE"
    out = tmp_path / "models"
    result = cli(["export", "--corpus", str(corpus), "--verdict", str(verdict_path), "--out", str(out)])
    assert result.exit_code == 3, result.output
    assert "not the members it describes" in result.output and "Traceback" not in result.output
    assert not (out / "registry.json").exists()


def test_honest_export_says_what_it_checked(loso, tmp_path):
    from vmafkit.decide.verdict import write_verdict

    loso_dir, corpus = loso
    _, verdict_path = write_verdict(loso_dir, [0, 1])
    out = tmp_path / "models"
    result = cli(["export", "--corpus", str(corpus), "--verdict", str(verdict_path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "retrained, equals the saved one bit for bit" in result.output
    assert "within the calibrated half-width" in result.output


def test_gpu_trained_run_is_replayed_but_not_retrained(loso, tmp_path):
    """A run whose reports say it trained on a GPU: no CPU retrain can equal it bit for bit, so
    export says the retrain was skipped (its predictions were still all replayed)."""
    from vmafkit.decide.verdict import write_verdict
    from vmafkit.serve.export import export_ensemble

    loso_dir, corpus = loso
    for seed in (0, 1):
        report = loso_dir / f"loso_seed{seed}.json"
        body = json.loads(report.read_text())
        body["device"] = "cuda"
        report.write_text(json.dumps(body))
    _, verdict_path = write_verdict(loso_dir, [0, 1])
    summary = export_ensemble(corpus, verdict_path, tmp_path / "models")
    assert summary["evidence_checks"]["retrained_member"] == {
        "skipped": "trained on cuda: a CPU retrain is not bit for bit the same, not retrained"
    }
