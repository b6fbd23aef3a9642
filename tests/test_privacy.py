"""Pseudonyms, PII removal and the privacy guards of client-facing output (no kernels)."""

from __future__ import annotations

import pandas as pd
import pytest

from crm_research import notebook, privacy, report
from crm_research.errors import CRMError


@pytest.fixture
def no_env_key(monkeypatch, tmp_path):
    """No key in the environment; named keys live in a configuration folder of this test."""
    monkeypatch.delenv(privacy.ENV_KEY, raising=False)
    monkeypatch.delenv(privacy.ENV_KEY_NAME, raising=False)
    monkeypatch.setenv(privacy.ENV_CONFIG_DIR, str(tmp_path / "config"))
    return tmp_path / "config"


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


def test_key_from_argument_then_environment_then_named_key(no_env_key, monkeypatch):
    ids = pd.Series(["C1"], name="customer_id")
    monkeypatch.setenv(privacy.ENV_KEY, "env-key")
    assert privacy.pseudonymise(ids)[0] == privacy.pseudonymise(ids, key="env-key")[0]
    assert privacy.pseudonymise(ids, key="k")[0] != privacy.pseudonymise(ids)[0]
    assert not no_env_key.exists()  # the environment's key needs no file
    monkeypatch.delenv(privacy.ENV_KEY)
    first = privacy.pseudonymise(ids)[0]  # the default key, created on first use
    default = no_env_key / "keys" / "default"
    assert privacy.key_file() == default and len(default.read_text().strip()) == 64
    assert first == privacy.pseudonymise(ids, key=default.read_text().strip())[0]
    assert privacy.pseudonymise(ids)[0] == first  # stable: the same key next time
    # one key per engagement: another name, another key, other pseudonyms
    acme = privacy.pseudonymise(ids, name="acme")[0]
    assert acme != first and (no_env_key / "keys" / "acme").exists()
    monkeypatch.setenv(privacy.ENV_KEY_NAME, "acme")  # what the runner sets for its kernels
    assert privacy.pseudonymise(ids)[0] == acme
    assert privacy.key_record()["name"] == "acme"


def test_keys_are_owner_only_and_checked(no_env_key):
    import stat

    privacy.load_key("acme")
    keys = no_env_key / "keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert stat.S_IMODE((keys / "acme").stat().st_mode) == 0o600
    assert [p.name for p in keys.iterdir()] == ["acme"]  # no temporary file left
    (keys / "acme").chmod(0o644)
    with pytest.raises(privacy.KeyCustodyError, match=r"read by other users.*chmod 600"):
        privacy.load_key("acme")
    with pytest.raises(privacy.KeyCustodyError, match=r"no key named 'other'"):
        privacy.load_key("other", create=False)
    assert not (keys / "other").exists()
    for bad in ("../x", ".hidden", "a/b", "x" * 65, "with space"):
        with pytest.raises(privacy.KeyCustodyError, match="key name"):
            privacy.key_file(bad)


def test_config_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv(privacy.ENV_CONFIG_DIR, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert privacy.config_dir() == tmp_path / "xdg" / "crm-research"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert privacy.config_dir() == tmp_path / "home" / ".config" / "crm-research"
    monkeypatch.setenv(privacy.ENV_CONFIG_DIR, str(tmp_path / "cfg"))
    assert privacy.config_dir() == tmp_path / "cfg"


def test_fingerprint_identifies_without_revealing():
    assert privacy.fingerprint("k1") == privacy.fingerprint("k1") != privacy.fingerprint("k2")
    assert len(privacy.fingerprint("k1")) == 16 and "k1" not in privacy.fingerprint("k1")
    assert privacy.key_id is privacy.fingerprint


def test_reidentify_maps_pseudonyms_back():
    df = pd.DataFrame({"customer_id": ["C1", "C2", "C3", None], "risk": [0.9, 0.5, 0.1, 0.2]})
    safe = privacy.pseudonymise(df, key="k")
    back, stats = privacy.reidentify(safe, {"customer_id": ["C3", "C2", "C1", "C9"]}, "k")
    assert back["customer_id"].tolist()[:3] == ["C1", "C2", "C3"] and pd.isna(back["customer_id"][3])
    assert list(back.columns) == ["customer_id", "customer_id_pseudonym", "risk"]
    assert back["customer_id_pseudonym"].tolist()[:3] == safe["customer_id"].tolist()[:3]
    assert stats == {"customer_id": (3, 3)}
    wrong, stats = privacy.reidentify(safe, {"customer_id": ["C1", "C2"]}, "other-key")
    assert wrong["customer_id"].isna().all() and stats == {"customer_id": (0, 3)}
    short = privacy.pseudonymise(df, key="k", length=8)  # the length is read from the pseudonyms
    assert privacy.reidentify(short, {"customer_id": ["C1"]}, "k")[1] == {"customer_id": (1, 3)}
    with pytest.raises(CRMError, match="no pseudonymised id column"):
        privacy.reidentify(df.drop(columns="customer_id"), {}, "k")


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
    folder = tmp_path / "run"
    run = notebook.setup("01_test", folder)
    df = pd.DataFrame({"customer_id": ["C1", "C2"], "orders": [3, 1]})
    shown = run.save_table(df, "per_customer")
    text = (folder / "tables" / "per_customer.csv").read_text()
    assert "C1" not in text and shown["customer_id"][0] in text
    key = privacy.load_key(create=False)  # the default key, in the configuration folder
    assert shown["customer_id"][0] == privacy.pseudonymise(df, key=key)["customer_id"][0]
    assert not (folder / "private").exists() and not list(folder.rglob("*key*"))
    assert key not in text
    with pytest.raises(privacy.PIIError):
        run.save_table(pd.DataFrame({"customer_id": ["C1"], "phone": ["+44 1"]}), "bad")
    assert not (folder / "tables" / "bad.csv").exists()


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
