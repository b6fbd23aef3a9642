"""The journey report on engine tables gives the pandas report (notebooks/03_journey.ipynb, engine="duckdb").

A synthetic company of 300 customers loaded twice, into pandas and onto DuckDB: the prepared event
log (rows, values, journey order), what the report says about it, and every report table built from
it are equal on both routes. Hand-made logs check the two things the engine cannot take from a row
order: simultaneous events follow the lifecycle (a visit before its product view), and visits are
cut after inactivity when the data has no visit ids.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from crm_research import data, engine, synthetic
from crm_research import settings as S
from crm_research.errors import ParameterError
from crm_research.data.load import journey_order
from crm_research.journey import (
    Bootstrap,
    JourneyChain,
    check_parameters,
    friction_cells,
    friction_points,
    funnel,
    path_flows,
    prepare_events,
    stage_counts,
    stages,
    top_paths,
)
from crm_research.journey import report as JR
from crm_research.journey.prepare import ORDER_COL

AS_OF = pd.Timestamp("2026-01-01", tz="UTC")
STEPS = ["site_visit", "product_view", "add_to_cart", "checkout_start", "purchase"]
SETTINGS = JR.report_labels(S.from_dict({}))


@pytest.fixture(scope="module")
def both():
    tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    pdata = data.load(tables, as_of=AS_OF)
    edata = data.load(tables, as_of=AS_OF, con=engine.open_engine("duckdb"))
    p = prepare_events(pdata.events, pdata.customers, pdata.orders, AS_OF)
    e = prepare_events(edata.events, edata.customers, edata.orders, AS_OF)
    return pdata, edata, p, e


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_dtype=False)


def test_prepared_events_are_the_pandas_events_in_journey_order(both):
    _, _, p, e = both
    assert engine.is_lazy(e.events)
    assert (e.n_contacts, e.segments, e.missing_segments, e.value_col, e.cut_visits, e.split, e.first_event) == (
        p.n_contacts, p.segments, p.missing_segments, p.value_col, p.cut_visits, p.split, p.first_event)
    assert p.value_col == "amount" and p.n_contacts > 250
    got = engine.collect(e.events).sort_values(["customer_id", ORDER_COL]).reset_index(drop=True)
    assert got[ORDER_COL].tolist() == got.groupby("customer_id").cumcount().tolist()
    want = p.events.reset_index(drop=True)
    assert len(got) == len(want) > 10_000
    for col in want.columns:  # same rows in the same order, column by column (text: object vs string)
        a, b = got[col], want[col]
        assert ((a == b) | (a.isna() & b.isna())).all(), col


def test_report_tables_are_equal_on_the_engine(both):
    pdata, edata, p, e = both
    smap = check_parameters(AS_OF, STEPS, "checkout_start", "W").stage_map
    assert JR.events_text(e, SETTINGS, AS_OF, 30) == JR.events_text(p, SETTINGS, AS_OF, 30)
    cur_p, cur_e = stages(p.events, smap, as_of=AS_OF), engine.collect(stages(e.events, smap, as_of=AS_OF))
    _same(cur_e, cur_p)
    lazy_cur = stages(e.events, smap, as_of=AS_OF)  # counted on the engine
    _same(stage_counts(lazy_cur, smap, customers=e.n_contacts), stage_counts(cur_p, smap, customers=p.n_contacts))
    _same(stage_counts(lazy_cur, smap), stage_counts(cur_p, smap))
    _same(JR.stages_by(lazy_cur, edata.customers, smap), JR.stages_by(cur_p, pdata.customers, smap))
    _same(JR.stages_by(cur_e, edata.customers, smap), JR.stages_by(cur_p, pdata.customers, smap))
    for a, b in zip(JR.funnel_split(e.events, STEPS, by=e.split), JR.funnel_split(p.events, STEPS, by=p.split),
                    strict=True):
        _same(a, b)
    staged_e, moves_e = JR.stage_moves(e.events, smap)
    staged_p, moves_p = JR.stage_moves(p.events, smap)
    _same(moves_e, moves_p)
    _same(JR.time_in_stages(staged_e, smap, AS_OF), JR.time_in_stages(staged_p, smap, AS_OF))
    _same(engine.collect(top_paths(e.events, path_col="customer_id", n=15, max_steps=5)),
          top_paths(p.events, path_col="customer_id", n=15, max_steps=5))
    _same(engine.collect(path_flows(e.events, 5, path_col="customer_id")), path_flows(p.events, 5, path_col="customer_id"))
    # the scan reads only the cells: equal cells, equal incidents (one scan is enough)
    search_e = JR.friction_search(e.events, STEPS, segments=e.segments, period="W", as_of=AS_OF, max_window=2, seed=1)
    _same(search_e.cells, friction_cells(p.events, STEPS, segments=p.segments, period="W", as_of=AS_OF))
    assert search_e.cells["n"].sum() > 1000
    chain_e = JourneyChain(level="event", states=STEPS, target="purchase", value_col=e.value_col).fit(e.events)
    chain_p = JourneyChain(level="event", states=STEPS, target="purchase", value_col=p.value_col).fit(p.events)
    _same(chain_e.transition_table(), chain_p.transition_table())
    assert (chain_e.n_paths_, chain_e.n_target_, chain_e.value_per_target_) == (
        chain_p.n_paths_, chain_p.n_target_, chain_p.value_per_target_)
    boot = Bootstrap(n_boot=20, seed=3)  # the same paths in the same order: the same resamples
    _same(chain_e.what_if(("checkout_start", "purchase"), 0.1, bootstrap=boot),
          chain_p.what_if(("checkout_start", "purchase"), 0.1, bootstrap=boot))


def test_the_value_of_a_lost_purchase_is_the_pandas_mean(both):
    _, _, p, e = both
    incidents = pd.DataFrame([{"rank": 1, "step": "checkout_start → purchase", "from_step": "checkout_start",
                               "to_step": "purchase", "segment": "platform=app", "segment_col": "platform",
                               "segment_value": "app", "period_start": pd.Timestamp("2025-06-02", tz="UTC"),
                               "period_end": pd.Timestamp("2025-06-16", tz="UTC"),
                               "first_day": pd.Timestamp("2025-06-02", tz="UTC"),
                               "last_day": pd.Timestamp("2025-06-15", tz="UTC"), "n_periods": 2, "n_during": 400,
                               "conversion_during": 0.3, "conversion_baseline": 0.6, "lost_conversions": 120.0,
                               "people_affected": 350}])
    args = {"value_col": "amount", "target": "purchase", "unit": "weeks", "as_of": AS_OF, "settings": SETTINGS}
    te, tp = JR.friction_texts(incidents, e.events, **args), JR.friction_texts(incidents, p.events, **args)
    mean = float(p.events.loc[p.events["event"] == "purchase", "amount"].fillna(0).mean())
    assert te.actions[0]["value"] == tp.actions[0]["value"] == 120.0 * mean > 0
    assert te.markdown == tp.markdown


def _simultaneous() -> tuple[pd.DataFrame, pd.DataFrame]:
    # customer a: a visit and its product view at the same instant (the loader orders the visit
    # first: lifecycle order, not the alphabet), a cart 1 minute later, a purchase 2 hours later;
    # b: a visit only. No visit ids.
    t = pd.Timestamp("2025-12-01 10:00", tz="UTC")
    events = pd.DataFrame({"customer_id": ["a", "a", "a", "a", "b"],
                           "occurred_at": [t, t, t + pd.Timedelta("1min"), t + pd.Timedelta("2h"), t],
                           "event": ["product_view", "site_visit", "add_to_cart", "purchase", "site_visit"],
                           "platform": ["desktop", "app", "desktop", "desktop", "app"]})
    customers = pd.DataFrame({"customer_id": ["a", "b"], "region": ["north", "south"],
                              "signup_at": [t - pd.Timedelta("1D")] * 2})
    return events, customers


def test_simultaneous_events_follow_the_lifecycle_and_visits_are_cut_on_the_engine():
    events, customers = _simultaneous()
    p = prepare_events(journey_order(events), customers, None, AS_OF)  # as the pandas loader gives them
    e = prepare_events(ibis.memtable(events), ibis.memtable(customers), None, AS_OF)
    assert p.cut_visits and e.cut_visits and e.value_col is None and e.n_contacts == 2
    got = engine.collect(e.events).sort_values(["customer_id", ORDER_COL])
    assert got["event"].tolist() == p.events["event"].tolist() == [
        "site_visit", "product_view", "add_to_cart", "purchase", "site_visit"]
    assert got["session_id"].tolist() == p.events["session_id"].tolist() == ["a:1", "a:1", "a:1", "a:2", "b:1"]
    # the funnel's first step carries the platform of the visit (app), not of the product view
    f = engine.collect(funnel(e.events, ["site_visit", "product_view", "add_to_cart"], path_col="session_id",
                              by="platform"))
    _same(f, funnel(p.events, ["site_visit", "product_view", "add_to_cart"], path_col="session_id", by="platform"))
    assert f.loc[f["platform"] == "app", "n"].tolist() == [2, 1, 1]
    # without the journey order the engine would order the tie by name: the product view first
    bare = ibis.memtable(got.drop(columns=ORDER_COL))
    g = engine.collect(funnel(bare, ["site_visit", "product_view"], path_col="session_id"))
    assert g["n"].tolist() == [2, 0]


def test_an_empty_session_column_is_cut_into_visits_on_the_engine():
    events, customers = _simultaneous()
    events = events.assign(session_id=pd.Series([None] * len(events), dtype=object))
    t = engine.to_ibis(events).mutate(session_id=ibis.null().cast("string"))
    e = prepare_events(t, customers, None, AS_OF)
    p = prepare_events(events, customers, None, AS_OF)
    assert e.cut_visits and p.cut_visits
    assert np.array_equal(engine.collect(e.events).sort_values(["customer_id", ORDER_COL])["session_id"],
                          ["a:1", "a:1", "a:1", "a:2", "b:1"])


def test_counts_from_the_visits_rows_are_the_counts_from_the_events(both):
    # the report reads the events once into one row per visit (JR.visit_paths) and counts every
    # visit funnel, the drop-offs and friction's cells from it: the same tables as from the events
    _, _, p, e = both
    by = [e.split, *e.segments]
    for ev, visits in ((e.events, JR.visit_paths(e.events, STEPS, by=by)), (p.events, JR.visit_paths(p.events, STEPS, by=by))):
        assert engine.collect(visits)["session_id"].is_unique
        for split, period in ((None, None), ("platform", None), (None, "M"), ("region", "W")):
            want = engine.collect(funnel(ev, STEPS, path_col="session_id", by=split, period=period))
            _same(engine.collect(JR.visit_funnel(ev, STEPS, by=split, period=period, visits=visits)), want)
            if split is None and period is None:
                assert want["n"].iloc[0] > 1000 and want["n"].iloc[-1] > 10  # visits and buyers
        for a, b in zip(JR.funnel_split(ev, STEPS, by="platform", visits=visits), JR.funnel_split(ev, STEPS, by="platform"),
                        strict=True):
            _same(a, b)
        _same(engine.collect(friction_cells(ev, STEPS, segments=e.segments, period="W", as_of=AS_OF, paths=visits)),
              engine.collect(friction_cells(ev, STEPS, segments=e.segments, period="W", as_of=AS_OF)))
        _same(friction_points(ev, STEPS, paths=visits), friction_points(ev, STEPS))
    # an open funnel is not what the visits' rows hold: it is counted from the events
    _same(engine.collect(JR.visit_funnel(e.events, STEPS, mode="open", visits=visits)),
          engine.collect(funnel(e.events, STEPS, path_col="session_id", mode="open")))
    with pytest.raises(ParameterError, match="window= or paths="):
        friction_cells(e.events, STEPS, period="W", as_of=AS_OF, window="1D", paths=visits)


def test_the_chain_fitted_in_blocks_of_paths_is_the_chain_fitted_at_once(both, monkeypatch):
    # 1M contacts' chain ran out of DuckDB's 1 GB in one plan; in blocks of paths it is the same chain
    _, _, _, e = both
    whole = JourneyChain(level="event", states=STEPS, target="purchase", value_col=e.value_col).fit(e.events)
    monkeypatch.setattr(engine, "BLOCK_ROWS", 2_000)  # the 300 customers' ~20k events in ~10 blocks
    blocked = JourneyChain(level="event", states=STEPS, target="purchase", value_col=e.value_col).fit(e.events)
    assert whole.n_paths_ == blocked.n_paths_ > 250
    _same(blocked.transition_table(), whole.transition_table())
    boot = Bootstrap(n_boot=20, seed=3)
    _same(blocked.what_if(("checkout_start", "purchase"), 0.1, bootstrap=boot),
          whole.what_if(("checkout_start", "purchase"), 0.1, bootstrap=boot))


def test_blocks_hold_every_row_once():
    con = engine.open_engine("duckdb")
    t = con.create_table("t", pd.DataFrame({"k": [f"c{i % 37}" for i in range(1_000)], "v": np.arange(1_000)}))
    price = ibis.memtable(pd.DataFrame({"k": [f"c{i}" for i in range(37)], "w": np.arange(37) * 10}))

    def build(part):
        g = part.group_by("k").aggregate(n=part.count(), s=part.v.sum())
        return g.join(price, "k")

    once = engine.collect(build(t).order_by("k"))
    out = engine.materialize_in_blocks(build, t, "k", block_rows=90)  # 12 blocks
    got = engine.collect(out.order_by("k"))
    _same(got, once)
    assert got["n"].sum() == 1_000 and len(got) == 37
