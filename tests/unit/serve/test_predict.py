"""predict: ensemble mean + conformal interval, smoke fallback, CLI == API.

Edge cases of predict found by mutation testing (tools/mutation.py).

Oracles: a fake onnxruntime session whose output is a known function of its inputs (so every
batch and every row can be checked), tiny ONNX graphs built here by hand and run member by member
with onnxruntime, and the real exported members run directly (factories.export_models).
"""

from __future__ import annotations

import json
import math
import threading

import numpy as np
import pytest

from vmafkit import thresholds as T
from vmafkit.errors import InputError
from vmafkit.media.score import PairScore
from vmafkit.serve.export import ort_session
from vmafkit.serve.predict import (
    MODE_ENSEMBLE,
    MODE_SMOKE,
    known_encoder,
    load_ensemble,
    merge_members,
    predict_features,
    predict_pair,
    read_feature_rows,
    run_batched,
)
from vmafkit.serve.registry import flip
from vmafkit.train.features import FeatureSpec

from ...factories import cli, read_rows

ID = "fr_regressor_v2_ensemble_v1"
C6 = ("adm2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3", "motion2")


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


def test_smoke_falls_back_to_lowest_seed(three_seeds, tmp_path):
    m, _, corpus = three_seeds
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


def test_ensemble_after_flip_and_cli_equals_api(three_seeds, tmp_path):
    m, verdict_path, corpus = three_seeds
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


def test_coverage_changes_width(three_seeds, tmp_path):
    m, verdict_path, corpus = three_seeds
    flip(m / "registry.json", verdict_path)
    _, rows = _features_file(tmp_path, corpus)
    narrow = predict_features(m, rows, encoder="libx264", coverage=0.5)["interval"]["frame_half_width"]
    wide = predict_features(m, rows, encoder="libx264", coverage=0.9)["interval"]["frame_half_width"]
    assert narrow < wide


def test_labels_are_optional_but_features_must_be_in_domain(three_seeds, tmp_path):
    """A robust-recipe ensemble answers without cq/encoder/preset; features far outside what it
    was trained on (adm2 0.5 < the corpus's minimum 0.79) are refused, exit 2, naming the row."""
    m, _, corpus = three_seeds
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


def test_needs_exactly_one_input(three_seeds, tmp_path):
    m, _, _ = three_seeds
    assert cli(["predict", "--models", m]).exit_code == 2
    assert cli(["predict", "--models", m, "--ref", tmp_path / "a.yuv"]).exit_code == 2


def test_input_schema_guard(three_seeds, tmp_path):
    m, _, corpus = three_seeds
    data = json.loads((m / "registry.json").read_text())
    for row in data["models"]:
        row["input_schema_hash"] = "f" * 64
    (m / "registry.json").write_text(json.dumps(data))
    path, _ = _features_file(tmp_path, corpus)
    result = cli(["predict", "--models", m, "--features", path])
    assert result.exit_code == 2 and "input_schema_hash" in result.stderr


@pytest.mark.fake
def test_ref_dis_path_uses_score_pair(three_seeds, tmp_path, monkeypatch):
    """FAKE libvmaf: score_pair is replaced by canned frames (the real path is covered by e2e)."""
    m, _, corpus = three_seeds
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


def test_merged_graph_equals_member_mean(three_seeds):
    m, _, _ = three_seeds
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


# ----------------------------------------------------------------------------- run_batched


class FakeSession:
    """score = sum of the features + 10 * argmax of the codec block; records every call."""

    def __init__(self):
        self.calls: list[tuple[int, int, int]] = []  # (thread, first feature value, rows)
        self.lock = threading.Lock()

    def run(self, names, feeds):
        assert names == ["score"], names
        assert set(feeds) == {"features", "codec_onehot"}
        feats, codec = feeds["features"], feeds["codec_onehot"]
        assert feats.dtype == np.float32 and codec.dtype == np.float32
        assert feats.flags["C_CONTIGUOUS"] and codec.flags["C_CONTIGUOUS"]
        with self.lock:
            self.calls.append((threading.get_ident(), float(feats[0, 0]), feats.shape[0]))
        return [(feats.sum(axis=1) + 10.0 * codec.argmax(axis=1)).astype(np.float64)]


def _inputs(n):
    feats = np.zeros((n, 6), dtype=np.float64)
    feats[:, 0] = np.arange(n)  # row i's first feature is i: each call names its first row
    codec = np.zeros((n, 14))
    codec[np.arange(n), np.arange(n) % 14] = 1.0
    return np.asfortranarray(feats), codec


def _expected(n):
    return (np.arange(n) + 10.0 * (np.arange(n) % 14)).astype(np.float32)


def test_run_batched_runs_each_batch_once_in_order_in_the_callers_thread():
    session = FakeSession()
    feats, codec = _inputs(10)
    out = run_batched(session, feats, codec, batch=4)
    assert out.dtype == np.float32 and out.shape == (10,)
    np.testing.assert_array_equal(out, _expected(10))
    me = threading.get_ident()
    assert session.calls == [(me, 0.0, 4), (me, 4.0, 4), (me, 8.0, 2)]  # default: one thread, the caller's


def test_run_batched_default_batch():
    session = FakeSession()
    feats, codec = _inputs(5000)
    np.testing.assert_array_equal(run_batched(session, feats, codec), _expected(5000))
    assert [c[1:] for c in session.calls] == [(0.0, 4096), (4096.0, 904)]


