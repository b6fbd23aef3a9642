"""The at-risk list's value at risk with its range, and a retention campaign's expected value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm_research.churn import at_risk_list, retention_campaign, value_at_risk_range
from crm_research.churn.at_risk import RANKING_RULES
from crm_research.errors import CRMError, ParameterError


@pytest.fixture
def ranked():
    scores = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "p_churn": [0.9, 0.5, 0.2, 0.1],
                           "value_if_alive": [100.0, 400.0, 50.0, 1000.0]})
    return at_risk_list(scores, driver_col=None)


CALIBRATION = pd.DataFrame({"mean_predicted": [0.1, 0.5, 0.9], "ci_lower": [0.05, 0.4, 0.85],
                            "ci_upper": [0.2, 0.55, 0.95]})


def test_value_at_risk_range_by_hand(ranked):
    central, low, high = value_at_risk_range(ranked, CALIBRATION)
    assert central == pytest.approx(0.9 * 100 + 0.5 * 400 + 0.2 * 50 + 0.1 * 1000)
    # shifts: p=0.9 -> -0.05/+0.05; 0.5 -> -0.1/+0.05; 0.2 interpolated between 0.1 and 0.5 -> -0.0625/+0.0875;
    # 0.1 -> -0.05/+0.1
    assert low == pytest.approx(0.85 * 100 + 0.4 * 400 + 0.1375 * 50 + 0.05 * 1000)
    assert high == pytest.approx(0.95 * 100 + 0.55 * 400 + 0.2875 * 50 + 0.2 * 1000)
    assert low <= central <= high


def test_value_at_risk_range_clips_and_never_narrows_past_the_centre():
    one = pd.DataFrame({"p_churn": [0.99, 0.01], "value": [10.0, 10.0]})
    cal = pd.DataFrame({"mean_predicted": [0.5], "ci_lower": [0.6], "ci_upper": [0.9]})  # a biased bin
    central, low, high = value_at_risk_range(one, cal)
    assert low == pytest.approx(central)                       # a bound above the prediction moves nothing down
    assert high == pytest.approx(1.0 * 10 + 0.41 * 10)        # clipped at 1


def test_value_at_risk_range_without_calibration_is_the_centre(ranked):
    assert value_at_risk_range(ranked, CALIBRATION.iloc[0:0]) == (pytest.approx(400.0),) * 3
    with pytest.raises(CRMError, match="ci_upper"):
        value_at_risk_range(ranked, CALIBRATION.drop(columns="ci_upper"))


def test_retention_campaign_on_the_top_of_the_list(ranked):
    top2 = float(ranked["value_at_risk"].head(2).sum())
    got = retention_campaign(ranked, 2, 0.15, save_rate_range=(0.05, 0.25))
    assert got["customers"] == 2 and got["value_at_risk"] == pytest.approx(top2)
    assert got["expected_value"] == pytest.approx(0.15 * top2)
    assert (got["low"], got["high"]) == (pytest.approx(0.05 * top2), pytest.approx(0.25 * top2))
    assert retention_campaign(ranked, 99, 0.1)["customers"] == 4          # the list is shorter
    assert retention_campaign(ranked, 1, 0.1)["low"] is None


@pytest.mark.parametrize("customers, rate, rng", [(0, 0.1, None), (2.5, 0.1, None), (True, 0.1, None),
                                                  (2, 1.5, None), (2, 0.1, (0.3, 0.2)), (2, 0.1, (-0.1, 0.2))])
def test_retention_campaign_refuses_bad_inputs(ranked, customers, rate, rng):
    with pytest.raises(ParameterError):
        retention_campaign(ranked, customers, rate, save_rate_range=rng)


SCORES = pd.DataFrame({"customer_id": ["a", "b", "c", "d", "e"], "p_churn": [0.9, 0.5, 0.2, 0.1, 0.5],
                       "value_if_alive": [100.0, 400.0, 50.0, 1000.0, 400.0],
                       "driver_description": ["x", "y", "z", "w", "v"]})


def test_ranked_by_value_at_risk_by_default_and_it_says_so():
    lst = at_risk_list(SCORES)
    # value at risk: a 90, b 200, c 10, d 100, e 200 -> b, e (tie broken by id), d, a, c
    assert lst["customer_id"].tolist() == ["b", "e", "d", "a", "c"]
    assert lst["rank"].tolist() == [1, 2, 3, 4, 5] and list(lst.columns[:4]) == ["customer_id", "rank",
                                                                                 "rank_value_at_risk", "rank_risk"]
    assert lst["rank_value_at_risk"].tolist() == [1, 2, 3, 4, 5]
    assert lst["rank_risk"].tolist() == [2, 3, 5, 1, 4]          # risk: a 0.9, b 0.5, e 0.5, c 0.2, d 0.1
    assert lst.attrs["rank_by"] == "value_at_risk"
    assert lst.attrs["ranked_by"] == RANKING_RULES["value_at_risk"]
    assert lst.attrs["ranked_by"].startswith("Ranked by value at risk") and "lower chance" in lst.attrs["ranked_by"]
    # a customer at 10 % ranks above one at 90 %: the sentence is what explains it
    assert lst.set_index("customer_id").loc["d", "rank"] < lst.set_index("customer_id").loc["a", "rank"]


def test_ranked_by_risk_on_request():
    lst = at_risk_list(SCORES, rank_by="risk")
    assert lst["customer_id"].tolist() == ["a", "b", "e", "c", "d"]
    assert lst["rank"].tolist() == lst["rank_risk"].tolist() == [1, 2, 3, 4, 5]
    assert lst["rank_value_at_risk"].tolist() == [4, 1, 2, 5, 3]
    assert (np.diff(lst["p_churn"]) <= 0).all()
    assert lst.attrs["rank_by"] == "risk" and lst.attrs["ranked_by"].startswith("Ranked by risk")
    # the same rows and figures as the value-ranked list, in another order
    by_value = at_risk_list(SCORES).set_index("customer_id").drop(columns="rank")
    pd.testing.assert_frame_equal(lst.set_index("customer_id").drop(columns="rank").loc[by_value.index], by_value)
    # top keeps the head of the chosen order; a campaign contacts the likeliest to go
    assert at_risk_list(SCORES, rank_by="risk", top=2)["customer_id"].tolist() == ["a", "b"]
    campaign = retention_campaign(lst, 1, 0.5)
    assert (campaign["value_at_risk"], campaign["expected_value"]) == (pytest.approx(0.9 * 100), pytest.approx(45.0))


def test_without_values_the_list_is_ranked_by_risk():
    lst = at_risk_list(SCORES, value_col=None)
    assert lst["customer_id"].tolist() == ["a", "b", "e", "c", "d"] and lst["rank"].tolist() == [1, 2, 3, 4, 5]
    assert lst.attrs["ranked_by"] == RANKING_RULES["risk_no_value"] and "unknown" in lst.attrs["ranked_by"]
    with pytest.raises(ParameterError, match="needs a value_col"):
        at_risk_list(SCORES, value_col=None, rank_by="value_at_risk")
    with pytest.raises(ParameterError, match="rank_by"):
        at_risk_list(SCORES, rank_by="value")
