"""Churn definitions: duration and event columns, right-censored at the analysis date ``as_of``.

* **Contractual** churn: a subscription ends. One row per subscription started before
  ``as_of``; it is an event when it ended before ``as_of``, otherwise right-censored there.
* **Non-contractual** churn: no purchase for ``inactivity_days`` days. One row per customer with
  a purchase before ``as_of``; the customer is churned when their last purchase is at least
  ``inactivity_days`` old at ``as_of``, with the churn dated ``last purchase +
  inactivity_days`` (the day the rule fires); otherwise right-censored at ``as_of``. A gap
  longer than ``inactivity_days`` that ended with a new purchase before ``as_of`` is a lapse
  followed by reactivation, not churn: only the final gap counts.

Both use the project's convention: ``as_of`` is an instant (UTC) and only rows strictly
before it are seen; a row dated after it (an ``ended_at`` in the future) is unknown at ``as_of``.
Durations are in days (float).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_research import exprs, summaries
from crm_research.engine import collect, is_lazy
from crm_research.errors import CRMError, ParameterError

__all__ = ["contractual_churn", "noncontractual_churn", "definitions_table", "has_rows", "DAY"]

DAY = pd.Timedelta(days=1)


def _utc(series: pd.Series, table: str, col: str) -> pd.Series:
    try:
        s = pd.to_datetime(series, utc=True)
    except (ValueError, TypeError) as exc:
        raise CRMError(f"table {table!r} column {col!r} must hold timestamps: {exc}") from exc
    return s


def contractual_churn(subscriptions, as_of, *, customer_col: str = "customer_id",
                      started_col: str = "started_at", ended_col: str = "ended_at",
                      keep_cols: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Duration and churn event of every subscription started before ``as_of``.

    Parameters
    ----------
    subscriptions : DataFrame or ibis.Table
        One row per subscription (the ``subscriptions`` table).
    as_of : date-like
        Cut-off instant (UTC, exclusive).
    customer_col, started_col, ended_col : str
        Column names; ``ended_col`` is empty while a subscription is active.
    keep_cols : tuple of str, optional
        Other columns to carry over (default: every other column, e.g. ``plan``, ``mrr``).

    Returns
    -------
    DataFrame
        ``customer_id``, ``started_at``, ``ended_at`` (UTC; NaT when not ended before
        ``as_of``), ``duration_days`` (days from start to end, or to ``as_of`` when censored),
        ``event`` (1 = ended before ``as_of``, 0 = right-censored), then ``keep_cols``. Sorted by
        customer and start.

    Raises
    ------
    CRMError
        Missing columns, or a subscription that ends before it starts (rows named).

    Examples
    --------
    >>> from crm_research import synthetic
    >>> tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> subs = contractual_churn(tables["subscriptions"], "2026-01-01")
    >>> len(subs), int(subs["event"].sum())
    (45, 19)
    >>> subs.columns.tolist()[:5]
    ['customer_id', 'started_at', 'ended_at', 'duration_days', 'event']
    """
    df = collect(subscriptions) if is_lazy(subscriptions) else subscriptions
    exprs.require_columns(df, "subscriptions", {"customer_col": customer_col, "started_col": started_col,
                                                  "ended_col": ended_col})
    cut = exprs.parse_as_of(as_of)
    start = _utc(df[started_col], "subscriptions", started_col)
    end = _utc(df[ended_col], "subscriptions", ended_col)
    bad = end.notna() & (end < start)
    if bad.any():
        rows = df.loc[bad, customer_col].head(5).tolist()
        raise CRMError(
            f"table 'subscriptions': {int(bad.sum())} row(s) have {ended_col} before {started_col} "
            f"(customers {rows}); fix or drop them"
        )
    keep = start < cut
    if keep_cols is None:
        keep_cols = tuple(c for c in df.columns if c not in (customer_col, started_col, ended_col))
    exprs.require_columns(df, "subscriptions", list(keep_cols))
    ended = end.notna() & (end < cut)
    out = pd.DataFrame(
        {
            "customer_id": df[customer_col].to_numpy(),
            "started_at": start,
            "ended_at": end.where(ended),
            "duration_days": ((end.where(ended, cut) - start) / DAY).astype(float),
            "event": ended.astype(np.int64),
        },
        index=df.index,
    )
    for c in keep_cols:
        out[c] = df[c].to_numpy()
    out = out[keep.to_numpy()]
    return out.sort_values(["customer_id", "started_at"], kind="stable").reset_index(drop=True)


def has_rows(table) -> bool:
    """Whether ``table`` (a DataFrame or an engine table) holds at least one row.

    An engine table is asked for its first row only (``limit(1)``), not counted.

    Examples
    --------
    >>> has_rows(pd.DataFrame({"a": []})), has_rows(pd.DataFrame({"a": [1]}))
    (False, True)
    """
    if is_lazy(table):
        return int(table.limit(1).count().execute()) > 0
    return len(table) > 0


def _without_value(orders, value_col: str | None) -> tuple[object, str]:
    """``orders`` and the value column to sum: an all-missing one when the log has no amounts."""
    if value_col is not None and value_col in orders.columns:
        return orders, value_col
    if isinstance(orders, pd.DataFrame):
        return orders.assign(_no_value=np.nan), "_no_value"
    import ibis

    return orders.mutate(_no_value=ibis.null().cast("float64")), "_no_value"


