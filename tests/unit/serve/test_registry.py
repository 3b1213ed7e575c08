"""registry.json: schema + semantic validation, flip (only with a matching PROMOTE), rollback + history."""

from __future__ import annotations

import json

import pytest

from vmafkit.decide.verdict import write_verdict
from vmafkit.errors import InputError
from vmafkit.serve.registry import flip, read_history, rollback, validate_registry

from ...factories import cli, make_corpus, make_loso_dir

ID = "fr_regressor_v2_ensemble_v1"


def _rows(models):
    return json.loads((models / "registry.json").read_text())["models"]


def test_valid_registry_cli(models):
    m, _, _ = models
    result = cli(["registry", "validate", "--registry", m / "registry.json"])
    assert result.exit_code == 0 and "valid" in result.stdout


@pytest.mark.parametrize(
    "mutate, problem",
    [
        (lambda d, m: (m / f"{ID}_seed0.onnx").write_bytes(b"tampered"), "sha256 of"),
        (lambda d, m: d["models"][0].update(input_schema_hash="0" * 64), "input_schema_hash"),
        (lambda d, m: d["models"][1].update(sidecar=None, smoke=False), "needs a sidecar"),
        (lambda d, m: d["models"][0].pop("sha256"), "'sha256' is a required property"),
        (lambda d, m: d["models"].append(dict(d["models"][0])), "duplicate id"),
        (lambda d, m: (m / f"{ID}_seed1.onnx").unlink(), "not found"),
        (lambda d, m: d.update(schema_version=2), "schema_version"),
    ],
)
def test_invalid_registry(models, mutate, problem):
    m, _, _ = models
    data = json.loads((m / "registry.json").read_text())
    mutate(data, m)
    (m / "registry.json").write_text(json.dumps(data))
    problems = validate_registry(m / "registry.json")
    assert any(problem in p for p in problems), problems
    result = cli(["registry", "validate", "--registry", m / "registry.json"])
    assert result.exit_code == 2 and problem in result.stderr


def test_flip_then_rollback_with_history(models):
    m, verdict_path, _ = models
    result = cli(["registry", "flip", "--registry", m / "registry.json", "--verdict", verdict_path])
    assert result.exit_code == 0, result.output
    rows = _rows(m)
    assert all(r["smoke"] is False for r in rows)
    assert all(r["promoted_by"]["corpus_sha256"] == rows[0]["corpus_sha256"] for r in rows)
    assert validate_registry(m / "registry.json") == []
    result = cli(["registry", "rollback", "--registry", m / "registry.json", "--reason", "bad corpus snapshot"])
    assert result.exit_code == 0, result.output
    assert all(r["smoke"] is True and r["promoted_by"] is None for r in _rows(m))
    history = read_history(m / "registry.json")
    assert [h["action"] for h in history] == ["register", "flip", "rollback"]  # register: the export
    last = history[-1]
    assert last["why"] == "bad corpus snapshot" and "@" in last["who"] and last["when"].endswith("Z")
    assert [p["smoke"] for p in last["previous"]] == [False, False]
    assert last["ids"] == [f"{ID}_seed0", f"{ID}_seed1"]
    # rolling back again changes nothing and writes nothing
    before = (m / "registry.json").read_bytes()
    assert rollback(m / "registry.json", "again")["action"] == "noop"
    assert (m / "registry.json").read_bytes() == before and len(read_history(m / "registry.json")) == 3


def test_flip_refuses_hold_byte_identical(models, tmp_path):
    m, _, corpus = models
    (tmp_path / "h").mkdir()
    loso, _ = make_loso_dir(tmp_path / "h", {0: 0.96, 1: 0.90}, corpus=corpus)
    _, hold = write_verdict(loso, [0, 1])
    before, history = (m / "registry.json").read_bytes(), read_history(m / "registry.json")
    result = cli(["registry", "flip", "--registry", m / "registry.json", "--verdict", hold])
    assert result.exit_code == 3 and "not PROMOTE" in result.stderr
    assert (m / "registry.json").read_bytes() == before and read_history(m / "registry.json") == history


def test_flip_refuses_other_corpus(models, tmp_path):
    m, _, _ = models
    (tmp_path / "o").mkdir()
    other = make_corpus(tmp_path / "o" / "c.jsonl", seed=9)
    loso, _ = make_loso_dir(tmp_path / "o", {0: 0.96, 1: 0.96}, corpus=other)
    _, promote = write_verdict(loso, [0, 1])
    before = (m / "registry.json").read_bytes()
    result = cli(["registry", "flip", "--registry", m / "registry.json", "--verdict", promote])
    assert result.exit_code == 3 and "another corpus" in result.stderr
    assert (m / "registry.json").read_bytes() == before


def test_flip_refuses_seed_mismatch(models, tmp_path):
    m, _, corpus = models
    (tmp_path / "s").mkdir()
    loso, _ = make_loso_dir(tmp_path / "s", {0: 0.96, 1: 0.96, 2: 0.96}, corpus=corpus)
    _, promote = write_verdict(loso, [0, 1, 2])
    before = (m / "registry.json").read_bytes()
    result = cli(["registry", "flip", "--registry", m / "registry.json", "--verdict", promote])
    assert result.exit_code == 3
    assert (m / "registry.json").read_bytes() == before


def test_flip_refuses_tampered_onnx(models):
    m, verdict_path, _ = models
    (m / f"{ID}_seed1.onnx").write_bytes(b"not the exported model")
    before = (m / "registry.json").read_bytes()
    result = cli(["registry", "flip", "--registry", m / "registry.json", "--verdict", verdict_path])
    assert result.exit_code == 2 and "sha256" in result.stderr
    assert (m / "registry.json").read_bytes() == before


def test_rollback_needs_reason(models):
    m, _, _ = models
    with pytest.raises(InputError):
        rollback(m / "registry.json", "  ")
    assert cli(["registry", "rollback", "--registry", m / "registry.json"]).exit_code == 2


def test_flip_subset_by_ids(models):
    m, verdict_path, _ = models
    # flipping one member alone is refused: the verdict gated both seeds together
    before = (m / "registry.json").read_bytes()
    result = cli(
        ["registry", "flip", "--registry", m / "registry.json", "--verdict", verdict_path, "--rows", f"{ID}_seed0"]
    )
    assert result.exit_code == 3 and (m / "registry.json").read_bytes() == before
    entry = flip(m / "registry.json", verdict_path, ensemble=ID)
    assert entry["ids"] == [f"{ID}_seed0", f"{ID}_seed1"]


def test_flip_refuses_sidecar_of_another_input_schema(models):
    m, verdict_path, _ = models
    sidecar = m / f"{ID}_seed0.json"
    data = json.loads(sidecar.read_text())
    data["input_schema_hash"] = "f" * 64  # weights trained for another feature layout
    sidecar.write_text(json.dumps(data))
    before = (m / "registry.json").read_bytes()
    result = cli(["registry", "flip", "--registry", m / "registry.json", "--verdict", verdict_path])
    assert result.exit_code == 2 and "sidecar" in result.stderr and "was changed" in result.stderr
    assert (m / "registry.json").read_bytes() == before
