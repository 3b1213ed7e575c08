"""libvmaf's models, metrics and subsampling: the argv both back-ends get, log parsing, cache keys.

The expected argv pieces are written out by hand from ffmpeg's and libvmaf's option syntax (and
were run against the wheel's ffmpeg: tests/e2e/test_models_metrics.py); none is built with the
code under test."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmafkit.corpus.build import Cell, CellContext, cell_key
from vmafkit.errors import InputError
from vmafkit.media import ffmpeg as ffm
from vmafkit.media import libvmaf
from vmafkit.media.libvmaf import CANONICAL6, LIBVMAF_NAMES
from vmafkit.media.score import frame_columns, parse_libvmaf_log
from vmafkit.media.sources import Source
from vmafkit.media.vmafcli import vmaf_cli_argv

FF = ffm.Ffmpeg(path="/opt/ffmpeg", reason="test", version="n9", has_libvmaf=True, libvmaf_version="86da14d")
SPEC = ffm.InputSpec(Path("/clips/a.y4m"), False, 64, 64, "yuv420p", 25.0)


def test_the_tables_agree_with_the_corpus_schema():
    # libvmaf's log names of the default model, written out by hand
    assert (
        libvmaf.MODELS[libvmaf.DEFAULT_MODEL].feature_names
        == LIBVMAF_NAMES
        == (
            "integer_adm2",
            "integer_vif_scale0",
            "integer_vif_scale1",
            "integer_vif_scale2",
            "integer_vif_scale3",
            "integer_motion2",
        )
    )
    assert CANONICAL6 == ("adm2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3", "motion2")
    assert ffm.VMAF_MODEL == "vmaf_v0.6.1"
    neg = libvmaf.MODELS["vmaf_v0.6.1neg"].feature_names
    assert neg == (
        "integer_adm2_egl_1",
        "integer_vif_scale0_egl_1",
        "integer_vif_scale1_egl_1",
        "integer_vif_scale2_egl_1",
        "integer_vif_scale3_egl_1",
        "integer_motion2",
    )
    assert libvmaf.MODELS["vmaf_float_v0.6.1"].feature_names == tuple(CANONICAL6)
    assert not set(libvmaf.METRIC_COLUMNS) & {"frame_index", "vmaf", *CANONICAL6}


def _libvmaf_filter(argv: list[str]) -> str:
    graph = argv[argv.index("-filter_complex") + 1]
    return graph[graph.index("libvmaf=") :]


def _score_argv(**kwargs) -> list[str]:
    return ffm.score_argv(FF, ffm.ScoreJob(SPEC, SPEC, "yuv420p", **kwargs), Path("/tmp/x/vmaf.json"))


def test_default_filter_is_unchanged():
    assert _libvmaf_filter(_score_argv()) == (
        "libvmaf=model=version=vmaf_v0.6.1:log_fmt=json:log_path=/tmp/x/vmaf.json:n_threads=1:shortest=1"
    )


@pytest.mark.parametrize(
    "kwargs, options",
    [
        ({"vmaf_model": "vmaf_v0.6.1neg"}, "model=version=vmaf_v0.6.1neg"),
        ({"vmaf_model": "vmaf_4k_v0.6.1"}, "model=version=vmaf_4k_v0.6.1"),
        ({"vmaf_model": "vmaf_v0.6.1_phone"}, "model=version=vmaf_v0.6.1\\\\:enable_transform=true"),
        (
            {"metrics": ("psnr", "ssim", "ms_ssim", "cambi", "psnr_hvs", "ciede")},
            "model=version=vmaf_v0.6.1:feature=name=psnr|name=float_ssim|name=float_ms_ssim|name=cambi"
            "|name=psnr_hvs|name=ciede",
        ),
        ({"subsample": 3}, "model=version=vmaf_v0.6.1:n_subsample=3"),
        (
            {"vmaf_model": "vmaf_float_v0.6.1", "metrics": ("psnr",), "subsample": 2},
            "model=version=vmaf_float_v0.6.1:feature=name=psnr:n_subsample=2",
        ),
    ],
)
def test_model_metrics_and_subsample_in_the_filter(kwargs, options):
    assert _libvmaf_filter(_score_argv(**kwargs)) == (
        f"libvmaf={options}:log_fmt=json:log_path=/tmp/x/vmaf.json:n_threads=1:shortest=1"
    )


def test_an_unknown_model_is_refused_listing_the_allowed_ones():
    with pytest.raises(InputError) as info:
        _score_argv(vmaf_model="vmaf_v0.6.0")
    message = str(info.value)
    assert message.startswith("unknown libvmaf model 'vmaf_v0.6.0'; allowed: vmaf_v0.6.1, vmaf_v0.6.1neg,")
    assert "vmaf_v0.6.1_phone" in message and "\n" not in message


def test_vmaf_cli_argv_passes_model_metrics_and_subsample_through():
    default = vmaf_cli_argv("/opt/vmaf", Path("/p/ref.y4m"), Path("/p/dis.y4m"), Path("/p/log.json"), threads=2)
    assert default == [
        "/opt/vmaf",
        "--reference",
        "/p/ref.y4m",
        "--distorted",
        "/p/dis.y4m",
        "--model",
        "version=vmaf_v0.6.1",
        "--json",
        "--output",
        "/p/log.json",
        "--threads",
        "2",
        "--quiet",
    ]
    argv = vmaf_cli_argv(
        "/opt/vmaf",
        Path("/p/ref.y4m"),
        Path("/p/dis.y4m"),
        Path("/p/log.json"),
        vmaf_model="vmaf_v0.6.1_phone",
        metrics=("psnr", "ms_ssim"),
        subsample=4,
    )
    assert argv[5:13] == [
        "--model",
        "version=vmaf_v0.6.1:enable_transform=true",
        "--feature",
        "psnr",
        "--feature",
        "float_ms_ssim",
        "--subsample",
        "4",
    ]
    neg = vmaf_cli_argv("/opt/vmaf", Path("/r"), Path("/d"), Path("/l"), vmaf_model="vmaf_4k_v0.6.1neg")
    assert neg[neg.index("--model") + 1] == "version=vmaf_4k_v0.6.1neg" and "--feature" not in neg


def test_parse_metrics_keeps_order_drops_repeats_and_names_the_allowed():
    assert libvmaf.parse_metrics(" psnr, ssim,,psnr ,cambi") == ("psnr", "ssim", "cambi")
    assert libvmaf.parse_metrics(None) == () == libvmaf.parse_metrics("")
    assert libvmaf.parse_metrics(["ciede"]) == ("ciede",)
    with pytest.raises(InputError) as info:
        libvmaf.parse_metrics("psnr,vmaf")
    assert str(info.value) == "unknown metric 'vmaf'; allowed: psnr, psnr_hvs, ssim, ms_ssim, cambi, ciede, xpsnr"


@pytest.mark.parametrize("frames", [1, 2, 5, 47, 48, 49])
@pytest.mark.parametrize("subsample", [1, 2, 5, 48, 100])
def test_scored_frames_counts_indices_0_n_2n(frames, subsample):
    assert libvmaf.scored_frames(frames, subsample) == len(range(0, frames, subsample))


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2", 1_000_001, 99_999_999_999])
def test_subsample_must_be_a_whole_number_in_range(bad):
    # past 2**31 libvmaf fails with "Numerical result out of range"; a million is the stated cap
    with pytest.raises(InputError, match="--subsample must be a whole number from 1 to 1000000"):
        libvmaf.check_subsample(bad)
    assert libvmaf.check_subsample(1_000_000) == 1_000_000


def test_metric_size_limits_are_the_measured_ones():
    # measured on the wheel's ffmpeg: ms_ssim 176x176 works, 175 on either side fails;
    # cambi 216x100 and 100x216 work, 215x215 fails
    for width, height in ((176, 176), (1920, 176)):
        libvmaf.check_metric_sizes(["ms_ssim"], width, height)
    for width, height in ((175, 400), (400, 175)):
        with pytest.raises(InputError, match=rf"frames are {width}x{height} as scored; --metrics ms_ssim needs"):
            libvmaf.check_metric_sizes(["ms_ssim"], width, height, path="clip.y4m")
    for width, height in ((216, 100), (100, 216), (216, 18)):
        libvmaf.check_metric_sizes(["cambi"], width, height)
    with pytest.raises(InputError, match="cambi needs a side of at least 216"):
        libvmaf.check_metric_sizes(["psnr", "cambi"], 215, 215)
    libvmaf.check_metric_sizes(["psnr", "ssim", "psnr_hvs", "ciede"], 18, 18)


def _log(*frames: dict) -> dict:
    return {"frames": [{"frameNum": i, "metrics": m} for i, m in frames]}


def test_the_log_is_read_under_the_models_and_metrics_names():
    neg = {
        "vmaf": 90.5,
        "integer_adm2_egl_1": 0.91,
        "integer_vif_scale0_egl_1": 0.5,
        "integer_vif_scale1_egl_1": 0.6,
        "integer_vif_scale2_egl_1": 0.7,
        "integer_vif_scale3_egl_1": 0.8,
        "integer_motion2": 3.0,
        "integer_adm2": 0.99,  # the unlimited one is in the log too: not the NEG model's feature
        "psnr_y": 40.0,
        "psnr_cb": 41.0,
        "psnr_cr": 42.0,
        "float_ssim": 0.97,
    }
    rows = parse_libvmaf_log(_log((5, neg), (0, neg)), "log", vmaf_model="vmaf_v0.6.1neg", metrics=("psnr", "ssim"))
    assert [r["frame_index"] for r in rows] == [0, 5]
    assert rows[0] == {
        "frame_index": 0,
        "vmaf": 90.5,
        "adm2": 0.91,
        "vif_scale0": 0.5,
        "vif_scale1": 0.6,
        "vif_scale2": 0.7,
        "vif_scale3": 0.8,
        "motion2": 3.0,
        "psnr_y": 40.0,
        "psnr_cb": 41.0,
        "psnr_cr": 42.0,
        "float_ssim": 0.97,
    }
    assert tuple(rows[0]) == frame_columns(("psnr", "ssim"))
    with pytest.raises(InputError, match="^log: libvmaf log lacks integer_vif_scale0$"):
        parse_libvmaf_log(_log((0, neg)), "log")  # read as vmaf_v0.6.1, whose adm2 is not in the log
    with pytest.raises(InputError, match="^log: libvmaf log lacks ciede2000$"):
        parse_libvmaf_log(_log((0, neg)), "log", vmaf_model="vmaf_v0.6.1neg", metrics=("ciede",))


# ----------------------------------------------------------------------------- XPSNR (ffmpeg's filter)


def test_xpsnr_runs_beside_libvmaf_on_the_same_frames_in_one_process():
    argv = _score_argv(metrics=("psnr", "xpsnr"))
    graph = argv[argv.index("-filter_complex") + 1].split(";")
    assert graph[2:4] == ["[dis_all]split[dis][dis_x]", "[ref_all]split[ref][ref_x]"]
    assert graph[0].endswith("setpts=N[dis_all]") and graph[1].endswith("setpts=N[ref_all]")
    # libvmaf computes psnr only; xpsnr is the filter's, into its stats file beside the log
    assert graph[4].startswith("[dis][ref]libvmaf=model=version=vmaf_v0.6.1:feature=name=psnr:log_fmt=json")
    assert graph[4].endswith("[scored]")
    assert graph[5] == "[dis_x][ref_x]xpsnr=stats_file=/tmp/x/vmaf.xpsnr.txt:shortest=1[xpsnr]"
    assert argv[-10:] == ["-map", "[scored]", "-f", "null", "-", "-map", "[xpsnr]", "-f", "null", "-"]


def test_without_xpsnr_the_graph_has_no_split():
    assert "split" not in _score_argv(metrics=("psnr",))[-5]


def test_the_xpsnr_stats_file_is_read_by_frame_from_1():
    text = (
        "n:    1  XPSNR y: 43.6692  XPSNR u: 52.1385  XPSNR v: 53.1321\n"
        "n:    2  XPSNR y: inf  XPSNR u: inf  XPSNR v: 37.3513\n"
        "\n"
        "XPSNR average, 2 frames  y: inf  u: inf  v: 45.2417  (minimum: 43.6692)\n"
    )
    frames = libvmaf.parse_xpsnr_stats(text, "s.txt")
    assert frames == {
        0: {"xpsnr_y": 43.6692, "xpsnr_u": 52.1385, "xpsnr_v": 53.1321},
        1: {"xpsnr_y": float("inf"), "xpsnr_u": float("inf"), "xpsnr_v": 37.3513},
    }
    with pytest.raises(InputError, match=r"^s.txt: unreadable xpsnr stats line 1: 'n: 1 PSNR y: 3'"):
        libvmaf.parse_xpsnr_stats("n: 1 PSNR y: 3", "s.txt")


def test_the_vmaf_cli_back_end_refuses_xpsnr():
    with pytest.raises(InputError, match="^--metrics xpsnr is ffmpeg's own filter.*score without --vmaf-bin$"):
        vmaf_cli_argv("vmaf", Path("r.y4m"), Path("d.y4m"), Path("l.json"), metrics=("psnr", "xpsnr"))


# ----------------------------------------------------------------------------- VMAF v1

# One frame of a v1 log as the wheel's libvmaf writes it for vmaf_v1.0.16_5d0h with CAMBI's encode
# parameters (names copied from a real run: tests/e2e/test_v1_models.py runs them all).
_A = "_csf_2_dlmw_0.7_egl_1_min_0.5_nw_0.02_nvd_5"
_S = "_mxv_45_nnf_0.1_ps_0.6_psm_bilinear_snn_0.19_wvm_5"
V1_FRAME = {
    "VMAF_integer_feature_motion_sad_score_mmxv_18": 2.5,
    "cambi_hrs_1080_cmxv_17_vlt_0.06_encbd_8_ench_272_encw_640": 9.38,
    f"integer_adm2{_A}": 0.92,
    f"integer_adm3{_A}": 0.93,
    f"integer_adm_scale0{_A}": 0.95,
    f"integer_adm_scale1{_A}": 0.87,
    f"integer_adm_scale2{_A}": 0.89,
    f"integer_adm_scale3{_A}": 0.95,
    f"integer_aim{_A}": 0.04,
    "integer_motion2_mmxv_18": 2.2,
    "integer_motion3_mmxv_18": 2.6,
    f"speed_chroma_u{_S}": 0.1,
    f"speed_chroma_uv{_S}": 0.3,
    f"speed_chroma_v{_S}": 0.2,
    "vmaf": 70.9,
}


def test_a_v1_log_is_read_into_the_v1_columns_by_their_prefixes():
    (row,) = parse_libvmaf_log(_log((0, V1_FRAME)), "log", vmaf_model="vmaf_v1.0.16_5d0h")
    assert row == {
        "frame_index": 0,
        "vmaf": 70.9,
        "integer_adm2": 0.92,
        "integer_adm3": 0.93,
        "integer_adm_scale0": 0.95,
        "integer_adm_scale1": 0.87,
        "integer_adm_scale2": 0.89,
        "integer_adm_scale3": 0.95,
        "integer_aim": 0.04,
        "integer_motion2": 2.2,
        "integer_motion3": 2.6,
        "integer_motion_sad": 2.5,
        "cambi_hrs": 9.38,
        "speed_chroma_u": 0.1,
        "speed_chroma_v": 0.2,
        "speed_chroma_uv": 0.3,
    }
    assert tuple(row) == frame_columns((), "vmaf_v1.0.16_5d0h")
    assert libvmaf.MODELS["vmaf_v1.0.16_5d0h"].columns == tuple(row)[2:]


def test_a_v1_log_missing_or_doubling_a_feature_is_refused():
    missing = {k: v for k, v in V1_FRAME.items() if not k.startswith("integer_aim")}
    with pytest.raises(InputError, match=r"^log: libvmaf log has 0 entries for integer_aim \(integer_aim_\*\)"):
        parse_libvmaf_log(_log((0, missing)), "log", vmaf_model="vmaf_v1.0.16_3d0h")
    doubled = {**V1_FRAME, "cambi_hrs_1080_cmxv_17_vlt_0.06": 13.0}
    with pytest.raises(InputError, match="has 2 entries for cambi_hrs"):
        parse_libvmaf_log(_log((0, doubled)), "log", vmaf_model="vmaf_v1.0.16_3d0h")
    # read as v0.6.1, a v1 log lacks the canonical-6
    with pytest.raises(InputError, match="lacks integer_adm2$"):
        parse_libvmaf_log(_log((0, V1_FRAME)), "log")


def test_every_v1_model_is_offered_with_its_range_depth_and_features():
    v1 = sorted(name for name, model in libvmaf.MODELS.items() if model.is_v1)
    assert v1 == sorted(
        f"vmaf_v1.0.16{hfr}_{c}" for hfr in ("", "_hfr") for c in ("3d0h", "5d0h", "1d5h_2160", "3d0h_2160")
    )
    for name in v1:
        model = libvmaf.MODELS[name]
        assert (model.version, model.bit_depth, model.feature_set) == (name, 10, "vmaf-v1.0.16")
        assert model.score_max == (110.0 if name.endswith("3d0h_2160") else 100.0)  # Netflix's models_v1.md
    assert libvmaf.MODELS["vmaf_v0.6.1"].bit_depth is None and libvmaf.MODELS["vmaf_v0.6.1"].columns == CANONICAL6


def test_a_v1_model_tells_cambi_the_encode_side_in_both_back_ends():
    encode = libvmaf.EncodeSide(640, 360, 8)
    assert ffm.libvmaf_options("vmaf_v1.0.16_3d0h", encode=encode) == (
        "model=version=vmaf_v1.0.16_3d0h\\\\:cambi.enc_width=640\\\\:cambi.enc_height=360\\\\:cambi.enc_bitdepth=8"
    )
    argv = vmaf_cli_argv(
        "vmaf", Path("r.y4m"), Path("d.y4m"), Path("l.json"), vmaf_model="vmaf_v1.0.16_3d0h", encode=encode
    )
    assert argv[argv.index("--model") + 1] == (
        "version=vmaf_v1.0.16_3d0h:cambi.enc_width=640:cambi.enc_height=360:cambi.enc_bitdepth=8"
    )
    # a v0.6.1 model has no CAMBI to tell
    assert ffm.libvmaf_options("vmaf_v0.6.1", encode=encode) == "model=version=vmaf_v0.6.1"


@pytest.mark.parametrize(
    "source, depth, scored",
    [
        ("yuv420p", None, "yuv420p"),
        ("yuv420p", 10, "yuv420p10le"),
        ("yuv444p", 10, "yuv444p10le"),
        ("yuv420p10le", 10, "yuv420p10le"),
        ("yuvj420p", 10, "yuv420p10le"),
        ("rgb24", 10, "yuv420p10le"),
        ("p010le", None, "yuv420p10le"),
    ],
)
def test_v1_scores_at_10_bits_whatever_the_sources_depth(source, depth, scored):
    assert ffm.scoring_pix_fmt(source, depth) == scored


def test_a_row_s_feature_columns_and_score_range_follow_its_model():
    canonical = ("adm2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3", "motion2")
    assert libvmaf.feature_columns("vmaf_v0.6.1neg") == canonical
    assert libvmaf.feature_columns("a model of another kit") == canonical  # the v0.6.1 columns, as before
    v1 = libvmaf.feature_columns("vmaf_v1.0.16_hfr_5d0h")
    assert len(v1) == 14 and v1[0] == "integer_adm2" and v1[-1] == "speed_chroma_uv"
    assert libvmaf.feature_set_of("vmaf_v1.0.16_3d0h") == "vmaf-v1.0.16"
    assert libvmaf.feature_set_of("vmaf_float_v0.6.1") == "vmaf-v0.6.1"
    assert libvmaf.score_max_of("vmaf_v1.0.16_3d0h_2160") == 110.0
    assert libvmaf.score_max_of("vmaf_v1.0.16_3d0h") == 100.0


def test_the_too_small_hint_names_only_sizes_below_the_measured_minimum():
    model = libvmaf.MODELS["vmaf_v1.0.16_5d0h"]
    assert "480x270" in (libvmaf.too_small_hint(model, 432, 240) or "")
    assert libvmaf.too_small_hint(model, 480, 270) is None
    assert libvmaf.too_small_hint(libvmaf.MODELS["vmaf_v0.6.1"], 16, 16) is None


# ----------------------------------------------------------------------------- cell cache keys


def _cell() -> Cell:
    source = Source(
        path=Path("/refs/a.y4m"),
        name="a",
        kind="y4m",
        width=64,
        height=64,
        pix_fmt="yuv420p",
        fps=25.0,
        bit_depth=8,
        frames=10,
        sha256="ab" * 32,
        size=1000,
        group="a",
    )
    return Cell(source, "libx264", "medium", 30)


def _ctx(**kwargs) -> CellContext:
    return CellContext(ff=FF, cache_dir=Path("/cache"), max_frames=4, threads=1, **kwargs)


def test_every_libvmaf_choice_is_part_of_the_cell_key():
    cell = _cell()
    default = cell_key(cell, _ctx())
    assert cell_key(cell, _ctx(vmaf_model="vmaf_v0.6.1", metrics=(), subsample=1)) == default
    keys = {
        cell_key(cell, _ctx(**kwargs))
        for kwargs in (
            {},
            {"vmaf_model": "vmaf_v0.6.1neg"},
            {"vmaf_model": "vmaf_v0.6.1_phone"},
            {"vmaf_model": "vmaf_4k_v0.6.1"},
            {"metrics": ("psnr",)},
            {"metrics": ("psnr", "ssim")},
            {"metrics": ("ssim", "psnr")},
            {"subsample": 2},
            {"vmaf_model": "vmaf_v0.6.1neg", "subsample": 2},
        )
    }
    assert len(keys) == 9


# ----------------------------------------------------------------------------- found by attacking the above


@pytest.mark.parametrize(
    "source, scored",
    [
        ("yuv420p12le", "yuv420p10le"),
        ("yuv444p12le", "yuv444p10le"),
        ("yuv422p16le", "yuv422p10le"),
        ("gray", "yuv420p10le"),
    ],
)
def test_any_depth_is_scored_at_the_10_bit_form_of_its_layout_for_v1(source, scored):
    assert ffm.scoring_pix_fmt(source, 10) == scored


def test_an_encode_too_small_for_cambi_is_told_its_depth_only():
    # measured: libvmaf's CAMBI refuses enc_width < 216 or enc_height < 150 (the whole run fails)
    assert libvmaf.EncodeSide.of(216, 150, 8) == libvmaf.EncodeSide(216, 150, 8)
    for width, height in ((256, 144), (215, 150), (150, 216)):
        small = libvmaf.EncodeSide.of(width, height, 8)
        assert (small.width, small.height, small.bit_depth) == (None, None, 8)
    assert libvmaf.model_spec("vmaf_v1.0.16_3d0h", libvmaf.EncodeSide.of(256, 144, 8)) == [
        "version=vmaf_v1.0.16_3d0h",
        "cambi.enc_bitdepth=8",
    ]


@pytest.mark.parametrize(
    "log, said",
    [
        ({"frames": "xy"}, "is not {frames:"),
        ({"frames": [{"frameNum": 0, "metrics": None}]}, "is not {frames:"),
        ([1, 2], "is not {frames:"),
        (
            {"frames": [{"frameNum": 0, "metrics": {**dict.fromkeys(LIBVMAF_NAMES, 0.5), "vmaf": "abc"}}]},
            "vmaf is 'abc'",
        ),
        (
            {"frames": [{"frameNum": 0, "metrics": {**dict.fromkeys(LIBVMAF_NAMES, 0.5), "vmaf": float("nan")}}]},
            "vmaf is nan",
        ),
        (
            {"frames": [{"frameNum": 0, "metrics": {**dict.fromkeys(LIBVMAF_NAMES, 0.5), "vmaf": float("inf")}}]},
            "not a finite",
        ),
        (
            {"frames": [{"frameNum": 0, "metrics": {**dict.fromkeys(LIBVMAF_NAMES, 0.5), "vmaf": 90.0}}] * 2},
            "frameNum 0 twice",
        ),
        (
            {"frames": [{"frameNum": "0", "metrics": {**dict.fromkeys(LIBVMAF_NAMES, 0.5), "vmaf": 90.0}}]},
            "frameNum '0'",
        ),
    ],
)
def test_a_log_of_another_shape_is_one_error_naming_it(log, said):
    with pytest.raises(InputError) as info:
        parse_libvmaf_log(log, "vmaf.json")
    assert str(info.value).startswith("vmaf.json: libvmaf log") and said in str(info.value)


def test_an_infinite_metric_is_kept():
    frame = {
        **dict.fromkeys(LIBVMAF_NAMES, 0.5),
        "vmaf": 99.0,
        "psnr_y": float("inf"),
        "psnr_cb": 60.0,
        "psnr_cr": 60.0,
    }
    (row,) = parse_libvmaf_log({"frames": [{"frameNum": 0, "metrics": frame}]}, "l", metrics=("psnr",))
    assert row["psnr_y"] == float("inf")


# ----------------------------------------------------------------------------- the scoring recipe


def test_the_recipe_of_libvmafs_defaults_is_pinned_and_each_choice_changes_it():
    default = libvmaf.scoring_recipe("vmaf_v0.6.1", (), 1, None)
    assert default == {
        "model": "vmaf_v0.6.1",
        "feature_set": "vmaf-v0.6.1",
        "metrics": [],
        "subsample": 1,
        "depth": "source",
        "scale_filter": None,
        "hdr_as_sdr": False,
    }
    # pinned: rows written by this version carry it; a change here splits every corpus in two
    # the sha256 of its canonical JSON, computed with sha256sum:
    # {"depth":"source","feature_set":"vmaf-v0.6.1","hdr_as_sdr":false,"metrics":[],"model":"vmaf_v0.6.1",
    #  "scale_filter":null,"subsample":1}
    assert libvmaf.recipe_id(default) == "1dfce7f748d20cc1"
    others = [
        libvmaf.scoring_recipe("vmaf_v0.6.1neg", (), 1, None),
        libvmaf.scoring_recipe("vmaf_v0.6.1", ("psnr",), 1, None),
        libvmaf.scoring_recipe("vmaf_v0.6.1", (), 2, None),
        libvmaf.scoring_recipe("vmaf_v0.6.1", (), 1, "bicubic"),
        libvmaf.scoring_recipe("vmaf_v0.6.1", (), 1, None, hdr_as_sdr=True),
        libvmaf.scoring_recipe("vmaf_v1.0.16_3d0h", (), 1, None),
    ]
    ids = {libvmaf.recipe_id(r) for r in others}
    assert len(ids) == len(others) and libvmaf.recipe_id(default) not in ids
    assert libvmaf.scoring_recipe("vmaf_v1.0.16_3d0h", (), 1, None)["depth"] == 10
