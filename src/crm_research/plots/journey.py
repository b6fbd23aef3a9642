"""Figures of the journey analysis (funnels, transitions, Sankey, time to target, friction).

Every function draws the output table of a :mod:`crm_research.journey` function, takes
``ax=None`` (a new figure is made when None) and returns the Axes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crm_research.plots import figure_text as _tx

__all__ = ["plot_funnel", "plot_stage_counts", "plot_transitions", "plot_sankey", "plot_reach_curve",
           "plot_top_paths", "plot_friction", "plot_conversion_trend", "plot_levers"]


def _namer(names):
    """``names`` (a callable code → readable name, or None) as a function returning safe text."""
    return (lambda v: _tx(v)) if names is None else (lambda v: _tx(names(v)))


def _ax(ax, figsize=(8, 4.5)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_funnel(funnel: pd.DataFrame, *, by: str | None = None, ax=None, names=None, group_names=None,
                unit: str = "paths", by_title: str | None = None):
    """Bars of the paths reaching each step; labels give step conversion and overall conversion.

    Parameters
    ----------
    funnel : DataFrame
        Output of :func:`crm_research.journey.funnel`.
    by : str, optional
        A split column of ``funnel``: draws overall conversion per group with its Wilson interval.
    names, group_names : callable, optional
        Readable names of the steps and of the groups of ``by`` (code → text); default the codes.
    unit : str
        What the paths are (``"visits"``, ``"customers"``): the axis label's unit.
    by_title : str, optional
        Legend title of the groups (default ``by``).
    """
    from matplotlib.ticker import PercentFormatter

    ax = _ax(ax)
    name, group_name = _namer(names), _namer(group_names)
    if by is None:
        f = funnel.sort_values("step_index")
        y = np.arange(len(f))[::-1]
        ax.barh(y, f["n"], color="#4C72B0")
        for yi, (_, r) in zip(y, f.iterrows(), strict=True):
            label = f"{int(r['n']):,}"
            if r["step_index"] > 1:
                label += f"  ({r['conversion']:.0%} of previous, {r['overall_conversion']:.0%} of step 1)"
            ax.text(r["n"], yi, " " + label, va="center", fontsize=8)
        ax.set_yticks(y, [name(v) for v in f["step"]])
        ax.set_xlabel(f"{_tx(unit)} reaching the step (count)")
        ax.set_xlim(0, f["n"].max() * 1.6 if len(f) else 1)
        return ax
    groups = list(dict.fromkeys(funnel[by]))
    steps = funnel.sort_values("step_index").drop_duplicates("step_index")
    width = 0.8 / max(len(groups), 1)
    for i, g in enumerate(groups):
        d = funnel[funnel[by] == g].sort_values("step_index")
        x = d["step_index"].to_numpy() + (i - (len(groups) - 1) / 2) * width
        err = np.clip(np.vstack([d["overall_conversion"] - d["overall_low"],
                                 d["overall_high"] - d["overall_conversion"]]), 0.0, None)
        ax.bar(x, d["overall_conversion"], width=width, yerr=err, capsize=2, label=group_name(g))
    ax.set_xticks(steps["step_index"], [name(v) for v in steps["step"]], rotation=20, ha="right")
    ax.set_ylabel(f"share of the {_tx(unit)} at step 1 (%)")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.legend(title=_tx(by_title or by), fontsize=8)
    return ax


def plot_stage_counts(counts: pd.DataFrame, *, ax=None, names=None):
    """Customers per current lifecycle stage and reached-at-least (from ``stage_counts``).

    ``names``: readable stage names (callable code → text), default the codes.
    """
    ax = _ax(ax)
    name = _namer(names)
    x = np.arange(len(counts))
    ax.bar(x - 0.2, counts["n_reached"], width=0.4, label="reached the stage (or later)", color="#8FB1D9")
    ax.bar(x + 0.2, counts["n_current"], width=0.4, label="stage now (furthest reached)", color="#4C72B0")
    ax.set_xticks(x, [name(v) for v in counts["stage"]])
    ax.set_ylabel("customers (count)")
    ax.legend(fontsize=8)
    return ax


def plot_transitions(transitions: pd.DataFrame, *, min_n: int = 0, order: list[str] | None = None,
                     ax=None, names=None):
    """Heatmap of transition probabilities (rows: from, columns: to).

    Parameters
    ----------
    transitions : DataFrame
        Output of :func:`crm_research.journey.transitions`.
    min_n : int
        Transitions made fewer times are left out.
    order : list of str, optional
        States in reading order (lifecycle stages, funnel steps): rows and columns follow it,
        with ``(start)`` first among the rows and ``(end)`` last among the columns; states it
        does not list come after the listed ones, alphabetically. Default: alphabetical.
    names : callable, optional
        Readable names of the states (code → text, ``(start)`` and ``(end)`` included).

    Cells show the probabilities as percentages.
    """
    name = _namer(names)
    t = transitions[transitions["n"] >= min_n]
    m = t.pivot_table(index="from_event", columns="to_event", values="probability", aggfunc="sum")
    if order is not None:
        from crm_research.journey.transitions import END, START

        def ranked(names, first=(), last=()):
            def key(x):
                for rank, group in ((0, first), (1, order), (3, last)):
                    if x in group:
                        return rank, list(group).index(x), ""
                return 2, 0, x
            return sorted(names, key=key)

        m = m.reindex(index=ranked(m.index, first=(START,)), columns=ranked(m.columns, last=(END,)))
    ax = _ax(ax, figsize=(1 + 0.6 * max(len(m.columns), 4), 1 + 0.45 * max(len(m.index), 4)))
    im = ax.imshow(m.fillna(0.0).to_numpy(), cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(m.columns)), [name(v) for v in m.columns], rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(m.index)), [name(v) for v in m.index], fontsize=8)
    for (i, j), v in np.ndenumerate(m.to_numpy()):
        if np.isfinite(v) and v >= 0.01:
            ax.text(j, i, f"{v:.0%}", ha="center", va="center", fontsize=6,
                    color="white" if v > 0.6 else "black")
    ax.set_xlabel("to")
    ax.set_ylabel("from")
    from matplotlib.ticker import PercentFormatter

    ax.figure.colorbar(im, ax=ax, label="share of the moves leaving the row (%)", format=PercentFormatter(1.0))
    return ax


def plot_sankey(flows: pd.DataFrame, *, max_nodes: int = 6, ax=None, names=None, step_label: str = "step"):
    """Sankey diagram of the first steps of the paths (output of ``path_flows``).

    Each column is a position in the path; node height is proportional to the paths there;
    ribbons join consecutive positions. Per column, nodes beyond the ``max_nodes`` largest are
    merged into ``other``. ``names`` gives the nodes' readable names (callable code → text,
    ``other`` included); ``step_label`` names the columns (``"event"`` → "event 1", ...).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import PathPatch, Rectangle
    from matplotlib.path import Path as MPath

    ax = _ax(ax, figsize=(11, 5.5))
    name = _namer(names)
    f = flows.copy()
    n_cols = int(f["step"].max()) + 1 if len(f) else 0
    # node sizes: column 1 = sources of step 1; column k+1 = targets of step k
    nodes = {1: f[f["step"] == 1].groupby("from_event")["n"].sum()}
    for k in range(1, n_cols):
        nodes[k + 1] = f[f["step"] == k].groupby("to_event")["n"].sum()
    keep = {k: set(v.sort_values(ascending=False).index[:max_nodes]) for k, v in nodes.items()}

    def lab(k, name):
        return name if name in keep.get(k, ()) else "other"

    f["src"] = [lab(k, e) for k, e in zip(f["step"], f["from_event"], strict=True)]
    f["dst"] = [lab(k + 1, e) for k, e in zip(f["step"], f["to_event"], strict=True)]
    f = f[f["src"] != "other"].groupby(["step", "src", "dst"], as_index=False)["n"].sum()
    total = max(f[f["step"] == 1]["n"].sum(), 1)
    gap, width = 0.02 * total, 0.12
    colors = {}
    palette = plt.get_cmap("tab10")
    pos: dict[tuple[int, str], list[float]] = {}
    for k in range(1, n_cols + 1):
        if k == 1:
            sizes = f[f["step"] == 1].groupby("src")["n"].sum()
        else:
            sizes = f[f["step"] == k - 1].groupby("dst")["n"].sum()
        sizes = sizes.sort_values(ascending=False)
        y = 0.0
        for node, v in sizes.items():
            if node not in colors:
                colors[node] = palette(len(colors) % 10)
            pos[(k, node)] = [y, y, y + v]  # bottom, running out-offset, top
            ax.add_patch(Rectangle((k - width / 2, y), width, v, color=colors[node], alpha=0.9))
            if v > 0.03 * total:
                ax.text(k, y + v / 2, f"{name(node)}\n{int(v):,}", ha="center", va="center", fontsize=7)
            y += v + gap
    in_off = {key: val[0] for key, val in pos.items()}
    for _, r in f.sort_values(["step", "n"], ascending=[True, False]).iterrows():
        k = int(r["step"])
        s, d = pos.get((k, r["src"])), (k + 1, r["dst"])
        if s is None or d not in pos:
            continue
        y0 = s[1]
        s[1] += r["n"]
        y1 = in_off[d]
        in_off[d] += r["n"]
        x0, x1 = k + width / 2, k + 1 - width / 2
        xm = (x0 + x1) / 2
        verts = [(x0, y0), (xm, y0), (xm, y1), (x1, y1), (x1, y1 + r["n"]), (xm, y1 + r["n"]),
                 (xm, y0 + r["n"]), (x0, y0 + r["n"]), (x0, y0)]
        codes = [MPath.MOVETO, MPath.CURVE4, MPath.CURVE4, MPath.CURVE4, MPath.LINETO,
                 MPath.CURVE4, MPath.CURVE4, MPath.CURVE4, MPath.CLOSEPOLY]
        ax.add_patch(PathPatch(MPath(verts, codes), facecolor=colors[r["src"]], alpha=0.3, lw=0))
    ax.set_xlim(0.5, n_cols + 0.5)
    ymax = max((v[2] for v in pos.values()), default=1.0)
    ax.set_ylim(ymax * 1.02, -0.02 * ymax)
    ax.set_xticks(range(1, n_cols + 1), [f"{_tx(step_label)} {k}" for k in range(1, n_cols + 1)])
    ax.set_yticks([])
    ax.grid(False)  # grid lines would cross the nodes (a style with axes.grid on draws them)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    return ax


