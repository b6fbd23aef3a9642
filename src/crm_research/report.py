"""Client reports of a run: one self-contained HTML page per notebook, an index, optional PDFs.

The HTML reports show the narrative and the results without code: inputs and prompts are
removed, images are embedded as data URIs and the CSS is inlined, so a page reads offline
with no external JavaScript or CSS. Cells tagged ``parameters``, ``injected-parameters`` or
``report-hide``, papermill's error banners, warnings (stderr output) and error tracebacks are
left out: the report of a notebook that failed ends at the failing cell and opens with one
plain sentence saying where and why it stopped.

No page can run code. Data values are escaped where they enter the notebook's output
(:func:`crm_research.notebook.show` for tables, :func:`crm_research.notebook.text` for Markdown);
as a second line of defence every page is parsed once more here (:func:`sanitize_html`): script,
frame and object elements, ``on*`` event attributes and ``javascript:``-like links are dropped,
and each page carries a Content-Security-Policy that forbids scripts, plug-ins and any fetch
from the network (images must be embedded), in a browser and in the PDF printer alike.
"""

from __future__ import annotations

import base64
import fcntl
import html
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

from crm_research import privacy
from crm_research._nbformat import nbformat
from crm_research.errors import CRMError

__all__ = ["notebook_title", "notebook_html", "until_error", "write_index", "find_chromium", "print_pdf",
           "PdfPrinter", "sanitize_html", "CSP"]

HIDDEN_TAGS = ("parameters", "injected-parameters", "report-hide", "papermill-error-cell-tag")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

NO_CHROMIUM = ("PDF skipped: no Chromium found on PATH (looked for " + ", ".join(CHROMIUM_NAMES)
               + "); install one, e.g. `apt-get install chromium`. The HTML reports are written.")
"""What a run asked for PDFs says when :func:`find_chromium` finds none."""

_CSS = """
body { max-width: 1000px; margin: 0 auto; padding: 0 1.5em 3em; }
.crm-head { border-bottom: 1px solid #ccc; margin: 1.5em 0 1em; padding-bottom: .6em;
            font-family: system-ui, sans-serif; color: #555; font-size: 13px; }
.crm-head table { border-collapse: collapse; margin-top: .4em; }
.crm-head td { padding: 1px 12px 1px 0; }
.crm-stopped { border: 1px solid #cf222e; background: #fff5f5; color: #82071e; padding: .6em .9em;
               margin: .6em 0 0; font-size: 15px; }
.crm-foot { border-top: 1px solid #ccc; margin-top: 2em; padding-top: .6em;
            font-family: system-ui, sans-serif; color: #777; font-size: 12px; }
.jp-RenderedMarkdown p, .jp-RenderedMarkdown li, .jp-RenderedMarkdown blockquote { overflow-wrap: anywhere; }
.jp-OutputArea-output { overflow: visible !important; }
.jp-RenderedImage img, .jp-OutputArea-output img { max-width: 100%; height: auto; }
.jp-RenderedHTMLCommon table, table.crm-table { max-width: 100%; font-size: 12px; table-layout: auto; }
.jp-RenderedHTMLCommon table:not(.crm-table) td, .jp-RenderedHTMLCommon table:not(.crm-table) th {
  overflow-wrap: normal; word-break: normal; }
.jp-OutputArea-output:has(table:not(.crm-table)) { overflow-x: auto !important; } /* the analyst's whole tables */
table.crm-table { border-collapse: collapse; margin: .4em 0 .2em; }
table.crm-table th { text-align: left; vertical-align: bottom; border-bottom: 1px solid #888; padding: 3px 8px; }
table.crm-table td { border-bottom: 1px solid #e5e5e5; padding: 3px 8px; vertical-align: top; }
table.crm-table .num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
table.crm-table th { overflow-wrap: normal; word-break: normal; hyphens: manual; }
table.crm-table th.num { white-space: normal; }
table.crm-table td.txt, table.crm-table th.txt { text-align: left !important; overflow-wrap: break-word; }
table.crm-table td.num, table.crm-table th.num { text-align: right !important; }
.crm-more { color: #555; font-size: 12px; margin: .1em 0 .8em; }
.celltag_crm-summary { border: 1px solid #b6c8e0; background: #f3f7fc; border-radius: 6px; padding: .3em 1.1em .6em; }
.celltag_crm-summary h2 { margin-top: .5em; }
.jp-MarkdownCell:has(.celltag_crm-anchor) { padding: 0; margin: 0; min-height: 0; }
.celltag_crm-appendix h2 { border-top: 2px solid #bbb; padding-top: .8em; }
@media print {
  body { max-width: none; padding: 0; }
  .jp-Cell, .jp-OutputArea-child, .jp-OutputArea-output, .jp-Cell-outputWrapper { break-inside: auto !important; }
  /* JupyterLab lays markdown out as table cells that scroll: a printer cannot split those, so a long
     block (the summary box) would move whole to the next page and leave this one empty */
  .jp-InputArea, .jp-MarkdownOutput, .jp-InputArea-editor, .jp-OutputArea, .jp-OutputArea-child,
  .jp-OutputArea-output { display: block !important; overflow: visible !important; width: auto !important;
  box-sizing: border-box; }
  .jp-OutputArea-child:has(img) { break-inside: avoid-page !important; }
  .jp-OutputArea-output img { break-inside: avoid; max-height: 230mm; }
  table.crm-table tr, .jp-RenderedHTMLCommon tr { break-inside: avoid; }
  table.crm-table:not(:has(tbody tr:nth-child(7))) { break-inside: avoid; } /* a short table stays whole */
  .jp-RenderedHTMLCommon table:not(.crm-table) { font-size: 9px; }
  h1, h2, h3 { break-after: avoid; }
  .crm-foot { display: none; }
}
"""

_PAGE_CSS = """
@page { size: %(paper)s; margin: 14mm 13mm 16mm;
  @bottom-left { content: %(left)s; font: 8.5px system-ui, sans-serif; color: #777; }
  @bottom-right { content: "Page " counter(page) " of " counter(pages); font: 8.5px system-ui, sans-serif; color: #777; } }
"""


