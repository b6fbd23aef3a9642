"""The at-risk list: whom to contact first, why, and with what.

Customers are ranked two ways: by churn risk, and by **value at risk** = P(churn) x the value the
customer brings if they stay (e.g. ``value_if_alive`` of
:func:`crm_research.churn.clv.customer_value`, currency over the CLV horizon). The list is
sorted by one of them (``rank_by``), says which in a plain sentence (``attrs["ranked_by"]``,
:data:`RANKING_RULES`) and numbers its rows in a ``rank`` column. Each row carries the driver
that raised the risk (e.g. from :meth:`ChurnClassifier.predict`) and a suggested action for its
segment (value tier x risk band).

The list holds the real ``customer_id``: pseudonymising ids for export is the notebook layer's
job (``crm_research.privacy``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from crm_research import exprs
from crm_research.errors import CRMError, ParameterError

__all__ = ["at_risk_list", "at_risk_table", "action_segments", "risk_drivers", "top_reasons", "value_at_risk_range", "retention_campaign", "DEFAULT_ACTIONS", "RISK_ONLY_ACTIONS",
           "VALUE_TIERS", "RISK_LEVELS", "RISK_CUTS", "VALUE_QUANTILES", "RANKING_RULES"]

VALUE_TIERS = ("high value", "mid value", "low value")
RISK_LEVELS = ("high risk", "medium risk", "low risk")
RISK_CUTS = (0.3, 0.6)
"""Default churn probabilities separating low / medium / high risk (probabilities, 0-1)."""
VALUE_QUANTILES = (0.5, 0.8)
"""Default quantiles of the value separating low / mid / high value (the top 20 % are high value)."""

DEFAULT_ACTIONS: dict[tuple[str, str], str] = {
    ("high value", "high risk"): "personal outreach: account manager calls within a week with a tailored offer",
    ("high value", "medium risk"): "personal e-mail from the account team with a loyalty perk or early access",
    ("high value", "low risk"): "keep warm: loyalty programme, no discount",
    ("mid value", "high risk"): "targeted win-back offer on the customer's favourite category",
    ("mid value", "medium risk"): "reminder e-mail with personal recommendations",
    ("mid value", "low risk"): "no action: regular programme",
    ("low value", "high risk"): "automated low-cost win-back e-mail, no discount",
    ("low value", "medium risk"): "automated nudge (newsletter, recommendations)",
    ("low value", "low risk"): "no action: regular programme",
}
"""Suggested action per (value tier, risk level) segment."""

RISK_ONLY_ACTIONS: dict[str, str] = {
    "high risk": "win-back message with an offer; check first whether the customer is worth a personal call",
    "medium risk": "reminder e-mail with personal recommendations",
    "low risk": "no action: regular programme",
}
"""Suggested action per risk level when the customers' value is unknown (no order amounts)."""


RANKING_RULES: dict[str, str] = {
    "value_at_risk": ("Ranked by value at risk: chance of no purchase × expected value; a customer with a lower "
                      "chance but a higher value can rank above one with a higher chance."),
    "risk": ("Ranked by risk: the chance of no purchase alone, highest first; the customer's value does not "
             "change the order."),
    "risk_no_value": ("Ranked by risk: the chance of no purchase alone, highest first (the customers' value is "
                      "unknown)."),
}
"""The sentence :func:`at_risk_list` puts in ``attrs["ranked_by"]`` for each ranking (the last:
ranked by risk because there is no value column)."""


