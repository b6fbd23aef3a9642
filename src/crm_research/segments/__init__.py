"""Segmentation: RFM segments, customer levels, behavioural clusters with personas, cross-sell and upsell.

* :mod:`~crm_research.segments.rfm` — :func:`rfm` (recency, frequency, monetary, 1..5 scores,
  named segments from an overridable rule table), :func:`segment_summary` (size and value per segment), :func:`rfm_grid`;
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
  :func:`cross_sell_value` (with :func:`yearly_spend`, :func:`category_spend`);
* :mod:`~crm_research.segments.views` — the report's tables and words: :func:`customer_table`,
  :func:`offer_table`, :func:`offer_names`, :func:`tier_ranges`, :func:`truth_clusters`,
  :func:`truth_affinities`, :func:`and_list`;
* :mod:`~crm_research.segments.story` — the report's sentences (findings, actions, notes).
"""

from crm_research import _lazy

_EXPORTS = {
    "affinities": "crm_research.segments.affinity:affinities",
    "next_best_offers": "crm_research.segments.affinity:next_best_offers",
    "product_tiers": "crm_research.segments.affinity:product_tiers",
    "suggestion_list": "crm_research.segments.affinity:suggestion_list",
    "upsell_offers": "crm_research.segments.affinity:upsell_offers",
    "ARCHETYPE_ACTIONS": "crm_research.segments.clusters:ARCHETYPE_ACTIONS",
    "ARCHETYPES": "crm_research.segments.clusters:ARCHETYPES",
    "MIN_PER_CLUSTER": "crm_research.segments.clusters:MIN_PER_CLUSTER",
    "CustomerClusters": "crm_research.segments.clusters:CustomerClusters",
    "max_clusters": "crm_research.segments.clusters:max_clusters",
    "customer_features": "crm_research.segments.features:customer_features",
    "feature_label": "crm_research.segments.features:feature_label",
    "features_from_data": "crm_research.segments.features:features_from_data",
    "LEVELS": "crm_research.segments.levels:LEVELS",
    "customer_levels": "crm_research.segments.levels:customer_levels",
    "level_summary": "crm_research.segments.levels:level_summary",
    "persona_name": "crm_research.segments.personas:persona_name",
    "persona_table": "crm_research.segments.personas:persona_table",
    "RFMRules": "crm_research.segments.rfm:RFMRules",
    "rfm": "crm_research.segments.rfm:rfm",
    "rfm_grid": "crm_research.segments.rfm:rfm_grid",
    "rfm_rules": "crm_research.segments.rfm:rfm_rules",
    "segment_summary": "crm_research.segments.rfm:segment_summary",
    "rule_ranges": "crm_research.segments.rfm:rule_ranges",
    "category_spend": "crm_research.segments.value:category_spend",
    "cross_sell_value": "crm_research.segments.value:cross_sell_value",
    "winback_value": "crm_research.segments.value:winback_value",
    "yearly_spend": "crm_research.segments.value:yearly_spend",
    "and_list": "crm_research.segments.views:and_list",
    "story": "crm_research.segments.story",
    "customer_table": "crm_research.segments.views:customer_table",
    "offer_names": "crm_research.segments.views:offer_names",
    "offer_table": "crm_research.segments.views:offer_table",
    "tier_ranges": "crm_research.segments.views:tier_ranges",
    "truth_affinities": "crm_research.segments.views:truth_affinities",
    "truth_clusters": "crm_research.segments.views:truth_clusters",
}
"""Public name -> where it comes from; each module is imported on first use of one of its names
(:mod:`crm_research._lazy`), so importing a few names does not load every model library."""

__all__ = [
    "rfm", "rfm_rules", "RFMRules", "segment_summary", "rfm_grid", "rule_ranges",
    "customer_levels", "level_summary", "LEVELS",
    "customer_features", "features_from_data", "feature_label",
    "CustomerClusters", "MIN_PER_CLUSTER", "max_clusters", "ARCHETYPES", "ARCHETYPE_ACTIONS", "persona_table",
    "persona_name",
    "affinities", "next_best_offers", "product_tiers", "upsell_offers", "suggestion_list",
    "yearly_spend", "winback_value", "category_spend", "cross_sell_value",
    "story", "and_list", "customer_table", "offer_table", "offer_names", "tier_ranges", "truth_clusters", "truth_affinities",
]

__getattr__, __dir__ = _lazy.install(__name__, _EXPORTS)
