"""The customer-base models as notebook 05 reaches them: from the data model's tables.

The published fits are reproduced through the builders a client's data goes through (a
``subscriptions`` table, an ``orders`` table), not only from the papers' summary tables;
``project_subscriptions`` recovers a planted churn rate; ``occasion_pattern`` tells a yearly
appeal from a monthly box and from a shop open every day.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crm_research.churn import (
    BetaGeoBetaBinomModel,
    ShiftedBetaGeoModel,
    discrete_summary,
    occasion_pattern,
    project_subscriptions,
    purchase_days_by_date,
    subscription_histories,
)

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def _dataset(name: str) -> pd.DataFrame:
    path = DATASETS / name
    if not path.exists():
        pytest.skip(f"{path} not found: the validation datasets live in ../shared/datasets beside the project")
    return pd.read_csv(path)


def test_sbg_from_a_subscriptions_table_reproduces_fader_hardie_2007():
    """Each cohort's survivors become subscriptions started 1 Jan 2015 on yearly contracts."""
    s = _dataset("retention/survivors.csv")
    for cohort, (alpha, beta) in {"regular": (0.704, 1.182), "high_end": (0.668, 3.806)}.items():
        alive = s[cohort].to_numpy()
        lost = -np.diff(alive)
        ended = np.repeat([f"{2015 + y}-01-01" for y in range(1, len(alive))], lost).tolist()
        subs = pd.DataFrame({"customer_id": [f"S{i}" for i in range(alive[0])],
                             "started_at": pd.Timestamp("2015-01-01", tz="UTC"),
                             "ended_at": pd.to_datetime(ended + [None] * alive[-1], utc=True)})
        # the day after the year-7 renewals: the survivors of year 7 have renewed 7 times
        h = subscription_histories(subs, "2022-01-02", period="Y")
        assert h["churned"].sum() == alive[0] - alive[-1] and h.loc[h["churned"] == 0, "periods"].eq(7).all()
        m = ShiftedBetaGeoModel(weights_col=None).fit(h)
        assert (round(m.params_["alpha"], 3), round(m.params_["beta"], 3)) == (alpha, beta)


def test_bgbb_from_an_orders_table_reproduces_fader_hardie_shang_2010():
    """The 11,104 donors as orders: a first gift in 1995, then gifts on 15 November of the years
    their (frequency, recency) pattern says (earlier gifts placed at random: the fit uses only x, t_x)."""
    d = _dataset("donations/donations.csv")
    rng = np.random.default_rng(0)
    rows, n = [], 0
    for f, r, w in d[["frequency", "recency", "weights"]].itertuples(index=False):
        for _ in range(w):
            years = [] if f == 0 else sorted(rng.choice(np.arange(1, r), size=f - 1, replace=False).tolist()) + [r]
            rows += [(n, 1995)] + [(n, 1995 + y) for y in years]
            n += 1
    orders = pd.DataFrame(rows, columns=["customer_id", "year"])
    orders = pd.DataFrame({"customer_id": orders["customer_id"].astype(str),
                           "ordered_at": pd.to_datetime(orders["year"].astype(str) + "-11-15", utc=True)})
    assert occasion_pattern(purchase_days_by_date(orders, "2002-01-01")) == {
        "share": 100.0, "occasions_per_year": pytest.approx(1.0, abs=0.01), "period": "Y"}
    summary = discrete_summary(orders, "2002-01-01", period="Y")
    patterns = summary.groupby(["frequency", "recency", "periods"]).size().rename("weights").reset_index()
    pd.testing.assert_frame_equal(patterns, d, check_dtype=False)
    m = BetaGeoBetaBinomModel().fit(summary)
    assert [round(m.params_[k], 3) for k in ("alpha", "beta", "gamma", "delta")] == [1.204, 0.750, 0.657, 2.783]
    assert m.log_likelihood_ == pytest.approx(-33225.6, abs=0.05)


