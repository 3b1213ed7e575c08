"""PROMOTE/HOLD files: exactly one written, the published keys, corpus fingerprint, exit codes.

Edge cases of the verdict (PROMOTE/HOLD, the corpus fingerprint, trusted re-derivation) found by
mutation testing (tools/mutation.py).

Oracles: hashlib over bytes written here, numpy over the values written here, the gate's
thresholds module, and hand-written expected messages.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from vmafkit import thresholds as T
from vmafkit.decide import verdict as V
from vmafkit.decide.gate import evaluate_gate, failing_aspects
from vmafkit.decide.verdict import (
    build_verdict,
    check_predictions_match_corpus,
    corpus_fingerprint,
    fingerprint_difference,
    fingerprint_identity,
    label_sensitivity,
    load_trusted_verdict,
    load_verdict,
    recipe_from_reports,
    recommendation,
    resolve_corpus_path,
    same_corpus,
    stale_reason,
    utc_now,
    write_verdict,
)
from vmafkit.errors import InputError, RefusedError
from vmafkit.io import sha256_file
from vmafkit.media.sources import snapshot_folder
from vmafkit.validation import schema_errors

from ...factories import cli, make_corpus, make_loso_dir, passing_terms, read_rows, write_seed_report

# A verdict's published keys (README.md, "Keys:"), written out here, not taken from the code or the schema.
VERDICT_KEYS = {
    "schema_version",
    "verdict",
    "generated_at_utc",
    "loso_dir",
    "seeds",
    "gate",
    "corpus",
    "recommendation",
    "run_provenance",
}
PASSING = {0: 0.96, 1: 0.961, 2: 0.962}


def test_promote_written_and_hold_removed(tmp_path):
    loso, corpus = make_loso_dir(tmp_path, PASSING)
    (loso / "HOLD.json").write_text("{}")
    result = cli(["verdict", loso, "--seeds", "0,1,2"])
    assert result.exit_code == 0, result.output
    assert (loso / "PROMOTE.json").is_file() and not (loso / "HOLD.json").exists()
    verdict = json.loads((loso / "PROMOTE.json").read_text())
    assert VERDICT_KEYS <= set(verdict)
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
    write_seed_report(loso, 2, corpus, extra={"corpus": {"path": str(other), "sha256": sha256_file(other)}})
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
    assert fp["sources"] == [
        {"src": "a", "src_sha256": hashlib.sha256(b"a").hexdigest(), "rows": 6},
        {"src": "b", "src_sha256": hashlib.sha256(b"b").hexdigest(), "rows": 6},
    ]
    assert fp["ref_dir"] is None
    other = make_corpus(tmp_path / "d.jsonl", sources=("a", "b"), cqs=(20, 30), frames=3, seed=1)
    assert not same_corpus(fp, corpus_fingerprint(other))
    assert same_corpus(fp, corpus_fingerprint(corpus))


def test_ref_dir_snapshot_is_relpath_size_lines(tmp_path):
    ref = tmp_path / "refs"
    (ref / "sub").mkdir(parents=True)
    (ref / "b.yuv").write_bytes(b"12345")
    (ref / "sub" / "a.y4m").write_bytes(b"xy")
    snap = snapshot_folder(ref)
    expected = hashlib.sha256(b"b.yuv\t5\nsub/a.y4m\t2\n").hexdigest()
    assert snap == {"path": str(ref), "sha256": expected, "count": 2}
    (ref / "b.yuv").write_bytes(b"123456")
    assert snapshot_folder(ref)["sha256"] != expected
    with pytest.raises(InputError):
        snapshot_folder(tmp_path / "nope")


def test_verdict_with_ref_dir(tmp_path):
    loso, _ = make_loso_dir(tmp_path, PASSING)
    ref = tmp_path / "refs"
    ref.mkdir()
    (ref / "x.yuv").write_bytes(b"abc")
    verdict, path = write_verdict(loso, [0, 1, 2], ref_dir=ref)
    # the one folder snapshot (media.sources, which the pipeline's step records use too), in the
    # form and with the value a verdict has always pinned; the verdict re-checks
    snapshot = {"path": str(ref), "sha256": hashlib.sha256(b"x.yuv\t3\n").hexdigest(), "count": 1}
    assert verdict["corpus"]["ref_dir"] == snapshot
    assert load_trusted_verdict(path)["corpus"]["ref_dir"] == snapshot
    assert any(i["kind"] == "dir" for i in verdict["run_provenance"]["inputs"])
    assert cli(["verdict", loso, "--seeds", "0,1,2", "--ref-dir", tmp_path / "missing"]).exit_code == 2


def test_verdict_carries_calibration_and_fold_coverage(tmp_path):
    """The interval is the per-source-then-across-sources rule, recomputed here by hand (numpy) from
    the prediction files: 3 sources of 24 frames; a source's 95 % quantile is its 23rd smallest score
    (ceil(0.95 * 24) = 23); across 3 sources the tolerance rank is 3, the largest; the attained
    source level 0.1 ** (1 / 3). The score is the residual over the seeds' spread + 4 x its median
    (three seeds). Each fold's coverage uses the largest of the *other* two."""
    loso, _ = make_loso_dir(tmp_path, PASSING)
    verdict, _ = write_verdict(loso, [0, 1, 2])
    cal = verdict["calibration"]
    rows = [
        [json.loads(line) for line in (loso / f"loso_seed{s}.predictions.jsonl").read_text().splitlines()]
        for s in (0, 1, 2)
    ]
    vmaf = np.array([r["vmaf"] for r in rows[0]])
    fold = np.array([r["fold"] for r in rows[0]])
    preds = np.array([[r["pred"] for r in seed] for seed in rows])
    frees = np.array([[r["pred_unlabelled"] for r in seed] for seed in rows])
    pred, free = preds.mean(axis=0), frees.mean(axis=0)

    def by_hand(offset):
        """(score, labelled scale) per row: absolute residuals (offset None), or each divided by
        the seeds' population std + offset, the larger of labelled and unlabelled."""
        lab = np.ones(vmaf.size) if offset is None else preds.std(axis=0) + offset
        unl = np.ones(vmaf.size) if offset is None else frees.std(axis=0) + offset
        return np.maximum(np.abs(vmaf - pred) / lab, np.abs(vmaf - free) / unl), lab

    def quantiles(score):
        return {f: np.sort(score[fold == f])[22] for f in ("srcA", "srcB", "srcC")}

    assert cal["coverage"] == 0.95 and cal["frame"]["n"] == 72 and cal["n_sources"] == 3
    # three seeds: scores over (spread + 4 x the median spread), by hand
    offset = 4.0 * float(np.median(preds.std(axis=0)))
    assert cal["normalisation"] == {"kind": "ensemble-spread", "offset": pytest.approx(offset)}
    score, lab = by_hand(offset)
    assert cal["frame"]["half_width"] == pytest.approx(float(np.median(max(quantiles(score).values()) * lab)))
    score, lab = by_hand(offset)
    q = quantiles(score)
    assert cal["source_level"] == pytest.approx(0.1 ** (1 / 3))  # tolerance bound: k = S = 3
    assert cal["guarantee"].startswith(
        "with 90% confidence (a tolerance bound over 3 LOSO sources), at least 46% of new sources"
    )
    for item in cal["per_fold"]:
        h = max(v for f, v in q.items() if f != item["fold"])
        mine = fold == item["fold"]
        assert item["frame_half_width"] == pytest.approx(float(np.median(h * lab[mine])), abs=1e-9)
        assert item["frame_coverage"] == pytest.approx(np.mean(score[mine] <= h))
    assert cal["fold_frame_coverage_min"] == pytest.approx(min(f["frame_coverage"] for f in cal["per_fold"]))
    assert verdict["gate"]["interval_coverage_min"] == cal["fold_frame_coverage_min"]


