"""vmafkit: libvmaf corpus -> LOSO deep ensemble -> gate -> ONNX -> predictions -> bundle."""

__version__ = "0.1.0"
