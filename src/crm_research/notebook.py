"""Support for the analysis notebooks: the run folder, data loading, client-safe outputs.

A notebook starts with :func:`setup`, which returns a :class:`RunContext` bound to a run folder:

* ``run_dir`` given (the runner passes the new run folder): outputs go there;
* ``run_dir`` None (a JupyterLab session): outputs go to the scratch run folder
  ``reports/scratch``.

Everything a notebook writes goes through the context, which keeps client-facing output
clean: :meth:`RunContext.save_table` refuses personal columns and pseudonymises person-linked
ids before writing ``tables/<name>.csv``; :meth:`RunContext.save_figure` writes
``figures/<name>.png``; :meth:`RunContext.headline` records the few numbers the run index shows.
Paths are resolved from the project root (:mod:`crm_research.paths`), whatever the kernel's
working directory.

The display helpers at the end (:func:`show`, :func:`show_by_unit`, :func:`number`) format
tables and numbers for a client; the analyses themselves live in the topic packages.

No value from the data reaches a report as markup or a spreadsheet as a formula: :func:`show`
escapes every cell and column name, :func:`text` escapes a value put into a notebook's Markdown
(use it for every segment, channel, category, campaign, region, product or path name), the
notes the context displays are escaped, figures cut texts too long to draw, and
:func:`write_csv` neutralises formula-like cells.
"""

from __future__ import annotations

import functools
import html
import json
import os
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crm_research import paths, privacy
from crm_research import settings as report_settings
from crm_research.errors import CRMError, ParameterError
from crm_research.exprs import parse_as_of  # noqa: F401 - one implementation; notebooks call nb.parse_as_of

__all__ = [
    "RunContext",
    "setup",
    "load_data",
    "parse_as_of",
    "check_period",
    "write_csv",
    "project_path",
    "show_by_unit",
    "number",
    "SCRATCH",
    "show",
    "text",
    "defuse_formula",
    "ENV_AUDIENCE",
    "ENV_SETTINGS",
    "ENV_MEMORY",
    "AUDIENCES",
]

ENV_AUDIENCE = "CRM_RESEARCH_AUDIENCE"
"""Environment variable through which the runner tells a kernel who reads the report."""

ENV_SETTINGS = "CRM_RESEARCH_SETTINGS"
"""Environment variable holding the report settings file given to ``run --settings``."""

ENV_MEMORY = "CRM_RESEARCH_MEMORY"
"""Environment variable holding the DuckDB memory limit of each notebook (``run --memory``)."""

AUDIENCES = ("client", "analyst")
"""Who a report is for: ``client`` (findings first, client words, tables cut to their top rows)
or ``analyst`` (everything). A notebook opened in JupyterLab shows the analyst's view."""

CLIENT_ROWS = 15
"""Rows a client report shows of a table; the whole table is in its CSV."""

SCRATCH = "scratch"
"""Name of the run folder under ``reports/`` used when a notebook runs without ``run_dir``."""

PERIODS = {"M": "M", "W": "W-SUN"}
"""Accepted ``period`` values: calendar months or ISO weeks (Monday to Sunday)."""

META = "meta"


# ---------------------------------------------------------------------------------------
# parameters
# ---------------------------------------------------------------------------------------


def check_period(period: str) -> str:
    """Return the pandas frequency of ``period`` (``"M"`` months, ``"W"`` weeks).

    Raises
    ------
    ParameterError
        Any other value.
    """
    if period not in PERIODS:
        raise ParameterError(f"period={period!r} is not supported: use 'M' (months) or 'W' (weeks)")
    return PERIODS[period]


# ---------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path | str:
    """Return the data folder: ``data_dir`` (relative paths from the project root) or the demo.

    ``None`` means the demo company in ``data/demo``, generated on first use. A database URL
    (``postgresql://...``, ``duckdb:///...``; see :mod:`crm_research.data.sources`) is returned
    once checked (it may not hold a password; a relative ``mapping=`` file or DuckDB file
    starts at the project root, as a relative folder does), as a
    :class:`~crm_research.data.sources.DatabaseURL`: ``url / "truth.json"`` never exists.

    Raises
    ------
    ParameterError
        ``data_dir`` does not exist.
    DataSourceError
        ``data_dir`` is a database URL that is malformed or holds a password.
    """
    from crm_research.data.sources import DatabaseURL, is_database_url, parse_source

    if is_database_url(data_dir):
        return DatabaseURL(parse_source(data_dir).anchored(paths.project_root()))
    if data_dir is None or str(data_dir) == "":
        from crm_research import synthetic

        return Path(synthetic.ensure_demo(paths.demo_data_dir()))
    folder = Path(data_dir).expanduser()
    if not folder.is_absolute():
        folder = paths.project_root() / folder
    if not folder.is_dir():
        raise ParameterError(f"data_dir={str(data_dir)!r}: folder {folder} does not exist")
    return folder


def load_data(data_dir: str | os.PathLike | None = None):
    """Load and validate the CRM tables of ``data_dir`` (``None``: the demo company).

    Parameters
    ----------
    data_dir : path-like, optional
        Folder with one file per table; relative paths start at the project root. ``None``
        means the demo company in ``data/demo``, generated on first use. A client mapping
        saved as ``mapping.yaml`` in the folder is applied.

    Returns
    -------
    CRMData
        Tables as attributes (``customers``, ``orders``, ...), ``tables()`` and
        ``fingerprint()``; see :func:`crm_research.data.load`.

    Raises
    ------
    DataValidationError
        The data breaks the data model (every problem listed).
    """
    return _load(resolve_data_dir(data_dir))


MAPPING_FILES = ("mapping.yaml", "mapping.yml")
"""A client mapping saved under one of these names in the data folder is applied on load."""


def mapping_file(folder: Path | str) -> Path | None:
    """Return the mapping YAML kept in the data folder, if any (see :data:`MAPPING_FILES`); for a
    database URL, the file its ``mapping=`` option names."""
    from crm_research.data.sources import is_database_url, parse_source

    if is_database_url(folder):
        return parse_source(folder).mapping
    for name in MAPPING_FILES:
        if (folder / name).is_file():
            return folder / name
    return None


def _load(folder: Path | str, as_of: Any = None, con: Any = None):
    from crm_research import data

    return data.load(folder, mapping=mapping_file(folder), as_of=as_of, con=con)


def _run_snapshot(folder: Path | str, mapping: Path | None, as_of: Any, con: Any = None):
    """The runner's snapshot of this data (without personal columns) and its fingerprint, when the
    runner gave one (``$CRM_RESEARCH_SNAPSHOT``) and it matches folder, files, mapping and as_of;
    else None (see :mod:`crm_research.run.snapshot`). With ``con``: engine tables on it."""
    from crm_research.run import snapshot

    root = os.environ.get(snapshot.ENV_SNAPSHOT)
    return snapshot.read(folder, mapping, as_of, root, con=con) if root else None


