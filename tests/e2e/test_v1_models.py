"""The VMAF v1 models (v1.0.16) through real ffmpeg + libvmaf (issue 22, item 1).

The oracle is libvmaf run by a hand-written ffmpeg command: both sides converted to 10 bits (as
Netflix's v1 notes ask for SDR, "even if the encoded video is 8-bit"), the model's CAMBI told the
encode's own width, height and bit depth, and every log name spelled out below as the wheel's
libvmaf writes it (measured, not taken from vmafkit). vmafkit's per-frame numbers must equal that
log to 1e-6, for every v1 model, for an 8-bit encode scaled up to the reference's size and for a
10-bit encode."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

import vmafkit
from vmafkit.corpus.build import build_corpus
from vmafkit.errors import InputError
from vmafkit.media.ffmpeg import find_ffmpeg
from vmafkit.media.score import score_pair

from ..conftest import media

VMAFKIT = [sys.executable, "-m", "vmafkit.cli"]
REF = "bigbuckbunny_1280x720_132f.mp4"
FRAMES = 3

_ADM = "_csf_2_dlmw_0.7_egl_1_min_0.5_nw_0.02"
_SPEED = "_mxv_45_nnf_0.1{}_snn_0.19_wvm_5"
# model -> (ADM/AIM parameters, SpEED's pixel scaling, motion parameters), as libvmaf logs them
LOGGED = {
    "vmaf_v1.0.16_3d0h": (_ADM, "", "_mmxv_18"),
    "vmaf_v1.0.16_5d0h": (_ADM + "_nvd_5", "_ps_0.6_psm_bilinear", "_mmxv_18"),
    "vmaf_v1.0.16_1d5h_2160": (_ADM + "_nvd_1.5_rdh_2160", "", "_mmxv_18"),
    "vmaf_v1.0.16_3d0h_2160": (_ADM + "_rdh_2160", "_ps_0.5_psm_bilinear", "_mmxv_18"),
    "vmaf_v1.0.16_hfr_3d0h": (_ADM, "", "_mffw_mmxv_18_mma"),
    "vmaf_v1.0.16_hfr_5d0h": (_ADM + "_nvd_5", "_ps_0.6_psm_bilinear", "_mffw_mmxv_18_mma"),
    "vmaf_v1.0.16_hfr_1d5h_2160": (_ADM + "_nvd_1.5_rdh_2160", "", "_mffw_mmxv_18_mma"),
    "vmaf_v1.0.16_hfr_3d0h_2160": (_ADM + "_rdh_2160", "_ps_0.5_psm_bilinear", "_mffw_mmxv_18_mma"),
}


def logged_names(model: str, enc_width: int, enc_height: int, enc_bitdepth: int) -> dict[str, str]:
    """vmafkit's v1 column -> libvmaf's log name for `model` with these CAMBI encode parameters."""
    adm, ps, motion = LOGGED[model]
    names = {f"integer_{f}": f"integer_{f}{adm}" for f in ("adm2", "adm3", "aim")}
    names |= {f"integer_adm_scale{i}": f"integer_adm_scale{i}{adm}" for i in range(4)}
    names |= {"integer_motion2": f"integer_motion2{motion}", "integer_motion3": f"integer_motion3{motion}"}
    names["integer_motion_sad"] = f"VMAF_integer_feature_motion_sad_score{motion}"
    names["cambi_hrs"] = f"cambi_hrs_1080_cmxv_17_vlt_0.06_encbd_{enc_bitdepth}_ench_{enc_height}_encw_{enc_width}"
    names |= {f"speed_chroma_{c}": f"speed_chroma_{c}{_SPEED.format(ps)}" for c in ("u", "v", "uv")}
    return names


def oracle(tmp: Path, dis: Path, ref: Path, model: str, dis_steps: str, enc: tuple[int, int, int]) -> dict:
    """libvmaf by hand: {frameNum: metrics}."""
    log = tmp / f"oracle-{model}.json"
    spec = f"version={model}\\\\:cambi.enc_width={enc[0]}\\\\:cambi.enc_height={enc[1]}\\\\:cambi.enc_bitdepth={enc[2]}"
    graph = (
        f"[0:v]{dis_steps}format=yuv420p10le[d];[1:v]trim=end_frame={FRAMES},format=yuv420p10le[r];"
        f"[d][r]libvmaf=model={spec}:log_fmt=json:log_path={log}:shortest=1"
    )
    argv = [find_ffmpeg().path, "-nostdin", "-loglevel", "error", "-i", dis, "-i", ref]
    subprocess.run([*map(str, argv), "-lavfi", graph, "-f", "null", "-"], check=True, capture_output=True)
    return {f["frameNum"]: f["metrics"] for f in json.loads(log.read_text())["frames"]}


def encode(tmp: Path, name: str, *args: str) -> Path:
    out = tmp / name
    argv = [find_ffmpeg().path, "-nostdin", "-loglevel", "error", "-y", "-i", media(REF), "-frames:v", FRAMES]
    subprocess.run([*map(str, argv), *args, str(out)], check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """An 8-bit x264 encode at half size (640x360: a scaled encode) and a 10-bit x265 one at full size."""
    tmp = tmp_path_factory.mktemp("v1")
    half = encode(tmp, "half.mp4", "-vf", "scale=640:360", "-c:v", "libx264", "-crf", "32", "-preset", "veryfast")
    deep = encode(tmp, "deep.mkv", "-pix_fmt", "yuv420p10le", "-c:v", "libx265", "-crf", "30", "-preset", "ultrafast")
    return tmp, half, deep


def _assert_equal_to_the_log(result, log: dict, names: dict[str, str]) -> None:
    assert len(result.frames) == FRAMES == len(log)
    for frame in result.frames:
        logged = log[frame["frame_index"]]
        assert frame["vmaf"] == pytest.approx(logged["vmaf"], abs=1e-6)
        for column, name in names.items():
            assert frame[column] == pytest.approx(logged[name], abs=1e-6), (column, name)


@pytest.mark.parametrize("model", sorted(LOGGED))
def test_every_v1_model_equals_libvmaf_run_by_hand_on_a_scaled_8_bit_encode(pair, model):
    tmp, half, _ = pair
    result = score_pair(media(REF), half, vmaf_model=model, max_frames=FRAMES, scale="bicubic")
    log = oracle(tmp, half, media(REF), model, "scale=1280:720:flags=bicubic,", (640, 360, 8))
    _assert_equal_to_the_log(result, log, logged_names(model, 640, 360, 8))
    assert set(result.frames[0]) == {"frame_index", "vmaf", *logged_names(model, 640, 360, 8)}
    assert result.meta["feature_set"] == "vmaf-v1.0.16" and result.meta["pix_fmt"] == "yuv420p10le"
    assert result.meta["encode"] == {"width": 640, "height": 360, "bit_depth": 8}


def test_a_10_bit_encode_tells_cambi_its_10_bits(pair):
    tmp, _, deep = pair
    model = "vmaf_v1.0.16_3d0h"
    result = score_pair(media(REF), deep, vmaf_model=model, max_frames=FRAMES)
    log = oracle(tmp, deep, media(REF), model, "", (1280, 720, 10))
    _assert_equal_to_the_log(result, log, logged_names(model, 1280, 720, 10))
    assert result.meta["encode"] == {"width": 1280, "height": 720, "bit_depth": 10}


def test_the_encode_side_changes_cambi_so_it_is_not_left_out(pair):
    """The same 8-bit encode, CAMBI told 8 bits (vmafkit) or left to assume the 10 bits it is scored
    at: libvmaf's numbers differ, so the parameters vmafkit passes are not a no-op."""
    tmp, half, _ = pair
    told = oracle(tmp, half, media(REF), "vmaf_v1.0.16_3d0h", "scale=1280:720:flags=bicubic,", (640, 360, 8))
    assumed = oracle(tmp, half, media(REF), "vmaf_v1.0.16_3d0h", "scale=1280:720:flags=bicubic,", (1280, 720, 10))
    told_cambi = [next(v for k, v in told[i].items() if k.startswith("cambi_hrs_")) for i in range(FRAMES)]
    assumed_cambi = [next(v for k, v in assumed[i].items() if k.startswith("cambi_hrs_")) for i in range(FRAMES)]
    assert told_cambi != assumed_cambi


