"""Whole-notebook runs started early in the test session, in a subprocess, one at a time.

The package-level tests keep the cores busy; the runner's kernels would wait for them if the
whole runs came last. So the whole runs the suite needs (the five notebooks on the small company,
printed to PDF, for tests/test_notebooks.py and the layout test; the same five the way an analyst
runs them, ``pytest --nbval-lax``; partial exports; the hostile company and its twin) are started
in the background as soon as the first test runs, two at a time (one kernel each:
``crm-research run -j 1``), and the tests that check them wait for their result (the files
reading them run last: tests/conftest.py); a run a test waits for and not started yet runs
next. They start only when the session collected a test that uses them (``background_runs``
fixture), so running a test file without them starts nothing.

Under pytest-xdist (``make test`` runs ``-n 2``) the runs belong to the controlling process,
not to a worker: :class:`SharedRuns` there runs them and writes each result into a folder the
workers share, and a worker's ``background_runs`` is a :class:`RemoteRuns` that reads them. A
worker that collected a test needing them asks for the start (a ``start`` file); one waiting
for a run asks for it next (a ``want-<name>`` file). So each run happens once per session,
whichever worker its tests land on.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

import partial_data

WAIT_S = 1200  # a run never takes this long; waiting longer means something hangs


@dataclass
class Result:
    """One finished run: the command's exit status, its run folder and what it printed."""

    name: str
    returncode: int
    folder: Path | None
    output: str


@dataclass
class Job:
    name: str
    build: object  # callable(out: Path) -> (data folder, as_of); for a ``command`` job: its folder
    notebooks: tuple[str, ...] = ()
    pdf: bool = False
    command: object = None  # callable(folder: Path) -> (argv, cwd, env) of a job that is no `run`
    done: threading.Event = field(default_factory=threading.Event)
    result: Result | None = None


def _paths_only(out: Path) -> tuple[Path, str]:
    out.mkdir(parents=True)
    pd.DataFrame({"path": ["display > email", "email", "display > search > email", "search", "display"],
                  "total_conversions": [30, 12, 20, 8, 5],
                  "total_conversion_value": [3000.0, 1100, 2500, 700, 400],
                  "total_null": [400, 300, 250, 200, 600]}).to_csv(out / "paths.csv", sep=";", index=False)
    return out, "2026-01-01"


def _cdnow_sample(out: Path) -> tuple[Path, str]:
    out.mkdir(parents=True)
    shutil.copy(partial_data.CDNOW / "CDNOW_sample.txt", out / "CDNOW_sample.txt")
    (out / "mapping.yaml").write_text(
        "tables:\n  orders:\n    file: CDNOW_sample.txt\n    sep: whitespace\n    header: false\n"
        "    names: [customer, sample_id, day, cds, dollars]\n"
        "    columns: {customer: customer_id, day: ordered_at, dollars: amount}\n"
        "date_format: {orders.ordered_at: '%Y%m%d'}\n")
    return out, "1997-10-01"


HOSTILE_CUSTOMERS = 800

THREADS = 2
"""Background runs at a time (one kernel each): the two cores are shared with the two workers."""


