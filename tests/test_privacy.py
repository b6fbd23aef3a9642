"""Pseudonyms, PII removal and the privacy guards of client-facing output (no kernels)."""

from __future__ import annotations

import pandas as pd
import pytest

from crm_research import notebook, privacy, report


@pytest.fixture
def no_env_key(monkeypatch):
    monkeypatch.delenv(privacy.ENV_KEY, raising=False)


def test_same_key_same_pseudonyms_other_key_other_pseudonyms(no_env_key):
    ids = pd.Series(["C1", "C2", "C1", None], name="customer_id")
    a = privacy.pseudonymise(ids, key="k1")
    b = privacy.pseudonymise(ids, key="k1")
    c = privacy.pseudonymise(ids, key="k2")
    assert a.tolist()[:3] == b.tolist()[:3]
    assert a[0] == a[2] and a[0] != a[1]
    assert pd.isna(a[3])
    assert all(x.startswith("c_") and len(x) == 2 + 16 for x in a[:3])
    assert set(a[:3]).isdisjoint(set(c[:3]))
    assert "C1" not in a[:3].tolist()


def test_dataframe_defaults_to_person_linked_id_columns(no_env_key):
    df = pd.DataFrame({"customer_id": ["C1"], "order_id": ["O1"], "campaign_id": ["ps"], "n": [1]})
    out = privacy.pseudonymise(df, key="k")
    assert out["customer_id"][0].startswith("c_") and out["order_id"][0].startswith("o_")
    assert out["campaign_id"][0] == "ps" and out["n"][0] == 1
    assert df["customer_id"][0] == "C1"  # input untouched
    with pytest.raises(KeyError, match="nope"):
        privacy.pseudonymise(df, key="k", columns=["nope"])


def test_key_from_environment_then_project(tmp_path, monkeypatch):
    ids = pd.Series(["C1"], name="customer_id")
    project = tmp_path / "project"
    monkeypatch.setenv("CRM_RESEARCH_ROOT", str(project))
    run_a, run_b = project / "reports" / "run-a", project / "reports" / "run-b"
    monkeypatch.setenv(privacy.ENV_KEY, "env-key")
    assert privacy.pseudonymise(ids, run_dir=run_a)[0] == privacy.pseudonymise(ids, key="env-key")[0]
    assert not (run_a / "private").exists()
    monkeypatch.delenv(privacy.ENV_KEY)
    first = privacy.pseudonymise(ids, run_dir=run_a)[0]
    key = (run_a / "private" / "pseudo_key").read_text().strip()
    assert key == (project / ".crm-research" / "pseudo_key").read_text().strip()
    assert (project / ".crm-research" / "pseudo_key").stat().st_mode & 0o077 == 0  # owner only
    assert privacy.pseudonymise(ids, run_dir=run_a)[0] == first  # stable within a run
    assert privacy.pseudonymise(ids, run_dir=run_b)[0] == first  # and across reruns of the project
    monkeypatch.setenv("CRM_RESEARCH_ROOT", str(tmp_path / "another-project"))
    assert privacy.pseudonymise(ids, run_dir=tmp_path / "run-c")[0] != first  # another key
    with pytest.raises(ValueError, match=privacy.ENV_KEY):
        privacy.pseudonymise(ids)


def test_key_id_identifies_without_revealing():
    assert privacy.key_id("k1") == privacy.key_id("k1") != privacy.key_id("k2")
    assert len(privacy.key_id("k1")) == 12 and "k1" not in privacy.key_id("k1")


def test_drop_pii_uses_the_data_model():
    df = pd.DataFrame({"customer_id": ["C1"], "name": ["Ann"], "email": ["a@b.co"], "phone": ["1"],
                       "region": ["north"]})
    assert list(privacy.drop_pii(df, "customers").columns) == ["customer_id", "region"]
    camp = pd.DataFrame({"campaign_id": ["x"], "name": ["Spring"]})
    assert list(privacy.drop_pii(camp, "campaigns").columns) == ["campaign_id", "name"]
    with pytest.raises(KeyError, match="unknown table"):
        privacy.drop_pii(df, "clients")


def test_check_no_pii_names_the_column():
    with pytest.raises(privacy.PIIError, match=r"'email'"):
        privacy.check_no_pii(pd.DataFrame({"email": ["x"]}), "t")
    with pytest.raises(privacy.PIIError, match="contact.*e-mail"):
        privacy.check_no_pii(pd.DataFrame({"contact": ["ann@example.com"]}), "t")
    privacy.check_no_pii(pd.DataFrame({"campaign_name": ["Spring"], "n": [1]}), "t")


def test_save_table_pseudonymises_and_refuses_pii(tmp_path, no_env_key):
    run = notebook.setup("01_test", tmp_path)
    df = pd.DataFrame({"customer_id": ["C1", "C2"], "orders": [3, 1]})
    shown = run.save_table(df, "per_customer")
    text = (tmp_path / "tables" / "per_customer.csv").read_text()
    assert "C1" not in text and shown["customer_id"][0] in text
    key = (tmp_path / "private" / "pseudo_key").read_text().strip()
    assert key not in text and not list((tmp_path / "tables").glob("*key*"))
    with pytest.raises(privacy.PIIError):
        run.save_table(pd.DataFrame({"customer_id": ["C1"], "phone": ["+44 1"]}), "bad")
    assert not (tmp_path / "tables" / "bad.csv").exists()


def test_small_company_tables_leave_no_pii(small_company, tmp_path, no_env_key):
    crm = notebook.load_data(small_company)
    customers = crm.customers
    run = notebook.setup("01_test", tmp_path)
    safe = run.save_table(privacy.drop_pii(customers, "customers").head(20), "contacts")
    text = (tmp_path / "tables" / "contacts.csv").read_text()
    for col in ("name", "email", "phone"):
        assert col not in safe.columns
        assert not any(str(v) in text for v in customers[col].head(20))
    assert not any(cid in text for cid in customers["customer_id"].head(20))


def test_report_refuses_email_addresses():
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ann@example.com\n")]
    nb.cells = [cell]
    with pytest.raises(privacy.PIIError, match="e-mail"):
        report.notebook_html(nb, "t")