def test_score_cli_csv_has_the_v1_columns(pair):
    _, half, _ = pair
    proc = subprocess.run(
        [*VMAFKIT, "score", "--ref", media(REF), "--dis", str(half), "--model", "vmaf_v1.0.16_5d0h", "--scale",
         "bicubic", "--max-frames", str(FRAMES), "--csv", "-"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert len(rows) == FRAMES
    assert list(rows[0])[:3] == ["frame_index", "vmaf", "integer_adm2"] and "speed_chroma_uv" in rows[0]
    assert "adm2" not in rows[0] and "vif_scale0" not in rows[0]


def test_frames_too_small_for_v1_are_one_line_naming_the_model(tmp_path):
    small = media("carphone_176x144_120f.mp4")
    proc = subprocess.run(
        [*VMAFKIT, "score", "--ref", small, "--dis", small, "--model", "vmaf_v1.0.16_5d0h", "--max-frames", "2"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert "vmaf_v1.0.16_5d0h needs larger frames than 176x144" in line and "480x270" in line


def test_a_v1_corpus_row_holds_libvmaf_s_own_numbers_for_its_kept_encode(tmp_path):
    """A v1 corpus: every row names its feature set and carries the 14 v1 columns (no canonical-6),
    each equal to libvmaf run by hand on the very encode the build kept (its record's sha256 is
    the file's)."""
    import hashlib

    from vmafkit import layout
    from vmafkit.corpus.schema import load_corpus, read_rows

    refs = tmp_path / "refs"
    refs.mkdir()
    (refs / REF).symlink_to(media(REF))
    out = tmp_path / "c.jsonl"
    model = "vmaf_v1.0.16_3d0h"
    build_corpus(refs, ["libx264"], [34], out, vmaf_model=model, max_frames=FRAMES, progress=False)
    rows = read_rows(out)
    assert len(rows) == FRAMES and {r["feature_set"] for r in rows} == {"vmaf-v1.0.16"}
    assert "adm2" not in rows[0] and "vif_scale0" not in rows[0]
    video, record = layout.kept_encode_files(layout.cell_cache_dir(out), rows[0]["encode_key"])
    assert json.loads(record.read_text())["sha256"] == hashlib.sha256(video.read_bytes()).hexdigest()
    log = oracle(tmp_path, video, media(REF), model, "", (1280, 720, 8))
    names = logged_names(model, 1280, 720, 8)
    for row in rows:
        logged = log[row["frame_index"]]
        assert row["vmaf"] == pytest.approx(logged["vmaf"], abs=1e-6)
        for column, name in names.items():
            assert row[column] == pytest.approx(logged[name], abs=1e-6), column
    corpus = load_corpus(out)
    assert set(corpus.feature_order) == set(names) and corpus.features.shape == (FRAMES, 14)


def test_a_144p_rung_upscaled_tells_cambi_its_depth_only_and_says_so(pair):
    """libvmaf's CAMBI refuses an encode size below 216x150 (the whole run fails with it): vmafkit
    tells it the bit depth alone, equal to libvmaf run that way by hand, and a note says so."""
    tmp, _, _ = pair
    rung = encode(tmp, "rung144.mp4", "-vf", "scale=256:144", "-c:v", "libx264", "-crf", "30", "-preset", "veryfast")
    model = "vmaf_v1.0.16_3d0h"
    result = score_pair(media(REF), rung, vmaf_model=model, max_frames=FRAMES, scale="bicubic")
    log = tmp / "oracle-144.json"
    graph = (
        f"[0:v]scale=1280:720:flags=bicubic,format=yuv420p10le[d];[1:v]trim=end_frame={FRAMES},format=yuv420p10le[r];"
        f"[d][r]libvmaf=model=version={model}\\\\:cambi.enc_bitdepth=8:log_fmt=json:log_path={log}:shortest=1"
    )
    argv = [find_ffmpeg().path, "-nostdin", "-loglevel", "error", "-i", rung, "-i", media(REF)]
    subprocess.run([*map(str, argv), "-lavfi", graph, "-f", "null", "-"], check=True, capture_output=True)
    by_hand = {f["frameNum"]: f["metrics"] for f in json.loads(log.read_text())["frames"]}
    names = logged_names(model, 0, 0, 8)
    names["cambi_hrs"] = "cambi_hrs_1080_cmxv_17_vlt_0.06_encbd_8"
    _assert_equal_to_the_log(result, by_hand, names)
    assert result.meta["encode"] == {"width": None, "height": None, "bit_depth": 8}
    assert any("encoded at 256x144, below the 216x150" in note for note in result.meta["notes"])


def test_a_12_bit_pair_is_scored_at_10_bits_like_any_other(tmp_path):
    ref12, dis12 = tmp_path / "ref12.y4m", tmp_path / "dis12.y4m"
    ff = find_ffmpeg().path
    base = [ff, "-nostdin", "-loglevel", "error", "-y", "-i", str(media(REF)), "-frames:v", str(FRAMES)]
    subprocess.run([*base, "-pix_fmt", "yuv420p12le", "-strict", "-1", str(ref12)], check=True)
    subprocess.run(
        [*base, "-vf", "gblur=sigma=1.5", "-pix_fmt", "yuv420p12le", "-strict", "-1", str(dis12)], check=True
    )
    result = score_pair(ref12, dis12, vmaf_model="vmaf_v1.0.16_3d0h")
    log = oracle(tmp_path, dis12, ref12, "vmaf_v1.0.16_3d0h", "", (1280, 720, 12))
    _assert_equal_to_the_log(result, log, logged_names("vmaf_v1.0.16_3d0h", 1280, 720, 12))
    assert result.meta["pix_fmt"] == "yuv420p10le" and result.meta["encode"]["bit_depth"] == 12


def test_predict_scores_a_real_pair_with_a_v1_ensemble_s_own_model(tmp_path, pair):
    """`predict --ref --dis` with an ensemble trained on v1 features scores the pair with that v1
    model (the frames' teacher vmaf equals libvmaf's by hand) and checks its frames against the
    domain (the ensemble is the synthetic v1 one: real features lie outside its ranges, which
    predict names, and --allow-out-of-domain serves them marked)."""
    from vmafkit import api

    from ..factories import export_models

    (tmp_path / "v1").mkdir()
    models, _, _ = export_models(tmp_path / "v1", seeds=(0, 1), v1=True)
    _, half, _ = pair
    with pytest.raises(InputError, match=r"outside the training domain: .*integer_"):
        api.predict(models, media(REF), half, max_frames=FRAMES, scoring=vmafkit.Scoring(scale="bicubic"))
    result = api.predict(
        models, media(REF), half, max_frames=FRAMES, scoring=vmafkit.Scoring(scale="bicubic"), allow_out_of_domain=True
    )
    log = oracle(tmp_path, half, media(REF), "vmaf_v1.0.16_3d0h", "scale=1280:720:flags=bicubic,", (640, 360, 8))
    assert [f["vmaf"] for f in result["frames"]] == pytest.approx([log[i]["vmaf"] for i in range(FRAMES)], abs=1e-6)
    assert all(f["in_domain"] is False and f["lower"] is None for f in result["frames"])
