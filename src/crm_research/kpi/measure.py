"""The KPI baseline: one tidy row per metric and period, with its interval and definition.

Row-level work happens once per table on the engine layer (:mod:`crm_research.kpi.scans`:
per-period aggregates and histograms, run by :func:`scan_stats`); the KPI arithmetic (ratios,
cumulative stocks, intervals) is done in pandas on those small aggregates, with exact integer
sums (:mod:`crm_research.kpi.assemble`). The tables are checked by
:mod:`crm_research.kpi.prepare`. This module also says which metrics the data cannot measure
(:func:`unmeasured`) and whether the latest period is partial (:func:`partial_latest`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from crm_research.engine import collect
from crm_research.errors import ParameterError
from crm_research.exprs import flag, parse_as_of
from crm_research.kpi import scans
from crm_research.kpi.assemble import assemble
from crm_research.kpi.definitions import ADVOCATE_RULES, METRICS, check_metric_names
from crm_research.kpi.prepare import TIME_COLUMN, earliest, get_table, prepare_tables
from crm_research.stats import z_value

__all__ = ["baseline", "baseline_from_tables", "scan_stats", "unmeasured", "not_measured_note", "LEVEL_METRICS",
           "partial_latest"]


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

    Examples
    --------
    >>> orders = pd.DataFrame({"customer_id": [1, 1, 2, 3, 3, 3],
    ...     "ordered_at": pd.to_datetime(["2025-10-03", "2025-11-20", "2025-11-02", "2025-10-10", "2025-11-11",
    ...                                   "2025-12-24"], utc=True),
    ...     "amount": [30.0, 45.0, 20.0, 50.0, 55.0, 60.0], "status": "completed"})
    >>> kpis = baseline({"orders": orders}, "2026-01-01", "M")
    >>> kpis.loc[kpis["metric"] == "active_customers", "value"].tolist()
    [2.0, 3.0, 1.0]
    >>> r = kpis[kpis["metric"] == "retention_rate"].iloc[-1]  # December: 1 of November's 3 buyers came back
    >>> float(r["numerator"]), float(r["denominator"]), round(float(r["ci_low"]), 3), round(float(r["ci_high"]), 3)
    (1.0, 3.0, 0.061, 0.792)
    >>> len(kpis.attrs["skipped"])  # the KPIs of the tables not given (customers, events, tickets, surveys)
    14
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
    z_value(conf)


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

    Examples
    --------
    >>> orders = pd.DataFrame({"customer_id": [1], "ordered_at": pd.to_datetime(["2025-10-03"], utc=True)})
    >>> unmeasured({"orders": orders}, ["orders", "revenue", "nps"])
    {'revenue': 'order amounts are unknown: the orders table has no amount column', 'nps': 'the data has no surveys table'}
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

    Examples
    --------
    >>> not_measured_note({"nps": "the data has no surveys table", "csat_mean": "no csat column",
    ...                    "csat_share_4_5": "no csat column"})
    'Not measured on this data: nps (the data has no surveys table); csat_mean, csat_share_4_5 (no csat column).'
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


def partial_latest(data, baseline: pd.DataFrame, *, quiet: float = 10.0,
                   columns: Mapping[str, str] | None = None) -> dict[str, str]:
    """The metrics whose latest period is partial, each with the reason in plain words.

    A latest period is partial when the analysis date falls inside it (every metric), or when
    the table a metric counts (its first table: ``customers`` for new contacts and lead
    conversion, ``events``, ``tickets``, ``surveys``, ``orders``) stops long before the period
    ends: the whole days between the day of the table's last row before ``as_of`` and the
    period end (a day with a row counts as recorded, so a table of dates alone is complete up
    to its last date) would have held at least ``quiet`` rows at the table's rate over the
    three periods before (the chance of so long a silence by luck is below e^-quiet, 0.005%
    for 10). Such a period's counts are too low and its shares biased: an export cut before the analysis date, or a
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

    Examples
    --------
    >>> orders = pd.DataFrame({"customer_id": [1, 2, 1], "amount": 10.0,
    ...                        "ordered_at": pd.to_datetime(["2025-10-03", "2025-11-02", "2025-12-04"], utc=True)})
    >>> kpis = baseline({"orders": orders}, "2025-12-15", "M")
    >>> partial_latest({"orders": orders}, kpis)["orders"]
    'the analysis date (2025-12-14 is the last day counted) falls inside it'
    >>> partial_latest({"orders": orders}, baseline({"orders": orders}, "2026-01-01", "M"))
    {}
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
        # whole days without a row: the last row's day counts as recorded (an export of dates
        # alone puts every row of a day at its midnight)
        silent = (as_of - (last.floor("D") + pd.Timedelta(days=1))) / pd.Timedelta(days=1)
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
    res = collect(before.aggregate(last=c.max(), n=flag(inside).sum()))
    last = res["last"].iloc[0]
    return (None if pd.isna(last) else pd.Timestamp(last).tz_convert("UTC") if pd.Timestamp(last).tzinfo
            else pd.Timestamp(last).tz_localize("UTC")), int(res["n"].fillna(0).iloc[0])
