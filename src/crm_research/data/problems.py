"""The words of the data model's check problems, for the pandas checks (:mod:`~crm_research.data.load`)
and the database checks (:mod:`~crm_research.data.engine_checks`) alike.

Each function takes what a check found (table, column, counts, up to five examples already
labelled by their row) and returns the :class:`~crm_research.errors.Problem` a user reads: one
wording, so a folder and a database report the same problem the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from crm_research.data.model import TABLES
from crm_research.data.staging import plural
from crm_research.errors import Problem

__all__ = ["before_company_start", "duplicate_key", "not_allowed", "null_value", "orphan_key",
           "out_of_range", "row_check"]


def null_value(table: str, column: str, n: int, found: Sequence[str]) -> Problem:
    doc = TABLES[table].column(column).doc
    return Problem(table, column, "null_value",
                   f"{plural(n, 'missing value')} in a column that may not be empty", tuple(found),
                   f"fill {column} on every row ({doc}), or leave the column out if it is optional")


def not_allowed(table: str, column: str, n: int, found: Sequence[str]) -> Problem:
    allowed = ", ".join(TABLES[table].column(column).allowed or ())
    return Problem(table, column, "not_allowed",
                   f"{plural(n, 'value')} outside the allowed values {{{allowed}}}", tuple(found),
                   f"recode {column} to one of: {allowed} (e.g. `tables: {{{table}: "
                   f"{{values: {{{column}: {{<client value>: <allowed value>}}}}}}}}` in the "
                   "mapping)")


def out_of_range(table: str, column: str, n: int, stats: dict, found: Sequence[str]) -> Problem:
    """``stats``: the check's ``min_value`` or ``max_value``."""
    declared = TABLES[table].column(column)
    unit = f" {declared.unit}" if declared.unit else ""
    if "min_value" in stats:
        where = f"below the minimum {stats['min_value']:g}{unit}"
    else:
        where = f"above the maximum {stats['max_value']:g}{unit}"
    return Problem(table, column, "out_of_range", f"{plural(n, 'value')} {where}", tuple(found),
                   f"fix or remove the rows; {column}: {declared.doc}")


def before_company_start(table: str, column: str, n: int, start: pd.Timestamp,
                         found: Sequence[str]) -> Problem:
    return Problem(table, column, "before_company_start",
                   f"{plural(n, 'date')} before company_start ({start.isoformat()})", tuple(found),
                   "fix the dates (often a day/month swap or a 1900 placeholder), or set "
                   "company_start earlier")


def row_check(table: str, check: str, stats: dict, n: int, found: Sequence[str]) -> Problem:
    """``date_order`` (``stats``: ``earlier``, ``later``) or ``exceeds_bound`` (``column``,
    ``bound``); the problem names the later timestamp or the bounded column."""
    if check == "date_order":
        a, b = stats["earlier"], stats["later"]
        return Problem(table, b, check, f"{plural(n, 'row')} where {b} is before {a}", tuple(found),
                       f"{b} may not precede {a}: fix the timestamps or their time zones")
    a, b = stats["column"], stats["bound"]
    return Problem(table, a, check, f"{plural(n, 'row')} where {a} is greater than {b}", tuple(found),
                   f"{a} may not exceed {b} on the same row")


def duplicate_key(table: str, key: Sequence[str], n_rows: int, n_keys: int,
                  found: Sequence[str]) -> Problem:
    keyname = ", ".join(key)
    return Problem(table, keyname, "duplicate_key",
                   f"{plural(n_rows, 'row')} share their key ({keyname}) with another row "
                   f"({plural(n_keys, 'distinct key')})", tuple(found),
                   f"each row of {table} needs a distinct {keyname}: remove the duplicates")


def orphan_key(table: str, fk, n: int, distinct: int, found: Sequence[str]) -> Problem:
    """``fk``: the model's foreign key (``column``, ``ref_table``, ``ref_column``)."""
    return Problem(table, fk.column, "orphan_key",
                   f"{plural(n, 'row')} ({plural(distinct, 'distinct value')}) have a "
                   f"{fk.column} that is not in {fk.ref_table}.{fk.ref_column}", tuple(found),
                   f"add the missing {fk.ref_table} rows, or remove the {table} rows that point "
                   "to them (check that both exports cover the same period)")
