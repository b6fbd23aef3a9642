"""Shared plumbing of the journey module: input checks and the path-ordered event table.

Every row-level journey helper works on one internal, path-ordered view of the event log
(:func:`base`), with fixed internal column names so user column names never clash:

* ``_jp``: the path key (a customer, a session, ...), rows whose path is null are dropped;
* ``_jt``: the event timestamp (UTC);
* ``_ju``: the same instant as integer microseconds since 1970 (cheap to sort, subtract and
  compare: DuckDB's ``epoch_us``; other engines: whole seconds × 10⁶);
* ``_je``: the event name (string);
* ``_jr``: the tie-break of equal timestamps: the input row number for pandas input (added by
  :func:`prepare`) or the ``row_col`` column of an engine table; an engine table given without
  ``row_col`` that has a :data:`JOURNEY_ORDER` column (what
  :func:`~crm_research.journey.prepare_events` adds) is ordered by it. Without either (an
  engine table has no input order) equal timestamps are ordered by event name.

Events of a path are ordered by ``(_ju, _jr)``, or ``(_ju, _je)`` without ``_jr``
(:func:`order_names`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from crm_research.engine import is_lazy, on_duckdb
from crm_research.errors import CRMError, ParameterError
from crm_research.exprs import require_columns

P, T, U, E, R = "_jp", "_jt", "_ju", "_je", "_jr"
ROW = "_jr"
"""Name of the input row-number column :func:`prepare` adds to pandas input."""
JOURNEY_ORDER = "journey_order"
"""Column of an engine event log giving its journey order (ties of equal timestamps), used when no
``row_col`` is given: :func:`~crm_research.journey.prepare_events` adds it."""


def as_list(value: str | Sequence[str] | None) -> list[str]:
    """``None`` → ``[]``, a string → ``[string]``, a sequence → list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def columns_of(events) -> list[str]:
    return list(events.columns)


def check_columns(events, table: str, cols: dict[str, str | None]) -> None:
    """Raise :class:`CRMError` naming every ``*_col`` argument whose column is missing.

    The missing-column check is :func:`crm_research.exprs.require_columns`; this adds the journey's
    own rule: no input column may start with ``_j`` (the internal columns' prefix).
    """
    require_columns(events, table, cols, hint="pass the right *_col argument or rename the column")
    internal = [c for c in columns_of(events) if c.startswith("_j")]
    if internal:
        raise CRMError(
            f"table {table!r} has column(s) {sorted(internal)} whose names start with '_j', "
            "which the journey module reserves for internal columns: rename them."
        )


def _rows(mask: np.ndarray, index: pd.Index) -> list:
    return list(index[np.flatnonzero(mask)[:5]])


