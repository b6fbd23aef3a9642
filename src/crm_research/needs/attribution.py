"""The sections of the attribution notebook and what each needs (see :mod:`crm_research.needs.core`).

The path-based analyses (journeys, the models side by side, Markov, Shapley) read either the
event log (touches with a ``channel``) and the orders, or a client's aggregated **path table**
(``paths.csv`` in the data folder or the ``paths_file`` parameter, read by
:func:`crm_research.attribution.read_path_table`). Each source has its own sections, declared
below with exactly the columns it reads: ``journeys`` … ``shapley`` from events, ``path_journeys``
… ``path_shapley`` from a table named ``paths`` (the notebook hands the path table to the
verdicts as an extra table). The notebook asks for one family only, so only that one is shown.

The synthetic company's planted truth (``truth.json`` beside the data) reaches the verdicts the
same way, as an extra table ``truth`` (one row per channel).
"""

from __future__ import annotations

import ibis

from crm_research.exprs import DAY_SECONDS
from crm_research.needs import facts  # noqa: F401 - registers the shared facts
from crm_research.needs.core import DEFAULTS, NOT_SYNTHETIC, Need, Section, fact
from crm_research.needs.facts import before, completed_orders, scalar

NOTEBOOK = "04_attribution"

PARAMS = {"lookback_days": 30, "ab_control": "ab_subject_control", "ab_variant": "ab_subject_variant",
          "ab_promo_code": "AB-SEPT", "mmm_outcome": "signups"}
"""Defaults of the notebook parameters the facts below use (equal to the notebook's parameters cell)."""
DEFAULTS.update(PARAMS)

TOUCH_COLUMNS = ("events", "events.customer_id", "events.occurred_at", "events.channel")
ORDER_COLUMNS = ("orders.customer_id", "orders.ordered_at", "orders.amount")


# ---------------------------------------------------------------------------------------
# facts
# ---------------------------------------------------------------------------------------


def _touches(t, as_of):
    ev = t["events"]
    return before(ev.filter(ev.channel.notnull()), "occurred_at", as_of)


@fact("touched_conversions", *TOUCH_COLUMNS, "orders.customer_id", "orders.ordered_at")
def _touched_conversions(t, as_of, p):
    """First completed orders before ``as_of`` with a touch (event with a channel) in the look-back."""
    orders = completed_orders(t, as_of)
    first = orders.group_by(cid=orders.customer_id.cast("string")).aggregate(first_at=orders.ordered_at.min())
    ev = _touches(t, as_of)
    ev = ev.select(cid=ev.customer_id.cast("string"), at=ev.occurred_at)
    window = ibis.interval(seconds=int(round(float(p["lookback_days"]) * DAY_SECONDS)))
    j = ev.inner_join(first, "cid")
    j = j.filter((j.at < j.first_at) & (j.at >= j.first_at - window))
    return scalar(j.cid.nunique())


PATH_SEPARATOR = " > "
"""How the channels of a path are joined (``crm_research.attribution.pathdata.SEP``)."""


@fact("separator_free", *TOUCH_COLUMNS)
def _separator_free(t, as_of, p):
    """1 when no touch's channel name holds the path separator, else 0 (a channel 'e > mail' would
    read as two channels in every path)."""
    ev = _touches(t, as_of)
    return 1.0 - min(1.0, scalar(ev.filter(ev.channel.contains(PATH_SEPARATOR)).count()))


@fact("path_conversions", "paths.path", "paths.total_conversions")
def _path_conversions(t, as_of, p):
    paths = t["paths"]
    return scalar(paths.filter(paths.path.cast("string").length() > 0).total_conversions.sum())


@fact("path_whole_counts", "paths.total_conversions")
def _path_whole_counts(t, as_of, p):
    """Percentage of the path table's rows whose counts are whole numbers (the bootstrap resamples journeys)."""
    paths = t["paths"]
    cols = ["total_conversions"] + (["total_null"] if t.has("paths", "total_null") else [])
    off = sum(((paths[c].cast("float64") - paths[c].cast("float64").round()).abs()) for c in cols)
    # rows with a missing count are left out, as a cast boolean's NULL would be (no boolean cast:
    # PostgreSQL refuses it)
    whole = ibis.cases((off < 1e-9, 1.0), (off >= 1e-9, 0.0)).cast("float64")
    return 100.0 * scalar(whole.mean())


@fact("path_touch_times", "paths.path")
def _path_touch_times(t, as_of, p):
    """Paths that carry the time of each touch (``touch_days``): none in an aggregated path table."""
    return scalar(t["paths"].count()) if t.has("paths", "touch_days") else 0.0


