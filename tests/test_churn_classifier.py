"""The churn classifier: no information after the cut-off, time split, out-of-time quality,
hand-worked lift and calibration tables, the risk driver, and the at-risk list end to end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from crm_research import synthetic
from crm_research.churn import (
    BetaGeoModel,
    ChurnClassifier,
    GammaGammaModel,
    at_risk_list,
    calibration_table,
    churn_features,
    churn_labels,
    classification_metrics,
    customer_value,
    lift_table,
    rfm_summary,
)
from crm_research.churn.features import (
    FEATURE_DESCRIPTIONS,
    FEATURE_UNITS,
    NO_DRIVER,
    describe_driver,
    describe_driver_value,
)
from crm_research.errors import ParameterError
from crm_research.exprs import parse_as_of

TRAIN, TEST, HORIZON = "2024-10-01", "2025-10-01", 90  # same season a year apart
DAY = pd.Timedelta(days=1)


def closed(day) -> pd.Timestamp:
    """The analysis date (as_of) at which the label window opened on ``day`` has closed."""
    return parse_as_of(day) + HORIZON * DAY


@pytest.fixture(scope="module")
def tables():
    tables, _, _ = synthetic.generate(30_000, seed=3)
    return tables


def snapshot(tables: dict, cutoff) -> dict:
    """The database as it looked at ``cutoff``: later rows absent, later updates not yet made."""
    c = pd.Timestamp(cutoff, tz="UTC")
    out = {}
    for name, col in (("orders", "ordered_at"), ("events", "occurred_at"), ("surveys", "answered_at")):
        out[name] = tables[name][tables[name][col] < c].reset_index(drop=True)
    t = tables["tickets"][tables["tickets"]["opened_at"] < c].copy()
    late = ~(t["resolved_at"] < c)
    t["csat"] = t["csat"].mask(late)
    t["resolved_at"] = t["resolved_at"].where(t["resolved_at"] < c)
    t["first_response_at"] = t["first_response_at"].where(t["first_response_at"] < c)
    out["tickets"] = t.reset_index(drop=True)
    s = tables["subscriptions"][tables["subscriptions"]["started_at"] < c].copy()
    s["ended_at"] = s["ended_at"].where(s["ended_at"] < c)
    out["subscriptions"] = s.reset_index(drop=True)
    out["customers"] = tables["customers"]
    return out


def plant_leak(tables: dict, cutoff, horizon) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """A site visit one hour after ``cutoff`` for exactly the customers who will buy again in
    the label window: a feature that saw it would predict the label perfectly. Returns the
    tables with the leak, the labels and the clean tables' features at ``cutoff``."""
    c = pd.Timestamp(cutoff, tz="UTC")
    feats = churn_features(tables, c)
    lab = churn_labels(tables["orders"], feats, c + horizon * DAY, horizon)
    stay = lab.loc[lab["churned"] == 0, "customer_id"]
    ev = tables["events"]
    leak = pd.DataFrame({c_: pd.Series([None] * len(stay), dtype=ev[c_].dtype) for c_ in ev.columns})
    leak["customer_id"] = stay.to_numpy()
    leak["occurred_at"] = c + pd.Timedelta(hours=1)
    leak["event"] = "site_visit"
    leak["session_id"] = "LEAK"
    return {**tables, "events": pd.concat([ev, leak], ignore_index=True)}, lab, feats


@pytest.fixture(scope="module")
def model(tables):
    return ChurnClassifier(horizon_days=HORIZON).fit(tables, closed(TRAIN))


@pytest.fixture(scope="module")
def test_features(tables):
    return churn_features(tables, TEST)


@pytest.fixture(scope="module")
def clean_evaluation(tables, model):
    return model.evaluate(tables, closed(TEST))


def test_features_ignore_everything_after_the_cutoff(tables, test_features):
    full = test_features
    snap = churn_features(snapshot(tables, TEST), TEST)
    pd.testing.assert_frame_equal(full, snap)
    assert len(full) > 5_000 and full.shape[1] >= 20


def test_a_planted_leak_is_not_used(tables, model, clean_evaluation):
    leaky, lab, clean_train_features = plant_leak(tables, TRAIN, HORIZON)
    leaky, lab_test, _ = plant_leak(leaky, TEST, HORIZON)
    # the leak is perfect: "a site visit after the cut-off" is the label itself
    ev = leaky["events"]
    after = ev[(ev["session_id"] == "LEAK") & (ev["occurred_at"] > pd.Timestamp(TEST, tz="UTC"))]
    naive = (~lab_test["customer_id"].isin(after["customer_id"])).astype(int)
    assert roc_auc_score(lab_test["churned"], naive) == 1.0
    # ... yet features, the fitted model and its scores are exactly those of clean data
    pd.testing.assert_frame_equal(churn_features(leaky, TRAIN), clean_train_features)
    leaky_model = ChurnClassifier(horizon_days=HORIZON).fit(leaky, closed(TRAIN))
    clean, dirty = clean_evaluation, leaky_model.evaluate(leaky, closed(TEST))
    assert np.array_equal(clean["p_churn"].to_numpy(), dirty["p_churn"].to_numpy())  # bit for bit
    assert classification_metrics(dirty["churned"], dirty["p_churn"])["roc_auc"].iloc[0] < 0.95


