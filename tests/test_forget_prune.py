"""`crm-research forget` on a real run folder of the small company, `prune`, and the run's record of processing."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from crm_research import cli, data, privacy, run
from crm_research.run import retention
from crm_research.run.reidentify import reidentify_table

AS_OF = "2026-01-01"


@pytest.fixture(scope="module")
def analyst_run(small_company, tmp_path_factory) -> Path:
    """Notebook 02 on the small company for the analyst: its report and notebook show list rows too."""
    out = tmp_path_factory.mktemp("runs")
    folder = run.run_notebooks(["2"], data_dir=small_company, out_dir=out, audience="analyst", jobs=1,
                               overrides=[("n_bootstrap", "0")])
    return folder


@pytest.fixture
def root(analyst_run, tmp_path) -> Path:
    """A reports root holding a copy of the run (each test erases from its own copy)."""
    reports = tmp_path / "reports"
    shutil.copytree(analyst_run, reports / analyst_run.name)
    return reports


def _key(folder: Path) -> str:
    manifest = json.loads((folder / "manifest.json").read_text())
    return privacy.load_key(manifest["pseudonym_key"]["name"], create=False)


def _files_with(root: Path, needle: str) -> list[str]:
    raw = needle.encode()
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and raw in p.read_bytes())


def test_run_records_consent_and_processing(analyst_run, small_company):
    manifest = json.loads((analyst_run / "manifest.json").read_text())
    rec = manifest["record_of_processing"]
    assert [p["table"] for p in rec["personal_data"]][:2] == ["customers", "orders"]
    assert rec["contact_details"]["columns"] == ["customers.email", "customers.name", "customers.phone"]
    assert rec["pseudonymisation"]["key_fingerprint"] == privacy.fingerprint(_key(analyst_run))
    assert rec["retention"]["keep_runs_days"] == 365 and rec["consent"]["columns"] == [
        "customers.marketing_consent", "customers.do_not_contact"]
    # the saved lists: exactly the buyers who may be contacted, and the others counted
    crm = data.load(small_company, as_of=AS_OF)
    c, o = crm.customers, crm.orders
    buyers = set(o.loc[o["status"] == "completed", "customer_id"])
    ok = set(c.loc[(c["marketing_consent"] == "yes").fillna(False) & (c["do_not_contact"] != "yes").fillna(True),
                   "customer_id"])
    table = pd.read_csv(analyst_run / "tables" / "segmentation_customers.csv")
    lists = rec["consent"]["lists"]
    assert len(table) == len(buyers & ok) == lists["segmentation_customers"]["rows_listed"]
    assert lists["segmentation_customers"]["customers_left_out"] == len(buyers - ok) > 100
    expected = privacy.pseudonymise(pd.Series(sorted(buyers & ok), name="customer_id"), key=_key(analyst_run))
    assert set(table["customer_id"]) == set(expected)
    assert lists["segmentation_suggestions"]["note"].endswith("asked not to be contacted.")
    # the report says it, the index and the report's end show the record
    page = (analyst_run / "02_segmentation.html").read_text()
    assert lists["segmentation_customers"]["note"] in page and "Record of processing" in page
    index = (analyst_run / "index.html").read_text()
    assert "Record of processing" in index and f"kept until {rec['retention']['delete_after']}" in index


def test_forget_leaves_no_trace_of_the_pseudonym(root, small_company):
    folder = next(root.iterdir())
    table = pd.read_csv(folder / "tables" / "segmentation_suggestions.csv")
    key = _key(folder)
    # a customer of the suggestion list shown in the analyst's report (its first rows)
    shown = [p for p in table["customer_id"].head(12) if len(_files_with(root, p)) >= 4]
    pseudonym = shown[0]
    cid = privacy.reidentify(pd.DataFrame({"customer_id": [pseudonym]}),
                             {"customer_id": data.load(small_company).customers["customer_id"]}, key)[0]
    cid = cid["customer_id"].iloc[0]
    # the consultant gave the client their ids back: a reidentified copy under the root holds the raw id too
    review = root / "review"
    review.mkdir()
    reidentify_table(folder / "tables" / "segmentation_customers.csv", key=None,
                     data_dir=small_company, out=review / "customers.reidentified.csv")
    assert cid.encode() in (review / "customers.reidentified.csv").read_bytes()
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    where = _files_with(root, pseudonym)
    assert {"tables/segmentation_suggestions.csv", "02_segmentation.html"} <= {w.split("/", 1)[-1] for w in where}
    n_rows = int((table["customer_id"] == pseudonym).sum())

    assert cli.main(["forget", cid, "--reports", str(root)]) == 0

    assert _files_with(root, pseudonym) == []  # every byte of every file
    assert cid.encode() not in (review / "customers.reidentified.csv").read_bytes()
    after = pd.read_csv(folder / "tables" / "segmentation_suggestions.csv")
    assert len(after) == len(table) - n_rows
    # the other rows are the same bytes, in the same order
    old = before[folder / "tables" / "segmentation_suggestions.csv"].decode().splitlines()
    assert (folder / "tables" / "segmentation_suggestions.csv").read_text().splitlines() == \
        [ln for ln in old if pseudonym not in ln]
    untouched = [p for p in before if p.suffix in (".png",)]
    assert untouched and all(p.read_bytes() == before[p] for p in untouched)
    manifest_text = (folder / "manifest.json").read_text()
    assert pseudonym not in manifest_text and cid not in manifest_text
    erased = json.loads(manifest_text)["record_of_processing"]["erasures"]
    assert len(erased) == 1 and erased[0]["customers"] == 1
    assert erased[0]["files"]["tables/segmentation_suggestions.csv"] == n_rows
    assert erased[0]["rows_removed"] == sum(erased[0]["files"].values()) >= n_rows + 3
    assert erased[0]["date"] == datetime.now().astimezone().strftime("%Y-%m-%d")
    assert "Erasures" in (folder / "index.html").read_text()
    nb = json.loads((folder / "notebooks" / "02_segmentation.ipynb").read_text())  # still a notebook
    assert nb["nbformat"] == 4
    # a second time: nothing left to find, nothing changed
    snapshot = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert cli.main(["forget", cid, "--reports", str(root)]) == 0
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == snapshot


def test_forget_errors_are_one_line_and_change_nothing(root, capsys, tmp_path):
    folder = next(root.iterdir())
    pseudonym = pd.read_csv(folder / "tables" / "segmentation_customers.csv")["customer_id"].iloc[0]
    (root / "chart.png").write_bytes(b"\x89PNG" + pseudonym.encode())  # a kind forget cannot rewrite
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    ids = tmp_path / "ids.csv"
    ids.write_text("customer_id\n")
    cases = [
        (["forget", "C1", "--reports", str(tmp_path / "nope")], "no such folder"),
        (["forget", "--reports", str(root)], "give customer ids"),
        (["forget", "--ids-file", str(ids), "--reports", str(root)], "holds no customer id"),
        (["forget", "C1", "--reports", str(root), "--key", "never-made"], "no key named 'never-made'"),
    ]
    for argv, words in cases:
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and words in err and "\n" not in err, err
    # the pseudonym is in a PNG: refused before any file is written
    cid = privacy.reidentify(pd.DataFrame({"customer_id": [pseudonym]}),
                             {"customer_id": [f"C{i:07d}" for i in range(2000)]}, _key(folder))[0]["customer_id"][0]
    assert cli.main(["forget", cid, "--reports", str(root)]) == 2
    assert "chart.png holds a pseudonym" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before


def _fake_run(root: Path, name: str, days_ago: float, status: str = "ok", keep: int | None = 365) -> Path:
    folder = root / name
    (folder / "tables").mkdir(parents=True)
    started = (datetime.now().astimezone() - timedelta(days=days_ago)).isoformat(timespec="seconds")
    manifest = {"run": name, "status": status, "started": started, "pid": os.getpid(),
                "host": __import__("crm_research.run.lifecycle", fromlist=["x"]).host_name(),
                "heartbeat": datetime.now().astimezone().isoformat(timespec="seconds"), "notebooks": []}
    if keep:
        manifest["record_of_processing"] = {"retention": {"keep_runs_days": keep}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_prune_lists_then_deletes_only_when_confirmed(tmp_path, capsys):
    root = tmp_path / "reports"
    old = _fake_run(root, "run-20240101-100000-aaaaaaa", 400)
    short = _fake_run(root, "run-20251101-100000-bbbbbbb", 40, keep=30)  # its own retention is shorter
    recent = _fake_run(root, "run-20261101-100000-ccccccc", 10)
    live = _fake_run(root, "run-20230101-100000-ddddddd", 700, status="running")  # this process: alive
    (root / "notes").mkdir()  # not a run folder
    ages = {r.folder.name: r for r in retention.run_ages(root)}
    assert set(ages) == {old.name, short.name, recent.name, live.name}
    assert ages[old.name].age_days == pytest.approx(400, abs=0.01) and ages[live.name].status == "running"

    assert cli.main(["prune", "--reports", str(root)]) == 0  # not at a terminal: list only
    out = capsys.readouterr().out
    assert f"{old.name} · 400 days old · kept 365 days · ok" in out and f"{short.name} · 40 days old" in out
    assert recent.name not in out and live.name not in out and "add --yes to delete them" in out
    assert old.exists() and short.exists()

    assert cli.main(["prune", "--reports", str(root), "--older-than", "100", "--yes"]) == 0
    assert "deleted 1 run folder" in capsys.readouterr().out
    assert not old.exists() and short.exists() and recent.exists() and live.exists()
    assert sorted(p.name for p in root.iterdir()) == sorted([short.name, recent.name, live.name, "notes"])

    assert cli.main(["prune", "--reports", str(tmp_path / "nope")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert cli.main(["prune", "--reports", str(root), "--older-than", "-1"]) == 2


def test_a_pseudonym_split_by_line_breaks_in_a_client_table_is_found_and_erased(tmp_path):
    """Client tables put <wbr> inside long words so they wrap: 'c_eadde35f0c<wbr />e5d520'. A
    plain substring search missed it, and the report kept the erased customer's row."""
    from crm_research.run import erasure

    token = "c_eadde35f0ce5d520"
    html = ("<table><tr><td>c_eadde35f0c<wbr />e5d520</td><td>€1,226</td></tr>"
            "<tr><td>c_aaa7a5332a<wbr>6b7b77</td><td>€900</td></tr></table><p>see c_eadde35f0c<wbr>e5d520</p>")
    new, rows = erasure._rewrite(tmp_path / "05_churn.html", html.encode(), {token})
    text = new.decode()
    assert rows == 1 and "€1,226" not in text and "6b7b77" in text
    assert "e5d520" not in text and "[erased]" in text
    assert erasure._has("x c_eadde35f0c&shy;e5d520 y", {token}) and not erasure._has("c_eadde35f0c e5d520", {token})


