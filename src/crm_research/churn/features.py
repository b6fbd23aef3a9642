"""Churn features and labels: each customer as they were at a date, and whether they bought after it.

Discipline against leakage
--------------------------
* Every feature is computed from rows **strictly before** the date it is taken at (each table
  is filtered on its own timestamp column first). Attributes that change later are read as they
  were then: a ticket resolved afterwards counts as open and its CSAT is unknown; a subscription
  ending afterwards counts as active. The features are therefore identical whether or not later
  rows exist (``tests/test_churn_classifier.py`` plants a perfectly leaking signal after that
  date and checks this).
* The label of a customer active at ``label_start`` is 1 when they make **no purchase** in
  ``[label_start, label_start + horizon_days)`` (non-contractual churn over the horizon); the
  window must end by the analysis date ``as_of`` (:func:`label_window`).

The row-level scans run on the engine layer (Ibis): tables may be DataFrames or engine tables.
The model that learns from them is :class:`~crm_research.churn.classifier.ChurnClassifier`.
"""

from __future__ import annotations

from collections.abc import Mapping

import ibis
import numpy as np
import pandas as pd

from crm_research import exprs
from crm_research.engine import collect, engine_function
from crm_research.errors import CRMError, ParameterError
from crm_research.exprs import ts_literal

__all__ = [
    "churn_features",
    "churn_labels",
    "label_window",
    "FEATURE_DESCRIPTIONS",
    "FEATURE_GROUPS",
    "FEATURE_UNITS",
    "MISSING_DESCRIPTIONS",
    "NO_DRIVER",
    "describe_driver",
    "describe_driver_value",
]

DAY = pd.Timedelta(days=1)

FEATURE_DESCRIPTIONS: dict[str, tuple[str, str]] = {
    # feature: (description when the customer's value is above the typical customer's, below it)
    "recency_days": ("long time since the last purchase", "short time since the last purchase"),
    "tenure_days": ("long-standing customer", "recent customer (first purchase not long ago)"),
    "n_purchase_days": ("many purchase days", "few purchase days"),
    "n_orders": ("many orders", "few orders"),
    "revenue": ("high total spend", "low total spend"),
    "avg_order_value": ("high average order value", "low average order value"),
    "mean_gap_days": ("slow purchase rhythm", "fast purchase rhythm"),
    "overdue_ratio": ("overdue versus their own purchase rhythm", "not yet due by their own purchase rhythm"),
    "orders_90d": ("many orders in the last 90 days", "few orders in the last 90 days"),
    "orders_prev_90d": ("many orders 90 to 180 days ago", "few orders 90 to 180 days ago"),
    "revenue_90d": ("high spend in the last 90 days", "low spend in the last 90 days"),
    "returned_share": ("many returned orders", "few returned orders"),
    "cancelled_orders": ("cancelled orders", "few cancelled orders"),
    "promo_share": ("buys mostly on promotion", "rarely buys on promotion"),
    "site_visits_30d": ("many site visits in the last 30 days", "few site visits in the last 30 days"),
    "site_visits_90d": ("many site visits in the last 90 days", "few site visits in the last 90 days"),
    "days_since_visit": ("no recent site visit", "recent site visit"),
    "carts_90d": ("many add-to-carts in the last 90 days", "few add-to-carts in the last 90 days"),
    "tickets_180d": ("support tickets in the last 180 days", "few support tickets in the last 180 days"),
    "open_tickets": ("unresolved support tickets", "few unresolved support tickets"),
    "mean_csat": ("high satisfaction with support", "low satisfaction with support"),
    "last_nps": ("high NPS answer", "low NPS answer"),
    "active_subscription": ("active subscription", "no active subscription"),
    "ended_subscription": ("ended a subscription", "no ended subscription"),
    "age": ("older than the typical customer", "younger than the typical customer"),
}
"""Plain-word risk drivers: a driver is described by the direction in which the customer differs
from the typical (training median) customer, since a model may find risk on either side."""

