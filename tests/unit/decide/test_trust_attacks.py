"""The attacks of "no confident wrong prediction, no forged or stale evidence", replayed.

Each test is one attack a user (or a hostile input) can make against predict, the registry or
the verdict, and the refusal it must get: exit 2 (bad input) or 3 (refused), one line naming the
file or value, nothing changed. The models are tiny real exports (factories.export_models):
libx264 and libx265 / medium / cq 20-40 only.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from ...factories import cli, export_models, make_loso_dir, read_rows

ID = "fr_regressor_v2_ensemble_v1"
C6 = ("adm2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3", "motion2")
SEED_RECIPE = {
    "epochs": 100,
    "batch_size": 32,
    "lr": 2e-2,
    "weight_decay": 1e-5,
    "hidden": 64,
    "dropout": 0.1,
    "label_mask_rate": 0.0,
}


def _features(tmp_path, corpus, n=8, **override):
    rows = read_rows(corpus)[:n]
    path = tmp_path / "feats.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {
                    **{k: r[k] for k in C6},
                    "frame_index": r["frame_index"],
                    "vmaf": r["vmaf"],
                    "src": r["src"],
                    **override,
                }
            )
            + "\n"
            for r in rows
        )
    )
    return path


def _predict(m, path, *args):
    return cli(["predict", "--models", m, "--features", path, *args])


def _one_line_error(result, code=2):
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vmafkit: error: ") and "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize("encoder", ["libaom-av1", "libsvtav1", "libvpx-vp9"])
def test_untrained_encoder_is_refused(models, tmp_path, encoder):
    m, _, corpus = models
    line = _one_line_error(_predict(m, _features(tmp_path, corpus), "--encoder", encoder))
    assert f"encoder {encoder} was not trained (trained: libx264, libx265)" in line
    assert "feats.jsonl:1: outside the training domain" in line


@pytest.mark.parametrize("where", ["flag", "row"])
@pytest.mark.parametrize("typo", ["libx246", "LIBX264"])
def test_unknown_encoder_name_gets_did_you_mean(models, tmp_path, typo, where):
    m, _, corpus = models
    if where == "flag":
        result = _predict(m, _features(tmp_path, corpus), "--encoder", typo)
    else:
        result = _predict(m, _features(tmp_path, corpus, encoder=typo))
    line = _one_line_error(result)
    assert f"encoder '{typo}' is not an encoder vmafkit knows; did you mean " in line and "libx264" in line


def test_untrained_preset_and_cq_are_refused(models, tmp_path):
    m, _, corpus = models
    path = _features(tmp_path, corpus)
    line = _one_line_error(_predict(m, path, "--encoder", "libx264", "--preset", "veryfast"))
    assert "preset veryfast was not trained for libx264 (trained: medium)" in line
    line = _one_line_error(_predict(m, path, "--encoder", "libx264", "--cq", "51"))
    assert "cq 51 is outside the trained range 20-40" in line


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("cq", "NaN", "not valid JSON"),
        ("cq", "Infinity", "not valid JSON"),
        ("cq", "1e300", "cq 1e+300 is out of range (allowed: 0 to 255)"),
        ("adm2", "1e30", "adm2 1e+30 is not a value libvmaf writes (allowed: 0 to 100)"),
        ("cq", "1e999", "cq must be a finite number, got inf"),
        ("adm2", '"0.9"', "adm2 must be a finite number"),
    ],
)
def test_non_finite_or_absurd_numbers_are_refused(models, tmp_path, field, value, message):
    m, _, corpus = models
    row = {**{k: read_rows(corpus)[0][k] for k in C6}, "cq": 30}
    text = json.dumps(row).replace(f'"{field}": {json.dumps(row[field])}', f'"{field}": {value}')
    path = tmp_path / "bad.jsonl"
    path.write_text(text + "\n")
    line = _one_line_error(_predict(m, path, "--encoder", "libx264"))
    assert message in line and str(path) in line


def test_allow_out_of_domain_marks_rows_and_gives_no_interval(models, tmp_path):
    m, _, corpus = models
    rows = read_rows(corpus)[:4]
    lines = [{**{k: r[k] for k in C6}, "cq": r["cq"], "encoder": "libx264", "preset": "medium"} for r in rows]
    lines[1]["adm2"] = 50.0  # a ratio libvmaf can write (enhancement gain), far outside the trained range
    lines[2]["encoder"] = "libsvtav1"  # untrained
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    result = _predict(m, path, "--allow-out-of-domain", "--json", "-")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    inside = [f["in_domain"] for f in out["frames"]]
    assert inside == [True, False, False, True]
    assert "adm2 50" in out["frames"][1]["out_of_domain"] and "libsvtav1" in out["frames"][2]["out_of_domain"]
    for frame in out["frames"]:
        assert 0.0 <= frame["score"] <= 100.0
        if frame["in_domain"]:
            assert 0.0 <= frame["lower"] <= frame["score"] <= frame["upper"] <= 100.0
        else:
            assert frame["lower"] is None and frame["upper"] is None
    assert out["domain"]["n_outside"] == 2 and "2 of 4 rows are outside" in result.stderr
    flagged = [c for c in out["clips"] if not c["in_domain"]]
    assert flagged and all(c["lower"] is None for c in flagged)


@pytest.mark.fake
def test_scores_and_bounds_are_clipped_to_the_vmaf_scale(models, tmp_path, monkeypatch):
    """FAKE model output: the ensemble's raw scores are replaced by -7, 50, 103 (the synthetic
    corpus never reaches the edges); what is served must lie in [0, 100], bounds too."""
    from vmafkit.serve.predict import LoadedEnsemble, predict_features

    m, verdict, corpus = models
    rows = [{**{k: r[k] for k in C6}, "cq": r["cq"]} for r in read_rows(corpus)[:3]]
    monkeypatch.setattr(LoadedEnsemble, "scores", lambda self, f, c: np.array([-7.0, 50.0, 103.0]))
    out = predict_features(m, rows, encoder="libx264", preset="medium")
    h = out["interval"]["frame_half_width"]
    assert [f["score"] for f in out["frames"]] == [0.0, 50.0, 100.0]
    assert [(f["lower"], f["upper"]) for f in out["frames"]] == [(0.0, h), (50.0 - h, 50.0 + h), (100.0 - h, 100.0)]


def test_seed_recipe_ensemble_needs_every_label(tmp_path):
    """An ensemble of the seed's exact recipe never saw the 'unknown' slot: no --encoder is out of
    its domain (the -28 VMAF trap), while the robust default answers without one."""
    from vmafkit.decide.verdict import write_verdict
    from vmafkit.serve.export import export_ensemble
    from vmafkit.train.loso import train_loso
    from vmafkit.train.recipe import Recipe

    from ...factories import LEARNABLE_SHAPE, make_corpus

    corpus = make_corpus(tmp_path / "per_frame_canonical6.jsonl", **LEARNABLE_SHAPE)
    loso = tmp_path / "loso"
    train_loso(corpus, [0, 1], loso, Recipe(**SEED_RECIPE), device="cpu", progress=False)
    verdict, promote = write_verdict(loso, [0, 1])
    assert verdict["verdict"] == "PROMOTE", verdict["failing_aspects"]
    export_ensemble(corpus, promote, tmp_path / "models")
    path = _features(tmp_path, corpus, cq=30)
    line = _one_line_error(_predict(tmp_path / "models", path))
    assert "no encoder/preset given and this ensemble was trained with every label (seed recipe)" in line
    ok = _predict(tmp_path / "models", path, "--encoder", "libx264", "--preset", "medium")
    assert ok.exit_code == 0, ok.output


@pytest.mark.parametrize("also_gate", [False, True])
def test_forged_hold_is_refused_by_flip(models, tmp_path, also_gate):
    """HOLD.json (seed 1 at PLCC 0.90) with only "verdict" edited to PROMOTE, or with the gate's
    verdict-deciding fields edited too: flip exits 3, the registry and its history are untouched."""
    m, _, corpus = models
    (tmp_path / "run2").mkdir()
    loso, _ = make_loso_dir(tmp_path / "run2", {0: 0.96, 1: 0.90}, corpus=corpus)
    from vmafkit.decide.verdict import write_verdict

    verdict, hold = write_verdict(loso, [0, 1])
    assert verdict["verdict"] == "HOLD"
    verdict["verdict"] = "PROMOTE"
    if also_gate:
        verdict["gate"].update(passed=True, per_seed_pass=True, failing_seeds=[])
    forged = loso / "PROMOTE.json"
    forged.write_text(json.dumps(verdict))
    before, history = (m / "registry.json").read_bytes(), (m / "registry_history.jsonl").read_bytes()
    line = _one_line_error(cli(["registry", "flip", "--registry", m / "registry.json", "--verdict", forged]), 3)
    assert "does not match what its pinned files give" in line
    assert (m / "registry.json").read_bytes() == before and (m / "registry_history.jsonl").read_bytes() == history


def test_stale_verdict_after_retrain_is_refused(tmp_path):
    """The seed reports and predictions are replaced (a retrain into the same folder); a kept
    copy of the old PROMOTE.json can no longer flip or export: exit 3, nothing changes."""
    m, verdict_path, corpus = export_models(tmp_path, seeds=(0, 1))
    kept = verdict_path.read_bytes()
    make_loso_dir(tmp_path, {0: 0.5, 1: 0.5}, corpus=corpus)  # the new training run's evidence (PLCC 0.5)
    verdict_path.write_bytes(kept)
    before = (m / "registry.json").read_bytes()
    line = _one_line_error(cli(["registry", "flip", "--registry", m / "registry.json", "--verdict", verdict_path]), 3)
    assert "changed since the verdict was written" in line
    assert (m / "registry.json").read_bytes() == before
    result = cli(["export", "--corpus", corpus, "--verdict", verdict_path, "--out", tmp_path / "again"])
    assert _one_line_error(result, 3) and not (tmp_path / "again").exists()


@pytest.mark.parametrize(
    "edit, problem",
    [
        ("zero_residuals", "calibration file fr_regressor_v2_ensemble_v1_calibration.json was changed"),
        ("sidecar_cq_min", "sidecar fr_regressor_v2_ensemble_v1_seed0.json was changed"),
        ("sidecar_domain", "sidecar fr_regressor_v2_ensemble_v1_seed1.json was changed"),
    ],
)
def test_edited_calibration_or_sidecar_is_caught(models, tmp_path, edit, problem):
    m, _, corpus = models
    if edit == "zero_residuals":
        path = m / f"{ID}_calibration.json"
        data = json.loads(path.read_text())
        for part in ("ensemble", "single_member"):
            for level in ("frame", "clip"):
                sources = data[part][level]["sources"]
                data[part][level]["sources"] = {k: [0.0] * len(v) for k, v in sources.items()}
    else:
        path = m / f"{ID}_seed{0 if edit == 'sidecar_cq_min' else 1}.json"
        data = json.loads(path.read_text())
        if edit == "sidecar_cq_min":
            data["feature_spec"]["cq_min"] = 0.0
        else:
            data["domain"]["encoders"]["libx265"] = {"presets": ["medium"], "cq": [0, 51]}
    path.write_text(json.dumps(data))
    result = cli(["registry", "validate", "--registry", m / "registry.json"])
    assert result.exit_code == 2 and problem in result.stderr
    line = _one_line_error(_predict(m, _features(tmp_path, corpus), "--encoder", "libx264"))
    assert problem in line


@pytest.mark.parametrize("target", ["/etc/passwd", "../outside.onnx", "sub/../../outside.onnx"])
def test_registry_paths_must_stay_in_the_models_folder(models, target):
    m, _, _ = models
    data = json.loads((m / "registry.json").read_text())
    data["models"][0]["onnx"] = target
    (m / "registry.json").write_text(json.dumps(data))
    result = cli(["registry", "validate", "--registry", m / "registry.json"])
    assert result.exit_code == 2 and "onnx" in result.stderr


def test_symlink_out_of_the_models_folder_is_refused(models, tmp_path):
    m, _, _ = models
    outside = tmp_path / "elsewhere.onnx"
    shutil.copy(m / f"{ID}_seed0.onnx", outside)
    (m / f"{ID}_seed0.onnx").unlink()
    (m / f"{ID}_seed0.onnx").symlink_to(outside)
    result = cli(["registry", "validate", "--registry", m / "registry.json"])
    assert result.exit_code == 2 and "lies outside the models folder" in result.stderr


def test_predict_refuses_nothing_inside_the_domain(models, tmp_path):
    """The control: the corpus's own rows with their true labels are served with an interval."""
    m, _, corpus = models
    path = _features(tmp_path, corpus, n=20, encoder="libx264", preset="medium", cq=30)
    out = json.loads(_predict(m, path, "--json", "-").stdout)
    assert all(f["in_domain"] and f["lower"] is not None for f in out["frames"])
    assert np.isfinite([f["score"] for f in out["frames"]]).all()
