"""Kernels forked from one process that has imported what the notebooks import.

Each notebook of a run gets a kernel of its own, and each kernel imported the same libraries
again: pandas, Ibis, matplotlib, SciPy, scikit-learn, lifelines, statsmodels, about 3-4 CPU s a
kernel, five times a run. A run now starts one *fork server* as its data is checked: a Python
process with the run's kernel environment that imports :data:`FORK_IMPORTS` once and then, for
each kernel the runner asks for, forks a child that becomes an ordinary IPython kernel (the
command line, environment and working folder jupyter_client would have given it, a session of its
own). The imported modules are shared by every kernel, copy-on-write; nothing else is: a kernel
starts with an empty namespace, its own random stream and the state of a freshly imported
library, as before (what pandas decided at import from the server's terminal, it decides again
inside the kernel before the first cell).

The runner starts a kernel the usual way whenever the server cannot fork it: anything the server
imported started a thread (a fork copies only the thread that forks; jemalloc's housekeeping
thread, from pyarrow, is fork-safe), the machine refuses pidfds, ``fork`` fails, the server has
not answered within :data:`START_TIMEOUT_S` (it then refuses that request when it reads it), or
the kernel spec is not a plain IPython kernel of this interpreter. The server ends when the
runner closes its socket or dies, and its kernels end with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["FORK_IMPORTS", "ForkServer", "ForkedProcess"]

FORK_IMPORTS = ("numpy", "pandas", "pyarrow", "pyarrow.parquet", "duckdb", "ibis", "ibis.backends.duckdb",
                "sqlglot.dialects.duckdb", "matplotlib.pyplot", "matplotlib.backends.backend_agg", "scipy.stats",
                "scipy.optimize", "scipy.special", "sklearn.cluster", "sklearn.metrics", "sklearn.preprocessing",
                "sklearn.ensemble", "sklearn.compose", "lifelines", "statsmodels.api", "ipykernel.kernelapp",
                "ipykernel.ipkernel", "crm_research.notebook", "crm_research.engine", "crm_research.mmm",
                "crm_research.mmm_words", "crm_research.stats", "crm_research.summaries", "crm_research.run.snapshot",
                "crm_research.run.progress", "crm_research.data.*", "crm_research.needs.*", "crm_research.kpi.*",
                "crm_research.segments.*", "crm_research.journey.*", "crm_research.attribution.*",
                "crm_research.churn.*", "crm_research.plots.*", "crm_research.synthetic.*")
"""What the fork server imports before it forks a kernel: the libraries and the package's modules
the notebooks import (``package.*``: the package and every module in it). Never a module that
looks for an IPython shell when it is imported (``matplotlib_inline.backend_inline``,
``tqdm.auto``): there is none in the server, and the kernel would not import it again."""

KNOWN_THREADS = ("jemalloc_bg_thd",)
"""Threads an import may start without making a fork unsafe: jemalloc (bundled with pyarrow)
holds its locks across a fork, and the child runs on without the housekeeping thread."""

INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
"""The matplotlib backend an IPython kernel sets before anything imports matplotlib."""

START_TIMEOUT_S = 60.0
"""Seconds the runner waits for a fork (the first one waits for the server's imports)."""


def _kernel_command(argv: list[str]) -> bool:
    """Whether ``argv`` starts an IPython kernel of this very interpreter (what a fork can become:
    a kernel spec of another environment starts the usual way)."""
    return (len(argv) >= 5 and argv[1:3] == ["-m", "ipykernel_launcher"] and argv[3] == "-f"
            and os.path.abspath(argv[0]) == os.path.abspath(sys.executable))


def _pidfds_work() -> bool:
    """Whether this kernel lets us watch and signal a process through a pidfd (Linux >= 5.3,
    and not refused by a container's seccomp profile)."""
    try:
        fd = os.pidfd_open(os.getpid())
    except (AttributeError, OSError):
        return False
    try:
        signal.pidfd_send_signal(fd, 0)
        return True
    except (AttributeError, OSError):
        return False
    finally:
        os.close(fd)


def _ended(fd: int, timeout: float | None) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(None if timeout is None else max(0, int(timeout * 1000))))


