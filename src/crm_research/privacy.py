"""Keep people out of client-facing output: keyed pseudonyms and PII column removal.

Client-facing output (HTML reports, ``tables/*.csv``) never shows names, e-mail addresses or
phone numbers, and shows person-linked identifiers (customer, order, ticket, session ids) only
as pseudonyms.

Pseudonyms are keyed hashes (HMAC-SHA256, truncated hex, with a prefix such as ``c_``): the
same id and key always give the same pseudonym, and without the key nobody can map a
pseudonym back by hashing candidate ids.

Key custody: keys stay on the consultant's machine, never in a run folder. There is one key
per client engagement, known by a name (``crm-research run --key acme``; ``default`` when no
name is given), kept in the user's configuration folder::

    $CRM_RESEARCH_CONFIG_DIR/keys/<name>                    (tests, or a custom place)
    $XDG_CONFIG_HOME/crm-research/keys/<name>               (default ~/.config/crm-research/...)

with owner-only permissions (folder 0700, file 0600), created on first use. The key comes
from, in order:

1. the ``key`` argument;
2. the environment variable ``CRM_RESEARCH_PSEUDO_KEY`` (a reviewer given the key);
3. the named key: the ``name`` argument, else ``$CRM_RESEARCH_KEY_NAME`` (the runner sets it
   for its kernels), else ``default`` (a notebook run by hand in JupyterLab).

A run's ``manifest.json`` records only the key's name and its :func:`fingerprint` (a keyed
hash of a fixed text: it tells whether two runs used the same key and cannot be turned back
into the key). :func:`reidentify` maps pseudonyms back to ids, given the key and the candidate
ids (the client's data): ``crm-research reidentify TABLE.csv --key acme``.

Consent: lists meant for contacting customers (the at-risk list, the cross-sell/upsell
suggestions, the per-customer audience table) keep only the customers who may be contacted
(:func:`contactable`, from the optional ``customers.marketing_consent`` and
``customers.do_not_contact`` columns) and say how many were left out; analyses of behaviour
(KPIs, segments, models) use every customer, as aggregate statistics. Each run records what it
processed (:func:`processing_record`): categories of personal data read, purpose and legal
basis, consent rule and counts, key fingerprint, outputs, retention and erasures
(``crm-research forget``, :mod:`crm_research.run.erasure`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from crm_research.data.model import CONSENT_COLUMNS, TABLES
from crm_research.errors import CRMError

__all__ = [
    "ENV_KEY",
    "ENV_KEY_NAME",
    "ENV_CONFIG_DIR",
    "DEFAULT_KEY_NAME",
    "ID_PREFIXES",
    "PIIError",
    "KeyCustodyError",
    "pseudonymise",
    "reidentify",
    "drop_pii",
    "config_dir",
    "key_name",
    "key_file",
    "load_key",
    "project_key",
    "fingerprint",
    "key_id",
    "key_record",
    "resolve_key",
    "pii_column_names",
    "check_no_pii",
    "find_emails",
    "NO_CONSENT_NOTE",
    "consent_columns",
    "consent_rule",
    "contactable",
    "record_outreach",
    "PERSONAL_DATA",
    "processing_record",
    "processing_lines",
]

ENV_KEY = "CRM_RESEARCH_PSEUDO_KEY"
"""Environment variable holding the pseudonymisation key itself (wins over named keys)."""

ENV_KEY_NAME = "CRM_RESEARCH_KEY_NAME"
"""Environment variable naming the engagement's key (the runner sets it for its kernels)."""

ENV_CONFIG_DIR = "CRM_RESEARCH_CONFIG_DIR"
"""Environment variable overriding the configuration folder that holds ``keys/``."""

DEFAULT_KEY_NAME = "default"
"""Name of the key used when none is given."""

ID_PREFIXES: dict[str, str] = {
    "customer_id": "c_",
    "order_id": "o_",
    "ticket_id": "t_",
    "session_id": "s_",
}
"""Person-linked identifier columns and the prefix of their pseudonyms."""

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_FINGERPRINT_TEXT = b"crm-research key fingerprint v1"


class PIIError(CRMError):
    """Client-facing output would show personal data."""


