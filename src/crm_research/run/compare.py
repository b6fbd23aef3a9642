"""Compare two runs: what differed between them, the headline changes, the rows that changed.

:func:`compare_runs` reads two run folders and writes, in this order:

1. **What differed**: the parameters of each notebook that differ (A → B), the input data
   (same or different fingerprint), the code (git commit, uncommitted changes, package
   versions) and ``as_of``.
2. **Headlines**: the numbers on the run index (``meta/<notebook>.json``) that changed.
3. **Tables**: per table of ``tables/``, only the rows whose values changed beyond a tolerance,
   with the identifying columns and the changed columns (``A → B (change)``); unchanged rows
   are counted, rows present in one run only are counted and the first few named.

Shares and rates are shown as percentages and their changes in percentage points (pts);
other numbers with thousands separators and signed changes. Every value read from a run is
escaped before it is written as Markdown (:func:`md_escape`) or HTML (:func:`html.escape`,
then :func:`crm_research.report.sanitize_html`), so a segment called ``<script>`` or
``=HYPERLINK(...)`` stays text.
"""

from __future__ import annotations

import html
import json
import math
import numbers
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crm_research import paths
from crm_research.errors import CRMError
from crm_research.run import lifecycle

__all__ = ["compare_runs", "compare_table", "key_columns", "md_escape", "output_paths", "REL_TOL", "ABS_TOL"]

REL_TOL = 1e-9
"""Default relative tolerance: a value counts as changed when ``|B - A|`` exceeds this share of
the larger of ``|A|`` and ``|B|`` (and :data:`ABS_TOL`)."""

ABS_TOL = 1e-12
"""Absolute tolerance (in the column's own unit): smaller differences never count as changes."""

BRIEF_LINES = 80
"""Lines the short comparison (``brief=True``, what the CLI prints) aims to stay within."""

REIDENTIFIED = ".reidentified"
"""Suffix of tables mapped back to ids by ``crm-research reidentify``: never compared."""

_SHARE_TOKENS = frozenset({"share", "rate", "pct", "percent", "ctr", "cvr", "conversion", "probability"})
"""Words of a column name that make it a share or rate (shown in %, changes in pts)."""
_NOT_SHARE_TOKENS = frozenset({"n", "count", "numerator", "denominator", "z", "p", "q", "days", "months",
                               "customers", "orders", "contacts", "adjusted", "rank", "replicates"})
