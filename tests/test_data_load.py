"""The loader: reading, the client mapping, type conversion and CRMData."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from crm_research import data
from crm_research.data import (
    SCHEMAS,
    TABLE_ORDER,
    TABLES,
    CRMData,
    DataSourceError,
    MappingError,
    dtype_of,
    pii_columns,
    read_mapping,
    table_schema,
)
from crm_research.data.coerce import coerce_column
from crm_research.data.docs import update_page
from crm_research.errors import DataValidationError
from data_corpus import AS_OF, valid_frames, write_folder


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


@pytest.fixture
def crm() -> CRMData:
    return data.load(valid_frames(), as_of=AS_OF)


# ---------------------------------------------------------------------------------------
# canonical frames
# ---------------------------------------------------------------------------------------


def test_every_column_has_its_canonical_dtype(crm: CRMData) -> None:
    for name, frame in crm.tables().items():
        for col in TABLES[name].columns:
            assert frame[col.name].dtype == dtype_of(col), (name, col.name)
    assert crm.orders["ordered_at"].dtype == "datetime64[ns, UTC]"
    assert crm.customers["age"].dtype == "Int64"  # nullable int
    assert crm.tickets["contacts"].dtype == "int64"
    assert crm.ad_spend["date"].iloc[0] == ts("2024-01-09T00:00:00Z")


def test_loaded_tables_pass_their_pandera_schema(crm: CRMData) -> None:
    for name, frame in crm.tables().items():
        SCHEMAS[name].validate(frame)


def test_column_order_is_canonical_with_extras_last_and_rows_in_file_order() -> None:
    frames = valid_frames()
    orders = frames["orders"]
    shuffled = ["note", "status", "amount", "order_id", "customer_id", "ordered_at", "discount",
                "channel", "platform"]  # promo_code (optional) absent, one extra column
    frames["orders"] = orders.assign(note=[f"n{i}" for i in range(len(orders))])[shuffled]
    loaded = data.load(frames, as_of=AS_OF)
    assert list(loaded.orders.columns) == ["order_id", "customer_id", "ordered_at", "amount",
                                           "discount", "channel", "platform", "status", "note"]
    assert loaded.orders["order_id"].tolist() == ["O1", "O2", "O3", "O4", "O5", "O6"]
    assert loaded.orders["note"].tolist() == [f"n{i}" for i in range(6)]


def test_optional_tables_may_be_absent() -> None:
    frames = valid_frames()
    del frames["order_items"], frames["subscriptions"]
    loaded = data.load(frames, as_of=AS_OF)
    assert loaded.order_items is None and loaded.subscriptions is None
    assert list(loaded.tables()) == [t for t in TABLE_ORDER if t not in ("order_items", "subscriptions")]
    assert "order_items" not in loaded and "orders" in loaded
    with pytest.raises(KeyError, match="table 'order_items' is absent"):
        loaded["order_items"]
    with pytest.raises(KeyError, match="'client' is not a table"):
        loaded["client"]
    assert loaded["orders"] is loaded.orders


def test_crmdata_has_one_field_per_table_in_model_order() -> None:
    names = [f.name for f in dataclasses.fields(CRMData)]
    assert names == [*TABLE_ORDER, "source", "derived", "notes", "digest", "in_memory"]
    required = [f.name for f in dataclasses.fields(CRMData) if f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING]
    assert required == []  # orders too may be absent: a folder holding only a path table (notebook 04)


def test_load_does_not_modify_the_given_frames() -> None:
    frames = valid_frames()
    before = {name: frame.copy() for name, frame in frames.items()}
    data.load(frames, as_of=AS_OF)
    for name, frame in frames.items():
        pd.testing.assert_frame_equal(frame, before[name])


# ---------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------


def test_csv_round_trip_keeps_leading_zeros_and_the_text_na(tmp_path: Path, crm: CRMData) -> None:
    folder = write_folder(tmp_path / "export", valid_frames())
    loaded = data.load(folder, as_of=AS_OF)
    assert loaded.customers["customer_id"].tolist() == ["0001", "0002", "0003", "0004", "0005"]
    assert loaded.orders["customer_id"].iloc[0] == "0001"
    assert loaded.customers["region"].iloc[2] == "NA"  # a region code, not a missing value
    assert loaded.source == str(folder)
    assert loaded.fingerprint() == crm.fingerprint()


def test_parquet_and_gzip_csv_files(tmp_path: Path, crm: CRMData) -> None:
    folder = write_folder(tmp_path / "export", valid_frames(), fmt="parquet")
    (folder / "surveys.parquet").unlink()
    valid_frames()["surveys"].to_csv(folder / "surveys.csv.gz", index=False)
    (folder / "truth.json").write_text("{}", encoding="utf-8")  # unknown files are ignored
    (folder / "notes.csv").write_text("not,a,table\n", encoding="utf-8")
    loaded = data.load(folder, as_of=AS_OF)
    assert loaded.fingerprint() == crm.fingerprint()


def test_numeric_ids_are_read_as_text() -> None:
    frames = valid_frames()
    frames["campaigns"]["campaign_id"] = [101, 102]
    frames["events"]["campaign_id"] = [101.0, np.nan, np.nan, 102.0, np.nan, 101.0, np.nan]
    frames["ad_spend"]["campaign_id"] = np.array([101, 101, 102, 102], dtype="int64")
    loaded = data.load(frames, as_of=AS_OF)
    assert loaded.campaigns["campaign_id"].tolist() == ["101", "102"]
    assert loaded.events["campaign_id"].dropna().tolist() == ["101", "102", "101"]
    assert loaded.ad_spend["campaign_id"].dtype == "string"


def test_a_path_that_is_not_a_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match="does not exist"):
        data.load(tmp_path / "nowhere")
    (tmp_path / "orders.csv").write_text("x\n", encoding="utf-8")
    with pytest.raises(DataSourceError, match="is a file, not a folder"):
        data.load(tmp_path / "orders.csv")


# ---------------------------------------------------------------------------------------
# the client mapping
# ---------------------------------------------------------------------------------------

MAPPING_YAML = """\
tables:
  customers:
    file: clients.csv
    columns: {client_ref: customer_id, created: signup_at, source: acquisition_channel, zone: region}
  orders:
    file: commandes.csv
    sep: ";"
    decimal: ","
