"""registry.json: schema + semantic validation, flip (only with a matching PROMOTE), rollback + history.

Edge cases of registry flip / rollback / history / validation found by mutation testing
(tools/mutation.py).

The oracle is the documented record: a history entry holds who (user@host), when (UTC), why, the
rows' previous state and the sha256 of the registry bytes before the change; each expected value
is rebuilt here from the files with hashlib / getpass / socket, not read back from vmafkit.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import re
import socket
from datetime import datetime, timezone

import pytest

from vmafkit import layout
from vmafkit.decide.verdict import write_verdict
from vmafkit.errors import InputError, RefusedError
from vmafkit.io import exclusive_lock
from vmafkit.serve import registry as R
from vmafkit.serve.registry import flip, load_registry, read_history, registry_problems, rollback, validate_registry

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


UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _data(m):
    return json.loads((m / "registry.json").read_text())


def _write(m, data):
    (m / "registry.json").write_text(json.dumps(data))


def _who():
    return f"{getpass.getuser()}@{socket.gethostname()}"


def _now_between(stamp: str, start: datetime) -> bool:
    t = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return start.replace(microsecond=0) <= t <= datetime.now(timezone.utc)


def _previous(rows):
    return [
        {"id": r["id"], "smoke": r["smoke"], "notes": r["notes"], "promoted_by": r.get("promoted_by")} for r in rows
    ]


# ----------------------------------------------------------------------------- flip


def test_flip_entry_rows_and_history_are_the_documented_record(models):
    m, verdict_path, _ = models
    reg = m / "registry.json"
    before = reg.read_bytes()
    history_before = (m / layout.REGISTRY_HISTORY_FILE).read_text(encoding="utf-8")  # the export's entry
    rows_before = _data(m)["models"]
    verdict = json.loads(verdict_path.read_text())
    verdict_sha = _sha(verdict_path.read_bytes())
    start = datetime.now(timezone.utc)
    entry = flip(reg, verdict_path)
    assert set(entry) == {"action", "who", "when", "why", "ids", "previous", "registry_sha256_before", "verdict_sha256"}
    assert entry["action"] == "flip" and entry["who"] == _who()
    assert UTC.match(entry["when"]) and _now_between(entry["when"], start)
    assert entry["why"] == f"PROMOTE verdict {verdict_path}"
    assert entry["ids"] == [f"{ID}_seed0", f"{ID}_seed1"]
    assert entry["previous"] == _previous(rows_before)
    assert entry["registry_sha256_before"] == _sha(before)
    assert entry["verdict_sha256"] == verdict_sha
    corpus_sha = verdict["corpus"]["sha256"]
    for row in _data(m)["models"]:
        assert row["smoke"] is False
        promoted = row["promoted_by"]
        assert set(promoted) == {
            "verdict_path",
            "verdict_sha256",
            "corpus_sha256",
            "generated_at_utc",
            "flipped_at_utc",
        }
        assert promoted["verdict_path"] == str(verdict_path) and promoted["verdict_sha256"] == verdict_sha
        assert promoted["corpus_sha256"] == corpus_sha
        assert promoted["generated_at_utc"] == verdict["generated_at_utc"]
        assert UTC.match(promoted["flipped_at_utc"]) and _now_between(promoted["flipped_at_utc"], start)
        assert row["notes"] == (
            f"production: PROMOTE {verdict_sha[:12]} (corpus {corpus_sha[:12]}, "
            f"mean PLCC {verdict['gate']['mean_plcc']:.4f})"
        )
    # the history: one canonical JSON line (sorted keys) after the export's
    text = (m / layout.REGISTRY_HISTORY_FILE).read_text(encoding="utf-8")
    assert text == history_before + json.dumps(entry, sort_keys=True) + "\n"
    assert [h["action"] for h in read_history(reg)] == ["register", "flip"] and read_history(reg)[-1] == entry
    assert validate_registry(reg) == []


def test_flip_reason_and_a_second_flip_records_the_first(models):
    m, verdict_path, _ = models
    reg = m / "registry.json"
    flip(reg, verdict_path)
    promoted_rows = _data(m)["models"]
    before = reg.read_bytes()
    second = flip(reg, verdict_path, reason="re-flip after audit")
    assert second["why"] == "re-flip after audit"
    assert second["previous"] == _previous(promoted_rows)
    assert all(p["promoted_by"] is not None and p["smoke"] is False for p in second["previous"])
    assert second["registry_sha256_before"] == _sha(before)
    assert [h["why"] for h in read_history(reg)][1:] == [f"PROMOTE verdict {verdict_path}", "re-flip after audit"]


def test_history_without_a_final_newline_gets_one(models):
    m, verdict_path, _ = models
    (m / layout.REGISTRY_HISTORY_FILE).write_text('{"action": "imported"}')  # no trailing newline
    entry = flip(m / "registry.json", verdict_path)
    text = (m / layout.REGISTRY_HISTORY_FILE).read_text()
    assert text == '{"action": "imported"}\n' + json.dumps(entry, sort_keys=True) + "\n"
    assert read_history(m / "registry.json") == [{"action": "imported"}, entry]


def test_history_with_a_final_newline_is_appended_to_as_is(models):
    m, verdict_path, _ = models
    (m / layout.REGISTRY_HISTORY_FILE).write_text('{"action": "imported"}\n\n')  # blank lines are skipped by the reader
    entry = flip(m / "registry.json", verdict_path)
    assert (m / layout.REGISTRY_HISTORY_FILE).read_text() == '{"action": "imported"}\n\n' + json.dumps(
        entry, sort_keys=True
    ) + "\n"
    assert read_history(m / "registry.json") == [{"action": "imported"}, entry]


def test_flip_refuses_a_hold_naming_the_verdict(models, tmp_path):
    m, verdict_path, _ = models
    hold = tmp_path / "HOLD.json"
    data = json.loads(verdict_path.read_text())
    data["verdict"] = "HOLD"
    hold.write_text(json.dumps(data))
    with pytest.raises(RefusedError) as info:
        flip(m / "registry.json", hold)
    assert str(info.value) == f"{hold}: verdict is HOLD, not PROMOTE; registry unchanged"


def test_flip_with_no_exported_rows(models):
    m, verdict_path, _ = models
    data = _data(m)
    for row in data["models"]:
        row["sidecar"] = None
    _write(m, data)
    assert validate_registry(m / "registry.json") == []  # smoke rows need no sidecar
    before = (m / "registry.json").read_bytes()
    with pytest.raises(RefusedError) as info:
        flip(m / "registry.json", verdict_path)
    assert (
        str(info.value) == f"{m / 'registry.json'}: no exported member rows (with sidecars) to flip; registry unchanged"
    )
    assert (m / "registry.json").read_bytes() == before
    with pytest.raises(RefusedError) as info:
        flip(m / "registry.json", verdict_path, ids=[f"{ID}_seed0"])
    assert str(info.value) == f"{ID}_seed0: has no sidecar; only exported members can be flipped"


def test_flip_of_an_unknown_ensemble_or_id_is_an_input_error(models):
    m, verdict_path, _ = models
    before, history = (m / "registry.json").read_bytes(), read_history(m / "registry.json")
    with pytest.raises(InputError, match=r"^no registry rows of ensemble 'other_model'$"):
        flip(m / "registry.json", verdict_path, ensemble="other_model")
    with pytest.raises(InputError, match=r"^no registry rows with ids \['nope', 'nada'\]$"):
        flip(m / "registry.json", verdict_path, ids=[f"{ID}_seed0", "nope", "nada"])
    assert (m / "registry.json").read_bytes() == before and read_history(m / "registry.json") == history


def test_flip_of_one_member_names_the_ensemble_and_both_seed_sets(models):
    m, verdict_path, _ = models
    with pytest.raises(RefusedError) as info:
        flip(m / "registry.json", verdict_path, ids=[f"{ID}_seed1"])
    assert str(info.value) == f"ensemble '{ID}' has seeds [1] but the verdict gated [0, 1]; registry unchanged"


def test_flip_refuses_a_sidecar_exported_under_another_gate(models):
    m, verdict_path, _ = models
    sidecar_path = m / f"{ID}_seed1.json"
    sidecar = json.loads(sidecar_path.read_text())
    sidecar["gate"]["mean_plcc"] = 0.999
    sidecar_path.write_text(json.dumps(sidecar))
    data = _data(m)
    data["models"][1]["sidecar_sha256"] = _sha(sidecar_path.read_bytes())  # re-pinned: the registry is valid
    _write(m, data)
    assert validate_registry(m / "registry.json") == []
    with pytest.raises(RefusedError) as info:
        flip(m / "registry.json", verdict_path)
    assert str(info.value) == f"{ID}_seed1: sidecar was exported under another gate result than this verdict's"


def test_flip_with_a_missing_smoke_sidecar_names_it(models):
    m, verdict_path, _ = models
    (m / f"{ID}_seed0.json").unlink()  # a smoke row's missing sidecar is no registry problem ...
    assert validate_registry(m / "registry.json") == []
    with pytest.raises(InputError, match=rf"{ID}_seed0\.json: sidecar not found$"):  # ... but flip needs it
        flip(m / "registry.json", verdict_path)


def test_flip_and_rollback_hold_the_registry_lock(models):
    """A second writer of the same registry fails at once (exit 2): the lock is the registry
    folder's `.registry.lock`."""
    m, verdict_path, _ = models
    before = (m / "registry.json").read_bytes()
    with exclusive_lock(m, ".registry.lock"):
        with pytest.raises(InputError):
            flip(m / "registry.json", verdict_path)
        with pytest.raises(InputError):
            rollback(m / "registry.json", "locked out")
    assert (m / "registry.json").read_bytes() == before


