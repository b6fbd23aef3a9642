"""Load a client export (a folder of files, or a dict of frames) and validate it.

:func:`load` reads every table, applies the client mapping, converts every column to its
canonical dtype, runs every check of the data model and either returns a :class:`CRMData`
or raises one :class:`~crm_research.errors.DataValidationError` listing every problem found.
The checks are listed in :data:`crm_research.data.schemas.CHECK_NAMES`.

Row numbers in problem examples are ``line N`` for CSV files (the header is line 1, so the
first row is line 2; exact unless a quoted value spans several lines) and ``row N``
(0-based position) for Parquet files and frames.
"""

from __future__ import annotations

import os
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow

from crm_research.data.coerce import coerce_column
from crm_research.data.crmdata import CRMData
from crm_research.data.mapping import Mapping, TableMapping, read_mapping
from crm_research.data.model import TABLE_ORDER, TABLES, Column
from crm_research.data.schemas import table_schema, to_utc_instant
from crm_research.errors import CRMError, DataValidationError, Problem

__all__ = ["DataSourceError", "NA_TEXT", "load"]

#: Texts read as missing values in CSV files (``NA`` is not one of them: it is a region code).
NA_TEXT: tuple[str, ...] = ("", "NULL", "null", "NaN", "nan", "None", "#N/A", "N/A", "n/a", "<NA>")
_EXAMPLES = 5
_PARQUET = (".parquet", ".pq")


class DataSourceError(CRMError):
    """The path given to :func:`load` is not a folder."""


@dataclass
class _Raw:
    """One table as read, before renaming and conversion."""

    name: str
    frame: pd.DataFrame
    origin: str  # file name or "frame 'orders'"
    csv: bool

    def label(self, position: int) -> str:
        return f"line {position + 2}" if self.csv else f"row {position}"


@dataclass
class _Table:
    """One table after renaming and conversion, with what is known to be broken in it."""

    raw: _Raw
    frame: pd.DataFrame
    present: list[str]  # model columns the frame has
    failed: dict[str, np.ndarray] = field(default_factory=dict)  # cells that did not convert


def _plural(n: int, word: str) -> str:
    return f"{n} {word if n == 1 else word + 's'}"


def _show(value: Any) -> str:
    if value is None or value is pd.NA or (not isinstance(value, str) and pd.isna(value)):
        return "<empty>"
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return repr(str(value))


def _examples(raw: _Raw, positions: Any, show: Callable[[int], str]) -> tuple[str, ...]:
    return tuple(f"{raw.label(int(p))}: {show(int(p))}" for p in list(positions)[:_EXAMPLES])


# ---------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------


def _unreadable(name: str, origin: str, message: str, hint: str) -> Problem:
    return Problem(name, None, "unreadable_file", f"cannot read {origin}: {message}", (), hint)


def _read_csv(path: Path, name: str, tm: TableMapping, problems: list[Problem]) -> pd.DataFrame | None:
    table = TABLES[name]
    options = {"sep": tm.sep, "encoding": tm.encoding}
    try:
        header = pd.read_csv(path, nrows=0, **options).columns
        known = [c for c in header if tm.columns.get(c, c) in table.column_names]
        return pd.read_csv(path, dtype=dict.fromkeys(known, str), keep_default_na=False,
                           na_values=list(NA_TEXT), low_memory=False, **options)
    except pd.errors.EmptyDataError:
        problems.append(Problem(name, None, "empty_table",
                                f"{path.name} is empty (no header, no rows)", (),
                                f"export the {name} table with its header and rows"))
    except UnicodeDecodeError as exc:
        bad = exc.object[exc.start:exc.end]
        problems.append(_unreadable(
            name, path.name, f"not valid {tm.encoding} text (byte {bad!r} at position {exc.start})",
            f"save the file as UTF-8, or set `tables: {{{name}: {{encoding: latin-1}}}}` "
            "(or cp1252) in the mapping"))
    except pd.errors.ParserError as exc:
        problems.append(_unreadable(
            name, path.name, f"not a parseable CSV file ({str(exc).strip()})",
            "check the quoting and the number of fields per line; for ';'-separated files set "
            f"`tables: {{{name}: {{sep: ';'}}}}` in the mapping"))
    except (OSError, ValueError, EOFError, zlib.error) as exc:
        problems.append(_unreadable(name, path.name, f"{type(exc).__name__}: {exc}",
                                    "re-export the file as CSV (optionally gzip-compressed)"))
    return None


