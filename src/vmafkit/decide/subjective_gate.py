"""The gate for a model trained on subjective scores (thresholds: `thresholds.SUBJECTIVE_*`).

Judged on the ensemble's pooled held-out predictions (leave-one-content-out), never on a cached
number: `vmafkit subjective gate DIR` recomputes everything from `subjective_predictions.jsonl`.
It passes only when all of these hold:

* enough contents: n_contents >= SUBJECTIVE_MIN_CONTENTS (fewer: the intervals over contents and
  the conformal source level mean too little to promote anything);
* PLCC >= SUBJECTIVE_PLCC_MIN and SROCC >= SUBJECTIVE_SROCC_MIN;
* the lower end of the PLCC's bootstrap interval over contents >= SUBJECTIVE_PLCC_LOW_MIN;
* the interval holds: pooled held-out coverage of the ensemble's interval >= SUBJECTIVE_COVERAGE_MIN;
* the ensemble is not significantly worse than libvmaf's own recipe (nu-SVR) on the same folds, on
  any of PLCC, SROCC and RMSE (`VERSUS_NUSVR`): for each, not (the difference ensemble - nu-SVR
  points the worse way with paired-bootstrap p < SUBJECTIVE_SIGNIFICANCE). A better PLCC does not
  buy a worse ranking: an ensemble that only fits the scale better must still order the clips as
  well as the baseline does.

That last check can only fail if the paired test can reach its level. With B resamples its
p-value (`stats.ContentBootstrap.paired`: 2 min(#{d* <= 0} + 1, #{d* >= 0} + 1) / (B + 1)) moves in
steps of its one-sided tail, the smallest of which is 1/(B + 1): with `--bootstrap 10` no p-value
falls below 2/11 = 0.18, and "not significantly worse than nu-SVR" passes whatever the data. So a
resample count is refused (`check_resamples`, exit 2) unless that smallest tail is at most
SUBJECTIVE_SIGNIFICANCE / SUBJECTIVE_BOOTSTRAP_P_FACTOR, i.e. B + 1 >= FACTOR / SIGNIFICANCE
(199 at 0.05 and 10) — for the flag and for the settings a report was made with.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vmafkit import thresholds as T
from vmafkit.errors import InputError


def min_resamples() -> int:
    """The fewest bootstrap resamples B whose smallest attainable two-sided p-value, 2/(B + 1), is
    at most SUBJECTIVE_SIGNIFICANCE / SUBJECTIVE_BOOTSTRAP_P_FACTOR."""
    # the tolerance keeps 2 x 5 / 0.05 = 200 (not 200.00000000000003) from asking for one more
    return math.ceil(2 * T.SUBJECTIVE_BOOTSTRAP_P_FACTOR / T.SUBJECTIVE_SIGNIFICANCE - 1e-9) - 1


def check_resamples(n_boot: int, what: str = "--bootstrap") -> int:
    """`n_boot` when the paired test can reach SUBJECTIVE_SIGNIFICANCE with it (module doc); else
    one line naming `what` (the flag, or where the count came from) and the minimum."""
    least = min_resamples()
    if n_boot < least:
        raise InputError(
            f"{what} {n_boot} is too few resamples: the paired test against nu-SVR cannot give a p-value "
            f"below 2/(B+1) = {2 / (n_boot + 1):.3g}, so the gate could never find the ensemble significantly "
            f"worse at {T.SUBJECTIVE_SIGNIFICANCE}; the minimum is {least} (--bootstrap {least})"
        )
    return n_boot


@dataclass(frozen=True)
class StatisticsSettings:
    """How a subjective run's statistics are computed (checked when made): `n_boot` bootstrap
    resamples over contents drawn from `boot_seed`, every interval at confidence `level`, and the
    ensemble's conformal interval at `coverage`."""

    n_boot: int = T.SUBJECTIVE_BOOTSTRAP
    boot_seed: int = T.SUBJECTIVE_BOOTSTRAP_SEED
    level: float = T.SUBJECTIVE_CI_LEVEL
    coverage: float = T.DEFAULT_COVERAGE

    def __post_init__(self) -> None:
        check_statistics_settings(self.n_boot, self.boot_seed, self.level, self.coverage)


def check_statistics_settings(n_boot: object, boot_seed: object, level: object, coverage: object) -> None:
    """The bootstrap and interval settings of a subjective run, checked where they are chosen
    (`subjective train`) and where a recorded run is re-derived (`subjective gate`)."""
    from vmafkit.validation import BOOTSTRAP_RANGE

    low, high = BOOTSTRAP_RANGE
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or not low <= n_boot <= high:
        raise InputError(f"--bootstrap must be an integer in {low}..{high}, got {n_boot!r}")
    check_resamples(n_boot, "--bootstrap")
    if isinstance(boot_seed, bool) or not isinstance(boot_seed, int) or not 0 <= boot_seed < 2**63:
        raise InputError(f"the bootstrap seed must be an integer in 0..2**63-1, got {boot_seed!r}")
    for name, value in (("--coverage", coverage), ("confidence level", level)):
        if isinstance(value, bool) or not (isinstance(value, (int, float)) and math.isfinite(value) and 0 < value < 1):
            raise InputError(f"{name} must be in (0, 1), got {value!r}")


