"""Journeys to attribute: touchpoint paths built on the engine, and the path-table exchange format.

Three shapes of the same information, from the most detailed to the most compact:

* **touchpoints** (:func:`touchpoints`): one row per touch kept in a journey, with its timestamp,
  channel, campaign, position and the journey's outcome;
* **journeys** (:func:`paths`): one row per journey, ``path`` = ``"a > b > c"`` (channels in
  time order), ``converted`` (0/1), ``conversion_value`` and ``touch_days`` (days from each touch
  to the end of the journey, kept for time-decay attribution);
* **path table** (:func:`aggregate_paths`): one row per distinct path with ``total_conversions``,
  ``total_conversion_value`` and ``total_null`` -- the format attribution tools exchange
  (ChannelAttribution, Google's ``conversion paths`` export).

Every model of :mod:`crm_research.attribution` accepts a journey table or a path table
(:func:`path_data` reads either into arrays).

Journey conventions
-------------------
A *touchpoint* is an event with a non-null ``channel`` (in the synthetic company: ``ad_impression``,
``ad_click``, ``email_open``, and the A/B e-mails' ``email_sent``), optionally restricted to
``touch_events``. A *conversion* is a customer's first order with an allowed status
(``conversion="first"``), or every such order (``conversion="every"``). Each touch belongs to the
next conversion of its customer (a touch at the same second as an order counts after it):

* a converting journey holds the touches within ``lookback_days`` before its conversion (and
  after the previous conversion);
* touches after a customer's last conversion (or of a customer who never converted) form a
  non-converting journey that "ends in null"; its look-back is measured back from its last touch;
* with ``conversion="first"`` touches after the first order are not part of any journey.

A non-converting journey whose last touch is recent may still convert after ``as_of`` (right
censoring); pick ``as_of`` at least a look-back window after the touches you analyse.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

from crm_research.attribution.pathdata import SEP, PathData, path_data
from crm_research.engine import collect_by, engine_function, exact_sum
from crm_research.errors import CRMError
from crm_research.summaries import _ts_literal

__all__ = ["SEP", "touchpoints", "paths", "aggregate_paths", "PathData", "path_data"]
_TS = dt.Timestamp(timezone="UTC")
_DAY_S = 86_400.0


def _need(table, cols: Sequence[str], name: str) -> None:
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise CRMError(
            f"table {name!r} has no column(s) {missing}; it has {list(table.columns)}. "
            "Rename the columns or pass the matching *_col arguments."
        )


def _conversions(orders, *, conversion, as_of, statuses, customer_col, order_id_col, order_time_col,
                 value_col, status_col):
    """Conversions numbered per customer (``journey`` 0, 1, ... in time order)."""
    if conversion not in ("first", "every"):
        raise CRMError(f"conversion={conversion!r}: use 'first' (first order) or 'every' (every order)")
    _need(orders, [customer_col, order_id_col, order_time_col, value_col], "orders")
    o = orders
    if statuses is not None and status_col is not None and status_col in o.columns:
        o = o.filter(o[status_col].isin(list(statuses)))
    if as_of is not None:
        o = o.filter(o[order_time_col] < _ts_literal(as_of))
    conv = o.select(
        customer_id=o[customer_col].cast("string"),
        at=o[order_time_col].cast(_TS),
        order_id=o[order_id_col].cast("string"),
        value=o[value_col].cast("float64"),
    )
    conv = conv.mutate(journey=ibis.row_number().over(group_by="customer_id", order_by=["at", "order_id"]))
    if conversion == "first":
        conv = conv.filter(conv.journey == 0)
    return conv


@engine_function("events", "orders")
def _touchpoints_engine(
    events,
    orders,
    *,
    lookback_days: float | None = 30.0,
    conversion: str = "first",
    as_of=None,
    touch_events: Sequence[str] | None = None,
    statuses: Sequence[str] | None = ("completed",),
    customer_col: str = "customer_id",
    time_col: str = "occurred_at",
    channel_col: str = "channel",
    campaign_col: str | None = "campaign_id",
    event_col: str = "event",
    order_id_col: str = "order_id",
    order_time_col: str = "ordered_at",
    value_col: str = "amount",
    status_col: str | None = "status",
):
    """The touchpoints of every journey, one row per touch (see the module conventions).

    Parameters
    ----------
    events : DataFrame or ibis.Table
        Event log; touchpoints are the rows with a non-null ``channel_col``.
    orders : DataFrame or ibis.Table
        Order log; conversions are orders whose status is in ``statuses``.
    lookback_days : float or None
        Look-back window in days: a converting journey keeps the touches at most this long
        before its conversion (a non-converting one: before its last touch). None keeps all.
    conversion : {"first", "every"}
        A customer's first order only (acquisition), or every order (each starts a new journey).
    as_of : date-like, optional
        Ignore events and orders at or after this instant (UTC).
    touch_events : sequence of str, optional
        Only these event names count as touches (default: every event with a channel).
    statuses : sequence of str or None
        Order statuses that count as a conversion (None: every order).
    customer_col, time_col, channel_col, campaign_col, event_col : str
        Columns of ``events``. ``channel_col`` may name any touch label (e.g. ``campaign_id`` to
        attribute campaigns rather than channels). ``campaign_col`` None: no campaign column.
    order_id_col, order_time_col, value_col, status_col : str
        Columns of ``orders`` (value in currency).

    Returns
    -------
    DataFrame or ibis.Table
        ``customer_id``, ``journey`` (0-based index of the conversion the touch leads to, per
        customer), ``position`` (1-based, time order), ``n_touches``, ``occurred_at`` (UTC),
        ``channel``, ``campaign_id``, ``event``, ``converted`` (bool), ``conversion_at`` (UTC,
        null when not converted), ``order_id``, ``conversion_value`` (currency, null when not
        converted), ``days_before_end`` (days from the touch to the conversion, or to the last
        touch of a non-converting journey; second resolution). Sorted by customer, journey,
        position.
    """
    _need(events, [customer_col, time_col, channel_col], "events")
    ev = events.filter(events[channel_col].notnull())
    if touch_events is not None:
        _need(events, [event_col], "events")
        ev = ev.filter(ev[event_col].isin(list(touch_events)))
    if as_of is not None:
        ev = ev.filter(ev[time_col] < _ts_literal(as_of))
    null_s = ibis.null().cast("string")
    tp = ev.select(
        customer_id=ev[customer_col].cast("string"),
        at=ev[time_col].cast(_TS),
        is_conv=ibis.literal(0, type="int64"),
        channel=ev[channel_col].cast("string"),
        campaign_id=ev[campaign_col].cast("string") if campaign_col and campaign_col in ev.columns else null_s,
        event=ev[event_col].cast("string") if event_col in ev.columns else null_s,
    )
    conv = _conversions(orders, conversion=conversion, as_of=as_of, statuses=statuses,
                        customer_col=customer_col, order_id_col=order_id_col,
                        order_time_col=order_time_col, value_col=value_col, status_col=status_col)
    marks = conv.select("customer_id", "at", is_conv=ibis.literal(1, type="int64"), channel=null_s,
                        campaign_id=null_s, event=null_s)
    u = tp.union(marks)
    # number of conversions at or before each row (an order sorts before a touch of the same second)
    u = u.mutate(journey=u.is_conv.cumsum(group_by="customer_id", order_by=[u.at, ibis.desc(u.is_conv)]))
    t = u.filter(u.is_conv == 0).drop("is_conv")
    c = conv.select("customer_id", "journey", conversion_at="at", order_id="order_id",
                    conversion_value="value")
    t = t.left_join(c, ["customer_id", "journey"])
    if conversion == "first":
        t = t.filter(t.journey == 0)
    end = ibis.coalesce(t.conversion_at, t.at.max().over(group_by=["customer_id", "journey"]))
    t = t.mutate(end_at=end)
    if lookback_days is not None:
        if not lookback_days > 0:
            raise CRMError(f"lookback_days={lookback_days!r} must be a positive number of days or None")
        t = t.filter(t.at >= t.end_at - ibis.interval(seconds=int(round(lookback_days * _DAY_S))))
    grp = ["customer_id", "journey"]
    order = [t.at, t.channel, t.campaign_id.fill_null(""), t.event.fill_null("")]
    t = t.mutate(
        position=ibis.row_number().over(group_by=grp, order_by=order) + 1,
        n_touches=t.count().over(group_by=grp),
        converted=t.conversion_at.notnull(),
        days_before_end=(t.end_at.epoch_seconds() - t.at.epoch_seconds()).cast("float64") / _DAY_S,
    )
    t = t.select("customer_id", t.journey.cast("int64"), t.position.cast("int64"),
                 t.n_touches.cast("int64"), occurred_at="at", channel="channel", campaign_id="campaign_id",
                 event="event", converted="converted", conversion_at="conversion_at", order_id="order_id",
                 conversion_value="conversion_value", days_before_end="days_before_end")
    return t.order_by(["customer_id", "journey", "position"])


@engine_function("events", "orders", "customers")
def _paths_engine(
    events,
    orders,
    customers=None,
    *,
    lookback_days: float | None = 30.0,
    conversion: str = "first",
    as_of=None,
    touch_events: Sequence[str] | None = None,
    statuses: Sequence[str] | None = ("completed",),
    customer_col: str = "customer_id",
    time_col: str = "occurred_at",
    channel_col: str = "channel",
    campaign_col: str | None = "campaign_id",
    event_col: str = "event",
    order_id_col: str = "order_id",
    order_time_col: str = "ordered_at",
    value_col: str = "amount",
    status_col: str | None = "status",
    signup_col: str = "signup_at",
):
    """One row per journey: its touchpoint path, outcome and touch times (module conventions).

    Parameters
    ----------
    events, orders
        As in :func:`touchpoints` (all other keyword arguments too).
    customers : DataFrame or ibis.Table, optional
        The contact list. When given, journeys *without* any touchpoint are added with an empty
        path ``""``: conversions with no touch in their look-back window, and contacts (signed
        up before ``as_of`` when ``signup_col`` exists) with neither a conversion nor a touch.
        They give the incremental Shapley game its baseline conversion rate; every other model
        ignores empty paths. Without ``customers`` only journeys with a touch are returned.
    signup_col : str
        Sign-up time column of ``customers`` (used only with ``as_of``).

    Returns
    -------
    DataFrame or ibis.Table
        ``customer_id``, ``journey`` (0-based conversion index), ``path`` (channels in time order
        joined by ``" > "``), ``n_touches``, ``touch_days`` (list of float days from each touch
        to the end of the journey, path order), ``first_touch_at``, ``last_touch_at`` (UTC),
        ``converted`` (int 0/1), ``conversion_at`` (UTC), ``order_id``, ``conversion_value``
        (currency, 0 when not converted). Sorted by customer and journey.
    """
    kw = dict(lookback_days=lookback_days, conversion=conversion, as_of=as_of, touch_events=touch_events,
              statuses=statuses, customer_col=customer_col, time_col=time_col, channel_col=channel_col,
              campaign_col=campaign_col, event_col=event_col, order_id_col=order_id_col,
              order_time_col=order_time_col, value_col=value_col, status_col=status_col)
    tp = _touchpoints_engine.__wrapped_engine__(events, orders, **kw)
    g = tp.group_by(["customer_id", "journey"]).aggregate(
        path=collect_by(tp, tp.channel, tp.position).join(SEP),
        n_touches=tp.count(),
        touch_days=collect_by(tp, tp.days_before_end, tp.position),
        first_touch_at=tp.occurred_at.min(),
        last_touch_at=tp.occurred_at.max(),
        converted=tp.converted.cast("int64").max(),
        conversion_at=tp.conversion_at.max(),
        order_id=tp.order_id.max(),
        conversion_value=tp.conversion_value.max().fill_null(0.0),
    )
    cols = ["customer_id", "journey", "path", "n_touches", "touch_days", "first_touch_at", "last_touch_at",
            "converted", "conversion_at", "order_id", "conversion_value"]
    g = g.select(*cols)
    if customers is not None:
        _need(customers, [customer_col], "customers")
        conv = _conversions(orders, conversion=conversion, as_of=as_of, statuses=statuses,
                            customer_col=customer_col, order_id_col=order_id_col,
                            order_time_col=order_time_col, value_col=value_col, status_col=status_col)
        empty = dict(path=ibis.literal(""), n_touches=ibis.literal(0, type="int64"),
                     touch_days=ibis.literal([], type="array<float64>"),
                     first_touch_at=ibis.null().cast(_TS), last_touch_at=ibis.null().cast(_TS))
        keys = g.select("customer_id", "journey")
        c_untouched = conv.anti_join(keys, ["customer_id", "journey"])
        c_untouched = c_untouched.select(
            "customer_id", c_untouched.journey.cast("int64"), **empty,
            converted=ibis.literal(1, type="int64"), conversion_at="at", order_id="order_id",
            conversion_value=c_untouched.value.fill_null(0.0))
        cu = customers
        if as_of is not None and signup_col in cu.columns:
            cu = cu.filter(cu[signup_col] < _ts_literal(as_of))
        cu = cu.select(customer_id=cu[customer_col].cast("string")).distinct()
        cu = cu.anti_join(conv.select("customer_id"), "customer_id").anti_join(keys.select("customer_id"),
                                                                                 "customer_id")
        n_untouched = cu.select(
            "customer_id", journey=ibis.literal(0, type="int64"), **empty,
            converted=ibis.literal(0, type="int64"), conversion_at=ibis.null().cast(_TS),
            order_id=ibis.null().cast("string"), conversion_value=ibis.literal(0.0))
        g = g.union(c_untouched.select(*cols), n_untouched.select(*cols))
    return g.order_by(["customer_id", "journey"])


def _prune(events, orders, customers, kw: dict):
    """Keep only the rows and columns the journeys need before pandas tables reach the engine."""
    if isinstance(events, pd.DataFrame) and kw["channel_col"] in events.columns:
        cols = [kw["customer_col"], kw["time_col"], kw["channel_col"], kw["campaign_col"], kw["event_col"]]
        cols = list(dict.fromkeys(c for c in cols if c and c in events.columns))
        events = events.loc[events[kw["channel_col"]].notna(), cols]
    if isinstance(orders, pd.DataFrame):
        cols = [kw["customer_col"], kw["order_id_col"], kw["order_time_col"], kw["value_col"], kw["status_col"]]
        orders = orders[list(dict.fromkeys(c for c in cols if c and c in orders.columns))]
    if isinstance(customers, pd.DataFrame):
        cols = [kw["customer_col"], kw.get("signup_col")]
        customers = customers[list(dict.fromkeys(c for c in cols if c and c in customers.columns))]
    return events, orders, customers


def touchpoints(
    events,
    orders,
    *,
    lookback_days: float | None = 30.0,
    conversion: str = "first",
    as_of=None,
    touch_events: Sequence[str] | None = None,
    statuses: Sequence[str] | None = ("completed",),
    customer_col: str = "customer_id",
    time_col: str = "occurred_at",
    channel_col: str = "channel",
    campaign_col: str | None = "campaign_id",
    event_col: str = "event",
    order_id_col: str = "order_id",
    order_time_col: str = "ordered_at",
    value_col: str = "amount",
    status_col: str | None = "status",
):
    kw = {k: v for k, v in locals().items() if k not in ("events", "orders")}
    events, orders, _ = _prune(events, orders, None, kw)
    return _touchpoints_engine(events, orders, **kw)


def paths(
    events,
    orders,
    customers=None,
    *,
    lookback_days: float | None = 30.0,
    conversion: str = "first",
    as_of=None,
    touch_events: Sequence[str] | None = None,
    statuses: Sequence[str] | None = ("completed",),
    customer_col: str = "customer_id",
    time_col: str = "occurred_at",
    channel_col: str = "channel",
    campaign_col: str | None = "campaign_id",
    event_col: str = "event",
    order_id_col: str = "order_id",
    order_time_col: str = "ordered_at",
    value_col: str = "amount",
    status_col: str | None = "status",
    signup_col: str = "signup_at",
):
    kw = {k: v for k, v in locals().items() if k not in ("events", "orders", "customers")}
    events, orders, customers = _prune(events, orders, customers, kw)
    return _paths_engine(events, orders, customers, **kw)


touchpoints.__doc__ = _touchpoints_engine.__doc__
paths.__doc__ = _paths_engine.__doc__


@engine_function("journeys")
def aggregate_paths(journeys, *, path_col: str = "path", converted_col: str = "converted",
                    value_col: str = "conversion_value"):
    """Aggregate a journey table into the path-table exchange format.

    Parameters
    ----------
    journeys : DataFrame or ibis.Table
        Output of :func:`paths` (one row per journey).
    path_col, converted_col, value_col : str
        Path string, 0/1 conversion flag and conversion value (currency).

    Returns
    -------
    DataFrame or ibis.Table
        ``path``, ``total_conversions``, ``total_conversion_value`` (currency, exact sum),
        ``total_null`` (journeys that did not convert). Sorted by path.
    """
    _need(journeys, [path_col, converted_col], "journeys")
    t = journeys
    conv = t[converted_col].cast("int64")
    value = (t[value_col].fill_null(0.0) * conv) if value_col in t.columns else ibis.literal(0.0)
    t = t.mutate(_p=t[path_col].cast("string"), _c=conv, _v=value.cast("float64"))
    g = t.group_by(path=t._p).aggregate(
        total_conversions=t._c.sum(),
        total_conversion_value=exact_sum(t._v),
        total_null=(1 - t._c).sum(),
    )
    return g.order_by("path")
