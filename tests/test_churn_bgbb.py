"""BG/BB: Fader, Hardie & Shang (2010) donations fit and published predictions, the literal
formulas, planted recovery, DERT against a brute-force sum, the discrete builder by hand, the
holdout check and its plot."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import special  # noqa: E402

from crm_research.churn.bgbb import (  # noqa: E402
    BetaGeoBetaBinomModel,
    discrete_calibration_holdout,
    discrete_holdout_table,
    discrete_summary,
)
from crm_research.errors import CRMError, ParameterError  # noqa: E402
from crm_research.plots.churn import plot_discrete_holdout  # noqa: E402

DONATIONS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "donations" / "donations.csv"
PUBLISHED = (1.2035, 0.7497, 0.6567, 2.7834)  # FHS (2010) to 4 decimals (Hardie's note 010)


@pytest.fixture(scope="module")
def donations() -> pd.DataFrame:
    if not DONATIONS.exists():
        pytest.skip(f"donations data not found at {DONATIONS}: the validation dataset lives in "
                    "../shared/datasets beside the project")
    return pd.read_csv(DONATIONS)


@pytest.fixture(scope="module")
def fitted(donations) -> BetaGeoBetaBinomModel:
    return BetaGeoBetaBinomModel().fit(donations)


def _fixed(params=PUBLISHED) -> BetaGeoBetaBinomModel:
    m = BetaGeoBetaBinomModel()
    m.params_ = dict(zip(("alpha", "beta", "gamma", "delta"), params, strict=True))
    return m


def test_reproduces_published_donations_fit(fitted):
    p = fitted.params_
    assert tuple(round(p[k], 3) for k in ("alpha", "beta", "gamma", "delta")) == (1.204, 0.750, 0.657, 2.783)
    assert round(fitted.log_likelihood_, 1) == -33225.6
    assert fitted.converged_ and fitted.n_customers_ == 11104
    se = fitted.summary().set_index("parameter")["se"]
    assert np.allclose(se, [0.0694, 0.0294, 0.0510, 0.3208], atol=5e-4)
    assert repr(fitted).startswith("BetaGeoBetaBinomModel(") and "gamma=0.6567" in repr(fitted)


def test_published_predictions(fitted, donations):
    # FHS (2010) Table 6, P(alive in 2002): (x, t_x) = (0, 0), (2, 4), (6, 6)
    pa = pd.Series(fitted.p_alive(donations).to_numpy(), index=list(zip(donations.frequency, donations.recency, strict=True)))
    assert [round(pa[(0, 0)], 2), round(pa[(2, 4)], 2), round(pa[(6, 6)], 2)] == [0.11, 0.59, 0.93]
    # Hardie's BG/BB spreadsheet (note 010), "Conditional Expectations (II)": 12,884.2 donations
    # expected from the cohort in 2002-2006
    assert round(float(np.dot(fitted.expected_purchases(donations, 5), donations.weights)), 1) == 12884.2
    # note 010, "Tracking Plot" B7:B17: cumulative repeat donations per new donor, years 1-11
    note = [0.4985, 0.9233, 1.2969, 1.6323, 1.9381, 2.2202, 2.4826, 2.7285, 2.9603, 3.1798, 3.3887]
    assert np.allclose(_fixed().expected_purchases_new(np.arange(1, 12)), note, atol=6e-5)
    assert np.allclose(fitted.expected_purchases_new(np.arange(1, 12)), note, atol=1e-4)


def _literal_likelihood(params, x, t_x, n):
    a, b, g, d = params
    B = special.beta
    out = B(a + x, b + n - x) / B(a, b) * B(g, d + n) / B(g, d)
    for i in range(n - t_x):
        out += B(a + x, b + t_x - x + i) / B(a, b) * B(g + 1, d + t_x + i) / B(g, d)
    return out


PATTERNS = pd.DataFrame({"frequency": [0, 1, 2, 3, 6, 0, 4], "recency": [0, 1, 4, 6, 6, 0, 9],
                         "periods": [6, 6, 6, 6, 6, 10, 10]}, index=list("abcdefg"))


def test_stable_forms_equal_the_literal_formulas():
    m = _fixed()
    a, b, g, d = PUBLISHED
    rows = list(PATTERNS.itertuples(index=False))
    lik = np.array([_literal_likelihood(PUBLISHED, *r) for r in rows])
    assert np.allclose(np.exp([m.log_likelihood(PATTERNS.iloc[[i]]) for i in range(len(rows))]), lik, rtol=1e-10)
    x, n = PATTERNS.frequency.to_numpy(), PATTERNS.periods.to_numpy()
    # eq. 13, with gamma functions, for the next 5 opportunities
    G = special.gamma
    closed = (special.beta(a + x + 1, b + n - x) / special.beta(a, b) * d / (g - 1) * G(g + d) / G(1 + d)
              * (G(1 + d + n) / G(g + d + n) - G(1 + d + n + 5) / G(g + d + n + 5)) / lik)
    assert np.allclose(m.expected_purchases(PATTERNS, 5), closed, rtol=1e-10)
    alive = special.beta(a + x, b + n - x) / special.beta(a, b) * special.beta(g, d + n + 1) / special.beta(g, d) / lik
    assert np.allclose(m.p_alive(PATTERNS), alive, rtol=1e-10)


def test_dert_against_brute_force():
    m = _fixed()
    a, b, g, d = PUBLISHED
    r = 0.1
    x, n = PATTERNS.frequency.to_numpy(), PATTERNS.periods.to_numpy()
    lik = np.array([_literal_likelihood(PUBLISHED, *row) for row in PATTERNS.itertuples(index=False)])
    k = np.arange(1, 2000)[:, None]
    brute = (special.beta(a + x + 1, b + n - x) / special.beta(a, b) * special.beta(g, d + n + k)
             / special.beta(g, d) / (1 + r) ** k).sum(axis=0) / lik
    got = m.dert(PATTERNS, r)
    assert got.index.tolist() == list("abcdefg") and np.allclose(got, brute, rtol=1e-8)
    assert got["e"] > got["d"] > got["a"]  # 6 of 6 > 3 ending at 6 > none
    with pytest.raises(ParameterError, match="discount_rate"):
        m.dert(PATTERNS, -0.1)


def _simulate(params, n_customers, n_periods, seed):
    """Purchases (customers x opportunities) of the BG/BB story: die before an opportunity with
    theta, buy at it with p while alive."""
    a, b, g, d = params
    rng = np.random.default_rng(seed)
    p, theta = rng.beta(a, b, n_customers), rng.beta(g, d, n_customers)
    alive = np.cumprod(rng.random((n_customers, n_periods)) >= theta[:, None], axis=1).astype(bool)
    return alive & (rng.random((n_customers, n_periods)) < p[:, None])


def _summary(buys: np.ndarray) -> pd.DataFrame:
    idx = np.arange(1, buys.shape[1] + 1)
    return pd.DataFrame({"frequency": buys.sum(axis=1), "recency": (buys * idx).max(axis=1),
                         "periods": buys.shape[1]})


def test_planted_parameters_recovered():
    true = (0.9, 1.6, 0.5, 3.0)
    s = _summary(_simulate(true, 8000, 8, seed=15))
    m = BetaGeoBetaBinomModel().fit(s)
    for k, t in zip(("alpha", "beta", "gamma", "delta"), true, strict=True):
        est, se = m.params_[k], m.standard_errors_[k]
        assert abs(est - t) < 3 * se and abs(est / t - 1) < 0.25, (k, est, se)


def test_holdout_table_and_plot():
    true = (0.9, 1.6, 0.5, 3.0)
    buys = _simulate(true, 8000, 10, seed=16)
    cal = _summary(buys[:, :6]).assign(frequency_holdout=buys[:, 6:].sum(axis=1), periods_holdout=4)
    m = BetaGeoBetaBinomModel().fit(cal)
    table = discrete_holdout_table(cal, m)
    assert table["frequency"].tolist() == list(range(7)) and table["customers"].sum() == 8000
    # expected holdout purchases per customer track the actual ones in every frequency group
    assert np.all(np.abs(table["expected"] - table["actual"]) < 0.12), table
    total_err = np.dot(table["customers"], table["expected"] - table["actual"]) / cal["frequency_holdout"].sum()
    assert abs(total_err) < 0.05
    fig, ax = plt.subplots()
    lines = plot_discrete_holdout(table, ax=ax).get_lines()
    assert np.allclose(lines[0].get_ydata(), table["actual"]) and np.allclose(lines[1].get_ydata(), table["expected"])
    plt.close(fig)


ORDERS = pd.DataFrame({
    "customer_id": ["a", "a", "a", "a", "b", "b", "c", "d", "e"],
    "ordered_at": pd.to_datetime(["2020-03-01", "2020-05-01", "2022-01-10", "2022-12-31", "2021-06-01",
                                  "2024-02-01", "2023-12-31T23:00", "2024-01-01", "2019-01-01"],
                                 utc=True, format="ISO8601"),
    "amount": 10.0,
    "status": ["completed"] * 8 + ["cancelled"],
})


def test_discrete_summary_by_hand():
    s = discrete_summary(ORDERS, "2024-01-01", "Y")
    # a: 2020 (x2), 2022 (x2) -> opportunities 2021-2023, a purchase at the 2nd; b: 2024 is after
    # as_of; c: first purchase in 2023, no opportunity yet; d after as_of; e cancelled
    assert s["customer_id"].tolist() == ["a", "b", "c"]
    assert s[["frequency", "recency", "periods"]].to_numpy().tolist() == [[1, 2, 3], [0, 0, 2], [0, 0, 0]]
    assert s["first_period_start"].dt.year.tolist() == [2020, 2021, 2023]
    # 2024-06-01: 2024 is not complete, so the same opportunities; the 2020 cohort only
    assert discrete_summary(ORDERS, "2024-06-01", "Y", first_period="2020-07-01")["customer_id"].tolist() == ["a"]
    q = discrete_summary(ORDERS, "2024-01-01", "Q")
    assert q[["frequency", "recency", "periods"]].to_numpy().tolist() == [[3, 11, 15], [0, 0, 10], [0, 0, 0]]
    mth = discrete_summary(ORDERS, "2024-01-01", "M")
    assert mth[["frequency", "recency", "periods"]].to_numpy().tolist()[0] == [3, 33, 45]


def test_discrete_calibration_holdout_by_hand():
    h = discrete_calibration_holdout(ORDERS, "2022-01-01", "2025-01-01", "Y")
    assert h["customer_id"].tolist() == ["a", "b"]
    assert h[["frequency", "recency", "periods", "frequency_holdout", "periods_holdout"]].to_numpy().tolist() == [
        [0, 0, 1, 1, 3], [0, 0, 0, 1, 3]]
    with pytest.raises(ParameterError, match="complete Y period"):
        discrete_calibration_holdout(ORDERS, "2022-01-01", "2022-06-01", "Y")


@pytest.mark.parametrize("frame, words", [
    (pd.DataFrame({"frequency": [2], "recency": [1], "periods": [6]}), "frequency <= recency"),
    (pd.DataFrame({"frequency": [1], "recency": [7], "periods": [6]}), "frequency <= recency"),
    (pd.DataFrame({"frequency": [-1], "recency": [0], "periods": [6]}), "'frequency'"),
    (pd.DataFrame({"frequency": [1], "recency": [1]}), "no column.*periods_col='periods'"),
])
def test_bad_input_one_line_errors(frame, words):
    with pytest.raises(CRMError, match=words) as err:
        _fixed().p_alive(frame)
    assert "\n" not in str(err.value)


def _fit_from(start_shift, loglik, cols, start):
    """btyd._mle with the optimiser started ``start_shift`` away in log-parameters."""
    from crm_research.churn import btyd

    orig = btyd._fit_log_params
    btyd._fit_log_params = lambda f, s, tol: orig(f, s + start_shift, tol)
    try:
        return btyd._mle(loglik, cols, start, ("a", "b", "c", "d")[:len(start)], 1e-11)["params_"]
    finally:
        btyd._fit_log_params = orig


@pytest.mark.parametrize("shift", [1e-7, -3e-7, 1e-5, 2e-3, 0.3])
def test_the_optimum_does_not_depend_on_where_the_optimiser_starts(shift):
    """A flat likelihood (BG/BB's gamma and delta on 173 customers) and a ridge (sBG on 45
    customers who churn alike: alpha and beta grow together) give the same parameters to 1e-5
    from any start. Before the Newton polish, L-BFGS-B stopped wherever its finite-difference
    gradient first looked flat: delta 12.85 on one CPU, 12.86 on another; sBG's alpha anywhere
    from 57 to 1e6."""
    from crm_research import synthetic
    from crm_research.churn.bgbb import _bgbb_ll
    from crm_research.churn.sbg import _sbg_ll, subscription_histories

    tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    occ = discrete_summary(tables["orders"], "2026-01-01", period="Q")
    cols = [occ[c].to_numpy(float) for c in ("frequency", "recency", "periods")]
    base = _fit_from(0.0, _bgbb_ll, cols, [1.0] * 4)
    moved = _fit_from(shift, _bgbb_ll, cols, [1.0] * 4)
    assert base["d"] == pytest.approx(12.857, abs=1e-3)
    for k in base:
        assert moved[k] == pytest.approx(base[k], rel=1e-5), k

    h = subscription_histories(tables["subscriptions"], "2026-01-01", period="M")
    seen = (h["churned"] > 0) & (h["periods"] + 1 <= 9)
    cols = [np.where(seen, h["periods"], np.minimum(h["periods"], 9)).astype(float), seen.astype(float).to_numpy()]
    base = _fit_from(0.0, _sbg_ll, cols, [1.0, 1.0])
    moved = _fit_from(shift, _sbg_ll, cols, [1.0, 1.0])
    assert base["b"] == pytest.approx(np.exp(10), rel=1e-6)  # the ridge's end: no heterogeneity
    for k in base:
        assert moved[k] == pytest.approx(base[k], rel=1e-5), k


def test_the_polish_stops_at_a_bound_only_where_the_likelihood_falls_towards_it():
    """A Newton step that overshoots a bound (the optimum at 7 inside +-10) is not kept at the
    bound; a ridge that keeps falling to the bound ends there."""
    from crm_research.churn.btyd import _newton_polish

    inside = _newton_polish(lambda z: 1e-3 * np.log(np.cosh(z[0] - 7)) + (z[1] - 1) ** 2, np.array([0.0, 0.5]))
    assert inside == pytest.approx([7.0, 1.0], abs=1e-6)
    ridge = _newton_polish(lambda z: (z[0] - z[1]) ** 2 + np.exp(-z[0] - z[1]), np.array([1.0, 1.2]))
    assert ridge == pytest.approx([10.0, 10.0], abs=1e-3)
