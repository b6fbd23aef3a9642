"""Row-level scans of the KPI baseline, written once on the engine layer.

Each function here reads a row-level table (orders, events, tickets, surveys, customers) or the
per-customer-and-period table built from the orders, and returns a small aggregate: one row per
period (or per customer). The KPI arithmetic on top of them (ratios, cumulative stocks,
intervals) is done in pandas by :mod:`crm_research.kpi.measure`.

Periods
-------
Periods are numbered by an integer index: ``W`` weeks since Monday 1970-01-05, ``M``
``year * 12 + month - 1``, ``Q`` ``year * 4 + quarter - 1``, ``Y`` the year (all UTC).
Consecutive periods have consecutive indices, so "the previous period" is ``pidx - 1``. The
engine assigns the index with a binary tree of comparisons against the period starts
(:class:`PeriodBins`): comparisons of timestamps are cheap on every engine, unlike calendar
extraction from zoned timestamps.

Exact sums
----------
Money is converted to integer cents and durations to whole seconds before summing, and sums
of squares are taken in ``decimal(38, 0)``: every sum is exact, so results do not depend on
the engine's summation order (bit-for-bit reproducible, DuckDB and Spark alike).
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from crm_research.engine import engine_function
from crm_research.errors import ParameterError
from crm_research.exprs import as_utc_timestamp, flag

__all__ = [
    "PERIODS",
    "PeriodBins",
    "check_period",
    "period_index",
    "period_start",
    "order_periods",
    "period_stats",
    "customer_firsts",
    "advocate_stats",
    "conversion_stats",
    "cart_stats",
    "ticket_stats",
    "nps_stats",
    "cohort_counts",
]

PERIODS = {"W": "weeks (Monday to Sunday)", "M": "calendar months", "Q": "calendar quarters",
           "Y": "calendar years"}
"""Accepted ``period`` values."""

_WEEK0 = 345_600  # seconds from 1970-01-01 (a Thursday) to Monday 1970-01-05
_WEEK = 604_800
DEC = "decimal(38, 0)"


def check_period(period: str) -> str:
    """Return ``period`` if it is one of :data:`PERIODS`, else raise :class:`ParameterError`."""
    if period not in PERIODS:
        raise ParameterError(
            f"period={period!r} is not supported: use one of "
            + ", ".join(f"'{k}' ({v})" for k, v in PERIODS.items())
        )
    return period


def period_index(ts, period: str) -> int:
    """Period index of one instant (naive values are UTC)."""
    check_period(period)
    ts = as_utc_timestamp(ts)
    if period == "M":
        return ts.year * 12 + ts.month - 1
    if period == "Q":
        return ts.year * 4 + (ts.month - 1) // 3
    if period == "Y":
        return ts.year
    return (int(ts.value // 1_000_000_000) - _WEEK0) // _WEEK


def period_start(idx, period: str) -> pd.DatetimeIndex:
    """UTC start instants of the period indices ``idx`` (array-like of int)."""
    check_period(period)
    idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
    if period == "W":
        return pd.to_datetime(_WEEK0 + idx * _WEEK, unit="s", utc=True).as_unit("ns")
    if period == "M":
        y, m = idx // 12, idx % 12 + 1
    elif period == "Q":
        y, m = idx // 4, (idx % 4) * 3 + 1
    else:
        y, m = idx, np.ones_like(idx)
    months = (y - 1970) * 12 + (m - 1)
    return pd.DatetimeIndex(months.astype("datetime64[M]").astype("datetime64[ns]")).tz_localize("UTC")


@dataclass(frozen=True)
class PeriodBins:
    """Consecutive periods ``first .. last`` (indices) that the scans assign rows to.

    Rows before the start of ``first`` are assigned to ``first``: build the bins with
    :meth:`covering` so that they cover the data.

    Parameters
    ----------
    period : {"W", "M", "Q", "Y"}
    first, last : int
        Period indices of the first and last bin.
    """

    period: str
    first: int
    last: int

    def __post_init__(self):
        check_period(self.period)
        if self.last < self.first:
            raise ParameterError(f"period bins: last ({self.last}) precedes first ({self.first})")

    @classmethod
    def covering(cls, period: str, as_of, earliest=None) -> PeriodBins:
        """Bins from the period holding ``earliest`` (default: ``as_of``'s) to the one ending at ``as_of``."""
        as_of = as_utc_timestamp(as_of)
        last = period_index(as_of - pd.Timedelta(1, "ns"), period)
        first = last if earliest is None or pd.isna(earliest) else min(last, period_index(earliest, period))
        return cls(period, first, last)

    @property
    def index(self) -> np.ndarray:
        """Period indices ``first .. last``."""
        return np.arange(self.first, self.last + 1, dtype=np.int64)

    def starts(self) -> pd.DatetimeIndex:
        """UTC start of each bin."""
        return period_start(self.index, self.period)

    def expr(self, ts: ir.TimestampValue) -> ir.IntegerValue:
        """Engine expression: the period index of ``ts`` (a binary tree of comparisons)."""
        bounds = list(period_start(self.index[1:], self.period))
        dtype = ts.type()

        def lit(t: pd.Timestamp):
            value = t.to_pydatetime() if dtype.timezone else t.tz_convert(None).to_pydatetime()
            return ibis.literal(value, type=dtype)

        def build(lo: int, hi: int):  # bins lo..hi (offsets from first)
            if lo == hi:
                return ibis.literal(self.first + lo, type="int64")
            mid = (lo + hi + 1) // 2
            return ibis.ifelse(ts < lit(bounds[mid - 1]), build(lo, mid - 1), build(mid, hi))

        return build(0, self.last - self.first).cast("int64")


def _lit(col: ir.TimestampValue, as_of) -> ir.Scalar:
    """``as_of`` as a literal of ``col``'s timestamp type (zoned or naive UTC)."""
    ts = as_utc_timestamp(as_of)
    dtype = col.type()
    value = ts.to_pydatetime() if dtype.timezone else ts.tz_convert(None).to_pydatetime()
    return ibis.literal(value, type=dtype)


def _before(t: ir.Table, col: str, as_of) -> ir.Table:
    return t.filter(t[col].notnull() & (t[col] < _lit(t[col], as_of)))


def _keys(by: str | None, *cols: str) -> list[str]:
    """Grouping keys: the optional breakdown column first."""
    return ([by] if by else []) + list(cols)


@engine_function("orders")
def order_periods(orders, as_of, bins: PeriodBins, *, statuses: tuple[str, ...] | None = ("completed",),
                  by: str | None = None, unsorted: bool = False):
    """One row per customer and period with at least one completed order.

    Parameters
    ----------
    orders : DataFrame or ibis.Table
        Order log with ``customer_id``, ``ordered_at`` (UTC) and optionally ``amount``
        (currency) and ``status``. Without ``amount`` the money columns of the result are null
        (amounts unknown); the counts are the same.
    as_of : date-like
        Only orders strictly before this UTC instant count.
    bins : PeriodBins
        The periods (covering the orders).
    statuses : tuple of str or None
        Statuses that count as an order (None: every row).
    by : str, optional
        A breakdown column of ``orders``: customers are followed separately within each of its
        values (a customer's first order *of that value*, and so on).
    unsorted : bool
        Skip the final sort (for an intermediate table that is only aggregated further).

    Returns
    -------
    DataFrame or ibis.Table
        ``customer_id``, ``pidx`` (period index), ``n_orders`` (orders), ``cents`` (revenue in
        integer cents), ``order_cents_sq`` (Σ over the orders of cents², int64: exact while a
        customer's orders in one period stay below about 30 million currency units),
        ``prev_pidx`` (the customer's previous active period, null for the first),
        ``n_before`` / ``cents_before`` (orders and cents of the customer before this period).
        Sorted by customer and period unless ``unsorted``.
    """
    t = orders
    if statuses is not None and "status" in t.columns:
        t = t.filter(t["status"].isin(list(statuses)))
    t = _before(t, "ordered_at", as_of)
    cents = (t["amount"] * 100).round().cast("int64") if "amount" in t.columns else ibis.null("int64")
    t = t.select(*_keys(by, "customer_id"), pidx=bins.expr(t["ordered_at"]), cents=cents)
    g = t.group_by(_keys(by, "customer_id", "pidx")).aggregate(
        n_orders=t.count(),
        cents=t["cents"].sum().cast("int64"),
        order_cents_sq=(t["cents"] * t["cents"]).sum().cast("int64"),
    )
    w = ibis.window(group_by=_keys(by, "customer_id"), order_by="pidx")
    cw = ibis.cumulative_window(group_by=_keys(by, "customer_id"), order_by="pidx")
    g = g.mutate(
        prev_pidx=g["pidx"].lag().over(w),
        n_before=(g["n_orders"].sum().over(cw) - g["n_orders"]).cast("int64"),
        cents_before=(g["cents"].sum().over(cw) - g["cents"]).cast("int64"),
    )
    return g if unsorted else g.order_by(_keys(by, "customer_id", "pidx"))


@engine_function("cp")
def period_stats(cp, *, by: str | None = None):
    """Per period: activity, orders, revenue, retention and the sums behind the intervals.

    Parameters
    ----------
    cp : DataFrame or ibis.Table
        Output of :func:`order_periods`.
    by : str, optional
        The breakdown column given to :func:`order_periods` (one row per value and period).

    Returns
    -------
    DataFrame or ibis.Table
        One row per period index with at least one order, sorted by ``pidx``:
        ``active`` (customers with an order), ``orders``, ``cents`` (revenue, integer cents),
        ``order_cents_sq`` (Σ over orders of cents², decimal), ``cust_orders_sq`` (Σ over active
        customers of their order count²), ``cust_cents_sq`` (Σ over active customers of their
        period revenue², cents²), ``new_customers`` (first order ever in the period),
        ``retained`` (active here and in the previous period), ``became_repeat`` (second order
        ever in the period), ``hcv_cross`` (Σ over active customers of revenue before the
        period × revenue in it, cents²: the increment of Σ cumulative revenue² over customers is
        2 × hcv_cross + cust_cents_sq).
    """
    d = cp["cents"].cast(DEC)
    return cp.group_by(_keys(by, "pidx")).aggregate(
        active=cp.count(),
        orders=cp["n_orders"].sum().cast("int64"),
        cents=cp["cents"].sum().cast("int64"),
        order_cents_sq=cp["order_cents_sq"].cast(DEC).sum().cast(DEC),
        cust_orders_sq=(cp["n_orders"] * cp["n_orders"]).sum().cast("int64"),
        cust_cents_sq=(d * d).sum().cast(DEC),
        new_customers=flag(cp["prev_pidx"].isnull()).sum(),
        retained=flag(cp["prev_pidx"] == cp["pidx"] - 1).sum(),
        became_repeat=flag((cp["n_before"] < 2) & (cp["n_before"] + cp["n_orders"] >= 2)).sum(),
        hcv_cross=(cp["cents_before"].cast(DEC) * d).sum().cast(DEC),
    ).order_by(_keys(by, "pidx"))


@engine_function("cp")
def customer_firsts(cp, *, by: str | None = None, unsorted: bool = False):
    """Per customer: period of the first order and of the second order.

    Parameters
    ----------
    cp : DataFrame or ibis.Table
        Output of :func:`order_periods`.

    Returns
    -------
    DataFrame or ibis.Table
        ``customer_id``, ``first_pidx``, ``repeat_pidx`` (period in which the customer's order
        count reached two; null for one-order customers). Sorted by customer unless
        ``unsorted``.
    """
    f = cp.group_by(_keys(by, "customer_id")).aggregate(
        first_pidx=cp["pidx"].min(),
        repeat_pidx=cp["pidx"].min(where=cp["n_before"] + cp["n_orders"] >= 2),
    )
    return f if unsorted else f.order_by(_keys(by, "customer_id"))


def _hist(t: ir.Table, key: ir.IntegerValue, kind: str, by: str | None) -> ir.Table:
    g = t.group_by([*_keys(by), key.name("pidx")]).aggregate(n=t.count())
    return g.mutate(kind=ibis.literal(kind)).select(*_keys(by, "kind", "pidx", "n"))


@engine_function("firsts", "events", "surveys")
def advocate_stats(firsts, events, surveys, as_of, bins: PeriodBins, *, rule: str = "referral",
                   referral_event: str = "referral", promoter_min: int = 9, by: str | None = None):
    """Histograms of when customers became advocates, for the customer levels.

    A customer becomes an advocate in period ``max(first order, first advocate event)``; an
    advocate with two or more orders is one from ``max(second order, first advocate event)``.
    Cumulative sums of the histograms give the counts at each period end.

    Parameters
    ----------
    firsts : DataFrame or ibis.Table
        Output of :func:`customer_firsts`.
    events : DataFrame or ibis.Table or None
        ``customer_id``, ``occurred_at``, ``event`` (rules ``referral`` and ``either``).
    surveys : DataFrame or ibis.Table or None
        ``customer_id``, ``answered_at``, ``nps`` (rules ``promoter`` and ``either``).
    as_of : date-like
        Only events and answers strictly before this UTC instant count.
    bins : PeriodBins
    rule : {"referral", "promoter", "either"}
        What makes an advocate (:data:`crm_research.kpi.definitions.ADVOCATE_RULES`).
    referral_event : str
        Event name of a referral.
    promoter_min : int
        Lowest NPS answer (0-10) of a promoter.
    by : str, optional
        A breakdown column of ``firsts`` (a customer-level attribute): histograms per value.

    Returns
    -------
    DataFrame or ibis.Table
        ``kind`` (``advocates`` or ``advocate_repeat``), ``pidx``, ``n`` (customers). Sorted.
    """
    sources = []
    if rule in ("referral", "either") and events is not None:
        e = _before(events, "occurred_at", as_of)
        e = e.filter(e["event"] == referral_event)
        sources.append(e.select(customer_id=e["customer_id"], adv_pidx=bins.expr(e["occurred_at"])))
    if rule in ("promoter", "either") and surveys is not None:
        s = _before(surveys, "answered_at", as_of)
        s = s.filter(s["nps"] >= promoter_min)
        sources.append(s.select(customer_id=s["customer_id"], adv_pidx=bins.expr(s["answered_at"])))
    if not sources:
        raise ParameterError(f"advocate rule {rule!r} needs the events (referral) and/or surveys "
                             "(promoter) table, and neither was given")
    a = sources[0] if len(sources) == 1 else sources[0].union(sources[1], distinct=False)
    a = a.group_by("customer_id").aggregate(adv_pidx=a["adv_pidx"].min())
    j = firsts.inner_join(a, "customer_id")
    h1 = _hist(j, ibis.greatest(j["first_pidx"], j["adv_pidx"]), "advocates", by)
    jr = j.filter(j["repeat_pidx"].notnull())
    h2 = _hist(jr, ibis.greatest(jr["repeat_pidx"], jr["adv_pidx"]), "advocate_repeat", by)
    return h1.union(h2, distinct=False).order_by(_keys(by, "kind", "pidx"))


@engine_function("customers", "firsts")
def conversion_stats(customers, firsts, as_of, bins: PeriodBins, *, by: str | None = None):
    """Histograms of contacts' sign-ups and conversions (new contacts, lead conversion).

    Parameters
    ----------
    customers : DataFrame or ibis.Table
        Contacts with ``customer_id`` and ``signup_at`` (UTC).
    firsts : DataFrame or ibis.Table
        Output of :func:`customer_firsts`.
    as_of : date-like
        Only sign-ups strictly before this UTC instant count.
    bins : PeriodBins
    by : str, optional
        A breakdown column of ``customers`` (and ``firsts``): histograms per value.

    Returns
    -------
    DataFrame or ibis.Table
        ``kind``, ``pidx``, ``n``: ``contacts`` counts sign-ups by period; ``converted`` counts
        contacts by period ``max(sign-up, first completed order)`` (the first period at whose
        end the contact is both known and a customer). Sorted.
    """
    c = _before(customers, "signup_at", as_of)
    c = c.select(*_keys(by), cid=c["customer_id"], s_pidx=bins.expr(c["signup_at"]))
    f = firsts.select("customer_id", "first_pidx")
    j = c.inner_join(f, c["cid"] == f["customer_id"])
    h1 = _hist(c, c["s_pidx"], "contacts", by)
    h2 = _hist(j, ibis.greatest(j["s_pidx"], j["first_pidx"]), "converted", by)
    return h1.union(h2, distinct=False).order_by(_keys(by, "kind", "pidx"))


@engine_function("events")
def cart_stats(events, as_of, bins: PeriodBins, *, cart_event: str = "add_to_cart",
               purchase_event: str = "purchase", by: str | None = None):
    """Per period: sessions with an add-to-cart, and those of them without a purchase.

    Parameters
    ----------
    events : DataFrame or ibis.Table
        ``session_id``, ``occurred_at`` (UTC), ``event``. Events without a session are ignored.
    as_of : date-like
        Only events strictly before this UTC instant count.
    bins : PeriodBins
    cart_event, purchase_event : str
        Event names of adding to the cart and of the purchase.
    by : str, optional
        A breakdown column of ``events`` (e.g. the platform): sessions per value.

    Returns
    -------
    DataFrame or ibis.Table
        ``pidx`` (period of the session's first cart event), ``carts`` (sessions),
        ``abandoned`` (of them, sessions with no purchase event before ``as_of``). Sorted.
    """
    e = _before(events, "occurred_at", as_of)
    e = e.filter(e["session_id"].notnull() & e["event"].isin([cart_event, purchase_event]))
    s = e.group_by(_keys(by, "session_id")).aggregate(
        cart_at=e["occurred_at"].min(where=e["event"] == cart_event),
        bought=flag(e["event"] == purchase_event).max(),
    )
    s = s.filter(s["cart_at"].notnull())
    s = s.select(*_keys(by), pidx=bins.expr(s["cart_at"]), bought=s["bought"])
    return s.group_by(_keys(by, "pidx")).aggregate(
        carts=s.count(), abandoned=flag(s["bought"] == 0).sum()
    ).order_by(_keys(by, "pidx"))


def _seconds(later: ir.TimestampValue, earlier: ir.TimestampValue) -> ir.IntegerValue:
    """Whole seconds from ``earlier`` to ``later`` (rounded)."""
    return (later.epoch_seconds().cast("float64") - earlier.epoch_seconds().cast("float64")).round().cast("int64")


@engine_function("tickets")
def ticket_stats(tickets, as_of, bins: PeriodBins, *, by: str | None = None):
    """Per period of ``opened_at``: counts, first-contact resolution, durations and CSAT sums.

    Parameters
    ----------
    tickets : DataFrame or ibis.Table
        ``opened_at``, ``first_response_at``, ``resolved_at`` (UTC, nullable), ``contacts``
        (int), ``csat`` (1-5, nullable). Only ``opened_at`` is required: the sums of an absent
        column are 0 and its medians null (its metrics cannot be measured).
    as_of : date-like
        Tickets opened strictly before this instant count; responses and resolutions at or
        after it count as not (yet) happened.
    bins : PeriodBins
    by : str, optional
        A breakdown column of ``tickets``: one row per value and period.

    Returns
    -------
    DataFrame or ibis.Table
        ``pidx``, ``tickets``, ``resolved``, ``fcr`` (resolved with ``contacts == 1``);
        ``fr_n``, ``fr_sum``, ``fr_sq``, ``fr_median`` (first response time, whole seconds);
        ``ht_n``, ``ht_sum``, ``ht_sq``, ``ht_median`` (handling time = resolved - opened,
        whole seconds); ``csat_n``, ``csat_sum``, ``csat_sq``, ``csat_45`` (answers 4 or 5).
        Sorted.
    """
    t = _before(tickets, "opened_at", as_of)

    def since_opened(col: str) -> ir.IntegerValue:  # seconds from opening; null when absent or after as_of
        if col not in t.columns:
            return ibis.null("int64")
        ok = t[col].notnull() & (t[col] < _lit(t[col], as_of))
        return ibis.ifelse(ok, _seconds(t[col], t["opened_at"]), ibis.null("int64"))

    def number(col: str) -> ir.IntegerValue:
        return t[col].cast("int64") if col in t.columns else ibis.null("int64")

    t = t.select(*_keys(by), pidx=bins.expr(t["opened_at"]), fr=since_opened("first_response_at"),
                 ht=since_opened("resolved_at"), contacts=number("contacts"), csat=number("csat"))
    frd, htd, cd = t["fr"].cast(DEC), t["ht"].cast(DEC), t["csat"].cast(DEC)
    return t.group_by(_keys(by, "pidx")).aggregate(
        tickets=t.count(),
        resolved=flag(t["ht"].notnull()).sum(),
        fcr=flag(t["ht"].notnull() & (t["contacts"] == 1)).sum(),
        fr_n=t["fr"].count(),
        fr_sum=t["fr"].sum().cast("int64"),
        fr_sq=(frd * frd).sum().cast(DEC),
        fr_median=t["fr"].cast("float64").median(),
        ht_n=t["ht"].count(),
        ht_sum=t["ht"].sum().cast("int64"),
        ht_sq=(htd * htd).sum().cast(DEC),
        ht_median=t["ht"].cast("float64").median(),
        csat_n=t["csat"].count(),
        csat_sum=t["csat"].sum().cast("int64"),
        csat_sq=(cd * cd).sum().cast(DEC),
        csat_45=flag(t["csat"] >= 4).sum(),
    ).order_by(_keys(by, "pidx"))


@engine_function("surveys")
def nps_stats(surveys, as_of, bins: PeriodBins, *, promoter_min: int = 9, detractor_max: int = 6,
              by: str | None = None):
    """Per period of ``answered_at``: answers, promoters and detractors.

    Parameters
    ----------
    surveys : DataFrame or ibis.Table
        ``answered_at`` (UTC), ``nps`` (0-10).
    as_of : date-like
        Only answers strictly before this UTC instant count.
    bins : PeriodBins
    promoter_min, detractor_max : int
        Promoters answer ``>= promoter_min`` (9), detractors ``<= detractor_max`` (6).
    by : str, optional
        A breakdown column of ``surveys``: one row per value and period.

    Returns
    -------
    DataFrame or ibis.Table
        ``pidx``, ``n``, ``promoters``, ``detractors``. Sorted.
    """
    s = _before(surveys, "answered_at", as_of)
    s = s.filter(s["nps"].notnull())
    s = s.select(*_keys(by), pidx=bins.expr(s["answered_at"]), nps=s["nps"])
    return s.group_by(_keys(by, "pidx")).aggregate(
        n=s.count(),
        promoters=flag(s["nps"] >= promoter_min).sum(),
        detractors=flag(s["nps"] <= detractor_max).sum(),
    ).order_by(_keys(by, "pidx"))


@engine_function("cp")
def cohort_counts(cp):
    """Active customers per acquisition cohort and period.

    Parameters
    ----------
    cp : DataFrame or ibis.Table
        Output of :func:`order_periods`.

    Returns
    -------
    DataFrame or ibis.Table
        ``cohort`` (period index of the customer's first completed order), ``pidx``,
        ``active`` (customers of the cohort with an order in ``pidx``). Sorted.
    """
    f = cp.group_by("customer_id").aggregate(cohort=cp["pidx"].min())
    j = cp.inner_join(f, "customer_id")
    return j.group_by(["cohort", "pidx"]).aggregate(active=j.count()).order_by(["cohort", "pidx"])
