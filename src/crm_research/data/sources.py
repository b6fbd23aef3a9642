"""Database sources: a client's PostgreSQL database or a DuckDB file, read where the data lives.

A source is given as a URL wherever a data folder is accepted (:func:`crm_research.data.load`,
``crm-research validate``, ``crm-research run --data``, the notebooks' ``data_dir``)::

    postgresql://analyst@db.example.com:5432/crm?schema=crm&statement_timeout=5min
    duckdb:///srv/exports/crm.duckdb

URL query keys: ``schema`` (default ``public`` / ``main``), ``statement_timeout`` (``30s``,
``5min``, ``500ms``; PostgreSQL only), ``mapping`` (path of the client mapping YAML), and for
PostgreSQL ``sslmode`` and ``connect_timeout`` (seconds, default 10). The mapping names the
table or view of each model table (``tables: {orders: {table: sales_v}}``) and renames
columns as for files. Host, port, user and database left out of the URL come from libpq's
environment (``PGHOST``, ``PGPORT``, ``PGUSER``, ``PGDATABASE``).

Credentials: the password comes only from ``PGPASSWORD`` or the PostgreSQL password file
(``~/.pgpass``, or ``PGPASSFILE``), both read by libpq; a URL holding a password is refused,
so no URL written into a manifest, a report or a log can hold one.

Read-only: the PostgreSQL session is opened with ``default_transaction_read_only=on`` (every
query runs in a read-only transaction) and only ``SELECT`` queries are sent; a DuckDB file is
opened ``read_only``. Nothing is created in the client's database; everything after the read
happens in this process.

What runs in the database (through Ibis): the column selection (only the columns the mapping
and the model use are read), the data model's value, key and foreign-key checks on the
canonical tables built there (:mod:`crm_research.data.engine_checks`; a failing check raises
before any row is fetched) and, where it cannot change what the loader derives, the ``as_of``
row filter with the count of the rows it leaves out. Conversion runs on the fetched frames,
as for files, and so do the checks of the tables the engine cannot build (see
:func:`read_database` and :func:`crm_research.data.engine_checks.canonical_tables`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import pandas as pd

from crm_research.data.mapping import Mapping, duration_ms
from crm_research.data.model import TABLES
from crm_research.data.staging import Raw
from crm_research.errors import CRMError

__all__ = ["DatabaseSource", "DatabaseURL", "DataSourceError", "is_database_url", "parse_source", "read_database"]

SCHEMES = ("postgresql", "postgres", "duckdb")
_QUERY_KEYS = {"postgresql": ("schema", "statement_timeout", "mapping", "sslmode", "connect_timeout"),
               "duckdb": ("schema", "mapping")}
_PASSWORD_HINT = ("remove it and set PGPASSWORD in the environment, or add the password to "
                  "~/.pgpass (or the file PGPASSFILE names)")


class DataSourceError(CRMError):
    """The data source cannot be read: not a folder, a bad URL, an unreachable or refusing
    database, a missing table or view, missing privileges, a statement timeout."""


def is_database_url(value: Any) -> bool:
    """True when ``value`` is text starting with ``postgresql://``, ``postgres://`` or ``duckdb://``."""
    return isinstance(value, str) and value.split("://", 1)[0].lower() in SCHEMES and "://" in value


class DatabaseURL(str):
    """A database URL where a data folder is expected (a notebook's resolved ``data_dir``).

    It is the URL text; ``url / "truth.json"`` is a path that never exists, so code looking
    for files kept beside the tables (a synthetic company's truth, a path table) finds none:
    a database holds no such files.
    """

    def __truediv__(self, other: str | os.PathLike) -> Path:
        return Path(os.devnull) / other


