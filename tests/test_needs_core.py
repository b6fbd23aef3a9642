"""The needs machinery: declared tables, columns and minimum data decide, section by section."""

from __future__ import annotations

import json
from pathlib import Path

import ibis
import pandas as pd
import pytest

from crm_research import needs, notebook
from crm_research.errors import CRMError
from crm_research.needs import Need, Section, assess


def _orders(rows):
    return pd.DataFrame(rows, columns=["customer_id", "ordered_at", "amount", "status"]).assign(
        ordered_at=lambda d: pd.to_datetime(d["ordered_at"], utc=True))


ORDERS = _orders([
    ("a", "2025-01-03", 10.0, "completed"),
    ("a", "2025-02-01", 5.0, "completed"),
    ("a", "2025-02-20", 5.0, "cancelled"),
    ("b", "2025-01-09", 7.5, "completed"),
    ("c", "2025-03-05", 1.0, "completed"),   # on/after as_of: not counted
])
AS_OF = "2025-03-01"

REPEAT = Need("at least {at_least} repeat buyers", fact="repeat_buyers", at_least="min_repeat")
SECTIONS = [
    Section("nb", "basic", "Basic", (Need("orders", ("orders.amount",)),)),
    Section("nb", "lines", "Lines", (Need("order lines", ("order_items",)),)),
    Section("nb", "region", "Region", (Need("customer regions", ("customers.region",)),)),
    Section("nb", "repeat", "Repeat", (REPEAT,)),
    Section("nb", "soft", "Soft", (Need("at least {at_least} repeat buyers", fact="repeat_buyers", at_least=5,
                                        fallback="all buyers pooled", name="pooled"),)),
]


@pytest.fixture(autouse=True)
def _threshold_default(monkeypatch):
    monkeypatch.setitem(needs.DEFAULTS, "min_repeat", 1)


def test_tables_columns_and_minimum_data_decide_each_section():
    v = {x.section.key: x for x in assess({"orders": ORDERS, "customers": pd.DataFrame({"customer_id": ["a"]})},
                                          SECTIONS, AS_OF)}
    assert v["basic"].status == "ok" and v["basic"].reason == ""
    assert v["lines"].status == "skip"
    assert v["lines"].reason == "needs order lines; the data has no `order_items` table."
    assert v["region"].reason == "needs customer regions; the data has no column `customers.region`."
    # one repeat buyer (a: two completed orders before as_of; the cancelled one does not count)
    assert v["repeat"].status == "ok" and v["repeat"].measured == {"repeat_buyers": 1.0}
    assert v["soft"].status == "fallback" and v["soft"].fell_back("pooled") and bool(v["soft"])
    assert v["soft"].reason == ("all buyers pooled, because it needs at least 5 repeat buyers "
                                "(this data has 1).")
    assert not v["lines"] and v["lines"].note.startswith("Not available for this data: needs order lines")


def test_a_parameter_threshold_takes_the_notebook_value():
    strict = assess({"orders": ORDERS}, SECTIONS[3:4], AS_OF, {"min_repeat": 2})[0]
    assert strict.status == "skip"
    assert strict.reason == "needs at least 2 repeat buyers (this data has 1)."
    # without as_of every completed order counts: c's order is in, still one repeat buyer
    assert assess({"orders": ORDERS}, SECTIONS[3:4], None, {"min_repeat": 1})[0].measured == {"repeat_buyers": 1.0}


def test_missing_status_means_every_order_completed():
    v = assess({"orders": ORDERS.drop(columns="status")}, SECTIONS[3:4], AS_OF, {"min_repeat": 1})[0]
    assert v.measured == {"repeat_buyers": 1.0}  # a has three orders now, still one repeat buyer
    v = assess({"orders": ORDERS.drop(columns="status")}, [Section("nb", "x", "X", (
        Need("orders", fact="completed_orders", at_least=5),))], AS_OF)[0]
    assert v.measured == {"completed_orders": 4.0}


def test_the_same_verdicts_when_the_data_stays_in_the_engine(tmp_path):
    con = ibis.duckdb.connect(str(tmp_path / "crm.duckdb"))
    con.create_table("orders", ORDERS)
    lazy = {"orders": con.table("orders")}
    for params in ({"min_repeat": 1}, {"min_repeat": 2}):
        eager = assess({"orders": ORDERS}, SECTIONS, AS_OF, params)
        engine = assess(lazy, SECTIONS, AS_OF, params)
        assert [(v.status, v.reason, v.measured) for v in engine] == [(v.status, v.reason, v.measured)
                                                                       for v in eager]


def test_every_declared_section_is_unique_and_uses_known_facts():
    keys = [(s.notebook, s.key) for s in needs.SECTIONS]
    assert len(keys) == len(set(keys))
    for s in needs.SECTIONS:
        assert s.title and s.notebook in needs.NOTEBOOKS
        for need in s.needs:
            assert need.fact is None or need.fact in needs.FACTS, (s.key, need.fact)
            assert need.fallback is None or need.fact is not None, "only minimum data falls back"
            if isinstance(need.at_least, str):
                assert need.at_least in needs.DEFAULTS, (s.key, need.at_least)


def test_capabilities_table_of_an_orders_only_export():
    table = needs.capabilities({"orders": ORDERS.drop(columns="status")}, as_of=AS_OF)
    assert list(table.columns) == ["notebook", "section", "title", "status", "reason"]
    assert set(table["status"]) <= {"ok", "fallback", "skip"}
    skipped = table[table["status"] != "ok"]
    assert skipped["reason"].str.len().gt(0).all()


