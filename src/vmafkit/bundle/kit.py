"""`vmafkit dist`: the portable kit a collaborator unpacks and runs with two commands.

Layout of ``kit.tar.gz`` (deterministic tar: sorted names, fixed mtime/uid/gid, gzip mtime 0)::

    vmafkit-kit-<version>/
        vmafkit-<version>-py3-none-any.whl   built from the source checkout (pip wheel --no-deps)
        requirements.txt                     pyproject's dependencies, every one pinned with ==
        README.md                            the runbook (the project's README)
        START.md                             the two commands
        install-and-run.sh                   the same two commands as a script (mode 0755)
        SHA256SUMS                           sha256 of every other file, `sha256sum -c` format
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from vmafkit import layout
from vmafkit._version import __version__
from vmafkit.errors import InputError
from vmafkit.io import atomic_output

FIXED_MTIME = 315532800
TORCH_PIN = "torch==2.13.0"

START_MD = """# vmafkit kit {version}: start here

Two commands, from this folder (Python >= 3.10 with pip; no clone, no build):

```sh
python3 -m pip install {torch} -r requirements.txt vmafkit-*.whl
vmafkit run --ref-dir /path/to/reference/clips --out vmafkit-out
```

No clips of your own yet? `vmafkit run --demo --out vmafkit-demo` runs the whole pipeline on
synthetic clips. `./install-and-run.sh` does both steps (demo when given no arguments, otherwise
it passes its arguments to `vmafkit run`).

For a CUDA build of torch pick its index first, e.g.
`python3 -m pip install {torch} --index-url https://download.pytorch.org/whl/cu128`.

Send back `vmafkit-out/{bundle}` (or run `vmafkit bundle vmafkit-out --out {bundle}`);
the receiver checks it with `vmafkit verify {bundle}` and compares sites with
`vmafkit compare theirs.tar.gz ours.tar.gz`. README.md is the full runbook. `sha256sum -c SHA256SUMS`
checks this kit.
"""

INSTALL_SH = """#!/bin/sh
# vmafkit kit {version}: install the pinned environment, then run the pipeline.
# Usage: ./install-and-run.sh                      (demo run on synthetic clips)
#        ./install-and-run.sh --ref-dir DIR --out OUT [more `vmafkit run` flags]
set -eu
cd "$(dirname "$0")"
PYTHON="${{PYTHON:-python3}}"
"$PYTHON" -m pip install {torch} -r requirements.txt ./vmafkit-*.whl
if [ "$#" -eq 0 ]; then
    exec vmafkit run --demo --out vmafkit-demo
fi
exec vmafkit run "$@"
"""


def project_root(start: str | Path | None = None) -> Path:
    """The source checkout holding vmafkit's pyproject.toml (dist needs one to build the wheel)."""
    here = Path(start) if start is not None else Path(__file__).resolve().parents[3]  # src/vmafkit/bundle/kit.py
    pyproject = here / "pyproject.toml"
    if not pyproject.is_file() or not re.search(r'(?m)^name\s*=\s*"vmafkit"', pyproject.read_text("utf-8")):
        raise InputError(
            "is not a vmafkit source checkout (no pyproject.toml naming vmafkit); pass --project", path=here
        )
    return here


def _load_pyproject(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            from importlib import metadata

            return {"project": {"dependencies": metadata.requires("vmafkit") or []}}
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def pinned_requirements(pyproject: str | Path) -> list[str]:
    """pyproject's [project].dependencies, each required to be pinned with `==` (else exit 2)."""
    data = _load_pyproject(Path(pyproject))
    deps = [d for d in data.get("project", {}).get("dependencies", []) if "extra ==" not in d]
    unpinned = [d for d in deps if not re.match(r"^[A-Za-z0-9._\-\[\], ]+==[A-Za-z0-9.+!\-]+(\s*;.*)?$", d.strip())]
    if unpinned:
        raise InputError(f"dependencies not pinned with ==: {', '.join(unpinned)}", path=pyproject)
    return sorted(deps, key=lambda d: d.lower())


def build_wheel(project: Path, into: Path) -> Path:
    """pip wheel from a clean copy of the checkout (pyproject, README, LICENSE*, src/), so the build
    leaves nothing in the checkout and two builds never share a build/ folder."""
    stage = into / "src-copy"
    stage.mkdir()
    for name in ("pyproject.toml", "README.md", "setup.cfg", "MANIFEST.in"):
        if (project / name).is_file():
            shutil.copy2(project / name, stage / name)
    for lic in project.glob("LICENSE*"):
        if lic.is_file():
            shutil.copy2(lic, stage / lic.name)
    shutil.copytree(
        project / "src", stage / "src", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".*")
    )
    argv = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        str(stage),
        "--no-deps",
        "--no-build-isolation",
        "--quiet",
        "-w",
        str(into),
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    wheels = sorted(into.glob("vmafkit-*.whl"))
    if proc.returncode != 0 or len(wheels) != 1:
        tail = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise InputError(f"building the wheel failed: {tail}", path=project)
    return wheels[0]


def _info(name: str, size: int, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, FIXED_MTIME, mode
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def make_dist(out: str | Path, *, project: str | Path | None = None, wheel: str | Path | None = None) -> Path:
    """Write the kit tarball (atomically); `wheel` skips building (use a wheel built already)."""
    out = Path(out)
    if not out.name.endswith((".tar.gz", ".tgz")):
        raise InputError("kit name must end in .tar.gz", path=out)
    root = project_root(project)
    requirements = pinned_requirements(root / "pyproject.toml")
    readme = root / "README.md"
    readme_bytes = (
        readme.read_bytes()
        if readme.is_file()
        else (b"# vmafkit\n\nSee START.md. (The project README was missing when this kit was built.)\n")
    )
    torch = next((r for r in requirements if r.lower().startswith("torch==")), TORCH_PIN)
    with tempfile.TemporaryDirectory(prefix="vmafkit-dist-") as tmp:
        wheel_path = Path(wheel) if wheel is not None else build_wheel(root, Path(tmp))
        if not wheel_path.is_file():
            raise InputError("wheel not found", path=wheel_path)
        version = re.match(r"vmafkit-([^-]+)-", wheel_path.name)
        version_text = version.group(1) if version else __version__
        prefix = f"vmafkit-kit-{version_text}/"
        files: dict[str, tuple[bytes, int]] = {
            wheel_path.name: (wheel_path.read_bytes(), 0o644),
            "requirements.txt": (
                (
                    "# pinned from vmafkit's pyproject.toml; install with the wheel (see START.md)\n"
                    + "".join(r + "\n" for r in requirements)
                ).encode(),
                0o644,
            ),
            "README.md": (readme_bytes, 0o644),
            "START.md": (START_MD.format(version=version_text, torch=torch, bundle=layout.BUNDLE_FILE).encode(), 0o644),
            "install-and-run.sh": (INSTALL_SH.format(version=version_text, torch=torch).encode(), 0o755),
        }
        sums = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, (data, _) in sorted(files.items()))
        files["SHA256SUMS"] = (sums.encode(), 0o644)
        with atomic_output(out, "wb") as handle:
            with gzip.GzipFile(filename="", mode="wb", fileobj=handle, mtime=0) as gz:
                with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                    folder = tarfile.TarInfo(prefix.rstrip("/"))
                    folder.type, folder.mode, folder.mtime = tarfile.DIRTYPE, 0o755, FIXED_MTIME
                    folder.uname = folder.gname = ""
                    tar.addfile(folder)
                    for name in sorted(files):
                        data, mode = files[name]
                        tar.addfile(_info(prefix + name, len(data), mode), io.BytesIO(data))
    return out
