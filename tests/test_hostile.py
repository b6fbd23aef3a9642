"""Hostile data cannot reach a client as markup or as a formula (issue 14).

Package level first (fast): tables (``nb.show``), Markdown values (``nb.text``), the notes the
context displays, CSV files (``write_csv``), the report's HTML clean-up, figures with very long
labels and the PDF printer. Then one whole run of the five notebooks on the hostile company
(``tests/hostile``: every text column of every table planted) next to a run on its harmless
twin (the same names, as long, each payload replaced by ``x``): no executable markup in any
report or in the index (checked on the parsed HTML, tags and attributes, not on substrings), no
CSV cell that a spreadsheet would run, and reports with the twin's headings and page counts.
The twin, not the clean company, is the reference: hostile names are longer than the clean ones,
and longer channel names alone add a page to a table of paths.
"""

from __future__ import annotations

import csv
import html
import json
import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from crm_research import data, report, synthetic  # noqa: E402
from crm_research import notebook as nb  # noqa: E402
from hostile import FORMULA_START, LONG, PAYLOADS, UNTOUCHED, build, planted_columns  # noqa: E402

HOSTILE_CUSTOMERS = 800
STEMS = ["01_baseline", "02_segmentation", "03_journey", "04_attribution", "05_churn"]


class Executable(HTMLParser):
    """Everything in a page that could run code or call out, from the parse: script-bearing
    elements, ``on*`` attributes, ``javascript:``-like or remote URLs. Text that merely reads
    ``onerror`` or ``<script>`` (escaped) is not a finding."""

    ELEMENTS = {"script", "iframe", "frame", "object", "embed", "applet", "base", "link", "svg", "math"}
    URLS = {"href", "src", "action", "formaction", "xlink:href", "data", "poster", "background", "srcset"}

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        if tag in self.ELEMENTS:
            self.found.append(f"<{tag}>")
        if tag == "meta" and any(k == "http-equiv" and (v or "").lower() == "refresh" for k, v in attrs):
            self.found.append("<meta refresh>")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=>")
            if name in self.URLS and value:
                v = re.sub(r"[\x00-\x20]+", "", value).lower()
                if v.startswith(("javascript:", "vbscript:", "http:", "https:", "//")) or (
                        v.startswith("data:") and not v.startswith("data:image/png")):
                    self.found.append(f"<{tag} {name}={value[:30]!r}>")

    handle_startendtag = handle_starttag


def executable(page: str) -> list[str]:
    p = Executable()
    p.feed(page)
    p.close()
    return p.found


def visible_text(page: str) -> str:
    """The text a reader sees (entities decoded), without style sheets."""
    class Text(HTMLParser):
        def __init__(self):
            super().__init__()
            self.parts, self.skip = [], 0

        def handle_starttag(self, tag, attrs):
            self.skip += tag in ("style", "script")

        def handle_endtag(self, tag):
            self.skip -= tag in ("style", "script") and self.skip > 0

        def handle_data(self, d):
            if not self.skip:
                self.parts.append(d)

    t = Text()
    t.feed(page)
    return "".join(t.parts)


def formula_cells(path: Path) -> list[str]:
    """Cells of a CSV file a spreadsheet would evaluate: text starting with = + - @ tab CR that is
    not a plain number."""
    bad = []
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            for cell in row:
                if cell.startswith(FORMULA_START):
                    try:
                        float(cell)
                    except ValueError:
                        bad.append(cell[:40])
    return bad


def hostile_frame() -> pd.DataFrame:
    return pd.DataFrame({"channel": list(PAYLOADS), "n": range(len(PAYLOADS)),
                         "share": [i / 20 for i in range(len(PAYLOADS))]})


# --- tables --------------------------------------------------------------------------------


