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
    BetaGeoBetaBinomModel,
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
    discrete_summary,
    hit_rate_table,
    kaplan_meier,
    km_summary,
    logrank_tests,
    noncontractual_churn,
    occasion_pattern,
    occasion_scores,
    project_subscriptions,
    purchase_days_by_date,
    rfm_risk,
    rfm_summary,
    sbg_holdout,
    subscription_histories,
)
from crm_research.needs import churn as churn_needs
from crm_research.run.params import notebook_parameters
from partial_data import read_company

AS_OF = "2026-01-01"
DAY = pd.Timedelta(days=1)
SECTIONS = ("lost", "rfm_risk", "survival", "cox", "subscriptions", "renewals", "classifier", "value", "occasions",
            "at_risk")
NOT_OCCASIONS = {"occasions"}
"""The synthetic company's shop is open every day: the model of fixed occasions never applies to it."""


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
        outcome = churn_labels(crm.orders, risk_then, cut, horizon_days)
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
    if verdicts["renewals"]:
        no_sub_value = verdicts["renewals"].fell_back("no_value")
        plan = "plan" if crm.has("subscriptions", "plan") else None
        histories = subscription_histories(crm.subscriptions, cut, period="M", group_col=plan,
                                           keep=() if no_sub_value else ("mrr",))
        out["renewals"], _ = project_subscriptions(histories, group_col=plan, horizon=12, discount_rate=0.008,
                                                   value_col=None if no_sub_value else "mrr")
        sbg_holdout(histories, max(2, int(histories["periods"].max()) // 2), weights_col=None)
    if verdicts["classifier"]:
        recipe = dict(horizon_days=horizon_days, model="logistic", seed=0)
        tested = ChurnClassifier(**recipe).fit(tables, check_date)
        scored = tested.evaluate(tables, cut)
        out["auc"] = float(classification_metrics(scored["churned"], scored["p_churn"])["roc_auc"].iloc[0])
        # today's model: the same recipe one horizon later (its calls are those above)
        risk = tested.predict(tables, cut) if quick else ChurnClassifier(**recipe).fit(
            tables, cut).predict(tables, cut)
    if verdicts["value"]:
        no_value = verdicts["value"].fell_back("no_value")
        summary = rfm_summary(crm.orders, cut, value_col=None if no_value else "amount")
        candidates = [BetaGeoModel().fit(summary), ParetoNBDModel().fit(summary)]
        transactions = max(candidates, key=lambda m: m.log_likelihood_)
        spend = None if no_value else GammaGammaModel().fit(summary)
        if not verdicts["value"].fell_back("no_holdout_check"):
            holdout = calibration_holdout_summary(crm.orders, check_date, cut, value_col=None)
            type(transactions)().fit(holdout).expected_purchases(holdout, float(holdout["duration_holdout"].iloc[0]))
        value = customer_value(summary, transactions, spend, horizon=12, period=365.25 / 12, discount_rate=0.008)
        assert np.isfinite(value.drop(columns="customer_id").to_numpy(dtype=float)).all()
        out["value"] = value
    if verdicts["occasions"]:
        pattern = occasion_pattern(purchase_days_by_date(crm.orders, cut))
        occasions = discrete_summary(crm.orders, cut, period=pattern["period"])
        out["occasions"] = occasion_scores(occasions, BetaGeoBetaBinomModel().fit(occasions), 5, 0.1)
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
    "nothing": (NOT_OCCASIONS, set()),
    "customers": (NOT_OCCASIONS, {"survival:pooled"}),
    "order_items": (NOT_OCCASIONS, set()),
    "events": (NOT_OCCASIONS, set()),
    "campaigns": (NOT_OCCASIONS, set()),
    "ad_spend": (NOT_OCCASIONS, set()),
    "tickets": (NOT_OCCASIONS, set()),
    "surveys": (NOT_OCCASIONS, set()),
    "subscriptions": ({"subscriptions", "renewals"} | NOT_OCCASIONS, set()),
    "orders.amount": (NOT_OCCASIONS, {"value:no_value", "at_risk:risk_only"}),
    "orders.status": (NOT_OCCASIONS, set()),
    "orders.promo_code": (NOT_OCCASIONS, set()),
    "customers.acquisition_channel": (NOT_OCCASIONS, {"survival:pooled"}),
    "customers.age": (NOT_OCCASIONS, set()),
    "subscriptions.ended_at": ({"subscriptions", "renewals"} | NOT_OCCASIONS, set()),
    "subscriptions.plan": ({"subscriptions"} | NOT_OCCASIONS, set()),
    "subscriptions.mrr": ({"subscriptions"} | NOT_OCCASIONS, {"renewals:no_value"}),
    "tickets.csat": (NOT_OCCASIONS, set()),
    "tickets.resolved_at": (NOT_OCCASIONS, set()),
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
    "subscriptions": {"lost", "subscriptions", "renewals", "classifier"},
    "orders.amount": {"lost", "rfm_risk", "classifier", "value", "at_risk"},
    "orders.status": set(SECTIONS),
    "orders.promo_code": {"survival", "cox", "classifier"},
    "customers.acquisition_channel": {"survival", "cox"},
    "customers.age": {"cox", "classifier"},
    "subscriptions.ended_at": {"lost", "renewals", "classifier"},
    "subscriptions.plan": {"lost", "renewals", "classifier"},
    "subscriptions.mrr": {"lost", "renewals", "classifier"},
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
    assert {k: x.status for k, x in v.items()} == {**dict.fromkeys(SECTIONS, "ok"), "occasions": "skip"}
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
                {"rfm_risk", "cox", "subscriptions", "renewals", "classifier", "value", "occasions", "at_risk"},
                {"survival:pooled"}),
    "one_order_each": (_one_order_each, {"rfm_risk", "cox", "classifier", "value", "occasions", "at_risk"}, set()),
    "single_segment": (_single_segment, NOT_OCCASIONS, {"survival:pooled"}),  # only the segment differs
    "three_months": (lambda f: _window(f, "2025-10-01", "2026-01-01"),
                     {"rfm_risk", "cox", "subscriptions", "renewals", "classifier", "occasions", "at_risk"},
                {"value:no_holdout_check"}),
    "one_day": (lambda f: _window(f, "2025-12-30", "2025-12-31"),
                {"rfm_risk", "cox", "subscriptions", "renewals", "classifier", "value", "occasions", "at_risk"},
                {"survival:pooled"}),
    "orders_only": (_orders_only, {"cox", "subscriptions", "renewals", "occasions"}, {"survival:pooled"}),
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
    only = {"survival", "cox", "subscriptions", "renewals"} if case == "single_segment" else SECTIONS
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
    for name in ("churn_after_days", "horizon_days", "segment_column", "renewal_period"):
        assert needs.DEFAULTS[name] == params[name].default


def _yearly_appeal(n: int = 400, years: int = 6, seed: int = 3) -> dict:
    """Donors who can give only on one day a year (15 November), as in Fader, Hardie & Shang (2010):
    each gives at an appeal with their own probability and may lapse for good before each one."""
    rng = np.random.default_rng(seed)
    p, theta = rng.beta(1.2, 0.75, n), rng.beta(0.66, 2.8, n)
    rows = []
    for i in range(n):
        rows.append((f"D{i:04d}", "2019-11-15T10:00:00Z"))
        for y in range(1, years + 1):
            if rng.random() < theta[i]:
                break
            if rng.random() < p[i]:
                rows.append((f"D{i:04d}", f"{2019 + y}-11-15T10:00:00Z"))
    orders = pd.DataFrame(rows, columns=["customer_id", "ordered_at"]).assign(amount=25.0)
    return {"orders": orders}


def test_purchases_on_fixed_occasions_run_the_occasion_model_and_nothing_else_changes(company):
    """A yearly appeal switches the BG/BB section on; a shop open every day (every test above) does not."""
    crm = data.load(_yearly_appeal(), as_of="2026-01-01")
    v = {x.section.key: x for x in needs.verdicts(crm, "2026-01-01", "05")}
    assert v["occasions"].status == "ok" and v["occasions"].measured["occasion_share"] == 100.0
    assert occasion_pattern(purchase_days_by_date(crm.orders, "2026-01-01"))["period"] == "Y"
    summary = discrete_summary(crm.orders, "2026-01-01", period="Y")
    assert summary["periods"].eq(6).all() and len(summary) == 400
    model = BetaGeoBetaBinomModel().fit(summary)
    # the planted gamma/(gamma+delta) = 0.19 lapse rate per year, within its sampling error on 400 donors
    assert 0.1 < model.params_["gamma"] / (model.params_["gamma"] + model.params_["delta"]) < 0.3
    # the everyday shop of the other tests has a few percent of its purchase days on its busiest days
    assert verdicts_of(load(company))["occasions"].measured["occasion_share"] < 30
