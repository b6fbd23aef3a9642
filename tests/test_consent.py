"""Consent in the data model, the synthetic company and outreach lists; the record of processing (no kernels)."""

from __future__ import annotations

import pandas as pd
import pytest

from crm_research import data, privacy, synthetic
from crm_research import settings as report_settings
from crm_research.errors import CRMError, DataValidationError
from crm_research.synthetic import company


def _customers() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": ["A", "B", "C", "D", "E", "F"],
                         "marketing_consent": ["yes", "no", None, "yes", "yes", "yes"],
                         "do_not_contact": ["no", "no", "no", "yes", None, "no"]})


def test_contactable_keeps_only_consenting_customers_and_counts_the_others():
    lst = pd.DataFrame({"customer_id": ["A", "B", "A", "C", "D", "X", "E", "F"], "rank": range(1, 9)})
    kept, note = privacy.contactable(lst, _customers(), who="customers at risk")
    # A twice, E (no request recorded) and F: in the list's order; B (no), C (unknown), D (objected), X (no row) out
    assert kept["customer_id"].tolist() == ["A", "A", "E", "F"] and kept["rank"].tolist() == [1, 3, 7, 8]
    assert note == ("4 customers at risk are not listed: 2 without marketing consent, 1 asked not to be contacted, "
                    "1 not in the customers table.")
    c = kept.attrs["consent"]
    assert (c["customers_listed"], c["customers_left_out"], c["no_consent"], c["do_not_contact"],
            c["not_in_customers"], c["rows_listed"], c["rows_left_out"]) == (3, 4, 2, 1, 1, 4, 4)
    assert c["rule"].startswith("A customer is listed only if their marketing_consent is yes")
    # one reason only: no breakdown, and the singular for one customer
    _, one = privacy.contactable(lst[lst["customer_id"] == "D"], _customers(), who="customers at risk")
    assert one == "1 customer at risk is not listed: asked not to be contacted."
    _, none = privacy.contactable(lst[lst["customer_id"].isin(["A", "F"])], _customers(), who="buyers")
    assert none == "All 2 buyers may be contacted: none is left out for consent."


def test_contactable_with_one_column_or_none():
    lst = pd.DataFrame({"customer_id": ["A", "B", "C", "D"]})
    only_dnc = _customers().drop(columns="marketing_consent")
    kept, note = privacy.contactable(lst, only_dnc)
    assert kept["customer_id"].tolist() == ["A", "B", "C"] and note == "1 customer is not listed: asked not to be contacted."
    kept, note = privacy.contactable(lst, _customers()[["customer_id"]])
    assert kept["customer_id"].tolist() == ["A", "B", "C", "D"] and note == privacy.NO_CONSENT_NOTE
    assert note == "No consent data: the list is not filtered; check consent before contacting."
    assert privacy.contactable(lst, None)[1] == privacy.NO_CONSENT_NOTE


def test_contactable_refuses_a_pseudonymised_list():
    lst = privacy.pseudonymise(pd.DataFrame({"customer_id": ["A", "B"]}), key="k")
    with pytest.raises(CRMError, match="before run.save_table pseudonymises them"):
        privacy.contactable(lst, _customers())
    with pytest.raises(CRMError, match="no column 'buyer'"):
        privacy.contactable(lst, _customers(), customer_col="buyer")


def test_record_outreach_needs_a_filtered_list(tmp_path):
    class Run:
        run_dir, notebook = tmp_path, "05_churn"

    kept, _ = privacy.contactable(pd.DataFrame({"customer_id": ["A", "B"]}), _customers(), who="customers at risk")
    rec = privacy.record_outreach(Run, "churn_at_risk_list", kept)
    assert rec["customers_left_out"] == 1 and rec["note"].startswith("1 customer at risk is not listed")
    text = (tmp_path / "meta" / "05_churn.outreach.json").read_text()
    assert '"churn_at_risk_list"' in text and '"A"' not in text
    with pytest.raises(CRMError, match="filter it with privacy.contactable"):
        privacy.record_outreach(Run, "x", pd.DataFrame({"customer_id": ["A"]}))


def test_consent_columns_are_validated_and_mapped_like_any_text_column(tmp_path):
    orders = pd.DataFrame({"customer_id": ["A", "B", "C"], "ordered_at": ["2025-01-01"] * 3, "amount": [1.0, 2, 3]})
    customers = pd.DataFrame({"customer_id": ["A", "B", "C"], "marketing_consent": ["yes", "maybe", "no"]})
    with pytest.raises(DataValidationError) as err:
        data.load({"orders": orders, "customers": customers})
    bad = [p for p in err.value.problems if p.column == "marketing_consent"]
    assert len(bad) == 1 and bad[0].check == "not_allowed"
    # a client's true/false, recoded by the mapping
    customers = pd.DataFrame({"customer_id": ["A", "B", "C"], "marketing_consent": ["true", "false", None],
                              "do_not_contact": ["0", "1", "0"]})
    mapping = {"tables": {"customers": {"values": {"marketing_consent": {"true": "yes", "false": "no"},
                                                   "do_not_contact": {"0": "no", "1": "yes"}}}}}
    crm = data.load({"orders": orders, "customers": customers}, mapping=mapping)
    assert crm.customers["marketing_consent"].tolist()[:2] == ["yes", "no"]
    assert pd.isna(crm.customers["marketing_consent"].iloc[2])
    assert crm.customers["do_not_contact"].tolist() == ["no", "yes", "no"]
    kept, note = privacy.contactable(pd.DataFrame({"customer_id": ["A", "B", "C"]}), crm.without_pii().customers)
    assert kept["customer_id"].tolist() == ["A"] and note == "2 customers are not listed: 1 without marketing consent, " \
        "1 asked not to be contacted."


