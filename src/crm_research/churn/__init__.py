"""Churn modelling and customer value (the fifth notebook's logic).

* :mod:`~crm_research.churn.definitions` — contractual and non-contractual churn as duration
  and event columns, right-censored at a cut-off;
* :mod:`~crm_research.churn.risk` — the RFM risk MVP (recency against the customer's own
  rhythm) and its hit rate;
* :mod:`~crm_research.churn.survival` — Kaplan-Meier, log-rank, Cox with the PH check,
  held-out concordance, survival curves and remaining lifetime per customer;
* :mod:`~crm_research.churn.classifier` — time-split, calibrated churn classifier with lift,
  gain, calibration and a per-customer risk driver;
* :mod:`~crm_research.churn.summary`, :mod:`~crm_research.churn.btyd`,
  :mod:`~crm_research.churn.clv` — frequency/recency/T on the engine layer, BG/NBD,
  Pareto/NBD, Gamma-Gamma, probability alive and CLV;
* :mod:`~crm_research.churn.sbg` — the shifted-beta-geometric model of contract renewals
  (subscriptions): retention curve, projection and discounted expected residual lifetime;
* :mod:`~crm_research.churn.bgbb` — the BG/BB model of purchases on discrete occasions (yearly
  appeals, monthly boxes): probability alive, expected purchases, DERT;
* :mod:`~crm_research.churn.at_risk` — the ranked at-risk list with drivers and actions, its value
  at risk with a range, and the expected value of a retention campaign on its top.
"""

from crm_research.churn.at_risk import (
    DEFAULT_ACTIONS,
    RANKING_RULES,
    RISK_CUTS,
    RISK_ONLY_ACTIONS,
    at_risk_list,
    retention_campaign,
    value_at_risk_range,
)
from crm_research.churn.bgbb import (
    BetaGeoBetaBinomModel,
    discrete_calibration_holdout,
    discrete_holdout_table,
    discrete_summary,
    occasion_pattern,
    occasion_scores,
    purchase_days_by_date,
)
from crm_research.churn.btyd import BetaGeoModel, GammaGammaModel, ParetoNBDModel
from crm_research.churn.calibration import (
    ProbabilityCalibrator,
    calibration_metrics,
    expected_calibration_error,
)
from crm_research.churn.classifier import (
    FEATURE_DESCRIPTIONS,
    NO_DRIVER,
    ChurnClassifier,
    calibration_table,
    churn_features,
    churn_labels,
    classification_metrics,
    lift_table,
    tree_contributions,
)
from crm_research.churn.clv import customer_lifetime_value, customer_value
from crm_research.churn.definitions import contractual_churn, noncontractual_churn
from crm_research.churn.risk import hit_rate_table, rfm_risk
from crm_research.churn.sbg import (
    ShiftedBetaGeoModel,
    holdout_periods,
    project_subscriptions,
    sbg_holdout,
    subscription_histories,
    survivors_to_histories,
)
from crm_research.churn.summary import calibration_holdout_summary, rfm_summary
from crm_research.churn.survival import (
    CoxModel,
    cox_with_holdout,
    customer_covariates,
    first_order_promo,
    kaplan_meier,
    km_summary,
    logrank_tests,
    split_by_customer,
)

__all__ = [
    "contractual_churn",
    "noncontractual_churn",
    "rfm_risk",
    "hit_rate_table",
    "customer_covariates",
    "first_order_promo",
    "split_by_customer",
    "kaplan_meier",
    "km_summary",
    "logrank_tests",
    "CoxModel",
    "cox_with_holdout",
    "churn_features",
    "churn_labels",
    "ChurnClassifier",
    "classification_metrics",
    "calibration_table",
    "lift_table",
    "FEATURE_DESCRIPTIONS",
    "NO_DRIVER",
    "ProbabilityCalibrator",
    "calibration_metrics",
    "expected_calibration_error",
    "tree_contributions",
    "RANKING_RULES",
    "rfm_summary",
    "calibration_holdout_summary",
    "BetaGeoModel",
    "ParetoNBDModel",
    "GammaGammaModel",
    "ShiftedBetaGeoModel",
    "subscription_histories",
    "survivors_to_histories",
    "sbg_holdout",
    "holdout_periods",
    "BetaGeoBetaBinomModel",
    "discrete_summary",
    "discrete_calibration_holdout",
    "discrete_holdout_table",
    "purchase_days_by_date",
    "occasion_pattern",
    "occasion_scores",
    "project_subscriptions",
    "customer_lifetime_value",
    "customer_value",
    "at_risk_list",
    "value_at_risk_range",
    "retention_campaign",
    "DEFAULT_ACTIONS",
    "RISK_ONLY_ACTIONS",
    "RISK_CUTS",
]
