"""PROMOTE/HOLD files: exactly one written, SPEC keys, corpus fingerprint, exit codes."""

from __future__ import annotations

import hashlib
import json

import pytest

from vmafkit.errors import InputError
from vmafkit.io import sha256_file
from vmafkit.validation import schema_errors
from vmafkit.verdict import corpus_fingerprint, ref_dir_snapshot, same_corpus, write_verdict

from .decide_helpers import cli, make_corpus, make_loso_dir, write_seed_report

SPEC_KEYS = {"schema_version", "verdict", "generated_at_utc", "loso_dir", "seeds", "gate", "corpus", "recommendation",
             "run_provenance"}
PASSING = {0: 0.96, 1: 0.961, 2: 0.962}


def test_promote_written_and_hold_removed(tmp_path):
    loso, corpus = make_loso_dir(tmp_path, PASSING)
    (loso / "HOLD.json").write_text("{}")
    result = cli(["verdict", loso, "--seeds", "0,1,2"])
    assert result.exit_code == 0, result.output
    assert (loso / "PROMOTE.json").is_file() and not (loso / "HOLD.json").exists()
    verdict = json.loads((loso / "PROMOTE.json").read_text())
    assert SPEC_KEYS <= set(verdict)
    assert schema_errors(verdict, "verdict") == []
    assert verdict["verdict"] == "PROMOTE" and verdict["seeds"] == [0, 1, 2]
    assert verdict["gate"]["passed"] is True
    assert verdict["corpus"]["sha256"] == sha256_file(corpus)
    prov = verdict["run_provenance"]
    assert prov["schema"] == "ai-run-provenance-v1" and prov["entrypoint"] == "vmafkit verdict"
    assert {"path", "exists", "kind", "sha256"} <= set(prov["inputs"][0])
    assert any(i["path"].endswith("loso_seed0.json") and i["sha256"] for i in prov["inputs"])
    assert prov["outputs"][0]["path"].endswith("PROMOTE.json")
    assert verdict["recipe"]["epochs"] == 2
    assert "registry flip" in verdict["recommendation"]


def test_hold_names_every_failing_aspect_and_seed(tmp_path):
    loso, _ = make_loso_dir(tmp_path, {0: 0.96, 1: 0.93, 2: 0.97})
    (loso / "PROMOTE.json").write_text("{}")
    result = cli(["verdict", loso, "--seeds", "0,1,2"])
    assert result.exit_code == 1
    assert (loso / "HOLD.json").is_file() and not (loso / "PROMOTE.json").exists()
    verdict = json.loads((loso / "HOLD.json").read_text())
    rec = verdict["recommendation"]
    assert verdict["verdict"] == "HOLD" and rec.startswith("keep smoke=true")
    assert "plcc_spread 0.0400 > 0.0050" in rec and "seed 1 lowest" in rec and "seed 2 highest" in rec
    assert "seed 1 plcc 0.9300 < 0.9500" in rec
    assert verdict["gate"]["mean_plcc_pass"] and "mean_plcc" not in rec.split("Failing aspects:")[1]
    assert verdict["failing_aspects"] == rec.split("Failing aspects: ")[1].split("; ")
    assert verdict["gate"]["failing_seeds"] == [1]


def test_missing_seed_report_exit_2_and_no_verdict_touched(tmp_path):
    loso, _ = make_loso_dir(tmp_path, {0: 0.96, 1: 0.96})
    (loso / "HOLD.json").write_text('{"old": true}')
    result = cli(["verdict", loso, "--seeds", "0,1,2"])
    assert result.exit_code == 2 and "loso_seed2.json" in result.stderr
    assert (loso / "HOLD.json").read_text() == '{"old": true}'
    assert not (loso / "PROMOTE.json").exists()


def test_malformed_seed_report_exit_2_no_file(tmp_path):
    loso, _ = make_loso_dir(tmp_path, PASSING)
    (loso / "loso_seed1.json").write_text('{"seed": 1}')
    result = cli(["verdict", loso, "--seeds", "0,1,2"])
    assert result.exit_code == 2 and "malformed seed report" in result.stderr
    assert not (loso / "PROMOTE.json").exists() and not (loso / "HOLD.json").exists()


def test_seeds_must_agree_on_corpus(tmp_path):
    loso, corpus = make_loso_dir(tmp_path, PASSING)
    other = make_corpus(tmp_path / "other.jsonl", sources=("x", "y"))
    write_seed_report(loso, 2, other, 0.962)
    result = cli(["verdict", loso, "--seeds", "0,1,2"])
    assert result.exit_code == 2 and "different corpora" in result.stderr
    assert not (loso / "PROMOTE.json").exists() and not (loso / "HOLD.json").exists()


