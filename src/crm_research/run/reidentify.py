"""Map the pseudonyms of a run's table back to the client's ids, on the consultant's machine.

Pseudonyms are keyed hashes, so they are mapped back by hashing the candidate ids (the
client's data, or a list of ids) with the engagement's key and joining:
``crm-research reidentify reports/run-.../tables/churn_at_risk_list.csv --key acme``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from crm_research import paths, privacy
from crm_research.errors import CRMError
from crm_research.run import lifecycle
from crm_research.run.compare import REIDENTIFIED

__all__ = ["reidentify_table"]


def _run_of(table: Path) -> tuple[Path | None, dict | None]:
    """The run folder of ``<run>/tables/<name>.csv`` and its manifest (None, None elsewhere)."""
    folder = table.resolve().parent
    if folder.name != "tables":
        return None, None
    manifest = lifecycle.read_manifest(folder.parent)
    return (folder.parent, manifest) if manifest is not None else (None, None)


def _inside_run_folder(target: Path) -> Path | None:
    """The run folder (a folder with a ``manifest.json``) that ``target`` would be written into, if any."""
    for folder in target.resolve().parents:
        if (folder / "manifest.json").is_file():
            return folder
    return None


def _key(name: str | None, manifest: dict | None, table: Path) -> tuple[str, str]:
    recorded = (manifest or {}).get("pseudonym_key") or {}
    chosen = privacy.key_name(name or recorded.get("name"))
    env = os.environ.get(privacy.ENV_KEY)
    key = env if env else privacy.load_key(chosen, create=False)
    want = recorded.get("fingerprint")
    if want and privacy.fingerprint(key) != want:
        used = f"key {recorded.get('name')!r}" if recorded.get("name") else "another key"
        mine = f"${privacy.ENV_KEY}" if env else f"key {chosen!r}"
        raise CRMError(f"{table} was pseudonymised with {used} (fingerprint {want}), but {mine} has "
                       f"fingerprint {privacy.fingerprint(key)}: give --key with the run's key name")
    return chosen, key


def _data_folder(data_dir: Path | str | None, manifest: dict | None, table: Path) -> tuple[Path | str, Any]:
    as_of = None
    nbs = (manifest or {}).get("notebooks") or []
    own = next((n for n in nbs if table.stem in (n.get("tables") or [])), None)
    for n in ([own] if own else []) + nbs:
        params = n.get("parameters") or {}
        if as_of is None and params.get("as_of") is not None:
            as_of = params["as_of"]
    from crm_research.data import is_database_url

    if data_dir is not None:
        return (data_dir if is_database_url(data_dir) else Path(data_dir)), as_of
    folder = ((manifest or {}).get("data") or {}).get("folder")
    if not folder:
        folder = next(((n.get("parameters") or {}).get("data_dir") for n in ([own] if own else []) + nbs
                       if (n.get("parameters") or {}).get("data_dir")), None)
    if not folder:
        raise CRMError(f"{table}: no data folder to take the ids from: give --data DIR (the client's "
                       f"data) or --ids ids.csv")
    return (folder if is_database_url(folder) else Path(folder)), as_of  # a URL stays text


def _ids_from_data(folder: Path | str, as_of: Any, columns: list[str]) -> dict[str, pd.Series]:
    from crm_research import data
    from crm_research.notebook import mapping_file

    if not data.is_database_url(folder) and not folder.is_dir():
        raise CRMError(f"data folder {folder} does not exist on this machine: give --data DIR (the "
                       f"client's data) or --ids ids.csv")
    crm = data.load(folder, mapping=mapping_file(folder), as_of=as_of)
    out = {}
    for c in columns:
        parts = [f[c] for f in crm.tables().values() if f is not None and c in f.columns]
        if not parts:
            raise CRMError(f"the data in {folder} has no {c!r} column to map {c} back to")
        out[c] = pd.concat(parts, ignore_index=True).astype("string").dropna().drop_duplicates()
    return out


def _ids_from_file(path: Path, columns: list[str]) -> dict[str, pd.Series]:
    try:
        ids = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except FileNotFoundError:
        raise CRMError(f"ids file {path} does not exist") from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise CRMError(f"cannot read the ids file {path}: {str(exc).splitlines()[0]}") from None
    out = {}
    for c in columns:
        if c in ids.columns:
            out[c] = ids[c]
        elif len(ids.columns) == 1:
            out[c] = ids.iloc[:, 0]
        else:
            raise CRMError(f"ids file {path} has no column {c!r} (its columns: "
                           f"{', '.join(map(str, ids.columns[:8]))}): name the column {c}")
    return out


def reidentify_table(table: str | os.PathLike, key: str | None = None, ids: str | os.PathLike | None = None,
                     data_dir: str | os.PathLike | None = None,
                     out: str | os.PathLike | None = None) -> tuple[Path, dict[str, tuple[int, int]]]:
    """Write a copy of ``table`` whose pseudonymised id columns hold the client's ids again.

    Parameters
    ----------
    table : path-like
        A CSV written by a run (``<run>/tables/<name>.csv``) or a copy of one.
    key : str, optional
        The key's name (``acme``). Default: the name in the run's manifest, else
        ``$CRM_RESEARCH_KEY_NAME``, else ``default``. ``$CRM_RESEARCH_PSEUDO_KEY`` wins, as in
        a run. The key must exist (it is never created here); when the run's manifest records
        a fingerprint, the key must match it.
    ids : path-like, optional
        CSV of candidate ids: a column named like each pseudonymised column (``customer_id``),
        or a single column.
    data_dir : path-like, optional
        The client's data folder to take the candidate ids from (loaded as the run did, with
        its ``mapping.yaml`` and ``as_of``). Default: the run's recorded data folder.
    out : path-like, optional
        Output file (or folder), never inside a run folder. Default:
        ``<name>.reidentified.csv`` in the current folder.

    Returns
    -------
    (Path, dict)
        The file written and, per column, ``(pseudonyms matched, distinct pseudonyms)``.

    Raises
    ------
    CRMError
        One line: the table, key, ids or data cannot be used, or no pseudonym matched (nothing
        is written then).
    """
    table = Path(table)
    if not table.is_file():
        raise CRMError(f"{table} is not a file: give a table of a run, e.g. "
                       f"reports/run-.../tables/churn_at_risk_list.csv")
    try:
        frame = pd.read_csv(table, dtype=str, keep_default_na=False, na_values=[""])
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise CRMError(f"cannot read {table} as CSV: {str(exc).splitlines()[0]}") from None
    _, manifest = _run_of(table)
    name, secret = _key(key, manifest, table)
    columns = [c for c in frame.columns if c in privacy.ID_PREFIXES
               and frame[c].dropna().str.startswith(privacy.ID_PREFIXES[c]).any()]
    if not columns:
        raise CRMError(f"{table} has no pseudonymised id column (customer_id, order_id, ticket_id or "
                       f"session_id holding c_..., o_..., t_..., s_... values)")
    if ids is not None:
        candidates = _ids_from_file(Path(ids), columns)
        source = str(ids)
    else:
        given = None if data_dir is None else str(data_dir) if "://" in str(data_dir) else Path(data_dir)
        folder, as_of = _data_folder(given, manifest, table)
        candidates = _ids_from_data(folder, as_of, columns)
        source = str(folder)
    result, stats = privacy.reidentify(frame, candidates, secret, columns)
    if not any(found for found, _ in stats.values()):
        total = sum(n for _, n in stats.values())
        raise CRMError(f"none of the {total} pseudonyms of {table} matched an id of {source} with key "
                       f"{name!r}: check the key and the data (nothing written)")
    target = Path(out) if out is not None else Path.cwd() / f"{table.stem}{REIDENTIFIED}.csv"
    if target.is_dir():
        target = target / f"{table.stem}{REIDENTIFIED}.csv"
    inside = _inside_run_folder(target)
    if inside is not None:
        raise CRMError(f"{target} is inside the run folder {inside}: real ids never go into a report folder "
                       f"(it is sent to the client as it is); give --out outside it")
    if target.resolve() == table.resolve():
        raise CRMError(f"--out {target} is the table itself: give another file")
    if not target.parent.is_dir():
        raise CRMError(f"--out {target}: folder {target.parent} does not exist")
    with paths.atomic_path(target, mode=0o600) as tmp:  # real ids: owner only
        result.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")
    return target, stats
