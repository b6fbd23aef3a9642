"""Generate one chunk of the synthetic company: every table for a block of contacts.

Times are handled as float days since ``config.start`` until the frames are built, then
floored to whole seconds and stored as UTC timestamps. Each chunk draws from its own random
stream (``SeedSequence([seed, chunk])``) so that chunks can be written one by one with memory
bounded by the chunk size, and the same seed gives the same rows.

The consent columns of ``customers`` (``marketing_consent``, ``do_not_contact``) come from a
stream of their own (``SeedSequence([seed, chunk, CONSENT_STREAM])``): adding them changed no
other value of any table, and no planted effect depends on them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from crm_research.exprs import DAY_SECONDS, as_utc_timestamp
from crm_research.synthetic import config as K

DAY = DAY_SECONDS  # seconds per day
MIN = 1.0 / 1440.0

_CAMPAIGN_IDS = np.array([c[0] for c in K.CAMPAIGNS], dtype=object)
_CAMPAIGN_INDEX = {c[0]: i for i, c in enumerate(K.CAMPAIGNS)}
_CHANNEL_CAMPAIGNS = {
    ch: [i for i, c in enumerate(K.CAMPAIGNS) if c[1] == ch and not c[0].startswith("ab_")]
    for ch in K.CHANNELS
}
_EVENT_NAMES = np.array(
    [
        "ad_impression", "ad_click", "email_open", "signup",  # 0-3
        "site_visit", "product_view", "add_to_cart", "checkout_start", "purchase",  # 4-8
        "review", "support_contact", "referral", "email_sent",  # 9-12
    ],
    dtype=object,
)
_EV = {name: i for i, name in enumerate(_EVENT_NAMES)}
_PLATFORMS = np.array(K.PLATFORMS, dtype=object)
_ORDER_CHANNELS = np.array(["online", "phone", "in_person"], dtype=object)
_SEGMENTS = np.array(K.SEGMENTS, dtype=object)
_CHANNELS = np.array(K.CHANNELS, dtype=object)

CONSENT_STREAM = 0xC0
"""Third word of the consent columns' seed sequence: a stream apart from the chunk's own."""
CONSENT_P = {"yes": 0.70, "no": 0.25}
"""Shares of ``marketing_consent``; the rest (5 %) is missing: not known, counted as no consent."""
DO_NOT_CONTACT_P = 0.03
"""Share of contacts who asked not to be contacted (``do_not_contact = "yes"``)."""


def _consent_columns(seed: int, chunk: int, n: int) -> dict[str, np.ndarray]:
    """``marketing_consent`` and ``do_not_contact`` of ``n`` contacts, from their own random stream."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, chunk, CONSENT_STREAM]))
    u = rng.random(n)
    consent = np.where(u < CONSENT_P["yes"], "yes", np.where(u < CONSENT_P["yes"] + CONSENT_P["no"], "no", None))
    dnc = np.where(rng.random(n) < DO_NOT_CONTACT_P, "yes", "no")
    return {"marketing_consent": consent.astype(object), "do_not_contact": dnc.astype(object)}


def _products() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Product ids, categories and unit prices, indexed category*12 + tier*4 + k."""
    ids, cats, prices = [], [], []
    for c, cat in enumerate(K.CATEGORIES):
        for t, mult in enumerate(K.TIER_MULTIPLIER):
            for k in range(K.PRODUCTS_PER_TIER):
                ids.append(f"{cat[:3].upper()}-{t + 1}{k + 1}")
                cats.append(cat)
                prices.append(round(K.CATEGORY_BASE_PRICE[c] * mult * (0.9 + 0.05 * k), 2))
    return np.array(ids, dtype=object), np.array(cats, dtype=object), np.array(prices)


PRODUCT_IDS, PRODUCT_CATEGORIES, PRODUCT_PRICES = _products()


@dataclass
class Counters:
    """Running id counters shared by the chunks of one company (ids stay unique)."""

    order: int = 0
    session: int = 0
    ticket: int = 0


@dataclass
class ChunkResult:
    """One chunk's output: its tables (customer ids, UTC timestamps), per-contact truth and counts."""

    tables: dict[str, pd.DataFrame]
    truth: pd.DataFrame
    incremental: np.ndarray  # expected incremental conversions per channel
    touch_counts: np.ndarray  # [campaign, day, kind] kind 0 = impression, 1 = click/open


class _Events:
    """Accumulates event columns as arrays; builds one frame at the end."""

    def __init__(self):
        self.parts: list[dict[str, np.ndarray]] = []

    def add(self, cust, t, event, *, session=None, channel=None, campaign=None, platform=None,
            order=None):
        n = len(cust)
        if n == 0:
            return
        none = np.full(n, None, dtype=object)
        self.parts.append(
            {
                "cust": np.asarray(cust, dtype=np.int64),
                "t": np.asarray(t, dtype=float),
                "event": np.broadcast_to(np.asarray(event), (n,)).astype(np.int64),
                "session": none if session is None else session,
                "channel": none if channel is None else channel,
                "campaign": none if campaign is None else campaign,
                "platform": none if platform is None else platform,
                "order": none if order is None else order,
            }
        )

    def concat(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}


