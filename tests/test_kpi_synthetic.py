"""The baseline on the synthetic company agrees with the generator's truth.

Exact checks where the truth is realised in the data (who converted, who referred, when the
first purchase happened); statistical checks, with tolerances from the sample size, where the
truth is a parameter (first-contact resolution, response-time medians, CSAT, NPS by segment,
the purchase funnel behind cart abandonment).

One company of 30,000 contacts (seed 7): about 10,500 buyers, 5,700 tickets, 3,600 survey
answers, 80,000 sessions with a cart.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from crm_research import kpi, synthetic
from crm_research.stats import wilson
from crm_research.synthetic import config as K

AS_OF = "2026-01-01"
N, SEED = 30_000, 7


@pytest.fixture(scope="module")
def company():
    tables, truth, truth_customers = synthetic.generate(N, SEED)
    return tables, truth, truth_customers


@pytest.fixture(scope="module")
def monthly(company):
    return kpi.baseline(company[0], AS_OF, "M")


@pytest.fixture(scope="module")
def yearly(company):
    return kpi.baseline(company[0], AS_OF, "Y")


@pytest.fixture(scope="module")
def by_segment(company):
    tables, _, tc = company
    return kpi.breakdowns(tables, AS_OF, "Y", periods=1, dimensions=(),
                          segments=tc[["customer_id", "segment"]], min_n=30)


def pooled(table, metric):
    """Numerator and denominator summed over every period (flows only)."""
    r = table[table["metric"] == metric]
    return float(r["numerator"].sum()), float(r["denominator"].sum())


def row(table, metric, year):
    r = table[(table["metric"] == metric) & (table["period"] == pd.Timestamp(f"{year}-01-01", tz="UTC"))]
    assert len(r) == 1
    return r.iloc[0]


def test_lead_conversion_matches_who_converted(company, monthly):
    """Exact: the contacts with a completed order are the generator's converted contacts.

    The one allowed difference: a contact whose first purchase intent starts minutes before the
    end of the history and whose order completes after it (truth converted, no order yet).
    """
    tables, _, tc = company
    last = kpi.latest(monthly).set_index("metric")
    conv = last.loc["lead_conversion_rate"]
    assert conv["denominator"] == N + tc["media_driven"].sum()  # with the media-driven contacts
    truth_ids = set(tc.loc[tc["converted"], "customer_id"])
    o = tables["orders"]
    data_ids = set(o.loc[(o["status"] == "completed") & (o["ordered_at"] < AS_OF), "customer_id"])
    assert data_ids <= truth_ids
    late = tc[tc["customer_id"].isin(truth_ids - data_ids)]
    assert (late["first_purchase_at"] > pd.Timestamp(AS_OF, tz="UTC") - pd.Timedelta(hours=1)).all()
    assert conv["numerator"] == len(data_ids) == tc["converted"].sum() - len(late)
    assert len(late) <= 2
    assert conv["value"] == pytest.approx(tc["converted"].mean(), abs=1e-4)
    assert last.loc["customers", "value"] == len(data_ids)


def test_advocates_are_the_generators_referrers(company, monthly):
    """Exact: with the referral rule, advocates = truth_customers.advocate (1,068 here)."""
    _, _, tc = company
    last = kpi.latest(monthly).set_index("metric")
    assert last.loc["advocates", "value"] == tc["advocate"].sum() > 500
    levels = last.loc[["first_time_customers", "repeat_customers", "advocates"], "value"].sum()
    assert levels == last.loc["customers", "value"]


def test_new_customers_follow_first_purchases(company, monthly):
    """New customers per month = truth first purchases per month (the first order completes a
    few minutes after the intent, so a customer may cross a month boundary: at most 2 a month)."""
    _, _, tc = company
    new = monthly[monthly["metric"] == "new_customers"].set_index("period")["value"]
    fp = tc["first_purchase_at"].dropna()
    want = fp.dt.tz_localize(None).dt.to_period("M").dt.start_time.dt.tz_localize("UTC").value_counts()
    diff = (new - want.reindex(new.index).fillna(0)).abs()
    assert diff.max() <= 2
    assert new.sum() == kpi.latest(monthly).set_index("metric").loc["customers", "value"]


def test_first_contact_resolution_recovers_fcr_p(company, monthly):
    """FCR pooled over the history ~ truth support fcr_p = 0.72 (binomial SE ~ 0.006)."""
    _, truth, _ = company
    k, n = pooled(monthly, "first_contact_resolution_rate")
    p = truth["support"]["fcr_p"]
    se = np.sqrt(p * (1 - p) / n)
    assert n > 5000
    assert abs(k / n - p) < 3 * se
    lo, hi = wilson(k, n)
    assert lo <= p <= hi


def test_truth_check_agrees_with_the_planted_facts(company, monthly):
    """kpi.truth_check (notebook 01's section 7): counts within 0.1% + 2 of the planted ones, FCR inside its Wilson interval."""
    tables, truth, tc = company
    check = kpi.truth_check(monthly, truth, tc, AS_OF, events=tables["events"]).set_index("check")
    assert list(check.columns) == ["measured", "planted", "low", "high", "agrees"] and check["agrees"].all()
    customers = check.loc["customers (contacts with an order before as_of)"]
    assert customers["planted"] == (tc["first_purchase_at"] < pd.Timestamp(AS_OF, tz="UTC")).sum() == 16_852
    assert customers["measured"] == kpi.latest(monthly).set_index("metric").loc["customers", "value"] == 16_851
    assert check.loc["advocates (customers who referred someone)", "planted"] == tc["advocate"].sum()
    fcr = check.loc["first-contact resolution, all periods shown"]
    k, n = pooled(monthly, "first_contact_resolution_rate")
    assert fcr["measured"] == k / n and (fcr["low"], fcr["high"]) == tuple(float(x) for x in wilson(k, n))
    assert fcr["planted"] == 0.72 and fcr["low"] < 0.72 < fcr["high"] and fcr["high"] - fcr["low"] < 0.03
    # another advocate rule, or an event log running past as_of: the advocates are not checked
    assert len(kpi.truth_check(monthly, truth, tc, AS_OF, advocate_rule="promoter", events=tables["events"])) == 2
    assert len(kpi.truth_check(monthly, truth, tc, "2025-06-01", events=tables["events"])) == 2
    # a planted share outside the interval does not agree
    off = {**truth, "support": {**truth["support"], "fcr_p": 0.60}}
    assert not kpi.truth_check(monthly, off, tc, AS_OF).set_index("check")["agrees"].iloc[-1]


def test_response_and_handling_times_recover_lognormal_parameters(company, yearly):
    """Medians ~ planted medians (4 h, 30 h); means ~ median × exp(sigma² / 2).

    SE of a sample median of a lognormal: median × sigma × sqrt(2 pi) / (2 sqrt(n)); 2025's
    handling times are cut by the end of the history (long ones unresolved), so 2024 is used.
    """
    _, truth, _ = company
    s = truth["support"]
    for year in (2024, 2025):
        r = row(yearly, "first_response_hours_median", year)
        m, sig = s["first_response_median_hours"], K.FIRST_RESPONSE_SIGMA
        se = m * sig * np.sqrt(2 * np.pi) / (2 * np.sqrt(r["denominator"]))
        assert abs(r["value"] - m) < 3 * se, (year, r["value"])
        mean = row(yearly, "first_response_hours_mean", year)
        assert mean["ci_low"] - 0.1 < m * np.exp(sig**2 / 2) < mean["ci_high"] + 0.1
    h = row(yearly, "handling_hours_median", 2024)
    m, sig = s["handling_median_hours"], K.HANDLING_SIGMA
    assert abs(h["value"] - m) < 3 * m * sig * np.sqrt(2 * np.pi) / (2 * np.sqrt(h["denominator"]))
    hm = row(yearly, "handling_hours_mean", 2024)
    assert hm["ci_low"] - 1.0 < m * np.exp(sig**2 / 2) < hm["ci_high"] + 1.0


def test_csat_matches_planted_distributions(company, monthly):
    """CSAT given the realised resolutions: E[share 4-5] and E[mean] from the planted P(csat)."""
    tables, truth, _ = company
    t = tables["tickets"]
    answered = t[t["csat"].notna()]
    fcr = (answered["contacts"] == 1).to_numpy()
    p_f, p_n = np.array(truth["support"]["csat_p_fcr"]), np.array(truth["support"]["csat_p_not_fcr"])
    q = np.where(fcr, p_f[3:].sum(), p_n[3:].sum())
    k, n = pooled(monthly, "csat_share_4_5")
    assert n == len(answered)
    assert abs(k / n - q.mean()) < 3 * np.sqrt((q * (1 - q)).sum()) / n
    scores = np.arange(1, 6)
    mu_f, mu_n = (p_f * scores).sum(), (p_n * scores).sum()
    var_f, var_n = (p_f * scores**2).sum() - mu_f**2, (p_n * scores**2).sum() - mu_n**2
    s, n2 = pooled(monthly, "csat_mean")
    expected = np.where(fcr, mu_f, mu_n)
    assert abs(s / n2 - expected.mean()) < 3 * np.sqrt(np.where(fcr, var_f, var_n).sum()) / n2


def _nps_expectation(surveys, segments):
    mu = segments.map(dict(zip(K.SEGMENTS, K.NPS_MEAN, strict=True))).to_numpy()
    p = stats.norm.sf((8.5 - mu) / K.NPS_SD)  # answers are rounded normals: 9-10 <=> x > 8.5
    d = stats.norm.cdf((6.5 - mu) / K.NPS_SD)  # 0-6 <=> x < 6.5
    n = len(surveys)
    return 100 * (p - d).mean(), 100 * np.sqrt((p + d - (p - d) ** 2).sum()) / n


def test_nps_in_line_with_planted_segment_means(company, monthly, by_segment):
    tables, _, tc = company
    s = tables["surveys"].merge(tc[["customer_id", "segment"]], on="customer_id", how="left")
    expected, se = _nps_expectation(s, s["segment"])
    num, n = pooled(monthly, "nps")
    assert n == len(s)
    assert abs(100 * num / n - expected) < 3 * se
    # by planted segment (2025 answers): each within 3 SE of its expectation, and ordered
    # like the planted means (loyal 9.0 > premium 8.3 > bargain 6.5)
    s25 = s[s["answered_at"].dt.year == 2025]
    seg = by_segment[by_segment["metric"] == "nps"].set_index("group")
    for name in K.SEGMENTS:
        sub = s25[s25["segment"] == name]
        e, se = _nps_expectation(sub, sub["segment"])
        assert seg.loc[name, "denominator"] == len(sub)
        assert abs(seg.loc[name, "value"] - e) < 3 * se, name
    # bargain (6.5) and occasional (6.2) are too close to order at this size
    assert seg.loc["loyal", "value"] > seg.loc["premium", "value"] > seg.loc["bargain", "value"]


def test_retention_ordered_like_planted_purchase_rates(by_segment):
    """Loyal buyers (an intent every 18 days) retain best, occasional ones (110 days) worst."""
    r = by_segment[by_segment["metric"] == "retention_rate"].set_index("group")
    assert r.loc["loyal", "ci_low"] > max(r.loc[s, "ci_high"] for s in ("premium", "occasional"))
    assert r.loc["occasional", "ci_high"] < min(r.loc[s, "ci_low"] for s in ("loyal", "premium", "bargain"))
    assert not by_segment.loc[by_segment["metric"] == "retention_rate", "too_small"].any()


def _sessions(events):
    e = events[events["session_id"].notna()]
    flags = pd.DataFrame({"session_id": e["session_id"],
                          "view": e["event"] == "product_view", "cart": e["event"] == "add_to_cart",
                          "purchase": e["event"] == "purchase"})
    s = flags.groupby("session_id").max()
    s["start"] = e.groupby("session_id")["occurred_at"].min()
    s["platform"] = e.groupby("session_id")["platform"].first()
    s["order_id"] = e[e["event"] == "purchase"].groupby("session_id")["order_id"].first()
    return s


def test_cart_abandonment_consistent_with_planted_funnel(company, yearly):
    """Method of moments on the planted funnel, using only realised session counts.

    Purchase sessions are forced (a first order or an A/B conversion: all steps taken) or
    natural intents, which reach the cart with P 0.95 x 0.80 and buy from there with P 0.85 x
    0.85 (0.85 x 0.45 on mobile during the planted friction). Browsing sessions reach the cart
    with P 0.15 and never buy. Natural intents = natural purchases / P(buy); browsing sessions =
    (sessions with a view and no cart - intents x 0.95 x 0.20) / 0.85. Expected carts =
    forced + 0.76 intents + 0.15 browsing; expected abandonment = 1 - purchases / expected
    carts. The estimate's SE is about 0.002 (binomial noise of ~43,000 natural purchases);
    tolerance 0.01.
    """
    tables, _, _ = company
    o = tables["orders"]
    first = o.sort_values(["customer_id", "ordered_at", "order_id"]).groupby("customer_id")["order_id"].first()
    forced_orders = set(first) | set(o.loc[o["promo_code"] == K.AB_TEST["promo_code"], "order_id"])
    s = _sessions(tables["events"])
    s["forced"] = s["order_id"].isin(forced_orders)
    fr = K.FRICTION
    friction = ((s["platform"] == fr["segment"]["platform"]) & (s["start"] >= pd.Timestamp(fr["start"], tz="UTC"))
                & (s["start"] < pd.Timestamp(fr["end"], tz="UTC")))
    p_to_checkout = K.FUNNEL_STEP_P[0] * K.FUNNEL_STEP_P[1] * K.FUNNEL_STEP_P[2]
    natural = s["purchase"] & ~s["forced"]
    intents = ((natural & ~friction).sum() / (p_to_checkout * K.FUNNEL_STEP_P[3])
               + (natural & friction).sum() / (p_to_checkout * fr["p_during"]))
    p_cart = K.FUNNEL_STEP_P[0] * K.FUNNEL_STEP_P[1]
    browsing = ((s["view"] & ~s["cart"]).sum() - intents * K.FUNNEL_STEP_P[0] * (1 - K.FUNNEL_STEP_P[1])) / (
        1 - K.BROWSE_CART_P)
    expected_carts = s["forced"].sum() + p_cart * intents + K.BROWSE_CART_P * browsing
    expected = 1 - s["purchase"].sum() / expected_carts
    aband, carts = pooled(yearly, "cart_abandonment_rate")
    assert carts == s["cart"].sum()  # the KPI counts every session with a cart, once
    assert aband == (s["cart"] & ~s["purchase"]).sum()
    assert abs(aband / carts - expected) < 0.01, (aband / carts, expected)


def test_leads_abandon_every_cart(company):
    """Exact: contacts who never bought only browse (no purchase intents): abandonment is 1."""
    tables, _, tc = company
    seg = tc[["customer_id"]].assign(kind=np.where(tc["converted"], "buyer", "lead"))
    b = kpi.breakdowns(tables, AS_OF, "Y", periods=None, dimensions=(), segments=seg, segment_col="kind")
    c = b[b["metric"] == "cart_abandonment_rate"].set_index(["group", "period"])
    assert (c.loc["lead", "value"] == 1.0).all() and c.loc["lead", "denominator"].sum() > 1000
    assert (c.loc["buyer", "value"] < 0.45).all()
    conv = b[(b["metric"] == "lead_conversion_rate")].set_index("group")["value"]
    assert (conv.loc["lead"] == 0).all() and conv.loc["buyer"].iloc[-1] == pytest.approx(1.0, abs=1e-3)


def test_cohorts_consistent_with_baseline(company, monthly):
    tables, _, _ = company
    c = kpi.cohort_retention(tables, AS_OF, "M")
    sizes = c[c["age"] == 0].set_index("cohort")["customers"]
    new = monthly[monthly["metric"] == "new_customers"].set_index("period")["value"]
    assert (sizes == new.reindex(sizes.index)).all()
    assert (c.loc[c["age"] == 0, "rate"] == 1.0).all()
    # active customers in a month = the sum over cohorts of their active counts that month
    act = c.groupby("period")["active"].sum()
    base_act = monthly[monthly["metric"] == "active_customers"].set_index("period")["value"]
    assert (act == base_act.reindex(act.index)).all()