events:
  clic_pub: ad_click
  achat: purchase
timezone: Europe/Paris
date_format:
  orders.ordered_at: "%d/%m/%Y %H:%M"
company_start: 2024-01-01
"""


def _client_export(folder: Path) -> Path:
    frames = valid_frames()
    customers = frames.pop("customers").rename(columns={
        "customer_id": "client_ref", "signup_at": "created", "acquisition_channel": "source",
        "region": "zone"})
    customers["created"] = ["2024-01-02 10:00:00", "2024-01-03 11:30", "2024-01-05T09:15:00",
                            "2024-02-01 13:00:00", "2024-06-15 12:00:00"]  # Paris local time
    orders = frames.pop("orders")
    orders["ordered_at"] = ["10/01/2024 11:00", "01/03/2024 12:00", "20/01/2024 10:30",
                            "14/02/2024 16:00", "20/02/2024 17:00", "05/03/2024 18:00"]
    events = frames["events"]
    events["event"] = events["event"].replace({"ad_click": "clic_pub", "purchase": "achat"})
    events.loc[0, "occurred_at"] = "2024-01-09T21:00:00+01:00"  # an offset wins over timezone
    write_folder(folder, frames)
    customers.to_csv(folder / "clients.csv", index=False)
    text = orders.to_csv(index=False, sep=";").replace("120.0", "120,00").replace("15.99", "15,99")
    (folder / "commandes.csv").write_text(text, encoding="utf-8")
    (folder / "mapping.yaml").write_text(MAPPING_YAML, encoding="utf-8")
    return folder


def test_mapping_renames_columns_and_events_and_converts_local_time(tmp_path: Path) -> None:
    folder = _client_export(tmp_path / "client")
    loaded = data.load(folder, folder / "mapping.yaml", as_of=AS_OF)

    customers = loaded.customers
    assert list(customers.columns[:4]) == ["customer_id", "signup_at", "acquisition_channel", "region"]
    assert customers["customer_id"].tolist() == ["0001", "0002", "0003", "0004", "0005"]
    assert customers["signup_at"].tolist() == [
        ts("2024-01-02T09:00:00Z"), ts("2024-01-03T10:30:00Z"), ts("2024-01-05T08:15:00Z"),
        ts("2024-02-01T12:00:00Z"), ts("2024-06-15T10:00:00Z")]  # CET +1, CEST +2

    orders = loaded.orders
    assert orders["ordered_at"].tolist() == [
        ts("2024-01-10T10:00:00Z"), ts("2024-03-01T11:00:00Z"), ts("2024-01-20T09:30:00Z"),
        ts("2024-02-14T15:00:00Z"), ts("2024-02-20T16:00:00Z"), ts("2024-03-05T17:00:00Z")]
    assert orders["amount"].tolist() == [120.0, 80.5, 45.0, 300.0, 60.0, 15.99]

    events = loaded.events
    assert events["event"].tolist() == ["ad_click", "purchase", "email_open", "ad_click",
                                        "page_view", "ad_click", "purchase"]
    assert events["occurred_at"].iloc[0] == ts("2024-01-09T20:00:00Z")
    # ISO strings with Z are already UTC; date columns stay UTC midnights of the day
    assert events["occurred_at"].iloc[1] == ts("2024-01-10T09:55:00Z")
    assert loaded.ad_spend["date"].iloc[0] == ts("2024-01-09T00:00:00Z")


def test_mapping_company_start_is_local_midnight(tmp_path: Path) -> None:
    folder = _client_export(tmp_path / "client")
    clients = pd.read_csv(folder / "clients.csv", dtype=str, keep_default_na=False)
    clients.loc[0, "created"] = "2023-12-31 23:30:00"  # 22:30Z, before 2024-01-01 Paris
    clients.to_csv(folder / "clients.csv", index=False)
    with pytest.raises(DataValidationError) as info:
        data.load(folder, folder / "mapping.yaml", as_of=AS_OF)
    (problem,) = info.value.problems
    assert problem.check == "before_company_start"
    assert "(2023-12-31T23:00:00+00:00)" in problem.message
    assert problem.examples == ("line 2: 2023-12-31T22:30:00+00:00",)


def test_mapping_encoding_reads_a_latin1_export(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "client", valid_frames())
    text = (folder / "customers.csv").read_text(encoding="utf-8").replace("Ada ", "Adélaïde ")
    (folder / "customers.csv").write_bytes(text.encode("latin-1"))
    with pytest.raises(DataValidationError, match="not valid utf-8-sig text"):
        data.load(folder, as_of=AS_OF)
    mapping = {"tables": {"customers": {"encoding": "latin-1"}}}
    loaded = data.load(folder, mapping, as_of=AS_OF)
    assert loaded.customers["name"].iloc[0] == "Adélaïde Lovelace"


def test_mapping_as_a_dict_and_a_parsed_mapping() -> None:
    spec = {"events": {"page_view": "view_page"}, "timezone": "America/New_York"}
    parsed = read_mapping(spec)
    assert parsed.events == {"page_view": "view_page"} and parsed.timezone == "America/New_York"
    assert read_mapping(parsed) is parsed
    loaded = data.load(valid_frames(), parsed, as_of=AS_OF)
    assert "view_page" in loaded.events["event"].tolist()


def test_bad_mapping_lists_every_issue(tmp_path: Path) -> None:
    spec = {
        "tables": {"customer": {"file": "c.csv"},
                   "orders": {"columns": {"montant": "amout", "total": "amount", "sum": "amount"},
                              "separator": ";"}},
        "timezone": "Paris",
        "date_format": {"orders.amount": "%d", "events": "%Y"},
        "company_start": "not a date",
        "event": {},
    }
    with pytest.raises(MappingError) as info:
        read_mapping(spec)
    issues = "\n".join(info.value.issues)
    for fragment in (
        "unknown key 'event' (did you mean 'events'?)",
        "tables: unknown table 'customer' (did you mean 'customers'?)",
        "tables.orders.columns.montant: 'amout' is not a column of orders (did you mean 'amount'?)",
        "both 'total' and 'sum' are mapped to 'amount'",
        "tables.orders: unknown key 'separator'",
        "unknown time zone 'Paris'",
        "date_format.orders.amount: orders.amount is not a date column",
        "date_format key 'events' must be 'table.column'",
        "company_start: 'not a date' is not a date",
    ):
        assert fragment in issues
    assert len(info.value.issues) == 9
    assert str(info.value).startswith("mapping dict: invalid mapping (9 issues)")


def test_mapping_file_errors(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="does not exist"):
        read_mapping(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("tables: [unclosed\n", encoding="utf-8")
    with pytest.raises(MappingError, match="not valid YAML"):
        read_mapping(bad)
    bad.write_text("- a list\n", encoding="utf-8")
    with pytest.raises(MappingError, match="must be a YAML mapping"):
        read_mapping(bad)


# ---------------------------------------------------------------------------------------
# conversions
# ---------------------------------------------------------------------------------------


def test_timestamps_naive_local_offsets_and_dst_edges() -> None:
    col = TABLES["events"].column("occurred_at")
    raw = pd.Series(["2024-10-27 02:30:00",  # ambiguous in Paris: first (summer-time) instant
                     "2024-03-31 02:30:00",  # skipped in Paris: moved forward to 03:00 local
                     "2024-01-15T08:00:00-05:00", "2024-01-15T08:00:00Z",
                     "2024-01-15", None, "15/01/2024"], dtype=object)
    values, failed = coerce_column(raw, col, timezone="Europe/Paris")
    assert values.dtype == "datetime64[ns, UTC]"
    assert values.iloc[:5].tolist() == [
        ts("2024-10-27T00:30:00Z"), ts("2024-03-31T01:00:00Z"), ts("2024-01-15T13:00:00Z"),
        ts("2024-01-15T08:00:00Z"), ts("2024-01-14T23:00:00Z")]
    assert values.iloc[5:].isna().all()
    assert failed.tolist() == [False] * 6 + [True]


def test_dates_become_utc_midnight_of_the_day() -> None:
    col = TABLES["ad_spend"].column("date")
    raw = pd.Series(["2024-01-09", "2024-01-09 23:30", "2024-01-09T23:30:00-02:00", 20240109])
    values, failed = coerce_column(raw.astype(object), col, timezone="Europe/Paris")
    assert values.iloc[:3].tolist() == [ts("2024-01-09T00:00:00Z")] * 2 + [ts("2024-01-10T00:00:00Z")]
    assert failed.tolist() == [False, False, False, True]  # numbers are not dates


def test_typed_inputs_convert_too() -> None:
    col = TABLES["orders"].column("ordered_at")
    naive = pd.Series(pd.to_datetime(["2024-01-01 12:00"]).as_unit("us"))
    aware = naive.dt.tz_localize("Asia/Tokyo")
    assert coerce_column(naive, col, timezone="Europe/Paris")[0].iloc[0] == ts("2024-01-01T11:00:00Z")
    assert coerce_column(aware, col)[0].iloc[0] == ts("2024-01-01T03:00:00Z")
    qty = TABLES["order_items"].column("quantity")
    values, failed = coerce_column(pd.Series(["1", "2.0", " 3 ", "2.5", "x", None]), qty)
    assert values.dtype == "Int64"
    assert values.iloc[:3].tolist() == [1, 2, 3]
    assert failed.tolist() == [False, False, False, True, True, False]


def test_decimal_comma() -> None:
    col = TABLES["orders"].column("amount")
    values, failed = coerce_column(pd.Series(["12,50", "3", "1.234,5"]), col, decimal=",")
    assert values.iloc[:2].tolist() == [12.5, 3.0]
    assert failed.tolist() == [False, False, True]


# ---------------------------------------------------------------------------------------
# fingerprint, PII, schemas
# ---------------------------------------------------------------------------------------


def test_fingerprint_is_content_based_and_order_free(crm: CRMData) -> None:
    fp = crm.fingerprint()
    assert len(fp) == 64 and int(fp, 16) >= 0
    assert data.load(valid_frames(), as_of=AS_OF).fingerprint() == fp  # same input, same digest

    shuffled = crm.events.iloc[::-1].reset_index(drop=True)
    assert dataclasses.replace(crm, events=shuffled).fingerprint() == fp  # row order is free
    changed = crm.orders.copy()
    changed.loc[0, "amount"] = 120.01
    assert dataclasses.replace(crm, orders=changed).fingerprint() != fp
    retyped = crm.tickets.astype({"contacts": "Int64"})
    assert dataclasses.replace(crm, tickets=retyped).fingerprint() != fp  # dtypes count
    assert dataclasses.replace(crm, subscriptions=None).fingerprint() != fp
    assert dataclasses.replace(crm, source="elsewhere").fingerprint() == fp


def test_without_pii_drops_the_marked_columns(crm: CRMData) -> None:
    clean = crm.without_pii()
    assert pii_columns("customers") == ["name", "email", "phone"]
    assert list(clean.customers.columns) == ["customer_id", "signup_at", "acquisition_channel",
                                             "region", "age", "marketing_consent", "do_not_contact"]
    assert "name" in clean.campaigns.columns  # a campaign's name is not personal
    assert "email" in crm.customers.columns  # the original is untouched
    assert clean.source == crm.source
    for name in TABLE_ORDER:
        assert pii_columns(name) == [c for c in pii_columns(name) if c in TABLES[name].column_names]


def test_schema_metadata_marks_pii_and_units() -> None:
    schema = SCHEMAS["customers"]
    assert schema.columns["email"].metadata["pii"] is True
    assert schema.columns["customer_id"].metadata["pii"] is False
    assert schema.columns["age"].metadata["unit"] == "years"
    assert schema.columns["customer_id"].unique
    assert SCHEMAS["ad_spend"].unique == ["campaign_id", "date"]
    assert not schema.columns["age"].required


def test_table_schema_date_window() -> None:
    schema = table_schema("ad_spend", as_of="2024-07-01 01:00", timezone="Europe/Paris")
    frame = data.load(valid_frames(), as_of=AS_OF).ad_spend.copy()
    frame.loc[0, "date"] = ts("2024-07-01T00:00:00Z")  # the local day of as_of is allowed
    schema.validate(frame)
    frame.loc[0, "date"] = ts("2024-07-02T00:00:00Z")
    with pytest.raises(Exception, match="future_date"):
        schema.validate(frame)


def test_data_model_page_matches_the_model() -> None:
    page = Path(__file__).resolve().parents[1] / "docs" / "data-model.md"
    text = page.read_text(encoding="utf-8")
    assert update_page(text) == text, "run: python -m crm_research.data.docs docs/data-model.md"
    for name, table in TABLES.items():
        assert f"### `{name}`" in text
        for col in table.columns:
            assert f"| `{col.name}` |" in text


def test_the_documented_mapping_example_is_valid() -> None:
    page = Path(__file__).resolve().parents[1] / "docs" / "data-model.md"
    block = page.read_text(encoding="utf-8").split("```yaml\n", 1)[1].split("```", 1)[0]
    parsed = read_mapping(yaml.safe_load(block))
    assert parsed.table("orders").columns["montant"] == "amount"
    assert parsed.table("orders").encoding == "cp1252"
    assert parsed.date_format == {("orders", "ordered_at"): "%d/%m/%Y %H:%M"}
    assert parsed.timezone == "Europe/Paris"


# ---------------------------------------------------------------------------------------
# one order of events for every source
# ---------------------------------------------------------------------------------------


def _tied_events() -> pd.DataFrame:
    t0, t1 = pd.Timestamp("2025-03-01 10:00", tz="UTC"), pd.Timestamp("2025-03-01 10:05", tz="UTC")
    return pd.DataFrame({
        "customer_id": ["c2", "c1", "c1", "c1", "c1", "c1", "c1"],
        "occurred_at": [t0, t1, t0, t0, t0, t0, t0],
        "event": ["purchase", "purchase", "product_view", "zz_custom", "site_visit", "add_to_cart",
                  "product_view"],
        "session_id": ["s9", "s2", "s1", "s1", "s1", "s1", None],
    })


def test_journey_order_puts_simultaneous_events_in_lifecycle_order_whatever_the_input_order():
    from crm_research.data.load import journey_order

    expected = ["site_visit", "product_view", "product_view", "add_to_cart", "zz_custom", "purchase"]
    rng = np.random.default_rng(0)
    events = _tied_events()
    outputs = [journey_order(events.iloc[rng.permutation(len(events))]) for _ in range(20)]
    for out in outputs:
        assert out["event"].tolist()[:6] == expected and out["customer_id"].tolist() == ["c1"] * 6 + ["c2"]
        # two product views at one instant: the one with a session first, the missing one last
        assert out["session_id"].tolist()[1:3] == ["s1", None]
        pd.testing.assert_frame_equal(out, outputs[0])
        assert out.index.equals(pd.RangeIndex(len(events)))


def test_journey_order_takes_any_index():
    from crm_research.data.load import journey_order

    events = _tied_events()
    doubled = pd.concat([events, events])  # every label twice
    out = journey_order(doubled)
    assert len(out) == 2 * len(events) and out.index.equals(pd.RangeIndex(len(out)))
    assert out["event"].tolist()[:4] == ["site_visit", "site_visit", "product_view", "product_view"]


def test_load_gives_the_same_events_for_a_shuffled_export():
    orders = pd.DataFrame({"customer_id": ["c1", "c2"], "ordered_at": ["2025-03-01", "2025-03-02"],
                           "amount": [10.0, 20.0]})
    events = _tied_events().assign(occurred_at=lambda d: d["occurred_at"].astype(str))
    one = data.load({"orders": orders, "events": events})
    other = data.load({"orders": orders, "events": events.iloc[::-1]})
    pd.testing.assert_frame_equal(one.events, other.events)
    assert one.events["event"].tolist()[:2] == ["site_visit", "product_view"]
