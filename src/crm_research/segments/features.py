"""Behavioural features per buyer for clustering: value, rhythm, channel, platform, category, tier.

The row-level aggregation runs on the engine of the input tables (DuckDB for pandas input,
the tables' own backend for Ibis input); the result, one row per buyer, is returned as pandas
because scikit-learn needs it in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from crm_research.data.model import ORDER_CHANNELS, PLATFORMS
from crm_research.engine import collect, exact_sum, materialize, to_ibis
from crm_research.errors import ParameterError
from crm_research.exprs import completed_orders, days_between, require_columns, ts_literal
from crm_research.segments._common import get_table
from crm_research.segments.affinity import product_tiers

__all__ = ["customer_features", "features_from_data", "feature_groups", "feature_label", "FEATURE_LABELS"]


def _slug(value: str) -> str:
    out = "".join(ch if ch.isalnum() else "_" for ch in str(value).strip().lower())
    return out.strip("_") or "blank"


def customer_features(
    orders,
    as_of,
    order_items=None,
    events=None,
    tickets=None,
    surveys=None,
    *,
    n_tiers: int = 3,
    max_categories: int = 20,
    status_col: str | None = "status",
    statuses: tuple[str, ...] = ("completed",),
) -> pd.DataFrame:
    """One row of behavioural features per buyer (a customer with a counted order before ``as_of``).

    Parameters
    ----------
    orders : DataFrame or ibis.Table
        Orders (``customer_id``, ``ordered_at``; optional ``amount`` (without it: no
        ``monetary`` and ``aov``), ``order_id`` (needed
        with ``order_items``), ``channel``, ``platform``, ``promo_code``, ``status``). A feature
        whose column is absent is left out.
    as_of : date-like
        Analysis instant (UTC); only what happened strictly before it counts.
    order_items : DataFrame or ibis.Table, optional
        Order lines: lines per order; category mix when they have ``category``; price-tier
        mix (tiers from :func:`product_tiers`) when they also have ``unit_price``.
    events : DataFrame or ibis.Table, optional
        Events with ``platform``: platform mix of activity (each web/app session counts once,
        session-less events count one each). Without events (or without their ``platform``
        column), the platform of online orders when ``orders`` has one.
    tickets : DataFrame or ibis.Table, optional
        Support tickets (``customer_id``, ``opened_at``).
    surveys : DataFrame or ibis.Table, optional
        NPS answers (``customer_id``, ``answered_at``, ``nps``); the latest answer counts.
    n_tiers : int
        Price tiers per category.
    max_categories : int
        The categories with the most lines get their own share (columns in name order); the
        others are pooled as ``category_other``.
    status_col, statuses
        Status column of ``orders`` and the statuses that count as a purchase.

    Returns
    -------
    DataFrame
        Sorted by ``customer_id`` (a column). Columns (units):
        ``recency_days``, ``tenure_days`` (days since the first order), ``active_span_days``
        (first to last order) — days; ``frequency`` (orders); ``monetary`` (currency);
        ``aov`` (currency per order); ``orders_per_30d`` (orders per 30 days of the active
        span + 30 days, so one-order buyers stay finite); ``promo_share`` (share of orders with
        a promotion code); ``channel_<c>`` (share of orders per purchase channel);
        ``platform_<p>`` (share of activity per device; NaN without any; only devices some
        buyer used before ``as_of``); ``category_<c>``,
        ``tier_<k>`` (share of order lines; NaN without lines); ``items_per_order`` (lines
        per order); ``tickets_per_order`` (tickets per order); ``nps`` (latest answer 0..10,
        NaN when none).

    Examples
    --------
    >>> from crm_research import synthetic
    >>> tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> f = customer_features(tables["orders"], "2026-01-01")
    >>> f.shape, f.columns[:6].tolist()
    ((173, 15), ['customer_id', 'recency_days', 'tenure_days', 'active_span_days', 'frequency', 'monetary'])
    >>> f.loc[1, ["frequency", "monetary", "aov"]].astype(float).round(1).tolist()
    [16.0, 3779.5, 236.2]
    """
    as_of_lit = ts_literal(as_of)
    o_all = to_ibis(orders)
    require_columns(o_all, "orders", ["customer_id", "ordered_at"])
    if events is not None and "platform" not in to_ibis(events).columns:
        events = None
    if order_items is not None:
        require_columns(o_all, "orders", ["order_id"], hint="order lines are matched to orders by order_id")
    o = completed_orders(o_all, as_of, date_col="ordered_at", status_col=status_col, statuses=statuses)
    aggs: dict[str, Any] = {
        "frequency": o.count(),
        **({"monetary": exact_sum(o.amount)} if "amount" in o.columns else {}),
        "first_order_at": o.ordered_at.min(),
        "last_order_at": o.ordered_at.max(),
    }
    if "promo_code" in o.columns:
        aggs["n_promo"] = o.promo_code.notnull().sum()
    if "channel" in o.columns:
        for c in ORDER_CHANNELS:
            aggs[f"channel_{c}"] = (o.channel == c).sum()
    use_order_platform = events is None and "platform" in o.columns
    if use_order_platform:
        for p in PLATFORMS:
            aggs[f"_pl_{p}"] = (o.platform == p).sum()
    base = o.group_by("customer_id").aggregate(**aggs)
    f = base.mutate(
        recency_days=days_between(as_of_lit, base.last_order_at),
        tenure_days=days_between(as_of_lit, base.first_order_at),
        active_span_days=days_between(base.last_order_at, base.first_order_at),
    )
    categories: list[str] = []
    parts: list[ir.Table] = []
    if order_items is not None:
        items = to_ibis(order_items)
        require_columns(items, "order_items", ["order_id"])
        has_category = "category" in items.columns
        has_tiers = has_category and {"product_id", "unit_price"} <= set(items.columns)
        lines = _lines_of_counted_orders(items, o_all, as_of, status_col=status_col, statuses=statuses)
        pooled = False
        if has_category:
            cat_counts = collect(lines.group_by("category").aggregate(n=lines.count()))
            cat_counts = cat_counts.sort_values(["n", "category"], ascending=[False, True], kind="stable")
            categories = sorted(str(c) for c in cat_counts["category"].head(max_categories))
            pooled = len(cat_counts) > len(categories)
        if has_tiers:
            tiers = product_tiers.__wrapped_engine__(items, o_all, as_of, n_tiers=n_tiers, status_col=status_col,
                                                     statuses=statuses).select("product_id", "tier")
            lt = lines.left_join(tiers, "product_id").select(lines, tiers.tier)
        else:
            lt = lines
        la: dict[str, Any] = {"_lines": lt.count()}
        for c in categories:
            la[f"category_{_slug(c)}"] = (lt.category == c).sum()
        if pooled:
            la["category_other"] = (~lt.category.isin(categories)).sum()
        if has_tiers:
            for k in range(1, n_tiers + 1):
                la[f"tier_{k}"] = (lt.tier == k).sum()
        parts.append(lt.group_by("customer_id").aggregate(**la))
    if events is not None:
        ev = to_ibis(events)
        require_columns(ev, "events", ["customer_id", "occurred_at", "platform"])
        ev = ev.filter(ev.platform.notnull() & (ev.occurred_at < as_of_lit))
        if "session_id" in ev.columns:
            # each (customer, platform, session) once, then session-less events one each: one
            # grouped DISTINCT instead of a COUNT(DISTINCT session_id) per platform (four hash
            # tables of every event's strings; 77 s at 50M events)
            with_session = ev.filter(ev.session_id.notnull()).select("customer_id", "platform", "session_id")
            with_session = with_session.distinct().select("customer_id", "platform")
            ev = with_session.union(ev.filter(ev.session_id.isnull()).select("customer_id", "platform"),
                                    distinct=False)
        ea: dict[str, Any] = {f"_pl_{p}": (ev.platform == p).sum() for p in PLATFORMS}
        parts.append(ev.group_by("customer_id").aggregate(**ea))
    if tickets is not None:
        tk = to_ibis(tickets)
        require_columns(tk, "tickets", ["customer_id", "opened_at"])
        tk = tk.filter(tk.opened_at < as_of_lit)
        parts.append(tk.group_by("customer_id").aggregate(_tickets=tk.count()))
    if surveys is not None:
        sv = to_ibis(surveys)
        require_columns(sv, "surveys", ["customer_id", "answered_at", "nps"])
        sv = sv.filter(sv.answered_at < as_of_lit)
        w = ibis.window(group_by="customer_id", order_by=[ibis.desc("answered_at"), ibis.desc("nps")])
        sv = sv.mutate(_rn=ibis.row_number().over(w))
        parts.append(sv.filter(sv._rn == 0).select("customer_id", nps=sv.nps.cast("float64")))
    # each per-buyer part computed and stored on its own before the joins: as one plan, DuckDB held the
    # working memory of the events' sessions and of the order lines at once (300k contacts, 14.5M
    # events: +0.55 GiB; stored in turn: +0.23 GiB, same rows)
    stored = [materialize(part, reread=False) for part in parts]
    for part in stored:
        f = f.left_join(part, "customer_id").select(f, *[part[c] for c in part.columns if c != "customer_id"])
    df = collect(f.order_by("customer_id"))
    for part, table in zip(parts, stored, strict=True):
        if table is not part:  # a temporary table of the connection: dropped once collected
            op = table.op()
            table._find_backend().drop_table(op.name, database=(op.namespace.catalog, op.namespace.database))
    return _finish(df, categories, n_tiers, has_items=order_items is not None, has_tickets=tickets is not None,
                   has_surveys=surveys is not None)


def _lines_of_counted_orders(items: ir.Table, orders: ir.Table, as_of, *, status_col, statuses) -> ir.Table:
    """Order lines of counted orders with the buyer's ``customer_id`` (lines need only ``order_id``)."""
    o = completed_orders(orders, as_of, date_col="ordered_at", status_col=status_col, statuses=statuses)
    return items.inner_join(o.select("order_id", "customer_id"), "order_id")


