"""RFM churn risk, the MVP: recency measured against the customer's own purchase rhythm.

A customer who buys every 20 days and has not bought for 60 is more worrying than one who buys
twice a year and has not bought for 90. The score compares recency with the customer's expected
gap between purchase days:

* own gap ``g_i = (last - first purchase day) / (purchase days - 1)`` (repeat buyers);
* expected gap shrunk towards the population's typical gap ``g_0`` (median own gap of repeat
  buyers) with ``prior_gaps`` pseudo-gaps, so few purchases (low frequency) weigh little:
  ``G_i = (prior_gaps * g_0 + (n_i - 1) * g_i) / (prior_gaps + n_i - 1)``; one-time buyers get
  ``g_0``;
* ``overdue_ratio = recency / G_i`` and ``risk_score = 1 - exp(-overdue_ratio)``: under a
  Poisson rhythm with mean gap ``G_i``, ``exp(-recency / G_i)`` is the chance of a silence this
  long from an active customer, so the score is near 0 for customers on rhythm and near 1 for
  those far past it;
* bands by ``overdue_ratio``: ``active`` (< 1), ``cooling`` (1-2), ``at risk`` (2-4),
  ``lapsed`` (>= 4) by default.

The row-level scan is :func:`crm_research.summaries.customer_orders` on the engine layer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_research import exprs, summaries
from crm_research.churn.definitions import _without_value
from crm_research.engine import collect
from crm_research.errors import CRMError, ParameterError

__all__ = ["rfm_risk", "hit_rate_table", "RISK_BANDS"]

DAY = pd.Timedelta(days=1)
RISK_BANDS = ("active", "cooling", "at risk", "lapsed")


def rfm_risk(orders, as_of, *, prior_gaps: float = 2.0, band_edges: tuple[float, float, float] = (1.0, 2.0, 4.0),
             customer_col: str = "customer_id", date_col: str = "ordered_at", value_col: str | None = "amount",
             status_col: str | None = "status", statuses: tuple[str, ...] = ("completed",)) -> pd.DataFrame:
    """RFM risk score of every customer with a purchase before ``as_of``.

    Parameters
    ----------
    orders : DataFrame or ibis.Table
        Order log.
    as_of : date-like
        Cut-off (UTC, exclusive).
    prior_gaps : float
        Weight of the population's typical gap, in gaps (>= 0; 0 trusts a customer's own
        rhythm fully as soon as they have two purchase days).
    band_edges : tuple of 3 floats
        ``overdue_ratio`` edges between the bands ``active | cooling | at risk | lapsed``.
    customer_col, date_col, value_col, status_col, statuses
        As in :func:`crm_research.summaries.customer_orders`; without a value column
        (``value_col=None`` or absent from the log) ``revenue`` is missing (NaN).

    Returns
    -------
    DataFrame
        ``customer_id``, ``recency_days``, ``n_purchase_days``, ``revenue`` (currency),
        ``own_gap_days`` (NaN for one-time buyers), ``expected_gap_days``, ``overdue_ratio``,
        ``risk_score`` (0-1), ``risk_band``. Sorted by ``customer_id``. The population gap
        ``g_0`` (days) is in ``df.attrs["population_gap_days"]``.

    Examples
    --------
    >>> from crm_research import synthetic
    >>> tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> risk = rfm_risk(tables["orders"], "2026-01-01")
    >>> risk["risk_band"].value_counts().sort_index().to_dict()
    {'active': 59, 'cooling': 26, 'at risk': 22, 'lapsed': 66}
    >>> round(risk.attrs["population_gap_days"], 1)
    39.2
    """
    if prior_gaps < 0:
        raise ParameterError(f"prior_gaps must be >= 0, got {prior_gaps!r}")
    edges = tuple(float(e) for e in band_edges)
    if len(edges) != 3 or not 0 < edges[0] < edges[1] < edges[2]:
        raise ParameterError(f"band_edges must be three increasing positive numbers, got {band_edges!r}")
    cut = exprs.parse_as_of(as_of)
    orders, value_col = _without_value(orders, value_col)
    per = collect(summaries.customer_orders(orders, cut, customer_col=customer_col, date_col=date_col,
                                            value_col=value_col, status_col=status_col, statuses=statuses))
    if len(per) == 0:
        raise CRMError(f"table 'orders' has no purchase before {cut}: nothing to score")
    first = pd.to_datetime(per["first_order_at"], utc=True)
    last = pd.to_datetime(per["last_order_at"], utc=True)
    n = per["n_purchase_days"].to_numpy(dtype=float)
    recency = ((cut - last) / DAY).to_numpy(dtype=float)
    span = ((last - first) / DAY).to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        own = np.where(n > 1, span / np.maximum(n - 1, 1), np.nan)
    rep = own[np.isfinite(own) & (own > 0)]
    if len(rep) == 0:
        raise CRMError("no customer has two purchase days before as_of: the purchase rhythm "
                       "cannot be estimated; use a later as_of")
    g0 = float(np.median(rep))
    k = n - 1
    with np.errstate(invalid="ignore"):
        expected = np.where(k > 0, (prior_gaps * g0 + k * np.nan_to_num(own)) / (prior_gaps + k), g0)
    expected = np.maximum(expected, 1.0)  # purchase days are at least one day apart
    overdue = recency / expected
    band_idx = np.searchsorted(np.asarray(edges), overdue, side="right")
    out = pd.DataFrame({
        "customer_id": per["customer_id"].to_numpy(),
        "recency_days": recency,
        "n_purchase_days": n.astype(np.int64),
        "revenue": per["revenue"].astype(float).to_numpy(),
        "own_gap_days": own,
        "expected_gap_days": expected,
        "overdue_ratio": overdue,
        "risk_score": 1.0 - np.exp(-overdue),
        "risk_band": pd.Categorical(np.asarray(RISK_BANDS, dtype=object)[band_idx], categories=RISK_BANDS,
                                    ordered=True),
    })
    out = out.sort_values("customer_id", kind="stable").reset_index(drop=True)
    out.attrs["population_gap_days"] = g0
    return out


def hit_rate_table(scores: pd.DataFrame, outcomes: pd.DataFrame, *, band_col: str = "risk_band",
                   score_col: str = "risk_score", outcome_col: str = "churned",
                   customer_col: str = "customer_id", now: pd.DataFrame | None = None) -> pd.DataFrame:
    """How often each risk band is right: share of its customers who did churn.

    Parameters
    ----------
    scores : DataFrame
        :func:`rfm_risk` output (or any table with a band and a score per customer).
    outcomes : DataFrame
        ``customer_id`` and a 0/1 outcome (e.g. the synthetic truth: died before the scoring date;
        or no purchase in a later window). Customers without an outcome are left out.
    now : DataFrame, optional
        The same score at a later date (e.g. :func:`rfm_risk` at the analysis date, when
        ``scores`` is of the check date): adds ``customers_now``, its customers per band.

    Returns
    -------
    DataFrame
        One row per band then a row ``band = "all"``: ``n``, ``churned``, ``hit_rate`` (share
        churned), ``lift`` (hit rate / overall rate), ``recall`` (share of all churners in the
        band). The ``all`` row's ``auc`` is the ROC-AUC of ``score_col`` against the outcome.
        With ``now``, ``customers_now`` (count; 0 for a band nobody is in now) follows ``band``.

    Examples
    --------
    >>> scores = pd.DataFrame({"customer_id": [1, 2, 3, 4], "risk_band": ["active", "active", "lapsed", "lapsed"],
    ...                        "risk_score": [0.1, 0.2, 0.8, 0.9]})
    >>> outcomes = pd.DataFrame({"customer_id": [1, 2, 3, 4], "churned": [0, 1, 1, 1]})
    >>> hit_rate_table(scores, outcomes, now=scores.iloc[:3])[["band", "customers_now", "n", "hit_rate", "auc"]]
         band  customers_now  n  hit_rate  auc
    0  active              2  2      0.50  NaN
    1  lapsed              1  2      1.00  NaN
    2     all              3  4      0.75  1.0
    """
    from sklearn.metrics import roc_auc_score

    for name, df, cols in (("scores", scores, [customer_col, band_col, score_col]),
                           ("outcomes", outcomes, [customer_col, outcome_col])):
        exprs.require_columns(df, name, cols)
    m = scores[[customer_col, band_col, score_col]].merge(outcomes[[customer_col, outcome_col]],
                                                          on=customer_col, how="inner")
    if len(m) == 0:
        raise CRMError("no customer is in both scores and outcomes: check the ids")
    y = m[outcome_col].astype(float).to_numpy()
    base, total = y.mean(), y.sum()
    rows = []
    bands = (list(m[band_col].cat.categories) if isinstance(m[band_col].dtype, pd.CategoricalDtype)
             else sorted(m[band_col].unique(), key=str))
    for b in bands:
        sel = (m[band_col] == b).to_numpy()
        nb, kb = int(sel.sum()), float(y[sel].sum())
        rows.append({"band": str(b), "n": nb, "churned": int(kb),
                     "hit_rate": kb / nb if nb else np.nan,
                     "lift": (kb / nb) / base if nb and base > 0 else np.nan,
                     "recall": kb / total if total > 0 else np.nan, "auc": np.nan})
    both = 0 < total < len(y)
    rows.append({"band": "all", "n": int(len(y)), "churned": int(total), "hit_rate": base, "lift": 1.0,
                 "recall": 1.0,
                 "auc": float(roc_auc_score(y, m[score_col].to_numpy(dtype=float))) if both else np.nan})
    out = pd.DataFrame(rows)
    if now is not None:
        exprs.require_columns(now, "now", [band_col])
        counts = {**now[band_col].astype(str).value_counts().to_dict(), "all": len(now)}
        out.insert(1, "customers_now", out["band"].map(counts).fillna(0).astype(int))
    return out
