"""Safe to hand over (issue 14): the key stays home, runs stop cleanly, writes are atomic, user
errors are one line, and the data is checked before any kernel starts.

Stand-in notebooks only (a few cells each, some sleeping): the five real notebooks are tested
in test_notebooks.py. Signals go to a real ``crm-research run`` subprocess.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from crm_research import cli, paths, privacy, run
from crm_research.run import lifecycle

# --- helpers -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def own_keys(monkeypatch, tmp_path):
    """Named keys in this test's configuration folder, never the user's; no key in the env."""
    config = tmp_path / "config"
    monkeypatch.setenv(privacy.ENV_CONFIG_DIR, str(config))
    monkeypatch.delenv(privacy.ENV_KEY_NAME, raising=False)
    monkeypatch.delenv(privacy.ENV_KEY, raising=False)
    return config


@pytest.fixture
def no_kernel(monkeypatch):
    import papermill

    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: pytest.fail("a kernel started"))
    # nor is one started ahead: data that fails its check costs no kernel
    monkeypatch.setattr(lifecycle.Kernels, "prestart", lambda *a, **k: pytest.fail("a kernel was pre-started"))


def _nb(path: Path, params: str, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# Stand-in {path.stem}"), p,
                *[nbformat.v4.new_code_cell(c) for c in cells]]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def _sleeper(folder: Path, stem: str) -> Path:
    """Writes its kernel's pid and key name into the run folder, then sleeps two minutes."""
    return _nb(folder / f"{stem}.ipynb", "run_dir = None  # run folder",
               "import os, pathlib, time\n"
               f"pathlib.Path(run_dir, 'pid-{stem}').write_text(\n"
               "    f\"{os.getpid()} {os.environ.get('CRM_RESEARCH_KEY_NAME')}\")",
               "time.sleep(120)")


def _start(args: list[str], config: Path) -> subprocess.Popen:
    env = {**os.environ, privacy.ENV_CONFIG_DIR: str(config)}
    env.pop(privacy.ENV_KEY, None)
    # as from a terminal: SIGINT handled even when this process ignores it (a background CI job
    # does: the runner, like nohup, keeps an ignored signal ignored)
    cli_main = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                "sys.argv = ['crm-research', *sys.argv[1:]]; runpy.run_module('crm_research.cli', run_name='__main__')")
    return subprocess.Popen([sys.executable, "-c", cli_main, *args], cwd=paths.project_root(),
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _wait_for(pattern: str, out: Path, n: int, proc: subprocess.Popen, timeout: float = 90) -> list[Path]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = sorted(out.glob(pattern))
        if len(found) >= n and all(f.stat().st_size for f in found):
            return found
        if proc.poll() is not None:
            pytest.fail(f"the run ended early: {proc.communicate()}")
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"no {pattern} after {timeout} s: {proc.communicate()}")


def _gone(pid: int, timeout: float = 10) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not lifecycle.pid_alive(pid):
            return True
        time.sleep(0.2)
    return False


def _one_line(err: str) -> str:
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    return err.strip()


# --- runs that stop cleanly ----------------------------------------------------------------


@pytest.mark.parametrize(("sig", "jobs", "code"), [(signal.SIGINT, 1, 130), (signal.SIGTERM, 2, 143)])
def test_a_signal_stops_the_run_within_seconds(tmp_path, own_keys, capsys, sig, jobs, code):
    nbs = [str(_sleeper(tmp_path, s)) for s in ("a_sleep", "b_sleep", "c_sleep")]
    out = tmp_path / "runs"
    proc = _start(["run", *nbs, "--out", str(out), "-j", str(jobs), "--key", "acme"], own_keys)
    pid_files = _wait_for("run-*/pid-*", out, jobs, proc)
    t0 = time.monotonic()
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    elapsed = time.monotonic() - t0
    assert proc.returncode == code, (stdout, stderr)
    assert elapsed < 10, elapsed
    line = _one_line(stderr)
    folder = pid_files[0].parent
    assert line.startswith(f"error: run interrupted ({sig.name}): 0 of 3 notebooks finished, {jobs} "
                           f"stopped part way, {3 - jobs} not started") and line.endswith(str(folder))
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["ended"] is not None
    assert manifest["stopped"]["signal"] == sig.name and manifest["stopped"]["seconds_to_stop"] < 10
    assert [m["status"] for m in manifest["notebooks"]] == ["interrupted"] * jobs + ["skipped"] * (3 - jobs)
    assert manifest["pid"] == proc.pid and manifest["host"] == lifecycle.host_name()
    assert "tables are partial" in (folder / "INCOMPLETE").read_text()
    index = (folder / "index.html").read_text()
    assert 'status-interrupted">interrupted' in index and index.count(">interrupted") >= 1 + jobs
    # the kernels are shut down, and they got the engagement's key name from the runner
    for f in pid_files:
        pid, name = f.read_text().split()
        assert name == "acme"
        assert _gone(int(pid)), f"kernel {pid} still running"
    assert not list(folder.rglob("*.tmp"))
    # compare refuses the interrupted run, unless asked
    assert cli.main(["compare", str(folder), str(folder)]) == 2
    err = _one_line(capsys.readouterr().err)
    assert f"run {folder.name} was interrupted by {sig.name}" in err and "--allow-incomplete" in err
    assert cli.main(["compare", str(folder), str(folder), "--allow-incomplete"]) == 0
    assert "**Incomplete.** Run" in capsys.readouterr().out