@pytest.mark.parametrize("threads, batches", [(2, 4), (3, 7), (2, 1), (8, 3)])
def test_run_batched_threads_share_the_batches_once_each(threads, batches):
    session = FakeSession()
    n = 3 * batches - 1  # the last batch is short
    feats, codec = _inputs(n)
    out = run_batched(session, feats, codec, batch=3, threads=threads)
    np.testing.assert_array_equal(out, _expected(n))
    assert sorted(c[1:] for c in session.calls) == [(3.0 * b, 3 if b < batches - 1 else 2) for b in range(batches)]
    used = {c[0] for c in session.calls}
    assert len(used) <= min(threads, batches)
    if min(threads, batches) == 1:
        assert used == {threading.get_ident()}
    else:
        assert threading.get_ident() not in used


def test_run_batched_with_one_thread_never_leaves_the_caller():
    session = FakeSession()
    feats, codec = _inputs(9)
    run_batched(session, feats, codec, batch=2, threads=1)
    assert {c[0] for c in session.calls} == {threading.get_ident()} and len(session.calls) == 5


# ----------------------------------------------------------------------------- merge_members


def _tiny_member(cap: float, scale: float) -> bytes:
    """score = Clip(scale * sum(features), <no min>, cap): an optional input left empty (""),
    which a merge must not rename."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("ReduceSum", ["features", "axes"], ["s"], keepdims=0, name="sum"),
            helper.make_node("Mul", ["s", "k"], ["ks"], name="scale"),
            helper.make_node("Clip", ["ks", "", "cap"], ["score"], name="clip"),
        ],
        "member",
        [
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 6]),
            helper.make_tensor_value_info("codec_onehot", TensorProto.FLOAT, ["N", 14]),
        ],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"])],
        initializer=[
            helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
            helper.make_tensor("k", TensorProto.FLOAT, [], [scale]),
            helper.make_tensor("cap", TensorProto.FLOAT, [], [cap]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", T.EXPORT_OPSET)], producer_name="test")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _run(model_bytes, feats, codec):
    return ort_session(model_bytes).run(["score"], {"features": feats, "codec_onehot": codec})[0]


@pytest.mark.parametrize("k", [1, 2, 3])
def test_merge_of_hand_built_members_is_their_mean(k):
    import onnx

    members = [_tiny_member(cap=2.0 + i, scale=1.0 + 0.5 * i) for i in range(k)]
    rng = np.random.default_rng(k)
    feats = rng.random((50, 6), dtype=np.float32)
    codec = np.zeros((50, 14), np.float32)
    expected = np.mean([_run(m, feats, codec) for m in members], axis=0)
    assert np.ptp(expected) > 0 and (k == 1 or not np.allclose(_run(members[0], feats, codec), expected))
    merged = merge_members(members)
    np.testing.assert_allclose(_run(merged, feats, codec), expected, rtol=1e-6)
    model = onnx.load_from_string(merged)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", T.EXPORT_OPSET)]
    assert model.ir_version == 8
    assert [i.name for i in model.graph.input] == ["features", "codec_onehot"]
    assert [o.name for o in model.graph.output] == (["score"] if k == 1 else ["score", "spread"])
    if k > 1:
        assert model.producer_name == "vmafkit" and model.graph.name == "vmafkit_ensemble"
        # the spread output is the members' population standard deviation (numpy's std, ddof 0)
        spread = ort_session(merged).run(["spread"], {"features": feats, "codec_onehot": codec})[0]
        np.testing.assert_allclose(spread, np.std([_run(m, feats, codec) for m in members], axis=0), atol=1e-5)
        assert any(n.op_type == "Mean" and n.name == "ensemble_mean" for n in model.graph.node)
        member_nodes = sorted(n.name for n in model.graph.node if n.name.startswith("m") and "_" in n.name)
        assert member_nodes == sorted(f"m{i}_{name}" for i in range(k) for name in ("sum", "scale", "clip"))


def test_merge_of_one_member_is_that_member(tmp_path):
    member = _tiny_member(cap=3.0, scale=2.0)
    path = tmp_path / "m.onnx"
    path.write_bytes(member)
    assert merge_members([path]) == merge_members([member])
    feats = np.ones((3, 6), np.float32)
    np.testing.assert_allclose(_run(merge_members([path]), feats, np.zeros((3, 14), np.float32)), [3.0, 3.0, 3.0])


def test_merge_accepts_paths_and_bytes_alike(tmp_path):
    members = [_tiny_member(cap=9.0, scale=1.0), _tiny_member(cap=9.0, scale=3.0)]
    paths = []
    for i, m in enumerate(members):
        paths.append(tmp_path / f"m{i}.onnx")
        paths[-1].write_bytes(m)
    assert merge_members(paths) == merge_members(members) == merge_members([paths[0], members[1]])
    feats = np.full((2, 6), 0.5, np.float32)  # sum 3: members give 3 and 9, mean 6
    np.testing.assert_allclose(_run(merge_members(paths), feats, np.zeros((2, 14), np.float32)), [6.0, 6.0])


# ----------------------------------------------------------------------------- encoders, labels, rows


def test_known_encoder_hints():
    assert known_encoder("libx264", "x") == "libx264"
    assert known_encoder("unknown", "x") is None  # "unknown" = not given
    with pytest.raises(InputError) as info:
        known_encoder("LIBX264", "row 3")
    assert str(info.value) == "row 3: encoder 'LIBX264' is not an encoder vmafkit knows; did you mean libx264?"
    with pytest.raises(InputError) as info:
        known_encoder("h264_nvnc", "--encoder")
    assert str(info.value) == (
        "--encoder: encoder 'h264_nvnc' is not an encoder vmafkit knows; "
        "did you mean h264_nvenc or h264_qsv or hevc_nvenc?"
    )
    from vmafkit.media.encoders import ADAPTERS

    with pytest.raises(InputError) as info:
        known_encoder("zzzzzz", "row 1")
    assert str(info.value) == (
        f"row 1: encoder 'zzzzzz' is not an encoder vmafkit knows; known: {', '.join(sorted(ADAPTERS))}"
    )
    assert str(info.value).index("av1_amf") < str(info.value).index("libx265")


def test_read_feature_rows(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_text('{"adm2": 1}\n\n{"adm2": 0.5}\n')
    assert read_feature_rows(path) == [{"adm2": 1, "_where": f"{path}:1"}, {"adm2": 0.5, "_where": f"{path}:3"}]
    path.write_text("\n\n")
    with pytest.raises(InputError) as info:
        read_feature_rows(path)
    assert str(info.value) == f"{path}: features file has no rows"
    with pytest.raises(InputError, match=r"gone\.jsonl: features file not found$"):
        read_feature_rows(tmp_path / "gone.jsonl")


# ----------------------------------------------------------------------------- the exported ensemble


def _rows(corpus, n=6, **extra):
    return [
        {
            **{k: r[k] for k in C6},
            "frame_index": r["frame_index"],
            "vmaf": r["vmaf"],
            "cq": r["cq"],
            "src": r["src"],
            **extra,
        }
        for r in read_rows(corpus)[:n]
    ]


def _member_scores_edges(m, seeds, rows, encoder="libx264", preset="medium"):
    """The oracle: each member's ONNX file run by onnxruntime directly on the rows."""
    sidecar = json.loads((m / f"{ID}_seed0.json").read_text())
    spec = FeatureSpec.from_json(sidecar["feature_spec"])
    feats = np.array([[r[k] for k in C6] for r in rows], dtype=np.float32)
    n = len(rows)
    cqs = np.array([r.get("cq", math.nan) for r in rows], float)
    codec = spec.codec_block([encoder] * n, [preset] * n, cqs).astype(np.float32)
    return np.array(
        [
            ort_session(m / f"{ID}_seed{s}.onnx").run(["score"], {"features": feats, "codec_onehot": codec})[0]
            for s in seeds
        ],
        dtype=np.float64,
    )


