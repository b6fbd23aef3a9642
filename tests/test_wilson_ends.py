"""Every Wilson interval of the package holds its observed share at k = 0 and k = n.

The formula's end lands a hair inside the share there (1 - 1e-16 for 10 of 10; 5e-17 for 0 of
7), and a plot's error bar then comes out negative (05 stopped on it). The package has four copies
of the interval (issue 18 merges them); each is checked here."""

from __future__ import annotations

import numpy as np
import pytest

from crm_research.attribution.performance import wilson_interval
from crm_research.churn.classifier import _wilson
from crm_research.journey._common import wilson as journey_wilson
from crm_research.kpi.intervals import wilson as kpi_wilson

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
    lambda k, n: kpi_wilson(k, n),
    lambda k, n: journey_wilson(k, n),
    lambda k, n: wilson_interval(k, n),
    lambda k, n: tuple(np.array(x) for x in zip(*(_wilson(a, int(b)) for a, b in zip(k, n, strict=True)),
                                                 strict=True)),
], ids=["kpi", "journey", "attribution", "churn"])
def test_the_interval_holds_the_share_at_none_and_all(interval):
    assert _raw_misses() > 100
    lo, hi = interval(K, NN)
    p = K / NN
    assert (lo <= p).all() and (p <= hi).all() and (lo >= 0).all() and (hi <= 1).all()
    assert (lo[K == 0] == 0).all() and (hi[K == NN] == 1).all()
