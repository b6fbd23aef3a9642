"""Journey mapping: sessions, lifecycle stages, funnels, transitions, paths, friction, what-if.

Row-level work runs on the engine layer (:mod:`crm_research.engine`): pandas in → pandas out on
an in-process DuckDB, an ``ibis.Table`` in → a lazy ``ibis.Table`` out. Column names are
``*_col`` arguments (defaults: ``customer_id``, ``occurred_at``, ``event``, ``session_id``,
``platform``), so any event log works. Events of a path are ordered by time, then input order
(pandas row order, or ``row_col``).

Entry points
------------
sessions, session_summary
    Cut event streams into sessions (gap strictly longer than a timeout).
load_stage_map, map_stages, stages, stage_counts
    Lifecycle stages from a YAML map; each customer's current stage as of a date.
funnel, funnel_paths
    Closed / open funnels with windows, splits and Wilson intervals.
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
simulate, JourneyChain, path_transition_counts, rank_levers, per_year
    Absorbing Markov chain what-if with a bootstrap interval; the steps ranked as levers.
move_words, path_words, segment_words
    The codes of moves, paths and groups in a client's words.
"""

from crm_research.journey.friction import FrictionScan, friction, friction_cells, friction_points
from crm_research.journey.funnel import funnel, funnel_paths
from crm_research.journey.paths import path_flows, top_paths
from crm_research.journey.sessions import session_summary, sessions
from crm_research.journey.simulate import (
    JourneyChain,
    path_transition_counts,
    per_year,
    rank_levers,
    simulate,
)
from crm_research.journey.stages import load_stage_map, map_stages, stage_counts, stages
from crm_research.journey.timing import reach_curve, summarise_time_to, time_to, time_to_paths
from crm_research.journey.transitions import END, START, transitions
from crm_research.journey.words import move_words, path_words, segment_words

__all__ = [
    "sessions", "session_summary",
    "load_stage_map", "map_stages", "stages", "stage_counts",
    "funnel", "funnel_paths",
    "transitions", "START", "END",
    "time_to", "time_to_paths", "summarise_time_to", "reach_curve",
    "top_paths", "path_flows",
    "friction", "friction_cells", "friction_points", "FrictionScan",
    "simulate", "JourneyChain", "path_transition_counts", "rank_levers", "per_year",
    "move_words", "path_words", "segment_words",
]
