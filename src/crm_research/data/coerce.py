"""Explicit conversion of raw columns (CSV text, Parquet or user frames) to canonical dtypes.

Every function returns the converted values together with a boolean mask of the cells that
were present but did not convert; those cells become missing in the values, and the loader
reports them (with the original text) as ``wrong_type`` or ``unparseable_date`` problems.

Conventions
-----------
* ``id`` and ``str`` -> pandas ``string``. Integral numbers become their digits (``12.0`` ->
  ``"12"``); text is kept verbatim, so leading zeros of a CSV survive.
* ``int`` -> ``Int64`` (the loader narrows non-nullable columns to ``int64`` once valid);
  ``float`` -> ``float64``. Text is parsed with :func:`pandas.to_numeric`; non-finite numbers
  and, for ``int``, non-whole numbers do not convert.
* ``datetime`` -> ``datetime64[ns, UTC]``. Text is ISO 8601 unless a format is given.
  Values with a UTC offset (``Z``, ``+02:00``) are converted to UTC; naive values are local
  time in ``timezone`` (ambiguous autumn times take the first, summer-time instant; times
  skipped in spring move forward to the first valid instant), then converted to UTC.
* ``date`` -> UTC midnight of the calendar day; a time of day is dropped. An aware value
  counts for its calendar day in ``timezone``.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from crm_research.data.model import Column

__all__ = ["coerce_column"]

_UTC_NS = "datetime64[ns, UTC]"
# A UTC offset written after a time of day: "10:00Z", "10:00:00+02:00", "10:00 -0500".
_OFFSET = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[Zz]|UTC|[+-]\d{2}(?::?\d{2})?)$")
_NOT_TEXT = "\x00not a date\x00"


def coerce_column(
    series: pd.Series,
    column: Column,
    *,
    timezone: str = "UTC",
    date_format: str | None = None,
    decimal: str = ".",
) -> tuple[pd.Series, np.ndarray]:
    """Convert one raw column to the dtype of its model declaration.

    Parameters
    ----------
    series : pandas.Series
        Raw values (text from a CSV, or any dtype from Parquet or a user frame).
    column : Column
        Model declaration giving the kind.
    timezone : str
        IANA time zone of naive timestamps.
    date_format : str, optional
        :func:`~datetime.datetime.strptime` format of textual dates; default ISO 8601.
    decimal : str
        Decimal mark of textual numbers.

    Returns
    -------
    values : pandas.Series
        Same index and name, canonical dtype (``Int64`` for every ``int`` column); cells that
        did not convert are missing.
    failed : numpy.ndarray of bool
        True where the raw value was present but did not convert.
    """
    kind = column.kind
    if kind in ("id", "str"):
        values = _to_ids(series) if kind == "id" else series.astype("string")
        return values, np.zeros(len(series), dtype=bool)
    if kind in ("int", "float"):
        return _to_numbers(series, integer=kind == "int", decimal=decimal)
    if kind in ("datetime", "date"):
        return _to_datetimes(series, day=kind == "date", timezone=timezone, fmt=date_format)
    raise ValueError(f"column {column.name!r} has unknown kind {kind!r}")


def _all_text(obj: pd.Series) -> bool:
    """True when every present value of an object series is a ``str`` (fast path)."""
    return ptypes.infer_dtype(obj, skipna=True) in ("string", "empty")


def _id_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _to_ids(series: pd.Series) -> pd.Series:
    if isinstance(series.dtype, pd.StringDtype):
        return series.astype("string")
    if ptypes.is_integer_dtype(series.dtype) and not ptypes.is_bool_dtype(series.dtype):
        return series.astype("string")
    obj = series.astype(object)
    if _all_text(obj):
        return obj.astype("string")
    return obj.map(_id_text, na_action="ignore").astype("string")


def _to_numbers(series: pd.Series, *, integer: bool, decimal: str) -> tuple[pd.Series, np.ndarray]:
    present = series.notna().to_numpy()
    if ptypes.is_numeric_dtype(series.dtype) and not ptypes.is_bool_dtype(series.dtype):
        raw = series
    else:
        obj = series.astype(object)
        if not _all_text(obj):
            # Booleans and other objects are not numbers: only text and real numbers parse.
            obj = obj.map(lambda v: v if isinstance(v, (str, int, float, np.integer, np.floating))
                          and not isinstance(v, (bool, np.bool_)) else _NOT_TEXT,
                          na_action="ignore")
        if decimal != ".":
            obj = obj.map(lambda v: v.replace(decimal, ".") if isinstance(v, str) else v,
                          na_action="ignore")
        raw = pd.to_numeric(obj, errors="coerce")
    if integer and ptypes.is_integer_dtype(raw.dtype):
        return raw.astype("Int64").rename(series.name), np.zeros(len(series), dtype=bool)
    floats = raw.astype("float64").to_numpy()
    ok = np.isfinite(floats)
    if integer:
        ok &= np.floor(np.where(ok, floats, 0.0)) == np.where(ok, floats, 0.0)
    failed = present & ~ok
    floats = np.where(ok, floats, np.nan)
    values = pd.Series(floats, index=series.index, name=series.name)
    return (values.astype("Int64") if integer else values), failed


def _as_text(value: object) -> object:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (dt.datetime, dt.date)):  # also pandas.Timestamp
        return value.isoformat()
    return _NOT_TEXT


def _localize(naive: pd.Series, *, day: bool, timezone: str) -> pd.Series:
    if day:
        return naive.dt.normalize().dt.tz_localize("UTC")
    if timezone == "UTC":
        return naive.dt.tz_localize("UTC")
    local = naive.dt.tz_localize(timezone, ambiguous=np.ones(len(naive), dtype=bool),
                                 nonexistent="shift_forward")
    return local.dt.tz_convert("UTC")


def _from_aware(aware: pd.Series, *, day: bool, timezone: str) -> pd.Series:
    if day:
        return aware.dt.tz_convert(timezone).dt.tz_localize(None).dt.normalize().dt.tz_localize("UTC")
    return aware.dt.tz_convert("UTC")


def _to_ns(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Cast to nanosecond UTC; instants outside 1677-2262 cannot be held and count as failed."""
    lo, hi = pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC")
    outside = ((values < lo) | (values > hi)).to_numpy(dtype=bool)
    if outside.any():
        values = values.mask(outside)
    return values.astype(_UTC_NS), outside