class ForkedProcess:
    """The part of :class:`subprocess.Popen` jupyter_client uses, for a kernel the fork server
    started (a child of the server, not of the runner: its end is seen through a pidfd, and
    its exit status, the server's to collect, reads 0)."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._fd: int | None = os.pidfd_open(pid)

    def poll(self) -> int | None:
        if self.returncode is None and self._fd is not None and _ended(self._fd, 0):
            self._exited()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None and self._fd is not None:
            if not _ended(self._fd, timeout):
                raise subprocess.TimeoutExpired(["kernel", str(self.pid)], timeout)
            self._exited()
        return self.returncode

    def _exited(self) -> None:
        self.returncode = 0
        os.close(self._fd)
        self._fd = None

    def send_signal(self, sig: int) -> None:
        """Signal the kernel unless it has ended (as :meth:`subprocess.Popen.send_signal`)."""
        if self.poll() is None:
            try:
                signal.pidfd_send_signal(self._fd, sig)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)


class ForkServer:
    """The runner's side: start the server, ask it for kernels, end it.

    Parameters
    ----------
    env : dict
        What the run adds to each kernel's environment (the server imports with it, as a
        kernel would).
    cwd : str
        The kernels' working folder.
    imports : tuple of str
        Modules the server imports before its first fork.
    """

    def __init__(self, env: dict[str, str], cwd: str, imports: tuple[str, ...] = FORK_IMPORTS) -> None:
        self.env = {"MPLBACKEND": INLINE_BACKEND, **os.environ, **env}
        self.cwd = cwd
        self.imports = tuple(imports)
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._file = None
        self._proc: subprocess.Popen | None = None
        self._usable = True
        self._forked = 0

    def start(self) -> ForkServer:
        """Start the server (it imports in the background); a failure leaves kernels to Popen."""
        if not hasattr(os, "fork") or not _pidfds_work():
            return self
        try:
            ours, theirs = socket.socketpair()
        except OSError:
            return self
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "crm_research.run.forks", str(theirs.fileno()), *self.imports], cwd=self.cwd,
                env=self.env, stdin=subprocess.DEVNULL, pass_fds=(theirs.fileno(),), start_new_session=True)
        except OSError:
            ours.close()
            return self
        finally:
            theirs.close()
        self._sock, self._file = ours, ours.makefile("rwb")
        return self

    def spawn(self, argv: list[str], env: dict[str, str], cwd: str | None) -> ForkedProcess | None:
        """Fork a kernel running ``argv`` with ``env`` in ``cwd``: the kernel, already leading a
        session of its own, or None when the server cannot (start it the usual way then)."""
        if not _kernel_command(argv):
            return None
        deadline = time.time() + START_TIMEOUT_S
        request = json.dumps({"argv": argv, "env": env, "cwd": cwd or self.cwd, "deadline": deadline}).encode()
        with self._lock:
            if self._file is None or not self._usable:
                return None
            try:
                self._file.write(request + b"\n")
                self._file.flush()
                ready = select.select([self._sock], [], [], START_TIMEOUT_S)[0]
                line = self._file.readline() if ready else b""
                reply = json.loads(line) if line else {}
            except (OSError, ValueError):
                reply = {}
            if "pid" not in reply:  # dead, refusing (a thread, a late request, no fork), or stuck:
                self._usable = False  # no more forks this run; the kernels it forked keep their server
                return None
            pid = int(reply["pid"])
            try:
                kernel = ForkedProcess(pid)
            except OSError:  # ended already, or pidfds refused after all: start kernels the usual way
                self._usable = False
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGKILL)
                return None
            self._forked += 1
            return kernel

    def close(self) -> None:
        """End the server, once its kernels are shut down (a kernel ends when its server does).
        The server ends by itself when its socket closes, at the latest after the import it is in."""
        with self._lock:
            if self._file is not None:
                for f in (self._file, self._sock):
                    with contextlib.suppress(OSError):
                        f.close()
                self._file = self._sock = None
            if self._proc is not None:
                try:
                    self._proc.wait(10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
                self._proc = None


# -- the server ---------------------------------------------------------------------------------

def _threads() -> list[str]:
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return [] if threading.active_count() == 1 else ["python"]
    names = []
    for t in tasks:
        if int(t) != os.getpid():
            try:
                with open(f"/proc/self/task/{t}/comm") as f:
                    names.append(f.read().strip())
            except OSError:
                names.append("?")
    return names


def _gone(sock: socket.socket) -> bool:
    """Whether the runner closed its end (checked between two imports, without waiting)."""
    return bool(select.select([sock], [], [], 0)[0]) and not sock.recv(1, socket.MSG_PEEK)


def _each_module(names: list[str]) -> Iterator[str]:
    """The modules to import: ``package.*`` stands for the package and every module in it."""
    import importlib
    import pkgutil

    for name in names:
        if not name.endswith(".*"):
            yield name
            continue
        yield name[:-2]
        try:
            package = importlib.import_module(name[:-2])
            yield from sorted(m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + "."))
        except Exception:  # noqa: BLE001 - the kernel imports what it needs itself
            continue


def _serve(fd: int, imports: list[str]) -> dict[str, Any]:
    """Import, then fork one child per request until the runner closes the socket; returns in a
    child only, with the child's request (the child already leads a session of its own)."""
    import importlib
    import warnings

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner stops kernels; the server ends with its socket
    sock = socket.socket(fileno=fd)
    for name in _each_module(imports):
        if _gone(sock):
            os._exit(0)
        with contextlib.suppress(Exception):  # an import that fails, fails again in the kernel, which reports it
            importlib.import_module(name)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forked kernels are reaped as they end
    unsafe = [t for t in _threads() if t not in KNOWN_THREADS] or threading.active_count() != 1
    f = sock.makefile("rwb")
    server = os.getpid()
    while True:
        line = f.readline()
        if not line:  # the runner is done (or gone): nothing to save, no finalising of the imports
            os._exit(0)
        request = json.loads(line)
        if unsafe or time.time() > request["deadline"]:  # a fork copies one thread; a late request was given up
            f.write(json.dumps({"error": "threads" if unsafe else "late"}).encode() + b"\n")
            f.flush()
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        started, told = os.pipe()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # Python >= 3.12 on jemalloc's thread
                pid = os.fork()
        except OSError as exc:  # out of processes or memory: this kernel starts the usual way
            os.close(started)
            os.close(told)
            f.write(json.dumps({"error": str(exc)}).encode() + b"\n")
            f.flush()
            continue
        if pid == 0:
            os.setsid()  # before the runner hears of it, so that a stop reaches the whole group
            os.close(told)
            os.close(started)
            f.close()
            sock.close()
            request["server"] = server
            return request
        os.close(told)
        os.read(started, 1)  # the child closed its end: it leads its session
        os.close(started)
        f.write(json.dumps({"pid": pid}).encode() + b"\n")
        f.flush()


