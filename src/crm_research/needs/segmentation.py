"""The sections of the segmentation notebook and what each needs (see :mod:`crm_research.needs.core`).

Minimum data, from where the methods fail or stop meaning something:

* RFM, levels, the per-customer table: one buyer (a completed order before ``as_of``). Without
  order amounts RFM falls back to recency and frequency (the default rule table names segments
  from those two scores only); the revenue columns are left out.
* Levels: advocates need referral events (``events.event == "referral"``) or NPS answers
  (``surveys``); without any, buyers are first-time or repeat only (a fallback).
* Clusters: :class:`~crm_research.segments.CustomerClusters` refuses fewer than 5 clustered buyers
  per cluster for the largest k tried (``5 * k_range[1]``), and k is at least 2, so at least
  ``5 * 2 = 10`` buyers with ``cluster_min_orders`` orders are needed. Between 10 and
  ``5 * k_range[1]`` it runs with fewer clusters (k up to ``buyers // 5``, see
  :func:`~crm_research.segments.clusters.max_clusters`). Without order amounts the clusters are
  found without spend and order value (a fallback); every other feature table and column is used
  when present.
* Planted-truth check: a synthetic company's ``truth.json`` (passed to the verdicts as the extra
  table ``truth``, its planted customers) and the clusters' needs.
* Cross-sell: order lines with categories, and at least one order holding two categories
  (otherwise there is no pair to count). Price tiers and upsell: unit prices and a category with
  at least ``n_tiers`` products (otherwise every product is tier 1); without them the suggestion
  list holds cross-sell suggestions only (a fallback).
"""

from __future__ import annotations

from crm_research.needs import facts  # noqa: F401 - registers the shared facts
from crm_research.needs.core import DEFAULTS, NOT_SYNTHETIC, Need, Section, fact
from crm_research.needs.facts import buyers_with, completed_orders, scalar

NOTEBOOK = "02_segmentation"

NOTEBOOK_DEFAULTS = {"cluster_min_orders": 3, "k_range": [2, 8], "n_tiers": 3}
"""The parameters of the notebook that thresholds and facts use, with the notebook's defaults."""

DEFAULTS.update(NOTEBOOK_DEFAULTS)

MIN_PER_CLUSTER = 5
"""Clustered buyers per cluster that :class:`~crm_research.segments.CustomerClusters` requires (the same
as :data:`crm_research.segments.clusters.MIN_PER_CLUSTER`; kept here so that deciding needs does not
import scikit-learn)."""



# ---------------------------------------------------------------------------------------
# facts of this notebook
# ---------------------------------------------------------------------------------------


@fact("seg_orders_with_amount", "orders.customer_id", "orders.ordered_at")
def _orders_with_amount(t, as_of, p):
    if not t.has("orders", "amount"):
        return 0.0
    orders = completed_orders(t, as_of)
    return scalar(orders.amount.notnull().sum())


@fact("seg_advocate_signals", "orders.customer_id", "orders.ordered_at")
def _advocate_signals(t, as_of, p):
    from crm_research.needs.facts import before

    n = 0.0
    if t.has("events", "event") and t.has("events", "occurred_at"):
        ev = before(t["events"], "occurred_at", as_of)
        n += scalar(ev.filter(ev.event == "referral").count())
    if t.has("surveys", "nps") and t.has("surveys", "answered_at"):
        n += scalar(before(t["surveys"], "answered_at", as_of).count())
    return n


@fact("seg_cluster_buyers", "orders.customer_id", "orders.ordered_at")
def _cluster_buyers(t, as_of, p):
    return buyers_with(t, as_of, p["cluster_min_orders"])


@fact("seg_cluster_buyers_per_k", "orders.customer_id", "orders.ordered_at")
def _cluster_buyers_per_k(t, as_of, p):
    return buyers_with(t, as_of, p["cluster_min_orders"]) / max(int(p["k_range"][1]), 1)


def _counted_lines(t, as_of):
    orders = completed_orders(t, as_of).select("order_id")
    return t["order_items"].inner_join(orders, "order_id")


@fact("seg_multi_category_orders", "orders.order_id", "order_items.order_id", "order_items.category")
def _multi_category_orders(t, as_of, p):
    lines = _counted_lines(t, as_of)
    per = lines.group_by("order_id").aggregate(n=lines.category.nunique())
    return scalar(per.filter(per.n >= 2).count())


@fact("seg_tier_categories", "orders.order_id", "order_items.order_id", "order_items.product_id",
      "order_items.category")
