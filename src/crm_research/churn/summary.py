"""Per-customer frequency / recency / T / monetary value: the input of the BTYD models.

Written once on the engine layer (Ibis): a transaction log of any size is scanned once in the
engine and one row per customer comes back. Repeat purchases are counted per distinct purchase
*day* (several orders on one day are one purchase occasion), as in Fader & Hardie and the
``lifetimes`` package.

Conventions (those that reproduce the published CDNOW fits, see ``tests/test_churn_btyd.py``):

* ``as_of`` is the analysis date, **exclusive** (the project's convention): transactions
  before it count. The observation period's last day (the papers' "end of the observation
  period", inclusive) is the day before, ``as_of - 1 day``, and ``T`` is measured from the first
  purchase day to that day (a customer whose first purchase was on 1997-01-01 has ``T = 272 / 7
  = 38.86`` weeks at ``as_of = 1997-10-01``, i.e. observed to 1997-09-30 inclusive, as in
  Fader, Hardie & Lee's CDNOW data).
* Purchase days are UTC calendar days of ``date_col``.
* ``monetary_value`` is the mean value of the repeat purchase days (value summed per day, the
  first purchase day excluded), 0 when ``frequency == 0``.

Two routes, one result. An engine table (``ibis.Table``) gets the Ibis expression back, lazy. A
pandas DataFrame takes a NumPy route (:func:`_rfm_frame`) that gives the same bits as that
expression run on DuckDB: the engine's two hash aggregations (rows into customer-days, then
customer-days into customers) cost 93 % of the DuckDB run on string ids, while a log ordered or
grouped by customer needs no hashing at all. Ids are collapsed to runs of equal consecutive
values and only the runs' first ids are sorted (one sort of the distinct customers, not a hash
of every row); distinct purchase days come from one sort of 64-bit ``(customer, day)`` keys;
values are summed exactly as whole millionths (int64), rounded as DuckDB casts a DOUBLE to
``DECIMAL(38, 6)``. Column types the NumPy route does not cover (dates as objects, nullable or
categorical ids, missing values) and amounts whose micro-unit sums could leave int64 go to the
engine.
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crm_research import exprs
from crm_research.engine import engine_function
from crm_research.errors import CRMError, ParameterError

__all__ = ["rfm_summary", "calibration_holdout_summary", "TIME_UNITS"]

TIME_UNITS = {"D": 1.0, "W": 7.0}
"""Days per model time unit."""


def _day_literal(value) -> int:
    """Epoch day number (days since 1970-01-01) of a date-like value (UTC calendar day)."""
    ts = exprs.as_utc_timestamp(value).tz_localize(None)
    return int((ts.normalize() - pd.Timestamp("1970-01-01")).days)


def _last_day(as_of, name: str = "as_of") -> int:
    """Epoch day of the observation period's last day, inclusive: the day before ``as_of``."""
    return _day_literal(exprs.parse_as_of(as_of, name) - pd.Timedelta(days=1))


_MONEY = dt.Decimal(38, 6)


@ibis.udf.agg.builtin(name="min_by")
def _min_by(arg: _MONEY, key: dt.int64) -> _MONEY:
    """Value of ``arg`` at the smallest ``key`` (DuckDB ``arg_min``, Spark ``min_by``).

    Ibis' own ``argmin`` compiles to an ordered aggregate (``FIRST(x ORDER BY k)``), which
    sorts every group; this native aggregate is a single pass.
    """


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
                   status_col: str | None, statuses: tuple[str, ...], as_of, max_day: int) -> ir.Table:
    """One row per customer and purchase day: ``customer_id``, ``day`` (epoch day), ``value``."""
    t = exprs.completed_orders(t, as_of, date_col=date_col, status_col=status_col, statuses=statuses)
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


# ---------------------------------------------------------------------------------------------
# the NumPy route for pandas input: the same numbers as the engine route, without hash tables
# ---------------------------------------------------------------------------------------------
_TICKS_PER_DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}
_NAT = np.iinfo(np.int64).min
_MICRO = 1_000_000
_SUM_LIMIT = float(2**62)  # a bound on summed |micro-units|: int64 sums stay exact below it


