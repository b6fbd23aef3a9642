"""The at-risk list's value at risk with its range, and a retention campaign's expected value."""

from __future__ import annotations

import pandas as pd
import pytest

from crm_research.churn import at_risk_list, retention_campaign, value_at_risk_range
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
