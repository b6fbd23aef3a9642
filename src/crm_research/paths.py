"""Where things live, resolved from the project root, whatever the working directory; and
atomic file writes (:func:`write_atomic`, :func:`atomic_path`)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
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


# ---------------------------------------------------------------------------------------
# atomic writes
# ---------------------------------------------------------------------------------------

def _read_umask() -> int:
    mask = os.umask(0o022)  # read it at import, before any thread starts writing files
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@contextmanager
def atomic_path(path: str | os.PathLike, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    Readers see the old file or the new one, never half of it. On any failure (a full disk,
    an interrupt) the temporary file is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : path-like
        The file to write; its folder must exist.
    mode : int, optional
        Permissions of the new file (default: as a plain ``open`` would give, ``0o666`` less
        the umask).

    Yields
    ------
    Path
        Write the whole content here (any writer that takes a path: pandas, nbformat, ...).
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, (0o666 & ~_UMASK) if mode is None else mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: str | os.PathLike, data: str | bytes, *, mode: int | None = None) -> Path:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` atomically (see :func:`atomic_path`)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path, mode) as tmp:
        tmp.write_bytes(raw)
    return Path(path)


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
