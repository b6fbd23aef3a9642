"""Execute notebooks with papermill into a new run folder, with client reports and a manifest.

Before the run folder is made: the parameters are checked, ``--out`` is checked (a folder, not a
file, not the filesystem root), the engagement's key is found (or created) and the data is
loaded and validated (:mod:`~crm_research.run.precheck`) once: the notebooks read that copy, kept
without personal columns outside the run folder and removed when the run ends
(:mod:`~crm_research.run.snapshot`). While it runs: SIGINT and SIGTERM
stop it cleanly and the manifest's heartbeat tells a live run from a dead one
(:mod:`~crm_research.run.lifecycle`). Every file the runner writes is written atomically.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from crm_research import paths, privacy, report
from crm_research import settings as report_settings
from crm_research._nbformat import nbformat
from crm_research.errors import CRMError, NotebookFailed, ParameterError
from crm_research.notebook import AUDIENCES, ENV_AUDIENCE, ENV_MEMORY, ENV_SETTINGS, META
from crm_research.run import lifecycle, precheck, snapshot
from crm_research.run import progress as query_progress
from crm_research.run.params import notebook_parameters, plan_parameters, resolve_notebooks

__all__ = ["run_notebooks", "RunInterrupted", "KERNEL", "INCOMPLETE"]

KERNEL = "python3"
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL", "--HistoryManager.hist_file=:memory:"]
"""Arguments of every kernel: the kernel's TCP-transport warning is noise on a local machine; no
IPython history file (cells hold data paths; nbclient adds this only to kernels it starts)."""
KEY_LIBS = ("crm-research", "pandas", "numpy", "scipy", "pyarrow", "duckdb", "ibis-framework",
            "pandera", "scikit-learn", "lifelines", "statsmodels", "matplotlib", "papermill",
            "nbconvert", "nbclient", "ipykernel")
HEARTBEAT_S = 30.0
"""Seconds between two "still running" progress lines of a notebook."""
SPILL = ".spill"
"""Folder of a run folder where the notebooks' DuckDB connections spill (removed when the run ends)."""
INCOMPLETE = "INCOMPLETE"
"""Marker file of a run folder whose run was interrupted or aborted (its tables are partial)."""


class RunInterrupted(CRMError):
    """The run was stopped by SIGINT or SIGTERM; the folder is marked ``interrupted``.

    Attributes
    ----------
    signum : int
    exit_code : int
        130 for SIGINT, 143 for SIGTERM.
    run_dir : Path or None
        The (incomplete) run folder, None when the signal came before it was made.
    """

    def __init__(self, message: str, signum: int, run_dir: Path | None = None):
        super().__init__(message)
        self.signum = signum
        self.exit_code = lifecycle.EXIT_CODES.get(signum, 128 + int(signum))
        self.run_dir = run_dir


def _noop(_msg: str) -> None:
    return None


def _os_error(exc: OSError) -> str:
    """One line for an OSError: what failed and where, without a traceback."""
    what = exc.strerror or str(exc)
    return f"{what}: {exc.filename}" if getattr(exc, "filename", None) else what


def _check_out_parent(parent: Path) -> Path:
    """The folder of run folders: not a file, not a filesystem root, and creatable."""
    given = parent
    parent = Path(parent).expanduser()
    resolved = parent.resolve()
    if resolved == Path(resolved.anchor):
        raise CRMError(f"--out {given}: refusing to write run folders at the filesystem root; give a "
                       f"folder such as reports/ or ~/crm-runs")
    if parent.exists() and not parent.is_dir():
        raise CRMError(f"--out {given} is a file, not a folder: give the folder that holds run folders")
    for up in resolved.parents:
        if up.exists() and not up.is_dir():
            raise CRMError(f"--out {given}: {up} is a file, not a folder")
    return resolved  # absolute: kernels run in the project root, not in the caller's folder


def _new_run_folder(parent: Path, plan: dict) -> Path:
    digest = hashlib.sha256(json.dumps(plan, sort_keys=True, default=str).encode()).hexdigest()[:7]
    base = f"run-{datetime.now().strftime('%Y%m%d-%H%M%S')}-{digest}"
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for i in range(1, 1000):
            folder = parent / (base if i == 1 else f"{base}-{i}")
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            return folder
    except OSError as exc:
        raise CRMError(f"cannot create a run folder in {parent}: {_os_error(exc)}") from None
    raise CRMError(f"cannot create a new run folder in {parent}: too many runs named {base}")


# Typical wall time of each notebook (s) on the demo company with two kernels on two idle cores;
# a run starts its notebooks in the order that finishes soonest by these (or by the last run's
# own durations in the same folder). Results never depend on the order.
TYPICAL_S = {"01_baseline": 7.0, "02_segmentation": 9.0, "03_journey": 19.0, "04_attribution": 12.5,
             "05_churn": 10.0}


