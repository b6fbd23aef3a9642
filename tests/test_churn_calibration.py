"""Calibration of churn scores: planted true probabilities recovered, the ranking kept, no mass at
exactly 0 or 1, the map chosen on validation rows, and the reliability figures worked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from crm_research.churn.calibration import (
    CALIBRATION_METHODS,
    ProbabilityCalibrator,
    calibration_metrics,
    expected_calibration_error,
)
from crm_research.churn.evaluation import calibration_table
from crm_research.errors import CRMError, ParameterError


def planted(n: int, true_logit, seed: int, spread: float = 1.5):
    """A base model's score ``s`` and outcomes drawn from the known P(churn | s) = expit(true_logit(s))."""
    rng = np.random.default_rng(seed)
    s = rng.normal(0.0, spread, n)
    p = expit(true_logit(s))
    return s, (rng.random(n) < p).astype(int), p


def beta_truth(s):  # Kull et al.'s beta map with a = 3, b = 0.4, c = 0.4 of q = expit(s): no sigmoid fits it
    q = expit(s)
    return 3.0 * np.log(q) - 0.4 * np.log1p(-q) + 0.4


def plateau_truth(s):  # 10 % below, 90 % above, a steep step at 0: neither sigmoid nor beta fits it
    return logit(0.1 + 0.8 * expit(6.0 * s))


def test_an_overconfident_score_is_brought_back_to_the_planted_probabilities():
    # the base model's log-odds are 3x too steep and shifted by +1: P(churn | s) = expit((s - 1) / 3)
    truth = lambda s: (s - 1.0) / 3.0  # noqa: E731
    s_val, y_val, _ = planted(3_000, truth, seed=1, spread=3.6)
    s, y, p_true = planted(20_000, truth, seed=2, spread=3.6)
    cal = ProbabilityCalibrator().fit(s_val, y_val)
    p = cal.predict(s)
    raw = expit(s)
    # tolerance 0.02: the true probabilities themselves score 0.005 on these 20,000 customers
    # (chance), and the calibration learned from 3,000 adds the error of its estimated slope
    # (over 10 validation draws: 0.005-0.016)
    assert expected_calibration_error(y, p_true) < 0.006
    assert expected_calibration_error(y, p) < 0.02
    assert expected_calibration_error(y, raw) > 0.15             # the base model's own probabilities are far off
    assert np.mean(np.abs(p - p_true)) < 0.02 and np.max(np.abs(p - p_true)) < 0.05
    assert cal.method_ == "sigmoid"                # the planted map is a sigmoid: nothing more flexible is needed
    assert cal.params_["a"] == pytest.approx(1 / 3, abs=0.03)
    assert cal.params_["c"] == pytest.approx(-1 / 3, abs=0.1)
    assert calibration_metrics(y, p)["brier"].iloc[0] < calibration_metrics(y, raw)["brier"].iloc[0] - 0.03


def test_beta_calibration_is_chosen_when_the_tails_bend_differently():
    s_val, y_val, _ = planted(2_000, beta_truth, seed=3)  # about 600 churners: isotonic is not a candidate
    s, y, p_true = planted(20_000, beta_truth, seed=4)
    cal = ProbabilityCalibrator().fit(s_val, y_val)
    scores = cal.scores_.set_index("method")
    assert cal.method_ == "beta" and scores.loc["beta", "chosen"]
    assert scores.loc["sigmoid", "log_loss"] - scores.loc["beta", "log_loss"] > scores.loc["sigmoid", "log_loss_se"]
    assert (cal.params_["a"], cal.params_["b"]) == (pytest.approx(3.0, abs=0.6), pytest.approx(0.4, abs=0.2))
    p = cal.predict(s)
    assert np.mean(np.abs(p - p_true)) < 0.015
    sigmoid = ProbabilityCalibrator(method="sigmoid").fit(s_val, y_val).predict(s)
    assert np.mean(np.abs(p - p_true)) < np.mean(np.abs(sigmoid - p_true)) / 2
    assert expected_calibration_error(y, p) < 0.02


def test_isotonic_only_with_enough_data_and_then_smooth():
    s_big, y_big, _ = planted(8_000, plateau_truth, seed=5)
    assert min(y_big.sum(), len(y_big) - y_big.sum()) >= 1_000
    s, _, p_true = planted(5_000, plateau_truth, seed=6)
    cal = ProbabilityCalibrator().fit(s_big, y_big)
    assert cal.method_ == "isotonic"
    p = cal.predict(s)
    # tolerance: the smoothed steps miss the steep middle of the planted curve by a few points
    assert np.mean(np.abs(p - p_true)) < 0.025
    beta = ProbabilityCalibrator(method="beta").fit(s_big, y_big).predict(s)
    assert np.mean(np.abs(p - p_true)) < np.mean(np.abs(beta - p_true)) / 1.5
    assert len(np.unique(p)) > 0.9 * len(p)                                  # no steps: 90 % distinct values
    grid = np.linspace(-8, 8, 4_001)
    assert (np.diff(cal.predict(grid)) > 0).all()                            # strictly increasing
    # with fewer than 1,000 of a class, "auto" does not consider isotonic, and says so
    small = ProbabilityCalibrator().fit(s_big[:1_500], y_big[:1_500])
    row = small.scores_.set_index("method").loc["isotonic"]
    assert small.method_ != "isotonic" and "needs 1,000" in row["note"] and not row["chosen"]
    # asked for by name it is used all the same (and still smooth)
    named = ProbabilityCalibrator(method="isotonic").fit(s_big[:1_500], y_big[:1_500])
    assert named.method_ == "isotonic" and (np.diff(named.predict(grid)) > 0).all()


