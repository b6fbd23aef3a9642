"""What-if simulation on an absorbing Markov chain: hand-worked chains and the synthetic company."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm_research import synthetic
from crm_research.errors import ParameterError
from crm_research.journey import Bootstrap, JourneyChain, simulate

T0 = pd.Timestamp("2024-01-01", tz="UTC")


def _log(paths: dict[str, list[str]]) -> pd.DataFrame:
    rows = [(p, T0 + pd.Timedelta(minutes=i), e) for p, evs in paths.items() for i, e in enumerate(evs)]
    return pd.DataFrame(rows, columns=["customer_id", "occurred_at", "event"])


def test_linear_chain_by_hand():
    # visit -> checkout: 3 of 4 paths; checkout -> purchase: 2 of 3. Purchases per path 3/4 * 2/3.
    ev = _log({"p1": ["visit", "checkout", "purchase"], "p2": ["visit", "checkout"],
               "p3": ["visit", "checkout", "purchase"], "p4": ["visit"]})
    r = simulate(ev, ("checkout", "purchase"), 0.25, level="event", bootstrap=Bootstrap(n_boot=0),
                 value_per_purchase=10.0).iloc[0]
    assert r["p_step"] == pytest.approx(2 / 3) and r["p_step_new"] == pytest.approx(5 / 6)
    assert r["baseline_purchases"] == pytest.approx(2.0)       # = observed
    assert r["projected_purchases"] == pytest.approx(2.5)      # 4 * 3/4 * 5/6
    assert r["extra_purchases"] == pytest.approx(0.5)
    assert r["extra_revenue"] == pytest.approx(5.0)


def test_chain_with_a_loop_by_hand():
    # after a purchase half the paths come back: p = purchases per path solves
    # p = q (1 + p/2) with q = P(checkout -> purchase). q = 2/3 -> p = 1; q = 5/6 -> p = 10/7
    ev = _log({"p1": ["visit", "checkout", "purchase", "visit", "checkout", "purchase"],
               "p2": ["visit", "checkout"]})
    r = simulate(ev, ("checkout", "purchase"), 0.25, level="event", bootstrap=Bootstrap(n_boot=0)).iloc[0]
    assert r["baseline_purchases"] == pytest.approx(2.0)
    assert r["projected_purchases"] == pytest.approx(20 / 7)
    assert r["extra_purchases"] == pytest.approx(6 / 7)
    ch = JourneyChain(level="event").fit(ev)
    v = ch.expected_visits()
    assert v["visit"] == pytest.approx(1.5) and v["purchase"] == pytest.approx(1.0)


def test_stage_level_collapses_visits():
    # stages: ad_click -> discovery, product_view/add_to_cart -> consideration,
    # checkout_start/purchase -> purchase. Path c1: D C P D C ; c2: D C
    ev = _log({"c1": ["ad_click", "product_view", "add_to_cart", "checkout_start", "purchase",
                      "site_visit", "product_view"],
               "c2": ["ad_click", "site_visit", "product_view"]})
    ch = JourneyChain().fit(ev)
    t = ch.transition_table().set_index(["from_state", "to_state"])["n"].to_dict()
    assert t == {("(start)", "discovery"): 2, ("discovery", "consideration"): 3,
                 ("consideration", "purchase"): 1, ("consideration", "(end)"): 2,
                 ("purchase", "discovery"): 1}
    assert ch.targets_per_visit_ == 1.0
    # consideration -> purchase 1/3; doubling it: 2/3. Purchase visits per path solve
    # p = (1 + p) * q with q the probability -> 0.5 then 2
    r = ch.what_if(("consideration", "purchase"), 1.0, bootstrap=Bootstrap(n_boot=0)).iloc[0]
    assert r["baseline_purchases"] == pytest.approx(1.0)
    assert r["projected_purchases"] == pytest.approx(4.0)


@pytest.fixture(scope="module")
def company():
    tables, _, truth_customers = synthetic.generate(10_000, 42)
    ev = tables["events"].merge(truth_customers[["customer_id", "segment"]], on="customer_id")
    orders = tables["orders"][["order_id", "amount"]]
    ev = ev.merge(orders, on="order_id", how="left")
    return ev


def test_synthetic_baseline_equals_observed_and_interval(company):
    seg = {"segment": "bargain"}
    r = simulate(company, ("checkout_start", "purchase"), 0.10, segment=seg, level="event",
                 value_col="amount", bootstrap=Bootstrap(n_boot=200, seed=3)).iloc[0]
    bargain = company[company["segment"] == "bargain"]
    n_purchases = int((bargain["event"] == "purchase").sum())
    assert r["n_paths"] == bargain["customer_id"].nunique()
    assert r["observed_purchases"] == n_purchases
    assert r["baseline_purchases"] == pytest.approx(n_purchases, rel=1e-9)
    # every purchase passes checkout_start -> purchase, so +10% on that move adds ~10% of the
    # purchases directly, plus a small feedback (a buyer's next steps differ from a non-buyer's)
    assert 0.09 * n_purchases < r["extra_purchases"] < 0.12 * n_purchases
    assert r["extra_low"] < r["extra_purchases"] < r["extra_high"]
    amount = bargain.loc[bargain["event"] == "purchase", "amount"].sum()
    assert r["value_per_purchase"] == pytest.approx(amount / n_purchases)
    assert r["extra_revenue"] == pytest.approx(r["extra_purchases"] * r["value_per_purchase"])
    # seeded: same seed, same numbers bit for bit; another seed, another interval
    again = simulate(company, ("checkout_start", "purchase"), 0.10, segment=seg, level="event",
                     value_col="amount", bootstrap=Bootstrap(n_boot=200, seed=3)).iloc[0]
    assert again["extra_low"] == r["extra_low"] and again["extra_high"] == r["extra_high"]
    other = simulate(company, ("checkout_start", "purchase"), 0.10, segment=seg, level="event",
                     value_col="amount", bootstrap=Bootstrap(n_boot=200, seed=4)).iloc[0]
    assert other["extra_low"] != r["extra_low"]


def test_synthetic_stage_level(company):
    r = simulate(company, ("consideration", "purchase"), 0.10, bootstrap=Bootstrap(n_boot=50, seed=0)).iloc[0]
    assert r["baseline_purchases"] == pytest.approx(r["observed_purchases"], rel=1e-9)
    assert r["extra_purchases"] > 0
    lower = simulate(company, ("consideration", "purchase"), -0.10, bootstrap=Bootstrap(n_boot=0)).iloc[0]
    assert lower["extra_purchases"] < 0
    with pytest.raises(ParameterError, match="unknown from-state"):
        simulate(company, ("checkout_start", "purchase"), 0.1, bootstrap=Bootstrap(n_boot=0))
    assert np.isfinite(r["extra_high"])


# -- the steps ranked as levers: one ranking for the headline, the findings and the text --------

def _whatif_rows(revenue, purchases):
    steps = ["a → b", "b → c", "c → d", "d → e"][: len(purchases)]
    return pd.DataFrame({"segment": "(all)", "step": steps, "extra_purchases": purchases,
                         "extra_revenue": revenue if revenue is not None else [np.nan] * len(purchases)})


def test_rank_levers_puts_the_biggest_extra_revenue_first():
    from crm_research.journey import rank_levers

    ranked = rank_levers(_whatif_rows([20_000.0, 259_000.0, 224_000.0, 192_000.0], [152.0, 1979.0, 1711.0, 1466.0]))
    assert list(ranked["step"]) == ["b → c", "c → d", "d → e", "a → b"]
    assert list(ranked["rank"]) == [1, 2, 3, 4] and set(ranked["ranked_by"]) == {"extra_revenue"}


def test_rank_levers_without_revenue_ranks_purchases_and_keeps_ties_in_table_order():
    from crm_research.journey import rank_levers

    ranked = rank_levers(_whatif_rows(None, [5.0, 9.0, 9.0, 1.0]))
    assert list(ranked["step"]) == ["b → c", "c → d", "a → b", "d → e"]
    assert set(ranked["ranked_by"]) == {"extra_purchases"}
    assert rank_levers(_whatif_rows(None, [])).empty


def test_the_demo_what_if_names_one_biggest_lever():
    """The index's headline and the report's text both read row 1: the same step (issue 13)."""
    from crm_research.journey import rank_levers

    whatif = _whatif_rows([19_977.0, 192_254.0, 259_519.0, 224_386.0], [152.4, 1466.3, 1979.4, 1711.4])
    best = rank_levers(whatif).iloc[0]
    assert best["step"] == whatif.loc[whatif["extra_purchases"].idxmax(), "step"] == "c → d"


def test_per_year_divides_by_the_years_of_the_window():
    import math

    from crm_research.journey import per_year

    assert per_year(200.0, "2024-01-01", "2026-01-01") == pytest.approx(100.0, rel=1e-3)
    assert per_year(10.0, "2025-10-01", "2026-01-01") == pytest.approx(10.0 * 365.25 / 92)
    assert math.isnan(per_year(1.0, "2026-01-01", "2026-01-01"))
    assert math.isnan(per_year(1.0, None, "2026-01-01"))


def test_options_are_frozen_and_the_chain_prints_its_parameters():
    import dataclasses

    from crm_research.journey import EventColumns

    cols = EventColumns(path_col="session_id")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cols.path_col = "x"
    assert repr(JourneyChain(level="event", target="buy", columns=cols)) == (
        "JourneyChain(level='event', target='buy', columns=EventColumns(path_col='session_id', "
        "time_col='occurred_at', event_col='event', row_col=None))")
    # a session as the path: two sessions of one customer are two paths
    ev = _log({"c1": ["visit", "checkout", "purchase", "visit"]}).assign(session_id=["s1", "s1", "s1", "s2"])
    ch = JourneyChain(level="event", columns=cols).fit(ev)
    assert ch.n_paths_ == 2 and ch.n_target_ == 1