def _read_parquet(path: Path, name: str, problems: list[Problem]) -> pd.DataFrame | None:
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError, pyarrow.ArrowException) as exc:
        problems.append(_unreadable(name, path.name, f"not a readable Parquet file ({exc})",
                                    "re-export the table as Parquet or CSV"))
    return None


def _default_files(name: str) -> list[str]:
    return [f"{name}.parquet", f"{name}.csv", f"{name}.csv.gz"]


def _read_folder(folder: Path, mapping: Mapping, problems: list[Problem]) -> dict[str, _Raw]:
    files = sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    claimed = {f for name in TABLES for f in _default_files(name)}
    claimed |= {tm.file for tm in mapping.tables.values() if tm.file}
    unclaimed = [f for f in files if f not in claimed]
    raws: dict[str, _Raw] = {}
    for name, table in TABLES.items():
        tm = mapping.table(name)
        candidates = [tm.file] if tm.file else _default_files(name)
        found = [c for c in candidates if (folder / c).is_file()]
        if not found:
            if table.required:
                where = (f"{tm.file} (from the mapping)" if tm.file
                         else " or ".join(candidates))
                hint = (f"add {candidates[0]} or {candidates[1]} to the folder" if not tm.file
                        else f"add {tm.file} or fix tables.{name}.file in the mapping")
                if unclaimed:
                    hint += (f"; files not used as tables: {', '.join(unclaimed[:8])} - map one with "
                             f"`tables: {{{name}: {{file: ...}}}}`")
                problems.append(Problem(name, None, "missing_table",
                                        f"required table {name} is missing: no {where} in {folder}",
                                        (), hint))
            continue
        if len(found) > 1:
            problems.append(Problem(name, None, "ambiguous_file",
                                    f"several files for table {name}: {', '.join(found)}", (),
                                    "keep one file per table"))
            continue
        path = folder / found[0]
        if path.name.lower().endswith(_PARQUET):
            frame = _read_parquet(path, name, problems)
            csv = False
        else:
            frame = _read_csv(path, name, tm, problems)
            csv = True
        if frame is not None:
            raws[name] = _Raw(name, frame, path.name, csv)
    return raws


def _read_frames(frames: dict, problems: list[Problem]) -> dict[str, _Raw]:
    raws: dict[str, _Raw] = {}
    unknown = [str(k) for k in frames if k not in TABLES]
    for name, table in TABLES.items():
        frame = frames.get(name)
        if frame is None:
            if table.required:
                hint = "pass it in the dict under this name"
                if unknown:
                    hint += f"; keys that are not tables: {', '.join(unknown[:8])}"
                problems.append(Problem(name, None, "missing_table",
                                        f"required table {name} is missing from the frames",
                                        (), hint))
            continue
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"frames[{name!r}] must be a pandas DataFrame, got {type(frame).__name__}")
        raws[name] = _Raw(name, frame.reset_index(drop=True), f"frame {name!r}", False)
    return raws


# ---------------------------------------------------------------------------------------
# renaming and conversion
# ---------------------------------------------------------------------------------------


def _rename(raw: _Raw, tm: TableMapping, problems: list[Problem]) -> pd.DataFrame:
    frame = raw.frame.rename(columns=tm.columns)
    if frame.columns.duplicated().any():
        for col in frame.columns[frame.columns.duplicated()].unique():
            sources = [c for c in raw.frame.columns if tm.columns.get(c, c) == col]
            problems.append(Problem(
                raw.name, str(col), "duplicate_column",
                f"{raw.origin} has several columns named {col!r} after the mapping: "
                f"{', '.join(repr(str(s)) for s in sources)}", (),
                "drop one of them from the export, or remove its rename from the mapping"))
        frame = frame.loc[:, ~frame.columns.duplicated()]
    return frame


def _guess_separator(raw: _Raw, frame: pd.DataFrame) -> str | None:
    """The separator of a CSV file read as one column, when its header shows one."""
    if not raw.csv or len(frame.columns) != 1:
        return None
    header = str(frame.columns[0])
    for separator in (";", "\t", "|", ","):
        if separator in header:
            return separator
    return None