def test_rows_without_where_are_named_by_their_position(models):
    m, _, corpus = models
    rows = _rows(corpus, 3)
    del rows[1]["vif_scale1"]
    with pytest.raises(InputError) as info:
        predict_features(m, rows, encoder="libx264", preset="medium")
    assert str(info.value) == "row 2: missing vif_scale1"
    rows = _rows(corpus, 3)
    rows[2]["encoder"] = 264
    with pytest.raises(InputError) as info:
        predict_features(m, rows)
    assert str(info.value) == "row 3: encoder must be a string, got 264"
    rows = _rows(corpus, 3)
    rows[1]["encoder"] = "x264"
    with pytest.raises(InputError) as info:
        predict_features(m, rows)
    assert str(info.value).startswith("row 2: encoder 'x264' is not an encoder vmafkit knows; did you mean libx264")


@pytest.mark.parametrize("bad", [True, 3.5, ["medium"]])
def test_preset_must_be_a_string(models, bad):
    m, _, corpus = models
    rows = _rows(corpus, 2)
    rows[1]["preset"] = bad
    with pytest.raises(InputError) as info:
        predict_features(m, rows, encoder="libx264")
    assert str(info.value) == f"row 2: preset must be a string, got {bad!r}"


@pytest.mark.parametrize("bad", [True, "30", math.nan, math.inf])
def test_cq_must_be_a_finite_number(models, bad):
    m, _, corpus = models
    rows = _rows(corpus, 2)
    rows[0]["cq"] = bad
    with pytest.raises(InputError) as info:
        predict_features(m, rows, encoder="libx264", preset="medium")
    assert str(info.value) == f"row 1: cq must be a finite number, got {bad!r}"


def test_a_keyword_fills_only_rows_that_do_not_say_their_own(models):
    """Rows 0-2 say preset "fast" (untrained): only they are outside; rows 3-5 say nothing and take
    the keyword... unless the keyword contradicts a row that does say (issue 20: which one was meant
    cannot be guessed, so it is refused). The clips split by preset; the unknown encoder name
    "unknown" = not given."""
    m, _, corpus = models
    rows = _rows(corpus, 6)
    for r in rows[:3]:
        r["preset"] = "fast"
    with pytest.raises(InputError, match=r"row 1: the row's preset 'fast' contradicts --preset 'medium'"):
        predict_features(m, rows, encoder="libx264", preset="medium", allow_out_of_domain=True)
    for r in rows[3:]:
        r["preset"] = "medium"
    out = predict_features(m, rows, encoder="libx264", allow_out_of_domain=True)
    assert [f["in_domain"] for f in out["frames"]] == [False] * 3 + [True] * 3
    assert all("preset fast was not trained for libx264" in f["out_of_domain"] for f in out["frames"][:3])
    assert {(c["preset"], c["in_domain"]) for c in out["clips"]} == {("fast", False), ("medium", True)}
    free = predict_features(m, _rows(corpus, 3), encoder="unknown", preset="medium")
    assert {c["encoder"] for c in free["clips"]} == {None}
    assert "encoder not given for some rows: predicted without them (robust recipe)" in free["notes"]


def _fake_pair(monkeypatch, frames, calls):
    import vmafkit.media.score as score_mod

    def fake_score_pair(ref, dis, **kwargs):
        calls.append((ref, dis, kwargs))
        return PairScore(frames=frames, mean={}, backend="fake-backend", libvmaf_version="v9.9.9")

    monkeypatch.setattr(score_mod, "score_pair", fake_score_pair)


