"""The run's snapshot of the checked data: read by the notebooks instead of loading it again.

What it must never do: hold a personal column, sit in the run folder, outlive its run, or be used
for data it was not made from (another folder, a changed file, another mapping or as_of).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pyarrow.parquet as pq
import pytest

from crm_research import data, notebook, run
from crm_research.run import execute, snapshot

AS_OF = "2026-01-01"


@pytest.fixture(autouse=True)
def own_keys(monkeypatch, tmp_path):
    from crm_research import privacy

    monkeypatch.setenv(privacy.ENV_CONFIG_DIR, str(tmp_path / "config"))
    monkeypatch.delenv(privacy.ENV_KEY_NAME, raising=False)
    monkeypatch.delenv(snapshot.ENV_SNAPSHOT, raising=False)


@pytest.fixture(scope="module")
def loaded(small_company):
    return data.load(small_company, as_of=AS_OF)


@pytest.fixture
def kept(small_company, loaded, tmp_path):
    root = snapshot.create(tmp_path)
    key = snapshot.source_key(small_company, None, AS_OF)
    return root, snapshot.write(loaded, key, root)


def test_the_snapshot_gives_the_loaded_data_without_personal_columns(small_company, loaded, kept):
    root, slot = kept
    assert oct(root.stat().st_mode & 0o777) == "0o700"
    back, fingerprint = snapshot.read(small_company, None, AS_OF, root)
    assert fingerprint == loaded.fingerprint()  # the run records the data as loaded
    safe = loaded.without_pii()
    assert back.fingerprint() == safe.fingerprint() != fingerprint
    assert (back.source, back.derived, back.notes) == (safe.source, safe.derived, safe.notes)
    assert list(back.tables()) == list(safe.tables()) and len(back.tables()) == 9
    for name, frame in safe.tables().items():
        assert back[name].dtypes.equals(frame.dtypes), name
        assert back[name].equals(frame), name
    # no personal column in any file: names, e-mail addresses and phone numbers were in the data
    assert {"name", "email", "phone"} <= set(loaded.customers.columns)
    columns = pq.read_schema(slot / "customers.parquet").names
    assert "customer_id" in columns and not set(columns) & {"name", "email", "phone"}
    text = b"".join(f.read_bytes() for f in slot.iterdir())
    for value in loaded.customers["email"].dropna().head(50):
        assert value.encode() not in text


def test_a_snapshot_is_only_used_for_the_data_it_was_made_from(small_company, kept, tmp_path):
    root, slot = kept
    assert snapshot.read(small_company, None, AS_OF, root) is not None
    assert snapshot.read(small_company, None, "2025-12-31", root) is None  # another as_of
    assert snapshot.read(small_company, None, AS_OF, None) is None  # no snapshot given
    # a copy of the folder is another folder
    copy = Path(shutil.copytree(small_company, tmp_path / "copy"))
    assert snapshot.read(copy, None, AS_OF, root) is None
    # a mapping file that was not applied
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("tables: {}\n")
    assert snapshot.read(small_company, mapping, AS_OF, root) is None
    # its own file changed after it was written
    orders = slot / "orders.parquet"
    good = orders.read_bytes()
    orders.write_bytes(good[:-9] + b"x" + good[-8:])
    assert snapshot.read(small_company, None, AS_OF, root) is None
    orders.write_bytes(good)
    assert snapshot.read(small_company, None, AS_OF, root) is not None
    # a data file changed after the check: the notebook loads the data itself
    key = snapshot.source_key(copy, None, AS_OF)
    snapshot.write(data.load(copy, as_of=AS_OF), key, root)
    assert snapshot.read(copy, None, AS_OF, root) is not None
    (copy / "notes.txt").write_text("a file added to the data folder\n")
    assert snapshot.read(copy, None, AS_OF, root) is None
    assert snapshot.source_key("postgresql://u@localhost/crm", None, AS_OF) is None


def test_an_unreadable_file_in_the_folder_means_no_snapshot_not_an_error(small_company, kept, monkeypatch):
    # a stray file the kernel cannot read (or one that vanishes, an Office lock file): the
    # notebook loads the data itself, as without a runner, instead of failing
    root, _ = kept
    real = snapshot._sha256

    def unreadable(path, *args, **kwargs):
        if Path(path).name == "orders.parquet":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(snapshot, "_sha256", unreadable)
    assert snapshot.read(small_company, None, AS_OF, root) is None


def test_files_changed_while_the_check_loaded_them_are_not_kept(small_company, tmp_path, monkeypatch):
    # an export still being written: the key taken before the load no longer describes the files
    from crm_research.run import precheck

    copy = Path(shutil.copytree(small_company, tmp_path / "growing"))
    real_load = data.load

    def load_then_append(*args, **kwargs):
        out = real_load(*args, **kwargs)
        (copy / "notes.txt").write_text("written while the data was read\n")
        return out

    monkeypatch.setattr(data, "load", load_then_append)
    root = snapshot.create(tmp_path)
    plan = {"01": {"data_dir": str(copy), "as_of": AS_OF}}
    checked = precheck.check_data(plan, tmp_path, snapshot_root=root)
    assert "snapshot" not in next(iter(checked.values()))
    assert snapshot.read(copy, None, AS_OF, root) is None
    monkeypatch.setattr(data, "load", real_load)  # unchanged files: kept
    checked = precheck.check_data(plan, tmp_path, snapshot_root=root)
    assert "snapshot" in next(iter(checked.values()))
    assert snapshot.read(copy, None, AS_OF, root) is not None


def test_load_data_reads_the_snapshot_with_the_same_fingerprint_and_verdicts(small_company, loaded, kept, tmp_path,
                                                                            monkeypatch):
    root, _ = kept
    params = {"funnel_steps": ["site_visit", "product_view", "add_to_cart", "checkout_start", "purchase"],
              "friction_period": "W"}
    own = notebook.setup("03_journey", tmp_path / "own", 1)
    crm_own = own.load_data(small_company, AS_OF, **params)
    monkeypatch.setenv(snapshot.ENV_SNAPSHOT, str(root))

    def no_load(*_a, **_k):
        raise AssertionError("loaded the data again")

    monkeypatch.setattr(notebook, "_load", no_load)
    kept_run = notebook.setup("03_journey", tmp_path / "kept", 1)
    crm_kept = kept_run.load_data(small_company, AS_OF, **params)
    assert crm_kept.fingerprint() == crm_own.fingerprint()
    meta = [json.loads(r.meta_path.read_text()) for r in (own, kept_run)]
    assert meta[0]["data"] == meta[1]["data"] and meta[0]["data"]["fingerprint"] == loaded.fingerprint()
    assert meta[0]["data_notes"] == meta[1]["data_notes"]
    assert {k: (v.status, v.reason) for k, v in own._verdicts.items()} == \
        {k: (v.status, v.reason) for k, v in kept_run._verdicts.items()}
    assert len(own._verdicts) >= 5
    # the personal columns asked for: only a load has them
    with pytest.raises(AssertionError, match="loaded the data again"):
        kept_run.load_data(small_company, AS_OF, keep_pii=True)


def test_a_killed_runners_snapshot_is_removed_by_the_next_run(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = snapshot.create(tmp_path)
    (gone / "owner.json").write_text(json.dumps({"pid": int(dead.stdout), "host": os.uname().nodename}))
    alive = snapshot.create(tmp_path)
    assert snapshot.remove_stale(tmp_path) == [gone]
    assert not gone.exists() and alive.exists()


PROBE = """\
import json, os, pathlib, sys
from crm_research import notebook as nb
run = nb.setup('probe', run_dir, 1)
loads = []  # the kernel's own load of the data folder (the fork server imported the loader already)
own_load = nb._load
nb._load = lambda *args, **kwargs: loads.append(args) or own_load(*args, **kwargs)
crm = run.load_data(data_dir, as_of)
root = os.environ.get('CRM_RESEARCH_SNAPSHOT')
pathlib.Path(probe).write_text(json.dumps({
    'root': root, 'files': sorted(str(p.relative_to(root)) for p in pathlib.Path(root).rglob('*')),
    'loaded_again': bool(loads), 'columns': list(crm.customers.columns),
    'blas_threads': [i['num_threads'] for i in __import__('threadpoolctl').threadpool_info()
                     if i['user_api'] == 'blas']}))
