"""The attribution engine steps with ordered aggregates give the same tables on Spark as on DuckDB.

``paths`` collects each journey's channels and touch ages in path order and ``ab_assignments``
takes each customer's first arm and first conversion: ordered aggregates that Ibis compiles
only for DuckDB, so the code takes sorted struct arrays and ``min_by`` over a struct key on
Spark (see :func:`crm_research.engine.first_by`). Every value compared is exact: touch
ages are per-row differences of timestamps (no summation) and conversion values are single
order amounts, so the tables agree bit for bit.
"""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import SPARK, assert_same_on_spark
from crm_research import attribution as A
from crm_research import engine, synthetic

AS_OF = "2026-01-01"

pytestmark = SPARK


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return synthetic.write(tmp_path_factory.mktemp("attr") / "co", n_customers=2_500, seed=5)


@pytest.fixture(scope="module")
def tables(folder):
    def read(con):
        return {n: con.read_parquet(str(folder / f"{n}.parquet")) for n in ("events", "orders", "customers")}
    return read(engine.connect()), read(engine.connect("pyspark", session=engine.spark_session()))


def _lists(df: pd.DataFrame, col: str) -> pd.DataFrame:
    """List column as tuples (pandas compares arrays element-wise otherwise); null and empty
    lists both become ``()``."""
    out = df.copy()
    out[col] = [tuple(float(x) for x in v) if v is not None and not (isinstance(v, float) and pd.isna(v))
                else () for v in out[col]]
    return out


def test_paths_on_spark_equal_duckdb(tables):
    td, ts = tables
    kw = dict(as_of=AS_OF, window=A.JourneyWindow(lookback_days=30))
    d = engine.collect(A.paths(td["events"], td["orders"], td["customers"], **kw))
    s = A.paths(ts["events"], ts["orders"], ts["customers"], **kw)
    assert engine.is_lazy(s)
    s = engine.collect(s)
    assert len(d) > 500 and (d.n_touches > 1).any()
    assert_same_on_spark(_lists(s, "touch_days"), _lists(d, "touch_days"))
    agg_d = engine.collect(A.aggregate_paths(A.paths(td["events"], td["orders"], td["customers"], **kw)))
    agg_s = engine.collect(A.aggregate_paths(A.paths(ts["events"], ts["orders"], ts["customers"], **kw)))
    assert len(agg_d) > 10
    assert_same_on_spark(agg_s, agg_d)


def test_ab_assignments_on_spark_equal_duckdb(tables):
    td, ts = tables

    def call(t):
        return A.ab_assignments(t["events"], t["orders"],
                                arms={"control": "ab_subject_control", "variant": "ab_subject_variant"},
                                window_days=14, as_of=AS_OF)

    d = engine.collect(call(td))
    s = call(ts)
    assert engine.is_lazy(s)
    s = engine.collect(s)
    assert len(d) > 50 and d.converted.any()
    assert_same_on_spark(s, d)
