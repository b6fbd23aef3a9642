"""The run's copy of the validated data: loaded and checked once, read by every notebook.

Before any kernel starts, the runner loads and validates each (data folder, ``as_of``) of the run
(:mod:`~crm_research.run.precheck`). :func:`write` keeps what that load gave, without the personal
columns, as one Parquet file per table in a private folder outside the run folder; each kernel
gets the folder in ``$CRM_RESEARCH_SNAPSHOT`` (:data:`ENV_SNAPSHOT`) and
:meth:`crm_research.notebook.RunContext.load_data` reads the tables with :func:`read` instead of
loading and validating them again (1.5-2 s of CPU per notebook on the demo company, pandera's
import included).

A snapshot is used only when it matches exactly: the same data folder (resolved path), the same
content of every file in it (SHA-256, checked by each kernel when it reads), the same mapping
file (path and content), the same ``as_of`` (as given); and when its own files are unchanged
(SHA-256 of each Parquet file) and read back with the dtypes written. Anything else, and always
for a database source or when the personal columns are asked for (``keep_pii=True``), the
notebook loads the data itself, as a notebook opened in JupyterLab does.

Privacy: the snapshot holds what the data folder holds minus the personal columns (names,
e-mail addresses, phone numbers): no pseudonym, no key. It lives in the system's temporary
folder (``crm-research-snapshot-*``, readable by its owner only), never in the client's run
folder, and the runner removes it when the run ends, whether it ends well, fails or is stopped
(Ctrl-C, SIGTERM); one left by a runner that was killed (``kill -9``) is removed by the next run
(:func:`remove_stale`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

from crm_research.paths import sha256_file as _sha256

__all__ = ["ENV_SNAPSHOT", "PREFIX", "create", "remove", "remove_stale", "write", "read", "source_key"]

ENV_SNAPSHOT = "CRM_RESEARCH_SNAPSHOT"
"""Environment variable through which the runner gives each kernel the run's snapshot folder."""

PREFIX = "crm-research-snapshot-"
"""Name prefix of a run's snapshot folder in the system's temporary folder."""

_OWNER = "owner.json"
_INDEX = "snapshot.json"
_FORMAT = 1


def _folder_digest(folder: Path) -> str:
    """SHA-256 over the name, size and content digest of every file directly in ``folder``."""
    digest = hashlib.sha256()
    for f in sorted((p for p in folder.iterdir() if p.is_file()), key=lambda p: p.name):
        digest.update(f"{f.name}\0{f.stat().st_size}\0{_sha256(f)}\n".encode())
    return digest.hexdigest()


def source_key(folder: str | os.PathLike, mapping: str | os.PathLike | None, as_of: Any) -> dict[str, Any] | None:
    """What a snapshot must match: data folder, its files, the mapping file and ``as_of``.

    Parameters
    ----------
    folder : path-like
        The data folder (a database URL has no key: returns None).
    mapping : path-like or None
        The mapping file applied on load.
    as_of : date-like or None
        The analysis date as the notebooks get it (compared as text).

    Returns
    -------
    dict or None
        None when the source is not a folder.
    """
    from crm_research.data.sources import is_database_url

    if is_database_url(folder):
        return None
    path = Path(folder).resolve()
    if not path.is_dir():
        return None
    mapping_path = None if mapping is None else Path(mapping).resolve()
    return {
        "format": _FORMAT,
        "folder": str(path),
        "files": _folder_digest(path),
        "mapping": None if mapping_path is None else str(mapping_path),
        "mapping_sha256": None if mapping_path is None else _sha256(mapping_path),
        "as_of": None if as_of is None else str(as_of),
    }


def _slot(key: dict[str, Any]) -> str:
    """The subfolder of one (folder, mapping, as_of): its digest without the files' digest, so a
    changed file finds the old snapshot and rejects it."""
    ident = {k: key[k] for k in ("format", "folder", "mapping", "as_of")}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


def create(parent: str | os.PathLike | None = None) -> Path:
    """Make a run's snapshot folder (owner-only) and record the runner's process in it.

    Parameters
    ----------
    parent : path-like, optional
        Where to make it; default the system's temporary folder.

    Returns
    -------
    Path
    """
    root = Path(tempfile.mkdtemp(prefix=PREFIX, dir=parent))  # mode 0700
    (root / _OWNER).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}) + "\n",
                               encoding="utf-8")
    return root


def remove(root: str | os.PathLike | None) -> None:
    """Delete a run's snapshot folder and everything in it (nothing when None or gone)."""
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)


