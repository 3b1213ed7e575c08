"""Bundle a run's results, verify a bundle, extract it safely, compare two sites' bundles.

* `pack`: what goes into a bundle (the selection and staleness rules) and `make_bundle`;
* `reading`: `verify_bundle`, `safe_extract`, `load_bundle`, all through one hostile-tar-safe scan;
* `compare`: `compare_bundles`, the bootstrap comparison of two sites' verdicts;
* `layout`: the fixed names and default limits they share.
"""

from vmafkit.bundle.compare import CompareReport, compare_bundles
from vmafkit.bundle.layout import DEFAULT_MAX_MEMBERS, DEFAULT_MAX_TOTAL_BYTES, MANIFEST, SCHEMA_VERSION
from vmafkit.bundle.pack import Selection, environment_record, make_bundle, package_versions, select_files
from vmafkit.bundle.reading import (
    Limits,
    LoadedBundle,
    UnsafeBundle,
    VerifyReport,
    load_bundle,
    safe_extract,
    safe_member_name,
    verify_bundle,
)

__all__ = [
    "CompareReport",
    "DEFAULT_MAX_MEMBERS",
    "DEFAULT_MAX_TOTAL_BYTES",
    "Limits",
    "LoadedBundle",
    "MANIFEST",
    "SCHEMA_VERSION",
    "Selection",
    "UnsafeBundle",
    "VerifyReport",
    "compare_bundles",
    "environment_record",
    "load_bundle",
    "make_bundle",
    "package_versions",
    "safe_extract",
    "safe_member_name",
    "select_files",
    "verify_bundle",
]
