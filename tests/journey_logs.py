"""Random event logs for the journey tests that compare the numpy routes with the engine."""

from __future__ import annotations

import numpy as np
import pandas as pd


def random_log(seed: int, n: int, unit: str) -> pd.DataFrame:
    """A log full of ties (times on a coarse grid, many at the same second), revisits, self-loops,
    events outside any path and sub-second gaps, in no particular row order."""
    rng = np.random.default_rng(seed)
    millis = (rng.integers(0, 3000, n) * rng.choice([1, 60, 3600], n)) * 1000 + rng.integers(0, 1000, n)
    log = pd.DataFrame({
        "customer_id": np.array([f"c{i}" for i in rng.integers(0, max(n // 8, 1), n)], dtype=object),
        "occurred_at": (pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(millis, unit="ms"))
        .astype(f"datetime64[{unit}, UTC]"),
        "event": rng.choice(["view", "cart", "buy", "visit", "é"], n).astype(object),
    })
    log.loc[rng.random(n) < 0.05, "customer_id"] = None
    return log
