"""Top path variants and Sankey flows, worked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm_research.journey import path_flows, top_paths

T0 = pd.Timestamp("2024-02-01 12:00", tz="UTC")
SESSIONS = {
    "s1": ["visit", "view", "view", "cart", "purchase", "review"],
    "s2": ["visit", "view", "cart"],
    "s3": ["visit", "view"],
    "s4": ["purchase"],
    "s5": ["visit", "view", "cart", "checkout", "purchase"],
    "s6": ["visit", "view", "cart"],
}


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    rows = [(s, T0 + pd.Timedelta(minutes=i), e) for s, evs in SESSIONS.items() for i, e in enumerate(evs)]
    return pd.DataFrame(rows, columns=["session_id", "occurred_at", "event"])


def test_top_paths_by_hand(log):
    t = top_paths(log)
    assert list(t["variant"]) == ["visit > view > cart", "(target first)", "visit > view",
                                  "visit > view > cart > checkout"]
    assert list(t["n_paths"]) == [3, 1, 1, 1]
    assert list(t["n_converted"]) == [1, 1, 0, 1]  # s1 (loops collapsed) of s1 s2 s6
    np.testing.assert_allclose(t["conversion_rate"], [1 / 3, 1, 0, 1])
    np.testing.assert_allclose(t["share"], [0.5, 1 / 6, 1 / 6, 1 / 6])
    assert list(t["rank"]) == [1, 2, 3, 4]


def test_top_paths_options(log):
    t = top_paths(log, max_steps=2, n=2)
    assert list(t["variant"]) == ["visit > view > …", "(target first)"]
    assert list(t["n_paths"]) == [4, 1] and list(t["n_converted"]) == [2, 1]
    t = top_paths(log, collapse_loops=False)
    assert "visit > view > view > cart" in set(t["variant"])
    t = top_paths(log, target=None, n=1)
    assert t["variant"].iloc[0] == "visit > view > cart"  # s2, s6
    assert t["conversion_rate"].isna().all()


def test_path_flows_by_hand(log):
    f = path_flows(log, 3)
    got = {(r.step, r.from_event, r.to_event): r.n for r in f.itertuples()}
    assert got == {(1, "visit", "view"): 5, (1, "purchase", "(end)"): 1,
                   (2, "view", "cart"): 4, (2, "view", "(end)"): 1}


def test_lazy_matches_pandas(log):
    import ibis

    from crm_research.engine import collect

    t = ibis.memtable(log.assign(row=np.arange(len(log))))
    out = top_paths(t, row_col="row")
    assert isinstance(out, ibis.Table)
    pd.testing.assert_frame_equal(collect(out), top_paths(log))
    pd.testing.assert_frame_equal(collect(path_flows(t, 3, row_col="row")), path_flows(log, 3))
