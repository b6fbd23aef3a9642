"""KPI baseline measurement: the baseline table, cohort retention, SMART goals, snapshots, breakdowns.

Entry point :func:`baseline`: one tidy row per metric and period with value, unit, numerator,
denominator, interval and one-line definition (the metrics are declared in
:mod:`crm_research.kpi.definitions`). Row-level work runs on the engine layer
(:mod:`crm_research.kpi.scans`); the KPI arithmetic is done in pandas on small aggregates.

Modules: ``definitions`` (metric registry), ``intervals`` (t, Poisson, NPS; Wilson is
:func:`crm_research.stats.wilson`), ``prepare`` (table checks), ``scans`` (engine aggregations),
``measure`` (the baseline), ``assemble`` (its arithmetic), ``tables`` (the baseline table's
readers), ``cohorts``, ``goals``, ``snapshots``, ``breakdowns``, ``truth`` (the planted-truth check), ``story`` and ``story_review``
(the report's sentences).
"""

from crm_research import _lazy

_EXPORTS = {
    "present": "crm_research.kpi.present",
    "story": "crm_research.kpi.story",
    "story_review": "crm_research.kpi.story_review",
    "DIMENSIONS": "crm_research.kpi.breakdowns:DIMENSIONS",
    "breakdowns": "crm_research.kpi.breakdowns:breakdowns",
    "flag_small": "crm_research.kpi.breakdowns:flag_small",
    "cohort_matrix": "crm_research.kpi.cohorts:cohort_matrix",
    "cohort_retention": "crm_research.kpi.cohorts:cohort_retention",
    "ADVOCATE_RULES": "crm_research.kpi.definitions:ADVOCATE_RULES",
    "METRICS": "crm_research.kpi.definitions:METRICS",
    "Metric": "crm_research.kpi.definitions:Metric",
    "check_metric_names": "crm_research.kpi.definitions:check_metric_names",
    "metric_names": "crm_research.kpi.definitions:metric_names",
    "example_goals_path": "crm_research.kpi.goals:example_goals_path",
    "load_goals": "crm_research.kpi.goals:load_goals",
    "scorecard": "crm_research.kpi.goals:scorecard",
    "select_goals": "crm_research.kpi.goals:select_goals",
    "baseline": "crm_research.kpi.measure:baseline",
    "latest": "crm_research.kpi.tables:latest",
    "not_measured_note": "crm_research.kpi.measure:not_measured_note",
    "partial_latest": "crm_research.kpi.measure:partial_latest",
    "unmeasured": "crm_research.kpi.measure:unmeasured",
    "compare_snapshots": "crm_research.kpi.snapshots:compare",
    "load_snapshot": "crm_research.kpi.snapshots:load",
    "record_snapshot": "crm_research.kpi.snapshots:record",
    "write_snapshot": "crm_research.kpi.snapshots:write_snapshot",
    "run_fingerprint": "crm_research.kpi.snapshots:run_fingerprint",
    "truth_check": "crm_research.kpi.truth:truth_check",
}
"""Public name -> where it comes from; each module is imported on first use of one of its names
(:mod:`crm_research._lazy`), so importing a few names does not load every model library."""

__all__ = [
    "baseline",
    "latest",
    "unmeasured",
    "not_measured_note",
    "partial_latest",
    "present",
    "story",
    "story_review",
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
    "write_snapshot",
    "run_fingerprint",
    "truth_check",
    "breakdowns",
    "flag_small",
    "DIMENSIONS",
]

__getattr__, __dir__ = _lazy.install(__name__, _EXPORTS)
