"""The KPI baseline in a client's words and units: values, ranges, periods, a latest-period table.

The analysis tables keep their codes and raw numbers (``metric``, ``unit``, ``ci_low``...); this
module turns them into the text a client reads: the metric's readable name
(``settings.label("metrics", ...)``), the value in its unit (shares as percentages, money in the
engagement's currency, counts as whole numbers, hours, points), the 95% range in the same unit,
and a period name that says when the period is partial.

Every function takes the engagement's :class:`crm_research.settings.ReportSettings`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from crm_research.kpi.definitions import METRICS

__all__ = ["value_text", "range_text", "change_text", "period_text", "latest_table", "wide_table",
           "MONEY_UNITS"]

MONEY_UNITS = ("currency", "currency per order", "currency per customer")
"""Units of the money metrics (shown in the engagement's currency)."""


def _finite(x) -> bool:
    try:
        return x is not None and np.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _unit(metric: str) -> str:
    return METRICS[metric].unit if metric in METRICS else ""


def value_text(metric: str, x, settings, *, money_decimals: int | None = None) -> str:
    """``x``, a value of ``metric``, in its unit for a client ('' when missing).

    Parameters
    ----------
    metric : str
        A metric of :data:`~crm_research.kpi.definitions.METRICS`.
    x : float
        The value in the metric's unit (shares 0-1, currency, hours, points...).
    settings : ReportSettings
    money_decimals : int, optional
        Decimals of money (default: 0 from 1,000 up, else the currency's).

    Returns
    -------
    str
        E.g. "56.0%", "€153.92", "€282,449", "1,103", "5.2 h", "3.95 of 5", "−7", "1.66 orders",
        "43.8 a week".

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> s = ReportSettings()
    >>> value_text("retention_rate", 0.5625, s), value_text("revenue", 282449.2, s), value_text("nps", -7.2, s)
    ('56.2%', '282,449', '−7')
    """
    if not _finite(x):
        return ""
    x = float(x)
    unit = _unit(metric)
    if unit == "share":
        return settings.pct(x)
    if unit in MONEY_UNITS:
        d = money_decimals if money_decimals is not None else (0 if abs(x) >= 1000 else None)
        return settings.money(x, d)
    if unit == "hours":
        return f"{settings.number(x, 1)} h"
    if unit == "score 1-5":
        return f"{settings.number(x, 2)} of 5"
    if unit.startswith("points"):
        return f"{settings.number(x, 0)}".replace("-", "−")
    if unit == "orders per customer":
        return f"{settings.number(x, 2)} orders"
    if unit == "customers per week":
        return f"{settings.number(x, 1)} a week"
    return settings.count(x)


def range_text(metric: str, low, high, settings) -> str:
    """The 95% range of a value of ``metric`` in its unit: "53.0% to 58.9%" ('' when none).

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> range_text("nps", -20.5, -3.1, ReportSettings())
    '−20 to −3'
    """
    if not (_finite(low) and _finite(high)):
        return ""
    return f"{value_text(metric, low, settings)} to {value_text(metric, high, settings)}"


def change_text(metric: str, before, after, settings) -> str:
    """The change of ``metric`` from ``before`` to ``after``: points for shares, else % of before.

    Returns
    -------
    str
        E.g. "+2.3 pts", "+12.4%", '' when a value is missing (or ``before`` is 0 for a
        relative change).

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> s = ReportSettings()
    >>> change_text("retention_rate", 0.5, 0.55, s), change_text("orders", 100, 120, s)
    ('+5.0 pts', '+20.0%')
    """
    if not (_finite(before) and _finite(after)):
        return ""
    before, after = float(before), float(after)
    if _unit(metric) == "share":
        return settings.pts(after - before)
    if before == 0:
        return ""
    return settings.pct(after / before - 1, signed=True)


def period_text(start, period: str, settings, *, partial: bool = False) -> str:
    """The name of the period starting at ``start``: "Dec 2025", "week of 01 Dec 2025", "2025 Q4".

    ``partial`` adds " (partial)".

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> period_text(pd.Timestamp("2025-12-01", tz="UTC"), "M", ReportSettings(), partial=True)
    'Dec 2025 (partial)'
    """
    ts = pd.Timestamp(start)
    if period == "M":
        text = ts.strftime("%b %Y")
    elif period == "W":
        text = "week of " + settings.day(ts)
    elif period == "Q":
        text = f"{ts.year} Q{(ts.month - 1) // 3 + 1}"
    else:
        text = str(ts.year)
    return text + (" (partial)" if partial else "")


def latest_table(latest: pd.DataFrame, settings, partial: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The latest period's KPIs as a client reads them: name, value with unit, 95% range.

    Parameters
    ----------
    latest : DataFrame
        :func:`crm_research.kpi.latest` of a baseline table.
    settings : ReportSettings
    partial : mapping of str to str, optional
        Metrics whose latest period is partial (:func:`crm_research.kpi.partial_latest`): their
        value is marked "(partial period)".

    Returns
    -------
    DataFrame
        Text columns ``kpi``, ``value``, ``range`` (empty for counts, sums and medians).

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> now = pd.DataFrame({"metric": ["orders", "retention_rate"], "value": [120.0, 0.4], "ci_low": [np.nan, 0.31],
    ...                     "ci_high": [np.nan, 0.49]})
    >>> latest_table(now, ReportSettings()).values.tolist()
    [['Orders', '120', ''], ['Retention rate', '40.0%', '31.0% to 49.0%']]
    """
    partial = partial or {}
    rows = []
    for r in latest.itertuples(index=False):
        value = value_text(r.metric, r.value, settings)
        if r.metric in partial and value:
            value += " (partial period)"
        rows.append({"kpi": settings.label("metrics", r.metric), "value": value,
                     "range": range_text(r.metric, r.ci_low, r.ci_high, settings)})
    return pd.DataFrame(rows, columns=["kpi", "value", "range"])


def wide_table(baseline: pd.DataFrame, settings, *, last: int = 6,
               partial: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The last ``last`` periods of every KPI, one row per KPI, values in their unit (text).

    Columns are the period names (:func:`period_text`); a value of a metric whose latest period
    is partial (``partial``) is marked "(partial)", and when every metric's latest period is
    partial, so is the column's name.

    Returns
    -------
    DataFrame
        ``kpi`` and one text column per period.

    Examples
    --------
    >>> from crm_research.settings import ReportSettings
    >>> k = pd.DataFrame({"metric": "orders", "value": [5.0, 7.0, 9.0],
    ...                   "period": pd.date_range("2025-10-01", periods=3, freq="MS", tz="UTC")})
    >>> wide_table(k, ReportSettings(), last=2).values.tolist()
    [['Orders', '7', '9']]
    """
    partial = partial or {}
    if baseline.empty:
        return pd.DataFrame(columns=["kpi"])
    period = baseline.attrs.get("period", "M")
    starts = sorted(baseline["period"].drop_duplicates())[-last:]
    metrics = list(dict.fromkeys(baseline["metric"]))
    all_partial = bool(metrics) and all(m in partial for m in metrics)
    names = {s: period_text(s, period, settings, partial=all_partial and s == starts[-1]) for s in starts}
    d = baseline[baseline["period"].isin(starts)]
    out = {m: {"kpi": settings.label("metrics", m)} for m in metrics}
    for r in d.itertuples(index=False):
        text = value_text(r.metric, r.value, settings)
        if r.period == starts[-1] and r.metric in partial and not all_partial and text:
            text += " (partial)"
        out[r.metric][names[r.period]] = text
    return pd.DataFrame(list(out.values()), columns=["kpi"] + [names[s] for s in starts]).fillna("")
