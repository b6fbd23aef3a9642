"""Time to target: reachers and Kaplan–Meier on a hand-worked log."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm_research.journey import reach_curve, summarise_time_to, time_to, time_to_paths

D0 = pd.Timestamp("2024-01-01", tz="UTC")
AS_OF = D0 + pd.Timedelta(days=10)


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    rows = [
        ("p1", 0, "signup"), ("p1", 3, "purchase"),                      # 3 days
        ("p2", 0, "signup"), ("p2", 1, "view"),                          # censored at 10
        ("p3", 0, "purchase"),                                           # no signup
        ("p4", 2, "purchase"), ("p4", 2, "signup"),                      # tie: purchase first
        ("p5", 1, "signup"), ("p5", 5, "purchase"), ("p5", 7, "purchase"),  # 4 days
        ("p6", 1, "signup"), ("p6", 11, "purchase"),                     # after as_of: censored 9
    ]
    df = pd.DataFrame(rows, columns=["customer_id", "day", "event"])
    df["occurred_at"] = D0 + pd.to_timedelta(df.pop("day"), unit="D")
    return df


def test_paths_by_hand(log):
    p = time_to_paths(log, "purchase", AS_OF, start_event="signup").set_index("customer_id")
    assert list(p.index) == ["p1", "p2", "p4", "p5", "p6"]  # p3 never signed up
    assert list(p["reached"]) == [True, False, False, True, False]
    # p4: the purchase precedes the signup in input order at the same instant -> not after it
    np.testing.assert_allclose(p["duration"], [3, 10, 8, 4, 9])
    assert p.loc["p5", "reached_at"] == D0 + pd.Timedelta(days=5)
    # from the first event instead: p3 starts with its purchase and never buys again
    q = time_to_paths(log, "purchase", AS_OF).set_index("customer_id")
    assert q.loc["p3", "reached"] == np.False_ and q.loc["p3", "duration"] == 10.0
    assert q.loc["p4", "reached"] == np.False_  # starts with its purchase, no later one
    # repeat purchase: p5 buys again 2 days later
    r = time_to_paths(log, "purchase", AS_OF, start_event="purchase", unit="h").set_index("customer_id")
    assert r.loc["p5", "duration"] == 48.0 and r.loc["p5", "reached"]


def test_summary_by_hand(log):
    s = time_to(log, "purchase", AS_OF, start_event="signup", horizons=(3, 7)).iloc[0]
    assert (s["n_paths"], s["n_reached"]) == (5, 2)
    assert s["share_reached"] == 0.4
    assert s["median_reachers"] == 3.5 and s["p90_reachers"] == pytest.approx(3.9)
    # KM: events at 3 and 4 (5 and 4 at risk), censored 8, 9, 10: S(3) = 0.8, S(4) = 0.6
    assert s["km_reached_3D"] == pytest.approx(0.2)
    assert s["km_reached_7D"] == pytest.approx(0.4)
    assert np.isinf(s["km_median"])  # never reaches 50%


def test_curve_and_groups(log):
    p = time_to_paths(log, "purchase", AS_OF, start_event="signup")
    c = reach_curve(p)
    assert c.loc[c["duration"] == 4.0, "reached"].iloc[0] == pytest.approx(0.4)
    p["group"] = ["x", "x", "y", "y", "y"]
    s = summarise_time_to(p, by="group", horizons=(5,)).set_index("group")
    assert s.loc["x", "km_median"] == 3.0  # x: event at 3, censored at 10 -> S(3) = 0.5
    assert s.loc["y", "km_reached_5D"] == pytest.approx(1 / 3)


def test_lazy_matches_pandas(log):
    import ibis

    from crm_research.engine import collect

    t = ibis.memtable(log.assign(row=np.arange(len(log))))
    out = time_to_paths(t, "purchase", AS_OF, start_event="signup", row_col="row")
    assert isinstance(out, ibis.Table)
    pd.testing.assert_frame_equal(collect(out),
                                  time_to_paths(log, "purchase", AS_OF, start_event="signup"))


def test_no_path_gives_the_same_columns(log):
    paths = time_to_paths(log, "purchase", AS_OF, start_event="never")
    assert paths.empty
    full = summarise_time_to(time_to_paths(log, "purchase", AS_OF))
    empty = summarise_time_to(paths)
    assert list(empty.columns) == list(full.columns)
    assert empty.loc[0, "n_paths"] == 0 and np.isnan(empty.loc[0, "km_median"])
    curve = reach_curve(paths)
    assert curve.empty and list(curve.columns) == ["duration", "reached", "low", "high", "at_risk"]
