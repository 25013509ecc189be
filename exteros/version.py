"""The one version of the exteros distribution: pyproject.toml's ``[project] version``.

Installed (``pip install -e .`` or a wheel), it comes from the package metadata.
In a source checkout that was never installed it is read from pyproject.toml
next to the packages, so there is never a second copy to keep in step.
"""

from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

DISTRIBUTION = "exteros"
UNKNOWN = "0+unknown"


def _from_pyproject(path: Path) -> str | None:
    try:
        project = tomllib.loads(path.read_text(encoding="utf-8")).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    if project.get("name") != DISTRIBUTION:
        return None
    value = project.get("version")
    return value if isinstance(value, str) else None


def package_version() -> str:
    """The installed distribution's version, else the source checkout's, else ``0+unknown``."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        pass
    return _from_pyproject(Path(__file__).resolve().parent.parent / "pyproject.toml") or UNKNOWN


__version__ = package_version()