def test_synthetic_consent_comes_from_its_own_stream(monkeypatch):
    tables, truth, truth_customers = synthetic.generate(2_000, 7)
    c = tables["customers"]
    # shares as planted: 70 % yes, 25 % no, 5 % unknown; 3 % asked not to be contacted (2,000 contacts: ±3 sd)
    share = c["marketing_consent"].value_counts(dropna=False, normalize=True)
    assert share["yes"] == pytest.approx(0.70, abs=0.031) and share["no"] == pytest.approx(0.25, abs=0.03)
    assert c["marketing_consent"].isna().mean() == pytest.approx(0.05, abs=0.015)
    assert (c["do_not_contact"] == "yes").mean() == pytest.approx(0.03, abs=0.012)
    # another consent stream changes the consent columns only: every other value and the truth stay the same
    monkeypatch.setattr(company, "CONSENT_STREAM", 0xC1)
    other, truth2, truth_customers2 = synthetic.generate(2_000, 7)
    assert (other["customers"]["marketing_consent"] != c["marketing_consent"]).sum() > 500
    rest = [col for col in c.columns if col not in ("marketing_consent", "do_not_contact")]
    pd.testing.assert_frame_equal(other["customers"][rest], c[rest])
    for name in tables:
        if name != "customers":
            pd.testing.assert_frame_equal(other[name], tables[name])
    assert truth2 == truth
    pd.testing.assert_frame_equal(truth_customers2, truth_customers)


def test_small_company_list_counts_match_the_customers_table(small_company):
    crm = data.load(small_company)
    cust = crm.customers
    buyers = pd.DataFrame({"customer_id": crm.orders["customer_id"].drop_duplicates().to_numpy()})
    kept, note = privacy.contactable(buyers, crm.without_pii().customers, who="buyers")
    ok = cust[(cust["marketing_consent"] == "yes").fillna(False) & ~(cust["do_not_contact"] == "yes").fillna(False)]
    assert set(kept["customer_id"]) == set(buyers["customer_id"]) & set(ok["customer_id"])
    left = len(buyers) - len(kept)
    assert kept.attrs["consent"]["customers_left_out"] == left > 0
    assert note.startswith(f"{left:,} buyers are not listed: ")


def test_processing_record_from_the_columns_read():
    cols = {"customers": ["customer_id", "signup_at", "email", "name", "marketing_consent"],
            "orders": ["customer_id", "ordered_at", "amount", "order_id"], "campaigns": ["campaign_id", "name"]}
    key = {"name": "acme", "fingerprint": "0123456789abcdef", "source": "config"}
    rec = privacy.processing_record(cols, purpose="Churn study", legal_basis="Consent", key=key, keep_runs_days=30,
                                    started="2026-01-10T09:00:00+00:00")
    assert [p["table"] for p in rec["personal_data"]] == ["customers", "orders"]  # campaigns describe no one
    assert rec["personal_data"][0]["columns"] == ["customer_id", "signup_at"]
    assert rec["contact_details"]["columns"] == ["customers.email", "customers.name"]
    assert rec["identifiers"]["columns"] == ["customer_id", "order_id"]
    assert rec["consent"]["columns"] == ["customers.marketing_consent"]
    assert rec["pseudonymisation"] == {"key_name": "acme", "key_fingerprint": "0123456789abcdef"}
    assert rec["retention"] == {"keep_runs_days": 30, "delete_after": "2026-02-09"}
    lines = dict(privacy.processing_lines(rec))
    assert lines["Purpose"] == "Churn study" and lines["Legal basis"] == "Consent"
    assert "'acme'" in lines["Pseudonymisation key"] and "0123456789abcdef" not in str(lines)  # manifest only
    assert "until 2026-02-09" in lines["Retention"]
    no_consent = dict(privacy.processing_lines(privacy.processing_record(
        {"orders": ["customer_id"]}, purpose="p", legal_basis="b", key=key)))
    assert no_consent["Consent"].startswith("no consent column in the data: outreach lists are not filtered")


def test_engagement_settings_purpose_legal_basis_retention(tmp_path):
    d = report_settings.DEFAULTS
    assert d.keep_runs_days == 365 and "GDPR art. 6(1)(f)" in d.legal_basis
    (tmp_path / "report.yaml").write_text("purpose: Churn study for Acme\nlegal_basis: Consent\nkeep_runs_days: 90\n")
    s = report_settings.load(tmp_path)
    assert (s.purpose, s.legal_basis, s.keep_runs_days) == ("Churn study for Acme", "Consent", 90)
    assert report_settings.from_dict(s.to_dict()) == s
    for bad in ("keep_runs_days: 0", "keep_runs_days: ten", "purpose: [a, b]"):
        (tmp_path / "report.yaml").write_text(bad + "\n")
        with pytest.raises(CRMError, match="report settings report.yaml: (keep_runs_days|purpose)"):
            report_settings.load(tmp_path)


def test_consent_columns_are_documented():
    from crm_research.data.model import TABLES

    cols = {c.name: c for c in TABLES["customers"].columns}
    for name in ("marketing_consent", "do_not_contact"):
        assert cols[name].allowed == ("yes", "no") and cols[name].nullable and not cols[name].pii
        assert name not in TABLES["customers"].core