def test_run_section_records_each_section_once_and_refuses_undeclared_ones(tmp_path, small_company):
    run = notebook.setup("02_segmentation", tmp_path / "run")
    with pytest.raises(CRMError, match="load_data"):
        run.section("rfm")
    run.load_data(small_company, "2026-01-01")
    first = run.section("rfm")
    again = run.section("rfm")
    assert first is again and first.status == "ok"
    with pytest.raises(CRMError, match="not declared"):
        run.section("no_such_section")
    meta = json.loads(run.meta_path.read_text())
    assert meta["sections"] == [{"key": "rfm", "title": first.section.title, "status": "ran", "reason": ""}]
    assert isinstance(meta["data_notes"], list)


def test_a_folder_with_only_a_path_table_loads_and_only_attribution_from_paths_can_run(tmp_path):
    from crm_research import attribution, cli, data

    pd.DataFrame({"path": ["a > b", "b", "a"], "total_conversions": [10, 3, 4],
                  "total_null": [50, 40, 30]}).to_csv(tmp_path / "paths.csv", sep=";", index=False)
    crm = data.load(tmp_path, as_of="2026-01-01")
    assert crm.orders is None and list(crm) == []
    assert crm.notes == ("No orders: only the attribution from the path table (paths.csv) can run.",)
    table = needs.capabilities(crm, as_of="2026-01-01",
                               extra_tables={"paths": attribution.read_path_table(tmp_path / "paths.csv")})
    ok = table[table["status"] != "skip"]
    assert ok["notebook"].unique().tolist() == ["04_attribution"]
    assert ok["section"].tolist() == ["path_journeys", "path_models", "path_markov", "path_shapley"]
    # one row per pair of twin sections: the path-table one replaces the event-log one
    assert not table["section"].isin(["journeys", "models", "markov", "shapley"]).any()
    assert cli.main(["validate", str(tmp_path), "--as-of", "2026-01-01"]) == 0


def test_without_either_form_the_usual_section_names_both():
    orders = ORDERS.drop(columns="status")
    row = needs.capabilities({"orders": orders}, as_of=AS_OF, notebook="04").set_index("section").loc["markov"]
    assert row["status"] == "skip"
    assert "the data has no `events` table; or needs a path table" in row["reason"]


def test_every_declared_fact_gives_the_same_verdicts_on_parquet_read_in_place(small_company):
    """The scale path: tables stay in DuckDB (Parquet read in place), only one number per fact
    comes back, and every section of the five notebooks is judged exactly as on pandas frames."""
    from crm_research import data

    crm = data.load(small_company, as_of="2026-01-01")
    con = ibis.duckdb.connect()
    lazy = {name: con.read_parquet(small_company / f"{name}.parquet", table_name=name) for name in crm.tables()}
    for name, table in lazy.items():  # the same rows as the loaded data (nothing after as_of here)
        assert table.count().execute() == len(crm[name]), name
    eager = needs.verdicts(crm, "2026-01-01")
    engine = needs.verdicts(lazy, "2026-01-01")
    assert [(v.section.key, v.status, v.reason, v.measured) for v in engine] == [
        (v.section.key, v.status, v.reason, v.measured) for v in eager]
    assert sum(len(v.measured) for v in eager) >= 20  # the facts were really computed


def test_the_loader_validate_and_04_find_the_same_path_table_files(tmp_path):
    from crm_research import data

    assert data.path_table_file(tmp_path) is None
    pd.DataFrame({"path": ["a > b"], "total_conversions": [2.0]}).to_parquet(tmp_path / "paths.parquet")
    assert data.path_table_file(tmp_path) == tmp_path / "paths.parquet"
    assert data.load(tmp_path).orders is None  # no orders needed beside it
    nb04 = (Path(__file__).resolve().parents[1] / "notebooks" / "04_attribution.ipynb").read_text()
    assert "data.path_table_file(data_folder)" in nb04  # the notebook looks where the loader looks


def test_facts_are_computed_together_and_alone_give_the_same_verdicts(tmp_path, monkeypatch):
    """On engine tables, :func:`assess` joins the facts' scalar queries into a few (a query costs
    more to compile than these counts cost to run); the verdicts and every measured number are
    those of the facts computed one by one, and a joint query that fails leaves each fact to
    its own queries."""
    import ibis.backends.duckdb

    from crm_research import data, engine, synthetic
    from crm_research.needs import core

    folder = synthetic.write(tmp_path / "co", n_customers=300, seed=7)
    crm = data.load(folder, as_of="2026-01-01", con=engine.connect())
    queries = []
    execute = ibis.backends.duckdb.Backend.execute
    monkeypatch.setattr(ibis.backends.duckdb.Backend, "execute",
                        lambda self, expr, *a, **k: queries.append(expr) or execute(self, expr, *a, **k))

    def seen(verdicts):
        return [(v.section.key, v.status, v.reason, v.fallbacks, v.measured) for v in verdicts]

    together = seen(needs.verdicts(crm, "2026-01-01"))
    n_together = len(queries)
    with monkeypatch.context() as m:
        m.setattr(core, "_prefetch", lambda *a: None)
        queries.clear()
        alone = seen(needs.verdicts(crm, "2026-01-01"))
        n_alone = len(queries)
    assert together == alone
    measured = {k for *_, got in together for k in got}
    assert len(measured) >= 30 and n_alone >= 40 and n_together <= 12, (len(measured), n_alone, n_together)

    def broken(wanted):
        raise RuntimeError("statement timeout")

    monkeypatch.setattr(core, "_execute_together", broken)
    assert seen(needs.verdicts(crm, "2026-01-01")) == alone
