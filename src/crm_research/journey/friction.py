"""Friction: where people drop off or loop back, and when and for whom a step got worse.

Two views:

* :func:`friction_points` ranks the steps of a funnel by drop-off and the moves that go back
  to an earlier step (loop-backs) or repeat one (self-loops).
* :func:`friction` detects *incidents*: the conversion of each step (closed funnel, paths =
  sessions by default) is counted per calendar period and per segment value; each (step,
  segment, period) cell is tested against the same step and segment over all *other* periods
  (its own baseline), one-sided for a decline (two-proportion z-test, or Fisher's exact test
  when a cell is small). Benjamini–Hochberg controls the false discovery rate over every tested
  cell. An incident is a run of consecutive periods of one step and segment that are declines
  with a nominal one-sided p ≤ ``alpha`` and that holds at least one period significant after
  the BH correction (hysteresis: the correction decides *whether*, the neighbours *how long*).
  Its numbers are pooled over its periods and compared with the rest of the history. Incidents are
  ranked by that pooled z (most negative first), which favours the segment where the drop is
  concentrated over an aggregate that only dilutes it.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
from scipy import stats

from crm_research.engine import collect, engine_function
from crm_research.errors import ParameterError
from crm_research.journey import _common as C
from crm_research.journey.funnel import funnel, per_path
from crm_research.journey.transitions import transitions

__all__ = ["friction_cells", "friction", "friction_points", "ALL"]

ALL = "(all)"
"""Segment column / value of the cells that pool every segment."""
_MISSING = "(missing)"
_PERIOD_STEP = {"D": pd.DateOffset(days=1), "W": pd.DateOffset(weeks=1), "M": pd.DateOffset(months=1),
                "Q": pd.DateOffset(months=3), "Y": pd.DateOffset(years=1)}


def friction_cells(events, steps, *, path_col: str = "session_id",
                   segments: str | list[str] | None = ("platform",), period: str = "W",
                   customer_col: str = "customer_id", window=None, time_col: str = "occurred_at",
                   event_col: str = "event", row_col: str | None = None):
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
        Conversion window of the funnel.
    time_col, event_col, row_col : str
        Timestamp, event-name and input-order columns.

    Returns
    -------
    DataFrame or ibis.Table
        ``step_index`` (index of the *to* step, 2..k), ``from_step``, ``to_step``,
        ``segment_col`` (``"(all)"`` for the pooled cells), ``segment_value`` (string; null
        values appear as ``"(missing)"``), ``period`` (UTC start), ``n`` (paths that reached the
        from-step), ``n_converted`` (of those, reached the to-step), ``n_people`` (distinct
        ``customer_col``). Sorted by step, segment, value and period.
    """
    steps = C.check_steps(steps, min_len=2)
    segs = C.as_list(segments)
    if period not in C.PERIODS:
        raise ParameterError(f"period must be one of {sorted(C.PERIODS)}, got {period!r}")
    us = None if window is None else C.to_microseconds(window, "window")
    people = customer_col or path_col
    cols = {"path_col": path_col, "time_col": time_col, "event_col": event_col,
            "customer_col": people, **{f"segments[{i}]": s for i, s in enumerate(segs)}}
    prepared, rc = C.prepare(events, "events", cols, row_col)
    return _friction_cells(prepared, steps, path_col, segs, period, people, us, time_col,
                           event_col, rc)