"""Words of a column name that keep it out of the row-level ``unit == "share"`` rule."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_MD_SPECIAL = re.compile(r"[|`<>*\[\]]")
_MD_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")  # an '_' not between two letters/digits


# --- escaping ------------------------------------------------------------------------------


def _clean(text: Any) -> str:
    """``text`` as one line: control characters (newlines, terminal escapes) become spaces."""
    return _CONTROL.sub(" ", str(text))


def md_escape(text: Any) -> str:
    """``text`` as literal Markdown text, safe inside a table cell.

    Backslashes, ``|``, backquotes, ``<``, ``>``, ``*``, ``[`` and ``]`` are escaped with a
    backslash, and so is every ``_`` that is not between two letters or digits (an ``_``
    inside a word, as in ``value_at_risk``, cannot start emphasis in CommonMark, GitHub or
    pandoc Markdown, and stays readable). Newlines and other control characters become
    spaces, so a value cannot start a new line, row or heading, nor send escape sequences to
    a terminal.

    Parameters
    ----------
    text : Any
        A value read from a run (converted with ``str``).

    Returns
    -------
    str
    """
    s = _clean(text).replace("\\", "\\\\")
    s = _MD_SPECIAL.sub(lambda m: "\\" + m.group(), s)
    return _MD_UNDERSCORE.sub(r"\\_", s)


def _h(text: Any) -> str:
    return html.escape(_clean(text), quote=True)


def _h_wrap(text: Any, chunk: int = 16) -> str:
    """:func:`_h`, with line-break opportunities (``<wbr>``) in words longer than 12 characters:
    after ``_``, ``/``, ``.`` and ``-``, and every ``chunk`` characters of a piece longer than 24,
    so long column names, ids or a hostile run of letters cannot widen a table past the page."""
    def pieces(word: str) -> list[str]:
        if len(word) <= 12:
            return [word]
        parts = [p for p in re.split(r"(?<=[_/.\-])", word) if p]
        return [p[i:i + chunk] if len(p) > 24 else p for p in parts
                for i in (range(0, len(p), chunk) if len(p) > 24 else [0])]

    return "".join("<wbr>".join(_h(p) for p in pieces(w)) for w in re.split(r"(\s+)", _clean(text)))


# --- run folders ---------------------------------------------------------------------------


def _run_folder(p: Path) -> Path:
    p = Path(p)
    if not p.exists() and not p.is_absolute():
        alt = paths.reports_dir() / p
        if alt.exists():
            p = alt
    if not ((p / "tables").is_dir() or (p / "manifest.json").is_file()):
        raise CRMError(f"{p} is not a run folder (no tables/ or manifest.json inside): give a folder "
                       f"under reports/")
    return p


def _check_finished(folder: Path, allow_incomplete: bool) -> str | None:
    """None for a run that finished well; else raise, or with ``allow_incomplete`` return the
    sentence to show above the comparison."""
    state, why = lifecycle.run_state(lifecycle.read_manifest(folder))
    if state == "ok":
        return None
    if not allow_incomplete:
        raise CRMError(f"run {folder.name} {why}: compare finished runs, or pass --allow-incomplete "
                       f"to compare it anyway")
    return f"Run {folder.name} {why}."


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _headlines(folder: Path, manifest: dict) -> dict[str, list[dict]]:
    """Headlines per notebook, in run order: ``meta/<notebook>.json``, else the manifest."""
    out: dict[str, list[dict]] = {}
    for nb in manifest.get("notebooks") or []:
        if isinstance(nb, dict) and nb.get("name"):
            out[str(nb["name"])] = [h for h in nb.get("headlines") or [] if isinstance(h, dict)]
    meta = folder / "meta"
    for p in sorted(meta.glob("*.json")) if meta.is_dir() else []:
        data = _read_json(p)
        name = str(data.get("notebook") or p.stem)
        if isinstance(data.get("headlines"), list):
            out[name] = [h for h in data["headlines"] if isinstance(h, dict)]
    return out


def output_paths(out: str | Path) -> tuple[Path, Path, Path]:
    """Where :func:`compare_runs` writes for ``out``.

    Parameters
    ----------
    out : str or Path
        ``FILE.md`` or ``FILE.html`` (both are written, side by side), or a folder.

    Returns
    -------
    (Path, Path, Path)
        The Markdown file, the HTML page and the folder of the per-table CSVs: for a file,
        ``FILE.md``, ``FILE.html`` and ``FILE-tables/``; for a folder, ``comparison.md``,
        ``comparison.html`` and the folder itself.
    """
    out = Path(out)
    if out.suffix.lower() in (".md", ".html", ".htm"):
        return out.with_suffix(".md"), out.with_suffix(".html"), out.with_name(out.stem + "-tables")
    return out / "comparison.md", out / "comparison.html", out


# --- numbers -------------------------------------------------------------------------------


def _isnum(v: Any) -> bool:
    """A finite real number (Python or NumPy), not a boolean."""
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and type(v).__name__ != "bool_" \
        and math.isfinite(v)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _plain(v: float, sign: bool = False, digits: int = 4) -> str:
    """A number with thousands separators: whole numbers exact, >= 1,000 without decimals,
    >= 100 with one, smaller ones with ``digits`` significant digits."""
    sp = "+" if sign else ""
    a = abs(v)
    if float(v).is_integer() and a < 1e15:
        return f"{int(v):{sp},}"
    if a >= 1000 and digits <= 4:
        return f"{v:{sp},.0f}"
    if a >= 100 and digits <= 4:
        return f"{v:{sp},.1f}"
    return f"{v:{sp},.{digits}g}"


def _value(v: Any, kind: str | None = None, digits: int = 4) -> str:
    """One value as text: shares (``kind="share"``, fractions) and percentages (``"pct"``) with
    a % sign and one decimal; other numbers by :func:`_plain`; missing as an em dash."""
    if _missing(v):
        return "—"
    if not _isnum(v):
        return str(v)
    if kind in ("share", "pct"):
        p = v * 100 if kind == "share" else v
        s = f"{p:.1f}%"
        return s if p == 0 or float(s[:-1]) != 0 else f"{p:.2g}%"
    return _plain(v, digits=digits)


def _change(d: float, kind: str | None = None) -> str:
    """A signed change: in percentage points (pts) for shares and percentages; other numbers by
    :func:`_plain` with three significant digits."""
    if kind in ("share", "pct"):
        p = d * 100 if kind == "share" else d
        s = f"{p:+.1f}"
        return f"{s if float(s) != 0 else f'{p:+.2g}'} pts"
    return _plain(d, sign=True, digits=3)


def _pair(a: Any, b: Any, kind: str | None = None) -> tuple[str, str]:
    """A and B as text; plain numbers with enough digits that two different ones do not look
    equal (shares keep one decimal: their change in pts shows a smaller move)."""
    fa, fb = _value(a, kind), _value(b, kind)
    digits = 4
    while fa == fb and kind is None and _isnum(a) and _isnum(b) and a != b and digits < 12:
        digits += 2
        fa, fb = _value(a, kind, digits), _value(b, kind, digits)
    return fa, fb


def _changed(a: Any, b: Any, rel: float, abs_tol: float = ABS_TOL) -> bool:
    """True when numbers differ beyond the tolerances, or texts differ (missing == missing)."""
    if _missing(a) and _missing(b):
        return False
    if _missing(a) or _missing(b):
        return True
    if _isnum(a) and _isnum(b):
        return abs(b - a) > max(abs_tol, rel * max(abs(a), abs(b)))
    return str(a) != str(b)


def _tokens(name: str) -> set[str]:
    return set(re.split(r"[^a-z0-9]+", str(name).lower())) - {""}


# --- tables --------------------------------------------------------------------------------


def _unique(df, cols: list[str]) -> bool:
    return not df.duplicated(subset=cols).any()


def _numeric_columns(a, b) -> list[str]:
    import pandas as pd

    return [c for c in a.columns if c in b.columns and pd.api.types.is_numeric_dtype(a[c])
            and pd.api.types.is_numeric_dtype(b[c]) and not pd.api.types.is_bool_dtype(a[c])
            and not pd.api.types.is_bool_dtype(b[c])]


def key_columns(a, b) -> list[str]:
    """The columns that identify a row in both versions of a table.

    The shortest run of text columns, in table order, that is unique in both tables (true/false
    columns are never keys); without text columns, a first whole-number column unique in both
    (``bin``, ``decile``); else none (rows are matched by position). When even all text
    columns repeat, all of them (rows are then matched in order of occurrence).

    Parameters
    ----------
    a, b : DataFrame
        The table in run A and run B.

    Returns
    -------
    list of str
    """
    import pandas as pd

    num = set(_numeric_columns(a, b))
    common = [c for c in a.columns if c in b.columns]
    text = [c for c in common if c not in num and not pd.api.types.is_bool_dtype(a[c])
            and not pd.api.types.is_bool_dtype(b[c])]
    for i in range(1, len(text) + 1):
        if _unique(a, text[:i]) and _unique(b, text[:i]):
            return text[:i]
    if text:
        return text
    if common and pd.api.types.is_integer_dtype(a[common[0]]) and pd.api.types.is_integer_dtype(b[common[0]]) \
            and _unique(a, common[:1]) and _unique(b, common[:1]):
        return common[:1]
    return []


def _align(a, b, keys: list[str] | None = None):
    """Rows of A and B side by side: ``(keys, numeric, text, merged)``; ``merged`` has the key
    columns, ``<col> A`` and ``<col> B`` per value column and ``_in`` (``both``, ``left_only``,
    ``right_only``), rows in A's order, then the rows only in B."""
    keys = key_columns(a, b) if keys is None else list(keys)
    common = [c for c in a.columns if c in b.columns]
    num = [c for c in _numeric_columns(a, b) if c not in keys]
    text = [c for c in common if c not in keys and c not in num]
    left, right = a[keys + num + text].copy(), b[keys + num + text].copy()
    for k in keys:
        left[k] = left[k].where(left[k].notna(), "").astype(str)
        right[k] = right[k].where(right[k].notna(), "").astype(str)
    if not keys:
        left["row"], right["row"] = range(1, len(left) + 1), range(1, len(right) + 1)
        keys = ["row"]
    elif not (_unique(left, keys) and _unique(right, keys)):
        left["occurrence"] = left.groupby(keys, sort=False).cumcount() + 1
        right["occurrence"] = right.groupby(keys, sort=False).cumcount() + 1
        keys = keys + ["occurrence"]
    left["_o"] = range(len(left))
    m = left.merge(right, on=keys, how="outer", suffixes=(" A", " B"), sort=False, indicator="_in")
    m["_o"] = m["_o"].fillna(len(left) + m.index.to_series())
    m = m.sort_values("_o", kind="stable").drop(columns="_o").reset_index(drop=True)
    m["_in"] = m["_in"].astype(str)
    for c in text:
        for s in (" A", " B"):
            m[c + s] = m[c + s].astype(object).where(m[c + s].notna(), None)
    return keys, num, text, m


