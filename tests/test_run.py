"""The runner without the five notebooks: names, parameters, failures, compare, PDF, CLI.

Parameter checks must reject bad input before any kernel starts: ``papermill.execute_notebook``
is replaced by a trap in those tests. The one real execution here is a tiny failing notebook.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from crm_research import cli, report, run
from crm_research.errors import CRMError, NotebookFailed, ParameterError
from crm_research.run import execute

ALL = ["01_baseline", "02_segmentation", "03_journey", "04_attribution", "05_churn"]


def _nb(path: Path, params: str, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# A test notebook"), p,
                *[nbformat.v4.new_code_cell(c) for c in cells]]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.fixture(autouse=True)
def own_keys(monkeypatch, tmp_path):
    """Named keys in this test's configuration folder, never the user's."""
    from crm_research import privacy

    monkeypatch.setenv(privacy.ENV_CONFIG_DIR, str(tmp_path / "config"))
    monkeypatch.delenv(privacy.ENV_KEY_NAME, raising=False)


@pytest.fixture
def no_kernel(monkeypatch):
    """Fail the test if anything tries to execute a notebook."""
    import papermill

    calls = []

    def trap(*args, **kwargs):
        calls.append(args)
        raise AssertionError("a kernel was started")

    monkeypatch.setattr(papermill, "execute_notebook", trap)
    return calls


# --- names ---------------------------------------------------------------------------------


def test_resolve_notebooks_by_number_stem_file_and_topic(tmp_path):
    assert [p.stem for p in run.resolve_notebooks()] == ALL
    got = run.resolve_notebooks(["5", "02_segmentation", "03_journey.ipynb", "attribution", "05"])
    assert [p.stem for p in got] == ["05_churn", "02_segmentation", "03_journey", "04_attribution"]
    own = _nb(tmp_path / "mine.ipynb", "x = 1  # a number")
    assert run.resolve_notebooks([str(own)]) == [own.resolve()]
    with pytest.raises(ParameterError, match="no notebook '9'.*01_baseline"):
        run.resolve_notebooks(["9"])


# --- parameters ----------------------------------------------------------------------------

COMMON = ('data_dir = None  # data folder\nas_of = "2026-01-01"  # analysis date\nperiod = "M"  # period\n'
          'seed = 42  # random seed\nrun_dir = None  # run folder\n')
OWN = {
    "01_baseline": "periods = 24  # periods shown\nactive_window_days = 90  # active window (days)",
    "02_segmentation": "lookback_days = 365  # look-back (days)\nmax_orders = 10  # top bin",
    "03_journey": "lookback_days = 365  # look-back (days)",
    "04_attribution": "lookback_days = 30  # look-back (days)",
    "05_churn": "bin_days = 30  # bin width (days)\nchurn_after_days = 180  # lapse threshold (days)",
}


@pytest.fixture
def stand_in_project(tmp_path, monkeypatch):
    """A project whose five notebooks have fixed parameters, so the runner's parameter rules
    are tested independently of what the real notebooks declare."""
    root = tmp_path / "project"
    (root / "notebooks").mkdir(parents=True)
    for stem, own in OWN.items():
        _nb(root / "notebooks" / f"{stem}.ipynb", COMMON + own, "x = 1")
    monkeypatch.setenv("CRM_RESEARCH_ROOT", str(root))
    return root



def test_every_notebook_declares_the_common_parameters_with_comments():
    for path in run.resolve_notebooks():
        params = run.notebook_parameters(path)
        assert {"data_dir", "as_of", "seed", "run_dir"} <= set(params), path.name
        # period only where the notebook reports by period (02 and 05 declared it unused: issue 18)
        assert ("period" in params) == (path.stem in {"01_baseline", "03_journey", "04_attribution"}), path.name
        own = set(params) - {"data_dir", "as_of", "period", "seed", "run_dir"}
        assert own, path.name  # every notebook has at least one parameter of its own
        assert all(p.help for p in params.values()), path.name
        assert params["data_dir"].default is None and params["run_dir"].default is None


@pytest.mark.parametrize(("default", "given", "expected"), [
    (3, "4", 4), (3, 5.0, 5), (0.5, "2", 2.0), (0.5, 1, 1.0), (True, "no", False), (False, "YES", True),
    ("M", "W", "W"), ("2026-01-01", pd.Timestamp("2025-06-30").date(), "2025-06-30"),
    (None, "data/x", "data/x"), (None, Path("/d"), "/d"), (None, "none", None), ([1], "[2, 3]", [2, 3]),
])
def test_coerce_to_the_default_type(default, given, expected):
    assert run.coerce(given, run.Param("x", default, True, ""), "nb") == expected


@pytest.mark.parametrize(("default", "given"), [
    (3, "three"), (3, "4.5"), (3, True), (0.5, "x"), (0.5, "nan"), (True, "maybe"), ("M", [1]),
    (None, 5), (3, None), ([1], "{a: 1}"),
])
def test_coerce_rejects_with_a_clear_message(default, given):
    with pytest.raises(ParameterError, match=r"nb: parameter x=.* is not a valid"):
        run.coerce(given, run.Param("x", default, True, ""), "nb")


def test_parameter_precedence_file_then_data_then_overrides(tmp_path, stand_in_project):
    nbs = run.resolve_notebooks(["1", "5"])
    pf = tmp_path / "params.yaml"
    pf.write_text("as_of: 2025-07-01\nperiod: W\nbin_days: 14\n05_churn:\n  churn_after_days: 90\n"
                  "1:\n  periods: 6\n")
    plan = run.plan_parameters(nbs, pf, [("period", "M"), ("churn.bin_days", "7")], data_dir=tmp_path)
    b, c = plan["01_baseline"], plan["05_churn"]
    assert b["as_of"] == c["as_of"] == "2025-07-01"  # YAML date → text
    assert b["period"] == c["period"] == "M"  # -p beats the file
    assert b["periods"] == 6 and b["active_window_days"] == 90  # section value, default
    assert c["bin_days"] == 7 and c["churn_after_days"] == 90
    assert b["data_dir"] == c["data_dir"] == str(tmp_path)
    assert "run_dir" not in b


@pytest.mark.parametrize(("overrides", "message"), [
    ([("bin_day", "3")], r"notebook 05_churn has no parameter 'bin_day' \(did you mean 'bin_days'\?\)"),
    ([("05_churn.bin_days", "wide")], r"05_churn: parameter bin_days='wide' is not a valid int"),
    ([("period", "Q")], r"05_churn: period='Q' is not supported"),
    ([("as_of", "yesterday")], r"05_churn: as_of='yesterday' is not a date"),
    ([("as_of", "today")], r"05_churn: as_of='today' reads the clock: give a fixed date"),
    ([("run_dir", "/tmp/x")], r"run_dir is chosen by the runner"),
])
def test_bad_parameters_are_rejected_before_any_kernel(overrides, message, tmp_path, no_kernel,
                                                         stand_in_project):
    with pytest.raises(ParameterError, match=message):
        run.run_notebooks(["5"], overrides=overrides, out_dir=tmp_path / "runs")
    assert no_kernel == []
    assert not (tmp_path / "runs").exists()


def test_unknown_parameter_of_a_multi_notebook_run_names_the_notebooks(tmp_path, no_kernel,
                                                                        stand_in_project):
    with pytest.raises(ParameterError, match=r"no notebook of this run \(01_baseline, 02_segmentation\)"):
        run.run_notebooks(["1", "2"], overrides=[("bins", "3")], out_dir=tmp_path)
    with pytest.raises(ParameterError, match=r"notebook 01_baseline has no parameter 'max_orders'"):
        run.run_notebooks(["1", "2"], overrides=[("1.max_orders", "3")], out_dir=tmp_path)
    pf = tmp_path / "p.yaml"
    pf.write_text("02_segmentation:\n  lookback: 30\n")
    with pytest.raises(ParameterError, match=r"02_segmentation has no parameter 'lookback'"):
        run.run_notebooks(["1", "2"], params_file=pf, out_dir=tmp_path)
    with pytest.raises(ParameterError, match="does not exist"):
        run.run_notebooks(["1"], data_dir=tmp_path / "missing", out_dir=tmp_path)
    assert no_kernel == []


def test_unparseable_parameter_line_is_an_error(tmp_path, no_kernel):
    nb = _nb(tmp_path / "eq.ipynb", "x = 1  # a = b breaks papermill's parser\ny = 2  # fine")
    with pytest.raises(ParameterError, match="cannot read parameter.*x"):
        run.run_notebooks([str(nb)], out_dir=tmp_path)
    assert no_kernel == []


# --- failure -------------------------------------------------------------------------------


def test_failing_notebook_gives_one_line_and_a_failed_run_folder(tmp_path):
    nb = _nb(tmp_path / "boom.ipynb", "run_dir = None  # run folder\nlimit = 3  # a limit",
             "x = limit * 2\nprint('before the error', x)", "# explode on purpose\nraise ValueError('bad input')",
             "print('never')")
    with pytest.raises(NotebookFailed) as info:
        run.run_notebooks([str(nb)], out_dir=tmp_path / "runs")
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("notebook boom failed in cell 4 `# explode on purpose`: ValueError: bad input")
    folder = next((tmp_path / "runs").iterdir())
    assert (folder / "FAILED").read_text().strip() == msg
    assert info.value.run_dir == folder and info.value.failures == [msg]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["notebooks"][0]["status"] == "failed"
    assert manifest["notebooks"][0]["failure"] == {
        "cell": 4, "exception": "ValueError", "message": "bad input",
        "sentence": "This report stopped at cell 4: ValueError: bad input."}
    executed = nbformat.read(folder / "notebooks" / "boom.ipynb", as_version=4)
    outputs = "".join(json.dumps(c.get("outputs", [])) for c in executed.cells)
    assert "before the error 6" in outputs and "never" not in outputs
    assert "failed" in (folder / "index.html").read_text()
    # the CLI prints the same line and exits 1 (a failed notebook, not a bad command)
    assert cli.main(["run", str(nb), "--out", str(tmp_path / "cli")]) == 1


def _table_nb(path: Path, value: int) -> Path:
    return _nb(path, f"run_dir = None  # run folder\nvalue = {value}  # a number\nseed = 1  # seed",
               "import pandas as pd\nfrom crm_research import notebook as nb\nrun = nb.setup('" + path.stem
               + "', run_dir, seed)", f"run.save_table(pd.DataFrame({{'x': [value, value * 2]}}), '{path.stem}_t')")


def test_parallel_run_equals_serial_and_fail_fast_stops_starting_after_a_failure(tmp_path):
    a, b = _table_nb(tmp_path / "a.ipynb", 3), _table_nb(tmp_path / "b.ipynb", 5)
    serial = run.run_notebooks([str(a), str(b)], out_dir=tmp_path / "s", jobs=1)
    both = run.run_notebooks([str(a), str(b)], out_dir=tmp_path / "p", jobs=2)
    for name in ("a_t.csv", "b_t.csv"):
        assert (serial / "tables" / name).read_bytes() == (both / "tables" / name).read_bytes()
    assert (both / "tables" / "b_t.csv").read_text().split() == ["x", "5", "10"]
    manifest = json.loads((both / "manifest.json").read_text())
    assert [m["status"] for m in manifest["notebooks"]] == ["ok", "ok"]
    assert all(m["name"] in (both / "index.html").read_text() for m in manifest["notebooks"])
    # one job, --fail-fast: after a failure the next notebook is not started
    boom = _nb(tmp_path / "boom.ipynb", "run_dir = None  # run folder", "raise ValueError('bad')")
    with pytest.raises(NotebookFailed, match="notebook boom failed"):
        run.run_notebooks([str(boom), str(a)], out_dir=tmp_path / "f", jobs=1, fail_fast=True)
    manifest = json.loads((next((tmp_path / "f").iterdir()) / "manifest.json").read_text())
    assert [m["status"] for m in manifest["notebooks"]] == ["failed", "skipped"]


# --- compare -------------------------------------------------------------------------------


def _fake_run(folder: Path, tables: dict[str, pd.DataFrame], status: str = "ok") -> Path:
    (folder / "tables").mkdir(parents=True)
    for name, df in tables.items():
        df.to_csv(folder / "tables" / f"{name}.csv", index=False)
    (folder / "manifest.json").write_text(json.dumps({"run": folder.name, "status": status, "notebooks": []}))
    return folder


def test_compare_runs_side_by_side(tmp_path):
    a = _fake_run(tmp_path / "a", {
        "spend": pd.DataFrame({"campaign": ["x", "y"], "cost": [100.0, 50.0], "clicks": [10, 5]}),
        "old": pd.DataFrame({"n": [1]}),
    })
    b = _fake_run(tmp_path / "b", {
        "spend": pd.DataFrame({"campaign": ["y", "x", "z"], "cost": [50.0, 110.0, 1.0], "clicks": [5, 10, 1]}),
        "new": pd.DataFrame({"n": [1]}),
    })
    text = run.compare_runs(a, b, out=tmp_path / "cmp")
    assert "## spend" in text and "Only in A (a): old" in text and "Only in B (b): new" in text
    df = pd.read_csv(tmp_path / "cmp" / "spend.csv")
    x = df.set_index("campaign").loc["x"]
    assert x["cost A"] == 100 and x["cost B"] == 110 and x["cost change"] == 10 and x["cost change %"] == 10
    assert pd.isna(df.set_index("campaign").loc["z", "cost A"])
    assert (tmp_path / "cmp" / "comparison.md").read_text() == text
    with pytest.raises(Exception, match="not a run folder"):
        run.compare_runs(tmp_path, b)
    # a table mapped back to ids is never compared
    pd.DataFrame({"customer_id": ["C1"]}).to_csv(a / "tables" / "spend.reidentified.csv", index=False)
    assert "reidentified" not in run.compare_runs(a, b)


# --- pdf -----------------------------------------------------------------------------------


def test_pdf_without_chromium_says_so(tmp_path, monkeypatch):
    from crm_research.run import lifecycle

    monkeypatch.setattr(report, "find_chromium", lambda: None)
    messages = []
    manifest = {"notebooks": [{"name": "x"}], "audience": "client"}
    assert execute._print_pdfs(tmp_path, [tmp_path / "x.html"], manifest, lifecycle.Stopper(), messages.append) == []
    assert messages == [report.NO_CHROMIUM] and "pdf" not in manifest["notebooks"][0]
    assert "no Chromium found" in messages[0] and "HTML reports are written" in messages[0]


@pytest.mark.skipif(report.find_chromium() is None,
                    reason="Chromium not installed (apt-get install chromium); PDF printing untested")
def test_pdf_with_chromium(tmp_path):
    page = tmp_path / "r.html"
    page.write_text("<html><body><h1>Report</h1><p>Hello</p></body></html>")
    pdf = report.print_pdf(page, tmp_path / "r.pdf", report.find_chromium())
    assert pdf.read_bytes()[:5] == b"%PDF-"


def _pdf_text(pdf: Path) -> str:
    import pypdfium2

    doc = pypdfium2.PdfDocument(str(pdf))
    try:
        return "".join(page.get_textpage().get_text_range() for page in doc)
    finally:
        doc.close()


@pytest.mark.skipif(report.find_chromium() is None,
                    reason="Chromium not installed (apt-get install chromium); PDF printing untested")
def test_one_printer_prints_every_page_and_survives_a_bad_one(tmp_path):
    pages = []
    for i, body in enumerate(["<h1>First report</h1>",
                              "<h1>Second</h1><script>document.body.innerHTML='PWNED'</script>",  # no policy
                              "<h1>Third</h1>"]):
        pages.append(tmp_path / f"r{i}.html")
        pages[-1].write_text(f"<!DOCTYPE html><html><body>{body}</body></html>")
    with report.PdfPrinter(report.find_chromium()) as printer:
        printer.CLOSE_S = 60  # a tab slow to close under load would replace the browser before the kill below
        first = printer.print(pages[0], tmp_path / "r0.pdf")
        with pytest.raises(CRMError, match="could not print missing.html: net::ERR_FILE_NOT_FOUND"):
            printer.print(tmp_path / "missing.html", tmp_path / "missing.pdf")
        second = printer.print(pages[1], tmp_path / "r1.pdf")
        printer._proc.kill()  # the browser dies between two pages: the next page gets a new one
        printer._proc.wait()
        third = printer.print(pages[2], tmp_path / "r2.pdf")
    assert "First report" in _pdf_text(first) and "Third" in _pdf_text(third)
    assert "Second" in _pdf_text(second) and "PWNED" not in _pdf_text(second)  # scripts are off
    assert not (tmp_path / "missing.pdf").exists() and not list(tmp_path.glob(".*.part"))
    assert printer._proc is None and not list(Path(printer._profile.name).parent.glob(
        Path(printer._profile.name).name))  # the browser and its profile are gone


_FAKE_BROWSER = """
import json, os, sys
from pathlib import Path

