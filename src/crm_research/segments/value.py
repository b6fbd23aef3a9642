"""What-if values of the segmentation's recommended actions: win-back and cross-sell.

Both are simple, stated assumptions on top of the run's tables, not forecasts:

* :func:`winback_value` — if a share of the buyers of some RFM segments come back and spend
  what they used to spend in a year, how much is that a year;
* :func:`cross_sell_value` — if a share of the buyers with a cross-sell suggestion buy their
  first suggested category once, at that category's average spend per order, how much is that.

:func:`yearly_spend` and :func:`category_spend` give the per-customer and per-category
amounts these rest on.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from crm_research.engine import engine_function, exact_sum
from crm_research.errors import CRMError, ParameterError
from crm_research.exprs import require_columns

__all__ = ["yearly_spend", "winback_value", "category_spend", "cross_sell_value", "DAYS_PER_YEAR"]

DAYS_PER_YEAR = 365.25
"""Days of an average year (days)."""


def _check_rate(rate: float, name: str) -> float:
    rate = float(rate)
    if not 0.0 <= rate <= 1.0 or not np.isfinite(rate):
        raise ParameterError(f"{name} must be a share between 0 and 1, got {rate}")
    return rate


def yearly_spend(scores: pd.DataFrame, min_years: float = 1.0) -> pd.Series:
    """What each buyer spent per year while they were buying.

    A buyer's total spend (``monetary``) divided by the years from their first to their last
    order, counted as at least ``min_years``: a buyer whose orders all fall within a few weeks
    is not extrapolated to a full year's worth of such weeks, so the yearly spend is never more
    than the total.

    Parameters
    ----------
    scores : DataFrame
        :func:`~crm_research.segments.rfm` output (``monetary``, ``first_order_at``,
        ``last_order_at``).
    min_years : float
        Shortest active span counted (years).

    Returns
    -------
    Series
        Spend per year (currency per year), on the index of ``scores``.

    Raises
    ------
    CRMError
        No ``monetary`` column (orders without amounts).

    Examples
    --------
    >>> orders = pd.DataFrame({"customer_id": [1, 1, 1, 2, 3, 3, 4], "amount": [30.0, 45.0, 60.0, 20.0, 50.0, 55.0, 10.0],
    ...     "ordered_at": pd.to_datetime(["2025-06-03", "2025-11-20", "2025-12-20", "2025-11-02", "2025-10-10",
    ...                                   "2025-12-11", "2024-12-24"], utc=True)})
    >>> from crm_research.segments.rfm import rfm
    >>> yearly_spend(rfm(orders, "2026-01-01")).tolist()  # every history here is shorter than min_years
    [135.0, 20.0, 105.0, 10.0]
    """
    for c in ("monetary", "first_order_at", "last_order_at"):
        if c not in scores.columns:
            raise CRMError(f"RFM scores have no column {c!r}: yearly spend needs order amounts and dates")
    if min_years <= 0:
        raise ParameterError(f"min_years must be positive, got {min_years}")
    span = (pd.to_datetime(scores["last_order_at"]) - pd.to_datetime(scores["first_order_at"]))
    years = (span.dt.total_seconds() / 86_400.0 / DAYS_PER_YEAR).clip(lower=min_years)
    return scores["monetary"].astype(float) / years


def winback_value(scores: pd.DataFrame, segments: Iterable[str], rate: float, min_years: float = 1.0) -> dict:
    """The yearly value of winning back a share of the buyers of some RFM segments.

    Assumption: ``rate`` of the buyers in ``segments`` come back and again spend their average
    yearly spend (:func:`yearly_spend`) in the coming year.

    Parameters
    ----------
    scores : DataFrame
        :func:`~crm_research.segments.rfm` output (``segment``, ``monetary``, order dates).
    segments : iterable of str
        The targeted segments (names of the rule table); names not in ``scores`` are ignored.
    rate : float
        Share of them that come back (0..1).
    min_years : float
        See :func:`yearly_spend` (years).

    Returns
    -------
    dict
        ``segments`` (list, the targeted names present, in the given order), ``buyers``
        (count), ``revenue`` (currency, their spend so far), ``yearly_spend`` (currency per year,
        all of them together), ``mean_yearly_spend`` (currency per year and buyer), ``rate``,
        ``value`` (currency per year: ``rate * yearly_spend``).

    Examples
    --------
    >>> orders = pd.DataFrame({"customer_id": [1, 1, 1, 2, 3, 3, 4], "amount": [30.0, 45.0, 60.0, 20.0, 50.0, 55.0, 10.0],
    ...     "ordered_at": pd.to_datetime(["2025-06-03", "2025-11-20", "2025-12-20", "2025-11-02", "2025-10-10",
    ...                                   "2025-12-11", "2024-12-24"], utc=True)})
    >>> from crm_research.segments.rfm import rfm
    >>> wb = winback_value(rfm(orders, "2026-01-01"), ["lost", "hibernating"], 0.1)
    >>> wb["buyers"], wb["mean_yearly_spend"], wb["value"]  # 2 buyers, 30 a year between them; 10% come back
    (2, 15.0, 3.0)
    """
    rate = _check_rate(rate, "rate")
    wanted = list(dict.fromkeys(str(s) for s in segments))
    present = [s for s in wanted if s in set(scores["segment"].astype(str))]
    mask = scores["segment"].astype(str).isin(present)
    per_year = yearly_spend(scores.loc[mask], min_years)
    total = float(per_year.sum())
    n = int(mask.sum())
    return {"segments": present, "buyers": n, "revenue": float(scores.loc[mask, "monetary"].sum()),
            "yearly_spend": total, "mean_yearly_spend": total / n if n else float("nan"), "rate": rate,
            "value": rate * total}


@engine_function("order_items", "orders")
def category_spend(order_items, orders, as_of, *, status_col: str | None = "status",
                   statuses: tuple[str, ...] = ("completed",)):
    """Per category: the orders that hold it and the average spend on it per such order.

    Parameters
    ----------
    order_items : DataFrame or ibis.Table
        Order lines (``order_id``, ``product_id``, ``category``, ``unit_price``; ``quantity``
        optional, 1 when absent).
    orders : DataFrame or ibis.Table
        Orders; only lines of counted orders before ``as_of`` count.
    as_of : date-like
        Analysis instant (UTC).

    Returns
    -------
    DataFrame or ibis.Table
        ``category``, ``orders`` (orders holding it), ``spend`` (currency, quantity × unit
        price), ``spend_per_order`` (currency per order holding it); sorted by category.

    Examples
    --------
    >>> from crm_research import synthetic
    >>> tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> spend = category_spend(tables["order_items"], tables["orders"], "2026-01-01")
    >>> spend[["category", "orders"]].head(2).values.tolist(), round(float(spend["spend_per_order"].iloc[0]), 2)
    ([['accessories', 212], ['beauty', 222]], 49.69)
    """
    from crm_research.segments.affinity import counted_lines

    require_columns(order_items, "order_items", ["unit_price"], hint="category spend needs unit prices")
    lines = counted_lines(order_items, orders, as_of, status_col=status_col, statuses=statuses)
    qty = lines.quantity if "quantity" in lines.columns else 1
    lines = lines.filter(lines.unit_price.notnull())
    g = lines.group_by("category").aggregate(orders=lines.order_id.nunique(),
                                             spend=exact_sum(qty * lines.unit_price))
    g = g.mutate(spend_per_order=g.spend / g.orders)
    return g.order_by("category")


def cross_sell_value(suggestions: pd.DataFrame, spend: pd.DataFrame, rate: float) -> dict:
    """The value of a cross-sell campaign sending each buyer their first cross-sell suggestion.

    Assumption: ``rate`` of the buyers with a cross-sell suggestion buy their first suggested
    category once, spending that category's average spend per order (:func:`category_spend`).

    Parameters
    ----------
    suggestions : DataFrame
        :func:`~crm_research.segments.suggestion_list` output (``customer_id``, ``kind``,
        ``rank``, ``offer``).
    spend : DataFrame
        :func:`category_spend` output.
    rate : float
        Share of the buyers who buy (0..1).

    Returns
    -------
    dict
        ``buyers`` (count with a cross-sell suggestion), ``potential`` (currency: all of them
        buying once), ``rate``, ``value`` (currency: ``rate * potential``), ``top_offer`` (the
        category suggested first to most buyers, or None), ``top_buyers`` (count),
        ``top_spend_per_order`` (currency).

    Examples
    --------
    >>> spend = pd.DataFrame({"category": ["books", "home"], "orders": [40, 10], "spend": [1200.0, 900.0],
    ...                       "spend_per_order": [30.0, 90.0]})
    >>> suggestions = pd.DataFrame({"customer_id": [1, 2, 2, 3], "kind": "cross-sell", "rank": [1, 1, 2, 1],
    ...                             "offer": ["books", "home", "books", "books"]})
    >>> cv = cross_sell_value(suggestions, spend, 0.1)  # each buyer's first suggestion: books 30 x 2, home 90
    >>> cv["buyers"], cv["potential"], round(cv["value"], 2), cv["top_offer"]
    (3, 150.0, 15.0, 'books')
    """
    rate = _check_rate(rate, "rate")
    cs = suggestions[suggestions["kind"] == "cross-sell"]
    first = cs.sort_values(["customer_id", "rank"], kind="stable").drop_duplicates("customer_id")
    first = first.merge(spend[["category", "spend_per_order"]], left_on="offer", right_on="category", how="left")
    potential = float(first["spend_per_order"].fillna(0.0).sum())
    counts = first["offer"].value_counts()
    top = None if counts.empty else sorted(counts.index[counts == counts.max()])[0]
    top_spend = (float(spend.set_index("category")["spend_per_order"].get(top, np.nan))
                 if top is not None else float("nan"))
    return {"buyers": int(len(first)), "potential": potential, "rate": rate, "value": rate * potential,
            "top_offer": top, "top_buyers": int(counts.max()) if top is not None else 0,
            "top_spend_per_order": top_spend}
