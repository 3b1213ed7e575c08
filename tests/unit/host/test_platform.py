"""Platform detection: the family table, each faked signal, and the real signal readers driven
through stand-in binaries on PATH (a fake `nvidia-smi` / `vainfo` script: labelled, argv only)."""

from __future__ import annotations

import json
import platform as std_platform
import stat

import pytest
from click.testing import CliRunner

from vmafkit.cli import main
from vmafkit.errors import InputError
from vmafkit.host import platform as plat

H100 = "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-12345678-aaaa-bbbb-cccc-1234567890ab)\n"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in plat.FAKE_ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def linux(monkeypatch):
    monkeypatch.setenv(plat.ENV_UNAME, "Linux/x86_64")
    monkeypatch.setenv(plat.ENV_DRI, "")


@pytest.mark.parametrize(
    "system,machine,nvidia,intel,family",
    [
        ("Linux", "x86_64", True, True, plat.CUDA),
        ("Linux", "x86_64", False, True, plat.SYCL),
        ("Linux", "x86_64", False, False, plat.CPU),
        ("Linux", "AMD64", False, False, plat.CPU),
        ("Darwin", "arm64", False, False, plat.DARWIN_ARM64),
        ("Darwin", "x86_64", True, True, plat.DARWIN_X86_64),
        ("Linux", "aarch64", True, False, plat.UNKNOWN),
        ("Windows", "AMD64", True, False, plat.UNKNOWN),
        ("FreeBSD", "amd64", False, False, plat.UNKNOWN),
    ],
)
def test_classify_table(system, machine, nvidia, intel, family):
    assert plat.classify(system, machine, nvidia, intel) == family


def test_default_encoders_per_family():
    assert plat.DEFAULT_ENCODERS[plat.CUDA] == ("h264_nvenc", "hevc_nvenc", "av1_nvenc")
    assert plat.DEFAULT_ENCODERS[plat.SYCL] == ("h264_qsv", "hevc_qsv", "av1_qsv")
    assert plat.DEFAULT_ENCODERS[plat.CPU] == ("libx264",)
    assert plat.DEFAULT_ENCODERS[plat.DARWIN_ARM64] == ("h264_videotoolbox", "hevc_videotoolbox")
    assert plat.DEFAULT_ENCODERS[plat.DARWIN_X86_64] == ("h264_videotoolbox", "hevc_videotoolbox")
    assert set(plat.FAMILIES) == {plat.CUDA, plat.SYCL, plat.CPU, plat.DARWIN_ARM64, plat.DARWIN_X86_64, plat.UNKNOWN}


@pytest.mark.parametrize("family", sorted(plat.DEFAULT_ENCODERS))
def test_fake_platform_wins(monkeypatch, family):
    monkeypatch.setenv(plat.ENV_PLATFORM, family)
    monkeypatch.setenv(plat.ENV_NVIDIA_SMI, H100)  # ignored: the family is forced
    info = plat.detect()
    assert info.family == family and info.default_encoders == plat.DEFAULT_ENCODERS[family] and info.faked


def test_fake_platform_typo_is_an_error(monkeypatch):
    monkeypatch.setenv(plat.ENV_PLATFORM, "linux-x86_64-cudaa")
    with pytest.raises(InputError, match="not a family"):
        plat.detect()


@pytest.mark.parametrize(
    "uname,family",
    [
        ("Darwin/arm64", plat.DARWIN_ARM64),
        ("Darwin/x86_64", plat.DARWIN_X86_64),
        ("Linux/aarch64", plat.UNKNOWN),
        ("Windows/AMD64", plat.UNKNOWN),
    ],
)
def test_fake_uname(monkeypatch, uname, family):
    monkeypatch.setenv(plat.ENV_UNAME, uname)
    monkeypatch.setenv(plat.ENV_NVIDIA_SMI, H100)  # not consulted off linux-x86_64
    info = plat.detect()
    assert info.family == family
    assert info.signals["nvidia"]["status"] == "not checked"