@pytest.mark.parametrize("method", CALIBRATION_METHODS)
def test_every_map_keeps_the_ranking_and_never_reaches_0_or_1(method):
    s_val, y_val, _ = planted(3_000, plateau_truth, seed=7)
    cal = ProbabilityCalibrator(method=method).fit(s_val, y_val)
    grid = np.r_[-1e4, -300.0, np.linspace(-15, 15, 24_001), 300.0, 1e4]  # scores are log-odds
    p = cal.predict(grid)
    assert (np.diff(p[2:-2]) > 0).all()                                # strictly increasing
    assert (np.diff(p) >= 0).all() and (p > 0).all() and (p < 1).all()
    rounded = np.round(p, 12)
    assert (rounded > 0).all() and (rounded < 1).all()                 # no mass at 0 or 1, even rounded to 1e-12
    assert 1e-9 < p.min() and p.max() < 1 - 1e-9
    # customers: the order of the calibrated probabilities is the order of the scores
    s, _, _ = planted(3_000, plateau_truth, seed=8)
    q = cal.predict(s)
    assert np.array_equal(np.argsort(s, kind="stable"), np.argsort(q, kind="stable"))
    assert len(np.unique(q)) == len(np.unique(s))


def test_the_choice_is_recorded_and_repeatable():
    s_val, y_val, _ = planted(2_000, beta_truth, seed=9)
    a = ProbabilityCalibrator(seed=3).fit(s_val, y_val)
    b = ProbabilityCalibrator(seed=3).fit(s_val, y_val)
    pd.testing.assert_frame_equal(a.scores_, b.scores_)
    assert a.predict(s_val).tobytes() == b.predict(s_val).tobytes()
    assert a.scores_["method"].tolist() == ["uncalibrated", *CALIBRATION_METHODS]
    assert a.scores_["chosen"].sum() == 1 and a.scores_.loc[a.scores_["chosen"], "method"].item() == a.method_
    assert {"log_loss", "brier", "ece", "note"} <= set(a.scores_.columns)
    assert "method_='beta'" in repr(a) or "method_='sigmoid'" in repr(a)


def test_bad_inputs_are_refused():
    with pytest.raises(ParameterError, match="calibration method"):
        ProbabilityCalibrator(method="platt").fit([0.0, 1.0], [0, 1])
    with pytest.raises(CRMError, match="2 churners and 2 non-churners"):
        ProbabilityCalibrator().fit([0.1, 0.2, 0.3], [0, 0, 1])
    with pytest.raises(CRMError, match="finite"):
        ProbabilityCalibrator().fit([0.1, np.nan, 0.3, 0.4], [0, 0, 1, 1])
    with pytest.raises(CRMError, match="not fitted"):
        ProbabilityCalibrator().predict([0.0])


def test_calibration_metrics_by_hand():
    y = np.array([0, 1, 1, 0])
    p = np.array([0.2, 0.8, 0.6, 0.4])
    m = calibration_metrics(y, p, n_bins=2).iloc[0]
    # bins by sorted p: (0.2, 0.4) -> mean 0.3, observed 0; (0.6, 0.8) -> mean 0.7, observed 1
    assert m["n"] == 4 and m["n_bins"] == 2
    assert m["ece"] == pytest.approx(0.5 * 0.3 + 0.5 * 0.3)
    assert m["brier"] == pytest.approx((0.04 + 0.04 + 0.16 + 0.16) / 4)
    assert m["log_loss"] == pytest.approx(-(2 * np.log(0.8) + 2 * np.log(0.6)) / 4)
    # the ECE is the size-weighted mean of the reliability table's gaps
    y10 = np.array([1, 0, 1, 0, 0, 0, 1, 0, 0, 0])
    p10 = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1])
    ct = calibration_table(y10, p10, n_bins=2)
    assert np.allclose(ct["gap"], ct["observed_rate"] - ct["mean_predicted"])
    assert expected_calibration_error(y10, p10, 2) == pytest.approx(float((ct["n"] * ct["gap"].abs()).sum() / 10))
    # a certain wrong answer costs a large but finite log loss
    assert calibration_metrics([1, 0], [0.0, 0.0])["log_loss"].iloc[0] == pytest.approx(-np.log(1e-15) / 2)
    with pytest.raises(CRMError, match="0/1"):
        calibration_metrics([2, 0], [0.5, 0.5])


def test_calibration_intervals_hold_the_observed_rate_when_a_bin_is_all_or_none():
    """At k = 0 or k = n the Wilson formula's end lands a hair inside the observed rate (0 - 5e-17,
    1 - 1e-16 for 10 of 10); the table's interval must hold the rate, or the plot's error bars
    are negative (05 stopped there on the 15,650-contact demo)."""
    from crm_research.plots.churn import plot_calibration

    y = np.r_[np.zeros(7), np.ones(10), np.zeros(7), np.ones(3), np.zeros(3)]
    p = np.r_[np.linspace(0.01, 0.05, 7), np.linspace(0.9, 0.99, 10), np.linspace(0.06, 0.08, 7),
              np.linspace(0.3, 0.4, 6)]
    ct = calibration_table(y, p, n_bins=3)  # bins of 10: none churned, 3 of 10, all 10
    assert ((ct["ci_lower"] <= ct["observed_rate"]) & (ct["observed_rate"] <= ct["ci_upper"])).all()
    assert set(ct["observed_rate"]) >= {0.0, 1.0}
    assert ct["ci_lower"].min() == 0.0 and ct["ci_upper"].max() == 1.0
    plot_calibration(ct)