@dataclass(frozen=True)
class DatabaseSource:
    """A parsed database URL (see the module docstring); holds no password.

    Attributes
    ----------
    kind : {"postgresql", "duckdb"}
    url : str
        The URL as given (it holds no password: one is refused); safe to record.
    host, port, user, database : str, int or None
        PostgreSQL connection; None leaves it to libpq's environment and defaults.
    path : Path or None
        The DuckDB file.
    schema : str
        Schema holding the tables (``public`` on PostgreSQL, ``main`` on DuckDB by default).
    statement_timeout : int or None
        Milliseconds one query may take (PostgreSQL); None: the mapping's, else the server's.
    mapping : Path or None
        The client mapping named in the URL.
    options : dict of str to str
        Other libpq connection options (``sslmode``, ``connect_timeout``).
    """

    kind: str
    url: str
    host: str | None = None
    port: int | None = None
    user: str | None = None
    database: str | None = None
    path: Path | None = None
    schema: str = "public"
    statement_timeout: int | None = None
    mapping: Path | None = None
    options: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.url

    def anchored(self, root: Path) -> str:
        """The URL with a relative mapping path and DuckDB file made absolute from ``root`` (a run
        hands the URL to notebook kernels that may start elsewhere)."""
        base, _, query = self.url.partition("?")
        if self.kind == "duckdb" and not self.path.is_absolute():
            base = f"duckdb://{root / self.path}"
        pairs = parse_qsl(query, keep_blank_values=True)
        if self.mapping is not None and not self.mapping.is_absolute():
            pairs = [(k, str(root / self.mapping) if k == "mapping" else v) for k, v in pairs]
        return base + (f"?{urlencode(pairs, safe='/:')}" if pairs else "")

    def label(self) -> str:
        """A short name of the source for a report header, as a folder shows only its name: the
        PostgreSQL URL without its options but the schema (no local mapping path), or the DuckDB
        file's name."""
        if self.kind == "duckdb":
            return self.path.name
        base = _without_query(self.url)
        return base + (f"?schema={self.schema}" if self.schema != "public" else "")

    def where(self, table: str) -> str:
        """``schema.table`` as the messages name it."""
        return table if "." in table else f"{self.schema}.{table}"


def parse_source(url: str) -> DatabaseSource:
    """Parse a ``postgresql://`` or ``duckdb://`` URL.

    Parameters
    ----------
    url : str
        See the module docstring.

    Returns
    -------
    DatabaseSource

    Raises
    ------
    DataSourceError
        Not such a URL, a password in it (one line saying to use PGPASSWORD or ~/.pgpass),
        an unknown query key or a bad value.
    """
    if not is_database_url(url):
        raise DataSourceError(f"{url!r} is not a database URL: use postgresql://user@host:port/db?schema=... "
                              "or duckdb:///path/to/file.duckdb")
    scheme, rest = url.split("://", 1)
    kind = "duckdb" if scheme.lower() == "duckdb" else "postgresql"
    try:
        parts = urlsplit("x://" + rest)
        parts.hostname  # noqa: B018 - raises on a malformed host ([::1 without its bracket)
    except ValueError as exc:
        raise DataSourceError(f"{_redacted(url)}: not a valid URL ({exc}); write "
                              "postgresql://user@host:port/db?schema=...") from None
    if kind == "postgresql" and "@" in url and (url.count("@") > 1 or "@" not in parts.netloc):
        # user:pa/ss@host, user:pa?ss@host, ...: a password holding / ? # splits the URL elsewhere
        raise DataSourceError(f"{_redacted(url)}: the URL has an '@' outside user@host (a password "
                              f"in it?); {_PASSWORD_HINT}; write an '@' of a name or path as %40")
    loose = parse_qsl(parts.query, keep_blank_values=True)
    if parts.password is not None or any(k.strip().lower() == "password" for k, _ in loose):
        raise DataSourceError(f"{_redacted(url)}: the URL holds a password; {_PASSWORD_HINT}")
    try:
        query = dict(parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query)))
    except ValueError:  # the query is not echoed: it may hold a secret written some other way
        raise DataSourceError(f"{_without_query(url)}: the part after '?' is not key=value&key=value") from None
    shown = _without_query(url)
    unknown = [k for k in query if k not in _QUERY_KEYS[kind]]
    if unknown:
        raise DataSourceError(f"{shown}: unknown URL option {unknown[0]!r}; {kind} URLs take "
                              f"{', '.join(_QUERY_KEYS[kind])}")
    timeout = None
    if "statement_timeout" in query:
        timeout = duration_ms(query["statement_timeout"])
        if timeout is None:
            raise DataSourceError(f"{shown}: statement_timeout={query['statement_timeout']!r} is not a "
                                  "duration; write e.g. 30s, 5min or 500ms")
    mapping = Path(query["mapping"]).expanduser() if query.get("mapping") else None
    schema = query.get("schema") or ("main" if kind == "duckdb" else "public")
    if kind == "duckdb":
        path = unquote(parts.netloc + parts.path)
        if not path:
            raise DataSourceError(f"{shown}: no file; write duckdb:///absolute/path/file.duckdb "
                                  "(three slashes) or duckdb://relative/file.duckdb")
        return DatabaseSource("duckdb", url, path=Path(path).expanduser(), schema=schema, mapping=mapping)
    try:
        port = parts.port
    except ValueError:
        raise DataSourceError(f"{shown}: the port is not a number") from None
    options = {k: query[k] for k in ("sslmode", "connect_timeout") if k in query}
    database = unquote(parts.path.lstrip("/")) or None
    return DatabaseSource("postgresql", url, host=unquote(parts.hostname) if parts.hostname else None, port=port,
                          user=unquote(parts.username) if parts.username else None, database=database,
                          schema=schema, statement_timeout=timeout, mapping=mapping, options=options)


