"""predict: ensemble mean + conformal interval, smoke fallback, CLI == API."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vmafkit.media.score import PairScore
from vmafkit.serve.export import ort_session
from vmafkit.serve.predict import MODE_ENSEMBLE, MODE_SMOKE, load_ensemble, merge_members, predict_features, run_batched
from vmafkit.serve.registry import flip
from vmafkit.train.features import FeatureSpec

from ...factories import cli, export_models, private_copy, read_rows

ID = "fr_regressor_v2_ensemble_v1"
C6 = ("adm2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3", "motion2")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return export_models(tmp_path_factory.mktemp("pred"), seeds=(0, 1, 2))


@pytest.fixture
def models(pristine, tmp_path):
    return private_copy(pristine, tmp_path)


def _features_file(tmp_path, corpus, n=30):
    rows = read_rows(corpus)[:n]
    path = tmp_path / "feats.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {
                    **{k: r[k] for k in C6},
                    "frame_index": r["frame_index"],
                    "vmaf": r["vmaf"],
                    "cq": r["cq"],
                    "src": r["src"],
                }
            )
            + "\n"
            for r in rows
        )
    )
    return path, rows


def _half_width(calibration_part, coverage=0.95):
    """The interval's rule, by hand: each source's `coverage` quantile of its residuals (numpy's
    inverse empirical CDF), then across the 3 sources k = min(3, ceil(4 * 0.9)) = 3: the largest."""
    return max(float(np.quantile(v, coverage, method="inverted_cdf")) for v in calibration_part["sources"].values())


def _member_scores(models, seeds, rows, encoder="libx264", preset="medium"):
    sidecar = json.loads((models / f"{ID}_seed0.json").read_text())
    spec = FeatureSpec.from_json(sidecar["feature_spec"])
    feats = np.array([[r[k] for k in C6] for r in rows], dtype=np.float32)
    codec = spec.codec_block([encoder] * len(rows), [preset] * len(rows), np.array([r["cq"] for r in rows], float))
    out = [
        ort_session(models / f"{ID}_seed{s}.onnx").run(
            ["score"], {"features": feats, "codec_onehot": codec.astype(np.float32)}
        )[0]
        for s in seeds
    ]
    return np.array(out, dtype=np.float64)


def test_smoke_falls_back_to_lowest_seed(models, tmp_path):
    m, _, corpus = models
    path, rows = _features_file(tmp_path, corpus)
    result = cli(
        ["predict", "--models", m, "--features", path, "--encoder", "libx264", "--preset", "medium", "--json", "-"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["mode"] == MODE_SMOKE == "smoke-single-member" and out["members"] == [0]
    assert "smoke=true" in result.stderr and "ONE member" in result.stderr
    expected = _member_scores(m, [0], rows)[0]
    np.testing.assert_allclose([f["score"] for f in out["frames"]], expected, atol=1e-5)
    cal = json.loads((m / f"{ID}_calibration.json").read_text())
    h = _half_width(cal["single_member"]["frame"])
    assert (
        out["interval"]["frame_half_width"] == pytest.approx(h, abs=1e-12)
        and out["interval"]["calibrated_on"] == "seed 0 alone"
    )


def test_ensemble_after_flip_and_cli_equals_api(models, tmp_path):
    m, verdict_path, corpus = models
    flip(m / "registry.json", verdict_path)
    path, rows = _features_file(tmp_path, corpus)
    out_path = tmp_path / "pred.json"
    result = cli(
        ["predict", "--models", m, "--features", path, "--encoder", "libx264", "--preset", "medium", "--json", out_path]
    )
    assert result.exit_code == 0, result.output
    cli_out = json.loads(out_path.read_text())
    assert cli_out["mode"] == MODE_ENSEMBLE and cli_out["members"] == [0, 1, 2]
    assert result.stderr == ""
    api_rows = [json.loads(line) for line in path.read_text().splitlines()]
    api_out = predict_features(m, api_rows, encoder="libx264", preset="medium")
    assert json.loads(json.dumps(api_out)) == cli_out  # the same numbers, bit for bit
    members = _member_scores(m, [0, 1, 2], rows)
    scores = np.array([f["score"] for f in cli_out["frames"]])
    # predict serves the member mean clipped to the VMAF range [0, 100]
    np.testing.assert_allclose(scores, np.clip(members.mean(axis=0), 0.0, 100.0), atol=1e-5)
    cal = json.loads((m / f"{ID}_calibration.json").read_text())
    norm = cal["ensemble"]["normalisation"]
    # an adaptive calibration scales each frame's half-width by (the members' spread + the offset)
    scale = members.std(axis=0)[0] + norm["offset"] if norm["kind"] == "ensemble-spread" else 1.0
    h = _half_width(cal["ensemble"]["frame"]) * scale
    frame = cli_out["frames"][0]
    assert frame["lower"] == pytest.approx(max(0.0, frame["score"] - h))
    assert frame["upper"] == pytest.approx(min(100.0, frame["score"] + h))
    assert cli_out["interval"]["guarantee"].startswith(
        "with 90% confidence (a tolerance bound over 3 LOSO sources), at least 46% of new sources"
    )
    assert frame["vmaf"] == rows[0]["vmaf"]
    # clips: (src, encoder, preset, cq) groups; score = mean of its frames
    for clip in cli_out["clips"]:
        mine = [f["score"] for f in cli_out["frames"] if f["clip"] == clip["clip"]]
        assert clip["n_frames"] == len(mine) and clip["score"] == pytest.approx(np.mean(mine))
    assert sum(c["n_frames"] for c in cli_out["clips"]) == len(rows)
    assert {(c["name"], c["cq"]) for c in cli_out["clips"]} == {(r["src"], float(r["cq"])) for r in rows}


def test_coverage_changes_width(models, tmp_path):
    m, verdict_path, corpus = models
    flip(m / "registry.json", verdict_path)
    _, rows = _features_file(tmp_path, corpus)
    narrow = predict_features(m, rows, encoder="libx264", coverage=0.5)["interval"]["frame_half_width"]
    wide = predict_features(m, rows, encoder="libx264", coverage=0.9)["interval"]["frame_half_width"]
    assert narrow < wide


def test_labels_are_optional_but_features_must_be_in_domain(models, tmp_path):
    """A robust-recipe ensemble answers without cq/encoder/preset; features far outside what it
    was trained on (adm2 0.5 < the corpus's minimum 0.79) are refused, exit 2, naming the row."""
    m, _, corpus = models
    path, rows = _features_file(tmp_path, corpus, n=3)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    for line in lines:
        line.pop("cq")
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    ok = cli(["predict", "--models", m, "--features", path, "--json", "-"])
    assert ok.exit_code == 0, ok.output
    assert "encoder/preset/cq not given" in ok.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({k: 0.5 for k in C6}) + "\n")
    result = cli(["predict", "--models", m, "--features", bad])
    assert result.exit_code == 2 and f"{bad}:1: outside the training domain: adm2 0.5 is outside" in result.stderr
    bad.write_text('{"adm2": 1}\n')
    result = cli(["predict", "--models", m, "--features", bad, "--cq", "30"])
    assert result.exit_code == 2 and "missing vif_scale0" in result.stderr