@fact("path_non_conversions", "paths.path")
def _path_non_conversions(t, as_of, p):
    """Journeys of the path table that ended without a conversion (0 without ``total_null``)."""
    if not t.has("paths", "total_null"):
        return 0.0
    return scalar(t["paths"].total_null.sum())


@fact("spend_days", "ad_spend.campaign_id", "ad_spend.date", "ad_spend.cost")
def _spend_days(t, as_of, p):
    return scalar(before(t["ad_spend"], "date", as_of).count())


def _ad_total(t, as_of, column: str) -> float:
    if not t.has("ad_spend", column):
        return 0.0
    return scalar(before(t["ad_spend"], "date", as_of)[column].sum())


@fact("ad_clicks", "ad_spend.date")
def _ad_clicks(t, as_of, p):
    """Ad clicks before ``as_of`` (0 when ``ad_spend`` has no ``clicks`` column)."""
    return _ad_total(t, as_of, "clicks")


@fact("ad_impressions", "ad_spend.date")
def _ad_impressions(t, as_of, p):
    """Ad impressions before ``as_of`` (0 when ``ad_spend`` has no ``impressions`` column)."""
    return _ad_total(t, as_of, "impressions")


@fact("campaign_touches")
def _campaign_touches(t, as_of, p):
    """Touches with a campaign and a channel before ``as_of`` (0 when the events lack either column)."""
    if not all(t.has("events", c) for c in ("customer_id", "occurred_at", "channel", "campaign_id")):
        return 0.0
    ev = _touches(t, as_of)
    return scalar(ev.filter(ev.campaign_id.notnull()).count())


@fact("ab_arms", "events.customer_id", "events.occurred_at", "events.event", "events.campaign_id")
def _ab_arms(t, as_of, p):
    """How many of the two test campaigns (``ab_control``, ``ab_variant``) have e-mails sent before ``as_of``."""
    ev = before(t["events"], "occurred_at", as_of)
    ev = ev.filter((ev.event == "email_sent") & ev.campaign_id.isin([p["ab_control"], p["ab_variant"]]))
    return scalar(ev.campaign_id.nunique())


@fact("ab_promo_orders", "orders.customer_id", "orders.ordered_at")
def _ab_promo_orders(t, as_of, p):
    """Orders that can count as test conversions: with ``ab_promo_code`` (every order when it is empty)."""
    orders = before(t["orders"], "ordered_at", as_of)
    if not p["ab_promo_code"]:
        return scalar(orders.count())
    if not t.has("orders", "promo_code"):
        return 0.0
    return scalar(orders.filter(orders.promo_code == p["ab_promo_code"]).count())


@fact("spend_weeks", "ad_spend.campaign_id", "ad_spend.date", "ad_spend.cost")
def _spend_weeks(t, as_of, p):
    """Calendar weeks (Monday to Sunday) before ``as_of`` with at least one day of ad spend."""
    spend = before(t["ad_spend"], "date", as_of)
    return scalar(spend.select(week=spend.date.cast("date").truncate("W")).week.nunique())


@fact("signup_weeks")
def _signup_weeks(t, as_of, p):
    """Calendar weeks before ``as_of`` with a sign-up (``customers.signup_at``), when the mix model
    explains sign-ups (``mmm_outcome``); any other outcome does not need them (counted as 1)."""
    if p["mmm_outcome"] != "signups":
        return 1.0
    if not t.has("customers", "signup_at"):
        return 0.0
    c = before(t["customers"], "signup_at", as_of)
    return scalar(c.filter(c.signup_at.notnull()).select(week=c.signup_at.truncate("W")).week.nunique())


@fact("planted_channels", "truth")
def _planted_channels(t, as_of, p):
    return scalar(t["truth"].count())


# ---------------------------------------------------------------------------------------
# needs and sections
# ---------------------------------------------------------------------------------------

JOURNEYS = Need("at least {at_least} first order after a marketing touch with its channel (`events.channel`) in "
                "the {lookback_days} days before it",
                TOUCH_COLUMNS + ORDER_COLUMNS, fact="touched_conversions", at_least=1)
SEPARATOR = Need("channel names without the path separator ' > ' (`events.channel`; recode them with `values:` "
                 "in the mapping)", fact="separator_free", at_least=1)
PATHS = Need("a path table (`paths.csv`: path, total_conversions) with at least {at_least} conversion on a path "
             "with a touch", ("paths", "paths.path", "paths.total_conversions"), fact="path_conversions", at_least=1)
WHOLE_COUNTS = Need("whole-number journey counts on {at_least}% of the paths, to resample journeys",
                    fact="path_whole_counts", at_least=100, fallback="credits without 95% ranges",
                    name="no_ranges")
