"""Notebook 04's chain on engine tables: the same results as on pandas, bit for bit.

The data is loaded twice, once in memory (pandas) and once on DuckDB (``data.load(..., con=)``,
engine tables, ``ad_spend.date`` cast to a DATE as in Parquet read in place), and every helper the attribution notebook calls
on the loaded tables is run on both; the engine results are collected and compared with the pandas
ones. The mix model's weekly table is checked in ``test_mmm_engine.py``.
"""

from __future__ import annotations

import ibis
import pandas as pd
import pytest

from crm_research import data, engine, synthetic
from crm_research.attribution import (
    ABTest,
    JourneyWindow,
    ShapleyAttribution,
    ab_assignments,
    ad_performance,
    aggregate_paths,
    path_data,
    paths,
    report,
    touch_credits,
    touchpoints,
)
from crm_research.engine import collect
from crm_research.settings import ReportSettings

AS_OF = "2026-01-01"
ARMS = {"control": "ab_subject_control", "variant": "ab_subject_variant"}


@pytest.fixture(scope="module")
def both():
    tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    pdata, edata = data.load(tables, as_of=AS_OF), data.load(tables, as_of=AS_OF, con=engine.open_engine("duckdb"))
    # data handed to the engine keeps ad_spend.date a timestamp; Parquet read in place (the runner's snapshot) has
    # a DATE: the engine side here has the DATE
    return pdata, edata, edata.ad_spend.mutate(date=edata.ad_spend.date.cast("date"))


def _same(lazy, pandas_result):
    assert engine.is_lazy(lazy)
    pd.testing.assert_frame_equal(collect(lazy), pandas_result)


def test_journeys_on_engine_tables_equal_pandas(both):
    pdata, edata, ad_spend = both
    assert engine.is_lazy(edata.events) and ad_spend.date.type().is_date()
    window = JourneyWindow(30)
    j = paths(pdata.events, pdata.orders, pdata.customers, as_of=AS_OF, window=window)
    assert (len(j), int(j["converted"].sum())) == (496, 173)  # every contact; the buyers of the company
    _same(paths(edata.events, edata.orders, edata.customers, as_of=AS_OF, window=window), j)
    _same(aggregate_paths(paths(edata.events, edata.orders, edata.customers, as_of=AS_OF, window=window)),
          aggregate_paths(j))
    # the notebook collects only the columns the models read: the same rows in the same order
    je = collect(paths(edata.events, edata.orders, edata.customers, as_of=AS_OF, window=window, for_models=True))
    assert list(je.columns) == ["path", "converted", "conversion_value", "touch_days"]
    pd.testing.assert_frame_equal(je, j[list(je.columns)])
    pd.testing.assert_frame_equal(
        paths(pdata.events, pdata.orders, pdata.customers, as_of=AS_OF, window=window, for_models=True), je)
    pd.testing.assert_frame_equal(aggregate_paths(je), aggregate_paths(j))
    # the models run on the collected journeys: the same totals and credits
    assert path_data(je).totals() == path_data(j).totals()
    pd.testing.assert_frame_equal(ShapleyAttribution(seed=1).fit(je).credits_, ShapleyAttribution(seed=1).fit(j).credits_)


def test_spend_before_keeps_the_days_before_as_of_on_either_engine(both):
    pdata, edata, ad_spend = both
    s = report.spend_before(pdata.ad_spend, "2025-07-01")
    assert s["date"].max() == pd.Timestamp("2025-06-30", tz="UTC") and 0 < len(s) < len(pdata.ad_spend)
    for table in (ad_spend, edata.ad_spend):  # a DATE, a timestamp
        lazy = report.spend_before(table, "2025-07-01")
        assert engine.is_lazy(lazy)
        assert collect(lazy.aggregate(n=lazy.count(), cost=engine.exact_sum(lazy.cost))).iloc[0].tolist() == [
            len(s), round(s["cost"].sum(), 6)]
    # a date column against an as_of inside a day: that day's midnight is before it, so it counts
    days = ibis.memtable(pd.DataFrame({"date": pd.to_datetime(["2025-12-31", "2026-01-01", "2026-01-02"]).date,
                                       "cost": [1.0, 2.0, 3.0]}))
    assert collect(report.spend_before(days, "2026-01-01 12:00"))["cost"].tolist() == [1.0, 2.0]
    assert collect(report.spend_before(days, "2026-01-01"))["cost"].tolist() == [1.0]


