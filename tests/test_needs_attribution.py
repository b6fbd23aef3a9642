"""Notebook 04 on any client's data: which sections run, which skip and why; attribution from a path table.

The matrix removes each optional table, then each optional column the sections read, from the
small synthetic company; the skipped sections must equal the hand-written EXPECTED table, and the
package functions of every section that runs must run on that data. The path-table tests read
hand-written files in ChannelAttribution's format and check the exact Markov credits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import partial_data
from crm_research import data, mmm, needs, synthetic
from crm_research.attribution import (
    ABTest,
    JourneyWindow,
    MarkovAttribution,
    ShapleyAttribution,
    ab_assignments,
    ad_performance,
    aggregate_paths,
    compare_models,
    default_models,
    path_data,
    paths,
    rank_agreement,
    read_path_table,
    split_paths,
    touch_credits,
    touchpoints,
)
from crm_research.errors import CRMError
from crm_research.needs import attribution as declared

AS_OF = "2026-01-01"
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "04_attribution.ipynb"
EVENT_FAMILY = {"journeys", "models", "markov", "shapley"}
PATH_FAMILY = {"path_journeys", "path_models", "path_markov", "path_shapley"}
ADS = {"ad_performance", "ad_by_channel", "mmm"}

# what skips when one table or column is removed (written by hand from what each analysis reads);
# without a path table the path-table family always skips, so it is left out of these sets
EXPECTED = {
    "complete": set(),
    "no_customers": set(),                              # journeys without the untouched contacts
    "no_order_items": set(),
    "no_events": EVENT_FAMILY | {"ab_test", "truth_check"},
    "no_campaigns": {"ad_by_channel"},
    "no_ad_spend": ADS,
    "no_tickets": set(),
    "no_surveys": set(),
    "no_subscriptions": set(),
    "no_truth": {"truth_check"},
    "no_events.channel": EVENT_FAMILY | {"truth_check"},
    "no_events.campaign_id": {"ab_test"},
    "no_events.event": {"ab_test"},
    "no_orders.status": set(),
    "no_orders.promo_code": {"ab_test"},
    "no_ad_spend.clicks": set(),
    "no_ad_spend.impressions": set(),
    "no_ad_spend.cost": ADS,
    "no_campaigns.channel": {"ad_by_channel"},
}
FALLBACKS = {  # section -> fallbacks, where the case makes one
    "no_customers": {"mmm": {"new_customers"}},
    "no_events": {"ad_performance": {"no_conversions"}, "ad_by_channel": {"no_conversions"}},
    "no_events.channel": {"ad_performance": {"no_conversions"}, "ad_by_channel": {"no_conversions"}},
    "no_events.campaign_id": {"ad_performance": {"no_conversions"}, "ad_by_channel": {"no_conversions"}},
    "no_ad_spend.clicks": {"ad_performance": {"no_clicks"}, "ad_by_channel": {"no_clicks"}},
    "no_ad_spend.impressions": {"ad_performance": {"no_impressions"}, "ad_by_channel": {"no_impressions"}},
}


SAME_AS_COMPLETE = {"no_order_items", "no_tickets", "no_surveys", "no_subscriptions", "no_truth"}
"""Cases whose tables read by the section functions are those of ``complete``: verdicts checked only."""


@pytest.fixture(scope="module")
def company(small_company) -> dict[str, pd.DataFrame]:
    """The first 600 contacts of the small company with all their rows (both A/B arms among them)."""
    frames = partial_data.read_company(small_company)
    frames = partial_data._restrict(frames, set(frames["customers"]["customer_id"].head(600)))
    planted = synthetic.load_truth(small_company)[0]["channels"]
    frames["truth"] = pd.DataFrame({"channel": list(planted),
                                    "incremental_conversions": [v["incremental_conversions"] for v in planted.values()]})
    return frames


@pytest.fixture(scope="module")
def company_folder(company, tmp_path_factory) -> Path:
    """The same company as a client's folder of CSV files."""
    return partial_data.write_company({k: v for k, v in company.items() if k != "truth"},
                                      tmp_path_factory.mktemp("attribution") / "company")