def test_time_split_is_enforced(tables, model):
    too_early = pd.Timestamp(TRAIN, tz="UTC") + (HORIZON - 1) * DAY
    with pytest.raises(ParameterError, match="horizon"):
        model.evaluate(tables, closed(too_early))
    with pytest.raises(ParameterError, match="horizon"):
        model.evaluate(tables, closed(TEST), label_start=too_early)
    # a label window running past the analysis date would use what is not known yet
    with pytest.raises(ParameterError, match="runs past as_of"):
        ChurnClassifier(horizon_days=HORIZON).fit(tables, "2025-11-01", label_start="2025-10-01")
    assert model.label_start_ == pd.Timestamp(TRAIN, tz="UTC")


def test_out_of_time_quality(clean_evaluation):
    ev = clean_evaluation
    m = classification_metrics(ev["churned"], ev["p_churn"]).iloc[0]
    assert m["n"] > 5_000 and 0.3 < m["base_rate"] < 0.7
    assert m["roc_auc"] > 0.83 and m["pr_auc"] > m["base_rate"] + 0.2
    # calibrated at the training cut-off, still close a year later
    assert abs(m["mean_predicted"] - m["base_rate"]) < 0.05
    cal = calibration_table(ev["churned"], ev["p_churn"])
    assert (cal["observed_rate"] - cal["mean_predicted"]).abs().max() < 0.1
    lift = lift_table(ev["churned"], ev["p_churn"])
    assert lift.loc[0, "lift"] > 1.6 and lift.loc[2, "cum_churner_share"] > 0.45
    assert lift["churn_rate"].iloc[0] > lift["churn_rate"].iloc[-1] * 5


def test_lift_and_calibration_tables_by_hand():
    y = np.array([1, 0, 1, 0, 0, 0, 1, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1])
    lt = lift_table(y, p, n_groups=5)  # pairs by descending p: (1,0) (1,0) (0,0) (1,0) (0,0)
    assert lt["churners"].tolist() == [1, 1, 0, 1, 0]
    assert np.allclose(lt["lift"], [0.5 / 0.3, 0.5 / 0.3, 0.0, 0.5 / 0.3, 0.0])
    assert np.allclose(lt["cum_churner_share"], [1 / 3, 2 / 3, 2 / 3, 1.0, 1.0])
    ct = calibration_table(y, p, n_bins=2)  # lower half p 0.1..0.5: one churner; upper: two
    assert ct["n"].tolist() == [5, 5]
    assert np.allclose(ct["observed_rate"], [0.2, 0.4])
    assert np.allclose(ct["mean_predicted"], [(0.1 + 0.15 + 0.2 + 0.3 + 0.4) / 5, (0.5 + 0.6 + 0.7 + 0.8 + 0.9) / 5])
    assert (ct["ci_lower"] <= ct["observed_rate"]).all() and (ct["ci_upper"] >= ct["observed_rate"]).all()


def test_probabilities_are_calibrated_on_held_out_customers_and_keep_the_ranking(test_features, model):
    assert model.calibration_ in ("sigmoid", "beta", "isotonic")
    scores = model.calibration_scores_
    assert scores["method"].tolist() == ["uncalibrated", "sigmoid", "beta", "isotonic"]
    assert scores.loc[scores["chosen"], "method"].item() == model.calibration_
    # the held-out customers are a quarter of the training cut-off's, drawn with the seed
    n = model.n_fit_ + model.n_validation_
    assert model.n_validation_ == pytest.approx(0.25 * n, abs=1) and scores["note"].str.len().gt(0).all()
    # the boosting's own probabilities are over-confident on customers it did not learn from
    unc = scores.set_index("method").loc["uncalibrated"]
    # (log loss 0.508 uncalibrated against 0.502 chosen on the small company with its media-driven sign-ups)
    assert unc["log_loss"] > scores.loc[scores["chosen"], "log_loss"].item() + 0.003
    out = model.predict_features(test_features, drivers=False)
    contrib = model.contributions_features(test_features)
    p, raw = out["p_churn"].to_numpy(), contrib["log_odds"].to_numpy()
    assert (p > 0).all() and (p < 1).all()
    assert (np.round(p, 12) > 0).all() and (np.round(p, 12) < 1).all()     # no mass at 0 or 1, even rounded
    assert len(np.unique(p)) > 0.9 * len(p)                                # no isotonic steps
    order = np.argsort(raw, kind="stable")                                 # the base model's ranking, kept
    assert (np.diff(p[order]) >= 0).all() and (np.diff(p[order])[np.diff(raw[order]) > 0] > 0).all()