def css_string(value: str) -> str:
    """``value`` as a CSS string literal: every character but letters, digits and spaces written as
    a CSS escape, so no value can end the string or the style sheet."""
    return '"' + "".join(ch if ch.isalnum() and ch.isascii() or ch == " " else f"\\{ord(ch):06x}" for ch in value) + '"'


def page_css(settings=None, title: str = "") -> str:
    """The print rules of a report: paper size and margins, the client and title at the bottom left
    of every page and "Page n of m" at the bottom right (Chromium's page-margin boxes)."""
    paper = getattr(settings, "paper", "A4") or "A4"
    left = " · ".join(x for x in (getattr(settings, "client", None), title) if x)
    return _PAGE_CSS % {"paper": "A4" if paper == "A4" else "letter", "left": css_string(left[:120])}

_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block extra_css -%}<style type="text/css">{{ resources.crm.css }}</style>{%- endblock extra_css -%}
{%- block body_header -%}
{{ super() }}
<div class="crm-head">{{ resources.crm.header }}</div>
{%- endblock body_header -%}
{%- block body_footer -%}
<div class="crm-foot">{{ resources.crm.footer }}</div>
{{ super() }}
{%- endblock body_footer -%}
"""


CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
       "base-uri 'none'; form-action 'none'")
"""Content-Security-Policy of every report: no script, plug-in, frame, form or network fetch;
only inline styles and embedded (``data:``) images and fonts."""

INDEX_CSP = CSP.replace("img-src data:", "img-src 'self' data:")
"""The index's policy: as :data:`CSP`, and the figure thumbnails it links from ``figures/``."""

_DROPPED = frozenset({"script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "link",
                      "svg", "math", "noscript", "template", "portal"})
"""Elements removed with everything inside them: none of them is part of a report."""
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
                   "source", "track", "wbr", "frame"})
_URL_ATTRS = frozenset({"href", "src", "action", "formaction", "xlink:href", "background", "poster", "cite",
                        "data", "codebase", "srcset", "longdesc", "ping", "lowsrc", "dynsrc"})
_SAFE_DATA = re.compile(r"data:image/(png|jpeg|gif|webp);", re.IGNORECASE)
_INVISIBLE = re.compile(r"[\x00-\x20\x7f]+")


def _safe_url(value: str) -> bool:
    """False for ``javascript:``, ``vbscript:`` and ``data:`` URLs other than raster images.

    Browsers ignore whitespace and control characters inside a scheme (``java\tscript:``),
    so those are removed before looking (entities are already decoded by the parser)."""
    v = _INVISIBLE.sub("", value).lower()
    if v.startswith(("javascript:", "vbscript:", "livescript:", "mocha:")):
        return False
    return not v.startswith("data:") or bool(_SAFE_DATA.match(v))


class _Sanitizer(HTMLParser):
    """Re-writes a page from its parse: what the parser does not recognise as a tag is text and
    stays as written; every tag is written anew from its name and decoded attributes."""

    def __init__(self, csp: str | None) -> None:
        super().__init__(convert_charrefs=False)
        self.out: list[str] = []
        self.skip: list[str] = []  # open dropped elements
        self.in_style = False
        self.dropped = 0
        self.csp = csp

    def _tag(self, tag: str, attrs, close: bool) -> str:
        kept = []
        for name, value in attrs:
            name = name.lower()
            if name.startswith("on") or (name in _URL_ATTRS and value is not None and not _safe_url(value)) \
                    or not re.fullmatch(r"[a-z_:][-a-z0-9_:.]*", name):
                self.dropped += 1
                continue
            if name == "style" and value and re.search(r"expression\s*\(|javascript:|url\s*\(", value, re.I):
                self.dropped += 1
                continue
            kept.append(name if value is None else f'{name}="{html.escape(value, quote=True)}"')
        return f"<{tag}{''.join(' ' + a for a in kept)}{' /' if close else ''}>"

    def _drop(self, tag: str, attrs) -> bool:
        if tag in _DROPPED:
            return True
        return tag == "meta" and any(n.lower() == "http-equiv" for n, _ in attrs)

    def handle_starttag(self, tag, attrs):
        if self.skip:
            if tag == self.skip[-1] and tag not in _VOID:
                self.skip.append(tag)
            return
        if self._drop(tag, attrs):
            self.dropped += 1
            if tag not in _VOID:
                self.skip.append(tag)
            return
        self.out.append(self._tag(tag, attrs, close=False))
        if tag == "head" and self.csp:
            self.out.append(f'<meta http-equiv="Content-Security-Policy" content="{html.escape(self.csp)}">')
        self.in_style = tag == "style"

    def handle_startendtag(self, tag, attrs):
        if self.skip:
            return
        if self._drop(tag, attrs):
            self.dropped += 1
            return
        self.out.append(self._tag(tag, attrs, close=True))

    def handle_endtag(self, tag):
        if self.skip:
            if tag == self.skip[-1]:
                self.skip.pop()
            return
        if tag in _DROPPED:
            return
        self.in_style = False
        self.out.append(f"</{tag}>")

    def handle_data(self, data):
        if self.skip:
            return
        if not self.in_style:  # text to this parser stays text to a browser: no '<' left to read as a tag
            self.out.append(data.replace("<", "&lt;"))
        elif "<" in data:  # a style sheet never needs '<': it could close the element
            self.dropped += 1
        else:
            self.out.append(data)

    def handle_entityref(self, name):
        if not self.skip:
            self.out.append(f"&{name};")

    def handle_charref(self, name):
        if not self.skip:
            self.out.append(f"&#{name};")

    def handle_decl(self, decl):
        self.out.append(f"<!{decl}>")

    def handle_comment(self, data):  # dropped: nothing in a report needs one
        return

    def handle_pi(self, data):
        return

    def unknown_decl(self, data):
        return


