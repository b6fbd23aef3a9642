"""The KPI baseline: one tidy row per metric and period, with its interval and definition.

Row-level work happens once per table on the engine layer (:mod:`crm_research.kpi.scans`:
per-period aggregates and histograms); the KPI arithmetic (ratios, cumulative stocks,
intervals) is done here in pandas on those small aggregates, with exact integer sums.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from crm_research.engine import collect, connect, is_lazy
from crm_research.errors import CRMError, ParameterError
from crm_research.kpi import intervals as ci
from crm_research.kpi import scans
from crm_research.kpi.definitions import ADVOCATE_RULES, METRICS, check_metric_names

__all__ = ["baseline", "get_table", "prepare_tables", "Prepared", "baseline_from_tables", "scan_stats",
           "assemble", "parse_as_of", "earliest", "COLUMNS", "latest", "BASELINE_COLUMNS", "unmeasured",
           "not_measured_note", "LEVEL_METRICS", "partial_latest"]

BASELINE_COLUMNS = ["metric", "period", "period_end", "value", "unit", "numerator", "denominator",
                    "ci_low", "ci_high", "ci_method", "definition"]

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


def parse_as_of(as_of) -> pd.Timestamp:
    """``as_of`` as a UTC Timestamp (naive values are UTC); :class:`ParameterError` if not a date."""
    try:
        ts = pd.Timestamp(as_of)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"as_of={as_of!r} is not a date: use YYYY-MM-DD, e.g. '2026-01-01'") from exc
    if ts is pd.NaT:
        raise ParameterError(f"as_of={as_of!r} is not a date: use YYYY-MM-DD, e.g. '2026-01-01'")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


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
            raise CRMError(
                f"table {name!r} has no column(s) {', '.join(names.get(c, c) for c in missing)}: the "
                f"baseline needs {', '.join(spec['required'])} (pass columns={{'{name}.<canonical>': "
                "'<actual>'}} if they are named differently)"
            )
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


def baseline(data, as_of, period: str = "M", *, periods: int | None = None,
             advocate_rule: str = "referral", referral_event: str = "referral", promoter_min: int = 9,
             detractor_max: int = 6, cart_event: str = "add_to_cart", purchase_event: str = "purchase",
             statuses: tuple[str, ...] | None = ("completed",), conf: float = 0.95,
             columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The KPI baseline: every metric of :data:`~crm_research.kpi.definitions.METRICS` per period.

    Parameters
    ----------
    data : mapping or CRMData
        Tables by name (DataFrames or Ibis tables). ``orders`` is required; ``customers``,
        ``events``, ``tickets``, ``surveys`` each enable their metrics (absent tables: their
        metrics are left out and listed in ``attrs["skipped"]``).
    as_of : date-like
        Only data strictly before this UTC instant counts; the last period ends here and may
        be partial.
    period : {"W", "M", "Q", "Y"}
        Weeks (Monday start), calendar months, quarters or years (UTC).
    periods : int, optional
        Number of periods to return, counting back from ``as_of`` (default: every period from
        the first one with data). Stocks always use the whole history.
    advocate_rule : {"referral", "promoter", "either"}
        What makes a customer an advocate (referral event, NPS answer >= ``promoter_min``, or
        either).
    referral_event, cart_event, purchase_event : str
        Event names in ``events.event``.
    promoter_min, detractor_max : int
        NPS promoters answer >= ``promoter_min`` (9), detractors <= ``detractor_max`` (6).
    statuses : tuple of str or None
        Order statuses that count as an order (None: every row).
    conf : float
        Confidence level of the intervals (0.95).
    columns : mapping, optional
        Non-canonical column names, ``{"table.canonical": "actual"}``.

    Returns
    -------
    DataFrame
        Columns ``metric``, ``period`` (UTC start), ``period_end`` (UTC, exclusive: the next
        period's start or ``as_of``), ``value`` (in ``unit``), ``unit``, ``numerator``,
        ``denominator`` (see each metric's kind in :class:`~crm_research.kpi.definitions.Metric`),
        ``ci_low``, ``ci_high`` (``conf`` interval; NaN for counts, sums and medians),
        ``ci_method`` (``wilson``, ``t``, ``poisson``, ``trinomial`` or empty),
        ``definition``. Sorted by metric (declaration order) and period. ``attrs`` holds
        ``as_of``, ``period``, the parameters and ``skipped`` (metric → reason).
    """
    as_of_ts = parse_as_of(as_of)
    _check_params(period, periods, advocate_rule, conf)
    prepared = prepare_tables(data, columns)
    try:
        return baseline_from_tables(
            prepared.tables, as_of_ts, period, periods=periods, advocate_rule=advocate_rule,
            referral_event=referral_event, promoter_min=promoter_min, detractor_max=detractor_max,
            cart_event=cart_event, purchase_event=purchase_event, statuses=statuses, conf=conf,
            absent=prepared.absent)
    finally:
        prepared.close()


