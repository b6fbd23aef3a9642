"""Measuring a report's layout as a client sees it: in a real headless Chromium, and in its PDF.

Used by tests/test_report_layout.py; also handy by hand::

    from layout import browser, overflows, pdf_page_fill, pdf_paper_size, pdf_page_numbers
    with browser() as b:
        for o in overflows(Path("reports/run-.../02_segmentation.html"), browser=b):
            print(o)

The browser is Debian's ``chromium`` (:func:`crm_research.report.find_chromium`) driven through
Playwright with that executable; no browser is ever downloaded (never ``playwright install``). The
PDFs are read with pypdfium2 (a wheel: no system package).

Sizes: CSS pixels are 1/96 inch; PDF points 1/72 inch. An A4 page is 210 x 297 mm.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MM_PER_INCH = 25.4
A4_MM = (210.0, 297.0)
A4_PT = (595.28, 841.89)
PAGE_MARGIN_MM = 12.0
"""Left and right page margin assumed for the printable width (the reports' ``@page`` margin)."""


def printable_width_px(paper_width_mm: float = A4_MM[0], margin_mm: float = PAGE_MARGIN_MM) -> int:
    """Width of the printable area in CSS pixels (96 per inch): 703 px for A4 with 12 mm margins
    (718 px with 10 mm, about Chromium's default margin of 0.4 in)."""
    return round((paper_width_mm - 2 * margin_mm) / MM_PER_INCH * 96)


A4_PRINTABLE_PX = printable_width_px()

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP * ~NOTFOUND"]
"""As the runner prints: no sandbox (containers), no GPU, every host name resolving to nothing."""


class Unavailable(RuntimeError):
    """No Chromium here, or Playwright cannot start it (the tests skip with this reason)."""


@contextmanager
def browser() -> Iterator[object]:
    """A headless Chromium (Debian's, through Playwright) for the duration of the ``with`` block.

    Raises
    ------
    Unavailable
        Playwright is not installed, no Chromium is on ``PATH``, or it would not start.
    """
    from crm_research import report

    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - the dev lock has it
        raise Unavailable(f"playwright is not installed ({exc}); `pip install -r requirements-dev.lock`") from exc
    executable = report.find_chromium()
    if executable is None:
        raise Unavailable(f"no Chromium on PATH (looked for {', '.join(report.CHROMIUM_NAMES)}); "
                          "install Debian's: `apt-get install chromium`")
    with sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        except Exception as exc:  # noqa: BLE001 - any launch failure is a reason to skip
            first = (str(exc).strip().splitlines() or ["no message"])[0]
            raise Unavailable(f"Playwright could not start {executable}: {first}") from exc
        try:
            yield b
        finally:
            b.close()


@contextmanager
def _browser_or(given) -> Iterator[object]:
    if given is not None:
        yield given
    else:
        with browser() as b:
            yield b


# --- elements wider than the page ------------------------------------------------------------


@dataclass(frozen=True)
class Offender:
    """One element that does not fit the page (the outermost one; its content is not repeated)."""

    media: str  # "screen" or "print"
    tag: str
    cls: str
    text: str  # first 60 characters of what it shows (or an image's alt/src)
    kind: str  # "wider than the page", "scrolls sideways", "cuts its content", "text runs past",
    #            "number broken across lines", "word broken across lines"
    right: float  # right edge of its box (or of its content), CSS px from the page's left edge
    width: float  # the page's width, CSS px
    scroll_width: int
    client_width: int
    table: str = ""  # for an element inside a table: the first 60 characters of its first row

    def __str__(self) -> str:
        name = self.tag + (f".{'.'.join(self.cls.split())}" if self.cls.strip() else "")
        if self.kind in ("scrolls sideways", "cuts its content"):
            size = f"content {self.scroll_width} px in a {self.client_width} px box"
        elif self.kind.endswith("broken across lines"):
            size = f"a {self.client_width} px column"
        else:
            size = f"right edge {self.right:.0f} px > page {self.width:.0f} px"
        where = f" in the table {self.table!r}" if self.table else ""
        return f"[{self.media}] <{name}> {self.kind}: {size} -- {self.text!r}{where}"


_MEASURE = r"""
([tol, maxWord]) => {
  const W = document.documentElement.clientWidth;
  const x0 = window.scrollX;
  const found = [];
  const text = (el) => {
    let t = el.tagName === 'IMG' ? (el.getAttribute('alt') || (el.getAttribute('src') || '').slice(0, 40))
                                 : (el.innerText || el.textContent || '');
    return t.replace(/\s+/g, ' ').trim().slice(0, 60);
  };
  // a table cell whose column is so narrow that it breaks a number or date ("3,4|83", "2025-|07-01",
  // "\u20ac|129") or a word between two letters ("wilso|n") over lines: the table "fits" by making it
  // unreadable. Returns {word, kind}, or null. A break at a space, or at '_' '-' '/' in a word, is
  // ordinary wrapping; a word longer than maxWord characters (an id, a joined name) may wrap anywhere.
  const broken = (el, cs) => {
    const chars = [];
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (chars.length) chars.push([' ', null]);  // text nodes apart (a <br>, an element) break freely
      const range = document.createRange();
      for (let i = 0; i < n.length; i++) {
        range.setStart(n, i); range.setEnd(n, i + 1);
        const q = range.getClientRects()[0];
        chars.push([n.data[i], q ? q.top : null]);
      }
    }
    const tops = chars.map(c => c[1]).filter(t => t !== null);
    const gap = 0.5 * parseFloat(cs.fontSize);
    if (!tops.length || Math.max(...tops) - Math.min(...tops) <= gap) return null;
    const word = (i) => {  // the run of non-space characters around position i
      let a = i, b = i;
      while (a > 0 && !/\s/.test(chars[a - 1][0])) a--;
      while (b < chars.length && !/\s/.test(chars[b][0])) b++;
      return chars.slice(a, b).map(c => c[0]).join('');
    };
    const numeric = (c) => /[\d.,%\u2030\u20ac$\u00a3\u00a5+\-\u2212\u2013:\/]/.test(c);
    let last = null;
    for (let i = 0; i < chars.length; i++) {
      const [c, top] = chars[i];
      if (top === null || /\s/.test(c)) continue;
      const before = chars[i - 1] ? chars[i - 1][0] : ' ';
      if (last !== null && top - chars[last][1] > gap && !/\s/.test(before)) {
        const w = word(i);
        if (w.length > maxWord) { last = i; continue; }  // an id or a joined name: may wrap anywhere
        if (/\d/.test(w) && numeric(before) && numeric(c)) return {word: w, kind: 'number broken across lines'};
        if (/\p{L}/u.test(before) && /\p{L}/u.test(c)) return {word: w, kind: 'word broken across lines'};
      }
      last = i;
    }
    return null;
  };
  const shown = (el, cs) => cs.display !== 'none' && cs.visibility !== 'hidden' && cs.visibility !== 'collapse';
  for (const el of (document.body ? document.body.querySelectorAll('*') : [])) {
    const cs = getComputedStyle(el);
    if (!shown(el, cs)) continue;
    const r = el.getBoundingClientRect();
    if (r.width <= 0 || r.height <= 0) continue;
    const left = r.left + x0, right = r.right + x0;
    let kind = null, edge = right, split = null;
    const scrolls = ['auto', 'scroll'].includes(cs.overflowX);
    const clips = ['hidden', 'clip'].includes(cs.overflowX);
    if (right > W + tol || left < -tol) {
      kind = 'wider than the page';
    } else if ((scrolls || clips) && el.scrollWidth > el.clientWidth + tol) {
      kind = scrolls ? 'scrolls sideways' : 'cuts its content';
    } else if ((el.tagName === 'TD' || el.tagName === 'TH') && (split = broken(el, cs)) !== null) {
      kind = split.kind;
    } else {
      // its own text (a long word, a <pre> line) sticking out of a box that fits
      for (const n of el.childNodes) {
        if (n.nodeType !== Node.TEXT_NODE || !n.textContent.trim()) continue;
        const range = document.createRange();
        range.selectNodeContents(n);
        for (const q of range.getClientRects()) {
          if (q.width > 0 && q.right + x0 > Math.max(W, right) + tol) { kind = 'text runs past'; edge = Math.max(edge, q.right + x0); }
        }
      }
    }
    if (kind) found.push({el, kind, edge});
  }
  const marked = new Set(found.map(f => f.el));
  const outermost = found.filter(f => {
    for (let p = f.el.parentElement; p; p = p.parentElement) if (marked.has(p)) return false;
    return true;
  });
  const out = outermost.map(f => ({
    tag: f.el.tagName.toLowerCase(), cls: f.el.getAttribute('class') || '', text: text(f.el), kind: f.kind,
    table: f.el.closest('table') && f.el.closest('table') !== f.el && f.el.closest('table').rows.length
           ? text(f.el.closest('table').rows[0]) : '',
    right: f.edge, width: W, scroll_width: f.el.scrollWidth, client_width: f.el.clientWidth}));
  const doc = document.documentElement;
  if (!out.length && doc.scrollWidth > W + tol) {
    out.push({tag: 'html', cls: '', text: '', kind: 'wider than the page', table: '', right: doc.scrollWidth, width: W,
              scroll_width: doc.scrollWidth, client_width: W});
  }
  return out;
}
"""


_PAGE_BOX = r"""
() => {
  // the printable width the page declares with @page (size and left/right margins), in CSS px
  const rules = [];
  const walk = (list) => { for (const r of list) { if (r instanceof CSSPageRule && !r.selectorText) rules.push(r);
                                                  else if (r.cssRules) walk(r.cssRules); } };
  for (const sheet of document.styleSheets) { try { walk(sheet.cssRules); } catch (e) {} }
  if (!rules.length) return null;
  const get = (name) => { let v = ''; for (const r of rules) v = r.style.getPropertyValue(name) || v; return v.trim(); };
  const px = (len) => {
    const d = document.createElement('div');
    d.style.cssText = 'position:absolute;visibility:hidden;width:' + len;
    document.documentElement.appendChild(d); const w = d.getBoundingClientRect().width; d.remove(); return w;
  };
  const named = {a3: ['297mm', '420mm'], a4: ['210mm', '297mm'], a5: ['148mm', '210mm'],
                 b5: ['176mm', '250mm'], b4: ['250mm', '353mm'], letter: ['8.5in', '11in'],
                 legal: ['8.5in', '14in'], ledger: ['11in', '17in']};
  const size = get('size').toLowerCase().split(/\s+/).filter(Boolean);
  let width = null;
  const landscape = size.includes('landscape');
  const name = size.find(t => t in named);
  if (name) width = px(named[name][landscape ? 1 : 0]);
  else if (size.length && /\d/.test(size[0])) width = px(size[0]);
  const left = get('margin-left'), right = get('margin-right');
  if (width === null && !left && !right) return null;
  return {width: width, left: left ? px(left) : null, right: right ? px(right) : null};
}
"""


def _declared_width(page, width_px: float, margin_mm: float) -> float:
    """The printable width the page's ``@page`` rule declares (A4 and ``margin_mm`` for what it
    leaves out), or ``width_px`` when it has none."""
    box = page.evaluate(_PAGE_BOX)
    if box is None:
        return width_px
    default_margin = margin_mm / MM_PER_INCH * 96
    paper = box["width"] if box["width"] is not None else A4_MM[0] / MM_PER_INCH * 96
    left = box["left"] if box["left"] is not None else default_margin
    right = box["right"] if box["right"] is not None else default_margin
    return round(paper - left - right)


MAX_WORD = 16
"""A word (no space in it) up to this many characters is not to be broken between two letters or
inside a number; a longer one (an id, a hash, a joined name, a twin's overlong value) may wrap
anywhere (it would not fit a table column on an A4 page beside others anyway)."""


def overflows(html_path: Path, width_px: int | None = None, *, browser=None,
              media: tuple[str, ...] = ("screen", "print"), tolerance_px: float = 1.0) -> list[Offender]:
    """The elements of an HTML page that do not fit a page ``width_px`` wide.

    The page is opened from its file in headless Chromium with a viewport the width of the
    printable area of its paper and measured once per ``media``: as a screen, and again with print
    media emulated (the page's ``@media print`` rules, as Chromium lays it out for its PDF). The
    printable width is the one the page declares in its ``@page`` rule (paper ``size`` less the
    left and right margins, as Chromium prints it), else that of an A4 page with
    :data:`PAGE_MARGIN_MM` margins (:data:`A4_PRINTABLE_PX`). An element is reported when

    - its box extends past the page's right (or left) edge (tables, images, figures, ...);
    - it is a scroll container (``overflow-x: auto/scroll``) whose content is wider than its box:
      a scrollbar on screen and a cut table on paper ("scrolls sideways");
    - it clips its content (``overflow-x: hidden/clip``) that is wider than its box ("cuts its
      content");
    - its own text runs past the page (a long word or a ``<pre>`` line in a box that fits);
    - it is a table cell whose column is so narrow that it breaks a number or date ("3,4|83",
      "2025-|07-01", "€|129": "number broken across lines") or a word between two letters
      ("wilso|n": "word broken across lines") over two lines: a table squeezed to fit is not
      readable. Breaks at a space, or at ``_ - /`` between words, are ordinary wrapping; a word
      longer than :data:`MAX_WORD` characters may wrap anywhere.

    Only the outermost offender is reported: an element inside a reported one is not (a table's
    cells, a scroll container's table). Hidden elements and empty boxes are ignored.

    The page is measured as served: its Content-Security-Policy (no script) stays in force; the
    measuring script runs through the DevTools protocol, which the page's policy does not govern.

    Parameters
    ----------
    html_path : Path
    width_px : int, optional
        Page width in CSS pixels (96 per inch), instead of the printable width described above;
        see :func:`printable_width_px`.
    browser : playwright Browser, optional
        One from :func:`browser`, reused; by default one is started for this call.
    media : tuple of str
        ``"screen"`` and/or ``"print"``.
    tolerance_px : float
        Sub-pixel rounding allowed.

    Returns
    -------
    list of Offender
        In document order, screen first; empty when everything fits.
    """
    out: list[Offender] = []
    with _browser_or(browser) as b:
        context = b.new_context(viewport={"width": int(width_px or A4_PRINTABLE_PX), "height": 1000})
        try:
            page = context.new_page()
            page.goto(Path(html_path).resolve().as_uri(), wait_until="load")
            if width_px is None:
                width = _declared_width(page, A4_PRINTABLE_PX, PAGE_MARGIN_MM)
                if width != A4_PRINTABLE_PX:
                    page.set_viewport_size({"width": int(width), "height": 1000})
            for m in media:
                page.emulate_media(media=m)
                for row in page.evaluate(_MEASURE, [tolerance_px, MAX_WORD]):
                    out.append(Offender(media=m, **row))
        finally:
            context.close()
    return out


def print_a4(html_path: Path, pdf_path: Path, *, browser=None, margin_mm: float = PAGE_MARGIN_MM,
             page_numbers: bool = False) -> Path:
    """Print ``html_path`` to an A4 ``pdf_path`` with Playwright (for the tests of the measures
    themselves; the reports' PDFs come from the runner, :func:`crm_research.report.print_pdf`).

    ``page_numbers`` adds Chromium's footer with the page number ("3 / 7")."""
    with _browser_or(browser) as b:
        context = b.new_context()
        try:
            page = context.new_page()
            page.goto(Path(html_path).resolve().as_uri(), wait_until="load")
            m = f"{margin_mm}mm"
            page.pdf(path=str(pdf_path), format="A4", print_background=True,
                     margin={"top": m, "bottom": m, "left": m, "right": m},
                     display_header_footer=page_numbers, header_template="<span></span>",
                     footer_template='<div style="font-size:9px;width:100%;text-align:center">'
                                     '<span class="pageNumber"></span> / <span class="totalPages"></span></div>')
        finally:
            context.close()
    return Path(pdf_path)


# --- PDF pages ---------------------------------------------------------------------------------

BAND_MM = 15.0
"""Height of the top and bottom bands of a page that hold running headers and footers (page
number, client name, date): left out of :func:`pdf_page_fill`; searched by :func:`pdf_page_numbers`."""

WHITE = 245
"""A pixel darker than this (0-255 grey) is ink."""


def _pdf(pdf_path: Path):
    import pypdfium2 as pdfium

    return pdfium.PdfDocument(str(pdf_path))


def pdf_paper_size(pdf_path: Path) -> list[tuple[float, float]]:
    """Width and height of every page, in points (A4 is 595 x 842, US Letter 612 x 792)."""
    doc = _pdf(pdf_path)
    try:
        return [tuple(round(v, 2) for v in doc[i].get_size()) for i in range(len(doc))]
    finally:
        doc.close()


def pdf_page_fill(pdf_path: Path, dpi: float = 36) -> list[float]:
    """How far down each page its content reaches: 0 for a blank page, about 1 for a full one.

    Each page is rendered at low resolution (``dpi``) and cut into bands of rows with ink (a pixel
    darker than :data:`WHITE`) separated by white rows. A band lying wholly within :data:`BAND_MM`
    of the top or bottom edge is a running header or footer (the page number, which every page
    has) and is left out. The fill is how far the lowest remaining band reaches below the top
    :data:`BAND_MM`, as a share of the height between the top and bottom :data:`BAND_MM`.

    This is "a page mostly empty" as a reader sees it: a page whose content stops a third of the
    way down (a table pushed to the next page, a forced break) is 0.33 however dense that third,
    while a page of text with the ordinary white between lines and paragraphs is full. (The share
    of rows holding ink would call a full page of text half empty.) A page with only its header
    and footer is 0.

    Returns
    -------
    list of float
        One per page, in page order, 0-1.
    """
    import numpy as np

    doc = _pdf(pdf_path)
    try:
        fills = []
        for i in range(len(doc)):
            bitmap = doc[i].render(scale=dpi / 72, grayscale=True)
            grey = np.asarray(bitmap.to_numpy(), dtype=float)
            if grey.ndim == 3:  # some pypdfium2 builds keep a channel axis for grey
                grey = grey[..., :3].mean(axis=2)
            rows = grey.shape[0]
            band = int(round(BAND_MM / MM_PER_INCH * dpi))
            ink = (grey < WHITE).any(axis=1)
            # runs of ink rows: starts and (exclusive) ends
            edges = np.diff(np.concatenate([[0], ink.astype(int), [0]]))
            starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
            body = [(a, b) for a, b in zip(starts, ends, strict=True) if not (b <= band or a >= rows - band)]
            low = max((b for _, b in body), default=band)
            fills.append(float(np.clip((low - band) / (rows - 2 * band), 0, 1)))
        return fills
    finally:
        doc.close()


def pdf_text(pdf_path: Path, band_mm: float | None = None) -> list[str]:
    """The text of every page (pypdfium2's extraction); with ``band_mm``, only the text in the top
    and bottom ``band_mm`` of the page (running header and footer)."""
    doc = _pdf(pdf_path)
    try:
        out = []
        for i in range(len(doc)):
            page = doc[i]
            tp = page.get_textpage()
            if band_mm is None:
                out.append(tp.get_text_range())
            else:
                w, h = page.get_size()
                b = band_mm / MM_PER_INCH * 72
                # PDF coordinates: origin bottom left
                out.append(tp.get_text_bounded(0, h - b, w, h) + "\n" + tp.get_text_bounded(0, 0, w, b))
            tp.close()
        return out
    finally:
        doc.close()


def pdf_page_numbers(pdf_path: Path) -> list[bool]:
    """For every page, whether its running header or footer (top and bottom :data:`BAND_MM`)
    shows its page number ("3", "3 / 7", "Page 3 of 7", "- 3 -")."""
    return [re.search(rf"(?<!\d){n}(?!\d)", text) is not None
            for n, text in enumerate(pdf_text(pdf_path, band_mm=BAND_MM), start=1)]
