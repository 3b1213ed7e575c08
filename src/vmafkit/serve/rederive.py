"""What `registry flip` re-derives before it puts a models folder into production, rather than
trusting the registry's sha256 pins alone (whoever can edit the folder can update the pins too):
the calibration file and each sidecar's domain must equal what the verdict's pinned files give,
and each ONNX member must compute what the verdict's pinned full-corpus member computes.

Any difference is a RefusedError (exit 3) naming the file; the registry is left as it was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vmafkit import thresholds as T
from vmafkit.decide.derive import Evidence
from vmafkit.decide.verdict import json_differs
from vmafkit.errors import InputError, RefusedError
from vmafkit.io import read_json

# Keys export adds to the re-derived calibration (checked against the verdict on their own).
_CALIBRATION_STAMPS = ("id", "corpus_sha256", "verdict_sha256")


def check_against_evidence(
    registry_path: Path,
    rows: Sequence[Mapping[str, Any]],
    verdict: Mapping[str, Any],
    verdict_path: Path,
    evidence: Evidence,
) -> None:
    """RefusedError unless every row's calibration, sidecar domain and ONNX are what the verdict's
    pinned files give (rows: the registry rows about to be flipped, all with sidecars)."""
    from vmafkit.serve.onnx_graph import OUTPUT_NAME, ort_session
    from vmafkit.train.domain import training_domain
    from vmafkit.train.ensemble import predict_one
    from vmafkit.train.features import FeatureSpec, model_inputs
    from vmafkit.train.loso import load_refit
    from vmafkit.train.recipe import Recipe

    if evidence.fold_members is None:
        raise RefusedError(
            "the verdict's held-out predictions are not tied to trained members (the LOSO folder was not "
            "written by `vmafkit train`); re-run `vmafkit train` and `vmafkit verdict`; registry unchanged",
            path=verdict_path,
        )
    folder = registry_path.parent
    recipe = Recipe.from_json(verdict["recipe"])
    corpus = evidence.corpus
    expected_calibration = evidence.calibration["file"]
    domain = training_domain(corpus, label_free=recipe.label_free)
    refits = {int(item["seed"]): item for item in verdict["evidence"].get("refits") or []}
    spec = FeatureSpec.fit_corpus(corpus)
    x = model_inputs(corpus, np.arange(len(corpus)), spec)  # what the member sees: standardised + codec
    codec = np.ascontiguousarray(x[:, len(spec.feature_order) :])  # the ONNX graph standardises itself
    raw = np.ascontiguousarray(corpus.features, dtype=np.float32)
    checked_calibration: set[str] = set()
    for row in rows:
        name = row["id"]
        calib = row.get("calibration")
        if calib and calib not in checked_calibration:
            checked_calibration.add(calib)
            path = folder / calib
            data = read_json(path, what="calibration file")
            if not isinstance(data, dict):
                raise RefusedError("calibration file is not a JSON object; registry unchanged", path=path)
            for key, value in expected_calibration.items():
                if key not in _CALIBRATION_STAMPS and json_differs(data.get(key), value):
                    raise RefusedError(
                        f"calibration {key} is not what the verdict's pinned files give (edited after export); "
                        "re-export; registry unchanged",
                        path=path,
                    )
            if data.get("corpus_sha256") != verdict["corpus"]["sha256"]:
                raise RefusedError("calibration pins another corpus than the verdict; registry unchanged", path=path)
        sidecar_path = folder / row["sidecar"]
        sidecar = read_json(sidecar_path, what="sidecar")
        if json_differs(sidecar.get("domain"), domain):
            raise RefusedError(
                f"{name}: the sidecar's domain is not the verdict's corpus's (edited after export); re-export; "
                "registry unchanged",
                path=sidecar_path,
            )
        seed = int(sidecar["seed"])
        if seed not in refits:
            raise RefusedError(f"{name}: the verdict pins no full-corpus member of seed {seed}; registry unchanged")
        try:
            member = load_refit(
                verdict_path.parent / refits[seed]["file"], seed, spec, recipe, verdict["corpus"]["sha256"]
            )
        except InputError as exc:
            raise RefusedError(f"{name}: {exc}; registry unchanged") from None
        session = ort_session(folder / row["onnx"], threads=1)
        served = session.run([OUTPUT_NAME], {"features": raw, "codec_onehot": codec})[0].astype(np.float64)
        gap = float(np.max(np.abs(served - predict_one(member, x).astype(np.float64))))
        if not gap <= T.EXPORT_PARITY_TOL:
            raise RefusedError(
                f"{name}: the ONNX model differs from the verdict's full-corpus member of seed {seed} by up to "
                f"{gap:.3g} VMAF on the corpus (> {T.EXPORT_PARITY_TOL:g}): not the member it pins; registry unchanged",
                path=folder / row["onnx"],
            )
