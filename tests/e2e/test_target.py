"""`vmafkit target` on real clips (issue 24): the answer is checked against encodes made here with
a hand-written ffmpeg command and scored by libvmaf through `vmafkit.score` (not through the
search's cells), the cache is reused across searches, the ensemble guides and predicts, and bad
input gets one line and exit 2. h264_nvenc is a real encoder name this machine (no GPU) cannot run:
its refusal is the real probe's, nothing is faked."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys

import pytest

import vmafkit
from vmafkit import layout
from vmafkit.errors import InputError
from vmafkit.media.ffmpeg import find_ffmpeg

from ..conftest import media
from ..factories import cli

TITLE = "carphone_176x144_120f.mp4"
VMAFKIT = [sys.executable, "-m", "vmafkit.cli"]


def independent_vmaf(tmp_path, cq: int, preset: str = "medium", title: str = TITLE) -> float:
    """libvmaf's mean VMAF of the whole title encoded by a hand-written x264 command at `cq`."""
    out = tmp_path / f"{title}_x264_cq{cq}.mkv"
    argv = [find_ffmpeg().path, "-nostdin", "-loglevel", "error", "-y", "-i", str(media(title))]
    argv += ["-map", "0:v:0", "-an", "-threads", "1", "-c:v", "libx264", "-crf", str(cq), "-preset", preset, str(out)]
    subprocess.run(argv, check=True, capture_output=True)
    return vmafkit.score(media(title), out).mean["vmaf"]


