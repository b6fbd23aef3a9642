"""A time-aware churn classifier: features as of a cut-off, label = churn in the next horizon.

Discipline against leakage
--------------------------
* Every feature is computed from rows **strictly before** the cut-off (each table is filtered on
  its own timestamp column first). Attributes that change later are read as they were at the
  cut-off: a ticket resolved after the cut-off counts as open and its CSAT is unknown; a
  subscription ending after the cut-off counts as active. The features are therefore identical
  whether or not rows after the cut-off exist (``tests/test_churn_classifier.py`` plants a
  perfectly leaking signal after the cut-off and checks this).
* The label of a customer active at the cut-off is 1 when they make **no purchase** in
  ``[cut-off, cut-off + horizon_days)`` (non-contractual churn over the horizon).
* Train and test are split **by time**: the model is fitted at an earlier cut-off and evaluated
  at a later one, at least ``horizon_days`` later so that no training label looks past the
  test cut-off. Never a random split of rows.
* Probabilities are calibrated on customers the model did not learn from: at the training
  cut-off a stratified share of the customers (``validation_size``, drawn with the seed) is held
  out, the base model learns from the rest, and the calibration map (sigmoid, beta or smoothed
  isotonic: :mod:`crm_research.churn.calibration`) is chosen and fitted on the held-out share. The
  map is strictly increasing (the ranking is the base model's) and never gives exactly 0 or 1.
* Each customer's risk driver is the model's own contribution: the raw log-odds of churn split
  into one signed term per feature (logistic: coefficient x standardised value; gradient
  boosting: Saabas path contributions with node values = the training-weighted mean of the
  leaves below), which add up to the customer's log-odds minus the model's baseline.

The row-level scans run on the engine layer (Ibis): tables may be DataFrames or engine tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import ibis
import numpy as np
import pandas as pd

from crm_research import summaries
from crm_research.churn.calibration import (
    CALIBRATION_METHODS,
    ProbabilityCalibrator,
    calibration_metrics,
    expected_calibration_error,
)
from crm_research.engine import collect, engine_function
from crm_research.errors import CRMError, ParameterError

if TYPE_CHECKING:
    from sklearn.ensemble import HistGradientBoostingClassifier

__all__ = [
    "churn_features",
    "churn_labels",
    "ChurnClassifier",
    "classification_metrics",
    "calibration_table",
    "calibration_metrics",
    "expected_calibration_error",
    "lift_table",
    "FEATURE_DESCRIPTIONS",
    "FEATURE_GROUPS",
    "FEATURE_UNITS",
    "NO_DRIVER",
    "describe_driver",
    "describe_driver_value",
    "tree_contributions",
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


def _ts(value) -> ibis.expr.types.Scalar:
    return ibis.literal(summaries.as_utc_timestamp(value).to_pydatetime(), type="timestamp('UTC')")


def _money(col):
    # DECIMAL sums are exact: identical whatever order the engine's threads add rows in
    return col.cast("decimal(38, 6)")


@engine_function("orders", "events", "tickets", "surveys", "subscriptions", "customers")
def _feature_tables(orders, events=None, tickets=None, surveys=None, subscriptions=None,
                    customers=None, *, cutoff, status_completed: str = "completed"):
    """Per-customer aggregates of each table, from rows strictly before ``cutoff``."""
    cut = summaries.as_utc_timestamp(cutoff)
    c = _ts(cut)
    d30, d90, d180 = _ts(cut - 30 * DAY), _ts(cut - 90 * DAY), _ts(cut - 180 * DAY)
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
    ).order_by("customer_id")

    if events is not None:
        e = events.filter(events.occurred_at < c)
        visit = e.event == "site_visit"
        out["events"] = e.group_by("customer_id").aggregate(
            site_visits_30d=e.count(where=visit & (e.occurred_at >= d30)),
            site_visits_90d=e.count(where=visit & (e.occurred_at >= d90)),
            last_visit_at=e.occurred_at.max(where=visit),
            carts_90d=e.count(where=(e.event == "add_to_cart") & (e.occurred_at >= d90)),
        ).order_by("customer_id")

    if tickets is not None:
        t = tickets.filter(tickets.opened_at < c)
        # without resolution dates every ticket counts as open; CSAT only with both columns
        resolved_before = ((t.resolved_at.notnull() & (t.resolved_at < c)) if "resolved_at" in t.columns
                           else ibis.literal(False))
        csat = {}
        if "csat" in t.columns and "resolved_at" in t.columns:
            # CSAT is answered at resolution: unknown for tickets resolved after the cut-off
            csat = {"csat_sum": t.csat.cast("int64").sum(where=resolved_before),
                    "csat_n": t.csat.count(where=resolved_before)}
        out["tickets"] = t.group_by("customer_id").aggregate(
            tickets_180d=t.count(where=t.opened_at >= d180),
            open_tickets=t.count(where=~resolved_before),
            **csat,
        ).order_by("customer_id")

    if surveys is not None:
        s = surveys.filter(surveys.answered_at < c)
        last = s.group_by("customer_id").aggregate(last_at=s.answered_at.max())
        j = s.inner_join(last, (s.customer_id == last.customer_id) & (s.answered_at == last.last_at))
        out["surveys"] = j.group_by("customer_id").aggregate(
            last_nps=j.nps.cast("float64").mean()).order_by("customer_id")

    if subscriptions is not None:
        b = subscriptions.filter(subscriptions.started_at < c)
        # without end dates no subscription is known to have ended
        ended = ((b.ended_at.notnull() & (b.ended_at < c)) if "ended_at" in b.columns
                 else ibis.literal(False))
        out["subscriptions"] = b.group_by("customer_id").aggregate(
            active_subscription=b.count(where=~ended),
            ended_subscription=b.count(where=ended),
        ).order_by("customer_id")

    if customers is not None and "age" in customers.columns:
        out["customers"] = customers.select("customer_id", age=customers.age.cast("float64")
                                            ).order_by("customer_id")
    return out


def churn_features(tables: Mapping[str, object], cutoff, active_days: float = 365.0) -> pd.DataFrame:
    """Features of the customers active at ``cutoff``, from rows strictly before it.

    Parameters
    ----------
    tables : mapping of str to DataFrame or ibis.Table
        ``orders`` (required; ``customer_id``, ``ordered_at``, optional ``amount``, ``status``
        and ``promo_code``), and when present ``events``, ``tickets``, ``surveys``,
        ``subscriptions``, ``customers`` (canonical columns of the data model; a table that is
        absent or ``None`` adds no features, and an optional column that is absent only drops
        the features it feeds: no ``amount``, no spend features; no ``tickets.csat``, no
        ``mean_csat``; no ``ended_at``/``resolved_at``, nothing counts as ended/resolved).
    cutoff : date-like
        Cut-off instant (UTC, exclusive).
    active_days : float
        Population: customers whose last completed purchase is less than ``active_days`` days
        before the cut-off (longer-lapsed customers are already churned).

    Returns
    -------
    DataFrame
        ``customer_id`` and numeric features (days, counts, currency, shares; NaN when
        undefined, e.g. ``mean_gap_days`` of a one-time buyer): see
        :data:`FEATURE_DESCRIPTIONS`. Sorted by ``customer_id``.
    """
    if "orders" not in tables:
        raise CRMError(f"churn_features needs an 'orders' table; got {sorted(tables)}")
    if not active_days > 0:
        raise ParameterError(f"active_days must be > 0, got {active_days!r}")
    cut = summaries.as_utc_timestamp(cutoff)
    names = ("orders", "events", "tickets", "surveys", "subscriptions", "customers")
    parts = _feature_tables(**{n: tables.get(n) for n in names}, cutoff=cut)
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
def _buyers_in_window(orders, start, end, status_completed: str = "completed"):
    o = orders.filter((orders.ordered_at >= _ts(start)) & (orders.ordered_at < _ts(end)))
    if "status" in o.columns:
        o = o.filter(o.status == status_completed)
    return o.select("customer_id").distinct().order_by("customer_id")


@engine_function("orders")
def _last_order(orders):
    return orders.aggregate(last=orders.ordered_at.max())


def churn_labels(orders, customers: pd.Series | pd.DataFrame, cutoff, horizon_days: float,
                 data_end=None) -> pd.DataFrame:
    """Churn label over ``[cutoff, cutoff + horizon_days)``: 1 = no completed purchase in it.

    Parameters
    ----------
    orders : DataFrame or ibis.Table
        Order log (``customer_id``, ``ordered_at``, optional ``status``).
    customers : Series or DataFrame
        Ids to label (a ``customer_id`` column, e.g. :func:`churn_features` output).
    cutoff : date-like
        Start of the label window (UTC).
    horizon_days : float
        Length of the window, days.
    data_end : date-like, optional
        End of the order history (exclusive). The window must fit inside it, or the label
        would call customers churned for lack of data. Default: the last order + 1 second.

    Returns
    -------
    DataFrame
        ``customer_id``, ``churned`` (0/1), in the order of ``customers``.
    """
    cut = summaries.as_utc_timestamp(cutoff)
    end = cut + pd.Timedelta(days=float(horizon_days))
    if data_end is None:
        last = collect(_last_order(orders))["last"].iloc[0]
        data_end = pd.Timestamp(last) + pd.Timedelta(seconds=1)
    data_end = summaries.as_utc_timestamp(data_end)
    if end > data_end:
        raise ParameterError(
            f"the label window [{cut}, {end}) runs past the end of the data ({data_end}): choose an "
            f"earlier cut-off or a shorter horizon_days"
        )
    ids = customers["customer_id"] if isinstance(customers, pd.DataFrame) else customers
    buyers = collect(_buyers_in_window(orders, cut, end))["customer_id"]
    return pd.DataFrame({"customer_id": ids.to_numpy(),
                         "churned": (~ids.isin(set(buyers))).astype(np.int64).to_numpy()})


# --------------------------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------------------------


def _yp(y, p) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if y.shape != p.shape or len(y) == 0:
        raise CRMError(f"labels and probabilities must be non-empty and of equal length ({len(y)}, {len(p)})")
    if not np.isin(y, (0.0, 1.0)).all():
        raise CRMError("labels must be 0/1")
    return y, p


def classification_metrics(y, p) -> pd.DataFrame:
    """ROC-AUC, PR-AUC (average precision), Brier score and base rate, as a one-row table.

    Returns
    -------
    DataFrame
        ``n``, ``base_rate`` (share of churners), ``mean_predicted``, ``roc_auc``, ``pr_auc``,
        ``brier`` (mean squared error of the probabilities).
    """
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y, p = _yp(y, p)
    both = 0 < y.sum() < len(y)
    return pd.DataFrame([{
        "n": int(len(y)),
        "base_rate": float(y.mean()),
        "mean_predicted": float(p.mean()),
        "roc_auc": float(roc_auc_score(y, p)) if both else np.nan,
        "pr_auc": float(average_precision_score(y, p)) if both else np.nan,
        "brier": float(brier_score_loss(y, p)),
    }])


def calibration_table(y, p, n_bins: int = 10) -> pd.DataFrame:
    """Observed churn rate against predicted probability, in equal-count bins of the prediction.

    The points of the reliability curve; :func:`calibration_metrics` sums them up (Brier score,
    expected calibration error over the same bins, log loss).

    Returns
    -------
    DataFrame
        ``bin`` (1 = lowest predictions), ``n``, ``mean_predicted``, ``observed_rate``,
        ``ci_lower``, ``ci_upper`` (Wilson 95 % interval of the observed rate), ``gap``
        (``observed_rate - mean_predicted``: positive = more churn than predicted).
    """
    y, p = _yp(y, p)
    order = np.argsort(p, kind="stable")
    bins = np.empty(len(p), dtype=int)
    bins[order] = np.arange(len(p)) * n_bins // len(p)
    rows = []
    for b in range(n_bins):
        m = bins == b
        if not m.any():
            continue
        n, k = int(m.sum()), float(y[m].sum())
        lo, hi = _wilson(k, n)
        rows.append({"bin": b + 1, "n": n, "mean_predicted": float(p[m].mean()),
                     "observed_rate": k / n, "ci_lower": lo, "ci_upper": hi, "gap": k / n - float(p[m].mean())})
    return pd.DataFrame(rows)


def _wilson(k: float, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    ph = k / n
    den = 1 + z * z / n
    centre = (ph + z * z / (2 * n)) / den
    half = z * np.sqrt(ph * (1 - ph) / n + z * z / (4 * n * n)) / den
    # the interval holds ph; at k = 0 or k = n rounding can leave its end a hair inside (1 - 1e-16)
    return float(max(min(centre - half, ph), 0.0)), float(min(max(centre + half, ph), 1.0))


def lift_table(y, p, n_groups: int = 10) -> pd.DataFrame:
    """Lift and cumulative gain by decile of predicted risk (decile 1 = highest risk).

    Customers are ranked by ``p`` descending (ties by position, stable) and cut into
    ``n_groups`` equal-count groups.

    Returns
    -------
    DataFrame
        ``decile``, ``n``, ``churners``, ``churn_rate``, ``lift`` (rate / overall rate),
        ``cum_population_share``, ``cum_churner_share`` (the gain: share of all churners found
        by targeting deciles 1..d), ``cum_lift``.
    """
    y, p = _yp(y, p)
    order = np.argsort(-p, kind="stable")
    grp = np.empty(len(p), dtype=int)
    grp[order] = np.arange(len(p)) * n_groups // len(p)
    base = y.mean()
    total = y.sum()
    rows = []
    cum_n = cum_k = 0.0
    for g in range(n_groups):
        m = grp == g
        n, k = int(m.sum()), float(y[m].sum())
        if n == 0:
            continue
        cum_n += n
        cum_k += k
        rows.append({
            "decile": g + 1, "n": n, "churners": int(k), "churn_rate": k / n,
            "lift": (k / n) / base if base > 0 else np.nan,
            "cum_population_share": cum_n / len(y),
            "cum_churner_share": cum_k / total if total > 0 else np.nan,
            "cum_lift": (cum_k / cum_n) / base if base > 0 else np.nan,
        })
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# the classifier
# --------------------------------------------------------------------------------------------


def _node_expectations(nodes: np.ndarray) -> np.ndarray:
    """Each node's expected raw prediction: the training-count-weighted mean of its leaves."""
    e = nodes["value"].astype(float).copy()
    order, stack = [], [0]
    while stack:  # pre-order; reversed, every child comes before its parent
        i = stack.pop()
        order.append(i)
        if not nodes["is_leaf"][i]:
            stack += [int(nodes["left"][i]), int(nodes["right"][i])]
    count = nodes["count"].astype(float)
    for i in reversed(order):
        if not nodes["is_leaf"][i]:
            left, right = int(nodes["left"][i]), int(nodes["right"][i])
            e[i] = (count[left] * e[left] + count[right] * e[right]) / (count[left] + count[right])
    return e