def _case(frames: dict, case: str) -> dict:
    out = dict(frames)
    if case.startswith("no_") and "." in case:
        table, col = case[3:].split(".")
        out[table] = out[table].drop(columns=col)
    elif case.startswith("no_"):
        out.pop(case[3:])
    return out


def _status(tables: dict) -> dict[str, needs.Verdict]:
    return {v.section.key: v for v in needs.verdicts(tables, AS_OF, "04")}


def run_sections(t: dict, verdicts: dict[str, needs.Verdict], n_boot: int = 3) -> set[str]:
    """Call the package functions of every section that runs, the way the notebook calls them."""
    ran = {k for k, v in verdicts.items() if v}
    P = "path_" if "paths" in t else ""
    if verdicts[P + "journeys"]:
        journeys = t["paths"] if P else paths(t["events"], t["orders"], t.get("customers"), as_of=AS_OF)
        if not P:
            aggregate_paths(journeys)
        totals = path_data(journeys).totals()
        assert totals["touched_conversions"] >= 1
    if verdicts[P + "models"]:
        simpler = verdicts[P + "models"].fell_back
        comparison = compare_models(journeys, default_models(with_time_decay=not simpler("no_time_decay")),
                                    n_boot=0 if simpler("no_ranges") else n_boot)
        assert len(comparison) and comparison["conversions"].notna().all()
    if verdicts[P + "markov"]:
        MarkovAttribution().fit(journeys)
    if verdicts[P + "shapley"]:
        game = "conversions" if verdicts[P + "shapley"].fell_back("conversions_only") else "incremental"
        assert len(ShapleyAttribution(game=game).fit(journeys).credits_)
    if verdicts["ad_performance"]:
        simpler = verdicts["ad_performance"].fell_back
        credit = None if simpler("no_conversions") else touch_credits(touchpoints(t["events"], t["orders"],
                                                                                    as_of=AS_OF))
        spend = t["ad_spend"][pd.to_datetime(t["ad_spend"]["date"], utc=True) < pd.Timestamp(AS_OF, tz="UTC")]
        perf = ad_performance(spend, credit, t.get("campaigns"), period=None)
        assert len(perf) and ("ctr" in perf) == (not simpler("no_clicks") and not simpler("no_impressions"))
        if verdicts["ad_by_channel"]:
            ad_performance(spend, credit, t["campaigns"], level="channel", period="month")
    if verdicts["mmm"]:
        outcome = "new_customers" if verdicts["mmm"].fell_back("new_customers") else declared.PARAMS["mmm_outcome"]
        weekly = mmm.weekly_data(t["orders"], t["ad_spend"], t.get("campaigns"), customers=t.get("customers"),
                                 outcome=outcome, as_of=AS_OF)
        assert len(weekly) >= declared.MMM_WEEKS.at_least
        assert len(mmm.MarketingMixModel(n_bootstrap=0, holdout_weeks=0).fit(weekly).summary)
    if verdicts["ab_test"]:
        asg = ab_assignments(t["events"], t["orders"], arms={"control": declared.PARAMS["ab_control"],
                                                             "variant": declared.PARAMS["ab_variant"]},
                             window_days=14, promo_code=declared.PARAMS["ab_promo_code"], as_of=AS_OF)
        assert asg["arm"].nunique() == 2
        ABTest(control="control", target_lift=0.02).fit(asg)
    if verdicts["truth_check"] and verdicts[P + "models"]:
        truth = dict(zip(t["truth"]["channel"], t["truth"]["incremental_conversions"], strict=True))
        rank_agreement(comparison, truth)
    return ran


@pytest.mark.parametrize("case", list(EXPECTED))
def test_matrix_skipped_sections_equal_expected_and_the_rest_runs(company, case):
    t = _case(company, case)
    verdicts = _status(t)
    skipped = {k for k, v in verdicts.items() if v.status == "skip"}
    assert skipped == EXPECTED[case] | PATH_FAMILY
    for key, v in verdicts.items():
        assert (v.status == "ok") == (v.reason == ""), (key, v.reason)
        if v.status != "skip":
            assert set(v.fallbacks) == FALLBACKS.get(case, {}).get(key, set()), (key, v.reason)
    if case not in SAME_AS_COMPLETE:
        run_sections(t, verdicts)


