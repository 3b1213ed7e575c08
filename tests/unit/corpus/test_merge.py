"""Merging shards: dedupe, refusals with file:line, summaries."""

from __future__ import annotations

import json

import pytest

from vmafkit.corpus.merge import merge_shards
from vmafkit.errors import InputError

from ...factories import corpus_row


def row(src="a", cq=25, frame=0, vmaf=90.0, version="v1", **extra):
    traced = {"src_sha256": f"sha-{src}", "libvmaf_version": version, "backend": "ffmpeg-libvmaf"}
    return corpus_row(src, frame=frame, cq=cq, vmaf=vmaf, **{**traced, **extra})


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_dedupes_and_summarises(tmp_path):
    a = write(tmp_path / "a.jsonl", [row("a", frame=0), row("a", frame=1)])
    b = write(tmp_path / "b.jsonl", [row("a", frame=1, enc_time_ms=9), row("b", frame=0)])
    summary = merge_shards([a, b], tmp_path / "m.jsonl")
    assert (summary.rows_in, summary.rows_out, summary.duplicates, summary.sources) == (4, 3, 1, ["a", "b"])
    merged = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [(r["src"], r["frame_index"]) for r in merged] == [("a", 0), ("a", 1), ("b", 0)]


def test_refuses_different_numbers_for_the_same_frame(tmp_path):
    a = write(tmp_path / "a.jsonl", [row(vmaf=90.0)])
    b = write(tmp_path / "b.jsonl", [row(vmaf=91.0, backend="vmaf-cli")])
    out = tmp_path / "m.jsonl"
    out.write_text("precious\n")
    with pytest.raises(InputError, match=r"b.jsonl:1: .*scored differently"):
        merge_shards([a, b], out)
    assert out.read_text() == "precious\n"  # nothing already written is lost


def test_refuses_other_schema_version_and_mixed_libvmaf(tmp_path):
    a = write(tmp_path / "a.jsonl", [row()])
    old = write(tmp_path / "old.jsonl", [row(frame=3, schema_version=0)])
    with pytest.raises(InputError, match="old.jsonl:1: schema_version 0"):
        merge_shards([a, old], tmp_path / "m.jsonl")
    other = write(tmp_path / "other.jsonl", [row(frame=4, version="v2")])
    with pytest.raises(InputError, match="different libvmaf versions"):
        merge_shards([a, other], tmp_path / "m.jsonl")
    assert merge_shards([a, other], tmp_path / "m.jsonl", allow_mixed_versions=True).rows_out == 2


def test_malformed_line_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(row()) + "\n{not json\n")
    with pytest.raises(InputError, match=r"bad.jsonl:2: line is not valid JSON"):
        merge_shards([bad], tmp_path / "m.jsonl")


# ----------------------------------------------------------------------------- one clip, one LOSO group


def merge_cli(*args):
    from click.testing import CliRunner

    from vmafkit.cli import main

    return CliRunner().invoke(main, ["merge", *map(str, args)])


def test_refuses_one_clip_under_two_names_across_shards(tmp_path):
    # Two hosts scored the same bytes (same src_sha256) but named the clip differently, so the
    # default group (= src) differs: the clip would be trained on in one fold and held out in another.
    a = write(tmp_path / "host1.jsonl", [row("parkjoy", frame=0, src_sha256="abc123")])
    b = write(
        tmp_path / "host2.jsonl",
        [row("other", frame=1, src_sha256="xyz"), row("parkjoy_copy", frame=0, src_sha256="abc123")],
    )
    out = tmp_path / "m.jsonl"
    with pytest.raises(InputError) as err:
        merge_shards([a, b], out)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{b}:2: src_sha256 abc123")
    for part in ("'parkjoy_copy'", "'parkjoy'", f"{a}:1", "group"):
        assert part in message
    assert not out.exists()
    result = merge_cli(a, b, "--out", out)
    assert result.exit_code == 2, result.output
    assert "src_sha256 abc123" in result.output and "host2.jsonl:2" in result.output
    assert not out.exists()


def test_refuses_one_clip_with_two_group_values(tmp_path):
    # Same src name and bytes, but one host grouped it with another scene in sources.toml.
    a = write(tmp_path / "a.jsonl", [row("parkjoy", frame=0, src_sha256="abc", group="scene1")])
    b = write(tmp_path / "b.jsonl", [row("parkjoy", frame=1, src_sha256="abc")])
    with pytest.raises(
        InputError,
        match=r"b.jsonl:1: src_sha256 abc .*group 'parkjoy' \(src 'parkjoy'\) "
        r"here but in group 'scene1' \(src 'parkjoy'\) at .*a.jsonl:1",
    ):
        merge_shards([a, b], tmp_path / "m.jsonl")
    assert merge_cli(a, b, "--out", tmp_path / "m.jsonl").exit_code == 2
    # within one shard too
    both = write(
        tmp_path / "both.jsonl",
        [row("x", frame=0, src_sha256="s", group="g1"), row("x", frame=1, src_sha256="s", group="g2")],
    )
    with pytest.raises(InputError, match=r"both.jsonl:2: src_sha256 s .*'g2'.*'g1'"):
        merge_shards([both], tmp_path / "m.jsonl")