def _without_query(url: str) -> str:
    return _redacted(url.split("?", 1)[0])


def _redacted(url: str) -> str:
    """The URL with anything that may be a password replaced by ``***`` (for error messages).

    From the first ``:`` after the user name to the last ``@`` (a password may hold ``/``,
    ``?``, ``#`` or ``@``), and the value of a ``password=`` option. It may hide more than the
    password (an ``@`` in a later path), never less.
    """
    scheme, sep, rest = url.partition("://")
    at, colon = rest.rfind("@"), rest.find(":")
    if at != -1 and colon != -1 and colon < at:
        rest = rest[:colon] + ":***" + rest[at:]
    rest = re.sub(r"(?i)(password\s*=)[^&]*", r"\1***", rest)
    return scheme + sep + rest


# ---------------------------------------------------------------------------------------
# connecting
# ---------------------------------------------------------------------------------------


def _connect_postgres(src: DatabaseSource, timeout_ms: int | None):
    import ibis

    try:
        import psycopg
    except ImportError:
        raise DataSourceError(f"{_without_query(src.url)}: reading PostgreSQL needs psycopg, which "
                              "this environment lacks: reinstall from the project's lock (make demo)") from None
    settings = "-c default_transaction_read_only=on"
    if timeout_ms is not None:
        settings += f" -c statement_timeout={int(timeout_ms)}"
    kwargs: dict[str, Any] = {"options": settings, "application_name": "crm-research",
                              "autocommit": True, "connect_timeout": src.options.get("connect_timeout", "10")}
    for key, value in (("host", src.host), ("port", src.port), ("user", src.user), ("dbname", src.database),
                       ("sslmode", src.options.get("sslmode"))):
        if value is not None:
            kwargs[key] = value
    try:
        try:
            con = psycopg.connect(**kwargs)
        except psycopg.OperationalError as exc:
            if "unsupported startup parameter" not in str(exc):
                raise
            del kwargs["options"]  # a connection pooler (PgBouncer): the same settings by SET below
            con = psycopg.connect(**kwargs)
        with con.cursor() as cur:
            cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            if timeout_ms is not None:
                cur.execute(f"SET statement_timeout = {int(timeout_ms)}")
    except psycopg.Error as exc:
        raise DataSourceError(_connection_message(src, exc)) from None
    return ibis.postgres.from_connection(con)


def _connection_message(src: DatabaseSource, exc: Exception) -> str:
    text = " ".join(str(exc).split())
    low = text.lower()
    user = src.user or os.environ.get("PGUSER") or "(your login name)"
    where = f"{src.host or os.environ.get('PGHOST') or 'localhost'}:{src.port or os.environ.get('PGPORT') or 5432}"
    head = _without_query(src.url)
    if "password authentication failed" in low or "authentication failed" in low:
        return (f"{head}: the server refused the password of user {user}: check PGPASSWORD or the line "
                f"for {where} in ~/.pgpass (PGPASSFILE)")
    if "no password supplied" in low or "password is required" in low:
        return (f"{head}: the server asks a password for user {user}: set PGPASSWORD or add a line "
                f"host:port:database:user:password to ~/.pgpass (PGPASSFILE)")
    if "does not exist" in low and "database" in low:
        return f"{head}: there is no database {src.database or os.environ.get('PGDATABASE')!r} on {where}: check the URL"
    if "role" in low and "does not exist" in low:
        return f"{head}: the server has no user {user}: check the user in the URL (user@host)"
    if "no pg_hba.conf entry" in low:
        return f"{head}: the server at {where} does not accept user {user} from this machine: ask its administrator"
    if any(w in low for w in ("connection refused", "could not connect", "timeout expired",
                              "could not translate host name", "no route to host", "connection timed out",
                              "name or service not known", "network is unreachable")):
        return (f"{head}: cannot reach a PostgreSQL server at {where}: check the host and port, that the "
                "server runs and that this machine may connect to it")
    return f"{head}: cannot connect: {text.splitlines()[0] if text else type(exc).__name__}"


