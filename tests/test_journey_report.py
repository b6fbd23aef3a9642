"""The journey report's inputs, tables and sentences (what notebooks/03_journey.ipynb calls).

Hand-made event logs whose numbers are worked out in the comments: the parameters checked, the
events prepared (contacts, attributes, order amounts, visits), the funnel split and its biggest
drop-off, the trend, the time tables, the what-if at every step, the planted-truth check and the
sentences built from them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm_research import settings as S
from crm_research.errors import ParameterError
from crm_research.journey import (
    Bootstrap,
    JourneyChain,
    check_parameters,
    prepare_events,
    rank_levers,
    simulate,
)
from crm_research.journey import report as JR

AS_OF = pd.Timestamp("2026-01-01", tz="UTC")
T0 = pd.Timestamp("2025-12-01 10:00", tz="UTC")
STEPS = ["site_visit", "add_to_cart", "purchase"]
SETTINGS = JR.report_labels(S.from_dict({}))


def _log(paths: dict, *, gap="1min", start=T0) -> pd.DataFrame:
    """One row per event; each path's events ``gap`` apart, paths one day apart."""
    rows = [(c, start + pd.Timedelta(days=k) + i * pd.Timedelta(gap), e)
            for k, (c, evs) in enumerate(paths.items()) for i, e in enumerate(evs)]
    return pd.DataFrame(rows, columns=["customer_id", "occurred_at", "event"])


# -- parameters ------------------------------------------------------------------------------

def test_check_parameters_derives_what_the_report_needs():
    p = check_parameters("2026-01-01", STEPS, "add_to_cart", "M")
    assert p.as_of == AS_OF and p.last_day == pd.Timestamp("2025-12-31", tz="UTC")
    assert p.target == "purchase" and p.improve_move == ("add_to_cart", "purchase")
    assert p.friction_unit == "months"
    assert list(p.stage_map)[:3] == ["discovery", "consideration", "purchase"]
    assert p.stage_of["purchase"] == "purchase" and p.stage_of["add_to_cart"] == "consideration"


@pytest.mark.parametrize(("args", "message"), [
    ((None, STEPS, "add_to_cart", "W"), "as_of is required"),
    (("2026-01-01", ["purchase"], "purchase", "W"), "give at least two event names"),
    (("2026-01-01", STEPS, "purchase", "W"), r"improve_step='purchase' must be a funnel step before the last one"),
    (("2026-01-01", STEPS, "site_visit", "Q"), r"friction_period='Q': use 'W' \(weeks\), 'M' \(months\) or 'D'"),
])
def test_check_parameters_says_what_to_give(args, message):
    with pytest.raises(ParameterError, match=message):
        check_parameters(*args)


# -- the event log ------------------------------------------------------------------------------

def _company():
    events = pd.DataFrame({
        "customer_id": ["a", "a", "a", "b", "b", "c", "d"],
        "occurred_at": [T0, T0 + pd.Timedelta("10min"), T0 + pd.Timedelta("50min"),   # a: 2 visits at 30 min
                        T0, T0 + pd.Timedelta("5min"),
                        AS_OF, AS_OF - pd.Timedelta("1s")],                            # c's event is on as_of: out
        "event": ["site_visit", "add_to_cart", "purchase", "site_visit", "purchase", "site_visit", "site_visit"],
        "platform": ["web", "web", "web", "app", "app", "web", "web"],
        "order_id": [None, None, "o1", None, "o2", None, None]})
    customers = pd.DataFrame({
        "customer_id": ["a", "b", "c", "e", "f"],
        "signup_at": [T0, T0, T0, T0, AS_OF],       # e: signed up, no event; f: signs up on as_of (not known)
        "region": ["north", "south", "north", "south", "north"],
        "platform": ["x", "x", "x", "x", "x"]})     # the events' own platform wins
    orders = pd.DataFrame({"order_id": ["o1", "o2"], "amount": [80.0, 30.0], "status": ["completed", "returned"]})
    return events, customers, orders


