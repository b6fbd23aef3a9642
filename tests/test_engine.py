"""The engine layer: pandas in -> pandas out, engine table in -> lazy out, DuckDB == Spark."""

from __future__ import annotations

import importlib.util
import shutil

import ibis
import pandas as pd
import pytest

from crm_research import engine, synthetic
from crm_research.errors import CRMError
from crm_research.summaries import customer_orders


def _orders():
    ts = pd.to_datetime(["2024-01-01 10:00:00", "2024-01-01 12:00:00", "2024-02-01 00:00:00", "2024-03-01 09:00:00",
                         "2024-03-05 23:59:59", "2024-12-31 23:00:00"], utc=True)
    return pd.DataFrame({
        "customer_id": ["a", "a", "b", "a", "c", "c"],
        "ordered_at": ts,
        "amount": [1.0, 2.0, 3.0, 4.0, 5.5, 10.0],
        "status": ["completed", "completed", "completed", "cancelled", "completed", "completed"],
    })


def test_pandas_in_pandas_out_hand_worked():
    out = customer_orders(_orders(), as_of="2024-12-31")
    assert isinstance(out, pd.DataFrame)
    assert out["customer_id"].tolist() == ["a", "b", "c"]
    # a: two completed orders on one day (the cancelled one does not count)
    assert out["n_orders"].tolist() == [2, 1, 1]
    assert out["n_purchase_days"].tolist() == [1, 1, 1]
    assert out["revenue"].tolist() == [3.0, 3.0, 5.5]
    assert out.loc[0, "last_order_at"] == pd.Timestamp("2024-01-01 12:00", tz="UTC")
    assert str(out["first_order_at"].dtype) == "datetime64[ns, UTC]"
    everything = customer_orders(_orders(), status_col=None)
    assert everything["n_orders"].tolist() == [3, 1, 2]
    assert everything["n_purchase_days"].tolist() == [2, 1, 2]


def test_engine_table_in_lazy_out():
    con = engine.connect()
    t = con.create_table("orders", _orders())
    lazy = customer_orders(t, as_of="2025-01-01")
    assert engine.is_lazy(lazy)
    pd.testing.assert_frame_equal(engine.collect(lazy), customer_orders(_orders(), as_of="2025-01-01"))


def test_bad_inputs():
    with pytest.raises(TypeError, match="DataFrame or an ibis Table"):
        customer_orders([1, 2, 3])
    with pytest.raises(CRMError, match="unknown engine backend"):
        engine.connect("oracle")


@pytest.fixture(scope="module")
def orders_parquet(tmp_path_factory):
    folder = synthetic.write(tmp_path_factory.mktemp("eng") / "co", n_customers=3_000, seed=9)
    return folder / "orders.parquet"


def test_duckdb_from_parquet_equals_pandas(orders_parquet):
    as_of = "2025-07-01"
    from_pandas = customer_orders(pd.read_parquet(orders_parquet), as_of=as_of)
    con = engine.connect()
    from_duckdb = engine.collect(customer_orders(con.read_parquet(orders_parquet), as_of=as_of))
    pd.testing.assert_frame_equal(from_pandas, from_duckdb)
    assert len(from_pandas) > 500


@pytest.mark.spark
@pytest.mark.skipif(importlib.util.find_spec("pyspark") is None or shutil.which("java") is None,
                    reason="local Spark needs pyspark (the project's 'spark' extra) and Java 17")
def test_same_aggregation_on_spark_and_duckdb(orders_parquet):
    """One real aggregation, written once, gives identical results on DuckDB and local Spark."""
    as_of = "2025-07-01"
    duck = engine.collect(customer_orders(engine.connect().read_parquet(orders_parquet), as_of=as_of))
    session = engine.spark_session()
    con = engine.connect("pyspark", session=session)
    lazy = customer_orders(con.read_parquet(str(orders_parquet)), as_of=as_of)
    assert engine.is_lazy(lazy)
    spark = engine.collect(lazy)
    spark["customer_id"] = spark["customer_id"].astype(duck["customer_id"].dtype)
    pd.testing.assert_frame_equal(spark.reset_index(drop=True), duck, check_exact=True)
    assert ibis.__version__


def test_pandas_path_float_aggregates_are_bit_stable():
    """Float sums on the implicit connection give the same bits on every run."""
    import numpy as np

    from crm_research.engine import engine_function

    @engine_function("t")
    def sums(t):
        return t.group_by("g").aggregate(s=t.x.sum(), m=t.x.mean()).order_by("g")

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"g": rng.integers(0, 20, 2_000_000), "x": rng.random(2_000_000) * 1e3})
    runs = {sums(df)[["s", "m"]].to_numpy().tobytes() for _ in range(4)}
    assert len(runs) == 1


def test_exact_sum_is_exact_for_currency():
    from crm_research.engine import engine_function, exact_sum

    @engine_function("t")
    def total(t):
        return t.aggregate(s=exact_sum(t.x))

    df = pd.DataFrame({"x": [0.1] * 10 + [0.2] * 10})
    assert total(df)["s"].iloc[0] == 3.0  # a float sum gives 3.0000000000000004


def test_collect_keeps_nulls_dates_and_lists():
    """The Arrow fast path and Ibis's conversion give the same frame."""
    import numpy as np

    rng = np.random.default_rng(1)
    n = 2_000
    df = pd.DataFrame({"a": np.where(rng.random(n) < 0.3, None, "x").astype(object),
                       "x": np.where(rng.random(n) < 0.3, np.nan, rng.random(n)),
                       "i": rng.integers(0, 10, n),
                       "t": pd.to_datetime(rng.integers(1.6e9, 1.7e9, n), unit="s", utc=True)})
    t = ibis.memtable(df)
    flat = t.mutate(j=ibis.ifelse(t.i > 5, t.i, ibis.null()), d=t.t.date())
    con = engine._default_con()
    pd.testing.assert_frame_equal(engine.collect(flat), engine._normalise(con.to_pandas(flat)))
    nested = t.mutate(arr=ibis.array([t.i, t.i]))
    assert isinstance(engine.collect(nested)["arr"].iloc[0], list)


def test_materialize_stores_the_result_on_the_expressions_connection():
    df = pd.DataFrame({"k": ["a", "b", "a"], "v": [1, 2, 3]})
    con = ibis.duckdb.connect()
    t = con.create_table("t", df)
    expr = t.group_by("k").aggregate(s=t.v.sum()).order_by("k")
    stored = engine.materialize(expr)
    name = stored.get_name().rsplit(".", 1)[-1]
    assert name.startswith("_crm_tmp_") and stored._find_backend() is con
    pd.testing.assert_frame_equal(engine.collect(stored.order_by("k")), engine.collect(expr))
    # memtables only: the implicit connection stores it
    mem = engine.materialize(ibis.memtable(df).filter(lambda x: x.v > 1))
    assert sorted(engine.collect(mem)["v"]) == [2, 3]
