"""A tiny, valid, hand-made CRM company (5 customers) for the loader and validator tests.

Values are written as a client's export would hold them: ids and timestamps as text, so the
frames exercise the same conversions as a CSV file. Every test builds its broken input from
:func:`valid_frames` in code; nothing here depends on the synthetic generator.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

#: Reference instant of the corpus: every date is earlier.
AS_OF = "2024-07-01T00:00:00Z"


def valid_frames() -> dict[str, pd.DataFrame]:
    """Return fresh, valid frames of every table (optional ones included)."""
    customers = pd.DataFrame({
        "customer_id": ["0001", "0002", "0003", "0004", "0005"],
        "signup_at": ["2024-01-02T09:00:00Z", "2024-01-03T10:30:00Z", "2024-01-05T08:15:00Z",
                      "2024-02-01T12:00:00Z", "2024-02-10T18:45:00Z"],
        "acquisition_channel": ["search", "social", "referral", "search", "email"],
        "region": ["north", "south", "NA", "north", "east"],
        "age": [34, None, 51, 28, 45],
        "marketing_consent": ["yes", "no", None, "yes", "yes"],
        "do_not_contact": ["no", "no", "no", "yes", None],
        "name": ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov"],
        "email": ["ada@example.com", "alan@example.com", "grace@example.com",
                  "edsger@example.com", "barbara@example.com"],
        "phone": ["+33 1 00 00 00 01", "+33 1 00 00 00 02", None, "+33 1 00 00 00 04",
                  "+33 1 00 00 00 05"],
    })
    orders = pd.DataFrame({
        "order_id": ["O1", "O2", "O3", "O4", "O5", "O6"],
        "customer_id": ["0001", "0001", "0002", "0003", "0004", "0005"],
        "ordered_at": ["2024-01-10T10:00:00Z", "2024-03-01T11:00:00Z", "2024-01-20T09:30:00Z",
                       "2024-02-14T15:00:00Z", "2024-02-20T16:00:00Z", "2024-03-05T17:00:00Z"],
        "amount": [120.0, 80.5, 45.0, 300.0, 60.0, 15.99],
        "discount": [0.0, 10.0, 0.0, 25.0, 0.0, 0.0],
        "channel": ["online", "online", "phone", "in_person", "online", "online"],
        "platform": ["desktop", "mobile", None, None, "app", "desktop"],
        "promo_code": [None, "SPRING10", None, "VIP25", None, None],
        "status": ["completed", "completed", "returned", "completed", "cancelled", "completed"],
    })
    order_items = pd.DataFrame({
        "order_id": ["O1", "O1", "O2", "O3", "O4", "O5", "O6"],
        "product_id": ["P1", "P2", "P1", "P3", "P4", "P2", "P5"],
        "category": ["shoes", "socks", "shoes", "bags", "coats", "socks", "hats"],
        "quantity": [1, 2, 1, 1, 1, 3, 1],
        "unit_price": [100.0, 10.0, 90.5, 45.0, 325.0, 20.0, 15.99],
    })
    events = pd.DataFrame({
        "customer_id": ["0001", "0001", "0002", "0003", "0004", "0005", "0005"],
        "occurred_at": ["2024-01-09T20:00:00Z", "2024-01-10T09:55:00Z", "2024-01-19T08:00:00Z",
                        "2024-02-13T21:00:00Z", "2024-02-20T15:50:00Z", "2024-03-04T12:00:00Z",
                        "2024-03-05T16:58:00Z"],
        "event": ["ad_click", "purchase", "email_open", "ad_click", "page_view", "ad_click",
                  "purchase"],
        "session_id": ["S1", "S2", None, "S3", "S4", "S5", "S6"],
        "channel": ["search", None, "email", "social", None, "search", None],
        "campaign_id": ["K1", None, None, "K2", None, "K1", None],
        "platform": ["desktop", "desktop", None, "mobile", "app", "desktop", "desktop"],
        "order_id": [None, "O1", None, None, None, None, "O6"],
    })
    campaigns = pd.DataFrame({
        "campaign_id": ["K1", "K2"],
        "channel": ["search", "social"],
        "name": ["Winter search", "Valentine social"],
    })
    ad_spend = pd.DataFrame({
        "campaign_id": ["K1", "K1", "K2", "K2"],
        "date": ["2024-01-09", "2024-01-10", "2024-02-13", "2024-02-14"],
        "impressions": [1000, 1200, 5000, 4000],
        "clicks": [30, 25, 80, 60],
        "cost": [45.0, 50.0, 120.0, 95.5],
    })
    tickets = pd.DataFrame({
        "ticket_id": ["T1", "T2", "T3"],
        "customer_id": ["0001", "0003", "0005"],
        "opened_at": ["2024-03-02T09:00:00Z", "2024-02-16T10:00:00Z", "2024-03-06T08:00:00Z"],
        "first_response_at": ["2024-03-02T10:00:00Z", "2024-02-16T11:30:00Z", None],
        "resolved_at": ["2024-03-03T09:00:00Z", "2024-02-17T10:00:00Z", None],
        "contacts": [1, 2, 1],
        "csat": [5, 3, None],
    })
    surveys = pd.DataFrame({
        "customer_id": ["0001", "0002", "0004"],
        "answered_at": ["2024-03-10T12:00:00Z", "2024-02-01T12:00:00Z", "2024-03-01T12:00:00Z"],
        "nps": [9, 6, 10],
    })
    subscriptions = pd.DataFrame({
        "customer_id": ["0001", "0003", "0003"],
        "started_at": ["2024-01-10T00:00:00Z", "2024-02-14T00:00:00Z", "2024-04-14T00:00:00Z"],
        "ended_at": ["2024-04-10T00:00:00Z", "2024-03-14T00:00:00Z", None],
        "plan": ["basic", "premium", "basic"],
        "mrr": [9.9, 29.0, 9.9],
    })
    frames = {
        "customers": customers, "orders": orders, "order_items": order_items, "events": events,
        "campaigns": campaigns, "ad_spend": ad_spend, "tickets": tickets, "surveys": surveys,
        "subscriptions": subscriptions,
    }
    for frame in frames.values():  # nullable numbers, as a careful export would hold them
        for col in frame.columns:
            if frame[col].dtype == "float64" and frame[col].isna().any() and col in ("age", "csat"):
                frame[col] = frame[col].astype("Int64")
    return frames


def write_folder(folder: Path, frames: dict[str, pd.DataFrame], fmt: str = "csv") -> Path:
    """Write ``frames`` as ``<table>.csv`` (or ``.parquet``) files into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        if fmt == "csv":
            frame.to_csv(folder / f"{name}.csv", index=False)
        else:
            frame.to_parquet(folder / f"{name}.parquet", index=False)
    return folder
