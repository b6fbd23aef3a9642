"""Small helpers shared by the segmentation modules (input checks, literals)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from crm_research.engine import exact_mean, exact_sum  # noqa: F401 - re-exported for the segment modules
from crm_research.errors import CRMError, ParameterError
from crm_research.summaries import as_utc_timestamp

DAY_SECONDS = 86_400.0


def require_columns(table: ir.Table, table_name: str, columns: Iterable[str | None], hint: str = "") -> None:
    """Raise :class:`CRMError` naming the table and the missing columns."""
    missing = [c for c in columns if c is not None and c not in table.columns]
    if missing:
        have = ", ".join(table.columns)
        raise CRMError(
            f"table {table_name!r} has no column(s) {missing} (it has: {have}); "
            + (hint or "rename the columns or pass the matching *_col argument")
        )


def ts_literal(value: Any) -> ir.Scalar:
    """A UTC timestamp literal for engine expressions (``as_of`` and the like)."""
    if value is None:
        raise ParameterError("as_of is required: pass the analysis date explicitly (e.g. '2026-01-01')")
    ts = as_utc_timestamp(value)
    return ibis.literal(ts.to_pydatetime(), type="timestamp('UTC')")


def days_between(later: ir.Value, earlier: ir.Value) -> ir.FloatingValue:
    """Days (float, whole-second resolution) from ``earlier`` to ``later``."""
    return (later.epoch_seconds() - earlier.epoch_seconds()).cast("float64") / DAY_SECONDS


def completed_orders(orders: ir.Table, as_of, *, date_col: str, status_col: str | None,
                     statuses: tuple[str, ...], since=None) -> ir.Table:
    """Orders that count as purchases: status in ``statuses`` and ``since <= date < as_of``."""
    t = orders
    if status_col is not None and status_col in t.columns:
        t = t.filter(t[status_col].isin(list(statuses)))
    t = t.filter(t[date_col] < ts_literal(as_of))
    if since is not None:
        t = t.filter(t[date_col] >= ts_literal(since))
    return t


def get_table(data: Mapping[str, Any] | Any, name: str, required: bool = True):
    """Pick table ``name`` from a mapping name -> table (or an object with that attribute)."""
    value = None
    try:
        value = data[name]
    except (KeyError, TypeError, IndexError):
        value = getattr(data, name, None)
    if value is None and required:
        raise CRMError(f"the data has no table {name!r}: it is needed here; load it or pass it explicitly")
    return value


def as_of_timestamp(as_of) -> pd.Timestamp:
    if as_of is None:
        raise ParameterError("as_of is required: pass the analysis date explicitly (e.g. '2026-01-01')")
    return as_utc_timestamp(as_of)

