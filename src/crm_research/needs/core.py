"""What each analysis section needs, declared once, and whether a company's data meets it.

A *section* is one part of a notebook report (``02_segmentation`` / ``cross_sell``). It
declares its :class:`Need` s: tables, columns, and minimum amounts of data measured by named
*facts* (``buyers``, ``repeat_buyers``, ``history_days``, ...). A fact is an aggregate computed
on the engine (an Ibis expression over the company's tables, so it works the same on pandas
frames, DuckDB files, Parquet read in place or Spark): only one number per fact comes back.

:func:`assess` evaluates every section of a notebook (or all five) and returns one
:class:`Verdict` per section: ``ok``, ``fallback`` (runs in a simpler form, and says so) or
``skip`` (cannot run; the reason is one plain sentence naming what to add).

Nothing here reads the wall clock or prints; thresholds that depend on a notebook parameter
name that parameter (``at_least="cluster_min_buyers"``) and take its value from the
parameters given, else from :data:`DEFAULTS`.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["NOT_SYNTHETIC", "Need", "Section", "Verdict", "Fact", "fact", "FACTS", "DEFAULTS", "assess", "TableSet"]

NOT_SYNTHETIC = "this data is not a synthetic company: nothing was planted to check against"
"""The ``absent`` text of the needs of the planted-truth checks."""

DEFAULTS: dict[str, Any] = {}
"""Default values of the notebook parameters that facts and thresholds use (each notebook's
``parameters`` cell holds the same defaults; a test keeps them equal)."""


# ---------------------------------------------------------------------------------------
# facts
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fact:
    """A number measured on the data (an engine aggregate).

    Attributes
    ----------
    name : str
        Identifier used by :class:`Need` (``"repeat_buyers"``).
    columns : tuple of str
        ``"table.column"`` the fact reads; a section using the fact needs them too. A bare
        ``"table"`` means the table itself.
    compute : callable
        ``compute(tables, as_of, params) -> float``; ``tables`` is a :class:`TableSet` of Ibis
        tables, ``as_of`` a UTC Timestamp or None, ``params`` the parameters.
    prefetch : bool
        Computed with the other facts of :func:`assess` before the sections are judged, its
        scalar queries joined into one (see :func:`batched`); False for a fact that fetches rows
        (it would be computed for sections that never ask for it).
    """

    name: str
    columns: tuple[str, ...]
    compute: Callable[..., float]
    prefetch: bool = True


FACTS: dict[str, Fact] = {}


def fact(name: str, *columns: str, prefetch: bool = True) -> Callable:
    """Register ``compute(tables, as_of, params) -> number`` as fact ``name`` reading ``columns``
    (``prefetch``: see :class:`Fact`)."""

    def register(fn: Callable) -> Callable:
        if name in FACTS:
            raise ValueError(f"fact {name!r} is declared twice")
        FACTS[name] = Fact(name, tuple(columns), fn, prefetch)
        return fn

    return register


class _Deferred(Exception):
    """A fact asked for a scalar that the batch has not computed yet."""


_BATCH: contextvars.ContextVar[dict | None] = contextvars.ContextVar("crm_research_needs_batch", default=None)
"""While :func:`_prefetch` runs the facts: the scalars known and the scalars wanted."""


def batched(expr, execute: Callable[[Any], Any]) -> Any:
    """The value of scalar expression ``expr``: ``execute(expr)``, or, while :func:`assess`
    computes its facts together, the value the batch's joint query gave (the fact stops at a
    scalar the batch has not computed yet, and runs again once it has)."""
    state = _BATCH.get()
    if state is None:
        return execute(expr)
    key = expr.op()
    if key in state["known"]:
        return state["known"][key]
    state["wanted"].setdefault(key, expr)
    raise _Deferred


def _backend(expr):
    from crm_research.engine import _default_con

    try:
        return expr._find_backend(use_default=False)
    except Exception:  # noqa: BLE001 - memtables only: the implicit connection runs them
        return _default_con()


def _execute_together(wanted: dict) -> dict:
    """The values of the scalar expressions ``wanted`` (by op), one query per backend
    (:func:`crm_research.engine.collect_rows`)."""
    from crm_research.engine import collect_rows

    groups: dict[int, tuple[Any, list]] = {}
    for key, expr in wanted.items():
        backend = _backend(expr)
        groups.setdefault(id(backend), (backend, []))[1].append((key, expr))
    known = {}
    for backend, items in groups.values():
        got = collect_rows([expr.name("v").as_table() for _, expr in items], backend.execute)
        known.update({key: row["v"] for (key, _), row in zip(items, got, strict=True)})
    return known


def _prefetch(names: list[str], ts: TableSet, when, values: dict, cache: dict[str, float]) -> None:
    """Compute the facts ``names`` into ``cache`` with their scalar queries joined: each round
    runs every fact up to its first scalar not known yet, then one query computes those
    (most facts need one round, none more than three). A fact that fails, or a joint query that
    fails, is left out: the fact is computed alone when a section asks for it, where its error
    surfaces as it always did."""
    known: dict = {}
    pending = [n for n in dict.fromkeys(names) if n not in cache and FACTS[n].prefetch]
    for _round in range(MAX_ROUNDS):
        if not pending:
            return
        wanted: dict = {}
        token = _BATCH.set({"known": known, "wanted": wanted})
        deferred = []
        try:
            for name in pending:
                try:
                    cache[name] = float(FACTS[name].compute(ts, when, values))
                except _Deferred:
                    deferred.append(name)
                except Exception:  # noqa: BLE001, S112 - computed alone later, where it raises
                    continue
        finally:
            _BATCH.reset(token)
        if not wanted or wanted.keys() <= known.keys():  # nothing to compute, or no progress
            return
        try:
            known.update(_execute_together(wanted))
        except Exception:  # noqa: BLE001 - each fact then runs its own queries (and errors)
            return
        pending = deferred


MAX_ROUNDS = 8
"""Rounds of :func:`_prefetch` (a fact asks for at most three scalars one after the other)."""


def _next_facts(sections: list[Section], ts: TableSet, values: dict, cache: dict[str, float]) -> list[str]:
    """The fact each section's judging (:func:`_judge`) would compute next: its first fact not in
    ``cache``, unless a need before it already skips the section (missing columns, or a fact
    below its threshold without a fallback). Prefetching only these computes the facts the
    sections ask for, and no other."""
    out = []
    for section in sections:
        for need in section.needs:
            if any(not ts.has(*c.split(".", 1)) for c in _need_columns(need)):
                break  # skipped for missing data
            if need.fact is None:
                continue
            if need.fact not in cache:
                if FACTS[need.fact].prefetch:
                    out.append(need.fact)
                break  # known after this round
            if cache[need.fact] < _threshold(need, values) and need.fallback is None:
                break  # skipped for too little data
    return list(dict.fromkeys(out))


class TableSet:
    """The company's tables as Ibis tables, converted once and only when a fact asks.

    ``tables["orders"]`` is an ``ibis.Table`` (pandas frames become memtables; engine tables
    pass through). ``has(table)`` and ``has(table, column)`` say what is present.
    """

    def __init__(self, frames: Mapping[str, Any]):
        self._frames = {k: v for k, v in frames.items() if v is not None}
        self._ibis: dict[str, Any] = {}

    def has(self, table: str, column: str | None = None) -> bool:
        frame = self._frames.get(table)
        if frame is None:
            return False
        if column is None:
            return True
        return column in _columns(frame)

    def __getitem__(self, table: str):
        if table not in self._ibis:
            from crm_research.engine import to_ibis

            self._ibis[table] = to_ibis(self._frames[table])
        return self._ibis[table]


def _columns(frame: Any) -> list[str]:
    return list(frame.columns)


# ---------------------------------------------------------------------------------------
# needs and sections
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Need:
    """One thing a section needs.

    Parameters
    ----------
    what : str
        Plain words for the reason, completing "needs …": ``"order lines (order_items)"``,
        ``"at least {at_least:,} buyers with {cluster_min_orders} or more orders"``. May use
        ``{at_least}`` and any parameter name as format fields.
    columns : tuple of str
        ``"table"`` or ``"table.column"`` that must be present.
    fact : str, optional
        Name of a fact in :data:`FACTS`; its own columns are needed too.
    at_least : float or str
        The fact must be at least this (a number, or the name of a parameter).
    fallback : str, optional
        When the fact falls short but the section can still run in a simpler form: what is
        shown instead, in plain words ("survival for all customers together, not per
        segment"). Missing tables or columns never fall back.
    name : str
        Short identifier a notebook tests with ``verdict.fell_back(name)``.
    absent : str
        What to say instead of "the data has no `…` table" when the tables or columns are
        missing (``"this data is not a synthetic company"``).
    unit : str
        Unit of the measured fact in the reason ("%": "(this data has 9.3 %)").
    """

    what: str
    columns: tuple[str, ...] = ()
    fact: str | None = None
    at_least: float | str = 1
    fallback: str | None = None
    name: str = ""
    absent: str = ""
    unit: str = ""


@dataclass(frozen=True)
class Section:
    """A part of a notebook report and what it needs.

    Attributes
    ----------
    notebook : str
        Notebook stem (``"02_segmentation"``).
    key : str
        Identifier within the notebook (``"cross_sell"``).
    title : str
        Client-facing title (``"Cross-sell and upsell"``).
    needs : tuple of Need
    instead_of : str
        Key of another section of the notebook that this one replaces when the data comes in
        another form (the Markov model from a client's path table instead of from the event
        log). The notebook runs one of the two; the capabilities table shows one line for both.
    """

    notebook: str
    key: str
    title: str
    needs: tuple[Need, ...] = ()
    instead_of: str = ""


@dataclass(frozen=True)
class Verdict:
    """Whether one section can run on this data.

    Attributes
    ----------
    section : Section
    status : {"ok", "fallback", "skip"}
    reason : str
        Empty when ``ok``; otherwise one plain sentence.
    fallbacks : tuple of str
        Names of the needs that fell back.
    measured : dict
        The facts measured for this section (fact name -> value).
    """

    section: Section
    status: str
    reason: str = ""
    fallbacks: tuple[str, ...] = ()
    measured: dict = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.status != "skip"

    def fell_back(self, name: str) -> bool:
        """True when the need called ``name`` fell back."""
        return name in self.fallbacks

    @property
    def note(self) -> str:
        """The sentence shown in the report for a skipped or fallback section ('' when ok)."""
        if self.status == "skip":
            return f"Not available for this data: {self.reason}"
        if self.status == "fallback":
            return f"Shown in a simpler form: {self.reason}"
        return ""


def _threshold(need: Need, params: Mapping[str, Any]) -> float:
    if isinstance(need.at_least, str):
        value = params.get(need.at_least, DEFAULTS.get(need.at_least))
        if value is None:
            raise KeyError(f"threshold parameter {need.at_least!r} has no value and no default")
        return float(value)
    return float(need.at_least)


def _describe_missing(cols: list[str]) -> str:
    tables = [c for c in cols if "." not in c]
    columns = [c for c in cols if "." in c]
    parts = []
    if tables:
        parts.append(", ".join(f"`{t}`" for t in tables) + (" table" if len(tables) == 1 else " tables"))
    if columns:
        parts.append("column" + ("s " if len(columns) > 1 else " ") + ", ".join(f"`{c}`" for c in columns))
    return " and no ".join(parts)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def assess(
    tables: Mapping[str, Any] | TableSet,
    sections: list[Section],
    as_of: Any = None,
    params: Mapping[str, Any] | None = None,
) -> list[Verdict]:
    """Decide, section by section, whether the data meets the declared needs.

    Parameters
    ----------
    tables : mapping of str to DataFrame or ibis.Table, or TableSet
        The company's tables by name; absent tables are missing or ``None``.
    sections : list of Section
    as_of : date-like, optional
        Analysis date (exclusive); facts count data strictly before it.
    params : mapping, optional
        Notebook parameters used by facts and thresholds (others default to :data:`DEFAULTS`).

    Returns
    -------
    list of Verdict
        In the order of ``sections``. A section is ``skip`` at its first unmet need without a
        fallback, ``fallback`` when every unmet need has one, ``ok`` otherwise. Facts are
        computed once each, and only for sections whose tables and columns are present.
    """
    from crm_research.exprs import as_utc_timestamp

    ts = tables if isinstance(tables, TableSet) else TableSet(tables)
    when = None if as_of is None else as_utc_timestamp(as_of)
    values = {**DEFAULTS, **dict(params or {})}
    cache: dict[str, float] = {}
    for _round in range(MAX_ROUNDS):  # the facts the sections ask for, a round of them at a time
        wanted = _next_facts(sections, ts, values, cache)
        before = len(cache)
        _prefetch(wanted, ts, when, values, cache)
        if len(cache) == before:  # none computed together: the rest one by one, below
            break
    verdicts = []
    for section in sections:
        verdicts.append(_judge(section, ts, when, values, cache))
    return verdicts


def _need_columns(need: Need) -> list[str]:
    """The columns ``need`` reads, its fact's included."""
    cols = list(need.columns)
    if need.fact is not None:
        cols += [c for c in FACTS[need.fact].columns if c not in cols]
    return cols


def _judge(section: Section, ts: TableSet, when: pd.Timestamp | None, values: dict,
           cache: dict[str, float]) -> Verdict:
    measured: dict[str, float] = {}
    fallbacks: list[str] = []
    reasons: list[str] = []
    for need in section.needs:
        missing = [c for c in _need_columns(need) if not ts.has(*c.split(".", 1))]
        # a missing table makes its columns missing too: name the table only
        gone = {c for c in missing if "." not in c}
        missing = [c for c in missing if c.split(".", 1)[0] not in gone or "." not in c]
        words = need.what.format(at_least=_fmt(_threshold(need, values)) if need.fact else "",
                                 **values)
        if missing:
            reason = f"needs {words}; {need.absent or 'the data has no ' + _describe_missing(missing)}."
            return Verdict(section, "skip", reason, measured=measured)
        if need.fact is None:
            continue
        if need.fact not in cache:
            cache[need.fact] = float(FACTS[need.fact].compute(ts, when, values))
        value = measured[need.fact] = cache[need.fact]
        if value >= _threshold(need, values):
            continue
        has = f"this data has {_fmt(value)}" + (f" {need.unit}" if need.unit else "")
        if need.fallback is None:
            return Verdict(section, "skip", f"needs {words} ({has}).", measured=measured)
        fallbacks.append(need.name or need.fact)
        reasons.append(f"{need.fallback}, because it needs {words} ({has}).")
    if fallbacks:
        return Verdict(section, "fallback", " ".join(reasons), tuple(fallbacks), measured)
    return Verdict(section, "ok", measured=measured)