# a stand-in for Chromium on the DevTools pipe; the first one started goes wrong as FAULT says
# ("hang": never answers Page.printToPDF; "missing", "list", "text": answers the opening of a tab
# with what the protocol does not allow), the next ones answer as Chromium does
first = not Path(sys.argv[0] + ".started").exists()
Path(sys.argv[0] + ".started").touch()
buffer = b""
while chunk := os.read(3, 65536):
    buffer += chunk
    while b"\\0" in buffer:
        raw, buffer = buffer.split(b"\\0", 1)
        m = json.loads(raw)
        answer = {"id": m["id"], "result": {}}
        if m["method"] == "Browser.close":
            sys.exit(0)
        if m["method"] == "Page.printToPDF":
            if first and FAULT == "hang":
                continue
            answer["result"] = {"data": "JVBERi0xLjQK"}  # %PDF-1.4
        elif m["method"] == "Target.createTarget":
            answer["result"] = {"targetId": "T"}
            if first and FAULT != "hang":
                answer = {"missing": {"id": m["id"], "result": {}}, "list": [m["id"]], "text": "not json"}[FAULT]
        elif m["method"] == "Target.attachToTarget":
            answer["result"] = {"sessionId": "S"}
        os.write(4, (answer if isinstance(answer, str) else json.dumps(answer)).encode() + b"\\0")
        if m["method"] == "Page.navigate":
            os.write(4, json.dumps({"method": "Page.loadEventFired", "params": {}, "sessionId": "S"}).encode() + b"\\0")