def plot_reach_curve(curve: pd.DataFrame, *, by: str | None = None, unit: str = "days", ax=None):
    """Kaplan–Meier probability of having reached the target within t (``reach_curve``)."""
    ax = _ax(ax)
    groups = [(None, curve)] if by is None else curve.groupby(by, sort=True)
    for key, g in groups:
        ax.step(g["duration"], g["reached"], where="post", label=None if key is None else str(key))
        ax.fill_between(g["duration"], g["low"], g["high"], step="post", alpha=0.15)
    ax.set_xlabel(f"time since start ({unit})")
    ax.set_ylabel("share reached (Kaplan–Meier)")
    ax.set_ylim(0, 1)
    if by is not None:
        ax.legend(title=by, fontsize=8)
    return ax


def plot_top_paths(top: pd.DataFrame, *, ax=None):
    """Horizontal bars of the most frequent variants, labelled with their conversion rate."""
    ax = _ax(ax, figsize=(9, 0.4 * max(len(top), 5) + 1))
    y = np.arange(len(top))[::-1]
    ax.barh(y, top["n_paths"], color="#4C72B0")
    for yi, (_, r) in zip(y, top.iterrows(), strict=True):
        conv = r.get("conversion_rate")
        txt = f" {int(r['n_paths']):,}" + (f"  conv. {conv:.0%}" if pd.notna(conv) else "")
        ax.text(r["n_paths"], yi, txt, va="center", fontsize=7)
    ax.set_yticks(y, top["variant"], fontsize=7)
    ax.set_xlabel("paths")
    ax.set_xlim(0, top["n_paths"].max() * 1.3 if len(top) else 1)
    return ax


