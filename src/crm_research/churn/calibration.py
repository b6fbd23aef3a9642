"""Churn probabilities a client can trust: calibration chosen on a validation split, and its check.

A classifier's raw score (the log-odds of churn of a gradient boosting or a logistic regression)
ranks customers well, but read as a probability it can be too sure or too timid. A calibration
map turns the score into a probability that matches the observed churn rate. The maps here are
**strictly increasing** in the score (the ranking of the customers is kept exactly, ties only
where the scores tie or, beyond log-odds of about +-25, where double precision can no longer
tell the probabilities apart) and **never reach 0 or 1** (a customer is never "certain" to
churn):

* ``"sigmoid"`` (Platt 1999): ``logit p = a s + c`` with ``a > 0``.
* ``"beta"`` (Kull, Silva Filho & Flach 2017, "Beta calibration"): with ``q = expit(s)`` the base
  model's own probability, ``logit p = a ln q - b ln(1 - q) + c`` with ``a, b >= 0`` (not both
  0), a logistic regression on ``[ln q, -ln(1 - q)]`` constrained to the monotone maps. It
  contains the sigmoid (``a = b``) and the identity (``a = b = 1, c = 0``), and it can bend the
  two tails differently, which the sigmoid cannot.
* ``"isotonic"``: isotonic regression (pool-adjacent-violators), smoothed so that it is strictly
  increasing: each block of the step function becomes one knot (mean score of the block, churn
  rate of the block shrunk as ``(churners + 0.5) / (customers + 1)``, so never 0 or 1), knots are
  joined linearly on the log-odds scale, and beyond the first and last knot the log-odds go on
  with the slope of the sigmoid fit. Plain isotonic regression is a step function: on the demo
  company it put 606 of 2,830 customers at exactly 100 % and gave 47 distinct probabilities.

The sigmoid and beta maps are fitted by maximum likelihood with Platt's targets
(``(N+ + 1) / (N+ + 2)`` for churners, ``1 / (N- + 2)`` for the others), which keeps them finite
when the score separates the classes. Every map's log-odds finally pass through a soft limit:
unchanged within +-10 (probabilities 4.5e-5 to 1 - 4.5e-5), compressed smoothly beyond so that
they never pass +-20 (probabilities stay between 2.1e-9 and 1 - 2.1e-9, strictly increasing).

``method="auto"`` chooses among sigmoid, beta and -- only with enough data, at least
``min_isotonic_per_class`` churners and as many non-churners -- isotonic, by the log loss of
each candidate's cross-validated predictions on the validation rows (stratified folds drawn with
the seed; the chosen map is then refitted on all of them). It takes the simplest candidate
(sigmoid, then beta, then isotonic) whose log loss is within one standard error of the best
one's (the standard error of the paired per-customer difference): a more flexible map must
earn its place, not win by noise. The validation rows must be disjoint
from the rows the base model learned from (:class:`~crm_research.churn.classifier.ChurnClassifier`
holds out a stratified share of the customers for it).

:func:`calibration_metrics` gives the reliability figures of probabilities against outcomes:
Brier score, expected calibration error over equal-count bins and log loss.

References
----------
Platt, J. (1999). Probabilistic outputs for support vector machines and comparisons to
regularized likelihood methods. *Advances in Large Margin Classifiers*, 61-74.

Kull, M., Silva Filho, T. & Flach, P. (2017). Beta calibration: a well-founded and easily
implemented improvement on logistic calibration for binary classifiers. *AISTATS*, PMLR 54,
623-631.

Naeini, M. P., Cooper, G. & Hauskrecht, M. (2015). Obtaining well calibrated probabilities using
Bayesian binning. *AAAI*, 2901-2907 (the expected calibration error).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_research.errors import CRMError, ParameterError

__all__ = ["ProbabilityCalibrator", "calibration_metrics", "expected_calibration_error", "CALIBRATION_METHODS",
           "MIN_ISOTONIC_PER_CLASS"]

CALIBRATION_METHODS = ("sigmoid", "beta", "isotonic")
"""Calibration maps, in the order "auto" tries them (the first wins a tie)."""

MIN_ISOTONIC_PER_CLASS = 1000
"""Churners and non-churners (each) the validation rows need before "auto" considers isotonic."""

_LOGIT_KNEE, _LOGIT_LIMIT = 10.0, 20.0
_MIN_SLOPE = 1e-6  # a map's slope on the score is at least this: strictly increasing
_EPS = 1e-15  # probabilities are clipped to [_EPS, 1 - _EPS] inside the log loss only


# --------------------------------------------------------------------------------------------
# reliability figures
# --------------------------------------------------------------------------------------------


def _labels_probabilities(y, p) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if y.shape != p.shape or y.ndim != 1 or len(y) == 0:
        raise CRMError(f"labels and probabilities must be non-empty and of equal length ({len(y)}, {len(p)})")
    if not np.isin(y, (0.0, 1.0)).all():
        raise CRMError("labels must be 0/1")
    if not (np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()):
        raise CRMError(f"probabilities must lie in [0, 1]; {int((~((p >= 0) & (p <= 1))).sum())} do not")
    return y, p


def _equal_count_bins(p: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin of each prediction (0 = lowest): equal-count bins of the sorted predictions (stable)."""
    order = np.argsort(p, kind="stable")
    bins = np.empty(len(p), dtype=np.int64)
    bins[order] = np.arange(len(p)) * n_bins // len(p)
    return bins


