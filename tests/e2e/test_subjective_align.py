"""`subjective train --dataset ... --align auto|N|off` (issue 23): every pair of a subjective dataset
scored with the alignment `vmafkit score --align` gives it, its offset recorded, its cache entry
keyed by the alignment (and keyed as before without one), an unalignable pair refused by name.

The dataset is made here with ffmpeg: two contents (bikes scaled to 320x136, carphone 176x144),
36 frames each as lossless y4m references, and x264 encodes of each that start k = 2 or 3 frames
late (`tpad=start=k:start_mode=clone`: DIS frame i + k shows REF frame i). The oracle of each item's
features is the public `vmafkit.score(ref, dis, align=...)` on the same pair. The scores are
SYNTHETIC (no one rated these clips): the tests check the scoring, not a model's worth. One seed,
5 epochs, the smallest bootstrap the gate allows: the CPU is shared.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import vmafkit
from vmafkit.corpus.schema import CANONICAL6
from vmafkit.corpus.subjective_dataset import Pair
from vmafkit.corpus.subjective_scoring import CACHE_SCHEMA, pair_identity, score_pairs
from vmafkit.io import identity_hash, sha256_file
from vmafkit.media import ffmpeg as ffm
from vmafkit.media.ffmpeg import find_ffmpeg
from vmafkit.media.score import BACKEND_FFMPEG

from ..conftest import media

FRAMES = 36
CONTENTS = {"bikes": ("bikes_640x272_250f.mp4", "scale=320:136"), "carphone": ("carphone_176x144_120f.mp4", "null")}
LATE = (2, 3)
SCORES = {2: 4.0, 3: 3.0}  # synthetic
FAST = {
    "seeds": [0],
    "training": vmafkit.Training(recipe="seed", epochs=5),
    "bootstrap": 199,
    "score_scale": "mos-1-5",
}


def _ffmpeg(*args: object) -> None:
    argv = [find_ffmpeg().path, "-nostdin", "-loglevel", "error", "-y", *map(str, args)]
    subprocess.run(argv, check=True, capture_output=True)


def _encode(src: Path, out: Path, vf: str) -> Path:
    _ffmpeg("-i", src, "-vf", vf, "-frames:v", FRAMES, "-c:v", "libx264", "-crf", "30", "-preset", "veryfast", out)
    return out


def _write_dataset(path: Path, pairs: list[dict]) -> Path:
    path.write_text(json.dumps(pairs))
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """The folder with every content's reference, its late encodes and `dataset.json` over them."""
    folder = tmp_path_factory.mktemp("subjective_align")
    pairs = []
    for content, (clip, vf) in CONTENTS.items():
        ref = folder / f"{content}.y4m"
        _ffmpeg("-i", media(clip), "-vf", vf, "-frames:v", FRAMES, "-pix_fmt", "yuv420p", "-strict", "-1", ref)
        for k in LATE:
            dis = _encode(ref, folder / f"{content}_late{k}.mp4", f"tpad=start={k}:start_mode=clone")
            pairs.append({"ref": ref.name, "dis": dis.name, "score": SCORES[k], "content": content})
    _write_dataset(folder / "dataset.json", pairs)
    return folder


def _pairs(clips: Path) -> list[tuple[str, Path, Path, int]]:
    """(item id, ref, dis, k) of every pair of the dataset."""
    return [(f"{c}_late{k}", clips / f"{c}.y4m", clips / f"{c}_late{k}.mp4", k) for c in CONTENTS for k in LATE]


def _items(result) -> dict[str, dict]:
    return {row["id"]: row for row in map(json.loads, result.items_path.read_text().splitlines())}


def _features(row_or_mean: dict) -> dict[str, float]:
    return {k: row_or_mean[k] for k in CANONICAL6}


@pytest.fixture(scope="module")
def aligned_run(clips, tmp_path_factory):
    out = tmp_path_factory.mktemp("aligned") / "out"
    scoring = vmafkit.DatasetScoring(align="auto", jobs=2)
    return vmafkit.subjective_train(out, dataset=clips / "dataset.json", dataset_scoring=scoring, **FAST)


def test_align_auto_gives_every_item_the_features_of_score_align_auto(clips, aligned_run):
    items = _items(aligned_run)
    assert sorted(items) == sorted(item_id for item_id, *_ in _pairs(clips))
    for item_id, ref, dis, _ in _pairs(clips):
        oracle = vmafkit.score(ref, dis, align="auto")  # the public API's own path
        assert _features(items[item_id]) == pytest.approx(_features(oracle.mean), abs=1e-9), item_id
        assert items[item_id]["vmaf_v061"] == pytest.approx(oracle.mean["vmaf"], abs=1e-9), item_id


def test_the_report_and_the_cache_record_the_alignment_and_each_offset(clips, aligned_run):
    report = aligned_run.report
    assert report["run_provenance"]["args"]["align"] == "auto"
    alignment = report["input"]["alignment"]
    assert alignment["align"] == "auto"
    found = {entry["id"]: entry for entry in alignment["items"]}
    for item_id, _, _, k in _pairs(clips):
        assert found[item_id]["offset"] == k and found[item_id]["forced"] is False and found[item_id]["steps"] == []
    assert report["input"]["frames_per_clip"] == {"min": FRAMES - max(LATE), "max": FRAMES - min(LATE)}
    entries = [json.loads(p.read_text()) for p in (aligned_run.report_path.parent / ".vmafkit-cache/pairs").glob("*")]
    assert len(entries) == len(_pairs(clips))
    late = {dis.name: k for _, _, dis, k in _pairs(clips)}
    for entry in entries:
        assert entry["identity"]["align"] == "auto"
        assert entry["alignment"]["offset"] == late[Path(entry["dis"]).name] and entry["alignment"]["confident"]


