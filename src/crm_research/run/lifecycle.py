"""A run's life: stopping on SIGINT/SIGTERM, the kernels it must shut down, its heartbeat, and
telling a finished run from an interrupted, failed or stale one.

A run folder's ``manifest.json`` holds ``status`` (``running``, then ``ok``, ``failed``,
``interrupted`` or ``aborted``), ``pid`` and ``host`` of the runner and ``heartbeat``, the time
the runner last said it was alive (every :data:`HEARTBEAT_S` seconds while it runs). A
``running`` manifest whose runner is gone (same host, no such process) or silent for more than
:data:`STALE_AFTER_S` seconds is *stale*: the process died (``kill -9``, a reboot, a closed
laptop lid) and its tables are partial.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["HEARTBEAT_S", "STALE_AFTER_S", "FINISHED", "SINGLE_THREADED", "Stopper", "Kernels", "run_state",
           "read_manifest", "host_name", "pid_alive", "EXIT_CODES"]

HEARTBEAT_S = 10.0
"""Seconds between two heartbeats written to the manifest while a run is going."""

STALE_AFTER_S = 120.0
"""A running manifest without a heartbeat for this long is stale (its runner is gone or stuck)."""

FINISHED = ("ok",)
"""Run statuses whose tables are complete."""

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
"""Exit status of a run stopped by a signal (128 + the signal's number, as a shell reports it)."""

WARM_IMPORTS = ("import numpy, pandas, pyarrow, duckdb, ibis, matplotlib.pyplot, crm_research.notebook, "
                "crm_research.engine; del numpy, pandas, pyarrow, duckdb, ibis, matplotlib, crm_research")
"""What a pre-started kernel imports as it starts: what every notebook's first cell imports. The
names are deleted again, so a notebook sees the namespace of a new kernel (a notebook that forgot
an import fails the same way on every kernel); the modules stay loaded."""

KILL_AFTER_S = 2.0
"""Seconds a kernel gets to end after SIGTERM before it is killed."""

SINGLE_THREADED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
"""Environment of every kernel of a run: NumPy's BLAS and OpenMP compute on one thread. Kernels
run side by side (``jobs``), so extra threads only contend for the same cores: on two cores, two
kernels with two OpenBLAS threads each made the journey what-if (a dot product over every path,
404 times) cost 6.8 s of CPU instead of 1.4 s, spinning threads waiting for each other. One
thread also makes a sum's order, hence its last bit, the same on any machine."""


def host_name() -> str:
    return socket.gethostname()


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (a zombie counts as gone)."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    except (OSError, ValueError, TypeError):
        return False
    try:  # Linux: a zombie is a dead process nobody has reaped yet
        for line in Path(f"/proc/{int(pid)}/status").read_text().splitlines():
            if line.startswith("State:"):
                return "Z" not in line.split(":", 1)[1].split()[0]
    except OSError:
        pass
    return True


def _age_s(stamp: Any) -> float | None:
    try:
        t = datetime.fromisoformat(str(stamp))
    except (TypeError, ValueError):
        return None
    if t.tzinfo is None:
        t = t.astimezone()
    return (datetime.now(UTC) - t).total_seconds()


def read_manifest(folder: Path) -> dict | None:
    """The run folder's manifest, or None when it has none (or it cannot be read)."""
    try:
        data = json.loads((Path(folder) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def run_state(manifest: dict | None) -> tuple[str, str]:
    """The state of a run and, unless it finished well, one sentence saying what happened.

    Parameters
    ----------
    manifest : dict or None
        The run's manifest (None: the folder has none).

    Returns
    -------
    (str, str)
        ``("ok", "")``, or a state among ``failed``, ``interrupted``, ``aborted``, ``running``,
        ``stale``, ``unknown`` with its sentence.
    """
    if manifest is None:
        return "unknown", "has no readable manifest.json, so nothing says it finished"
    status = str(manifest.get("status", ""))
    nbs = manifest.get("notebooks") or []
    if status == "ok":
        return "ok", ""
    if status == "failed":
        bad = [n.get("name", "?") for n in nbs if n.get("status") == "failed"]
        skipped = sum(n.get("status") == "skipped" for n in nbs)
        more = f", {skipped} not started" if skipped else ""
        return "failed", (f"failed: {len(bad)} of {len(nbs)} notebooks stopped part way "
                          f"({', '.join(bad)}){more}, so their tables are partial")
    if status in ("interrupted", "aborted"):
        why = manifest.get("stopped") or {}
        reason = f" by {why['signal']}" if why.get("signal") else (f": {why['error']}" if why.get("error") else "")
        return status, f"was {status}{reason} at {manifest.get('ended') or '?'}, so its tables are partial"
    if status == "running":
        pid, host = manifest.get("pid"), manifest.get("host")
        beat = manifest.get("heartbeat") or manifest.get("started")
        age = _age_s(beat)
        ago = f"{age:.0f} s ago" if age is not None else "never"
        if pid is None and host is None:
            return "stale", "says 'running' but records no process (an older run that never finished)"
        if host == host_name() and pid is not None and not pid_alive(pid):
            return "stale", (f"says 'running' but its process (pid {pid} on {host}) is gone: it died "
                             f"part way (last heartbeat {ago}), so its tables are partial")
        if age is None or age > STALE_AFTER_S:
            return "stale", (f"says 'running' but its process (pid {pid} on {host}) has been silent "
                             f"since {beat} ({ago}): it died or hangs, so its tables are partial")
        return "running", f"is still running (pid {pid} on {host}, heartbeat {ago})"
    return "unknown", f"has status {status!r}, not 'ok'"


class Stopper:
    """Why a run stops early: a signal (SIGINT, SIGTERM), a runner error, or ``--fail-fast``.

    ``install()`` makes SIGINT and SIGTERM set :attr:`event` instead of raising, so the runner
    finishes cleanly: no new notebook starts, the kernels are shut down, the folder is marked.
    Handlers are only installed from the main thread, and restored on exit; a signal the
    process was started ignoring (``nohup``, a background job of a script) stays ignored.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None
        self.error: BaseException | None = None
        self.when: float | None = None

    def _handler(self, signum, _frame) -> None:  # only sets flags: safe at any point
        if self.signum is None:
            self.signum = signum
        if self.when is None:
            self.when = time.monotonic()
        self.event.set()

    def abort(self, error: BaseException) -> None:
        """Stop because the runner itself failed (e.g. the disk is full)."""
        if self.error is None:
            self.error = error
        if self.when is None:
            self.when = time.monotonic()
        self.event.set()

    @property
    def stopping(self) -> bool:
        return self.event.is_set()

    @contextlib.contextmanager
    def install(self) -> Iterator[Stopper]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        old = {s: h for s, h in old.items() if h is not signal.SIG_IGN}  # nohup and friends: still ignored
        for s in old:
            signal.signal(s, self._handler)
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)


class Kernels:
    """The kernels of one run: started with the run's environment, killed when it stops.

    :meth:`manager_class` gives papermill a kernel manager class that adds ``env`` to each
    kernel's environment and registers the kernel; once :meth:`stop` is called, running kernels
    get SIGTERM (their whole process group), then SIGKILL after :data:`KILL_AFTER_S`, and a
    kernel that finishes starting afterwards is killed at once.
    """

    def __init__(self, env: dict[str, str]) -> None:
        self.env = dict(env)
        self._lock = threading.Lock()
        self._live: list[Any] = []
        self._stopped_at: float | None = None
        self._killed = False
        self._class = None
        self._warm: list[Any] = []
        self._warming: threading.Thread | None = None
        self.forks = None
        """A :class:`~crm_research.run.forks.ForkServer` the kernels are forked from, if any
        (:meth:`fork_from`); without one (or when it cannot), each kernel is a new process."""

    def fork_from(self, cwd: str) -> None:
        """Start a fork server with this run's environment: from now on kernels are forked
        from it, with the notebooks' libraries already imported (:mod:`crm_research.run.forks`).
        :meth:`discard_warm` ends it."""
        from crm_research.run.forks import ForkServer

        self.forks = ForkServer(self.env, cwd).start()

    @staticmethod
    def _signal(km, sig: int) -> None:
        prov = getattr(km, "provisioner", None)
        pid = getattr(prov, "pid", None)
        pgid = getattr(prov, "pgid", None)
        try:
            if pgid:
                os.killpg(pgid, sig)
            elif pid:
                os.kill(pid, sig)
        except (ProcessLookupError, PermissionError, OSError):
            pass

    def _register(self, km) -> None:
        with self._lock:
            self._live.append(km)
            late = self._stopped_at is not None
        if late:
            self._signal(km, signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM to every kernel now; :meth:`escalate` sends SIGKILL later."""
        with self._lock:
            if self._stopped_at is None:
                self._stopped_at = time.monotonic()
            live = list(self._live)
        for km in live:
            self._signal(km, signal.SIGTERM)

    def escalate(self) -> None:
        """SIGKILL to every kernel once :data:`KILL_AFTER_S` have passed since :meth:`stop`."""
        with self._lock:
            due = (self._stopped_at is not None and not self._killed
                   and time.monotonic() - self._stopped_at >= KILL_AFTER_S)
            if due:
                self._killed = True
            live = list(self._live) if due else []
        for km in live:
            self._signal(km, signal.SIGKILL)

    def prestart(self, count: int, kernel_name: str, cwd: str, extra_arguments: list[str],
                 imports: str = WARM_IMPORTS) -> None:
        """Start ``count`` kernels now, in a helper thread, each importing ``imports`` as it
        starts (IPython's ``exec_lines``: no output, no execution count), so that the first
        notebooks do not wait for a kernel and its imports while the runner keeps its copy of
        the data (it calls this once the data has passed its checks).
        :meth:`take` hands them out; a kernel that fails to start here is left to the
        notebook's own start, which reports the failure."""
        cls = self.manager_class()
        args = [*extra_arguments, f"--IPKernelApp.exec_lines={imports}"]

        def work() -> None:
            for _ in range(count):
                km = cls(kernel_name=kernel_name)
                try:
                    asyncio.run(km.start_kernel(cwd=cwd, extra_arguments=args))
                except Exception:  # noqa: BLE001 - the notebook starts its own kernel and reports
                    return
                with self._lock:
                    if self._stopped_at is None:
                        self._warm.append(km)
                        continue
                self._signal(km, signal.SIGKILL)
                return

        self._warming = threading.Thread(target=work, name="kernels-prestart", daemon=True)
        self._warming.start()

    def take(self):
        """The kernel manager class for the next notebook and the started manager it hands out.

        The class gives a kernel started by :meth:`prestart` (waiting for the one being started)
        that is still alive, or else (manager None) starts a new kernel. Pass the manager to
        :meth:`release` once the notebook is done."""
        if self._warming is not None:
            self._warming.join()  # a kernel started now would only compete with it
        cls = self.manager_class()
        while True:
            with self._lock:
                km = self._warm.pop(0) if self._warm else None
            if km is None:
                return cls, None
            if asyncio.run(km.is_alive()):
                break
            self.release(km)  # died while the data was checked (memory, a crash): a new one

        class Started(cls):  # nbclient instantiates the class: it gets the started manager
            def __new__(klass, *args, **kwargs):
                return km

        return Started, km

    @staticmethod
    def release(km) -> None:
        """Shut down a manager :meth:`take` handed out if its kernel still runs (nbclient shuts
        down the kernels it used; this catches a notebook that failed before its kernel was
        used, e.g. on a full disk)."""
        if km is not None and km.has_kernel:
            try:
                asyncio.run(km.shutdown_kernel(now=True))
            except Exception:  # noqa: BLE001 - kill it either way
                Kernels._signal(km, signal.SIGKILL)

    def discard_warm(self) -> None:
        """Kill the kernels :meth:`prestart` started that no notebook took (the run stopped
        before them, or had fewer notebooks)."""
        if self._warming is not None:
            self._warming.join()
        with self._lock:
            left, self._warm = self._warm, []
        for km in left:
            self.release(km)
        if self.forks is not None:
            self.forks.close()

    def manager_class(self):
        """An ``AsyncKernelManager`` subclass bound to this run (pass as papermill's
        ``kernel_manager_class``)."""
        if self._class is not None:
            return self._class
        from jupyter_client import AsyncKernelManager

        kernels = self

        class RunKernelManager(AsyncKernelManager):
            async def start_kernel(self, **kw):
                with kernels._lock:
                    late = kernels._stopped_at is not None
                if late:
                    raise RuntimeError("the run is stopping: no new kernel")
                base = kw.pop("env", None)
                kw["env"] = {**(base if base is not None else os.environ), **kernels.env}
                await super().start_kernel(**kw)
                kernels._register(self)

            async def _async_launch_kernel(self, kernel_cmd, **kw):
                from jupyter_client.provisioning import LocalProvisioner

                plain = {k: v for k, v in kw.items() if k not in ("env", "cwd", "extra_arguments", "kernel_id")}
                prov, forks = self.provisioner, kernels.forks
                forkable = (forks is not None and type(prov) is LocalProvisioner and not self.kernel_spec.env
                            and all(v is None for v in plain.values()))
                kernel = forks.spawn(list(kernel_cmd), dict(kw.get("env") or os.environ), kw.get("cwd")) \
                    if forkable else None
                if kernel is None:  # no fork server, or it cannot: a new process, as jupyter_client starts it
                    return await super()._async_launch_kernel(kernel_cmd, **kw)
                prov.process = kernel
                prov.pid = prov.pgid = kernel.pid  # the child leads a session of its own
                prov.cwd = kw.get("cwd")
                self._reconcile_connection_info(prov.connection_info)

        self._class = RunKernelManager
        return RunKernelManager
