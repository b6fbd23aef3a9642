"""Figures of the segmentation analysis: RFM grid and segments, levels, clusters, affinities.

Every function takes ``ax=None`` (a new figure is made when None) and returns the Axes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_research.plots import figure_text

__all__ = [
    "rfm_heatmap",
    "rfm_grid_figure",
    "segment_bars",
    "level_bars",
    "silhouette_curve",
    "cluster_profiles",
    "stability_hist",
    "persona_value",
    "affinity_heatmap",
]


def _ax(ax, figsize=(7, 4.5)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _no_grid(ax) -> None:
    """Heatmaps: no grid lines across the cells (the notebooks switch the grid on by default)."""
    ax.grid(False)


def _annotate(ax, values: np.ndarray, fmt: str, threshold: float) -> None:
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            v = values[i, j]
            if np.isfinite(v):
                ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=8,
                        color="white" if v > threshold else "black")


def rfm_heatmap(grid: pd.DataFrame, value: str = "customers", n_bins: int = 5, ax=None, *,
                label: str | None = None, scale: float = 1.0):
    """Heatmap of the RFM grid: recency score (rows, 5 on top) by frequency score (columns).

    Parameters
    ----------
    grid : DataFrame
        Output of :func:`crm_research.segments.rfm_grid`.
    value : {"customers", "revenue", "mean_monetary"}
        What the cells show (customers, currency, currency per customer).
    n_bins : int
        Score levels.
    label : str, optional
        What the cells show, with its unit ("revenue (€ thousands)"): the colour bar's label and
        the title. Default: the column name in words.
    scale : float
        The cells show ``value / scale`` (1000: thousands).

    Examples
    --------
    >>> grid = pd.DataFrame({"r_score": [5, 1], "f_score": [5, 1], "customers": [10, 30]})
    >>> rfm_heatmap(grid, "customers", label="buyers").get_title()
    'RFM grid: buyers per cell'
    """
    import matplotlib.pyplot as plt

    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    ax = _ax(ax, (6, 5))
    levels = list(range(n_bins, 0, -1))
    mat = grid.pivot(index="r_score", columns="f_score", values=value).reindex(index=levels,
                                                                                 columns=range(1, n_bins + 1))
    vals = mat.to_numpy(dtype=float) / scale
    im = ax.imshow(vals, cmap="Blues", aspect="auto")
    ax.set_xticks(range(n_bins), [str(i) for i in range(1, n_bins + 1)])
    ax.set_yticks(range(n_bins), [str(i) for i in levels])
    ax.set_xlabel("frequency score (5 = most orders)")
    ax.set_ylabel("recency score (5 = most recent)")
    fmt = "{:,.0f}"
    _annotate(ax, vals, fmt, np.nanmax(vals) * 0.6 if np.isfinite(vals).any() else 0)
    shown = label or value.replace("_", " ")
    ax.figure.colorbar(im, ax=ax, label=shown, format=plt.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    _no_grid(ax)
    ax.set_title(f"RFM grid: {shown} per cell")
    return ax


def rfm_grid_figure(grid: pd.DataFrame, n_bins: int = 5, *, money_unit: str = "", revenue: bool = True):
    """The RFM grid as one or two heatmaps: buyers per cell and, with amounts, revenue per cell.

    Parameters
    ----------
    grid : DataFrame
        Output of :func:`crm_research.segments.rfm_grid`.
    n_bins : int
        Score levels (``RFMRules.n_bins``).
    money_unit : str
        The currency's symbol or code, for the revenue panel's label ("€ thousands").
    revenue : bool
        Draw the revenue panel (False without order amounts: buyers only).

    Returns
    -------
    Figure

    Examples
    --------
    >>> grid = pd.DataFrame({"r_score": [5, 1], "f_score": [5, 1], "customers": [10, 30], "revenue": [9000.0, 1500.0]})
    >>> fig = rfm_grid_figure(grid, money_unit="$")
    >>> [ax.get_title() for ax in fig.axes if ax.get_title()]
    ['Buyers per cell', 'Revenue per cell (\\\\$ thousands)']
    """
    import matplotlib.pyplot as plt

    if not revenue:
        ax = rfm_heatmap(grid, "customers", n_bins=n_bins, label="buyers")
        ax.set_title("Buyers per cell")
        return ax.figure
    unit = figure_text(money_unit)
    thousands = f"{unit} thousands" if unit else "thousands"
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    rfm_heatmap(grid, "customers", n_bins=n_bins, ax=left, label="buyers").set_title("Buyers per cell")
    rfm_heatmap(grid, "revenue", n_bins=n_bins, ax=right, label=f"revenue ({thousands})",
                scale=1000).set_title(f"Revenue per cell ({thousands})")
    return fig


def segment_bars(summary: pd.DataFrame, label_col: str = "segment", ax=None):
    """Share of customers and share of revenue per segment (horizontal grouped bars).

    Parameters
    ----------
    summary : DataFrame
        :func:`crm_research.segments.segment_summary` (or any table with ``label_col``,
        ``customer_share`` and optionally ``revenue_share``; without it, customers only).

    Examples
    --------
    >>> s = pd.DataFrame({"segment": ["champions", "lost"], "customer_share": [0.2, 0.8], "revenue_share": [0.6, 0.4]})
    >>> ax = segment_bars(s)
    >>> ax.get_title(), len(ax.patches)
    ('Segment size and value', 4)
    """
    import matplotlib.pyplot as plt

    ax = _ax(ax, (7, 0.45 * len(summary) + 1.5))
    money = "revenue_share" in summary.columns
    s = summary.sort_values("revenue_share" if money else "customer_share", ascending=True, kind="stable")
    y = np.arange(len(s))
    if money:
        ax.barh(y - 0.2, s["customer_share"], height=0.4, label="buyers", color="#9ecae1")
        ax.barh(y + 0.2, s["revenue_share"], height=0.4, label="revenue", color="#08519c")
    else:
        ax.barh(y, s["customer_share"], height=0.6, label="buyers", color="#9ecae1")
    ax.set_yticks(y, s[label_col].astype(str))
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax.set_xlabel("share of all buyers and of all revenue (%)" if money else "share of all buyers (%)")
    ax.legend(loc="lower right")
    ax.set_title("Segment size and value")
    return ax


def level_bars(levels: pd.DataFrame, ax=None):
    """Buyers per level (first-time, repeat, advocate) from :func:`crm_research.segments.level_summary`.

    Examples
    --------
    >>> t = pd.DataFrame({"level": ["first-time", "repeat"], "customers": [60, 40], "share": [0.6, 0.4]})
    >>> [int(b.get_height()) for b in level_bars(t).patches]
    [60, 40]
    """
    ax = _ax(ax, (5, 3.5))
    bars = ax.bar(levels["level"].astype(str), levels["customers"], color=["#c6dbef", "#6baed6", "#08519c"][: len(levels)])
    for b, share in zip(bars, levels["share"], strict=True):
        ax.annotate(f"{share:.0%}", (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom")
    ax.set_ylabel("buyers")
    ax.set_title("Customer levels")
    return ax


def silhouette_curve(selection: pd.DataFrame, chosen_k: int | None = None, ax=None):
    """Mean silhouette per number of clusters k (the criterion that chose k).

    Parameters
    ----------
    selection : DataFrame
        ``CustomerClusters.selection_`` (``k``, ``silhouette``).
    chosen_k : int, optional
        Highlighted k.

    Examples
    --------
    >>> sel = pd.DataFrame({"k": [2, 3, 4], "silhouette": [0.21, 0.28, 0.25]})
    >>> silhouette_curve(sel, chosen_k=3).get_legend().get_texts()[0].get_text()
    'chosen k = 3'
    """
    ax = _ax(ax, (6, 3.5))
    ax.plot(selection["k"], selection["silhouette"], marker="o", color="#08519c")
    if chosen_k is not None and (selection["k"] == chosen_k).any():
        v = float(selection.loc[selection["k"] == chosen_k, "silhouette"].iloc[0])
        ax.scatter([chosen_k], [v], s=120, facecolors="none", edgecolors="#d62728", linewidths=2,
                   label=f"chosen k = {chosen_k}", zorder=3)
        ax.legend()
    ax.set_xlabel("number of clusters k")
    ax.set_ylabel("mean silhouette (-1..1)")
    ax.set_xticks(selection["k"])
    ax.set_title("Choice of k: silhouette")
    return ax


def cluster_profiles(profile_z: pd.DataFrame, labels: dict | None = None, clip: float = 2.0, ax=None, *,
                     feature_names=None):
    """Heatmap of standardised cluster means: features (rows) by cluster (columns).

    Parameters
    ----------
    profile_z : DataFrame
        ``CustomerClusters.profile_z_`` (clusters × features, z-scores).
    labels : dict, optional
        Cluster → label (``CustomerClusters.cluster_labels_``) for the column names.
    clip : float
        Colour scale limit (z-score); values beyond are shown at the limit.
    feature_names : callable or dict, optional
        Feature column → readable name for the rows (e.g.
        :func:`crm_research.segments.feature_label`); default the column names.

    Examples
    --------
    >>> z = pd.DataFrame({"aov": [1.2, -0.8], "frequency": [-0.5, 0.9]}, index=[0, 1])
    >>> ax = cluster_profiles(z, labels={0: "premium", 1: "loyal"})
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['aov', 'frequency']
    """
    ax = _ax(ax, (0.9 * len(profile_z) + 4, 0.28 * profile_z.shape[1] + 1.5))
    vals = profile_z.to_numpy(dtype=float).T
    im = ax.imshow(np.clip(vals, -clip, clip), cmap="RdBu_r", vmin=-clip, vmax=clip, aspect="auto")
    names = _cluster_names(list(profile_z.index), [labels[c] for c in profile_z.index] if labels else None)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    rows = list(profile_z.columns)
    if feature_names is not None:
        rows = [feature_names.get(c, c) if isinstance(feature_names, dict) else feature_names(c) for c in rows]
    ax.set_yticks(range(profile_z.shape[1]), rows, fontsize=8)
    for i in range(vals.shape[0]):
        for j in range(vals.shape[1]):
            ax.text(j, i, f"{vals[i, j]:.1f}", ha="center", va="center", fontsize=7,
                    color="white" if abs(vals[i, j]) > clip * 0.6 else "black")
    ax.figure.colorbar(im, ax=ax, label="cluster average vs all clustered buyers (standard deviations)")
    _no_grid(ax)
    ax.set_title("Cluster profiles")
    return ax


def _cluster_names(clusters: list, labels: list | None) -> list[str]:
    """A cluster's name on a chart: its label ("Loyal"), with the cluster number only where two
    clusters share a label ("Mixed (2)"); the number alone without labels."""
    if labels is None:
        return [str(c) for c in clusters]
    shared = {lab for lab in labels if labels.count(lab) > 1}
    return [f"{lab} ({c})" if lab in shared else str(lab) for c, lab in zip(clusters, labels, strict=True)]


def stability_hist(stability: pd.DataFrame, ax=None):
    """Adjusted Rand index of the bootstrap refits with the chosen clustering (``stability_``).

    Examples
    --------
    >>> stability_hist(pd.DataFrame({"replicate": [1, 2, 3], "ari": [0.91, 0.95, 0.88]})).get_title()
    'Cluster stability'
    """
    ax = _ax(ax, (5, 3.5))
    ari = stability["ari"].to_numpy(dtype=float)
    ax.hist(ari, bins=np.linspace(min(0.5, ari.min()) if len(ari) else 0.5, 1.0, 21), color="#6baed6",
            edgecolor="white")
    if len(ari):
        ax.axvline(float(np.mean(ari)), color="#d62728", label=f"mean {np.mean(ari):.3f}")
        ax.legend()
    ax.set_xlabel("adjusted Rand index with the chosen clustering")
    ax.set_ylabel("bootstrap refits")
    ax.set_title("Cluster stability")
    return ax


def persona_value(personas: pd.DataFrame, ax=None):
    """Share of customers and of revenue per cluster label, from :func:`persona_table`.

    Examples
    --------
    >>> p = pd.DataFrame({"cluster": [0, 1], "label": ["Premium", "Loyal"], "customer_share": [0.3, 0.7],
    ...                   "revenue_share": [0.6, 0.4]})
    >>> len(persona_value(p).patches)
    4
    """
    s = personas.assign(name=_cluster_names(list(personas["cluster"]), list(personas["label"])))
    ax = segment_bars(s, label_col="name", ax=ax)
    ax.set_title("Clusters: size and value")
    return ax


def affinity_heatmap(rules: pd.DataFrame, metric: str = "lift", ax=None, *, names: dict | None = None):
    """Heatmap of an affinity metric: antecedent (rows) by consequent (columns).

    Parameters
    ----------
    rules : DataFrame
        Output of :func:`crm_research.segments.affinities` (category level).
    metric : {"lift", "confidence", "support"}
    names : dict, optional
        Item → readable name for the tick labels (e.g. category labels); default the items.

    Examples
    --------
    >>> pairs = pd.DataFrame({"antecedent": ["tv", "cable"], "consequent": ["cable", "tv"], "lift": [2.1, 2.1]})
    >>> [t.get_text() for t in affinity_heatmap(pairs).get_xticklabels()]
    ['cable', 'tv']
    """
    import matplotlib.pyplot as plt

    items = sorted(set(rules["antecedent"]) | set(rules["consequent"]))
    ax = _ax(ax, (0.6 * len(items) + 3, 0.5 * len(items) + 2))
    mat = rules.pivot(index="antecedent", columns="consequent", values=metric).reindex(index=items, columns=items)
    vals = mat.to_numpy(dtype=float)
    if metric == "lift":
        dev = np.nanmax(np.abs(np.log(vals))) if np.isfinite(vals).any() else 1.0
        im = ax.imshow(np.log(vals), cmap="RdBu_r", vmin=-dev, vmax=dev, aspect="auto")
        label = "lift (1 = as by chance; colours on a log scale)"
        ticks = plt.FuncFormatter(lambda v, _: f"{np.exp(v):.2f}")
    else:
        im = ax.imshow(vals, cmap="Blues", aspect="auto")
        label = metric
        ticks = None
    shown = [str((names or {}).get(i, i)) for i in items]
    ax.set_xticks(range(len(items)), shown, rotation=45, ha="right")
    ax.set_yticks(range(len(items)), shown)
    ax.set_xlabel("also bought in the same order")
    ax.set_ylabel("bought")
    for i in range(vals.shape[0]):
        for j in range(vals.shape[1]):
            if np.isfinite(vals[i, j]):
                ax.text(j, i, f"{vals[i, j]:.2f}", ha="center", va="center", fontsize=7)
    ax.figure.colorbar(im, ax=ax, label=label, format=ticks)
    _no_grid(ax)
    ax.set_title(f"Co-purchase {metric}")
    return ax
