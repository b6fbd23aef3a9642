"""Segmentation (02) on partial and degenerate data: each section runs, falls back or says why it cannot.

The matrix removes each optional table, then each optional column the sections read, from the small
synthetic company; the sections skipped (and those falling back) must equal the tables written here
by hand, and the package functions of every section that is not skipped must run on that data.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crm_research import data, needs
from crm_research.data.model import TABLES
from crm_research.errors import CRMError, ParameterError
from crm_research.needs import segmentation as seg_needs
from crm_research.segments import (
    CustomerClusters,
    affinities,
    customer_levels,
    features_from_data,
    level_summary,
    max_clusters,
    next_best_offers,
    persona_table,
    product_tiers,
    rfm,
    rfm_grid,
    segment_summary,
    suggestion_list,
    upsell_offers,
)
from crm_research.segments import clusters as clusters_module

sys.path.insert(0, str(Path(__file__).parent))
import partial_data  # noqa: E402

AS_OF = "2026-01-01"
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "02_segmentation.ipynb"
SECTION_KEYS = [s.key for s in needs.sections("02")]


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------


def _typed(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """CSV text frames (what a client sends) with the model's dtypes, as the loader gives them."""
    out = {}
    for name, df in frames.items():
        df = df.copy()
        cols = {c.name: c for c in TABLES[name].columns}
        for col in df.columns:
            if col not in cols:
                continue
            kind, text = cols[col].kind, df[col].replace("", None)
            if kind in ("datetime", "date"):
                df[col] = pd.to_datetime(text, utc=True, format="ISO8601")
            elif kind == "float":
                df[col] = pd.to_numeric(text).astype("float64")
            elif kind == "int":
                df[col] = pd.to_numeric(text).astype("Int64")
            else:
                df[col] = text.astype("string")
        out[name] = df
    return out


@pytest.fixture(scope="module")
def company(small_company) -> dict[str, pd.DataFrame]:
    """The small company's tables and, as the notebook passes it, its planted truth (``truth``)."""
    return {**partial_data.read_company(small_company),
            "truth": pd.read_parquet(small_company / "truth_customers.parquet")}


LINES_READ = {"orders", "order_items"}
FEATURES_READ = {"orders", "order_items", "events", "tickets", "surveys"}
READS = {"rfm": {"orders"}, "rfm_grid": {"orders"}, "levels": {"orders", "events", "surveys"},
         "clusters": FEATURES_READ, "stability": FEATURES_READ, "affinities": LINES_READ,
         "price_tiers": LINES_READ, "cross_sell": LINES_READ, "customers": FEATURES_READ}
"""The tables each section's package functions read (the per-customer table merges levels and clusters)."""


def run_sections(frames: dict, verdicts, changed: str | None = None) -> dict[str, pd.DataFrame]:
    """The package calls of each section that is not skipped, as the notebook makes them.

    ``changed``: the only table that differs from the complete company; sections that do not read
    it make the same calls as on the complete company and are not repeated (keeps the matrix fast).
    """
    v = {x.section.key: x for x in verdicts}

    def want(*keys):
        return any(v[k] and (changed is None or changed in READS[k]) for k in keys)

    out: dict[str, pd.DataFrame] = {}
    orders, items = frames["orders"], frames.get("order_items")
    if want("rfm", "rfm_grid", "customers"):
        rf_only = v["rfm"].fell_back("no_amounts")
        scores = rfm(orders, AS_OF, value_col=None if rf_only else "amount")
        out["rfm"] = segment_summary(scores)
    if want("rfm_grid"):
        out["rfm_grid"] = rfm_grid(scores)
    if want("levels", "customers"):
        levels = customer_levels(orders, AS_OF, frames.get("events"), frames.get("surveys"))
        out["levels"] = level_summary(levels)
    if want("clusters", "stability") or (want("customers") and v["clusters"]):
        features = features_from_data(frames, AS_OF, n_tiers=3)
        lo, hi = seg_needs.NOTEBOOK_DEFAULTS["k_range"]
        if v["clusters"].fell_back("fewer_clusters"):
            hi = max_clusters(int((features["frequency"] >= 3).sum()))
            lo = min(lo, hi)
        model = CustomerClusters(k_range=(lo, hi), n_init=2, n_bootstrap=2 if v["stability"] else 0,
                                 seed=1).fit(features)
        out["personas"] = persona_table(features, model)
        out["stability"] = model.stability_
    if want("affinities", "cross_sell"):
        pairs = out["affinities"] = affinities(items, orders, AS_OF)
    if want("price_tiers") or (want("cross_sell") and not v["cross_sell"].fell_back("no_upsell")):
        tiers = out["price_tiers"] = product_tiers(items, orders, AS_OF)
    if want("cross_sell"):
        cross = next_best_offers(items, orders, AS_OF, pairs)
        upsell = None if v["cross_sell"].fell_back("no_upsell") else upsell_offers(items, orders, AS_OF, tiers)
        out["suggestions"] = suggestion_list(cross, upsell)
    if want("customers"):
        per = scores.merge(levels[["customer_id", "level"]], on="customer_id", how="left")
        if v["clusters"]:
            per = per.merge(model.labels_, on="customer_id", how="left")
        out["customers"] = per
    return out


