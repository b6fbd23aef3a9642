"""Path variants: the most frequent routes and where they lead; flows of the first N steps.

A path's *variant* is its sequence of event names up to (not including) its first ``target``
event, or its whole sequence when it never reaches the target, cut after ``max_steps`` events
(a cut variant ends with ``" > …"``). With ``collapse_loops`` runs of the same event count once
(``view > view > cart`` → ``view > cart``). A variant's conversion rate is the share of its paths
that went on to reach the target.
"""

from __future__ import annotations

import ibis

from crm_research.engine import collect_by, engine_function
from crm_research.errors import ParameterError
from crm_research.journey import _common as C
from crm_research.journey.transitions import END
from crm_research.stats import wilson_expr, z_value

__all__ = ["top_paths", "path_flows", "SEP", "ELLIPSIS"]

SEP = " > "
ELLIPSIS = "…"
EMPTY = "(target first)"


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParameterError(f"{name} must be a positive integer, got {value!r}")
    return value


def top_paths(events, *, target: str | None = "purchase", path_col: str = "session_id",
              n: int | None = 20, max_steps: int = 8, collapse_loops: bool = True,
              time_col: str = "occurred_at", event_col: str = "event", row_col: str | None = None,
              confidence: float = 0.95):
    """The most frequent path variants with their conversion rate.

    Parameters
    ----------
    events : DataFrame or ibis.Table
        Event log, one row per event.
    target : str or None
        Conversion event; variants stop before it. ``None``: whole paths, no conversion rate.
    path_col : str
        Path column (``session_id`` or ``customer_id``); null paths are ignored.
    n : int or None
        Number of variants returned (most frequent first); None returns all.
    max_steps : int
        Events kept per variant.
    collapse_loops : bool
        Count runs of the same event once.
    time_col, event_col, row_col : str
        Timestamp, event-name and input-order columns.
    confidence : float
        Level of the Wilson interval of the conversion rate.

    Returns
    -------
    DataFrame or ibis.Table
        ``rank`` (1 = most frequent), ``variant`` (``"a > b > c"``; ``"(target first)"`` when the
        path starts with the target), ``n_paths``, ``share`` (of all paths, 0..1), ``n_converted``, ``conversion_rate``,
        ``conversion_low``, ``conversion_high`` (0..1; null without a target). Sorted by
        ``n_paths`` descending then ``variant``.

    Examples
    --------
    >>> t = pd.Timestamp("2025-03-03 09:00", tz="UTC")
    >>> events = pd.DataFrame({"customer_id": ["a", "a", "a", "b", "b", "c"],
    ...                        "session_id": ["a1", "a1", "a1", "b1", "b1", "c1"],
    ...                        "occurred_at": t + pd.to_timedelta([0, 2, 5, 0, 3, 1], unit="min"),
    ...                        "event": ["site_visit", "add_to_cart", "purchase",
    ...                                  "site_visit", "add_to_cart", "site_visit"]})
    >>> top_paths(events, target="purchase", path_col="customer_id")[["rank", "variant", "n_paths", "conversion_rate"]]
       rank                   variant  n_paths  conversion_rate
    0     1  site_visit > add_to_cart        2              0.5
    1     2                site_visit        1              0.0
    """
    _positive_int(max_steps, "max_steps")
    if n is not None:
        _positive_int(n, "n")
    z = z_value(confidence)
    cols = {"path_col": path_col, "time_col": time_col, "event_col": event_col}
    prepared, rc = C.prepare(events, "events", cols, row_col)
    prepared = C.for_engine(prepared)
    return _top_paths(prepared, target, path_col, n, max_steps, bool(collapse_loops), time_col,
                      event_col, rc, z)