def test_forget_searches_checkpoints_and_ids_kept_as_a_parquet_index(tmp_path, monkeypatch):
    """JupyterLab's .ipynb_checkpoints copy of an executed notebook, and a compressed Parquet
    snapshot whose id is its pandas index, both held the erased customer after forget."""
    from crm_research import privacy
    from crm_research.run import erasure

    monkeypatch.setenv(privacy.ENV_KEY, "engagement-key")
    token = str(privacy.pseudonymise(pd.Series(["C0001"], name="customer_id"), key="engagement-key").iloc[0])
    other = str(privacy.pseudonymise(pd.Series(["C0002"], name="customer_id"), key="engagement-key").iloc[0])
    run_dir = tmp_path / "reports" / "run-1"
    (run_dir / "tables").mkdir(parents=True)
    (run_dir / ".ipynb_checkpoints").mkdir()
    (run_dir / "manifest.json").write_text("{}")
    pd.DataFrame({"value": [1.0, 2.0]}, index=pd.Index([token, other], name="customer_id")).to_parquet(
        run_dir / "tables" / "snapshot.parquet", compression="gzip")
    (run_dir / ".ipynb_checkpoints" / "05_churn-checkpoint.ipynb").write_text(
        '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5, "note": "top: ' + token + '"}')
    erasure.forget(["C0001"], tmp_path / "reports")
    left = pd.read_parquet(run_dir / "tables" / "snapshot.parquet")
    assert left.index.tolist() == [other] and left.index.name == "customer_id"
    for f in run_dir.rglob("*"):
        if f.is_file():
            assert token.encode() not in f.read_bytes(), f
