"""Uncertainty of any attribution model by bootstrap over journeys.

Each replicate draws as many journeys as observed, with replacement, and refits the model on
them. Journeys are resampled as counts: with ``N`` journeys in cells (a journey-table row, or
the converting and the non-converting part of a path-table row), a replicate is one multinomial
draw of ``N`` over the cells with probabilities ``count / N`` -- the same distribution as
resampling the journeys one by one. A resampled converting cell keeps its mean value per
conversion (exact for journey tables, where a cell is one journey). The paths are parsed and
the model's path-dependent work done once (``_prepare``); only the counts change per replicate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_research.attribution.base import AttributionModel
from crm_research.attribution.pathdata import path_data
from crm_research.errors import CRMError

__all__ = ["bootstrap", "bootstrap_replicates"]


def bootstrap_replicates(model: AttributionModel, paths, *, n_boot: int = 200, seed: int = 0,
                         **path_cols) -> dict:
    """Point estimates and bootstrap replicates of a model's credits.

    Parameters
    ----------
    model : AttributionModel
        An (unfitted or fitted) model; its parameters are used, it is not modified.
    paths : DataFrame or PathData
        Journey or path table (counts must be whole numbers).
    n_boot : int
        Replicates.
    seed : int
        Seed of the resampling.

    Returns
    -------
    dict
        ``channels`` (names), ``conversions`` and ``value`` (point estimates, shape (C,)),
        ``conversions_boot`` and ``value_boot`` (shape (n_boot, C)); likewise every other
        per-channel column of the model (e.g. ``removal_effect`` and ``removal_effect_boot``,
        ``incremental_conversions`` and ``incremental_conversions_boot``). Without any journey
        the replicates are NaN.

    Examples
    --------
    >>> from crm_research.attribution import LastTouch
    >>> t = pd.DataFrame({"path": ["email > search", "display > email", "search", "display", ""],
    ...                   "total_conversions": [30, 10, 20, 0, 15], "total_null": [20, 40, 30, 50, 185]})
    >>> rep = bootstrap_replicates(LastTouch(), t, n_boot=50, seed=1)
    >>> rep["channels"].tolist(), rep["conversions"].tolist(), rep["conversions_boot"].shape
    (['display', 'email', 'search'], [0.0, 10.0, 50.0], (50, 3))
    """
    if int(n_boot) < 1:
        raise CRMError(f"n_boot={n_boot!r} must be a positive number of replicates, e.g. 200")
    data = path_data(paths, **path_cols)
    cells = np.concatenate([data.conv, data.null])
    if not np.allclose(cells, np.round(cells)):
        raise CRMError("bootstrap over journeys needs whole-number journey counts; the path table has "
                       "fractional total_conversions or total_null")
    cells = np.round(cells)
    n = int(cells.sum())
    prep = model._prepare(data)
    point = model._attribute(prep, data.conv, data.null, data.value)
    rng = np.random.default_rng(seed)
    R = data.n_rows
    mean_value = np.divide(data.value, data.conv, out=np.zeros(R), where=data.conv > 0)
    C = len(data.channels)
    keys = [k for k in point if not k.startswith("_")]
    boot = {k: np.empty((int(n_boot), C)) for k in keys}
    if n == 0:  # nothing to resample: no ranges
        for key in keys:
            boot[key][:] = np.nan
    probs = cells / max(n, 1)
    for b in range(int(n_boot) if n else 0):
        k = rng.multinomial(n, probs).astype(float)
        conv, null = k[:R], k[R:]
        out = model._attribute(prep, conv, null, conv * mean_value)
        for key in keys:
            boot[key][b] = out[key]
    result = {"channels": data.channels}
    for key in keys:
        result[key] = np.asarray(point[key], dtype=float)
        result[f"{key}_boot"] = boot[key]
    return result


def bootstrap(model: AttributionModel, paths, *, n_boot: int = 200, seed: int = 0, conf: float = 0.95,
              **path_cols) -> pd.DataFrame:
    """Percentile bootstrap intervals of a model's attributed conversions and value per channel.

    Parameters
    ----------
    model : AttributionModel
        Model to refit on every replicate.
    paths : DataFrame or PathData
        Journey or path table.
    n_boot : int
        Replicates (200 gives interval ends to about ±1.5 percentage points of coverage).
    seed : int
        Seed of the resampling; same data, model and seed give the same intervals bit for bit.
    conf : float
        Confidence level of the intervals.

    Returns
    -------
    DataFrame
        One row per channel (sorted): ``model``, ``channel``, ``conversions`` (point estimate,
        count), ``conversions_low``, ``conversions_high``, ``conversions_se`` (bootstrap standard
        deviation), ``value``, ``value_low``, ``value_high``, ``value_se`` (currency),
        ``n_boot``.
    """
    if not 0 < conf < 1:
        raise CRMError(f"conf={conf!r} must be strictly between 0 and 1, e.g. 0.95")
    rep = bootstrap_replicates(model, paths, n_boot=n_boot, seed=seed, **path_cols)
    a = (1 - conf) / 2
    out = pd.DataFrame({"model": model.name, "channel": rep["channels"].astype(object)})
    for key in ("conversions", "value"):
        boot = rep[f"{key}_boot"]
        out[key] = rep[key]
        out[f"{key}_low"] = np.quantile(boot, a, axis=0)
        out[f"{key}_high"] = np.quantile(boot, 1 - a, axis=0)
        out[f"{key}_se"] = boot.std(axis=0, ddof=1) if len(boot) > 1 else np.nan
    out["n_boot"] = int(n_boot)
    return out