def _missing_columns(raw: _Raw, frame: pd.DataFrame, tm: TableMapping,
                     problems: list[Problem]) -> None:
    table = TABLES[raw.name]
    strangers = [str(c) for c in frame.columns if c not in table.column_names]
    for col in table.columns:
        if not col.required or col.name in frame.columns:
            continue
        client = tm.source_of(col.name)
        if client is not None:
            message = (f"required column {col.name!r} is missing: the mapping renames {client!r} "
                       f"to it, but {raw.origin} has no column {client!r}")
        else:
            message = f"required column {col.name!r} is missing from {raw.origin}"
        hint = f"add the column ({col.kind}: {col.doc})"
        separator = _guess_separator(raw, frame)
        if separator is not None:
            hint = (f"{raw.origin} reads as a single column: it looks {separator!r}-separated; "
                    f"set `tables: {{{raw.name}: {{sep: {separator!r}}}}}` in the mapping")
        elif strangers:
            hint += (f"; columns not in the model: {', '.join(repr(s) for s in strangers[:8])} - "
                     f"rename one with `tables: {{{raw.name}: {{columns: {{<client name>: "
                     f"{col.name}}}}}}}` in the mapping")
        problems.append(Problem(raw.name, col.name, "missing_column", message, (), hint))


def _conversion_problem(raw: _Raw, col: Column, failed: np.ndarray, original: pd.Series,
                        fmt: str | None) -> Problem:
    positions = np.flatnonzero(failed)
    examples = _examples(raw, positions, lambda p: _show(original.iat[p]))
    n = len(positions)
    if col.kind in ("datetime", "date"):
        expected = (f"the format {fmt!r}" if fmt else
                    "ISO 8601 (YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS, optional offset such as +02:00 or Z)")
        return Problem(
            raw.name, col.name, "unparseable_date",
            f"{_plural(n, 'value')} {'is' if n == 1 else 'are'} not a date in {expected}",
            examples,
            f"fix the values, or give their format with `date_format: {{{raw.name}.{col.name}: "
            "'%d/%m/%Y'}` in the mapping (dates must lie between 1677 and 2262)")
    what = "a whole number" if col.kind == "int" else "a number"
    return Problem(
        raw.name, col.name, "wrong_type",
        f"{_plural(n, 'value')} {'is' if n == 1 else 'are'} not {what}", examples,
        f"write {col.name} as plain numbers ({col.unit or col.kind}); for a decimal comma set "
        f"`tables: {{{raw.name}: {{decimal: ','}}}}` in the mapping")


def _convert(raw: _Raw, mapping: Mapping, problems: list[Problem]) -> _Table:
    table = TABLES[raw.name]
    tm = mapping.table(raw.name)
    frame = _rename(raw, tm, problems)
    _missing_columns(raw, frame, tm, problems)
    columns: dict[Any, pd.Series] = {}
    failed: dict[str, np.ndarray] = {}
    present = []
    for col in table.columns:
        if col.name not in frame.columns:
            continue
        present.append(col.name)
        fmt = mapping.date_format.get((raw.name, col.name))
        values, bad = coerce_column(frame[col.name], col, timezone=mapping.timezone,
                                    date_format=fmt, decimal=tm.decimal)
        if bad.any():
            failed[col.name] = bad
            problems.append(_conversion_problem(raw, col, bad, frame[col.name], fmt))
        elif col.kind == "int" and not col.nullable and not values.hasnans:
            values = values.astype("int64")
        columns[col.name] = values
    if raw.name == "events" and mapping.events and "event" in columns:
        event = columns["event"]
        renamed = event.map(mapping.events).astype("string")
        columns["event"] = renamed.where(event.isin(list(mapping.events)), event)
    for col in frame.columns:
        if col not in columns:
            columns[col] = frame[col]
    canonical = pd.DataFrame(columns, index=pd.RangeIndex(len(frame)))
    return _Table(raw, canonical, present, failed)


# ---------------------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------------------


def _duplicate_problem(t: _Table, key: list[str], positions: np.ndarray) -> Problem:
    frame = t.frame
    sub = frame.iloc[positions][key]
    groups = sub.groupby(key, sort=False, dropna=False).indices
    examples = []
    for values, where in list(groups.items())[:_EXAMPLES]:
        values = values if isinstance(values, tuple) else (values,)
        rows = ", ".join(t.raw.label(int(positions[i])) for i in where[:3])
        shown = ", ".join(f"{k}={_show(v)}" for k, v in zip(key, values, strict=True))
        examples.append(f"{rows}: {shown}")
    keyname = ", ".join(key)
    return Problem(
        t.raw.name, keyname, "duplicate_key",
        f"{_plural(len(positions), 'row')} share their key ({keyname}) with another row "
        f"({_plural(len(groups), 'distinct key')})", tuple(examples),
        f"each row of {t.raw.name} needs a distinct {keyname}: remove the duplicates")