def compare_table(a, b, keys: list[str] | None = None):
    """Join two versions of one table on its identifying columns; values side by side.

    Parameters
    ----------
    a, b : DataFrame
        The table in run A and run B.
    keys : list of str, optional
        The identifying columns (default: :func:`key_columns`).

    Returns
    -------
    DataFrame
        Key columns, then per numeric column ``<col> A``, ``<col> B``, ``<col> change`` and
        ``<col> change %`` (relative to A, in %; empty when A is 0), then per other column
        ``<col> A`` and ``<col> B``. Rows present in one run only have empty values for the
        other. Without key columns, rows are matched by position (``row``).
    """
    return _side_by_side(*_align(a, b, keys))


def _side_by_side(keys: list[str], num: list[str], text: list[str], m):
    """The frame of :func:`compare_table` from the output of :func:`_align`."""
    import numpy as np
    import pandas as pd

    cols = {k: m[k] for k in keys}
    for c in num:
        va, vb = m[f"{c} A"].astype(float), m[f"{c} B"].astype(float)
        cols[f"{c} A"], cols[f"{c} B"] = va, vb
        cols[f"{c} change"] = vb - va
        cols[f"{c} change %"] = pd.Series(np.where(va != 0, (vb - va) / va.abs() * 100, np.nan), index=m.index)
    for c in text:
        cols[f"{c} A"], cols[f"{c} B"] = m[f"{c} A"], m[f"{c} B"]
    return pd.DataFrame(cols, index=m.index)  # built at once: wide tables are not fragmented


@dataclass
class _TableDiff:
    """One table of both runs, compared (see :func:`_diff_table`)."""

    name: str
    keys: list[str]
    values: list[str]                      # value columns in table order
    rows: list[dict]                       # merged rows: keys, "<c> A", "<c> B", "_in"
    changed: list[set[str]]                # per row: the value columns that changed
    kinds: list[dict[str, str | None]]     # per row: "share"/"pct"/None per value column
    only_a_cols: list[str] = field(default_factory=list)
    only_b_cols: list[str] = field(default_factory=list)
    full: Any = None                       # compare_table() output, for the CSV

    def idx(self, status: str) -> list[int]:
        if status == "changed":
            return [i for i, r in enumerate(self.rows) if r["_in"] == "both" and self.changed[i]]
        if status == "unchanged":
            return [i for i, r in enumerate(self.rows) if r["_in"] == "both" and not self.changed[i]]
        return [i for i, r in enumerate(self.rows) if r["_in"] == status]

    @property
    def is_same(self) -> bool:
        return not (self.idx("changed") or self.idx("left_only") or self.idx("right_only")
                    or self.only_a_cols or self.only_b_cols)

    def label(self, i: int) -> str:
        r = self.rows[i]
        if self.keys == ["row"]:
            return f"row {r['row']}"
        parts = [str(r[k]) for k in self.keys if k != "occurrence"]
        if "occurrence" in self.keys and r["occurrence"] > 1:
            parts.append(f"#{r['occurrence']}")
        return " / ".join(p if p != "" else "(blank)" for p in parts)