def prepare(events, table: str, cols: dict[str, str | None], row_col: str | None = None, *,
            keep: Iterable[str] | None = None, required: Iterable[str] = ()) -> tuple:
    """Validate the event log and give it an explicit row order.

    Parameters
    ----------
    events : DataFrame or ibis.Table
        The event log.
    table : str
        Its name in error messages.
    cols : dict
        ``{argument name: column}`` of the columns used (``None`` entries are skipped). The
        argument named ``time_col`` must hold timestamps.
    row_col : str, optional
        Column giving the input order (tie-break of equal timestamps).
    keep : iterable of str, optional
        Columns to keep for pandas input (default: the used columns); ``"*"`` keeps all.
    required : iterable of str
        Argument names (keys of ``cols``) whose column must not hold nulls.

    Returns
    -------
    (table, row_col)
        Pandas input comes back as a new, slim DataFrame with the input row number in
        :data:`ROW` (``row_col`` is then :data:`ROW` unless given) and times in UTC, truncated
        to whole microseconds (the engine's resolution); an engine table passes
        through unchanged (``row_col``, if not given, is then its :data:`JOURNEY_ORDER` column
        when it has one).
    """
    cols = {k: v for k, v in cols.items() if v is not None}
    check_columns(events, table, {**cols, "row_col": row_col})
    time_col = cols.get("time_col")
    if is_lazy(events):
        if row_col is None and JOURNEY_ORDER in events.columns:
            row_col = JOURNEY_ORDER
        if time_col is not None and not events[time_col].type().is_timestamp():
            raise CRMError(
                f"table {table!r}: column {time_col!r} (time_col) must hold timestamps, got "
                f"{events[time_col].type()}; cast it first"
            )
        return events, row_col
    if not isinstance(events, pd.DataFrame):
        raise CRMError(f"table {table!r} must be a pandas DataFrame or an ibis Table, got "
                       f"{type(events).__name__}")
    if keep == "*":
        names = list(events.columns)
    else:
        names = list(dict.fromkeys([*cols.values(), *(keep or ()), *([row_col] if row_col else [])]))
    # numpy columns as their arrays: a DataFrame built from ``.array`` (a NumpyExtensionArray)
    # looks for nulls in every object column first (1M events: 0.06 s a column)
    data = {c: events[c].to_numpy() if isinstance(events[c].dtype, np.dtype) else events[c].array
            for c in names}
    if time_col is not None:
        tcol = events[time_col]
        if not pd.api.types.is_datetime64_any_dtype(tcol):
            raise CRMError(
                f"table {table!r}: column {time_col!r} (time_col) must hold timestamps, got "
                f"dtype {tcol.dtype}; parse it first (pandas.to_datetime(..., utc=True))"
            )
        if tcol.isna().any():
            raise CRMError(
                f"table {table!r}: column {time_col!r} has {int(tcol.isna().sum())} missing "
                f"timestamp(s), e.g. rows {_rows(tcol.isna().to_numpy(), events.index)}; drop or "
                "fill them"
            )
        if tcol.dt.tz is None:
            tcol = tcol.dt.tz_localize("UTC")
        elif str(tcol.dt.tz) != "UTC":
            tcol = tcol.dt.tz_convert("UTC")
        if getattr(tcol.array, "unit", "ns") == "ns" and (np.asarray(tcol.array.asi8) % 1000).any():
            tcol = tcol.dt.floor("us")  # the engine keeps microseconds and refuses to drop more
        data[time_col] = tcol.array
    for arg in required:
        c = cols.get(arg)
        if c is not None:
            miss = events[c].isna().to_numpy()
            if miss.any():
                raise CRMError(
                    f"table {table!r}: column {c!r} ({arg}) has {int(miss.sum())} missing "
                    f"value(s), e.g. rows {_rows(miss, events.index)}; drop or fill them"
                )
    out = pd.DataFrame(data, index=pd.RangeIndex(len(events)), copy=False)
    if row_col is None:
        out[ROW] = np.arange(len(out), dtype=np.int64)
        row_col = ROW
    return out, row_col


def for_engine(table):
    """A prepared DataFrame whose text columns are Arrow strings, for a table only the engine reads.

    Handing object columns of Python strings to the engine makes Ibis infer their type value by
    value and convert them again (1M events: about a third of a funnel's CPU time); Arrow
    strings go across as they are. The values and the engine's column types (VARCHAR) are the
    same. Object columns that are not all text (or too big for one Arrow string array) stay as
    they are; an engine table passes through.
    """
    if not isinstance(table, pd.DataFrame):
        return table
    import pyarrow as pa

    data = {}
    for name in table.columns:
        col = table[name]
        if col.dtype == object:
            try:
                col = pd.Series(pd.arrays.ArrowExtensionArray(
                    pa.array(col.to_numpy(), type=pa.string(), from_pandas=True)), index=col.index)
            except (pa.ArrowException, TypeError, ValueError):
                pass
        data[name] = col
    return pd.DataFrame(data, index=table.index, copy=False)


@ibis.udf.scalar.builtin(name="epoch_us")
def _epoch_us(x: dt.Timestamp()) -> dt.int64:  # noqa: ARG001 - DuckDB builtin
    """Microseconds since 1970-01-01 UTC (DuckDB ``epoch_us``)."""


def micros(col: ir.TimestampValue, duckdb: bool) -> ir.IntegerValue:
    """Integer microseconds since 1970 of a timestamp column (whole seconds off DuckDB)."""
    if duckdb:
        return _epoch_us(col)
    return (col.epoch_seconds().cast("int64") * 1_000_000).cast("int64")


@ibis.udf.scalar.builtin(name="make_timestamp")
def _make_timestamp(us: dt.int64) -> dt.Timestamp():  # noqa: ARG001 - DuckDB builtin
    """Naive timestamp of integer microseconds since 1970 (DuckDB ``make_timestamp``)."""


