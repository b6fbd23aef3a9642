"""The reports as a client sees them: every page fits an A4 page (no table wider than the page, cut,
scrolling or squeezed until its figures break over lines), no PDF page is mostly empty or blank,
the PDFs are A4 with page numbers.

Measured in a real headless Chromium (Debian's ``chromium``, driven through Playwright with that
executable; tests/layout.py) on two whole runs of tests/background.py: ``twin``, a complete
company whose text values are very long (the stress case), and ``plain``, an ordinary company (the
small company of tests/conftest.py, 2,000 contacts; the run tests/test_notebooks.py checks). Both are printed to PDF by the runner (``crm-research run --pdf``) when Chromium is
found. Everything skips, with the reason, when no Chromium is installed or Playwright cannot start
it. The first tests check the measures themselves on hand-written pages.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

import layout
from crm_research import report

MIN_FILL = 0.40
"""A PDF page other than the last that ends above this share of its height is "mostly empty"."""

A4_TOLERANCE_PT = 2.0
RUNS = ("twin", "plain")
SHOWN = 25  # offenders listed in a failure message


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium for the whole module (skips when there is none)."""
    cm = layout.browser()
    try:
        b = cm.__enter__()
    except layout.Unavailable as exc:
        pytest.skip(str(exc))
    yield b
    cm.__exit__(None, None, None)


def _page(body: str, style: str = "") -> str:
    """A hand-written page with the reports' Content-Security-Policy (no script)."""
    return (f'<!doctype html><html><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{report.CSP}">'
            f"<style>body {{ margin: 0; font: 14px sans-serif; }} {style}</style></head>"
            f"<body>{body}</body></html>")


def _table(columns: int, width: str = "") -> str:
    head = "".join(f"<th>column {i}</th>" for i in range(columns))
    row = "".join(f"<td>{i * 1000}</td>" for i in range(columns))
    return f'<table style="{width}"><tr>{head}</tr><tr>{row}</tr></table>'


# --- the measures themselves ---------------------------------------------------------------------


def test_overflows_reports_what_is_wider_than_the_page_and_nothing_that_fits(chromium, tmp_path):
    fits = tmp_path / "fits.html"
    fits.write_text(_page("<h1>Fits</h1><p>" + "word " * 400 + "</p>" + _table(4)
                          + '<div style="overflow-x:auto">' + _table(5) + "</div>"
                          + '<img alt="small" style="width:600px;height:20px" src="data:image/gif;base64,'
                            'R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7">'))
    assert layout.overflows(fits, browser=chromium) == []

    wide = tmp_path / "wide.html"
    wide.write_text(_page("<h1>Too wide</h1><p>fine</p>" + _table(30, "width:3000px")
                          + '<div class="scroller" style="overflow-x:auto">' + _table(40) + "</div>"
                          + '<img alt="wide image" style="width:1200px;height:20px" src="data:image/gif;base64,'
                            'R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7">'
                          + "<pre>" + "x" * 300 + "</pre>"))
    found = layout.overflows(wide, browser=chromium)
    for media in ("screen", "print"):
        mine = [o for o in found if o.media == media]
        assert [(o.tag, o.kind) for o in mine] == [
            ("table", "wider than the page"), ("div", "scrolls sideways"), ("img", "wider than the page"),
            ("pre", "text runs past")], [str(o) for o in mine]
        assert mine[0].text.startswith("column 0 column 1") and mine[0].right >= 3000
        assert mine[1].cls == "scroller" and mine[1].scroll_width > mine[1].client_width
        assert mine[2].text == "wide image"
    # a table squeezed into the page by breaking its figures over lines
    squeezed = tmp_path / "squeezed.html"
    squeezed.write_text(_page('<table style="width:180px; table-layout:fixed; overflow-wrap:anywhere">'
                              "<tr><th>n</th><th>first order</th><th>method</th></tr>"
                              "<tr><td>3,483,000</td><td>2025-07-01</td><td>wilsonscore</td></tr></table>"
                              '<table style="width:200px"><tr><td>first_contact_resolution_rate</td>'
                              "<td>Tickets opened in the period, resolved within a week</td>"
                              '<td style="min-width:120px">12.3%<br>(10.1-14.5)</td></tr></table>'
                              '<table style="width:100px; table-layout:fixed; overflow-wrap:anywhere">'
                              "<tr><td>c_ca3920e5ed557b39aa</td></tr></table>"))  # an id: may wrap
    found = layout.overflows(squeezed, browser=chromium, media=("screen",))
    assert [(o.tag, o.kind, o.text) for o in found] == [("td", "number broken across lines", "3,483,000"),
                                                        ("td", "number broken across lines", "2025-07-01"),
                                                        ("td", "word broken across lines", "wilsonscore")], found
    # the page's width is a parameter: the same wide table fits a 3100 px page
    assert [o.tag for o in layout.overflows(wide, 3100, browser=chromium, media=("screen",))
            if o.tag == "table"] == []


def test_overflows_measures_the_printable_width_the_page_declares(chromium, tmp_path):
    # A4 less 30 mm margins left and right: 150 mm = 567 px; a 600 px table does not fit it
    page = tmp_path / "margins.html"
    page.write_text(_page('<div style="width:600px">six hundred</div>',
                          "@media print { @page { size: A4; margin: 10mm 30mm 20mm; } }"))
    found = layout.overflows(page, browser=chromium)
    assert [(o.media, o.tag, o.width) for o in found] == [("screen", "div", 567), ("print", "div", 567)], found
    landscape = tmp_path / "landscape.html"
    landscape.write_text(_page('<div style="width:1000px">a thousand</div>', "@page { size: A4 landscape; }"))
    assert layout.overflows(landscape, browser=chromium) == []  # 297 - 2 x 12 mm = 1032 px
    assert layout.overflows(landscape, 703, browser=chromium)  # the width given wins