def _expected_durations(parent: Path, stems: list[str]) -> list[float]:
    """Each notebook's expected wall time (s): from the newest earlier run in ``parent`` that ran
    it without failing, else :data:`TYPICAL_S`, else the mean of the others."""
    known: dict[str, float] = {}
    try:
        earlier = sorted(parent.glob("run-*/manifest.json"), reverse=True)[:20]
    except OSError:
        earlier = []
    for f in earlier:
        try:
            entries = json.loads(f.read_text(encoding="utf-8")).get("notebooks", [])
        except (OSError, ValueError):
            continue
        for e in entries:
            if isinstance(e, dict) and e.get("status") == "ok" and isinstance(e.get("duration_s"), (int, float)):
                known.setdefault(e.get("name"), float(e["duration_s"]))
        if all(s in known for s in stems):
            break
    values = [known.get(s, TYPICAL_S.get(s)) for s in stems]
    rest = [v for v in values if v is not None]
    fill = sum(rest) / len(rest) if rest else 1.0
    return [fill if v is None else v for v in values]


def _makespan(order: tuple[int, ...], expected: list[float], jobs: int) -> float:
    free = [0.0] * jobs  # when each kernel slot is next free; a pool hands the next notebook to the first
    for i in order:
        k = free.index(min(free))
        free[k] += expected[i]
    return max(free)


def start_order(expected: list[float], jobs: int) -> list[int]:
    """The order to start notebooks in so that ``jobs`` kernels finish soonest.

    Every order of up to seven notebooks is tried as the pool would run it (each next notebook to
    the first free kernel); more than seven are started longest first. Ties keep the given order.

    Parameters
    ----------
    expected : list of float
        Each notebook's expected wall time (s).
    jobs : int
        Kernels at the same time.

    Returns
    -------
    list of int
        Positions into ``expected``.

    Examples
    --------
    >>> start_order([7.0, 9.0, 19.0, 12.5, 10.0], jobs=2)
    [0, 2, 1, 3, 4]
    >>> start_order([7.0, 9.0, 19.0], jobs=1)
    [0, 1, 2]
    """
    n = len(expected)
    if jobs <= 1 or n <= jobs:
        return list(range(n))
    if n > 7:
        return sorted(range(n), key=lambda i: -expected[i])
    best, best_span = list(range(n)), _makespan(tuple(range(n)), expected, jobs)
    for order in itertools.permutations(range(n)):
        span = _makespan(order, expected, jobs)
        if span < best_span - 1e-9:
            best, best_span = list(order), span
    return best


def _git_commit(root: Path) -> dict | None:
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        return {"commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return None


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for lib in KEY_LIBS:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = None
    return out


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _write_json(path: Path, data: dict) -> None:
    paths.write_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


def _write_index(run_dir: Path, manifest: dict) -> Path:
    """``report.write_index`` into a temporary folder of the run, then one rename into place."""
    tmp = Path(tempfile.mkdtemp(prefix=".index-", dir=run_dir))
    try:
        written = report.write_index(tmp, manifest)
        os.replace(written, run_dir / "index.html")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return run_dir / "index.html"


def _check_kernel() -> None:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        raise CRMError(f"no Jupyter kernel named {KERNEL!r}: install ipykernel in this environment "
                       f"(`{sys.executable} -m pip install ipykernel`)") from None


def _first_line(text: str) -> str:
    return next((ln.strip() for ln in str(text).splitlines() if ln.strip()), "")


def _failure(stem: str, src: Path, exc: Exception, executed: Path) -> dict[str, Any]:
    """What failed, where: the cell (counted from 1 in the source notebook), the error's class and
    the first line of its message, the one-line error of the terminal and the manifest, and the
    plain sentence at the top of the report."""
    ename = str(getattr(exc, "ename", None) or type(exc).__name__)
    evalue = str(getattr(exc, "evalue", exc) or "")
    message = _first_line(evalue)
    more = len([ln for ln in evalue.splitlines() if ln.strip()]) - 1
    source = getattr(exc, "source", None)
    cell = None
    where = "while starting or running the kernel"
    if source is not None:
        cells = nbformat.read(src, as_version=4).cells
        idx = next((i for i, c in enumerate(cells) if c.source == source), None)
        first = _first_line(source)
        if len(first) > 60:
            first = first[:57] + "..."
        if idx is not None:
            cell = idx + 1
            where = f"in cell {cell} `{first}`"
        else:
            where = "in the injected parameters cell"
    error = f"{ename}: {message}" if message else ename
    extra = f" (+{more} more line{'s' if more != 1 else ''})" if more > 0 else ""
    if cell is not None:
        sentence = f"This report stopped at cell {cell}: {error}"
    elif source is not None:
        sentence = f"This report stopped before its first cell, on its parameters: {error}"
    else:
        sentence = f"This report stopped while its notebook was starting or running: {error}"
    return {
        "cell": cell, "exception": ename, "message": message,
        "line": f"notebook {stem} failed {where}: {error}{extra} (executed notebook: {executed})",
        "sentence": sentence if sentence.endswith((".", "!", "?")) else sentence + ".",
    }


SAVE_EVERY_S = 10.0
"""Seconds between two saves of a running notebook (papermill saves it at each cell's start and
end: 230 writes of up to 0.8 MB for 05, 2.6 s of the runner's CPU; its end is always saved)."""

ENGINE_NAME = "crm-research"
"""The name :func:`_execute` registers its papermill engine under."""


@functools.cache
def _engine():
    """papermill's nbclient engine, saving a running notebook at most every :data:`SAVE_EVERY_S`
    (the start, a failure and the end are always saved: papermill's ``notebook_complete`` runs
    after it, in a ``finally``)."""
    from papermill.engines import NBClientEngine

    class RunEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
            save, last = nb_man.save, [time.monotonic()]

            def throttled(**kw):
                if time.monotonic() - last[0] >= SAVE_EVERY_S:
                    save(**kw)
                    last[0] = time.monotonic()

            nb_man.save = throttled
            try:
                return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)
            finally:
                del nb_man.save  # the class's save again, for the final one

    return RunEngine