def _column_kind(name: str, values) -> str | None:
    """``share`` (fractions) or ``pct`` (already in %) for a column whose name says share, rate,
    pct or probability (``p_churn``; not ``p_value``); None otherwise, or when its values are
    not fractions (a "rate" of 3.5). A pct column of fractions only is taken as fractions."""
    t = _tokens(name)
    probability = str(name).lower().startswith("p_") and not t & {"value", "adjusted", "holm"}
    if not (t & _SHARE_TOKENS or probability):
        return None
    finite = [v for v in values if _isnum(v)]
    fractions = all(abs(v) <= 1 for v in finite)
    if t & {"pct", "percent"}:
        return "share" if fractions else "pct"
    return "share" if fractions else None


def _diff_table(name: str, a, b, rel: float) -> _TableDiff:
    """Compare one table of both runs: which rows and columns changed beyond ``rel``."""
    keys, num, text, m = _align(a, b)
    full = _side_by_side(keys, num, text, m)
    order = [c for c in a.columns if c in num or c in text]
    m = m.astype(object).where(m.notna(), None)
    rows = m.to_dict("records")
    col_kind = {c: _column_kind(c, list(m[f"{c} A"]) + list(m[f"{c} B"])) for c in num}
    if any(k == "share" for k in col_kind.values()):  # confidence bounds of a share: ci_lower, ci_upper
        for c in num:
            vals = [v for v in list(m[f"{c} A"]) + list(m[f"{c} B"]) if _isnum(v)]
            if col_kind[c] is None and "ci" in _tokens(c) and all(abs(v) <= 1 for v in vals):
                col_kind[c] = "share"
    unit_share = "unit" in text
    row_ok = {c for c in num if col_kind[c] is None and not _tokens(c) & _NOT_SHARE_TOKENS}
    changed, kinds = [], []
    for r in rows:
        ch = {c for c in order if r["_in"] == "both" and _changed(r[f"{c} A"], r[f"{c} B"], rel)}
        changed.append(ch)
        k = dict(col_kind)
        if unit_share and "share" in (r.get("unit A"), r.get("unit B")):
            for c in row_ok:
                vals = [v for v in (r[f"{c} A"], r[f"{c} B"]) if _isnum(v)]
                if vals and all(abs(v) <= 1 for v in vals):
                    k[c] = "share"
        kinds.append(k)
    return _TableDiff(name, keys, order, rows, changed, kinds,
                      only_a_cols=[c for c in a.columns if c not in b.columns],
                      only_b_cols=[c for c in b.columns if c not in a.columns], full=full)


def _cell(d: _TableDiff, i: int, c: str) -> str:
    r, kind = d.rows[i], d.kinds[i].get(c)
    va, vb = r[f"{c} A"], r[f"{c} B"]
    if c not in d.changed[i]:
        return _value(vb, kind)
    fa, fb = _pair(va, vb, kind)
    if _isnum(va) and _isnum(vb):
        return f"{fa} → {fb} ({_change(vb - va, kind)})"
    return f"{fa} → {fb}"


# --- the document --------------------------------------------------------------------------


@dataclass
class _Doc:
    """Blocks of plain text, written as Markdown or HTML with every value escaped."""

    blocks: list[tuple] = field(default_factory=list)

    def h(self, level: int, text: str) -> None:
        self.blocks.append(("h", level, text))

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def warn(self, text: str) -> None:
        self.blocks.append(("warn", text))

    def ul(self, items: list[str]) -> None:
        if items:
            self.blocks.append(("ul", list(items)))

    def table(self, header: list[str], rows: list[list[str]], width: int | None = None) -> None:
        self.blocks.append(("table", list(header), [list(r) for r in rows], width))

    def markdown(self) -> str:
        return "\n".join(_md_block(b) + "\n" for b in self.blocks).rstrip() + "\n"

    def lines(self) -> int:
        return self.markdown().count("\n")


def _cut(s: str, width: int | None) -> str:
    s = _clean(s)
    return s if width is None or len(s) <= width else s[: width - 1] + "…"


def _md_block(b: tuple) -> str:
    kind = b[0]
    if kind == "h":
        return "#" * b[1] + " " + md_escape(b[2])
    if kind == "p":
        return md_escape(b[1])
    if kind == "warn":
        return "**Incomplete.** " + md_escape(b[1])
    if kind == "ul":
        return "\n".join("- " + md_escape(x) for x in b[1])
    _, header, rows, width = b
    cells = [[md_escape(_cut(x, width)) for x in r] for r in [header, *rows]]
    w = [min(max(len(r[j]) for r in cells), 72) for j in range(len(header))]
    out = ["| " + " | ".join(x.ljust(w[j]) for j, x in enumerate(r)) + " |" for r in cells]
    out.insert(1, "|" + "|".join("-" * (x + 2) for x in w) + "|")
    return "\n".join(out)


