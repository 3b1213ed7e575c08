"""Issue 20's output rule (`vmafkit.io`): vmafkit writes a regular file or a new path, never over a
device, FIFO, socket or folder, never over one of the command's inputs, never two outputs on one
path; a refused output is refused before anything is written. The oracles are the file system's
own answers (os.stat, the bytes on disk), not the code under test."""

from __future__ import annotations

import os
import socket
import stat

import pytest

from vmafkit.errors import InputError
from vmafkit.io import atomic_write_text, check_distinct_paths, check_output_path, same_path


def test_a_new_path_and_a_regular_file_may_be_written(tmp_path):
    new = tmp_path / "new.json"
    assert check_output_path(new) == new and not new.exists()
    atomic_write_text(new, "one")
    atomic_write_text(new, "two")  # a regular file is replaced whole
    assert new.read_text() == "two" and stat.S_ISREG(os.stat(new).st_mode)


def test_a_fifo_is_refused_and_stays_a_fifo(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match=r"fifo: is not a regular file \(a FIFO\)"):
        atomic_write_text(fifo, "x")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["fifo"]  # no temp file left beside it


def test_a_character_device_is_refused_and_stays_one(tmp_path):
    """A private node with /dev/null's numbers (never /dev/null itself: a regression would replace
    the machine's). Making one needs root, as in CI."""
    node = tmp_path / "null"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except OSError:
        pytest.skip("creating a device node needs root")
    with pytest.raises(InputError, match=r"null: is not a regular file \(a character device\)"):
        atomic_write_text(node, "x")
    after = os.stat(node)
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == os.makedev(1, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["null"]


def test_a_socket_a_folder_and_a_link_to_a_fifo_are_refused(tmp_path):
    sock_path = tmp_path / "s.sock"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(sock_path))
        with pytest.raises(InputError, match="a socket"):
            check_output_path(sock_path)
    finally:
        server.close()
    with pytest.raises(InputError, match="is a folder"):
        check_output_path(tmp_path)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link"
    link.symlink_to(fifo)
    with pytest.raises(InputError, match="a FIFO"):
        check_output_path(link)


def test_a_link_to_a_regular_file_may_be_written_and_the_target_is_left_alone(tmp_path):
    target = tmp_path / "target.txt"
    target.write_text("kept")
    link = tmp_path / "out.txt"
    link.symlink_to(target)
    atomic_write_text(link, "new")
    assert target.read_text() == "kept" and link.read_text() == "new" and not link.is_symlink()


def test_same_path_sees_one_file_under_two_names(tmp_path):
    a = tmp_path / "a.jsonl"
    a.write_text("x")
    (tmp_path / "sub").mkdir()
    hard = tmp_path / "hard.jsonl"
    os.link(a, hard)
    assert same_path(a, tmp_path / "sub" / ".." / "a.jsonl")
    assert same_path(a, hard)  # a hard link: another name, the same inode
    assert not same_path(a, tmp_path / "b.jsonl")
    assert same_path(tmp_path / "new.json", tmp_path / "sub" / ".." / "new.json")  # neither exists
    assert not same_path(tmp_path / "new.json", tmp_path / "other.json")


def test_an_output_that_is_an_input_is_refused_naming_both(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("{}\n")
    with pytest.raises(InputError) as err:
        check_distinct_paths({"CORPUS": corpus}, {"--json": tmp_path / "." / "corpus.jsonl"})
    assert str(err.value) == (
        f"{tmp_path / 'corpus.jsonl'}: --json names the same file as CORPUS, an input of this command: writing it "
        "would destroy that input; give another path"
    )
    assert corpus.read_text() == "{}\n"


def test_two_outputs_on_one_path_are_refused_and_stdout_and_none_are_not_paths(tmp_path):
    with pytest.raises(InputError, match="--json and --csv name the same file"):
        check_distinct_paths({}, {"--json": tmp_path / "x", "--csv": tmp_path / "x"})
    check_distinct_paths({"--ref": "-"}, {"--json": "-", "--csv": "-", "--out": None})  # stdout twice is not a file
    with pytest.raises(InputError, match="--out names the same file as a shard"):
        check_distinct_paths({"a shard": [tmp_path / "a", tmp_path / "b"]}, {"--out": tmp_path / "b"})


def test_a_folders_own_files_are_the_names_vmafkit_gives_and_not_a_users(tmp_path):
    from vmafkit.layout import own_files

    names = [
        "loso_seed0.json",
        "loso_seed0.predictions.jsonl",
        "loso_seed12.timing.json",
        "PROMOTE.json",
        "registry.json",
        "registry_history.jsonl",
        "m1_seed0.onnx",
        "m1_seed0.json",  # the member's sidecar: an .onnx of that stem stands beside it
        "m1_calibration.json",
        "gate.json",  # a user's earlier `--json gate.json`
        "notes.json",
    ]
    for name in names:
        (tmp_path / name).write_text("x")
    (tmp_path / "loso_seed3.json.d").mkdir()  # a folder is no file
    assert [p.name for p in own_files(tmp_path)] == sorted(set(names) - {"gate.json", "notes.json"})
    assert own_files(tmp_path / "missing") == [] and own_files(tmp_path / "gate.json") == []


def test_an_output_folder_is_refused_when_a_file_or_device_stands_there(tmp_path):
    from vmafkit.io import ensure_output_folder

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match=r"fifo: is a FIFO, not a folder \(the plots folder\)"):
        ensure_output_folder(fifo, "plots folder")
    afile = tmp_path / "a.txt"
    afile.write_text("x")
    with pytest.raises(InputError, match="a folder on the way to this plots folder is a file"):
        ensure_output_folder(afile / "plots", "plots folder")
    made = ensure_output_folder(tmp_path / "x" / "y")
    assert made.is_dir() and afile.read_text() == "x" and stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_plot_names_that_replace_alike_get_distinct_files():
    from vmafkit.report.figures import rd_plot_names

    names = rd_plot_names(["a b", "a_b", "clip"])
    assert names["clip"] == "rd_clip.png"
    assert len(set(names.values())) == 3  # "a b" and "a_b" both sanitise to rd_a_b.png
    assert names["a b"].startswith("rd_a_b_") and names["a_b"].startswith("rd_a_b_")
    assert names["a b"] != names["a_b"]


def test_a_name_longer_than_the_file_system_allows_is_one_line(tmp_path):
    from vmafkit.errors import path_error

    long = tmp_path / ("a" * 300)
    with pytest.raises(OSError) as err:
        open(long, "w")
    mapped = path_error(err.value)
    assert mapped is not None and str(mapped).endswith(
        "a name in this path is longer than the file system allows (255 bytes a name)"
    )
    assert path_error(ValueError("x")) is None
