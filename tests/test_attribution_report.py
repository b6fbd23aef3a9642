"""The attribution report's tables, sentences, findings and actions (the logic notebook 04 used to hold)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from crm_research.attribution import (
    ABTest,
    planted_credits,
    planted_table,
    report,
    required_sample_size,
)
from crm_research.settings import Currency, ReportSettings

S = ReportSettings()  # no currency set: money as plain numbers, "unit of currency"
EUR = ReportSettings(currency=Currency(code="EUR", symbol="€", decimals=2))


def test_planted_truth_as_table_and_mapping():
    effects = {"channels": {"social": {"incremental_conversions": 3.0}, "email": {"incremental_conversions": 12.5}}}
    assert planted_credits(effects) == {"social": 3.0, "email": 12.5}
    t = planted_table(effects)
    assert t.to_dict("list") == {"channel": ["social", "email"], "incremental_conversions": [3.0, 12.5]}
    assert planted_table(None) is None and planted_credits(None) is None
    assert planted_table({"channels": {}}) is None


def test_per_unit_and_journey_words():
    assert report.per_unit(S) == "unit of currency"
    assert report.per_unit(EUR) == "€1"
    assert report.journey_words("email > paid_search", lambda c: S.label("channels", c)) == "Email › Paid search"
    assert report.journey_words("(no touch)", str) == "No ad or e-mail touch"


def test_top_journeys_and_the_journeys_sentence():
    table = pd.DataFrame({"path": ["", "a", "a > b", "b"], "total_conversions": [2, 6, 1, 0],
                          "total_conversion_value": [100.0, 300.0, 50.0, 0.0], "total_null": [18, 4, 1, 9]})
    top = report.top_journeys(table, 3)
    assert top["path"].tolist() == ["(no touch)", "a", "b"]
    assert top["journeys"].tolist() == [20, 10, 9]
    np.testing.assert_allclose(top["conversion_rate"], [0.1, 0.6, 0.0])
    # a path table without value and nulls: both count as 0
    bare = report.top_journeys(table[["path", "total_conversions"]], 2)
    assert bare["journeys"].tolist() == [6, 2] and bare["total_conversion_value"].tolist() == [0.0, 0.0]
    view = report.journeys_view(top, S)
    assert view["path"].tolist() == ["No ad or e-mail touch", "A", "B"]
    totals = {"journeys": 15650, "conversions": 5482, "touched_journeys": 14938, "touched_conversions": 5355}
    client = report.journeys_words(totals, S, lookback_days=30, client=True)
    assert client.startswith("**15,650** contacts, **5,482** of them bought. **14,938** had at least one ad or "
                             "e-mail touch in the 30 days before buying (the look-back window), with **5,355**")
    assert "look-back" not in report.journeys_words(totals, S, lookback_days=None, client=True)
    note = report.path_table_note(table.drop(columns="total_conversion_value"), "ads.csv", client=False)
    assert "(<code>ads\\.csv</code>, 4 distinct paths)" in note and note.endswith("every value below is 0.")


def _comparison():
    rows = []
    for model, shares in {"last_touch": {"display": 0.5, "email": 0.3, "social": 0.2},
                          "linear": {"display": 0.4, "email": 0.35, "social": 0.25},
                          "shapley_incremental": {"display": 0.2, "email": 0.5, "social": 0.3}}.items():
        ranks = pd.Series(shares).rank(ascending=False, method="min").astype(int)
        for ch, sh in shares.items():
            rows.append({"model": model, "channel": ch, "conversions": 1000 * sh, "conversions_low": 900 * sh,
                         "conversions_high": 1100 * sh, "share": sh, "rank": ranks[ch]})
    return pd.DataFrame(rows)


def test_model_tables():
    c = _comparison()
    shares = report.model_table(c, "share", models=report.CLIENT_MODELS)
    assert shares.columns.tolist() == ["channel", "last_touch", "linear", "shapley_incremental"]  # no markov_1
    assert shares["shapley_incremental"].tolist() == [0.2, 0.5, 0.3]
    assert report.model_share_columns(shares) == {"channel": "Channel", "last_touch": "Last touch (last click)",
                                                  "linear": "Linear", "shapley_incremental": "Shapley, what it adds"}
    wide = report.model_table(c)
    assert wide.columns.tolist() == ["channel", "last_touch", "linear", "shapley_incremental"]
    assert wide.loc[wide.channel == "email", "linear"].item() == pytest.approx(350.0)
    assert "| Time decay | recent touches: a touch 7 days older" in report.models_appendix(7.0, 100)


def _shapley(game="incremental"):
    credits = pd.DataFrame({"model": f"shapley_{game}", "channel": ["display", "email", "social"],
                            "incremental_conversions": [40.0, 100.0, 60.0], "conversions": [250.0, 450.0, 300.0],
                            "share": [0.25, 0.45, 0.3], "value": [1.0, 2.0, 3.0]})
    return SimpleNamespace(credits_=credits, game=game, baseline_rate_=0.08, baseline_conversions_=800.0)


def test_shapley_words_and_findings():
    totals = {"journeys": 12000, "touched_journeys": 10000, "touched_conversions": 1000}
    m = _shapley()
    assert report.top_channel(m.credits_, "incremental") == "email"
    text = report.shapley_words(m, totals, S, _comparison())
    assert text == ("Contacts without any touch converted at **8.0%**. At that rate **800** of the 1,000 conversions "
                    "of touched contacts would have happened anyway; the channels add about **200**. Most added: "
                    "**Email**; least: **Display**. Last touch credits **Display** with the most conversions.")
    everyone = dict(totals, touched_journeys=12000)
    assert report.shapley_words(m, everyone, S).startswith("Every contact had at least one touch")
    assert report.shapley_baseline_finding(m, everyone, S) is None
    assert report.shapley_baseline_finding(m, totals, S) == (
        "Contacts no ad or e-mail reached still bought at 8.0%: about 800 of the 1,000 conversions after a touch "
        "would have happened anyway; the channels add about 200 (20.0%).")
    gap = report.shapley_gap_finding(m, _comparison(), S)
    # email +20 points and social +10 against last click; display -30
    assert gap.startswith("By what each channel adds, some win more customers than last-click reports credit them "
                          "with: **Email** 50.0% of conversions (about 500, 95% range 450 to 550) against 30.0% by "
                          "last click; **Social** 30.0%")
    assert gap.endswith("**Display** gets 50.0% by last click but 20.0% by what it adds: present before purchases "
                        "more than it causes them.")
    assert report.shapley_gap_finding(_shapley("conversions"), _comparison(), S) is None
    assert report.shapley_gap_finding(m, None, S) is None
    presence = report.shapley_words(_shapley("conversions"), totals, S)
    assert presence == "Each conversion is split equally between the channels of its path. Most credited: **Email**; least: **Display**."


def _perf():
    return pd.DataFrame({"campaign_id": ["d1", "e1", "s1"], "channel": ["display", "email", "social"],
                         "impressions": [1000, 0, 500], "clicks": [100, 0, 50], "ctr": [0.1, np.nan, 0.1],
                         "conversions": [20.0, 30.0, 2.0], "cost": [2000.0, 100.0, 800.0],
                         "revenue": [3000.0, 6000.0, 400.0], "roas": [1.5, 60.0, 0.5],
                         "small_volume": [False, False, True], "low_spend": [False, True, False]})


def test_campaign_tables_notes_and_findings():
    perf = _perf()
    name, value = report.return_headline(perf, S, credited=True)
    assert name == "Credited revenue per unit of currency of ad spend (linear rule, campaigns with too little spend left out)"
    assert value == "1.21"  # (3000 + 400) / (2000 + 800)
    assert report.return_headline(perf, S, credited=False) is None
    view, columns = report.campaign_view(perf, S, credited=True, client=True)
    assert view["roas_text"].tolist() == ["1.50", "too little spend to judge", "0.50"]
    assert list(columns) == ["campaign_id", "cost", "conversions", "revenue", "roas_text", "small_volume"]
    view, shown = report.campaign_view(perf, S, credited=False, client=False)
    assert shown == ["campaign_id", "channel", "impressions", "clicks", "ctr", "cost", "small_volume", "low_spend"]
    note = report.low_spend_note(perf, S, min_spend=500, credited=True, client=False)
    assert note == ("**Too little spend to judge:** E1 cost 100, less than 500, so the credited revenue per unit of "
                    "currency of their spend (60) says more about the tiny cost than about what they earn; flagged "
                    "`low_spend` (`min_spend` = 500).")
    assert report.low_spend_note(perf, S, min_spend=500, credited=False, client=False) is None
    finding = report.channel_return_finding(perf, S, min_spend=500, credited=True)
    assert finding == ("Per unit of currency of ad spend, the first orders credited to each channel (every touch "
                       "sharing the credit equally) were worth 1.50 for **Display**, 0.50 for **Social**: credit for "
                       "being present before purchases, not for what each channel adds. **Email** (100 in all) cost "
                       "too little to judge a return per unit of spend.")
    assert report.channel_return_finding(perf, S, min_spend=500, credited=False) is None
    spend = pd.DataFrame({"date": pd.to_datetime(["2025-12-31", "2026-01-01"], utc=True), "cost": [1.0, 2.0]})
    assert report.spend_before(spend, "2026-01-01")["cost"].tolist() == [1.0]


def test_added_value_and_the_budget_move():
    credits = _shapley().credits_
    perf = _perf()
    spend = pd.DataFrame({"date": pd.to_datetime(["2025-01-01", "2025-12-31"], utc=True)})
    totals = {"touched_conversions": 1000, "touched_value": 50_000.0}
    ret = report.added_value(credits, perf, spend, totals, min_spend=500)
    years = 365 / 365.25  # 1 Jan to 31 Dec
    assert ret.attrs == {"per_order": 50.0, "years": pytest.approx(years)}
    np.testing.assert_allclose(ret["added_value"], [2000.0, 5000.0, 3000.0])  # display, email, social
    np.testing.assert_allclose(ret["per_unit"], [1.0, 50.0, 3.75])
    assert ret["judged"].tolist() == [True, False, True]
    view, columns = report.added_value_view(ret, S)
    assert view["per_unit_text"].tolist() == ["1.00", "too little spend to judge", "3.75"]
    assert columns["per_unit_text"] == "Value added per unit of currency spent"
    assert report.added_value_note(ret, S) == ("*Each added conversion is valued at the average first order of "
                                                "touched contacts, 50.00; spend covers 12 months.*")
    move = report.budget_move(ret)
    # from display (1.00 per unit) to social (3.75): social's spend a year, worth it times (3.75 - 1.00)
    assert (move.from_channel, move.to_channel) == ("display", "social")
    assert (move.amount, move.value) == pytest.approx((800 / years, 2.75 * 800 / years))
    assert np.isnan(move.low)
    boot = np.array([[40.0, 100.0, 60.0], [20.0, 90.0, 80.0], [60.0, 110.0, 40.0]])
    ranged = report.budget_move(ret, {"channels": np.array(["display", "email", "social"]),
                                      "incremental_conversions_boot": boot})
    # per replicate 800 / years * (social * 50 / 800 - display * 50 / 2000): 2200, 3600, 800 (/ years)
    moves = np.array([2200.0, 3600.0, 800.0]) / years
    assert ranged.value == move.value
    assert (ranged.low, ranged.high) == pytest.approx((np.quantile(moves, 0.025), np.quantile(moves, 0.975)))
    text, value_text = report.budget_move_action(ranged, ret, S)
    assert text.startswith("Move about 801 a year of ad budget from **Display** to **Social**, in steps")
    assert value_text == "about 2,202 a year (95% range 871 to 3,532)"
    assert report.budget_move(None) is None
    assert report.added_value(credits.iloc[:1], perf, spend, totals, min_spend=500) is None  # one channel only


def test_period_view_marks_the_partial_period():
    by_period = pd.DataFrame({"period": pd.to_datetime(["2025-11-01", "2025-11-01", "2025-12-01"], utc=True),
                              "channel": ["display", "email", "display"], "cpa": [10.0, 20.0, 12.0]})
    wide = report.period_table(by_period, "cpa")
    view, columns, money, note = report.period_view(wide, "M", "2025-12-15", S, metric="cpa")
    assert view["period"].tolist() == ["Nov 2025", "Dec 2025 (partial)"]
    assert columns == {"period": "Month", "display": "Display", "email": "Email"} and money == ("display", "email")
    assert note.startswith("*Cost per conversion in currency units;")
    assert wide["period"].iloc[1] == pd.Timestamp("2025-12-01", tz="UTC")  # the table itself is not changed


def test_ab_words_actions_and_planning():
    counts = pd.DataFrame({"arm": ["control", "variant"], "n": [2000, 2000], "conversions": [160, 220]})
    ab = ABTest(control="control", target_lift=0.02).fit(counts)
    view = report.ab_view(ab.summary_, S, str.upper)
    assert view.loc[0, ["variant", "control", "rate"]].tolist() == ["VARIANT", "8.0% of 2,000", "11.0% of 2,000"]
    assert view.loc[0, "verdict"] == "variant better"
    assert list(report.ab_columns(view)) == ["control", "rate", "diff", "lift", "verdict"]
    assert report.ab_note(view, str.upper).startswith("*Control: CONTROL; variant: VARIANT.")
    finding = report.ab_finding(ab, S, variant_label="New subject", target_lift=0.02)
    assert finding.startswith("A/B test: the variant e-mail (**New subject**) converted 11.0% of 2,000 contacts "
                              "against 8.0% of 2,000 for the control, +3.0 pts")
    assert finding.endswith("The difference is significant.")
    asg = pd.DataFrame({"converted": [True, True, False], "conversion_value": [40.0, 60.0, 0.0]})
    act = report.ab_action(ab, asg, S, control_label="Old", variant_label="New")
    # 10,000 e-mails x 3 points x an average test order of 50
    assert act.value == pytest.approx(15_000.0) and act.priority == 1
    assert act.text.startswith("Roll out the variant e-mail (**New**)")
    assert act.kwargs() == {"value": act.value, "value_text": act.value_text, "priority": 1}
    assert report.ab_action(ab, asg.assign(converted=False), S, control_label="Old", variant_label="New") is None
    sizes = report.sample_size_table(0.08, 0.02)
    assert sizes["lift_percentage_points"].tolist() == pytest.approx([1.0, 2.0, 4.0, 6.0])
    assert sizes["contacts_per_arm"].tolist() == [required_sample_size(0.08, x) for x in (0.01, 0.02, 0.04, 0.06)]
    assert len(report.sample_size_table(0.99, 0.02)) == 0  # every planned rate would pass 100%
    check = report.ab_truth_check(ab, {"lift_abs": 0.03, "lift_rel": 0.9})
    assert check["inside_range"].tolist() == [True, False]
    assert report.ab_warnings(SimpleNamespace(warnings_=[])).startswith("No warnings")
