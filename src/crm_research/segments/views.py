"""The segmentation report's tables and words: what notebook 02 shows, built from the analysis tables.

Small functions the notebook calls so that it holds no loops, joins or helper definitions:
the per-customer table an audience is built from (:func:`customer_table`), the offers of the
cross-sell and upsell lists (:func:`offer_table`, :func:`offer_names`), the price range of each
tier (:func:`tier_ranges`), the checks against a synthetic company's planted segments and
affinities (:func:`truth_clusters`, :func:`truth_affinities`) and a list in words
(:func:`and_list`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import pandas as pd

from crm_research.exprs import require_columns
from crm_research.segments.clusters import label_columns
from crm_research.settings import and_list  # noqa: F401 - segments.and_list

__all__ = ["and_list", "customer_table", "offer_table", "offer_names", "tier_ranges", "truth_clusters",
           "truth_affinities", "LEVEL_COLUMNS"]

LEVEL_COLUMNS = ["customer_id", "level", "n_referrals", "latest_nps"]
"""Columns of :func:`~crm_research.segments.levels.customer_levels` kept in :func:`customer_table`."""


def customer_table(scores: pd.DataFrame, levels: pd.DataFrame, clusters: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per buyer: RFM scores and segment, customer level and, when clustered, the cluster.

    Parameters
    ----------
    scores : DataFrame
        :func:`~crm_research.segments.rfm.rfm` output (one row per buyer).
    levels : DataFrame
        :func:`~crm_research.segments.levels.customer_levels` output.
    clusters : DataFrame, optional
        ``CustomerClusters.labels_`` (indexed by ``customer_id``: ``cluster``, ``label``); its ``label``
        becomes ``cluster_label``. Buyers not clustered (too few orders) get ``<NA>``.

    Returns
    -------
    DataFrame
        The columns of ``scores``, then ``level``, ``n_referrals``, ``latest_nps`` and, with
        ``clusters``, ``cluster`` (Int64) and ``cluster_label``; in the order of ``scores``.

    Examples
    --------
    >>> scores = pd.DataFrame({"customer_id": ["a", "b"], "segment": ["champions", "lost"]})
    >>> levels = pd.DataFrame({"customer_id": ["b", "a"], "level": ["first-time", "repeat"],
    ...                        "n_referrals": [0, 1], "latest_nps": [np.nan, 9.0]})
    >>> labels = pd.DataFrame({"customer_id": ["a"], "cluster": [1], "label": ["loyal"]})
    >>> customer_table(scores, levels, labels)[["customer_id", "level", "latest_nps", "cluster", "cluster_label"]]
      customer_id       level  latest_nps  cluster cluster_label
    0           a      repeat         9.0        1         loyal
    1           b  first-time         NaN     <NA>           NaN
    """
    require_columns(levels, "levels", LEVEL_COLUMNS, hint="pass the output of segments.customer_levels")
    out = scores.merge(levels[LEVEL_COLUMNS], on="customer_id", how="left")
    if clusters is not None:
        out = out.merge(label_columns(clusters).rename(columns={"label": "cluster_label"}), on="customer_id", how="left")
        out["cluster"] = out["cluster"].astype("Int64")
    return out


def offer_table(suggestions: pd.DataFrame) -> pd.DataFrame:
    """Buyers per offer of a suggestion list, the most common first within each kind.

    Parameters
    ----------
    suggestions : DataFrame
        :func:`~crm_research.segments.affinity.suggestion_list` output (``customer_id``,
        ``kind``, ``offer``).

    Returns
    -------
    DataFrame
        ``kind``, ``offer``, ``customers`` (distinct buyers offered it); sorted by kind, then
        customers (descending), then offer.

    Examples
    --------
    >>> s = pd.DataFrame({"customer_id": [1, 2, 2, 3], "kind": ["cross-sell", "cross-sell", "upsell", "cross-sell"],
    ...                   "offer": ["home", "books", "P7", "books"]})
    >>> offer_table(s)
             kind offer  customers
    0  cross-sell books          2
    1  cross-sell  home          1
    2      upsell    P7          1
    """
    require_columns(suggestions, "suggestions", ["customer_id", "kind", "offer"],
                    hint="pass the output of segments.suggestion_list")
    return (suggestions.groupby(["kind", "offer"], as_index=False).agg(customers=("customer_id", "nunique"))
            .sort_values(["kind", "customers", "offer"], ascending=[True, False, True]))


