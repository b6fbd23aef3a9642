"""01 baseline on partial and degenerate data: which sections run, and their package functions.

The expected verdicts, unmeasured KPIs and skipped breakdown dimensions below are written by hand
from what each section and KPI reads (not derived from the declarations in
``crm_research.needs.baseline`` or ``kpi.definitions``). Every case is loaded by ``data.load``
(as a client's export would be) and every section that is not skipped runs its package functions.

The company is a synthetic one of 400 contacts (built once for the module): small enough to be
quick, large enough that every breakdown attribute has several values and referral events,
tickets with every column and NPS answers all exist, so each removal shows its effect.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from crm_research import data, kpi, needs, synthetic  # noqa: E402
from crm_research.plots.kpi import (  # noqa: E402
    plot_breakdown,
    plot_cohort_heatmap,
    plot_customer_levels,
    plot_metric_trend,
    plot_scorecard,
    plot_snapshot_comparison,
)
from crm_research.synthetic.config import CompanyConfig  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import partial_data  # noqa: E402

AS_OF = "2026-01-01"
ROOT = Path(__file__).resolve().parents[1]
CDNOW = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cdnow"
TABLES = ("customers", "orders", "order_items", "events", "campaigns", "ad_spend", "tickets", "surveys",
          "subscriptions")

TICKET_KPIS = {"first_response_hours_mean", "first_response_hours_median", "handling_hours_mean",
               "handling_hours_median", "first_contact_resolution_rate", "csat_mean", "csat_share_4_5"}
ORDER_KPIS = {"active_customers", "new_customers", "new_customers_per_week", "orders", "customers",
              "retention_rate", "churn_rate", "repeat_purchase_rate", "purchase_frequency", "average_order_value",
              "revenue", "revenue_per_customer", "historical_customer_value"}
LEVELS = {"first_time_customers", "repeat_customers", "advocates"}
CONTACTS = {"new_contacts", "lead_conversion_rate"}
MONEY = {"average_order_value", "revenue", "revenue_per_customer", "historical_customer_value"}
def planted(crm):
    """The tables of a synthetic company with its planted truth, as notebook 01 hands them to the needs."""
    return {**crm.tables(), "truth": pd.DataFrame({"customer_id": ["planted"]})}


SECTIONS = ("kpis", "latest", "levels", "cohorts", "goals", "snapshot", "review", "breakdowns", "truth")

# case: (sections not "ok" -> status, KPIs not measured, breakdown dimensions left out)
EXPECTED: dict[str, tuple[dict[str, str], set[str], set[str]]] = {
    "complete": ({}, set(), set()),
    # a client without a customers file: customers derived from orders hold no leads, no region/channel
    "no customers": ({}, CONTACTS, {"acquisition_channel", "region"}),
    "no order_items": ({}, set(), set()),
    "no events": ({"levels": "fallback"}, LEVELS | {"cart_abandonment_rate"}, set()),
    "no campaigns": ({}, set(), set()),
    "no ad_spend": ({}, set(), set()),
    "no tickets": ({}, TICKET_KPIS, set()),
    "no surveys": ({}, {"nps"}, set()),
    "no subscriptions": ({}, set(), set()),
    "no customers.signup_at": ({}, CONTACTS, set()),
    "no customers.acquisition_channel": ({}, set(), {"acquisition_channel"}),
    "no customers.region": ({}, set(), {"region"}),
    "no orders.status": ({}, set(), set()),
    "no orders.channel": ({}, set(), {"purchase_type"}),
    "no orders.platform": ({}, set(), {"platform"}),
    "no events.session_id": ({}, {"cart_abandonment_rate"}, set()),
    "no tickets.first_response_at": ({}, {"first_response_hours_mean", "first_response_hours_median"}, set()),
    "no tickets.resolved_at": ({}, {"handling_hours_mean", "handling_hours_median",
                                    "first_contact_resolution_rate"}, set()),
    "no tickets.contacts": ({}, {"first_contact_resolution_rate"}, set()),
    "no tickets.csat": ({}, {"csat_mean", "csat_share_4_5"}, set()),
    "no breakdown attribute": ({"breakdowns": "skip"}, set(), None),
    "orders only": ({"levels": "fallback", "breakdowns": "skip"}, set(kpi.METRICS) - ORDER_KPIS, None),
    # orders without amounts: only the money KPIs go; every section runs
    "no orders.amount": ({}, MONEY, set()),
    # a web shop's event log alone: orders from the purchase events (no amount, no channel, no platform),
    # customers derived from them (no leads, no region or channel), no referral event (levels measured, no
    # advocate), no tickets or surveys; carts and purchases by session give the cart abandonment
    "event log only": ({"levels": "fallback", "breakdowns": "skip"},
                       CONTACTS | MONEY | TICKET_KPIS | {"nps"}, None),
}

N_CONTACTS = 400
SEED = 7
HISTORY = CompanyConfig(start="2025-01-01", end="2026-01-01")
"""One year of history: twelve monthly periods are plenty for cohorts and retention, and every
engine query (periods are assigned by a tree of comparisons) stays small."""


@pytest.fixture(scope="module")
def company(tmp_path_factory) -> Path:
    """The synthetic company of this module (400 contacts, one year), written once."""
    return synthetic.write(tmp_path_factory.mktemp("baseline") / "company", n_customers=N_CONTACTS, seed=SEED,
                           config=HISTORY)


@pytest.fixture(scope="module")
def frames(company) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(company / f"{name}.parquet") for name in TABLES}


@pytest.fixture(scope="module")
def complete(frames):
    """The complete company as loaded, and its KPI table (the reference of the partial cases)."""
    crm = data.load(frames, as_of=AS_OF)
    return crm, kpi.baseline(crm, AS_OF, "M", periods=24)


@pytest.fixture(scope="module")
def event_log(company, tmp_path_factory) -> Path:
    """The company's event log alone, as a web shop exports it, with its mapping (orders from purchases)."""
    return partial_data.event_log_only(company, tmp_path_factory.mktemp("baseline") / "event_log")


