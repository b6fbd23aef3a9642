"""Keep people out of client-facing output: keyed pseudonyms and PII column removal.

Client-facing output (HTML reports, ``tables/*.csv``) never shows names, e-mail addresses or
phone numbers, and shows person-linked identifiers (customer, order, ticket, session ids) only
as pseudonyms.

Pseudonyms are keyed hashes (HMAC-SHA256, truncated hex, with a prefix such as ``c_``): the
same id and key always give the same pseudonym, and without the key nobody can map a
pseudonym back by hashing candidate ids. The key comes from, in order:

1. the ``key`` argument;
2. the environment variable ``CRM_RESEARCH_PSEUDO_KEY``;
3. the project's own random key, created once in ``<project root>/.crm-research/pseudo_key``
   (git-ignored, owner-readable only) and copied into each run folder's ``private/``
   subfolder (never into ``tables/``) so the consultant can hand it to the client.

With the project key, reruns on the same checkout give identical pseudonyms, so tables stay
byte-identical and two runs join in ``compare``. A reviewer on another machine reproduces
id-bearing tables by setting ``CRM_RESEARCH_PSEUDO_KEY`` to the same key; ``key_id`` (recorded
in each run's manifest) tells whether two runs used the same key without revealing it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from crm_research.data.model import TABLES
from crm_research.errors import CRMError

__all__ = [
    "ENV_KEY",
    "ID_PREFIXES",
    "PIIError",
    "pseudonymise",
    "drop_pii",
    "run_key",
    "project_key",
    "key_id",
    "resolve_key",
    "pii_column_names",
    "check_no_pii",
    "find_emails",
]

ENV_KEY = "CRM_RESEARCH_PSEUDO_KEY"
"""Environment variable holding the pseudonymisation key."""

ID_PREFIXES: dict[str, str] = {
    "customer_id": "c_",
    "order_id": "o_",
    "ticket_id": "t_",
    "session_id": "s_",
}
"""Person-linked identifier columns and the prefix of their pseudonyms."""

_KEY_FILE = Path("private") / "pseudo_key"
_PROJECT_KEY_FILE = Path(".crm-research") / "pseudo_key"
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


class PIIError(CRMError):
    """Client-facing output would show personal data."""


def _key_bytes(key: str | bytes) -> bytes:
    if isinstance(key, bytes):
        data = key
    else:
        data = str(key).encode("utf-8")
    if not data:
        raise ValueError("the pseudonymisation key is empty: pass a non-empty key")
    return data


def _read_or_create(path: Path, make) -> str:
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    # exclusive create: if two processes race, the first key wins and both read it back
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")
    return value


def project_key(root: str | os.PathLike | None = None) -> str:
    """Return the project's random pseudonymisation key, creating it on first use.

    Parameters
    ----------
    root : path-like, optional
        Project root (default: :func:`crm_research.paths.project_root`).

    Returns
    -------
    str
        64 hex characters, kept in ``<root>/.crm-research/pseudo_key``.
    """
    from crm_research.paths import project_root

    return _read_or_create(Path(root or project_root()) / _PROJECT_KEY_FILE, lambda: secrets.token_hex(32))


def run_key(run_dir: str | os.PathLike) -> str:
    """Return the key of ``run_dir``: the project key, copied into ``<run_dir>/private/pseudo_key``.

    The copy lets the client who receives the run join pseudonymised lists back to their ids;
    it is never in ``tables/``. Every notebook of a run shares it.

    Parameters
    ----------
    run_dir : path-like
        The run folder.

    Returns
    -------
    str
        64 hex characters.
    """
    return _read_or_create(Path(run_dir) / _KEY_FILE, project_key)


def key_id(key: str | bytes) -> str:
    """A short public identifier of a key (12 hex of SHA-256 of a domain-separated key).

    Equal ids mean equal keys; the id does not reveal the key.
    """
    return hashlib.sha256(b"crm-research key id:" + _key_bytes(key)).hexdigest()[:12]


def resolve_key(key: str | bytes | None = None, run_dir: str | os.PathLike | None = None) -> str | bytes:
    """Pick the pseudonymisation key: ``key``, else ``$CRM_RESEARCH_PSEUDO_KEY``, else the run key.

    Parameters
    ----------
    key : str or bytes, optional
        Explicit key.
    run_dir : path-like, optional
        Run folder whose private random key is used when no other key is set.

    Returns
    -------
    str or bytes

    Raises
    ------
    ValueError
        No key given, the variable is unset and there is no run folder.
    """
    if key is not None:
        return key
    env = os.environ.get(ENV_KEY)
    if env:
        return env
    if run_dir is not None:
        return run_key(run_dir)
    raise ValueError(
        f"no pseudonymisation key: pass key=..., set ${ENV_KEY}, or give the run folder"
    )


def _hash_series(values: pd.Series, key: bytes, prefix: str, length: int) -> pd.Series:
    cache: dict[str, str] = {}

    def one(v) -> str:
        text = str(v)
        out = cache.get(text)
        if out is None:
            digest = hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()
            out = cache[text] = prefix + digest[:length]
        return out

    out = [one(v) if not pd.isna(v) else pd.NA for v in values]
    return pd.Series(out, index=values.index, dtype="string", name=values.name)


def pseudonymise(
    data: pd.Series | pd.DataFrame,
    key: str | bytes | None = None,
    columns: Iterable[str] | None = None,
    *,
    prefix: str | None = None,
    length: int = 16,
    run_dir: str | os.PathLike | None = None,
) -> pd.Series | pd.DataFrame:
    """Replace identifiers by keyed pseudonyms (HMAC-SHA256, truncated hex, with a prefix).

    Parameters
    ----------
    data : Series or DataFrame
        Identifiers (a Series) or a table holding identifier columns.
    key : str or bytes, optional
        Secret key. Default: ``$CRM_RESEARCH_PSEUDO_KEY``, else the random key of ``run_dir``.
    columns : iterable of str, optional
        DataFrame columns to replace. Default: every column of ``data`` named in
        :data:`ID_PREFIXES` (``customer_id``, ``order_id``, ``ticket_id``, ``session_id``).
        Ignored for a Series.
    prefix : str, optional
        Pseudonym prefix. Default: from :data:`ID_PREFIXES` by column (or Series) name,
        ``"id_"`` for other names.
    length : int
        Hex characters kept from the digest (16 = 64 bits: collisions are negligible below
        billions of ids).
    run_dir : path-like, optional
        Run folder whose private random key is used when neither ``key`` nor the environment
        variable is set.

    Returns
    -------
    Series or DataFrame
        A copy; missing values stay missing. Pseudonyms are ``string`` dtype.

    Raises
    ------
    KeyError
        A requested column is not in the table.
    ValueError
        No key can be found, or ``length`` is outside 8..64.
    """
    if not 8 <= length <= 64:
        raise ValueError(f"length must be between 8 and 64 hex characters, got {length}")
    k = _key_bytes(resolve_key(key, run_dir))
    if isinstance(data, pd.Series):
        p = prefix if prefix is not None else ID_PREFIXES.get(str(data.name), "id_")
        return _hash_series(data, k, p, length)
    if columns is None:
        cols = [c for c in data.columns if c in ID_PREFIXES]
    else:
        cols = list(columns)
        missing = [c for c in cols if c not in data.columns]
        if missing:
            raise KeyError(f"cannot pseudonymise {missing}: not columns of the table "
                           f"(columns: {list(data.columns)})")
    out = data.copy()
    for c in cols:
        p = prefix if prefix is not None else ID_PREFIXES.get(str(c), "id_")
        out[c] = _hash_series(out[c], k, p, length)
    return out


def drop_pii(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """Drop the columns the data model marks as personal (``pii=True``) for ``table``.

    Parameters
    ----------
    df : DataFrame
        Rows of ``table`` (other columns are kept).
    table : str
        Table name in the data model (``customers``, ...).

    Returns
    -------
    DataFrame
        A copy without the PII columns that were present.

    Raises
    ------
    KeyError
        ``table`` is not in the data model.
    """
    if table not in TABLES:
        raise KeyError(f"unknown table {table!r}; tables of the data model: {sorted(TABLES)}")
    pii = [c for c in TABLES[table].pii_columns if c in df.columns]
    return df.drop(columns=pii)


def pii_column_names() -> set[str]:
    """Names of every column marked ``pii=True`` anywhere in the data model."""
    return {c for t in TABLES.values() for c in t.pii_columns}


def find_emails(text: str, limit: int = 5) -> list[str]:
    """Return up to ``limit`` e-mail-like strings found in ``text``."""
    out = []
    for m in _EMAIL.finditer(text):
        out.append(m.group(0))
        if len(out) >= limit:
            break
    return out


def check_no_pii(df: pd.DataFrame, name: str) -> None:
    """Raise if a client-facing table would show personal data.

    A table fails when it has a column named like a PII column of the data model (``name``,
    ``email``, ``phone``; rename non-personal ones, e.g. ``campaign_name``), or a text column
    holding e-mail addresses.

    Parameters
    ----------
    df : DataFrame
        The table about to be written.
    name : str
        Its name, for the message.

    Raises
    ------
    PIIError
        Names the offending columns and how to fix it.
    """
    flagged = sorted(set(map(str, df.columns)) & pii_column_names())
    if flagged:
        raise PIIError(
            f"table {name!r} has personal column(s) {flagged}: drop them "
            f"(privacy.drop_pii) or, if they are not about people, rename them "
            f"(e.g. 'campaign_name')"
        )
    for col in df.columns:
        s = df[col]
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            sample = " ".join(map(str, s.dropna().head(1000)))
            if find_emails(sample, 1):
                raise PIIError(
                    f"table {name!r} column {col!r} holds e-mail addresses: drop or "
                    f"pseudonymise the column before saving"
                )
