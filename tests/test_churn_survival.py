"""Survival: Cox recovers the planted hazard ratios, PH check, held-out concordance, KM, log-rank,
remaining lifetime against the planted Weibull model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines.statistics import logrank_test

from crm_research import synthetic
from crm_research.churn import (
    CoxModel,
    contractual_churn,
    customer_covariates,
    kaplan_meier,
    km_summary,
    logrank_tests,
    split_by_customer,
)
from crm_research.errors import CRMError
from crm_research.synthetic import config as K

AS_OF = "2026-01-01"
COVARIATES = dict(covariates=["plan", "age", "first_order_promo"], categorical={"plan": "basic"},
                  per={"age": 10})
# model column -> key of truth["hazard_ratios"]
TRUTH_NAMES = {"plan_plus": "plan_plus", "plan_premium": "plan_premium", "age_per_10": "age_per_10_years",
               "first_order_promo": "first_order_promo"}


@pytest.fixture(scope="module")
def company():
    # 150k contacts -> about 52k customers (contacts with an order), 12k subscriptions, 6k ended
    tables, truth, _ = synthetic.generate(150_000, seed=8)
    return tables, truth


@pytest.fixture(scope="module")
def subs(company):
    tables, _ = company
    durations = contractual_churn(tables["subscriptions"], AS_OF)
    return durations.merge(customer_covariates(tables, AS_OF), on="customer_id", how="left")


@pytest.fixture(scope="module")
def cox(subs):
    return CoxModel(**COVARIATES).fit(subs)


def test_the_company_is_big_enough(company, subs):
    tables, _ = company
    assert tables["orders"]["customer_id"].nunique() >= 50_000
    assert len(subs) > 10_000 and subs["event"].sum() > 5_000


def test_cox_recovers_planted_hazard_ratios_within_15_percent(cox, company):
    _, truth = company
    s = cox.summary().set_index("covariate")
    assert sorted(s.index) == sorted(TRUTH_NAMES)
    for col, key in TRUTH_NAMES.items():
        true_hr = truth["hazard_ratios"][key]
        est = s.loc[col, "hazard_ratio"]
        assert abs(est / true_hr - 1) < 0.15, (col, est, true_hr)
        # and the standard errors are honest: within 3.5 of them on the log scale
        assert abs(np.log(est / true_hr)) < 3.5 * s.loc[col, "se"], (col, est, true_hr)
    assert cox.n_dropped_ == 0


def test_ph_check_is_a_table_and_flags_a_real_violation(cox):
    ph = cox.ph_check()
    assert list(ph.columns) == ["covariate", "test_statistic", "p_value", "ph_violated"]
    assert sorted(ph["covariate"]) == sorted(TRUTH_NAMES)
    # the planted model is proportional (Weibull PH): no covariate is flagged strongly
    assert ph["p_value"].min() > 1e-3
    # crossing hazards (Weibull shape 0.6 against 2.5 at equal medians) break PH
    rng = np.random.default_rng(0)
    n = 3000
    g = rng.random(n) < 0.5
    shape = np.where(g, 0.6, 2.5)
    t = 100 * rng.weibull(shape) / np.log(2) ** (1 / shape)
    cens = rng.uniform(0, 300, n)
    df = pd.DataFrame({"duration_days": np.minimum(t, cens), "event": (t <= cens).astype(int), "g": g})
    bad = CoxModel(["g"]).fit(df).ph_check()
    assert bad["ph_violated"].all() and bad["p_value"].max() < 1e-6


def test_ph_check_is_lifelines_test_bit_for_bit_with_ties():
    # ph_check gathers lifelines' Schoenfeld residuals in linear time (lifelines appends them one
    # by one: 132 s for 167k customers): the same statistics to the last bit, ties included
    from lifelines.statistics import proportional_hazard_test

    from crm_research.churn import survival
    from crm_research.churn.survival import _schoenfeld_within_strata as survival_schoenfeld

    rng = np.random.default_rng(3)
    n = 4000
    df = pd.DataFrame({"ch": rng.choice(list("abc"), n), "age": rng.normal(40, 10, n).round(),
                       "promo": rng.random(n) < 0.3})
    life = np.round(rng.exponential(np.where(df["ch"] == "b", 150.0, 300.0)))  # whole days: many ties
    df["event"], df["duration_days"] = (life < 400).astype(int), np.minimum(life, 400)
    model = CoxModel(["ch", "age", "promo"], categorical={"ch": "a"}, per={"age": 10}).fit(df)
    calls = []
    with pytest.MonkeyPatch.context() as mp:  # the linear version is the one that runs
        mp.setattr(survival, "_schoenfeld_within_strata",
                   lambda *a: calls.append(1) or survival_schoenfeld(*a))
        ours = model.ph_check()
    assert calls == [1]
    theirs = proportional_hazard_test(model.fitter_, model._train, time_transform="rank").summary
    assert np.array_equal(ours["test_statistic"].to_numpy(), theirs["test_statistic"].to_numpy(dtype=float))
    assert np.array_equal(ours["p_value"].to_numpy(), theirs["p"].to_numpy(dtype=float))
    inner = vars(model.fitter_)["_model"]
    assert "_compute_schoenfeld_within_strata" not in vars(inner)  # lifelines' own method is back


def _true_log_hr(df):
    hr = K.HAZARD_RATIOS
    plan = df["plan"].map({"basic": 1.0, "plus": hr["plan_plus"], "premium": hr["plan_premium"]})
    return (np.log(plan) + (df["age"] - 40) / 10 * np.log(hr["age_per_10_years"])
            + df["first_order_promo"] * np.log(hr["first_order_promo"]))


def test_held_out_concordance_matches_the_oracle(subs):
    from lifelines.utils import concordance_index

    train, test = split_by_customer(subs, test_share=0.3, seed=1)
    assert not set(train["customer_id"]) & set(test["customer_id"])
    assert abs(len(test) / len(subs) - 0.3) < 0.02
    m = CoxModel(**COVARIATES).fit(train)
    c = m.concordance(test)
    oracle = concordance_index(test["duration_days"], -_true_log_hr(test), test["event"])
    # covariates explain little of a Weibull lifetime: the planted model itself reaches ~0.60;
    # the fitted model must be as good on customers it has not seen
    assert 0.55 < c and abs(c - oracle) < 0.01, (c, oracle)


def test_remaining_lifetime_matches_the_planted_weibull(cox, subs):
    active = subs[(subs["event"] == 0) & (subs["duration_days"] < 450)].head(2000)
    tau = 180
    est = cox.expected_remaining_lifetime(active, horizon_days=tau)
    k, lam = K.SUBSCRIPTION_WEIBULL_SHAPE, K.SUBSCRIPTION_SCALE_DAYS
    hr = np.exp(_true_log_hr(active).to_numpy())[:, None]
    d = active["duration_days"].to_numpy()[:, None]
    u = np.arange(1.0, tau + 1)[None, :]
    true = np.exp(-hr * (((d + u) / lam) ** k - (d / lam) ** k)).sum(axis=1)
    assert np.all((est > 0) & (est <= tau))
    # mean absolute error under 3 % of the planted restricted mean remaining lifetime
    assert np.mean(np.abs(est / true - 1)) < 0.03, np.mean(np.abs(est / true - 1))
    curves = cox.survival_curves(active.head(5), [30, 90, 180])
    assert (np.diff(curves.to_numpy(), axis=1) <= 0).all()
    assert np.allclose(curves[180].to_numpy(), np.exp(-hr[:5, 0] * (((d[:5, 0] + 180) / lam) ** k
                                                                     - (d[:5, 0] / lam) ** k)), atol=0.03)


def test_kaplan_meier_by_hand():
    df = pd.DataFrame({"duration_days": [1, 2, 2, 3, 4], "event": [1, 1, 0, 1, 0]})
    km = kaplan_meier(df, times=[0, 1.5, 2, 3.5, 10])
    # S(1) = 4/5; S(2) = 0.8 * 3/4; S(3) = 0.6 * 1/2; the censored 4 keeps 0.3
    assert np.allclose(km["survival"], [1.0, 0.8, 0.6, 0.3, 0.3])
    assert km["at_risk"].tolist() == [5, 4, 4, 1, 0]
    s = km_summary(df, at=(2, 3))
    assert s.loc[0, "median_days"] == 3.0 and s.loc[0, "survival_2d"] == pytest.approx(0.6)


def test_kaplan_meier_and_logrank_by_plan(subs):
    km = km_summary(subs, group_col="plan", at=(180,))
    s180 = km.set_index("group")["survival_180d"]
    # lower hazard, longer survival: basic < plus < premium
    assert s180["basic"] < s180["plus"] < s180["premium"]
    lr = logrank_tests(subs, group_col="plan")
    assert lr.loc[lr["test"] == "all groups", "p_value"].iloc[0] < 1e-20
    pair = lr[(lr["group_a"] == "basic") & (lr["group_b"] == "plus")].iloc[0]
    a, b = subs[subs["plan"] == "basic"], subs[subs["plan"] == "plus"]
    ref = logrank_test(a["duration_days"], b["duration_days"], a["event"], b["event"])
    assert pair["test_statistic"] == pytest.approx(ref.test_statistic)
    assert (lr["p_value_holm"] >= lr["p_value"]).all()
    # a random split of the same customers: no difference
    rnd = subs.assign(group=np.random.default_rng(3).integers(0, 2, len(subs)))
    assert logrank_tests(rnd).loc[0, "p_value"] > 0.01


def test_covariates_without_promotion_codes():
    # promo_code is optional in the data model: without it there is no first_order_promo column
    at = pd.Timestamp("2025-01-01", tz="UTC")
    customers = pd.DataFrame({"customer_id": ["b", "a"], "acquisition_channel": ["email", "social"],
                              "region": ["north", "south"], "age": [30, 50]})
    orders = pd.DataFrame({"order_id": ["o1", "o2"], "customer_id": ["a", "a"], "ordered_at": [at, at],
                           "amount": [10.0, 5.0], "status": ["completed", "completed"]})
    cov = customer_covariates({"customers": customers, "orders": orders}, "2026-01-01")
    assert list(cov.columns) == ["customer_id", "age", "region", "acquisition_channel"]
    assert cov["customer_id"].tolist() == ["a", "b"]
    with_promo = orders.assign(promo_code=["SPRING", None])
    cov = customer_covariates({"customers": customers, "orders": with_promo}, "2026-01-01")
    assert cov["first_order_promo"].tolist() == [True, False]  # a's first orders tie: a promo wins


def test_bad_input(subs):
    with pytest.raises(CRMError, match="reference level"):
        CoxModel(["plan"], categorical={"plan": "gold"}).fit(subs)
    with pytest.raises(CRMError, match="covariate"):
        CoxModel(["tenure"]).fit(subs)
    with pytest.raises(CRMError, match="not fitted"):
        CoxModel(["age"]).summary()


def test_cox_with_holdout_is_the_two_fits_it_describes(subs, cox):
    from crm_research.churn import cox_with_holdout

    model, table, fit = cox_with_holdout(subs, seed=1, **COVARIATES)
    train, test = split_by_customer(subs, test_share=0.3, seed=1)
    assert fit["held_out_concordance"] == CoxModel(**COVARIATES).fit(train).concordance(test)
    assert fit["subjects"] == len(subs) and fit["events"] == int(subs["event"].sum())
    assert table["hazard_ratio"].tolist() == cox.summary()["hazard_ratio"].tolist()
    assert {"ph_statistic", "ph_p_value"} <= set(table.columns)
    assert table["covariate"].tolist() == model.summary()["covariate"].tolist()


def test_covariate_label_in_plain_words():
    from crm_research.churn.survival import covariate_label

    cat = {"acquisition_channel": "display", "plan": "basic"}
    names = {"acquisition_channel": "Acquisition channel", "age": "Age"}
    col = lambda c: names.get(c, c)  # noqa: E731
    assert covariate_label("acquisition_channel_paid_search", cat, column=col) == \
        "Acquisition channel: Paid search (against Display)"
    assert covariate_label("plan_premium", cat, level=lambda c, v: v.upper()) == "Plan: PREMIUM (against BASIC)"
    assert covariate_label("plan_plus", cat, reference=False) == "Plan: Plus"
    assert covariate_label("age_per_10", cat, {"age": 10}, column=col) == "Age, per 10"
    assert covariate_label("first_order_promo", cat) == "First order promo"


def test_a_fact_all_training_subjects_share_is_left_out_of_the_held_out_model(subs):
    # 300 contacts give 33 subscriptions: the training part can hold no promotion buyer at all
    from crm_research.churn import cox_with_holdout

    covariates = {"covariates": ["plan", "promo"], "categorical": {"plan": "basic"}}
    train, test = split_by_customer(subs, test_share=0.3, seed=1)
    df = subs.assign(promo=~subs["customer_id"].isin(train["customer_id"]))  # only held-out subjects vary
    with pytest.raises(CRMError, match="constant"):
        CoxModel(**covariates).fit(df[df["customer_id"].isin(train["customer_id"])])
    model, table, fit = cox_with_holdout(df, seed=1, **covariates)
    only_plan = CoxModel(["plan"], categorical={"plan": "basic"}).fit(df[df["customer_id"].isin(train["customer_id"])])
    assert fit["held_out_concordance"] == only_plan.concordance(df[df["customer_id"].isin(test["customer_id"])])
    assert "promo" in table["covariate"].tolist()  # the model on everyone keeps it: it varies there