def test_verdict_pins_every_file_it_read(tmp_path):
    loso, _ = make_loso_dir(tmp_path, PASSING)
    verdict, _ = write_verdict(loso, [0, 1, 2])
    pinned = {
        (item["file"], item["sha256"]) for kind in ("seed_reports", "predictions") for item in verdict["evidence"][kind]
    }
    expected = {
        (name, hashlib.sha256((loso / name).read_bytes()).hexdigest())
        for s in (0, 1, 2)
        for name in (f"loso_seed{s}.json", f"loso_seed{s}.predictions.jsonl")
    }
    assert pinned == expected


def test_verdict_without_prediction_files_is_refused(tmp_path):
    loso, _ = make_loso_dir(tmp_path, PASSING, predictions=False)
    result = cli(["verdict", loso, "--seeds", "0,1,2"])
    assert result.exit_code == 2 and "prediction file of seed 0 missing" in result.stderr
    assert not (loso / "PROMOTE.json").exists() and not (loso / "HOLD.json").exists()


def test_prediction_file_with_edited_target_is_refused(tmp_path):
    """Attack: vmaf in a prediction file is moved towards the predictions (a better PLCC); the
    report is regenerated to agree. The verdict checks the targets against the corpus itself."""
    loso, _ = make_loso_dir(tmp_path, PASSING)
    path = loso / "loso_seed0.predictions.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[5]["vmaf"] = rows[5]["pred"]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    write_seed_report(loso, 0, tmp_path / "per_frame_canonical6.jsonl")
    result = cli(["verdict", loso, "--seeds", "0,1,2"])
    assert result.exit_code == 2 and "loso_seed0.predictions.jsonl: row 5: vmaf" in result.stderr


def test_trainer_corpus_object_and_changed_bytes(tmp_path):
    """vmafkit's trainer writes corpus as {path, sha256, ...}: read it, and refuse a corpus whose
    bytes changed since training (exit 2, no verdict)."""
    loso, corpus = make_loso_dir(tmp_path, PASSING)
    for seed in PASSING:
        write_seed_report(
            loso, seed, corpus, extra={"corpus": {"path": str(corpus), "sha256": sha256_file(corpus), "rows": 72}}
        )
    verdict, path = write_verdict(loso, [0, 1, 2])
    assert verdict["verdict"] == "PROMOTE" and verdict["corpus"]["sha256"] == sha256_file(corpus)
    path.unlink()
    corpus.write_text(corpus.read_text().replace('"cq": 20', '"cq": 21', 1))
    result = cli(["verdict", loso, "--seeds", "0,1,2"])
    assert result.exit_code == 2 and "changed since training" in result.stderr
    assert not (loso / "PROMOTE.json").exists() and not (loso / "HOLD.json").exists()