def _connect_duckdb(src: DatabaseSource):
    import duckdb
    import ibis

    path = src.path if src.path.is_absolute() else Path.cwd() / src.path
    if not path.is_file():
        what = "is a folder, not a DuckDB file" if path.exists() else "does not exist"
        raise DataSourceError(f"{src.url}: {path} {what}: give the DuckDB file holding the tables")
    try:
        return ibis.duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise DataSourceError(f"{src.url}: cannot open {path} as a DuckDB file: "
                              f"{' '.join(str(exc).split())[:300]}") from None


def connect(src: DatabaseSource, mapping: Mapping | None = None):
    """Open the source read-only and return an Ibis backend (see the module docstring).

    Raises
    ------
    DataSourceError
        Unreachable server, wrong or missing password, unknown database or user, missing file.
    """
    if src.kind == "duckdb":
        return _connect_duckdb(src)
    timeout = src.statement_timeout
    if timeout is None and mapping is not None:
        timeout = mapping.statement_timeout
    return _connect_postgres(src, timeout)


def _close(con) -> None:
    try:
        con.disconnect()
    except Exception:  # noqa: BLE001 - closing a broken connection may fail; nothing to report
        pass


# ---------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------


def _query_error(src: DatabaseSource, name: str, relation: str, exc: Exception, timeout: int | None) -> DataSourceError:
    """One line for a query that failed while reading table ``name`` from ``relation``."""
    code = getattr(getattr(exc, "diag", None), "sqlstate", None) or getattr(exc, "sqlstate", None)
    head = _without_query(src.url)
    where = src.where(relation)
    if code == "42501":
        return DataSourceError(
            f"{head}: user {src.user or os.environ.get('PGUSER') or '(your login name)'} may not read {where} "
            f"(the {name} table): ask the database owner for USAGE on schema {where.split('.')[0]} and "
            f"SELECT on {where}")
    if code == "57014":
        limit = f"statement_timeout={timeout} ms" if timeout is not None else "the server's statement_timeout"
        return DataSourceError(
            f"{head}: reading {where} (the {name} table) took longer than {limit}: raise it with "
            "?statement_timeout=10min in the URL (or statement_timeout in the mapping), or read a "
            "smaller view")
    first = " ".join(str(exc).split())[:300] or type(exc).__name__
    return DataSourceError(f"{head}: reading {where} (the {name} table) failed: {first}")


def _relation(con, src: DatabaseSource, relation: str):
    """The Ibis table of ``relation`` (``name`` or ``schema.name``), or None when there is none."""
    import ibis.common.exceptions as com

    schema, _, table = relation.rpartition(".")
    where: Any = schema or src.schema
    if src.kind == "duckdb":  # a file named like the schema (crm.duckdb, schema crm): name both
        where = (con.current_catalog, where)
    try:
        return con.table(table, database=where)
    except com.TableNotFound:
        return None
    except Exception as exc:  # the catalog of another engine: only "not found" means absent
        if "not found" in str(exc).lower() or "does not exist" in str(exc).lower():
            return None
        raise


def _client_columns(name: str, columns: list[str], mapping: Mapping) -> list[str]:
    """The columns of the relation that the mapping and the model use, in the relation's order."""
    tm = mapping.table(name)
    table = TABLES[name]
    keep = [c for c in columns if tm.columns.get(c, c) in table.column_names]
    spec = mapping.orders_from_events
    if name == "events" and spec is not None:
        keep += [c for c in columns if c in (spec.order_id, spec.amount) and c not in keep]
    return keep


def _referenced_tables() -> set[str]:
    return {fk.ref_table for t in TABLES.values() for fk in t.foreign_keys}


