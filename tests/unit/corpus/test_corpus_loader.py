"""Property-based tests of the corpus loader (issue 7): any damage gives one InputError that
names the file and line; valid corpora load whole."""

from __future__ import annotations

import json
import math
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vmafkit.corpus.schema import CANONICAL6, REQUIRED_KEYS, load_corpus
from vmafkit.errors import InputError

from ...factories import corpus_row

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def make_row(src="a", frame=0, cq=25, **over):
    return corpus_row(src, frame=frame, cq=cq, **{"src_sha256": f"sha-{src}", **over})


rows_strategy = st.lists(
    st.tuples(
        st.sampled_from("abc"),
        st.integers(0, 30),
        st.sampled_from([19, 25, 31]),
        st.floats(0, 100, allow_nan=False),
        st.floats(0, 2, allow_nan=False),
    ),
    min_size=1,
    max_size=40,
    unique_by=lambda t: t[:3],
).map(lambda items: [make_row(s, f, c, vmaf=v, adm2=a) for s, f, c, v, a in items])


def write(path, rows, raw_lines=()):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "".join(raw_lines))
    return path


@FAST
@given(rows=rows_strategy)
def test_valid_corpora_load_whole(tmp_path, rows):
    corpus = load_corpus(write(tmp_path / "c.jsonl", rows))
    assert len(corpus) == len(rows)
    assert corpus.features.shape == (len(rows), 6)
    assert sorted(corpus.sources) == sorted({r["src"] for r in rows})


@FAST
@given(rows=rows_strategy, data=st.data())
def test_a_damaged_line_is_named(tmp_path, rows, data):
    bad_at = data.draw(st.integers(0, len(rows) - 1))
    damage = data.draw(st.sampled_from(["truncate", "drop_key", "nan", "inf", "version", "text", "duplicate"]))
    lines = [json.dumps(r) for r in rows]
    if damage == "truncate":
        lines[bad_at] = lines[bad_at][: data.draw(st.integers(1, len(lines[bad_at]) - 1))]
    elif damage == "drop_key":
        key = data.draw(st.sampled_from(REQUIRED_KEYS))
        lines[bad_at] = json.dumps({k: v for k, v in rows[bad_at].items() if k != key})
    elif damage in ("nan", "inf"):
        key = data.draw(st.sampled_from(CANONICAL6 + ("vmaf",)))
        lines[bad_at] = lines[bad_at].replace(
            f'"{key}": {json.dumps(rows[bad_at][key])}', f'"{key}": {"NaN" if damage == "nan" else "-Infinity"}'
        )
    elif damage == "version":
        lines[bad_at] = json.dumps({**rows[bad_at], "schema_version": data.draw(st.integers(2, 9))})
    elif damage == "text":
        lines[bad_at] = data.draw(st.text(string.ascii_letters + "{}[],:", min_size=1, max_size=20))
    else:
        lines.insert(bad_at + 1, lines[bad_at])
        bad_at += 1
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as err:
        load_corpus(path)
    message = str(err.value)
    assert f"{path}:{bad_at + 1}" in message and "\n" not in message


def test_empty_file_and_blank_lines(tmp_path):
    with pytest.raises(InputError, match="no rows"):
        load_corpus(write(tmp_path / "e.jsonl", []))
    path = write(tmp_path / "b.jsonl", [make_row()], raw_lines=["\n", "   \n"])
    assert len(load_corpus(path)) == 1


def test_non_finite_numbers_from_parquet_are_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "c.parquet"
    pq.write_table(pa.Table.from_pylist([make_row(), make_row(frame=1, vmaf=math.inf)]), path)
    with pytest.raises(InputError, match=r"c.parquet:row 2: vmaf is inf"):
        load_corpus(path)


