"""Marketing mix model (``crm_research.mmm``): planted adstock, saturation and ROAS recovered.

Part 1 fits a purely simulated weekly series whose truth is known exactly (geometric adstock,
Hill saturation, Poisson noise around baseline + trend + season + media); part 2 builds the
weekly table from data-model tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

from crm_research import mmm
from crm_research.errors import CRMError

THETA = np.array([0.2, 0.5, 0.6, 0.1, 0.3, 0.4])  # carry-over per week
HALF = np.array([800.0, 1500.0, 1000.0, 300.0, 500.0, 700.0])  # currency per week
SHAPE = np.array([1.0, 1.5, 2.0, 1.2, 1.0, 1.8])
BETA = np.array([160.0, 240.0, 100.0, 60.0, 80.0, 120.0])  # max weekly effect (customers)


def simulate(seed: int, n: int = 156, C: int = 6):
    """Three years of weekly flighted spend on ``C`` channels and a Poisson outcome."""
    rng = np.random.default_rng(seed)
    X = np.zeros((n, C))
    for j in range(C):
        state, left = bool(rng.random() < 0.5), 0
        for t in range(n):
            if left == 0:
                state, left = not state, int(rng.integers(3, 10))
            X[t, j] = HALF[j] * (rng.uniform(0.5, 2.0) if state else rng.uniform(0.0, 0.15))
            left -= 1
    t = np.arange(n)
    base = 200 + 0.2 * t + 30 * np.sin(2 * np.pi * t / 52.18)
    A = mmm.geometric_adstock(X, THETA[:C], 8)
    H = np.column_stack([mmm.hill(A[:, j], HALF[j], SHAPE[j]) for j in range(C)])
    y = rng.poisson(base + (H * BETA[:C]).sum(axis=1)).astype(float)
    w = pd.DataFrame({"week": pd.date_range("2023-01-02", periods=n, freq="7D", tz="UTC"), "new_customers": y})
    for j in range(C):
        w[f"spend_ch{j}"] = X[:, j]
    return w, (H * BETA[:C]).sum(axis=0) / X.sum(axis=0)


def true_response(weekly_spend: np.ndarray) -> np.ndarray:
    return np.array([BETA[j] * mmm.hill(weekly_spend[j], HALF[j], SHAPE[j]) for j in range(len(weekly_spend))])


@pytest.fixture(scope="module")
def fits():
    out = {}
    for seed in (1, 2):
        w, roas = simulate(seed)
        out[seed] = (w, roas, mmm.MarketingMixModel(n_bootstrap=60, seed=3).fit(w, controls=[]))
    return out


def test_transforms():
    x = np.full(20, 100.0)
    assert mmm.geometric_adstock(x, 0.7, 8)[10:] == pytest.approx(100.0)  # normalised: steady state kept
    a = mmm.geometric_adstock(np.r_[100.0, np.zeros(9)], 0.5, 3)
    assert a[:5] == pytest.approx(100 * np.array([1, 0.5, 0.25, 0.125, 0]) / 1.875)
    assert mmm.hill(300.0, 300.0, 2.3) == pytest.approx(0.5)
    assert mmm.logistic_saturation(0.0, 1.0) == 0.0


def test_planted_roas_recovered(fits):
    # measured relative ROAS errors (%): seed 1 [-3 -12 -4 37 22 6], seed 2 [-13 -2 26 6 -5 5];
    # over seeds 1-6 the mean absolute error is 6-18 %, the worst channel 58 % (ch3: the smallest
    # spend and effect, about 4 % of the outcome)
    for seed, (_, roas, m) in fits.items():
        s = m.summary
        err = s["roas"].to_numpy() / roas - 1
        assert np.abs(err).max() < 0.45, (seed, err)
        assert np.abs(err).mean() < 0.16, (seed, err)
        inside = ((s["roas_low"] <= roas) & (roas <= s["roas_high"])).sum()
        assert inside >= 4, (seed, inside)
        assert m.holdout_mape_ < 0.08 and m.r2_ > 0.8
        assert m.warnings_ == []
        # the decomposition adds up to the fitted outcome
        d = m.contributions_
        parts = d.drop(columns=["week", "actual", "fitted"]).sum(axis=1)
        assert parts.to_numpy() == pytest.approx(d["fitted"].to_numpy())
        assert d[[f"ch{j}" for j in range(6)]].sum().to_numpy() == pytest.approx(s["contribution"].to_numpy())


def test_same_data_same_numbers(fits):
    w, _, m = fits[1]
    again = mmm.MarketingMixModel(n_bootstrap=60, seed=3).fit(w, controls=[])
    pd.testing.assert_frame_equal(m.summary, again.summary, check_exact=True)
    pd.testing.assert_frame_equal(m.optimise_budget(), again.optimise_budget(), check_exact=True)
    other = mmm.MarketingMixModel(n_bootstrap=60, seed=4).fit(w, controls=[])
    assert (other.summary["roas_low"] != m.summary["roas_low"]).any()  # the seed moves only the ranges
    assert other.summary["roas"].tolist() == m.summary["roas"].tolist()


def test_optimiser_beats_the_current_split_on_the_planted_curves(fits):
    for _, (_, _, m) in fits.items():
        plan = m.optimise_budget(weeks=13)
        ch = plan[plan.channel != "total"]
        assert ch["recommended_spend"].sum() == pytest.approx(ch["current_spend"].sum())
        assert (ch["recommended_spend"] >= 0.5 * ch["current_spend"] - 1e-6).all()
        assert (ch["recommended_spend"] <= 1.5 * ch["current_spend"] + 1e-6).all()
        cur, rec = ch["current_spend"].to_numpy() / 13, ch["recommended_spend"].to_numpy() / 13
        best = optimize.minimize(lambda x: -true_response(x).sum(), cur, method="SLSQP",
                                 bounds=list(zip(0.5 * cur, 1.5 * cur, strict=True)),
                                 constraints=({"type": "eq", "fun": lambda x, c=cur: x.sum() - c.sum()},))
        achievable = -best.fun - true_response(cur).sum()
        # measured: the recommended split earns 81 % (seed 1) and 51 % (seed 2) of the best true gain
        assert true_response(rec).sum() - true_response(cur).sum() > 0.4 * achievable > 0
        total = plan.iloc[-1]
        assert total["gain"] > 0 and total["gain_low"] < total["gain"] < total["gain_high"]


def test_response_curves(fits):
    _, _, m = fits[1]
    rc = m.response_curves(n_points=11)
    assert len(rc) == 66 and rc.groupby("channel")["current"].sum().eq(1).all()
    one = rc[rc.channel == "ch1"]
    assert np.all(np.diff(one["response"]) >= 0) and one["response"].iloc[0] == 0
    assert (one["response_low"] <= one["response"] + 1e-9).all() and (one["response"] <= one["response_high"] + 1e-9).all()


def test_delayed_adstock_recovers_a_delayed_peak():
    """Effects that peak weeks after the spend: the delayed adstock finds the delays (planted
    2, 1, 3, 0, 2, 1 weeks; measured within 0.5 on three seeds) and the ROAS (errors 3-24 %,
    seed 11: [13 -5 3 -11 24 17] %), where the geometric one misses by up to 81 %."""
    delay = np.array([2.0, 1.0, 3.0, 0.0, 2.0, 1.0])
    w, _ = simulate(11)
    X = w[[f"spend_ch{j}" for j in range(6)]].to_numpy()
    t = np.arange(len(w))
    A = mmm.geometric_adstock(X, THETA, 8, delay)
    H = np.column_stack([mmm.hill(A[:, j], HALF[j], SHAPE[j]) for j in range(6)])
    w["new_customers"] = np.random.default_rng(11).poisson(
        200 + 0.2 * t + 30 * np.sin(2 * np.pi * t / 52.18) + (H * BETA).sum(axis=1)).astype(float)
    roas = (H * BETA).sum(axis=0) / X.sum(axis=0)
    m = mmm.MarketingMixModel(adstock="delayed", n_bootstrap=0).fit(w, controls=[])
    assert np.abs(m.params_["delay"].to_numpy() - delay).max() < 0.6
    err = m.summary["roas"].to_numpy() / roas - 1
    assert np.abs(err).max() < 0.35, err
    geometric = mmm.MarketingMixModel(n_bootstrap=0).fit(w, controls=[])
    assert np.abs(geometric.summary["roas"].to_numpy() / roas - 1).max() > 0.5
    assert "delay" not in geometric.params_ and "adstock='delayed'" in repr(m)


def unidentifiable() -> pd.DataFrame:
    """A simulated series with a channel whose spend never varies (``flat``) and one whose spend
    follows ``ch0`` (``twin``): neither can be told apart."""
    w, _ = simulate(5, C=3)
    w["spend_flat"] = 500.0
    rng = np.random.default_rng(0)
    w["spend_twin"] = w["spend_ch0"] * 1.1 + rng.uniform(0, 20, len(w))
    return w


def test_identifiability_warnings():
    w = unidentifiable()
    m = mmm.MarketingMixModel(n_bootstrap=0).fit(w, controls=[])
    text = " ".join(m.warnings_)
    assert "Spend on flat hardly varies" in text
    assert "Spend on ch0 and twin moves together" in text
    short = mmm.MarketingMixModel(n_bootstrap=0, holdout_weeks=0).fit(w.iloc[:45], controls=[])
    assert any(x.startswith("Only 45 weeks") for x in short.warnings_)


def test_errors_name_table_and_column():
    w, _ = simulate(1, n=60, C=2)
    with pytest.raises(CRMError, match="has 30 weeks; the marketing mix model needs at least 40"):
        mmm.MarketingMixModel().fit(w.iloc[:30], controls=[])
    w2 = w.assign(spend_ch1=0.0)
    with pytest.raises(CRMError, match=r"channel\(s\) \['ch1'\] have no spend in ad_spend.cost"):
        mmm.MarketingMixModel(holdout_weeks=0).fit(w2, controls=[])
    with pytest.raises(CRMError, match="no outcome column 'revenue'"):
        mmm.MarketingMixModel().fit(w, outcome="revenue")
    with pytest.raises(CRMError, match="saturation='tanh'"):
        mmm.MarketingMixModel(saturation="tanh").fit(w)
    with pytest.raises(CRMError, match="not fitted yet"):
        mmm.MarketingMixModel().summary  # noqa: B018


def test_a_scenario_with_missing_or_negative_spend_is_refused(fits):
    w, _, model = fits[1]
    assert np.allclose(model.predict(w), model.contributions_["fitted"].to_numpy())  # the fitted weeks back
    gap = w.assign(spend_ch2=w["spend_ch2"].where(w.index != 10))
    with pytest.raises(CRMError, match=r"column 'spend_ch2' has 1 missing or non-numeric value\(s\) \(rows \[10\]\)"):
        model.predict(gap)
    with pytest.raises(CRMError, match="column 'spend_ch3' has negative spend"):
        model.predict(w.assign(spend_ch3=-1.0))


def test_weekly_data_from_tables():
    ts = pd.Timestamp
    campaigns = pd.DataFrame({"campaign_id": ["a", "b"], "channel": ["search", "social"], "name": ["A", "B"]})
    days = pd.date_range("2025-01-01", "2025-01-31", freq="D", tz="UTC")  # a Wednesday .. a Friday
    ad = pd.DataFrame({"campaign_id": ["a"] * len(days) + ["b"] * 3, "date": list(days) + list(days[5:8]),
                       "impressions": 0, "clicks": 0, "cost": [10.0] * len(days) + [7.5] * 3})
    orders = pd.DataFrame({
        "order_id": ["o1", "o2", "o3", "o4", "o5"],
        "customer_id": ["c1", "c1", "c2", "c3", "c4"],
        "ordered_at": [ts("2025-01-07 10:00", tz="UTC"), ts("2025-01-14", tz="UTC"), ts("2025-01-15", tz="UTC"),
                       ts("2024-12-01", tz="UTC"), ts("2025-01-20 23:59", tz="UTC")],
        "amount": [10.0, 20.0, 30.0, 40.0, 50.0], "status": ["completed", "completed", "cancelled", "completed",
                                                            "completed"],
        "promo_code": [None, "X", None, None, ""]})
    w = mmm.weekly_data(orders, ad, campaigns, outcome="new_customers", as_of="2025-01-27")
    # whole weeks from the first Monday after the first spend day (Jan 6) to as_of (exclusive)
    assert w["week"].tolist() == [ts(d, tz="UTC") for d in ("2025-01-06", "2025-01-13", "2025-01-20")]
    assert w["new_customers"].tolist() == [1.0, 0.0, 1.0]  # c2's only order was cancelled
    assert w["spend_search"].tolist() == [70.0, 70.0, 70.0]
    assert w["spend_social"].tolist() == [22.5, 0.0, 0.0]
    assert w["promo_share"].tolist() == [0.0, 1.0, 0.0]  # an empty code is no code
    assert w.attrs["channels"] == ["search", "social"] and w.attrs["controls"] == ["promo_share"]
    r = mmm.weekly_data(orders, ad, campaigns, outcome="revenue", as_of="2025-01-27", promotions=False)
    assert r["revenue"].tolist() == [10.0, 20.0, 50.0] and "promo_share" not in r
    customers = pd.DataFrame({"customer_id": ["c1", "c2", "c3"],
                              "signup_at": [ts("2025-01-06", tz="UTC"), ts("2025-01-12 23:00", tz="UTC"),
                                            ts("2025-01-14", tz="UTC")]})
    s = mmm.weekly_data(orders, ad, campaigns, customers=customers, outcome="signups", as_of="2025-01-27")
    # the data ends the day after the last sign-up (Jan 15), before as_of: one week
    assert s["signups"].tolist() == [2.0] and s.attrs["as_of"].startswith("2025-01-15")
    late = mmm.weekly_data(orders, ad, campaigns, customers=customers, outcome="signups", as_of="2025-02-01")
    assert late.attrs["as_of"].startswith("2025-01-15")  # no sign-up data after Jan 14: not zeros
    with pytest.raises(CRMError, match="no whole week"):
        mmm.weekly_data(orders, ad, campaigns, as_of="2025-01-10")
    with pytest.raises(CRMError, match=r"table 'customers' is needed"):
        mmm.weekly_data(orders, ad, campaigns, outcome="signups", as_of="2025-01-27")
    with pytest.raises(CRMError, match=r"table 'ad_spend' has no column\(s\) 'cost'"):
        mmm.weekly_data(orders, ad.drop(columns="cost"), campaigns, as_of="2025-01-27")
    with pytest.raises(CRMError, match="as_of is required"):
        mmm.weekly_data(orders, ad, campaigns, as_of=None)


# --------------------------------------------------------------------------------------------
# the synthetic company's planted marketing mix (truth["mmm"])
# --------------------------------------------------------------------------------------------

SEEDS = (1, 2, 3)
N_CONTACTS = 25_000


@pytest.fixture(scope="module")
def companies():
    from crm_research import synthetic

    out = {}
    for seed in SEEDS:
        tables, truth, _ = synthetic.generate(N_CONTACTS, seed=seed)
        t = truth["mmm"]
        weekly = mmm.weekly_data(tables["orders"], tables["ad_spend"], tables["campaigns"],
                                 customers=tables["customers"], outcome="signups", as_of="2026-01-01")
        model = mmm.MarketingMixModel(n_bootstrap=30, seed=0).fit(weekly)
        out[seed] = (weekly, t, model)
    return out


def test_synthetic_weekly_table_matches_the_planted_spend(companies):
    weekly, truth, _ = companies[1]
    # media buying starts in week 5 (the default window skips the first weeks' ramp-up) and
    # leads sign up until 30 days before the end of the history: 95 whole weeks
    assert [str(w.date()) for w in weekly["week"]] == truth["weeks"]
    assert truth["weeks"][0] == "2024-02-05" and truth["as_of"] == "2025-12-01" and len(weekly) == 95
    assert weekly.attrs["channels"] == sorted(truth["channels"])
    for ch, t in truth["channels"].items():
        assert weekly[f"spend_{ch}"].sum() == pytest.approx(t["spend"], rel=1e-9)
    # about 36 % of the sign-ups are media-driven
    media = sum(t["signups"] for t in truth["channels"].values())
    assert 0.3 < media / weekly["signups"].sum() < 0.42


def test_planted_roas_and_ranking_recovered_over_seeds(companies):
    """Each channel's ROAS (sign-ups per currency unit) within a factor of 2, 35 % on average per
    seed, and the ranking exact, on 25,000-contact companies (95 weeks of spend).

    Measured relative errors (%), seeds 1 / 2 / 3: affiliate -11 / 17 / -6, display -22 / -22 / 67,
    email -18 / 40 / 20, paid_search -3 / -17 / -28, social 19 / 53 / 52; seeds 4-6 at most 78 %
    (paid_search, seed 5), the ranking right on all six. The bootstrap ranges are too narrow:
    they hold the truth for 14 of the 30 channel-seeds (the base's monthly steps, which the
    Fourier terms do not follow, are a bias the residual bootstrap does not see).
    """
    for seed, (_, truth, model) in companies.items():
        s = model.summary.set_index("channel")
        true_roas = pd.Series({c: t["roas_signups"] for c, t in truth["channels"].items()})
        err = s["roas"] / true_roas.loc[s.index] - 1
        assert err.abs().max() < 1.0, (seed, err.round(2).to_dict())
        assert err.abs().mean() < 0.35, (seed, err.round(2).to_dict())
        assert list(s["roas"].sort_values(ascending=False).index) == truth["rank_by_roas"], seed
        assert model.warnings_ == [] and model.holdout_mape_ < 0.12
