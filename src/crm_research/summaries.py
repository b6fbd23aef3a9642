"""Per-customer summaries of row-level tables, written once on the engine layer.

These are the aggregations every analysis starts from (KPIs, RFM, churn, CLV): scanning the
orders once in the engine and returning one row per customer.
"""

from __future__ import annotations

from crm_research.engine import engine_function, exact_sum
from crm_research.exprs import completed_orders

__all__ = ["customer_orders"]


@engine_function("orders")
def customer_orders(
    orders,
    as_of=None,
    *,
    customer_col: str = "customer_id",
    date_col: str = "ordered_at",
    value_col: str = "amount",
    status_col: str | None = "status",
    statuses: tuple[str, ...] = ("completed",),
):
    """One row per customer: order count, distinct purchase days, first and last order, revenue.

    Parameters
    ----------
    orders : DataFrame or ibis.Table
        Order log, one row per order.
    as_of : date-like, optional
        Only orders strictly before this instant count (UTC).
    customer_col, date_col, value_col : str
        Column names of the customer id, the order timestamp and the order value (currency).
    status_col : str or None
        Status column; when present only rows whose status is in ``statuses`` count.
        ``None`` counts every row.
    statuses : tuple of str
        Statuses that count as a purchase.

    Returns
    -------
    DataFrame or ibis.Table
        Columns ``customer_id``, ``n_orders`` (orders), ``n_purchase_days`` (distinct UTC
        calendar days with an order), ``first_order_at``, ``last_order_at`` (UTC timestamps),
        ``revenue`` (currency, exact sum of ``value_col`` to 1e-6). Sorted by ``customer_id``.
    """
    if as_of is None:  # every date
        t = orders if status_col is None or status_col not in orders.columns else (
            orders.filter(orders[status_col].isin(list(statuses))))
    else:
        t = completed_orders(orders, as_of, date_col=date_col, status_col=status_col, statuses=statuses)
    day = t[date_col].truncate("D")
    g = t.group_by(customer_id=t[customer_col]).aggregate(
        n_orders=t.count(),
        n_purchase_days=day.nunique(),
        first_order_at=t[date_col].min(),
        last_order_at=t[date_col].max(),
        revenue=exact_sum(t[value_col]),
    )
    return g.order_by("customer_id")
