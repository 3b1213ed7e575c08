"""The second scoring back-end: a standalone libvmaf `vmaf` CLI (e.g. a CUDA or SYCL build).

ffmpeg decodes both streams into named pipes as y4m; `vmaf` reads the pipes. Nothing decoded
is written to disk, and the numbers come out in the same per-frame form as the ffmpeg back-end.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Sequence

from ..errors import InputError
from . import ffmpeg as ffm
from .score import parse_libvmaf_log


def vmaf_cli_argv(vmaf_bin: str, ref_y4m: Path, dis_y4m: Path, log_path: Path, threads: int = 1) -> list[str]:
    return [vmaf_bin, "--reference", str(ref_y4m), "--distorted", str(dis_y4m),
            "--model", f"version={ffm.VMAF_MODEL}", "--json", "--output", str(log_path),
            "--threads", str(threads), "--quiet"]


def decode_to_y4m_argv(ff: ffm.Ffmpeg, spec: ffm.InputSpec, out: Path, *, pix_fmt: str,
                       crop: Sequence[str] = (), max_frames: int | None = None) -> list[str]:
    steps = [*crop, f"format={pix_fmt}"]
    argv = [ff.path, "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *spec.args(), "-map", "0:v:0",
            "-fps_mode", "passthrough", "-vf", ",".join(steps)]
    if max_frames:
        argv += ["-frames:v", str(max_frames)]
    return argv + ["-strict", "-1", "-f", "yuv4mpegpipe", ffm.file_url(out)]


def score_with_vmaf_cli(
    vmaf_bin: str,
    ff: ffm.Ffmpeg,
    distorted: ffm.InputSpec,
    reference: ffm.InputSpec,
    *,
    pix_fmt: str,
    ref_crop: Sequence[str] = (),
    dis_crop: Sequence[str] = (),
    max_frames: int | None = None,
    threads: int = 1,
    what: str = "",
) -> list[dict[str, float]]:
    if not Path(vmaf_bin).is_file() or not os.access(vmaf_bin, os.X_OK):
        raise InputError("vmaf CLI not found or not executable", path=vmaf_bin)
    with tempfile.TemporaryDirectory(prefix="vmafkit-cli-") as tmp:
        ref_pipe, dis_pipe, log_path = Path(tmp) / "ref.y4m", Path(tmp) / "dis.y4m", Path(tmp) / "vmaf.json"
        os.mkfifo(ref_pipe)
        os.mkfifo(dis_pipe)
        decoders = [
            subprocess.Popen(decode_to_y4m_argv(ff, reference, ref_pipe, pix_fmt=pix_fmt, crop=ref_crop,
                                                max_frames=max_frames), stderr=subprocess.PIPE),
            subprocess.Popen(decode_to_y4m_argv(ff, distorted, dis_pipe, pix_fmt=pix_fmt, crop=dis_crop,
                                                max_frames=max_frames), stderr=subprocess.PIPE),
        ]
        scorer = subprocess.run(vmaf_cli_argv(vmaf_bin, ref_pipe, dis_pipe, log_path, threads),
                                capture_output=True, text=True)
        for proc in decoders:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if scorer.returncode != 0 or not log_path.exists():
            raise InputError(f"vmaf CLI failed: {ffm.last_error_line(scorer.stderr)}", path=what or vmaf_bin)
        data = json.loads(log_path.read_text())
    return parse_libvmaf_log(data, what or vmaf_bin)
