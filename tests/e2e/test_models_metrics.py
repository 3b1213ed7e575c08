"""Other libvmaf models, extra metrics, subsampling and CSV, through real ffmpeg + libvmaf.

The oracle is libvmaf itself, run by a hand-written ffmpeg command (the imageio-ffmpeg binary) whose
filter options and log names are spelled out below, not taken from vmafkit: vmafkit's numbers must
equal its per-frame log to 1e-6. The published reference values hold vmaf_v0.6.1 only (covered in
test_score.py); none exist here for the other models or metrics."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from vmafkit.corpus.build import build_corpus
from vmafkit.media.ffmpeg import find_ffmpeg
from vmafkit.media.score import score_pair

from ..conftest import media

VMAFKIT = [sys.executable, "-m", "vmafkit.cli"]
REF, DIS = "src01_hrc00_160x90_48f.yuv", "src01_hrc01_160x90_48f.yuv"
RAW_160x90 = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", "160x90", "-framerate", "24"]

C6 = ("adm2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3", "motion2")
INTEGER = (
    "integer_adm2",
    "integer_vif_scale0",
    "integer_vif_scale1",
    "integer_vif_scale2",
    "integer_vif_scale3",
    "integer_motion2",
)
INTEGER_NEG = (
    "integer_adm2_egl_1",
    "integer_vif_scale0_egl_1",
    "integer_vif_scale1_egl_1",
    "integer_vif_scale2_egl_1",
    "integer_vif_scale3_egl_1",
    "integer_motion2",
)
FLOAT = ("adm2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3", "motion2")
FLOAT_NEG = ("adm2_egl_1", "vif_scale0_egl_1", "vif_scale1_egl_1", "vif_scale2_egl_1", "vif_scale3_egl_1", "motion2")
# --model NAME -> (libvmaf filter's model option, the log's names of the canonical-6)
MODELS = {
    "vmaf_v0.6.1": ("version=vmaf_v0.6.1", INTEGER),
    "vmaf_v0.6.1neg": ("version=vmaf_v0.6.1neg", INTEGER_NEG),
    "vmaf_4k_v0.6.1": ("version=vmaf_4k_v0.6.1", INTEGER),
    "vmaf_4k_v0.6.1neg": ("version=vmaf_4k_v0.6.1neg", INTEGER_NEG),
    "vmaf_float_v0.6.1": ("version=vmaf_float_v0.6.1", FLOAT),
    "vmaf_float_v0.6.1neg": ("version=vmaf_float_v0.6.1neg", FLOAT_NEG),
    "vmaf_float_4k_v0.6.1": ("version=vmaf_float_4k_v0.6.1", FLOAT),
    "vmaf_v0.6.1_phone": ("version=vmaf_v0.6.1\\\\:enable_transform=true", INTEGER),
}
# --metrics NAME -> (libvmaf feature name, its columns in the log)
METRICS = {
    "psnr": ("psnr", ("psnr_y", "psnr_cb", "psnr_cr")),
    "psnr_hvs": ("psnr_hvs", ("psnr_hvs_y", "psnr_hvs_cb", "psnr_hvs_cr", "psnr_hvs")),
    "ssim": ("float_ssim", ("float_ssim",)),
    "ms_ssim": ("float_ms_ssim", ("float_ms_ssim",)),
    "cambi": ("cambi", ("cambi",)),
    "ciede": ("ciede", ("ciede2000",)),
}
SMALL_FRAME_METRICS = ("psnr", "psnr_hvs", "ssim", "ciede")  # the ones that score 160x90 frames


def libvmaf_log(tmp: Path, dis_args: list, ref_args: list, model: str, metrics=(), extra: str = "") -> dict:
    """The oracle: libvmaf run by hand; its per-frame log {frameNum: metrics}."""
    log = tmp / "oracle.json"
    log.unlink(missing_ok=True)
    options = f"model={MODELS[model][0]}"
    if metrics:
        options += ":feature=" + "|".join(f"name={METRICS[m][0]}" for m in metrics)
    graph = f"[0:v][1:v]libvmaf={options}{extra}:log_fmt=json:log_path={log}"
    argv = [find_ffmpeg().path, "-hide_banner", "-nostdin", "-loglevel", "error", *dis_args, *ref_args]
    subprocess.run([*map(str, argv), "-lavfi", graph, "-f", "null", "-"], check=True, capture_output=True)
    return {f["frameNum"]: f["metrics"] for f in json.loads(log.read_text())["frames"]}


def assert_frames_match(frames: list[dict], log: dict, model: str, metrics=()) -> None:
    names = dict(zip(C6, MODELS[model][1]))
    for frame in frames:
        theirs = log[frame["frame_index"]]
        assert frame["vmaf"] == pytest.approx(theirs["vmaf"], abs=1e-6)
        for ours, name in names.items():
            assert frame[ours] == pytest.approx(theirs[name], abs=1e-6), (model, ours)
        for metric in metrics:
            for column in METRICS[metric][1]:
                assert frame[column] == pytest.approx(theirs[column], abs=1e-6), (metric, column)


def raw_pair():
    ref, dis = media(REF), media(DIS)
    return ref, dis, [*RAW_160x90, "-i", dis], [*RAW_160x90, "-i", ref]


@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_model_with_the_small_frame_metrics_equals_libvmaf_run_by_hand(model, tmp_path):
    ref, dis, dis_args, ref_args = raw_pair()
    result = score_pair(ref, dis, vmaf_model=model, metrics=SMALL_FRAME_METRICS)
    assert len(result.frames) == 48 and result.meta["vmaf_model"] == model
    assert list(result.frames[0]) == [
        "frame_index",
        "vmaf",
        *C6,
        "psnr_y",
        "psnr_cb",
        "psnr_cr",
        "psnr_hvs_y",
        "psnr_hvs_cb",
        "psnr_hvs_cr",
        "psnr_hvs",
        "float_ssim",
        "ciede2000",
    ]
    log = libvmaf_log(tmp_path, dis_args, ref_args, model, SMALL_FRAME_METRICS)
    assert_frames_match(result.frames, log, model, SMALL_FRAME_METRICS)
    assert result.mean["psnr_y"] == pytest.approx(sum(f["psnr_y"] for f in log.values()) / 48, abs=1e-9)


def test_models_differ_where_libvmaf_says_they_do():
    """The NEG model's features are ADM/VIF with enhancement gain limit 1: not vmaf_v0.6.1's."""
    ref, dis, _, _ = raw_pair()
    plain = score_pair(ref, dis, max_frames=6)
    neg = score_pair(ref, dis, max_frames=6, vmaf_model="vmaf_v0.6.1neg")
    assert [f["motion2"] for f in neg.frames] == [f["motion2"] for f in plain.frames]
    assert all(n["adm2"] < p["adm2"] for n, p in zip(neg.frames, plain.frames))
    assert neg.mean["vmaf"] < plain.mean["vmaf"]


@pytest.fixture(scope="module")
def parkjoy_encoded(tmp_path_factory):
    """parkjoy (480x270, big enough for MS-SSIM and CAMBI) and a crf 35 x264 encode of its first 6
    frames: VMAF about 40-50, where the phone transform is clipped neither at 0 nor at 100."""
    ref = media("parkjoy_480x270_50fps_10f.y4m")
    enc = tmp_path_factory.mktemp("parkjoy") / "crf35.mkv"
    argv = [find_ffmpeg().path, "-loglevel", "error", "-i", ref, "-frames:v", 6, "-threads", 1]
    subprocess.run([*map(str, argv), "-c:v", "libx264", "-crf", "35", str(enc)], check=True)
    return ref, enc


def test_phone_model_and_every_metric_on_a_larger_encode(parkjoy_encoded, tmp_path):
    ref, enc = parkjoy_encoded
    every = tuple(METRICS)
    phone = score_pair(ref, enc, max_frames=6, vmaf_model="vmaf_v0.6.1_phone", metrics=every)
    log = libvmaf_log(tmp_path, ["-i", enc], ["-i", ref], "vmaf_v0.6.1_phone", every)
    assert len(phone.frames) == 6
    assert_frames_match(phone.frames, log, "vmaf_v0.6.1_phone", every)
    # a second oracle: Netflix's phone transform of vmaf_v0.6.1 (score_transform of its model file),
    # a quadratic of the plain score; the log's 6 decimals leave 1e-4 of rounding
    plain = score_pair(ref, enc, max_frames=6)
    for p, q in zip(phone.frames, plain.frames):
        assert 0 < q["vmaf"] < p["vmaf"] < 100
        assert p["vmaf"] == pytest.approx(1.70674692 + 1.72643844 * q["vmaf"] - 0.00705305 * q["vmaf"] ** 2, abs=1e-4)


def test_subsample_scores_every_nth_frame_with_its_true_index(tmp_path):
    ref, dis, dis_args, ref_args = raw_pair()
    result = score_pair(ref, dis, subsample=5, metrics=["psnr"])
    assert [f["frame_index"] for f in result.frames] == [0, 5, 10, 15, 20, 25, 30, 35, 40, 45]
    full = libvmaf_log(tmp_path, dis_args, ref_args, "vmaf_v0.6.1", ["psnr"])  # every frame, no subsampling
    assert len(full) == 48
    assert_frames_match(result.frames, full, "vmaf_v0.6.1", ["psnr"])
    assert result.meta["subsample"] == 5
    trimmed = score_pair(ref, dis, subsample=4, max_frames=9)
    assert [f["frame_index"] for f in trimmed.frames] == [0, 4, 8]


def test_csv_holds_the_json_frames(tmp_path):
    ref, dis = media(REF), media(DIS)
    json_path, csv_path = tmp_path / "s.json", tmp_path / "s.csv"
    common = [*VMAFKIT, "score", "--ref", str(ref), "--dis", str(dis), "--max-frames", "9", "--subsample", "4"]
    common += ["--model", "vmaf_v0.6.1neg", "--metrics", "ssim,psnr"]
    proc = subprocess.run([*common, "--json", str(json_path), "--csv", str(csv_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(json_path.read_text())
    assert proc.stdout == ""
    assert proc.stderr == f"3 frames; mean vmaf {data['mean']['vmaf']:.4f} -> {json_path} and {csv_path}\n"
    assert data["vmaf_model"] == "vmaf_v0.6.1neg" and data["metrics"] == ["ssim", "psnr"]
    with open(csv_path, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        body = list(reader)
    assert header == ["frame_index", "vmaf", *C6, "float_ssim", "psnr_y", "psnr_cb", "psnr_cr"]
    assert [sorted(frame) for frame in data["frames"]] == [sorted(header)] * 3  # the JSON's keys are sorted
    assert [[float(v) for v in line] for line in body] == [[float(f[k]) for k in header] for f in data["frames"]]
    # bare --csv: the CSV alone on stdout (the JSON is not printed beside it)
    bare = subprocess.run([*common, "--csv"], capture_output=True, text=True)
    assert bare.returncode == 0, bare.stderr
    assert list(csv.reader(io.StringIO(bare.stdout))) == [header, *body]
    assert bare.stderr == ""
    both = subprocess.run([*common, "--json", "--csv"], capture_output=True, text=True)
    assert both.returncode == 2 and both.stdout == ""
    assert both.stderr.startswith("vmafkit: error: a bare --json and a bare --csv would both print on stdout")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--metrics", "cambi"], f"{REF}: frames are 160x90 as scored; --metrics cambi needs a side of at least 216"),
        (["--metrics", "psnr,ms_ssim"], "--metrics ms_ssim needs at least 176x176"),
        (["--metrics", "psnr,vmaf"], "unknown metric 'vmaf'; allowed: psnr, psnr_hvs, ssim, ms_ssim, cambi, ciede"),
        (["--model", "vmaf_b_v0.6.3"], "'vmaf_b_v0.6.3' is not one of 'vmaf_v0.6.1', 'vmaf_v0.6.1neg',"),
        (["--subsample", "0"], "Invalid value for '--subsample'"),
    ],
)
def test_bad_choices_are_one_line_exit_2_before_any_scoring(args, message):
    ref, dis = media(REF), media(DIS)
    proc = subprocess.run(
        [*VMAFKIT, "score", "--ref", str(ref), "--dis", str(dis), *args], capture_output=True, text=True
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr, proc.stderr


# ----------------------------------------------------------------------------- the corpus


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_corpus_rows_carry_the_model_and_metrics_and_the_cache_keeps_models_apart(make_ref_dir, tmp_path):
    ref_dir = make_ref_dir("parkjoy_480x270_50fps_10f.y4m")
    neg_out, plain_out = tmp_path / "neg.jsonl", tmp_path / "plain.jsonl"  # one folder: one cell cache
    choices = {"vmaf_model": "vmaf_v0.6.1neg", "metrics": ["psnr", "cambi"], "subsample": 2}
    built = build_corpus(ref_dir, ["libx264"], [30], neg_out, max_frames=4, progress=False, **choices)
    assert (built.cells_run, built.n_rows) == (1, 2)
    rows = _rows(neg_out)
    assert [r["frame_index"] for r in rows] == [0, 2]
    assert {r["vmaf_model"] for r in rows} == {"vmaf_v0.6.1neg"}

    # the oracle: the cell encoded and scored by hand (x264 with one thread is deterministic)
    ff, source = find_ffmpeg().path, ref_dir / "parkjoy_480x270_50fps_10f.y4m"
    enc = tmp_path / "cell.mkv"
    encode = [ff, "-loglevel", "error", "-i", source, "-map", "0:v:0", "-fps_mode", "passthrough", "-frames:v", 4]
    encode += ["-threads", 1, "-c:v", "libx264", "-crf", 30, "-preset", "medium", enc]
    subprocess.run(list(map(str, encode)), check=True)
    log = libvmaf_log(tmp_path, ["-i", enc], ["-i", source], "vmaf_v0.6.1neg", ["psnr", "cambi"])
    assert_frames_match(rows, log, "vmaf_v0.6.1neg", ["psnr", "cambi"])

    # the default model from the same cache: its own cell, not the NEG rows
    plain = build_corpus(ref_dir, ["libx264"], [30], plain_out, max_frames=4, progress=False)
    assert (plain.cells_run, plain.cells_cached) == (1, 0)
    plain_rows = _rows(plain_out)
    assert [r["frame_index"] for r in plain_rows] == [0, 1, 2, 3]
    assert {r["vmaf_model"] for r in plain_rows} == {"vmaf_v0.6.1"} and "psnr_y" not in plain_rows[0]
    assert plain_rows[0]["enc_bytes"] == rows[0]["enc_bytes"]  # the same encode, scored differently
    assert plain_rows[2]["adm2"] > rows[1]["adm2"]
    again = build_corpus(ref_dir, ["libx264"], [30], neg_out, max_frames=4, progress=False, **choices)
    assert (again.cells_run, again.cells_cached) == (0, 1) and _rows(neg_out) == rows

    merged = tmp_path / "merged.jsonl"
    proc = subprocess.run(
        [*VMAFKIT, "merge", str(plain_out), str(neg_out), "--out", str(merged)], capture_output=True, text=True
    )
    assert proc.returncode == 2 and not merged.exists()
    assert proc.stderr.strip().splitlines() == [
        f"vmafkit: error: {neg_out}:1: scored with libvmaf model vmaf_v0.6.1neg, but {plain_out}:1 with "
        "vmaf_v0.6.1; the models' vmaf and features differ, so their corpora never merge"
    ]


def test_corpus_refuses_a_metric_the_sources_are_too_small_for(make_ref_dir, tmp_path):
    ref_dir = make_ref_dir("bluesky_640x360_3f.yuv", "carphone_176x144_120f.mp4")
    out = tmp_path / "c.jsonl"
    proc = subprocess.run(
        [*VMAFKIT, "corpus", "--ref-dir", str(ref_dir), "--out", str(out), "--metrics", "ms_ssim", "--no-progress"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and not out.exists()
    assert proc.stderr.strip().splitlines() == [
        f"vmafkit: error: {media('carphone_176x144_120f.mp4').resolve()}: frames are 176x144 as scored; "
        "--metrics ms_ssim needs at least 176x176"
    ]
