"""The data model's checks as database queries: only counts and a few examples come back.

:func:`canonical_tables` turns the relations of a source (any Ibis backend: DuckDB and
PostgreSQL are tested) into the canonical tables of the data model as Ibis expressions: the
mapping's renames, constants and value recodes (``events:`` renames included), casts to the
canonical types and the ``as_of`` snapshot of :func:`crm_research.data.partial.apply_as_of`
(rows dated on or after ``as_of`` dropped, rows pointing to dropped parent rows dropped,
censored timestamps set to NULL). :func:`engine_problems` runs every value and row check of
the model on such tables and returns the same :class:`~crm_research.errors.Problem` s as the
pandas checks of :func:`crm_research.data.load` (table, column, check name, count, message
and hint); only the row labels of the examples differ.

Queries, per table: one aggregate (a sum of a CASE per check: ``null_value``,
``not_allowed``, ``out_of_range``, ``before_company_start``, ``date_order``,
``exceeds_bound``, and the row count); ``duplicate_key`` by ``GROUP BY key HAVING count > 1``
(single and composite keys); ``orphan_key`` by an anti-join count per foreign key (not
against a derived table, as the pandas checks). For a failing check only, up to five example
rows (``LIMIT 5``, ordered by the table's key, then its other model columns, so the same data
gives the same examples). A database row has no line number: an example names the row by its
key (``order_id='o123': -5.0``) or, for a table without a key, by its core columns.

What the engine cannot reproduce faithfully falls back to the pandas checks after the fetch;
:func:`canonical_tables` names each such table with its reason:

* ids generated from row positions (``generate_ids``, or ``orders.order_id`` absent);
* orders derived from events (``orders_from_events``: the orders and the events);
* a column whose stored type needs the pandas conversion: text holding dates or numbers
  (and ``date_format`` / ``decimal``), numbers or booleans where a date is expected, a
  floating-point or boolean id, a non-integer type in an ``int`` column, a timestamp
  without time zone when the mapping's time zone is not UTC (the pandas rules for ambiguous
  and skipped local times), a timestamp with time zone in a ``date`` column on a backend
  other than DuckDB and PostgreSQL (its calendar day in the mapping's time zone is taken
  with their ``timezone(zone, value)``);
* a table whose columns the pandas loader reports (a missing required column, two columns
  with one name after the mapping, a rename of a column the relation lacks, a constant for
  a column the relation has), a constant of a date column, a recode of a non-text column;
* with ``as_of``: a table pointing to a table that falls back (which of its rows point to
  rows dated on or after ``as_of`` is decided after the fetch).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from crm_research.data import problems as problem
from crm_research.data.mapping import Mapping
from crm_research.data.model import TABLE_ORDER, TABLES, Column
from crm_research.data.partial import _referenced  # the columns other tables point to
from crm_research.data.schemas import to_utc_instant, utc_day
from crm_research.data.staging import EXAMPLES, plural, show
from crm_research.errors import Problem
from crm_research.exprs import flag

if TYPE_CHECKING:
    import ibis

__all__ = ["EngineQueryError", "canonical_tables", "engine_problems"]


class EngineQueryError(Exception):
    """A query of the engine checks failed in the database (a driver error).

    Attributes
    ----------
    table : str
        The model table whose query failed.
    cause : Exception
        The driver's exception (a source turns it into one line, e.g. a missing privilege or a
        statement timeout).
    """

    def __init__(self, table: str, cause: Exception):
        super().__init__(f"{table}: {cause}")
        self.table = table
        self.cause = cause


def _run(table: str, expr) -> Any:
    try:
        return expr.execute()
    except Exception as exc:  # noqa: BLE001 - any driver error; the source words it
        raise EngineQueryError(table, exc) from exc


# ---------------------------------------------------------------------------------------
# canonical tables
# ---------------------------------------------------------------------------------------


def _cast(col: Column, value, timezone: str) -> tuple[Any, str | None]:
    """The canonical expression of a client column, or None and why the engine cannot."""
    import ibis.expr.datatypes as dt_

    dtype = value.type()
    kind = col.kind
    if kind in ("id", "str"):
        if dtype.is_string():
            return value, None
        if dtype.is_integer():
            return value.cast(dt_.string), None
    elif kind == "float":
        if dtype.is_numeric() and not dtype.is_boolean():
            import ibis

            # a float NaN is no NULL in SQL, but pandas reads it as missing: count it as one
            number = value.cast(dt_.float64)
            return ibis.ifelse(number.isnan(), ibis.null(dt_.float64), number), None
    elif kind == "int":
        if dtype.is_integer():
            return value.cast(dt_.int64), None
    elif kind == "datetime":
        if dtype.is_timestamp() and (dtype.timezone is not None or timezone == "UTC"):
            return value, None
    elif kind == "date":
        if dtype.is_date():
            return value, None
        if dtype.is_timestamp() and dtype.timezone is None:
            return value.date(), None
        if dtype.is_timestamp() and _backend(value) in _LOCAL_TIME_BACKENDS:
            return _local_time(timezone, value).date(), None
    return None, f"{col.name} is stored as {dtype}, which needs the pandas conversion"


#: Backends whose SQL has ``timezone(zone, timestamptz)``: the local wall-clock time, naive.
_LOCAL_TIME_BACKENDS = ("duckdb", "postgres")


def _backend(value) -> str | None:
    try:
        return value._find_backend().name
    except Exception:  # noqa: BLE001 - an unbound table: no backend to ask
        return None


def _local_time(zone: str, value):
    """``timezone(zone, value)``: the wall-clock time of the instant ``value`` in ``zone``
    (PostgreSQL's ``AT TIME ZONE``, DuckDB's ICU function), a timestamp without time zone."""
    import ibis
    import ibis.expr.datatypes as dt_

    def local(zone, value):  # the database's own function: no Python body
        ...

    # real types, not the strings `from __future__ import annotations` would make of them
    local.__annotations__ = {"zone": str, "value": dt_.Timestamp(timezone="UTC"),
                             "return": dt_.Timestamp(timezone=None)}
    return ibis.udf.scalar.builtin(name="timezone")(local)(zone, value)


def _constant(col: Column, value: Any) -> tuple[Any, str | None]:
    import ibis

    if col.kind in ("id", "str") and isinstance(value, str):
        return ibis.literal(value, type="string"), None
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if col.kind == "float" and numeric:
        return ibis.literal(float(value), type="float64"), None
    if col.kind == "int" and numeric and float(value).is_integer():
        return ibis.literal(int(value), type="int64"), None
    return None, f"the constant {value!r} of {col.name} needs the pandas conversion"


def _canonical(name: str, expr, mapping: Mapping) -> tuple[Any, str | None]:
    """The canonical Ibis table of one relation (client columns only), or None and why not."""
    table = TABLES[name]
    tm = mapping.table(name)
    if mapping.orders_from_events is not None and name in ("orders", "events"):
        return None, "the orders are derived from the events (orders_from_events)"
    if expr is None:
        return None, "the relation has no column of the model"
    if tm.generate_ids:
        return None, "ids generated from the row positions (generate_ids)"
    client = list(expr.columns)
    renamed = [tm.columns.get(c, c) for c in client]
    if len(set(renamed)) < len(renamed):
        return None, "several columns share a name after the mapping"
    if any(c not in client for c in tm.columns):
        return None, "the mapping renames a column the relation lacks"
    if any(c in renamed for c in tm.constants):
        return None, "a mapping constant names a column the relation has"
    have = set(renamed) | set(tm.constants) | ({"status"} if name == "orders" else set())
    if any(c not in have for c in table.core):
        return None, "a required column is missing"
    if any(c.generable and c.name not in have for c in table.columns):
        return None, "ids generated from the row positions"
    source = dict(zip(renamed, client, strict=True))
    recodes = dict(tm.values)
    if name == "events" and mapping.events:
        recodes["event"] = {**mapping.events, **recodes.get("event", {})}
    out: dict[str, Any] = {}
    aware: set[bool] = set()
    for col in table.columns:
        if col.name in source:
            value, why = _cast(col, expr[source[col.name]], mapping.timezone)
            if col.kind == "datetime" and value is not None:
                aware.add(value.type().timezone is not None)
        elif col.name in tm.constants:
            value, why = _constant(col, tm.constants[col.name])
        elif name == "orders" and col.name == "status":
            value, why = _constant(col, "completed")
        else:
            continue
        if why is not None:
            return None, why
        recode = recodes.get(col.name)
        if recode:
            if col.kind not in ("id", "str") or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in recode.items()):
                return None, f"the recode of {col.name} needs the pandas conversion"
            value = value.substitute(recode)
        out[col.name] = value.name(col.name)
    if len(aware) > 1:
        return None, "timestamps with and without a time zone in one table"
    return expr.select(**out), None


def _literal(dtype, instant: pd.Timestamp, timezone: str):
    """``instant`` (UTC) as a literal comparable with a column of type ``dtype``: its calendar
    day in ``timezone`` for a date, else the instant (naive UTC for a naive timestamp)."""
    import ibis
    import ibis.expr.datatypes as dt_

    if dtype.is_date():
        return ibis.literal(utc_day(instant, timezone).date(), type=dt_.date)
    utc = instant.tz_convert("UTC")
    if dtype.timezone is not None:
        return ibis.literal(utc.to_pydatetime(), type=dt_.Timestamp(timezone=dtype.timezone))
    return ibis.literal(utc.tz_localize(None).to_pydatetime(), type=dt_.Timestamp())


def _apply_as_of(tables: dict[str, Any], as_of: pd.Timestamp, timezone: str,
                 steps: list | None = None) -> dict[str, Any]:
    """The rows kept at ``as_of``, as :func:`crm_research.data.partial.apply_as_of` keeps them.

    ``steps``, when given, receives one ``(table, what, column, before, after)`` per step whose
    dropped or censored rows :func:`crm_research.data.partial.apply_as_of` counts in a note:
    ``what`` is ``"own"`` (rows dated on or after ``as_of``; ``column`` the time column),
    ``"points"`` (rows pointing through ``column`` to a dropped row) or ``"censored"``
    (``after`` holds the rows whose ``column`` is set to NULL)."""
    import ibis

    referenced = _referenced()
    gone: dict[tuple[str, str], Any] = {}
    kept_tables: dict[str, Any] = {}
    for name in TABLE_ORDER:
        t = tables.get(name)
        if t is None:
            continue
        table = TABLES[name]
        kept = t
        if table.time is not None and table.time in t.columns:
            at = t[table.time]
            kept = t.filter(at.isnull() | (at < _literal(at.type(), as_of, timezone)))
            if steps is not None:
                steps.append((name, "own", table.time, t, kept))
        for fk in table.foreign_keys:
            lost = gone.get((fk.ref_table, fk.ref_column))
            if lost is None or fk.column not in kept.columns:
                continue
            before = kept
            kept = kept.anti_join(lost, kept[fk.column] == lost["gone_value"])
            if steps is not None:
                steps.append((name, "points", fk.column, before, kept))
        for col in referenced.get(name, []):
            if col in t.columns:
                every = t.select(gone_value=t[col]).filter(lambda s: s.gone_value.notnull()).distinct()
                still = kept.select(kept_value=kept[col])
                gone[(name, col)] = every.anti_join(still, every.gone_value == still.kept_value)
        censored = {}
        for col in table.censored:
            if col in kept.columns:
                value = kept[col]
                late = value >= _literal(value.type(), as_of, timezone)
                censored[col] = ibis.ifelse(late.fill_null(False), ibis.null(value.type()), value)
                if steps is not None:
                    steps.append((name, "censored", col, kept, kept.filter(late.fill_null(False))))
        if censored:
            kept = kept.mutate(**censored)
        kept_tables[name] = kept
    return kept_tables


def canonical_tables(
    relations: dict[str, ibis.Table | None],
    mapping: Mapping,
    *,
    as_of: Any = None,
    steps: list | None = None,
) -> tuple[dict[str, ibis.Table], dict[str, str], set[str]]:
    """Build the canonical tables of the data model in the engine.

    Parameters
    ----------
    relations : dict of str to ibis.Table or None
        Per model table present in the source, its relation restricted to the client columns
        the mapping and the model use (None: it has none of them). Any Ibis backend.
    mapping : Mapping
        The client mapping (renames, constants, recodes, event renames, time zone).
    as_of : str, datetime or pandas.Timestamp, optional
        The snapshot instant (naive: local time in the mapping's time zone), exclusive.
    steps : list, optional
        Receives the steps of the ``as_of`` snapshot whose rows the loader's notes count
        (see :func:`_apply_as_of`).

    Returns
    -------
    tables : dict of str to ibis.Table
        The canonical tables the engine can build, in model order, with model column names
        and canonical types (ids and text as string, ``datetime`` as timestamps, ``date``
        columns as dates, ``float64``, ``int64``), holding only the rows the load keeps at
        ``as_of``. A customers table derived from the orders (no customers relation, with
        ``as_of``: it decides which later contacts' rows are dropped) is included.
    fallback : dict of str to str
        The tables whose checks must run in pandas after the fetch, with the reason.
    derived : set of str
        Tables in ``tables`` that the loader derives (not checked, no list of reference).
    """
    bound = None if as_of is None else to_utc_instant(as_of, mapping.timezone)
    built: dict[str, Any] = {}
    fallback: dict[str, str] = {}
    derived: set[str] = set()
    for name in TABLE_ORDER:
        if name not in relations:
            continue
        canon, why = _canonical(name, relations[name], mapping)
        if why is not None:
            fallback[name] = why
        else:
            built[name] = canon
    if bound is not None:
        empty_customers = ("customers" in built
                           and int(_run("customers", built["customers"].count())) == 0)
        if empty_customers:
            del built["customers"]  # an empty table is absent: the customers are derived
        if "customers" not in built and "customers" not in fallback:
            orders = built.get("orders")
            if orders is not None and {"customer_id", "ordered_at"} <= set(orders.columns):
                known = orders.filter(orders.customer_id.notnull() & orders.ordered_at.notnull())
                built["customers"] = known.group_by("customer_id").aggregate(
                    signup_at=known.ordered_at.min())
                derived.add("customers")
            elif "orders" in fallback:
                fallback["customers"] = "derived from the orders, which fall back"
        for name in TABLE_ORDER:  # which rows point to dropped rows is known after the fetch
            parents = [fk.ref_table for fk in TABLES[name].foreign_keys if fk.ref_table in fallback]
            if name in built and parents:
                del built[name]
                fallback[name] = (f"it points to {parents[0]}, which falls back (rows pointing to "
                                  "rows dated on or after as_of)")
        built = _apply_as_of(built, bound, mapping.timezone, steps)
    if "customers" in derived and "customers" not in built:
        derived.discard("customers")
    return {n: built[n] for n in TABLE_ORDER if n in built}, fallback, derived


# ---------------------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------------------


def _value(col: Column | None, value: Any) -> Any:
    """A fetched value as the pandas loader holds it (UTC timestamps, whole ints)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if isinstance(value, dt.datetime):
        ts = pd.Timestamp(value)
        return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if isinstance(value, dt.date):
        return pd.Timestamp(value).tz_localize("UTC")
    if col is not None and col.kind == "int" and isinstance(value, (float, np.floating)) \
            and float(value).is_integer():
        return int(value)
    return value


class _Checked:
    """One table's checks: its declaration, columns, label and ordering columns."""

    def __init__(self, name: str, expr):
        self.name = name
        self.expr = expr
        self.table = TABLES[name]
        self.columns = [c for c in self.table.column_names if c in expr.columns]
        key = [c for c in self.table.key if c in self.columns]
        if self.table.key and len(key) == len(self.table.key):
            self.label_columns = key
        else:
            self.label_columns = [c for c in self.table.core if c in self.columns]
        self.order = self.label_columns + [c for c in self.columns if c not in self.label_columns]

    def label(self, row: dict) -> str:
        return ", ".join(f"{c}={show(_value(self.table.column(c), row[c]))}"
                         for c in self.label_columns)

    def rows(self, predicate, columns: Iterable[str]) -> list[dict]:
        """Up to five failing rows, ordered by the label and model columns."""
        wanted = list(dict.fromkeys([*self.label_columns, *columns]))
        query = (self.expr.filter(predicate).order_by(self.order).select(*wanted)
                 .limit(EXAMPLES))
        return _run(self.name, query).to_dict("records")

    def value_examples(self, predicate, col: str, shown=None) -> tuple[str, ...]:
        declared = self.table.column(col)
        return tuple(f"{self.label(r)}: {shown or show(_value(declared, r[col]))}"
                     for r in self.rows(predicate, [col]))


def _count(predicate):
    """The number of rows where ``predicate`` holds (NULL counts as false), as SQL sums it
    (``SUM(CASE WHEN ... THEN 1 ELSE 0 END)``: PostgreSQL casts no boolean to a number)."""
    return flag(predicate).sum()


def _column_checks(c: _Checked, start: pd.Timestamp | None, timezone: str) -> list[tuple]:
    """(column, check, predicate, statistics) of every value and row check, in check order."""
    checks: list[tuple] = []
    t = c.expr
    for name in c.columns:
        col = c.table.column(name)
        value = t[name]
        if not col.nullable:
            checks.append((name, "null_value", value.isnull(), {}))
        if col.allowed is not None:
            checks.append((name, "not_allowed", value.notnull() & ~value.isin(list(col.allowed)),
                           {}))
        if col.min_value is not None:
            checks.append((name, "out_of_range", value < col.min_value,
                           {"min_value": col.min_value}))
        if col.max_value is not None:
            checks.append((name, "out_of_range", value > col.max_value,
                           {"max_value": col.max_value}))
        if col.kind in ("datetime", "date") and start is not None:
            checks.append((name, "before_company_start",
                           value < _literal(value.type(), start, timezone), {}))
    for a, b in c.table.order_checks:
        if a in c.columns and b in c.columns:
            checks.append((b, "date_order", t[b] < t[a], {"earlier": a, "later": b}))
    for a, b in c.table.bound_checks:
        if a in c.columns and b in c.columns:
            checks.append((a, "exceeds_bound", t[a] > t[b], {"column": a, "bound": b}))
    return checks


def _check_problem(c: _Checked, column: str, check: str, predicate, stats: dict, n: int,
                   start: pd.Timestamp | None) -> Problem:
    """The problem of a failing value or row check, worded as the pandas loader words it."""
    name = c.name
    if check == "null_value":
        return problem.null_value(name, column, n, c.value_examples(predicate, column, shown="<empty>"))
    if check == "not_allowed":
        return problem.not_allowed(name, column, n, c.value_examples(predicate, column))
    if check == "out_of_range":
        return problem.out_of_range(name, column, n, stats, c.value_examples(predicate, column))
    if check == "before_company_start":
        return problem.before_company_start(name, column, n, start,
                                             c.value_examples(predicate, column))
    a, b = (stats["earlier"], stats["later"]) if check == "date_order" else (stats["column"], stats["bound"])
    found = [f"{c.label(r)}: {a}={show(_value(c.table.column(a), r[a]))}, "
             f"{b}={show(_value(c.table.column(b), r[b]))}"
             for r in c.rows(predicate, [a, b])]
    return problem.row_check(name, check, stats, n, found)


def _duplicate_groups(c: _Checked):
    t = c.expr
    return t.group_by(list(c.table.key)).aggregate(duplicate_rows=t.count()).filter(
        lambda g: g.duplicate_rows > 1)


def _duplicate_summary(c: _Checked):
    """One row: the rows and the keys of ``c`` that are duplicated."""
    groups = _duplicate_groups(c)
    return groups.aggregate(rows=groups.duplicate_rows.sum(), keys=groups.count())


def _duplicate_problem(c: _Checked, summary: dict | None = None) -> Problem | None:
    import ibis

    key = list(c.table.key)
    if summary is None:
        summary = _one_row(c.name, _duplicate_summary(c))
    keys = int(summary["keys"] or 0)
    if keys == 0:
        return None
    rows = int(summary["rows"])
    first = _run(c.name, _duplicate_groups(c).order_by([*key, ibis.desc("duplicate_rows")]).limit(EXAMPLES))
    found = []
    for r in first.to_dict("records"):
        shown = ", ".join(f"{k}={show(_value(c.table.column(k), r[k]))}" for k in key)
        found.append(f"{plural(int(r['duplicate_rows']), 'row')}: {shown}")
    return problem.duplicate_key(c.name, key, rows, keys, found)


def _place(c: _Checked, problem: Problem) -> tuple[int, int]:
    """Where the pandas checks list a problem of a table: by column in model order (a missing
    value, then a duplicate single key, then value checks), then a composite key and the row
    checks."""
    if problem.check in ("date_order", "exceeds_bound"):
        return len(c.columns), 1
    if problem.column not in c.columns:  # a composite key
        return len(c.columns), 0
    return c.columns.index(problem.column), {"null_value": 0, "duplicate_key": 1}.get(
        problem.check, 2)


def _orphan_parts(checked: dict[str, _Checked], derived: set[str]) -> list[tuple]:
    """(child, foreign key, its orphan rows, one row: how many and how many distinct values) of
    every foreign key whose tables are checked, as the pandas check takes them: a derived table
    is no list of reference."""
    out = []
    for name in TABLE_ORDER:
        child = checked.get(name)
        if child is None:
            continue
        for fk in TABLES[name].foreign_keys:
            parent = checked.get(fk.ref_table)
            if (fk.column not in child.columns or parent is None or fk.ref_table in derived
                    or fk.ref_column not in parent.columns):
                continue
            t = child.expr
            known = parent.expr.select(known_value=parent.expr[fk.ref_column]).filter(
                lambda s: s.known_value.notnull()).distinct()
            orphans = t.filter(t[fk.column].notnull()).anti_join(
                known, t[fk.column] == known.known_value)
            out.append((child, fk, orphans, orphans.aggregate(rows=orphans.count(),
                                                              values=orphans[fk.column].nunique())))
    return out


def _orphan_problems(parts: list[tuple], summaries: list[dict], counts: dict[str, int]) -> list[Problem]:
    out = []
    for (child, fk, orphans, _), summary in zip(parts, summaries, strict=True):
        if counts.get(fk.ref_table, 0) == 0:
            continue  # as the pandas check: an empty table is no list of reference
        n = int(summary["rows"] or 0)
        if n == 0:
            continue
        distinct = int(summary["values"])
        first = _run(child.name, orphans.order_by(child.order).limit(EXAMPLES))
        declared = child.table.column(fk.column)
        found = tuple(f"{child.label(r)}: {fk.column}={show(_value(declared, r[fk.column]))}"
                      for r in first.to_dict("records"))
        out.append(problem.orphan_key(child.name, fk, n, distinct, found))
    return out


def _one_row(table: str, expr) -> dict:
    from crm_research.engine import collect_rows

    return collect_rows([expr], lambda e: _run(table, e))[0]


def _summaries(parts: list[tuple[str, Any]]) -> list[dict]:
    """Run one-row aggregates ``(table name, expression)`` as one query
    (:func:`crm_research.engine.collect_rows`); part by part when that query fails, so that the
    error names the table whose query fails."""
    from crm_research.engine import collect_rows

    try:
        return collect_rows([expr for _, expr in parts], lambda e: _run(parts[0][0], e))
    except EngineQueryError:
        if len(parts) == 1:
            raise
        return [_one_row(*part) for part in parts]


def engine_problems(
    tables: dict[str, ibis.Table],
    *,
    company_start: Any = None,
    timezone: str = "UTC",
    derived: Iterable[str] = (),
    counts: dict[str, int] | None = None,
) -> list[Problem]:
    """Run the data model's value, row, key and foreign-key checks in the database.

    Parameters
    ----------
    tables : dict of str to ibis.Table
        Canonical tables (model column names and types, e.g. from :func:`canonical_tables`)
        holding only the rows the load keeps; any Ibis backend. Tables may lack optional
        columns; a check needs all of its columns.
    company_start : str, datetime or pandas.Timestamp, optional
        No date may be earlier (naive: local time in ``timezone``; a ``date`` column: its
        calendar day). Default: no ``before_company_start`` check.
    timezone : str
        IANA time zone of a naive ``company_start`` and of calendar days.
    derived : iterable of str
        Tables the loader derived: not checked, and no list of reference for foreign keys.
    counts : dict, optional
        Filled with the number of rows of each checked table, derived ones aside (a
        by-product of its aggregate).

    Returns
    -------
    list of Problem
        ``null_value``, ``not_allowed``, ``out_of_range``, ``before_company_start``,
        ``date_order``, ``exceeds_bound``, ``duplicate_key`` and ``orphan_key`` problems in
        model table order, worded as :func:`crm_research.data.load` words them; examples
        name a row by its key (or its core columns), at most five per problem.

    Raises
    ------
    EngineQueryError
        A query failed in the database (names the table).

    Examples
    --------
    >>> import ibis, pandas as pd
    >>> con = ibis.duckdb.connect()
    >>> orders = con.create_table("orders", pd.DataFrame({
    ...     "order_id": ["o1", "o2"], "customer_id": ["c1", "c1"],
    ...     "ordered_at": pd.to_datetime(["2025-01-01", "2025-01-02"], utc=True),
    ...     "amount": [10.0, -5.0]}))
    >>> [(p.check, p.message, p.examples) for p in engine_problems({"orders": orders})]
    [('out_of_range', '1 value below the minimum 0 currency', ("order_id='o2': -5.0",))]
    """
    start = None if company_start is None else to_utc_instant(company_start, timezone)
    derived = set(derived)
    counts = {} if counts is None else counts
    problems: list[Problem] = []
    checked: dict[str, _Checked] = {}
    plans = []  # (table, its checks, one key column or None, its composite key's duplicates or None)
    parts: list[tuple[str, Any]] = []  # every table's one-row summary: run as one query below
    for name in TABLE_ORDER:
        if name not in tables:
            continue
        c = checked[name] = _Checked(name, tables[name])
        if name in derived:
            continue
        checks = _column_checks(c, start, timezone)
        measures = {f"check_{i}": _count(p) for i, (_, _, p, _) in enumerate(checks)}
        key = c.table.key
        single = len(key) == 1 and key[0] in c.columns
        if single:  # a duplicate key shows in the same query: fewer distinct keys than rows
            measures["key_values"] = c.expr[key[0]].nunique()
            measures["key_nulls"] = _count(c.expr[key[0]].isnull())
        parts.append((name, c.expr.aggregate(rows=c.expr.count(), **measures)))
        composite = bool(key) and not single and all(k in c.columns for k in key)
        if composite:
            parts.append((name, _duplicate_summary(c)))
        plans.append((c, checks, single, composite))
    orphans = _orphan_parts(checked, derived)
    summaries = _summaries(parts + [(child.name, summary) for child, _, _, summary in orphans])
    at = 0
    for c, checks, single, composite in plans:
        summary = summaries[at]
        duplicates = summaries[at + 1] if composite else None
        at += 1 + composite
        name = c.name
        counts[name] = int(summary["rows"] or 0)
        found: list[Problem] = []
        for i, (column, check, predicate, stats) in enumerate(checks):
            value = summary[f"check_{i}"]
            n = 0 if value is None or pd.isna(value) else int(value)
            if n:
                found.append(_check_problem(c, column, check, predicate.fill_null(False), stats,
                                            n, start))
        if single:
            distinct = int(summary["key_values"] or 0) + min(int(summary["key_nulls"] or 0), 1)
            if distinct < counts[name]:
                duplicate = _duplicate_problem(c)
                if duplicate is not None:
                    found.append(duplicate)
        elif composite and counts[name] > 1:
            duplicate = _duplicate_problem(c, duplicates)
            if duplicate is not None:
                found.append(duplicate)
        problems += sorted(found, key=lambda p: _place(c, p))
    problems += _orphan_problems(orphans, summaries[at:], counts)
    problems.sort(key=lambda p: TABLE_ORDER.index(p.table))
    return problems