def test_null_mean_plcc_is_input_error(tmp_path):
    loso, corpus = make_loso_dir(tmp_path, PASSING)
    write_seed_report(loso, 1, corpus, extra={"mean_plcc": None})
    with pytest.raises(InputError, match="mean_plcc is null"):
        write_verdict(loso, [0, 1, 2])


def test_a_verdict_names_its_target_and_one_without_reads_as_vmaf(tmp_path):
    """New VMAF verdicts say target {kind: vmaf}; one written before the key existed is still a
    valid VMAF verdict (the schema's else branch) and is trusted as before."""
    from vmafkit.decide.verdict import verdict_target

    loso, _ = make_loso_dir(tmp_path, PASSING)
    verdict, path = write_verdict(loso, [0, 1, 2])
    assert verdict["target"] == {"kind": "vmaf"}
    old = dict(verdict)
    del old["target"]
    assert schema_errors(old, "verdict") == [] and verdict_target(old) == {"kind": "vmaf"}
    path.write_text(json.dumps(old))
    assert load_trusted_verdict(path)["verdict"] == "PROMOTE"
    # A VMAF verdict cannot pass for a subjective one: the schema's subjective branch needs its keys.
    claimed = {**verdict, "target": {"kind": "subjective", "scale": {"name": "mos-1-5", "low": 1, "high": 5}}}
    assert any("features" in e or "models" in e for e in schema_errors(claimed, "verdict"))


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- small pieces


def test_utc_now_is_second_resolution_utc():
    start = datetime.now(timezone.utc).replace(microsecond=0)
    stamp = utc_now()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)
    t = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert start <= t <= datetime.now(timezone.utc)


def test_ref_dir_snapshot_skips_dangling_links_and_does_not_follow_folder_links(tmp_path):
    ref = tmp_path / "refs"
    (ref / "b").mkdir(parents=True)
    (ref / "a.yuv").write_bytes(b"1234")
    (ref / "b" / "c.yuv").write_bytes(b"")
    (ref / "dangling.yuv").symlink_to(tmp_path / "nowhere.yuv")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "big.yuv").write_bytes(b"x" * 99)
    (ref / "linked").symlink_to(outside, target_is_directory=True)
    snap = snapshot_folder(ref)
    # the folder link is listed by os.walk as a directory but not descended into
    expected = hashlib.sha256(b"a.yuv\t4\nb/c.yuv\t0\n").hexdigest()
    assert snap == {"path": str(ref), "sha256": expected, "count": 2}
    with pytest.raises(InputError) as info:
        snapshot_folder(ref / "a.yuv")
    assert str(info.value) == f"{ref / 'a.yuv'}: is a file, not a reference folder"


def test_ref_dir_snapshot_of_non_ascii_names(tmp_path):
    ref = tmp_path / "refs"
    ref.mkdir()
    (ref / "café.yuv").write_bytes(b"ab")
    assert snapshot_folder(ref)["sha256"] == hashlib.sha256("café.yuv\t2\n".encode()).hexdigest()


def test_corpus_fingerprint_counts_rows_per_source_and_digest(tmp_path):
    corpus = make_corpus(tmp_path / "c.jsonl", sources=("b", "a"), cqs=(20, 30, 40), frames=2)
    rows = read_rows(corpus)
    rows[0]["src_sha256"] = "f" * 64  # one row of source b claims another digest: a separate entry
    corpus.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    ref = tmp_path / "refs"
    ref.mkdir()
    fp = corpus_fingerprint(corpus, ref)
    assert fp["path"] == str(corpus) and fp["sha256"] == _sha(corpus) and fp["rows"] == 12
    b = hashlib.sha256(b"b").hexdigest()
    a = hashlib.sha256(b"a").hexdigest()
    assert fp["sources"] == [
        {"src": "a", "src_sha256": a, "rows": 6},
        {"src": "b", "src_sha256": b, "rows": 5},
        {"src": "b", "src_sha256": "f" * 64, "rows": 1},
    ]
    assert fp["n_sources"] == 3
    assert fp["ref_dir"] == snapshot_folder(ref)


def test_fingerprint_identity_and_difference():
    base = {"path": "/a/c.jsonl", "sha256": "1" * 64, "rows": 10, "sources": [{"src": "a"}], "ref_dir": None}
    assert fingerprint_identity(base) == {"sha256": "1" * 64, "rows": 10, "sources": [{"src": "a"}]}
    moved = {**base, "path": "/elsewhere/c.jsonl", "ref_dir": {"count": 3}}
    assert same_corpus(base, moved) and fingerprint_difference(base, moved) == "no difference"
    assert fingerprint_difference(base, {**base, "sha256": "2" * 64}) == f"sha256 {'2' * 64} != {'1' * 64}"
    assert fingerprint_difference(base, {**base, "rows": 11}) == "rows 11 != 10"
    assert fingerprint_difference(base, {**base, "sources": []}) == "the sources (or their sha256) differ"
    assert fingerprint_difference(base, {**base, "rows": 11, "sources": []}) == "rows 11 != 10"  # first key first
    assert not same_corpus(base, {k: v for k, v in base.items() if k != "rows"})
    assert fingerprint_difference({k: v for k, v in base.items() if k != "rows"}, base) == "rows 10 != None"