def test_needs_exactly_one_input(models, tmp_path):
    m, _, _ = models
    assert cli(["predict", "--models", m]).exit_code == 2
    assert cli(["predict", "--models", m, "--ref", tmp_path / "a.yuv"]).exit_code == 2


def test_input_schema_guard(models, tmp_path):
    m, _, corpus = models
    data = json.loads((m / "registry.json").read_text())
    for row in data["models"]:
        row["input_schema_hash"] = "f" * 64
    (m / "registry.json").write_text(json.dumps(data))
    path, _ = _features_file(tmp_path, corpus)
    result = cli(["predict", "--models", m, "--features", path])
    assert result.exit_code == 2 and "input_schema_hash" in result.stderr


@pytest.mark.fake
def test_ref_dis_path_uses_score_pair(models, tmp_path, monkeypatch):
    """FAKE libvmaf: score_pair is replaced by canned frames (the real path is covered by e2e)."""
    m, _, corpus = models
    _, rows = _features_file(tmp_path, corpus, n=4)
    frames = [{"frame_index": i, "vmaf": r["vmaf"], **{k: r[k] for k in C6}} for i, r in enumerate(rows)]
    import vmafkit.media.score as score_mod

    calls = []

    def fake_score_pair(ref, dis, **kwargs):
        calls.append((ref, dis, kwargs))
        return PairScore(frames=frames, mean={}, backend="fake", libvmaf_version=None)

    monkeypatch.setattr(score_mod, "score_pair", fake_score_pair)
    result = cli(
        [
            "predict",
            "--models",
            m,
            "--ref",
            tmp_path / "r.y4m",
            "--dis",
            tmp_path / "d.mp4",
            "--cq",
            "30",
            "--encoder",
            "libx264",
            "--preset",
            "medium",
            "--max-frames",
            "4",
            "--json",
            "-",
        ]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert len(calls) == 1 and calls[0][2]["max_frames"] == 4
    assert [str(calls[0][0]), str(calls[0][1])] == [str(tmp_path / "r.y4m"), str(tmp_path / "d.mp4")]
    assert out["n_frames"] == 4 and out["clips"][0]["name"] == "d.mp4" and out["source"]["backend"] == "fake"
    assert out["mode"] == MODE_SMOKE and out["members"] == [0]
    # the oracle: seed 0's ONNX file run directly by onnxruntime on the canned features with the
    # command line's labels (libx264, medium, cq 30); the clip score is the mean of its frames
    expected = _member_scores(m, [0], [{**f, "cq": 30} for f in frames])[0]
    np.testing.assert_allclose([f["score"] for f in out["frames"]], expected, atol=1e-5)
    assert [f["frame_index"] for f in out["frames"]] == [0, 1, 2, 3]
    assert [f["vmaf"] for f in out["frames"]] == [r["vmaf"] for r in rows]  # the teacher, echoed
    assert len(out["clips"]) == 1
    clip = out["clips"][0]
    assert (clip["encoder"], clip["preset"], clip["cq"], clip["n_frames"]) == ("libx264", "medium", 30.0, 4)
    assert clip["score"] == pytest.approx(float(np.mean(expected)), abs=1e-5)
    h_clip = _half_width(json.loads((m / f"{ID}_calibration.json").read_text())["single_member"]["clip"])
    assert clip["lower"] == pytest.approx(max(0.0, clip["score"] - h_clip))
    assert clip["upper"] == pytest.approx(min(100.0, clip["score"] + h_clip))
    assert clip["vmaf"] == pytest.approx(float(np.mean([r["vmaf"] for r in rows])))


def test_merged_graph_equals_member_mean(models):
    m, _, _ = models
    paths = [m / f"{ID}_seed{s}.onnx" for s in (0, 1, 2)]
    rng = np.random.default_rng(0)
    feats = rng.random((5000, 6), dtype=np.float32)
    codec = np.zeros((5000, 14), np.float32)
    codec[:, 0] = 1
    codec[:, 13] = rng.random(5000, dtype=np.float32)
    merged = run_batched(ort_session(merge_members(paths)), feats, codec, batch=1024, threads=2)
    single = run_batched(ort_session(merge_members(paths)), feats, codec, batch=1024, threads=1)
    assert np.array_equal(merged, single)
    mean = np.mean(
        [ort_session(p).run(["score"], {"features": feats, "codec_onehot": codec})[0] for p in paths], axis=0
    )
    np.testing.assert_allclose(merged, mean, atol=1e-5)
    assert load_ensemble(m).mode == MODE_SMOKE