def _value_problem(t: _Table, col: str, check: pa.Check, positions: np.ndarray,
                   bounds: dict[str, pd.Timestamp | None]) -> Problem:
    declared = TABLES[t.raw.name].column(col)
    n = len(positions)
    examples = _examples(t.raw, positions, lambda p: _show(t.frame[col].iat[p]))
    if check.name == "not_allowed":
        allowed = ", ".join(declared.allowed or ())
        return Problem(t.raw.name, col, "not_allowed",
                       f"{_plural(n, 'value')} outside the allowed values {{{allowed}}}",
                       examples, f"recode {col} to one of: {allowed}")
    if check.name == "out_of_range":
        stats = check.statistics
        unit = f" {declared.unit}" if declared.unit else ""
        if "min_value" in stats:
            where = f"below the minimum {stats['min_value']:g}{unit}"
        else:
            where = f"above the maximum {stats['max_value']:g}{unit}"
        return Problem(t.raw.name, col, "out_of_range", f"{_plural(n, 'value')} {where}",
                       examples, f"fix or remove the rows; {col}: {declared.doc}")
    if check.name == "future_date":
        return Problem(t.raw.name, col, "future_date",
                       f"{_plural(n, 'date')} after as_of ({bounds['as_of'].isoformat()})",
                       examples,
                       "fix the dates, check the time zone and date format of the mapping, or pass "
                       "as_of= the time the data was exported")
    if check.name == "before_company_start":
        return Problem(t.raw.name, col, "before_company_start",
                       f"{_plural(n, 'date')} before company_start "
                       f"({bounds['company_start'].isoformat()})", examples,
                       "fix the dates (often a day/month swap or a 1900 placeholder), or set "
                       "company_start earlier")
    return Problem(t.raw.name, col, str(check.name), f"{_plural(n, 'value')} fail {check.name}",
                   examples, "")


def _row_problem(t: _Table, check: pa.Check, positions: np.ndarray) -> Problem:
    stats = check.statistics
    n = len(positions)
    if check.name == "date_order":
        a, b = stats["earlier"], stats["later"]
        column, message = b, f"{_plural(n, 'row')} where {b} is before {a}"
        hint = f"{b} may not precede {a}: fix the timestamps or their time zones"
    else:
        a, b = stats["column"], stats["bound"]
        column, message = a, f"{_plural(n, 'row')} where {a} is greater than {b}"
        hint = f"{a} may not exceed {b} on the same row"
    frame = t.frame
    examples = _examples(t.raw, positions, lambda p: f"{a}={_show(frame[a].iat[p])}, "
                                                     f"{b}={_show(frame[b].iat[p])}")
    return Problem(t.raw.name, column, str(check.name), message, examples, hint)


def _schema_problems(t: _Table, mapping: Mapping, bounds: dict[str, pd.Timestamp | None],
                     problems: list[Problem]) -> None:
    schema = table_schema(t.raw.name, as_of=bounds["as_of"], company_start=bounds["company_start"],
                          timezone=mapping.timezone, columns=t.present, check_dtypes=False)
    try:
        with warnings.catch_warnings():
            # pandera's own failure-case formatting trips a pandas FutureWarning
            warnings.simplefilter("ignore", FutureWarning)
            schema.validate(t.frame, lazy=True, inplace=True)
        return
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
    cases = cases[cases["index"].notna()]
    table = TABLES[t.raw.name]
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
                    problems.append(Problem(
                        t.raw.name, col, "null_value",
                        f"{_plural(len(positions), 'missing value')} in a column that may not "
                        "be empty", _examples(t.raw, positions, lambda p: "<empty>"),
                        f"fill {col} on every row ({table.column(col).doc})"))
            elif check in ("field_uniqueness", "multiple_fields_uniqueness"):
                problems.append(_duplicate_problem(t, list(table.key), positions))
            elif context == "Column" and pd.notna(number):
                problems.append(_value_problem(t, col, schema.columns[col].checks[int(number)],
                                               positions, bounds))
            elif context == "DataFrameSchema" and pd.notna(number):
                problems.append(_row_problem(t, schema.checks[int(number)], positions))
            # Nothing else can fail: dtypes are not checked (the conversion guarantees
            # them) and the schema only holds the columns the frame has.


