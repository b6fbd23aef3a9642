"""The segmentation helpers give the same numbers, bit for bit, on local Spark and on DuckDB."""

from __future__ import annotations

import pytest

from conftest import SPARK, assert_same_on_spark
from crm_research import engine, synthetic
from crm_research.segments import (
    affinities,
    customer_features,
    customer_levels,
    next_best_offers,
    rfm,
    upsell_offers,
)

AS_OF = "2026-01-01"

pytestmark = SPARK


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return synthetic.write(tmp_path_factory.mktemp("seg") / "co", n_customers=3_000, seed=9)


def test_segments_on_spark_equal_duckdb(folder):
    duck = engine.connect()
    spark = engine.connect("pyspark", session=engine.spark_session())

    def tables(con):
        return {n: con.read_parquet(str(folder / f"{n}.parquet"))
                for n in ("orders", "order_items", "events", "surveys", "tickets")}

    calls = {
        "rfm": lambda t: rfm(t["orders"], AS_OF),
        "levels": lambda t: customer_levels(t["orders"], AS_OF, t["events"], t["surveys"]),
        "affinities": lambda t: affinities(t["order_items"], t["orders"], AS_OF),
        "next_best_offers": lambda t: next_best_offers(t["order_items"], t["orders"], AS_OF),
        "upsell": lambda t: upsell_offers(t["order_items"], t["orders"], AS_OF),
    }
    td, ts = tables(duck), tables(spark)
    for name, call in calls.items():
        lazy = call(ts)
        assert engine.is_lazy(lazy), name
        d = engine.collect(call(td))
        assert len(d) > 50, name
        assert_same_on_spark(engine.collect(lazy), d)
    feats_d = customer_features(td["orders"], AS_OF, td["order_items"], td["events"], td["tickets"], td["surveys"])
    feats_s = customer_features(ts["orders"], AS_OF, ts["order_items"], ts["events"], ts["tickets"], ts["surveys"])
    assert len(feats_d) > 500
    assert_same_on_spark(feats_s, feats_d)