def _tier_categories(t, as_of, p):
    if not t.has("order_items", "unit_price"):
        return 0.0
    lines = _counted_lines(t, as_of)
    lines = lines.filter(lines.unit_price.notnull())
    per = lines.group_by("category").aggregate(n=lines.product_id.nunique())
    return scalar(per.filter(per.n >= int(p["n_tiers"])).count())


# ---------------------------------------------------------------------------------------
# needs and sections
# ---------------------------------------------------------------------------------------

BUYERS = Need("at least {at_least} buyer (a completed order with a customer and a date)",
              ("orders.customer_id", "orders.ordered_at"), fact="buyers", at_least=1)

AMOUNTS_OR_RF = Need("at least {at_least} completed order with an amount (orders.amount)",
                     fact="seg_orders_with_amount", at_least=1,
                     fallback="segments from recency and frequency only, without revenue", name="no_amounts")
"""RFM without amounts: the default rules use R and F only, so the segments stay; money columns go."""

CLUSTERS_NO_AMOUNTS = Need("at least {at_least} completed order with an amount (orders.amount)",
                           fact="seg_orders_with_amount", at_least=1,
                           fallback="clusters without spend and order value", name="no_amounts")
"""Clusters without amounts: the other features (recency, rhythm, tenure, mixes) are used."""

ADVOCATES = Need("at least {at_least} referral event (events.event 'referral') or NPS answer (surveys) "
                 "to find advocates", fact="seg_advocate_signals", at_least=1,
                 fallback="only first-time and repeat buyers, no advocates", name="no_advocates")

CLUSTER_BUYERS = Need("at least {at_least} buyers with {cluster_min_orders} or more completed orders "
                      f"({MIN_PER_CLUSTER} per cluster, 2 clusters at least)",
                      fact="seg_cluster_buyers", at_least=2 * MIN_PER_CLUSTER)

CLUSTER_K = Need("at least {at_least} buyers with {cluster_min_orders} or more completed orders per cluster "
                 "for up to {k_range[1]} clusters (k_range)", fact="seg_cluster_buyers_per_k",
                 at_least=MIN_PER_CLUSTER, fallback="fewer clusters than k_range allows", name="fewer_clusters")

ORDER_LINES = Need("order lines with product categories (order_items)",
                   ("orders.order_id", "order_items", "order_items.order_id", "order_items.category"))

PAIRS = Need("at least {at_least} order holding two or more product categories", fact="seg_multi_category_orders",
             at_least=1)

TIERS = Need("at least {at_least} category with {n_tiers} or more products with a unit price "
             "(order_items.unit_price)", ("order_items.product_id", "order_items.unit_price"),
             fact="seg_tier_categories", at_least=1)

UPSELL = Need("at least {at_least} category with {n_tiers} or more products with a unit price "
              "(order_items.unit_price)", fact="seg_tier_categories", at_least=1,
              fallback="cross-sell suggestions only, no upsell", name="no_upsell")

PLANTED = Need("the planted segments of a synthetic company (`truth.json` beside the data)", ("truth",), absent=NOT_SYNTHETIC)
"""The notebook passes the planted customers (``truth_customers``) as the extra table ``truth``."""

SECTIONS: tuple[Section, ...] = (
    Section(NOTEBOOK, "rfm", "RFM segments", (BUYERS, AMOUNTS_OR_RF)),
    Section(NOTEBOOK, "rfm_grid", "The RFM grid", (BUYERS, AMOUNTS_OR_RF)),
    Section(NOTEBOOK, "levels", "Customer levels", (BUYERS, ADVOCATES)),
    Section(NOTEBOOK, "clusters", "Behavioural clusters and personas",
            (BUYERS, CLUSTERS_NO_AMOUNTS, CLUSTER_BUYERS, CLUSTER_K)),
    Section(NOTEBOOK, "stability", "Cluster stability", (BUYERS, CLUSTER_BUYERS)),
    Section(NOTEBOOK, "affinities", "Categories bought together", (BUYERS, ORDER_LINES, PAIRS)),
    Section(NOTEBOOK, "price_tiers", "Price tiers", (BUYERS, ORDER_LINES, TIERS)),
    Section(NOTEBOOK, "cross_sell", "Cross-sell and upsell suggestions", (BUYERS, ORDER_LINES, PAIRS, UPSELL)),
    Section(NOTEBOOK, "customers", "One line per customer", (BUYERS,)),
    Section(NOTEBOOK, "truth", "Check against the planted truth", (PLANTED, BUYERS, CLUSTER_BUYERS)),
)

__all__ = ["NOTEBOOK", "NOTEBOOK_DEFAULTS", "MIN_PER_CLUSTER", "SECTIONS"]
