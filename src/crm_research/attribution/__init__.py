"""Ad attribution and experiments: journeys, attribution models, ad performance, A/B tests.

Journeys (:mod:`~crm_research.attribution.paths`, on the engine)
    :func:`touchpoints`, :func:`paths`, :func:`aggregate_paths` (options: :class:`JourneyWindow`,
    :class:`JourneyColumns`); any journey or path table
    (``"a > b > c"`` with conversions, value and nulls) is read by :func:`path_data`.
Models (each ``Model(...).fit(paths).credits_``)
    rule-based :class:`FirstTouch`, :class:`LastTouch`, :class:`Linear`,
    :class:`PositionBased`, :class:`TimeDecay`; :class:`MarkovAttribution` (order 1-3, exact);
    :class:`ShapleyAttribution` (exact up to 15 channels).
Uncertainty and comparison
    :func:`bootstrap` (any model, over journeys), :func:`compare_models`, :func:`rank_agreement`.
Ad performance
    :func:`touch_credits` (per-touch rule credits on the engine), :func:`ad_performance`.
Experiments
    :func:`ab_assignments`, :class:`ABTest`, :func:`required_sample_size`, :func:`test_power`,
    :func:`minimum_detectable_lift`.
The report (:mod:`~crm_research.attribution.report`)
    tables, sentences, findings and actions of the notebook in a client's words;
    :data:`MODEL_NAMES`, :func:`planted_table`, :func:`planted_credits`.
"""

from crm_research import _lazy

_EXPORTS = {
    "AttributionModel": "crm_research.attribution.base:AttributionModel",
    "bootstrap": "crm_research.attribution.bootstrap:bootstrap",
    "bootstrap_replicates": "crm_research.attribution.bootstrap:bootstrap_replicates",
    "compare_models": "crm_research.attribution.compare:compare_models",
    "default_models": "crm_research.attribution.compare:default_models",
    "rank_agreement": "crm_research.attribution.compare:rank_agreement",
    "ABTest": "crm_research.attribution.experiments:ABTest",
    "ab_assignments": "crm_research.attribution.experiments:ab_assignments",
    "minimum_detectable_lift": "crm_research.attribution.experiments:minimum_detectable_lift",
    "required_sample_size": "crm_research.attribution.experiments:required_sample_size",
    "test_power": "crm_research.attribution.experiments:test_power",
    "MarkovAttribution": "crm_research.attribution.markov:MarkovAttribution",
    "SEP": "crm_research.attribution.pathdata:SEP",
    "PathData": "crm_research.attribution.pathdata:PathData",
    "path_data": "crm_research.attribution.pathdata:path_data",
    "read_path_table": "crm_research.attribution.pathdata:read_path_table",
    "split_paths": "crm_research.attribution.pathdata:split_paths",
    "aggregate_paths": "crm_research.attribution.paths:aggregate_paths",
    "JourneyColumns": "crm_research.attribution.paths:JourneyColumns",
    "JourneyWindow": "crm_research.attribution.paths:JourneyWindow",
    "paths": "crm_research.attribution.paths:paths",
    "touchpoints": "crm_research.attribution.paths:touchpoints",
    "ad_performance": "crm_research.attribution.performance:ad_performance",
    "touch_credits": "crm_research.attribution.performance:touch_credits",
    "FirstTouch": "crm_research.attribution.rules:FirstTouch",
    "LastTouch": "crm_research.attribution.rules:LastTouch",
    "Linear": "crm_research.attribution.rules:Linear",
    "PositionBased": "crm_research.attribution.rules:PositionBased",
    "RuleModel": "crm_research.attribution.rules:RuleModel",
    "TimeDecay": "crm_research.attribution.rules:TimeDecay",
    "ShapleyAttribution": "crm_research.attribution.shapley:ShapleyAttribution",
    "MODEL_NAMES": "crm_research.attribution.report:MODEL_NAMES",
    "planted_table": "crm_research.attribution.report:planted_table",
    "planted_credits": "crm_research.attribution.report:planted_credits",
}
"""Public name -> where it comes from; each module is imported on first use of one of its names
(:mod:`crm_research._lazy`), so importing a few names does not load every model library."""

__all__ = [
    "SEP", "PathData", "path_data", "read_path_table", "split_paths", "touchpoints", "paths", "aggregate_paths",
    "JourneyWindow", "JourneyColumns",
    "AttributionModel", "RuleModel", "FirstTouch", "LastTouch", "Linear", "PositionBased", "TimeDecay",
    "MarkovAttribution", "ShapleyAttribution", "bootstrap", "bootstrap_replicates", "compare_models",
    "default_models", "rank_agreement", "touch_credits", "ad_performance",
    "ab_assignments", "ABTest", "required_sample_size", "test_power", "minimum_detectable_lift",
    "MODEL_NAMES", "planted_table", "planted_credits",
]

__getattr__, __dir__ = _lazy.install(__name__, _EXPORTS)
