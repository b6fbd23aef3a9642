"""Rule-based attribution: first touch, last touch, linear, position-based and time decay.

Each rule splits every converting journey's conversion (and its value) over the journey's
touches with fixed weights summing to one; a channel's credit is the sum over its touches.
Repeated touches of a channel each receive their weight (``a > a > b`` gives ``a`` two thirds
under the linear rule). Journeys without touches are not attributed (their conversions are
reported in ``totals_`` but no channel receives them).

The models are linear in the journey counts: a fit builds one sparse matrix (rows × channels)
of per-journey credits, and attribution, including every bootstrap replicate, is a sparse
matrix-vector product.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from crm_research.attribution.base import AttributionModel
from crm_research.attribution.pathdata import PathData
from crm_research.errors import CRMError

__all__ = ["FirstTouch", "LastTouch", "Linear", "PositionBased", "TimeDecay", "RuleModel"]


class RuleModel(AttributionModel):
    """A rule: per-touch weights (summing to 1 per journey) from positions and times."""

    def _weights(self, data: PathData) -> np.ndarray:
        raise NotImplementedError

    def _prepare(self, data: PathData):
        w = self._weights(data)
        return sparse.csr_matrix((w, (data.row_of_token, data.tokens)), shape=(data.n_rows, len(data.channels)))

    def _attribute(self, prep, conv, null, value) -> dict:
        return {"conversions": prep.T @ conv, "value": prep.T @ value}


def _first_last(data: PathData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pos = data.position
    n = np.repeat(data.lengths, data.lengths)
    return pos, n, pos == n - 1


class FirstTouch(RuleModel):
    """All the credit to the first touch of each converting journey.

    Examples
    --------
    >>> t = pd.DataFrame({"path": ["email > search", "display > email", "search", "display", ""],
    ...                   "total_conversions": [30, 10, 20, 0, 15], "total_null": [20, 40, 30, 50, 185]})
    >>> FirstTouch().fit(t).credits_["conversions"].tolist()  # display, email, search
    [10.0, 30.0, 20.0]
    """

    name = "first_touch"

    def _weights(self, data):
        return (data.position == 0).astype(float)


class LastTouch(RuleModel):
    """All the credit to the last touch of each converting journey (last click).

    Examples
    --------
    >>> t = pd.DataFrame({"path": ["email > search", "display > email", "search", "display", ""],
    ...                   "total_conversions": [30, 10, 20, 0, 15], "total_null": [20, 40, 30, 50, 185]})
    >>> LastTouch().fit(t).credits_["conversions"].tolist()  # display, email, search
    [0.0, 10.0, 50.0]
    """

    name = "last_touch"

    def _weights(self, data):
        return _first_last(data)[2].astype(float)


class Linear(RuleModel):
    """Equal credit to every touch: ``1 / n`` for a journey of ``n`` touches.

    Examples
    --------
    >>> t = pd.DataFrame({"path": ["email > search", "display > email", "search", "display", ""],
    ...                   "total_conversions": [30, 10, 20, 0, 15], "total_null": [20, 40, 30, 50, 185]})
    >>> Linear().fit(t).credits_["conversions"].tolist()  # display, email, search
    [5.0, 20.0, 35.0]
    """

    name = "linear"

    def _weights(self, data):
        n = np.repeat(data.lengths, data.lengths)
        return 1.0 / n


class PositionBased(RuleModel):
    """U-shaped: ``first_weight`` to the first touch, ``last_weight`` to the last, the rest shared.

    Parameters
    ----------
    first_weight, last_weight : float
        Shares (0..1, sum at most 1) of the first and last touch in journeys of three or more
        touches; the middle touches share ``1 - first_weight - last_weight`` equally. A single
        touch gets everything; two touches split ``first : last`` in proportion
        (50/50 with the default 40/20/40).

    Examples
    --------
    >>> t = pd.DataFrame({"path": ["email > search", "display > email", "search", "display", ""],
    ...                   "total_conversions": [30, 10, 20, 0, 15], "total_null": [20, 40, 30, 50, 185]})
    >>> m = PositionBased().fit(t)
    >>> m
    PositionBased(first_weight=0.4, last_weight=0.4)
    >>> m.credits_["conversions"].tolist()  # display, email, search: two-touch paths split 50/50
    [5.0, 20.0, 35.0]
    """

    name = "position_based"

    def __init__(self, first_weight: float = 0.4, last_weight: float = 0.4):
        self.first_weight = first_weight
        self.last_weight = last_weight

    def _weights(self, data):
        f, last = float(self.first_weight), float(self.last_weight)
        if f < 0 or last < 0 or f + last > 1 or f + last == 0:
            raise CRMError(f"PositionBased weights first={f}, last={last} must be >= 0 with 0 < sum <= 1")
        pos, n, is_last = _first_last(data)
        mid = (1.0 - f - last) / np.maximum(n - 2, 1)
        w = np.where(pos == 0, f, np.where(is_last, last, mid))
        w = np.where(n == 2, np.where(pos == 0, f, last) / (f + last), w)
        return np.where(n == 1, 1.0, w)


class TimeDecay(RuleModel):
    """Credit halves for every ``half_life_days`` a touch lies before the conversion.

    A touch ``d`` days before its conversion weighs ``2 ** (-d / half_life_days)``; weights are
    normalised within each journey. Needs touch times: a journey table from
    :func:`~crm_research.attribution.paths.paths` (its ``touch_days``), not a path table.

    Parameters
    ----------
    half_life_days : float
        Half-life in days (measured on the real timestamps, second resolution).

    Examples
    --------
    >>> j = pd.DataFrame({"path": ["email > search", "display > email", "search"], "converted": [1, 1, 0],
    ...                   "touch_days": [[10.0, 0.0], [14.0, 7.0], [3.0]]})
    >>> TimeDecay(half_life_days=7).fit(j).credits_[["channel", "conversions"]].round(3)
       channel  conversions
    0  display        0.333
    1    email        0.938
    2   search        0.729
    """

    name = "time_decay"

    def __init__(self, half_life_days: float = 7.0):
        self.half_life_days = half_life_days

    def _weights(self, data):
        if data.days is None:
            raise CRMError("TimeDecay needs touch times: fit it on a journey table from paths() (column "
                           "touch_days), not on an aggregated path table")
        if not self.half_life_days > 0:
            raise CRMError(f"half_life_days={self.half_life_days!r} must be a positive number of days")
        if (data.days < 0).any():
            raise CRMError("touch_days has negative values: a touch cannot come after its conversion")
        row = data.row_of_token
        ne = data.nonempty
        nearest = np.zeros(data.n_rows)  # relative to each journey's latest touch: no underflow
        if ne.any():
            nearest[ne] = np.minimum.reduceat(data.days, data.offsets[:-1][ne])
        raw = np.exp2(-(data.days - nearest[row]) / float(self.half_life_days))
        tot = np.bincount(row, weights=raw, minlength=data.n_rows)
        return raw / tot[row]
