"""The sections of the churn notebook and what each needs (see :mod:`crm_research.needs.core`).

The thresholds follow what the methods need to run and mean something:

* the RFM hit rate scores customers one horizon before ``as_of`` and needs the usual gap
  between purchase days, so at least two horizons of history and repeat buyers by then;
* Kaplan-Meier always runs on the buyers; curves and log-rank tests by segment need at least
  two groups of ``segment_column`` with :data:`MIN_GROUP` customers each (otherwise: one
  pooled curve);
* the Cox model needs :data:`MIN_EVENTS` lost repeat buyers (a one-time buyer's lifetime is
  always ``churn_after_days``) and at least one covariate that varies;
* the out-of-time classifier learns two horizons before ``as_of`` and is checked one horizon
  before it: both windows need :data:`MIN_CLASS` churners and as many buyers;
* BG/NBD and Pareto/NBD need :data:`MIN_REPEAT` customers with two or more purchase days;
  Gamma-Gamma as many with a positive repeat spend (otherwise: no customer value);
* the sBG projection of subscriptions needs :data:`MIN_ENDED` ended subscriptions and
  :data:`MIN_RENEWAL_PERIODS` renewal periods (``renewal_period``) of history;
* BG/BB needs purchases on fixed occasions: at least :data:`OCCASION_SHARE` % of the purchase
  days on no more than :data:`MAX_OCCASIONS_PER_YEAR` days a year, and :data:`MIN_REPEAT`
  customers who bought on two or more occasions.
"""

from __future__ import annotations

import weakref

import ibis
import pandas as pd

from crm_research.exprs import flag
from crm_research.exprs import ts_literal as _ts
from crm_research.needs import facts  # noqa: F401 - registers the shared facts
from crm_research.needs.core import DEFAULTS, Need, Section, fact
from crm_research.needs.facts import before, completed_orders, scalar

NOTEBOOK = "05_churn"

DEFAULTS.update({"churn_after_days": 180, "horizon_days": 90, "segment_column": "acquisition_channel",
                 "renewal_period": "M"})

MIN_GROUP = 30
"""Customers a segment needs for its own survival curve and log-rank test."""
MIN_EVENTS = 20
"""Lost customers the Cox model needs (70 % of them train the held-out check)."""
MIN_CLASS = 20
"""Churners, and buyers, the classifier needs at each of its two label starts (one and two horizons before as_of)."""
MIN_REPEAT = 20
"""Customers with two or more purchase days the BTYD models (and the RFM rhythm) need."""
MIN_ENDED = 10
"""Ended subscriptions the contractual survival analysis needs."""
MIN_RENEWAL_PERIODS = 3
"""Renewal periods between the first subscription and the analysis date the sBG fit needs."""
MAX_OCCASIONS_PER_YEAR = 12
"""At most this many purchase occasions a year count as discrete occasions (a monthly box)."""
OCCASION_SHARE = 90
"""Share of purchase days (%) on the occasion days for BG/BB to apply."""
RENEWAL_DAYS = {"M": 365.25 / 12, "Q": 365.25 / 4, "Y": 365.25}
"""Length of a renewal period in days."""
ACTIVE_DAYS = 365
"""The classifier scores customers who bought in the year before the date they are scored at (days)."""

ORDER_COLS = ("orders.customer_id", "orders.ordered_at")


# ---------------------------------------------------------------------------------------
# facts of this notebook
# ---------------------------------------------------------------------------------------


def _cut(t, as_of) -> pd.Timestamp:
    """``as_of``, or just after the last order when no analysis date is given."""
    if as_of is not None:
        return as_of
    seconds = scalar(t["orders"].ordered_at.max().epoch_seconds())
    return pd.Timestamp(seconds + 1, unit="s", tz="UTC")


def _days(t, as_of):
    """One row per customer and UTC purchase day (completed orders before ``as_of``)."""
    o = completed_orders(t, as_of)
    return o.select("customer_id", day=o.ordered_at.date()).distinct()


def _repeat_day_buyers(t, as_of) -> float:
    days = _days(t, as_of)
    per = days.group_by("customer_id").aggregate(n=ibis._.count())
    return scalar(per.filter(per.n >= 2).count())


@fact("history_horizons", *ORDER_COLS)
def _history_horizons(t, as_of, p):
    from crm_research.needs.core import FACTS

    return FACTS["history_days"].compute(t, as_of, p) / float(p["horizon_days"])


@fact("repeat_day_buyers", *ORDER_COLS)
def _repeat_day_buyers_fact(t, as_of, p):
    return _repeat_day_buyers(t, _cut(t, as_of))


