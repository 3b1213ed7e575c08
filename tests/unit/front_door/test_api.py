"""The public Python API: `import vmafkit` is light, every exported name resolves, the options are
keyword-only, and the wrappers pass their options to the stages the way the commands do."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

import vmafkit
from vmafkit import api
from vmafkit.errors import InputError

from ...factories import TRAINER_SHAPE, cli, make_loso_dir, private_copy, read_rows

HEAVY = ("torch", "numpy", "onnxruntime", "dask", "vmafkit.api")
# Positional parameters with a default: predict's ref and dis (the pair) are an alternative to features.
POSITIONAL_WITH_DEFAULT = {"predict": {"ref", "dis"}}


def test_import_vmafkit_imports_no_heavy_module():
    code = (
        "import json, sys, vmafkit; "
        f"print(json.dumps([vmafkit.__version__, [m for m in {list(HEAVY)!r} if m in sys.modules]]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    version, loaded = json.loads(proc.stdout)
    assert loaded == []
    from vmafkit._version import __version__

    assert version == __version__


def test_every_public_name_resolves_and_is_the_apis():
    assert set(vmafkit.__all__) == {"__version__", *api.__all__}
    package = Path(vmafkit.__file__).parent
    for name in api.__all__:
        assert getattr(vmafkit, name) is getattr(api, name), name
        # a subpackage of that name would replace the function on vmafkit once it is imported
        assert not (package / name).exists() and not (package / f"{name}.py").exists(), name
    assert set(vmafkit.__all__) <= set(dir(vmafkit))
    with pytest.raises(AttributeError, match="no attribute 'not_an_api_name'"):
        vmafkit.not_an_api_name  # noqa: B018


@pytest.mark.parametrize("name", [n for n in api.__all__ if inspect.isfunction(getattr(api, n))])
def test_functions_are_documented_typed_and_take_options_by_keyword(name):
    func = getattr(api, name)
    assert (func.__doc__ or "").strip(), name
    for param in inspect.signature(func).parameters.values():
        assert param.annotation is not inspect.Parameter.empty, f"{name}({param.name}) has no type"
        if param.default is not inspect.Parameter.empty and param.name not in POSITIONAL_WITH_DEFAULT.get(name, ()):
            assert param.kind is inspect.Parameter.KEYWORD_ONLY, f"{name}({param.name}) is an option: keyword-only"


def test_version_has_one_source():
    tomllib = pytest.importorskip("tomllib")
    from vmafkit.bundle.kit import project_root

    pyproject = tomllib.loads((project_root() / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "vmafkit._version.__version__"}
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["vmafkit"]
    proc = subprocess.run(
        [sys.executable, "-m", "vmafkit.cli", "--version"], capture_output=True, text=True, timeout=60
    )
    assert proc.stdout.strip() == f"vmafkit, version {vmafkit.__version__}"


# ----------------------------------------------------------------------------- gate and verdict


def test_gate_and_verdict_on_known_plccs(tmp_path):
    """Every fold of seed N has exactly the PLCC asked for (factories.write_predictions): 0.96 and
    0.958 pass the gate, a seed at 0.90 fails it alone. The results are typed; their fields agree
    with their JSON and with the verdict file written."""
    (tmp_path / "good").mkdir()
    (tmp_path / "bad").mkdir()
    loso, _ = make_loso_dir(tmp_path / "good", {0: 0.96, 1: 0.958})
    before = sorted(loso.iterdir())
    report = vmafkit.gate(loso, seeds=[0, 1])
    assert isinstance(report, vmafkit.GateResult) and report.passed
    assert report.per_seed_plccs == pytest.approx({"0": 0.96, "1": 0.958}, abs=1e-9)
    assert report.mean_plcc == pytest.approx(0.959, abs=1e-9) and report.plcc_spread == pytest.approx(0.002, abs=1e-9)
    assert report["passed"] is True and report.to_json()["mean_plcc"] == report.mean_plcc  # 0.1's dict access
    assert sorted(loso.iterdir()) == before  # the gate writes nothing
    written = vmafkit.write_verdict(loso, seeds=[0, 1])
    assert isinstance(written, vmafkit.VerdictResult) and written.promoted
    assert written.verdict == "PROMOTE" and written.path == loso / "PROMOTE.json"
    assert json.loads(written.path.read_text()) == written.to_json()
    assert written["gate"]["passed"] is True

    bad, _ = make_loso_dir(tmp_path / "bad", {0: 0.96, 1: 0.90})
    assert vmafkit.gate(bad, seeds=[0, 1]).failing_seeds == [1]
    held = vmafkit.write_verdict(bad, seeds=[0, 1])
    assert held.verdict == "HOLD" and held.path.name == "HOLD.json" and not held.promoted
    assert held.recommendation == json.loads(held.path.read_text())["recommendation"] != ""
    with pytest.warns(DeprecationWarning, match="unpacking write_verdict"):
        verdict, path = held  # the (verdict, path) tuple of 0.1
    assert verdict["verdict"] == "HOLD" and path == held.path
    with pytest.raises(InputError, match="loso_seed2"):  # the default seeds 0..4: seed 2 has no report
        vmafkit.gate(bad)


# ----------------------------------------------------------------------------- train


def test_train_loso_takes_recipe_overrides(tmp_path, synthetic_corpus):
    corpus = synthetic_corpus(**{**TRAINER_SHAPE, "frames": 6})  # 108 rows
    training = vmafkit.Training(recipe="seed", epochs=1, lr=5e-3)
    paths = vmafkit.train_loso(corpus, tmp_path / "loso", seeds=[4], training=training, device="cpu")
    assert [p.name for p in paths] == ["loso_seed4.json"]
    report = json.loads(paths[0].read_text())
    assert (report["epochs"], report["lr"], report["batch_size"]) == (1, 5e-3, 32)  # 32: the recipe's default batch
    assert report["recipe"]["label_mask_rate"] == 0.0  # the seed kit's recipe masks no labels
    with pytest.raises(InputError, match="Training\\(\\): recipe must be one of robust, seed, got 'fancy'"):
        vmafkit.train_loso(corpus, tmp_path / "other", seeds=[0], training=vmafkit.Training(recipe="fancy"))
    assert not (tmp_path / "other").exists()


def test_the_flat_keywords_of_before_0_2_still_work_for_one_release(tmp_path, synthetic_corpus):
    """`train_loso(..., recipe="seed", epochs=1)` (the spelling before the option objects) trains
    exactly what `training=Training(recipe="seed", epochs=1)` trains, and warns once, naming the new
    spelling; the flat keywords and the object together are refused."""
    corpus = synthetic_corpus(**{**TRAINER_SHAPE, "frames": 6})
    with pytest.warns(DeprecationWarning, match=r"pass training=vmafkit.Training\(recipe=..., epochs=...\)") as caught:
        old = vmafkit.train_loso(corpus, tmp_path / "old", seeds=[4], recipe="seed", epochs=1, device="cpu")
    assert len(caught) == 1
    new = vmafkit.train_loso(
        corpus, tmp_path / "new", seeds=[4], training=vmafkit.Training(recipe="seed", epochs=1), device="cpu"
    )
    old_report, new_report = (json.loads(r.reports[0].read_text()) for r in (old, new))
    assert old_report["recipe"] == new_report["recipe"] and old_report["recipe"]["epochs"] == 1
    assert old_report["folds"] == new_report["folds"]
    with pytest.raises(InputError, match="give training= or its fields \\(epochs\\), not both"):
        vmafkit.train_loso(corpus, tmp_path / "both", epochs=1, training=vmafkit.Training())
    with pytest.warns(DeprecationWarning, match=r"run\(cqs=...\) is deprecated"):
        with pytest.raises(InputError, match="Grid\\(\\): cqs is empty"):
            vmafkit.run(tmp_path / "run", demo=True, cqs=[])
    assert not (tmp_path / "run").exists()


def test_a_runs_objects_chain_with_their_seeds(tmp_path, synthetic_corpus):
    """What train_loso returns is what gate and write_verdict take: its folder and its seeds (the
    folder alone means DEFAULT_SEEDS, which this folder lacks)."""
    corpus = synthetic_corpus(**{**TRAINER_SHAPE, "frames": 6})
    trained = vmafkit.train_loso(
        corpus, tmp_path / "loso", seeds=[4, 7], training=vmafkit.Training(epochs=2), device="cpu"
    )
    assert trained.seeds == (4, 7) and trained.loso_dir == tmp_path / "loso"
    assert trained.to_json()["reports"] == [str(tmp_path / "loso" / f"loso_seed{s}.json") for s in (4, 7)]
    gate = vmafkit.gate(trained)
    assert set(gate["per_seed_plccs"]) == {"4", "7"}
    written = vmafkit.write_verdict(trained)
    assert written["seeds"] == [4, 7] and written.path.parent == trained.loso_dir
    assert vmafkit.gate(trained, seeds=[7])["per_seed_plccs"].keys() == {"7"}
    with pytest.raises(InputError):
        vmafkit.gate(tmp_path / "loso")  # DEFAULT_SEEDS: seeds 0-4 were not trained here


# ----------------------------------------------------------------------------- predict and run


def test_predict_from_features_equals_the_command(pristine_models, tmp_path):
    models, _, corpus = private_copy(pristine_models, tmp_path)
    c6 = ("adm2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3", "motion2")
    rows = [{**{k: r[k] for k in c6}, "frame_index": r["frame_index"], "src": r["src"]} for r in read_rows(corpus)[:9]]
    features = tmp_path / "features.jsonl"
    features.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "pred.json"
    result = cli(["predict", "--models", models, "--features", features, "--cq", "30", "--json", out])
    assert result.exit_code == 0, result.output
    from_file = vmafkit.predict(models, features=features, cq=30)
    assert json.loads(json.dumps(from_file)) == json.loads(out.read_text())
    assert vmafkit.predict(models, features=rows, cq=30) == from_file
    with pytest.raises(InputError, match="not both"):
        vmafkit.predict(models, tmp_path / "a.y4m", tmp_path / "b.y4m", features=rows)
    with pytest.raises(InputError, match="both ref and dis"):
        vmafkit.predict(models, tmp_path / "a.y4m")


def test_run_refuses_demo_and_ref_dir_together(tmp_path):
    with pytest.raises(InputError, match="not both"):
        vmafkit.run(tmp_path / "out", ref_dir=tmp_path, demo=True)
    assert not (tmp_path / "out").exists()


def test_load_reads_the_registry_once_and_reuses_its_session(pristine_models, tmp_path, monkeypatch):
    """`vmafkit.load(MODELS)`: one registry read, one onnxruntime session however many predictions,
    and the predictions `vmafkit predict` gives (the command now runs this handle; the oracle is
    the earlier entry point, `serve.predict.predict_features` on the folder, which loads anew)."""
    import vmafkit.serve.registry as registry
    from vmafkit.serve.predict import predict_features

    models, _, corpus = private_copy(pristine_models, tmp_path)
    c6 = ("adm2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3", "motion2")
    rows = [{**{k: r[k] for k in c6}, "frame_index": r["frame_index"], "src": r["src"]} for r in read_rows(corpus)[:9]]
    expected = predict_features(models, rows, encoder="libx264", preset="medium", cq=30)
    reads = []
    real = registry.load_registry
    monkeypatch.setattr(registry, "load_registry", lambda *a, **k: reads.append(a) or real(*a, **k))
    ens = vmafkit.load(models)
    first = ens.predict(rows, encoder="libx264", preset="medium", cq=30)
    session = ens._loaded.session
    second = ens.predict(features=rows, encoder="libx264", preset="medium", cq=30)
    assert len(reads) == 1 and ens._loaded.session is session
    assert first.to_json() == second.to_json() == expected
    assert ens.target_kind == "vmaf" and ens.feature_order == list(c6) and ens.seeds == [0]
    assert ens.mode == "smoke-single-member" and any("smoke=true" in n for n in first.notes)
    assert set(ens.domain["encoders"]) == {"libx264", "libx265"}
    # one member's calibration is absolute: every frame's half-width is the multiplier itself
    assert expected["interval"]["adaptive"] is False
    assert ens.interval(0.95)["frame"] == pytest.approx(expected["interval"]["frame_half_width"], abs=1e-12)
    with pytest.raises(InputError, match="either features or both ref and dis"):
        ens.predict()
    with pytest.raises(InputError, match="threads"):
        vmafkit.load(models, threads=0)


def test_registry_flip_and_rollback_return_the_history_entry_they_append(models):
    """`registry_flip` / `registry_rollback` give a RegistryChange: its fields are the entry the
    registry's history file gained (read back from the file, not from the function)."""
    from vmafkit import layout

    folder, verdict_path, _ = models
    history = folder / layout.REGISTRY_HISTORY_FILE
    rows = json.loads((folder / layout.REGISTRY_FILE).read_text())["models"]

    flipped = vmafkit.registry_flip(folder / layout.REGISTRY_FILE, verdict_path)
    written = json.loads(history.read_text().splitlines()[-1])
    assert isinstance(flipped, vmafkit.RegistryChange)
    assert (flipped.action, flipped.ids, flipped.who, flipped.why) == (
        "flip",
        written["ids"],
        written["who"],
        written["why"],
    )
    assert sorted(flipped.ids) == sorted(r["id"] for r in rows) and flipped.to_json() == written

    back = vmafkit.registry_rollback(folder / layout.REGISTRY_FILE, reason="bad week", rows=flipped.ids[:1])
    written = json.loads(history.read_text().splitlines()[-1])
    assert (back.action, back.ids, back.why) == ("rollback", flipped.ids[:1], "bad week") and back.to_json() == written

    lines = history.read_text().splitlines()
    again = vmafkit.registry_rollback(folder / layout.REGISTRY_FILE, reason="twice", rows=flipped.ids[:1])
    assert (again.action, again.ids) == ("noop", []) and history.read_text().splitlines() == lines
