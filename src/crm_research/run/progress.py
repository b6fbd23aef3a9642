"""How far a notebook's running engine query is, for the runner's "still running" lines.

While the runner executes a notebook, its kernel polls the notebook's DuckDB connection every
:data:`POLL_S` seconds (:class:`QueryProgressPoller`, started by
:meth:`crm_research.notebook.RunContext.engine_connection`) and writes the running query's
progress beside the notebook's run metadata, ``meta/<notebook>.progress.json``
(:func:`progress_path`); the file is removed when no query runs. The runner's heartbeat reads
it (:func:`read_progress`) and adds "engine query 42% through its input" to its line when the
file is fresh (at most :data:`FRESH_S` seconds old). The percentage is DuckDB's own estimate of
how much of the query's input it has read (``DuckDBPyConnection.query_progress``).

Only DuckDB tells: Spark and pandas notebooks get no poller and no file. A notebook run by hand
(JupyterLab, outside the runner) writes nothing either: no one reads the file there. Nothing of
this reaches tables, reports or the manifest (the runner removes every progress file when the
run ends), so it cannot change a result.

DuckDB inside a Jupyter kernel without the ``ipywidgets`` package refuses to track progress on
the connections it opens (``SET enable_progress_bar`` fails: "required package 'ipywidgets' is
missing, which is needed to render progress bars in Jupyter"). :func:`open_with_progress` then
runs the notebook's queries on a cursor of that connection (``DuckDBPyConnection.cursor()``: the
same database, hence the same threads, memory limit and spill folder, wrapped by
``ibis.duckdb.from_connection``), which DuckDB lets track progress; DuckDB's own progress
printing stays off. Results do not depend on it (measured: 200M-row aggregations took the same
time with progress tracking on and off; the demo's journey tables are byte-identical to the
pandas engine's).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crm_research import paths

__all__ = ["POLL_S", "FRESH_S", "SUFFIX", "progress_path", "under_runner", "open_with_progress",
           "enable_query_progress", "QueryProgressPoller", "read_progress", "describe", "remove_progress_files"]

POLL_S = 2.0
"""Seconds between two looks at the running query's progress."""

FRESH_S = 10.0
"""A progress file older than this (seconds) is ignored: its kernel is no longer polling."""

SUFFIX = ".progress.json"
"""Ending of a notebook's progress file in the run folder's ``meta/`` (``03_journey.progress.json``)."""


def progress_path(meta_path: str | os.PathLike) -> Path:
    """The progress file of a notebook: its run metadata ``meta/<notebook>.json`` with the ending
    :data:`SUFFIX` (``meta/<notebook>.progress.json``)."""
    meta_path = Path(meta_path)
    return meta_path.with_name(meta_path.stem + SUFFIX)


def under_runner() -> bool:
    """Whether this process is a kernel the runner started (it hands every kernel its snapshot
    folder in ``$CRM_RESEARCH_SNAPSHOT``; a notebook run by hand has none)."""
    from crm_research.run.snapshot import ENV_SNAPSHOT

    return bool(os.environ.get(ENV_SNAPSHOT))


def _raw_duckdb(con: Any) -> Any:
    """The ``duckdb.DuckDBPyConnection`` of an Ibis DuckDB backend (or the connection itself), or
    None for any other backend."""
    if con is None:
        return None
    if getattr(con, "name", None) == "duckdb":
        return getattr(con, "con", None)
    return con if type(con).__name__ == "DuckDBPyConnection" else None


def enable_query_progress(con: Any) -> bool:
    """Let a DuckDB connection track its queries' progress, without printing it.

    Parameters
    ----------
    con : ibis DuckDB backend or duckdb.DuckDBPyConnection
        Other backends (Spark, None for pandas) are left alone.

    Returns
    -------
    bool
        True when ``query_progress`` now reports a running query's percentage.
    """
    raw = _raw_duckdb(con)
    if raw is None:
        return False
    try:
        raw.execute("SET enable_progress_bar_print = false")
    except Exception:  # noqa: BLE001 - DuckDB refused (see the module notes): no progress then
        return False
    try:
        raw.execute("SET enable_progress_bar = true")
    except Exception:  # noqa: BLE001
        return False
    return True


def open_with_progress(open_: Callable[[], Any]) -> tuple[Any, bool]:
    """Open a connection with ``open_()`` so that DuckDB tracks its queries' progress.

    Parameters
    ----------
    open_ : callable
        Opens the backend (``lambda: engine.open_engine(...)``).

    Returns
    -------
    con : object
        What ``open_`` returned; or, when DuckDB refuses to track progress on it (a Jupyter
        kernel without ``ipywidgets``), an Ibis DuckDB backend on a cursor of it (the same
        database and settings; the first connection is kept alive with it).
    tracked : bool
        Whether ``con`` is DuckDB's and tracks progress (:func:`enable_query_progress`).
    """
    con = open_()
    if enable_query_progress(con):
        return con, True
    raw = _raw_duckdb(con)
    if raw is None or raw is con:
        return con, False
    try:
        import ibis

        cursor = raw.cursor()
        if not enable_query_progress(cursor):
            cursor.close()
            return con, False
        on_cursor = ibis.duckdb.from_connection(cursor)
    except Exception:  # noqa: BLE001 - the connection as opened, without progress
        return con, False
    on_cursor._crm_progress_parent = con  # the cursor's connection lives as long as it
    return on_cursor, True


