"""Subjective scores as the training target (issue 15): train against people, not only libvmaf.

One concept per module:

* `scale`    — what scale the subjective score is on (MOS 1-5, DMOS 0-100, ...), carried into
               every output so a consumer knows what a prediction means.
* `items`    — `Items`: one row per clip (features, target, content group), the common input of
               both entry points below.
* `readers`  — bounded, line-numbered readers of CSV files and JSON arrays.
* `dataset`  — the video dataset reader: JSON / JSON lines / CSV pairs {ref, dis, score, ...}.
* `table`    — the feature-table reader: CSV, Parquet, JSON lines, or a JSON object of columns.
* `scoring`  — libvmaf scoring of every pair (`media.score.score_pair`), cached per pair in a
               content-addressed cache (resumable), frames pooled per clip by their mean.
* `folds`    — leave-one-content-out folds and the data-size warnings.
* `models`   — the four models compared on the same folds: the FRRegressor deep ensemble, nu-SVR
               with libvmaf v0.6.1's recipe, a linear model, and libvmaf's stock score through a
               VQEG logistic fitted on the training folds.
* `stats`    — PLCC/SROCC/KROCC/RMSE with bootstrap intervals over contents, and the paired
               bootstrap test of two models.
* `interval` — the ensemble's per-source conformal interval and its held-out coverage.
* `gate`     — the subjective gate (thresholds in `vmafkit.thresholds`, SUBJECTIVE_* block).
* `evidence` — every clip's held-out predictions (subjective_predictions.jsonl) and the statistics
               derived from them; `recheck` re-derives them for `vmafkit subjective gate`.
* `loso_files` — the ensemble's held-out evidence in the LOSO file format (loso_seed{N}.*).
* `report`   — the table printed to stdout.
* `run`      — the whole `vmafkit subjective train` job: folds, models, statistics, files.
* `synthetic` — a small dataset from real clips with a SYNTHETIC score (tests, benchmarks).
"""

from __future__ import annotations

from vmafkit.subjective.items import Items
from vmafkit.subjective.run import SubjectiveResult, train_from_dataset, train_from_table

__all__ = ["Items", "SubjectiveResult", "train_from_dataset", "train_from_table"]
