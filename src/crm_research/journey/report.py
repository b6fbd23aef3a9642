"""The journey report's tables and sentences: what ``notebooks/03_journey.ipynb`` shows a reader.

The analysis functions (:mod:`~crm_research.journey.funnel`, :mod:`~.friction`,
:mod:`~.simulate`...) return tables of codes and raw numbers; this module assembles the tables
the report saves (one function per table, so a notebook cell only calls) and writes the
report's sentences in the client's words and units. Every text function takes the
engagement's :class:`~crm_research.settings.ReportSettings` (``run.settings`` in a notebook)
and returns Markdown in which every value from the data is escaped
(:func:`crm_research.notebook.text`). A section's headline, findings and action come back as a
:class:`SectionText`, recorded on the run by :func:`record`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from crm_research.exprs import as_utc_timestamp
from crm_research.journey.words import ALL, lower_first, move_words, path_words, segment_words

__all__ = ["SectionText", "record", "report_labels", "events_text", "stage_map_table", "stage_texts",
           "stages_by", "stages_wide", "funnel_split", "biggest_drop", "funnel_texts", "visits_and_customers",
           "conversion_trend", "period_names", "trend_view", "step_names", "stage_moves",
           "time_in_stages", "time_to_purchase_table", "channel_words", "time_to_purchase_texts",
           "top_paths_markdown", "friction_points_view", "FrictionSearch", "friction_search",
           "friction_search_text", "no_incident_text", "incident_list_markdown", "incident_table", "friction_texts", "incident_title",
           "what_if_steps", "whatif_texts", "whatif_view", "truth_check", "INCIDENT_COLUMNS",
           "ALL_ROWS"]

ALL_ROWS = ALL
"""The code of the pooled rows (every visit, every customer) in the journey tables: ``(all)``."""

INCIDENT_COLUMNS = ["rank", "step", "segment", "first_day", "last_day", "n_periods", "n_during",
                    "conversion_during", "conversion_baseline", "relative_change", "lost_conversions",
                    "people_affected", "statistic", "z", "p_adjusted", "echo_of"]
"""The incident columns an analyst's report shows."""


def _md(value: Any) -> str:
    from crm_research.notebook import text

    return text(value)


def _mdl(settings, kind: str, value: Any) -> str:
    """``run.label``: a readable, Markdown-safe name."""
    return _md(settings.label(kind, value))


@dataclass
class SectionText:
    """What a report section records besides its tables: headlines, findings, actions, text.

    Attributes
    ----------
    section : str
        The section's key (``run.section(key)``).
    markdown : str or None
        The section's text to display (Markdown), if any.
    headlines : list of (name, value, text)
        Arguments of ``run.headline`` (``text`` None: the value itself).
    findings : list of dict
        Keyword arguments of ``run.finding`` (``text``, ``priority``, ``figure``).
    actions : list of dict
        Keyword arguments of ``run.action`` (``text``, ``value``, ``value_text``...).
    """

    section: str
    markdown: str | None = None
    headlines: list = field(default_factory=list)
    findings: list = field(default_factory=list)
    actions: list = field(default_factory=list)


def record(run, texts: SectionText) -> None:
    """Record ``texts`` on the run: its headlines, then its findings, then its actions.

    Parameters
    ----------
    run : RunContext
        The notebook's run (:func:`crm_research.notebook.setup`).
    texts : SectionText
        What a ``*_texts`` function of this module returned.

    Examples
    --------
    >>> class Run:  # a stand-in that prints what a RunContext would record
    ...     def headline(self, name, value, text=None): print("headline:", name, value)
    ...     def finding(self, section, text, priority=2, figure=None): print("finding:", section, text)
    ...     def action(self, section, text, **kw): print("action:", section, text)
    >>> record(Run(), SectionText("funnel", headlines=[("Visits that end in a purchase", 0.5, "50.0%")],
    ...                           findings=[{"text": "Half the visits buy.", "priority": 1}]))
    headline: Visits that end in a purchase 0.5
    finding: funnel Half the visits buy.
    """
    for name, value, text in texts.headlines:
        run.headline(name, value, text=text)
    for finding in texts.findings:
        run.finding(texts.section, **finding)
    for action in texts.actions:
        run.action(texts.section, **action)


