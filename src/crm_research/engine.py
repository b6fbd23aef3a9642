"""One engine from laptop to cluster.

Row-level work is written once as Ibis expressions. It runs in-process on DuckDB by default,
and unchanged on Spark (or any Ibis backend a client's data lives in).

The contract of every engine-aware helper (see :func:`engine_function`):

* pandas in → pandas out: DataFrame arguments are registered on an in-process DuckDB
  connection, the expression is executed there and a pandas DataFrame comes back;
* engine table in → lazy engine table out: an ``ibis.Table`` argument (on DuckDB, Spark, ...)
  gives back an unexecuted ``ibis.Table`` on the same backend; call :func:`collect` (or
  ``.to_pandas()``) when the result is small.

Helpers written this way must sort explicitly (``order_by``) where row order matters:
engines do not promise an order, and results must be identical bit for bit.

Determinism of floating-point aggregates: a parallel engine adds partial sums in whatever
order its threads finish, so a float ``SUM``/``AVG`` can differ in the last bit from run to run
(measured here: DuckDB with 2 threads gave 7 distinct bit patterns for the same grouped sum in
8 runs). Two rules keep results identical:

* the implicit DuckDB connection behind pandas-in calls runs single-threaded (measured cost
  about 1.5x on a 10M-row grouped sum; explicit :func:`connect` connections use every core);
* currency and other decimal quantities are summed exactly with :func:`exact_sum`
  (DECIMAL(38, 6)), which is also what makes DuckDB and Spark agree bit for bit.
"""

from __future__ import annotations

import functools
import inspect
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

__all__ = ["ENGINES", "parse_engine", "open_engine", "connect", "to_ibis", "collect", "collect_rows", "counts", "engine_function", "is_lazy", "spark_session", "exact_sum",
           "exact_mean", "on_duckdb", "first_by", "collect_by", "materialize"]

_local = threading.local()


def connect(backend: str = "duckdb", **kwargs: Any):
    """Open an Ibis backend.

    Parameters
    ----------
    backend : {"duckdb", "pyspark"}
        ``duckdb`` opens an in-process database (``kwargs`` go to ``ibis.duckdb.connect``, e.g.
        ``database="crm.duckdb"``, ``threads=2``); ``pyspark`` wraps a Spark session (pass
        ``session=``, or a local one is started with :func:`spark_session`).

    Returns
    -------
    ibis.BaseBackend
    """
    if backend == "duckdb":
        return ibis.duckdb.connect(**kwargs)
    if backend == "pyspark":
        session = kwargs.pop("session", None) or spark_session()
        return ibis.pyspark.connect(session, **kwargs)
    from crm_research.errors import CRMError

    raise CRMError(f"unknown engine backend {backend!r}: use 'duckdb' or 'pyspark'")


def spark_session(app_name: str = "crm-research", cores: int = 2, memory: str = "2g",
                  master: str | None = None):
    """Start (or reuse) a Spark session with UTC session time and deterministic shuffles.

    Parameters
    ----------
    cores : int
        Local worker threads (``local[cores]``) when no ``master`` is given; also the number
        of shuffle partitions (at least 2).
    memory : str
        Driver memory, Spark notation (``"2g"``).
    master : str, optional
        Spark master URL (``"local[*]"``, ``"spark://host:7077"``, ``"yarn"``). Default:
        ``local[cores]``.
    """
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.appName(app_name)
        .master(master or f"local[{cores}]")
        .config("spark.driver.memory", memory)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(max(2, cores)))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")  # no progress bars in a notebook's output
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


ENGINES = ("duckdb", "spark", "pandas")
"""Where a notebook's row-level work runs (its ``engine`` parameter): ``duckdb`` in-process on the
data files (the default), ``spark`` on a Spark session (``spark:<master URL>`` for a cluster,
``local[2]`` by default), ``pandas`` with every table loaded in memory first (small data, and the
reference the engine runs are checked against)."""