def period_key(us: ir.IntegerValue, col: ir.TimestampValue, period: str, duckdb: bool) -> ir.TimestampValue:
    """A grouping key of the calendar period (UTC) of an instant, cheap to compute per row.

    On DuckDB the period start is truncated from a naive timestamp made of the integer
    microseconds ``us``: ``date_trunc`` of a zoned timestamp goes through ICU's calendar (about
    1 µs a row, measured), the naive one does not. Turn the key of each group into the period
    start with :func:`period_of_key` after aggregating (few rows). Other engines:
    :func:`period_start` of ``col``.
    """
    if period not in PERIODS:
        raise ParameterError(f"period must be one of {sorted(PERIODS)}, got {period!r}")
    if duckdb:
        return _make_timestamp(us).truncate(PERIODS[period])
    return period_start(col, period)


def period_of_key(key: ir.TimestampValue, duckdb: bool) -> ir.TimestampValue:
    """The period start (UTC) of a :func:`period_key` value: what :func:`period_start` gives."""
    return key.cast("timestamp('UTC')") if duckdb else key


def seconds(us: ir.IntegerValue) -> ir.FloatingValue:
    """Microseconds → seconds (float64)."""
    return us.cast("float64") / 1e6


def base(t: ir.Table, *, path_col: str, time_col: str, event_col: str | None,
         row_col: str | None, extra: Iterable[str] = (), events_in: Sequence[str] | None = None
         ) -> ir.Table:
    """The internal view ``_jp, _jt, _ju, _je`` (+ ``_jr``, ``extra``), null paths dropped.

    ``events_in`` keeps only those event names, filtering the source *before* the projection:
    views of different event subsets are then distinct expressions that each scan the source,
    rather than one shared view of every event that the engine would materialise.
    """
    if events_in is not None:
        t = t.filter(t[event_col].cast("string").isin(list(dict.fromkeys(events_in))))
    fields = {
        P: t[path_col],
        T: t[time_col],
        U: micros(t[time_col], on_duckdb(t)),
        E: t[event_col].cast("string") if event_col is not None else ibis.literal(""),
    }
    if row_col is not None:
        fields[R] = t[row_col].cast("int64")
    extra = [c for c in dict.fromkeys(extra) if c not in fields]
    out = t.select(**fields, **{c: t[c] for c in extra})
    return out.filter(out[P].notnull())


def order_names(t: ir.Table) -> list[str]:
    """Columns ordering a path's events: ``[_ju, _jr]``, or ``[_ju, _je]`` without ``_jr``."""
    return [U, R] if R in t.columns else [U, E]


def order_keys(t: ir.Table) -> list:
    return [t[c] for c in order_names(t)]


def path_window(t: ir.Table, **kwargs):
    """Window over each path's events in journey order."""
    return ibis.window(group_by=P, order_by=order_names(t), **kwargs)


def lexi_greater(a: list, b: list) -> ir.BooleanValue:
    """``tuple(a) > tuple(b)`` (lexicographic) for equal-length lists of columns."""
    out = a[-1] > b[-1]
    for x, y in zip(reversed(a[:-1]), reversed(b[:-1]), strict=True):
        out = (x > y) | ((x == y) & out)
    return out


