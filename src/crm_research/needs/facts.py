"""Facts shared by several notebooks: how many buyers, orders, repeat buyers, how much history.

Each is one engine aggregate over the company's tables (see :func:`crm_research.needs.core.fact`).
Facts used by one notebook only live beside that notebook's sections.
"""

from __future__ import annotations

import ibis
import pandas as pd

from crm_research import exprs
from crm_research.exprs import ts_literal
from crm_research.needs.core import DEFAULTS, TableSet, _backend, batched, fact

DEFAULTS.update({"repeat_min_orders": 2})


def completed_orders(t: TableSet, as_of: pd.Timestamp | None):
    """Orders that count as purchases: completed (every order when there is no ``status``), before
    ``as_of`` (every date when None: a data check without an analysis date)."""
    orders = t["orders"]
    status = "status" if t.has("orders", "status") else None
    if as_of is None:
        return orders if status is None else orders.filter(orders.status == "completed")
    return exprs.completed_orders(orders, as_of, date_col="ordered_at", status_col=status)


def before(table, column: str, as_of: pd.Timestamp | None):
    """Rows of ``table`` whose ``column`` is strictly before ``as_of`` (all rows when None)."""
    return table if as_of is None else table.filter(table[column] < ts_literal(as_of))


def scalar(expr) -> float:
    """Execute a scalar engine expression (with the other facts' scalars while
    :func:`crm_research.needs.core.assess` computes them together); missing (no rows) counts as 0."""
    value = batched(expr, lambda e: _backend(e).execute(e))
    return 0.0 if value is None or pd.isna(value) else float(value)


@fact("completed_orders", "orders.customer_id", "orders.ordered_at")
def _completed_orders(t, as_of, p):
    return scalar(completed_orders(t, as_of).count())


@fact("buyers", "orders.customer_id", "orders.ordered_at")
def _buyers(t, as_of, p):
    return scalar(completed_orders(t, as_of).customer_id.nunique())


def buyers_with(t: TableSet, as_of, min_orders: int) -> float:
    """Buyers with at least ``min_orders`` completed orders before ``as_of``."""
    per = completed_orders(t, as_of).group_by("customer_id").aggregate(n=ibis._.count())
    return scalar(per.filter(per.n >= int(min_orders)).count())


@fact("repeat_buyers", "orders.customer_id", "orders.ordered_at")
def _repeat_buyers(t, as_of, p):
    return buyers_with(t, as_of, p["repeat_min_orders"])


@fact("history_days", "orders.customer_id", "orders.ordered_at")
def _history_days(t, as_of, p):
    orders = completed_orders(t, as_of)
    first = orders.ordered_at.min()
    last = ts_literal(as_of) if as_of is not None else orders.ordered_at.max()
    seconds = scalar(last.epoch_seconds() - first.epoch_seconds())
    return seconds // 86400