def _nbval_project(company: Callable[[], Path]):
    """``pytest --nbval-lax notebooks/`` on a copy of the project whose demo data is the small
    company: the five notebooks the way an analyst runs them in JupyterLab (default parameters,
    demo data, the scratch run folder), with the runner's pseudonym key, so that tables with
    pseudonymised ids can be compared byte for byte with the ``plain`` run."""
    def build(out: Path) -> Path:
        from crm_research import paths

        shutil.copytree(paths.notebooks_dir(), out / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        shutil.copytree(company(), out / "data" / "demo")
        return out

    def command(root: Path) -> tuple[list[str], Path, dict]:
        from crm_research import privacy

        env = {**os.environ, "CRM_RESEARCH_ROOT": str(root)}
        env[privacy.ENV_KEY] = os.environ.get(privacy.ENV_KEY) or privacy.project_key()
        return ([sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider",
                 "--rootdir", str(root), str(root / "notebooks")], root, env)

    return build, command


class Runs:
    """The background runs of one test session (see the module docstring)."""

    def __init__(self, base: Path, small_company: Path | Callable[[], Path], pdf: bool,
                 on_done: Callable[[Result], None] | None = None):
        from crm_research import synthetic
        from hostile import build as hostile

        self.base = base
        self.config_dir = Path(os.environ["CRM_RESEARCH_CONFIG_DIR"])
        """The configuration folder of the runs (their pseudonym key)."""
        self._on_done = on_done
        cdnow = partial_data.CDNOW.is_dir()
        company = small_company if callable(small_company) else (lambda: small_company)

        def clean_company() -> Path:
            clean = base / "hostile-clean"
            with self._lock:
                if not clean.exists():
                    synthetic.write(clean, n_customers=HOSTILE_CUSTOMERS, seed=7)
            return clean

        def hostile_pair(twin: bool):
            def make(out: Path) -> tuple[Path, str]:
                return hostile(clean_company(), out, twin=twin), "2026-01-01"
            return make

        nbval_build, nbval_command = _nbval_project(company)
        # the longest first (two at a time), then in the order the test files ask for them
        jobs = [
            # the five notebooks on the small company (tests/test_notebooks.py), printed for the
            # layout test, and the same five through nbval
            Job("plain", lambda o: (company(), "2026-01-01"), pdf=pdf),
            Job("nbval", nbval_build, command=nbval_command),
            Job("hostile", hostile_pair(False), pdf=pdf),
            Job("twin", hostile_pair(True), pdf=pdf),
            Job("cdnow", lambda o: (partial_data.cdnow_orders_only(o), "1998-07-01")) if cdnow else None,
            Job("cdnow_sample", _cdnow_sample, ("05",)) if cdnow else None,
            Job("event_log", lambda o: (partial_data.event_log_only(company(), o), "2026-01-01")),
            Job("tiny", lambda o: (partial_data.first_customers(company(), 10, o), "2026-01-01")),
            Job("paths_only", _paths_only),
        ]
        self.jobs = {j.name: j for j in jobs if j is not None}
        self._lock = threading.Lock()
        self._queue = list(self.jobs.values())  # jobs not started yet; get() moves one forward
        self._stop = threading.Event()
        self._procs: set[subprocess.Popen] = set()
        self._threads = [threading.Thread(target=self._work, name=f"background-runs-{i}", daemon=True)
                         for i in range(THREADS)]

    def start(self) -> None:
        from crm_research import privacy

        privacy.project_key()  # the runs' pseudonym key, created once, before two runs want it
        for thread in self._threads:
            thread.start()

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    return
                job = self._queue.pop(0)
            if self._stop.is_set():
                job.result = Result(job.name, -1, None, "stopped")
                job.done.set()
                continue
            try:
                job.result = self._run(job)
            except Exception as exc:  # noqa: BLE001 - reported to the test that waits for it
                job.result = Result(job.name, -1, None, f"{type(exc).__name__}: {exc}")
            job.done.set()
            if self._on_done is not None:
                self._on_done(job.result)

    def _run(self, job: Job) -> Result:
        if job.command is not None:
            folder = job.build(self.base / job.name)
            cmd, cwd, env = job.command(folder)
            code, output = self._call(cmd, cwd, env)
            return Result(job.name, code, folder, output)
        folder, as_of = job.build(self.base / job.name / "data")
        out = self.base / job.name / "runs"
        cmd = [sys.executable, "-m", "crm_research.cli", "run", *job.notebooks, "--data", str(folder),
               "-p", "as_of", as_of, "--out", str(out), "-j", "1", *(["--pdf"] if job.pdf else [])]
        code, output = self._call(cmd, None, dict(os.environ))
        runs = sorted(out.glob("run-*")) if out.is_dir() else []
        return Result(job.name, code, runs[-1] if runs else None, output)

    def _call(self, cmd: list[str], cwd: Path | None, env: dict) -> tuple[int, str]:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        with self._lock:
            self._procs.add(proc)
        try:
            output, _ = proc.communicate(timeout=WAIT_S)
        finally:
            with self._lock:
                self._procs.discard(proc)
        return proc.returncode, output

    def prioritise(self, name: str) -> None:
        """Run ``name`` next if it has not started (a test waits for it)."""
        job = self.jobs[name]
        with self._lock:
            if job in self._queue:
                self._queue.remove(job)
                self._queue.insert(0, job)

    def get(self, name: str) -> Result:
        """Wait for run ``name`` and return it (the test asserts on it)."""
        job = self.jobs[name]
        self.prioritise(name)  # a test waits for it: it runs next (running one file waits for less)
        if not job.done.wait(WAIT_S):
            raise TimeoutError(f"background run {name} did not finish in {WAIT_S} s")
        return job.result

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()


# -- under pytest-xdist: the controller runs them, the workers read the results -------------------

SHARED_ENV = "CRM_TESTS_SHARED"
"""Folder shared by the controller and the workers of one xdist session (set by the controller)."""


def shared_company(shared: Path) -> Path:
    """The small company of an xdist session, in the shared folder: written once by the
    controller, read by every worker (``small_company``) and by the background runs."""
    return shared / "company" / "small"


class SharedRuns:
    """The controller's side: start the runs when a worker asks, write each result as JSON."""

    def __init__(self, shared: Path, pdf: bool):
        from conftest import SMALL_CUSTOMERS, SMALL_SEED
        from crm_research import synthetic

        self.shared = shared
        company = synthetic.write(shared_company(shared), n_customers=SMALL_CUSTOMERS, seed=SMALL_SEED)
        self.runs = Runs(shared / "background", company, pdf=pdf, on_done=self._write)
        self._stop = threading.Event()
        self._watch = threading.Thread(target=self._watcher, name="background-watch", daemon=True)

    def _write(self, result: Result) -> None:
        tmp = self.shared / f".{result.name}.json"
        tmp.write_text(json.dumps({"name": result.name, "returncode": result.returncode,
                                   "folder": None if result.folder is None else str(result.folder),
                                   "output": result.output}))
        tmp.replace(self.shared / f"{result.name}.json")

    def _watcher(self) -> None:
        started = False
        while not self._stop.is_set():
            for want in self.shared.glob("want-*"):
                name = want.name.removeprefix("want-")
                if name in self.runs.jobs:
                    self.runs.prioritise(name)
            if not started and (self.shared / "start").exists():
                self.runs.start()
                started = True
            self._stop.wait(0.2)

    def start(self) -> None:
        self._watch.start()

    def stop(self) -> None:
        self._stop.set()
        self.runs.stop()


class RemoteRuns:
    """A worker's side: ask for a run and wait for the controller's result."""

    def __init__(self, shared: Path):
        self.shared = shared
        self.config_dir = shared / "config"  # the controller's (tests/conftest.py)

    def get(self, name: str) -> Result:
        (self.shared / "start").touch()
        (self.shared / f"want-{name}").touch()
        done = self.shared / f"{name}.json"
        deadline = time.monotonic() + WAIT_S
        while not done.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"background run {name} did not finish in {WAIT_S} s")
            time.sleep(0.2)
        got = json.loads(done.read_text())
        return Result(got["name"], got["returncode"], None if got["folder"] is None else Path(got["folder"]),
                      got["output"])

    def stop(self) -> None:
        return None
