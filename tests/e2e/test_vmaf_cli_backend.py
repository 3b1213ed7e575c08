"""The standalone `vmaf` CLI back-end.

No libvmaf CLI is installed on the CI host, so the first test uses a FAKE `vmaf`: a script that
accepts the CLI's argv and scores the two y4m pipes with ffmpeg's libvmaf filter. It proves the
plumbing (argv, named pipes, no YUV on disk, log parsing) end to end. Where a real `vmaf` is on
PATH (or $VMAFKIT_VMAF_BIN), the second test checks that both back-ends give the same numbers.
"""

from __future__ import annotations

import os
import shutil
import sys
import textwrap

import pytest

from vmafkit.corpus.schema import CANONICAL6
from vmafkit.media import ffmpeg as ffm
from vmafkit.media.score import BACKEND_VMAF_CLI, score_pair
from vmafkit.media.vmafcli import vmaf_cli_argv

from ..conftest import media


@pytest.fixture
def fake_vmaf(tmp_path):
    ff = ffm.find_ffmpeg()
    script = tmp_path / "vmaf"
    script.write_text(
        textwrap.dedent(f"""\
        #!{sys.executable}
        # FAKE libvmaf CLI for tests: parses the real CLI's flags, scores with ffmpeg's libvmaf filter.
        import argparse, subprocess, sys
        p = argparse.ArgumentParser()
        p.add_argument("--reference"); p.add_argument("--distorted"); p.add_argument("--model")
        p.add_argument("--json", action="store_true"); p.add_argument("--output"); p.add_argument("--threads")
        p.add_argument("--quiet", action="store_true")
        a = p.parse_args()
        assert a.json and a.model == "version=vmaf_v0.6.1"
        graph = f"[0:v][1:v]libvmaf=log_fmt=json:log_path={{a.output}}:n_threads={{a.threads}}"
        sys.exit(subprocess.run([{ff.path!r}, "-loglevel", "error", "-i", a.distorted, "-i", a.reference,
                                 "-lavfi", graph, "-f", "null", "-"]).returncode)
        """)
    )
    script.chmod(0o755)
    return script


def test_argv_contract():
    argv = vmaf_cli_argv("/opt/vmaf", "/p/ref.y4m", "/p/dis.y4m", "/p/log.json", threads=2)
    assert argv[:5] == ["/opt/vmaf", "--reference", "/p/ref.y4m", "--distorted", "/p/dis.y4m"]
    assert argv[argv.index("--model") + 1] == "version=vmaf_v0.6.1" and "--json" in argv


@pytest.mark.fake
def test_fake_cli_through_named_pipes_matches_ffmpeg_backend(fake_vmaf):
    ref, dis = media("src01_hrc00_160x90_48f.yuv"), media("src01_hrc01_160x90_48f.yuv")
    via_cli = score_pair(ref, dis, max_frames=8, vmaf_bin=str(fake_vmaf))
    via_ffmpeg = score_pair(ref, dis, max_frames=8)
    assert via_cli.backend == BACKEND_VMAF_CLI and len(via_cli.frames) == 8
    for a, b in zip(via_cli.frames, via_ffmpeg.frames):
        for key in ("vmaf", *CANONICAL6):
            assert a[key] == pytest.approx(b[key], abs=1e-6)


def test_real_vmaf_cli_agrees_with_ffmpeg_when_installed():
    vmaf_bin = os.environ.get("VMAFKIT_VMAF_BIN") or shutil.which("vmaf")
    if not vmaf_bin:
        pytest.skip("no standalone libvmaf `vmaf` CLI on this host")
    ref, dis = media("src01_hrc00_160x90_48f.yuv"), media("src01_hrc01_160x90_48f.yuv")
    via_cli, via_ffmpeg = score_pair(ref, dis, vmaf_bin=vmaf_bin), score_pair(ref, dis)
    for key in ("vmaf", *CANONICAL6):
        assert via_cli.mean[key] == pytest.approx(via_ffmpeg.mean[key], abs=1e-4)
