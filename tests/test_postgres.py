"""Reading a PostgreSQL database and a DuckDB file (crm_research.data.sources) on a real server.

The small synthetic company is copied into a throw-away PostgreSQL server (tests/pg_server.py)
and into a DuckDB file, both built in this session from the same Parquet folder; loading from
either must give the frames of that folder (rows sorted by value: a database has no row order),
and notebook 01 run on PostgreSQL must write the same tables, byte for byte, as on the folder.
Every connection and read error is one line, exit status 2, nothing written.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

import pg_server
from crm_research import data
from crm_research.cli import main
from crm_research.data import sources

AS_OF = "2025-06-01"
ANALYST, ANALYST_PASSWORD = "analyst", "analyst-pw-7"
OUTSIDER, OUTSIDER_PASSWORD = "outsider", "outsider-pw-7"


def _frames(folder: Path) -> dict[str, pd.DataFrame]:
    return {p.stem: pd.read_parquet(p) for p in sorted(folder.glob("*.parquet"))
            if p.stem in data.TABLES}


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns), kind="stable", na_position="last", ignore_index=True)


@pytest.fixture(scope="module")
def sorted_folder(small_company, tmp_path_factory) -> Path:
    """The small company's tables with their rows sorted by value (model column order), as the
    database reader returns them; no truth.json beside them, as in a database."""
    out = tmp_path_factory.mktemp("pg") / "sorted"
    out.mkdir()
    for name, frame in _frames(small_company).items():
        _sorted(frame).to_parquet(out / f"{name}.parquet", index=False)
    return out


@pytest.fixture(scope="module")
def pg(postgres_server, small_company):
    """The company in schema ``crm`` of database ``crm``; an analyst who may read it, an outsider
    who may not, a view renaming the orders' columns and a view that sleeps."""
    pg_server.load_tables(postgres_server, _frames(small_company), database="crm", schema="crm")
    with postgres_server.connect("crm") as con:
        for user, password in ((ANALYST, ANALYST_PASSWORD), (OUTSIDER, OUTSIDER_PASSWORD)):
            con.execute(f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
        con.execute("CREATE VIEW crm.sales_v AS SELECT order_id AS id, customer_id AS buyer, ordered_at, "
                    "amount, discount, channel, platform, promo_code, status, 'internal' AS memo FROM crm.orders")
        con.execute("CREATE VIEW crm.slow_orders AS SELECT o.* FROM crm.orders o CROSS JOIN "
                    "(SELECT pg_sleep(5)) s")
        con.execute(f"GRANT USAGE ON SCHEMA crm TO {ANALYST}")
        con.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA crm TO {ANALYST}")
        con.commit()
    return postgres_server


@pytest.fixture
def env(monkeypatch, tmp_path):
    """The analyst's password in PGPASSWORD; no password file of the machine's user is read."""
    monkeypatch.setenv("PGPASSWORD", ANALYST_PASSWORD)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))
    return monkeypatch