def _execute(src: Path, dst: Path, params: dict, root: Path, manager_class=None) -> None:
    import papermill
    from papermill.engines import papermill_engines

    from crm_research.engine import parse_engine

    papermill_engines.register(ENGINE_NAME, _engine())
    spark = parse_engine(params.get("engine") or "duckdb")[0] == "spark"
    extra = {"kernel_manager_class": manager_class} if manager_class is not None else {}
    papermill.execute_notebook(
        str(src), str(dst), parameters=params, kernel_name=KERNEL, cwd=str(root),
        progress_bar=False, log_output=False, request_save_on_cell_execute=True, engine_name=ENGINE_NAME,
        extra_arguments=KERNEL_ARGUMENTS,
        # a finished notebook's kernel holds nothing to save: killing its process group saves the
        # 0.4-1 s a polite shutdown waits (the runner removes its progress file and spill folder);
        # a Spark kernel's JVM must run its shutdown hooks, which remove its temporary files
        shutdown_kernel="graceful" if spark else "immediate", **extra,
    )


def _current_section(meta_path: Path | None) -> str | None:
    """The title of the section the notebook reached last (its metadata lists each section when
    the notebook first asks for it), or None."""
    if meta_path is None:
        return None
    try:
        sections = json.loads(meta_path.read_text(encoding="utf-8")).get("sections") or []
    except (OSError, ValueError, AttributeError):
        return None  # not written yet, or being replaced
    return str(sections[-1].get("title") or sections[-1].get("key")) if sections else None


def _heartbeat_line(stem: str, elapsed_s: float, section: str | None = None, in_section_s: float = 0.0,
                    query_percent: float | None = None) -> str:
    """One "still running" line: elapsed seconds, the section and the time the runner has seen the
    notebook in it, and how far the engine's running query is (when its kernel told)."""
    parts = [f"{elapsed_s:.0f} s"]
    if section:
        parts.append(f"in section '{section}' for at least {in_section_s:.0f} s")
    query = query_progress.describe(query_percent)
    if query:
        parts.append(query)
    return f"  {stem}: still running ({'; '.join(parts)})"


def _heartbeat(stem: str, t0: float, progress: Callable[[str], None], stop: threading.Event,
               meta_path: Path | None = None) -> None:
    """Every :data:`HEARTBEAT_S` seconds: the notebook's elapsed time and the section it is in,
    with the time since the runner first saw it there, and the running engine query's progress
    when its kernel wrote it in the last few seconds (:mod:`~crm_research.run.progress`). The
    progress file is removed when the notebook ends."""
    seen: tuple[str | None, float] = (None, t0)
    progress_file = query_progress.progress_path(meta_path) if meta_path is not None else None
    try:
        while not stop.wait(HEARTBEAT_S):
            now = time.perf_counter()
            section = _current_section(meta_path)
            if section != seen[0]:
                seen = (section, now)
            percent = query_progress.read_progress(progress_file)
            progress(_heartbeat_line(stem, now - t0, section, now - seen[1], percent))
    finally:
        if progress_file is not None:
            with contextlib.suppress(OSError):
                progress_file.unlink(missing_ok=True)