# ----------------------------------------------------------------------------- rollback


def test_rollback_entry_rows_and_history(models):
    m, verdict_path, _ = models
    reg = m / "registry.json"
    flipped = flip(reg, verdict_path)
    promoted_rows = _data(m)["models"]
    before = reg.read_bytes()
    start = datetime.now(timezone.utc)
    entry = rollback(reg, "  bad corpus snapshot \n")
    assert set(entry) == {"action", "who", "when", "why", "ids", "previous", "registry_sha256_before"}
    assert entry["action"] == "rollback" and entry["who"] == _who() and entry["why"] == "bad corpus snapshot"
    assert UTC.match(entry["when"]) and _now_between(entry["when"], start)
    assert entry["ids"] == [f"{ID}_seed0", f"{ID}_seed1"]
    assert entry["previous"] == _previous(promoted_rows)
    assert all(p["promoted_by"]["verdict_sha256"] == flipped["verdict_sha256"] for p in entry["previous"])
    assert entry["registry_sha256_before"] == _sha(before)
    for row in _data(m)["models"]:
        assert row["smoke"] is True and row["promoted_by"] is None
        assert row["notes"] == f"rolled back {entry['when']} by {_who()}: bad corpus snapshot"
    assert read_history(reg)[1:] == [flipped, entry]  # after the export's entry
    assert (m / layout.REGISTRY_HISTORY_FILE).read_text().splitlines()[2] == json.dumps(entry, sort_keys=True)


