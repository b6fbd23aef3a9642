"""The journey report's inputs: its parameters checked, and the event log made ready.

:func:`check_parameters` checks the parameters only the journey report reads (the funnel, the
what-if step, the friction period) and derives what the report needs from them;
:func:`prepare_events` keeps the events before ``as_of``, adds each customer's attributes and
each purchase's completed-order amount, and cuts visits (sessions) where the data has no visit
ids. Both return small frozen records, so a notebook reads named fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from crm_research.engine import is_lazy, materialize, to_ibis
from crm_research.errors import ParameterError
from crm_research.exprs import as_utc_timestamp, parse_as_of
from crm_research.journey._common import JOURNEY_ORDER
from crm_research.journey.sessions import sessions
from crm_research.journey.stages import load_stage_map

__all__ = ["JourneyParameters", "check_parameters", "JourneyEvents", "prepare_events", "FRICTION_UNITS", "ORDER_COL"]

FRICTION_UNITS = {"W": "weeks", "M": "months", "D": "days"}
"""Friction periods and their names in the report's sentences."""


@dataclass(frozen=True)
class JourneyParameters:
    """The journey report's parameters, checked, and what follows from them.

    Attributes
    ----------
    as_of : Timestamp
        The analysis date (UTC, exclusive): only events before it count.
    last_day : Timestamp
        The last day of data, ``as_of`` − 1 day.
    funnel_steps : list of str
        The funnel's steps (event names) in order.
    target : str
        The funnel's last step: the purchase.
    improve_move : (str, str)
        The what-if's move: ``improve_step`` and the step after it.
    friction_unit : str
        The friction period in words (``"weeks"``, ``"months"``, ``"days"``).
    stage_map : dict
        ``{stage: [event names]}`` in lifecycle order (the package's default map).
    stage_of : dict
        ``{event name: stage}``.
    """

    as_of: pd.Timestamp
    last_day: pd.Timestamp
    funnel_steps: list
    target: str
    improve_move: tuple
    friction_unit: str
    stage_map: dict
    stage_of: dict


def check_parameters(as_of, funnel_steps: Sequence[str], improve_step: str,
                     friction_period: str) -> JourneyParameters:
    """Check the journey report's own parameters; derive the dates, the target and the stages.

    Parameters
    ----------
    as_of : str, date or Timestamp
        Analysis date (exclusive).
    funnel_steps : list of str
        Funnel steps in order (event names), at least two; the last one is the purchase.
    improve_step : str
        The what-if's step: a funnel step before the last one.
    friction_period : {"W", "M", "D"}
        The time unit friction is tested in.

    Returns
    -------
    JourneyParameters

    Raises
    ------
    ParameterError
        A parameter out of its range, in one sentence that says what to give.

    Examples
    --------
    >>> p = check_parameters("2026-01-01", ["visit", "cart", "purchase"], "cart", "W")
    >>> p.target, p.improve_move, p.friction_unit, str(p.last_day.date())
    ('purchase', ('cart', 'purchase'), 'weeks', '2025-12-31')
    >>> check_parameters("2026-01-01", ["visit", "cart", "purchase"], "purchase", "W")
    Traceback (most recent call last):
    ...
    crm_research.errors.ParameterError: improve_step='purchase' must be a funnel step before the last one: ['visit', 'cart']
    """
    cut = parse_as_of(as_of)
    steps = list(funnel_steps)
    if len(steps) < 2:
        raise ParameterError(f"funnel_steps={funnel_steps!r}: give at least two event names")
    if improve_step not in steps[:-1]:
        raise ParameterError(f"improve_step={improve_step!r} must be a funnel step before the last one: {steps[:-1]}")
    if friction_period not in FRICTION_UNITS:
        raise ParameterError(f"friction_period={friction_period!r}: use 'W' (weeks), 'M' (months) or 'D' (days)")
    stage_map = load_stage_map()
    return JourneyParameters(
        as_of=cut, last_day=cut - pd.Timedelta(days=1), funnel_steps=steps, target=steps[-1],
        improve_move=(improve_step, steps[steps.index(improve_step) + 1]),
        friction_unit=FRICTION_UNITS[friction_period], stage_map=stage_map,
        stage_of={e: s for s, evs in stage_map.items() for e in evs})