def test_missing_corpus_exit_2(tmp_path):
    loso, corpus = make_loso_dir(tmp_path, PASSING)
    corpus.unlink()
    assert cli(["verdict", loso, "--seeds", "0,1,2"]).exit_code == 2


def test_corpus_fingerprint(tmp_path):
    corpus = make_corpus(tmp_path / "c.jsonl", sources=("a", "b"), cqs=(20, 30), frames=3)
    fp = corpus_fingerprint(corpus)
    assert fp["sha256"] == hashlib.sha256(corpus.read_bytes()).hexdigest()
    assert fp["rows"] == 12 and fp["n_sources"] == 2
    assert fp["sources"] == [{"src": "a", "src_sha256": hashlib.sha256(b"a").hexdigest(), "rows": 6},
                             {"src": "b", "src_sha256": hashlib.sha256(b"b").hexdigest(), "rows": 6}]
    assert fp["ref_dir"] is None
    other = make_corpus(tmp_path / "d.jsonl", sources=("a", "b"), cqs=(20, 30), frames=3, seed=1)
    assert not same_corpus(fp, corpus_fingerprint(other))
    assert same_corpus(fp, corpus_fingerprint(corpus))


def test_ref_dir_snapshot_is_relpath_size_lines(tmp_path):
    ref = tmp_path / "refs"
    (ref / "sub").mkdir(parents=True)
    (ref / "b.yuv").write_bytes(b"12345")
    (ref / "sub" / "a.y4m").write_bytes(b"xy")
    snap = ref_dir_snapshot(ref)
    expected = hashlib.sha256(b"b.yuv\t5\nsub/a.y4m\t2\n").hexdigest()
    assert snap == {"path": str(ref), "sha256": expected, "count": 2}
    (ref / "b.yuv").write_bytes(b"123456")
    assert ref_dir_snapshot(ref)["sha256"] != expected
    with pytest.raises(InputError):
        ref_dir_snapshot(tmp_path / "nope")


def test_verdict_with_ref_dir(tmp_path):
    loso, _ = make_loso_dir(tmp_path, PASSING)
    ref = tmp_path / "refs"
    ref.mkdir()
    (ref / "x.yuv").write_bytes(b"abc")
    verdict, path = write_verdict(loso, [0, 1, 2], ref_dir=ref)
    assert verdict["corpus"]["ref_dir"]["count"] == 1
    assert any(i["kind"] == "dir" for i in verdict["run_provenance"]["inputs"])
    assert cli(["verdict", loso, "--seeds", "0,1,2", "--ref-dir", tmp_path / "missing"]).exit_code == 2


def test_verdict_carries_calibration_and_fold_coverage(tmp_path):
    loso, _ = make_loso_dir(tmp_path, PASSING)
    verdict, _ = write_verdict(loso, [0, 1, 2])
    cal = verdict["calibration"]
    assert cal["coverage"] == 0.95 and cal["frame"]["n"] == 72
    assert [f["fold"] for f in cal["per_fold"]] == ["srcA", "srcB", "srcC"]
    assert all(0.0 <= f["frame_coverage"] <= 1.0 for f in cal["per_fold"])
    assert len(cal["prediction_files"]) == 3


def test_verdict_without_prediction_files_has_null_calibration(tmp_path):
    loso, _ = make_loso_dir(tmp_path, PASSING, predictions=False)
    verdict, _ = write_verdict(loso, [0, 1, 2])
    assert verdict["calibration"] is None and "export will refuse" in verdict["recommendation"]


def test_trainer_corpus_object_and_changed_bytes(tmp_path):
    """vmafkit's trainer writes corpus as {path, sha256, ...}: read it, and refuse a corpus whose
    bytes changed since training (exit 2, no verdict)."""
    loso, corpus = make_loso_dir(tmp_path, PASSING)
    for seed, plcc in PASSING.items():
        write_seed_report(loso, seed, corpus, plcc,
                          extra={"corpus": {"path": str(corpus), "sha256": sha256_file(corpus), "rows": 72}})
    verdict, path = write_verdict(loso, [0, 1, 2])
    assert verdict["verdict"] == "PROMOTE" and verdict["corpus"]["sha256"] == sha256_file(corpus)
    path.unlink()
    corpus.write_text(corpus.read_text().replace('"cq": 20', '"cq": 21', 1))
    result = cli(["verdict", loso, "--seeds", "0,1,2"])
    assert result.exit_code == 2 and "changed since training" in result.stderr
    assert not (loso / "PROMOTE.json").exists() and not (loso / "HOLD.json").exists()


def test_null_mean_plcc_is_input_error(tmp_path):
    loso, corpus = make_loso_dir(tmp_path, PASSING)
    write_seed_report(loso, 1, corpus, 0.96, extra={"mean_plcc": None})
    with pytest.raises(InputError, match="mean_plcc is null"):
        write_verdict(loso, [0, 1, 2])