"""


def _probe_notebook(folder: Path) -> Path:
    book = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('data_dir = None  # data\nas_of = "2026-01-01"  # date\n'
                                       'run_dir = None  # run folder\nprobe = ""  # where to write')
    params.metadata["tags"] = ["parameters"]
    book.cells = [nbformat.v4.new_markdown_cell("# Probe"), params, nbformat.v4.new_code_cell(PROBE)]
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "probe.ipynb"
    nbformat.write(book, path)
    return path


def test_a_run_hands_its_notebooks_the_snapshot_and_removes_it(small_company, loaded, tmp_path):
    probe = tmp_path / "probe.json"
    folder = run.run_notebooks([str(_probe_notebook(tmp_path))], data_dir=small_company, out_dir=tmp_path / "runs",
                               overrides=[("probe", str(probe))])
    seen = json.loads(probe.read_text())
    root = Path(seen["root"])
    assert root.name.startswith(snapshot.PREFIX) and folder not in root.parents and root not in folder.parents
    assert not root.exists()  # removed at the end of the run
    assert not seen["loaded_again"] and "email" not in seen["columns"]
    assert sum(f.endswith(".parquet") for f in seen["files"]) == 9
    assert seen["blas_threads"] and set(seen["blas_threads"]) == {1}  # kernels side by side: one thread each
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["data"]["fingerprint"] == loaded.fingerprint()
    assert "snapshot" not in manifest["data"] and str(root) not in (folder / "manifest.json").read_text()
    assert not [p for p in folder.rglob("*.parquet")]


def test_a_run_stopped_before_its_notebooks_removes_its_snapshot(small_company, tmp_path, monkeypatch):
    made = []

    def stop(*args):
        snap = next(a for a in args if isinstance(a, Path) and a.name.startswith(snapshot.PREFIX))
        made.append(snap)
        assert any(snap.rglob("*.parquet"))
        raise KeyboardInterrupt  # Ctrl-C before the signal handlers are in place

    monkeypatch.setattr(execute, "_checked_run", stop)
    with pytest.raises(KeyboardInterrupt):
        run.run_notebooks([str(_probe_notebook(tmp_path))], data_dir=small_company, out_dir=tmp_path / "runs")
    assert made and not made[0].exists()


def test_engine_notebooks_get_an_engine_snapshot_with_the_same_verdicts(small_company, tmp_path, monkeypatch):
    # a plan whose notebook reads the data on DuckDB: the runner loads and checks it there, in place
    from crm_research import engine
    from crm_research.run import precheck

    root = snapshot.create(tmp_path)
    plan = {"03": {"data_dir": str(small_company), "as_of": AS_OF, "engine": "duckdb"}}
    checked = precheck.check_data(plan, tmp_path, snapshot_root=root, memory_limit="512MB")
    entry = next(iter(checked.values()))
    index = json.loads((entry["snapshot"] / "snapshot.json").read_text())
    assert index["form"] == "engine" and index["in_memory"] is None
    assert snapshot.read(small_company, None, AS_OF, root) is None  # a pandas notebook loads itself
    con = engine.open_engine("duckdb")
    back, fingerprint = snapshot.read(small_company, None, AS_OF, root, con=con)
    assert back.is_lazy and fingerprint == entry["fingerprint"] == back.fingerprint()
    assert "email" not in back.customers.columns
    assert int(back.events.count().execute()) == len(data.load(small_company, as_of=AS_OF).events)

    params = {"funnel_steps": ["site_visit", "product_view", "add_to_cart", "checkout_start", "purchase"],
              "friction_period": "W"}
    own = notebook.setup("03_journey", tmp_path / "own", 1)
    own.load_data(small_company, AS_OF, **params)
    monkeypatch.setenv(snapshot.ENV_SNAPSHOT, str(root))
    monkeypatch.setattr(notebook, "_load", lambda *_a, **_k: pytest.fail("loaded the data again"))
    kept_run = notebook.setup("03_journey", tmp_path / "kept", 1)
    crm = kept_run.load_data(small_company, AS_OF, engine="duckdb", **params)
    assert crm.is_lazy
    meta = [json.loads(r.meta_path.read_text()) for r in (own, kept_run)]
    assert meta[0]["data_notes"] == meta[1]["data_notes"]
    assert {k: (v.status, v.reason) for k, v in own._verdicts.items()} == \
        {k: (v.status, v.reason) for k, v in kept_run._verdicts.items()}
    spill = kept_run.engine_connection("duckdb").raw_sql("select current_setting('temp_directory')").fetchone()[0]
    assert spill == str(tmp_path / "kept" / ".spill" / "03_journey")
