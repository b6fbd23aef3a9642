"""The baseline checked against a synthetic company's planted truth.

A synthetic company (:mod:`crm_research.synthetic`) knows who became a customer, who referred
others and the share of tickets resolved at the first contact. :func:`truth_check` sets the
measured KPIs beside these planted facts; on a client's data nothing is planted and the check
is not run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_research.engine import collect, is_lazy
from crm_research.exprs import parse_as_of
from crm_research.kpi.tables import latest
from crm_research.stats import wilson

__all__ = ["truth_check", "TRUTH_CHECK_COLUMNS"]

TRUTH_CHECK_COLUMNS = ["check", "measured", "planted", "low", "high", "agrees"]
"""Columns of :func:`truth_check`."""


def truth_check(kpis: pd.DataFrame, truth: dict, truth_customers: pd.DataFrame, as_of, *,
                advocate_rule: str = "referral", events: pd.DataFrame | None = None,
                conf: float = 0.95) -> pd.DataFrame:
    """The baseline's KPIs against the facts a synthetic company planted.

    Three checks, each where the data allows it:

    * **customers**: the latest period's ``customers`` (contacts with a completed order before
      ``as_of``) against the planted contacts whose first purchase is before ``as_of``;
    * **advocates**: with ``advocate_rule="referral"`` and an event log that ends before
      ``as_of`` (every planted referral is then in the data), the latest ``advocates`` against
      the planted advocates;
    * **first-contact resolution**: the share over all periods of ``kpis`` (their numerators
      and denominators summed), with its Wilson interval, against the planted probability.

    Parameters
    ----------
    kpis : DataFrame
        A baseline table (:func:`crm_research.kpi.baseline`).
    truth : dict
        The planted effects (``truth.json``; :func:`crm_research.synthetic.load_truth`).
    truth_customers : DataFrame
        The planted customers (``customer_id``, ``first_purchase_at``, ``advocate``).
    as_of : date-like
        The analysis date of ``kpis`` (exclusive, UTC).
    advocate_rule : str
        The baseline's advocate rule; the advocates are checked only for ``"referral"``.
    events : DataFrame or ibis.Table, optional
        The event log the baseline read (``occurred_at``); without it the advocates are not
        checked. An engine table is not loaded: only its latest ``occurred_at`` is queried.
    conf : float
        Confidence level of the first-contact-resolution interval.

    Returns
    -------
    DataFrame
        One row per check: ``check`` (what is compared), ``measured``, ``planted`` (counts, or
        shares 0-1), ``low``, ``high`` (the measured share's interval; NaN for counts),
        ``agrees`` (the planted share inside the interval; a count within 0.1% + 2 of the
        planted one).

    Examples
    --------
    >>> from crm_research import kpi, synthetic
    >>> tables, truth, planted = synthetic.generate(n_customers=300, seed=7)
    >>> kpis = kpi.baseline(tables, "2026-01-01", "M", periods=6)
    >>> check = kpi.truth_check(kpis, truth, planted, "2026-01-01", events=tables["events"])
    >>> check[["measured", "planted", "agrees"]].round(3)
       measured  planted  agrees
    0   173.000   173.00    True
    1    14.000    14.00    True
    2     0.711     0.72    True
    """
    cut = parse_as_of(as_of)
    last = latest(kpis).set_index("metric")
    checks = [{"check": "customers (contacts with an order before as_of)", "measured": last.loc["customers", "value"],
               "planted": float((truth_customers["first_purchase_at"] < cut).sum()), "low": np.nan, "high": np.nan}]
    if (advocate_rule == "referral" and "advocates" in last.index and events is not None
            and _ends_before(events, cut)):
        checks.append({"check": "advocates (customers who referred someone)", "measured": last.loc["advocates", "value"],
                       "planted": float(truth_customers["advocate"].sum()), "low": np.nan, "high": np.nan})
    if "first_contact_resolution_rate" in last.index:
        f = kpis[kpis["metric"] == "first_contact_resolution_rate"]
        k, n = f["numerator"].sum(), f["denominator"].sum()
        lo, hi = wilson(np.array([k]), np.array([n]), conf)
        checks.append({"check": "first-contact resolution, all periods shown", "measured": k / n,
                       "planted": truth["support"]["fcr_p"], "low": float(lo[0]), "high": float(hi[0])})
    check = pd.DataFrame(checks)
    check["agrees"] = np.where(check["low"].notna(), (check["low"] <= check["planted"]) & (check["planted"] <= check["high"]),
                               (check["measured"] - check["planted"]).abs() <= 0.001 * check["planted"] + 2)
    return check[TRUTH_CHECK_COLUMNS]


def _ends_before(events, cut: pd.Timestamp) -> bool:
    """Whether every event of ``events`` (DataFrame or engine table) occurred before ``cut``."""
    if is_lazy(events):
        last = collect(events.aggregate(last=events["occurred_at"].max()))["last"].iloc[0]
    else:
        last = events["occurred_at"].max()
    return bool(cut > last)
