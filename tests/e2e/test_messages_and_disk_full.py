"""Issue 12, end to end with the real CLI, ffmpeg and libvmaf: a full disk (`ulimit -f`) is one
line, exit 2, and no record of work that did not happen; external tools' failures say what the
tool said (or that it said nothing), at once; a clip below libvmaf's minimum is refused up front."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vmafkit.media.ffmpeg import find_ffmpeg

from ..factories import make_corpus

VMAFKIT = [sys.executable, "-m", "vmafkit"]


def vmafkit(*args, fsize: int | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """The real CLI in a child process; `fsize`: its RLIMIT_FSIZE in bytes (`ulimit -f`)."""

    def limit():
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run(
        [*VMAFKIT, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=limit,
        stdin=subprocess.DEVNULL,
    )


def one_error(proc: subprocess.CompletedProcess) -> str:
    """The single `vmafkit: error:` line of a run that exited 2 (and printed no traceback)."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("vmafkit: error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def clip(path: Path, size: str, pix_fmt: str = "yuv420p", source: str = "testsrc2", frames: int = 3) -> Path:
    w, h = size.split("x")
    subprocess.run(
        [
            find_ffmpeg().path,
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"{source}=s=64x64:r=25",
            "-frames:v",
            str(frames),
            "-vf",
            f"scale={w}:{h}",
            "-pix_fmt",
            pix_fmt,
            str(path),
        ],
        check=True,
    )
    return path


# ----------------------------------------------------------------------------- disk full


def test_flip_on_a_full_disk_changes_nothing_and_records_nothing(models):
    m, verdict, _ = models
    registry = m / "registry.json"
    before, history_before = registry.read_bytes(), (m / "registry_history.jsonl").read_bytes()
    # the new registry (it grows: promoted_by) cannot be written; the history entry (smaller) could
    proc = vmafkit("registry", "flip", "--registry", registry, "--verdict", verdict, fsize=len(before))
    assert "EFBIG" in one_error(proc)
    assert registry.read_bytes() == before
    assert (m / "registry_history.jsonl").read_bytes() == history_before  # no flip that never happened
    assert not list(m.glob(".*.tmp"))
    # with room again the same command works and records exactly one flip (after export's register)
    proc = vmafkit("registry", "flip", "--registry", registry, "--verdict", verdict)
    assert proc.returncode == 0, proc.stderr
    history = [json.loads(line) for line in (m / "registry_history.jsonl").read_text().splitlines()]
    assert [h["action"] for h in history] == ["register", "flip"]


def test_rollback_on_a_full_disk_changes_nothing_and_records_nothing(models, tmp_path):
    m, verdict, _ = models
    registry = m / "registry.json"
    assert vmafkit("registry", "flip", "--registry", registry, "--verdict", verdict).returncode == 0
    reason = "bad corpus snapshot " * 150  # written into every row's notes: the registry grows more than the history
    trial = tmp_path / "trial"  # measure what the rollback writes on a copy with room
    trial.mkdir()
    for f in m.iterdir():
        (trial / f.name).write_bytes(f.read_bytes())
    assert vmafkit("registry", "rollback", "--registry", trial / "registry.json", "--reason", reason).returncode == 0
    new_registry = (trial / "registry.json").stat().st_size
    new_history = (trial / "registry_history.jsonl").stat().st_size
    assert new_history + 400 < new_registry
    before, history_before = registry.read_bytes(), (m / "registry_history.jsonl").read_bytes()
    proc = vmafkit(
        "registry", "rollback", "--registry", registry, "--reason", reason, fsize=(new_history + new_registry) // 2
    )  # room for the history, not for the registry
    assert "EFBIG" in one_error(proc)
    assert registry.read_bytes() == before
    assert (m / "registry_history.jsonl").read_bytes() == history_before  # still export's register and the flip


def test_merge_output_on_a_full_disk(tmp_path):
    shard = make_corpus(tmp_path / "shard.jsonl")
    out = tmp_path / "merged.jsonl"
    proc = vmafkit("merge", shard, "--out", out, fsize=4096)
    assert "EFBIG" in one_error(proc)
    assert not out.exists() and not list(tmp_path.glob(".*.tmp"))


@pytest.fixture
def refs(tmp_path):
    ref_dir = tmp_path / "refs"
    ref_dir.mkdir()
    clip(ref_dir / "alpha.y4m", "96x64", source="testsrc2", frames=4)
    clip(ref_dir / "beta.y4m", "96x64", source="mandelbrot", frames=4)
    return ref_dir


