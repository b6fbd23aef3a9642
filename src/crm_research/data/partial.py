"""Partial data: tables derived from others, and the snapshot of the data at ``as_of``.

* Orders from an event log (``orders_from_events`` in the mapping): one order per purchase
  event; without an amount column the orders have no ``amount``.
* Customers from the orders, when the client gives no customers table: one contact per
  buyer, the first order (of all orders, before ``as_of``) as sign-up.
* ``as_of``: rows dated on or after it are dropped (``date`` columns: on or after its calendar
  day), and so are the rows that point to a dropped row (order lines of a dropped order,
  events of a contact who signed up later); later timestamps of the kept rows (a ticket
  resolved after ``as_of``) become missing: at ``as_of`` they had not happened.

A derived table is described by one plain sentence in ``CRMData.derived``; every drop and
censoring is counted in one plain sentence of ``CRMData.notes``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_research.data.coerce import coerce_column
from crm_research.data.mapping import Mapping
from crm_research.data.model import TABLE_ORDER, TABLES
from crm_research.data.schemas import utc_day
from crm_research.data.staging import Raw, Staged, plural, row_ids
from crm_research.errors import Problem

__all__ = ["apply_as_of", "derive_customers", "orders_from_events"]

CUSTOMERS_FROM_ORDERS = ("derived from orders: one contact per buyer, first order as sign-up; "
                         "acquisition channel and region unknown")
NO_AMOUNTS = "order amounts unknown: revenue analyses are not available"


def derive_customers(tables: dict[str, Staged], derived: dict[str, str]) -> None:
    """Add ``customers`` built from the orders when the data has no customers table."""
    orders = tables.get("orders")
    if "customers" in tables or orders is None:
        return
    frame = orders.frame
    if not {"customer_id", "ordered_at"} <= set(frame.columns):
        return  # the missing column is reported already
    known = frame["customer_id"].notna() & frame["ordered_at"].notna()
    first = frame.loc[known].groupby("customer_id", sort=False)["ordered_at"].min()
    customers = pd.DataFrame({
        "customer_id": first.index.astype("string"),
        "signup_at": first.reset_index(drop=True),
    })
    raw = Raw("customers", customers, "customers derived from orders", csv=False)
    tables["customers"] = Staged(raw, customers, ["customer_id", "signup_at"], derived=True)
    derived["customers"] = CUSTOMERS_FROM_ORDERS


def orders_from_events(tables: dict[str, Staged], mapping: Mapping, problems: list[Problem],
                       derived: dict[str, str]) -> None:
    """Add ``orders`` built from the purchase events, as ``mapping.orders_from_events`` says."""
    spec = mapping.orders_from_events
    if spec is None:
        return
    if "orders" in tables:
        problems.append(Problem(
            "orders", None, "ambiguous_file",
            f"orders come both from {tables['orders'].raw.origin} and from orders_from_events "
            "in the mapping", (),
            "remove the orders file, or orders_from_events from the mapping"))
        return
    events = tables.get("events")
    if events is None:
        problems.append(Problem(
            "orders", None, "missing_table",
            "orders_from_events derives the orders from the events, but there is no events "
            "table", (), "add the events table, or give an orders table instead"))
        return
    frame = events.frame
    if not {"customer_id", "occurred_at", "event"} <= set(frame.columns):
        return  # the missing column is reported already
    lacking = [(key, col) for key, col in (("amount", spec.amount), ("order_id", spec.order_id))
               if col is not None and col not in frame.columns]
    for key, col in lacking:
        problems.append(Problem(
            "events", col, "missing_column",
            f"orders_from_events takes the orders' {key} from column {col!r}, but "
            f"{events.raw.origin} has no column {col!r}", (),
            f"fix orders_from_events.{key} in the mapping; columns: "
            f"{', '.join(map(str, frame.columns[:12]))}"))
    if lacking:
        return
    recode = {**mapping.events, **mapping.table("events").values.get("event", {})}
    name = recode.get(spec.event, spec.event)
    purchase = (frame["event"] == name).fillna(False).to_numpy(dtype=bool)
    purchase &= frame["customer_id"].notna().to_numpy() & frame["occurred_at"].notna().to_numpy()
    if not purchase.any():
        common = frame["event"].value_counts().index[:8]
        problems.append(Problem(
            "orders", None, "empty_table",
            f"no {name!r} event in {events.raw.origin}: orders_from_events finds no purchase", (),
            "name the purchase event in orders_from_events.event; most frequent events: "
            + ", ".join(map(str, common))))
        return

    positions = np.flatnonzero(purchase)
    picked = frame.iloc[positions].reset_index(drop=True)
    model = TABLES["orders"]
    columns: dict[str, pd.Series] = {}
    failed: dict[str, np.ndarray] = {}
    originals: dict[str, pd.Series] = {}
    if spec.order_id is not None:
        columns["order_id"], _ = coerce_column(picked[spec.order_id], model.column("order_id"))
        ids = f"ids from the events' {spec.order_id!r} column"
    else:
        columns["order_id"] = row_ids(positions, len(frame))
        ids = "ids generated from the events' row positions"
    columns["customer_id"] = picked["customer_id"]
    columns["ordered_at"] = picked["occurred_at"]
    if spec.amount is not None:
        values, bad = coerce_column(picked[spec.amount], model.column("amount"),
                                    decimal=mapping.table("events").decimal)
        columns["amount"] = values
        if bad.any():
            failed["amount"], originals["amount"] = bad, picked[spec.amount]
        amounts = f"amounts from the events' {spec.amount!r} column"
    else:
        amounts = NO_AMOUNTS
    columns["status"] = pd.Series("completed", index=picked.index, dtype="string")
    orders = pd.DataFrame({k: v.reset_index(drop=True) for k, v in columns.items()})
    raw = Raw("orders", orders, f"{events.raw.origin} ({spec.event!r} events)", csv=events.raw.csv,
              header=events.raw.header)
    tables["orders"] = Staged(raw, orders, list(orders.columns), failed, originals,
                              rows=positions, derived=True)
    derived["orders"] = (f"derived from the events: one completed order per {spec.event!r} event, "
                         f"{ids}; {amounts}")


def _referenced() -> dict[str, list[str]]:
    """Columns other tables point to, per table (``customers``: ``customer_id``, ...)."""
    out: dict[str, list[str]] = {}
    for table in TABLES.values():
        for fk in table.foreign_keys:
            cols = out.setdefault(fk.ref_table, [])
            if fk.ref_column not in cols:
                cols.append(fk.ref_column)
    return out


def apply_as_of(tables: dict[str, Staged], as_of: pd.Timestamp, timezone: str,
                notes: list[str], left_out: dict[str, int] | None = None) -> None:
    """Drop what was not there yet at ``as_of`` (UTC) and censor what had not happened yet.

    ``left_out`` counts, per table, the rows dated on or after ``as_of`` that a database source
    left out already (:func:`crm_research.data.sources.read_database`); they are counted in
    the same note as the rows dropped here.
    """
    left_out = left_out or {}
    referenced = _referenced()
    gone: dict[tuple[str, str], pd.Index] = {}
    stamp = as_of.isoformat()
    for name in TABLE_ORDER:
        t = tables.get(name)
        if t is None:
            continue
        table = TABLES[name]
        frame = t.frame
        own = np.zeros(len(frame), dtype=bool)
        if table.time is not None and table.time in frame.columns:
            day = table.column(table.time).kind == "date"
            bound = utc_day(as_of, timezone) if day else as_of
            own = (frame[table.time] >= bound).fillna(False).to_numpy(dtype=bool)
            n_own = int(own.sum()) + left_out.get(name, 0)
            if n_own:
                when = f"the day of as_of ({bound.date()}) or later" if day else f"on or after as_of ({stamp})"
                notes.append(f"{name}: {plural(n_own, 'row')} dated {when} ignored.")
        drop = own.copy()
        for fk in table.foreign_keys:
            lost = gone.get((fk.ref_table, fk.ref_column))
            if lost is None or fk.column not in frame.columns:
                continue
            hit = frame[fk.column].isin(lost).to_numpy(dtype=bool) & ~drop
            if hit.any():
                drop |= hit
                notes.append(f"{name}: {plural(int(hit.sum()), 'more row')} ignored: they point "
                             f"({fk.column}) to {fk.ref_table} rows dated on or after as_of.")
        for col in referenced.get(name, []):
            if col in frame.columns and drop.any():
                dropped = pd.Index(frame.loc[drop, col].dropna().unique())
                gone[(name, col)] = dropped.difference(frame.loc[~drop, col].dropna().unique())
        if drop.any():
            t.keep(~drop)
        for col in table.censored:
            if col not in t.frame.columns:
                continue
            late = (t.frame[col] >= as_of).fillna(False)
            if late.any():
                t.frame[col] = t.frame[col].mask(late)
                notes.append(f"{name}.{col}: {plural(int(late.sum()), 'value')} on or after as_of "
                             "set to missing (not yet happened at as_of).")