def test_pdf_measures_on_two_hand_written_pages(chromium, tmp_path):
    html = tmp_path / "two.html"
    html.write_text(_page('<p>A short first page.</p><div style="break-before: page"></div>'
                          '<div style="height: 255mm; background: #333"></div><p>end</p>'))
    bare = layout.print_a4(html, tmp_path / "bare.pdf", browser=chromium)
    fills = layout.pdf_page_fill(bare)
    assert len(fills) == 2 and fills[0] < 0.1 and fills[1] > 0.9, fills
    assert [_is_a4(size) for size in layout.pdf_paper_size(bare)] == [True, True]
    assert layout.pdf_page_numbers(bare) == [False, False]
    numbered = layout.print_a4(html, tmp_path / "numbered.pdf", browser=chromium, page_numbers=True)
    assert layout.pdf_page_numbers(numbered) == [True, True]
    assert 0 < layout.pdf_page_fill(numbered)[0] < 0.1  # the footer is not content
    blank = tmp_path / "blank.html"
    blank.write_text(_page('<p>one</p><div style="break-before: page; break-after: page"></div><p>three</p>'))
    fills = layout.pdf_page_fill(layout.print_a4(blank, tmp_path / "blank.pdf", browser=chromium, page_numbers=True))
    assert len(fills) == 3 and fills[1] == 0 and 0 < fills[2] < 0.1, fills
    assert layout.printable_width_px(215.9, 10) == 740  # US Letter, 10 mm margins
    assert not _is_a4((612.0, 792.0))


# --- the reports of whole runs -------------------------------------------------------------------


def _is_a4(size: tuple[float, float]) -> bool:
    return all(abs(a - b) <= A4_TOLERANCE_PT for a, b in zip(size, layout.A4_PT, strict=True))


def _run(background_runs, name: str) -> Path:
    result = background_runs.get(name)
    assert result.returncode == 0 and result.folder is not None, result.output[-3000:]
    return result.folder


def _stems(folder: Path) -> list[str]:
    manifest = json.loads((folder / "manifest.json").read_text())
    return [n["name"] for n in manifest["notebooks"] if (folder / f"{n['name']}.html").exists()]


def _pdfs(folder: Path) -> list[Path]:
    if report.find_chromium() is None:
        pytest.skip("no Chromium on PATH: the runs printed no PDF")
    stems = _stems(folder)
    assert stems, "the run wrote no report"
    missing = [s for s in stems if not (folder / f"{s}.pdf").exists()]
    assert not missing, f"Chromium is here but these reports were not printed: {missing}"
    return [folder / f"{s}.pdf" for s in stems]


@pytest.mark.slow
@pytest.mark.parametrize("run", RUNS)
def test_every_report_fits_an_a4_page_on_screen_and_in_print(run, chromium, background_runs):
    folder = _run(background_runs, run)
    pages = [folder / "index.html", *(folder / f"{s}.html" for s in _stems(folder))]
    assert len(pages) == 6, [p.name for p in pages]
    found = {p.name: layout.overflows(p, browser=chromium) for p in pages}
    lines = [f"{name}: {o}" for name, offenders in found.items() for o in offenders]
    counts = {name: dict(Counter(f"{o.media}: {o.kind}" for o in offenders))
              for name, offenders in found.items() if offenders}
    assert not lines, (f"{len(lines)} elements do not fit the page (wider than its printable width, cut, "
                       f"scrolling, or squeezed until numbers or words break over lines): {counts}; "
                       f"the first {min(SHOWN, len(lines))}:\n" + "\n".join(lines[:SHOWN]))


@pytest.mark.slow
@pytest.mark.parametrize("run", RUNS)
def test_no_pdf_page_is_mostly_empty(run, background_runs):
    pdfs = _pdfs(_run(background_runs, run))
    empty = {}
    for pdf in pdfs:
        fills = layout.pdf_page_fill(pdf)
        low = [f"p{i} {f:.0%}" for i, f in enumerate(fills[:-1], start=1) if f < MIN_FILL]
        low += [f"p{len(fills)} (the last) blank"] if fills[-1] == 0 else []
        if low:
            empty[f"{pdf.name} ({len(fills)} pages)"] = low
    assert not empty, (f"pages filled less than {MIN_FILL:.0%} (the last page: blank, with nothing but its "
                       f"header and footer): {empty}")


@pytest.mark.slow
@pytest.mark.parametrize("run", RUNS)
def test_pdfs_are_a4_with_page_numbers(run, background_runs):
    pdfs = _pdfs(_run(background_runs, run))
    sizes = {pdf.name: sorted(set(layout.pdf_paper_size(pdf))) for pdf in pdfs}
    assert all(_is_a4(s) for v in sizes.values() for s in v), f"not A4 (595 x 842 pt): {sizes}"
    unnumbered = {}
    for pdf in pdfs:
        numbered = layout.pdf_page_numbers(pdf)
        if not all(numbered):
            unnumbered[pdf.name] = [i for i, ok in enumerate(numbered, start=1) if not ok]
    assert not unnumbered, f"pages without their number in the header or footer: {unnumbered}"
