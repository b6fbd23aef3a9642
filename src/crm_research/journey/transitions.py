"""First-order transitions between consecutive events of each path.

Every path contributes ``start → e1``, ``e1 → e2``, ..., ``en → end``: a path of *n* events gives
*n + 1* transitions (a single-event path gives ``start → e1`` and ``e1 → end``). Self-loops
(``view → view``) are kept; ``collapse_loops=True`` first merges each run of the same event into
one visit (its time to the next event is measured from the run's *last* event).
"""

from __future__ import annotations

import functools
from fractions import Fraction

import ibis
import numpy as np
import pandas as pd

from crm_research.engine import engine_function, materialize
from crm_research.journey import _common as C

__all__ = ["transitions", "START", "END"]

START = "(start)"
END = "(end)"


def transitions(events, *, path_col: str = "customer_id", time_col: str = "occurred_at",
                event_col: str = "event", row_col: str | None = None,
                by: str | list[str] | None = None, collapse_loops: bool = False,
                start_state: str = START, end_state: str = END, times: bool = True):
    """Transition counts, probabilities and time between consecutive events.

    Parameters
    ----------
    events : DataFrame or ibis.Table
        Event log, one row per event.
    path_col : str
        Path column: ``customer_id`` (users) or ``session_id`` (sessions). Null paths ignored.
    time_col, event_col : str
        Timestamp and event-name columns.
    row_col : str, optional
        Input-order column breaking timestamp ties (pandas input: its row order).
    by : str or list of str, optional
        Split columns; a transition takes the value at its *from* event (the start transition:
        at the path's first event).
    collapse_loops : bool
        Merge runs of the same event before counting (removes self-loops).
    start_state, end_state : str
        Names of the explicit start and end states.
    times : bool
        Compute the times between the events (default). ``False`` leaves ``median_seconds`` and
        ``p90_seconds`` null and skips their exact quantiles: the counts alone cost about half
        as much on a large log.

    Returns
    -------
    DataFrame or ibis.Table
        ``by`` columns, ``from_event``, ``to_event``, ``n`` (transitions), ``probability``
        (``n`` over all transitions leaving ``from_event`` in the group; 0..1),
        ``median_seconds`` and ``p90_seconds`` (time between the two events, seconds, linear
        interpolation between order statistics; null for start and end transitions). Sorted by
        group, ``from_event``, ``to_event``.

    Examples
    --------
    >>> t = pd.Timestamp("2025-03-03 09:00", tz="UTC")
    >>> events = pd.DataFrame({"customer_id": ["a", "a", "a", "b", "b", "c"],
    ...                        "session_id": ["a1", "a1", "a1", "b1", "b1", "c1"],
    ...                        "occurred_at": t + pd.to_timedelta([0, 2, 5, 0, 3, 1], unit="min"),
    ...                        "event": ["site_visit", "add_to_cart", "purchase",
    ...                                  "site_visit", "add_to_cart", "site_visit"]})
    >>> transitions(events)[["from_event", "to_event", "n", "probability"]].round(3)
        from_event     to_event  n  probability
    0      (start)   site_visit  3        1.000
    1  add_to_cart        (end)  1        0.500
    2  add_to_cart     purchase  1        0.500
    3     purchase        (end)  1        1.000
    4   site_visit        (end)  1        0.333
    5   site_visit  add_to_cart  2        0.667
    """
    by = C.as_list(by)
    cols = {"path_col": path_col, "time_col": time_col, "event_col": event_col,
            **{f"by[{i}]": b for i, b in enumerate(by)}}
    prepared, rc = C.prepare(events, "events", cols, row_col)
    if not by and not C.is_lazy(prepared):
        out = _transitions_numpy(prepared, path_col, time_col, event_col, rc, bool(collapse_loops),
                                 str(start_state), str(end_state), bool(times))
        if out is not None:
            return out
    prepared = C.for_engine(prepared)
    return _transitions(prepared, path_col, time_col, event_col, rc, by, bool(collapse_loops),
                        str(start_state), str(end_state), bool(times))


