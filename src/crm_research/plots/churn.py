"""Figures of the churn notebook. Each takes ``ax=None`` and returns the Axes; none shows."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import matplotlib.pyplot as plt

__all__ = [
    "plot_survival_curves",
    "plot_hazard_ratios",
    "plot_calibration",
    "plot_gain",
    "plot_lift",
    "plot_risk_bands",
    "plot_p_alive_matrix",
    "plot_holdout_purchases",
    "plot_value_at_risk",
]


def _ax(ax):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    return ax


def _namer(labels: Mapping | Callable | None) -> Callable[[object], str]:
    """A function giving the shown name of a value: ``labels`` as a mapping or a function, else ``str``."""
    if labels is None:
        return str
    if callable(labels):
        return lambda v: str(labels(v))
    return lambda v: str(labels.get(v, labels.get(str(v), v)))


def plot_survival_curves(km: pd.DataFrame, ax=None, *, band: bool = True,
                         title: str = "Kaplan-Meier survival",
                         labels: Mapping | Callable | None = None) -> plt.Axes:
    """Step curves of :func:`crm_research.churn.survival.kaplan_meier` output, one per group.

    ``labels`` (a mapping or a function of the group value) gives the legend's names.

    Examples
    --------
    >>> from crm_research.churn import kaplan_meier
    >>> df = pd.DataFrame({"duration_days": [10, 20, 20, 30, 40, 50], "event": [1, 1, 0, 1, 0, 1], "plan": list("aabbab")})
    >>> ax = plot_survival_curves(kaplan_meier(df, group_col="plan", times=[0, 20, 40]), title="Still active, by plan")
    >>> ax.get_title(), len(ax.lines)
    ('Still active, by plan', 2)
    """
    ax = _ax(ax)
    name = _namer(labels)
    for g, sub in km.groupby("group", sort=True):
        line = ax.step(sub["time_days"], sub["survival"], where="post", label=name(g))[0]
        if band:
            ax.fill_between(sub["time_days"], sub["ci_lower"], sub["ci_upper"], step="post",
                            alpha=0.2, color=line.get_color())
    ax.set_xlabel("days since start")
    ax.set_ylabel("share still active")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(title=None, frameon=False)
    return ax


def plot_hazard_ratios(summary: pd.DataFrame, ax=None, *, truth: Mapping[str, float] | None = None,
                       title: str = "Cox hazard ratios (95 % CI)",
                       labels: Mapping | Callable | None = None) -> plt.Axes:
    """Forest plot of :meth:`CoxModel.summary`; ``truth`` (covariate -> ratio) adds markers.

    ``labels`` (a mapping or a function of the covariate name, e.g.
    :func:`crm_research.churn.survival.covariate_label`) gives the tick labels.

    Examples
    --------
    >>> summary = pd.DataFrame({"covariate": ["plan_plus", "age_per_10"], "hazard_ratio": [2.07, 1.01],
    ...                         "hr_lower": [1.6, 0.9], "hr_upper": [2.6, 1.1]})
    >>> ax = plot_hazard_ratios(summary, truth={"plan_plus": 2.0})
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['plan_plus', 'age_per_10']
    """
    ax = _ax(ax)
    y = np.arange(len(summary))[::-1]
    hr = summary["hazard_ratio"].to_numpy()
    ax.errorbar(hr, y, xerr=[hr - summary["hr_lower"].to_numpy(), summary["hr_upper"].to_numpy() - hr],
                fmt="o", capsize=3, label="estimate")
    if truth:
        tv = [truth.get(c, np.nan) for c in summary["covariate"]]
        ax.scatter(tv, y, marker="x", color="black", zorder=3, label="planted")
    ax.axvline(1.0, color="grey", lw=1, ls="--")
    ax.set_xscale("log")
    ax.set_yticks(y, [_namer(labels)(c) for c in summary["covariate"]])
    ax.set_xlabel("hazard ratio (log scale; < 1 = churns later)")
    ax.set_title(title)
    ax.legend(frameon=False)
    return ax


def plot_calibration(table: pd.DataFrame, ax=None, *, title: str = "Calibration") -> plt.Axes:
    """Observed against predicted churn rate from :func:`calibration_table`.

    Examples
    --------
    >>> from crm_research.churn import calibration_table, lift_table
    >>> y, p = [0, 0, 1, 1, 0, 1, 0, 1], [0.1, 0.3, 0.8, 0.6, 0.2, 0.9, 0.7, 0.4]
    >>> ax = plot_calibration(calibration_table(y, p, n_bins=2))
    >>> ax.get_title()
    'Calibration'
    """
    ax = _ax(ax)
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfect")
    err = np.clip([table["observed_rate"] - table["ci_lower"], table["ci_upper"] - table["observed_rate"]], 0, None)
    ax.errorbar(table["mean_predicted"], table["observed_rate"], yerr=err, fmt="o-", capsize=3,
                label="model")
    ax.set_xlabel("predicted churn probability")
    ax.set_ylabel("observed churn rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(frameon=False)
    return ax


def plot_gain(table: pd.DataFrame, ax=None, *, title: str = "Cumulative gain") -> plt.Axes:
    """Share of churners found against share of customers targeted (:func:`lift_table`).

    Examples
    --------
    >>> from crm_research.churn import calibration_table, lift_table
    >>> y, p = [0, 0, 1, 1, 0, 1, 0, 1], [0.1, 0.3, 0.8, 0.6, 0.2, 0.9, 0.7, 0.4]
    >>> ax = plot_gain(lift_table(y, p, n_groups=4))
    >>> ax.get_title()
    'Cumulative gain'
    """
    ax = _ax(ax)
    x = np.r_[0.0, table["cum_population_share"].to_numpy()]
    y = np.r_[0.0, table["cum_churner_share"].to_numpy()]
    ax.plot(x, y, "o-", label="model")
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="random")
    ax.set_xlabel("share of customers targeted (highest risk first)")
    ax.set_ylabel("share of churners reached")
    ax.set_title(title)
    ax.legend(frameon=False)
    return ax


def plot_lift(table: pd.DataFrame, ax=None, *, title: str = "Lift by decile") -> plt.Axes:
    """Bar chart of the lift per risk decile (:func:`lift_table`).

    Examples
    --------
    >>> from crm_research.churn import calibration_table, lift_table
    >>> y, p = [0, 0, 1, 1, 0, 1, 0, 1], [0.1, 0.3, 0.8, 0.6, 0.2, 0.9, 0.7, 0.4]
    >>> ax = plot_lift(lift_table(y, p, n_groups=4))
    >>> ax.get_title(), len(ax.patches)
    ('Lift by decile', 4)
    """
    ax = _ax(ax)
    ax.bar(table["decile"], table["lift"])
    ax.axhline(1.0, color="grey", lw=1, ls="--")
    ax.set_xticks(table["decile"])
    ax.set_xlabel("risk decile (1 = highest predicted risk)")
    ax.set_ylabel("churn rate / overall rate")
    ax.set_title(title)
    return ax


def plot_risk_bands(table: pd.DataFrame, ax=None, *, title: str = "RFM risk bands: hit rate") -> plt.Axes:
    """Hit rate per band of :func:`hit_rate_table` with the overall rate as a line.

    Examples
    --------
    >>> from crm_research.churn import hit_rate_table
    >>> scores = pd.DataFrame({"customer_id": [1, 2, 3, 4], "risk_band": ["active", "active", "lapsed", "lapsed"],
    ...                        "risk_score": [0.1, 0.2, 0.8, 0.9]})
    >>> ax = plot_risk_bands(hit_rate_table(scores, pd.DataFrame({"customer_id": [1, 2, 3, 4], "churned": [0, 1, 1, 1]})))
    >>> ax.get_title()
    'RFM risk bands: hit rate'
    """
    ax = _ax(ax)
    bands = table[table["band"] != "all"]
    overall = table.loc[table["band"] == "all", "hit_rate"]
    ax.bar(bands["band"], bands["hit_rate"])
    for x, (h, n) in enumerate(zip(bands["hit_rate"], bands["n"], strict=True)):
        ax.annotate(f"n={n:,}", (x, h), ha="center", va="bottom", fontsize=8)
    if len(overall):
        ax.axhline(float(overall.iloc[0]), color="grey", lw=1, ls="--", label="all customers")
        ax.legend(frameon=False)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share who churned")
    ax.set_title(title)
    return ax


def plot_p_alive_matrix(model, T: float, ax=None, *, max_frequency: int = 20, n_recency: int = 40,
                        title: str = "P(alive) by frequency and recency") -> plt.Axes:
    """Heat map of a fitted BG/NBD or Pareto/NBD model's P(alive) for customers of age ``T``.

    ``T`` and the recency axis are in the model's time unit.

    Examples
    --------
    >>> from crm_research.churn import BetaGeoModel
    >>> bg = BetaGeoModel()
    >>> bg.params_ = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}   # CDNOW, weeks
    >>> ax = plot_p_alive_matrix(bg, T=38.86, max_frequency=10)
    >>> ax.images[0].get_array().shape
    (11, 40)
    """
    import matplotlib.pyplot as plt

    ax = _ax(ax)
    rec = np.linspace(0, T, n_recency)
    freq = np.arange(0, max_frequency + 1)
    F, R = np.meshgrid(freq, rec, indexing="ij")
    grid = pd.DataFrame({"frequency": F.ravel().astype(float), "recency": np.where(F.ravel() > 0, R.ravel(), 0.0),
                         "T": np.full(F.size, float(T))})
    p = np.asarray(model.p_alive(grid)).reshape(F.shape)
    im = ax.imshow(p, origin="lower", aspect="auto", extent=(0, T, -0.5, max_frequency + 0.5),
                   vmin=0, vmax=1, cmap="viridis")
    plt.colorbar(im, ax=ax, label="P(alive)")
    ax.set_xlabel("recency (time of last purchase since first)")
    ax.set_ylabel("repeat purchases (frequency)")
    ax.set_title(title)
    return ax


def plot_holdout_purchases(cal_holdout: pd.DataFrame, model, ax=None, *, max_frequency: int = 7,
                           title: str = "Holdout purchases: actual vs model") -> plt.Axes:
    """Mean holdout purchases by calibration frequency, actual and predicted (a BTYD check).

    ``cal_holdout`` is :func:`calibration_holdout_summary` output; ``model`` was fitted on its
    calibration columns.

    Examples
    --------
    >>> from crm_research import synthetic
    >>> from crm_research.churn import BetaGeoModel, calibration_holdout_summary
    >>> tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> holdout = calibration_holdout_summary(tables["orders"], "2025-10-01", "2026-01-01", value_col=None)
    >>> ax = plot_holdout_purchases(holdout, BetaGeoModel().fit(holdout))
    >>> ax.get_title(), len(ax.lines)
    ('Holdout purchases: actual vs model', 2)
    """
    ax = _ax(ax)
    d = cal_holdout.copy()
    d["predicted"] = model.expected_purchases(d, float(d["duration_holdout"].iloc[0])).to_numpy()
    d["bucket"] = np.minimum(d["frequency"], max_frequency)
    g = d.groupby("bucket", sort=True)[["frequency_holdout", "predicted"]].mean()
    ax.plot(g.index, g["frequency_holdout"], "o-", label="actual")
    ax.plot(g.index, g["predicted"], "s--", label="model")
    labels = [str(int(i)) if i < max_frequency else f"{max_frequency}+" for i in g.index]
    ax.set_xticks(g.index, labels)
    ax.set_xlabel("repeat purchases in the calibration period")
    ax.set_ylabel("mean purchases in the holdout period")
    ax.set_title(title)
    ax.legend(frameon=False)
    return ax


def plot_value_at_risk(at_risk: pd.DataFrame, ax=None, *, top: int = 20,
                       title: str = "Value at risk: top customers") -> plt.Axes:
    """Horizontal bars of the ``top`` rows of :func:`at_risk_list` (labels = place in the list).

    A list with values shows each customer's value at risk, whichever way it was ranked; a list
    without (no ``value_at_risk`` column: the value is unknown) shows the churn probability.

    Examples
    --------
    >>> from crm_research.churn import at_risk_list
    >>> scores = pd.DataFrame({"customer_id": [1, 2, 3], "p_churn": [0.8, 0.5, 0.2], "value_if_alive": [100.0, 300.0, 50.0],
    ...                        "driver_description": ["long silence", "few orders", "none"]})
    >>> ax = plot_value_at_risk(at_risk_list(scores), top=2)
    >>> ax.get_title(), len(ax.patches)
    ('Value at risk: top customers', 2)
    """
    ax = _ax(ax)
    d = at_risk.head(top).iloc[::-1]
    rank = d["rank"] if "rank" in d.columns else d.get("rank_value_at_risk", d.get("rank_risk"))
    labels = [f"#{r}" for r in rank]
    if "value_at_risk" in d.columns:
        ax.barh(labels, d["value_at_risk"])
        ax.set_xlabel("value at risk (currency: P(churn) x value if retained)")
    else:
        ax.barh(labels, d["p_churn"])
        ax.set_xlim(0, 1)
        ax.set_xlabel("probability of no purchase (P(churn))")
    ax.set_title(title)
    return ax


__all__ += ["plot_retention_projection", "plot_discrete_holdout"]


def plot_retention_projection(model, actual: pd.Series | pd.DataFrame | None = None, periods: int = 12,
                              ax=None, *, calibration_periods: int | None = None,
                              title: str = "Retention: actual, fitted and projected (sBG)") -> plt.Axes:
    """Share of a cohort still active by period: a fitted sBG model's ``survival`` against actuals.

    Parameters
    ----------
    model : ShiftedBetaGeoModel
        Fitted (:mod:`crm_research.churn.sbg`).
    actual : Series or DataFrame, optional
        Actual share still active (0-1) indexed by period, or :func:`sbg_holdout`'s table
        (``period``, ``actual_survival``).
    periods : int
        Last period drawn.
    calibration_periods : int, optional
        Where the dashed vertical line marks the end of the fit data; default the model's
        ``observed_periods_``.

    Examples
    --------
    >>> from crm_research.churn import ShiftedBetaGeoModel, survivors_to_histories
    >>> cohort = pd.DataFrame({"year": range(8), "n": [1000, 631, 468, 382, 326, 289, 262, 241]})
    >>> model = ShiftedBetaGeoModel().fit(survivors_to_histories(cohort, "year", "n"))
    >>> ax = plot_retention_projection(model, cohort.set_index("year")["n"] / 1000, periods=12)
    >>> ax.get_title()
    'Retention: actual, fitted and projected (sBG)'
    """
    ax = _ax(ax)
    t = np.arange(int(periods) + 1)
    ax.plot(t, model.survival(t), "-", label="sBG model")
    if actual is not None:
        if isinstance(actual, pd.DataFrame):
            actual = actual.set_index("period")["actual_survival"]
        ax.plot(actual.index.to_numpy(), actual.to_numpy(dtype=float), "o", color="black", label="actual")
    cal = model.observed_periods_ if calibration_periods is None else calibration_periods
    ax.axvline(cal, color="grey", lw=1, ls="--", label=f"end of calibration (period {cal})")
    ax.set_xlabel("periods since start")
    ax.set_ylabel("share still active")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(frameon=False)
    return ax


def plot_discrete_holdout(table: pd.DataFrame, ax=None, *,
                          title: str = "Holdout purchases: actual vs BG/BB") -> plt.Axes:
    """Mean purchases in the holdout opportunities by calibration frequency, actual and expected.

    ``table`` is :func:`crm_research.churn.bgbb.discrete_holdout_table` output.

    Examples
    --------
    >>> table = pd.DataFrame({"frequency": [0, 1, 2], "customers": [50.0, 30.0, 20.0], "actual": [0.5, 0.8, 1.2],
    ...                       "expected": [0.55, 0.8, 1.1]})
    >>> ax = plot_discrete_holdout(table)
    >>> ax.get_title()
    'Holdout purchases: actual vs BG/BB'
    """
    ax = _ax(ax)
    ax.plot(table["frequency"], table["actual"], "o-", label="actual")
    ax.plot(table["frequency"], table["expected"], "s--", label="BG/BB")
    ax.set_xticks(table["frequency"])
    ax.set_xlabel("opportunities with a purchase in the calibration period")
    ax.set_ylabel("mean purchases in the holdout opportunities")
    ax.set_title(title)
    ax.legend(frameon=False)
    return ax
