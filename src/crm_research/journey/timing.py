"""Time to a target event, with the paths that have not reached it yet counted as censored.

For each path the clock starts at its first event (or its first ``start_event``) and stops at
the first ``target`` event at a later position of the path. Paths that have not reached the
target by ``as_of`` are *censored* at ``as_of``: they count in the Kaplan–Meier estimate (which
says how likely reaching the target is within t) but not in the median / p90 among reachers,
which only describe those who got there.
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from crm_research.engine import collect, engine_function, first_by
from crm_research.errors import ParameterError
from crm_research.exprs import parse_as_of, require_columns, ts_literal
from crm_research.journey import _common as C

__all__ = ["time_to_paths", "time_to", "summarise_time_to", "reach_curve", "UNITS"]

UNITS = {"s": 1.0, "min": 60.0, "h": 3600.0, "D": 86400.0, "W": 604800.0}
"""Seconds per time unit."""


def _unit(unit: str) -> float:
    if unit not in UNITS:
        raise ParameterError(f"unit must be one of {list(UNITS)}, got {unit!r}")
    return UNITS[unit]


def time_to_paths(events, target: str, as_of, *, start_event: str | None = None,
                  path_col: str = "customer_id", by: str | list[str] | None = None,
                  unit: str = "D", time_col: str = "occurred_at", event_col: str = "event",
                  row_col: str | None = None):
    """One row per path: when its clock started, whether and when it reached the target.

    Parameters
    ----------
    events : DataFrame or ibis.Table
        Event log, one row per event.
    target : str
        Event name that stops the clock (``"purchase"``).
    as_of : date-like
        Observation end (UTC, exclusive): later events are ignored and paths that have not
        reached the target are censored here.
    start_event : str, optional
        Event name that starts the clock (its first occurrence); ``None`` = the path's first
        event. Paths without it are left out. ``start_event == target`` measures the time to the
        *next* occurrence (repeat purchase).
    path_col : str
        Path column (``customer_id`` or ``session_id``).
    by : str or list of str, optional
        Columns whose value at the start event are kept (to split the summary).
    unit : {"s", "min", "h", "D", "W"}
        Unit of ``duration``.
    time_col, event_col, row_col : str
        Timestamp, event-name and input-order columns (see :func:`crm_research.journey.funnel`).

    Returns
    -------
    DataFrame or ibis.Table
        ``path_col``, ``by`` columns, ``started_at``, ``reached_at`` (UTC; null if not
        reached), ``reached`` (bool), ``duration`` (in ``unit``: to the target, or to ``as_of``
        when censored). Sorted by ``path_col``.

    Examples
    --------
    >>> t = pd.Timestamp("2025-03-03 09:00", tz="UTC")
    >>> events = pd.DataFrame({"customer_id": ["a", "a", "a", "b", "b", "c"],
    ...                        "session_id": ["a1", "a1", "a1", "b1", "b1", "c1"],
    ...                        "occurred_at": t + pd.to_timedelta([0, 2, 5, 0, 3, 1], unit="min"),
    ...                        "event": ["site_visit", "add_to_cart", "purchase",
    ...                                  "site_visit", "add_to_cart", "site_visit"]})
    >>> time_to_paths(events, "purchase", "2025-03-04", unit="min")[["customer_id", "reached", "duration"]]
      customer_id  reached  duration
    0           a     True       5.0
    1           b    False     900.0
    2           c    False     899.0
    """
    if not isinstance(target, str) or not target:
        raise ParameterError(f"target must be an event name, got {target!r}")
    factor = _unit(unit)
    cutoff = parse_as_of(as_of)
    by = C.as_list(by)
    cols = {"path_col": path_col, "time_col": time_col, "event_col": event_col,
            **{f"by[{i}]": b for i, b in enumerate(by)}}
    prepared, rc = C.prepare(events, "events", cols, row_col)
    return _time_to_paths(prepared, target, cutoff, start_event, path_col, by, factor,
                          time_col, event_col, rc)


@engine_function("events")
def _time_to_paths(events, target, cutoff, start_event, path_col, by, factor, time_col,
                   event_col, row_col):
    e = C.base(events, path_col=path_col, time_col=time_col, event_col=event_col,
               row_col=row_col, extra=by)
    asof = ts_literal(cutoff)
    e = e.filter(e[C.T] < asof)
    src = e if start_event is None else e.filter(e[C.E] == start_event)
    names = C.order_names(src)
    order = C.order_keys(src)
    starts = src.group_by(C.P).aggregate(
        started_at=first_by(src, src[C.T], order),
        **{f"_js{i}": first_by(src, src[c], order) for i, c in enumerate(names)},
        **{b: first_by(src, src[b], order, include_null=True) for b in by})
    tg = e.filter(e[C.E] == target).select(C.P, C.T, *names)
    jn = tg.join(starts.select(C.P, *[f"_js{i}" for i in range(len(names))]), C.P)
    jn = jn.filter(C.lexi_greater([jn[c] for c in names], [jn[f"_js{i}"] for i in range(len(names))]))
    hit = jn.group_by(C.P).aggregate(reached_at=jn[C.T].min(), _jru=jn[C.U].min())
    per = starts.left_join(hit, C.P)
    per = per.drop(*[c for c in per.columns if c == f"{C.P}_right"])
    reached = per.reached_at.notnull()
    asof_us = int(cutoff.value // 1000)
    stop = reached.ifelse(per._jru, ibis.literal(asof_us, type="int64"))
    return per.select(
        **{path_col: per[C.P]}, **{b: per[b] for b in by}, started_at=per.started_at,
        reached_at=per.reached_at, reached=reached,
        duration=C.seconds(stop - per._js0) / factor,
    ).order_by(path_col)


def _first_time_at_or_below(sf: pd.Series, level: float) -> float:
    """First time the survival curve is at or below ``level`` (``inf`` if it never is)."""
    hit = np.flatnonzero(sf.to_numpy() <= level + 1e-12)
    return float(sf.index[hit[0]]) if len(hit) else float("inf")


def _quantile(x: np.ndarray, q: float) -> float:
    return float(np.quantile(x, q)) if len(x) else float("nan")


def summarise_time_to(paths: pd.DataFrame, *, by: str | list[str] | None = None,
                      horizons=(7, 30, 90), unit: str = "D", confidence: float = 0.95) -> pd.DataFrame:
    """Median / p90 among reachers and Kaplan–Meier estimates, per group.

    Parameters
    ----------
    paths : DataFrame
        Output of :func:`time_to_paths` (``reached``, ``duration`` and the ``by`` columns).
    by : str or list of str, optional
        Group columns.
    horizons : sequence of float
        Times (in ``unit``) at which the Kaplan–Meier probability of having reached the target
        is reported.
    unit : str
        Unit of ``duration`` and ``horizons`` (only used in column names).
    confidence : float
        Level of the Kaplan–Meier interval of the median.

    Returns
    -------
    DataFrame
        One row per group: ``n_paths``, ``n_reached``, ``share_reached`` (by ``as_of``, raw),
        ``median_reachers``, ``p90_reachers`` (in ``unit``; linear interpolation),
        ``km_median`` and ``km_p90`` (time by which 50% / 90% are estimated to reach the target,
        ``inf`` if the curve never gets there), ``km_median_low`` / ``km_median_high``
        (interval of the KM median), and ``km_reached_<h><unit>`` (probability of having
        reached the target within ``h``, 0..1).

    Examples
    --------
    One of three customers bought, after 5 minutes; the others were followed 899 and 900:

    >>> paths = pd.DataFrame({"reached": [True, False, False], "duration": [5.0, 900.0, 899.0]})
    >>> s = summarise_time_to(paths, horizons=(5,), unit="min").iloc[0]
    >>> s[["n_paths", "n_reached", "median_reachers", "km_reached_5min"]].astype(float).round(3).tolist()
    [3.0, 1.0, 5.0, 0.333]
    """
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    by = C.as_list(by)
    if isinstance(paths, ibis.Table):
        paths = collect(paths)
    require_columns(paths, "paths", ["reached", "duration", *by], hint="pass the output of time_to_paths()")
    rows = []
    groups = [((), paths)] if not by else paths.groupby(by, sort=True, dropna=False)
    alpha = 1.0 - confidence
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        d = g["duration"].to_numpy(dtype=float)
        r = g["reached"].to_numpy(dtype=bool)
        row = {**dict(zip(by, key, strict=True)), "n_paths": len(g), "n_reached": int(r.sum()),
               "share_reached": float(r.mean()) if len(g) else float("nan"),
               "median_reachers": _quantile(d[r], 0.5), "p90_reachers": _quantile(d[r], 0.9)}
        if len(g):
            kmf = KaplanMeierFitter(alpha=alpha).fit(d, event_observed=r)
            row["km_median"] = _first_time_at_or_below(kmf.survival_function_.iloc[:, 0], 0.5)
            row["km_p90"] = _first_time_at_or_below(kmf.survival_function_.iloc[:, 0], 0.1)
            ci = median_survival_times(kmf.confidence_interval_)
            row["km_median_low"] = float(ci.iloc[0, 0])
            row["km_median_high"] = float(ci.iloc[0, 1])
            for h in horizons:
                s_h = kmf.survival_function_at_times([float(h)]).iloc[0]
                row[f"km_reached_{h:g}{unit}"] = float(1.0 - s_h)
        else:
            # no path: nothing to estimate, but the same columns as any other group
            row.update(dict.fromkeys(["km_median", "km_p90", "km_median_low", "km_median_high",
                                      *(f"km_reached_{h:g}{unit}" for h in horizons)], float("nan")))
        rows.append(row)
    return pd.DataFrame(rows)


def time_to(events, target: str, as_of, *, start_event: str | None = None,
            path_col: str = "customer_id", by: str | list[str] | None = None, unit: str = "D",
            horizons=(7, 30, 90), confidence: float = 0.95, time_col: str = "occurred_at",
            event_col: str = "event", row_col: str | None = None) -> pd.DataFrame:
    """Time from the first event (or ``start_event``) to ``target``: reachers and Kaplan–Meier.

    Runs :func:`time_to_paths` on the engine and :func:`summarise_time_to` on the per-path
    result (always returned as pandas). See those two for the parameters.

    Returns
    -------
    DataFrame
        One row per ``by`` group; durations in ``unit``.

    Examples
    --------
    >>> t = pd.Timestamp("2025-03-03 09:00", tz="UTC")
    >>> events = pd.DataFrame({"customer_id": ["a", "a", "a", "b", "b", "c"],
    ...                        "session_id": ["a1", "a1", "a1", "b1", "b1", "c1"],
    ...                        "occurred_at": t + pd.to_timedelta([0, 2, 5, 0, 3, 1], unit="min"),
    ...                        "event": ["site_visit", "add_to_cart", "purchase",
    ...                                  "site_visit", "add_to_cart", "site_visit"]})
    >>> time_to(events, "purchase", "2025-03-04", unit="min")[["n_paths", "n_reached", "median_reachers"]]
       n_paths  n_reached  median_reachers
    0        3          1              5.0
    """
    paths = time_to_paths(events, target, as_of, start_event=start_event, path_col=path_col, by=by,
                          unit=unit, time_col=time_col, event_col=event_col, row_col=row_col)
    return summarise_time_to(collect(paths), by=by, horizons=horizons, unit=unit,
                             confidence=confidence)


def reach_curve(paths: pd.DataFrame, *, by: str | None = None,
                confidence: float = 0.95) -> pd.DataFrame:
    """Kaplan–Meier curve of the probability of having reached the target within t.

    Parameters
    ----------
    paths : DataFrame
        Output of :func:`time_to_paths`.
    by : str, optional
        One group column (one curve per value).
    confidence : float
        Level of the pointwise interval.

    Returns
    -------
    DataFrame
        ``by`` column, ``duration`` (unit of ``paths``), ``reached`` (probability 0..1),
        ``low``, ``high`` (interval), ``at_risk`` (paths not yet reached nor censored).
        Empty (same columns) when there is no path.
    """
    from lifelines import KaplanMeierFitter

    if isinstance(paths, ibis.Table):
        paths = collect(paths)
    groups = [(None, paths)] if by is None else paths.groupby(by, sort=True)
    out = []
    for key, g in groups:
        if g.empty:
            continue
        kmf = KaplanMeierFitter(alpha=1.0 - confidence).fit(
            g["duration"].to_numpy(dtype=float), event_observed=g["reached"].to_numpy(dtype=bool))
        sf = kmf.survival_function_.iloc[:, 0]
        ci = kmf.confidence_interval_
        df = pd.DataFrame({
            "duration": sf.index.to_numpy(dtype=float),
            "reached": 1.0 - sf.to_numpy(),
            "low": 1.0 - ci.iloc[:, 1].to_numpy(),
            "high": 1.0 - ci.iloc[:, 0].to_numpy(),
            "at_risk": kmf.event_table["at_risk"].reindex(sf.index).to_numpy(),
        })
        if by is not None:
            df.insert(0, by, key)
        out.append(df)
    if not out:
        return pd.DataFrame({**({by: pd.Series([], dtype=paths[by].dtype)} if by is not None else {}),
                             **{c: pd.Series([], dtype="float64")
                                for c in ("duration", "reached", "low", "high", "at_risk")}})
    return pd.concat(out, ignore_index=True)