def test_a_killed_run_is_stale_and_compare_refuses_it(tmp_path, own_keys, capsys):
    nb = str(_sleeper(tmp_path, "a_sleep"))
    out = tmp_path / "runs"
    proc = _start(["run", nb, "--out", str(out), "-j", "1"], own_keys)
    pid_file = _wait_for("run-*/pid-*", out, 1, proc)[0]
    proc.kill()
    proc.communicate(timeout=30)
    folder = pid_file.parent
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "running" and manifest["heartbeat"]
    state, why = lifecycle.run_state(manifest)
    assert state == "stale" and f"pid {proc.pid}" in why and "is gone" in why
    assert cli.main(["compare", str(folder), str(folder)]) == 2
    assert "says 'running' but its process" in _one_line(capsys.readouterr().err)
    assert cli.main(["compare", str(folder), str(folder), "--allow-incomplete"]) == 0
    assert _gone(int(pid_file.read_text().split()[0]), 15)  # the orphaned kernel ends by itself


def test_run_states_from_manifests():
    now = lifecycle.datetime.now().astimezone().isoformat(timespec="seconds")
    me = {"status": "running", "pid": os.getpid(), "host": lifecycle.host_name(), "heartbeat": now}
    assert lifecycle.run_state(me)[0] == "running"
    old = "2020-01-01T00:00:00+00:00"
    assert lifecycle.run_state({**me, "heartbeat": old})[0] == "stale"  # alive but silent
    assert lifecycle.run_state({**me, "host": "elsewhere"})[0] == "running"
    assert lifecycle.run_state({**me, "host": "elsewhere", "heartbeat": old})[0] == "stale"
    assert lifecycle.run_state({"status": "running", "started": now})[0] == "stale"  # an older runner's
    assert lifecycle.run_state({"status": "ok"}) == ("ok", "")
    failed = {"status": "failed", "notebooks": [{"name": "a", "status": "failed"}, {"name": "b", "status": "ok"}]}
    assert lifecycle.run_state(failed) == ("failed", "failed: 1 of 2 notebooks stopped part way (a), so "
                                                     "their tables are partial")
    assert lifecycle.run_state(None)[0] == "unknown"


def test_compare_refuses_failed_and_manifestless_runs(tmp_path, capsys):
    for name, manifest in (("failed", {"status": "failed", "notebooks": [{"name": "x", "status": "failed"}]}),
                           ("bare", None)):
        folder = tmp_path / name
        (folder / "tables").mkdir(parents=True)
        if manifest:
            (folder / "manifest.json").write_text(json.dumps(manifest))
        assert cli.main(["compare", str(folder), str(folder)]) == 2
        err = _one_line(capsys.readouterr().err)
        assert f"run {name} " in err and "--allow-incomplete" in err


# --- key custody ---------------------------------------------------------------------------


AT_RISK = """import pandas as pd, pathlib
from crm_research import notebook as nb
run = nb.setup('at_risk', run_dir, 1)
customers = pd.read_parquet(pathlib.Path(data_dir) / 'customers.parquet')
top = customers.sort_values('customer_id').head(40)
table = pd.DataFrame({'customer_id': top['customer_id'].astype(str), 'risk': [round(1 - i / 100, 2) for i in range(40)],
                      'rank': range(1, 41)})
run.save_table(table, 'churn_at_risk_list')"""