# The statistics compared with nu-SVR, and the sign of a difference (ensemble - nu-SVR) that is worse.
VERSUS_NUSVR = {"plcc": -1, "srocc": -1, "rmse": +1}


def worse_than_nusvr(versus_nusvr: Mapping[str, Any]) -> list[str]:
    """The statistics of `VERSUS_NUSVR` on which the ensemble is significantly worse."""
    worse = []
    for name, bad_sign in VERSUS_NUSVR.items():
        diff, p = versus_nusvr.get(f"{name}_diff"), versus_nusvr.get(f"{name}_p_value")
        if diff is not None and p is not None and diff * bad_sign > 0 and p < T.SUBJECTIVE_SIGNIFICANCE:
            worse.append(name)
    return worse


def evaluate(
    n_contents: int, ensemble: Mapping[str, Any], interval: Mapping[str, Any], versus_nusvr: Mapping[str, Any]
) -> dict[str, Any]:
    eps = T.GATE_EPS

    def at_least(value, threshold) -> bool:
        return value is not None and value >= threshold - eps

    plcc_low = (ensemble.get("plcc_ci") or [None, None])[0]
    worse = worse_than_nusvr(versus_nusvr)
    versus = {key: versus_nusvr.get(key) for name in VERSUS_NUSVR for key in (f"{name}_diff", f"{name}_p_value")}
    checks = {
        "contents": (
            n_contents >= T.SUBJECTIVE_MIN_CONTENTS,
            n_contents,
            T.SUBJECTIVE_MIN_CONTENTS,
            f"{n_contents} contents < {T.SUBJECTIVE_MIN_CONTENTS}: too few to promote",
        ),
        "plcc": (
            at_least(ensemble.get("plcc"), T.SUBJECTIVE_PLCC_MIN),
            ensemble.get("plcc"),
            T.SUBJECTIVE_PLCC_MIN,
            f"held-out PLCC {_f(ensemble.get('plcc'))} < {T.SUBJECTIVE_PLCC_MIN}",
        ),
        "srocc": (
            at_least(ensemble.get("srocc"), T.SUBJECTIVE_SROCC_MIN),
            ensemble.get("srocc"),
            T.SUBJECTIVE_SROCC_MIN,
            f"held-out SROCC {_f(ensemble.get('srocc'))} < {T.SUBJECTIVE_SROCC_MIN}",
        ),
        "plcc_ci_low": (
            at_least(plcc_low, T.SUBJECTIVE_PLCC_LOW_MIN),
            plcc_low,
            T.SUBJECTIVE_PLCC_LOW_MIN,
            f"PLCC interval's lower end {_f(plcc_low)} < {T.SUBJECTIVE_PLCC_LOW_MIN}",
        ),
        "coverage": (
            at_least(interval.get("held_out_coverage"), T.SUBJECTIVE_COVERAGE_MIN),
            interval.get("held_out_coverage"),
            T.SUBJECTIVE_COVERAGE_MIN,
            f"held-out interval coverage {_f(interval.get('held_out_coverage'))} < {T.SUBJECTIVE_COVERAGE_MIN}",
        ),
        "not_worse_than_nusvr": (
            not worse,
            versus,
            T.SUBJECTIVE_SIGNIFICANCE,
            "significantly worse than nu-SVR (libvmaf's recipe): "
            + "; ".join(
                f"{name.upper()} difference {_f(versus[f'{name}_diff'])}, "
                f"p = {_p(versus[f'{name}_p_value'])} < {T.SUBJECTIVE_SIGNIFICANCE}"
                for name in worse
            ),
        ),
    }
    report = {
        name: {"pass": bool(ok), "value": value, "threshold": threshold}
        for name, (ok, value, threshold, _) in checks.items()
    }
    failing = [line for ok, _, _, line in checks.values() if not ok]
    return {
        "passed": not failing,
        "checks": report,
        "failing_aspects": failing,
        "verdict": "PROMOTE" if not failing else "HOLD",
    }


def check_line(name: str, check: Mapping[str, Any]) -> str:
    """One printed line per check (`subjective gate`, `verdict`): numbers to 4 significant places,
    the nu-SVR comparison as its differences and p-values."""
    value = check.get("value")
    if isinstance(value, Mapping):
        shown = ", ".join(f"{k} {_g(v)}" for k, v in value.items())
    else:
        shown = _g(value)
    return f"{'ok  ' if check.get('pass') else 'FAIL'} {name}: {shown} (threshold {_g(check.get('threshold'))})"


def _g(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "n/a" if value is None else str(value)


def _f(value, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _p(value) -> str:
    """A p-value with enough digits that one just below the level never prints as the level
    (100/2001 = 0.04998 is "0.04998", not "0.050")."""
    return "n/a" if value is None else f"{value:.4g}"