def _percent(value: Any) -> float | None:
    try:
        p = float(value)
    except (TypeError, ValueError):
        return None
    return p if math.isfinite(p) and 0.0 <= p <= 100.0 else None


class QueryProgressPoller:
    """Write how far a DuckDB connection's running query is, every ``interval`` seconds.

    A daemon thread asks the connection for its query's progress (``query_progress``, callable
    while the query runs on the notebook's thread) and writes ``{"percent": ..., "time": ...}``
    (percent of the query's input read, 0 to 100; ``time`` in seconds since the epoch) to
    ``path`` atomically; when no query runs, the file is removed. The thread holds the
    connection weakly and ends when the connection is closed or gone, when :meth:`stop` is
    called, or when the process exits (the file is then removed). It never raises: a poll or a
    write that fails ends the thread quietly. DuckDB only; Spark and pandas have no poller.

    Parameters
    ----------
    con : ibis DuckDB backend or duckdb.DuckDBPyConnection
    path : path-like
        The progress file (:func:`progress_path`).
    interval : float
        Seconds between two polls (:data:`POLL_S`).

    Attributes
    ----------
    polls_ : int
        Polls made so far.
    written_ : int
        Progress files written so far.

    Examples
    --------
    >>> poller = QueryProgressPoller(con, "meta/03_journey.progress.json").start()  # doctest: +SKIP
    >>> poller.stop()  # doctest: +SKIP
    """

    def __init__(self, con: Any, path: str | os.PathLike, interval: float = POLL_S):
        raw = _raw_duckdb(con)
        if raw is None:
            raise TypeError(f"query progress needs a DuckDB connection, not {type(con).__name__}")
        self._raw = weakref.ref(raw)
        self.path = Path(path)
        self.interval = float(interval)
        self.polls_ = 0
        self.written_ = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._shown = False

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"QueryProgressPoller(path={str(self.path)!r}, interval={self.interval:g}, {state})"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> QueryProgressPoller:
        """Start polling (once); returns ``self``."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, daemon=True, name="crm-query-progress")
            self._thread.start()
            atexit.register(self.stop)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling and remove the progress file. Never raises."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._clear()
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def _clear(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)
        self._shown = False

    def _loop(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                raw = self._raw()
                if raw is None:
                    break
                try:
                    value = raw.query_progress()
                except Exception:  # noqa: BLE001 - closed connection: the notebook is done with it
                    break
                finally:
                    del raw
                self.polls_ += 1
                percent = _percent(value)
                if percent is None:
                    if self._shown:
                        self._clear()
                    continue
                if self._stop.is_set():
                    break
                paths.write_atomic(self.path, json.dumps({"percent": round(percent, 1),
                                                          "time": round(time.time(), 1)}) + "\n")
                self._shown = True
                self.written_ += 1
        except BaseException:  # noqa: BLE001 - never into the notebook (a full disk, interpreter exit)
            pass
        finally:
            self._clear()


def read_progress(path: str | os.PathLike | None, now: float | None = None,
                  fresh_s: float = FRESH_S) -> float | None:
    """The running query's percentage from a progress file, or None.

    Parameters
    ----------
    path : path-like or None
        The progress file (:func:`progress_path`).
    now : float, optional
        The time (seconds since the epoch); default now.
    fresh_s : float
        Files written longer ago than this (seconds), or later than ``now`` by as much, are
        ignored (their kernel stopped polling).

    Returns
    -------
    float or None
        Percent of the query's input read (0 to 100); None when there is no file or it is
        stale, unreadable, half-written or holds anything else.
    """
    if path is None:
        return None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        written = float(data["time"])
        percent = _percent(data["percent"])
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    now = time.time() if now is None else float(now)
    if not math.isfinite(written) or abs(now - written) > fresh_s:
        return None
    return percent


def describe(percent: float | None) -> str:
    """The heartbeat's words for a query's progress ("engine query 42% through its input"), or ""."""
    if percent is None:
        return ""
    return f"engine query {math.floor(percent):.0f}% through its input"


def remove_progress_files(meta_dir: str | os.PathLike) -> list[Path]:
    """Remove the progress files (and their half-written temporaries) of a run folder's ``meta/``.

    Returns
    -------
    list of Path
        The files removed.
    """
    meta_dir = Path(meta_dir)
    removed = []
    try:
        found = sorted([*meta_dir.glob(f"*{SUFFIX}"), *meta_dir.glob(f".*{SUFFIX}.*.tmp")])
    except OSError:
        return removed
    for f in found:
        with contextlib.suppress(OSError):
            f.unlink()
            removed.append(f)
    return removed