def test_the_key_stays_home_and_reidentify_maps_back(tmp_path, own_keys, small_company, capsys, monkeypatch):
    nb = _nb(tmp_path / "at_risk.ipynb", 'data_dir = None  # data\nas_of = "2026-01-01"  # date\n'
                                         'run_dir = None  # run folder', AT_RISK)
    folders = {}
    for label, key in (("a", "acme"), ("b", "beta"), ("a2", "acme")):
        folders[label] = run.run_notebooks([str(nb)], data_dir=small_company, out_dir=tmp_path / label, key=key)
    tables = {k: (f / "tables" / "churn_at_risk_list.csv").read_bytes() for k, f in folders.items()}
    assert tables["a"] == tables["a2"]  # same key name, same pseudonyms
    a, b = (pd.read_csv(f / "tables" / "churn_at_risk_list.csv") for f in (folders["a"], folders["b"]))
    assert a["customer_id"].str.startswith("c_").all() and set(a["customer_id"]).isdisjoint(b["customer_id"])
    assert (a["risk"] == b["risk"]).all()

    # no file of a run folder holds the key, or anything made from it but the fingerprint
    keys = {name: privacy.load_key(name, create=False) for name in ("acme", "beta")}
    assert sorted(p.name for p in (own_keys / "keys").iterdir()) == ["acme", "beta"]
    for label, folder in folders.items():
        key = keys["beta" if label == "b" else "acme"]
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["pseudonym_key"] == {"name": "beta" if label == "b" else "acme", "source": "config",
                                             "fingerprint": privacy.fingerprint(key),
                                             "key_id": privacy.fingerprint(key)}
        derived = {key, key.upper(), hashlib.sha256(key.encode()).hexdigest(),
                   hashlib.sha256(b"crm-research key id:" + key.encode()).hexdigest()[:12]}
        files = [p for p in folder.rglob("*") if p.is_file()]
        assert files and not (folder / "private").exists()
        for p in files:
            data = p.read_bytes()
            assert "key" not in p.name.lower(), p
            for secret in derived:
                assert secret.encode() not in data, (p, secret)
            if p.name != "manifest.json":
                assert privacy.fingerprint(key).encode() not in data, p

    # reidentify on the consultant's machine: the run's data folder and key name by default
    table = folders["a"] / "tables" / "churn_at_risk_list.csv"
    truth = pd.read_parquet(small_company / "customers.parquet").sort_values("customer_id").head(40)
    # real ids never go into the report folder: not by default, not by --out
    assert cli.main(["reidentify", str(table), "--out", str(table.parent)]) == 2
    assert "inside the run folder" in _one_line(capsys.readouterr().err)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["reidentify", str(table)]) == 0
    assert "customer_id 40 of 40 pseudonyms mapped back" in capsys.readouterr().out
    mapped = tmp_path / "churn_at_risk_list.reidentified.csv"  # in the current folder
    assert not list(folders["a"].rglob("*reidentified*"))
    back = pd.read_csv(mapped, dtype=str)
    assert back["customer_id"].tolist() == truth["customer_id"].astype(str).tolist()
    assert back["customer_id_pseudonym"].tolist() == a["customer_id"].tolist()
    assert back["risk"].tolist() == pd.read_csv(table, dtype=str)["risk"].tolist()  # untouched text
    assert (mapped.stat().st_mode & 0o077) == 0
    # from a list of ids, to a file of one's choice
    ids = tmp_path / "ids.csv"
    pd.DataFrame({"id": truth["customer_id"].astype(str)}).to_csv(ids, index=False)
    assert cli.main(["reidentify", str(table), "--key", "acme", "--ids", str(ids),
                     "--out", str(tmp_path / "mine.csv")]) == 0
    capsys.readouterr()
    assert pd.read_csv(tmp_path / "mine.csv", dtype=str)["customer_id"].tolist() == back["customer_id"].tolist()
    # the wrong key, a key this machine does not have: one line, nothing written, no key created
    for args, message in (
        (["--key", "beta"], "was pseudonymised with key 'acme' (fingerprint"),
        (["--key", "gamma"], "no key named 'gamma'"),
        (["--key", "acme", "--data", str(tmp_path / "nowhere")], "does not exist"),
    ):
        assert cli.main(["reidentify", str(table), *args, "--out", str(tmp_path / "x.csv")]) == 2
        assert message in _one_line(capsys.readouterr().err), args
    assert not (tmp_path / "x.csv").exists() and not (own_keys / "keys" / "gamma").exists()


# --- atomic writes and one-line errors -----------------------------------------------------


def _enospc(monkeypatch, when=lambda path: True):
    real = Path.write_bytes

    def full(self, data):
        if when(self):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)


