"""Progress of long engine queries in the runner's heartbeat: the kernel's poller writes how far a
running DuckDB query is, the heartbeat shows it while it is fresh (no kernel here)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from crm_research import engine as eng
from crm_research.run import execute
from crm_research.run import progress as qp
from crm_research.run.snapshot import ENV_SNAPSHOT

# one thread: ~1-2 s on this machine's cores; long enough for tens of polls 0.02 s apart
LONG_QUERY = "SELECT sum(i * i % 7) FROM range(80000000) t(i)"


def _watch(path, seen: list, stop: threading.Event) -> None:
    """What the heartbeat would read, as often as it can."""
    while not stop.is_set():
        p = qp.read_progress(path)
        if p is not None:
            seen.append(p)
        stop.wait(0.01)


def test_the_poller_writes_a_long_querys_percentage_and_stops_cleanly(tmp_path):
    con = eng.open_engine("duckdb", memory_limit="512MB")  # the notebooks' own connection
    assert qp.enable_query_progress(con)
    raw = con.con
    assert raw.execute("SELECT current_setting('enable_progress_bar_print')").fetchone() == (False,)
    path = qp.progress_path(tmp_path / "meta" / "03_journey.json")
    assert path == tmp_path / "meta" / "03_journey.progress.json"
    path.parent.mkdir()  # the run folder's meta/, made by nb.setup
    poller = qp.QueryProgressPoller(con, path, interval=0.02).start()
    seen: list[float] = []
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(path, seen, stop))
    watcher.start()
    try:
        t0 = time.perf_counter()
        # squares mod 7 repeat 0,1,4,2,2,4,1 (14 per 7): 11,428,571 * 14 + 0+1+4; progress changes no result
        assert raw.execute(LONG_QUERY).fetchall() == [(159999999,)]  # fetched: the query ends
        took = time.perf_counter() - t0
        deadline = time.monotonic() + 5
        while path.exists() and time.monotonic() < deadline:  # no query runs: the file goes
            time.sleep(0.01)
        assert not path.exists()
    finally:
        stop.set()
        watcher.join()
    assert poller.running and poller.polls_ > 0
    assert len(seen) >= 3, f"{len(seen)} readings in a {took:.2f} s query"
    assert all(0.0 <= p <= 100.0 for p in seen)
    assert min(seen) < 50.0 < max(seen)  # seen early and late in the query
    assert seen == sorted(seen)  # one pipeline: the input is read front to back
    poller.stop()
    assert not poller.running and not path.exists()
    assert "stopped" in repr(poller)


def test_the_poller_ends_when_the_connection_closes(tmp_path):
    import duckdb

    raw = duckdb.connect(config={"threads": 1})
    assert qp.enable_query_progress(raw)
    path = tmp_path / "01_baseline.progress.json"
    poller = qp.QueryProgressPoller(raw, path, interval=0.02).start()
    raw.close()
    deadline = time.monotonic() + 5
    while poller.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not poller.running and not path.exists()
    with pytest.raises(TypeError, match="needs a DuckDB connection"):
        qp.QueryProgressPoller(None, path)
    assert not qp.enable_query_progress(None)  # pandas: nothing


def test_a_fresh_progress_file_is_shown_and_a_stale_or_broken_one_ignored(tmp_path):
    path = tmp_path / "03_journey.progress.json"
    now = 1_800_000_000.0
    assert qp.read_progress(path, now=now) is None  # no file
    path.write_text(json.dumps({"percent": 42.7, "time": now - 2}))
    assert qp.read_progress(path, now=now) == 42.7
    line = execute._heartbeat_line("03_journey", 150.4, "Where visitors get stuck", 60.2, 42.7)
    assert line == ("  03_journey: still running (150 s; in section 'Where visitors get stuck' for at "
                    "least 60 s; engine query 42% through its input)")
    assert execute._heartbeat_line("01_baseline", 31, None, 0, None) == "  01_baseline: still running (31 s)"
    assert execute._heartbeat_line("01_baseline", 31, None, 0, 99.9).endswith("(31 s; engine query 99% through its input)")
    for stale in ({"percent": 42.7, "time": now - qp.FRESH_S - 1},  # its kernel stopped polling
                  {"percent": 42.7, "time": now + qp.FRESH_S + 1},
                  {"percent": 142.0, "time": now}, {"percent": -1.0, "time": now},
                  {"percent": "NaN", "time": now}, {"percent": 42.7}, {"time": now}, [42.7, now]):
        path.write_text(json.dumps(stale))
        assert qp.read_progress(path, now=now) is None, stale
    for broken in ("", "{", '{"percent": 42.7, "time": ', "\x00\x01"):
        path.write_text(broken)
        assert qp.read_progress(path, now=now) is None, broken
    path.unlink()
    path.mkdir()  # not even a file
    assert qp.read_progress(path, now=now) is None
    assert qp.read_progress(None) is None


def test_the_heartbeat_adds_fresh_progress_and_removes_the_file_when_the_notebook_ends(tmp_path, monkeypatch):
    monkeypatch.setattr(execute, "HEARTBEAT_S", 0.05)
    meta = tmp_path / "meta" / "03_journey.json"
    meta.parent.mkdir()
    meta.write_text(json.dumps({"sections": [{"key": "friction", "title": "Where visitors get stuck"}]}))
    path = qp.progress_path(meta)
    path.write_text(json.dumps({"percent": 12.5, "time": time.time() - 3600}))  # a dead kernel's
    lines: list[str] = []
    stop = threading.Event()
    beat = threading.Thread(target=execute._heartbeat, args=("03_journey", time.perf_counter(), lines.append,
                                                              stop, meta))
    beat.start()
    try:
        while len(lines) < 2:
            stop.wait(0.01)
        assert not any("engine query" in line for line in lines)
        path.write_text(json.dumps({"percent": 42.0, "time": time.time()}))
        deadline = time.monotonic() + 5
        while not any("engine query" in line for line in lines) and time.monotonic() < deadline:
            stop.wait(0.01)
        path.write_text("{")  # half a file: the line goes on without it
        n = len(lines)
        while len(lines) < n + 2:
            stop.wait(0.01)
    finally:
        stop.set()
        beat.join()
    shown = [line for line in lines if "engine query" in line]
    assert shown and shown[0].endswith("in section 'Where visitors get stuck' for at least 0 s; "
                                       "engine query 42% through its input)")
    assert "engine query" not in lines[-1] and "Traceback" not in "".join(lines)
    assert not path.exists() and meta.exists()  # only the progress file goes


def test_a_finished_runs_meta_folder_keeps_no_progress_file(tmp_path):
    meta = tmp_path / "meta"
    meta.mkdir()
    for name in ("03_journey.json", "03_journey.outreach.json", "03_journey.progress.json",
                 ".03_journey.progress.json.k2j4.tmp", "05_churn.progress.json"):
        (meta / name).write_text("{}")
    removed = qp.remove_progress_files(meta)
    assert sorted(p.name for p in removed) == [".03_journey.progress.json.k2j4.tmp", "03_journey.progress.json",
                                               "05_churn.progress.json"]
    assert sorted(p.name for p in meta.iterdir()) == ["03_journey.json", "03_journey.outreach.json"]
    assert qp.remove_progress_files(tmp_path / "nowhere") == []


def test_only_the_runners_duckdb_kernels_poll(tmp_path, monkeypatch):
    from crm_research.notebook import RunContext

    monkeypatch.delenv(ENV_SNAPSHOT, raising=False)
    by_hand = RunContext(notebook="03_journey", run_dir=tmp_path / "hand")
    by_hand.engine_connection("duckdb")
    assert getattr(by_hand, "_progress", None) is None  # JupyterLab: nothing written
    assert by_hand.engine_connection("pandas") is None and by_hand._progress is None

    monkeypatch.setenv(ENV_SNAPSHOT, str(tmp_path / "snapshot"))
    ctx = RunContext(notebook="03_journey", run_dir=tmp_path / "run")
    con = ctx.engine_connection("duckdb")
    poller = ctx._progress
    assert poller is not None and poller.running
    assert poller.path == tmp_path / "run" / "meta" / "03_journey.progress.json"
    assert con.con.execute("SELECT current_setting('enable_progress_bar')").fetchone() == (True,)
    assert ctx.engine_connection("duckdb") is con and ctx._progress is poller  # opened once
    ctx.engine_connection("pandas")  # another engine: the poller of the old connection stops
    assert ctx._progress is None and not poller.running


def test_where_duckdb_refuses_progress_the_queries_run_on_a_cursor_with_the_same_settings(tmp_path, monkeypatch):
    # a Jupyter kernel without ipywidgets: DuckDB refuses the setting on the connection it opened
    con = eng.open_engine("duckdb", spill_dir=tmp_path / ".spill", memory_limit="256MB")
    first = con.con
    real = qp.enable_query_progress
    monkeypatch.setattr(qp, "enable_query_progress",
                        lambda c: False if c is first or getattr(c, "con", None) is first else real(c))
    on_cursor, tracked = qp.open_with_progress(lambda: con)
    assert tracked and on_cursor is not con and on_cursor.name == "duckdb" and on_cursor.con is not first

    def settings(raw) -> dict:
        return dict(raw.execute("SELECT name, value FROM duckdb_settings() WHERE name IN ('threads', "
                                "'memory_limit', 'temp_directory', 'TimeZone', 'enable_progress_bar', "
                                "'enable_progress_bar_print')").fetchall())

    mine, theirs = settings(on_cursor.con), settings(first)
    assert mine["enable_progress_bar"] == "true" and mine["enable_progress_bar_print"] == "false"
    for name in ("threads", "memory_limit", "temp_directory", "TimeZone"):  # the same database and session
        assert mine[name] == theirs[name], name
    assert mine["threads"] == "1" and mine["TimeZone"] == "UTC"
    import pandas as pd

    t = on_cursor.create_table("t", pd.DataFrame({"i": range(1000)}), temp=True)  # a temporary table
    assert eng.collect(t.aggregate(n=t.i.count(), s=t.i.sum())).to_dict("records") == [{"n": 1000, "s": 499500}]
    path = tmp_path / "02_segmentation.progress.json"
    poller = qp.QueryProgressPoller(on_cursor, path, interval=0.02).start()
    try:
        seen: list[float] = []
        stop = threading.Event()
        watcher = threading.Thread(target=_watch, args=(path, seen, stop))
        watcher.start()
        try:
            assert on_cursor.con.execute(LONG_QUERY).fetchall() == [(159999999,)]
        finally:
            stop.set()
            watcher.join()
        assert seen and all(0.0 <= p <= 100.0 for p in seen)
    finally:
        poller.stop()
    # a connection that is not DuckDB's, or one that refuses outright: opened as it is, untracked
    assert qp.open_with_progress(lambda: None) == (None, False)
    refused = duckdb_connection()
    monkeypatch.setattr(qp, "enable_query_progress", lambda c: False)
    assert qp.open_with_progress(lambda: refused) == (refused, False)


def duckdb_connection():
    import duckdb

    return duckdb.connect(config={"threads": 1})