@pytest.fixture(scope="module")
def duck_file(small_company, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("duck") / "crm.duckdb"  # catalog crm, schema crm: the reader qualifies
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA crm.crm")
        for name in _frames(small_company):
            con.execute(f"CREATE TABLE crm.crm.{name} AS SELECT * FROM read_parquet(?)",
                        [str(small_company / f"{name}.parquet")])
    return path


def _assert_same(got, expected) -> None:
    assert list(got.tables()) == list(expected.tables())
    for name, frame in expected.tables().items():
        pd.testing.assert_frame_equal(got.tables()[name], frame, check_exact=True, obj=name)
    assert got.notes == expected.notes
    assert got.derived == expected.derived
    assert got.fingerprint() == expected.fingerprint()


# ---------------------------------------------------------------------------------------
# the same frames as the Parquet folder
# ---------------------------------------------------------------------------------------


def test_postgres_and_duckdb_file_load_the_frames_of_the_parquet_folder(pg, env, duck_file, sorted_folder,
                                                                        small_company):
    expected = data.load(sorted_folder, as_of=AS_OF)
    from_pg = data.load(pg.url(ANALYST, schema="crm"), as_of=AS_OF)
    from_duck = data.load(f"duckdb://{duck_file}?schema=crm", as_of=AS_OF)
    _assert_same(from_pg, expected)
    _assert_same(from_duck, expected)
    assert from_pg.source == pg.url(ANALYST, schema="crm")
    # the as_of snapshot is the folder's: 27,000-odd later events counted, not read
    assert any(n.startswith("events: ") and "on or after as_of" in n for n in from_pg.notes)
    # row order aside, the same content as the original (unsorted) folder
    original = data.load(small_company, as_of=AS_OF)
    assert from_pg.fingerprint() == original.fingerprint()
    # and the events in the very same order: simultaneous events break their tie the same way
    # for a folder in its export order and for a database (journeys, funnels, paths follow it)
    pd.testing.assert_frame_equal(from_pg.events, original.events)
    pd.testing.assert_frame_equal(from_duck.events, original.events)


def test_only_the_model_columns_and_rows_before_as_of_are_read(pg, env, small_company):
    """The view's extra column is not read; later events are counted in the database, not fetched."""
    src = sources.parse_source(pg.url(ANALYST, schema="crm"))
    mapping = data.read_mapping({"tables": {"orders": {"table": "sales_v",
                                                       "columns": {"id": "order_id", "buyer": "customer_id"}}}})
    raws, left_out = sources.read_database(src, mapping, pd.Timestamp(AS_OF, tz="UTC"))
    assert "memo" not in raws["orders"].frame.columns
    assert list(raws["orders"].frame.columns[:2]) == ["id", "buyer"]
    events = pd.read_parquet(small_company / "events.parquet")
    later = int((events["occurred_at"] >= pd.Timestamp(AS_OF, tz="UTC")).sum())
    assert later > 1000
    assert left_out["events"] == later
    assert len(raws["events"].frame) == len(events) - later
    assert "orders" not in left_out and "customers" not in left_out  # pointed to: filtered in memory
    # the renamed view loads like the table
    got = data.load(pg.url(ANALYST, schema="crm"), mapping=mapping, as_of=AS_OF)
    pd.testing.assert_frame_equal(got.orders, data.load(pg.url(ANALYST, schema="crm"), as_of=AS_OF).orders)


def test_the_session_is_read_only_and_nothing_is_created(pg, env, duck_file):
    import psycopg

    def relations() -> int:
        with pg.connect("crm") as con:
            return con.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                               "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')").fetchone()[0]

    before = relations()
    env.setenv("PGPASSWORD", pg_server.ADMIN_PASSWORD)  # a superuser: only the session stops a write
    src = sources.parse_source(pg.url(pg_server.ADMIN, schema="crm"))
    con = sources.connect(src)
    try:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            con.raw_sql("CREATE TABLE crm.scratch (a int)")
    finally:
        con.disconnect()
    data.load(src.url, as_of=AS_OF)
    assert relations() == before
    duck = sources.connect(sources.parse_source(f"duckdb://{duck_file}"))
    with pytest.raises(duckdb.Error, match="read-only"):
        duck.raw_sql("CREATE TABLE scratch (a INTEGER)")
    duck.disconnect()


def test_a_password_file_is_read(pg, env, tmp_path, small_company):
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"{pg.host}:{pg.port}:crm:{ANALYST}:{ANALYST_PASSWORD}\n")
    passfile.chmod(0o600)
    env.delenv("PGPASSWORD")
    env.setenv("PGPASSFILE", str(passfile))
    orders = data.load(pg.url(ANALYST, schema="crm")).orders
    assert len(orders) == len(pd.read_parquet(small_company / "orders.parquet"))


