"""The validator: a corpus of broken inputs, each with the exact problem it must produce."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from crm_research import cli, data
from crm_research.data.schemas import CHECK_NAMES
from crm_research.errors import DataValidationError, Problem
from data_corpus import AS_OF, valid_frames, write_folder

Frames = dict[str, pd.DataFrame]


def frames_case(mutate: Callable[[Frames], None], **kwargs) -> Callable[[Path], tuple]:
    """A broken input given as a dict of frames."""

    def build(tmp_path: Path) -> tuple:
        frames = valid_frames()
        mutate(frames)
        return frames, kwargs

    return build


def folder_case(mutate: Callable[[Frames], None] | None = None,
                after: Callable[[Path], None] | None = None, **kwargs) -> Callable[[Path], tuple]:
    """A broken input given as a folder of CSV files (``after`` edits the files)."""

    def build(tmp_path: Path) -> tuple:
        frames = valid_frames()
        if mutate is not None:
            mutate(frames)
        folder = write_folder(tmp_path / "export", frames)
        if after is not None:
            after(folder)
        return folder, kwargs

    return build


def setcell(table: str, row: int, column: str, value) -> Callable[[Frames], None]:
    def mutate(frames: Frames) -> None:
        frame = frames[table]
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value

    return mutate


def drop_table(name: str) -> Callable[[Frames], None]:
    return lambda frames: frames.pop(name)


def drop_column(table: str, column: str) -> Callable[[Frames], None]:
    def mutate(frames: Frames) -> None:
        frames[table] = frames[table].drop(columns=column)

    return mutate


def duplicate_row(table: str, row: int) -> Callable[[Frames], None]:
    def mutate(frames: Frames) -> None:
        frame = frames[table]
        frames[table] = pd.concat([frame, frame.iloc[[row]]], ignore_index=True)

    return mutate


def write_bytes(name: str, content: bytes) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_bytes(content)


def _latin1_customers(folder: Path) -> None:
    text = (folder / "customers.csv").read_text(encoding="utf-8").replace("Ada", "Adélaïde")
    (folder / "customers.csv").write_bytes(text.encode("latin-1"))


def _ragged_orders(folder: Path) -> None:
    with open(folder / "orders.csv", "a", encoding="utf-8") as fh:
        fh.write("O7,0001,2024-03-06T10:00:00Z,10.0,0.0,online,app,,completed,extra,fields\n")


def _orders_also_parquet(folder: Path) -> None:
    pd.read_csv(folder / "orders.csv", dtype=str).to_parquet(folder / "orders.parquet")


# (build, table, column, check, message fragments, example fragment)
CORPUS = {
    "missing required table": (
        frames_case(drop_table("orders")),
        "orders", None, "missing_table", ["required table orders is missing"], None),
    "missing required file": (
        folder_case(after=lambda folder: (folder / "orders.csv").unlink()),
        "orders", None, "missing_table", ["no orders.parquet or orders.csv or orders.csv.gz"],
        None),
    "empty table": (
        frames_case(lambda f: f.update(orders=f["orders"].iloc[:0])),
        "orders", None, "empty_table", ["has no rows"], None),
    "empty file": (
        folder_case(after=write_bytes("orders.csv", b"")),
        "orders", None, "empty_table", ["orders.csv is empty"], None),
    "no order before as_of": (
        frames_case(lambda f: None, as_of="2024-01-01"),
        "orders", None, "empty_table", ["has no rows before as_of"], None),
    "bad encoding": (
        folder_case(after=_latin1_customers),
        "customers", None, "unreadable_file", ["cannot read customers.csv", "not valid utf-8"],
        None),
    "unparseable csv": (
        folder_case(after=_ragged_orders),
        "orders", None, "unreadable_file", ["not a parseable CSV", "Expected 9 fields"], None),
    "unparseable parquet": (
        folder_case(after=lambda folder: ((folder / "tickets.csv").unlink(),
                                          (folder / "tickets.parquet").write_bytes(b"not parquet"))),
        "tickets", None, "unreadable_file", ["tickets.parquet", "not a readable Parquet file"],
        None),
    "corrupt gzip": (
        folder_case(after=lambda folder: ((folder / "surveys.csv").unlink(),
                                          (folder / "surveys.csv.gz").write_bytes(
                                              gzip.compress(b"customer_id,answered_at,nps\n")[:12]))),
        "surveys", None, "unreadable_file", ["cannot read surveys.csv.gz"], None),
    "two files for one table": (
        folder_case(after=_orders_also_parquet),
        "orders", None, "ambiguous_file", ["orders.parquet", "orders.csv"], None),
    "missing required column": (
        frames_case(drop_column("orders", "amount")),
        "orders", "amount", "missing_column", ["required column 'amount' is missing"], None),
    "not a number": (
        frames_case(setcell("orders", 2, "amount", "12 EUR")),
        "orders", "amount", "wrong_type", ["1 value is not a number"], "row 2: '12 EUR'"),
    "not a whole number": (
        folder_case(setcell("tickets", 1, "contacts", 1.5)),
        "tickets", "contacts", "wrong_type", ["not a whole number"], "line 3: '1.5'"),
    "unparseable date": (
        folder_case(setcell("orders", 3, "ordered_at", "14/02/2024")),
        "orders", "ordered_at", "unparseable_date", ["not a date in ISO 8601"],
        "line 5: '14/02/2024'"),
    "impossible date": (
        frames_case(setcell("ad_spend", 0, "date", "2024-02-30")),
        "ad_spend", "date", "unparseable_date", ["1 value is not a date"], "row 0: '2024-02-30'"),
    "null in a non-nullable column": (
        frames_case(setcell("orders", 4, "status", None)),
        "orders", "status", "null_value", ["1 missing value"], "row 4: <empty>"),
    "value outside the allowed set": (
        frames_case(setcell("orders", 1, "channel", "fax")),
        "orders", "channel", "not_allowed", ["outside the allowed values", "in_person"],
        "row 1: 'fax'"),
    "negative amount": (
        frames_case(setcell("orders", 0, "amount", -20.0)),
        "orders", "amount", "out_of_range", ["below the minimum 0 currency"], "row 0: -20.0"),
    "score above its maximum": (
        frames_case(setcell("surveys", 2, "nps", 11)),
        "surveys", "nps", "out_of_range", ["above the maximum 10"], "row 2: 11"),
    "age below its minimum": (
        folder_case(setcell("customers", 0, "age", 7)),
        "customers", "age", "out_of_range", ["below the minimum 14 years"], "line 2: 7"),
    "duplicate key": (
        frames_case(duplicate_row("orders", 1)),
        "orders", "order_id", "duplicate_key", ["2 rows share their key (order_id)"],
        "row 1, row 6: order_id='O2'"),
    "duplicate composite key": (
        frames_case(duplicate_row("ad_spend", 2)),
        "ad_spend", "campaign_id, date", "duplicate_key", ["(campaign_id, date)"],
        "campaign_id='K2', date=2024-02-13T00:00:00+00:00"),
    "order for an unknown customer": (
        frames_case(setcell("orders", 5, "customer_id", "0099")),
        "orders", "customer_id", "orphan_key", ["not in customers.customer_id"],
        "row 5: customer_id='0099'"),
    "event with an unknown campaign": (
        folder_case(setcell("events", 3, "campaign_id", "K9")),
        "events", "campaign_id", "orphan_key", ["not in campaigns.campaign_id"],
        "line 5: campaign_id='K9'"),
    "resolved before opened": (
        frames_case(setcell("tickets", 0, "resolved_at", "2024-03-01T09:00:00Z")),
        "tickets", "resolved_at", "date_order", ["1 row where resolved_at is before opened_at"],
        "row 0: opened_at=2024-03-02T09:00:00+00:00, resolved_at=2024-03-01T09:00:00+00:00"),
    "subscription ended before it started": (
        frames_case(setcell("subscriptions", 1, "ended_at", "2024-02-01T00:00:00Z")),
        "subscriptions", "ended_at", "date_order", ["ended_at is before started_at"],
        "row 1: started_at=2024-02-14"),
    "more clicks than impressions": (
        frames_case(setcell("ad_spend", 3, "clicks", 5000)),
        "ad_spend", "clicks", "exceeds_bound", ["clicks is greater than impressions"],
        "row 3: clicks=5000, impressions=4000"),
    "date before the company started": (
        frames_case(setcell("customers", 2, "signup_at", "2018-06-01T00:00:00Z"),
                    company_start="2019-01-01"),
        "customers", "signup_at", "before_company_start",
        ["before company_start (2019-01-01T00:00:00+00:00)"], "row 2: 2018-06-01T00:00:00"),
    "mapping makes two columns collide": (
        frames_case(lambda f: f.update(orders=f["orders"].assign(total=f["orders"]["amount"])),
                    mapping={"tables": {"orders": {"columns": {"total": "amount"}}}}),
        "orders", "amount", "duplicate_column", ["'amount', 'total'"], None),
    "mapping renames a column the file lacks": (
        frames_case(drop_column("orders", "amount"),
                    mapping={"tables": {"orders": {"columns": {"montant": "amount"}}}}),
        "orders", "amount", "missing_column", ["renames 'montant' to it"], None),
    "mapping renames a client column the file lacks, the canonical one is there": (
        frames_case(lambda f: None,
                    mapping={"tables": {"orders": {"columns": {"montant": "amount"}}}}),
        "orders", "amount", "missing_column",
        ["renames 'montant' to 'amount'", "has no column 'montant'", "it has a column 'amount'"],
        None),
    "mapping constant for a column the file has": (
        frames_case(lambda f: None, mapping={"tables": {"orders": {"constants": {"channel": "online"}}}}),
        "orders", "channel", "duplicate_column", ["sets it to the constant 'online'"], None),
    "mapping generates ids the file has": (
        frames_case(lambda f: None, mapping={"tables": {"tickets": {"generate_ids": ["ticket_id"]}}}),
        "tickets", "ticket_id", "duplicate_column", ["generates it"], None),
}


def _load_error(build: Callable[[Path], tuple], tmp_path: Path) -> DataValidationError:
    source, kwargs = build(tmp_path)
    kwargs = {"as_of": AS_OF, **kwargs}
    with pytest.raises(DataValidationError) as info:
        data.load(source, **kwargs)
    return info.value


@pytest.mark.parametrize("case", list(CORPUS), ids=list(CORPUS))
def test_broken_input_gives_its_problem(case: str, tmp_path: Path) -> None:
    build, table, column, check, fragments, example = CORPUS[case]
    err = _load_error(build, tmp_path)
    # exactly one problem: a broken cell is not reported again by later checks
    assert len(err.problems) == 1, err
    problem = err.problems[0]
    assert (problem.table, problem.column, problem.check) == (table, column, check)
    assert check in CHECK_NAMES
    for fragment in fragments:
        assert fragment in problem.message, problem.message
    if example is not None:
        assert any(example in e for e in problem.examples), problem.examples
    assert problem.hint
    assert len(problem.examples) <= 5
    assert problem.render() in str(err)


def test_corpus_covers_every_check() -> None:
    checks = {spec[3] for spec in CORPUS.values()}
    assert len(CORPUS) >= 18
    assert checks == set(CHECK_NAMES)


def test_every_problem_is_listed_in_one_error() -> None:
    frames = valid_frames()
    setcell("orders", 2, "amount", "abc")(frames)
    setcell("orders", 0, "channel", "carrier pigeon")(frames)
    frames["tickets"] = pd.concat([frames["tickets"], frames["tickets"].iloc[[0]]],
                                  ignore_index=True)
    setcell("events", 0, "campaign_id", "K404")(frames)
    setcell("events", 1, "event", None)(frames)
    setcell("events", 2, "occurred_at", "2099-01-01T00:00:00Z")(frames)  # after as_of: dropped
    setcell("surveys", 1, "nps", 11)(frames)
    del frames["customers"]  # absent: derived from the orders, no orphan checks against it

    with pytest.raises(DataValidationError) as info:
        data.load(frames, as_of=AS_OF)
    found = [(p.table, p.column, p.check) for p in info.value.problems]
    assert found == [  # model table order, then check order within a table
        ("orders", "amount", "wrong_type"),
        ("orders", "channel", "not_allowed"),
        ("events", "event", "null_value"),
        ("events", "campaign_id", "orphan_key"),
        ("tickets", "ticket_id", "duplicate_key"),
        ("surveys", "nps", "out_of_range"),
    ]
    text = str(info.value)
    assert text.startswith("frames: 6 problems found")
    assert "2099" not in text
    for fragment in ("'abc'", "'carrier pigeon'", "campaign_id='K404'", "row 1: <empty>",
                     "ticket_id='T1'", "row 1: 11"):
        assert fragment in text


def test_examples_are_capped_at_five_and_count_every_row() -> None:
    frames = valid_frames()
    frames["events"] = frames["events"].assign(platform="fax")
    with pytest.raises(DataValidationError) as info:
        data.load(frames, as_of=AS_OF)
    (problem,) = info.value.problems
    assert problem.message.startswith("7 values outside the allowed values")
    assert problem.examples == tuple(f"row {i}: 'fax'" for i in range(5))


def test_a_failed_conversion_is_not_reported_again_as_a_null() -> None:
    frames = valid_frames()
    setcell("tickets", 0, "contacts", "two")(frames)
    setcell("tickets", 1, "contacts", None)(frames)
    with pytest.raises(DataValidationError) as info:
        data.load(frames, as_of=AS_OF)
    problems = {p.check: p for p in info.value.problems}
    assert set(problems) == {"wrong_type", "null_value"}
    assert problems["wrong_type"].examples == ("row 0: 'two'",)
    assert problems["null_value"].examples == ("row 1: <empty>",)


def test_dates_after_as_of_are_dropped_not_reported() -> None:
    frames = valid_frames()
    setcell("events", 6, "occurred_at", "2030-01-01T00:00:00Z")(frames)
    setcell("ad_spend", 1, "date", "2024-07-02")(frames)
    loaded = data.load(frames, as_of=AS_OF)
    assert len(loaded.events) == 6 and len(loaded.ad_spend) == 3
    assert "events: 1 row dated on or after as_of (2024-07-01T00:00:00+00:00) ignored." in loaded.notes
    assert "ad_spend: 1 row dated the day of as_of (2024-07-01) or later ignored." in loaded.notes


def test_without_as_of_nothing_is_dropped_and_the_clock_is_not_read() -> None:
    frames = valid_frames()
    setcell("surveys", 0, "answered_at", "2200-01-01T00:00:00Z")(frames)
    loaded = data.load(frames)  # as_of=None: every row, whatever today is
    assert loaded.surveys["answered_at"].max() == pd.Timestamp("2200-01-01", tz="UTC")
    assert loaded.notes == ()


def test_company_start_comes_from_the_mapping_and_the_argument_wins() -> None:
    frames = valid_frames()
    mapping = {"company_start": "2024-01-04"}
    with pytest.raises(DataValidationError) as info:
        data.load(frames, mapping, as_of=AS_OF)
    flagged = {(p.table, p.column) for p in info.value.problems}
    assert flagged == {("customers", "signup_at")}
    assert "2 dates before company_start (2024-01-04T00:00:00+00:00)" in info.value.problems[0].message
    data.load(valid_frames(), mapping, as_of=AS_OF, company_start="2023-01-01")


def _problem(err: DataValidationError, check: str) -> Problem:
    return next(p for p in err.problems if p.check == check)


def test_missing_table_hint_lists_unused_files(tmp_path: Path) -> None:
    folder = write_folder(tmp_path, valid_frames())
    (folder / "orders.csv").rename(folder / "sales.csv")
    with pytest.raises(DataValidationError) as info:
        data.load(folder, as_of=AS_OF)
    problem = _problem(info.value, "missing_table")
    assert problem.table == "orders"
    assert "sales.csv" in problem.hint and "orders_from_events" in problem.hint


def test_a_wrong_separator_is_named_in_the_hint(tmp_path: Path) -> None:
    folder = write_folder(tmp_path, valid_frames())
    pd.read_csv(folder / "campaigns.csv", dtype=str).to_csv(folder / "campaigns.csv", sep=";",
                                                            index=False)
    with pytest.raises(DataValidationError) as info:
        data.load(folder, as_of=AS_OF)
    problems = info.value.problems
    assert [(p.table, p.column, p.check) for p in problems] == [
        ("campaigns", "campaign_id", "missing_column")]  # channel and name are optional
    assert "looks ';'-separated" in problems[0].hint
    assert "`tables: {campaigns: {sep: ';'}}`" in problems[0].hint
    data.load(folder, {"tables": {"campaigns": {"sep": ";"}}}, as_of=AS_OF)


def test_cli_validate_reports_problems_without_traceback(tmp_path: Path, capsys) -> None:
    frames = valid_frames()
    setcell("orders", 0, "amount", -1.0)(frames)
    folder = write_folder(tmp_path / "broken", frames)
    assert cli.main(["validate", str(folder)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Traceback" not in captured.err
    assert f"error: {folder}: 1 problem found" in captured.err
    assert "[orders.amount] out_of_range: 1 value below the minimum 0 currency" in captured.err
    assert "line 2: -1.0" in captured.err


def test_cli_validate_accepts_a_valid_folder(tmp_path: Path, capsys) -> None:
    folder = write_folder(tmp_path / "good", valid_frames())
    assert cli.main(["validate", str(folder)]) == 0
    captured = capsys.readouterr()
    assert f"{folder}: valid" in captured.out
    assert "customers" in captured.out and "subscriptions" in captured.out
    assert captured.err == ""


def test_cli_validate_reports_a_bad_mapping(tmp_path: Path, capsys) -> None:
    folder = write_folder(tmp_path / "good", valid_frames())
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("tables:\n  customer:\n    file: clients.csv\n", encoding="utf-8")
    assert cli.main(["validate", str(folder), "--mapping", str(mapping)]) == 2
    err = capsys.readouterr().err
    assert "unknown table 'customer' (did you mean 'customers'?)" in err
    assert "Traceback" not in err
