"""The synthetic company: determinism, integrity of the tables, and the planted effects."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crm_research import synthetic
from crm_research.data.model import TABLES
from crm_research.errors import CRMError
from crm_research.synthetic import config as K


@pytest.fixture(scope="module")
def company():
    # 20k contacts over two chunks of 10k: exercises chunk boundaries and id continuity
    cfg = synthetic.CompanyConfig(chunk_size=10_000)
    return synthetic.generate(20_000, seed=11, config=cfg)


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_seed_gives_identical_bytes(tmp_path):
    a = synthetic.write(tmp_path / "a", n_customers=3_000, seed=5)
    b = synthetic.write(tmp_path / "b", n_customers=3_000, seed=5)
    c = synthetic.write(tmp_path / "c", n_customers=3_000, seed=6)
    da, db, dc = _digest(a), _digest(b), _digest(c)
    assert set(da) == {f"{t}.parquet" for t in synthetic.GENERATED_TABLES} | {"truth.json", "truth_customers.parquet"}
    assert da == db
    assert da["orders.parquet"] != dc["orders.parquet"]


def test_csv_and_parquet_hold_the_same_rows(tmp_path):
    p = synthetic.write(tmp_path / "p", n_customers=1_000, seed=3)
    c = synthetic.write(tmp_path / "c", n_customers=1_000, seed=3, fmt="csv")
    op = pd.read_parquet(p / "orders.parquet")
    oc = pd.read_csv(c / "orders.csv", dtype={"order_id": str, "customer_id": str})
    assert len(op) == len(oc) > 0
    assert (op["order_id"] == oc["order_id"]).all()
    assert np.allclose(op["amount"], oc["amount"])
    assert (pd.to_datetime(oc["ordered_at"], utc=True) == op["ordered_at"]).all()


def test_existing_folder_is_refused_and_nothing_half_written(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(CRMError, match="not empty"):
        synthetic.write(out, n_customers=100, seed=1)

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(synthetic, "_campaign_tables", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        synthetic.write(tmp_path / "never", n_customers=100, seed=1)
    assert not (tmp_path / "never").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left behind


def test_bad_arguments_are_clear():
    with pytest.raises(CRMError, match="n_customers"):
        synthetic.generate(5, seed=1)
    with pytest.raises(CRMError, match="seed"):
        synthetic.generate(100, seed=-1)


def test_tables_follow_the_data_model(company):
    tables, truth, tc = company
    for name, df in tables.items():
        model_cols = [c.name for c in TABLES[name].columns]
        assert list(df.columns) == [c for c in model_cols if c in df.columns], name
        for col in TABLES[name].columns:
            if col.required:
                assert col.name in df.columns, (name, col.name)
            if col.name in df.columns and col.kind == "datetime":
                assert str(df[col.name].dtype).endswith("UTC]"), (name, col.name)
            if col.name in df.columns and not col.nullable and col.required:
                assert df[col.name].notna().all(), (name, col.name)
    # 20,000 contacts plus the media-driven leads of the marketing mix truth
    n_media = truth["mmm"]["media_contacts"]
    assert 0.5 < n_media / 20_000 < 0.65  # measured 11,405
    assert truth["counts"]["customers"] == len(tables["customers"]) == 20_000 + n_media == len(tc)


def test_referential_integrity_and_time_order(company):
    t, _, _ = company
    cust = set(t["customers"]["customer_id"])
    assert t["customers"]["customer_id"].is_unique
    assert t["orders"]["order_id"].is_unique
    assert t["tickets"]["ticket_id"].is_unique
    for name in ("orders", "events", "tickets", "surveys", "subscriptions"):
        assert set(t[name]["customer_id"]) <= cust, name
    assert set(t["order_items"]["order_id"]) <= set(t["orders"]["order_id"])
    assert not t["order_items"].duplicated(["order_id", "product_id"]).any()
    assert set(t["events"]["campaign_id"].dropna()) <= set(t["campaigns"]["campaign_id"])
    signup = t["customers"].set_index("customer_id")["signup_at"]
    o = t["orders"]
    assert (o["ordered_at"].to_numpy() >= signup.loc[o["customer_id"]].to_numpy()).all()
    end = pd.Timestamp("2026-01-01", tz="UTC")
    for name, col in (("orders", "ordered_at"), ("events", "occurred_at"), ("tickets", "opened_at")):
        assert t[name][col].max() < end
    tk = t["tickets"]
    assert (tk["first_response_at"].dropna() >= tk.loc[tk["first_response_at"].notna(), "opened_at"]).all()
    assert (tk["resolved_at"].dropna() >= tk.loc[tk["resolved_at"].notna(), "opened_at"]).all()
    s = t["subscriptions"]
    assert (s["ended_at"].dropna() > s.loc[s["ended_at"].notna(), "started_at"]).all()
    assert (t["ad_spend"]["clicks"] <= t["ad_spend"]["impressions"]).all()
    # every online order has exactly one purchase event carrying its id; offline orders none
    purchases = t["events"].loc[t["events"]["event"] == "purchase", "order_id"]
    assert purchases.notna().all() and purchases.is_unique
    assert set(purchases) == set(o.loc[o["channel"] == "online", "order_id"])
    # order value = lines - discount
    lines = t["order_items"].assign(v=lambda d: d["quantity"] * d["unit_price"]).groupby("order_id")["v"].sum()
    gross = o.set_index("order_id")["amount"] + o.set_index("order_id")["discount"]
    assert np.allclose(gross.loc[lines.index], lines, atol=0.011)


def test_buyers_in_truth_match_orders(company):
    t, truth, tc = company
    buyers = set(t["orders"]["customer_id"])
    assert buyers == set(tc.loc[tc["converted"], "customer_id"])
    first = t["orders"].groupby("customer_id")["ordered_at"].min()
    fp = tc.set_index("customer_id")["first_purchase_at"].loc[first.index]
    # the first order is the conversion (within the seconds of its checkout session)
    assert ((first - fp).dt.total_seconds().between(0, 3600)).all()


def test_planted_channel_effects_drive_conversion(company):
    _, truth, tc = company
    # the realised conversion rate of leads touched by a channel, vs not, orders like the effect
    lift = {}
    for ch in K.CHANNELS:
        touched = tc[f"touched_{ch}"]
        lift[ch] = tc.loc[touched, "converted"].mean() - tc.loc[~touched, "converted"].mean()
    by_effect = sorted(K.CHANNELS, key=lambda c: -truth["channels"][c]["effect_logit"])
    assert sorted(lift, key=lambda c: -lift[c]) == by_effect
    # the expected conversion matches the realised one (censoring at the end is rare)
    assert abs(tc["p_convert"].mean() - tc["converted"].mean()) < 0.01
    inc = [truth["channels"][c]["incremental_conversions"] for c in truth["channel_rank_by_incremental_conversions"]]
    assert inc == sorted(inc, reverse=True) and inc[-1] > 0


def test_planted_friction_is_in_the_events(company):
    t, truth, _ = company
    e = t["events"]
    fr = truth["friction"]
    s = e[e["session_id"].notna()]
    chk = s.loc[s["event"] == fr["from_step"], ["session_id", "occurred_at", "platform"]]
    chk = chk.assign(buy=chk["session_id"].isin(set(s.loc[s["event"] == fr["to_step"], "session_id"])),
                     inside=chk["occurred_at"].between(pd.Timestamp(fr["start"], tz="UTC"),
                                                       pd.Timestamp(fr["end"], tz="UTC"), inclusive="left"))
    rate = chk.groupby(["platform", "inside"])["buy"].mean()
    # browsing sessions reach checkout without intent and never buy, so rates sit a bit under p
    assert rate[("mobile", True)] < 0.65 < 0.8 < rate[("mobile", False)]
    assert rate[("desktop", True)] > 0.8 and rate[("app", True)] > 0.8


def test_planted_ab_test(company):
    t, truth, tc = company
    ab = truth["ab_test"]
    sent = t["events"][t["events"]["event"] == "email_sent"]
    assert sent["customer_id"].is_unique
    arm = sent.set_index("customer_id")["campaign_id"]
    assert (arm.map({ab["control_campaign"]: "control", ab["variant_campaign"]: "variant"})
            == tc.set_index("customer_id").loc[arm.index, "ab_arm"]).all()
    conv = set(t["orders"].loc[t["orders"]["promo_code"] == ab["promo_code"], "customer_id"])
    rates = arm.groupby(arm).apply(lambda g: g.index.isin(conv).mean())
    n = arm.value_counts()
    for camp, p in ((ab["control_campaign"], ab["rate_control"]), (ab["variant_campaign"], ab["rate_variant"])):
        se = np.sqrt(p * (1 - p) / n[camp])
        assert abs(rates[camp] - p) < 3.5 * se


def test_truth_json_is_complete(tmp_path):
    folder = synthetic.write(tmp_path / "d", n_customers=500, seed=2)
    truth, tc = synthetic.load_truth(folder)
    assert json.loads((folder / "truth.json").read_text()) == truth
    for key in ("segments", "channels", "affinities", "friction", "ab_test", "hazard_ratios", "support",
                "stage_map", "generator", "counts", "channel_rank_by_incremental_conversions", "mmm"):
        assert key in truth
    assert truth["generator"]["seed"] == 2 and len(tc) == 500 + truth["mmm"]["media_contacts"]
    assert (~tc["media_driven"]).sum() == 500
    with pytest.raises(CRMError, match="truth.json"):
        synthetic.load_truth(tmp_path)


def test_cli_synth(tmp_path, capsys):
    from crm_research.cli import main

    assert main(["synth", "--customers", "200", "--seed", "4", "--out", str(tmp_path / "s")]) == 0
    assert "200 contacts" in capsys.readouterr().out
    assert (tmp_path / "s" / "orders.parquet").exists()
    assert main(["synth", "--customers", "200", "--seed", "4", "--out", str(tmp_path / "s")]) == 2
    assert "not empty" in capsys.readouterr().err


def test_ensure_demo_generates_once(tmp_path):
    folder = tmp_path / "data" / "demo"
    first = synthetic.ensure_demo(folder, n_customers=300, seed=1)
    stamp = (first / "orders.parquet").stat().st_mtime_ns
    again = synthetic.ensure_demo(folder, n_customers=300, seed=1)
    assert first == again == folder
    assert (folder / "orders.parquet").stat().st_mtime_ns == stamp


def test_synthetic_company_passes_validation_in_both_formats(tmp_path):
    """The generator writes exactly the data model: the loader accepts it, CSV == Parquet."""
    from crm_research import data

    p = data.load(synthetic.write(tmp_path / "p", n_customers=1_500, seed=8))
    c = data.load(synthetic.write(tmp_path / "c", n_customers=1_500, seed=8, fmt="csv"))
    assert set(p.tables()) == set(synthetic.GENERATED_TABLES)
    assert p.fingerprint() == c.fingerprint()
    pd.testing.assert_frame_equal(p.orders, c.orders)


def test_cli_validate_with_explicit_bounds(tmp_path, capsys):
    from crm_research.cli import main

    folder = synthetic.write(tmp_path / "s", n_customers=300, seed=4)
    assert main(["validate", str(folder), "--as-of", "2026-01-01"]) == 0
    assert main(["validate", str(folder), "--as-of", "2025-06-01", "--company-start", "2024-03-01"]) == 2
    err = capsys.readouterr().err
    # as_of drops the later rows (no future_date problem); company_start still checks
    assert "before_company_start" in err and "future_date" not in err and "Traceback" not in err


def test_generator_rows_are_pinned():
    """The chunk's steps draw in a fixed order: any change to it changes these rows (issue 18 split
    ``generate_chunk`` into steps; its output stayed byte-identical)."""
    t, truth, tc = synthetic.generate(n_customers=300, seed=3)
    assert {k: len(v) for k, v in t.items()} == {
        "customers": 474, "orders": 927, "order_items": 1695, "events": 14381, "campaigns": 11,
        "ad_spend": 6579, "tickets": 81, "surveys": 70, "subscriptions": 36}
    last = t["orders"].iloc[-1]
    assert (last["order_id"], last["customer_id"], last["amount"], last["platform"]) == (
        "O0000000926", "C0000473", 103.95, "app")
    assert last["ordered_at"] == pd.Timestamp("2025-12-01 21:15:36", tz="UTC")
    ticket = t["tickets"].iloc[0]
    assert ticket["resolved_at"] == pd.Timestamp("2025-04-11 14:47:45", tz="UTC") and ticket["contacts"] == 3
    sub = t["subscriptions"].iloc[0]  # the last step of a chunk: every draw before it shows here
    assert (sub["plan"], sub["ended_at"]) == ("premium", pd.Timestamp("2025-12-26 21:21:05", tz="UTC"))
    assert truth["channels"]["email"]["incremental_conversions"] == 39.013681
    assert truth["mmm"]["media_contacts"] == 174 == int(tc["media_driven"].sum())


def test_write_holds_what_generate_returns(tmp_path):
    tables, truth, tc = synthetic.generate(n_customers=300, seed=3)
    folder = synthetic.write(tmp_path / "c", n_customers=300, seed=3)
    for name, frame in tables.items():
        # Parquet keeps µs timestamps and csat as float: the values are the same
        pd.testing.assert_frame_equal(pd.read_parquet(folder / f"{name}.parquet"), frame, check_dtype=False)
    truth_w, tc_w = synthetic.load_truth(folder)
    assert truth_w == json.loads(json.dumps(truth))
    pd.testing.assert_frame_equal(tc_w, tc)


def test_plant_incident_thins_only_the_exposed_conversions():
    from crm_research.errors import ParameterError
    from crm_research.synthetic.incidents import plant_incident

    ev = synthetic.generate(n_customers=300, seed=7)[0]["events"]
    args = (ev, "add_to_cart", "checkout_start", "2025-03-01", "2025-04-01")
    planted, n = plant_incident(*args, 0.5, {"platform": "mobile"}, seed=1)
    assert (len(ev), len(planted), n) == (16304, 16288, 8)
    removed = ev.loc[ev.index.difference(planted.index)]
    assert removed["session_id"].nunique() == 8
    # every removed session was a mobile one that reached the cart in March 2025
    s = ev[ev["session_id"].isin(removed["session_id"])]
    assert (s.groupby("session_id")["platform"].first() == "mobile").all()
    cart = s[s["event"] == "add_to_cart"].groupby("session_id")["occurred_at"].min()
    assert cart.between(pd.Timestamp("2025-03-01", tz="UTC"), pd.Timestamp("2025-04-01", tz="UTC"),
                        inclusive="left").all()
    assert set(removed["event"]) <= {"checkout_start", "purchase"}
    assert len(plant_incident(*args, 1.0, {"platform": "mobile"})[0]) == len(ev)  # factor 1 keeps all
    everyone, n_all = plant_incident(*args, 0.0)  # every group, every exposed conversion removed
    carts = everyone[everyone["event"] == "add_to_cart"].groupby("session_id")["occurred_at"].min()
    exposed = carts[carts.between(pd.Timestamp("2025-03-01", tz="UTC"), pd.Timestamp("2025-04-01", tz="UTC"),
                                  inclusive="left")].index
    assert n_all > n and len(exposed) > n_all
    assert not (everyone["session_id"].isin(exposed) & (everyone["event"] == "checkout_start")).any()
    with pytest.raises(CRMError, match="table 'events' has no column.*'device'.*segment of existing columns"):
        plant_incident(*args, 0.5, {"device": "mobile"})
    with pytest.raises(CRMError, match="time_col='ts'"):
        plant_incident(*args, 0.5, time_col="ts")
    with pytest.raises(ParameterError, match="start='soon' is not a date"):
        plant_incident(ev, "add_to_cart", "checkout_start", "soon", "2025-04-01", 0.5)
    with pytest.raises(ParameterError, match="factor"):
        plant_incident(*args, 1.5)
