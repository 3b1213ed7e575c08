"""ONNX export: refusals (exit 3), full-corpus refit, onnxruntime parity, sidecars, determinism."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import onnx
import pytest
import torch
from scipy.stats import pearsonr

from vmafkit import thresholds as T
from vmafkit.corpus.schema import load_corpus
from vmafkit.decide.verdict import write_verdict
from vmafkit.errors import InputError, RefusedError
from vmafkit.io import exclusive_lock, sha256_file
from vmafkit.serve.export import export_ensemble, onnx_bytes, ort_session
from vmafkit.serve.registry import read_history, validate_registry
from vmafkit.train.ensemble import MemberData, fit_members
from vmafkit.train.features import FeatureSpec, input_schema_hash
from vmafkit.train.loso import FULL_CORPUS_SALT, fold_inputs
from vmafkit.train.recipe import Recipe
from vmafkit.validation import schema_errors

from ...factories import cli, make_corpus, make_loso_dir, private_copy, trained_loso

ID = "fr_regressor_v2_ensemble_v1"


@pytest.fixture(scope="module")
def exported(pristine_three_seed_models, tmp_path_factory):
    """One copy of the shared three-seed export for this module's tests."""
    return private_copy(pristine_three_seed_models, tmp_path_factory.mktemp("export"))


def test_files_and_registry(exported):
    models, verdict_path, corpus = exported
    names = sorted(p.name for p in models.iterdir() if not p.name.startswith("."))
    assert names == sorted(
        [f"{ID}_seed{s}.{ext}" for s in (0, 1, 2) for ext in ("onnx", "json")]
        + [f"{ID}_calibration.json", "registry.json", "registry_history.jsonl"]
    )
    registry = json.loads((models / "registry.json").read_text())
    assert registry["schema_version"] == 1
    assert [r["id"] for r in registry["models"]] == [f"{ID}_seed{s}" for s in (0, 1, 2)]
    for row in registry["models"]:
        assert row["smoke"] is True and row["opset"] == 17 and row["kind"]
        assert row["sha256"] == sha256_file(models / row["onnx"])
        assert row["input_schema_hash"] == input_schema_hash()
    assert validate_registry(models / "registry.json") == []
    # registered through the registry (its lock and history), like a flip or a rollback
    (entry,) = read_history(models / "registry.json")
    verdict_sha = sha256_file(verdict_path)
    assert entry["action"] == "register" and entry["ids"] == [f"{ID}_seed{s}" for s in (0, 1, 2)]
    assert entry["previous"] == [] and entry["registry_sha256_before"] is None
    assert entry["why"].startswith(f"export of PROMOTE {verdict_sha[:12]} (corpus ")


def test_export_registers_under_the_registry_lock_and_records_what_it_replaced(exported, tmp_path):
    models, verdict_path, corpus = exported
    again = tmp_path / "again"
    again.mkdir()
    with exclusive_lock(again, ".registry.lock"):  # a flip or rollback in progress
        with pytest.raises(InputError, match="is in use"):
            export_ensemble(corpus, verdict_path, again)
    assert not (again / "registry.json").exists()
    export_ensemble(corpus, verdict_path, again)
    first = (again / "registry.json").read_bytes()
    export_ensemble(corpus, verdict_path, again)  # re-export: the same rows replace themselves
    history = read_history(again / "registry.json")
    assert [h["action"] for h in history] == ["register", "register"]
    assert history[1]["registry_sha256_before"] == hashlib.sha256(first).hexdigest()
    assert [p["id"] for p in history[1]["previous"]] == [f"{ID}_seed{s}" for s in (0, 1, 2)]
    assert all(p["smoke"] is True for p in history[1]["previous"])


def test_onnx_graph_contract(exported):
    models, _, _ = exported
    proto = onnx.load(str(models / f"{ID}_seed0.onnx"))
    onnx.checker.check_model(proto, full_check=True)
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", 17)]

    def dims(value_info):
        return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]

    assert [(i.name, dims(i)) for i in proto.graph.input] == [("features", ["N", 6]), ("codec_onehot", ["N", 14])]
    assert [(o.name, dims(o)) for o in proto.graph.output] == [("score", ["N"])]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["vmafkit.input_schema_hash"] == input_schema_hash()
    assert meta["vmafkit.standardisation_inside_graph"] == "true"


