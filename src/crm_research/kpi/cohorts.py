"""Cohort retention: customers grouped by the period of their first order, followed over time.

A customer's cohort is the period (month by default) of their first completed order. For each
cohort and each number of periods since (``age``; 0 is the cohort's own period), ``active``
counts the cohort's customers with at least one completed order in that period and ``rate``
divides by the cohort size. Age 0 has rate 1 by construction.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from crm_research.engine import collect, is_lazy
from crm_research.exprs import parse_as_of
from crm_research.kpi import scans
from crm_research.kpi.measure import _check_params
from crm_research.kpi.prepare import earliest, get_table, prepare_tables
from crm_research.stats import wilson

__all__ = ["cohort_retention", "cohort_matrix", "COHORT_COLUMNS"]

COHORT_COLUMNS = ["cohort", "age", "period", "customers", "active", "rate", "ci_low", "ci_high", "partial"]


def cohort_retention(data, as_of, period: str = "M", *, max_age: int | None = None,
                     statuses: tuple[str, ...] | None = ("completed",), conf: float = 0.95,
                     columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Cohort (period of first order) × periods since: active customers and retention rate.

    Parameters
    ----------
    data : mapping, CRMData, DataFrame or ibis.Table
        The data (its ``orders`` table is used) or the order log itself.
    as_of : date-like
        Only orders strictly before this UTC instant count; the last period may be partial.
    period : {"W", "M", "Q", "Y"}
        Cohort and age unit (calendar months by default).
    max_age : int, optional
        Largest age (periods since the first order) returned.
    statuses : tuple of str or None
        Order statuses that count (None: every row).
    conf : float
        Confidence level of the Wilson interval of ``rate``.
    columns : mapping, optional
        Non-canonical column names, ``{"orders.canonical": "actual"}``.

    Returns
    -------
    DataFrame
        One row per cohort and observed age (cells after ``as_of`` are absent): ``cohort``
        (UTC start of the cohort period), ``age`` (periods since, int), ``period`` (UTC start of
        the observed period), ``customers`` (cohort size), ``active`` (customers of the cohort
        with an order in that period), ``rate`` (active / customers, share), ``ci_low``,
        ``ci_high`` (Wilson), ``partial`` (the observed period is cut by ``as_of``). Sorted by
        cohort and age.

    Examples
    --------
    >>> orders = pd.DataFrame({"customer_id": [1, 1, 2, 3, 3, 3],
    ...     "ordered_at": pd.to_datetime(["2025-10-03", "2025-11-20", "2025-11-02", "2025-10-10", "2025-11-11",
    ...                                   "2025-12-24"], utc=True)})
    >>> c = cohort_retention({"orders": orders}, "2026-01-01", "M")
    >>> c["age"].tolist(), c["active"].tolist(), c["rate"].tolist()  # October's 2 customers, then November's 1
    ([0, 1, 2, 0, 1], [2, 2, 1, 1, 0], [1.0, 1.0, 0.5, 1.0, 0.0])
    >>> cohort_matrix(c).values.tolist()
    [[1.0, 1.0, 0.5], [1.0, 0.0, nan]]
    """
    as_of = parse_as_of(as_of)
    _check_params(period, None, "referral", conf)
    if max_age is not None and (not isinstance(max_age, (int, np.integer)) or max_age < 0):
        from crm_research.errors import ParameterError

        raise ParameterError(f"max_age={max_age!r} must be a non-negative integer or None")
    if isinstance(data, pd.DataFrame) or is_lazy(data):
        data = {"orders": data}
    prepared = prepare_tables({"orders": get_table(data, "orders")}, columns)
    try:
        o = prepared.tables["orders"]
        bins = scans.PeriodBins.covering(period, as_of, earliest({"orders": o}))
        counts = collect(scans.cohort_counts(scans.order_periods(o, as_of, bins, statuses=statuses,
                                                                 unsorted=True)))
    finally:
        prepared.close()
    if counts.empty:
        return pd.DataFrame(columns=COHORT_COLUMNS)
    counts = counts.astype({"cohort": "int64", "pidx": "int64", "active": "int64"})
    sizes = counts[counts["pidx"] == counts["cohort"]].set_index("cohort")["active"]
    cohorts = np.sort(sizes.index.to_numpy())
    rows = []
    for c in cohorts:
        top = bins.last - c if max_age is None else min(bins.last - c, int(max_age))
        ages = np.arange(0, top + 1, dtype=np.int64)
        rows.append(pd.DataFrame({"c": c, "age": ages, "pidx": c + ages}))
    grid = pd.concat(rows, ignore_index=True)
    grid = grid.merge(counts.rename(columns={"cohort": "c"}), on=["c", "pidx"], how="left")
    grid["active"] = grid["active"].fillna(0).astype("int64")
    grid["customers"] = grid["c"].map(sizes).astype("int64")
    lo, hi = wilson(grid["active"].to_numpy(), grid["customers"].to_numpy(), conf)
    starts = scans.period_start(grid["pidx"].to_numpy(), period)
    next_starts = scans.period_start(grid["pidx"].to_numpy() + 1, period)
    out = pd.DataFrame({
        "cohort": scans.period_start(grid["c"].to_numpy(), period),
        "age": grid["age"].to_numpy(),
        "period": starts,
        "customers": grid["customers"].to_numpy(),
        "active": grid["active"].to_numpy(),
        "rate": grid["active"].to_numpy() / grid["customers"].to_numpy(),
        "ci_low": lo,
        "ci_high": hi,
        "partial": np.asarray(next_starts > as_of),
    })
    return out.sort_values(["cohort", "age"], kind="stable").reset_index(drop=True)[COHORT_COLUMNS]


def cohort_matrix(table: pd.DataFrame, value: str = "rate") -> pd.DataFrame:
    """Pivot a :func:`cohort_retention` table: cohorts as rows, ages as columns.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`cohort_retention`.
    value : {"rate", "active", "customers", "ci_low", "ci_high"}
        The cell value.

    Returns
    -------
    DataFrame
        Index ``cohort`` (period start), columns ``age`` (0, 1, ...); NaN where not observed.

    Examples
    --------
    >>> c = pd.DataFrame({"cohort": pd.to_datetime(["2025-10-01"] * 2 + ["2025-11-01"], utc=True), "age": [0, 1, 0],
    ...                   "rate": [1.0, 0.4, 1.0]})
    >>> cohort_matrix(c).values.tolist()
    [[1.0, 0.4], [1.0, nan]]
    """
    if value not in ("rate", "active", "customers", "ci_low", "ci_high"):
        from crm_research.errors import ParameterError

        raise ParameterError(f"value={value!r}: use rate, active, customers, ci_low or ci_high")
    return table.pivot(index="cohort", columns="age", values=value).sort_index()
