"""Churn definitions: hand-worked durations, events and right-censoring at the cut-off."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from crm_research.churn import contractual_churn, noncontractual_churn
from crm_research.errors import CRMError, ParameterError

UTC = "UTC"


def ts(s):
    return pd.Timestamp(s, tz=UTC)


def test_contractual_hand_worked():
    subs = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d"],
        "started_at": [ts("2025-01-01"), ts("2025-03-01"), ts("2025-05-01"), ts("2025-07-01")],
        # a ended before the cut-off; b ends after it (unknown at the cut-off); c is active;
        # d starts after the cut-off
        "ended_at": [ts("2025-02-15"), ts("2025-08-01"), pd.NaT, pd.NaT],
        "plan": ["basic", "plus", "premium", "basic"],
    })
    out = contractual_churn(subs, "2025-06-01")
    assert out["customer_id"].tolist() == ["a", "b", "c"]
    assert out["event"].tolist() == [1, 0, 0]
    # a: 1 Jan -> 15 Feb = 45 days; b: 1 Mar -> 1 Jun = 92 days (censored); c: 1 May -> 1 Jun = 31
    assert out["duration_days"].tolist() == [45.0, 92.0, 31.0]
    assert out["ended_at"].isna().tolist() == [False, True, True]  # b's future end is hidden
    assert out["plan"].tolist() == ["basic", "plus", "premium"]


def test_contractual_rejects_end_before_start():
    subs = pd.DataFrame({"customer_id": ["x"], "started_at": [ts("2025-02-01")], "ended_at": [ts("2025-01-01")]})
    with pytest.raises(CRMError, match="ended_at before started_at"):
        contractual_churn(subs, "2025-06-01")


@pytest.fixture()
def orders():
    return pd.DataFrame({
        "customer_id": ["a", "a", "a", "b", "b", "c", "c"],
        "ordered_at": [ts("2025-01-01"), ts("2025-01-11"), ts("2025-03-02"),  # a: last 2 Mar
                       ts("2025-01-05"), ts("2025-05-20"),  # b: lapse of 135 days, came back
                       ts("2025-04-01"), ts("2025-06-10")],  # c: the June order is after the cut-off
        "amount": [10.0, 20.0, 30.0, 5.0, 5.0, 8.0, 9.0],
        "status": ["completed", "completed", "completed", "completed", "completed", "completed", "completed"],
    })


def test_noncontractual_hand_worked(orders):
    out = noncontractual_churn(orders, "2025-06-01", inactivity_days=60).set_index("customer_id")
    # a: last purchase 2 Mar, 91 days before 1 Jun >= 60 -> churned on 1 May, 120 days after 1 Jan
    a = out.loc["a"]
    assert (a["event"], a["recency_days"], a["duration_days"]) == (1, 91.0, 120.0)
    assert a["churned_at"] == ts("2025-05-01")
    assert (a["n_orders"], a["n_purchase_days"], a["revenue"]) == (3, 3, 60.0)
    # b: a 135-day lapse followed by a purchase is reactivation, not churn: censored
    b = out.loc["b"]
    assert (b["event"], b["recency_days"], b["duration_days"]) == (0, 12.0, 147.0)
    assert pd.isna(b["churned_at"])
    # c: the order after the cut-off is not seen: last purchase 1 Apr, 61 days -> churned
    c = out.loc["c"]
    assert (c["event"], c["n_orders"], c["duration_days"]) == (1, 1, 60.0)


def test_noncontractual_lazy_equals_pandas(orders):
    con = ibis.duckdb.connect()
    lazy = noncontractual_churn(con.create_table("o", orders), "2025-06-01", inactivity_days=60)
    pd.testing.assert_frame_equal(lazy, noncontractual_churn(orders, "2025-06-01", inactivity_days=60))


def test_noncontractual_threshold_is_a_parameter(orders):
    out = noncontractual_churn(orders, "2025-06-01", inactivity_days=100)
    assert out["event"].tolist() == [0, 0, 0]
    assert np.allclose(out["duration_days"], [151.0, 147.0, 61.0])
    with pytest.raises(ParameterError):
        noncontractual_churn(orders, "2025-06-01", inactivity_days=0)