CURRENCY_NOTE = ("The currency is not set, so amounts are shown as plain numbers: add `currency` to the "
                 "engagement's report settings (report.yaml)")

_LATER_ROWS = re.compile(r"^(\w+): ([\d,]+) (?:more )?rows (?:dated|ignored)")
_CENSORED = re.compile(r"^(\w+)\.(\w+): ([\d,]+) values on or after as_of set to missing")
_TABLE_WORDS = {"orders": "orders", "order_items": "order lines", "events": "events", "ad_spend": "ad spend rows",
                "tickets": "support tickets", "surveys": "survey answers", "subscriptions": "subscriptions",
                "customers": "contacts", "campaigns": "campaigns"}


def client_notes(notes: list[str], as_of: Any, settings: report_settings.ReportSettings) -> list[str]:
    """The loader's notes about the data (:func:`data_notes`) in a client's words.

    Rows left out for being dated on or after the analysis date become one sentence with the
    date in the client's format; later timestamps set to missing become one sentence; generated
    ids (a technical detail) are left out; a missing order status and a missing currency are said
    plainly; other notes are kept without their code quotes.

    Parameters
    ----------
    notes : list of str
        The notes as :func:`data_notes` gives them.
    as_of : date-like or None
        The analysis date.
    settings : crm_research.settings.ReportSettings

    Returns
    -------
    list of str
    """
    when = settings.day(as_of) if as_of not in (None, "") else "the analysis date"
    later: list[str] = []
    censored = False
    out: list[str] = []
    for n in notes:
        m = _LATER_ROWS.match(n)
        if m and "as_of" in n:
            later.append(f"{m.group(2)} {_TABLE_WORDS.get(m.group(1), m.group(1).replace('_', ' '))}")
            continue
        if _CENSORED.match(n):
            censored = True
            continue
        if "ids generated from the row positions" in n:
            continue
        if n.startswith("orders.status: no column"):
            out.append("The data has no order status, so every order counts as completed.")
            continue
        if n == CURRENCY_NOTE:
            out.append("Amounts are shown without a currency: none was given with the data.")
            continue
        out.append(n.replace("`", ""))
    if later:
        out.insert(0, f"Everything dated on or after {when}, the analysis date, is left out ({', '.join(later)}).")
    if censored:
        out.insert(1 if later else 0, f"What happened on or after {when} (a ticket resolved, a subscription ended) "
                                      "counts as not yet happened.")
    return out


def _campaign_names(crm) -> dict[str, str]:
    """Campaign id → its name, from the ``campaigns`` table when it has both columns."""
    c = getattr(crm, "campaigns", None)
    if c is None or not {"campaign_id", "name"} <= set(c.columns):
        return {}
    if not isinstance(c, pd.DataFrame):  # an engine table: the few campaigns come back
        from crm_research.engine import collect

        c = collect(c.select("campaign_id", "name"))
    c = c.dropna(subset=["campaign_id", "name"])
    return dict(zip(c["campaign_id"].astype(str), c["name"].astype(str), strict=True))


def data_notes(crm) -> list[str]:
    """Plain sentences about what loading did to the data (tables derived, rows left out, ...)."""
    derived = [f"The {table} table was {text}" if not text[:1].isupper() else text
               for table, text in getattr(crm, "derived", {}).items()]
    return derived + [str(n) for n in getattr(crm, "notes", ())]


