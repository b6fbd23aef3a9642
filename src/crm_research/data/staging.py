"""Tables while the loader works on them: what was read, what it became, where rows came from.

Internal to :mod:`crm_research.data`: :mod:`~crm_research.data.load` reads and checks,
:mod:`~crm_research.data.partial` derives tables and applies ``as_of``; both work on these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

EXAMPLES = 5


@dataclass
class Raw:
    """One table as read, before renaming and conversion."""

    name: str
    frame: pd.DataFrame
    origin: str  # file name or "frame 'orders'"
    csv: bool
    header: bool = True  # a CSV file's first line holds the column names

    def label(self, position: int) -> str:
        """Where row ``position`` (0-based, in the file) is: ``line N`` or ``row N``."""
        if self.csv:
            return f"line {position + (2 if self.header else 1)}"
        return f"row {position}"


@dataclass
class Staged:
    """One table after renaming and conversion, with what is known to be broken in it.

    ``failed`` marks the cells that did not convert (their raw values are in ``originals``);
    ``rows`` gives the file position of each row once rows have been dropped (``as_of``).
    """

    raw: Raw
    frame: pd.DataFrame
    present: list[str]  # model columns the frame has
    failed: dict[str, np.ndarray] = field(default_factory=dict)
    originals: dict[str, pd.Series] = field(default_factory=dict)
    rows: np.ndarray | None = None
    derived: bool = False

    @property
    def name(self) -> str:
        return self.raw.name

    def label(self, position: int) -> str:
        """Where row ``position`` of ``frame`` came from (line or row of the source)."""
        p = int(position) if self.rows is None else int(self.rows[int(position)])
        return self.raw.label(p)

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the rows where ``mask`` is true (file positions are remembered)."""
        self.frame = self.frame.loc[mask].reset_index(drop=True)
        self.failed = {col: bad[mask] for col, bad in self.failed.items()}
        self.originals = {col: s.loc[mask].reset_index(drop=True)
                          for col, s in self.originals.items()}
        rows = np.arange(len(mask)) if self.rows is None else self.rows
        self.rows = rows[mask]


def plural(n: int, word: str) -> str:
    return f"{n:,} {word if n == 1 else word + 's'}"


def show(value: Any) -> str:
    if value is None or value is pd.NA or (not isinstance(value, str) and pd.isna(value)):
        return "<empty>"
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return sample(value)


SAMPLE_CHARS = 60
"""Longest text a message shows of a value or a column name (a message never prints a file)."""


def sample(value: Any, limit: int = SAMPLE_CHARS) -> str:
    """A short, quoted sample of a text for a message: at most ``limit`` characters, escaped
    (``repr``: control and invisible characters show as escapes), and how much was left out."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text) - limit:,} more characters)"


def examples(t: Staged, positions: Any, shown: Callable[[int], str]) -> tuple[str, ...]:
    return tuple(f"{t.label(int(p))}: {shown(int(p))}" for p in list(positions)[:EXAMPLES])


def row_ids(positions: np.ndarray, n_rows: int) -> pd.Series:
    """Identifiers made from 0-based row positions: ``r`` and the zero-padded position.

    The width is that of the largest position of the source (at least 6 digits), so the ids
    of one file are the same on every run and sort in file order.
    """
    width = max(6, len(str(max(n_rows - 1, 0))))
    text = pd.Series(np.asarray(positions, dtype=np.int64)).astype(str).str.zfill(width)
    return ("r" + text).astype("string")
