"""Engine-expression helpers every topic shares: the analysis date, time literals, column checks,
counting flags and the completed-orders filter.

One implementation each (issue 18); topic modules import them from here and keep no copy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from crm_research.errors import CRMError, ParameterError

__all__ = ["as_utc_timestamp", "parse_as_of", "ts_literal", "days_between", "flag", "require_columns",
           "completed_orders", "DAY_SECONDS"]

DAY_SECONDS = 86_400.0


def as_utc_timestamp(value) -> pd.Timestamp:
    """A date or timestamp (string, date, Timestamp) as a tz-aware UTC Timestamp.

    Naive values are taken as UTC. No validation: use :func:`parse_as_of` for user input.

    Examples
    --------
    >>> as_utc_timestamp("2026-01-01")
    Timestamp('2026-01-01 00:00:00+0000', tz='UTC')
    """
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def parse_as_of(as_of, name: str = "as_of") -> pd.Timestamp:
    """The analysis date ``as_of`` as a UTC Timestamp: only data strictly before it counts.

    Parameters
    ----------
    as_of : str, date or Timestamp
        ISO date (``"2026-01-01"``) or timestamp; naive values are taken as UTC.
    name : str
        The parameter's name in the error message.

    Returns
    -------
    Timestamp
        Timezone-aware (UTC).

    Raises
    ------
    ParameterError
        ``as_of`` is missing or not a date.

    Examples
    --------
    >>> parse_as_of("2026-01-01")
    Timestamp('2026-01-01 00:00:00+0000', tz='UTC')
    """
    if as_of is None:
        raise ParameterError(f"{name} is required: pass the analysis date explicitly (e.g. '2026-01-01')")
    try:
        ts = pd.Timestamp(as_of)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{name}={as_of!r} is not a date: use YYYY-MM-DD, e.g. '2026-01-01'") from exc
    if ts is pd.NaT:
        raise ParameterError(f"{name}={as_of!r} is not a date: use YYYY-MM-DD, e.g. '2026-01-01'")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def ts_literal(value: Any):
    """A UTC timestamp literal for engine expressions (``as_of`` and the like).

    Raises
    ------
    ParameterError
        ``value`` is None or not a date.
    """
    import ibis

    return ibis.literal(parse_as_of(value).to_pydatetime(), type="timestamp('UTC')")


def days_between(later, earlier):
    """Days (float, whole-second resolution) from ``earlier`` to ``later`` (engine values)."""
    return (later.epoch_seconds() - earlier.epoch_seconds()).cast("float64") / DAY_SECONDS


def flag(cond):
    """1 where the engine condition ``cond`` is true, 0 where it is false or null (an ``int64``
    to ``sum``). Never ``cond.cast("int64")``: PostgreSQL cannot cast a boolean to a bigint."""
    import ibis

    return ibis.ifelse(cond, 1, 0).cast("int64")


def require_columns(table, table_name: str, columns: Iterable[str | None] | Mapping[str, str | None],
                    hint: str = "") -> None:
    """Raise :class:`CRMError` naming the table and the columns it lacks.

    Parameters
    ----------
    table : DataFrame or ibis.Table
        The table to check.
    table_name : str
        Its name in the data model (``"orders"``), for the message.
    columns : iterable of str, or mapping argument -> column
        Required columns; ``None`` entries are skipped. With a mapping (``{"date_col":
        "ordered_at"}``) the message names the ``*_col`` argument too.
    hint : str
        What to do, when the default ("rename the columns or pass the matching *_col
        argument") does not fit.

    Examples
    --------
    >>> require_columns(pd.DataFrame({"customer_id": [1]}), "orders", ["customer_id"])
    """
    if isinstance(columns, Mapping):
        missing = [f"{arg}={c!r}" for arg, c in columns.items() if c is not None and c not in table.columns]
    else:
        missing = [repr(c) for c in columns if c is not None and c not in table.columns]
    if missing:
        have = ", ".join(map(str, table.columns))
        raise CRMError(
            f"table {table_name!r} has no column(s) {', '.join(missing)} (it has: {have}); "
            + (hint or "rename the columns or pass the matching *_col argument")
        )


def completed_orders(orders, as_of, *, date_col: str = "ordered_at", status_col: str | None = "status",
                     statuses: Iterable[str] = ("completed",), since=None):
    """Orders that count as purchases: status in ``statuses`` and ``since <= date < as_of``.

    Parameters
    ----------
    orders : ibis.Table
        Order log, one row per order.
    as_of : date-like
        Analysis date (exclusive, UTC). Required.
    date_col, status_col : str
        Columns of the order time and status; without ``status_col`` (None or absent) every
        order counts.
    statuses : iterable of str
        Statuses that count as a purchase.
    since : date-like, optional
        Earliest order time that counts (inclusive).

    Returns
    -------
    ibis.Table
        The filtered orders.
    """
    t = orders
    if status_col is not None and status_col in t.columns:
        t = t.filter(t[status_col].isin(list(statuses)))
    t = t.filter(t[date_col] < ts_literal(as_of))
    if since is not None:
        t = t.filter(t[date_col] >= ts_literal(since))
    return t
