"""RFM churn risk (the MVP): hand-worked scores and bands, and its hit rate on the synthetic
company, whose customers' true 'death' dates are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm_research import synthetic
from crm_research.churn import hit_rate_table, rfm_risk
from crm_research.errors import CRMError, ParameterError

T0 = pd.Timestamp("2025-01-01", tz="UTC")


def _orders(rows):
    return pd.DataFrame([{"order_id": f"o{i}", "customer_id": c, "ordered_at": T0 + pd.Timedelta(days=d),
                          "amount": a, "status": s} for i, (c, d, a, s) in enumerate(rows)])


@pytest.fixture
def orders():
    return _orders([
        ("A", 0, 10.0, "completed"), ("A", 20, 10.0, "completed"), ("A", 40, 10.0, "completed"),
        ("A", 40.5, 5.0, "completed"),          # same purchase day: not a new gap
        ("B", 0, 30.0, "completed"), ("B", 90, 30.0, "completed"),
        ("C", 50, 7.0, "completed"),
        ("D", 10, 99.0, "cancelled"),           # never completed: not scored
        ("A", 120, 10.0, "completed"),          # after the cut-off: ignored
    ])


def test_hand_worked(orders):
    s = rfm_risk(orders, T0 + pd.Timedelta(days=100)).set_index("customer_id")
    # own gaps: A (last 40.5 - first 0) / (3 days - 1) = 20.25, B 90/1 = 90; g0 = median = 55.125
    assert s["own_gap_days"].tolist()[:2] == pytest.approx([20.25, 90.0])
    assert np.isnan(s.loc["C", "own_gap_days"])
    assert s.attrs["population_gap_days"] == pytest.approx(55.125)
    assert list(s.index) == ["A", "B", "C"]
    assert s["recency_days"].tolist() == pytest.approx([59.5, 10.0, 50.0])
    assert s["n_purchase_days"].tolist() == [3, 2, 1]
    assert s["revenue"].tolist() == pytest.approx([35.0, 60.0, 7.0])
    # shrunk with 2 pseudo-gaps: A (2*55.125 + 2*20.25)/4; B (2*55.125 + 90)/3; C g0
    expected = np.array([37.6875, 66.75, 55.125])
    assert s["expected_gap_days"].to_numpy() == pytest.approx(expected)
    ratio = np.array([59.5, 10.0, 50.0]) / expected
    assert s["overdue_ratio"].to_numpy() == pytest.approx(ratio)
    assert s["risk_score"].to_numpy() == pytest.approx(1 - np.exp(-ratio))
    assert s["risk_band"].astype(str).tolist() == ["cooling", "active", "active"]
    # trusting own rhythm only: A's expected gap is its own 20.25 days -> 2.94 -> at risk
    own = rfm_risk(orders, T0 + pd.Timedelta(days=100), prior_gaps=0).set_index("customer_id")
    assert own.loc["A", "expected_gap_days"] == pytest.approx(20.25)
    assert own.loc["A", "risk_band"] == "at risk"


def test_hit_rate_table_by_hand():
    scores = pd.DataFrame({"customer_id": list("abcdef"),
                           "risk_band": pd.Categorical(["active", "active", "lapsed", "lapsed", "lapsed", "cooling"],
                                                       categories=["active", "cooling", "lapsed"], ordered=True),
                           "risk_score": [0.1, 0.2, 0.9, 0.8, 0.7, 0.5]})
    outcomes = pd.DataFrame({"customer_id": list("abcdefz"), "churned": [0, 1, 1, 1, 0, 0, 1]})
    t = hit_rate_table(scores, outcomes).set_index("band")
    assert t["n"].tolist() == [2, 1, 3, 6]                      # z has no score: left out
    assert t["churned"].tolist() == [1, 0, 2, 3]
    assert t["hit_rate"].tolist() == pytest.approx([0.5, 0.0, 2 / 3, 0.5])
    assert t["lift"].tolist() == pytest.approx([1.0, 0.0, 4 / 3, 1.0])
    assert t["recall"].tolist() == pytest.approx([1 / 3, 0.0, 2 / 3, 1.0])
    # AUC by pairs: churners (0.2, 0.9, 0.8) vs stayers (0.1, 0.7, 0.5): 7 of 9 pairs ordered
    assert t.loc["all", "auc"] == pytest.approx(7 / 9)


def test_hit_rate_on_the_synthetic_company():
    """Planted truth: each buyer's 'death' date. Measured on 30k contacts, seed 3, as of
    2025-07-01 (7,267 buyers, 40.6% truly gone): hit rate 3.9% / 19.0% / 38.9% / 80.5% from
    'active' to 'lapsed', AUC 0.895 (recency alone: 0.900 -- on this company the own-rhythm
    adjustment does not add to plain recency)."""
    tables, _, tc = synthetic.generate(30_000, seed=3)
    cut = pd.Timestamp("2025-07-01", tz="UTC")
    s = rfm_risk(tables["orders"], cut)
    t = hit_rate_table(s, tc[["customer_id"]].assign(churned=(tc["died_at"] < cut).astype(int))).set_index("band")
    rates = t.loc[["active", "cooling", "at risk", "lapsed"], "hit_rate"].to_numpy()
    assert np.all(np.diff(rates) > 0.1)                         # each band clearly worse than the last
    assert rates[0] < 0.06 and rates[-1] > 0.75
    assert t.loc["lapsed", "recall"] > 0.7
    assert t.loc["all", "auc"] > 0.88


def test_bad_input(orders):
    with pytest.raises(ParameterError, match="prior_gaps"):
        rfm_risk(orders, "2025-06-01", prior_gaps=-1)
    with pytest.raises(ParameterError, match="band_edges"):
        rfm_risk(orders, "2025-06-01", band_edges=(2, 1, 4))
    with pytest.raises(CRMError, match="no purchase before"):
        rfm_risk(orders, "2024-06-01")
    with pytest.raises(CRMError, match="two purchase days"):
        rfm_risk(orders[orders["customer_id"] == "C"], "2025-06-01")
    with pytest.raises(CRMError, match="'outcomes' has no column"):
        hit_rate_table(rfm_risk(orders, "2025-06-01"), pd.DataFrame({"customer_id": ["A"]}))
