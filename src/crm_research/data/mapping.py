"""The client mapping: how a client's export maps onto the canonical data model.

A mapping lets a consultant onboard a client without code: it names each table's file,
renames the export's columns and event names to canonical ones, and says how to read dates.
It is a YAML file or the equivalent dict; see ``docs/data-model.md`` for the format::

    tables:
      customers:
        file: clients.csv
        columns: {client_ref: customer_id, created: signup_at}
    events: {page_view: view_page}
    timezone: Europe/Paris
    date_format: {orders.ordered_at: "%d/%m/%Y"}
    company_start: "2019-01-01"
"""

from __future__ import annotations

import codecs
import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import yaml

from crm_research.data.model import TABLES
from crm_research.errors import CRMError

__all__ = ["Mapping", "MappingError", "TableMapping", "read_mapping"]

_TOP_KEYS = ("tables", "events", "timezone", "date_format", "company_start")
_TABLE_KEYS = ("file", "columns", "sep", "encoding", "decimal")


class MappingError(CRMError):
    """The client mapping is malformed or names a table or column the model does not have."""

    def __init__(self, issues: list[str], source: str = "mapping"):
        self.issues = list(issues)
        self.source = source
        lines = [f"{source}: invalid mapping ({len(self.issues)} issue"
                 f"{'s' if len(self.issues) != 1 else ''})"]
        lines += [f"- {issue}" for issue in self.issues]
        lines.append("  see docs/data-model.md, section 'Client mapping', for the format")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class TableMapping:
    """How to read one table of a client export.

    Attributes
    ----------
    file : str or None
        File name inside the data folder (default: ``<table>.parquet``/``.csv``/``.csv.gz``).
    columns : dict of str to str
        Client column name -> canonical column name.
    sep : str
        CSV field separator.
    encoding : str
        CSV text encoding (``utf-8-sig`` reads UTF-8 with or without a byte-order mark).
    decimal : str
        CSV decimal mark of numeric columns (``","`` for ``12,50``).
    """

    file: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    sep: str = ","
    encoding: str = "utf-8-sig"
    decimal: str = "."

    def source_of(self, canonical: str) -> str | None:
        """Return the client column renamed to ``canonical``, if the mapping has one."""
        for client, target in self.columns.items():
            if target == canonical:
                return client
        return None


@dataclass(frozen=True)
class Mapping:
    """A parsed, checked client mapping (see the module docstring for the format).

    Attributes
    ----------
    tables : dict of str to TableMapping
        Per canonical table name; tables not listed use the defaults.
    events : dict of str to str
        Client event name -> canonical event name (values of ``events.event``).
    timezone : str
        IANA time zone of naive timestamps (``"Europe/Paris"``); they are converted to UTC.
    date_format : dict of (str, str) to str
        ``(table, column)`` -> :func:`~datetime.datetime.strptime` format; other date
        columns are read as ISO 8601.
    company_start : pandas.Timestamp or None
        Earliest allowed date (naive: local time in ``timezone``).
    source : str
        Where the mapping came from (file path or ``"mapping dict"``).
    """

    tables: dict[str, TableMapping] = field(default_factory=dict)
    events: dict[str, str] = field(default_factory=dict)
    timezone: str = "UTC"
    date_format: dict[tuple[str, str], str] = field(default_factory=dict)
    company_start: pd.Timestamp | None = None
    source: str = "no mapping"

    def table(self, name: str) -> TableMapping:
        """Return the mapping of table ``name`` (defaults when the mapping does not list it)."""
        return self.tables.get(name, TableMapping())


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_text(value: Any, where: str, issues: list[str]) -> bool:
    if isinstance(value, str) and value != "":
        return True
    issues.append(f"{where} must be non-empty text, got {value!r}: quote it in YAML")
    return False


def _parse_table(name: str, spec: Any, issues: list[str]) -> TableMapping | None:
    table = TABLES[name]
    if spec is None:
        return TableMapping()
    if not isinstance(spec, dict):
        issues.append(f"tables.{name} must be a mapping with keys {', '.join(_TABLE_KEYS)}; "
                      f"got {spec!r}")
        return None
    for key in spec:
        if key not in _TABLE_KEYS:
            issues.append(f"tables.{name}: unknown key {key!r}{_suggest(str(key), list(_TABLE_KEYS))}; "
                          f"allowed: {', '.join(_TABLE_KEYS)}")
    kwargs: dict[str, Any] = {}
    if spec.get("file") is not None and _check_text(spec["file"], f"tables.{name}.file", issues):
        kwargs["file"] = spec["file"]
    for key in ("sep", "decimal"):
        if key in spec and _check_text(spec[key], f"tables.{name}.{key}", issues):
            kwargs[key] = spec[key]
    if "encoding" in spec and _check_text(spec["encoding"], f"tables.{name}.encoding", issues):
        try:
            codecs.lookup(spec["encoding"])
            kwargs["encoding"] = spec["encoding"]
        except LookupError:
            issues.append(f"tables.{name}.encoding: unknown encoding {spec['encoding']!r} "
                          "(try utf-8, latin-1 or cp1252)")
    columns = spec.get("columns") or {}
    if not isinstance(columns, dict):
        issues.append(f"tables.{name}.columns must map client column names to canonical ones, "
                      f"got {columns!r}")
        columns = {}
    renames: dict[str, str] = {}
    seen: dict[str, str] = {}
    for client, canonical in columns.items():
        where = f"tables.{name}.columns.{client}"
        if not (_check_text(client, f"tables.{name}.columns key {client!r}", issues)
                and _check_text(canonical, where, issues)):
            continue
        if canonical not in table.column_names:
            issues.append(f"{where}: {canonical!r} is not a column of {name}"
                          f"{_suggest(canonical, table.column_names)}; "
                          f"columns: {', '.join(table.column_names)}")
            continue
        if canonical in seen:
            issues.append(f"tables.{name}.columns: both {seen[canonical]!r} and {client!r} "
                          f"are mapped to {canonical!r}; keep one")
            continue
        seen[canonical] = client
        renames[client] = canonical
    return TableMapping(columns=renames, **kwargs)