def test_rollback_noop_entry_writes_nothing(models):
    m, _, _ = models
    reg = m / "registry.json"
    before, history = reg.read_bytes(), (m / layout.REGISTRY_HISTORY_FILE).read_bytes()
    entry = rollback(reg, "nothing to do")
    assert entry["action"] == "noop" and entry["ids"] == [] and entry["previous"] == []
    assert entry["registry_sha256_before"] == _sha(before) and entry["why"] == "nothing to do"
    assert reg.read_bytes() == before and (m / layout.REGISTRY_HISTORY_FILE).read_bytes() == history


def test_rollback_of_selected_rows_only(models):
    m, verdict_path, _ = models
    reg = m / "registry.json"
    flip(reg, verdict_path)
    entry = rollback(reg, "one member", ids=[f"{ID}_seed1"])
    assert entry["ids"] == [f"{ID}_seed1"]
    assert [r["smoke"] for r in _data(m)["models"]] == [False, True]
    entry = rollback(reg, "the rest", ensemble=ID)
    assert entry["ids"] == [f"{ID}_seed0"]  # seed1 is smoke already: unchanged, not recorded
    assert [r["smoke"] for r in _data(m)["models"]] == [True, True]
    with pytest.raises(InputError, match=r"^no registry rows of ensemble 'zzz'$"):
        rollback(reg, "x", ensemble="zzz")
    with pytest.raises(InputError, match=r"^no registry rows with ids \['zzz'\]$"):
        rollback(reg, "x", ids=["zzz"])


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_rollback_needs_a_reason(models, reason):
    m, _, _ = models
    with pytest.raises(InputError, match=r"^rollback needs a --reason$"):
        rollback(m / "registry.json", reason)


