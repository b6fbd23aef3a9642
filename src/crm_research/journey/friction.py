"""Friction: where people drop off or loop back, and when and for whom a step got worse.

Two views:

* :func:`friction_points` ranks the steps of a funnel by drop-off and the moves that go back
  to an earlier step (loop-backs) or repeat one (self-loops).
* :func:`friction` finds *incidents*: the conversion of each step (closed funnel, paths =
  sessions by default) is counted per calendar period and per segment value
  (:func:`friction_cells`, on the engine), and every window of 1 to ``max_window`` consecutive
  periods of each step and segment value is compared with the rest of its own history, with the
  false alarms controlled over everything scanned by a bootstrap of the largest statistic
  (:class:`crm_research.journey.friction_scan.FrictionScan`).

Conversion windows and the data's edge
--------------------------------------
A path converts at a step when it reaches the to-step within the step's *conversion window* of
reaching the from-step. The window defaults to the 95th percentile (``window_quantile``) of that
time among the paths that made it (nearest rank, exact on every engine); ``step_window`` sets it.
A path whose from-step time + window is at or after the analysis date ``as_of`` (the end of the
data) had no time to go on: it is left out of that step's counts (and counted in
``n_left_out``), so the data's last days never look like a drop (right-censoring).
"""

from __future__ import annotations

import copy

import ibis
import numpy as np
import pandas as pd

from crm_research.engine import collect, engine_function, materialize, on_duckdb
from crm_research.errors import ParameterError
from crm_research.exprs import parse_as_of
from crm_research.journey import _common as C
from crm_research.journey.friction_scan import ALL, FrictionScan
from crm_research.journey.funnel import funnel, funnel_from_paths, per_path
from crm_research.journey.transitions import transitions

__all__ = ["friction_cells", "friction", "friction_points", "FrictionScan", "ALL"]

_MISSING = "(missing)"


def _step_windows(step_window, steps: list[str]) -> dict[int, int | None]:
    """``{to-step index: window in microseconds, or None for the data's quantile}``."""
    if step_window is None:
        return {j: None for j in range(2, len(steps) + 1)}
    if isinstance(step_window, dict):
        unknown = [k for k in step_window if k not in steps[1:]]
        if unknown:
            raise ParameterError(f"step_window has key(s) {unknown} that are not to-steps of the funnel "
                                 f"{steps[1:]}: key each window by the event name of its to-step")
        return {j: (C.to_microseconds(step_window[steps[j - 1]], f"step_window[{steps[j - 1]!r}]")
                    if step_window.get(steps[j - 1]) is not None else None)
                for j in range(2, len(steps) + 1)}
    us = C.to_microseconds(step_window, "step_window")
    return {j: us for j in range(2, len(steps) + 1)}


