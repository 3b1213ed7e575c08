"""`vmafkit rd` and `vmafkit import-corpus` as a user runs them, on a corpus of real encodes.

Oracles: a second "encoder" made from the real libx264 rows with every file twice as large must
come out at exactly +100 % BD-rate (same VMAF for twice the bits), and one whose VMAF range is
moved past the anchor's must get no number but the reason; the imported corpus must train."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from tests.conftest import media
from vmafkit.corpus.build import build_corpus
from vmafkit.corpus.schema import read_rows
from vmafkit.corpus.seed_import import SEED_KEYS

VMAFKIT = [sys.executable, "-m", "vmafkit"]
CLIPS = ("src01_hrc00_160x90_48f.yuv", "carphone_176x144_120f.mp4")


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rd")
    refs = tmp / "refs"
    refs.mkdir()
    for name in CLIPS:
        (refs / name).symlink_to(media(name))
    out = tmp / "corpus.jsonl"
    build_corpus(refs, ["libx264"], [20, 30, 40], out, max_frames=17, progress=False, cache_dir=tmp / "cache")
    return refs, out


def _vmafkit(*args):
    return subprocess.run([*VMAFKIT, *args], capture_output=True, text=True)


def _write(rows, path):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_rd_json_table_and_plots(real, tmp_path):
    _, corpus = real
    rows = read_rows(corpus)
    double = [{**r, "encoder": "libx265", "enc_bytes": 2 * r["enc_bytes"]} for r in rows]
    shifted = [{**r, "encoder": "libaom-av1", "cq": r["cq"] + 10} for r in rows if r["src"].startswith("src01")]
    for r in shifted:  # VMAF 1..3: far below the anchor's range
        r["vmaf"] = (60 - r["cq"]) / 10
    both = _write(rows + double + shifted, tmp_path / "both.jsonl")

    proc = _vmafkit("rd", str(both), "--anchor", "libx264", "--plots", str(tmp_path / "plots"), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["anchor"] == "libx264"
    by = {(r["src"], r["encoder"]): r for r in report["bd_rate"]}
    for src in ("src01_hrc00_160x90_48f", "carphone_176x144_120f"):
        assert by[(src, "libx265")]["bd_rate_pct"] == pytest.approx(100.0, abs=1e-6)
    no_overlap = by[("src01_hrc00_160x90_48f", "libaom-av1")]
    assert no_overlap["bd_rate_pct"] is None and "do not overlap" in no_overlap["reason"]
    (x265,) = [s for s in report["summary"] if s["encoder"] == "libx265"]
    assert x265["mean_bd_rate_pct"] == pytest.approx(100.0, abs=1e-6) and x265["n_sources"] == 2
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "rd_carphone_176x144_120f.png",
        "rd_src01_hrc00_160x90_48f.png",
    ]

    # --csv PATH: the same BD-rates, read back with the csv module
    table = tmp_path / "bd.csv"
    assert _vmafkit("rd", str(both), "--anchor", "libx264", "--csv", str(table)).returncode == 0
    with table.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["src"], r["encoder"]) for r in rows] == [(r["src"], r["encoder"]) for r in report["bd_rate"]]
    for got, want in zip(rows, report["bd_rate"]):
        assert got["anchor"] == "libx264" and got["basis"] == want["basis"]
        if want["bd_rate_pct"] is None:
            assert got["bd_rate_pct"] == "" and got["reason"] == want["reason"]
        else:
            assert float(got["bd_rate_pct"]) == want["bd_rate_pct"]

    text = _vmafkit("rd", str(both), "--anchor", "libx264", "--target", "80")
    assert text.returncode == 0, text.stderr
    assert "+100.00 %" in text.stdout and "do not overlap" in text.stdout and "cq that reaches VMAF 80" in text.stdout


def test_rd_refuses_an_unknown_anchor_in_one_line(real):
    _, corpus = real
    proc = _vmafkit("rd", str(corpus), "--anchor", "vp9")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "vmafkit: error: anchor encoder 'vp9' is not in the corpus (it has: libx264)"
    ]


def test_import_corpus_then_train(real, tmp_path):
    refs, corpus = real
    seed = _write([{k: r[k] for k in SEED_KEYS} for r in read_rows(corpus)], tmp_path / "seed.jsonl")

    direct = _vmafkit("train", "--corpus", str(seed), "--out", str(tmp_path / "x"), "--epochs", "1")
    assert direct.returncode == 2 and "vmafkit import-corpus" in direct.stderr

    out = tmp_path / "imported.jsonl"
    proc = _vmafkit("import-corpus", str(seed), "--ref-dir", str(refs), "--out", str(out), "--preset", "medium")
    assert proc.returncode == 0, proc.stderr
    assert "rows of 2 sources (libx264) imported" in proc.stderr
    train = _vmafkit(
        "train", "--corpus", str(out), "--out", str(tmp_path / "loso"), "--epochs", "2", "--seeds", "0", "--no-progress"
    )
    assert train.returncode == 0, train.stderr
    report = json.loads((tmp_path / "loso" / "loso_seed0.json").read_text())
    assert report["n_folds"] == 2
