"""The built-in SYNTHETIC demo clips: real ffmpeg lavfi rendering, real libx264 + libvmaf."""

from __future__ import annotations

import json
import os

import pytest

from vmafkit.corpus.build import build_corpus
from vmafkit.errors import InputError
from vmafkit.io import sha256_file
from vmafkit.media.demo import CLIPS, MANIFEST_NAME, make_demo_clips, parse_size
from vmafkit.media.sources import describe_source, find_sources


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    dest = tmp_path_factory.mktemp("demo") / "refs"
    make_demo_clips(dest)
    return dest


def _hashes(paths):
    return {p.name: sha256_file(p) for p in paths}


def test_nine_distinct_labelled_valid_clips(demo_dir):
    paths = make_demo_clips(demo_dir)  # already there: returns the same nine
    assert len(paths) == 9 == len(CLIPS)
    names = [p.name for p in paths]
    assert len(set(names)) == 9
    assert all(n.startswith("synthetic_") and n.endswith("_320x180_24fps.y4m") for n in names)
    hashes = _hashes(paths)
    assert len(set(hashes.values())) == 9, "two demo clips have the same bytes"
    for path in paths:
        src = describe_source(path)
        assert (src.kind, src.width, src.height, src.fps, src.frames, src.pix_fmt) == (
            "y4m",
            320,
            180,
            24.0,
            24,
            "yuv420p",
        )
    # Clearly labelled synthetic, in the folder itself.
    assert "SYNTHETIC" in (demo_dir / "README.txt").read_text()
    assert "SYNTHETIC" in (demo_dir / "sources.toml").read_text()
    manifest = json.loads((demo_dir / MANIFEST_NAME).read_text())
    assert manifest["synthetic"] is True
    assert {c["file"]: c["sha256"] for c in manifest["clips"]} == hashes
    # The folder reads as a reference folder: nine sources, each its own group.
    sources = find_sources(demo_dir)
    assert sorted(s.name for s in sources) == sorted(n[: -len(".y4m")] for n in names)
    assert all(s.group == s.name for s in sources)


def test_deterministic_and_idempotent(demo_dir, tmp_path):
    first = _hashes(make_demo_clips(demo_dir))
    second_dir = tmp_path / "again"
    assert _hashes(make_demo_clips(second_dir)) == first
    for name in ("README.txt", "sources.toml", MANIFEST_NAME):
        assert sha256_file(second_dir / name) == sha256_file(demo_dir / name)

    # Up to date: nothing is rewritten.
    stamps = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in second_dir.iterdir()}
    make_demo_clips(second_dir)
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in second_dir.iterdir()} == stamps

    # A damaged clip no longer matches the manifest and is regenerated to the same bytes.
    victim = second_dir / sorted(first)[0]
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF
    victim.write_bytes(bytes(data))
    make_demo_clips(second_dir)
    assert sha256_file(victim) == first[victim.name]


def test_other_settings_replace_old_clips_and_foreign_media_is_refused(tmp_path):
    dest = tmp_path / "refs"
    small = make_demo_clips(dest, frames=3, size="64x36", fps=12)
    assert all(p.name.endswith("_64x36_12fps.y4m") for p in small)
    assert describe_source(small[0]).frames == 3
    other = make_demo_clips(dest, frames=2, size=(48, 32), fps=10)
    left = sorted(p.name for p in dest.glob("*.y4m"))
    assert left == sorted(p.name for p in other)  # the 64x36 clips are gone

    (dest / "my_camera_clip.y4m").write_bytes(b"YUV4MPEG2 W64 H36 F12:1\n")
    for settings in ({"frames": 2, "size": (48, 32), "fps": 10}, {"frames": 3, "size": "64x36", "fps": 12}):
        with pytest.raises(InputError, match="not a vmafkit demo clip"):
            make_demo_clips(dest, **settings)  # up to date or not, a foreign clip is never taken along


@pytest.mark.parametrize("bad", ["320x181", "16x16", "big", (0, 0)])
def test_bad_sizes_are_input_errors(bad):
    with pytest.raises(InputError):
        parse_size(bad)


def test_vmaf_decreases_with_cq_on_two_demo_clips(demo_dir, tmp_path):
    ref_dir = tmp_path / "two"
    ref_dir.mkdir()
    for key in ("perlin", "testsrc2"):
        name = f"synthetic_{key}_320x180_24fps.y4m"
        os.symlink(demo_dir / name, ref_dir / name)
    out = tmp_path / "corpus.jsonl"
    result = build_corpus(ref_dir, ["libx264"], [19, 37], out, max_frames=8, progress=False, jobs=2)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert result.n_rows == len(rows) == 2 * 2 * 8
    for key in ("perlin", "testsrc2"):
        src = f"synthetic_{key}_320x180_24fps"
        mean = {cq: sum(r["vmaf"] for r in rows if r["src"] == src and r["cq"] == cq) / 8 for cq in (19, 37)}
        assert mean[19] > mean[37] + 5, (src, mean)
