"""The journey report's stage moves, times, top paths and friction points (sections 3 to 5).

Part of :mod:`crm_research.journey.report` (which re-exports every name): the tables the report
saves and the sentences it writes about how customers move between stages, how long they take,
the routes to a first purchase and where visits drop off.
"""

from __future__ import annotations

import pandas as pd

from crm_research.journey._report import (
    ALL_ROWS,
    SectionText,
    _md,
)
from crm_research.journey.words import lower_first, path_words

__all__ = ["stage_moves", "time_in_stages", "time_to_purchase_table", "channel_words",
           "time_to_purchase_texts", "top_paths_markdown", "friction_points_view"]


# -- stage transitions and timing ----------------------------------------------------------------

def stage_moves(events, stage_map: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each customer's walk through the stages, and the moves between stages.

    Returns
    -------
    (DataFrame, DataFrame)
        The events with a stage (``customer_id``, ``occurred_at``, ``event``, ``stage``...), and
        :func:`~crm_research.journey.transitions` of their stages (runs of one stage collapsed)
        with the times in days: ``median_days``, ``p90_days``.

    Examples
    --------
    >>> from crm_research.journey import check_parameters
    >>> t = pd.Timestamp("2025-03-03 09:00", tz="UTC")
    >>> events = pd.DataFrame({"customer_id": list("aaabbc"), "session_id": ["a1"] * 3 + ["b1"] * 2 + ["c1"],
    ...                        "occurred_at": t + pd.to_timedelta([0, 2, 5, 0, 3, 1], unit="min"),
    ...                        "event": ["site_visit", "add_to_cart", "purchase", "site_visit", "add_to_cart",
    ...                                  "site_visit"], "platform": ["web", "web", "web", "app", "app", "web"]})
    >>> staged, moves = stage_moves(events, check_parameters("2026-01-01", ["a", "b"], "a", "W").stage_map)
    >>> moves[["from_event", "to_event", "n", "median_days"]].round(4)
          from_event       to_event  n  median_days
    0        (start)      discovery  3          NaN
    1  consideration          (end)  1          NaN
    2  consideration       purchase  1       0.0021
    3      discovery          (end)  1          NaN
    4      discovery  consideration  2       0.0017
    5       purchase          (end)  1          NaN
    """
    from crm_research.engine import collect, is_lazy, materialize
    from crm_research.journey._common import JOURNEY_ORDER
    from crm_research.journey.stages import map_stages
    from crm_research.journey.transitions import transitions

    # an engine table keeps its journey order (ties of equal timestamps) and stays on the engine
    order = [JOURNEY_ORDER] if is_lazy(events) and JOURNEY_ORDER in events.columns else []
    staged = map_stages(events[["customer_id", "occurred_at", "event", *order]], stage_map)
    if is_lazy(staged):
        # stored once on the engine: the moves and the four times in stage read it (300k contacts:
        # 4 s to store, 7 s less in the times)
        staged = materialize(staged.filter(staged["stage"].notnull()))
    else:
        staged = staged[staged["stage"].notna()]
    moves = collect(transitions(staged, event_col="stage", collapse_loops=True))
    moves = moves.assign(median_days=moves["median_seconds"] / 86400,
                         p90_days=moves["p90_seconds"] / 86400).drop(columns=["median_seconds", "p90_seconds"])
    return staged, moves


def time_in_stages(staged: pd.DataFrame, stage_map: dict, as_of) -> pd.DataFrame:
    """Time from each stage to the next (:func:`~crm_research.journey.time_to`), one row per stage.

    Returns
    -------
    DataFrame
        ``stage``, ``next_stage``, then the columns of :func:`~crm_research.journey.time_to`
        (days).

    Examples
    --------
    >>> from crm_research.journey import check_parameters
    >>> t = pd.Timestamp("2025-03-03 09:00", tz="UTC")
    >>> events = pd.DataFrame({"customer_id": list("aaabbc"), "session_id": ["a1"] * 3 + ["b1"] * 2 + ["c1"],
    ...                        "occurred_at": t + pd.to_timedelta([0, 2, 5, 0, 3, 1], unit="min"),
    ...                        "event": ["site_visit", "add_to_cart", "purchase", "site_visit", "add_to_cart",
    ...                                  "site_visit"], "platform": ["web", "web", "web", "app", "app", "web"]})
    >>> stage_map = check_parameters("2026-01-01", ["a", "b"], "a", "W").stage_map
    >>> staged, _ = stage_moves(events, stage_map)
    >>> time_in_stages(staged, stage_map, "2025-03-04")[["stage", "next_stage", "n_paths", "n_reached"]]
               stage     next_stage  n_paths  n_reached
    0      discovery  consideration        3          2
    1  consideration       purchase        2          1
    2       purchase  post_purchase        1          0
    3  post_purchase       advocacy        0          0
    """
    from crm_research.journey.timing import time_to

    names = list(stage_map)
    out = pd.concat([time_to(staged, b, as_of, start_event=a, event_col="stage").assign(stage=a, next_stage=b)
                     for a, b in zip(names[:-1], names[1:], strict=True)], ignore_index=True)
    return out[["stage", "next_stage", *out.columns[:-2]]]


def time_to_purchase_table(paths: pd.DataFrame, by: str | None) -> pd.DataFrame:
    """Time to the first purchase for every contact (``(all)``) and, with ``by``, per channel.

    Parameters
    ----------
    paths : DataFrame
        :func:`~crm_research.journey.time_to_paths`.
    by : str or None
        ``"acquisition_channel"`` when the events have it.

    Returns
    -------
    DataFrame
        ``acquisition_channel`` first, then :func:`~crm_research.journey.summarise_time_to`'s
        columns; the ``(all)`` row first.

    Examples
    --------
    >>> t = pd.Timestamp("2025-03-03 09:00", tz="UTC")
    >>> events = pd.DataFrame({"customer_id": list("aaabbc"), "session_id": ["a1"] * 3 + ["b1"] * 2 + ["c1"],
    ...                        "occurred_at": t + pd.to_timedelta([0, 2, 5, 0, 3, 1], unit="min"),
    ...                        "event": ["site_visit", "add_to_cart", "purchase", "site_visit", "add_to_cart",
    ...                                  "site_visit"], "platform": ["web", "web", "web", "app", "app", "web"]})
    >>> from crm_research.journey.timing import time_to_paths
    >>> events["acquisition_channel"] = events["customer_id"].map({"a": "ads", "b": "ads", "c": "seo"})
    >>> paths = time_to_paths(events, "purchase", "2025-03-04", by="acquisition_channel", unit="min")
    >>> time_to_purchase_table(paths, "acquisition_channel")[["acquisition_channel", "n_paths", "n_reached",
    ...                                                       "median_reachers"]]
      acquisition_channel  n_paths  n_reached  median_reachers
    0               (all)        3          1              5.0
    1                 ads        2          1              5.0
    2                 seo        1          0              NaN
    """
    from crm_research.engine import collect
    from crm_research.journey.timing import summarise_time_to

    paths = collect(paths)
    parts = [summarise_time_to(paths).assign(acquisition_channel=ALL_ROWS)]
    if by:
        parts.append(summarise_time_to(paths, by=by))
    out = pd.concat(parts, ignore_index=True)
    return out[["acquisition_channel", *out.columns.drop("acquisition_channel")]]


def channel_words(channels, label) -> list[str]:
    """Channels in words; ``(all)`` reads "All contacts".
    Examples
    --------
    >>> channel_words(["(all)", "paid_search"], lambda kind, v: v.replace("_", " ").capitalize())
    ['All contacts', 'Paid search']
    """
    return ["All contacts" if c == ALL_ROWS else label("channels", c) for c in channels]


def time_to_purchase_texts(table: pd.DataFrame, settings) -> SectionText:
    """The finding of the time to the first purchase (from the ``(all)`` row).
    Examples
    --------
    >>> from crm_research import settings
    >>> table = pd.DataFrame({"n_reached": [40], "median_reachers": [3.2], "p90_reachers": [21.0],
    ...                       "km_reached_90D": [0.25]})
    >>> time_to_purchase_texts(table, settings.from_dict({})).findings[0]["text"]
    'Contacts who buy do so early: half of the first purchases came within 3 days of the first contact and 9 in 10 within 21 days; within 90 days an estimated 25.0% of contacts have bought. A follow-up is due before then.'
    """
    s = settings
    out = SectionText("time_to_purchase")
    everyone = table.iloc[0]
    if everyone["n_reached"] > 0 and pd.notna(everyone["median_reachers"]):
        out.findings.append({
            "text": f"Contacts who buy do so early: half of the first purchases came within "
                    f"{s.number(everyone['median_reachers'], 0)} days of the first contact and 9 in 10 within "
                    f"{s.number(everyone['p90_reachers'], 0)} days; within 90 days an estimated "
                    f"{s.pct(everyone['km_reached_90D'])} of contacts have bought. A follow-up is due before then.",
            "priority": 3, "figure": "journey_time_to_purchase"})
    return out


# -- top paths and friction points ------------------------------------------------------------

def top_paths_markdown(top: pd.DataFrame, settings, *, rows: int = 10) -> str:
    """The most frequent paths as a numbered list (a client's report), the rest pointed to.
    Examples
    --------
    >>> t = pd.Timestamp("2025-03-03 09:00", tz="UTC")
    >>> events = pd.DataFrame({"customer_id": list("aaabbc"), "session_id": ["a1"] * 3 + ["b1"] * 2 + ["c1"],
    ...                        "occurred_at": t + pd.to_timedelta([0, 2, 5, 0, 3, 1], unit="min"),
    ...                        "event": ["site_visit", "add_to_cart", "purchase", "site_visit", "add_to_cart",
    ...                                  "site_visit"], "platform": ["web", "web", "web", "app", "app", "web"]})
    >>> from crm_research import settings
    >>> from crm_research.journey.report import report_labels
    >>> s = report_labels(settings.from_dict({}))
    >>> from crm_research.journey.paths import top_paths
    >>> print(top_paths_markdown(top_paths(events, target="purchase", path_col="customer_id"), s))
    1. Site visit → Add to cart: **2** customers (66.7% of all), 50.0% of them bought
    2. Site visit: **1** customer (33.3% of all), 0.0% of them bought
    """
    s = settings
    shown = top.head(rows)
    return ("\n".join(
        f"{int(r['rank'])}. {_md(path_words(r['variant'], s.label))}: **{s.count(r['n_paths'])}** "
        f"{'customer' if r['n_paths'] == 1 else 'customers'} "
        f"({s.pct(r['share'])} of all), {s.pct(r['conversion_rate'])} of them bought"
        for _, r in shown.iterrows())
        + (f"\n\n*The {s.count(len(top) - len(shown))} other paths are in the spreadsheet "
           "**journey\\_top\\_paths.csv** delivered with this report.*" if len(top) > len(shown) else ""))


_KINDS = {"drop_off": "Went no further", "loop_back": "Went back", "self_loop": "Repeated the step"}


def friction_points_view(points: pd.DataFrame, label, *, client: bool) -> pd.DataFrame:
    """The friction points with, for a client, ``kind_words``, ``from_words`` and ``to_words``.
    Examples
    --------
    >>> t = pd.Timestamp("2025-03-03 09:00", tz="UTC")
    >>> events = pd.DataFrame({"customer_id": list("aaabbc"), "session_id": ["a1"] * 3 + ["b1"] * 2 + ["c1"],
    ...                        "occurred_at": t + pd.to_timedelta([0, 2, 5, 0, 3, 1], unit="min"),
    ...                        "event": ["site_visit", "add_to_cart", "purchase", "site_visit", "add_to_cart",
    ...                                  "site_visit"], "platform": ["web", "web", "web", "app", "app", "web"]})
    >>> from crm_research import settings
    >>> from crm_research.journey.report import report_labels
    >>> s = report_labels(settings.from_dict({}))
    >>> from crm_research.journey.friction import friction_points
    >>> points = friction_points(events, ["site_visit", "add_to_cart", "purchase"])
    >>> friction_points_view(points, s.label, client=True)[["kind_words", "from_words", "to_words", "n"]]
            kind_words   from_words         to_words  n
    0  Went no further  Add to cart     not purchase  1
    1  Went no further   Site visit  not add to cart  1
    """
    if not client:
        return points
    return points.assign(
        kind_words=[_KINDS.get(k, k) for k in points["kind"]],
        from_words=[label("events", e) for e in points["from_event"]],
        to_words=[("not " + lower_first(label("events", e[4:]))) if str(e).startswith("not ") else label("events", e)
                  for e in points["to_event"]])


