"""Pandera schemas of the CRM tables, derived from :data:`crm_research.data.model.TABLES`.

One :class:`pandera.pandas.DataFrameSchema` per table checks the dtypes of the canonical
(coerced) frames, nullability, allowed values, numeric bounds, key uniqueness, the row-level
order and bound checks of the model and, when asked, a window of allowed dates. Every column
carries its model declaration in ``metadata`` (``kind``, ``pii``, ``unit``, ``doc``).

Each check is named after the problem it reports (see :data:`CHECK_NAMES`), so that a
failure found by pandera maps onto a :class:`crm_research.errors.Problem` with the same
``check`` as the loader's own checks.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from crm_research.data.model import TABLES, Column, Table

if TYPE_CHECKING:
    import pandera.pandas as pa

__all__ = [
    "CHECK_NAMES",
    "SCHEMAS",
    "dtype_of",
    "pii_columns",
    "table_schema",
    "to_utc_instant",
    "utc_day",
]

#: Every check the loader can report, with what it means. The order is the order of the
#: documentation; a :class:`~crm_research.errors.Problem` ``check`` is always one of these.
CHECK_NAMES: dict[str, str] = {
    "missing_table": "the orders table has no file (or no frame); other tables may be absent",
    "ambiguous_file": "several files could hold the same table",
    "unreadable_file": "the file cannot be read: bad encoding, not parseable as CSV or Parquet",
    "empty_table": "the orders table has no rows (before `as_of`); other empty tables count as absent",
    "missing_column": "a core column is absent, or a column the mapping renames is not in the file",
    "duplicate_column": "two columns end up with the same canonical name after the mapping "
                        "(renames, constants, generated ids)",
    "wrong_type": "values that do not parse as a number (or as a whole number for int columns)",
    "unparseable_date": "values that do not parse as a date with the expected format",
    "null_value": "missing values in a column that may not be empty",
    "not_allowed": "values outside the column's closed set of allowed values",
    "out_of_range": "numbers below the column's minimum or above its maximum",
    "duplicate_key": "several rows share the key that identifies a row",
    "orphan_key": "a foreign key that does not exist in the referenced table",
    "date_order": "a later timestamp of a row that precedes an earlier one (resolved before opened)",
    "exceeds_bound": "a number above another number of the same row (clicks above impressions)",
    "before_company_start": "dates before the company started (`company_start`)",
}

_UTC = pd.DatetimeTZDtype("ns", "UTC")


def dtype_of(column: Column, *, nullable: bool | None = None) -> Any:
    """Return the pandas dtype of a canonical column.

    Parameters
    ----------
    column : Column
        Model declaration.
    nullable : bool, optional
        For ``int`` columns only: ``True`` gives ``Int64``, ``False`` ``int64``. Default: the
        column's declared nullability.

    Returns
    -------
    pandas dtype
        ``string`` for ``id`` and ``str``; ``float64``; ``int64`` or ``Int64``;
        ``datetime64[ns, UTC]`` for ``datetime`` and ``date``.
    """
    if column.kind in ("id", "str"):
        return pd.StringDtype()
    if column.kind == "float":
        return np.dtype("float64")
    if column.kind == "int":
        as_nullable = column.nullable if nullable is None else nullable
        return pd.Int64Dtype() if as_nullable else np.dtype("int64")
    if column.kind in ("datetime", "date"):
        return _UTC
    raise ValueError(f"column {column.name!r} has unknown kind {column.kind!r}")


def to_utc_instant(value: Any, timezone: str = "UTC") -> pd.Timestamp:
    """Return ``value`` as a UTC timestamp; a naive value is read as local time in ``timezone``.

    Parameters
    ----------
    value : str, datetime, date or pandas.Timestamp
        Anything :class:`pandas.Timestamp` accepts.
    timezone : str
        IANA time zone of naive values (``"Europe/Paris"``).

    Returns
    -------
    pandas.Timestamp
        Timezone-aware, UTC.
    """
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        ts = ts.tz_localize(timezone, ambiguous=True, nonexistent="shift_forward")
    return ts.tz_convert("UTC")


def utc_day(instant: pd.Timestamp, timezone: str = "UTC") -> pd.Timestamp:
    """Return the calendar day of ``instant`` in ``timezone``, as a UTC midnight timestamp.

    ``date`` columns hold UTC midnights of calendar days; this is the value such a column
    holds for the local day ``instant`` falls on.
    """
    local = instant.tz_convert(timezone).tz_localize(None).normalize()
    return local.tz_localize("UTC")


def pii_columns(table: str | Table) -> list[str]:
    """Return the personally identifying columns of a table, in model order.

    Parameters
    ----------
    table : str or Table
        Table name (``"customers"``) or declaration.

    Returns
    -------
    list of str
        Column names marked ``pii`` (empty for tables without PII).

    Raises
    ------
    KeyError
        Unknown table name.
    """
    declared = TABLES[table] if isinstance(table, str) else table
    return declared.pii_columns


def _range_checks(column: Column) -> list[pa.Check]:
    import pandera.pandas as pa  # only validation needs pandera (0.3 s to import)

    checks = []
    if column.min_value is not None:
        checks.append(pa.Check.ge(column.min_value, name="out_of_range",
                                  error=f"out_of_range: below the minimum {column.min_value:g}"))
    if column.max_value is not None:
        checks.append(pa.Check.le(column.max_value, name="out_of_range",
                                  error=f"out_of_range: above the maximum {column.max_value:g}"))
    return checks


def _later_not_before(earlier: str, later: str):
    def check(df: pd.DataFrame) -> pd.Series:
        # NaT compares False: a missing timestamp never breaks the order.
        return ~(df[later] < df[earlier])

    return check


def _not_above(column: str, bound: str):
    def check(df: pd.DataFrame) -> pd.Series:
        return ~(df[column] > df[bound]).fillna(False).astype(bool)

    return check


def table_schema(
    table: str | Table,
    *,
    as_of: Any = None,
    company_start: Any = None,
    timezone: str = "UTC",
    columns: Collection[str] | None = None,
    check_dtypes: bool = True,
) -> pa.DataFrameSchema:
    """Build the pandera schema of one table of the data model.

    Parameters
    ----------
    table : str or Table
        Table name or declaration.
    as_of : str, datetime or pandas.Timestamp, optional
        Latest allowed instant of every ``datetime`` column (a pandera check named
        ``future_date``); ``date`` columns may not pass its calendar day in ``timezone``. Naive
        values are local time in ``timezone``. Default: no check. :func:`~crm_research.data.load`
        does not use it: with ``as_of`` it drops later rows instead.
    company_start : str, datetime or pandas.Timestamp, optional
        Earliest allowed instant (check ``before_company_start``), same conventions.
        Default: no check.
    timezone : str
        IANA time zone of naive ``as_of`` / ``company_start`` values and of calendar days.
    columns : collection of str, optional
        Restrict the schema to these columns (e.g. those a frame actually has); row checks
        and the key are kept only when all their columns are included. Default: all columns.
    check_dtypes : bool
        Check the canonical dtypes. The loader turns this off: its conversion guarantees them,
        and pandera's dtype check costs more than every value check of a small table.

    Returns
    -------
    pandera.pandas.DataFrameSchema
        Not strict (extra columns are allowed), not ordered, no coercion: it validates frames
        already coerced to the canonical dtypes (:func:`crm_research.data.load` does that).
    """
    import pandera.pandas as pa  # only validation needs pandera (0.3 s to import)

    declared = TABLES[table] if isinstance(table, str) else table
    keep = set(declared.column_names if columns is None else columns)
    hi = None if as_of is None else to_utc_instant(as_of, timezone)
    lo = None if company_start is None else to_utc_instant(company_start, timezone)
    single_key = len(declared.key) == 1

    schema_columns: dict[str, pa.Column] = {}
    for col in declared.columns:
        if col.name not in keep:
            continue
        checks: list[pa.Check] = []
        if col.allowed is not None:
            checks.append(pa.Check.isin(list(col.allowed), name="not_allowed",
                                        error=f"not_allowed: not one of {', '.join(col.allowed)}"))
        checks += _range_checks(col)
        if col.kind in ("datetime", "date"):
            day = col.kind == "date"
            if lo is not None:
                bound = utc_day(lo, timezone) if day else lo
                checks.append(pa.Check.ge(bound, name="before_company_start",
                                          error=f"before_company_start: before {bound.isoformat()}"))
            if hi is not None:
                bound = utc_day(hi, timezone) if day else hi
                checks.append(pa.Check.le(bound, name="future_date",
                                          error=f"future_date: after {bound.isoformat()}"))
        schema_columns[col.name] = pa.Column(
            dtype_of(col) if check_dtypes else None,
            checks=checks,
            nullable=col.nullable,
            unique=single_key and col.name == declared.key[0],
            required=col.name in declared.core,
            title=col.name,
            description=col.doc,
            metadata={"kind": col.kind, "pii": col.pii, "unit": col.unit, "doc": col.doc,
                      "core": col.name in declared.core},
        )

    frame_checks = [
        pa.Check(_later_not_before(a, b), name="date_order", error=f"date_order: {b} before {a}",
                 statistics={"earlier": a, "later": b})
        for a, b in declared.order_checks if {a, b} <= keep
    ] + [
        pa.Check(_not_above(a, b), name="exceeds_bound", error=f"exceeds_bound: {a} above {b}",
                 statistics={"column": a, "bound": b})
        for a, b in declared.bound_checks if {a, b} <= keep
    ]
    multi_key = list(declared.key) if len(declared.key) > 1 and set(declared.key) <= keep else None
    return pa.DataFrameSchema(
        schema_columns,
        checks=frame_checks,
        unique=multi_key,
        strict=False,
        ordered=False,
        coerce=False,
        name=declared.name,
        title=declared.name,
        description=declared.doc,
        metadata={"key": list(declared.key), "required": declared.required,
                  "core": list(declared.core), "time": declared.time},
    )


def __getattr__(name: str) -> Any:
    # SCHEMAS is built on first use: building it imports pandera, which only validation needs
    if name == "SCHEMAS":
        schemas = {table: table_schema(table) for table in TABLES}
        globals()["SCHEMAS"] = schemas
        return schemas
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


SCHEMAS: dict[str, pa.DataFrameSchema]
"""The schema of every table without a date window, in model order (built on first use)."""
