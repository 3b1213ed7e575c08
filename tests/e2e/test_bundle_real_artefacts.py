"""Bundle the files the real verdict and export stages write (not hand-made JSON): nothing fresh
is mistaken for stale, and after a re-run turns PROMOTE into HOLD the old export is left out."""

from __future__ import annotations

import json

import pytest

from vmafkit.bundle import make_bundle, select_files, verify_bundle
from vmafkit.host.platform import PlatformInfo

from ..factories import export_models, write_predictions, write_seed_report

PLATFORM = PlatformInfo("linux-x86_64-cpu", ("libx264",), {"faked": True})


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    root = tmp_path_factory.mktemp("real")
    export_models(root, seeds=(0, 1))
    return root


def test_fresh_promote_and_export_are_all_bundled(run_dir, tmp_path):
    selection = select_files(run_dir)
    names = set(selection.files)
    assert selection.verdict_rel == "loso/PROMOTE.json"
    assert {"loso/loso_seed0.json", "loso/loso_seed1.json", "per_frame_canonical6.jsonl"} <= names
    onnx = {n for n in names if n.endswith(".onnx")}
    assert len(onnx) == 2 and all(n[: -len(".onnx")] + ".json" in names for n in onnx)
    assert "models/registry.json" in names
    assert not [e for e in selection.excluded if "stale" in e["reason"]], selection.excluded
    path = make_bundle(run_dir, tmp_path / "r.tar.gz", platform_info=PLATFORM)
    assert verify_bundle(path).ok


def test_after_a_hold_rerun_the_old_export_is_left_out(run_dir, tmp_path):
    from vmafkit.decide.verdict import write_verdict

    corpus = run_dir / "per_frame_canonical6.jsonl"
    for seed in (0, 1):
        write_predictions(run_dir / "loso", seed, corpus, plcc=0.80)
        write_seed_report(run_dir / "loso", seed, corpus, epochs=2)
    verdict, path = write_verdict(run_dir / "loso", [0, 1])
    assert verdict["verdict"] == "HOLD" and not (run_dir / "loso" / "PROMOTE.json").exists()
    tarball = make_bundle(run_dir, tmp_path / "r.tar.gz", platform_info=PLATFORM)
    report = verify_bundle(tarball)
    assert report.ok and report.verdict == "HOLD"
    import tarfile

    with tarfile.open(tarball, "r:gz") as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
    names = {f["path"] for f in manifest["files"]}
    assert not any(n.startswith("models/") for n in names)
    excluded = {e["path"]: e["reason"] for e in manifest["excluded"]}
    assert {
        "models/registry.json",
        "models/registry_history.jsonl",  # the export registered its rows: the history goes with the registry
        "models/fr_regressor_v2_ensemble_v1_calibration.json",
        "models/fr_regressor_v2_ensemble_v1_seed0.onnx",
        "models/fr_regressor_v2_ensemble_v1_seed0.json",
    } <= set(excluded)
    assert "HOLD" in excluded["models/fr_regressor_v2_ensemble_v1_seed0.onnx"]
