"""Churn modelling and customer value (the fifth notebook's logic).

* :mod:`~crm_research.churn.definitions` — contractual and non-contractual churn as duration
  and event columns, right-censored at the analysis date ``as_of``;
* :mod:`~crm_research.churn.risk` — the RFM risk MVP (recency against the customer's own
  rhythm) and its hit rate;
* :mod:`~crm_research.churn.survival` — Kaplan-Meier, log-rank, Cox with the PH check,
  held-out concordance, survival curves and remaining lifetime per customer;
* :mod:`~crm_research.churn.features` — churn features at a date (strictly earlier rows) and
  the label over the horizon after it;
* :mod:`~crm_research.churn.classifier` — time-split, calibrated churn classifier with a
  per-customer risk driver; :mod:`~crm_research.churn.evaluation` — its ROC-AUC, calibration,
  lift and gain tables;
* :mod:`~crm_research.churn.summary`, :mod:`~crm_research.churn.btyd`,
  :mod:`~crm_research.churn.clv` — frequency/recency/T on the engine layer, BG/NBD,
  Pareto/NBD, Gamma-Gamma, probability alive and CLV;
* :mod:`~crm_research.churn.sbg` — the shifted-beta-geometric model of contract renewals
  (subscriptions): retention curve, projection and discounted expected residual lifetime;
* :mod:`~crm_research.churn.bgbb` — the BG/BB model of purchases on discrete occasions (yearly
  appeals, monthly boxes): probability alive, expected purchases, DERT;
* :mod:`~crm_research.churn.study` — the survival section's populations collected into one set
  of tables (:class:`SurvivalStudy`);
* :mod:`~crm_research.churn.at_risk` — the ranked at-risk list with drivers and actions, its value
  at risk with a range, and the expected value of a retention campaign on its top.
"""

from crm_research import _lazy