def test_differs_tolerates_only_the_last_bits_of_numbers():
    assert not V.json_differs({"a": [1.0, {"b": 2}]}, {"a": [1.0 + 1e-10, {"b": 2}]})
    assert not V.json_differs(1.0, 1.0 + 1e-9 / 2) and V.json_differs(1.0, 1.0 + 2e-9)
    assert not V.json_differs(0.0, 1e-9)  # the tolerance is inclusive
    assert V.json_differs({"a": 1}, {"a": 1, "b": 2}) and V.json_differs({"a": 1, "b": 2}, {"a": 1})
    assert V.json_differs([1, 2], [1, 2, 3]) and V.json_differs([1, 2, 3], [1, 2])
    assert V.json_differs([1, 2], [1, 3]) and not V.json_differs([], [])
    assert V.json_differs(True, False) and V.json_differs("PROMOTE", "HOLD") and not V.json_differs(None, None)
    assert V.json_differs(1, "1") and V.json_differs({"a": 1}, [1]) and V.json_differs(True, 2)
    assert V.json_differs(0.5, 0.5 + 1e-6, 1e-7) and not V.json_differs(0.5, 0.5 + 1e-6, 1e-5)
    # the tolerance reaches nested values
    assert not V.json_differs({"a": [0.5]}, {"a": [0.5 + 1e-6]}, 1e-5) and V.json_differs(
        {"a": [0.5]}, {"a": [0.6]}, 1e-5
    )
    assert not V.json_differs([{"a": 0.5}], [{"a": 0.5 + 1e-6}], 1e-5)
    # a JSON boolean is not a number, even next to one that is within the tolerance of 1
    assert V.json_differs(True, 1.0 + 1e-12) and V.json_differs(1.0 + 1e-12, True)
    # a list is only compared with a list, a dict with a dict
    assert V.json_differs([1], 5) and V.json_differs(5, [1]) and V.json_differs(None, []) and V.json_differs({}, None)


def test_label_sensitivity_is_recomputed_from_the_prediction_files():
    """Per seed: mean, 95th percentile (numpy 'linear', by hand) and max of |pred_unlabelled - pred|
    and of shift_other_encoder (NaN rows left out); over seeds: mean of means, largest p95 and max.
    A seed report's own numbers play no part (they are not even given)."""
    pred = np.zeros(5)
    preds = {
        0: {"pred": pred, "pred_unlabelled": np.array([1.0, 2.0, 3.0, 4.0, 5.0])},
        1: {
            "pred": pred,
            "pred_unlabelled": np.array([0.0, 0.0, 0.0, 0.0, 10.0]),
            "shift_other_encoder": np.array([0.5, np.nan, 1.5, np.nan, 1.0]),
        },
    }
    out = label_sensitivity(preds)
    # seed 0: mean 3, p95 = 4 + 0.8 * (5 - 4) = 4.8, max 5; seed 1: mean 2, p95 = 0 + 0.8 * 10 = 8, max 10
    assert out["to_unknown"] == pytest.approx({"mean_abs": 2.5, "p95_abs_max": 8.0, "max_abs": 10.0})
    # seed 1 only, rows 0.5 1.5 1.0: mean 1, p95 = 1.0 + 0.9 * 0.5 = 1.45, max 1.5
    assert out["to_other_encoder"] == pytest.approx({"mean_abs": 1.0, "p95_abs_max": 1.45, "max_abs": 1.5})
    assert label_sensitivity({0: {"pred": pred}}) is None


def test_recipe_from_reports():
    recipe = {"hidden": 64, "dropout": 0.1, "label_mask_rate": 0.5}
    reports = {s: {"epochs": 3, "batch_size": 32, "lr": 5e-4, "weight_decay": 1e-5, "recipe": recipe} for s in (0, 1)}
    out = recipe_from_reports(reports)
    assert out["name"] == "robust" and out["epochs"] == 3 and out["label_mask_rate"] == 0.5
    legacy = {s: {"epochs": 3, "batch_size": 32, "lr": 5e-4, "weight_decay": 1e-5} for s in (0, 1)}
    assert recipe_from_reports(legacy)["name"] == "seed"  # no recipe block: before label masking
    reports[1] = {**reports[1], "epochs": 4}
    with pytest.raises(InputError, match=r"^seed reports were trained with different recipes: "):
        recipe_from_reports(reports)


