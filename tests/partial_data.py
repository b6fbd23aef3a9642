"""Partial and degenerate companies, as a client's export would be: built from a synthetic company.

Used by the package-level needs matrices and the few whole-notebook runs on partial data. Run it
by hand to get the folders for a look::

    .venv/bin/python tests/partial_data.py /tmp/partial     # needs a synthetic company first

Every builder takes the folder of a synthetic company (``crm-research synth``) and writes a new
folder of CSV files (what a client sends), returning its path.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pandas as pd

OPTIONAL_TABLES = ("customers", "order_items", "events", "campaigns", "ad_spend", "tickets", "surveys",
                   "subscriptions")
"""Every table but ``orders``: each may be absent from a client's export."""

CDNOW = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cdnow"


def read_company(folder: str | Path) -> dict[str, pd.DataFrame]:
    """The tables of a synthetic company folder (parquet or csv files), by name."""
    folder = Path(folder)
    frames = {}
    for path in sorted(folder.iterdir()):
        name = path.name.split(".")[0]
        if name.startswith("truth"):
            continue
        if path.suffix == ".parquet":
            frames[name] = pd.read_parquet(path)
        elif path.suffix == ".csv":
            frames[name] = pd.read_csv(path, dtype=str, keep_default_na=False)
    return frames


def write_company(frames: dict[str, pd.DataFrame], out: str | Path) -> Path:
    """Write ``frames`` as ``<table>.csv`` files in ``out`` (a new folder); timestamps as ISO 8601 UTC."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=False)
    for name, frame in frames.items():
        frame = frame.copy()
        for col in frame.columns:
            if pd.api.types.is_datetime64_any_dtype(frame[col]):
                frame[col] = frame[col].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        frame.to_csv(out / f"{name}.csv", index=False)
    return out


def without_table(company: str | Path, table: str, out: str | Path) -> Path:
    """The company without ``table`` (its rows and the file)."""
    frames = read_company(company)
    frames.pop(table)
    return write_company(frames, out)


def without_column(company: str | Path, table: str, column: str, out: str | Path) -> Path:
    """The company with ``table.column`` dropped."""
    frames = read_company(company)
    frames[table] = frames[table].drop(columns=column)
    return write_company(frames, out)


def orders_only(company: str | Path, out: str | Path) -> Path:
    """Only ``orders.csv`` with ``customer_id``, ``ordered_at`` and ``amount`` of completed orders."""
    orders = read_company(company)["orders"]
    orders = orders[orders["status"] == "completed"]
    return write_company({"orders": orders[["customer_id", "ordered_at", "amount"]]}, out)


def first_customers(company: str | Path, n: int, out: str | Path) -> Path:
    """The first ``n`` buyers with every row that belongs to them (a tiny but complete company)."""
    frames = read_company(company)
    keep = frames["orders"]["customer_id"].drop_duplicates().head(n)
    frames = _restrict(frames, set(keep))
    return write_company(frames, out)


def one_order_each(company: str | Path, out: str | Path) -> Path:
    """Every buyer keeps only their first order (no repeat buyer anywhere)."""
    frames = read_company(company)
    orders = frames["orders"].sort_values(["customer_id", "ordered_at"], kind="stable")
    orders = orders.drop_duplicates("customer_id")
    frames["orders"] = orders
    if "order_items" in frames:
        frames["order_items"] = frames["order_items"][frames["order_items"]["order_id"].isin(orders["order_id"])]
    if "order_id" in frames.get("events", pd.DataFrame()).columns:
        ev = frames["events"]
        frames["events"] = ev[ev["order_id"].isna() | ev["order_id"].isin(orders["order_id"])
                              | (ev["order_id"] == "")]
    return write_company(frames, out)


def single_segment(company: str | Path, out: str | Path) -> Path:
    """Every customer from one region and one acquisition channel, ordering on one platform."""
    frames = read_company(company)
    frames["customers"] = frames["customers"].assign(region="north", acquisition_channel="search")
    frames["orders"] = frames["orders"].assign(channel="online", platform="desktop")
    return write_company(frames, out)


def window(company: str | Path, start: str, end: str, out: str | Path) -> Path:
    """Only the rows dated in [start, end) (an export of a short period): orders, events, spend,
    tickets, surveys and subscriptions by their date; the customers they name, and those who
    signed up in the window."""
    frames = read_company(company)
    lo, hi = pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC")
    time_col = {"orders": "ordered_at", "events": "occurred_at", "ad_spend": "date",
                "tickets": "opened_at", "surveys": "answered_at", "subscriptions": "started_at"}
    for name, col in time_col.items():
        if name in frames:
            t = pd.to_datetime(frames[name][col], utc=True)
            frames[name] = frames[name][(t >= lo) & (t < hi)]
    customers = frames["customers"]
    signed = pd.to_datetime(customers["signup_at"], utc=True)
    named = set().union(*(set(f["customer_id"]) for n, f in frames.items() if n in time_col and "customer_id" in f))
    keep = set(customers.loc[(signed >= lo) & (signed < hi), "customer_id"]) | named
    frames = _restrict(frames, keep)
    return write_company(frames, out)


def _restrict(frames: dict[str, pd.DataFrame], customers: set) -> dict[str, pd.DataFrame]:
    out = dict(frames)
    for name, frame in frames.items():
        if "customer_id" in frame.columns:
            out[name] = frame[frame["customer_id"].isin(customers)]
    orders = set(out["orders"]["order_id"])
    out["orders"] = out["orders"]
    if "order_items" in out:
        out["order_items"] = out["order_items"][out["order_items"]["order_id"].isin(orders)]
    if "events" in out and "order_id" in out["events"].columns:
        ev = out["events"]
        out["events"] = ev[ev["order_id"].isna() | (ev["order_id"] == "") | ev["order_id"].isin(orders)]
    return out


def cdnow_orders_only(out: str | Path) -> Path:
    """CDNOW's master file as an orders-only client: the raw whitespace-separated file and a mapping."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=False)
    shutil.copy(CDNOW / "CDNOW_master.txt", out / "CDNOW_master.txt")
    (out / "mapping.yaml").write_text(
        "tables:\n"
        "  orders:\n"
        "    file: CDNOW_master.txt\n"
        "    sep: whitespace\n"
        "    columns: {date: ordered_at, dollar_value: amount}\n"
        "date_format:\n"
        "  orders.ordered_at: '%Y%m%d'\n", encoding="utf-8")
    return out


