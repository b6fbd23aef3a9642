"""Every KPI of the baseline, declared once: name, unit, kind, interval method and definition.

The baseline table, the goals file, the snapshots and the breakdowns all refer to metrics by
the names declared here; a name not in :data:`METRICS` is an error wherever it appears.

Conventions
-----------
* A period is a calendar week (Monday to Sunday), month, quarter or year in UTC. Only data
  strictly before ``as_of`` counts; the last period ends at ``as_of`` and may be partial.
* An *order* is a completed order (``orders.status == "completed"``; every row when the
  table has no status column). A *customer* is a contact with at least one order.
* A customer is *active* in a period if they placed at least one order in it.
* *Flow* metrics count what happened inside the period; *stock* metrics (``kind`` ends in
  ``_stock``) describe the state at the end of the period, using all history before it.
* Money is summed in exact integer cents (amounts are rounded to 0.01), so results are
  identical bit for bit whatever the engine's parallelism.
"""

from __future__ import annotations

from dataclasses import dataclass

from crm_research.errors import CRMError

__all__ = ["Metric", "METRICS", "MONEY", "metric_names", "get_metric", "check_metric_names", "ADVOCATE_RULES"]

ADVOCATE_RULES = {
    "referral": "made at least one referral (events.event == '{referral_event}')",
    "promoter": "answered an NPS survey with {promoter_min} or more",
    "either": "made a referral (events.event == '{referral_event}') or answered an NPS survey "
              "with {promoter_min} or more",
}
"""Accepted ``advocate_rule`` values and what each means."""


@dataclass(frozen=True)
class Metric:
    """Declaration of one KPI.

    Attributes
    ----------
    name : str
        Metric name used in the tidy tables, goals files and snapshots.
    unit : str
        Unit of ``value``.
    kind : str
        ``count`` / ``count_stock`` (no interval), ``proportion`` / ``proportion_stock``
        (numerator / denominator, Wilson interval), ``mean`` / ``mean_stock`` (numerator = sum,
        denominator = n, t interval), ``median`` (no interval), ``sum`` (no interval), ``rate``
        (events per unit of time, exact Poisson interval) or ``score`` (NPS, normal interval of a
        difference of two trinomial shares).
    ci_method : str
        ``wilson``, ``t``, ``poisson``, ``trinomial`` or ``""`` (no interval).
    definition : str
        One-line definition; ``{...}`` placeholders are filled from the baseline's parameters.
    higher_is_better : bool
        Direction of improvement (used to colour charts; goals state their own direction).
    tables : tuple of str
        Tables the metric needs.
    columns : tuple of str
        ``"table.column"`` the metric reads besides the order log's ``customer_id`` and
        ``ordered_at`` (always needed; the money metrics read ``orders.amount``): a metric whose
        columns the data lacks is left out of the baseline
        (:func:`crm_research.kpi.measure.unmeasured`). The customer levels also need what
        ``advocate_rule`` reads (referral events and/or NPS answers).

    Examples
    --------
    >>> m = METRICS["retention_rate"]
    >>> m.unit, m.kind, m.ci_method, m.tables
    ('share', 'proportion', 'wilson', ('orders',))
    """

    name: str
    unit: str
    kind: str
    ci_method: str
    definition: str
    higher_is_better: bool
    tables: tuple[str, ...]
    columns: tuple[str, ...] = ()

    def describe(self, **params) -> str:
        """The definition with the baseline's parameters filled in."""
        return self.definition.format(**params)


_M = Metric

