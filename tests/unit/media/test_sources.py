"""Source description: geometry from names and headers, raw sizes, groups, errors."""

from __future__ import annotations

import json

import pytest

from vmafkit.errors import InputError
from vmafkit.media.sources import describe_source, find_sources, geometry_from_name, raw_frame_size, snapshot_folder


@pytest.mark.parametrize(
    "name, expected",
    [
        ("clip_1920x1080_25fps.yuv", {"width": 1920, "height": 1080, "fps": 25.0}),
        ("ciscovt2people_320x192_12fps_9f.yuv", {"width": 320, "height": 192, "fps": 12.0}),
        ("sparks_ref_480x270_5f.yuv420p10le.yuv", {"width": 480, "height": 270, "pix_fmt": "yuv420p10le"}),
        ("a_59.94fps_640x360.yuv", {"width": 640, "height": 360, "fps": 59.94}),
        ("plain.yuv", {}),
    ],
)
def test_geometry_from_name(name, expected):
    assert geometry_from_name(name) == expected


def test_raw_frame_sizes():
    assert raw_frame_size(160, 90, "yuv420p") == 160 * 90 * 3 // 2
    assert raw_frame_size(721, 405, "yuv420p") == 721 * 405 + 2 * 361 * 203
    assert raw_frame_size(480, 270, "yuv420p10le") == 480 * 270 * 3
    assert raw_frame_size(16, 16, "yuv444p") == 16 * 16 * 3


