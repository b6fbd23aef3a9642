"""Ad attribution and experiments: journeys, attribution models, ad performance, A/B tests.

Journeys (:mod:`~crm_research.attribution.paths`, on the engine)
    :func:`touchpoints`, :func:`paths`, :func:`aggregate_paths`; any journey or path table
    (``"a > b > c"`` with conversions, value and nulls) is read by :func:`path_data`.
"""

from crm_research.attribution.pathdata import SEP, PathData, path_data, split_paths
from crm_research.attribution.paths import aggregate_paths, paths, touchpoints

__all__ = ["SEP", "PathData", "path_data", "split_paths", "touchpoints", "paths", "aggregate_paths"]