DEFAULT_MEMORY_LIMIT = "1GB"
"""DuckDB memory limit of a notebook's connection: past it, DuckDB spills to its spill folder."""


def parse_engine(spec: Any) -> tuple[str, str | None]:
    """Split an ``engine`` parameter into its kind and, for Spark, its master URL.

    Parameters
    ----------
    spec : str
        ``"duckdb"``, ``"pandas"``, ``"spark"`` or ``"spark:<master URL>"``.

    Returns
    -------
    (str, str or None)
        The kind (one of :data:`ENGINES`) and the master URL (None: the default).

    Raises
    ------
    ParameterError
        Anything else.

    Examples
    --------
    >>> parse_engine("spark:local[*]")
    ('spark', 'local[*]')
    >>> parse_engine("duckdb")
    ('duckdb', None)
    """
    from crm_research.errors import ParameterError

    text = str(spec).strip() if spec is not None else ""
    kind, _, master = text.partition(":")
    kind = kind.lower()
    if kind not in ENGINES or (master and kind != "spark") or (_ and not master):
        raise ParameterError(f"engine={spec!r} is not supported: use 'duckdb' (in-process, the default), "
                             "'spark' (local Spark; 'spark:<master URL>' for a cluster) or 'pandas' "
                             "(every table in memory)")
    return kind, master or None


def open_engine(spec: str = "duckdb", *, spill_dir: Any = None, memory_limit: str | None = DEFAULT_MEMORY_LIMIT,
                threads: int = 1):
    """Open the backend a notebook's row-level work runs on.

    Parameters
    ----------
    spec : str
        The ``engine`` parameter (:func:`parse_engine`).
    spill_dir : path-like, optional
        DuckDB: where it spills what does not fit in ``memory_limit`` (created; its files are
        removed when the connection closes). Default: DuckDB's own ``.tmp`` folder.
    memory_limit : str, optional
        DuckDB memory limit (``"1GB"``); None: DuckDB's default (80 % of the machine).
    threads : int
        DuckDB threads. One by default: a float sum then adds in one order, so the same data
        gives the same bytes (see the module notes), and two notebooks run side by side on two
        cores.

    Returns
    -------
    ibis.BaseBackend or None
        None for ``pandas``.
    """
    kind, master = parse_engine(spec)
    if kind == "pandas":
        return None
    if kind == "spark":
        return ibis.pyspark.connect(spark_session(master=master))
    # background threads hand the allocator's freed pages back to the system (queries still run on
    # `threads`): without them a kernel keeps its largest query's memory as resident memory while
    # it fits models in pandas (measured on notebook 04 at 300k contacts: 0.82 -> 0.52 GiB after
    # the journeys' query)
    config: dict[str, Any] = {"threads": int(threads), "allocator_background_threads": True}
    if memory_limit:
        config["memory_limit"] = str(memory_limit)
    if spill_dir is not None:
        from pathlib import Path

        Path(spill_dir).mkdir(parents=True, exist_ok=True)
        config["temp_directory"] = str(spill_dir)
    return ibis.duckdb.connect(**config)


def _default_con():
    con = getattr(_local, "con", None)
    if con is None:
        con = ibis.duckdb.connect(threads=1)
        _local.con = con
    return con


