"""Segmentation figures: each returns its Axes and shows the numbers it is given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from crm_research.plots import segments as P  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_rfm_heatmap_cells_show_counts():
    grid = pd.DataFrame({"r_score": [5, 5, 1], "f_score": [5, 1, 1], "customers": [120, 7, 3000],
                         "revenue": [1.0, 2.0, 3.0], "mean_monetary": [1.0, 1.0, 1.0]})
    ax = P.rfm_heatmap(grid)
    assert sorted(_texts(ax)) == ["120", "3,000", "7"]
    img = ax.images[0].get_array()
    assert img[0, 4] == 120 and img[4, 0] == 3000 and img[0, 0] == 7  # R=5 on top, F=5 right
    _, ax2 = plt.subplots()
    assert P.rfm_heatmap(grid, value="revenue", ax=ax2) is ax2


def test_bar_charts():
    summary = pd.DataFrame({"segment": ["champions", "lost"], "customer_share": [0.2, 0.8],
                            "revenue_share": [0.7, 0.3]})
    ax = P.segment_bars(summary)
    widths = sorted(round(p.get_width(), 3) for p in ax.patches)
    assert widths == [0.2, 0.3, 0.7, 0.8]
    levels = pd.DataFrame({"level": ["first-time", "repeat", "advocate"], "customers": [50, 30, 20],
                           "share": [0.5, 0.3, 0.2]})
    ax = P.level_bars(levels)
    assert [p.get_height() for p in ax.patches] == [50, 30, 20] and _texts(ax) == ["50%", "30%", "20%"]
    personas = pd.DataFrame({"cluster": [0, 1], "label": ["loyal", "premium"], "customer_share": [0.6, 0.4],
                             "revenue_share": [0.4, 0.6]})
    ax = P.persona_value(personas)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["loyal", "premium"]
    ax = P.persona_value(personas.assign(label=["mixed", "mixed"]))  # a shared label keeps the clusters apart
    assert [t.get_text() for t in ax.get_yticklabels()] == ["mixed (0)", "mixed (1)"]


def test_cluster_figures():
    sel = pd.DataFrame({"k": [2, 3, 4], "silhouette": [0.1, 0.15, 0.2], "inertia": [3.0, 2.0, 1.0]})
    ax = P.silhouette_curve(sel, chosen_k=4)
    assert list(ax.lines[0].get_ydata()) == [0.1, 0.15, 0.2]
    assert ax.get_legend().get_texts()[0].get_text() == "chosen k = 4"
    prof = pd.DataFrame({"aov": [1.5, -0.5], "frequency": [-3.0, 0.2]}, index=pd.Index([0, 1], name="cluster"))
    ax = P.cluster_profiles(prof, labels={0: "premium", 1: "loyal"})
    assert [t.get_text() for t in ax.get_xticklabels()] == ["premium", "loyal"]
    assert ax.images[0].get_array().min() == -2.0  # clipped at the colour limit
    assert "-3.0" in _texts(ax)  # the true value is still written
    ax = P.stability_hist(pd.DataFrame({"replicate": [0, 1], "ari": [0.9, 1.0]}))
    assert ax.get_legend().get_texts()[0].get_text() == "mean 0.950"


def test_affinity_heatmap():
    rules = pd.DataFrame({"antecedent": ["a", "b"], "consequent": ["b", "a"], "lift": [2.0, 2.0],
                          "confidence": [0.5, 0.25], "support": [0.1, 0.1]})
    ax = P.affinity_heatmap(rules)
    assert sorted(_texts(ax)) == ["2.00", "2.00"]
    ax = P.affinity_heatmap(rules, metric="confidence")
    assert ax.images[0].get_array()[0, 1] == 0.5 and ax.images[0].get_array()[1, 0] == 0.25


def test_heatmaps_have_no_grid_lines_across_the_cells():
    """The notebooks switch ``axes.grid`` on (``notebook.setup``); heatmaps must not show it."""
    grid = pd.DataFrame({"r_score": [5, 1], "f_score": [5, 1], "customers": [120, 3000],
                         "revenue": [1234567.0, 2.0], "mean_monetary": [1.0, 1.0]})
    prof = pd.DataFrame({"aov": [1.5, -0.5]}, index=pd.Index([0, 1], name="cluster"))
    rules = pd.DataFrame({"antecedent": ["a", "b"], "consequent": ["b", "a"], "lift": [2.0, 2.0]})
    with plt.rc_context({"axes.grid": True}):
        axes = [P.rfm_heatmap(grid), P.cluster_profiles(prof), P.affinity_heatmap(rules)]
        revenue = P.rfm_heatmap(grid, value="revenue")
    for ax in axes + [revenue]:
        assert not any(line.get_visible() for line in ax.get_xgridlines() + ax.get_ygridlines())
    # the colour bar reads in thousands, not in scientific notation
    cbar = revenue.figure.axes[-1]
    assert cbar.yaxis.get_major_formatter()(1_000_000, 0) == "1,000,000"