def test_rollback_of_a_schema_invalid_registry_names_the_first_problem(models):
    m, _, _ = models
    data = _data(m)
    data["schema_version"] = 2
    _write(m, data)
    with pytest.raises(InputError) as info:
        rollback(m / "registry.json", "why")
    message = str(info.value)
    assert message.startswith(f"{m / 'registry.json'}: invalid registry: ") and "schema_version" in message
    (m / "registry.json").write_text("[1, 2")
    with pytest.raises(InputError, match=r"malformed registry"):
        rollback(m / "registry.json", "why")


def test_rollback_works_with_a_missing_onnx(models):
    """Rollback checks the schema only: a registry whose ONNX went missing can still be rolled back."""
    m, verdict_path, _ = models
    flip(m / "registry.json", verdict_path)
    (m / f"{ID}_seed0.onnx").unlink()
    assert any("not found" in p for p in validate_registry(m / "registry.json"))
    entry = rollback(m / "registry.json", "onnx lost")
    assert entry["action"] == "rollback" and all(r["smoke"] for r in _data(m)["models"])


def test_who_falls_back_to_the_user_variable(monkeypatch):
    def no_passwd():
        raise KeyError("getpwuid(): uid not found")

    monkeypatch.setattr(getpass, "getuser", no_passwd)
    monkeypatch.setenv("USER", "alice")
    assert R._who() == f"alice@{socket.gethostname()}"
    monkeypatch.delenv("USER")
    assert R._who() == f"unknown@{socket.gethostname()}"


# ----------------------------------------------------------------------------- validation


def test_registry_problem_messages(models):
    m, _, _ = models
    reg = m / "registry.json"
    data = _data(m)
    row = data["models"][0]
    where = f"models/0 ({row['id']})"
    # an ONNX outside the models folder (through a symlink)
    outside = m.parent / "elsewhere.onnx"
    outside.write_bytes(b"x")
    (m / "link.onnx").symlink_to(outside)
    data["models"][0]["onnx"] = "link.onnx"
    problems = registry_problems(reg, data)
    assert problems == [f"{where}: link.onnx lies outside the models folder"]
    with pytest.raises(InputError) as info:
        _write(m, data)
        load_registry(reg)
    assert str(info.value) == f"{reg}: invalid registry: {where}: link.onnx lies outside the models folder"


def test_load_registry_counts_the_other_problems(models):
    m, _, _ = models
    reg = m / "registry.json"
    data = _data(m)
    for row in data["models"]:
        row["input_schema_hash"] = "0" * 64
    _write(m, data)
    problems = validate_registry(reg)
    assert len(problems) == 4  # per row: the registry's hash, and the sidecar's no longer equal to it
    with pytest.raises(InputError) as info:
        load_registry(reg)
    assert str(info.value).endswith(" (+3 more)") and str(info.value).startswith(
        f"{reg}: invalid registry: {problems[0]}"
    )
    from vmafkit.media.libvmaf import CANONICAL6, V1_FEATURES
    from vmafkit.train.features import input_schema_hash

    known = sorted(input_schema_hash(order)[:12] for order in (CANONICAL6, tuple(V1_FEATURES)))
    assert problems[0] == (
        f"models/0 ({ID}_seed0): input_schema_hash 000000000000 is none of this vmafkit's "
        f"({', '.join(known)}: one per feature set; weights of another input layout)"
    )
    assert problems[1] == f"models/0 ({ID}_seed0): sidecar's input_schema_hash differs from the registry's"


