"""The journey report's tables and sentences: what ``notebooks/03_journey.ipynb`` shows a reader.

The analysis functions (:mod:`~crm_research.journey.funnel`, :mod:`~.friction`,
:mod:`~.simulate`...) return tables of codes and raw numbers; this module assembles the tables
the report saves (one function per table, so a notebook cell only calls) and writes the
report's sentences in the client's words and units. Every text function takes the
engagement's :class:`~crm_research.settings.ReportSettings` (``run.settings`` in a notebook)
and returns Markdown in which every value from the data is escaped
(:func:`crm_research.notebook.text`). A section's headline, findings and action come back as a
:class:`SectionText`, recorded on the run by :func:`record`.

This module holds the event log, the stages and the funnel (sections 1 and 2) and re-exports the
rest: :mod:`~crm_research.journey.report_moves` (stage moves, times, top paths, friction points),
:mod:`~crm_research.journey.report_friction` (incidents, the planted-truth check) and
:mod:`~crm_research.journey.report_whatif` (the what-if levers).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from crm_research.exprs import as_utc_timestamp
from crm_research.journey._report import (
    ALL_ROWS,
    INCIDENT_COLUMNS,
    SectionText,
    _md,
    _mdl,
    record,
    report_labels,
)
from crm_research.journey.words import lower_first

__all__ = ["SectionText", "record", "report_labels", "ALL_ROWS", "INCIDENT_COLUMNS", "events_text",
           "stage_map_table", "stage_texts", "stages_by", "stages_wide", "visit_paths", "visit_funnel", "funnel_split",
           "biggest_drop", "funnel_texts", "visits_and_customers", "conversion_trend",
           "period_names", "trend_view", "step_names", "stage_moves", "time_in_stages",
           "time_to_purchase_table", "channel_words", "time_to_purchase_texts",
           "top_paths_markdown", "friction_points_view", "FrictionSearch", "friction_search",
           "friction_search_text", "no_incident_text", "incident_list_markdown", "incident_table",
           "friction_texts", "incident_title", "truth_check", "what_if_steps", "whatif_view",
           "whatif_texts"]


# -- the event log ---------------------------------------------------------------------------

def events_text(prepared, settings, as_of, session_timeout_minutes: float) -> str:
    """The event log in one paragraph: events, contacts, dates, visits, groups not in the data.

    Parameters
    ----------
    prepared : JourneyEvents
        Output of :func:`~crm_research.journey.prepare_events`.
    settings : ReportSettings
    as_of : Timestamp
        Analysis date (exclusive).
    session_timeout_minutes : float
        The inactivity that ends a visit (minutes), said when visits were cut.

    Returns
    -------
    str
        Markdown.

    Examples
    --------
    >>> from crm_research.journey import prepare_events
    >>> t = pd.Timestamp("2025-03-03 09:00", tz="UTC")
    >>> events = pd.DataFrame({"customer_id": list("aaabbc"), "session_id": ["a1"] * 3 + ["b1"] * 2 + ["c1"],
    ...                        "occurred_at": t + pd.to_timedelta([0, 2, 5, 0, 3, 1], unit="min"),
    ...                        "event": ["site_visit", "add_to_cart", "purchase", "site_visit", "add_to_cart",
    ...                                  "site_visit"], "platform": ["web", "web", "web", "app", "app", "web"]})
    >>> from crm_research import settings
    >>> from crm_research.journey.report import report_labels
    >>> s = report_labels(settings.from_dict({}))
    >>> customers = pd.DataFrame({"customer_id": list("abc")})
    >>> prepared = prepare_events(events, customers, None, "2025-04-01")
    >>> events_text(prepared, s, pd.Timestamp("2025-04-01", tz="UTC"), 30)
    "**6** events of **3** contacts (3 contacts known before 01 Apr 2025), from 03 Mar 2025 to 03 Mar 2025; **3** visits (the data's own visit ids, which the site and app events carry). Not in the data, so not used to look for friction: Acquisition channel, Region."
    """
    s, f = settings, _log_facts(prepared.events)
    missing = prepared.missing_segments
    return (
        f"**{s.count(f['n'])}** events of **{s.count(f['customers'])}** contacts "
        f"({s.count(prepared.n_contacts)} contacts known before {s.day(as_of)}), from {s.day(f['first'])} "
        f"to {s.day(f['last'])}; **{s.count(f['visits'])}** visits "
        + (f"(every contact's events cut into visits after {s.count(session_timeout_minutes)} minutes of inactivity)."
           if prepared.cut_visits else "(the data's own visit ids, which the site and app events carry).")
        + (f" Not in the data, so not used to look for friction: {', '.join(_mdl(s, 'columns', m) for m in missing)}."
           if missing else ""))


def _log_facts(ev) -> dict:
    """Events, distinct contacts and visits, first and last event time (one query on an engine)."""
    from crm_research.engine import is_lazy

    if not is_lazy(ev):
        return {"n": len(ev), "customers": ev["customer_id"].nunique(), "visits": ev["session_id"].nunique(),
                "first": ev["occurred_at"].min(), "last": ev["occurred_at"].max()}
    row = ev.aggregate(n=ev.count(), customers=ev["customer_id"].nunique(), visits=ev["session_id"].nunique(),
                       first=ev["occurred_at"].min(), last=ev["occurred_at"].max()).execute().iloc[0]
    return {"n": int(row["n"]), "customers": int(row["customers"]), "visits": int(row["visits"]),
            "first": pd.Timestamp(row["first"]), "last": pd.Timestamp(row["last"])}


# -- lifecycle stages ------------------------------------------------------------------------

def stage_map_table(stage_map: dict, label, *, client: bool) -> pd.DataFrame:
    """The stage map as a table: ``stage``, ``events`` (codes) and, for a client, ``events_words``.

    Examples
    --------
    >>> stage_map_table({"discovery": ["ad_click", "site_visit"]}, lambda k, v: v.upper(), client=True)
           stage                events           events_words
    0  discovery  ad_click, site_visit  AD_CLICK, SITE_VISIT
    """
    table = pd.DataFrame({"stage": list(stage_map), "events": [", ".join(v) for v in stage_map.values()]})
    if not client:
        return table
    return table.assign(events_words=[", ".join(label("events", e) for e in v) for v in stage_map.values()])


def stage_texts(stage_table: pd.DataFrame, params, n_contacts: int, settings) -> SectionText:
    """The stages' headline (share who reached the purchase stage) and finding (the largest group).

    Parameters
    ----------
    stage_table : DataFrame
        :func:`~crm_research.journey.stage_counts` of every contact.
    params : JourneyParameters
        From :func:`~crm_research.journey.check_parameters` (target, stage of each event).
    n_contacts : int
        Contacts known before the analysis date.
    settings : ReportSettings

    Examples
    --------
    >>> from crm_research.journey import check_parameters
    >>> from crm_research import settings
    >>> from crm_research.journey.report import report_labels
    >>> s = report_labels(settings.from_dict({}))
    >>> table = pd.DataFrame({"stage": ["discovery", "consideration", "purchase"], "n_current": [6, 3, 1],
    ...                       "share_current": [0.5, 0.25, 1 / 12], "share_reached": [10 / 12, 4 / 12, 1 / 12]})
    >>> params = check_parameters("2026-01-01", ["site_visit", "purchase"], "site_visit", "W")
    >>> text = stage_texts(table, params, 12, s)
    >>> text.headlines[0][2], text.findings[0]["text"]
    ('8.3%', 'Of the 12 contacts, the largest group, 6 (50.0%), has gone no further than the discovery stage. 8.3% reached the purchase stage.')
    """
    s, label = settings, settings.label
    out = SectionText("stages")
    buy_stage = params.stage_of.get(params.target)  # None when the stage map does not list the funnel's last step
    bought = None
    if buy_stage is not None:
        bought = stage_table.loc[stage_table["stage"] == buy_stage, "share_reached"].iloc[0]
        out.headlines.append((f"Contacts who reached the {lower_first(label('values', buy_stage))} stage",
                              float(bought), s.pct(bought)))
    stuck = stage_table.loc[stage_table["n_current"].idxmax()] if len(stage_table) else None
    if stuck is not None and stuck["n_current"] > 0:
        reached = (f" {s.pct(bought)} reached the {_md(lower_first(label('values', buy_stage)))} stage."
                   if buy_stage is not None else "")
        out.findings.append({"text": f"Of the {s.count(n_contacts)} contacts, the largest group, {s.count(stuck['n_current'])} "
                                     f"({s.pct(stuck['share_current'])}), has gone no further than the "
                                     f"{_md(lower_first(label('values', stuck['stage'])))} stage.{reached}",
                             "priority": 3, "figure": "journey_stages"})
    return out


def stages_by(current: pd.DataFrame, customers: pd.DataFrame, stage_map: dict,
              by: str = "acquisition_channel") -> pd.DataFrame:
    """Current stages per group of a customer attribute (shares of the group's customers).

    Parameters
    ----------
    current : DataFrame or ibis.Table
        :func:`~crm_research.journey.stages`.
    customers : DataFrame or ibis.Table
        ``customer_id`` and ``by`` (an engine table: joined on the engine, and only the
        per-customer result comes back).
    stage_map : dict
        The stages, in order.
    by : str
        The customers' column to split by.

    Returns
    -------
    DataFrame
        :func:`~crm_research.journey.stage_counts` split ``by`` (a customer without a value:
        the missing group).

    Examples
    --------
    >>> from crm_research.journey import check_parameters
    >>> current = pd.DataFrame({"customer_id": list("abc"), "stage": ["purchase", "consideration", "discovery"]})
    >>> customers = pd.DataFrame({"customer_id": list("abc"), "acquisition_channel": ["ads", "ads", "seo"]})
    >>> by = stages_by(current, customers, check_parameters("2026-01-01", ["a", "b"], "a", "W").stage_map)
    >>> by.loc[by["n_current"] > 0, ["acquisition_channel", "stage", "n_current", "share_current"]]
      acquisition_channel          stage  n_current  share_current
    1                 ads  consideration          1            0.5
    2                 ads       purchase          1            0.5
    5                 seo      discovery          1            1.0
    """
    from crm_research.engine import is_lazy, to_ibis
    from crm_research.journey.stages import stage_counts

    if is_lazy(current) or is_lazy(customers):
        current, attrs = to_ibis(current), to_ibis(customers).select(_jcid="customer_id", **{by: by})
        joined = current.left_join(attrs, current["customer_id"] == attrs["_jcid"])
        with_group = joined.select("customer_id", "stage", by)  # counted on the engine
    else:
        with_group = current.merge(customers[["customer_id", by]], on="customer_id", how="left")
    return stage_counts(with_group, stage_map, by=by)


def stages_wide(stages_by: pd.DataFrame, stage_map: dict, label, *, client: bool,
                by: str = "acquisition_channel") -> tuple[pd.DataFrame, dict]:
    """Current-stage shares with one row per group and one column per stage, and the columns' names.

    Parameters
    ----------
    stages_by : DataFrame
        :func:`~crm_research.journey.stage_counts` split ``by``.
    stage_map : dict
        The stages, in order.
    label : callable
        ``(kind, value) -> str``.
    client : bool
        For a client, the stages where no customer stands today are not named (left out of the
        table a client reads).
    by : str
        The group column.

    Returns
    -------
    (DataFrame, dict)
        ``by`` and one share (0-1) per stage; ``{stage: readable name}`` of the stages shown.

    Examples
    --------
    >>> by = pd.DataFrame({"acquisition_channel": ["ads", "ads", "seo", "seo"],
    ...                    "stage": ["discovery", "purchase"] * 2, "share_current": [0.25, 0.75, 1.0, 0.0]})
    >>> wide, names = stages_wide(by, {"discovery": [], "purchase": []}, lambda k, v: v.title(), client=True)
    >>> wide
    stage acquisition_channel  discovery  purchase
    0                     ads       0.25      0.75
    1                     seo       1.00      0.00
    >>> names
    {'discovery': 'Discovery', 'purchase': 'Purchase'}
    """
    wide = stages_by.pivot(index=by, columns="stage", values="share_current")[list(stage_map)]
    shown = [st for st in stage_map if not client or wide[st].fillna(0).gt(0).any()]
    return wide.reset_index(), {st: label("values", st) for st in shown}


# -- the funnel --------------------------------------------------------------------------------

def visit_paths(events, steps: Sequence[str], *, by: Sequence[str | None]):
    """Each visit's closed funnel, read from the events once: the funnels, drop-offs and friction
    cells of the report count from it instead of reading the events again.

    Parameters
    ----------
    events : DataFrame or ibis.Table
        Prepared events (:func:`~crm_research.journey.prepare_events`): ``session_id``,
        ``customer_id`` and the ``by`` columns.
    steps : list of str
        Funnel steps in order.
    by : list of str
        Columns kept at each visit's entry event (the report's splits and friction groups;
        ``None`` entries are skipped). ``customer_id`` is always kept.

    Returns
    -------
    DataFrame or ibis.Table
        :func:`~crm_research.journey.funnel_paths` of the visits (``path_col="session_id"``,
        closed), unsorted; an engine table is stored on the engine (one row per visit). At 1M
        contacts (48M events) the report read the events five times for these counts.

    Examples
    --------
    >>> t = pd.Timestamp("2025-03-03 09:00", tz="UTC")
    >>> events = pd.DataFrame({"customer_id": list("aab"), "session_id": ["a1", "a1", "b1"],
    ...                        "occurred_at": t + pd.to_timedelta([0, 2, 0], unit="min"),
    ...                        "event": ["site_visit", "add_to_cart", "site_visit"], "platform": ["web", "web", "app"]})
    >>> visit_paths(events, ["site_visit", "add_to_cart"], by=["platform"])[["session_id", "platform", "depth"]]
      session_id platform  depth
    0         a1      web      2
    1         b1      app      1
    """
    from crm_research.engine import is_lazy, materialize
    from crm_research.journey.funnel import funnel_paths

    keep = list(dict.fromkeys([*(b for b in by if b), "customer_id"]))
    paths = funnel_paths(events, list(steps), path_col="session_id", mode="closed", by=keep, sort=False)
    return materialize(paths) if is_lazy(paths) else paths


def visit_funnel(events, steps: Sequence[str], *, mode: str = "closed", by: str | None = None,
                 period: str | None = None, visits=None):
    """The funnel of the visits (:func:`~crm_research.journey.funnel`, ``path_col="session_id"``),
    counted from ``visits`` (:func:`visit_paths`) when given and the funnel is closed, else from
    the events. The same table either way."""
    from crm_research.journey.funnel import funnel, funnel_from_paths

    if visits is not None and mode == "closed":
        return funnel_from_paths(visits, list(steps), by=by, period=period)
    return funnel(events, list(steps), path_col="session_id", mode=mode, by=by, period=period)


def funnel_split(events, steps: Sequence[str], *, by: str | None, mode: str = "closed",
                 path_col: str = "session_id", visits=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The funnel of every path and, with ``by``, per group, in one table.

    ``visits`` (:func:`visit_paths`, with ``path_col="session_id"``): counted from it instead of
    the events (closed funnels; the same tables).

    Returns
    -------
    (DataFrame, DataFrame)
        The funnel of every path (:func:`~crm_research.journey.funnel`), and the table saved as
        ``journey_funnel``: a first column ``platform`` (``(all)`` for every path, else the
        group's value), then the funnel's columns; the pooled rows first.

    Examples
    --------
    >>> t = pd.Timestamp("2025-03-03 09:00", tz="UTC")
    >>> events = pd.DataFrame({"customer_id": list("aaabbc"), "session_id": ["a1"] * 3 + ["b1"] * 2 + ["c1"],
    ...                        "occurred_at": t + pd.to_timedelta([0, 2, 5, 0, 3, 1], unit="min"),
    ...                        "event": ["site_visit", "add_to_cart", "purchase", "site_visit", "add_to_cart",
    ...                                  "site_visit"], "platform": ["web", "web", "web", "app", "app", "web"]})
    >>> steps = ["site_visit", "add_to_cart", "purchase"]
    >>> overall, table = funnel_split(events, steps, by="platform")
    >>> table[["platform", "step", "n", "conversion"]].round(3)
      platform         step  n  conversion
    0    (all)   site_visit  3       1.000
    1    (all)  add_to_cart  2       0.667
    2    (all)     purchase  1       0.500
    3      app   site_visit  1       1.000
    4      app  add_to_cart  1       1.000
    5      app     purchase  0       0.000
    6      web   site_visit  2       1.000
    7      web  add_to_cart  1       0.500
    8      web     purchase  1       1.000
    >>> funnel_split(events, steps, by="platform", visits=visit_paths(events, steps, by=["platform"]))[1].equals(table)
    True
    """
    from crm_research.engine import collect
    from crm_research.journey.funnel import funnel

    if path_col == "session_id":
        def count(split):
            return collect(visit_funnel(events, steps, mode=mode, by=split, visits=visits))
    else:
        def count(split):
            return collect(funnel(events, list(steps), path_col=path_col, mode=mode, by=split))
    overall = count(None)
    parts = [overall.assign(platform=ALL_ROWS)]
    if by:
        parts.append(count(by))
    return overall, pd.concat(parts, ignore_index=True)[["platform", *overall.columns]]