def test_recommendation_texts(tmp_path):
    passed = evaluate_gate({0: 0.96}, 0.9, **passing_terms())
    failed = evaluate_gate({0: 0.90}, 0.9, **passing_terms())
    corpus, verdict_path = tmp_path / "c.jsonl", tmp_path / "loso" / "PROMOTE.json"
    assert recommendation(passed, corpus, verdict_path) == (
        f"flip seeds smoke->false: vmafkit export --corpus {corpus} --verdict {verdict_path} --out MODELS, then "
        f"vmafkit registry flip --registry MODELS/registry.json --verdict {verdict_path}; cite corpus sha256 in the flip."
    )
    assert recommendation(failed, corpus, verdict_path) == (
        "keep smoke=true; investigate diversity / hyperparameters. Failing aspects: "
        + "; ".join(failing_aspects(failed))
    )
    models = tmp_path / "out" / "models"
    assert recommendation(passed, corpus, verdict_path, exported_to=models) == (
        f"flip seeds smoke->false: `vmafkit run` exports the members to {models} (smoke=true), so only vmafkit registry "
        f"flip --registry {models / 'registry.json'} --verdict {verdict_path} is left; cite corpus sha256 in the flip."
    )
    assert recommendation(failed, corpus, verdict_path, exported_to=models).startswith(
        "keep smoke=true (nothing was exported: `vmafkit run` exports only on PROMOTE); investigate"
    )


def test_recommendation_inside_a_run_folder(tmp_path):
    """OUT/loso beside OUT/pipeline.json: the run exports itself, only the flip is left."""
    from vmafkit.layout import LOSO_DIR, MODELS_DIR, STATE_FILE

    out = tmp_path / "out"
    (out / LOSO_DIR).mkdir(parents=True)
    verdict_path = out / LOSO_DIR / "PROMOTE.json"
    passed = evaluate_gate({0: 0.96}, 0.9, **passing_terms())
    assert "vmafkit export" in recommendation(passed, tmp_path / "c", verdict_path)  # no pipeline.json yet
    (out / STATE_FILE).write_text("{}")
    assert f"exports the members to {out / MODELS_DIR} (smoke=true)" in recommendation(
        passed, tmp_path / "c", verdict_path
    )
    other = tmp_path / "run2" / "elsewhere"
    other.mkdir(parents=True)
    (other.parent / STATE_FILE).write_text("{}")
    assert "vmafkit export" in recommendation(passed, tmp_path / "c", other / "PROMOTE.json")  # not a loso folder


# ----------------------------------------------------------------------------- corpus resolution


def _reports(corpus_by_seed):
    return {s: {"corpus": c} for s, c in corpus_by_seed.items()}


def test_resolve_corpus_path(tmp_path, monkeypatch):
    corpus = make_corpus(tmp_path / "c.jsonl")
    digest = _sha(corpus)
    loso = tmp_path / "loso"
    loso.mkdir()
    pinned = {"path": str(corpus), "sha256": digest}
    assert resolve_corpus_path(_reports({0: pinned, 1: pinned}), loso) == corpus
    # a relative path that does not exist from here is read relative to the LOSO folder
    (loso / "inner.jsonl").write_bytes(corpus.read_bytes())
    monkeypatch.chdir(tmp_path)
    assert resolve_corpus_path(_reports({0: {"path": "inner.jsonl", "sha256": digest}}), loso) == loso / "inner.jsonl"
    here = {"path": "c.jsonl", "sha256": digest}
    assert resolve_corpus_path(_reports({0: here}), loso) == Path("c.jsonl")  # exists from here
    with pytest.raises(InputError) as info:
        resolve_corpus_path(_reports({0: here, 1: {"path": "d.jsonl", "sha256": digest}}), loso)
    assert str(info.value) == (
        f"{loso}: seed reports name different corpora (seed 0: c.jsonl ({digest[:12]}); seed 1: d.jsonl ({digest[:12]}))"
    )
    with pytest.raises(InputError) as info:  # the original kit's plain path pins no bytes: refused
        resolve_corpus_path(_reports({0: here, 1: "c.jsonl"}), loso)
    assert str(info.value).startswith(f"{loso / 'loso_seed1.json'}: corpus must be the object `vmafkit train` writes")
    with pytest.raises(InputError) as info:
        resolve_corpus_path(
            _reports({0: {"path": "c.jsonl", "sha256": digest}, 1: {"path": "c.jsonl", "sha256": "0" * 64}}), loso
        )
    assert str(info.value) == (
        f"{loso}: seed reports name different corpora (seed 0: c.jsonl ({digest[:12]}); seed 1: c.jsonl (000000000000))"
    )
    with pytest.raises(InputError) as info:
        resolve_corpus_path(_reports({0: {"path": "missing.jsonl", "sha256": digest}}), loso)
    assert str(info.value) == "missing.jsonl: corpus named by the seed reports not found"
    with pytest.raises(InputError) as info:
        resolve_corpus_path(_reports({0: {"path": str(corpus), "sha256": "a" * 64}}), loso)
    assert str(info.value) == (
        f"{corpus}: corpus bytes changed since training (sha256 {digest[:12]} != the seed reports' aaaaaaaaaaaa)"
    )


# ----------------------------------------------------------------------------- predictions vs corpus


