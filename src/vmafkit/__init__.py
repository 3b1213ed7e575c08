"""vmafkit: libvmaf corpus -> LOSO deep ensemble -> gate -> ONNX -> predictions -> bundle."""

from vmafkit._version import __version__

__all__ = ["__version__"]