def test_reasons_name_what_is_missing(company):
    v = _status(_case(company, "no_events.channel"))
    assert v["markov"].reason == ("needs at least 1 first order after a marketing touch with its channel "
                                  "(`events.channel`) in the 30 days before it; the data has no column "
                                  "`events.channel`.")
    v = _status({"orders": company["orders"]})
    assert v["journeys"].reason.endswith("the data has no `events` table.")
    assert v["path_markov"].reason.endswith("the data has no `paths` table.")
    assert v["ad_performance"].reason.endswith("the data has no `ad_spend` table.")
    v = _status(_case(company, "no_orders.promo_code"))
    assert v["ab_test"].reason == ("needs orders with the test's promotion code `AB-SEPT` (`orders.promo_code`; "
                                   "set ab_promo_code to \"\" to count every order) (this data has 0).")
    v = {x.section.key: x for x in needs.verdicts(_case(company, "no_orders.promo_code"), AS_OF, "04",
                                                  ab_promo_code="")}
    assert v["ab_test"].status == "ok"


def test_touched_conversions_fact_counts_what_paths_attributes(company):
    """The declared minimum counts exactly the conversions the models will share out."""
    v = _status(company)
    journeys = paths(company["events"], company["orders"], company["customers"], as_of=AS_OF)
    assert v["journeys"].measured["touched_conversions"] == path_data(journeys).totals()["touched_conversions"]
    v = {x.section.key: x for x in needs.verdicts(company, AS_OF, "04", lookback_days=3)}
    short = paths(company["events"], company["orders"], company["customers"], as_of=AS_OF,
                  window=JourneyWindow(lookback_days=3))
    assert v["journeys"].measured["touched_conversions"] == path_data(short).totals()["touched_conversions"]


BUILDERS = {
    "tiny_10": lambda c, o: partial_data.first_customers(c, 10, o),
    "one_order_each": partial_data.one_order_each,
    "single_segment": partial_data.single_segment,
    "one_day": lambda c, o: partial_data.window(c, *_one_day(c), o),
    "three_months": lambda c, o: partial_data.window(c, "2025-10-01", "2026-01-01", o),
    "orders_only": partial_data.orders_only,
}


def _one_day(folder: Path) -> tuple[str, str]:
    """The first day on which a contact signed up and ordered (a fixed date may hold no order at all)."""
    frames = partial_data.read_company(folder)
    signup = frames["customers"].set_index("customer_id")["signup_at"].str[:10]
    orders = frames["orders"]
    day = orders.loc[orders["ordered_at"].str[:10].to_numpy() == signup.reindex(orders["customer_id"]).to_numpy(),
                     "ordered_at"].str[:10].min()
    return day, str((pd.Timestamp(day) + pd.Timedelta(days=1)).date())


@pytest.mark.parametrize("case", list(BUILDERS))
def test_tiny_and_degenerate_companies_skip_with_a_reason_or_run(company_folder, tmp_path, case):
    folder = BUILDERS[case](company_folder, tmp_path / case)
    crm = data.load(folder, as_of=AS_OF)
    t = crm.tables()
    verdicts = _status(t)
    for v in verdicts.values():
        assert (v.status == "ok") == (v.reason == ""), (v.section.key, v.reason)
    if case == "orders_only":
        assert {k for k, v in verdicts.items() if v} == set()
    run_sections(t, verdicts)


def test_mmm_needs_the_weeks_the_model_needs(company):
    """Fewer weeks of spend than the model fits skip the section with the count; the declared
    minimum is the model's own."""
    model = mmm.MarketingMixModel()
    assert declared.MMM_WEEKS.at_least == max(model.min_weeks, model.holdout_weeks + 26)
    spend = company["ad_spend"]
    days = pd.to_datetime(spend["date"])
    short = dict(company, ad_spend=spend[days >= days.max() - pd.Timedelta(weeks=30)])
    v = _status(short)["mmm"]
    assert v.status == "skip" and v.measured["spend_weeks"] == 31
    assert v.reason.startswith("needs at least 40 weeks of ad spend") and "31" in v.reason, v.reason
    weekly = mmm.weekly_data(short["orders"], short["ad_spend"], short["campaigns"], as_of=AS_OF)
    with pytest.raises(CRMError, match="needs at least 40"):
        mmm.MarketingMixModel().fit(weekly)


