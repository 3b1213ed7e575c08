"""`vmafkit run --device D` reaches the export step, whose fingerprint already holds D.

The export itself is replaced by a recorder (the seam is the call into `export_ensemble`; the real
export is tested in test_export*.py): what matters here is the argument the pipeline passes."""

from __future__ import annotations

import json

import pytest

from vmafkit import layout, pipeline
from vmafkit.serve import export


@pytest.mark.parametrize("device", ["auto", "cuda"])  # neither is export_ensemble's own default ("cpu")
def test_the_export_step_gets_the_run_device(tmp_path, monkeypatch, device):
    received: dict = {}

    def recording_export(corpus, verdict, out_dir, **kwargs):
        received.update(kwargs)
        (out_dir / "registry.json").write_text("{}")

    monkeypatch.setattr(export, "export_ensemble", recording_export)
    out = tmp_path / "run"
    out.mkdir()
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("{}\n")
    verdict = tmp_path / "PROMOTE.json"
    verdict.write_text("{}")
    ledger = pipeline.StepLedger(out, {"ref_dir": "refs"})
    opts = pipeline.RunOptions(ref_dir=None, out_dir=out, device=device, progress=False)

    status = pipeline._export_step(ledger, opts, corpus, verdict, out / "models", "PROMOTE", log=lambda _: None)

    assert status == "ran"
    assert received["device"] == device
    # A re-run with another device is not "up to date": the fingerprint holds the device too.
    other = pipeline.RunOptions(ref_dir=None, out_dir=out, device="cpu", progress=False)
    assert pipeline._export_step(ledger, other, corpus, verdict, out / "models", "PROMOTE", log=lambda _: None) == "ran"
    assert received["device"] == "cpu"
    assert json.loads((out / layout.STATE_FILE).read_text())["steps"]["export"]