def _check_params(period, periods, advocate_rule, conf):
    scans.check_period(period)
    if advocate_rule not in ADVOCATE_RULES:
        raise ParameterError(f"advocate_rule={advocate_rule!r} is not supported: use one of "
                             f"{', '.join(map(repr, ADVOCATE_RULES))}")
    if periods is not None and (not isinstance(periods, (int, np.integer)) or periods < 1):
        raise ParameterError(f"periods={periods!r} must be a positive integer or None")
    ci.z_value(conf)


def _cache(expr):
    """Materialise ``expr`` on its backend (a temporary table) so later scans reuse it."""
    try:
        return expr.cache()
    except Exception:  # noqa: BLE001 - a backend without caching: stay lazy
        return expr


def _release(expr) -> None:
    release = getattr(expr, "release", None)
    if release is not None:
        try:
            release()
        except Exception:  # noqa: BLE001 - already released or backend closed
            pass


def baseline_from_tables(tables: Mapping[str, Any], as_of, period: str = "M", *,
                         periods: int | None = None, advocate_rule: str = "referral",
                         referral_event: str = "referral", promoter_min: int = 9,
                         detractor_max: int = 6, cart_event: str = "add_to_cart",
                         purchase_event: str = "purchase",
                         statuses: tuple[str, ...] | None = ("completed",), conf: float = 0.95,
                         metrics: tuple[str, ...] | None = None,
                         bins: scans.PeriodBins | None = None,
                         absent: Mapping[str, str] | None = None) -> pd.DataFrame:
    """:func:`baseline` on Ibis tables already checked by :func:`prepare_tables`.

    ``metrics`` restricts the scans and rows to those metrics (None: all). ``bins`` fixes the
    periods (default: covering the data up to ``as_of``). ``absent``: tables left out by
    :func:`prepare_tables`, with the reason (``Prepared.absent``).
    """
    as_of = parse_as_of(as_of)
    _check_params(period, periods, advocate_rule, conf)
    if metrics is not None:
        check_metric_names(metrics, where="metrics")
    if bins is None:
        bins = scans.PeriodBins.covering(period, as_of, earliest(tables))
    elif bins.period != period:
        raise ParameterError(f"bins are {bins.period!r} periods but period={period!r}")
    opts = dict(advocate_rule=advocate_rule, referral_event=referral_event, promoter_min=promoter_min,
                detractor_max=detractor_max, cart_event=cart_event, purchase_event=purchase_event,
                statuses=statuses)
    stats, skipped, want = scan_stats(tables, as_of, bins, metrics=metrics, absent=absent, **opts)
    return assemble(stats, as_of, bins, periods=periods, conf=conf, metrics=want, skipped=skipped, **opts)