def _as_of_filter(name: str, expr, columns: list[str], mapping: Mapping, as_of: pd.Timestamp | None):
    """The Ibis predicate ``<time column> is null or < as_of`` when filtering ``name`` in the
    database leaves the loader's result unchanged, else None (the loader filters in memory).

    Pushed down only for tables no other table points to (the loader drops the rows pointing to
    a dropped row), without generated ids (they number the rows), not read for the orders from
    events, and whose date column the database holds as a timestamp with time zone, a timestamp
    when the mapping's time zone is UTC, or a date for a ``date`` column.
    """
    import ibis.expr.datatypes as dt

    from crm_research.data.schemas import utc_day

    table = TABLES[name]
    tm = mapping.table(name)
    if as_of is None or table.time is None or name in _referenced_tables():
        return None
    if name == "events" and mapping.orders_from_events is not None:
        return None
    renamed = {tm.columns.get(c, c): c for c in columns}
    if any(c.generable and (c.name not in renamed or c.name in tm.generate_ids) for c in table.columns):
        return None
    client = renamed.get(table.time)
    if client is None or table.time in tm.constants:
        return None
    dtype = expr[client].type()
    kind = table.column(table.time).kind
    if kind == "datetime" and dtype.is_timestamp() and (dtype.timezone is not None or mapping.timezone == "UTC"):
        bound = as_of.tz_convert("UTC")
        value = bound.to_pydatetime() if dtype.timezone is not None else bound.tz_localize(None).to_pydatetime()
        import ibis

        literal = ibis.literal(value, type=dt.Timestamp(timezone=dtype.timezone))
    elif kind == "date" and dtype.is_date():
        import ibis

        literal = ibis.literal(utc_day(as_of, mapping.timezone).date(), type=dt.date)
    else:
        return None
    col = expr[client]
    return col.isnull() | (col < literal), col >= literal


_BLOCK = 64 << 20  # bytes of CSV parsed at a time


def _copy_blocks(copy):
    """The ``COPY ... TO STDOUT`` data in blocks of about :data:`_BLOCK` bytes, each ending at the
    end of a row (the server sends one row per message)."""
    block = bytearray()
    for chunk in copy:
        block += chunk
        if len(block) >= _BLOCK:
            yield bytes(block)
            block.clear()
    if block:
        yield bytes(block)


