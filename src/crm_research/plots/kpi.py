"""Figures of the KPI baseline: metric trends, cohort heatmap, customer levels, goal scorecard,
breakdowns and snapshot comparison.

Every function draws the output table of a :mod:`crm_research.kpi` function, takes ``ax=None``
(a new figure is made when None) and returns the Axes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_research.errors import CRMError
from crm_research.plots import figure_text

__all__ = ["plot_metric_trend", "plot_metric_trends", "plot_cohort_heatmap", "plot_customer_levels", "plot_scorecard",
           "plot_breakdown", "plot_breakdown_panels", "plot_snapshot_comparison", "TREND_METRICS"]

TREND_METRICS = ("active_customers", "retention_rate", "average_order_value", "nps", "repeat_purchase_rate", "revenue")
"""The KPIs :func:`plot_metric_trends` draws, the first four the data measures."""

_STATUS_COLOURS = {"met": "#2a9d8f", "on-track": "#8ab17d", "at-risk": "#e76f51", "missed": "#9b2226",
                   "baseline": "#8d99ae", "no data": "#cccccc"}


def _ax(ax, figsize=(8, 4.5)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _rows(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    d = table[table["metric"] == metric].sort_values("period")
    if d.empty:
        raise CRMError(f"the table has no rows for metric {metric!r}: choose one of "
                       f"{', '.join(dict.fromkeys(table['metric']))}")
    return d


def plot_metric_trend(baseline: pd.DataFrame, metric: str, *, target: float | None = None, label: str | None = None,
                      unit_label: str | None = None, partial: bool = False, ax=None):
    """One metric over the periods of a baseline table, with its interval as a band.

    Parameters
    ----------
    baseline : DataFrame
        Output of :func:`crm_research.kpi.baseline`.
    metric : str
        Metric name.
    target : float, optional
        A goal's target, drawn as a dashed line.
    label : str, optional
        The metric's readable name (title and legend; default the name with spaces).
    unit_label : str, optional
        The y-axis label (default the metric's unit; shares are drawn in %).
    partial : bool
        The last period is partial: its point is drawn hollow and marked "partial".

    Examples
    --------
    >>> k = pd.DataFrame({"metric": "retention_rate", "period": pd.date_range("2025-10-01", periods=3, freq="MS", tz="UTC"),
    ...                   "value": [0.3, 0.35, 0.4], "ci_low": [0.25, 0.3, 0.33], "ci_high": [0.35, 0.4, 0.47],
    ...                   "unit": "share"})
    >>> ax = plot_metric_trend(k, "retention_rate", target=0.5, partial=True)
    >>> ax.get_title(), ax.get_ylabel()
    ('retention rate', '%')
    """
    d = _rows(baseline, metric)
    ax = _ax(ax)
    x = pd.to_datetime(d["period"]).dt.tz_localize(None)
    share = d["unit"].iloc[0] == "share"
    k = 100.0 if share else 1.0
    name = label or metric.replace("_", " ")
    ax.plot(x, k * d["value"], marker="o", ms=3, lw=1.5, color="#264653", label=name)
    if d["ci_low"].notna().any():
        ax.fill_between(x, k * d["ci_low"], k * d["ci_high"], color="#264653", alpha=0.15, lw=0,
                        label=f"{int(round(100 * baseline.attrs.get('conf', 0.95)))}% range")
    if target is not None:
        ax.axhline(k * target, ls="--", color="#e76f51", lw=1.2, label=f"target {k * target:g}")
    if partial and len(d):
        ax.plot(x.iloc[-1:], k * d["value"].iloc[-1:], marker="o", ms=7, mfc="white", color="#e76f51", ls="none",
                label="partial period")
    ax.set_ylabel(unit_label or ("%" if share else d["unit"].iloc[0]))
    ax.set_title(name)
    ax.legend(fontsize=8)
    ax.figure.autofmt_xdate()
    return ax


def plot_metric_trends(baseline: pd.DataFrame, metrics=TREND_METRICS, *, label=None, money_unit: str = "amount",
                       partial=(), title: str = "Key KPIs per period (bands: 95% ranges)"):
    """Up to four KPIs over the periods of a baseline table, 2 x 2 panels of :func:`plot_metric_trend`.

    Parameters
    ----------
    baseline : DataFrame
        Output of :func:`crm_research.kpi.baseline`.
    metrics : sequence of str
        KPIs in order of preference; the first four the table holds are drawn.
    label : callable, optional
        ``label(metric)`` -> its readable name (default the name with spaces).
    money_unit : str
        The currency's symbol or code, for the axes of money KPIs.
    partial : collection of str
        KPIs whose last period is partial (drawn hollow, see :func:`plot_metric_trend`).
    title : str
        The figure's title.

    Returns
    -------
    Figure
        Unused panels are hidden.

    Examples
    --------
    >>> from crm_research import kpi, synthetic
    >>> tables, _, _ = synthetic.generate(n_customers=300, seed=7)
    >>> fig = plot_metric_trends(kpi.baseline(tables, "2026-01-01", "M", periods=6), money_unit="$")
    >>> [ax.get_title() for ax in fig.axes]
    ['active customers', 'retention rate', 'average order value', 'nps']
    """
    import matplotlib.pyplot as plt

    have = set(baseline["metric"])
    shown = [m for m in metrics if m in have][:4]
    unit = figure_text(money_unit)
    axis = {"currency per order": f"{unit} per order", "currency per customer": f"{unit} per customer",
            "currency": unit, "points (-100..100)": "points (−100 to 100)"}
    fig, axes = plt.subplots(2, 2, figsize=(11, 6.5), layout="constrained")
    for m, ax in zip(shown, axes.ravel(), strict=False):
        unit_of = _rows(baseline, m)["unit"].iloc[0]
        plot_metric_trend(baseline, m, ax=ax, label=None if label is None else figure_text(label(m)),
                          unit_label=axis.get(unit_of), partial=m in partial)
    for ax in axes.ravel()[len(shown):]:
        ax.set_visible(False)
    fig.suptitle(title)
    return fig


def plot_cohort_heatmap(cohorts: pd.DataFrame, *, value: str = "rate", max_age: int | None = None,
                        annotate: bool | None = None, age_label: str = "periods since first order",
                        cohort_format: str = "%Y-%m-%d", ax=None):
    """Cohort × periods-since heatmap of retention (or active counts).

    Parameters
    ----------
    cohorts : DataFrame
        Output of :func:`crm_research.kpi.cohort_retention`.
    value : {"rate", "active"}
        Cell value: the retention rate (share) or the active customers.
    max_age : int, optional
        Largest age shown.
    annotate : bool, optional
        Write the values in the cells (default: when the grid is at most 24 × 24).
    age_label : str
        The x-axis label ("months since first order").
    cohort_format : str
        ``strftime`` pattern of the cohort labels ("%b %Y" for months).

    Examples
    --------
    >>> c = pd.DataFrame({"cohort": pd.to_datetime(["2025-10-01"] * 2 + ["2025-11-01"], utc=True), "age": [0, 1, 0],
    ...                   "rate": [1.0, 0.4, 1.0], "active": [10, 4, 8], "customers": [10, 10, 8], "partial": False})
    >>> plot_cohort_heatmap(c).get_title()
    'Cohort retention'
    """
    import matplotlib.pyplot as plt

    from crm_research.kpi.cohorts import cohort_matrix

    m = cohort_matrix(cohorts, value)
    if max_age is not None:
        m = m.loc[:, [c for c in m.columns if c <= max_age]]
    ax = _ax(ax, figsize=(max(6, 0.45 * m.shape[1] + 2), max(4, 0.32 * m.shape[0] + 1.5)))
    data = m.to_numpy(dtype=float)
    masked = np.ma.masked_invalid(data)
    vmax = 1.0 if value == "rate" else np.nanmax(data) if np.isfinite(data).any() else 1.0
    # age 0 is 1 by construction; scale colours on the later ages so they stay readable
    if value == "rate" and data.shape[1] > 1 and np.isfinite(data[:, 1:]).any():
        vmax = float(np.nanmax(data[:, 1:]))
    im = ax.imshow(masked, aspect="auto", cmap="YlGnBu", vmin=0, vmax=vmax)
    bar = ax.figure.colorbar(im, ax=ax, label="share ordering again" if value == "rate" else "active customers")
    if value == "rate":
        bar.ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{100 * v:.0f}%"))
    labels = [pd.Timestamp(c).strftime(cohort_format) for c in m.index]
    ax.set_yticks(np.arange(len(labels)), labels, fontsize=7)
    ax.set_xticks(np.arange(m.shape[1]), [str(c) for c in m.columns], fontsize=7)
    ax.set_xlabel(age_label)
    ax.set_ylabel("cohort (period of first order)")
    if annotate is None:
        annotate = m.shape[0] <= 24 and m.shape[1] <= 24
    if annotate:
        for i in range(data.shape[0]):
            for j in range(data.shape[1]):
                v = data[i, j]
                if np.isfinite(v):
                    txt = f"{v:.0%}" if value == "rate" else f"{v:.0f}"
                    ax.text(j, i, txt, ha="center", va="center", fontsize=5.5,
                            color="white" if v > 0.6 * vmax else "black")
    ax.set_title("Cohort retention" if value == "rate" else "Active customers by cohort")
    return ax


def plot_customer_levels(baseline: pd.DataFrame, *, advocates: bool = True, ax=None):
    """Funnel of where contacts stand at the latest period end: contacts, first-time, repeat, advocates.

    Parameters
    ----------
    baseline : DataFrame
        Output of :func:`crm_research.kpi.baseline` (``contacts`` is drawn when
        ``lead_conversion_rate`` is present).
    advocates : bool
        Draw the three exclusive levels (first-time, repeat, advocate). False, or a baseline
        without the level metrics (no referral or NPS data): customers by number of orders
        only (one order; two or more), from ``customers`` and ``repeat_purchase_rate``.

    Examples
    --------
    >>> t = pd.DataFrame({"metric": ["customers", "first_time_customers", "repeat_customers", "advocates"],
    ...                   "period": pd.Timestamp("2025-12-01", tz="UTC"), "period_end": pd.Timestamp("2026-01-01", tz="UTC"),
    ...                   "value": [100.0, 60.0, 30.0, 10.0], "denominator": [100.0, 100.0, 100.0, 100.0]})
    >>> [float(b.get_width()) for b in plot_customer_levels(t).patches]
    [10.0, 30.0, 60.0, 100.0]
    """
    from crm_research.kpi.tables import latest

    last = latest(baseline).set_index("metric")
    bars = []
    if "lead_conversion_rate" in last.index:
        bars.append(("contacts", float(last.loc["lead_conversion_rate", "denominator"])))
    levels = advocates and "first_time_customers" in last.index
    if levels:
        names = ("customers", "first_time_customers", "repeat_customers", "advocates")
        bars += [(m.replace("_", " "), float(last.loc[m, "value"])) for m in names if m in last.index]
    elif "repeat_purchase_rate" in last.index:
        repeat = last.loc["repeat_purchase_rate"]
        bars += [("customers", float(repeat["denominator"])),
                 ("one order", float(repeat["denominator"] - repeat["numerator"])),
                 ("two or more orders", float(repeat["numerator"]))]
    if not bars:
        raise CRMError("the baseline has no customer-level metrics to draw")
    ax = _ax(ax, figsize=(7, 3.8))
    names = [b[0] for b in bars][::-1]
    vals = np.array([b[1] for b in bars][::-1])
    ax.barh(names, vals, color=["#e9c46a", "#f4a261", "#2a9d8f", "#264653", "#8d99ae"][: len(vals)][::-1])
    top = vals.max() if len(vals) else 1
    for i, v in enumerate(vals):
        ax.text(v + 0.01 * top, i, f"{v:,.0f}", va="center", fontsize=8)
    ax.set_xlim(0, top * 1.15)
    ax.set_xlabel("contacts / customers")
    end = pd.Timestamp(last["period_end"].max())
    how = "levels exclusive: advocate > repeat > first-time" if levels else "by number of orders; no advocate data"
    ax.set_title(f"Customer levels at {end.strftime('%Y-%m-%d')} ({how})", fontsize=9)
    return ax


def plot_scorecard(card: pd.DataFrame, *, ax=None):
    """Progress of each goal: baseline → current against the target, coloured by status.

    Parameters
    ----------
    card : DataFrame
        Output of :func:`crm_research.kpi.scorecard`.

    Examples
    --------
    >>> card = pd.DataFrame({"metric": ["retention_rate"], "owner": ["CRM"], "baseline": [0.3], "current": [0.35],
    ...                      "target": [0.4], "expected_now": [0.33], "progress": [0.5], "status": ["on-track"],
    ...                      "direction": ["increase"], "gap": [0.1]})
    >>> [t.get_text() for t in plot_scorecard(card).get_yticklabels()]
    ['retention_rate (CRM)']
    """
    ax = _ax(ax, figsize=(10, 0.6 * len(card) + 1.5))
    y = np.arange(len(card))[::-1]
    for yi, r in zip(y, card.itertuples(index=False), strict=True):
        sign = 1 if r.direction == "increase" else -1
        open_gap = sign * (r.target - r.baseline) > 0
        cur = r.current if np.isfinite(r.current) else r.baseline
        if open_gap:
            prog = (cur - r.baseline) / (r.target - r.baseline)
        else:  # met at the baseline: full when still met, empty otherwise (no data: empty)
            prog = 1.0 if r.status == "met" else 0.0
        prog = 0.0 if not np.isfinite(prog) else prog
        colour = _STATUS_COLOURS.get(r.status, "#8d99ae")
        ax.barh(yi, 1.0, color="#eeeeee", height=0.6)
        ax.barh(yi, np.clip(prog, 0, 1.0), color=colour, height=0.6)
        if open_gap and np.isfinite(r.expected_now):
            tick = (r.expected_now - r.baseline) / (r.target - r.baseline)
            ax.plot([tick] * 2, [yi - 0.35, yi + 0.35], color="black", lw=1)
        ax.text(1.02, yi, f"{r.status}: {cur:.3g} (target {r.target:g}, baseline {r.baseline:.3g})",
                va="center", fontsize=7)
    ax.set_yticks(y, [f"{m} ({o})" for m, o in zip(card["metric"], card["owner"], strict=True)], fontsize=8)
    ax.set_xlim(0, 1.9)
    ax.set_xticks([0, 0.5, 1.0], ["baseline", "half way", "target"])
    ax.set_title("SMART goals: share of the gap closed (tick: where the straight line is now)", fontsize=9)
    return ax


def plot_breakdown(table: pd.DataFrame, metric: str, dimension: str, *, ax=None):
    """One metric's latest value per group of a dimension, with intervals; small cells hatched.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`crm_research.kpi.breakdowns`.
    metric, dimension : str
        What to draw.

    Examples
    --------
    >>> t = pd.DataFrame({"metric": "retention_rate", "dimension": "region", "group": ["north", "south"],
    ...                   "period": pd.Timestamp("2025-12-01", tz="UTC"), "value": [0.3, 0.4], "ci_low": [0.2, 0.3],
    ...                   "ci_high": [0.4, 0.5], "unit": "share", "too_small": [False, True]})
    >>> ax = plot_breakdown(t, "retention_rate", "region")
    >>> [b.get_hatch() for b in ax.patches]  # the small cell hatched
    [None, '//']
    """
    d = table[(table["metric"] == metric) & (table["dimension"] == dimension)]
    if d.empty:
        raise CRMError(f"the breakdown has no rows for metric {metric!r} by {dimension!r}")
    d = d[d["period"] == d["period"].max()].sort_values("group")
    ax = _ax(ax, figsize=(max(6, 0.8 * len(d) + 2), 4))
    x = np.arange(len(d))
    err = None
    if d["ci_low"].notna().any():
        err = np.clip(np.vstack([d["value"] - d["ci_low"], d["ci_high"] - d["value"]]), 0, None)
    bars = ax.bar(x, d["value"].fillna(0.0), yerr=err, capsize=3, color="#2a9d8f")
    for b, small in zip(bars, d["too_small"], strict=True):
        if small:
            b.set_hatch("//")
            b.set_alpha(0.5)
    ax.set_xticks(x, d["group"], rotation=20, ha="right")
    ax.set_ylabel(d["unit"].iloc[0])
    ax.set_title(f"{metric.replace('_', ' ')} by {dimension.replace('_', ' ')} (hatched: n < "
                 f"{table.attrs.get('min_n', 'min_n')})", fontsize=9)
    return ax


BREAKDOWN_PANELS = (("retention_rate", "acquisition_channel"), ("average_order_value", "purchase_type"))
"""The (metric, dimension) panels :func:`plot_breakdown_panels` draws when the breakdown has them."""


def plot_breakdown_panels(table: pd.DataFrame, panels=BREAKDOWN_PANELS, *, label=None, money_unit: str = "amount",
                          min_n: int | None = None):
    """Side-by-side :func:`plot_breakdown` panels, with readable group names, units and titles.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`crm_research.kpi.breakdowns`.
    panels : sequence of (metric, dimension)
        The panels wanted; those the table has no rows for are left out.
    label : callable, optional
        ``label(kind, value)`` -> readable name (``kind`` "metrics", "columns" or "channels";
        e.g. ``ReportSettings.label``); default the name with spaces.
    money_unit : str
        The currency's symbol or code (money metrics are per order).
    min_n : int, optional
        The small-cell threshold, in the titles (default ``table.attrs["min_n"]``).

    Returns
    -------
    Figure or None
        None when the table has none of the panels.

    Examples
    --------
    >>> t = pd.DataFrame({"metric": "retention_rate", "dimension": "acquisition_channel", "group": ["ads", "seo"],
    ...                   "period": pd.Timestamp("2025-12-01", tz="UTC"), "value": [0.3, 0.4], "ci_low": [0.2, 0.3],
    ...                   "ci_high": [0.4, 0.5], "unit": "share", "too_small": [False, True]})
    >>> fig = plot_breakdown_panels(t, min_n=30)
    >>> fig.axes[0].get_title()
    'retention rate by acquisition channel (hatched: fewer than 30)'
    >>> plot_breakdown_panels(t, [("nps", "region")]) is None
    True
    """
    import matplotlib.pyplot as plt

    name = label or (lambda kind, v: str(v).replace("_", " "))
    shown = [(m, d) for m, d in panels if ((table["metric"] == m) & (table["dimension"] == d)).any()]
    if not shown:
        return None
    min_n = table.attrs.get("min_n", "min_n") if min_n is None else min_n
    fig, axes = plt.subplots(1, len(shown), figsize=(6 * len(shown), 4.2), layout="constrained", squeeze=False)
    for (m, d), ax in zip(shown, axes[0], strict=True):
        plot_breakdown(table, m, d, ax=ax)
        ax.set_xticks(ax.get_xticks(), [name("channels", t.get_text()) for t in ax.get_xticklabels()],
                      rotation=20, ha="right")
        share = table.loc[table["metric"] == m, "unit"].iloc[0] == "share"
        ax.set_ylabel("%" if share else f"{figure_text(money_unit)} per order")
        if share:
            ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{100 * v:.0f}%"))
        ax.set_title(f"{name('metrics', m)} by {name('columns', d).lower()} (hatched: fewer than {min_n})", fontsize=9)
    return fig


def plot_snapshot_comparison(comparison: pd.DataFrame, *, ax=None):
    """Relative change of each metric between two snapshots; beyond-noise changes highlighted.

    Parameters
    ----------
    comparison : DataFrame
        Output of :func:`crm_research.kpi.compare_snapshots`.

    Examples
    --------
    >>> c = pd.DataFrame({"metric": ["retention_rate", "orders"], "change_rel": [0.2, -0.05],
    ...                   "beyond_noise": pd.array([True, None], dtype="boolean")})
    >>> [round(float(b.get_width()), 1) for b in plot_snapshot_comparison(c).patches]  # % of the earlier value
    [-5.0, 20.0]
    """
    d = comparison.dropna(subset=["change_rel"]).iloc[::-1]
    ax = _ax(ax, figsize=(7, 0.32 * len(d) + 1.5))
    colours = ["#dddddd" if pd.isna(b) else "#e76f51" if bool(b) else "#8d99ae" for b in d["beyond_noise"]]
    ax.barh(d["metric"], 100 * d["change_rel"], color=colours)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("change, % of the earlier value (orange: beyond noise; blue-grey: within noise; "
                  "light grey: counts and medians, no test)", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    return ax
