"""The synthetic company's planted truth: every effect the analyses are expected to recover.

All numbers here are *inputs* to the generator. They are written to ``truth.json`` beside the
data (together with quantities derived from the generated rows) so tests and notebooks can
check what an analysis recovers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from crm_research.exprs import as_utc_timestamp

SEGMENTS = ("premium", "loyal", "bargain", "occasional")
SEGMENT_SHARE = (0.15, 0.25, 0.25, 0.35)

REGIONS = ("north", "south", "east", "west")
REGION_SHARE = (0.30, 0.25, 0.25, 0.20)

PLATFORMS = ("desktop", "mobile", "app")
# P(platform) of an online visit, per segment (rows follow SEGMENTS)
PLATFORM_MIX = np.array(
    [
        [0.60, 0.20, 0.20],  # premium: desktop
        [0.15, 0.25, 0.60],  # loyal: app
        [0.20, 0.65, 0.15],  # bargain: mobile
        [0.40, 0.45, 0.15],  # occasional: mixed
    ]
)
# P(purchase type) online / phone / in_person, per segment
ORDER_CHANNEL_MIX = np.array(
    [
        [0.70, 0.10, 0.20],
        [0.90, 0.05, 0.05],
        [0.95, 0.03, 0.02],
        [0.85, 0.08, 0.07],
    ]
)

# Purchase process for buyers: mean days between purchase intents, per segment
MEAN_DAYS_BETWEEN_INTENTS = (40.0, 18.0, 30.0, 110.0)
INTENT_RATE_GAMMA_SHAPE = 4.0  # heterogeneity of individual rates around the segment mean
# Non-contractual lifetime (days after first purchase) ~ Weibull(shape, scale by segment)
LIFETIME_WEIBULL_SHAPE = 0.9
LIFETIME_SCALE_DAYS = (800.0, 1100.0, 420.0, 240.0)

# Seasonality of purchase intents by calendar month (Jan..Dec)
MONTH_SEASONALITY = (0.85, 0.80, 0.95, 1.00, 1.00, 0.95, 1.00, 0.95, 1.00, 1.05, 1.35, 1.60)
# Promotions: intent rate multiplier inside a promotion window, per segment
PROMO_MULTIPLIER = (1.3, 1.4, 3.0, 1.6)
PROMO_CODE_USE = (0.30, 0.45, 0.90, 0.50)  # P(order in a window uses the code)
PROMO_DISCOUNT = 0.20  # share of list value
PROMO_WINDOWS = (  # (month, day, length in days, code prefix)
    (3, 14, 7, "SPRING"),
    (7, 7, 14, "SUMMER"),
    (11, 24, 7, "BF"),
)

# Funnel of an online purchase session: P(reach step | reached previous step)
FUNNEL_STEPS = ("site_visit", "product_view", "add_to_cart", "checkout_start", "purchase")
FUNNEL_STEP_P = (0.95, 0.80, 0.85, 0.85)
# Browsing sessions without purchase intent: P(add_to_cart | view), P(checkout_start | cart)
BROWSE_CART_P = 0.15
BROWSE_CHECKOUT_P = 0.05
BROWSE_SESSIONS_PER_YEAR = (10.0, 14.0, 12.0, 4.0)  # buyers, per segment
LEAD_BROWSE_SESSIONS = 1.5  # mean sessions of a lead in the 60 days after sign-up

ORDER_STATUS = ("completed", "cancelled", "returned")
ORDER_STATUS_P = (0.92, 0.03, 0.05)

# Marketing touchpoints of a lead in the 30 days after sign-up.
CHANNELS = ("paid_search", "social", "display", "email", "affiliate")
CHANNEL_REACH = (0.35, 0.50, 0.60, 0.55, 0.20)  # P(a lead is touched by the channel)
CHANNEL_MEAN_TOUCHES = (1.5, 2.0, 2.5, 2.0, 1.2)
# True incremental effect of being touched on the log-odds of converting (buying at all)
CHANNEL_EFFECT = (0.90, 0.45, 0.10, 0.70, 0.30)
CONVERSION_INTERCEPT = -1.7
TOUCH_WINDOW_DAYS = 30.0
CAMPAIGNS = (  # (campaign_id, channel, name)
    ("ps_brand", "paid_search", "Search - brand terms"),
    ("ps_generic", "paid_search", "Search - generic terms"),
    ("so_prospecting", "social", "Social - prospecting"),
    ("so_retargeting", "social", "Social - retargeting"),
    ("di_banners", "display", "Display - banners"),
    ("di_video", "display", "Display - video"),
    ("em_newsletter", "email", "E-mail - newsletter"),
    ("em_welcome", "email", "E-mail - welcome series"),
    ("af_partners", "affiliate", "Affiliate - partner sites"),
    ("ab_subject_control", "email", "A/B test - subject line, control"),
    ("ab_subject_variant", "email", "A/B test - subject line, variant"),
)
# event names a touch of each channel produces, with probabilities
TOUCH_EVENTS = {
    "paid_search": (("ad_click",), (1.0,)),
    "social": (("ad_impression", "ad_click"), (0.7, 0.3)),
    "display": (("ad_impression", "ad_click"), (0.85, 0.15)),
    "email": (("email_open",), (1.0,)),
    "affiliate": (("ad_click",), (1.0,)),
}
# ad delivery: observed touches are a sample of what the ad server counted
IMPRESSIONS_PER_TOUCH = 25
CLICKS_PER_CLICK_TOUCH = 4
COST_PER_CLICK = {"paid_search": 1.20, "affiliate": 0.80}
COST_PER_MILLE = {"social": 6.0, "display": 3.0, "email": 0.5}

# Marketing mix (issue 16): flighted weekly spend per channel brings extra leads (sign-ups)
# through known geometric adstock and Hill saturation; after sign-up they are leads like any
# other (same touches, same conversion model), so a share of them become new customers. Per
# channel: carry-over theta (share of a week's effect carried to the next), half-saturation K
# (weekly spend at half the maximum effect, currency per 10,000 contacts), Hill shape s, maximum
# effect beta (sign-ups per week per 10,000 contacts). Spend and effects scale with the number
# of contacts, so ROAS (sign-ups or new customers per currency unit) does not depend on it.
MMM_ADSTOCK = {"paid_search": 0.10, "social": 0.50, "display": 0.60, "email": 0.10, "affiliate": 0.30}
MMM_HALF_SATURATION = {"paid_search": 470.0, "social": 250.0, "display": 2500.0, "email": 80.0, "affiliate": 1000.0}
MMM_SHAPE = {"paid_search": 1.0, "social": 1.5, "display": 2.0, "email": 1.0, "affiliate": 1.2}
MMM_BETA = {"paid_search": 36.0, "social": 46.5, "display": 43.5, "email": 50.0, "affiliate": 35.0}
# Flighting: weeks alternate between bursts and pauses of 2-8 weeks; a burst spends K x U(lo, hi),
# a pause K x U(lo, hi) of the "off" range (0 = dark). Channels flight independently.
MMM_ON = {"paid_search": (0.6, 2.0), "social": (0.5, 2.0), "display": (0.5, 2.0), "email": (0.5, 1.5),
          "affiliate": (0.5, 2.0)}
MMM_OFF = {"paid_search": (0.1, 0.3), "social": (0.0, 0.0), "display": (0.0, 0.0), "email": (0.0, 0.05),
           "affiliate": (0.0, 0.05)}
MMM_RUN_WEEKS = (2, 8)
# Media buying starts five weeks into the history: the first weeks, when the company has no
# leads yet and first orders ramp up from zero, carry no spend (and are left out of the MMM).
MMM_FIRST_SPEND_WEEK = 5
MMM_MAX_LAG = 8  # weeks of carry-over
MMM_SCALE_CONTACTS = 10_000

# Products: 8 categories x 3 price tiers x 4 products
CATEGORIES = ("electronics", "accessories", "books", "home", "kitchen", "garden", "fashion", "beauty")
CATEGORY_BASE_PRICE = (120.0, 20.0, 15.0, 40.0, 35.0, 30.0, 45.0, 25.0)
TIER_MULTIPLIER = (1.0, 1.8, 3.2)
PRODUCTS_PER_TIER = 4
CATEGORY_PREFERENCE = np.array(
    [  # electronics accessories books home kitchen garden fashion beauty
        [0.35, 0.05, 0.05, 0.15, 0.10, 0.05, 0.20, 0.05],  # premium
        [0.05, 0.05, 0.30, 0.20, 0.20, 0.10, 0.05, 0.05],  # loyal
        [0.05, 0.20, 0.05, 0.05, 0.05, 0.05, 0.30, 0.25],  # bargain
        # occasional: books; the cumulative bounds of electronics, kitchen and fashion (the
        # affinity antecedents) are those of a uniform row, so the random stream is unchanged
        [0.125, 0.0, 0.375, 0.0, 0.125, 0.125, 0.125, 0.125],
    ]
)
TIER_PREFERENCE = np.array([[0.10, 0.30, 0.60], [0.30, 0.50, 0.20], [0.70, 0.25, 0.05], [0.50, 0.35, 0.15]])
EXTRA_ITEMS_MEAN = (1.0, 0.8, 0.5, 0.4)  # extra random lines per order, per segment
# Planted co-purchase affinities: P(the partner category joins an order whose first line is X)
AFFINITIES = (("electronics", "accessories", 0.55), ("kitchen", "home", 0.45), ("fashion", "beauty", 0.40))

# Post-purchase behaviour
REVIEW_P = 0.12  # P(review | online order)
ADVOCATE_P = (0.15, 0.25, 0.03, 0.03)  # P(a buyer refers others), per segment
NPS_RESPONSE_P = 0.35
NPS_MEAN = (8.3, 9.0, 6.5, 6.2)
NPS_SD = 1.6

# Support
TICKET_P = 0.08  # P(ticket | completed order)
TICKET_P_RETURNED = 0.60
FCR_P = 0.72  # P(resolved at the first contact)
FIRST_RESPONSE_MEDIAN_HOURS = 4.0
FIRST_RESPONSE_SIGMA = 0.8  # lognormal sigma
HANDLING_MEDIAN_HOURS = 30.0
HANDLING_SIGMA = 0.9
CSAT_P_FCR = (0.02, 0.03, 0.10, 0.35, 0.50)  # P(csat = 1..5) when resolved at first contact
CSAT_P_NOT_FCR = (0.10, 0.20, 0.35, 0.25, 0.10)

# Subscriptions (contractual churn): Weibull proportional hazards
SUBSCRIBE_P = (0.45, 0.35, 0.15, 0.15)
PLANS = ("basic", "plus", "premium")
PLAN_MRR = (9.99, 19.99, 39.99)
PLAN_MIX = np.array([[0.2, 0.3, 0.5], [0.4, 0.4, 0.2], [0.8, 0.15, 0.05], [0.6, 0.3, 0.1]])
SUBSCRIPTION_WEIBULL_SHAPE = 1.3
SUBSCRIPTION_SCALE_DAYS = 330.0  # baseline: basic plan, age 40, first order without promotion
HAZARD_RATIOS = {  # planted, recovered by Cox on subscriptions
    "plan_plus": 0.75,  # vs basic
    "plan_premium": 0.55,  # vs basic
    "age_per_10_years": 0.85,
    "first_order_promo": 1.50,
}

# Planted friction: checkout_start -> purchase collapses on mobile for six weeks
FRICTION = {
    "from_step": "checkout_start",
    "to_step": "purchase",
    "segment": {"platform": "mobile"},
    "start": "2025-05-01",
    "end": "2025-06-15",  # exclusive
    "p_before": FUNNEL_STEP_P[3],
    "p_during": 0.45,
}

# Planted A/B test: a promotional e-mail with two subject lines
AB_TEST = {
    "sent_at": "2025-09-01",
    "control_campaign": "ab_subject_control",
    "variant_campaign": "ab_subject_variant",
    "share_of_eligible": 0.5,
    "rate_control": 0.08,
    "rate_variant": 0.10,
    "window_days": 14,
    "promo_code": "AB-SEPT",
}

# Lifecycle stages of the event names (the default stage map)
STAGE_MAP = {
    "discovery": ["ad_impression", "ad_click", "email_open", "site_visit"],
    "consideration": ["signup", "product_view", "add_to_cart"],
    "purchase": ["checkout_start", "purchase"],
    "post_purchase": ["review", "support_contact", "email_sent"],
    "advocacy": ["referral"],
}


@dataclass(frozen=True)
class CompanyConfig:
    """Run-level settings of the synthetic company.

    Parameters
    ----------
    start, end : str
        First day and the exclusive end of the simulated history (UTC). ``end`` is the natural
        ``as_of`` of an analysis.
    chunk_size : int
        Contacts generated per chunk (bounds memory; part of the seed's meaning).
    extra : dict
        Free-form notes, recorded in ``truth.json`` (``generator``); the generator reads none.

    Examples
    --------
    >>> cfg = CompanyConfig(start="2025-01-01")
    >>> cfg
    CompanyConfig(start='2025-01-01', end='2026-01-01', chunk_size=50000, extra={})
    >>> cfg.start_ts, [code for _, _, code in cfg.promo_windows()]
    (Timestamp('2025-01-01 00:00:00+0000', tz='UTC'), ['SPRING25', 'SUMMER25', 'BF25'])
    """

    start: str = "2024-01-01"
    end: str = "2026-01-01"
    chunk_size: int = 50_000
    extra: dict = field(default_factory=dict)

    @property
    def start_ts(self) -> pd.Timestamp:
        return as_utc_timestamp(self.start)

    @property
    def end_ts(self) -> pd.Timestamp:
        return as_utc_timestamp(self.end)

    def promo_windows(self) -> list[tuple[pd.Timestamp, pd.Timestamp, str]]:
        """Promotion windows inside the history: (start, exclusive end, code)."""
        out = []
        for year in range(self.start_ts.year, self.end_ts.year + 1):
            for month, day, length, prefix in PROMO_WINDOWS:
                s = pd.Timestamp(year=year, month=month, day=day, tz="UTC")
                e = s + pd.Timedelta(days=length)
                if s >= self.start_ts and e <= self.end_ts:
                    out.append((s, e, f"{prefix}{year % 100:02d}"))
        return out

    def as_dict(self) -> dict:
        return asdict(self)


def planted_truth() -> dict:
    """The planted parameters as a JSON-ready dict (the static half of ``truth.json``)."""
    return {
        "segments": {
            s: {
                "share": SEGMENT_SHARE[i],
                "mean_days_between_intents": MEAN_DAYS_BETWEEN_INTENTS[i],
                "lifetime_scale_days": LIFETIME_SCALE_DAYS[i],
                "platform_mix": dict(zip(PLATFORMS, PLATFORM_MIX[i].tolist(), strict=True)),
                "category_preference": dict(zip(CATEGORIES, CATEGORY_PREFERENCE[i].tolist(), strict=True)),
                "promo_code_use": PROMO_CODE_USE[i],
                "advocate_p": ADVOCATE_P[i],
                "nps_mean": NPS_MEAN[i],
            }
            for i, s in enumerate(SEGMENTS)
        },
        "channels": {
            c: {"reach": CHANNEL_REACH[i], "effect_logit": CHANNEL_EFFECT[i]}
            for i, c in enumerate(CHANNELS)
        },
        "conversion_intercept": CONVERSION_INTERCEPT,
        "affinities": [{"antecedent": a, "consequent": b, "p": p} for a, b, p in AFFINITIES],
        "friction": FRICTION,
        "ab_test": {**AB_TEST, "lift_abs": AB_TEST["rate_variant"] - AB_TEST["rate_control"],
                    "lift_rel": AB_TEST["rate_variant"] / AB_TEST["rate_control"] - 1},
        "hazard_ratios": HAZARD_RATIOS,
        "subscription_weibull": {"shape": SUBSCRIPTION_WEIBULL_SHAPE, "scale_days": SUBSCRIPTION_SCALE_DAYS},
        "support": {
            "fcr_p": FCR_P,
            "first_response_median_hours": FIRST_RESPONSE_MEDIAN_HOURS,
            "handling_median_hours": HANDLING_MEDIAN_HOURS,
            "csat_p_fcr": CSAT_P_FCR,
            "csat_p_not_fcr": CSAT_P_NOT_FCR,
        },
        "funnel": dict(zip([f"{a}->{b}" for a, b in zip(FUNNEL_STEPS, FUNNEL_STEPS[1:], strict=False)],
                           FUNNEL_STEP_P, strict=True)),
        "order_status_p": dict(zip(ORDER_STATUS, ORDER_STATUS_P, strict=True)),
        "stage_map": STAGE_MAP,
    }
