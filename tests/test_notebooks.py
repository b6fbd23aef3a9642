"""The five notebooks, executed for real on a small synthetic company.

Kernels are slow to start, so every notebook runs once through the runner (``crm-research run
--pdf``, the background run ``plain`` of tests/background.py, also read by the layout test)
while, in parallel, ``pytest --nbval-lax`` runs them once more the way an analyst does in
JupyterLab: default parameters, demo data, the scratch run folder (background run ``nbval``, in
a copy of the project pointed to by ``CRM_RESEARCH_ROOT``). Both must agree byte for byte.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from conftest import SMALL_CUSTOMERS
from crm_research import cli, data, notebook, paths, privacy, run

STEMS = ["01_baseline", "02_segmentation", "03_journey", "04_attribution", "05_churn"]


@pytest.fixture(scope="session")
def nbval_result(background_runs):
    """``pytest --nbval-lax notebooks/`` on a copy of the project whose demo data is the small
    company: (project copy, exit status, output)."""
    result = background_runs.get("nbval")
    return result.folder, result.returncode, result.output


@pytest.fixture(scope="session")
def plain_run(background_runs):
    """The five notebooks through the runner on the small company (``crm-research run --pdf``)."""
    result = background_runs.get("plain")
    assert result.returncode == 0 and result.folder is not None, result.output[-3000:]
    return result


@pytest.fixture(scope="session")
def run_all(plain_run) -> Path:
    """Its run folder."""
    return plain_run.folder


def test_committed_notebooks_have_no_outputs():
    for path in sorted(paths.notebooks_dir().glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert nb.metadata["kernelspec"]["name"] == "python3", path.name
        assert "papermill" not in nb.metadata, path.name
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{path.name}: exactly one cell tagged 'parameters'"
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{path.name} has outputs"
    assert [p.stem for p in sorted(paths.notebooks_dir().glob("*.ipynb"))] == STEMS


def test_tables_and_figures_inside_blocks_are_displayed():
    """Only a cell's last top-level expression is shown: a bare ``nb.show(...)`` inside an ``if``
    block displays nothing (six tables of 04 went missing that way); wrap it in display()."""
    import ast

    shown = {"nb.show", "nb.show_by_unit", "run.publish", "run.data_notes", "Markdown"}
    for path in sorted(paths.notebooks_dir().glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            tree = ast.parse(cell.source)
            top = {id(node) for node in tree.body}
            lost = [ast.unparse(node)[:60] for node in ast.walk(tree)
                    if isinstance(node, ast.Expr) and id(node) not in top and isinstance(node.value, ast.Call)
                    and ast.unparse(node.value.func) in shown]
            assert not lost, f"{path.name}: never displayed: {lost}"


def test_every_notebook_executes_into_one_run_folder(run_all, plain_run, small_company, background_runs):
    manifest = json.loads((run_all / "manifest.json").read_text())
    assert manifest["status"] == "ok" and not (run_all / "FAILED").exists()
    assert [n["name"] for n in manifest["notebooks"]] == STEMS
    # the notebooks read the data on DuckDB (their default engine): the digest of the files read,
    # the mapping and as_of, the same for every notebook and the runner's check
    from crm_research import engine

    as_of = manifest["notebooks"][0]["parameters"]["as_of"]
    read = data.load(small_company, as_of=as_of, con=engine.open_engine("duckdb"))
    assert read.in_memory is None and manifest["data"]["fingerprint"] == read.fingerprint()
    assert manifest["versions"]["pandas"] and manifest["versions"]["papermill"]
    with pytest.MonkeyPatch.context() as mp:  # the key of the runs' configuration folder
        mp.setenv(privacy.ENV_CONFIG_DIR, str(background_runs.config_dir))
        key = os.environ.get(privacy.ENV_KEY) or privacy.project_key(manifest["project_root"])
    assert manifest["pseudonym_key"]["key_id"] == privacy.key_id(key)
    assert key not in (run_all / "manifest.json").read_text()
    assert "commit" in (manifest["git"] or {"commit": None})
    index = (run_all / "index.html").read_text()
    for entry in manifest["notebooks"]:
        assert entry["status"] == "ok" and entry["duration_s"] > 0
        assert entry["parameters"]["data_dir"] == str(small_company)
        assert entry["headlines"] and entry["tables"] and entry["figures"], entry["name"]
        for t in entry["tables"]:
            assert (run_all / "tables" / f"{t}.csv").stat().st_size > 0
        for f in entry["figures"]:
            assert (run_all / "figures" / f"{f}.png").read_bytes()[:4] == b"\x89PNG"
        assert (run_all / "notebooks" / f"{entry['name']}.ipynb").exists()
        assert f'href="{entry["name"]}.html"' in index
        assert entry["headlines"][0]["text"] in index
    assert "[5/5] 05_churn ok in" in plain_run.output  # the runner's progress lines


def test_html_reports_read_offline_without_code(run_all):
    for stem in STEMS:
        page = (run_all / f"{stem}.html").read_text()
        assert "nb.setup" not in page and "run.save_table" not in page, stem  # no code
        assert "<script src=" not in page and "cdnjs" not in page and "<link" not in page, stem
        assert "data:image/png;base64," in page, stem  # figures embedded
        assert 'class="jp-InputPrompt' not in page and 'class="jp-OutputPrompt' not in page, stem
        assert not privacy.find_emails(page.split("data:image")[0]), stem


def test_tables_hold_no_personal_data(run_all, small_company):
    customers = pd.read_parquet(small_company / "customers.parquet")
    secrets = set(customers["email"]) | set(customers["name"]) | set(customers["phone"])
    ids = set(customers["customer_id"])
    for csv in (run_all / "tables").glob("*.csv"):
        df = pd.read_csv(csv, dtype=str)
        assert not set(df.columns) & privacy.pii_column_names(), csv.name
        values = set(df.to_numpy().ravel()) - {None}
        assert not values & secrets and not values & ids, csv.name
    assert not list((run_all / "tables").glob("*key*"))


def test_an_override_changes_a_result_table(run_all, small_company, tmp_path, background_runs, monkeypatch):
    # clustering buyers with two or more orders instead of three: the personas cover more people
    monkeypatch.setenv(privacy.ENV_CONFIG_DIR, str(background_runs.config_dir))  # run_all's pseudonym key
    other = run.run_notebooks(["2"], overrides=[("cluster_min_orders", "2")], data_dir=small_company,
                              out_dir=tmp_path)
    name = "segmentation_personas.csv"
    base, changed = pd.read_csv(run_all / "tables" / name), pd.read_csv(other / "tables" / name)
    # every buyer, also those the outreach table leaves out for want of marketing consent
    from crm_research.segments import features_from_data

    buyers = features_from_data(data.load(small_company, as_of="2026-01-01"), "2026-01-01")
    assert base["customers"].sum() == (buyers["frequency"] >= 3).sum()
    assert changed["customers"].sum() == (buyers["frequency"] >= 2).sum() > base["customers"].sum()
    assert changed["customer_share"].sum() == pytest.approx(1.0, abs=5e-7 * len(changed))  # shares rounded to 6 places
    clustered = pd.read_csv(other / "tables" / "segmentation_customers.csv")
    assert (clustered["cluster"].notna() == (clustered["frequency"] >= 2)).all()
    # what does not depend on the clusters is unchanged
    for same in ("segmentation_rfm_segments.csv", "segmentation_levels.csv"):
        assert (run_all / "tables" / same).read_bytes() == (other / "tables" / same).read_bytes(), same
    manifest = json.loads((other / "manifest.json").read_text())
    assert manifest["notebooks"][0]["parameters"]["cluster_min_orders"] == 2
    text = run.compare_runs(run_all, other)
    assert "## segmentation_personas" in text and "Only in A" in text
    assert cli.main(["compare", str(run_all), str(other), "--out", str(tmp_path / "cmp")]) == 0
    assert (tmp_path / "cmp" / "segmentation_personas.csv").exists()


def test_nbval_lax_runs_every_notebook(nbval_result):
    _root, code, out = nbval_result
    assert code == 0, out[-3000:]
    cells = sum(c.cell_type == "code" for p in sorted(paths.notebooks_dir().glob("*.ipynb"))
                for c in nbformat.read(p, as_version=4).cells)
    assert f"{cells} passed" in out, out[-3000:]  # nbval-lax: one test per code cell


def test_same_data_and_parameters_give_identical_tables(run_all, nbval_result):
    root, code, out = nbval_result
    assert code == 0, out[-3000:]
    scratch = root / "reports" / notebook.SCRATCH / "tables"
    ours = sorted(p.name for p in (run_all / "tables").glob("*.csv"))
    assert sorted(p.name for p in scratch.glob("*.csv")) == ours
    for name in ours:
        assert (scratch / name).read_bytes() == (run_all / "tables" / name).read_bytes(), name


def test_a_mapping_next_to_the_data_is_applied(small_company, tmp_path):
    folder = tmp_path / "client"
    shutil.copytree(small_company, folder)
    (folder / "customers.parquet").rename(folder / "clients.parquet")
    (folder / "mapping.yaml").write_text("tables:\n  customers:\n    file: clients.parquet\n")
    ctx = notebook.setup("01_test", tmp_path / "run")
    crm = ctx.load_data(folder)
    # the file the mapping names is the one read: every contact of the company (the media-driven sign-ups too)
    assert len(crm.customers) == len(pd.read_parquet(small_company / "customers.parquet")) > SMALL_CUSTOMERS
    assert "email" not in crm.customers.columns  # PII dropped at load
    meta = json.loads(ctx.meta_path.read_text())
    assert meta["data"]["mapping"] == "mapping.yaml" and len(meta["data"]["fingerprint"]) == 64


def test_show_formats_for_a_client():
    df = pd.DataFrame({"day": pd.to_datetime(["2025-01-01"], utc=True), "n": [12345],
                       "share": [0.1234], "amount": [1234.5]})
    html = notebook.show(df).to_html()
    assert "2025-01-01<" in html and "00:00" not in html
    assert "12,345" in html and "12.3%" in html and "1,234.50" in html