@engine_function("events")
def _transitions(events, path_col, time_col, event_col, row_col, by, collapse, start, end, times=True):
    e = C.base(events, path_col=path_col, time_col=time_col, event_col=event_col,
               row_col=row_col, extra=by)
    w = C.path_window(e)
    x = e.mutate(_jnext=e[C.E].lead().over(w), _jnu=e[C.U].lead().over(w),
                 _jfirst=e[C.E].lag().over(w).isnull())
    dt = C.seconds(x._jnu - x[C.U])
    if collapse:
        keep = x._jnext.isnull() | (x._jnext != x[C.E])
        x = x.mutate(_jkeep=keep.cast("int64"), _jdt=keep.ifelse(dt, ibis.null("float64")))
    else:
        x = x.mutate(_jkeep=ibis.literal(1, type="int64"), _jdt=dt)
    x = x.mutate(_jfirst=x._jfirst.cast("int64")).select(*by, C.E, "_jnext", "_jkeep", "_jfirst", "_jdt")
    if times:
        # stored between the window and the grouped quantiles: as one pipeline DuckDB ran out of
        # 6 GB on 50M events (see engine.materialize)
        x = materialize(x)
        g = x.group_by([*by, C.E, "_jnext"]).aggregate(
            n=x._jkeep.sum(), _jnf=x._jfirst.sum(), _jq=x._jdt.quantile([0.5, 0.9]))
        g = g.mutate(median_seconds=g._jq[0].cast("float64"), p90_seconds=g._jq[1].cast("float64"))
    else:
        g = x.group_by([*by, C.E, "_jnext"]).aggregate(n=x._jkeep.sum(), _jnf=x._jfirst.sum())
        g = g.mutate(median_seconds=ibis.null("float64"), p90_seconds=ibis.null("float64"))
    main = g.filter(g.n > 0).select(
        *by, from_event=g[C.E], to_event=g._jnext.fill_null(end), n=g.n,
        median_seconds=g.median_seconds, p90_seconds=g.p90_seconds)
    s = g.group_by([*by, C.E]).aggregate(n=g._jnf.sum())
    s = s.filter(s.n > 0).select(
        *by, from_event=ibis.literal(start, type="string"), to_event=s[C.E], n=s.n,
        median_seconds=ibis.null("float64"), p90_seconds=ibis.null("float64"))
    u = main.union(s)
    tot = u.n.sum().over(ibis.window(group_by=[*by, "from_event"]))
    u = u.mutate(probability=u.n.cast("float64") / tot.cast("float64"))
    return u.select(*by, "from_event", "to_event", "n", "probability", "median_seconds",
                    "p90_seconds").order_by([*by, "from_event", "to_event"])


def _transitions_numpy(prepared, path_col, time_col, event_col, row_col, collapse, start, end, times):
    """The engine's transitions table of pandas input without ``by``, computed in numpy (same
    values and order).

    One sort into journey order, then counts of (event, next event) codes and the quantiles of
    each pair's sorted gaps; the engine's window, stored table and grouped quantiles cost about
    twice as much on 1M events. None when the engine must decide
    (:func:`~crm_research.journey._common.journey_order`), when an event name is null, when one
    equals ``start`` or ``end`` (its rows would merge with the start or end rows), or when the
    engine's quantiles are not the interpolation :func:`_interpolation` knows.
    """
    o = C.journey_order(prepared, path_col, time_col, event_col, row_col)
    if o is None:
        return None
    names, e, p, u = o["names"], o["event"], o["path"], o["micros"]
    if (e < 0).any() or start in names or end in names:
        return None
    fused = _interpolation() if times else None
    if times and fused is None:
        return None
    k, n = len(names), len(e)
    same = np.zeros(n, dtype=bool)  # the next event belongs to the same path
    same[:-1] = p[1:] == p[:-1]
    first = np.ones(n, dtype=bool)
    first[1:] = ~same[:-1]
    nxt = np.full(n, k, dtype=np.int64)  # code k: the end state
    nxt[:-1][same[:-1]] = e[1:][same[:-1]]
    keep = (nxt != e) if collapse else np.ones(n, dtype=bool)
    pair = e * (k + 1) + nxt
    if k * (k + 1) > 2 * n + 1024:  # many names: number the pairs that occur, not every pair
        ids, pair = np.unique(pair, return_inverse=True)
    else:
        ids = np.arange(k * (k + 1))
    counts = np.bincount(pair[keep], minlength=len(ids))
    groups = np.flatnonzero(counts)
    median = np.full(len(groups), np.nan)
    p90 = np.full(len(groups), np.nan)
    if times:
        timed = np.flatnonzero(keep & same)
        gap_us = u[timed + 1] - u[timed]
        key = pair[timed]
        span = int(gap_us.max()) + 1 if len(gap_us) else 1
        if len(ids) * span < 2**62:  # sorted by pair, then gap, as one integer: one sort
            gap_us = np.sort(key * span + gap_us) % span
        else:
            by_gap = np.argsort(gap_us)
            gap_us = gap_us[by_gap[np.argsort(key[by_gap], kind="stable")]]
        gaps = gap_us.astype(np.float64) / 1e6
        size = np.bincount(key, minlength=len(ids))
        offset = np.concatenate([[0], np.cumsum(size)[:-1]])
        has = size[groups] > 0
        for q, out in ((0.5, median), (0.9, p90)):
            out[has] = _quantile_cont(gaps, offset[groups[has]], size[groups[has]], q, fused)
    from_code, to_code = ids[groups] // (k + 1), ids[groups] % (k + 1)
    starts = np.bincount(e[first], minlength=k)
    s_codes = np.flatnonzero(starts)
    frm = np.concatenate([names[from_code], np.full(len(s_codes), start, dtype=object)])
    to = np.concatenate([np.append(names, end)[to_code], names[s_codes]])
    cnt = np.concatenate([counts[groups], starts[s_codes]]).astype(np.int64)
    leave = np.bincount(from_code, weights=counts[groups], minlength=k).astype(np.int64)
    total = np.concatenate([leave[from_code], np.full(len(s_codes), starts.sum())])
    out = pd.DataFrame({
        "from_event": frm, "to_event": to, "n": cnt,
        "probability": cnt.astype(np.float64) / total.astype(np.float64),
        "median_seconds": np.concatenate([median, np.full(len(s_codes), np.nan)]),
        "p90_seconds": np.concatenate([p90, np.full(len(s_codes), np.nan)]),
    })
    return out.sort_values(["from_event", "to_event"], ignore_index=True)


