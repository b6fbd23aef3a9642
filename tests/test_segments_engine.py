"""Notebook 02's chain on engine tables: the same tables as on pandas, bit for bit.

The data is loaded twice, once in memory (pandas) and once on DuckDB (``data.load(..., con=)``,
engine tables), and every helper the segmentation notebook calls on the loaded tables is run on
both; the engine results are collected and compared with the pandas ones.
"""

from __future__ import annotations

import pandas as pd
import pytest

from crm_research import data, engine, synthetic
from crm_research.engine import collect
from crm_research.segments import (
    CustomerClusters,
    affinities,
    category_spend,
    customer_levels,
    features_from_data,
    next_best_offers,
    product_tiers,
    rfm,
    rfm_grid,
    segment_summary,
    suggestion_list,
    upsell_offers,
)

AS_OF = "2026-01-01"


@pytest.fixture(scope="module")
def both():
    tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    return data.load(tables, as_of=AS_OF), data.load(tables, as_of=AS_OF, con=engine.open_engine("duckdb"))


def _same(lazy, pandas_result):
    assert engine.is_lazy(lazy)
    pd.testing.assert_frame_equal(collect(lazy), pandas_result)


def test_rfm_and_levels_on_engine_tables_equal_pandas(both):
    pdata, edata = both
    assert engine.is_lazy(edata.orders)
    scores = rfm(pdata.orders, AS_OF)
    assert len(scores) == 173  # the buyers of the 300-customer company
    _same(rfm(edata.orders, AS_OF), scores)
    _same(segment_summary(rfm(edata.orders, AS_OF)), segment_summary(scores))
    _same(rfm_grid(rfm(edata.orders, AS_OF)), rfm_grid(scores))
    levels = customer_levels(pdata.orders, AS_OF, pdata.events, pdata.surveys)
    assert (levels["level"] == "advocate").sum() > 0  # referrals and NPS answers count
    _same(customer_levels(edata.orders, AS_OF, edata.events, edata.surveys), levels)


def test_features_and_clusters_on_engine_tables_equal_pandas(both):
    pdata, edata = both
    f_pd = features_from_data(pdata, AS_OF)
    f_en = features_from_data(edata, AS_OF)
    assert f_pd.shape == (173, 29)
    pd.testing.assert_frame_equal(f_en, f_pd)
    m_pd = CustomerClusters(k_range=(2, 4), n_bootstrap=2, seed=1).fit(f_pd)
    m_en = CustomerClusters(k_range=(2, 4), n_bootstrap=2, seed=1).fit(f_en)
    pd.testing.assert_frame_equal(m_en.labels_, m_pd.labels_)
    pd.testing.assert_frame_equal(m_en.stability_, m_pd.stability_)


def test_cross_sell_and_upsell_on_engine_tables_equal_pandas(both):
    pdata, edata = both
    pairs = affinities(pdata.order_items, pdata.orders, AS_OF)
    _same(affinities(edata.order_items, edata.orders, AS_OF), pairs)
    tiers = product_tiers(pdata.order_items, pdata.orders, AS_OF)
    _same(product_tiers(edata.order_items, edata.orders, AS_OF), tiers)
    # the notebook passes the collected rules and tiers (pandas) with the engine tables
    cross = next_best_offers(pdata.order_items, pdata.orders, AS_OF, pairs)
    up = upsell_offers(pdata.order_items, pdata.orders, AS_OF, tiers)
    e_cross = next_best_offers(edata.order_items, edata.orders, AS_OF, pairs)
    e_up = upsell_offers(edata.order_items, edata.orders, AS_OF, tiers)
    _same(e_cross, cross)
    _same(e_up, up)
    suggestions = suggestion_list(cross, up)
    assert set(suggestions["kind"]) == {"cross-sell", "upsell"}
    _same(suggestion_list(e_cross, e_up), suggestions)
    _same(category_spend(edata.order_items, edata.orders, AS_OF),
          category_spend(pdata.order_items, pdata.orders, AS_OF))
