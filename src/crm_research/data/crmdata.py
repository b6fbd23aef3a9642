"""``CRMData``: the validated tables of one company, one attribute per table."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator

import numpy as np
import pandas as pd

from crm_research.data.model import TABLE_ORDER, TABLES

__all__ = ["CRMData"]


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class CRMData:
    """The tables of one company, validated against the data model.

    Built by :func:`crm_research.data.load`. Each table is a DataFrame with canonical column
    names and dtypes (required and present optional columns in model order, extra columns
    after them) and rows in file order. Optional tables (``order_items``, ``subscriptions``)
    are ``None`` when absent.

    Attributes
    ----------
    customers, orders, order_items, events, campaigns, ad_spend, tickets, surveys, subscriptions
        One DataFrame per table (see ``docs/data-model.md``).
    source : str
        Where the data came from (folder path, or ``"frames"``).
    """

    customers: pd.DataFrame
    orders: pd.DataFrame
    order_items: pd.DataFrame | None = None
    events: pd.DataFrame
    campaigns: pd.DataFrame
    ad_spend: pd.DataFrame
    tickets: pd.DataFrame
    surveys: pd.DataFrame
    subscriptions: pd.DataFrame | None = None
    source: str = "frames"

    def tables(self) -> dict[str, pd.DataFrame]:
        """Return the present tables, by name, in model order (absent optional tables omitted)."""
        out = {}
        for name in TABLE_ORDER:
            frame = getattr(self, name)
            if frame is not None:
                out[name] = frame
        return out

    def __getitem__(self, name: str) -> pd.DataFrame:
        """Return table ``name``; ``KeyError`` if it is not a table or is absent."""
        if name not in TABLES:
            raise KeyError(f"{name!r} is not a table; tables: {', '.join(TABLE_ORDER)}")
        frame = getattr(self, name)
        if frame is None:
            raise KeyError(f"optional table {name!r} is absent from {self.source}")
        return frame

    def __contains__(self, name: object) -> bool:
        """Whether ``name`` is a table present in this data."""
        return isinstance(name, str) and name in TABLES and getattr(self, name) is not None

    def __iter__(self) -> Iterator[str]:
        """Iterate over the names of the present tables, in model order."""
        return iter(self.tables())

    def __repr__(self) -> str:
        sizes = ", ".join(f"{name}={len(frame)}" for name, frame in self.tables().items())
        return f"CRMData(source={self.source!r}, rows: {sizes})"

    def fingerprint(self) -> str:
        """Return a SHA-256 hex digest of the content of every table.

        The digest covers, per table in model order: its name, its column names and dtypes,
        its row count and the 64-bit hash of every row
        (:func:`pandas.util.hash_pandas_object`, fixed key, index ignored). Row hashes are
        sorted, so the digest does not depend on row order; it is the same across runs and
        machines for the same content. ``source`` is not part of it.

        Returns
        -------
        str
            64 hexadecimal characters.
        """
        digest = hashlib.sha256()
        for name in TABLE_ORDER:
            frame = getattr(self, name)
            digest.update(f"table:{name}\n".encode())
            if frame is None:
                digest.update(b"absent\n")
                continue
            header = [[str(col), str(frame[col].dtype)] for col in frame.columns]
            digest.update(json.dumps(header).encode())
            digest.update(np.int64(len(frame)).astype("<i8").tobytes())
            rows = pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)
            digest.update(np.sort(rows).astype("<u8").tobytes())
        return digest.hexdigest()

    def without_pii(self) -> CRMData:
        """Return a copy without the personally identifying columns (``pii`` in the model).

        Returns
        -------
        CRMData
            Same tables and source; the PII columns (``customers.name``, ``email``,
            ``phone``) are dropped where present. Tables without PII columns are the same
            DataFrame objects, not copies.
        """
        changes = {}
        for name, frame in self.tables().items():
            pii = [col for col in TABLES[name].pii_columns if col in frame.columns]
            changes[name] = frame.drop(columns=pii) if pii else frame
        return dataclasses.replace(self, **changes)