def unmeasured(tables: Mapping[str, Any], metrics=None, *, advocate_rule: str = "referral",
               absent: Mapping[str, str] | None = None) -> dict[str, str]:
    """The metrics the tables cannot measure, each with the reason in plain words.

    Parameters
    ----------
    tables : mapping of str to table
        Present tables by name (DataFrames or Ibis tables, canonical column names).
    metrics : collection of str, optional
        Metrics to check (None: all).
    advocate_rule : {"referral", "promoter", "either"}
        What makes an advocate: the customer levels need referral events (``events``) and/or
        NPS answers (``surveys``).
    absent : mapping, optional
        Tables left out on purpose, with the reason (:attr:`Prepared.absent`).

    Returns
    -------
    dict of str to str
        Metric → reason (``"the data has no tickets table"``), in declaration order; metrics
        that can be measured are not listed.
    """
    absent = dict(absent or {})
    want = set(metrics) if metrics is not None else set(METRICS)

    def lacking(cols) -> str | None:
        for col in cols:
            table, _, name = col.partition(".")
            if tables.get(table) is None:
                return absent.get(table, f"the data has no {table} table")
            if name not in tables[table].columns:
                if col == "orders.amount":  # orders derived from an event log's purchases
                    return "order amounts are unknown: the orders table has no amount column"
                return f"the {table} table has no {name} column"
        return None

    sources = {"referral": ("events",), "promoter": ("surveys",), "either": ("events", "surveys")}[advocate_rule]
    out = {}
    for name, metric in METRICS.items():
        if name not in want:
            continue
        why = lacking(metric.columns)
        if why is None and name in LEVEL_METRICS and all(tables.get(t) is None for t in sources):
            what = " or ".join({"events": "referral events", "surveys": "NPS answers"}[t] for t in sources)
            why = f"advocate_rule={advocate_rule!r} needs {what} and the data has no " + \
                " or ".join(f"{t} table" for t in sources)
        if why is not None:
            out[name] = why
    return out


LEVEL_METRICS = ("first_time_customers", "repeat_customers", "advocates")
"""The customer levels (exclusive; they need advocate data, see :func:`unmeasured`)."""


def not_measured_note(skipped: Mapping[str, str]) -> str:
    """One sentence listing the metrics not measured, grouped by reason ('' when none).

    Parameters
    ----------
    skipped : mapping of str to str
        Metric → reason (a baseline's ``attrs["skipped"]``).

    Returns
    -------
    str
        E.g. ``"Not measured on this data: nps (the data has no surveys table); csat_mean,
        csat_share_4_5 (the tickets table has no csat column)."``
    """
    if not skipped:
        return ""
    by_reason: dict[str, list[str]] = {}
    for metric, why in skipped.items():
        by_reason.setdefault(why, []).append(metric)
    return "Not measured on this data: " + "; ".join(
        f"{', '.join(ms)} ({why})" for why, ms in by_reason.items()) + "."


def scan_stats(tables: Mapping[str, Any], as_of, bins: scans.PeriodBins, *,
               metrics: tuple[str, ...] | set | None = None, by: str | None = None,
               advocate_rule: str = "referral", referral_event: str = "referral",
               promoter_min: int = 9, detractor_max: int = 6, cart_event: str = "add_to_cart",
               purchase_event: str = "purchase",
               statuses: tuple[str, ...] | None = ("completed",),
               absent: Mapping[str, str] | None = None) -> tuple[dict, dict, set]:
    """Run the engine scans the wanted metrics need; return their (small) results.

    Parameters
    ----------
    tables : mapping of str to ibis.Table
        Prepared tables (:func:`prepare_tables`); with ``by``, each holds that column.
    as_of, bins
        Cut-off instant and periods.
    metrics : collection of str, optional
        Metrics wanted (None: all).
    by : str, optional
        Breakdown column present in every table given: every result gets one row per value.
    advocate_rule, referral_event, promoter_min, detractor_max, cart_event, purchase_event, statuses
        As in :func:`baseline`.
    absent : mapping, optional
        Tables left out on purpose, with the reason (:attr:`Prepared.absent`).

    Returns
    -------
    stats : dict of str to DataFrame
        Scan results by name (``orders``, ``advocates``, ``conversion``, ``cart``, ``tickets``,
        ``nps``).
    skipped : dict of str to str
        Wanted metrics that cannot be computed, with the reason (:func:`unmeasured`).
    want : set of str
        The metrics wanted.
    """
    want = set(metrics) if metrics is not None else set(METRICS)
    skipped = unmeasured(tables, want, advocate_rule=advocate_rule, absent=absent)
    can = want - set(skipped)
    o = tables["orders"]
    ev, sv = tables.get("events"), tables.get("surveys")
    cp = _cache(scans.order_periods(o, as_of, bins, statuses=statuses, by=by, unsorted=True))
    firsts = None
    try:
        stats: dict[str, pd.DataFrame] = {"orders": collect(scans.period_stats(cp, by=by))}
        needs_adv = can & set(LEVEL_METRICS)
        needs_conv = can & {"new_contacts", "lead_conversion_rate"}
        if needs_adv or needs_conv:
            firsts = _cache(scans.customer_firsts(cp, by=by, unsorted=True))
        if needs_adv:
            stats["advocates"] = collect(scans.advocate_stats(
                firsts, ev, sv, as_of, bins, rule=advocate_rule, referral_event=referral_event,
                promoter_min=promoter_min, by=by))
        if needs_conv:
            stats["conversion"] = collect(scans.conversion_stats(tables["customers"], firsts, as_of,
                                                                 bins, by=by))
    finally:
        _release(firsts)
        _release(cp)
    if "cart_abandonment_rate" in can:
        stats["cart"] = collect(scans.cart_stats(ev, as_of, bins, cart_event=cart_event,
                                                 purchase_event=purchase_event, by=by))
    if can & {m for m, d in METRICS.items() if d.tables == ("tickets",)}:
        stats["tickets"] = collect(scans.ticket_stats(tables["tickets"], as_of, bins, by=by))
    if "nps" in can:
        stats["nps"] = collect(scans.nps_stats(sv, as_of, bins, promoter_min=promoter_min,
                                               detractor_max=detractor_max, by=by))
    return stats, skipped, want


