"""Shared fixtures: the real clips in ../shared/data/media (never copied into the repo), and the
made-up data of tests/factories.py.

A missing media folder or reference-values file FAILS the tests that need it (a CI host without
them must not pass by skipping every real-media test); set VMAFKIT_ALLOW_MISSING_MEDIA=1 to skip
those tests instead, e.g. on a laptop without the shared data. VMAFKIT_SHARED moves the folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from .factories import make_corpus, write_corpus

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VMAFKIT_SHARED", REPO.parent / "shared"))
MEDIA = SHARED / "data" / "media"
REFERENCE_VALUES = SHARED / "data" / "reference" / "vmaf_reference_values.json"
ALLOW_MISSING_ENV = "VMAFKIT_ALLOW_MISSING_MEDIA"


def missing_shared_data(what: str, path: Path) -> None:
    """Fail (or, when the opt-out is set, skip) the test that needs `path`, saying how to fix it."""
    if os.environ.get(ALLOW_MISSING_ENV) == "1":
        pytest.skip(f"{what} {path} is not available ({ALLOW_MISSING_ENV}=1)")
    pytest.fail(
        f"{what} {path} is missing: put the shared test data there (or point VMAFKIT_SHARED at it), "
        f"or set {ALLOW_MISSING_ENV}=1 to skip the tests that need it",
        pytrace=False,
    )


def media(name: str) -> Path:
    if not MEDIA.is_dir():
        missing_shared_data("test media folder", MEDIA)
    path = MEDIA / name
    if not path.is_file():
        pytest.skip(f"test clip {path} is not available")
    return path


@pytest.fixture
def make_ref_dir(tmp_path):
    """A reference folder holding symlinks to the named real clips (+ optional sources file)."""

    def make(*names: str, sources: dict | None = None, folder: str = "refs") -> Path:
        ref_dir = tmp_path / folder
        ref_dir.mkdir(exist_ok=True)
        for name in names:
            (ref_dir / name).symlink_to(media(name))
        if sources is not None:
            (ref_dir / "sources.json").write_text(json.dumps(sources))
        return ref_dir

    return make


@pytest.fixture(scope="session")
def reference_values() -> dict:
    if not REFERENCE_VALUES.is_file():
        missing_shared_data("published reference values file", REFERENCE_VALUES)
    return json.loads(REFERENCE_VALUES.read_text())


@pytest.fixture
def synthetic_corpus(tmp_path):
    """`synthetic_corpus(name="per_frame_canonical6.jsonl", rows=None, **shape)`: a corpus file in
    tmp_path, of `rows` or of `factories.synthetic_rows(**shape)`."""

    def make(name: str = "per_frame_canonical6.jsonl", rows: list[dict] | None = None, **shape) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_corpus(path, rows) if rows is not None else make_corpus(path, **shape)

    return make


@pytest.fixture(scope="session")
def pristine_models(tmp_path_factory):
    """One real export shared by every test that needs one (real training of 2 seeds on the
    learnable corpus, PROMOTE, export: smoke rows): (models folder, verdict path, corpus). Read
    only: `models` gives each test its own copy of the folder."""
    from .factories import export_models

    return export_models(tmp_path_factory.mktemp("pristine_models"), seeds=(0, 1))


@pytest.fixture(scope="session")
def pristine_three_seed_models(tmp_path_factory):
    """The shared export of three seeds (an ensemble of more than two members), read only:
    (models folder, verdict path, corpus); `three_seeds` gives each test its own copy."""
    from .factories import export_models

    return export_models(tmp_path_factory.mktemp("pristine_three_seed_models"), seeds=(0, 1, 2))


@pytest.fixture
def three_seeds(pristine_three_seed_models, tmp_path):
    from .factories import private_copy

    return private_copy(pristine_three_seed_models, tmp_path)


@pytest.fixture
def models(pristine_models, tmp_path):
    """A private copy of the shared export's models folder: (models, verdict path, corpus)."""
    from .factories import private_copy

    return private_copy(pristine_models, tmp_path)