def test_ad_performance_and_added_value_on_engine_tables_equal_pandas(both):
    pdata, edata, ad_spend = both
    window = JourneyWindow(30)
    tp = touchpoints(pdata.events, pdata.orders, as_of=AS_OF, window=window)
    credits = touch_credits(tp, rule="linear")
    spend = report.spend_before(pdata.ad_spend, AS_OF)
    perf = ad_performance(spend, credits, pdata.campaigns, period=None, min_spend=500.0)
    lazy_credits = touch_credits(touchpoints(edata.events, edata.orders, as_of=AS_OF, window=window), rule="linear")
    _same(lazy_credits, credits)
    espend = report.spend_before(ad_spend, AS_OF)
    perf_e = ad_performance(espend, lazy_credits, edata.campaigns, period=None, min_spend=500.0)
    pd.testing.assert_frame_equal(perf_e, perf)
    assert perf["cost"].sum() > 0 and perf["conversions"].sum() == pytest.approx(173 - 5, abs=5)
    for period in ("month", "week"):
        pd.testing.assert_frame_equal(
            ad_performance(espend, lazy_credits, edata.campaigns, level="channel", period=period),
            ad_performance(spend, credits, pdata.campaigns, level="channel", period=period))
    j = paths(pdata.events, pdata.orders, pdata.customers, as_of=AS_OF, window=window)
    shapley = ShapleyAttribution(game="incremental", seed=3).fit(j)
    totals = path_data(j).totals()
    ret = report.added_value(shapley.credits_, perf, spend, totals, min_spend=500.0)
    ret_e = report.added_value(shapley.credits_, perf_e, espend, totals, min_spend=500.0)
    pd.testing.assert_frame_equal(ret_e, ret)
    assert ret_e.attrs == ret.attrs and 1.9 < ret.attrs["years"] < 2.1  # two years of spend


def test_ab_test_on_engine_tables_equals_pandas(both):
    pdata, edata, ad_spend = both
    kw = dict(arms=ARMS, window_days=14, promo_code="AB-SEPT", as_of=AS_OF)
    asg = ab_assignments(pdata.events, pdata.orders, **kw)
    assert len(asg) == 28 and int(asg["converted"].sum()) == 2
    _same(ab_assignments(edata.events, edata.orders, **kw), asg)
    asg_e = collect(ab_assignments(edata.events, edata.orders, **kw))
    a, b = ABTest(control="control").fit(asg), ABTest(control="control").fit(asg_e)
    pd.testing.assert_frame_equal(b.summary_, a.summary_)
    act = report.ab_action(b, asg_e, ReportSettings(), control_label="C", variant_label="V")
    assert act == report.ab_action(a, asg, ReportSettings(), control_label="C", variant_label="V")
    # the engine table itself: the test collects only its columns, the action only the converted rows
    kw = dict(arms=ARMS, window_days=30, promo_code=None, as_of=AS_OF)  # every order: conversions in both arms
    asg = ab_assignments(pdata.events, pdata.orders, **kw)
    lazy = ab_assignments(edata.events, edata.orders, **kw)
    a = ABTest(control="control", target_lift=0.02).fit(asg)
    assert a.summary_["conversions"].tolist() == [7, 5]
    pd.testing.assert_frame_equal(ABTest(control="control", target_lift=0.02).fit(lazy).summary_, a.summary_)
    act = report.ab_action(a, lazy, ReportSettings(), control_label="C", variant_label="V")
    assert act is not None and act.value_text.startswith("about −41,732 per 10,000 e-mails")
    assert act == report.ab_action(a, asg, ReportSettings(), control_label="C", variant_label="V")