@pytest.mark.fake
def test_predict_pair_is_predict_features_of_the_scored_frames(models, monkeypatch, tmp_path):
    """FAKE libvmaf (score_pair returns canned frames): predict_pair == predict_features of those
    frames with the same labels and coverage, plus where they came from."""
    m, verdict_path, corpus = models
    flip(m / "registry.json", verdict_path)
    frames = [{k: r[k] for k in C6} | {"frame_index": i} for i, r in enumerate(read_rows(corpus)[:4])]
    calls = []
    _fake_pair(monkeypatch, frames, calls)
    out = predict_pair(
        m,
        tmp_path / "ref.y4m",
        tmp_path / "dis.mp4",
        encoder="libx264",
        preset="medium",
        cq=30,
        coverage=0.5,
        model_id=ID,
        max_frames=4,
    )
    # scored with the libvmaf model the ensemble was trained on (its corpus's: the default)
    assert calls == [(tmp_path / "ref.y4m", tmp_path / "dis.mp4", {"max_frames": 4, "vmaf_model": "vmaf_v0.6.1"})]
    assert out["source"] == {
        "ref": str(tmp_path / "ref.y4m"),
        "dis": str(tmp_path / "dis.mp4"),
        "backend": "fake-backend",
        "libvmaf_version": "v9.9.9",
    }
    direct = predict_features(m, frames, encoder="libx264", preset="medium", cq=30, clip="dis.mp4", coverage=0.5)
    assert {k: v for k, v in out.items() if k != "source"} == direct
    assert out["coverage"] == 0.5 and out["clips"][0]["name"] == "dis.mp4" and out["mode"] == MODE_ENSEMBLE
    np.testing.assert_allclose(
        [f["score"] for f in out["frames"]],
        _member_scores_edges(m, [0, 1], [{**f, "cq": 30} for f in frames]).mean(axis=0),
        atol=1e-5,
    )


@pytest.mark.fake
def test_predict_pair_without_labels_and_out_of_domain(models, monkeypatch, tmp_path):
    m, _, corpus = models
    frames = [{k: r[k] for k in C6} for r in read_rows(corpus)[:3]]
    frames[1] = {**frames[1], "adm2": 0.1}  # far below the trained range
    calls = []
    _fake_pair(monkeypatch, frames, calls)
    with pytest.raises(InputError, match="outside the training domain"):
        predict_pair(m, "r.y4m", "d.mp4")
    out = predict_pair(m, "r.y4m", "d.mp4", allow_out_of_domain=True)
    assert [f["in_domain"] for f in out["frames"]] == [True, False, True]
    assert out["mode"] == MODE_SMOKE and out["clips"][0]["encoder"] is None


@pytest.mark.fake
def test_predict_pair_refuses_an_encoder_typo_before_scoring(models, monkeypatch):
    m, _, _ = models
    calls = []
    _fake_pair(monkeypatch, [], calls)
    with pytest.raises(InputError) as info:
        predict_pair(m, "r.y4m", "d.mp4", encoder="libx246")
    assert str(info.value).startswith("--encoder: encoder 'libx246' is not an encoder vmafkit knows; did you mean")
    assert calls == []


def test_features_of_another_libvmaf_model_are_outside_the_domain(models):
    m, _, corpus = models
    sidecar = json.loads((m / f"{ID}_seed0.json").read_text())
    assert sidecar["domain"]["vmaf_model"] == "vmaf_v0.6.1"  # the corpus's rows carry no model: the default
    assert predict_features(m, _rows(corpus, 3, vmaf_model="vmaf_v0.6.1"))["domain"]["n_outside"] == 0
    rows = _rows(corpus, 3)
    rows[1]["vmaf_model"] = "vmaf_v0.6.1neg"
    with pytest.raises(InputError) as info:
        predict_features(m, rows)
    assert str(info.value).startswith(
        "row 2: outside the training domain: features of libvmaf model vmaf_v0.6.1neg, but this ensemble was "
        "trained on vmaf_v0.6.1's (1 of 3 rows outside; trained on libx264"
    )
    assert "; libvmaf model vmaf_v0.6.1)" in str(info.value)
    out = predict_features(m, _rows(corpus, 3), vmaf_model="vmaf_4k_v0.6.1", allow_out_of_domain=True)
    assert [f["in_domain"] for f in out["frames"]] == [False] * 3
    assert out["frames"][0]["out_of_domain"].startswith("features of libvmaf model vmaf_4k_v0.6.1, but")
    rows = _rows(corpus, 2)
    rows[0]["vmaf_model"] = 7
    with pytest.raises(InputError, match="^row 1: vmaf_model must be a model name, got 7$"):
        predict_features(m, rows)


@pytest.mark.fake
def test_predict_pair_scores_with_the_ensembles_own_model(models, monkeypatch):
    """FAKE libvmaf: a NEG-trained ensemble (its domain says so) has the pair scored with the NEG
    model, and its features are then inside; an old sidecar without the key means vmaf_v0.6.1."""
    m, _, corpus = models
    frames = [{k: r[k] for k in C6} for r in read_rows(corpus)[:3]]
    calls = []
    _fake_pair(monkeypatch, frames, calls)
    ens = load_ensemble(m)
    ens.domain = {**ens.domain, "vmaf_model": "vmaf_v0.6.1neg"}
    out = predict_pair(ens, "r.y4m", "d.mp4", max_frames=3)
    assert calls[-1][2] == {"max_frames": 3, "vmaf_model": "vmaf_v0.6.1neg"}
    assert out["domain"]["n_outside"] == 0
    with pytest.raises(InputError, match="features of libvmaf model vmaf_v0.6.1, but this ensemble was trained on"):
        predict_pair(ens, "r.y4m", "d.mp4", vmaf_model="vmaf_v0.6.1")
    del ens.domain["vmaf_model"]
    predict_pair(ens, "r.y4m", "d.mp4")
    assert calls[-1][2] == {"vmaf_model": "vmaf_v0.6.1"}


