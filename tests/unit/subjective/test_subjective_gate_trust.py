"""Issue 20, item 3 (subjective): the gate never reads its settings from the file it checks
unchecked, and refits its cheap baselines instead of trusting their recorded predictions. The
oracles: the report's own numbers as the run wrote them, scikit-learn's NuSVR fitted here on the
items file with libvmaf's published settings, and hand-chosen bad values."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tests.unit.subjective.test_subjective_run import CANON, make_table, opts
from vmafkit.errors import InputError
from vmafkit.io import dumps_json
from vmafkit.subjective.recheck import recheck
from vmafkit.subjective.run import train_from_table


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trust")
    table = make_table(tmp / "table.jsonl", n_contents=10, per=4, seed=3)
    train_from_table(table, CANON, "mos", "content", tmp / "out", opts(), scale="mos-1-5", id_column="clip")
    return tmp / "out"


@pytest.fixture
def copy(run_dir, tmp_path):
    dst = tmp_path / "out"
    shutil.copytree(run_dir, dst)
    return dst


def _edit_report(folder, change):
    path = folder / "subjective_report.json"
    report = json.loads(path.read_text())
    change(report)
    path.write_text(dumps_json(report))


def _edit_predictions(folder, change):
    path = folder / "subjective_predictions.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for row in rows:
        change(row)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_the_recorded_nusvr_is_what_libvmafs_recipe_gives_on_the_items(run_dir):
    """Independent oracle: sklearn's NuSVR, C 4 nu 0.9 gamma 0.04, features and score rescaled to
    [0, 1] by the training folds' min/max (libvmaf's clip_0to1), one fit per held-out content."""
    from sklearn.svm import NuSVR

    items = [json.loads(line) for line in (run_dir / "subjective_items.jsonl").read_text().splitlines()]
    recorded = {
        r["id"]: r["nusvr"]
        for r in map(json.loads, (run_dir / "subjective_predictions.jsonl").read_text().splitlines())
    }
    x = np.array([[r[f] for f in CANON] for r in items])
    y = np.array([r["score"] for r in items])
    contents = np.array([r["content"] for r in items])
    for content in np.unique(contents):
        train, test = contents != content, contents == content
        lo, hi = x[train].min(axis=0), x[train].max(axis=0)
        ylo, yhi = y[train].min(), y[train].max()
        model = NuSVR(C=4.0, nu=0.9, gamma=0.04).fit((x[train] - lo) / (hi - lo), (y[train] - ylo) / (yhi - ylo))
        expected = np.clip(model.predict((x[test] - lo) / (hi - lo)) * (yhi - ylo) + ylo, 1, 5)
        got = [recorded[i] for i in np.array([r["id"] for r in items])[test]]
        np.testing.assert_allclose(got, expected, atol=1e-6)
    recheck(run_dir)  # and the untouched run passes


@pytest.mark.parametrize("name, shift", [("nusvr", -0.5), ("linear", +0.3)])
def test_a_degraded_baseline_is_refused(copy, name, shift):
    _edit_predictions(copy, lambda row: row.__setitem__(name, min(5.0, max(1.0, row[name] + shift))))
    with pytest.raises(InputError, match=rf"{name} predictions differ from {name} refitted on subjective_items.jsonl"):
        recheck(copy)


def test_a_baseline_within_float_noise_passes(copy):
    _edit_predictions(copy, lambda row: row.__setitem__("nusvr", row["nusvr"] + 1e-9))
    recheck(copy)


@pytest.mark.parametrize(
    "where, value, message",
    [
        (("bootstrap", "resamples"), 1e9, "--bootstrap must be an integer in 1..100000, got 1000000000"),
        (("bootstrap", "resamples"), 10, "--bootstrap 10 is too few resamples"),
        (("bootstrap", "resamples"), "2000", "--bootstrap must be an integer"),
        (("bootstrap", "level"), 5, "confidence level must be in (0, 1), got 5"),
        (("bootstrap", "level"), 0.5, "bootstrap.level 0.5 is below 0.95"),
        (("bootstrap", "seed"), -1, "the bootstrap seed must be an integer in 0..2**63-1, got -1"),
        (("bootstrap", "seed"), 1.5, "the bootstrap seed must be an integer"),
        (("models", "ensemble", "interval", "coverage_target"), 1.5, "--coverage must be in (0, 1), got 1.5"),
    ],
)
def test_the_reports_settings_are_checked_like_the_runs_options(copy, where, value, message):
    def change(report):
        block = report
        for key in where[:-1]:
            block = block[key]
        block[where[-1]] = value

    _edit_report(copy, change)
    with pytest.raises(InputError) as err:
        recheck(copy)
    assert "subjective_report.json: the run's settings: " in str(err.value) or "below 0.95" in str(err.value)
    assert message in str(err.value)


def test_the_nusvr_baseline_trains_on_at_most_3000_evenly_spaced_rows():
    """Bounded cost (issue 20: 20,000 items took 433 s): a fold with 3,500 training rows is fitted
    on the 3,000 rows at round(linspace(0, 3499, 3000)), the documented rule, here fitted directly
    with scikit-learn's NuSVR and libvmaf's settings."""
    from sklearn.svm import NuSVR

    from vmafkit.subjective.models import fit_predict_nusvr

    rng = np.random.default_rng(5)
    x = rng.uniform(size=(3500, 3))
    y = x @ [1.0, 2.0, -1.0] + rng.normal(0, 0.05, 3500)
    test = rng.uniform(size=(7, 3))
    keep = np.linspace(0, 3499, 3000).round().astype(int)
    lo, hi = x[keep].min(axis=0), x[keep].max(axis=0)
    ylo, yhi = y[keep].min(), y[keep].max()
    model = NuSVR(C=4.0, nu=0.9, gamma=0.04).fit((x[keep] - lo) / (hi - lo), (y[keep] - ylo) / (yhi - ylo))
    expected = model.predict((test - lo) / (hi - lo)) * (yhi - ylo) + ylo
    np.testing.assert_allclose(fit_predict_nusvr(x, y, test), expected, atol=1e-9)
    small = fit_predict_nusvr(x[:50], y[:50], test)  # under the cap: every row
    lo, hi, ylo, yhi = x[:50].min(axis=0), x[:50].max(axis=0), y[:50].min(), y[:50].max()
    model = NuSVR(C=4.0, nu=0.9, gamma=0.04).fit((x[:50] - lo) / (hi - lo), (y[:50] - ylo) / (yhi - ylo))
    np.testing.assert_allclose(small, model.predict((test - lo) / (hi - lo)) * (yhi - ylo) + ylo, atol=1e-9)
