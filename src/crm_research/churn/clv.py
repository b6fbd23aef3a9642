"""Customer lifetime value from a transaction model (BG/NBD or Pareto/NBD) and Gamma-Gamma.

CLV over a finite horizon, discounted per period, as in ``lifetimes``'
``customer_lifetime_value``::

    CLV_i = sum_{k=1..H} E[spend_i] * (E[Y_i(k P)] - E[Y_i((k-1) P)]) / (1 + d)^k

where ``E[Y_i(t)]`` is the expected number of purchases in the next ``t`` time units given the
customer's history, ``P`` the period length in the model's time unit, ``H`` the number of
periods and ``d`` the discount rate **per period** (with monthly periods, ``d = 0.01`` is about
12.7 % a year). Cash flows of a period are discounted at its end.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_research import exprs
from crm_research.errors import ParameterError

__all__ = ["customer_lifetime_value", "customer_value", "choose_transaction_model", "model_name", "MODEL_NAMES"]


def _check(horizon: int, period: float, discount_rate: float) -> None:
    if not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ParameterError(f"horizon must be a whole number of periods >= 1, got {horizon!r}")
    if not period > 0:
        raise ParameterError(f"period must be > 0 (model time units), got {period!r}")
    if not discount_rate > -1:
        raise ParameterError(f"discount_rate must be > -1 (per period), got {discount_rate!r}")


def customer_lifetime_value(summary: pd.DataFrame, transaction_model, value_model, *,
                            horizon: int = 12, period: float = 30.0,
                            discount_rate: float = 0.01) -> pd.Series:
    """Discounted expected value of each customer's purchases over the next ``horizon`` periods.

    Parameters
    ----------
    summary : DataFrame
        :func:`~crm_research.churn.summary.rfm_summary` output (the models' columns).
    transaction_model : BetaGeoModel or ParetoNBDModel
        Fitted; gives ``expected_purchases(summary, t)``.
    value_model : GammaGammaModel
        Fitted; gives ``expected_value(summary)`` (currency per purchase).
    horizon : int
        Number of periods.
    period : float
        Length of one period in the summary's time unit (30 days, or 4.345 weeks, for a month).
    discount_rate : float
        Discount rate per period (0.01 = 1 % a period).

    Returns
    -------
    Series
        CLV per customer (currency of ``monetary_value``), named ``clv``, indexed like the
        models' outputs (by the customer id column), in ``summary``'s row order.

    See Also
    --------
    customer_value : the per-customer table (probability alive, purchases, spend, CLV).

    Examples
    --------
    >>> from crm_research.churn import BetaGeoModel, GammaGammaModel
    >>> summary = pd.DataFrame({"customer_id": ["a", "b"], "frequency": [2, 0], "recency": [30.43, 0.0],
    ...                         "T": [38.86, 38.86], "monetary_value": [22.345, 0.0]})
    >>> bg, gg = BetaGeoModel(), GammaGammaModel()
    >>> bg.params_ = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}   # CDNOW, weeks
    >>> gg.params_ = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    >>> customer_lifetime_value(summary, bg, gg, horizon=12, period=4.345).round(2)
    customer_id
    a    36.28
    b     8.37
    Name: clv, dtype: float64
    """
    _check(horizon, period, discount_rate)
    spend = value_model.expected_value(summary)
    cum_prev = np.zeros(len(summary))
    clv = np.zeros(len(summary))
    for k in range(1, horizon + 1):
        cum = transaction_model.expected_purchases(summary, k * period).to_numpy()
        clv += spend.to_numpy() * (cum - cum_prev) / (1.0 + discount_rate) ** k
        cum_prev = cum
    return pd.Series(clv, index=spend.index, name="clv")


def customer_value(summary: pd.DataFrame, transaction_model, value_model=None, *, horizon: int = 12,
                   period: float = 30.0, discount_rate: float = 0.01,
                   customer_col: str = "customer_id") -> pd.DataFrame:
    """Per-customer probability alive, expected purchases, expected spend and CLV.

    Parameters
    ----------
    summary : DataFrame
        :func:`~crm_research.churn.summary.rfm_summary` output.
    transaction_model, value_model
        Fitted BG/NBD or Pareto/NBD, and Gamma-Gamma. ``value_model=None`` (no amounts in the
        data): only the purchase columns, without spend and value.
    horizon, period, discount_rate
        As in :func:`customer_lifetime_value` (``horizon`` periods of ``period`` time units,
        discount rate per period).
    customer_col : str
        Id column of ``summary``.

    Returns
    -------
    DataFrame
        ``customer_id``, ``p_alive`` (probability, at the end of the observation period),
        ``expected_purchases`` (purchases in the next ``horizon * period`` time units), and with
        a value model ``expected_spend`` (currency per purchase, Gamma-Gamma), ``clv``
        (currency, discounted), ``value_if_alive`` (currency: ``clv / p_alive``, the value the
        customer brings if they are still active, the amount at stake when they churn). Sorted
        by ``customer_id``.

    Examples
    --------
    >>> from crm_research.churn import BetaGeoModel, GammaGammaModel
    >>> summary = pd.DataFrame({"customer_id": ["a", "b"], "frequency": [2, 0], "recency": [30.43, 0.0],
    ...                         "T": [38.86, 38.86], "monetary_value": [22.345, 0.0]})
    >>> bg, gg = BetaGeoModel(), GammaGammaModel()
    >>> bg.params_ = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}   # CDNOW, weeks
    >>> gg.params_ = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    >>> v = customer_value(summary, bg, gg, horizon=12, period=4.345)   # the next 12 months, 1 % a month
    >>> v[["customer_id", "p_alive", "expected_purchases", "clv", "value_if_alive"]].round(3)
      customer_id  p_alive  expected_purchases     clv  value_if_alive
    0           a    0.727               1.562  36.283          49.937
    1           b    1.000               0.253   8.369           8.369
    """
    exprs.require_columns(summary, "summary", {"customer_col": customer_col})
    _check(horizon, period, discount_rate)
    p_alive = transaction_model.p_alive(summary).to_numpy()
    out = pd.DataFrame(
        {
            "customer_id": summary[customer_col].to_numpy(),
            "p_alive": p_alive,
            "expected_purchases": transaction_model.expected_purchases(summary, horizon * period).to_numpy(),
        }
    )
    if value_model is not None:
        clv = customer_lifetime_value(summary, transaction_model, value_model, horizon=horizon,
                                      period=period, discount_rate=discount_rate).to_numpy()
        out["expected_spend"] = value_model.expected_value(summary).to_numpy()
        out["clv"] = clv
        out["value_if_alive"] = np.where(p_alive > 0, clv / np.maximum(p_alive, 1e-300), 0.0)
    return out.sort_values("customer_id", kind="stable").reset_index(drop=True)


MODEL_NAMES = {"BetaGeoModel": "BG/NBD", "ParetoNBDModel": "Pareto/NBD", "GammaGammaModel": "Gamma-Gamma"}
"""The literature's name of each model class (tables and report text)."""


