"""The one table picker the segmentation modules share.

Input checks, time literals and the completed-orders filter live in :mod:`crm_research.exprs`
(one implementation for every topic, issue 18).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crm_research.errors import CRMError


def get_table(data: Mapping[str, Any] | Any, name: str, required: bool = True):
    """Pick table ``name`` from a mapping name -> table (or an object with that attribute).

    Raises
    ------
    CRMError
        ``required`` and the table is absent.
    """
    value = None
    try:
        value = data[name]
    except (KeyError, TypeError, IndexError):
        value = getattr(data, name, None)
    if value is None and required:
        raise CRMError(f"the data has no table {name!r}: it is needed here; load it or pass it explicitly")
    return value
