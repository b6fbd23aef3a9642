"""Figures of the attribution analysis: model comparison, removal effects, transitions, ads, A/B tests.

Every function draws the output table of a :mod:`crm_research.attribution` function, takes
``ax=None`` (a new figure is made when None) and returns the Axes. ``label`` (a function of a
channel, campaign or arm code, e.g. ``lambda c: settings.label("channels", c)``) gives the tick
labels in the client's words; the codes are shown without it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from crm_research.plots import figure_text

__all__ = ["plot_model_comparison", "plot_removal_effects", "plot_markov_transitions", "plot_ad_performance",
           "plot_ab_test", "figure_text"]


def _names(values, label: Callable[[str], str] | None) -> list[str]:
    return [str(v) if label is None else str(label(v)) for v in values]


def _ax(ax, figsize=(8, 4.5)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_model_comparison(comparison: pd.DataFrame, *, metric: str = "conversions",
                          truth: Mapping[str, float] | None = None, label: Callable[[str], str] | None = None,
                          model_labels: Mapping[str, str] | None = None, ax=None):
    """Grouped bars: each channel's attributed ``metric`` under every model, with bootstrap intervals.

    Parameters
    ----------
    comparison : DataFrame
        Output of :func:`crm_research.attribution.compare_models`.
    metric : {"conversions", "value", "share"}
        Column to draw; ``conversions`` and ``value`` get their ``_low``/``_high`` error bars.
    truth : mapping, optional
        Known value per channel (e.g. planted incremental conversions), drawn as black ticks.
    label : callable, optional
        Channel code → tick label.
    model_labels : mapping, optional
        Model name → legend entry (models not in it keep their name).

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from crm_research.attribution import LastTouch, Linear, compare_models
    >>> t = pd.DataFrame({"path": ["email > search", "display > email", "search", "display", ""],
    ...                   "total_conversions": [30, 10, 20, 0, 15], "total_null": [20, 40, 30, 50, 185]})
    >>> ax = plot_model_comparison(compare_models(t, [LastTouch(), Linear()], n_boot=0))
    >>> len(ax.patches), [x.get_text() for x in ax.get_xticklabels()]  # two models x three channels
    (6, ['display', 'email', 'search'])
    >>> plt.close(ax.figure)
    """
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(comparison["model"]))
    channels = sorted(comparison["channel"].unique())
    ax = _ax(ax, figsize=(max(8, 1.4 * len(channels) + 2), 4.8))
    x = np.arange(len(channels))
    width = 0.85 / max(len(models), 1)
    cmap = plt.get_cmap("tab10" if len(models) <= 10 else "tab20")
    for i, m in enumerate(models):
        d = comparison[comparison["model"] == m].set_index("channel").reindex(channels)
        xi = x + (i - (len(models) - 1) / 2) * width
        err = None
        if f"{metric}_low" in d and d[f"{metric}_low"].notna().any():
            err = np.clip(np.vstack([d[metric] - d[f"{metric}_low"], d[f"{metric}_high"] - d[metric]]), 0, None)
        ax.bar(xi, d[metric].fillna(0.0), width=width, yerr=err, capsize=1.5, label=(model_labels or {}).get(m, m), color=cmap(i % cmap.N),
               error_kw={"elinewidth": 0.7})
    if truth is not None:
        tv = [truth.get(c, np.nan) for c in channels]
        ax.scatter(x, tv, marker="_", s=900, color="black", zorder=5, label="truth")
    ax.set_xticks(x, _names(channels, label), rotation=20 if len(channels) > 6 else 0, ha="right" if len(channels) > 6 else "center")
    ax.set_ylabel({"conversions": "attributed conversions", "value": "attributed value (currency)",
                   "share": "share of conversions"}.get(metric, metric))
    ax.legend(fontsize=7, ncol=2)
    return ax


def plot_removal_effects(credits: pd.DataFrame, *, label: Callable[[str], str] | None = None, ax=None):
    """Horizontal bars of the Markov removal effects (share of conversions lost without the channel).

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from crm_research.attribution import MarkovAttribution
    >>> t = pd.DataFrame({"path": ["email > search", "display > email", "search", "display", ""],
    ...                   "total_conversions": [30, 10, 20, 0, 15], "total_null": [20, 40, 30, 50, 185]})
    >>> ax = plot_removal_effects(MarkovAttribution().fit(t).credits_, label=str.upper)
    >>> [x.get_text() for x in ax.get_yticklabels()]
    ['DISPLAY', 'EMAIL', 'SEARCH']
    >>> plt.close(ax.figure)
    """
    import matplotlib.pyplot as plt

    d = credits.sort_values("removal_effect")
    ax = _ax(ax, figsize=(7, 0.45 * len(d) + 1.5))
    y = np.arange(len(d))
    ax.barh(y, d["removal_effect"], color="#4C72B0")
    for yi, v in zip(y, d["removal_effect"], strict=True):
        ax.text(v, yi, f" {v:.0%}", va="center", fontsize=8)
    ax.set_yticks(y, _names(d["channel"], label))
    ax.set_xlabel("removal effect (share of conversions lost if the channel is removed)")
    ax.set_xlim(0, max(1e-9, float(d["removal_effect"].max())) * 1.2)
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    return ax


def plot_markov_transitions(transitions: pd.DataFrame, *, ax=None):
    """Heatmap of a Markov model's transition probabilities (``transitions_``; best for order 1).

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from crm_research.attribution import MarkovAttribution
    >>> t = pd.DataFrame({"path": ["email > search", "display > email", "search", "display", ""],
    ...                   "total_conversions": [30, 10, 20, 0, 15], "total_null": [20, 40, 30, 50, 185]})
    >>> ax = plot_markov_transitions(MarkovAttribution().fit(t).transitions_)
    >>> [x.get_text() for x in ax.get_xticklabels()]
    ['display', 'email', 'search', '(conversion)', '(null)']
    >>> plt.close(ax.figure)
    """
    m = transitions.pivot_table(index="from_state", columns="to_state", values="probability", aggfunc="sum")
    cols = [c for c in m.columns if not c.startswith("(")] + [c for c in m.columns if c.startswith("(")]
    rows = [r for r in m.index if r.startswith("(")] + [r for r in m.index if not r.startswith("(")]
    m = m.reindex(index=rows, columns=cols).fillna(0.0)
    ax = _ax(ax, figsize=(1.5 + 0.7 * len(cols), 1 + 0.45 * len(rows)))
    im = ax.imshow(m.to_numpy(), cmap="Blues", vmin=0, vmax=1, aspect="auto")
    if m.size <= 400:
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                v = m.iat[i, j]
                if v > 0:
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if v > 0.6 else "black")
    ax.set_xticks(range(len(cols)), cols, rotation=35, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("to")
    ax.set_ylabel("from")
    ax.figure.colorbar(im, ax=ax, label="transition probability")
    return ax


def plot_ad_performance(performance: pd.DataFrame, *, metric: str = "roas", label_col: str | None = None,
                        log: bool = False, label: Callable[[str], str] | None = None,
                        value_format: Callable[[float], str] | None = None, ax=None):
    """Bars of one ad metric per row of :func:`crm_research.attribution.ad_performance` (no period).

    Rows flagged ``small_volume`` are hatched; ``cvr`` and ``ctr`` get their Wilson intervals;
    each bar is labelled with its value (``value_format``, default 3 significant digits).
    ``log=True`` uses a log scale (ROAS often spans decades). For ``metric="roas"`` the rows
    flagged ``low_spend`` (``ad_performance(..., min_spend=...)``) get no bar, only the words
    "too little spend to judge": a ROAS on a tiny cost is not a return to compare.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> perf = pd.DataFrame({"campaign_id": ["d1", "e1"], "cost": [2000.0, 100.0], "roas": [1.5, 60.0],
    ...                      "small_volume": [False, True]})
    >>> ax = plot_ad_performance(perf, log=True)
    >>> [x.get_text() for x in ax.texts]
    [' 1.5', ' 60', 'hatched: small volume']
    >>> plt.close(ax.figure)
    """
    import matplotlib.pyplot as plt

    label_col = label_col or ("campaign_id" if "campaign_id" in performance else "channel")
    d = performance.copy()
    unjudged = (d["low_spend"].fillna(False).astype(bool) if metric == "roas" and "low_spend" in d
                else pd.Series(False, index=d.index))
    d[metric] = d[metric].where(~unjudged)
    d = d.assign(_unjudged=unjudged).sort_values([metric, "_unjudged"], na_position="first")
    fmt = value_format or (lambda v: f"{v:,.3g}")
    ax = _ax(ax, figsize=(7, 0.45 * len(d) + 1.5))
    y = np.arange(len(d))
    err = None
    if f"{metric}_low" in d:
        err = np.clip(np.vstack([d[metric] - d[f"{metric}_low"], d[f"{metric}_high"] - d[metric]]), 0, None)
    bars = ax.barh(y, d[metric].fillna(0.0), xerr=err, capsize=2, color="#4C72B0")
    for b, small, v, off in zip(bars, d["small_volume"], d[metric], d["_unjudged"], strict=True):
        if small:
            b.set_hatch("//")
            b.set_alpha(0.5)
        if off:
            b.set_visible(False)
            ax.text(0.01, b.get_y() + b.get_height() / 2, "too little spend to judge", va="center", fontsize=8,
                    style="italic", color="grey", transform=ax.get_yaxis_transform())
        elif pd.notna(v):
            ax.text(b.get_width(), b.get_y() + b.get_height() / 2, " " + fmt(v), va="center", fontsize=8)
    ax.set_yticks(y, _names(d[label_col], label))
    ax.set_xlabel({"roas": "ROAS (attributed revenue per unit of cost)", "cpa": "CPA (cost per attributed conversion)",
                   "cvr": "CVR (attributed conversions per click)", "ctr": "CTR (clicks per impression)"}.get(
        metric, metric))
    if log and (d[metric] > 0).any():
        ax.set_xscale("log")
        positive = d.loc[d[metric] > 0, metric]
        ax.set_xlim(float(positive.min()) / 3, float(positive.max()) * 4)  # room for the value labels
        if value_format is not None:
            ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: value_format(v)))
            ax.xaxis.set_minor_formatter(plt.NullFormatter())
    if d["small_volume"].any():
        ax.text(1.0, -0.12, "hatched: small volume", transform=ax.transAxes, ha="right", fontsize=7)
    return ax


def plot_ab_test(summary: pd.DataFrame, *, label: Callable[[str], str] | None = None, p_values: bool = True,
                 ax=None):
    """Conversion rate per arm with its Wilson interval; the control rate as a dashed line.

    ``label`` names the arms; ``p_values=False`` leaves the p-values out of the tick labels.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from crm_research.attribution import ABTest
    >>> counts = pd.DataFrame({"arm": ["control", "variant"], "n": [2000, 2000], "conversions": [160, 220]})
    >>> ax = plot_ab_test(ABTest(control="control").fit(counts).summary_)
    >>> [x.get_text() for x in ax.get_yticklabels()]
    ['control (n=2,000)', 'variant (n=2,000)\\n+3.0 pts, p=0.001']
    >>> plt.close(ax.figure)
    """
    import matplotlib.pyplot as plt

    ax = _ax(ax, figsize=(6, 0.6 * len(summary) + 1.5))
    y = np.arange(len(summary))[::-1]
    err = np.clip(np.vstack([summary["rate"] - summary["rate_low"], summary["rate_high"] - summary["rate"]]), 0, None)
    ax.errorbar(summary["rate"], y, xerr=err, fmt="o", capsize=4, color="#4C72B0")
    ax.axvline(summary["rate"].iloc[0], ls="--", color="grey", lw=1)
    labels = []
    for _, r in summary.iterrows():
        lab = f"{_names([r['arm']], label)[0]} (n={int(r['n']):,})"
        if pd.notna(r.get("diff")):
            lab += f"\n{r['diff'] * 100:+.1f} pts" + (f", p={r['p_adjusted']:.3f}" if p_values else "")
        labels.append(lab)
    ax.set_yticks(y, labels)
    ax.set_xlabel("conversion rate")
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    return ax
