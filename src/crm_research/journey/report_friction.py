"""The journey report's friction incidents and the check against a planted incident (sections 5, 7).

Part of :mod:`crm_research.journey.report` (which re-exports every name): the incident search,
the sentences about what was searched and the strongest incident, and the comparison with the
friction a synthetic company planted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from crm_research.journey._report import (
    ALL_ROWS,
    INCIDENT_COLUMNS,
    SectionText,
    _md,
    _mdl,
)
from crm_research.journey.words import lower_first, move_words, segment_words
from crm_research.plots import figure_text

__all__ = ["FrictionSearch", "friction_search", "friction_search_text", "no_incident_text",
           "incident_list_markdown", "incident_table", "friction_texts", "incident_title",
           "truth_check"]


# -- friction incidents ------------------------------------------------------------------------

@dataclass(frozen=True)
class FrictionSearch:
    """The incident search of the journey report (:func:`friction_search`).

    Attributes
    ----------
    cells : DataFrame
        :func:`~crm_research.journey.friction_cells`: counts per step, group and period.
    scan : FrictionScan
        The fitted scan.
    incidents : DataFrame
        ``scan.incidents_`` with ``first_day`` and ``last_day`` (the period's last day).
    """

    cells: pd.DataFrame
    scan: Any
    incidents: pd.DataFrame


def friction_search(events, steps: Sequence[str], *, segments: Sequence[str], period: str, as_of,
                    max_window: int, seed: int, paths=None) -> FrictionSearch:
    """Count each step's conversion per group and period, then scan every window for incidents.

    Parameters
    ----------
    events : DataFrame
        Events with ``session_id`` (visits) and the ``segments`` columns.
    steps : list of str
        Funnel steps.
    segments : list of str
        Group columns.
    period : {"W", "M", "D"}
        Friction period.
    as_of : Timestamp
        Analysis date: visits whose conversion window runs past it are left out.
    max_window : int
        Longest window scanned (periods).
    seed : int
        Seed of the scan's bootstrap.
    paths : DataFrame or ibis.Table, optional
        The visits' closed funnel rows (:func:`~crm_research.journey.report.visit_paths`): the
        cells are counted from them instead of the events.

    Examples
    --------
    A log too short to scan (one week): nothing is searched, nothing found.

    >>> t = pd.Timestamp("2025-03-03 09:00", tz="UTC")
    >>> events = pd.DataFrame({"customer_id": list("aaabbc"), "session_id": ["a1"] * 3 + ["b1"] * 2 + ["c1"],
    ...                        "occurred_at": t + pd.to_timedelta([0, 2, 5, 0, 3, 1], unit="min"),
    ...                        "event": ["site_visit", "add_to_cart", "purchase", "site_visit", "add_to_cart",
    ...                                  "site_visit"], "platform": ["web", "web", "web", "app", "app", "web"]})
    >>> search = friction_search(events, ["site_visit", "add_to_cart", "purchase"], segments=["platform"],
    ...                          period="W", as_of="2025-04-01", max_window=2, seed=0)
    >>> search.scan.n_windows_, len(search.incidents), int(search.cells["n"].sum())
    (0, 0, 10)
    """
    from crm_research.engine import collect
    from crm_research.journey.friction import friction_cells
    from crm_research.journey.friction_scan import FrictionScan

    cells = collect(friction_cells(events, list(steps), segments=list(segments), period=period, as_of=as_of,
                                   paths=paths))
    scan = FrictionScan(max_window=max_window, seed=seed).fit(cells, period=period)
    incidents = scan.incidents_
    incidents = incidents.assign(first_day=incidents["period_start"],
                                 last_day=incidents["period_end"] - pd.Timedelta(days=1))
    return FrictionSearch(cells, scan, incidents)


def _span(hours: float, s) -> str:
    """A conversion window in words: minutes, hours or days."""
    if hours < 2:
        return f"{s.count(max(hours * 60, 1))} minutes"
    return f"{s.count(hours)} hours" if hours < 48 else f"{s.count(hours / 24)} days"


def friction_search_text(search: FrictionSearch, max_window: int, unit: str, settings) -> str:
    """What was searched (steps, groups, stretches), the conversion window and the visits left out.
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
    >>> search = friction_search(events, ["site_visit", "add_to_cart", "purchase"], segments=["platform"],
    ...                          period="W", as_of="2025-04-01", max_window=2, seed=0)
    >>> friction_search_text(search, 2, "weeks", s)
    'Searched: every stretch of 1 to 1 weeks of each of the 2 steps, for all visits and for each of the 2 groups (0 stretches in all). A visit counts as going on when it reached the next step within 3 minutes at most (the time 95% of those who went on needed, per step); no visit reached a step that close to the end of the data.'
    >>> no_incident_text(search, 2, "weeks", s)
    '**No incident found:** no step of the funnel got clearly worse for any group in any stretch of 1 to 1 weeks, after allowing for everything searched.'
    """
    s, cells = settings, search.cells
    longest = int(min(max_window, cells["period"].nunique()))
    left_out = int(cells[cells["segment_col"] == ALL_ROWS].groupby("step_index")["n_left_out"].sum().max())  # at the step with most
    widest = float(cells["window_hours"].max()) if len(cells) else 0.0
    n_groups = cells.loc[cells["segment_col"] != ALL_ROWS, ["segment_col", "segment_value"]].drop_duplicates().shape[0]
    return (f"Searched: every stretch of 1 to {s.count(longest)} {unit} of each of the "
            f"{s.count(cells['step_index'].nunique())} steps, for all visits and for each of the "
            f"{s.count(n_groups)} "
            f"groups ({s.count(search.scan.n_windows_)} stretches in all). A visit counts as going on when it reached the next step "
            f"within {_span(widest, s)} at most (the time 95% of those who went on needed, per step); "
            + (f"at each step, up to {s.count(left_out)} visits that reached it in the data's last {_span(widest, s)} had no "
               "time to finish and are left out." if left_out else "no visit reached a step that close to the end of the data."))


def no_incident_text(search: FrictionSearch, max_window: int, unit: str, settings) -> str:
    """The sentence a report shows when the search found no incident."""
    longest = int(min(max_window, search.cells["period"].nunique()))
    return (f"**No incident found:** no step of the funnel got clearly worse for any group "
            f"in any stretch of 1 to {settings.count(longest)} {unit}, after allowing for everything searched.")


def incident_list_markdown(incidents: pd.DataFrame, settings, *, rows: int = 8) -> str:
    """The strongest incidents as a numbered list (a client's report).
    Examples
    --------
    >>> from crm_research import settings
    >>> from crm_research.journey.report import report_labels
    >>> s = report_labels(settings.from_dict({}))
    >>> incidents = pd.DataFrame([{"rank": 1, "step": "cart → buy", "from_step": "cart", "to_step": "buy",
    ...     "segment": "platform=app", "segment_col": "platform", "segment_value": "app",
    ...     "period_start": pd.Timestamp("2025-06-02", tz="UTC"), "period_end": pd.Timestamp("2025-06-16", tz="UTC"),
    ...     "first_day": pd.Timestamp("2025-06-02", tz="UTC"), "last_day": pd.Timestamp("2025-06-15", tz="UTC"),
    ...     "n_periods": 2, "n_during": 400, "conversion_during": 0.3, "conversion_baseline": 0.6,
    ...     "lost_conversions": 120.0, "people_affected": 350}])
    >>> incident_list_markdown(incidents, s)
    '1. **Cart → Buy** on app, 02 Jun 2025 to 15 Jun 2025: 30% went on instead of the usual 60%, about 120 fewer visits went on'
    """
    s, label = settings, settings.label
    return "\n".join(
        f"{int(r['rank'])}. **{_md(move_words(r['from_step'], r['to_step'], label))}** "
        f"{_md(segment_words(r['segment_col'], r['segment_value'], label))}, {s.day(r['first_day'])} to "
        f"{s.day(r['last_day'])}: {s.pct(r['conversion_during'], 0)} went on instead of the usual "
        f"{s.pct(r['conversion_baseline'], 0)}, about {s.count(r['lost_conversions'])} fewer visits went on"
        for _, r in incidents.head(rows).iterrows())


def incident_table(incidents: pd.DataFrame, *, rows: int = 15):
    """The strongest incidents as an analyst's table (:data:`INCIDENT_COLUMNS`, styled for display)."""
    from crm_research.notebook import show

    return (show(incidents[INCIDENT_COLUMNS].head(rows), percent=("conversion_during", "conversion_baseline", "relative_change"))
            .format("{:,.0f}", subset=["lost_conversions"])
            .format("{:.1f}", subset=["statistic", "z"]).format("{:.3f}", subset=["p_adjusted"]))


def friction_texts(incidents: pd.DataFrame, events: pd.DataFrame, *, value_col: str | None, target: str,
                   unit: str, as_of, settings) -> SectionText:
    """The strongest incident: headline, paragraph, finding and action (nothing without one).

    Parameters
    ----------
    incidents : DataFrame
        :attr:`FrictionSearch.incidents`, strongest first.
    events : DataFrame or ibis.Table
        The events (for the value of a purchase; an engine table gives only the purchases'
        values).
    value_col : str or None
        Currency column of the purchases: the incident's lost revenue when its step ends in
        ``target``.
    target : str
        The purchase event.
    unit : str
        The friction period in words (``"weeks"``).
    as_of : Timestamp
        Analysis date: an incident whose period reaches it is still going on.
    settings : ReportSettings

    Examples
    --------
    120 purchases lost at a mean purchase value of 25 (one purchase without an amount counts 0):

    >>> from crm_research import settings
    >>> from crm_research.journey.report import report_labels
    >>> s = report_labels(settings.from_dict({}))
    >>> incidents = pd.DataFrame([{"rank": 1, "step": "cart → buy", "from_step": "cart", "to_step": "buy",
    ...     "segment": "platform=app", "segment_col": "platform", "segment_value": "app",
    ...     "period_start": pd.Timestamp("2025-06-02", tz="UTC"), "period_end": pd.Timestamp("2025-06-16", tz="UTC"),
    ...     "first_day": pd.Timestamp("2025-06-02", tz="UTC"), "last_day": pd.Timestamp("2025-06-15", tz="UTC"),
    ...     "n_periods": 2, "n_during": 400, "conversion_during": 0.3, "conversion_baseline": 0.6,
    ...     "lost_conversions": 120.0, "people_affected": 350}])
    >>> events = pd.DataFrame({"event": ["buy", "buy", "cart"], "amount": [50.0, np.nan, np.nan]})
    >>> text = friction_texts(incidents, events, value_col="amount", target="buy", unit="weeks",
    ...                       as_of=pd.Timestamp("2026-01-01", tz="UTC"), settings=s)
    >>> text.headlines[0][1]
    'Cart → Buy on app, 02 Jun 2025 to 15 Jun 2025: 30% instead of 60%'
    >>> text.actions[0]["value"], text.actions[0]["value_text"]
    (3000.0, '3,000 lost during the incident')
    """
    s, label = settings, settings.label
    out = SectionText("friction")
    if not len(incidents):
        return out
    first = incidents.iloc[0]
    same = incidents[(incidents["rank"] > 1) & (incidents["step"] == first["step"])
                     & (incidents["period_start"] < first["period_end"]) & (incidents["period_end"] > first["period_start"])]
    first_move = move_words(first["from_step"], first["to_step"], label)
    first_who = segment_words(first["segment_col"], first["segment_value"], label)
    ongoing = first["period_end"] >= as_of
    out.headlines.append(("Strongest friction incident",
                          f"{first_move} {first_who}, {s.day(first['first_day'])} to {s.day(first['last_day'])}: "
                          f"{s.pct(first['conversion_during'], 0)} instead of {s.pct(first['conversion_baseline'], 0)}", None))
    out.markdown = (
        f"**Strongest incident:** from {s.day(first['first_day'])} to {s.day(first['last_day'])} "
        f"({s.count(first['n_periods'])} {unit}), only **{s.pct(first['conversion_during'], 0)}** of the "
        f"{s.count(first['n_during'])} visits {_md(first_who)} that reached {_mdl(s, 'events', first['from_step'])} "
        f"went on to {_mdl(s, 'events', first['to_step'])}, against **{s.pct(first['conversion_baseline'], 0)}** the rest of the "
        f"time: about **{s.count(first['lost_conversions'])}** lost, {s.count(first['people_affected'])} customers affected. "
        + (f"Incidents {', '.join(str(r) for r in same['rank'])} are the same step in overlapping {unit} in other groups, "
           "most likely the same problem seen from another side. " if len(same) else "")
        + f"{s.count(len(incidents))} incidents in all; the full list is in the spreadsheet "
          f"**journey\\_friction\\_incidents.csv**.")
    # what the strongest incident cost, at the observed value of a purchase (when it is the last step)
    lost_value = None
    if value_col and first["to_step"] == target:
        bought = _purchase_values(events, target, value_col)
        if len(bought):
            lost_value = float(first["lost_conversions"]) * float(bought.fillna(0).mean())
    lost_what = (f"{lower_first(label('events', first['to_step']))}s" if first["to_step"] == target
                 else f"visits reaching {lower_first(label('events', first['to_step']))}")
    out.findings.append({
        "text": f"A friction incident: from {s.day(first['first_day'])} to {s.day(first['last_day'])}, only "
                f"{s.pct(first['conversion_during'], 0)} of the visits {_md(first_who)} that reached "
                f"{_mdl(s, 'events', first['from_step'])} went on to {_mdl(s, 'events', first['to_step'])}, against "
                f"{s.pct(first['conversion_baseline'], 0)} the rest of the time: about {s.count(first['lost_conversions'])} "
                f"{_md(lost_what)} lost" + (f", about {s.money(lost_value, 0)} in revenue" if lost_value is not None else "")
                + ("; it was still going on at the end of the data." if ongoing else "."),
        "priority": 1, "figure": "journey_friction_top_incident"})
    out.actions.append({
        "text": f"Find out what changed {_md(first_who)} at the step {_md(first_move)} from "
                f"{s.day(first['first_day'])} to {s.day(first['last_day'])} (a release, a payment provider, a page) "
                + ("and fix it: it is still going on." if ongoing else "and make sure it cannot happen again."),
        "value": lost_value,
        "value_text": (f"{s.money(lost_value, 0)} lost during the incident" if lost_value is not None
                       else f"{s.count(first['lost_conversions'])} {lost_what} lost during the incident"),
        "value_label": "At stake", "priority": 2})
    return out


def _purchase_values(events, target: str, value_col: str) -> pd.Series:
    """``value_col`` of the ``target`` events, in the events' order (an engine table: only that
    column comes back, in journey order, so the mean adds in the pandas order)."""
    from crm_research.engine import collect, is_lazy
    from crm_research.journey._common import JOURNEY_ORDER

    if not is_lazy(events):
        return events.loc[events["event"] == target, value_col]
    order = ["customer_id", JOURNEY_ORDER] if JOURNEY_ORDER in events.columns else ["customer_id", "occurred_at"]
    bought = events.filter(events["event"] == target).order_by(order).select(value_col)
    return collect(bought)[value_col]


def incident_title(incident, unit: str, label) -> str:
    """The title of the strongest incident's figure (plain text, ``$`` escaped for Matplotlib).
    Examples
    --------
    >>> incidents = pd.DataFrame([{"rank": 1, "step": "cart → buy", "from_step": "cart", "to_step": "buy",
    ...     "segment": "platform=app", "segment_col": "platform", "segment_value": "app",
    ...     "period_start": pd.Timestamp("2025-06-02", tz="UTC"), "period_end": pd.Timestamp("2025-06-16", tz="UTC"),
    ...     "first_day": pd.Timestamp("2025-06-02", tz="UTC"), "last_day": pd.Timestamp("2025-06-15", tz="UTC"),
    ...     "n_periods": 2, "n_during": 400, "conversion_during": 0.3, "conversion_baseline": 0.6,
    ...     "lost_conversions": 120.0, "people_affected": 350}])
    >>> incident_title(incidents.iloc[0], "weeks", lambda kind, v: v.title())
    'Cart → Buy on app: conversion per week (red: the incident)'
    """
    move = move_words(incident["from_step"], incident["to_step"], label)
    who = segment_words(incident["segment_col"], incident["segment_value"], label)
    return figure_text(f"{move} {who}: conversion per {unit[:-1]} (red: the incident)")



# -- the planted truth -------------------------------------------------------------------------

def truth_check(incidents: pd.DataFrame, planted: dict) -> tuple[pd.DataFrame, bool]:
    """The strongest incident found against the friction the synthetic company planted.

    Parameters
    ----------
    incidents : DataFrame
        :attr:`FrictionSearch.incidents`, strongest first (not empty).
    planted : dict
        The synthetic company's planted effects (``run.truth(...)[0]``); its ``friction``: the
        step (``from_step``, ``to_step``), ``segment`` (``{column: value}``), ``start``, ``end``
        (exclusive), ``p_before``, ``p_during``.

    Returns
    -------
    (DataFrame, bool)
        ``quantity``, ``planted``, ``found`` (text), and True when the strongest incident is the
        planted one: same step and group, overlapping dates.

    Examples
    --------
    >>> incidents = pd.DataFrame([{"rank": 1, "step": "cart → buy", "from_step": "cart", "to_step": "buy",
    ...     "segment": "platform=app", "segment_col": "platform", "segment_value": "app",
    ...     "period_start": pd.Timestamp("2025-06-02", tz="UTC"), "period_end": pd.Timestamp("2025-06-16", tz="UTC"),
    ...     "first_day": pd.Timestamp("2025-06-02", tz="UTC"), "last_day": pd.Timestamp("2025-06-15", tz="UTC"),
    ...     "n_periods": 2, "n_during": 400, "conversion_during": 0.3, "conversion_baseline": 0.6,
    ...     "lost_conversions": 120.0, "people_affected": 350}])
    >>> planted = {"friction": {"from_step": "cart", "to_step": "buy", "segment": {"platform": "app"},
    ...                         "start": "2025-06-09", "end": "2025-06-23", "p_before": 0.6, "p_during": 0.2}}
    >>> check, matched = truth_check(incidents, planted)
    >>> matched
    True
    >>> check.set_index("quantity").loc[["first day", "last day"]]
                  planted       found
    quantity
    first day  2025-06-09  2025-06-02
    last day   2025-06-22  2025-06-15
    """
    fr = planted["friction"]
    first = incidents.iloc[0]
    seg_col, seg_val = next(iter(fr["segment"].items()))
    start, end = pd.Timestamp(fr["start"], tz="UTC"), pd.Timestamp(fr["end"], tz="UTC")
    check = pd.DataFrame({
        "quantity": ["step", "segment", "first day", "last day", "conversion before", "conversion during"],
        "planted": [f"{fr['from_step']} → {fr['to_step']}", f"{seg_col}={seg_val}", f"{start:%Y-%m-%d}",
                    f"{end - pd.Timedelta(days=1):%Y-%m-%d}", f"{fr['p_before']:.0%}", f"{fr['p_during']:.0%}"],
        "found": [first["step"], first["segment"], f"{first['first_day']:%Y-%m-%d}", f"{first['last_day']:%Y-%m-%d}",
                  f"{first['conversion_baseline']:.0%}", f"{first['conversion_during']:.0%}"]})
    matched = bool((first["from_step"], first["to_step"], first["segment_col"], first["segment_value"])
                   == (fr["from_step"], fr["to_step"], seg_col, seg_val)
                   and first["period_start"] < end and first["period_end"] > start)
    return check, matched
