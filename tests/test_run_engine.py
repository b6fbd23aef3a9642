"""The runner's engine options: --engine and --memory checked up front, the heartbeat naming the
section a long notebook is in."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from crm_research.errors import ParameterError
from crm_research.run import execute


def test_memory_and_engine_are_checked_before_anything_runs(tmp_path):
    assert execute._check_memory(" 512MB ") == "512MB"
    assert execute._check_memory("2GiB") == "2GiB"
    for bad in ("1G", "lots", "-1GB"):
        with pytest.raises(ParameterError, match="give an amount with its unit"):
            execute._check_memory(bad)
    with pytest.raises(ParameterError, match="engine='duck' is not supported"):
        execute.run_notebooks(["01"], engine="duck", out_dir=tmp_path)
    assert not any(tmp_path.iterdir())  # nothing made


def test_the_heartbeat_names_the_section_the_notebook_is_in(tmp_path, monkeypatch):
    monkeypatch.setattr(execute, "HEARTBEAT_S", 0.05)
    meta = tmp_path / "03_journey.json"
    lines: list[str] = []
    stop = threading.Event()
    beat = threading.Thread(target=execute._heartbeat, args=("03_journey", 0.0, lines.append, stop, meta))
    beat.start()
    try:
        while len(lines) < 2:
            stop.wait(0.01)
        meta.write_text(json.dumps({"sections": [{"key": "events", "title": "The event log"},
                                                 {"key": "friction", "title": "Where visitors get stuck"}]}))
        while not any("section" in line for line in lines):
            stop.wait(0.01)
    finally:
        stop.set()
        beat.join()
    assert "still running" in lines[0] and "section" not in lines[0]  # no metadata yet
    named = next(line for line in lines if "section" in line)
    assert "in section 'Where visitors get stuck' for at least" in named


def test_spill_folders_of_dead_runners_are_removed_and_live_ones_kept(tmp_path):
    import os

    from crm_research.run import lifecycle

    def run_folder(name: str, **manifest) -> Path:
        folder = tmp_path / name
        (folder / execute.SPILL / "03_journey").mkdir(parents=True)
        (folder / execute.SPILL / "03_journey" / "duckdb_temp_block-1.block").write_bytes(b"rows")
        (folder / "manifest.json").write_text(json.dumps(manifest))
        return folder

    host = lifecycle.host_name()
    killed = run_folder("run-1", status="running", host=host, pid=2 ** 22 + 17)  # no such process
    ended = run_folder("run-2", status="ok", host=host, pid=os.getpid())
    live = run_folder("run-3", status="running", host=host, pid=os.getpid())
    elsewhere = run_folder("run-4", status="running", host="another-host", pid=1)
    removed = execute.remove_stale_spills(tmp_path)
    assert removed == [killed / execute.SPILL, ended / execute.SPILL]
    assert (live / execute.SPILL).is_dir() and (elsewhere / execute.SPILL).is_dir()
    assert (killed / "manifest.json").is_file()  # only the spill goes
