"""The sections of the baseline notebook and what each needs (see :mod:`crm_research.needs.core`).

Every section needs the order log (customer and date) with at least one completed order. The
order amounts are not a need of any section: without ``orders.amount`` (orders derived from an
event log's purchases) the counts, shares, retention, cohorts, levels and breakdowns are the
same, and only the money KPIs (revenue, average order value, revenue per customer, historical
customer value) are left out. The KPI table runs on any such data: a KPI whose table or column
is absent (money without ``orders.amount``, support times without ``tickets``, NPS without
``surveys``, ...) is left out of the table and listed in one note by
:func:`crm_research.kpi.baseline` (``attrs["skipped"]``, from ``Metric.columns``); goals on such
a KPI are left out with the same reason (:func:`crm_research.kpi.select_goals`). So the KPI
groups are not sections of their own. Beyond the orders:

* ``levels`` falls back to customers by number of orders (one; two or more) when nothing in
  the data marks an advocate (no referral event or promoter answer, per ``advocate_rule``);
* ``cohorts`` needs order history over at least two reporting periods (a cohort followed
  into the period after its first);
* ``breakdowns`` needs one breakdown attribute with at least two values (a single region is
  the whole business again).
"""

from __future__ import annotations

import pandas as pd

from crm_research.exprs import flag
from crm_research.needs import facts  # noqa: F401 - registers the shared facts
from crm_research.needs.core import DEFAULTS, NOT_SYNTHETIC, Need, Section, fact
from crm_research.needs.facts import before, completed_orders, scalar

NOTEBOOK = "01_baseline"

DEFAULTS.update({"period": "M", "advocate_rule": "referral"})

REFERRAL_EVENT = "referral"
"""Event name of a referral (:func:`crm_research.kpi.baseline`'s default)."""

PROMOTER_MIN = 9
"""Lowest NPS answer of a promoter (:func:`crm_research.kpi.baseline`'s default)."""

BREAKDOWN_COLUMNS = {"customers": ("acquisition_channel", "region"), "orders": ("channel", "platform")}
"""The columns behind the breakdown dimensions (:data:`crm_research.kpi.DIMENSIONS`)."""


@fact("baseline_history_periods", "orders.customer_id", "orders.ordered_at")
def _history_periods(t, as_of, p):
    """Reporting periods (``period``) from the first completed order's to the last before ``as_of``."""
    from crm_research.kpi.scans import period_index

    orders = completed_orders(t, as_of)
    if scalar(orders.count()) == 0:
        return 0.0
    first = pd.Timestamp(scalar(orders.ordered_at.min().epoch_seconds()), unit="s", tz="UTC")
    last = (as_of - pd.Timedelta(1, "ns") if as_of is not None
            else pd.Timestamp(scalar(orders.ordered_at.max().epoch_seconds()), unit="s", tz="UTC"))
    period = p["period"] if p["period"] in ("W", "M", "Q", "Y") else "M"
    return float(period_index(last, period) - period_index(first, period) + 1)


@fact("baseline_advocate_signals")
def _advocate_signals(t, as_of, p):
    """Referral events and/or NPS answers of 9-10 before ``as_of``, as ``advocate_rule`` reads them."""
    rule = p["advocate_rule"]
    n = 0.0
    if rule in ("referral", "either") and t.has("events", "event") and t.has("events", "occurred_at"):
        e = before(t["events"], "occurred_at", as_of)
        n += scalar(e.filter(e.event == REFERRAL_EVENT).count())
    if rule in ("promoter", "either") and t.has("surveys", "nps") and t.has("surveys", "answered_at"):
        s = before(t["surveys"], "answered_at", as_of)
        n += scalar(s.filter(s.nps >= PROMOTER_MIN).count())
    return n


@fact("baseline_breakdown_dimensions")
def _breakdown_dimensions(t, as_of, p):
    """Breakdown attributes (acquisition channel, region, purchase type, platform) with >= 2 values."""
    n = 0.0
    for table, columns in BREAKDOWN_COLUMNS.items():
        present = [c for c in columns if t.has(table, c)]
        if present:
            tb = t[table]
            flags = [flag(tb[c].nunique() >= 2) for c in present]
            n += scalar(sum(flags[1:], flags[0]))
    return n


ORDERS = Need("at least {at_least} completed order with a customer and a date",
              ("orders", "orders.customer_id", "orders.ordered_at"), fact="buyers", at_least=1)
"""The order log; amounts are optional (the money KPIs need them, see :data:`crm_research.kpi.METRICS`)."""

SECTIONS: tuple[Section, ...] = (
    Section(NOTEBOOK, "kpis", "The KPI baseline, period by period", (ORDERS,)),
    Section(NOTEBOOK, "latest", "Where the business stands now", (ORDERS,)),
    Section(NOTEBOOK, "levels", "Customer levels", (
        ORDERS,
        Need("at least {at_least} sign of advocacy of the kind advocate_rule='{advocate_rule}' reads "
             "(a referral event; an NPS answer of 9-10)", fact="baseline_advocate_signals", at_least=1,
             fallback="customers by number of orders only (one; two or more), without advocates",
             name="advocates"),
    )),
    Section(NOTEBOOK, "cohorts", "Cohort retention", (
        ORDERS,
        Need("order history over at least {at_least} reporting periods, to follow a cohort into the "
             "period after its first", fact="baseline_history_periods", at_least=2),
    )),
    Section(NOTEBOOK, "goals", "SMART goals: baseline, target, deadline", (ORDERS,)),
    Section(NOTEBOOK, "snapshot", "Snapshot for the next review", (ORDERS,)),
    Section(NOTEBOOK, "review", "What has changed since the previous snapshot", (ORDERS,)),
    Section(NOTEBOOK, "breakdowns", "Breakdowns by channel, region, purchase type and platform", (
        ORDERS,
        Need("at least {at_least} breakdown attribute with two or more values (a customer's acquisition "
             "channel or region; an order's purchase type or platform)", fact="baseline_breakdown_dimensions", at_least=1),
    )),
    Section(NOTEBOOK, "truth", "Check against the planted truth",
            (ORDERS, Need("the planted truth of a synthetic company (`truth.json` beside the data)", ("truth",),
                          absent=NOT_SYNTHETIC))),
)

__all__ = ["NOTEBOOK", "SECTIONS", "ORDERS", "BREAKDOWN_COLUMNS", "REFERRAL_EVENT", "PROMOTER_MIN"]