class KeyCustodyError(CRMError):
    """A pseudonymisation key cannot be found, created or trusted."""


def _key_bytes(key: str | bytes) -> bytes:
    if isinstance(key, bytes):
        data = key
    else:
        data = str(key).encode("utf-8")
    if not data:
        raise ValueError("the pseudonymisation key is empty: pass a non-empty key")
    return data


# ---------------------------------------------------------------------------------------
# key custody
# ---------------------------------------------------------------------------------------


def config_dir() -> Path:
    """The user's crm-research configuration folder (where ``keys/`` lives).

    ``$CRM_RESEARCH_CONFIG_DIR`` if set, else ``$XDG_CONFIG_HOME/crm-research`` (an absolute
    ``XDG_CONFIG_HOME`` only, as the XDG specification says), else ``~/.config/crm-research``.
    """
    env = os.environ.get(ENV_CONFIG_DIR)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".config"
    return base / "crm-research"


def key_name(name: str | None = None) -> str:
    """The key name to use: ``name``, else ``$CRM_RESEARCH_KEY_NAME``, else ``default``.

    Raises
    ------
    KeyCustodyError
        The name is not 1-64 letters, digits, ``_``, ``-`` or ``.`` starting with a letter or digit.
    """
    chosen = name if name not in (None, "") else (os.environ.get(ENV_KEY_NAME) or DEFAULT_KEY_NAME)
    if not _KEY_NAME.fullmatch(str(chosen)):
        raise KeyCustodyError(f"key name {chosen!r}: use 1-64 letters, digits, '_', '-' or '.', "
                              f"starting with a letter or digit (e.g. the client's name, 'acme')")
    return str(chosen)


def key_file(name: str | None = None) -> Path:
    """Path of the named key (see :func:`key_name`): ``<config dir>/keys/<name>``."""
    return config_dir() / "keys" / key_name(name)