def test_nvidia_gpu_gives_cuda(monkeypatch, linux):
    monkeypatch.setenv(plat.ENV_NVIDIA_SMI, H100)
    info = plat.detect()
    assert info.family == plat.CUDA
    assert info.signals["nvidia"]["gpus"] == [H100.strip()]
    assert info.default_encoders == ("h264_nvenc", "hevc_nvenc", "av1_nvenc")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "missing",
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n",
        "No devices were found\n",
    ],
)
def test_no_nvidia_gpu_lines_is_not_cuda(monkeypatch, linux, text):
    monkeypatch.setenv(plat.ENV_NVIDIA_SMI, text)
    monkeypatch.setenv(plat.ENV_VAINFO, "missing")
    assert plat.detect().family == plat.CPU


def test_intel_render_node_gives_sycl(monkeypatch, linux):
    monkeypatch.setenv(plat.ENV_NVIDIA_SMI, "missing")
    monkeypatch.setenv(plat.ENV_DRI, "renderD128:0x8086")
    monkeypatch.setenv(plat.ENV_VAINFO, "missing")
    info = plat.detect()
    assert info.family == plat.SYCL and info.signals["intel"]["intel_render_nodes"] == ["renderD128"]


def test_amd_render_node_without_intel_vainfo_is_cpu(monkeypatch, linux):
    monkeypatch.setenv(plat.ENV_NVIDIA_SMI, "missing")
    monkeypatch.setenv(plat.ENV_DRI, "renderD128:0x1002")
    monkeypatch.setenv(plat.ENV_VAINFO, "vainfo: Driver version: Mesa Gallium driver for AMD Radeon\n")
    assert plat.detect().family == plat.CPU


def test_intel_vainfo_gives_sycl(monkeypatch, linux):
    monkeypatch.setenv(plat.ENV_NVIDIA_SMI, "missing")
    monkeypatch.setenv(plat.ENV_DRI, "renderD128:unknown")
    monkeypatch.setenv(plat.ENV_VAINFO, "vainfo: Driver version: Intel iHD driver for Intel(R) Gen Graphics - 24.1\n")
    info = plat.detect()
    assert info.family == plat.SYCL
    assert info.signals["intel"]["vainfo_driver"].startswith("Intel iHD driver")


def test_nvidia_beats_intel(monkeypatch, linux):
    monkeypatch.setenv(plat.ENV_NVIDIA_SMI, H100)
    monkeypatch.setenv(plat.ENV_DRI, "renderD128:0x8086")
    assert plat.detect().family == plat.CUDA


def test_candidates_drop_encoders_ffmpeg_lacks(monkeypatch):
    monkeypatch.setenv(plat.ENV_PLATFORM, plat.CUDA)
    monkeypatch.setenv(plat.ENV_FFMPEG_ENCODERS, "h264_nvenc,libx264")
    info = plat.detect()
    assert info.candidates() == ["h264_nvenc"]
    assert info.to_dict()["candidates"] == ["h264_nvenc"]
    assert list(info.default_encoders) == ["h264_nvenc", "hevc_nvenc", "av1_nvenc"]


# --------------------------------------------------------------------------- real readers


def _script(folder, name, body):
    path = folder / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


@pytest.mark.fake
def test_real_nvidia_smi_reader(tmp_path, monkeypatch, linux):
    """A stand-in `nvidia-smi` on PATH: the real subprocess reader parses its output."""
    _script(tmp_path, "nvidia-smi", f'[ "$1" = "-L" ] || exit 9\nprintf "{H100.strip()}\\n"\n')
    monkeypatch.setenv("PATH", str(tmp_path))
    info = plat.detect()
    assert info.family == plat.CUDA and info.signals["nvidia"]["faked"] is False
    assert info.signals["nvidia"]["gpus"][0].startswith("GPU 0: NVIDIA H100")