def plot_friction(cells: pd.DataFrame, *, step_index: int, segment_col: str, segment_value: str,
                  incidents: pd.DataFrame | None = None, ax=None):
    """Conversion of one step and segment per period, with its baseline and incidents shaded.

    Parameters
    ----------
    cells : DataFrame
        Output of :func:`crm_research.journey.friction_cells` (periods without a path kept,
        ``n == 0``, are not drawn).
    step_index, segment_col, segment_value
        The cell series to draw (``step_index`` = index of the to-step).
    incidents : DataFrame, optional
        Output of :func:`crm_research.journey.friction`; matching incidents are shaded.
    """
    from crm_research.stats import wilson

    ax = _ax(ax, figsize=(10, 4))
    c = cells[(cells["step_index"] == step_index) & (cells["segment_col"] == segment_col)
              & (cells["segment_value"] == segment_value)].sort_values("period")
    c = c[c["n"] > 0]  # periods whose paths were all left out (the data's edge) have no rate
    rate = c["n_converted"] / c["n"]
    lo, hi = wilson(c["n_converted"], c["n"])
    ax.plot(c["period"], rate, marker="o", ms=3, lw=1, label="conversion per period")
    ax.fill_between(c["period"], lo, hi, alpha=0.2, label="95% range (Wilson)")
    base = c["n_converted"].sum() / max(c["n"].sum(), 1)
    ax.axhline(base, color="grey", ls="--", lw=1, label=f"whole history {base:.0%}")
    if incidents is not None and len(incidents):
        m = incidents[(incidents["segment_col"] == segment_col)
                      & (incidents["segment_value"] == segment_value)
                      & (incidents["to_step"] == (c["to_step"].iloc[0] if len(c) else None))]
        for _, r in m.iterrows():
            ax.axvspan(r["period_start"], r["period_end"], color="red", alpha=0.12)
    if len(c):
        ax.set_title(f"{c['from_step'].iloc[0]} → {c['to_step'].iloc[0]}, "
                     f"{segment_col}={segment_value}", fontsize=10)
    from matplotlib.ticker import PercentFormatter

    ax.set_ylabel("share going on to the next step (%)")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.legend(fontsize=8)
    return ax


