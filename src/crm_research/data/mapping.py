"""The client mapping: how a client's export maps onto the canonical data model.

A mapping lets a consultant onboard a client without code: it names each table's file,
renames the export's columns and event names to canonical ones, and says how to read dates.
It is a YAML file or the equivalent dict; see ``docs/data-model.md`` for the format::

    tables:
      customers:
        file: clients.csv
        columns: {client_ref: customer_id, created: signup_at}
      orders:
        file: sales.txt
        sep: whitespace
        header: false
        names: [buyer, day, cds, dollars]
        columns: {buyer: customer_id, day: ordered_at, dollars: amount}
        constants: {channel: online}
        values: {platform: {tablet: mobile}}
    events: {page_view: view_page}
    timezone: Europe/Paris
    date_format: {orders.ordered_at: "%Y%m%d"}
    company_start: "2019-01-01"

A client with an event log only derives its orders from the purchase events::

    orders_from_events: {event: purchase, amount: revenue}

A database source (:mod:`crm_research.data.sources`) names the table or view of each table
instead of a file, and may bound each query::

    tables:
      orders: {table: sales_v, columns: {buyer: customer_id}}
    statement_timeout: 5min
"""

from __future__ import annotations

import codecs
import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import yaml

from crm_research.data.model import TABLES
from crm_research.errors import CRMError

__all__ = ["Mapping", "MappingError", "OrdersFromEvents", "TableMapping", "read_mapping"]

_TOP_KEYS = ("tables", "events", "timezone", "date_format", "company_start", "orders_from_events",
             "statement_timeout")
_TABLE_KEYS = ("file", "table", "columns", "sep", "encoding", "decimal", "header", "names", "constants",
               "values", "generate_ids")
_FROM_EVENTS_KEYS = ("event", "amount", "order_id")
#: ``sep`` values that read whitespace-separated files (runs of spaces or tabs, leading
#: spaces allowed).
WHITESPACE = r"\s+"
_WHITESPACE_NAMES = ("whitespace", " ", r"\s+")


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
    table : str or None
        Table or view in a database source (default: the canonical table name), in the
        source's schema or written ``schema.name``.
    columns : dict of str to str
        Client column name -> canonical column name.
    sep : str
        CSV field separator.
    encoding : str
        CSV text encoding (``utf-8-sig`` reads UTF-8 with or without a byte-order mark).
    decimal : str
        CSV decimal mark of numeric columns (``","`` for ``12,50``).
    header : bool
        Whether the first line of a CSV file holds the column names.
    names : tuple of str or None
        The file's column names, in file order (replacing the header line when there is one).
    constants : dict of str to scalar
        Canonical column -> value for every row, for a column the file does not have.
    values : dict of str to dict of str to str
        Canonical text column -> {client value: canonical value}; other values are kept.
    generate_ids : tuple of str
        Identifier columns to generate from the row position (``"r000042"``).
    """

    file: str | None = None
    table: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    sep: str = ","
    encoding: str = "utf-8-sig"
    decimal: str = "."
    header: bool = True
    names: tuple[str, ...] | None = None
    constants: dict[str, Any] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    generate_ids: tuple[str, ...] = ()

    def source_of(self, canonical: str) -> str | None:
        """Return the client column renamed to ``canonical``, if the mapping has one."""
        for client, target in self.columns.items():
            if target == canonical:
                return client
        return None


@dataclass(frozen=True)
class OrdersFromEvents:
    """Orders derived from an event log: one order per event named ``event``.

    Attributes
    ----------
    event : str
        Name of the purchase event (canonical, or a client name the ``events`` renames map).
    amount : str or None
        Column of the events file holding the amount paid; None: amounts unknown (the orders
        have no ``amount`` column).
    order_id : str or None
        Column of the events file holding the order id; None: ids generated from the events'
        row positions.
    """

    event: str
    amount: str | None = None
    order_id: str | None = None


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
    orders_from_events : OrdersFromEvents or None
        Derive the orders from the purchase events instead of reading an orders table.
    statement_timeout : int or None
        Longest a database source may take over one query, in milliseconds (``30s``,
        ``5min``, ``500ms`` or a number of milliseconds in the YAML); a URL's own
        ``statement_timeout`` wins. None: the server's setting.
    source : str
        Where the mapping came from (file path or ``"mapping dict"``).
    """

    tables: dict[str, TableMapping] = field(default_factory=dict)
    events: dict[str, str] = field(default_factory=dict)
    timezone: str = "UTC"
    date_format: dict[tuple[str, str], str] = field(default_factory=dict)
    company_start: pd.Timestamp | None = None
    orders_from_events: OrdersFromEvents | None = None
    statement_timeout: int | None = None
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