# ---------------------------------------------------------------------------------------
# the run folder
# ---------------------------------------------------------------------------------------


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a CSV cell as a formula (OWASP's list)."""


def defuse_formula(value: Any) -> Any:
    """``value`` with a leading apostrophe if it is text that a spreadsheet would run as a formula.

    Text starting with one of :data:`FORMULA_START` (``=``, ``+``, ``-``, ``@``, tab, carriage
    return) gets a ``'`` in front, so Excel, LibreOffice and Google Sheets show it as text and
    never evaluate it (``=HYPERLINK(...)``, ``=1+1``, ``@SUM(...)``). Anything else, numbers
    included, is returned as it is.
    """
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def _csv_text(value: Any) -> Any:
    """:func:`defuse_formula`, then carriage returns as line feeds: Python's CSV writer quotes a
    cell holding a line feed but not one holding a bare carriage return, which a spreadsheet
    would read as the end of the row (and whatever follows as a new cell, a formula too)."""
    value = defuse_formula(value)
    return value.replace("\r\n", "\n").replace("\r", "\n") if isinstance(value, str) and "\r" in value else value


def _defuse_column(s: pd.Series) -> pd.Series:
    """A text column with :func:`_csv_text` applied; the same object when nothing changes."""
    if not _is_text(s):
        return s  # numbers (negative ones too), flags and times are never text
    values = s.astype(object)
    risky = values.map(lambda v: isinstance(v, str) and (v.startswith(FORMULA_START) or "\r" in v)).astype(bool)
    if not risky.any():
        return s
    return values.where(~risky, values.map(_csv_text))


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` as CSV with fixed formatting, so equal frames give equal bytes.

    Floats are rounded to 6 decimals; timestamps at midnight UTC are written as dates.

    The tables are meant to be opened in a spreadsheet, so no cell can run as a formula: a
    text cell (or column name) that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
    return is written with a leading apostrophe (``'=1+1``), OWASP's rule against CSV
    injection; spreadsheets show it as text. Numeric columns are never changed (``-5.0`` stays a
    number); in a text column every such cell is prefixed, ``"-5"`` included, because the
    column is text and a spreadsheet would otherwise read the cell as a number or a formula.
    Reading a table back with pandas keeps the apostrophe as part of the text. A carriage
    return inside a text cell is written as a line feed (the cell is then quoted and stays one
    cell). Nothing else changes, so tables without such cells are byte for byte what they were
    before these rules.
    """
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            ts = s.dt.tz_convert("UTC") if getattr(s.dt, "tz", None) is not None else s
            midnight = ts.dropna().eq(ts.dropna().dt.normalize()).all()
            out[col] = ts.dt.strftime("%Y-%m-%d" if midnight else "%Y-%m-%dT%H:%M:%SZ")
        elif pd.api.types.is_float_dtype(s):
            out[col] = s.round(6)
        else:
            defused = _defuse_column(s)
            if defused is not s:
                out[col] = defused
    if any(isinstance(c, str) and (c.startswith(FORMULA_START) or "\r" in c) for c in out.columns):
        out.columns = [_csv_text(c) for c in out.columns]
    path.parent.mkdir(parents=True, exist_ok=True)
    with paths.atomic_path(path) as tmp:  # a unique temporary beside it, removed on any failure
        out.to_csv(tmp, index=False, lineterminator="\n", encoding="utf-8")


FIGURE_TEXT_LIMIT = 120
"""Characters of one text of a saved figure; a longer one is cut and ends in "…"."""


def _cut_figure_text(fig, limit: int = FIGURE_TEXT_LIMIT) -> None:
    """Cut every text of ``fig`` longer than ``limit``: static texts now, tick labels as they are
    drawn (each axis's formatters are wrapped; labels up to ``limit`` characters are unchanged)."""
    from matplotlib import ticker
    from matplotlib.text import Text

    class Cut(ticker.Formatter):
        def __init__(self, inner):
            self.inner = inner

        def __call__(self, x, pos=None):
            return _cut(str(self.inner(x, pos)), limit)

        def format_ticks(self, values):
            return [_cut(str(v), limit) for v in self.inner.format_ticks(values)]

        def set_axis(self, axis):
            super().set_axis(axis)
            self.inner.set_axis(axis)

        def set_locs(self, locs):
            self.inner.set_locs(locs)

        def get_offset(self):
            return self.inner.get_offset()

        def format_data(self, value):
            return self.inner.format_data(value)

        def format_data_short(self, value):
            return self.inner.format_data_short(value)

    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for get, put in ((axis.get_major_formatter, axis.set_major_formatter),
                             (axis.get_minor_formatter, axis.set_minor_formatter)):
                if not isinstance(get(), Cut):
                    put(Cut(get()))
    for t in fig.findobj(Text):
        if len(t.get_text()) > limit:
            t.set_text(_cut(t.get_text(), limit))


def _check_name(name: str, what: str) -> str:
    ok = name and all(ch.isalnum() or ch in "_-" for ch in name)
    if not ok:
        raise ValueError(f"{what} name {name!r}: use letters, digits, '_' or '-' only")
    return name


@dataclass
class RunContext:
    """Where one notebook writes its outputs, and how.

    Attributes
    ----------
    notebook : str
        Notebook stem (``01_baseline``).
    run_dir : Path
        The run folder (``tables/``, ``figures/``, ``meta/``, ``private/``).
    seed : int
        Seed of the notebook's random numbers; ``rng`` is drawn from it.
    audience : str
        ``client`` or ``analyst`` (:data:`AUDIENCES`): what :meth:`show` displays.
    settings : crm_research.settings.ReportSettings
        The engagement's units and words (currency, number format, labels); read by
        :meth:`load_data` from the data folder's ``report.yaml`` and ``run --settings``.
    rng : numpy.random.Generator
    """

    notebook: str
    run_dir: Path
    seed: int = 0
    audience: str = "analyst"
    settings: report_settings.ReportSettings = field(default=report_settings.DEFAULTS)
    rng: np.random.Generator = field(init=False, repr=False)
    _meta: dict = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._con = None
        self._engine = None
        self.rng = np.random.default_rng(self.seed)
        self._meta = {"notebook": self.notebook, "data": None, "headlines": [], "tables": [],
                      "figures": [], "findings": [], "actions": []}
        self._verdicts = None

    @property
    def tables_dir(self) -> Path:
        return self.run_dir / "tables"

    @property
    def figures_dir(self) -> Path:
        return self.run_dir / "figures"

    @property
    def meta_path(self) -> Path:
        return self.run_dir / META / f"{self.notebook}.json"

    def _write_meta(self) -> None:
        self.meta_path.parent.mkdir(parents=True, exist_ok=True)
        paths.write_atomic(self.meta_path, json.dumps(self._meta, indent=2, default=str) + "\n")

    def _owner_of(self, kind: str, name: str) -> str | None:
        for f in sorted((self.run_dir / META).glob("*.json")):
            if f.stem == self.notebook:
                continue
            try:
                other = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if name in other.get(kind, []):
                return f.stem
        return None

    def truth(self, data_dir: str | os.PathLike | None = None) -> tuple[dict | None, pd.DataFrame | None]:
        """The planted truth of a synthetic company, or ``(None, None)`` for a client's data.

        A synthetic company keeps its planted effects in ``truth.json`` (and the planted
        customers in ``truth_customers.parquet``) beside its tables; a client's export has none,
        and every "check against the planted truth" section is then skipped.

        Parameters
        ----------
        data_dir : path-like, optional
            The data folder (``None``: the demo company), as given to :meth:`load_data`.

        Returns
        -------
        effects : dict or None
            The planted effects (``truth.json``).
        customers : DataFrame or None
            One row per planted customer (segment, first purchase, advocate, ...).

        See Also
        --------
        crm_research.synthetic.load_truth

        Examples
        --------
        >>> planted, planted_customers = run.truth(data_dir)  # doctest: +SKIP
        """
        from crm_research import synthetic

        folder = resolve_data_dir(data_dir)
        if not (folder / "truth.json").exists():
            return None, None
        return synthetic.load_truth(folder)

    def engine_connection(self, engine: str = "duckdb"):
        """The backend this notebook's row-level work runs on, opened on first use.

        DuckDB: one thread, :data:`crm_research.engine.DEFAULT_MEMORY_LIMIT` (``$CRM_RESEARCH_MEMORY``
        overrides it), spilling into ``<run folder>/.spill/<notebook>`` (DuckDB removes its files
        when the connection closes; the runner removes the folder). Spark: ``engine`` names the
        master (``spark:local[*]``). None for ``pandas``.

        Under the runner, a DuckDB connection also reports how far its running query is: a
        background thread writes it beside the notebook's metadata for the runner's "still
        running" lines (:mod:`crm_research.run.progress`; nothing for Spark or pandas, nothing
        when the notebook runs by hand).
        """
        from crm_research import engine as eng

        kind, _ = eng.parse_engine(engine)
        if self._con is not None and self._engine == engine:
            return self._con

        def open_() -> Any:
            return eng.open_engine(engine, spill_dir=self.run_dir / ".spill" / self.notebook,
                                   memory_limit=os.environ.get(ENV_MEMORY) or eng.DEFAULT_MEMORY_LIMIT)

        self._stop_progress()
        self._con = self._watch_progress(open_) if kind == "duckdb" else open_()
        self._engine = engine
        return self._con

    def _watch_progress(self, open_) -> Any:
        """``open_()``; under the runner, with a poller writing its queries' progress
        (:class:`crm_research.run.progress.QueryProgressPoller`)."""
        from crm_research.run import progress

        if not progress.under_runner():
            return open_()
        con, tracked = progress.open_with_progress(open_)
        if tracked:
            self._progress = progress.QueryProgressPoller(con, progress.progress_path(self.meta_path)).start()
        return con

    def _stop_progress(self) -> None:
        poller = getattr(self, "_progress", None)
        self._progress = None
        if poller is not None:
            poller.stop()

    def load_data(self, data_dir: str | os.PathLike | None = None, as_of: Any = None, *,
                  engine: str = "pandas", keep_pii: bool = False, extra_tables: dict | None = None,
                  **params: Any):
        """Load the data, record its folder and fingerprint, and decide which sections can run.

        Under the runner, the data it loaded and validated before the kernels started is read
        from its snapshot (:mod:`crm_research.run.snapshot`: the same tables without personal
        columns, the same fingerprint) when it matches the folder, its files, the mapping and
        ``as_of``; a notebook run by hand (JupyterLab) loads and validates the data itself.

        Parameters
        ----------
        data_dir : path-like, optional
            ``None``: the demo company, generated on first use.
        as_of : date-like, optional
            Analysis date (exclusive): later rows are left out and counted in the data notes.
        engine : str
            Where the row-level work runs (:data:`crm_research.engine.ENGINES`): ``pandas``
            gives DataFrames; ``duckdb`` and ``spark`` (``spark:<master URL>``) give engine
            tables on :meth:`engine_connection`, read in place from the files (or the runner's
            snapshot) and never held in Python.
        keep_pii : bool
            Keep names, e-mail addresses and phone numbers. Default: dropped at load, so no
            later cell can show them.
        extra_tables : dict of str to DataFrame, optional
            Tables outside the data model that sections' needs read (e.g. a client's path table
            as ``{"paths": frame}``); added to the loaded tables for the verdicts only (None
            values are ignored).
        **params
            The notebook's parameters that its sections' needs use as thresholds
            (e.g. ``cluster_min_orders=3``); see :mod:`crm_research.needs`.

        Returns
        -------
        CRMData
        """
        from crm_research import needs

        folder = resolve_data_dir(data_dir)
        mapping = mapping_file(folder)
        con = self.engine_connection(engine)
        kept = None if keep_pii else _run_snapshot(folder, mapping, as_of, con)
        if kept is not None:  # the runner's copy of this very data, loaded and validated once
            crm, fingerprint = kept
        else:
            crm = _load(folder, as_of, con)
            fingerprint = crm.fingerprint()
        self.settings = report_settings.load(folder, os.environ.get(ENV_SETTINGS) or None)
        self.settings = self.settings.with_labels("campaigns", _campaign_names(crm))
        self._meta["data"] = {"folder": str(folder), "fingerprint": fingerprint,
                              "mapping": mapping.name if mapping else None}
        self._meta["data_notes"] = data_notes(crm) + (
            [] if self.settings.currency.known else
            [CURRENCY_NOTE])
        self._meta["client_notes"] = client_notes(self._meta["data_notes"], as_of, self.settings)
        tables = {**crm.tables(), **(extra_tables or {})}
        declared = [s for s in needs.SECTIONS if s.notebook == self.notebook]  # none for a new notebook
        self._verdicts = {v.section.key: v for v in needs.assess(tables, declared, as_of, params)}
        self._meta["sections"] = []
        self._write_meta()
        return crm if keep_pii else crm.without_pii()

    def data_notes(self):
        """The data notes of :meth:`load_data` as a short list for the report (nothing when none).

        Returns
        -------
        IPython.display.Markdown
            Displayed when it is the cell's last expression.
        """
        from IPython.display import Markdown

        notes = self._meta.get("client_notes" if self.audience == "client" else "data_notes") or []
        if not notes:
            return Markdown("")
        return Markdown("**About this data.** " + " ".join(
            _sentence(n if n.endswith(".") else n + ".") for n in notes))

    def section(self, key: str):
        """Whether section ``key`` of this notebook can run on the loaded data.

        The first call for a section records it in the run's metadata (listed in the run
        index) and, when the section is skipped or runs in a simpler form, displays the one
        sentence that says why. Later calls only return the verdict. Use it at the top of
        every code cell of the section: ``if run.section("cross_sell"): ...``.

        Parameters
        ----------
        key : str
            A section of this notebook, as declared in :mod:`crm_research.needs`.

        Returns
        -------
        crm_research.needs.Verdict
            False when the section is skipped; ``verdict.fell_back(name)`` tells which
            simpler form to use.

        Raises
        ------
        CRMError
            Called before :meth:`load_data`, or ``key`` is not declared for this notebook.
        """
        verdicts = getattr(self, "_verdicts", None)
        if verdicts is None:
            raise CRMError("call run.load_data(...) before run.section(...)")
        if key not in verdicts:
            raise CRMError(f"section {key!r} is not declared for {self.notebook} in crm_research.needs; "
                           f"declared: {', '.join(verdicts)}")
        verdict = verdicts[key]
        recorded = self._meta.setdefault("sections", [])
        if all(entry["key"] != key for entry in recorded):
            status = {"ok": "ran", "fallback": "fallback", "skip": "skipped"}[verdict.status]
            entry = {"key": key, "title": verdict.section.title, "status": status, "reason": verdict.reason}
            from crm_research.needs.core import NOT_SYNTHETIC

            if any(getattr(n, "absent", None) == NOT_SYNTHETIC for n in getattr(verdict.section, "needs", ())):
                entry["analyst"] = True  # a check against a synthetic company's planted truth
            recorded.append(entry)
            self._write_meta()
            if verdict.note:
                from IPython.display import Markdown, display

                head, _, rest = verdict.note.partition(":")
                display(Markdown(f"> **{_sentence(head)}:**{_sentence(rest)}"))
        return verdict

    def save_table(self, df: pd.DataFrame, name: str, *, pseudonymise: tuple[str, ...] | None = None,
                   key: str | None = None, planted: bool = False) -> pd.DataFrame:
        """Write ``tables/<name>.csv`` and return the client-safe table that was written.

        Parameters
        ----------
        df : DataFrame or ibis.Table
            The table; the index is written only if it is named (reset into columns). An engine
            table is collected first (a result table: small).
        name : str
            File name without extension; unique within the run.
        pseudonymise : tuple of str, optional
            Id columns to replace by pseudonyms. Default: every person-linked id column
            (``customer_id``, ``order_id``, ``ticket_id``, ``session_id``).
        key : str, optional
            Pseudonymisation key (default: ``$CRM_RESEARCH_PSEUDO_KEY``, else the named key the
            runner passes in ``$CRM_RESEARCH_KEY_NAME``, else ``default``; see :mod:`~crm_research.privacy`).
        planted : bool
            A check against a synthetic company's planted truth: the analyst's, so the client's
            index does not list it.

        Returns
        -------
        DataFrame
            What was written: display this, not ``df``.

        Raises
        ------
        PIIError
            The table holds names, e-mail addresses or phone numbers.
        CRMError
            Another notebook of this run already wrote a table of that name.
        """
        if not isinstance(df, pd.DataFrame):
            from crm_research.engine import collect

            df = collect(df)
        _check_name(name, "table")
        owner = self._owner_of("tables", name)
        if owner is not None:
            raise CRMError(f"table {name!r} is already written by notebook {owner} in this run: "
                           f"pick another name")
        out = df.reset_index() if any(n is not None for n in df.index.names) else df.reset_index(drop=True)
        privacy.check_no_pii(out, name)
        cols = [c for c in out.columns if c in privacy.ID_PREFIXES] if pseudonymise is None else list(pseudonymise)
        if cols:
            out = privacy.pseudonymise(out, key=key, columns=cols)  # the engagement key: never in the run
        write_csv(out, self.tables_dir / f"{name}.csv")
        if name not in self._meta["tables"]:
            self._meta["tables"].append(name)
            if planted:
                self._meta.setdefault("planted_tables", []).append(name)
            self._write_meta()
        return out

    def save_figure(self, fig, name: str, *, dpi: int = 120) -> None:
        """Write ``figures/<name>.png`` (the figure still shows in the notebook).

        Returns nothing, so no file path appears in the client report. Texts longer than
        :data:`FIGURE_TEXT_LIMIT` characters (tick labels, legend entries, titles: a 5,000-character
        category name) are cut first and end in "…", so one long value cannot stretch the image
        to tens of thousands of pixels.

        Parameters
        ----------
        fig : matplotlib.figure.Figure
        name : str
            File name without extension; unique within the run.
        dpi : int
            Resolution.

        """
        _check_name(name, "figure")
        owner = self._owner_of("figures", name)
        if owner is not None:
            raise CRMError(f"figure {name!r} is already written by notebook {owner} in this run: "
                           f"pick another name")
        path = self.figures_dir / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        _cut_figure_text(fig)
        fig.savefig(path, dpi=dpi, bbox_inches="tight", metadata={"Software": None})
        if name not in self._meta["figures"]:
            self._meta["figures"].append(name)
            self._write_meta()

    def publish(self, fig, name: str, *, dpi: int = 100):
        """Save ``fig`` as ``figures/<name>.png``, close it and return the saved image.

        The notebook (and its report) shows the saved file, so each figure is drawn once, exactly
        as the client's PNG, instead of once by the inline backend and once by the save.

        Parameters
        ----------
        fig : matplotlib.figure.Figure
        name : str
            File name without extension; unique within the run.
        dpi : int
            Resolution (dots per inch).

        Returns
        -------
        IPython.display.Image
            Displayed when it is the cell's last expression.
        """
        import matplotlib.pyplot as plt
        from IPython.display import Image

        self.save_figure(fig, name, dpi=dpi)
        plt.close(fig)
        return Image(filename=str(self.figures_dir / f"{name}.png"))

    def headline(self, name: str, value: Any, fmt: str = "{:,}", *, text: str | None = None) -> str:
        """Record one headline number for the run index; returns its text.

        Parameters
        ----------
        name : str
            What it is, in client words (``"Active customers"``).
        value : int, float or str
        fmt : str
            ``str.format`` pattern of the shown text (``"{:.1%}"`` for a share).
        text : str, optional
            The shown text as written (``run.money(x, 0)``); the number stays the value
            (``compare`` reads it).

        Returns
        -------
        str
            The formatted value.
        """
        if isinstance(value, np.generic):
            value = value.item()
        if text is None:
            text = fmt.format(value) if not isinstance(value, str) else value
        entry = {"name": name, "value": value, "text": str(text)}
        self._meta["headlines"] = [h for h in self._meta["headlines"] if h["name"] != name] + [entry]
        self._write_meta()
        return text

    # -- findings and actions: the report's "what we found / what to do" and the index's summary --

    def _check_ran(self, section: str, what: str) -> None:
        verdicts = getattr(self, "_verdicts", None) or {}
        if section not in verdicts:
            raise CRMError(f"{what} names section {section!r}, which is not declared for {self.notebook} "
                           f"in crm_research.needs")
        if not verdicts[section]:
            raise CRMError(f"{what} names section {section!r}, which was skipped on this data: record it "
                           f"inside `if run.section({section!r}):`")

    def finding(self, section: str, text: str, *, priority: int = 2, figure: str | None = None) -> None:
        """Record a finding of section ``section`` for the report's summary box and the index.

        Write it for the client: one or two sentences in plain words with the number and its
        unit (``run.money(...)``, ``run.pct(...)``); data values through :func:`text`. Findings
        are listed in the order recorded, most important first by ``priority``.

        Parameters
        ----------
        section : str
            The section it comes from (linked from the summaries); must have run.
        text : str
            Markdown.
        priority : int
            1 (headline: the executive summary shows these first) to 3 (detail).
        figure : str, optional
            A figure of this run (``run.publish`` name) that shows the finding; the index shows it.
        """
        self._check_ran(section, "a finding")
        entry = {"section": section, "text": str(text), "priority": int(priority)}
        if figure:
            entry["figure"] = figure
        self._meta["findings"] = [f for f in self._meta["findings"] if f["text"] != entry["text"]] + [entry]
        self._write_meta()

    def action(self, section: str, text: str, *, value: float | None = None, value_text: str | None = None,
               priority: int = 2, value_label: str = "Expected value") -> None:
        """Record a recommended action of section ``section`` with its expected value.

        Parameters
        ----------
        section : str
            The section whose result supports it (linked from the summaries); must have run.
        text : str
            Markdown: what to do, in plain words.
        value : float, optional
            Expected value (currency, per year unless ``value_text`` says otherwise): the
            executive summary orders actions by it.
        value_text : str, optional
            How the value is shown ("about €12,000 a year (range €8,000 to €15,000)");
            default ``run.money(value, 0)``.
        priority : int
            1 (do first) to 3; ties broken by ``value``.
        value_label : str
            What the value is ("Expected value"; "At stake" for a loss already incurred).
        """
        self._check_ran(section, "an action")
        if value is not None and not report_settings.is_finite(value):
            value = None
        shown = value_text if value_text is not None else (None if value is None else self.money(value, 0))
        entry = {"section": section, "text": str(text), "priority": int(priority),
                 "value": None if value is None else float(value), "value_text": shown,
                 "value_label": str(value_label)}
        self._meta["actions"] = [a for a in self._meta["actions"] if a["text"] != entry["text"]] + [entry]
        self._write_meta()

    # -- the client's units and words ----------------------------------------------------------

    def money(self, x: Any, decimals: int | None = None, *, signed: bool = False) -> str:
        """An amount in the engagement's currency (see :meth:`ReportSettings.money`)."""
        return self.settings.money(x, decimals, signed=signed)

    def pct(self, x: Any, decimals: int = 1, *, signed: bool = False) -> str:
        """A share (0-1) as a percentage."""
        return self.settings.pct(x, decimals, signed=signed)

    def count(self, x: Any) -> str:
        """A count as a whole number with the client's separators."""
        return self.settings.count(x)

    def day(self, d: Any) -> str:
        """A date in the client's format."""
        return self.settings.day(d)

    def label(self, kind: str, value: Any) -> str:
        """The readable, Markdown-safe name of an event, channel, campaign, product, column or metric."""
        return text(self.settings.label(kind, value))

    def show(self, df: pd.DataFrame, *, money: tuple[str, ...] | None = None, percent: tuple[str, ...] | None = None,
             columns: list | dict | None = None, labels: dict[str, str] | None = None, rows: int | None = CLIENT_ROWS,
             table: str | None = None, per_customer: bool = False, decimals: int = 2,
             numeric: tuple[str, ...] | None = None, unit: str = "customer"):
        """Display a table for this report's audience.

        The analyst sees :func:`show` of the whole table, as saved. The client sees it in client
        words and units: the ``columns`` picked (and renamed), readable headers, money in the
        engagement's currency, shares as percentages, counts as whole numbers, yes/no, dates in
        the client's format, values of ``labels`` columns by their readable names; at most
        ``rows`` rows, with a line saying how many more are in the table's CSV. A per-customer
        table is not shown to the client at all, only where it is.

        Parameters
        ----------
        df : DataFrame
        money : tuple of str, optional
            Money columns (currency). Default: columns named like an amount (revenue, spend, cost,
            amount, clv, ``*_value``).
        percent : tuple of str, optional
            Share columns (0-1) shown as percentages; default as :func:`show`.
        columns : list or dict, optional
            The client's columns, in order; a dict also renames them (``{"n": "Customers"}``).
        labels : dict of str to str, optional
            Columns whose values are codes, with their kind (``{"event": "events"}``).
        rows : int or None
            Rows shown to the client (default :data:`CLIENT_ROWS`); None shows all.
        table : str, optional
            The saved table's name (``run.save_table`` name): named in the "more rows" line.
        per_customer : bool
            One row per customer: the client sees only a line pointing to ``table``.
        decimals : int
            Decimals of other numbers.
        numeric : tuple of str, optional
            Text columns of formatted numbers (kept on one line, right-aligned).
        unit : str
            What one row of a per-customer table is ("customer", "suggestion"), for its pointer.

        Returns
        -------
        Styler or IPython.display.Markdown
        """
        from IPython.display import HTML, Markdown

        if self.audience != "client":
            return show(df, percent=percent, decimals=decimals)
        if per_customer:
            where = f" is in the spreadsheet **{text(table)}.csv** delivered with this report" if table else \
                " is saved with this report"
            return Markdown(f"*The full list, one line per {text(unit)} ({len(df):,} {text(unit)}"
                            f"{'' if len(df) == 1 else 's'}),{where}.*")
        more = (f"The {{n}} other rows are in the spreadsheet <b>{html.escape(table)}.csv</b> delivered with "
                "this report." if table else "{n} more rows are not shown.")
        return HTML(client_table(df, self.settings, money=money, percent=percent, columns=columns, labels=labels,
                                 rows=rows, decimals=decimals, numeric=numeric, more=more))


def setup(notebook: str, run_dir: str | os.PathLike | None = None, seed: int = 0) -> RunContext:
    """Bind a notebook to its run folder and set display defaults.

    Parameters
    ----------
    notebook : str
        The notebook's stem (``01_baseline``); names its metadata in the run folder.
    run_dir : path-like, optional
        Run folder (the runner passes a new one). ``None``: ``reports/scratch``, so a notebook
        run by hand in JupyterLab works; relative paths start at the project root.
    seed : int
        Seed of ``RunContext.rng``.

    Returns
    -------
    RunContext
    """
    if run_dir is None or str(run_dir) == "":
        folder = paths.reports_dir() / SCRATCH
    else:
        folder = Path(run_dir).expanduser()
        if not folder.is_absolute():
            folder = paths.project_root() / folder
    folder.mkdir(parents=True, exist_ok=True)
    audience = os.environ.get(ENV_AUDIENCE) or "analyst"
    if audience not in AUDIENCES:
        raise ParameterError(f"${ENV_AUDIENCE}={audience[:20]!r}: use one of {', '.join(AUDIENCES)}")
    ctx = RunContext(notebook=notebook, run_dir=folder, seed=int(seed), audience=audience)
    # a re-run of the same notebook in the same folder replaces its previous outputs
    if ctx.meta_path.exists():
        try:
            old = json.loads(ctx.meta_path.read_text(encoding="utf-8"))
        except ValueError:
            old = {}
        for t in old.get("tables", []):
            (ctx.tables_dir / f"{t}.csv").unlink(missing_ok=True)
        for f in old.get("figures", []):
            (ctx.figures_dir / f"{f}.png").unlink(missing_ok=True)
    ctx._write_meta()
    pd.set_option("display.max_rows", 40)
    pd.set_option("styler.format.escape", "html")  # any table styled in a notebook shows data as text
    pd.set_option("display.float_format", lambda v: f"{v:,.2f}")
    try:
        import matplotlib as mpl

        mpl.rcParams.update({"figure.figsize": (8, 4), "figure.dpi": 100, "axes.grid": True,
                             "axes.spines.top": False, "axes.spines.right": False})
    except ImportError:  # pragma: no cover
        pass
    return ctx


# ---------------------------------------------------------------------------------------
# display
# ---------------------------------------------------------------------------------------

PERCENT_HINTS = ("share", "rate", "ctr")

TEXT_LIMIT = 200
"""Characters of a data value shown in a report table or sentence; a longer value is cut and ends
in "…" (``tables/*.csv`` keep it whole)."""

_CONTROL = str.maketrans({**{chr(c): " " for c in range(32)}, "\x7f": " ", "\x85": " ", "\u2028": " ",
                          "\u2029": " "})
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_MARKDOWN_PUNCTUATION = frozenset(string.punctuation) - set("&<>")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def _cut(value: str, limit: int | None) -> str:
    return value if limit is None or len(value) <= limit else value[: max(limit - 1, 0)] + "…"


def text(value: Any, *, code: bool = False, limit: int | None = TEXT_LIMIT) -> str:
    """A data value as Markdown that shows as itself and can never become markup.

    Put every value that comes from the data (a segment, channel, category, campaign, region,
    product or path; a client's file or column name) into a notebook's Markdown through this:
    ``display(Markdown(f"The largest segment is **{nb.text(top['segment'])}**."))``.
    ``&``, ``<`` and ``>`` become HTML entities and every other ASCII punctuation mark is
    backslash-escaped, so no value opens a tag, a link, an image, emphasis, a heading, a list,
    a table or a code span; line breaks and control characters become spaces; a value with
    right-to-left or other direction marks is isolated (U+2068 … U+2069) so it cannot reorder
    the rest of the sentence.

    Parameters
    ----------
    value : object
        The value; ``None`` and missing values give ``""``.
    code : bool
        Show it as code (``<code>…</code>``, the escaped value inside): use it where the notebook
        would write `` `name` ``, since a backquote in the value would end a Markdown code span.
    limit : int or None
        Longest text shown (default :data:`TEXT_LIMIT`); a longer value is cut and ends in "…".
        ``None`` never cuts.

    Returns
    -------
    str
        Markdown text.
    """
    if value is None or (not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value)):
        return ""
    raw = _cut(str(value).translate(_CONTROL), limit)
    out = "".join(_ENTITIES.get(ch) or ("\\" + ch if ch in _MARKDOWN_PUNCTUATION else ch) for ch in raw)
    if any(ch in _BIDI for ch in raw):
        out = "\u2068" + out + "\u2069"
    return f"<code>{out}</code>" if code else out


def _sentence(sentence: Any) -> str:
    """A sentence of the package (a section's reason, a data note) as Markdown: every character
    escaped as by :func:`text`, its `quoted` names shown as code; never cut."""
    parts = str(sentence).split("`")
    if len(parts) % 2 == 0:  # an unpaired backquote: plain text
        return text(sentence, limit=None)
    return "".join(text(p, code=bool(i % 2), limit=None) for i, p in enumerate(parts) if p)


@functools.cache
def _client_table():
    from pandas.io.formats.style import Styler

    class ClientTable(Styler):
        """A :class:`~pandas.io.formats.style.Styler` whose ``format`` and ``format_index``
        escape HTML unless told otherwise (``escape=None``), so a notebook that formats a column
        of one of :func:`show`'s tables again cannot let a value through as markup."""

        def format(self, formatter=None, subset=None, na_rep=None, precision=None, decimal=".",
                   thousands=None, escape="html", hyperlinks=None):
            return super().format(formatter, subset, na_rep, precision, decimal, thousands, escape, hyperlinks)

        def format_index(self, formatter=None, axis=0, level=None, na_rep=None, precision=None,
                         decimal=".", thousands=None, escape="html", hyperlinks=None):
            return super().format_index(formatter, axis, level, na_rep, precision, decimal, thousands,
                                        escape, hyperlinks)

    return ClientTable


def _is_text(s: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)
                or pd.api.types.is_datetime64_any_dtype(s) or pd.api.types.is_timedelta64_dtype(s))


