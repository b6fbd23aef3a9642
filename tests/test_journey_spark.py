"""The journey engine steps give the same tables on local Spark as on DuckDB.

Ordered aggregates ("first event of the path", "events in path order") have no Ibis
compilation for Spark; the journey code takes ``min_by``/``max_by`` over a struct key and
sorted struct arrays there (see :func:`crm_research.engine.first_by`). Every number
checked here is exact (counts, timestamps, and rates computed from integer counts by the same
formula on both engines), so the comparison is bit for bit. ``friction_cells`` covers the
funnel's ``by`` and ``period`` groups, ``funnel_paths`` its conversion window.
"""

from __future__ import annotations

import ibis
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import SPARK, assert_same_on_spark
from crm_research import engine, synthetic
from crm_research import journey as J

AS_OF = "2026-01-01"
STEPS = ["site_visit", "product_view", "add_to_cart", "checkout_start", "purchase"]

pytestmark = SPARK


@pytest.fixture(scope="module")
def events_path(tmp_path_factory):
    """Events of a 2,500-contact company with ``row_no`` (input order, the timestamp tie-break)."""
    folder = synthetic.write(tmp_path_factory.mktemp("jrn") / "co", n_customers=2_500, seed=11)
    ev = pq.read_table(folder / "events.parquet")
    ev = ev.append_column("row_no", pa.array(range(ev.num_rows), type=pa.int64()))
    out = folder / "events_rows.parquet"
    pq.write_table(ev, out)
    return str(out)


@pytest.fixture(scope="module")
def cons():
    return engine.connect(), engine.connect("pyspark", session=engine.spark_session())


CALLS = {
    "funnel": lambda ev: J.funnel(ev, STEPS, path_col="session_id", row_col="row_no"),
    "funnel_open": lambda ev: J.funnel(ev, STEPS, path_col="session_id", mode="open", row_col="row_no"),
    "funnel_paths": lambda ev: J.funnel_paths(ev, STEPS[:3], path_col="session_id", by="platform",
                                              window="30min", row_col="row_no"),
    "friction_cells": lambda ev: J.friction_cells(ev, STEPS, segments=("platform",), period="W", as_of=AS_OF,
                                                  row_col="row_no"),
    # 03 reads the events once into the visits' rows and counts from them
    "funnel_from_paths": lambda ev: J.funnel_from_paths(
        J.funnel_paths(ev, STEPS, path_col="session_id", by="platform", row_col="row_no", sort=False),
        STEPS, by="platform", period="W"),
    "friction_cells_from_paths": lambda ev: J.friction_cells(
        ev, STEPS, segments=("platform",), period="W", as_of=AS_OF,
        paths=J.funnel_paths(ev, STEPS, path_col="session_id", by=["platform", "customer_id"], row_col="row_no",
                             sort=False)),
    # the what-if of one group: each path's first platform (an ordered pick)
    "chain_counts_of_a_segment": lambda ev: J.path_transition_counts(
        ev, level="event", states=STEPS, segment={"platform": "app"},
        columns=J.EventColumns(row_col="row_no")),
    "top_paths": lambda ev: J.top_paths(ev, row_col="row_no"),
    "top_paths_target": lambda ev: J.top_paths(ev, target="purchase", row_col="row_no"),
    "stages": lambda ev: J.stages(ev, as_of=AS_OF, row_col="row_no"),
    "time_to_paths": lambda ev: J.time_to_paths(ev, "purchase", AS_OF, row_col="row_no"),
    "time_to_paths_start": lambda ev: J.time_to_paths(ev, "purchase", AS_OF, start_event="site_visit",
                                                      by="platform", row_col="row_no"),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_journey_step_on_spark_equals_duckdb(name, events_path, cons):
    duck, spark = cons
    call = CALLS[name]
    d = engine.collect(call(duck.read_parquet(events_path)))
    s = call(spark.read_parquet(events_path))
    s = engine.collect(s) if engine.is_lazy(s) else s
    assert len(d) > 3, name
    assert_same_on_spark(s, d)


def test_a_table_read_again_is_cached_on_spark_and_one_read_once_is_not(events_path, cons):
    """:func:`crm_research.engine.materialize` on Spark: a cached table (the steps reading it
    more than once compute it once), the same rows; ``reread=False`` gives the expression back."""
    import ibis.expr.types as ir

    duck, spark = cons
    visits = spark.read_parquet(events_path).filter(lambda t: t.event == "site_visit")
    stored = engine.materialize(visits)
    assert isinstance(stored, ir.CachedTable)
    assert_same_on_spark(engine.collect(stored.order_by("row_no")), engine.collect(visits.order_by("row_no")))
    assert engine.materialize(visits, reread=False) is visits
    stored.release()
    # a pandas table in it: Spark would look its view up before Ibis registers it, so no cache
    names = ibis.memtable(pd.DataFrame({"event": ["site_visit", "purchase"], "label": ["visit", "buy"]}))
    labelled = spark.read_parquet(events_path).inner_join(names, "event")
    kept = engine.materialize(labelled)
    assert kept is labelled
    assert len(engine.collect(kept)) > 100