def materialize(expr: ir.Table, *, reread: bool = True) -> ir.Table:
    """Compute ``expr`` into a temporary table of its DuckDB connection and return that table.

    An optimisation barrier for plans DuckDB cannot run in bounded memory as one pipeline: a
    window over every event feeding a grouped exact quantile ran out of 6 GB on 50M events,
    while the same two steps with the window's result stored in between took 20 s at 3.5 GiB
    peak (the stored table spills to disk like any other). Executes ``expr`` now. The
    temporary table lives as long as the connection.

    On Spark the table is cached instead (``expr.cache()``: computed by the first query that
    reads it, kept in the executors' memory, spilled to their disks, released once no expression
    refers to it): the steps reading one stored table more than once no longer compute it again
    for each read (the journey's friction cells on a 500-contact company: 54 Spark jobs in
    32.7 s, 49 in 20.8 s). A table built on in-memory (pandas) tables is not cached there: Spark
    resolves the cache's query before Ibis registers them. Other backends get ``expr`` back
    unchanged.

    Parameters
    ----------
    expr : ibis.Table
        The table to compute.
    reread : bool
        Whether the caller reads the result more than once. Spark caches only such a table
        (one read once gains nothing from the cache and pays for building it); DuckDB stores
        either.
    """
    try:
        backend = expr._find_backend(use_default=False)
    except Exception:  # noqa: BLE001 - only memtables: the implicit connection runs it
        backend = _default_con()
    name = getattr(backend, "name", "")
    if name == "pyspark":
        import ibis.expr.operations as ops

        return expr.cache() if reread and not expr.op().find(ops.InMemoryTable) else expr
    if name != "duckdb":
        return expr
    return backend.create_table(f"_crm_tmp_{uuid.uuid4().hex}", expr, temp=True)


BLOCK_ROWS = 8_000_000
"""Rows of one block of :func:`materialize_in_blocks` (8M events fit a window per path in DuckDB's
default 1 GB with room to spare: 300k contacts' 14.5M events in one plan did)."""


