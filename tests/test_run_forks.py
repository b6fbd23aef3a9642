"""A run's kernels are forked from one process that imported the notebooks' libraries once
(:mod:`crm_research.run.forks`): each is still a kernel of its own, with an empty namespace,
the run's environment, inline figures, a session of its own; without a usable server the
kernels start the usual way."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from crm_research import paths, privacy, run
from crm_research.run import forks, lifecycle


@pytest.fixture(autouse=True)
def own_keys(monkeypatch, tmp_path):
    monkeypatch.setenv(privacy.ENV_CONFIG_DIR, str(tmp_path / "config"))
    monkeypatch.delenv(privacy.ENV_KEY, raising=False)


PROBE = """\
import json, os, pathlib, sys
seen = sorted(k for k in globals() if not k.startswith("_"))
facts = {"pid": os.getpid(), "ppid": os.getppid(), "pgid": os.getpgid(0), "cwd": os.getcwd(),
         "preloaded": [m for m in ("sklearn.cluster", "lifelines", "statsmodels.api", "crm_research.journey.friction_scan")
                       if m in sys.modules],
         "names": seen, "key_name": os.environ.get("CRM_RESEARCH_KEY_NAME"),
         "threads": os.environ.get("OMP_NUM_THREADS"), "argv0": pathlib.Path(sys.argv[0]).name,
         "parent_env": os.environ.get("JPY_PARENT_PID"), "sys_path": sys.path}
import numpy as np, pandas as pd
from pandas._config import config
import matplotlib
facts["matplotlib"] = {k: repr(v) for k, v in sorted(matplotlib.rcParams.items())}
facts["draw"] = float(np.random.random())
facts["pandas"] = {k: repr(pd.get_option(k)) for k in sorted(config._registered_options)}
facts["pandas_defaults"] = {k: repr(o.defval) for k, o in sorted(config._registered_options.items())}
pathlib.Path(run_dir, "facts-" + name + ".json").write_text(json.dumps(facts))
"""


NEW_KERNEL_NAMES = ["In", "Out", "exit", "get_ipython", "json", "name", "open", "os", "pathlib", "quit", "run_dir",
                    "sys"]
"""What the probe sees in a kernel's namespace: IPython's names, the parameters, its imports."""


def _probe(folder: Path, stem: str) -> Path:
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell(f"run_dir = None\nname = {stem!r}")
    p.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# Probe {stem}"), p, nbformat.v4.new_code_cell(PROBE),
                nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0]);")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / f"{stem}.ipynb"
    nbformat.write(nb, path)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_each_kernel_is_a_fresh_kernel_forked_from_one_server(tmp_path, small_company, monkeypatch):
    nbs = [str(_probe(tmp_path, s)) for s in ("a", "b", "c")]
    folder = run.run_notebooks(nbs, data_dir=small_company, out_dir=tmp_path / "runs", jobs=2, key="acme")
    facts = [json.loads((folder / f"facts-{s}.json").read_text()) for s in ("a", "b", "c")]
    # the same probe in a kernel started the usual way (no server)
    with monkeypatch.context() as m:
        m.setattr(forks.ForkServer, "spawn", lambda self, argv, env, cwd: None)
        plain_run = run.run_notebooks([nbs[0]], data_dir=small_company, out_dir=tmp_path / "plain", jobs=1,
                                      key="acme")
    plain = json.loads((plain_run / "facts-a.json").read_text())
    assert plain["ppid"] == os.getpid() and plain["preloaded"] == []
    servers = {f["ppid"] for f in facts}
    assert len(servers) == 1 and os.getpid() not in servers  # one server, not the runner, is the parent
    assert len({f["pid"] for f in facts}) == 3
    assert len({f["draw"] for f in facts}) == 3  # each kernel its own global random stream
    for f in facts:
        assert f["pgid"] == f["pid"]  # a session of its own: a stop signals the kernel's whole group
        assert f["preloaded"] == ["sklearn.cluster", "lifelines", "statsmodels.api",  # imported once, by the server
                                  "crm_research.journey.friction_scan"]
        assert f["parent_env"] == str(f["ppid"])
        for k in ("names", "key_name", "threads", "cwd", "argv0", "sys_path", "pandas", "pandas_defaults", "matplotlib"):
            assert f[k] == plain[k], k  # as in a kernel started the usual way
    assert plain["names"] == NEW_KERNEL_NAMES and plain["key_name"] == "acme" and plain["threads"] == "1"
    assert plain["cwd"] == str(paths.project_root()) and plain["argv0"] == "ipykernel_launcher.py"
    assert plain["pandas"]["display.max_columns"] == "20"  # what a server importing pandas outside a kernel gets wrong
    assert not _alive(servers.pop())  # the server ends with the run
    for s in ("a", "b", "c"):  # figures still reach the notebook inline, as in a new kernel
        nb = nbformat.read(folder / "notebooks" / f"{s}.ipynb", as_version=4)
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
        assert any("image/png" in o.get("data", {}) for o in outputs), s


def test_a_server_whose_imports_start_a_thread_forks_nothing(tmp_path):
    (tmp_path / "busy_module.py").write_text(
        "import threading, time\nthreading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n")
    server = forks.ForkServer({"PYTHONPATH": str(tmp_path)}, str(tmp_path), imports=("busy_module",)).start()
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", str(tmp_path / "kernel.json")]
    assert server.spawn(["/bin/sh", "-c", "true"], dict(os.environ), str(tmp_path)) is None  # no kernel
    proc = server._proc
    assert server.spawn(argv, dict(os.environ), str(tmp_path)) is None  # refused: a fork keeps one thread
    assert proc.poll() is None and not server._usable  # not asked again; kept till the run ends
    assert server.spawn(argv, dict(os.environ), str(tmp_path)) is None
    server.close()
    assert proc.poll() is not None


def test_a_forked_process_is_polled_waited_for_and_signalled_through_its_pidfd():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    p = forks.ForkedProcess(child.pid)
    assert p.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        p.wait(0.1)
    p.send_signal(signal.SIGTERM)
    assert p.wait(10) == 0 and p.poll() == 0
    assert child.wait(10) == -signal.SIGTERM
    p.kill()  # no process to signal any more: nothing happens


def test_kernels_of_a_run_use_the_server_only_when_asked(tmp_path):
    kernels = lifecycle.Kernels({})
    assert kernels.forks is None
    kernels.fork_from(str(tmp_path))
    assert isinstance(kernels.forks, forks.ForkServer)
    kernels.discard_warm()
    assert kernels.forks._proc is None  # ended


def _children(pid: int) -> list[int]:
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(d.name))
    return kids


def test_a_request_given_up_on_is_not_forked_later(tmp_path, monkeypatch):
    (tmp_path / "slow_module.py").write_text("import time\ntime.sleep(2)\n")
    monkeypatch.setattr(forks, "START_TIMEOUT_S", 0.5)
    server = forks.ForkServer({"PYTHONPATH": str(tmp_path)}, str(tmp_path), imports=("slow_module",)).start()
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", str(tmp_path / "kernel.json")]
    assert server.spawn(argv, dict(os.environ), str(tmp_path)) is None  # still importing: given up
    proc = server._proc
    time.sleep(3)  # the server has read the request by now, and refused it as late
    assert proc.poll() is None and _children(proc.pid) == []
    server.close()
    assert proc.poll() is not None
