"""Per-customer frequency / recency / T / monetary value: the input of the BTYD models.

Written once on the engine layer (Ibis): a transaction log of any size is scanned once in the
engine and one row per customer comes back. Repeat purchases are counted per distinct purchase
*day* (several orders on one day are one purchase occasion), as in Fader & Hardie and the
``lifetimes`` package.

Conventions (those that reproduce the published CDNOW fits, see ``tests/test_churn_btyd.py``):

* ``observation_end`` is the **last calendar day of the observation period, inclusive**:
  transactions on that day count, and ``T`` is measured from the first purchase day to that
  day (a customer whose first purchase was on 1997-01-01 has ``T = 272 / 7 = 38.86`` weeks at
  ``observation_end = 1997-09-30``, as in Fader, Hardie & Lee's CDNOW data). With the project's
  exclusive ``as_of`` convention this is ``observation_end = as_of - 1 day``.
* Purchase days are UTC calendar days of ``date_col``.
* ``monetary_value`` is the mean value of the repeat purchase days (value summed per day, the
  first purchase day excluded), 0 when ``frequency == 0``.
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pandas as pd

from crm_research.engine import engine_function
from crm_research.errors import CRMError, ParameterError

__all__ = ["rfm_summary", "calibration_holdout_summary", "TIME_UNITS"]

TIME_UNITS = {"D": 1.0, "W": 7.0}
"""Days per model time unit."""


def _day_literal(value) -> int:
    """Epoch day number (days since 1970-01-01) of a date-like value (UTC calendar day)."""
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return int((ts.normalize() - pd.Timestamp("1970-01-01")).days)


_MONEY = dt.Decimal(38, 6)


@ibis.udf.agg.builtin(name="min_by")
def _min_by(arg: _MONEY, key: dt.int64) -> _MONEY:
    """Value of ``arg`` at the smallest ``key`` (DuckDB ``arg_min``, Spark ``min_by``).

    Ibis' own ``argmin`` compiles to an ordered aggregate (``FIRST(x ORDER BY k)``), which
    sorts every group; this native aggregate is a single pass.
    """


def _check_columns(t: ir.Table, table: str, cols: dict[str, str | None]) -> None:
    missing = {arg: c for arg, c in cols.items() if c is not None and c not in t.columns}
    if missing:
        detail = ", ".join(f"{arg}={c!r}" for arg, c in missing.items())
        raise CRMError(
            f"table {table!r} has no column(s) {detail}; it has {list(t.columns)}. "
            "Pass the right *_col argument or rename the column."
        )


def _unit_factor(time_unit: str) -> float:
    if time_unit not in TIME_UNITS:
        raise ParameterError(f"time_unit must be one of {sorted(TIME_UNITS)}, got {time_unit!r}")
    return TIME_UNITS[time_unit]


def _epoch_day(col: ir.Value) -> ir.IntegerValue:
    """Integer UTC day number of a date or timestamp column."""
    if col.type().is_date():
        return col.epoch_days()
    if col.type().is_timestamp():
        return col.date().epoch_days()
    raise CRMError(
        f"column {col.get_name()!r} must hold dates or timestamps, got {col.type()}: "
        "parse it first (pandas.to_datetime)"
    )


def _purchase_days(t: ir.Table, customer_col: str, date_col: str, value_col: str | None,
                   status_col: str | None, statuses: tuple[str, ...], max_day: int) -> ir.Table:
    """One row per customer and purchase day: ``customer_id``, ``day`` (epoch day), ``value``."""
    if status_col is not None and status_col in t.columns:
        t = t.filter(t[status_col].isin(list(statuses)))
    day = _epoch_day(t[date_col])
    # DECIMAL sums are exact, hence identical whatever order the engine's threads add rows in
    value = t[value_col].cast(_MONEY) if value_col is not None else ibis.literal(0).cast(_MONEY)
    t = t.select(customer_id=t[customer_col], day=day, value=value)
    t = t.filter(t.day.notnull() & t.customer_id.notnull() & (t.day <= max_day))
    return t.group_by(["customer_id", "day"]).aggregate(value=t.value.sum())


def _summarise_days(days: ir.Table, end_day: int, factor: float, with_value: bool) -> ir.Table:
    g = days.group_by("customer_id").aggregate(
        n_days=days.count(),
        first_day=days.day.min(),
        last_day=days.day.max(),
        total=days.value.sum(),
        first_value=_min_by(days.value, days.day),
    )
    frequency = (g.n_days - 1).cast("int64")
    cols = {
        "customer_id": g.customer_id,
        "frequency": frequency,
        "recency": (g.last_day - g.first_day).cast("float64") / factor,
        "T": (ibis.literal(end_day) - g.first_day).cast("float64") / factor,
    }
    if with_value:
        repeat_total = (g.total - g.first_value).cast("float64")
        cols["monetary_value"] = ibis.ifelse(
            frequency > 0, repeat_total / frequency.cast("float64"), ibis.literal(0.0)
        )
    return g.select(**cols)


@engine_function("transactions")
def rfm_summary(
    transactions,
    customer_col: str = "customer_id",
    date_col: str = "ordered_at",
    value_col: str | None = "amount",
    observation_end=None,
    time_unit: str = "D",
    *,
    status_col: str | None = "status",
    statuses: tuple[str, ...] = ("completed",),
):
    """Frequency, recency, T and monetary value per customer (the BTYD summary).

    Parameters
    ----------
    transactions : DataFrame or ibis.Table
        Transaction log, one row per transaction (order).
    customer_col, date_col, value_col : str
        Columns of the customer id, the transaction date or timestamp (UTC) and its value
        (currency). ``value_col=None`` omits ``monetary_value``.
    observation_end : date-like
        Last calendar day of the observation period, **inclusive** (UTC). Later transactions
        are ignored. Required.
    time_unit : {"D", "W"}
        Unit of ``recency`` and ``T``: days, or weeks of 7 days.
    status_col : str or None
        When this column exists only rows whose status is in ``statuses`` count (the
        synthetic orders' ``status``); ``None`` counts every row.
    statuses : tuple of str
        Statuses that count as a purchase.

    Returns
    -------
    DataFrame or ibis.Table
        One row per customer with a purchase on or before ``observation_end``, sorted by
        ``customer_id``: ``frequency`` (repeat purchase days = distinct purchase days - 1),
        ``recency`` (first to last purchase day, ``time_unit``), ``T`` (first purchase day to
        ``observation_end``, ``time_unit``), ``monetary_value`` (currency, mean value of the
        repeat purchase days; 0 when ``frequency == 0``).
    """
    factor = _unit_factor(time_unit)
    if observation_end is None:
        raise ParameterError("rfm_summary needs observation_end (the last day observed, inclusive)")
    _check_columns(transactions, "transactions",
                   {"customer_col": customer_col, "date_col": date_col, "value_col": value_col})
    end_day = _day_literal(observation_end)
    days = _purchase_days(transactions, customer_col, date_col, value_col, status_col, statuses, end_day)
    return _summarise_days(days, end_day, factor, value_col is not None).order_by("customer_id")


@engine_function("transactions")
def calibration_holdout_summary(
    transactions,
    customer_col: str = "customer_id",
    date_col: str = "ordered_at",
    value_col: str | None = "amount",
    calibration_end=None,
    observation_end=None,
    time_unit: str = "D",
    *,
    status_col: str | None = "status",
    statuses: tuple[str, ...] = ("completed",),
):
    """The BTYD summary of a calibration period and the purchases of the holdout period after it.

    Parameters
    ----------
    transactions, customer_col, date_col, value_col, time_unit, status_col, statuses
        As in :func:`rfm_summary`.
    calibration_end : date-like
        Last day of the calibration period, inclusive (UTC).
    observation_end : date-like
        Last day of the holdout period, inclusive; after ``calibration_end``.

    Returns
    -------
    DataFrame or ibis.Table
        Customers with a purchase on or before ``calibration_end``: the calibration summary
        (``frequency``, ``recency``, ``T``, ``monetary_value`` as in :func:`rfm_summary`) and
        ``frequency_holdout`` (purchase days in the holdout period), ``monetary_value_holdout``
        (currency, mean value of those days, 0 when none), ``duration_holdout`` (length of the
        holdout period, ``time_unit``). Sorted by ``customer_id``.
    """
    factor = _unit_factor(time_unit)
    if calibration_end is None or observation_end is None:
        raise ParameterError("calibration_holdout_summary needs calibration_end and observation_end")
    cal_day, end_day = _day_literal(calibration_end), _day_literal(observation_end)
    if end_day <= cal_day:
        raise ParameterError(
            f"observation_end ({observation_end}) must be after calibration_end ({calibration_end})"
        )
    _check_columns(transactions, "transactions",
                   {"customer_col": customer_col, "date_col": date_col, "value_col": value_col})
    with_value = value_col is not None
    days = _purchase_days(transactions, customer_col, date_col, value_col, status_col, statuses, end_day)
    cal = _summarise_days(days.filter(days.day <= cal_day), cal_day, factor, with_value)
    hold = days.filter((days.day > cal_day) & (days.day <= end_day))
    h = hold.group_by("customer_id").aggregate(
        frequency_holdout=hold.count().cast("int64"),
        monetary_value_holdout=(hold.value.sum().cast("float64") / hold.count().cast("float64")),
    ).rename(hid="customer_id")
    j = cal.left_join(h, cal.customer_id == h.hid)
    out = {c: j[c] for c in cal.columns}
    out["frequency_holdout"] = j.frequency_holdout.fill_null(0)
    if with_value:
        out["monetary_value_holdout"] = j.monetary_value_holdout.fill_null(0.0)
    out["duration_holdout"] = ibis.literal(float(end_day - cal_day) / factor)
    return j.select(**out).order_by("customer_id")