@dataclass(frozen=True)
class JourneyEvents:
    """The event log as the journey report reads it (:func:`prepare_events`).

    Attributes
    ----------
    events : DataFrame or ibis.Table
        Events before ``as_of`` with the customers' attributes, ``amount`` on purchases of
        completed orders (when the events carry order ids) and ``session_id`` on every event;
        an engine table (stored on the engine) also has ``journey_order``.
    n_contacts : int
        Contacts known before ``as_of``: signed up before it, or with an event before it.
    segments : list of str
        The ``segment_columns`` the data has (searched for friction).
    missing_segments : list of str
        The ``segment_columns`` it lacks, sorted.
    value_col : str or None
        ``"amount"`` when some purchase has a completed order's amount, else None.
    cut_visits : bool
        True when visits were cut after inactivity (the data has no visit ids).
    split : str or None
        ``"platform"`` when the events have a platform (the funnel is split by it), else None.
    first_event : Timestamp or None
        The first event's time (UTC); None without events.
    """

    events: pd.DataFrame
    n_contacts: int
    segments: list
    missing_segments: list
    value_col: str | None
    cut_visits: bool
    split: str | None
    first_event: pd.Timestamp | None = None


def prepare_events(events: pd.DataFrame, customers: pd.DataFrame, orders: pd.DataFrame | None, as_of, *,
                   segment_columns: Sequence[str] = ("platform", "acquisition_channel", "region"),
                   session_timeout_minutes: float = 30) -> JourneyEvents:
    """The events before ``as_of``, with customers' attributes, order amounts and visits.

    Parameters
    ----------
    events : DataFrame or ibis.Table
        Event log: ``customer_id``, ``occurred_at`` (UTC), ``event``; optionally ``session_id``,
        ``platform``, ``order_id``.
    customers : DataFrame or ibis.Table
        ``customer_id`` and attributes (``acquisition_channel``, ``region``, ``signup_at``...).
    orders : DataFrame, ibis.Table or None
        ``order_id``, ``amount`` (currency) and optionally ``status``: an order counts as
        revenue when its status is ``"completed"`` (without a status every order does). Read
        only when the events carry ``order_id``.
    as_of : str, date or Timestamp
        Analysis date (exclusive).
    segment_columns : sequence of str
        Groups searched for friction: columns of the events or of the customers.
    session_timeout_minutes : float
        A visit ends after this much inactivity (minutes); used only when the events carry no
        visit ids.

    Returns
    -------
    JourneyEvents
        The events and what the report says about them (contacts, groups, revenue column,
        how visits were found, the first event's time). Engine tables in → the events as an
        engine table stored on the engine (computed once: every later step reads it), with
        one more column, ``journey_order`` (int64, 0, 1, ...): the events' place in the loader's journey
        order within their customer (:func:`crm_research.data.load.journey_order`: time,
        lifecycle order of simultaneous events, then the other columns), which every journey
        helper uses to order equal timestamps of an engine table (``row_col``), so the engine
        gives the pandas results. Pandas in → pandas out, in the input's row order.

    Examples
    --------
    Two customers, the second one signed up after the analysis date; one completed and one
    cancelled order; no visit ids, so visits are cut after 30 minutes:

    >>> t = pd.Timestamp("2025-12-01 10:00", tz="UTC")
    >>> events = pd.DataFrame({"customer_id": ["a", "a", "a", "b"],
    ...                        "occurred_at": [t, t + pd.Timedelta("10min"), t + pd.Timedelta("2h"),
    ...                                        t + pd.Timedelta("40D")],
    ...                        "event": ["site_visit", "purchase", "purchase", "site_visit"],
    ...                        "order_id": [None, "o1", "o2", None]})
    >>> customers = pd.DataFrame({"customer_id": ["a", "b"], "region": ["north", "south"],
    ...                           "signup_at": [t, t + pd.Timedelta("40D")]})
    >>> orders = pd.DataFrame({"order_id": ["o1", "o2"], "amount": [50.0, 20.0],
    ...                        "status": ["completed", "cancelled"]})
    >>> p = prepare_events(events, customers, orders, "2026-01-01")
    >>> p.n_contacts, p.segments, p.missing_segments, p.value_col, p.cut_visits
    (1, ['region'], ['acquisition_channel', 'platform'], 'amount', True)
    >>> p.events[["event", "region", "amount", "session_id"]]
            event region  amount session_id
    0  site_visit  north     NaN        a:1
    1    purchase  north    50.0        a:1
    2    purchase  north     NaN        a:2
    """
    cut = parse_as_of(as_of)
    if is_lazy(events):
        return _prepare_engine(events, customers, orders, cut, segment_columns, session_timeout_minutes)
    events = events[events["occurred_at"] < cut]
    known = customers[customers["signup_at"] < cut] if "signup_at" in customers.columns else customers
    n_contacts = len(set(known["customer_id"]).union(events["customer_id"]))
    segments = [c for c in segment_columns if c in events.columns or c in customers.columns]
    customer_cols = [c for c in dict.fromkeys(["acquisition_channel", "region", *segments])
                     if c in customers.columns and c not in events.columns]
    events = events.merge(customers[["customer_id", *customer_cols]], on="customer_id", how="left")
    value_col = None
    if "order_id" in events.columns and orders is not None:
        # attach by order id: the amount of a completed order (without a status every order counts)
        completed = orders[orders["status"] == "completed"] if "status" in orders.columns else orders
        events = events.merge(completed[["order_id", "amount"]], on="order_id", how="left")
        value_col = "amount" if events["amount"].notna().any() else None
    cut_visits = "session_id" not in events.columns or bool(events["session_id"].isna().all())
    if cut_visits:
        events = sessions(events, f"{session_timeout_minutes}min")
    return JourneyEvents(
        events=events, n_contacts=n_contacts, segments=segments,
        missing_segments=sorted(set(segment_columns) - set(segments)), value_col=value_col,
        cut_visits=cut_visits, split="platform" if "platform" in events.columns else None,
        first_event=events["occurred_at"].min() if len(events) else None)


