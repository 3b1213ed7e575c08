"""Inputs that say what they mean (issue 20, item 4): each case used to give a silent wrong answer.

- a reference folder's sources file: both `sources.toml` and `sources.json`, or one that is not a
  regular file, used to drop its groups silently (one scene in two LOSO folds);
- corpus rows with `bit_depth 99`, `pix_fmt "bogus"`, `enc_bytes 1.5` or encoder `LIBX264` trained;
- `vmafkit.gate(seeds='12')` gated seeds 1 and 2 (a string iterated a character at a time);
- `import-corpus` replaced a seed row's own `src_sha256`, `group`, ... without a word.

The oracles are independent of the code under test: the file system (what `os.mkfifo`, a folder
or a dangling link is), hand-computed values (the bit depth of yuv420p is 8, of yuv420p10le 10; a
clip's sha256 from hashlib), and ffmpeg's own list of pixel formats (`ffmpeg -pix_fmts`).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import vmafkit
from vmafkit.corpus.schema import load_corpus, validate_row
from vmafkit.corpus.seed_import import import_seed_corpus
from vmafkit.errors import InputError
from vmafkit.media.sources import find_sources, read_sources_config

from ...factories import cli, corpus_row, write_corpus

# ----------------------------------------------------------------------------- sources files

GROUPS_JSON = json.dumps({"groups": {"scene": ["a", "b"]}})


def test_a_sources_toml_beside_sources_json_is_refused_naming_both(tmp_path):
    (tmp_path / "sources.json").write_text(GROUPS_JSON)
    (tmp_path / "sources.toml").write_text("")  # even empty: it used to hide the JSON's groups
    with pytest.raises(InputError) as err:
        find_sources(tmp_path)
    message = str(err.value)
    assert str(tmp_path / "sources.toml") in message and str(tmp_path / "sources.json") in message
    assert "\n" not in message and err.value.exit_code == 2


def test_one_sources_file_of_either_kind_still_gives_its_groups(tmp_path):
    (tmp_path / "sources.json").write_text(GROUPS_JSON)
    assert read_sources_config(tmp_path).groups == {"a": "scene", "b": "scene"}
    (tmp_path / "sources.json").unlink()
    (tmp_path / "sources.toml").write_text('[groups]\nscene = ["a", "b"]\n')
    assert read_sources_config(tmp_path).groups == {"a": "scene", "b": "scene"}
    # a symbolic link to a regular file is a regular file to read
    real = tmp_path / "elsewhere.toml"
    (tmp_path / "sources.toml").rename(real)
    (tmp_path / "sources.toml").symlink_to(real)
    assert read_sources_config(tmp_path).groups == {"a": "scene", "b": "scene"}
    (tmp_path / "sources.toml").unlink()
    assert read_sources_config(tmp_path).groups == {}  # no sources file: no groups, no error


def _folder(path: Path) -> str:
    path.mkdir()
    return "folder"


def _fifo(path: Path) -> str:
    os.mkfifo(path)
    return "FIFO"


def _dangling(path: Path) -> str:
    path.symlink_to(path.parent / "gone.json")
    return "dangling"


def _device(path: Path) -> str:
    path.symlink_to("/dev/null")
    return "character device"


@pytest.mark.parametrize("make", [_folder, _fifo, _dangling, _device], ids=["folder", "fifo", "dangling", "device"])
@pytest.mark.parametrize("name", ["sources.json", "sources.toml"])
def test_a_sources_file_that_is_not_a_regular_file_is_refused_naming_it(tmp_path, make, name):
    path = tmp_path / name
    kind = make(path)
    assert os.path.lexists(path) and not path.is_file()  # the file system's word: there, not a regular file
    with pytest.raises(InputError) as err:
        find_sources(tmp_path)  # refused before any clip is looked at (it used to be skipped)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and kind in message and "\n" not in message
    assert os.path.lexists(path)  # left as it was


# ----------------------------------------------------------------------------- corpus fields


@pytest.fixture(scope="module")
def ffmpeg_pix_fmts() -> set[str]:
    """ffmpeg's own list of pixel format names (`ffmpeg -pix_fmts`), read here, not by vmafkit."""
    import imageio_ffmpeg

    out = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-pix_fmts"], capture_output=True, text=True, check=True
    ).stdout
    names = {line.split()[1] for line in out.split("-----", 1)[1].splitlines() if len(line.split()) > 1}
    assert {"yuv420p", "yuv420p10le", "rgb24"} <= names
    return names