def sanitize_html(page: str, csp: str | None = CSP) -> str:
    """Remove anything executable from an HTML page; add the :data:`CSP` to its ``<head>``.

    The page is parsed (:class:`html.parser.HTMLParser`) and written again: script, frame,
    object, embed, base, link, SVG and MathML elements go with their content, as do ``<meta
    http-equiv>`` tags, comments, ``on*`` event attributes, URLs whose scheme runs code
    (``javascript:``, ``vbscript:``, ``data:`` other than raster images, also when written with
    entities or control characters inside) and styles with ``expression(``/``url(``. Text, other
    tags and attributes are kept (attributes re-quoted), so an escaped value such as
    ``&lt;img onerror=…&gt;`` stays visible text. The Content-Security-Policy meta tag is
    inserted first in ``<head>`` and forbids scripts and network fetches even if something got
    through.

    Parameters
    ----------
    page : str
        A whole HTML document (with a ``<head>``); a fragment is cleaned the same way, without
        the policy.
    csp : str or None
        The Content-Security-Policy (default :data:`CSP`); None adds none.

    Returns
    -------
    str
    """
    parser = _Sanitizer(csp)
    parser.feed(page)
    parser.close()
    return "".join(parser.out)


def notebook_title(nb: nbformat.NotebookNode, default: str) -> str:
    """Return the first markdown heading of ``nb`` (without ``#``), else ``default``."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            if line.startswith("#"):
                return line.lstrip("#").strip() or default
    return default


ANALYST_TAG = "analyst"
"""Cells shown only in the analyst's report (parameter names, code-level detail, planted-truth checks)."""
CLIENT_TAG = "client"
"""Cells shown only in the client's report (the plain-words version of an analyst cell)."""
APPENDIX_TAG = "appendix"
"""Cells that the client's report moves to its appendix (method and definitions)."""
APPENDIX_TITLE = "Appendix: method and definitions"

_SECTION_CALL = re.compile(r"""run\.section\(\s*["']([A-Za-z0-9_]+)["']""")


