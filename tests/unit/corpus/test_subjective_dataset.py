"""Issue 15: the subjective video dataset reader (JSON array, JSON lines, CSV of pairs).

Only the reader: the files named here are placeholders (scoring is tested in
tests/e2e/test_subjective_e2e.py on real clips). Scores are made up.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vmafkit.corpus.subjective_dataset import item_ids, read_dataset
from vmafkit.corpus.subjective_scale import SCALES
from vmafkit.errors import InputError


@pytest.fixture
def clips(tmp_path) -> Path:
    folder = tmp_path / "clips"
    folder.mkdir()
    for name in ("a_ref.y4m", "a_1.mp4", "a_2.mp4", "b_ref.y4m", "b_1.mp4", "b_2.mp4", "raw_64x48_25fps.yuv"):
        (folder / name).write_bytes(b"x")
    return folder


def pairs() -> list[dict]:
    return [
        {"ref": "a_ref.y4m", "dis": "a_1.mp4", "score": 4.1},
        {"ref": "a_ref.y4m", "dis": "a_2.mp4", "score": 2.5},
        {"ref": "b_ref.y4m", "dis": "b_1.mp4", "score": 3.9, "content": "scene-b", "score_std": 0.7, "n_obs": 24},
        {"ref": "b_ref.y4m", "dis": "b_2.mp4", "score": 1.5, "content": "scene-b"},
    ]


def _error(call) -> str:
    with pytest.raises(InputError) as info:
        call()
    assert "\n" not in str(info.value)
    return str(info.value)


def test_json_array_defaults_content_to_the_reference(clips):
    path = clips / "d.json"
    path.write_text(json.dumps(pairs(), indent=2))
    got = read_dataset(path)
    assert [p.content for p in got] == ["a_ref", "a_ref", "scene-b", "scene-b"]
    assert got[0].ref == clips / "a_ref.y4m" and got[2].score_std == 0.7 and got[2].n_obs == 24
    assert item_ids(got) == ["a_1", "a_2", "b_1", "b_2"]
    second = [i for i, line in enumerate(path.read_text().splitlines(), 1) if line.strip().startswith("{")][1]
    assert got[1].where == f"{path}:{second}"  # the line where the second object starts


def test_csv_and_jsonl_give_the_same_pairs(clips):
    rows = pairs()
    csv_path = clips / "d.csv"
    keys = ["ref", "dis", "score", "content", "score_std", "n_obs"]
    csv_path.write_text(",".join(keys) + "\n" + "".join(",".join(str(r.get(k, "")) for k in keys) + "\n" for r in rows))
    jsonl = clips / "d.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    a, b = read_dataset(csv_path), read_dataset(jsonl)
    assert [(p.ref, p.dis, p.score, p.content, p.score_std, p.n_obs) for p in a] == [
        (p.ref, p.dis, p.score, p.content, p.score_std, p.n_obs) for p in b
    ]
    assert a[3].where == f"{csv_path}:5"


def test_raw_geometry_fields(clips):
    path = clips / "d.jsonl"
    path.write_text(
        json.dumps(
            {
                "ref": "raw_64x48_25fps.yuv",
                "dis": "a_1.mp4",
                "score": 3,
                "width": 64,
                "height": 48,
                "pix_fmt": "yuv420p",
                "fps": 25,
            }
        )
        + "\n"
    )
    pair = read_dataset(path)[0]
    assert pair.geometry == {"width": 64, "height": 48, "pix_fmt": "yuv420p", "fps": 25.0}


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"scroe": 3}, "unknown key 'scroe' (did you mean 'score'?)"),
        ({"score": None}, "missing score"),
        ({"score": "high"}, "score must be a number, got 'high'"),
        ({"dis": "nope.mp4"}, "dis 'nope.mp4' not found"),
        ({"width": 0}, "width must be an integer in 1..65536"),
        ({"fps": -1}, "fps -1 is out of range"),
        ({"n_obs": 2.5}, "n_obs must be an integer"),
        ({"score_std": -0.1}, "score_std must be >= 0"),
        ({"dis": "a_ref.y4m"}, "dis is the reference itself"),
    ],
)
def test_bad_entries_name_file_and_line(clips, change, expected):
    rows = pairs()
    rows[1].update(change)
    if "scroe" in change:
        del rows[1]["score"]
    path = clips / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    msg = _error(lambda: read_dataset(path))
    assert msg.startswith(f"{path}:2: ") and expected in msg, msg


def test_leaks_between_folds_are_refused(clips):
    rows = pairs()
    rows[1]["content"] = "other"  # the same reference in two contents
    path = clips / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert "reference a_ref.y4m is in content 'other' here and in 'a_ref'" in _error(lambda: read_dataset(path))
    rows = pairs()
    rows.append(dict(rows[0]))
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert "is listed twice (first at" in _error(lambda: read_dataset(path))


def test_malformed_files(clips):
    path = clips / "d.json"
    path.write_text('[{"ref": "a_ref.y4m", "dis": "a_1.mp4", "score": 1},\n {"ref": ')
    assert _error(lambda: read_dataset(path)).startswith(f"{path}:2: malformed JSON")
    path.write_text('{"pairs": []}')
    assert "must be a JSON array" in _error(lambda: read_dataset(path))
    path.write_text('[{"ref": "a_ref.y4m", "dis": "a_1.mp4", "score": NaN}]')
    assert "malformed JSON" in _error(lambda: read_dataset(path))
    path.write_text("[]")
    assert "lists no pairs" in _error(lambda: read_dataset(path))
    other = clips / "d.txt"
    other.write_text("x")
    assert "must be .json" in _error(lambda: read_dataset(other))


def test_scale_is_checked(clips):
    rows = pairs()
    rows[3]["score"] = 0.5
    path = clips / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert read_dataset(path)[3].score == 0.5
    msg = _error(lambda: read_dataset(path, SCALES["mos-1-5"]))
    assert msg.startswith(f"{path}:4: score 0.5 is outside the mos-1-5 scale [1, 5]")
