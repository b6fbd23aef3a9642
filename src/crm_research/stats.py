"""Small statistics shared by every topic: normal quantiles and the Wilson interval.

One implementation each, used by the baseline, the journey, attribution and churn (issue 18).
Functions are vectorised over numpy arrays; :func:`wilson_expr` is the same interval as an
engine expression, for tables that stay in the engine.
"""

from __future__ import annotations

import numpy as np

from crm_research.errors import ParameterError

__all__ = ["z_value", "wilson", "wilson_expr"]


def z_value(conf: float) -> float:
    """Two-sided standard normal quantile of the confidence level ``conf``.

    Parameters
    ----------
    conf : float
        Confidence level, strictly between 0 and 1.

    Returns
    -------
    float
        ``z`` such that ``P(|Z| <= z) = conf`` for a standard normal ``Z``.

    Raises
    ------
    ParameterError
        ``conf`` is not strictly between 0 and 1.

    Examples
    --------
    >>> round(z_value(0.95), 4)
    1.96
    """
    if not isinstance(conf, (int, float, np.floating)) or not 0 < conf < 1:
        raise ParameterError(f"conf={conf!r} must be strictly between 0 and 1, e.g. 0.95")
    # scipy.stats.norm.ppf is this function (times scale 1, plus loc 0): the same bits, without
    # importing scipy.stats (about 1 CPU s, in a notebook that needs no other part of it)
    from scipy.special import ndtri

    return float(ndtri(0.5 + conf / 2))


def wilson(k, n, conf: float = 0.95, *, z: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of the proportion ``k / n``.

    .. math:: \\frac{\\hat p + z^2/2n \\pm z\\sqrt{\\hat p(1-\\hat p)/n + z^2/4n^2}}{1 + z^2/n}

    (Wilson 1927, *JASA* 22:209). The interval always holds ``k / n``: rounding can otherwise
    leave an end a hair inside it at ``k = 0`` or ``k = n``.

    Parameters
    ----------
    k, n : array-like or float
        Successes and trials (counts; ``k`` may be fractional, e.g. weighted conversions).
    conf : float
        Confidence level (default 0.95). Ignored when ``z`` is given.
    z : float, optional
        The normal quantile itself, for callers that computed it once.

    Returns
    -------
    low, high : ndarray
        Bounds (shares in [0, 1]), the shape of ``k`` and ``n`` broadcast; NaN where ``n <= 0``
        or ``k`` is outside ``[0, n]``.

    See Also
    --------
    wilson_expr : the same interval on engine columns.

    Examples
    --------
    >>> low, high = wilson([0, 30], [100, 100])
    >>> [round(float(v), 4) for v in low], [round(float(v), 4) for v in high]
    ([0.0, 0.2189], [0.037, 0.3958])
    """
    z = z_value(conf) if z is None else float(z)
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    ok = (n > 0) & (k >= 0) & (k <= n)
    nn = np.where(ok, n, 1.0)
    p = np.where(ok, k, 0.0) / nn
    den = 1 + z * z / nn
    centre = (p + z * z / (2 * nn)) / den
    half = z * np.sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn)) / den
    low = np.where(ok, np.clip(np.minimum(centre - half, p), 0.0, 1.0), np.nan)
    high = np.where(ok, np.clip(np.maximum(centre + half, p), 0.0, 1.0), np.nan)
    return low, high


def wilson_expr(k, n, z: float):
    """Wilson score interval of ``k`` successes in ``n`` trials as engine (Ibis) expressions.

    Parameters
    ----------
    k, n : ibis numeric values
        Successes and trials.
    z : float
        Two-sided normal quantile (:func:`z_value`).

    Returns
    -------
    low, high : ibis float values
        Bounds in [0, 1]; null where ``n == 0``.

    See Also
    --------
    wilson : the same interval on numpy arrays.
    """
    import ibis

    nf = n.cast("float64")
    p = k.cast("float64") / nf
    z2 = z * z
    denom = 1.0 + z2 / nf
    center = (p + z2 / (2.0 * nf)) / denom
    half = z * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt() / denom
    ok = n > 0
    null = ibis.null("float64")
    return ok.ifelse(ibis.greatest(center - half, 0.0), null), ok.ifelse(ibis.least(center + half, 1.0), null)