def load_case(frames: dict[str, pd.DataFrame], event_log: Path, case: str, complete=None):
    """The company as the client of ``case`` exports it, loaded by ``data.load``.

    ``data.load`` requires ``orders.amount`` in an orders file (only orders derived from an event
    log come without it), so "no orders.amount" is the loaded complete company with the amounts
    taken out of its orders: the same orders, amounts unknown.
    """
    if case == "event log only":
        return data.load(event_log, mapping=event_log / "mapping.yaml", as_of=AS_OF)
    if case == "no orders.amount":
        return dataclasses.replace(complete, orders=complete.orders.drop(columns="amount"))
    return data.load(case_frames(frames, case), as_of=AS_OF)


def case_frames(frames: dict[str, pd.DataFrame], case: str) -> dict[str, pd.DataFrame]:
    """The synthetic company's tables as the client of ``case`` would export them."""
    out = dict(frames)
    if case == "orders only":
        o = frames["orders"]
        return {"orders": o.loc[o["status"] == "completed", ["customer_id", "ordered_at", "amount"]]}
    if case == "no breakdown attribute":
        out["customers"] = frames["customers"].drop(columns=["acquisition_channel", "region"])
        out["orders"] = frames["orders"].drop(columns=["channel", "platform"])
        return out
    what = case.removeprefix("no ")
    if "." in what:
        table, col = what.split(".")
        out[table] = frames[table].drop(columns=col)
    elif what in out:
        del out[what]
    return out