def at_risk_list(scores: pd.DataFrame, *, p_churn_col: str = "p_churn", value_col: str | None = "value_if_alive",
                 driver_col: str | None = "driver_description", customer_col: str = "customer_id",
                 risk_cuts: tuple[float, float] = RISK_CUTS, value_quantiles: tuple[float, float] = VALUE_QUANTILES,
                 actions: Mapping[tuple[str, str], str] | None = None, top: int | None = None,
                 rank_by: str | None = None) -> pd.DataFrame:
    """Rank customers by value at risk or by risk, with driver, segment and suggested action.

    Parameters
    ----------
    scores : DataFrame
        One row per customer: id, churn probability, value if retained (currency), optionally
        a driver column.
    p_churn_col : str
        Churn probability (0-1) over the horizon of interest.
    value_col : str or None
        Value at stake if the customer churns (currency, >= 0). ``None`` when the value is
        unknown (no order amounts): customers are ranked by risk alone.
    driver_col : str or None
        Why the risk is high (copied through; ``None`` when there is none).
    risk_cuts : (float, float)
        Probabilities separating low / medium / high risk.
    value_quantiles : (float, float)
        Quantiles of ``value_col`` over ``scores`` separating low / mid / high value.
    actions : mapping, optional
        ``(value tier, risk level) -> action``; defaults to :data:`DEFAULT_ACTIONS`. With
        ``value_col=None``: ``risk level -> action``, default :data:`RISK_ONLY_ACTIONS`.
    top : int, optional
        Keep the first ``top`` customers of the ranking.
    rank_by : {"value_at_risk", "risk"}, optional
        The order of the list: value at risk (``p_churn * value``: where retention effort pays
        most; the default with a ``value_col``) or the churn probability alone (the default, and
        the only choice, without one).

    Returns
    -------
    DataFrame
        Sorted by ``rank_by`` (descending; ties by ``customer_id``): ``customer_id``, ``rank``
        (1, 2, ... in the list's order), ``rank_value_at_risk`` (1 = most value at risk),
        ``rank_risk`` (1 = highest probability), ``p_churn``, ``value`` (currency),
        ``value_at_risk`` (currency, ``p_churn * value``), ``driver``, ``value_tier``,
        ``risk_level``, ``segment``, ``suggested_action``. With ``value_col=None``: without
        ``rank_value_at_risk``, ``value``, ``value_at_risk`` and ``value_tier`` (``segment`` is
        the risk level). ``attrs["ranked_by"]`` states the ranking in one plain sentence
        (:data:`RANKING_RULES`) and ``attrs["rank_by"]`` names it.

    Examples
    --------
    >>> scores = pd.DataFrame({"customer_id": ["a", "b"], "p_churn": [0.9, 0.3], "value_if_alive": [100.0, 500.0]})
    >>> at_risk_list(scores, driver_col=None)["customer_id"].tolist()         # 0.3 x 500 > 0.9 x 100
    ['b', 'a']
    >>> at_risk_list(scores, driver_col=None, rank_by="risk")["customer_id"].tolist()
    ['a', 'b']
    """
    if rank_by is None:
        rank_by = "risk" if value_col is None else "value_at_risk"
    if rank_by not in ("value_at_risk", "risk"):
        raise ParameterError(f"rank_by must be 'value_at_risk' or 'risk', got {rank_by!r}")
    if rank_by == "value_at_risk" and value_col is None:
        raise ParameterError("rank_by='value_at_risk' needs a value_col (the value at stake); without values "
                             "rank by 'risk'")
    lo, hi, p, v = _checked_scores(scores, p_churn_col, value_col, driver_col, customer_col, risk_cuts)
    if value_col is None:
        out = _risk_only(scores, p, lo, hi, driver_col, customer_col, actions, top)
        out.attrs.update(rank_by="risk", ranked_by=RANKING_RULES["risk_no_value"])
        return out
    qlo, qhi = (float(x) for x in value_quantiles)
    if not 0 < qlo < qhi < 1:
        raise ParameterError(f"value_quantiles must satisfy 0 < low < high < 1, got {value_quantiles!r}")
    acts = dict(DEFAULT_ACTIONS if actions is None else actions)
    v_lo, v_hi = (np.quantile(v, [qlo, qhi]) if len(v) else (0.0, 0.0))
    tier = np.where(v >= v_hi, VALUE_TIERS[0], np.where(v >= v_lo, VALUE_TIERS[1], VALUE_TIERS[2]))
    level = np.where(p >= hi, RISK_LEVELS[0], np.where(p >= lo, RISK_LEVELS[1], RISK_LEVELS[2]))
    out = pd.DataFrame({
        "customer_id": scores[customer_col].to_numpy(),
        "p_churn": p,
        "value": v,
        "value_at_risk": p * v,
        "driver": scores[driver_col].to_numpy() if driver_col else None,
        "value_tier": tier,
        "risk_level": level,
    })
    out["segment"] = out["value_tier"] + " / " + out["risk_level"]
    missing_act = sorted({(t, r) for t, r in zip(tier, level, strict=True)} - set(acts))
    if missing_act:
        raise ParameterError(f"actions has no entry for segment(s) {missing_act}")
    out["suggested_action"] = [acts[(t, r)] for t, r in zip(tier, level, strict=True)]
    ids = out["customer_id"].astype(str).to_numpy()
    by_risk = np.lexsort((ids, -p))
    rank_risk = np.empty(len(out), dtype=np.int64)
    rank_risk[by_risk] = np.arange(1, len(out) + 1)
    out["rank_risk"] = rank_risk
    by_var = np.lexsort((ids, -out["value_at_risk"].to_numpy()))
    rank_var = np.empty(len(out), dtype=np.int64)
    rank_var[by_var] = np.arange(1, len(out) + 1)
    out["rank_value_at_risk"] = rank_var
    out = out.iloc[by_var if rank_by == "value_at_risk" else by_risk].reset_index(drop=True)
    out.insert(1, "rank", np.arange(1, len(out) + 1, dtype=np.int64))
    out.insert(2, "rank_value_at_risk", out.pop("rank_value_at_risk"))
    out.insert(3, "rank_risk", out.pop("rank_risk"))
    if top is not None:
        out = out.head(int(top))
    out.attrs.update(rank_by=rank_by, ranked_by=RANKING_RULES[rank_by])
    return out


