"""Notebook 01's sentences and small tables, moved into kpi.story, kpi.story_review and plots.kpi: hand-worked numbers."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from crm_research import kpi  # noqa: E402
from crm_research.kpi import story, story_review  # noqa: E402
from crm_research.plots.kpi import plot_breakdown_panels, plot_metric_trends  # noqa: E402
from crm_research.settings import ReportSettings  # noqa: E402

S = ReportSettings()
UTC = "UTC"


def months(n: int, end: str = "2026-01-01") -> pd.DatetimeIndex:
    return pd.date_range(end=pd.Timestamp(end, tz=UTC) - pd.DateOffset(months=1), periods=n, freq="MS")


def baseline(values: dict[str, list[float]], n: int, **cols) -> pd.DataFrame:
    """A hand-made baseline: every metric over the same n monthly periods up to 2026-01-01."""
    starts = months(n)
    rows = []
    for m, vals in values.items():
        for i, (p, v) in enumerate(zip(starts, vals, strict=True)):
            rows.append({"metric": m, "period": p, "period_end": p + pd.DateOffset(months=1), "value": v,
                         "unit": kpi.METRICS[m].unit, **{k: c[m][i] if m in c else np.nan for k, c in cols.items()}})
    return pd.DataFrame(rows)


def test_as_of_inside():
    assert not story.as_of_inside("2026-01-01", "M") and story.as_of_inside("2026-01-02", "M")
    assert not story.as_of_inside("2025-12-29", "W")  # a Monday
    assert not story.as_of_inside("2026-04-01", "Q") and story.as_of_inside("2026-03-01", "Q")


def test_latest_paragraph_and_nps_finding():
    now = pd.DataFrame({
        "metric": ["active_customers", "orders", "revenue", "average_order_value", "retention_rate", "customers",
                   "repeat_purchase_rate", "nps"],
        "period": pd.Timestamp("2025-12-01", tz=UTC), "period_end": pd.Timestamp("2026-01-01", tz=UTC),
        "value": [120, 150, 7500.0, 50.0, 0.25, 900, 0.4, -12.0],
        "denominator": [np.nan, np.nan, np.nan, np.nan, 80, np.nan, np.nan, 200],
        "ci_low": [np.nan] * 4 + [0.17, np.nan, 0.37, -20.5], "ci_high": [np.nan] * 4 + [0.36, np.nan, 0.43, -3.1]})
    text = story.latest_paragraph(now, "2026-01-01", "M", S)
    assert text == ("**Latest period: 01 Dec 2025 to 31 Dec 2025.** 120 customers placed 150 orders worth 7,500 "
                    "(an average order of 50.00). Of the 80 customers active in the period before, **25.0%** ordered "
                    "again (95% range 17.0% to 36.0%). Since the start of the data, 900 customers have ordered, "
                    "40.0% of them more than once.")
    # as_of inside the period: the warning, with the advice for the analyst only
    inside = story.latest_paragraph(now.assign(period_end=pd.Timestamp("2025-12-15", tz=UTC)), "2025-12-15", "M", S)
    assert "to 14 Dec 2025 (partial).**" in inside and "**Warning: this period is incomplete.**" in inside
    assert "Set `as_of`" in inside
    assert "Set `as_of`" not in story.latest_paragraph(now, "2025-12-15", "M", S, audience="client")
    # no customer active in the period before: no retention rate
    none = now.assign(denominator=now["denominator"].where(now["metric"] != "retention_rate", 0))
    assert "No customer ordered in the period before" in story.latest_paragraph(none, "2026-01-01", "M", S)
    assert story.nps_finding(now, S) == ("Net Promoter Score **−12** (95% range −20 to −3): clearly more detractors "
                                         "than promoters.")
    assert story.nps_finding(now[now["metric"] != "nps"], S) is None


def test_activity_and_retention_findings_pick_the_latest_full_period():
    n = 14
    kpis = baseline({"active_customers": list(range(100, 100 + n)), "revenue": [1000.0] * (n - 1) + [500.0],
                     "retention_rate": [0.3] * n, "repeat_purchase_rate": [0.4] * n}, n,
                    denominator={"retention_rate": [50] * n, "repeat_purchase_rate": [200] * n},
                    ci_low={"retention_rate": [0.2] * n, "repeat_purchase_rate": [0.35] * n},
                    ci_high={"retention_rate": [0.4] * n, "repeat_purchase_rate": [0.45] * n})
    text = story.activity_finding(kpis, {}, "M", S)
    assert text == ("In Dec 2025, **113** customers bought (+11.9% on Dec 2024, a year earlier), for **500** of "
                    "revenue (−50.0% on Dec 2024, a year earlier).")
    # the latest period partial: November against the period a year before it
    partial = {"active_customers": "the analysis date falls inside it"}
    assert story.latest_full_period(kpis, partial) == pd.Timestamp("2025-11-01", tz=UTC)
    assert story.activity_finding(kpis, partial, "M", S).startswith("In Nov 2025, **112** customers bought (+12.0% on "
                                                                    "Nov 2024, a year earlier)")
    assert story.retention_finding(kpis, partial, "M", S) == (
        "In Nov 2025, **30.0%** of the previous period's buyers bought again (95% range 20.0% to 40.0%); **40.0%** of "
        "all 200 customers so far have ordered more than once (35.0% to 45.0%).")
    one = kpis[kpis["period"] == kpis["period"].max()]
    assert story.activity_finding(one, partial, "M", S) is None
    two = kpis[kpis["period"] >= pd.Timestamp("2025-11-01", tz=UTC)]
    assert story.activity_finding(two, {}, "M", S).startswith(
        "In Dec 2025, **113** customers bought (+0.9% on Nov 2025, the period before)")


def test_goal_worth_step_text_and_scorecard_table():
    kpis = baseline({"retention_rate": [0.3] * 12, "revenue_per_customer": [50.0] * 12,
                     "average_order_value": [40.0] * 12}, 12,
                    numerator={"retention_rate": [30] * 12, "revenue_per_customer": [5000.0] * 12,
                               "average_order_value": [4000.0] * 12},
                    denominator={"retention_rate": [100] * 12, "revenue_per_customer": [100] * 12,
                                 "average_order_value": [100] * 12})
    card = pd.DataFrame({"metric": ["retention_rate", "average_order_value", "nps"], "direction": "increase",
                         "target": [0.35, 45.0, 10.0], "baseline": [0.30, 40.0, 20.0], "owner": "x",
                         "deadline": pd.Timestamp("2026-07-01", tz=UTC), "needed_per_month": [0.01, 5 / 6, 0.0],
                         "status": ["baseline", "baseline", "met"]})
    worth = story_review.goal_worth(card, kpis, "M")
    # retention: 0.05 x 1,200 customers active before x 50 a customer; AOV: 5 x 1,200 orders; NPS already met
    assert worth.to_dict() == {0: pytest.approx(0.05 * 1200 * 50.0), 1: pytest.approx(5 * 1200)}
    text, value = story_review.goal_action(card, worth, S, lambda kind, v: v)
    assert value == pytest.approx(6000.0) and text.startswith("Raise **average_order_value** from 40.00 to the target")
    assert story_review.goal_action(card, worth.iloc[:0], S, lambda kind, v: v) is None
    assert [story_review.step_text(m, x, S) for m, x in (("retention_rate", 0.01), ("nps", -2.0), ("average_order_value", 0.5))] \
        == ["+1.0 pts", "-2.0 points", "+0.50"]
    t = story_review.scorecard_table(card, S)
    assert list(t.columns) == ["kpi", "now", "target", "deadline", "needed"]
    assert t["needed"].tolist() == ["+1.0 pts", "+0.83", "none"] and t["now"].tolist()[0] == "30.0%"
    review = card.assign(current=[0.31, 44.0, 21.0], status=["at-risk", "on-track", "met"])
    assert story_review.scorecard_table(review, S, review=True)["status"].tolist() == ["at risk", "on track", "met"]
    assert story_review.scorecard_table(review, S, review=True)["now"].tolist()[0] == "31.0%"
    # at a review the current value counts: the AOV gap is 1, not 5
    assert story_review.goal_worth(review, kpis, "M")[1] == pytest.approx(1200)
    cols, values = story_review.scorecard_columns(review=True)
    assert cols[-5:] == ["current", "current_ci_low", "current_ci_high", "expected_now", "status"]
    assert set(values) <= set(cols)


def test_cohort_sentence_finding_and_table():
    c = pd.DataFrame({"cohort": pd.to_datetime(["2025-10-01"] * 3 + ["2025-11-01"] * 2 + ["2025-12-01"], utc=True),
                      "age": [0, 1, 2, 0, 1, 0], "customers": [40, 40, 40, 60, 60, 10],
                      "active": [40, 10, 8, 60, 18, 10], "rate": [1, 0.25, 0.2, 1, 0.3, 1],
                      "partial": [False, False, False, False, False, False]})
    at = story.pooled_retention(c, ages=(1, 2, 6))
    assert at.index.tolist() == [1, 2] and at.loc[1, "rate"] == pytest.approx(28 / 100)
    assert story.cohort_sentence(at, "M", S) == ("Over all cohorts shown, **28.0%** ordered again 1 month after their "
                                                 "first order, **20.0%** ordered again 2 months after their first order.")
    # Wilson 95% interval of 28 of 100: 20.1% to 37.5%
    assert story.cohort_finding(at, "M", S) == ("Of new customers, **28.0%** order again one month after their first "
                                                "order (95% range 20.1% to 37.5%) and **20.0%** 2 months after.")
    assert story.cohort_finding(at.loc[[2]], "M", S) is None
    assert story.cohort_sentence(at.iloc[:0], "M", S) == "Too few periods for a cohort view."
    t = story.cohort_table(c, "M", S)
    assert t.columns.tolist() == ["cohort", "customers", "after 1", "after 2"]
    assert t["cohort"].tolist() == ["Dec 2025", "Nov 2025", "Oct 2025"] and t["customers"].tolist() == ["10", "60", "40"]
    assert t["after 1"].tolist() == ["", "30.0%", "25.0%"] and t["after 2"].tolist() == ["", "", "20.0%"]


def test_weakest_group():
    bd = pd.DataFrame({"metric": "retention_rate", "dimension": "acquisition_channel", "group": ["a", "b", "c"],
                       "value": [0.2, 0.1, 0.4], "too_small": [False, True, False]})
    lo, hi = story_review.weakest_group(bd)
    assert (lo["group"], hi["group"]) == ("a", "c")  # b is lowest but too small to trust
    assert story_review.weakest_group(bd.iloc[:2]) is None


def test_trend_and_breakdown_figures():
    kpis = baseline({"active_customers": [1, 2, 3], "nps": [5.0, 6.0, 7.0], "revenue": [1.0, 2.0, 3.0],
                     "retention_rate": [0.2, 0.3, 0.4]}, 3,
                    ci_low={"nps": [0, 1, 2], "retention_rate": [0.1] * 3},
                    ci_high={"nps": [9, 9, 9], "retention_rate": [0.5] * 3})
    fig = plot_metric_trends(kpis, label=lambda m: m.upper(), money_unit="$", partial={"nps"})
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in shown] == ["ACTIVE_CUSTOMERS", "RETENTION_RATE", "NPS", "REVENUE"]
    assert shown[3].get_ylabel() == r"\$" and shown[2].get_ylabel() == "points (\u2212100 to 100)"
    fig2 = plot_metric_trends(kpis[kpis["metric"] == "nps"])
    assert sum(ax.get_visible() for ax in fig2.axes) == 1
    bd = pd.DataFrame({"metric": ["retention_rate"] * 2 + ["average_order_value"] * 2,
                       "dimension": ["acquisition_channel"] * 2 + ["purchase_type"] * 2, "group": ["ads", "seo"] * 2,
                       "period": pd.Timestamp("2025-12-01", tz=UTC), "value": [0.3, 0.4, 50.0, 60.0],
                       "ci_low": [0.2, 0.3, 45.0, 55.0], "ci_high": [0.4, 0.5, 55.0, 65.0],
                       "unit": ["share", "share", "currency per order", "currency per order"],
                       "too_small": [False, True, False, False]})
    fig3 = plot_breakdown_panels(bd, label=lambda kind, v: f"{kind}:{v}", money_unit="€", min_n=25)
    a, b = fig3.axes
    assert a.get_title() == "metrics:retention_rate by columns:acquisition_channel (hatched: fewer than 25)"
    assert [t.get_text() for t in a.get_xticklabels()] == ["channels:ads", "channels:seo"]
    assert a.get_ylabel() == "%" and b.get_ylabel() == "€ per order"


def test_client_order_recent_wide_and_in_order():
    kpis = baseline({"customers": [1.0, 2.0, 3.0], "orders": [4.0, 5.0, 6.0], "nps": [1.0, 2.0, 3.0]}, 3)
    assert story.client_order(kpis) == ["orders", "nps", "customers"]
    ordered = story.in_order(kpis, story.client_order(kpis))
    assert ordered["metric"].tolist() == ["orders"] * 3 + ["nps"] * 3 + ["customers"] * 3
    assert ordered["period"].is_monotonic_increasing is False and list(ordered["value"][:3]) == [4.0, 5.0, 6.0]
    wide = story.recent_wide(kpis, 2)
    assert wide.columns.tolist() == ["metric", "unit", "2025-11-01", "2025-12-01"]
    assert wide["metric"].tolist() == ["customers", "orders", "nps"] and wide["2025-12-01"].tolist() == [3.0, 6.0, 3.0]


def test_breakdown_tables_and_channel_finding():
    rows = []
    for g, (act, ret, rpc, small) in {"ads": (200, 0.40, 60.0, False), "seo": (150, 0.60, 80.0, False),
                                      "tv": (10, 0.10, 20.0, True)}.items():
        for m, v in (("active_customers", act), ("retention_rate", ret), ("revenue_per_customer", rpc)):
            rows.append({"dimension": "acquisition_channel", "group": g, "metric": m, "value": v,
                         "too_small": small and m != "active_customers", "denominator": 100 if m == "retention_rate" else act,
                         "ci_low": v - 0.05, "ci_high": v + 0.05})
    rows.append({"dimension": "region", "group": "north", "metric": "active_customers", "value": 360,
                 "too_small": False, "denominator": 360, "ci_low": np.nan, "ci_high": np.nan})
    bd = pd.DataFrame(rows)
    values, small = story_review.breakdown_wide(bd)
    assert values.columns.tolist() == ["dimension", "group", "active_customers", "retention_rate", "revenue_per_customer"]
    assert values["group"].tolist() == ["ads", "seo", "tv", "north"]
    assert small.dtypes.eq(bool).all() and small["retention_rate"].tolist() == [False, False, True, False]
    text = story_review.breakdown_table(values, small, S)
    assert text.columns.tolist() == ["dimension", "group", "active_customers", "retention_rate", "revenue_per_customer"]
    assert text["retention_rate"].tolist() == ["40.0%", "60.0%", "10.0% *", ""]
    kpis = baseline({"retention_rate": [0.5]}, 1)
    assert story_review.channel_finding(bd, kpis, S, lambda kind, v: v.upper()) == (
        "Retention is lowest among customers won through **ADS** (40.0%, 95% range 35.0% to 45.0%) and highest for "
        "**SEO** (60.0%), against 50.0% overall.")
    text, value = story_review.channel_action(bd, kpis, "M", S, lambda kind, v: v.upper())
    # (0.50 - 0.40) x 100 customers active before = 10 more a month, x 60 a customer x 12 months
    assert value == pytest.approx(0.1 * 100 * 60.0 * 12)
    assert "(10 more returning customers a month) is worth about 7,200 a year" in text
    assert story_review.channel_action(bd, baseline({"retention_rate": [0.3]}, 1), "M", S, str) is None  # no gap
    assert story_review.channel_finding(bd[bd["group"] != "seo"], kpis, S, str) is None  # one group large enough


def test_review_view_paragraph_and_table():
    comparison = pd.DataFrame({"metric": ["retention_rate", "orders", "nps"], "unit": ["share", "orders", "points"],
                               "period_a": 1, "value_a": [0.3, 100.0, 5.0], "period_b": 2, "value_b": [0.4, 120.0, 6.0],
                               "change": [0.1, 20.0, 1.0], "change_rel": [1 / 3, 0.2, 0.2], "p_value": [0.01, np.nan, 0.6],
                               "beyond_noise": pd.array([True, None, False], dtype="boolean")})
    view = story_review.review_view(comparison)
    assert view["verdict"].tolist() == ["beyond noise", "no test (count, sum or median)", "within noise"]
    previous = pd.DataFrame()
    previous.attrs["as_of"] = "2025-07-01T00:00:00+00:00"
    text = story_review.review_paragraph(previous, comparison, "2026-01-01", S, lambda kind, v: v, same_data=False)
    assert text == ("Previous snapshot: as of **01 Jul 2025**, computed from another data export. **1** of the 2 KPIs "
                    "with a test changed beyond noise: retention_rate.")
    same = story_review.review_paragraph(previous, comparison, "2025-07-01", S, lambda kind, v: v, same_data=True)
    assert "from the same data export" in same and "**Both snapshots have the same analysis date**" in same
    table = story_review.review_table(view, S)
    assert table["verdict"].tolist() == ["beyond noise", "no test", "within noise"]
    assert table.columns.tolist() == ["kpi", "before", "now", "change", "verdict"] and table["before"][0] == "30.0%"
