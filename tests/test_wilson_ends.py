"""The Wilson interval (crm_research.stats) holds its observed share at k = 0 and k = n.

The formula's end lands a hair inside the share there (1 - 1e-16 for 10 of 10; 5e-17 for 0 of
7), and a plot's error bar then comes out negative (05 stopped on it). The package had four copies
of the interval; issue 18 left one, in crm_research.stats, and this test checks it and its
engine twin."""

from __future__ import annotations

import numpy as np
import pytest

from crm_research import stats

N = np.arange(1, 400, dtype=float)
K = np.r_[np.zeros_like(N), N]
NN = np.r_[N, N]


def _raw_misses() -> int:
    """How many of these ends the bare formula gets wrong (the test can fail without the clamp)."""
    z = 1.959963984540054
    p = K / NN
    den = 1 + z * z / NN
    c = (p + z * z / (2 * NN)) / den
    h = z * np.sqrt(p * (1 - p) / NN + z * z / (4 * NN * NN)) / den
    return int(((c - h) > p).sum() + ((c + h) < p).sum())


@pytest.mark.parametrize("interval", [
    lambda k, n: stats.wilson(k, n),
    lambda k, n: stats.wilson(k, n, z=stats.z_value(0.95)),
    lambda k, n: tuple(np.array(x) for x in zip(*(stats.wilson(a, b) for a, b in zip(k, n, strict=True)),
                                                 strict=True)),
], ids=["arrays", "given_z", "scalars"])
def test_the_interval_holds_the_share_at_none_and_all(interval):
    assert _raw_misses() > 100
    lo, hi = interval(K, NN)
    p = K / NN
    assert (lo <= p).all() and (p <= hi).all() and (lo >= 0).all() and (hi <= 1).all()
    assert (lo[K == 0] == 0).all() and (hi[K == NN] == 1).all()


def test_the_engine_interval_equals_the_numpy_one():
    import ibis
    import pandas as pd

    df = pd.DataFrame({"k": [0, 3, 10, 7, 0], "n": [7, 10, 10, 100, 0]})
    t = ibis.memtable(df)
    z = stats.z_value(0.9)
    lo, hi = stats.wilson_expr(t.k, t.n, z)
    got = ibis.duckdb.connect().execute(t.select(lo=lo, hi=hi))
    want_lo, want_hi = stats.wilson(df.k, df.n, z=z)
    assert np.allclose(got.lo[:4], want_lo[:4], atol=1e-12) and np.allclose(got.hi[:4], want_hi[:4], atol=1e-12)
    assert got.lo.isna().iloc[4] and np.isnan(want_lo[4])
    # 3 of 10 at 90 %: 0.1269 to 0.5583 (Wilson 1927; e.g. R's prop.test(3, 10, conf.level=0.9, correct=FALSE))
    assert round(float(want_lo[1]), 4) == 0.1269 and round(float(want_hi[1]), 4) == 0.5583