def _md_cell(source: str, tags: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_markdown_cell(source)
    cell.metadata["tags"] = list(tags)
    cell.pop("id", None)
    return cell


def _tags(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def _finding_order(finding: dict) -> int:
    """Findings: priority 1 first (a stable sort keeps the recorded order within a priority)."""
    return finding.get("priority", 2)


def _action_order(action: dict) -> tuple:
    """Actions: by priority, then the largest expected value first."""
    return action.get("priority", 2), -(action.get("value") or 0)


def _value_words(action: dict) -> str:
    """'Expected value: about €12,000 a year' (the action's own label), or '' without a value."""
    if not action.get("value_text"):
        return ""
    return f"{action.get('value_label') or 'Expected value'}: {action['value_text']}"


def summary_markdown(meta: dict | None) -> str:
    """The "what we found / what to do" box of a notebook report, as Markdown (empty without findings).

    Parameters
    ----------
    meta : dict
        The notebook's run metadata (``findings``, ``actions``, ``sections``).
    """
    meta = meta or {}
    titles = {x.get("key"): x.get("title") for x in meta.get("sections") or [] if isinstance(x, dict)}
    findings = sorted(meta.get("findings") or [], key=_finding_order)
    actions = sorted(meta.get("actions") or [], key=_action_order)
    if not findings and not actions:
        return ""

    def see(x: dict) -> str:
        key = str(x.get("section", ""))
        title = titles.get(key)
        if not title or not re.fullmatch(r"[A-Za-z0-9_]+", key):
            return ""
        return f" ([{_md_escape(str(title))}](#s-{key}))"

    out = []
    if findings:
        out.append("## What we found\n")
        out += [f"- {f['text']}{see(f)}" for f in findings]
    if actions:
        out.append("\n## What to do\n")
        for i, a in enumerate(actions, 1):
            value = f" *{_md_escape(_value_words(a))}.*" if a.get("value_text") else ""
            out.append(f"{i}. {a['text']}{value}{see(a)}")
    return "\n".join(out)


def _md_escape(text: str) -> str:
    """Plain text as Markdown that shows as itself (entities for < > &, punctuation escaped)."""
    from crm_research.notebook import text as md_text

    return md_text(text, limit=None)


RECORD_TITLE = "Record of processing"
"""Heading of the record of processing (personal data read, purpose, legal basis, consent, key id)."""


def record_markdown(record: list[tuple[str, str]] | None, level: str = "###") -> str:
    """The record of processing (:func:`crm_research.privacy.processing_lines`) as Markdown, every value escaped."""
    if not record:
        return ""
    items = "\n".join(f"- **{_md_escape(head)}.** {_md_escape(text)}" for head, text in record)
    return f"{level} {RECORD_TITLE}\n\n{items}"


def _report_copy(nb: nbformat.NotebookNode, audience: str = "analyst", meta: dict | None = None,
                 run_ref: str = "", record: list[tuple[str, str]] | None = None) -> nbformat.NotebookNode:
    """The cells a report shows, for ``audience``.

    Both audiences: cells tagged :data:`HIDDEN_TAGS` and warnings/errors left out, the summary
    box (:func:`summary_markdown`) after the title, an anchor ``#s-<section>`` before each
    section. The client's report also leaves out cells tagged :data:`ANALYST_TAG` and moves
    cells tagged :data:`APPENDIX_TAG` to an appendix at the end (with ``run_ref``); the
    analyst's leaves out cells tagged :data:`CLIENT_TAG`. The record of processing (``record``)
    ends both: in the client's appendix, at the end of the analyst's report.
    """
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    client = audience == "client"
    cells, appendix = [], []
    for cell in nb.cells:
        tags = _tags(cell)
        if tags & set(HIDDEN_TAGS) or (client and ANALYST_TAG in tags) or (not client and CLIENT_TAG in tags):
            continue
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", [])
                            if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
                            and o.get("output_type") != "error"]
        (appendix if client and APPENDIX_TAG in tags else cells).append(cell)
    # anchors: before the markdown that introduces each section's first code cell; in the client's
    # report, the narrative of a skipped section shrinks to its heading (the note says why)
    skipped = {str(x.get("key")) for x in (meta or {}).get("sections") or []
               if isinstance(x, dict) and x.get("status") == "skipped"}
    seen: set[str] = set()
    out: list = []
    for cell in cells:
        if cell.cell_type == "code":
            keys = _SECTION_CALL.findall(cell.get("source", ""))
            at = len(out)
            while (at > 0 and out[at - 1].cell_type == "markdown" and "crm-anchor" not in _tags(out[at - 1])
                   and not out[at - 1].source.lstrip().startswith("# ")):  # never before the title
                at -= 1
            if client and keys and all(k in skipped for k in keys):
                heads = [line for c in out[at:] for line in c.source.splitlines() if line.startswith("#")]
                del out[at:]
                if heads and keys[0] not in seen:
                    out.append(_md_cell(heads[0]))
            for key in keys:
                if key in seen:
                    continue
                seen.add(key)
                out.insert(at, _md_cell(f'<a id="s-{key}"></a>', ("crm-anchor",)))
        out.append(cell)
    summary = summary_markdown(meta)
    if summary:
        first = next((i for i, c in enumerate(out) if c.cell_type == "markdown"
                      and c.source.lstrip().startswith("# ")), None)
        if first is None:
            out.insert(0, _md_cell(summary, ("crm-summary",)))
        else:  # right under the title line: the title cell's introduction follows the box
            title, _, intro = out[first].source.lstrip().partition("\n")
            out[first].source = title
            rest = [_md_cell(intro.strip())] if intro.strip() else []
            out[first + 1:first + 1] = [_md_cell(summary, ("crm-summary",)), *rest]
    if client and (appendix or run_ref or record):
        out.append(_md_cell(f"## {APPENDIX_TITLE}" + (f"\n\n*{_md_escape(run_ref)}*" if run_ref else ""),
                            ("crm-appendix",)))
        out += appendix
    if record:
        out.append(_md_cell(record_markdown(record, "###" if client else "##"), ("crm-record",)))
    for i, c in enumerate(out):  # the added cells get ids of their own, the same at every rerun
        if not c.get("id"):
            c["id"] = f"crm-{i}"
    nb.cells = out
    return nb


def _failed_cell(cell) -> bool:
    return (any(o.get("output_type") == "error" for o in cell.get("outputs", []))
            or cell.get("metadata", {}).get("papermill", {}).get("exception") is True)


def until_error(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of an executed notebook that ends at its failing cell.

    The cells after the first cell that raised are dropped (they never ran, and their text
    would describe results that do not exist); without such a cell, the cells papermill never
    started are dropped. The failing cell keeps what it displayed before the error.
    """
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    cells = list(nb.cells)
    stop = next((i + 1 for i, c in enumerate(cells) if c.cell_type == "code" and _failed_cell(c)), None)
    if stop is None:
        stop = next((i for i, c in enumerate(cells)
                     if c.get("metadata", {}).get("papermill", {}).get("status") == "pending"), len(cells))
    nb.cells = cells[:stop]
    return nb


def notebook_html(nb: nbformat.NotebookNode, title: str, header: dict[str, str] | None = None,
                  footer: str = "", notice: str | None = None, *, audience: str = "analyst",
                  meta: dict | None = None, settings=None, run_ref: str = "",
                  record: list[tuple[str, str]] | None = None) -> str:
    """Render an executed notebook as a self-contained HTML page without code.

    Parameters
    ----------
    nb : NotebookNode
        The executed notebook.
    title : str
        Page title.
    header : dict of str to str, optional
        Facts shown as a small table under the title bar (``{"As of": "2026-01-01"}``).
    footer : str
        A line of text at the bottom (run name, data fingerprint).
    notice : str, optional
        One plain sentence shown prominently under the title bar (why the report stops early).
    audience : {"analyst", "client"}
        The client's report leaves out cells tagged ``analyst`` and moves those tagged
        ``appendix`` to the end (see :func:`_report_copy`).
    meta : dict, optional
        The notebook's run metadata: its findings and actions open the report.
    settings : crm_research.settings.ReportSettings, optional
        Paper size and the client's name in the page footer of the PDF.
    run_ref : str
        Run reference (run name, data fingerprint) at the end of the client's appendix.
    record : list of (str, str), optional
        The run's record of processing (:func:`crm_research.privacy.processing_lines`), shown at
        the end (the client's appendix).

    Returns
    -------
    str
        The HTML page.

    Raises
    ------
    privacy.PIIError
        The rendered text holds e-mail addresses.
    """
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>"
                   for k, v in (header or {}).items())
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({"crm_report.html.j2": _TEMPLATE})],
        template_file="crm_report.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    resources = {
        "metadata": {"name": title},
        "crm": {"css": _CSS + page_css(settings, getattr(settings, "title", "") or title),
                "header": (f"<table>{rows}</table>" if rows else "")
                + (f"<p class='crm-stopped'>{html.escape(notice)}</p>" if notice else ""),
                "footer": html.escape(footer)},
    }
    body, _ = exporter.from_notebook_node(_report_copy(nb, audience, meta, run_ref, record), resources=resources)
    found = privacy.find_emails(_strip_data_uris(body))
    if found:
        raise privacy.PIIError(f"report {title!r} shows e-mail addresses (e.g. {found[0]!r}): "
                               f"drop or pseudonymise them before displaying tables")
    return sanitize_html(body)


_DATA_URI = re.compile(r"data:[^\"') ]*")


def _strip_data_uris(text: str) -> str:
    """``text`` without its ``data:`` URIs (each up to a quote, a parenthesis or a space)."""
    return _DATA_URI.sub("", text)


TABLES_NOTE = ("The tables (tables/*.csv) are UTF-8 CSV files for spreadsheets: a text cell that starts with "
               "=, +, -, @, a tab or a carriage return is written with a leading apostrophe ('=...), so a "
               "spreadsheet shows it as text and never runs it as a formula; numbers are never changed.")
"""The sentence under the index that tells the reader how the tables are written."""

_SECTION_WORDS = {"skipped": "skipped", "skip": "skipped", "fallback": "ran with a fallback"}


def _code_spans(text: str) -> str:
    """Escape ``text`` for HTML, then show its `quoted` names (tables, columns) as code, as the
    reports' markdown does. Escaping comes first, so nothing in ``text`` can become markup."""
    parts = html.escape(text).split("`")
    if len(parts) % 2 == 0:  # an unpaired backquote: leave the text as it is
        return "`".join(parts)
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _sections_html(sections: list[dict]) -> str:
    """'7 of 9 sections ran' with their titles, then each section that did not run in full and why."""
    e = html.escape
    n = len(sections)
    ran = [x for x in sections if x.get("status") in ("ran", "ok", "fallback")]
    fallback = sum(x.get("status") == "fallback" for x in sections)
    head = f"{len(ran)} of {n} section{'s' if n != 1 else ''} ran"
    if fallback:
        head += f" ({fallback} with a fallback)"
    titles = ", ".join(e(str(x.get("title") or x.get("key") or "")) for x in ran)
    out = [f"<div class='sections'><b>{e(head)}</b>" + (f"<span class='ran'>: {titles}</span>" if titles else "")]
    rest = [x for x in sections if x.get("status") not in ("ran", "ok")]
    if rest:
        out.append("<ul>")
        for x in rest:
            st = str(x.get("status") or "")
            word = _SECTION_WORDS.get(st, st)
            reason = str(x.get("reason") or "").strip()
            out.append(f"<li class='sec-{e(st)}'>{e(str(x.get('title') or x.get('key') or ''))}: "
                       f"<span class='s'>{e(word)}</span>{' — ' + _code_spans(reason) if reason else ''}</li>")
        out.append("</ul>")
    out.append("</div>")
    return "".join(out)


def _markdown_html(text: str) -> str:
    """Markdown of a finding or action (data values already escaped by the notebook) as HTML,
    without the paragraph around it; :func:`sanitize_html` cleans the whole page afterwards."""
    import mistune

    out = mistune.html(text).strip()
    if out.startswith("<p>") and out.endswith("</p>") and out.count("<p>") == 1:
        out = out[3:-4]
    return out


def executive_summary(manifest: dict, max_findings: int = 8, max_actions: int = 5) -> tuple[list, list]:
    """The run's findings and actions for the executive summary, from every notebook's metadata.

    Findings: priority 1 first, then 2 and 3, in notebook order, at most ``max_findings``.
    Actions: by priority, then expected value (largest first), at most ``max_actions``.
    Each item is ``(notebook entry, item)``; only notebooks that ran (a skipped section
    records none).
    """
    nbs = [nb for nb in manifest.get("notebooks", []) if nb.get("status") == "ok"]
    findings = [(nb, f) for nb in nbs for f in nb.get("findings") or [] if isinstance(f, dict)]
    findings.sort(key=lambda x: _finding_order(x[1]))  # stable: notebook order within a priority
    actions = [(nb, a) for nb in nbs for a in nb.get("actions") or [] if isinstance(a, dict)]
    actions.sort(key=lambda x: _action_order(x[1]))
    return findings[:max_findings], actions[:max_actions]


_INDEX_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1000px;
       margin: 2em auto; padding: 0 1.5em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: .2em; }
.meta { color: #666; font-size: 13px; margin-bottom: 1.2em; }
.summary { border: 1px solid #b6c8e0; background: #f3f7fc; border-radius: 6px; padding: .4em 1.3em .8em; margin: 1em 0 1.5em; }
.summary h2 { font-size: 1.15em; margin: .7em 0 .3em; } .summary li { margin: .3em 0; overflow-wrap: anywhere; }
.summary .value { font-weight: 600; } .summary .from { color: #555; font-size: 13px; }
.nb { border: 1px solid #ddd; border-radius: 6px; padding: .8em 1.2em; margin: 1em 0; break-inside: avoid; }
.nb h2 { font-size: 1.2em; margin: .2em 0 .5em; }
.status-ok { color: #1a7f37; } .status-failed { color: #cf222e; font-weight: bold; }
.status-skipped, .status-pending { color: #888; }
.headlines { display: flex; flex-wrap: wrap; gap: .6em 2em; margin: .5em 0; }
.headline { max-width: 100%; } .headline .v { font-size: 1.4em; font-weight: 600; overflow-wrap: anywhere; }
.headline .n { color: #555; font-size: 13px; overflow-wrap: anywhere; }
.files { font-size: 13px; color: #444; overflow-wrap: anywhere; } .files a { margin-right: .8em; }
.files details summary { cursor: pointer; }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: .8em; margin: .6em 0; align-items: start; }
.charts img { width: 100%; height: auto; max-height: 420px; object-fit: contain; border: 1px solid #eee; }
.thumbs img { max-height: 140px; max-width: 100%; margin: .3em .6em 0 0; border: 1px solid #eee; }
.notes { background: #f6f8fa; border-radius: 6px; padding: .5em 1.2em; font-size: 14px; overflow-wrap: anywhere; }
.notes h2 { font-size: 1em; margin: .3em 0; } .notes ul { margin: .3em 0; padding-left: 1.2em; }
.sections { font-size: 14px; margin: .5em 0; overflow-wrap: anywhere; } .sections .ran { color: #555; }
.sections ul { margin: .2em 0; padding-left: 1.2em; }
.sec-skipped .s, .sec-skip .s { color: #888; font-weight: 600; } .sec-fallback .s { color: #9a6700; font-weight: 600; }
.about { color: #777; font-size: 12px; border-top: 1px solid #ddd; margin-top: 2em; padding-top: .6em; overflow-wrap: anywhere; }
@media print { body { max-width: none; margin: 0; padding: 0; } .nb { break-inside: auto; }
  .screen-only, .files details { display: none; } .summary { break-inside: auto; }
  .charts img { max-height: 300px; } }
"""


def write_index(run_dir: Path, manifest: dict) -> Path:
    """Write ``index.html``: the executive summary, then every notebook's report, PDF and files.

    For the client (``manifest["audience"] == "client"``): the engagement's title, client,
    author and date (``manifest["report_settings"]``); one executive summary of the run's
    findings (at most 8) and prioritised actions (3 to 5, with their expected values), each
    linking to the section it comes from (:func:`executive_summary`); what the data could not
    show; per notebook its headline numbers, up to two readable charts, the PDF and the CSVs;
    the run's identity at the end. For the analyst, the same plus each notebook's status,
    duration and every figure. Failed notebooks say where they stopped. Every value is
    HTML-escaped; keys an older manifest lacks are left out. The page carries :data:`INDEX_CSP`
    (no script, no fetch beyond its own folder).

    Parameters
    ----------
    run_dir : Path
        The run folder; links are relative to it, so the folder can be moved or zipped.
    manifest : dict
        The run manifest (see :func:`crm_research.run.run_notebooks`).

    Returns
    -------
    Path
        The index file.
    """
    from crm_research import settings as report_settings

    e = html.escape
    client = manifest.get("audience") == "client"
    look = report_settings.from_dict(manifest.get("report_settings"))
    status = manifest.get("status", "")
    nbs = manifest.get("notebooks", [])
    title = look.title if client else f"Analysis run {manifest.get('run', '')}"
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{e(title or 'Analysis run')}</title><style>{_INDEX_CSS}{page_css(look, look.title)}</style></head><body>",
        f"<h1>{e(title or '')}</h1>",
    ]
    data = manifest.get("data") or {}
    git = manifest.get("git") or {}
    run_facts = [e(str(manifest.get("run", ""))),
                 f"started {e(str(manifest.get('started', ''))[:19].replace('T', ' '))}"]
    if data.get("fingerprint"):
        run_facts.append(f"data fingerprint {e(data['fingerprint'][:12])}")
    if git.get("commit"):
        run_facts.append(f"code {e(git['commit'][:10])}{' (modified)' if git.get('dirty') else ''}")
    kept = (manifest.get("record_of_processing") or {}).get("retention") or {}
    if kept.get("delete_after"):
        run_facts.append(f"kept until {e(str(kept['delete_after']))} ({e(str(kept.get('keep_runs_days')))} days)")
    failed = [nb for nb in nbs if nb.get("status") == "failed"]
    as_of = next((nb.get("parameters", {}).get("as_of") for nb in nbs if nb.get("parameters", {}).get("as_of")), None)
    if client:
        facts = [f"{e(k)}: {e(str(v))}" for k, v in look.header(as_of).items() if k != "Report"]
        if status not in ("ok", "", "running"):  # 'running': the summary PDF is printed before the run ends
            facts.append(f"run status: <span class='status-{e(status)}'>{e(status)}</span> (incomplete results)")
    else:
        facts = [f"status: <span class='status-{e(status)}'>{e(status)}</span>"] + run_facts[1:]
    if failed:
        facts.insert(1, f"<span class='status-failed'>{len(failed)} of {len(nbs)} notebook"
                        f"{'s' if len(nbs) != 1 else ''} failed</span>")
    if manifest.get("summary_pdf"):
        facts.append(f"<a class='screen-only' href='{e(str(manifest['summary_pdf']))}'>this summary as PDF</a>")
    parts.append(f"<div class='meta'>{' · '.join(facts)}</div>")
    findings, actions = executive_summary(manifest)
    if findings or actions:
        parts.append("<div class='summary'>")

        def origin(nb: dict, item: dict) -> str:
            link = nb.get("report")
            sec = str(item.get("section", ""))
            name = nb.get("title") or nb.get("name", "")
            name = re.sub(r"^\s*\d+\.\s*", "", str(name)).split(":")[0]
            if not link:
                return ""
            anchor = f"#s-{sec}" if re.fullmatch(r"[A-Za-z0-9_]+", sec) else ""
            return f" <a class='from' href='{e(link)}{anchor}'>({e(name)})</a>"

        if findings:
            parts.append("<h2>Key findings</h2><ul>")
            parts += [f"<li>{_markdown_html(str(f['text']))}{origin(nb, f)}</li>" for nb, f in findings]
            parts.append("</ul>")
        if actions:
            parts.append("<h2>Recommended actions</h2><ol>")
            for nb, a in actions:
                value = f" <span class='value'>{e(_value_words(a))}.</span>" if a.get("value_text") else ""
                parts.append(f"<li>{_markdown_html(str(a['text']))}{value}{origin(nb, a)}</li>")
            parts.append("</ol>")
        parts.append("</div>")
    notes: list[str] = []
    for nb in nbs:
        mine = (nb.get("client_notes") if client and "client_notes" in nb else nb.get("data_notes")) or []
        notes += [str(n) for n in mine if str(n) not in notes]
    if notes:
        parts.append("<div class='notes'><h2>About the data</h2><ul>"
                     + "".join(f"<li>{_code_spans(n)}</li>" for n in notes) + "</ul></div>")
    for nb in nbs:
        st = nb.get("status", "")
        title_nb = nb.get("title") or nb["name"]
        link = nb.get("report")
        head = f"<a href='{e(link)}'>{e(title_nb)}</a>" if link else e(title_nb)
        dur = nb.get("duration_s")
        parts.append("<div class='nb'>")
        if client:
            flag = "" if st == "ok" else f" <small class='status-{e(st)}'>{e(st)}</small>"
            parts.append(f"<h2>{head}{flag}</h2>")
        else:
            parts.append(f"<h2>{head} <small class='status-{e(st)}'>{e(st)}"
                         f"{f' · {dur:.1f} s' if isinstance(dur, int | float) else ''}</small></h2>")
        failure = nb.get("failure") or {}
        if failure.get("sentence"):
            parts.append(f"<p class='status-failed'>{e(str(failure['sentence']))} "
                         f"<small>(<a href='notebooks/{e(nb['name'])}.ipynb'>executed notebook</a>)</small></p>")
        elif nb.get("error"):
            parts.append(f"<p class='status-failed'>{e(str(nb['error']))}</p>")
        if nb.get("headlines"):
            parts.append("<div class='headlines'>")
            for h in nb["headlines"]:
                parts.append(f"<div class='headline'><div class='v'>{e(str(h.get('text', h.get('value'))))}"
                             f"</div><div class='n'>{e(str(h['name']))}</div></div>")
            parts.append("</div>")
        figs = [str(f) for f in nb.get("figures", [])]
        if client:
            chosen = [str(f["figure"]) for f in nb.get("findings") or [] if isinstance(f, dict)
                      and f.get("figure") in figs]
            chosen = list(dict.fromkeys(chosen + figs))[:2]
            if chosen:
                parts.append("<div class='charts'>" + "".join(
                    f"<a href='figures/{e(f)}.png'><img src='figures/{e(f)}.png' alt='{e(f)}'></a>"
                    for f in chosen) + "</div>")
        shown = [x for x in nb.get("sections") or [] if not (client and x.get("analyst"))]
        if shown:
            parts.append(_sections_html(shown))
        files = []
        if link:
            files.append(f"<a href='{e(link)}'>Report (HTML)</a>")
        if nb.get("pdf"):
            files.append(f"<a href='{e(nb['pdf'])}'>Report (PDF)</a>")
        planted = set(nb.get("planted_tables") or []) if client else set()  # the planted-truth checks: the analyst's
        tables = [f"<a href='tables/{e(t)}.csv'>{e(t)}.csv</a>" for t in nb.get("tables", []) if t not in planted]
        if client and tables:
            files.append(f"<details><summary>Spreadsheets ({len(tables)})</summary>{' '.join(tables)}</details>")
        else:
            files += tables
        if files:
            parts.append(f"<div class='files'>{' '.join(files)}</div>")
        if figs and not client:
            parts.append("<div class='thumbs'>" + "".join(
                f"<a href='figures/{e(f)}.png'><img src='figures/{e(f)}.png' alt='{e(f)}'></a>"
                for f in figs) + "</div>")
        parts.append("</div>")
    if any(nb.get("tables") for nb in nbs):
        parts.append(f"<p class='files'>{e(TABLES_NOTE)}</p>")
    record = (manifest.get("record_of_processing") or {})
    lines = privacy.processing_lines(record)
    if lines:
        parts.append(f"<div class='record'><h2>{e(RECORD_TITLE)}</h2><ul>"
                     + "".join(f"<li><b>{e(head)}.</b> {_code_spans(text)}</li>" for head, text in lines)
                     + "</ul></div>")
    if client:
        parts.append(f"<div class='about'>About this run: {' · '.join(run_facts)}</div>")
    parts.append("</body></html>\n")
    path = run_dir / "index.html"
    path.write_text(sanitize_html("\n".join(parts), csp=INDEX_CSP), encoding="utf-8")
    return path


def find_chromium() -> str | None:
    """Return the path of a Chromium or Chrome executable on ``PATH``, or None."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


_CHROMIUM_SWITCHES = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
    "--disable-component-update", "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # nothing on the network, whatever the page asks
)
_PRINT_OPTIONS = {"printBackground": True, "preferCSSPageSize": True, "displayHeaderFooter": False}
"""``Page.printToPDF`` as ``chromium --print-to-pdf --no-pdf-header-footer`` prints (the same
pixels on every page of the five reports and the index: compared at 50 dpi)."""


class _Hung(CRMError):
    """The browser did not answer in time, its pipe broke, or it answered what the protocol does
    not: it is replaced for the next page."""


class PdfPrinter:
    """One headless Chromium that prints HTML files to PDF, one after the other.

    Starting Chromium is most of the cost of printing one report (about 3 CPU s against well
    under one for the page), so a run prints all its reports with one printer. The browser is
    driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``, no port is
    opened), each page in a fresh tab with scripts switched off; nothing is fetched from the
    network (every host name resolves to nothing) and the reports carry a policy without
    scripts or network (:data:`CSP`). A browser that dies, or does not answer within
    ``timeout``, is killed and a new one prints the next page.

    Parameters
    ----------
    chromium : str
        Executable (see :func:`find_chromium`).
    timeout : float
        Seconds a page may take to load and print (and Chromium to start) before giving up.

    Examples
    --------
    >>> with PdfPrinter(find_chromium()) as printer:  # doctest: +SKIP
    ...     printer.print(Path("01_baseline.html"), Path("01_baseline.pdf"))
    """

    CLOSE_S = 5.0
    """Seconds given to closing a tab, and to the browser to quit, before it is killed."""

    def __init__(self, chromium: str, timeout: float = 120) -> None:
        self.chromium = chromium
        self.timeout = timeout
        self._open = False
        self._proc: subprocess.Popen | None = None

    def __repr__(self) -> str:
        return f"PdfPrinter({self.chromium!r}, timeout={self.timeout:g})"

    def __enter__(self) -> PdfPrinter:
        self._start()
        self._open = True
        return self

    def __exit__(self, *exc) -> None:
        self._open = False
        self._stop()

    def _start(self) -> None:
        if shutil.which(self.chromium) is None:
            raise CRMError(f"Chromium could not be started: {self.chromium} is no executable")
        self._profile = tempfile.TemporaryDirectory(prefix="crm-chromium-")
        self._write = self._read = self._log = None
        self._buffer, self._id, self._events = bytearray(), 0, []
        try:
            profile = self._profile.name
            ends: list[int] = []  # the child's ends of the two pipes
            try:
                to_chromium, self._write = os.pipe()
                ends.append(to_chromium)
                self._read, from_chromium = os.pipe()
                ends.append(from_chromium)
                # above 9, so that neither is fd 3 or 4 itself
                to_chromium, from_chromium = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in ends[:2])
                ends += [to_chromium, from_chromium]
                self._log = open(Path(profile) / "chromium.log", "w+b")  # noqa: SIM115 - closed in _stop
                # the browser reads its commands on fd 3 and answers on fd 4; bash puts the pipes
                # there (no Python runs in the child between fork and exec; dash takes one-digit fds)
                moves = f"3<&{to_chromium} 4>&{from_chromium} {to_chromium}<&- {from_chromium}>&-"
                self._proc = subprocess.Popen(
                    [shutil.which("bash") or "/bin/bash", "-c", f'exec "$0" "$@" {moves}', self.chromium,
                     *_CHROMIUM_SWITCHES, f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
                    stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
                    pass_fds=(to_chromium, from_chromium), env={**os.environ, "HOME": profile})
            finally:
                for fd in ends:
                    os.close(fd)
            self._call("Browser.getVersion", what="start")
        except OSError as exc:
            self._stop()
            raise CRMError(f"Chromium could not be started ({self.chromium}): {exc.strerror or exc}") from exc
        except BaseException:
            self._stop()
            raise

    def _stop(self, kill: bool = False) -> None:
        """Quit (or kill) the browser and remove its pipes, log and profile."""
        proc, self._proc = self._proc, None
        try:
            if proc is not None and proc.poll() is None:
                if not kill:
                    try:
                        self._send("Browser.close")
                    except OSError:
                        pass
                try:
                    proc.wait(0 if kill else self.CLOSE_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        finally:
            for fd in (self._write, self._read):
                if fd is not None:
                    os.close(fd)
            self._write = self._read = None
            if self._log is not None:
                self._log.close()
                self._log = None
            self._profile.cleanup()

    def _failure(self, what: str) -> CRMError:
        self._log.seek(0)
        lines = [x for x in self._log.read().decode(errors="replace").splitlines()
                 if x.strip() and "unexpected operator" not in x  # Debian's launcher script's own noise
                 and "dbus" not in x.lower()]  # no session bus in a container: not why it failed
        code = self._proc.poll() if self._proc is not None else None
        status = "" if code is None else f" (exit {code})"
        return _Hung(f"Chromium could not {what}{status}: {lines[-1] if lines else 'no message'}")

    def _send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self._write, data):]
        return self._id

    def _message(self, deadline: float, what: str) -> dict:
        poller = select.poll()
        poller.register(self._read, select.POLLIN)
        searched = 0
        while (end := self._buffer.find(b"\0", searched)) < 0:
            searched = len(self._buffer)
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Hung(f"Chromium did not finish {what} within {self.timeout:.0f} s")
            if poller.poll(max(1, int(left * 1000))):
                chunk = os.read(self._read, 1 << 20)
                if not chunk:
                    if self._proc is not None:
                        try:
                            self._proc.wait(2)
                        except subprocess.TimeoutExpired:
                            pass
                    raise self._failure(what)
                self._buffer += chunk
        message = bytes(self._buffer[:end])
        del self._buffer[:end + 1]
        try:
            parsed = json.loads(message)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise _Hung(f"Chromium gave an unreadable answer while it tried to {what}")
        return parsed

    def _call(self, method: str, params: dict | None = None, session: str | None = None, *,
              what: str, deadline: float | None = None) -> dict:
        deadline = time.monotonic() + self.timeout if deadline is None else deadline
        try:
            sent = self._send(method, params, session)
        except OSError as exc:
            raise self._failure(what) from exc
        while True:
            message = self._message(deadline, what)
            if message.get("id") == sent:
                if "error" in message:
                    raise CRMError(f"Chromium could not {what}: {message['error'].get('message', 'no message')}")
                return message.get("result", {})
            if "method" in message:
                self._events.append(message)

    def _event(self, method: str, session: str, deadline: float, what: str) -> dict:
        while True:
            for i, event in enumerate(self._events):
                if event.get("method") == method and event.get("sessionId") == session:
                    return self._events.pop(i)
            self._events.append(self._message(deadline, what))

    def _close_tab(self, target: str, what: str) -> None:
        try:
            self._call("Target.closeTarget", {"targetId": target}, what=what,
                       deadline=time.monotonic() + self.CLOSE_S)
        except _Hung:
            self._stop(kill=True)  # the page is printed; the next one gets a new browser
        except CRMError:
            pass  # the tab is gone already

    def print(self, html_path: Path, pdf_path: Path) -> Path:
        """Print ``html_path`` to ``pdf_path`` (written whole or not at all) and return it.

        Raises
        ------
        CRMError
            Chromium failed, stopped, or took longer than ``timeout``.
        """
        if not self._open:
            raise CRMError("PdfPrinter is not started: use it in a `with` block")
        if self._proc is None or self._proc.poll() is not None:  # died or hung on an earlier page
            self._stop(kill=True)
            self._start()
        what = f"print {html_path.name}"
        deadline = time.monotonic() + self.timeout
        self._events.clear()
        target = None
        try:
            try:
                target = self._call("Target.createTarget", {"url": "about:blank"}, what=what,
                                    deadline=deadline)["targetId"]
                s = self._call("Target.attachToTarget", {"targetId": target, "flatten": True}, what=what,
                               deadline=deadline)["sessionId"]
                self._call("Emulation.setScriptExecutionDisabled", {"value": True}, s, what=what,
                           deadline=deadline)
                self._call("Page.enable", None, s, what=what, deadline=deadline)
                loaded = self._call("Page.navigate", {"url": Path(html_path).resolve().as_uri()}, s,
                                    what=what, deadline=deadline)
                if loaded.get("errorText"):
                    raise CRMError(f"Chromium could not {what}: {loaded['errorText']}")
                self._event("Page.loadEventFired", s, deadline, what)
                data = base64.b64decode(self._call("Page.printToPDF", _PRINT_OPTIONS, s, what=what,
                                                   deadline=deadline)["data"])
            except (KeyError, TypeError, AttributeError, ValueError) as exc:  # a missing or mistyped field
                raise _Hung(f"Chromium gave an unreadable answer while it tried to {what}") from exc
        except _Hung:
            self._stop(kill=True)  # the next page gets a new browser
            raise
        finally:
            if target is not None and self._proc is not None:
                self._close_tab(target, what)
        if not data.startswith(b"%PDF-"):
            raise CRMError(f"Chromium could not {what}: it returned no PDF")
        tmp = pdf_path.with_name(f".{pdf_path.name}.part")
        try:
            tmp.write_bytes(data)
            tmp.replace(pdf_path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        return pdf_path


def print_pdf(html_path: Path, pdf_path: Path, chromium: str, timeout: float = 120) -> Path:
    """Print ``html_path`` to ``pdf_path`` with headless Chromium.

    No script runs and nothing is fetched while printing: scripts are switched off in the
    page, the reports carry a Content-Security-Policy without scripts or network (:data:`CSP`,
    added by :func:`sanitize_html`), and Chromium is started with every host name resolving to
    nothing, so even a page without the policy cannot call out. Printing several pages? One
    :class:`PdfPrinter` prints them all for the start-up cost of one.

    Parameters
    ----------
    html_path, pdf_path : Path
    chromium : str
        Executable (see :func:`find_chromium`).
    timeout : float
        Seconds before giving up.

    Returns
    -------
    Path
        ``pdf_path``.

    Raises
    ------
    CRMError
        Chromium failed or wrote no file.
    """
    with PdfPrinter(chromium, timeout) as printer:
        return printer.print(html_path, pdf_path)