def test_raw_size_must_be_whole_frames(tmp_path):
    path = tmp_path / "x_16x16.yuv"
    path.write_bytes(b"\0" * (16 * 16 * 3 // 2 * 2 + 7))
    with pytest.raises(InputError, match="not a whole number"):
        describe_source(path)
    path.write_bytes(b"\0" * (16 * 16 * 3 // 2 * 2))
    source = describe_source(path)
    assert (source.frames, source.fps_assumed, source.even_size) == (2, True, (16, 16))


def test_flags_override_name_and_odd_sizes_crop_even(tmp_path):
    path = tmp_path / "odd.yuv"
    path.write_bytes(b"\0" * raw_frame_size(15, 9, "yuv420p") * 3)
    source = describe_source(path, width=15, height=9, fps=30)
    assert (source.frames, source.even_size, source.crop) == (3, (14, 8), ["crop=14:8:0:0"])
    four44 = tmp_path / "odd444.yuv"
    four44.write_bytes(b"\0" * raw_frame_size(15, 9, "yuv444p"))
    assert describe_source(four44, width=15, height=9, pix_fmt="yuv444p").crop == []


def test_missing_and_unknown_geometry(tmp_path):
    with pytest.raises(InputError, match="source not found"):
        describe_source(tmp_path / "nope.y4m")
    (tmp_path / "q.yuv").write_bytes(b"\0" * 100)
    with pytest.raises(InputError, match="unknown geometry"):
        describe_source(tmp_path / "q.yuv")


def test_groups_from_sources_file_and_snapshot(tmp_path):
    for name in ("a_16x16.yuv", "b_16x16.yuv", "c_16x16.yuv"):
        (tmp_path / name).write_bytes(b"\1" * 384)
    (tmp_path / "sources.json").write_text(json.dumps({"groups": {"scene": ["a_16x16", "b_16x16.yuv"]}}))
    groups = {s.name: s.group for s in find_sources(tmp_path)}
    assert groups == {"a_16x16": "scene", "b_16x16": "scene", "c_16x16": "c_16x16"}
    snap = snapshot_folder(tmp_path)
    (tmp_path / "c_16x16.yuv").write_bytes(b"\1" * 768)
    assert snapshot_folder(tmp_path)["sha256"] != snap["sha256"] and snap["count"] == 4


def test_empty_folder_and_bad_sources_file(tmp_path):
    with pytest.raises(InputError, match="no media files"):
        find_sources(tmp_path)
    (tmp_path / "a_16x16.yuv").write_bytes(b"\1" * 384)
    (tmp_path / "sources.toml").write_text("[groups\n")
    with pytest.raises(InputError, match="malformed sources file"):
        find_sources(tmp_path)


def test_wrong_declared_geometry_is_detected(tmp_path):
    from ...conftest import media

    real = media("ciscovt2people_320x192_12fps_9f.yuv")
    assert describe_source(real).frames == 9
    wrong = tmp_path / "cisco_384x160.yuv"  # 384x160 frames divide the file exactly: only content tells
    wrong.symlink_to(real)
    with pytest.raises(InputError, match="looks wrong"):
        describe_source(wrong)
    ten_bit_as_8 = tmp_path / "sparks_480x270.yuv"
    ten_bit_as_8.symlink_to(media("sparks_ref_480x270_5f.yuv420p10le.yuv"))
    with pytest.raises(InputError, match="look 16-bit"):
        describe_source(ten_bit_as_8)


def test_flat_content_is_not_flagged(tmp_path):
    flat = tmp_path / "flat_64x64.yuv"
    flat.write_bytes(bytes([128]) * (64 * 64 * 3 // 2) * 2)
    assert describe_source(flat).frames == 2


# ----------------------------------------------------------------------------- sources.toml: names and groups


def folder_with(tmp_path, text, names=("parkjoy_16x16.yuv", "sparks_16x16.yuv", "bluesky_16x16.yuv")):
    for name in names:
        (tmp_path / name).write_bytes(b"\1" * 384)
    (tmp_path / "sources.toml").write_text(text)
    return tmp_path


def refusal(ref_dir) -> str:
    with pytest.raises(InputError) as err:
        find_sources(ref_dir)
    assert err.value.exit_code == 2
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{ref_dir / 'sources.toml'}: ")
    return message


def test_group_member_matching_no_source_is_refused_with_a_suggestion(tmp_path):
    ref = folder_with(tmp_path, '[groups]\nscene = ["parkjoy_16x16", "sprks_16x16.yuv"]\n')
    message = refusal(ref)
    assert "groups.scene names 'sprks_16x16.yuv', which matches no source" in message
    assert "did you mean 'sparks_16x16'?" in message


def test_unknown_member_without_a_close_name_has_no_suggestion(tmp_path):
    ref = folder_with(tmp_path, '[groups]\nscene = ["parkjoy_16x16", "zzzzzzzz"]\n')
    message = refusal(ref)
    assert "'zzzzzzzz', which matches no source" in message and "did you mean" not in message


def test_sources_entry_matching_no_source_is_refused(tmp_path):
    ref = folder_with(tmp_path, '[sources.bluesky_16x61]\ngroup = "sky"\n')
    message = refusal(ref)
    assert "sources.bluesky_16x61.group names 'bluesky_16x61'" in message and "'bluesky_16x16'" in message


def test_source_in_two_groups_is_refused(tmp_path):
    ref = folder_with(
        tmp_path,
        '[groups]\nscene1 = ["parkjoy_16x16", "sparks_16x16"]\nscene2 = ["bluesky_16x16", "parkjoy_16x16.yuv"]\n',
    )
    message = refusal(ref)
    assert "source 'parkjoy_16x16' is in two groups: 'scene1' (groups.scene1) and 'scene2' (groups.scene2)" in message


def test_source_grouped_in_groups_and_in_its_own_entry_differently_is_refused(tmp_path):
    ref = folder_with(
        tmp_path, '[groups]\nscene = ["parkjoy_16x16", "sparks_16x16"]\n\n[sources.sparks_16x16]\ngroup = "other"\n'
    )
    message = refusal(ref)
    assert "'sparks_16x16' is in two groups: 'scene'" in message and "'other' (sources.sparks_16x16.group)" in message


@pytest.mark.parametrize(
    "text, expected",
    [
        ('groups = ["parkjoy_16x16"]\n', "groups must be a table"),
        ('[groups]\nscene = "parkjoy_16x16"\n', "groups.scene must be a list of source names"),
        ('[groups]\nscene = ["parkjoy_16x16", 3]\n', "groups.scene must be a list of source names"),
        ('[groups]\nscene = ["parkjoy_16x16", ""]\n', "groups.scene names an empty source name"),
        ("sources = 3\n", "sources must be a table"),
        ("[sources.parkjoy_16x16]\ngroup = 3\n", "sources.parkjoy_16x16.group must be a non-empty string, got 3"),
        ('[sources.parkjoy_16x16]\nwidth = "16"\n', "sources.parkjoy_16x16.width must be a positive integer"),
        ("[sources.parkjoy_16x16]\nfps = true\n", "sources.parkjoy_16x16.fps must be a positive number"),
    ],
)
def test_malformed_types_are_one_line_errors(tmp_path, text, expected):
    assert expected in refusal(folder_with(tmp_path, text))


def test_valid_groups_still_apply(tmp_path):
    ref = folder_with(
        tmp_path,
        '[groups]\nscene = ["parkjoy_16x16", "sparks_16x16.yuv", "parkjoy_16x16"]\n\n'
        '[sources.sparks_16x16]\ngroup = "scene"\nfps = 30\n\n'
        '[sources."bluesky_16x16.yuv"]\nwidth = 16\nheight = 16\n',
    )
    found = {s.name: (s.group, s.fps) for s in find_sources(ref)}
    assert found == {
        "parkjoy_16x16": ("scene", 25.0),
        "sparks_16x16": ("scene", 30.0),
        "bluesky_16x16": ("bluesky_16x16", 25.0),
    }
