"""Notebook 02's sentences, moved into segments.story: hand-worked numbers, every branch."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from crm_research.plots.segments import rfm_grid_figure  # noqa: E402
from crm_research.segments import story  # noqa: E402
from crm_research.settings import ReportSettings  # noqa: E402

S = ReportSettings()


def label(kind, value):
    return f"<{value}>"


SEGMENTS = pd.DataFrame({"segment": ["champions", "loyal", "at risk", "lost"], "customers": [10, 20, 30, 40],
                         "customer_share": [0.1, 0.2, 0.3, 0.4], "revenue": [5000.0, 2500.0, 1500.0, 1000.0],
                         "revenue_share": [0.5, 0.25, 0.15, 0.1]})
SCORES = pd.DataFrame({"segment": ["at risk"] * 3 + ["lost"] * 2, "recency_days": [100.0, 200.0, 300.0, 500.0, 700.0]})


def test_rfm_intro_core_and_winback():
    head, text = story.rfm_intro(SEGMENTS, 100, "2026-01-01", S, label)
    assert head == "Champions: 50% of revenue from 10% of buyers"  # settings.label: the readable name
    assert text.endswith("The segment bringing the most revenue is **<champions>**: 10.0% of the buyers, 50.0% of the revenue.")
    head, text = story.rfm_intro(SEGMENTS.drop(columns=["revenue", "revenue_share"]), 100, "2026-01-01", S, label,
                                 rf_only=True)
    assert head == "Champions: 10% of buyers" and "The largest segment is **<champions>**: 10.0% of the buyers." in text
    # the fewest segments bringing half the revenue: champions alone bring exactly 50%
    assert story.core_segments(SEGMENTS)["segment"].tolist() == ["champions"]
    assert story.core_finding(SEGMENTS, S, label) == ("The <champions> segment, 10.0% of the buyers (10), brought "
                                                      "50.0% of all revenue (5,000): protect them first.")
    even = SEGMENTS.assign(revenue_share=[0.3, 0.3, 0.2, 0.2], customer_share=[0.3, 0.3, 0.2, 0.2])
    assert story.core_finding(even, S, label).startswith("The <champions> and <loyal> segments, 60.0% of the buyers")
    assert story.core_finding(even, S, label).endswith(").")
    assert story.winback_segments(SEGMENTS, ["can't lose", "at risk", "at risk", "lost"]) == ["at risk", "lost"]
    text = story.winback_finding(SEGMENTS, SCORES, ["at risk", "lost"], S, label)
    assert text == ("**70** buyers (70.0%) are in the <at risk> and <lost> segments: they have not ordered for 360 days "
                    "on average, and over their history they brought 2,500 (25.0% of all revenue).")
    assert story.winback_finding(SEGMENTS, SCORES, ["at risk"], S, label, rf_only=True).endswith("200 days on average.")
    assert story.winback_action(SEGMENTS, ["at risk"], 30, S, label) == (
        "Win back the 30 <at risk> buyers with a personal call or a tailored offer, and ask what went wrong.")
    valued = story.winback_action(SEGMENTS, ["at risk"], 25, S, label,
                                  value={"buyers": 25, "mean_yearly_spend": 120.0, "value": 300.0}, rate=0.1)
    assert valued == ("Win back the 25 <at risk> buyers who may be contacted (30 in all) with a personal call or a "
                      "tailored offer, and ask what went wrong. They used to spend 120 a year each; if 10% of them "
                      "come back and spend that again, it brings about 300 a year.")


def test_levels_sentences():
    t = pd.DataFrame({"level": ["first-time", "repeat"], "customers": [75, 25]})
    assert story.levels_finding(t, 3, S, advocates=False) == (
        "**75** first-time buyers (75.0%) have fewer than 3 orders; 25.0% are repeat buyers.")
    assert story.levels_rule_note(3, 9) == ("*Repeat buyers have at least 3 completed orders, first-time buyers fewer. "
                                            "Advocates referred someone or answered 9 or more out of 10 when asked "
                                            "whether they would recommend the company.*")


def test_cluster_sentences():
    assert [story.silhouette_reading(x) for x in (0.26, 0.25, 0.1, 0.09)] == [
        "the groups are clearly apart", "the groups overlap at the edges but are real tendencies",
        "the groups overlap at the edges but are real tendencies", "the groups are weak: use them with caution"]

    class Model:
        selection_ = pd.DataFrame({"k": [2, 3], "silhouette": [0.2, 0.31]})
        k_ = 3
        labels_ = pd.DataFrame({"customer_id": range(1200)})
        features_ = ["a", "b", "c"]

    assert story.clusters_intro(Model, 5000, 3, S) == (
        "**1,200** of the 5,000 buyers have at least 3 completed orders and are clustered, on 3 measures. Best "
        "silhouette: **k = 3** (0.31: the groups are clearly apart).")
    assert "grouped into **3 clusters** (the groups are clearly apart)" in story.clusters_intro(Model, 5000, 3, S, client=True)
    personas = pd.DataFrame({"cluster": [0, 1], "customers": [800, 400], "customer_share": [2 / 3, 1 / 3],
                             "revenue_share": [0.5, 0.5], "median_aov": [40.0, 90.0], "churn_rate": [0.3, 0.1],
                             "action": ["win back", "reward"]})
    names = {0: "Bargain hunters", 1: "Loyal big spenders"}
    assert story.lead_persona_finding(personas, names, 3, S, str) == (
        "The **Loyal big spenders** cluster is 33.3% of the clustered buyers (those with at least 3 orders) but "
        "brought 50.0% of their revenue; their typical order is 90.")
    assert story.lead_persona_finding(personas.drop(columns="revenue_share"), names, 3, S, str) is None
    lines = story.persona_lines(personas, names, 180, S, str).splitlines()
    assert lines == ["- **Bargain hunters** (800 buyers, 50% of their revenue, 30% without an order for 180 days): win back",
                     "- **Loyal big spenders** (400 buyers, 50% of their revenue, 10% without an order for 180 days): reward"]
    assert story.stability_verdict(pd.Series([0.5, 0.7])).endswith("(lowest 0.500): treat the clusters as loose tendencies.")
    assert story.stability_verdict(pd.Series([0.95, 0.99])).endswith(": the clusters are stable.")


def test_offer_sentences():
    pairs = pd.DataFrame({"antecedent": ["tv", "pen", "cable"], "consequent": ["cable", "ink", "tv"],
                          "lift": [2.5, 1.2, 2.5], "confidence": [0.4, 0.2, 0.6]})
    # a tie on lift: the higher confidence direction is told
    assert story.strongest_pair_finding(pairs, S, label) == (
        "The strongest cross-sell pair: **<cable>** and **<tv>** are bought together 2.5 times as often as by chance; "
        "60.0% of the orders with <cable> also hold <tv>.")
    assert story.strongest_pair_finding(pairs.assign(lift=0.9), S, label) is None
    assert story.strongest_pair_finding(pairs.iloc[:0], S, label) is None
    sug = pd.DataFrame({"customer_id": [1, 1, 2, 3], "kind": ["cross-sell", "upsell", "cross-sell", "upsell"]})
    assert story.suggestions_intro(sug, 10, "Only consenting buyers are listed.", S) == (
        "**3** of the 10 buyers get at least one suggestion: 2 cross-sell and 2 upsell suggestions. Only consenting "
        "buyers are listed. The first rows of the list:")
    assert story.suggestions_intro(sug, 10, "", S, client=True).endswith("upsell suggestions. ")
    assert story.cross_sell_action(sug, S, label) == (
        "Send each of the 2 buyers with a cross-sell suggestion their first one, against a random group that gets "
        "nothing, and measure the difference.")
    valued = story.cross_sell_action(sug, S, label, rate=0.05, value={"buyers": 2, "top_offer": "books",
                                                                      "top_spend_per_order": 31.4, "value": 3.14})
    assert "(most often **<books>**, 31 per order on average)" in valued and valued.endswith("that brings about 3.")


@pytest.mark.parametrize("revenue", [True, False])
def test_rfm_grid_figure(revenue):
    grid = pd.DataFrame({"r_score": [5, 1, 3], "f_score": [5, 1, 2], "customers": [10, 30, 5],
                         "revenue": [9000.0, 1500.0, 500.0]})
    fig = rfm_grid_figure(grid, 5, money_unit="€", revenue=revenue)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == (["Buyers per cell", "Revenue per cell (€ thousands)"] if revenue else ["Buyers per cell"])