def test_predictions_must_hold_each_corpus_row_once(tmp_path):
    from vmafkit.corpus.schema import load_corpus
    from vmafkit.decide.calibration import read_predictions

    loso, corpus_path = make_loso_dir(tmp_path, {0: 0.96})
    corpus = load_corpus(corpus_path)
    pred_path = loso / "loso_seed0.predictions.jsonl"
    cols = read_predictions(pred_path)
    check_predictions_match_corpus({0: cols}, {0: pred_path}, corpus, corpus_path)
    short = {k: v[:-1] for k, v in cols.items()}
    with pytest.raises(InputError) as info:
        check_predictions_match_corpus({0: short}, {0: pred_path}, corpus, corpus_path)
    assert str(info.value) == f"{pred_path}: rows do not match the 72 rows of {corpus_path}"
    renumbered = dict(cols, row=cols["row"] + 1)
    with pytest.raises(InputError, match="rows do not match the 72 rows"):
        check_predictions_match_corpus({0: renumbered}, {0: pred_path}, corpus, corpus_path)
    vmaf = cols["vmaf"].copy()
    vmaf[7] += 0.5
    with pytest.raises(InputError) as info:
        check_predictions_match_corpus({0: dict(cols, vmaf=vmaf)}, {0: pred_path}, corpus, corpus_path)
    assert str(info.value) == f"{pred_path}: row 7: vmaf {vmaf[7]!r} is not the corpus's {corpus.vmaf[7]!r}"
    fold = cols["fold"].copy()
    fold[3] = "srcZ"
    with pytest.raises(InputError) as info:
        check_predictions_match_corpus({0: dict(cols, fold=fold)}, {0: pred_path}, corpus, corpus_path)
    assert str(info.value) == f"{pred_path}: fold of some row is not its source group in the corpus"


# ----------------------------------------------------------------------------- build / write


def test_build_verdict_records_what_it_read(tmp_path):
    loso, corpus = make_loso_dir(tmp_path, PASSING)
    ref = tmp_path / "refs"
    ref.mkdir()
    verdict, out_path = build_verdict(loso, [2, 0, 1], ref_dir=ref, argv=["vmafkit", "verdict", "x"], coverage=0.9)
    assert out_path == loso / "PROMOTE.json" and not out_path.exists()  # nothing written
    assert verdict["schema_version"] == V.VERDICT_SCHEMA_VERSION == 1 and verdict["verdict"] == "PROMOTE"
    assert verdict["seeds"] == [0, 1, 2] and verdict["loso_dir"] == str(loso)
    assert verdict["failing_aspects"] == [] and verdict["calibration"]["coverage"] == 0.9
    assert verdict["evidence"] == {
        "seed_reports": [
            {"seed": s, "file": f"loso_seed{s}.json", "sha256": _sha(loso / f"loso_seed{s}.json")} for s in (0, 1, 2)
        ],
        "predictions": [
            {
                "seed": s,
                "file": f"loso_seed{s}.predictions.jsonl",
                "sha256": _sha(loso / f"loso_seed{s}.predictions.jsonl"),
            }
            for s in (0, 1, 2)
        ],
    }
    prov = verdict["run_provenance"]
    assert prov["argv"] == ["vmafkit", "verdict", "x"]
    assert prov["args"] == {
        "loso_dir": str(loso),
        "seeds": [0, 1, 2],
        "ref_dir": str(ref),
        "coverage": 0.9,
        "mean_plcc_min": T.MEAN_PLCC_MIN,
        "plcc_spread_max": T.PLCC_SPREAD_MAX,
        "per_seed_plcc_min": T.PER_SEED_PLCC_MIN,
    }
    assert [i["path"] for i in prov["inputs"]] == (
        [str(loso / f"loso_seed{s}.json") for s in (0, 1, 2)]
        + [str(loso / f"loso_seed{s}.predictions.jsonl") for s in (0, 1, 2)]
        + [str(corpus), str(ref)]
    )
    assert [o["path"] for o in prov["outputs"]] == [str(out_path)]
    assert verdict["corpus"]["ref_dir"]["count"] == 0
    # recomputed from the prediction files' pred_unlabelled (the factory's reports carry none)
    assert verdict["label_sensitivity"]["to_other_encoder"] is None and verdict["recipe"]["name"] == "robust"
    plain, _ = build_verdict(loso, [0, 1, 2], argv=[])
    assert plain["run_provenance"]["args"]["ref_dir"] is None and plain["corpus"]["ref_dir"] is None
    assert plain["calibration"]["coverage"] == T.DEFAULT_COVERAGE and len(plain["run_provenance"]["inputs"]) == 7


def test_build_verdict_calibrates_as_the_recipe_says(tmp_path):
    """Robust recipe: the interval covers the unlabelled predictions too (label_free); seed recipe: not."""
    loso, corpus = make_loso_dir(tmp_path, PASSING)
    robust, _ = build_verdict(loso, [0, 1, 2], argv=[])
    assert robust["calibration"]["label_free"] is True
    for seed in PASSING:
        report = json.loads((loso / f"loso_seed{seed}.json").read_text())
        write_seed_report(loso, seed, corpus, extra={"recipe": {**report["recipe"], "label_mask_rate": 0.0}})
    seed_recipe, _ = build_verdict(loso, [0, 1, 2], argv=[])
    assert seed_recipe["calibration"]["label_free"] is False and seed_recipe["recipe"]["name"] == "seed"