def test_predict_pair_with_an_unknown_model_id(models):
    m, _, _ = models
    with pytest.raises(InputError, match=r"no exported members of ensemble 'nope'"):
        predict_pair(m, "r.y4m", "d.mp4", model_id="nope")


# ----------------------------------------------------------------------------- predict_features


@pytest.mark.parametrize("coverage", [0.0, 1.0, 2.0, -0.1])
def test_coverage_must_be_inside_the_open_unit_interval(models, coverage):
    m, _, corpus = models
    with pytest.raises(InputError) as info:
        predict_features(m, _rows(corpus, 2), encoder="libx264", preset="medium", coverage=coverage)
    assert str(info.value) == f"--coverage must be in (0, 1), got {coverage}"


def test_no_rows_and_unknown_model_id(models):
    m, _, corpus = models
    with pytest.raises(InputError, match=r"^no feature rows to predict$"):
        predict_features(m, [])
    with pytest.raises(InputError, match=r"no exported members of ensemble 'other'"):
        predict_features(m, _rows(corpus, 2), model_id="other")
    assert predict_features(m, _rows(corpus, 2), model_id=ID, encoder="libx264")["model"] == ID


def test_out_of_domain_is_refused_by_default_naming_the_row(models):
    m, _, corpus = models
    rows = _rows(corpus, 4)
    rows[2]["adm2"] = 0.1
    with pytest.raises(InputError) as info:
        predict_features(m, rows, encoder="libx264", preset="medium")
    message = str(info.value)
    assert message.startswith("row 3: outside the training domain: adm2 0.1 is outside")
    assert "(1 of 4 rows outside; trained on libx264" in message
    assert message.endswith("--allow-out-of-domain serves them marked in_domain: false")
    out = predict_features(m, rows, encoder="libx264", preset="medium", allow_out_of_domain=True)
    assert "1 of 4 rows are outside the training domain: scored, marked in_domain: false, no interval" in out["notes"]
    assert out["domain"]["n_outside"] == 1
    frame = out["frames"][2]
    assert frame["in_domain"] is False and frame["lower"] is None and frame["upper"] is None
    assert frame["out_of_domain"].startswith("adm2 0.1 is outside")


def test_clip_names(models):
    m, _, corpus = models
    rows = _rows(corpus, 4)
    for r in rows:
        r.pop("src")
    rows[0]["clip"] = "mine.mp4"
    rows[1]["src"] = "from-src"
    rows[2]["clip"], rows[2]["src"] = "clip-wins", "src-loses"
    out = predict_features(m, rows, encoder="libx264", preset="medium")
    assert [c["name"] for c in out["clips"]] == ["mine.mp4", "from-src", "clip-wins", "clip"]
    named = predict_features(m, rows, encoder="libx264", preset="medium", clip="kw.mp4")
    assert [c["name"] for c in named["clips"]] == ["mine.mp4", "from-src", "clip-wins", "kw.mp4"]


def test_labels_not_given_are_the_unknown_codec_slot(models):
    """With no encoder, preset or cq, every member is asked with the codec block the feature spec
    defines for "not given" (encoder "unknown", preset "", cq NaN): the oracle runs the ONNX
    members on that block directly."""
    m, verdict_path, corpus = models
    flip(m / "registry.json", verdict_path)
    rows = [{k: v for k, v in r.items() if k != "cq"} for r in _rows(corpus, 5)]
    out = predict_features(m, rows)
    expected = _member_scores_edges(m, [0, 1], rows, encoder="unknown", preset="").mean(axis=0)
    np.testing.assert_allclose([f["score"] for f in out["frames"]], expected, atol=1e-5)
    assert "encoder/preset/cq not given for some rows: predicted without them (robust recipe)" in out["notes"]
    given = predict_features(m, _rows(corpus, 5), encoder="libx264", preset="medium")
    assert not any("not given" in n for n in given["notes"])
    assert not np.allclose([f["score"] for f in given["frames"]], expected, atol=1e-3)


def _oracle_half_width(part, coverage=0.95, level=T.SOURCE_LEVEL):
    """Each source's `coverage` quantile (numpy's inverted CDF), then the k-th smallest across the
    S sources, k the smallest rank with P(Binomial(S, level) <= k - 1) >= 0.9 (by math.comb); when
    none reaches it, k = S and the attained level is 0.1 ** (1 / S)."""
    qs = sorted(float(np.quantile(v, coverage, method="inverted_cdf")) for v in part["sources"].values())
    n = len(qs)
    for k in range(1, n + 1):
        if sum(math.comb(n, j) * level**j * (1 - level) ** (n - j) for j in range(k)) >= T.SOURCE_CONFIDENCE:
            return qs[k - 1], level
    return qs[-1], (1 - T.SOURCE_CONFIDENCE) ** (1 / n)


