"""Colour honesty (issue 22, item 6): the colour a container tags, read from `ffmpeg -i` lines
copied from real runs of the wheel's ffmpeg; HDR refused for the SDR models; a range or matrix that
differs between the sides named in one line, and nothing said when they agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmafkit.errors import InputError
from vmafkit.media.options import Scoring
from vmafkit.media.sources import (
    Colour,
    Source,
    colour_mismatch_notes,
    parse_colour,
    parse_video_stream,
    refuse_hdr,
)

# `ffmpeg -i` stream lines, as the wheel's ffmpeg n9.0.2 printed them
PQ = (
    "  Stream #0:0[0x1](und): Video: hevc (Main 10) (hev1 / 0x31766568), yuv420p10le(tv, bt2020nc/bt2020/smpte2084, "
    "progressive), 640x272 [SAR 1:1 DAR 40:17], 140 kb/s, 25 fps, 25 tbr, 12800 tbn (default)"
)
FULL = (
    "  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuvj420p(pc, bt709/unknown/unknown, "
    "progressive), 640x272 [SAR 1:1 DAR 40:17], 466 kb/s, 25 fps, 25 tbr, 12800 tbn (default)"
)
UNTAGGED = (
    "  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(progressive), 640x272 "
    "[SAR 1:1 DAR 40:17], 404 kb/s, 25 fps, 25 tbr, 12800 tbn (default)"
)
MIXED = (
    "  Stream #0:0: Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, smpte170m/smpte170m/bt709, progressive), "
    "640x480 [SAR 1:1 DAR 4:3], 25 fps"
)


def test_the_colour_tags_are_read_from_the_stream_line():
    assert parse_video_stream(PQ)["colour"] == Colour("tv", "bt2020nc", "bt2020", "smpte2084")
    assert parse_video_stream(FULL)["colour"] == Colour("pc", "bt709", None, None)
    assert parse_video_stream(UNTAGGED)["colour"] == Colour()
    assert parse_video_stream(MIXED)["colour"] == Colour("tv", "smpte170m", "smpte170m", "bt709")
    # one name when matrix, primaries and transfer agree; a field order is not a colour
    assert parse_colour("tv, bt709, top first") == Colour("tv", "bt709", "bt709", "bt709")
    assert parse_colour("progressive") == Colour()


def _source(pix_fmt: str = "yuv420p", colour: Colour = Colour(), name: str = "a") -> Source:
    return Source(
        path=Path(f"/clips/{name}.mp4"), name=name, kind="container", width=64, height=64, pix_fmt=pix_fmt, fps=25.0,
        bit_depth=8, frames=None, sha256="0" * 64, size=1, group=name, colour=colour,
    )  # fmt: skip


@pytest.mark.parametrize(
    "transfer, said", [("smpte2084", "PQ (SMPTE ST 2084)"), ("arib-std-b67", "HLG (ARIB STD-B67)")]
)
def test_hdr_is_refused_for_an_sdr_model_naming_the_transfer(transfer, said):
    hdr = _source("yuv420p10le", Colour("tv", "bt2020nc", "bt2020", transfer))
    with pytest.raises(InputError) as info:
        refuse_hdr(hdr, "vmaf_v1.0.16_3d0h", hdr_as_sdr=False)
    assert str(info.value) == (
        f"/clips/a.mp4: is tagged {said} (HDR), and vmaf_v1.0.16_3d0h is an SDR model: its scores of HDR video "
        "mean little; pass --hdr-as-sdr to score it as SDR anyway"
    )
    refuse_hdr(hdr, "vmaf_v1.0.16_3d0h", hdr_as_sdr=True)  # said explicitly: scored
    refuse_hdr(_source(colour=Colour("tv", "bt709", "bt709", "bt709")), "vmaf_v0.6.1", hdr_as_sdr=False)


def test_a_range_that_differs_is_named_untagged_sides_read_as_ffmpeg_reads_them():
    (note,) = colour_mismatch_notes(_source(), _source("yuvj420p", Colour("pc", "bt709")))
    assert note.startswith(
        "the reference is limited range (tv; untagged, ffmpeg assumes it) and the distorted clip full range (pc):"
    )
    (note,) = colour_mismatch_notes(_source(colour=Colour("pc")), _source(colour=Colour("tv")))
    assert note.startswith("the reference is full range (pc) and the distorted clip limited range (tv):")
    # an untagged yuvj side is full range to ffmpeg
    assert colour_mismatch_notes(_source("yuvj420p"), _source(colour=Colour("pc"))) == []


def test_nothing_is_said_when_the_sides_agree():
    assert colour_mismatch_notes(_source(), _source()) == []
    tagged = Colour("tv", "bt709", "bt709", "bt709")
    assert colour_mismatch_notes(_source(colour=tagged), _source(colour=tagged)) == []
    # BT.601 under its two names is one matrix
    assert (
        colour_mismatch_notes(_source(colour=Colour("tv", "bt470bg")), _source(colour=Colour("tv", "smpte170m"))) == []
    )
    assert colour_mismatch_notes(_source("rgb24"), _source("gbrp")) == []


def test_a_matrix_that_differs_is_named_only_when_both_sides_tag_one():
    (note,) = colour_mismatch_notes(_source(colour=Colour("tv", "bt709")), _source(colour=Colour("tv", "bt470bg")))
    assert note.startswith("the reference's colour matrix is bt709 and the distorted clip's bt470bg:")
    assert colour_mismatch_notes(_source(colour=Colour("tv", "bt709")), _source()) == []


def test_hdr_as_sdr_is_part_of_the_scoring_choice_only_when_chosen():
    assert "hdr_as_sdr" not in Scoring().as_kwargs()
    assert Scoring(hdr_as_sdr=True).as_kwargs()["hdr_as_sdr"] is True
    assert not Scoring(hdr_as_sdr=True).is_default


def test_a_y4m_says_its_range_in_xcolorrange(tmp_path):
    from vmafkit.media.sources import describe_source

    frame = bytes(4 * 4 + 2 * 2 * 2)  # one 4x4 yuv420p frame
    for token, expected in (("XCOLORRANGE=FULL", "pc"), ("XCOLORRANGE=LIMITED", "tv"), ("XYSCSS=420JPEG", None)):
        path = tmp_path / f"{expected}.y4m"
        path.write_bytes(
            f"YUV4MPEG2 W4 H4 F25:1 Ip A1:1 C420jpeg XYSCSS=420JPEG {token}\n".encode() + b"FRAME\n" + frame
        )
        assert describe_source(path).colour.range == expected


@pytest.mark.parametrize(
    "pix_fmt, bits",
    [
        ("yuv420p", 8),
        ("yuv420p10le", 10),
        ("gbrp16le", 16),
        ("rgb48be", 16),
        ("rgba64le", 16),
        ("rgb565le", 8),
        ("rgb24", 8),
    ],
)
def test_bit_depth_is_per_component(pix_fmt, bits):
    from vmafkit.media.sources import bit_depth_of

    assert bit_depth_of(pix_fmt) == bits


def test_rgb_is_full_range_by_definition_so_no_range_note():
    assert colour_mismatch_notes(_source(), _source("rgb48be", Colour("pc"))) == []