def tree_contributions(model: HistGradientBoostingClassifier, X) -> tuple[np.ndarray, float]:
    """Saabas path contributions of a fitted binary :class:`~sklearn.ensemble.HistGradientBoostingClassifier`.

    Each tree's node gets its expected raw prediction (the training-count-weighted mean of the
    leaves below it, i.e. the path-dependent conditional expectation). Walking a customer down a
    tree, every split moves the expectation from the node to the child taken; that change is
    credited to the split's feature (Saabas 2014, "Interpreting random forests"). Summed over the
    trees, the contributions of a customer add up exactly to the model's raw log-odds minus the
    baseline (the initial prediction plus each tree's root expectation): local accuracy.

    Parameters
    ----------
    model : HistGradientBoostingClassifier
        Fitted on a binary target, numeric features only.
    X : array-like of shape (n_customers, n_features)
        Feature matrix as given to the model (NaN = missing, routed as the model routes it).

    Returns
    -------
    (ndarray of shape (n_customers, n_features), float)
        Contributions to the log-odds of class 1 (positive = raises it), and the baseline
        (log-odds).
    """
    X = np.asarray(X, dtype=float)
    if getattr(model, "n_trees_per_iteration_", None) != 1:
        raise CRMError("tree_contributions needs a fitted binary HistGradientBoostingClassifier")
    n, m = X.shape
    phi = np.zeros((n, m))
    baseline = float(np.ravel(model._baseline_prediction)[0])
    for iteration in model._predictors:
        nodes = iteration[0].nodes
        if nodes["is_categorical"].any():
            raise CRMError("tree_contributions does not handle categorical splits: pass numeric features")
        e = _node_expectations(nodes)
        baseline += float(e[0])
        stack = [(0, np.arange(n))]
        while stack:
            i, rows = stack.pop()
            if nodes["is_leaf"][i] or len(rows) == 0:
                continue
            f = int(nodes["feature_idx"][i])
            x = X[rows, f]
            go_left = np.where(np.isnan(x), bool(nodes["missing_go_to_left"][i]), x <= nodes["num_threshold"][i])
            left, right = int(nodes["left"][i]), int(nodes["right"][i])
            phi[rows[go_left], f] += e[left] - e[i]
            phi[rows[~go_left], f] += e[right] - e[i]
            stack += [(left, rows[go_left]), (right, rows[~go_left])]
    return phi, baseline


