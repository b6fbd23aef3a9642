"""What every attribution model shares: fit on a journey or path table, credits per channel.

A model is a small estimator: the constructor holds parameters, :meth:`AttributionModel.fit`
reads the paths (:func:`crm_research.attribution.pathdata.path_data`) and sets ``credits_``, and
:meth:`AttributionModel.summary` returns it. Internally a fit is split in two steps so that the
bootstrap (:mod:`crm_research.attribution.bootstrap`) can re-weight journeys without re-reading
the paths: ``_prepare(data)`` does the work that depends only on the paths, ``_attribute(prep,
conv, null, value)`` the work that depends on the journey counts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_research.attribution.pathdata import PathData, path_data
from crm_research.errors import CRMError

__all__ = ["AttributionModel"]


class AttributionModel:
    """Base class of the attribution models.

    Fitted attributes
    -----------------
    credits_ : DataFrame
        One row per channel (sorted by name): ``model``, ``channel``, ``conversions``
        (attributed conversions, count), ``value`` (attributed conversion value, currency),
        ``share`` (of the attributed conversions), plus model-specific columns.
    channels_ : ndarray of str
    totals_ : dict
        Journeys, conversions and value read, with and without touches.
    """

    name = "model"

    def fit(self, paths: pd.DataFrame | PathData, **path_cols) -> AttributionModel:
        """Attribute the conversions of ``paths`` to channels.

        Parameters
        ----------
        paths : DataFrame or PathData
            A journey table (:func:`~crm_research.attribution.paths.paths`) or a path table
            (:func:`~crm_research.attribution.paths.aggregate_paths`, or any table with columns
            path, total_conversions, total_conversion_value, total_null).
        **path_cols
            Column names and separator, passed to :func:`~crm_research.attribution.pathdata.path_data`.

        Returns
        -------
        self
        """
        data = path_data(paths, **path_cols)
        prep = self._prepare(data)
        out = self._attribute(prep, data.conv, data.null, data.value)
        self.channels_ = data.channels
        self.totals_ = data.totals()
        self.credits_ = self._frame(data.channels, out)
        self._finish(data, prep, out)
        return self

    def summary(self) -> pd.DataFrame:
        """The fitted ``credits_`` table (a copy)."""
        if not hasattr(self, "credits_"):
            raise CRMError(f"{type(self).__name__} is not fitted: call .fit(paths) first")
        return self.credits_.copy()

    # --- to implement ---------------------------------------------------------------------
    def _prepare(self, data: PathData):
        raise NotImplementedError

    def _attribute(self, prep, conv: np.ndarray, null: np.ndarray, value: np.ndarray) -> dict:
        """Return ``{"conversions": array, "value": array, <extra column>: array, ...}`` per channel."""
        raise NotImplementedError

    def _finish(self, data: PathData, prep, out: dict) -> None:
        """Set model-specific fitted attributes."""

    # --- shared ---------------------------------------------------------------------------
    def _frame(self, channels: np.ndarray, out: dict) -> pd.DataFrame:
        conv = np.asarray(out["conversions"], dtype=float)
        total = conv.sum()
        frame = pd.DataFrame({
            "model": self.name,
            "channel": channels.astype(object),
            "conversions": conv,
            "value": np.asarray(out["value"], dtype=float),
            "share": conv / total if total > 0 else np.zeros_like(conv),
        })
        for key, col in out.items():
            if key in ("conversions", "value") or key.startswith("_"):
                continue
            frame[key] = np.asarray(col, dtype=float)
        return frame

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.endswith("_")
                           and not k.startswith("_"))
        return f"{type(self).__name__}({params})"


def touched_totals(data: PathData, conv: np.ndarray, value: np.ndarray) -> tuple[float, float]:
    """Conversions and value of the journeys with at least one touch."""
    ne = data.nonempty
    return float(conv[ne].sum()), float(value[ne].sum())