def remove_stale(parent: str | os.PathLike | None = None) -> list[Path]:
    """Delete the snapshot folders whose runner is gone (same host, no such process).

    Parameters
    ----------
    parent : path-like, optional
        Where run snapshot folders are made; default the system's temporary folder.

    Returns
    -------
    list of Path
        The folders removed.
    """
    from crm_research.run.lifecycle import pid_alive

    removed = []
    base = Path(parent) if parent is not None else Path(tempfile.gettempdir())
    try:
        candidates = [p for p in base.glob(PREFIX + "*") if p.is_dir() and p.stat().st_uid == os.getuid()]
    except OSError:
        return removed
    for folder in candidates:
        try:
            owner = json.loads((folder / _OWNER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # being made right now, or not ours to judge
        if owner.get("host") == socket.gethostname() and not pid_alive(owner.get("pid", -1)):
            remove(folder)
            removed.append(folder)
    return removed


def write(crm, key: dict[str, Any], root: str | os.PathLike) -> Path:
    """Keep ``crm`` (as loaded and validated for ``key``) for the notebooks, without personal columns.

    Parameters
    ----------
    crm : crm_research.data.CRMData
        The data as :func:`crm_research.data.load` returned it (personal columns included: they
        are dropped here, after its fingerprint is taken).
    key : dict
        :func:`source_key` of the load.
    root : path-like
        The run's snapshot folder (:func:`create`).

    Returns
    -------
    Path
        The snapshot's own subfolder.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    slot = Path(root) / _slot(key)
    tmp = Path(tempfile.mkdtemp(prefix=".writing-", dir=root))
    try:
        safe = crm.without_pii()
        tables = {}
        if safe.is_lazy:  # written by the engine, streamed: the events in the loader's order
            from crm_research.data.lazy import write_parquet

            for name, file in write_parquet(safe, tmp).items():
                tables[name] = {"file": file.name, "sha256": _sha256(file), "dtypes": None}
        else:
            for name, frame in safe.tables().items():
                file = tmp / f"{name}.parquet"
                pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), file)
                tables[name] = {"file": file.name, "sha256": _sha256(file),
                                "dtypes": [[str(c), str(t)] for c, t in frame.dtypes.items()]}
        index = {"key": key, "form": "engine" if safe.is_lazy else "pandas",
                 "fingerprint": crm.fingerprint(), "source": str(crm.source),
                 "derived": dict(crm.derived), "notes": list(crm.notes), "in_memory": crm.in_memory,
                 "tables": tables}
        (tmp / _INDEX).write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
        shutil.rmtree(slot, ignore_errors=True)
        os.replace(tmp, slot)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return slot


def read(folder: str | os.PathLike, mapping: str | os.PathLike | None, as_of: Any,
         root: str | os.PathLike | None, con: Any = None) -> tuple[Any, str] | None:
    """The run's data for (``folder``, ``mapping``, ``as_of``), if a matching snapshot is kept.

    Parameters
    ----------
    folder, mapping, as_of
        As the notebook would load the data (see :func:`source_key`).
    root : path-like or None
        The run's snapshot folder (``$CRM_RESEARCH_SNAPSHOT``); None: nothing kept.
    con : ibis.BaseBackend, optional
        Read the tables as engine tables on this backend (a snapshot the runner wrote from
        engine tables); without it, DataFrames (a snapshot written from DataFrames).

    Returns
    -------
    (CRMData, str) or None
        The data without personal columns and the fingerprint of the data as loaded (personal
        columns included, as :meth:`CRMData.fingerprint` gives it); None when no snapshot
        matches, so the caller loads the data itself.
    """
    if not root:
        return None
    try:
        key = source_key(folder, mapping, as_of)
    except OSError:  # a file that cannot be read (or vanished): load the data as without a runner
        return None
    if key is None:
        return None
    slot = Path(root) / _slot(key)
    try:
        index = json.loads((slot / _INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(index, dict) or index.get("key") != key:
        return None  # another folder, mapping or as_of, or a data file changed since the check
    if index.get("form", "pandas") != ("pandas" if con is None else "engine"):
        return None  # written for the other kind of notebook: the notebook loads the data itself
    import pyarrow.parquet as pq

    from crm_research.data.crmdata import CRMData

    frames = {}
    try:
        for name, info in index["tables"].items():
            file = slot / info["file"]
            if _sha256(file) != info["sha256"]:
                return None
            if con is not None:
                frames[name] = con.read_parquet(str(file), table_name=f"crm_{name}_{_slot(key)[:8]}")
                continue
            frame = pq.read_table(file).to_pandas()
            if [[str(c), str(t)] for c, t in frame.dtypes.items()] != info["dtypes"]:
                return None
            frames[name] = frame
        crm = CRMData(**frames, source=index["source"], derived=dict(index["derived"]), notes=tuple(index["notes"]),
                      digest=str(index["fingerprint"]) if con is not None else None,
                      in_memory=index.get("in_memory") if con is not None else None)
    except (OSError, KeyError, TypeError, ValueError):
        return None
    return crm, str(index["fingerprint"])
