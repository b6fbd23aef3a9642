"""Persona table: what each behavioural cluster looks like and what to do about it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_research.errors import CRMError, ParameterError
from crm_research.segments.clusters import ARCHETYPE_ACTIONS, CustomerClusters, label_columns

__all__ = ["persona_table", "persona_name"]

MIXED = "mixed: high "
"""Start of the label of a cluster that fits no archetype (see :class:`CustomerClusters`)."""


def _dominant(frame: pd.DataFrame, prefix: str) -> pd.Series:
    cols = sorted(c for c in frame.columns if c.startswith(prefix))
    if not cols:
        return pd.Series("", index=frame.index)
    means = frame[cols]
    best = means.to_numpy().argmax(axis=1)
    name = np.array([c[len(prefix):] for c in cols], dtype=object)[best]
    return pd.Series(np.where(means.isna().all(axis=1), "", name), index=frame.index)


def persona_table(features: pd.DataFrame, clusters: CustomerClusters | pd.DataFrame, *, churn_days: float = 180.0,
                  actions: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per cluster: size, value, typical behaviour, churn and a suggested action.

    Parameters
    ----------
    features : DataFrame
        Output of :func:`~crm_research.segments.features.customer_features`.
    clusters : CustomerClusters or DataFrame
        A fitted :class:`CustomerClusters` or its ``labels_`` table (indexed by, or with a column, ``customer_id``;
        ``cluster``, ``label``). Only the labelled customers count.
    churn_days : float
        A customer counts as churned when their last order is at least this many days before
        ``as_of`` (``recency_days >= churn_days``; days).
    actions : dict, optional
        Label → suggested action; default :data:`ARCHETYPE_ACTIONS`.

    Returns
    -------
    DataFrame
        Sorted by cluster: ``cluster``, ``label``, ``customers``, ``customer_share`` (0..1),
        ``revenue`` (currency, sum of ``monetary``), ``revenue_share`` (0..1 of the clustered
        customers' revenue; both left out when the features have no ``monetary``), ``median_recency_days`` (days), ``median_frequency`` (orders),
        ``median_monetary``, ``median_aov`` (currency), ``median_orders_per_30d`` (orders per
        30 days), ``promo_share`` (mean share of orders with a code), ``dominant_channel``,
        ``dominant_platform``, ``top_category``, ``top_tier`` (largest mean share; each left
        out when the features have no channel, platform, category or tier shares),
        ``mean_nps`` (0..10, answerers only), ``churn_rate`` (0..1), ``action``.

    Examples
    --------
    >>> from crm_research import synthetic
    >>> from crm_research.segments.features import features_from_data
    >>> tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> features = features_from_data(tables, "2026-01-01")
    >>> model = CustomerClusters(k_range=(2, 4), n_bootstrap=0, seed=1).fit(features)
    >>> p = persona_table(features, model)
    >>> p[["label", "customers"]].values.tolist()
    [['loyal', 37], ['bargain', 30], ['premium', 17], ['occasional', 14]]
    """
    if churn_days <= 0:
        raise ParameterError(f"churn_days must be positive, got {churn_days}")
    labels = label_columns(clusters.labels_ if isinstance(clusters, CustomerClusters) else clusters)
    for c in ("customer_id", "cluster", "label"):
        if c not in labels.columns:
            raise CRMError(f"cluster labels have no column {c!r}: pass a fitted CustomerClusters or its labels_")
    for c in ("customer_id", "recency_days", "frequency"):
        if c not in features.columns:
            raise CRMError(f"features table has no column {c!r}: compute it with segments.customer_features")
    acts = dict(ARCHETYPE_ACTIONS if actions is None else actions)
    df = labels[["customer_id", "cluster", "label"]].merge(features, on="customer_id", how="inner", validate="1:1")
    if df.empty:
        raise CRMError("no labelled customer is in the features table: use the same features as for fitting")
    g = df.groupby("cluster", sort=True)
    out = pd.DataFrame({"label": g["label"].first(), "customers": g.size()})
    out["customer_share"] = out["customers"] / out["customers"].sum()
    if "monetary" in df.columns:   # orders without amounts: no revenue columns
        out["revenue"] = g["monetary"].sum()
        out["revenue_share"] = out["revenue"] / out["revenue"].sum()
    for col in ("recency_days", "frequency", "monetary", "aov", "orders_per_30d"):
        if col in df.columns:
            out[f"median_{col}"] = g[col].median()
    if "promo_share" in df.columns:
        out["promo_share"] = g["promo_share"].mean()
    means = g.mean(numeric_only=True)
    for col, prefix in (("dominant_channel", "channel_"), ("dominant_platform", "platform_"),
                        ("top_category", "category_"), ("top_tier", "tier_")):
        if any(c.startswith(prefix) for c in means.columns):   # left out when the data has no such feature
            out[col] = _dominant(means, prefix)
    if "nps" in df.columns:
        out["mean_nps"] = g["nps"].mean()
    out["churn_rate"] = g["recency_days"].apply(lambda s: float((s >= churn_days).mean()))
    out["action"] = [
        acts.get(lab, f"Mixed profile: test offers in {cat or 'their main category'} and watch the response.")
        for lab, cat in zip(out["label"], out.get("top_category", pd.Series("", index=out.index)), strict=True)
    ]
    out.index.name = "cluster"
    return out.reset_index()


def persona_name(label: str, feature_label=None) -> str:
    """A cluster label in client words: ``premium`` → "Premium", ``mixed: high tier_3`` → "Mixed
    (high price tier 3)".

    Parameters
    ----------
    label : str
        A label of ``CustomerClusters.cluster_labels_`` (archetype name, or "mixed: high
        <feature>", with a "+" per repeat).
    feature_label : callable, optional
        ``feature_label(column)`` → readable feature name; default
        :func:`crm_research.segments.features.feature_label`.

    Examples
    --------
    >>> from crm_research.segments.features import feature_label
    >>> persona_name("loyal big spenders"), persona_name("mixed: high aov, tenure_days", feature_label)
    ('Loyal big spenders', 'Mixed (high aov, tenure_days)')
    """
    from crm_research.segments.features import feature_label as default_feature_label

    label = str(label)
    if label.startswith(MIXED):
        rest = label[len(MIXED):]
        plus = len(rest) - len(rest.rstrip("+"))
        feat = (feature_label or default_feature_label)(rest.rstrip("+"))
        return f"Mixed (high {feat[:1].lower() + feat[1:]})" + (f" {plus + 1}" if plus else "")
    return label[:1].upper() + label[1:]
