"""Journey mapping: sessions, lifecycle stages, funnels, transitions, paths, friction, what-if.

Row-level work runs on the engine layer (:mod:`crm_research.engine`): pandas in → pandas out on
an in-process DuckDB, an ``ibis.Table`` in → a lazy ``ibis.Table`` out. Column names are
``*_col`` arguments (defaults: ``customer_id``, ``occurred_at``, ``event``, ``session_id``,
``platform``), so any event log works. Events of a path are ordered by time, then input order
(pandas row order, or ``row_col``).

Entry points
------------
check_parameters, prepare_events
    The journey report's parameters checked; the event log before ``as_of`` with the customers'
    attributes, the completed orders' amounts and visits.
sessions, session_summary
    Cut event streams into sessions (gap strictly longer than a timeout).
load_stage_map, map_stages, stages, stage_counts
    Lifecycle stages from a YAML map; each customer's current stage as of a date.
funnel, funnel_paths, funnel_from_paths
    Closed / open funnels with windows, splits and Wilson intervals; one row per path, and the
    funnel counted from those rows (several funnels from one read of the events).
transitions
    First-order transitions with start/end states and time between.
time_to, time_to_paths, summarise_time_to, reach_curve
    Time to a target among reachers and by Kaplan–Meier (censored at ``as_of``).
top_paths, path_flows
    Most frequent variants with conversion rates; flows of the first steps (Sankey).
friction, friction_cells, friction_points, FrictionScan
    Drop-offs and loop-backs; incidents: windows of 1..N periods of a step and segment scanned
    against their own history, false alarms controlled over everything scanned (bootstrap), the
    data's last days left out by each step's conversion window.
simulate, JourneyChain, EventColumns, Bootstrap, path_transition_counts, rank_levers, per_year
    Absorbing Markov chain what-if with a bootstrap interval (options: the log's columns, the
    bootstrap); the steps ranked as levers.
move_words, path_words, segment_words
    The codes of moves, paths and groups in a client's words.

The report's own tables and sentences (what ``notebooks/03_journey.ipynb`` shows) are in
:mod:`crm_research.journey.report`.
"""

from crm_research import _lazy

_EXPORTS = {
    "FrictionScan": "crm_research.journey.friction:FrictionScan",
    "friction": "crm_research.journey.friction:friction",
    "friction_cells": "crm_research.journey.friction:friction_cells",
    "friction_points": "crm_research.journey.friction:friction_points",
    "funnel": "crm_research.journey.funnel:funnel",
    "funnel_paths": "crm_research.journey.funnel:funnel_paths",
    "funnel_from_paths": "crm_research.journey.funnel:funnel_from_paths",
    "path_flows": "crm_research.journey.paths:path_flows",
    "top_paths": "crm_research.journey.paths:top_paths",
    "JourneyEvents": "crm_research.journey.prepare:JourneyEvents",
    "JourneyParameters": "crm_research.journey.prepare:JourneyParameters",
    "check_parameters": "crm_research.journey.prepare:check_parameters",
    "prepare_events": "crm_research.journey.prepare:prepare_events",
    "session_summary": "crm_research.journey.sessions:session_summary",
    "sessions": "crm_research.journey.sessions:sessions",
    "Bootstrap": "crm_research.journey.simulate:Bootstrap",
    "EventColumns": "crm_research.journey.simulate:EventColumns",
    "JourneyChain": "crm_research.journey.simulate:JourneyChain",
    "path_transition_counts": "crm_research.journey.simulate:path_transition_counts",
    "per_year": "crm_research.journey.simulate:per_year",
    "rank_levers": "crm_research.journey.simulate:rank_levers",
    "simulate": "crm_research.journey.simulate:simulate",
    "load_stage_map": "crm_research.journey.stages:load_stage_map",
    "map_stages": "crm_research.journey.stages:map_stages",
    "stage_counts": "crm_research.journey.stages:stage_counts",
    "stages": "crm_research.journey.stages:stages",
    "reach_curve": "crm_research.journey.timing:reach_curve",
    "summarise_time_to": "crm_research.journey.timing:summarise_time_to",
    "time_to": "crm_research.journey.timing:time_to",
    "time_to_paths": "crm_research.journey.timing:time_to_paths",
    "END": "crm_research.journey.transitions:END",
    "START": "crm_research.journey.transitions:START",
    "transitions": "crm_research.journey.transitions:transitions",
    "move_words": "crm_research.journey.words:move_words",
    "path_words": "crm_research.journey.words:path_words",
    "segment_words": "crm_research.journey.words:segment_words",
}
"""Public name -> where it comes from; each module is imported on first use of one of its names
(:mod:`crm_research._lazy`), so importing a few names does not load every model library."""

__all__ = [
    "check_parameters", "JourneyParameters", "prepare_events", "JourneyEvents",
    "sessions", "session_summary",
    "load_stage_map", "map_stages", "stages", "stage_counts",
    "funnel", "funnel_paths", "funnel_from_paths",
    "transitions", "START", "END",
    "time_to", "time_to_paths", "summarise_time_to", "reach_curve",
    "top_paths", "path_flows",
    "friction", "friction_cells", "friction_points", "FrictionScan",
    "simulate", "JourneyChain", "EventColumns", "Bootstrap", "path_transition_counts", "rank_levers",
    "per_year",
    "move_words", "path_words", "segment_words",
]

__getattr__, __dir__ = _lazy.install(__name__, _EXPORTS)
