"""An ensemble trained on VMAF v1's features (issue 22, item 2) goes through LOSO, gate, verdict,
export, registry and predict exactly like a canonical-6 one, and takes nothing else.

The corpus is the learnable synthetic one with its canonical-6 replaced by v1's 14 columns
(`factories.as_v1_rows`); the oracle for what is served is each row's own vmaf, and for the
graph's layout onnxruntime's own view of the exported file."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest

from vmafkit import api
from vmafkit.corpus.schema import CANONICAL6, read_rows
from vmafkit.errors import InputError
from vmafkit.media.libvmaf import V1_FEATURES
from vmafkit.serve.predict import load_ensemble, predict_features
from vmafkit.serve.registry import registry_problems

from ...factories import export_models


@pytest.fixture(scope="module")
def v1_export(tmp_path_factory):
    """(models folder, verdict path, corpus) of a real v1 ensemble of two seeds."""
    return export_models(tmp_path_factory.mktemp("v1_export"), seeds=(0, 1), v1=True)


def test_the_exported_members_take_v1_s_14_features_and_the_codec_block(v1_export):
    models, verdict, _ = v1_export
    registry = json.loads((models / "registry.json").read_text())
    assert registry_problems(models / "registry.json") == []
    for row in registry["models"]:
        sidecar = json.loads((models / row["sidecar"]).read_text())
        assert sidecar["feature_order"] == list(V1_FEATURES)
        assert sidecar["inputs"]["features"] == ["N", 14]
        assert sidecar["domain"]["feature_set"] == "vmaf-v1.0.16"
        assert set(sidecar["domain"]["features"]) == set(V1_FEATURES)
        inputs = {i.name: i.shape for i in ort.InferenceSession(str(models / row["onnx"])).get_inputs()}
        assert inputs["features"][1] == 14 and inputs["codec_onehot"][1] == 14
    assert json.loads(verdict.read_text())["verdict"] == "PROMOTE"


def test_a_v1_ensemble_serves_v1_rows_and_refuses_canonical_6_rows(v1_export):
    models, _, corpus = v1_export
    rows = read_rows(corpus)
    result = predict_features(models, rows, with_frames=True)
    served = np.array([f["score"] for f in result["frames"]])
    truth = np.array([r["vmaf"] for r in rows])
    assert float(np.sqrt(np.mean((served - truth) ** 2))) < 3.0  # the rows it was trained on, in VMAF points
    assert all(f["lower"] <= f["score"] <= f["upper"] for f in result["frames"])

    canonical = [{**{k: 0.9 for k in CANONICAL6}, "encoder": "libx264", "preset": "medium", "cq": 30}]
    with pytest.raises(InputError, match=r"missing integer_adm2: this ensemble takes the vmaf-v1.0.16 features"):
        predict_features(models, canonical)


def test_rows_of_another_scoring_recipe_or_model_are_outside_the_domain(v1_export):
    models, _, corpus = v1_export
    row = dict(read_rows(corpus)[0])
    with pytest.raises(InputError, match=r"scored with scoring recipe 0123456789abcdef, but this ensemble"):
        predict_features(models, [{**row, "scoring_recipe": "0123456789abcdef"}])
    with pytest.raises(InputError, match=r"features of libvmaf model vmaf_v1.0.16_5d0h"):
        predict_features(models, [{**row, "vmaf_model": "vmaf_v1.0.16_5d0h"}])


def test_flip_and_load_serve_the_v1_ensemble_like_any_other(v1_export, tmp_path):
    import shutil

    models_src, verdict, corpus = v1_export
    models = tmp_path / "models"
    shutil.copytree(models_src, models)
    change = api.registry_flip(models / "registry.json", verdict)
    assert (
        change.action == "flip"
        and len(change.ids) == 2
        and all(not row["smoke"] for row in json.loads((models / "registry.json").read_text())["models"])
    )
    ensemble = load_ensemble(models)
    assert ensemble.feature_order == list(V1_FEATURES)
    rows = read_rows(corpus)[:5]
    assert len(api.predict(models, features=rows)["frames"]) == 5


def test_a_registry_row_claiming_the_canonical_6_schema_for_v1_members_is_a_problem(v1_export, tmp_path):
    import shutil

    from vmafkit.train.features import input_schema_hash

    models = tmp_path / "models"
    shutil.copytree(v1_export[0], models)
    path = models / "registry.json"
    data = json.loads(path.read_text())
    assert data["models"][0]["input_schema_hash"] != input_schema_hash()  # v1's is its own
    data["models"][0]["input_schema_hash"] = input_schema_hash()  # the canonical-6's, a known one
    path.write_text(json.dumps(data))
    problems = registry_problems(path)
    assert any("differs from the registry's" in p for p in problems), problems


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"feature_set": "vmaf-v0.6.1"}, r"feature_set 'vmaf-v0.6.1' is not this ensemble's \(vmaf-v1.0.16\)"),
        ({"vmaf": 105.0}, r"vmaf \(the teacher's score, echoed back\) must be a number from 0 to 100, got 105.0"),
        ({"vmaf": "x"}, r"vmaf .* must be a number from 0 to 100, got 'x'"),
        ({"integer_adm2": -0.1}, r"integer_adm2 -0.1 is not a value libvmaf writes \(allowed: 0 to 100\)"),
        ({"cambi_hrs": 1e300}, r"cambi_hrs 1e\+300 is not a value libvmaf writes"),
        ({"cq": 1e300}, r"cq 1e\+300 is out of range \(allowed: 0 to 255\)"),
    ],
)
def test_what_no_libvmaf_run_writes_is_refused_even_out_of_domain(v1_export, over, message):
    """Found by attacking predict: --allow-out-of-domain serves values outside the trained range,
    never values no libvmaf run can write (they were scored 0.0, or warned of overflow)."""
    models, _, corpus = v1_export
    row = {**read_rows(corpus)[0], **over}
    with pytest.raises(InputError, match=message):
        predict_features(models, [row], allow_out_of_domain=True)
