"""Segmentation: RFM segments, customer levels, behavioural clusters with personas, cross-sell and upsell.

* :mod:`~crm_research.segments.rfm` — :func:`rfm` (recency, frequency, monetary, 1..5 scores,
  named segments from an overridable rule table), :func:`rfm_summary`, :func:`rfm_grid`;
* :mod:`~crm_research.segments.levels` — :func:`customer_levels` (first-time / repeat /
  advocate), :func:`level_summary`;
* :mod:`~crm_research.segments.features` — :func:`customer_features` (behavioural features
  per buyer for clustering);
* :mod:`~crm_research.segments.clusters` — :class:`CustomerClusters` (k-means, k by
  silhouette, bootstrap stability, plain-word labels), :func:`max_clusters`;
* :mod:`~crm_research.segments.personas` — :func:`persona_table`;
* :mod:`~crm_research.segments.affinity` — :func:`affinities`, :func:`next_best_offers`,
  :func:`product_tiers`, :func:`upsell_offers`, :func:`suggestion_list`;
* :mod:`~crm_research.segments.value` — what-if values of the actions: :func:`winback_value`,
  :func:`cross_sell_value` (with :func:`yearly_spend`, :func:`category_spend`).
"""

from crm_research.segments.affinity import (
    affinities,
    next_best_offers,
    product_tiers,
    suggestion_list,
    upsell_offers,
)
from crm_research.segments.clusters import (
    ARCHETYPE_ACTIONS,
    ARCHETYPES,
    MIN_PER_CLUSTER,
    CustomerClusters,
    max_clusters,
)
from crm_research.segments.features import customer_features, feature_label, features_from_data
from crm_research.segments.levels import LEVELS, customer_levels, level_summary
from crm_research.segments.personas import persona_name, persona_table
from crm_research.segments.rfm import RFMRules, rfm, rfm_grid, rfm_rules, rfm_summary, rule_ranges
from crm_research.segments.value import (
    category_spend,
    cross_sell_value,
    winback_value,
    yearly_spend,
)

__all__ = [
    "rfm", "rfm_rules", "RFMRules", "rfm_summary", "rfm_grid", "rule_ranges",
    "customer_levels", "level_summary", "LEVELS",
    "customer_features", "features_from_data", "feature_label",
    "CustomerClusters", "MIN_PER_CLUSTER", "max_clusters", "ARCHETYPES", "ARCHETYPE_ACTIONS", "persona_table",
    "persona_name",
    "affinities", "next_best_offers", "product_tiers", "upsell_offers", "suggestion_list",
    "yearly_spend", "winback_value", "category_spend", "cross_sell_value",
]