class ChurnClassifier:
    """Calibrated churn classifier with a time split and a per-customer risk driver.

    Parameters
    ----------
    horizon_days : float
        Label window: churn = no purchase in the ``horizon_days`` after the cut-off.
    active_days : float
        Population at a cut-off: last purchase less than ``active_days`` before it.
    model : {"gbm", "logistic"}
        Histogram gradient boosting (handles missing values and non-linear rhythm effects) or
        a standardised logistic regression (missing values imputed by the training median).
    calibration : {"auto", "sigmoid", "beta", "isotonic"}
        Map from the model's raw log-odds to a probability, fitted on the validation customers
        (:class:`~crm_research.churn.calibration.ProbabilityCalibrator`): ``"auto"`` chooses
        by log loss among sigmoid, beta and (with at least 1,000 validation customers of each
        class) smoothed isotonic. Every map keeps the model's ranking and stays strictly
        inside (0, 1).
    seed : int
        Seed of the validation split and of the calibration's folds (the boosting itself is
        deterministic here).
    features : sequence of str, optional
        Feature subset (default: every column of :func:`churn_features` except the id).
    validation_size : float
        Share of the customers at the training cut-off held out (stratified by the label) to
        choose and fit the calibration; the base model learns from the others.

    Notes
    -----
    Fitting and scoring run single-threaded (``threadpoolctl``): on a shared 2-core machine
    OpenMP's busy-waiting threads made the gradient boosting about 10x slower (measured:
    126 s against 12.7 s for one fit under load), and one thread also fixes the summation order.

    Attributes
    ----------
    train_cutoff_ : Timestamp
    feature_names_ : list of str
    reference_ : Series
        Medians of the customers the model learned from (imputation of the logistic model).
    typical_ : Series
        The typical value each driver is described against: the training mean for the logistic
        model (the point its contributions are measured from), the median for the boosting.
    estimator_ : sklearn estimator
        The base model (fitted on the customers not held out).
    calibrator_ : ProbabilityCalibrator
        The calibration map; ``calibration_`` names it and ``calibration_scores_`` holds the
        candidates' cross-validated log loss, Brier score and ECE on the validation customers.
    n_fit_, n_validation_ : int
        Customers the base model learned from, and customers held out for the calibration.
    train_metrics_ : DataFrame
        :func:`classification_metrics` on all customers of the training cut-off (optimistic,
        for reference).
    """

    def __init__(self, horizon_days: float = 90.0, active_days: float = 365.0, model: str = "gbm",
                 calibration: str = "auto", seed: int = 0, features=None, validation_size: float = 0.25):
        self.horizon_days = horizon_days
        self.active_days = active_days
        self.model = model
        self.calibration = calibration
        self.seed = seed
        self.features = features
        self.validation_size = validation_size

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_"))
        fitted = ""
        if hasattr(self, "estimator_"):
            at = "" if self.train_cutoff_ is None else f" at {self.train_cutoff_.date()}"
            fitted = (f"; trained{at} on {self.n_fit_:,} customers, calibration_={self.calibration_!r} "
                      f"on {self.n_validation_:,}")
        return f"{type(self).__name__}({args}){fitted}"

    def _estimator(self):
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if self.model == "gbm":
            return HistGradientBoostingClassifier(
                max_iter=150, learning_rate=0.08, max_leaf_nodes=15, min_samples_leaf=40,
                l2_regularization=1.0, early_stopping=False, random_state=self.seed)
        if self.model == "logistic":
            return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
        raise ParameterError(f"model must be 'gbm' or 'logistic', got {self.model!r}")

    def _matrix(self, feats: pd.DataFrame) -> np.ndarray:
        X = feats[self.feature_names_].to_numpy(dtype=float)
        if self.model == "logistic":
            X = np.where(np.isnan(X), self.reference_.to_numpy()[None, :], X)
        return X

    def _raw(self, X: np.ndarray) -> np.ndarray:
        """The base model's raw score: log-odds of churn."""
        return np.asarray(self.estimator_.decision_function(X), dtype=float).ravel()

    def _contributions(self, X: np.ndarray) -> tuple[np.ndarray, float]:
        """Per-feature contributions to the raw log-odds (n x features) and the baseline."""
        if self.model == "logistic":
            scaler, lr = self.estimator_[0], self.estimator_[-1]
            coef = lr.coef_[0]
            return (scaler.transform(X) - self._z_mean_) * coef, float(lr.intercept_[0] + coef @ self._z_mean_)
        return tree_contributions(self.estimator_, X)

    def fit(self, tables: Mapping[str, object], cutoff, data_end=None) -> ChurnClassifier:
        """Build features at ``cutoff`` and labels over the following horizon, then fit.

        The base model learns from ``1 - validation_size`` of the customers; the calibration is
        chosen and fitted on the others (a stratified draw with ``seed``).
        """
        self._check_params()
        cut = summaries.as_utc_timestamp(cutoff)
        feats = churn_features(tables, cut, self.active_days)
        labels = churn_labels(tables["orders"], feats, cut, self.horizon_days, data_end)
        y = labels["churned"].to_numpy()
        if len(np.unique(y)) < 2 or min(y.sum(), len(y) - y.sum()) < 10:
            raise CRMError(f"training cut-off {cut.date()} gives {int(y.sum())} churners among "
                           f"{len(y)} customers: too few of one class to fit")
        self.fit_features(feats, y)
        self.train_cutoff_ = cut
        return self

    def fit_features(self, features: pd.DataFrame, churned) -> ChurnClassifier:
        """Fit on a per-customer feature table and its labels (the second half of :meth:`fit`).

        Parameters
        ----------
        features : DataFrame
            ``customer_id`` and numeric features, one row per customer (e.g.
            :func:`churn_features`).
        churned : array-like of 0/1
            Label of each row (1 = churned over the horizon).
        """
        from sklearn.model_selection import train_test_split
        from threadpoolctl import threadpool_limits

        self._check_params()
        y = np.asarray(churned)
        if len(y) != len(features) or not np.isin(y, (0, 1)).all():
            raise CRMError(f"churned must hold one 0/1 label per row of features ({len(y)} labels, "
                           f"{len(features)} rows)")
        y = y.astype(np.int64)
        n_min = int(min(y.sum(), len(y) - y.sum()))
        if n_min < 10:
            raise CRMError(f"{int(y.sum())} churners among {len(y)} customers: too few of one class to fit "
                           "(at least 10 of each)")
        names = [c for c in features.columns if c != "customer_id"]
        if self.features is not None:
            unknown = [c for c in self.features if c not in names]
            if unknown:
                raise ParameterError(f"unknown feature(s) {unknown}; available: {names}")
            names = list(self.features)
        fit_rows, val_rows = train_test_split(np.arange(len(y)), test_size=self.validation_size, stratify=y,
                                              random_state=self.seed)
        fit_rows, val_rows = np.sort(fit_rows), np.sort(val_rows)
        train = features.iloc[fit_rows]
        self.feature_names_ = names
        self.reference_ = train[names].median(numeric_only=True).reindex(names).fillna(0.0)
        X = self._matrix(features)
        with threadpool_limits(1):
            self.estimator_ = self._estimator().fit(X[fit_rows], y[fit_rows])
            raw = self._raw(X)
            self.calibrator_ = ProbabilityCalibrator(method=self.calibration, seed=self.seed).fit(
                raw[val_rows], y[val_rows])
        if self.model == "logistic":
            self._z_mean_ = self.estimator_[0].transform(X[fit_rows]).mean(axis=0)
            self.typical_ = pd.Series(X[fit_rows].mean(axis=0), index=names)
        else:
            self.typical_ = self.reference_.copy()
        self.calibration_ = self.calibrator_.method_
        self.calibration_scores_ = self.calibrator_.scores_
        self.n_fit_, self.n_validation_ = int(len(fit_rows)), int(len(val_rows))
        self.train_cutoff_ = None
        self.train_metrics_ = classification_metrics(y, self.calibrator_.predict(raw))
        return self

    def _check_params(self):
        if self.model not in ("gbm", "logistic"):
            raise ParameterError(f"model must be 'gbm' or 'logistic', got {self.model!r}")
        if self.calibration not in ("auto", *CALIBRATION_METHODS):
            raise ParameterError(f"calibration must be 'auto' or one of {list(CALIBRATION_METHODS)}, "
                                 f"got {self.calibration!r}")
        if not 0.05 <= float(self.validation_size) <= 0.5:
            raise ParameterError(f"validation_size must be a share between 0.05 and 0.5, got {self.validation_size!r}")

    def _require_fit(self):
        if not hasattr(self, "estimator_"):
            raise CRMError("ChurnClassifier is not fitted: call fit(tables, cutoff) first")

    def predict(self, tables: Mapping[str, object], as_of, drivers: bool = True) -> pd.DataFrame:
        """Churn probability over the next ``horizon_days`` of each customer active at ``as_of``.

        Parameters
        ----------
        tables : mapping of str to DataFrame or ibis.Table
            As for :func:`churn_features`.
        as_of : date-like
            Scoring date (UTC, exclusive): features from rows strictly before it.
        drivers : bool
            Add each customer's risk driver: within the group of features (:data:`FEATURE_GROUPS`)
            with the largest positive summed contribution to the customer's log-odds of churn
            (:meth:`contributions`), the member that adds the most.

        Returns
        -------
        DataFrame
            Sorted by ``customer_id``: ``customer_id``, ``p_churn`` (calibrated probability,
            strictly between 0 and 1), and with ``drivers``: ``driver`` (feature name,
            ``"none"`` when no feature raises the risk), ``driver_description`` (plain words in
            the direction the customer differs from the typical one, :func:`describe_driver`;
            :data:`NO_DRIVER` for ``"none"``), ``driver_detail`` (the same with the customer's
            value and the typical one, :func:`describe_driver_value`, e.g. "long time since the
            last purchase: 210 days (typical 45)"), ``driver_contribution`` (log-odds the driver's
            group adds; 0 for ``"none"``), ``driver_effect`` (probability points the driver adds:
            ``p_churn`` minus the probability of the log-odds without it).
        """
        self._require_fit()
        return self.predict_features(churn_features(tables, as_of, self.active_days), drivers=drivers)

    def _features_matrix(self, features: pd.DataFrame) -> np.ndarray:
        missing = [c for c in ["customer_id", *self.feature_names_] if c not in features.columns]
        if missing:
            raise CRMError(f"table 'features' has no column(s) {missing}: build it with churn_features or "
                           "the same columns the model was fitted on")
        return self._matrix(features)

    def predict_features(self, features: pd.DataFrame, drivers: bool = True) -> pd.DataFrame:
        """:meth:`predict` on a per-customer feature table (columns as at fit), in its row order."""
        from threadpoolctl import threadpool_limits

        self._require_fit()
        X = self._features_matrix(features)
        out = features[["customer_id"]].reset_index(drop=True)
        with threadpool_limits(1):
            raw = self._raw(X) if len(X) else np.array([], dtype=float)
            out["p_churn"] = self.calibrator_.predict(raw)
            if not drivers:
                return out
            phi = self._contributions(X)[0] if len(X) else np.zeros((0, len(self.feature_names_)))
        # the driver's group: largest summed contribution (twins that cancel out do not count)
        group = np.unique([FEATURE_GROUPS.get(f, f) for f in self.feature_names_], return_inverse=True)[1]
        summed = np.zeros((len(X), int(group.max()) + 1))
        np.add.at(summed.T, group, phi.T)
        rows = np.arange(len(X))
        top = np.argmax(summed, axis=1) if len(X) else np.array([], dtype=np.int64)
        contribution = summed[rows, top] if len(X) else np.array([], dtype=float)
        # described by the group's member that adds the most
        best = (np.argmax(np.where(group[None, :] == top[:, None], phi, -np.inf), axis=1) if len(X)
                else np.array([], dtype=np.int64))
        raises = contribution > 1e-9
        names = np.where(raises, np.asarray(self.feature_names_, dtype=object)[best], "none")
        value = features[self.feature_names_].to_numpy(dtype=float)[rows, best]  # as observed, not imputed
        typical = self.typical_.to_numpy(dtype=float)[best]
        contribution = np.where(raises, contribution, 0.0)
        out["driver"] = names
        out["driver_description"] = [describe_driver(n, v, r) for n, v, r in zip(names, value, typical, strict=True)]
        out["driver_detail"] = [describe_driver_value(n, v, r) for n, v, r in zip(names, value, typical, strict=True)]
        out["driver_contribution"] = contribution
        out["driver_effect"] = out["p_churn"].to_numpy() - self.calibrator_.predict(raw - contribution)
        return out

    def contributions(self, tables: Mapping[str, object], as_of) -> pd.DataFrame:
        """Each customer's log-odds of churn split into one signed term per feature.

        Logistic model: coefficient x (standardised value - its training mean). Gradient
        boosting: Saabas path contributions (:func:`tree_contributions`). Positive terms raise
        the risk. For every customer ``baseline + sum of the feature columns = log_odds``
        (exactly, up to floating point).

        Returns
        -------
        DataFrame
            ``customer_id``, ``log_odds`` (the base model's raw score), ``baseline``, then one
            column per feature (log-odds). Sorted by ``customer_id``.
        """
        self._require_fit()
        feats = churn_features(tables, as_of, self.active_days)
        return self.contributions_features(feats)

    def contributions_features(self, features: pd.DataFrame) -> pd.DataFrame:
        """:meth:`contributions` on a per-customer feature table, in its row order."""
        from threadpoolctl import threadpool_limits

        self._require_fit()
        X = self._features_matrix(features)
        with threadpool_limits(1):
            raw = self._raw(X) if len(X) else np.array([], dtype=float)
            phi, base = self._contributions(X) if len(X) else (np.zeros((0, len(self.feature_names_))), np.nan)
        out = pd.DataFrame({"customer_id": features["customer_id"].to_numpy(), "log_odds": raw,
                            "baseline": np.full(len(X), base)})
        return pd.concat([out, pd.DataFrame(phi, columns=self.feature_names_)], axis=1)

    def evaluate(self, tables: Mapping[str, object], cutoff, data_end=None) -> pd.DataFrame:
        """Score the customers active at a later ``cutoff`` and attach their labels.

        Raises
        ------
        ParameterError
            When ``cutoff`` is earlier than the training cut-off plus ``horizon_days``: the
            training labels would then use purchases after the evaluation cut-off.

        Returns
        -------
        DataFrame
            ``customer_id``, ``p_churn``, ``churned`` (0/1): feed to
            :func:`classification_metrics`, :func:`calibration_table`, :func:`lift_table`.
        """
        self._require_fit()
        if self.train_cutoff_ is None:
            raise CRMError("this ChurnClassifier was fitted on a feature table (fit_features), so its training "
                           "cut-off is unknown and the time split cannot be checked: fit it with fit(tables, cutoff)")
        cut = summaries.as_utc_timestamp(cutoff)
        earliest = self.train_cutoff_ + pd.Timedelta(days=float(self.horizon_days))
        if cut < earliest:
            raise ParameterError(
                f"evaluation cut-off {cut} is before the training cut-off + horizon ({earliest}): "
                "split by time, with the test cut-off at least horizon_days after the training one"
            )
        scored = self.predict(tables, cut, drivers=False)
        labels = churn_labels(tables["orders"], scored, cut, self.horizon_days, data_end)
        scored["churned"] = labels["churned"].to_numpy()
        return scored
