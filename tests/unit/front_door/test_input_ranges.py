"""Issue 12: every numeric input is range-checked at the edge.

Values that load but are nonsense (vmaf 1e6, cq -5, frame_index 1.5, adm2 1e308, an integer
encoder, a null group, ...) stop `train` and `merge` with exit 2 and FILE:LINE; flags out of
their range (--batch-size 1e9, --bootstrap 1e9, --encoder-threads 1e5, --lr 1e10) stop with exit
2 before any work; a diverged training ends with exit 2 and a clear message, writing nothing.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from vmafkit.bundle import compare_bundles
from vmafkit.cli import main
from vmafkit.errors import InputError
from vmafkit.train import loso
from vmafkit.train.loso import check_recipe, train_loso
from vmafkit.train.recipe import Recipe

from ...factories import TRAINER_SHAPE, read_rows, synthetic_rows, write_corpus

BAD_AT = 5  # 0-based row index of the damaged row: line 6 of the file


def invoke(args: list) -> object:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def corpus_with(tmp_path: Path, key: str, raw_value: str, name: str = "c.jsonl") -> Path:
    """The synthetic corpus with row BAD_AT's `key` replaced by the JSON text `raw_value`."""
    rows = synthetic_rows(**{**TRAINER_SHAPE, "frames": 4})
    lines = [json.dumps(r, sort_keys=True) for r in rows]
    row = dict(rows[BAD_AT])
    row[key] = "__PLACEHOLDER__"
    lines[BAD_AT] = json.dumps(row, sort_keys=True).replace('"__PLACEHOLDER__"', raw_value)
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


NONSENSE = [
    # (key, JSON text, what the message must say after FILE:LINE:)
    ("vmaf", "1e6", "vmaf 1000000.0 is out of range (allowed: 0 to 100)"),
    ("vmaf", "-50", "vmaf -50 is out of range (allowed: 0 to 100)"),
    ("vmaf", '"90"', "vmaf must be a number, got '90'"),
    ("cq", "-5", "cq -5 is out of range (allowed: 0 to 51 for libx264)"),
    ("cq", "1e308", "cq 1e+308 is out of range (allowed: 0 to 51 for libx264)"),
    ("cq", "52", "cq 52 is out of range (allowed: 0 to 51 for libx264)"),
    (
        "cq",
        "9" * 400,
        "line is not valid JSON (integer 99999999999999999999... (400 digits) is outside the 64-bit range)",
    ),
    ("cq", "1e999", "cq is inf (NaN or infinite)"),
    ("frame_index", "1.5", "frame_index must be a non-negative integer, got 1.5"),
    ("frame_index", "-7", "frame_index must be a non-negative integer, got -7"),
    ("frame_index", '"abc"', "frame_index must be a number, got 'abc'"),
    ("frame_index", "true", "frame_index must be a number, got True"),
    ("adm2", "1e308", "adm2 1e+308 is out of range (allowed: 0 to 100)"),
    ("adm2", "-0.5", "adm2 -0.5 is out of range (allowed: 0 to 100)"),
    ("vif_scale2", "1e6", "vif_scale2 1000000.0 is out of range (allowed: 0 to 100)"),
    ("motion2", "1e6", "motion2 1000000.0 is out of range (allowed: 0 to 1024)"),
    ("encoder", "5", "encoder must be a non-empty string, got 5"),
    ("preset", '""', "preset must be a non-empty string, got ''"),
    ("src", "null", "src must be a non-empty string, got None"),
    ("group", "null", "group must be a non-empty string when present, got None"),
    ("group", '""', "group must be a non-empty string when present, got ''"),
    ("group", "5", "group must be a non-empty string when present, got 5"),
    ("width", '"160"', "width must be a number, got '160'"),
    ("width", "0", "width must be a positive integer up to 65536, got 0"),
    ("height", "90.5", "height must be a positive integer up to 65536, got 90.5"),
    ("fps", "0", "fps 0 is out of range (allowed: above 0, up to 10000)"),
    ("fps", "-25", "fps -25 is out of range (allowed: above 0, up to 10000)"),
    ("enc_bytes", "-1", "enc_bytes must be a non-negative integer (the encoded file's size in bytes), got -1"),
    ("schema_version", "true", "schema_version True is not the supported 1"),
]