def test_atomic_write_leaves_the_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "manifest.json"
    paths.write_atomic(target, "old\n")
    assert target.read_text() == "old\n" and (target.stat().st_mode & 0o777) == 0o666 & ~paths._UMASK
    _enospc(monkeypatch)
    with pytest.raises(OSError, match="No space left"):
        paths.write_atomic(target, "new\n")
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_a_full_disk_at_the_start_leaves_nothing(tmp_path, monkeypatch, capsys, no_kernel):
    nb = _nb(tmp_path / "x.ipynb", "run_dir = None  # run folder", "pass")
    _enospc(monkeypatch)
    assert cli.main(["run", str(nb), "--out", str(tmp_path / "runs")]) == 2
    err = _one_line(capsys.readouterr().err)
    assert err.startswith("error: cannot write the run folder ") and "No space left on device" in err
    assert list((tmp_path / "runs").iterdir()) == []  # no run folder, no manifest.json.tmp


def test_a_full_disk_mid_run_aborts_and_marks_the_folder(tmp_path, monkeypatch, capsys):
    first = _nb(tmp_path / "first.ipynb", "run_dir = None  # run folder", "x = 1")
    second = _nb(tmp_path / "second.ipynb", "run_dir = None  # run folder", "x = 2")
    _enospc(monkeypatch, lambda p: p.name.startswith(".first.html."))  # its report cannot be written
    assert cli.main(["run", str(first), str(second), "--out", str(tmp_path / "runs"), "-j", "1"]) == 2
    err = _one_line(capsys.readouterr().err)
    assert err.startswith("error: run aborted (No space left on device") and "tables are partial" in err
    folder = next((tmp_path / "runs").iterdir())
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "aborted" and manifest["ended"]
    assert [m["status"] for m in manifest["notebooks"]] == ["interrupted", "skipped"]
    assert (folder / "INCOMPLETE").exists() and "aborted" in (folder / "index.html").read_text()
    assert not list(folder.rglob("*.tmp")) and not list(folder.glob(".*"))


@pytest.mark.parametrize("case", ["file", "root", "under_a_file", "read_only"])
def test_bad_out_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys, no_kernel, case):
    nb = _nb(tmp_path / "x.ipynb", "run_dir = None  # run folder", "pass")
    before = set(os.listdir("/"))
    out = {"file": tmp_path / "a_file", "root": Path("/"), "under_a_file": tmp_path / "a_file" / "sub",
           "read_only": tmp_path / "ro" / "runs"}[case]
    (tmp_path / "a_file").write_text("x")
    if case == "read_only":
        real = Path.mkdir

        def refuse(self, *a, **k):
            if str(self).startswith(str(tmp_path / "ro")):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
            return real(self, *a, **k)

        monkeypatch.setattr(Path, "mkdir", refuse)
    assert cli.main(["run", str(nb), "--out", str(out)]) == 2
    err = _one_line(capsys.readouterr().err)
    assert {"file": "is a file, not a folder", "root": "filesystem root", "under_a_file": "is a file",
            "read_only": "Read-only file system"}[case] in err
    assert set(os.listdir("/")) == before
    assert {p.name for p in tmp_path.iterdir()} - {"config"} == {"a_file", "x.ipynb"}


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out_folder(tmp_path, capsys, no_kernel):
    nb = _nb(tmp_path / "x.ipynb", "run_dir = None  # run folder", "pass")
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    try:
        assert cli.main(["run", str(nb), "--out", str(ro)]) == 2
        assert "Permission denied" in _one_line(capsys.readouterr().err)
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


@pytest.mark.parametrize(("args", "message"), [
    (["synth", "--customers", "50", "--out", "{a_file}"], "is a file, not a folder"),
    (["synth", "--customers", "50", "--out", "{a_file}/sub"], "cannot write the company to"),
    (["validate", "{data}", "--as-of", "junk"], "as_of='junk' is not a date"),
    (["validate", "{data}", "--company-start", "junk"], "--company-start 'junk' is not a date"),
])
def test_user_errors_are_one_line_exit_2(tmp_path, capsys, args, message):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "data").mkdir()
    argv = [a.format(a_file=tmp_path / "a_file", data=tmp_path / "data") for a in args]
    assert cli.main(argv) == 2
    assert message in _one_line(capsys.readouterr().err)
    assert (tmp_path / "a_file").read_text() == "x"
    assert {p.name for p in tmp_path.iterdir()} - {"config"} == {"a_file", "data"}


# --- the data, checked before the run folder and any kernel -----------------------------------


DATED = 'data_dir = None  # data\nas_of = "2026-01-01"  # date\nrun_dir = None  # run folder'