@pytest.mark.fake
def test_real_nvidia_smi_failure_and_timeout(tmp_path, monkeypatch, linux):
    _script(tmp_path, "nvidia-smi", "echo 'GPU 0: looks like a GPU'; exit 6\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv(plat.ENV_VAINFO, "missing")
    info = plat.detect()
    assert info.family == plat.CPU and info.signals["nvidia"]["status"] == "exit 6"
    _script(tmp_path, "nvidia-smi", "exec /bin/sleep 5\n")
    monkeypatch.setattr(plat, "SUBPROCESS_TIMEOUT_S", 0.3)
    info = plat.detect()
    assert info.family == plat.CPU and info.signals["nvidia"]["status"] == "timeout"


def test_missing_nvidia_smi(tmp_path, monkeypatch, linux):
    monkeypatch.setenv("PATH", str(tmp_path))  # empty folder: no binaries at all
    info = plat.detect()
    assert info.family == plat.CPU and info.signals["nvidia"]["status"] == "missing"


@pytest.mark.fake
def test_real_vainfo_reader(tmp_path, monkeypatch, linux):
    _script(tmp_path, "vainfo", "echo 'vainfo: Driver version: Intel iHD driver for Intel(R) Gen Graphics'\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv(plat.ENV_DRI, "renderD129:unknown")  # a node exists, vendor unreadable
    info = plat.detect()
    assert info.family == plat.SYCL and info.signals["intel"]["vainfo_intel"]


def test_real_uname_on_this_host():
    info = plat.detect()
    assert info.signals["uname"] == {"system": std_platform.system(), "machine": std_platform.machine(), "faked": False}
    assert info.family in plat.FAMILIES
    assert info.default_encoders == plat.DEFAULT_ENCODERS[info.family]


def test_real_ffmpeg_encoder_list():
    ffmpeg = pytest.importorskip("imageio_ffmpeg").get_ffmpeg_exe()
    encoders = plat.read_ffmpeg_encoders(ffmpeg)
    assert "libx264" in encoders and "ffv1" in encoders
    assert "aac" not in encoders  # audio encoders are not listed
    assert plat.read_ffmpeg_encoders("/nonexistent/ffmpeg") is None


def test_cli_platform(monkeypatch):
    monkeypatch.setenv(plat.ENV_PLATFORM, plat.SYCL)
    runner = CliRunner()
    result = runner.invoke(main, ["platform", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["family"] == plat.SYCL and data["default_encoders"] == ["h264_qsv", "hevc_qsv", "av1_qsv"]
    text = runner.invoke(main, ["platform"])
    assert text.exit_code == 0 and "linux-x86_64-sycl" in text.output and "h264_qsv" in text.output
    monkeypatch.setenv(plat.ENV_PLATFORM, "bogus")
    assert runner.invoke(main, ["platform"]).exit_code == 2


@pytest.mark.parametrize("vendor,family", [("0x8086\n", plat.SYCL), ("0x1002\n", plat.CPU), (None, plat.CPU)])
def test_real_render_node_reader(tmp_path, monkeypatch, vendor, family):
    """The real /dev/dri + sysfs reader, pointed at a stand-in tree."""
    monkeypatch.setenv(plat.ENV_UNAME, "Linux/x86_64")
    monkeypatch.setenv(plat.ENV_NVIDIA_SMI, "missing")
    monkeypatch.setenv(plat.ENV_VAINFO, "missing")
    dri, sysfs = tmp_path / "dri", tmp_path / "drm"
    dri.mkdir()
    (dri / "renderD128").write_text("")
    (dri / "card0").write_text("")
    if vendor is not None:
        (sysfs / "renderD128" / "device").mkdir(parents=True)
        (sysfs / "renderD128" / "device" / "vendor").write_text(vendor)
    monkeypatch.setattr(plat, "DEV_DRI", str(dri))
    monkeypatch.setattr(plat, "SYSFS_DRM", str(sysfs))
    info = plat.detect()
    assert info.family == family
    assert info.signals["intel"]["render_nodes"] == [{"node": "renderD128", "vendor": (vendor or "unknown").strip()}]
