"""Figures of the marketing mix model (:mod:`crm_research.mmm`).

Every function draws an output table of :class:`crm_research.mmm.MarketingMixModel`, takes
``ax=None`` (a new figure is made when None) and returns the Axes. ``label`` (a function of a
channel code, e.g. ``lambda c: settings.label("channels", c)``) gives the names in the client's
words; the codes are shown without it. ``unit`` names the outcome ("new customers") and
``money`` formats an amount of currency for an axis (``str`` of the rounded number without it).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

__all__ = ["plot_mmm_decomposition", "plot_mmm_cost_per_outcome", "plot_response_curves", "plot_budget_split"]

NOT_MEDIA = ("baseline", "trend", "seasonality")
"""Components of ``contributions_`` that are not a channel or a control."""


def _name(label: Callable[[str], str] | None, c) -> str:
    return str(c) if label is None else str(label(c))


def _ax(ax, figsize=(8, 4.5)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _money(money: Callable[[float], str] | None, v: float) -> str:
    return f"{v:,.0f}" if money is None else money(v)


def plot_mmm_decomposition(contributions: pd.DataFrame, channels: list[str], *,
                           label: Callable[[str], str] | None = None, unit: str = "outcome", ax=None):
    """Stacked areas: each week's fitted outcome split into what would come without ads and each
    channel's contribution, with the actual outcome as a line.

    Parameters
    ----------
    contributions : DataFrame
        ``MarketingMixModel.contributions_``: ``week``, ``actual``, ``fitted``, the components.
    channels : list of str
        The channel columns (``MarketingMixModel.channels_``); every other component (baseline,
        trend, seasonality, controls) is summed into one band, "without ads".
    label : callable, optional
        Channel code → legend entry.
    unit : str
        Outcome name for the y axis (e.g. "new customers per week").
    """
    import matplotlib.pyplot as plt

    d = contributions.sort_values("week", kind="stable")
    base_cols = [c for c in d.columns if c not in ("week", "actual", "fitted", *channels)]
    base = d[base_cols].sum(axis=1).to_numpy(dtype=float)
    layers = [base] + [d[c].to_numpy(dtype=float) for c in channels]
    names = ["Without ads (baseline, trend, season)"] + [_name(label, c) for c in channels]
    ax = _ax(ax, figsize=(9, 4.6))
    colors = ["#c9c9c9"] + [plt.get_cmap("tab10")(i % 10) for i in range(len(channels))]
    ax.stackplot(d["week"], *layers, labels=names, colors=colors, alpha=0.85, linewidth=0)
    ax.plot(d["week"], d["actual"], color="black", linewidth=1.0, label="Actual")
    ax.set_ylabel(unit)
    ax.set_ylim(bottom=min(0.0, float(np.nanmin(base))))
    ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False)
    ax.margins(x=0)
    return ax


def plot_mmm_cost_per_outcome(summary: pd.DataFrame, *, label: Callable[[str], str] | None = None,
                              unit: str = "outcome", money: Callable[[float], str] | None = None, ax=None):
    """Horizontal bars: what one more unit of outcome cost per channel (spend / contribution), with
    the bootstrap range; a channel whose contribution is near zero is marked rather than drawn.

    Parameters
    ----------
    summary : DataFrame
        ``MarketingMixModel.summary``: ``channel``, ``spend``, ``roas``, ``roas_low``, ``roas_high``.
    unit : str
        Outcome name, singular (e.g. "new customer").
    money : callable, optional
        Amount → text for the value labels.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> s = pd.DataFrame({"channel": ["search", "social"], "spend": [5000.0, 2000.0], "roas": [0.02, 0.0],
    ...                   "roas_low": [0.012, 0.0], "roas_high": [0.028, 0.005]})
    >>> ax = plot_mmm_cost_per_outcome(s, unit="new customer")
    >>> [x.get_text() for x in ax.texts]  # 1 / 0.02 = 50 per new customer
    ['  no measurable effect', '  50']
    >>> plt.close(ax.figure)
    """
    d = summary.copy()
    with np.errstate(divide="ignore"):
        d["cost"] = np.where(d["roas"] > 0, 1.0 / d["roas"], np.inf)
        d["cost_low"] = np.where(d["roas_high"] > 0, 1.0 / d["roas_high"], np.inf)
        d["cost_high"] = np.where(d["roas_low"] > 0, 1.0 / d["roas_low"], np.inf)
    d = d.sort_values("cost", ascending=False, kind="stable").reset_index(drop=True)
    finite = d["cost"].replace(np.inf, np.nan)
    top = float(np.nanmax(np.r_[finite.to_numpy(dtype=float), d["cost_high"].replace(np.inf, np.nan)
                                .to_numpy(dtype=float), 1.0]))
    ax = _ax(ax, figsize=(7.5, 0.55 * len(d) + 1.6))
    y = np.arange(len(d))
    for i, r in d.iterrows():
        if not np.isfinite(r["cost"]):
            ax.text(0, i, "  no measurable effect", va="center", fontsize=8, color="#555555")
            continue
        ax.barh(i, r["cost"], color="#4C72B0")
        lo, hi = r["cost_low"], min(r["cost_high"], top * 1.15)
        if np.isfinite(lo) and pd.notna(r["roas_low"]):
            ax.plot([lo, hi], [i, i], color="black", linewidth=1.0)
        ax.text(max(r["cost"], hi if np.isfinite(hi) else 0), i, "  " + _money(money, r["cost"]), va="center",
                fontsize=8)
    ax.set_yticks(y, [_name(label, c) for c in d["channel"]])
    ax.set_xlim(0, top * 1.35)
    ax.set_xlabel(f"ad spend per {unit} the channel brought (line: 90% range)")
    return ax


def plot_response_curves(curves: pd.DataFrame, *, label: Callable[[str], str] | None = None,
                         unit: str = "outcome per week", ax=None):
    """Each channel's expected weekly outcome against its weekly spend as a multiple of today's
    (1 = the channel's average weekly spend, the dot), the range as a band
    (``MarketingMixModel.response_curves()``). On a common relative axis channels that spend
    €50 and €5,000 a week can be read side by side: a curve still steep at 1 can take more."""
    import matplotlib.pyplot as plt

    ax = _ax(ax, figsize=(8, 4.6))
    cmap = plt.get_cmap("tab10")
    for i, (c, d) in enumerate(curves.groupby("channel", sort=True)):
        color = cmap(i % 10)
        cur = d[d["current"]]
        today = float(cur["weekly_spend"].iloc[0]) if len(cur) and float(cur["weekly_spend"].iloc[0]) > 0 else \
            float(d["weekly_spend"].max()) / 2 or 1.0
        x = d["weekly_spend"] / today
        ax.plot(x, d["response"], color=color, label=_name(label, c))
        if "response_low" in d and d["response_low"].notna().any():
            ax.fill_between(x, d["response_low"], d["response_high"], color=color, alpha=0.12, linewidth=0)
        ax.scatter(cur["weekly_spend"] / today, cur["response"], color=color, zorder=5, s=25)
    ax.axvline(1.0, color="#888888", linewidth=0.8, linestyle=":")
    ax.set_xlabel("weekly spend as a multiple of today's (1 = today's average, the dot)")
    ax.set_ylabel(unit)
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7, frameon=False)
    return ax


def plot_budget_split(plan: pd.DataFrame, *, label: Callable[[str], str] | None = None, ax=None):
    """Paired horizontal bars: each channel's spend today and as recommended, over the planned
    period (``MarketingMixModel.optimise_budget``; the ``total`` row is left out).

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> plan = pd.DataFrame({"channel": ["search", "social", "total"], "current_spend": [5000.0, 2000.0, 7000.0],
    ...                      "recommended_spend": [6000.0, 1000.0, 7000.0]})
    >>> ax = plot_budget_split(plan)
    >>> [x.get_text() for x in ax.get_yticklabels()], len(ax.patches)  # the total row is left out
    (['search', 'social'], 4)
    >>> plt.close(ax.figure)
    """
    d = plan[plan["channel"] != "total"].reset_index(drop=True)
    ax = _ax(ax, figsize=(7.5, 0.6 * len(d) + 1.6))
    y = np.arange(len(d))
    ax.barh(y + 0.2, d["current_spend"], height=0.38, color="#c9c9c9", label="At today's split")
    ax.barh(y - 0.2, d["recommended_spend"], height=0.38, color="#4C72B0", label="Recommended")
    ax.set_yticks(y, [_name(label, c) for c in d["channel"]])
    ax.invert_yaxis()
    ax.set_xlabel("ad spend over the period")
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    return ax