def test_registry_sidecar_and_calibration_problems(models):
    m, _, _ = models
    reg = m / "registry.json"
    base = _data(m)
    where = f"models/1 ({ID}_seed1)"

    def problems_with(edit):
        data = json.loads(json.dumps(base))
        edit(data["models"][1])
        return registry_problems(reg, data)

    assert problems_with(lambda r: r.pop("sidecar_sha256")) == [
        f"{where}: sidecar {ID}_seed1.json is not pinned (no sidecar_sha256)"
    ]
    assert problems_with(lambda r: r.update(sidecar_sha256="0" * 64)) == [
        f"{where}: sidecar {ID}_seed1.json was changed (sha256 does not match sidecar_sha256)"
    ]
    assert problems_with(lambda r: r.pop("calibration_sha256")) == [
        f"{where}: calibration file {ID}_calibration.json is not pinned (no calibration_sha256)"
    ]
    assert problems_with(lambda r: r.update(calibration_sha256="0" * 64)) == [
        f"{where}: calibration file {ID}_calibration.json was changed (sha256 does not match calibration_sha256)"
    ]
    assert problems_with(lambda r: r.update(calibration="gone.json")) == []  # smoke: may lack it
    assert problems_with(lambda r: r.update(calibration="gone.json", smoke=False)) == [
        f"{where}: calibration file gone.json not found"
    ]
    assert problems_with(lambda r: r.update(sidecar="gone.json")) == []
    assert problems_with(lambda r: r.update(sidecar="gone.json", smoke=False)) == [
        f"{where}: sidecar {m / 'gone.json'} not found"
    ]
    assert problems_with(lambda r: r.update(onnx="gone.onnx")) == [f"{where}: onnx file {m / 'gone.onnx'} not found"]
    assert problems_with(lambda r: r.update(sha256="0" * 64)) == [
        f"{where}: sha256 of {ID}_seed1.onnx does not match the registry",
        f"{where}: sidecar's onnx_sha256 differs from the registry's sha256",
    ]


def test_registry_sidecar_content_problems(models):
    m, _, _ = models
    reg = m / "registry.json"
    data = _data(m)
    where = f"models/0 ({ID}_seed0)"
    sidecar_path = m / f"{ID}_seed0.json"

    def pin(text: str):
        sidecar_path.write_text(text)
        data["models"][0]["sidecar_sha256"] = _sha(sidecar_path.read_bytes())
        return registry_problems(reg, data)

    problems = pin("{not json")
    assert len(problems) == 1 and problems[0].startswith(f"{where}: sidecar {ID}_seed0.json unreadable (")
    problems = pin(json.dumps({"seed": 0}))
    assert len(problems) == 1 and problems[0].startswith(f"{where}: sidecar {ID}_seed0.json: ")
    sidecar = json.loads((m / f"{ID}_seed1.json").read_text())  # valid, but of the other member
    assert pin(json.dumps(sidecar)) == [f"{where}: sidecar's onnx_sha256 differs from the registry's sha256"]
    sidecar["input_schema_hash"] = "2" * 64
    assert pin(json.dumps(sidecar)) == [
        f"{where}: sidecar's onnx_sha256 differs from the registry's sha256",
        f"{where}: sidecar's input_schema_hash differs from the registry's",
    ]


def test_duplicate_ids_are_reported_once_per_repeat(models):
    m, _, _ = models
    data = _data(m)
    data["models"].append(json.loads(json.dumps(data["models"][0])))
    problems = registry_problems(m / "registry.json", data)
    assert problems == [f"models/2 ({ID}_seed0): duplicate id"]


