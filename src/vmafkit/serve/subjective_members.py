"""What an exported member of a subjective ensemble is: its registry kind, its one ONNX input, and
the input schema whose hash the registry and the sidecar carry.

The graph (`serve.subjective_export`) takes `features` [N, k] float32, the RAW feature columns
in the sidecar's `feature_order` (the columns the model was trained on, by name), and outputs
`score` [N] on the subjective scale: the features' standardisation, the model's fixed 20-wide
input layout (`models.ensemble_layout`) and the target's de-standardisation are inside the graph.
No codec block: the subjective ensemble never saw codec labels. A VMAF ensemble's input schema
(`train.features.input_schema`) is another one; the hash tells them apart, and two subjective
models with other feature columns (or another order) apart too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

MEMBER_KIND = "subjective_ensemble_member"
INPUT_NAME = "features"
OUTPUT_NAME = "score"
INPUT_SCHEMA_VERSION = "vmafkit-subjective-input-v1"


def input_schema(feature_order: Sequence[str]) -> dict[str, Any]:
    """The schema of the one ONNX input of a subjective member with these feature columns."""
    names = [str(n) for n in feature_order]
    return {
        "version": INPUT_SCHEMA_VERSION,
        "feature_order": names,
        "inputs": {INPUT_NAME: [None, len(names)]},
        "raw_features": True,
        "codec_block": None,
    }


def input_schema_hash(feature_order: Sequence[str]) -> str:
    text = json.dumps(input_schema(feature_order), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
