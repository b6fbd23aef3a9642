"""A time-aware churn classifier: features at one date, label = no purchase in the horizon after it.

Discipline against leakage
--------------------------
* Features come from rows strictly before the date they are taken at, labels from the purchases
  of the ``horizon_days`` after it (:mod:`crm_research.churn.features`). ``fit(tables, as_of)``
  uses nothing on or after ``as_of``: by default it learns from the customers of ``as_of -
  horizon_days`` and their purchases up to ``as_of``, the latest window whose outcome is known.
* Train and test are split **by time**: the model is fitted at an earlier date and evaluated at
  a later one, at least ``horizon_days`` later so that no training label looks past the test
  date. Never a random split of rows.
* Probabilities are calibrated on customers the model did not learn from: at the training date
  a stratified share of the customers (``validation_size``, drawn with the seed) is held out,
  the base model learns from the rest, and the calibration map (sigmoid, beta or smoothed
  isotonic: :mod:`crm_research.churn.calibration`) is chosen and fitted on the held-out share. The
  map is strictly increasing (the ranking is the base model's) and never gives exactly 0 or 1.
* Each customer's risk driver is the model's own contribution: the raw log-odds of churn split
  into one signed term per feature (logistic: coefficient x standardised value; gradient
  boosting: Saabas path contributions with node values = the training-weighted mean of the
  leaves below), which add up to the customer's log-odds minus the model's baseline.

The quality tables (ROC-AUC, calibration, lift) are in :mod:`crm_research.churn.evaluation`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from crm_research import exprs
from crm_research.churn.calibration import CALIBRATION_METHODS, ProbabilityCalibrator
from crm_research.churn.evaluation import classification_metrics
from crm_research.churn.features import (
    FEATURE_GROUPS,
    churn_features,
    churn_labels,
    describe_driver,
    describe_driver_value,
    label_window,
)
from crm_research.errors import CRMError, ParameterError

if TYPE_CHECKING:
    from sklearn.ensemble import HistGradientBoostingClassifier

__all__ = ["ChurnClassifier", "tree_contributions"]


def _node_expectations(nodes: np.ndarray) -> np.ndarray:
    """Each node's expected raw prediction: the training-count-weighted mean of its leaves."""
    e = nodes["value"].astype(float).copy()
    order, stack = [], [0]
    while stack:  # pre-order; reversed, every child comes before its parent
        i = stack.pop()
        order.append(i)
        if not nodes["is_leaf"][i]:
            stack += [int(nodes["left"][i]), int(nodes["right"][i])]
    count = nodes["count"].astype(float)
    for i in reversed(order):
        if not nodes["is_leaf"][i]:
            left, right = int(nodes["left"][i]), int(nodes["right"][i])
            e[i] = (count[left] * e[left] + count[right] * e[right]) / (count[left] + count[right])
    return e


