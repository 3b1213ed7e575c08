"""PROMOTE/HOLD files: exactly one written, the published keys, corpus fingerprint, exit codes."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from vmafkit.decide.verdict import corpus_fingerprint, load_trusted_verdict, same_corpus, write_verdict
from vmafkit.errors import InputError
from vmafkit.io import sha256_file
from vmafkit.media.sources import snapshot_folder
from vmafkit.validation import schema_errors

from ...factories import cli, make_corpus, make_loso_dir, write_seed_report

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