def test_contributions_add_up_to_the_log_odds(tables, test_features, model):
    contrib = model.contributions(tables, TEST)
    phi = contrib[model.feature_names_].to_numpy()
    assert np.abs(contrib["baseline"] + phi.sum(axis=1) - contrib["log_odds"]).max() < 1e-6
    X = test_features[model.feature_names_].to_numpy(dtype=float)
    assert np.isnan(X).any()                                        # missing values routed as the trees route them
    assert np.allclose(contrib["log_odds"], model.estimator_.decision_function(X), atol=1e-12)
    # the baseline is the expected log-odds of the customers the model learned from
    logistic = ChurnClassifier(horizon_days=HORIZON, model="logistic").fit(tables, closed(TRAIN))
    lc = logistic.contributions_features(test_features)
    lphi = lc[logistic.feature_names_].to_numpy()
    assert np.abs(lc["baseline"] + lphi.sum(axis=1) - lc["log_odds"]).max() < 1e-6
    coef = logistic.estimator_[-1].coef_[0]
    j = logistic.feature_names_.index("recency_days")
    x = test_features["recency_days"].to_numpy()
    scaler = logistic.estimator_[0]
    assert np.allclose(lphi[:, j], coef[j] * ((x - scaler.mean_[j]) / scaler.scale_[j] - logistic._z_mean_[j]))