MONEY = ("orders.amount",)
"""What the money metrics read besides the order log's customer and date."""

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        _M("new_contacts", "contacts", "count", "",
           "Contacts (customers table rows) whose signup_at falls in the period.", True, ("customers",),
           ("customers.customer_id", "customers.signup_at")),
        _M("active_customers", "customers", "count", "",
           "Distinct customers with at least one completed order in the period.", True, ("orders",)),
        _M("new_customers", "customers", "count", "",
           "Customers whose first completed order falls in the period.", True, ("orders",)),
        _M("new_customers_per_week", "customers per week", "rate", "poisson",
           "new_customers / (period length in days / 7); exact Poisson interval on the count.", True,
           ("orders",)),
        _M("orders", "orders", "count", "", "Completed orders placed in the period.", True, ("orders",)),
        _M("customers", "customers", "count_stock", "",
           "Customers with at least one completed order before the period end.", True, ("orders",)),
        _M("first_time_customers", "customers", "count_stock", "",
           "Customer level at the period end: exactly one completed order and not an advocate "
           "(levels first-time / repeat / advocate are exclusive and sum to customers).", True,
           ("orders",)),
        _M("repeat_customers", "customers", "count_stock", "",
           "Customer level at the period end: two or more completed orders and not an advocate.",
           True, ("orders",)),
        _M("advocates", "customers", "count_stock", "",
           "Customer level at the period end: a customer who {advocate_text} before the period end.",
           True, ("orders",)),
        _M("retention_rate", "share", "proportion", "wilson",
           "Customers active in the previous period who are active again in this period / customers "
           "active in the previous period.", True, ("orders",)),
        _M("churn_rate", "share", "proportion", "wilson",
           "1 - retention_rate: customers active in the previous period with no completed order in "
           "this period / customers active in the previous period.", False, ("orders",)),
        _M("repeat_purchase_rate", "share", "proportion_stock", "wilson",
           "Customers with two or more completed orders before the period end / customers with at "
           "least one.", True, ("orders",)),
        _M("purchase_frequency", "orders per customer", "mean", "t",
           "Completed orders in the period / active customers in the period (mean orders per active "
           "customer).", True, ("orders",)),
        _M("average_order_value", "currency per order", "mean", "t",
           "Revenue of completed orders in the period / completed orders in the period.", True,
           ("orders",), MONEY),
        _M("revenue", "currency", "sum", "", "Sum of amount over completed orders in the period.", True,
           ("orders",), MONEY),
        _M("revenue_per_customer", "currency per customer", "mean", "t",
           "Revenue in the period / active customers in the period (mean revenue per active "
           "customer).", True, ("orders",), MONEY),
        _M("historical_customer_value", "currency per customer", "mean_stock", "t",
           "Mean over customers (at least one completed order before the period end) of their "
           "revenue from all completed orders before the period end.", True, ("orders",), MONEY),
        _M("lead_conversion_rate", "share", "proportion_stock", "wilson",
           "Contacts signed up before the period end who placed a first completed order before the "
           "period end / contacts signed up before the period end.", True, ("customers", "orders"),
           ("customers.customer_id", "customers.signup_at")),
        _M("cart_abandonment_rate", "share", "proportion", "wilson",
           "Sessions whose first '{cart_event}' event falls in the period and that have no "
           "'{purchase_event}' event (before as_of) / sessions whose first '{cart_event}' falls in "
           "the period.", False, ("events",),
           ("events.session_id", "events.occurred_at", "events.event")),
        _M("first_response_hours_mean", "hours", "mean", "t",
           "Mean of first_response_at - opened_at over tickets opened in the period and answered "
           "before as_of.", False, ("tickets",),
           ("tickets.opened_at", "tickets.first_response_at")),
        _M("first_response_hours_median", "hours", "median", "",
           "Median of first_response_at - opened_at over tickets opened in the period and answered "
           "before as_of.", False, ("tickets",),
           ("tickets.opened_at", "tickets.first_response_at")),
        _M("handling_hours_mean", "hours", "mean", "t",
           "Mean of resolved_at - opened_at over tickets opened in the period and resolved before "
           "as_of.", False, ("tickets",),
           ("tickets.opened_at", "tickets.resolved_at")),
        _M("handling_hours_median", "hours", "median", "",
           "Median of resolved_at - opened_at over tickets opened in the period and resolved before "
           "as_of.", False, ("tickets",),
           ("tickets.opened_at", "tickets.resolved_at")),
        _M("first_contact_resolution_rate", "share", "proportion", "wilson",
           "Tickets opened in the period, resolved before as_of with contacts == 1 / tickets opened "
           "in the period and resolved before as_of.", True, ("tickets",),
           ("tickets.opened_at", "tickets.resolved_at", "tickets.contacts")),
        _M("csat_mean", "score 1-5", "mean", "t",
           "Mean csat over tickets opened in the period that have a csat answer.", True,
           ("tickets",),
           ("tickets.opened_at", "tickets.csat")),
        _M("csat_share_4_5", "share", "proportion", "wilson",
           "Tickets opened in the period with csat 4 or 5 / tickets opened in the period with a csat "
           "answer.", True, ("tickets",),
           ("tickets.opened_at", "tickets.csat")),
        _M("nps", "points (-100..100)", "score", "trinomial",
           "100 x (share of promoters (9-10) - share of detractors (0-6)) among survey answers in "
           "the period; interval: normal, variance (p + d - (p - d)^2) / n.", True, ("surveys",),
           ("surveys.answered_at", "surveys.nps")),
    )
}
"""The baseline's metrics, in the order of the baseline table."""


def metric_names() -> list[str]:
    """Names of every KPI, in baseline order.

    Examples
    --------
    >>> names = metric_names()
    >>> len(names), names[:3]
    (27, ['new_contacts', 'active_customers', 'new_customers'])
    """
    return list(METRICS)


def get_metric(name: str) -> Metric:
    """Return the declaration of ``name``.

    Raises
    ------
    CRMError
        ``name`` is not a known metric (the message lists the valid names).
    """
    check_metric_names([name], where="metric name")
    return METRICS[name]


def check_metric_names(names, where: str = "metric names") -> None:
    """Raise :class:`CRMError` naming every unknown metric in ``names`` and listing the valid ones.

    Examples
    --------
    >>> check_metric_names(["retention_rate", "nps"])
    >>> check_metric_names(["retention"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    crm_research.errors.CRMError: metric names: unknown metric 'retention'; valid metrics are: new_contacts, ...
    """
    unknown = [str(n) for n in names if n not in METRICS]
    if unknown:
        raise CRMError(
            f"{where}: unknown metric{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"valid metrics are: {', '.join(METRICS)}"
        )