@pytest.mark.parametrize("key, raw, message", NONSENSE, ids=[f"{k}={v[:12]}" for k, v, _ in NONSENSE])
def test_train_refuses_nonsense_rows_with_file_and_line(tmp_path, key, raw, message):
    corpus = corpus_with(tmp_path, key, raw)
    out = tmp_path / "out"
    result = invoke(
        [
            "train",
            "--corpus",
            corpus,
            "--out",
            out,
            "--seeds",
            "0",
            "--epochs",
            "1",
            "--device",
            "cpu",
            "--workers",
            "1",
            "--no-progress",
        ]
    )
    assert result.exit_code == 2, result.output
    assert result.stderr == f"vmafkit: error: {corpus}:{BAD_AT + 1}: {message}\n"
    assert not out.exists() or not list(out.glob("loso_seed*"))


@pytest.mark.parametrize("key, raw, message", NONSENSE[::3], ids=[f"{k}={v[:12]}" for k, v, _ in NONSENSE[::3]])
def test_merge_refuses_nonsense_rows_with_file_and_line(tmp_path, key, raw, message):
    shard = corpus_with(tmp_path, key, raw, name="shard.jsonl")
    out = tmp_path / "merged.jsonl"
    result = invoke(["merge", shard, "--out", out])
    assert result.exit_code == 2, result.output
    assert f"{shard}:{BAD_AT + 1}: " in result.stderr and message in result.stderr
    assert not out.exists()


def test_parquet_corpus_gets_the_same_checks(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = synthetic_rows(**{**TRAINER_SHAPE, "frames": 4})
    rows[BAD_AT]["vmaf"] = 1e6
    path = tmp_path / "c.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    result = invoke(
        [
            "train",
            "--corpus",
            path,
            "--out",
            tmp_path / "out",
            "--seeds",
            "0",
            "--epochs",
            "1",
            "--device",
            "cpu",
            "--no-progress",
        ]
    )
    assert result.exit_code == 2
    assert f"{path}:row {BAD_AT + 1}: vmaf 1000000.0 is out of range" in result.stderr


def test_an_unknown_encoder_gets_the_widest_cq_range(tmp_path):
    from vmafkit.corpus.schema import validate_row

    row = synthetic_rows(frames=1)[0]
    validate_row({**row, "encoder": "some_other_kit_encoder", "cq": 200}, "x:1")
    with pytest.raises(InputError, match=r"x:1: cq 256 is out of range \(allowed: 0 to 255 for some_other"):
        validate_row({**row, "encoder": "some_other_kit_encoder", "cq": 256}, "x:1")
    with pytest.raises(InputError, match=r"x:1: cq 0 is out of range \(allowed: 1 to 63 for libsvtav1\)"):
        validate_row({**row, "encoder": "libsvtav1", "cq": 0}, "x:1")
    validate_row({**row, "frame_index": 3.0, "group": "scene-1"}, "x:1")  # an integral float is an integer


# ----------------------------------------------------------------------------- flags

FLAG_CASES = [
    (["train", "--batch-size", "1000000000"], "--batch-size", "1000000000 is not in the range 1<=x<=65536"),
    (["train", "--batch-size", "0"], "--batch-size", "0 is not in the range 1<=x<=65536"),
    (["train", "--epochs", "0"], "--epochs", "0 is not in the range 1<=x<=100000"),
    (["train", "--epochs", "100001"], "--epochs", "is not in the range"),
    (["train", "--lr", "1e10"], "--lr", "10000000000.0 is not in the range 0<x<=1"),
    (["train", "--lr", "0"], "--lr", "is not in the range 0<x<=1"),
    (["train", "--lr", "-0.001"], "--lr", "is not in the range"),
    (["train", "--lr", "nan"], "--lr", "nan is not a finite number"),
    (["train", "--weight-decay", "2"], "--weight-decay", "2.0 is not in the range 0.0<=x<=1.0"),
    (["train", "--weight-decay", "nan"], "--weight-decay", "nan is not a finite number"),
    (["train", "--workers", "100000"], "--workers", "is not in the range 1<=x<=1024"),
    (["run", "--batch-size", "1000000000"], "--batch-size", "is not in the range 1<=x<=65536"),
    (["run", "--lr", "1e10"], "--lr", "is not in the range 0<x<=1"),
    (["run", "--jobs", "100000"], "--jobs", "is not in the range 1<=x<=1024"),
    (["compare", "--bootstrap", "1000000000"], "--bootstrap", "1000000000 is not in the range 1<=x<=100000"),
    (["compare", "--tolerance", "nan"], "--tolerance", "nan is not a finite number"),
    (["corpus", "--encoder-threads", "100000"], "--encoder-threads", "100000 is not in the range 1<=x<=64"),
    (["corpus", "--jobs", "100000"], "--jobs", "is not in the range 1<=x<=1024"),
    (["verdict", "--coverage", "1.5"], "--coverage", "is not in the range 0<x<1"),
    (["predict", "--coverage", "nan"], "--coverage", "nan is not a finite number"),
    (["predict", "--cq", "1e308"], "--cq", "is not in the range 0<=x<=255"),
    (["predict", "--width", "-5"], "--width", "is not in the range"),
    (["score", "--fps", "inf"], "--fps", "is not in the range"),
    (["score", "--threads", "100000"], "--threads", "is not in the range 1<=x<=1024"),
]