_EXPORTS = {
    "DEFAULT_ACTIONS": "crm_research.churn.at_risk:DEFAULT_ACTIONS",
    "RANKING_RULES": "crm_research.churn.at_risk:RANKING_RULES",
    "RISK_CUTS": "crm_research.churn.at_risk:RISK_CUTS",
    "RISK_ONLY_ACTIONS": "crm_research.churn.at_risk:RISK_ONLY_ACTIONS",
    "at_risk_list": "crm_research.churn.at_risk:at_risk_list",
    "at_risk_table": "crm_research.churn.at_risk:at_risk_table",
    "action_segments": "crm_research.churn.at_risk:action_segments",
    "risk_drivers": "crm_research.churn.at_risk:risk_drivers",
    "top_reasons": "crm_research.churn.at_risk:top_reasons",
    "retention_campaign": "crm_research.churn.at_risk:retention_campaign",
    "value_at_risk_range": "crm_research.churn.at_risk:value_at_risk_range",
    "BetaGeoBetaBinomModel": "crm_research.churn.bgbb:BetaGeoBetaBinomModel",
    "discrete_calibration_holdout": "crm_research.churn.bgbb:discrete_calibration_holdout",
    "discrete_holdout_table": "crm_research.churn.bgbb:discrete_holdout_table",
    "discrete_summary": "crm_research.churn.bgbb:discrete_summary",
    "occasion_pattern": "crm_research.churn.bgbb:occasion_pattern",
    "occasion_scores": "crm_research.churn.bgbb:occasion_scores",
    "purchase_days_by_date": "crm_research.churn.bgbb:purchase_days_by_date",
    "BetaGeoModel": "crm_research.churn.btyd:BetaGeoModel",
    "GammaGammaModel": "crm_research.churn.btyd:GammaGammaModel",
    "ParetoNBDModel": "crm_research.churn.btyd:ParetoNBDModel",
    "ProbabilityCalibrator": "crm_research.churn.calibration:ProbabilityCalibrator",
    "calibration_metrics": "crm_research.churn.calibration:calibration_metrics",
    "expected_calibration_error": "crm_research.churn.calibration:expected_calibration_error",
    "ChurnClassifier": "crm_research.churn.classifier:ChurnClassifier",
    "tree_contributions": "crm_research.churn.classifier:tree_contributions",
    "calibration_table": "crm_research.churn.evaluation:calibration_table",
    "classification_metrics": "crm_research.churn.evaluation:classification_metrics",
    "lift_table": "crm_research.churn.evaluation:lift_table",
    "FEATURE_DESCRIPTIONS": "crm_research.churn.features:FEATURE_DESCRIPTIONS",
    "NO_DRIVER": "crm_research.churn.features:NO_DRIVER",
    "churn_features": "crm_research.churn.features:churn_features",
    "churn_labels": "crm_research.churn.features:churn_labels",
    "label_window": "crm_research.churn.features:label_window",
    "customer_lifetime_value": "crm_research.churn.clv:customer_lifetime_value",
    "customer_value": "crm_research.churn.clv:customer_value",
    "choose_transaction_model": "crm_research.churn.clv:choose_transaction_model",
    "model_name": "crm_research.churn.clv:model_name",
    "definitions_table": "crm_research.churn.definitions:definitions_table",
    "time_split_metrics": "crm_research.churn.evaluation:time_split_metrics",
    "SurvivalStudy": "crm_research.churn.study:SurvivalStudy",
    "varying_covariates": "crm_research.churn.study:varying_covariates",
    "with_covariates": "crm_research.churn.study:with_covariates",
    "contractual_churn": "crm_research.churn.definitions:contractual_churn",
    "noncontractual_churn": "crm_research.churn.definitions:noncontractual_churn",
    "hit_rate_table": "crm_research.churn.risk:hit_rate_table",
    "rfm_risk": "crm_research.churn.risk:rfm_risk",
    "ShiftedBetaGeoModel": "crm_research.churn.sbg:ShiftedBetaGeoModel",
    "holdout_periods": "crm_research.churn.sbg:holdout_periods",
    "project_subscriptions": "crm_research.churn.sbg:project_subscriptions",
    "projection_error": "crm_research.churn.sbg:projection_error",
    "sbg_holdout": "crm_research.churn.sbg:sbg_holdout",
    "subscription_histories": "crm_research.churn.sbg:subscription_histories",
    "survivors_to_histories": "crm_research.churn.sbg:survivors_to_histories",
    "calibration_holdout_summary": "crm_research.churn.summary:calibration_holdout_summary",
    "rfm_summary": "crm_research.churn.summary:rfm_summary",
    "CoxModel": "crm_research.churn.survival:CoxModel",
    "cox_with_holdout": "crm_research.churn.survival:cox_with_holdout",
    "customer_covariates": "crm_research.churn.survival:customer_covariates",
    "first_order_promo": "crm_research.churn.survival:first_order_promo",
    "kaplan_meier": "crm_research.churn.survival:kaplan_meier",
    "km_summary": "crm_research.churn.survival:km_summary",
    "logrank_tests": "crm_research.churn.survival:logrank_tests",
    "split_by_customer": "crm_research.churn.survival:split_by_customer",
}
"""Public name -> where it comes from; each module is imported on first use of one of its names
(:mod:`crm_research._lazy`), so importing a few names does not load every model library."""

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
    "label_window",
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
    "projection_error",
    "customer_lifetime_value",
    "customer_value",
    "choose_transaction_model",
    "model_name",
    "definitions_table",
    "time_split_metrics",
    "SurvivalStudy",
    "varying_covariates",
    "with_covariates",
    "at_risk_list",
    "at_risk_table",
    "action_segments",
    "risk_drivers",
    "top_reasons",
    "value_at_risk_range",
    "retention_campaign",
    "DEFAULT_ACTIONS",
    "RISK_ONLY_ACTIONS",
    "RISK_CUTS",
]

__getattr__, __dir__ = _lazy.install(__name__, _EXPORTS)
