"""Report settings of an engagement: who the reports are for, and the client's units and words.

A consultant sends the reports under the client's name, in the client's currency and number
format, with the client's names for events, campaigns, channels and products. These settings are
read from YAML, in this order (a later source overrides single keys of an earlier one):

1. the package's defaults (:data:`DEFAULTS`; the demo company has its own,
   ``resources/demo_report.yaml``);
2. ``report.yaml`` in the data folder, beside the tables (and ``mapping.yaml``);
3. the file given to ``crm-research run --settings FILE``.

Every key is optional::

    client: Acme Retail Ltd            # shown in every report's header and the PDF's footer
    title: Customer analytics review   # the reports' common title
    author: Jane Doe, Example Consulting
    date: 2026-02-15                   # the report date (default: the analysis date)
    paper: A4                          # A4 (default) or Letter
    currency: {code: EUR, symbol: "€", decimals: 2, position: before}
    number: {thousands: ",", decimal: "."}
    date_format: "%d %b %Y"            # strftime pattern of dates in sentences and tables
    labels:                            # readable names, per kind of value
      events: {checkout_start: Checkout started}
      channels: {ps_brand: Paid search (brand)}
      campaigns: {ELE-33: Winter electronics sale}
      products: {}
      columns: {n_orders: Orders}
      metrics: {retention_rate: Retention}
    # the record of processing (GDPR art. 30) in every run's manifest, index and report appendix
    purpose: Customer analytics for Acme's CRM strategy   # why the customer data is processed
    legal_basis: Legitimate interests (GDPR art. 6(1)(f))  # under which legal basis
    keep_runs_days: 180                # run folders older than this are listed by `crm-research prune`

A value without a label of its own is shown in readable form (``checkout_start`` → "Checkout
start"); metric and column names have packaged labels (``resources/labels.yaml``).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from crm_research.errors import CRMError

__all__ = ["ReportSettings", "Currency", "load", "and_list", "SETTINGS_FILE", "LABEL_KINDS", "humanize", "DEFAULT_PURPOSE",
           "DEFAULT_LEGAL_BASIS", "DEFAULT_KEEP_RUNS_DAYS"]

SETTINGS_FILE = "report.yaml"
"""Name of the settings file looked for in the data folder."""

LABEL_KINDS = ("events", "channels", "campaigns", "products", "categories", "segments", "columns", "metrics",
               "values")
"""Kinds of values with labels of their own."""

PAPERS = {"a4": "A4", "letter": "Letter"}
_KEYS = {"client", "title", "author", "date", "paper", "currency", "number", "date_format", "labels", "purpose",
         "legal_basis", "keep_runs_days"}

DEFAULT_PURPOSE = ("Customer analytics for the client's CRM strategy: measure, segment and understand customers, "
                   "and prepare outreach lists that honour consent")
"""The purpose of processing recorded when the engagement sets none (``purpose``)."""
DEFAULT_LEGAL_BASIS = ("Legitimate interests of the client (GDPR art. 6(1)(f)) for aggregate analysis; "
                       "the customer's marketing consent for outreach (lists leave out everyone else)")
"""The legal basis recorded when the engagement sets none (``legal_basis``)."""
DEFAULT_KEEP_RUNS_DAYS = 365
"""Days a run folder is kept when the engagement sets no ``keep_runs_days``."""


@dataclass(frozen=True)
class Currency:
    """The client's currency: ISO code, symbol, decimals and where the symbol goes.

    Without code and symbol (the default for a client's data until set), money is shown as a
    plain number with two decimals and the reports say once that the currency is not set.
    """

    code: str | None = None
    symbol: str | None = None
    decimals: int = 2
    position: str = "before"

    @property
    def known(self) -> bool:
        return bool(self.code or self.symbol)

    @property
    def unit(self) -> str:
        """The short unit of a column header: the symbol, else the code, else ''."""
        return self.symbol or self.code or ""


def and_list(words: Iterable[Any]) -> str:
    """Words joined as a sentence lists them: 'a', 'a and b', 'a, b and c'.

    Examples
    --------
    >>> and_list(["champions"]), and_list(["at risk", "can't lose"]), and_list("abc")
    ('champions', "at risk and can't lose", 'a, b and c')
    """
    words = [str(w) for w in words]
    if not words:
        return ""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def humanize(value: Any) -> str:
    """A code as words: ``checkout_start`` → "Checkout start", ``avgOrderValue`` → "Avg order value".

    Text that already has spaces or capitals inside (a name) is returned as it is.
    """
    s = str(value)
    if not s or " " in s.strip() or not re.fullmatch(r"[A-Za-z0-9_.\-]+", s):
        return s
    if "_" not in s and "-" not in s and not re.search(r"[a-z][A-Z]", s):
        return s[:1].upper() + s[1:] if s.islower() else s
    words = re.sub(r"([a-z])([A-Z])", r"\1 \2", s).replace("_", " ").replace("-", " ").split()
    text = " ".join(w if (w.isupper() and len(w) > 1) else w.lower() for w in words)
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class ReportSettings:
    """How the reports of one engagement look and speak (see the module docstring for the file).

    Attributes
    ----------
    client, title, author : str or None
        Shown in every report's header and the PDF page footer.
    date : str or None
        The report date (ISO); None: the analysis date.
    paper : str
        ``A4`` or ``Letter``.
    currency : Currency
    thousands, decimal : str
        Separators of numbers.
    date_format : str
        ``strftime`` pattern of dates.
    labels : dict of str to dict
        Readable names per kind (:data:`LABEL_KINDS`).
    purpose, legal_basis : str
        Why the customer data is processed and under which legal basis: the record of processing
        of every run (defaults :data:`DEFAULT_PURPOSE`, :data:`DEFAULT_LEGAL_BASIS`).
    keep_runs_days : int
        Days a run folder is kept (days; default :data:`DEFAULT_KEEP_RUNS_DAYS`): ``crm-research
        prune`` lists older ones.
    """

    client: str | None = None
    title: str = "Customer analytics"
    author: str | None = None
    date: str | None = None
    paper: str = "A4"
    currency: Currency = field(default_factory=Currency)
    thousands: str = ","
    decimal: str = "."
    date_format: str = "%d %b %Y"
    labels: dict = field(default_factory=dict)
    purpose: str = DEFAULT_PURPOSE
    legal_basis: str = DEFAULT_LEGAL_BASIS
    keep_runs_days: int = DEFAULT_KEEP_RUNS_DAYS

    # -- numbers --------------------------------------------------------------------------

    def _num(self, x: float, decimals: int) -> str:
        text = f"{x:,.{decimals}f}"
        if (self.thousands, self.decimal) != (",", "."):
            text = text.replace(",", "\0").replace(".", self.decimal).replace("\0", self.thousands)
        return text

    @staticmethod
    def _missing(x: Any) -> bool:
        return x is None or (not isinstance(x, str) and pd.isna(x))

    def number(self, x: Any, decimals: int = 0) -> str:
        """``x`` with the client's separators and ``decimals`` decimals; '' when missing."""
        if self._missing(x):
            return ""
        return self._num(float(x), decimals)

    def count(self, x: Any) -> str:
        """A count as a whole number (an attributed, fractional count is rounded)."""
        if self._missing(x):
            return ""
        return self._num(float(round(float(x))), 0)

    def money(self, x: Any, decimals: int | None = None, *, signed: bool = False) -> str:
        """An amount in the client's currency: "€1,234.50", "1.234,50 €", "1,234.50 EUR".

        Parameters
        ----------
        x : float
            Amount (currency units).
        decimals : int, optional
            Decimals shown; default the currency's (0 for large round headline figures).
        signed : bool
            Prefix a + on positive amounts (changes).
        """
        if self._missing(x):
            return ""
        c = self.currency
        d = c.decimals if decimals is None else decimals
        x = float(x)
        body = self._num(abs(x), d)
        sign = "−" if x < 0 and round(abs(x), d) > 0 else ("+" if signed and x > 0 else "")
        if c.symbol and c.position == "before":
            return f"{sign}{c.symbol}{body}"
        unit = c.symbol or c.code
        return f"{sign}{body} {unit}" if unit else f"{sign}{body}"

    def pct(self, x: Any, decimals: int = 1, *, signed: bool = False) -> str:
        """A share (0-1) as a percentage: 0.1234 → "12.3%"."""
        if self._missing(x):
            return ""
        x = float(x) * 100
        sign = "+" if signed and round(x, decimals) > 0 else ""
        return f"{sign}{self._num(x, decimals)}%".replace("-", "−")

    def pts(self, x: Any, decimals: int = 1) -> str:
        """A change of a share (0-1) in percentage points: 0.012 → "+1.2 pts"."""
        if self._missing(x):
            return ""
        x = float(x) * 100
        sign = "+" if round(x, decimals) > 0 else ""
        return f"{sign}{self._num(x, decimals)} pts".replace("-", "−")

    def day(self, d: Any) -> str:
        """A date in the client's format ('' when missing)."""
        if self._missing(d):
            return ""
        return pd.Timestamp(d).strftime(self.date_format)

    @staticmethod
    def yes_no(x: Any) -> str:
        """A boolean as "yes"/"no" ('' when missing)."""
        if x is None or (not isinstance(x, bool) and pd.isna(x)):
            return ""
        return "yes" if bool(x) else "no"

    # -- words ----------------------------------------------------------------------------

    def label(self, kind: str, value: Any) -> str:
        """The readable name of ``value`` (an event, channel, campaign, product, column, metric).

        The engagement's own label first (``labels: {events: {...}}``), else the packaged one
        (metrics and columns), else the value in readable form (:func:`humanize`). Missing
        values give ''.
        """
        if self._missing(value):
            return ""
        own = (self.labels.get(kind) or {}).get(str(value))
        if own is not None:
            return str(own)
        if kind in ("columns", "metrics"):
            packaged = _packaged_labels().get(kind, {}).get(str(value))
            if packaged is None and kind == "columns":
                packaged = _packaged_labels().get("metrics", {}).get(str(value))
            if packaged is not None:
                return packaged
        return humanize(value)

    def with_labels(self, kind: str, labels: dict) -> ReportSettings:
        """A copy with ``labels`` added to ``kind`` (the engagement's own labels win).

        Use it for names the data holds, e.g. campaign ids → their names from ``campaigns``:
        ``run.settings.with_labels("campaigns", dict(zip(c.campaign_id, c.name)))``.
        """
        if kind not in LABEL_KINDS:
            raise CRMError(f"unknown label kind {kind!r}: use one of {', '.join(LABEL_KINDS)}")
        merged = {**{str(k): str(v) for k, v in labels.items() if not self._missing(v)},
                  **(self.labels.get(kind) or {})}
        return replace(self, labels={**self.labels, kind: merged})

    @property
    def money_unit(self) -> str:
        """The currency's short unit for headers and sentences ('' when not set)."""
        return self.currency.unit

    def header(self, as_of: Any = None) -> dict[str, str]:
        """The facts every report's header shows: client, report title, author, report date, data up to."""
        out = {}
        if self.client:
            out["Client"] = self.client
        if self.title:
            out["Report"] = self.title
        if self.author:
            out["Prepared by"] = self.author
        when = self.date or (None if as_of in (None, "") else str(as_of))
        if when:
            out["Date"] = self.day(when)
        if as_of not in (None, ""):
            out["Data up to"] = self.day(pd.Timestamp(as_of) - pd.Timedelta(days=1))
        return out

    def to_dict(self) -> dict:
        """The settings as plain data (recorded in the run manifest)."""
        return {"client": self.client, "title": self.title, "author": self.author, "date": self.date,
                "paper": self.paper,
                "currency": {"code": self.currency.code, "symbol": self.currency.symbol,
                             "decimals": self.currency.decimals, "position": self.currency.position},
                "number": {"thousands": self.thousands, "decimal": self.decimal},
                "date_format": self.date_format, "labels": self.labels, "purpose": self.purpose,
                "legal_basis": self.legal_basis, "keep_runs_days": self.keep_runs_days}


# ---------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------

DEFAULTS = ReportSettings()
"""The settings of a client's data without a settings file: no client name, no currency."""


@functools.cache
def _packaged_labels() -> dict:
    return _read_resource("labels.yaml")


def _read_resource(name: str) -> dict:
    import yaml

    return yaml.safe_load(resources.files("crm_research").joinpath("resources", name).read_text(encoding="utf-8")) or {}


def _bad(source: str, key: str, why: str) -> CRMError:
    return CRMError(f"report settings {source}: {key} {why}; see the keys in crm_research.settings "
                    "(e.g. currency: {code: EUR, symbol: \"€\", decimals: 2})")


def _apply(base: ReportSettings, raw: Any, source: str) -> ReportSettings:
    """``base`` with the keys of one YAML document applied (checked, one-line errors)."""
    if raw is None:
        return base
    if not isinstance(raw, dict):
        raise _bad(source, "the file", "must be a mapping of keys to values")
    unknown = sorted(set(map(str, raw)) - _KEYS)
    if unknown:
        raise _bad(source, f"key {unknown[0]!r}", f"is not a setting (known: {', '.join(sorted(_KEYS))})")
    out: dict[str, Any] = {}
    for key in ("client", "title", "author"):
        if key in raw:
            v = raw[key]
            if v is not None and not isinstance(v, str | int | float):
                raise _bad(source, key, "must be text")
            out[key] = None if v is None else str(v).strip()[:200] or None
    if "title" in out and not out["title"]:
        out["title"] = base.title
    for key in ("purpose", "legal_basis"):
        if key in raw:
            v = raw[key]
            if v is not None and not isinstance(v, str):
                raise _bad(source, key, "must be text")
            text = None if v is None else " ".join(str(v).split())[:500]
            out[key] = text or (DEFAULT_PURPOSE if key == "purpose" else DEFAULT_LEGAL_BASIS)
    if "keep_runs_days" in raw:
        v = raw["keep_runs_days"]
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 36500:
            raise _bad(source, "keep_runs_days", "must be a whole number of days from 1 to 36500")
        out["keep_runs_days"] = v
    if "date" in raw:
        v = raw["date"]
        if v is not None:
            try:
                v = pd.Timestamp(v).strftime("%Y-%m-%d") if not isinstance(v, date | datetime) else \
                    pd.Timestamp(v).strftime("%Y-%m-%d")
            except (ValueError, TypeError):
                raise _bad(source, "date", f"{str(raw['date'])[:40]!r} is not a date (write YYYY-MM-DD)") from None
        out["date"] = v
    if "paper" in raw:
        p = PAPERS.get(str(raw["paper"]).strip().lower())
        if p is None:
            raise _bad(source, "paper", f"{str(raw['paper'])[:20]!r} is not A4 or Letter")
        out["paper"] = p
    if "currency" in raw:
        c = raw["currency"]
        if isinstance(c, str):
            c = {"code": c}
        if not isinstance(c, dict) or set(map(str, c)) - {"code", "symbol", "decimals", "position"}:
            raise _bad(source, "currency", "must have code, symbol, decimals and/or position")
        code = c.get("code", base.currency.code)
        if code is not None and not re.fullmatch(r"[A-Za-z]{3}", str(code)):
            raise _bad(source, "currency.code", f"{str(code)[:20]!r} is not a three-letter ISO code (EUR, USD, GBP)")
        decimals = c.get("decimals", base.currency.decimals)
        if not isinstance(decimals, int) or isinstance(decimals, bool) or not 0 <= decimals <= 4:
            raise _bad(source, "currency.decimals", "must be a whole number from 0 to 4")
        position = str(c.get("position", base.currency.position))
        if position not in ("before", "after"):
            raise _bad(source, "currency.position", "must be before or after")
        symbol = c.get("symbol", base.currency.symbol if code in (None, base.currency.code) else None)
        out["currency"] = Currency(code=None if code is None else str(code).upper(),
                                   symbol=None if symbol is None else str(symbol)[:5], decimals=decimals,
                                   position=position)
    if "number" in raw:
        n = raw["number"]
        if not isinstance(n, dict) or set(map(str, n)) - {"thousands", "decimal"}:
            raise _bad(source, "number", "must have thousands and/or decimal")
        th, dec = str(n.get("thousands", base.thousands)), str(n.get("decimal", base.decimal))
        if th == dec or len(dec) != 1 or len(th) > 1:
            raise _bad(source, "number", "needs one decimal character and a different (or empty) thousands separator")
        out["thousands"], out["decimal"] = th, dec
    if "date_format" in raw:
        f = str(raw["date_format"])
        if "%" not in f:
            raise _bad(source, "date_format", f"{f[:20]!r} has no strftime field (e.g. %d %b %Y)")
        out["date_format"] = f
    if "labels" in raw:
        lab = raw["labels"] or {}
        if not isinstance(lab, dict):
            raise _bad(source, "labels", "must map kinds (events, channels, ...) to {value: label}")
        merged = dict(base.labels)
        for kind, values in lab.items():
            if kind not in LABEL_KINDS:
                raise _bad(source, f"labels.{kind}", f"is not a kind of label (known: {', '.join(LABEL_KINDS)})")
            if not isinstance(values, dict):
                raise _bad(source, f"labels.{kind}", "must map values to labels")
            merged[kind] = {**merged.get(kind, {}), **{str(k): str(v) for k, v in values.items() if v is not None}}
        out["labels"] = merged
    return replace(base, **out)


def _read_yaml(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CRMError(f"cannot read the report settings {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise CRMError(f"report settings {path.name}{where} is not valid YAML: fix the file") from None


def load(data_dir: str | Path | None = None, file: str | Path | None = None, *,
         demo: bool | None = None) -> ReportSettings:
    """The report settings of a run: defaults, then ``report.yaml`` in ``data_dir``, then ``file``.

    Parameters
    ----------
    data_dir : path-like, optional
        The data folder; its ``report.yaml`` is read when present.
    file : path-like, optional
        A settings file given by the user (``run --settings``); must exist.
    demo : bool, optional
        Start from the demo company's settings (``resources/demo_report.yaml``); default: when
        ``data_dir`` is the demo company's folder.

    Returns
    -------
    ReportSettings

    Raises
    ------
    CRMError
        A file that cannot be read, is not YAML, or has an unknown key or a bad value (one line
        naming the file and key).
    """
    s = DEFAULTS
    if demo is None:
        from crm_research import paths

        demo = data_dir is not None and Path(data_dir).resolve() == paths.demo_data_dir().resolve()
    if demo:
        s = _apply(s, _read_resource("demo_report.yaml"), "demo_report.yaml")
    if data_dir is not None:
        own = Path(data_dir) / SETTINGS_FILE
        if own.is_file():
            s = _apply(s, _read_yaml(own), str(own.name))
    if file is not None:
        path = Path(file).expanduser()
        if not path.is_file():
            raise CRMError(f"report settings file {path} not found: give an existing YAML file to --settings")
        s = _apply(s, _read_yaml(path), path.name)
    return s


def from_dict(raw: dict | None) -> ReportSettings:
    """Settings from :meth:`ReportSettings.to_dict` (a manifest's record)."""
    if not raw:
        return DEFAULTS
    raw = dict(raw)
    number = raw.pop("number", None) or {}
    cur = raw.pop("currency", None) or {}
    s = replace(DEFAULTS, **{k: v for k, v in raw.items() if k in _KEYS and v is not None})
    return replace(s, currency=Currency(**cur) if cur else Currency(),
                   thousands=number.get("thousands", ","), decimal=number.get("decimal", "."))


def is_finite(x: Any) -> bool:
    """True for a finite number."""
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False