def test_one_clip_in_one_group_still_merges(tmp_path):
    # Different names but the same explicit group: no leak, so the merge goes through; a row
    # without `group` (written before the key existed) has group = src, the same as one that spells it out.
    a = write(
        tmp_path / "a.jsonl",
        [row("parkjoy", frame=0, src_sha256="abc", group="scene"), row("legacy", frame=0, src_sha256="def")],
    )
    b = write(
        tmp_path / "b.jsonl",
        [
            row("parkjoy_copy", frame=1, src_sha256="abc", group="scene"),
            row("legacy", frame=1, src_sha256="def", group="legacy"),
        ],
    )
    summary = merge_shards([a, b], tmp_path / "m.jsonl")
    assert (summary.rows_out, summary.sources) == (4, ["legacy", "parkjoy", "parkjoy_copy"])
    result = merge_cli(a, b, "--out", tmp_path / "m2.jsonl")
    assert result.exit_code == 0, result.output


# ----------------------------------------------------------------------------- libvmaf model and metrics


def test_shards_of_two_libvmaf_models_never_merge(tmp_path):
    default = write(tmp_path / "default.jsonl", [row(frame=0)])  # no vmaf_model: vmaf_v0.6.1
    same = write(tmp_path / "same.jsonl", [row(frame=1, vmaf_model="vmaf_v0.6.1")])
    assert merge_shards([default, same], tmp_path / "m.jsonl").rows_out == 2
    neg = write(tmp_path / "neg.jsonl", [row(frame=2, vmaf_model="vmaf_v0.6.1neg")])
    out = tmp_path / "m2.jsonl"
    with pytest.raises(InputError) as info:
        merge_shards([default, neg], out)
    assert str(info.value) == (
        f"{neg}:1: scored with libvmaf model vmaf_v0.6.1neg, but {default}:1 with vmaf_v0.6.1; "
        "the models' vmaf and features differ, so their corpora never merge"
    )
    assert not out.exists()
    result = merge_cli(neg, default, "--out", out)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"vmafkit: error: {default}:1: scored with libvmaf model vmaf_v0.6.1, but {neg}:1 with vmaf_v0.6.1neg; "
        "the models' vmaf and features differ, so their corpora never merge"
    ]


def test_metric_columns_must_match_and_their_numbers_agree(tmp_path):
    psnr = {"psnr_y": 40.0, "psnr_cb": 41.0, "psnr_cr": 42.0}
    a = write(tmp_path / "a.jsonl", [row(frame=0, **psnr), row(frame=1, **psnr)])
    b = write(tmp_path / "b.jsonl", [row(frame=1, **psnr), row(frame=2, **psnr)])
    summary = merge_shards([a, b], tmp_path / "m.jsonl")
    assert (summary.rows_out, summary.duplicates) == (3, 1)
    merged = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert all(r["psnr_y"] == 40.0 for r in merged)
    plain = write(tmp_path / "plain.jsonl", [row(frame=5)])
    with pytest.raises(InputError) as info:
        merge_shards([a, plain], tmp_path / "m.jsonl")
    assert str(info.value) == (
        f"{plain}:1: metric columns none, but {a}:1 has psnr_y, psnr_cb, psnr_cr; "
        "merge shards scored with the same --metrics"
    )
    other = write(tmp_path / "other.jsonl", [row(frame=1, **{**psnr, "psnr_y": 39.0})])
    with pytest.raises(InputError, match=r"other\.jsonl:1: row .* was scored differently .*: psnr_y 40 vs 39"):
        merge_shards([a, other], tmp_path / "m.jsonl")


# ----------------------------------------------------------------------------- scoring recipe


def test_shards_of_two_scoring_recipes_never_merge(tmp_path):
    a = write(tmp_path / "a.jsonl", [row("a", scoring_recipe="0123456789abcdef")])
    b = write(tmp_path / "b.jsonl", [row("b", scoring_recipe="fedcba9876543210")])
    old = write(tmp_path / "old.jsonl", [row("c")])  # a shard of a vmafkit before recipes
    with pytest.raises(
        InputError, match=r"b.jsonl:1: scoring recipe fedcba9876543210, but .*a.jsonl:1 has 0123456789abcdef"
    ):
        merge_shards([a, b], tmp_path / "m.jsonl")
    with pytest.raises(InputError, match=r"old.jsonl:1: scoring recipe None, but .*a.jsonl:1 has 0123456789abcdef"):
        merge_shards([a, old], tmp_path / "m.jsonl")
    same = write(tmp_path / "same.jsonl", [row("d", scoring_recipe="0123456789abcdef")])
    assert merge_shards([a, same], tmp_path / "m.jsonl").rows_out == 2