def _private_dir(folder: Path) -> None:
    """Create ``folder`` (and its parents) and make it owner-only (0700)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.name == "posix" and stat.S_IMODE(folder.stat().st_mode) & 0o077:
        os.chmod(folder, 0o700)


def _read_key(path: Path) -> str:
    if os.name == "posix":
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise KeyCustodyError(f"key file {path} can be read by other users (mode {mode:o}): "
                                  f"make it owner-only with `chmod 600 {path}`")
    value = path.read_text(encoding="utf-8").strip()
    if not value:
        raise KeyCustodyError(f"key file {path} is empty: remove it to make a new key, or restore it")
    return value


def load_key(name: str | None = None, *, create: bool = True) -> str:
    """Return the named key, creating it on first use (64 random hex characters).

    The key file is created owner-only (0600) in an owner-only folder (0700), complete or not
    at all: if two processes create it at once, both get the first one's key.

    Parameters
    ----------
    name : str, optional
        Key name (see :func:`key_name`).
    create : bool
        Create the key if it does not exist (default). ``False``: a missing key is an error.

    Returns
    -------
    str

    Raises
    ------
    KeyCustodyError
        Bad name; ``create=False`` and no such key; the file is readable by others or empty;
        the configuration folder cannot be written.
    """
    path = key_file(name)
    try:
        if path.exists():
            return _read_key(path)
        if not create:
            raise KeyCustodyError(
                f"no key named {path.name!r} in {path.parent}: the runs pseudonymised with it were "
                f"made on another machine or with another --key; copy the key file there, or set "
                f"${ENV_KEY} to the key")
        _private_dir(path.parent)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(secrets.token_hex(32) + "\n")
            try:
                os.link(tmp, path)  # exclusive and complete: the first key wins a race
            except FileExistsError:
                pass
        finally:
            tmp.unlink(missing_ok=True)
        return _read_key(path)
    except OSError as exc:
        raise KeyCustodyError(f"cannot read or create the key {path}: {exc.strerror or exc}") from None


def project_key(root: str | os.PathLike | None = None) -> str:
    """The ``default`` key (kept for older callers; ``root`` is ignored: keys no longer live in
    the project). See :func:`load_key`."""
    return load_key(DEFAULT_KEY_NAME)


def fingerprint(key: str | bytes) -> str:
    """A public fingerprint of a key: 16 hex of HMAC-SHA256(key, a fixed text).

    Equal fingerprints mean equal keys; the fingerprint does not reveal the key, nor helps
    to reverse pseudonyms (it is the keyed hash of a text that is no id).
    """
    return hmac.new(_key_bytes(key), _FINGERPRINT_TEXT, hashlib.sha256).hexdigest()[:16]


key_id = fingerprint
"""Older name of :func:`fingerprint`."""


def resolve_key(key: str | bytes | None = None, name: str | None = None) -> str | bytes:
    """Pick the pseudonymisation key: ``key``, else ``$CRM_RESEARCH_PSEUDO_KEY``, else the named
    key (:func:`load_key`, created on first use).

    Parameters
    ----------
    key : str or bytes, optional
        Explicit key.
    name : str, optional
        Key name (default: ``$CRM_RESEARCH_KEY_NAME``, else ``default``).

    Returns
    -------
    str or bytes
    """
    if key is not None:
        return key
    env = os.environ.get(ENV_KEY)
    if env:
        return env
    return load_key(name)


def key_record(name: str | None = None) -> dict[str, str]:
    """What a run's manifest records about its key: name, source and fingerprint, never the key.

    Creates the named key on first use (unless ``$CRM_RESEARCH_PSEUDO_KEY`` is set).

    Returns
    -------
    dict
        ``name`` (the key name asked for), ``source`` (``"environment"`` when
        ``$CRM_RESEARCH_PSEUDO_KEY`` gave the key, else ``"config"``), ``fingerprint`` and
        ``key_id`` (the same fingerprint under its older name).
    """
    chosen = key_name(name)
    env = os.environ.get(ENV_KEY)
    key = env if env else load_key(chosen)
    fp = fingerprint(key)
    return {"name": chosen, "source": "environment" if env else "config", "fingerprint": fp, "key_id": fp}


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
    name: str | None = None,
) -> pd.Series | pd.DataFrame:
    """Replace identifiers by keyed pseudonyms (HMAC-SHA256, truncated hex, with a prefix).

    Parameters
    ----------
    data : Series or DataFrame
        Identifiers (a Series) or a table holding identifier columns.
    key : str or bytes, optional
        Secret key. Default: ``$CRM_RESEARCH_PSEUDO_KEY``, else the named key (see
        :func:`resolve_key`).
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
    name : str, optional
        Key name when neither ``key`` nor ``$CRM_RESEARCH_PSEUDO_KEY`` is set (default:
        ``$CRM_RESEARCH_KEY_NAME``, else ``default``).

    Returns
    -------
    Series or DataFrame
        A copy; missing values stay missing. Pseudonyms are ``string`` dtype.

    Raises
    ------
    KeyError
        A requested column is not in the table.
    ValueError
        ``length`` is outside 8..64, or the key is empty.
    KeyCustodyError
        The named key cannot be read or created.
    """
    if not 8 <= length <= 64:
        raise ValueError(f"length must be between 8 and 64 hex characters, got {length}")
    k = _key_bytes(resolve_key(key, name))
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


def reidentify(
    table: pd.DataFrame,
    candidates: Mapping[str, Iterable],
    key: str | bytes,
    columns: Iterable[str] | None = None,
) -> tuple[pd.DataFrame, dict[str, tuple[int, int]]]:
    """Map pseudonyms back to ids by hashing the candidate ids with the key and joining.

    Parameters
    ----------
    table : DataFrame
        A table written by a run (``tables/<name>.csv``), its id columns pseudonymised.
    candidates : mapping of str to iterable
        For each pseudonymised column, the ids it may hold (the client's customer ids, ...).
    key : str or bytes
        The key the run used.
    columns : iterable of str, optional
        Columns to map back. Default: the columns of ``table`` named in :data:`ID_PREFIXES`
        that hold pseudonyms.

    Returns
    -------
    (DataFrame, dict)
        A copy whose pseudonym columns hold the ids again (missing where no candidate matched),
        each followed by ``<column>_pseudonym`` with the pseudonym; and, per column,
        ``(pseudonyms matched, distinct pseudonyms)``.

    Raises
    ------
    CRMError
        A requested column is absent or holds no pseudonyms, or has no candidates.
    """
    k = _key_bytes(key)
    if columns is None:
        cols = [c for c in table.columns if c in ID_PREFIXES
                and table[c].dropna().astype(str).str.startswith(ID_PREFIXES[c]).any()]
    else:
        cols = list(columns)
    if not cols:
        raise CRMError("the table has no pseudonymised id column (customer_id, order_id, ticket_id "
                       "or session_id holding c_..., o_..., t_..., s_... values)")
    out = table.copy()
    stats: dict[str, tuple[int, int]] = {}
    for c in cols:
        if c not in table.columns:
            raise CRMError(f"the table has no column {c!r}; its columns: {list(table.columns)}")
        if candidates.get(c) is None:
            raise CRMError(f"no candidate ids for column {c!r}")
        prefix = ID_PREFIXES.get(c, "id_")
        values = table[c].astype("string")
        distinct = pd.Index(values.dropna().unique())
        lengths = {len(v) - len(prefix) for v in distinct if v.startswith(prefix)}
        lengths = {n for n in lengths if 8 <= n <= 64}
        if not lengths:
            raise CRMError(f"column {c!r} holds no pseudonyms (values starting with {prefix!r})")
        lookup: dict[str, str] = {}
        for cand in pd.unique(pd.Series(list(candidates[c]), dtype="string").dropna()):
            digest = hmac.new(k, str(cand).encode("utf-8"), hashlib.sha256).hexdigest()
            for n in lengths:
                lookup[prefix + digest[:n]] = str(cand)
        ids = values.map(lookup).astype("string")
        stats[c] = (int(distinct.isin(list(lookup)).sum()), len(distinct))
        at = list(out.columns).index(c)
        out[c] = ids
        out.insert(at + 1, f"{c}_pseudonym", values)
    return out, stats


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


# ---------------------------------------------------------------------------------------
# consent: who an outreach list may name
# ---------------------------------------------------------------------------------------

NO_CONSENT_NOTE = "No consent data: the list is not filtered; check consent before contacting."
"""The note of an outreach list when the data has no consent column."""

OUTREACH_META = "outreach"
"""Suffix of the run-folder file where a notebook records its outreach lists:
``meta/<notebook>.outreach.json`` (see :func:`record_outreach`)."""


def consent_columns(customers: pd.DataFrame | None) -> list[str]:
    """The consent columns (:data:`~crm_research.data.model.CONSENT_COLUMNS`) that ``customers`` has."""
    if customers is None:
        return []
    return [c for c in CONSENT_COLUMNS if c in customers.columns]


def consent_rule(columns: Iterable[str]) -> str | None:
    """The rule an outreach list follows, in words, for the consent columns the data has.

    Parameters
    ----------
    columns : iterable of str
        Consent columns present (see :func:`consent_columns`).

    Returns
    -------
    str or None
        None without consent columns (the lists are not filtered).
    """
    cols = [c for c in CONSENT_COLUMNS if c in set(columns)]
    if not cols:
        return None
    parts = []
    if "marketing_consent" in cols:
        parts.append("their marketing_consent is yes (empty counts as no)")
    if "do_not_contact" in cols:
        parts.append("their do_not_contact is not yes")
    return ("A customer is listed only if " + " and ".join(parts)
            + "; customers without a row in customers are left out.")


def _plural(n: int, who: str) -> str:
    """``n`` and ``who`` (plural words, "customers at risk"), its first word singular for one."""
    head, _, rest = who.partition(" ")
    if n == 1 and head.endswith("s"):
        head = head[:-1]
    return f"{n:,} {head}" + (f" {rest}" if rest else "")


def contactable(
    list_df: pd.DataFrame,
    customers: pd.DataFrame | None,
    *,
    customer_col: str = "customer_id",
    who: str = "customers",
) -> tuple[pd.DataFrame, str]:
    """Leave out of an outreach list the customers who may not be contacted.

    A customer stays when ``customers.marketing_consent`` is ``yes`` (a missing value is no
    consent) and ``customers.do_not_contact`` is not ``yes``, for the columns the data has.
    Customers of the list without a row in ``customers`` are left out. Without either column,
    nothing is filtered and the note says so (:data:`NO_CONSENT_NOTE`). Use it on lists meant
    for contacting customers (at-risk list, suggestions), never on the data of an analysis:
    aggregate statistics use every customer.

    Parameters
    ----------
    list_df : DataFrame
        The list, with the client's own customer ids (filter before ``run.save_table``
        pseudonymises them); one or several rows per customer.
    customers : DataFrame, ibis.Table or None
        The loaded ``customers`` table (``crm.customers``; an engine table: only the listed
        customers' consent columns are fetched); None when the data has none.
    customer_col : str
        Column of ``list_df`` holding the customer id.
    who : str
        What the list's customers are, plural, for the note ("customers at risk").

    Returns
    -------
    (DataFrame, str)
        The rows of the customers who may be contacted (index reset; the list's order kept),
        and one plain sentence with the count: "312 customers at risk are not listed: no
        marketing consent." The frame's ``attrs["consent"]`` holds the counts for
        :func:`record_outreach`: ``filtered``, ``columns``, ``rule``, ``customers_listed``,
        ``customers_left_out``, ``no_consent``, ``do_not_contact``, ``not_in_customers``
        (customers), ``rows_listed``,
        ``rows_left_out`` and ``note``.

    Raises
    ------
    CRMError
        ``customer_col`` is not a column of the list, or none of the list's ids is in
        ``customers`` (the list was pseudonymised already).

    Examples
    --------
    In a notebook, with the run's context ``run`` and the loaded data ``crm``:

    >>> at_risk, note = privacy.contactable(at_risk, crm.customers, who="customers at risk")  # doctest: +SKIP
    >>> privacy.record_outreach(run, "churn_at_risk_list", at_risk)  # doctest: +SKIP
    """
    if customer_col not in list_df.columns:
        raise CRMError(f"outreach list: no column {customer_col!r} (columns: {list(list_df.columns)[:12]}); "
                       f"pass customer_col=")
    ids = list_df[customer_col].astype("string")
    listed = int(ids.nunique())
    cols = consent_columns(customers)
    if not cols:
        kept = list_df.reset_index(drop=True)
        kept.attrs["consent"] = {"filtered": False, "columns": [], "rule": None, "customers_listed": listed,
                                 "customers_left_out": 0, "no_consent": 0, "do_not_contact": 0,
                                 "rows_listed": len(kept), "rows_left_out": 0, "note": NO_CONSENT_NOTE}
        return kept, NO_CONSENT_NOTE
    if not isinstance(customers, pd.DataFrame):  # an engine table: only the listed customers come back
        import ibis

        from crm_research.engine import collect

        wanted = ibis.memtable(pd.DataFrame({"customer_id": ids.dropna().unique().astype(object)}))
        customers = collect(customers.select("customer_id", *cols).semi_join(wanted, "customer_id")
                            .order_by("customer_id"))
    table = customers.drop_duplicates("customer_id")
    table = table.set_axis(pd.Index(table["customer_id"].astype("string"), name=None), axis=0)
    known = ids.isin(table.index)
    if listed and not known.any():
        raise CRMError(f"outreach list: none of its {listed:,} {customer_col} values is in customers: filter the "
                       f"list with the client's ids, before run.save_table pseudonymises them")
    consent = (table["marketing_consent"].astype("string") == "yes").fillna(False) if "marketing_consent" in cols \
        else pd.Series(True, index=table.index)
    objected = (table["do_not_contact"].astype("string") == "yes").fillna(False) if "do_not_contact" in cols \
        else pd.Series(False, index=table.index)
    ok_ids = set(table.index[(consent & ~objected).to_numpy(dtype=bool)])
    keep = ids.isin(ok_ids).fillna(False).to_numpy(dtype=bool)
    kept = list_df[keep].reset_index(drop=True)
    out_ids = pd.Index(ids[~keep].dropna().unique())
    n_out = len(out_ids)
    n_unknown = int((~out_ids.isin(table.index)).sum())
    n_dnc = int(objected.reindex(out_ids, fill_value=False).sum())
    n_nc = n_out - n_dnc - n_unknown
    if n_out == 0:
        note = f"All {_plural(listed, who)} may be contacted: none is left out for consent."
    else:
        verb = "is" if n_out == 1 else "are"
        counts = [(n_nc, "no marketing consent", "without marketing consent"),
                  (n_dnc, "asked not to be contacted", "asked not to be contacted"),
                  (n_unknown, "not in the customers table", "not in the customers table")]
        given = [c for c in counts if c[0]]
        reasons = [c[1] for c in given] if len(given) == 1 else [f"{n:,} {words}" for n, _, words in given]
        note = f"{_plural(n_out, who)} {verb} not listed: {', '.join(reasons)}."
    kept.attrs["consent"] = {"filtered": True, "columns": cols, "rule": consent_rule(cols),
                             "customers_listed": listed - n_out, "customers_left_out": n_out, "no_consent": n_nc,
                             "do_not_contact": n_dnc, "not_in_customers": n_unknown, "rows_listed": int(keep.sum()),
                             "rows_left_out": int((~keep).sum()), "note": note}
    return kept, note


def record_outreach(run, name: str, kept: pd.DataFrame) -> dict:
    """Record that the saved table ``name`` is an outreach list, with its consent counts.

    Writes ``meta/<notebook>.outreach.json`` in the run folder; the runner copies it into the
    manifest's record of processing and the report's appendix. Never holds an id.

    Parameters
    ----------
    run : crm_research.notebook.RunContext
        The notebook's run (its ``run_dir`` and ``notebook``).
    name : str
        The table's name as given to ``run.save_table``.
    kept : DataFrame
        The list returned by :func:`contactable` (its ``attrs["consent"]``).

    Returns
    -------
    dict
        What was recorded for ``name``.

    Raises
    ------
    CRMError
        ``kept`` did not come from :func:`contactable`.
    """
    import json

    from crm_research import paths

    record = kept.attrs.get("consent")
    if not isinstance(record, dict):
        raise CRMError(f"outreach list {name!r}: filter it with privacy.contactable(...) before recording it")
    path = Path(run.run_dir) / "meta" / f"{run.notebook}.{OUTREACH_META}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        lists = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except ValueError:
        lists = {}
    lists[str(name)] = dict(record)
    paths.write_atomic(path, json.dumps(lists, indent=2, sort_keys=True) + "\n")
    return lists[str(name)]


# ---------------------------------------------------------------------------------------
# record of processing
# ---------------------------------------------------------------------------------------

PERSONAL_DATA: dict[str, str] = {
    "customers": "customer profile (sign-up date, acquisition channel, region, age)",
    "orders": "purchases",
    "order_items": "purchases (products bought)",
    "events": "online behaviour and marketing contacts",
    "tickets": "customer-service contacts and satisfaction",
    "surveys": "survey answers (NPS)",
    "subscriptions": "subscriptions",
}
"""The category of personal data each table of the data model holds (``campaigns`` and
``ad_spend`` describe no person)."""


def processing_record(
    columns_read: Mapping[str, Iterable[str]],
    *,
    purpose: str,
    legal_basis: str,
    key: Mapping[str, str],
    keep_runs_days: int | None = None,
    started: str | None = None,
) -> dict:
    """The record of processing of one run (what a data-protection officer asks for).

    Parameters
    ----------
    columns_read : mapping of str to iterable of str
        Per table, the columns the run read (the loaded data's columns).
    purpose, legal_basis : str
        From the engagement settings (:mod:`crm_research.settings`).
    key : mapping
        The run's key record (:func:`key_record`): its name and fingerprint are kept, never the key.
    keep_runs_days : int, optional
        Retention of run folders (days).
    started : str, optional
        ISO time the run started: with ``keep_runs_days``, the date after which it may be pruned.

    Returns
    -------
    dict
        ``purpose``, ``legal_basis``, ``personal_data`` (one entry per table read: ``table``,
        ``category``, ``columns``), ``identifiers`` (pseudonymised), ``contact_details`` (read
        and dropped at load), ``consent`` (``columns`` and ``rule``; ``lists`` filled by the
        runner), ``pseudonymisation`` (key name and fingerprint), ``retention``, ``outputs``
        (filled by the runner) and ``erasures`` (appended by ``crm-research forget``).
    """
    read = {str(t): [str(c) for c in cols] for t, cols in columns_read.items()}
    personal = [{"table": t, "category": PERSONAL_DATA[t], "columns": sorted(set(read[t]) - set(TABLES[t].pii_columns)
                                                                           - set(CONSENT_COLUMNS))}
                for t in TABLES if t in read and t in PERSONAL_DATA]
    ids = sorted({c for t in read for c in read[t] if c in ID_PREFIXES})
    contact = sorted({f"{t}.{c}" for t in read if t in TABLES for c in read[t] if c in TABLES[t].pii_columns})
    consent = consent_columns(pd.DataFrame(columns=read.get("customers", [])))
    retention: dict = {"keep_runs_days": keep_runs_days}
    if keep_runs_days and started:
        retention["delete_after"] = (pd.Timestamp(started) + pd.Timedelta(days=int(keep_runs_days))).strftime("%Y-%m-%d")
    return {
        "purpose": purpose,
        "legal_basis": legal_basis,
        "personal_data": personal,
        "identifiers": {"columns": ids, "handling": "pseudonymised in every output (keyed hash, HMAC-SHA256)"},
        "contact_details": {"columns": contact, "handling": "dropped at load: never in an output"},
        "consent": {"columns": [f"customers.{c}" for c in consent], "rule": consent_rule(consent),
                    "lists": {}},
        "pseudonymisation": {"key_name": key.get("name"), "key_fingerprint": key.get("fingerprint")},
        "retention": retention,
        "outputs": {},
        "erasures": [],
    }


def processing_lines(record: Mapping | None) -> list[tuple[str, str]]:
    """The record of processing as (heading, plain sentence) pairs for a report or the index.

    The key is named, its fingerprint is not: only ``manifest.json`` holds it."""
    if not record:
        return []
    out = [("Purpose", str(record.get("purpose") or "")), ("Legal basis", str(record.get("legal_basis") or ""))]
    cats = [f"{p['category']} ({p['table']})" for p in record.get("personal_data") or []]
    if cats:
        out.append(("Personal data read", "; ".join(cats) + "."))
    ids = (record.get("identifiers") or {}).get("columns") or []
    if ids:
        out.append(("Identifiers", f"{', '.join(ids)}: replaced by pseudonyms in every output."))
    contact = (record.get("contact_details") or {}).get("columns") or []
    out.append(("Contact details", (f"{', '.join(contact)} read and dropped at load: never in an output."
                                    if contact else "none read.")))
    consent = record.get("consent") or {}
    if consent.get("rule"):
        text = f"{', '.join(consent.get('columns') or [])}. {consent['rule']}"
    else:
        text = ("no consent column in the data: outreach lists are not filtered; check consent before "
                "contacting anyone.")
    lists = consent.get("lists") or {}
    if lists:
        text += " " + " ".join(f"{name}: {v.get('note', '')}" for name, v in sorted(lists.items()))
    out.append(("Consent", text))
    out.append(("Behaviour analyses", "KPIs, segments and models use every customer, as aggregate statistics; "
                "only the lists meant for contacting customers honour consent."))
    key = record.get("pseudonymisation") or {}
    if key.get("key_name") or key.get("key_fingerprint"):  # the fingerprint stays in manifest.json only
        out.append(("Pseudonymisation key", f"customer ids are replaced by pseudonyms made with this engagement's "
                    f"own key (named {key.get('key_name')!r}), which stays with the consultant and never travels "
                    "with the reports; the run's manifest.json records its fingerprint."))
    ret = record.get("retention") or {}
    if ret.get("keep_runs_days"):
        out.append(("Retention", f"kept {ret['keep_runs_days']} days"
                    + (f", until {ret['delete_after']}" if ret.get("delete_after") else "")
                    + "; older runs are then deleted (crm-research prune)."))
    outputs = record.get("outputs") or {}
    if outputs:
        out.append(("Outputs", "; ".join(f"{k}: {v}" for k, v in outputs.items()) + "."))
    erasures = record.get("erasures") or []
    if erasures:
        out.append(("Erasures", " ".join(f"{e.get('date')}: {e.get('customers')} customer(s) erased, "
                                         f"{e.get('rows_removed')} rows removed." for e in erasures)))
    return out
