"""The marketing mix model as a client reads it: words, tables, figures (``crm_research.mmm_words``,
``crm_research.plots.mmm``), on simulated weekly series with a known truth (``test_mmm.simulate``)."""

from __future__ import annotations

import matplotlib
import matplotlib.collections

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from crm_research import mmm, settings
from crm_research.notebook import text as nb_text
from crm_research.plots import mmm as plots
from test_mmm import simulate, unidentifiable

EUR = settings.from_dict({"currency": {"code": "EUR", "symbol": "€"},
                          "labels": {"channels": {"ch0": "E-mail <b>", "ch1": "Paid search"}}})


@pytest.fixture(scope="module")
def fitted():
    w, roas = simulate(7, C=3)
    w.attrs["outcome"] = "new_customers"
    return w, roas, mmm.MarketingMixModel(n_bootstrap=40, seed=1).fit(w, controls=[])


def test_decomposition_is_long_and_adds_up_to_the_fit(fitted):
    w, _, m = fitted
    long = m.decomposition()
    assert list(long.columns) == ["week", "component", "kind", "contribution"]
    assert set(long.loc[long["kind"] == "channel", "component"]) == set(m.channels_)
    total = long.groupby("week")["contribution"].sum().to_numpy()
    np.testing.assert_allclose(total, m.contributions_["fitted"].to_numpy(), rtol=1e-9, atol=1e-9)
    assert len(long) == len(w) * (long["component"].nunique())


def test_channel_view_gives_cost_per_outcome_with_its_range(fitted):
    _, roas, m = fitted
    view = mmm.channel_view(m.summary, "new_customers", EUR)
    s = m.summary.set_index("channel")
    for _, r in view.iterrows():
        x = s.loc[r["channel"]]
        cost = 1.0 / x["roas"]
        shown = EUR.money(cost, 2 if cost < 10 else 0)
        assert r["cost"].startswith(shown + " ("), (r["cost"], shown)
        assert r["brought"].startswith(EUR.count(x["contribution"]))
    # a channel without a measurable effect says so instead of an infinite cost
    zero = m.summary.assign(roas=[0.0] + list(m.summary["roas"].iloc[1:]),
                            mroas=[0.0] + list(m.summary["mroas"].iloc[1:]))
    row = mmm.channel_view(zero, "new_customers", EUR).iloc[0]
    assert row["cost"] == "no measurable effect" and row["next_cost"] == "no more at this level"


def test_fit_words_name_the_cheapest_channel_the_share_and_the_holdout(fitted):
    _, roas, m = fitted
    text = mmm.fit_words(m, EUR)
    s = m.summary
    media = m.contributions_[list(m.channels_)].to_numpy().sum()
    assert f"about {EUR.count(media)} of the {EUR.count(m.contributions_['actual'].sum())} new customers" in text
    cheapest = s.loc[s["roas"].idxmax(), "channel"]
    assert text.index(nb_text(EUR.label("channels", cheapest))) < text.index("brought them most cheaply")
    assert f"off by {EUR.pct(m.holdout_mape_, 0)} on average" in text
    assert "<b>" not in text and nb_text("E-mail <b>") in text  # a label is data: escaped
    # the planted cheapest channel is the one named
    assert cheapest == m.channels_[int(np.argmax(roas))]


def test_issues_are_structured_and_reach_the_client_words():
    m = mmm.MarketingMixModel(n_bootstrap=0).fit(unidentifiable(), controls=[])
    kinds = {(i["kind"], i["channels"]) for i in m.issues_}
    assert ("flat_spend", ("flat",)) in kinds and ("collinear", ("ch0", "twin")) in kinds
    assert m.warnings_ == [i["text"] for i in m.issues_]
    text = mmm.fit_words(m, EUR)
    assert "Spend on Flat hardly changed from week to week" in text
    assert f"Spend on {nb_text('E-mail <b>')} and Twin rose and fell together" in text


