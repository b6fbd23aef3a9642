"""Ad and campaign performance: delivery and spend joined with attributed conversions.

Per campaign (or channel) and period: impressions, clicks, CTR, attributed conversions, CVR,
cost, CPA, revenue and ROAS, with Wilson intervals on the two rates and a flag where the volume
is too small to read them.

Attributed conversions come from rule-based credits computed per touch on the engine
(:func:`touch_credits`, exact and scalable: window functions over the touchpoint table), or
from any model fitted on campaign paths (``paths(..., columns=JourneyColumns(channel="campaign_id"))``), passed as a
table of credits per campaign.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from crm_research.engine import collect, engine_function, exact_sum, is_lazy
from crm_research.errors import CRMError
from crm_research.exprs import require_columns
from crm_research.stats import wilson

__all__ = ["touch_credits", "ad_performance"]

_PERIODS = {"day": "D", "week": "W", "month": "M", "quarter": "Q", "year": "Y"}
RULES = ("first_touch", "last_touch", "linear", "position_based", "time_decay")


@engine_function("touchpoints")
def touch_credits(touchpoints, *, rule: str = "linear", first_weight: float = 0.4, last_weight: float = 0.4,
                  half_life_days: float = 7.0):
    """Rule-based credit of every touch of the converting journeys, on the engine.

    The same rules as :mod:`crm_research.attribution.rules` (channel totals agree exactly), but
    per touch, so credits keep the touch's campaign and date.

    Parameters
    ----------
    touchpoints : DataFrame or ibis.Table
        Output of :func:`~crm_research.attribution.paths.touchpoints`.
    rule : {"first_touch", "last_touch", "linear", "position_based", "time_decay"}
    first_weight, last_weight : float
        Position-based shares (see :class:`~crm_research.attribution.rules.PositionBased`).
    half_life_days : float
        Time-decay half-life in days.

    Returns
    -------
    DataFrame or ibis.Table
        The converting journeys' touches with ``credit`` (share of one conversion, 0..1) and
        ``credit_value`` (``credit`` × conversion value, currency). Sorted by customer, journey,
        position.

    Examples
    --------
    >>> from crm_research import synthetic
    >>> from crm_research.attribution import touchpoints
    >>> t, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> credits = touch_credits(touchpoints(t["events"], t["orders"], as_of="2026-01-01"), rule="linear")
    >>> credits.groupby("channel")["credit"].sum().round(2)
    channel
    affiliate      11.37
    display        48.60
    email          43.92
    paid_search    25.85
    social         38.26
    Name: credit, dtype: float64
    """
    if rule not in RULES:
        raise CRMError(f"rule={rule!r}: use one of {RULES}")
    t = touchpoints.filter(touchpoints.converted)
    pos, n = t.position, t.n_touches
    nf = n.cast("float64")
    if rule == "first_touch":
        credit = (pos == 1).cast("float64")
    elif rule == "last_touch":
        credit = (pos == n).cast("float64")
    elif rule == "linear":
        credit = 1.0 / nf
    elif rule == "position_based":
        f, last = float(first_weight), float(last_weight)
        if f < 0 or last < 0 or f + last > 1 or f + last == 0:
            raise CRMError(f"position-based weights first={f}, last={last} must be >= 0 with 0 < sum <= 1")
        mid = (1.0 - f - last) / ibis.greatest(nf - 2.0, 1.0)
        credit = ibis.cases(
            (n == 1, 1.0),
            ((n == 2) & (pos == 1), f / (f + last)),
            (n == 2, last / (f + last)),
            (pos == 1, f),
            (pos == n, last),
            else_=mid,
        )
    else:
        if not half_life_days > 0:
            raise CRMError(f"half_life_days={half_life_days!r} must be a positive number of days")
        grp = ["customer_id", "journey"]
        rel = t.days_before_end - t.days_before_end.min().over(group_by=grp)
        t = t.mutate(_w=(rel * (-np.log(2.0) / float(half_life_days))).exp())
        credit = t._w / t._w.sum().over(group_by=grp)
    t = t.mutate(credit=credit.cast("float64"))
    t = t.mutate(credit_value=t.credit * t.conversion_value.fill_null(0.0))
    if "_w" in t.columns:
        t = t.drop("_w")
    return t.order_by(["customer_id", "journey", "position"])


@engine_function("ad_spend", "campaigns")
def _spend_totals(ad_spend, campaigns, *, keys, period, date_col, campaign_col, impressions_col, clicks_col,
                  cost_col, channel_col):
    s = ad_spend
    if "channel" in keys and "channel" not in s.columns:
        if campaigns is None or channel_col not in campaigns.columns:
            raise CRMError("level='channel' needs the campaigns table (campaign_id → channel) or a channel "
                           "column in ad_spend")
        c = campaigns.select(_cid=campaigns[campaign_col].cast("string"),
                             channel=campaigns[channel_col].cast("string"))
        s = s.mutate(_cid=s[campaign_col].cast("string"))
        s = s.left_join(c, "_cid").drop("_cid")
    s = s.mutate(campaign_id=s[campaign_col].cast("string"))
    grp = {k: s[k] for k in keys}
    if period is not None:
        grp["period"] = s[date_col].truncate(period)
    agg = {}
    if impressions_col is not None:
        agg["impressions"] = s[impressions_col].cast("int64").sum()
    if clicks_col is not None:
        agg["clicks"] = s[clicks_col].cast("int64").sum()
    g = s.group_by(**grp).aggregate(**agg, cost=exact_sum(s[cost_col]))
    return g.order_by(list(grp))


@engine_function("credits")
def _credit_totals(credits, *, keys, period, date_col, with_channel):
    t = credits
    grp = {k: t[k].cast("string") for k in keys}
    if period is not None:
        grp["period"] = t[date_col].truncate(period)
    agg = dict(conversions=t.credit.sum(), revenue=t.credit_value.sum())
    if with_channel:
        agg["channel_c"] = t.channel.cast("string").max()
    g = t.group_by(**grp).aggregate(**agg)
    return g.order_by(list(grp))


def ad_performance(
    ad_spend,
    credits=None,
    campaigns=None,
    *,
    level: str = "campaign",
    period: str | None = "month",
    date_basis: str = "touch",
    min_clicks: int = 100,
    min_conversions: float = 10,
    min_spend: float | None = None,
    conf: float = 0.95,
    campaign_col: str = "campaign_id",
    date_col: str = "date",
    impressions_col: str | None = "impressions",
    clicks_col: str | None = "clicks",
    cost_col: str = "cost",
    channel_col: str = "channel",
) -> pd.DataFrame:
    """Delivery, spend and attributed results per campaign (or channel) and period.

    Sums are done on the engine (``ad_spend`` and per-touch ``credits`` may be Ibis tables);
    the aggregated result is small and the ratios and intervals are computed in pandas.

    Parameters
    ----------
    ad_spend : DataFrame or ibis.Table
        Daily delivery per campaign: cost (currency) and, optionally, impressions and clicks
        (a column that is absent, or a ``*_col`` set to None, leaves out its figures: ``ctr``
        needs both, ``cvr`` needs clicks).
    credits : DataFrame or ibis.Table, optional
        Either per-touch credits from :func:`touch_credits` (columns ``campaign_id``,
        ``channel``, ``occurred_at``, ``conversion_at``, ``credit``, ``credit_value``), or a table
        of credits already aggregated per campaign (or channel) with columns ``conversions`` and
        ``value`` (e.g. a model's ``credits_`` fitted on campaign paths, its ``channel`` column
        renamed ``campaign_id``); aggregated credits carry no date, so use ``period=None``.
        None: delivery and cost only.
    campaigns : DataFrame or ibis.Table, optional
        Campaign → channel map (columns ``campaign_col``, ``channel_col``), needed for
        ``level="channel"``; without it (or without its channel column) campaign rows have no
        ``channel``.
    level : {"campaign", "channel"}
        Rows per campaign (with its channel when ``campaigns`` is given) or per channel.
    period : {"day", "week", "month", "quarter", "year"} or None
        Calendar period (UTC); None sums the whole history.
    date_basis : {"touch", "conversion"}
        Date that puts a credited conversion in a period: the touch's (when the ad ran, matching
        its spend; default) or the conversion's.
    min_clicks, min_conversions : number
        Rows below either are flagged ``small_volume``: their CVR, CPA and ROAS are too noisy
        to rank campaigns on.
    min_spend : float, optional
        Spend (currency) below which a row's ROAS rests on too small a denominator to judge:
        such rows are flagged ``low_spend`` (a campaign costing 80 that is credited with 65,000
        of revenue shows a ROAS of about 800, which says more about its tiny cost than about
        its return). None (default): no flag column.
    conf : float
        Confidence level of the Wilson intervals.

    Returns
    -------
    DataFrame
        Keys (``campaign_id`` and ``channel``, or ``channel``; ``period`` start as a UTC
        timestamp unless ``period`` is None), then ``impressions``, ``clicks``, ``ctr``
        (clicks per impression) with ``ctr_low``/``ctr_high``, ``conversions`` (attributed,
        count), ``cvr`` (conversions per click) with ``cvr_low``/``cvr_high``, ``cost``
        (currency), ``cpa`` (currency per conversion), ``revenue`` (attributed conversion
        value, currency), ``roas`` (revenue per unit of cost), ``small_volume`` (bool: too few
        clicks, when clicks are known, or too few conversions), ``low_spend`` (bool, only with
        ``min_spend``: cost below it, ROAS not to be judged). Ratios with a zero denominator
        are NaN. Without impressions or clicks their columns and the ratios built on them are
        left out. Sorted by the keys.

    Examples
    --------
    >>> from crm_research import synthetic
    >>> from crm_research.attribution import touchpoints
    >>> t, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> credits = touch_credits(touchpoints(t["events"], t["orders"], as_of="2026-01-01"), rule="linear")
    >>> perf = ad_performance(t["ad_spend"], credits, t["campaigns"], level="channel", period=None)
    >>> perf[["channel", "cost", "conversions", "cpa", "roas"]].round(2)
           channel     cost  conversions     cpa   roas
    0    affiliate  2013.19        11.37  176.99   0.65
    1      display  4611.94        48.60   94.90   1.78
    2        email   120.48        43.92    2.74  51.18
    3  paid_search  1041.05        25.85   40.27   3.26
    4       social   445.30        38.26   11.64  13.31
    """
    if level not in ("campaign", "channel"):
        raise CRMError(f"level={level!r}: use 'campaign' or 'channel'")
    if period is not None and period not in _PERIODS:
        raise CRMError(f"period={period!r}: use one of {list(_PERIODS)} or None")
    if date_basis not in ("touch", "conversion"):
        raise CRMError(f"date_basis={date_basis!r}: use 'touch' or 'conversion'")
    unit = _PERIODS.get(period) if period else None
    have_channel_map = ((campaigns is not None and channel_col in campaigns.columns and campaign_col in campaigns.columns)
                        or channel_col in ad_spend.columns)
    if level == "channel":
        keys = ["channel"]
    else:
        keys = ["campaign_id", "channel"] if have_channel_map else ["campaign_id"]
    require_columns(ad_spend, "ad_spend", {"campaign_col": campaign_col, "date_col": date_col, "cost_col": cost_col})
    if impressions_col is not None and impressions_col not in ad_spend.columns:
        impressions_col = None
    if clicks_col is not None and clicks_col not in ad_spend.columns:
        clicks_col = None
    spend = collect(_spend_totals(ad_spend, campaigns, keys=keys, period=unit, date_col=date_col,
                                  campaign_col=campaign_col, impressions_col=impressions_col,
                                  clicks_col=clicks_col, cost_col=cost_col, channel_col=channel_col))
    join_keys = list(keys) + (["period"] if unit else [])
    out = spend
    if credits is not None:
        ckeys = ["channel"] if level == "channel" else ["campaign_id"]
        with_channel = level == "campaign" and "channel" in keys
        if "credit" in credits.columns:
            dcol = "occurred_at" if date_basis == "touch" else "conversion_at"
            cred = collect(_credit_totals(credits, keys=ckeys, period=unit, date_col=dcol,
                                          with_channel=with_channel))
        else:
            cred = collect(credits) if is_lazy(credits) else credits.copy()
            need = ckeys + ["conversions", "value"] + (["period"] if unit else [])
            missing = [c for c in need if c not in cred.columns]
            if missing:
                raise CRMError(f"table 'credits' has no column(s) {missing}: pass touch_credits() output or "
                               f"credits aggregated per {ckeys[0]} with columns {need}")
            gkeys = ckeys + (["period"] if unit else [])
            agg = {"conversions": ("conversions", "sum"), "revenue": ("value", "sum")}
            if with_channel and "channel" in cred.columns:
                agg["channel_c"] = ("channel", "first")
            cred = cred.groupby(gkeys, sort=True, as_index=False).agg(**agg)
        mkeys = ckeys + (["period"] if unit else [])
        for k in ckeys:
            cred[k] = cred[k].astype(object)
            out[k] = out[k].astype(object)
        out = out.merge(cred, on=mkeys, how="outer")
        if "channel_c" in out.columns:
            out["channel"] = out["channel"].astype(object).where(out["channel"].notna(), out["channel_c"])
            out = out.drop(columns="channel_c")
    else:
        out = out.assign(conversions=np.nan, revenue=np.nan)
    delivery = [c for c, col in (("impressions", impressions_col), ("clicks", clicks_col)) if col is not None]
    for c in delivery:
        out[c] = out[c].fillna(0).astype("int64")
    out["cost"] = out["cost"].fillna(0.0).astype(float)
    if credits is not None:
        out["conversions"] = out["conversions"].fillna(0.0).astype(float)
        out["revenue"] = out["revenue"].fillna(0.0).astype(float)
    imp = out["impressions"].to_numpy(float) if impressions_col is not None else None
    clk = out["clicks"].to_numpy(float) if clicks_col is not None else None
    conv, cost, rev = out["conversions"].to_numpy(float), out["cost"].to_numpy(float), out["revenue"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if imp is not None and clk is not None:
            out["ctr"] = np.where(imp > 0, clk / imp, np.nan)
            out["ctr_low"], out["ctr_high"] = wilson(clk, imp, conf)
        if clk is not None:
            out["cvr"] = np.where(clk > 0, conv / clk, np.nan)
            out["cvr_low"], out["cvr_high"] = wilson(conv, clk, conf)
        out["cpa"] = np.where(conv > 0, cost / conv, np.nan)
        out["roas"] = np.where(cost > 0, rev / cost, np.nan)
    few_clicks = (clk < min_clicks) if clk is not None else False
    out["small_volume"] = few_clicks | ~(conv >= min_conversions)
    if min_spend is not None:
        if not (np.isfinite(float(min_spend)) and float(min_spend) >= 0):
            raise CRMError(f"min_spend={min_spend!r} must be an amount >= 0 (currency) or None")
        out["low_spend"] = cost < float(min_spend)
    cols = join_keys + ["impressions", "clicks", "ctr", "ctr_low", "ctr_high", "conversions", "cvr", "cvr_low",
                        "cvr_high", "cost", "cpa", "revenue", "roas", "small_volume", "low_spend"]
    cols = [c for c in cols if c in out.columns]
    return out[cols].sort_values(join_keys, kind="stable").reset_index(drop=True)

