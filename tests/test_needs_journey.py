"""What the journey notebook's sections need, on partial and degenerate companies.

The expected skips are written by hand (not derived from the declarations). For the sections
that are not skipped, the package calls of ``notebooks/03_journey.ipynb`` run on the same data
(:func:`run_sections` mirrors them, with a small bootstrap): every section on the full company,
without customers and on each degenerate company; without a column, the sections that read it
(:data:`READS`, by hand); a table the journey does not read leaves its inputs unchanged (checked).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from crm_research import data, needs, settings, synthetic
from crm_research import journey as J
from crm_research.journey import report as JR
from crm_research.needs import journey as declared
from crm_research.run.params import notebook_parameters

sys.path.insert(0, str(Path(__file__).parent))
import partial_data as P  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "03_journey.ipynb"
AS_OF = "2026-01-01"
KEYS = ("events", "stages", "stages_by_channel", "funnel", "transitions", "time_in_stage", "time_to_purchase",
        "top_paths", "friction_points", "friction", "whatif")
EVENTS = set(KEYS)  # every section reads the event log
STEPS = declared.DEFAULTS["funnel_steps"]


@pytest.fixture(scope="module")
def company(tmp_path_factory) -> Path:
    """A synthetic company small enough to run every section many times (400 contacts)."""
    return synthetic.write(tmp_path_factory.mktemp("journey") / "company", n_customers=400, seed=7)


@pytest.fixture(scope="module")
def full(company):
    """The company as loaded."""
    return data.load(company)


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return tmp_path_factory.mktemp("journey-cases")


@pytest.fixture(scope="module", autouse=True)
def small_null():
    """The friction scan with 99 null draws instead of its 999, like the what-if's small bootstrap:
    these tests ask which sections run, not how sharp the scan's threshold is (the scan's own
    tests keep 999); the null was half of each case's time (about 4 of 8 s)."""
    from functools import partial

    from crm_research.journey import friction_scan

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(friction_scan, "FrictionScan", partial(friction_scan.FrictionScan, n_null=99))
        yield


def params(**over):
    return {"funnel_steps": STEPS, "friction_period": "W", **over}


def skipped(crm, **over) -> dict[str, str]:
    """Skipped section -> its reason."""
    return {v.section.key: v.reason for v in needs.verdicts(crm, AS_OF, "03", **params(**over))
            if v.status == "skip"}


def run_sections(crm, keys, *, funnel_steps=STEPS, friction_period="W") -> dict:
    """The package calls of the notebook's sections ``keys`` (in report order) on ``crm``.

    The same calls as the notebook's cells, its sentences included (a client's settings), with a
    small bootstrap and a small null for the friction scan (:func:`small_null`).
    """
    out: dict = {}
    p = J.check_parameters(AS_OF, funnel_steps, funnel_steps[0], friction_period)
    cut, target, stage_map, s = p.as_of, p.target, p.stage_map, JR.report_labels(settings.from_dict({}))
    if "events" not in keys:
        return out
    prep = J.prepare_events(crm.events, crm.customers, crm.orders, cut, session_timeout_minutes=30)
    events, n_contacts = prep.events, prep.n_contacts
    JR.events_text(prep, s, cut, 30)
    drop = None
    if "stages" in keys:
        current = J.stages(events, stage_map, as_of=cut)
        out["stages"] = J.stage_counts(current, stage_map, customers=n_contacts)
        assert out["stages"]["share_reached"].max() <= 1.0
        JR.stage_texts(out["stages"], p, n_contacts, s)
    if "stages_by_channel" in keys:
        out["stages_by_channel"] = JR.stages_by(current, crm.customers, stage_map, "acquisition_channel")
        JR.stages_wide(out["stages_by_channel"], stage_map, s.label, client=True)
    if "funnel" in keys:
        f, _ = JR.funnel_split(events, funnel_steps, by=prep.split)
        drop = JR.biggest_drop(f, funnel_steps)
        JR.funnel_texts(f, drop, target, s)
        JR.visits_and_customers(f, J.funnel(events, funnel_steps, path_col="customer_id"))
        trend = JR.conversion_trend(J.funnel(events, funnel_steps, path_col="session_id", period="M"), funnel_steps)
        JR.trend_view(trend, "M", cut, s)
        out["funnel"] = f
    if "transitions" in keys:
        staged, out["transitions"] = JR.stage_moves(events, stage_map)
    if "time_in_stage" in keys:
        out["time_in_stage"] = JR.time_in_stages(staged, stage_map, cut)
        assert "km_median" in out["time_in_stage"].columns
    if "time_to_purchase" in keys:
        by = "acquisition_channel" if "acquisition_channel" in events.columns else None
        paths = J.time_to_paths(events, target, cut, by=by)
        out["time_to_purchase"] = JR.time_to_purchase_table(paths, by)
        JR.time_to_purchase_texts(out["time_to_purchase"], s)
        J.reach_curve(paths)
    if "top_paths" in keys:
        out["top_paths"] = J.top_paths(events, target=target, path_col="customer_id", n=15, max_steps=5)
        JR.top_paths_markdown(out["top_paths"], s)
        J.path_flows(events, 5, path_col="customer_id")
    if "friction_points" in keys:
        out["friction_points"] = JR.friction_points_view(J.friction_points(events, funnel_steps), s.label, client=True)
    if "friction" in keys:
        search = JR.friction_search(events, funnel_steps, segments=prep.segments, period=friction_period, as_of=cut,
                                    max_window=6, seed=1)
        JR.friction_search_text(search, 6, p.friction_unit, s)
        JR.friction_texts(search.incidents, events, value_col=prep.value_col, target=target, unit=p.friction_unit,
                          as_of=cut, settings=s)
        out["friction"] = search.incidents
    if "whatif" in keys:
        chain = J.JourneyChain(level="event", states=funnel_steps, target=target, value_col=prep.value_col)
        chain.fit(events)
        out["whatif"] = JR.what_if_steps(chain, funnel_steps, 0.1, bootstrap=J.Bootstrap(n_boot=3, seed=1))
        levers = J.rank_levers(out["whatif"])
        JR.whatif_texts(levers, chosen_move=p.improve_move, improve_by=0.1, improve_segment={},
                        first_event=events["occurred_at"].min(), as_of=cut, n_boot=3, settings=s, drop=drop)
        JR.whatif_view(levers, s, improve_by=0.1, client=True)
    return out