"""


def _fake_browser(tmp_path: Path, fault: str) -> tuple[Path, Path]:
    """The fake browser (:data:`_FAKE_BROWSER`) with ``fault`` as an executable, and a page to print."""
    import sys

    fake = tmp_path / "fake-chromium"
    fake.write_text(f"#!{sys.executable}\nFAULT = {fault!r}\n{_FAKE_BROWSER}")
    fake.chmod(0o755)
    page = tmp_path / "p.html"
    page.write_text("<p>report</p>")
    return fake, page


@pytest.mark.parametrize("fault, timeout, message", [
    ("hang", 1, r"^Chromium did not finish print p\.html within 1 s$"),
    *[(shape, 5, r"^Chromium gave an unreadable answer while it tried to print p\.html$")
      for shape in ("missing", "list", "text")],
])
def test_a_hung_or_garbling_browser_is_killed_and_the_next_page_gets_a_new_one(tmp_path, fault, timeout,
                                                                              message):
    fake, page = _fake_browser(tmp_path, fault)
    with report.PdfPrinter(str(fake), timeout=timeout) as printer:
        bad = printer._proc.pid
        with pytest.raises(CRMError, match=message):
            printer.print(page, tmp_path / "bad.pdf")
        assert printer._proc is None
        with pytest.raises(ProcessLookupError):
            os.kill(bad, 0)  # killed and reaped, not left behind
        assert printer.print(page, tmp_path / "p.pdf").read_bytes() == b"%PDF-1.4\n"
        assert printer._proc.pid != bad
    assert not (tmp_path / "bad.pdf").exists() and not list(tmp_path.glob(".*.part"))


def test_a_printer_that_is_no_browser_says_so_in_one_line(tmp_path):
    with pytest.raises(CRMError, match=r"^Chromium could not start \(exit 1\): no message$"):
        report.PdfPrinter("/bin/false").__enter__()
    with pytest.raises(CRMError, match=r"^Chromium could not be started: /nonexistent/chromium is no executable$"):
        report.PdfPrinter("/nonexistent/chromium").__enter__()


@pytest.mark.skipif(report.find_chromium() is None,
                    reason="Chromium not installed (apt-get install chromium); PDF printing untested")
def test_erasure_prints_every_redacted_report_again(tmp_path):
    from crm_research.run import erasure

    reports = set()
    for stem, words in (("01_baseline", "Baseline after erasure"), ("05_churn", "Churn after erasure")):
        page = tmp_path / f"{stem}.html"
        page.write_text(f"<!DOCTYPE html><html><body><p>{words}</p></body></html>")
        (tmp_path / f"{stem}.pdf").write_bytes(b"%PDF-1.4 stale, with the erased id")
        reports.add(page)
    result = erasure.Erasure()
    erasure._refresh_pdfs(reports, result)
    assert sorted(p.name for p in result.reprinted) == ["01_baseline.pdf", "05_churn.pdf"]
    assert result.deleted == []
    assert "Churn after erasure" in _pdf_text(tmp_path / "05_churn.pdf")


def test_erasure_deletes_every_stale_pdf_when_printing_breaks(tmp_path, monkeypatch):
    """A disk that fills up while the first report prints: neither PDF keeps the erased id (both
    deleted and listed), and the browser is not asked again."""
    from crm_research.run import erasure

    calls = []

    class Broken:
        def __init__(self, chromium):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def print(self, html, pdf):
            calls.append(html.name)
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(report, "find_chromium", lambda: "/usr/bin/chromium")
    monkeypatch.setattr(report, "PdfPrinter", Broken)
    reports = set()
    for stem in ("01_baseline", "05_churn"):
        page = tmp_path / f"{stem}.html"
        page.write_text("<!DOCTYPE html><html><body><p>after erasure</p></body></html>")
        (tmp_path / f"{stem}.pdf").write_bytes(b"%PDF-1.4 stale, with the erased id")
        reports.add(page)
    result = erasure.Erasure()
    erasure._refresh_pdfs(reports, result)
    assert sorted(p.name for p in result.deleted) == ["01_baseline.pdf", "05_churn.pdf"]
    assert result.reprinted == [] and not list(tmp_path.glob("*.pdf"))
    assert calls == ["01_baseline.html"]


def test_run_folders_are_never_reused(tmp_path):
    plan = {"01_baseline": {"seed": 1}}
    first = execute._new_run_folder(tmp_path, plan)
    (first / "keep.txt").write_text("x")
    second = execute._new_run_folder(tmp_path, plan)
    assert second != first and (first / "keep.txt").exists()
    assert first.name.startswith("run-") and len(first.name.split("-")[-1]) == 7
    if second.name.startswith(first.name):  # same second: a suffix, never the same folder
        assert second.name == f"{first.name}-2"