@engine_function("events")
def _friction_cells(events, steps, path_col, segs, period, people, us, time_col, event_col, row_col):
    extra = list(dict.fromkeys([*segs, *([people] if people != path_col else [])]))
    per = per_path(events, steps, path_col=path_col, mode="closed", window_us=us, by=extra,
                   period=None, time_col=time_col, event_col=event_col, row_col=row_col)
    person = per[people] if people != path_col else per[C.P]
    per = per.mutate(_jperson=person)
    parts = []
    for j in range(2, len(steps) + 1):
        at = per.filter(per[f"_jt{j - 1}"].notnull())
        at = at.mutate(_jperiod=C.period_start(at[f"_jt{j - 1}"], period),
                       _jconv=at[f"_jt{j}"].notnull().cast("int64"))
        for seg in [None, *segs]:
            value = (at[seg].cast("string").fill_null(_MISSING) if seg is not None
                     else ibis.literal(ALL))
            g = at.group_by([value.name("segment_value"), "_jperiod"]).aggregate(
                n=at.count(), n_converted=at._jconv.sum(), n_people=at._jperson.nunique())
            parts.append(g.select(
                step_index=ibis.literal(j, type="int64"),
                from_step=ibis.literal(steps[j - 2], type="string"),
                to_step=ibis.literal(steps[j - 1], type="string"),
                segment_col=ibis.literal(seg if seg is not None else ALL, type="string"),
                segment_value=g.segment_value, period=g._jperiod, n=g.n,
                n_converted=g.n_converted, n_people=g.n_people))
    u = parts[0]
    for p in parts[1:]:
        u = u.union(p)
    return u.order_by(["step_index", "segment_col", "segment_value", "period"])


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


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values)."""
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    ranked = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(q, 1.0)
    return out


def friction(events, steps, *, path_col: str = "session_id",
             segments: str | list[str] | None = ("platform",), period: str = "W",
             customer_col: str = "customer_id", window=None, alpha: float = 0.05,
             min_n: int = 10, fisher_below: float = 5.0, time_col: str = "occurred_at",
             event_col: str = "event", row_col: str | None = None,
             cells: pd.DataFrame | None = None) -> pd.DataFrame:
    """Incidents: when and for whom a funnel step's conversion dropped below its own baseline.

    Parameters
    ----------
    events : DataFrame or ibis.Table
        Event log (ignored when ``cells`` is given).
    steps : list of str
        Funnel steps in order (at least two).
    path_col, segments, period, customer_col, window, time_col, event_col, row_col
        See :func:`friction_cells`.
    alpha : float
        False discovery rate (Benjamini–Hochberg over every tested cell).
    min_n : int
        Cells with fewer paths (during, or in the baseline) are not tested.
    fisher_below : float
        Use Fisher's exact test when the smallest expected count of the 2x2 table is below this.
    cells : DataFrame, optional
        Precomputed :func:`friction_cells` output.

    Returns
    -------
    DataFrame
        One row per incident, ``rank`` 1 = strongest: ``step`` (``"a → b"``), ``step_index``
        (index of the to-step, as in :func:`friction_cells`), ``from_step``, ``to_step``, ``segment`` (``"col=value"`` or ``"(all)"``), ``segment_col``,
        ``segment_value``, ``period_start``, ``period_end`` (UTC, end exclusive), ``n_periods``,
        ``n_during`` (paths at the from-step during the incident), ``conversion_during``,
        ``n_baseline`` and ``conversion_baseline`` (all other periods), ``conversion_before``
        (periods before the incident; NaN if none), ``difference`` (during − baseline),
        ``relative_change`` (difference / baseline), ``z`` (pooled two-proportion z),
        ``p_value`` (one-sided, pooled), ``q_value`` (smallest BH-adjusted p of its periods),
        ``lost_conversions`` (``n_during × (baseline − during)``, paths),
        ``people_affected`` (distinct people at the from-step, summed over the incident's
        periods), ``echo_of`` (for a pooled ``(all)`` incident: the rank of a stronger segment
        incident of the same step overlapping it in time, whose drop it mostly repeats; else
        <NA>). Rates are fractions. Empty, with the same columns and dtypes, when nothing
        is significant.
    """
    if not 0 < alpha < 1:
        raise ParameterError(f"alpha must be between 0 and 1, got {alpha!r}")
    if cells is None:
        cells = friction_cells(events, steps, path_col=path_col, segments=segments, period=period,
                               customer_col=customer_col, window=window, time_col=time_col,
                               event_col=event_col, row_col=row_col)
    cells = collect(cells)
    tested = _test_cells(cells, min_n, fisher_below)
    return _incidents(cells, tested, period, alpha)


def _test_cells(cells: pd.DataFrame, min_n: int, fisher_below: float) -> pd.DataFrame:
    key = ["step_index", "segment_col", "segment_value"]
    cells = cells.sort_values([*key, "period"], kind="stable").reset_index(drop=True)
    tot = cells.groupby(key, sort=False)[["n", "n_converted"]].transform("sum")
    cells["n_base"] = tot["n"] - cells["n"]
    cells["x_base"] = tot["n_converted"] - cells["n_converted"]
    ok = (cells["n"] >= min_n) & (cells["n_base"] >= min_n)
    idx = np.flatnonzero(ok.to_numpy())
    t = cells.iloc[idx]
    z, p, kind = _test_many(t["n_converted"].to_numpy(), t["n"].to_numpy(), t["x_base"].to_numpy(),
                            t["n_base"].to_numpy(), fisher_below)
    cells["z"] = np.nan
    cells["p_value"] = np.nan
    cells["test"] = ""
    cells.loc[idx, "z"] = z
    cells.loc[idx, "p_value"] = p
    cells.loc[idx, "test"] = kind
    cells["q_value"] = np.nan
    cells.loc[idx, "q_value"] = _bh(cells.loc[idx, "p_value"].to_numpy(dtype=float))
    return cells


_COLUMNS = ["rank", "step", "step_index", "from_step", "to_step", "segment", "segment_col", "segment_value",
            "period_start", "period_end", "n_periods", "n_during", "conversion_during",
            "n_baseline", "conversion_baseline", "conversion_before", "difference",
            "relative_change", "z", "p_value", "q_value", "lost_conversions", "people_affected",
            "echo_of"]


_DTYPES = {"rank": "int64", "step_index": "int64", "period_start": "datetime64[ns, UTC]",
           "period_end": "datetime64[ns, UTC]", "n_periods": "int64", "n_during": "int64",
           "n_baseline": "int64", "people_affected": "int64", "echo_of": "Int64",
           **{c: "float64" for c in ("conversion_during", "conversion_baseline", "conversion_before",
                                     "difference", "relative_change", "z", "p_value", "q_value",
                                     "lost_conversions")}}
"""Column dtypes of :func:`friction`'s result (the others hold strings): the same whether or not
any incident was found, so code written for incidents (``period_end - Timedelta``) runs on none."""


def _no_incidents() -> pd.DataFrame:
    """The empty result of :func:`friction`: its columns with their dtypes."""
    return pd.DataFrame({c: pd.Series([], dtype=_DTYPES.get(c, object)) for c in _COLUMNS})


def _incidents(cells: pd.DataFrame, tested: pd.DataFrame, period: str, alpha: float) -> pd.DataFrame:
    decline = tested["n_converted"] / tested["n"] < tested["x_base"] / tested["n_base"]
    seed = (tested["q_value"] <= alpha) & decline
    near = (tested["p_value"] <= alpha) & decline
    if not seed.any():
        return _no_incidents()
    all_periods = np.sort(tested["period"].unique())
    pos = {p: i for i, p in enumerate(all_periods)}
    step = _PERIOD_STEP[period]
    key = ["step_index", "segment_col", "segment_value"]
    rows = []
    cand = tested.assign(_seed=seed, _near=near)
    for k, hist in cand.groupby(key, sort=True):
        if not hist["_seed"].any():
            continue
        g = hist[hist["_near"]].sort_values("period", kind="stable")
        idx = np.array([pos[p] for p in g["period"]])
        run = np.concatenate([[0], np.cumsum(np.diff(idx) != 1)])
        for _, r in g.groupby(run, sort=True):
            if not r["_seed"].any():
                continue
            first, last = r["period"].iloc[0], r["period"].iloc[-1]
            inside = (hist["period"] >= first) & (hist["period"] <= last)
            during, base = hist[inside], hist[~inside]
            before = hist[hist["period"] < first]
            n1, x1 = int(during["n"].sum()), int(during["n_converted"].sum())
            n0, x0 = int(base["n"].sum()), int(base["n_converted"].sum())
            if n0 == 0:
                continue
            z, p, _ = _test(x1, n1, x0, n0, 0.0)
            p1, p0 = x1 / n1, x0 / n0
            nb = int(before["n"].sum())
            rows.append({
                "step": f"{r['from_step'].iloc[0]} → {r['to_step'].iloc[0]}",
                "step_index": k[0],
                "from_step": r["from_step"].iloc[0], "to_step": r["to_step"].iloc[0],
                "segment": ALL if k[1] == ALL else f"{k[1]}={k[2]}",
                "segment_col": k[1], "segment_value": k[2],
                "period_start": pd.Timestamp(first), "period_end": pd.Timestamp(last) + step,
                "n_periods": int(len(during)), "n_during": n1, "conversion_during": p1,
                "n_baseline": n0, "conversion_baseline": p0,
                "conversion_before": before["n_converted"].sum() / nb if nb else np.nan,
                "difference": p1 - p0, "relative_change": (p1 - p0) / p0 if p0 > 0 else np.nan,
                "z": z, "p_value": p, "q_value": float(r["q_value"].min()),
                "lost_conversions": n1 * (p0 - p1),
                "people_affected": int(during["n_people"].sum()),
            })
    out = pd.DataFrame(rows)
    if out.empty:
        return _no_incidents()
    out = out.sort_values(["z", "step_index", "segment", "period_start"], kind="stable")
    out = out.reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    for c in ("period_start", "period_end"):
        ts = pd.to_datetime(out[c])
        out[c] = ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")
    out["echo_of"] = _echoes(out)
    return out[_COLUMNS]


def _echoes(out: pd.DataFrame) -> pd.Series:
    """For a pooled ``(all)`` incident, the rank of a stronger segment incident of the same step
    that overlaps it in time (the pooled drop is then mostly that segment's); else <NA>."""
    echo = pd.Series(pd.NA, index=out.index, dtype="Int64")
    seg = out[out["segment_col"] != ALL]
    for i, r in out[out["segment_col"] == ALL].iterrows():
        m = seg[(seg["step_index"] == r["step_index"]) & (seg["rank"] < r["rank"])
                & (seg["period_start"] < r["period_end"]) & (seg["period_end"] > r["period_start"])]
        if len(m):
            echo[i] = int(m["rank"].iloc[0])
    return echo


def friction_points(events, steps, *, path_col: str = "session_id",
                    time_col: str = "occurred_at", event_col: str = "event",
                    row_col: str | None = None) -> pd.DataFrame:
    """Rank the funnel's drop-offs, loop-backs and self-loops.

    Parameters
    ----------
    events : DataFrame or ibis.Table
        Event log.
    steps : list of str
        Funnel steps in order.
    path_col, time_col, event_col, row_col : str
        See :func:`crm_research.journey.funnel`.

    Returns
    -------
    DataFrame
        ``kind`` (``drop_off``: paths that reached the from-step, closed funnel, but not the
        next step; ``loop_back``: moves from a step to an earlier step; ``self_loop``: a step
        repeated), ``from_event``, ``to_event``, ``n`` (paths for drop-offs, moves otherwise),
        ``base`` (paths at the from-step / moves leaving it), ``rate`` (``n / base``, 0..1),
        ``rank`` (within ``kind``, by ``n`` descending). Moves are counted on the funnel events
        only (other events are skipped).
    """
    steps = C.check_steps(steps, min_len=2)
    f = collect(funnel(events, steps, path_col=path_col, time_col=time_col, event_col=event_col,
                       row_col=row_col))
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
                             row_col=row_col))
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
