"""The tables the baseline reads: checked, restricted to the columns it uses, on one engine connection.

:data:`COLUMNS` declares what each table must and may hold; :func:`prepare_tables` checks the data
and registers it (DataFrames go to a private in-process DuckDB connection, Ibis tables stay on
their backend); :func:`earliest` finds where the periods start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import ibis
import pandas as pd
import pyarrow as pa

from crm_research.engine import collect, connect, is_lazy
from crm_research.errors import CRMError, ParameterError
from crm_research.exprs import require_columns

__all__ = ["COLUMNS", "TIME_COLUMN", "get_table", "Prepared", "prepare_tables", "earliest"]

COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    # table: {"required": (...), "optional": (...), "time": (...), "numeric": (...)}
    "customers": {"required": ("customer_id",), "optional": ("signup_at", "acquisition_channel", "region"),
                  "time": ("signup_at",)},
    "orders": {"required": ("customer_id", "ordered_at"),
               "optional": ("amount", "status", "channel", "platform"), "time": ("ordered_at",),
               "numeric": ("amount",)},
    "events": {"required": ("customer_id", "occurred_at", "event"), "optional": ("session_id", "platform"),
               "time": ("occurred_at",)},
    "tickets": {"required": ("customer_id", "opened_at"),
                "optional": ("first_response_at", "resolved_at", "contacts", "csat"),
                "time": ("opened_at", "first_response_at", "resolved_at"), "numeric": ("contacts", "csat")},
    "surveys": {"required": ("customer_id", "answered_at", "nps"), "optional": (), "time": ("answered_at",),
                "numeric": ("nps",)},
}
"""Columns the baseline reads from each table (canonical names). ``orders`` without a required
column is an error; another table without one is left out (its metrics are listed as not
measured); optional columns switch off only the metrics that read them (``Metric.columns``):
orders without ``amount`` (an event log's purchases) give every KPI but the money ones."""



def get_table(data, name: str):
    """Table ``name`` of ``data`` (a mapping name → table, or an object with table attributes).

    Returns None when the table is absent.
    """
    if isinstance(data, pd.DataFrame):
        raise CRMError("data must be a mapping of table name to table (e.g. a CRMData or a dict "
                       "{'orders': ..., 'customers': ...}), not a single DataFrame")
    if isinstance(data, Mapping):
        return data.get(name)
    try:
        return data[name]
    except (KeyError, TypeError, AttributeError, IndexError):
        return getattr(data, name, None)


@dataclass
class Prepared:
    """Tables checked and registered on one engine connection, ready for the scans.

    Attributes
    ----------
    tables : dict of str to ibis.Table
        Present tables only, restricted to the columns the baseline reads, canonical names.
    con : ibis backend
        Where the scans run: the backend of the engine tables given, or a private in-process
        DuckDB connection holding the DataFrames given (converted to Arrow once).
    owned : bool
        Whether ``con`` was opened here (:meth:`close` disconnects it).
    absent : dict of str to str
        Tables given but left out, with the reason in plain words (a required column is
        missing; ``customers`` derived from the orders holds no leads).
    """

    tables: dict
    con: Any
    owned: bool = False
    absent: dict = field(default_factory=dict)

    def close(self) -> None:
        """Disconnect a connection opened by :func:`prepare_tables` (no-op otherwise)."""
        if self.owned:
            self.con.disconnect()
            self.owned = False


def prepare_tables(data, columns: Mapping[str, str] | None = None) -> Prepared:
    """Check the tables the baseline reads and register them on one engine connection.

    Parameters
    ----------
    data : mapping or CRMData
        Tables by name: pandas DataFrames or Ibis tables (on any backend).
    columns : mapping, optional
        Non-canonical column names, ``{"table.canonical": "actual"}``, e.g.
        ``{"orders.ordered_at": "order_date"}``.

    Returns
    -------
    Prepared
        Present tables only (restricted to the columns the baseline reads, canonical names),
        the connection they live on, and the tables left out with the reason (``absent``).
        A ``customers`` table that the loader derived from the orders (``data.derived``) is
        left out: it holds no leads, so contact counts and lead conversion would only repeat
        the order log.

    Raises
    ------
    CRMError
        ``orders`` is missing or lacks a required column; a time column does not hold
        timestamps.
    """
    rename: dict[str, dict[str, str]] = {}
    for key, actual in (columns or {}).items():
        table, _, col = str(key).partition(".")
        if table not in COLUMNS or not col:
            raise ParameterError(f"columns key {key!r} must be 'table.column' with table one of "
                                 f"{', '.join(COLUMNS)}")
        rename.setdefault(table, {})[col] = actual
    derived = getattr(data, "derived", None) or {}
    picked: dict[str, Any] = {}
    absent: dict[str, str] = {}
    for name, spec in COLUMNS.items():
        t = get_table(data, name)
        if t is None:
            if name == "orders":
                raise CRMError("table 'orders' is missing: the baseline needs the order log "
                               "(customer_id, ordered_at; amount and status when known)")
            continue
        if name != "orders" and name in derived:
            absent[name] = f"the {name} table was derived from the orders, so it holds no contacts without an order"
            continue
        if not (is_lazy(t) or isinstance(t, pd.DataFrame)):
            raise CRMError(f"table {name!r} must be a pandas DataFrame or an ibis Table, got "
                           f"{type(t).__name__}")
        names = rename.get(name, {})
        have = list(t.columns)
        missing = [c for c in spec["required"] if names.get(c, c) not in have]
        if missing and name != "orders":
            absent[name] = f"the {name} table has no {', '.join(names.get(c, c) for c in missing)} column"
            continue
        if missing:
            require_columns(t, name, [names.get(c, c) for c in spec["required"]],
                            hint=f"the baseline needs {', '.join(spec['required'])} (pass columns={{'{name}.<canonical>': "
                                 "'<actual>'}} if they are named differently)")
        keep = list(spec["required"]) + [c for c in spec["optional"] if names.get(c, c) in have]
        if is_lazy(t):
            sel = {c: t[names.get(c, c)] for c in keep}
            for c in spec["time"]:
                if c not in sel:
                    continue
                dtype = sel[c].type()
                if dtype.is_timestamp():
                    continue
                if dtype.is_unknown():  # e.g. DuckDB's TIMESTAMPTZ_NS from nanosecond Parquet
                    sel[c] = sel[c].cast("timestamp('UTC')")
                else:
                    raise CRMError(f"{name}.{names.get(c, c)} must hold timestamps, got {dtype}: convert "
                                   "it to a UTC timestamp column first")
            picked[name] = t.select(**sel)
        else:
            df = pd.DataFrame({c: t[names.get(c, c)] for c in keep})
            for c in spec["time"]:
                if c in df.columns:
                    df[c] = _as_utc(df[c], name, c)
            for c in spec.get("numeric", ()):
                if c in df.columns:
                    df[c] = _as_number(df[c], name, c)
            picked[name] = df
    lazy = [t for t in picked.values() if is_lazy(t)]
    con = lazy[0]._find_backend(use_default=True) if lazy else connect()
    tables = {name: t if is_lazy(t) else _register(con, name, t) for name, t in picked.items()}
    return Prepared(tables, con, owned=not lazy, absent=absent)


def _register(con, name: str, df: pd.DataFrame):
    """Put a DataFrame on ``con`` (DuckDB: an Arrow view, converted once; else a table)."""
    table_name = ibis.util.gen_name(f"kpi_{name}")
    if getattr(con, "name", "") == "duckdb":
        con.con.register(table_name, pa.Table.from_pandas(df, preserve_index=False))
        return con.table(table_name)
    return con.create_table(table_name, df, overwrite=True)


def _as_number(col: pd.Series, table: str, name: str) -> pd.Series:
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        return col
    if col.isna().all():
        return col.astype("float64")
    bad = col[col.notna()].head(3).tolist()
    raise CRMError(f"{table}.{name} must hold numbers, got dtype {col.dtype} (e.g. {bad}): convert it "
                   "with pd.to_numeric or load the data with crm_research.data.load")


def _as_utc(col: pd.Series, table: str, name: str) -> pd.Series:
    if not pd.api.types.is_datetime64_any_dtype(col.dtype):
        if col.isna().all():
            return pd.to_datetime(col, utc=True).astype("datetime64[us, UTC]")
        bad = col[col.notna()].head(3).tolist()
        raise CRMError(f"{table}.{name} must hold timestamps (datetime64), got dtype {col.dtype} "
                       f"(e.g. {bad}): parse it with pd.to_datetime(..., utc=True) or load the data "
                       "with crm_research.data.load")
    col = col.dt.tz_localize("UTC") if col.dt.tz is None else col.dt.tz_convert("UTC")
    return col.astype("datetime64[us, UTC]")


TIME_COLUMN = {"orders": "ordered_at", "customers": "signup_at", "events": "occurred_at",
               "tickets": "opened_at", "surveys": "answered_at"}


def earliest(tables: Mapping[str, Any]) -> pd.Timestamp | None:
    """Earliest timestamp over the main time column of every table (one engine query)."""
    parts = [t.aggregate(m=t[TIME_COLUMN[name]].min().cast("timestamp('UTC')"))
             for name, t in tables.items() if name in TIME_COLUMN and TIME_COLUMN[name] in t.columns]
    expr = parts[0]
    for p in parts[1:]:
        expr = expr.union(p, distinct=False)
    values = collect(expr)["m"].dropna()
    return None if values.empty else values.min()
