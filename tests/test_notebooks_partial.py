"""The five notebooks, end to end through the runner, on a few representative client exports.

The matrices (every optional table or column removed, degenerate companies) run at the package
level, section by section, in ``tests/test_needs_*.py``. Here whole notebooks run on the cases
those cannot show: a real orders-only export (CDNOW, whose numbers are checked against pandas and
the published BG/NBD fit), an event log alone, a tiny company and a client's path table alone.
Each must finish (exit 0) with a report whose skipped sections each name their reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import partial_data
from crm_research import cli

STEMS = ["01_baseline", "02_segmentation", "03_journey", "04_attribution", "05_churn"]
CDNOW = partial_data.CDNOW
needs_cdnow = pytest.mark.skipif(not CDNOW.is_dir(), reason=f"CDNOW data not found at {CDNOW}: the validation "
                                 "dataset lives in ../shared/datasets beside the project")


def _finished(background_runs, name: str) -> Path:
    """The run folder of background run ``name`` (tests/background.py), which must have exited 0."""
    result = background_runs.get(name)
    assert result.returncode == 0 and result.folder is not None, result.output[-3000:]
    return result.folder


def _entries(folder: Path) -> dict[str, dict]:
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "ok", manifest.get("error")
    return {e["name"]: e for e in manifest["notebooks"]}


def _check_every_skip_says_why(folder: Path) -> dict[str, dict[str, str]]:
    """Every notebook ran; each section recorded once; each skip or fallback has its sentence,
    shown in the (client's) report and the index, except the planted-truth checks, which the
    client never sees. Returns {notebook: {section: status}}."""
    entries = _entries(folder)
    index = (folder / "index.html").read_text()
    out = {}
    for stem, entry in entries.items():
        assert entry["status"] == "ok", (stem, entry.get("error"))
        sections = entry["sections"]
        assert sections, stem
        keys = [s["key"] for s in sections]
        assert len(keys) == len(set(keys)), stem
        page = (folder / f"{stem}.html").read_text()
        for s in sections:
            if s["status"] in ("skipped", "fallback"):
                assert s["reason"].endswith(".") and len(s["reason"]) > 20, (stem, s)
                first_words = s["reason"].split("`")[0][:40].replace("&", "&amp;")
                if s.get("analyst"):  # a planted-truth check: not in the client's report at all
                    assert s["title"] not in page and s["title"] not in index, (stem, s["key"])
                else:
                    assert first_words in page and first_words in index, (stem, s["key"])
        out[stem] = {s["key"]: s["status"] for s in sections}
    return out


def _cdnow_orders() -> pd.DataFrame:
    raw = pd.read_csv(CDNOW / "CDNOW_master.txt", sep=r"\s+", dtype={"customer_id": str})
    raw["ordered_at"] = pd.to_datetime(raw["date"].astype(str), format="%Y%m%d", utc=True)
    return raw


@pytest.fixture(scope="module")
def cdnow_run(background_runs) -> Path:
    if not CDNOW.is_dir():
        pytest.skip(f"CDNOW data not found at {CDNOW}")
    return _finished(background_runs, "cdnow")


@needs_cdnow
def test_cdnow_orders_only_export_runs_every_notebook_and_its_numbers_are_pandas_own(cdnow_run):
    status = _check_every_skip_says_why(cdnow_run)
    orders = _cdnow_orders()
    tables = cdnow_run / "tables"
    customers = pd.read_csv(tables / "segmentation_customers.csv")
    per = orders.groupby("customer_id").agg(n=("date", "size"), revenue=("dollar_value", "sum"),
                                            last=("ordered_at", "max"))
    assert len(customers) == len(per) == 23_570
    assert customers["monetary"].sum() == pytest.approx(2_500_315.63, abs=0.01)
    assert (customers["frequency"] >= 2).sum() == (per["n"] >= 2).sum()
    lost = pd.read_csv(tables / "churn_definitions.csv").set_index("definition")
    lost = lost.loc["no completed purchase for 180 days"]
    as_of = pd.Timestamp("1998-07-01", tz="UTC")
    assert lost["count"] == 23_570
    assert lost["lost"] == (as_of - per["last"] >= pd.Timedelta(days=180)).sum()  # recency of 180 days or more
    kpis = pd.read_csv(tables / "baseline_kpis.csv")
    assert kpis.loc[kpis["metric"] == "revenue", "value"].sum() == pytest.approx(2_500_315.63, abs=0.01)
    # what an orders-only export cannot give is skipped, with its reason; the rest ran
    assert set(status["03_journey"].values()) == {"skipped"}
    assert status["02_segmentation"]["cross_sell"] == "skipped" and status["02_segmentation"]["rfm"] == "ran"
    assert status["05_churn"]["value"] == "ran" and status["05_churn"]["subscriptions"] == "skipped"
    entries = _entries(cdnow_run)
    assert any("derived from orders" in n for n in entries["01_baseline"]["data_notes"])


@needs_cdnow
def test_cdnow_sample_as_a_client_reproduces_the_published_bgnbd_fit(background_runs):
    folder = _finished(background_runs, "cdnow_sample")
    _check_every_skip_says_why(folder)
    fit = pd.read_csv(folder / "tables" / "churn_value_models.csv")
    bgnbd = fit[fit["model"] == "BG/NBD"].set_index("parameter")["estimate"]
    # Fader, Hardie & Lee (2005): r = 0.243, alpha = 4.414 (weeks), a = 0.793, b = 2.426
    assert round(bgnbd["r"], 3) == 0.243 and round(bgnbd["alpha"] / 7, 3) == 4.414
    assert round(bgnbd["a"], 3) == 0.793 and round(bgnbd["b"], 3) == 2.426


def test_an_event_log_alone_runs_every_notebook(background_runs):
    folder = _finished(background_runs, "event_log")
    status = _check_every_skip_says_why(folder)
    # the journey is what an event log is for: funnel, stages, friction all ran
    assert status["03_journey"]["funnel"] == "ran" and status["03_journey"]["stages"] == "ran"
    # no amounts: revenue-based parts fall back or skip, they never show zeros as money
    assert status["02_segmentation"]["rfm"] == "fallback"
    assert status["05_churn"]["at_risk"] in ("fallback", "skipped")
    funnel = pd.read_csv(folder / "tables" / "journey_funnel.csv")
    assert len(funnel) >= 5


def test_a_tiny_company_of_ten_buyers_runs_every_notebook(background_runs):
    folder = _finished(background_runs, "tiny")
    status = _check_every_skip_says_why(folder)
    assert status["05_churn"]["classifier"] == "skipped"  # 10 buyers cannot train a classifier
    assert status["02_segmentation"]["rfm"] == "ran"


def test_a_path_table_alone_gives_the_attribution_and_nothing_else(background_runs):
    folder = _finished(background_runs, "paths_only")
    client = json.loads((folder / "manifest.json").read_text())["notebooks"][0]["parameters"]["data_dir"]
    assert cli.main(["validate", client, "--as-of", "2026-01-01"]) == 0
    status = _check_every_skip_says_why(folder)
    for stem in ("01_baseline", "02_segmentation", "03_journey", "05_churn"):
        assert set(status[stem].values()) == {"skipped"}, stem
    assert status["04_attribution"]["path_markov"] == "ran"
    written = {p.name.split("_")[0] for p in (folder / "tables").glob("*.csv")}
    assert written == {"attribution"}
    markov = pd.read_csv(folder / "tables" / "attribution_markov.csv")
    assert markov["conversions"].sum() == pytest.approx(75.0)