def run_sections(crm, verdicts, tmp_path: Path, as_of: str = AS_OF,
                 cohorts: bool = True, breakdowns: bool = True, figures: bool = True,
                 dimensions: tuple[str, ...] = tuple(kpi.DIMENSIONS)) -> dict:
    """Call the package functions of every section that is not skipped, as the notebook does
    (``cohorts``, ``breakdowns``, ``figures`` False: leave those out, and ``dimensions`` restricts
    the breakdowns, to keep a case quick)."""
    ok = {v.section.key: v for v in verdicts if v}
    out: dict = {}
    if "kpis" in ok:
        kpis = out["kpis"] = kpi.baseline(crm, as_of, "M", periods=24)
        # the notebook's trend panels: the key KPIs the data measures
        for m in [m for m in ("active_customers", "retention_rate", "average_order_value", "nps",
                              "repeat_purchase_rate", "revenue") if m in set(kpis["metric"])][:4]:
            if figures:
                plt.close(plot_metric_trend(kpis, m).figure)
    if "latest" in ok:
        out["latest"] = kpi.latest(kpis)
    if "levels" in ok and figures:
        plt.close(plot_customer_levels(kpis, advocates=not ok["levels"].fell_back("advocates")).figure)
    if "cohorts" in ok and cohorts:
        cohorts = out["cohorts"] = kpi.cohort_retention(crm, as_of, "M")
        kpi.cohort_matrix(cohorts)
        if figures:
            plt.close(plot_cohort_heatmap(cohorts, annotate=False).figure)
    if "goals" in ok:
        goals, out["goals_left_out"] = kpi.select_goals(kpi.example_goals_path(), kpis, drop_past=True)
        if len(goals):
            out["card"] = kpi.scorecard(goals, kpis)
            if figures:
                plt.close(plot_scorecard(out["card"]).figure)
    if "snapshot" in ok:
        path = kpi.record_snapshot(kpis, tmp_path / f"snapshot_{len(list(tmp_path.iterdir()))}.parquet")
        out["snapshot"] = kpi.load_snapshot(path)
    if "review" in ok:
        comparison = kpi.compare_snapshots(out.get("snapshot", kpis), kpis)
        if figures:
            plt.close(plot_snapshot_comparison(comparison).figure)
    if "breakdowns" in ok and breakdowns:
        bd = out["breakdowns"] = kpi.breakdowns(crm, as_of, "M", periods=1, min_n=30, dimensions=dimensions)
        if figures and not bd.empty:
            plt.close(plot_breakdown(bd, "retention_rate", bd["dimension"].iloc[0]).figure)
    plt.close("all")
    return out


def statuses(verdicts) -> dict[str, str]:
    return {v.section.key: v.status for v in verdicts if v.status != "ok"}


def test_sections_are_declared_in_report_order():
    assert [s.key for s in needs.sections("01")] == list(SECTIONS)


def test_defaults_equal_the_notebook_parameters():
    from crm_research.needs.baseline import DEFAULTS
    from crm_research.run.params import notebook_parameters

    params = notebook_parameters(ROOT / "notebooks" / "01_baseline.ipynb")
    for name in ("period", "advocate_rule"):
        assert DEFAULTS[name] == params[name].default, name


NOT_READ = ("no order_items", "no campaigns", "no ad_spend", "no subscriptions")
"""Tables no baseline section reads: the verdicts are checked, the functions see the complete inputs."""

KPI_COLUMNS_ONLY = ("no customers.signup_at", "no orders.status", "no events.session_id",
                    "no tickets.first_response_at", "no tickets.resolved_at", "no tickets.contacts",
                    "no tickets.csat")
"""Columns no breakdown dimension reads and only KPIs use: their effect is checked on the KPI table;
the breakdowns run the same scans per group (kept out here to keep the test fast)."""

DIMENSION_ONLY = ("no customers.acquisition_channel", "no customers.region", "no orders.channel",
                  "no orders.platform")
"""Columns only a breakdown dimension reads: the KPI table and the breakdown by that dimension are
checked; the other dimensions, the cohorts (customer, date and status of the orders) and the
figures see the complete inputs."""

DRAWN_ELSEWHERE = (*KPI_COLUMNS_ONLY, *DIMENSION_ONLY, "no tickets", "no breakdown attribute")
"""Cases whose figures get the same kinds of input as another case's, where they are drawn: fewer
KPIs and goals ("no surveys", "orders only", "no orders.amount"), no contacts ("no customers"),
the same figures as the complete company's."""

