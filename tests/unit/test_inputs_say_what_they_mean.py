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

import json
import os
from pathlib import Path

import pytest

from vmafkit.errors import InputError
from vmafkit.media.sources import find_sources, read_sources_config

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