def _checked_scores(scores: pd.DataFrame, p_churn_col: str, value_col: str | None, driver_col: str | None,
                    customer_col: str, risk_cuts: tuple[float, float]):
    """Check the scores table and the risk cuts; return ``(low cut, high cut, p_churn, value)``
    (``value`` is None without ``value_col``). One-line errors name the rows to fix."""
    need = [customer_col, p_churn_col] + [c for c in (value_col, driver_col) if c]
    exprs.require_columns(scores, "scores", need)
    lo, hi = (float(x) for x in risk_cuts)
    if not 0 < lo < hi < 1:
        raise ParameterError(f"risk_cuts must satisfy 0 < low < high < 1, got {risk_cuts!r}")
    p = pd.to_numeric(scores[p_churn_col], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(p) | (p < 0) | (p > 1)
    v = None
    if value_col is not None:
        v = pd.to_numeric(scores[value_col], errors="coerce").to_numpy(dtype=float)
        bad |= ~np.isfinite(v) | (v < 0)
    if bad.any():
        ids = scores.loc[bad, customer_col].head(5).tolist()
        value = f" or a missing/negative {value_col}" if value_col is not None else ""
        raise CRMError(f"table 'scores': {int(bad.sum())} row(s) have {p_churn_col} outside [0, 1]{value} "
                       f"(customers {ids}); fix them before ranking")
    if scores[customer_col].duplicated().any():
        ids = scores.loc[scores[customer_col].duplicated(), customer_col].head(5).tolist()
        raise CRMError(f"table 'scores' has duplicate {customer_col} values, e.g. {ids}: one row per customer")
    return lo, hi, p, v


def _risk_only(scores: pd.DataFrame, p: np.ndarray, lo: float, hi: float, driver_col: str | None,
               customer_col: str, actions: Mapping[str, str] | None, top: int | None) -> pd.DataFrame:
    """:func:`at_risk_list` without values: ranked by churn probability (inputs checked already)."""
    acts = dict(RISK_ONLY_ACTIONS if actions is None else actions)
    level = np.where(p >= hi, RISK_LEVELS[0], np.where(p >= lo, RISK_LEVELS[1], RISK_LEVELS[2]))
    missing_act = sorted(set(level) - set(acts))
    if missing_act:
        raise ParameterError(f"actions has no entry for risk level(s) {missing_act}")
    out = pd.DataFrame({
        "customer_id": scores[customer_col].to_numpy(),
        "p_churn": p,
        "driver": scores[driver_col].to_numpy() if driver_col else None,
        "risk_level": level,
        "segment": level,
        "suggested_action": [acts[r] for r in level],
    })
    order = np.lexsort((out["customer_id"].astype(str).to_numpy(), -p))
    out = out.iloc[order].reset_index(drop=True)
    out.insert(1, "rank", np.arange(1, len(out) + 1, dtype=np.int64))
    out.insert(2, "rank_risk", np.arange(1, len(out) + 1, dtype=np.int64))
    return out.head(int(top)) if top is not None else out


def value_at_risk_range(at_risk: pd.DataFrame, calibration: pd.DataFrame, *, p_churn_col: str = "p_churn",
                        value_col: str = "value") -> tuple[float, float, float]:
    """Total value at risk of a list, with the range the classifier's calibration check allows.

    Each customer's churn probability is moved by how far the true rate could lie from a
    prediction of that size on the period the model never saw: the 95 % range of the observed
    rate of :func:`~crm_research.churn.evaluation.calibration_table` minus the group's average
    prediction, interpolated between the groups (flat beyond the first and last) and clipped to
    [0, 1]. All customers are moved together, so the range is wide, not a sum of independent
    errors. The value of each customer is taken as it is (its own uncertainty is not included).

    Parameters
    ----------
    at_risk : DataFrame
        :func:`at_risk_list` output (or any table with ``p_churn_col`` and ``value_col``).
    calibration : DataFrame
        :func:`~crm_research.churn.evaluation.calibration_table` of the out-of-time check:
        ``mean_predicted``, ``ci_lower``, ``ci_upper`` (probabilities).
    p_churn_col : str
        Churn probability (0-1).
    value_col : str
        Value at stake (currency, >= 0).

    Returns
    -------
    (float, float, float)
        Value at risk (currency): central (``sum(p_churn * value)``), low and high.

    Examples
    --------
    >>> at_risk = pd.DataFrame({"customer_id": [1, 2, 3], "p_churn": [0.8, 0.5, 0.2], "value": [100.0, 300.0, 50.0]})
    >>> calibration = pd.DataFrame({"mean_predicted": [0.25, 0.75], "ci_lower": [0.15, 0.6], "ci_upper": [0.4, 0.85]})
    >>> tuple(round(v, 1) for v in value_at_risk_range(at_risk, calibration))
    (240.0, 182.5, 295.0)
    """
    exprs.require_columns(calibration, "calibration", ("mean_predicted", "ci_lower", "ci_upper"),
                          hint="pass calibration_table output")
    exprs.require_columns(at_risk, "at_risk", (p_churn_col, value_col))
    p = pd.to_numeric(at_risk[p_churn_col], errors="coerce").to_numpy(dtype=float)
    v = pd.to_numeric(at_risk[value_col], errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(p) & np.isfinite(v)
    p, v = p[keep], v[keep]
    central = float(np.sum(p * v))
    cal = calibration[["mean_predicted", "ci_lower", "ci_upper"]].apply(pd.to_numeric, errors="coerce").dropna()
    if cal.empty or not len(p):
        return central, central, central
    cal = cal.sort_values("mean_predicted", kind="stable")
    x = cal["mean_predicted"].to_numpy()
    below = np.interp(p, x, (cal["ci_lower"] - cal["mean_predicted"]).to_numpy())
    above = np.interp(p, x, (cal["ci_upper"] - cal["mean_predicted"]).to_numpy())
    low = float(np.sum(np.clip(p + np.minimum(below, 0.0), 0.0, 1.0) * v))
    high = float(np.sum(np.clip(p + np.maximum(above, 0.0), 0.0, 1.0) * v))
    return central, low, high


def retention_campaign(at_risk: pd.DataFrame, customers: int, save_rate: float, *,
                       save_rate_range: tuple[float, float] | None = None,
                       value_col: str = "value_at_risk") -> dict:
    """Expected value of a retention campaign on the top ``customers`` of the at-risk list.

    The campaign keeps an assumed share ``save_rate`` of the value the contacted customers
    would otherwise take with them: expected value = ``save_rate`` x their value at risk.

    Parameters
    ----------
    at_risk : DataFrame
        :func:`at_risk_list` output, in the order of its ranking (by value at risk, highest
        first, unless it was ranked by risk: then the campaign contacts the likeliest to go).
    customers : int
        Customers contacted, from the top of the list (>= 1; fewer when the list is shorter).
    save_rate : float
        Assumed share of the value at risk the campaign keeps (0-1).
    save_rate_range : (float, float), optional
        A cautious and a hopeful save rate (0-1) for the range.
    value_col : str
        Value at risk per customer (currency).

    Returns
    -------
    dict
        ``customers`` (int, contacted), ``value_at_risk`` (currency, theirs), ``expected_value``
        (currency), ``low`` and ``high`` (currency; None without ``save_rate_range``), and the
        rates used: ``save_rate``, ``save_rate_low``, ``save_rate_high``.

    Raises
    ------
    ParameterError
        ``customers`` below 1, or a save rate outside [0, 1] (the range in the wrong order).

    Examples
    --------
    >>> at_risk = pd.DataFrame({"customer_id": [1, 2, 3], "p_churn": [0.8, 0.5, 0.2], "value": [100.0, 300.0, 50.0]})
    >>> plan = retention_campaign(at_risk.assign(value_at_risk=at_risk["p_churn"] * at_risk["value"]), 2, 0.15,
    ...                           save_rate_range=(0.05, 0.25))
    >>> {k: round(v, 2) for k, v in plan.items() if k in ("customers", "value_at_risk", "expected_value", "low", "high")}
    {'customers': 2, 'value_at_risk': 230.0, 'expected_value': 34.5, 'low': 11.5, 'high': 57.5}
    """
    if isinstance(customers, bool) or not isinstance(customers, (int, np.integer)) or customers < 1:
        raise ParameterError(f"customers must be a whole number >= 1, got {customers!r}")
    rates = [save_rate, *(save_rate_range or ())]
    if any(not (isinstance(r, (int, float, np.number)) and 0.0 <= float(r) <= 1.0) for r in rates):
        raise ParameterError(f"save rates must be shares between 0 and 1, got {rates!r}")
    if save_rate_range is not None and not float(save_rate_range[0]) <= float(save_rate_range[1]):
        raise ParameterError(f"save_rate_range must be (low, high), got {save_rate_range!r}")
    exprs.require_columns(at_risk, "at_risk", [value_col])
    top = at_risk.head(int(customers))
    worth = float(pd.to_numeric(top[value_col], errors="coerce").fillna(0.0).sum())
    lo, hi = (None, None) if save_rate_range is None else (float(save_rate_range[0]), float(save_rate_range[1]))
    return {"customers": int(len(top)), "value_at_risk": worth, "expected_value": float(save_rate) * worth,
            "low": None if lo is None else lo * worth, "high": None if hi is None else hi * worth,
            "save_rate": float(save_rate), "save_rate_low": lo, "save_rate_high": hi}


def at_risk_table(risk: pd.DataFrame, value: pd.DataFrame, *, value_col: str | None = "clv",
                  rank_by: str | None = None, rfm_bands: pd.DataFrame | None = None,
                  active_days: pd.DataFrame | None = None, customer_col: str = "customer_id") -> pd.DataFrame:
    """The at-risk list of the customers both scored and valued, with what the other steps know of them.

    Parameters
    ----------
    risk : DataFrame
        :meth:`~crm_research.churn.classifier.ChurnClassifier.predict` output (``p_churn``,
        ``driver_description``, ...), one row per customer.
    value : DataFrame
        :func:`~crm_research.churn.clv.customer_value` output (``p_alive``, ``clv``, ...).
    value_col : str or None
        Column of ``value`` that is the value at stake (currency); None ranks by risk alone
        (no order amounts).
    rank_by : {"value_at_risk", "risk"}, optional
        As in :func:`at_risk_list` (ignored without ``value_col``).
    rfm_bands : DataFrame, optional
        :func:`~crm_research.churn.risk.rfm_risk` output: adds ``rfm_band`` (str; "nan" for a
        customer without a band).
    active_days : DataFrame, optional
        ``customer_id`` and ``expected_active_days`` (days, e.g. from
        :meth:`~crm_research.churn.survival.CoxModel.expected_remaining_lifetime`): added as is.

    Returns
    -------
    DataFrame
        :func:`at_risk_list` of the customers in both ``risk`` and ``value``, in its order, plus
        ``p_alive`` and the optional columns; ``attrs["ranked_by"]`` is kept.

    Examples
    --------
    >>> risk = pd.DataFrame({"customer_id": [1, 2, 3], "p_churn": [0.8, 0.2, 0.5],
    ...                      "driver_description": ["long silence", "none", "few orders"]})
    >>> value = pd.DataFrame({"customer_id": [1, 2, 3], "p_alive": [0.3, 0.9, 0.6], "clv": [50.0, 400.0, 300.0]})
    >>> t = at_risk_table(risk, value, rank_by="value_at_risk")
    >>> t[["customer_id", "rank", "value_at_risk", "p_alive"]]
       customer_id  rank  value_at_risk  p_alive
    0            3     1          150.0      0.6
    1            2     2           80.0      0.9
    2            1     3           40.0      0.3
    """
    exprs.require_columns(value, "value", [customer_col, "p_alive", value_col])
    scores = risk.merge(value, on=customer_col, how="inner")
    out = at_risk_list(scores, value_col=value_col, rank_by=None if value_col is None else rank_by,
                       customer_col=customer_col)
    ranked_by = out.attrs["ranked_by"]
    out = out.merge(scores[[customer_col, "p_alive"]], on=customer_col, how="left")
    if rfm_bands is not None:
        bands = rfm_bands[[customer_col, "risk_band"]].rename(columns={"risk_band": "rfm_band"})
        out = out.merge(bands, on=customer_col, how="left")
        out["rfm_band"] = out["rfm_band"].astype(str)
    if active_days is not None:
        out = out.merge(active_days[[customer_col, "expected_active_days"]], on=customer_col, how="left")
    out.attrs["ranked_by"] = ranked_by
    return out


def action_segments(at_risk: pd.DataFrame, *, with_value: bool = True) -> pd.DataFrame:
    """Customers (and value at risk) per segment and suggested action, largest first.

    Parameters
    ----------
    at_risk : DataFrame
        :func:`at_risk_list` (or :func:`at_risk_table`) rows, e.g. those that may be contacted.
    with_value : bool
        Group by value tier too and sum ``value_at_risk`` (currency); False for a list ranked
        by risk alone.

    Returns
    -------
    DataFrame
        ``[value_tier,] risk_level, suggested_action, customers[, value_at_risk]``, sorted by
        value at risk (by customers without value), descending.

    Examples
    --------
    >>> t = pd.DataFrame({"customer_id": [1, 2, 3], "risk_level": ["high risk"] * 3,
    ...                   "suggested_action": ["call", "call", "e-mail"]})
    >>> action_segments(t, with_value=False)
      risk_level suggested_action  customers
    0  high risk             call          2
    1  high risk           e-mail          1
    """
    by = ["value_tier", "risk_level", "suggested_action"] if with_value else ["risk_level", "suggested_action"]
    worth = {"value_at_risk": ("value_at_risk", "sum")} if with_value else {}
    return (at_risk.groupby(by, as_index=False).agg(customers=("customer_id", "size"), **worth)
            .sort_values("value_at_risk" if with_value else "customers", ascending=False))


def risk_drivers(at_risk: pd.DataFrame, *, with_value: bool = True, risk_level: str = "high risk") -> pd.DataFrame:
    """The drivers of the customers at one risk level: how many carry each, and their value at risk.

    Parameters
    ----------
    at_risk : DataFrame
        :func:`at_risk_list` rows (``driver``, ``risk_level``, ``value_at_risk``).
    with_value : bool
        Sum ``value_at_risk`` (currency) per driver; False for a list ranked by risk alone.
    risk_level : str
        The level looked at (:data:`RISK_LEVELS`).

    Returns
    -------
    DataFrame
        ``driver``, ``customers``, [``value_at_risk``,] ``share`` (of the level's customers,
        0-1); most frequent first, ties by driver.

    Examples
    --------
    >>> t = pd.DataFrame({"customer_id": [1, 2, 3], "risk_level": ["high risk"] * 3,
    ...                   "driver": ["silence", "silence", "few orders"]})
    >>> risk_drivers(t, with_value=False)
           driver  customers     share
    1     silence          2  0.666667
    0  few orders          1  0.333333
    """
    level = at_risk[at_risk["risk_level"] == risk_level]
    worth = {"value_at_risk": ("value_at_risk", "sum")} if with_value else {}
    out = (level.groupby("driver", as_index=False).agg(customers=("customer_id", "size"), **worth)
           .sort_values(["customers", "driver"], ascending=[False, True]))
    out["share"] = out["customers"] / max(len(level), 1)
    return out


def top_reasons(drivers: pd.DataFrame, n: int = 3) -> list[tuple[str, float]]:
    """The ``n`` most frequent drivers of :func:`risk_drivers` other than :data:`NO_DRIVER`, with their share.

    Examples
    --------
    >>> top_reasons(pd.DataFrame({"driver": ["no single fact stands out", "silence"], "share": [0.5, 0.3]}))
    [('silence', 0.3)]
    """
    from crm_research.churn.features import NO_DRIVER

    named = drivers[drivers["driver"] != NO_DRIVER].head(n)
    return [(str(d), float(s)) for d, s in zip(named["driver"], named["share"], strict=True)]