def offer_names(offers: pd.DataFrame, label: Callable[[str, object], str], tiers: pd.DataFrame | None = None,
                products: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Offers in a client's words: a category by its label, a product with its category and tier.

    Parameters
    ----------
    offers : DataFrame
        ``kind`` (``cross-sell`` or ``upsell``) and ``offer`` (a category, or a product id).
    label : callable
        ``label(kind, value)``: the readable name of a category (e.g. ``ReportSettings.label``).
    tiers : DataFrame, optional
        :func:`~crm_research.segments.affinity.product_tiers` output; without it products are
        named by their code only.
    products : mapping, optional
        The engagement's own product names, by product id (as text); codes stay otherwise.

    Returns
    -------
    DataFrame
        ``offers`` with ``offer`` in words and ``kind`` as "Cross-sell" / "Upsell".

    Examples
    --------
    >>> offers = pd.DataFrame({"kind": ["cross-sell", "upsell"], "offer": ["home", "P7"]})
    >>> tiers = pd.DataFrame({"product_id": ["P7"], "category": ["home"], "tier": [3]})
    >>> offer_names(offers, lambda kind, v: str(v).title(), tiers, {"P7": "Oak table"})
             kind                           offer
    0  Cross-sell                            Home
    1      Upsell  Oak table (Home, price tier 3)
    """
    known = ({} if tiers is None else
             tiers.drop_duplicates("product_id").set_index("product_id")[["category", "tier"]].to_dict("index"))
    own = dict(products or {})

    def name(kind, offer) -> str:
        if kind == "cross-sell":
            return label("categories", offer)
        p = known.get(offer)
        shown = own.get(str(offer), str(offer))  # product codes stay as they are unless the engagement names them
        return shown if p is None else f"{shown} ({label('categories', p['category'])}, price tier {p['tier']})"

    return offers.assign(offer=[name(k, o) for k, o in zip(offers["kind"], offers["offer"], strict=True)],
                         kind=offers["kind"].map({"cross-sell": "Cross-sell", "upsell": "Upsell"}))


def tier_ranges(tiers: pd.DataFrame) -> pd.DataFrame:
    """The products and price range of each category's price tiers.

    Parameters
    ----------
    tiers : DataFrame
        :func:`~crm_research.segments.affinity.product_tiers` output (``category``, ``tier``,
        ``product_id``, ``price``).

    Returns
    -------
    DataFrame
        ``category``, ``tier``, ``products`` (count), ``lowest_price``, ``highest_price``
        (currency); one row per category and tier.

    Examples
    --------
    >>> t = pd.DataFrame({"category": ["home"] * 3, "tier": [1, 1, 2], "product_id": ["a", "b", "c"],
    ...                   "price": [5.0, 8.0, 20.0]})
    >>> tier_ranges(t)
      category  tier  products  lowest_price  highest_price
    0     home     1         2           5.0            8.0
    1     home     2         1          20.0           20.0
    """
    return (tiers.groupby(["category", "tier"], as_index=False)
            .agg(products=("product_id", "size"), lowest_price=("price", "min"), highest_price=("price", "max")))


def truth_clusters(labels: pd.DataFrame, planted_customers: pd.DataFrame) -> tuple[float, pd.DataFrame]:
    """The clusters against a synthetic company's planted segments.

    Parameters
    ----------
    labels : DataFrame
        ``CustomerClusters.labels_`` (indexed by ``customer_id``: ``cluster``, ``label``).
    planted_customers : DataFrame
        The planted customers (``customer_id``, ``segment``).

    Returns
    -------
    ari : float
        Adjusted Rand index between clusters and planted segments (1: the same groups; about 0
        for unrelated ones).
    mix : DataFrame
        Share (0-1) of each cluster (index: ``label``) in each planted segment (columns); rows
        sum to 1.

    Examples
    --------
    >>> labels = pd.DataFrame({"customer_id": [1, 2, 3, 4], "cluster": [0, 0, 1, 1], "label": ["x", "x", "y", "y"]})
    >>> planted = pd.DataFrame({"customer_id": [1, 2, 3, 4], "segment": ["a", "a", "b", "a"]})
    >>> ari, mix = truth_clusters(labels, planted)
    >>> round(ari, 3), mix.loc["y"].tolist()
    (0.0, [0.5, 0.5])
    """
    from sklearn.metrics import adjusted_rand_score

    matched = label_columns(labels).merge(planted_customers[["customer_id", "segment"]], on="customer_id")
    ari = float(adjusted_rand_score(matched["segment"], matched["cluster"]))
    mix = pd.crosstab(matched["label"], matched["segment"], normalize="index").rename_axis(columns=None)
    return ari, mix


def truth_affinities(pairs: pd.DataFrame, planted: Iterable[Mapping]) -> pd.DataFrame:
    """Where each planted category affinity ranks among the measured pairs.

    Parameters
    ----------
    pairs : DataFrame
        :func:`~crm_research.segments.affinity.affinities` output, strongest first.
    planted : iterable of mapping
        The planted affinities (``antecedent``, ``consequent``, ``p``: the probability of
        adding the consequent to an order holding the antecedent).

    Returns
    -------
    DataFrame
        ``antecedent``, ``consequent``, ``planted_probability``, ``rank_by_lift`` (1 =
        strongest; NaN when the pair is not common enough to count), ``lift``, ``confidence``.

    Examples
    --------
    >>> pairs = pd.DataFrame({"antecedent": ["tv", "pen"], "consequent": ["cable", "ink"], "lift": [2.1, 1.2],
    ...                       "confidence": [0.47, 0.2]})
    >>> truth_affinities(pairs, [{"antecedent": "tv", "consequent": "cable", "p": 0.55}])
      antecedent consequent  planted_probability  rank_by_lift  lift  confidence
    0         tv      cable                 0.55             1   2.1        0.47
    """
    ranked = pairs.assign(rank_by_lift=range(1, len(pairs) + 1))
    found = (pd.DataFrame(list(planted)).rename(columns={"p": "planted_probability"})
             .merge(ranked, on=["antecedent", "consequent"], how="left"))
    return found[["antecedent", "consequent", "planted_probability", "rank_by_lift", "lift", "confidence"]]