def _choice_rows(rng, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Draw one index per element from the probability row ``probs[rows[i]]``."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(len(rows))
    return np.minimum((u[:, None] > cum[rows]).sum(axis=1), probs.shape[1] - 1)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _origin(start: pd.Timestamp) -> np.datetime64:
    """``start`` (UTC) as a naive datetime64 in seconds: day 0 of the float-day clock."""
    return np.datetime64(start.tz_convert(None).to_datetime64(), "s")


def _month_of(days: np.ndarray, start: pd.Timestamp) -> np.ndarray:
    """Calendar month (0 = January) of float days since ``start``."""
    t = _origin(start) + (days * DAY).astype("timedelta64[s]")
    return t.astype("datetime64[M]").astype(np.int64) % 12


def _ids(prefix: str, first: int, n: int, width: int) -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(np.arange(first, first + n).astype(str), width)).astype(object)


def _sessions(rng, ev: _Events, counters: Counters, cust, t0, platform, depth, n_views):
    """Emit web sessions: visit, views, cart, checkout, purchase up to ``depth`` steps (1..5).

    Returns the session ids and the time of each session's last step (its purchase, if any).
    """
    m = len(cust)
    if m == 0:
        return np.array([], dtype=object), np.array([], dtype=float)
    views = np.where(depth >= 2, 1 + n_views, 0)
    n_ev = 1 + views + (depth >= 3) + (depth >= 4) + (depth >= 5)
    total = int(n_ev.sum())
    grp = np.repeat(np.arange(m), n_ev)
    starts = np.cumsum(n_ev) - n_ev
    pos = np.arange(total) - starts[grp]
    v = views[grp]
    step = np.where(pos == 0, 0, np.where(pos <= v, 1, pos - v + 1))  # 0 visit .. 4 purchase
    gaps = rng.exponential(1.5 * MIN, total)
    gaps[pos == 0] = 0.0
    cs = np.cumsum(gaps)
    t = t0[grp] + cs - cs[starts][grp]
    sid = _ids("S", counters.session, m, 10)
    counters.session += m
    ev.add(cust[grp], t, step + _EV["site_visit"], session=sid[grp], platform=platform[grp])
    last = t[starts + n_ev - 1]
    return sid, last


@dataclass
class _Chunk:
    """What every step of one chunk shares: its random stream, id counters, event log and calendar.

    Every step draws from ``rng`` in turn, so the steps must run in the order of
    :func:`generate_chunk` for the same seed to give the same rows.
    """

    rng: np.random.Generator
    cfg: K.CompanyConfig
    counters: Counters
    ev: _Events
    horizon: float  # days from cfg.start to the exclusive cfg.end
    n_days: int
    windows: list  # promotion windows as (first day, exclusive end day, code), days since cfg.start

    @classmethod
    def start(cls, seed: int, chunk: int, cfg: K.CompanyConfig, counters: Counters) -> _Chunk:
        horizon = (cfg.end_ts - cfg.start_ts).total_seconds() / DAY
        windows = [(_day(s, cfg), _day(e, cfg), code) for s, e, code in cfg.promo_windows()]
        return cls(np.random.default_rng(np.random.SeedSequence([seed, chunk])), cfg, counters, _Events(),
                   horizon, int(round(horizon)), windows)


def _day(value, cfg: K.CompanyConfig) -> float:
    """A date (naive = UTC) as float days since ``cfg.start``."""
    return (as_utc_timestamp(value) - cfg.start_ts).total_seconds() / DAY


@dataclass
class _Leads:
    """The contacts of a chunk (chunk-local index 0..n-1) and what their touches made of them."""

    seg: np.ndarray
    region: np.ndarray
    age: np.ndarray
    signup: np.ndarray  # days
    touched: np.ndarray  # (n, channel) bool
    touch_counts: np.ndarray  # [campaign, day, kind] kind 0 = impression, 1 = click/open
    p_convert: np.ndarray
    incremental: np.ndarray  # expected incremental conversions per channel
    first_purchase: np.ndarray  # days; planned for every contact, realised for the converted
    converted: np.ndarray
    acquisition: np.ndarray


@dataclass
class _Buyers:
    """The converted contacts (``idx`` into the leads) and their planted purchase process."""

    idx: np.ndarray
    seg: np.ndarray
    first_purchase: np.ndarray  # days
    death: np.ndarray  # days (may lie after the horizon)
    active_end: np.ndarray  # min(death, horizon)
    rate: np.ndarray  # purchase intents per day
    dur: np.ndarray  # days active inside the history


@dataclass
class _Intents:
    """Purchase intents (one per potential order) in the order they were drawn: first purchases,
    A/B conversions, natural intents; with their order channel, platform and checkout session."""

    buyer: np.ndarray  # index into the buyers
    t: np.ndarray  # days
    kind: np.ndarray  # 0 first purchase, 1 A/B conversion, 2 natural
    ochan: np.ndarray  # index into _ORDER_CHANNELS
    plat: np.ndarray  # platform of online intents, None offline
    online: np.ndarray
    completed: np.ndarray  # offline, or the online session reached the purchase
    sid: np.ndarray  # checkout session id (online), None offline
    order_t: np.ndarray  # days; time of the order: the checkout session's last step online
    purchase_part: int  # index of the checkout sessions' part in the event log


@dataclass
class _Orders:
    """The chunk's orders (sorted by buyer, time) and their lines."""

    frame: pd.DataFrame
    items: pd.DataFrame
    buyer: np.ndarray  # index into the buyers, per order
    t: np.ndarray  # days, per order
    platform: np.ndarray  # per order (None offline)


