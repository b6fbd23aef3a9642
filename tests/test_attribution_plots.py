"""Attribution figures draw what their tables hold."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from crm_research.attribution import ABTest, MarkovAttribution, compare_models  # noqa: E402
from crm_research.plots import attribution as P  # noqa: E402

PATHS = pd.DataFrame({"path": ["a > b", "a", "b", "b > a > c", "c"], "total_conversions": [3, 1, 2, 1, 0],
                      "total_conversion_value": [30.0, 5.0, 20.0, 8.0, 0.0], "total_null": [2, 4, 1, 3, 5]})


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_model_comparison_draws_one_bar_per_model_and_channel():
    cmp = compare_models(PATHS, n_boot=10)
    ax = P.plot_model_comparison(cmp, truth={"a": 2.0, "b": 3.0, "c": 1.0})
    n_models = cmp.model.nunique()
    assert len(ax.patches) == n_models * 3
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]


def test_markov_figures():
    m = MarkovAttribution().fit(PATHS)
    ax = P.plot_removal_effects(m.credits_)
    assert sorted(p.get_width() for p in ax.patches) == pytest.approx(sorted(m.credits_.removal_effect))
    ax = P.plot_markov_transitions(m.transitions_)
    assert [t.get_text() for t in ax.get_yticklabels()][0] == "(start)"


def test_ad_and_ab_figures():
    perf = pd.DataFrame({"campaign_id": ["x", "y"], "roas": [2.0, 0.5], "small_volume": [False, True]})
    ax = P.plot_ad_performance(perf)
    assert [p.get_width() for p in ax.patches] == [0.5, 2.0] and ax.patches[0].get_hatch() == "//"
    s = ABTest().fit(pd.DataFrame({"arm": ["control", "v"], "n": [1000, 1000], "conversions": [80, 100]})).summary_
    ax = P.plot_ab_test(s)
    assert "+2.0 pts" in ax.get_yticklabels()[1].get_text()


def test_ad_figure_shows_no_roas_for_too_little_spend_and_readable_names():
    perf = pd.DataFrame({"campaign_id": ["x", "y", "em"], "roas": [2.0, 0.5, 800.0],
                         "small_volume": [False, True, False], "low_spend": [False, False, True]})
    ax = P.plot_ad_performance(perf, log=True, label=str.upper, value_format=lambda v: f"€{v:.2f}")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["EM", "Y", "X"]
    visible = [p.get_width() for p in ax.patches if p.get_visible()]
    assert visible == [0.5, 2.0]  # no bar for the 800 on a tiny spend
    texts = [t.get_text() for t in ax.texts]
    assert "too little spend to judge" in texts and " €2.00" in texts and not any("800" in t for t in texts)
    # other metrics keep every bar
    ax = P.plot_ad_performance(perf.assign(cpa=[1.0, 2.0, 3.0]), metric="cpa")
    assert sum(p.get_visible() for p in ax.patches) == 3


def test_figures_take_readable_labels():
    cmp = compare_models(PATHS, n_boot=0)
    ax = P.plot_model_comparison(cmp, label=lambda c: f"Channel {c}", model_labels={"last_touch": "Last click"})
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Channel a", "Channel b", "Channel c"]
    assert "Last click" in [t.get_text() for t in ax.get_legend().get_texts()]
    m = MarkovAttribution().fit(PATHS)
    ax = P.plot_removal_effects(m.credits_, label=str.upper)
    assert {t.get_text() for t in ax.get_yticklabels()} == {"A", "B", "C"}
    s = ABTest().fit(pd.DataFrame({"arm": ["control", "v"], "n": [1000, 1000], "conversions": [80, 100]})).summary_
    ax = P.plot_ab_test(s, label={"control": "Old subject", "v": "New subject"}.get, p_values=False)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0].startswith("Old subject") and "p=" not in labels[1]
