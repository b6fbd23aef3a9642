"""Funnels: how many paths (customers or sessions) reach each step, in order or anywhere.

Conventions
-----------
* **Closed funnel** (``mode="closed"``): a path reaches step *j* when steps 1..j occur in that
  order at strictly increasing positions of the path. Matching is greedy and earliest: step 1
  is the path's first occurrence of step 1, step *j* the first occurrence of step *j* after the
  matched step *j - 1* (events with equal timestamps are ordered by input order). One event
  matches at most one step, so a step listed twice needs two events.
* **Open funnel** (``mode="open"``): a path reaches step *j* when the step occurs anywhere.
* **Conversion window** (``window``): closed, step *j* must happen at most ``window`` after the
  matched step 1 (inclusive); open, at most ``window`` after the path's first funnel event.
* **Groups** (``by``, ``period``): a path belongs to the group of its *entry event*: its first
  step-1 event, or, for paths without one, its first funnel event.
* Paths whose key is null (events outside any session, say) are ignored.

Rates are proportions of paths, with Wilson score intervals:

* ``conversion`` = P(reach step j | reached step j - 1) = ``n_from_prev / n_prev``; the
  "previous step" of step 1 is "any funnel event" (``n_prev = n_paths``), so step 1's
  conversion is the share of paths that entered the funnel at all;
* ``overall_conversion`` = P(reach step j | reached step 1) = ``n_from_first / n_first``;
* ``share_of_paths`` = ``n / n_paths`` (paths with at least one funnel event).

In a closed funnel reaching step j implies reaching the earlier steps, so ``n_from_prev = n``;
in an open funnel it need not.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from crm_research.engine import engine_function, first_by
from crm_research.errors import ParameterError
from crm_research.journey import _common as C
from crm_research.stats import wilson_expr, z_value

__all__ = ["funnel", "funnel_paths", "funnel_from_paths"]

MODES = ("closed", "open")


def _args(steps, mode, window, by, period):
    steps = C.check_steps(steps)
    if mode not in MODES:
        raise ParameterError(f"mode must be 'closed' or 'open', got {mode!r}")
    us = None if window is None else C.to_microseconds(window, "window")
    by = C.as_list(by)
    if period is not None and period not in C.PERIODS:
        raise ParameterError(f"period must be one of {sorted(C.PERIODS)} or None, got {period!r}")
    if period is not None and "period" in by:
        raise ParameterError("by already holds a column named 'period': rename it or drop period=")
    return steps, us, by


def funnel_paths(events, steps, *, path_col: str = "customer_id", mode: str = "closed",
                 window=None, by: str | list[str] | None = None, period: str | None = None,
                 time_col: str = "occurred_at", event_col: str = "event",
                 row_col: str | None = None, sort: bool = True):
    """One row per path: when it reached each funnel step.

    Parameters
    ----------
    events : DataFrame or ibis.Table
        Event log, one row per event.
    steps : list of str
        Event names of the funnel steps, in order.
    path_col : str
        Column whose values are the paths: ``customer_id`` (users) or ``session_id`` (sessions).
    mode : {"closed", "open"}
        See the module docstring.
    window : str or Timedelta, optional
        Conversion window (``"7D"``); None for no limit.
    by : str or list of str, optional
        Columns whose value at the path's entry event are reported (and split :func:`funnel`).
    period : {"D", "W", "M", "Q", "Y"}, optional
        Adds a ``period`` column: the calendar period (UTC; weeks start on Monday) of the entry
        event.
    time_col, event_col : str
        Timestamp and event-name columns.
    row_col : str, optional
        Input-order column breaking timestamp ties (pandas input: its row order).
    sort : bool
        Sort the rows by ``path_col`` (default). ``False`` leaves an engine table unsorted: cheaper
        when it is only counted further (:func:`funnel_from_paths`).

    Returns
    -------
    DataFrame or ibis.Table
        ``path_col``, the ``by`` columns, ``period`` (if asked), ``entered_at`` (UTC, entry
        event), ``depth`` (closed: steps reached in order; open: distinct steps reached) and
        ``reached_at_1`` .. ``reached_at_<k>`` (UTC time each step was reached, null if not).
        Only paths with at least one funnel event; sorted by ``path_col`` unless ``sort=False``.

    See Also
    --------
    funnel_from_paths : the funnel table counted from these rows.
    """
    steps, us, by = _args(steps, mode, window, by, period)
    cols = {"path_col": path_col, "time_col": time_col, "event_col": event_col,
            **{f"by[{i}]": b for i, b in enumerate(by)}}
    prepared, rc = C.prepare(events, "events", cols, row_col)
    prepared = C.for_engine(prepared)
    return _funnel_paths(prepared, steps, path_col, mode, us, by, period, time_col, event_col, rc, sort)


@engine_function("events")
def _funnel_paths(events, steps, path_col, mode, us, by, period, time_col, event_col, row_col, sort=True):
    per = per_path(events, steps, path_col=path_col, mode=mode, window_us=us, by=by, period=period,
                   time_col=time_col, event_col=event_col, row_col=row_col)
    k = len(steps)
    cols = {path_col: per[C.P], **{b: per[b] for b in by}}
    if period:
        cols["period"] = per.period
    out = per.select(**cols, entered_at=per._jentry, depth=per._jdepth,
                     **{f"reached_at_{j}": per[f"_jt{j}"] for j in range(1, k + 1)})
    return out.order_by(path_col) if sort else out


def _entry(mk, steps: list[str], by: list[str], period: str | None) -> ir.Table:
    """One row per path with a funnel event: its entry (``_jentry``, ``by`` values, ``period``)
    and its first step-1 event (``_jk0``, ``_jk1``: order key; ``_jt1``: time; null without
    one). ``mk(events_in=...)`` builds the internal view (:func:`crm_research.journey._common.base`).
    """
    e = mk(events_in=steps)
    is1 = e[C.E] == steps[0]
    names = C.order_names(e)
    o = C.order_keys(e)
    entry_key = [is1.ifelse(0, 1), *o]
    # the entry event's time and ``by`` values as one struct: one ordered pick instead of one
    # per column (300k contacts' visits: 4 columns, the pick was a quarter of the funnel's time)
    at_entry = ibis.struct({"t": e[C.T], **{f"v{i}": e[c] for i, c in enumerate(by)}})
    paths = e.group_by(C.P).aggregate(
        _jentry_row=first_by(e, at_entry, entry_key, include_null=True),
        _jk0=e[names[0]].min(where=is1), _jk1=first_by(e, e[names[1]], o, where=is1),
        _jt1=e[C.T].min(where=is1),
    )
    row = paths._jentry_row
    paths = paths.select(C.P, _jentry=row["t"], _jk0=paths._jk0, _jk1=paths._jk1, _jt1=paths._jt1,
                         **{c: row[f"v{i}"] for i, c in enumerate(by)})
    if period is not None:
        paths = paths.mutate(period=C.period_start(paths._jentry, period))
    return paths.mutate(_jstart=paths._jk0)


def _closed_levels(mk, entry: ir.Table, steps: list[str], window_us: int | None,
                   keys: list[str]) -> list[ir.Table]:
    """Greedy earliest matching, one table per step: the paths that reached it.

    Level *j* holds ``_jp``, the group ``keys`` (carried from the entry, which for a path with a
    step 1 is its first step-1 event), ``_jt<j>`` (time reached) and the order key of the
    matched event (``_jk0``, ``_jk1``), so the next step is searched strictly after it. No
    window function: a candidate is later when its (time, tie-break) tuple is greater.
    """
    level = entry.filter(entry._jk0.notnull())
    levels = [level]
    for j in range(2, len(steps) + 1):
        # the candidates of step j from one view of the funnel events without the ``by``
        # columns (shared by every level; with them, friction's view of 50M events was stored
        # whole and spilled)
        b = mk(events_in=steps, extra=())
        names = C.order_names(b)
        cand = b.filter(b[C.E] == steps[j - 1]).select(C.P, C.T, *names)
        prev = level.select(C.P, *keys, _jp0="_jk0", _jp1="_jk1", _jstart="_jstart")
        jn = cand.join(prev, C.P)
        cond = C.lexi_greater([jn[n] for n in names], [jn._jp0, jn._jp1])
        if window_us is not None:
            cond &= jn[C.U] <= jn._jstart + window_us
        jn = jn.filter(cond)
        ok = [jn[n] for n in names]
        level = jn.group_by([C.P, *keys]).aggregate(
            _jk0=jn[names[0]].min(), _jk1=first_by(jn, jn[names[1]], ok),
            _jstart=jn._jstart.min(), **{f"_jt{j}": jn[C.T].min()})
        levels.append(level)
    return levels


def per_path(events: ir.Table, steps: list[str], *, path_col: str, mode: str, window_us: int | None,
             by: list[str], period: str | None, time_col: str, event_col: str,
             row_col: str | None) -> ir.Table:
    """Per-path reach times (internal names): ``_jp``, by columns, ``period``, ``_jentry``,
    ``_jt1 .. _jtk`` and ``_jdepth``. Shared by :func:`funnel_paths`, friction and timing."""
    k = len(steps)
    mk = _maker(events, path_col, time_col, event_col, row_col, by)
    entry = _entry(mk, steps, by, period)
    keep = [C.P, *by, *(["period"] if period else []), "_jentry"]
    if mode == "open":
        per = entry.select(*keep).join(_open_firsts(mk, steps, window_us), C.P)
    else:
        per = entry.select(*keep, "_jt1")
        for j, lv in enumerate(_closed_levels(mk, entry, steps, window_us, [])[1:], start=2):
            per = per.left_join(lv.select(C.P, f"_jt{j}"), C.P).drop(f"{C.P}_right")
    depth = sum(per[f"_jt{j}"].notnull().cast("int64") for j in range(1, k + 1))
    return per.mutate(_jdepth=depth)


def _maker(events, path_col, time_col, event_col, row_col, by):
    def mk(events_in, extra=by):
        return C.base(events, path_col=path_col, time_col=time_col, event_col=event_col,
                      row_col=row_col, extra=extra, events_in=events_in)
    return mk


def _open_firsts(mk, steps: list[str], window_us: int | None) -> ir.Table:
    """Open funnel: per path the first time of each step (null outside the window)."""
    k = len(steps)
    e = mk(events_in=steps)
    firsts = e.group_by(C.P).aggregate(
        _ju0=e[C.U].min(),
        **{f"_jt{j + 1}": e[C.T].min(where=e[C.E] == s) for j, s in enumerate(steps)},
        **{f"_ju{j + 1}": e[C.U].min(where=e[C.E] == s) for j, s in enumerate(steps)},
    )
    if window_us is not None:
        lim = firsts._ju0 + window_us
        firsts = firsts.mutate(**{
            f"_jt{j}": (firsts[f"_ju{j}"] <= lim).ifelse(firsts[f"_jt{j}"],
                                                        ibis.null(firsts[f"_jt{j}"].type()))
            for j in range(1, k + 1)})
    return firsts.select(C.P, *[f"_jt{j}" for j in range(1, k + 1)])


def funnel(events, steps, *, path_col: str = "customer_id", mode: str = "closed", window=None,
           by: str | list[str] | None = None, period: str | None = None,
           time_col: str = "occurred_at", event_col: str = "event", row_col: str | None = None,
           confidence: float = 0.95):
    """Funnel counts, step and overall conversion, drop-off and Wilson intervals.

    Parameters
    ----------
    events : DataFrame or ibis.Table
        Event log, one row per event.
    steps : list of str
        Event names of the steps, in order (at least one; a name may repeat).
    path_col : str
        Path column: ``customer_id`` for users, ``session_id`` for sessions.
    mode : {"closed", "open"}
        Closed: steps in order (earliest match); open: each step anywhere. See the module doc.
    window : str or Timedelta, optional
        Conversion window measured from the path's step 1 (closed) or first funnel event (open).
    by : str or list of str, optional
        Split columns (segment, platform, channel, cohort ...): a path counts in the group of its
        entry event's value.
    period : {"D", "W", "M", "Q", "Y"}, optional
        Also split by the calendar period (UTC) of the entry event (column ``period``).
    time_col, event_col : str
        Timestamp and event-name columns.
    row_col : str, optional
        Input-order column breaking timestamp ties (pandas input: its row order).
    confidence : float
        Level of the Wilson intervals (0.95).

    Returns
    -------
    DataFrame or ibis.Table
        One row per group and step: the ``by`` columns (and ``period``), ``step_index`` (1..k),
        ``step``, ``n_paths`` (paths with any funnel event), ``n`` (paths reaching the step),
        ``n_prev`` (reaching the previous step; at step 1: ``n_paths``), ``n_from_prev``
        (reaching both), ``conversion`` (``n_from_prev / n_prev``), ``conversion_low`` /
        ``conversion_high``, ``drop_off`` (``n_prev - n_from_prev``), ``drop_off_rate``
        (``1 - conversion``), ``n_first`` (paths reaching step 1), ``n_from_first``,
        ``overall_conversion`` (``n_from_first / n_first``), ``overall_low`` /
        ``overall_high``, ``share_of_paths`` (``n / n_paths``). Rates are fractions (0..1).
        Sorted by group then step.

    Examples
    --------
    Three visits reach the site, two of them the cart, one of those buys:

    >>> t = pd.Timestamp("2025-03-03 09:00", tz="UTC")
    >>> events = pd.DataFrame({"customer_id": ["a", "a", "a", "b", "b", "c"],
    ...                        "session_id": ["a1", "a1", "a1", "b1", "b1", "c1"],
    ...                        "occurred_at": t + pd.to_timedelta([0, 2, 5, 0, 3, 1], unit="min"),
    ...                        "event": ["site_visit", "add_to_cart", "purchase",
    ...                                  "site_visit", "add_to_cart", "site_visit"]})
    >>> f = funnel(events, ["site_visit", "add_to_cart", "purchase"], path_col="session_id")
    >>> f[["step", "n", "conversion", "conversion_low", "conversion_high", "drop_off"]].round(3)
              step  n  conversion  conversion_low  conversion_high  drop_off
    0   site_visit  3       1.000           0.439            1.000         0
    1  add_to_cart  2       0.667           0.208            0.939         1
    2     purchase  1       0.500           0.095            0.905         1
    """
    steps, us, by = _args(steps, mode, window, by, period)
    z = z_value(confidence)
    cols = {"path_col": path_col, "time_col": time_col, "event_col": event_col,
            **{f"by[{i}]": b for i, b in enumerate(by)}}
    prepared, rc = C.prepare(events, "events", cols, row_col)
    if not by and period is None and not C.is_lazy(prepared):
        counts = _reach_counts_numpy(prepared, steps, path_col, mode, us, time_col, event_col, rc)
        if counts is not None:
            return _funnel_table(counts, steps, z)
    prepared = C.for_engine(prepared)
    return _funnel(prepared, steps, path_col, mode, us, by, period, time_col, event_col, rc, z)


def funnel_from_paths(paths, steps, *, by: str | list[str] | None = None, period: str | None = None,
                      confidence: float = 0.95):
    """The funnel table of :func:`funnel`, counted from :func:`funnel_paths` rows instead of the events.

    Reading the events once into one row per path and counting several funnels from those rows
    (all paths, per platform, per month; friction's cells) is several times cheaper on a large
    event log than reading the events for each: the greedy matching is the costly part.

    Parameters
    ----------
    paths : DataFrame or ibis.Table
        :func:`funnel_paths` output for these ``steps`` (any ``path_col``, ``mode`` and
        ``window``: the funnel is theirs). Needs ``entered_at`` with ``period``,
        ``reached_at_1`` .. ``reached_at_<k>`` and the ``by`` columns, which must be among
        the ``by`` columns ``paths`` was made with (a path's value at its entry event).
    steps : list of str
        The funnel steps ``paths`` was made with, in order.
    by : str or list of str, optional
        Split columns.
    period : {"D", "W", "M", "Q", "Y"}, optional
        Also split by the calendar period (UTC) of the entry event (column ``period``).
    confidence : float
        Level of the Wilson intervals (0.95).

    Returns
    -------
    DataFrame or ibis.Table
        The table :func:`funnel` returns for the same events, steps, paths and split.

    Examples
    --------
    >>> t = pd.Timestamp("2025-03-03 09:00", tz="UTC")
    >>> events = pd.DataFrame({"session_id": ["a1", "a1", "a1", "b1", "b1", "c1"],
    ...                        "occurred_at": t + pd.to_timedelta([0, 2, 5, 0, 3, 1], unit="min"),
    ...                        "event": ["site_visit", "add_to_cart", "purchase",
    ...                                  "site_visit", "add_to_cart", "site_visit"]})
    >>> steps = ["site_visit", "add_to_cart", "purchase"]
    >>> paths = funnel_paths(events, steps, path_col="session_id")
    >>> funnel_from_paths(paths, steps)[["step", "n", "conversion"]].round(3)
              step  n  conversion
    0   site_visit  3       1.000
    1  add_to_cart  2       0.667
    2     purchase  1       0.500
    """
    steps, _, by = _args(steps, "closed", None, by, period)
    need = {**{f"by[{i}]": b for i, b in enumerate(by)},
            **{f"step {j}": f"reached_at_{j}" for j in range(1, len(steps) + 1)},
            **({"period": "entered_at"} if period else {})}
    C.check_columns(paths, "paths", need)
    return _funnel_from_paths(paths, steps, by, period, z_value(confidence))


@engine_function("paths")
def _funnel_from_paths(paths, steps, by, period, z):
    k = len(steps)
    keys = [*by, *(["period"] if period else [])]
    per = paths.select(*by, **({"period": C.period_start(paths.entered_at, period)} if period else {}),
                       **{f"_jt{j}": paths[f"reached_at_{j}"] for j in range(1, k + 1)})
    return _table(_reach_counts(per, keys, k), keys, steps, z)


def _count(cond: ir.BooleanValue) -> ir.IntegerScalar:
    """Rows where ``cond`` holds; 0, not null, over no rows (a funnel of an empty log)."""
    return cond.cast("int64").sum().fill_null(0)


@engine_function("events")
def _funnel(events, steps, path_col, mode, us, by, period, time_col, event_col, row_col, z):
    keys = [*by, *(["period"] if period else [])]
    k = len(steps)
    if mode == "open":
        per = per_path(events, steps, path_col=path_col, mode=mode, window_us=us, by=by,
                       period=period, time_col=time_col, event_col=event_col, row_col=row_col)
        return _table(_reach_counts(per, keys, k), keys, steps, z)
    # closed: reaching step j implies every earlier step, so only the level sizes matter;
    # one aggregation over the stacked levels (null group values group like any value)
    mk = _maker(events, path_col, time_col, event_col, row_col, by)
    entry = _entry(mk, steps, by, period)
    tables = [entry, *_closed_levels(mk, entry, steps, us, keys)]
    stacked = None
    for j, t in enumerate(tables):
        part = t.select(*keys, _jlevel=ibis.literal(j, type="int64"))
        stacked = part if stacked is None else stacked.union(part)
    lv = stacked._jlevel
    aggs = {"n_paths": _count(lv == 0), **{f"_jn{j}": _count(lv == j) for j in range(1, k + 1)}}
    g = stacked.group_by(keys).aggregate(**aggs) if keys else stacked.aggregate(**aggs)
    g = g.mutate(**{f"_jf{j}": g[f"_jn{j}"] for j in range(1, k + 1)},
                 **{f"_jb{j}": g[f"_jn{j}"] for j in range(2, k + 1)})
    return _table(g, keys, steps, z)


def _reach_counts(per: ir.Table, keys: list[str], k: int) -> ir.Table:
    """Per group of a per-path table (``_jt1 .. _jtk``: when each step was reached, null if not):
    the paths, and those reaching each step, the step and the previous one, the step and step 1.
    In a closed funnel reaching step j implies the earlier steps, so the three counts agree."""
    reached = {j: per[f"_jt{j}"].notnull() for j in range(1, k + 1)}
    aggs = {"n_paths": per.count()}
    for j in range(1, k + 1):
        aggs[f"_jn{j}"] = _count(reached[j])
        aggs[f"_jf{j}"] = _count(reached[j] & reached[1])
        if j > 1:
            aggs[f"_jb{j}"] = _count(reached[j] & reached[j - 1])
    return per.group_by(keys).aggregate(**aggs) if keys else per.aggregate(**aggs)


def _table(g: ir.Table, keys: list[str], steps: list[str], z: float) -> ir.Table:
    """The funnel table of :func:`funnel` from the per-group counts of :func:`_reach_counts`."""
    parts = []
    for j, s in enumerate(steps, start=1):
        parts.append(g.select(
            *keys, step_index=ibis.literal(j, type="int64"), step=ibis.literal(s, type="string"),
            n_paths=g.n_paths, n=g[f"_jn{j}"],
            n_prev=g[f"_jn{j - 1}"] if j > 1 else g.n_paths,
            n_from_prev=g[f"_jb{j}"] if j > 1 else g._jn1,
            n_first=g._jn1, n_from_first=g[f"_jf{j}"]))
    u = parts[0]
    for p in parts[1:]:
        u = u.union(p)
    lo, hi = wilson_expr(u.n_from_prev, u.n_prev, z)
    olo, ohi = wilson_expr(u.n_from_first, u.n_first, z)
    conv = (u.n_prev > 0).ifelse(u.n_from_prev.cast("float64") / u.n_prev.cast("float64"),
                                 ibis.null("float64"))
    out = u.select(
        *keys, "step_index", "step", "n_paths", "n", "n_prev", "n_from_prev",
        conversion=conv, conversion_low=lo, conversion_high=hi,
        drop_off=u.n_prev - u.n_from_prev, drop_off_rate=1.0 - conv,
        n_first="n_first", n_from_first="n_from_first",
        overall_conversion=(u.n_first > 0).ifelse(
            u.n_from_first.cast("float64") / u.n_first.cast("float64"), ibis.null("float64")),
        overall_low=olo, overall_high=ohi,
        share_of_paths=u.n.cast("float64") / u.n_paths.cast("float64"),
    )
    return out.order_by([*keys, "step_index"])


def _reach_counts_numpy(prepared, steps, path_col, mode, window_us, time_col, event_col, row_col):
    """The one-group counts of :func:`_reach_counts` for pandas input, computed in numpy.

    Same matching as the engine's: closed, step *j* is the first event named ``steps[j - 1]``
    after the event matched to step *j − 1* in journey order (a binary search per step over
    the positions of that name), within ``window_us`` of step 1; open, any event of the step
    within ``window_us`` of the path's first funnel event. About a third of the engine's time
    on 1M events. Returns a one-row DataFrame, or None when the engine must decide
    (:func:`~crm_research.journey._common.journey_order`).
    """
    o = C.journey_order(prepared, path_col, time_col, event_col, row_col, events_in=steps)
    if o is None:
        return None
    p, u, e = o["path"], o["micros"], o["event"]
    code = {name: i for i, name in enumerate(o["names"])}
    new = np.ones(len(p), dtype=bool)
    new[1:] = p[1:] != p[:-1]
    k = len(steps)
    counts = {"n_paths": int(new.sum())}
    if mode == "closed":
        cur = np.flatnonzero(e == code.get(steps[0], -2))
        if len(cur):  # each path's first step-1 event
            cur = cur[np.concatenate([[True], p[cur[1:]] != p[cur[:-1]]])]
        start = u[cur]
        counts["_jn1"] = len(cur)
        for j in range(2, k + 1):
            cand = np.flatnonzero(e == code.get(steps[j - 1], -2))
            if len(cand) == 0:
                cur, start = cur[:0], start[:0]
            else:
                at = np.searchsorted(cand, cur, side="right")
                ok = at < len(cand)
                nxt = cand[np.minimum(at, len(cand) - 1)]
                ok &= p[nxt] == p[cur]
                if window_us is not None:
                    ok &= u[nxt] <= start + window_us
                cur, start = nxt[ok], start[ok]
            counts[f"_jn{j}"] = len(cur)
        counts.update({f"_jf{j}": counts[f"_jn{j}"] for j in range(1, k + 1)})
        counts.update({f"_jb{j}": counts[f"_jn{j}"] for j in range(2, k + 1)})
    else:
        first = np.flatnonzero(new)
        path_no = np.cumsum(new) - 1
        within = np.ones(len(p), dtype=bool) if window_us is None else (
            u <= u[first][path_no] + window_us)
        reached = []
        for s in steps:
            r = np.zeros(len(first), dtype=bool)
            r[path_no[within & (e == code.get(s, -2))]] = True
            reached.append(r)
        for j in range(1, k + 1):
            counts[f"_jn{j}"] = int(reached[j - 1].sum())
            counts[f"_jf{j}"] = int((reached[j - 1] & reached[0]).sum())
            if j > 1:
                counts[f"_jb{j}"] = int((reached[j - 1] & reached[j - 2]).sum())
    return pd.DataFrame({c: np.array([v], dtype=np.int64) for c, v in counts.items()})


@engine_function("counts")
def _funnel_table(counts, steps, z):
    """The funnel table of one group's counts (:func:`_reach_counts_numpy`): the engine's
    :func:`_table`, so rates and intervals come from the same expressions on both routes."""
    return _table(counts, [], steps, z)
