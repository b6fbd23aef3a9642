"""sBG (shifted-beta-geometric): Fader & Hardie (2007) fits and projections, planted recovery,
DERL against a brute-force sum, the subscriptions builder, bad input, the retention plot."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import special  # noqa: E402

from crm_research.churn.sbg import (  # noqa: E402
    ShiftedBetaGeoModel,
    sbg_holdout,
    subscription_histories,
    survivors_to_histories,
)
from crm_research.errors import CRMError, ParameterError  # noqa: E402
from crm_research.plots.churn import plot_retention_projection  # noqa: E402

RETENTION = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "retention" / "survivors.csv"

# Fader & Hardie (2007), Table 1: survivors of the two 1,000-customer cohorts in years 8-12,
# held out of the published fit (years 0-7)
PAPER_ACTUAL_8_12 = {"regular": [223, 207, 194, 183, 173], "high_end": [468, 445, 427, 409, 394]}


@pytest.fixture(scope="module")
def survivors() -> pd.DataFrame:
    if not RETENTION.exists():
        pytest.skip(f"retention survivors not found at {RETENTION}: the validation dataset lives in "
                    "../shared/datasets beside the project")
    return pd.read_csv(RETENTION)


def _fixed(alpha: float, beta: float) -> ShiftedBetaGeoModel:
    m = ShiftedBetaGeoModel()
    m.params_ = {"alpha": alpha, "beta": beta}
    m.standard_errors_ = {"alpha": np.nan, "beta": np.nan}
    return m


@pytest.mark.parametrize("cohort, alpha, beta, ll", [("regular", 0.704, 1.182, -1680.27),
                                                      ("high_end", 0.668, 3.806, -1611.16)])
def test_reproduces_published_fits(survivors, cohort, alpha, beta, ll):
    m = ShiftedBetaGeoModel().fit(survivors_to_histories(survivors, "year", cohort))
    assert (round(m.params_["alpha"], 3), round(m.params_["beta"], 3)) == (alpha, beta)
    assert round(m.log_likelihood_, 2) == ll
    assert m.converged_ and m.n_customers_ == 1000 and m.observed_periods_ == 7
    se = m.summary().set_index("parameter")["se"]
    assert ((se > 0) & (se < 1)).all()  # regular 0.066 / 0.152, high end 0.104 / 0.786
    assert "alpha=" in repr(m) and repr(m).startswith("ShiftedBetaGeoModel(")


@pytest.mark.parametrize("cohort, ours", [("regular", [220.1, 204.4, 191.2, 179.9, 170.0]),
                                          ("high_end", [460.4, 435.8, 414.2, 395.1, 378.0])])
def test_projection_years_8_to_12(survivors, cohort, ours):
    m = ShiftedBetaGeoModel().fit(survivors_to_histories(survivors, "year", cohort))
    proj = m.projected_survivors(12, start=1000)
    a, b = m.params_["alpha"], m.params_["beta"]
    t = np.arange(8, 13)
    closed = 1000 * special.beta(a, b + t) / special.beta(a, b)  # S(t) = B(a, b+t) / B(a, b)
    assert np.allclose(proj.loc[8:].to_numpy(), closed, rtol=1e-10)
    assert np.round(proj.loc[8:].to_numpy(), 1).tolist() == ours
    # beside the paper's actual survivors: within 2 % (regular) and 4.1 % (high end) by year 12
    err = proj.loc[8:].to_numpy() / np.array(PAPER_ACTUAL_8_12[cohort]) - 1
    assert np.all(err < 0) and np.all(np.abs(err) < {"regular": 0.02, "high_end": 0.041}[cohort])


def test_holdout_on_first_four_years(survivors):
    h = survivors_to_histories(survivors, "year", "regular")
    m, table = sbg_holdout(h, 4)
    assert m.observed_periods_ == 4
    assert np.allclose(table["actual_survivors"], survivors["regular"])  # one cohort: KM = counts
    late = table[~table["calibration"]]
    assert late["period"].tolist() == [5, 6, 7]
    err = late["projected_survivors"] / late["actual_survivors"] - 1
    assert np.all(np.abs(err) < 0.05), err.tolist()


def _simulate(alpha, beta, n, seed):
    rng = np.random.default_rng(seed)
    theta = rng.beta(alpha, beta, n)
    T = rng.geometric(theta)  # periods paid for, >= 1
    horizon = rng.integers(1, 13, n)  # observed for 1..12 periods (staggered sign-ups)
    churned = T <= horizon
    return pd.DataFrame({"periods": np.where(churned, T - 1, horizon), "churned": churned.astype(int)})


def test_planted_parameters_recovered():
    h = _simulate(0.8, 2.5, 6000, seed=15)
    assert 0.3 < h["churned"].mean() < 0.7  # real censoring
    m = ShiftedBetaGeoModel().fit(h)
    for k, true in (("alpha", 0.8), ("beta", 2.5)):
        est, se = m.params_[k], m.standard_errors_[k]
        assert abs(est - true) < 3 * se and abs(est / true - 1) < 0.15, (k, est, se)
    # same data, same parameters, bit for bit
    assert ShiftedBetaGeoModel().fit(h).params_ == m.params_


def test_probabilities_are_consistent():
    m = _fixed(0.704, 1.182)
    t = np.arange(1, 30)
    assert np.allclose(m.survival(t - 1) - m.survival(t), m.churn_probability(t), rtol=1e-12)
    assert np.allclose(m.survival(t) / m.survival(t - 1), m.retention_rate(t), rtol=1e-12)
    assert m.survival(0) == 1.0 and m.retention_rate(1) == pytest.approx(1.182 / (0.704 + 1.182))


def test_derl_and_remaining_lifetime_against_brute_force():
    a, b, d = 0.704, 1.182, 0.1
    m = _fixed(a, b)
    data = pd.DataFrame({"periods": [0, 1, 4, 10, 3], "churned": [0, 0, 0, 0, 1]}, index=list("vwxyz"))
    k = np.arange(0, 3000)
    brute = [np.sum(special.beta(a, b + n + 1 + k) / special.beta(a, b + n) / (1 + d) ** k) for n in [0, 1, 4, 10]]
    got = m.derl(data, d)
    assert got.index.tolist() == list("vwxyz")
    assert np.allclose(got.iloc[:4], brute, rtol=1e-8) and got["z"] == 0.0
    assert round(got["v"], 4) == 2.9647  # a new customer, regular cohort (rounded fit), d = 10 %
    # expected further renewals: infinite for alpha <= 1 unless capped; closed form for alpha > 1
    assert np.isinf(m.expected_remaining_lifetime(data)).iloc[:4].all()
    capped = m.expected_remaining_lifetime(data, horizon=5)
    kk = np.arange(1, 6)
    assert capped["x"] == pytest.approx(np.sum(special.beta(a, b + 4 + kk) / special.beta(a, b + 4)))
    m2 = _fixed(2.5, 3.0)
    assert m2.expected_remaining_lifetime(data)["x"] == pytest.approx((3.0 + 4) / 1.5)
    assert m2.derl(data, 1e-9)["x"] == pytest.approx((3.0 + 4) / 1.5, rel=1e-6)


def test_subscription_histories_by_hand():
    subs = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d", "e", "f", "g"],
        "started_at": pd.to_datetime(["2024-01-15", "2024-01-15", "2024-01-31", "2024-06-01",
                                      "2024-01-15", "2024-02-10", "2023-05-01"], utc=True),
        "ended_at": pd.to_datetime(["2024-04-20", "2024-04-15", None, None, "2024-05-01",
                                    "2024-02-20", None], utc=True),
        "plan": ["basic", "basic", "pro", "pro", "pro", "basic", "pro"],
        "mrr": 10.0,
    })
    h = subscription_histories(subs, "2024-05-01", "M", group_col="plan")
    assert h["customer_id"].tolist() == ["a", "b", "c", "e", "f", "g"]  # d starts after as_of
    # a: renewals Feb 15, Mar 15, Apr 15 before its end; b ends at the Apr 15 renewal: 2;
    # c: Feb 29, Mar 31, Apr 30 (clipped days); e ends on as_of: active, 3; f: none; g: 12
    assert h["periods"].tolist() == [3, 2, 3, 3, 0, 11]
    assert h["churned"].tolist() == [1, 1, 0, 0, 1, 0]
    assert h["plan"].tolist() == ["basic", "basic", "pro", "pro", "basic", "pro"]
    y = subscription_histories(subs, "2024-05-01", "Y")
    assert y["periods"].tolist() == [0, 0, 0, 0, 0, 0]
    w = subscription_histories(subs, "2024-05-01", "W")
    assert w.loc[w["customer_id"] == "f", "periods"].item() == 1  # Feb 17 < Feb 20


def test_g_renewal_on_the_as_of_day_is_not_seen():
    subs = pd.DataFrame({"customer_id": ["g"], "started_at": pd.to_datetime(["2023-05-01"], utc=True),
                         "ended_at": pd.to_datetime([None], utc=True)})
    assert subscription_histories(subs, "2024-05-01", "M")["periods"].item() == 11
    assert subscription_histories(subs, "2024-05-02", "M")["periods"].item() == 12


@pytest.mark.parametrize("frame, words", [
    (pd.DataFrame({"periods": [1, -2], "churned": [0, 1]}), "'periods'"),
    (pd.DataFrame({"periods": [1, 2], "churned": [0, 2]}), "'churned'"),
    (pd.DataFrame({"periods": [1.5, 2], "churned": [0, 1]}), "whole numbers"),
    (pd.DataFrame({"renewals": [1, 2], "churned": [0, 1]}), "no column.*periods_col='periods'"),
])
def test_bad_input_one_line_errors(frame, words):
    with pytest.raises(CRMError, match=words) as err:
        ShiftedBetaGeoModel().fit(frame)
    assert "\n" not in str(err.value)


def test_bad_survivors_and_parameters():
    with pytest.raises(CRMError, match="must not increase"):
        survivors_to_histories(pd.DataFrame({"t": [0, 1, 2], "n": [100, 80, 90]}), "t", "n")
    with pytest.raises(ParameterError, match="discount_rate"):
        _fixed(1.0, 1.0).derl(pd.DataFrame({"periods": [1], "churned": [0]}), 0)
    with pytest.raises(CRMError, match="not fitted"):
        ShiftedBetaGeoModel().survival(3)


def test_plot_retention_projection_draws_the_model_survival(survivors):
    h = survivors_to_histories(survivors, "year", "high_end")
    m, table = sbg_holdout(h, 7)
    fig, ax = plt.subplots()
    out = plot_retention_projection(m, table, periods=12, ax=ax)
    model_line, actual, vline = out.get_lines()[:3]
    assert np.allclose(model_line.get_ydata(), m.survival(np.arange(13)))
    assert np.allclose(actual.get_ydata(), survivors["high_end"] / 1000)
    assert list(vline.get_xdata()) == [7, 7]
    plt.close(fig)