def _short_view(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with text cells and column names longer than :data:`TEXT_LIMIT` cut (the same
    frame when none is)."""
    def too_long(v) -> bool:
        return isinstance(v, str) and len(v) > TEXT_LIMIT

    long_cells = [c for c, s in df.items() if _is_text(s) and s.astype(object).map(too_long).any()]
    long_names = any(too_long(c) for c in df.columns)
    if not long_cells and not long_names:
        return df
    view = df.copy()
    for c in long_cells:
        view[c] = df[c].astype(object).map(lambda v: _cut(v, TEXT_LIMIT) if too_long(v) else v)
    if long_names:
        names: list = []
        for c in df.columns:
            name = _cut(c, TEXT_LIMIT) if too_long(c) else c
            k = 2
            while name in names:  # two long names alike in their first characters stay apart
                name, k = f"{_cut(c, TEXT_LIMIT - len(str(k)) - 1)} {k}", k + 1
            names.append(name)
        view.columns = names
    return view


def show(df: pd.DataFrame, percent: tuple[str, ...] | None = None, decimals: int = 2):
    """Display a table for a client: no index, dates as days, thousands separators, percentages.

    Every cell and column name is HTML-escaped, so a value from the data (``<script>``, an
    ``<img onerror=…>``) shows as text and never becomes markup, also when the notebook formats
    columns again with ``.format(...)`` (its default is ``escape="html"`` here). Text longer than
    :data:`TEXT_LIMIT` characters is cut and ends in "…" (the saved table keeps it whole).

    Parameters
    ----------
    df : DataFrame
    percent : tuple of str, optional
        Columns shown as percentages. Default: numeric columns whose name contains
        ``share``, ``rate`` or ``ctr``.
    decimals : int
        Decimals of other float columns.

    Returns
    -------
    pandas.io.formats.style.Styler
        Renders as an HTML table in the notebook and the report.
    """
    if percent is None:
        percent = _percent_columns(df)
    view = _short_view(df)
    fmt: dict[Any, Any] = {}
    for c, shown in zip(df.columns, view.columns, strict=True):
        s = df[c]
        if c in percent:
            fmt[shown] = "{:.1%}"
        elif pd.api.types.is_datetime64_any_dtype(s):
            midnight = s.dropna().eq(s.dropna().dt.normalize()).all()
            fmt[shown] = (lambda v, m=midnight: "" if pd.isna(v) else v.strftime("%Y-%m-%d" if m else "%Y-%m-%d %H:%M"))
        elif pd.api.types.is_bool_dtype(s):
            continue
        elif pd.api.types.is_integer_dtype(s):
            fmt[shown] = "{:,}"
        elif pd.api.types.is_float_dtype(s):
            fmt[shown] = "{:,." + str(decimals) + "f}"
    return (_client_table()(view).format(fmt, na_rep="", escape="html")
            .format_index(axis=0, escape="html").format_index(axis=1, escape="html").hide(axis="index"))


MONEY_HINTS = ("revenue", "amount", "spend", "cost", "clv", "_value", "monetary", "cpa", "value_at_risk", "profit")
"""Column names (or their endings) that :meth:`RunContext.show` takes for money by default."""

COUNT_HINTS = ("n_", "customers", "orders", "conversions", "users", "clicks", "impressions", "contacts", "sessions",
               "buyers", "events", "count")
"""Column names (beginnings or endings) of counts: shown as whole numbers."""


def _percent_columns(df: pd.DataFrame) -> tuple:
    """Float columns named like a share (:data:`PERCENT_HINTS`): shown as percentages by default."""
    return tuple(c for c in df.columns if any(h in str(c) for h in PERCENT_HINTS) and pd.api.types.is_float_dtype(df[c]))


def _is_money(name: str) -> bool:
    n = name.lower()
    if any(h in n for h in ("share", "rate", "p_value", "ratio", "roas", "per_", "pct")):
        return False
    return any(n == h.strip("_") or n.endswith(h) for h in MONEY_HINTS)


def _is_count(name: str) -> bool:
    n = name.lower()
    if any(w in n for w in ("mean", "avg", "average", "per_", "median", "rate", "share")):
        return False
    return any(n.startswith(h) if h.endswith("_") else (n == h or n.endswith("_" + h)) for h in COUNT_HINTS)


_NUMBER_LIKE = re.compile(r"[−+\-]?\s?[^\d\s]{0,3}\s?[\d][\d,.\u00a0\u202f ]*\s?(%|pts|[^\d\s]{1,3})?"
                          r"( \(partial\))?")
"""A value already formatted as a number ("€194,735", "56.0%", "+1.2 pts", "−7"): kept on one line."""


def _breakable(value: str, every: int = 12, longest: int = 16) -> str:
    """``value`` HTML-escaped, with a line-break opportunity (``<wbr>``) every ``every`` characters
    inside a word longer than ``longest`` (16: "recommendations" stays whole), so a column wraps
    between words and a long token cannot widen the table."""

    def cut(word: str) -> str:
        if len(word) <= longest:
            return html.escape(word)
        return "<wbr>".join(html.escape(word[i:i + every]) for i in range(0, len(word), every))

    return " ".join(cut(w) for w in value.split(" "))


def _numberish(value: str) -> bool:
    """True for a formatted number or range: "€194,735", "56.0%", "53.0% to 58.9%", "3.2 of 5"."""
    if len(value) > 40 or not any(ch.isdigit() for ch in value):
        return False
    if _NUMBER_LIKE.fullmatch(value):
        return True
    parts = re.split(r"\s+(?:to|of|–|-)\s+", value)
    return len(parts) > 1 and all(_NUMBER_LIKE.fullmatch(x) for x in parts)


def client_table(df: pd.DataFrame, settings: report_settings.ReportSettings, *, money=None, percent=None,
                 columns=None, labels=None, rows: int | None = CLIENT_ROWS, decimals: int = 2, numeric=None,
                 more: str = "{n} more rows are not shown.") -> str:
    """A table as client HTML: picked columns, readable headers, the client's units, top rows.

    Every value and header is HTML-escaped (text cut at :data:`TEXT_LIMIT` characters); numbers
    are right-aligned and never wrap, text wraps. Money cells carry the currency symbol (whole
    units in a column holding 1,000 or more); count columns (:data:`COUNT_HINTS`) are rounded to whole numbers, so an
    attributed, fractional count shows as the nearest whole one. See :meth:`RunContext.show`.

    Parameters
    ----------
    df : DataFrame
    settings : crm_research.settings.ReportSettings
    money, percent : tuple of str, optional
        Money and share columns (defaults: by name, see :data:`MONEY_HINTS`, :data:`PERCENT_HINTS`).
    columns : list or dict, optional
        Columns shown, in order (a dict renames them).
    labels : dict of str to str, optional
        ``{column: kind}``: values shown by their readable names (``settings.label``).
    rows : int or None
        Rows shown; the rest are counted in ``more``.
    decimals : int
        Decimals of other non-integer numbers.
    numeric : sequence of str, optional
        Text columns holding formatted numbers ("€1,234 to €1,890"): right-aligned, one line.
        A text value that reads as one number ("€194,735", "56.0%") is treated so anyway.
    more : str
        HTML sentence under a cut table (data in it escaped by the caller), ``{n}`` the rows left out.

    Returns
    -------
    str
        ``<table class="crm-table">…</table>`` (and the sentence).
    """
    names: dict = {}
    if isinstance(columns, dict):
        names = {c: str(v) for c, v in columns.items()}
        cols = [c for c in columns if c in df.columns]
    elif columns is not None:
        cols = [c for c in columns if c in df.columns]
    else:
        cols = list(df.columns)
    view = df[cols]
    n_more = 0
    if rows is not None and len(view) > rows:
        n_more = len(view) - rows
        view = view.head(rows)
    if percent is None:
        percent = _percent_columns(df[cols])
    if money is None:
        money = tuple(c for c in cols if _is_money(str(c)) and pd.api.types.is_numeric_dtype(df[c])
                      and not pd.api.types.is_bool_dtype(df[c]))
    money = tuple(c for c in money if c in cols)  # a column the data lacks (a fallback) is simply not shown
    percent = tuple(c for c in percent if c in cols)
    labels = {c: k for c, k in (labels or {}).items() if c in cols}
    numeric_text = set(numeric or ())
    big_money = {c for c in money if pd.to_numeric(df[c], errors="coerce").abs().max() >= 1000}  # whole units

    def head(c) -> str:
        name = names.get(c) or settings.label("columns", c)
        return _breakable(_cut(str(name), 60))  # a header from the data (a channel, an event) may be long

    def cell(c, v) -> tuple[str, bool]:
        s = df[c]
        if v is None or (not isinstance(v, str) and pd.api.types.is_scalar(v) and pd.isna(v)):
            return "", False
        if c in labels:
            return _breakable(_cut(settings.label(labels[c], v), TEXT_LIMIT)), False
        if pd.api.types.is_bool_dtype(s) or isinstance(v, bool | np.bool_):
            return settings.yes_no(v), False
        if pd.api.types.is_datetime64_any_dtype(s):
            return html.escape(settings.day(v)), True
        if isinstance(v, int | float | np.integer | np.floating):
            if c in percent:
                return html.escape(settings.pct(v)), True
            if c in money:
                return html.escape(settings.money(v, 0 if c in big_money else None)), True
            if isinstance(v, int | np.integer) or _is_count(str(c)):
                return html.escape(settings.count(v)), True
            return html.escape(settings.number(v, decimals)), True
        shown = _cut(str(v).translate(_CONTROL), TEXT_LIMIT)
        if c in numeric_text or _numberish(shown):
            return html.escape(shown), True
        return _breakable(shown), False

    body = [[cell(c, v) for c, v in zip(cols, rec, strict=True)] for rec in view.itertuples(index=False, name=None)]
    # a header sits over its column: right-aligned when every value shown is a number
    right = [any(row[j][0] for row in body) and all(row[j][1] or not row[j][0] for row in body)
             for j in range(len(cols))]
    out = ["<table class='crm-table'><thead><tr>"]
    out += [f"<th class='{'num' if r else 'txt'}'>{head(c)}</th>" for c, r in zip(cols, right, strict=True)]
    out.append("</tr></thead><tbody>")
    for row in body:
        out.append("<tr>" + "".join(f"<td class='{'num' if is_num else 'txt'}'>{shown}</td>" for shown, is_num in row)
                   + "</tr>")
    out.append("</tbody></table>")
    if n_more:
        out.append(f"<p class='crm-more'>{more.format(n=f'{n_more:,}')}</p>")
    return "".join(out)


def show_by_unit(frame: pd.DataFrame, columns):
    """Display a table with a ``unit`` column: shares as percentages, counts without decimals.

    Escaped as :func:`show`.

    Parameters
    ----------
    frame : DataFrame
        Has a ``unit`` column (``share``, ``contacts``, ``customers``, ``orders``, currency, ...).
    columns : sequence of str
        The value columns to format row by row.

    Returns
    -------
    pandas.io.formats.style.Styler
    """
    styler = show(frame, percent=())
    counts = frame["unit"].isin(["contacts", "customers", "orders"])
    for rows, fmt in ((frame["unit"] == "share", "{:.1%}"), (counts, "{:,.0f}")):
        styler = styler.format(fmt, subset=pd.IndexSlice[frame.index[rows], list(columns)], na_rep="",
                               escape="html")
    return styler


def number(x) -> str:
    """Text of a number for prose: whole numbers without decimals, others with two; NaN -> ''."""
    return "" if pd.isna(x) else f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"


def project_path(p: str | os.PathLike) -> Path:
    """A path parameter: absolute as given, relative ones start at the project root (as ``data_dir``)."""
    p = Path(p).expanduser()
    return p if p.is_absolute() else paths.project_root() / p