BREAKDOWN_READS = {
    "no customers": ("acquisition_channel", "region"),
    "no events": ("region", "platform"),  # referrals and carts per region; carts per platform
    "no tickets": ("region",),
    "no surveys": ("region",),
    **{case: tuple(d for d, (table, col) in kpi.DIMENSIONS.items() if case == f"no {table}.{col}")
       for case in DIMENSION_ONLY},
}
"""The breakdowns that read what the case removes (the others see the complete inputs); a
customer's acquisition channel is broken down as its region is. Other cases: every dimension."""


@pytest.mark.parametrize("case", list(EXPECTED))
def test_each_table_then_each_column_removed(frames, complete, event_log, tmp_path, case):
    """Skipped sections, unmeasured KPIs and breakdown dimensions equal the hand-written table."""
    want, unmeasured, dims = EXPECTED[case]
    full, full_kpis = complete
    crm = load_case(frames, event_log, case, full)
    verdicts = needs.verdicts(planted(crm), AS_OF, "01", period="M", advocate_rule="referral")
    assert statuses(verdicts) == want
    assert all(v.reason for v in verdicts if v.status != "ok")
    if case in NOT_READ:
        for name in ("customers", "orders", "events", "tickets", "surveys"):
            pd.testing.assert_frame_equal(crm[name], full[name])
        return
    kpi_only, dim_only = case in KPI_COLUMNS_ONLY, case in DIMENSION_ONLY
    same_orders = case != "complete" and crm.orders.equals(full.orders)  # cohorts read the orders only
    out = run_sections(crm, verdicts, tmp_path, cohorts=not (same_orders or dim_only), breakdowns=not kpi_only,
                       figures=case not in DRAWN_ELSEWHERE,
                       dimensions=BREAKDOWN_READS.get(case, tuple(kpi.DIMENSIONS)))
    assert set(out["kpis"].attrs["skipped"]) == unmeasured
    assert set(out["kpis"]["metric"]) == set(kpi.METRICS) - unmeasured
    o = crm.orders[crm.orders["status"] == "completed"]
    assert out["latest"].set_index("metric").loc["customers", "value"] == o["customer_id"].nunique()
    if dims is not None and not kpi_only:
        assert set(out["breakdowns"].attrs["skipped_dimensions"]) == dims
        by_region = out["breakdowns"][out["breakdowns"]["dimension"] == "region"]
        assert by_region.empty or set(by_region["metric"]) == set(kpi.METRICS) - unmeasured
    if "average_order_value" in unmeasured:
        assert "average_order_value" in out["goals_left_out"]  # an example goal the data cannot measure
    if case == "no orders.amount":
        # the same orders without their amounts: every other KPI and the cohorts are unchanged
        same = full_kpis[~full_kpis["metric"].isin(MONEY)].reset_index(drop=True)
        pd.testing.assert_frame_equal(out["kpis"], same)
        pd.testing.assert_frame_equal(out["cohorts"], kpi.cohort_retention(full, AS_OF, "M"))


def test_event_log_only_kpis_equal_pandas_on_the_purchase_events(event_log):
    """Orders from the purchase events: counts, repeat rate and retention as plain pandas gives them."""
    crm = load_case({}, event_log, "event log only")
    assert "order amounts unknown" in crm.derived["orders"] and "amount" not in crm.orders.columns
    log = pd.read_csv(event_log / "web_events.csv", dtype={"user": str})
    bought = log[log["action"] == "order_placed"]
    when = pd.to_datetime(bought["ts"], utc=True, format="ISO8601")
    bought = bought[when < pd.Timestamp(AS_OF, tz="UTC")]
    month = when[bought.index].dt.strftime("%Y-%m")
    base = kpi.baseline(crm, AS_OF, "M")
    last = kpi.latest(base).set_index("metric")["value"]
    assert last["customers"] == bought["user"].nunique()
    assert last["repeat_purchase_rate"] == (bought["user"].value_counts() >= 2).mean()
    orders = base[base["metric"] == "orders"]
    per_month = pd.Series(orders["value"].to_numpy(), index=orders["period"].dt.strftime("%Y-%m"))
    assert per_month.to_dict() == {**dict.fromkeys(per_month.index, 0.0),
                                   **month.value_counts().astype(float).to_dict()}
    nov, dec = (set(bought.loc[month == m, "user"]) for m in ("2025-11", "2025-12"))
    assert last["retention_rate"] == len(nov & dec) / len(nov)
    assert last["active_customers"] == len(dec)


