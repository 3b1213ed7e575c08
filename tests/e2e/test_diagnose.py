"""`vmafkit diagnose` on real clips (issue 23, item 2): each injected mismatch is named in one line,
and a sound pair gets no finding at all.

The distorted versions are made here with ffmpeg from bikes (640x272, x264 crf 30, 60 frames each):
re-timed to 30 fps (`setpts` + `-r 30`, the same frames), stretched from limited to full range but
left tagged limited (`scale=in_range=tv:out_range=pc,setrange=tv`), scaled to 480x204, encoded as
10-bit, shifted 2 frames late, frozen for 21 frames (`freezeframes`), blacked out for 21 frames
(`drawbox`), interlaced (`interlace`). Each oracle is the injection itself: the range one's line
must come out with the slope of the limited-to-full conversion, 255/219."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import vmafkit
from vmafkit.media.ffmpeg import find_ffmpeg

from ..conftest import media

REF = "bikes_640x272_250f.mp4"
FRAMES = 60
VMAFKIT = [sys.executable, "-m", "vmafkit.cli"]

INJECTED = {
    "clean": ([], []),
    "frame_rate": (["-vf", "setpts=N/30/TB"], ["-r", "30"]),
    "range": (["-vf", "scale=in_range=tv:out_range=pc,setrange=tv"], []),
    "size": (["-vf", "scale=480:204"], []),
    "pix_fmt": ([], ["-pix_fmt", "yuv420p10le"]),
    "offset": (["-vf", "tpad=start=2:start_mode=clone"], []),
    "frozen": (["-filter_complex", "[0:v]split[a][b];[a][b]freezeframes=first=20:last=40:replace=20"], []),
    "black": (["-vf", "drawbox=c=black:t=fill:enable='between(n,20,40)'"], []),
    "interlaced": (["-vf", "interlace=scan=tff"], []),
}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("diagnose")
    out = {}
    for name, (filters, output) in INJECTED.items():
        path = tmp / f"{name}.mp4"
        argv = [find_ffmpeg().path, "-nostdin", "-loglevel", "error", "-y", "-i", media(REF), *filters]
        argv += ["-frames:v", str(FRAMES), *output, "-c:v", "libx264", "-crf", "30", "-preset", "veryfast"]
        subprocess.run([*map(str, argv), str(path)], check=True, capture_output=True)
        out[name] = path
    return out


def checks(result) -> list[str]:
    return [finding.check for finding in result.findings]


def test_a_sound_pair_gets_no_finding(made):
    result = vmafkit.diagnose(media(REF), made["clean"], max_frames=FRAMES)
    assert result.findings == [] and "levels" in result.checked and "drops" in result.checked


@pytest.mark.parametrize("injected", ["frame_rate", "range", "size", "pix_fmt", "offset", "frozen", "black"])
def test_each_injected_mismatch_is_named_and_nothing_else(made, injected):
    result = vmafkit.diagnose(media(REF), made[injected], max_frames=FRAMES)
    found = checks(result)
    if injected == "offset":  # two frames late: the last two reference frames have no partner
        assert found == ["offset", "frame_count"] or found == ["offset"]
    else:
        assert found == [injected], [f.line for f in result.findings]
    assert all("\n" not in finding.line for finding in result.findings)


def test_the_range_finding_measures_the_conversion_slope(made):
    (finding,) = vmafkit.diagnose(media(REF), made["range"], max_frames=FRAMES).findings
    assert finding.evidence["slope"] == pytest.approx(255 / 219, abs=0.01)
    assert finding.evidence["intercept"] == pytest.approx(-16 * 255 / 219, abs=2.0)
    assert "stretched to full range" in finding.line


def test_the_offset_finding_says_how_many_frames_late(made):
    result = vmafkit.diagnose(media(REF), made["offset"], max_frames=FRAMES)
    assert result.findings[0].evidence["offset"] == 2 and "2 frames late" in result.findings[0].line


def test_frozen_and_black_stretches_are_timed(made):
    """Frames 20-40 of 25 fps: 0.80 s to 1.64 s (freezedetect reports the freeze from the second
    identical frame)."""
    (frozen,) = vmafkit.diagnose(media(REF), made["frozen"], max_frames=FRAMES).findings
    (start, end), *_ = frozen.evidence["dis_spans"]
    assert start == pytest.approx(21 / 25, abs=0.05) and end == pytest.approx(41 / 25, abs=0.05)
    (black,) = vmafkit.diagnose(media(REF), made["black"], max_frames=FRAMES).findings
    (start, end), *_ = black.evidence["dis_spans"]
    assert start == pytest.approx(20 / 25, abs=0.05) and end == pytest.approx(41 / 25, abs=0.05)


def test_interlaced_content_is_named(made):
    assert "interlaced" in checks(vmafkit.diagnose(media(REF), made["interlaced"], max_frames=FRAMES))


def test_cli_prints_one_line_per_finding_and_json(made, tmp_path):
    proc = subprocess.run(
        [*VMAFKIT, "diagnose", media(REF), str(made["size"]), "--max-frames", str(FRAMES)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("size: the reference is 640x272")
    assert len(proc.stdout.strip().splitlines()) == 1
    clean = subprocess.run(
        [*VMAFKIT, "diagnose", media(REF), str(made["clean"]), "--max-frames", str(FRAMES)],
        capture_output=True,
        text=True,
    )
    assert clean.returncode == 0 and clean.stdout.startswith("no problem found")
    out = tmp_path / "d.json"
    subprocess.run(
        [*VMAFKIT, "diagnose", media(REF), str(made["pix_fmt"]), "--max-frames", str(FRAMES), "--json", str(out)],
        check=True,
        capture_output=True,
    )
    data = json.loads(out.read_text())
    assert [f["check"] for f in data["findings"]] == ["pix_fmt"] and data["findings"][0]["evidence"]["dis_bits"] == 10


@pytest.mark.parametrize("bad", ["missing.mp4", "dir"])
def test_bad_input_is_one_line_and_exit_2(tmp_path, bad):
    target = tmp_path / bad
    if bad == "dir":
        target.mkdir()
    proc = subprocess.run([*VMAFKIT, "diagnose", media(REF), str(target)], capture_output=True, text=True)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and str(target) in proc.stderr


def test_score_notes_a_frame_rate_mismatch(made):
    result = vmafkit.score(media(REF), made["frame_rate"], max_frames=FRAMES)
    assert any(note.startswith("frame rate: the reference runs at 25 fps") for note in result.meta["notes"])


def test_the_box_clip_and_its_encode_are_sound_too(tmp_path):
    """The slowest shared clip, whose container timestamps jitter (vfrdet finds it variable-rate on
    both sides): no finding."""
    encoded = tmp_path / "box.mp4"
    argv = [find_ffmpeg().path, "-nostdin", "-loglevel", "error", "-y", "-i", media("box_640x480_456f.mp4")]
    argv += ["-map", "0:v:0", "-fps_mode", "passthrough", "-frames:v", "90", "-c:v", "libx264", "-crf", "30"]
    subprocess.run([*map(str, argv), "-preset", "veryfast", str(encoded)], check=True, capture_output=True)
    result = vmafkit.diagnose(media("box_640x480_456f.mp4"), encoded, max_frames=90)
    assert result.findings == [], [f.line for f in result.findings]


def test_a_single_frame_is_diagnosed_without_an_alignment(made):
    result = vmafkit.diagnose(media(REF), made["clean"], max_frames=1)
    assert [f.check for f in result.findings] == ["alignment_unchecked"]
    assert "too few frames to align" in result.findings[0].line
