"""The runner keeps going past a failing notebook; sections and data notes in the index;
per-notebook sections of params files; ``validate`` with the folder's mapping and ``--as-of``.

Stand-in notebooks only (a few cells each): the real five are tested in test_notebooks.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from crm_research import cli, paths, report, run
from crm_research.errors import NotebookFailed, ParameterError


@pytest.fixture(autouse=True)
def own_keys(monkeypatch, tmp_path):
    """Named keys in this test's configuration folder, never the user's."""
    from crm_research import privacy

    monkeypatch.setenv(privacy.ENV_CONFIG_DIR, str(tmp_path / "config"))
    monkeypatch.delenv(privacy.ENV_KEY_NAME, raising=False)


# --- stand-in notebooks --------------------------------------------------------------------


def _nb(path: Path, params: str, *cells: str, markdown_after: str | None = None) -> Path:
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# Stand-in {path.stem}"), p,
                *[nbformat.v4.new_code_cell(c) for c in cells]]
    if markdown_after:
        nb.cells.append(nbformat.v4.new_markdown_cell(markdown_after))
        nb.cells.append(nbformat.v4.new_code_cell("print('after the failure')"))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


PARAMS = "run_dir = None  # run folder\nvalue = 1  # a number\nseed = 1  # seed"
SETUP = "import pandas as pd\nfrom crm_research import notebook as nb\nrun = nb.setup('{stem}', run_dir, seed)"


def _table_nb(folder: Path, stem: str, extra: str = "", **kw) -> Path:
    cells = [SETUP.format(stem=stem),
             f"run.save_table(pd.DataFrame({{'x': [value, value * 2], 'y': [0.1, 1 / 3]}}), '{stem}_t')\n"
             f"print('table written')"]
    if extra:
        cells.append(extra)
    return _nb(folder / f"{stem}.ipynb", PARAMS, *cells, **kw)


def _meta_cell(stem: str, sections: list[dict] | None, notes: list[str] | None) -> str:
    """A cell writing the keys the notebooks add to meta/<stem>.json (sections, data_notes)."""
    extra = {}
    if sections is not None:
        extra["sections"] = sections
    if notes is not None:
        extra["data_notes"] = notes
    return ("import json, pathlib\n"
            f"p = pathlib.Path(run_dir) / 'meta' / '{stem}.json'\n"
            "m = json.loads(p.read_text())\n"
            f"m.update(json.loads({json.dumps(json.dumps(extra))}))\n"
            "p.write_text(json.dumps(m))")


SECTIONS = [
    {"key": "kpis", "title": "KPI baseline", "status": "ran", "reason": ""},
    {"key": "cross_sell", "title": "Cross-sell and upsell", "status": "skipped",
     "reason": "needs order lines (order_items) <script>alert(1)</script>"},
    {"key": "clusters", "title": "Clusters & personas", "status": "fallback",
     "reason": "fewer than 50 repeat buyers: levels only"},
]
NOTES = ["customers derived from orders", "rows after the analysis date ignored: 12 orders"]


@pytest.fixture
def trio(tmp_path):
    """Three stand-ins in reading order: one fails half way (after writing its sections), two
    succeed (one with sections and data notes, one with an older meta without them)."""
    boom = _table_nb(
        tmp_path, "a_boom",
        _meta_cell("a_boom", SECTIONS[:1], NOTES[:1]) + "\n"
        "print('before the error')\n"
        "# explode on purpose\n"
        "raise ValueError('bad input\\nsecond line of the message')",
        markdown_after="## Text after the failure")
    ok = _table_nb(tmp_path, "b_sections", _meta_cell("b_sections", SECTIONS, NOTES))
    old = _table_nb(tmp_path, "c_plain")
    return [str(boom), str(ok), str(old)]


# --- keep going ----------------------------------------------------------------------------


def test_a_failing_notebook_does_not_stop_the_others(tmp_path, trio):
    runs = {}
    for jobs in (1, 2):
        with pytest.raises(NotebookFailed) as info:
            run.run_notebooks(trio, out_dir=tmp_path / f"j{jobs}", jobs=jobs)
        runs[jobs] = folder = info.value.run_dir
        assert info.value.failures == [str(info.value)]
        line = info.value.failures[0]
        assert line.startswith("notebook a_boom failed in cell 5 `import json, pathlib`: "
                               "ValueError: bad input (+1 more line) (executed notebook: ")
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["status"] == "failed"
        assert [m["status"] for m in manifest["notebooks"]] == ["failed", "ok", "ok"]
        assert manifest["notebooks"][0]["failure"]["sentence"] == \
            "This report stopped at cell 5: ValueError: bad input."
        assert (folder / "FAILED").read_text() == line + "\n"
        # every notebook wrote its table, the failing one before it failed
        assert sorted(p.name for p in (folder / "tables").iterdir()) == \
            ["a_boom_t.csv", "b_sections_t.csv", "c_plain_t.csv"]
    for name in ("a_boom_t.csv", "b_sections_t.csv", "c_plain_t.csv"):
        assert (runs[1] / "tables" / name).read_bytes() == (runs[2] / "tables" / name).read_bytes()

    folder = runs[2]
    # the failed notebook's client report: the sentence on top, output up to the failure, no
    # traceback, nothing after the failing cell
    page = (folder / "a_boom.html").read_text()
    assert "This report stopped at cell 5: ValueError: bad input." in page
    assert page.index("This report stopped") < page.index("table written") < page.index("before the error")
    for absent in ("Traceback", "second line of the message", "Text after the failure",
                   "after the failure</", "An Exception was encountered", "papermill-error-cell"):
        assert absent not in page, absent
    ok_page = (folder / "b_sections.html").read_text()
    assert "This report stopped" not in ok_page and "table written" in ok_page
    # the index marks it failed, links its report and says where it stopped
    index = (folder / "index.html").read_text()
    assert "1 of 3 notebooks failed" in index
    assert 'href="a_boom.html"' in index and 'class="status-failed">failed' in index
    assert "This report stopped at cell 5: ValueError: bad input." in index
    assert 'href="notebooks/a_boom.ipynb"' in index


def test_fail_fast_starts_nothing_after_a_failure(tmp_path, trio):
    with pytest.raises(NotebookFailed) as info:
        run.run_notebooks(trio, out_dir=tmp_path / "ff", jobs=1, fail_fast=True)
    manifest = json.loads((info.value.run_dir / "manifest.json").read_text())
    assert [m["status"] for m in manifest["notebooks"]] == ["failed", "skipped", "skipped"]
    assert (info.value.run_dir / "a_boom.html").exists()  # its partial report is still written


def test_cli_exit_status_and_one_line_per_failure(tmp_path, capsys):
    user = _nb(tmp_path / "user_error.ipynb", PARAMS,
               "from crm_research.errors import ParameterError\n"
               "raise ParameterError('goals_file=\\'x.yaml\\' does not exist: give a YAML file')")
    crash = _nb(tmp_path / "crash.ipynb", PARAMS, "1 / 0")
    fine = _table_nb(tmp_path, "fine")
    code = cli.main(["run", str(user), str(fine), str(crash), "--out", str(tmp_path / "r"), "-j", "2"])
    out, err = capsys.readouterr()
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in err
    assert lines[0].startswith("error: notebook user_error failed in cell 3 `from crm_research.errors "
                               "import ParameterError`: ParameterError: goals_file='x.yaml' does not exist")
    assert lines[1].startswith("error: notebook crash failed in cell 3 `1 / 0`: ZeroDivisionError: division by zero")
    assert "fine ok" in out and "2 of 3 notebooks failed" in out and "run folder: " in out
    folder = Path(out.strip().splitlines()[-1].removeprefix("run folder: "))
    assert json.loads((folder / "manifest.json").read_text())["notebooks"][1]["status"] == "ok"
    # all good: exit 0
    assert cli.main(["run", str(fine), "--out", str(tmp_path / "r2")]) == 0


def test_as_of_is_checked_before_anything_starts(tmp_path, capsys, monkeypatch):
    import papermill

    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: pytest.fail("a kernel started"))
    nb = _nb(tmp_path / "dated.ipynb", 'run_dir = None  # run folder\nas_of = "2026-01-01"  # date')
    for bad in ("2025-13-01", "today", "soon"):
        assert cli.main(["run", str(nb), "-p", "as_of", bad, "--out", str(tmp_path / "r")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"error: dated: as_of='{bad}'"), err
    assert not (tmp_path / "r").exists()


# --- sections and data notes in the index -----------------------------------------------------


def test_sections_and_data_notes_reach_the_manifest_and_the_index(tmp_path, trio):
    with pytest.raises(NotebookFailed) as info:
        run.run_notebooks(trio, out_dir=tmp_path / "runs", jobs=2)
    folder = info.value.run_dir
    entries = {m["name"]: m for m in json.loads((folder / "manifest.json").read_text())["notebooks"]}
    assert entries["b_sections"]["sections"] == SECTIONS
    assert entries["b_sections"]["data_notes"] == NOTES
    assert entries["a_boom"]["sections"] == SECTIONS[:1]  # what it recorded before failing
    assert "sections" not in entries["c_plain"] and "data_notes" not in entries["c_plain"]
    index = (folder / "index.html").read_text()
    assert "2 of 3 sections ran (1 with a fallback)" in index
    assert 'Cross-sell and upsell: <span class="s">skipped</span> — needs order lines (order_items) ' \
           "&lt;script&gt;alert(1)&lt;/script&gt;" in index
    assert "<script>" not in index
    assert 'Clusters &amp; personas: <span class="s">ran with a fallback</span> — fewer than 50' in index
    assert "1 of 1 section ran" in index  # the failed notebook's sections so far
    # the data notes once, at the top, before the first notebook
    for note in NOTES:
        assert index.count(note) == 1
    assert index.index("About the data") < index.index('class="nb"')
    c_block = index[index.index("c_plain"):]
    assert "sections ran" not in c_block


def test_index_of_an_older_manifest_shows_no_sections(tmp_path):
    manifest = {"run": "run-x", "status": "ok", "started": "2026-01-01T00:00:00",
                "notebooks": [{"name": "01_baseline", "status": "ok", "report": "01_baseline.html",
                               "headlines": [{"name": "Buyers", "value": 3, "text": "3"}]}]}
    text = report.write_index(tmp_path, manifest).read_text()
    assert "sections ran" not in text and "About the data" not in text and "Buyers" in text


# --- params files with a section per notebook ------------------------------------------------

COMMON = 'data_dir = None  # data\nas_of = "2026-01-01"  # date\nperiod = "M"  # period\nseed = 42  # seed\n' \
         "run_dir = None  # run folder\n"
OWN = {"01_baseline": "periods = 24  # periods", "03_journey": "n_boot = 100  # replicates",
       "04_attribution": "n_boot = 100  # replicates\nlookback_days = 30  # days",
       "05_churn": "horizon_days = 90  # days"}


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = tmp_path / "project"
    (root / "notebooks").mkdir(parents=True)
    for stem, own in OWN.items():
        _nb(root / "notebooks" / f"{stem}.ipynb", COMMON + own)
    monkeypatch.setenv("CRM_RESEARCH_ROOT", str(root))
    return root


def _plan(tmp_path, names, text, overrides=()):
    pf = tmp_path / "p.yaml"
    pf.write_text(text)
    return run.plan_parameters(run.resolve_notebooks(names), pf, overrides)


def test_params_file_sections_by_stem_or_number(tmp_path, project):
    text = ('seed: 7\nn_boot: 50\n"03":\n  n_boot: 20\n04_attribution:\n  lookback_days: 14\n'
            "5:\n  horizon_days: 60\n")
    plan = _plan(tmp_path, None, text)
    assert {s: p["seed"] for s, p in plan.items()} == dict.fromkeys(OWN, 7)
    assert plan["03_journey"]["n_boot"] == 20 and plan["04_attribution"]["n_boot"] == 50
    assert plan["04_attribution"]["lookback_days"] == 14 and plan["05_churn"]["horizon_days"] == 60
    # the same file for one notebook: the other notebooks' sections and parameters are passed over
    only = _plan(tmp_path, ["1"], text)
    assert only == {"01_baseline": {"data_dir": None, "as_of": "2026-01-01", "period": "M", "seed": 7,
                                    "periods": 24}}
    # -p still wins over the file
    assert _plan(tmp_path, ["3"], text, [("n_boot", "5")])["03_journey"]["n_boot"] == 5


@pytest.mark.parametrize(("text", "message"), [
    ("seed: 7\n06_mmm:\n  seed: 1\n", r"section '06_mmm' names no notebook: use a notebook name or "
                                      r"its number \(01_baseline, 03_journey, 04_attribution, 05_churn\)"),
    ("'9':\n  seed: 1\n", r"section '9' names no notebook"),
    ("nboot: 3\n", r"no notebook of this run .* has a parameter 'nboot'"),
    ("03_journey:\n  horizon_days: 3\n", r"notebook 03_journey has no parameter 'horizon_days'"),
    ("03_journey: 5\n", r"section '03_journey' \(notebook 03_journey\) must hold parameter names"),
    ("as_of: now\n", r"as_of='now' reads the clock"),
])
def test_params_file_errors_are_one_line(tmp_path, project, text, message):
    with pytest.raises(ParameterError, match=message) as info:
        _plan(tmp_path, ["3", "5"], text)
    assert "\n" not in str(info.value)


def test_the_review_example_params_file_fits_the_real_notebooks(monkeypatch):
    monkeypatch.delenv("CRM_RESEARCH_ROOT", raising=False)
    pf = paths.project_root() / "params" / "review-example.yaml"
    data = __import__("yaml").safe_load(pf.read_text())
    plan = run.plan_parameters(run.resolve_notebooks(), pf)
    sections = [k for k, v in data.items() if isinstance(v, dict)
                and any(str(k) == s or str(k) == s.split("_")[0] for s in plan)]
    assert sections, "the example shows a per-notebook section"
    for stem, params in plan.items():
        for k, v in data.items():
            if k not in sections and k in params:
                assert params[k] == v or str(params[k]) == str(v), (stem, k)
    # and it serves a run of one notebook (the README's `run 05 -f ... -p seed 7`)
    run.plan_parameters(run.resolve_notebooks(["5"]), pf, [("seed", "7")])


# --- validate ------------------------------------------------------------------------------


class _FakeCRM:
    notes = ["12 orders on or after 2025-12-31 ignored"]
    derived = ["customers derived from orders"]

    def tables(self):
        return {"customers": pd.DataFrame({"customer_id": ["a", "b"]}),
                "orders": pd.DataFrame({"order_id": ["o1"]})}


@pytest.fixture
def fake_load(monkeypatch):
    from crm_research import data

    calls = []

    def load(path, mapping=None, *, as_of=None, company_start=None):
        calls.append({"path": path, "mapping": mapping, "as_of": as_of})
        return _FakeCRM()

    monkeypatch.setattr(data, "load", load)
    return calls


@pytest.fixture
def fake_needs(monkeypatch):
    from crm_research import needs

    seen = []

    def capabilities(crm, as_of=None, notebook=None, *, extra_tables=None, **params):
        seen.append(as_of)
        return pd.DataFrame({
            "notebook": ["01_baseline", "02_segmentation", "02_segmentation"],
            "section": ["kpis", "clusters", "cross_sell"],
            "title": ["KPI baseline", "Clusters and personas", "Cross-sell and upsell"],
            "status": ["ok", "fallback", "skip"],
            "reason": ["", "fewer than 50 repeat buyers: levels only", "needs order lines (order_items)"]})

    monkeypatch.setattr(needs, "capabilities", capabilities)
    return seen


def test_validate_applies_the_folders_mapping_and_as_of(tmp_path, capsys, fake_load, fake_needs):
    (tmp_path / "mapping.yml").write_text("timezone: UTC\n")
    assert cli.main(["validate", str(tmp_path), "--as-of", "2025-12-31"]) == 0
    assert fake_load == [{"path": tmp_path, "mapping": tmp_path / "mapping.yml", "as_of": "2025-12-31"}]
    assert fake_needs == ["2025-12-31"]
    out = capsys.readouterr().out
    assert "valid (mapping " in out and "as of 2025-12-31" in out
    assert "  customers               2 rows" in out
    assert "customers derived from orders" in out and "12 orders on or after 2025-12-31 ignored" in out
    lines = out.splitlines()
    assert "  01 baseline · KPI baseline · ok" in lines
    assert "  02 segmentation · Clusters and personas · fallback · fewer than 50 repeat buyers: levels only" in lines
    assert "  02 segmentation · Cross-sell and upsell · skip · needs order lines (order_items)" in lines
    # --mapping given: the folder's file is not used
    other = tmp_path / "other.yaml"
    assert cli.main(["validate", str(tmp_path), "--mapping", str(other)]) == 0
    assert fake_load[-1]["mapping"] == other and fake_load[-1]["as_of"] is None


def test_validate_without_mapping_file_or_loader_notes(tmp_path, capsys, monkeypatch, fake_needs):
    from crm_research import data

    class Plain:
        def tables(self):
            return {"orders": pd.DataFrame({"order_id": ["o1"]})}

    seen = []
    monkeypatch.setattr(data, "load", lambda path, mapping=None, **kw: seen.append(mapping) or Plain())
    assert cli.main(["validate", str(tmp_path)]) == 0
    assert seen == [None]
    out = capsys.readouterr().out
    assert "notes" not in out and "derived" not in out and "Cross-sell and upsell" in out


@pytest.mark.parametrize("bad", ["2025-02-30", "now", "someday"])
def test_validate_bad_as_of_is_one_line_exit_2(tmp_path, capsys, fake_load, bad):
    assert cli.main(["validate", str(tmp_path), "--as-of", bad]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: as_of='{bad}'"), err
    assert fake_load == []


def test_section_reasons_show_quoted_names_as_code_and_nothing_as_markup():
    from crm_research.report import _code_spans

    assert _code_spans("the data has no `order_items` table.") == "the data has no <code>order_items</code> table."
    assert _code_spans("`<script>alert(1)</script>` and `a`") == (
        "<code>&lt;script&gt;alert(1)&lt;/script&gt;</code> and <code>a</code>")
    assert _code_spans("one ` unpaired <b>") == "one ` unpaired &lt;b&gt;"