def test_show_escapes_every_cell_and_header():
    df = hostile_frame()
    wide = df.pivot_table(index="n", columns="channel", values="share").reset_index()  # payloads as headers
    for styler in (nb.show(df), nb.show(wide), nb.show(df).format("{}", subset=["channel"]),
                   nb.show(df).format(lambda v: v, subset=["channel"]),
                   nb.show_by_unit(df.assign(unit="share"), ["share"])):
        page = styler.to_html()
        assert executable(page) == [], executable(page)
        assert "<img" not in page and "<script" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in nb.show(wide).to_html()  # a header, escaped
    # numbers keep their formats
    page = nb.show(pd.DataFrame({"x": ["<b>"], "n": [12345], "share": [0.1234]})).to_html()
    assert "12,345" in page and "12.3%" in page and "&lt;b&gt;" in page


def test_show_cuts_long_text_and_keeps_long_headers_apart():
    df = pd.DataFrame({"name": [LONG, "short"], LONG: [1, 2], LONG[:-1] + "x": [3, 4]})
    view = nb.show(df)
    text = visible_text(view.to_html())
    assert LONG not in text and "…" in text
    assert len(view.data.columns.unique()) == 3  # two long names alike stay two columns
    assert all(len(str(c)) <= nb.TEXT_LIMIT for c in view.data.columns)
    assert view.data["name"].iloc[0] == LONG[: nb.TEXT_LIMIT - 1] + "…"
    assert df["name"].iloc[0] == LONG  # the caller's frame is untouched


def test_styled_tables_in_a_notebook_escape_by_default(tmp_path):
    nb.setup("01_test", tmp_path)
    assert "&lt;script&gt;" in pd.DataFrame({"x": ["<script>"]}).style.to_html()


# --- markdown -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [*PAYLOADS, "# heading", "- item", "1. item", "| a | b |", "`code`", "*em* _u_",
                                   "$x$", "<http://evil>", "http://evil.example/x", "a\nb\r\n# c", "x\\y", "&amp;"])
def test_text_shows_a_value_as_itself_and_nothing_else(value):
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    for code in (False, True):
        md = f"Segment **{nb.text(value, code=code)}** done."
        page = markdown2html_mistune(md)  # the report's Markdown renderer
        assert executable(page) == [], (value, page)
        p = Executable()
        p.feed(page)
        assert p.tags <= {"p", "strong", "code"}, (value, page)  # no link, image, heading, list, table
        expected = re.sub(r"[\r\n]", " ", value)
        if len(expected) > nb.TEXT_LIMIT:
            expected = expected[: nb.TEXT_LIMIT - 1] + "…"
        shown = visible_text(page).strip("\n")
        assert shown.replace("\u2068", "").replace("\u2069", "") == f"Segment {expected} done.", (value, shown)


def test_text_isolates_right_to_left_overrides_and_misses_nothing():
    assert nb.text("\u202eevil") == "\u2068\u202eevil\u2069"
    assert nb.text("plain") == "plain"
    assert nb.text(None) == "" and nb.text(float("nan")) == "" and nb.text(3) == "3"
    assert nb.text(LONG, limit=None).count("A") == 2500


def test_notes_and_section_reasons_are_escaped_with_their_names_as_code(tmp_path, monkeypatch):
    ctx = nb.setup("01_test", tmp_path)
    ctx._meta["data_notes"] = ["Column `<img src=x onerror=alert(1)>` was left out", "[x](javascript:alert(1))"]
    md = ctx.data_notes().data
    assert "<img" not in md and "<code>&lt;img src\\=x onerror\\=alert\\(1\\)&gt;</code>" in md
    assert "](javascript" not in md
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj.data))

    class Verdict:
        status, reason = "skip", "no `<script>` column"
        note = "Skipped: the data has no `<script>alert(1)</script>` column"
        section = type("S", (), {"title": "t", "key": "k"})

    ctx._verdicts = {"k": Verdict()}
    ctx.section("k")
    assert len(shown) == 1 and "<script" not in shown[0]
    assert "<code>&lt;script&gt;alert\\(1\\)&lt;\\/script&gt;</code>" in shown[0]


# --- CSV ------------------------------------------------------------------------------------