def test_prediction_document_shape_and_interval_block(models):
    m, verdict_path, corpus = models
    flip(m / "registry.json", verdict_path)
    cal = json.loads((m / f"{ID}_calibration.json").read_text())
    rows = _rows(corpus, 5)
    for r in rows:
        r.pop("frame_index")
    out = predict_features(m, rows, encoder="libx264", preset="medium", coverage=0.8)
    assert list(out) == [
        "schema_version",
        "model",
        "mode",
        "members",
        "coverage",
        "interval",
        "domain",
        "notes",
        "n_frames",
        "frames",
        "clips",
    ]
    assert out["schema_version"] == 1 and out["model"] == ID and out["mode"] == MODE_ENSEMBLE
    assert out["members"] == [0, 1] and out["coverage"] == 0.8 and out["n_frames"] == 5 and out["notes"] == []
    q_frame, attained = _oracle_half_width(cal["ensemble"]["frame"], 0.8)
    q_clip, _ = _oracle_half_width(cal["ensemble"]["clip"], 0.8)
    # each frame's half-width: the multiplier times (the members' spread + the calibration's offset)
    # for an adaptive calibration, the multiplier itself for an absolute one
    norm = cal["ensemble"]["normalisation"]
    members = _member_scores_edges(m, [0, 1], rows)
    scale = members.std(axis=0) + norm["offset"] if norm["kind"] == "ensemble-spread" else np.ones(len(rows))
    clip_of = np.array([f["clip"] for f in out["frames"]])
    clip_scale = [scale[clip_of == c["clip"]].mean() for c in out["clips"]]
    for f, sc in zip(out["frames"], scale):
        assert f["upper"] - f["score"] == pytest.approx(min(q_frame * sc, 100 - f["score"]), abs=1e-5)
    from vmafkit.decide.calibration import METHOD

    assert out["interval"] == {
        "method": METHOD,
        "frame_half_width": pytest.approx(float(np.median(q_frame * scale)), abs=1e-5),
        "clip_half_width": pytest.approx(float(np.median(q_clip * np.array(clip_scale))), abs=1e-5),
        "adaptive": norm["kind"] == "ensemble-spread",
        "source_level": attained,
        "guarantee": (
            f"with 90% confidence (a tolerance bound over {cal['summary']['n_sources']} LOSO sources), at least "
            f"{attained:.0%} of new sources have at least 80% of their in-domain frames (clips) inside the interval; "
            "residuals of the fold models, served around the full-corpus refit (jackknife: no finite-sample "
            "guarantee for the refit itself)"
        ),
        "worst_fold_frame_coverage": cal["summary"]["fold_frame_coverage_min"],
        "calibrated_on": "ensemble",
    }
    assert cal["summary"]["n_sources"] == 3 and attained == pytest.approx(0.1 ** (1 / 3))
    assert out["domain"]["n_outside"] == 0 and out["domain"]["description"].startswith(
        "trained on libx264 (presets medium"
    )
    assert [f["frame_index"] for f in out["frames"]] == [0, 1, 2, 3, 4]  # no frame_index: the row's position
    for f in out["frames"]:
        assert set(f) == {"clip", "frame_index", "score", "lower", "upper", "in_domain", "vmaf"}
    for c, sc in zip(out["clips"], clip_scale):
        assert set(c) == {
            "clip",
            "name",
            "encoder",
            "preset",
            "cq",
            "n_frames",
            "score",
            "lower",
            "upper",
            "in_domain",
            "vmaf",
        }
        assert c["lower"] == pytest.approx(max(0.0, c["score"] - q_clip * sc), abs=1e-5)
        assert c["upper"] == pytest.approx(min(100.0, c["score"] + q_clip * sc), abs=1e-5)
    smoke_m = m  # roll back: the smoke member's own calibration, named
    from vmafkit.serve.registry import rollback

    rollback(smoke_m / "registry.json", "test")
    smoke = predict_features(m, rows, encoder="libx264", preset="medium")
    h_one, _ = _oracle_half_width(cal["single_member"]["frame"], 0.95)
    assert smoke["interval"]["calibrated_on"] == "seed 0 alone" and smoke["mode"] == MODE_SMOKE
    assert smoke["interval"]["frame_half_width"] == pytest.approx(h_one, abs=1e-12)


def test_without_calibration_every_bound_is_null(models):
    m, verdict_path, corpus = models
    flip(m / "registry.json", verdict_path)
    data = json.loads((m / "registry.json").read_text())
    for row in data["models"]:
        row["calibration"] = None
        row.pop("calibration_sha256", None)
    (m / "registry.json").write_text(json.dumps(data))
    for s in (0, 1):  # the sidecars name it too
        sidecar = json.loads((m / f"{ID}_seed{s}.json").read_text())
        assert sidecar.get("calibration") in (None, f"{ID}_calibration.json")
    (m / f"{ID}_calibration.json").unlink()
    out = predict_features(m, _rows(corpus, 3), encoder="libx264", preset="medium")
    assert out["notes"] == [
        "no calibration file: intervals are unbounded",
        "no calibration for this ensemble: bounds are null",
    ]
    assert out["interval"]["frame_half_width"] is None and out["interval"]["clip_half_width"] is None
    assert out["interval"]["source_level"] is None and out["interval"]["guarantee"] is None
    assert out["interval"]["worst_fold_frame_coverage"] is None and out["interval"]["calibrated_on"] == "ensemble"
    assert all(f["lower"] is None and f["upper"] is None for f in out["frames"] + out["clips"])


