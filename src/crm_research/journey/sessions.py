"""Sessions: cut each customer's event stream where the gap between events exceeds a timeout."""

from __future__ import annotations

import ibis

from crm_research.engine import engine_function
from crm_research.journey import _common as C

__all__ = ["sessions", "session_summary"]


def sessions(events, timeout="30min", *, customer_col: str = "customer_id",
             time_col: str = "occurred_at", row_col: str | None = None,
             session_col: str = "session_id", index_col: str = "session_index"):
    """Assign every event to a session: a new session starts after a gap strictly longer than
    ``timeout``.

    Parameters
    ----------
    events : DataFrame or ibis.Table
        Event log, one row per event.
    timeout : str or Timedelta
        Inactivity that ends a session (``"30min"``). A gap exactly equal to the timeout keeps
        the session going; a longer one starts a new session.
    customer_col, time_col : str
        Columns of the person and the event timestamp (UTC).
    row_col : str, optional
        Column giving the input order, used to order events with equal timestamps. Pandas input
        uses its row order when None; for an engine table without it, equal timestamps are
        ordered by nothing in particular (the session ids are unaffected: a zero gap never
        splits).
    session_col : str
        Output column of the session id ``"<customer>:<n>"``; an existing column of that name
        (such as the log's own ``session_id``) is replaced.
    index_col : str
        Output column of ``n``: the session's number within the customer (1, 2, ...).

    Returns
    -------
    DataFrame or ibis.Table
        Every input column plus ``session_col`` and ``index_col``. Pandas output keeps the input
        row order (index reset); engine output is ordered by customer, time and ``row_col``.

    Raises
    ------
    CRMError
        Missing columns, non-timestamp or missing times, missing customer ids.
    """
    us = C.to_microseconds(timeout, "timeout")
    prepared, rc = C.prepare(events, "events", {"customer_col": customer_col, "time_col": time_col},
                             row_col, keep="*", required=("customer_col", "time_col"))
    return _sessions(prepared, us, customer_col, time_col, rc, session_col, index_col,
                     keep_input_order=not C.is_lazy(events))


@engine_function("events")
def _sessions(events, us, customer_col, time_col, row_col, session_col, index_col, keep_input_order):
    t = events
    order = [t[time_col]] + ([t[row_col]] if row_col is not None else [])
    w = ibis.window(group_by=t[customer_col], order_by=order)
    prev = t[time_col].lag().over(w)
    t = t.mutate(_jnew=(prev.isnull() | (t[time_col] > prev + C.interval(us))).cast("int64"))
    cum = ibis.window(group_by=t[customer_col], order_by=[t[c] for c in (time_col, row_col) if c],
                      rows=(None, 0))
    t = t.mutate(_jidx=t._jnew.sum().over(cum))
    cols = [c for c in events.columns if c not in (session_col, index_col, C.ROW)]
    out = t.select(
        *cols,
        **{session_col: t[customer_col].cast("string").concat(":", t._jidx.cast("string")),
           index_col: t._jidx},
        **({C.ROW: t[C.ROW]} if keep_input_order else {}),
    )
    if keep_input_order:
        return out.order_by(C.ROW).drop(C.ROW)
    return out.order_by([customer_col, *[c for c in (time_col, row_col) if c]])


def session_summary(events, *, session_col: str = "session_id", customer_col: str = "customer_id",
                    time_col: str = "occurred_at"):
    """One row per session: customer, start, end, duration and number of events.

    Parameters
    ----------
    events : DataFrame or ibis.Table
        Events with a session column (the output of :func:`sessions`, or the log's own
        ``session_id``); rows with a null session are ignored.
    session_col, customer_col, time_col : str
        Column names.

    Returns
    -------
    DataFrame or ibis.Table
        ``session_col``, ``customer_col``, ``started_at``, ``ended_at`` (UTC),
        ``duration_seconds`` (seconds), ``n_events``; sorted by ``customer_col``, start and
        session.
    """
    C.check_columns(events, "events", {"session_col": session_col, "customer_col": customer_col,
                                       "time_col": time_col})
    return _session_summary(events, session_col, customer_col, time_col)


@engine_function("events")
def _session_summary(events, session_col, customer_col, time_col):
    t = events.filter(events[session_col].notnull())
    g = t.group_by(t[session_col]).aggregate(
        **{customer_col: t[customer_col].min()},
        started_at=t[time_col].min(),
        ended_at=t[time_col].max(),
        n_events=t.count(),
    )
    g = g.mutate(duration_seconds=C.seconds_between(g.ended_at, g.started_at))
    return g.select(session_col, customer_col, "started_at", "ended_at", "duration_seconds",
                    "n_events").order_by([customer_col, "started_at", session_col])