def test_history_path_and_missing_history():
    from pathlib import Path

    assert R.history_path("/x/models/registry.json") == Path("/x/models/registry_history.jsonl")
    assert read_history("/nonexistent/folder/registry.json") == []


# ----------------------------------------------------------------------------- failed writes


def _fail_replace_into(monkeypatch, name):
    """os.replace fails (ENOSPC) when it would put a file named `name` in place."""
    import errno
    import os

    real = os.replace

    def replace(src, dst, *args, **kwargs):
        if os.path.basename(os.fspath(dst)) == name:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)


@pytest.mark.parametrize("failing", ["registry.json", layout.REGISTRY_HISTORY_FILE])
def test_a_failed_write_leaves_registry_and_history_as_they_were(models, monkeypatch, failing):
    """Whichever of the two files cannot be put in place, neither changes: the history never
    records a flip the registry does not hold, and the registry gets its old bytes back."""
    m, verdict_path, _ = models
    reg = m / "registry.json"
    (m / layout.REGISTRY_HISTORY_FILE).write_text('{"action": "imported"}\n')
    before, history_before = reg.read_bytes(), (m / layout.REGISTRY_HISTORY_FILE).read_bytes()
    _fail_replace_into(monkeypatch, failing)
    with pytest.raises(OSError):
        flip(reg, verdict_path)
    assert reg.read_bytes() == before and (m / layout.REGISTRY_HISTORY_FILE).read_bytes() == history_before
    assert sorted(p.name for p in m.iterdir() if p.name.endswith(".tmp")) == []
    monkeypatch.undo()
    flip(reg, verdict_path)
    _fail_replace_into(monkeypatch, failing)
    before, history_before = reg.read_bytes(), (m / layout.REGISTRY_HISTORY_FILE).read_bytes()
    with pytest.raises(OSError):
        rollback(reg, "disk full")
    assert reg.read_bytes() == before and (m / layout.REGISTRY_HISTORY_FILE).read_bytes() == history_before


def test_load_registry_of_a_broken_or_missing_file(models):
    m, _, _ = models
    reg = m / "registry.json"
    reg.write_text("{not json")
    with pytest.raises(InputError) as info:
        load_registry(reg)
    assert str(info.value).startswith(f"{reg}: malformed registry: ")
    with pytest.raises(InputError) as info:
        validate_registry(m / "nope.json")
    assert str(info.value) == f"{m / 'nope.json'}: registry not found"


def test_when_the_restore_fails_too_the_first_error_is_raised(models, monkeypatch):
    """The history cannot be put in place and then the registry cannot be restored either: the
    caller sees the original error (ENOSPC), not the restore's, and the history is unchanged."""
    import errno
    import os

    m, verdict_path, _ = models
    reg = m / "registry.json"
    history_before = b'{"action": "imported"}\n'
    (m / layout.REGISTRY_HISTORY_FILE).write_bytes(history_before)
    real = os.replace
    calls = {"registry": 0}

    def replace(src, dst, *args, **kwargs):
        name = os.path.basename(os.fspath(dst))
        if name == layout.REGISTRY_HISTORY_FILE:
            raise OSError(errno.ENOSPC, "No space left on device")
        if name == "registry.json":
            calls["registry"] += 1
            if calls["registry"] > 1:  # the restore
                raise OSError(errno.EIO, "Input/output error")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError) as info:
        flip(reg, verdict_path)
    assert info.value.errno == errno.ENOSPC and calls["registry"] == 2
    assert (m / layout.REGISTRY_HISTORY_FILE).read_bytes() == history_before


@pytest.mark.parametrize("key", ["sidecar", "calibration"])
def test_every_named_file_must_stay_inside_the_models_folder(models, key):
    m, _, _ = models
    data = _data(m)
    outside = m.parent / f"elsewhere_{key}.json"
    outside.write_bytes((m / data["models"][0][key]).read_bytes())
    (m / f"link_{key}.json").symlink_to(outside)
    data["models"][0][key] = f"link_{key}.json"
    assert registry_problems(m / "registry.json", data) == [
        f"models/0 ({ID}_seed0): link_{key}.json lies outside the models folder"
    ]