def _frame_days(col: pd.Series) -> np.ndarray | None:
    """UTC epoch day of each row of a datetime column (``_NAT`` where missing); None otherwise.

    A tz-aware column holds UTC instants; a naive one is read as UTC, as the engine does.
    """
    dtype = col.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        unit, ticks = dtype.unit, np.asarray(col.array.asi8)
    elif isinstance(dtype, np.dtype) and dtype.kind == "M":
        unit, ticks = np.datetime_data(dtype)[0], col.to_numpy().view(np.int64)
    else:
        return None
    if unit not in _TICKS_PER_DAY:
        return None
    days = ticks // _TICKS_PER_DAY[unit]
    days[ticks == _NAT] = _NAT
    return days


def _micro_units(values: np.ndarray) -> np.ndarray | None:
    """Whole millionths of each value, rounded as DuckDB casts DOUBLE to ``DECIMAL(38, 6)``.

    DuckDB multiplies by 10**6 in double precision and rounds half away from zero (C
    ``round``). None for missing or non-finite values, non-numeric types, or magnitudes whose
    sum could leave int64 (the engine route handles those).
    """
    if values.dtype.kind in "iu":
        if len(values) and float(np.abs(values).max()) * _MICRO * len(values) >= _SUM_LIMIT:
            return None
        return values.astype(np.int64) * _MICRO
    if values.dtype.kind != "f":
        return None
    x = values.astype(np.float64) * _MICRO
    if not np.isfinite(x).all() or (len(x) and float(np.abs(x).max()) * len(x) >= _SUM_LIMIT):
        return None
    whole = np.trunc(x)
    frac = np.abs(np.subtract(x, whole, out=x), out=x)
    whole += np.copysign(frac >= 0.5, values)  # half away from zero, exactly
    return whole.astype(np.int64)


def _run_starts(values) -> np.ndarray:
    """True on the first row and on every row whose value differs from the row before."""
    new = np.empty(len(values), dtype=bool)
    new[:1] = True
    if len(values) > 1:
        if isinstance(values, pa.Array):
            new[1:] = pc.not_equal(values[1:], values[:-1]).to_numpy(zero_copy_only=False)
        else:
            np.not_equal(values[1:], values[:-1], out=new[1:])
    return new


_MISSING = object()  # _dense_codes: some ids are missing