def _become_kernel(request: dict[str, Any]) -> None:
    """In a forked child: become the kernel jupyter_client asked for, as a new process would be."""
    for sig in (signal.SIGCHLD, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ["JPY_PARENT_PID"] = str(request["server"])
    if "numpy" in sys.modules:  # a new process draws its own global stream
        sys.modules["numpy"].random.seed()
    import ipykernel_launcher  # noqa: F401 - its path, for the kernel's argv[0]
    from ipykernel.kernelapp import IPKernelApp

    class ForkedKernelApp(IPKernelApp):
        def init_code(self) -> None:  # the kernel's streams and shell exist; no line of code ran yet
            with self.shell.builtin_trap:  # as while a cell runs (get_ipython is a builtin then)
                _as_in_a_new_kernel()
            super().init_code()

    # the kernel ends when the server does (the default came from the server's environment)
    sys.argv = [ipykernel_launcher.__file__, *request["argv"][3:],
                f"--IPKernelApp.parent_handle={request['server']}"]
    ForkedKernelApp.launch_instance()


def _as_in_a_new_kernel() -> None:
    """Decide again, inside the kernel, what a library decided when the server imported it
    outside one: pandas fits wide frames to a terminal (``display.max_columns`` 0, not 20) and
    takes its encoding from the server's standard output."""
    if "pandas.core.config_init" in sys.modules:
        from pandas._config import config, display
        from pandas.core.config_init import is_terminal

        for key, value in (("display.max_columns", 0 if is_terminal() else 20),
                           ("display.encoding", display.detect_console_encoding())):
            config._registered_options[key] = config._registered_options[key]._replace(defval=value)
            config.set_option(key, value)


if __name__ == "__main__":
    if sys.path[0] == "" or os.path.abspath(sys.path[0]) == os.getcwd():  # as ipykernel_launcher: IPython
        del sys.path[0]  # adds the working folder back, after the standard library
    _become_kernel(_serve(int(sys.argv[1]), sys.argv[2:]))
