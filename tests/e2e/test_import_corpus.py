"""`vmafkit import-corpus`: a seed-kit corpus becomes a native one that trains and merges.

The oracle is a native corpus built here by `build_corpus` on real clips (real x264, real
libvmaf): stripped down to the seed kit's keys and imported back, every row must equal the native
row in every key the import can know, and the file must train and merge like a native corpus."""

from __future__ import annotations

import json

import pytest

from vmafkit.corpus.build import build_corpus
from vmafkit.corpus.merge import merge_shards
from vmafkit.corpus.schema import load_corpus, read_rows
from vmafkit.corpus.seed_import import SEED_KEYS, import_seed_corpus
from vmafkit.errors import InputError

CLIPS = ("cityCC0_720x405_190f.mpg", "sparks_ref_480x270_5f.yuv420p10le.yuv", "src01_hrc00_160x90_48f.yuv")
FILLED = ("src_sha256", "group", "preset", "width", "height", "src_width", "src_height", "fps", "pix_fmt", "bit_depth")


@pytest.fixture(scope="module")
def native(tmp_path_factory, request):
    from tests.conftest import media

    tmp = tmp_path_factory.mktemp("native")
    refs = tmp / "refs"
    refs.mkdir()
    for name in CLIPS:
        (refs / name).symlink_to(media(name))
    (refs / "sources.json").write_text(json.dumps({"groups": {"talk": ["src01_hrc00_160x90_48f"]}}))
    out = tmp / "native.jsonl"
    build_corpus(refs, ["libx264"], [23, 35], out, max_frames=3, progress=False, cache_dir=tmp / "cache")
    return refs, out


def _seed_file(rows, path):
    path.write_text("".join(json.dumps({k: r[k] for k in SEED_KEYS}) + "\n" for r in rows))
    return path


def test_imported_rows_equal_the_native_ones(native, tmp_path):
    refs, out = native
    rows = read_rows(out)
    seed = _seed_file(rows, tmp_path / "seed.jsonl")
    version = rows[0]["libvmaf_version"]
    summary = import_seed_corpus(seed, refs, tmp_path / "imported.jsonl", preset="medium", libvmaf_version=version)
    imported = read_rows(summary.out)
    assert summary.n_rows == len(rows) == len(imported)
    key = lambda r: (r["src"], r["cq"], r["frame_index"])  # noqa: E731
    for mine, theirs in zip(sorted(imported, key=key), sorted(rows, key=key)):
        for k in (*SEED_KEYS, *FILLED, "libvmaf_version"):
            assert mine[k] == theirs[k], k
        assert mine["imported_from"].startswith("seed-kit sha256:")
    # odd-size source: the encodes (and so the rows) use the even size, like a native build
    city = next(r for r in imported if r["src"].startswith("cityCC0"))
    assert (city["width"], city["height"], city["src_height"]) == (720, 404, 405)
    # trains like a native corpus: same columns, groups from the sources file
    corpus = load_corpus(summary.out)
    assert set(corpus.groups) == {"talk", "cityCC0_720x405_190f", "sparks_ref_480x270_5f.yuv420p10le"}
    # merges with the native corpus it came from: every frame is the same frame
    merged = merge_shards([out, summary.out], tmp_path / "merged.jsonl")
    assert merged.rows_out == len(rows) and merged.duplicates == len(rows)


def test_a_row_whose_source_is_missing_names_file_line_and_a_close_name(native, tmp_path):
    refs, out = native
    rows = read_rows(out)
    rows[4] = {**rows[4], "src": "cityCC0_720x405_19f"}
    seed = _seed_file(rows, tmp_path / "seed.jsonl")
    target = tmp_path / "imported.jsonl"
    with pytest.raises(InputError, match=r"seed\.jsonl:5: source 'cityCC0_720x405_19f' is not in .*did you mean"):
        import_seed_corpus(seed, refs, target, preset="medium")
    assert not target.exists()


def test_a_native_reader_points_a_seed_file_to_import_corpus(native, tmp_path):
    refs, out = native
    seed = _seed_file(read_rows(out), tmp_path / "seed.jsonl")
    with pytest.raises(InputError, match=r"seed\.jsonl:1: missing keys .*vmafkit import-corpus"):
        load_corpus(seed)


def test_per_encoder_presets_must_cover_every_encoder(native, tmp_path):
    refs, out = native
    seed = _seed_file(read_rows(out), tmp_path / "seed.jsonl")
    with pytest.raises(InputError, match="no preset for libx264"):
        import_seed_corpus(seed, refs, tmp_path / "x.jsonl", preset="libx265=slow")
    summary = import_seed_corpus(seed, refs, tmp_path / "x.jsonl", preset="libx264=veryfast")
    assert {r["preset"] for r in read_rows(summary.out)} == {"veryfast"}
    assert {r["libvmaf_version"] for r in read_rows(summary.out)} == {"unknown"}