def event_log_only(company: str | Path, out: str | Path) -> Path:
    """A web shop's event log alone, in its own words: no orders, no amounts, a ``tablet`` device.

    ``web_events.csv`` with the columns ``user``, ``ts``, ``action``, ``visit``, ``device``;
    purchases are the ``order_placed`` events. The mapping renames the columns and events and
    derives the orders from the purchase events (without amounts).
    """
    events = read_company(company)["events"]
    events = events[events["event"].isin(["site_visit", "product_view", "add_to_cart", "checkout_start", "purchase",
                                          "email_open", "ad_click"])]
    device = events["platform"].where(events.index.to_series() % 7 != 0, "tablet")
    log = pd.DataFrame({"user": events["customer_id"], "ts": events["occurred_at"],
                        "action": events["event"].replace({"purchase": "order_placed", "site_visit": "page_view",
                                                           "product_view": "product_page"}),
                        "visit": events["session_id"], "device": device})
    out = write_company({"web_events": log}, out)
    (out / "mapping.yaml").write_text(
        "tables:\n"
        "  events:\n"
        "    file: web_events.csv\n"
        "    columns: {user: customer_id, ts: occurred_at, action: event, visit: session_id, device: platform}\n"
        "events: {order_placed: purchase, page_view: site_visit, product_page: product_view}\n"
        "orders_from_events: {event: purchase}\n", encoding="utf-8")
    return out


def busiest_day(company: str | Path) -> str:
    """The calendar day (UTC) with the most orders: a one-day export that still holds orders."""
    orders = read_company(company)["orders"]
    days = pd.to_datetime(orders["ordered_at"], utc=True).dt.strftime("%Y-%m-%d")
    return days.value_counts().sort_index().idxmax()


def build_all(company: str | Path, out: str | Path) -> dict[str, Path]:
    """Every partial company of this module under ``out`` (one folder each), by case name."""
    out = Path(out)
    cases = {
        "orders_only": lambda o: orders_only(company, o),
        "tiny_10": lambda o: first_customers(company, 10, o),
        "one_order_each": lambda o: one_order_each(company, o),
        "single_segment": lambda o: single_segment(company, o),
        "one_day": lambda o: window(company, busiest_day(company),
                                    str((pd.Timestamp(busiest_day(company)) + pd.Timedelta(days=1)).date()), o),
        "event_log_only": lambda o: event_log_only(company, o),
        "three_months": lambda o: window(company, "2025-10-01", "2026-01-01", o),
    }
    for table in OPTIONAL_TABLES:
        cases[f"no_{table}"] = lambda o, t=table: without_table(company, t, o)
    if CDNOW.is_dir():
        cases["cdnow"] = cdnow_orders_only
    return {name: build(out / name) for name, build in cases.items()}


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: partial_data.py SYNTHETIC_COMPANY_DIR OUT_DIR")
    for name, path in build_all(sys.argv[1], sys.argv[2]).items():
        print(f"{name}: {path}")