@pytest.mark.parametrize(
    "change, field, allowed",
    [
        ({"bit_depth": 99}, "bit_depth", "must be 8"),  # yuv420p: 8 bits a sample
        ({"pix_fmt": "yuv420p10le", "bit_depth": 8}, "bit_depth", "must be 10"),  # ...10le: 10 bits
        ({"bit_depth": 8.5}, "bit_depth", "must be 8"),
        ({"pix_fmt": "bogus"}, "pix_fmt", "allowed: "),
        ({"pix_fmt": "YUV420P"}, "pix_fmt", "allowed: "),
        ({"enc_bytes": 1.5}, "enc_bytes", "non-negative integer"),
        ({"enc_bytes": -1}, "enc_bytes", "non-negative integer"),
        ({"encoder": "LIBX264"}, "encoder", "did you mean 'libx264'"),
        ({"encoder": "Libx265"}, "encoder", "did you mean 'libx265'"),
        ({"encoder": "H264_NVENC"}, "encoder", "did you mean 'h264_nvenc'"),
        ({"src_width": 0}, "src_width", "positive integer"),
    ],
)
def test_a_corpus_row_out_of_range_is_refused_naming_file_line_field_and_range(tmp_path, change, field, allowed):
    path = write_corpus(tmp_path / "c.jsonl", [corpus_row("a"), corpus_row("a", frame=1, **change)])
    with pytest.raises(InputError) as err:
        load_corpus(path)
    message = str(err.value)
    assert message.startswith(f"{path}:2: {field} ") and allowed in message and "\n" not in message


def test_train_refuses_such_a_corpus_with_exit_2_and_one_line(tmp_path):
    path = write_corpus(tmp_path / "c.jsonl", [corpus_row("a"), corpus_row("b", encoder="LIBX264")])
    from click.testing import CliRunner

    from vmafkit.cli import main

    result = CliRunner().invoke(main, ["train", "--corpus", str(path), "--out", str(tmp_path / "loso")])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and f"{path}:2: encoder 'LIBX264'" in result.output
    assert not (tmp_path / "loso").exists()


def test_rows_in_range_still_load(tmp_path, ffmpeg_pix_fmts):
    other = sorted(ffmpeg_pix_fmts - {"yuv420p"})[:3]  # formats ffmpeg knows, some vmafkit never names
    assert "bogus" not in ffmpeg_pix_fmts and "YUV420P" not in ffmpeg_pix_fmts
    rows = [
        corpus_row("a", bit_depth=8),
        corpus_row("a", frame=1, pix_fmt="yuv420p10le", bit_depth=10),
        corpus_row("a", frame=2, enc_bytes=0),
        corpus_row("a", frame=3, enc_bytes=123456789.0),  # a JSON float that is a whole number
        corpus_row("a", frame=4, encoder="x264-of-another-kit"),  # not a vmafkit encoder: still allowed
        corpus_row("a", frame=5, pix_fmt="rgb24", bit_depth=8),  # a container clip ffmpeg decodes
        *(corpus_row("a", frame=6 + i, pix_fmt=name) for i, name in enumerate(other)),
    ]
    for i, row in enumerate(rows):
        validate_row(row, f"row {i}")
    assert len(load_corpus(write_corpus(tmp_path / "c.jsonl", rows))) == len(rows)


# ----------------------------------------------------------------------------- the API's seeds