def test_defaults_equal_the_notebook_parameters():
    from crm_research.run.params import notebook_parameters

    params = notebook_parameters(NOTEBOOK)
    assert {k: params[k].default for k in declared.PARAMS} == declared.PARAMS
    assert all(needs.DEFAULTS[k] == v for k, v in declared.PARAMS.items())
    assert params["paths_file"].default is None


# --- attribution from a path table ------------------------------------------------------------

# a > b: 3 conversions (value 300), 1 null; b: 1 conversion (value 20), 3 null; a: 4 null.
HAND = ("path;total_conversions;total_conversion_value;total_null\n"
        "a > b;3;300;1\n"
        "b;1;20;3\n"
        "a;0;0;4\n")


def test_markov_from_a_hand_written_path_table_is_exact(tmp_path):
    # start → a 8, start → b 4; a → b 4, a → null 4; b → conversion 4, b → null 4.
    # P(conversion) = 8/12 · 1/2 · 1/2 + 4/12 · 1/2 = 1/3 (the observed 4 of 12).
    # Without a: only start → b converts: 4/12 · 1/2 = 1/6, RE_a = 1/2; without b: 0, RE_b = 1.
    # The 4 touched conversions are shared 1/2 : 1 → a 4/3, b 8/3; value 320 → a 320/3, b 640/3.
    (tmp_path / "paths.csv").write_text(HAND, encoding="utf-8")
    table = read_path_table(tmp_path / "paths.csv")
    assert list(table.columns) == ["path", "total_conversions", "total_conversion_value", "total_null"]
    m = MarkovAttribution().fit(table)
    c = m.credits_.set_index("channel")
    assert m.conversion_probability_ == pytest.approx(1 / 3, abs=1e-12)
    assert c["removal_effect"].to_dict() == pytest.approx({"a": 0.5, "b": 1.0}, abs=1e-12)
    assert c["conversions"].to_dict() == pytest.approx({"a": 4 / 3, "b": 8 / 3}, abs=1e-12)
    assert c["value"].to_dict() == pytest.approx({"a": 320 / 3, "b": 640 / 3}, abs=1e-9)


def _removal_effects_by_power(table: pd.DataFrame) -> dict[str, float]:
    """Removal effects of a first-order chain by iterating its full transition matrix (no linear solve)."""
    rows = [(p.split(" > ") if p else [], c, n) for p, c, n in
            zip(table["path"], table["total_conversions"], table["total_null"], strict=True)]
    chans = sorted({x for r in rows for x in r[0]})
    states = ["(start)", *chans, "(conversion)", "(null)"]
    ix = {s: i for i, s in enumerate(states)}
    counts = np.zeros((len(states), len(states)))
    for steps, conv, null in rows:
        if not steps:
            continue
        walk = ["(start)", *steps]
        for a, b in zip(walk[:-1], walk[1:], strict=True):
            counts[ix[a], ix[b]] += conv + null
        counts[ix[steps[-1]], ix["(conversion)"]] += conv
        counts[ix[steps[-1]], ix["(null)"]] += null

    def p_conv(removed: str | None) -> float:
        T = counts.copy()
        for s in ("(conversion)", "(null)"):
            T[ix[s], ix[s]] = 1.0
        if removed is not None:  # every step into the removed channel ends the journey without converting
            T[:, ix["(null)"]] += T[:, ix[removed]]
            T[:, ix[removed]] = 0.0
            T[ix[removed]] = 0.0
            T[ix[removed], ix["(null)"]] = 1.0
        T = T / T.sum(axis=1, keepdims=True)
        return float(np.linalg.matrix_power(T, 4096)[ix["(start)"], ix["(conversion)"]])

    base = p_conv(None)
    return {c: 1 - p_conv(c) / base for c in chans}


def test_markov_from_a_comma_separated_table_with_loops_matches_power_iteration(tmp_path):
    (tmp_path / "export.csv").write_text(
        "path,total_conversions,total_conversion_value,total_null\n"
        "email > search,5,500,2\n"
        "display > email > display,1,40,6\n"
        "search,4,300,3\n"
        "display,0,0,9\n"
        "email > email > search > email,2,90,1\n", encoding="utf-8")
    table = read_path_table(tmp_path / "export.csv")
    expected = _removal_effects_by_power(table)
    got = MarkovAttribution().fit(table).credits_.set_index("channel")
    assert got["removal_effect"].to_dict() == pytest.approx(expected, abs=1e-9)
    total = sum(expected.values())
    assert got["conversions"].to_dict() == pytest.approx({c: 12 * e / total for c, e in expected.items()},
                                                         abs=1e-9)