def _quantile_cont(values, offset, size, q, fused: bool = True):
    """The engine's ``quantile_cont`` of each group of sorted ``values[offset:offset + size]``,
    bit for bit: the order statistics at ``(size − 1)·q``, interpolated as ``lo·(1 − d) + hi·d``,
    which DuckDB's build computes as one fused multiply-add, ``fma(lo, 1 − d, hi·d)``, when
    ``fused`` (see :func:`_interpolation`)."""
    rn = (size - 1).astype(np.float64) * q
    lo = np.floor(rn)
    hi = np.ceil(rn)
    d = rn - lo
    a = values[offset + lo.astype(np.int64)]
    b = values[offset + hi.astype(np.int64)]
    out = a.copy()
    mid = lo != hi
    a, b, d = a[mid], b[mid], d[mid]
    out[mid] = _fma(a, 1.0 - d, b * d) if fused else a * (1.0 - d) + b * d
    return out


_SPLIT = 134217729.0  # 2**27 + 1: Veltkamp's split of a double into two halves of 26 bits


def _fma(a, b, c):
    """``a·b + c`` rounded once, as a fused multiply-add does, for arrays of finite doubles far
    from overflow (below about 1e300).

    ``a·b`` is split exactly into ``p + e`` (Dekker's product) and ``p + c`` into ``s + t``
    (Knuth's sum), so the exact result is ``s + t + e``; when ``t + e`` is itself a double, one
    rounded addition ``s + (t + e)`` gives it. The rare elements where it is not are computed
    exactly in rationals.
    """
    p = a * b
    x = _SPLIT * a
    ah = x - (x - a)
    al = a - ah
    x = _SPLIT * b
    bh = x - (x - b)
    bl = b - bh
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    s, t = _two_sum(p, c)
    w, r = _two_sum(t, e)
    out = s + w
    for i in np.flatnonzero(r != 0):
        out[i] = float(Fraction(float(a[i])) * Fraction(float(b[i])) + Fraction(float(c[i])))
    return out


def _two_sum(a, b):
    """``(s, t)``: ``s = a + b`` rounded and its exact error ``t`` (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@functools.cache
def _interpolation() -> bool | None:
    """How this DuckDB build interpolates ``quantile_cont``: True for the fused
    ``fma(lo, 1 − d, hi·d)``, False for ``lo·(1 − d) + hi·d`` rounded twice, None for neither
    (then the engine computes the quantiles). Asked once per process, on two values whose
    0.9-quantile tells the two apart."""
    from crm_research.engine import collect

    lo, hi = 4.211888, 5.543823
    t = ibis.memtable(pd.DataFrame({"x": [lo, hi]}))
    got = float(collect(t.aggregate(q=t.x.quantile(0.9)))["q"].iloc[0])
    a, d = np.array([lo]), np.array([0.9])
    fused, plain = float(_fma(a, 1.0 - d, hi * d)[0]), lo * (1.0 - 0.9) + hi * 0.9
    return True if got == fused else False if got == plain else None
