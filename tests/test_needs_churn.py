"""Notebook 05's declared needs on partial and degenerate companies, and its package calls on them.

For each company the verdicts (skip / fallback / ok) are compared with a table written by hand,
and the package functions of every section that is not skipped are called as the notebook calls
them: none may raise.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from crm_research import data, needs, paths
from crm_research.churn import (
    BetaGeoModel,
    ChurnClassifier,
    GammaGammaModel,
    ParetoNBDModel,
    at_risk_list,
    calibration_holdout_summary,
    churn_labels,
    classification_metrics,
    contractual_churn,
    cox_with_holdout,
    customer_covariates,
    customer_value,
    hit_rate_table,
    kaplan_meier,
    km_summary,
    logrank_tests,
    noncontractual_churn,
    rfm_risk,
    rfm_summary,
)
from crm_research.needs import churn as churn_needs
from crm_research.run.params import notebook_parameters
from partial_data import read_company

AS_OF = "2026-01-01"
DAY = pd.Timedelta(days=1)
SECTIONS = ("lost", "rfm_risk", "survival", "cox", "subscriptions", "classifier", "value", "at_risk")


# ---------------------------------------------------------------------------------------
# the notebook's package calls, section by section (the notebook's cells, without display)
# ---------------------------------------------------------------------------------------


NEEDS_FIRST = {"survival": {"lost"}, "cox": {"survival"}, "subscriptions": {"survival"},
               "at_risk": {"classifier", "value"}}
"""The sections whose results a section uses (the notebook runs them first)."""


def run_notebook_calls(crm, verdicts: dict, only=SECTIONS, quick: bool = False, horizon_days: int = 90, churn_after_days: int = 180,
                       segment_column: str = "acquisition_channel") -> dict:
    """Call the package functions of every section that is not skipped; return some results.

    ``only`` limits the calls to those sections (and the sections whose results they use);
    ``quick`` scores today's customers with the model of the out-of-time check instead of
    fitting the same recipe a second time.
    """
    only = set(only)
    while any(NEEDS_FIRST.get(k, set()) - only for k in only):
        only |= set().union(*(NEEDS_FIRST.get(k, set()) for k in only))
    verdicts = {k: (v if k in only else False) for k, v in verdicts.items()}
    tables = crm.tables()
    cut = pd.Timestamp(AS_OF, tz="UTC")
    check_date = cut - horizon_days * DAY
    out = {}
    if verdicts["lost"]:
        lost = noncontractual_churn(crm.orders, cut, churn_after_days)
        if crm.has("subscriptions", "ended_at") and len(crm.subscriptions) > 0:
            contractual_churn(crm.subscriptions, cut)
        out["lost"] = lost
    if verdicts["rfm_risk"]:
        risk_then = rfm_risk(crm.orders, check_date)
        outcome = churn_labels(crm.orders, risk_then, check_date, horizon_days, data_end=cut)
        out["rfm_hits"] = hit_rate_table(risk_then, outcome)
        out["risk_now"] = rfm_risk(crm.orders, cut)
    if verdicts["survival"]:
        pooled = verdicts["survival"].fell_back("pooled")
        group = None if pooled else segment_column
        customers = lost.merge(customer_covariates(tables, cut), on="customer_id", how="left")
        grid = np.arange(0, customers["duration_days"].max() + 30, 30)
        out["km"] = kaplan_meier(customers, group_col=group, times=grid)
        km_summary(customers, group_col=group, at=(270, 365, 540))
        if not pooled:
            out["logrank"] = logrank_tests(customers, group_col=segment_column)
        present = [c for c in ("age", "first_order_promo") if c in customers and customers[c].nunique() > 1]
    if verdicts["cox"]:
        if pooled:
            cox, _, _ = cox_with_holdout(customers, present, {}, per={"age": 10})
        else:
            ref = str(customers[segment_column].value_counts().idxmax())
            cox, _, _ = cox_with_holdout(customers, [segment_column, *present], {segment_column: ref}, per={"age": 10})
        active = customers[customers["event"] == 0].head(50)
        out["active_days"] = cox.expected_remaining_lifetime(active, horizon_days=365)
    if verdicts["subscriptions"]:
        subs = contractual_churn(crm.subscriptions, cut).merge(customer_covariates(tables, cut), on="customer_id",
                                                                how="left")
        km_summary(subs, group_col="plan")
        logrank_tests(subs, group_col="plan")
        cheapest = str(subs.groupby("plan")["mrr"].mean().idxmin())
        cox_with_holdout(subs, ["plan", *present], {"plan": cheapest}, per={"age": 10})
    if verdicts["classifier"]:
        recipe = dict(horizon_days=horizon_days, model="logistic", seed=0)
        tested = ChurnClassifier(**recipe).fit(tables, check_date - horizon_days * DAY, data_end=cut)
        scored = tested.evaluate(tables, check_date, data_end=cut)
        out["auc"] = float(classification_metrics(scored["churned"], scored["p_churn"])["roc_auc"].iloc[0])
        # today's model: the same recipe one horizon later (its calls are those above)
        risk = tested.predict(tables, cut) if quick else ChurnClassifier(**recipe).fit(
            tables, check_date, data_end=cut).predict(tables, cut)
    if verdicts["value"]:
        no_value = verdicts["value"].fell_back("no_value")
        summary = rfm_summary(crm.orders, value_col=None if no_value else "amount", observation_end=cut - DAY)
        candidates = [BetaGeoModel().fit(summary), ParetoNBDModel().fit(summary)]
        transactions = max(candidates, key=lambda m: m.log_likelihood_)
        spend = None if no_value else GammaGammaModel().fit(summary)
        if not verdicts["value"].fell_back("no_holdout_check"):
            holdout = calibration_holdout_summary(crm.orders, value_col=None, calibration_end=check_date - DAY,
                                                  observation_end=cut - DAY)
            type(transactions)().fit(holdout).expected_purchases(holdout, float(holdout["duration_holdout"].iloc[0]))
        value = customer_value(summary, transactions, spend, horizon=12, period=365.25 / 12, discount_rate=0.008)
        assert np.isfinite(value.drop(columns="customer_id").to_numpy(dtype=float)).all()
        out["value"] = value
    if verdicts["at_risk"]:
        risk_only = verdicts["at_risk"].fell_back("risk_only")
        scores = risk.merge(value, on="customer_id", how="inner")
        out["at_risk"] = at_risk_list(scores, value_col=None if risk_only else "clv")
    return out


def verdicts_of(crm, **params) -> dict:
    return {v.section.key: v for v in needs.verdicts(crm, AS_OF, "05", **params)}


def skipped(v: dict) -> set:
    return {k for k, x in v.items() if x.status == "skip"}


def fell_back(v: dict) -> set:
    return {f"{k}:{name}" for k, x in v.items() for name in x.fallbacks}


# ---------------------------------------------------------------------------------------
# the synthetic company, whole and with a table or a column removed
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def company(tmp_path_factory) -> dict[str, pd.DataFrame]:
    """A synthetic company of 800 contacts (287 buyers): every section of 05 runs on it."""
    from crm_research import synthetic

    return read_company(synthetic.write(tmp_path_factory.mktemp("company") / "c800", n_customers=800, seed=7))


@pytest.fixture(scope="module")
def full(company) -> data.CRMData:
    return load(company)


def load(frames: dict) -> data.CRMData:
    if "orders" in frames and "amount" not in frames["orders"].columns:
        # orders from an event log, without amounts: the loader requires amounts in an orders file
        crm = data.load({**frames, "orders": frames["orders"].assign(amount=0.0)}, as_of=AS_OF)
        return dataclasses.replace(crm, orders=crm.orders.drop(columns="amount"))
    return data.load(frames, as_of=AS_OF)


# section skipped / fallback taken, by hand: what each removal switches off in notebook 05
EXPECTED = {
    # removed:                      (skipped sections, fallbacks)
    "nothing": (set(), set()),
    "customers": (set(), {"survival:pooled"}),
    "order_items": (set(), set()),
    "events": (set(), set()),
    "campaigns": (set(), set()),
    "ad_spend": (set(), set()),
    "tickets": (set(), set()),
    "surveys": (set(), set()),
    "subscriptions": ({"subscriptions"}, set()),
    "orders.amount": (set(), {"value:no_value", "at_risk:risk_only"}),
    "orders.status": (set(), set()),
    "orders.promo_code": (set(), set()),
    "customers.acquisition_channel": (set(), {"survival:pooled"}),
    "customers.age": (set(), set()),
    "subscriptions.ended_at": ({"subscriptions"}, set()),
    "subscriptions.plan": ({"subscriptions"}, set()),
    "subscriptions.mrr": ({"subscriptions"}, set()),
    "tickets.csat": (set(), set()),
    "tickets.resolved_at": (set(), set()),
}


def _without(frames: dict, removed: str) -> dict:
    frames = dict(frames)
    if removed == "nothing":
        return frames
    if "." in removed:
        table, column = removed.split(".")
        frames[table] = frames[table].drop(columns=column)
    else:
        frames.pop(removed)
    return frames


# which sections read what was removed: only their calls can change, so only they are rerun
AFFECTS = {
    "customers": {"survival", "cox", "subscriptions", "classifier"},
    "events": {"classifier"}, "tickets": {"classifier"}, "surveys": {"classifier"},
    "subscriptions": {"lost", "subscriptions", "classifier"},
    "orders.amount": {"lost", "rfm_risk", "classifier", "value", "at_risk"},
    "orders.status": set(SECTIONS),
    "orders.promo_code": {"survival", "cox", "classifier"},
    "customers.acquisition_channel": {"survival", "cox"},
    "customers.age": {"cox", "classifier"},
    "subscriptions.ended_at": {"lost", "classifier"},
    "subscriptions.plan": {"lost", "classifier"},
    "subscriptions.mrr": {"lost", "classifier"},
    "tickets.csat": {"classifier"}, "tickets.resolved_at": {"classifier"},
}


@pytest.mark.parametrize("removed", [r for r in EXPECTED if r != "nothing"])
def test_each_removal_switches_off_exactly_what_needs_it(company, removed):
    crm = load(_without(company, removed))
    v = verdicts_of(crm)
    assert (skipped(v), fell_back(v)) == EXPECTED[removed]
    for key in skipped(v) | {k for k, x in v.items() if x.status == "fallback"}:
        assert v[key].reason and v[key].note
    out = run_notebook_calls(crm, v, only=AFFECTS.get(removed, ()), quick=True)
    if removed == "orders.amount":
        assert "clv" not in out["value"] and "value_at_risk" not in out["at_risk"]
        assert out["at_risk"]["rank_risk"].tolist() == list(range(1, len(out["at_risk"]) + 1))
        assert out["lost"]["revenue"].isna().all()


def test_the_whole_company_gives_sensible_figures(full):
    crm = full
    v = verdicts_of(crm)
    assert (skipped(v), fell_back(v)) == EXPECTED["nothing"]
    assert {k: x.status for k, x in v.items()} == dict.fromkeys(SECTIONS, "ok")
    out = run_notebook_calls(crm, v)
    assert 0.6 < out["auc"] < 1.0
    lost = out["lost"]
    # the fact that gates the Cox model counts what noncontractual_churn calls lost
    assert v["cox"].measured["lost_repeat_buyers"] == ((lost["event"] == 1) & (lost["n_purchase_days"] >= 2)).sum()
    assert v["value"].measured["repeat_day_buyers"] == (lost["n_purchase_days"] >= 2).sum()


# ---------------------------------------------------------------------------------------
# tiny and degenerate companies
# ---------------------------------------------------------------------------------------


def _first(frames, n):
    keep = set(frames["orders"]["customer_id"].drop_duplicates().head(n))
    out = {k: (f[f["customer_id"].isin(keep)] if "customer_id" in f.columns else f) for k, f in frames.items()}
    out["order_items"] = out["order_items"][out["order_items"]["order_id"].isin(out["orders"]["order_id"])]
    out["events"] = out["events"].drop(columns="order_id")
    return out


def _one_order_each(frames):
    out = dict(frames)
    out["orders"] = frames["orders"].sort_values(["customer_id", "ordered_at"], kind="stable").drop_duplicates(
        "customer_id")
    out["order_items"] = frames["order_items"][frames["order_items"]["order_id"].isin(out["orders"]["order_id"])]
    out["events"] = frames["events"].drop(columns="order_id")
    return out


def _single_segment(frames):
    out = dict(frames)
    out["customers"] = frames["customers"].assign(region="north", acquisition_channel="search")
    return out


def _window(frames, start, end):
    lo, hi = pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC")
    time_col = {"orders": "ordered_at", "events": "occurred_at", "ad_spend": "date",
                "tickets": "opened_at", "surveys": "answered_at", "subscriptions": "started_at"}
    out = {}
    for name, f in frames.items():
        t = pd.to_datetime(f[time_col[name]], utc=True) if name in time_col else None
        out[name] = f if t is None else f[(t >= lo) & (t < hi)]
    keep = set(out["orders"]["customer_id"])
    out = {k: (f[f["customer_id"].isin(keep)] if "customer_id" in f.columns else f) for k, f in out.items()}
    out["order_items"] = out["order_items"][out["order_items"]["order_id"].isin(out["orders"]["order_id"])]
    out["events"] = out["events"].drop(columns="order_id")
    return out


def _orders_only(frames):
    o = frames["orders"]
    return {"orders": o[o["status"] == "completed"][["customer_id", "ordered_at", "amount"]]}


DEGENERATE = {
    # case: (builder, skipped sections, fallbacks)
    "tiny_10": (lambda f: _first(f, 10),
                {"rfm_risk", "cox", "subscriptions", "classifier", "value", "at_risk"}, {"survival:pooled"}),
    "one_order_each": (_one_order_each, {"rfm_risk", "cox", "classifier", "value", "at_risk"}, set()),
    "single_segment": (_single_segment, set(), {"survival:pooled"}),  # only the segment differs
    "three_months": (lambda f: _window(f, "2025-10-01", "2026-01-01"),
                     {"rfm_risk", "cox", "subscriptions", "classifier", "at_risk"}, {"value:no_holdout_check"}),
    "one_day": (lambda f: _window(f, "2025-12-30", "2025-12-31"),
                {"rfm_risk", "cox", "subscriptions", "classifier", "value", "at_risk"}, {"survival:pooled"}),
    "orders_only": (_orders_only, {"cox", "subscriptions"}, {"survival:pooled"}),
}


@pytest.mark.parametrize("case", list(DEGENERATE))
def test_tiny_and_degenerate_companies_skip_with_a_reason_and_the_rest_runs(company, case):
    build, skip, fallback = DEGENERATE[case]
    crm = load(build(company))
    v = verdicts_of(crm)
    assert (skipped(v), fell_back(v)) == (skip, fallback)
    for key in skip | {k.split(":")[0] for k in fallback}:
        assert v[key].reason.startswith("needs ") or " because it needs " in v[key].reason
        assert v[key].note
    # a single segment changes only what reads the segment: the other calls are the whole company's
    only = {"survival", "cox", "subscriptions"} if case == "single_segment" else SECTIONS
    run_notebook_calls(crm, v, only=only, quick=True)


def test_a_pooled_survival_says_why_and_a_segment_parameter_moves_it(company, full):
    crm = load(_single_segment(company))
    v = verdicts_of(crm)
    assert v["survival"].reason == (
        "survival of all customers together, not by segment, because it needs at least 2 groups of "
        f"`acquisition_channel` (customers table) with {churn_needs.MIN_GROUP} or more customers each "
        "(this data has 1).")
    # the region column still has its groups: the segment parameter is read by the fact
    assert verdicts_of(crm, segment_column="region")["survival"].status == "fallback"
    assert verdicts_of(full, segment_column="region")["survival"].status == "ok"


@pytest.mark.parametrize("horizon", [30, 90])
def test_the_classifier_windows_count_what_pandas_counts(company, full, horizon):
    measured = verdicts_of(full, horizon_days=horizon)["classifier"].measured
    o = company["orders"][company["orders"]["status"] == "completed"]
    cut = pd.Timestamp(AS_OF, tz="UTC")
    for name, horizons in (("train", 2), ("check", 1)):
        at = cut - horizons * horizon * DAY
        active = set(o.loc[(o["ordered_at"] >= at - 365 * DAY) & (o["ordered_at"] < at), "customer_id"])
        bought = set(o.loc[(o["ordered_at"] >= at) & (o["ordered_at"] < at + horizon * DAY), "customer_id"])
        assert (measured[f"{name}_churners"], measured[f"{name}_buyers"]) == (len(active - bought), len(active & bought))


def test_a_long_horizon_leaves_too_little_history(full):
    v = verdicts_of(full, horizon_days=400)
    assert v["classifier"].status == "skip" and v["rfm_risk"].status == "skip"
    assert v["classifier"].reason == ("needs an order history of at least 2 prediction horizons of 400 days "
                                      f"(this data has {v['classifier'].measured['history_horizons']:,.1f}).")


def test_defaults_equal_the_notebook_parameters():
    params = notebook_parameters(paths.project_root() / "notebooks" / "05_churn.ipynb")
    for name in ("churn_after_days", "horizon_days", "segment_column"):
        assert needs.DEFAULTS[name] == params[name].default