def _parse_date_formats(spec: Any, issues: list[str]) -> dict[tuple[str, str], str]:
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        issues.append(f"date_format must map 'table.column' to a format like '%d/%m/%Y', got {spec!r}")
        return {}
    out: dict[tuple[str, str], str] = {}
    for key, fmt in spec.items():
        where = f"date_format.{key}"
        if not isinstance(key, str) or key.count(".") != 1:
            issues.append(f"date_format key {key!r} must be 'table.column', e.g. 'orders.ordered_at'")
            continue
        table, column = key.split(".")
        if table not in TABLES:
            issues.append(f"{where}: unknown table {table!r}{_suggest(table, list(TABLES))}")
            continue
        names = TABLES[table].column_names
        if column not in names:
            issues.append(f"{where}: {column!r} is not a column of {table}{_suggest(column, names)}")
            continue
        if TABLES[table].column(column).kind not in ("datetime", "date"):
            issues.append(f"{where}: {table}.{column} is not a date column")
            continue
        if not _check_text(fmt, where, issues):
            continue
        if "%" not in fmt:
            issues.append(f"{where}: {fmt!r} is not a strptime format (e.g. '%d/%m/%Y %H:%M')")
            continue
        out[(table, column)] = fmt
    return out


def read_mapping(mapping: str | os.PathLike | dict | Mapping | None) -> Mapping:
    """Read and check a client mapping.

    Parameters
    ----------
    mapping : path-like, dict, Mapping or None
        Path of a YAML file, the equivalent dict, an already parsed :class:`Mapping`
        (returned as is) or ``None`` (no renaming, ISO 8601 dates in UTC).

    Returns
    -------
    Mapping

    Raises
    ------
    MappingError
        The file is missing or not YAML, or the mapping has unknown keys, tables or
        canonical columns, an unknown time zone or a bad date. Every issue is listed.
    """
    if mapping is None:
        return Mapping()
    if isinstance(mapping, Mapping):
        return mapping
    if isinstance(mapping, dict):
        spec, source = mapping, "mapping dict"
    elif isinstance(mapping, (str, os.PathLike)):
        path = Path(mapping)
        source = str(path)
        try:
            spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise MappingError([f"file {path} does not exist"], source) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise MappingError([f"cannot read {path}: {exc}"], source) from None
        except yaml.YAMLError as exc:
            raise MappingError([f"not valid YAML: {exc}"], source) from None
        if spec is None:
            spec = {}
    else:
        raise TypeError(f"mapping must be a path, a dict or None, got {type(mapping).__name__}")
    if not isinstance(spec, dict):
        raise MappingError([f"the mapping must be a YAML mapping with keys {', '.join(_TOP_KEYS)}, "
                            f"got {type(spec).__name__}"], source)

    issues: list[str] = []
    for key in spec:
        if key not in _TOP_KEYS:
            issues.append(f"unknown key {key!r}{_suggest(str(key), list(_TOP_KEYS))}; "
                          f"allowed: {', '.join(_TOP_KEYS)}")

    tables: dict[str, TableMapping] = {}
    table_specs = spec.get("tables") or {}
    if not isinstance(table_specs, dict):
        issues.append(f"tables must map table names to their settings, got {table_specs!r}")
        table_specs = {}
    for name, table_spec in table_specs.items():
        if name not in TABLES:
            issues.append(f"tables: unknown table {name!r}{_suggest(str(name), list(TABLES))}; "
                          f"tables: {', '.join(TABLES)}")
            continue
        parsed = _parse_table(name, table_spec, issues)
        if parsed is not None:
            tables[name] = parsed

    events: dict[str, str] = {}
    event_spec = spec.get("events") or {}
    if not isinstance(event_spec, dict):
        issues.append(f"events must map client event names to canonical ones, got {event_spec!r}")
        event_spec = {}
    for client, canonical in event_spec.items():
        if (_check_text(client, f"events key {client!r}", issues)
                and _check_text(canonical, f"events.{client}", issues)):
            events[client] = canonical

    timezone = spec.get("timezone", "UTC")
    if _check_text(timezone, "timezone", issues):
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            issues.append(f"timezone: unknown time zone {timezone!r}; use an IANA name such as "
                          "'Europe/Paris' or 'UTC'")
            timezone = "UTC"
    else:
        timezone = "UTC"

    date_format = _parse_date_formats(spec.get("date_format"), issues)

    company_start = None
    if spec.get("company_start") is not None:
        try:
            company_start = pd.Timestamp(spec["company_start"])
        except (TypeError, ValueError):
            issues.append(f"company_start: {spec['company_start']!r} is not a date; "
                          "write it as 'YYYY-MM-DD'")
        else:
            if pd.isna(company_start):
                issues.append("company_start is empty; remove the key or write 'YYYY-MM-DD'")
                company_start = None

    if issues:
        raise MappingError(issues, source)
    return Mapping(tables=tables, events=events, timezone=timezone, date_format=date_format,
                   company_start=company_start, source=source)