# The other required arguments of each command, so only the flag under test is wrong.
REQUIRED = {
    "train": ["--corpus", "c.jsonl", "--out", "out"],
    "run": ["--out", "out", "--demo"],
    "compare": ["a.tar.gz", "b.tar.gz"],
    "corpus": ["--ref-dir", "refs", "--out", "c.jsonl"],
    "verdict": ["loso"],
    "predict": ["--models", "models", "--features", "f.jsonl"],
    "score": ["--ref", "r.y4m", "--dis", "d.mp4"],
}


@pytest.mark.parametrize("args, flag, message", FLAG_CASES, ids=[" ".join(a) for a, _, _ in FLAG_CASES])
def test_flags_out_of_range_exit_2_before_any_work(tmp_path, monkeypatch, args, flag, message):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [*args, *REQUIRED[args[0]]])
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '{flag}'" in result.stderr and message in result.stderr, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing created


def test_flags_keep_their_help_and_defaults():
    result = CliRunner().invoke(main, ["train", "--help"])
    assert result.exit_code == 0
    for text in (
        "[default: 32; 1<=x<=65536]",
        "[default: 0.0005; 0<x<=1.0]",
        "[default: 200; 1<=x<=100000]",
        "CPU: parallel member shards",
    ):
        assert text in result.output
    result = CliRunner().invoke(main, ["corpus", "--help"])
    assert "Threads per encode" in result.output and "1<=x<=64" in result.output


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("batch_size", 10**9, "--batch-size must be an integer in 1..65536"),
        ("epochs", 0, "--epochs must be an integer in 1..100000"),
        ("epochs", 2.5, "--epochs must be an integer"),
        ("lr", 1e10, "--lr must be a number in (0, 1]"),
        ("lr", math.nan, "--lr must be a number in (0, 1]"),
        ("weight_decay", -1e-5, "--weight-decay must be a number in [0, 1]"),
        ("dropout", 1.0, "dropout must be in [0, 1)"),
    ],
)
def test_the_python_api_checks_the_same_ranges(field, value, message):
    with pytest.raises(InputError) as err:
        check_recipe(Recipe(**{field: value}))
    assert message in str(err.value)


def test_compare_api_checks_the_bootstrap_range(tmp_path):
    with pytest.raises(InputError, match=r"n_bootstrap must be an integer in 1\.\.100000, got 1000000000"):
        compare_bundles(tmp_path / "a.tar.gz", tmp_path / "b.tar.gz", n_bootstrap=10**9)


# ----------------------------------------------------------------------------- diverged training


@pytest.fixture
def small_corpus(tmp_path):
    return write_corpus(tmp_path / "c.jsonl", synthetic_rows(**{**TRAINER_SHAPE, "frames": 6}))


def test_train_lr_1e10_exits_2_and_writes_nothing(tmp_path, small_corpus):
    out = tmp_path / "out"
    result = invoke(
        [
            "train",
            "--corpus",
            small_corpus,
            "--out",
            out,
            "--seeds",
            "0",
            "--epochs",
            "2",
            "--lr",
            "1e10",
            "--device",
            "cpu",
            "--workers",
            "1",
            "--no-progress",
        ]
    )
    assert result.exit_code == 2
    assert "Invalid value for '--lr': 10000000000.0 is not in the range 0<x<=1" in result.stderr
    assert not out.exists()


def test_a_diverged_fit_is_refused_naming_seed_and_fold_and_writes_nothing(tmp_path, small_corpus, monkeypatch):
    """A real divergence: the API with the recipe check bypassed, --lr 1e10 (what `train` did
    before the flag had a range): NaN weights, so NaN predictions."""
    monkeypatch.setattr(loso, "check_recipe", lambda recipe: None)
    out = tmp_path / "out"
    with pytest.raises(InputError) as err:
        train_loso(small_corpus, [0, 1], out, Recipe(epochs=2, lr=1e10), device="cpu", progress=False, workers=1)
    message = str(err.value)
    assert message.startswith("training diverged: seed 0, fold 'srcA': ")
    assert "held-out predictions are NaN or infinite (--lr 1e+10)" in message
    assert "retry with a smaller --lr (default 0.0005); no report or predictions were written" in message
    assert "constant target" not in message and "\n" not in message
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == []


