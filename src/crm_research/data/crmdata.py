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
    names and dtypes (the columns the data has, in model order, extra columns after them) and
    rows in file order. Only ``orders`` is always there; every other table is ``None`` when
    absent, and optional columns are simply not in the frame (ask with :meth:`has`).

    Attributes
    ----------
    customers, orders, order_items, events, campaigns, ad_spend, tickets, surveys, subscriptions
        One DataFrame per table (see ``docs/data-model.md``).
    source : str
        Where the data came from (folder path, or ``"frames"``).
    derived : dict of str to str
        Tables the loader built from other tables, each with one plain sentence saying how
        and what is unknown (``{"customers": "derived from orders: ..."}``).
    notes : tuple of str
        Plain sentences about what the loader did: tables treated as absent, rows after
        ``as_of`` ignored and timestamps censored (with counts), ids generated, statuses
        assumed, constants set. Derived tables are in ``derived``, not repeated here.
    digest : str or None
        The fingerprint of engine tables (:meth:`fingerprint`); None for DataFrames.
    in_memory : str or None
        Engine tables only: why the data was loaded into memory before it was handed to the
        engine (CSV files, a database, ...); None when the engine reads the files in place.

    Tables may also be engine tables (``ibis.Table``, :attr:`is_lazy`): ``data.load(...,
    con=...)`` gives them, with the same columns, types and rows, in no particular order.
    """

    customers: pd.DataFrame | None = None
    orders: pd.DataFrame | None = None
    order_items: pd.DataFrame | None = None
    events: pd.DataFrame | None = None
    campaigns: pd.DataFrame | None = None
    ad_spend: pd.DataFrame | None = None
    tickets: pd.DataFrame | None = None
    surveys: pd.DataFrame | None = None
    subscriptions: pd.DataFrame | None = None
    source: str = "frames"
    derived: dict[str, str] = dataclasses.field(default_factory=dict)
    notes: tuple[str, ...] = ()
    digest: str | None = None
    in_memory: str | None = None

    @property
    def is_lazy(self) -> bool:
        """True when the tables are engine tables (``ibis.Table``), not DataFrames."""
        return any(not isinstance(t, pd.DataFrame) for t in self.tables().values())

    def tables(self) -> dict[str, pd.DataFrame]:
        """Return the present tables, by name, in model order (absent tables omitted)."""
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
            raise KeyError(f"table {name!r} is absent from {self.source}")
        return frame

    def has(self, table: str, *columns: str) -> bool:
        """Whether ``table`` is present and holds every one of ``columns``.

        >>> crm.has("orders", "amount")          # doctest: +SKIP
        >>> crm.has("events")                    # doctest: +SKIP

        Raises
        ------
        KeyError
            ``table`` is not a table of the data model.
        """
        if table not in TABLES:
            raise KeyError(f"{table!r} is not a table; tables: {', '.join(TABLE_ORDER)}")
        frame = getattr(self, table)
        return frame is not None and all(col in frame.columns for col in columns)

    def __contains__(self, name: object) -> bool:
        """Whether ``name`` is a table present in this data."""
        return isinstance(name, str) and name in TABLES and getattr(self, name) is not None

    def __iter__(self) -> Iterator[str]:
        """Iterate over the names of the present tables, in model order."""
        return iter(self.tables())

    def __repr__(self) -> str:
        if self.is_lazy:
            sizes = ", ".join(self.tables())
            return f"CRMData(source={self.source!r}, engine tables: {sizes})"
        sizes = ", ".join(f"{name}={len(frame)}" for name, frame in self.tables().items())
        derived = f", derived: {', '.join(self.derived)}" if self.derived else ""
        return f"CRMData(source={self.source!r}, rows: {sizes}{derived})"

    def fingerprint(self) -> str:
        """Return a SHA-256 hex digest of the content of every table.

        The digest covers, per table in model order: its name, its column names and dtypes,
        its row count and the 64-bit hash of every row
        (:func:`pandas.util.hash_pandas_object`, fixed key, index ignored). Row hashes are
        sorted, so the digest does not depend on row order; it is the same across runs and
        machines for the same content. The names of derived tables (:attr:`derived`) are part
        of it; ``source`` and ``notes`` are not.

        Engine tables: the digest their loader took (of the files read, the mapping and the
        dates; :func:`crm_research.data.lazy.load_engine`), or of the DataFrames handed to the
        engine.

        Returns
        -------
        str
            64 hexadecimal characters.
        """
        if self.digest is not None:
            return self.digest
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
        if self.derived:  # nothing added without derived tables: digests of full data are unchanged
            digest.update(json.dumps(sorted(self.derived)).encode())
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
            if not pii:
                changes[name] = frame
            else:
                changes[name] = frame.drop(columns=pii) if isinstance(frame, pd.DataFrame) else frame.drop(*pii)
        return dataclasses.replace(self, **changes)