def to_microseconds(value, name: str) -> int:
    """A duration (``"30min"``, ``pandas.Timedelta``, ``datetime.timedelta``) in microseconds."""
    if isinstance(value, bool):
        raise ParameterError(f"{name} must be a duration such as '30min', got {value!r}")
    try:
        if isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError("bare number")
        td = pd.Timedelta(value)
    except (ValueError, TypeError) as exc:
        raise ParameterError(
            f"{name} must be a duration such as '30min', '7D' or pandas.Timedelta(hours=1), "
            f"got {value!r}"
        ) from exc
    if pd.isna(td) or td <= pd.Timedelta(0):
        raise ParameterError(f"{name} must be a positive duration, got {value!r}")
    return int(td.value // 1000)


PERIODS = {"D": "D", "W": "W", "M": "M", "Q": "Q", "Y": "Y"}


def period_start(col: ir.TimestampValue, period: str) -> ir.TimestampValue:
    """Start of the calendar period (UTC) holding ``col``: D, W (Monday), M, Q or Y."""
    if period not in PERIODS:
        raise ParameterError(f"period must be one of {sorted(PERIODS)}, got {period!r}")
    return col.truncate(PERIODS[period])


def check_steps(steps, name: str = "steps", min_len: int = 1) -> list[str]:
    steps = as_list(steps)
    if len(steps) < min_len or not all(isinstance(s, str) and s for s in steps):
        raise ParameterError(f"{name} must be a list of at least {min_len} event name(s), got {steps!r}")
    return steps


# ---------------------------------------------------------------------------------------------
# the same journey order in numpy, for pandas input the engine need not see
# ---------------------------------------------------------------------------------------------


def numpy_micros(times: pd.Series) -> np.ndarray | None:
    """The engine's ``_ju`` of a timestamp column in numpy: integer microseconds since 1970.

    None when the engine must decide: nanosecond times that are not whole microseconds (which
    it refuses; :func:`prepare` truncates them first), or times outside the range of microsecond
    integers (which it refuses too).
    """
    t = times.array
    ticks = np.asarray(t.asi8)
    unit = getattr(t, "unit", "ns")
    if unit == "ns":
        return None if (ticks % 1000).any() else ticks // 1000
    factor = {"us": 1, "ms": 1_000, "s": 1_000_000}[unit]
    if len(ticks) and np.abs(ticks).max() > (2**63 - 1) // factor:
        return None
    return ticks * factor


def text_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """Integer codes (−1 for null) and distinct values of a text column, compared as the engine
    compares its strings; None when a value is not text (the engine's cast to string decides)
    or when pandas cannot tell two values apart (text holding a NUL character)."""
    if not (values.dtype == object or isinstance(values.dtype, (pd.StringDtype, pd.CategoricalDtype))
            or str(values.dtype).startswith("string")):
        return None
    text = np.asarray(values, dtype=object)
    # an object column as its numpy array: the extension array's path looks for nulls apart
    codes, uniques = pd.factorize(text if values.dtype == object else values)
    uniques = np.asarray(uniques, dtype=object)
    if len(uniques) and pd.api.types.infer_dtype(uniques, skipna=False) != "string":
        return None
    # pandas' string hash table compares strings up to their first NUL character ("x" and
    # "x\0y" would become one value): every value must be its code's value again
    known = codes >= 0
    if not (uniques[codes[known]] == text[known]).all():
        return None
    return np.asarray(codes, dtype=np.int64), uniques


def journey_order(prepared: pd.DataFrame, path_col: str, time_col: str, event_col: str,
                  row_col: str | None, events_in: Sequence[str] | None = None) -> dict | None:
    """The internal view of :func:`base` in numpy, in journey order, for :func:`prepare`'s output.

    Returns ``{"path", "micros", "event", "names"}``: per event of a non-null path, sorted by
    path, time (µs) and input row, the path code, the time in microseconds and the event code
    (−1 for a null event) into ``names``; ``events_in`` keeps only those event names (as
    :func:`base` does). None when the engine must decide: a ``row_col`` of the caller's (its
    ties), path keys other than text or integers, event names that are not text,
    :func:`text_codes` or :func:`numpy_micros` declining, or times more than 2⁶³ µs apart.
    """
    if row_col != ROW:
        return None
    path = prepared[path_col]
    if pd.api.types.is_integer_dtype(path.dtype):
        pcodes = np.asarray(pd.factorize(path)[0], dtype=np.int64)
    else:
        got = text_codes(path)
        if got is None:
            return None
        pcodes = got[0]
    ev = text_codes(prepared[event_col])
    us = numpy_micros(prepared[time_col])
    if ev is None or us is None:
        return None
    if len(us) and int(us.max()) - int(us.min()) >= 2**63:  # its gaps overflow: the engine says so
        return None
    keep = pcodes >= 0
    if events_in is not None:
        wanted = set(events_in)
        keep &= np.isin(ev[0], [i for i, name in enumerate(ev[1]) if name in wanted])
    row = np.flatnonzero(keep) if not keep.all() else np.arange(len(pcodes))
    p, u = pcodes[row], us[row]
    order = np.lexsort((row, u, p))  # the row is the input order: ties of equal times
    return {"path": p[order], "micros": u[order], "event": ev[0][row][order], "names": ev[1]}
