"""The baseline on the real CDNOW transactions, against values derived here with plain pandas.

CDNOW_master.txt: 69,659 purchases by 23,570 customers who all made their first purchase in
January-March 1997, followed to June 1998 (columns: customer id, date YYYYMMDD, CDs,
dollar value). Each row is taken as one completed order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from crm_research import kpi

CDNOW = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cdnow"
AS_OF = "1998-07-01"


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    path = CDNOW / "CDNOW_master.txt"
    if not path.exists():
        pytest.skip(f"CDNOW data not found at {CDNOW}: the validation dataset lives in ../shared/datasets "
                    "beside the project")
    d = pd.read_csv(path, sep=r"\s+", dtype={"customer_id": str})
    d["date"] = pd.to_datetime(d["date"].astype(str), format="%Y%m%d", utc=True)
    return d


@pytest.fixture(scope="module")
def orders(raw) -> pd.DataFrame:
    return pd.DataFrame({"order_id": np.arange(len(raw)).astype(str), "customer_id": raw["customer_id"],
                         "ordered_at": raw["date"], "amount": raw["dollar_value"], "status": "completed"})


@pytest.fixture(scope="module")
def base(orders) -> pd.DataFrame:
    return kpi.baseline({"orders": orders}, AS_OF, "M")


def series(base, metric):
    s = base[base["metric"] == metric].set_index("period")["value"]
    s.index = s.index.strftime("%Y-%m")
    return s


def test_known_size_of_the_dataset(raw, base):
    assert len(raw) == 69_659 and raw["customer_id"].nunique() == 23_570
    last = kpi.latest(base).set_index("metric")
    assert last.loc["customers", "value"] == 23_570
    new = series(base, "new_customers")
    assert new[["1997-01", "1997-02", "1997-03"]].tolist() == [7846, 8476, 7248]
    assert new.iloc[3:].sum() == 0  # the panel is the Q1-1997 acquisition cohort
    assert len(new) == 18 and new.index[-1] == "1998-06"
    assert set(base.attrs["skipped"]) >= {"nps", "lead_conversion_rate", "advocates"}


def test_monthly_activity_frequency_and_order_value(raw, base):
    month = raw["date"].dt.strftime("%Y-%m")
    g = raw.groupby(month)
    active = g["customer_id"].nunique()
    n = g.size()
    assert (series(base, "active_customers") == active).all()
    assert (series(base, "orders") == n).all()
    assert np.allclose(series(base, "purchase_frequency"), n / active, rtol=0, atol=1e-12)
    assert np.allclose(series(base, "average_order_value"), g["dollar_value"].mean(), rtol=1e-12)
    assert np.allclose(series(base, "revenue"), g["dollar_value"].sum(), rtol=1e-12)
    per_cust = raw.groupby([month, "customer_id"])["dollar_value"].sum().groupby(level=0).mean()
    assert np.allclose(series(base, "revenue_per_customer"), per_cust, rtol=1e-12)
    # intervals: Student t on the month's order values
    may = raw.loc[month == "1997-05", "dollar_value"]
    r = base[(base["metric"] == "average_order_value") & (base["period"] == pd.Timestamp("1997-05-01", tz="UTC"))].iloc[0]
    lo, hi = stats.t.interval(0.95, len(may) - 1, loc=may.mean(), scale=stats.sem(may))
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((lo, hi), rel=1e-9)
    # January 1997 (acquisition): 8,928 orders by 7,846 buyers
    assert (active["1997-01"], n["1997-01"]) == (7846, 8928)


def test_repeat_rate_and_historical_value_at_each_month_end(raw, base):
    rep = series(base, "repeat_purchase_rate")
    hcv = series(base, "historical_customer_value")
    for end in pd.date_range("1997-02-01", "1998-07-01", freq="MS", tz="UTC"):
        before = raw[raw["date"] < end]
        counts = before.groupby("customer_id").size()
        label = (end - pd.Timedelta(days=1)).strftime("%Y-%m")
        assert rep[label] == pytest.approx((counts >= 2).mean(), abs=1e-12), label
        assert hcv[label] == pytest.approx(before["dollar_value"].sum() / len(counts), rel=1e-12), label
    totals = raw.groupby("customer_id")["dollar_value"].sum()
    assert rep["1998-06"] == pytest.approx(11_662 / 23_570, abs=1e-12)  # 49.5% placed two or more orders
    r = kpi.latest(base).set_index("metric").loc["historical_customer_value"]
    lo, hi = stats.t.interval(0.95, len(totals) - 1, loc=totals.mean(), scale=stats.sem(totals))
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((lo, hi), rel=1e-9)


def test_retention_and_cohorts(raw, orders, base):
    month = raw["date"].dt.strftime("%Y-%m")
    act = raw.groupby(month)["customer_id"].agg(set)
    ret = series(base, "retention_rate")
    for prev, cur in zip(act.index[:-1], act.index[1:], strict=True):
        assert ret[cur] == pytest.approx(len(act[prev] & act[cur]) / len(act[prev]), abs=1e-12)
    c = kpi.cohort_retention(orders, AS_OF, "M")
    first = raw.groupby("customer_id")["date"].min().dt.strftime("%Y-%m")
    jan = set(first[first == "1997-01"].index)
    for age, m in ((1, "1997-02"), (6, "1997-07"), (17, "1998-06")):
        cell = c[(c["cohort"] == pd.Timestamp("1997-01-01", tz="UTC")) & (c["age"] == age)].iloc[0]
        assert cell["customers"] == 7846
        assert cell["active"] == len(jan & act[m])
    assert c["cohort"].nunique() == 3 and len(c) == 18 + 17 + 16