def assemble(stats: Mapping[str, pd.DataFrame], as_of, bins: scans.PeriodBins, *,
             periods: int | None = None, conf: float = 0.95, metrics=None,
             skipped: Mapping[str, str] | None = None, advocate_rule: str = "referral",
             referral_event: str = "referral", promoter_min: int = 9, cart_event: str = "add_to_cart",
             purchase_event: str = "purchase", **_ignored) -> pd.DataFrame:
    """The baseline table from the scan results of :func:`scan_stats` (one group).

    Returns
    -------
    DataFrame
        As :func:`baseline`.
    """
    as_of = parse_as_of(as_of)
    want = set(metrics) if metrics is not None else set(METRICS)
    params = {"advocate_text": ADVOCATE_RULES[advocate_rule].format(
        referral_event=referral_event, promoter_min=promoter_min),
        "cart_event": cart_event, "purchase_event": purchase_event}
    skipped = {k: v for k, v in (skipped or {}).items() if k in want}
    out = _assemble(dict(stats), as_of, bins, periods, conf, params, want - set(skipped))
    out.attrs.update({"as_of": as_of.isoformat(), "period": bins.period, "advocate_rule": advocate_rule,
                      "conf": conf, "skipped": skipped})
    return out


# ---------------------------------------------------------------------------------------
# assembly (pandas, exact integers)
# ---------------------------------------------------------------------------------------


def _ints(frame: pd.DataFrame | None, col: str, idx: np.ndarray, kind: str | None = None) -> list[int]:
    """Column ``col`` of a per-period frame, aligned on ``idx``, as exact Python ints (0 if absent)."""
    if frame is None or len(frame) == 0:
        return [0] * len(idx)
    f = frame if kind is None else frame[frame["kind"] == kind]
    lookup = {int(p): v for p, v in zip(f["pidx"], f[col], strict=True)}
    out = []
    for p in idx:
        v = lookup.get(int(p))
        out.append(0 if v is None or (isinstance(v, float) and np.isnan(v)) else int(v))
    return out


def _floats(frame: pd.DataFrame | None, col: str, idx: np.ndarray) -> np.ndarray:
    if frame is None or len(frame) == 0:
        return np.full(len(idx), np.nan)
    s = pd.Series(frame[col].to_numpy(dtype=float), index=frame["pidx"].to_numpy(dtype=np.int64))
    return s.reindex(idx).to_numpy(dtype=float)


def _cum(xs: list[int]) -> list[int]:
    return list(accumulate(xs))


def _f(xs) -> np.ndarray:
    return np.asarray([float(x) for x in xs], dtype=float)