def _contacts(ch: _Chunk, n: int, signup_days: np.ndarray | None):
    """Draw segment, region and age, then the sign-up time, and log the sign-up events.

    Draws, in order: segment, region, age (normal, clipped 18..85); unless ``signup_days`` is
    given, the sign-up day (planted upward trend times monthly season, up to 30 days before the
    end) and its time of day; the sign-up event's platform (by segment).
    """
    rng = ch.rng
    seg = rng.choice(len(K.SEGMENTS), n, p=K.SEGMENT_SHARE)
    region = rng.choice(len(K.REGIONS), n, p=K.REGION_SHARE)
    age = np.clip(np.round(rng.normal(40, 12, n)), 18, 85).astype(np.int64)
    if signup_days is not None:
        signup = np.asarray(signup_days, dtype=float)
    else:
        sign_days = np.arange(ch.n_days - 30)
        season = np.asarray(K.MONTH_SEASONALITY)[_month_of(sign_days.astype(float), ch.cfg.start_ts)]
        w = (1.0 + 0.5 * sign_days / len(sign_days)) * season
        signup = rng.choice(sign_days, n, p=w / w.sum()) + rng.random(n)
    ch.ev.add(np.arange(n), signup, _EV["signup"], platform=_PLATFORMS[_choice_rows(rng, K.PLATFORM_MIX, seg)])
    return seg, region, age, signup


def _touches(ch: _Chunk, seg: np.ndarray, signup: np.ndarray):
    """Draw and log every lead's marketing touches, channel by channel (``K.CHANNELS`` order).

    Per channel, in order: reached or not, the number of touches (1 + Poisson), their times in the
    touch window after sign-up (those past the end dropped), their event kind, campaign and
    platform. Returns the touched matrix, the campaigns' daily touch counts, each lead's last
    touch time and first-touch channel (-1: none).
    """
    rng, n = ch.rng, len(seg)
    touched = np.zeros((n, len(K.CHANNELS)), dtype=bool)
    last_touch = np.full(n, -np.inf)
    first_touch_t = np.full(n, np.inf)
    first_touch_ch = np.full(n, -1)
    touch_counts = np.zeros((len(K.CAMPAIGNS), ch.n_days, 2), dtype=np.int64)
    for c, channel in enumerate(K.CHANNELS):
        hit = rng.random(n) < K.CHANNEL_REACH[c]
        k = np.where(hit, 1 + rng.poisson(K.CHANNEL_MEAN_TOUCHES[c] - 1, n), 0)
        touched[:, c] = hit
        idx = np.repeat(np.arange(n), k)
        t = signup[idx] + rng.random(len(idx)) * K.TOUCH_WINDOW_DAYS
        keep = t < ch.horizon
        idx, t = idx[keep], t[keep]
        names, probs = K.TOUCH_EVENTS[channel]
        kind = rng.choice(len(names), len(idx), p=probs)
        ev_code = np.array([_EV[x] for x in names])[kind]
        camps = np.asarray(_CHANNEL_CAMPAIGNS[channel])[rng.integers(0, len(_CHANNEL_CAMPAIGNS[channel]), len(idx))]
        plat = _PLATFORMS[_choice_rows(rng, K.PLATFORM_MIX, seg[idx])]
        ch.ev.add(idx, t, ev_code, channel=np.full(len(idx), channel, dtype=object),
                  campaign=_CAMPAIGN_IDS[camps], platform=plat)
        np.add.at(touch_counts, (camps, t.astype(np.int64), (ev_code != _EV["ad_impression"]).astype(int)), 1)
        np.maximum.at(last_touch, idx, t)
        earlier = np.full(n, np.inf)
        np.minimum.at(earlier, idx, t)
        better = earlier < first_touch_t
        first_touch_t[better] = earlier[better]
        first_touch_ch[better] = c
    return touched, touch_counts, last_touch, first_touch_ch


def _leads(ch: _Chunk, n: int, signup_days: np.ndarray | None) -> _Leads:
    """Contacts, their touches, and who converts when (the planted logit of the touched channels).

    Draws, in order: :func:`_contacts`, :func:`_touches`, the delay from the last touch (or
    sign-up) to the first purchase (exponential, mean 2 days touched, 5 untouched), conversion
    (Bernoulli ``p_convert``, only if the first purchase falls before the end), and the
    acquisition channel of the untouched (80 % organic, 20 % referral).
    """
    rng = ch.rng
    seg, region, age, signup = _contacts(ch, n, signup_days)
    touched, touch_counts, last_touch, first_touch_ch = _touches(ch, seg, signup)
    effect = np.asarray(K.CHANNEL_EFFECT)
    logit = K.CONVERSION_INTERCEPT + touched @ effect
    p_convert = _sigmoid(logit)
    incremental = ((p_convert[:, None] - _sigmoid(logit[:, None] - effect[None, :])) * touched).sum(axis=0)
    any_touch = touched.any(axis=1)
    first_purchase = np.where(any_touch, np.maximum(last_touch, signup), signup) + rng.exponential(
        np.where(any_touch, 2.0, 5.0), n
    )
    converted = (rng.random(n) < p_convert) & (first_purchase < ch.horizon)
    organic = np.where(rng.random(n) < 0.8, "organic", "referral").astype(object)
    acq = np.where(first_touch_ch >= 0, _CHANNELS[np.maximum(first_touch_ch, 0)], organic)
    return _Leads(seg, region, age, signup, touched, touch_counts, p_convert, incremental, first_purchase,
                  converted, acq)


