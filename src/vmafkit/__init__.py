"""vmafkit: libvmaf corpus -> LOSO deep ensemble -> gate -> ONNX -> predictions -> bundle.

The stage functions (`vmafkit.score`, `build_corpus`, `train_loso`, `gate`, `write_verdict`,
`export`, `predict`, `run`, `make_bundle`, ...) live in `vmafkit.api` and are loaded on first use,
so that `import vmafkit` and `vmafkit --version` stay fast (no numpy, torch or onnxruntime).
"""

# ruff: noqa: F401 - the names below are imported for type checkers only; __all__ is read from _public

import importlib as _importlib
import typing as _typing

from vmafkit import _public
from vmafkit._version import __version__

if _typing.TYPE_CHECKING:
    from vmafkit.api import (
        BuildResult,
        DatasetScoring,
        Diagnosis,
        ExportResult,
        GateResult,
        Grid,
        InputError,
        PairScore,
        RawGeometry,
        RefusedError,
        RegistryChange,
        RunResult,
        Scoring,
        Training,
        TrainResult,
        VerdictResult,
        VmafkitError,
        build_corpus,
        compare,
        diagnose,
        dist,
        doctor,
        export,
        extract,
        extract_corpus,
        gate,
        import_corpus,
        load,
        make_bundle,
        make_demo_clips,
        merge,
        pack_corpus,
        platform,
        predict,
        rd,
        registry_flip,
        registry_rollback,
        registry_validate,
        rescore,
        run,
        score,
        subjective_gate,
        subjective_train,
        train_loso,
        verify,
        write_bundle,
        write_report,
        write_verdict,
    )

__all__ = ["__version__", *_public.API_NAMES]
_API_NAMES = frozenset(_public.API_NAMES)


def __getattr__(name: str) -> _typing.Any:
    """PEP 562: `vmafkit.NAME` for an API name imports `vmafkit.api` then, and caches the value."""
    if name in _API_NAMES:
        value = getattr(_importlib.import_module("vmafkit.api"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vmafkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*(k for k in globals() if not k.startswith("_") or k.startswith("__")), *_API_NAMES})