def tree_contributions(model: HistGradientBoostingClassifier, X) -> tuple[np.ndarray, float]:
    """Saabas path contributions of a fitted binary :class:`~sklearn.ensemble.HistGradientBoostingClassifier`.

    Each tree's node gets its expected raw prediction (the training-count-weighted mean of the
    leaves below it, i.e. the path-dependent conditional expectation). Walking a customer down a
    tree, every split moves the expectation from the node to the child taken; that change is
    credited to the split's feature (Saabas 2014, "Interpreting random forests"). Summed over the
    trees, the contributions of a customer add up exactly to the model's raw log-odds minus the
    baseline (the initial prediction plus each tree's root expectation): local accuracy.

    Parameters
    ----------
    model : HistGradientBoostingClassifier
        Fitted on a binary target, numeric features only.
    X : array-like of shape (n_customers, n_features)
        Feature matrix as given to the model (NaN = missing, routed as the model routes it).

    Returns
    -------
    (ndarray of shape (n_customers, n_features), float)
        Contributions to the log-odds of class 1 (positive = raises it), and the baseline
        (log-odds).

    Examples
    --------
    >>> from sklearn.ensemble import HistGradientBoostingClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 2))
    >>> model = HistGradientBoostingClassifier(max_iter=10).fit(X, (X[:, 0] + 0.3 * rng.normal(size=300) > 0).astype(int))
    >>> phi, baseline = tree_contributions(model, X)
    >>> bool(np.allclose(baseline + phi.sum(axis=1), model.decision_function(X)))  # local accuracy
    True
    >>> bool(np.abs(phi[:, 0]).mean() > np.abs(phi[:, 1]).mean())  # the first feature drives the label
    True
    """
    X = np.asarray(X, dtype=float)
    if getattr(model, "n_trees_per_iteration_", None) != 1:
        raise CRMError("tree_contributions needs a fitted binary HistGradientBoostingClassifier")
    n, m = X.shape
    phi = np.zeros((n, m))
    baseline = float(np.ravel(model._baseline_prediction)[0])
    for iteration in model._predictors:
        nodes = iteration[0].nodes
        if nodes["is_categorical"].any():
            raise CRMError("tree_contributions does not handle categorical splits: pass numeric features")
        e = _node_expectations(nodes)
        baseline += float(e[0])
        stack = [(0, np.arange(n))]
        while stack:
            i, rows = stack.pop()
            if nodes["is_leaf"][i] or len(rows) == 0:
                continue
            f = int(nodes["feature_idx"][i])
            x = X[rows, f]
            go_left = np.where(np.isnan(x), bool(nodes["missing_go_to_left"][i]), x <= nodes["num_threshold"][i])
            left, right = int(nodes["left"][i]), int(nodes["right"][i])
            phi[rows[go_left], f] += e[left] - e[i]
            phi[rows[~go_left], f] += e[right] - e[i]
            stack += [(left, rows[go_left]), (right, rows[~go_left])]
    return phi, baseline