def test_advocate_rule_decides_which_table_the_levels_need(frames):
    no_surveys = data.load(case_frames(frames, "no surveys"), as_of=AS_OF)
    assert statuses(needs.verdicts(planted(no_surveys), AS_OF, "01", advocate_rule="promoter")) == {"levels": "fallback"}
    assert statuses(needs.verdicts(planted(no_surveys), AS_OF, "01", advocate_rule="either")) == {}
    v = {x.section.key: x for x in needs.verdicts(planted(no_surveys), AS_OF, "01", advocate_rule="promoter")}
    assert v["levels"].fell_back("advocates") and "advocate_rule='promoter'" in v["levels"].reason
    b = kpi.baseline(no_surveys, AS_OF, "M", periods=2, advocate_rule="promoter")
    assert LEVELS | {"nps"} == set(b.attrs["skipped"])


@pytest.mark.parametrize("case", ["tiny_10", "one_order_each", "single_segment", "one_day", "one_day_as_of",
                                  "three_months", "orders_only"])
def test_tiny_and_degenerate_companies(company, tmp_path, case):
    # the one day with the most orders: a handful of buyers, their contacts, that day's events
    day = partial_data.busiest_day(company)
    after = str((pd.Timestamp(day) + pd.Timedelta(days=1)).date())
    builders = {
        "tiny_10": lambda o: partial_data.first_customers(company, 10, o),
        "one_order_each": lambda o: partial_data.one_order_each(company, o),
        "single_segment": lambda o: partial_data.single_segment(company, o),
        "one_day": lambda o: partial_data.window(company, day, after, o),
        "one_day_as_of": lambda o: partial_data.window(company, day, after, o),
        "three_months": lambda o: partial_data.window(company, "2025-10-01", "2026-01-01", o),
        "orders_only": lambda o: partial_data.orders_only(company, o),
    }
    as_of = after if case == "one_day_as_of" else AS_OF
    crm = data.load(builders[case](tmp_path / case), as_of=as_of)
    verdicts = needs.verdicts(planted(crm), as_of, "01", period="M", advocate_rule="referral")
    expected = {
        "one_order_each": {},  # no repeat buyer: retention and cohorts are zero, not missing
        "single_segment": {"breakdowns": "skip"},  # one region, channel, purchase type and platform
        "one_day": {"levels": "fallback"},  # no referral on that day
        "one_day_as_of": {"levels": "fallback", "cohorts": "skip"},  # and one period of history
        "orders_only": {"levels": "fallback", "breakdowns": "skip"},
    }
    if case in expected:
        assert statuses(verdicts) == expected[case]
    for v in verdicts:
        assert (v.status == "ok") == (v.reason == ""), (v.section.key, v.reason)
    (tmp_path / "snapshots").mkdir()
    # one customer attribute and one order attribute (with the carts by platform): both kinds of breakdown
    out = run_sections(crm, verdicts, tmp_path / "snapshots", as_of, dimensions=("region", "platform"))
    latest = out["latest"].set_index("metric")["value"]
    completed = crm.orders[crm.orders["status"] == "completed"] if "status" in crm.orders else crm.orders
    assert latest["customers"] == completed["customer_id"].nunique()
    if case == "one_order_each":
        assert latest["repeat_purchase_rate"] == 0
        assert (out["cohorts"].loc[out["cohorts"]["age"] > 0, "active"] == 0).all()
    if case.startswith("one_day"):
        revenue = out["kpis"].loc[out["kpis"]["metric"] == "revenue", "value"].sum()
        assert 1 <= latest["customers"] <= 20 and revenue == pytest.approx(completed["amount"].sum(), abs=0.005)


