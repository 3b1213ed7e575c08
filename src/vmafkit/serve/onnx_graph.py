"""Serialising a torch module to ONNX and running ONNX with onnxruntime: what the VMAF export
(`export.py`), the subjective export (`subjective_export.py`) and predict share.

Every exported graph has one output, `score` [N], and its inputs' first axis N is dynamic."""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

from vmafkit import thresholds as T

OUTPUT_NAME = "score"


def graph_onnx_bytes(
    graph, example: tuple, input_names: Sequence[str], *, metadata: Mapping[str, str] | None = None
) -> bytes:
    """Serialise a torch module whose inputs `input_names` [N, ...] give `score` [N] to ONNX
    opset 17 (batch axis dynamic), with `metadata`; same weights -> same bytes."""
    import onnx
    import torch

    axes = {name: {0: "N"} for name in [*input_names, OUTPUT_NAME]}
    buffer = io.BytesIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        # The TorchScript-based exporter: fast (tens of ms), byte-deterministic, and a plain graph
        # (Sub, Div, Concat, Gemm, Erf-GELU). The dynamo exporter also works but takes seconds.
        # torch annotates `f` as a path, but this exporter writes to a binary file object too.
        torch.onnx.export(
            graph,
            example,
            buffer,  # type: ignore[arg-type]
            dynamo=False,
            opset_version=T.EXPORT_OPSET,
            input_names=list(input_names),
            output_names=[OUTPUT_NAME],
            dynamic_axes=axes,
            do_constant_folding=True,
        )
    proto = onnx.load_from_string(buffer.getvalue())
    proto.producer_name = "vmafkit"
    for key, value in sorted((metadata or {}).items()):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.checker.check_model(proto, full_check=True)
    return proto.SerializeToString(deterministic=True)


def ort_session(model: bytes | str | Path, threads: int = 1):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])