def biggest_drop(funnel_table: pd.DataFrame, steps: Sequence[str]) -> dict | None:
    """The step that loses the most paths: ``from_step``, ``step``, ``drop_off``, ``drop_off_rate``, ``n_prev``.

    None when no step after the first loses a path.

    Examples
    --------
    >>> f = pd.DataFrame({"step_index": [1, 2, 3], "step": ["a", "b", "c"], "n": [10, 6, 5],
    ...                   "n_prev": [10, 10, 6], "drop_off": [0, 4, 1], "drop_off_rate": [0, .4, 1 / 6]})
    >>> d = biggest_drop(f, ["a", "b", "c"]); (d["from_step"], d["step"], d["drop_off"])
    ('a', 'b', 4)
    """
    drops = funnel_table[funnel_table["step_index"] > 1]
    if not len(drops) or not drops["drop_off"].max() > 0:
        return None
    worst = drops.loc[drops["drop_off"].idxmax()]
    return {**worst.to_dict(), "from_step": list(steps)[int(worst["step_index"]) - 2]}


def funnel_texts(overall: pd.DataFrame, drop: dict | None, target: str, settings) -> SectionText:
    """The funnel's headline (visits that end in a purchase) and finding (the biggest drop-off).
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
    >>> steps = ["site_visit", "add_to_cart", "purchase"]
    >>> overall, _ = funnel_split(events, steps, by=None)
    >>> text = funnel_texts(overall, biggest_drop(overall, steps), "purchase", s)
    >>> text.headlines
    [('Visits that end in a purchase', 0.333..., '33.3%')]
    >>> text.findings[0]["text"]
    'The biggest drop-off is between **Site visit** and **Add to cart**: 33.3% of the visits that reached Site visit (1 of 3 visits) went no further. Overall, 33.3% of the visits end in a purchase.'
    """
    s, label = settings, settings.label
    last = overall.iloc[-1]
    out = SectionText("funnel", headlines=[(f"Visits that end in a {lower_first(label('events', target))}",
                                            float(last["overall_conversion"]), s.pct(last["overall_conversion"]))])
    if drop is not None:
        out.findings.append({"text": f"The biggest drop-off is between **{_mdl(s, 'events', drop['from_step'])}** and "
                                     f"**{_mdl(s, 'events', drop['step'])}**: {s.pct(drop['drop_off_rate'])} of the visits that reached "
                                     f"{_mdl(s, 'events', drop['from_step'])} ({s.count(drop['drop_off'])} of {s.count(drop['n_prev'])} visits) "
                                     f"went no further. Overall, {s.pct(last['overall_conversion'])} of the visits end in a "
                                     f"{_md(lower_first(label('events', target)))}.",
                             "priority": 1, "figure": "journey_funnel"})
    return out