def test_one_clip_in_two_groups_is_refused(tmp_path):
    """A corpus joined by hand (not through `vmafkit merge`) where the same reference bytes carry
    two names, and so two LOSO groups: training would test on a clip it trained on."""
    path = tmp_path / "c.jsonl"
    rows = [make_row("a", 0), make_row("a", 1), make_row("a_copy", 0, cq=31, src_sha256="sha-a"), make_row("b", 0)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(
        InputError, match=r"c\.jsonl: row 3: source sha-a \(src a_copy\) is in LOSO groups 'a' and 'a_copy'"
    ):
        load_corpus(path)
    rows[2]["group"] = "a"  # the same clip under two names but one group: fine
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert load_corpus(path).groups == ["a", "b"]


# ----------------------------------------------------------------------------- one libvmaf model


def test_rows_of_two_libvmaf_models_never_load_together(tmp_path):
    """A row without vmaf_model was scored with vmaf_v0.6.1 (the only model before --model)."""
    same = write(tmp_path / "same.jsonl", [make_row(frame=0), make_row(frame=1, vmaf_model="vmaf_v0.6.1")])
    assert load_corpus(same).meta["vmaf_model"] == "vmaf_v0.6.1"
    neg = write(tmp_path / "neg.jsonl", [make_row(frame=0, vmaf_model="vmaf_v0.6.1neg")])
    assert load_corpus(neg).meta["vmaf_model"] == "vmaf_v0.6.1neg"
    mixed = write(tmp_path / "mixed.jsonl", [make_row(frame=0), make_row(frame=1, vmaf_model="vmaf_v0.6.1neg")])
    with pytest.raises(InputError) as info:
        load_corpus(mixed)
    assert str(info.value) == (
        f"{mixed}: row 2 was scored with libvmaf model vmaf_v0.6.1neg but row 1 with vmaf_v0.6.1; "
        "a corpus holds one model's rows (build one corpus per --model)"
    )


@pytest.mark.parametrize(
    "over, message",
    [
        ({"vmaf_model": 3}, "vmaf_model must be a non-empty string when present, got 3"),
        ({"vmaf_model": " "}, "vmaf_model must be a non-empty string when present, got ' '"),
        ({"psnr_y": "40"}, "psnr_y must be a number, got '40'"),
        ({"float_ssim": None}, "float_ssim must be a number, got None"),
    ],
)
def test_model_and_metric_columns_are_checked(tmp_path, over, message):
    path = write(tmp_path / "c.jsonl", [make_row(frame=0), make_row(frame=1, **over)])
    with pytest.raises(InputError) as info:
        load_corpus(path)
    assert str(info.value) == f"{path}:2: {message}"


def test_metric_columns_load_beside_the_canonical_six(tmp_path):
    path = write(tmp_path / "c.jsonl", [make_row(frame=0, psnr_y=40.5, cambi=0.25, ciede2000=41.0)])
    assert len(load_corpus(path)) == 1


def test_train_refuses_a_corpus_of_two_models(tmp_path):
    from click.testing import CliRunner

    from vmafkit.cli import main

    rows = [make_row(src, 0) for src in "abc"] + [make_row("c", 1, vmaf_model="vmaf_4k_v0.6.1")]
    corpus = write(tmp_path / "mixed.jsonl", rows)
    args = ["train", "--corpus", str(corpus), "--out", str(tmp_path / "loso"), "--seeds", "0", "--epochs", "1"]
    result = CliRunner().invoke(main, [*args, "--no-progress"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"vmafkit: error: {corpus}: row 4 was scored with libvmaf model vmaf_4k_v0.6.1 but row 1 with vmaf_v0.6.1; "
        "a corpus holds one model's rows (build one corpus per --model)"
    ]
    assert not (tmp_path / "loso" / "loso_seed0.json").exists()


def test_a_corpus_of_two_scoring_recipes_is_refused_naming_the_row(tmp_path):
    from vmafkit.corpus.schema import load_corpus

    from ...factories import corpus_row, write_corpus

    rows = [corpus_row("a", frame=i, scoring_recipe="0123456789abcdef") for i in range(3)]
    rows.append(corpus_row("b", frame=0, scoring_recipe="fedcba9876543210"))
    path = write_corpus(tmp_path / "c.jsonl", rows)
    with pytest.raises(
        InputError, match=r"row 4 was scored with scoring recipe fedcba9876543210 but row 1 with 0123456789abcdef"
    ):
        load_corpus(path)


@pytest.mark.parametrize("bad", ["0123", "0123456789ABCDEF", 12, None, "0123456789abcdeg"])
def test_a_scoring_recipe_is_16_hex_digits(tmp_path, bad):
    from vmafkit.corpus.schema import load_corpus

    from ...factories import corpus_row, write_corpus

    path = write_corpus(tmp_path / "c.jsonl", [corpus_row("a", scoring_recipe=bad)])
    with pytest.raises(InputError, match="scoring_recipe must be 16 hex digits when present"):
        load_corpus(path)


# ---- feature sets: a v1 row carries v1's columns, a v0.6.1 row the canonical-6 -------------------


def _v1_row(**over):
    from ...factories import as_v1_rows

    return {**as_v1_rows([corpus_row()])[0], **over}


def test_a_v1_row_needs_v1_s_columns_and_not_the_canonical_six(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(_v1_row()) + "\n")
    corpus = load_corpus(path)
    assert corpus.feature_set == "vmaf-v1.0.16" and corpus.features.shape == (1, 14)
    assert corpus.feature_order[0] == "integer_adm2" and corpus.features[0, 0] == 0.5  # adm2 0.5 carried over
    row = _v1_row()
    del row["cambi_hrs"]
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(InputError, match=r"c.jsonl:1: missing keys cambi_hrs$"):
        load_corpus(path)


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"cambi_hrs": -1.0}, r"cambi_hrs -1.0 is out of range \(allowed: 0 to 100\)"),
        ({"integer_motion_sad": 2000.0}, r"integer_motion_sad 2000.0 is out of range \(allowed: 0 to 1024\)"),
        ({"speed_chroma_uv": "1.5"}, r"speed_chroma_uv must be a number, got '1.5'"),
        ({"feature_set": "vmaf-v0.6.1"}, r"feature_set 'vmaf-v0.6.1' is not the feature set of vmaf_model"),
        ({"vmaf": 101.0}, r"vmaf 101.0 is out of range \(allowed: 0 to 100\)"),
    ],
)
def test_v1_columns_are_range_checked(tmp_path, over, message):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(_v1_row(**over)) + "\n")
    with pytest.raises(InputError, match=message):
        load_corpus(path)


def test_the_4k_3h_v1_model_scores_up_to_110(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(_v1_row(vmaf_model="vmaf_v1.0.16_3d0h_2160", vmaf=109.5)) + "\n")
    assert load_corpus(path).vmaf[0] == 109.5
    path.write_text(json.dumps(_v1_row(vmaf_model="vmaf_v1.0.16_3d0h_2160", vmaf=110.5)) + "\n")
    with pytest.raises(InputError, match=r"allowed: 0 to 110"):
        load_corpus(path)