@fact("repeat_day_buyers_at_check", *ORDER_COLS)
def _repeat_day_buyers_check(t, as_of, p):
    return _repeat_day_buyers(t, _cut(t, as_of) - pd.Timedelta(days=float(p["horizon_days"])))


@fact("repeat_spenders", *ORDER_COLS)
def _repeat_spenders(t, as_of, p):
    if not t.has("orders", "amount"):
        return 0.0
    o = completed_orders(t, _cut(t, as_of))
    days = o.group_by(["customer_id", o.ordered_at.date().name("day")]).aggregate(value=o.amount.sum())
    first = days.group_by("customer_id").aggregate(first_day=days.day.min()).rename(cid="customer_id")
    j = days.inner_join(first, days.customer_id == first.cid)
    later = j.filter((j.day > j.first_day) & (j.value > 0))
    return scalar(later.customer_id.nunique())


def _buyer_segments(t, as_of, column: str):
    buyers = completed_orders(t, as_of).select("customer_id").distinct()
    c = t["customers"]
    c = c.select(cid=c.customer_id, value=c[column])
    j = buyers.inner_join(c, buyers.customer_id == c.cid)
    return j.filter(j.value.notnull())


@fact("segment_groups", *ORDER_COLS)
def _segment_groups(t, as_of, p):
    column = p["segment_column"]
    if not t.has("customers", column):
        return 0.0
    j = _buyer_segments(t, _cut(t, as_of), column)
    per = j.group_by("value").aggregate(n=ibis._.count())
    return scalar(per.filter(per.n >= MIN_GROUP).count())


@fact("lost_repeat_buyers", *ORDER_COLS)
def _lost_repeat_buyers(t, as_of, p):
    """Lost customers who bought on two or more days: only their times as customers differ.

    A one-time buyer is lost exactly ``churn_after_days`` after the first purchase, so without
    repeat buyers every lifetime is the same and a survival model has nothing to rank.
    """
    cut = _cut(t, as_of)
    o = completed_orders(t, cut)
    per = o.group_by("customer_id").aggregate(n=o.ordered_at.date().nunique(), last=o.ordered_at.max())
    gone = _ts(cut - pd.Timedelta(days=float(p["churn_after_days"])))
    return scalar(per.filter((per.n >= 2) & (per["last"] <= gone)).count())


@fact("cox_covariates", *ORDER_COLS)
def _cox_covariates(t, as_of, p):
    """Covariates that vary among the buyers: segment (two groups large enough), age, promotion on the first order."""
    cut = _cut(t, as_of)
    n = 0.0
    n += _segment_groups(t, as_of, p) >= 2  # the segment is used only where survival is by segment
    if t.has("customers", "age"):
        n += scalar(_buyer_segments(t, cut, "age").value.nunique()) >= 2
    if t.has("orders", "promo_code"):
        from crm_research.churn.survival import first_order_promo

        promo = first_order_promo(completed_orders(t, cut), cut)
        n += scalar(promo.first_order_promo.nunique()) >= 2
    return n


@fact("ended_subscriptions", "subscriptions.started_at", "subscriptions.ended_at")
def _ended_subscriptions(t, as_of, p):
    s = before(t["subscriptions"], "started_at", as_of)
    ended = s.ended_at.notnull()
    if as_of is not None:
        ended = ended & (s.ended_at < _ts(as_of))
    return scalar(s.filter(ended).count())


@fact("subscription_revenue", "subscriptions.started_at")
def _subscription_revenue(t, as_of, p):
    """Subscriptions with a positive monthly revenue (0 without the ``mrr`` column: the value falls back)."""
    if not t.has("subscriptions", "mrr"):
        return 0.0
    s = before(t["subscriptions"], "started_at", as_of)
    return scalar(s.filter(s.mrr > 0).count())


@fact("subscription_plans", "subscriptions.started_at", "subscriptions.plan")
def _subscription_plans(t, as_of, p):
    return scalar(before(t["subscriptions"], "started_at", as_of).plan.nunique())


@fact("renewal_periods", "subscriptions.started_at")
def _renewal_periods(t, as_of, p):
    """Renewal periods (``renewal_period``) from the first subscription start to ``as_of``."""
    s = before(t["subscriptions"], "started_at", as_of)
    end = _ts(as_of) if as_of is not None else s.started_at.max()
    seconds = scalar(end.epoch_seconds() - s.started_at.min().epoch_seconds())
    return seconds / 86400 / RENEWAL_DAYS.get(str(p["renewal_period"]), RENEWAL_DAYS["M"])