def test_a_goal_the_data_cannot_measure_is_left_out_with_the_reason(frames):
    crm = data.load(case_frames(frames, "orders only"), as_of=AS_OF)
    kpis = kpi.baseline(crm, AS_OF, "M", periods=3)
    goals, left_out = kpi.select_goals(kpi.example_goals_path(), kpis)
    assert goals["metric"].tolist() == ["retention_rate", "repeat_purchase_rate", "average_order_value"]
    assert left_out == {"cart_abandonment_rate": "the data has no events table",
                        "first_response_hours_median": "the data has no tickets table",
                        "first_contact_resolution_rate": "the data has no tickets table",
                        "nps": "the data has no surveys table"}
    late, left_out = kpi.select_goals(kpi.example_goals_path(), kpi.baseline(crm, "2026-07-01", "M", periods=3),
                                      drop_past=True)
    assert "cart_abandonment_rate" in left_out and "average_order_value" in set(late["metric"])
    assert "deadline" not in left_out.get("retention_rate", "")  # 2026-12-31 is still ahead


def test_cdnow_orders_only_client_equals_pandas(tmp_path):
    """CDNOW's raw master file with a mapping, as an orders-only client: KPIs equal plain pandas."""
    if not (CDNOW / "CDNOW_master.txt").is_file():
        pytest.skip(f"CDNOW data not found at {CDNOW}: the validation dataset lives in ../shared/datasets "
                    "beside the project")
    as_of = "1998-07-01"
    folder = partial_data.cdnow_orders_only(tmp_path / "cdnow")
    crm = data.load(folder, mapping=folder / "mapping.yaml", as_of=as_of)
    raw = pd.read_csv(CDNOW / "CDNOW_master.txt", sep=r"\s+", dtype={"customer_id": str})
    assert statuses(needs.verdicts(planted(crm), as_of, "01")) == {"levels": "fallback", "breakdowns": "skip"}
    base = kpi.baseline(crm, as_of, "M", periods=24)
    last = kpi.latest(base).set_index("metric")
    per_customer = raw.groupby("customer_id")["dollar_value"].agg(["size", "sum"])
    assert last.loc["customers", "value"] == raw["customer_id"].nunique() == 23_570
    revenue = base.loc[base["metric"] == "revenue", "value"].sum()
    assert revenue == pytest.approx(raw["dollar_value"].sum(), abs=0.005)
    assert round(revenue, 2) == 2_500_315.63
    assert last.loc["repeat_purchase_rate", "value"] == (per_customer["size"] >= 2).mean() == 11_662 / 23_570
    assert last.loc["historical_customer_value", "value"] == pytest.approx(per_customer["sum"].mean(), rel=1e-12)
    # June 1998 against May 1998: month-on-month retention and churn
    month = pd.to_datetime(raw["date"].astype(str), format="%Y%m%d").dt.strftime("%Y-%m")
    may, june = (set(raw.loc[month == m, "customer_id"]) for m in ("1998-05", "1998-06"))
    assert last.loc["retention_rate", "value"] == pytest.approx(len(may & june) / len(may), abs=1e-12)
    assert last.loc["churn_rate", "value"] == pytest.approx(1 - len(may & june) / len(may), abs=1e-12)
    assert set(base.attrs["skipped"]) == set(kpi.METRICS) - ORDER_KPIS
    assert "derived from the orders" in base.attrs["skipped"]["lead_conversion_rate"]
    cohorts = kpi.cohort_retention(crm, as_of, "M")
    assert cohorts.loc[cohorts["age"] == 0, "customers"].tolist() == [7846, 8476, 7248]
    assert np.isclose(base.loc[base["metric"] == "orders", "value"].sum(), len(raw))
