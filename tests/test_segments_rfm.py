"""RFM scores and segments, customer levels: hand-worked examples, ties, overrides, engine contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm_research import engine, synthetic
from crm_research.errors import CRMError, ParameterError
from crm_research.segments import (
    customer_levels,
    level_summary,
    rfm,
    rfm_grid,
    rfm_rules,
    segment_summary,
)

AS_OF = "2026-01-01"


def _orders() -> pd.DataFrame:
    ts = pd.to_datetime(["2025-12-31", "2025-12-01", "2025-06-01", "2025-12-30", "2025-11-01", "2025-12-31",
                         "2024-01-01", "2025-12-15", "2025-12-20", "2026-01-01"], utc=True)
    return pd.DataFrame({
        "order_id": [f"o{i}" for i in range(10)],
        "customer_id": ["a", "a", "b", "b", "b", "c", "d", "e", "e", "a"],
        "ordered_at": ts,
        "amount": [10.0, 20.0, 5.0, 5.0, 5.0, 100.0, 50.0, 1.0, 99.0, 1000.0],
        # e's second order is cancelled; a's last order is at as_of (excluded: strictly before)
        "status": ["completed"] * 8 + ["cancelled", "completed"],
    })


def test_rfm_hand_worked():
    out = rfm(_orders(), AS_OF)
    assert out["customer_id"].tolist() == ["a", "b", "c", "d", "e"]
    assert out["recency_days"].tolist() == [1.0, 2.0, 1.0, 731.0, 17.0]
    assert out["frequency"].tolist() == [2, 3, 1, 1, 1]
    assert out["monetary"].tolist() == [30.0, 15.0, 100.0, 50.0, 1.0]
    # score = 1 + floor(5 * customers strictly worse / 5 customers)
    # recency (fewer days is better): a and c tie at 1 day -> 3 worse each -> 4
    assert out["r_score"].tolist() == [4, 3, 4, 1, 2]
    # frequency: the three one-order customers tie at the bottom
    assert out["f_score"].tolist() == [4, 5, 1, 1, 1]
    assert out["m_score"].tolist() == [3, 2, 5, 4, 1]
    assert out["rfm_cell"].tolist() == ["443", "352", "415", "114", "211"]
    # default rule table: R4F4 loyal, R3F5 loyal, R4F1 promising, R1F1 lost, R2F1 hibernating
    assert out["segment"].tolist() == ["loyal", "loyal", "promising", "lost", "hibernating"]


def test_rfm_ties_do_not_depend_on_row_order():
    orders = _orders()
    shuffled = orders.sample(frac=1.0, random_state=3).reset_index(drop=True)
    pd.testing.assert_frame_equal(rfm(orders, AS_OF), rfm(shuffled, AS_OF))


def test_rfm_scores_are_quintiles_without_ties():
    rng = np.random.default_rng(0)
    n = 1000
    orders = pd.DataFrame({
        "customer_id": [f"c{i:04d}" for i in range(n)],
        "ordered_at": pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(rng.permutation(n) * 600, unit="s"),
        "amount": rng.permutation(n) + 0.5,
        "status": "completed",
    })
    out = rfm(orders, AS_OF)
    assert out["m_score"].value_counts().sort_index().tolist() == [200] * 5
    assert out["r_score"].value_counts().sort_index().tolist() == [200] * 5
    # the top 200 spenders have m_score 5, and only they
    top = set(orders.nlargest(200, "amount")["customer_id"])
    assert set(out.loc[out["m_score"] == 5, "customer_id"]) == top
    # every customer has one order: all tie -> frequency score 1
    assert set(out["f_score"]) == {1}


def test_rfm_lookback_and_columns():
    orders = _orders().rename(columns={"customer_id": "client", "amount": "paid"})
    out = rfm(orders, AS_OF, lookback_days=61, customer_col="client", value_col="paid")
    # the window starts 2025-11-01 00:00 (inclusive): d (2024) and b's June order fall outside
    assert out["customer_id"].tolist() == ["a", "b", "c", "e"]
    assert out["frequency"].tolist() == [2, 2, 1, 1]
    assert rfm(orders, AS_OF, lookback_days=60, customer_col="client", value_col="paid")["frequency"].tolist() \
        == [2, 1, 1, 1]
    with pytest.raises(CRMError, match="orders.*amount"):
        rfm(orders, AS_OF)
    with pytest.raises(ParameterError, match="as_of is required"):
        rfm(_orders(), None)


def test_rule_table_is_a_partition_and_overridable(tmp_path):
    rules = rfm_rules()
    assert rules.n_bins == 5 and len(rules.segments) == 11
    names = [r["name"] for r in rules.segments]
    for expected in ("champions", "loyal", "potential loyalists", "new", "at risk", "can't lose",
                     "hibernating", "lost"):
        assert expected in names
    # every (R, F) cell of the 5 x 5 grid matches exactly one default rule
    for r in range(1, 6):
        for f in range(1, 6):
            hits = [x["name"] for x in rules.segments if x["r"][0] <= r <= x["r"][1] and x["f"][0] <= f <= x["f"][1]]
            assert len(hits) == 1, (r, f, hits)
    table = rules.table()
    assert table["segment"].iloc[0] == "champions" and table["r_min"].iloc[0] == 5

    custom = [{"name": "big spenders", "m": [5, 5]}, {"name": "recent", "r": [4, 5]}]
    out = rfm(_orders(), AS_OF, rules=custom)
    assert out["segment"].tolist() == ["recent", "other", "big spenders", "other", "other"]
    path = tmp_path / "rules.yaml"
    path.write_text("n_bins: 3\ndefault: rest\nsegments:\n  - name: top\n    f: [3, 3]\n", encoding="utf-8")
    out3 = rfm(_orders(), AS_OF, rules=path)
    # 3 bins: f = 1 + floor(3 * worse / 5): a (3 worse) -> 2, b (4 worse) -> 3
    assert out3["f_score"].tolist() == [2, 3, 1, 1, 1]
    assert out3["segment"].tolist() == ["rest", "top", "rest", "rest", "rest"]

    with pytest.raises(ParameterError, match="r must be"):
        rfm_rules([{"name": "x", "r": [0, 9]}])
    with pytest.raises(ParameterError, match="unknown key"):
        rfm_rules([{"name": "x", "recency": [1, 2]}])
    with pytest.raises(ParameterError, match="no 'name'"):
        rfm_rules([{"r": [1, 2]}])
    with pytest.raises(ParameterError, match="does not exist"):
        rfm_rules(tmp_path / "missing.yaml")


def test_summary_and_grid_hand_worked():
    out = rfm(_orders(), AS_OF)
    s = segment_summary(out)
    assert s["segment"].tolist() == ["promising", "lost", "loyal", "hibernating"]  # by revenue
    loyal = s.set_index("segment").loc["loyal"]
    assert loyal["customers"] == 2 and loyal["revenue"] == 45.0
    assert loyal["customer_share"] == pytest.approx(0.4) and loyal["revenue_share"] == pytest.approx(45 / 196)
    assert loyal["mean_frequency"] == pytest.approx(2.5)
    assert s["action"].str.len().gt(10).all()
    g = rfm_grid(out)
    assert g[["r_score", "f_score", "customers"]].values.tolist() == [[1, 1, 1], [2, 1, 1], [3, 5, 1], [4, 1, 1],
                                                                     [4, 4, 1]]


def test_engine_table_in_lazy_out():
    con = engine.connect()
    t = con.create_table("orders", _orders())
    lazy = rfm(t, AS_OF)
    assert engine.is_lazy(lazy)
    pd.testing.assert_frame_equal(engine.collect(lazy), rfm(_orders(), AS_OF))
    assert engine.is_lazy(segment_summary(lazy)) and engine.is_lazy(rfm_grid(lazy))


# --- levels ------------------------------------------------------------------------------------


def test_levels_hand_worked():
    orders = _orders()
    events = pd.DataFrame({
        "customer_id": ["c", "d", "x"],
        "occurred_at": pd.to_datetime(["2025-06-01", "2026-02-01", "2025-01-01"], utc=True),
        "event": ["referral", "referral", "referral"],
    })
    surveys = pd.DataFrame({
        "customer_id": ["b", "b", "e"],
        "answered_at": pd.to_datetime(["2025-01-01", "2025-07-01", "2025-03-01"], utc=True),
        "nps": [10, 3, 9],
    })
    lv = customer_levels(orders, AS_OF, events, surveys)
    # a: 2 orders; b: 3 orders, latest NPS 3 (the earlier 10 does not count); c: referred;
    # d: the referral is after as_of; e: promoter; x: referred but never bought -> not a buyer
    assert lv["customer_id"].tolist() == ["a", "b", "c", "d", "e"]
    assert lv["level"].tolist() == ["repeat", "repeat", "advocate", "first-time", "advocate"]
    assert lv["n_referrals"].tolist() == [0, 0, 1, 0, 0]
    assert lv["latest_nps"].tolist()[1] == 3 and lv["latest_nps"].tolist()[4] == 9
    only_ref = customer_levels(orders, AS_OF, events, surveys, advocate_by=("referral",))
    assert only_ref["level"].tolist() == ["repeat", "repeat", "advocate", "first-time", "first-time"]
    strict = customer_levels(orders, AS_OF, events, surveys, advocate_requires_repeat=True)
    assert strict["level"].tolist() == ["repeat", "repeat", "first-time", "first-time", "first-time"]
    lower = customer_levels(orders, AS_OF, events, surveys, promoter_min=3, repeat_min_orders=3)
    assert lower["level"].tolist() == ["first-time", "advocate", "advocate", "first-time", "advocate"]
    s = level_summary(lv)
    assert s["level"].tolist() == ["first-time", "repeat", "advocate"]
    assert s["customers"].tolist() == [1, 2, 2] and s["share"].sum() == pytest.approx(1.0)
    with pytest.raises(ParameterError, match="unknown criteria"):
        customer_levels(orders, AS_OF, advocate_by=("likes",))


@pytest.fixture(scope="module")
def company():
    tables, _, truth_customers = synthetic.generate(6_000, seed=11)
    return tables, truth_customers


def test_levels_recover_planted_advocates(company):
    tables, tc = company
    lv = customer_levels(tables["orders"], AS_OF, tables["events"], advocate_by=("referral",))
    # truth "advocate" = the buyer's referrals happened inside the history: identical sets
    planted = set(tc.loc[tc["advocate"], "customer_id"])
    assert len(planted) > 100
    assert set(lv.loc[lv["level"] == "advocate", "customer_id"]) == planted
    # buyers = converted contacts with a completed first order: all of them have a level
    assert set(lv["customer_id"]) == set(tc.loc[tc["converted"], "customer_id"])


def test_rfm_on_synthetic_company(company):
    tables, tc = company
    out = rfm(tables["orders"], AS_OF)
    assert set(out["customer_id"]) == set(tc.loc[tc["converted"], "customer_id"])
    seg = out.drop(columns="segment").merge(tc[["customer_id", "segment"]], on="customer_id")
    # planted purchase rates (days between intents): loyal 18, bargain 30, premium 40, occasional 110
    mean_f = seg.groupby("segment")["f_score"].mean()
    assert mean_f["loyal"] > mean_f["bargain"] > mean_f["occasional"]
    assert mean_f["premium"] > mean_f["occasional"]
    # premium buys the top price tier: the highest mean monetary score
    assert seg.groupby("segment")["m_score"].mean().idxmax() == "premium"
    s = segment_summary(out)
    assert s["customers"].sum() == len(out)
    assert s["revenue_share"].sum() == pytest.approx(1.0)


def test_levels_with_integer_ids_and_no_events_or_surveys():
    """Integer customer ids without referral or NPS data: the empty stand-in tables take the ids' type.

    They were declared as strings, and the join failed (IbisTypeError int64 vs string).
    """
    orders = pd.DataFrame({"customer_id": [1, 1, 1, 2, 3, 3], "ordered_at": pd.to_datetime(
        ["2025-06-03", "2025-11-20", "2025-12-20", "2025-11-02", "2025-10-10", "2025-12-11"], utc=True)})
    levels = customer_levels(orders, AS_OF)
    assert levels["customer_id"].tolist() == [1, 2, 3] and levels["n_orders"].tolist() == [3, 1, 2]
    assert levels["level"].tolist() == ["repeat", "first-time", "repeat"] and (levels["n_referrals"] == 0).all()
    assert level_summary(levels)["customers"].tolist() == [1, 2]


def test_customer_clusters_repr():
    from crm_research.segments import CustomerClusters

    assert repr(CustomerClusters()) == "CustomerClusters()"
    assert repr(CustomerClusters(k=4, n_bootstrap=0, seed=3)) == "CustomerClusters(k=4, n_bootstrap=0, seed=3)"
