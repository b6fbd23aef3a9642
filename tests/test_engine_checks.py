"""The data model's checks in the database (crm_research.data.engine_checks) against pandas.

A small hand-built company with every table, loaded from frames (the pandas checks) and from a
DuckDB file (the checks run in the database before any row is fetched), with one planted fault
of each check kind, with and without ``as_of``, and several faults at once: the problems are
the same (table, column, check, count, message, hint; examples the same values, named by key
instead of by row). A few cases on a throw-away PostgreSQL server (tests/pg_server.py).
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest

from crm_research import data
from crm_research.data import engine_checks, sources
from crm_research.errors import DataValidationError

AS_OF = "2025-06-01"
START = "2024-01-01"


def _utc(*values: str | None) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values), utc=True, format="ISO8601"))


def company() -> dict[str, pd.DataFrame]:
    """Six contacts (c6 signs up after AS_OF), eight orders (o7 and o8 after AS_OF), and the
    rest; clean."""
    customers = pd.DataFrame({
        "customer_id": ["c1", "c2", "c3", "c4", "c5", "c6"],
        "signup_at": _utc("2024-01-05", "2024-02-01", "2024-03-01", "2024-04-01", "2024-05-01",
                          "2025-07-01"),
        "acquisition_channel": ["search", "social", "search", "email", "search", "social"],
        "region": ["north", "south", "north", "east", "west", "north"],
        "age": pd.array([30, None, 45, 51, 22, 38], dtype="Int64"),
        "marketing_consent": ["yes", "no", None, "yes", "yes", "no"],
    })
    orders = pd.DataFrame({
        "order_id": [f"o{i}" for i in range(1, 9)],
        "customer_id": ["c1", "c1", "c2", "c3", "c4", "c5", "c1", "c6"],
        "ordered_at": _utc("2024-02-01", "2024-06-01", "2024-03-01", "2024-07-01", "2025-01-01",
                           "2025-05-31 23:00", "2025-06-02", "2025-07-02"),
        "amount": [10.0, 20.0, 30.5, 5.0, 12.0, 8.0, 9.0, 40.0],
        "discount": [0.0, 1.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0],
        "channel": ["online", "phone", "online", "in_person", "online", "online", "online", "phone"],
        "platform": ["app", None, "desktop", None, "mobile", "app", "app", None],
        "status": ["completed", "completed", "returned", "completed", "cancelled", "completed",
                   "completed", "completed"],
    })
    order_items = pd.DataFrame({
        "order_id": ["o1", "o1", "o2", "o3", "o5", "o7", "o8"],
        "product_id": ["p1", "p2", "p1", "p3", "p2", "p1", "p3"],
        "category": ["shoes", "bags", "shoes", "hats", "bags", "shoes", "hats"],
        "quantity": [1, 2, 1, 1, 3, 1, 2],
        "unit_price": [10.0, 5.0, 20.0, 30.5, 4.0, 9.0, 20.0],
    })
    events = pd.DataFrame({
        "customer_id": ["c1", "c1", "c2", "c3", "c5", "c6", "c6"],
        "occurred_at": _utc("2024-01-06", "2024-02-01", "2024-02-02", "2024-03-05", "2025-05-01",
                            "2025-05-15", "2025-07-02"),
        "event": ["site_visit", "purchase", "email_open", "ad_click", "site_visit", "ad_click",
                  "purchase"],
        "campaign_id": [None, None, "k1", "k2", None, "k2", None],
        "platform": ["app", "app", None, "mobile", "desktop", "mobile", None],
    })
    campaigns = pd.DataFrame({"campaign_id": ["k1", "k2"], "channel": ["email", "search"],
                              "name": ["Spring", "Brand"]})
    ad_spend = pd.DataFrame({
        "campaign_id": ["k1", "k1", "k2", "k2"],
        "date": pd.to_datetime(["2024-03-01", "2024-03-02", "2024-03-01", "2025-06-01"]),
        "impressions": [100, 200, 300, 50], "clicks": [3, 4, 5, 1], "cost": [1.0, 2.0, 3.5, 0.5],
    })
    tickets = pd.DataFrame({
        "ticket_id": ["t1", "t2", "t3"],
        "customer_id": ["c1", "c2", "c3"],
        "opened_at": _utc("2024-05-01", "2025-05-20", "2025-05-30"),
        "first_response_at": _utc("2024-05-01 02:00", "2025-05-21", None),
        "resolved_at": _utc("2024-05-02", "2025-06-03", None),
        "contacts": [1, 2, 1],
        "csat": pd.array([5, None, 3], dtype="Int64"),
    })
    surveys = pd.DataFrame({"customer_id": ["c1", "c2", "c4"],
                            "answered_at": _utc("2024-05-05", "2024-08-01", "2025-06-05"),
                            "nps": [9, 6, 10]})
    subscriptions = pd.DataFrame({
        "customer_id": ["c1", "c2", "c4"],
        "started_at": _utc("2024-02-01", "2024-03-01", "2025-01-01"),
        "ended_at": _utc("2024-12-01", "2025-07-01", None),
        "plan": ["basic", "plus", "basic"],
        "mrr": [10.0, 20.0, 10.0],
    })
    return {"customers": customers, "orders": orders, "order_items": order_items,
            "events": events, "campaigns": campaigns, "ad_spend": ad_spend, "tickets": tickets,
            "surveys": surveys, "subscriptions": subscriptions}


def _set(frames, table, row, column, value):
    frames[table].loc[row, column] = value


def _add(frames, table, **values):
    frame = frames[table]
    frames[table] = pd.concat([frame, pd.DataFrame({k: [v] for k, v in values.items()})
                               .astype(frame.dtypes.to_dict())], ignore_index=True)


# One planted fault per check kind (and a few whose rows as_of drops).
FAULTS = {
    "null_value": lambda f: _set(f, "orders", 2, "channel", None),
    "not_allowed": lambda f: _set(f, "orders", 4, "status", "refunded"),
    "out_of_range": lambda f: (_set(f, "orders", 1, "amount", -5.0), _set(f, "tickets", 0, "csat", 7)),
    "duplicate_key": lambda f: (  # a single key, and two composite keys (one with a date)
        _add(f, "campaigns", campaign_id="k1", channel="tv", name="Again"),
        _add(f, "order_items", order_id="o1", product_id="p1", category="shoes", quantity=4,
             unit_price=10.0),
        _add(f, "subscriptions", customer_id="c1", started_at=pd.Timestamp("2024-02-01", tz="UTC"),
             ended_at=pd.Timestamp("2024-06-01", tz="UTC"), plan="plus", mrr=20.0)),
    "orphan_key": lambda f: (_set(f, "orders", 3, "customer_id", "zz"),
                             _set(f, "events", 2, "campaign_id", "k9"),
                             _set(f, "order_items", 4, "order_id", "o99")),
    "date_order": lambda f: (_set(f, "tickets", 0, "resolved_at", pd.Timestamp("2024-04-30", tz="UTC")),
                             _set(f, "subscriptions", 1, "ended_at", pd.Timestamp("2024-01-01", tz="UTC"))),
    "exceeds_bound": lambda f: _set(f, "ad_spend", 1, "clicks", 500),
    "before_company_start": lambda f: (_set(f, "customers", 0, "signup_at",
                                            pd.Timestamp("2023-05-01", tz="UTC")),
                                       _set(f, "ad_spend", 0, "date", pd.Timestamp("2023-12-31"))),
    # faults in rows that as_of drops: an event of c6 (signs up after as_of, so its earlier
    # event goes too) and a line of o7 (ordered after as_of)
    "dropped_by_as_of": lambda f: (_set(f, "events", 5, "platform", "tv"),
                                   _set(f, "order_items", 5, "quantity", 0)),
}


def _duck(frames: dict[str, pd.DataFrame], path) -> str:
    """The frames as tables of a DuckDB file (aware timestamps TIMESTAMPTZ, ad_spend.date DATE)."""
    with duckdb.connect(str(path)) as con:
        for name, frame in frames.items():
            con.register("frame", frame)
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
            con.unregister("frame")
        if "ad_spend" in frames and "date" in frames["ad_spend"].columns:
            con.execute('ALTER TABLE ad_spend ALTER COLUMN "date" TYPE DATE')
    return f"duckdb://{path}"


def _problems(source, mapping=None, **kwargs) -> list:
    try:
        data.load(source, mapping, **kwargs)
    except DataValidationError as err:
        return err.problems
    return []


def _values(examples) -> list[str]:
    """The values an example shows, without its row label (``row 3``, ``order_id='o2'``)."""
    return sorted(e.split(": ", 1)[1] for e in examples)


def assert_same_problems(got, expected) -> None:
    assert [(p.table, p.column, p.check, p.message, p.hint) for p in got] == \
        [(p.table, p.column, p.check, p.message, p.hint) for p in expected]
    for g, e in zip(got, expected, strict=True):
        assert len(g.examples) == len(e.examples), (g, e)
        if g.check != "duplicate_key":  # pandas: "row 1, row 4: k=v"; engine: "2 rows: k=v"
            assert _values(g.examples) == _values(e.examples), (g, e)


@pytest.fixture
def no_fetch(monkeypatch):
    """Counts the tables fetched from the database."""
    fetched = []
    real = sources._fetch

    def spy(con, src, expr, name, mapping):
        fetched.append(name)
        return real(con, src, expr, name, mapping)

    monkeypatch.setattr(sources, "_fetch", spy)
    return fetched


# ---------------------------------------------------------------------------------------
# the matrix: every check kind, with and without as_of
# ---------------------------------------------------------------------------------------


def test_a_clean_company_gives_no_problem_and_the_frames_of_the_folder(tmp_path, no_fetch):
    frames = company()
    url = _duck(frames, tmp_path / "clean.duckdb")
    for as_of in (None, AS_OF):
        got = data.load(url, as_of=as_of, company_start=START)
        expected = data.load(frames, as_of=as_of, company_start=START)
        assert got.fingerprint() == expected.fingerprint()
        assert got.notes == expected.notes
    rels = {name: None for name in frames}
    assert engine_checks.canonical_tables(rels, data.read_mapping(None))[1]["orders"] == \
        "the relation has no column of the model"


@pytest.mark.parametrize("as_of", [None, AS_OF])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_planted_fault_gives_the_pandas_problem_without_fetching(fault, as_of, tmp_path,
                                                                      no_fetch):
    frames = company()
    FAULTS[fault](frames)
    expected = _problems(frames, as_of=as_of, company_start=START)
    dropped = fault == "dropped_by_as_of"
    assert (len(expected) == 0) == (dropped and as_of is not None), expected
    got = _problems(_duck(frames, tmp_path / "c.duckdb"), as_of=as_of, company_start=START)
    assert_same_problems(got, expected)
    assert no_fetch == ([] if expected else list(frames))


def test_a_nan_number_is_a_missing_value_as_in_pandas(tmp_path, no_fetch):
    # a float NaN is no NULL in SQL (DuckDB turns a DataFrame's NaN into NULL, so it is
    # written by SQL here); pandas reads it as missing: null_value either way, nothing fetched
    frames = company()
    url = _duck(frames, tmp_path / "nan.duckdb")
    with duckdb.connect(str(tmp_path / "nan.duckdb")) as con:
        con.execute("UPDATE orders SET amount = 'NaN'::DOUBLE WHERE order_id = 'o2'")
        con.execute("UPDATE order_items SET unit_price = 'NaN'::DOUBLE WHERE order_id = 'o1'")
        assert con.execute("SELECT count(*) FROM orders WHERE isnan(amount)").fetchone() == (1,)
    frames["orders"].loc[frames["orders"]["order_id"] == "o2", "amount"] = float("nan")
    frames["order_items"].loc[frames["order_items"]["order_id"] == "o1", "unit_price"] = float("nan")
    expected = _problems(frames, company_start=START)
    assert [(p.table, p.column, p.check) for p in expected] == [
        ("orders", "amount", "null_value"), ("order_items", "unit_price", "null_value")]
    assert_same_problems(_problems(url, company_start=START), expected)
    assert no_fetch == []


@pytest.mark.parametrize("as_of", [None, AS_OF])
def test_every_fault_at_once(as_of, tmp_path, no_fetch):
    frames = company()
    for plant in FAULTS.values():
        plant(frames)
    expected = _problems(frames, as_of=as_of, company_start=START)
    got = _problems(_duck(frames, tmp_path / "all.duckdb"), as_of=as_of, company_start=START)
    assert len(expected) >= 15
    assert_same_problems(got, expected)
    assert no_fetch == []
    shown = {(p.table, p.check): p.examples for p in got}
    assert shown[("orders", "out_of_range")] == ("order_id='o2': -5.0",)
    assert shown[("tickets", "out_of_range")] == ("ticket_id='t1': 7",)
    assert shown[("order_items", "duplicate_key")] == ("2 rows: order_id='o1', product_id='p1'",)
    assert shown[("orders", "orphan_key")] == ("order_id='o4': customer_id='zz'",)
    assert shown[("tickets", "date_order")] == (
        "ticket_id='t1': opened_at=2024-05-01T00:00:00+00:00, resolved_at=2024-04-30T00:00:00+00:00",)
    assert shown[("ad_spend", "exceeds_bound")] == (
        "campaign_id='k1', date=2024-03-02T00:00:00+00:00: clicks=500, impressions=200",)
    assert [(p.table, p.column) for p in got if p.check == "before_company_start"] == [
        ("customers", "signup_at"), ("ad_spend", "date")]


def test_the_checks_are_one_query_or_table_by_table_when_it_fails(tmp_path, no_fetch, monkeypatch):
    """Every table's checks, duplicate keys and orphans are counted by one query; when it fails
    (a statement timeout, say), each table's part runs alone, so the problems are the same and
    an error names the table whose own query fails."""
    import re

    frames = company()
    for plant in FAULTS.values():
        plant(frames)
    expected = _problems(frames, as_of=AS_OF, company_start=START)
    run, parts_per_query = engine_checks._run, []

    def failing(table, expr, fail_alone=None):
        parts = len({c.split("_", 1)[0] for c in getattr(expr, "columns", ()) if re.match(r"r\d+_", c)})
        parts_per_query.append(parts)
        if parts > 1 or table == fail_alone:
            raise engine_checks.EngineQueryError(table, RuntimeError("canceling statement due to statement timeout"))
        return run(table, expr)

    monkeypatch.setattr(engine_checks, "_run", failing)
    got = _problems(_duck(frames, tmp_path / "all.duckdb"), as_of=AS_OF, company_start=START)
    assert_same_problems(got, expected)
    first = next(i for i, n in enumerate(parts_per_query) if n)
    assert parts_per_query[first] >= 10  # the tables, their composite keys' duplicates and the foreign keys
    assert parts_per_query[first + 1:].count(0) >= parts_per_query[first]  # then one query per part (and examples)
    monkeypatch.setattr(engine_checks, "_run", lambda t, e: failing(t, e, fail_alone="tickets"))
    with pytest.raises(sources.DataSourceError,
                       match=r"reading main\.tickets \(the tickets table\) failed: canceling statement due to"):
        _problems(_duck(frames, tmp_path / "again.duckdb"), as_of=AS_OF, company_start=START)


def test_more_than_five_faults_count_all_and_show_five(tmp_path, no_fetch):
    frames = company()
    frames["orders"]["amount"] = -1.0
    got = _problems(_duck(frames, tmp_path / "c.duckdb"))
    (problem,) = got
    assert problem.message == "8 values below the minimum 0 currency"
    assert problem.examples == tuple(f"order_id='o{i}': -1.0" for i in range(1, 6))


# ---------------------------------------------------------------------------------------
# the mapping in the engine, and what falls back
# ---------------------------------------------------------------------------------------


def _client(frames):
    """The company as a client exports it: renamed columns, client values, no status."""
    out = {k: v.copy() for k, v in frames.items()}
    out["orders"] = out["orders"].rename(columns={"customer_id": "buyer", "channel": "via"})
    out["orders"]["via"] = out["orders"]["via"].replace({"online": "web"})
    out["orders"] = out["orders"].drop(columns=["status"])
    out["events"]["event"] = out["events"]["event"].replace({"site_visit": "visit"})
    out["campaigns"] = out["campaigns"].drop(columns=["channel"])
    return out


MAPPING = {"tables": {"orders": {"columns": {"buyer": "customer_id", "via": "channel"},
                                 "values": {"channel": {"web": "online"}}},
                      "campaigns": {"constants": {"channel": "email"}}},
           "events": {"visit": "site_visit"}}


@pytest.mark.parametrize("as_of", [None, AS_OF])
def test_renames_recodes_constants_and_event_renames_run_in_the_engine(as_of, tmp_path, no_fetch):
    frames = _client(company())
    url = _duck(frames, tmp_path / "m.duckdb")
    assert data.load(url, MAPPING, as_of=as_of).fingerprint() == \
        data.load(frames, MAPPING, as_of=as_of).fingerprint()
    frames["orders"].loc[0, "via"] = "fax"           # not recoded: not allowed
    frames["orders"].loc[1, "buyer"] = "nobody"      # renamed foreign key: orphan
    url = _duck(frames, tmp_path / "m2.duckdb")
    no_fetch.clear()
    got = _problems(url, MAPPING, as_of=as_of)
    assert [(p.column, p.check) for p in got] == [("channel", "not_allowed"),
                                                  ("customer_id", "orphan_key")]
    assert_same_problems(got, _problems(frames, MAPPING, as_of=as_of))
    assert no_fetch == []


def test_what_the_engine_cannot_build_falls_back_to_pandas_after_the_fetch(tmp_path, no_fetch):
    frames = company()
    frames["orders"]["ordered_at"] = frames["orders"]["ordered_at"].dt.strftime("%Y-%m-%d %H:%M")
    frames["orders"].loc[1, "amount"] = -5.0
    frames["tickets"].loc[0, "csat"] = 7
    url = _duck(frames, tmp_path / "text.duckdb")
    con = duckdb.connect(str(tmp_path / "text.duckdb"), read_only=True)
    import ibis

    backend = ibis.duckdb.from_connection(con)
    rels = {n: backend.table(n) for n in frames}
    tables, fallback, derived = engine_checks.canonical_tables(rels, data.read_mapping(None),
                                                               as_of=AS_OF)
    con.close()
    assert fallback["orders"] == "ordered_at is stored as string, which needs the pandas conversion"
    assert fallback["order_items"].startswith("it points to orders, which falls back")
    assert "tickets" in tables and "customers" in tables and not derived
    for as_of in (None, AS_OF):
        no_fetch.clear()
        got = _problems(url, as_of=as_of)
        expected = _problems(frames, as_of=as_of)
        assert [(p.table, p.check, p.message) for p in got] == \
            [(p.table, p.check, p.message) for p in expected] == [
                ("orders", "out_of_range", "1 value below the minimum 0 currency"),
                ("tickets", "out_of_range", "1 value above the maximum 5 1-5")]
        assert no_fetch == list(frames)  # a problem with a fallback: every table in pandas
    frames["tickets"].loc[0, "csat"] = 5
    frames["orders"].loc[1, "amount"] = 5.0
    url = _duck(frames, tmp_path / "text2.duckdb")
    assert data.load(url, as_of=AS_OF).fingerprint() == data.load(frames, as_of=AS_OF).fingerprint()


@pytest.mark.parametrize("as_of", [None, "2024-03-02"])
def test_a_day_stored_as_a_timestamp_with_time_zone_is_its_local_day(as_of, tmp_path, no_fetch):
    """ad_spend.date as TIMESTAMPTZ (as the synthetic company's Parquet has it): its calendar
    day in the mapping's time zone (23:30 UTC on 1 March is 2 March in Paris), in the engine."""
    frames = company()
    frames["ad_spend"]["date"] = _utc("2024-03-01 23:30", "2024-03-02 12:00", "2024-02-29 23:30",
                                      "2025-06-01 10:00")
    frames["ad_spend"].loc[1, "clicks"] = 500
    mapping = {"timezone": "Europe/Paris"}
    path = tmp_path / "tz.duckdb"
    with duckdb.connect(str(path)) as con:
        for name, frame in frames.items():
            con.register("frame", frame)
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
            con.unregister("frame")
    url = f"duckdb://{path}"
    expected = _problems(frames, mapping, as_of=as_of, company_start="2024-03-02")
    got = _problems(url, mapping, as_of=as_of, company_start="2024-03-02")
    assert ("ad_spend", "before_company_start", "1 date before company_start "
            "(2024-03-01T23:00:00+00:00)") in [(p.table, p.check, p.message) for p in got]
    assert_same_problems(got, expected)
    assert no_fetch == []
    dates = [e for p in got if p.table == "ad_spend" for e in p.examples]
    assert "campaign_id='k2', date=2024-03-01T00:00:00+00:00: 2024-03-01T00:00:00+00:00" in dates


def test_derived_customers_drop_the_rows_of_later_buyers(tmp_path, no_fetch):
    """No customers table: with as_of the contacts whose first order is later are dropped,
    and their earlier events with them (a fault there is no problem)."""
    frames = company()
    del frames["customers"]
    frames["events"].loc[5, "platform"] = "tv"  # c6: first order after AS_OF
    assert _problems(frames, as_of=AS_OF) == []
    url = _duck(frames, tmp_path / "d.duckdb")
    assert data.load(url, as_of=AS_OF).fingerprint() == data.load(frames, as_of=AS_OF).fingerprint()
    got = _problems(url)
    assert [(p.table, p.check) for p in got] == [("events", "not_allowed")]
    assert_same_problems(got, _problems(frames))


def test_engine_problems_on_an_ibis_table():
    import ibis

    con = ibis.duckdb.connect()
    orders = con.create_table("orders", pd.DataFrame({
        "order_id": ["o1", "o2", "o2"], "customer_id": ["c1", None, "c2"],
        "ordered_at": pd.to_datetime(["2025-01-01", "2025-01-02", "2019-01-01"], utc=True),
        "amount": [10.0, -5.0, 1.0]}))
    items = con.create_table("order_items", pd.DataFrame({
        "order_id": ["o1", "o3"], "product_id": ["p", "p"], "date": [dt.date(2025, 1, 1)] * 2}))
    counts: dict[str, int] = {}
    got = engine_checks.engine_problems({"orders": orders, "order_items": items.drop("date")},
                                        company_start="2020-01-01", counts=counts)
    assert [(p.table, p.column, p.check, p.message) for p in got] == [
        ("orders", "order_id", "duplicate_key",
         "2 rows share their key (order_id) with another row (1 distinct key)"),
        ("orders", "customer_id", "null_value", "1 missing value in a column that may not be empty"),
        ("orders", "ordered_at", "before_company_start",
         "1 date before company_start (2020-01-01T00:00:00+00:00)"),
        ("orders", "amount", "out_of_range", "1 value below the minimum 0 currency"),
        ("order_items", "order_id", "orphan_key",
         "1 row (1 distinct value) have a order_id that is not in orders.order_id"),
    ]
    assert got[1].examples == ("order_id='o2': <empty>",)
    assert counts == {"orders": 3, "order_items": 2}


# ---------------------------------------------------------------------------------------
# PostgreSQL (a throw-away server: few cases, the server start dominates)
# ---------------------------------------------------------------------------------------


@pytest.fixture
def pg_admin(postgres_server, monkeypatch, tmp_path):
    import pg_server

    monkeypatch.setenv("PGPASSWORD", pg_server.ADMIN_PASSWORD)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))
    return lambda schema: postgres_server.url(pg_server.ADMIN, database="checks", schema=schema)