def test_a_clip_lists_every_reason_of_its_frames(models):
    m, _, corpus = models
    rows = _rows(corpus, 3)
    for r in rows:
        r["src"] = "one-clip"
        r["cq"] = 20
    rows[0]["adm2"] = 0.1
    rows[2]["vif_scale0"] = 5.0  # a ratio libvmaf can write, far outside the trained range
    out = predict_features(m, rows, encoder="libx264", preset="medium", allow_out_of_domain=True)
    (clip,) = out["clips"]
    reasons = sorted([out["frames"][0]["out_of_domain"], out["frames"][2]["out_of_domain"]])
    assert clip["out_of_domain"] == "; ".join(reasons) and clip["in_domain"] is False
    assert clip["lower"] is None and clip["upper"] is None and clip["n_frames"] == 3
    assert "out_of_domain" not in out["frames"][1]


# ----------------------------------------------------------------------------- load_ensemble


def _registry(m):
    return json.loads((m / "registry.json").read_text())


def _save_registry(m, data):
    (m / "registry.json").write_text(json.dumps(data))


def _repin(m, name, row_key):
    """Re-pin an edited sidecar/calibration in every registry row naming it (a valid registry)."""
    import hashlib

    data = _registry(m)
    digest = hashlib.sha256((m / name).read_bytes()).hexdigest()
    for row in data["models"]:
        if row.get(row_key.replace("_sha256", "")) == name:
            row[row_key] = digest
    _save_registry(m, data)


def _edit_json(path, edit):
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_load_ensemble_defaults_and_smoke_note(models):
    m, _, _ = models
    ens = load_ensemble(m)
    assert ens.threads == 2 and ens.model_id == ID and ens.mode == MODE_SMOKE and ens.seeds == [0]
    assert ens.onnx_paths == [m / f"{ID}_seed0.onnx"]
    assert ens.notes == [
        f"registry rows {ID}_seed0, {ID}_seed1 are smoke=true: using ONE member ({ID}_seed0, the "
        "lowest seed) instead of the 2-member ensemble"
    ]
    assert load_ensemble(m / "registry.json", model_id=ID, threads=5).threads == 5
    with pytest.raises(InputError) as info:
        load_ensemble(m, model_id="nope")
    assert str(info.value) == f"{m / 'registry.json'}: no exported members of ensemble 'nope'"


def test_load_ensemble_picks_exported_members_of_one_ensemble(models):
    m, verdict_path, _ = models
    flip(m / "registry.json", verdict_path)
    data = _registry(m)
    legacy = {**data["models"][0], "id": "legacy_row", "sidecar": None, "smoke": True}  # same ensemble, not exported
    loose = {k: v for k, v in data["models"][1].items() if k != "ensemble"}
    loose.update(id="loose_row", smoke=True)  # exported, of no ensemble
    data["models"] += [legacy, loose]
    _save_registry(m, data)
    ens = load_ensemble(m)
    assert ens.mode == MODE_ENSEMBLE and ens.seeds == [0, 1] and ens.notes == []
    other = {**data["models"][1], "id": "other_seed1", "ensemble": "other_model"}
    data["models"].append(other)
    _save_registry(m, data)
    with pytest.raises(InputError) as info:
        load_ensemble(m)
    assert str(info.value) == (
        f"{m / 'registry.json'}: registry holds ensembles ['fr_regressor_v2_ensemble_v1', "
        "'other_model']; pick one with --id"
    )
    assert load_ensemble(m, model_id="other_model").seeds == [1]


def test_load_ensemble_sidecar_problems(models):
    m, verdict_path, _ = models
    flip(m / "registry.json", verdict_path)
    sidecar = m / f"{ID}_seed1.json"
    original = sidecar.read_text()
    # the same transform and domain written with other key orders are the same
    _edit_json(
        sidecar,
        lambda s: s.update(
            feature_spec=dict(reversed(list(s["feature_spec"].items()))),
            domain=dict(reversed(list(s["domain"].items()))),
        ),
    )
    _repin(m, sidecar.name, "sidecar_sha256")
    assert load_ensemble(m).mode == MODE_ENSEMBLE
    sidecar.write_text(original)
    _edit_json(sidecar, lambda s: s["domain"]["features"]["adm2"].__setitem__(0, 0.0))
    _repin(m, sidecar.name, "sidecar_sha256")
    with pytest.raises(InputError) as info:
        load_ensemble(m)
    assert str(info.value) == f"{m / 'registry.json'}: members of {ID} record different training domains"
    sidecar.write_text(original)
    spec = json.loads(original)["feature_spec"]
    key = next(k for k, v in spec.items() if isinstance(v, list) and v and isinstance(v[0], (int, float)))
    _edit_json(sidecar, lambda s: s["feature_spec"][key].__setitem__(0, s["feature_spec"][key][0] + 1.0))
    _repin(m, sidecar.name, "sidecar_sha256")
    with pytest.raises(InputError) as info:
        load_ensemble(m)
    assert str(info.value) == f"{m / 'registry.json'}: members of {ID} were exported with different feature transforms"
    sidecar.write_text(original)
    _edit_json(sidecar, lambda s: s["standardisation"].update(inside_graph=False))
    _repin(m, sidecar.name, "sidecar_sha256")
    with pytest.raises(InputError) as info:
        load_ensemble(m)
    assert str(info.value) == (
        f"{sidecar}: sidecar says standardisation is outside the graph; this vmafkit only "
        "serves in-graph standardisation"
    )


def test_load_ensemble_missing_smoke_sidecar(models):
    m, _, _ = models
    (m / f"{ID}_seed0.json").unlink()  # a smoke row may lack it in the registry, but predict needs it
    with pytest.raises(InputError) as info:
        load_ensemble(m)
    assert str(info.value) == f"{m / f'{ID}_seed0.json'}: sidecar not found"