BAD_SEEDS = [
    pytest.param("12", "got str '12' (a string is not split into seeds)", id="str"),
    pytest.param(b"12", "got bytes b'12'", id="bytes"),
    pytest.param(1.5, "got float 1.5", id="float"),
    pytest.param(True, "got bool True", id="bool"),
    pytest.param(3, "got int 3", id="int"),
    pytest.param({0: 1}, "got dict", id="dict"),
    pytest.param([-1], "seed -1 is not an integer", id="negative"),
    pytest.param([0, 1.0], "seed 1.0 is not an integer", id="float item"),
    pytest.param([True], "seed True is not an integer", id="bool item"),
    pytest.param(["1"], "seed '1' is not an integer", id="str item"),
    pytest.param([2**63], "is not an integer in [0, 2^63)", id="huge"),
    pytest.param([], "no seeds given", id="empty"),
    pytest.param([1, 1], "seeds repeat", id="repeat"),
]


def _api_calls(tmp_path: Path):
    missing = tmp_path / "missing"
    return {
        "gate": lambda seeds: vmafkit.gate(missing, seeds=seeds),
        "write_verdict": lambda seeds: vmafkit.write_verdict(missing, seeds=seeds),
        "train_loso": lambda seeds: vmafkit.train_loso(missing / "c.jsonl", tmp_path / "out", seeds=seeds),
        "run": lambda seeds: vmafkit.run(tmp_path / "out", demo=True, seeds=seeds),
    }


@pytest.mark.parametrize("function", ["gate", "write_verdict", "train_loso", "run"])
@pytest.mark.parametrize("seeds, says", BAD_SEEDS)
def test_every_api_function_refuses_seeds_that_are_not_a_list_of_integers(tmp_path, function, seeds, says):
    with pytest.raises(vmafkit.InputError) as err:
        _api_calls(tmp_path)[function](seeds)
    message = str(err.value)
    assert message.startswith("seeds") and says in message and "\n" not in message  # names the argument
    assert not (tmp_path / "out").exists()  # refused before any work


def test_seeds_12_never_gates_seeds_1_and_2(tmp_path):
    """The reported case end to end: a LOSO folder holding seeds 1 and 2 only (so reading '12' a
    character at a time would find everything it looks for) is still refused."""
    from ...factories import make_loso_dir

    loso, _ = make_loso_dir(tmp_path, {1: 0.96, 2: 0.96})
    assert vmafkit.gate(loso, seeds=[1, 2])["passed"] in (True, False)  # the list form gates
    with pytest.raises(vmafkit.InputError, match=r"^seeds must be a list .* got str '12'"):
        vmafkit.gate(loso, seeds="12")


def test_lists_tuples_ranges_and_numpy_integers_are_seeds(tmp_path):
    from vmafkit.validation import check_seeds

    for seeds in ([0, 1], (0, 1), range(2), np.array([0, 1]), [np.int64(0), np.int32(1)]):
        assert check_seeds(seeds, "seeds") == [0, 1] and all(type(s) is int for s in check_seeds(seeds))


# ----------------------------------------------------------------------------- import-corpus conflicts

W, H, FRAMES = 32, 32, 2  # a raw yuv420p clip: W*H*3/2 bytes a frame