_CSS = """
body { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; margin: 24px auto;
       max-width: 1000px; padding: 0 16px; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; border-bottom: 1px solid #ccc; }
h3 { font-size: 14px; margin-top: 20px; }
table { border-collapse: collapse; width: 100%; table-layout: auto; font-size: 11.5px; margin: 6px 0 10px; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: left; vertical-align: top;
         overflow-wrap: break-word; }
th { background: #f3f3f3; }
tr:nth-child(even) td { background: #fafafa; }
p.warn { background: #fff3cd; border: 1px solid #e0c36c; padding: 6px 10px; }
p, li, h1, h2, h3 { overflow-wrap: anywhere; }
@media print { body { margin: 0; max-width: none; padding: 0; } table { font-size: 9.5px; }
               th, td { padding: 2px 4px; } @page { size: A4; margin: 12mm; } }
"""


def _html(doc: _Doc, title: str) -> str:
    from crm_research.report import sanitize_html

    body = []
    for b in doc.blocks:
        kind = b[0]
        if kind == "h":
            body.append(f"<h{b[1]}>{_h(b[2])}</h{b[1]}>")
        elif kind == "p":
            body.append(f"<p>{_h(b[1])}</p>")
        elif kind == "warn":
            body.append(f'<p class="warn"><strong>Incomplete.</strong> {_h(b[1])}</p>')
        elif kind == "ul":
            body.append("<ul>" + "".join(f"<li>{_h(x)}</li>" for x in b[1]) + "</ul>")
        else:
            _, header, rows, _w = b
            head = "".join(f"<th>{_h_wrap(x)}</th>" for x in header)
            trs = "".join("<tr>" + "".join(f"<td>{_h_wrap(x)}</td>" for x in r) + "</tr>" for r in rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{trs}</tbody></table>")
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_h(title)}</title><style>{_CSS}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")
    return sanitize_html(page)


# --- what differed -------------------------------------------------------------------------


def _param_text(v: Any) -> str:
    if v is None:
        return "(not set)"
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False, default=str)


def _params(manifest: dict) -> dict[str, dict]:
    return {str(nb["name"]): dict(nb.get("parameters") or {})
            for nb in manifest.get("notebooks") or [] if isinstance(nb, dict) and nb.get("name")}


_UNSET = object()


def _what_differed(doc: _Doc, ma: dict, mb: dict) -> None:
    da, db = ma.get("data") or {}, mb.get("data") or {}
    pa, pb = _params(ma), _params(mb)
    both = [n for n in pa if n in pb]
    skip = {"data_dir", "run_dir"}
    as_of_a, as_of_b = da.get("as_of"), db.get("as_of")
    changes: dict[tuple[str, str, str], list[str]] = {}
    for nb in both:
        for name in list(pa[nb]) + [n for n in pb[nb] if n not in pa[nb]]:
            if name in skip:
                continue
            va, vb = pa[nb].get(name, _UNSET), pb[nb].get(name, _UNSET)
            if name == "as_of" and va == as_of_a and vb == as_of_b and as_of_a is not None:
                continue  # the run's as_of: its own line
            if va != vb:
                key = (name, _param_text(None if va is _UNSET else va), _param_text(None if vb is _UNSET else vb))
                changes.setdefault(key, []).append(nb)
    items = []
    if not pa and not pb:
        items.append("Parameters: not recorded")
    elif not changes:
        items.append("Parameters: the same" + (f" ({len(both)} notebooks)" if len(both) > 1 else ""))
    else:
        items.append(f"Parameters: {len(changes)} differ (table below)")
    fa, fb = da.get("fingerprint"), db.get("fingerprint")
    if not fa and not fb:
        items.append("Data: fingerprint not recorded")
    elif fa == fb:
        items.append(f"Data: same (fingerprint {str(fa)[:12]})")
    else:
        extra = []
        if da.get("folder") != db.get("folder"):
            extra.append(f"folder {da.get('folder')} → {db.get('folder')}")
        if da.get("mapping") != db.get("mapping"):
            extra.append(f"mapping {da.get('mapping')} → {db.get('mapping')}")
        items.append(f"Data: DIFFERENT (fingerprint {str(fa)[:12]} → {str(fb)[:12]}"
                     + "".join("; " + e for e in extra) + ")")
    items.append(_code_line(ma, mb))
    if as_of_a == as_of_b:
        items.append(f"as_of: same ({as_of_a})" if as_of_a else "as_of: not recorded")
    else:
        items.append(f"as_of: {as_of_a} → {as_of_b}")
    ka, kb = (ma.get("pseudonym_key") or {}).get("fingerprint"), (mb.get("pseudonym_key") or {}).get("fingerprint")
    if ka != kb and (ka or kb):
        items.append("Pseudonymisation key: different, so customer and order ids do not match across the runs")
    only_a, only_b = [n for n in pa if n not in pb], [n for n in pb if n not in pa]
    if only_a:
        items.append("Notebooks only in A: " + ", ".join(only_a))
    if only_b:
        items.append("Notebooks only in B: " + ", ".join(only_b))
    doc.h(2, "What differed")
    doc.ul(items)
    if changes:
        everywhere = len(both) > 1
        doc.table(["parameter", "A", "B", "notebooks"],
                  [[n, a, b, "all" if everywhere and len(nbs) == len(both) else ", ".join(nbs)]
                   for (n, a, b), nbs in changes.items()], width=60)