def _assemble(stats: dict, as_of: pd.Timestamp, bins: scans.PeriodBins, periods: int | None,
              conf: float, params: dict, want: set) -> pd.DataFrame:
    period = bins.period
    p_first = bins.first if periods is None else min(bins.first, bins.last - int(periods) + 1)
    idx = np.arange(p_first, bins.last + 1, dtype=np.int64)
    keep = slice(len(idx) - periods, None) if periods is not None else slice(0, None)
    starts = scans.period_start(idx, period)
    ends = scans.period_start(idx + 1, period)
    ends = ends.where(ends <= as_of, as_of)
    weeks = (ends - starts).total_seconds().to_numpy() / (7 * 86_400)

    parts: list[tuple[str, list[np.ndarray]]] = []  # (metric, [value, numerator, denominator, low, high])

    def add(metric, value, num=None, den=None, low=None, high=None):
        if metric not in want:
            return
        nan = np.full(len(idx), np.nan)
        parts.append((metric, [(nan if x is None else np.asarray(x, dtype=float))[keep]
                               for x in (value, num, den, low, high)]))

    def ratio(k, n):
        k, n = _f(k), _f(n)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, k / n, np.nan)

    # --- contacts -------------------------------------------------------------------------
    conv = stats.get("conversion")
    if conv is not None:
        contacts = _ints(conv, "n", idx, "contacts")
        add("new_contacts", _f(contacts), _f(contacts))

    # --- orders ---------------------------------------------------------------------------
    os_ = stats["orders"]
    active = _ints(os_, "active", idx)
    n_orders = _ints(os_, "orders", idx)
    cents = _ints(os_, "cents", idx)
    new = _ints(os_, "new_customers", idx)
    retained = _ints(os_, "retained", idx)
    prev_active = [0, *active[:-1]]
    customers = _cum(new)
    repeat = _cum(_ints(os_, "became_repeat", idx))

    add("active_customers", _f(active), _f(active))
    add("new_customers", _f(new), _f(new))
    rate, lo, hi = ci.poisson_rate(_f(new), weeks, conf)
    add("new_customers_per_week", rate, _f(new), weeks, lo, hi)
    add("orders", _f(n_orders), _f(n_orders))
    add("customers", _f(customers), _f(customers))
    adv = stats.get("advocates")
    if adv is not None:
        n_adv = _cum(_ints(adv, "n", idx, "advocates"))
        n_adv_rep = _cum(_ints(adv, "n", idx, "advocate_repeat"))
        first_time = [c - r - (a - ar) for c, r, a, ar in zip(customers, repeat, n_adv, n_adv_rep, strict=True)]
        repeat_level = [r - ar for r, ar in zip(repeat, n_adv_rep, strict=True)]
        add("first_time_customers", _f(first_time), _f(first_time), _f(customers))
        add("repeat_customers", _f(repeat_level), _f(repeat_level), _f(customers))
        add("advocates", _f(n_adv), _f(n_adv), _f(customers))
    lo, hi = ci.wilson(_f(retained), _f(prev_active), conf)
    add("retention_rate", ratio(retained, prev_active), _f(retained), _f(prev_active), lo, hi)
    churned = [p - r for p, r in zip(prev_active, retained, strict=True)]
    lo, hi = ci.wilson(_f(churned), _f(prev_active), conf)
    add("churn_rate", ratio(churned, prev_active), _f(churned), _f(prev_active), lo, hi)
    lo, hi = ci.wilson(_f(repeat), _f(customers), conf)
    add("repeat_purchase_rate", ratio(repeat, customers), _f(repeat), _f(customers), lo, hi)
    m, lo, hi = ci.t_mean_from_sums(active, n_orders, _ints(os_, "cust_orders_sq", idx), conf)
    add("purchase_frequency", m, _f(n_orders), _f(active), lo, hi)
    revenue = _f(cents) / 100
    m, lo, hi = ci.t_mean_from_sums(n_orders, cents, _ints(os_, "order_cents_sq", idx), conf, scale=100)
    add("average_order_value", m, revenue, _f(n_orders), lo, hi)
    add("revenue", revenue, revenue)
    cust_sq = _ints(os_, "cust_cents_sq", idx)
    m, lo, hi = ci.t_mean_from_sums(active, cents, cust_sq, conf, scale=100)
    add("revenue_per_customer", m, revenue, _f(active), lo, hi)
    cross = _ints(os_, "hcv_cross", idx)
    cum_cents = _cum(cents)
    cum_sq = _cum([2 * x + q for x, q in zip(cross, cust_sq, strict=True)])
    m, lo, hi = ci.t_mean_from_sums(customers, cum_cents, cum_sq, conf, scale=100)
    add("historical_customer_value", m, _f(cum_cents) / 100, _f(customers), lo, hi)

    if conv is not None:
        n_contacts = _cum(contacts)
        converted = _cum(_ints(conv, "n", idx, "converted"))
        lo, hi = ci.wilson(_f(converted), _f(n_contacts), conf)
        add("lead_conversion_rate", ratio(converted, n_contacts), _f(converted), _f(n_contacts), lo, hi)

    cart = stats.get("cart")
    if cart is not None:
        carts, aband = _ints(cart, "carts", idx), _ints(cart, "abandoned", idx)
        lo, hi = ci.wilson(_f(aband), _f(carts), conf)
        add("cart_abandonment_rate", ratio(aband, carts), _f(aband), _f(carts), lo, hi)

    tk = stats.get("tickets")
    if tk is not None:
        for key, name in (("fr", "first_response_hours"), ("ht", "handling_hours")):
            n = _ints(tk, f"{key}_n", idx)
            s = _ints(tk, f"{key}_sum", idx)
            m, lo, hi = ci.t_mean_from_sums(n, s, _ints(tk, f"{key}_sq", idx), conf, scale=3600)
            add(f"{name}_mean", m, _f(s) / 3600, _f(n), lo, hi)
            add(f"{name}_median", _floats(tk, f"{key}_median", idx) / 3600, None, _f(n))
        fcr, resolved = _ints(tk, "fcr", idx), _ints(tk, "resolved", idx)
        lo, hi = ci.wilson(_f(fcr), _f(resolved), conf)
        add("first_contact_resolution_rate", ratio(fcr, resolved), _f(fcr), _f(resolved), lo, hi)
        cn, cs = _ints(tk, "csat_n", idx), _ints(tk, "csat_sum", idx)
        m, lo, hi = ci.t_mean_from_sums(cn, cs, _ints(tk, "csat_sq", idx), conf)
        add("csat_mean", m, _f(cs), _f(cn), lo, hi)
        c45 = _ints(tk, "csat_45", idx)
        lo, hi = ci.wilson(_f(c45), _f(cn), conf)
        add("csat_share_4_5", ratio(c45, cn), _f(c45), _f(cn), lo, hi)

    nps = stats.get("nps")
    if nps is not None:
        n, p, d = _ints(nps, "n", idx), _ints(nps, "promoters", idx), _ints(nps, "detractors", idx)
        v, lo, hi = ci.nps_interval(_f(p), _f(d), _f(n), conf)
        add("nps", v, _f(p) - _f(d), _f(n), lo, hi)

    if not parts:
        return pd.DataFrame(columns=BASELINE_COLUMNS)
    # one frame built from the columns (a frame per metric and a concat cost more than the
    # arithmetic); rows in metric declaration order, each metric's periods in time order
    order = {name: i for i, name in enumerate(METRICS)}
    parts.sort(key=lambda part: order[part[0]])
    per = len(starts[keep])
    pick = np.tile(np.arange(per), len(parts))

    def text(f):
        return np.repeat(np.array([f(METRICS[name]) for name, _ in parts], dtype=object), per)

    def num(i):
        return np.concatenate([cols[i] for _, cols in parts])

    out = pd.DataFrame({
        "metric": text(lambda m: m.name), "period": starts[keep].take(pick), "period_end": ends[keep].take(pick),
        "value": num(0), "unit": text(lambda m: m.unit), "numerator": num(1), "denominator": num(2),
        "ci_low": num(3), "ci_high": num(4), "ci_method": text(lambda m: m.ci_method),
        "definition": text(lambda m: m.describe(**params)),
    })
    return out[BASELINE_COLUMNS]