# ---------------------------------------------------------------------------------------
# the matrix over the synthetic company
# ---------------------------------------------------------------------------------------

LINES = {"affinities", "price_tiers", "cross_sell"}

# removed table -> (sections skipped, sections falling back), written by hand
EXPECTED_TABLES = {
    "customers": (set(), set()),
    "order_items": (LINES, set()),
    "events": (set(), set()),          # surveys still give advocates; order platforms replace events'
    "campaigns": (set(), set()),
    "ad_spend": (set(), set()),
    "tickets": (set(), set()),
    "surveys": (set(), set()),         # referral events still give advocates
    "subscriptions": (set(), set()),
}

# removed column -> (skipped, fallback)
EXPECTED_COLUMNS = {
    ("orders", "amount"): (set(), {"rfm", "rfm_grid", "clusters"}),
    ("orders", "status"): (set(), set()),
    ("orders", "channel"): (set(), set()),
    ("orders", "platform"): (set(), set()),
    ("orders", "promo_code"): (set(), set()),
    ("orders", "discount"): (set(), set()),
    ("order_items", "category"): (LINES, set()),
    ("order_items", "unit_price"): ({"price_tiers"}, {"cross_sell"}),
    ("order_items", "quantity"): (set(), set()),
    ("events", "platform"): (set(), set()),
    ("events", "session_id"): (set(), set()),
}


def _check(frames, expected, changed=None):
    verdicts = needs.verdicts(frames, AS_OF, "02")
    skipped = {v.section.key for v in verdicts if v.status == "skip"}
    fell = {v.section.key for v in verdicts if v.status == "fallback"}
    assert (skipped, fell) == expected
    assert all(v.reason for v in verdicts if v.status != "ok")
    return verdicts, run_sections(frames, verdicts, changed)


def test_complete_company_runs_every_section(company):
    verdicts, out = _check(company, (set(), set()))
    assert {"rfm", "rfm_grid", "levels", "personas", "affinities", "price_tiers", "suggestions",
            "customers"} <= set(out)
    assert set(out["levels"]["level"]) == {"first-time", "repeat", "advocate"}
    assert (out["suggestions"]["kind"] == "upsell").any()


@pytest.mark.parametrize("table", list(EXPECTED_TABLES))
def test_each_optional_table_removed(company, table):
    frames = {k: v for k, v in company.items() if k != table}
    _, out = _check(frames, EXPECTED_TABLES[table], changed=table)
    if table == "order_items":   # no category or tier features: the personas say nothing about them
        assert "top_category" not in out["personas"] and "top_tier" not in out["personas"]
        assert "dominant_platform" in out["personas"]


@pytest.mark.parametrize("table,column", list(EXPECTED_COLUMNS))
def test_each_optional_column_removed(company, table, column):
    frames = dict(company)
    frames[table] = company[table].drop(columns=column)
    _, out = _check(frames, EXPECTED_COLUMNS[(table, column)], changed=table)
    if (table, column) == ("orders", "amount"):
        assert "monetary" not in out["customers"] and "revenue" not in out["rfm"] and "revenue" not in out["personas"]
        assert out["rfm"]["customers"].sum() == out["customers"]["customer_id"].nunique()
    if (table, column) == ("order_items", "unit_price"):
        assert set(out["suggestions"]["kind"]) == {"cross-sell"}


def test_without_referrals_or_surveys_levels_fall_back_to_first_time_and_repeat(company):
    events = company["events"][company["events"]["event"] != "referral"]
    frames = {**{k: v for k, v in company.items() if k != "surveys"}, "events": events}
    verdicts, out = _check(frames, (set(), {"levels"}), changed="events")
    v = {x.section.key: x for x in verdicts}["levels"]
    assert v.fell_back("no_advocates") and "no advocates" in v.reason
    assert set(out["levels"]["level"]) == {"first-time", "repeat"}


# ---------------------------------------------------------------------------------------
# tiny and degenerate companies
# ---------------------------------------------------------------------------------------