def plot_conversion_trend(trend: pd.DataFrame, *, names=None, partial_last: bool = False, ax=None):
    """Each step's conversion per period, one line per step.

    Parameters
    ----------
    trend : DataFrame
        :func:`crm_research.journey.report.conversion_trend`: one row per period, one column
        per step (shares 0-1).
    names : callable, optional
        Readable step names (code → text), default the codes.
    partial_last : bool
        The last period runs past the analysis date (said in the title).
    """
    from matplotlib.ticker import PercentFormatter

    ax = _ax(ax, figsize=(9, 4))
    name = _namer(names)
    for step in trend.columns:
        ax.plot(trend.index, trend[step], marker="o", ms=3, label=name(step))
    ax.set(title="Step conversion per period (share of visits at the previous step)"
           + (", last period partial" if partial_last else ""),
           ylabel="conversion from the previous step (%)", ylim=(0, 1))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.legend(fontsize=8, title="step reached")
    return ax


def plot_levers(levers: pd.DataFrame, *, improve_by: float, settings=None, ax=None):
    """What each step is worth when it converts better: one bar per step, the biggest lever in red.

    Parameters
    ----------
    levers : DataFrame
        :func:`crm_research.journey.rank_levers` (first row: the biggest lever). Bars show
        ``extra_revenue`` (currency) when it ranked the steps, else ``extra_purchases``
        (count), with their 95% ranges when the rows have them.
    improve_by : float
        The improvement (share), named in the title.
    settings : ReportSettings, optional
        The engagement's labels and currency (default: codes and plain numbers).
    """
    from matplotlib.ticker import FuncFormatter

    from crm_research.journey.words import move_words

    has_value = levers["ranked_by"].iloc[0] == "extra_revenue"
    ranged = bool(levers["extra_low"].notna().iloc[0])
    best = levers["step"].iloc[0]
    shown_col, lo_col, hi_col = (("extra_revenue", "extra_revenue_low", "extra_revenue_high") if has_value
                                 else ("extra_purchases", "extra_low", "extra_high"))
    order = levers.iloc[::-1]
    ax = _ax(ax, figsize=(8, 0.5 * len(order) + 1.5))
    y = range(len(order))
    err = None
    if ranged:
        err = [(order[shown_col] - order[lo_col]).clip(lower=0), (order[hi_col] - order[shown_col]).clip(lower=0)]
    ax.barh(list(y), order[shown_col], xerr=err, capsize=3,
            color=["#C44E52" if s == best else "#4C72B0" for s in order["step"]])
    label = settings.label if settings is not None else None
    ax.set_yticks(list(y), [_tx(move_words(*s.split(" → ", 1), label)) for s in order["step"]])
    if has_value:
        money = settings.money if settings is not None else (lambda v, d: f"{v:,.0f}")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _tx(money(v, 0))))
        unit_text = _tx(f"extra revenue ({(settings.money_unit if settings is not None else '') or 'currency'})")
    else:
        unit_text = "extra purchases (count)"
    ax.set_xlabel(unit_text)
    ax.set_title(f"What each step is worth when it converts {improve_by:+.0%} (red: the biggest lever"
                 + ("; bars: 95% ranges)" if ranged else ")"))
    return ax
