"""Segmentation for a client: what-if values of the actions and readable names of rules, features, personas."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from crm_research.errors import CRMError, ParameterError  # noqa: E402
from crm_research.plots import segments as P  # noqa: E402
from crm_research.segments import (  # noqa: E402
    category_spend,
    cross_sell_value,
    feature_label,
    persona_name,
    rfm_rules,
    rule_ranges,
    winback_value,
    yearly_spend,
)

UTC = "UTC"


def _scores() -> pd.DataFrame:
    day = lambda s: pd.Timestamp(s, tz=UTC)  # noqa: E731
    return pd.DataFrame({
        "customer_id": ["a", "b", "c", "d"],
        "first_order_at": [day("2023-01-01"), day("2025-06-01"), day("2022-01-01"), day("2025-01-01")],
        "last_order_at": [day("2025-01-01"), day("2025-06-15"), day("2024-01-01"), day("2025-12-01")],
        "monetary": [2000.0, 300.0, 600.0, 50.0],
        "segment": ["at risk", "at risk", "can't lose", "champions"],
    })


def test_yearly_spend_divides_by_the_active_years_at_least_one():
    s = yearly_spend(_scores())
    assert s.iloc[0] == pytest.approx(2000 / (731 / 365.25))  # two years active
    assert s.iloc[1] == 300.0  # two weeks active: counted as a year, never more than the total
    assert s.iloc[2] == pytest.approx(600 / (730 / 365.25))
    with pytest.raises(CRMError, match="monetary"):
        yearly_spend(_scores().drop(columns="monetary"))


def test_winback_value_is_the_rate_times_the_yearly_spend_of_the_segments():
    scores = _scores()
    v = winback_value(scores, ["at risk", "can't lose", "no such segment"], 0.1)
    per_year = yearly_spend(scores).iloc[:3].sum()
    assert v["segments"] == ["at risk", "can't lose"] and v["buyers"] == 3
    assert v["revenue"] == 2900.0
    assert v["yearly_spend"] == pytest.approx(per_year) and v["value"] == pytest.approx(0.1 * per_year)
    assert v["mean_yearly_spend"] == pytest.approx(per_year / 3)
    none = winback_value(scores, ["lost"], 0.1)
    assert none["buyers"] == 0 and none["value"] == 0.0
    with pytest.raises(ParameterError, match="between 0 and 1"):
        winback_value(scores, ["at risk"], 1.5)


def _orders_and_lines():
    orders = pd.DataFrame({"order_id": ["o1", "o2", "o3", "o4"], "customer_id": ["a", "a", "b", "c"],
                           "ordered_at": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01", "2026-02-01"], utc=True),
                           "status": ["completed", "completed", "cancelled", "completed"]})
    lines = pd.DataFrame({"order_id": ["o1", "o1", "o2", "o3", "o4"], "product_id": ["E1", "A1", "E2", "E1", "E1"],
                          "category": ["electronics", "accessories", "electronics", "electronics", "electronics"],
                          "quantity": [1, 2, 1, 1, 1], "unit_price": [100.0, 10.0, 300.0, 100.0, 100.0]})
    return orders, lines


def test_category_spend_counts_completed_orders_before_as_of():
    orders, lines = _orders_and_lines()
    got = category_spend(lines, orders, "2026-01-01").set_index("category")
    assert got.loc["electronics", "orders"] == 2 and got.loc["electronics", "spend"] == 400.0  # o3 cancelled, o4 later
    assert got.loc["electronics", "spend_per_order"] == 200.0
    assert got.loc["accessories", "spend"] == 20.0  # quantity × unit price


def test_cross_sell_value_takes_each_buyers_first_cross_sell_suggestion():
    spend = pd.DataFrame({"category": ["electronics", "accessories"], "spend_per_order": [200.0, 20.0]})
    sug = pd.DataFrame({"customer_id": ["a", "a", "b", "c", "c"],
                        "kind": ["cross-sell", "cross-sell", "cross-sell", "upsell", "cross-sell"],
                        "rank": [2, 1, 1, 1, 1], "offer": ["electronics", "accessories", "electronics", "E9",
                                                          "electronics"]})
    v = cross_sell_value(sug, spend, 0.5)
    assert v["buyers"] == 3 and v["potential"] == 20.0 + 200.0 + 200.0 and v["value"] == 210.0
    assert v["top_offer"] == "electronics" and v["top_buyers"] == 2 and v["top_spend_per_order"] == 200.0
    empty = cross_sell_value(sug[sug["kind"] == "upsell"], spend, 0.5)
    assert empty["buyers"] == 0 and empty["value"] == 0.0 and empty["top_offer"] is None


def test_rule_ranges_in_words():
    table = rfm_rules([{"name": "champions", "r": [5, 5], "f": [4, 5], "action": "Reward them."},
                       {"name": "big spenders", "m": [5, 5]}]).table()
    got = rule_ranges(table)
    assert list(got.columns) == ["segment", "recency_score", "frequency_score", "spend_score", "action"]
    assert got.iloc[0].tolist() == ["Champions", "5", "4 to 5", "any", "Reward them."]
    assert got.iloc[1].tolist() == ["Big spenders", "any", "any", "5", ""]
    assert "spend_score" not in rule_ranges(rfm_rules().table()).columns  # the packaged rules use R and F only


def test_feature_and_persona_names():
    assert feature_label("aov") == "Average order value"
    assert feature_label("category_home") == "Category: Home" and feature_label("tier_3") == "Price tier 3"
    assert feature_label("channel_in_person", lambda kind, v: {"in_person": "In store"}[v]) == "Channel: In store"
    assert feature_label("category_other") == "Category: other"
    assert persona_name("premium") == "Premium"
    assert persona_name("mixed: high tier_3") == "Mixed (high price tier 3)"
    assert persona_name("mixed: high aov+") == "Mixed (high average order value) 2"


def test_plots_take_readable_names_and_units():
    grid = pd.DataFrame({"r_score": [5, 1], "f_score": [5, 1], "customers": [1, 2], "revenue": [12000.0, 3000.0],
                         "mean_monetary": [1.0, 1.0]})
    ax = P.rfm_heatmap(grid, "revenue", label="revenue (€ thousands)", scale=1000)
    assert sorted(t.get_text() for t in ax.texts) == ["12", "3"] and "€ thousands" in ax.get_title()
    prof = pd.DataFrame({"aov": [1.5, -0.5]}, index=pd.Index([0, 1], name="cluster"))
    ax = P.cluster_profiles(prof, feature_names=feature_label)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Average order value"]
    rules = pd.DataFrame({"antecedent": ["a", "b"], "consequent": ["b", "a"], "lift": [2.0, 2.0]})
    ax = P.affinity_heatmap(rules, names={"a": "Apples", "b": "Books"})
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Apples", "Books"]
    plt.close("all")
