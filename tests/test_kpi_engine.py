"""Notebook 01's package calls give the same tables on engine tables as on pandas.

The 300-customer synthetic company (seed 7), loaded twice with :func:`crm_research.data.load`:
in memory (pandas, the reference) and as a folder of Parquet files read in place on a DuckDB
connection (engine tables, as the runner gives them with ``engine="duckdb"``). Every function
notebook 01 hands the data to must return equal frames.
"""

from __future__ import annotations

import pandas as pd
import pytest

from crm_research import data, engine, kpi, synthetic

AS_OF = "2026-01-01"


@pytest.fixture(scope="module")
def company(tmp_path_factory):
    tables, truth, planted = synthetic.generate(n_customers=300, seed=7)
    folder = tmp_path_factory.mktemp("company")
    for name, df in tables.items():
        df.to_parquet(folder / f"{name}.parquet", index=False)
    in_memory = data.load(tables, as_of=AS_OF)
    lazy = data.load(folder, as_of=AS_OF, con=engine.open_engine("duckdb"))
    assert engine.is_lazy(lazy.events) and engine.is_lazy(lazy.orders)
    return in_memory, lazy, truth, planted


@pytest.fixture(scope="module")
def kpis(company):
    return kpi.baseline(company[0], AS_OF, "M", periods=6)


def test_baseline_and_partial_latest(company, kpis):
    _, lazy, _, _ = company
    assert len(kpis) > 100 and kpis["metric"].nunique() >= 25
    pd.testing.assert_frame_equal(kpi.baseline(lazy, AS_OF, "M", periods=6), kpis)
    # 300 contacts: the sign-ups stop early in December (the last one on 2025-11-30)
    stopped = kpi.partial_latest(company[0], kpis)
    assert stopped == {m: "the customers table holds no row after 2025-11-30"
                       for m in ("new_contacts", "lead_conversion_rate")}
    assert kpi.partial_latest(lazy, kpis) == stopped
    inside = kpi.baseline(company[0], "2025-12-15", "M", periods=3)
    assert len(kpi.partial_latest(lazy, inside)) == inside["metric"].nunique()
    assert kpi.partial_latest(lazy, inside) == kpi.partial_latest(company[0], inside)


def test_cohorts_and_breakdowns(company):
    in_memory, lazy, _, _ = company
    cohorts = kpi.cohort_retention(in_memory, AS_OF, "M")
    assert cohorts["active"].sum() > 300
    pd.testing.assert_frame_equal(kpi.cohort_retention(lazy, AS_OF, "M"), cohorts)
    bd = kpi.breakdowns(in_memory, AS_OF, "M", periods=1, min_n=30)
    assert set(bd["dimension"]) == {"acquisition_channel", "region", "purchase_type", "platform"}
    got = kpi.breakdowns(lazy, AS_OF, "M", periods=1, min_n=30)
    pd.testing.assert_frame_equal(got, bd)
    assert got.attrs["skipped_dimensions"] == bd.attrs["skipped_dimensions"]


def test_truth_check_reads_only_the_last_event_of_an_engine_table(company, kpis):
    in_memory, lazy, truth, planted = company
    check = kpi.truth_check(kpis, truth, planted, AS_OF, events=in_memory.events)
    assert len(check) == 3 and check["agrees"].all()
    pd.testing.assert_frame_equal(kpi.truth_check(kpis, truth, planted, AS_OF, events=lazy.events), check)
    # an event log running past the analysis date: the advocates are not checked, on either engine
    early = kpi.baseline(in_memory, "2025-06-01", "M", periods=3)
    for events in (in_memory.events, lazy.events):
        assert len(kpi.truth_check(early, truth, planted, "2025-06-01", events=events)) == 2
