"""The sections of the segmentation notebook and what each needs (see :mod:`crm_research.needs.core`)."""

from __future__ import annotations

from crm_research.needs import facts  # noqa: F401 - registers the shared facts
from crm_research.needs.core import DEFAULTS, Need, Section

NOTEBOOK = "02_segmentation"

DEFAULTS.update({"cluster_min_orders": 3})

ORDERS = Need("completed orders with a customer, a date and an amount",
              ("orders.customer_id", "orders.ordered_at", "orders.amount"),
              fact="buyers", at_least=1)

SECTIONS: tuple[Section, ...] = (
    Section(NOTEBOOK, "rfm", "RFM segments", (ORDERS,)),
    Section(NOTEBOOK, "cross_sell", "Cross-sell and upsell",
            (ORDERS, Need("order lines (which products each order holds)", ("order_items",)))),
)
