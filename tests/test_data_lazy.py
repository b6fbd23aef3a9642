"""data.load(con=...): engine tables read in place give what the pandas loader gives.

Checked on a 300-contact synthetic company written as Parquet (and as CSV, which is loaded in
memory and handed to the engine): the same tables (names, columns, rows), notes and derived
tables, at two ``as_of`` dates and on partial cuts; the same problems for broken data; the
runner's engine snapshot read back as engine tables, the events in the loader's order.
"""

from __future__ import annotations

import shutil

import pandas as pd
import pyarrow.parquet as pq
import pytest

from crm_research import data, engine, synthetic
from crm_research.data.lazy import engine_route, write_parquet
from crm_research.data.load import journey_order
from crm_research.errors import DataValidationError, ParameterError


@pytest.fixture(scope="module")
def company(tmp_path_factory):
    return synthetic.write(tmp_path_factory.mktemp("lazy") / "c", n_customers=300, seed=7)


@pytest.fixture()
def con(tmp_path):
    c = engine.open_engine("duckdb", spill_dir=tmp_path / "spill")
    yield c
    c.disconnect()


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Values as text with one missing marker, rows sorted: the content, whatever the dtypes."""
    out = frame.astype(object).where(frame.notna(), None).astype(str)
    return out.sort_values(list(out.columns), kind="stable").reset_index(drop=True)


def _same(a: data.CRMData, b: data.CRMData) -> None:
    assert not a.is_lazy and b.is_lazy
    assert list(a.tables()) == list(b.tables())
    assert a.notes == b.notes
    assert a.derived == b.derived
    for name, frame in a.tables().items():
        got = engine.collect(b[name])
        assert list(got.columns) == list(frame.columns), name
        if name == "tickets" and "csat" in got:  # nullable integers come back as float64
            got["csat"] = got["csat"].astype("Int64")
        pd.testing.assert_frame_equal(_plain(got), _plain(frame), obj=name)


@pytest.mark.parametrize("as_of", [None, "2025-06-01"])
def test_parquet_folder_is_read_in_place_with_the_pandas_loaders_result(company, con, as_of):
    a = data.load(company, as_of=as_of)
    b = data.load(company, as_of=as_of, con=con)
    assert b.in_memory is None
    _same(a, b)
    if as_of is not None:  # rows after as_of dropped, rows pointing to them, censored times: counted
        assert len(b.notes) >= 5 and any("more rows ignored" in n for n in b.notes)
    assert b.fingerprint() == data.load(company, as_of=as_of, con=con).fingerprint()
    assert b.fingerprint() != data.load(company, as_of="2025-01-01", con=con).fingerprint()


@pytest.mark.parametrize("as_of", [None, "2025-06-01"])
def test_orders_only_derives_the_customers_as_the_pandas_loader(company, con, tmp_path, as_of):
    folder = tmp_path / "orders_only"
    folder.mkdir()
    shutil.copy(company / "orders.parquet", folder)
    a = data.load(folder, as_of=as_of)
    b = data.load(folder, as_of=as_of, con=con)
    assert list(b.derived) == ["customers"] and b.in_memory is None
    _same(a, b)


def test_csv_is_loaded_in_memory_and_handed_to_the_engine(con, tmp_path):
    folder = synthetic.write(tmp_path / "csv", n_customers=300, seed=7, fmt="csv")
    assert "not a Parquet file" in engine_route(folder)
    b = data.load(folder, as_of="2025-06-01", con=con)
    assert b.is_lazy and "not a Parquet file" in b.in_memory
    _same(data.load(folder, as_of="2025-06-01"), b)
    assert b.fingerprint() == data.load(folder, as_of="2025-06-01").fingerprint()


def test_an_empty_optional_table_is_absent_with_the_same_note(company, con, tmp_path):
    folder = tmp_path / "empty_surveys"
    shutil.copytree(company, folder)
    surveys = pq.read_table(company / "surveys.parquet")
    pq.write_table(surveys.slice(0, 0), folder / "surveys.parquet")
    a = data.load(folder)
    b = data.load(folder, con=con)
    assert "surveys" not in b and any("surveys.parquet has no rows" in n for n in b.notes)
    _same(a, b)


def test_broken_data_gives_the_same_checks_and_names_the_rows_by_key(company, con, tmp_path):
    folder = tmp_path / "broken"
    shutil.copytree(company, folder)
    orders = pd.read_parquet(company / "orders.parquet")
    orders.loc[3, "amount"] = -5.0
    orders.loc[7, "customer_id"] = "nobody"
    orders.to_parquet(folder / "orders.parquet", index=False)
    with pytest.raises(DataValidationError) as pandas_error:
        data.load(folder)
    with pytest.raises(DataValidationError) as engine_error:
        data.load(folder, con=con)
    assert sorted((p.table, p.column, p.check) for p in engine_error.value.problems) == \
        sorted((p.table, p.column, p.check) for p in pandas_error.value.problems)
    amount = next(p for p in engine_error.value.problems if p.check == "out_of_range")
    assert amount.examples == (f"order_id='{orders.loc[3, 'order_id']}': -5.0",)


def test_engine_snapshot_keeps_the_events_in_journey_order(company, con, tmp_path):
    b = data.load(company, as_of="2025-06-01", con=con)
    files = write_parquet(b.without_pii(), tmp_path)
    assert sorted(files) == sorted(b.tables())
    written = pd.read_parquet(files["events"])
    assert len(written) > 1000
    pd.testing.assert_frame_equal(_plain(written), _plain(engine.collect(b.events)))
    expected = journey_order(data.load(company, as_of="2025-06-01").events)
    assert written["customer_id"].tolist() == expected["customer_id"].astype(str).tolist()
    assert written["event"].tolist() == expected["event"].astype(str).tolist()
    assert "email" not in pd.read_parquet(files["customers"]).columns


def test_the_engine_parameter_and_connection():
    assert engine.parse_engine("spark:spark://h:7077") == ("spark", "spark://h:7077")
    assert engine.parse_engine(" DuckDB ") == ("duckdb", None)
    for bad in ("duck", "pandas:x", "spark:", None):
        with pytest.raises(ParameterError, match="is not supported"):
            engine.parse_engine(bad)
    assert engine.open_engine("pandas") is None
    c = engine.open_engine("duckdb", memory_limit="256MB", threads=1)
    limit, threads = c.raw_sql("select current_setting('memory_limit'), current_setting('threads')").fetchone()
    assert limit.startswith("244") and threads == 1  # 256 MB is 244.1 MiB
    c.disconnect()
