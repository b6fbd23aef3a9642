"""The steps notebook 05 used to write inline, now in the package: the definitions table, the
survival study of several populations, the choice between BG/NBD and Pareto/NBD, the at-risk
table with what the other sections know, its segments and drivers, the renewal check's error and
the time-split metrics. Real numbers: CDNOW's published fits, hand-counted tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm_research.churn import (
    NO_DRIVER,
    BetaGeoModel,
    ParetoNBDModel,
    SurvivalStudy,
    action_segments,
    at_risk_table,
    choose_transaction_model,
    cox_with_holdout,
    definitions_table,
    hit_rate_table,
    km_summary,
    logrank_tests,
    model_name,
    projection_error,
    risk_drivers,
    time_split_metrics,
    top_reasons,
    varying_covariates,
    with_covariates,
)
from crm_research.churn.clv import customer_value
from test_churn_btyd import cdnow  # noqa: F401 - the CDNOW calibration summary (skips without the data)


def test_definitions_table_counts_both_definitions():
    lost = pd.DataFrame({"event": [1, 0, 1, 1, 0]})
    subs = pd.DataFrame({"event": [0, 1, 0, 0]})
    t = definitions_table(lost, subs, 180)
    assert t["definition"].tolist() == ["no completed purchase for 180 days", "subscription ended"]
    assert t[["count", "lost", "still_active"]].to_numpy().tolist() == [[5, 3, 2], [4, 1, 3]]
    assert t["lost_share"].tolist() == [0.6, 0.25]
    assert len(definitions_table(lost)) == 1  # no subscriptions: one row


def _durations(n: int, seed: int, hazard_b: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"customer_id": np.arange(n), "group": rng.choice(["a", "b"], n), "age": rng.normal(40, 10, n),
                       "promo": np.zeros(n, dtype=bool)})
    t = rng.exponential(np.where(df["group"] == "a", 300.0, 300.0 / hazard_b))
    return df.assign(duration_days=np.minimum(t, 400.0), event=(t < 400.0).astype(int))


def test_survival_study_collects_populations_as_the_notebook_did():
    customers, subs = _durations(1_500, 1, 2.0), _durations(800, 2, 1.0).rename(columns={"group": "plan"})
    study = SurvivalStudy(at=(100, 200), per={"age": 10}, seed=3)
    km, tests = study.describe(customers, "customers", group_col="group")
    cox = study.fit_cox(customers, "customers", ["group", "age"], {"group": "a"})
    study.describe(subs, "subscriptions", group_col="plan")
    study.fit_cox(subs, "subscriptions", ["plan"], {"plan": "a"})
    # the same numbers as each step called by hand, with a population column, customers first
    pd.testing.assert_frame_equal(km, km_summary(customers, group_col="group", at=(100, 200)).assign(population="customers"))
    expected_km = pd.concat([km, km_summary(subs, group_col="plan", at=(100, 200)).assign(population="subscriptions")],
                            ignore_index=True)
    pd.testing.assert_frame_equal(study.km_summary_, expected_km)
    pd.testing.assert_frame_equal(tests, logrank_tests(customers, group_col="group").assign(population="customers"))
    assert study.logrank_["population"].tolist() == ["customers"] * 2 + ["subscriptions"] * 2  # overall test + the pair
    _, table, fit = cox_with_holdout(customers, ["group", "age"], {"group": "a"}, per={"age": 10}, seed=3)
    pd.testing.assert_frame_equal(study.hazard_ratios_.query("population == 'customers'").drop(columns="population"), table)
    assert study.fit_of("customers") == {"population": "customers", **fit}
    assert study.fits_["population"].tolist() == ["customers", "subscriptions"]
    # the planted effect: group b leaves twice as fast, age does nothing
    hr = cox.summary().set_index("covariate")["hazard_ratio"]
    assert 1.7 < hr["group_b"] < 2.3 and 0.9 < hr["age_per_10"] < 1.1
    assert 0.55 < study.fit_of("customers")["held_out_concordance"] < 0.7
    assert repr(study) == "SurvivalStudy(at=(100, 200), per={'age': 10}, seed=3); populations: customers, subscriptions"
    with pytest.raises(KeyError, match="plans"):
        study.fit_of("plans")
    # pooled: one curve, no test
    _, none = SurvivalStudy().describe(customers, "customers")
    assert none is None
    assert varying_covariates(customers, ("age", "promo", "region")) == ["age"]
    joined = with_covariates(customers[["customer_id", "event"]].head(3), pd.DataFrame({"customer_id": [2], "x": [5.0]}))
    assert joined["x"].isna().tolist() == [True, True, False]


def test_choose_transaction_model_keeps_the_better_fit_on_cdnow(cdnow):  # noqa: F811
    model, table = choose_transaction_model(cdnow)
    # Fader, Hardie & Lee: BG/NBD -9582.4 beats Pareto/NBD -9595.0 on CDNOW
    assert isinstance(model, BetaGeoModel) and model_name(model) == "BG/NBD"
    ll = table.groupby("model", sort=False)["log_likelihood"].first().round(1)
    assert ll.to_dict() == {"BG/NBD": -9582.4, "Pareto/NBD": -9595.0}
    assert table.columns.tolist() == ["model", "used", "parameter", "estimate", "se", "unit", "log_likelihood"]
    assert table.loc[table["used"], "model"].unique().tolist() == ["BG/NBD"]
    # a spend model is listed last and always used; candidates can be given
    from crm_research.churn import GammaGammaModel

    gg = GammaGammaModel().fit(cdnow)
    chosen, t2 = choose_transaction_model(cdnow, spend_model=gg, candidates=(ParetoNBDModel(),))
    assert isinstance(chosen, ParetoNBDModel)
    assert t2["model"].tolist() == ["Pareto/NBD"] * 4 + ["Gamma-Gamma"] * 3 and t2["used"].all()


def test_at_risk_table_merges_what_the_sections_know(cdnow):  # noqa: F811
    value = customer_value(cdnow, BetaGeoModel().fit(cdnow))
    value["clv"] = 10.0 * value["expected_purchases"]
    ids = value["customer_id"].iloc[:50]
    risk = pd.DataFrame({"customer_id": ids, "p_churn": np.linspace(0.05, 0.95, 50),
                         "driver_description": ["long silence"] * 25 + [NO_DRIVER] * 25})
    bands = pd.DataFrame({"customer_id": ids.iloc[:10], "risk_band": pd.Categorical(["lapsed"] * 10)})
    active = pd.DataFrame({"customer_id": ids.iloc[::2], "expected_active_days": 100.0})
    t = at_risk_table(risk, value, rank_by="value_at_risk", rfm_bands=bands, active_days=active)
    assert len(t) == 50 and t["rank"].tolist() == list(range(1, 51))
    assert (np.diff(t["value_at_risk"]) <= 0).all()
    assert t.attrs["ranked_by"].startswith("Ranked by value at risk")
    got = t.set_index("customer_id")
    assert np.allclose(got["value_at_risk"], got["p_churn"] * got["value"])
    assert np.array_equal(got.loc[ids, "p_alive"].to_numpy(), value.set_index("customer_id").loc[ids, "p_alive"].to_numpy())
    assert (got["rfm_band"] == "lapsed").sum() == 10 and (got["rfm_band"] == "nan").sum() == 40
    assert got["expected_active_days"].notna().sum() == 25
    by_risk = at_risk_table(risk, value, value_col=None)  # no amounts: by risk alone
    assert (np.diff(by_risk["p_churn"]) <= 0).all() and "value_at_risk" not in by_risk
    # segments and drivers, counted by hand
    seg = action_segments(t)
    assert seg["customers"].sum() == 50 and seg["value_at_risk"].is_monotonic_decreasing
    assert seg["value_at_risk"].sum() == pytest.approx(t["value_at_risk"].sum())
    drivers = risk_drivers(t)
    high = t[t["risk_level"] == "high risk"]
    assert drivers["customers"].sum() == len(high) and drivers["share"].sum() == pytest.approx(1.0)
    assert dict(zip(drivers["driver"], drivers["customers"], strict=True)) == high["driver"].value_counts().to_dict()
    assert top_reasons(drivers) == [(d, s) for d, s in zip(drivers["driver"], drivers["share"], strict=True) if d != NO_DRIVER]


def test_projection_error_and_time_split_metrics():
    check = pd.DataFrame({"calibration": [True, True, False, False, False],
                          "at_risk": [500, 300, 120, 40, 12],
                          "model_survival": [0.8, 0.6, 0.50, 0.42, 0.3],
                          "actual_survival": [0.8, 0.6, 0.46, 0.45, 0.1]})
    error, optimistic = projection_error(check)
    assert error == pytest.approx(0.04) and optimistic is False  # mean gap (0.04 - 0.03) / 2 = 0.005
    assert projection_error(check, optimism=0.0)[1] is True
    assert projection_error(None) == (None, False)
    assert projection_error(check, min_at_risk=1000) == (None, False)

    class Fitted:  # what time_split_metrics reads of a fitted ChurnClassifier
        train_metrics_ = pd.DataFrame([{"n": 4, "base_rate": 0.5, "mean_predicted": 0.5, "roc_auc": 1.0, "pr_auc": 1.0,
                                        "brier": 0.1}])
        label_start_ = pd.Timestamp("2025-07-01", tz="UTC")

    scored = pd.DataFrame({"churned": [1, 0, 1, 0], "p_churn": [0.9, 0.2, 0.4, 0.6]})
    m = time_split_metrics(Fitted(), scored, pd.Timestamp("2025-10-01", tz="UTC"))
    assert m["sample"].tolist() == ["learned from (in sample)", "unseen later period (out of time)"]
    assert m["scored_on"].dt.strftime("%Y-%m-%d").tolist() == ["2025-07-01", "2025-10-01"]
    assert m["roc_auc"].iloc[1] == 0.75 and m["n"].tolist() == [4, 4]


def test_hit_rate_table_counts_today_beside_the_check():
    scores = pd.DataFrame({"customer_id": range(6), "risk_band": ["active"] * 3 + ["lapsed"] * 3,
                           "risk_score": [0.1, 0.2, 0.3, 0.7, 0.8, 0.9]})
    outcomes = pd.DataFrame({"customer_id": range(6), "churned": [0, 0, 1, 1, 1, 1]})
    now = pd.DataFrame({"customer_id": range(4), "risk_band": pd.Categorical(["active", "cooling", "cooling", "active"])})
    t = hit_rate_table(scores, outcomes, now=now)
    assert t.columns[:2].tolist() == ["band", "customers_now"]
    assert dict(zip(t["band"], t["customers_now"], strict=True)) == {"active": 2, "lapsed": 0, "all": 4}
    assert t["hit_rate"].tolist()[:2] == [pytest.approx(1 / 3), 1.0] and t["auc"].iloc[-1] == 1.0
    assert "customers_now" not in hit_rate_table(scores, outcomes)
