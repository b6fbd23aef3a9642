"""KPI baseline measurement: the baseline table, cohort retention, SMART goals, snapshots, breakdowns.

Entry point :func:`baseline`: one tidy row per metric and period with value, unit, numerator,
denominator, interval and one-line definition (the metrics are declared in
:mod:`crm_research.kpi.definitions`). Row-level work runs on the engine layer
(:mod:`crm_research.kpi.scans`); the KPI arithmetic is done in pandas on small aggregates.

Modules: ``definitions`` (metric registry), ``intervals`` (Wilson, t, Poisson, NPS),
``scans`` (engine aggregations), ``measure`` (the baseline), ``cohorts``, ``goals``,
``snapshots``, ``breakdowns``.
"""

from crm_research.kpi import present
from crm_research.kpi.breakdowns import DIMENSIONS, breakdowns, flag_small
from crm_research.kpi.cohorts import cohort_matrix, cohort_retention
from crm_research.kpi.definitions import (
    ADVOCATE_RULES,
    METRICS,
    Metric,
    check_metric_names,
    metric_names,
)
from crm_research.kpi.goals import example_goals_path, load_goals, scorecard, select_goals
from crm_research.kpi.measure import baseline, latest, not_measured_note, partial_latest, unmeasured
from crm_research.kpi.snapshots import compare as compare_snapshots
from crm_research.kpi.snapshots import load as load_snapshot
from crm_research.kpi.snapshots import record as record_snapshot

__all__ = [
    "baseline",
    "latest",
    "unmeasured",
    "not_measured_note",
    "partial_latest",
    "present",
    "METRICS",
    "Metric",
    "metric_names",
    "check_metric_names",
    "ADVOCATE_RULES",
    "cohort_retention",
    "cohort_matrix",
    "load_goals",
    "scorecard",
    "select_goals",
    "example_goals_path",
    "record_snapshot",
    "load_snapshot",
    "compare_snapshots",
    "breakdowns",
    "flag_small",
    "DIMENSIONS",
]
