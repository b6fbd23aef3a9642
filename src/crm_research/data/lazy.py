"""The data as engine tables: read in place, validated by queries, never held in Python.

:func:`load_engine` is what :func:`crm_research.data.load` does with ``con=``. A folder whose
tables are Parquet files is read where it lies (``read_parquet`` on the engine): the mapping's
renames, constants and recodes, the casts to the data model and the ``as_of`` snapshot are
engine expressions (:func:`crm_research.data.engine_checks.canonical_tables`), the checks are
queries (:func:`~crm_research.data.engine_checks.engine_problems`: counts and at most five
examples come back), and so are the counts of the loader's notes. Only what the engine cannot
reproduce exactly is loaded into memory first, by the pandas loader, and then handed to the
engine (:func:`register`): CSV files (their text needs the pandas reading rules), ids generated
from row positions, orders derived from events, a type that needs the pandas conversion, a
dict of DataFrames or a database URL. :attr:`CRMData.in_memory` says why, in one sentence.

Both routes give the same tables (names, types, rows; tested on the synthetic company and its
partial cuts) and the same notes. Engine tables have no row order: every engine-aware helper
sorts what it needs (:mod:`crm_research.engine`); :func:`write_parquet` writes the events in
the loader's journey order.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

from crm_research.data.crmdata import CRMData
from crm_research.data.mapping import Mapping, read_mapping
from crm_research.data.model import TABLE_ORDER, TABLES
from crm_research.data.partial import CUSTOMERS_FROM_ORDERS
from crm_research.data.schemas import to_utc_instant, utc_day
from crm_research.data.staging import plural
from crm_research.errors import DataValidationError, Problem
from crm_research.paths import sha256_file as _sha256

__all__ = ["EngineFallback", "load_engine", "register", "write_parquet", "engine_route"]


class EngineFallback(Exception):
    """The engine cannot read this data exactly as the pandas loader does (the reason)."""


def _files(folder: Path, mapping: Mapping) -> dict[str, Path]:
    """The table files of ``folder`` as the folder reader finds them; EngineFallback when one is
    not Parquet or the folder is not one the engine reads in place."""
    from crm_research.data.read import _PARQUET, _default_files, path_table_file

    if mapping.orders_from_events is not None:
        raise EngineFallback("the orders are derived from the events (orders_from_events)")
    files: dict[str, Path] = {}
    for name in TABLE_ORDER:
        tm = mapping.table(name)
        if tm.table is not None:
            raise EngineFallback(f"the mapping names a database table for {name}")
        candidates = [tm.file] if tm.file else _default_files(name)
        found = [folder / c for c in candidates if (folder / c).is_file()]
        if len(found) != 1:
            if found or (TABLES[name].required and path_table_file(folder) is None):
                raise EngineFallback(f"the {name} table is missing or has several files")
            if TABLES[name].required:
                raise EngineFallback("the folder holds a path table and no orders")
            continue
        if not found[0].name.lower().endswith(_PARQUET):
            raise EngineFallback(f"{found[0].name} is not a Parquet file (CSV text is read by the "
                                 "pandas rules)")
        files[name] = found[0]
    return files


def engine_route(source: Any, mapping: Any = None) -> str | None:
    """Why ``source`` is loaded into memory before it reaches the engine; None when it is read in
    place. Only the files are looked at (names and kinds), not their columns."""
    if not isinstance(source, (str, os.PathLike)) or not Path(source).is_dir():
        return "the data is not a folder of files"
    try:
        _files(Path(source), read_mapping(mapping))
    except EngineFallback as why:
        return str(why)
    return None


def _digest(files: dict[str, Path], mapping: Mapping, mapping_file: Any, as_of: Any,
            company_start: Any) -> str:
    """SHA-256 of what the engine load reads: every table file's name and content digest, the
    mapping (its file's bytes, or its settings) and the two dates."""
    digest = hashlib.sha256(b"crm-research engine load 1\n")
    for name, path in files.items():
        digest.update(f"{name}:{path.name}:{_sha256(path)}\n".encode())
    if mapping_file is not None and isinstance(mapping_file, (str, os.PathLike)):
        digest.update(b"mapping:" + Path(mapping_file).read_bytes() + b"\n")
    else:
        digest.update(f"mapping:{mapping!r}\n".encode())
    digest.update(json.dumps([None if as_of is None else str(as_of),
                              None if company_start is None else str(company_start)]).encode())
    return digest.hexdigest()


def _count(expr) -> int:
    return int(expr.count().execute())


def _parquet_rows(path: Path) -> int:
    """Rows of a Parquet file, from its footer (no query: compiling one costs more than reading it)."""
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def _as_of_notes(steps: list, as_of: pd.Timestamp, timezone: str) -> list[str]:
    """The notes :func:`crm_research.data.partial.apply_as_of` writes, counted by one query (a
    count per distinct table expression: a table's rows after its own cut are the rows before
    the cut of what it points to)."""
    from crm_research.engine import counts

    stamp = as_of.isoformat()
    distinct: dict = {}
    for _name, what, _column, before, after in steps:
        for expr in (after,) if what == "censored" else (before, after):
            distinct.setdefault(expr.op(), expr)
    counted = dict(zip(distinct, counts(list(distinct.values())), strict=True))

    def _count(expr) -> int:
        return counted[expr.op()]

    notes: list[str] = []
    for name, what, column, before, after in steps:
        if what == "censored":
            n = _count(after)
            if n:
                notes.append(f"{name}.{column}: {plural(n, 'value')} on or after as_of "
                             "set to missing (not yet happened at as_of).")
            continue
        n = _count(before) - _count(after)
        if not n:
            continue
        if what == "own":
            if TABLES[name].column(column).kind == "date":
                when = f"the day of as_of ({utc_day(as_of, timezone).date()}) or later"
            else:
                when = f"on or after as_of ({stamp})"
            notes.append(f"{name}: {plural(n, 'row')} dated {when} ignored.")
        else:
            ref = next(fk.ref_table for fk in TABLES[name].foreign_keys if fk.column == column)
            notes.append(f"{name}: {plural(n, 'more row')} ignored: they point "
                         f"({column}) to {ref} rows dated on or after as_of.")
    return notes


def load_engine(source: str | os.PathLike, mapping: Any, *, as_of: Any, company_start: Any,
                con) -> CRMData:
    """Read, convert and validate a folder of Parquet files on ``con`` (see the module notes).

    Parameters
    ----------
    source : path-like
        The data folder.
    mapping : path-like, dict, Mapping or None
        As for :func:`crm_research.data.load`.
    as_of, company_start
        As for :func:`crm_research.data.load`.
    con : ibis.BaseBackend
        The engine (DuckDB or Spark) the tables are read on.

    Returns
    -------
    CRMData
        Engine tables (``ibis.Table``) on ``con``, model columns only, the same rows, types,
        notes and derived tables as the pandas loader gives; ``fingerprint()`` is a digest of
        the files, the mapping and the dates.

    Raises
    ------
    EngineFallback
        The data needs the pandas loader (the reason).
    DataValidationError
        The data breaks the model (examples name rows by key).
    """
    from crm_research.data.engine_checks import canonical_tables, engine_problems
    from crm_research.data.sources import _client_columns

    folder = Path(source)
    resolved = read_mapping(mapping)
    files = _files(folder, resolved)
    start = company_start if company_start is not None else resolved.company_start
    start = None if start is None else to_utc_instant(start, resolved.timezone)
    notes: list[str] = []
    problems: list[Problem] = []
    relations: dict[str, Any] = {}
    for name, path in files.items():
        raw = con.read_parquet(str(path), table_name=f"crm_raw_{name}_{uuid.uuid4().hex[:8]}")
        if _parquet_rows(path) == 0:
            if TABLES[name].required:
                problems.append(Problem(name, None, "empty_table", f"{path.name} has no rows", (),
                                        f"export the {name} rows"))
            else:
                notes.append(f"{name}: {path.name} has no rows; treated as absent.")
            continue
        columns = _client_columns(name, list(raw.columns), resolved)
        relations[name] = raw.select(*columns) if columns else None
    if problems:
        raise DataValidationError(problems, str(folder))
    for name in relations:
        tm = resolved.table(name)
        notes += [f"{name}.{col}: set to {value!r} on every row (mapping constant)."
                  for col, value in tm.constants.items()]
        if name == "orders" and relations[name] is not None and "status" not in {
                tm.columns.get(c, c) for c in relations[name].columns} | set(tm.constants):
            notes.append("orders.status: no column; every order counted as completed.")
    steps: list = []
    tables, fallback, derived_names = canonical_tables(relations, resolved, as_of=as_of, steps=steps)
    if fallback:
        name, why = next(iter(fallback.items()))
        raise EngineFallback(f"{name}: {why}")
    if "customers" not in tables and as_of is None and "orders" in tables:
        orders = tables["orders"]
        known = orders.filter(orders.customer_id.notnull() & orders.ordered_at.notnull())
        tables = {"customers": known.group_by("customer_id").aggregate(signup_at=known.ordered_at.min()),
                  **tables}
        derived_names = {*derived_names, "customers"}
    bound = None if as_of is None else to_utc_instant(as_of, resolved.timezone)
    if bound is not None:
        notes += _as_of_notes(steps, bound, resolved.timezone)
    counts: dict[str, int] = {}
    found = engine_problems(tables, company_start=start, timezone=resolved.timezone,
                            derived=derived_names, counts=counts)
    for name in list(tables):
        rows = counts[name] if name in counts else _count(tables[name])
        if rows:
            continue
        if TABLES[name].required:
            found.append(Problem(name, None, "empty_table", f"{files[name].name} has no rows before as_of",
                                 (), "check as_of and the dates of the orders"))
        else:
            notes.append(f"{name}: no rows before as_of; treated as absent.")
        del tables[name]
    if found:
        found.sort(key=lambda p: TABLE_ORDER.index(p.table))
        raise DataValidationError(found, str(folder))
    derived = {"customers": CUSTOMERS_FROM_ORDERS} if "customers" in derived_names and "customers" in tables else {}
    # the tables in the model's column order, as the pandas loader gives them
    ordered = {name: t.select(*[c for c in TABLES[name].column_names if c in t.columns])
               for name, t in tables.items()}
    return CRMData(**ordered, source=str(folder), derived=derived, notes=tuple(notes),
                   digest=_digest(files, resolved, mapping, as_of, company_start))


def register(crm: CRMData, con, *, spill_dir: str | os.PathLike | None = None, why: str | None = None) -> CRMData:
    """Hand tables loaded in memory to the engine: the same data as engine tables on ``con``.

    Parameters
    ----------
    crm : CRMData
        DataFrames, as :func:`crm_research.data.load` returns them.
    con : ibis.BaseBackend
        DuckDB: the frames are copied into temporary tables (the DataFrames can then be freed;
        DuckDB spills them past its memory limit). Spark: each frame is written as a Parquet
        file in ``spill_dir`` and read from there.
    spill_dir : path-like, optional
        Spark: where the Parquet files go (default: a new folder in the system's temporary
        folder).
    why : str, optional
        Why the data was loaded into memory (:attr:`CRMData.in_memory`).

    Returns
    -------
    CRMData
        Same notes, derived tables and fingerprint; engine tables.
    """
    if crm.is_lazy:
        return crm
    tables = {}
    for name, frame in crm.tables().items():
        label = f"crm_{name}_{uuid.uuid4().hex[:8]}"
        if getattr(con, "name", "") == "duckdb":
            tables[name] = con.create_table(label, obj=frame, temp=True)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            if spill_dir is None:
                import tempfile

                spill_dir = tempfile.mkdtemp(prefix="crm-research-engine-")
            Path(spill_dir).mkdir(parents=True, exist_ok=True)
            path = Path(spill_dir) / f"{label}.parquet"
            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
            tables[name] = con.read_parquet(str(path), table_name=label)
    return dataclasses.replace(crm, **tables, digest=crm.fingerprint(), in_memory=why)


def write_parquet(crm: CRMData, folder: str | os.PathLike) -> dict[str, Path]:
    """Write every table of engine-loaded ``crm`` as ``<folder>/<table>.parquet`` on its engine.

    The events are written in the loader's journey order (contact, time, lifecycle order of
    simultaneous events, then the other columns; :func:`crm_research.data.load.journey_order`),
    so a reader that loads them into memory gets them as the pandas loader gives them.

    Returns
    -------
    dict of str to Path
    """
    import ibis

    from crm_research.data.model import lifecycle_events

    out: dict[str, Path] = {}
    for name, t in crm.tables().items():
        path = Path(folder) / f"{name}.parquet"
        if name == "events":
            known = lifecycle_events()
            rank = t.event.cases(*[(e, i) for i, e in enumerate(known)], else_=len(known))
            rest = [c for c in t.columns if c not in ("customer_id", "occurred_at", "event")]
            t = t.order_by([t.customer_id, t.occurred_at, rank, t.event,
                            *[ibis.asc(c, nulls_first=False) for c in rest]])
        t.to_parquet(str(path))
        out[name] = path
    return out
