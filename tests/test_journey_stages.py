"""Lifecycle stages: the YAML map and each customer's current stage, worked by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from crm_research.errors import CRMError
from crm_research.journey import load_stage_map, map_stages, stage_counts, stages
from crm_research.synthetic import config as K

D0 = pd.Timestamp("2024-05-01", tz="UTC")
AS_OF = D0 + pd.Timedelta(days=30)  # after every event of the log


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    rows = [
        ("c1", 0, "ad_click"),         # discovery
        ("c1", 1, "signup"),           # consideration
        ("c1", 5, "purchase"),         # purchase
        ("c1", 9, "ad_impression"),    # back to a discovery event: still a buyer
        ("c1", 9, "mystery_event"),    # not in the map: ignored
        ("c2", 2, "email_open"),
        ("c2", 3, "site_visit"),
        ("c3", 4, "referral"),         # advocacy straight away
        ("c3", 6, "review"),
        ("c4", 1, "mystery_event"),    # only unmapped events: no stage
    ]
    df = pd.DataFrame(rows, columns=["customer_id", "day", "event"])
    df["occurred_at"] = D0 + pd.to_timedelta(df.pop("day"), unit="D")
    return df


def test_default_map_is_the_synthetic_one():
    assert load_stage_map() == K.STAGE_MAP
    assert list(load_stage_map()) == ["discovery", "consideration", "purchase", "post_purchase", "advocacy"]


def test_map_errors(tmp_path):
    with pytest.raises(CRMError, match="'site_visit' is listed under both"):
        load_stage_map({"a": ["site_visit"], "b": ["site_visit"]})
    with pytest.raises(CRMError, match="at least one event"):
        load_stage_map({"a": []})
    with pytest.raises(CRMError, match="does not exist"):
        load_stage_map(tmp_path / "nope.yaml")
    p = tmp_path / "m.yaml"
    p.write_text("first: [x, y]\nsecond: z\n")
    assert load_stage_map(p) == {"first": ["x", "y"], "second": ["z"]}


def test_current_stage_by_hand(log):
    cur = stages(log, as_of=AS_OF).set_index("customer_id")
    assert list(cur.index) == ["c1", "c2", "c3"]
    assert cur.loc["c1", "stage"] == "purchase" and cur.loc["c1", "stage_rank"] == 3
    assert cur.loc["c1", "stage_reached_at"] == D0 + pd.Timedelta(days=5)
    assert cur.loc["c1", "last_stage"] == "discovery"
    assert cur.loc["c1", "n_events"] == 4
    assert cur.loc["c2", "stage"] == "discovery"
    assert cur.loc["c3", "stage"] == "advocacy" and cur.loc["c3", "last_stage"] == "post_purchase"
    # as of day 5 (exclusive) c1 had not bought yet; c3's review (day 6) is not seen
    cur = stages(log, as_of=D0 + pd.Timedelta(days=5)).set_index("customer_id")
    assert cur.loc["c1", "stage"] == "consideration"
    assert cur.loc["c3", "last_stage"] == "advocacy"
    # the analysis date is required: no silent "all data"
    from crm_research.errors import ParameterError

    with pytest.raises(ParameterError, match="as_of is required"):
        stages(log, as_of=None)


def test_stage_counts(log):
    cur = stages(log, as_of=AS_OF)
    c = stage_counts(cur, customers=4).set_index("stage")
    assert list(c["n_current"]) == [1, 0, 1, 0, 1]
    assert list(c["n_reached"]) == [3, 2, 2, 1, 1]
    assert c.loc["discovery", "share_reached"] == 0.75  # c4 has no mapped event


def test_map_stages(log):
    m = map_stages(log)
    assert list(m["stage"].fillna("-")) == ["discovery", "consideration", "purchase", "discovery", "-",
                                            "discovery", "discovery", "advocacy", "post_purchase", "-"]


def test_lazy_matches_pandas(log):
    import ibis

    from crm_research.engine import collect

    out = stages(ibis.memtable(log.assign(row=range(len(log)))), as_of=AS_OF, row_col="row")
    assert isinstance(out, ibis.Table)
    pd.testing.assert_frame_equal(collect(out), stages(log, as_of=AS_OF))