@pytest.mark.parametrize(("as_of", "message"), [
    ("2099-01-01", r"error: as_of=2099-01-01 is 73.0 years after the data's last date "
                   r"\(\w+\.\w+ 2025-12-31\) in .*: give a date at most 365 days after it"),
    ("2020-01-01", r"error: as_of=2020-01-01 is on or before the data's first date "
                   r"\(orders.ordered_at 2024-01-\d\d\) in .*: nothing would be analysed"),
])
def test_as_of_outside_the_data_is_refused_before_the_run(tmp_path, capsys, no_kernel, small_company,
                                                          as_of, message):
    nb = _nb(tmp_path / "dated.ipynb", DATED, "pass")
    t0 = time.monotonic()
    assert cli.main(["run", str(nb), "--data", str(small_company), "-p", "as_of", as_of,
                     "--out", str(tmp_path / "runs")]) == 2
    assert time.monotonic() - t0 < 10
    assert re.match(message, _one_line(capsys.readouterr().err))
    assert not (tmp_path / "runs").exists()


def test_data_problems_go_to_a_file_and_a_short_summary(tmp_path, capsys, no_kernel):
    data = tmp_path / "acme"
    data.mkdir()
    (data / "orders.csv").write_text("customer_id,ordered_at,amount,order_id\nC1,2025-01-01,10,O1\n"
                                     "C2,notadate,5,O2\nC3,2025-02-01,-3,O2\nC4,2025-03-01,abc,O4\n")
    (data / "mapping.yaml").write_text("tables:\n  orders:\n    columns: {price: amount}\n")
    nb = _nb(tmp_path / "dated.ipynb", DATED, "pass")
    out = tmp_path / "runs"
    assert cli.main(["run", str(nb), "--data", str(data), "-p", "as_of", "2025-06-01", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    report = next(out.glob("validation-*.txt"))
    assert lines[0] == f"error: {data}: 5 data problems found; the full list is in {report}"
    assert lines[1] == "  orders: 5 (duplicate_key 1, missing_column 1, out_of_range 1, unparseable_date 1, wrong_type 1)"
    assert len(lines) <= 4
    text = report.read_text()
    assert text.startswith(f"data folder: {data}\nmapping: {data / 'mapping.yaml'}\nas_of: 2025-06-01\n")
    for check in ("missing_column", "renames 'price' to 'amount'", "duplicate_key", "unparseable_date",
                  "out_of_range", "wrong_type", "line 3: 'notadate'"):
        assert check in text, check
    assert [p.name for p in out.iterdir()] == [report.name]  # no run folder


def test_prestarted_kernels_are_handed_out_once_and_the_rest_are_killed(tmp_path):
    """The runner starts the first notebooks' kernels while it checks the data: the first
    notebook gets a kernel already running (no second start), with the run's environment; one
    no notebook took is killed and reaped, and so is every kernel once the run is stopped."""
    kernels = lifecycle.Kernels({"CRM_TEST_MARK": "warm"})
    from crm_research.run.execute import KERNEL_ARGUMENTS

    kernels.prestart(2, "python3", str(tmp_path), KERNEL_ARGUMENTS, imports="import json")
    cls, warm = kernels.take()
    km = cls(kernel_name="python3")
    assert km is warm and km.has_kernel  # nbclient skips its own start
    pid = km.provisioner.pid
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert b"CRM_TEST_MARK=warm" in environ and b"OMP_NUM_THREADS=1" not in environ  # only what the run gives
    other = kernels._warm[0].provisioner.pid
    kernels.discard_warm()
    deadline = time.monotonic() + 10
    while lifecycle.pid_alive(other) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not lifecycle.pid_alive(other)
    assert lifecycle.pid_alive(pid)  # the one handed out belongs to its notebook now
    assert kernels.take() == (kernels.manager_class(), None)  # none left: the next starts its own
    kernels.release(km)  # the notebook failed before nbclient used its kernel
    assert not lifecycle.pid_alive(pid)


def test_a_prestarted_kernel_that_died_is_not_handed_out(tmp_path):
    kernels = lifecycle.Kernels({})
    from crm_research.run.execute import KERNEL_ARGUMENTS

    kernels.prestart(1, "python3", str(tmp_path), KERNEL_ARGUMENTS, imports="import json")
    kernels._warming.join()
    dead = kernels._warm[0]
    os.kill(dead.provisioner.pid, signal.SIGKILL)
    dead.provisioner.process.wait(10)
    assert kernels.take() == (kernels.manager_class(), None)