def test_prepare_events_counts_contacts_and_attaches_attributes_amounts_and_visits():
    events, customers, orders = _company()
    p = prepare_events(events, customers, orders, "2026-01-01", session_timeout_minutes=30)
    ev = p.events
    # a, b, c, e signed up before as_of; d has an event before it: 5 contacts; f is not known yet
    assert p.n_contacts == 5
    assert len(ev) == 6 and ev["occurred_at"].max() < AS_OF
    assert p.segments == ["platform", "region"] and p.missing_segments == ["acquisition_channel"]
    assert list(ev["platform"]) == ["web", "web", "web", "app", "app", "web"]   # not the customers' column
    assert ev.loc[ev["customer_id"] == "a", "region"].tolist() == ["north"] * 3
    assert ev["region"].isna().sum() == 1                                       # d: no customer row
    # o1 completed (80), o2 returned: no revenue
    assert ev["amount"].fillna(-1).tolist() == [-1, -1, 80.0, -1, -1, -1] and p.value_col == "amount"
    # no visit ids: a's purchase 40 minutes after its cart starts a second visit
    assert p.cut_visits and ev.groupby("customer_id")["session_id"].nunique().to_dict() == {"a": 2, "b": 1, "d": 1}
    assert p.split == "platform"


def test_prepare_events_keeps_the_datas_visits_and_counts_every_order_without_a_status():
    events, customers, orders = _company()
    events = events.assign(session_id=["s1", "s1", "s1", "s2", "s2", "s3", "s4"])
    p = prepare_events(events.drop(columns="platform"), customers.drop(columns="signup_at"),
                       orders.drop(columns="status"), AS_OF)
    assert not p.cut_visits and p.events["session_id"].nunique() == 3     # s3 is c's, on as_of
    assert p.events["amount"].sum() == 110.0                 # both orders count
    assert p.n_contacts == 6                                 # every customer row, plus d
    # the customers' platform is merged onto the events: the funnel is split by it
    assert p.split == "platform" and p.events["platform"].fillna("-").tolist() == ["x"] * 5 + ["-"]
    no_orders = prepare_events(events.drop(columns="order_id"), customers, None, AS_OF)
    assert no_orders.value_col is None and "amount" not in no_orders.events.columns


def test_events_text_says_how_visits_were_found():
    events, customers, orders = _company()
    p = prepare_events(events, customers, orders, AS_OF)
    text = JR.events_text(p, SETTINGS, AS_OF, 30)
    assert text.startswith("**6** events of **3** contacts (5 contacts known before 01 Jan 2026), from 01 Dec 2025 "
                           "to 31 Dec 2025; **4** visits (every contact's events cut into visits after 30 minutes")
    assert text.endswith("Not in the data, so not used to look for friction: Acquisition channel.")


# -- the funnel ----------------------------------------------------------------------------------

FUNNEL_PATHS = {  # 4 web visits, 2 app visits
    "w1": ["site_visit", "add_to_cart", "purchase"], "w2": ["site_visit", "add_to_cart"],
    "w3": ["site_visit"], "w4": ["site_visit"],
    "m1": ["site_visit", "add_to_cart", "purchase"], "m2": ["site_visit", "add_to_cart", "purchase"]}


def _funnel_log():
    ev = _log(FUNNEL_PATHS)
    return ev.assign(session_id=ev["customer_id"], platform=ev["customer_id"].str[0].map({"w": "web", "m": "app"}))


def test_funnel_split_biggest_drop_and_visits_beside_customers():
    ev = _funnel_log()
    overall, table = JR.funnel_split(ev, STEPS, by="platform")
    assert overall["n"].tolist() == [6, 4, 3]
    assert table.columns[0] == "platform" and table["platform"].tolist()[:3] == ["(all)"] * 3
    web = table[table["platform"] == "web"]
    assert web["n"].tolist() == [4, 2, 1]
    # site_visit -> add_to_cart loses 2 of 6 visits, add_to_cart -> purchase 1 of 4
    drop = JR.biggest_drop(overall, STEPS)
    assert (drop["from_step"], drop["step"], drop["drop_off"], drop["n_prev"]) == ("site_visit", "add_to_cart", 2, 6)
    assert drop["drop_off_rate"] == pytest.approx(2 / 6)
    # the customer funnel of the same log: every customer has one visit, so the same numbers
    both = JR.visits_and_customers(overall, overall)
    assert both.columns.tolist() == ["step", "visits_n", "visits_conversion", "visits_overall_conversion",
                                     "customers_n", "customers_conversion", "customers_overall_conversion"]
    assert both["customers_n"].tolist() == [6, 4, 3] and both["visits_conversion"].iloc[2] == pytest.approx(0.75)
    text = JR.funnel_texts(overall, drop, "purchase", SETTINGS)
    assert text.headlines == [("Visits that end in a purchase", 0.5, "50.0%")]
    assert text.findings[0]["text"].startswith("The biggest drop-off is between **Site visit** and **Add to cart**: "
                                               "33.3% of the visits that reached Site visit (2 of 6 visits) went no further.")
    assert JR.biggest_drop(overall.assign(drop_off=0), STEPS) is None