def test_a_problem_row_does_not_stop_the_checks_of_the_next(models):
    m, _, _ = models
    data = _data(m)
    outside = m.parent / "elsewhere.onnx"
    outside.write_bytes(b"x")
    (m / "link.onnx").symlink_to(outside)
    data["models"][0]["onnx"] = "link.onnx"
    data["models"][1]["sha256"] = "0" * 64
    problems = registry_problems(m / "registry.json", data)
    assert problems[0] == f"models/0 ({ID}_seed0): link.onnx lies outside the models folder"
    assert problems[1] == f"models/1 ({ID}_seed1): sha256 of {ID}_seed1.onnx does not match the registry"
    data = _data(m)
    data["models"][0]["sidecar"] = None  # a smoke row without a sidecar: fine, and the next row is still checked
    data["models"][1]["sha256"] = "0" * 64
    problems = registry_problems(m / "registry.json", data)
    assert problems and all(p.startswith(f"models/1 ({ID}_seed1): ") for p in problems)


def test_load_registry_with_exactly_two_problems(models):
    m, _, _ = models
    data = _data(m)
    data["models"][1]["sha256"] = "0" * 64  # the ONNX and the sidecar's onnx_sha256 both disagree
    _write(m, data)
    problems = validate_registry(m / "registry.json")
    assert len(problems) == 2
    with pytest.raises(InputError) as info:
        load_registry(m / "registry.json")
    assert str(info.value) == f"{m / 'registry.json'}: invalid registry: {problems[0]} (+1 more)"


def test_flip_of_a_member_of_no_ensemble(models):
    """A row without an ensemble name is gated as the ensemble '' (and refused: one seed of two)."""
    m, verdict_path, _ = models
    data = _data(m)
    loose = {k: v for k, v in data["models"][1].items() if k != "ensemble"}
    loose["id"] = "loose_seed1"
    data["models"].append(loose)
    _write(m, data)
    with pytest.raises(RefusedError) as info:
        flip(m / "registry.json", verdict_path, ids=["loose_seed1"])
    assert str(info.value) == "ensemble '' has seeds [1] but the verdict gated [0, 1]; registry unchanged"


@pytest.mark.parametrize("case", ["smoke_sidecar_missing", "sidecar_unreadable", "sidecar_schema_invalid"])
def test_a_sidecar_problem_row_does_not_stop_the_checks_of_the_next(models, case):
    m, _, _ = models
    data = _data(m)
    sidecar_path = m / f"{ID}_seed0.json"
    if case == "smoke_sidecar_missing":
        sidecar_path.unlink()
    else:
        sidecar_path.write_text("{not json" if case == "sidecar_unreadable" else json.dumps({"seed": 0}))
        data["models"][0]["sidecar_sha256"] = _sha(sidecar_path.read_bytes())
    data["models"][1]["sha256"] = "0" * 64
    problems = registry_problems(m / "registry.json", data)
    assert f"models/1 ({ID}_seed1): sha256 of {ID}_seed1.onnx does not match the registry" in problems
    assert len([p for p in problems if p.startswith("models/0 ")]) == (0 if case == "smoke_sidecar_missing" else 1)


def test_a_sidecar_with_one_schema_error_names_it(models):
    m, _, _ = models
    data = _data(m)
    sidecar_path = m / f"{ID}_seed0.json"
    sidecar = json.loads(sidecar_path.read_text())
    del sidecar["onnx_sha256"]  # exactly one thing wrong
    sidecar_path.write_text(json.dumps(sidecar))
    data["models"][0]["sidecar_sha256"] = _sha(sidecar_path.read_bytes())
    assert registry_problems(m / "registry.json", data) == [
        f"models/0 ({ID}_seed0): sidecar {ID}_seed0.json: (top): 'onnx_sha256' is a required property"
    ]
