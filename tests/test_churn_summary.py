"""rfm_summary and calibration_holdout_summary: hand-worked cases, engine laziness, CDNOW rows."""

from __future__ import annotations

from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pytest

from crm_research.churn import calibration_holdout_summary, rfm_summary
from crm_research.errors import CRMError, ParameterError

CDNOW = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cdnow"


def _ts(s):
    return pd.Timestamp(s).tz_convert("UTC") if pd.Timestamp(s).tzinfo else pd.Timestamp(s, tz="UTC")


@pytest.fixture()
def orders():
    rows = [
        # customer A: two orders on 1 Jan (one purchase day), 8 Jan twice (once written in
        # UTC+1 local time, 00:30 on 9 Jan = 23:30 UTC on 8 Jan), 15 Jan; a cancelled order
        # and an order after the observation end that must not count
        ("A", "2024-01-01T09:00:00+00:00", 10.0, "completed"),
        ("A", "2024-01-01T18:00:00+00:00", 5.0, "completed"),
        ("A", "2024-01-08T23:30:00+00:00", 20.0, "completed"),
        ("A", "2024-01-09T00:30:00+01:00", 4.0, "completed"),
        ("A", "2024-01-15T12:00:00+00:00", 30.0, "completed"),
        ("A", "2024-01-20T12:00:00+00:00", 100.0, "cancelled"),
        ("A", "2024-02-01T12:00:00+00:00", 999.0, "completed"),
        ("B", "2024-01-10T08:00:00+00:00", 7.0, "completed"),
        ("C", "2024-02-05T08:00:00+00:00", 50.0, "completed"),
    ]
    df = pd.DataFrame(rows, columns=["customer_id", "ordered_at", "amount", "status"])
    df["ordered_at"] = [_ts(s) for s in df["ordered_at"]]
    df["ordered_at"] = df["ordered_at"].astype("datetime64[ns, UTC]")
    return df


def test_hand_worked_days(orders):
    s = rfm_summary(orders, as_of="2024-02-01", time_unit="D")
    # A: purchase days 1, 8, 15 Jan -> 2 repeats; recency 14 days; T = 31 Jan - 1 Jan = 30 days;
    # repeat days are worth 20 + 4 = 24 and 30 -> mean 27. B: one day, T = 21. C: after the end.
    assert s["customer_id"].tolist() == ["A", "B"]
    a, b = s.iloc[0], s.iloc[1]
    assert (a["frequency"], a["recency"], a["T"], a["monetary_value"]) == (2, 14.0, 30.0, 27.0)
    assert (b["frequency"], b["recency"], b["T"], b["monetary_value"]) == (0, 0.0, 21.0, 0.0)


def test_weeks_are_days_over_seven(orders):
    d = rfm_summary(orders, as_of="2024-02-01", time_unit="D")
    w = rfm_summary(orders, as_of="2024-02-01", time_unit="W")
    assert np.allclose(w["recency"], d["recency"] / 7) and np.allclose(w["T"], d["T"] / 7)
    assert (w["frequency"] == d["frequency"]).all()
    assert np.allclose(w["monetary_value"], d["monetary_value"])


def test_status_filter_can_be_switched_off(orders):
    s = rfm_summary(orders, as_of="2024-02-01", status_col=None)
    a = s.iloc[0]
    # the cancelled order on 20 Jan now counts as a fourth purchase day
    assert (a["frequency"], a["recency"], a["monetary_value"]) == (3, 19.0, (24 + 30 + 100) / 3)


def test_lazy_table_in_lazy_table_out(orders):
    con = ibis.duckdb.connect()
    t = con.create_table("orders", orders)
    lazy = rfm_summary(t, as_of="2024-02-01")
    assert isinstance(lazy, ibis.expr.types.Table)
    pd.testing.assert_frame_equal(lazy.to_pandas(), rfm_summary(orders, as_of="2024-02-01"))


def test_calibration_holdout(orders):
    s = calibration_holdout_summary(orders, calibration_as_of="2024-01-11", as_of="2024-02-01")
    a = s.set_index("customer_id").loc["A"]
    # calibration: days 1 and 8 Jan -> 1 repeat, recency 7, T 9, mean repeat value 24;
    # holdout 11-31 Jan: 15 Jan (30.0); 21 days long
    assert (a["frequency"], a["recency"], a["T"], a["monetary_value"]) == (1, 7.0, 9.0, 24.0)
    assert (a["frequency_holdout"], a["monetary_value_holdout"], a["duration_holdout"]) == (1, 30.0, 21.0)
    b = s.set_index("customer_id").loc["B"]
    assert (b["frequency"], b["T"], b["frequency_holdout"], b["monetary_value_holdout"]) == (0, 0.0, 0, 0.0)
    assert "C" not in s["customer_id"].tolist()


def test_bad_input_is_named(orders):
    with pytest.raises(CRMError, match="no column"):
        rfm_summary(orders, date_col="when", as_of="2024-02-01")
    with pytest.raises(ParameterError, match="time_unit"):
        rfm_summary(orders, as_of="2024-02-01", time_unit="M")
    with pytest.raises(ParameterError, match="as_of is required"):
        rfm_summary(orders, None)
    with pytest.raises(ParameterError, match="after calibration_as_of"):
        calibration_holdout_summary(orders, calibration_as_of="2024-02-01", as_of="2024-01-11")


def read_cdnow_sample() -> pd.DataFrame:
    path = CDNOW / "CDNOW_sample.txt"
    if not path.exists():
        pytest.skip(f"CDNOW data not found at {CDNOW}: the validation dataset lives in ../shared/datasets "
                    "beside the project")
    df = pd.read_csv(path, sep=r"\s+", header=None, names=["master_id", "customer_id", "date", "cds", "value"],
                     dtype={"master_id": str, "customer_id": str, "date": str})
    df["date"] = pd.to_datetime(df["date"], format="%Y%m%d")
    return df


def test_cdnow_rows_match_fader_hardie():
    df = read_cdnow_sample()
    s = rfm_summary(df, "1997-10-01", customer_col="customer_id", date_col="date", value_col="value", time_unit="W")
    assert len(s) == 2357
    # the first rows of Fader, Hardie & Lee's CDNOW calibration data (x, t_x, T in weeks)
    first = s.set_index("customer_id").loc[["0001", "0002", "0003"], ["frequency", "recency", "T"]].round(2)
    assert first.to_numpy().tolist() == [[2, 30.43, 38.86], [1, 1.71, 38.86], [0, 0.0, 38.86]]
    # the Gamma-Gamma sample: 946 customers with a repeat purchase in the calibration period
    assert int((s["frequency"] > 0).sum()) == 946
