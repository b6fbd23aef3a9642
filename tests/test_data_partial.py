"""Partial data: any client's data loads, and orders alone are enough.

Only ``orders`` (customer_id, ordered_at, amount) is required; other tables and non-core
columns may be absent, empty tables count as absent, ``as_of`` drops later rows, customers
are derived from orders and orders from purchase events, and the mapping reads real exports
(the CDNOW file: whitespace-separated, dates as 19970101, no order ids).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crm_research import data
from crm_research.data import TABLES, MappingError, read_mapping
from crm_research.data.partial import CUSTOMERS_FROM_ORDERS, NO_AMOUNTS
from crm_research.errors import DataValidationError
from data_corpus import AS_OF, valid_frames, write_folder

CDNOW = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cdnow"

CDNOW_MAPPING = """\
tables:
  orders:
    file: CDNOW_master.txt
    sep: whitespace
    columns: {date: ordered_at, dollar_value: amount}
date_format:
  orders.ordered_at: "%Y%m%d"
"""


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


def problems_of(err: DataValidationError) -> list[tuple]:
    return [(p.table, p.column, p.check) for p in err.problems]


def _cdnow_folder(tmp_path: Path, *names: str) -> Path:
    if not all((CDNOW / n).exists() for n in names):
        pytest.skip(f"CDNOW data not found at {CDNOW}: the validation dataset lives in "
                    "../shared/datasets beside the project")
    folder = tmp_path / "cdnow"
    folder.mkdir()
    for name in names:  # a copy: a mapping's file may not lead outside the data folder
        shutil.copy(CDNOW / name, folder / name)
    return folder


# ---------------------------------------------------------------------------------------
# CDNOW: a real orders-only export
# ---------------------------------------------------------------------------------------


def test_cdnow_master_loads_as_an_orders_only_client(tmp_path: Path) -> None:
    folder = _cdnow_folder(tmp_path, "CDNOW_master.txt")
    (folder / "mapping.yaml").write_text(CDNOW_MAPPING, encoding="utf-8")
    started = time.perf_counter()
    crm = data.load(folder, folder / "mapping.yaml")
    elapsed = time.perf_counter() - started
    print(f"CDNOW master loaded in {elapsed:.2f} s")  # measured, not asserted

    orders = crm.orders
    assert len(orders) == 69_659
    assert list(crm.tables()) == ["customers", "orders"]
    assert list(orders.columns) == ["order_id", "customer_id", "ordered_at", "amount", "status",
                                    "number_of_cds"]
    assert round(float(orders["amount"].sum()), 2) == 2_500_315.63
    assert orders["customer_id"].iloc[0] == "00001"  # ids keep their leading zeros
    assert orders["ordered_at"].iloc[0] == ts("1997-01-01T00:00:00Z")
    assert orders["ordered_at"].max() == ts("1998-06-30T00:00:00Z")
    assert orders["order_id"].is_unique
    assert orders["order_id"].iloc[[0, -1]].tolist() == ["r000000", "r069658"]
    assert (orders["status"] == "completed").all()
    assert not crm.has("orders", "channel") and not crm.has("orders", "discount")

    customers = crm.customers
    assert crm.derived == {"customers": CUSTOMERS_FROM_ORDERS}
    assert len(customers) == 23_570
    assert list(customers.columns) == ["customer_id", "signup_at"]
    first = orders.groupby("customer_id")["ordered_at"].min()
    assert (customers.set_index("customer_id")["signup_at"] == first.loc[customers["customer_id"]]
            ).all()
    assert customers["signup_at"].max() < ts("1997-04-01T00:00:00Z")  # the Q1 1997 cohort
    assert any("ids generated" in n for n in crm.notes)
    assert any("every order counted as completed" in n for n in crm.notes)

    again = data.load(folder, folder / "mapping.yaml")
    assert again.fingerprint() == crm.fingerprint()
    pd.testing.assert_frame_equal(again.orders, orders)


def test_cdnow_as_of_keeps_the_first_year(tmp_path: Path) -> None:
    folder = _cdnow_folder(tmp_path, "CDNOW_master.txt")
    (folder / "mapping.yaml").write_text(CDNOW_MAPPING, encoding="utf-8")
    full = data.load(folder, folder / "mapping.yaml")
    crm = data.load(folder, folder / "mapping.yaml", as_of="1998-01-01")
    later = int((full.orders["ordered_at"] >= ts("1998-01-01T00:00:00Z")).sum())
    assert later > 0
    assert len(crm.orders) == 69_659 - later
    assert f"orders: {later:,} rows dated on or after as_of (1998-01-01T00:00:00+00:00) ignored." \
        in crm.notes
    assert len(crm.customers) == 23_570  # everyone bought first in 1997
    # the ids do not depend on as_of: they are the file's row positions
    kept = full.orders[full.orders["ordered_at"] < ts("1998-01-01T00:00:00Z")]
    assert crm.orders["order_id"].tolist() == kept["order_id"].tolist()


def test_cdnow_sample_without_header_with_names(tmp_path: Path) -> None:
    folder = _cdnow_folder(tmp_path, "CDNOW_sample.txt")
    mapping = {
        "tables": {"orders": {
            "file": "CDNOW_sample.txt", "sep": " ", "header": False,
            "names": ["customer", "sample_id", "day", "cds", "dollars"],
            "columns": {"customer": "customer_id", "day": "ordered_at", "dollars": "amount"},
            "constants": {"channel": "online"},
            "generate_ids": ["order_id"],
        }},
        "date_format": {"orders.ordered_at": "%Y%m%d"},
    }
    crm = data.load(folder, mapping)
    orders = crm.orders
    assert len(orders) == 6_919
    assert len(crm.customers) == orders["customer_id"].nunique() == 2_357
    assert orders.iloc[0][["customer_id", "amount"]].tolist() == ["00004", 29.33]  # line 1 is data
    assert orders["ordered_at"].iloc[0] == ts("1997-01-01T00:00:00Z")
    assert (orders["channel"] == "online").all()
    assert list(orders.columns) == ["order_id", "customer_id", "ordered_at", "amount", "channel",
                                    "status", "sample_id", "cds"]
    assert "orders.channel: set to 'online' on every row (mapping constant)." in crm.notes

    (folder / "CDNOW_sample.txt").write_text(" 00004 19970101 2 29.33\n", encoding="utf-8")
    with pytest.raises(DataValidationError) as info:
        data.load(folder, mapping)
    (problem,) = info.value.problems
    assert problem.check == "unreadable_file"
    assert "names 5 columns but the lines hold 4 fields" in problem.message


def test_a_bad_row_of_a_headerless_file_is_named_by_its_line(tmp_path: Path) -> None:
    folder = tmp_path / "client"
    folder.mkdir()
    (folder / "sales.txt").write_text("  a  2024-01-02  10.5\n  b  2024-01-03  ten\n",
                                      encoding="utf-8")
    mapping = {"tables": {"orders": {"file": "sales.txt", "sep": "whitespace", "header": False,
                                     "names": ["customer_id", "ordered_at", "amount"]}}}
    with pytest.raises(DataValidationError) as info:
        data.load(folder, mapping)
    (problem,) = info.value.problems
    assert (problem.table, problem.column, problem.check) == ("orders", "amount", "wrong_type")
    assert problem.examples == ("line 2: 'ten'",)


# ---------------------------------------------------------------------------------------
# orders alone, absent tables and columns
# ---------------------------------------------------------------------------------------


def test_orders_with_three_columns_are_enough(tmp_path: Path) -> None:
    folder = tmp_path / "client"
    folder.mkdir()
    (folder / "orders.csv").write_text(
        "customer_id,ordered_at,amount\n"
        "007,2024-01-05T10:00:00Z,20.0\n"
        "008,2024-01-06T11:00:00Z,35.5\n"
        "007,2024-02-01T09:30:00Z,12.25\n", encoding="utf-8")
    crm = data.load(folder)
    assert list(crm) == ["customers", "orders"]
    assert crm.events is None and crm.tickets is None and crm.campaigns is None
    assert list(crm.orders.columns) == ["order_id", "customer_id", "ordered_at", "amount", "status"]
    assert crm.orders["order_id"].tolist() == ["r000000", "r000001", "r000002"]
    assert crm.customers.to_dict("list") == {
        "customer_id": ["007", "008"],
        "signup_at": [ts("2024-01-05T10:00:00Z"), ts("2024-01-06T11:00:00Z")]}
    assert crm.has("orders", "amount", "status") and not crm.has("orders", "platform")
    assert not crm.has("events")
    with pytest.raises(KeyError, match="not a table"):
        crm.has("sales")
    assert crm.notes == (
        "orders.order_id: no column; ids generated from the row positions (r000000 is the first row).",
        "orders.status: no column; every order counted as completed.",
    )  # the derivation is told in crm.derived, once
    assert "derived: customers" in repr(crm)
    # derived tables are part of the fingerprint
    given = dataclasses.replace(crm, derived={})
    assert given.fingerprint() != crm.fingerprint()
    clean = crm.without_pii()
    assert clean.derived == crm.derived and clean.notes == crm.notes


def test_orders_are_still_required(tmp_path: Path) -> None:
    frames = valid_frames()
    del frames["orders"]
    with pytest.raises(DataValidationError) as info:
        data.load(frames)
    assert problems_of(info.value) == [("orders", None, "missing_table")]
    frames = {"orders": valid_frames()["orders"].drop(columns=["amount", "ordered_at"])}
    with pytest.raises(DataValidationError) as info:
        data.load(frames)
    assert problems_of(info.value) == [("orders", "ordered_at", "missing_column"),
                                       ("orders", "amount", "missing_column")]


@pytest.fixture(scope="module")
def company(small_company: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(small_company / f"{name}.parquet") for name in TABLES}


@pytest.fixture(scope="module")
def full(company) -> data.CRMData:
    return data.load(company)


@pytest.mark.parametrize("name", [t for t in TABLES if t != "orders"])
def test_each_table_may_be_absent(name: str, company, full) -> None:
    frames = {k: v for k, v in company.items() if k != name}
    crm = data.load(frames)
    if name == "customers":
        assert crm.derived == {"customers": CUSTOMERS_FROM_ORDERS}
        buyers = company["orders"]["customer_id"].nunique()
        assert len(crm.customers) == buyers < len(company["customers"])
    else:
        assert getattr(crm, name) is None and name not in crm
        assert crm.derived == {} and crm.notes == ()
    assert crm.fingerprint() != full.fingerprint()
    pd.testing.assert_frame_equal(crm.orders, full.orders)


OPTIONAL_COLUMNS = [(t.name, col) for t in TABLES.values() for col in t.optional_columns]


def test_the_optional_columns_are_as_declared() -> None:
    core = {name: list(t.core) for name, t in TABLES.items()}
    assert core == {
        "customers": ["customer_id"],
        "orders": ["customer_id", "ordered_at", "amount"],
        "order_items": ["order_id", "product_id"],
        "events": ["customer_id", "occurred_at", "event"],
        "campaigns": ["campaign_id"],
        "ad_spend": ["campaign_id", "date", "cost"],
        "tickets": ["ticket_id", "customer_id", "opened_at"],
        "surveys": ["customer_id", "answered_at", "nps"],
        "subscriptions": ["customer_id", "started_at"],
    }
    assert [t for t, table in TABLES.items() if table.required] == ["orders"]


@pytest.mark.parametrize(("table", "column"), OPTIONAL_COLUMNS,
                         ids=[f"{t}.{c}" for t, c in OPTIONAL_COLUMNS])
def test_each_optional_column_may_be_absent(table: str, column: str, company, full) -> None:
    frames = dict(company)
    frames[table] = company[table].drop(columns=column)
    if (table, column) == ("orders", "order_id"):
        # generated ids cannot match the order lines' ids: that is reported, not hidden
        with pytest.raises(DataValidationError) as info:
            data.load(frames)
        assert problems_of(info.value) == [("order_items", "order_id", "orphan_key")]
        del frames["order_items"]
    crm = data.load(frames)
    loaded = getattr(crm, table)
    if (table, column) in (("orders", "order_id"), ("orders", "status")):
        assert column in loaded.columns  # generated / assumed, and told
        assert any(n.startswith(f"orders.{column}: no column") for n in crm.notes)
        if column == "status":
            assert (loaded["status"] == "completed").all()
    else:
        assert column not in loaded.columns
        assert crm.notes == ()
    assert len(loaded) == len(company[table])
    rest = [c for c in getattr(full, table).columns if c != column]
    pd.testing.assert_frame_equal(loaded[rest], getattr(full, table)[rest])


def test_an_empty_table_counts_as_absent(tmp_path: Path) -> None:
    frames = valid_frames()
    frames["surveys"] = frames["surveys"].iloc[:0]
    folder = write_folder(tmp_path / "client", frames)
    (folder / "tickets.csv").write_text("ticket_id,customer_id,opened_at\n", encoding="utf-8")
    (folder / "subscriptions.csv").write_bytes(b"")
    crm = data.load(folder, as_of=AS_OF)
    assert crm.surveys is None and crm.tickets is None and crm.subscriptions is None
    assert crm.notes == (
        "tickets: tickets.csv has no rows; treated as absent.",
        "surveys: surveys.csv has no rows; treated as absent.",
        "subscriptions: subscriptions.csv is empty (no header, no rows); treated as absent.",
    )
    assert len(crm.orders) == 6


def test_tablet_is_a_platform() -> None:
    frames = valid_frames()
    frames["orders"].loc[1, "platform"] = "tablet"
    frames["events"].loc[3, "platform"] = "tablet"
    crm = data.load(frames)
    assert crm.orders["platform"].iloc[1] == "tablet" and crm.events["platform"].iloc[3] == "tablet"
    assert "tablet" in TABLES["orders"].column("platform").allowed


# ---------------------------------------------------------------------------------------
# as_of
# ---------------------------------------------------------------------------------------


def test_as_of_drops_later_rows_counts_them_and_censors_later_times() -> None:
    crm = data.load(valid_frames(), as_of="2024-02-17T00:00:00Z")
    assert len(crm.customers) == 5
    assert crm.orders["order_id"].tolist() == ["O1", "O3", "O4"]
    assert crm.order_items["order_id"].tolist() == ["O1", "O1", "O3", "O4"]
    assert len(crm.events) == 4 and len(crm.ad_spend) == 4
    assert crm.tickets["ticket_id"].tolist() == ["T2"]
    assert crm.tickets["first_response_at"].tolist() == [ts("2024-02-16T11:30:00Z")]
    assert crm.tickets["resolved_at"].isna().all()  # resolved on 02-17 10:00: not yet at as_of
    assert crm.surveys["answered_at"].tolist() == [ts("2024-02-01T12:00:00Z")]
    assert crm.subscriptions["started_at"].tolist() == [ts("2024-01-10T00:00:00Z"),
                                                         ts("2024-02-14T00:00:00Z")]
    assert crm.subscriptions["ended_at"].isna().all()
    stamp = "on or after as_of (2024-02-17T00:00:00+00:00)"
    assert crm.notes == (
        f"orders: 3 rows dated {stamp} ignored.",
        "order_items: 3 more rows ignored: they point (order_id) to orders rows dated on or "
        "after as_of.",
        f"events: 3 rows dated {stamp} ignored.",
        f"tickets: 2 rows dated {stamp} ignored.",
        "tickets.resolved_at: 1 value on or after as_of set to missing (not yet happened at as_of).",
        f"surveys: 2 rows dated {stamp} ignored.",
        f"subscriptions: 1 row dated {stamp} ignored.",
        "subscriptions.ended_at: 2 values on or after as_of set to missing (not yet happened at "
        "as_of).",
    )


def test_as_of_is_local_time_and_ad_spend_days_end_at_its_day() -> None:
    # 2024-02-13T23:30 in Paris is 22:30 UTC on the 13th: the 13th and later days are dropped
    crm = data.load(valid_frames(), {"timezone": "Europe/Paris"}, as_of="2024-02-13 23:30")
    assert crm.ad_spend["date"].tolist() == [ts("2024-01-09T00:00:00Z"), ts("2024-01-10T00:00:00Z")]
    assert crm.events["occurred_at"].max() == ts("2024-02-13T21:00:00Z")


def test_rows_of_contacts_known_only_after_as_of_are_dropped_not_orphans() -> None:
    frames = valid_frames()
    frames["customers"].loc[2, "signup_at"] = "2024-02-18T00:00:00Z"  # 0003 after as_of
    crm = data.load(frames, as_of="2024-02-17T00:00:00Z")  # 0003's order O4 (02-14) is before
    assert "0003" not in crm.customers["customer_id"].tolist()
    assert "O4" not in crm.orders["order_id"].tolist()
    assert crm.tickets is None  # T2 (0003) went the same way; T1 and T3 are later
    assert "orders: 1 more row ignored: they point (customer_id) to customers rows dated on or " \
           "after as_of." in crm.notes
    assert "tickets: no rows before as_of; treated as absent." in crm.notes
    # the order line of O4 follows its order
    assert crm.order_items["order_id"].tolist() == ["O1", "O1", "O3"]


def test_as_of_with_derived_customers_uses_every_order_for_the_sign_up() -> None:
    frames = {"orders": valid_frames()["orders"]}
    crm = data.load(frames, as_of="2024-02-17T00:00:00Z")
    signup = dict(zip(crm.customers["customer_id"], crm.customers["signup_at"], strict=True))
    assert signup == {"0001": ts("2024-01-10T10:00:00Z"), "0002": ts("2024-01-20T09:30:00Z"),
                      "0003": ts("2024-02-14T15:00:00Z")}  # 0004 and 0005 first bought later
    assert "customers: 2 rows dated on or after as_of (2024-02-17T00:00:00+00:00) ignored." \
        in crm.notes


def test_problems_in_dropped_rows_are_not_reported() -> None:
    frames = valid_frames()
    frames["orders"]["amount"] = frames["orders"]["amount"].astype(object)
    frames["orders"].loc[5, "amount"] = "lots"  # O6, 2024-03-05: after as_of
    crm = data.load(frames, as_of="2024-03-01T00:00:00Z")
    assert "O6" not in crm.orders["order_id"].tolist()
    frames["orders"].loc[0, "amount"] = "some"  # O1, kept: reported with its line
    with pytest.raises(DataValidationError) as info:
        data.load(frames, as_of="2024-03-01T00:00:00Z")
    (problem,) = info.value.problems
    assert problem.examples == ("row 0: 'some'",)


def test_row_labels_survive_dropped_rows(tmp_path: Path) -> None:
    frames = valid_frames()
    frames["surveys"].loc[2, "nps"] = 12  # row 2 (line 4), kept; row 0 (line 2) is dropped
    folder = write_folder(tmp_path / "client", frames)
    with pytest.raises(DataValidationError) as info:
        data.load(folder, as_of="2024-03-05T00:00:00Z")
    (problem,) = info.value.problems
    assert problem.examples == ("line 4: 12",)


# ---------------------------------------------------------------------------------------
# the mapping for real exports
# ---------------------------------------------------------------------------------------


def test_value_recodes_apply_before_the_allowed_values() -> None:
    frames = valid_frames()
    frames["orders"]["platform"] = ["Desktop", "tab", None, None, "app", "Desktop"]
    frames["orders"]["status"] = ["paid", "paid", "refunded", "paid", "void", "paid"]
    with pytest.raises(DataValidationError) as info:
        data.load(frames)
    assert problems_of(info.value) == [("orders", "platform", "not_allowed"),
                                       ("orders", "status", "not_allowed")]
    assert "values: {platform: {<client value>: <allowed value>}}" in info.value.problems[0].hint
    mapping = {"tables": {"orders": {"values": {
        "platform": {"Desktop": "desktop", "tab": "mobile"},
        "status": {"paid": "completed", "refunded": "returned", "void": "cancelled"}}}}}
    crm = data.load(frames, mapping)
    assert crm.orders["platform"].tolist()[:2] == ["desktop", "mobile"]
    assert crm.orders["platform"].isna().sum() == 2
    assert crm.orders["status"].tolist() == ["completed", "completed", "returned", "completed",
                                             "cancelled", "completed"]
    # event names: the top-level `events` renames and tables.events.values.event both work
    crm = data.load(valid_frames(), {"tables": {"events": {"values": {
        "event": {"ad_click": "click"}}}}, "events": {"email_open": "open"}})
    assert crm.events["event"].tolist()[:3] == ["click", "purchase", "open"]


def test_constants_fill_absent_columns() -> None:
    frames = {"orders": valid_frames()["orders"].drop(columns=["channel", "platform"])}
    crm = data.load(frames, {"tables": {"orders": {"constants": {"channel": "in_person"}}}})
    assert (crm.orders["channel"] == "in_person").all()
    assert list(crm.orders.columns) == ["order_id", "customer_id", "ordered_at", "amount",
                                        "discount", "channel", "promo_code", "status"]
    frames["orders"] = frames["orders"].drop(columns="discount")
    crm = data.load(frames, {"tables": {"orders": {"constants": {"discount": 0}}}})
    assert crm.orders["discount"].dtype == "float64" and (crm.orders["discount"] == 0).all()


def test_generate_ids_on_request() -> None:
    frames = valid_frames()
    frames["tickets"] = frames["tickets"].drop(columns="ticket_id")
    with pytest.raises(DataValidationError) as info:
        data.load(frames)
    (problem,) = info.value.problems
    assert (problem.column, problem.check) == ("ticket_id", "missing_column")
    assert "generate_ids: [ticket_id]" in problem.hint
    crm = data.load(frames, {"tables": {"tickets": {"generate_ids": ["ticket_id"]}}})
    assert crm.tickets["ticket_id"].tolist() == ["r000000", "r000001", "r000002"]
    assert "tickets.ticket_id: ids generated from the row positions (r000000 is the first row)." \
        in crm.notes


def test_a_rename_of_an_absent_client_column_is_a_problem(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "client", valid_frames())
    mapping = {"tables": {"customers": {"columns": {"zone": "region", "created": "signup_at"}}}}
    with pytest.raises(DataValidationError) as info:
        data.load(folder, mapping)
    assert problems_of(info.value) == [("customers", "region", "missing_column"),
                                       ("customers", "signup_at", "missing_column")]
    message = info.value.problems[0].message
    assert message == ("the mapping renames 'zone' to 'region', but customers.csv has no column "
                       "'zone' (it has a column 'region')")
    assert "remove the rename of 'zone'" in info.value.problems[0].hint


def test_mapping_files_stay_inside_the_data_folder(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.csv"
    valid_frames()["orders"].to_csv(outside, index=False)
    folder = write_folder(tmp_path / "client", {"customers": valid_frames()["customers"]})
    for bad, fragment in ((str(outside), "is an absolute path"), ("../elsewhere.csv", "leaves the data folder"),
                          ("sub/../../elsewhere.csv", "leaves the data folder")):
        with pytest.raises(MappingError, match=fragment):
            data.load(folder, {"tables": {"orders": {"file": bad}}})
    link = folder / "orders_link.csv"
    try:
        os.symlink(outside, link)
    except OSError:
        pytest.skip("symbolic links are not available here")
    with pytest.raises(MappingError) as info:
        data.load(folder, {"tables": {"orders": {"file": "orders_link.csv"}}})
    assert "leads outside the data folder" in info.value.issues[0]
    # a file in a subfolder, or a link inside the folder, is fine
    (folder / "raw").mkdir()
    shutil.copy(outside, folder / "raw" / "orders.csv")
    os.symlink(folder / "raw" / "orders.csv", folder / "inside_link.csv")
    for good in ("raw/orders.csv", "inside_link.csv"):
        assert len(data.load(folder, {"tables": {"orders": {"file": good}}}).orders) == 6


def test_mapping_issues_of_the_new_keys_are_all_listed() -> None:
    spec = {
        "tables": {
            "orders": {"header": False, "constants": {"chanel": "online", "status": "paid"},
                       "values": {"amount": {"1": "2"}, "platform": {"tab": "phone"}},
                       "generate_ids": ["customer_id"], "sep": "whitespace"},
            "events": {"values": {"event": {"achat": "purchase"}}},
        },
        "events": {"achat": "purchase"},
        "orders_from_events": {"evnt": "purchase"},
    }
    with pytest.raises(MappingError) as info:
        read_mapping(spec)
    issues = "\n".join(info.value.issues)
    for fragment in (
        "tables.orders: header: false needs `names: [...]`",
        "tables.orders.constants.chanel: 'chanel' is not a column of orders (did you mean 'channel'?)",
        "tables.orders.constants.status: 'paid' is not one of completed, cancelled, returned",
        "tables.orders.values.amount: 'amount' is not a text column of orders",
        "tables.orders.values.platform.tab: 'phone' is not one of desktop, mobile, app, tablet",
        "tables.orders.generate_ids: 'customer_id' cannot be generated; columns that can be "
        "generated: order_id",
        "orders_from_events: unknown key 'evnt' (did you mean 'event'?)",
        "orders_from_events.event is missing",
        "event names 'achat' are renamed both by events and by tables.events.values.event",
    ):
        assert fragment in issues, fragment
    assert len(info.value.issues) == 9
    parsed = read_mapping({"tables": {"orders": {"sep": " "}, "events": {"sep": "whitespace"}}})
    assert parsed.table("orders").sep == parsed.table("events").sep == r"\s+"


# ---------------------------------------------------------------------------------------
# an event log only: orders from the purchase events
# ---------------------------------------------------------------------------------------


def test_event_log_only_company_derives_orders_without_amounts(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "log", {"events": valid_frames()["events"]})
    with pytest.raises(DataValidationError) as info:
        data.load(folder)
    assert problems_of(info.value) == [("orders", None, "missing_table")]
    assert "orders_from_events" in info.value.problems[0].hint

    crm = data.load(folder, {"orders_from_events": {"event": "purchase"}})
    assert list(crm) == ["customers", "orders", "events"]
    assert list(crm.orders.columns) == ["order_id", "customer_id", "ordered_at", "status"]
    assert not crm.has("orders", "amount")
    assert crm.orders["order_id"].tolist() == ["r000001", "r000006"]  # the events' rows
    assert crm.orders["customer_id"].tolist() == ["0001", "0005"]
    assert crm.orders["ordered_at"].tolist() == [ts("2024-01-10T09:55:00Z"),
                                                 ts("2024-03-05T16:58:00Z")]
    assert set(crm.derived) == {"customers", "orders"}
    assert crm.derived["orders"].endswith(NO_AMOUNTS)
    assert crm.notes == ()
    # contacts who never bought are in the events, not in the derived customers: no orphans
    assert crm.customers["customer_id"].tolist() == ["0001", "0005"]
    assert len(crm.events) == 7


def test_orders_from_events_with_amounts_ids_and_client_event_names() -> None:
    events = valid_frames()["events"]
    events["event"] = events["event"].replace({"purchase": "achat"})
    events["revenue"] = ["", "120,0", "", "", "", "", "15,99"]
    frames = {"events": events, "customers": valid_frames()["customers"]}
    mapping = {"events": {"achat": "purchase"}, "tables": {"events": {"decimal": ","}},
               "orders_from_events": {"event": "achat", "amount": "revenue", "order_id": "order_id"}}
    crm = data.load(frames, mapping)
    assert crm.orders[["order_id", "amount", "status"]].to_dict("list") == {
        "order_id": ["O1", "O6"], "amount": [120.0, 15.99], "status": ["completed"] * 2}
    assert crm.derived == {"orders": "derived from the events: one completed order per 'achat' "
                                     "event, ids from the events' 'order_id' column; amounts "
                                     "from the events' 'revenue' column"}
    assert data.load(frames, mapping, as_of="2024-03-01").orders["order_id"].tolist() == ["O1"]


def test_orders_from_events_problems(tmp_path: Path) -> None:
    frames = valid_frames()
    with pytest.raises(DataValidationError) as info:  # an orders table too
        data.load(frames, {"orders_from_events": {"event": "purchase"}})
    assert problems_of(info.value) == [("orders", None, "ambiguous_file")]
    events = {"events": frames["events"]}
    with pytest.raises(DataValidationError) as info:
        data.load(events, {"orders_from_events": {"event": "buy", "amount": "revenue"}})
    assert problems_of(info.value) == [("events", "revenue", "missing_column")]
    with pytest.raises(DataValidationError) as info:
        data.load(events, {"orders_from_events": {"event": "buy"}})
    (problem,) = info.value.problems
    assert problem.check == "empty_table" and "ad_click" in problem.hint
    bad = frames["events"].assign(revenue=["", "12", "", "", "", "", "-3"])
    with pytest.raises(DataValidationError) as info:
        data.load({"events": bad}, {"orders_from_events": {"event": "purchase", "amount": "revenue"}})
    (problem,) = info.value.problems
    assert (problem.table, problem.column, problem.check) == ("orders", "amount", "out_of_range")
    assert problem.examples == ("row 6: -3.0",)  # the event's row


def test_small_company_as_an_event_log(company) -> None:
    events = company["events"]
    crm = data.load({"events": events}, {"orders_from_events": {"event": "purchase",
                                                                "order_id": "order_id"}})
    purchases = events[events["event"] == "purchase"]
    assert len(crm.orders) == len(purchases) > 1_000
    assert set(crm.orders["order_id"]) <= set(company["orders"]["order_id"])
    assert len(crm.customers) == purchases["customer_id"].nunique()
    np.testing.assert_array_equal(crm.orders["ordered_at"].to_numpy(),
                                  purchases["occurred_at"].to_numpy())


def test_a_message_shows_a_short_escaped_sample_never_a_whole_file(tmp_path):
    """A mapping pointed at the wrong file, whose first line becomes one long 'column name', or a
    long hostile value: the error shows at most 60 characters of it, with invisible characters
    escaped."""
    secret = "k" * 5000
    (tmp_path / "orders.csv").write_text(f"{secret}\n1\n", encoding="utf-8")
    with pytest.raises(DataValidationError) as err:
        data.load(tmp_path)
    text = str(err.value)
    assert "k" * 61 not in text and "4,940 more characters" in text
    (tmp_path / "orders.csv").write_text("customer_id,ordered_at,amount\n"
                                         f"a,2025-01-01,\u202e{'x' * 200}\n", encoding="utf-8")
    with pytest.raises(DataValidationError) as err:
        data.load(tmp_path)
    text = str(err.value)
    assert "wrong_type" in text and "x" * 61 not in text and "\\u202e" in text and "\u202e" not in text
