"""Churn figures: each returns its Axes and draws exactly the numbers it is given."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from crm_research.plots import churn as P  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_survival_curves_one_step_line_per_group():
    km = pd.DataFrame({"group": ["a", "a", "b", "b"], "time_days": [0, 10, 0, 20],
                       "survival": [1.0, 0.5, 1.0, 0.8], "ci_lower": [1.0, 0.3, 1.0, 0.6],
                       "ci_upper": [1.0, 0.7, 1.0, 0.9]})
    ax = P.plot_survival_curves(km)
    assert [ln.get_label() for ln in ax.lines] == ["a", "b"]
    assert list(ax.lines[0].get_ydata()) == [1.0, 0.5]
    assert len(ax.collections) == 2                          # one confidence band per group
    assert len(P.plot_survival_curves(km, band=False).collections) == 0


def test_hazard_ratios_with_planted_markers():
    s = pd.DataFrame({"covariate": ["promo", "support"], "hazard_ratio": [1.5, 0.7],
                      "hr_lower": [1.2, 0.6], "hr_upper": [1.9, 0.8]})
    ax = P.plot_hazard_ratios(s, truth={"promo": 1.6, "support": 0.75})
    ticks = dict(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels()), strict=True))
    assert ticks == {1: "promo", 0: "support"}                 # the table's first row on top
    planted = ax.collections[-1].get_offsets()
    assert sorted(np.asarray(planted)[:, 0]) == [0.75, 1.6]
    assert ax.get_xscale() == "log"


def test_gain_starts_at_the_origin_and_lift_has_a_bar_per_decile():
    t = pd.DataFrame({"decile": [1, 2], "cum_population_share": [0.5, 1.0], "cum_churner_share": [0.8, 1.0],
                      "lift": [1.6, 0.4]})
    ax = P.plot_gain(t)
    assert list(ax.lines[0].get_xdata()) == [0.0, 0.5, 1.0]
    assert list(ax.lines[0].get_ydata()) == [0.0, 0.8, 1.0]
    ax = P.plot_lift(t)
    assert [round(p.get_height(), 6) for p in ax.patches] == [1.6, 0.4]


def test_risk_bands_annotate_sizes_and_draw_the_overall_rate():
    t = pd.DataFrame({"band": ["active", "lapsed", "all"], "n": [1200, 300, 1500],
                      "hit_rate": [0.05, 0.8, 0.2]})
    ax = P.plot_risk_bands(t)
    assert [round(p.get_height(), 6) for p in ax.patches] == [0.05, 0.8]
    assert [t.get_text() for t in ax.texts] == ["n=1,200", "n=300"]
    assert ax.lines[0].get_ydata()[0] == pytest.approx(0.2)


def test_value_at_risk_top_rows_largest_on_top():
    ar = pd.DataFrame({"rank_value_at_risk": [1, 2, 3], "value_at_risk": [90.0, 50.0, 10.0]})
    ax = P.plot_value_at_risk(ar, top=2)
    assert [round(p.get_width(), 6) for p in ax.patches] == [50.0, 90.0]   # barh draws bottom-up
    assert [t.get_text() for t in ax.get_yticklabels()] == ["#2", "#1"]


def test_calibration_points_are_the_table():
    t = pd.DataFrame({"mean_predicted": [0.1, 0.6], "observed_rate": [0.12, 0.55],
                      "ci_lower": [0.08, 0.5], "ci_upper": [0.16, 0.6]})
    ax = P.plot_calibration(t)
    model = [c for c in ax.containers if c.get_label() == "model"]
    assert list(model[0].lines[0].get_ydata()) == [0.12, 0.55]


def test_readable_names_in_legend_and_ticks():
    km = pd.DataFrame({"group": ["paid_search", "email"], "time_days": [0, 0], "survival": [1.0, 1.0],
                       "ci_lower": [1.0, 1.0], "ci_upper": [1.0, 1.0]})
    ax = P.plot_survival_curves(km, labels={"paid_search": "Paid search"})
    assert sorted(ln.get_label() for ln in ax.lines) == ["Paid search", "email"]
    summary = pd.DataFrame({"covariate": ["age_per_10", "first_order_promo"], "hazard_ratio": [1.1, 0.9],
                            "hr_lower": [1.0, 0.8], "hr_upper": [1.2, 1.0]})
    ax = P.plot_hazard_ratios(summary, labels=str.upper)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["AGE_PER_10", "FIRST_ORDER_PROMO"]