def test_build_verdict_hold_and_write_verdict_replaces_the_other_file(tmp_path):
    loso, _ = make_loso_dir(tmp_path, {0: 0.96, 1: 0.90})
    verdict, out_path = build_verdict(loso, [0, 1], argv=[])
    assert verdict["verdict"] == "HOLD" and out_path == loso / "HOLD.json"
    assert verdict["failing_aspects"] == failing_aspects(verdict["gate"]) and verdict["failing_aspects"]
    (loso / "PROMOTE.json").write_text("{}")
    written, path = write_verdict(loso, [0, 1], argv=[])
    assert path == loso / "HOLD.json" and json.loads(path.read_text()) == json.loads(json.dumps(written))
    assert not (loso / "PROMOTE.json").exists()
    written, path = write_verdict(loso, [0, 1], argv=["vmafkit", "verdict", str(loso)])  # nothing to remove: fine
    assert path.is_file() and written["run_provenance"]["argv"] == ["vmafkit", "verdict", str(loso)]
    assert json.loads(path.read_text())["run_provenance"]["argv"] == ["vmafkit", "verdict", str(loso)]


def test_load_verdict_errors(tmp_path):
    path = tmp_path / "PROMOTE.json"
    with pytest.raises(InputError, match=r"PROMOTE\.json: verdict file not found$"):
        load_verdict(path)
    path.write_text('{"verdict": "PROMOTE"}')
    with pytest.raises(InputError) as info:
        load_verdict(path)
    assert str(info.value).startswith(f"{path}: malformed verdict file: ")


# ----------------------------------------------------------------------------- trusted verdicts


@pytest.fixture
def promoted(tmp_path):
    loso, corpus = make_loso_dir(tmp_path, PASSING)
    verdict, path = write_verdict(loso, [0, 1, 2], argv=[])
    return loso, corpus, path


def test_stale_reason(promoted):
    loso, _, path = promoted
    verdict = json.loads(path.read_text())
    assert stale_reason(verdict, loso) is None
    assert (
        stale_reason({**verdict, "evidence": None}, loso)
        == "it pins no evidence (written by an older vmafkit, or by hand)"
    )
    assert stale_reason({**verdict, "evidence": {}}, loso) is None
    target = loso / "loso_seed1.predictions.jsonl"
    old = _sha(target)
    target.write_text(target.read_text() + "\n")
    assert stale_reason(verdict, loso) == (
        f"loso_seed1.predictions.jsonl changed since the verdict was written "
        f"(sha256 {_sha(target)[:12]} != pinned {old[:12]})"
    )
    (loso / "loso_seed2.json").unlink()
    assert stale_reason(verdict, loso) == "loso_seed2.json (pinned by the verdict) is gone"


def test_trusted_verdict_refusals_name_the_reason(promoted):
    loso, corpus, path = promoted
    assert load_trusted_verdict(path) == json.loads(path.read_text())
    original = path.read_text()
    verdict = json.loads(original)
    (loso / "loso_seed2.json").rename(loso / "moved.json")
    with pytest.raises(RefusedError) as info:
        load_trusted_verdict(path)
    assert str(info.value) == f"{path}: loso_seed2.json (pinned by the verdict) is gone; re-run `vmafkit verdict`"
    (loso / "moved.json").rename(loso / "loso_seed2.json")
    for key, edit in (
        ("gate", lambda v: v["gate"].update(mean_plcc=0.99)),
        ("calibration", lambda v: v["calibration"].update(n_sources=9)),
        ("recipe", lambda v: v["recipe"].update(epochs=99)),
        ("label_sensitivity", lambda v: v.update(label_sensitivity={"to_unknown": None})),
        ("seeds", lambda v: v.update(seeds=[2, 1, 0])),
        # the accuracy terms and the baseline are re-derived too: a flattering RMSE is caught
        ("accuracy", lambda v: v["accuracy"]["pooled"].update(rmse=0.01)),
        ("accuracy", lambda v: v["accuracy"]["baseline"]["pooled"].update(rmse=99.0)),
        ("gate", lambda v: v["gate"]["checks"]["baseline_rmse"].update(threshold=99.0)),
        ("calibration", lambda v: v["calibration"]["refused"].update(rate=0.5)),
    ):
        edited = json.loads(original)
        edit(edited)
        path.write_text(json.dumps(edited))
        with pytest.raises(RefusedError) as info:
            load_trusted_verdict(path)
        assert str(info.value) == (
            f"{path}: {key} does not match what its pinned files give (hand-edited or stale "
            "verdict); re-run `vmafkit verdict`"
        ), key
    edited = json.loads(original)
    edited["corpus"]["rows"] = 71
    path.write_text(json.dumps(edited))
    with pytest.raises(RefusedError) as info:
        load_trusted_verdict(path)
    assert str(info.value) == f"{path}: corpus does not match what its pinned files give (rows 72 != 71)"
    # what a verdict does not decide may differ
    edited = json.loads(original)
    edited.update(generated_at_utc="2000-01-01T00:00:00Z", recommendation="anything", loso_dir="/moved")
    edited["corpus"]["path"] = "/moved/c.jsonl"
    path.write_text(json.dumps(edited))
    assert load_trusted_verdict(path)["loso_dir"] == "/moved"
    assert verdict["verdict"] == "PROMOTE"


def test_trusted_verdict_uses_the_verdicts_own_coverage(tmp_path):
    loso, _ = make_loso_dir(tmp_path, PASSING)
    verdict, path = write_verdict(loso, [0, 1, 2], argv=[], coverage=0.8)
    assert load_trusted_verdict(path)["calibration"]["coverage"] == 0.8


