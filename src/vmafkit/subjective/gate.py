"""The gate for a model trained on subjective scores (thresholds: `thresholds.SUBJECTIVE_*`).

Judged on the ensemble's pooled held-out predictions (leave-one-content-out), never on a cached
number: `vmafkit subjective gate DIR` recomputes everything from `subjective_predictions.jsonl`.
It passes only when all of these hold:

* enough contents: n_contents >= SUBJECTIVE_MIN_CONTENTS (fewer: the intervals over contents and
  the conformal source level mean too little to promote anything);
* PLCC >= SUBJECTIVE_PLCC_MIN and SROCC >= SUBJECTIVE_SROCC_MIN;
* the lower end of the PLCC's bootstrap interval over contents >= SUBJECTIVE_PLCC_LOW_MIN;
* the interval holds: pooled held-out coverage of the ensemble's interval >= SUBJECTIVE_COVERAGE_MIN;
* the ensemble is not significantly worse than libvmaf's own recipe (nu-SVR) on the same folds:
  not (PLCC difference < 0 with paired-bootstrap p < SUBJECTIVE_SIGNIFICANCE).

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


def evaluate(
    n_contents: int, ensemble: Mapping[str, Any], interval: Mapping[str, Any], versus_nusvr: Mapping[str, Any]
) -> dict[str, Any]:
    eps = T.GATE_EPS

    def at_least(value, threshold) -> bool:
        return value is not None and value >= threshold - eps

    plcc_low = (ensemble.get("plcc_ci") or [None, None])[0]
    diff, p = versus_nusvr.get("plcc_diff"), versus_nusvr.get("plcc_p_value")
    worse = diff is not None and p is not None and diff < 0 and p < T.SUBJECTIVE_SIGNIFICANCE
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
            {"plcc_diff": diff, "p_value": p},
            T.SUBJECTIVE_SIGNIFICANCE,
            f"significantly worse than nu-SVR (libvmaf's recipe): PLCC difference {_f(diff)}, "
            f"p = {_f(p, 3)} < {T.SUBJECTIVE_SIGNIFICANCE}",
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


def _f(value, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"
