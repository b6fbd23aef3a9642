"""Every KPI definition on a hand-made company whose answers are worked out below.

The company (as_of 2024-04-01, monthly periods Dec 2023 .. Mar 2024):

contacts   a (signup 2023-12-15), b (2024-01-10), c (2024-02-01), d (2024-03-20), e (2024-03-31)
orders     a: Jan 05 10.00, Jan 20 20.00, Feb 10 30.00, Mar 15 40.00 *cancelled*
           b: Jan 31 23:59:59 5.00, Mar 01 00:00:00 15.00 (month boundaries on both sides)
           c: Feb 14 12.50
           e: Apr 01 00:00:00 100.00 (at as_of: excluded)
events     referral by a (Feb 20), by d (Mar 25, d never buys); cart sessions S1..S5 (see below)
tickets    T1..T4 (see below); surveys a 10 (Jan 25), b 6 (Feb 02), c 9 (Mar 05), a 7 (Mar 10)

Active customers: Jan {a, b}, Feb {a, c}, Mar {b}.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from crm_research import engine, kpi
from crm_research.errors import CRMError, ParameterError
from crm_research.kpi import intervals, scans, snapshots
from crm_research.stats import wilson as crm_wilson
from crm_research.stats import z_value

AS_OF = "2024-04-01"
UTC = "UTC"


def ts(*values):
    return pd.to_datetime(list(values), utc=True, format="ISO8601")


def hand_data() -> dict[str, pd.DataFrame]:
    customers = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d", "e"],
        "signup_at": ts("2023-12-15", "2024-01-10", "2024-02-01", "2024-03-20", "2024-03-31"),
        "acquisition_channel": ["email", "social", "email", "social", "email"],
        "region": ["north", "north", "south", "south", "north"],
    })
    orders = pd.DataFrame({
        "order_id": [f"o{i}" for i in range(8)],
        "customer_id": ["a", "a", "a", "a", "b", "b", "c", "e"],
        "ordered_at": ts("2024-01-05 10:00", "2024-01-20", "2024-02-10", "2024-03-15", "2024-01-31 23:59:59",
                         "2024-03-01 00:00:00", "2024-02-14", "2024-04-01 00:00:00"),
        "amount": [10.0, 20.0, 30.0, 40.0, 5.0, 15.0, 12.5, 100.0],
        "channel": ["online", "online", "phone", "online", "online", "in_person", "online", "online"],
        "platform": ["app", "app", None, "app", "mobile", None, "desktop", "app"],
        "status": ["completed", "completed", "completed", "cancelled", "completed", "completed", "completed",
                   "completed"],
    })
    ev = [
        # session S1 (a): cart then purchase -> kept
        ("a", "2024-01-05 09:50", "add_to_cart", "S1"), ("a", "2024-01-05 10:00", "purchase", "S1"),
        # S2 (b): cart in January, purchase just after midnight -> kept, counted in January
        ("b", "2024-01-31 23:50", "add_to_cart", "S2"), ("b", "2024-02-01 00:10", "purchase", "S2"),
        # S3 (c): two carts, no purchase -> one abandoned session in February
        ("c", "2024-02-10 12:00", "add_to_cart", "S3"), ("c", "2024-02-10 12:05", "add_to_cart", "S3"),
        # S4 (d): a view only -> not a cart session
        ("d", "2024-03-25 08:00", "product_view", "S4"),
        # S5 (e): cart before as_of, purchase after it -> abandoned as of as_of (March)
        ("e", "2024-03-31 23:00", "add_to_cart", "S5"), ("e", "2024-04-01 00:30", "purchase", "S5"),
        ("a", "2024-02-20", "referral", None), ("d", "2024-03-25", "referral", None),
    ]
    events = pd.DataFrame(ev, columns=["customer_id", "occurred_at", "event", "session_id"])
    events["occurred_at"] = pd.to_datetime(events["occurred_at"], utc=True, format="ISO8601")
    tickets = pd.DataFrame({
        "ticket_id": ["T1", "T2", "T3", "T4"],
        "customer_id": ["a", "a", "b", "c"],
        "opened_at": ts("2024-01-10", "2024-01-20", "2024-01-25", "2024-03-31 20:00"),
        # first responses after 2 h, 6 h, 1 h, 3 h
        "first_response_at": ts("2024-01-10 02:00", "2024-01-20 06:00", "2024-01-25 01:00", "2024-03-31 23:00"),
        # handling 24 h and 48 h; T3 still open; T4 resolved after as_of (open as of as_of)
        "resolved_at": pd.to_datetime(["2024-01-11", "2024-01-22", None, "2024-04-01 02:00"], utc=True, format="ISO8601"),
        "contacts": [1, 2, 1, 1],
        "csat": pd.array([5, 3, None, 4], dtype="Int64"),
    })
    surveys = pd.DataFrame({
        "customer_id": ["a", "b", "c", "a"],
        "answered_at": ts("2024-01-25", "2024-02-02", "2024-03-05", "2024-03-10"),
        "nps": [10, 6, 9, 7],
    })
    return {"customers": customers, "orders": orders, "events": events, "tickets": tickets, "surveys": surveys}


@pytest.fixture(scope="module")
def data():
    return hand_data()


@pytest.fixture(scope="module")
def base(data):
    return kpi.baseline(data, AS_OF, "M")


def get(table, metric, month):
    """The row of ``metric`` for the month starting ``month`` (YYYY-MM)."""
    row = table[(table["metric"] == metric) & (table["period"] == pd.Timestamp(f"{month}-01", tz=UTC))]
    assert len(row) == 1, (metric, month)
    return row.iloc[0]


def values(table, metric):
    return table[table["metric"] == metric].sort_values("period")["value"].tolist()


def wilson(k, n):
    return proportion_confint(k, n, alpha=0.05, method="wilson")


def t_ci(x):
    x = np.asarray(x, float)
    return stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))


def test_table_shape_periods_and_columns(base):
    assert list(base.columns) == ["metric", "period", "period_end", "value", "unit", "numerator", "denominator",
                                  "ci_low", "ci_high", "ci_method", "definition"]
    assert set(base["metric"]) == set(kpi.METRICS)  # every metric, none skipped
    assert base.attrs["skipped"] == {}
    # periods: first data (a's sign-up, Dec 2023) .. the month holding as_of - 1 ns
    months = sorted(base["period"].unique())
    assert [m.strftime("%Y-%m") for m in months] == ["2023-12", "2024-01", "2024-02", "2024-03"]
    r = get(base, "orders", "2024-03")
    assert r["period_end"] == pd.Timestamp("2024-04-01", tz=UTC)
    assert (base.groupby("metric").size() == 4).all()
    # one definition line per metric, with the parameters filled in
    assert "events.event == 'referral'" in get(base, "advocates", "2024-01")["definition"]
    assert "{" not in "".join(base["definition"])
    # ordered by metric (declaration order) then period; one row per metric and period
    assert list(dict.fromkeys(base["metric"])) == kpi.metric_names()
    assert base.groupby("metric", sort=False)["period"].apply(lambda s: s.is_monotonic_increasing).all()
    assert not base.duplicated(["metric", "period"]).any() and base.index.equals(pd.RangeIndex(len(base)))
    assert str(base["period"].dtype) == str(base["period_end"].dtype) == "datetime64[ns, UTC]"


def test_customer_counts(base):
    assert values(base, "new_contacts") == [1, 1, 1, 2]
    assert values(base, "active_customers") == [0, 2, 2, 1]  # Mar: a's order is cancelled
    assert values(base, "new_customers") == [0, 2, 1, 0]
    assert values(base, "orders") == [0, 3, 2, 1]
    assert values(base, "customers") == [0, 2, 3, 3]
    # new per week: January has 31 days = 31/7 weeks; exact Poisson interval on 2 events
    r = get(base, "new_customers_per_week", "2024-01")
    weeks = 31 / 7
    assert r["value"] == pytest.approx(2 / weeks)
    assert r["denominator"] == pytest.approx(weeks)
    assert r["ci_low"] == pytest.approx(stats.chi2.ppf(0.025, 4) / 2 / weeks)
    assert r["ci_high"] == pytest.approx(stats.chi2.ppf(0.975, 6) / 2 / weeks)
    assert r["ci_method"] == "poisson"


@pytest.mark.parametrize(
    "rule, first, repeat, adv",
    [
        # referral: a refers in Feb (d's referral does not count: d never bought)
        ("referral", [0, 1, 2, 1], [0, 1, 0, 1], [0, 0, 1, 1]),
        # promoter: a answers 10 in Jan, c answers 9 in Mar (b's 6 and a's later 7 do not undo it)
        ("promoter", [0, 1, 2, 0], [0, 0, 0, 1], [0, 1, 1, 2]),
        ("either", [0, 1, 2, 0], [0, 0, 0, 1], [0, 1, 1, 2]),
    ],
)
def test_customer_levels_exclusive_and_rule_configurable(data, rule, first, repeat, adv):
    b = kpi.baseline(data, AS_OF, "M", advocate_rule=rule)
    assert values(b, "first_time_customers") == first
    assert values(b, "repeat_customers") == repeat
    assert values(b, "advocates") == adv
    total = np.add(np.add(first, repeat), adv)
    assert total.tolist() == values(b, "customers")


def test_retention_churn_and_repeat_rate(base):
    # Feb: of Jan's active {a, b} only a buys again; Mar: of Feb's {a, c} nobody does
    r = get(base, "retention_rate", "2024-02")
    assert (r["value"], r["numerator"], r["denominator"]) == (0.5, 1, 2)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx(wilson(1, 2))
    assert get(base, "retention_rate", "2024-03")["value"] == 0.0
    assert np.isnan(get(base, "retention_rate", "2024-01")["value"])  # nobody active in December
    c = get(base, "churn_rate", "2024-03")
    assert (c["value"], c["numerator"], c["denominator"]) == (1.0, 2, 2)
    assert (c["ci_low"], c["ci_high"]) == pytest.approx(wilson(2, 2))
    # repeat purchase rate (stock): Jan a of {a, b}; Feb a of {a, b, c}; Mar a, b of {a, b, c}
    assert values(base, "repeat_purchase_rate")[1:] == pytest.approx([1 / 2, 1 / 3, 2 / 3])
    r = get(base, "repeat_purchase_rate", "2024-03")
    assert (r["ci_low"], r["ci_high"]) == pytest.approx(wilson(2, 3))


def test_frequency_order_value_revenue(base):
    pf = get(base, "purchase_frequency", "2024-01")  # a 2 orders, b 1
    assert pf["value"] == 1.5 and pf["ci_method"] == "t"
    assert (pf["ci_low"], pf["ci_high"]) == pytest.approx(t_ci([2, 1]))
    aov = get(base, "average_order_value", "2024-01")  # 10, 20, 5
    assert aov["value"] == pytest.approx(35 / 3)
    assert (aov["ci_low"], aov["ci_high"]) == pytest.approx(t_ci([10, 20, 5]))
    assert values(base, "revenue") == pytest.approx([0, 35.0, 42.5, 15.0])
    rpc = get(base, "revenue_per_customer", "2024-02")  # a 30, c 12.5
    assert rpc["value"] == pytest.approx(21.25)
    assert (rpc["ci_low"], rpc["ci_high"]) == pytest.approx(t_ci([30, 12.5]))
    assert np.isnan(get(base, "purchase_frequency", "2023-12")["value"])
    # historical value at each month end: Jan a 30, b 5; Feb a 60, b 5, c 12.5; Mar a 60, b 20, c 12.5
    hcv = base[base["metric"] == "historical_customer_value"].sort_values("period")
    assert hcv["value"].tolist()[1:] == pytest.approx([17.5, 77.5 / 3, 92.5 / 3])
    last = hcv.iloc[-1]
    assert (last["ci_low"], last["ci_high"]) == pytest.approx(t_ci([60, 20, 12.5]))
    feb = hcv.iloc[2]
    assert (feb["ci_low"], feb["ci_high"]) == pytest.approx(t_ci([60, 5, 12.5]))


def test_lead_conversion(base):
    # end of Dec: a known, not yet bought; Jan: a, b both bought; Feb: a, b, c (c signed up and
    # bought in Feb); Mar: d and e signed up, never bought before as_of (e's order is at as_of)
    assert values(base, "lead_conversion_rate") == pytest.approx([0.0, 1.0, 1.0, 3 / 5])
    r = get(base, "lead_conversion_rate", "2024-03")
    assert (r["numerator"], r["denominator"]) == (3, 5)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx(wilson(3, 5))


def test_cart_abandonment(base):
    # Jan: S1, S2 bought (S2's purchase after midnight still counts); Feb: S3 abandoned (two carts,
    # one session); Mar: S5's purchase comes after as_of -> abandoned; S4 never had a cart
    rows = base[base["metric"] == "cart_abandonment_rate"].sort_values("period")
    assert rows["denominator"].tolist()[1:] == [2, 1, 1]
    assert rows["numerator"].tolist()[1:] == [0, 1, 1]
    assert rows["value"].tolist()[1:] == [0.0, 1.0, 1.0]
    jan = rows.iloc[1]
    assert (jan["ci_low"], jan["ci_high"]) == pytest.approx(wilson(0, 2))


def test_support_metrics(base):
    fr = get(base, "first_response_hours_mean", "2024-01")  # 2, 6, 1 hours
    assert fr["value"] == pytest.approx(3.0) and fr["denominator"] == 3
    assert (fr["ci_low"], fr["ci_high"]) == pytest.approx(t_ci([2, 6, 1]))
    assert get(base, "first_response_hours_median", "2024-01")["value"] == pytest.approx(2.0)
    ht = get(base, "handling_hours_mean", "2024-01")  # 24 and 48 hours; T3 still open
    assert ht["value"] == pytest.approx(36.0) and ht["denominator"] == 2
    assert get(base, "handling_hours_median", "2024-01")["value"] == pytest.approx(36.0)
    fcr = get(base, "first_contact_resolution_rate", "2024-01")  # resolved T1 (1 contact), T2 (2)
    assert (fcr["value"], fcr["numerator"], fcr["denominator"]) == (0.5, 1, 2)
    cs = get(base, "csat_mean", "2024-01")  # 5, 3 (T3 unanswered)
    assert cs["value"] == 4.0 and (cs["ci_low"], cs["ci_high"]) == pytest.approx(t_ci([5, 3]))
    assert get(base, "csat_share_4_5", "2024-01")["value"] == 0.5
    # March: T4 answered after 3 h, resolution after as_of -> no handling time, no FCR verdict
    assert get(base, "first_response_hours_median", "2024-03")["value"] == pytest.approx(3.0)
    assert np.isnan(get(base, "first_response_hours_mean", "2024-03")["ci_low"])  # n = 1
    assert np.isnan(get(base, "handling_hours_mean", "2024-03")["value"])
    assert np.isnan(get(base, "first_contact_resolution_rate", "2024-03")["value"])
    assert get(base, "csat_share_4_5", "2024-03")["value"] == 1.0


def test_nps_and_its_interval(base):
    assert values(base, "nps")[1:] == pytest.approx([100.0, -100.0, 50.0])
    mar = get(base, "nps", "2024-03")  # c 9 (promoter), a 7 (passive): p = 1/2, d = 0, n = 2
    se = np.sqrt((0.5 + 0 - 0.25) / 2)
    assert mar["ci_low"] == pytest.approx(100 * (0.5 - 1.959964 * se), abs=1e-4)
    assert mar["ci_high"] == 100.0  # clipped at +100
    assert (mar["numerator"], mar["denominator"]) == (1, 2)
    assert mar["ci_method"] == "trinomial"


def test_weekly_quarterly_yearly_periods(data):
    w = kpi.baseline(data, AS_OF, "W")
    starts = w["period"].drop_duplicates()
    assert (starts.dt.dayofweek == 0).all()  # Mondays
    # b's 2024-01-31 23:59:59 order is in the week of Mon 29 Jan; its 2024-03-01 order in the week of 26 Feb
    act = w[w["metric"] == "active_customers"].set_index("period")["value"]
    assert act[pd.Timestamp("2024-01-29", tz=UTC)] == 1
    assert act[pd.Timestamp("2024-02-26", tz=UTC)] == 1
    assert act.sum() == 6  # a: 3 distinct weeks, b: 2, c: 1
    last = w[w["metric"] == "orders"].iloc[-1]
    assert last["period"] == pd.Timestamp("2024-03-25", tz=UTC)
    assert last["period_end"] == pd.Timestamp("2024-04-01", tz=UTC)
    q = kpi.baseline(data, AS_OF, "Q")
    assert values(q, "active_customers") == [0, 3]  # Q4 2023, Q1 2024
    assert values(q, "purchase_frequency")[1] == pytest.approx(6 / 3)
    y = kpi.baseline(data, AS_OF, "Y", periods=1)
    assert values(y, "revenue") == pytest.approx([92.5])
    assert values(y, "customers") == [3]


def test_periods_argument_keeps_stocks_on_full_history(data, base):
    two = kpi.baseline(data, AS_OF, "M", periods=2)
    assert sorted(two["period"].unique())[0] == pd.Timestamp("2024-02-01", tz=UTC)
    pd.testing.assert_frame_equal(two.reset_index(drop=True),
                                  base[base["period"] >= pd.Timestamp("2024-02-01", tz=UTC)].reset_index(drop=True))
    longer = kpi.baseline(data, AS_OF, "M", periods=6)  # padded with empty months before the data
    assert values(longer, "customers") == [0, 0, 0, 2, 3, 3]


def test_as_of_cuts_and_partial_last_period(data):
    b = kpi.baseline(data, "2024-02-15", "M")
    feb = get(b, "orders", "2024-02")
    assert feb["value"] == 2  # a's Feb 10 and c's Feb 14 orders; nothing from Feb 15 on
    assert get(b, "active_customers", "2024-02")["value"] == 2
    assert [m.strftime("%Y-%m") for m in sorted(b["period"].unique())][-1] == "2024-02"
    assert feb["period_end"] == pd.Timestamp("2024-02-15", tz=UTC)
    assert get(b, "new_customers_per_week", "2024-02")["denominator"] == pytest.approx(14 / 7)


def test_identical_on_duckdb_tables_and_repeatable(data, base, tmp_path):
    con = engine.connect()
    lazy = {}
    for name, df in data.items():
        df.to_parquet(tmp_path / f"{name}.parquet")
        lazy[name] = con.read_parquet(tmp_path / f"{name}.parquet")
    from_duck = kpi.baseline(lazy, AS_OF, "M")
    pd.testing.assert_frame_equal(from_duck, base)
    again = kpi.baseline(data, AS_OF, "M")
    assert again.equals(base)


def test_renamed_columns_and_missing_tables(data, base):
    renamed = dict(data)
    renamed["orders"] = data["orders"].rename(columns={"ordered_at": "order_date", "amount": "value"})
    b = kpi.baseline(renamed, AS_OF, "M", columns={"orders.ordered_at": "order_date", "orders.amount": "value"})
    pd.testing.assert_frame_equal(b, base)
    only = kpi.baseline({"orders": data["orders"]}, AS_OF, "M")
    assert "nps" not in set(only["metric"]) and "lead_conversion_rate" not in set(only["metric"])
    assert only.attrs["skipped"]["nps"] == "the data has no surveys table"
    assert only.attrs["skipped"]["advocates"] == ("advocate_rule='referral' needs referral events and the data "
                                                  "has no events table")
    assert set(only.attrs["skipped"]) == set(kpi.METRICS) - set(only["metric"])
    shared = only["metric"].unique()
    assert only["period"].min() == pd.Timestamp("2024-01-01", tz=UTC)  # the orders start in January
    same = base[base["metric"].isin(shared) & (base["period"] >= only["period"].min())]
    pd.testing.assert_frame_equal(only.reset_index(drop=True), same.reset_index(drop=True))


def test_missing_columns_leave_out_exactly_their_metrics(data, base):
    """A table without an optional column keeps every metric that does not read it, unchanged."""
    cases = {
        ("tickets", "csat"): {"csat_mean", "csat_share_4_5"},
        ("tickets", "resolved_at"): {"handling_hours_mean", "handling_hours_median",
                                     "first_contact_resolution_rate"},
        ("tickets", "contacts"): {"first_contact_resolution_rate"},
        ("tickets", "first_response_at"): {"first_response_hours_mean", "first_response_hours_median"},
        ("events", "session_id"): {"cart_abandonment_rate"},
        ("customers", "signup_at"): {"new_contacts", "lead_conversion_rate"},
    }
    for (table, col), gone in cases.items():
        b = kpi.baseline(dict(data, **{table: data[table].drop(columns=col)}), AS_OF, "M")
        assert set(b.attrs["skipped"]) == gone, (table, col)
        assert b.attrs["skipped"][next(iter(gone))] == f"the {table} table has no {col} column"
        # without sign-ups the periods start with the first order (January), not December
        same = base[~base["metric"].isin(gone) & (base["period"] >= b["period"].min())]
        pd.testing.assert_frame_equal(b.reset_index(drop=True), same.reset_index(drop=True))
    # a table without a required column is left out, with the reason
    b = kpi.baseline(dict(data, surveys=data["surveys"].drop(columns="nps")), AS_OF, "M",
                     advocate_rule="promoter")
    assert b.attrs["skipped"]["nps"] == "the surveys table has no nps column"
    assert "advocates" in b.attrs["skipped"]
    # customers derived from the orders hold no leads: contact metrics are left out
    class Derived(dict):
        derived = {"customers": "derived from the orders"}

    b = kpi.baseline(Derived(data), AS_OF, "M")
    assert set(b.attrs["skipped"]) == {"new_contacts", "lead_conversion_rate"}
    assert "derived from the orders" in b.attrs["skipped"]["new_contacts"]
    assert kpi.not_measured_note(b.attrs["skipped"]) == (
        "Not measured on this data: new_contacts, lead_conversion_rate (the customers table was derived from "
        "the orders, so it holds no contacts without an order).")


MONEY = ("average_order_value", "revenue", "revenue_per_customer", "historical_customer_value")


def test_orders_without_amounts_leave_out_the_money_kpis_only(data, base):
    """Orders from an event log have no amount: every other KPI, the cohorts and the breakdowns
    are the same as with amounts; goals on a money KPI are left out with the reason."""
    no_amount = dict(data, orders=data["orders"].drop(columns="amount"))
    b = kpi.baseline(no_amount, AS_OF, "M")
    assert b.attrs["skipped"] == dict.fromkeys(
        MONEY, "order amounts are unknown: the orders table has no amount column")
    assert list(b.attrs["skipped"]) == list(MONEY)
    same = base[~base["metric"].isin(MONEY)]
    pd.testing.assert_frame_equal(b.reset_index(drop=True), same.reset_index(drop=True))
    assert len(b) == len(base) - 4 * base["period"].nunique()
    # the same on engine tables, and for the cohorts and the breakdowns by every dimension
    lazy = {"orders": engine.to_ibis(no_amount["orders"])}
    pd.testing.assert_frame_equal(kpi.baseline(lazy, AS_OF, "M"),
                                  kpi.baseline({"orders": data["orders"]}, AS_OF, "M").query("metric not in @MONEY")
                                  .reset_index(drop=True))
    pd.testing.assert_frame_equal(kpi.cohort_retention(no_amount, AS_OF, "M"), kpi.cohort_retention(data, AS_OF, "M"))
    with_amount, without = (kpi.breakdowns(d, AS_OF, "M", periods=None, min_n=2) for d in (data, no_amount))
    assert set(without["dimension"]) == set(with_amount["dimension"]) == set(kpi.DIMENSIONS)
    pd.testing.assert_frame_equal(without, with_amount[~with_amount["metric"].isin(MONEY)].reset_index(drop=True))
    goals = [{"metric": m, "target": t, "deadline": "2024-12-31", "direction": "increase", "owner": "CRM"}
             for m, t in (("retention_rate", 0.5), ("average_order_value", 30.0), ("revenue", 500.0))]
    kept, left_out = kpi.select_goals(goals, b)
    assert kept["metric"].tolist() == ["retention_rate"]
    assert left_out == dict.fromkeys(["average_order_value", "revenue"],
                                     "order amounts are unknown: the orders table has no amount column")
    assert kpi.scorecard(kept, b)["status"].tolist() == ["baseline"]
    assert kpi.not_measured_note(b.attrs["skipped"]) == (
        "Not measured on this data: average_order_value, revenue, revenue_per_customer, historical_customer_value "
        "(order amounts are unknown: the orders table has no amount column).")


def test_object_with_table_attributes_is_accepted(data, base):
    class Holder:  # the interim loader's shape: tables as attributes
        pass

    h = Holder()
    for k, v in data.items():
        setattr(h, k, v)
    pd.testing.assert_frame_equal(kpi.baseline(h, AS_OF, "M"), base)


def test_bad_inputs_raise_crm_errors(data):
    with pytest.raises(CRMError, match="table 'orders' is missing"):
        kpi.baseline({"customers": data["customers"]}, AS_OF)
    with pytest.raises(CRMError, match=r"table 'orders' has no column\(s\) 'ordered_at' \(it has: .*\); the baseline needs customer_id, ordered_at"):
        kpi.baseline({"orders": data["orders"].drop(columns="ordered_at")}, AS_OF)
    bad = data["orders"].assign(ordered_at=data["orders"]["ordered_at"].astype(str))
    with pytest.raises(CRMError, match=r"orders.ordered_at must hold timestamps"):
        kpi.baseline({"orders": bad}, AS_OF)
    text_amount = data["orders"].assign(amount=data["orders"]["amount"].map(lambda v: f"{v:.2f}".replace(".", ",")))
    with pytest.raises(CRMError, match=r"orders.amount must hold numbers, got dtype object \(e.g. \['10,00'"):
        kpi.baseline({"orders": text_amount}, AS_OF)
    with pytest.raises(ParameterError, match="period='D' is not supported"):
        kpi.baseline(data, AS_OF, "D")
    with pytest.raises(ParameterError, match="advocate_rule='fans'"):
        kpi.baseline(data, AS_OF, advocate_rule="fans")
    with pytest.raises(ParameterError, match="as_of='soon' is not a date"):
        kpi.baseline(data, "soon")
    with pytest.raises(CRMError, match="not a single DataFrame"):
        kpi.baseline(data["orders"], AS_OF)


def test_engine_bucketing_matches_calendar():
    """The engine's comparison tree gives the same period as pandas' calendar, at the edges too."""
    rng = np.random.default_rng(3)
    base_s = pd.Timestamp("2019-12-25", tz=UTC).value // 10**9
    secs = np.concatenate([base_s + rng.integers(0, 3 * 365 * 86400, 400),
                           [pd.Timestamp(x, tz=UTC).value // 10**9 for x in
                            ("2020-01-01", "2020-02-29 23:59:59", "2020-12-31 23:59:59", "2021-01-04")]])
    t = pd.DataFrame({"ts": pd.to_datetime(secs, unit="s", utc=True)})
    for period, freq in (("W", "W-SUN"), ("M", "M"), ("Q", "Q"), ("Y", "Y")):
        bins = scans.PeriodBins.covering(period, "2023-01-01", t["ts"].min())
        it = engine.to_ibis(t)
        got = engine.collect(it.select(p=bins.expr(it["ts"])))["p"]
        want = [scans.period_index(x, period) for x in t["ts"]]
        assert got.tolist() == want
        starts = scans.period_start(np.asarray(want), period)
        expected = t["ts"].dt.tz_localize(None).dt.to_period(freq).dt.start_time.dt.tz_localize(UTC)
        assert (starts == pd.DatetimeIndex(expected)).all()


def test_intervals_against_references():
    lo, hi = crm_wilson([3, 0], [10, 0])  # the one Wilson interval, against statsmodels
    assert (lo[0], hi[0]) == pytest.approx(wilson(3, 10))
    assert np.isnan(lo[1]) and np.isnan(hi[1])
    x = [1.0, 4.0, 4.5, 10.0, 2.0]
    m, lo, hi = intervals.t_mean_from_sums([5], [sum(x)], [sum(v * v for v in x)])
    assert (m[0], lo[0], hi[0]) == pytest.approx((np.mean(x), *t_ci(x)))
    # exact integer path (huge sums, tiny variance): no cancellation error
    n, base_v = 4, 10**9
    xs = [base_v, base_v + 1, base_v + 2, base_v + 3]
    m, lo, hi = intervals.t_mean_from_sums([n], [sum(xs)], [sum(v * v for v in xs)])
    assert hi[0] - m[0] == pytest.approx(stats.t.ppf(0.975, 3) * np.std([0, 1, 2, 3], ddof=1) / 2)
    rate, lo, hi = intervals.poisson_rate([0], [2.0])
    assert lo[0] == 0 and hi[0] == pytest.approx(-np.log(0.025) / 2)  # exact for k = 0
    v, lo, hi = intervals.nps_interval([50], [20], [100])
    se = np.sqrt((0.5 + 0.2 - 0.3**2) / 100)
    assert (v[0], lo[0], hi[0]) == pytest.approx((30, 100 * (0.3 - 1.959964 * se), 100 * (0.3 + 1.959964 * se)), abs=1e-4)


def test_t_intervals_vectorised_equal_one_at_a_time():
    """Many elements in one call (0, 1 and 2+ observations, integer and float sums) give exactly
    what each element gives alone: NaN mean for n = 0, NaN interval for n < 2."""
    n = [0, 1, 2, 5, 40, 3]
    s = [0, 7, 9, 1234, 10**12, 4.5]
    ss = [0, 49, 41, 400_000, 3 * 10**22, 8.25]
    m, lo, hi = intervals.t_mean_from_sums(n, s, ss, scale=100)
    for i in range(len(n)):
        one = intervals.t_mean_from_sums([n[i]], [s[i]], [ss[i]], scale=100)
        assert np.array_equal(np.array([m[i], lo[i], hi[i]]), np.concatenate(one), equal_nan=True), i
    assert np.isnan(m[0]) and m[1] == 0.07 and np.isnan(lo[1]) and np.isnan(hi[1])
    assert hi[2] - m[2] == pytest.approx(stats.t.ppf(0.975, 1) * np.sqrt((2 * 41 - 81) / 2 / 2) / 100)
    assert [len(a) for a in intervals.t_mean_from_sums([], [], [])] == [0, 0, 0]


def test_the_quantiles_are_scipy_stats_bit_for_bit_without_importing_it():
    """z_value, the t and Poisson intervals and the snapshot comparison's p-value call the
    scipy.special functions that scipy.stats' ppf and sf call: the same bits on grids of levels,
    degrees of freedom and counts, without importing scipy.stats (about 1 CPU s; notebook 01
    needs no other part of it, see benchmarks/results.md)."""
    levels = np.r_[np.linspace(0.01, 0.99, 99), 0.999, 0.9999, 1e-9, 1 - 1e-12]
    assert [z_value(c) for c in levels] == [float(stats.norm.ppf(0.5 + c / 2)) for c in levels]
    df = np.r_[np.arange(1.0, 2000), np.logspace(3.5, 9, 200).round()]
    for c in (0.5, 0.8, 0.9, 0.95, 0.99):
        n = (df + 1).astype(int)  # sum 0 and sum of squares n - 1: mean 0, variance exactly 1
        _, _, hi = intervals.t_mean_from_sums(n, np.zeros_like(n), n - 1, c)
        assert np.array_equal(hi, 0.0 + stats.t.ppf(0.5 + c / 2, df) * (np.sqrt(1.0 / n) / 1.0))
        k = np.r_[np.arange(0.0, 3000), np.logspace(3.5, 8, 200).round()]
        _, lo, hi = intervals.poisson_rate(k, np.ones_like(k), c)
        assert np.array_equal(hi, stats.chi2.ppf(1 - (1 - c) / 2, 2 * k + 2) / 2 / 1.0)
        assert np.array_equal(lo, np.where(k > 0, stats.chi2.ppf((1 - c) / 2, 2 * k) / 2, 0.0) / 1.0)
        assert np.array_equal(intervals._chi2_ppf((1 - c) / 2, np.r_[-2.0, 0.0, np.nan, 2 * k]),
                              stats.chi2.ppf((1 - c) / 2, np.r_[-2.0, 0.0, np.nan, 2 * k]), equal_nan=True)
    for bad in (0, 1, -1, 1.5):
        with pytest.raises(ParameterError, match="strictly between 0 and 1"):
            intervals.t_mean([1.0, 2.0], bad)
        with pytest.raises(ParameterError, match="strictly between 0 and 1"):
            intervals.poisson_rate([3], [2.0], bad)

    def snap(as_of, values, half):
        t = pd.DataFrame({"metric": ["retention_rate", "average_order_value", "orders"], "period": pd.Timestamp("2025-05-01", tz="UTC"),
                          "value": values, "ci_low": np.subtract(values, half), "ci_high": np.add(values, half)})
        t.attrs.update(as_of=as_of, period="M", conf=0.9)
        return t

    c = snapshots.compare(snap("2025-06-01", [0.5, 31.0, 100.0], [0.05, 2.5, 1e-300]),
                          snap("2025-06-01", [0.58, 30.2, 140.0], [0.04, 1.5, 3.0]), conf=0.9)
    assert len(c) == 3 and c["p_value"].tolist() == [float(2 * stats.norm.sf(abs(z))) for z in c["z"]]
    code = ("import sys; import pandas as pd; from crm_research.stats import z_value, wilson;"
            "from crm_research.kpi import intervals, snapshots;"
            "z_value(0.9); wilson(3, 10); intervals.t_mean([1.0, 2.0, 4.0]); intervals.poisson_rate([3], [2.0]);"
            "t = pd.DataFrame({'metric': ['orders'], 'period': pd.Timestamp('2025-05-01', tz='UTC'),"
            " 'value': [10.0], 'ci_low': [8.0], 'ci_high': [12.0]}); t.attrs.update(as_of='2025-06-01', period='M');"
            "assert len(snapshots.compare(t, t)) == 1;"
            "print('scipy.stats' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_metric_registry():
    names = kpi.metric_names()
    assert len(names) == len(set(names)) == 27
    assert all(m.ci_method in ("wilson", "t", "poisson", "trinomial", "") for m in kpi.METRICS.values())
    with pytest.raises(CRMError, match=r"unknown metrics 'nope', 'bad'; valid metrics are: new_contacts, "):
        kpi.check_metric_names(["nps", "nope", "bad"])


def test_empty_order_log_gives_zeros_not_errors():
    empty = pd.DataFrame(columns=["customer_id", "ordered_at", "amount"])
    b = kpi.baseline({"orders": empty}, AS_OF, "M")
    assert b["period"].unique().tolist() == [pd.Timestamp("2024-03-01", tz=UTC)]
    assert values(b, "customers") == [0] and values(b, "revenue") == [0.0]
    assert np.isnan(values(b, "average_order_value")[0])
