"""Journey figures draw what the tables say (bar lengths, node sizes, shaded incidents)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from crm_research import journey as J  # noqa: E402
from crm_research.plots import journey as PJ  # noqa: E402

T0 = pd.Timestamp("2024-02-01 12:00", tz="UTC")
SESSIONS = {
    "s1": ["visit", "view", "cart", "purchase"],
    "s2": ["visit", "view", "cart"],
    "s3": ["visit", "view"],
    "s4": ["visit"],
}


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    rows = [(s, s, T0 + pd.Timedelta(minutes=i), e, "web")
            for s, evs in SESSIONS.items() for i, e in enumerate(evs)]
    return pd.DataFrame(rows, columns=["session_id", "customer_id", "occurred_at", "event", "platform"])


def teardown_module():
    plt.close("all")


def test_funnel_bars(log):
    f = J.funnel(log, ["visit", "view", "cart", "purchase"], path_col="session_id")
    ax = PJ.plot_funnel(f)
    widths = sorted(p.get_width() for p in ax.patches)
    assert widths == [1, 2, 3, 4]
    ax = PJ.plot_funnel(J.funnel(log, ["visit", "view"], path_col="session_id", by="platform"), by="platform")
    assert [round(p.get_height(), 6) for p in ax.patches] == [1.0, 0.75]


def test_sankey_nodes(log):
    flows = J.path_flows(log, 4)
    with plt.rc_context({"axes.grid": True}):
        ax = PJ.plot_sankey(flows)
    assert not any(line.get_visible() for line in ax.get_xgridlines())  # no grid across the nodes
    nodes = [p for p in ax.patches if isinstance(p, Rectangle)]
    heights = sorted(round(p.get_height()) for p in nodes)
    # columns: visit 4 | view 3, end 1 | cart 2, end 1 | purchase 1, end 1
    assert heights == [1, 1, 1, 1, 2, 3, 4]


def test_other_figures_return_axes(log):
    assert PJ.plot_transitions(J.transitions(log, path_col="session_id")).get_xlabel() == "to"
    p = J.time_to_paths(log, "purchase", T0 + pd.Timedelta(days=1), path_col="session_id")
    assert PJ.plot_reach_curve(J.reach_curve(p)).get_ylim() == (0.0, 1.0)
    top = J.top_paths(log)
    assert len(PJ.plot_top_paths(top).patches) == len(top)
    cur = J.stages(log.assign(event="site_visit"), as_of=T0 + pd.Timedelta(days=1))
    assert len(PJ.plot_stage_counts(J.stage_counts(cur)).patches) == 10
    _, ax = plt.subplots()
    assert PJ.plot_transitions(J.transitions(log, path_col="session_id"), ax=ax) is ax


def test_transitions_in_reading_order(log):
    tr = J.transitions(log, path_col="session_id")
    ax = PJ.plot_transitions(tr, order=["visit", "view", "cart", "purchase"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["(start)", "visit", "view", "cart", "purchase"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["visit", "view", "cart", "purchase", "(end)"]
    # states the order leaves out come after the listed ones (before "(end)"), alphabetically,
    # and the cells keep their values
    ax = PJ.plot_transitions(tr, order=["visit", "view"])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["visit", "view", "cart", "purchase", "(end)"]
    m = ax.images[0].get_array()
    assert m[1, 1] == pytest.approx(0.75)  # visit -> view: 3 of 4 visits


def test_friction_shading():
    start = pd.Timestamp("2024-01-01", tz="UTC")
    cells = pd.DataFrame({
        "step_index": 2, "from_step": "cart", "to_step": "buy", "segment_col": "platform",
        "segment_value": "web", "period": [start + pd.Timedelta(weeks=w) for w in range(4)],
        "n": 100, "n_converted": [80, 80, 40, 80], "n_people": 100})
    inc = pd.DataFrame({"segment_col": ["platform"], "segment_value": ["web"], "to_step": ["buy"],
                        "period_start": [start + pd.Timedelta(weeks=2)],
                        "period_end": [start + pd.Timedelta(weeks=3)]})
    ax = PJ.plot_friction(cells, step_index=2, segment_col="platform", segment_value="web", incidents=inc)
    assert len(ax.patches) == 1  # the shaded incident
    assert list(ax.lines[0].get_ydata()) == [0.8, 0.8, 0.4, 0.8]


def test_figures_show_readable_names_and_escape_dollars(log):
    names = {"visit": "Site visit", "view": "Product viewed", "cart": "Added to cart $", "purchase": "Purchase"}
    f = J.funnel(log, ["visit", "view", "cart", "purchase"], path_col="session_id")
    ax = PJ.plot_funnel(f, names=names.get, unit="visits")
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert "Site visit" in ticks and r"Added to cart \$" in ticks
    assert "visits" in ax.get_xlabel() and "(count)" in ax.get_xlabel()
    ax = PJ.plot_funnel(f.assign(platform="web"), by="platform", names=names.get, group_names=lambda g: "Web shop",
                        by_title="Platform")
    assert ax.get_legend().get_title().get_text() == "Platform"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Web shop"]
    assert "%" in ax.get_ylabel()
    plt.close("all")