def test_conversion_trend_and_period_names():
    ev = pd.concat([_log(FUNNEL_PATHS, start=pd.Timestamp("2025-11-03", tz="UTC")),
                    _log({"x1": STEPS}, start=pd.Timestamp("2025-12-20", tz="UTC"))], ignore_index=True)
    from crm_research.journey import funnel

    by_period = funnel(ev, STEPS, path_col="customer_id", period="M")
    trend = JR.conversion_trend(by_period, STEPS)
    assert trend.columns.tolist() == ["add_to_cart", "purchase"]
    assert trend["add_to_cart"].tolist() == pytest.approx([4 / 6, 1.0])
    names = JR.period_names(trend.index, "M", pd.Timestamp("2025-12-15", tz="UTC"), SETTINGS)
    assert names == ["Nov 2025", "Dec 2025 (partial)"]
    assert JR.period_names(["2025-12-01"], "W", AS_OF, SETTINGS) == ["Week of 01 Dec 2025"]
    view = JR.trend_view(trend, "M", AS_OF, SETTINGS)
    assert view["period_name"].tolist() == ["Dec 2025", "Nov 2025"]


# -- stages, timing ------------------------------------------------------------------------------

def test_stage_moves_time_in_stages_and_time_to_purchase():
    # ad_click: discovery; product_view: consideration; purchase: purchase. Days apart.
    ev = _log({"a": ["ad_click", "product_view", "purchase"], "b": ["ad_click", "product_view"], "c": ["ad_click"]},
              gap="2D")
    stage_map = check_parameters(AS_OF, STEPS, "site_visit", "W").stage_map
    staged, moves = JR.stage_moves(ev, stage_map)
    assert len(staged) == 6
    m = moves.set_index(["from_event", "to_event"])
    assert m.loc[("discovery", "consideration"), "n"] == 2
    assert m.loc[("discovery", "consideration"), "median_days"] == pytest.approx(2.0)
    tis = JR.time_in_stages(staged, stage_map, AS_OF)
    assert tis[["stage", "next_stage"]].iloc[0].tolist() == ["discovery", "consideration"]
    assert len(tis) == len(stage_map) - 1
    first = tis.iloc[0]
    assert (first["n_paths"], first["n_reached"]) == (3, 2) and first["median_reachers"] == pytest.approx(2.0)
    from crm_research.journey import time_to_paths

    ev = ev.assign(acquisition_channel=ev["customer_id"].map({"a": "ads", "b": "ads", "c": "seo"}))
    table = JR.time_to_purchase_table(time_to_paths(ev, "purchase", AS_OF, by="acquisition_channel"),
                                      "acquisition_channel")
    assert table["acquisition_channel"].tolist() == ["(all)", "ads", "seo"]
    assert table["n_paths"].tolist() == [3, 2, 1] and table["n_reached"].tolist() == [1, 1, 0]
    assert table.loc[0, "median_reachers"] == pytest.approx(4.0)    # a: ad_click to purchase, 2 x 2 days
    assert JR.channel_words(table["acquisition_channel"], SETTINGS.label)[0] == "All contacts"
    finding = JR.time_to_purchase_texts(table, SETTINGS).findings[0]["text"]
    assert finding.startswith("Contacts who buy do so early: half of the first purchases came within 4 days")


def test_stage_texts_name_the_largest_group():
    p = check_parameters(AS_OF, STEPS, "site_visit", "W")
    table = pd.DataFrame({"stage": ["discovery", "consideration", "purchase"], "n_current": [6, 3, 1],
                          "share_current": [0.5, 0.25, 1 / 12], "share_reached": [10 / 12, 4 / 12, 1 / 12]})
    text = JR.stage_texts(table, p, 12, SETTINGS)
    assert text.headlines == [("Contacts who reached the purchase stage", pytest.approx(1 / 12), "8.3%")]
    assert text.findings[0]["text"] == ("Of the 12 contacts, the largest group, 6 (50.0%), has gone no further than "
                                        "the discovery stage. 8.3% reached the purchase stage.")


# -- what-if ------------------------------------------------------------------------------------

