"""Where things live, resolved from the project root, whatever the working directory."""

from __future__ import annotations

import os
from pathlib import Path

_MARKERS = ("pyproject.toml", "notebooks")


def project_root(start: str | os.PathLike | None = None) -> Path:
    """Return the project root folder.

    Resolution order: ``$CRM_RESEARCH_ROOT`` if set; the first parent of ``start`` (default:
    the current directory) holding both ``pyproject.toml`` and ``notebooks/``; the parent of
    this package's source tree (editable install). Falls back to the current directory.
    """
    env = os.environ.get("CRM_RESEARCH_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if all((folder / m).exists() for m in _MARKERS):
            return folder
    src_root = Path(__file__).resolve().parents[2]
    if all((src_root / m).exists() for m in _MARKERS):
        return src_root
    return here


def demo_data_dir(root: Path | None = None) -> Path:
    """Folder of the embedded demo company (``data/demo``)."""
    return (root or project_root()) / "data" / "demo"


def reports_dir(root: Path | None = None) -> Path:
    """Folder where run folders are written (``reports``)."""
    return (root or project_root()) / "reports"


def notebooks_dir(root: Path | None = None) -> Path:
    """Folder of the analysis notebooks (``notebooks``)."""
    return (root or project_root()) / "notebooks"