def test_write_csv_neutralises_formulas_and_leaves_numbers(tmp_path):
    df = pd.DataFrame({
        "text": ["=1+1", '=HYPERLINK("http://evil","p")', "+cmd", "-2+3", "@SUM(1)", "\t=1", "\r=1", "-5", "x\r=1+1", None],
        "number": [-1.5, -2.0, 3.0, 0.0, -0.25, 1.0, 2.0, -5.0, 7.0, None],
        "count": pd.array([-1, 2, 3, 4, 5, 6, 7, 8, 9, None], dtype="Int64"),
        "string": pd.array(["=x", "y", "@z", "-", "", "a", "b", "c", "d", pd.NA], dtype="string"),
        "category": pd.Categorical(["+a", "b"] * 5),
        "=header": range(10),
    })
    path = tmp_path / "t.csv"
    nb.write_csv(df, path)
    first = path.read_bytes()
    nb.write_csv(df, path)
    assert path.read_bytes() == first  # the same bytes for the same data
    assert formula_cells(path) == []
    back = pd.read_csv(path, keep_default_na=False, dtype=str)
    assert list(back.columns) == ["text", "number", "count", "string", "category", "'=header"]
    assert back["text"].tolist()[:9] == ["'=1+1", "'=HYPERLINK(\"http://evil\",\"p\")", "'+cmd", "'-2+3", "'@SUM(1)",
                                         "'\t=1", "'\n=1", "'-5", "x\n=1+1"]  # a CR never ends a row
    assert back["number"].tolist()[:2] == ["-1.5", "-2.0"] and back["count"].tolist()[0] == "-1"  # numbers untouched
    assert back["string"].tolist()[:4] == ["'=x", "y", "'@z", "'-"] and back["category"].tolist()[:2] == ["'+a", "b"]
    assert df["text"].iloc[0] == "=1+1"  # the caller's frame is untouched


def test_write_csv_without_formula_cells_writes_what_it_always_wrote(tmp_path):
    df = pd.DataFrame({"path": ["email > social", "(no touch)"], "value": [-1.25, 2.0], "n": [-3, 4],
                       "day": pd.to_datetime(["2025-01-01", "2025-02-01"], utc=True)})
    nb.write_csv(df, tmp_path / "t.csv")
    expected = df.assign(day=["2025-01-01", "2025-02-01"]).to_csv(index=False, lineterminator="\n")
    assert (tmp_path / "t.csv").read_text(encoding="utf-8") == expected


# --- reports ---------------------------------------------------------------------------------

EVIL_PAGE = """<!DOCTYPE html><html><head><title>t</title></head><body>
<p>a &lt;script&gt; b</p><img src=x onerror=alert(1)><script>alert(2)</script>
<a href="jav&#x09;ascript:alert(3)">x</a><a href=" JAVASCRIPT:alert(4)">y</a><a href="data:text/html,x">d</a>
<svg onload=alert(5)><a xlink:href="javascript:x">z</a></svg><iframe src="http://evil"><p>in</p></iframe>
<div style="background:url(javascript:alert(6))">s</div><style>p{color:red}</style><style>a{}</style><img src=x>
<meta http-equiv="refresh" content="0;url=javascript:alert(7)"><object data="x.swf"></object><embed src="x">
<base href="http://evil/"><link rel=stylesheet href="http://evil/x.css"><form action="javascript:x">
<button formaction=javascript:y>b</button></form><noscript><img src=x onerror=alert(8)></noscript>
<img src="data:image/png;base64,AAAA"><a href="tables/x.csv">ok</a><!-- <script>alert(9)</script> --></body></html>"""


def test_sanitize_html_keeps_text_and_drops_everything_executable():
    page = report.sanitize_html(EVIL_PAGE)
    assert executable(page) == [], executable(page)
    assert "<p>a &lt;script&gt; b</p>" in page  # escaped text stays text
    assert '<img src="data:image/png;base64,AAAA">' in page and '<a href="tables/x.csv">ok</a>' in page
    assert "<style>p{color:red}</style>" in page
    head = page.split("<head>", 1)[1]
    assert head.startswith('<meta http-equiv="Content-Security-Policy"')  # first in <head>
    assert "script-src" not in report.CSP and "default-src 'none'" in report.CSP  # no script source at all
    assert report.sanitize_html(page) == page  # a clean page passes unchanged