def _finish(df: pd.DataFrame, categories: list[str], n_tiers: int, *, has_items: bool, has_tickets: bool,
            has_surveys: bool) -> pd.DataFrame:
    """Turn counts into shares and rates (pandas, one row per buyer)."""
    n = df["frequency"].astype("float64")
    out = pd.DataFrame({"customer_id": df["customer_id"].astype(str)})
    for col in ("recency_days", "tenure_days", "active_span_days"):
        out[col] = df[col].astype("float64")
    out["frequency"] = df["frequency"].astype("int64")
    if "monetary" in df:
        out["monetary"] = df["monetary"].astype("float64")
        out["aov"] = out["monetary"] / n
    out["orders_per_30d"] = 30.0 * n / (out["active_span_days"] + 30.0)
    if "n_promo" in df:
        out["promo_share"] = df["n_promo"].astype("float64") / n
    ch = [c for c in df.columns if c.startswith("channel_")]
    for c in ch:
        out[c] = df[c].fillna(0).astype("float64") / n
    # devices no buyer used before as_of are left out (the model's list of devices is open-ended)
    pl = [c for c in df.columns if c.startswith("_pl_") and df[c].fillna(0).sum() > 0]
    if pl:
        counts = df[pl].fillna(0).astype("float64")
        tot = counts.sum(axis=1).replace(0.0, np.nan)
        for c in pl:
            out["platform_" + c[len("_pl_"):]] = counts[c] / tot
    if has_items:
        lines = df["_lines"].fillna(0).astype("float64")
        denom = lines.replace(0.0, np.nan)
        for c in [c for c in df.columns if c.startswith("category_")]:
            out[c] = df[c].fillna(0).astype("float64") / denom
        for k in range(1, n_tiers + 1):
            if f"tier_{k}" in df:
                out[f"tier_{k}"] = df[f"tier_{k}"].fillna(0).astype("float64") / denom
        out["items_per_order"] = lines / n
    if has_tickets:
        out["tickets_per_order"] = df["_tickets"].fillna(0).astype("float64") / n
    if has_surveys:
        out["nps"] = df["nps"].astype("float64")
    return out.sort_values("customer_id", kind="stable").reset_index(drop=True)