def _code_line(ma: dict, mb: dict) -> str:
    def desc(m: dict) -> str:
        g = m.get("git") or {}
        commit = str(g["commit"])[:7] if g.get("commit") else "no git commit"
        return commit + (" with uncommitted changes" if g.get("dirty") else "")

    va, vb = ma.get("versions") or {}, mb.get("versions") or {}
    ca, cb = desc(ma), desc(mb)
    pkg_a, pkg_b = va.get("crm-research"), vb.get("crm-research")
    others = [f"{k} {va.get(k)} → {vb.get(k)}" for k in sorted(set(va) | set(vb))
              if k != "crm-research" and va.get(k) != vb.get(k)]
    if not (ma.get("git") or mb.get("git") or va or vb):
        return "Code: version not recorded"
    if ca == cb and pkg_a == pkg_b and not others:
        if (ma.get("git") or {}).get("dirty"):
            return f"Code: git {ca} in both (which may differ), crm-research {pkg_a}"
        return f"Code: same (git {ca}, crm-research {pkg_a})"
    parts = [f"git {ca} → {cb}" if ca != cb else f"git {ca}"]
    parts.append(f"crm-research {pkg_a} → {pkg_b}" if pkg_a != pkg_b else f"crm-research {pkg_a}")
    if others:
        parts.append(", ".join(others[:4]) + (f" and {len(others) - 4} more packages" if len(others) > 4 else ""))
    same = ca == cb and pkg_a == pkg_b
    return ("Code: same, " if same else "Code: DIFFERENT, ") + "; ".join(parts)


# --- headlines -----------------------------------------------------------------------------


def _name_change(a: str, b: str) -> str:
    """``a`` and ``b`` as one text, the differing words as ``old → new``."""
    if a == b:
        return a
    wa, wb = a.split(" "), b.split(" ")
    i = 0
    while i < min(len(wa), len(wb)) and wa[i] == wb[i]:
        i += 1
    j = 0
    while j < min(len(wa), len(wb)) - i and wa[-1 - j] == wb[-1 - j]:
        j += 1
    mid_a, mid_b = " ".join(wa[i:len(wa) - j]), " ".join(wb[i:len(wb) - j])
    return " ".join([*wa[:i], f"{mid_a} → {mid_b}".strip(), *wa[len(wa) - j:]])


_NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?%?")


def _text_change(ta: str, tb: str) -> str:
    """The change between two headline texts of the same shape ("1,261 of 3,483 (36.2%)"):
    the signed change of each number that differs, in pts for percentages; else "changed"."""
    na, nb = _NUMBER.findall(ta), _NUMBER.findall(tb)
    if not na or _NUMBER.sub("#", ta) != _NUMBER.sub("#", tb):
        return "changed"
    out = []
    for x, y in zip(na, nb, strict=True):
        if x != y:
            d = float(y.rstrip("%").replace(",", "")) - float(x.rstrip("%").replace(",", ""))
            out.append(_change(d, "pct") if x.endswith("%") else _plain(d, sign=True))
    return ", ".join(out) or "changed"


def _match_headlines(ha: list[dict], hb: list[dict]) -> list[tuple[dict | None, dict | None]]:
    """Pairs of headlines: same name first, then the rest by position."""
    names_b = {str(h.get("name")): i for i, h in enumerate(hb)}
    pairs, used = [], set()
    for h in ha:
        j = names_b.get(str(h.get("name")))
        if j is not None and j not in used:
            used.add(j)
            pairs.append([h, hb[j]])
        else:
            pairs.append([h, None])
    rest = [h for j, h in enumerate(hb) if j not in used]
    for p in pairs:
        if p[1] is None and rest:
            p[1] = rest.pop(0)
    return [tuple(p) for p in pairs] + [(None, h) for h in rest]


def _headline_rows(ha: dict[str, list[dict]], hb: dict[str, list[dict]], rel: float):
    """``(changed rows, number unchanged)``; a row: notebook, headline, A, B, change."""
    rows, same = [], 0
    for nb in list(ha) + [n for n in hb if n not in ha]:
        for a, b in _match_headlines(ha.get(nb, []), hb.get(nb, [])):
            va, vb = (a or {}).get("value"), (b or {}).get("value")
            ta = (a or {}).get("text", va) if a else "—"
            tb = (b or {}).get("text", vb) if b else "—"
            if a and b and str(a.get("name")) == str(b.get("name")) and str(ta) == str(tb) \
                    and not _changed(va, vb, rel):
                same += 1
                continue
            name = _name_change(str(a.get("name")), str(b.get("name"))) if a and b else str((a or b).get("name"))
            change = ""
            if _isnum(va) and _isnum(vb) and _changed(va, vb, rel):
                change = _change(vb - va)
                if va != 0:
                    change += f" ({(vb - va) / abs(va) * 100:+.1f}%)"
            elif a and b and str(ta) != str(tb):
                change = _text_change(str(ta), str(tb))
            if str(ta) == str(tb) and change:  # shown rounded alike: show more digits
                ta, tb = _pair(va, vb)
            rows.append([nb, name, str(ta), str(tb), change])
    return rows, same


# --- compare -------------------------------------------------------------------------------


def _table_order(ma: dict, mb: dict, names: list[str]) -> list[str]:
    """Tables in the order the notebooks wrote them, then the others by name."""
    seen: list[str] = []
    for m in (ma, mb):
        for nb in m.get("notebooks") or []:
            for t in (nb.get("tables") or []) if isinstance(nb, dict) else []:
                if t in names and t not in seen:
                    seen.append(t)
    return seen + sorted(t for t in names if t not in seen)