def test_sidecar(exported):
    models, verdict_path, corpus = exported
    sidecar = json.loads((models / f"{ID}_seed1.json").read_text())
    verdict = json.loads(verdict_path.read_text())
    assert schema_errors(sidecar, "sidecar") == []
    assert sidecar["feature_order"] == ["adm2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3", "motion2"]
    assert sidecar["standardisation"]["inside_graph"] is True
    c = load_corpus(corpus)
    spec = FeatureSpec.fit(c.features, c.cq)  # fitted on the FULL corpus
    assert sidecar["standardisation"]["mean"] == list(spec.mean)
    assert sidecar["cq_range"] == [20.0, 40.0]
    assert sidecar["corpus"] == verdict["corpus"] and sidecar["gate"] == verdict["gate"]
    # the seed's LOSO PLCC: the mean over folds of scipy's PLCC of its held-out predictions
    held_out = [
        json.loads(line) for line in (verdict_path.parent / "loso_seed1.predictions.jsonl").read_text().splitlines()
    ]
    plccs = [
        pearsonr([r["pred"] for r in held_out if r["fold"] == f], [r["vmaf"] for r in held_out if r["fold"] == f])[0]
        for f in sorted({r["fold"] for r in held_out})
    ]
    assert sidecar["loso_plcc"] == pytest.approx(float(np.mean(plccs)), abs=1e-9) and sidecar["seed"] == 1
    assert sidecar["onnx_sha256"] == sha256_file(models / f"{ID}_seed1.onnx")
    assert sidecar["recipe"]["epochs"] == 100 and sidecar["parity"]["max_abs_diff"] <= T.EXPORT_PARITY_TOL
    assert sidecar["parity"]["rows"] == len(c)
    cal = json.loads((models / f"{ID}_calibration.json").read_text())
    assert schema_errors(cal, "calibration") == []
    assert cal["summary"] == verdict["calibration"]


def test_onnx_matches_full_corpus_torch_refit(exported):
    """The exported bytes are the full-corpus refit (same seed, same recipe): ORT on RAW features
    equals the torch model on standardised features."""
    models, _, corpus = exported
    c = load_corpus(corpus)
    spec = FeatureSpec.fit(c.features, c.cq)
    codec = spec.codec_block(c.encoder, c.preset, c.cq)
    x = np.concatenate([spec.standardise(c.features), codec], axis=1).astype(np.float32)
    recipe = Recipe(epochs=100, lr=2e-2)  # the verdict's recipe: robust, labels masked from the full corpus's stream
    masked = fold_inputs(x, recipe, FULL_CORPUS_SALT)
    (model,) = fit_members([MemberData(x=masked, y=c.vmaf.astype(np.float32), seed=2)], recipe)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    session = ort_session(models / f"{ID}_seed2.onnx")
    got = session.run(["score"], {"features": c.features.astype(np.float32), "codec_onehot": codec.astype(np.float32)})[
        0
    ]
    assert got.shape == (len(c),)
    assert np.max(np.abs(got - expected)) <= T.EXPORT_PARITY_TOL


def test_export_is_byte_deterministic(exported, tmp_path):
    models, verdict_path, corpus = exported
    again = tmp_path / "again"
    export_ensemble(corpus, verdict_path, again)
    for s in (0, 1, 2):
        assert (again / f"{ID}_seed{s}.onnx").read_bytes() == (models / f"{ID}_seed{s}.onnx").read_bytes()


def _numpy_forward(module, spec, feats, codec):
    """The member by hand: standardise, concat, Linear-GELU(erf)-Linear-GELU-Linear (scipy's erf)."""
    from scipy.special import erf

    w = [
        (layer.weight.detach().numpy().astype(np.float64), layer.bias.detach().numpy().astype(np.float64))
        for layer in (module.net[0], module.net[3], module.net[6])
    ]
    gelu = lambda z: 0.5 * z * (1.0 + erf(z / np.sqrt(2.0)))  # noqa: E731
    x = np.concatenate([(feats - np.array(spec.mean)) / np.array(spec.std), codec], axis=1)
    h = gelu(x @ w[0][0].T + w[0][1])
    h = gelu(h @ w[1][0].T + w[1][1])
    return (h @ w[2][0].T + w[2][1])[:, 0]


def test_onnx_graph_equals_a_hand_written_forward_pass():
    """The exported graph (standardisation inside) against numpy + scipy, not against itself; a
    change of one bias moves the output by exactly that bias through the last layer's path."""
    from vmafkit.train.model import FRRegressor

    spec = FeatureSpec((0.5, 0.4, 0.6, 0.7, 0.8, 3.0), (0.1, 0.2, 0.1, 0.1, 0.1, 2.0), 10.0, 40.0)
    torch.manual_seed(0)
    member = FRRegressor().eval()
    rng = np.random.default_rng(3)
    feats = rng.random((64, 6))
    codec = np.zeros((64, 14))
    codec[:, 0] = 1.0
    codec[:, 12:] = rng.random((64, 2))

    def run(blob):
        inputs = {"features": feats.astype(np.float32), "codec_onehot": codec.astype(np.float32)}
        return ort_session(blob).run(["score"], inputs)[0]

    np.testing.assert_allclose(run(onnx_bytes(member, spec)), _numpy_forward(member, spec, feats, codec), atol=1e-4)
    with torch.no_grad():
        member.net[6].bias[0] += 1.0
    np.testing.assert_allclose(run(onnx_bytes(member, spec)), _numpy_forward(member, spec, feats, codec), atol=1e-4)


