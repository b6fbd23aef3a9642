"""SMART goals on the baseline's metrics, and the scorecard that tracks them.

A goals file (YAML) lists, per goal, the ``metric`` (a baseline metric name), the ``target``
value (in the metric's unit), the ``deadline`` (date), the ``direction`` of progress
(``increase`` or ``decrease``) and the ``owner``; ``note`` is optional. See
``resources/goals_example.yaml`` (:func:`example_goals_path`).

The scorecard compares each goal with the baseline (the latest period of a baseline table) and,
at a review, with a later baseline table or snapshot:

* ``gap`` = target - baseline; ``needed_per_month`` = the gap still open divided by the months
  from the baseline's ``as_of`` to the deadline (months of 30.436875 days), 0 when already met;
* ``expected_now`` = baseline + needed_per_month × months elapsed at the later snapshot (the
  straight line from the baseline to the target);
* ``status``: ``met`` (the later value reaches the target in the goal's direction), else
  ``missed`` (the later snapshot is at or after the deadline), else ``on-track`` (at or beyond
  the straight line), else ``at-risk``. Without a later snapshot: ``met`` or ``baseline``.
  Point values decide; the intervals are shown beside them. A value that cannot be computed
  (no order in the latest period for an order value) has status ``no data``.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from crm_research.errors import CRMError
from crm_research.exprs import parse_as_of
from crm_research.kpi.definitions import METRICS, check_metric_names
from crm_research.kpi.tables import check_same_period, latest, table_as_of

__all__ = ["load_goals", "scorecard", "select_goals", "example_goals_path", "DIRECTIONS", "MONTH_DAYS",
           "GOAL_FIELDS"]

DIRECTIONS = {"increase": 1, "decrease": -1}
"""Accepted ``direction`` values and their sign."""

MONTH_DAYS = 30.436875
"""Days in a month (the mean Gregorian month) for 'improvement per month'."""

GOAL_FIELDS = ("metric", "target", "deadline", "direction", "owner")
"""Required fields of a goal."""


def example_goals_path() -> Path:
    """Path of the example goals file shipped with the package.

    Examples
    --------
    >>> example_goals_path().name, len(load_goals(example_goals_path())) > 0
    ('goals_example.yaml', True)
    """
    return Path(str(resources.files("crm_research") / "resources" / "goals_example.yaml"))


def load_goals(source) -> pd.DataFrame:
    """Read and check a goals file.

    Parameters
    ----------
    source : path-like, list of dict, dict or DataFrame
        A YAML file (a list of goals, or a mapping with a ``goals`` list), the parsed content, or
        a table with the goal fields as columns.

    Returns
    -------
    DataFrame
        ``metric``, ``target`` (float, metric unit), ``deadline`` (UTC Timestamp),
        ``direction`` (``increase`` / ``decrease``), ``owner``, ``note``; in file order.

    Raises
    ------
    CRMError
        Unreadable file; unknown metric names (the message names them and lists the valid
        ones); missing fields; a target that is not a number; a deadline that is not a date;
        a direction other than increase / decrease. Every problem is listed.

    Examples
    --------
    >>> g = load_goals([{"metric": "retention_rate", "target": 0.5, "deadline": "2026-07-01",
    ...                  "direction": "increase", "owner": "CRM"}])
    >>> g.loc[0, ["metric", "direction", "owner"]].tolist(), float(g.loc[0, "target"]), g.loc[0, "deadline"]
    (['retention_rate', 'increase', 'CRM'], 0.5, Timestamp('2026-07-01 00:00:00+0000', tz='UTC'))
    """
    where = "goals"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        where = str(path)
        if not path.is_file():
            raise CRMError(f"goals file {path} does not exist")
        try:
            content = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise CRMError(f"goals file {path} is not valid YAML: {exc}") from exc
    elif isinstance(source, pd.DataFrame):
        content = source.to_dict("records")
    else:
        content = source
    if isinstance(content, dict):
        content = content.get("goals")
    if not isinstance(content, list) or not content:
        raise CRMError(f"{where}: expected a non-empty list of goals (or a mapping with a 'goals' list), "
                       "each with metric, target, deadline, direction and owner")
    problems, rows = [], []
    unknown = []
    for i, g in enumerate(content, start=1):
        if not isinstance(g, dict):
            problems.append(f"goal {i}: expected a mapping of fields, got {g!r}")
            continue
        missing = [f for f in GOAL_FIELDS if g.get(f) is None or (isinstance(g.get(f), float) and np.isnan(g[f]))]
        if missing:
            problems.append(f"goal {i} ({g.get('metric', '?')}): missing {', '.join(missing)}")
            continue
        metric = str(g["metric"])
        if metric not in METRICS:
            unknown.append(metric)
        try:
            target = float(g["target"])
            if not np.isfinite(target):
                raise ValueError
        except (TypeError, ValueError):
            problems.append(f"goal {i} ({metric}): target {g['target']!r} is not a number")
            target = np.nan
        try:
            deadline = parse_as_of(g["deadline"])
        except CRMError:
            problems.append(f"goal {i} ({metric}): deadline {g['deadline']!r} is not a date (YYYY-MM-DD)")
            deadline = pd.NaT
        direction = str(g["direction"]).strip().lower()
        if direction not in DIRECTIONS:
            problems.append(f"goal {i} ({metric}): direction {g['direction']!r} must be increase or decrease")
        extra = sorted(set(g) - set(GOAL_FIELDS) - {"note"})
        if extra:
            problems.append(f"goal {i} ({metric}): unknown field(s) {', '.join(extra)}; allowed: "
                            f"{', '.join(GOAL_FIELDS)}, note")
        rows.append({"metric": metric, "target": target, "deadline": deadline, "direction": direction,
                     "owner": str(g["owner"]), "note": "" if g.get("note") is None else str(g["note"])})
    if unknown:
        try:
            check_metric_names(unknown, where=f"{where}")
        except CRMError as exc:
            problems.insert(0, str(exc))
    if problems:
        raise CRMError(f"{where}: {len(problems)} problem{'s' if len(problems) > 1 else ''} in the goals:\n- "
                       + "\n- ".join(problems))
    out = pd.DataFrame(rows, columns=["metric", "target", "deadline", "direction", "owner", "note"])
    out["deadline"] = pd.to_datetime(out["deadline"], utc=True)
    return out


def _values(table: pd.DataFrame, metrics: list[str], what: str) -> pd.DataFrame:
    last = latest(table).set_index("metric")
    missing = [m for m in dict.fromkeys(metrics) if m not in last.index]
    if missing:
        skipped = table.attrs.get("skipped", {}) if hasattr(table, "attrs") else {}
        why = "; ".join(f"{m}: {skipped[m]}" for m in missing if m in skipped)
        raise CRMError(f"the {what} has no rows for goal metric(s) {', '.join(missing)}"
                       + (f" ({why})" if why else "") + ": compute it from data that has those tables")
    return last


def select_goals(goals, baseline: pd.DataFrame, current: pd.DataFrame | None = None, *,
                 drop_past: bool = False) -> tuple[pd.DataFrame, dict[str, str]]:
    """The goals :func:`scorecard` can score on these tables, and why the others are left out.

    Parameters
    ----------
    goals : path-like, list, dict or DataFrame
        Anything :func:`load_goals` reads.
    baseline, current : DataFrame
        As in :func:`scorecard`.
    drop_past : bool
        Also leave out goals whose deadline is not after the baseline's ``as_of`` (for example
        goals with fixed dates; a business's own goals with a past deadline are an error in
        :func:`scorecard`).

    Returns
    -------
    kept : DataFrame
        The goals (as :func:`load_goals` returns them) whose metric both tables measure, in
        file order; may be empty.
    left_out : dict of str to str
        Metric → reason in plain words (the baseline's ``attrs["skipped"]`` reason when it
        has one).

    Examples
    --------
    >>> kpis = pd.DataFrame({"metric": ["retention_rate"], "value": [0.33], "period": pd.Timestamp("2025-12-01", tz="UTC"),
    ...                      "period_end": pd.Timestamp("2026-01-01", tz="UTC")})
    >>> kpis.attrs["skipped"] = {"nps": "the data has no surveys table"}
    >>> goals = [{"metric": m, "target": 10, "deadline": "2026-07-01", "direction": "increase", "owner": "CX"}
    ...          for m in ("retention_rate", "nps")]
    >>> kept, left_out = select_goals(goals, kpis)
    >>> kept["metric"].tolist(), left_out
    (['retention_rate'], {'nps': 'the data has no surveys table'})
    """
    g = load_goals(goals)
    tables = [baseline] if current is None else [baseline, current]
    measured = set.intersection(*(set(t["metric"]) for t in tables))
    why = {**(current.attrs.get("skipped", {}) if current is not None else {}), **baseline.attrs.get("skipped", {})}
    left_out: dict[str, str] = {}
    for metric in g["metric"]:
        if metric not in measured:
            left_out[metric] = why.get(metric, "not measured in " + (
                "the baseline" if metric not in set(baseline["metric"]) else "the current snapshot"))
    keep = g["metric"].isin(measured)
    if drop_past:
        start = table_as_of(baseline)
        past = keep & (g["deadline"] <= start)
        for metric, deadline in zip(g.loc[past, "metric"], g.loc[past, "deadline"], strict=True):
            left_out[metric] = f"its deadline {deadline:%Y-%m-%d} is not after the baseline's {start:%Y-%m-%d}"
        keep &= ~past
    return g[keep].reset_index(drop=True), left_out


def scorecard(goals, baseline: pd.DataFrame, current: pd.DataFrame | None = None) -> pd.DataFrame:
    """Score SMART goals against the baseline and, optionally, a later snapshot.

    Parameters
    ----------
    goals : path-like, list, dict or DataFrame
        Anything :func:`load_goals` reads.
    baseline : DataFrame
        A baseline table (:func:`crm_research.kpi.baseline`) or a loaded snapshot; the latest
        period of each metric is the baseline value, its ``as_of`` the start of the clock.
    current : DataFrame, optional
        A later baseline table or snapshot (the review); its latest period is the current value.

    Returns
    -------
    DataFrame
        One row per goal, in file order: ``metric``, ``owner``, ``direction``, ``unit``,
        ``baseline_as_of``, ``baseline_period`` (start of the period used), ``baseline``,
        ``baseline_ci_low``, ``baseline_ci_high``, ``target``, ``deadline``, ``gap`` (target -
        baseline, metric unit), ``months_to_deadline``, ``needed_per_month`` (metric unit per
        month; 0 when already met), ``current_as_of``, ``current_period``, ``current``,
        ``current_ci_low``, ``current_ci_high``, ``expected_now``, ``progress`` (share of the
        gap closed), ``status`` (see the module docs), ``note``.

    Raises
    ------
    CRMError
        Unknown metrics or bad fields in the goals; a goal metric absent from a table; a
        deadline not after the baseline's ``as_of``; a ``current`` older than the baseline or
        computed with another period (``attrs["period"]``).

    Examples
    --------
    >>> orders = pd.DataFrame({"customer_id": [1, 1, 2, 3, 3, 3], "amount": 40.0,
    ...     "ordered_at": pd.to_datetime(["2025-10-03", "2025-11-20", "2025-11-02", "2025-10-10", "2025-11-11",
    ...                                   "2025-12-24"], utc=True)})
    >>> from crm_research.kpi.measure import baseline
    >>> kpis = baseline({"orders": orders}, "2026-01-01", "M")
    >>> goals = [{"metric": "retention_rate", "target": 0.5, "deadline": "2026-07-01", "direction": "increase",
    ...           "owner": "CRM"}]
    >>> card = scorecard(goals, kpis)  # December: 1 of 3 came back; 0.167 to close in 5.9 months
    >>> card.loc[0, ["baseline", "gap", "months_to_deadline", "needed_per_month"]].astype(float).round(3).tolist()
    [0.333, 0.167, 5.947, 0.028]
    >>> card.loc[0, "status"]
    'baseline'
    """
    g = load_goals(goals)
    b_as_of = table_as_of(baseline)
    b = _values(baseline, g["metric"].tolist(), "baseline")
    early = g[g["deadline"] <= b_as_of]
    if len(early):
        raise CRMError("goal deadline(s) not after the baseline's as_of "
                       f"{b_as_of.date()}: " + ", ".join(f"{m} ({d.date()})" for m, d in
                                                         zip(early["metric"], early["deadline"], strict=True)))
    c = None
    c_as_of = pd.NaT
    if current is not None:
        check_same_period(baseline, current, what="baseline and current snapshot")
        c_as_of = table_as_of(current)
        if c_as_of < b_as_of:
            raise CRMError(f"the current snapshot (as_of {c_as_of.date()}) is older than the baseline "
                           f"(as_of {b_as_of.date()}): pass them in time order")
        c = _values(current, g["metric"].tolist(), "current snapshot")
    rows = []
    for goal in g.itertuples(index=False):
        sign = DIRECTIONS[goal.direction]
        br = b.loc[goal.metric]
        base = float(br["value"])
        gap = goal.target - base
        months = (goal.deadline - b_as_of).total_seconds() / 86_400 / MONTH_DAYS
        open_gap = gap if sign * gap > 0 else 0.0
        needed = open_gap / months
        row = {
            "metric": goal.metric, "owner": goal.owner, "direction": goal.direction,
            "unit": METRICS[goal.metric].unit, "baseline_as_of": b_as_of,
            "baseline_period": br["period"], "baseline": base,
            "baseline_ci_low": float(br["ci_low"]), "baseline_ci_high": float(br["ci_high"]),
            "target": goal.target, "deadline": goal.deadline, "gap": gap,
            "months_to_deadline": months, "needed_per_month": needed,
            "current_as_of": c_as_of, "current_period": pd.NaT, "current": np.nan,
            "current_ci_low": np.nan, "current_ci_high": np.nan, "expected_now": np.nan,
            "progress": np.nan, "status": ("no data" if np.isnan(base) else "met" if sign * gap <= 0
                                           else "baseline"), "note": goal.note,
        }
        if c is not None:
            cr = c.loc[goal.metric]
            cur = float(cr["value"])
            elapsed = (c_as_of - b_as_of).total_seconds() / 86_400 / MONTH_DAYS
            expected = base + needed * min(elapsed, months)
            row.update({
                "current_period": cr["period"], "current": cur, "current_ci_low": float(cr["ci_low"]),
                "current_ci_high": float(cr["ci_high"]), "expected_now": expected,
                "progress": (cur - base) / gap if gap != 0 else np.nan,
            })
            if np.isnan(cur):
                status = "no data"
            elif sign * (cur - goal.target) >= 0:
                status = "met"
            elif c_as_of >= goal.deadline:
                status = "missed"
            elif sign * (cur - expected) >= 0:
                status = "on-track"
            else:
                status = "at-risk"
            row["status"] = status
        rows.append(row)
    out = pd.DataFrame(rows)
    for col in ("baseline_as_of", "current_as_of", "deadline"):
        out[col] = pd.to_datetime(out[col], utc=True)
    return out