def materialize_in_blocks(build: Callable[[ir.Table], ir.Table], table: ir.Table, key: str, *,
                          block_rows: int | None = None) -> ir.Table:
    """``materialize(build(table))``, computed on blocks of rows that share no ``key`` value.

    For a step whose every output row depends only on the rows of one ``key`` value (a window
    over each path, a grouping by path): DuckDB cannot spill a window's partitions, so one plan
    over every event of 1M contacts (48M events) ran out of its 1 GB limit, while blocks of
    ``block_rows`` rows (by a hash of ``key``) each fit. The stored table holds the same rows;
    engine tables have no row order, so sort where order matters. One block when ``table`` is
    small; other backends than DuckDB get ``build(table)`` back, unchanged and lazy.

    Parameters
    ----------
    build : callable
        ``build(part) -> ibis.Table``: the step, on a part of ``table``.
    table : ibis.Table
        Its input.
    key : str
        Column of ``table`` whose values never straddle two blocks (the path).
    block_rows : int, optional
        Rows per block, about (rows; the blocks are ``ceil(rows / block_rows)`` hash buckets);
        default :data:`BLOCK_ROWS`.
    """
    if not on_duckdb(table):
        return build(table)
    blocks = max(1, -(-int(table.count().execute()) // int(block_rows or BLOCK_ROWS)))
    if blocks == 1:
        return materialize(build(table))
    bucket = (table[key].hash() % blocks + blocks) % blocks  # Ibis types the hash as signed
    out = materialize(build(table.filter(bucket == 0)))
    backend = out._find_backend(use_default=False)
    for b in range(1, blocks):
        part = build(table.filter(bucket == b))
        backend.insert(out.get_name().rsplit(".", 1)[-1], part.select(*out.columns), database=("temp", "main"))
    return out


def exact_sum(column: ir.NumericColumn, scale: int = 6) -> ir.FloatingScalar:
    """Sum a column exactly (as DECIMAL(38, ``scale``)) and return it as float64.

    Use for currency and any value with at most ``scale`` decimals: the result does not depend
    on the engine or on the order in which threads add partial sums.
    """
    return column.cast(f"decimal(38, {scale})").sum().cast("float64")


def exact_mean(column: ir.NumericColumn, scale: int = 6) -> ir.FloatingScalar:
    """Mean computed as :func:`exact_sum` / count of non-null values (float64)."""
    return exact_sum(column, scale) / column.count().cast("float64")


def collect_rows(rows: Sequence[ir.Table], execute: Callable[[ir.Table], pd.DataFrame] | None = None
                 ) -> list[dict[str, Any]]:
    """One-row tables (aggregates), computed in one query.

    Compiling a query costs more than most small aggregates cost to run (about 10-30 ms of CPU
    each with Ibis, whatever the rows): the tables cross-joined into one row compile once, and
    the parts they share (e.g. the same filtered table behind several) are written once.

    Parameters
    ----------
    rows : sequence of ibis.Table
        One row each, on one backend (``ibis.memtable`` s run on the implicit connection).
    execute : callable, optional
        Runs the joined table and returns its frame (default :func:`collect`).

    Returns
    -------
    list of dict
        Each table's values by column, in the order of ``rows``.

    Examples
    --------
    >>> import ibis
    >>> t = ibis.memtable({"x": [1, 2, 3]})
    >>> got = collect_rows([t.aggregate(n=t.count()), t.aggregate(top=t.x.max(), low=t.x.min())])
    >>> [{k: int(v) for k, v in row.items()} for row in got]
    [{'n': 3}, {'top': 3, 'low': 1}]
    """
    execute = collect if execute is None else execute
    if not rows:
        return []
    if len(rows) == 1:  # nothing to join
        got = execute(rows[0])
        return [{c: got[c].iat[0] for c in rows[0].columns}]
    joined = None
    for i, r in enumerate(rows):
        one = r.select(**{f"r{i}_{c}": r[c] for c in r.columns})
        joined = one if joined is None else joined.cross_join(one)
    got = execute(joined)
    return [{c: got[f"r{i}_{c}"].iat[0] for c in r.columns} for i, r in enumerate(rows)]


def counts(tables: Sequence[ir.Table]) -> list[int]:
    """Rows of each table, counted in one query (:func:`collect_rows`).

    Examples
    --------
    >>> import ibis
    >>> t = ibis.memtable({"x": [1, 2, 3]})
    >>> counts([t, t.filter(t.x > 1)])
    [3, 2]
    """
    return [int(r["n"]) for r in collect_rows([t.aggregate(n=t.count()) for t in tables])]


def is_lazy(obj: Any) -> bool:
    """True for an engine table (an ``ibis.Table`` expression)."""
    return isinstance(obj, ir.Table)


def to_ibis(obj: pd.DataFrame | ir.Table) -> ir.Table:
    """Return ``obj`` as an Ibis table: engine tables pass through, DataFrames become memtables."""
    if isinstance(obj, ir.Table):
        return obj
    if isinstance(obj, pd.DataFrame):
        return ibis.memtable(obj)
    raise TypeError(f"expected a pandas DataFrame or an ibis Table, got {type(obj).__name__}")


def collect(expr: ir.Table | pd.DataFrame, con=None) -> pd.DataFrame:
    """Execute ``expr`` and return a pandas DataFrame (a DataFrame passes through).

    Unbound expressions (built on memtables) run on a thread-local in-process DuckDB.
    """
    if isinstance(expr, pd.DataFrame):
        return expr
    try:
        backend = expr._find_backend(use_default=False)
    except Exception:  # noqa: BLE001 - ibis raises several types when only memtables are bound
        backend = None
    con = con or backend or _default_con()
    if any(dt.is_nested() for dt in expr.schema().types):
        return _normalise(con.to_pandas(expr))
    # Flat results go through Arrow: identical values and dtypes, but Ibis's own conversion
    # turns every column holding a null into Python objects (measured: 2.9 s vs 0.15 s for
    # 300k rows). Nested columns keep Ibis's conversion, which gives Python lists.
    return _normalise(con.to_pyarrow(expr).to_pandas(date_as_object=False))


def _normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Make engine output identical across backends: timestamps as ``datetime64[ns, UTC]``.

    Spark returns naive timestamps in its session time zone, which :func:`spark_session` sets to
    UTC; DuckDB returns tz-aware microseconds.
    """
    for name, dtype in df.dtypes.items():
        if pd.api.types.is_datetime64_any_dtype(dtype):
            col = df[name]
            col = col.dt.tz_localize("UTC") if col.dt.tz is None else col.dt.tz_convert("UTC")
            df[name] = col.astype("datetime64[ns, UTC]")
    return df


def engine_function(*table_args: str) -> Callable:
    """Decorate a helper written on Ibis tables so it also takes and returns pandas.

    Parameters
    ----------
    *table_args : str
        Names of the parameters that hold tables. Each may be a DataFrame or an Ibis table.
        If every table given is a DataFrame, the result (an Ibis table, or a dict/tuple of
        them) is executed on DuckDB and returned as pandas; otherwise it is returned lazy.
    """

    def decorate(fn: Callable) -> Callable:
        sig = inspect.signature(fn)
        missing = [a for a in table_args if a not in sig.parameters]
        if missing:
            raise TypeError(f"{fn.__name__} has no parameter(s) {missing}")

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            any_lazy = False
            for name in table_args:
                value = bound.arguments.get(name)
                if value is None:
                    continue
                any_lazy |= is_lazy(value)
                bound.arguments[name] = to_ibis(value)
            result = fn(*bound.args, **bound.kwargs)
            if any_lazy:
                return result
            return _collect_all(result)

        wrapper.__wrapped_engine__ = fn
        return wrapper

    return decorate


def _collect_all(result: Any) -> Any:
    if isinstance(result, ir.Table):
        return collect(result)
    if isinstance(result, dict):
        return {k: _collect_all(v) for k, v in result.items()}
    if isinstance(result, tuple):
        return tuple(_collect_all(v) for v in result)
    return result


# ---------------------------------------------------------------------------------------
# ordered aggregates that run on DuckDB and Spark alike
# ---------------------------------------------------------------------------------------


def on_duckdb(t: ir.Table) -> bool:
    """True when ``t`` executes on DuckDB (a bound DuckDB table, or memtables only)."""
    try:
        backend = t._find_backend(use_default=False)
    except Exception:  # noqa: BLE001 - unbound memtables run on the in-process DuckDB
        return True
    return getattr(backend, "name", "") == "duckdb"


def first_by(table: ir.Table, value: ir.Column, keys: list, *, where=None, include_null: bool = False,
             descending: bool = False):
    """``value`` of each group's first row in ``keys`` order (all ascending, or all descending
    with ``descending=True``), skipping rows failing ``where`` and, unless ``include_null``,
    rows whose ``value`` is null. ``table`` only tells the backend.

    DuckDB keeps ``first(value ORDER BY keys)``. Ibis compiles no ordered aggregate for Spark,
    so there it is ``min_by``/``max_by`` keyed by a struct of the keys (compared field by
    field). The keys must not tie (a row-order column makes them tie-free): on a tie the two
    engines may pick different rows.
    """
    if on_duckdb(table):
        order = [k.desc() for k in keys] if descending else list(keys)
        return value.first(order_by=order, where=where, include_null=include_null)
    cond = where
    if not include_null:
        cond = value.notnull() if cond is None else cond & value.notnull()
    key = ibis.struct({f"k{i}": k for i, k in enumerate(keys)})
    return value.argmax(key, where=cond) if descending else value.argmin(key, where=cond)


def collect_by(table: ir.Table, value: ir.Column, key: ir.Column, *, where=None):
    """Array of each group's non-null ``value`` in ascending ``key`` order (``key`` tie-free),
    skipping rows failing ``where``. DuckDB keeps ``array_agg(value ORDER BY key)``; other
    engines collect ``{key, value}`` structs, sort the array and take the values. With no
    row left, DuckDB gives null and Spark an empty array.
    """
    if on_duckdb(table):
        return value.collect(where=where, order_by=key)
    cond = value.notnull() if where is None else where & value.notnull()
    pairs = ibis.struct({"k": key, "v": value}).collect(where=cond).sort()
    return pairs.map(lambda s: s.v)