# ---------------------------------------------------------------------------------------
# the whole path: validate and run
# ---------------------------------------------------------------------------------------


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "crm_research.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600, check=False)


def test_run_01_on_postgres_writes_the_tables_of_the_parquet_run(pg, env, sorted_folder, tmp_path):
    mapping = tmp_path / "mapping.yaml"  # the URL names the client mapping
    mapping.write_text(yaml.safe_dump({"tables": {"orders": {
        "table": "sales_v", "columns": {"id": "order_id", "buyer": "customer_id"}}}}))
    url = pg.url(ANALYST, schema="crm", mapping=str(mapping))
    checked = _cli("validate", url, "--as-of", AS_OF)
    assert checked.returncode == 0, checked.stderr
    assert f"{url}: valid" in checked.stdout and "events" in checked.stdout
    runs = {}
    for name, source in (("pg", url), ("parquet", str(sorted_folder))):
        done = _cli("run", "01", "--data", source, "--out", str(tmp_path / name), "-j", "1")
        assert done.returncode == 0, done.stderr
        (runs[name],) = (tmp_path / name).glob("run-*")
    tables = sorted(p.name for p in (runs["parquet"] / "tables").glob("*.csv"))
    assert len(tables) >= 5
    assert sorted(p.name for p in (runs["pg"] / "tables").glob("*.csv")) == tables
    for name in tables:
        assert (runs["pg"] / "tables" / name).read_bytes() == (runs["parquet"] / "tables" / name).read_bytes(), name
    manifests = {k: yaml.safe_load((v / "manifest.json").read_text()) for k, v in runs.items()}
    assert manifests["pg"]["data"]["folder"] == url
    assert manifests["pg"]["data"]["mapping"] == "mapping.yaml"
    assert manifests["pg"]["data"]["fingerprint"] == manifests["parquet"]["data"]["fingerprint"]
    for path in runs["pg"].rglob("*"):  # no password anywhere in the run folder
        if path.is_file():
            assert ANALYST_PASSWORD.encode() not in path.read_bytes(), path


# ---------------------------------------------------------------------------------------
# errors: one line, exit 2, nothing written
# ---------------------------------------------------------------------------------------


