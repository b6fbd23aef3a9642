"""Plant a friction incident into an event log: a step's conversion thinned for a while.

The synthetic company plants one incident of its own (``truth.json``'s ``friction``); this module
plants more, of a chosen size, length and group, into any event log, so that the friction scan's
recall can be measured over many seeds (``benchmarks/bench_friction_recall.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_research.errors import ParameterError
from crm_research.exprs import parse_as_of, require_columns

__all__ = ["plant_incident"]


def plant_incident(events: pd.DataFrame, step_from: str, step_to: str, start, end, factor: float,
                   segment: dict | None = None, seed: int = 0, *, path_col: str = "session_id",
                   time_col: str = "occurred_at", event_col: str = "event"
                   ) -> tuple[pd.DataFrame, int]:
    """Thin the conversions of one step for the paths of one group during ``[start, end)``.

    A path (``path_col``) is *exposed* when its first ``step_from`` event falls in
    ``[start, end)`` and its first event carries the ``segment`` values. An exposed path that
    goes on to ``step_to`` (its first ``step_to`` after that ``step_from``) keeps it with
    probability ``factor``; otherwise its ``step_to`` event and every later event of the path are
    removed. The step's conversion among exposed paths is so multiplied by ``factor`` on average.

    Parameters
    ----------
    events : DataFrame
        Event log (e.g. ``crm_research.synthetic.generate(...)[0]["events"]``); events of a path
        are ordered by time, then input order.
    step_from, step_to : str
        Event names of the step's from- and to-step.
    start, end : date-like
        The incident's first day and exclusive end (UTC).
    factor : float
        Share of the conversions kept, 0 ≤ factor ≤ 1 (0.5: the conversion halves).
    segment : dict, optional
        ``{column: value}`` the path's first event must carry (e.g. ``{"platform": "mobile"}``);
        ``None``: every path.
    seed : int
        Seed of the thinning draws.
    path_col, time_col, event_col : str
        Path, timestamp and event-name columns.

    Returns
    -------
    events : DataFrame
        The event log without the removed events (original index and row order kept).
    n_affected : int
        Paths whose conversion was removed.

    Raises
    ------
    CRMError
        ``events`` lacks the path, time or event column or a column of ``segment``.
    ParameterError
        ``start`` or ``end`` is not a date, or ``factor`` is outside [0, 1].

    Examples
    --------
    Halve the cart-to-checkout step of mobile sessions in March 2025:

    >>> from crm_research import synthetic
    >>> events = synthetic.generate(n_customers=300, seed=7)[0]["events"]
    >>> planted, n_affected = plant_incident(events, "add_to_cart", "checkout_start", "2025-03-01",
    ...                                      "2025-04-01", 0.5, {"platform": "mobile"}, seed=1)
    >>> len(events), len(planted), n_affected
    (16304, 16288, 8)
    """
    if not 0 <= factor <= 1:
        raise ParameterError(f"factor must be a share between 0 and 1, got {factor!r}")
    segment = dict(segment or {})
    require_columns(events, "events", {"path_col": path_col, "time_col": time_col, "event_col": event_col})
    require_columns(events, "events", list(segment), hint="give a segment of existing columns")
    start, end = parse_as_of(start, "start"), parse_as_of(end, "end")
    where = np.flatnonzero(events[path_col].notna().to_numpy())  # positions in events
    ev = events.iloc[where]
    pos = np.arange(len(ev))
    order = np.lexsort((pos, ev[time_col].to_numpy(), ev[path_col].to_numpy()))
    s = pd.DataFrame({"p": ev[path_col].to_numpy()[order], "t": ev[time_col].to_numpy()[order],
                      "e": ev[event_col].to_numpy()[order], "at": where[order]})
    s["rank"] = np.arange(len(s))
    first = s.groupby("p", sort=False)["rank"].transform("min").to_numpy()
    in_seg = np.ones(len(s), dtype=bool)
    for col, val in segment.items():
        v = ev[col].to_numpy()[order]
        in_seg &= (v[first] == val)
    frm = s[s["e"] == step_from].groupby("p", sort=True)[["rank", "t"]].first()
    to = s[s["e"] == step_to][["p", "rank"]].merge(frm["rank"].rename("r0"), left_on="p", right_index=True)
    to = to[to["rank"] > to["r0"]].groupby("p", sort=True)["rank"].first()
    tf = pd.to_datetime(frm["t"], utc=True)
    exposed = frm.index[(tf >= start).to_numpy() & (tf < end).to_numpy() & in_seg[frm["rank"].to_numpy()]]
    conv = to.reindex(exposed).dropna().astype(np.int64)  # sorted by path
    rng = np.random.default_rng(seed)
    drop = rng.random(len(conv)) >= factor
    cut = conv[drop]
    cut_at = s["p"].map(cut)
    remove = (cut_at.notna() & (s["rank"] >= cut_at)).to_numpy()
    keep = np.ones(len(events), dtype=bool)
    keep[s.loc[remove, "at"].to_numpy()] = False
    return events[keep], int(drop.sum())