def test_report_escapes_even_raw_html_and_markdown_outputs():
    cell = nbformat.v4.new_code_cell("x", outputs=[
        nbformat.v4.new_output("display_data", data={"text/html": "<img src=x onerror=alert(1)><b>bold</b>",
                                                     "text/plain": "x"}),
        nbformat.v4.new_output("display_data", data={"text/markdown": "<script>alert(2)</script> [c](javascript:x)",
                                                     "text/plain": "x"}),
        nbformat.v4.new_output("display_data", data={"text/html": nb.show(hostile_frame()).to_html(),
                                                     "text/plain": "x"}),
    ])
    page = report.notebook_html(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# T"), cell]),
                                "<script>alert(3)</script>")
    assert executable(page) == [], executable(page)
    assert "<b>bold</b>" in page and "Content-Security-Policy" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the table's value, as text


def test_index_carries_the_policy_and_the_tables_note(tmp_path):
    manifest = {"run": "<script>r</script>", "status": "ok", "notebooks": [
        {"name": "01_x", "title": "<img src=x onerror=alert(1)>", "status": "ok", "report": "01_x.html",
         "tables": ["t"], "headlines": [{"name": "<svg onload=alert(1)>", "text": "=1+1"}]}]}
    page = report.write_index(tmp_path, manifest).read_text()
    assert executable(page) == [], executable(page)
    assert "Content-Security-Policy" in page and "leading apostrophe" in page


def test_figures_cut_long_labels(tmp_path):
    ctx = nb.setup("01_test", tmp_path)
    fig, (a, b) = plt.subplots(1, 2)
    a.bar([LONG, "b", "$x$ and $"], [1, 2, 3])
    a.set_title(LONG)
    b.imshow([[1, 2], [3, 4]])
    b.set_xticks([0, 1], labels=[LONG, "x"])
    b.set_yticks([0, 1], labels=["y", LONG])
    b.plot([0, 1], [0, 1], label=LONG)
    b.legend()
    ctx.save_figure(fig, "long")
    width, height = struct.unpack(">II", (tmp_path / "figures" / "long.png").read_bytes()[16:24])
    assert width < 4000 and height < 2000, (width, height)  # uncut: ~90,000 pixels wide
    plt.close(fig)


@pytest.mark.skipif(report.find_chromium() is None or shutil.which("pdftotext") is None,
                    reason="needs Chromium and pdftotext (poppler-utils)")
def test_pdf_printing_runs_no_script_and_fetches_nothing(tmp_path):
    page = report.sanitize_html("<!DOCTYPE html><html><head></head><body><h1>Original</h1></body></html>")
    # put back what the clean-up removes: only the policy and the printer stand in the way now
    page = page.replace("</body>", "<img src=x onerror=\"document.body.innerHTML='PWNED'\">"
                                   "<script>document.body.innerHTML='PWNED'</script>"
                                   "<img src='http://127.0.0.1:9/x.png'></body>")
    (tmp_path / "p.html").write_text(page)
    pdf = report.print_pdf(tmp_path / "p.html", tmp_path / "p.pdf", report.find_chromium())
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Original" in text and "PWNED" not in text


# --- the corpus ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def companies(tmp_path_factory) -> tuple[Path, Path, Path]:
    """The clean synthetic company (800 contacts), its hostile copy and the hostile copy's
    harmless twin (names as long, no payload)."""
    base = tmp_path_factory.mktemp("hostile")
    clean = synthetic.write(base / "clean", n_customers=HOSTILE_CUSTOMERS, seed=7)
    return clean, build(clean, base / "hostile"), build(clean, base / "twin", twin=True)


