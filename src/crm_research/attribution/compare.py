"""All attribution models side by side, with bootstrap intervals, and their agreement with a truth."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from crm_research.attribution.base import AttributionModel
from crm_research.attribution.bootstrap import bootstrap
from crm_research.attribution.markov import MarkovAttribution
from crm_research.attribution.pathdata import path_data
from crm_research.attribution.rules import FirstTouch, LastTouch, Linear, PositionBased, TimeDecay
from crm_research.attribution.shapley import ShapleyAttribution
from crm_research.errors import CRMError

__all__ = ["default_models", "compare_models", "rank_agreement"]


def default_models(with_time_decay: bool = True, half_life_days: float = 7.0) -> list[AttributionModel]:
    """The standard line-up: five rules, Markov of order 1 and 2, and both Shapley games.

    Parameters
    ----------
    with_time_decay : bool
        Include :class:`TimeDecay` (it needs touch times: a journey table, not a path table).
    half_life_days : float
        Its half-life (days).

    Examples
    --------
    >>> [m.name for m in default_models(with_time_decay=False)]
    ['first_touch', 'last_touch', 'linear', 'position_based', 'markov_1', 'markov_2', 'shapley_conversions', 'shapley_incremental']
    """
    models: list[AttributionModel] = [FirstTouch(), LastTouch(), Linear(), PositionBased()]
    if with_time_decay:
        models.append(TimeDecay(half_life_days=half_life_days))
    models += [MarkovAttribution(order=1), MarkovAttribution(order=2), ShapleyAttribution(game="conversions"),
               ShapleyAttribution(game="incremental")]
    return models


def compare_models(paths, models: Sequence[AttributionModel] | None = None, *, n_boot: int = 200,
                   seed: int = 0, conf: float = 0.95, **path_cols) -> pd.DataFrame:
    """Fit every model with bootstrap intervals: one long comparison table.

    Parameters
    ----------
    paths : DataFrame or PathData
        Journey or path table (read once).
    models : sequence of AttributionModel, optional
        Default :func:`default_models` (time decay only when the paths carry touch times).
    n_boot : int
        Bootstrap replicates per model (0: point estimates only, no intervals).
    seed : int
        Seed of the resampling (the same replicates for every model).
    conf : float
        Confidence level.

    Returns
    -------
    DataFrame
        One row per model and channel, models in the given order, channels sorted:
        ``model``, ``channel``, ``conversions`` (count), ``conversions_low``,
        ``conversions_high``, ``share`` (of the model's attributed conversions),
        ``value``, ``value_low``, ``value_high`` (currency), ``rank`` (1 = most conversions
        in the model; ties share the lower rank).

    Examples
    --------
    >>> t = pd.DataFrame({"path": ["email > search", "display > email", "search", "display", ""],
    ...                   "total_conversions": [30, 10, 20, 0, 15], "total_null": [20, 40, 30, 50, 185]})
    >>> c = compare_models(t, [LastTouch(), MarkovAttribution()], n_boot=0)
    >>> c[["model", "channel", "conversions", "share", "rank"]].round(3)
            model  channel  conversions  share  rank
    0  last_touch  display        0.000  0.000     3
    1  last_touch    email       10.000  0.167     2
    2  last_touch   search       50.000  0.833     1
    3    markov_1  display       10.244  0.171     3
    4    markov_1    email       20.488  0.341     2
    5    markov_1   search       29.268  0.488     1
    """
    data = path_data(paths, **path_cols)
    if models is None:
        models = default_models(with_time_decay=data.days is not None)
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise CRMError(f"two models have the same name in {names}: give each model different parameters")
    frames = []
    for m in models:
        if n_boot:
            f = bootstrap(m, data, n_boot=n_boot, seed=seed, conf=conf)
        else:
            f = m.fit(data).credits_[["model", "channel", "conversions", "value"]].copy()
            for k in ("conversions_low", "conversions_high", "value_low", "value_high"):
                f[k] = np.nan
        total = f["conversions"].sum()
        f["share"] = f["conversions"] / total if total > 0 else 0.0
        f["rank"] = f["conversions"].rank(ascending=False, method="min").astype(int)
        frames.append(f[["model", "channel", "conversions", "conversions_low", "conversions_high", "share",
                         "value", "value_low", "value_high", "rank"]])
    return pd.concat(frames, ignore_index=True)


def rank_agreement(comparison: pd.DataFrame, truth: Mapping[str, float], *, metric: str = "conversions"
                   ) -> pd.DataFrame:
    """How each model's channel ranking agrees with a known truth (e.g. planted incremental effects).

    Parameters
    ----------
    comparison : DataFrame
        Output of :func:`compare_models` (columns model, channel and ``metric``).
    truth : mapping of str to float
        True value per channel (larger = better); channels missing from a model count as 0.
    metric : str
        Column of ``comparison`` to rank by.

    Returns
    -------
    DataFrame
        One row per model: ``model``, ``ranking`` (channels best first, ``" > "``-joined),
        ``true_ranking``, ``exact`` (same order), ``spearman``, ``kendall``, ``top_matches``
        (how many leading positions agree).

    Examples
    --------
    >>> c = pd.DataFrame({"model": "last_touch", "channel": ["display", "email", "search"],
    ...                   "conversions": [0.0, 10.0, 50.0]})
    >>> rank_agreement(c, {"email": 30.0, "search": 20.0, "display": 5.0})[["ranking", "spearman", "top_matches"]]
                        ranking  spearman  top_matches
    0  search > email > display       0.5            0
    """
    from scipy import stats  # imported here: scipy.stats costs about 1 CPU s at import

    chans = sorted(truth)
    t = np.array([truth[c] for c in chans], dtype=float)
    true_order = [chans[i] for i in np.argsort(-t, kind="stable")]
    rows = []
    for model, g in comparison.groupby("model", sort=False):
        est = g.set_index("channel")[metric].reindex(chans).fillna(0.0).to_numpy(dtype=float)
        order = [chans[i] for i in np.argsort(-est, kind="stable")]
        top = 0
        for a, b in zip(order, true_order, strict=True):
            if a != b:
                break
            top += 1
        rows.append({
            "model": model,
            "ranking": " > ".join(order),
            "true_ranking": " > ".join(true_order),
            "exact": order == true_order,
            "spearman": float(stats.spearmanr(est, t).statistic),
            "kendall": float(stats.kendalltau(est, t).statistic),
            "top_matches": top,
        })
    return pd.DataFrame(rows)