def noncontractual_churn(orders, as_of, inactivity_days: float = 180.0, *,
                         customer_col: str = "customer_id", date_col: str = "ordered_at",
                         value_col: str | None = "amount", status_col: str | None = "status",
                         statuses: tuple[str, ...] = ("completed",)) -> pd.DataFrame:
    """Non-contractual churn (no purchase for ``inactivity_days``) per customer at ``as_of``.

    The per-customer scan of the orders runs on the engine layer
    (:func:`crm_research.summaries.customer_orders`), so ``orders`` may be an engine table of
    any size.

    Parameters
    ----------
    orders : DataFrame or ibis.Table
        Order log.
    as_of : date-like
        Cut-off instant (UTC, exclusive): orders at or after it are not seen.
    inactivity_days : float
        Days without a purchase after which a customer counts as churned (> 0).
    customer_col, date_col, value_col, status_col, statuses
        As in :func:`crm_research.summaries.customer_orders`. ``value_col=None``, or a value
        column the log does not have, leaves ``revenue`` missing (NaN).

    Returns
    -------
    DataFrame
        ``customer_id``, ``first_purchase_at``, ``last_purchase_at`` (UTC), ``n_orders``,
        ``n_purchase_days``, ``revenue`` (currency; NaN without amounts), ``recency_days`` (last purchase to
        ``as_of``), ``event`` (1 = churned: ``recency_days >= inactivity_days``),
        ``churned_at`` (``last_purchase_at + inactivity_days``; NaT when not churned),
        ``duration_days`` (first purchase to ``churned_at``, or to ``as_of`` when censored).
        Sorted by ``customer_id``.

    Examples
    --------
    >>> from crm_research import synthetic
    >>> tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> lost = noncontractual_churn(tables["orders"], "2026-01-01", inactivity_days=180)
    >>> len(lost), int(lost["event"].sum())
    (173, 59)
    >>> lost[["customer_id", "recency_days", "event", "duration_days"]].head(2)
      customer_id  recency_days  event  duration_days
    0    C0000001    693.068588      1     180.000000
    1    C0000004     77.927315      0     578.265116
    """
    if not inactivity_days > 0:
        raise ParameterError(f"inactivity_days must be > 0, got {inactivity_days!r}")
    cut = exprs.parse_as_of(as_of)
    orders, value_col = _without_value(orders, value_col)
    per = collect(summaries.customer_orders(orders, cut, customer_col=customer_col,
                                            date_col=date_col, value_col=value_col,
                                            status_col=status_col, statuses=statuses))
    first = pd.to_datetime(per["first_order_at"], utc=True)
    last = pd.to_datetime(per["last_order_at"], utc=True)
    recency = ((cut - last) / DAY).astype(float)
    event = recency >= inactivity_days
    churned_at = (last + pd.Timedelta(days=float(inactivity_days))).where(event)
    out = pd.DataFrame(
        {
            "customer_id": per["customer_id"].to_numpy(),
            "first_purchase_at": first,
            "last_purchase_at": last,
            "n_orders": per["n_orders"].astype(np.int64).to_numpy(),
            "n_purchase_days": per["n_purchase_days"].astype(np.int64).to_numpy(),
            "revenue": per["revenue"].astype(float).to_numpy(),
            "recency_days": recency,
            "event": event.astype(np.int64),
            "churned_at": churned_at,
            "duration_days": ((churned_at.where(event, cut) - first) / DAY).astype(float),
        }
    )
    return out.sort_values("customer_id", kind="stable").reset_index(drop=True)


def definitions_table(lost: pd.DataFrame, subscriptions: pd.DataFrame | None = None,
                      inactivity_days: float = 180.0) -> pd.DataFrame:
    """How many customers (and subscriptions) count as lost under each definition.

    Parameters
    ----------
    lost : DataFrame
        :func:`noncontractual_churn` output (one row per customer, ``event``).
    subscriptions : DataFrame, optional
        :func:`contractual_churn` output; None when the data has no subscriptions with end dates.
    inactivity_days : float
        The silence (days) of :func:`noncontractual_churn`, for the row's wording.

    Returns
    -------
    DataFrame
        ``definition``, ``population``, ``count``, ``lost``, ``still_active`` (counts) and
        ``lost_share`` (0-1): one row per definition.

    Examples
    --------
    >>> definitions_table(pd.DataFrame({"event": [1, 0, 0, 1]}), inactivity_days=180).iloc[0].to_dict()
    {'definition': 'no completed purchase for 180 days', 'population': 'customers with a purchase', 'count': 4, 'lost': 2, 'still_active': 2, 'lost_share': 0.5}
    """
    rows = [{"definition": f"no completed purchase for {inactivity_days} days", "population": "customers with a purchase",
             "count": len(lost), "lost": int(lost["event"].sum())}]
    if subscriptions is not None:
        rows.append({"definition": "subscription ended", "population": "subscriptions started",
                     "count": len(subscriptions), "lost": int(subscriptions["event"].sum())})
    return pd.DataFrame(rows).assign(still_active=lambda d: d["count"] - d["lost"],
                                     lost_share=lambda d: d["lost"] / d["count"])