def _check_file(name: str, value: Any, issues: list[str]) -> str | None:
    where = f"tables.{name}.file"
    if not _check_text(value, where, issues):
        return None
    parts = value.replace("\\", "/").split("/")
    if (value.startswith(("/", "\\", "~")) or PureWindowsPath(value).drive
            or Path(value).is_absolute()):
        issues.append(f"{where}: {value!r} is an absolute path; give a file name inside the "
                      "data folder")
        return None
    if ".." in parts:
        issues.append(f"{where}: {value!r} leaves the data folder ('..'); give a file name "
                      "inside the data folder")
        return None
    return value


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool)) and not (isinstance(value, str) and value == "")


def _parse_names(name: str, spec: dict, issues: list[str]) -> tuple[str, ...] | None:
    names = spec.get("names")
    if names is None:
        return None
    where = f"tables.{name}.names"
    if not isinstance(names, list) or not names:
        issues.append(f"{where} must list the file's column names in order, got {names!r}")
        return None
    if not all(_check_text(n, f"{where} entry {n!r}", issues) for n in names):
        return None
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        issues.append(f"{where}: {', '.join(map(repr, repeated))} appear(s) more than once")
        return None
    return tuple(names)


def _parse_constants(name: str, spec: Any, issues: list[str]) -> dict[str, Any]:
    table = TABLES[name]
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        issues.append(f"tables.{name}.constants must map canonical columns to one value each, "
                      f"got {spec!r}")
        return {}
    out: dict[str, Any] = {}
    for column, value in spec.items():
        where = f"tables.{name}.constants.{column}"
        if column not in table.column_names:
            issues.append(f"{where}: {column!r} is not a column of {name}"
                          f"{_suggest(str(column), table.column_names)}")
        elif not _scalar(value):
            issues.append(f"{where} must be one value (text or number), got {value!r}")
        else:
            declared = table.column(column)
            if (declared.allowed is not None and str(value) not in declared.allowed):
                issues.append(f"{where}: {value!r} is not one of {', '.join(declared.allowed)}")
            else:
                out[column] = value
    return out


def _parse_values(name: str, spec: Any, issues: list[str]) -> dict[str, dict[str, str]]:
    table = TABLES[name]
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        issues.append(f"tables.{name}.values must map a text column to {{client value: "
                      f"canonical value}}, got {spec!r}")
        return {}
    text = [c.name for c in table.columns if c.kind == "str"]
    out: dict[str, dict[str, str]] = {}
    for column, recode in spec.items():
        where = f"tables.{name}.values.{column}"
        if column not in text:
            what = ("is not a text column" if column in table.column_names
                    else "is not a column")
            issues.append(f"{where}: {column!r} {what} of {name}{_suggest(str(column), text)}; "
                          f"text columns: {', '.join(text)}")
            continue
        if not isinstance(recode, dict) or not recode:
            issues.append(f"{where} must map client values to canonical ones, got {recode!r}")
            continue
        allowed = table.column(column).allowed
        clean: dict[str, str] = {}
        for client, canonical in recode.items():
            if not (_check_text(client, f"{where} key {client!r}", issues)
                    and _check_text(canonical, f"{where}.{client}", issues)):
                continue
            if allowed is not None and canonical not in allowed:
                issues.append(f"{where}.{client}: {canonical!r} is not one of {', '.join(allowed)}"
                              f"{_suggest(canonical, list(allowed))}")
                continue
            clean[client] = canonical
        out[column] = clean
    return out


