"""The subjective gate refuses a bootstrap too small for its paired test to reach significance.

Oracle, by hand: the paired test's p-value is 2 min(#{d* <= 0} + 1, #{d* >= 0} + 1) / (B + 1), so it
is at least 2/(B + 1). The rule asks that smallest p-value to be at most a fifth of the
significance level 0.05: 2/(B + 1) <= 0.01, B + 1 >= 200, B >= 199. With B = 10 the p-value never
falls below 2/11 = 0.18, and "not significantly worse than nu-SVR" would pass whatever the data."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from vmafkit import thresholds as T
from vmafkit.cli.subjective import subjective
from vmafkit.errors import InputError
from vmafkit.subjective.models import subjective_recipe
from vmafkit.subjective.run import Options, check_options, train_from_table
from vmafkit.subjective.stats import ContentBootstrap
from vmafkit.subjective.synthetic import write_synthetic_table

MINIMUM = 199  # by hand (module doc), for SUBJECTIVE_SIGNIFICANCE 0.05 and a factor of 5
CANON = ["adm2", "vif_scale0", "vif_scale1", "vif_scale2", "vif_scale3", "motion2"]


def test_the_hand_computed_minimum_matches_the_thresholds_it_was_computed_for():
    assert (T.SUBJECTIVE_SIGNIFICANCE, T.SUBJECTIVE_BOOTSTRAP_P_FACTOR) == (0.05, 5)
    assert T.SUBJECTIVE_BOOTSTRAP >= MINIMUM  # the default is legal


def _opts(n_boot: int) -> Options:
    return Options(seeds=[0], recipe=subjective_recipe(epochs=2), n_boot=n_boot, workers=1)


def test_ten_resamples_are_refused_naming_the_option_and_the_minimum():
    with pytest.raises(InputError) as err:
        check_options(_opts(10))
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("--bootstrap 10 is too few resamples")
    assert f"the minimum is {MINIMUM} (--bootstrap {MINIMUM})" in message
    assert "2/(B+1) = 0.182" in message  # 2 / 11, the smallest p-value with 10 resamples


@pytest.mark.parametrize("n_boot, ok", [(MINIMUM - 1, False), (MINIMUM, True), (T.SUBJECTIVE_BOOTSTRAP, True)])
def test_the_boundary(n_boot, ok):
    if ok:
        assert check_options(_opts(n_boot)).n_boot == n_boot
        ContentBootstrap(np.array(["a", "b", "c"]), n_boot=n_boot)
    else:
        with pytest.raises(InputError, match=f"--bootstrap {n_boot} is too few.*the minimum is {MINIMUM}"):
            check_options(_opts(n_boot))
        with pytest.raises(InputError, match=f"the run's --bootstrap {n_boot} is too few"):
            ContentBootstrap(np.array(["a", "b", "c"]), n_boot=n_boot)


def test_cli_train_refuses_ten_with_exit_2_and_one_line(tmp_path):
    table = write_synthetic_table(tmp_path / "t.jsonl", 3, 3, 0)
    args = ["train", "--table", table, "--feature-columns", "adm2", "--score-column", "mos", "--group", "content"]
    args += ["--out", tmp_path / "o", "--epochs", "2", "--seeds", "0", "--bootstrap", "10"]
    res = CliRunner().invoke(subjective, [str(a) for a in args])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "--bootstrap 10 is too few" in lines[0] and f"minimum is {MINIMUM}" in lines[0]
    assert not (tmp_path / "o").exists()  # refused before anything was trained or written


def test_gate_refuses_a_report_made_with_too_few_resamples(tmp_path):
    """A run made before the rule (or a report edited to claim fewer resamples): `subjective gate`
    takes the count from the report's own settings, and refuses it the same way."""
    table = write_synthetic_table(tmp_path / "t.jsonl", 4, 3, 0)
    out = tmp_path / "out"
    train_from_table(table, CANON, "mos", "content", out, _opts(MINIMUM), id_column="clip")
    gate = CliRunner().invoke(subjective, ["gate", str(out)])
    assert gate.exit_code == 1, gate.output  # accepted: judged (HOLD: 4 contents are too few to promote)

    report_path = out / "subjective_report.json"
    report = json.loads(report_path.read_text())
    report["bootstrap"]["resamples"] = 10
    report_path.write_text(json.dumps(report))
    gate = CliRunner().invoke(subjective, ["gate", str(out)])
    assert gate.exit_code == 2
    lines = gate.output.strip().splitlines()
    assert len(lines) == 1
    assert "--bootstrap 10 is too few" in lines[0] and f"the minimum is {MINIMUM}" in lines[0]
