"""SMART goals and the scorecard, snapshots and their comparison, breakdowns, cohorts, figures."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

matplotlib.use("Agg")

from crm_research import __version__, kpi, synthetic  # noqa: E402
from crm_research.errors import CRMError, ParameterError  # noqa: E402
from crm_research.kpi.breakdowns import ORDER_METRICS  # noqa: E402
from crm_research.plots import kpi as pk  # noqa: E402

UTC = "UTC"
MONTH = 30.436875


def table(as_of: str, rows: dict[str, tuple[float, float, float]]) -> pd.DataFrame:
    """A hand-made baseline table: one (latest) period per metric, value and interval given."""
    as_of_ts = pd.Timestamp(as_of, tz=UTC)
    period = (as_of_ts - pd.Timedelta(days=1)).to_period("M").start_time.tz_localize(UTC)
    recs = []
    for m, (v, lo, hi) in rows.items():
        d = kpi.METRICS[m]
        recs.append({"metric": m, "period": period, "period_end": as_of_ts, "value": v, "unit": d.unit,
                     "numerator": np.nan, "denominator": np.nan, "ci_low": lo, "ci_high": hi,
                     "ci_method": d.ci_method, "definition": d.definition})
    # an earlier period that must be ignored (the latest period is the value)
    recs.append({**recs[0], "period": period - pd.DateOffset(months=1), "value": -1.0})
    t = pd.DataFrame(recs)
    t.attrs["as_of"] = as_of_ts.isoformat()
    t.attrs["period"] = "M"
    return t


NAN = np.nan
BASE = table("2025-01-01", {"retention_rate": (0.50, 0.45, 0.55), "nps": (10.0, 0.0, 20.0),
                            "first_response_hours_median": (5.0, NAN, NAN), "orders": (100, NAN, NAN)})
GOALS = [
    {"metric": "retention_rate", "target": 0.62, "deadline": "2026-01-01", "direction": "increase",
     "owner": "CRM"},
    {"metric": "nps", "target": 30, "deadline": "2025-07-02", "direction": "increase", "owner": "CX"},
    {"metric": "first_response_hours_median", "target": 4.0, "deadline": "2025-04-01",
     "direction": "decrease", "owner": "Support", "note": "faster replies"},
]


def test_scorecard_hand_worked():
    cur = table("2025-04-01", {"retention_rate": (0.54, 0.50, 0.58), "nps": (12.0, 2.0, 22.0),
                               "first_response_hours_median": (4.5, NAN, NAN)})
    card = kpi.scorecard(GOALS, BASE, cur).set_index("metric")
    r = card.loc["retention_rate"]
    months = 365 / MONTH  # 2025-01-01 -> 2026-01-01
    assert (r["baseline"], r["gap"]) == pytest.approx((0.50, 0.12))
    assert r["months_to_deadline"] == pytest.approx(months)
    assert r["needed_per_month"] == pytest.approx(0.12 / months)
    elapsed = 90 / MONTH  # 2025-01-01 -> 2025-04-01
    assert r["expected_now"] == pytest.approx(0.50 + 0.12 / months * elapsed)  # 0.5296
    assert r["status"] == "on-track"  # 0.54 >= 0.5296
    assert r["progress"] == pytest.approx(0.04 / 0.12)
    n = card.loc["nps"]
    assert n["needed_per_month"] == pytest.approx(20 / (182 / MONTH))
    assert n["expected_now"] == pytest.approx(10 + 20 / (182 / MONTH) * elapsed)  # 19.9
    assert n["status"] == "at-risk"  # 12 < 19.9
    f = card.loc["first_response_hours_median"]
    assert f["needed_per_month"] == pytest.approx(-1.0 / (90 / MONTH))
    assert f["status"] == "missed"  # the review is at the deadline and 4.5 h > 4 h
    assert f["note"] == "faster replies" and f["owner"] == "Support"
    assert (card["baseline_as_of"] == pd.Timestamp("2025-01-01", tz=UTC)).all()
    # reaching the target is 'met' whatever the path; no later snapshot: met / baseline
    done = table("2025-03-01", {"retention_rate": (0.63, 0.6, 0.66), "nps": (35.0, 25.0, 45.0),
                                "first_response_hours_median": (3.9, NAN, NAN)})
    assert (kpi.scorecard(GOALS, BASE, done)["status"] == "met").all()
    alone = kpi.scorecard(GOALS, BASE)
    assert alone["status"].tolist() == ["baseline"] * 3 and alone["current"].isna().all()
    already = kpi.scorecard([{**GOALS[0], "target": 0.4}], BASE)
    assert already["status"].tolist() == ["met"] and already["needed_per_month"].tolist() == [0.0]


def test_goals_file_errors_name_the_problem(tmp_path):
    bad = [{"metric": "retention", "target": 1, "deadline": "2026-01-01", "direction": "increase", "owner": "x"},
           {"metric": "nps_score", "target": 1, "deadline": "2026-01-01", "direction": "increase", "owner": "x"}]
    path = tmp_path / "goals.yaml"
    path.write_text(yaml.safe_dump({"goals": bad}))
    with pytest.raises(CRMError) as err:
        kpi.load_goals(path)
    msg = str(err.value)
    assert "unknown metrics 'retention', 'nps_score'" in msg and "valid metrics are: new_contacts" in msg
    assert "retention_rate" in msg and str(path) in msg
    with pytest.raises(CRMError, match=r"goal 1 \(nps\): missing deadline, owner"):
        kpi.load_goals([{"metric": "nps", "target": 1, "direction": "increase"}])
    with pytest.raises(CRMError, match="direction 'up' must be increase or decrease"):
        kpi.load_goals([{**GOALS[1], "direction": "up"}])
    with pytest.raises(CRMError, match="deadline 'soon' is not a date"):
        kpi.load_goals([{**GOALS[1], "deadline": "soon"}])
    with pytest.raises(CRMError, match="target 'a lot' is not a number"):
        kpi.load_goals([{**GOALS[1], "target": "a lot"}])
    with pytest.raises(CRMError, match="does not exist"):
        kpi.load_goals(tmp_path / "none.yaml")
    with pytest.raises(CRMError, match=r"deadline\(s\) not after the baseline's as_of 2025-01-01: nps"):
        kpi.scorecard([{**GOALS[1], "deadline": "2024-12-01"}], BASE)
    with pytest.raises(CRMError, match="the baseline has no rows for goal metric"):
        kpi.scorecard([{**GOALS[0], "metric": "csat_mean"}], BASE)
    with pytest.raises(CRMError, match="older than the baseline"):
        kpi.scorecard(GOALS, BASE, table("2024-06-01", {"retention_rate": (0.5, 0.4, 0.6)}))


def test_example_goals_file_is_valid():
    g = kpi.load_goals(kpi.example_goals_path())
    assert len(g) >= 5 and set(g["direction"]) == {"increase", "decrease"}
    assert set(g["metric"]) <= set(kpi.METRICS)
    assert (g["deadline"] > pd.Timestamp("2026-01-01", tz=UTC)).all()


@pytest.fixture(scope="module")
def company():
    tables, _, tc = synthetic.generate(2_000, 11)
    return tables, tc


@pytest.fixture(scope="module")
def snapshots(company, tmp_path_factory):
    tables, _ = company
    folder = tmp_path_factory.mktemp("snap")
    a = kpi.baseline(tables, "2025-07-01", "M")
    b = kpi.baseline(tables, "2026-01-01", "M")
    pa = kpi.record_snapshot(a, folder / "2025-07-01.parquet", fingerprint="f00d", metadata={"data": "demo"})
    pb = kpi.record_snapshot(b, folder / "2026-01-01.parquet")
    return a, b, pa, pb


def test_snapshot_round_trip_and_metadata(snapshots):
    a, _, pa, _ = snapshots
    meta = json.loads(pa.with_suffix(".json").read_text())
    assert meta["as_of"] == "2025-07-01T00:00:00+00:00" and meta["period"] == "M"
    assert meta["data_fingerprint"] == "f00d" and meta["package_version"] == __version__
    assert meta["data"] == "demo" and meta["rows"] == len(a) and meta["metrics"] == kpi.metric_names()
    back = kpi.load_snapshot(pa)
    pd.testing.assert_frame_equal(back, a)
    assert back.attrs["as_of"] == meta["as_of"]
    with pytest.raises(CRMError, match="already exists"):
        kpi.record_snapshot(a, pa)
    with pytest.raises(CRMError, match="must end in .parquet"):
        kpi.record_snapshot(a, pa.with_suffix(".csv"))


def test_write_snapshot_names_replaces_and_refuses_its_own_file_as_previous(snapshots, tmp_path):
    """The run's snapshot: named by as_of and period, a rerun replaces it, the fingerprint read from the run's meta."""
    _, b, _, _ = snapshots
    meta = tmp_path / "run.json"
    meta.write_text(json.dumps({"data": {"fingerprint": "sha256:beef", "rows": 3}}))
    assert kpi.run_fingerprint(meta) == "sha256:beef"
    assert kpi.run_fingerprint(tmp_path / "absent.json") is None
    folder = tmp_path / "snapshots"
    first = kpi.write_snapshot(b, folder, fingerprint="one", metadata={"notebook": "01_baseline"})
    assert first == folder / "kpi_baseline_2026-01-01_M.parquet"
    again = kpi.write_snapshot(b, folder, fingerprint=kpi.run_fingerprint(meta))
    assert again == first and sorted(p.name for p in folder.iterdir()) == [first.with_suffix(".json").name, first.name]
    back = kpi.load_snapshot(again)
    assert back.attrs["data_fingerprint"] == "sha256:beef" and "notebook" not in back.attrs
    assert back.attrs["rows"] == len(b) and back["metric"].nunique() == b["metric"].nunique()
    with pytest.raises(ParameterError, match="is the snapshot this run writes"):
        kpi.write_snapshot(b, folder, previous=folder / ".." / "snapshots" / first.name)


def test_compare_hand_worked():
    a = table("2025-01-01", {"retention_rate": (0.50, 0.45, 0.55), "nps": (10.0, 0.0, 20.0), "orders": (100, NAN, NAN)})
    b = table("2025-07-01", {"retention_rate": (0.60, 0.55, 0.65), "nps": (12.0, 2.0, 22.0), "orders": (130, NAN, NAN)})
    c = kpi.compare_snapshots(a, b).set_index("metric")
    assert list(c.index) == ["orders", "retention_rate", "nps"]  # baseline order
    r = c.loc["retention_rate"]
    se = 0.05 / 1.959964
    z = 0.10 / np.hypot(se, se)  # 2.77
    assert r["change"] == pytest.approx(0.10) and r["change_rel"] == pytest.approx(0.2)
    assert r["z"] == pytest.approx(z, rel=1e-5)
    assert r["p_value"] == pytest.approx(2 * stats.norm.sf(z), rel=1e-4)  # 0.0056
    assert bool(r["beyond_noise"]) and bool(r["ci_overlap"])  # intervals touch at 0.55, test still clear
    assert not bool(c.loc["nps", "beyond_noise"])  # +2 points with +-10 point intervals
    assert pd.isna(c.loc["orders", "beyond_noise"]) and c.loc["orders", "change"] == 30


def test_compare_and_scorecard_on_recorded_snapshots(snapshots):
    a, b, pa, pb = snapshots
    c = kpi.compare_snapshots(pa, pb)
    assert len(c) == len(kpi.METRICS)
    assert (c["as_of_a"] == pd.Timestamp("2025-07-01", tz=UTC)).all()
    ret = c.set_index("metric").loc["customers"]
    assert ret["value_b"] > ret["value_a"]  # a stock only grows
    card = kpi.scorecard(kpi.example_goals_path(), kpi.load_snapshot(pa), kpi.load_snapshot(pb))
    assert set(card["status"]) <= {"met", "on-track", "at-risk", "missed"}
    assert (card["current_as_of"] == pd.Timestamp("2026-01-01", tz=UTC)).all()


def _filter_to(tables: dict, ids: set) -> dict:
    return {k: (v[v["customer_id"].isin(ids)] if "customer_id" in v.columns else v) for k, v in tables.items()}


def test_breakdown_equals_baseline_on_the_subset(company):
    tables, tc = company
    bd = kpi.breakdowns(tables, "2026-01-01", "M", periods=3, dimensions=("region", "purchase_type"),
                        min_n=50)
    # a customer attribute: identical to the baseline of that region's customers and their rows
    north = set(tables["customers"].loc[tables["customers"]["region"] == "north", "customer_id"])
    want = kpi.baseline(_filter_to(tables, north), "2026-01-01", "M", periods=3)
    got = bd[(bd["dimension"] == "region") & (bd["group"] == "north")]
    cols = ["metric", "period", "value", "numerator", "denominator", "ci_low", "ci_high"]
    pd.testing.assert_frame_equal(got[cols].reset_index(drop=True), want[cols].reset_index(drop=True))
    # an order attribute: identical to the baseline of the online orders alone (order metrics only)
    o = tables["orders"]
    want = kpi.baseline({"orders": o[o["channel"] == "online"]}, "2026-01-01", "M", periods=3)
    got = bd[(bd["dimension"] == "purchase_type") & (bd["group"] == "online")]
    assert set(got["metric"]) == set(ORDER_METRICS)
    want = want[want["metric"].isin(got["metric"])]
    pd.testing.assert_frame_equal(got[cols].reset_index(drop=True), want[cols].reset_index(drop=True))
    assert sorted(bd.loc[bd["dimension"] == "purchase_type", "group"].unique()) == ["in_person", "online", "phone"]
    # small cells: flagged by the observations behind the value
    small = bd[bd["too_small"]]
    assert len(small) and (small["n"] < 50).all()
    assert not bd.loc[bd["n"] >= 50, "too_small"].any()
    assert not bd.loc[bd["metric"] == "orders", "too_small"].any()  # counts are exact


def test_breakdown_dimensions_and_errors(company):
    tables, tc = company
    no_region = dict(tables, customers=tables["customers"].drop(columns="region"))
    bd = kpi.breakdowns(no_region, "2026-01-01", "M", dimensions=("region", "platform"))
    assert set(bd["dimension"]) == {"platform"}
    assert "region" in bd.attrs["skipped_dimensions"]
    assert "cart_abandonment_rate" in set(bd["metric"])  # by the session's platform
    with pytest.raises(ParameterError, match="unknown breakdown dimension"):
        kpi.breakdowns(tables, "2026-01-01", dimensions=("colour",))
    with pytest.raises(CRMError, match="duplicate customer_id"):
        kpi.breakdowns(tables, "2026-01-01", dimensions=(),
                       segments=pd.concat([tc[["customer_id", "segment"]]] * 2))


def test_cohort_retention_hand_worked():
    orders = pd.DataFrame({
        "customer_id": ["a", "a", "a", "b", "b", "c", "d"],
        "ordered_at": pd.to_datetime(["2024-01-03", "2024-01-20", "2024-03-02", "2024-01-31", "2024-02-01",
                                      "2024-02-10", "2024-03-05"], utc=True),
        "amount": 10.0, "status": ["completed"] * 6 + ["cancelled"],
    })
    c = kpi.cohort_retention(orders, "2024-03-15", "M")
    # cohorts: Jan {a, b}, Feb {c}; d's only order is cancelled. Jan cohort: Feb {b}, Mar {a}
    assert c["cohort"].dt.strftime("%Y-%m").tolist() == ["2024-01"] * 3 + ["2024-02"] * 2
    assert c["age"].tolist() == [0, 1, 2, 0, 1]
    assert c["customers"].tolist() == [2, 2, 2, 1, 1]
    assert c["active"].tolist() == [2, 1, 1, 1, 0]
    assert c["rate"].tolist() == [1.0, 0.5, 0.5, 1.0, 0.0]
    assert c["partial"].tolist() == [False, False, True, False, True]  # March is cut at the 15th
    m = kpi.cohort_matrix(c)
    assert m.shape == (2, 3) and np.isnan(m.iloc[1, 2])
    assert kpi.cohort_retention(orders, "2024-03-15", "M", max_age=1)["age"].max() == 1


def test_figures(company, snapshots):
    tables, _ = company
    a, b, pa, pb = snapshots
    import matplotlib.pyplot as plt

    ax = pk.plot_metric_trend(b, "retention_rate", target=0.6)
    assert len(ax.lines) == 2 and len(ax.collections) == 1  # value, target; interval band
    cohorts = kpi.cohort_retention(tables, "2026-01-01")
    ax = pk.plot_cohort_heatmap(cohorts)
    assert ax.images[0].get_array().shape == kpi.cohort_matrix(cohorts).shape
    ax = pk.plot_customer_levels(b)
    assert len(ax.patches) == 5  # contacts, customers and the three levels
    card = kpi.scorecard(kpi.example_goals_path(), kpi.load_snapshot(pa), kpi.load_snapshot(pb))
    ax = pk.plot_scorecard(card)
    assert len(ax.get_yticklabels()) == len(card)
    ax = pk.plot_snapshot_comparison(kpi.compare_snapshots(pa, pb))
    assert len(ax.patches) > 20
    bd = kpi.breakdowns(tables, "2026-01-01", dimensions=("region",))
    ax = pk.plot_breakdown(bd, "retention_rate", "region")
    assert len(ax.patches) == 4
    with pytest.raises(CRMError, match="no rows for metric 'nope'"):
        pk.plot_metric_trend(b, "nope")
    plt.close("all")


def test_baseline_accepts_the_loaders_crmdata(company, tmp_path):
    """CRMData from crm_research.data.load (tables as attributes and by name) gives the same table."""
    from crm_research import data

    tables, _ = company
    folder = synthetic.write(tmp_path / "co", n_customers=2_000, seed=11)
    crm = data.load(folder)
    got = kpi.baseline(crm.without_pii(), "2026-01-01", "M", periods=6)
    pd.testing.assert_frame_equal(got, kpi.baseline(tables, "2026-01-01", "M", periods=6))


def test_compare_and_scorecard_refuse_different_periods_and_use_each_sides_level():
    """A week's value against a month's is no change at all: refused. The standard error of each
    side comes from its own interval level (a 90% snapshot against a 95% one)."""
    a = table("2025-01-01", {"retention_rate": (0.50, 0.45, 0.55)})
    b = table("2025-07-01", {"retention_rate": (0.60, 0.55, 0.65)})
    weekly = b.copy()
    weekly.attrs = {**b.attrs, "period": "W"}
    with pytest.raises(CRMError, match=r"different periods \('M' and 'W'\)"):
        kpi.compare_snapshots(a, weekly)
    with pytest.raises(CRMError, match=r"baseline and current snapshot have different periods"):
        kpi.scorecard(GOALS[:1], a, weekly)
    # a at 90%: half-width 0.05 = 1.644854 SE; b at 95%: 0.05 = 1.959964 SE
    a90 = a.copy()
    a90.attrs = {**a.attrs, "conf": 0.90}
    r = kpi.compare_snapshots(a90, b).set_index("metric").loc["retention_rate"]
    se = np.hypot(0.05 / 1.644854, 0.05 / 1.959964)  # 0.0396
    assert r["z"] == pytest.approx(0.10 / se, rel=1e-5)  # 2.52 (2.77 if both were read at 95%)
    assert r["p_value"] == pytest.approx(2 * stats.norm.sf(0.10 / se), rel=1e-4)
