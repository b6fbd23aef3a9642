"""Funnels against a hand-worked log: ties, loops, repeats, single-event paths, non-converters."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from crm_research.engine import collect
from crm_research.errors import CRMError, ParameterError
from crm_research.journey import funnel, funnel_paths
from journey_logs import random_log

T0 = pd.Timestamp("2024-03-04 10:00", tz="UTC")  # a Monday


def make_log() -> pd.DataFrame:
    """Paths (minutes after T0). Row order matters for the ties (u3, u4)."""
    rows = [
        ("u1", 0, "a", "web"), ("u1", 1, "b", "app"), ("u1", 2, "c", "app"),   # a b c
        ("u2", 0, "b", "web"), ("u2", 1, "a", "app"), ("u2", 2, "c", "app"),   # b before a
        ("u3", 0, "a", "web"), ("u3", 0, "b", "web"),                          # tie: a then b
        ("u4", 0, "b", "app"), ("u4", 0, "a", "app"),                          # tie: b then a
        ("u5", 0, "a", "web"),                                                 # single event
        ("u6", 0, "x", "web"),                                                 # no funnel event
        ("u7", 0, "a", "app"), ("u7", 1, "a", "app"), ("u7", 3, "b", "app"),   # loops, repeats
        ("u7", 4, "a", "app"), ("u7", 10, "b", "app"), ("u7", 11, "c", "app"),
        ("u8", 0, "c", "web"), ("u8", 1, "b", "web"),                          # never step 1
    ]
    df = pd.DataFrame(rows, columns=["customer_id", "minute", "event", "platform"])
    df["occurred_at"] = T0 + pd.to_timedelta(df.pop("minute"), unit="min")
    return df[["customer_id", "occurred_at", "event", "platform"]]


@pytest.fixture(scope="module")
def log():
    return make_log()


def test_closed_funnel_by_hand(log):
    f = funnel(log, ["a", "b", "c"])
    # paths with a funnel event: u1 u2 u3 u4 u5 u7 u8 (u6 has none)
    assert list(f["n_paths"]) == [7, 7, 7]
    # a: u1 u2 u3 u4 u5 u7 | a->b: u1, u3 (tie in input order), u7 | ->c: u1, u7
    assert list(f["n"]) == [6, 3, 2]
    assert list(f["n_prev"]) == [7, 6, 3]
    assert list(f["drop_off"]) == [1, 3, 1]
    np.testing.assert_allclose(f["conversion"], [6 / 7, 3 / 6, 2 / 3])
    np.testing.assert_allclose(f["overall_conversion"], [1.0, 0.5, 1 / 3])
    np.testing.assert_allclose(f["drop_off_rate"], [1 / 7, 0.5, 1 / 3])
    # Wilson 95% interval of 3/6 (textbook value 0.1876 .. 0.8124)
    assert f.loc[1, "conversion_low"] == pytest.approx(0.18762, abs=1e-4)
    assert f.loc[1, "conversion_high"] == pytest.approx(0.81238, abs=1e-4)


def test_funnel_paths_reach_times(log):
    p = funnel_paths(log, ["a", "b", "c"]).set_index("customer_id")
    assert p.loc["u7", "depth"] == 3
    # earliest match: a at minute 0, first b after it at minute 3, c at minute 11
    assert p.loc["u7", "reached_at_2"] == T0 + pd.Timedelta(minutes=3)
    assert p.loc["u7", "reached_at_3"] == T0 + pd.Timedelta(minutes=11)
    assert p.loc["u2", "depth"] == 1 and pd.isna(p.loc["u2", "reached_at_2"])
    assert p.loc["u4", "depth"] == 1
    assert p.loc["u3", "reached_at_2"] == T0
    assert p.loc["u8", "depth"] == 0 and p.loc["u8", "entered_at"] == T0
    assert "u6" not in p.index


def test_open_funnel_by_hand(log):
    f = funnel(log, ["a", "b", "c"], mode="open")
    # a anywhere: 6; b anywhere: u1 u2 u3 u4 u7 u8 = 6; c anywhere: u1 u2 u7 u8 = 4
    assert list(f["n"]) == [6, 6, 4]
    # a and b: u1 u2 u3 u4 u7 = 5; b and c: u1 u2 u7 u8 = 4
    assert list(f["n_from_prev"]) == [6, 5, 4]
    np.testing.assert_allclose(f["conversion"], [6 / 7, 5 / 6, 4 / 6])
    # a and c: u1 u2 u7 = 3 of the 6 with a
    np.testing.assert_allclose(f["overall_conversion"], [1.0, 5 / 6, 0.5])


def test_repeated_step_needs_two_events(log):
    f = funnel(log, ["a", "a", "b"])
    # only u7 has a second a (minute 1), then b at minute 3
    assert list(f["n"]) == [6, 1, 1]


def test_conversion_window_is_inclusive(log):
    # u1: b 60 s and c 120 s after a; u3: b 0 s after a; u7: b 180 s after a
    f = funnel(log, ["a", "b", "c"], window="2min")
    assert list(f["n"]) == [6, 2, 1]
    f = funnel(log, ["a", "b", "c"], window="119s")
    assert list(f["n"]) == [6, 2, 0]
    f = funnel(log, ["a", "b", "c"], window="10min")  # u7's c at 11 min is outside
    assert list(f["n"]) == [6, 3, 1]
    f = funnel(log, ["a", "b", "c"], mode="open", window="1min")
    # open, first funnel event + 1 min: a: u1 u2 u3 u4 u5 u7; b: u1 u2 u3 u4 u8 (u7's b is at
    # 3 min); c: only u8 (c is its first event; u1's and u2's c come at 2 min)
    assert list(f["n"]) == [6, 5, 1]


def test_split_by_entry_event(log):
    f = funnel(log, ["a", "b", "c"], by="platform")
    got = f.set_index(["platform", "step_index"])["n"].to_dict()
    # entry (first a) platform: u1 web, u2 app (a at minute 1), u3 web, u4 app, u5 web, u7 app;
    # u8 has no a: its first funnel event (c) is web
    assert got[("web", 1)] == 3 and got[("app", 1)] == 3
    assert got[("web", 2)] == 2 and got[("app", 2)] == 1  # u1 u3 | u7
    assert got[("web", 3)] == 1 and got[("app", 3)] == 1  # u1 | u7
    assert list(f.loc[f["platform"] == "web", "n_paths"]) == [4, 4, 4]  # u1 u3 u5 u8


def test_period_split_and_sessions(log):
    two = pd.concat([log, log.assign(occurred_at=log["occurred_at"] + pd.Timedelta(days=7),
                                     customer_id=log["customer_id"] + "w2")], ignore_index=True)
    f = funnel(two, ["a", "b", "c"], period="W")
    assert sorted(f["period"].unique()) == [T0.normalize(), T0.normalize() + pd.Timedelta(days=7)]
    assert list(f.loc[f["period"] == T0.normalize(), "n"]) == [6, 3, 2]
    # session paths: null sessions are ignored
    s = log.assign(session_id=np.where(log["customer_id"].isin(["u1", "u7"]), None, log["customer_id"]))
    f = funnel(s, ["a", "b", "c"], path_col="session_id")
    assert list(f["n"]) == [4, 1, 0]  # u2 u3 u4 u5 | u3


def test_lazy_input_gives_lazy_output(log):
    t = ibis.memtable(log.assign(row=np.arange(len(log))))
    out = funnel(t, ["a", "b", "c"], row_col="row")
    assert isinstance(out, ibis.Table)
    pd.testing.assert_frame_equal(collect(out), funnel(log, ["a", "b", "c"]))


def test_funnel_errors(log):
    with pytest.raises(CRMError, match="path_col='session'"):
        funnel(log, ["a", "b"], path_col="session")
    with pytest.raises(ParameterError, match="mode"):
        funnel(log, ["a", "b"], mode="strict")
    with pytest.raises(ParameterError, match="steps"):
        funnel(log, [])
    with pytest.raises(ParameterError, match="window"):
        funnel(log, ["a", "b"], window="-5min")


@pytest.mark.parametrize("mode", ["closed", "open"])
def test_funnel_of_an_empty_log_counts_zero(log, mode):
    f = funnel(log.iloc[:0], ["a", "b", "c"], mode=mode)
    assert f["step"].tolist() == ["a", "b", "c"]
    # counts are 0 (not missing): nobody reached anything; rates are undefined
    for col in ("n_paths", "n", "n_prev", "n_from_prev", "drop_off", "n_first", "n_from_first"):
        assert f[col].tolist() == [0, 0, 0], col
    assert f["conversion"].isna().all() and f["overall_conversion"].isna().all()


@pytest.mark.parametrize("mode", ["closed", "open"])
def test_pandas_funnels_are_the_engine_funnels(mode):
    # pandas input without a split is matched in numpy (a binary search per step); the engine's
    # greedy matching must give the same table on a log full of ties, repeats, null paths and
    # null event names, with and without a conversion window
    from crm_research.journey import _common as C
    from crm_research.journey.funnel import _funnel, _reach_counts_numpy
    from crm_research.stats import z_value

    log = random_log(5, 3000, "us")
    log.loc[::13, "event"] = None
    prepared, rc = C.prepare(log, "events", {"path_col": "customer_id", "time_col": "occurred_at",
                                             "event_col": "event"})
    reached = []
    for steps in (["visit", "view", "cart", "buy"], ["view", "view", "buy"], ["view", "cart", "view", "cart"],
                  ["nowhere", "view"], ["visit", "nowhere", "view"]):
        for window in (None, "30min", "2h"):
            us = None if window is None else C.to_microseconds(window, "window")
            assert _reach_counts_numpy(prepared, steps, "customer_id", mode, us, "occurred_at", "event",
                                       rc) is not None  # the numpy route is taken
            got = funnel(log, steps, mode=mode, window=window)
            want = _funnel(C.for_engine(prepared), steps, "customer_id", mode, us, [], None,
                           "occurred_at", "event", rc, z_value(0.95))
            pd.testing.assert_frame_equal(got, want, check_exact=True)
            reached.append(got["n"].tolist())
    assert len({tuple(r) for r in reached[:9]}) == 9  # each funnel and window counts differently
    assert reached[0][0] > 200 and reached[0][-1] > 10