def features_from_data(data: Mapping[str, Any] | Any, as_of, **kwargs) -> pd.DataFrame:
    """:func:`customer_features` from a mapping name → table (or a loaded ``CRMData``).

    ``orders`` is required; ``order_items``, ``events``, ``tickets`` and ``surveys`` are used
    when present (absent tables, ``None``, are not used; nor are tables or columns a feature
    needs that the data lacks). ``kwargs`` go to :func:`customer_features`.

    Examples
    --------
    >>> from crm_research import synthetic
    >>> tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> features_from_data(tables, "2026-01-01").shape  # with order lines, events, tickets and surveys
    (173, 29)
    """
    return customer_features(
        get_table(data, "orders"), as_of,
        order_items=get_table(data, "order_items", required=False),
        events=get_table(data, "events", required=False),
        tickets=get_table(data, "tickets", required=False),
        surveys=get_table(data, "surveys", required=False),
        **kwargs,
    )


def feature_groups(columns) -> dict[str, list[str]]:
    """Group feature columns by concern (value, rhythm, channel, platform, category, tier, ...)."""
    groups: dict[str, list[str]] = {}
    fixed = {
        "recency_days": "rfm", "frequency": "rfm", "monetary": "rfm", "tenure_days": "tenure",
        "active_span_days": "rhythm", "orders_per_30d": "rhythm", "aov": "value", "items_per_order": "value",
        "promo_share": "promo", "tickets_per_order": "support", "nps": "nps",
    }
    for c in columns:
        if c == "customer_id":
            continue
        g = fixed.get(c) or next((p for p in ("channel", "platform", "category", "tier") if c.startswith(p + "_")),
                                 None)
        if g is None:
            raise ParameterError(f"unknown feature column {c!r}")
        groups.setdefault(g, []).append(c)
    return groups


