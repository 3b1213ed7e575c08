"""Issue 12: messages that say what happened (tool failures, full disks, bad flags, merge
conflicts, folders that are files, advice after `run`), checked without running ffmpeg."""

from __future__ import annotations

import errno
import json
import os

import pytest
from click.testing import CliRunner

from vmafkit import errors as E
from vmafkit.cli import main
from vmafkit.errors import InputError
from vmafkit.media import ffmpeg as ffm

from ...factories import corpus_row

NVENC_STDERR = """\
[h264_nvenc @ 0x5621c29dbb00] Cannot load libcuda.so.1
[vost#0:0/h264_nvenc @ 0x5621c29dafc0] [enc:h264_nvenc @ 0x5621c29dba40] Error while opening encoder - maybe incorrect parameters such as bit_rate, rate, width or height.
[vf#0:0 @ 0x5621c29f7b00] Error sending frames to consumers: Operation not permitted
[vf#0:0 @ 0x5621c29f7b00] Task finished with error code: -1 (Operation not permitted)
[vost#0:0/h264_nvenc @ 0x5621c29dafc0] [enc:h264_nvenc @ 0x5621c29dba40] Could not open encoder before EOF
[vost#0:0/h264_nvenc @ 0x5621c29dafc0] Terminating thread with return code -22 (Invalid argument)
[out#0/null @ 0x5621c29da400] Nothing was written into output file, because at least one of its streams received no packets.
"""


def one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("vmafkit: error: "), output
    assert "Traceback" not in output
    return lines[0]


# ----------------------------------------------------------------------------- external tools


def test_last_error_line_skips_ffmpeg_generic_lines_and_all_prefixes():
    # the real cause, not "[enc:h264_nvenc @ 0x...] Could not open encoder before EOF"
    assert ffm.last_error_line(NVENC_STDERR) == "Cannot load libcuda.so.1"


def test_last_lines_keeps_the_tools_own_words_on_one_line():
    assert ffm.last_lines("a\n\n[x @ 0x1] b\nc\nd\n", n=3) == "b | c | d"
    assert ffm.last_lines("  \n") == ""


@pytest.mark.parametrize(
    "script, expected",
    [
        ("kill -SEGV $$", "ffmpeg was killed by SIGSEGV (it crashed) and printed nothing on stderr"),
        (
            "echo 'Cannot open x' >&2; kill -XFSZ $$",
            "ffmpeg was killed by SIGXFSZ (a file outgrew the file size limit, "
            "see `ulimit -f`) after printing: Cannot open x",
        ),
        ("exit 3", "ffmpeg exited with status 3 and printed nothing on stderr"),
    ],
)
def test_run_ffmpeg_failure_always_ends_in_a_telling_line(script, expected):
    result = ffm.run_ffmpeg(["sh", "-c", script])
    assert result.returncode != 0
    assert ffm.last_error_line(result.stderr) == expected


def test_scorable_size_is_libvmafs_measured_minimum():
    with pytest.raises(InputError, match=r"16x16 as scored; libvmaf needs at least 17x17"):
        ffm.check_scorable_size(16, 16, path="t.y4m")
    with pytest.raises(InputError, match=r"17x16 as scored \(the source's 17x17 cropped to even"):
        ffm.check_scorable_size(17, 16, path="t.y4m", source_size=(17, 17))
    ffm.check_scorable_size(17, 17)  # works in libvmaf (4:4:4 / gray): not refused
    assert ffm.cropped_size(17, 17, ffm.crop_filter(17, 17, 16, 16)) == (16, 16)


# ----------------------------------------------------------------------------- a full disk


@pytest.mark.parametrize("code, name", [(errno.ENOSPC, "ENOSPC"), (errno.EFBIG, "EFBIG"), (errno.EDQUOT, "EDQUOT")])
def test_storage_errors_become_one_line_input_errors(code, name):
    err = E.storage_error(OSError(code, os.strerror(code)))
    assert isinstance(err, InputError) and err.exit_code == 2 and name in str(err) and "\n" not in str(err)
    try:  # wrapped by a library (torch, pyarrow): found in the cause chain
        try:
            raise OSError(code, os.strerror(code), "/x/out.json")
        except OSError as exc:
            raise RuntimeError("write failed") from exc
    except RuntimeError as wrapped:
        assert "/x/out.json" in str(E.storage_error(wrapped))
    assert E.storage_error(OSError(errno.EACCES, "Permission denied")) is None
    assert E.storage_error(ValueError("x")) is None