def _foreign_key_problems(tables: dict[str, _Table], problems: list[Problem]) -> None:
    for name in TABLE_ORDER:
        child = tables.get(name)
        if child is None:
            continue
        for fk in TABLES[name].foreign_keys:
            parent = tables.get(fk.ref_table)
            if (fk.column not in child.frame.columns or parent is None
                    or fk.ref_column not in parent.frame.columns or parent.frame.empty):
                continue  # the missing table or column is reported already
            values = child.frame[fk.column]
            known = parent.frame[fk.ref_column].dropna().unique()
            orphan = values.notna() & ~values.isin(known)
            if not orphan.any():
                continue
            positions = np.flatnonzero(orphan.to_numpy())
            distinct = values[orphan].nunique()
            problems.append(Problem(
                name, fk.column, "orphan_key",
                f"{_plural(len(positions), 'row')} ({_plural(distinct, 'distinct value')}) have a "
                f"{fk.column} that is not in {fk.ref_table}.{fk.ref_column}",
                _examples(child.raw, positions,
                          lambda p, c=fk.column, v=values: f"{c}={_show(v.iat[p])}"),
                f"add the missing {fk.ref_table} rows, or remove the {name} rows that point "
                "to them (check that both exports cover the same period)"))


# ---------------------------------------------------------------------------------------
# load
# ---------------------------------------------------------------------------------------


def load(
    path_or_frames: str | os.PathLike | dict[str, pd.DataFrame],
    mapping: str | os.PathLike | dict | Mapping | None = None,
    *,
    as_of: Any = None,
    company_start: Any = None,
) -> CRMData:
    """Load a company's tables, convert them to the data model and validate them.

    Parameters
    ----------
    path_or_frames : path-like or dict of str to DataFrame
        A folder with one file per table, named ``<table>.parquet``, ``<table>.csv`` or
        ``<table>.csv.gz`` (or as the mapping says); other files are ignored. Or a dict of
        DataFrames keyed by table name (other keys are ignored; the index is ignored).
    mapping : path-like, dict or Mapping, optional
        Client mapping (YAML file or dict): file names, column and event renames, time
        zone, date formats, company start. See ``docs/data-model.md``.
    as_of : str, datetime or pandas.Timestamp, optional
        No date may be later than this instant (naive: local time in the mapping's time
        zone). Default: the current UTC time, read once.
    company_start : str, datetime or pandas.Timestamp, optional
        No date may be earlier than this (naive: local time in the mapping's time zone).
        Default: the mapping's ``company_start``; neither given means no check.

    Returns
    -------
    CRMData
        Canonical column names and dtypes: ids and text as ``string``, timestamps as
        ``datetime64[ns, UTC]`` (``date`` columns at UTC midnight), ``float64``, ``int64``
        (``Int64`` when nullable). Required and present optional columns come first in model
        order, extra columns after them; rows keep the file order.

    Raises
    ------
    DataValidationError
        Anything in the data breaks the model; lists every problem found (table, column,
        check, message, up to five examples with their line or row, hint).
    MappingError
        The mapping is malformed or names unknown tables or columns.
    DataSourceError
        ``path_or_frames`` is a path but not an existing folder.
    """
    resolved = read_mapping(mapping)
    problems: list[Problem] = []
    if isinstance(path_or_frames, dict):
        source = "frames"
        raws = _read_frames(path_or_frames, problems)
    elif isinstance(path_or_frames, (str, os.PathLike)):
        folder = Path(path_or_frames)
        source = str(folder)
        if not folder.is_dir():
            what = "is a file, not a folder" if folder.exists() else "does not exist"
            raise DataSourceError(f"{folder} {what}: give the folder that holds one file per table "
                                  f"({', '.join(TABLE_ORDER)})")
        raws = _read_folder(folder, resolved, problems)
    else:
        raise TypeError("path_or_frames must be a folder path or a dict of DataFrames, "
                        f"got {type(path_or_frames).__name__}")

    start = company_start if company_start is not None else resolved.company_start
    bounds = {
        "as_of": (pd.Timestamp.now(tz="UTC") if as_of is None
                  else to_utc_instant(as_of, resolved.timezone)),
        "company_start": None if start is None else to_utc_instant(start, resolved.timezone),
    }

    tables: dict[str, _Table] = {}
    for name, raw in raws.items():
        converted = _convert(raw, resolved, problems)
        tables[name] = converted
        if converted.frame.empty:
            hint = f"export the {name} rows"
            if not TABLES[name].required:
                hint += ", or remove the file: the table is optional"
            problems.append(Problem(name, None, "empty_table", f"{raw.origin} has no rows", (),
                                    hint))
            continue
        _schema_problems(converted, resolved, bounds, problems)
    _foreign_key_problems(tables, problems)

    if problems:
        problems.sort(key=lambda p: TABLE_ORDER.index(p.table))
        raise DataValidationError(problems, source)
    return CRMData(**{name: t.frame for name, t in tables.items()}, source=source)