def _fails(capsys, tmp_path, source: str) -> str:
    out = tmp_path / "reports"
    assert main(["run", "01", "--data", source, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    assert not out.exists() or not any(out.iterdir())
    assert main(["validate", source]) == 2
    assert capsys.readouterr().err.strip() == err
    return err


def test_a_password_in_the_url_is_refused(pg, env, capsys, tmp_path):
    err = _fails(capsys, tmp_path, f"postgresql://{ANALYST}:{ANALYST_PASSWORD}@{pg.host}:{pg.port}/crm?schema=crm")
    assert ANALYST_PASSWORD not in err
    assert "PGPASSWORD" in err and ".pgpass" in err
    with pytest.raises(data.DataSourceError, match="PGPASSWORD"):
        data.load(f"postgresql://{pg.host}/crm?password=x")


def test_unreachable_server(pg, env, capsys, tmp_path):
    port = pg_server._free_port()
    err = _fails(capsys, tmp_path, f"postgresql://{ANALYST}@127.0.0.1:{port}/crm")
    assert f"cannot reach a PostgreSQL server at 127.0.0.1:{port}" in err


def test_wrong_or_missing_password(pg, env, capsys, tmp_path):
    env.setenv("PGPASSWORD", "not-the-password")
    err = _fails(capsys, tmp_path, pg.url(ANALYST, schema="crm"))
    assert f"refused the password of user {ANALYST}" in err and "not-the-password" not in err
    env.delenv("PGPASSWORD")
    err = _fails(capsys, tmp_path, pg.url(ANALYST, schema="crm"))
    assert f"asks a password for user {ANALYST}" in err and ".pgpass" in err


def test_missing_table_names_it_and_the_mapping_key(pg, env, capsys, tmp_path):
    err = _fails(capsys, tmp_path, pg.url(ANALYST, schema="sales"))
    assert "no table or view sales.orders for the orders table" in err
    assert "tables: {orders: {table: <name>}}" in err
    mapping = tmp_path / "m.yaml"
    mapping.write_text("tables: {tickets: {table: support_tickets}}\n")
    err = _fails(capsys, tmp_path, pg.url(ANALYST, schema="crm", mapping=str(mapping)))
    assert "no table or view crm.support_tickets for the tickets table (the mapping names it)" in err


def test_missing_privileges(pg, env, capsys, tmp_path):
    env.setenv("PGPASSWORD", OUTSIDER_PASSWORD)
    err = _fails(capsys, tmp_path, pg.url(OUTSIDER, schema="crm"))
    assert f"user {OUTSIDER} may not read crm.customers (the customers table)" in err
    assert "USAGE on schema crm and SELECT on crm.customers" in err


def test_statement_timeout_from_the_url_or_the_mapping(pg, env, capsys, tmp_path):
    mapping = tmp_path / "m.yaml"
    mapping.write_text("tables: {orders: {table: slow_orders}}\n")
    err = _fails(capsys, tmp_path, pg.url(ANALYST, schema="crm", mapping=str(mapping), statement_timeout="500ms"))
    assert "reading crm.slow_orders (the orders table) took longer than statement_timeout=500 ms" in err
    mapping.write_text("statement_timeout: 700ms\ntables: {orders: {table: slow_orders}}\n")
    err = _fails(capsys, tmp_path, pg.url(ANALYST, schema="crm", mapping=str(mapping)))
    assert "statement_timeout=700 ms" in err


@pytest.mark.parametrize("url, message", [
    ("duckdb:///no/such/file.duckdb", "/no/such/file.duckdb does not exist"),
    ("postgresql://h/crm?schema=crm&user=x", "unknown URL option 'user'"),
    ("postgresql://h/crm?statement_timeout=soon", "statement_timeout='soon' is not a duration"),
])
def test_bad_urls(url, message, capsys, tmp_path):
    assert message in _fails(capsys, tmp_path, url)


SECRET = "pa55-Secret"


@pytest.mark.parametrize("url", [
    f"postgresql://ana:{SECRET}@db.example:5432/crm?schema=crm",
    f"postgresql://ana:12/{SECRET}@db.example/crm",            # '/' in the password: parsed as port 12
    f"postgresql://ana:x/{SECRET}@db.example/crm",             # ... or as a bad port
    f"postgresql://ana:12?schema={SECRET}@db.example/crm",     # '?': the rest parsed as an option
    f"postgresql://ana:x?{SECRET}@db.example/crm",             # ... or as a malformed query
    f"postgresql://ana:x#{SECRET}@db.example/crm",             # '#': a fragment
    f"postgresql://db.example/crm?password={SECRET}&schema=crm",
    f"postgresql://db.example/crm?password={SECRET}&broken",
    f"postgresql://db.example/crm?PASSWORD={SECRET}",
    f"postgresql://ana:{SECRET}@[::1/crm",                     # a malformed host: was a traceback
])
def test_a_password_anywhere_in_the_url_is_refused_and_never_shown(url, capsys, tmp_path):
    with pytest.raises(data.DataSourceError) as caught:
        sources.parse_source(url)
    assert SECRET not in str(caught.value) and "Secret" not in str(caught.value)
    err = _fails(capsys, tmp_path, url)  # one line, exit 2, nothing written
    assert "Secret" not in err


def test_an_at_sign_in_an_option_is_written_as_percent_40():
    src = sources.parse_source("postgresql://ana@db.example/crm?mapping=/srv/a%40b/m.yaml")
    assert src.mapping == Path("/srv/a@b/m.yaml") and src.user == "ana" and src.host == "db.example"
    with pytest.raises(data.DataSourceError, match="an '@' outside user@host"):
        sources.parse_source("postgresql://ana@db.example/crm?mapping=/srv/a@b/m.yaml")


def test_awkward_text_travels_unchanged(pg, env):
    """Commas, quotes, line breaks, an empty text (not missing), 'NA' (a region, not missing),
    non-ASCII, a missing value, a naive timestamp and a DATE column (as_of filtered in the
    database): the same as from frames."""
    orders = pd.DataFrame({
        "order_id": ["o1", "o2", "o3", "o4"],
        "customer_id": ["c1", "c2", "c2", "c3"],
        "ordered_at": pd.to_datetime(["2025-01-02 10:00:00.123456", "2025-01-03 00:00:00", "2025-02-01 23:59:59",
                                      "2025-03-01 12:00:00"], format="ISO8601"),
        "amount": [10.5, 0.0, 1e6, 3.25],
        "promo_code": ['a,b "q"', "line\nbreak", "", None],
    })
    customers = pd.DataFrame({"customer_id": ["c1", "c2", "c3"],
                              "signup_at": pd.to_datetime(["2024-12-01", "2024-12-02", "2024-12-03"]),
                              "region": ["NA", "Île-de-France", "null"]})
    campaigns = pd.DataFrame({"campaign_id": ["k1"], "channel": ["email"], "name": ["Spring"]})
    ad_spend = pd.DataFrame({"campaign_id": ["k1"] * 3, "date": ["2025-02-27", "2025-02-28", "2025-03-01"],
                             "impressions": [100, 200, 300], "clicks": [1, 2, 3], "cost": [1.0, 2.0, 3.0]})
    frames = {"orders": orders, "customers": customers, "campaigns": campaigns, "ad_spend": ad_spend}
    pg_server.load_tables(pg, frames, database="crm", schema="odd")
    with pg.connect("crm") as con:
        con.execute('ALTER TABLE odd.ad_spend ALTER COLUMN "date" TYPE date USING "date"::date')
        con.execute(f"GRANT USAGE ON SCHEMA odd TO {ANALYST}")
        con.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA odd TO {ANALYST}")
        con.commit()
    got = data.load(pg.url(ANALYST, schema="odd"), as_of="2025-03-01")
    expected = data.load(frames, as_of="2025-03-01")
    _assert_same(got, expected)
    assert len(got.ad_spend) == 2 and "ad_spend: 1 row dated the day of as_of (2025-03-01) or later ignored." in got.notes
    raws, left_out = sources.read_database(sources.parse_source(pg.url(ANALYST, schema="odd")), data.read_mapping(None),
                                           pd.Timestamp("2025-03-01", tz="UTC"))
    assert left_out["ad_spend"] == 1 and len(raws["ad_spend"].frame) == 2  # filtered in the database
    assert got.orders["promo_code"].tolist()[:3] == ['a,b "q"', "line\nbreak", ""]
    assert got.customers["region"].tolist() == ["NA", "Île-de-France", "null"]


def test_mapping_names_tables_and_a_timeout():
    m = data.read_mapping({"tables": {"orders": {"table": "sales.orders_v"}}, "statement_timeout": "2min"})
    assert m.table("orders").table == "sales.orders_v" and m.statement_timeout == 120_000
    with pytest.raises(data.MappingError) as caught:
        data.read_mapping({"tables": {"orders": {"table": "a.b.c"}}, "statement_timeout": "soon"})
    assert "tables.orders.table: 'a.b.c' must be a table or view name" in str(caught.value)
    assert "statement_timeout: 'soon' is not a duration" in str(caught.value)
    src = sources.parse_source("postgresql://ana@db.example:6543/crm?schema=s&statement_timeout=90s&sslmode=require")
    assert (src.host, src.port, src.user, src.database, src.schema, src.statement_timeout, src.options) == (
        "db.example", 6543, "ana", "crm", "s", 90_000, {"sslmode": "require"})


def test_the_report_label_of_a_source_holds_no_local_path():
    """The analyst report's 'Data' line: user@host/db and schema, not the mapping's local path."""
    url = "postgresql://ana@db.example:6543/crm?schema=s&mapping=/home/me/acme/m.yaml&statement_timeout=5s"
    assert sources.parse_source(url).label() == "postgresql://ana@db.example:6543/crm?schema=s"
    assert sources.parse_source("postgresql://db.example/crm?mapping=m.yaml").label() == "postgresql://db.example/crm"
    assert sources.parse_source("duckdb:///srv/exports/acme.duckdb?schema=crm").label() == "acme.duckdb"


def test_a_unix_socket_folder_as_host(pg, env, small_company):
    """libpq's form for a local socket: the folder, percent-encoded, as the host."""
    from urllib.parse import quote

    url = f"postgresql://{ANALYST}@{quote(str(pg.folder), safe='')}:{pg.port}/crm?schema=crm"
    assert sources.parse_source(url).host == str(pg.folder)
    orders = data.load(url).orders
    assert len(orders) == len(pd.read_parquet(small_company / "orders.parquet"))


# ---------------------------------------------------------------------------------------
# tables left in the database: the package's expressions hold on PostgreSQL
# ---------------------------------------------------------------------------------------


def test_every_verdict_on_tables_left_in_postgres_is_the_verdict_on_their_rows(pg, env, small_company):
    """Each section's needs judged on the tables as they stand in PostgreSQL (engine tables,
    nothing fetched) give the verdicts, reasons and measured facts of the same rows in memory:
    no fact leans on an expression only DuckDB accepts (a boolean cast to a bigint, which
    PostgreSQL refuses, broke three of them)."""
    from crm_research import needs
    from crm_research.kpi.measure import _last_and_count

    # a client's path table too (the attribution notebook's extra table), one count not whole and
    # one missing, in a schema of its own
    paths = pd.DataFrame({"path": ["display > email", "email", "search", "display", "email > search"],
                          "total_conversions": [30.0, 12.5, None, 5.0, 7.0],
                          "total_conversion_value": [3000.0, 1100.0, 700.0, 400.0, 650.0],
                          "total_null": [400, 300, 200, 600, 90]})
    pg_server.load_tables(pg, {"paths": paths}, database="crm", schema="client_paths")
    with pg.connect("crm") as admin:
        admin.execute(f"GRANT USAGE ON SCHEMA client_paths TO {ANALYST}")
        admin.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA client_paths TO {ANALYST}")
        admin.commit()
    src = sources.parse_source(pg.url(ANALYST, schema="crm"))
    con = sources.connect(src)
    try:
        frames = {**_frames(small_company), "paths": paths}
        in_db = {name: sources._relation(con, src, "client_paths.paths" if name == "paths" else name)
                 for name in frames}
        assert all(t is not None for t in in_db.values())
        sections = list(needs.SECTIONS)
        on_pg = needs.assess(in_db, sections, AS_OF)
        in_memory = needs.assess(frames, sections, AS_OF)
        assert [(v.section.key, v.status, v.reason, v.fallbacks, v.measured) for v in on_pg] == \
               [(v.section.key, v.status, v.reason, v.fallbacks, v.measured) for v in in_memory]
        measured = {k: x for v in on_pg for k, x in v.measured.items()}
        assert measured["baseline_breakdown_dimensions"] >= 3  # the facts ran, on the server
        assert measured["path_whole_counts"] == 75.0  # 3 of the 4 known counts are whole
        assert sum(v.status == "ok" for v in on_pg) > 30
        # the baseline's partial-period check counts on the server too
        cut, since, until = (pd.Timestamp(d, tz="UTC") for d in (AS_OF, "2025-05-01", AS_OF))
        assert _last_and_count(in_db["orders"], "ordered_at", since, until, cut) == \
               _last_and_count(frames["orders"], "ordered_at", since, until, cut)
    finally:
        con.disconnect()