def ran(crm, only=None, **over):
    """Skipped sections (with reasons) and the outputs of the runnable ones (of ``only``)."""
    gone = skipped(crm, **over)
    keys = [k for k in KEYS if k not in gone and (only is None or k in only or k == "events")]
    return gone, run_sections(crm, keys, **over)


def inputs(crm) -> tuple:
    """The tables the journey notebook reads."""
    return crm.events, crm.customers, crm.orders


# ---------------------------------------------------------------------------------------
# the matrix: each optional table, then each optional column the sections read, removed
# ---------------------------------------------------------------------------------------

TABLES_EXPECTED = {
    "customers": {"stages_by_channel"},  # derived from orders: no acquisition channel
    "order_items": set(),
    "events": EVENTS,
    "campaigns": set(),
    "ad_spend": set(),
    "tickets": set(),
    "surveys": set(),
    "subscriptions": set(),
}

READS = {
    ("events", "session_id"): {"funnel", "friction_points", "friction"},
    ("events", "platform"): {"funnel", "friction"},
    ("events", "order_id"): {"whatif"},
    ("customers", "signup_at"): {"stages"},
    ("customers", "acquisition_channel"): {"time_to_purchase", "friction"},
    ("customers", "region"): {"friction"},
    ("orders", "status"): {"whatif"},
}
"""The sections whose package calls read each optional column (from the notebook)."""

COLUMNS_EXPECTED = {
    ("events", "session_id"): set(),            # visits cut after 30 minutes of inactivity
    ("events", "platform"): set(),              # no platform split, no platform friction group
    ("events", "order_id"): set(),              # no revenue per purchase
    ("customers", "signup_at"): set(),          # every contact counts
    ("customers", "acquisition_channel"): {"stages_by_channel"},
    ("customers", "region"): set(),
    ("orders", "status"): set(),                # every order completed
}


def test_the_full_company_runs_every_section(full):
    gone, out = ran(full)
    assert gone == {}
    assert set(out) == set(KEYS) - {"events"}
    assert out["funnel"]["n"].iloc[0] > 100


@pytest.mark.parametrize("table", sorted(TABLES_EXPECTED))
def test_without_a_table(company, full, cases, table):
    crm = data.load(P.without_table(company, table, cases / f"no_{table}"))
    gone = skipped(crm)
    assert set(gone) == TABLES_EXPECTED[table]
    if table == "events":
        assert gone["funnel"].endswith("the data has no `events` table.")
        assert run_sections(crm, [k for k in KEYS if k not in gone]) == {}
    elif table == "customers":
        out = run_sections(crm, [k for k in KEYS if k not in gone])
        # contacts are the buyers (derived) and everyone with an event: shares stay shares
        assert out["stages"]["n_reached"].iloc[0] == crm.events["customer_id"].nunique()
        assert out["stages"]["share_reached"].iloc[0] == 1.0
    else:
        # the journey does not read this table: its inputs are those of the full company
        for mine, theirs in zip(inputs(crm), inputs(full), strict=True):
            pd.testing.assert_frame_equal(mine.reset_index(drop=True), theirs.reset_index(drop=True),
                                          check_dtype=False)


@pytest.mark.parametrize(("table", "column"), sorted(COLUMNS_EXPECTED))
def test_without_a_column(company, cases, table, column):
    crm = data.load(P.without_column(company, table, column, cases / f"no_{table}_{column}"))
    gone, out = ran(crm, only=READS[(table, column)])
    assert set(gone) == COLUMNS_EXPECTED[(table, column)]
    assert set(out) == READS[(table, column)]
    if column == "acquisition_channel":
        assert gone["stages_by_channel"] == ("needs the acquisition channel of each customer; the data has no "
                                             "column `customers.acquisition_channel`.")
    if column == "session_id":
        # the cut visits are fewer than the events and every funnel still has paths
        assert 0 < out["funnel"]["n_paths"].iloc[0] < len(crm.events)