def test_calibration_named_by_the_row_wins_then_the_sidecars(models):
    """The row's calibration file wins over the sidecar's; without one in the row the sidecar's is
    used; a named file that is missing means no interval (not an error)."""
    m, _, corpus = models
    cal_name = f"{ID}_calibration.json"
    alt = m / "alt_calibration.json"
    alt.write_text((m / cal_name).read_text())
    _edit_json(
        alt,
        lambda c: c["single_member"]["frame"].update(
            sources={k: [2 * x for x in v] for k, v in c["single_member"]["frame"]["sources"].items()}
        ),
    )
    data = _registry(m)
    for row in data["models"]:
        row["calibration"] = alt.name
    _save_registry(m, data)
    _repin(m, alt.name, "calibration_sha256")
    cal, alt_cal = json.loads((m / cal_name).read_text()), json.loads(alt.read_text())
    rows = _rows(corpus, 3)
    h = predict_features(m, rows, encoder="libx264", preset="medium")["interval"]["frame_half_width"]
    assert h == pytest.approx(_oracle_half_width(alt_cal["single_member"]["frame"])[0], abs=1e-12)
    assert h == pytest.approx(2 * _oracle_half_width(cal["single_member"]["frame"])[0], abs=1e-12)
    data = _registry(m)
    for row in data["models"]:
        row["calibration"] = None
        row.pop("calibration_sha256", None)
    _save_registry(m, data)
    assert json.loads((m / f"{ID}_seed0.json").read_text())["calibration"] == cal_name
    h = predict_features(m, rows, encoder="libx264", preset="medium")["interval"]["frame_half_width"]
    assert h == pytest.approx(_oracle_half_width(cal["single_member"]["frame"])[0], abs=1e-12)
    data = _registry(m)
    for row in data["models"]:
        row["calibration"] = "missing_calibration.json"
    _save_registry(m, data)
    out = predict_features(m, rows, encoder="libx264", preset="medium")
    assert (
        "no calibration file: intervals are unbounded" in out["notes"] and out["interval"]["frame_half_width"] is None
    )


def test_calibration_of_other_seeds_gives_no_interval(models):
    m, verdict_path, corpus = models
    cal = m / f"{ID}_calibration.json"
    original = cal.read_text()
    rows = _rows(corpus, 3)
    # smoke: the single member's residuals must be of the member that runs (seed 0)
    _edit_json(cal, lambda c: c["single_member"].update(seed=1))
    _repin(m, cal.name, "calibration_sha256")
    out = predict_features(m, rows, encoder="libx264", preset="medium")
    assert "calibration's single-member residuals are of another seed: no interval" in out["notes"]
    assert out["interval"]["frame_half_width"] is None and out["frames"][0]["lower"] is None
    # ensemble: only the ensemble's seeds matter (the single member's seed is not used); flip
    # itself refuses an edited calibration, so the edit comes back after the flip
    cal.write_text(original)
    _repin(m, cal.name, "calibration_sha256")
    flip(m / "registry.json", verdict_path)
    _edit_json(cal, lambda c: c["single_member"].update(seed=1))
    _repin(m, cal.name, "calibration_sha256")
    out = predict_features(m, rows, encoder="libx264", preset="medium")
    assert out["mode"] == MODE_ENSEMBLE and out["interval"]["frame_half_width"] is not None
    cal.write_text(original)
    _edit_json(cal, lambda c: c["ensemble"].update(seeds=[0, 1, 2]))
    _repin(m, cal.name, "calibration_sha256")
    out = predict_features(m, rows, encoder="libx264", preset="medium")
    assert "calibration was made for other seeds than the registry's members: no interval" in out["notes"]
    assert out["interval"]["frame_half_width"] is None


def test_unreadable_calibration_file_names_it(models):
    m, _, corpus = models
    cal = m / f"{ID}_calibration.json"
    cal.write_text("{broken")
    _repin(m, cal.name, "calibration_sha256")
    with pytest.raises(InputError) as info:
        load_ensemble(m)
    assert str(info.value).startswith(f"{cal}: malformed calibration file: ")
    cal.write_text(json.dumps({"schema_version": 2}))
    _repin(m, cal.name, "calibration_sha256")
    with pytest.raises(InputError) as info:
        load_ensemble(m)
    assert str(info.value).startswith(f"{cal}: malformed calibration file: ")


@pytest.mark.parametrize("bad", [-1, 2.5, True, "3", None])
def test_frame_index_must_be_a_non_negative_integer(models, bad):
    m, _, corpus = models
    rows = _rows(corpus, 3)
    rows[1]["frame_index"] = bad
    with pytest.raises(InputError) as info:
        predict_features(m, rows, encoder="libx264", preset="medium")
    assert str(info.value) == f"row 2: frame_index must be a non-negative integer, got {bad!r}"
    rows[1]["frame_index"] = 0  # any non-negative integer, repeats allowed
    assert [f["frame_index"] for f in predict_features(m, rows, encoder="libx264", preset="medium")["frames"]] == [
        0,
        0,
        2,
    ]


def test_a_misspelt_encoder_keyword_is_refused_even_when_every_row_names_its_own(models):
    m, _, corpus = models
    rows = _rows(corpus, 2)
    for r in rows:
        r["encoder"] = "libx264"
    with pytest.raises(InputError, match="--encoder: encoder 'libx246' is not an encoder vmafkit knows"):
        predict_features(m, rows, encoder="libx246", preset="medium")
    with pytest.raises(InputError, match=r"the row's cq 30 contradicts --cq 31"):
        predict_features(m, [{**rows[0], "cq": 30}], cq=31)
