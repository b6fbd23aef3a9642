"""Transitions against the hand-worked log of test_journey_funnel."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from crm_research.engine import collect
from crm_research.journey import transitions
from journey_logs import random_log

T0 = pd.Timestamp("2024-03-04 10:00", tz="UTC")


def make_log() -> pd.DataFrame:
    """The log of test_journey_funnel (minutes after T0; row order matters for ties):
    u1 a0 b1 c2 | u2 b0 a1 c2 | u3 a0 b0 | u4 b0 a0 | u5 a0 | u6 x0 | u7 a0 a1 b3 a4 b10 c11 |
    u8 c0 b1."""
    rows = [
        ("u1", 0, "a", "web"), ("u1", 1, "b", "app"), ("u1", 2, "c", "app"),
        ("u2", 0, "b", "web"), ("u2", 1, "a", "app"), ("u2", 2, "c", "app"),
        ("u3", 0, "a", "web"), ("u3", 0, "b", "web"),
        ("u4", 0, "b", "app"), ("u4", 0, "a", "app"),
        ("u5", 0, "a", "web"),
        ("u6", 0, "x", "web"),
        ("u7", 0, "a", "app"), ("u7", 1, "a", "app"), ("u7", 3, "b", "app"),
        ("u7", 4, "a", "app"), ("u7", 10, "b", "app"), ("u7", 11, "c", "app"),
        ("u8", 0, "c", "web"), ("u8", 1, "b", "web"),
    ]
    df = pd.DataFrame(rows, columns=["customer_id", "minute", "event", "platform"])
    df["occurred_at"] = T0 + pd.to_timedelta(df.pop("minute"), unit="min")
    return df[["customer_id", "occurred_at", "event", "platform"]]


@pytest.fixture(scope="module")
def tr():
    t = transitions(make_log())
    return t.set_index(["from_event", "to_event"])


def test_counts_and_probabilities_by_hand(tr):
    n = tr["n"].to_dict()
    assert n[("(start)", "a")] == 4  # u1 u3 u5 u7
    assert n[("(start)", "b")] == 2  # u2 u4
    assert n[("(start)", "c")] == 1 and n[("(start)", "x")] == 1
    assert n[("a", "b")] == 4        # u1, u3 (tie), u7 twice
    assert n[("a", "a")] == 1        # u7 self-loop kept
    assert n[("a", "c")] == 1        # u2
    assert n[("a", "(end)")] == 2    # u4 (tie: b then a), u5 (single event)
    assert n[("b", "a")] == 3        # u2, u4, u7
    assert n[("b", "c")] == 2 and n[("b", "(end)")] == 2
    assert n[("c", "(end)")] == 3 and n[("c", "b")] == 1
    assert n[("x", "(end)")] == 1
    assert sum(n.values()) == 28     # 20 events + 8 paths
    p = tr["probability"].to_dict()
    assert p[("(start)", "a")] == 0.5
    assert p[("a", "b")] == 0.5      # 4 of the 8 moves leaving a
    assert p[("b", "a")] == pytest.approx(3 / 7)
    assert p[("c", "(end)")] == 0.75


def test_time_between_by_hand(tr):
    # a -> b: u1 60 s, u3 0 s, u7 120 s and 360 s; sorted 0 60 120 360
    assert tr.loc[("a", "b"), "median_seconds"] == 90.0
    assert tr.loc[("a", "b"), "p90_seconds"] == pytest.approx(120 + 0.7 * 240)
    # b -> a: u2 60, u4 0, u7 60
    assert tr.loc[("b", "a"), "median_seconds"] == 60.0
    assert tr.loc[("a", "a"), "median_seconds"] == 60.0
    assert np.isnan(tr.loc[("(start)", "a"), "median_seconds"])
    assert np.isnan(tr.loc[("a", "(end)"), "p90_seconds"])


def test_collapse_loops():
    t = transitions(make_log(), collapse_loops=True).set_index(["from_event", "to_event"])
    assert ("a", "a") not in t.index
    # u7 a0 a1 | b3: the run of a counts once, time from its last event (a1) = 120 s
    assert t.loc[("a", "b"), "n"] == 4
    assert t.loc[("(start)", "a"), "n"] == 4
    assert t["n"].sum() == 27
    assert t.loc[("a", "b"), "probability"] == pytest.approx(4 / 7)


def test_custom_states_and_split():
    t = transitions(make_log(), by="platform", start_state="S", end_state="E")
    web = t[t["platform"] == "web"].set_index(["from_event", "to_event"])["n"].to_dict()
    # web rows: u1 a0; u2 b0; u3 a0 b0; u5 a0; u6 x0; u8 c0 b1
    assert web[("S", "a")] == 3 and web[("S", "b")] == 1 and web[("S", "c")] == 1
    assert web[("a", "b")] == 2  # u1 (from a, web), u3
    assert web[("c", "b")] == 1 and web[("b", "E")] == 2  # u3, u8
    probs = t.groupby(["platform", "from_event"])["probability"].sum()
    np.testing.assert_allclose(probs, 1.0)


def test_lazy():
    log = make_log()
    t = ibis.memtable(log.assign(row=np.arange(len(log))))
    out = transitions(t, row_col="row")
    assert isinstance(out, ibis.Table)
    pd.testing.assert_frame_equal(collect(out), transitions(log))


def test_quantiles_equal_numpy_linear_on_random_gaps():
    """The quantiles are computed by ranking (a sort that spills to disk on big logs) instead of
    DuckDB's grouped quantile aggregate (which ran out of 6 GB on 50M events): they must equal
    the linear-interpolation quantiles, for groups of odd and even size, ties and one value."""
    rng = np.random.default_rng(5)
    rows, t0 = [], pd.Timestamp("2025-01-01", tz="UTC")
    for u in range(400):
        k = int(rng.integers(1, 9))
        gaps = np.cumsum(rng.integers(0, 5, size=k) * 30.0 + rng.integers(0, 1000, size=k) / 1000)
        ev = rng.choice(["a", "b", "c"], size=k)
        rows += [{"customer_id": f"u{u}", "occurred_at": t0 + pd.Timedelta(seconds=float(g)), "event": e}
                 for g, e in zip(gaps, ev, strict=True)]
    log = pd.DataFrame(rows)
    log["occurred_at"] = pd.to_datetime(log["occurred_at"], utc=True).astype("datetime64[us, UTC]")
    got = transitions(log).set_index(["from_event", "to_event"])
    s = log.sort_values(["customer_id", "occurred_at"], kind="stable")
    nxt = s.groupby("customer_id")[["event", "occurred_at"]].shift(-1)
    pairs = pd.DataFrame({"f": s["event"], "t": nxt["event"],
                          "dt": (nxt["occurred_at"] - s["occurred_at"]).dt.total_seconds()}).dropna()
    checked = 0
    for (f, t), grp in pairs.groupby(["f", "t"]):
        med, p90 = np.quantile(grp["dt"].to_numpy(), [0.5, 0.9])
        assert got.loc[(f, t), "median_seconds"] == pytest.approx(med, rel=1e-12, abs=1e-9)
        assert got.loc[(f, t), "p90_seconds"] == pytest.approx(p90, rel=1e-12, abs=1e-9)
        checked += 1
    assert checked == 9


@pytest.mark.parametrize("lazy", [False, True])
def test_counts_without_times_are_the_counts_with_times(lazy):
    # friction's loop-backs read only the counts: times=False skips the exact quantiles
    log = ibis.memtable(make_log()) if lazy else make_log()
    for collapse in (False, True):
        full = collect(transitions(log, by="platform", collapse_loops=collapse))
        counts = collect(transitions(log, by="platform", collapse_loops=collapse, times=False))
        pd.testing.assert_frame_equal(counts.drop(columns=["median_seconds", "p90_seconds"]),
                                      full.drop(columns=["median_seconds", "p90_seconds"]))
        assert counts[["median_seconds", "p90_seconds"]].isna().all().all()
        assert full["median_seconds"].notna().sum() > 5 and full["n"].sum() > 20


def _engine_transitions(log: pd.DataFrame, collapse: bool = False, times: bool = True) -> pd.DataFrame:
    from crm_research.journey import _common as C
    from crm_research.journey.transitions import _transitions

    cols = {"path_col": "customer_id", "time_col": "occurred_at", "event_col": "event"}
    prepared, rc = C.prepare(log, "events", cols)
    return _transitions(C.for_engine(prepared), "customer_id", "occurred_at", "event", rc, [],
                        collapse, "(start)", "(end)", times)


@pytest.mark.parametrize("unit", ["ns", "us", "s"])
def test_pandas_transitions_are_the_engine_transitions_bit_for_bit(unit):
    # pandas input without a split is counted in numpy; the engine's window, counts and
    # quantiles must come out the same, value for value and bit for bit
    from crm_research.journey import _common as C
    from crm_research.journey.transitions import _transitions_numpy

    log = random_log(3, 3000, unit)
    prepared, rc = C.prepare(log, "events", {"path_col": "customer_id", "time_col": "occurred_at",
                                             "event_col": "event"})
    assert _transitions_numpy(prepared, "customer_id", "occurred_at", "event", rc, False,
                              "(start)", "(end)", True) is not None  # the numpy route is taken
    for collapse, times in ((False, True), (True, True), (False, False)):
        got = transitions(log, collapse_loops=collapse, times=times)
        pd.testing.assert_frame_equal(got, _engine_transitions(log, collapse, times), check_exact=True)
    assert len(got) == 35 and got["n"].sum() > 3000  # 5 × 6 pairs and 5 starts
    timed = transitions(log)["median_seconds"]
    assert timed.notna().sum() == 25 and (timed % 1 != 0).any()  # interpolated quantiles


def test_logs_outside_the_numpy_route_are_counted_on_the_engine():
    # declined: a null event name, one named like the end state, names holding a NUL character
    # (pandas' string hash table stops at it); taken: integer ids, categories, naive times, more
    # names than the pairs table holds densely, times finer than the engine's microseconds
    from crm_research.journey import _common as C
    from crm_research.journey.transitions import _transitions_numpy

    log = random_log(4, 400, "us")
    many = np.array([f"/page/{i}" for i in range(150)], dtype=object)[np.arange(400) % 150]
    finer = log["occurred_at"].astype("datetime64[ns, UTC]") + pd.to_timedelta(np.arange(400) % 999, unit="ns")
    declined = {"null event": log.assign(event=log["event"].where(np.arange(400) % 17 != 3, None)),
                "end state": log.assign(event=log["event"].replace("buy", "(end)")),
                "NUL": log.assign(event=log["event"].replace({"buy": "x\x00", "cart": "x\x00y", "view": "x"}))}
    taken = {"integer paths": log.assign(customer_id=log["customer_id"].str[1:].astype("Int64")),
             "categories": log.assign(event=log["event"].astype("category")),
             "naive times": log.assign(occurred_at=log["occurred_at"].dt.tz_localize(None)),
             "many names": log.assign(event=many),
             "nanoseconds": log.assign(occurred_at=finer)}
    for name, v in {**declined, **taken}.items():
        prepared, rc = C.prepare(v, "events", {"path_col": "customer_id", "time_col": "occurred_at",
                                               "event_col": "event"})
        route = _transitions_numpy(prepared, "customer_id", "occurred_at", "event", rc, False,
                                   "(start)", "(end)", True)
        assert (route is None) == (name in declined), name
        for collapse in (False, True):
            pd.testing.assert_frame_equal(transitions(v, collapse_loops=collapse),
                                          _engine_transitions(v, collapse), check_exact=True)
    assert len(transitions(declined["NUL"])) == 35  # x, x\0 and x\0y stay three of five events
    pd.testing.assert_frame_equal(transitions(taken["nanoseconds"]), transitions(log))  # truncated


def test_quantiles_are_the_engines_quantile_cont_bit_for_bit():
    # DuckDB's build interpolates as one fused multiply-add, fma(lo, 1 - d, hi * d); the plain
    # formula lo + (hi - lo) * d differs in the last bit for some groups, which this test must see
    import duckdb

    from crm_research.journey.transitions import _fma, _interpolation, _quantile_cont

    fused = _interpolation()
    assert fused is not None  # the numpy route knows how this DuckDB interpolates
    rng = np.random.default_rng(0)
    size = rng.integers(1, 40, 2000)
    values = np.concatenate([np.sort(rng.integers(0, 10**7, s) / 1e6) for s in size])
    offset = np.concatenate([[0], np.cumsum(size)[:-1]])
    frame = pd.DataFrame({"g": np.repeat(np.arange(len(size)), size), "x": values})
    con = duckdb.connect()
    con.register("frame", frame)
    want = con.sql("select g, quantile_cont(x, [0.5, 0.9]) q from frame group by g order by g").df()
    want = np.array(want["q"].tolist())
    for i, q in enumerate((0.5, 0.9)):
        got = _quantile_cont(values, offset, size, q, fused)
        assert (got == want[:, i]).all()
        rn = (size - 1) * q
        lo, hi = values[offset + np.floor(rn).astype(int)], values[offset + np.ceil(rn).astype(int)]
        assert ((lo + (hi - lo) * (rn - np.floor(rn))) != want[:, i]).sum() > 0
    # the fused multiply-add is rounded once: exact rationals, rounded, on random triples
    from fractions import Fraction

    a, b, c = (rng.random(20_000) * 10.0 ** rng.integers(-8, 9, 20_000) for _ in range(3))
    exact = np.array([float(Fraction(x) * Fraction(y) + Fraction(z)) for x, y, z in zip(a, b, c, strict=True)])
    assert (_fma(a, b, c) == exact).all() and (a * b + c != exact).sum() > 1000