ORDER_COL = JOURNEY_ORDER
"""The column :func:`prepare_events` adds to engine events: the journey order within a customer."""


def _true(value) -> bool:
    """An engine's boolean answer (None or NA: no)."""
    return value is not None and not pd.isna(value) and bool(value)


def _prepare_engine(events, customers, orders, cut, segment_columns, session_timeout_minutes) -> JourneyEvents:
    """:func:`prepare_events` on engine tables: the same steps as queries; the result stored once."""
    import ibis

    from crm_research.data.model import TABLES, lifecycle_events

    customers = to_ibis(customers)
    events = events.filter(events["occurred_at"] < cut)
    known = customers.filter(customers["signup_at"] < cut) if "signup_at" in customers.columns else customers
    n_contacts = int(known.select("customer_id").union(events.select("customer_id"), distinct=True)
                     .count().execute())
    segments = [c for c in segment_columns if c in events.columns or c in customers.columns]
    customer_cols = [c for c in dict.fromkeys(["acquisition_channel", "region", *segments])
                     if c in customers.columns and c not in events.columns]
    # the journey order (data.load.journey_order) within each customer: time, simultaneous events
    # in lifecycle order, then the model's other columns (missing last)
    known_events = lifecycle_events()
    rank = events["event"].cases(*[(e, i) for i, e in enumerate(known_events)], else_=len(known_events))
    rest = [c for c in TABLES["events"].column_names if c in events.columns and c not in ("customer_id", "occurred_at")]
    order = [events["occurred_at"], rank, *[ibis.asc(events[c], nulls_first=False) for c in rest]]
    events = events.mutate(**{ORDER_COL: ibis.row_number().over(group_by=events["customer_id"], order_by=order)
                              .cast("int64")})
    if customer_cols:
        attrs = customers.select("customer_id", *customer_cols).rename(_jcid="customer_id")
        joined = events.left_join(attrs, events["customer_id"] == attrs["_jcid"])
        events = joined.select(*events.columns, *customer_cols)
    has_orders = "order_id" in events.columns and orders is not None
    if has_orders:
        orders = to_ibis(orders)
        completed = orders.filter(orders["status"] == "completed") if "status" in orders.columns else orders
        amounts = completed.select(_jo="order_id", amount=completed["amount"].cast("float64"))
        joined = events.left_join(amounts, events["order_id"] == amounts["_jo"])
        events = joined.select(*events.columns, "amount")
    cut_visits = "session_id" not in events.columns
    if cut_visits:
        events = sessions(events, f"{session_timeout_minutes}min", row_col=ORDER_COL)
    events = materialize(events)
    facts = events.aggregate(
        first_event=events["occurred_at"].min(),
        has_amount=events["amount"].notnull().any() if has_orders else ibis.literal(False),
        has_session=events["session_id"].notnull().any()).execute().iloc[0]
    if not cut_visits and not _true(facts["has_session"]):
        # a session column without a single id: cut visits after inactivity, as without one
        cut_visits = True
        events = materialize(sessions(events, f"{session_timeout_minutes}min", row_col=ORDER_COL))
    first = facts["first_event"]
    first = None if pd.isna(first) else as_utc_timestamp(first)  # Spark gives naive UTC, DuckDB aware
    return JourneyEvents(
        events=events, n_contacts=n_contacts, segments=segments,
        missing_segments=sorted(set(segment_columns) - set(segments)),
        value_col="amount" if has_orders and _true(facts["has_amount"]) else None,
        cut_visits=cut_visits, split="platform" if "platform" in events.columns else None,
        first_event=first)
