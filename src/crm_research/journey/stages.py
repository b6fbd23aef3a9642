"""Lifecycle stages: event names → stages from a YAML map; where each customer stands today.

The default map (``crm_research/resources/stage_map.yaml``) lists the stages in lifecycle
order: discovery → consideration → purchase → post_purchase → advocacy. A customer's *current
stage* is the furthest stage reached by ``as_of`` (the lifecycle only moves forward: a buyer who
later clicks an ad is still a buyer); the stage of the latest event is reported beside it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import ibis
import pandas as pd
import yaml

from crm_research.engine import collect, engine_function, first_by
from crm_research.errors import CRMError, ParameterError
from crm_research.exprs import parse_as_of, require_columns, ts_literal
from crm_research.journey import _common as C

__all__ = ["DEFAULT_STAGE_MAP", "load_stage_map", "map_stages", "stages", "stage_counts"]

DEFAULT_STAGE_MAP = "stage_map.yaml"
"""File name of the default map inside ``crm_research/resources``."""


def load_stage_map(stage_map=None) -> dict[str, list[str]]:
    """Read and check a stage map.

    Parameters
    ----------
    stage_map : None, str, Path or dict
        ``None`` → the default map; a path → a YAML file ``{stage: [event, ...]}`` with the
        stages in lifecycle order; a dict of the same shape passes through the checks.

    Returns
    -------
    dict
        ``{stage: [event names]}`` in lifecycle order.

    Raises
    ------
    CRMError
        Unreadable file, wrong shape, empty stage, or an event listed under two stages.

    Examples
    --------
    >>> list(load_stage_map())
    ['discovery', 'consideration', 'purchase', 'post_purchase', 'advocacy']
    >>> load_stage_map()["purchase"]
    ['checkout_start', 'purchase']
    """
    if stage_map is None:
        text = resources.files("crm_research").joinpath("resources", DEFAULT_STAGE_MAP).read_text()
        raw, source = yaml.safe_load(text), "default stage map"
    elif isinstance(stage_map, (str, Path)):
        path = Path(stage_map)
        if not path.is_file():
            raise CRMError(f"stage map file {str(path)!r} does not exist")
        try:
            raw = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise CRMError(f"stage map {str(path)!r} is not valid YAML: {exc}") from exc
        source = f"stage map {str(path)!r}"
    elif isinstance(stage_map, dict):
        raw, source = stage_map, "stage map"
    else:
        raise ParameterError(f"stage_map must be None, a YAML path or a dict, got {type(stage_map).__name__}")
    if not isinstance(raw, dict) or not raw:
        raise CRMError(f"{source} must map stage names to lists of event names")
    out: dict[str, list[str]] = {}
    owner: dict[str, str] = {}
    for stage, evs in raw.items():
        if isinstance(evs, str):
            evs = [evs]
        if not isinstance(evs, (list, tuple)) or not evs or not all(isinstance(e, str) for e in evs):
            raise CRMError(f"{source}: stage {stage!r} must list at least one event name, got {evs!r}")
        for e in evs:
            if e in owner:
                raise CRMError(f"{source}: event {e!r} is listed under both {owner[e]!r} and "
                               f"{stage!r}; an event belongs to one stage")
            owner[e] = str(stage)
        out[str(stage)] = list(evs)
    return out


def _rank_expr(event: ibis.Value, stage_map: dict[str, list[str]]):
    ranks = {e: i + 1 for i, (_, evs) in enumerate(stage_map.items()) for e in evs}
    return event.cases(*[(e, r) for e, r in ranks.items()], else_=ibis.null("int64"))


def _stage_name_expr(rank: ibis.Value, stage_map: dict[str, list[str]]):
    return rank.cases(*[(i + 1, s) for i, s in enumerate(stage_map)], else_=ibis.null("string"))


def map_stages(events, stage_map=None, *, event_col: str = "event", stage_col: str = "stage",
               rank_col: str = "stage_rank"):
    """Add each event's lifecycle stage (null for events the map does not list).

    Parameters
    ----------
    events : DataFrame or ibis.Table
        Event log.
    stage_map : None, path or dict
        See :func:`load_stage_map`.
    event_col, stage_col, rank_col : str
        Input event-name column; output stage name and stage rank (1 = first stage) columns.

    Returns
    -------
    DataFrame or ibis.Table
        The input columns plus ``stage_col`` and ``rank_col``, in input order (pandas).

    Examples
    --------
    >>> map_stages(pd.DataFrame({"event": ["ad_click", "add_to_cart", "mystery"]}))["stage"].tolist()
    ['discovery', 'consideration', None]
    """
    smap = load_stage_map(stage_map)
    C.check_columns(events, "events", {"event_col": event_col})
    return _map_stages(events, smap, event_col, stage_col, rank_col)


@engine_function("events")
def _map_stages(events, smap, event_col, stage_col, rank_col):
    rank = _rank_expr(events[event_col].cast("string"), smap)
    cols = [c for c in events.columns if c not in (stage_col, rank_col)]
    return events.select(*cols, **{stage_col: _stage_name_expr(rank, smap), rank_col: rank})


def stages(events, stage_map=None, *, as_of, customer_col: str = "customer_id",
           time_col: str = "occurred_at", event_col: str = "event", row_col: str | None = None):
    """Each customer's current lifecycle stage as of a date.

    Parameters
    ----------
    events : DataFrame or ibis.Table
        Event log.
    stage_map : None, path or dict
        Stage map (:func:`load_stage_map`); events it does not list are ignored.
    as_of : date-like
        Analysis date (UTC, exclusive): only events strictly before it count. Required.
    customer_col, time_col, event_col : str
        Column names.
    row_col : str, optional
        Input-order column used to break timestamp ties (pandas: the row order).

    Returns
    -------
    DataFrame or ibis.Table
        One row per customer with at least one mapped event: ``customer_col``, ``stage`` (the
        furthest stage reached), ``stage_rank`` (1 = first stage of the map),
        ``stage_reached_at`` (UTC, first event of that stage), ``last_stage`` (stage of the
        latest mapped event), ``last_event_at`` (UTC), ``n_events`` (mapped events). Sorted by
        customer.

    Examples
    --------
    >>> t = pd.Timestamp("2025-03-03 09:00", tz="UTC")
    >>> events = pd.DataFrame({"customer_id": ["a", "a", "a", "b", "b", "c"],
    ...                        "session_id": ["a1", "a1", "a1", "b1", "b1", "c1"],
    ...                        "occurred_at": t + pd.to_timedelta([0, 2, 5, 0, 3, 1], unit="min"),
    ...                        "event": ["site_visit", "add_to_cart", "purchase",
    ...                                  "site_visit", "add_to_cart", "site_visit"]})
    >>> stages(events, as_of="2025-04-01")[["customer_id", "stage", "last_stage", "n_events"]]
      customer_id          stage     last_stage  n_events
    0           a       purchase       purchase         3
    1           b  consideration  consideration         2
    2           c      discovery      discovery         1
    """
    smap = load_stage_map(stage_map)
    cols = {"customer_col": customer_col, "time_col": time_col, "event_col": event_col}
    prepared, rc = C.prepare(events, "events", cols, row_col)
    cutoff = parse_as_of(as_of)
    return _stages(prepared, smap, cutoff, customer_col, time_col, event_col, rc)


@engine_function("events")
def _stages(events, smap, cutoff, customer_col, time_col, event_col, row_col):
    t = C.base(events, path_col=customer_col, time_col=time_col, event_col=event_col, row_col=row_col)
    t = t.filter(t[C.T] < ts_literal(cutoff))
    t = t.mutate(_jrank=_rank_expr(t[C.E], smap))
    t = t.filter(t._jrank.notnull())
    per = t.group_by([C.P, "_jrank"]).aggregate(_jfirst=t[C.T].min())
    cur = per.group_by(C.P).aggregate(
        stage_rank=per._jrank.max(),
        stage_reached_at=first_by(per, per._jfirst, [per._jrank], descending=True),
    )
    last = t.group_by(C.P).aggregate(
        _jlast_rank=first_by(t, t._jrank, [*C.order_keys(t), t[C.E]], descending=True),
        last_event_at=t[C.T].max(),
        n_events=t.count(),
    )
    g = cur.join(last, C.P)
    return g.select(
        **{customer_col: g[C.P]},
        stage=_stage_name_expr(g.stage_rank, smap),
        stage_rank=g.stage_rank,
        stage_reached_at=g.stage_reached_at,
        last_stage=_stage_name_expr(g._jlast_rank, smap),
        last_event_at=g.last_event_at,
        n_events=g.n_events,
    ).order_by(customer_col)


def stage_counts(current: pd.DataFrame, stage_map=None, *, by: str | list[str] | None = None,
                 customers: int | None = None) -> pd.DataFrame:
    """The "where is everyone now" funnel: customers per current stage and reached at least.

    Parameters
    ----------
    current : DataFrame or ibis.Table
        Output of :func:`stages` (optionally with extra columns to split ``by``); an engine
        table is counted on the engine.
    stage_map : None, path or dict
        The map used for ``current`` (gives the stage order).
    by : str or list of str, optional
        Columns of ``current`` to split by (segment, platform, cohort, ...).
    customers : int, optional
        Total contacts, to report shares of everyone (including contacts without any mapped
        event); by default shares are of the customers in ``current`` (per ``by`` group).

    Returns
    -------
    DataFrame
        ``by`` columns, ``stage``, ``stage_rank``, ``n_current`` (customers whose furthest stage
        it is), ``share_current``, ``n_reached`` (customers who reached it or a later stage),
        ``share_reached``. Sorted by ``by`` then stage rank.

    Examples
    --------
    Three customers, one at each of the first three stages, out of four contacts:

    >>> current = pd.DataFrame({"customer_id": ["a", "b", "c"],
    ...                         "stage": ["purchase", "consideration", "discovery"]})
    >>> stage_counts(current, customers=4)[["stage", "n_current", "n_reached", "share_reached"]]
               stage  n_current  n_reached  share_reached
    0      discovery          1          3           0.75
    1  consideration          1          2           0.50
    2       purchase          1          1           0.25
    3  post_purchase          0          0           0.00
    4       advocacy          0          0           0.00
    """
    smap = load_stage_map(stage_map)
    by = C.as_list(by)
    require_columns(current, "current", ["stage", *by], hint="pass the output of stages()")
    if isinstance(current, ibis.Table):
        # counted on the engine: only one row per group and stage comes back
        current = collect(current.group_by([*by, "stage"]).aggregate(_jn=current.count())
                          .order_by([*by, "stage"]))
    else:
        current = current[[*by, "stage"]].assign(_jn=1)
    names = list(smap)
    grid_rows = []
    groups = [((), current)] if not by else current.groupby(by, sort=True, dropna=False)
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        counts = g.groupby("stage")["_jn"].sum()
        n_cur = [int(counts.get(s, 0)) for s in names]
        total = customers if customers is not None else int(g["_jn"].sum())
        reached = list(pd.Series(n_cur[::-1]).cumsum()[::-1])
        for i, s in enumerate(names):
            grid_rows.append({**dict(zip(by, key, strict=True)), "stage": s, "stage_rank": i + 1,
                              "n_current": n_cur[i], "share_current": n_cur[i] / total if total else float("nan"),
                              "n_reached": int(reached[i]),
                              "share_reached": reached[i] / total if total else float("nan")})
    return pd.DataFrame(grid_rows)
