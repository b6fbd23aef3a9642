"""Sessions: hand-worked logs (ties, exact timeout, unsorted input, single events)."""

from __future__ import annotations

import ibis
import pandas as pd
import pytest

from crm_research.engine import collect
from crm_research.errors import CRMError, ParameterError
from crm_research.journey import session_summary, sessions


def _ts(hhmmss: str) -> pd.Timestamp:
    return pd.Timestamp(f"2024-03-01 {hhmmss}", tz="UTC")


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    # rows deliberately not sorted; expected session numbers worked out by hand
    rows = [
        ("A", "10:00:00", "visit"),      # A1
        ("B", "09:00:00", "visit"),      # B: single event -> B1
        ("A", "10:30:00", "view"),       # gap exactly 30 min -> still A1
        ("A", "11:00:01", "cart"),       # gap 30 min 1 s (strictly longer) -> A2
        ("A", "11:00:01", "checkout"),   # tie with the previous row -> A2
        ("C", "09:00:00", "view"),       # C's later event, listed first -> C2
        ("C", "08:00:00", "visit"),      # C1
        ("A", "11:59:59", "purchase"),   # gap 59 min 58 s -> A3
        ("A", "12:29:59", "review"),     # gap exactly 30 min -> A3
    ]
    df = pd.DataFrame(rows, columns=["customer_id", "occurred_at", "event"])
    df["occurred_at"] = df["occurred_at"].map(_ts)
    return df


def test_sessions_by_hand(log):
    out = sessions(log, "30min")
    assert list(out["event"]) == list(log["event"])  # input row order kept
    assert list(out["session_index"]) == [1, 1, 1, 2, 2, 2, 1, 3, 3]
    assert list(out["session_id"]) == ["A:1", "B:1", "A:1", "A:2", "A:2", "C:2", "C:1", "A:3", "A:3"]


def test_sessions_other_timeout(log):
    # with one hour, A's gaps (30 min, 30 min 1 s, 59 min 58 s, 30 min) never exceed it; C's is
    # exactly one hour -> one session each
    out = sessions(log, pd.Timedelta(hours=1))
    assert list(out["session_index"]) == [1] * 9
    # with 30 min - 1 s even the exact 30 min gaps split: A 10:00 | 10:30 | 11:00:01 x2 | 11:59:59 | 12:29:59
    out = sessions(log, "1799s")
    assert list(out["session_index"]) == [1, 1, 2, 3, 3, 2, 1, 4, 5]


def test_session_summary(log):
    s = session_summary(sessions(log, "30min"))
    assert list(s["session_id"]) == ["A:1", "A:2", "A:3", "B:1", "C:1", "C:2"]
    assert list(s["n_events"]) == [2, 2, 2, 1, 1, 1]
    assert list(s["duration_seconds"]) == [1800.0, 0.0, 1800.0, 0.0, 0.0, 0.0]


def test_sessions_lazy_matches_pandas(log):
    t = ibis.memtable(log.assign(row=range(len(log))))
    out = sessions(t, "30min", row_col="row")
    assert isinstance(out, ibis.Table)
    got = collect(out).sort_values("row")
    assert list(got["session_id"]) == list(sessions(log, "30min")["session_id"])


def test_sessions_errors(log):
    with pytest.raises(CRMError, match="user_id"):
        sessions(log, customer_col="user_id")
    bad = log.copy()
    bad.loc[3, "occurred_at"] = pd.NaT
    with pytest.raises(CRMError, match=r"missing timestamp.*rows \[3\]"):
        sessions(bad)
    bad = log.copy()
    bad.loc[2, "customer_id"] = None
    with pytest.raises(CRMError, match=r"customer_id.*rows \[2\]"):
        sessions(bad)
    with pytest.raises(ParameterError, match="timeout"):
        sessions(log, 30)
    with pytest.raises(CRMError, match="timestamps"):
        sessions(log.assign(occurred_at=log["occurred_at"].astype(str)))


@pytest.mark.parametrize("unit", ["ns", "us", "s"])
def test_pandas_keys_equal_the_engine_keys(unit):
    # the numpy route of pandas input against the engine's window on a log full of ties, exact
    # timeouts and unsorted rows (times on a 10-minute grid: many gaps of exactly 30 minutes)
    import numpy as np

    from crm_research.journey import _common as C
    from crm_research.journey.sessions import _session_keys, _session_keys_numpy

    rng = np.random.default_rng(7)
    n = 4000
    df = pd.DataFrame({
        "customer_id": rng.choice([f"C{i:03d}" for i in range(60)], n).astype(object),
        "occurred_at": (pd.Timestamp("2024-01-01", tz="UTC")
                        + pd.to_timedelta(rng.integers(0, 400, n) * 600, unit="s")).astype(f"datetime64[{unit}, UTC]"),
    })
    slim, _ = C.prepare(df, "events", {"customer_col": "customer_id", "time_col": "occurred_at"}, None)
    ids, idx = _session_keys_numpy(slim["customer_id"], slim["occurred_at"], 30 * 60 * 1_000_000)
    engine = _session_keys(slim, 30 * 60 * 1_000_000, "customer_id", "occurred_at", "session_id",
                           "session_index")
    assert list(ids) == list(engine["session_id"]) and list(idx) == list(engine["session_index"])
    assert 100 < len(set(ids)) < n  # sessions of several events and many sessions
    # ids that are not text go through the engine
    assert _session_keys_numpy(pd.Series([1, 2]), slim["occurred_at"][:2], 1) is None
