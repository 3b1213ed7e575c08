"""Serve: export ONNX, keep the model registry, predict with an interval."""