def _occasion_pattern(t, as_of) -> dict:
    """:func:`crm_research.churn.bgbb.occasion_pattern` of the data: one row per calendar day comes back."""
    from crm_research.churn.bgbb import occasion_pattern, purchase_days_by_date
    from crm_research.engine import collect

    days = purchase_days_by_date(t["orders"], _cut(t, as_of), status_col="status" if t.has("orders", "status") else None)
    return occasion_pattern(collect(days), max_per_year=MAX_OCCASIONS_PER_YEAR)


@fact("occasion_share", *ORDER_COLS, prefetch=False)
def _occasion_share(t, as_of, p):
    """Percent of purchase days on the busiest ``MAX_OCCASIONS_PER_YEAR`` days a year."""
    return _occasion_pattern(t, as_of)["share"]


@fact("occasion_calendar", *ORDER_COLS, prefetch=False)
def _occasion_calendar(t, as_of, p):
    """1 when the occasions fall about once a year, a quarter or a month (a calendar period per opportunity)."""
    return float(_occasion_pattern(t, as_of)["period"] is not None)


@fact("repeat_occasion_buyers", *ORDER_COLS)
def _repeat_occasion_buyers(t, as_of, p):
    return _repeat_day_buyers(t, _cut(t, as_of))


_CLASSES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""Churners and buyers per (table set, label start, horizon): four facts share two queries."""


def _window_classes(t, label_start: pd.Timestamp, horizon_days: float) -> tuple[float, float]:
    """Churners and buyers among the customers active at ``label_start`` (bought in the year before it)."""
    memo = _CLASSES.setdefault(t, {})
    if (label_start, horizon_days) in memo:
        return memo[(label_start, horizon_days)]
    o = completed_orders(t, None)
    start, end = label_start - pd.Timedelta(days=ACTIVE_DAYS), label_start + pd.Timedelta(days=horizon_days)
    per = o.group_by("customer_id").aggregate(
        active=o.count(where=(o.ordered_at >= _ts(start)) & (o.ordered_at < _ts(label_start))),
        bought=o.count(where=(o.ordered_at >= _ts(label_start)) & (o.ordered_at < _ts(end))),
    )
    per = per.filter(per.active > 0)
    # one number: churners * 2^32 + buyers (both are counts of customers, far below 2^32)
    both = scalar((flag(per.bought == 0) * (2 ** 32) + flag(per.bought > 0)).sum())
    memo[(label_start, horizon_days)] = (float(int(both) >> 32), float(int(both) & (2 ** 32 - 1)))
    return memo[(label_start, horizon_days)]


def _classes(t, as_of, p, horizons: int) -> tuple[float, float]:
    cut = _cut(t, as_of)
    h = float(p["horizon_days"])
    return _window_classes(t, cut - pd.Timedelta(days=horizons * h), h)


@fact("train_churners", *ORDER_COLS)
def _train_churners(t, as_of, p):
    return _classes(t, as_of, p, 2)[0]


@fact("train_buyers", *ORDER_COLS)
def _train_buyers(t, as_of, p):
    return _classes(t, as_of, p, 2)[1]


@fact("check_churners", *ORDER_COLS)
def _check_churners(t, as_of, p):
    return _classes(t, as_of, p, 1)[0]


@fact("check_buyers", *ORDER_COLS)
def _check_buyers(t, as_of, p):
    return _classes(t, as_of, p, 1)[1]


# ---------------------------------------------------------------------------------------
# sections
# ---------------------------------------------------------------------------------------

ORDERS = Need("completed orders with a customer and a date", ORDER_COLS, fact="buyers", at_least=1)
HISTORY = Need("an order history of at least {at_least} prediction horizons of {horizon_days} days",
               ORDER_COLS, fact="history_horizons", at_least=2)
CLASSES = (
    Need("at least {at_least} customers who bought in the year before the learning date (two horizons "
         "before the analysis date) and then did not buy for {horizon_days} days",
         fact="train_churners", at_least=MIN_CLASS),
    Need("at least {at_least} customers who bought in the year before the learning date and bought "
         "again within {horizon_days} days", fact="train_buyers", at_least=MIN_CLASS),
    Need("at least {at_least} customers who bought in the year before the check date (one horizon "
         "before the analysis date) and then did not buy for {horizon_days} days",
         fact="check_churners", at_least=MIN_CLASS),
    Need("at least {at_least} customers who bought in the year before the check date and bought "
         "again within {horizon_days} days", fact="check_buyers", at_least=MIN_CLASS),
)
REPEAT = Need("at least {at_least} customers with purchases on two or more days", fact="repeat_day_buyers",
              at_least=MIN_REPEAT)
SPEND = Need("at least {at_least} customers whose repeat purchases have a positive amount (orders.amount)",
             fact="repeat_spenders", at_least=MIN_REPEAT, name="no_value",
             fallback="the probability that each customer is still active and the purchases to expect, "
                      "without spend or customer value")

SECTIONS: tuple[Section, ...] = (
    Section(NOTEBOOK, "lost", "What \u201clost\u201d means here", (ORDERS,)),
    Section(NOTEBOOK, "rfm_risk", "A simple risk score (RFM) and how often it was right", (
        ORDERS, HISTORY,
        Need("at least {at_least} customers with purchases on two or more days before the check date "
             "(one horizon before the analysis date)", fact="repeat_day_buyers_at_check", at_least=MIN_REPEAT),
    )),
    Section(NOTEBOOK, "survival", "How long customers stay: survival curves", (
        ORDERS,
        Need("at least {at_least} groups of `{segment_column}` (customers table) with " + str(MIN_GROUP)
             + " or more customers each",
             fact="segment_groups", at_least=2, name="pooled",
             fallback="survival of all customers together, not by segment"),
    )),
    Section(NOTEBOOK, "cox", "What raises the risk of leaving: Cox model", (
        ORDERS,
        Need("at least {at_least} lost customers (no purchase for {churn_after_days} days) who had bought "
             "on two or more days", fact="lost_repeat_buyers", at_least=MIN_EVENTS),
        Need("a customer fact that varies between customers (two or more groups of `{segment_column}`, "
             "ages, or promotion codes on first orders)", fact="cox_covariates", at_least=1),
    )),
    Section(NOTEBOOK, "subscriptions", "Subscriptions (contractual churn)", (
        ORDERS,
        Need("subscriptions with their start, end, plan and monthly revenue",
             ("subscriptions", "subscriptions.customer_id", "subscriptions.started_at", "subscriptions.ended_at",
              "subscriptions.plan", "subscriptions.mrr")),
        Need("at least {at_least} ended subscriptions", fact="ended_subscriptions", at_least=MIN_ENDED),
        Need("subscriptions on at least {at_least} plans", fact="subscription_plans", at_least=2),
    )),
    Section(NOTEBOOK, "renewals", "Projecting the subscriptions: renewals to come and their value", (
        Need("subscriptions with their start and end", ("subscriptions", "subscriptions.customer_id",
                                                       "subscriptions.started_at", "subscriptions.ended_at")),
        Need("at least {at_least} ended subscriptions", fact="ended_subscriptions", at_least=MIN_ENDED),
        Need("at least {at_least} renewal periods (`renewal_period` = \"{renewal_period}\") between the first "
             "subscription and the analysis date", fact="renewal_periods", at_least=MIN_RENEWAL_PERIODS),
        Need("the monthly revenue of each subscription (subscriptions.mrr)", fact="subscription_revenue",
             at_least=1, name="no_value", fallback="the renewals to come, without their value"),
    )),
    Section(NOTEBOOK, "classifier", "Predicting who will not buy: the out-of-time classifier",
            (ORDERS, HISTORY, *CLASSES)),
    Section(NOTEBOOK, "value", "Probability alive and customer value", (
        ORDERS, REPEAT,
        Need("at least {at_least} customers with purchases on two or more days before the check date",
             fact="repeat_day_buyers_at_check", at_least=MIN_REPEAT, name="no_holdout_check",
             fallback="the model without its check on the horizon before the analysis date"),
        SPEND,
    )),
    Section(NOTEBOOK, "occasions", "Buying on fixed occasions (BG/BB)", (
        ORDERS,
        Need("purchases on fixed occasions, such as a yearly appeal or a monthly box: at least {at_least} % of "
             "purchase days on no more than " + str(MAX_OCCASIONS_PER_YEAR) + " days a year",
             fact="occasion_share", at_least=OCCASION_SHARE, unit="%"),
        Need("occasions about once a year, once a quarter or once a month, so that each calendar period is one "
             "chance to buy", fact="occasion_calendar", at_least=1),
        Need("at least {at_least} customers who bought on two or more occasions", fact="repeat_occasion_buyers",
             at_least=MIN_REPEAT),
    )),
    Section(NOTEBOOK, "at_risk", "The at-risk list", (
        ORDERS, HISTORY, *CLASSES, REPEAT,
        Need(SPEND.what, fact=SPEND.fact, at_least=SPEND.at_least, name="risk_only",
             fallback="customers ranked by their risk alone, not by value at risk"),
    )),
)