def expected_calibration_error(y, p, n_bins: int = 10) -> float:
    """Expected calibration error: mean absolute gap between predicted and observed churn.

    ``ECE = sum_b (n_b / n) |mean(p in b) - mean(y in b)|`` over ``n_bins`` equal-count bins of
    the sorted predictions (the bins of
    :func:`~crm_research.churn.evaluation.calibration_table`). Probability points (0-1); 0 is
    perfect. With ``n`` customers, pure chance gives about ``sqrt(p (1 - p) n_bins / n)`` times
    0.8 even for true probabilities.

    Examples
    --------
    >>> round(expected_calibration_error([0, 0, 1, 1], [0.1, 0.3, 0.6, 0.8], n_bins=2), 3)
    0.25
    """
    y, p = _labels_probabilities(y, p)
    if not (isinstance(n_bins, (int, np.integer)) and n_bins >= 1):
        raise ParameterError(f"n_bins must be a whole number >= 1, got {n_bins!r}")
    bins = _equal_count_bins(p, int(n_bins))
    gap = np.abs(np.bincount(bins, weights=p, minlength=n_bins) - np.bincount(bins, weights=y, minlength=n_bins))
    return float(gap.sum() / len(p))  # sum_b n_b/n * |sum p - sum y| / n_b


def calibration_metrics(y, p, n_bins: int = 10) -> pd.DataFrame:
    """Reliability of churn probabilities against outcomes, as a one-row table.

    Parameters
    ----------
    y : array-like of 0/1
        Outcomes (1 = churned).
    p : array-like of float
        Predicted churn probabilities (0-1).
    n_bins : int
        Equal-count bins of the expected calibration error.

    Returns
    -------
    DataFrame
        ``n`` (customers), ``brier`` (mean squared error of the probabilities; 0 perfect, 0.25
        a constant 50 %), ``ece`` (expected calibration error, probability points:
        :func:`expected_calibration_error`), ``log_loss`` (mean negative log-likelihood, nats;
        probabilities clipped to [1e-15, 1 - 1e-15] so that a certain wrong answer costs 34.5,
        not infinity), ``n_bins``.

    See Also
    --------
    crm_research.churn.evaluation.calibration_table : the points of the reliability curve.

    Examples
    --------
    >>> calibration_metrics([0, 1, 1, 0], [0.2, 0.8, 0.6, 0.4], n_bins=2)[["brier", "ece"]].round(3)
       brier  ece
    0    0.1  0.3
    """
    y, p = _labels_probabilities(y, p)
    pc = np.clip(p, _EPS, 1 - _EPS)
    return pd.DataFrame([{
        "n": int(len(y)),
        "brier": float(np.mean((p - y) ** 2)),
        "ece": expected_calibration_error(y, p, n_bins),
        "log_loss": float(-np.mean(y * np.log(pc) + (1 - y) * np.log1p(-pc))),
        "n_bins": int(n_bins),
    }])