def _buyers(ch: _Chunk, leads: _Leads) -> tuple[_Buyers, np.ndarray, np.ndarray]:
    """The buyers' lifetimes, intent rates and natural purchase intents.

    Draws, in order: lifetime (Weibull, scale by segment), intent rate (gamma around the
    segment's mean), candidate intents (Poisson at the highest season-and-promotion rate over
    the active days, uniform times), then thinning to the season and promotion multiplier of
    each candidate's time. Returns the buyers and the natural intents (buyer index, time).
    """
    rng = ch.rng
    b = np.flatnonzero(leads.converted)
    bseg = leads.seg[b]
    fp = leads.first_purchase[b]
    lifetime = np.asarray(K.LIFETIME_SCALE_DAYS)[bseg] * rng.weibull(K.LIFETIME_WEIBULL_SHAPE, len(b))
    death = fp + lifetime
    active_end = np.minimum(death, ch.horizon)
    rate = rng.gamma(K.INTENT_RATE_GAMMA_SHAPE,
                     1.0 / (np.asarray(K.MEAN_DAYS_BETWEEN_INTENTS)[bseg] * K.INTENT_RATE_GAMMA_SHAPE))
    promo_mult = np.asarray(K.PROMO_MULTIPLIER)
    m_max = max(K.MONTH_SEASONALITY) * promo_mult[bseg]
    dur = np.maximum(active_end - fp, 0.0)
    n_cand = rng.poisson(rate * m_max * dur)
    ci = np.repeat(np.arange(len(b)), n_cand)
    ct = fp[ci] + rng.random(len(ci)) * dur[ci]
    in_promo = _promo_index(ct, ch.windows)
    mult = np.asarray(K.MONTH_SEASONALITY)[_month_of(ct, ch.cfg.start_ts)] * np.where(
        in_promo >= 0, promo_mult[bseg[ci]], 1.0)
    acc = rng.random(len(ci)) < mult / m_max[ci]
    return _Buyers(b, bseg, fp, death, active_end, rate, dur), ci[acc], ct[acc]


