"""Kernels forked from one process that has imported what the notebooks import.

Each notebook of a run gets a kernel of its own, and each kernel imported the same libraries
again: pandas, Ibis, matplotlib, SciPy, scikit-learn, lifelines, statsmodels, about 3-4 CPU s a
kernel, five times a run. A run now starts one *fork server* as its data is checked: a Python
process with the run's kernel environment that imports :data:`FORK_IMPORTS` once and then, for
each kernel the runner asks for, forks a child that becomes an ordinary IPython kernel (the
command line, environment and working folder jupyter_client would have given it, a session of its
own). The imported modules are shared by every kernel, copy-on-write; nothing else is: a kernel
starts with an empty namespace and the state of a freshly imported library, as before.

The fork server refuses to serve when anything it imported started a thread (a fork copies only
the thread that forks; pyarrow's jemalloc housekeeping thread is known and fork-safe), and the
runner starts kernels the usual way whenever the server is absent, has died, or is asked for a
command that is not an IPython kernel of this interpreter. It ends when the runner closes its
socket, or dies.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from typing import Any

__all__ = ["FORK_IMPORTS", "ForkServer", "ForkedProcess"]

FORK_IMPORTS = ("numpy", "pandas", "pyarrow", "duckdb", "ibis", "matplotlib.pyplot", "scipy.stats",
                "scipy.optimize", "scipy.special", "sklearn.cluster", "sklearn.metrics", "sklearn.preprocessing",
                "lifelines", "statsmodels.api", "ipykernel.kernelapp", "ipykernel.ipkernel",
                "crm_research.notebook", "crm_research.engine", "crm_research.mmm")
"""What the fork server imports before it forks a kernel: every library a notebook imports that
costs more than a few hundredths of a second. Never a module that looks for an IPython shell when
it is imported (``matplotlib_inline.backend_inline``, ``tqdm.auto``): there is none in the server,
and the kernel would not import it again."""

KNOWN_THREADS = ("jemalloc_bg_thd",)
"""Threads an import may start that survive a fork: jemalloc (bundled with pyarrow) prepares
for a fork and restarts its housekeeping thread in the child."""

INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
"""The matplotlib backend an IPython kernel sets before anything imports matplotlib."""

START_TIMEOUT_S = 60.0
"""Seconds the runner waits for a fork (the first one waits for the server's imports)."""


def _kernel_command(argv: list[str]) -> bool:
    """Whether ``argv`` starts an IPython kernel of this interpreter (what a fork can become)."""
    return (len(argv) >= 5 and argv[1:3] == ["-m", "ipykernel_launcher"] and argv[3] == "-f"
            and os.path.realpath(argv[0]) == os.path.realpath(sys.executable))


class ForkedProcess:
    """The part of :class:`subprocess.Popen` jupyter_client uses, for a kernel the fork server
    started (a child of the server, not of the runner: its exit is seen through a pidfd)."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._fd: int | None = os.pidfd_open(pid)

    def poll(self) -> int | None:
        if self.returncode is None and self._fd is not None:
            if select.select([self._fd], [], [], 0)[0]:
                self._exited()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None and self._fd is not None:
            if not select.select([self._fd], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired(["kernel", str(self.pid)], timeout)
            self._exited()
        return self.returncode

    def _exited(self) -> None:
        # the server reaps its children, so the exit status is not ours to read
        self.returncode = 0
        os.close(self._fd)
        self._fd = None

    def send_signal(self, sig: int) -> None:
        if self.returncode is None and self._fd is not None:
            signal.pidfd_send_signal(self._fd, sig)

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
        The kernels' working folder (the server's import path starts there, as a kernel's does).
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

    def start(self) -> ForkServer:
        """Start the server (it imports in the background); a failure leaves kernels to Popen."""
        if not hasattr(os, "pidfd_open") or not hasattr(os, "fork"):
            return self
        ours, theirs = socket.socketpair()
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

    def spawn(self, argv: list[str], env: dict[str, str], cwd: str | None) -> int | None:
        """Fork a kernel running ``argv`` with ``env`` in ``cwd``; its pid, or None when the
        server cannot (then start the kernel the usual way)."""
        if not _kernel_command(argv):
            return None
        request = json.dumps({"argv": argv, "env": env, "cwd": cwd or self.cwd}).encode() + b"\n"
        with self._lock:
            if self._file is None or not self._usable:
                return None
            try:
                self._file.write(request)
                self._file.flush()
                ready = select.select([self._sock], [], [], START_TIMEOUT_S)[0]
                line = self._file.readline() if ready else b""
                reply = json.loads(line) if line else {}
            except (OSError, ValueError):
                reply = {}
            if "pid" not in reply:  # dead, refusing (a thread), or stuck: no more forks this run,
                self._usable = False  # but the kernels it forked keep their server till the run ends
                return None
            return int(reply["pid"])

    def close(self) -> None:
        """End the server, once its kernels are shut down (a kernel ends when its server does)."""
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if self._file is not None:
            for f in (self._file, self._sock):
                try:
                    f.close()
                except OSError:
                    pass
            self._file = self._sock = None
        if self._proc is not None:  # it holds nothing to save, and may still be importing
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


def _serve(fd: int, imports: list[str]) -> dict[str, Any]:
    """Import, then fork one child per request until the runner closes the socket; returns in a
    child only, with the child's request."""
    import importlib

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner stops kernels; the server ends with its socket
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forked kernels are reaped as they end
    sock = socket.socket(fileno=fd)
    f = sock.makefile("rwb")
    failed = None
    for name in imports:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - the kernel reports it, as without a server
            failed = failed or f"{name}: {exc}"
    unsafe = [t for t in _threads() if t not in KNOWN_THREADS] or threading.active_count() != 1
    while True:
        line = f.readline()
        if not line:  # the runner is done (or gone): nothing to save, no finalising of the imports
            os._exit(0)
        if unsafe:
            f.write(json.dumps({"error": f"threads after the imports: {unsafe}"}).encode() + b"\n")
            f.flush()
            continue
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            f.close()
            sock.close()
            return request
        f.write(json.dumps({"pid": pid}).encode() + b"\n")
        f.flush()


def _become_kernel(request: dict[str, Any]) -> None:
    """In a forked child: become the kernel jupyter_client asked for."""
    server = os.getppid()
    os.setsid()
    for sig in (signal.SIGCHLD, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.chdir(request["cwd"])
    sys.path[0] = request["cwd"]
    os.environ.clear()
    os.environ.update(request["env"])
    import ipykernel_launcher  # noqa: F401 - its path, for the kernel's argv[0]
    from ipykernel import kernelapp

    # the kernel ends when the server does (its default came from the server's environment)
    sys.argv = [ipykernel_launcher.__file__, *request["argv"][3:], f"--IPKernelApp.parent_handle={server}"]
    kernelapp.launch_new_instance()


if __name__ == "__main__":
    _become_kernel(_serve(int(sys.argv[1]), sys.argv[2:]))
