"""`vmafkit dist`: the kit tarball's contents, and (slow) that its wheel installs and runs."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from vmafkit import __version__
from vmafkit.bundle.kit import make_dist, pinned_requirements, project_root
from vmafkit.cli import main
from vmafkit.errors import InputError

PREFIX = f"vmafkit-kit-{__version__}/"


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist") / "kit.tar.gz"
    result = CliRunner().invoke(main, ["dist", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_kit_contents(kit):
    files = members(kit)
    wheel = f"{PREFIX}vmafkit-{__version__}-py3-none-any.whl"
    assert set(files) == {
        wheel,
        *(PREFIX + n for n in ("requirements.txt", "README.md", "START.md", "install-and-run.sh", "SHA256SUMS")),
    }
    reqs = [line for line in files[PREFIX + "requirements.txt"].decode().splitlines() if not line.startswith("#")]
    assert reqs == pinned_requirements(project_root() / "pyproject.toml")
    assert all("==" in r for r in reqs) and any(r.startswith("torch==2.13.0") for r in reqs)
    start = files[PREFIX + "START.md"].decode()
    assert "pip install torch==2.13.0 -r requirements.txt vmafkit-*.whl" in start
    assert "vmafkit run --ref-dir" in start and "--demo" in start
    script = files[PREFIX + "install-and-run.sh"].decode()
    assert script.startswith("#!/bin/sh") and "vmafkit run" in script
    for line in files[PREFIX + "SHA256SUMS"].decode().splitlines():
        digest, name = line.split("  ")
        assert hashlib.sha256(files[PREFIX + name]).hexdigest() == digest
    with zipfile.ZipFile(__import__("io").BytesIO(files[wheel])) as whl:
        names = whl.namelist()
    assert "vmafkit/cli/kit.py" in names and "vmafkit/bundle/compare.py" in names
    assert "vmafkit/schemas/bundle_manifest.schema.json" in names
    with tarfile.open(kit, "r:gz") as tar:
        modes = {m.name: m.mode for m in tar.getmembers()}
    assert modes[PREFIX + "install-and-run.sh"] == 0o755


def test_unpinned_dependency_is_refused(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "vmafkit"\ndependencies = ["numpy>=2", "rich==15.0.0"]\n'
    )
    with pytest.raises(InputError, match="not pinned"):
        pinned_requirements(tmp_path / "pyproject.toml")
    with pytest.raises(InputError, match="not pinned"):
        make_dist(tmp_path / "kit.tar.gz", project=tmp_path)
    assert not (tmp_path / "kit.tar.gz").exists()


def test_not_a_checkout_is_refused(tmp_path):
    with pytest.raises(InputError, match="source checkout"):
        project_root(tmp_path)


def test_kit_with_given_wheel_is_deterministic(kit, tmp_path):
    wheel = tmp_path / f"vmafkit-{__version__}-py3-none-any.whl"
    wheel.write_bytes(members(kit)[f"{PREFIX}{wheel.name}"])
    a = make_dist(tmp_path / "a.tar.gz", wheel=wheel).read_bytes()
    b = make_dist(tmp_path / "b.tar.gz", wheel=wheel).read_bytes()
    assert a == b


def _outer_site_dirs() -> list[str]:
    """The running interpreter's own package folders (a venv's, or the system Python's): where the
    pinned dependencies are installed, whichever way the tests were set up."""
    import site
    import sysconfig

    dirs = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()]
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    return [d for d in dict.fromkeys(dirs) if Path(d).is_dir()]


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_runs(kit, tmp_path):
    """The two commands on a 'fresh machine': a new venv, the wheel from the kit, `vmafkit --version`.

    The pinned dependencies come from the interpreter running the tests (nothing is downloaded):
    a `.pth` file in the new venv lists its package folders. Not `--system-site-packages`, which
    inherits the *base* interpreter's, not those of a venv the tests run in. Plain path lines, so
    the folders' own `.pth` files (the checkout's editable install) are not run: `import vmafkit`
    finds the kit's wheel in the venv, which comes first on sys.path."""
    with tarfile.open(kit, "r:gz") as tar:  # extraction filters: Python 3.11.4+ (Debian 12 has 3.11.2)
        tar.extractall(tmp_path, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    folder = tmp_path / PREFIX.rstrip("/")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    # A fresh machine has no PYTHONPATH: one pointing at a checkout's src/ would shadow the wheel.
    fresh = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    inner_site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
        env=fresh,
    ).stdout.strip()
    (Path(inner_site) / "_outer_interpreter_packages.pth").write_text("\n".join(_outer_site_dirs()) + "\n")
    wheel = next(folder.glob("vmafkit-*.whl"))
    subprocess.run(
        [str(py), "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", str(wheel)], check=True, env=fresh
    )
    where = subprocess.run(
        [str(py), "-c", "import vmafkit; print(vmafkit.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=fresh,
    ).stdout.strip()
    assert where.startswith(str(venv)), where  # the kit's wheel, not the checkout
    version = subprocess.run(
        [str(venv / "bin" / "vmafkit"), "--version"], capture_output=True, text=True, cwd=tmp_path, env=fresh
    )
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"vmafkit, version {__version__}"
    # the wheel's dependencies really import there (rich, click, numpy, torch, onnxruntime, ...)
    deps = subprocess.run(
        [str(py), "-c", "import rich, click, numpy, torch, onnxruntime, jsonschema, numba"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=fresh,
    )
    assert deps.returncode == 0, deps.stderr
    checks = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True, text=True)
    assert checks.returncode == 0, checks.stdout + checks.stderr


def test_kit_extracts_safely_but_is_not_a_results_bundle(kit, tmp_path):
    from vmafkit.bundle import safe_extract

    dest = safe_extract(kit, tmp_path / "kit", verify=False)
    assert (dest / PREFIX / "START.md").is_file()
    result = CliRunner().invoke(main, ["verify", str(kit)])
    assert result.exit_code == 2 and "no manifest.json" in result.output