def _positions(order: np.ndarray, first: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    """Each row's position among the sorted distinct ids, from its run's place in the sort.

    ``order`` sorts the runs' first ids, ``first`` marks the first of each distinct id in that
    order, ``starts`` are the runs' first rows and ``n`` the number of rows.
    """
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.cumsum(first, dtype=np.int64) - 1
    return np.repeat(rank, np.diff(starts, append=n))


_PROBE = 4096  # rows looked at to tell a log grouped by customer from a shuffled one


def _short_runs(ids) -> bool:
    """True when the first rows' ids change on nine rows in ten or more (not grouped by customer)."""
    k = min(len(ids), _PROBE)
    return k >= 64 and 10 * int(_run_starts(ids[:k]).sum()) >= 9 * k


def _hashed_codes(heads: pa.Array, starts: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_dense_codes` for short runs (a log not grouped by customer): Arrow's hash table
    finds the distinct ids (3 times cheaper per row than a string sort) and only those are
    sorted. ``starts=None``: ``heads`` are all the rows."""
    encoded = pc.dictionary_encode(heads)
    order = pc.sort_indices(encoded.dictionary).to_numpy()
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    codes = rank[encoded.indices.to_numpy()]
    if starts is not None:
        codes = np.repeat(codes, np.diff(starts, append=n))
    return codes, encoded.dictionary.take(order).to_numpy(zero_copy_only=False)



def _arrow_strings(values: np.ndarray):
    """Object ids as an Arrow string array; None when they are not all text (the engine route
    takes them), ``_MISSING`` when one is missing."""
    try:
        out = pa.array(values, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    return _MISSING if out.null_count else out

def _dense_codes(ids):
    """Sorted distinct ids, and each row's position among them.

    ``ids`` is a NumPy integer array, a NumPy object array of Python ``str`` or an Arrow string
    array without nulls. Rows are collapsed to runs of equal consecutive ids (a log ordered or
    grouped by customer has one run per customer) and only the runs' first ids are sorted: no
    hash table of the ids is built. When runs are short (the first rows' ids change on nine
    rows in ten, or there are more runs than half the rows) string ids go through
    :func:`_hashed_codes` instead. Strings sort by code point (Arrow's byte order of UTF-8), as
    DuckDB orders VARCHAR.

    Returns
    -------
    (codes, uniques), None when the objects are not all ``str`` (the engine route decides), or
    ``_MISSING`` when an object id is missing (``pd.NA`` refuses the comparison, and every
    missing value becomes an Arrow null).
    """
    is_int = isinstance(ids, np.ndarray) and ids.dtype.kind in "iu"
    try:
        if not is_int and _short_runs(ids):
            new = None
        else:
            new = _run_starts(ids)
    except TypeError:  # pd.NA
        return _MISSING
    if new is None:
        if isinstance(ids, np.ndarray):
            ids = _arrow_strings(ids)
            if ids is None or ids is _MISSING:
                return ids
        return _hashed_codes(ids, None, len(ids))
    starts = np.flatnonzero(new)
    if is_int:
        heads = ids[starts]
        order = np.argsort(heads, kind="stable")
        sorted_heads = heads[order]
        first = _run_starts(sorted_heads)
        uniques = sorted_heads[first]
    elif isinstance(ids, np.ndarray):
        heads = ids[starts]
        arrow_heads = _arrow_strings(heads)
        if arrow_heads is None or arrow_heads is _MISSING:
            return arrow_heads
        if 2 * len(starts) > len(ids):
            return _hashed_codes(arrow_heads, starts, len(ids))
        order = pc.sort_indices(arrow_heads).to_numpy()
        first = _run_starts(arrow_heads.take(order))
        uniques = heads[order][first]  # the caller's str objects, none made anew
    else:
        heads = ids.take(starts)
        if 2 * len(starts) > len(ids):
            return _hashed_codes(heads, starts, len(ids))
        order = pc.sort_indices(heads).to_numpy()
        sorted_heads = heads.take(order)
        first = _run_starts(sorted_heads)
        uniques = sorted_heads.filter(pa.array(first)).to_numpy(zero_copy_only=False)
    return _positions(order, first, starts, len(ids)), uniques


def _frame_ids(col: pd.Series, keep: np.ndarray):
    """The id column as an integer array, an array of Python str or an Arrow string array.

    Clears ``keep`` where an Arrow id is missing (missing ids in object arrays are found later,
    by :func:`_dense_codes`). None for other types (the engine route).
    """
    dtype = col.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return col.to_numpy()
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "python":
        return np.asarray(col.array)
    if isinstance(dtype, np.dtype) and dtype.kind == "O":
        return col.to_numpy()
    if isinstance(dtype, pd.StringDtype) or (
            isinstance(dtype, pd.ArrowDtype) and (pa.types.is_string(dtype.pyarrow_dtype)
                                                  or pa.types.is_large_string(dtype.pyarrow_dtype))):
        arr = pa.array(col.array)
        arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
        if arr.null_count:
            keep &= ~arr.is_null().to_numpy(zero_copy_only=False)
        return arr
    return None


def _take(values, keep: np.ndarray):
    return values.filter(pa.array(keep)) if isinstance(values, pa.Array) else values[keep]


def _frame_rows(df: pd.DataFrame, customer_col: str, date_col: str, value_col: str | None,
                status_col: str | None, statuses: tuple[str, ...], max_day: int):
    """Counted rows of a DataFrame: (customer codes, sorted ids, epoch days, micro-units or None).

    Rows kept as in :func:`_purchase_days`: status in ``statuses`` (when the column exists),
    id and date present, day on or before ``max_day``. None when a column's type is not one
    the NumPy route reproduces exactly, or when no row is left (the engine route decides).
    """
    days = _frame_days(df[date_col])
    if days is None:
        return None
    keep = (days != _NAT) & (days <= max_day)
    if status_col is not None and status_col in df.columns:
        keep &= df[status_col].isin(list(statuses)).to_numpy(dtype=bool)
    ids = _frame_ids(df[customer_col], keep)
    if ids is None:
        return None
    values = None
    if value_col is not None:
        values = df[value_col].to_numpy()
        if not isinstance(values, np.ndarray) or values.dtype.kind not in "iuf":
            return None
    if not keep.any():
        return None
    if not keep.all():
        ids, days = _take(ids, keep), days[keep]
        values = values[keep] if values is not None else None
    micro = _micro_units(values) if values is not None else None
    if values is not None and micro is None:
        return None
    coded = _dense_codes(ids)
    if coded is _MISSING:  # drop the rows without an id
        present = ~pd.isna(ids)
        if not present.any():
            return None
        ids, days = ids[present], days[present]
        micro = micro[present] if micro is not None else None
        coded = _dense_codes(ids)
    if coded is None or coded is _MISSING:
        return None
    codes, uniques = coded
    return codes, uniques, days, micro


def _per_customer(codes: np.ndarray, days: np.ndarray, micro: np.ndarray | None, n: int,
                  first_value: bool = True) -> dict:
    """Distinct purchase days, first and last day, value total and first-day value per customer.

    One sort of the 64-bit keys ``code * span + day`` gives the distinct (customer, day) pairs
    in customer then day order; values are summed per customer as int64 micro-units (exact).
    Customers without a row get ``n_days = 0`` and a total of 0 (their days are meaningless).
    """
    zeros = np.zeros(n, dtype=np.int64)
    if len(codes) == 0:
        out = {"n_days": zeros, "first_day": zeros, "last_day": zeros}
        return out if micro is None else {**out, "total": zeros, "first_value": zeros}
    lo = int(days.min())
    span = int(days.max()) - lo + 1
    if n * span >= 2**62:
        raise OverflowError("customer-day keys do not fit in int64")
    key = codes * span
    key += days - lo
    key.sort()
    pairs = key[_run_starts(key)]
    pair_customer = pairs // span
    n_days = np.bincount(pair_customer, minlength=n)
    last = np.cumsum(n_days) - 1
    first = np.clip(last - n_days + 1, 0, len(pairs) - 1)
    last = np.maximum(last, 0)
    first_day = pairs[first] - pair_customer[first] * span + lo
    last_day = pairs[last] - pair_customer[last] * span + lo
    out = {"n_days": n_days, "first_day": first_day, "last_day": last_day}
    if micro is not None:
        total = zeros.copy()
        np.add.at(total, codes, micro)
        out["total"] = total
        if first_value:
            on_first = days == first_day[codes]
            out["first_value"] = zeros.copy()
            np.add.at(out["first_value"], codes[on_first], micro[on_first])
    return out


def _summary_columns(p: dict, end_day: int, factor: float) -> dict:
    """The columns of :func:`_summarise_days`, with DuckDB's arithmetic (float64 throughout)."""
    frequency = (p["n_days"] - 1).astype(np.int64)
    cols = {
        "frequency": frequency,
        "recency": (p["last_day"] - p["first_day"]).astype(np.float64) / factor,
        "T": (end_day - p["first_day"]).astype(np.float64) / factor,
    }
    if "total" in p:
        repeat_total = (p["total"] - p["first_value"]).astype(np.float64) / _MICRO
        monetary = np.zeros(len(frequency), dtype=np.float64)
        np.divide(repeat_total, frequency.astype(np.float64), out=monetary, where=frequency > 0)
        cols["monetary_value"] = monetary
    return cols


def _rfm_frame(df: pd.DataFrame, customer_col: str, date_col: str, value_col: str | None,
               end_day: int, factor: float, status_col: str | None,
               statuses: tuple[str, ...]) -> pd.DataFrame | None:
    """:func:`rfm_summary` of a DataFrame on NumPy; None to let the engine route do it."""
    rows = _frame_rows(df, customer_col, date_col, value_col, status_col, statuses, end_day)
    if rows is None:
        return None
    codes, uniques, days, micro = rows
    try:
        p = _per_customer(codes, days, micro, len(uniques))
    except OverflowError:
        return None
    return pd.DataFrame({"customer_id": uniques, **_summary_columns(p, end_day, factor)})


def _rfm_args(transactions, customer_col, date_col, value_col, as_of, time_unit):
    factor = _unit_factor(time_unit)
    end_day = _last_day(as_of)
    exprs.require_columns(transactions, "transactions",
                          {"customer_col": customer_col, "date_col": date_col, "value_col": value_col})
    return factor, end_day


def _rfm_engine(transactions, as_of=None, *, customer_col: str = "customer_id", date_col: str = "ordered_at",
                value_col: str | None = "amount", time_unit: str = "D",
                status_col: str | None = "status", statuses: tuple[str, ...] = ("completed",)):
    """:func:`rfm_summary` on an Ibis table (lazy)."""
    factor, end_day = _rfm_args(transactions, customer_col, date_col, value_col, as_of, time_unit)
    days = _purchase_days(transactions, customer_col, date_col, value_col, status_col, statuses, as_of, end_day)
    return _summarise_days(days, end_day, factor, value_col is not None).order_by("customer_id")


_rfm_on_engine = engine_function("transactions")(_rfm_engine)


def rfm_summary(
    transactions,
    as_of,
    *,
    customer_col: str = "customer_id",
    date_col: str = "ordered_at",
    value_col: str | None = "amount",
    time_unit: str = "D",
    status_col: str | None = "status",
    statuses: tuple[str, ...] = ("completed",),
):
    """Frequency, recency, T and monetary value per customer (the BTYD summary).

    Parameters
    ----------
    transactions : DataFrame or ibis.Table
        Transaction log, one row per transaction (order).
    as_of : date-like
        Analysis date (UTC, **exclusive**): transactions before it count. ``T`` runs to the
        day before, the last day observed (the papers' inclusive end of the observation
        period). Required.
    customer_col, date_col, value_col : str
        Columns of the customer id, the transaction date or timestamp (UTC) and its value
        (currency). ``value_col=None`` omits ``monetary_value``.
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
        One row per customer with a purchase before ``as_of``, sorted by ``customer_id``:
        ``frequency`` (repeat purchase days = distinct purchase days - 1), ``recency`` (first to
        last purchase day, ``time_unit``), ``T`` (first purchase day to the day before
        ``as_of``, ``time_unit``), ``monetary_value`` (currency, mean value of the repeat
        purchase days; 0 when ``frequency == 0``). A DataFrame in gives a DataFrame out (ids as
        the engine returns them: integers keep their dtype, strings come back as Python ``str``
        objects); an engine table gives a lazy engine table.

    Notes
    -----
    A DataFrame with integer or string ids, datetime dates and numeric values without missing
    values is summarised on NumPy (see the module docstring), with the same bits as the engine
    route (timings against lifetimes and pymc-marketing: benchmarks/results.md). Other
    DataFrames run on the implicit DuckDB connection.

    Examples
    --------
    >>> import pandas as pd
    >>> tx = pd.DataFrame({"customer_id": ["a", "a", "a", "b"],
    ...                    "ordered_at": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-11",
    ...                                                  "2024-01-05"], utc=True),
    ...                    "amount": [10.0, 5.0, 20.0, 7.0]})
    >>> rfm_summary(tx, as_of="2024-02-01", status_col=None)
      customer_id  frequency  recency     T  monetary_value
    0           a          1     10.0  30.0            20.0
    1           b          0      0.0  26.0             0.0
    """
    kw = dict(customer_col=customer_col, date_col=date_col, value_col=value_col, time_unit=time_unit,
              status_col=status_col, statuses=statuses)
    if isinstance(transactions, pd.DataFrame):
        factor, end_day = _rfm_args(transactions, customer_col, date_col, value_col, as_of, time_unit)
        out = _rfm_frame(transactions, customer_col, date_col, value_col, end_day, factor, status_col,
                         tuple(statuses))
        if out is not None:
            return out
    return _rfm_on_engine(transactions, as_of, **kw)


rfm_summary.__wrapped_engine__ = _rfm_engine


def _calibration_args(transactions, customer_col, date_col, value_col, calibration_as_of, as_of, time_unit):
    factor = _unit_factor(time_unit)
    cal_day, end_day = _last_day(calibration_as_of, "calibration_as_of"), _last_day(as_of)
    if end_day <= cal_day:
        raise ParameterError(
            f"as_of ({as_of}) must be at least a day after calibration_as_of ({calibration_as_of}): "
            "the holdout period runs from calibration_as_of to as_of"
        )
    exprs.require_columns(transactions, "transactions",
                          {"customer_col": customer_col, "date_col": date_col, "value_col": value_col})
    return factor, cal_day, end_day


def _calibration_engine(transactions, calibration_as_of=None, as_of=None, *, customer_col: str = "customer_id",
                        date_col: str = "ordered_at", value_col: str | None = "amount",
                        time_unit: str = "D", status_col: str | None = "status",
                        statuses: tuple[str, ...] = ("completed",)):
    """:func:`calibration_holdout_summary` on an Ibis table (lazy)."""
    factor, cal_day, end_day = _calibration_args(transactions, customer_col, date_col, value_col,
                                                 calibration_as_of, as_of, time_unit)
    with_value = value_col is not None
    days = _purchase_days(transactions, customer_col, date_col, value_col, status_col, statuses, as_of, end_day)
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


_calibration_on_engine = engine_function("transactions")(_calibration_engine)


def _calibration_frame(df: pd.DataFrame, customer_col: str, date_col: str, value_col: str | None,
                       cal_day: int, end_day: int, factor: float, status_col: str | None,
                       statuses: tuple[str, ...]) -> pd.DataFrame | None:
    """:func:`calibration_holdout_summary` of a DataFrame on NumPy; None for the engine route."""
    rows = _frame_rows(df, customer_col, date_col, value_col, status_col, statuses, end_day)
    if rows is None:
        return None
    codes, uniques, days, micro = rows
    n = len(uniques)
    cal = days <= cal_day
    hold = ~cal
    try:
        c = _per_customer(codes[cal], days[cal], None if micro is None else micro[cal], n)
        h = _per_customer(codes[hold], days[hold], None if micro is None else micro[hold], n,
                          first_value=False)
    except OverflowError:
        return None
    seen = c["n_days"] > 0
    if not seen.any():
        return None
    cols = {"customer_id": uniques[seen],
            **_summary_columns({k: v[seen] for k, v in c.items()}, cal_day, factor)}
    n_hold = h["n_days"][seen]
    cols["frequency_holdout"] = n_hold.astype(np.int64)
    if micro is not None:
        value_hold = np.zeros(len(n_hold), dtype=np.float64)
        np.divide(h["total"][seen].astype(np.float64) / _MICRO, n_hold.astype(np.float64), out=value_hold,
                  where=n_hold > 0)
        cols["monetary_value_holdout"] = value_hold
    cols["duration_holdout"] = np.full(len(n_hold), float(end_day - cal_day) / factor)
    return pd.DataFrame(cols)


def calibration_holdout_summary(
    transactions,
    calibration_as_of,
    as_of,
    *,
    customer_col: str = "customer_id",
    date_col: str = "ordered_at",
    value_col: str | None = "amount",
    time_unit: str = "D",
    status_col: str | None = "status",
    statuses: tuple[str, ...] = ("completed",),
):
    """The BTYD summary of a calibration period and the purchases of the holdout period after it.

    Parameters
    ----------
    transactions, customer_col, date_col, value_col, time_unit, status_col, statuses
        As in :func:`rfm_summary`.
    calibration_as_of : date-like
        End of the calibration period, exclusive (UTC): the holdout period starts that day.
        Required.
    as_of : date-like
        End of the holdout period, exclusive (UTC); at least a day after ``calibration_as_of``.
        Required.

    Returns
    -------
    DataFrame or ibis.Table
        Customers with a purchase before ``calibration_as_of``: the calibration summary
        (``frequency``, ``recency``, ``T`` as in :func:`rfm_summary` at ``calibration_as_of``,
        ``monetary_value``) and ``frequency_holdout`` (purchase days in the holdout period),
        ``monetary_value_holdout`` (currency, mean value of those days, 0 when none),
        ``duration_holdout`` (length of the holdout period, ``time_unit``). Sorted by
        ``customer_id``.

    Examples
    --------
    >>> tx = pd.DataFrame({"customer_id": [1, 1, 1, 2],
    ...                    "ordered_at": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-01-20",
    ...                                                  "2024-01-03"], utc=True),
    ...                    "amount": [10.0, 20.0, 30.0, 5.0]})
    >>> calibration_holdout_summary(tx, "2024-01-11", "2024-02-01", status_col=None)[
    ...     ["customer_id", "frequency", "T", "frequency_holdout", "duration_holdout"]]
       customer_id  frequency     T  frequency_holdout  duration_holdout
    0            1          1   9.0                  1              21.0
    1            2          0   7.0                  0              21.0
    """
    kw = dict(customer_col=customer_col, date_col=date_col, value_col=value_col, time_unit=time_unit,
              status_col=status_col, statuses=statuses)
    if isinstance(transactions, pd.DataFrame):
        factor, cal_day, end_day = _calibration_args(transactions, customer_col, date_col, value_col,
                                                     calibration_as_of, as_of, time_unit)
        out = _calibration_frame(transactions, customer_col, date_col, value_col, cal_day, end_day, factor,
                                 status_col, tuple(statuses))
        if out is not None:
            return out
    return _calibration_on_engine(transactions, calibration_as_of, as_of, **kw)


calibration_holdout_summary.__wrapped_engine__ = _calibration_engine