def latest(table: pd.DataFrame) -> pd.DataFrame:
    """The last period's row of every metric of a baseline table (metric order kept).

    Parameters
    ----------
    table : DataFrame
        A baseline table (:func:`baseline`) or a snapshot of one.

    Returns
    -------
    DataFrame
        One row per metric, indexed 0..n-1.
    """
    if len(table) == 0:
        return table.copy()
    last = table.groupby("metric", sort=False)["period"].transform("max")
    return table[table["period"] == last].reset_index(drop=True)


def partial_latest(data, baseline: pd.DataFrame, *, quiet: float = 10.0,
                   columns: Mapping[str, str] | None = None) -> dict[str, str]:
    """The metrics whose latest period is partial, each with the reason in plain words.

    A latest period is partial when the analysis date falls inside it (every metric), or when
    the table a metric counts (its first table: ``customers`` for new contacts and lead
    conversion, ``events``, ``tickets``, ``surveys``, ``orders``) stops long before the period
    ends: the silent spell between the table's last row before ``as_of`` and the period end
    would have held at least ``quiet`` rows at the table's rate over the three periods before
    (the chance of so long a silence by luck is below e^-quiet, 0.005% for 10). Such a period's
    counts are too low and its shares biased: an export cut before the analysis date, or a
    source that stopped recording.

    Parameters
    ----------
    data : mapping or CRMData
        The tables the baseline was computed from (DataFrames or Ibis tables).
    baseline : DataFrame
        Output of :func:`baseline` (its ``attrs`` give ``as_of`` and ``period``).
    quiet : float
        Expected rows (count) in the silent spell from which a table counts as stopped.
    columns : mapping, optional
        Non-canonical column names, as in :func:`baseline`.

    Returns
    -------
    dict of str to str
        Metric → reason ("the analysis date falls inside it", "the customers table holds no row
        after 2025-12-01"), metrics whose latest period is complete not listed.
    """
    if baseline.empty:
        return {}
    as_of = parse_as_of(baseline.attrs.get("as_of", baseline["period_end"].max()))
    period = baseline.attrs.get("period", "M")
    start = pd.Timestamp(baseline["period"].max())
    idx = scans.period_index(start, period)
    natural_end = scans.period_start([idx + 1], period)[0]
    metrics = list(dict.fromkeys(baseline["metric"]))
    if as_of < natural_end:
        return {m: f"the analysis date ({(as_of - pd.Timedelta(days=1)):%Y-%m-%d} is the last day counted) "
                   "falls inside it" for m in metrics}
    window = scans.period_start([idx - 3], period)[0]
    rename = {str(k): str(v) for k, v in (columns or {}).items()}
    stopped: dict[str, str] = {}
    for table in dict.fromkeys(METRICS[m].tables[0] for m in metrics if m in METRICS):
        t = get_table(data, table)
        col = rename.get(f"{table}.{TIME_COLUMN[table]}", TIME_COLUMN[table])
        if t is None or col not in t.columns:
            continue
        last, n = _last_and_count(t, col, window, start, as_of)
        if last is None or n == 0:
            continue
        days = (start - window) / pd.Timedelta(days=1)
        silent = (as_of - last) / pd.Timedelta(days=1)
        if silent >= 1 and n / days * silent >= quiet:
            stopped[table] = f"the {table} table holds no row after {last:%Y-%m-%d}"
    return {m: stopped[METRICS[m].tables[0]] for m in metrics if m in METRICS and METRICS[m].tables[0] in stopped}


def _last_and_count(t, col: str, since: pd.Timestamp, until: pd.Timestamp,
                    as_of: pd.Timestamp) -> tuple[pd.Timestamp | None, int]:
    """Last timestamp of ``col`` before ``as_of`` and the rows from ``since`` to ``until`` (exclusive)."""
    if isinstance(t, pd.DataFrame):
        ts = pd.to_datetime(t[col], utc=True, errors="coerce")
        ts = ts[ts < as_of]
        last = ts.max() if len(ts) else None
        return (None if last is None or pd.isna(last) else pd.Timestamp(last)), int(((ts >= since) & (ts < until)).sum())
    c = t[col].cast("timestamp('UTC')")
    before = t.filter(c < as_of.to_pydatetime())
    c = before[col].cast("timestamp('UTC')")
    inside = (c >= since.to_pydatetime()) & (c < until.to_pydatetime())
    res = collect(before.aggregate(last=c.max(), n=inside.cast("int64").sum()))
    last = res["last"].iloc[0]
    return (None if pd.isna(last) else pd.Timestamp(last).tz_convert("UTC") if pd.Timestamp(last).tzinfo
            else pd.Timestamp(last).tz_localize("UTC")), int(res["n"].fillna(0).iloc[0])
