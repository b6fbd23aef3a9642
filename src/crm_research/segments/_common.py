"""The one table picker the segmentation modules use: :func:`crm_research.kpi.prepare.get_table`, required.

Input checks, time literals and the completed-orders filter live in :mod:`crm_research.exprs`
(one implementation for every topic, issue 18).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crm_research.errors import CRMError
from crm_research.kpi.prepare import get_table as _pick


def get_table(data: Mapping[str, Any] | Any, name: str, required: bool = True):
    """Table ``name`` of ``data`` (a mapping name -> table, or an object with table attributes).

    Raises
    ------
    CRMError
        ``required`` and the table is absent; ``data`` is a single DataFrame.

    Examples
    --------
    >>> get_table({"orders": pd.DataFrame({"customer_id": [1]})}, "orders").shape
    (1, 1)
    >>> get_table({}, "events", required=False) is None
    True
    """
    value = _pick(data, name)
    if value is None and required:
        raise CRMError(f"the data has no table {name!r}: it is needed here; load it or pass it explicitly")
    return value