@pytest.fixture
def seed_setup(tmp_path):
    refs = tmp_path / "refs"
    refs.mkdir()
    clip = refs / f"clip_{W}x{H}.yuv"
    luma = bytes(range(0, 8 * W, 8)) * H  # a horizontal ramp: its rows line up at width W
    clip.write_bytes((luma + bytes([128]) * (W * H // 2)) * FRAMES)
    base = {"src": f"clip_{W}x{H}", "encoder": "libx264", "cq": 23, "enc_bytes": 900, "enc_time_ms": 12}
    base |= {"vmaf": 90.0, **{k: 0.5 for k in ("adm2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3")}}
    base["motion2"] = 1.0
    rows = [{**base, "frame_index": i} for i in range(FRAMES)]
    return refs, rows, hashlib.sha256(clip.read_bytes()).hexdigest()


def _write_seed(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# field, the seed row's own value, what the import writes (worked out by hand; sha256 by hashlib)
CONFLICTS = [
    ("src_sha256", "0" * 64, "SHA"),
    ("group", "scene-7", f"clip_{W}x{H}"),  # no sources file: a clip is its own group
    ("vmaf_model", "vmaf_4k_v0.6.1", "vmaf_v0.6.1"),  # libvmaf's default model
    ("libvmaf_version", "2.3.1", "3.0.0"),  # --libvmaf-version 3.0.0
    ("width", 1920, W),
    ("preset", "slow", "medium"),  # --preset medium
]


@pytest.mark.parametrize("field, theirs, ours", CONFLICTS, ids=[c[0] for c in CONFLICTS])
def test_import_refuses_a_seed_rows_own_value_it_would_replace(tmp_path, seed_setup, field, theirs, ours):
    refs, rows, sha = seed_setup
    ours = sha if ours == "SHA" else ours
    rows[1][field] = theirs
    seed = _write_seed(tmp_path / "seed.jsonl", rows)
    out = tmp_path / "imported.jsonl"
    with pytest.raises(InputError) as err:
        import_seed_corpus(seed, refs, out, preset="medium", libvmaf_version="3.0.0")
    message = str(err.value)
    assert message.startswith(f"{seed}:2: ") and field in message and "\n" not in message
    assert repr(theirs) in message and repr(ours) in message and "--overwrite-field" in message
    assert not out.exists()
    # named explicitly, the import's value replaces the row's
    import_seed_corpus(seed, refs, out, preset="medium", libvmaf_version="3.0.0", overwrite_fields=[field])
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r[field] for r in written] == [ours, ours]


def test_a_seed_rows_own_value_that_agrees_is_kept_and_no_field_needs_naming(tmp_path, seed_setup):
    refs, rows, sha = seed_setup
    for row in rows:
        row.update(src_sha256=sha, group=f"clip_{W}x{H}", width=W, preset="medium", fps=25.0)
    seed = _write_seed(tmp_path / "seed.jsonl", rows)
    summary = import_seed_corpus(seed, refs, tmp_path / "imported.jsonl", preset="medium")
    assert summary.n_rows == FRAMES


def test_overwrite_field_names_only_fields_the_import_writes(tmp_path, seed_setup):
    refs, rows, _ = seed_setup
    seed = _write_seed(tmp_path / "seed.jsonl", rows)
    with pytest.raises(InputError, match=r"--overwrite-field 'grup' is not a field .*did you mean 'group'"):
        import_seed_corpus(seed, refs, tmp_path / "o.jsonl", preset="medium", overwrite_fields=["grup"])
    with pytest.raises(InputError, match=r"--overwrite-field 'vmaf' is not a field the import writes"):
        import_seed_corpus(seed, refs, tmp_path / "o.jsonl", preset="medium", overwrite_fields=["vmaf"])
    with pytest.raises(InputError, match=r"overwrite_fields must be a list"):
        import_seed_corpus(seed, refs, tmp_path / "o.jsonl", preset="medium", overwrite_fields="group")
    assert not (tmp_path / "o.jsonl").exists()


def test_the_cli_refuses_with_exit_2_and_passes_overwrite_field_through(tmp_path, seed_setup):
    refs, rows, _ = seed_setup
    rows[0]["group"], rows[0]["preset"] = "scene-7", "slow"
    seed = _write_seed(tmp_path / "seed.jsonl", rows)
    out = tmp_path / "imported.jsonl"
    base = ["import-corpus", seed, "--ref-dir", refs, "--out", out, "--preset", "medium"]
    from click.testing import CliRunner

    from vmafkit.cli import main

    refused = CliRunner().invoke(main, [str(a) for a in base])
    assert refused.exit_code == 2 and refused.output.count("\n") == 1
    assert f"{seed}:1: the seed row's group is 'scene-7'" in refused.output and not out.exists()
    one = CliRunner().invoke(main, [str(a) for a in [*base, "--overwrite-field", "group"]])
    assert one.exit_code == 2 and "preset is 'slow'" in one.output  # group named, preset not
    result = cli([*base, "--overwrite-field", "group", "--overwrite-field", "preset"])
    assert result.exit_code == 0, result.output
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert {(r["group"], r["preset"]) for r in written} == {(f"clip_{W}x{H}", "medium")}


def test_schema_patterns_are_said_in_words_not_regexes(tmp_path):
    """A registry path or id the schema refuses is named in words (issue 20: "refused with a raw
    regex"); every pattern of every schema has its words."""
    from vmafkit.validation import PATTERN_MEANINGS, schema_errors

    row = {"id": "a b", "onnx": "../x.onnx", "sha256": "zz"}
    messages = [e for e in schema_errors({"schema_version": 1, "models": [row]}, "registry") if " is not " in e]
    assert "models/0/id: 'a b' is not a plain name (letters, digits, '.', '_' and '-' only)" in messages
    assert "models/0/onnx: '../x.onnx' is not a relative path inside the folder (no leading '/', no '..', no '\\')" in (
        messages
    )
    assert "models/0/sha256: 'zz' is not a sha256 (64 lowercase hex digits)" in messages
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps({"schema_version": 1, "models": [{**row, "id": "a b"}]}))
    result = cli(["registry", "validate", "--registry", str(registry)])
    assert result.exit_code != 0 and "^[" not in result.output and "Traceback" not in result.output

    patterns = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                patterns.add(value) if key == "pattern" else walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for schema in (Path(vmafkit.__file__).parent / "schemas").glob("*.json"):
        walk(json.loads(schema.read_text()))
    assert patterns and patterns <= set(PATTERN_MEANINGS)


# ----------------------------------------------------------------------------- raw geometry by content

# (clip, its true width and height, a declared geometry whose frame size divides the file): the
# issue's case first (160x90 declared 320x180 had scored 12 scrambled frames at 95.8, exit 0)
WRONG_GEOMETRY = [
    ("src01_hrc00_160x90_48f.yuv", 160, 320, 180),
    ("src01_hrc01_160x90_48f.yuv", 160, 320, 180),
    ("bluesky_640x360_3f.yuv", 640, 320, 180),
    ("ciscovt2people_320x192_12fps_9f.yuv", 320, 160, 96),
]


@pytest.mark.parametrize("name, true_width, width, height", WRONG_GEOMETRY)
def test_raw_clip_declared_at_a_wrong_geometry_that_divides_its_size_is_refused(
    tmp_path, name, true_width, width, height
):
    from vmafkit.media.sources import describe_source, raw_frame_size

    from ...conftest import media

    clip = media(name)
    assert clip.stat().st_size % raw_frame_size(width, height, "yuv420p") == 0  # the size check cannot see it
    copy = tmp_path / "clip.yuv"
    copy.symlink_to(clip)
    with pytest.raises(InputError) as err:
        describe_source(copy, width=width, height=height)
    message = str(err.value)
    assert f"declared geometry {width}x{height} looks wrong" in message and f"looks {true_width} wide" in message


@pytest.mark.parametrize(
    "name, width, height",
    [
        ("src01_hrc00_160x90_48f.yuv", 160, 90),
        ("bluesky_640x360_3f.yuv", 640, 360),
        ("ciscovt2people_320x192_12fps_9f.yuv", 320, 192),
    ],
)
def test_raw_clip_at_its_true_geometry_is_accepted(tmp_path, name, width, height):
    from vmafkit.media.sources import describe_source

    from ...conftest import media

    copy = tmp_path / "clip.yuv"
    copy.symlink_to(media(name))
    info = describe_source(copy, width=width, height=height)
    assert (info.width, info.height) == (width, height)