def visits_and_customers(visits: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """The funnel per visit beside the funnel per customer, step by step.

    Returns
    -------
    DataFrame
        ``step``, ``visits_n``, ``visits_conversion``, ``visits_overall_conversion``,
        ``customers_n``, ``customers_conversion``, ``customers_overall_conversion`` (shares
        0-1), in step order.

    Examples
    --------
    >>> t = pd.Timestamp("2025-03-03 09:00", tz="UTC")
    >>> events = pd.DataFrame({"customer_id": list("aaabbc"), "session_id": ["a1"] * 3 + ["b1"] * 2 + ["c1"],
    ...                        "occurred_at": t + pd.to_timedelta([0, 2, 5, 0, 3, 1], unit="min"),
    ...                        "event": ["site_visit", "add_to_cart", "purchase", "site_visit", "add_to_cart",
    ...                                  "site_visit"], "platform": ["web", "web", "web", "app", "app", "web"]})
    >>> steps = ["site_visit", "add_to_cart", "purchase"]
    >>> from crm_research.journey.funnel import funnel
    >>> both = visits_and_customers(funnel(events, steps, path_col="session_id"), funnel(events, steps))
    >>> both[["step", "visits_n", "customers_n", "customers_conversion"]].round(3)
              step  visits_n  customers_n  customers_conversion
    0   site_visit         3            3                 1.000
    1  add_to_cart         2            2                 0.667
    2     purchase         1            1                 0.500
    """
    both = visits[["step", "n", "conversion", "overall_conversion"]].merge(
        customers[["step_index", "n", "conversion", "overall_conversion"]].rename(columns=lambda c: f"customers_{c}"),
        left_index=True, right_index=True).drop(columns="customers_step_index")
    return both.rename(columns={"n": "visits_n", "conversion": "visits_conversion",
                                "overall_conversion": "visits_overall_conversion"})


def conversion_trend(by_period: pd.DataFrame, steps: Sequence[str]) -> pd.DataFrame:
    """Each step's conversion per period: one row per period, one column per step after the first.
    Examples
    --------
    >>> t = pd.Timestamp("2025-03-03 09:00", tz="UTC")
    >>> events = pd.DataFrame({"customer_id": list("aaabbc"), "session_id": ["a1"] * 3 + ["b1"] * 2 + ["c1"],
    ...                        "occurred_at": t + pd.to_timedelta([0, 2, 5, 0, 3, 1], unit="min"),
    ...                        "event": ["site_visit", "add_to_cart", "purchase", "site_visit", "add_to_cart",
    ...                                  "site_visit"], "platform": ["web", "web", "web", "app", "app", "web"]})
    >>> steps = ["site_visit", "add_to_cart", "purchase"]
    >>> from crm_research.journey.funnel import funnel
    >>> conversion_trend(funnel(events, steps, path_col="session_id", period="M"), steps)
    step                       add_to_cart  purchase
    period
    2025-03-01 00:00:00+00:00     0.666667       0.5
    """
    return by_period[by_period["step_index"] > 1].pivot(index="period", columns="step",
                                                       values="conversion")[list(steps)[1:]]


_PERIOD_STEP = {"M": pd.DateOffset(months=1), "W": pd.DateOffset(weeks=1)}


def period_names(periods, period: str, as_of, settings) -> list[str]:
    """Readable period names ("Mar 2025", "Week of ..."), "(partial)" when it runs past ``as_of``.

    Examples
    --------
    >>> from crm_research import settings as S
    >>> period_names(["2025-11-01", "2025-12-01"], "M", pd.Timestamp("2025-12-15", tz="UTC"), S.from_dict({}))
    ['Nov 2025', 'Dec 2025 (partial)']
    """
    names = []
    for p in periods:
        p = as_utc_timestamp(p)
        name = f"{p:%b %Y}" if period == "M" else f"Week of {settings.day(p)}"
        names.append(name + (" (partial)" if p + _PERIOD_STEP[period] > as_of else ""))
    return names


def trend_view(trend: pd.DataFrame, period: str, as_of, settings) -> pd.DataFrame:
    """The conversion trend for a client: latest period first, with a ``period_name`` column.
    Examples
    --------
    >>> from crm_research import settings
    >>> trend = pd.DataFrame({"purchase": [0.5, 0.6]},
    ...                      index=pd.Index(pd.to_datetime(["2025-02-01", "2025-03-01"], utc=True), name="period"))
    >>> trend_view(trend, "M", pd.Timestamp("2025-03-15", tz="UTC"), settings.from_dict({}))
                         period  purchase         period_name
    0 2025-03-01 00:00:00+00:00       0.6  Mar 2025 (partial)
    1 2025-02-01 00:00:00+00:00       0.5            Feb 2025
    """
    recent = trend.iloc[::-1].reset_index()
    return recent.assign(period_name=period_names(recent["period"], period, as_of, settings))


def step_names(steps: Sequence[str], label, kind: str = "events") -> dict:
    """``{step: readable name}`` (table headers).
    Examples
    --------
    >>> step_names(["add_to_cart", "purchase"], lambda kind, v: v.replace("_", " "))
    {'add_to_cart': 'add to cart', 'purchase': 'purchase'}
    """
    return {s: label(kind, s) for s in steps}


from crm_research.journey.report_friction import (  # noqa: E402
    FrictionSearch,
    friction_search,
    friction_search_text,
    friction_texts,
    incident_list_markdown,
    incident_table,
    incident_title,
    no_incident_text,
    truth_check,
)
from crm_research.journey.report_moves import (  # noqa: E402
    channel_words,
    friction_points_view,
    stage_moves,
    time_in_stages,
    time_to_purchase_table,
    time_to_purchase_texts,
    top_paths_markdown,
)
from crm_research.journey.report_whatif import what_if_steps, whatif_texts, whatif_view  # noqa: E402