def test_path_table_sections_run_on_a_path_table_alone(tmp_path):
    (tmp_path / "paths.csv").write_text(HAND + ";1;10;7\n", encoding="utf-8")  # and journeys without a touch
    table = read_path_table(tmp_path / "paths.csv")
    verdicts = _status({"paths": table})
    ran = {k for k, v in verdicts.items() if v}
    assert ran == PATH_FAMILY
    assert verdicts["path_models"].fell_back("no_time_decay") and not verdicts["path_models"].fell_back("no_ranges")
    assert verdicts["path_shapley"].status == "ok"  # total_null given: the incremental game
    run_sections({"paths": table}, verdicts)
    # without total_null and with fractional counts: the simpler forms, said so
    frac = table.drop(columns="total_null").assign(total_conversions=[2.5, 1, 0, 1])
    verdicts = _status({"paths": frac})
    assert verdicts["path_models"].fell_back("no_ranges")
    assert verdicts["path_shapley"].fell_back("conversions_only")
    assert "`paths.total_null`" in verdicts["path_shapley"].reason
    run_sections({"paths": frac}, verdicts)


def test_read_path_table_errors_name_the_file_column_and_rows(tmp_path):
    f = tmp_path / "ads.csv"
    f.write_text("path;total_conversions\na > b;1\nb;x\n", encoding="utf-8")
    with pytest.raises(CRMError, match=r"'ads.csv' column 'total_conversions' .* rows \[3\]"):
        read_path_table(f)
    f.write_text("channels;conv\na > b;1\n", encoding="utf-8")
    with pytest.raises(CRMError, match=r"'ads.csv' has no path column 'path'"):
        read_path_table(f)
    assert read_path_table(f, path_col="channels", conversions_col="conv")["total_conversions"].tolist() == [1.0]
    f.write_text("path,total_conversions,total_null\na > b,1,0\n,2,3\n", encoding="utf-8")
    assert path_data(read_path_table(f)).totals()["journeys"] == 6.0  # '' is a journey without touches
    with pytest.raises(CRMError, match="does not exist"):
        read_path_table(tmp_path / "none.csv")


def test_a_path_written_with_another_separator_is_an_error_naming_it(tmp_path):
    with pytest.raises(CRMError, match=r"no path contains the separator ' > ', but '>' occurs \(row 0: 'a>b'\)"):
        split_paths(pd.Series(["a>b", "b"]))
    with pytest.raises(CRMError, match=r"but ' → ' occurs"):
        split_paths(pd.Series(["search", "email → search"]))
    f = tmp_path / "paths.csv"
    f.write_text("path;total_conversions\nsearch>email;1\nemail;2\n", encoding="utf-8")
    with pytest.raises(CRMError, match=r"'paths.csv' column 'path'.*'>' occurs \(row 2"):
        read_path_table(f)
    assert read_path_table(f, channel_sep=">")["path"].tolist() == ["search>email", "email"]
    # one channel per path and no other separator anywhere: a valid table
    assert split_paths(pd.Series(["a", "b", ""]))[0].tolist() == ["a", "b"]


def test_a_channel_name_holding_the_path_separator_skips_the_journeys_with_its_reason(company):
    events = company["events"].copy()
    touched = events["channel"].notna()
    events.loc[touched, "channel"] = events.loc[touched, "channel"].replace({"email": "e > mail"})
    verdicts = _status({**company, "events": events})
    for key in ("journeys", "models", "markov", "shapley"):
        assert verdicts[key].status == "skip", key
        assert "path separator ' > '" in verdicts[key].reason
    assert _status(company)["markov"].status == "ok"  # the same company with its own names


def test_the_needs_use_the_models_path_separator():
    from crm_research.attribution.pathdata import SEP
    from crm_research.needs.attribution import PATH_SEPARATOR

    assert PATH_SEPARATOR == SEP
