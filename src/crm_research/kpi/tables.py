"""The baseline table's shape and the small readers every KPI module shares.

:data:`BASELINE_COLUMNS`, :func:`latest` (each metric's last period), :func:`table_as_of` (the
analysis date of a baseline table or snapshot) and :func:`check_same_period`. Goals and snapshots
both import them from here (no import cycle between those two).
"""

from __future__ import annotations

import pandas as pd

from crm_research.errors import CRMError
from crm_research.exprs import parse_as_of

__all__ = ["BASELINE_COLUMNS", "latest", "table_as_of", "check_same_period"]

BASELINE_COLUMNS = ["metric", "period", "period_end", "value", "unit", "numerator", "denominator",
                    "ci_low", "ci_high", "ci_method", "definition"]


def latest(table: pd.DataFrame) -> pd.DataFrame:
    """The last period's row of every metric of a baseline table (metric order kept).

    Parameters
    ----------
    table : DataFrame
        A baseline table (:func:`crm_research.kpi.baseline`) or a snapshot of one.

    Returns
    -------
    DataFrame
        One row per metric, indexed 0..n-1.

    Examples
    --------
    >>> t = pd.DataFrame({"metric": ["orders", "orders", "nps"], "value": [5.0, 7.0, 12.0],
    ...                   "period": pd.to_datetime(["2025-11-01", "2025-12-01", "2025-12-01"], utc=True)})
    >>> latest(t)[["metric", "value"]].to_dict("list")
    {'metric': ['orders', 'nps'], 'value': [7.0, 12.0]}
    """
    if len(table) == 0:
        return table.copy()
    last = table.groupby("metric", sort=False)["period"].transform("max")
    return table[table["period"] == last].reset_index(drop=True)


def table_as_of(table: pd.DataFrame) -> pd.Timestamp:
    """The ``as_of`` of a baseline table or snapshot (``attrs``; else its latest ``period_end``).

    Examples
    --------
    >>> t = pd.DataFrame({"period_end": pd.to_datetime(["2025-12-01", "2026-01-01"], utc=True)})
    >>> table_as_of(t)
    Timestamp('2026-01-01 00:00:00+0000', tz='UTC')
    """
    value = table.attrs.get("as_of") if hasattr(table, "attrs") else None
    if value:
        return parse_as_of(value)
    if "period_end" not in table.columns or table.empty:
        raise CRMError("the table has no as_of in attrs and no period_end column: pass a baseline "
                       "table from crm_research.kpi.baseline or a snapshot from kpi.snapshots.load")
    return parse_as_of(pd.to_datetime(table["period_end"], utc=True).max())


def check_same_period(a: pd.DataFrame, b: pd.DataFrame, what: str = "snapshots") -> None:
    """Raise :class:`CRMError` when two baseline tables or snapshots have different periods.

    A metric's latest value depends on the period length (a week's orders against a month's;
    week-on-week against month-on-month retention), so such tables cannot be set side by side.
    Tables without a recorded ``attrs["period"]`` are not checked.
    """
    pa, pb = a.attrs.get("period"), b.attrs.get("period")
    if pa and pb and pa != pb:
        raise CRMError(f"the {what} have different periods ({pa!r} and {pb!r}): a metric's value "
                       "depends on the period length, so compare baselines computed with the same period")