def test_the_corpus_plants_every_text_column_and_still_loads(companies):
    clean, hostile, twin = companies
    planted = planted_columns(hostile)
    for column, payloads in planted.items():
        if column not in UNTOUCHED:
            assert payloads, f"{column} holds no hostile value"
    assert set().union(*planted.values()) == set(PAYLOADS)  # every payload somewhere
    assert len(planted[("events", "event")]) == len(PAYLOADS)  # the extra hostile events
    a, b = data.load(clean), data.load(hostile)
    for name, table in a.tables().items():
        extra = len(PAYLOADS) * 3 if name == "events" else 0
        assert len(b.tables()[name]) == len(table) + extra, name
    truth = json.loads((hostile / "truth.json").read_text())
    assert all(ch.split(" ")[-1] in json.loads((clean / "truth.json").read_text())["channels"]
               for ch in truth["channels"])
    # the twin: the same names, as long, without a payload
    h, t = data.load(hostile).tables(), data.load(twin).tables()
    for name in h:
        for col in h[name].columns:
            if h[name][col].dtype == object:
                assert (h[name][col].str.len().fillna(-1) == t[name][col].str.len().fillna(-1)).all(), (name, col)
    assert not any(p in "".join(t["customers"]["region"]) for p in PAYLOADS)


# --- one whole run -----------------------------------------------------------------------------


def _pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


def _headings(page: str) -> list[str]:
    """The report's headings in order (its structure)."""
    class Headings(HTMLParser):
        def __init__(self):
            super().__init__()
            self.out, self.level = [], None

        def handle_starttag(self, tag, attrs):
            if re.fullmatch(r"h[1-4]", tag):
                self.level = tag
                self.out.append(tag + " ")

        def handle_endtag(self, tag):
            self.level = None if tag == self.level else self.level

        def handle_data(self, d):
            if self.level:
                self.out[-1] += d

    h = Headings()
    h.feed(page)
    return [x.replace("¶", "").strip() for x in h.out]


@pytest.mark.slow
def test_a_whole_run_on_the_hostile_company_hands_over_nothing_executable(background_runs):
    # both runs (hostile and its harmless twin, 800 contacts, with PDFs when Chromium is here) are
    # started early in the session by tests/background.py
    pdf = report.find_chromium() is not None and shutil.which("pdfinfo") is not None
    runs = {}
    for name in ("hostile", "twin"):
        result = background_runs.get(name)
        assert result.returncode == 0 and result.folder is not None, result.output[-3000:]
        runs[name] = result.folder
    folder = runs["hostile"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [n["status"] for n in manifest["notebooks"]] == ["ok"] * 5
    pages = [folder / "index.html", *(folder / f"{s}.html" for s in STEMS)]
    for page in pages:
        assert executable(page.read_text(encoding="utf-8")) == [], (page.name, executable(page.read_text()))
        assert "Content-Security-Policy" in page.read_text(encoding="utf-8"), page.name
    # the payloads did reach the reports, as text a reader sees
    shown = "".join(visible_text(p.read_text(encoding="utf-8")) for p in pages)
    for payload in ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>", '"><svg onload=alert(1)>',
                    "[click](javascript:alert(1))", "=HYPERLINK(\"http://evil\",\"p\")"):
        assert payload in shown, payload
    tables = sorted((folder / "tables").glob("*.csv"))
    assert tables and all(formula_cells(t) == [] for t in tables), {t.name: formula_cells(t) for t in tables}
    assert any("'=1+1" in t.read_text(encoding="utf-8") for t in tables)  # planted formulas were written, defused
    # the same report as the harmless twin's: the same sections, the same pages
    for stem in STEMS:
        assert _headings((folder / f"{stem}.html").read_text(encoding="utf-8")) == _headings(
            (runs["twin"] / f"{stem}.html").read_text(encoding="utf-8")), stem
    if pdf:
        for stem in STEMS:
            hostile_pages, twin_pages = _pages(folder / f"{stem}.pdf"), _pages(runs["twin"] / f"{stem}.pdf")
            assert abs(hostile_pages - twin_pages) <= 0.1 * twin_pages, (stem, hostile_pages, twin_pages)
            text = subprocess.run(["pdftotext", str(folder / f"{stem}.pdf"), "-"], capture_output=True,
                                  text=True, check=True).stdout
            assert "PWNED" not in text and html.escape("<") not in text, stem
