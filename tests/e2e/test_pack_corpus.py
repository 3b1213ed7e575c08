"""pack-corpus / extract-corpus on real clips with the real ffmpeg: byte-identical round trip,
and refusal (nothing written) when anything does not match."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from vmafkit.bundle.refpack import describe_packable, extract_corpus, pack_corpus
from vmafkit.cli import main
from vmafkit.errors import InputError
from vmafkit.media.ffmpeg import find_ffmpeg
from vmafkit.media.sources import raw_frame_size as frame_size

from ..conftest import media

CLIPS = ("parkjoy_480x270_50fps_10f.y4m", "bluesky_640x360_3f.yuv", "sparks_ref_480x270_5f.yuv420p10le.yuv")


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest(corpus):
    return [json.loads(line) for line in (corpus / "manifest.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    root = tmp_path_factory.mktemp("pack")
    ref = root / "ref"
    ref.mkdir()
    for name in (*CLIPS, "carphone_176x144_120f.mp4"):
        (ref / name).symlink_to(media(name))
    (ref / "notes.txt").write_text("not a clip")
    result = CliRunner().invoke(main, ["pack-corpus", "--ref-dir", str(ref), "--out", str(root / "corpus")])
    assert result.exit_code == 0, result.output
    return ref, root / "corpus"


def test_manifest_describes_each_source(packed):
    ref, corpus = packed
    entries = {e["name"]: e for e in manifest(corpus)}
    assert set(entries) == {*CLIPS, "carphone_176x144_120f.mp4"}
    park = entries["parkjoy_480x270_50fps_10f.y4m"]
    assert (park["width"], park["height"], park["pix_fmt"], park["fps"], park["n_frames"]) == (
        480,
        270,
        "yuv420p",
        "50/1",
        10,
    )
    # the sha256 published with the test clips (../shared/data/MANIFEST.md)
    assert park["sha256"] == "755386a5e09be4f22c490a4feb8f3bf550c836b3c3be265d9e4b2677547d10d1"
    assert park["method"] == "ffv1" and park["restore"] == "y4m-exact" and park["packed"].endswith(".y4m.mkv")
    assert park["y4m_header"].startswith("YUV4MPEG2 W480 H270 F50:1")
    sparks = entries["sparks_ref_480x270_5f.yuv420p10le.yuv"]
    assert (sparks["pix_fmt"], sparks["n_frames"], sparks["restore"]) == ("yuv420p10le", 5, "raw")
    assert sparks["decoded_sha256"] == sparks["sha256"]  # raw file = its frames
    blue = entries["bluesky_640x360_3f.yuv"]
    assert (blue["width"], blue["height"], blue["n_frames"], blue["fps_source"]) == (640, 360, 3, "default")
    assert entries["carphone_176x144_120f.mp4"]["method"] == "copy"
    for entry in entries.values():
        assert entry["sha256"] == sha(ref / entry["name"])
        assert entry["packed_sha256"] == sha(corpus / entry["packed"])
    assert blue["packed_size"] < blue["size"]  # lossless, but compressed


def test_packed_ffv1_keeps_pixel_format(packed):
    ffmpeg = pytest.importorskip("imageio_ffmpeg").get_ffmpeg_exe()
    import subprocess

    _, corpus = packed
    out = subprocess.run(
        [ffmpeg, "-hide_banner", "-i", str(corpus / "sparks_ref_480x270_5f.yuv420p10le.yuv.mkv")],
        capture_output=True,
        text=True,
    ).stderr
    assert "ffv1" in out and "yuv420p10le" in out


def test_extract_is_byte_identical_and_rerun_keeps(packed, tmp_path):
    ref, corpus = packed
    runner = CliRunner()
    result = runner.invoke(main, ["extract-corpus", "--packed", str(corpus), "--out", str(tmp_path / "back")])
    assert result.exit_code == 0, result.output
    for entry in manifest(corpus):
        assert (tmp_path / "back" / entry["name"]).read_bytes() == (ref / entry["name"]).read_bytes()
    again = runner.invoke(main, ["extract-corpus", "--packed", str(corpus), "--out", str(tmp_path / "back")])
    assert again.exit_code == 0 and again.output.count("kept") == 4
    assert not [p for p in (tmp_path / "back").iterdir() if p.name.endswith(".tmp")]


def test_pack_rerun_reuses_unchanged_entries(packed):
    ref, corpus = packed
    before = (corpus / "manifest.jsonl").read_bytes()
    lines = []
    pack_corpus(ref, corpus, log=lines.append)
    assert all(line.startswith("kept") for line in lines) and len(lines) == 4
    assert (corpus / "manifest.jsonl").read_bytes() == before


def _copy_corpus(corpus, dest):
    dest.mkdir()
    for path in corpus.iterdir():
        if not path.name.startswith("."):
            (dest / path.name).write_bytes(path.read_bytes())
    return dest


def test_corrupt_packed_file_is_refused(packed, tmp_path):
    _, corpus = packed
    bad = _copy_corpus(corpus, tmp_path / "bad")
    target = bad / "bluesky_640x360_3f.yuv.mkv"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    result = CliRunner().invoke(main, ["extract-corpus", "--packed", str(bad), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "packed file's sha256" in result.output
    assert not (tmp_path / "out" / "bluesky_640x360_3f.yuv").exists()


@pytest.mark.parametrize("key,message", [("decoded_sha256", "decoded frames"), ("sha256", "original's sha256")])
def test_manifest_that_lies_about_the_decode_is_refused(packed, tmp_path, key, message):
    """The packed file is intact (packed_sha256 right) but the decode does not give the
    recorded frames/bytes: the decoded check itself must refuse, writing nothing."""
    _, corpus = packed
    bad = _copy_corpus(corpus, tmp_path / "bad")
    entries = manifest(bad)
    for entry in entries:
        if entry["name"] == "parkjoy_480x270_50fps_10f.y4m":
            entry[key] = "0" * 64
    (bad / "manifest.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    out = tmp_path / "out"
    with pytest.raises(InputError, match=message):
        extract_corpus(bad, out)
    assert not (out / "parkjoy_480x270_50fps_10f.y4m").exists()
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def test_existing_different_file_is_never_overwritten(packed, tmp_path):
    _, corpus = packed
    out = tmp_path / "out"
    out.mkdir()
    (out / "bluesky_640x360_3f.yuv").write_bytes(b"my own file")
    with pytest.raises(InputError, match="refusing to overwrite"):
        extract_corpus(corpus, out)
    assert (out / "bluesky_640x360_3f.yuv").read_bytes() == b"my own file"


def test_manifest_entry_escaping_the_target_is_refused(packed, tmp_path):
    _, corpus = packed
    bad = _copy_corpus(corpus, tmp_path / "bad")
    entries = manifest(bad)
    entries[0]["name"] = "../escaped.yuv"
    (bad / "manifest.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    with pytest.raises(InputError, match="not a plain relative path"):
        extract_corpus(bad, tmp_path / "out")
    assert not (tmp_path / "escaped.yuv").exists()


def test_raw_file_with_partial_frame_is_refused(tmp_path):
    ref = tmp_path / "ref"
    ref.mkdir()
    data = media("bluesky_640x360_3f.yuv").read_bytes()
    (ref / "cut_640x360.yuv").write_bytes(data[:-100])
    result = CliRunner().invoke(main, ["pack-corpus", "--ref-dir", str(ref), "--out", str(tmp_path / "c")])
    assert result.exit_code == 2 and "whole number" in result.output
    assert not (tmp_path / "c" / "manifest.jsonl").exists()


def test_raw_file_without_geometry_and_empty_dir_are_refused(tmp_path):
    ref = tmp_path / "ref"
    ref.mkdir()
    runner = CliRunner()
    result = runner.invoke(main, ["pack-corpus", "--ref-dir", str(ref), "--out", str(tmp_path / "c")])
    assert result.exit_code == 2 and "no reference clips" in result.output
    (ref / "clip.yuv").write_bytes(b"\0" * 1000)
    result = runner.invoke(main, ["pack-corpus", "--ref-dir", str(ref), "--out", str(tmp_path / "c")])
    assert result.exit_code == 2 and "WxH" in result.output


def test_extract_without_manifest_is_exit_2(tmp_path):
    result = CliRunner().invoke(main, ["extract-corpus", "--packed", str(tmp_path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "manifest.jsonl" in result.output


def _manifest_view(name):
    clip = describe_packable(find_ffmpeg(require_libvmaf=False), media(name))
    return (clip.source.width, clip.source.height, clip.fps, clip.source.pix_fmt, clip.fps_source)


def test_raw_geometry_from_the_name_and_frame_sizes():
    """What the manifest records of a raw clip, read (by media.sources) from its name alone."""
    assert _manifest_view("sparks_ref_480x270_5f.yuv420p10le.yuv") == (480, 270, 25, "yuv420p10le", "default")
    assert _manifest_view("ciscovt2people_320x192_12fps_9f.yuv") == (320, 192, 12, "yuv420p", "name")
    assert frame_size(640, 360, "yuv420p") == 640 * 360 * 3 // 2
    assert frame_size(480, 270, "yuv420p10le") == 480 * 270 * 3
    assert frame_size(5, 3, "yuv420p") == 15 + 2 * 3 * 2  # odd sizes round chroma up


def test_y4m_with_frame_parameters_restores_verified_frames(tmp_path):
    """A y4m whose FRAME markers carry parameters cannot be rebuilt byte for byte: it is restored
    through ffmpeg's y4m muxer and its decoded frames are checked (restore y4m-ffmpeg)."""
    data = media("parkjoy_480x270_50fps_10f.y4m").read_bytes()
    ref = tmp_path / "ref"
    ref.mkdir()
    (ref / "params_480x270.y4m").write_bytes(data.replace(b"FRAME\n", b"FRAME Ip\n"))
    pack_corpus(ref, tmp_path / "c")
    entry = manifest(tmp_path / "c")[0]
    assert entry["restore"] == "y4m-ffmpeg"
    extract_corpus(tmp_path / "c", tmp_path / "back")
    restored = tmp_path / "back" / "params_480x270.y4m"
    assert restored.read_bytes().startswith(b"YUV4MPEG2 W480 H270")
    from vmafkit.bundle.refpack import decoded_sha256, ffmpeg_exe

    assert decoded_sha256(ffmpeg_exe(), ["-i", str(restored)], "yuv420p", restored) == entry["decoded_sha256"]


def test_hostile_file_names_round_trip(tmp_path, monkeypatch):
    """Names ffmpeg would misread as options or protocols (leading '-', ':', quotes, brackets),
    given as relative paths (the way a user types them)."""
    monkeypatch.chdir(tmp_path)
    ref = Path("http:ref dir")
    ref.mkdir()
    names = {
        "-lead ing:odd [1],'q'.y4m": "parkjoy_480x270_50fps_10f.y4m",
        "http:x_640x360_é.yuv": "bluesky_640x360_3f.yuv",
    }
    for name, clip in names.items():
        (ref / name).symlink_to(media(clip))
    corpus = Path("c:orpus")
    pack_corpus(ref, corpus)
    extract_corpus(corpus, Path("back"))
    for name, clip in names.items():
        assert (tmp_path / "back" / name).read_bytes() == media(clip).read_bytes()
