"""Reading a client export: a folder of CSV or Parquet files, or a dict of frames.

Each table becomes a :class:`~crm_research.data.staging.Raw` (the frame as read, its origin);
what cannot be read is a :class:`~crm_research.errors.Problem`. Tables without rows count as
absent (a note), except the orders (a problem).
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow

from crm_research.data.mapping import Mapping, MappingError, TableMapping
from crm_research.data.model import TABLES
from crm_research.data.staging import Raw
from crm_research.errors import Problem

__all__ = ["NA_TEXT", "drop_empty", "read_folder", "read_frames"]

#: Texts read as missing values in CSV files (``NA`` is not one of them: it is a region code).
NA_TEXT: tuple[str, ...] = ("", "NULL", "null", "NaN", "nan", "None", "#N/A", "N/A", "n/a", "<NA>")
_PARQUET = (".parquet", ".pq")


def _unreadable(name: str, origin: str, message: str, hint: str) -> Problem:
    return Problem(name, None, "unreadable_file", f"cannot read {origin}: {message}", (), hint)


def _text_columns(name: str, tm: TableMapping, mapping: Mapping, header: list[str]) -> list[str]:
    """Columns read as text, so ids keep their leading zeros and dates their digits."""
    table = TABLES[name]
    known = [c for c in header if tm.columns.get(c, c) in table.column_names]
    spec = mapping.orders_from_events
    if name == "events" and spec is not None:
        known += [c for c in (spec.order_id, spec.amount) if c in header and c not in known]
    return known


def _read_csv(path: Path, name: str, tm: TableMapping, mapping: Mapping,
              problems: list[Problem]) -> pd.DataFrame | None:
    options: dict[str, Any] = {"sep": tm.sep, "encoding": tm.encoding}
    if tm.names is not None:
        options.update(names=list(tm.names), header=0 if tm.header else None, index_col=False)
    try:
        if tm.names is not None:
            probe = pd.read_csv(path, sep=tm.sep, encoding=tm.encoding, header=None, nrows=5,
                                dtype=str)
            if probe.shape[1] != len(tm.names):
                problems.append(_unreadable(
                    name, path.name, f"the mapping names {len(tm.names)} columns but the lines "
                    f"hold {probe.shape[1]} fields", f"list every column of the file in "
                    f"tables.{name}.names, in order (and check tables.{name}.sep)"))
                return None
        header = list(pd.read_csv(path, nrows=0, **options).columns)
        text = _text_columns(name, tm, mapping, header)
        return pd.read_csv(path, dtype=dict.fromkeys(text, str), keep_default_na=False,
                           na_values=list(NA_TEXT), low_memory=False, **options)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
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
            f"`tables: {{{name}: {{sep: ';'}}}}` in the mapping (`sep: whitespace` for columns "
            "aligned with spaces)"))
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


PATH_TABLE_FILES = ("paths.csv", "paths.csv.gz", "paths.parquet")
"""A client's aggregated path table (ChannelAttribution's format) kept in the data folder: read
by the attribution notebook (:func:`crm_research.attribution.read_path_table`). A folder holding
one needs no orders: the attribution from paths is all it can give."""


def path_table_file(folder: Path) -> Path | None:
    """The path table kept in ``folder`` (see :data:`PATH_TABLE_FILES`), if any."""
    for name in PATH_TABLE_FILES:
        if (folder / name).is_file():
            return folder / name
    return None


def _default_files(name: str) -> list[str]:
    return [f"{name}.parquet", f"{name}.csv", f"{name}.csv.gz"]


def _check_inside(folder: Path, mapping: Mapping) -> None:
    """Every file the mapping names must stay inside the folder, symbolic links included."""
    root = folder.resolve()
    issues = []
    for name, tm in mapping.tables.items():
        if tm.file is None:
            continue
        target = (folder / tm.file).resolve()
        if not target.is_relative_to(root):
            issues.append(f"tables.{name}.file: {tm.file!r} leads outside the data folder "
                          f"(to {target}); copy the file into {folder}")
    if issues:
        raise MappingError(issues, mapping.source)


def read_folder(folder: Path, mapping: Mapping, problems: list[Problem]) -> dict[str, Raw]:
    _check_inside(folder, mapping)
    files = sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    claimed = {f for name in TABLES for f in _default_files(name)}
    claimed |= {tm.file for tm in mapping.tables.values() if tm.file} | set(PATH_TABLE_FILES)
    unclaimed = [f for f in files if f not in claimed and not f.startswith("mapping.")]
    raws: dict[str, Raw] = {}
    for name, table in TABLES.items():
        tm = mapping.table(name)
        candidates = [tm.file] if tm.file else _default_files(name)
        found = [c for c in candidates if (folder / c).is_file()]
        if not found:
            exempt = name == "orders" and (mapping.orders_from_events or path_table_file(folder) is not None)
            if table.required and not exempt:
                where = (f"{tm.file} (from the mapping)" if tm.file
                         else " or ".join(candidates))
                hint = (f"add {candidates[0]} or {candidates[1]} to the folder" if not tm.file
                        else f"add {tm.file} or fix tables.{name}.file in the mapping")
                if unclaimed:
                    hint += (f"; files not used as tables: {', '.join(unclaimed[:8])} - map one with "
                             f"`tables: {{{name}: {{file: ...}}}}`")
                hint += ("; a client with an event log only can derive its orders with "
                         "`orders_from_events: {event: purchase}` in the mapping")
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
            frame = _read_csv(path, name, tm, mapping, problems)
            csv = True
        if frame is not None:
            raws[name] = Raw(name, frame, path.name, csv, header=tm.header or not csv)
    return raws


def read_frames(frames: dict, mapping: Mapping, problems: list[Problem]) -> dict[str, Raw]:
    raws: dict[str, Raw] = {}
    unknown = [str(k) for k in frames if k not in TABLES]
    for name, table in TABLES.items():
        frame = frames.get(name)
        if frame is None:
            if table.required and not (name == "orders" and mapping.orders_from_events):
                hint = "pass it in the dict under this name"
                if unknown:
                    hint += f"; keys that are not tables: {', '.join(unknown[:8])}"
                problems.append(Problem(name, None, "missing_table",
                                        f"required table {name} is missing from the frames",
                                        (), hint))
            continue
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"frames[{name!r}] must be a pandas DataFrame, got {type(frame).__name__}")
        raws[name] = Raw(name, frame.reset_index(drop=True), f"frame {name!r}", False)
    return raws


def drop_empty(raws: dict[str, Raw], problems: list[Problem], notes: list[str]) -> None:
    """A table with no rows is absent (a note); the orders may not be empty (a problem)."""
    for name in list(raws):
        raw = raws[name]
        if len(raw.frame):
            continue
        what = (f"{raw.origin} is empty (no header, no rows)" if raw.csv and raw.frame.columns.empty
                else f"{raw.origin} has no rows")
        if TABLES[name].required:
            problems.append(Problem(name, None, "empty_table", what, (), f"export the {name} rows"))
        else:
            notes.append(f"{name}: {what}; treated as absent.")
        del raws[name]
