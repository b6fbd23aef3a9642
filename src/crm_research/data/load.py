"""Load a client export (a folder of files, or a dict of frames) and validate it.

:func:`load` reads every table, applies the client mapping, converts every column to its
canonical dtype, derives what can be derived (customers from orders, orders from purchase
events), drops the rows dated on or after ``as_of``, runs every check of the data model and
either returns a :class:`CRMData` or raises one
:class:`~crm_research.errors.DataValidationError` listing every problem found. The checks are
listed in :data:`crm_research.data.schemas.CHECK_NAMES`.

Only ``orders`` (``customer_id``, ``ordered_at``, ``amount``) is required; every other table
and every column outside a table's ``core`` may be absent. What the loader did about it is
in :attr:`CRMData.notes` and :attr:`CRMData.derived`.

Row numbers in problem examples are ``line N`` for CSV files (the header is line 1, so the
first row is line 2; exact unless a quoted value spans several lines; without a header the
first row is line 1) and ``row N`` (0-based position) for Parquet files and frames.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from crm_research.data import problems as problem
from crm_research.data.coerce import coerce_column
from crm_research.data.crmdata import CRMData
from crm_research.data.mapping import Mapping, TableMapping, read_mapping
from crm_research.data.model import TABLE_ORDER, TABLES, Column, lifecycle_events
from crm_research.data.partial import apply_as_of, derive_customers, orders_from_events
from crm_research.data.read import NA_TEXT, drop_empty, path_table_file, read_folder, read_frames
from crm_research.data.schemas import table_schema, to_utc_instant
from crm_research.data.sources import DataSourceError, is_database_url, parse_source, read_database
from crm_research.data.staging import Raw, Staged, examples, plural, row_ids, sample, show
from crm_research.errors import DataValidationError, Problem

if TYPE_CHECKING:
    import pandera.pandas as pa

__all__ = ["DataSourceError", "NA_TEXT", "journey_order", "load"]



# ---------------------------------------------------------------------------------------
# renaming and conversion
# ---------------------------------------------------------------------------------------


def _rename(raw: Raw, tm: TableMapping, problems: list[Problem]) -> pd.DataFrame:
    frame = raw.frame.rename(columns=tm.columns)
    if frame.columns.duplicated().any():
        for col in frame.columns[frame.columns.duplicated()].unique():
            sources = [c for c in raw.frame.columns if tm.columns.get(c, c) == col]
            problems.append(Problem(
                raw.name, str(col), "duplicate_column",
                f"{raw.origin} has several columns named {col!r} after the mapping: "
                f"{', '.join(sample(s) for s in sources)}", (),
                "drop one of them from the export, or remove its rename from the mapping"))
        frame = frame.loc[:, ~frame.columns.duplicated()]
    return frame


def _absent_sources(raw: Raw, frame: pd.DataFrame, tm: TableMapping,
                    problems: list[Problem]) -> None:
    """A rename whose client column is not in the file is a problem (unless reported as a
    missing core column)."""
    core = TABLES[raw.name].core
    for client, canonical in tm.columns.items():
        if client in raw.frame.columns or (canonical in core and canonical not in frame.columns):
            continue
        message = (f"the mapping renames {client!r} to {canonical!r}, but {raw.origin} has no "
                   f"column {client!r}")
        if canonical in frame.columns:
            message += f" (it has a column {canonical!r})"
            hint = f"remove the rename of {client!r} from tables.{raw.name}.columns"
        else:
            hint = (f"fix the client column name in tables.{raw.name}.columns; the file's "
                    f"columns: {', '.join(map(str, raw.frame.columns[:12]))}")
        problems.append(Problem(raw.name, canonical, "missing_column", message, (), hint))


def _add_columns(raw: Raw, frame: pd.DataFrame, tm: TableMapping, problems: list[Problem],
                 notes: list[str]) -> pd.DataFrame:
    """Constants and generated ids of the mapping, ids generated for an absent optional id,
    and the default order status."""
    table = TABLES[raw.name]
    added: dict[str, Any] = {}
    for col, value in tm.constants.items():
        if col in frame.columns:
            problems.append(Problem(
                raw.name, col, "duplicate_column",
                f"{raw.origin} has a column {col!r} and the mapping sets it to the constant "
                f"{value!r}", (), f"remove {col} from tables.{raw.name}.constants, or the "
                "column from the file"))
        else:
            added[col] = pd.Series([value] * len(frame), index=frame.index, dtype=object)
            notes.append(f"{raw.name}.{col}: set to {value!r} on every row (mapping constant).")
    for col in table.column_names:
        if not table.column(col).generable or col in added:
            continue
        asked = col in tm.generate_ids
        if asked and col in frame.columns:
            problems.append(Problem(
                raw.name, col, "duplicate_column",
                f"{raw.origin} has a column {col!r} and the mapping generates it (generate_ids)",
                (), f"remove {col} from tables.{raw.name}.generate_ids, or the column from "
                "the file"))
        elif col not in frame.columns and (asked or col not in table.core):
            added[col] = row_ids(np.arange(len(frame)), len(frame))
            notes.append(f"{raw.name}.{col}: {'' if asked else 'no column; '}ids generated from "
                         "the row positions (r000000 is the first row).")
    if raw.name == "orders" and "status" not in frame.columns and "status" not in added:
        added["status"] = pd.Series("completed", index=frame.index, dtype="string")
        notes.append("orders.status: no column; every order counted as completed.")
    if not added:
        return frame
    return frame.assign(**added)


def _guess_separator(raw: Raw, frame: pd.DataFrame) -> str | None:
    """The separator of a CSV file read as one column, when its header shows one."""
    if not raw.csv or len(frame.columns) != 1:
        return None
    header = str(frame.columns[0])
    for separator in (";", "\t", "|", ","):
        if separator in header:
            return repr(separator)
    if re.search(r"\S\s+\S", header):
        return "whitespace"
    return None


def _missing_columns(raw: Raw, frame: pd.DataFrame, tm: TableMapping,
                     problems: list[Problem]) -> None:
    table = TABLES[raw.name]
    strangers = [str(c) for c in frame.columns if c not in table.column_names]
    for name in table.core:
        if name in frame.columns:
            continue
        col = table.column(name)
        client = tm.source_of(col.name)
        if client is not None:
            message = (f"required column {col.name!r} is missing: the mapping renames {client!r} "
                       f"to it, but {raw.origin} has no column {client!r}")
        else:
            message = f"required column {col.name!r} is missing from {raw.origin}"
        hint = f"add the column ({col.kind}: {col.doc})"
        if col.generable:
            hint += f", or generate it with `tables: {{{raw.name}: {{generate_ids: [{col.name}]}}}}`"
        separator = _guess_separator(raw, frame)
        if separator is not None:
            hint = (f"{raw.origin} reads as a single column: it looks {separator}-separated; "
                    f"set `tables: {{{raw.name}: {{sep: {separator}}}}}` in the mapping")
        elif strangers:
            hint += (f"; columns not in the model: {', '.join(sample(s) for s in strangers[:8])} - "
                     f"rename one with `tables: {{{raw.name}: {{columns: {{<client name>: "
                     f"{col.name}}}}}}}` in the mapping")
        problems.append(Problem(raw.name, col.name, "missing_column", message, (), hint))


def _convert(raw: Raw, mapping: Mapping, problems: list[Problem], notes: list[str]) -> Staged:
    table = TABLES[raw.name]
    tm = mapping.table(raw.name)
    frame = _rename(raw, tm, problems)
    _absent_sources(raw, frame, tm, problems)
    frame = _add_columns(raw, frame, tm, problems, notes)
    _missing_columns(raw, frame, tm, problems)
    recodes = dict(tm.values)
    if raw.name == "events" and mapping.events:
        recodes["event"] = {**mapping.events, **recodes.get("event", {})}
    columns: dict[Any, pd.Series] = {}
    failed: dict[str, np.ndarray] = {}
    originals: dict[str, pd.Series] = {}
    present = []
    for col in table.columns:
        if col.name not in frame.columns:
            continue
        present.append(col.name)
        fmt = mapping.date_format.get((raw.name, col.name))
        values, bad = coerce_column(frame[col.name], col, timezone=mapping.timezone,
                                    date_format=fmt, decimal=tm.decimal)
        if bad.any():
            failed[col.name], originals[col.name] = bad, frame[col.name]
        recode = recodes.get(col.name)
        if recode:
            values = values.map(recode).astype("string").where(values.isin(list(recode)), values)
        columns[col.name] = values
    for col in frame.columns:
        if col not in columns:
            columns[col] = frame[col]
    canonical = pd.DataFrame(columns, index=pd.RangeIndex(len(frame)))
    return Staged(raw, canonical, present, failed, originals)


def _conversion_problem(t: Staged, col: Column, failed: np.ndarray, original: pd.Series,
                        fmt: str | None) -> Problem:
    positions = np.flatnonzero(failed)
    found = examples(t, positions, lambda p: show(original.iat[p]))
    n = len(positions)
    name = t.name
    if col.kind in ("datetime", "date"):
        expected = (f"the format {fmt!r}" if fmt else
                    "ISO 8601 (YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS, optional offset such as +02:00 or Z)")
        return Problem(
            name, col.name, "unparseable_date",
            f"{plural(n, 'value')} {'is' if n == 1 else 'are'} not a date in {expected}",
            found,
            f"fix the values, or give their format with `date_format: {{{name}.{col.name}: "
            "'%d/%m/%Y'}` in the mapping (dates must lie between 1677 and 2262)")
    what = "a whole number" if col.kind == "int" else "a number"
    return Problem(
        name, col.name, "wrong_type",
        f"{plural(n, 'value')} {'is' if n == 1 else 'are'} not {what}", found,
        f"write {col.name} as plain numbers ({col.unit or col.kind}); for a decimal comma set "
        f"`tables: {{{name}: {{decimal: ','}}}}` in the mapping")


def _finish_conversion(t: Staged, mapping: Mapping, problems: list[Problem]) -> None:
    """Report the cells that did not convert (in the rows kept) and narrow whole-number columns."""
    table = TABLES[t.name]
    for name in t.present:
        col = table.column(name)
        bad = t.failed.get(name)
        if bad is not None and bad.any():
            fmt = mapping.date_format.get((t.name, name))
            problems.append(_conversion_problem(t, col, bad, t.originals[name], fmt))
        elif col.kind == "int" and not col.nullable and not t.frame[name].hasnans:
            t.frame[name] = t.frame[name].astype("int64")


# ---------------------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------------------


def _duplicate_problem(t: Staged, key: list[str], positions: np.ndarray) -> Problem:
    frame = t.frame
    sub = frame.iloc[positions][key]
    groups = sub.groupby(key, sort=False, dropna=False).indices
    found = []
    for values, where in list(groups.items())[:5]:
        values = values if isinstance(values, tuple) else (values,)
        rows = ", ".join(t.label(int(positions[i])) for i in where[:3])
        shown = ", ".join(f"{k}={show(v)}" for k, v in zip(key, values, strict=True))
        found.append(f"{rows}: {shown}")
    return problem.duplicate_key(t.name, key, len(positions), len(groups), found)


def _value_problem(t: Staged, col: str, check: pa.Check, positions: np.ndarray,
                   company_start: pd.Timestamp | None) -> Problem:
    n = len(positions)
    found = examples(t, positions, lambda p: show(t.frame[col].iat[p]))
    if check.name == "not_allowed":
        return problem.not_allowed(t.name, col, n, found)
    if check.name == "out_of_range":
        return problem.out_of_range(t.name, col, n, check.statistics, found)
    if check.name == "before_company_start":
        return problem.before_company_start(t.name, col, n, company_start, found)
    return Problem(t.name, col, str(check.name), f"{plural(n, 'value')} fail {check.name}",
                   found, "")


def _row_problem(t: Staged, check: pa.Check, positions: np.ndarray) -> Problem:
    stats = check.statistics
    a, b = (stats["earlier"], stats["later"]) if check.name == "date_order" else (stats["column"], stats["bound"])
    frame = t.frame
    found = examples(t, positions, lambda p: f"{a}={show(frame[a].iat[p])}, "
                                             f"{b}={show(frame[b].iat[p])}")
    return problem.row_check(t.name, str(check.name), stats, len(positions), found)


def _schema_problems(t: Staged, mapping: Mapping, company_start: pd.Timestamp | None,
                     problems: list[Problem]) -> None:
    import pandera.pandas as pa  # only the pandas checks need pandera (0.3 s to import)

    schema = table_schema(t.name, company_start=company_start, timezone=mapping.timezone,
                          columns=t.present, check_dtypes=False)
    try:
        with warnings.catch_warnings():
            # pandera's own failure-case formatting trips a pandas FutureWarning
            warnings.simplefilter("ignore", FutureWarning)
            schema.validate(t.frame, lazy=True, inplace=True)
        return
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
    cases = cases[cases["index"].notna()]
    table = TABLES[t.name]
    order = [("Column", c) for c in t.present] + [("DataFrameSchema", None)]
    for context, col in order:
        if context == "Column":
            mine = cases[(cases["schema_context"] == "Column") & (cases["column"] == col)]
        else:
            mine = cases[cases["schema_context"] == "DataFrameSchema"]
        if mine.empty:
            continue
        for (check, number), group in mine.groupby(["check", "check_number"], sort=False,
                                                   dropna=False):
            positions = np.unique(group["index"].astype(np.int64).to_numpy())
            if context == "Column" and check == "not_nullable":
                bad = t.failed.get(col)
                if bad is not None:
                    positions = positions[~bad[positions]]
                if len(positions):
                    problems.append(problem.null_value(
                        t.name, col, len(positions), examples(t, positions, lambda p: "<empty>")))
            elif check in ("field_uniqueness", "multiple_fields_uniqueness"):
                problems.append(_duplicate_problem(t, list(table.key), positions))
            elif context == "Column" and pd.notna(number):
                problems.append(_value_problem(t, col, schema.columns[col].checks[int(number)],
                                               positions, company_start))
            elif context == "DataFrameSchema" and pd.notna(number):
                problems.append(_row_problem(t, schema.checks[int(number)], positions))
            # Nothing else can fail: dtypes are not checked (the conversion guarantees
            # them) and the schema only holds the columns the frame has.


def _foreign_key_problems(tables: dict[str, Staged], problems: list[Problem],
                          checked: set[str] = frozenset()) -> None:
    """Orphan keys; a pair of tables both ``checked`` in the database is skipped."""
    for name in TABLE_ORDER:
        child = tables.get(name)
        if child is None:
            continue
        for fk in TABLES[name].foreign_keys:
            parent = tables.get(fk.ref_table)
            if name in checked and fk.ref_table in checked:
                continue
            if (fk.column not in child.frame.columns or parent is None or parent.derived
                    or fk.ref_column not in parent.frame.columns or parent.frame.empty):
                # the missing table or column is reported already; a derived table is no
                # list of reference (derived customers hold the buyers only)
                continue
            values = child.frame[fk.column]
            known = parent.frame[fk.ref_column].dropna().unique()
            orphan = values.notna() & ~values.isin(known)
            if not orphan.any():
                continue
            positions = np.flatnonzero(orphan.to_numpy())
            distinct = values[orphan].nunique()
            problems.append(problem.orphan_key(
                name, fk, len(positions), distinct,
                examples(child, positions, lambda p, c=fk.column, v=values: f"{c}={show(v.iat[p])}")))


# ---------------------------------------------------------------------------------------
# load
# ---------------------------------------------------------------------------------------


def _engine_checks(relations: dict[str, Any], mapping: Mapping, as_of: pd.Timestamp | None,
                   company_start: pd.Timestamp | None, source: str) -> set[str]:
    """Run the checks in the database before any row is fetched; return the tables checked.

    Raises the loader's :class:`DataValidationError` when they find problems and every table
    could be checked there (no row is fetched). When a table falls back to pandas (see
    :func:`crm_research.data.engine_checks.canonical_tables`), the checks it shares with
    others run after the fetch: with problems found, every table is checked in pandas after
    the fetch, so the error lists every problem as for a folder; without, only the
    tables that fell back (and the foreign keys that touch them). No orders kept: the
    pandas path words the empty table.
    """
    from crm_research.data.engine_checks import canonical_tables, engine_problems

    tables, fallback, derived = canonical_tables(relations, mapping, as_of=as_of)
    counts: dict[str, int] = {}
    found = engine_problems(tables, company_start=company_start, timezone=mapping.timezone,
                            derived=derived, counts=counts)
    if counts.get("orders", 1) == 0:
        return set()
    if found:
        if fallback:
            return set()
        raise DataValidationError(found, source)
    return set(tables) - derived


def journey_order(events: pd.DataFrame) -> pd.DataFrame:
    """Return ``events`` in the one order every source gets: by contact and time; events of a
    contact at the same instant in lifecycle order, then by the other model columns.

    A database has no row order and an export's order is an accident of how it was made, but
    a contact's events at the same instant (a visit and the product view it opens, a checkout
    and its purchase) must follow each other the same way whatever the source, or the
    journeys, funnels and paths move with it. Simultaneous events follow
    :func:`~crm_research.data.model.lifecycle_events` (a visit before a product view, a
    checkout before a purchase); names outside it come after, alphabetically; then the other
    model columns decide (missing values last). Rows equal in every model column are
    interchangeable.

    Parameters
    ----------
    events : DataFrame
        Canonical events (at least ``customer_id``, ``occurred_at``, ``event``).

    Returns
    -------
    DataFrame
        The same rows and columns, sorted (stable: fully equal rows keep their order), with a
        fresh index.
    """
    events = events.reset_index(drop=True)  # labels of the ties must be unique
    if len(events) < 2:
        return events
    ordered = events.sort_values(["customer_id", "occurred_at"], kind="stable")
    tied = ordered.duplicated(["customer_id", "occurred_at"], keep=False).to_numpy()
    if tied.any():
        # only simultaneous events need the rest of the key; their groups keep their places
        ties = ordered[tied]
        known = lifecycle_events()
        rank = ties["event"].map(dict(zip(known, range(len(known)), strict=True)))
        key = "__lifecycle_rank"
        rest = [c for c in TABLES["events"].column_names
                if c in ties.columns and c not in ("customer_id", "occurred_at")]
        within = (ties[["customer_id", "occurred_at"]]
                  .assign(**{key: rank.astype("float64").fillna(len(known)).to_numpy()})
                  .join(ties[rest])
                  .sort_values(["customer_id", "occurred_at", key, *rest], kind="stable",
                               na_position="last").index)
        index = ordered.index.to_numpy().copy()
        index[tied] = within.to_numpy()
        ordered = events.loc[index]
    return ordered.reset_index(drop=True)


def load(
    path_or_frames: str | os.PathLike | dict[str, pd.DataFrame],
    mapping: str | os.PathLike | dict | Mapping | None = None,
    *,
    as_of: Any = None,
    company_start: Any = None,
    con: Any = None,
) -> CRMData:
    """Load a company's tables, convert them to the data model and validate them.

    Parameters
    ----------
    path_or_frames : path-like or dict of str to DataFrame
        A folder with one file per table, named ``<table>.parquet``, ``<table>.csv`` or
        ``<table>.csv.gz`` (or as the mapping says); other files are ignored. Or a dict of
        DataFrames keyed by table name (other keys are ignored; the index is ignored).
        Or a database URL, ``postgresql://user@host:port/db?schema=crm`` or
        ``duckdb:///path/file.duckdb``, read read-only (see :mod:`crm_research.data.sources`:
        the mapping names each table or view; the password comes from ``PGPASSWORD`` or
        ``~/.pgpass``, never from the URL; rows come sorted by their values). The value, key
        and foreign-key checks run in the database first and a problem is raised before any
        row is fetched (:mod:`crm_research.data.engine_checks`; what falls back to the checks
        after the fetch is listed there).
        Only ``orders`` is required; a table without rows counts as absent.
    mapping : path-like, dict or Mapping, optional
        Client mapping (YAML file or dict): files and how to read them, column renames,
        constants, value recodes, generated ids, event renames, orders from events, time
        zone, date formats, company start, tables of a database. See ``docs/data-model.md``.
        Default for a database URL: the file its ``mapping=`` option names.
    as_of : str, datetime or pandas.Timestamp, optional
        The data as it was at this instant (naive: local time in the mapping's time zone):
        rows dated on or after it are dropped (``date`` columns: from its calendar day on),
        with the rows that point to them, and later timestamps of kept rows (ticket
        responses and resolutions, subscription ends) become missing; each is counted in
        ``notes``. Default: every row is kept. The clock is never read.
    company_start : str, datetime or pandas.Timestamp, optional
        No date may be earlier than this (naive: local time in the mapping's time zone).
        Default: the mapping's ``company_start``; neither given means no check.
    con : ibis.BaseBackend, optional
        Give the tables as engine tables on this backend (DuckDB or Spark; see
        :func:`crm_research.engine.open_engine`) instead of DataFrames. A folder of Parquet
        files is then read in place, converted and checked by queries, and never held in
        Python; other data is loaded as without ``con`` and handed to the engine, and
        ``CRMData.in_memory`` says why (:mod:`crm_research.data.lazy`).

    Returns
    -------
    CRMData
        Canonical column names and dtypes: ids and text as ``string``, timestamps as
        ``datetime64[ns, UTC]`` (``date`` columns at UTC midnight), ``float64``, ``int64``
        (``Int64`` when nullable). The columns the data has come first in model order, extra
        columns after them; rows keep the file order, except the events: they come in
        :func:`journey_order` (contact, time, event name, ...), the same for every source.
        Absent tables are ``None``; tables
        the loader built are named in ``derived``; what it did is in ``notes``.

    Raises
    ------
    DataValidationError
        Anything in the data breaks the model; lists every problem found (table, column,
        check, message, up to five examples with their line or row, hint). From a database,
        an example checked there names its row by its key (``order_id='o7': -5.0``).
    MappingError
        The mapping is malformed, names unknown tables or columns, or a file outside the
        data folder.
    DataSourceError
        ``path_or_frames`` is a path but not an existing folder; or a database that cannot be
        read: a bad URL or one holding a password, an unreachable server, a refused password,
        a missing table or view, missing privileges, a statement timeout (one line each).
    """
    if con is not None:
        from crm_research.data import lazy

        why = lazy.engine_route(path_or_frames, mapping)
        if why is None:
            try:
                return lazy.load_engine(path_or_frames, mapping, as_of=as_of, company_start=company_start,
                                        con=con)
            except lazy.EngineFallback as exc:
                why = str(exc)
        loaded = load(path_or_frames, mapping, as_of=as_of, company_start=company_start)
        return lazy.register(loaded, con, why=why)
    database = parse_source(path_or_frames) if is_database_url(path_or_frames) else None
    if database is not None and mapping is None:
        mapping = database.mapping
    resolved = read_mapping(mapping)
    problems: list[Problem] = []
    notes: list[str] = []
    derived: dict[str, str] = {}
    left_out: dict[str, int] = {}
    start = company_start if company_start is not None else resolved.company_start
    start = None if start is None else to_utc_instant(start, resolved.timezone)
    checked: set[str] = set()
    if database is not None:
        source = database.url
        bound = None if as_of is None else to_utc_instant(as_of, resolved.timezone)

        def check(relations: dict[str, Any]) -> None:
            checked.update(_engine_checks(relations, resolved, bound, start, source))

        raws, left_out = read_database(database, resolved, bound, check=check)
    elif isinstance(path_or_frames, dict):
        source = "frames"
        raws = read_frames(path_or_frames, resolved, problems)
    elif isinstance(path_or_frames, (str, os.PathLike)):
        folder = Path(path_or_frames)
        source = str(folder)
        if not folder.is_dir():
            what = "is a file, not a folder" if folder.exists() else "does not exist"
            raise DataSourceError(f"{folder} {what}: give the folder that holds one file per table "
                                  "(at least the orders: orders.csv or orders.parquet)")
        raws = read_folder(folder, resolved, problems)
        if "orders" not in raws and not resolved.orders_from_events and path_table_file(folder):
            notes.append(f"No orders: only the attribution from the path table "
                         f"({path_table_file(folder).name}) can run.")
    else:
        raise TypeError("path_or_frames must be a folder path or a dict of DataFrames, "
                        f"got {type(path_or_frames).__name__}")
    drop_empty(raws, problems, notes)

    tables = {name: _convert(raw, resolved, problems, notes) for name, raw in raws.items()}
    orders_from_events(tables, resolved, problems, derived)
    derive_customers(tables, derived)
    if as_of is not None:
        apply_as_of(tables, to_utc_instant(as_of, resolved.timezone), resolved.timezone, notes,
                    left_out)
    for name in list(tables):
        t = tables[name]
        _finish_conversion(t, resolved, problems)
        if len(t.frame) == 0:  # every row was on or after as_of
            if TABLES[name].required:
                problems.append(Problem(name, None, "empty_table",
                                        f"{t.raw.origin} has no rows before as_of", (),
                                        "check as_of and the dates of the orders"))
            else:
                notes.append(f"{name}: no rows before as_of; treated as absent.")
            del tables[name]
        elif not (t.derived and name == "customers") and name not in checked:
            # derived customers: checked in the orders; `checked`: in the database already
            _schema_problems(t, resolved, start, problems)
    _foreign_key_problems(tables, problems, checked)

    if problems:
        problems.sort(key=lambda p: TABLE_ORDER.index(p.table))
        raise DataValidationError(problems, source)
    if "events" in tables:
        tables["events"].frame = journey_order(tables["events"].frame)
    return CRMData(**{name: t.frame for name, t in tables.items()}, source=source,
                   derived=derived, notes=tuple(notes))
