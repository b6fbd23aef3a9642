"""The mix model's weekly table and value per outcome from engine tables: the same as from pandas.

The synthetic company is loaded in memory and on DuckDB (``data.load(..., con=)``: engine tables,
``ad_spend.date`` cast to a DATE as in Parquet read in place); :func:`mmm.weekly_data` and :func:`mmm.value_per_outcome` must give the
same bytes from both, for every outcome.
"""

from __future__ import annotations

import pandas as pd
import pytest

from crm_research import data, engine, mmm, synthetic

AS_OF = "2026-01-01"


@pytest.fixture(scope="module")
def both():
    tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    pdata, edata = data.load(tables, as_of=AS_OF), data.load(tables, as_of=AS_OF, con=engine.open_engine("duckdb"))
    # data handed to the engine keeps ad_spend.date a timestamp; Parquet read in place (the runner's snapshot) has
    # a DATE: the engine side here has the DATE
    return pdata, edata, edata.ad_spend.mutate(date=edata.ad_spend.date.cast("date"))


@pytest.mark.parametrize("outcome", ["signups", "new_customers", "orders", "revenue"])
def test_weekly_data_and_value_on_engine_tables_equal_pandas(both, outcome):
    pdata, edata, ad_spend = both
    assert engine.is_lazy(ad_spend) and ad_spend.date.type().is_date()
    w = mmm.weekly_data(pdata.orders, pdata.ad_spend, pdata.campaigns, customers=pdata.customers, outcome=outcome,
                        as_of=AS_OF)
    we = mmm.weekly_data(edata.orders, ad_spend, edata.campaigns, customers=edata.customers, outcome=outcome,
                         as_of=AS_OF)
    pd.testing.assert_frame_equal(we, w)
    assert we.attrs == w.attrs and w[outcome].sum() > 0 and len(w) > 50
    assert w.attrs["channels"] == ["affiliate", "display", "email", "paid_search", "social"]
    v = mmm.value_per_outcome(pdata.orders, w, pdata.customers)
    assert mmm.value_per_outcome(edata.orders, we, edata.customers) == v
    assert v == 1.0 if outcome == "revenue" else 10 < v < 500  # currency per unit of outcome