def test_what_if_steps_is_simulate_at_every_step_and_the_texts_name_the_biggest_lever():
    ev = _log({"p1": ["visit", "checkout", "purchase"], "p2": ["visit", "checkout"],
               "p3": ["visit", "checkout", "purchase"], "p4": ["visit"]})
    steps = ["visit", "checkout", "purchase"]
    chain = JourneyChain(level="event", states=steps, target="purchase").fit(ev)
    whatif = JR.what_if_steps(chain, steps, 0.25, bootstrap=Bootstrap(n_boot=0))
    assert whatif["segment"].tolist() == ["(all)", "(all)"] and whatif["step"].tolist() == ["visit → checkout",
                                                                                          "checkout → purchase"]
    one = simulate(ev, ("checkout", "purchase"), 0.25, level="event", states=steps, bootstrap=Bootstrap(n_boot=0))
    assert whatif["extra_purchases"].iloc[1] == pytest.approx(one["extra_purchases"].iloc[0]) == pytest.approx(0.5)
    # visit -> checkout 3/4 -> 15/16: purchases 4 * 15/16 * 2/3 = 2.5, also +0.5; ties keep funnel order
    assert whatif["extra_purchases"].iloc[0] == pytest.approx(0.5)
    levers = rank_levers(whatif.assign(extra_purchases=[0.4, 0.5]))
    text = JR.whatif_texts(levers, chosen_move=("visit", "checkout"), improve_by=0.25, improve_segment={},
                           first_event=ev["occurred_at"].min(), as_of=AS_OF, n_boot=0, settings=SETTINGS,
                           drop={"from_step": "visit", "step": "checkout"})
    assert text.headlines[0][:2] == ("What-if: the biggest lever", 0.5)
    assert text.headlines[0][2] == "Checkout → Purchase +25%: 0 more purchases over the month of data"
    assert "the same improvement ranks 2 of 2" in text.markdown
    assert "The biggest lever is not the biggest drop-off (Visit → Checkout)" in text.markdown
    view, columns = JR.whatif_view(levers, SETTINGS, improve_by=0.25, client=True)
    assert view["step_words"].tolist() == ["Checkout → Purchase", "Visit → Checkout"]
    assert columns["p_step_new"] == "With +25%" and "revenue_words" not in columns


# -- friction and the planted truth ----------------------------------------------------------------

def _incidents(**over):
    row = {"rank": 1, "step": "cart → buy", "from_step": "cart", "to_step": "buy", "segment": "platform=app",
           "segment_col": "platform", "segment_value": "app", "step_index": 2,
           "period_start": pd.Timestamp("2025-06-02", tz="UTC"), "period_end": pd.Timestamp("2025-06-16", tz="UTC"),
           "first_day": pd.Timestamp("2025-06-02", tz="UTC"), "last_day": pd.Timestamp("2025-06-15", tz="UTC"),
           "n_periods": 2, "n_during": 400, "conversion_during": 0.3, "conversion_baseline": 0.6,
           "lost_conversions": 120.0, "people_affected": 350}
    return pd.DataFrame([{**row, **over}])


def test_friction_texts_value_the_lost_purchases():
    events = pd.DataFrame({"event": ["buy", "buy", "cart"], "amount": [50.0, np.nan, np.nan]})
    text = JR.friction_texts(_incidents(), events, value_col="amount", target="buy", unit="weeks", as_of=AS_OF,
                             settings=SETTINGS)
    assert text.headlines == [("Strongest friction incident",
                               "Cart → Buy on app, 02 Jun 2025 to 15 Jun 2025: 30% instead of 60%", None)]
    # 120 lost purchases at the mean value of a purchase, 25 (a purchase without amount counts 0)
    assert text.actions[0]["value"] == pytest.approx(3000.0)
    assert text.findings[0]["text"].endswith("about 120 buys lost, about 3,000 in revenue.")
    assert JR.friction_texts(_incidents().iloc[:0], events, value_col=None, target="buy", unit="weeks", as_of=AS_OF,
                             settings=SETTINGS).findings == []


def test_truth_check_matches_step_group_and_overlapping_dates():
    planted = {"friction": {"from_step": "cart", "to_step": "buy", "segment": {"platform": "app"},
                            "start": "2025-06-09", "end": "2025-06-23", "p_before": 0.6, "p_during": 0.2}}
    check, matched = JR.truth_check(_incidents(), planted)
    assert matched
    assert check.set_index("quantity").loc["last day"].tolist() == ["2025-06-22", "2025-06-15"]
    assert not JR.truth_check(_incidents(segment_value="web"), planted)[1]
    late = _incidents(period_start=pd.Timestamp("2025-06-23", tz="UTC"), period_end=pd.Timestamp("2025-07-07", tz="UTC"))
    assert not JR.truth_check(late, planted)[1]