def _parse_generate(name: str, spec: Any, issues: list[str]) -> tuple[str, ...]:
    table = TABLES[name]
    if spec is None:
        return ()
    generable = [c.name for c in table.columns if c.generable]
    if not isinstance(spec, list):
        issues.append(f"tables.{name}.generate_ids must list id columns, got {spec!r}")
        return ()
    out = []
    for column in spec:
        if column not in generable:
            can = (f"columns that can be generated: {', '.join(generable)}" if generable
                   else f"{name} has no column that can be generated")
            issues.append(f"tables.{name}.generate_ids: {column!r} cannot be generated; {can}")
        else:
            out.append(column)
    return tuple(out)


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
    if spec.get("table") is not None and _check_text(spec["table"], f"tables.{name}.table", issues):
        if spec["table"].count(".") > 1:
            issues.append(f"tables.{name}.table: {spec['table']!r} must be a table or view name, "
                          "optionally as schema.name")
        else:
            kwargs["table"] = spec["table"]
    if spec.get("file") is not None:
        file = _check_file(name, spec["file"], issues)
        if file is not None:
            kwargs["file"] = file
    if "sep" in spec and spec["sep"] in _WHITESPACE_NAMES:
        kwargs["sep"] = WHITESPACE
    elif "sep" in spec and _check_text(spec["sep"], f"tables.{name}.sep", issues):
        kwargs["sep"] = spec["sep"]
    if "decimal" in spec and _check_text(spec["decimal"], f"tables.{name}.decimal", issues):
        kwargs["decimal"] = spec["decimal"]
    if "encoding" in spec and _check_text(spec["encoding"], f"tables.{name}.encoding", issues):
        try:
            codecs.lookup(spec["encoding"])
            kwargs["encoding"] = spec["encoding"]
        except LookupError:
            issues.append(f"tables.{name}.encoding: unknown encoding {spec['encoding']!r} "
                          "(try utf-8, latin-1 or cp1252)")
    if "header" in spec:
        if isinstance(spec["header"], bool):
            kwargs["header"] = spec["header"]
        else:
            issues.append(f"tables.{name}.header must be true or false, got {spec['header']!r}")
    names = _parse_names(name, spec, issues)
    if names is not None:
        kwargs["names"] = names
    elif spec.get("header") is False and spec.get("names") is None:
        issues.append(f"tables.{name}: header: false needs `names: [...]`, the file's column "
                      "names in order")
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
    if names is not None:
        for client in renames:
            if client not in names:
                issues.append(f"tables.{name}.columns.{client}: {client!r} is not one of the "
                              f"names {', '.join(names)}{_suggest(client, list(names))}")
    constants = _parse_constants(name, spec.get("constants"), issues)
    generate = _parse_generate(name, spec.get("generate_ids"), issues)
    for column in constants:
        if column in seen:
            issues.append(f"tables.{name}: {column!r} is both renamed from {seen[column]!r} and "
                          "set by constants; keep one")
        if column in generate:
            issues.append(f"tables.{name}: {column!r} is both generated and set by constants; "
                          "keep one")
    for column in generate:
        if column in seen:
            issues.append(f"tables.{name}: {column!r} is both renamed from {seen[column]!r} and "
                          "in generate_ids; keep one")
    return TableMapping(columns=renames, constants=constants,
                        values=_parse_values(name, spec.get("values"), issues),
                        generate_ids=generate, **kwargs)


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


def _parse_from_events(spec: Any, issues: list[str]) -> OrdersFromEvents | None:
    if spec is None:
        return None
    if not isinstance(spec, dict):
        issues.append("orders_from_events must be a mapping such as {event: purchase, amount: "
                      f"revenue}}, got {spec!r}")
        return None
    for key in spec:
        if key not in _FROM_EVENTS_KEYS:
            issues.append(f"orders_from_events: unknown key {key!r}"
                          f"{_suggest(str(key), list(_FROM_EVENTS_KEYS))}; "
                          f"allowed: {', '.join(_FROM_EVENTS_KEYS)}")
    if "event" not in spec:
        issues.append("orders_from_events.event is missing: name the purchase event "
                      "(e.g. purchase)")
        return None
    ok = _check_text(spec["event"], "orders_from_events.event", issues)
    for key in ("amount", "order_id"):
        if spec.get(key) is not None:
            ok &= _check_text(spec[key], f"orders_from_events.{key}", issues)
    if not ok:
        return None
    return OrdersFromEvents(event=spec["event"], amount=spec.get("amount"),
                            order_id=spec.get("order_id"))


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
    from_events = _parse_from_events(spec.get("orders_from_events"), issues)
    if from_events is not None and "orders" in tables:
        issues.append("orders_from_events: the orders are derived from the events, so "
                      "tables.orders does not apply; remove one of them")
    recoded = tables.get("events", TableMapping()).values.get("event", {})
    both = sorted(set(recoded) & set(events))
    if both:
        issues.append(f"event names {', '.join(map(repr, both))} are renamed both by events "
                      "and by tables.events.values.event; keep one")

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

    timeout = None
    if spec.get("statement_timeout") is not None:
        timeout = duration_ms(spec["statement_timeout"])
        if timeout is None:
            issues.append(f"statement_timeout: {spec['statement_timeout']!r} is not a duration; write "
                          "e.g. 30s, 5min or 500ms")

    if issues:
        raise MappingError(issues, source)
    return Mapping(tables=tables, events=events, timezone=timezone, date_format=date_format,
                   company_start=company_start, orders_from_events=from_events,
                   statement_timeout=timeout, source=source)


_UNITS_MS = {"": 1, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000}


def duration_ms(value: Any) -> int | None:
    """Milliseconds of a duration written ``500ms``, ``30s``, ``5min``, ``1h`` or as a number of ms.

    Returns None when ``value`` is not such a duration (or not positive).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    match = re.fullmatch(r"\s*(\d+)\s*(ms|s|min|h)?\s*", str(value))
    if match is None or int(match.group(1)) <= 0:
        return None
    return int(match.group(1)) * _UNITS_MS[match.group(2) or ""]