def test_postgres_checks_run_in_the_database_and_nothing_is_fetched(postgres_server, pg_admin,
                                                                    no_fetch):
    """Timestamps with time zone, a naive timestamp as ad_spend's day: every fault at once gives
    the pandas problems with and without as_of, no row fetched; the clean company loads as
    from frames."""
    import pg_server

    clean, faulty = company(), company()
    for plant in FAULTS.values():
        plant(faulty)
    pg_server.load_tables(postgres_server, clean, database="checks", schema="clean")
    pg_server.load_tables(postgres_server, faulty, database="checks", schema="faulty")
    for as_of in (None, AS_OF):
        expected = _problems(faulty, as_of=as_of, company_start=START)
        got = _problems(pg_admin("faulty"), as_of=as_of, company_start=START)
        assert len(got) >= 15
        assert_same_problems(got, expected)
        assert no_fetch == []
        loaded = data.load(pg_admin("clean"), as_of=as_of, company_start=START)
        assert loaded.fingerprint() == data.load(clean, as_of=as_of, company_start=START).fingerprint()
        assert no_fetch == list(clean)
        no_fetch.clear()


def test_postgres_query_errors_name_the_table(postgres_server, pg_admin, monkeypatch):
    """A failing check query is the one-line read error of its table (here: a privilege)."""
    import pg_server

    pg_server.load_tables(postgres_server, {"orders": company()["orders"]}, database="checks",
                          schema="locked")
    with postgres_server.connect("checks") as con:
        con.execute("CREATE ROLE nosy LOGIN PASSWORD 'nosy-pw-1'")
        con.execute("GRANT USAGE ON SCHEMA locked TO nosy")
        con.commit()
    monkeypatch.setenv("PGPASSWORD", "nosy-pw-1")
    url = postgres_server.url("nosy", database="checks", schema="locked")
    with pytest.raises(sources.DataSourceError) as caught:
        data.load(url)
    assert "user nosy may not read locked.orders (the orders table)" in str(caught.value)


def test_nothing_to_check_gives_no_problem():
    """No table, or derived tables only (every table fell back to pandas, say): no query, no problem."""
    import ibis

    orders = ibis.memtable(company()["orders"])
    assert engine_checks.engine_problems({}) == []
    assert engine_checks.engine_problems({"orders": orders}, derived={"orders"}) == []