DEGENERATE = {
    "orders_only": lambda c, o: partial_data.orders_only(c, o),
    "tiny_10": lambda c, o: partial_data.first_customers(c, 10, o),
    "one_order_each": lambda c, o: partial_data.one_order_each(c, o),
    "single_segment": lambda c, o: partial_data.single_segment(c, o),
    "one_day": lambda c, o: partial_data.window(c, "2025-06-02", "2025-06-03", o),
    "three_months": lambda c, o: partial_data.window(c, "2025-10-01", "2026-01-01", o),
    "event_log_only": lambda c, o: partial_data.event_log_only(c, o),
}
# what each must at least skip or fall back on (hand-written; the rest may run)
MUST_NOT_RUN_FULLY = {
    "orders_only": {"levels", "affinities", "price_tiers", "cross_sell"},
    "tiny_10": {"clusters", "stability"},
    "one_order_each": {"clusters", "stability"},
    "single_segment": set(),
    "one_day": {"clusters", "stability"},
    "three_months": set(),
    "event_log_only": {"rfm", "rfm_grid", "levels", "clusters", "affinities", "price_tiers", "cross_sell"},
}


@pytest.fixture(scope="module")
def base_600(small_company, tmp_path_factory) -> Path:
    """The first 600 buyers of the small company with all their rows (degenerate cases start here)."""
    return partial_data.first_customers(small_company, 600, tmp_path_factory.mktemp("seg") / "base")


@pytest.mark.parametrize("case", list(DEGENERATE))
def test_tiny_and_degenerate_companies(base_600, tmp_path, case):
    folder = DEGENERATE[case](base_600, tmp_path / case)
    if (folder / "mapping.yaml").exists():   # orders derived from purchase events by the loader
        frames = data.load(folder, folder / "mapping.yaml", as_of=AS_OF).tables()
    else:
        frames = _typed(partial_data.read_company(folder))
    frames = {k: v for k, v in frames.items() if len(v) or k == "orders"}   # an empty table counts as absent
    verdicts = needs.verdicts(frames, AS_OF, "02")
    not_ok = {v.section.key for v in verdicts if v.status != "ok"}
    assert MUST_NOT_RUN_FULLY[case] <= not_ok
    for v in verdicts:
        assert (v.status == "ok") == (v.reason == "") and (v.status == "ok" or v.note.endswith("."))
    assert "truth.json" in {v.section.key: v for v in verdicts}["truth"].reason   # a client's data: no truth
    run_sections(frames, verdicts)
    if case == "one_order_each":
        v = {x.section.key: x for x in verdicts}
        assert v["clusters"].reason == ("needs at least 10 buyers with 3 or more completed orders (5 per cluster, "
                                        "2 clusters at least) (this data has 0).")


def test_no_buyer_before_as_of_skips_every_section(company):
    v = needs.verdicts(company, "2000-01-01", "02")
    assert {x.status for x in v} == {"skip"}
    assert all("at least 1 buyer" in x.reason for x in v)


# ---------------------------------------------------------------------------------------
# the cluster thresholds are the ones the method needs
# ---------------------------------------------------------------------------------------


