"""Sessions: cut each customer's event stream where the gap between events exceeds a timeout."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

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
        Column giving the input order. Only used to order an engine table's output (pandas
        output keeps the input row order); events with equal timestamps always share a session.
    session_col : str
        Output column of the session id ``"<customer>:<n>"``; an existing column of that name
        (such as the log's own ``session_id``) is replaced.
    index_col : str
        Output column of ``n``: the session's number within the customer (1, 2, ...).

    Returns
    -------
    DataFrame or ibis.Table
        Every input column plus ``session_col`` and ``index_col``. Pandas output is a copy of
        the input (same rows, order and index); engine output is ordered by customer, time and
        ``row_col``.

    Raises
    ------
    CRMError
        Missing columns, non-timestamp or missing times, missing customer ids.

    Examples
    --------
    Customer a comes back 40 minutes after adding to the cart: a second visit.

    >>> t = pd.Timestamp("2025-03-03 09:00", tz="UTC")
    >>> events = pd.DataFrame({"customer_id": ["a", "a", "a", "b"],
    ...                        "occurred_at": t + pd.to_timedelta([0, 2, 42, 0], unit="min"),
    ...                        "event": ["site_visit", "add_to_cart", "purchase", "site_visit"]})
    >>> sessions(events, "30min")[["customer_id", "event", "session_id"]]
      customer_id        event session_id
    0           a   site_visit        a:1
    1           a  add_to_cart        a:1
    2           a     purchase        a:2
    3           b   site_visit        b:1
    """
    us = C.to_microseconds(timeout, "timeout")
    if C.is_lazy(events):
        C.check_columns(events, "events", {"customer_col": customer_col, "time_col": time_col,
                                           "row_col": row_col})
        C.prepare(events, "events", {"time_col": time_col})
        t = _with_sessions(events, us, customer_col, time_col, session_col, index_col)
        cols = [c for c in events.columns if c not in (session_col, index_col)]
        order = [customer_col, time_col, *([row_col] if row_col else [])]
        return t.select(*cols, session_col, index_col).order_by(order)
    # pandas: only the two key columns are used; the rest stays in pandas
    slim, rc = C.prepare(events, "events", {"customer_col": customer_col, "time_col": time_col},
                         None, required=("customer_col", "time_col"))
    keys = _session_keys_numpy(slim[customer_col], slim[time_col], us)
    if keys is None:  # ids that are not text, or nanoseconds before 1970: the engine's rules
        keys = _session_keys(slim, us, customer_col, time_col, session_col, index_col)
        keys = (keys[session_col].to_numpy(), keys[index_col].to_numpy())
    out = events.copy()
    out[session_col], out[index_col] = keys
    return out


def _session_keys_numpy(customers: pd.Series, times: pd.Series, us: int):
    """The engine's session keys of pandas input, computed in numpy (same values).

    One sort of (customer, time), a new session where the customer changes or the gap exceeds
    ``us`` microseconds, a running count per customer; the ``"<customer>:<n>"`` strings are
    made once per session, not once per event (1M events: about 0.8 CPU s on the engine, with
    its string column back to pandas, against about 0.25 s here). Returns ``(session ids,
    session indices)`` in input order, or None when the engine must decide: ids that are not
    all text (the engine's text cast), or times the engine refuses
    (:func:`~crm_research.journey._common.numpy_micros`).
    """
    n = len(customers)
    got = C.text_codes(customers) if n else None
    ticks = C.numpy_micros(times) if got is not None else None
    if ticks is None:
        return None
    codes, uniques = got
    order = np.lexsort((ticks, codes))
    c, u = codes[order], ticks[order]
    first = np.ones(n, dtype=bool)
    first[1:] = c[1:] != c[:-1]
    new = first.copy()
    new[1:] |= (u[1:] - u[:-1]) > us
    ordinal = np.cumsum(new) - 1
    index = ordinal - ordinal[first][np.cumsum(first) - 1] + 1
    starts = np.flatnonzero(new)
    labels = np.array([f"{a}:{b}" for a, b in zip(uniques[c[starts]], index[starts].tolist(), strict=True)], dtype=object)
    back = np.empty(n, dtype=np.int64)
    back[order] = np.arange(n, dtype=np.int64)
    return labels[ordinal[back]], index[back].astype(np.int64)


def _with_sessions(t, us, customer_col, time_col, session_col, index_col):
    # Equal timestamps need no tie-break: a zero gap never starts a session, and the running
    # count uses a RANGE frame, so tied rows share the count whatever their order.
    t = t.mutate(_ju=C.micros(t[time_col], C.on_duckdb(t)))
    prev = t._ju.lag().over(ibis.window(group_by=customer_col, order_by="_ju"))
    t = t.mutate(_jnew=(prev.isnull() | (t._ju - prev > us)).cast("int64"))
    t = t.mutate(_jidx=t._jnew.sum().over(ibis.window(group_by=customer_col, order_by="_ju",
                                                      range=(None, 0))))
    return t.mutate(**{session_col: t[customer_col].cast("string").concat(":", t._jidx.cast("string")),
                       index_col: t._jidx})


@engine_function("events")
def _session_keys(events, us, customer_col, time_col, session_col, index_col):
    t = _with_sessions(events, us, customer_col, time_col, session_col, index_col)
    return t.select(C.ROW, session_col, index_col).order_by(C.ROW).drop(C.ROW)


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
    duckdb = C.on_duckdb(events)
    g = g.mutate(duration_seconds=C.seconds(C.micros(g.ended_at, duckdb) - C.micros(g.started_at, duckdb)))
    return g.select(session_col, customer_col, "started_at", "ended_at", "duration_seconds",
                    "n_events").order_by([customer_col, "started_at", session_col])