def friction_cells(events, steps, *, path_col: str = "session_id",
                   segments: str | list[str] | None = ("platform",), period: str = "W",
                   customer_col: str = "customer_id", window=None, step_window=None,
                   window_quantile: float = 0.95, as_of, time_col: str = "occurred_at",
                   event_col: str = "event", row_col: str | None = None, paths=None):
    """Step conversion counts per segment value and calendar period (closed funnel).

    Parameters
    ----------
    events : DataFrame or ibis.Table
        Event log.
    steps : list of str
        Funnel steps in order (at least two).
    path_col : str
        Path column (``session_id``: conversion within a session).
    segments : str or list of str
        Columns to split by, each on its own (value at the path's entry event).
    period : {"D", "W", "M", "Q", "Y"}
        Calendar period (UTC; weeks start on Monday) of the moment the path reached the
        *from* step.
    customer_col : str or None
        Column counted as distinct people per cell (``None``: the path column).
    window : str or Timedelta, optional
        Conversion window of the whole funnel, from its first step.
    step_window : str, Timedelta or dict, optional
        Conversion window of each step: the longest time from the from-step to the to-step that
        still counts as converting, a duration (``"30min"``, ``"2h"``, ``"3D"``: minutes, hours,
        days) for every step or ``{to-step event name: duration}``. Default (and for steps a
        dict leaves out): the ``window_quantile`` of that time among the paths that made it.
    window_quantile : float
        Quantile (0 < q ≤ 1) of the default conversion windows (nearest rank: the smallest time
        at or below which at least that share of the converted paths converted).
    as_of : date-like
        Analysis date (UTC, exclusive end of the data); required. Paths whose from-step time +
        conversion window is at or after it are left out.
    time_col, event_col, row_col : str
        Timestamp, event-name and input-order columns.
    paths : DataFrame or ibis.Table, optional
        The closed funnel's rows of these events, steps and paths (:func:`~crm_research.journey.
        funnel_paths` with ``mode="closed"``, no ``window``, and the ``segments`` and
        ``customer_col`` among its ``by`` columns): read instead of the events (the same cells;
        the events are then not read). Not with ``window``.

    Returns
    -------
    DataFrame or ibis.Table
        ``step_index`` (index of the *to* step, 2..k), ``from_step``, ``to_step``,
        ``segment_col`` (``"(all)"`` for the pooled cells), ``segment_value`` (string; null
        values appear as ``"(missing)"``), ``period`` (UTC start), ``n`` (paths that reached the
        from-step and had their whole conversion window before the end of the data),
        ``n_converted`` (of those, reached the to-step within the window), ``n_people``
        (distinct ``customer_col`` among the ``n``), ``n_left_out`` (paths that reached the
        from-step too close to the end of the data: not in ``n``), ``window_hours`` (the step's
        conversion window, hours). Sorted by step, segment, value and period.

    Examples
    --------
    >>> t = pd.Timestamp("2025-03-03 09:00", tz="UTC")
    >>> events = pd.DataFrame({"customer_id": ["a", "a", "a", "b", "b", "c"],
    ...                        "session_id": ["a1", "a1", "a1", "b1", "b1", "c1"],
    ...                        "occurred_at": t + pd.to_timedelta([0, 2, 5, 0, 3, 1], unit="min"),
    ...                        "event": ["site_visit", "add_to_cart", "purchase",
    ...                                  "site_visit", "add_to_cart", "site_visit"]})
    >>> cells = friction_cells(events, ["site_visit", "add_to_cart", "purchase"], segments=None,
    ...                        period="W", as_of="2025-03-10", step_window="1h")
    >>> cells[["to_step", "period", "n", "n_converted", "n_left_out"]]
           to_step                    period  n  n_converted  n_left_out
    0  add_to_cart 2025-03-03 00:00:00+00:00  3            2           0
    1     purchase 2025-03-03 00:00:00+00:00  2            1           0
    """
    steps = C.check_steps(steps, min_len=2)
    segs = C.as_list(segments)
    if period not in C.PERIODS:
        raise ParameterError(f"period must be one of {sorted(C.PERIODS)}, got {period!r}")
    if isinstance(window_quantile, bool) or not isinstance(window_quantile, (int, float)) \
            or not 0 < window_quantile <= 1:
        raise ParameterError(f"window_quantile must be a share in (0, 1], got {window_quantile!r}")
    us = None if window is None else C.to_microseconds(window, "window")
    wins = _step_windows(step_window, steps)
    end = parse_as_of(as_of)
    people = customer_col or path_col
    q_bp = int(round(window_quantile * 10_000))
    if paths is not None:
        if us is not None:
            raise ParameterError("friction_cells: pass window= or paths=, not both (paths hold no window)")
        C.check_columns(paths, "paths", {"path_col": path_col, "customer_col": people,
                                         **{f"segments[{i}]": s for i, s in enumerate(segs)},
                                         **{f"step {j}": f"reached_at_{j}" for j in range(1, len(steps) + 1)}})
        per = C.for_engine(paths)
        return _friction_cells(None, steps, path_col, segs, period, people, us, wins, q_bp, end,
                               time_col, event_col, None, per=per)
    cols = {"path_col": path_col, "time_col": time_col, "event_col": event_col,
            "customer_col": people, **{f"segments[{i}]": s for i, s in enumerate(segs)}}
    prepared, rc = C.prepare(events, "events", cols, row_col)
    prepared = C.for_engine(prepared)
    return _friction_cells(prepared, steps, path_col, segs, period, people, us, wins, q_bp, end,
                           time_col, event_col, rc)