_MEMORY = re.compile(r"^\s*\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)


def remove_stale_spills(parent: Path) -> list[Path]:
    """Remove the ``.spill`` folders of run folders in ``parent`` whose runner is gone.

    DuckDB deletes its spill files when a kernel ends normally and the runner removes the folder
    when the run ends; a runner killed outright (``kill -9``, a power cut) leaves them, with rows
    of the data in them. A run folder's spill is stale when its manifest is no longer
    ``running``, or names another runner of this host that is not alive. Runs of other hosts
    are left alone.

    Returns
    -------
    list of Path
        The folders removed.
    """
    removed = []
    for spill in sorted(Path(parent).glob(f"run-*/{SPILL}")):
        try:
            manifest = json.loads((spill.parent / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = {}
        running = manifest.get("status") == "running"
        mine = manifest.get("host") == lifecycle.host_name()
        pid = manifest.get("pid")
        if running and (not mine or (isinstance(pid, int) and lifecycle.pid_alive(pid))):
            continue
        shutil.rmtree(spill, ignore_errors=True)
        removed.append(spill)
    return removed


def _check_memory(memory: str | None) -> str | None:
    """``memory`` as DuckDB takes it (``"1GB"``), or a ParameterError saying what to give."""
    if memory is None:
        return None
    if not _MEMORY.match(str(memory)):
        raise ParameterError(f"--memory {memory!r}: give an amount with its unit, e.g. 1GB or 512MB")
    return str(memory).replace(" ", "")


def _resolve_data_dirs(plan: dict, root: Path, progress: Callable[[str], None]) -> None:
    from crm_research.notebook import resolve_data_dir

    folders: dict[Any, str] = {}
    for params in plan.values():
        if "data_dir" in params:
            key = params["data_dir"]
            if key not in folders:
                if key is None and not (paths.demo_data_dir(root) / "truth.json").exists():
                    progress("preparing the demo company (first use)")
                folders[key] = str(resolve_data_dir(key))
            params["data_dir"] = folders[key]


def run_notebooks(
    notebooks: Sequence[str] | None = None,
    params_file: Path | None = None,
    overrides: Iterable[tuple[str, str]] = (),
    data_dir: Path | None = None,
    out_dir: Path | None = None,
    pdf: bool = False,
    progress: Callable[[str], None] | None = None,
    jobs: int | None = None,
    fail_fast: bool = False,
    key: str | None = None,
    audience: str = "client",
    settings_file: Path | None = None,
    engine: str | None = None,
    memory: str | None = None,
) -> Path:
    """Execute notebooks with papermill into a new run folder, with client reports.

    Parameters
    ----------
    notebooks : sequence of str, optional
        Names, numbers or paths (see :func:`resolve_notebooks`); default all five in order.
    params_file : Path, optional
        YAML params file (see :func:`plan_parameters`).
    overrides : iterable of (str, str)
        ``-p NAME VALUE`` pairs.
    data_dir : Path, optional
        Data folder; default the demo company (generated on first use).
    out_dir : Path, optional
        Parent of the run folder; default ``reports/``. Not a file, not a filesystem root.
    pdf : bool
        Also print each HTML report to PDF with Chromium (skipped with a message if absent).
    progress : callable, optional
        Receives one line of text per step: data checked, notebook started, finished (with
        elapsed seconds), and every 30 s a "still running" line, which comes from a helper thread.
    jobs : int, optional
        Notebooks executed at the same time, each in its own kernel (default: 2, or 1 on a
        one-core machine). Results do not depend on it: every kernel computes single-threaded
        (DuckDB, see :mod:`crm_research.engine`; BLAS and OpenMP, see
        :data:`~crm_research.run.lifecycle.SINGLE_THREADED`).
    fail_fast : bool
        After a failure no further notebook starts (those already running finish; the others
        are marked ``skipped``). Default: every notebook runs, whatever the others do.
    key : str, optional
        Name of the engagement's pseudonymisation key (``acme``); default
        ``$CRM_RESEARCH_KEY_NAME``, else ``default``. Created on first use in the user's
        configuration folder (see :mod:`crm_research.privacy`), never in the run folder; the
        kernels get the name in ``$CRM_RESEARCH_KEY_NAME``; the manifest records the name and
        the key's fingerprint.
    audience : {"client", "analyst"}
        Who reads the reports. ``client`` (default): findings and actions first, no parameter,
        column or file names, the method in an appendix, tables in the client's units and cut to
        their top rows (the CSVs hold them whole). ``analyst``: everything, in place. Tables and
        figures are the same bytes for both.
    settings_file : Path, optional
        Report settings (client, title, author, date, paper, currency, labels; see
        :mod:`crm_research.settings`), over the data folder's ``report.yaml``.
    engine : str, optional
        Where every notebook's row-level work runs (its ``engine`` parameter, see
        :data:`crm_research.engine.ENGINES`): ``duckdb`` (in-process, on the data files),
        ``spark`` (local Spark; ``spark:<master URL>`` for a cluster) or ``pandas``. Default:
        each notebook's own default (``-p engine`` sets it too). The runner loads and checks the
        data of engine notebooks on DuckDB in place and hands them Parquet files to read.
    memory : str, optional
        DuckDB memory limit of the runner's load and of each notebook (``"1GB"``, ``"512MB"``;
        default :data:`crm_research.engine.DEFAULT_MEMORY_LIMIT`); past it DuckDB spills into
        the run folder's ``.spill`` (removed when the run ends).

    Returns
    -------
    Path
        The run folder (every notebook ``ok``).

    Raises
    ------
    ParameterError
        Unknown notebook or parameter, a bad value, or an ``as_of`` outside the data's dates
        (before its first order, or more than a year after its last date); raised before the
        run folder is made.
    CRMError
        Before the run folder is made: a bad ``--out``, a key that cannot be read or created,
        data that breaks the model (the full list in ``validation-<time>.txt`` beside the run
        folders, a summary in the message). Later: the run folder cannot be written (a full or
        read-only disk): the run stops, marked ``aborted`` where it still can be.
    RunInterrupted
        SIGINT or SIGTERM arrived: no further notebook started, running kernels were shut down,
        the manifest says ``interrupted`` (with ``ended``), an ``INCOMPLETE`` file and the index
        say so; ``.exit_code`` is 130 or 143.
    NotebookFailed
        Raised at the end, once every notebook has run (or been skipped with ``fail_fast``)
        and the index and manifest are written, if any notebook failed. Its message is one
        line per failed notebook, each naming the notebook, the cell (counted from 1, with its
        first line) and the error (class and first line of the message); ``.failures`` holds
        those lines and ``.run_dir`` the run folder. A failed notebook still has its client
        report up to the failing cell, opening with one plain sentence saying where and why it
        stopped; its manifest entry has status ``failed``, ``error`` (the line) and
        ``failure`` (cell, exception, message, sentence), the run's status is ``failed`` and
        a ``FAILED`` file holds the lines.
    """
    progress = progress or _noop
    root = paths.project_root()
    if audience not in AUDIENCES:
        raise ParameterError(f"audience {audience!r}: use one of {', '.join(AUDIENCES)}")
    paths_ = resolve_notebooks(notebooks)
    if engine is not None:
        from crm_research.engine import parse_engine

        parse_engine(engine)
        overrides = [*overrides, ("engine", str(engine))]
    memory = _check_memory(memory)
    plan = plan_parameters(paths_, params_file, overrides, data_dir)
    parent = _check_out_parent(Path(out_dir) if out_dir else paths.reports_dir(root))
    key_info = privacy.key_record(key)
    _resolve_data_dirs(plan, root, progress)
    snapshot.remove_stale()  # left by a runner that was killed
    remove_stale_spills(parent)  # the same, inside run folders
    if settings_file is not None:
        settings_file = Path(settings_file).expanduser().resolve()
    jobs = max(1, min(2, os.cpu_count() or 1) if jobs is None else int(jobs))
    _check_kernel()
    snap = snapshot.create()  # outside the run folder; removed however the run ends
    kernels = lifecycle.Kernels({**lifecycle.SINGLE_THREADED,
                                 privacy.ENV_KEY_NAME: key_info["name"], ENV_AUDIENCE: audience,
                                 snapshot.ENV_SNAPSHOT: str(snap),
                                 **({ENV_SETTINGS: str(settings_file)} if settings_file is not None else {}),
                                 **({ENV_MEMORY: memory} if memory else {})})
    try:
        kernels.fork_from(str(root))  # imports what the notebooks import while the data is checked
        # once the data has passed its checks, the first notebooks' kernels start and import
        # while the runner keeps its copy of the data (a kernel reads nothing of the run before
        # its first cell; data that fails costs no kernel)
        checked = precheck.check_data(
            plan, parent, progress, snapshot_root=snap, memory_limit=memory,
            on_valid=lambda: kernels.prestart(min(jobs, len(paths_)), KERNEL, str(root), KERNEL_ARGUMENTS))
        return _checked_run(paths_, plan, parent, root, key_info, checked, pdf, progress, jobs, fail_fast,
                            audience, settings_file, snap, memory, kernels)
    finally:
        kernels.discard_warm()
        snapshot.remove(snap)


def _checked_run(paths_: list[Path], plan: dict, parent: Path, root: Path, key_info: dict, checked: dict,
                 pdf: bool, progress: Callable[[str], None], jobs: int, fail_fast: bool, audience: str,
                 settings_file: Path | None, snap: Path, memory: str | None, kernels: lifecycle.Kernels) -> Path:
    from crm_research.data.sources import is_database_url

    # a database holds no report.yaml beside its tables (give --settings); a URL is no folder path
    data_dirs = [p.get("data_dir") for p in plan.values()
                 if p.get("data_dir") and not is_database_url(p.get("data_dir"))]
    look = report_settings.load(data_dirs[0] if data_dirs else None, settings_file)
    view = {"audience": audience, "settings": look.to_dict()}  # the kernels' environment is set already

    stopper = lifecycle.Stopper()
    with stopper.install():
        return _run(paths_, plan, parent, root, key_info, checked, stopper, pdf, progress, jobs, fail_fast, view,
                    kernels)


def _run(paths_: list[Path], plan: dict, parent: Path, root: Path, key_info: dict, checked: dict,
         stopper: lifecycle.Stopper, pdf: bool, progress: Callable[[str], None], jobs: int,
         fail_fast: bool, view: dict, kernels: lifecycle.Kernels) -> Path:
    run_dir = _new_run_folder(parent, plan)
    started = _now()
    manifest: dict[str, Any] = {
        "run": run_dir.name, "status": "running", "started": started, "ended": None,
        "pid": os.getpid(), "host": lifecycle.host_name(), "heartbeat": _now(),
        "project_root": str(root), "git": _git_commit(root), "versions": _versions(),
        "data": ({k: v for k, v in next(iter(checked.values())).items() if k not in ("columns", "snapshot")}
                 if len(checked) == 1 else None),
        "pseudonym_key": key_info,
        "audience": view["audience"], "report_settings": view["settings"],
        "record_of_processing": _record(checked, view["settings"], key_info, started),
        "notebooks": [{"name": p.stem, "source": str(p), "parameters": plan[p.stem], "status": "pending"}
                      for p in paths_],
    }
    try:
        (run_dir / "notebooks").mkdir()
        _write_json(run_dir / "manifest.json", manifest)
    except OSError as exc:  # nothing ran yet: leave nothing behind
        shutil.rmtree(run_dir, ignore_errors=True)
        raise CRMError(f"cannot write the run folder {run_dir}: {_os_error(exc)}") from None
    progress(f"run folder {run_dir}")
    lock = threading.Lock()  # guards the manifest (every entry) and its file
    failed = threading.Event()
    reports: dict[str, Path] = {}

    def save_manifest() -> None:
        with lock:
            _write_json(run_dir / "manifest.json", manifest)

    def update(entry: dict, **values: Any) -> None:
        with lock:
            entry.update(values)

    def one(i: int, src: Path, entry: dict) -> None:
        stem = src.stem
        with lock:
            if stopper.stopping or (fail_fast and failed.is_set()):
                entry["status"] = "skipped"
                return
            entry.update(status="running", started=_now())
        save_manifest()
        params = dict(plan[stem])
        if "run_dir" in notebook_parameters(src):
            params["run_dir"] = str(run_dir)
        executed = run_dir / "notebooks" / src.name
        progress(f"[{i}/{len(paths_)}] {stem} ...")
        t0 = time.perf_counter()
        stop = threading.Event()
        beat = threading.Thread(target=_heartbeat, args=(stem, t0, progress, stop, run_dir / META / f"{stem}.json"),
                                daemon=True)
        beat.start()
        failure = None
        try:
            manager_class, warm = kernels.take()
            try:
                _execute(src, executed, params, root, manager_class)
            finally:
                kernels.release(warm)
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the run
            if stopper.stopping:  # the kernel was shut down by the stop, or never started
                update(entry, status="interrupted")
            else:
                failure = _failure(stem, src, exc, executed)
                update(entry, status="failed", error=failure["line"],
                       failure={k: failure[k] for k in ("cell", "exception", "message", "sentence")})
                failed.set()
        else:
            update(entry, status="ok")
        finally:
            stop.set()
            update(entry, ended=_now(), duration_s=round(time.perf_counter() - t0, 2))
        with lock:
            _collect_meta(run_dir, entry)
        if executed.exists() and entry["status"] != "interrupted":
            try:
                with lock:
                    reports[stem] = _write_report(run_dir, executed, entry, manifest,
                                                  failure["sentence"] if failure else None)
            except CRMError as exc:
                if failure is None:
                    update(entry, status="failed", error=f"notebook {stem}: {exc}")
                    failed.set()
                else:  # keep the notebook's own error; say why there is no report
                    progress(f"  {stem}: no report written: {exc}")
        save_manifest()
        progress(f"[{i}/{len(paths_)}] {stem} {entry['status']} in {entry['duration_s']:.1f} s"
                 + (f": {entry['failure']['sentence']}" if entry.get("failure") else ""))

    def guarded(i: int, src: Path, entry: dict) -> None:
        try:
            one(i, src, entry)
        except BaseException as exc:  # the runner's own trouble (a full disk): stop the run
            stopper.abort(exc)
            why = _os_error(exc) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
            with lock:  # its outputs (report, manifest entry) are not all written
                if entry.get("status") != "skipped":
                    entry.update(status="interrupted", error=f"notebook {src.stem}: the runner stopped: {why}")

    alive = threading.Event()

    def pulse() -> None:  # the manifest's heartbeat, so a dead runner's folder is seen as stale
        while not alive.wait(lifecycle.HEARTBEAT_S):
            try:
                with lock:
                    manifest["heartbeat"] = _now()
                    _write_json(run_dir / "manifest.json", manifest)
            except OSError:
                pass

    def quiet_when_stopping(record: logging.LogRecord) -> bool:
        return not stopper.stopping  # "Kernel died ..." is what a stop does, not news

    t_run = time.perf_counter()
    pulse_thread = threading.Thread(target=pulse, daemon=True, name="run-heartbeat")
    pulse_thread.start()
    work = list(enumerate(zip(paths_, manifest["notebooks"], strict=True), start=1))
    work = [work[k] for k in start_order(_expected_durations(parent, [p.stem for p in paths_]), jobs)]
    loggers = [logging.getLogger(n) for n in ("papermill", "traitlets", "nbclient")]
    for lg in loggers:
        lg.addFilter(quiet_when_stopping)
    try:
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="notebook") as pool:
            futures = [pool.submit(guarded, i, src, entry) for i, (src, entry) in work]
            while True:
                _, pending = wait(futures, timeout=0.2)
                if stopper.stopping:
                    kernels.stop()
                    kernels.escalate()
                if not pending:
                    break
        html_files = [reports[p.stem] for p in paths_ if p.stem in reports]
        pdf_errors = [] if stopper.stopping or not pdf else _print_pdfs(run_dir, html_files, manifest,
                                                                          stopper, progress)
    finally:
        alive.set()
        pulse_thread.join()  # its last write must not land after the final manifest
        for lg in loggers:
            lg.removeFilter(quiet_when_stopping)
    return _finish(run_dir, manifest, paths_, stopper, t_run, pdf_errors, progress)


SUMMARY_PDF = "summary.pdf"
"""The executive summary (the run's index) printed, in a client run with ``--pdf``."""


def _print_pdfs(run_dir: Path, html_files: list[Path], manifest: dict, stopper: lifecycle.Stopper,
                progress: Callable[[str], None]) -> list[str]:
    chromium = report.find_chromium()
    if chromium is None:
        progress(report.NO_CHROMIUM)
        return []
    errors: list[str] = []
    if stopper.stopping:
        return errors
    try:
        with report.PdfPrinter(chromium) as printer:  # one browser prints them all
            for h in html_files:
                if stopper.stopping:
                    break
                try:
                    pdf = h.with_suffix(".pdf")
                    progress(f"printing {pdf.name}")
                    printer.print(h, pdf)
                    next(m for m in manifest["notebooks"] if m["name"] == h.stem)["pdf"] = pdf.name
                except CRMError as exc:
                    errors.append(f"{h.stem}: PDF not written: {exc}")
                    progress(f"  {errors[-1]}")
            if not stopper.stopping and manifest.get("audience") == "client":
                # the executive summary as a PDF of its own: the index, printed with the link to itself
                manifest["summary_pdf"] = SUMMARY_PDF
                try:
                    index = _write_index(run_dir, manifest)
                    progress(f"printing {SUMMARY_PDF}")
                    printer.print(index, run_dir / SUMMARY_PDF)
                except CRMError as exc:
                    manifest.pop("summary_pdf", None)
                    errors.append(f"index: PDF not written: {exc}")
                    progress(f"  {errors[-1]}")
    except CRMError as exc:  # Chromium did not start: no PDF at all
        errors.append(f"PDF not written: {exc}")
        progress(f"  {errors[-1]}")
    return errors


def _finish(run_dir: Path, manifest: dict, paths_: list[Path], stopper: lifecycle.Stopper, t_run: float,
            pdf_errors: list[str], progress: Callable[[str], None]) -> Path:
    """Mark the run folder finished (ok, failed, interrupted or aborted) and raise accordingly."""
    for m in manifest["notebooks"]:
        if m["status"] == "pending":
            m["status"] = "skipped"
    shutil.rmtree(run_dir / SPILL, ignore_errors=True)  # DuckDB's spill files: none outlives its kernel
    query_progress.remove_progress_files(run_dir / META)  # the heartbeat's, never part of the outputs
    failures = [m["error"] for m in manifest["notebooks"] if m["status"] == "failed"]
    fps = {(m.get("data") or {}).get("fingerprint") for m in manifest["notebooks"] if m.get("data")}
    if len(fps) == 1:
        first = next(m["data"] for m in manifest["notebooks"] if m.get("data"))
        manifest["data"] = {**(manifest.get("data") or {}), **first}
    elif fps:
        manifest["data"] = {"fingerprint": None, "note": "notebooks used different data; see each notebook"}
    stopped = stopper.stopping  # a signal or the runner's own error
    status = ("interrupted" if stopper.signum is not None else "aborted") if stopped else \
        ("failed" if failures else "ok")
    manifest.update(status=status, ended=_now(), heartbeat=_now(),
                    duration_s=round(time.perf_counter() - t_run, 2))
    _update_record(run_dir, manifest)
    n_int = sum(m["status"] == "interrupted" for m in manifest["notebooks"])
    n_skip = sum(m["status"] == "skipped" for m in manifest["notebooks"])
    n_ok = sum(m["status"] == "ok" for m in manifest["notebooks"])
    why = ""
    if stopped:
        if stopper.signum is not None:
            why = signal.Signals(stopper.signum).name
            manifest["stopped"] = {"signal": why}
        else:
            err = stopper.error
            why = _os_error(err) if isinstance(err, OSError) else f"{type(err).__name__}: {err}"
            manifest["stopped"] = {"error": why}
        manifest["stopped"]["seconds_to_stop"] = round(time.monotonic() - (stopper.when or time.monotonic()), 2)
    state = (f"{status} ({why}): {n_ok} of {len(paths_)} notebooks finished, {n_int} stopped part way, "
             f"{n_skip} not started; tables are partial") if stopped else ""
    try:
        if stopped:
            paths.write_atomic(run_dir / INCOMPLETE, f"run {state}\n")
        _write_json(run_dir / "manifest.json", manifest)
        _write_index(run_dir, manifest)
        if failures and not stopped:
            paths.write_atomic(run_dir / "FAILED", "\n".join(failures) + "\n")
    except OSError as exc:
        extra = f" (the run was {state})" if stopped else ""
        raise CRMError(f"cannot finish the run folder {run_dir}: {_os_error(exc)}{extra}") from None
    if stopped:
        progress(f"stopped after {manifest['duration_s']:.1f} s: {run_dir / 'index.html'}")
        if stopper.signum is not None:
            raise RunInterrupted(f"run {state}: {run_dir}", stopper.signum, run_dir)
        if not isinstance(stopper.error, OSError | CRMError):
            raise stopper.error  # a bug: keep its traceback
        raise CRMError(f"run {state}: {run_dir}")
    if failures:
        progress(f"done in {manifest['duration_s']:.1f} s: {len(failures)} of {len(paths_)} notebooks "
                 f"failed, {n_ok} ok: {run_dir / 'index.html'}")
        err = NotebookFailed("\n".join(failures))
        err.failures = failures
        err.run_dir = run_dir
        raise err
    if pdf_errors:
        raise CRMError(f"{'; '.join(pdf_errors)} (HTML reports and tables are complete: {run_dir})")
    progress(f"done in {manifest['duration_s']:.1f} s: {run_dir / 'index.html'}")
    return run_dir


def _record(checked: dict, look: dict, key_info: dict, started: str) -> dict:
    """The run's record of processing (:func:`crm_research.privacy.processing_record`) at its start:
    the columns of every data folder checked, the engagement's purpose, legal basis and retention."""
    columns: dict[str, list[str]] = {}
    for info in checked.values():
        for table, cols in (info.get("columns") or {}).items():
            columns[table] = sorted(set(columns.get(table, [])) | set(cols))
    defaults = report_settings.DEFAULTS
    return privacy.processing_record(
        columns, purpose=look.get("purpose") or defaults.purpose,
        legal_basis=look.get("legal_basis") or defaults.legal_basis, key=key_info,
        keep_runs_days=look.get("keep_runs_days") or defaults.keep_runs_days, started=started)


def _per_customer(run_dir: Path, table: str) -> bool:
    """Whether ``tables/<table>.csv`` has one row per customer (a customer id column)."""
    try:
        with open(run_dir / "tables" / f"{table}.csv", encoding="utf-8") as fh:
            head = fh.readline()
    except OSError:
        return False
    return "customer_id" in [c.strip().strip('"') for c in head.rstrip("\r\n").split(",")]


def _update_record(run_dir: Path, manifest: dict) -> None:
    """Fill the record of processing with the outreach lists and the outputs written so far."""
    record = manifest.get("record_of_processing")
    if not isinstance(record, dict):
        return
    lists = {}
    for m in manifest["notebooks"]:
        lists.update(m.get("outreach") or {})
    record.setdefault("consent", {})["lists"] = lists
    reports = [m["report"] for m in manifest["notebooks"] if m.get("report")]
    tables = [t for m in manifest["notebooks"] for t in m.get("tables") or []]
    per_customer = [t for t in tables if _per_customer(run_dir, t)]
    outputs = {"run folder": run_dir.name, "reports": f"{len(reports)} HTML report{'s' if len(reports) != 1 else ''}"}
    if tables:
        outputs["tables"] = f"{len(tables)} CSV files in tables/"
    if per_customer:
        outputs["per-customer tables (pseudonymised)"] = ", ".join(per_customer)
    if lists:
        outputs["outreach lists (consent honoured)"] = ", ".join(sorted(lists))
    record["outputs"] = outputs


def _notebook_record(manifest: dict, entry: dict) -> dict | None:
    """The record of processing as one notebook's report shows it: its own outreach lists and
    tables (what other notebooks wrote depends on which finished first)."""
    record = manifest.get("record_of_processing")
    if not isinstance(record, dict):
        return None
    tables = list(entry.get("tables") or [])
    lists = entry.get("outreach") or {}
    outputs = {"this report's tables": f"{len(tables)} CSV file{'s' if len(tables) != 1 else ''} delivered with it"} \
        if tables else {}
    if lists:
        outputs["outreach lists (consent honoured)"] = ", ".join(sorted(lists))
    return {**record, "consent": {**(record.get("consent") or {}), "lists": lists}, "outputs": outputs}


def _collect_meta(run_dir: Path, entry: dict) -> None:
    outreach = run_dir / "meta" / f"{entry['name']}.{privacy.OUTREACH_META}.json"
    if outreach.exists():
        try:
            lists = json.loads(outreach.read_text(encoding="utf-8"))
        except ValueError:
            lists = None
        if isinstance(lists, dict):
            entry["outreach"] = lists
    path = run_dir / "meta" / f"{entry['name']}.json"
    if not path.exists():
        return
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return
    for k in ("data", "headlines", "tables", "planted_tables", "figures", "findings", "actions"):
        if meta.get(k):
            entry[k] = meta[k]
    sections = meta.get("sections")
    if isinstance(sections, list):
        entry["sections"] = [
            {"key": str(x.get("key", "")), "title": str(x.get("title") or x.get("key") or ""),
             "status": str(x.get("status", "")), "reason": str(x.get("reason") or ""),
             **({"analyst": True} if x.get("analyst") else {})}
            for x in sections if isinstance(x, dict)
        ]
    for key in ("data_notes", "client_notes"):
        notes = meta.get(key)
        if isinstance(notes, list):
            entry[key] = [str(n) for n in notes if str(n).strip()]


def _write_report(run_dir: Path, executed: Path, entry: dict, manifest: dict,
                  stopped: str | None = None) -> Path:
    try:
        nb = nbformat.read(executed, as_version=4)
    except (OSError, ValueError) as exc:
        raise CRMError(f"cannot read the executed notebook {executed}: {exc}") from None
    title = report.notebook_title(nb, entry["name"])
    params = entry["parameters"]
    look = report_settings.from_dict(manifest.get("report_settings"))
    audience = manifest.get("audience", "analyst")
    fp = (entry.get("data") or {}).get("fingerprint") or ""
    ref = f"Run {manifest['run']} · notebook {entry['name']}" + (f" · data {fp[:12]}" if fp else "")
    if audience == "client":
        header = look.header(params.get("as_of"))
        footer = " · ".join(x for x in (look.client, look.title) if x)
    else:
        header = {"Analysis date (as of)": params.get("as_of", "")}
        if params.get("period"):  # a notebook that reports by period
            header["Period"] = {"M": "months", "W": "weeks"}.get(params["period"], params["period"])
        if params.get("data_dir"):
            from crm_research.data.sources import is_database_url, parse_source

            source = str(params["data_dir"])  # a database URL (never with a password) or a folder
            header["Data"] = parse_source(source).label() if is_database_url(source) else Path(source).name
        header = {k: v for k, v in header.items() if v not in ("", None)}
        footer = ref
    if stopped is not None:
        nb = report.until_error(nb)
    text = report.notebook_html(nb, title, header, footer, notice=stopped, audience=audience, meta=entry,
                                settings=look, run_ref=ref if audience == "client" else "",
                                record=privacy.processing_lines(_notebook_record(manifest, entry)))
    out = run_dir / f"{entry['name']}.html"
    paths.write_atomic(out, text)
    entry.update(title=title, report=out.name)
    return out