def _table_section(doc: _Doc, d: _TableDiff, max_rows: int, max_cols: int, width: int | None,
                   csv_note: str) -> None:
    ch, same = d.idx("changed"), d.idx("unchanged")
    only_a, only_b = d.idx("left_only"), d.idx("right_only")
    doc.h(3, d.name)
    by = "position" if d.keys == ["row"] else ", ".join(k for k in d.keys if k != "occurrence")
    counts = [f"{len(ch):,} changed", f"{len(same):,} unchanged"]
    if only_a:
        counts.append(f"{len(only_a):,} only in A (removed)")
    if only_b:
        counts.append(f"{len(only_b):,} only in B (added)")
    doc.p(f"Rows matched on {by}: " + ", ".join(counts) + ".")
    if ch:
        n_changed = {c: sum(c in d.changed[i] for i in ch) for c in d.values}
        cols = [c for c in d.values if n_changed[c]]
        shown = sorted(cols, key=lambda c: -n_changed[c])[:max_cols]
        shown = [c for c in cols if c in shown]
        keys = [k for k in d.keys if k != "occurrence"]
        header = (keys if d.keys != ["row"] else ["row"]) + shown
        rows = [[str(d.rows[i][k]) for k in header[:len(header) - len(shown)]] + [_cell(d, i, c) for c in shown]
                for i in ch[:max_rows]]
        doc.table(header, rows, width)
        more = []
        if len(ch) > max_rows:
            more.append(f"{len(ch) - max_rows:,} more changed rows")
        if len(cols) > len(shown):
            hidden = [c for c in cols if c not in shown]
            more.append(f"{len(hidden)} more changed column{'s' if len(hidden) != 1 else ''}: "
                        + ", ".join(hidden[:6])
                        + (", …" if len(hidden) > 6 else ""))
        if more:
            doc.p("… " + "; ".join(more) + csv_note + ".")
    for idx, what in ((only_a, "Only in A (removed)"), (only_b, "Only in B (added)")):
        if idx:
            top = [d.label(i) for i in idx[:5 if max_rows > 3 else 3]]
            doc.p(f"{what}: {len(idx):,} row{'s' if len(idx) != 1 else ''}: " + "; ".join(_cut(t, 60) for t in top)
                  + ("; …" if len(idx) > len(top) else ""))
    if d.only_a_cols:
        doc.p("Columns only in A: " + ", ".join(d.only_a_cols))
    if d.only_b_cols:
        doc.p("Columns only in B: " + ", ".join(d.only_b_cols))


def _tolerance_text(rel: float) -> str:
    """The relative tolerance for a reader: ``1%``, ``0.5%``, else ``1e-09 (relative)``."""
    return f"{rel * 100:g}%" if rel >= 1e-4 else f"{rel:.3g} (relative)"


def _summary(doc: _Doc, diffs: list[_TableDiff], rel: float, max_tables: int | None = None) -> None:
    changed = [d for d in diffs if not d.is_same]
    same = [d for d in diffs if d.is_same]
    doc.h(2, "Tables")
    doc.p(f"{len(diffs)} tables in both runs: {len(changed)} changed, {len(same)} unchanged "
          f"(a value counts as changed when it moved by more than {_tolerance_text(rel)}).")
    shown = changed if max_tables is None else changed[:max_tables]
    if shown:
        doc.table(["table", "rows changed", "unchanged", "only in A", "only in B"],
                  [[d.name, f"{len(d.idx('changed')):,}", f"{len(d.idx('unchanged')):,}",
                    f"{len(d.idx('left_only')):,}", f"{len(d.idx('right_only')):,}"] for d in shown])
    if len(changed) > len(shown):
        rest = [d.name for d in changed[len(shown):]]
        doc.p(f"… and {len(rest)} more changed tables: " + ", ".join(rest[:10]) + (", …" if len(rest) > 10 else ""))
    if same:
        names = [d.name for d in same]
        doc.p(f"Unchanged ({len(same)}): " + ", ".join(names if max_tables is None else names[:10])
              + (", …" if max_tables is not None and len(names) > 10 else ""))


def _build(a: Path, b: Path, warnings: list[str], rel: float, brief: bool, max_rows: int,
           out_note: str, diffs: list[_TableDiff], only_a: list[str], only_b: list[str],
           ma: dict, mb: dict) -> _Doc:
    doc = _Doc()
    doc.h(1, f"Comparison of runs {a.name} (A) and {b.name} (B)")
    for w in warnings:
        doc.warn(w)
    _what_differed(doc, ma, mb)
    rows, same = _headline_rows(_headlines(a, ma), _headlines(b, mb), rel)
    doc.h(2, "Headlines")
    if rows:
        one_nb = len({r[0] for r in rows}) == 1
        doc.table((["headline"] if one_nb else ["notebook", "headline"]) + ["A", "B", "change"],
                  [r[1:] if one_nb else r for r in rows], width=70 if brief else None)
    if same or not rows:
        doc.p(f"{same} headline{'s' if same != 1 else ''} unchanged." if rows else
              f"No headline changed ({same})." if same else "No headlines recorded.")
    _summary(doc, diffs, rel, 15 if brief else None)
    if only_a:
        doc.p(f"Only in A ({a.name}): " + ", ".join(only_a))
    if only_b:
        doc.p(f"Only in B ({b.name}): " + ", ".join(only_b))
    changed = [d for d in diffs if not d.is_same]
    if not brief:
        if changed:
            doc.h(2, "Changed rows")
        for d in changed:
            _table_section(doc, d, max_rows, 6, None, out_note and f" ({out_note}{d.name}.csv)")
        return doc
    left = []
    for d in changed:
        trial = _Doc()
        _table_section(trial, d, 3, 3, 40, "")
        if doc.lines() + trial.lines() + 4 <= BRIEF_LINES:  # room for the closing lines
            if not any(b[0] == "h" and b[2] == "Changed rows" for b in doc.blocks):
                doc.h(2, "Changed rows")
            doc.blocks += trial.blocks
        else:
            left.append(d.name)
    if left:
        doc.p(f"Not shown here, the changed rows of {len(left)} more table{'s' if len(left) != 1 else ''}: "
              + ", ".join(left[:8]) + (", …" if len(left) > 8 else "") + ".")
    return doc


