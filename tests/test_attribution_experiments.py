"""A/B and A/B/n analysis: hand-computed statistics, power, warnings and assignments from events.

The planted A/B test of the synthetic company is recovered in ``test_attribution_synthetic.py``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from crm_research.attribution import (
    ABTest,
    ab_assignments,
    minimum_detectable_lift,
    required_sample_size,
    test_power,
)
from crm_research.errors import CRMError, ParameterError

Z = stats.norm.ppf(0.975)


def wilson(k, n):
    p = k / n
    c = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    h = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return c - h, c + h


def counts(*arms):
    return pd.DataFrame(arms, columns=["arm", "n", "conversions"])


def test_two_arms_by_hand():
    s = ABTest().fit(counts(("control", 1000, 80), ("variant", 1000, 100))).summary_.set_index("arm")
    v = s.loc["variant"]
    assert v.rate == 0.1 and s.loc["control", "rate"] == 0.08
    assert (v.rate_low, v.rate_high) == pytest.approx(wilson(100, 1000), abs=1e-12)
    # pooled z: p = 0.09, se = sqrt(.09 × .91 × 2/1000)
    z = 0.02 / math.sqrt(0.09 * 0.91 * 2 / 1000)
    assert v.z == pytest.approx(z, rel=1e-9) and z == pytest.approx(1.5627, abs=1e-4)
    assert v.p_value == pytest.approx(2 * stats.norm.sf(z), rel=1e-9)
    # Newcombe's hybrid score interval from the two Wilson intervals
    l1, u1 = wilson(100, 1000)
    l2, u2 = wilson(80, 1000)
    assert v["diff"] == pytest.approx(0.02)
    assert v.diff_low == pytest.approx(0.02 - math.sqrt((0.1 - l1) ** 2 + (u2 - 0.08) ** 2), abs=1e-9)
    assert v.diff_high == pytest.approx(0.02 + math.sqrt((u1 - 0.1) ** 2 + (0.08 - l2) ** 2), abs=1e-9)
    # relative lift: log interval with 0.5 added to every count
    r = (100.5 / 1000.5) / (80.5 / 1000.5)
    se = math.sqrt(1 / 100.5 - 1 / 1000.5 + 1 / 80.5 - 1 / 1000.5)
    assert v.lift == pytest.approx(0.25)
    assert (v.lift_low, v.lift_high) == pytest.approx((r * math.exp(-Z * se) - 1, r * math.exp(Z * se) - 1))
    assert not v.significant and v.p_adjusted == v.p_value


def test_sample_size_and_power():
    # arcsine formula: n = 2 (z_.975 + z_.8)^2 / h^2 with h = 2 asin √.10 - 2 asin √.08
    h = 2 * math.asin(math.sqrt(0.10)) - 2 * math.asin(math.sqrt(0.08))
    n = 2 * (Z + stats.norm.ppf(0.8)) ** 2 / h**2
    assert required_sample_size(0.08, 0.02) == math.ceil(n) == 3205
    # the textbook unpooled normal formula gives 3,210: within 1 %
    textbook = (Z + stats.norm.ppf(0.8)) ** 2 * (0.08 * 0.92 + 0.1 * 0.9) / 0.02**2
    assert abs(3205 / textbook - 1) < 0.01
    assert required_sample_size(0.08, 0.25, relative=True) == 3205
    assert test_power(0.08, 0.02, 3205) >= 0.8 > test_power(0.08, 0.02, 3100)
    assert minimum_detectable_lift(0.08, 3205) == pytest.approx(0.02, abs=2e-5)
    # three variants against control: alpha split in three
    assert required_sample_size(0.08, 0.02, n_comparisons=3) > 4000


def test_abn_holm_correction():
    s = ABTest(correction="holm").fit(counts(("control", 2000, 160), ("b", 2000, 180), ("c", 2000, 230)))
    t = s.summary_.set_index("arm")
    p = {a: 2 * stats.norm.sf(abs(t.loc[a, "z"])) for a in ("b", "c")}
    # Holm: smallest p × 2, next p × 1 (kept monotone)
    assert t.loc["c", "p_adjusted"] == pytest.approx(2 * p["c"], rel=1e-9)
    assert t.loc["b", "p_adjusted"] == pytest.approx(max(p["b"], 2 * p["c"]), rel=1e-9)
    assert list(t.index) == ["control", "b", "c"]
    assert bool(t.loc["c", "significant"]) and not bool(t.loc["b", "significant"])
    b = ABTest(correction="bonferroni").fit(counts(("control", 2000, 160), ("b", 2000, 180), ("c", 2000, 230)))
    assert b.summary_.p_adjusted.iloc[1] == pytest.approx(min(1, 2 * p["b"]), rel=1e-9)


def test_warnings_in_plain_words():
    clean = ABTest(target_lift=0.02, planned_n_per_arm=4000).fit(
        counts(("control", 4000, 320), ("variant", 4000, 400)))
    assert clean.warnings_ == []
    w = ABTest(target_lift=0.02, planned_n_per_arm=4000).fit(counts(("control", 900, 72), ("variant", 950, 95)))
    text = " ".join(w.warnings_)
    assert "Stopped early" in text and "900 (22%)" in text
    assert "Underpowered" in text and "+2.0 percentage points" in text
    srm = ABTest().fit(counts(("control", 1000, 80), ("variant", 1300, 100)))
    assert any("Sample ratio mismatch" in x for x in srm.warnings_)
    tiny = ABTest().fit(counts(("control", 50, 2), ("variant", 50, 6)))
    assert any("fewer than 5 conversions" in x for x in tiny.warnings_)


def _ts(s):
    return pd.Timestamp(s, tz="UTC")


def test_ab_assignments_by_hand():
    events = pd.DataFrame({
        "customer_id": ["A", "B", "C", "D", "E", "E", "F"],
        "occurred_at": [_ts("2025-09-01 08:00")] * 7,
        "event": ["email_sent"] * 6 + ["email_open"],
        "campaign_id": ["ctl", "var", "ctl", "var", "ctl", "var", "var"],
        "channel": ["email"] * 7,
    })
    orders = pd.DataFrame({
        "order_id": ["o1", "o2", "o3", "o4", "o5"],
        "customer_id": ["A", "B", "C", "D", "D"],
        "ordered_at": [_ts("2025-09-10"), _ts("2025-09-15 07:59"), _ts("2025-09-15 08:00"), _ts("2025-09-02"),
                       _ts("2025-09-03")],
        "amount": [10.0, 20.0, 30.0, 40.0, 50.0],
        "promo_code": ["AB", "AB", "AB", "OTHER", "AB"],
        "status": ["completed", "cancelled", "completed", "completed", "completed"],
    })
    a = ab_assignments(events, orders, arms={"control": "ctl", "variant": "var"}, window_days=14, promo_code="AB",
                       as_of="2025-09-20").set_index("customer_id")
    # A inside the window; B 1 minute before it closes (cancelled orders count: an order was placed);
    # C exactly at its end (excluded); D's first order has another code, its second counts
    assert a.converted.to_dict() == {"A": True, "B": True, "C": False, "D": True, "E": False}
    assert a.loc["D", "conversion_value"] == 50.0 and a.loc["E", "n_arms"] == 2
    assert a.arm.to_dict() == {"A": "control", "B": "variant", "C": "control", "D": "variant", "E": "control"}
    assert a.complete_window.all()  # 1 Sep 08:00 + 14 days <= 20 Sep
    with pytest.raises(CRMError, match="more than one arm"):
        ABTest().fit(a.reset_index())
    ok = ABTest().fit(a.reset_index().query("n_arms == 1")).summary_.set_index("arm")
    assert ok[["n", "conversions"]].to_dict("index") == {"control": {"n": 2, "conversions": 1},
                                                         "variant": {"n": 2, "conversions": 2}}
    early = ab_assignments(events, orders, arms={"control": "ctl", "variant": "var"}, window_days=14,
                           promo_code="AB", as_of="2025-09-12").query("n_arms == 1")
    assert early.converted.tolist() == [True, False, False, True] and not early.complete_window.any()
    w = ABTest().fit(early).warnings_
    assert any("4 units were exposed less than the conversion window" in x for x in w)
    # the analysis date is required (no silent "all data"); a missing column is named with its argument
    with pytest.raises(ParameterError, match="as_of is required"):
        ab_assignments(events, orders, arms={"control": "ctl", "variant": "var"}, window_days=14, as_of=None)
    with pytest.raises(CRMError, match="no column\\(s\\) promo_col='promo_code'.*promo_code=None"):
        ab_assignments(events, orders.drop(columns="promo_code"), arms={"control": "ctl", "variant": "var"},
                       window_days=14, promo_code="AB", as_of="2025-09-20")


def test_ab_errors():
    with pytest.raises(CRMError, match="control arm 'control' not found"):
        ABTest().fit(counts(("a", 10, 1), ("b", 10, 2)))
    with pytest.raises(CRMError, match="correction"):
        ABTest(correction="sidak!").fit(counts(("control", 10, 1), ("b", 10, 2)))
    with pytest.raises(CRMError, match="between 0 and n"):
        ABTest().fit(counts(("control", 10, 11), ("b", 10, 2)))
    assert np.isnan(test_power(0.08, 0.02, 0))
