"""compare_bundles: side-by-side PLCC, bootstrap interval, agreement rule, differing inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from vmafkit.bundle import compare_bundles, make_bundle
from vmafkit.cli import main
from vmafkit.errors import InputError
from vmafkit.host.platform import PlatformInfo

from .kit_helpers import FOLDS, make_run_dir, rewrite_bundle

CPU = PlatformInfo("linux-x86_64-cpu", ("libx264",), {"faked": True})
CUDA = PlatformInfo("linux-x86_64-cuda", ("h264_nvenc",), {"faked": True})


def site(tmp_path, name, *, platform=CPU, extra_env=None, **kw):
    out = make_run_dir(tmp_path / name, junk=False, **kw)
    return make_bundle(
        out,
        tmp_path / f"{name}.tar.gz",
        platform_info=platform,
        extra_env=extra_env or {"ffmpeg_version": "9.0.2", "libvmaf_version": "3.0.0", "encoders": ["libx264"]},
    )


def test_same_bundle_agrees_exactly(tmp_path):
    a = site(tmp_path, "a")
    report = compare_bundles(a, a)
    assert report.diff == 0 and report.ci == [0.0, 0.0]
    assert report.same_verdict and report.within_tolerance and report.agree and report.paired
    assert report.differing_inputs == []
    assert [row["seed"] for row in report.per_seed] == [0, 1]
    assert len(report.per_fold) == 2 * len(FOLDS)
    assert all(row["diff"] == 0 for row in report.per_fold)


def test_constant_shift_gives_that_difference_and_a_tight_interval(tmp_path):
    a, b = site(tmp_path, "a"), site(tmp_path, "b", offset=0.001)
    report = compare_bundles(a, b, tolerance=0.005)
    assert report.diff == pytest.approx(0.001, abs=1e-9)
    assert report.ci[0] == pytest.approx(0.001, abs=1e-9) and report.ci[1] == pytest.approx(0.001, abs=1e-9)
    assert report.agree
    strict = compare_bundles(a, b, tolerance=0.0005)
    assert strict.same_verdict and not strict.within_tolerance and not strict.agree
    assert "not within" in strict.reason
    for row in report.per_seed:
        assert row["diff"] == pytest.approx(0.001, abs=1e-9)


def test_big_difference_disagrees_even_with_the_same_verdict(tmp_path):
    a, b = site(tmp_path, "a"), site(tmp_path, "b", offset=-0.02)
    report = compare_bundles(a, b)
    assert report.same_verdict and not report.agree
    assert report.ci[1] < -0.005
    assert report.mean_plcc_b == pytest.approx(report.mean_plcc_a - 0.02)


def test_different_verdicts_disagree(tmp_path):
    a, b = site(tmp_path, "a"), site(tmp_path, "b", verdict="HOLD")
    report = compare_bundles(a, b)
    assert not report.same_verdict and not report.agree
    assert report.within_tolerance  # same numbers, yet another verdict: not the same finding
    assert "verdicts differ" in report.reason


def test_interval_matches_a_direct_paired_bootstrap(tmp_path):
    plcc_a = {0: {"f1": 0.95, "f2": 0.97, "f3": 0.99, "f4": 0.96, "f5": 0.98}}
    plcc_b = {0: {"f1": 0.96, "f2": 0.965, "f3": 0.995, "f4": 0.95, "f5": 0.99}}
    a = site(tmp_path, "a", seeds=[0], plcc=plcc_a)
    b = site(tmp_path, "b", seeds=[0], plcc=plcc_b)
    report = compare_bundles(a, b, n_bootstrap=500, seed=3)
    folds = sorted(plcc_a[0])
    d = np.array([plcc_b[0][f] - plcc_a[0][f] for f in folds])
    rng = np.random.default_rng(3)
    idx = rng.integers(0, len(folds), size=(500, len(folds)))
    boots = d[idx].mean(axis=1)
    assert report.ci == pytest.approx([np.quantile(boots, 0.025), np.quantile(boots, 0.975)], abs=1e-12)
    assert report.ci[0] <= report.diff <= report.ci[1]
    assert d.min() <= report.ci[0] and report.ci[1] <= d.max()


def test_output_is_deterministic_and_seed_dependent(tmp_path):
    noisy = {s: {f: 0.95 + 0.01 * ((i * 7 + s * 3) % 5) for i, f in enumerate(FOLDS)} for s in (0, 1)}
    a = site(tmp_path, "a")
    b = site(tmp_path, "b", plcc=noisy)
    first = compare_bundles(a, b).to_dict()
    assert compare_bundles(a, b).to_dict() == first
    assert compare_bundles(a, b, seed=1).ci != first["ci"]


def test_unpaired_when_folds_differ(tmp_path):
    other = {s: {f"x{i}": 0.97 for i in range(3)} for s in (0, 1)}
    report = compare_bundles(site(tmp_path, "a"), site(tmp_path, "b", plcc=other))
    assert not report.paired
    assert "folds" in report.differing_inputs
    rows = [r for r in report.per_fold if r["held_out"] == "x0"]
    assert rows and all(r["a"] is None and r["b"] == 0.97 for r in rows)


def test_differing_inputs_are_named(tmp_path):
    a = site(tmp_path, "a")
    b = site(
        tmp_path,
        "b",
        platform=CUDA,
        corpus_text='{"src": "other"}\n',
        extra_env={"ffmpeg_version": "7.1", "libvmaf_version": "3.0.0", "encoders": ["h264_nvenc"]},
    )
    report = compare_bundles(a, b)
    assert {"corpus.sha256", "corpus.rows", "ffmpeg_version", "encoders", "platform"} <= set(report.differing_inputs)
    assert "libvmaf_version" not in report.differing_inputs
    row = next(r for r in report.inputs if r["name"] == "ffmpeg_version")
    assert (row["a"], row["b"]) == ("9.0.2", "7.1")


def test_tampered_bundle_is_refused(tmp_path):
    a = site(tmp_path, "a")
    bad = rewrite_bundle(a, tmp_path / "bad.tar.gz", lambda m: m.__setitem__("loso/loso_seed0.json", b"{}"))
    with pytest.raises(InputError, match="does not verify"):
        compare_bundles(a, bad)
    result = CliRunner().invoke(main, ["compare", str(a), str(bad)])
    assert result.exit_code == 2


@pytest.mark.parametrize("kwargs", [{"tolerance": -1}, {"confidence": 1.0}, {"n_bootstrap": 0}])
def test_bad_parameters(tmp_path, kwargs):
    a = site(tmp_path, "a")
    with pytest.raises(InputError):
        compare_bundles(a, a, **kwargs)


def test_cli_compare_table_and_json(tmp_path):
    a, b = site(tmp_path, "a"), site(tmp_path, "b", offset=-0.02)
    runner = CliRunner()
    same = runner.invoke(main, ["compare", str(a), str(a)])
    assert same.exit_code == 0 and "AGREE" in same.output and "per-fold PLCC" in same.output
    differ = runner.invoke(main, ["compare", str(a), str(b), "--json"])
    assert differ.exit_code == 1
    data = json.loads(differ.output)
    assert data["agree"] is False and data["diff"] == pytest.approx(-0.02)
    assert {"per_seed", "per_fold", "ci", "inputs", "differing_inputs"} <= set(data)