def compare_runs(run_a: Path, run_b: Path, out: Path | None = None, max_rows: int = 40,
                 allow_incomplete: bool = False, *, tolerance: float = REL_TOL, brief: bool = False) -> str:
    """Compare two runs: what differed, the headline changes, the rows that changed.

    The comparison opens with what differed between the runs (parameters per notebook, data
    fingerprint, code version, ``as_of``), then the headlines of the run index that changed,
    then a count of changed, unchanged, removed and added rows per table, then per table the
    rows that changed: identifying columns plus the changed columns as ``A → B (change)``.
    Shares and rates are in % with changes in percentage points (pts). Tables are joined on
    their identifying columns (see :func:`key_columns`); tables present in only one run are
    listed. Pseudonymised ids only match across runs that used the same key (same
    ``pseudonym_key`` fingerprint in their manifests; the comparison says when they differ).
    Tables mapped back to ids (``*.reidentified.csv``) are left out.

    Only runs that finished well are compared: a run that was interrupted or aborted, in which
    a notebook failed, that is still running, or whose runner died (stale: see
    :func:`crm_research.run.lifecycle.run_state`), or without a manifest, is refused unless
    ``allow_incomplete``; then the comparison opens with one sentence per such run.

    Parameters
    ----------
    run_a, run_b : Path
        Run folders (or their names under ``reports/``).
    out : Path, optional
        Where to write the full comparison: ``FILE.md`` or ``FILE.html`` (both are written, and
        every row of each common table side by side as ``FILE-tables/<table>.csv``), or a
        folder (``comparison.md``, ``comparison.html`` and ``<table>.csv``); see
        :func:`output_paths`. The HTML page has every value escaped and the reports'
        Content-Security-Policy (:func:`crm_research.report.sanitize_html`). Written atomically.
    max_rows : int
        Changed rows shown per table in the full comparison (the CSVs have all rows).
    allow_incomplete : bool
        Compare runs that did not finish well too (``--allow-incomplete``).
    tolerance : float
        Relative tolerance (a fraction: 0.01 = 1 %): a value counts as changed when
        ``|B - A| > max(tolerance * max(|A|, |B|), ABS_TOL)``. Texts change when they differ.
    brief : bool
        Return the short comparison (about :data:`BRIEF_LINES` lines: the first few changed
        rows of the first tables only), as the CLI prints it; the files are always complete.

    Returns
    -------
    str
        The comparison as Markdown (the full one, as written to the ``.md`` file, unless
        ``brief``).

    Raises
    ------
    CRMError
        Not a run folder; a negative tolerance; a run that did not finish well (one line saying
        what happened to it) without ``allow_incomplete``.
    """
    import pandas as pd

    from crm_research.notebook import write_csv

    if not (tolerance >= 0 and math.isfinite(tolerance)):
        raise CRMError(f"tolerance {tolerance}: give a relative tolerance of 0 or more (0.01 = 1%)")
    a, b = _run_folder(run_a), _run_folder(run_b)
    warnings = [w for w in (_check_finished(a, allow_incomplete), _check_finished(b, allow_incomplete)) if w]
    ma, mb = _read_json(a / "manifest.json"), _read_json(b / "manifest.json")
    ta = {p.stem: p for p in sorted((a / "tables").glob("*.csv")) if not p.stem.endswith(REIDENTIFIED)}
    tb = {p.stem: p for p in sorted((b / "tables").glob("*.csv")) if not p.stem.endswith(REIDENTIFIED)}
    common = _table_order(ma, mb, [t for t in ta if t in tb])
    diffs = []
    for t in common:
        diffs.append(_diff_table(t, pd.read_csv(ta[t]), pd.read_csv(tb[t]), tolerance))
    only_a, only_b = [t for t in ta if t not in tb], [t for t in tb if t not in ta]
    md_path = html_path = csv_dir = None
    if out is not None:
        md_path, html_path, csv_dir = output_paths(out)
    note = "" if csv_dir is None else ("all rows: " if csv_dir == Path(out) else f"all rows: {csv_dir.name}/")
    full = _build(a, b, warnings, tolerance, False, max_rows, note, diffs, only_a, only_b, ma, mb)
    if not common:
        full.p("No table is present in both runs.")
    text = full.markdown()
    if out is not None:
        csv_dir.mkdir(parents=True, exist_ok=True)
        md_path.parent.mkdir(parents=True, exist_ok=True)
        paths.write_atomic(md_path, text)
        paths.write_atomic(html_path, _html(full, f"Comparison of runs {a.name} and {b.name}"))
        for d in diffs:
            write_csv(d.full, csv_dir / f"{d.name}.csv")
    if not brief:
        return text
    short = _build(a, b, warnings, tolerance, True, 3, "", diffs, only_a, only_b, ma, mb)
    if not common:
        short.p("No table is present in both runs.")
    return short.markdown()