# --------------------------------------------------------------------------------------------
# the maps
# --------------------------------------------------------------------------------------------


def _row_log_loss(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    pc = np.clip(p, _EPS, 1 - _EPS)
    return -(y * np.log(pc) + (1 - y) * np.log1p(-pc))


def _soft_limit(z: np.ndarray) -> np.ndarray:
    """Log-odds unchanged within +-10, smoothly compressed beyond, never past +-20."""
    z = np.asarray(z, dtype=float)
    a = np.abs(z)
    span = _LOGIT_LIMIT - _LOGIT_KNEE
    out = np.where(a <= _LOGIT_KNEE, a, _LOGIT_KNEE + span * np.tanh((a - _LOGIT_KNEE) / span))
    return np.sign(z) * out


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _platt_targets(y: np.ndarray) -> np.ndarray:
    n_pos = y.sum()
    n_neg = len(y) - n_pos
    return np.where(y == 1, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))


def _logistic_fit(F: np.ndarray, t: np.ndarray, start: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Minimise the mean cross-entropy of ``expit(F w)`` against targets ``t`` with ``w >= lower``."""
    from scipy import optimize
    from scipy.special import expit

    n = len(t)

    def loss(w):
        z = F @ w
        return float(np.sum(_softplus(z) - t * z) / n), F.T @ (expit(z) - t) / n

    bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]
    res = optimize.minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds,
                            options={"maxiter": 1000, "ftol": 1e-13, "gtol": 1e-10})
    return np.maximum(res.x, lower)


def _sigmoid_features(s: np.ndarray) -> np.ndarray:
    return np.column_stack([s, np.ones_like(s)])


def _beta_features(s: np.ndarray) -> np.ndarray:
    # ln q = -softplus(-s) and -ln(1 - q) = softplus(s) for q = expit(s): exact for any s
    return np.column_stack([-_softplus(-s), _softplus(s), np.ones_like(s)])


def _fit_sigmoid(s: np.ndarray, y: np.ndarray) -> dict:
    w = _logistic_fit(_sigmoid_features(s), _platt_targets(y), np.array([1.0, 0.0]),
                      np.array([_MIN_SLOPE, -np.inf]))
    return {"a": float(w[0]), "c": float(w[1])}


def _fit_beta(s: np.ndarray, y: np.ndarray) -> dict:
    w = _logistic_fit(_beta_features(s), _platt_targets(y), np.array([1.0, 1.0, 0.0]),
                      np.array([_MIN_SLOPE, _MIN_SLOPE, -np.inf]))
    return {"a": float(w[0]), "b": float(w[1]), "c": float(w[2])}


def _merge_runs(x: np.ndarray, v: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge consecutive equal values of ``v``: knot = weighted mean of ``x``, weights summed."""
    start = np.r_[True, np.diff(v) > 0]
    run = np.cumsum(start) - 1
    wr = np.bincount(run, weights=w)
    return np.bincount(run, weights=x * w) / wr, v[start], wr


def _fit_isotonic(s: np.ndarray, y: np.ndarray) -> dict:
    """Smoothed isotonic map: knots (score, log-odds) strictly increasing in both, sigmoid tails."""
    from sklearn.isotonic import isotonic_regression

    xs, inv = np.unique(s, return_inverse=True)
    n = np.bincount(inv).astype(float)
    k = np.bincount(inv, weights=y)
    fitted = isotonic_regression(k / n, sample_weight=n, increasing=True)
    start = np.r_[True, np.diff(fitted) > 0]
    block = np.cumsum(start) - 1
    nb, kb = np.bincount(block, weights=n), np.bincount(block, weights=k)
    xb = np.bincount(block, weights=xs * n) / nb
    vb = (kb + 0.5) / (nb + 1.0)  # never 0 or 1
    vb = isotonic_regression(vb, sample_weight=nb, increasing=True)  # the shrinkage may break the order
    xk, vk, _ = _merge_runs(xb, vb, nb)
    return {"knots_score": xk, "knots_logit": np.log(vk) - np.log1p(-vk), "tail_slope": _fit_sigmoid(s, y)["a"]}


def _logit(method: str, params: dict, s: np.ndarray) -> np.ndarray:
    if method == "sigmoid":
        return params["a"] * s + params["c"]
    if method == "beta":
        return _beta_features(s) @ np.array([params["a"], params["b"], params["c"]])
    if method == "isotonic":
        x, z, slope = params["knots_score"], params["knots_logit"], params["tail_slope"]
        inner = np.interp(s, x, z)
        return np.where(s < x[0], z[0] + slope * (s - x[0]), np.where(s > x[-1], z[-1] + slope * (s - x[-1]), inner))
    if method == "uncalibrated":
        return s
    raise ParameterError(f"unknown calibration method {method!r}")


_FITS = {"sigmoid": _fit_sigmoid, "beta": _fit_beta, "isotonic": _fit_isotonic}


def _probability(method: str, params: dict, s: np.ndarray) -> np.ndarray:
    from scipy.special import expit

    return expit(_soft_limit(_logit(method, params, s)))


# --------------------------------------------------------------------------------------------
# the estimator
# --------------------------------------------------------------------------------------------


class ProbabilityCalibrator:
    """Map a classifier's raw score to a calibrated churn probability, chosen on validation rows.

    Parameters
    ----------
    method : {"auto", "sigmoid", "beta", "isotonic"}
        The map (see the module notes). ``"auto"`` picks, among sigmoid, beta and (with at
        least ``min_isotonic_per_class`` rows of each class) isotonic, the simplest one whose
        cross-validated log loss on the rows given to :meth:`fit` is within one standard error
        of the lowest. A named method is used as
        asked (isotonic even with little data), and the candidates are still scored.
    min_isotonic_per_class : int
        Churners and non-churners (each) needed before ``"auto"`` considers isotonic.
    n_folds : int
        Stratified folds of the cross-validated scores (fewer when a class has fewer rows).
    seed : int
        Seed of the folds.

    Attributes
    ----------
    method_ : str
        The map used.
    params_ : dict
        Its parameters: ``a``, ``c`` (sigmoid: slope on the score, intercept, log-odds);
        ``a``, ``b``, ``c`` (beta); ``knots_score``, ``knots_logit``, ``tail_slope``
        (isotonic).
    scores_ : DataFrame
        One row per map: ``method``, ``log_loss`` (nats), ``brier``, ``ece`` (probability
        points) of its cross-validated predictions on the validation rows, ``chosen`` (bool),
        ``note``, ``log_loss_se`` (standard error of its per-customer log loss minus the best
        candidate's; 0 for the best, NaN when not a candidate). The first row, ``uncalibrated``, is the base model's own probability
        ``expit(score)`` (a reference, never chosen).
    n_ : int
        Validation rows; ``n_churners_`` of them churned.

    Examples
    --------
    >>> from scipy.special import expit
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=4000)
    >>> y = (rng.random(4000) < expit(0.8 * x - 0.3)).astype(int)
    >>> cal = ProbabilityCalibrator().fit(3 * x, y)    # an over-confident score
    >>> cal.method_, round(cal.params_["a"] * 3, 1)
    ('sigmoid', 0.8)
    """

    def __init__(self, method: str = "auto", min_isotonic_per_class: int = MIN_ISOTONIC_PER_CLASS,
                 n_folds: int = 5, seed: int = 0):
        self.method = method
        self.min_isotonic_per_class = min_isotonic_per_class
        self.n_folds = n_folds
        self.seed = seed

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.endswith("_"))
        fitted = f"; method_={self.method_!r}, n_={self.n_}" if hasattr(self, "method_") else ""
        return f"{type(self).__name__}({args}){fitted}"

    def fit(self, score, y) -> ProbabilityCalibrator:
        """Score the candidate maps by cross-validation, choose one and fit it on all rows.

        Parameters
        ----------
        score : array-like of float
            The base model's raw score (log-odds of churn) of validation customers the base
            model did not learn from.
        y : array-like of 0/1
            Their outcomes (1 = churned).
        """
        from sklearn.model_selection import StratifiedKFold

        if self.method not in ("auto", *CALIBRATION_METHODS):
            raise ParameterError(f"calibration method must be 'auto' or one of {list(CALIBRATION_METHODS)}, "
                                 f"got {self.method!r}")
        s = np.asarray(score, dtype=float)
        y = np.asarray(y, dtype=float)
        if s.shape != y.shape or s.ndim != 1 or not np.isfinite(s).all():
            raise CRMError(f"calibration needs one finite score per label ({s.shape} scores, {y.shape} labels)")
        if not np.isin(y, (0.0, 1.0)).all():
            raise CRMError("calibration labels must be 0/1")
        n_pos = int(y.sum())
        n_min = min(n_pos, len(y) - n_pos)
        if n_min < 2:
            raise CRMError(f"calibration needs at least 2 churners and 2 non-churners among the validation rows; "
                           f"got {n_pos} of {len(y)}: use more customers or a larger validation share")
        isotonic_ok = n_min >= self.min_isotonic_per_class
        folds = list(StratifiedKFold(n_splits=min(int(self.n_folds), n_min), shuffle=True,
                                     random_state=self.seed).split(s, y))
        rows = [dict(method="uncalibrated", **self._figures(y, _probability("uncalibrated", {}, s)),
                     note="the base model's own probability (reference)")]
        losses = {}
        for m in CALIBRATION_METHODS:
            cv = np.empty(len(s))
            for tr, te in folds:
                cv[te] = _probability(m, _FITS[m](s[tr], y[tr]), s[te])
            note = "cross-validated on the validation rows"
            if m == "isotonic" and not isotonic_ok:
                note = (f"not a candidate for 'auto': needs {self.min_isotonic_per_class:,} validation rows of each "
                        f"class, has {n_min:,}")
            else:
                losses[m] = _row_log_loss(y, cv)
            rows.append(dict(method=m, **self._figures(y, cv), note=note))
        table = pd.DataFrame(rows)
        # one-standard-error rule: the simplest candidate within one standard error (of the paired
        # per-customer difference in log loss) of the best one
        best = min(losses, key=lambda m: losses[m].mean())
        se = {m: float(np.std(v - losses[best], ddof=1) / np.sqrt(len(v))) for m, v in losses.items()}
        table["log_loss_se"] = table["method"].map(se)
        if self.method == "auto":
            chosen = next(m for m in losses if losses[m].mean() - losses[best].mean() <= se[m])
        else:
            chosen = self.method
        table.insert(4, "chosen", table["method"] == chosen)
        self.method_ = chosen
        self.params_ = _FITS[chosen](s, y)
        self.scores_ = table
        self.n_, self.n_churners_ = int(len(y)), n_pos
        return self

    @staticmethod
    def _figures(y: np.ndarray, p: np.ndarray) -> dict:
        m = calibration_metrics(y, p).iloc[0]
        return {"log_loss": float(m["log_loss"]), "brier": float(m["brier"]), "ece": float(m["ece"])}

    def predict(self, score) -> np.ndarray:
        """Calibrated churn probability of each raw score: strictly inside (0, 1), same order."""
        if not hasattr(self, "method_"):
            raise CRMError("ProbabilityCalibrator is not fitted: call fit(score, y) first")
        s = np.asarray(score, dtype=float)
        return _probability(self.method_, self.params_, s)

    def summary(self) -> pd.DataFrame:
        """The candidates' validation scores (:attr:`scores_`)."""
        if not hasattr(self, "method_"):
            raise CRMError("ProbabilityCalibrator is not fitted: call fit(score, y) first")
        return self.scores_.copy()