def test_project_subscriptions_recovers_a_planted_churn_rate_and_values_the_rest():
    """Plan A ends with 8 % a month, plan B with 3 %, the same for every subscriber (no polarisation)."""
    rng = np.random.default_rng(4)
    rows = []
    for plan, p, mrr in (("A", 0.08, 10.0), ("B", 0.03, 30.0)):
        for _ in range(4_000):
            life = rng.geometric(p)  # months until the end (the end of month `life`)
            start = rng.integers(0, 36)  # months before the analysis date
            rows.append((plan, life - 1 if life <= start else start, int(life <= start), mrr))
    h = pd.DataFrame(rows, columns=["plan", "periods", "churned", "mrr"])
    table, models = project_subscriptions(h, group_col="plan", horizon=12, discount_rate=0.05, value_col="mrr",
                                          total_label="All plans")
    t = table.set_index("group")
    assert t.loc["A", "churn_next"] == pytest.approx(0.08, abs=0.01)
    assert t.loc["B", "churn_next"] == pytest.approx(0.03, abs=0.006)
    running = (h["churned"] == 0).groupby(h["plan"]).sum()
    assert t.loc["A", "running_after"] == pytest.approx(running["A"] * 0.92 ** 12, rel=0.1)
    assert t.loc["B", "running_after"] == pytest.approx(running["B"] * 0.97 ** 12, rel=0.05)
    assert t.loc[["A", "B"], "polarization"].lt(0.01).all()
    # value: monthly revenue x sum over k>=0 of (1-p)^(k+1) / 1.05^k (the next renewal counted in full);
    # a steep discount, because the 36 months of data cannot tell how thin the tail is beyond them
    brute = running["B"] * 30.0 * 0.97 / (1 - 0.97 / 1.05)
    assert t.loc["B", "value"] == pytest.approx(brute, rel=0.05)
    assert t.loc["All plans", "running"] == running.sum()
    assert t.loc["All plans", "value"] == pytest.approx(t.loc[["A", "B"], "value"].sum())
    assert set(models) == {"A", "B", "All plans"}


def test_occasion_pattern_tells_a_monthly_box_from_a_shop_open_every_day():
    box = pd.DataFrame({"day": pd.date_range("2023-01-05", periods=24, freq="MS").date, "buyers": 100})
    assert occasion_pattern(box)["period"] == "M" and occasion_pattern(box)["share"] == 100.0
    shop = pd.DataFrame({"day": pd.date_range("2024-01-01", "2025-12-31").date, "buyers": 3})
    assert occasion_pattern(shop)["share"] == pytest.approx(100 * 24 / 731, abs=0.5)
    quarterly = pd.DataFrame({"day": pd.date_range("2022-02-10", periods=12, freq="QS-FEB").date, "buyers": 50})
    assert occasion_pattern(quarterly)["period"] == "Q"


def test_a_trial_plan_that_never_renews_takes_the_model_of_all_and_the_check_says_when_it_cannot_run():
    from crm_research.churn import holdout_periods

    basic = pd.DataFrame({"plan": "basic", "periods": np.r_[np.arange(12), np.arange(12)],
                          "churned": np.r_[np.ones(12, int), np.zeros(12, int)]})
    trial = pd.DataFrame({"plan": "trial", "periods": 0, "churned": np.ones(15, int)})
    table, models = project_subscriptions(pd.concat([basic, trial], ignore_index=True), group_col="plan")
    t = table.set_index("group")
    assert t.loc["basic", "model"] == "own" and t.loc["trial", "model"] == "all subscriptions"
    assert models["trial"] is models["(all)"]
    assert holdout_periods(basic) == 5
    # annual contracts with a minimum term: nothing ends in the first half, so no check
    late = pd.DataFrame({"periods": [6, 7, 8, 9, 9], "churned": [1, 1, 1, 0, 0]})
    assert holdout_periods(late) is None


def test_two_appeals_a_year_fit_no_calendar_period_and_the_section_says_so():
    from crm_research import data, needs

    days = pd.to_datetime([f"{y}-{m}-01" for y in range(2020, 2026) for m in ("04", "10")], utc=True)
    rows = [(f"D{i:03d}", d) for i in range(60) for j, d in enumerate(days) if (i + j) % 3]
    orders = pd.DataFrame(rows, columns=["customer_id", "ordered_at"]).assign(amount=10.0)
    assert occasion_pattern(purchase_days_by_date(orders, "2026-01-01"))["period"] is None
    crm = data.load({"orders": orders}, as_of="2026-01-01")
    v = {x.section.key: x for x in needs.verdicts(crm, "2026-01-01", "05")}["occasions"]
    assert v.status == "skip" and "once a year, once a quarter or once a month" in v.reason