def test_flat_keywords_still_work_with_a_warning_and_off_is_frame_by_frame(clips, aligned_run, tmp_path):
    """The spelling before DatasetScoring (`jobs=`, `align=` as keywords) still trains, warned; with
    align off every item is scored frame by frame as before, which these late encodes punish."""
    with pytest.warns(
        DeprecationWarning, match=r"dataset_scoring=vmafkit\.DatasetScoring\(jobs=\.\.\., align=\.\.\.\)"
    ):
        off = vmafkit.subjective_train(tmp_path / "off", dataset=clips / "dataset.json", jobs=2, align="off", **FAST)
    assert "alignment" not in off.report["input"] and "align" not in off.report["run_provenance"]["args"]
    assert off.report["input"]["frames_per_clip"] == {"min": FRAMES, "max": FRAMES}
    off_items, aligned_items = _items(off), _items(aligned_run)
    for item_id, ref, dis, _ in _pairs(clips):
        oracle = vmafkit.score(ref, dis)
        assert _features(off_items[item_id]) == pytest.approx(_features(oracle.mean), abs=1e-9), item_id
        # frames k apart: the aligned item gets back many VMAF points
        assert aligned_items[item_id]["vmaf_v061"] - off_items[item_id]["vmaf_v061"] > 10.0, item_id


def test_the_pair_cache_key_has_the_alignment_only_when_one_is_given(clips, tmp_path):
    item_id, ref, dis, k = _pairs(clips)[1]
    pair = Pair(ref=ref, dis=dis, score=3.0, content="bikes", where="dataset.json:2")
    ff = find_ffmpeg()
    ref_sha, dis_sha = sha256_file(ref), sha256_file(dis)

    def identity(**kw):
        return pair_identity(pair, ref_sha, dis_sha, ff, backend=BACKEND_FFMPEG, max_frames=None, **kw)

    # the identity as it was spelled before --align: the caches of earlier runs stay valid
    before = {
        "schema": CACHE_SCHEMA,
        "ref_sha256": ref_sha,
        "dis_sha256": dis_sha,
        "geometry": pair.geometry,
        "ffmpeg_version": ff.version,
        "libvmaf_version": ff.libvmaf_version,
        "backend": BACKEND_FFMPEG,
        "vmaf_model": ffm.VMAF_MODEL,
        "max_frames": None,
    }
    assert identity() == identity(align=None) == before
    assert identity_hash(identity(align=None)) == identity_hash(before)
    keys = {identity_hash(before), identity_hash(identity(align="auto")), identity_hash(identity(align=k))}
    assert len(keys) == 3

    cache = tmp_path / "cache"
    (off,) = score_pairs([pair], cache)
    assert off.cache_file.name == f"{item_id}__{identity_hash(before)}.json" and off.alignment is None
    assert "align" not in json.loads(off.cache_file.read_text())["identity"]
    (off_again,) = score_pairs([pair], cache, align="off")  # "off" is no alignment: the same entry
    assert off_again.cached and off_again.cache_file == off.cache_file
    (auto,) = score_pairs([pair], cache, align="auto")
    assert not auto.cached and auto.cache_file.name == f"{item_id}__{identity_hash(identity(align='auto'))}.json"
    assert auto.alignment is not None and auto.alignment["offset"] == k and auto.n_frames == FRAMES - k
    (auto_again,) = score_pairs([pair], cache, align="auto")
    assert auto_again.cached and auto_again.mean == auto.mean and auto_again.alignment == auto.alignment
    (forced,) = score_pairs([pair], cache, align=k)  # --align N: its own entry, the same frame pairs
    assert not forced.cached and forced.cache_file not in (off.cache_file, auto.cache_file)
    assert forced.alignment is not None and forced.alignment["forced"] and forced.mean == pytest.approx(auto.mean)
    assert forced.mean == pytest.approx(vmafkit.score(ref, dis, align=k).mean)
    assert len(list(cache.glob("*.json"))) == 3


def test_an_unalignable_pair_is_one_line_naming_its_distorted_file(clips, tmp_path):
    """A still clip (one picture held) and its encode: every offset matches as well as any other, so
    --align auto refuses the pair by name (exit 2) rather than pool it at a guessed offset."""
    still = tmp_path / "still.y4m"
    _ffmpeg("-i", clips / "bikes.y4m", "-vf", "select=eq(n\\,0),loop=59:1:0", "-frames:v", FRAMES, still)
    encoded = _encode(still, tmp_path / "still_x264.mp4", "null")
    pairs = [
        {"ref": str(clips / "bikes.y4m"), "dis": str(clips / "bikes_late2.mp4"), "score": 4.0, "content": "bikes"},
        {"ref": still.name, "dis": encoded.name, "score": 3.0, "content": "still"},
    ]
    dataset = _write_dataset(tmp_path / "still.json", pairs)
    argv = [sys.executable, "-m", "vmafkit", "subjective", "train", "--dataset", str(dataset)]
    argv += ["--out", str(tmp_path / "out"), "--align", "auto", "--seeds", "0", "--epochs", "5", "--bootstrap", "199"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith(f"vmafkit: error: {dataset}:") and str(encoded) in proc.stderr
    assert "no convincing alignment" in proc.stderr
    assert not (tmp_path / "out" / "subjective_report.json").exists()