def test_cli_maps_a_full_disk_anywhere_to_one_line_exit_2(monkeypatch, tmp_path):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("vmafkit.corpus.merge.merge_shards", full)
    result = CliRunner().invoke(main, ["merge", str(tmp_path / "a.jsonl"), "--out", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 2, result.output
    assert "ENOSPC" in one_error_line(result.output)


def test_cli_ignores_sigxfsz(monkeypatch):
    import signal

    calls = []
    monkeypatch.setattr(signal, "signal", lambda sig, handler: calls.append((sig, handler)))
    CliRunner().invoke(main, ["merge", "--help"])
    assert (signal.SIGXFSZ, signal.SIG_IGN) in calls


def test_registry_commit_leaves_neither_file_changed_when_the_registry_write_fails(monkeypatch, tmp_path):
    from vmafkit.serve import registry

    reg = tmp_path / "registry.json"
    reg.write_text('{"models": []}\n')
    before = reg.read_bytes()

    def full(*args, **kwargs):
        raise OSError(errno.EFBIG, "File too large")

    monkeypatch.setattr(registry, "atomic_write_json", full)
    with pytest.raises(OSError):
        registry._commit(reg, {"models": [1]}, {"action": "flip"}, before)
    assert reg.read_bytes() == before
    assert not registry.history_path(reg).exists()  # the history never records a flip that did not happen
    assert sorted(p.name for p in tmp_path.iterdir()) == ["registry.json"]  # no temp file left either


# ----------------------------------------------------------------------------- flags and paths


def test_usage_errors_are_one_line(tmp_path):
    result = CliRunner().invoke(main, ["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--bootstrap", "0"])
    assert result.exit_code == 2
    line = one_error_line(result.output)
    assert "--bootstrap" in line and "--help" in line


def test_not_a_folder_says_what_it_is(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"x")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert str(E.not_a_folder(clip, "reference folder")) == f"{clip}: is a file, not a reference folder"
    assert "is a FIFO, not a reference folder" in str(E.not_a_folder(fifo, "reference folder"))
    assert "reference folder not found" in str(E.not_a_folder(tmp_path / "gone", "reference folder"))


def test_run_ref_dir_that_is_a_file(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"x")
    result = CliRunner().invoke(main, ["run", "--ref-dir", str(clip), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert one_error_line(result.output) == f"vmafkit: error: {clip}: is a file, not a reference folder"
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- merge conflicts


def _row(**over):
    """A row as the ffmpeg back-end records it (with its versions), features 0.5."""
    traced = {"libvmaf_version": "86da14d", "ffmpeg_version": "n9.0.2", "backend": "ffmpeg-libvmaf"}
    return corpus_row("a", cq=30, **{**traced, **over})


def _shard(path, row):
    path.write_text(json.dumps(row) + "\n")
    return path


def test_merge_conflict_cites_what_differs(tmp_path):
    from vmafkit.corpus.merge import merge_shards

    a = _shard(tmp_path / "a.jsonl", _row(vmaf=90.0))
    b = _shard(tmp_path / "b.jsonl", _row(vmaf=91.5, adm2=0.75))
    with pytest.raises(InputError) as err:
        merge_shards([a, b], tmp_path / "m.jsonl")
    text = str(err.value)
    assert "vmaf 90 vs 91.5" in text and "adm2 0.5 vs 0.75" in text
    assert "86da14d vs 86da14d" not in text and "both rows record the same" in text and "86da14d" in text
    c = _shard(tmp_path / "c.jsonl", _row(vmaf=91.5, libvmaf_version="v3.0.0", encoder_version="x264 164"))
    with pytest.raises(InputError, match=r"libvmaf_version '86da14d' vs 'v3.0.0'.*encoder_version None vs 'x264 164'"):
        merge_shards([a, c], tmp_path / "m.jsonl", allow_mixed_versions=True)


# ----------------------------------------------------------------------------- advice and notes


GATE_PASS = {"passed": True}


def test_recommendation_after_run_exported_asks_only_for_the_flip(tmp_path):
    from vmafkit.decide.verdict import recommendation

    out = tmp_path / "out"
    (out / "loso").mkdir(parents=True)
    (out / "pipeline.json").write_text("{}")
    verdict = out / "loso" / "PROMOTE.json"
    rec = recommendation(GATE_PASS, out / "corpus.jsonl", verdict)
    assert "vmafkit export" not in rec
    assert f"vmafkit registry flip --registry {out / 'models' / 'registry.json'} --verdict {verdict}" in rec
    # a plain `vmafkit verdict` folder: export is still to do
    plain = tmp_path / "loso" / "PROMOTE.json"
    assert "vmafkit export --corpus" in recommendation(GATE_PASS, tmp_path / "c.jsonl", plain)


def test_recommendation_hold_in_a_run_folder(tmp_path, monkeypatch):
    from vmafkit.decide import verdict as V

    monkeypatch.setattr(V, "failing_aspects", lambda gate: ["mean PLCC 0.90 < 0.95"])
    out = tmp_path / "out"
    (out / "loso").mkdir(parents=True)
    (out / "pipeline.json").write_text("{}")
    rec = V.recommendation({"passed": False}, out / "c.jsonl", out / "loso" / "HOLD.json")
    assert rec.startswith("keep smoke=true") and "vmafkit export" not in rec and "mean PLCC 0.90" in rec
    assert "nothing was exported" in rec  # says what `run` did (and did not do)


@pytest.mark.parametrize(
    "message",
    [
        "Failed to set value 'qsv:hw,child_device=/dev/dri/renderD128' for option 'init_hw_device': Invalid argument",
        "Failed to create hardware device context (AMF) : Unknown error occurred because the driver is missing",
        "Cannot load libcuda.so.1",
    ],
)
def test_doctor_notes_are_cut_only_at_word_boundaries(message):
    from vmafkit.host.doctor import NOTE_WIDTH, short_note

    note = short_note(message)
    assert len(note) <= NOTE_WIDTH
    kept = note.rstrip("…")
    assert message.startswith(kept)
    if note.endswith("…"):
        assert message[len(kept.rstrip(",;:"))] in " ,;:"  # the next character ends a word
    else:
        assert note == message