def test_refuses_hold(tmp_path):
    loso, corpus = make_loso_dir(tmp_path, {0: 0.96, 1: 0.90})
    _, hold = write_verdict(loso, [0, 1])
    out = tmp_path / "models"
    result = cli(["export", "--corpus", corpus, "--verdict", hold, "--out", out])
    assert result.exit_code == 3 and "not PROMOTE" in result.stderr
    assert not out.exists() or not any(out.iterdir())


def test_refuses_other_corpus(tmp_path):
    loso, corpus = trained_loso(tmp_path, (0, 1))
    _, promote = write_verdict(loso, [0, 1])
    other = make_corpus(tmp_path / "other.jsonl", seed=5)
    out = tmp_path / "models"
    result = cli(["export", "--corpus", other, "--verdict", promote, "--out", out])
    assert result.exit_code == 3 and "fingerprint" in result.stderr
    assert not out.exists() or not any(out.iterdir())


def test_refuses_changed_predictions(tmp_path):
    (tmp_path / "b").mkdir()
    loso2, corpus2 = make_loso_dir(tmp_path / "b", {0: 0.96, 1: 0.96})
    _, promote2 = write_verdict(loso2, [0, 1])
    pred = loso2 / "loso_seed1.predictions.jsonl"
    lines = pred.read_text().splitlines()
    row = json.loads(lines[0])
    row["pred"] += 0.5  # the held-out predictions changed after the verdict was written
    pred.write_text("\n".join([json.dumps(row)] + lines[1:]) + "\n")
    with pytest.raises(RefusedError, match=r"loso_seed1.predictions.jsonl changed since the verdict was written"):
        export_ensemble(corpus2, promote2, tmp_path / "m2")


def test_malformed_verdict_exit_2(tmp_path):
    corpus = make_corpus(tmp_path / "c.jsonl")
    bad = tmp_path / "PROMOTE.json"
    bad.write_text('{"verdict": "PROMOTE"}')
    result = cli(["export", "--corpus", corpus, "--verdict", bad, "--out", tmp_path / "m"])
    assert result.exit_code == 2 and "malformed verdict" in result.stderr


def test_parity_failure_writes_nothing(tmp_path, monkeypatch):
    loso, corpus = trained_loso(tmp_path, (0, 1))
    _, promote = write_verdict(loso, [0, 1])
    monkeypatch.setattr(T, "EXPORT_PARITY_TOL", -1.0)
    out = tmp_path / "models"
    with pytest.raises(RefusedError, match="onnxruntime differs from torch"):
        export_ensemble(corpus, promote, out)
    assert not any(out.iterdir())


def test_forged_or_stale_verdict_is_refused(tmp_path):
    """Attacks: HOLD.json with only "verdict" edited to PROMOTE; a PROMOTE whose gate numbers were
    edited; a PROMOTE whose seed report changed after it was written. Each: exit 3, nothing written."""
    import hashlib

    loso, corpus = make_loso_dir(tmp_path, {0: 0.96, 1: 0.90})
    _, hold = write_verdict(loso, [0, 1])
    forged = loso / "PROMOTE.json"
    data = json.loads(hold.read_text())
    data["verdict"] = "PROMOTE"
    forged.write_text(json.dumps(data))
    out = tmp_path / "models"
    result = cli(["export", "--corpus", corpus, "--verdict", forged, "--out", out])
    assert result.exit_code == 3 and "verdict does not match what its pinned files give" in result.stderr
    assert not out.exists() or not any(out.iterdir())

    (tmp_path / "b").mkdir()
    loso2, corpus2 = make_loso_dir(tmp_path / "b", {0: 0.96, 1: 0.961})
    _, promote = write_verdict(loso2, [0, 1])
    original = promote.read_text()
    data = json.loads(original)
    data["gate"]["mean_plcc"] = 0.999
    promote.write_text(json.dumps(data))
    result = cli(["export", "--corpus", corpus2, "--verdict", promote, "--out", out])
    assert result.exit_code == 3 and "gate does not match" in result.stderr
    promote.write_text(original)
    report = loso2 / "loso_seed1.json"
    report.write_text(report.read_text().replace('"wall_time_s": 1.0', '"wall_time_s": 2.0'))
    pinned = hashlib.sha256(report.read_bytes()).hexdigest()
    assert pinned not in original
    result = cli(["export", "--corpus", corpus2, "--verdict", promote, "--out", out])
    assert result.exit_code == 3 and "loso_seed1.json changed since the verdict was written" in result.stderr
    assert not out.exists() or not any(out.iterdir())