def test_trusted_verdict_whose_evidence_no_longer_checks_out(promoted):
    loso, corpus, path = promoted
    corpus.write_text(corpus.read_text().replace('"cq": 20', '"cq": 21', 1))
    with pytest.raises(RefusedError) as info:
        load_trusted_verdict(path)
    message = str(info.value)
    assert message.startswith(f"{path}: the verdict's evidence no longer checks out ({corpus}: corpus bytes changed")
    assert info.value.exit_code == 3


# ----------------------------------------------------------------------------- full-corpus members


def _refits(loso, seeds):
    for s in seeds:
        (loso / f"loso_seed{s}.refit.json").write_text(json.dumps({"seed": s, "weights": [s, s + 1]}))


def test_refit_files_are_pinned_when_every_seed_has_one(tmp_path):
    loso, corpus = make_loso_dir(tmp_path, PASSING)
    verdict, _ = build_verdict(loso, [0, 1, 2], argv=[])
    assert "refits" not in verdict["evidence"]
    _refits(loso, (0, 1, 2))
    verdict, _ = build_verdict(loso, [0, 1, 2], argv=[])
    assert verdict["evidence"]["refits"] == [
        {"seed": s, "file": f"loso_seed{s}.refit.json", "sha256": _sha(loso / f"loso_seed{s}.refit.json")}
        for s in (0, 1, 2)
    ]
    paths = [i["path"] for i in verdict["run_provenance"]["inputs"]]
    assert paths[6:9] == [str(loso / f"loso_seed{s}.refit.json") for s in (0, 1, 2)] and paths[9] == str(corpus)


def test_refit_files_of_only_some_seeds_are_refused(tmp_path):
    loso, _ = make_loso_dir(tmp_path, PASSING)
    _refits(loso, (1,))
    with pytest.raises(InputError) as info:
        build_verdict(loso, [0, 1, 2], argv=[])
    assert str(info.value) == f"{loso}: full-corpus member files missing for seeds [0, 2] (loso_seed0.refit.json)"


def test_a_changed_refit_file_makes_the_verdict_stale(tmp_path):
    loso, _ = make_loso_dir(tmp_path, PASSING)
    _refits(loso, (0, 1, 2))
    verdict, path = write_verdict(loso, [0, 1, 2], argv=[])
    assert load_trusted_verdict(path)["evidence"]["refits"][0]["seed"] == 0
    refit = loso / "loso_seed1.refit.json"
    old = _sha(refit)
    refit.write_text("{}")
    assert stale_reason(verdict, loso) == (
        f"loso_seed1.refit.json changed since the verdict was written (sha256 {_sha(refit)[:12]} != pinned {old[:12]})"
    )
    with pytest.raises(RefusedError, match=r"loso_seed1\.refit\.json changed since the verdict was written"):
        load_trusted_verdict(path)


def test_utc_now_is_utc_whatever_the_local_zone(monkeypatch):
    import time

    monkeypatch.setenv("TZ", "America/New_York")  # UTC-5 or UTC-4: never equal to UTC
    time.tzset()
    try:
        start = datetime.now(timezone.utc).replace(microsecond=0)
        t = datetime.strptime(utc_now(), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        assert start <= t <= datetime.now(timezone.utc)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_build_verdict_reads_a_corpus_relative_to_the_loso_folder(tmp_path, monkeypatch):
    """A seed report naming the corpus by a relative path that only exists beside the reports."""
    loso, corpus = make_loso_dir(tmp_path, PASSING)
    inner = loso / "corpus.jsonl"
    inner.write_bytes(corpus.read_bytes())
    for seed in PASSING:
        write_seed_report(loso, seed, corpus, extra={"corpus": {"path": "corpus.jsonl", "sha256": _sha(inner)}})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    verdict, out_path = build_verdict(loso, [0, 1, 2], argv=[])
    assert verdict["corpus"]["path"] == str(loso / "corpus.jsonl") and verdict["corpus"]["sha256"] == _sha(inner)
    # the advice names that corpus, and the prediction files it calibrated on
    assert verdict["recommendation"].startswith(
        f"flip seeds smoke->false: vmafkit export --corpus {inner} --verdict {out_path} --out MODELS"
    )
    assert verdict["calibration"]["prediction_files"] == [
        {"seed": s, "path": f"loso_seed{s}.predictions.jsonl", "sha256": _sha(loso / f"loso_seed{s}.predictions.jsonl")}
        for s in (0, 1, 2)
    ]


def test_build_verdict_names_the_corpus_whose_rows_the_predictions_miss(tmp_path):
    loso, corpus = make_loso_dir(tmp_path, {0: 0.96})
    pred = loso / "loso_seed0.predictions.jsonl"
    pred.write_text("".join(line + "\n" for line in pred.read_text().splitlines()[:-1]))  # one row fewer
    write_seed_report(loso, 0, corpus)  # the report agrees with the shorter file
    with pytest.raises(InputError) as info:
        build_verdict(loso, [0], argv=[])
    assert str(info.value) == f"{pred}: rows do not match the 72 rows of {corpus}"
