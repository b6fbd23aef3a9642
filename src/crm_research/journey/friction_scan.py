"""The friction window scan: short incidents found, with one false-alarm control over everything.

:class:`FrictionScan` works on the small count table of
:func:`crm_research.journey.friction_cells` (paths at a step and, of those, converted, per step,
segment value and calendar period). For every *series* (one step and one segment value) it scans
every window of 1 to ``max_window`` consecutive periods against the rest of that series' history.

Statistic
---------
The Bernoulli scan statistic (Kulldorff 1997, *A spatial scan statistic*, Commun. Statist.
Theory Meth. 26(6), the likelihood ratio of "a different rate inside the window" against "one
rate"), signed and square-rooted so that it reads like a z: with :math:`x_w` of :math:`n_w`
paths converted in the window and :math:`x_o` of :math:`n_o` outside,

.. math::

    \\Lambda = \\ell(\\hat p_w; x_w, n_w) + \\ell(\\hat p_o; x_o, n_o) - \\ell(\\hat p; x, n),
    \\qquad S = \\sqrt{2\\Lambda} \\text{ if } \\hat p_w < \\hat p_o \\text{ else } 0,

:math:`\\ell(p; x, n) = x \\log p + (n - x) \\log(1 - p)`. Only drops count. Unlike the pooled
z it stays well behaved for a window of a dozen paths.

Two allowances keep slow movements from passing as incidents, both applied to the data and to
every bootstrap draw alike, so the false-alarm control holds: each series' steady trend is taken
out first (:func:`detrend`, on by default), and, optionally (``overdispersion``), a step whose
pooled series swings from period to period more than chance allows (a season, a changing mix of
visitors) has its statistics divided by that extra variation, in proportion to each series'
size (:func:`dispersion`, quasi-likelihood). The defaults come from the recall benchmark
(``benchmarks/bench_friction_recall.py``, results.md "Friction recall"): on six months of a
real-sized log the trend removal cut the false incidents from 1.5 to 0.2 a year for a recall
of 0.80 on a four-week halving on one platform; the dispersion allowance lowered that recall to
0.65 with no fewer false incidents, so it is off by default (on a two-year history with
seasons it removes the seasonal dips: worth it there).

Multiple testing
----------------
The false alarms are controlled over *everything scanned* (every step × segment value × window)
by the distribution of the largest :math:`S` under "no change": a parametric bootstrap draws every
cell's conversions from Binomial(:math:`n`, the series' pooled rate), ``n_null`` times, seeded,
and rescans. The adjusted p-value of a window is the share of null maxima at or above its
statistic, :math:`(1 + \\#\\{S^*_{\\max} \\ge S\\}) / (B + 1)`; a window is an incident when it is
at most ``alpha``. The series are drawn independently, although a segment's paths are also in
the pooled series: that makes the threshold a little conservative, never lenient.

Incidents
---------
Per series, the strongest significant window is reported first, then the next strongest that
neither overlaps nor touches one already reported (a window touching a reported one is the same
incident seen longer or shorter). A window must begin and end in periods that have paths. An
incident longer than ``max_window`` periods is reported as its strongest ``max_window`` stretch.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from crm_research.errors import CRMError, ParameterError
from crm_research.exprs import require_columns
from crm_research.journey.words import ALL

__all__ = ["FrictionScan", "MAX_WINDOW", "ALL"]

MAX_WINDOW = {"D": 14, "W": 6, "M": 3, "Q": 2, "Y": 1}
"""Default longest window per calendar period (periods): 2 weeks of days, 6 weeks, 3 months,
2 quarters, 1 year."""

_PERIOD_STEP = {"D": pd.DateOffset(days=1), "W": pd.DateOffset(weeks=1), "M": pd.DateOffset(months=1),
                "Q": pd.DateOffset(months=3), "Y": pd.DateOffset(years=1)}
_KEY = ["step_index", "segment_col", "segment_value"]
_NEEDED = ["step_index", "from_step", "to_step", "segment_col", "segment_value", "period", "n",
           "n_converted"]

COLUMNS = ["rank", "step", "step_index", "from_step", "to_step", "segment", "segment_col", "segment_value",
           "period_start", "period_end", "n_periods", "n_during", "conversion_during",
           "n_baseline", "conversion_baseline", "conversion_before", "difference",
           "relative_change", "statistic", "z", "p_value", "p_adjusted", "lost_conversions",
           "people_affected", "echo_of"]
"""Columns of the incident table, in order."""

DTYPES = {"rank": "int64", "step_index": "int64", "period_start": "datetime64[ns, UTC]",
          "period_end": "datetime64[ns, UTC]", "n_periods": "int64", "n_during": "int64",
          "n_baseline": "int64", "people_affected": "int64", "echo_of": "Int64",
          **{c: "float64" for c in ("conversion_during", "conversion_baseline", "conversion_before",
                                    "difference", "relative_change", "statistic", "z", "p_value",
                                    "p_adjusted", "lost_conversions")}}
"""Column dtypes of the incident table (the others hold strings): the same whether or not any
incident was found, so code written for incidents (``period_end - Timedelta``) runs on none."""


def no_incidents() -> pd.DataFrame:
    """The empty incident table: its columns with their dtypes."""
    return pd.DataFrame({c: pd.Series([], dtype=DTYPES.get(c, object)) for c in COLUMNS})


def drop_statistic(xw, nw, xo, no) -> np.ndarray:
    """Signed-root Bernoulli log-likelihood ratio of a drop (0 where the window is not lower).

    Parameters
    ----------
    xw, nw : array_like
        Converted paths and paths in the window (counts).
    xo, no : array_like
        The same outside the window.

    Returns
    -------
    ndarray
        :math:`\\sqrt{2\\Lambda}` where the window's rate is below the outside rate, else 0
        (dimensionless, on the scale of a z). NaN where ``nw`` or ``no`` is 0.
    """
    xw, nw, xo, no = (np.asarray(a, dtype=float) for a in (xw, nw, xo, no))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(xw / nw < xo / no, _root_llr(xw, nw, xo, no), 0.0)
    return np.where((nw > 0) & (no > 0), out, np.nan)


def _root_llr(xw, nw, xo, no) -> np.ndarray:
    """:math:`\\sqrt{2\\Lambda}` of :func:`drop_statistic` wherever it is computed (floats;
    the caller silences the warnings of empty windows)."""
    from scipy import special

    pw, po = xw / nw, xo / no
    x, n = xw + xo, nw + no
    p = x / n
    llr = (special.xlogy(xw, pw) + special.xlogy(nw - xw, 1.0 - pw)
           + special.xlogy(xo, po) + special.xlogy(no - xo, 1.0 - po)
           - special.xlogy(x, p) - special.xlogy(n - x, 1.0 - p))
    return np.sqrt(2.0 * np.maximum(llr, 0.0))


_MEDIAN_CHI2_1 = 0.454936423119572
"""Median of a chi-square with one degree of freedom: ``float(scipy.stats.chi2.median(1))`` written out
(scipy.stats costs about 1 CPU s to import; tests/test_imports.py checks the value)."""


def dispersion(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Robust dispersion of each series: the median squared Pearson residual of its periods
    against its pooled rate, over the median of a chi-square with one degree of freedom, at
    least 1. ``x``, ``n`` are (..., series, periods); the result is (..., series).

    A median ignores the few periods of an incident, while a trend or a seasonal swing in a
    large series moves most of them."""
    tot = n.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x.sum(axis=-1, keepdims=True) / tot
        r2 = (x - n * p) ** 2 / (n * p * (1.0 - p))
    r2 = np.where((n > 0) & (p > 0) & (p < 1), r2, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a series without a valid period
        med = np.nanmedian(r2, axis=-1)
    return np.maximum(np.where(np.isfinite(med), med / _MEDIAN_CHI2_1, 1.0), 1.0)


def detrend(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Conversions with each series' steady trend taken out: the weighted least-squares line of
    the period rates on the period number (weights: paths), :math:`x_t - n_t \\hat b (t - \\bar
    t)`, kept within ``[0, n_t]``. The series' total is unchanged (up to that clipping), so a
    window is compared with the rest of its history as if the rate had been level.
    ``x``, ``n`` are (..., series, periods)."""
    t = np.arange(n.shape[-1], dtype=float)
    w = n.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        tbar = (n * t).sum(axis=-1, keepdims=True) / w
        r = np.where(n > 0, x / np.where(n > 0, n, 1.0), 0.0)
        rbar = x.sum(axis=-1, keepdims=True) / w
        sxx = (n * (t - tbar) ** 2).sum(axis=-1, keepdims=True)
        b = np.where(sxx > 0, (n * (t - tbar) * (r - rbar)).sum(axis=-1, keepdims=True) / sxx, 0.0)
    b = np.nan_to_num(b)
    return np.clip(x - n * b * np.nan_to_num(t - tbar), 0.0, n)


def _cumulative(a: np.ndarray) -> np.ndarray:
    """Running totals along the periods with a leading 0: window sums are differences of two."""
    return np.concatenate([np.zeros(a.shape[:-1] + (1,)), np.cumsum(a, axis=-1)], axis=-1)


def _scanned(n: np.ndarray, cn: np.ndarray, length: int, min_n: int) -> tuple[np.ndarray, ...]:
    """Paths in and outside every window of ``length`` periods, and which windows are scanned: a
    window begins and ends in periods with paths (else a shorter window is the same) and has at
    least ``min_n`` paths inside and outside."""
    nw = cn[..., length:] - cn[..., :-length]
    no = cn[..., -1:] - nw
    edges = (n[..., : n.shape[-1] - length + 1] > 0) & (n[..., length - 1:] > 0)
    return nw, no, edges & (nw >= min_n) & (no >= min_n)


def _window_stats(x: np.ndarray, n: np.ndarray, length: int, min_n: int,
                  phi: np.ndarray | None = None) -> np.ndarray:
    """Statistic of every window of ``length`` periods: ``x``, ``n`` are (..., series, periods);
    the result is (..., series, periods - length + 1), -inf where the window is not scanned.
    ``phi`` (..., series) divides the likelihood ratio (quasi-likelihood)."""
    cx = _cumulative(x)
    xw = cx[..., length:] - cx[..., :-length]
    nw, no, scanned = _scanned(n, _cumulative(n), length, min_n)
    s = drop_statistic(xw, nw, cx[..., -1:] - xw, no)
    if phi is not None:
        s = s / np.sqrt(phi)[..., None]
    return np.where(scanned & np.isfinite(s), s, -np.inf)


def _bounds(xw, nw, no, total_x, total_n, phi) -> np.ndarray:
    """An upper bound of every window's :math:`S^2` (with ``phi``: of :math:`S^2 / \\phi`) as
    :func:`_root_llr` computes it, from no logarithm: :math:`\\Lambda \\le X^2`, Pearson's
    chi-square of the window's 2 x 2 table, :math:`X^2 = D^2 n / (n_w n_o x (n - x))` with
    :math:`D = x_w n_o - x_o n_w`, since :math:`KL(a \\Vert p) \\le \\chi^2(a \\Vert p)`
    for each side's rate against the pooled one.

    ``xw`` (draws, series, windows); ``nw``, ``no`` (series, windows); ``total_x`` (draws,
    series), ``total_n`` (series,), ``phi`` (draws, series) or None. Room is left for rounding,
    in the statistic and in the bound: a relative :math:`10^{-9}` and an absolute
    :math:`2 (10^{-14} n^2 + 10^{-12} n + 10^{-9})` (:math:`n` the series' paths: the rates are
    rounded to about :math:`10^{-16}` and :math:`x (n - x)` is divided by, at least
    :math:`n - 1`). Infinite for a series with fewer than one conversion or one
    non-conversion, where that analysis does not hold."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        d = xw * no
        d -= (total_x[..., None] - xw) * nw
        d *= d
        d *= (2.0 * (1.0 + 1e-9)) * total_n[:, None] / (nw * no)
        rows = total_x * (total_n - total_x)
        if phi is not None:
            rows = rows * phi
        sure = (total_x >= 1.0) & (total_n - total_x >= 1.0) & (rows > 0)
        d *= np.where(sure, (1.0 + 1e-9) / rows, 0.0)[..., None]
        room = 2.0 * (1e-14 * total_n * total_n + 1e-12 * total_n + 1e-9)
        d += (room if phi is None else room / phi)[..., None]
    if not sure.all():
        d[~np.broadcast_to(sure[..., None], d.shape)] = np.inf
    return d


def _largest_stats(cx: np.ndarray, n: np.ndarray, cn: np.ndarray, length: int, min_n: int,
                   phi: np.ndarray | None, floor: np.ndarray | None = None) -> np.ndarray:
    """Largest :func:`_window_stats` of each draw: ``cx`` (draws, series, periods + 1) are the
    draws' running conversions, ``n`` and ``cn`` (series, ...) the paths and their running
    totals, the same in every draw. Only the windows scanned where the rate drops get a
    likelihood ratio; any other scanned window counts 0. ``phi`` (draws, series) or None.

    ``floor`` (draws,), the largest statistic of each draw so far: a window whose bound
    (:func:`_bounds`) cannot reach it, or the draw's window of the largest bound once that
    one's statistic is computed, is not computed; then only ``maximum(floor, result)`` is the
    full scan's, bit for bit (each statistic computed is computed from the same numbers by the
    same operations, and a maximum does not round). On the demo's weekly cells about one window
    in a hundred is computed."""
    xw = cx[..., length:] - cx[..., :-length]
    xo = cx[..., -1:] - xw
    nw1, no1, scanned = _scanned(n, cn, length, min_n)  # (series, windows)
    nw, no = np.broadcast_to(nw1, xw.shape), np.broadcast_to(no1, xw.shape)
    scanned = np.broadcast_to(scanned, xw.shape)
    phis = None if phi is None else np.broadcast_to(phi[..., None], xw.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        drop = xw / nw < xo / no
    where = scanned & drop
    rows = len(cx)
    if floor is not None and xw.size:
        bound = _bounds(xw, nw1, no1, cx[..., -1], cn[..., -1], phi)
        bound[~where] = -np.inf
        bound = bound.reshape(rows, -1)
        need = np.where(floor > 0, floor * floor, -np.inf)
        # each draw's window of the largest bound first: its statistic raises the bar
        top = np.argmax(bound, axis=1)
        some = np.isfinite(bound[np.arange(rows), top])
        d = np.flatnonzero(some)
        first = np.full(rows, -np.inf)
        first[d] = _stats_at(xw, nw, xo, no, phis, (d, *np.unravel_index(top[d], xw.shape[1:])))
        need = np.where(np.isfinite(first) & (first > 0), np.maximum(need, first * first), need)
        where = where & (bound >= need[:, None] * (1.0 - 1e-12)).reshape(where.shape)
    sel = np.nonzero(where)
    s = _stats_at(xw, nw, xo, no, phis, sel)
    keep = np.isfinite(s)
    out = np.full(rows, -np.inf)
    np.maximum.at(out, sel[0][keep], s[keep])
    level = (scanned & ~drop).reshape(rows, -1).any(axis=1)  # a scanned window with no drop: 0
    return np.where(level, np.maximum(out, 0.0), out)


def _stats_at(xw, nw, xo, no, phis, idx) -> np.ndarray:
    """The statistics of the windows at ``idx`` (a tuple of index arrays into the (draws, series,
    windows) arrays): every statistic of the null is computed here, by the same operations."""
    with np.errstate(divide="ignore", invalid="ignore"):
        s = _root_llr(xw[idx], nw[idx], xo[idx], no[idx])
    return s if phis is None else s / np.sqrt(phis[idx])


class FrictionScan:
    """Window scan for friction incidents with a bootstrap threshold over everything scanned.

    Parameters
    ----------
    alpha : float
        Family-wise false-alarm rate over every step × segment value × window scanned: the chance
        that data with no change at all yields one incident or more.
    max_window : int, optional
        Longest window (periods). Default by period: 14 days, 6 weeks, 3 months, 2 quarters,
        1 year (:data:`MAX_WINDOW`).
    min_n : int
        Paths a window needs, inside and outside it (counts).
    n_null : int
        Bootstrap replicates of the null distribution of the largest statistic.
    seed : int
        Seed of the bootstrap: the same cells, parameters and seed give the same incidents.
    overdispersion : bool
        Allow for steps whose conversion swings more than chance from period to period (a
        trend, a season, a changing mix of visitors): when the robust dispersion
        (:func:`dispersion`) of a step's pooled series beats the 95th percentile of its
        bootstrap dispersions, its extra variance per path, :math:`\\kappa = (\\phi_{all} - 1)
        / \\bar n_{all}`, scales every series of that step, :math:`\\phi_s = 1 + \\bar n_s
        \\kappa` (``n̄``: mean paths per period), and the series' likelihood ratios are divided
        by :math:`\\phi_s` (quasi-likelihood), in the data and in every bootstrap draw alike.
        Large series, where a swing of a few points is "significant", then need a larger drop;
        a small group's series, where binomial noise dominates, keeps its power (a beta-binomial
        view: extra variation grows with the paths per period).

    detrend : bool
        Take each series' steady trend out before scanning (:func:`detrend`), in the data and in
        every bootstrap draw alike: a business whose conversion climbs or slides over the
        months does not make its low end an "incident".

    Attributes
    ----------
    incidents_ : DataFrame
        One row per incident (columns :data:`COLUMNS`), ``rank`` 1 = strongest.
    threshold_ : float
        The k-th largest null maximum, k = ⌊``alpha`` (``n_null`` + 1)⌋ (about the 1 − ``alpha``
        quantile): a window is an incident when its statistic exceeds it (``p_adjusted`` ≤
        ``alpha``).
    null_max_ : ndarray
        The ``n_null`` null maxima.
    dispersion_ : ndarray
        The dispersion each series' statistics were divided by (1: none, or not beyond chance).
    n_series_, n_windows_ : int
        Series (step × segment value) and windows scanned.
    n_left_out_ : int
        Paths left out of the counts because their conversion window ran past the end of the
        data (from the cells' ``n_left_out``, the pooled series only; 0 without that column).

    See Also
    --------
    crm_research.journey.friction : cells and scan in one call.
    crm_research.journey.friction_cells : the count table scanned.

    Examples
    --------
    Thirty weeks of 200 carts, 80% buying, except two weeks at 40%:

    >>> weeks = pd.date_range("2025-01-06", periods=30, freq="7D", tz="UTC")
    >>> bought = np.where((np.arange(30) >= 20) & (np.arange(30) < 22), 80, 160)
    >>> cells = pd.DataFrame({"step_index": 2, "from_step": "cart", "to_step": "buy", "segment_col": "(all)",
    ...                       "segment_value": "(all)", "period": weeks, "n": 200, "n_converted": bought})
    >>> scan = FrictionScan(seed=1).fit(cells, period="W")
    >>> scan.n_windows_
    165
    >>> scan.incidents_[["period_start", "n_periods", "conversion_during", "lost_conversions"]]
                   period_start  n_periods  conversion_during  lost_conversions
    0 2025-05-26 00:00:00+00:00          2                0.4             160.0
    """

    def __init__(self, alpha: float = 0.05, max_window: int | None = None, min_n: int = 10,
                 n_null: int = 999, seed: int = 0, overdispersion: bool = False, detrend: bool = True):
        self.alpha = alpha
        self.detrend = detrend
        self.overdispersion = overdispersion
        self.max_window = max_window
        self.min_n = min_n
        self.n_null = n_null
        self.seed = seed

    def __repr__(self) -> str:
        args = (f"alpha={self.alpha!r}, max_window={self.max_window!r}, min_n={self.min_n!r}, "
                f"n_null={self.n_null!r}, seed={self.seed!r}, overdispersion={self.overdispersion!r}, "
                f"detrend={self.detrend!r}")
        if not hasattr(self, "incidents_"):
            return f"FrictionScan({args})"
        return (f"FrictionScan({args}): {len(self.incidents_)} incident(s) in {self.n_windows_:,} windows "
                f"of {self.n_series_} series, threshold {self.threshold_:.2f}")

    def _check(self, period: str) -> int:
        if not 0 < self.alpha < 1:
            raise ParameterError(f"alpha must be between 0 and 1, got {self.alpha!r}")
        if period not in _PERIOD_STEP:
            raise ParameterError(f"period must be one of {sorted(_PERIOD_STEP)}, got {period!r}")
        mw = MAX_WINDOW[period] if self.max_window is None else self.max_window
        if isinstance(mw, bool) or not isinstance(mw, (int, np.integer)) or mw < 1:
            raise ParameterError(f"max_window must be a whole number of periods >= 1, got {mw!r}")
        if isinstance(self.n_null, bool) or not isinstance(self.n_null, (int, np.integer)) or self.n_null < 19:
            raise ParameterError(f"n_null must be a whole number >= 19, got {self.n_null!r}")
        if isinstance(self.min_n, bool) or not isinstance(self.min_n, (int, np.integer)) or self.min_n < 1:
            raise ParameterError(f"min_n must be a whole number >= 1, got {self.min_n!r}")
        return int(mw)

    def fit(self, cells: pd.DataFrame, period: str = "W") -> FrictionScan:
        """Scan the cells.

        Parameters
        ----------
        cells : DataFrame
            Output of :func:`crm_research.journey.friction_cells` (collected).
        period : {"D", "W", "M", "Q", "Y"}
            The calendar period of the cells.

        Returns
        -------
        FrictionScan
            ``self``, fitted.
        """
        max_window = self._check(period)
        if not isinstance(cells, pd.DataFrame):
            raise CRMError(f"table 'cells' must be a pandas DataFrame (friction_cells output), got "
                           f"{type(cells).__name__}")
        require_columns(cells, "cells", _NEEDED, hint="pass the output of friction_cells")
        cells = cells.sort_values([*_KEY, "period"], kind="stable").reset_index(drop=True)
        periods = np.sort(cells["period"].unique())
        series = cells[_KEY].drop_duplicates().reset_index(drop=True)
        s_idx = cells.groupby(_KEY, sort=False).ngroup().to_numpy()
        t_idx = np.searchsorted(periods, cells["period"].to_numpy())
        n = np.zeros((len(series), len(periods)))
        x = np.zeros((len(series), len(periods)))
        np.add.at(n, (s_idx, t_idx), cells["n"].to_numpy(dtype=float))
        np.add.at(x, (s_idx, t_idx), cells["n_converted"].to_numpy(dtype=float))
        lengths = range(1, min(max_window, len(periods)) + 1)

        if self.detrend:
            x = detrend(x, n)
        self.dispersion_ = np.ones(len(series))
        # per series: its step's pooled series (itself when the cells have none) and its mean
        # paths per period with paths
        pooled_of = {k[0]: i for i, k in enumerate(series.itertuples(index=False, name=None)) if k[1] == ALL}
        self._pooled = np.array([pooled_of.get(k[0], i)
                                 for i, k in enumerate(series.itertuples(index=False, name=None))], dtype=int)
        with np.errstate(invalid="ignore", divide="ignore"):
            self._nbar = np.nan_to_num(n.sum(axis=1) / (n > 0).sum(axis=1), nan=1.0)
        self.null_max_ = self._null(x, n, lengths)  # sets dispersion_ with overdispersion
        observed = [_window_stats(x, n, L, self.min_n, self.dispersion_) for L in lengths]
        # p_adjusted <= alpha  <=>  fewer than k = floor(alpha (B + 1)) null maxima at or above
        # the statistic  <=>  the statistic exceeds the k-th largest null maximum
        k = max(int(np.floor(self.alpha * (self.n_null + 1) + 1e-9)), 1)
        self.threshold_ = float(np.sort(self.null_max_)[::-1][k - 1])
        self.n_series_ = len(series)
        self.n_windows_ = int(sum(np.isfinite(o).sum() for o in observed))
        pooled = cells["segment_col"] == ALL
        self.n_left_out_ = int(cells.loc[pooled, "n_left_out"].sum()) if "n_left_out" in cells else 0
        self.period_ = period
        self.incidents_ = self._incidents(cells, series, periods, observed, period)
        return self

    def _draws(self, x: np.ndarray, n: np.ndarray):
        """The ``n_null`` bootstrap draws of the conversions, in blocks ``(b, series, periods)``:
        every cell from Binomial(n, the series' pooled rate); seeded, so a second pass over the
        draws sees the same numbers."""
        rng = np.random.default_rng(self.seed)
        tot = n.sum(axis=1, keepdims=True)
        p = np.divide(x.sum(axis=1, keepdims=True), tot, out=np.zeros_like(tot), where=tot > 0)
        ni = n.astype(np.int64)
        block = max(1, min(self.n_null, 2_000_000 // max(n.size, 1)))
        for b0 in range(0, self.n_null, block):
            b = min(block, self.n_null - b0)
            xs = rng.binomial(np.broadcast_to(ni, (b, *ni.shape)), np.broadcast_to(p, (b, *p.shape)))
            nb = np.broadcast_to(n, xs.shape)
            xs = detrend(xs.astype(float), nb) if self.detrend else xs.astype(float)
            yield b0, xs, nb

    def _null(self, x: np.ndarray, n: np.ndarray, lengths) -> np.ndarray:
        """Largest statistic over every series and window, for ``n_null`` bootstrap draws."""
        out = np.full(self.n_null, -np.inf)
        if self.overdispersion:
            # a step's extra variation counts only when its pooled series' dispersion beats the
            # 95th percentile of its dispersions under no change: noise alone shrinks nothing
            phis = np.concatenate([dispersion(xs, nb) for _, xs, nb in self._draws(x, n)])
            self.dispersion_cut_ = np.quantile(phis, 0.95, axis=0, method="higher")
            self.dispersion_ = self._phi(dispersion(x, n))
        cn = _cumulative(n)  # the paths: the same in every draw
        for b0, xs, nb in self._draws(x, n):
            phi = self._phi(dispersion(xs, nb)) if self.overdispersion else None
            m = np.full(len(xs), -np.inf)
            cx = _cumulative(xs)
            for L in lengths:
                m = np.maximum(m, _largest_stats(cx, n, cn, L, self.min_n, phi, floor=m))
            out[b0:b0 + len(xs)] = m
        return np.where(np.isfinite(out), out, 0.0)

    def _phi(self, raw: np.ndarray) -> np.ndarray:
        """Each series' dispersion from the raw dispersions ``(..., series)``: the extra
        variance of its step's pooled series (when beyond chance), per path, times the series'
        mean paths per period: :math:`\\phi_s = 1 + \\bar n_s (\\phi_{all} - 1) / \\bar n_{all}`."""
        used = np.where(raw > self.dispersion_cut_, raw, 1.0)
        kappa = (used[..., self._pooled] - 1.0) / self._nbar[self._pooled]
        return 1.0 + self._nbar * kappa

    def _p_adjusted(self, s: float) -> float:
        return float((1 + np.count_nonzero(self.null_max_ >= s)) / (len(self.null_max_) + 1))

    def _incidents(self, cells, series, periods, observed, period) -> pd.DataFrame:
        step = _PERIOD_STEP[period]
        rows = []
        by_series = dict(tuple(cells.groupby(_KEY, sort=False)))
        for si, key in enumerate(series.itertuples(index=False, name=None)):
            cand = []
            for li, o in enumerate(observed):
                ok = np.flatnonzero(np.isfinite(o[si]) & (o[si] > self.threshold_))
                cand += [(float(o[si, a]), int(a), li + 1) for a in ok]
            if not cand:
                continue
            cand.sort(key=lambda c: (-c[0], c[1], c[2]))
            taken: list[tuple[int, int]] = []
            hist = by_series[key]
            for s, a, L in cand:
                b = a + L  # exclusive
                if any(a <= tb and ta <= b for ta, tb in taken):  # overlaps or touches
                    continue
                p_adj = self._p_adjusted(s)
                if p_adj > self.alpha:
                    continue
                taken.append((a, b))
                rows.append(_describe(hist, key, s, p_adj, periods[a], periods[b - 1], L, step))
        out = pd.DataFrame(rows)
        if out.empty:
            return no_incidents()
        out = out.sort_values(["statistic", "step_index", "segment", "period_start"],
                              ascending=[False, True, True, True], kind="stable").reset_index(drop=True)
        out.insert(0, "rank", np.arange(1, len(out) + 1))
        for c in ("period_start", "period_end"):
            ts = pd.to_datetime(out[c])
            out[c] = ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts.dt.tz_convert("UTC")
        out["echo_of"] = _echoes(out)
        return out[COLUMNS].astype({c: t for c, t in DTYPES.items() if c in out})

    def summary(self) -> pd.DataFrame:
        """What was scanned: one row of ``alpha``, ``max_window`` (periods), ``min_n``,
        ``n_null``, ``n_series``, ``n_windows``, ``threshold``, ``n_incidents``, ``n_left_out``."""
        if not hasattr(self, "incidents_"):
            raise CRMError("this FrictionScan is not fitted yet: call fit(cells) first")
        return pd.DataFrame([{
            "alpha": self.alpha, "max_window": self.max_window or MAX_WINDOW[self.period_],
            "min_n": self.min_n, "n_null": self.n_null, "n_series": self.n_series_,
            "n_windows": self.n_windows_, "threshold": self.threshold_,
            "n_incidents": len(self.incidents_), "n_left_out": self.n_left_out_}])


def _describe(hist: pd.DataFrame, key, s: float, p_adj: float, first, last, length: int, step) -> dict:
    """One incident's row: its window's numbers pooled and compared with the rest of the series."""
    from scipy import stats

    per = hist["period"]
    inside = (per >= first) & (per <= last)
    during, base, before = hist[inside], hist[~inside], hist[per < first]
    n1, x1 = int(during["n"].sum()), int(during["n_converted"].sum())
    n0, x0 = int(base["n"].sum()), int(base["n_converted"].sum())
    p1, p0 = x1 / n1, x0 / n0
    pool = (x1 + x0) / (n1 + n0)
    se = np.sqrt(pool * (1.0 - pool) * (1.0 / n1 + 1.0 / n0))
    z = (p1 - p0) / se if se > 0 else 0.0
    nb = int(before["n"].sum())
    r = hist.iloc[0]
    return {
        "step": f"{r['from_step']} → {r['to_step']}", "step_index": int(key[0]),
        "from_step": r["from_step"], "to_step": r["to_step"],
        "segment": ALL if key[1] == ALL else f"{key[1]}={key[2]}",
        "segment_col": key[1], "segment_value": key[2],
        "period_start": pd.Timestamp(first), "period_end": pd.Timestamp(last) + step,
        "n_periods": int(length), "n_during": n1, "conversion_during": p1,
        "n_baseline": n0, "conversion_baseline": p0,
        "conversion_before": before["n_converted"].sum() / nb if nb else np.nan,
        "difference": p1 - p0, "relative_change": (p1 - p0) / p0 if p0 > 0 else np.nan,
        "statistic": s, "z": float(z), "p_value": float(stats.norm.cdf(z)), "p_adjusted": p_adj,
        "lost_conversions": n1 * (p0 - p1),
        "people_affected": int(during["n_people"].sum()) if "n_people" in during else 0,
    }


def _echoes(out: pd.DataFrame) -> pd.Series:
    """For a pooled ``(all)`` incident, the rank of a stronger segment incident of the same step
    that overlaps it in time (the pooled drop is then mostly that segment's); else <NA>."""
    echo = pd.Series(pd.NA, index=out.index, dtype="Int64")
    seg = out[out["segment_col"] != ALL]
    for i, r in out[out["segment_col"] == ALL].iterrows():
        m = seg[(seg["step_index"] == r["step_index"]) & (seg["rank"] < r["rank"])
                & (seg["period_start"] < r["period_end"]) & (seg["period_end"] > r["period_start"])]
        if len(m):
            echo[i] = int(m["rank"].iloc[0])
    return echo
