"""The KPI baseline in a client's words: values with units, partial latest periods (crm_research.kpi)."""

import numpy as np
import pandas as pd
import pytest

from crm_research import kpi
from crm_research.kpi import present
from crm_research.settings import from_dict

EUR = from_dict({"currency": {"code": "EUR", "symbol": "€", "decimals": 2}})


def _orders(days, start="2025-01-01"):
    at = pd.Timestamp(start, tz="UTC") + pd.to_timedelta(days, unit="D")
    return pd.DataFrame({"customer_id": [f"c{i % 40}" for i in range(len(at))], "ordered_at": at,
                         "amount": 10.0})


@pytest.mark.parametrize("metric, value, shown", [
    ("retention_rate", 0.5599, "56.0%"), ("average_order_value", 153.916, "€153.92"),
    ("revenue", 282449.3, "€282,449"), ("active_customers", 1103.0, "1,103"),
    ("first_response_hours_median", 4.34, "4.3 h"), ("csat_mean", 3.954, "3.95 of 5"),
    ("nps", -7.22, "−7"), ("new_customers_per_week", 43.81, "43.8 a week")])
def test_value_text_in_the_metric_unit(metric, value, shown):
    assert present.value_text(metric, value, EUR) == shown


def test_range_and_change_text():
    assert present.range_text("retention_rate", 0.53, 0.589, EUR) == "53.0% to 58.9%"
    assert present.range_text("revenue", float("nan"), float("nan"), EUR) == ""
    assert present.change_text("retention_rate", 0.50, 0.523, EUR) == "+2.3 pts"
    assert present.change_text("revenue", 100.0, 112.4, EUR) == "+12.4%"
    assert present.period_text(pd.Timestamp("2025-12-01"), "M", EUR, partial=True) == "Dec 2025 (partial)"


def test_partial_latest_when_as_of_falls_inside_the_period():
    orders = _orders(range(0, 350))
    k = kpi.baseline({"orders": orders}, "2025-12-10", "M", periods=3)
    partial = kpi.partial_latest({"orders": orders}, k)
    assert set(partial) == set(k["metric"]) and "falls inside it" in partial["orders"]
    wide = present.wide_table(k, EUR, partial=partial)
    assert wide.columns[-1] == "Dec 2025 (partial)"


def test_partial_latest_when_a_table_stops_early():
    orders = _orders(range(0, 365))  # an order a day through 2025
    customers = pd.DataFrame({"customer_id": [f"c{i}" for i in range(40)],
                              "signup_at": pd.Timestamp("2024-12-01", tz="UTC")})
    extra = pd.DataFrame({"customer_id": [f"n{i}" for i in range(330)],  # a sign-up a day, stopping on 1 Dec
                          "signup_at": pd.Timestamp("2025-01-05", tz="UTC") + pd.to_timedelta(range(330), unit="D")})
    data = {"orders": orders, "customers": pd.concat([customers, extra], ignore_index=True)}
    k = kpi.baseline(data, "2026-01-01", "M", periods=3)
    partial = kpi.partial_latest(data, k)
    assert set(partial) == {"new_contacts", "lead_conversion_rate"}
    assert "customers table holds no row after 2025-11-30" in partial["new_contacts"]
    latest = present.latest_table(kpi.latest(k), EUR, partial)
    assert latest.set_index("kpi").loc["New contacts", "value"].endswith("(partial period)")
    # complete data: nothing partial
    assert kpi.partial_latest({"orders": orders}, kpi.baseline({"orders": orders}, "2026-01-01", "M", periods=3)) == {}


def test_a_table_of_dates_alone_is_complete_up_to_its_last_date():
    """An export with dates and no times (CDNOW's) puts each day's rows at its midnight: 50 orders
    every day of December, the last ones on the 31st, leave December complete; no row on the
    31st is a silent day, at 50 a day a stopped table."""
    days = pd.date_range("2025-09-01", "2025-12-31", freq="D", tz="UTC")
    orders = pd.DataFrame({"customer_id": [f"c{i % 700}" for i in range(50 * len(days))],
                           "ordered_at": np.repeat(days, 50), "amount": 10.0})
    k = kpi.baseline({"orders": orders}, "2026-01-01", "M", periods=3)
    assert kpi.partial_latest({"orders": orders}, k) == {}
    cut = orders[orders["ordered_at"] < "2025-12-31"]
    partial = kpi.partial_latest({"orders": cut}, kpi.baseline({"orders": cut}, "2026-01-01", "M", periods=3))
    assert partial["orders"] == "the orders table holds no row after 2025-12-30"
