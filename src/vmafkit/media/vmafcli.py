"""The second scoring back-end: a standalone libvmaf `vmaf` CLI (e.g. a CUDA or SYCL build).

ffmpeg decodes both streams into named pipes as y4m; `vmaf` reads the pipes. Nothing decoded
is written to disk, and the numbers come out in the same per-frame form as the ffmpeg back-end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from vmafkit.errors import InputError, raise_if_interrupted
from vmafkit.media import ffmpeg as ffm
from vmafkit.media import libvmaf
from vmafkit.media.libvmaf import parse_libvmaf_log


def vmaf_cli_argv(
    vmaf_bin: str,
    ref_y4m: Path,
    dis_y4m: Path,
    log_path: Path,
    threads: int = 1,
    *,
    vmaf_model: str = ffm.VMAF_MODEL,
    metrics: Sequence[str] = (),
    subsample: int = 1,
    encode: libvmaf.EncodeSide | None = None,
) -> list[str]:
    """libvmaf's CLI (3.x) takes the same model, features and subsampling as ffmpeg's filter:
    `--model version=V[:enable_transform=true]`, one `--feature NAME` each, `--subsample N`."""
    libvmaf.check_vmaf_cli_metrics(metrics)
    argv = [
        vmaf_bin,
        "--reference",
        str(ref_y4m),
        "--distorted",
        str(dis_y4m),
        "--model",
        ":".join(libvmaf.model_spec(vmaf_model, encode)),
    ]
    for name in metrics:
        argv += ["--feature", libvmaf.METRICS[name].feature]
    if subsample != 1:
        argv += ["--subsample", str(libvmaf.check_subsample(subsample))]
    return argv + [
        "--json",
        "--output",
        str(log_path),
        "--threads",
        str(threads),
        "--quiet",
    ]


DECODER_GRACE_S = 10.0  # after the scorer exits, how long its decoders may take to finish writing
POLL_S = 0.05


def score_with_vmaf_cli(vmaf_bin: str, ff: ffm.Ffmpeg, job: ffm.ScoreJob) -> list[dict[str, float]]:
    """Decode both streams into named pipes and score them with `vmaf_bin`.

    Every failure is one line that carries the failing tool's own last stderr lines, or says that
    it printed nothing; a scorer that exits without reading the pipes (or a decoder that fails
    before writing) is noticed at once, never after a timeout."""
    if not Path(vmaf_bin).is_file() or not os.access(vmaf_bin, os.X_OK):
        raise InputError("vmaf CLI not found or not executable", path=vmaf_bin)
    job.check_scored_size()
    where = job.what or vmaf_bin
    with tempfile.TemporaryDirectory(prefix="vmafkit-cli-") as tmp:
        tmp_dir = Path(tmp)
        ref_pipe, dis_pipe, log_path = tmp_dir / "ref.y4m", tmp_dir / "dis.y4m", tmp_dir / "vmaf.json"
        os.mkfifo(ref_pipe)
        os.mkfifo(dis_pipe)
        scorer = vmaf_cli_argv(
            vmaf_bin,
            ref_pipe,
            dis_pipe,
            log_path,
            job.threads,
            vmaf_model=job.vmaf_model,
            metrics=job.metrics,
            subsample=job.subsample,
            encode=job.encode,
        )
        jobs = [
            ("vmaf CLI", scorer),
            ("ffmpeg decoding the reference", ffm.decode_to_y4m_pipe_argv(ff, job, ref_pipe, side="ref")),
            ("ffmpeg decoding the distorted clip", ffm.decode_to_y4m_pipe_argv(ff, job, dis_pipe, side="dis")),
        ]
        procs: list[tuple[str, subprocess.Popen, Path]] = []
        try:
            for i, (name, argv) in enumerate(jobs):
                err_path = tmp_dir / f"stderr{i}.txt"  # a file, not a pipe: a chatty tool can never block
                with open(err_path, "wb") as err:
                    try:
                        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
                    except OSError as exc:
                        raise InputError(f"cannot run the {name}: {exc.strerror or exc}", path=argv[0]) from None
                procs.append((name, proc, err_path))
            failed = _wait_all(procs)
        finally:
            for _, proc, _ in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        if failed is not None:
            raise_if_interrupted()  # stopped by the Ctrl-C the user pressed: not a failure
            name, proc, err_path = failed
            raise InputError(f"{name} {_tool_story(proc.returncode, _read(err_path))}", path=where)
        if not log_path.exists() or log_path.stat().st_size == 0:
            stderr = _read(procs[0][2])  # the scorer's
            told = ffm.last_lines(stderr)
            raise InputError(
                f"vmaf CLI exited with status 0 but wrote no score log "
                f"({'its last stderr lines: ' + told if told else 'it printed nothing on stderr'}); "
                f"is {vmaf_bin} really libvmaf's `vmaf` tool?",
                path=where,
            )
        try:
            data = json.loads(log_path.read_text(encoding="utf-8", errors="replace"))
        except json.JSONDecodeError as exc:
            raise InputError(
                f"vmaf CLI wrote an unreadable score log ({exc.msg} at line {exc.lineno})", path=where
            ) from None
        if not isinstance(data, dict):
            raise InputError("vmaf CLI wrote a score log that is not a JSON object", path=where)
    return parse_libvmaf_log(data, where, vmaf_model=job.vmaf_model, metrics=job.metrics)


def _wait_all(procs: list[tuple[str, subprocess.Popen, Path]]):
    """Wait for the scorer and both decoders; return the one whose failure to report (None when
    the scorer succeeded or exited 0 without a log); the caller kills whatever still runs.

    A decoder blocks opening its pipe until the scorer opens it, and the scorer blocks reading a
    pipe no decoder writes to: so once either side is gone, the other is waited for only briefly."""
    scorer = procs[0][1]
    scorer_done_at: float | None = None
    while True:
        if any(proc.poll() not in (None, 0) for _, proc, _ in procs):
            return _culprit(procs)
        if all(proc.poll() is not None for _, proc, _ in procs):
            return None
        if scorer.poll() is not None:
            now = time.monotonic()
            scorer_done_at = scorer_done_at or now
            if not (procs[0][2].parent / "vmaf.json").exists():
                return None  # exited 0 without opening the pipes (or writing a log): say so now
            if now - scorer_done_at > DECODER_GRACE_S:
                return None  # the scorer finished; a decoder still waiting has no reader left
        time.sleep(POLL_S)


def _culprit(procs: list[tuple[str, subprocess.Popen, Path]], settle_s: float = 0.5):
    """Which failure to report: a decoder that failed on its own (the input) first, then the
    scorer, then a decoder that only lost its reader (SIGPIPE / broken pipe)."""
    deadline = time.monotonic() + settle_s
    while time.monotonic() < deadline and any(proc.poll() is None for _, proc, _ in procs):
        time.sleep(POLL_S)
    failed = [entry for entry in procs if entry[1].poll() not in (None, 0)]
    own = [
        entry for entry in failed[1:] if entry[1].returncode != -signal.SIGPIPE and "Broken pipe" not in _read(entry[2])
    ]
    if own:
        return own[0]
    if procs[0][1].poll() not in (None, 0):
        return procs[0]
    return failed[0]


def _read(path: Path) -> str:
    try:
        return path.read_bytes()[-65536:].decode("utf-8", errors="replace")
    except OSError:
        return ""


def _tool_story(returncode: int, stderr: str) -> str:
    """'exited with status 1: <its last stderr lines>' / '... and printed nothing on stderr'."""
    told = ffm.last_lines(stderr)
    if told:
        return f"{ffm.describe_exit(returncode)}: {told}"
    return f"{ffm.describe_exit(returncode)} and printed nothing on stderr"