def test_tablet_is_one_more_platform(company, cases):
    frames = P.read_company(company)
    ev = frames["events"]
    frames["events"] = ev.assign(platform=ev["platform"].where(ev["platform"] != "app", "tablet"))
    crm = data.load(P.write_company(frames, cases / "tablet"))
    gone, out = ran(crm, only={"funnel", "friction"})
    assert gone == {}
    f = J.funnel(crm.events, STEPS, path_col="session_id", by="platform")
    assert "tablet" in set(f["platform"])


# ---------------------------------------------------------------------------------------
# tiny and degenerate companies
# ---------------------------------------------------------------------------------------

def one_day(company, out) -> Path:
    """One day of orders and events (the busiest day of orders), with the contacts they name."""
    frames = P.read_company(company)
    day = frames["orders"]["ordered_at"].dt.normalize().value_counts().index[0]
    for name, col in (("orders", "ordered_at"), ("events", "occurred_at")):
        t = frames[name][col]
        frames[name] = frames[name][(t >= day) & (t < day + pd.Timedelta(days=1))]
    keep = set(frames["orders"]["customer_id"]) | set(frames["events"]["customer_id"])
    frames["customers"] = frames["customers"][frames["customers"]["customer_id"].isin(keep)]
    frames = {k: v for k, v in frames.items() if k in ("orders", "events", "customers")}
    frames["events"] = frames["events"][frames["events"]["order_id"].isna()
                                        | frames["events"]["order_id"].isin(frames["orders"]["order_id"])]
    return P.write_company(frames, out)


def test_orders_only_skips_everything_with_the_reason(company, cases):
    crm = data.load(P.orders_only(company, cases / "orders_only"))
    gone, out = ran(crm)
    assert set(gone) == EVENTS and out == {}
    assert gone["events"] == "needs an event log (`events`: who did what, and when); the data has no `events` table."


DEGENERATE_SKIPS = {
    "tiny_10": set(),
    "one_order_each": set(),
    "single_segment": set(),
    "one_day": {"friction"},
    "three_months": set(),
}


@pytest.mark.parametrize("case", sorted(DEGENERATE_SKIPS))
def test_degenerate_companies(company, cases, case):
    build = {
        "tiny_10": lambda o: P.first_customers(company, 10, o),
        "one_order_each": lambda o: P.one_order_each(company, o),
        "single_segment": lambda o: P.single_segment(company, o),
        "one_day": lambda o: one_day(company, o),
        "three_months": lambda o: P.window(company, "2025-10-01", "2026-01-01", o),
    }
    crm = data.load(build[case](cases / case))
    for v in needs.verdicts(crm, AS_OF, "03", **params()):
        assert (v.status == "ok") == (v.reason == ""), v
    gone, out = ran(crm)
    assert set(gone) == DEGENERATE_SKIPS[case]
    assert set(out) == {k for k in KEYS if k not in gone} - {"events"}
    if case == "one_day":
        # one day is not enough to test a week against its own history
        assert gone["friction"].startswith('needs visits entering the funnel in at least 4 periods '
                                           '(`friction_period` = "W"), so that each period has a history')
        friction = next(v for v in needs.verdicts(crm, AS_OF, "03", **params()) if v.section.key == "friction")
        assert friction.measured["friction_periods"] == 1


def test_event_names_the_map_does_not_know(company, cases):
    frames = P.read_company(company)
    frames["events"] = frames["events"].assign(event="page_hit")
    gone, out = ran(data.load(P.write_company(frames, cases / "other_names")), only={"top_paths"})
    assert set(gone) == EVENTS - {"events", "top_paths"}
    assert gone["stages"].startswith("needs events the stage map knows")
    assert gone["funnel"].startswith("needs at least 1 event of every funnel step (`funnel_steps`) (this data has 0")
    # a funnel of the client's own names runs
    assert skipped(data.load(cases / "other_names"), funnel_steps=["page_hit", "page_hit"]).get("funnel") is None


def test_friction_counts_periods_of_the_parameter(full):
    crm = full
    weeks = needs.verdicts(crm, AS_OF, "03", **params())
    months = needs.verdicts(crm, AS_OF, "03", **params(friction_period="M"))
    w = {v.section.key: v for v in weeks}["friction"].measured["friction_periods"]
    m = {v.section.key: v for v in months}["friction"].measured["friction_periods"]
    ev = crm.events[crm.events["event"] == STEPS[0]]["occurred_at"]
    assert m == ev.dt.strftime("%Y-%m").nunique()
    assert w == ev.dt.tz_localize(None).dt.to_period("W-SUN").nunique()


def test_defaults_equal_the_notebook_parameters():
    nb = notebook_parameters(NOTEBOOK)
    for name in ("funnel_steps", "friction_period"):
        assert declared.DEFAULTS[name] == nb[name].default