TOUCH_TIMES = Need("touch times on at least {at_least} path, which an aggregated path table does not hold",
                   fact="path_touch_times", at_least=1, fallback="eight models: time decay is left out",
                   name="no_time_decay")
NON_CONVERSIONS = Need("journeys that ended without a conversion (`paths.total_null`)",
                       fact="path_non_conversions", at_least=1,
                       fallback="the conversions game only (each conversion split equally between the "
                                "channels of its path)", name="conversions_only")
SPEND = Need("daily ad spend per campaign (`ad_spend`: campaign_id, date, cost)",
             ("ad_spend", "ad_spend.campaign_id", "ad_spend.date", "ad_spend.cost"), fact="spend_days", at_least=1)
CLICKS = Need("ad clicks (`ad_spend.clicks`)", fact="ad_clicks", at_least=1,
              fallback="without click-through and conversion rates", name="no_clicks")
IMPRESSIONS = Need("ad impressions (`ad_spend.impressions`)", fact="ad_impressions", at_least=1,
                   fallback="without click-through rates", name="no_impressions")
CREDITED = Need("marketing touches with their campaign and channel (`events.campaign_id`, `events.channel`)",
                fact="campaign_touches", at_least=1,
                fallback="spend and delivery only, without credited conversions and revenue",
                name="no_conversions")

MMM_WEEKS = Need("at least {at_least} weeks of ad spend (`ad_spend`: campaign_id, date, cost) and the orders of "
                 "the same weeks; the model separates each channel's effect from the season and the trend",
                 ("ad_spend", "ad_spend.campaign_id", "ad_spend.date", "ad_spend.cost") + ORDER_COLUMNS,
                 fact="spend_weeks", at_least=40)
"""The marketing mix model's shortest history (:class:`crm_research.mmm.MarketingMixModel`: 26
weeks to fit plus the 8 held out for the out-of-time check, and at least 40)."""
MMM_SIGNUPS = Need("sign-up dates (`customers.signup_at`) in at least {at_least} weeks, for the model to explain "
                   "sign-ups", fact="signup_weeks", at_least=40,
                   fallback="new customers (first orders) instead of sign-ups", name="new_customers")
"""The mix model's default outcome, sign-ups; without them it explains first orders instead."""

SECTIONS: tuple[Section, ...] = (
    Section(NOTEBOOK, "journeys", "Customer journeys", (JOURNEYS, SEPARATOR)),
    Section(NOTEBOOK, "path_journeys", "Customer journeys from the client's path table", (PATHS,),
            instead_of="journeys"),
    Section(NOTEBOOK, "models", "Attribution models side by side", (JOURNEYS, SEPARATOR)),
    Section(NOTEBOOK, "path_models", "Attribution models side by side (path table)",
            (PATHS, WHOLE_COUNTS, TOUCH_TIMES), instead_of="models"),
    Section(NOTEBOOK, "markov", "Markov chain removal effects", (JOURNEYS, SEPARATOR)),
    Section(NOTEBOOK, "path_markov", "Markov chain removal effects (path table)", (PATHS,), instead_of="markov"),
    Section(NOTEBOOK, "shapley", "Shapley value: what each channel adds", (JOURNEYS, SEPARATOR)),
    Section(NOTEBOOK, "path_shapley", "Shapley value: what each channel adds (path table)",
            (PATHS, NON_CONVERSIONS), instead_of="shapley"),
    Section(NOTEBOOK, "ad_performance", "Ad and campaign performance", (SPEND, IMPRESSIONS, CLICKS, CREDITED)),
    Section(NOTEBOOK, "ad_by_channel", "Ad performance by channel over time",
            (SPEND, Need("each campaign's channel (`campaigns`)", ("campaigns", "campaigns.campaign_id", "campaigns.channel")),
             IMPRESSIONS, CLICKS, CREDITED)),
    Section(NOTEBOOK, "mmm", "What each channel's spend brought (marketing mix model)", (MMM_WEEKS, MMM_SIGNUPS)),
    Section(NOTEBOOK, "ab_test", "A/B test",
            (Need("e-mails sent (`events.event` 'email_sent') of both test campaigns `{ab_control}` and "
                  "`{ab_variant}`", ("events",), fact="ab_arms", at_least=2),
             Need("orders with the test's promotion code `{ab_promo_code}` (`orders.promo_code`; set "
                  "ab_promo_code to \"\" to count every order)", fact="ab_promo_orders", at_least=1))),
    Section(NOTEBOOK, "truth_check", "Check against the planted truth",
            (Need("the planted truth of a synthetic company (`truth.json` beside the data)",
                  fact="planted_channels", at_least=1, absent=NOT_SYNTHETIC), JOURNEYS, SEPARATOR)),
)
"""In report order; a path-table section follows its event-log twin (the notebook shows one of them)."""