FEATURE_GROUPS: dict[str, str] = {
    **dict.fromkeys(("n_purchase_days", "n_orders", "revenue", "avg_order_value", "tenure_days", "mean_gap_days"),
                    "purchase history"),
    **dict.fromkeys(("recency_days", "overdue_ratio"), "time since the last purchase"),
    **dict.fromkeys(("orders_90d", "orders_prev_90d", "revenue_90d"), "recent purchases"),
    **dict.fromkeys(("site_visits_30d", "site_visits_90d", "days_since_visit", "carts_90d"), "site visits"),
    **dict.fromkeys(("tickets_180d", "open_tickets", "mean_csat"), "support"),
}
"""Features that measure one thing several ways (orders and purchase days, revenue and average
order value): a linear model may weigh one up and its twin down, so a driver is chosen by the
*sum* of a group's contributions and then described by the member that adds the most. Features
not listed form a group of their own."""

MISSING_DESCRIPTIONS = {
    "mean_gap_days": "only one purchase day so far",
    "overdue_ratio": "only one purchase day so far",
    "days_since_visit": "no site visit on record",
    "mean_csat": "no rated support ticket",
    "last_nps": "no survey answer",
    "age": "age unknown",
}
"""Description of a driver whose feature is undefined (missing) for the customer."""


NO_DRIVER = "no single fact stands out"
"""Driver description of a customer none of whose features raises the risk (no positive
contribution to the log-odds of churn)."""

FEATURE_UNITS: dict[str, str] = {
    "recency_days": "days", "tenure_days": "days", "n_purchase_days": "purchase days", "n_orders": "orders",
    "revenue": "currency", "avg_order_value": "currency", "mean_gap_days": "days",
    "overdue_ratio": "times their usual gap", "orders_90d": "orders", "orders_prev_90d": "orders",
    "revenue_90d": "currency", "returned_share": "share", "cancelled_orders": "orders", "promo_share": "share",
    "site_visits_30d": "visits", "site_visits_90d": "visits", "days_since_visit": "days",
    "carts_90d": "add-to-carts", "tickets_180d": "tickets", "open_tickets": "tickets", "mean_csat": "score",
    "last_nps": "score", "active_subscription": "subscriptions", "ended_subscription": "subscriptions",
    "age": "years",
}
"""Unit of each feature in a driver's wording: ``"currency"`` and ``"score"`` print the bare
number, ``"share"`` a percentage, anything else is written after the number."""


def describe_driver(name: str, value: float, reference: float) -> str:
    """Plain words for risk driver ``name`` of a customer whose feature is ``value``.

    ``reference`` is the typical customer's value: above it the first description of
    :data:`FEATURE_DESCRIPTIONS` applies, below it the second; a missing ``value`` gets
    :data:`MISSING_DESCRIPTIONS`. ``"none"`` is :data:`NO_DRIVER`
    (``"no single fact stands out"``).

    Examples
    --------
    >>> describe_driver("recency_days", 200.0, 45.0)
    'long time since the last purchase'
    >>> describe_driver("site_visits_30d", 0.0, 3.0)
    'few site visits in the last 30 days'
    >>> describe_driver("last_nps", float("nan"), 8.0)
    'no survey answer'
    """
    if name == "none":
        return NO_DRIVER
    if value is None or not np.isfinite(value):
        return MISSING_DESCRIPTIONS.get(name, f"{name} unknown")
    if name not in FEATURE_DESCRIPTIONS:
        return f"{name} {'above' if value > reference else 'below'} typical"
    high, low = FEATURE_DESCRIPTIONS[name]
    return high if value > reference else low


_SINGULAR = {"days": "day", "purchase days": "purchase day", "orders": "order", "visits": "visit",
             "times their usual gap": "time their usual gap", "add-to-carts": "add-to-cart", "tickets": "ticket",
             "subscriptions": "subscription", "years": "year"}