@engine_function("events", "per")
def _friction_cells(events, steps, path_col, segs, period, people, us, wins, q_bp, end, time_col,
                    event_col, row_col, per=None):
    k = len(steps)
    if per is None:
        extra = list(dict.fromkeys([*segs, *([people] if people != path_col else [])]))
        per = per_path(events, steps, path_col=path_col, mode="closed", window_us=us, by=extra,
                       period=None, time_col=time_col, event_col=event_col, row_col=row_col)
        person = per[people] if people != path_col else per[C.P]
    else:  # funnel_paths rows: the path and step columns under their public names
        person = per[people]
        per = per.mutate(**{f"_jt{j}": per[f"reached_at_{j}"] for j in range(1, k + 1)})
    duck = on_duckdb(per)
    # one row per path with only what the cells read, stored once (DuckDB): every step's cells
    # read it, and as one plan the per-path joins were recomputed for each step
    per = materialize(per.select(
        *segs, _jperson=person,
        **{f"_ju{j}": C.micros(per[f"_jt{j}"], duck) for j in range(1, k + 1)},
        **({} if duck else {f"_jt{j}": per[f"_jt{j}"] for j in range(1, k)})))
    end_us = ibis.literal(int(end.value // 1000), type="int64")
    parts = []
    for j in range(2, k + 1):
        at = per.filter(per[f"_ju{j - 1}"].notnull())
        at = at.mutate(_jfu=at[f"_ju{j - 1}"], _jtu=at[f"_ju{j}"])
        if wins[j] is None:
            at = at.mutate(_jwin=_nearest_rank(at, q_bp))
        else:
            at = at.mutate(_jwin=ibis.literal(wins[j], type="int64"))
        at = at.mutate(_jperiod=C.period_key(at._jfu, None if duck else at[f"_jt{j - 1}"], period, duck),
                       _jout=(at._jfu + at._jwin) >= end_us,
                       _jok=at._jtu.notnull() & ((at._jtu - at._jfu) <= at._jwin))
        for seg in [None, *segs]:
            value = (at[seg].cast("string").fill_null(_MISSING) if seg is not None
                     else ibis.literal(ALL))
            kept = ~at._jout
            g = at.group_by([value.name("segment_value"), "_jperiod"]).aggregate(
                n=kept.cast("int64").sum(), n_converted=(kept & at._jok).cast("int64").sum(),
                n_people=at._jperson.nunique(where=kept), n_left_out=at._jout.cast("int64").sum(),
                _jwin=at._jwin.max())
            parts.append(g.select(
                step_index=ibis.literal(j, type="int64"),
                from_step=ibis.literal(steps[j - 2], type="string"),
                to_step=ibis.literal(steps[j - 1], type="string"),
                segment_col=ibis.literal(seg if seg is not None else ALL, type="string"),
                segment_value=g.segment_value, period=C.period_of_key(g._jperiod, duck), n=g.n,
                n_converted=g.n_converted, n_people=g.n_people, n_left_out=g.n_left_out,
                window_hours=g._jwin.cast("float64") / 3.6e9))
    u = parts[0]
    for p in parts[1:]:
        u = u.union(p)
    return u.order_by(["step_index", "segment_col", "segment_value", "period"])


def _nearest_rank(at, q_bp: int):
    """Nearest-rank quantile of the time to convert (``_jtu - _jfu``, microseconds) among the
    converted paths of ``at``: the k-th smallest, k = ceil(q * m), computed in integers (q in
    basis points) so every engine agrees; null when none converted.

    The times are counted per distinct value first (a grouped aggregate on every thread) and only
    those counts are ranked, not a sort of every path in one window.
    """
    d = at.filter(at._jtu.notnull())
    d = d.select(_jd=d._jtu - d._jfu)
    h = d.group_by("_jd").aggregate(_jc=d.count())
    h = h.mutate(_jcum=h._jc.sum().over(ibis.window(order_by=h._jd, rows=(None, 0))),
                 _jm=h._jc.sum().over(ibis.window()))
    k = (h._jm * q_bp + 9_999) // 10_000
    return h.filter(h._jcum >= k)._jd.min().as_scalar().fill_null(0).cast("int64")


def _test(x1, n1, x0, n0, fisher_below: float):
    """One-sided test of p1 < p0. Returns (z, p_value, test name)."""
    z, p, kind = _test_many(np.array([x1]), np.array([n1]), np.array([x0]), np.array([n0]), fisher_below)
    return float(z[0]), float(p[0]), str(kind[0])


def _test_many(x1, n1, x0, n0, fisher_below: float):
    """:func:`_test` on arrays of cells at once (the z-test vectorised; Fisher's exact test
    cell by cell, only where the smallest expected count is below ``fisher_below``).

    Returns
    -------
    (z, p_value, test)
        Arrays of the cells' z statistics, one-sided p-values and test names (``"z"`` or
        ``"fisher"``).
    """
    from scipy import stats

    x1, n1, x0, n0 = (np.asarray(a, dtype=float) for a in (x1, n1, x0, n0))
    p1, p0 = x1 / n1, x0 / n0
    pool = (x1 + x0) / (n1 + n0)
    se = np.sqrt(pool * (1.0 - pool) * (1.0 / n1 + 1.0 / n0))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (p1 - p0) / np.where(se > 0, se, 1.0), 0.0)
    expected = np.minimum.reduce([n1 * pool, n1 * (1.0 - pool), n0 * pool, n0 * (1.0 - pool)])
    fisher = expected < fisher_below
    p = stats.norm.cdf(z)
    if fisher.any():
        # Fisher's exact test, one-sided "less", as scipy.stats.fisher_exact computes it: the
        # hypergeometric P(X <= x1) of x1 + x0 successes among n1 + n0, n1 drawn; 1 when a
        # row or column of the 2x2 table is empty
        f = np.flatnonzero(fisher)
        a, r1, r2, k = (np.rint(v[f]).astype(np.int64) for v in (x1, n1, n0, x1 + x0))
        empty = (r1 == 0) | (r2 == 0) | (k == 0) | (k == r1 + r2)
        p[f] = np.where(empty, 1.0, np.minimum(stats.hypergeom.cdf(a, r1 + r2, r1, k), 1.0))
    return z, p, np.where(fisher, "fisher", "z")


def friction(events, steps, *, path_col: str = "session_id",
             segments: str | list[str] | None = ("platform",), period: str = "W",
             customer_col: str = "customer_id", window=None, step_window=None,
             window_quantile: float = 0.95, as_of=None, scan: FrictionScan | None = None,
             time_col: str = "occurred_at", event_col: str = "event", row_col: str | None = None,
             cells: pd.DataFrame | None = None) -> pd.DataFrame:
    """Incidents: when and for whom a funnel step's conversion dropped below its own history.

    Every window of 1 to ``max_window`` consecutive periods of every step and segment value is
    compared with the rest of that step and segment value's history (the Bernoulli scan
    statistic); a window is an incident when its statistic beats the (1 − ``alpha``) quantile of
    the largest statistic over *everything scanned* on ``n_null`` bootstrap draws of data with
    no change (``scan``: a :class:`~crm_research.journey.friction_scan.FrictionScan`, not yet
    fitted, holds those settings).

    Parameters
    ----------
    events : DataFrame or ibis.Table
        Event log (ignored when ``cells`` is given).
    steps : list of str
        Funnel steps in order (at least two).
    path_col, segments, period, customer_col, window, step_window, window_quantile, as_of, time_col, event_col, row_col
        See :func:`friction_cells` (``as_of`` is required unless ``cells`` is given).
    scan : FrictionScan, optional
        The scan's settings (``alpha``, ``max_window``, ``min_n``, ``n_null``, ``seed``,
        ``overdispersion``, ``detrend``); default ``FrictionScan()``: 5% family-wise, windows up
        to 14 days, 6 weeks, 3 months, 2 quarters or 1 year, 999 draws, seed 0. Fitted on a copy.
    cells : DataFrame, optional
        Precomputed :func:`friction_cells` output.

    Returns
    -------
    DataFrame
        One row per incident, ``rank`` 1 = strongest: ``step`` (``"a → b"``), ``step_index``
        (index of the to-step, as in :func:`friction_cells`), ``from_step``, ``to_step``,
        ``segment`` (``"col=value"`` or ``"(all)"``), ``segment_col``, ``segment_value``,
        ``period_start``, ``period_end`` (UTC, end exclusive), ``n_periods``, ``n_during``
        (paths at the from-step during the incident), ``conversion_during``, ``n_baseline`` and
        ``conversion_baseline`` (all other periods), ``conversion_before`` (periods before the
        incident; NaN if none), ``difference`` (during − baseline), ``relative_change``
        (difference / baseline), ``statistic`` (signed-root likelihood ratio of the drop, the
        ranking key), ``z`` and ``p_value`` (pooled two-proportion z and its one-sided p, for
        that window alone), ``p_adjusted`` (share of the null maxima at or above
        ``statistic``: the chance of so strong a window anywhere in data with no change),
        ``lost_conversions`` (``n_during × (baseline − during)``, paths), ``people_affected``
        (distinct people at the from-step, summed over the incident's periods), ``echo_of`` (for
        a pooled ``(all)`` incident: the rank of a stronger segment incident of the same step
        overlapping it in time, whose drop it mostly repeats; else <NA>). Rates are fractions.
        Empty, with the same columns and dtypes, when nothing is significant.

    Examples
    --------
    Thirty weeks of 200 carts, 80% buying, except two weeks at 40%:

    >>> weeks = pd.date_range("2025-01-06", periods=30, freq="7D", tz="UTC")
    >>> bought = np.where((np.arange(30) >= 20) & (np.arange(30) < 22), 80, 160)
    >>> cells = pd.DataFrame({"step_index": 2, "from_step": "cart", "to_step": "buy", "segment_col": "(all)",
    ...                       "segment_value": "(all)", "period": weeks, "n": 200, "n_converted": bought})
    >>> inc = friction(None, ["cart", "buy"], cells=cells, scan=FrictionScan(seed=1))
    >>> inc[["step", "n_periods", "conversion_during", "lost_conversions"]]
             step  n_periods  conversion_during  lost_conversions
    0  cart → buy          2                0.4             160.0
    >>> float(inc["conversion_baseline"].iloc[0])
    0.8
    """
    scan = FrictionScan() if scan is None else copy.copy(scan)  # the caller's scan stays unfitted
    scan._check(period)
    if cells is None:
        cells = friction_cells(events, steps, path_col=path_col, segments=segments, period=period,
                               customer_col=customer_col, window=window, step_window=step_window,
                               window_quantile=window_quantile, as_of=as_of, time_col=time_col,
                               event_col=event_col, row_col=row_col)
    return scan.fit(collect(cells), period=period).incidents_


def friction_points(events, steps, *, path_col: str = "session_id",
                    time_col: str = "occurred_at", event_col: str = "event",
                    row_col: str | None = None, paths=None) -> pd.DataFrame:
    """Rank the funnel's drop-offs, loop-backs and self-loops.

    Parameters
    ----------
    events : DataFrame or ibis.Table
        Event log.
    steps : list of str
        Funnel steps in order.
    path_col, time_col, event_col, row_col : str
        See :func:`crm_research.journey.funnel`.
    paths : DataFrame or ibis.Table, optional
        The closed funnel's rows of these events, steps and paths
        (:func:`~crm_research.journey.funnel_paths`, ``mode="closed"``, no window): the drop-offs
        are counted from them instead of the events.

    Returns
    -------
    DataFrame
        ``kind`` (``drop_off``: paths that reached the from-step, closed funnel, but not the
        next step; ``loop_back``: moves from a step to an earlier step; ``self_loop``: a step
        repeated), ``from_event``, ``to_event``, ``n`` (paths for drop-offs, moves otherwise),
        ``base`` (paths at the from-step / moves leaving it), ``rate`` (``n / base``, 0..1),
        ``rank`` (within ``kind``, by ``n`` descending). Moves are counted on the funnel events
        only (other events are skipped).

    Examples
    --------
    >>> t = pd.Timestamp("2025-03-03 09:00", tz="UTC")
    >>> events = pd.DataFrame({"customer_id": ["a", "a", "a", "b", "b", "c"],
    ...                        "session_id": ["a1", "a1", "a1", "b1", "b1", "c1"],
    ...                        "occurred_at": t + pd.to_timedelta([0, 2, 5, 0, 3, 1], unit="min"),
    ...                        "event": ["site_visit", "add_to_cart", "purchase",
    ...                                  "site_visit", "add_to_cart", "site_visit"]})
    >>> friction_points(events, ["site_visit", "add_to_cart", "purchase"]).round(3)
           kind   from_event         to_event  n  base   rate  rank
    0  drop_off  add_to_cart     not purchase  1     2  0.500     1
    1  drop_off   site_visit  not add_to_cart  1     3  0.333     2
    """
    steps = C.check_steps(steps, min_len=2)
    f = collect(funnel(events, steps, path_col=path_col, time_col=time_col, event_col=event_col,
                       row_col=row_col) if paths is None else funnel_from_paths(paths, steps))
    f = f[f["step_index"] > 1]
    drops = pd.DataFrame({
        "kind": "drop_off", "from_event": [steps[i - 2] for i in f["step_index"]],
        "to_event": [f"not {s}" for s in f["step"]], "n": f["drop_off"].to_numpy(),
        "base": f["n_prev"].to_numpy()})
    if C.is_lazy(events):
        sub = events.filter(events[event_col].isin(steps))
    else:
        C.check_columns(events, "events", {"event_col": event_col})
        sub = events[events[event_col].isin(steps)]
    tr = collect(transitions(sub, path_col=path_col, time_col=time_col, event_col=event_col,
                             row_col=row_col, times=False))
    out_tot = tr.groupby("from_event")["n"].sum()
    order = {s: i for i, s in reversed(list(enumerate(steps)))}
    tr = tr[tr["from_event"].isin(order) & tr["to_event"].isin(order)].copy()
    fi = tr["from_event"].map(order)
    ti = tr["to_event"].map(order)
    tr["kind"] = np.where(ti < fi, "loop_back", np.where(ti == fi, "self_loop", ""))
    tr = tr[tr["kind"] != ""]
    loops = pd.DataFrame({"kind": tr["kind"], "from_event": tr["from_event"],
                          "to_event": tr["to_event"], "n": tr["n"].to_numpy(),
                          "base": tr["from_event"].map(out_tot).to_numpy()})
    out = pd.concat([drops, loops], ignore_index=True)
    out["n"] = out["n"].astype("int64")
    out["base"] = out["base"].astype("int64")
    out["rate"] = out["n"] / out["base"].where(out["base"] > 0)
    kind_order = {"drop_off": 0, "loop_back": 1, "self_loop": 2}
    out["_k"] = out["kind"].map(kind_order)
    out = out.sort_values(["_k", "n", "from_event", "to_event"], ascending=[True, False, True, True],
                          kind="stable").drop(columns="_k")
    out["rank"] = out.groupby("kind", sort=False).cumcount() + 1
    return out.reset_index(drop=True)
