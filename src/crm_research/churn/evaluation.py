"""How good a churn score is: ranking, calibration and lift, against the outcome that followed.

Each function takes the 0/1 outcomes ``y`` (1 = churned) and the predicted probabilities ``p``
of the same customers (e.g. :meth:`~crm_research.churn.classifier.ChurnClassifier.evaluate`
output) and returns a tidy table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_research.errors import CRMError
from crm_research.stats import wilson

__all__ = ["classification_metrics", "calibration_table", "lift_table", "time_split_metrics"]


def _yp(y, p) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if y.shape != p.shape or len(y) == 0:
        raise CRMError(f"labels and probabilities must be non-empty and of equal length ({len(y)}, {len(p)})")
    if not np.isin(y, (0.0, 1.0)).all():
        raise CRMError("labels must be 0/1")
    return y, p


def classification_metrics(y, p) -> pd.DataFrame:
    """ROC-AUC, PR-AUC (average precision), Brier score and base rate, as a one-row table.

    Returns
    -------
    DataFrame
        ``n``, ``base_rate`` (share of churners), ``mean_predicted``, ``roc_auc``, ``pr_auc``,
        ``brier`` (mean squared error of the probabilities).

    Examples
    --------
    >>> y = [0, 0, 1, 1, 0, 1, 0, 1]
    >>> p = [0.1, 0.3, 0.8, 0.6, 0.2, 0.9, 0.7, 0.4]
    >>> classification_metrics(y, p).round(3)
       n  base_rate  mean_predicted  roc_auc  pr_auc  brier
    0  8        0.5             0.5    0.875   0.888   0.15
    """
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y, p = _yp(y, p)
    both = 0 < y.sum() < len(y)
    return pd.DataFrame([{
        "n": int(len(y)),
        "base_rate": float(y.mean()),
        "mean_predicted": float(p.mean()),
        "roc_auc": float(roc_auc_score(y, p)) if both else np.nan,
        "pr_auc": float(average_precision_score(y, p)) if both else np.nan,
        "brier": float(brier_score_loss(y, p)),
    }])


def calibration_table(y, p, n_bins: int = 10) -> pd.DataFrame:
    """Observed churn rate against predicted probability, in equal-count bins of the prediction.

    The points of the reliability curve; :func:`calibration_metrics` sums them up (Brier score,
    expected calibration error over the same bins, log loss).

    Returns
    -------
    DataFrame
        ``bin`` (1 = lowest predictions), ``n``, ``mean_predicted``, ``observed_rate``,
        ``ci_lower``, ``ci_upper`` (Wilson 95 % interval of the observed rate), ``gap``
        (``observed_rate - mean_predicted``: positive = more churn than predicted).

    Examples
    --------
    >>> y = [0, 0, 1, 1, 0, 1, 0, 1]
    >>> p = [0.1, 0.3, 0.8, 0.6, 0.2, 0.9, 0.7, 0.4]
    >>> calibration_table(y, p, n_bins=2).round(3)
       bin  n  mean_predicted  observed_rate  ci_lower  ci_upper  gap
    0    1  4            0.25           0.25     0.046     0.699  0.0
    1    2  4            0.75           0.75     0.301     0.954  0.0
    """
    y, p = _yp(y, p)
    order = np.argsort(p, kind="stable")
    bins = np.empty(len(p), dtype=int)
    bins[order] = np.arange(len(p)) * n_bins // len(p)
    rows = []
    for b in range(n_bins):
        m = bins == b
        if not m.any():
            continue
        n, k = int(m.sum()), float(y[m].sum())
        lo, hi = (float(v) for v in wilson(k, n))
        rows.append({"bin": b + 1, "n": n, "mean_predicted": float(p[m].mean()),
                     "observed_rate": k / n, "ci_lower": lo, "ci_upper": hi, "gap": k / n - float(p[m].mean())})
    return pd.DataFrame(rows)


def lift_table(y, p, n_groups: int = 10) -> pd.DataFrame:
    """Lift and cumulative gain by decile of predicted risk (decile 1 = highest risk).

    Customers are ranked by ``p`` descending (ties by position, stable) and cut into
    ``n_groups`` equal-count groups.

    Returns
    -------
    DataFrame
        ``decile``, ``n``, ``churners``, ``churn_rate``, ``lift`` (rate / overall rate),
        ``cum_population_share``, ``cum_churner_share`` (the gain: share of all churners found
        by targeting deciles 1..d), ``cum_lift``.

    Examples
    --------
    >>> y = [0, 0, 1, 1, 0, 1, 0, 1]
    >>> p = [0.1, 0.3, 0.8, 0.6, 0.2, 0.9, 0.7, 0.4]
    >>> lift_table(y, p, n_groups=4)[["decile", "n", "churners", "lift", "cum_churner_share"]]
       decile  n  churners  lift  cum_churner_share
    0       1  2         2   2.0               0.50
    1       2  2         1   1.0               0.75
    2       3  2         1   1.0               1.00
    3       4  2         0   0.0               1.00
    """
    y, p = _yp(y, p)
    order = np.argsort(-p, kind="stable")
    grp = np.empty(len(p), dtype=int)
    grp[order] = np.arange(len(p)) * n_groups // len(p)
    base = y.mean()
    total = y.sum()
    rows = []
    cum_n = cum_k = 0.0
    for g in range(n_groups):
        m = grp == g
        n, k = int(m.sum()), float(y[m].sum())
        if n == 0:
            continue
        cum_n += n
        cum_k += k
        rows.append({
            "decile": g + 1, "n": n, "churners": int(k), "churn_rate": k / n,
            "lift": (k / n) / base if base > 0 else np.nan,
            "cum_population_share": cum_n / len(y),
            "cum_churner_share": cum_k / total if total > 0 else np.nan,
            "cum_lift": (cum_k / cum_n) / base if base > 0 else np.nan,
        })
    return pd.DataFrame(rows)


def time_split_metrics(model, scored: pd.DataFrame, scored_on) -> pd.DataFrame:
    """:func:`classification_metrics` of a time-split model: where it learned, and on the later period.

    Parameters
    ----------
    model : ChurnClassifier
        Fitted with ``fit(tables, as_of)`` (its ``train_metrics_`` and ``label_start_``).
    scored : DataFrame
        :meth:`~crm_research.churn.classifier.ChurnClassifier.evaluate` output
        (``churned``, ``p_churn``).
    scored_on : date-like
        The date the ``scored`` customers were taken at.

    Returns
    -------
    DataFrame
        Two rows: ``sample`` ("learned from (in sample)", "unseen later period (out of
        time)"), ``scored_on`` (the dates), then the columns of :func:`classification_metrics`.

    Examples
    --------
    >>> y = [0, 0, 1, 1, 0, 1, 0, 1]
    >>> p = [0.1, 0.3, 0.8, 0.6, 0.2, 0.9, 0.7, 0.4]
    >>> from types import SimpleNamespace
    >>> model = SimpleNamespace(train_metrics_=classification_metrics(y, p),  # a fitted ChurnClassifier, say
    ...                         label_start_=pd.Timestamp("2025-07-03", tz="UTC"))
    >>> scored = pd.DataFrame({"churned": y, "p_churn": p})
    >>> time_split_metrics(model, scored, pd.Timestamp("2025-10-01", tz="UTC"))[["sample", "scored_on", "n", "roc_auc"]]
                                  sample                 scored_on  n  roc_auc
    0           learned from (in sample) 2025-07-03 00:00:00+00:00  8    0.875
    1  unseen later period (out of time) 2025-10-01 00:00:00+00:00  8    0.875
    """
    out_of_time = classification_metrics(scored["churned"], scored["p_churn"])
    metrics = pd.concat([model.train_metrics_.assign(sample="learned from (in sample)", scored_on=model.label_start_),
                         out_of_time.assign(sample="unseen later period (out of time)", scored_on=scored_on)],
                        ignore_index=True)
    return metrics[["sample", "scored_on", *out_of_time.columns]]