def _repeat_buyers(n: int, extra_one_order: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(n)
    rows = []
    for i in range(n):
        for _ in range(3 + i % 3):
            rows.append((f"c{i:03d}", pd.Timestamp("2025-01-01", tz="UTC") + pd.Timedelta(days=int(rng.integers(0, 300))),
                         float(rng.gamma(2.0, 20.0 + 10 * (i % 2)))))
    for i in range(extra_one_order):
        rows.append((f"x{i}", pd.Timestamp("2025-06-01", tz="UTC"), 10.0))
    orders = pd.DataFrame(rows, columns=["customer_id", "ordered_at", "amount"])
    return orders.assign(order_id=[f"o{i}" for i in range(len(orders))])


@pytest.mark.parametrize("n,status", [(9, "skip"), (10, "fallback"), (39, "fallback"), (40, "ok")])
def test_cluster_minimum_matches_customer_clusters(n, status):
    orders = _repeat_buyers(n)
    v = {x.section.key: x for x in needs.verdicts({"orders": orders}, AS_OF, "02")}["clusters"]
    assert v.status == status
    features = features_from_data({"orders": orders}, AS_OF)
    model = CustomerClusters(k_range=(2, 8), n_init=2, n_bootstrap=2, seed=0)
    if status == "ok":
        assert model.fit(features).k_ in range(2, 9)
        return
    with pytest.raises(CRMError, match="too few to cluster"):
        model.fit(features)
    if status == "fallback":
        hi = max_clusters(n)
        fitted = CustomerClusters(k_range=(2, hi), n_init=2, n_bootstrap=2, seed=0).fit(features)
        assert fitted.k_ <= hi == n // 5 and len(fitted.stability_) == 2


def test_cluster_thresholds_follow_the_parameters():
    orders = _repeat_buyers(30)
    v = {x.section.key: x for x in needs.verdicts({"orders": orders}, AS_OF, "02", k_range=[2, 6])}
    assert v["clusters"].status == "ok"
    # 10 of the 30 buyers have 5 orders: 2 clusters at most; none has 6
    v = {x.section.key: x for x in needs.verdicts({"orders": orders}, AS_OF, "02", cluster_min_orders=5)}
    assert v["clusters"].status == "fallback" and "5 or more completed orders per cluster" in v["clusters"].reason
    v = {x.section.key: x for x in needs.verdicts({"orders": orders}, AS_OF, "02", cluster_min_orders=6)}
    assert v["clusters"].status == "skip" and "6 or more completed orders" in v["clusters"].reason


# ---------------------------------------------------------------------------------------
# package functions on partial input
# ---------------------------------------------------------------------------------------


def test_rfm_without_amounts_scores_recency_and_frequency_only():
    orders = _repeat_buyers(12).drop(columns="amount")
    scores = rfm(orders, AS_OF, value_col=None)
    assert list(scores.columns) == ["customer_id", "first_order_at", "last_order_at", "recency_days", "frequency",
                                    "r_score", "f_score", "rfm_cell", "segment"]
    assert (scores["rfm_cell"].str.len() == 2).all()
    full = rfm(_repeat_buyers(12), AS_OF)
    pd.testing.assert_series_equal(scores["segment"], full["segment"])   # the default rules use R and F only
    summary = segment_summary(scores)
    assert "revenue" not in summary and summary["customers"].sum() == 15
    assert list(summary["customers"]) == sorted(summary["customers"], reverse=True)
    assert list(rfm_grid(scores).columns) == ["r_score", "f_score", "customers"]
    with pytest.raises(ParameterError, match="monetary score"):
        rfm(orders, AS_OF, value_col=None, rules=[{"name": "big", "m": [5, 5]}])


def test_features_use_only_the_columns_that_exist(company):
    events = company["events"].drop(columns="platform")
    items = company["order_items"].drop(columns=["unit_price"])
    f = features_from_data({**company, "events": events, "order_items": items}, AS_OF)
    assert not any(c.startswith("tier_") for c in f.columns)
    assert any(c.startswith("category_") for c in f.columns) and "items_per_order" in f
    # platform falls back to the orders' own platform
    assert any(c.startswith("platform_") for c in f.columns)
    bare = features_from_data({"orders": company["orders"][["customer_id", "ordered_at", "amount"]]}, AS_OF)
    assert list(bare.columns) == ["customer_id", "recency_days", "tenure_days", "active_span_days", "frequency",
                                  "monetary", "aov", "orders_per_30d"]


def test_defaults_equal_the_notebook_parameters():
    from crm_research.run.params import notebook_parameters

    params = notebook_parameters(NOTEBOOK)
    for name, value in seg_needs.NOTEBOOK_DEFAULTS.items():
        assert params[name].default == value == needs.DEFAULTS[name], name
    assert needs.DEFAULTS["repeat_min_orders"] == params["repeat_min_orders"].default
    assert seg_needs.MIN_PER_CLUSTER == clusters_module.MIN_PER_CLUSTER


def test_sections_in_report_order():
    assert SECTION_KEYS == ["rfm", "rfm_grid", "levels", "clusters", "stability", "affinities", "price_tiers",
                            "cross_sell", "customers", "truth"]


def test_clusters_without_amounts_use_the_other_features_and_name_no_value_archetype():
    orders = _repeat_buyers(40).drop(columns="amount")
    v = {x.section.key: x for x in needs.verdicts({"orders": orders}, AS_OF, "02")}["clusters"]
    assert v.status == "fallback" and v.fell_back("no_amounts")
    features = features_from_data({"orders": orders}, AS_OF)
    assert "monetary" not in features and "aov" not in features
    model = CustomerClusters(k_range=(4, 4), n_init=2, n_bootstrap=0, seed=0).fit(features)
    # premium (order value, top tier) and bargain (promotion codes, order value) are not measured here
    assert not {"premium", "bargain"} & set(model.cluster_labels_.values())
    personas = persona_table(features, model)
    assert "revenue_share" not in personas and personas["customers"].sum() == 40