def _number(value: float, unit: str) -> str:
    if unit == "share":
        return f"{value:.0%}"
    if unit == "currency" or abs(value) >= 10:
        text = f"{value:,.0f}"
    elif abs(value - round(value)) < 0.05:
        text = f"{round(value):,.0f}"
    else:
        text = f"{value:.1f}"
    return text


def describe_driver_value(name: str, value: float, reference: float) -> str:
    """:func:`describe_driver` with the customer's value and the typical one, in the feature's unit.

    Examples
    --------
    >>> describe_driver_value("recency_days", 210.4, 45.0)
    'long time since the last purchase: 210 days (typical 45)'
    >>> describe_driver_value("promo_share", 0.8, 0.1)
    'buys mostly on promotion: 80% (typical 10%)'
    >>> describe_driver_value("days_since_visit", float("nan"), 20.0)
    'no site visit on record'
    """
    words = describe_driver(name, value, reference)
    if name == "none" or value is None or not np.isfinite(value):
        return words
    unit = FEATURE_UNITS.get(name, "")
    number = _number(value, unit)
    if unit in ("", "currency", "score", "share"):
        after = ""
    elif number == "1":
        after = " " + _SINGULAR.get(unit, unit)
    else:
        after = f" {unit}"
    typical = _number(reference, unit) if np.isfinite(reference) else "unknown"
    return f"{words}: {number}{after} (typical {typical})"


def _money(col):
    # DECIMAL sums are exact: identical whatever order the engine's threads add rows in
    return col.cast("decimal(38, 6)")



@engine_function("orders", "events", "tickets", "surveys", "subscriptions", "customers")
def _feature_tables(orders, events=None, tickets=None, surveys=None, subscriptions=None,
                    customers=None, *, as_of, status_completed: str = "completed", active_since=None):
    """Per-customer aggregates of each table, from rows strictly before ``as_of``.

    ``active_since`` (a timestamp): the other tables' aggregates keep only the customers whose
    last completed order is on or after it (a superset of those :func:`churn_features` keeps),
    so a large company's inactive customers never leave the engine.
    """
    cut = exprs.parse_as_of(as_of)
    c = ts_literal(cut)
    d30, d90, d180 = ts_literal(cut - 30 * DAY), ts_literal(cut - 90 * DAY), ts_literal(cut - 180 * DAY)
    out = {}

    o = orders.filter(orders.ordered_at < c)
    done = o.status == status_completed if "status" in o.columns else ibis.literal(True)
    promo = (o.promo_code.notnull() & (o.promo_code != "")) if "promo_code" in o.columns else ibis.literal(False)
    returned = (o.status == "returned") if "status" in o.columns else ibis.literal(False)
    cancelled = (o.status == "cancelled") if "status" in o.columns else ibis.literal(False)
    money = {}
    if "amount" in o.columns:  # no amounts (orders from an event log): no spend features
        money = {"revenue": _money(o.amount).sum(where=done),
                 "revenue_90d": _money(o.amount).sum(where=done & (o.ordered_at >= d90))}
    out["orders"] = o.group_by("customer_id").aggregate(
        n_orders=o.count(where=done),
        n_all_orders=o.count(),
        n_purchase_days=o.ordered_at.date().nunique(where=done),
        first_order_at=o.ordered_at.min(where=done),
        last_order_at=o.ordered_at.max(where=done),
        orders_90d=o.count(where=done & (o.ordered_at >= d90)),
        orders_prev_90d=o.count(where=done & (o.ordered_at >= d180) & (o.ordered_at < d90)),
        n_returned=o.count(where=returned),
        cancelled_orders=o.count(where=cancelled),
        n_promo=o.count(where=done & promo),
        **money,
    )
    keep = None
    if active_since is not None:
        g = out["orders"]
        keep = g.filter(g.last_order_at >= ts_literal(active_since)).select(kid=g.customer_id)
    out["orders"] = out["orders"].order_by("customer_id")

    def active(t):
        return t if keep is None else t.semi_join(keep, t.customer_id == keep.kid)

    if events is not None:
        e = events.filter(events.occurred_at < c)
        visit = e.event == "site_visit"
        out["events"] = active(e.group_by("customer_id").aggregate(
            site_visits_30d=e.count(where=visit & (e.occurred_at >= d30)),
            site_visits_90d=e.count(where=visit & (e.occurred_at >= d90)),
            last_visit_at=e.occurred_at.max(where=visit),
            carts_90d=e.count(where=(e.event == "add_to_cart") & (e.occurred_at >= d90)),
        )).order_by("customer_id")

    if tickets is not None:
        t = tickets.filter(tickets.opened_at < c)
        # without resolution dates every ticket counts as open; CSAT only with both columns
        resolved_before = ((t.resolved_at.notnull() & (t.resolved_at < c)) if "resolved_at" in t.columns
                           else ibis.literal(False))
        csat = {}
        if "csat" in t.columns and "resolved_at" in t.columns:
            # CSAT is answered at resolution: unknown for tickets resolved on or after as_of
            csat = {"csat_sum": t.csat.cast("int64").sum(where=resolved_before),
                    "csat_n": t.csat.count(where=resolved_before)}
        out["tickets"] = active(t.group_by("customer_id").aggregate(
            tickets_180d=t.count(where=t.opened_at >= d180),
            open_tickets=t.count(where=~resolved_before),
            **csat,
        )).order_by("customer_id")

    if surveys is not None:
        s = surveys.filter(surveys.answered_at < c)
        last = s.group_by("customer_id").aggregate(last_at=s.answered_at.max())
        j = s.inner_join(last, (s.customer_id == last.customer_id) & (s.answered_at == last.last_at))
        out["surveys"] = active(j.group_by("customer_id").aggregate(
            last_nps=j.nps.cast("float64").mean())).order_by("customer_id")

    if subscriptions is not None:
        b = subscriptions.filter(subscriptions.started_at < c)
        # without end dates no subscription is known to have ended
        ended = ((b.ended_at.notnull() & (b.ended_at < c)) if "ended_at" in b.columns
                 else ibis.literal(False))
        out["subscriptions"] = active(b.group_by("customer_id").aggregate(
            active_subscription=b.count(where=~ended),
            ended_subscription=b.count(where=ended),
        )).order_by("customer_id")

    if customers is not None and "age" in customers.columns:
        out["customers"] = active(customers.select("customer_id", age=customers.age.cast("float64"))
                                  ).order_by("customer_id")
    return out