@engine_function("events")
def _top_paths(events, target, path_col, n, max_steps, collapse, time_col, event_col, row_col, z):
    e = C.base(events, path_col=path_col, time_col=time_col, event_col=event_col, row_col=row_col)
    w = C.path_window(e)
    seen = (ibis.literal(0, type="int64") if target is None else
            (e[C.E] == target).cast("int64").max().over(C.path_window(e, rows=(None, 0))))
    e = e.mutate(_jpos=ibis.row_number().over(w), _jprev=e[C.E].lag().over(w), _jseen=seen)
    keep = e._jseen == 0
    if collapse:
        keep &= e._jprev.isnull() | (e._jprev != e[C.E])
    per = e.group_by(C.P).aggregate(
        _jseq=collect_by(e, e[C.E], e._jpos, where=keep),
        _jconv=e._jseen.max(),
    )
    length = per._jseq.length().fill_null(0)
    head = per._jseq[:max_steps].join(SEP)
    variant = (length == 0).ifelse(
        ibis.literal(EMPTY),
        (length > max_steps).ifelse(head.concat(SEP + ELLIPSIS), head))
    per = per.select(variant=variant, _jconv=per._jconv)
    g = per.group_by("variant").aggregate(n_paths=per.count(), n_converted=per._jconv.sum())
    total = g.n_paths.sum().over(ibis.window())
    lo, hi = wilson_expr(g.n_converted, g.n_paths, z)
    has_target = target is not None
    nullf = ibis.null("float64")
    g = g.select(
        "variant", "n_paths",
        share=g.n_paths.cast("float64") / total.cast("float64"),
        n_converted=g.n_converted if has_target else ibis.null("int64"),
        conversion_rate=(g.n_converted.cast("float64") / g.n_paths.cast("float64")) if has_target else nullf,
        conversion_low=lo if has_target else nullf,
        conversion_high=hi if has_target else nullf,
    )
    g = g.mutate(rank=ibis.row_number().over(
        ibis.window(order_by=[g.n_paths.desc(), g.variant])) + 1)
    if n is not None:
        g = g.filter(g["rank"] <= n)
    return g.select("rank", "variant", "n_paths", "share", "n_converted",
                    "conversion_rate", "conversion_low", "conversion_high").order_by("rank")


def path_flows(events, n_steps: int = 5, *, path_col: str = "session_id",
               collapse_loops: bool = True, end_state: str = END, time_col: str = "occurred_at",
               event_col: str = "event", row_col: str | None = None):
    """Flows between the first ``n_steps`` positions of the paths (the data of a Sankey diagram).

    Parameters
    ----------
    events : DataFrame or ibis.Table
        Event log.
    n_steps : int
        Positions shown (columns of the diagram).
    path_col : str
        Path column.
    collapse_loops : bool
        Count runs of the same event once.
    end_state : str
        Name of the node a path flows into when it ends before ``n_steps``.
    time_col, event_col, row_col : str
        Timestamp, event-name and input-order columns.

    Returns
    -------
    DataFrame or ibis.Table
        ``step`` (position of the source node, 1..n_steps-1), ``from_event``, ``to_event``
        (``end_state`` when the path stops), ``n`` (paths). Sorted by ``step``, ``n`` descending,
        names.

    Examples
    --------
    >>> t = pd.Timestamp("2025-03-03 09:00", tz="UTC")
    >>> events = pd.DataFrame({"customer_id": ["a", "a", "a", "b", "b", "c"],
    ...                        "session_id": ["a1", "a1", "a1", "b1", "b1", "c1"],
    ...                        "occurred_at": t + pd.to_timedelta([0, 2, 5, 0, 3, 1], unit="min"),
    ...                        "event": ["site_visit", "add_to_cart", "purchase",
    ...                                  "site_visit", "add_to_cart", "site_visit"]})
    >>> path_flows(events, 2, path_col="customer_id")
       step  from_event     to_event  n
    0     1  site_visit  add_to_cart  2
    1     1  site_visit        (end)  1
    """
    _positive_int(n_steps, "n_steps")
    if n_steps < 2:
        raise ParameterError(f"n_steps must be at least 2, got {n_steps}")
    cols = {"path_col": path_col, "time_col": time_col, "event_col": event_col}
    prepared, rc = C.prepare(events, "events", cols, row_col)
    prepared = C.for_engine(prepared)
    return _path_flows(prepared, n_steps, path_col, bool(collapse_loops), str(end_state),
                       time_col, event_col, rc)


@engine_function("events")
def _path_flows(events, n_steps, path_col, collapse, end_state, time_col, event_col, row_col):
    e = C.base(events, path_col=path_col, time_col=time_col, event_col=event_col, row_col=row_col)
    w = C.path_window(e)
    if collapse:
        e = e.mutate(_jprev=e[C.E].lag().over(w))
        e = e.filter(e._jprev.isnull() | (e._jprev != e[C.E]))
    e = e.mutate(_jk=ibis.row_number().over(w) + 1, _jnext=e[C.E].lead().over(w))
    e = e.filter(e._jk < n_steps)
    g = e.group_by([e._jk, e[C.E], e._jnext.fill_null(end_state).name("_jto")]).aggregate(n=e.count())
    g = g.select(step=g._jk.cast("int64"), from_event=g[C.E], to_event=g._jto, n=g.n)
    return g.order_by(["step", g.n.desc(), "from_event", "to_event"])