class ChurnClassifier:
    """Calibrated churn classifier with a time split and a per-customer risk driver.

    Parameters
    ----------
    horizon_days : float
        Label window: churn = no purchase in the ``horizon_days`` after the date the customers
        are taken at.
    active_days : float
        Population at a date: last purchase less than ``active_days`` before it.
    model : {"gbm", "logistic"}
        Histogram gradient boosting (handles missing values and non-linear rhythm effects) or
        a standardised logistic regression (missing values imputed by the training median).
    calibration : {"auto", "sigmoid", "beta", "isotonic"}
        Map from the model's raw log-odds to a probability, fitted on the validation customers
        (:class:`~crm_research.churn.calibration.ProbabilityCalibrator`): ``"auto"`` chooses
        by log loss among sigmoid, beta and (with at least 1,000 validation customers of each
        class) smoothed isotonic. Every map keeps the model's ranking and stays strictly
        inside (0, 1).
    seed : int
        Seed of the validation split and of the calibration's folds (the boosting itself is
        deterministic here).
    features : sequence of str, optional
        Feature subset (default: every column of :func:`churn_features` except the id).
    validation_size : float
        Share of the customers at the training date held out (stratified by the label) to
        choose and fit the calibration; the base model learns from the others.

    Notes
    -----
    Fitting and scoring run single-threaded (``threadpoolctl``): on a shared 2-core machine
    OpenMP's busy-waiting threads made the gradient boosting about 10x slower (measured:
    126 s against 12.7 s for one fit under load), and one thread also fixes the summation order.

    Attributes
    ----------
    label_start_ : Timestamp or None
        The date the training customers were taken at (their label window starts there); None
        after :meth:`fit_features`.
    feature_names_ : list of str
    reference_ : Series
        Medians of the customers the model learned from (imputation of the logistic model).
    typical_ : Series
        The typical value each driver is described against: the training mean for the logistic
        model (the point its contributions are measured from), the median for the boosting.
    estimator_ : sklearn estimator
        The base model (fitted on the customers not held out).
    calibrator_ : ProbabilityCalibrator
        The calibration map; ``calibration_`` names it and ``calibration_scores_`` holds the
        candidates' cross-validated log loss, Brier score and ECE on the validation customers.
    n_fit_, n_validation_ : int
        Customers the base model learned from, and customers held out for the calibration.
    train_metrics_ : DataFrame
        :func:`~crm_research.churn.evaluation.classification_metrics` on all customers of the
        training date (optimistic, for reference).

    See Also
    --------
    crm_research.churn.features.churn_features : the features.
    crm_research.churn.evaluation.lift_table : the quality tables of :meth:`evaluate`'s output.

    Examples
    --------
    >>> from crm_research import synthetic
    >>> tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> model = ChurnClassifier(horizon_days=90, model="logistic").fit(tables, "2025-10-01")
    >>> model  # doctest: +ELLIPSIS
    ChurnClassifier(horizon_days=90, ..., model='logistic', ...); trained at 2025-07-03 on ... customers, ...
    >>> risk = model.predict(tables, "2025-10-01")
    >>> list(risk.columns[:3]), bool(risk["p_churn"].between(0, 1).all())
    (['customer_id', 'p_churn', 'driver'], True)
    """

    def __init__(self, horizon_days: float = 90.0, active_days: float = 365.0, model: str = "gbm",
                 calibration: str = "auto", seed: int = 0, features=None, validation_size: float = 0.25):
        self.horizon_days = horizon_days
        self.active_days = active_days
        self.model = model
        self.calibration = calibration
        self.seed = seed
        self.features = features
        self.validation_size = validation_size

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_"))
        fitted = ""
        if hasattr(self, "estimator_"):
            at = "" if self.label_start_ is None else f" at {self.label_start_.date()}"
            fitted = (f"; trained{at} on {self.n_fit_:,} customers, calibration_={self.calibration_!r} "
                      f"on {self.n_validation_:,}")
        return f"{type(self).__name__}({args}){fitted}"

    def _estimator(self):
        from sklearn.ensemble import HistGradientBoostingClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if self.model == "gbm":
            return HistGradientBoostingClassifier(
                max_iter=150, learning_rate=0.08, max_leaf_nodes=15, min_samples_leaf=40,
                l2_regularization=1.0, early_stopping=False, random_state=self.seed)
        if self.model == "logistic":
            return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
        raise ParameterError(f"model must be 'gbm' or 'logistic', got {self.model!r}")

    def _matrix(self, feats: pd.DataFrame) -> np.ndarray:
        X = feats[self.feature_names_].to_numpy(dtype=float)
        if self.model == "logistic":
            X = np.where(np.isnan(X), self.reference_.to_numpy()[None, :], X)
        return X

    def _raw(self, X: np.ndarray) -> np.ndarray:
        """The base model's raw score: log-odds of churn."""
        return np.asarray(self.estimator_.decision_function(X), dtype=float).ravel()

    def _contributions(self, X: np.ndarray) -> tuple[np.ndarray, float]:
        """Per-feature contributions to the raw log-odds (n x features) and the baseline."""
        if self.model == "logistic":
            scaler, lr = self.estimator_[0], self.estimator_[-1]
            coef = lr.coef_[0]
            return (scaler.transform(X) - self._z_mean_) * coef, float(lr.intercept_[0] + coef @ self._z_mean_)
        return tree_contributions(self.estimator_, X)

    def fit(self, tables: Mapping[str, object], as_of, *, label_start=None) -> ChurnClassifier:
        """Learn from the customers of ``label_start`` and whether they bought in the horizon after it.

        Parameters
        ----------
        tables : mapping of str to DataFrame or ibis.Table
            As for :func:`~crm_research.churn.features.churn_features`.
        as_of : date-like
            Analysis date (UTC, exclusive): nothing on or after it is used. Required.
        label_start : date-like, optional
            The date the training customers are taken at; their label window ``[label_start,
            label_start + horizon_days)`` must end by ``as_of``. Default ``as_of -
            horizon_days``: the latest window whose outcome is known.

        Notes
        -----
        The base model learns from ``1 - validation_size`` of the customers; the calibration is
        chosen and fitted on the others (a stratified draw with ``seed``).
        """
        self._check_params()
        start, _ = label_window(as_of, self.horizon_days, label_start)
        feats = churn_features(tables, start, self.active_days)
        labels = churn_labels(tables["orders"], feats, as_of, self.horizon_days, label_start=start)
        y = labels["churned"].to_numpy()
        if len(np.unique(y)) < 2 or min(y.sum(), len(y) - y.sum()) < 10:
            raise CRMError(f"training date {start.date()} gives {int(y.sum())} churners among "
                           f"{len(y)} customers: too few of one class to fit")
        self.fit_features(feats, y)
        self.label_start_ = start
        return self

    def fit_features(self, features: pd.DataFrame, churned) -> ChurnClassifier:
        """Fit on a per-customer feature table and its labels (the second half of :meth:`fit`).

        Parameters
        ----------
        features : DataFrame
            ``customer_id`` and numeric features, one row per customer (e.g.
            :func:`churn_features`).
        churned : array-like of 0/1
            Label of each row (1 = churned over the horizon).
        """
        from sklearn.model_selection import train_test_split
        from threadpoolctl import threadpool_limits

        self._check_params()
        y = np.asarray(churned)
        if len(y) != len(features) or not np.isin(y, (0, 1)).all():
            raise CRMError(f"churned must hold one 0/1 label per row of features ({len(y)} labels, "
                           f"{len(features)} rows)")
        y = y.astype(np.int64)
        n_min = int(min(y.sum(), len(y) - y.sum()))
        if n_min < 10:
            raise CRMError(f"{int(y.sum())} churners among {len(y)} customers: too few of one class to fit "
                           "(at least 10 of each)")
        names = [c for c in features.columns if c != "customer_id"]
        if self.features is not None:
            unknown = [c for c in self.features if c not in names]
            if unknown:
                raise ParameterError(f"unknown feature(s) {unknown}; available: {names}")
            names = list(self.features)
        fit_rows, val_rows = train_test_split(np.arange(len(y)), test_size=self.validation_size, stratify=y,
                                              random_state=self.seed)
        fit_rows, val_rows = np.sort(fit_rows), np.sort(val_rows)
        train = features.iloc[fit_rows]
        self.feature_names_ = names
        self.reference_ = train[names].median(numeric_only=True).reindex(names).fillna(0.0)
        X = self._matrix(features)
        with threadpool_limits(1):
            self.estimator_ = self._estimator().fit(X[fit_rows], y[fit_rows])
            raw = self._raw(X)
            self.calibrator_ = ProbabilityCalibrator(method=self.calibration, seed=self.seed).fit(
                raw[val_rows], y[val_rows])
        if self.model == "logistic":
            self._z_mean_ = self.estimator_[0].transform(X[fit_rows]).mean(axis=0)
            self.typical_ = pd.Series(X[fit_rows].mean(axis=0), index=names)
        else:
            self.typical_ = self.reference_.copy()
        self.calibration_ = self.calibrator_.method_
        self.calibration_scores_ = self.calibrator_.scores_
        self.n_fit_, self.n_validation_ = int(len(fit_rows)), int(len(val_rows))
        self.label_start_ = None
        self.train_metrics_ = classification_metrics(y, self.calibrator_.predict(raw))
        return self

    def _check_params(self):
        if self.model not in ("gbm", "logistic"):
            raise ParameterError(f"model must be 'gbm' or 'logistic', got {self.model!r}")
        if self.calibration not in ("auto", *CALIBRATION_METHODS):
            raise ParameterError(f"calibration must be 'auto' or one of {list(CALIBRATION_METHODS)}, "
                                 f"got {self.calibration!r}")
        if not 0.05 <= float(self.validation_size) <= 0.5:
            raise ParameterError(f"validation_size must be a share between 0.05 and 0.5, got {self.validation_size!r}")

    def _require_fit(self):
        if not hasattr(self, "estimator_"):
            raise CRMError("ChurnClassifier is not fitted: call fit(tables, as_of) first")

    def predict(self, tables: Mapping[str, object], as_of, drivers: bool = True) -> pd.DataFrame:
        """Churn probability over the next ``horizon_days`` of each customer active at ``as_of``.

        Parameters
        ----------
        tables : mapping of str to DataFrame or ibis.Table
            As for :func:`churn_features`.
        as_of : date-like
            Scoring date (UTC, exclusive): features from rows strictly before it.
        drivers : bool
            Add each customer's risk driver: within the group of features (:data:`FEATURE_GROUPS`)
            with the largest positive summed contribution to the customer's log-odds of churn
            (:meth:`contributions`), the member that adds the most.

        Returns
        -------
        DataFrame
            Sorted by ``customer_id``: ``customer_id``, ``p_churn`` (calibrated probability,
            strictly between 0 and 1), and with ``drivers``: ``driver`` (feature name,
            ``"none"`` when no feature raises the risk), ``driver_description`` (plain words in
            the direction the customer differs from the typical one, :func:`describe_driver`;
            :data:`NO_DRIVER` for ``"none"``), ``driver_detail`` (the same with the customer's
            value and the typical one, :func:`describe_driver_value`, e.g. "long time since the
            last purchase: 210 days (typical 45)"), ``driver_contribution`` (log-odds the driver's
            group adds; 0 for ``"none"``), ``driver_effect`` (probability points the driver adds:
            ``p_churn`` minus the probability of the log-odds without it).
        """
        self._require_fit()
        return self.predict_features(churn_features(tables, as_of, self.active_days), drivers=drivers)

    def _features_matrix(self, features: pd.DataFrame) -> np.ndarray:
        exprs.require_columns(features, "features", ["customer_id", *self.feature_names_],
                              hint="build it with churn_features or the same columns the model was fitted on")
        return self._matrix(features)

    def predict_features(self, features: pd.DataFrame, drivers: bool = True) -> pd.DataFrame:
        """:meth:`predict` on a per-customer feature table (columns as at fit), in its row order."""
        from threadpoolctl import threadpool_limits

        self._require_fit()
        X = self._features_matrix(features)
        out = features[["customer_id"]].reset_index(drop=True)
        with threadpool_limits(1):
            raw = self._raw(X) if len(X) else np.array([], dtype=float)
            out["p_churn"] = self.calibrator_.predict(raw)
            if not drivers:
                return out
            phi = self._contributions(X)[0] if len(X) else np.zeros((0, len(self.feature_names_)))
        # the driver's group: largest summed contribution (twins that cancel out do not count)
        group = np.unique([FEATURE_GROUPS.get(f, f) for f in self.feature_names_], return_inverse=True)[1]
        summed = np.zeros((len(X), int(group.max()) + 1))
        np.add.at(summed.T, group, phi.T)
        rows = np.arange(len(X))
        top = np.argmax(summed, axis=1) if len(X) else np.array([], dtype=np.int64)
        contribution = summed[rows, top] if len(X) else np.array([], dtype=float)
        # described by the group's member that adds the most
        best = (np.argmax(np.where(group[None, :] == top[:, None], phi, -np.inf), axis=1) if len(X)
                else np.array([], dtype=np.int64))
        raises = contribution > 1e-9
        names = np.where(raises, np.asarray(self.feature_names_, dtype=object)[best], "none")
        value = features[self.feature_names_].to_numpy(dtype=float)[rows, best]  # as observed, not imputed
        typical = self.typical_.to_numpy(dtype=float)[best]
        contribution = np.where(raises, contribution, 0.0)
        out["driver"] = names
        out["driver_description"] = [describe_driver(n, v, r) for n, v, r in zip(names, value, typical, strict=True)]
        out["driver_detail"] = [describe_driver_value(n, v, r) for n, v, r in zip(names, value, typical, strict=True)]
        out["driver_contribution"] = contribution
        out["driver_effect"] = out["p_churn"].to_numpy() - self.calibrator_.predict(raw - contribution)
        return out

    def contributions(self, tables: Mapping[str, object], as_of) -> pd.DataFrame:
        """Each customer's log-odds of churn split into one signed term per feature.

        Logistic model: coefficient x (standardised value - its training mean). Gradient
        boosting: Saabas path contributions (:func:`tree_contributions`). Positive terms raise
        the risk. For every customer ``baseline + sum of the feature columns = log_odds``
        (exactly, up to floating point).

        Returns
        -------
        DataFrame
            ``customer_id``, ``log_odds`` (the base model's raw score), ``baseline``, then one
            column per feature (log-odds). Sorted by ``customer_id``.
        """
        self._require_fit()
        feats = churn_features(tables, as_of, self.active_days)
        return self.contributions_features(feats)

    def contributions_features(self, features: pd.DataFrame) -> pd.DataFrame:
        """:meth:`contributions` on a per-customer feature table, in its row order."""
        from threadpoolctl import threadpool_limits

        self._require_fit()
        X = self._features_matrix(features)
        with threadpool_limits(1):
            raw = self._raw(X) if len(X) else np.array([], dtype=float)
            phi, base = self._contributions(X) if len(X) else (np.zeros((0, len(self.feature_names_))), np.nan)
        out = pd.DataFrame({"customer_id": features["customer_id"].to_numpy(), "log_odds": raw,
                            "baseline": np.full(len(X), base)})
        return pd.concat([out, pd.DataFrame(phi, columns=self.feature_names_)], axis=1)

    def evaluate(self, tables: Mapping[str, object], as_of, *, label_start=None) -> pd.DataFrame:
        """Score the customers of a later date and attach what they then did (the out-of-time check).

        Parameters
        ----------
        tables : mapping of str to DataFrame or ibis.Table
            As for :meth:`fit`.
        as_of : date-like
            Analysis date (UTC, exclusive): the label window must end by it. Required.
        label_start : date-like, optional
            The date the customers are scored at; default ``as_of - horizon_days``.

        Raises
        ------
        ParameterError
            When ``label_start`` is earlier than the training date plus ``horizon_days``: the
            training labels would then use purchases after the scoring date.

        Returns
        -------
        DataFrame
            ``customer_id``, ``p_churn``, ``churned`` (0/1): feed to
            :func:`~crm_research.churn.evaluation.classification_metrics`,
            :func:`~crm_research.churn.evaluation.calibration_table`,
            :func:`~crm_research.churn.evaluation.lift_table`.
        """
        self._require_fit()
        if self.label_start_ is None:
            raise CRMError("this ChurnClassifier was fitted on a feature table (fit_features), so its training "
                           "date is unknown and the time split cannot be checked: fit it with fit(tables, as_of)")
        start, _ = label_window(as_of, self.horizon_days, label_start)
        earliest = self.label_start_ + pd.Timedelta(days=float(self.horizon_days))
        if start < earliest:
            raise ParameterError(
                f"scoring date {start} is before the training date + horizon ({earliest}): split by time, "
                "with the scoring date at least horizon_days after the training one (as_of at least "
                "two horizons after it)"
            )
        scored = self.predict(tables, start, drivers=False)
        labels = churn_labels(tables["orders"], scored, as_of, self.horizon_days, label_start=start)
        scored["churned"] = labels["churned"].to_numpy()
        return scored
