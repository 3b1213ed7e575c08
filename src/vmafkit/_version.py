"""The one place vmafkit's version is written: pyproject.toml reads it (setuptools dynamic), and
`vmafkit.__version__`, `vmafkit --version` and the kit name come from here."""

__version__ = "0.2.0"