def report_labels(settings):
    """The report settings with the journey's own codes in words (the engagement's labels win).

    ``(all)`` rows read "All platforms" / "All", the walks' ends "Start" and "No further stage
    (yet)", the stage ``post_purchase`` "After purchase".

    Examples
    --------
    >>> from crm_research import settings as S
    >>> report_labels(S.from_dict({})).label("values", "post_purchase")
    'After purchase'
    """
    from crm_research.journey.transitions import END, START

    return (settings.with_labels("channels", {ALL_ROWS: "All platforms"})
            .with_labels("values", {ALL_ROWS: "All", START: "Start", END: "No further stage (yet)",
                                    "post_purchase": "After purchase"}))


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
    >>> s = report_labels(settings.from_dict({}))
    >>> customers = pd.DataFrame({"customer_id": list("abc")})
    >>> prepared = prepare_events(events, customers, None, "2025-04-01")
    >>> events_text(prepared, s, pd.Timestamp("2025-04-01", tz="UTC"), 30)
    "**6** events of **3** contacts (3 contacts known before 01 Apr 2025), from 03 Mar 2025 to 03 Mar 2025; **3** visits (the data's own visit ids, which the site and app events carry). Not in the data, so not used to look for friction: Acquisition channel, Region."
    """
    s, ev = settings, prepared.events
    missing = prepared.missing_segments
    return (
        f"**{s.count(len(ev))}** events of **{s.count(ev['customer_id'].nunique())}** contacts "
        f"({s.count(prepared.n_contacts)} contacts known before {s.day(as_of)}), from {s.day(ev['occurred_at'].min())} "
        f"to {s.day(ev['occurred_at'].max())}; **{s.count(ev['session_id'].nunique())}** visits "
        + (f"(every contact's events cut into visits after {s.count(session_timeout_minutes)} minutes of inactivity)."
           if prepared.cut_visits else "(the data's own visit ids, which the site and app events carry).")
        + (f" Not in the data, so not used to look for friction: {', '.join(_mdl(s, 'columns', m) for m in missing)}."
           if missing else ""))


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
    current : DataFrame
        :func:`~crm_research.journey.stages`.
    customers : DataFrame
        ``customer_id`` and ``by``.
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
    from crm_research.journey.stages import stage_counts

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

def funnel_split(events, steps: Sequence[str], *, by: str | None, mode: str = "closed",
                 path_col: str = "session_id") -> tuple[pd.DataFrame, pd.DataFrame]:
    """The funnel of every path and, with ``by``, per group, in one table.

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
    """
    from crm_research.journey.funnel import funnel

    overall = funnel(events, list(steps), path_col=path_col, mode=mode)
    parts = [overall.assign(platform=ALL_ROWS)]
    if by:
        parts.append(funnel(events, list(steps), path_col=path_col, mode=mode, by=by))
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
    from crm_research.journey.stages import map_stages
    from crm_research.journey.transitions import transitions

    staged = map_stages(events[["customer_id", "occurred_at", "event"]], stage_map)
    staged = staged[staged["stage"].notna()]
    moves = transitions(staged, event_col="stage", collapse_loops=True)
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
    from crm_research.journey.timing import summarise_time_to

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
                    max_window: int, seed: int) -> FrictionSearch:
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
    from crm_research.journey.friction import friction_cells
    from crm_research.journey.friction_scan import FrictionScan

    cells = friction_cells(events, list(steps), segments=list(segments), period=period, as_of=as_of)
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
    events : DataFrame
        The events (for the value of a purchase).
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
        bought = events.loc[events["event"] == target, value_col]
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
    return f"{move} {who}: conversion per {unit[:-1]} (red: the incident)".replace("$", r"\$")


# -- what-if -----------------------------------------------------------------------------------

def what_if_steps(chain, steps: Sequence[str], lift: float, *, bootstrap=None,
                  segment: dict | None = None) -> pd.DataFrame:
    """The same improvement at every step of the funnel: one :meth:`JourneyChain.what_if` row each.

    Parameters
    ----------
    chain : JourneyChain
        Fitted (on ``segment``'s paths when there is one).
    steps : list of str
        The funnel: the moves are its consecutive pairs.
    lift : float
        Relative improvement of each move (share: 0.10 = +10%).
    bootstrap : Bootstrap, optional
        The ranges' replicates and seed (default: :class:`Bootstrap`'s).
    segment : dict, optional
        The group the chain was fitted on, written in the ``segment`` column (``(all)``).

    Returns
    -------
    DataFrame
        ``segment``, then :meth:`JourneyChain.what_if`'s columns; one row per move in funnel
        order.

    Examples
    --------
    >>> t = pd.Timestamp("2025-03-03 09:00", tz="UTC")
    >>> events = pd.DataFrame({"customer_id": list("aaabbc"), "session_id": ["a1"] * 3 + ["b1"] * 2 + ["c1"],
    ...                        "occurred_at": t + pd.to_timedelta([0, 2, 5, 0, 3, 1], unit="min"),
    ...                        "event": ["site_visit", "add_to_cart", "purchase", "site_visit", "add_to_cart",
    ...                                  "site_visit"], "platform": ["web", "web", "web", "app", "app", "web"]})
    >>> steps = ["site_visit", "add_to_cart", "purchase"]
    >>> from crm_research.journey.simulate import Bootstrap, JourneyChain
    >>> chain = JourneyChain(level="event", states=steps, target="purchase").fit(events)
    >>> what_if_steps(chain, steps, 0.1, bootstrap=Bootstrap(n_boot=0))[["segment", "step", "p_step",
    ...                                                                  "extra_purchases"]].round(3)
      segment                      step  p_step  extra_purchases
    0   (all)  site_visit → add_to_cart   0.667              0.1
    1   (all)    add_to_cart → purchase   0.500              0.1
    """
    from crm_research.journey.simulate import Bootstrap

    bootstrap = bootstrap if bootstrap is not None else Bootstrap()
    steps = list(steps)
    out = pd.concat([chain.what_if(move, lift, bootstrap=bootstrap) for move in zip(steps[:-1], steps[1:], strict=True)],
                    ignore_index=True)
    out.insert(0, "segment", ", ".join(f"{k}={v}" for k, v in (segment or {}).items()) or ALL_ROWS)
    return out


def _split_step(step: str) -> tuple[str, str]:
    a, b = step.split(" → ", 1)
    return a, b


def _purchases_text(r, s, ranged: bool) -> str:
    return (f"{s.number(r['extra_purchases'], 0)} purchases"
            + (f" ({s.number(r['extra_low'], 0)} to {s.number(r['extra_high'], 0)})" if ranged else ""))


def _revenue_text(r, s, ranged: bool, scale: float = 1.0) -> str:
    return (s.money(r["extra_revenue"] * scale, 0)
            + (f" ({s.money(r['extra_revenue_low'] * scale, 0)} to {s.money(r['extra_revenue_high'] * scale, 0)})"
               if ranged else ""))


def _data_span(first_event, as_of, s) -> tuple[str, float]:
    days = (as_of - first_event) / pd.Timedelta(days=1)
    years = days / 365.25
    if years >= 1:
        span = ("over the year of data" if round(years, 1) == 1 else
                f"over the {s.number(years, 0 if abs(years - round(years)) < 0.05 else 1)} years of data")
    else:
        months = max(round(days / 30.44), 1)
        span = "over the month of data" if months == 1 else f"over the {s.count(months)} months of data"
    return span, years


def whatif_view(levers: pd.DataFrame, settings, *, improve_by: float, client: bool) -> tuple[pd.DataFrame, dict]:
    """The levers as the report shows them, and the columns' headers.

    Parameters
    ----------
    levers : DataFrame
        :func:`~crm_research.journey.rank_levers` of :func:`what_if_steps`.
    settings : ReportSettings
    improve_by : float
        The improvement (share), named in a header.
    client : bool
        For a client: the step in words and each value with its 95% range in one cell.

    Returns
    -------
    (DataFrame, dict)
        The table (without ``lift``, ``n_paths``, ``observed_purchases``) and ``run.show``'s
        ``columns``.

    Examples
    --------
    >>> from crm_research import settings
    >>> s = report_labels(settings.from_dict({}))
    >>> levers = pd.DataFrame({"step": ["b → c", "a → b"], "lift": 0.1, "n_paths": 100, "observed_purchases": 40,
    ...                        "p_step": [0.5, 0.8], "p_step_new": [0.55, 0.88], "extra_purchases": [4.0, 2.5],
    ...                        "extra_low": [3.0, 1.0], "extra_high": [5.0, 4.0], "extra_revenue": np.nan,
    ...                        "ranked_by": "extra_purchases"})
    >>> view, columns = whatif_view(levers, s, improve_by=0.1, client=True)
    >>> view[["step_words", "p_step", "extra_text"]]
      step_words  p_step extra_text
    0      B → C     0.5  4 (3 to 5)
    1      A → B     0.8  2 (1 to 4)
    >>> columns["extra_text"]
    'Extra purchases (95% range)'
    """
    s = settings
    best = levers.iloc[0]
    has_value = best["ranked_by"] == "extra_revenue"
    ranged = bool(levers["extra_low"].notna().iloc[0]) if len(levers) else False
    view = levers
    if client:
        view = levers.assign(
            step_words=[move_words(*_split_step(st), s.label) for st in levers["step"]],
            # the value with its 95% range in one cell: "€259,519 (€245,340 to €273,744)"
            extra_text=[_purchases_text(r, s, ranged).removesuffix(" purchases").replace(" purchases (", " (")
                        for _, r in levers.iterrows()],
            revenue_words=[_revenue_text(r, s, ranged) if has_value else "" for _, r in levers.iterrows()])
    columns = {"step_words": "Step", "p_step": "Moving on now", "p_step_new": f"With {improve_by:+.0%}",
               "extra_text": "Extra purchases" + (" (95% range)" if ranged else ""),
               **({"revenue_words": "Extra revenue" + (" (95% range)" if ranged else "")} if has_value else {})}
    return view.drop(columns=["lift", "n_paths", "observed_purchases"]), columns


def whatif_texts(levers: pd.DataFrame, *, chosen_move: tuple[str, str], improve_by: float,
                 improve_segment: dict, first_event, as_of, n_boot: int, settings,
                 drop: dict | None = None) -> SectionText:
    """The what-if's headline, paragraph, finding and action, all from the biggest lever.

    Parameters
    ----------
    levers : DataFrame
        :func:`~crm_research.journey.rank_levers` of :func:`what_if_steps` (its first row is
        the biggest lever).
    chosen_move : (str, str)
        The move the scenario was set up for (``improve_step`` and the next step).
    improve_by : float
        The improvement (share).
    improve_segment : dict
        The group the scenario applies to (``{}``: all customers).
    first_event : Timestamp
        The first event: the window the chain counts purchases in runs from it to ``as_of``.
    as_of : Timestamp
        Analysis date.
    n_boot : int
        Bootstrap replicates (0: no ranges).
    settings : ReportSettings
    drop : dict, optional
        :func:`biggest_drop` of the funnel: said when the biggest lever is another step.

    Examples
    --------
    >>> from crm_research import settings
    >>> s = report_labels(settings.from_dict({}))
    >>> levers = pd.DataFrame({"step": ["b → c", "a → b"], "rank": [1, 2], "n_paths": 100, "p_step": [0.5, 0.8],
    ...                        "p_step_new": [0.55, 0.88], "baseline_purchases": 40.0, "extra_purchases": [4.0, 2.5],
    ...                        "extra_low": np.nan, "extra_high": np.nan, "extra_revenue": [400.0, 250.0],
    ...                        "extra_revenue_low": np.nan, "extra_revenue_high": np.nan, "ranked_by": "extra_revenue"})
    >>> text = whatif_texts(levers, chosen_move=("a", "b"), improve_by=0.1, improve_segment={},
    ...                     first_event=pd.Timestamp("2024-01-01", tz="UTC"), as_of=pd.Timestamp("2026-01-01", tz="UTC"),
    ...                     n_boot=0, settings=s)
    >>> text.headlines[0]
    ('What-if: the biggest lever', 400.0, 'B → C +10%: 400 more revenue over the 2 years of data')
    >>> text.actions[0]["value_text"]
    'about 200 a year'
    """
    from crm_research.journey.simulate import per_year

    s, label = settings, settings.label
    best = levers.iloc[0]
    best_move = move_words(*_split_step(best["step"]), label)
    chosen = levers[levers["step"] == f"{chosen_move[0]} → {chosen_move[1]}"].iloc[0]
    has_value = best["ranked_by"] == "extra_revenue"
    ranged = bool(n_boot) and pd.notna(best["extra_low"])
    span, years = _data_span(first_event, as_of, s)
    who = (" and ".join(segment_words(k, v, label) for k, v in improve_segment.items()) if improve_segment
           else "for all customers")
    out = SectionText("whatif")
    out.headlines.append(("What-if: the biggest lever", float(best["extra_revenue"] if has_value else best["extra_purchases"]),
                          f"{best_move} {improve_by:+.0%}: "
                          + (f"{s.money(best['extra_revenue'], 0)} more revenue" if has_value
                             else f"{s.number(best['extra_purchases'], 0)} more purchases") + f" {span}"))
    # per year only from a year of data or more (a shorter window would be extrapolated)
    yearly = per_year(best["extra_revenue"], first_event, as_of) if has_value and years >= 1 else float("nan")
    scale = yearly / best["extra_revenue"] if has_value and pd.notna(yearly) and best["extra_revenue"] else float("nan")
    per_year_text = _revenue_text(best, s, ranged, scale) + " a year" if pd.notna(scale) else None
    differs = drop is not None and best["step"] != f"{drop['from_step']} → {drop['step']}"
    purchases = _purchases_text(best, s, ranged)
    out.markdown = (
        f"**The biggest lever is {_md(best_move)}.** Had this move been {abs(improve_by):.0%} "
        f"{'more' if improve_by >= 0 else 'less'} likely ({s.pct(best['p_step_new'])} instead of {s.pct(best['p_step'])}) "
        f"{_md(who)}, the {s.count(best['n_paths'])} customers who entered the funnel would have made "
        f"**{_md(purchases)}** more on top of the {s.count(best['baseline_purchases'])} observed"
        + (f", about **{_md(_revenue_text(best, s, ranged))}** in revenue {span}" if has_value else f" {span}")
        + (f", about {_md(per_year_text)}" if per_year_text else "") + ". "
        + ("" if chosen["step"] == best["step"] else
           f"At {_md(move_words(*_split_step(chosen['step']), label))}, the step this scenario was set up for, the "
           f"same improvement ranks {s.count(chosen['rank'])} of {s.count(len(levers))} "
           f"({_md(_purchases_text(chosen, s, ranged))} more). ")
        + (f"The biggest lever is not the biggest drop-off ({_md(move_words(drop['from_step'], drop['step'], label))}): "
           "the same relative gain is worth most where many customers pass and most of those who go on end up buying."
           if differs else ""))
    # findings and the action come from the same row (best) as the headline and the text
    value_words = span + (f", about {_revenue_text(best, s, ranged)} in revenue" if has_value else "") + (
        f", or {per_year_text}" if per_year_text else "")
    out.findings.append({"text": f"The biggest lever is **{_md(best_move)}**: had {s.pct(best['p_step_new'])} instead of "
                                 f"{s.pct(best['p_step'])} of customers made this move ({improve_by:+.0%}), they would have made about "
                                 f"{_md(purchases)} more {_md(value_words)}.",
                         "priority": 1, "figure": "journey_whatif"})
    if has_value and per_year_text:
        value_text = f"about {per_year_text}"
    elif has_value:
        value_text = f"about {_revenue_text(best, s, ranged)} {span}"
    else:
        value_text = f"about {purchases} more {span}"
    out.actions.append({
        "text": f"Improve the step **{_md(best_move)}**, now taken by {s.pct(best['p_step'])} of the customers who reach it: "
                f"{abs(improve_by):.0%} better there is the biggest gain of the funnel. Test the fix on part of the traffic first.",
        "value": (yearly if has_value and pd.notna(yearly) else (best["extra_revenue"] if has_value else None)),
        "value_text": value_text, "priority": 1})
    return out


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