def simulated_features(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Five features; churn depends on recency_days only for a subgroup (active_subscription = 1),
    and on nothing for the others."""
    rng = np.random.default_rng(seed)
    f = pd.DataFrame({"customer_id": np.arange(n),
                      "recency_days": rng.gamma(2.0, 30.0, n),
                      "n_orders": rng.poisson(4.0, n).astype(float),
                      "site_visits_90d": rng.poisson(3.0, n).astype(float),
                      "age": rng.normal(40.0, 10.0, n),
                      "active_subscription": (rng.random(n) < 0.5).astype(float)})
    group = f["active_subscription"].to_numpy() == 1
    logit = np.where(group, -2.0 + 3.0 * (f["recency_days"].to_numpy() - 60.0) / 25.0, -1.0)
    return f, (rng.random(n) < expit(logit)).astype(int), group


@pytest.mark.parametrize("kind", ["gbm", "logistic"])
def test_the_driver_of_a_subgroup_is_the_feature_its_churn_depends_on(kind):
    f, y, group = simulated_features(6_000, seed=11)
    m = ChurnClassifier(model=kind, seed=1).fit_features(f, y)
    test, _, group = simulated_features(3_000, seed=12)
    out = m.predict_features(test)
    late = group & (test["recency_days"].to_numpy() > 100)      # the subgroup, with a long time since the purchase
    assert late.sum() > 150
    assert (out.loc[late, "driver"] == "recency_days").mean() > 0.97
    assert (out.loc[late, "driver_description"] == "long time since the last purchase").mean() > 0.97
    assert (out.loc[late, "driver_contribution"] > 0.5).mean() > 0.97
    # the contribution is the model's own: its log-odds without it give back p_churn minus driver_effect
    phi = m.contributions_features(test)
    i = np.flatnonzero(late)[0]
    assert out.loc[i, "driver_contribution"] == pytest.approx(phi.loc[i, "recency_days"])
    assert out.loc[i, "driver_effect"] == pytest.approx(
        out.loc[i, "p_churn"] - m.calibrator_.predict([phi.loc[i, "log_odds"] - phi.loc[i, "recency_days"]])[0])
    detail = out.loc[i, "driver_detail"]
    assert detail.startswith("long time since the last purchase: ") and "days (typical " in detail
    assert phi.loc[late, "recency_days"].median() > 1.0
    # a customer none of whose features raises the risk says so plainly
    none = out["driver"] == "none"
    assert none.any() and (out.loc[none, "driver_description"] == NO_DRIVER).all()
    assert (out.loc[none, "driver_contribution"] == 0).all() and (out.loc[none, "driver_effect"] == 0).all()
    assert (out.loc[~none, "driver_contribution"] > 0).all()


def test_driver_descriptions_follow_the_direction(test_features):
    assert describe_driver("n_orders", 12.0, 3.0) == "many orders"
    assert describe_driver("n_orders", 1.0, 3.0) == "few orders"
    assert describe_driver("days_since_visit", np.nan, 20.0) == "no site visit on record"
    assert describe_driver("none", 1.0, 0.0) == NO_DRIVER == "no single fact stands out"
    assert describe_driver_value("recency_days", 210.4, 45.0) == "long time since the last purchase: 210 days (typical 45)"
    assert describe_driver_value("promo_share", 0.8, 0.1) == "buys mostly on promotion: 80% (typical 10%)"
    assert describe_driver_value("revenue", 1234.5, 310.0) == "high total spend: 1,234 (typical 310)"
    assert describe_driver_value("overdue_ratio", 2.34, 0.8) == (
        "overdue versus their own purchase rhythm: 2.3 times their usual gap (typical 0.8)")
    assert describe_driver_value("mean_csat", np.nan, 4.0) == "no rated support ticket"
    assert describe_driver_value("n_purchase_days", 1.0, 3.0) == "few purchase days: 1 purchase day (typical 3)"
    assert describe_driver_value("tenure_days", 21.9, 253.2) == (
        "recent customer (first purchase not long ago): 22 days (typical 253)")
    assert set(FEATURE_UNITS) == set(FEATURE_DESCRIPTIONS)
    assert describe_driver("new_feature", 2.0, 1.0) == "new_feature above typical"
    # every feature has a description both ways
    assert set(test_features.columns) - {"customer_id"} <= set(FEATURE_DESCRIPTIONS)
    assert all(len(v) == 2 and v[0] != v[1] for v in FEATURE_DESCRIPTIONS.values())


def test_at_risk_list_end_to_end(tables, model):
    as_of = pd.Timestamp("2026-01-01", tz="UTC")
    summary = rfm_summary(tables["orders"], as_of=as_of, time_unit="D")
    value = customer_value(summary, BetaGeoModel().fit(summary), GammaGammaModel().fit(summary),
                           horizon=3, period=30.0, discount_rate=0.01)
    scores = model.predict(tables, as_of).merge(value, on="customer_id", how="inner")
    lst = at_risk_list(scores)
    assert len(lst) == len(scores) > 5_000
    assert np.allclose(lst["value_at_risk"], lst["p_churn"] * lst["value"])
    assert (np.diff(lst["value_at_risk"]) <= 0).all()
    assert lst["rank_value_at_risk"].tolist() == list(range(1, len(lst) + 1))
    assert sorted(lst["rank_risk"]) == list(range(1, len(lst) + 1))
    top = lst.iloc[0]
    assert top["segment"] == "high value / high risk" and top["suggested_action"].startswith("personal outreach")
    assert lst["driver"].notna().all()
    assert lst.attrs["ranked_by"].startswith("Ranked by value at risk") and lst["rank"].tolist() == lst[
        "rank_value_at_risk"].tolist()
    by_risk = at_risk_list(scores, rank_by="risk")
    assert (np.diff(by_risk["p_churn"]) <= 0).all() and by_risk["rank"].tolist() == by_risk["rank_risk"].tolist()
    # ranked by value, customers below the top-20's lowest chance by risk make the top 20
    assert lst["p_churn"].head(20).min() < by_risk["p_churn"].iloc[19]


def test_twin_features_that_cancel_out_are_not_a_driver():
    """Orders and purchase days measure one thing: a linear model may weigh one up and its twin
    down, which made 'many orders' the main reason of 10 demo customers. Drivers are chosen by a
    group's summed contribution (FEATURE_GROUPS), so the cancelling pair never wins."""
    rng = np.random.default_rng(5)
    n = 6_000
    days = rng.poisson(4.0, n).astype(float)
    f = pd.DataFrame({"customer_id": np.arange(n), "n_purchase_days": days,
                      "n_orders": days + rng.binomial(1, 0.05, n),  # the twin: one extra order now and then
                      "recency_days": rng.gamma(2.0, 30.0, n)})
    y = (rng.random(n) < expit(-2.0 + (f["recency_days"].to_numpy() - 60.0) / 25.0)).astype(int)
    m = ChurnClassifier(model="logistic", seed=1).fit_features(f, y)
    phi = m.contributions_features(f)
    out = m.predict_features(f)
    late = f["recency_days"].to_numpy() > 120
    assert (out.loc[late, "driver"] == "recency_days").mean() > 0.97
    # whatever the twins' single terms, neither is the driver of more customers than their sum would make it
    twins = phi["n_purchase_days"] + phi["n_orders"]
    chosen = out["driver"].isin(["n_purchase_days", "n_orders"])
    assert (twins[chosen] > 1e-9).all()
    assert np.allclose(out.loc[chosen, "driver_contribution"], twins[chosen])
