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
from crm_research.churn.classifier import FEATURE_DESCRIPTIONS, describe_driver
from crm_research.errors import ParameterError

TRAIN, TEST, HORIZON = "2024-10-01", "2025-10-01", 90  # same season a year apart
DAY = pd.Timedelta(days=1)


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


def plant_leak(tables: dict, cutoff, horizon) -> dict:
    """A site visit one hour after ``cutoff`` for exactly the customers who will buy again in
    the label window: a feature that saw it would predict the label perfectly."""
    c = pd.Timestamp(cutoff, tz="UTC")
    feats = churn_features(tables, c)
    lab = churn_labels(tables["orders"], feats, c, horizon)
    stay = lab.loc[lab["churned"] == 0, "customer_id"]
    ev = tables["events"]
    leak = pd.DataFrame({c_: pd.Series([None] * len(stay), dtype=ev[c_].dtype) for c_ in ev.columns})
    leak["customer_id"] = stay.to_numpy()
    leak["occurred_at"] = c + pd.Timedelta(hours=1)
    leak["event"] = "site_visit"
    leak["session_id"] = "LEAK"
    return {**tables, "events": pd.concat([ev, leak], ignore_index=True)}, lab


@pytest.fixture(scope="module")
def model(tables):
    return ChurnClassifier(horizon_days=HORIZON).fit(tables, TRAIN)


def test_features_ignore_everything_after_the_cutoff(tables):
    full = churn_features(tables, TEST)
    snap = churn_features(snapshot(tables, TEST), TEST)
    pd.testing.assert_frame_equal(full, snap)
    assert len(full) > 5_000 and full.shape[1] >= 20


def test_a_planted_leak_is_not_used(tables, model):
    leaky, lab = plant_leak(tables, TRAIN, HORIZON)
    leaky, lab_test = plant_leak(leaky, TEST, HORIZON)
    # the leak is perfect: "a site visit after the cut-off" is the label itself
    ev = leaky["events"]
    after = ev[(ev["session_id"] == "LEAK") & (ev["occurred_at"] > pd.Timestamp(TEST, tz="UTC"))]
    naive = (~lab_test["customer_id"].isin(after["customer_id"])).astype(int)
    assert roc_auc_score(lab_test["churned"], naive) == 1.0
    # ... yet features, the fitted model and its scores are exactly those of clean data
    pd.testing.assert_frame_equal(churn_features(leaky, TRAIN), churn_features(tables, TRAIN))
    leaky_model = ChurnClassifier(horizon_days=HORIZON).fit(leaky, TRAIN)
    clean, dirty = model.evaluate(tables, TEST), leaky_model.evaluate(leaky, TEST)
    assert np.array_equal(clean["p_churn"].to_numpy(), dirty["p_churn"].to_numpy())  # bit for bit
    assert classification_metrics(dirty["churned"], dirty["p_churn"])["roc_auc"].iloc[0] < 0.95


def test_time_split_is_enforced(tables, model):
    too_early = pd.Timestamp(TRAIN, tz="UTC") + (HORIZON - 1) * DAY
    with pytest.raises(ParameterError, match="horizon"):
        model.evaluate(tables, too_early)
    # a label window running past the end of the data would invent churners
    with pytest.raises(ParameterError, match="end of the data"):
        ChurnClassifier(horizon_days=HORIZON).fit(tables, "2025-11-01")


def test_out_of_time_quality(tables, model):
    ev = model.evaluate(tables, TEST)
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


class _Stub:
    """Risk rises (sign 1) or falls (sign -1) with one feature only (index j): the driver must be
    that feature."""

    def __init__(self, j, sign=1.0):
        self.j = j
        self.sign = sign

    def predict_proba(self, X):
        p = expit(self.sign * X[:, self.j] / 30.0 - 2)
        return np.column_stack([1 - p, p])


def test_driver_is_the_feature_that_raises_the_risk(tables, model):
    import copy

    m = copy.deepcopy(model)
    j = m.feature_names_.index("recency_days")
    m.estimator_ = _Stub(j)
    out = m.predict(tables, TEST)
    feats = churn_features(tables, TEST)
    above = feats["recency_days"].to_numpy() > m.reference_["recency_days"]
    assert (out.loc[above, "driver"] == "recency_days").all()
    assert (out.loc[~above, "driver"] == "none").all()
    ref_p = expit(m.reference_["recency_days"] / 30.0 - 2)
    assert np.allclose(out.loc[above, "driver_effect"], out.loc[above, "p_churn"] - ref_p)
    assert (out.loc[above, "driver_description"] == "long time since the last purchase").all()
    assert (out.loc[~above, "driver_description"] == "no single driver").all()
    # risk that falls with recency: the driver is then a *short* time since the last purchase,
    # and the description must say so rather than repeat the usual direction
    m.estimator_ = _Stub(j, sign=-1.0)
    out = m.predict(tables, TEST)
    below = feats["recency_days"].to_numpy() < m.reference_["recency_days"]
    assert (out.loc[below, "driver"] == "recency_days").all()
    assert (out.loc[below, "driver_description"] == "short time since the last purchase").all()


def test_driver_descriptions_follow_the_direction(tables):
    assert describe_driver("n_orders", 12.0, 3.0) == "many orders"
    assert describe_driver("n_orders", 1.0, 3.0) == "few orders"
    assert describe_driver("days_since_visit", np.nan, 20.0) == "no site visit on record"
    assert describe_driver("none", 1.0, 0.0) == "no single driver"
    assert describe_driver("new_feature", 2.0, 1.0) == "new_feature above typical"
    # every feature has a description both ways
    assert set(churn_features(tables, TEST).columns) - {"customer_id"} <= set(FEATURE_DESCRIPTIONS)
    assert all(len(v) == 2 and v[0] != v[1] for v in FEATURE_DESCRIPTIONS.values())


def test_at_risk_list_end_to_end(tables, model):
    as_of = pd.Timestamp("2026-01-01", tz="UTC")
    summary = rfm_summary(tables["orders"], observation_end=as_of - DAY, time_unit="D")
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
