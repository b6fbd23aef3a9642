"""BG/NBD, Pareto/NBD, Gamma-Gamma and CLV: published CDNOW fits, identities, recovery, CLV by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special

from crm_research.churn import (
    BetaGeoModel,
    GammaGammaModel,
    ParetoNBDModel,
    customer_lifetime_value,
    customer_value,
    rfm_summary,
)
from crm_research.churn.btyd import _pnbd_ll
from crm_research.errors import CRMError, ParameterError

CDNOW = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cdnow"


def read_cdnow_sample() -> pd.DataFrame:
    path = CDNOW / "CDNOW_sample.txt"
    if not path.exists():
        pytest.skip(f"CDNOW data not found at {CDNOW}: the validation dataset lives in ../shared/datasets "
                    "beside the project")
    df = pd.read_csv(path, sep=r"\s+", header=None, names=["master_id", "customer_id", "date", "cds", "value"],
                     dtype={"master_id": str, "customer_id": str, "date": str})
    df["date"] = pd.to_datetime(df["date"], format="%Y%m%d")
    return df

# ---------------------------------------------------------------------------------------------
# CDNOW: published fits (Fader, Hardie & Lee 2005; Fader & Hardie 2005 Pareto/NBD note;
# Fader & Hardie 2013 Gamma-Gamma note), 2357 customers, weeks, calibration to 1997-09-30
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cdnow():
    df = read_cdnow_sample()
    return rfm_summary(df, "1997-10-01", customer_col="customer_id", date_col="date", value_col="value", time_unit="W")


@pytest.fixture(scope="module")
def bg(cdnow):
    return BetaGeoModel().fit(cdnow)


@pytest.fixture(scope="module")
def gg(cdnow):
    return GammaGammaModel().fit(cdnow)


def test_bgnbd_reproduces_published_cdnow_fit(bg):
    p = bg.params_
    assert (round(p["r"], 3), round(p["alpha"], 3), round(p["a"], 3), round(p["b"], 3)) == (0.243, 4.414, 0.793, 2.426)
    assert round(bg.log_likelihood_, 1) == -9582.4
    assert bg.converged_ and bg.n_customers_ == 2357


def test_pareto_nbd_reproduces_published_cdnow_fit(cdnow):
    m = ParetoNBDModel().fit(cdnow)
    p = m.params_
    assert (round(p["r"], 2), round(p["alpha"], 2), round(p["s"], 2), round(p["beta"], 2)) == (0.55, 10.58, 0.61, 11.67)
    assert round(m.log_likelihood_, 1) == -9595.0


def test_gamma_gamma_reproduces_published_cdnow_fit(gg):
    # spend = mean value of the repeat purchase days (value summed per day, first day excluded)
    p = gg.params_
    assert (round(p["p"], 2), round(p["q"], 2), round(p["gamma"], 2)) == (6.25, 3.74, 15.44)
    assert gg.n_customers_ == 946


def test_bgnbd_conditional_expectation_matches_paper(bg, cdnow):
    # Fader, Hardie & Lee (2005), section 5: a customer with x = 2, t_x = 30.43, T = 38.86
    # (customer 0001) is expected to make 1.226 purchases in the next 39 weeks
    row = cdnow[cdnow["customer_id"] == "0001"]
    assert round(float(bg.expected_purchases(row, 39.0)["0001"]), 3) == 1.226


def _bg_direct(params, x, t_x, T, t):
    """BG/NBD E[Y(t) | x, t_x, T], eq. 10 of Fader, Hardie & Lee, written literally."""
    r, alpha, a, b = params
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
    num = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)
    den = 1 + (x > 0) * a / np.maximum(b + x - 1, 1e-12) * ((alpha + T) / (alpha + t_x)) ** (r + x)
    return num / den


def _pnbd_direct_ll(params, x, t_x, T):
    """Pareto/NBD log-likelihood with A0 written as in Fader & Hardie's note (no Euler step)."""
    r, alpha, s, beta = params
    if alpha >= beta:
        big, small, c2 = alpha, beta, s + 1
    else:
        big, small, c2 = beta, alpha, r + x
    rsx = r + s + x
    a0 = (special.hyp2f1(rsx, c2, rsx + 1, (big - small) / (big + t_x)) / (big + t_x) ** rsx
          - special.hyp2f1(rsx, c2, rsx + 1, (big - small) / (big + T)) / (big + T) ** rsx)
    lik = (special.gamma(r + x) * alpha**r * beta**s / special.gamma(r)
           * (1 / ((alpha + T) ** (r + x) * (beta + T) ** s) + s / rsx * a0))
    return np.log(lik)


