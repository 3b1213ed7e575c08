"""A bundle's own fixed names and default limits, shared by packing, reading and comparing (the
names of the run folder it packs are `vmafkit.layout`'s)."""

from __future__ import annotations

from vmafkit.thresholds import PLCC_SPREAD_MAX

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
ENVIRONMENT = "environment.json"
RESERVED_TOP = (MANIFEST, ENVIRONMENT)

EXCLUDED_DIR_NAMES = frozenset({"cache", "cells", "cell_cache", "tmp", "__pycache__"})
EXCLUDED_SUFFIXES = (".tmp", ".lock", ".partial", ".pyc", ".tar.gz", ".tgz")

FIXED_MTIME = 315532800  # 1980-01-01T00:00:00Z, what zip tools accept too
FILE_MODE = 0o644

DEFAULT_MAX_TOTAL_BYTES = 8 << 30  # 8 GiB uncompressed
DEFAULT_MAX_MEMBERS = 100_000
CAPTURE_MAX_BYTES = 64 << 20  # JSON members compare/verify keep in memory

DEFAULT_TOLERANCE = PLCC_SPREAD_MAX  # two sites agree within the gate's own spread limit
DEFAULT_BOOTSTRAP = 2000
DEFAULT_CONFIDENCE = 0.95
DEFAULT_BOOTSTRAP_SEED = 0