FEATURE_LABELS = {
    "recency_days": "Days since last order",
    "tenure_days": "Days since first order",
    "active_span_days": "Days from first to last order",
    "frequency": "Orders",
    "monetary": "Total spend",
    "aov": "Average order value",
    "orders_per_30d": "Orders per 30 days",
    "promo_share": "Orders with a promotion code (share)",
    "items_per_order": "Items per order",
    "tickets_per_order": "Support tickets per order",
    "nps": "Latest NPS answer (0-10)",
}
"""Readable names of the features of :func:`customer_features` (client charts and tables)."""

_FEATURE_PREFIXES = (("channel_", "channels", "Channel: {}"), ("platform_", "channels", "Device: {}"),
                     ("category_", "categories", "Category: {}"), ("tier_", None, "Price tier {}"))


def feature_label(name: str, label=None) -> str:
    """The readable name of a feature column: ``aov`` → "Average order value",
    ``category_books`` → "Category: Books", ``tier_3`` → "Price tier 3".

    Parameters
    ----------
    name : str
        A column of :func:`customer_features`.
    label : callable, optional
        ``label(kind, value)`` → readable name of a channel, device or category (e.g.
        ``ReportSettings.label``); default :func:`crm_research.settings.humanize`.

    Returns
    -------
    str
        The name; an unknown column in readable form.

    Examples
    --------
    >>> feature_label("aov"), feature_label("category_books"), feature_label("tier_3")
    ('Average order value', 'Category: Books', 'Price tier 3')
    """
    from crm_research.settings import humanize

    name = str(name)
    if name in FEATURE_LABELS:
        return FEATURE_LABELS[name]
    for prefix, kind, pattern in _FEATURE_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            value = name[len(prefix):]
            if value == "other":
                return pattern.format("other")
            shown = value if kind is None else (label(kind, value) if label is not None else humanize(value))
            return pattern.format(shown)
    return humanize(name)