def churn_features(tables: Mapping[str, object], as_of, active_days: float = 365.0) -> pd.DataFrame:
    """Features of the customers active at ``as_of``, from rows strictly before it.

    Parameters
    ----------
    tables : mapping of str to DataFrame or ibis.Table
        ``orders`` (required; ``customer_id``, ``ordered_at``, optional ``amount``, ``status``
        and ``promo_code``), and when present ``events``, ``tickets``, ``surveys``,
        ``subscriptions``, ``customers`` (canonical columns of the data model; a table that is
        absent or ``None`` adds no features, and an optional column that is absent only drops
        the features it feeds: no ``amount``, no spend features; no ``tickets.csat``, no
        ``mean_csat``; no ``ended_at``/``resolved_at``, nothing counts as ended/resolved).
    as_of : date-like
        Date the features are taken at (UTC, exclusive): only rows before it count. Required.
    active_days : float
        Population: customers whose last completed purchase is less than ``active_days`` days
        before ``as_of`` (longer-lapsed customers are already churned).

    Returns
    -------
    DataFrame
        ``customer_id`` and numeric features (days, counts, currency, shares; NaN when
        undefined, e.g. ``mean_gap_days`` of a one-time buyer): see
        :data:`FEATURE_DESCRIPTIONS`. Sorted by ``customer_id``.

    Examples
    --------
    >>> from crm_research import synthetic
    >>> tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> f = churn_features(tables, "2025-10-01")
    >>> list(f.columns[:4])
    ['customer_id', 'recency_days', 'tenure_days', 'n_purchase_days']
    """
    if "orders" not in tables:
        raise CRMError(f"churn_features needs an 'orders' table; got {sorted(tables)}")
    if not active_days > 0:
        raise ParameterError(f"active_days must be > 0, got {active_days!r}")
    cut = exprs.parse_as_of(as_of)
    names = ("orders", "events", "tickets", "surveys", "subscriptions", "customers")
    # one day more than the population's window: the engine keeps a superset, pandas decides below
    parts = _feature_tables(**{n: tables.get(n) for n in names}, as_of=cut,
                            active_since=cut - pd.Timedelta(days=float(active_days) + 1))
    parts = {k: collect(v) for k, v in parts.items()}
    o = parts["orders"]
    o = o[o["n_orders"] > 0].copy()
    last = pd.to_datetime(o["last_order_at"], utc=True)
    first = pd.to_datetime(o["first_order_at"], utc=True)
    f = pd.DataFrame({"customer_id": o["customer_id"].to_numpy()})
    f["recency_days"] = ((cut - last) / DAY).to_numpy(dtype=float)
    f["tenure_days"] = ((cut - first) / DAY).to_numpy(dtype=float)
    f["n_purchase_days"] = o["n_purchase_days"].to_numpy(dtype=float)
    f["n_orders"] = o["n_orders"].to_numpy(dtype=float)
    if "revenue" in o.columns:
        f["revenue"] = o["revenue"].astype(float).to_numpy()
        f["avg_order_value"] = f["revenue"] / f["n_orders"]
    span = ((last - first) / DAY).to_numpy(dtype=float)
    gaps = f["n_purchase_days"].to_numpy() - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        f["mean_gap_days"] = np.where(gaps > 0, span / np.maximum(gaps, 1), np.nan)
        f["overdue_ratio"] = f["recency_days"] / f["mean_gap_days"]
    f["orders_90d"] = o["orders_90d"].to_numpy(dtype=float)
    f["orders_prev_90d"] = o["orders_prev_90d"].to_numpy(dtype=float)
    if "revenue_90d" in o.columns:
        f["revenue_90d"] = o["revenue_90d"].astype(float).fillna(0.0).to_numpy()
    n_all = o["n_all_orders"].to_numpy(dtype=float)
    f["returned_share"] = o["n_returned"].to_numpy(dtype=float) / n_all
    f["cancelled_orders"] = o["cancelled_orders"].to_numpy(dtype=float)
    f["promo_share"] = o["n_promo"].to_numpy(dtype=float) / f["n_orders"].to_numpy()
    f = f[f["recency_days"] < active_days]

    if "events" in parts:
        e = parts["events"]
        ev = pd.DataFrame({
            "customer_id": e["customer_id"],
            "site_visits_30d": e["site_visits_30d"].astype(float),
            "site_visits_90d": e["site_visits_90d"].astype(float),
            "days_since_visit": ((cut - pd.to_datetime(e["last_visit_at"], utc=True)) / DAY).astype(float),
            "carts_90d": e["carts_90d"].astype(float),
        })
        f = f.merge(ev, on="customer_id", how="left")
        for c in ("site_visits_30d", "site_visits_90d", "carts_90d"):
            f[c] = f[c].fillna(0.0)
    if "tickets" in parts:
        t = parts["tickets"]
        tk = pd.DataFrame({
            "customer_id": t["customer_id"],
            "tickets_180d": t["tickets_180d"].astype(float),
            "open_tickets": t["open_tickets"].astype(float),
        })
        if "csat_n" in t.columns:
            tk["mean_csat"] = t["csat_sum"].astype(float) / t["csat_n"].astype(float).where(t["csat_n"] > 0)
        f = f.merge(tk, on="customer_id", how="left")
        for c in ("tickets_180d", "open_tickets"):
            f[c] = f[c].fillna(0.0)
    if "surveys" in parts:
        f = f.merge(parts["surveys"][["customer_id", "last_nps"]], on="customer_id", how="left")
    if "subscriptions" in parts:
        s = parts["subscriptions"]
        sb = pd.DataFrame({
            "customer_id": s["customer_id"],
            "active_subscription": (s["active_subscription"] > 0).astype(float),
            "ended_subscription": (s["ended_subscription"] > 0).astype(float),
        })
        f = f.merge(sb, on="customer_id", how="left")
        for c in ("active_subscription", "ended_subscription"):
            f[c] = f[c].fillna(0.0)
    if "customers" in parts:
        f = f.merge(parts["customers"], on="customer_id", how="left")
    return f.sort_values("customer_id", kind="stable").reset_index(drop=True)