def model_name(model) -> str:
    """The literature's name of a fitted or unfitted model ("BG/NBD", "Pareto/NBD", "Gamma-Gamma").

    Examples
    --------
    >>> from crm_research.churn import ParetoNBDModel
    >>> model_name(ParetoNBDModel())
    'Pareto/NBD'
    """
    return MODEL_NAMES.get(type(model).__name__, type(model).__name__)


def choose_transaction_model(summary: pd.DataFrame, *, spend_model=None, candidates=None):
    """Fit BG/NBD and Pareto/NBD and keep the one with the higher log-likelihood.

    Both have four parameters, so the likelihood alone compares them (as AIC or BIC would).

    Parameters
    ----------
    summary : DataFrame
        :func:`~crm_research.churn.summary.rfm_summary` output.
    spend_model : GammaGammaModel, optional
        A fitted spend model, listed in the table (always ``used``).
    candidates : sequence of models, optional
        Unfitted transaction models to compare; default ``(BetaGeoModel(), ParetoNBDModel())``.
        On a tie the first wins.

    Returns
    -------
    model : BetaGeoModel or ParetoNBDModel
        The chosen model, fitted on ``summary``.
    table : DataFrame
        One row per parameter of every model (candidates first, then the spend model):
        ``model`` (:func:`model_name`), ``used`` (bool), ``parameter``, ``estimate``, ``se``,
        ``unit``, ``log_likelihood`` (of that model's fit).

    Examples
    --------
    >>> from crm_research import synthetic
    >>> from crm_research.churn import rfm_summary
    >>> tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> model, table = choose_transaction_model(rfm_summary(tables["orders"], "2026-01-01"))
    >>> model_name(model)
    'Pareto/NBD'
    >>> table.groupby("model", sort=False)["log_likelihood"].first().round(2).to_dict()
    {'BG/NBD': -3808.66, 'Pareto/NBD': -3803.75}
    """
    from crm_research.churn.btyd import BetaGeoModel, ParetoNBDModel

    fitted = [m.fit(summary) for m in (candidates or (BetaGeoModel(), ParetoNBDModel()))]
    chosen = max(fitted, key=lambda m: m.log_likelihood_)
    models = [*fitted, *([] if spend_model is None else [spend_model])]
    table = pd.concat([m.summary().assign(model=model_name(m), log_likelihood=m.log_likelihood_,
                                          used=m is chosen or m is spend_model) for m in models], ignore_index=True)
    return chosen, table[["model", "used", "parameter", "estimate", "se", "unit", "log_likelihood"]]