def _to_datetimes(series: pd.Series, *, day: bool, timezone: str,
                  fmt: str | None) -> tuple[pd.Series, np.ndarray]:
    present = series.notna().to_numpy()
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        values = _from_aware(series, day=day, timezone=timezone)
    elif ptypes.is_datetime64_dtype(dtype):
        values = _localize(series, day=day, timezone=timezone)
    elif ptypes.is_numeric_dtype(dtype) or ptypes.is_bool_dtype(dtype):
        # Numbers (epoch seconds, spreadsheet serials) are ambiguous: refuse them.
        empty = pd.Series(pd.NaT, index=series.index, dtype=_UTC_NS, name=series.name)
        return empty, present
    else:
        obj = series.astype(object)
        if not _all_text(obj):
            obj = obj.map(_as_text, na_action="ignore")
        # Arrow strings: stripping and the offset search run vectorised, not per value.
        text = obj.astype("string[pyarrow]").str.strip()
        values = pd.Series(pd.NaT, index=series.index, dtype=_UTC_NS, name=series.name)
        given = text.notna()
        if fmt is not None and ("%z" in fmt or "%Z" in fmt):
            aware = given
        elif fmt is not None:
            aware = pd.Series(False, index=series.index)
        else:
            aware = text.str.contains(_OFFSET.pattern).fillna(False).astype(bool)
        naive = given & ~aware
        parse = {"format": fmt or "ISO8601", "errors": "coerce"}
        if aware.any():
            parsed = pd.to_datetime(text[aware], utc=True, **parse)
            values[aware] = _to_ns(_from_aware(parsed, day=day, timezone=timezone))[0]
        if naive.any():
            parsed = pd.to_datetime(text[naive], **parse)
            values[naive] = _to_ns(_localize(parsed, day=day, timezone=timezone))[0]
        return values, present & values.isna().to_numpy()
    values, _ = _to_ns(values)
    values = values.rename(series.name)
    return values, present & values.isna().to_numpy()
