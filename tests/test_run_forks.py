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
         "preloaded": [m for m in ("sklearn.cluster", "lifelines", "statsmodels.api") if m in sys.modules],
         "names": seen, "key_name": os.environ.get("CRM_RESEARCH_KEY_NAME"),
         "threads": os.environ.get("OMP_NUM_THREADS"), "argv0": pathlib.Path(sys.argv[0]).name}
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


def test_each_kernel_is_a_fresh_kernel_forked_from_one_server(tmp_path, small_company):
    nbs = [str(_probe(tmp_path, s)) for s in ("a", "b", "c")]
    folder = run.run_notebooks(nbs, data_dir=small_company, out_dir=tmp_path / "runs", jobs=2, key="acme")
    facts = [json.loads((folder / f"facts-{s}.json").read_text()) for s in ("a", "b", "c")]
    servers = {f["ppid"] for f in facts}
    assert len(servers) == 1 and os.getpid() not in servers  # one server, not the runner, is the parent
    assert len({f["pid"] for f in facts}) == 3
    for f in facts:
        assert f["pgid"] == f["pid"]  # a session of its own: a stop signals the kernel's whole group
        assert f["preloaded"] == ["sklearn.cluster", "lifelines", "statsmodels.api"]  # imported once, by the server
        assert f["names"] == NEW_KERNEL_NAMES
        assert f["key_name"] == "acme" and f["threads"] == "1"  # the run's kernel environment
        assert f["cwd"] == str(paths.project_root())  # where kernels always ran
        assert f["argv0"] == "ipykernel_launcher.py"
    assert not _alive(servers.pop())  # the server ends with the run
    for s in ("a", "b", "c"):  # figures still reach the notebook inline, as in a new kernel
        nb = nbformat.read(folder / "notebooks" / f"{s}.ipynb", as_version=4)
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
        assert any("image/png" in o.get("data", {}) for o in outputs), s


def test_without_a_server_kernels_start_as_before(tmp_path, small_company, monkeypatch):
    monkeypatch.setattr(forks.ForkServer, "spawn", lambda self, argv, env, cwd: None)
    folder = run.run_notebooks([str(_probe(tmp_path, "a"))], data_dir=small_company, out_dir=tmp_path / "runs",
                               jobs=1)
    facts = json.loads((folder / "facts-a.json").read_text())
    assert facts["ppid"] == os.getpid() and facts["preloaded"] == []
    assert facts["names"] == NEW_KERNEL_NAMES and facts["cwd"] == str(paths.project_root())


def test_a_server_whose_imports_start_a_thread_forks_nothing(tmp_path):
    (tmp_path / "busy_module.py").write_text(
        "import threading, time\nthreading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n")
    server = forks.ForkServer({}, str(tmp_path), imports=("busy_module",)).start()
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