def _ab_test(ch: _Chunk, buyers: _Buyers) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The planted A/B test: eligible buyers get one of two e-mails; converters order with the code.

    Only when the send day lies inside the history. Draws, in order: assignment (a share of the
    buyers alive and past their first purchase on the send day), arm (half each), send time,
    conversion (the arm's rate) and the order's delay in the test window. Logs the ``email_sent``
    events. Returns each buyer's arm (``""``: not in the test) and the A/B intents (buyer, time).
    """
    rng, ab, b = ch.rng, K.AB_TEST, buyers.idx
    ab_day = _day(ab["sent_at"], ch.cfg)
    ab_arm = np.full(len(b), "", dtype=object)
    ab_ci = np.array([], dtype=np.int64)
    ab_ct = np.array([], dtype=float)
    if 0 < ab_day < ch.horizon:
        elig = (buyers.first_purchase < ab_day) & (buyers.death > ab_day)
        assigned = elig & (rng.random(len(b)) < ab["share_of_eligible"])
        variant = rng.random(len(b)) < 0.5
        ai = np.flatnonzero(assigned)
        is_var = variant[ai]
        ab_arm[ai] = np.where(is_var, "variant", "control")
        sent = ab_day + rng.random(len(ai)) * 0.5
        camp = np.where(is_var, ab["variant_campaign"], ab["control_campaign"]).astype(object)
        ch.ev.add(b[ai], sent, _EV["email_sent"], channel=np.full(len(ai), "email", dtype=object), campaign=camp)
        p = np.where(is_var, ab["rate_variant"], ab["rate_control"])
        conv = rng.random(len(ai)) < p
        ab_ci = ai[conv]
        ab_ct = sent[conv] + rng.random(conv.sum()) * ab["window_days"]
        keep = ab_ct < ch.horizon
        ab_ci, ab_ct = ab_ci[keep], ab_ct[keep]
    return ab_arm, ab_ci, ab_ct


def _intents(ch: _Chunk, buyers: _Buyers, ab: tuple[np.ndarray, np.ndarray],
             natural: tuple[np.ndarray, np.ndarray]) -> _Intents:
    """All purchase intents, their order channel and platform, and the online checkout funnel.

    Intents: every first purchase (forced), the A/B conversions (forced, online), the natural
    intents. Draws, in order: order channel (by segment), platform (by segment), the four funnel
    steps (with the planted friction: the purchase step thinned on the friction's platform and
    window; forced intents always complete), then the online intents' sessions
    (:func:`_sessions`: number of extra views, then the step gaps), logged as events.
    """
    rng = ch.rng
    (ab_ci, ab_ct), (ci, ct) = ab, natural
    nb = len(buyers.idx)
    it_b = np.concatenate([np.arange(nb), ab_ci, ci])
    it_t = np.concatenate([buyers.first_purchase, ab_ct, ct])
    kind = np.concatenate([np.zeros(nb, int), np.ones(len(ab_ci), int), np.full(len(ci), 2)])
    forced = kind < 2
    it_seg = buyers.seg[it_b]
    ochan = _choice_rows(rng, K.ORDER_CHANNEL_MIX, it_seg)
    ochan[kind == 1] = 0
    online = ochan == 0
    plat = np.where(online, _PLATFORMS[_choice_rows(rng, K.PLATFORM_MIX, it_seg)], None)
    fr = K.FRICTION
    fr_s, fr_e = _day(fr["start"], ch.cfg), _day(fr["end"], ch.cfg)
    p_buy = np.where((plat == fr["segment"]["platform"]) & (it_t >= fr_s) & (it_t < fr_e),
                     fr["p_during"], K.FUNNEL_STEP_P[3])
    u = rng.random((len(it_t), 4))
    steps = np.column_stack([u[:, 0] < K.FUNNEL_STEP_P[0], u[:, 1] < K.FUNNEL_STEP_P[1],
                             u[:, 2] < K.FUNNEL_STEP_P[2], u[:, 3] < p_buy])
    steps[forced] = True
    depth = 1 + np.cumprod(steps, axis=1).sum(axis=1)  # 1 = visit only .. 5 = purchase
    on = np.flatnonzero(online)
    purchase_part = len(ch.ev.parts)
    sid = np.full(len(it_t), None, dtype=object)
    order_t = it_t.copy()
    sid[on], order_t[on] = _sessions(rng, ch.ev, ch.counters, buyers.idx[it_b[on]], it_t[on], plat[on], depth[on],
                                     rng.poisson(1.0, len(on)))
    return _Intents(it_b, it_t, kind, ochan, plat, online, ~online | (depth == 5), sid, order_t, purchase_part)


def _orders(ch: _Chunk, buyers: _Buyers, it: _Intents) -> _Orders:
    """Orders of the completed intents before the end, sorted by buyer and time, and their lines.

    Draws, in order: promotion-code use (inside a window, by segment), status (the first order
    always completed; A/B orders carry the test's code), then the lines (:func:`_order_items`).
    The purchase events of the checkout sessions get their order id.
    """
    rng, b = ch.rng, buyers.idx
    oi = np.flatnonzero(it.completed & (it.order_t < ch.horizon))
    oi = oi[np.lexsort((it.order_t[oi], it.buyer[oi]))]
    n_orders = len(oi)
    order_id = _ids("O", ch.counters.order, n_orders, 10)
    ch.counters.order += n_orders
    o_b = it.buyer[oi]
    o_seg = buyers.seg[o_b]
    o_t = it.order_t[oi]
    o_kind = it.kind[oi]
    o_promo_win = _promo_index(o_t, ch.windows)
    use_code = (o_promo_win >= 0) & (rng.random(n_orders) < np.asarray(K.PROMO_CODE_USE)[o_seg])
    codes = np.array([w[2] for w in ch.windows] + [None], dtype=object)
    promo = np.where(use_code, codes[o_promo_win], None)
    promo = np.where(o_kind == 1, K.AB_TEST["promo_code"], promo)
    status = rng.choice(len(K.ORDER_STATUS), n_orders, p=K.ORDER_STATUS_P)
    status[o_kind == 0] = 0  # the first order is a completed purchase
    items, value = _order_items(rng, order_id, o_seg)
    discount = np.where(promo != None, np.round(value * K.PROMO_DISCOUNT, 2), 0.0)  # noqa: E711
    orders = pd.DataFrame(
        {
            "order_id": order_id,
            "customer_i": b[o_b],
            "ordered_at": o_t,
            "amount": np.round(value - discount, 2),
            "discount": discount,
            "channel": _ORDER_CHANNELS[it.ochan[oi]],
            "platform": it.plat[oi],
            "promo_code": promo,
            "status": np.asarray(K.ORDER_STATUS, dtype=object)[status],
        }
    )
    if it.online.any():  # purchase events carry their order id
        part = ch.ev.parts[it.purchase_part]
        bought = oi[it.online[oi]]
        part["order"] = _attach_orders(part, it.sid, bought, order_id[it.online[oi]])
    items = items.merge(orders[["order_id"]], on="order_id", how="inner")
    return _Orders(orders, items, o_b, o_t, it.plat[oi])


def _browsing(ch: _Chunk, leads: _Leads, buyers: _Buyers) -> None:
    """Log browsing sessions without purchase intent (leads after sign-up, buyers while active).

    Draws, in order: sessions per lead (Poisson) and their times (60 days after sign-up),
    sessions per buyer (Poisson at the segment's yearly rate) and their times, add-to-cart,
    checkout, platform, then :func:`_sessions` (extra views, step gaps).
    """
    rng, b = ch.rng, buyers.idx
    nb = rng.poisson(K.LEAD_BROWSE_SESSIONS, len(leads.seg))
    li = np.repeat(np.arange(len(leads.seg)), nb)
    lt = leads.signup[li] + rng.random(len(li)) * 60.0
    yr = np.asarray(K.BROWSE_SESSIONS_PER_YEAR)[buyers.seg] / 365.0
    nbb = rng.poisson(yr * buyers.dur)
    bi = np.repeat(np.arange(len(b)), nbb)
    bt = buyers.first_purchase[bi] + rng.random(len(bi)) * buyers.dur[bi]
    bc = np.concatenate([li, b[bi]])
    btime = np.concatenate([lt, bt])
    keep = btime < ch.horizon
    bc, btime = bc[keep], btime[keep]
    cart = rng.random(len(bc)) < K.BROWSE_CART_P
    chk = cart & (rng.random(len(bc)) < K.BROWSE_CHECKOUT_P)
    bdepth = 2 + cart + chk
    _sessions(rng, ch.ev, ch.counters, bc, btime, _PLATFORMS[_choice_rows(rng, K.PLATFORM_MIX, leads.seg[bc])],
              bdepth, rng.poisson(1.0, len(bc)))


def _reviews_and_referrals(ch: _Chunk, buyers: _Buyers, orders: _Orders) -> np.ndarray:
    """Log reviews of online orders and the advocates' referrals; returns who was seen referring.

    Draws, in order: reviewed or not (per order), review delay (exponential, mean 5 days),
    advocate or not (by segment), referrals per advocate (1 + Poisson), their times (from 14 days
    after the first purchase to the end of the active life).
    """
    rng, b = ch.rng, buyers.idx
    onl = orders.frame["channel"].to_numpy() == "online"
    rv = np.flatnonzero(onl & (rng.random(len(orders.t)) < K.REVIEW_P))
    rt = orders.t[rv] + rng.exponential(5.0, len(rv))
    ok = rt < ch.horizon
    ch.ev.add(b[orders.buyer[rv[ok]]], rt[ok], _EV["review"], platform=orders.platform[rv[ok]])
    advocate = rng.random(len(b)) < np.asarray(K.ADVOCATE_P)[buyers.seg]
    n_ref = np.where(advocate, 1 + rng.poisson(0.5, len(b)), 0)
    ri = np.repeat(np.arange(len(b)), n_ref)
    r_lo = buyers.first_purchase[ri] + 14.0
    rt = r_lo + rng.random(len(ri)) * np.maximum(buyers.active_end[ri] - r_lo, 1.0)
    ok = rt < ch.horizon
    ch.ev.add(b[ri[ok]], rt[ok], _EV["referral"])
    advocate_seen = np.zeros(len(b), dtype=bool)
    advocate_seen[ri[ok]] = True
    return advocate_seen


def _tickets(ch: _Chunk, buyers: _Buyers, orders: _Orders) -> pd.DataFrame:
    """Support tickets after completed and returned orders; logs their ``support_contact`` events.

    Draws, in order: a ticket or not (per order, by status), opening delay (exponential, mean
    3 days), first response and handling times (log-normal), first-contact resolution, extra
    contacts, CSAT with and without FCR, and whether the survey was answered.
    """
    rng, horizon = ch.rng, ch.horizon
    st = orders.frame["status"].to_numpy()
    p_t = np.where(st == "returned", K.TICKET_P_RETURNED, np.where(st == "completed", K.TICKET_P, 0.0))
    ti = np.flatnonzero(rng.random(len(st)) < p_t)
    opened = orders.t[ti] + rng.exponential(3.0, len(ti))
    ti, opened = ti[opened < horizon], opened[opened < horizon]
    m = len(ti)
    resp = rng.lognormal(np.log(K.FIRST_RESPONSE_MEDIAN_HOURS), K.FIRST_RESPONSE_SIGMA, m) / 24.0
    handle = rng.lognormal(np.log(K.HANDLING_MEDIAN_HOURS), K.HANDLING_SIGMA, m) / 24.0
    handle = np.maximum(handle, resp + 5 * MIN)
    fcr = rng.random(m) < K.FCR_P
    contacts = np.where(fcr, 1, 2 + rng.poisson(0.7, m))
    csat = np.where(fcr, rng.choice(5, m, p=K.CSAT_P_FCR), rng.choice(5, m, p=K.CSAT_P_NOT_FCR)) + 1
    answered = rng.random(m) < 0.6
    first_resp = opened + resp
    resolved = opened + handle
    tickets = pd.DataFrame(
        {
            "ticket_id": _ids("T", ch.counters.ticket, m, 9),
            "customer_i": buyers.idx[orders.buyer[ti]],
            "opened_at": opened,
            "first_response_at": np.where(first_resp < horizon, first_resp, np.nan),
            "resolved_at": np.where(resolved < horizon, resolved, np.nan),
            "contacts": contacts.astype(np.int64),
            "csat": np.where(answered & (resolved < horizon), csat, -1),
        }
    )
    ch.counters.ticket += m
    ch.ev.add(tickets["customer_i"].to_numpy(), opened, _EV["support_contact"])
    return tickets


def _surveys(ch: _Chunk, buyers: _Buyers) -> pd.DataFrame:
    """NPS answers: respondent or not, answer time (from 7 days after the first purchase), score."""
    rng = ch.rng
    si = np.flatnonzero(rng.random(len(buyers.idx)) < K.NPS_RESPONSE_P)
    s_lo = buyers.first_purchase[si] + 7.0
    s_t = s_lo + rng.random(len(si)) * np.maximum(ch.horizon - s_lo, 0.0)
    ok = s_t < ch.horizon
    si, s_t = si[ok], s_t[ok]
    nps = np.clip(np.round(rng.normal(np.asarray(K.NPS_MEAN)[buyers.seg[si]], K.NPS_SD)), 0, 10).astype(np.int64)
    return pd.DataFrame({"customer_i": buyers.idx[si], "answered_at": s_t, "nps": nps})


def _subscriptions(ch: _Chunk, leads: _Leads, buyers: _Buyers, orders: _Orders) -> pd.DataFrame:
    """Subscriptions with contractual churn and the planted hazard ratios (plan, age, first promo).

    Draws, in order: subscriber or not (by segment), start delay (exponential, mean 20 days),
    plan (by segment), then the duration (Weibull proportional hazards, inverse transform).
    """
    rng = ch.rng
    sub = np.flatnonzero(rng.random(len(buyers.idx)) < np.asarray(K.SUBSCRIBE_P)[buyers.seg])
    s_start = buyers.first_purchase[sub] + rng.exponential(20.0, len(sub))
    ok = s_start < ch.horizon
    sub, s_start = sub[ok], s_start[ok]
    plan = _choice_rows(rng, K.PLAN_MIX, buyers.seg[sub])
    first_promo = _first_order_promo(orders.frame, len(buyers.idx), orders.buyer)
    hr = K.HAZARD_RATIOS
    plan_hr = np.array([1.0, hr["plan_plus"], hr["plan_premium"]])[plan]
    cov_hr = (plan_hr * hr["age_per_10_years"] ** ((leads.age[buyers.idx[sub]] - 40) / 10.0)
              * np.where(first_promo[sub], hr["first_order_promo"], 1.0))
    s_dur = K.SUBSCRIPTION_SCALE_DAYS * (-np.log(rng.random(len(sub))) / cov_hr) ** (
        1.0 / K.SUBSCRIPTION_WEIBULL_SHAPE)
    s_end = s_start + s_dur
    return pd.DataFrame(
        {
            "customer_i": buyers.idx[sub],
            "started_at": s_start,
            "ended_at": np.where(s_end < ch.horizon, s_end, np.nan),
            "plan": np.asarray(K.PLANS, dtype=object)[plan],
            "mrr": np.asarray(K.PLAN_MRR)[plan],
        }
    )


_FIRST_NAMES = np.array(["Alex", "Sam", "Robin", "Kim", "Jo", "Charlie", "Max", "Noa"], dtype=object)


def _customers_frame(seed: int, chunk: int, first_index: int, leads: _Leads, cid: np.ndarray) -> pd.DataFrame:
    """The customers table: no draws from the chunk's stream (consent has a stream of its own)."""
    n = len(cid)
    number = np.arange(first_index, first_index + n)
    return pd.DataFrame(
        {
            "customer_i": np.arange(n),
            "signup_at": leads.signup,
            "acquisition_channel": leads.acquisition,
            "region": np.asarray(K.REGIONS, dtype=object)[leads.region],
            "age": leads.age,
            "name": _FIRST_NAMES[number % 8] + " " + cid,
            "email": np.char.add(np.char.lower(cid.astype(str)), "@example.com").astype(object),
            "phone": np.char.add("+44 7700 ", np.char.zfill((number % 1_000_000).astype(str), 6)).astype(object),
            **_consent_columns(seed, chunk, n),
        }
    )


def _events_frame(ch: _Chunk) -> pd.DataFrame:
    """The logged events before the end, sorted by customer, time and logging order."""
    e = ch.ev.concat()
    # the rows kept, in their final order, picked before the frame is built: filtering and
    # sorting a frame would copy its text columns twice (the index keeps the logging position)
    t = np.asarray(e["t"])
    kept = np.flatnonzero(t < ch.horizon)
    rows = kept[np.lexsort((kept, t[kept], np.asarray(e["cust"])[kept]))]
    return pd.DataFrame(
        {
            "customer_i": e["cust"][rows],
            "occurred_at": t[rows],
            "event": _EVENT_NAMES[e["event"][rows]],
            "session_id": e["session"][rows],
            "channel": e["channel"][rows],
            "campaign_id": e["campaign"][rows],
            "platform": e["platform"][rows],
            "order_id": e["order"][rows],
        },
        index=rows,
    )


def _truth_frame(leads: _Leads, buyers: _Buyers, ab_arm: np.ndarray, advocate_seen: np.ndarray,
                 media: bool) -> pd.DataFrame:
    """One row per contact: the planted segment, conversion, lifetime, rate, advocacy, A/B arm."""
    n, b = len(leads.seg), buyers.idx

    def per_contact(values, fill, dtype=None):
        out = np.full(n, fill, dtype=dtype)
        out[b] = values
        return out

    return pd.DataFrame(
        {
            "customer_i": np.arange(n),
            "segment": _SEGMENTS[leads.seg],
            "converted": leads.converted,
            "p_convert": leads.p_convert,
            "first_purchase_at": per_contact(buyers.first_purchase, np.nan),
            "died_at": per_contact(buyers.death, np.nan),
            "intent_rate_per_day": per_contact(buyers.rate, 0.0),
            "advocate": per_contact(advocate_seen, False, bool),
            "ab_arm": per_contact(ab_arm, "", object),
            "media_driven": np.full(n, media),
            **{f"touched_{c}": leads.touched[:, i] for i, c in enumerate(K.CHANNELS)},
        }
    )


def generate_chunk(seed: int, chunk: int, first_index: int, n: int, cfg: K.CompanyConfig,
                   counters: Counters, signup_days: np.ndarray | None = None) -> ChunkResult:
    """Generate every table for contacts ``first_index .. first_index + n - 1``.

    Parameters
    ----------
    seed, chunk : int
        The company's seed and the chunk's number: the chunk's random stream is
        ``SeedSequence([seed, chunk])``.
    first_index, n : int
        Index of the chunk's first contact in the company and the number of contacts.
    cfg : CompanyConfig
        History window (``start``, exclusive ``end``).
    counters : Counters
        Order, session and ticket id counters shared by the company's chunks (advanced here).
    signup_days : ndarray, optional
        Float days since ``cfg.start``, one per contact: makes the chunk a cohort of media-driven
        leads (the marketing mix truth) who sign up at these times instead of the planted trend
        and season; everything after sign-up (touches, conversion, purchases) follows the same
        process as every other lead's.

    Returns
    -------
    ChunkResult

    Notes
    -----
    The steps draw from the chunk's one random stream in this order (changing it changes every
    later row): leads (:func:`_leads`), buyers (:func:`_buyers`), the A/B test, purchase intents
    and their checkout sessions (:func:`_intents`), orders and lines, browsing sessions, reviews
    and referrals, support tickets, NPS surveys, subscriptions.
    """
    ch = _Chunk.start(seed, chunk, cfg, counters)
    leads = _leads(ch, n, signup_days)
    buyers, ci, ct = _buyers(ch, leads)
    ab_arm, ab_ci, ab_ct = _ab_test(ch, buyers)
    intents = _intents(ch, buyers, (ab_ci, ab_ct), (ci, ct))
    orders = _orders(ch, buyers, intents)
    _browsing(ch, leads, buyers)
    advocate_seen = _reviews_and_referrals(ch, buyers, orders)
    tickets = _tickets(ch, buyers, orders)
    surveys = _surveys(ch, buyers)
    subscriptions = _subscriptions(ch, leads, buyers, orders)

    cid = _ids("C", first_index, n, 7)
    tables = {
        "customers": _customers_frame(seed, chunk, first_index, leads, cid),
        "orders": orders.frame,
        "order_items": orders.items,
        "events": _events_frame(ch),
        "tickets": tickets,
        "surveys": surveys,
        "subscriptions": subscriptions,
    }
    tables = {k: _finish(v, cid, cfg) for k, v in tables.items()}
    tables["tickets"]["csat"] = tables["tickets"]["csat"].where(tables["tickets"]["csat"] > 0).astype("Int64")
    truth = _finish(_truth_frame(leads, buyers, ab_arm, advocate_seen, signup_days is not None), cid, cfg)
    return ChunkResult(tables, truth, leads.incremental, leads.touch_counts)


def _promo_index(t: np.ndarray, windows) -> np.ndarray:
    idx = np.full(len(t), -1)
    for i, (s, e, _) in enumerate(windows):
        idx[(t >= s) & (t < e)] = i
    return idx


def _attach_orders(part: dict, sid_by_intent: np.ndarray, purchased_intents: np.ndarray,
                   order_ids: np.ndarray) -> np.ndarray:
    """Set ``order_id`` on the purchase events of the given sessions."""
    out = part["order"].copy()
    lookup = dict(zip(sid_by_intent[purchased_intents], order_ids, strict=True))
    is_purchase = part["event"] == _EV["purchase"]
    out[is_purchase] = [lookup.get(s) for s in part["session"][is_purchase]]
    return out


def _first_order_promo(orders: pd.DataFrame, n_buyers: int, o_b: np.ndarray) -> np.ndarray:
    """Whether each buyer's first order used a promotion code (orders are sorted by buyer, time)."""
    flag = np.zeros(n_buyers, dtype=bool)
    first = np.unique(o_b, return_index=True)[1]
    flag[o_b[first]] = orders["promo_code"].to_numpy()[first] != None  # noqa: E711
    return flag


def _order_items(rng, order_id: np.ndarray, o_seg: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """Order lines with the planted category affinities; returns lines and list value per order."""
    m = len(order_id)
    cat0 = _choice_rows(rng, K.CATEGORY_PREFERENCE, o_seg)
    lines_o = [np.arange(m)]
    lines_c = [cat0]
    cats = list(K.CATEGORIES)
    for a, c, p in K.AFFINITIES:
        hit = np.flatnonzero((cat0 == cats.index(a)) & (rng.random(m) < p))
        lines_o.append(hit)
        lines_c.append(np.full(len(hit), cats.index(c)))
    n_extra = rng.poisson(np.asarray(K.EXTRA_ITEMS_MEAN)[o_seg])
    eo = np.repeat(np.arange(m), n_extra)
    lines_o.append(eo)
    lines_c.append(rng.integers(0, len(cats), len(eo)))
    lo = np.concatenate(lines_o)
    lc = np.concatenate(lines_c)
    tier = _choice_rows(rng, K.TIER_PREFERENCE, o_seg[lo])
    k = rng.integers(0, K.PRODUCTS_PER_TIER, len(lo))
    prod = lc * len(K.TIER_MULTIPLIER) * K.PRODUCTS_PER_TIER + tier * K.PRODUCTS_PER_TIER + k
    qty = 1 + (rng.random(len(lo)) < 0.15)
    lines = pd.DataFrame({"o": lo, "p": prod, "quantity": qty.astype(np.int64)})
    lines = lines.groupby(["o", "p"], sort=True, as_index=False)["quantity"].sum()
    o, p = lines["o"].to_numpy(), lines["p"].to_numpy()
    value = np.bincount(o, weights=lines["quantity"].to_numpy() * PRODUCT_PRICES[p], minlength=m)
    items = pd.DataFrame(
        {
            "order_id": order_id[o],
            "product_id": PRODUCT_IDS[p],
            "category": PRODUCT_CATEGORIES[p],
            "quantity": lines["quantity"].to_numpy(),
            "unit_price": PRODUCT_PRICES[p],
        }
    )
    return items, np.round(value, 2)


_TIME_COLS = {"signup_at", "ordered_at", "occurred_at", "opened_at", "first_response_at", "resolved_at",
              "answered_at", "started_at", "ended_at", "first_purchase_at", "died_at"}


def _finish(df: pd.DataFrame, cid: np.ndarray, cfg: K.CompanyConfig) -> pd.DataFrame:
    """Replace the chunk-local customer index by ids and float days by UTC timestamps (seconds)."""
    df = df.copy()
    if "customer_i" in df:
        df.insert(0, "customer_id", cid[df.pop("customer_i").to_numpy()])
        df = df[["customer_id", *[c for c in df.columns if c != "customer_id"]]]
    base = _origin(cfg.start_ts)
    for col in _TIME_COLS & set(df.columns):
        days = df[col].to_numpy(dtype=float)
        secs = np.floor(np.where(np.isfinite(days), days, 0.0) * DAY).astype(np.int64)
        ts = (base + secs.astype("timedelta64[s]")).astype("datetime64[us]")
        ts = np.where(np.isfinite(days), ts, np.datetime64("NaT"))
        df[col] = pd.to_datetime(ts).tz_localize("UTC")
    return df
