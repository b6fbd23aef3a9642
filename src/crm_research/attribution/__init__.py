"""Ad attribution and experiments: journeys, attribution models, ad performance, A/B tests.

Journeys (:mod:`~crm_research.attribution.paths`, on the engine)
    :func:`touchpoints`, :func:`paths`, :func:`aggregate_paths`; any journey or path table
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
"""

from crm_research.attribution.base import AttributionModel
from crm_research.attribution.bootstrap import bootstrap, bootstrap_replicates
from crm_research.attribution.compare import compare_models, default_models, rank_agreement
from crm_research.attribution.experiments import (
    ABTest,
    ab_assignments,
    minimum_detectable_lift,
    required_sample_size,
    test_power,
)
from crm_research.attribution.markov import MarkovAttribution
from crm_research.attribution.pathdata import SEP, PathData, path_data, read_path_table, split_paths
from crm_research.attribution.paths import aggregate_paths, paths, touchpoints
from crm_research.attribution.performance import ad_performance, touch_credits, wilson_interval
from crm_research.attribution.rules import (
    FirstTouch,
    LastTouch,
    Linear,
    PositionBased,
    RuleModel,
    TimeDecay,
)
from crm_research.attribution.shapley import ShapleyAttribution

__all__ = [
    "SEP", "PathData", "path_data", "read_path_table", "split_paths", "touchpoints", "paths", "aggregate_paths",
    "AttributionModel", "RuleModel", "FirstTouch", "LastTouch", "Linear", "PositionBased", "TimeDecay",
    "MarkovAttribution", "ShapleyAttribution", "bootstrap", "bootstrap_replicates", "compare_models",
    "default_models", "rank_agreement", "touch_credits", "ad_performance", "wilson_interval",
    "ab_assignments", "ABTest", "required_sample_size", "test_power", "minimum_detectable_lift",
]