def _postgres_arrow(con, expr):
    """The rows of ``expr`` as an Arrow table, streamed by ``COPY (query) TO STDOUT`` as CSV.

    Timestamps travel as whole microseconds since 1970 and dates as days (exact, no text
    parsing); numbers and text as text with their types given to the reader; NULL is an
    unquoted empty field, an empty text a quoted one. Parsed by Arrow in blocks, without a
    Python object per value (fetching rows as tuples took twice as long at 100k contacts).
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    from psycopg import sql

    schema = expr.schema()
    select, types, after = [], {}, {}
    for name, dtype in schema.items():
        col = sql.Identifier(name)
        if dtype.is_timestamp():
            select.append(sql.SQL("(EXTRACT(EPOCH FROM {c}) * 1000000)::bigint AS {c}").format(c=col))
            types[name] = pa.int64()
            after[name] = pa.timestamp("us", tz="UTC" if dtype.timezone is not None else None)
        elif dtype.is_date():
            select.append(sql.SQL("({c} - DATE '1970-01-01') AS {c}").format(c=col))
            types[name] = pa.int32()
            after[name] = pa.date32()
        else:
            select.append(col)
            types[name] = (pa.int64() if dtype.is_integer() else pa.float64() if dtype.is_floating()
                           else pa.bool_() if dtype.is_boolean() else pa.string())
    query = sql.SQL("COPY (SELECT {} FROM ({}) AS t) TO STDOUT (FORMAT csv)").format(
        sql.SQL(", ").join(select), sql.SQL(con.compile(expr)))
    convert = pacsv.ConvertOptions(column_types=types, null_values=[""], strings_can_be_null=True,
                                   quoted_strings_can_be_null=False, true_values=["t"], false_values=["f"])
    read = pacsv.ReadOptions(column_names=list(schema.names))
    parse = pacsv.ParseOptions(newlines_in_values=True)
    parts = []
    with con.con.cursor() as cur, cur.copy(query) as copy:
        for block in _copy_blocks(copy):
            parts.append(pacsv.read_csv(pa.py_buffer(block), read_options=read, parse_options=parse,
                                        convert_options=convert))
    empty = pa.schema([(n, t) for n, t in types.items()]).empty_table()
    table = pa.concat_tables(parts) if parts else empty
    for name, target in after.items():
        table = table.set_column(table.schema.get_field_index(name), name, pc.cast(table[name], target))
    return table


def _fetch(con, src: DatabaseSource, expr, name: str, mapping: Mapping) -> pd.DataFrame:
    """The rows of ``expr`` as a DataFrame, in the order of their values, column by column in
    model order (key columns come first): a database table has no row order of its own."""
    table = _postgres_arrow(con, expr) if src.kind == "postgresql" else expr.to_pyarrow()
    model = TABLES[name].column_names
    tm = mapping.table(name)
    rank = {c: model.index(tm.columns.get(c, c)) if tm.columns.get(c, c) in model else len(model)
            for c in table.column_names}
    order = sorted(table.column_names, key=lambda c: rank[c])
    if table.num_rows > 1:
        table = table.sort_by([(c, "ascending") for c in order])  # nulls last: the default
    return table.to_pandas()


def read_database(src: DatabaseSource, mapping: Mapping, as_of: pd.Timestamp | None,
                  check: Callable[[dict[str, Any]], Any] | None = None,
                  ) -> tuple[dict[str, Raw], dict[str, int]]:
    """Read the model's tables from a database source, read-only.

    For each model table: the relation the mapping names (``tables.<name>.table``, default the
    table's name) in the source's schema; absent optional tables are absent, an absent
    ``orders`` (unless derived from events) or a relation the mapping names that does not
    exist is an error. Only the columns the mapping and the model use are read; where
    :func:`_as_of_filter` allows it the rows dated on or after ``as_of`` are left out in the
    database and counted there. Rows are sorted by their values (key columns first, in model
    order) so the same data gives the same frames whatever the database's physical order.

    Parameters
    ----------
    src : DatabaseSource
    mapping : Mapping
    as_of : pandas.Timestamp or None
        UTC instant (exclusive).
    check : callable, optional
        Called once every relation is open and before any row is fetched, with a dict of
        model table name to its Ibis relation restricted to the columns read (None when it
        has none of them); :func:`crm_research.data.load` runs the engine checks
        (:mod:`crm_research.data.engine_checks`) there and raises when they fail, so no row
        is fetched. A failed query of an
        :class:`~crm_research.data.engine_checks.EngineQueryError` becomes the same one-line
        error as a failed read.

    Returns
    -------
    raws : dict of str to Raw
        The tables read, as the folder reader returns them (origin ``schema.table``).
    left_out : dict of str to int
        Per table, the rows dated on or after ``as_of`` left out in the database.

    Raises
    ------
    DataSourceError
        A connection, privilege, timeout or missing-relation error (one line).
    """
    con = connect(src, mapping)
    timeout = src.statement_timeout if src.statement_timeout is not None else mapping.statement_timeout
    raws: dict[str, Raw] = {}
    left_out: dict[str, int] = {}
    opened: dict[str, tuple[Any, str, list[str]]] = {}
    try:
        for name, table in TABLES.items():
            tm = mapping.table(name)
            if tm.file is not None:
                raise DataSourceError(f"{_without_query(src.url)}: the mapping names a file for {name} "
                                      f"(tables.{name}.file) but the data is a database: name its table "
                                      f"or view with tables.{name}.table")
            relation = tm.table or name
            try:
                expr = _relation(con, src, relation)
            except Exception as exc:  # noqa: BLE001 - a driver error while reading the catalog
                raise _query_error(src, name, relation, exc, timeout) from None
            if expr is None:
                needed = table.required and not mapping.orders_from_events
                if tm.table is not None or needed:
                    what = "the mapping names it" if tm.table is not None else "it is required"
                    raise DataSourceError(
                        f"{_without_query(src.url)}: no table or view {src.where(relation)} for the {name} "
                        f"table ({what}): name the right one with `tables: {{{name}: {{table: <name>}}}}` "
                        "in the mapping (or ?schema= in the URL)")
                continue
            opened[name] = (expr, relation, _client_columns(name, list(expr.columns), mapping))
        if check is not None:
            from crm_research.data.engine_checks import EngineQueryError

            try:
                check({name: expr.select(*columns) if columns else None
                       for name, (expr, _, columns) in opened.items()})
            except EngineQueryError as exc:
                raise _query_error(src, exc.table, opened[exc.table][1] if exc.table in opened else exc.table,
                                   exc.cause, timeout) from None
        for name, (expr, relation, columns) in opened.items():
            try:
                pushed = _as_of_filter(name, expr, columns, mapping, as_of) if columns else None
                if pushed is not None:
                    left_out[name] = int(expr.filter(pushed[1]).count().execute())
                    expr = expr.filter(pushed[0])
                if columns:
                    frame = _fetch(con, src, expr.select(*columns), name, mapping)
                else:  # nothing the model uses: the loader reports the missing columns
                    frame = pd.DataFrame(index=pd.RangeIndex(int(expr.count().execute())))
            except DataSourceError:
                raise
            except Exception as exc:  # noqa: BLE001 - driver errors become one line
                raise _query_error(src, name, relation, exc, timeout) from None
            raws[name] = Raw(name, frame, src.where(relation), csv=False)
    finally:
        _close(con)
    return raws, left_out
