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
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vmafkit import thresholds as T


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