def test_stable_forms_equal_the_literal_formulas(bg, cdnow):
    x, t_x, T = (cdnow[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    params = tuple(bg.params_[k] for k in ("r", "alpha", "a", "b"))
    assert np.allclose(bg.expected_purchases(cdnow, 39.0), _bg_direct(params, x, t_x, T, 39.0), rtol=1e-9)
    for pn in ((0.55, 10.58, 0.61, 11.67), (0.55, 12.0, 0.61, 9.0)):  # both alpha >= beta and alpha < beta
        keep = x < 20  # the literal form overflows gamma() beyond this
        assert np.allclose(_pnbd_ll(*pn, x[keep], t_x[keep], T[keep]),
                           _pnbd_direct_ll(pn, x[keep], t_x[keep], T[keep]), rtol=1e-9, atol=1e-9)


def test_large_frequencies_stay_finite():
    # daily data: 300 repeat purchases in 400 days, the last one today
    s = pd.DataFrame({"frequency": [300.0, 300.0], "recency": [400.0, 100.0], "T": [400.0, 400.0]})
    bg = BetaGeoModel()
    bg.params_ = {"r": 0.7, "alpha": 35.0, "a": 0.35, "b": 3.3}
    pn = ParetoNBDModel()
    pn.params_ = {"r": 1.4, "alpha": 70.0, "s": 0.56, "beta": 170.0}
    for m in (bg, pn):
        e = m.expected_purchases(s, 30.0)
        pa = m.p_alive(s)
        assert np.isfinite(e).all() and np.isfinite(pa).all()
        # just bought: alive, buying at the posterior mean rate (r + x) / (alpha + T) a day,
        # a little less for the chance of dropping out; silent for 300 days: dead
        rate = (m.params_["r"] + 300) / (m.params_["alpha"] + 400)
        assert pa[0] > 0.99 and 0.95 * 30 * rate < e[0] < 30 * rate
        assert pa[1] < 1e-6 and e[1] < 1e-4


def test_same_data_same_parameters_bit_for_bit(cdnow, bg):
    again = BetaGeoModel().fit(cdnow.sample(frac=1.0, random_state=3))  # row order must not matter
    assert again.params_ == bg.params_


# ---------------------------------------------------------------------------------------------
# recovery of known parameters from simulated customers
# ---------------------------------------------------------------------------------------------


def _simulate_bgnbd(n, r, alpha, a, b, seed):
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    T = rng.uniform(100, 700, n)
    t = np.zeros(n)
    x = np.zeros(n)
    t_x = np.zeros(n)
    active = np.ones(n, dtype=bool)
    while active.any():
        i = np.flatnonzero(active)
        t[i] += rng.exponential(1 / lam[i])
        buys = t[i] <= T[i]
        active[i[~buys]] = False
        j = i[buys]
        x[j] += 1
        t_x[j] = t[j]
        dies = rng.random(len(j)) < p[j]  # drop out right after a repeat purchase
        active[j[dies]] = False
    return pd.DataFrame({"frequency": x, "recency": t_x, "T": T})


def _simulate_pnbd(n, r, alpha, s, beta, seed):
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n)
    mu = rng.gamma(s, 1 / beta, n)
    T = rng.uniform(100, 700, n)
    life = np.minimum(rng.exponential(1 / mu), T)
    x = rng.poisson(lam * life)
    # given x purchases in (0, life), their times are uniform: the last is life * Beta(x, 1)
    t_x = np.where(x > 0, life * rng.beta(np.maximum(x, 1), 1.0), 0.0)
    return pd.DataFrame({"frequency": x.astype(float), "recency": t_x, "T": T})


@pytest.mark.parametrize(
    "model, truth, simulate",
    [
        (BetaGeoModel, {"r": 0.7, "alpha": 35.0, "a": 0.8, "b": 3.0}, _simulate_bgnbd),
        (ParetoNBDModel, {"r": 1.2, "alpha": 60.0, "s": 0.6, "beta": 150.0}, _simulate_pnbd),
    ],
)
def test_transaction_models_recover_simulated_parameters(model, truth, simulate):
    data = simulate(20_000, *truth.values(), seed=11)
    m = model().fit(data)
    for k, v in truth.items():
        est, se = m.params_[k], m.standard_errors_[k]
        # 20k customers: within 4 standard errors (the SEs themselves are checked this way)
        # and within 25 % of the truth
        assert abs(est - v) < 4 * se, (k, est, v, se)
        assert abs(est / v - 1) < 0.25, (k, est, v)


def test_gamma_gamma_recovers_simulated_parameters():
    rng = np.random.default_rng(5)
    n, p, q, gamma = 10_000, 6.0, 4.0, 15.0
    nu = rng.gamma(q, 1 / gamma, n)
    x = 1 + rng.poisson(3, n)
    spend = np.array([rng.gamma(p, 1 / v, k).mean() for v, k in zip(nu, x, strict=True)])
    m = GammaGammaModel().fit(pd.DataFrame({"frequency": x.astype(float), "monetary_value": spend}))
    for k, v in {"p": p, "q": q, "gamma": gamma}.items():
        assert abs(m.params_[k] - v) < 4 * m.standard_errors_[k], (k, m.params_[k], v)
    # population mean spend p * gamma / (q - 1) = 30
    assert m.population_mean_spend() == pytest.approx(30.0, rel=0.05)


# ---------------------------------------------------------------------------------------------
# CLV
# ---------------------------------------------------------------------------------------------


def test_clv_by_hand_with_published_parameters(cdnow):
    bg = BetaGeoModel()
    bg.params_ = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    gg = GammaGammaModel()
    gg.params_ = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    row = cdnow[cdnow["customer_id"] == "0001"]  # x = 2, t_x = 30.43, T = 38.86, mean spend 22.345
    x, t_x, T = 2.0, float(row["recency"].iloc[0]), float(row["T"].iloc[0])
    spend = 6.25 * (15.44 + 2 * 22.345) / (6.25 * 2 + 3.74 - 1)  # E[M | x, m_x]
    assert float(gg.expected_value(row)["0001"]) == pytest.approx(spend, rel=1e-12)
    params = (0.243, 4.414, 0.793, 2.426)
    # three months of 4.345 weeks, 1 % a month, each month's purchases discounted at its end
    e1, e2, e3 = (_bg_direct(params, x, t_x, T, k * 4.345) for k in (1, 2, 3))
    by_hand = spend * (e1 / 1.01 + (e2 - e1) / 1.01**2 + (e3 - e2) / 1.01**3)
    clv = customer_lifetime_value(row, bg, gg, horizon=3, period=4.345, discount_rate=0.01)
    assert float(clv["0001"]) == pytest.approx(by_hand, rel=1e-10)
    # no discounting: expected purchases over the whole horizon times expected spend
    flat = customer_lifetime_value(row, bg, gg, horizon=3, period=4.345, discount_rate=0.0)
    assert float(flat["0001"]) == pytest.approx(spend * e3, rel=1e-10)


def test_customer_value_table(cdnow, bg, gg):
    v = customer_value(cdnow, bg, gg, horizon=12, period=4.345, discount_rate=0.01)
    assert v["customer_id"].tolist() == sorted(cdnow["customer_id"])
    assert ((v["p_alive"] > 0) & (v["p_alive"] <= 1)).all()
    assert np.allclose(v["value_if_alive"] * v["p_alive"], v["clv"])
    # discounting lowers value: the undiscounted value is expected purchases x spend
    assert (v["clv"] <= v["expected_purchases"] * v["expected_spend"] + 1e-9).all()


def test_bad_inputs(cdnow, bg, gg):
    bad = cdnow.head(3).copy()
    bad.loc[bad.index[0], "recency"] = 100.0  # after T
    with pytest.raises(CRMError, match="recency <= T"):
        BetaGeoModel().fit(bad)
    with pytest.raises(CRMError, match="no column"):
        BetaGeoModel(T_col="age").fit(cdnow)
    with pytest.raises(CRMError, match="not fitted"):
        ParetoNBDModel().p_alive(cdnow)
    with pytest.raises(ParameterError, match="horizon"):
        customer_lifetime_value(cdnow, bg, gg, horizon=0)


def test_outputs_are_indexed_by_customer_and_the_repr_reads(cdnow, bg, gg):
    pa, spend = bg.p_alive(cdnow), gg.expected_value(cdnow)
    assert pa.index.name == "customer_id" and pa.index.tolist() == cdnow["customer_id"].tolist()
    assert (pa.name, spend.name) == ("p_alive", "expected_spend")
    value = customer_value(cdnow, bg, gg).set_index("customer_id")
    assert np.array_equal(value.loc[pa.index, "p_alive"].to_numpy(), pa.to_numpy())
    assert value.loc["0001", "expected_spend"] == spend["0001"]
    # a table without the id column keeps its own index (a grid of histories, say)
    grid = cdnow.drop(columns="customer_id").set_index(cdnow["customer_id"].radd("row "))
    assert bg.expected_purchases(grid, 39.0).index.equals(grid.index)
    assert repr(BetaGeoModel()) == "BetaGeoModel()" and repr(ParetoNBDModel(T_col="age")) == "ParetoNBDModel(T_col='age')"
    assert repr(bg).startswith(f"BetaGeoModel(); fitted on {len(cdnow):,} customers: r=0.2426, alpha=4.414, a=0.7929, b=2.426; "
                              "log-likelihood -9,582.43")