def test_cli_divergence_in_range_exits_2_with_a_clear_message(tmp_path, small_corpus, monkeypatch):
    """--lr within range but the fit still blows up (here: seed 1's member for fold srcB gets a
    NaN weight): exit 2, the seed and fold named, no report and no predictions for any seed."""
    real_fit = loso.fit_members

    def diverging_fit(members, recipe, **kwargs):
        models = real_fit(members, recipe, **kwargs)
        import torch

        with torch.no_grad():
            next(models[1 * 3 + 1].parameters()).fill_(float("nan"))  # seed index 1, fold index 1
        return models

    monkeypatch.setattr(loso, "fit_members", diverging_fit)
    out = tmp_path / "out"
    result = invoke(
        [
            "train",
            "--corpus",
            small_corpus,
            "--out",
            out,
            "--seeds",
            "0,1",
            "--epochs",
            "1",
            "--lr",
            "0.01",
            "--device",
            "cpu",
            "--workers",
            "1",
            "--no-progress",
        ]
    )
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert line.startswith("vmafkit: error: training diverged: seed 1, fold 'srcB': ")
    assert "retry with a smaller --lr" in line and "\n" not in line
    assert not list(out.glob("loso_seed*"))


def test_a_converged_fit_writes_strict_json(tmp_path, small_corpus):
    out = tmp_path / "out"
    train_loso(small_corpus, [0], out, Recipe(epochs=1, lr=1.0), device="cpu", progress=False, workers=1)

    def refuse(constant):
        raise AssertionError(f"bare {constant} in a JSON file")

    for path in out.glob("loso_seed0*"):
        if path.suffix == ".f32":  # the fold members: float32 weights, checked finite by their reader
            continue
        text = path.read_text()
        lines = text.splitlines() if path.suffix == ".jsonl" else [text]
        for line in lines:
            json.loads(line, parse_constant=refuse)
    preds = [json.loads(x) for x in (out / "loso_seed0.predictions.jsonl").read_text().splitlines()]
    assert all(np.isfinite(p["pred"]) for p in preds)


# ----------------------------------------------------------------------------- predictions and features files


def test_prediction_file_frame_index_abc(tmp_path):
    from vmafkit.decide.calibration import read_predictions

    path = tmp_path / "loso_seed0.predictions.jsonl"
    row = {
        "row": 0,
        "src": "a",
        "group": "a",
        "encoder": "libx264",
        "preset": "medium",
        "cq": 30,
        "frame_index": "abc",
        "vmaf": 80.0,
        "pred": 79.0,
        "pred_unlabelled": 78.0,
        "fold": "a",
        "seed": 0,
    }
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(InputError, match=r"loso_seed0.predictions.jsonl:1: frame_index"):
        read_predictions(path)


def _features(tmp_path: Path, corpus: Path, key: str, raw: str) -> Path:
    c6 = ("adm2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3", "motion2")
    rows = [{**{k: r[k] for k in c6}, "frame_index": r["frame_index"], "cq": r["cq"]} for r in read_rows(corpus)[:4]]
    lines = [json.dumps(r) for r in rows]
    lines[1] = json.dumps({**rows[1], key: "__X__"}).replace('"__X__"', raw)
    path = tmp_path / "feats.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    "key, raw, message",
    [
        ("cq", "9" * 400, "feats.jsonl:2: line is not valid JSON (integer 99999999999999999999... (400 digits)"),
        ("adm2", "1e308", "feats.jsonl:2: adm2 1e+308 is not a value libvmaf writes (allowed: 0 to 100)"),
    ],
)
def test_predict_features_nonsense_exits_2(tmp_path, pristine_models, key, raw, message):
    models, _, corpus = pristine_models
    path = _features(tmp_path, corpus, key, raw)
    result = CliRunner().invoke(
        main,
        ["predict", "--models", str(models), "--features", str(path), "--encoder", "libx264", "--preset", "medium"],
    )
    assert result.exit_code == 2, result.output
    assert message in result.stderr


@pytest.mark.parametrize("raw", ['"abc"', "1.5", "-7"])
def test_predict_features_frame_index_nonsense_exits_2(tmp_path, pristine_models, raw):
    models, _, corpus = pristine_models
    path = _features(tmp_path, corpus, "frame_index", raw)
    result = CliRunner().invoke(
        main,
        ["predict", "--models", str(models), "--features", str(path), "--encoder", "libx264", "--preset", "medium"],
    )
    assert result.exit_code == 2 and "feats.jsonl:2: frame_index" in result.stderr
