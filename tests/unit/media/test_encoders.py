"""Encoder adapters against their argv contract, spelled out here by hand.

The hardware encoders (nvenc, qsv, vaapi, amf, videotoolbox) cannot run on this CI host: their
tests are FAKES in the sense that no encode happens — they check only the argv vmafkit builds.
"""

from __future__ import annotations

import pytest

from vmafkit.errors import InputError
from vmafkit.media import ffmpeg as ffm
from vmafkit.media.encoders import ADAPTERS, get_adapter, videotoolbox_quality

FAKE_FF = ffm.Ffmpeg(path="/fake/ffmpeg", reason="test", version="n0", has_libvmaf=True, libvmaf_version="x")


def _argv(name, cq, preset=None, device="/dev/dri/renderD129"):
    args = get_adapter(name).args(cq, preset, device=device)
    spec = ffm.InputSpec(
        path=__import__("pathlib").Path("/clips/a.y4m"), raw=False, width=64, height=64, pix_fmt="yuv420p", fps=25.0
    )
    return ffm.encode_argv(
        FAKE_FF,
        spec,
        __import__("pathlib").Path("/tmp/o.mkv"),
        encoder=name,
        codec_args=args.codec_args,
        hw_init=args.hw_init,
        encoder_filters=args.filters,
    )


def _after_codec(argv, name):
    i = argv.index("-c:v")
    assert argv[i + 1] == name
    return argv[i + 2 : -1]


def test_all_contract_families_are_present():
    expected = {"libx264", "libx265", "libsvtav1", "libaom-av1", "libvpx-vp9"}
    expected |= {f"{c}_{f}" for c in ("h264", "hevc", "av1") for f in ("nvenc", "qsv", "vaapi", "amf")}
    expected |= {"h264_videotoolbox", "hevc_videotoolbox"}
    assert expected <= set(ADAPTERS) and len(expected) == 19


@pytest.mark.parametrize("name", ["libx264", "libx265"])
def test_x26x(name):
    assert _after_codec(_argv(name, 23), name) == ["-crf", "23", "-preset", "medium"]
    assert _after_codec(_argv(name, 23, "slow"), name) == ["-crf", "23", "-preset", "slow"]


def test_svtav1_numeric_preset():
    assert _after_codec(_argv("libsvtav1", 35, "6"), "libsvtav1") == ["-crf", "35", "-preset", "6"]
    assert get_adapter("libsvtav1").preset_for("medium").isdigit()


@pytest.mark.parametrize("name", ["libaom-av1", "libvpx-vp9"])
def test_crf_with_zero_bitrate(name):
    assert _after_codec(_argv(name, 40, "5"), name) == ["-crf", "40", "-b:v", "0", "-cpu-used", "5"]


@pytest.mark.fake
@pytest.mark.parametrize("codec", ["h264", "hevc", "av1"])
def test_nvenc_preset_map(codec):
    name = f"{codec}_nvenc"
    assert _after_codec(_argv(name, 28), name) == ["-cq", "28", "-preset", "p4"]
    assert _after_codec(_argv(name, 28, "ultrafast"), name)[-1] == "p1"
    assert _after_codec(_argv(name, 28, "placebo"), name)[-1] == "p7"
    assert _after_codec(_argv(name, 28, "p6"), name)[-1] == "p6"


@pytest.mark.fake
@pytest.mark.parametrize("codec", ["h264", "hevc", "av1"])
def test_qsv(codec):
    name = f"{codec}_qsv"
    argv = _argv(name, 25)
    assert _after_codec(argv, name) == ["-global_quality", "25", "-preset", "medium"]
    i = argv.index("-init_hw_device")
    assert argv[i + 1] == "qsv:hw,child_device=/dev/dri/renderD129"
    assert i < argv.index("-i")  # hardware init is a global option, before the input


@pytest.mark.fake
@pytest.mark.parametrize("codec", ["h264", "hevc", "av1"])
def test_vaapi(codec):
    name = f"{codec}_vaapi"
    argv = _argv(name, 30)
    assert _after_codec(argv, name) == ["-qp", "30"]
    assert argv[argv.index("-init_hw_device") + 1] == "vaapi=va:/dev/dri/renderD129"
    assert argv[argv.index("-vf") + 1] == "format=nv12,hwupload=extra_hw_frames=16"


@pytest.mark.fake
@pytest.mark.parametrize("codec", ["h264", "hevc", "av1"])
def test_amf(codec):
    name = f"{codec}_amf"
    assert _after_codec(_argv(name, 27), name) == ["-rc", "cqp", "-qp_i", "27", "-qp_p", "27"]


@pytest.mark.fake
@pytest.mark.parametrize("name", ["h264_videotoolbox", "hevc_videotoolbox"])
def test_videotoolbox_quality_clamp(name):
    assert _after_codec(_argv(name, 30), name) == ["-q:v", "40", "-realtime", "0"]
    assert [videotoolbox_quality(cq) for cq in (0, 10, 49, 50, 51)] == [100, 80, 2, 1, 1]


def test_crop_goes_before_the_encoder_filters():
    args = get_adapter("h264_vaapi").args(30)
    spec = ffm.InputSpec(
        path=__import__("pathlib").Path("/c/a.mpg"), raw=False, width=721, height=405, pix_fmt="yuv420p", fps=25.0
    )
    argv = ffm.encode_argv(
        FAKE_FF,
        spec,
        __import__("pathlib").Path("/o.mkv"),
        encoder="h264_vaapi",
        codec_args=args.codec_args,
        hw_init=args.hw_init,
        encoder_filters=args.filters,
        crop=["crop=720:404:0:0"],
    )
    assert argv[argv.index("-vf") + 1] == "crop=720:404:0:0,format=nv12,hwupload=extra_hw_frames=16"


def test_out_of_range_cq_and_unknown_encoder():
    with pytest.raises(InputError, match="outside"):
        get_adapter("libx264").args(70)
    with pytest.raises(InputError, match="unknown encoder"):
        get_adapter("x264")


def test_paths_are_file_urls_so_dash_names_are_not_options():
    spec = ffm.InputSpec(
        path=__import__("pathlib").Path("/c/-rm -rf.y4m"), raw=False, width=64, height=64, pix_fmt="yuv420p", fps=25.0
    )
    argv = spec.args()
    assert argv[-1] == "file:/c/-rm -rf.y4m"


def test_an_encoder_typo_gets_a_did_you_mean():
    from vmafkit.media.encoders import get_adapter

    with pytest.raises(InputError) as err:
        get_adapter("libx246")  # two letters swapped
    assert str(err.value) == "unknown encoder 'libx246'; did you mean 'libx265' or 'libx264'?"
    with pytest.raises(InputError, match="unknown encoder 'foo'; known: av1_amf, .*libx264, libx265$"):
        get_adapter("foo")