@engine_function("orders")


@engine_function("orders")
def _buyers_in_window(orders, start, end, status_completed: str = "completed"):
    o = exprs.completed_orders(orders, end, date_col="ordered_at", status_col="status",
                               statuses=(status_completed,), since=start)
    return o.select("customer_id").distinct().order_by("customer_id")


def label_window(as_of, horizon_days: float, label_start=None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The churn label's window ``[label_start, label_start + horizon_days)``, checked to end by ``as_of``.

    Parameters
    ----------
    as_of : date-like
        Analysis date (UTC, exclusive): no purchase on or after it may decide a label. Required.
    horizon_days : float
        Length of the window, days (> 0).
    label_start : date-like, optional
        Start of the window: the date the customers are taken at. Default ``as_of -
        horizon_days``, the latest window whose outcome is known.

    Returns
    -------
    (Timestamp, Timestamp)
        Start and end (exclusive) of the window, UTC.

    Raises
    ------
    ParameterError
        The window would run past ``as_of`` (its labels would call customers churned for lack
        of data).

    Examples
    --------
    >>> [str(t.date()) for t in label_window("2026-01-01", 90)]
    ['2025-10-03', '2026-01-01']
    """
    cut = exprs.parse_as_of(as_of)
    if not float(horizon_days) > 0:
        raise ParameterError(f"horizon_days must be > 0, got {horizon_days!r}")
    horizon = pd.Timedelta(days=float(horizon_days))
    start = cut - horizon if label_start is None else exprs.parse_as_of(label_start, "label_start")
    end = start + horizon
    if end > cut:
        raise ParameterError(
            f"the label window [{start}, {end}) runs past as_of ({cut}): choose an earlier label_start "
            f"or a shorter horizon_days"
        )
    return start, end


def churn_labels(orders, customers: pd.Series | pd.DataFrame, as_of, horizon_days: float, *,
                 label_start=None) -> pd.DataFrame:
    """Churn label over ``[label_start, label_start + horizon_days)``: 1 = no completed purchase in it.

    Parameters
    ----------
    orders : DataFrame or ibis.Table
        Order log (``customer_id``, ``ordered_at``, optional ``status``).
    customers : Series or DataFrame
        Ids to label (a ``customer_id`` column, e.g. :func:`churn_features` output).
    as_of : date-like
        Analysis date (UTC, exclusive): the window must end by it. Required.
    horizon_days : float
        Length of the window, days.
    label_start : date-like, optional
        Start of the window (UTC); default ``as_of - horizon_days`` (:func:`label_window`).

    Returns
    -------
    DataFrame
        ``customer_id``, ``churned`` (0/1), in the order of ``customers``.

    Examples
    --------
    >>> orders = pd.DataFrame({"customer_id": [1, 2, 1],
    ...                        "ordered_at": pd.to_datetime(["2025-01-05", "2025-01-10", "2025-03-01"], utc=True),
    ...                        "status": "completed"})
    >>> churn_labels(orders, pd.Series([1, 2]), "2025-04-01", 60)
       customer_id  churned
    0            1        0
    1            2        1
    """
    start, end = label_window(as_of, horizon_days, label_start)
    ids = customers["customer_id"] if isinstance(customers, pd.DataFrame) else customers
    buyers = collect(_buyers_in_window(orders, start, end))["customer_id"]
    return pd.DataFrame({"customer_id": ids.to_numpy(),
                         "churned": (~ids.isin(set(buyers))).astype(np.int64).to_numpy()})
