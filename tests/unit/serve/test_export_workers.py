"""Issue 12: `export` refits all members in one batched fit sharded like `train`'s (it used one
worker: 5 members on one core took longer than train's 45 on two), with the same ONNX bytes."""

from __future__ import annotations

import torch

import vmafkit.train.ensemble as ensemble
import vmafkit.train.loso as loso
from vmafkit.decide.verdict import write_verdict
from vmafkit.serve.export import export_ensemble

from ...factories import trained_loso


def _promote(tmp_path):
    """A real run whose full-corpus members were deleted (the verdict then pins none): export refits."""
    loso_dir, corpus = trained_loso(tmp_path, (0, 1, 2))
    for refit in loso_dir.glob("loso_seed*.refit.json"):
        refit.unlink()
    verdict, path = write_verdict(loso_dir, [0, 1, 2])
    assert verdict["verdict"] == "PROMOTE"
    return corpus, path


def test_export_refits_with_trains_workers_and_the_same_bytes(tmp_path, monkeypatch):
    corpus, verdict = _promote(tmp_path)
    calls = []
    real_fit = ensemble.fit_members

    def recording_fit(members, *args, **kwargs):
        calls.append((len(members), kwargs.get("workers", 1)))
        return real_fit(members, *args, **kwargs)

    monkeypatch.setattr(ensemble, "fit_members", recording_fit)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        expected = loso.default_workers(torch.device("cpu"))
        assert expected == 2
        export_ensemble(corpus, verdict, tmp_path / "sharded")
        monkeypatch.setattr(loso, "default_workers", lambda device: 1)
        export_ensemble(corpus, verdict, tmp_path / "one")
    finally:
        torch.set_num_threads(threads)
    refits = [call for call in calls if call[0] == 3]  # the 1-member fits are export's retrain check
    assert refits == [(3, expected), (3, 1)]  # one batched fit of all 3 seeds, sharded as train shards
    sharded = sorted((tmp_path / "sharded").glob("*.onnx"))
    assert len(sharded) == 3
    for path in sharded:
        assert path.read_bytes() == (tmp_path / "one" / path.name).read_bytes(), path.name