def test_a_full_search_ends_on_the_crossing_libvmaf_measures(tmp_path):
    result = cli(["target", media(TITLE), "--vmaf", "92", "--full", "--cq-range", "15..35",
                  "--cache", tmp_path / "cache", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    cq = found["cq"]
    assert found["encoded"] == "full title" and found["guarantee"].startswith("exact")
    at, above = independent_vmaf(tmp_path, cq), independent_vmaf(tmp_path, cq + 1)
    assert at >= 92.0 > above
    assert found["rungs"][0]["vmaf"] == pytest.approx(at, abs=1e-3)
    assert found["rungs"][0]["next_cq_vmaf"] == pytest.approx(above, abs=1e-3)
    assert found["probes"] == len(found["rungs"][0]["probes"]) <= 6 and found["encodes"] == found["probes"]


def test_a_sampled_search_verifies_reuses_its_cache_and_is_recorded_for_the_report(tmp_path):
    run = tmp_path / "run"
    first = vmafkit.target(media(TITLE), 90, samples=2, sample_seconds=1.0, verify=True, run_dir=run, progress=False)
    assert first.samples is not None and len(first.samples.ranges) == 2 and first.samples.frames == 60
    assert first.aim == 90.0 and first.guarantee.startswith("verified: the whole title's encode")
    best = first.best
    assert best is not None and best.verified is not None
    # --verify's full-title score is libvmaf's on a full encode at the answer
    assert best.verified["vmaf"] == pytest.approx(independent_vmaf(tmp_path, first.cq), abs=1e-3)
    assert first.encodes == first.probes + 1  # every probe and the verify were new
    # another target on the same title: the cqs already measured cost nothing
    second = vmafkit.target(media(TITLE), 91, samples=2, sample_seconds=1.0, run_dir=run, progress=False)
    assert second.aim == 91.5 and second.guarantee.startswith("measured, not proven: aiming 0.5 above")
    reused = {p.cq for p in first.rungs[0].search.probes} & {p.cq for p in second.rungs[0].search.probes}
    assert reused and second.encodes == second.probes - len(reused)
    sha = hashlib.sha256(media(TITLE).read_bytes()).hexdigest()[:8]
    assert sorted(p.name for p in layout.targets_dir(run).iterdir()) == [
        f"carphone_176x144_120f__{sha}__libx264__medium__vmaf90__mean__samples.json",
        f"carphone_176x144_120f__{sha}__libx264__medium__vmaf91__mean__samples.json",
    ]
    page = vmafkit.write_report(run).read_text()
    assert 'id="targets"' in page and "carphone_176x144_120f.mp4" in page and f"<td>{first.cq} (native)</td>" in page


def test_a_ladder_searches_each_rung_and_names_the_cheapest(tmp_path):
    found = vmafkit.target(media(TITLE), 85, samples=1, sample_seconds=1.0, resolutions=(144, 96),
                           cache=tmp_path / "cache", progress=False)  # fmt: skip
    assert [r.label for r in found.rungs] == ["native", "118x96"]
    for rung in found.rungs:
        if rung.cq is not None:  # each answer was measured to meet the aim, and its next cq to fail it
            assert rung.search.score_at(rung.cq) >= 85.5 > rung.search.score_at(rung.cq + 1)
    answered = [r for r in found.rungs if r.cq is not None]
    assert found.best is min(answered, key=lambda r: r.rates_kbps[r.cq]) and found.best.on_hull


def test_the_models_training_curves_guide_the_search_and_the_ensemble_speaks_only_in_its_domain(models, tmp_path):
    folder, _, corpus = models
    run = tmp_path
    (run / layout.CORPUS_DIR).mkdir()
    shutil.copy(corpus, layout.corpus_file(run))  # the run layout: corpus/ beside models/
    unguided = vmafkit.target(media(TITLE), 90, full=True, cache=tmp_path / "cache", progress=False)
    guided = vmafkit.target(media(TITLE), 90, full=True, models=folder, cache=tmp_path / "cache", progress=False)
    assert any(n.startswith("search guided by") for n in guided.notes) and guided.guide
    # the synthetic training curves never fall to 90 (no first guess): the probes jump from there
    assert guided.guide[0].startswith("after cq ") and "jump to cq" in guided.guide[0]
    assert guided.cq == unguided.cq  # the same measured crossing
    # the synthetic training corpus is nothing like carphone: the prediction is refused, not served
    assert guided.best.prediction is None and any("outside" in n for n in guided.notes)
    # models moved away from their corpus: not guided, and said so
    alone = tmp_path / "alone"
    shutil.copytree(folder, alone / "models")
    lone = vmafkit.target(
        media(TITLE), 90, full=True, models=alone / "models", cache=tmp_path / "cache", progress=False
    )
    assert lone.guide == [] and any(n.startswith("search not guided") for n in lone.notes)


@pytest.mark.parametrize(
    "args, says",
    [
        (["--vmaf", "101"], "'--vmaf': 101.0 is not in the range 0<=x<=100"),
        (["--vmaf", "-0.5"], "'--vmaf': -0.5 is not in the range 0<=x<=100"),
        (["--vmaf", "90", "--encoder", "libfoo"], "unknown encoder 'libfoo'"),
        (["--vmaf", "90", "--encoder", "h264_nvenc"], "encoder probe failed on this host"),
        (["--vmaf", "90", "--sample-seconds", "10"], "shorter than one sample of 10 s"),
        (["--vmaf", "90", "--cq-range", "40..20"], "must be increasing"),
        (["--vmaf", "90", "--pool", "mean,p5"], "one pool"),
        (["--vmaf", "90", "--full", "--samples", "3"], "--samples and --sample-seconds do not apply"),
        (["--vmaf", "nan"], "'--vmaf': nan is not a finite number"),
        (["--vmaf", "90", "--preset", "bogus"], "--preset bogus: libx264 refuses it"),
        (["--vmaf", "90", "--resolutions", "8"], "too small to encode"),
        (["--vmaf", "90", "--run", str(media(TITLE))], "--run names the same file as REF"),
        (["--vmaf", "90", "--json", "/dev/zero"], "is not a regular file"),
    ],
)
def test_bad_input_gets_one_line_and_exit_2(tmp_path, args, says):
    done = cli(["target", media(TITLE), *args, "--cache", tmp_path / "c"])  # in-process: the same command
    assert done.exit_code == 2, done.output
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vmafkit: error:") and says in lines[0], done.stderr
    assert done.stdout == ""
    assert not list((tmp_path / "c").rglob("*.jsonl"))  # refused before any encode


def test_a_refusal_is_one_line_from_the_real_command_too(tmp_path):
    done = subprocess.run([*VMAFKIT, "target", str(media(TITLE)), "--vmaf", "90", "--encoder", "h264_nvenc"],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2 and done.stdout == "" and done.stderr.count("\n") == 1
    assert done.stderr.startswith("vmafkit: error: encoder probe failed on this host (h264_nvenc:")


def test_a_missing_title_and_an_api_target_out_of_range_are_refused(tmp_path):
    with pytest.raises(InputError, match="target\\(\\): vmaf must be in \\[0, 100\\]"):
        vmafkit.target(media(TITLE), 100.5, progress=False)
    with pytest.raises(InputError, match="source not found"):
        vmafkit.target(tmp_path / "nope.mp4", 90, progress=False)


def test_verify_finishes_the_search_on_the_whole_title_when_the_samples_were_too_kind(tmp_path):
    """Bikes' two 1-s samples (frames 30-54 and 137-161, both starting at a cut) are easier to encode
    than the whole title: their answer for VMAF 90 is one cq too high there (measured when written).
    --verify must end on the whole title's own crossing, checked against hand-made encodes."""
    bikes = "bikes_640x272_250f.mp4"
    found = vmafkit.target(media(bikes), 90, samples=2, sample_seconds=1.0, verify=True, cq_range=(24, 36),
                           cache=tmp_path / "cache", progress=False)  # fmt: skip
    verified = found.best.verified
    assert verified["sampled_cq"] > verified["cq"] == found.cq and verified["meets"]
    at = independent_vmaf(tmp_path, found.cq, title=bikes)
    assert at >= 90.0 > independent_vmaf(tmp_path, found.cq + 1, title=bikes)
    assert verified["vmaf"] == pytest.approx(at, abs=1e-3) and found.to_json()["cq"] == found.cq


def test_an_unwritable_run_folder_is_refused_before_any_encode(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "targets").write_text("keep")  # a file where the searches go
    done = subprocess.run([*VMAFKIT, "target", str(media(TITLE)), "--vmaf", "90", "--run", str(run)],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "cannot write the run folder" in done.stderr
    assert (run / "targets").read_text() == "keep"
    assert not list((run / layout.CACHE_DIR).rglob("*.jsonl"))  # nothing was encoded


def test_the_report_skips_a_damaged_search_file(tmp_path):
    run = tmp_path / "run"
    found = vmafkit.target(media(TITLE), 90, full=True, cq_range=(20, 30), run_dir=run, progress=False)
    good = next(layout.targets_dir(run).iterdir())
    damaged = json.loads(good.read_text())
    damaged["rungs"] = "not a list"
    (layout.targets_dir(run) / "damaged.json").write_text(json.dumps(damaged))
    page = vmafkit.write_report(run).read_text()
    assert "1 search(es)" in page and f"<td>{found.cq} (native)</td>" in page
