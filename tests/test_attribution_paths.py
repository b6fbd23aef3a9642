"""Journeys on the engine (touchpoints, paths, path tables) and reading them into arrays."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from crm_research.attribution import (
    JourneyColumns,
    JourneyWindow,
    aggregate_paths,
    path_data,
    paths,
    split_paths,
    touchpoints,
)
from crm_research.errors import CRMError, ParameterError

AS_OF = "2025-01-01"  # after every row of the hand-made tables


def ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")


@pytest.fixture(scope="module")
def hand():
    """Five customers worked by hand (see each comment)."""
    ev = [
        # C1: display is 40 days before the first order (outside 30 days), email 21 and
        # paid_search 5 days before; social comes after the first order (before the second)
        ("C1", "2024-01-01", "ad_impression", "display", "di_banners"),
        ("C1", "2024-01-20", "email_open", "email", "em_welcome"),
        ("C1", "2024-01-25", "site_visit", None, None),
        ("C1", "2024-02-05", "ad_click", "paid_search", "ps_brand"),
        ("C1", "2024-02-20", "ad_impression", "social", "so_prospecting"),
        # C2 never buys; two touches in the same second sort by channel name
        ("C2", "2024-01-05 12:00", "ad_impression", "social", "so_prospecting"),
        ("C2", "2024-01-05 12:00", "ad_click", "affiliate", "af_partners"),
        ("C2", "2024-01-06 12:00", "ad_impression", "social", "so_retargeting"),
        # C3: display 7 days before the first completed order (an earlier order was cancelled);
        # an e-mail at the very second of the order counts after it
        ("C3", "2024-01-03", "ad_impression", "display", "di_video"),
        ("C3", "2024-01-10", "email_open", "email", "em_newsletter"),
        # C5: one touch 45 days before the order
        ("C5", "2024-01-01", "ad_click", "affiliate", "af_partners"),
    ]
    events = pd.DataFrame(ev, columns=["customer_id", "occurred_at", "event", "channel", "campaign_id"])
    events["occurred_at"] = pd.to_datetime(events["occurred_at"], utc=True, format="ISO8601")
    orders = pd.DataFrame(
        [
            ("O1", "C1", "2024-02-10", 100.0, "completed"),
            ("O2", "C1", "2024-03-01", 50.0, "completed"),
            ("O3", "C3", "2024-01-05", 20.0, "cancelled"),
            ("O4", "C3", "2024-01-10", 30.0, "completed"),
            ("O5", "C5", "2024-02-15", 70.0, "completed"),
        ],
        columns=["order_id", "customer_id", "ordered_at", "amount", "status"],
    )
    orders["ordered_at"] = pd.to_datetime(orders["ordered_at"], utc=True)
    customers = pd.DataFrame({"customer_id": ["C1", "C2", "C3", "C4", "C5"],
                              "signup_at": pd.to_datetime(["2023-12-01"] * 5, utc=True)})
    return events, orders, customers


def _rows(j: pd.DataFrame) -> list[tuple]:
    return [(r.customer_id, r.journey, r.path, int(r.converted), round(float(r.conversion_value), 6),
             [round(x, 9) for x in r.touch_days]) for r in j.itertuples()]


def test_paths_first_conversion_by_hand(hand):
    events, orders, _ = hand
    j = paths(events, orders, as_of=AS_OF)
    assert _rows(j) == [
        ("C1", 0, "email > paid_search", 1, 100.0, [21.0, 5.0]),
        ("C2", 0, "affiliate > social > social", 0, 0.0, [1.0, 1.0, 0.0]),
        ("C3", 0, "display", 1, 30.0, [7.0]),
    ]
    assert j.loc[0, "conversion_at"] == ts("2024-02-10")
    assert j.loc[0, "first_touch_at"] == ts("2024-01-20") and j.loc[0, "last_touch_at"] == ts("2024-02-05")
    assert j["n_touches"].tolist() == [2, 3, 1]


def test_paths_with_customers_adds_untouched_journeys(hand):
    events, orders, customers = hand
    j = paths(events, orders, customers, as_of=AS_OF)
    got = {(r.customer_id, r.path, int(r.converted), float(r.conversion_value)) for r in j.itertuples()}
    assert got == {("C1", "email > paid_search", 1, 100.0), ("C2", "affiliate > social > social", 0, 0.0),
                   ("C3", "display", 1, 30.0), ("C4", "", 0, 0.0), ("C5", "", 1, 70.0)}
    assert j["customer_id"].tolist() == ["C1", "C2", "C3", "C4", "C5"]


def test_paths_every_order_and_lookback_none(hand):
    events, orders, _ = hand
    j = paths(events, orders, as_of=AS_OF, window=JourneyWindow(conversion="every"))
    assert _rows(j) == [
        ("C1", 0, "email > paid_search", 1, 100.0, [21.0, 5.0]),
        ("C1", 1, "social", 1, 50.0, [10.0]),  # 2024 is a leap year: 20 Feb → 1 Mar = 10 days
        ("C2", 0, "affiliate > social > social", 0, 0.0, [1.0, 1.0, 0.0]),
        ("C3", 0, "display", 1, 30.0, [7.0]),
        ("C3", 1, "email", 0, 0.0, [0.0]),  # after the order: a journey that has not converted
    ]
    j = paths(events, orders, as_of=AS_OF, window=JourneyWindow(lookback_days=None))
    assert j.loc[j.customer_id == "C1", "path"].item() == "display > email > paid_search"
    assert j.loc[j.customer_id == "C5", "path"].item() == "affiliate"


def test_paths_as_of_censors_and_measures_lookback_from_last_touch(hand):
    events, orders, _ = hand
    j = paths(events, orders, as_of="2024-02-08")
    c1 = j[j.customer_id == "C1"].iloc[0]
    # the first order is after as_of: a non-converting journey ending at its last touch (5 Feb);
    # display (35 days earlier) falls outside the 30 days, email (16 days) is kept
    assert (c1.path, c1.converted, list(c1.touch_days)) == ("email > paid_search", 0, [16.0, 0.0])


def test_touchpoints_and_aggregate_paths(hand):
    events, orders, customers = hand
    tp = touchpoints(events, orders, as_of=AS_OF)
    assert tp[["customer_id", "position", "channel", "campaign_id"]].values.tolist() == [
        ["C1", 1, "email", "em_welcome"], ["C1", 2, "paid_search", "ps_brand"],
        ["C2", 1, "affiliate", "af_partners"], ["C2", 2, "social", "so_prospecting"],
        ["C2", 3, "social", "so_retargeting"], ["C3", 1, "display", "di_video"]]
    assert tp["converted"].tolist() == [True, True, False, False, False, True]
    assert tp["order_id"].tolist()[:2] == ["O1", "O1"]
    agg = aggregate_paths(paths(events, orders, customers, as_of=AS_OF))
    assert agg.to_dict("list") == {
        "path": ["", "affiliate > social > social", "display", "email > paid_search"],
        "total_conversions": [1, 0, 1, 1],
        "total_conversion_value": [70.0, 0.0, 30.0, 100.0],
        "total_null": [1, 1, 0, 0],
    }


def test_paths_need_as_of_and_option_objects(hand):
    events, orders, customers = hand
    with pytest.raises(ParameterError, match="as_of is required"):
        paths(events, orders, as_of=None)
    with pytest.raises(TypeError, match="as_of"):
        paths(events, orders)  # no silent "all data"
    with pytest.raises(CRMError, match="conversion='last'"):
        JourneyWindow(conversion="last")
    with pytest.raises(CRMError, match="lookback_days=0"):
        JourneyWindow(lookback_days=0)
    with pytest.raises(CRMError, match="must be a JourneyWindow"):
        paths(events, orders, as_of=AS_OF, window=30)
    assert JourneyWindow(statuses=["completed"]).statuses == ("completed",)  # frozen and hashable
    # another event log's column names: the same journeys
    renamed = events.rename(columns={"occurred_at": "ts", "channel": "source"})
    got = paths(renamed, orders, as_of=AS_OF, columns=JourneyColumns(time="ts", channel="source"))
    assert got["path"].tolist() == ["email > paid_search", "affiliate > social > social", "display"]
    # campaigns as touch labels; touches of given events only
    camp = paths(events, orders, as_of=AS_OF, columns=JourneyColumns(channel="campaign_id"),
                 window=JourneyWindow(touch_events=("ad_impression",)))
    assert camp["path"].tolist() == ["so_prospecting > so_retargeting", "di_video"]
    with pytest.raises(CRMError, match=r"table 'events' has no column\(s\) time='ts'"):
        paths(events, orders, as_of=AS_OF, columns=JourneyColumns(time="ts"))


def test_paths_lazy_in_lazy_out(hand):
    events, orders, _ = hand
    out = paths(ibis.memtable(events), ibis.memtable(orders), as_of=AS_OF)
    assert isinstance(out, ibis.expr.types.Table)
    assert out.to_pandas()["path"].tolist() == paths(events, orders, as_of=AS_OF)["path"].tolist()


def test_paths_missing_column_names_table(hand):
    events, orders, _ = hand
    with pytest.raises(CRMError, match="table 'events' has no column"):
        paths(events.drop(columns="occurred_at"), orders, as_of=AS_OF)


def test_path_data_journeys_equal_path_table(hand):
    events, orders, customers = hand
    j = paths(events, orders, customers, as_of=AS_OF)
    a = path_data(j)
    b = path_data(aggregate_paths(j))
    assert a.kind == "journeys" and b.kind == "paths"
    assert a.channels.tolist() == b.channels.tolist() == ["affiliate", "display", "email", "paid_search", "social"]
    assert a.totals() == b.totals() == {"journeys": 5.0, "conversions": 3.0, "value": 200.0,
                                        "touched_journeys": 3.0, "touched_conversions": 2.0,
                                        "touched_value": 130.0}
    assert a.days.tolist() == [21.0, 5.0, 1.0, 1.0, 0.0, 7.0] and b.days is None


def test_split_paths_matches_python_split():
    rng = np.random.default_rng(3)
    names = ["a", "bb", "email", "paid_search_brand_terms_long", "ü-ñ", "x" * 8, "y" * 16, "z" * 17]
    rows = [" > ".join(rng.choice(names, rng.integers(0, 7))) for _ in range(3000)]
    channels, offsets, tokens = split_paths(pd.Series(rows))
    got = [list(channels[tokens[a:b]]) for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    assert got == [r.split(" > ") if r else [] for r in rows]
    assert channels.tolist() == sorted(names)
    _, _, tokens2 = split_paths(pd.Series(rows, dtype="string[pyarrow]"))
    assert np.array_equal(tokens, tokens2)
    channels3, _, tokens3 = split_paths(pd.Series(["a>b", "b"]), sep=">")
    assert channels3.tolist() == ["a", "b"] and tokens3.tolist() == [0, 1, 1]


@pytest.mark.parametrize("bad,message", [
    (["a > ", "b"], "empty channel name"),
    (["a >  > b"], "empty channel name"),
    ([None, "a"], "missing in rows \\[0\\]"),
])
def test_split_paths_rejects_malformed(bad, message):
    with pytest.raises(CRMError, match=message):
        split_paths(pd.Series(bad, dtype=object))


def test_path_data_rejects_bad_tables():
    with pytest.raises(CRMError, match="neither a path table"):
        path_data(pd.DataFrame({"path": ["a"], "n": [1]}))
    with pytest.raises(CRMError, match="non-negative"):
        path_data(pd.DataFrame({"path": ["a"], "total_conversions": [-1], "total_null": [0]}))
    with pytest.raises(CRMError, match="0 or 1"):
        path_data(pd.DataFrame({"path": ["a"], "converted": [2]}))


def test_synthetic_journeys_respect_conventions():
    from crm_research import synthetic

    tables, _, truth_customers = synthetic.generate(2_000, seed=11)
    j = paths(tables["events"], tables["orders"], tables["customers"], as_of="2026-01-01")
    # first-conversion journeys: exactly one per contact (the 2,000 and the media-driven leads of
    # the marketing mix truth), converted = has a completed order
    assert len(j) == len(tables["customers"]) == len(truth_customers) and j["customer_id"].is_unique
    buyers = set(tables["orders"].loc[tables["orders"].status == "completed", "customer_id"])
    assert set(j.loc[j.converted == 1, "customer_id"]) == buyers
    tp = touchpoints(tables["events"], tables["orders"], as_of="2026-01-01")
    conv = tp[tp.converted]
    assert (conv.occurred_at < conv.conversion_at).all()
    assert conv.days_before_end.between(0, 30).all()
    # the generator's buyers are exactly its converted contacts
    assert set(truth_customers.loc[truth_customers.converted, "customer_id"]) == buyers
