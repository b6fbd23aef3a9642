"""Notebook 02's tables moved into the package (segments.views): real numbers on a small company."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm_research import synthetic
from crm_research.errors import CRMError
from crm_research.segments import (
    CustomerClusters,
    affinities,
    and_list,
    customer_levels,
    customer_table,
    features_from_data,
    next_best_offers,
    offer_names,
    offer_table,
    product_tiers,
    rfm,
    suggestion_list,
    tier_ranges,
    truth_affinities,
    truth_clusters,
    upsell_offers,
)

AS_OF = "2026-01-01"


@pytest.fixture(scope="module")
def company():
    tables, truth, planted = synthetic.generate(1_500, 3)
    return tables, truth, planted


def test_and_list():
    assert [and_list(w) for w in ([], ["a"], ["a", "b"], ["a", "b", "c"])] == ["", "a", "a and b", "a, b and c"]


def test_customer_table_joins_scores_levels_and_clusters(company):
    tables, _, _ = company
    scores = rfm(tables["orders"], AS_OF)
    levels = customer_levels(tables["orders"], AS_OF, tables["events"], tables["surveys"])
    model = CustomerClusters(k_range=(3, 3), min_orders=3, n_bootstrap=0, seed=1).fit(
        features_from_data(tables, AS_OF))
    # the fitted per-customer output is indexed by customer (sorted), the other columns as before
    assert model.labels_.index.name == "customer_id" and model.labels_.index.is_monotonic_increasing
    assert model.labels_.columns.tolist() == ["cluster", "label"]
    out = customer_table(scores, levels, model.labels_)
    assert len(out) == len(scores) and list(out["customer_id"]) == list(scores["customer_id"])
    assert list(out.columns) == [*scores.columns, "level", "n_referrals", "latest_nps", "cluster", "cluster_label"]
    assert out["cluster"].dtype == "Int64" and out["cluster"].notna().sum() == len(model.labels_)
    # a buyer's level and orders agree with the RFM frequency (both count completed orders before as_of)
    back = out.merge(levels[["customer_id", "n_orders"]], on="customer_id")
    assert (back["n_orders"] == back["frequency"]).all()
    assert (out.loc[out["frequency"] == 1, "level"].isin(["first-time", "advocate"])).all()
    assert "cluster" not in customer_table(scores, levels).columns
    with pytest.raises(CRMError, match="levels"):
        customer_table(scores, levels.drop(columns="level"))


def test_offers_tiers_and_names(company):
    tables, _, _ = company
    items, orders = tables["order_items"], tables["orders"]
    pairs = affinities(items, orders, AS_OF)
    tiers = product_tiers(items, orders, AS_OF, n_tiers=3)
    suggestions = suggestion_list(next_best_offers(items, orders, AS_OF, pairs),
                                  upsell_offers(items, orders, AS_OF, tiers))
    offers = offer_table(suggestions)
    assert offers["customers"].sum() == suggestions.groupby(["kind", "offer"])["customer_id"].nunique().sum()
    for _, g in offers.groupby("kind"):
        assert list(g["customers"]) == sorted(g["customers"], reverse=True)
    ranges = tier_ranges(tiers)
    assert ranges["products"].sum() == tiers["product_id"].nunique()
    assert (ranges["lowest_price"] <= ranges["highest_price"]).all()
    # tiers of one category do not overlap: tier t+1 starts above tier t
    for _, g in ranges.groupby("category"):
        assert (g["lowest_price"].to_numpy()[1:] >= g["highest_price"].to_numpy()[:-1]).all()
    named = offer_names(offers, lambda kind, v: f"<{v}>", tiers)
    up = named[named["kind"] == "Upsell"]
    cross = named[named["kind"] == "Cross-sell"]
    assert len(up) and up["offer"].str.contains(r", price tier [123]\)$").all()
    assert cross["offer"].str.match(r"^<.*>$").all()


def test_truth_checks_recover_planted_affinities_and_segments(company):
    tables, truth, planted = company
    pairs = affinities(tables["order_items"], tables["orders"], AS_OF)
    found = truth_affinities(pairs, truth["affinities"])
    assert len(found) == len(truth["affinities"]) and found["rank_by_lift"].notna().all()
    assert found["rank_by_lift"].min() == 1 and (found["lift"] > 1).all()
    model = CustomerClusters(k_range=(3, 5), min_orders=3, n_bootstrap=0, seed=1).fit(
        features_from_data(tables, AS_OF))
    ari, mix = truth_clusters(model.labels_, planted)
    assert 0.0 < ari <= 1.0
    assert np.allclose(mix.sum(axis=1), 1.0) and set(mix.index) == set(model.labels_["label"])
    same = pd.DataFrame({"customer_id": model.labels_.index.to_numpy(),
                         "segment": model.labels_["cluster"].astype(str).to_numpy()})
    assert truth_clusters(model.labels_, same)[0] == pytest.approx(1.0)