def test_final_corpus_write_on_a_full_disk(tmp_path):
    refs = tmp_path / "refs"
    refs.mkdir()
    clip(refs / "alpha.y4m", "96x64", source="testsrc2", frames=12)
    clip(refs / "beta.y4m", "96x64", source="mandelbrot", frames=12)
    out = tmp_path / "corpus" / "c.jsonl"
    out.parent.mkdir()
    args = ("corpus", "--ref-dir", refs, "--out", out, "--cqs", "30", "--no-progress")
    assert vmafkit(*args).returncode == 0  # every cell is cached now
    size = out.stat().st_size
    out.unlink()
    proc = vmafkit(*args, fsize=size * 3 // 4)  # only the final write is left (each cell is half), and it does not fit
    assert "EFBIG" in one_error(proc)
    assert not out.exists()
    assert vmafkit(*args).returncode == 0 and out.stat().st_size == size  # the cache survived: same corpus


def test_encode_on_a_full_disk_says_so(refs, tmp_path):
    # room for libvmaf's 3 KB version-probe log, not for a lossless (cq 0) encode (10 KB)
    proc = vmafkit(
        "corpus", "--ref-dir", refs, "--out", tmp_path / "c.jsonl", "--cqs", "0", "--no-progress", fsize=5000
    )
    line = one_error(proc)
    assert "encode failed" in line and "SIGXFSZ" in line and "ulimit -f" in line  # never "no message"


# ----------------------------------------------------------------------------- external tools


def test_clip_below_libvmafs_minimum_is_refused_up_front_and_no_more(tmp_path):
    tiny = clip(tmp_path / "tiny.y4m", "16x16")
    line = one_error(vmafkit("score", "--ref", tiny, "--dis", tiny))  # was: "libvmaf scoring failed: no message"
    assert "16x16" in line and "at least 17x17" in line
    odd = clip(tmp_path / "odd.y4m", "17x17")  # 4:2:0: cropped to 16x16, which libvmaf cannot score
    assert "the source's 17x17 cropped to even" in one_error(vmafkit("score", "--ref", odd, "--dis", odd))
    # the refusal is exactly libvmaf's limit, not stricter: the smallest sizes it scores go through
    for size, pix_fmt in (("18x18", "yuv420p"), ("17x17", "yuv444p")):
        small = clip(tmp_path / f"small{size}{pix_fmt}.y4m", size, pix_fmt)
        proc = vmafkit("score", "--ref", small, "--dis", small)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["mean"]["vmaf"] > 50


@pytest.fixture
def pair(tmp_path):
    return clip(tmp_path / "a.y4m", "64x64"), clip(tmp_path / "b.y4m", "64x64", source="mandelbrot")


def test_vmaf_bin_that_does_nothing_fails_at_once_and_says_so(pair):
    ref, dis = pair
    started = time.monotonic()
    line = one_error(vmafkit("score", "--ref", ref, "--dis", dis, "--vmaf-bin", "/bin/true"))
    assert time.monotonic() - started < 20  # was: a 60 s wait for the decoders
    assert "exited with status 0 but wrote no score log" in line and "printed nothing on stderr" in line


def test_vmaf_bin_failure_carries_its_last_stderr_lines(pair, tmp_path):
    ref, dis = pair
    fake = tmp_path / "vmaf"
    fake.write_text(
        "#!/bin/sh\necho 'vmaf: loading model' >&2\necho 'problem loading model file' >&2\n"
        "echo 'could not read model: vmaf_v0.6.1' >&2\nexit 3\n"
    )
    fake.chmod(0o755)
    line = one_error(vmafkit("score", "--ref", ref, "--dis", dis, "--vmaf-bin", fake))
    assert (
        "vmaf CLI exited with status 3: vmaf: loading model | problem loading model file | "
        "could not read model: vmaf_v0.6.1"
    ) in line
    crash = tmp_path / "crash"
    crash.write_text("#!/bin/sh\nkill -SEGV $$\n")
    crash.chmod(0o755)
    line = one_error(vmafkit("score", "--ref", ref, "--dis", dis, "--vmaf-bin", crash))
    assert "was killed by SIGSEGV (it crashed) and printed nothing on stderr" in line