def test_a_baseline_below_zero_is_reported():
    # the outcome falls to zero while spend grows: the fit can only explain it with a baseline that
    # goes negative, crediting the ads with more than the outcome
    w, _ = simulate(3, C=2)
    n = len(w)
    w["new_customers"] = np.r_[np.zeros(n // 2), w["new_customers"].to_numpy()[n // 2:] * 3]
    w["spend_ch0"] = np.r_[w["spend_ch0"].to_numpy()[: n // 2] * 0.2, w["spend_ch0"].to_numpy()[n // 2:] * 3]
    m = mmm.MarketingMixModel(n_bootstrap=0, holdout_weeks=0).fit(w, controls=[])
    base = m.contributions_.drop(columns=["week", "actual", "fitted", *m.channels_]).sum(axis=1)
    negative = any(i["kind"] == "negative_baseline" for i in m.issues_)
    assert negative == bool((base < -0.05 * m.contributions_["fitted"].abs().mean()).mean() > 0.1)


def test_budget_words_move_money_to_where_it_brings_most(fitted):
    _, roas, m = fitted
    plan = m.optimise_budget(weeks=13)
    words = mmm.budget_words(m, plan, EUR, value_per_unit=50.0)
    tot = plan[plan["channel"] == "total"].iloc[0]
    assert tot["gain"] > 0 and words.action is not None
    assert f"about {EUR.count(tot['gain'])} more new customers" in words.action
    assert words.value == pytest.approx(tot["gain"] * 50.0 * 52 / 13)
    assert f"worth about {EUR.money(tot['gain'] * 50.0, 0)}" in words.value_text
    # a channel at the default limit (1.5x today's spend) would take more: the text says so
    capped = plan.copy()
    up = capped.index[(capped["channel"] != "total") & (capped["change"] > 0)][0]
    capped.loc[up, "recommended_spend"] = 1.5 * capped.loc[up, "current_spend"]
    capped.loc[up, "change"] = 0.5 * capped.loc[up, "current_spend"]
    capped.attrs.update(plan.attrs)
    name = nb_text(EUR.label("channels", capped.loc[up, "channel"]))
    assert f"{name} reaches the limit of one and a half times" in mmm.budget_words(m, capped, EUR).text
    capped.attrs["bounds_given"] = True  # the analyst's own limits: no such advice
    assert "reaches the limit" not in mmm.budget_words(m, capped, EUR).text
    # the same split as today: nothing to recommend
    same = plan.assign(recommended_spend=plan["current_spend"], change=0.0, expected_outcome=plan["current_outcome"],
                       gain=0.0, gain_low=[np.nan] * (len(plan) - 1) + [0.0], gain_high=[np.nan] * (len(plan) - 1) + [0.0])
    same.attrs.update(plan.attrs)
    keep = mmm.budget_words(m, same, EUR)
    assert keep.action is None and "already close to the best" in keep.text


def test_value_per_outcome_is_the_average_first_order_or_first_order_revenue_per_signup():
    orders = pd.DataFrame({
        "order_id": ["o1", "o2", "o3", "o4", "o5"], "customer_id": ["a", "a", "b", "c", "d"],
        "ordered_at": pd.to_datetime(["2025-01-07", "2025-01-15", "2025-01-08", "2024-12-01", "2025-01-09"], utc=True),
        "amount": [10.0, 99.0, 30.0, 500.0, 70.0], "status": ["completed"] * 4 + ["cancelled"]})
    customers = pd.DataFrame({"customer_id": ["a", "b", "c", "d", "e"],
                              "signup_at": pd.to_datetime(["2025-01-06", "2025-01-07", "2024-11-01", "2025-01-08",
                                                           "2025-01-09"], utc=True)})
    weekly = pd.DataFrame({"week": pd.date_range("2025-01-06", periods=2, freq="7D", tz="UTC")})
    weekly.attrs["outcome"] = "new_customers"
    # first completed orders in the two weeks: a (10) and b (30); c's first order is earlier, d's is cancelled
    assert mmm.value_per_outcome(orders, weekly) == pytest.approx(20.0)
    weekly.attrs["outcome"] = "signups"
    # sign-ups in the weeks: a, b, d, e; their first completed orders: 10 + 30 (d, e none) over 4
    assert mmm.value_per_outcome(orders, weekly, customers) == pytest.approx(10.0)
    weekly.attrs["outcome"] = "orders"
    assert mmm.value_per_outcome(orders, weekly) == pytest.approx((10 + 99 + 30) / 3)
    weekly.attrs["outcome"] = "revenue"
    assert mmm.value_per_outcome(orders, weekly) == 1.0


def test_truth_check_ranks_and_errors(fitted):
    _, roas, m = fitted
    planted = {"channels": {c: {"roas_new_customers": float(r)} for c, r in zip(m.channels_, roas, strict=True)}}
    check = mmm.truth_check(m.summary, planted, "new_customers")
    np.testing.assert_allclose(check["planted_roas"], roas)
    assert (check["rank"] == check["planted_rank"]).all()
    assert check["relative_error"].abs().max() < 0.5


def test_figures_draw_every_channel(fitted):
    _, _, m = fitted
    label = lambda c: EUR.label("channels", c)  # noqa: E731
    ax = plots.plot_mmm_decomposition(m.contributions_, m.channels_, label=label)
    assert len(ax.collections) == 1 + len(m.channels_)
    ax = plots.plot_mmm_cost_per_outcome(m.summary, label=label)
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == label(m.summary.loc[m.summary["roas"].idxmax(), "channel"])
    curves = m.response_curves()
    ax = plots.plot_response_curves(curves, label=label)
    dots = [c for c in ax.collections if isinstance(c, matplotlib.collections.PathCollection)]
    assert len(dots) == len(m.channels_)
    assert all(abs(d.get_offsets()[0, 0] - 1.0) < 0.06 for d in dots)  # today's spend at 1
    plan = m.optimise_budget(weeks=13)
    ax = plots.plot_budget_split(plan, label=label)
    assert len(ax.patches) == 2 * len(m.channels_)
    matplotlib.pyplot.close("all")
