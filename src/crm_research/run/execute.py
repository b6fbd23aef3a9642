"""Execute notebooks with papermill into a new run folder, with client reports and a manifest."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import nbformat

from crm_research import paths, report
from crm_research.errors import CRMError, NotebookFailed
from crm_research.run.params import notebook_parameters, plan_parameters, resolve_notebooks

__all__ = ["run_notebooks", "KERNEL"]

KERNEL = "python3"
KEY_LIBS = ("crm-research", "pandas", "numpy", "scipy", "pyarrow", "duckdb", "ibis-framework",
            "pandera", "scikit-learn", "lifelines", "statsmodels", "matplotlib", "papermill",
            "nbconvert", "nbclient", "ipykernel")
HEARTBEAT_S = 30.0


def _noop(_msg: str) -> None:
    return None


def _key_record() -> dict[str, str]:
    """Where the pseudonymisation key comes from and its public id (never the key itself)."""
    from crm_research import privacy

    env = os.environ.get(privacy.ENV_KEY)
    key = env if env else privacy.project_key()
    return {"source": "environment" if env else "project", "key_id": privacy.key_id(key)}


def _new_run_folder(parent: Path, plan: dict) -> Path:
    digest = hashlib.sha256(json.dumps(plan, sort_keys=True, default=str).encode()).hexdigest()[:7]
    base = f"run-{datetime.now().strftime('%Y%m%d-%H%M%S')}-{digest}"
    parent.mkdir(parents=True, exist_ok=True)
    for i in range(1, 1000):
        folder = parent / (base if i == 1 else f"{base}-{i}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        return folder
    raise CRMError(f"cannot create a new run folder in {parent}: too many runs named {base}")


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
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


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


def _execute(src: Path, dst: Path, params: dict, root: Path) -> None:
    import papermill

    papermill.execute_notebook(
        str(src), str(dst), parameters=params, kernel_name=KERNEL, cwd=str(root),
        progress_bar=False, log_output=False, request_save_on_cell_execute=True,
        # the kernel's TCP-transport warning is noise on a local machine
        extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
    )


def _heartbeat(stem: str, t0: float, progress: Callable[[str], None], stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_S):
        progress(f"  {stem}: still running ({time.perf_counter() - t0:.0f} s)")


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
        Parent of the run folder; default ``reports/``.
    pdf : bool
        Also print each HTML report to PDF with Chromium (skipped with a message if absent).
    progress : callable, optional
        Receives one line of text per step: notebook started, finished (with elapsed seconds),
        and every 30 s a "still running" line, which comes from a helper thread.
    jobs : int, optional
        Notebooks executed at the same time, each in its own kernel (default: 2, or 1 on a
        one-core machine). Results do not depend on it: every kernel computes single-threaded
        (see :mod:`crm_research.engine`).
    fail_fast : bool
        After a failure no further notebook starts (those already running finish; the others
        are marked ``skipped``). Default: every notebook runs, whatever the others do.

    Returns
    -------
    Path
        The run folder (every notebook ``ok``).

    Raises
    ------
    ParameterError
        Unknown notebook or parameter, or a bad value; raised before any kernel starts.
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
    paths_ = resolve_notebooks(notebooks)
    plan = plan_parameters(paths_, params_file, overrides, data_dir)

    from crm_research.notebook import resolve_data_dir

    folders = {}
    for params in plan.values():
        if "data_dir" in params:
            key = params["data_dir"]
            if key not in folders:
                if key is None and not (paths.demo_data_dir(root) / "truth.json").exists():
                    progress("preparing the demo company (first use)")
                folders[key] = str(resolve_data_dir(key))
            params["data_dir"] = folders[key]
    _check_kernel()

    run_dir = _new_run_folder(Path(out_dir) if out_dir else paths.reports_dir(root), plan)
    (run_dir / "notebooks").mkdir()
    manifest: dict[str, Any] = {
        "run": run_dir.name, "status": "running", "started": _now(), "ended": None,
        "project_root": str(root), "git": _git_commit(root), "versions": _versions(),
        "data": None, "pseudonym_key": _key_record(),
        "notebooks": [{"name": p.stem, "source": str(p), "parameters": plan[p.stem], "status": "pending"}
                      for p in paths_],
    }
    _write_json(run_dir / "manifest.json", manifest)
    progress(f"run folder {run_dir}")
    jobs = max(1, min(2, os.cpu_count() or 1) if jobs is None else int(jobs))
    lock = threading.Lock()  # guards the manifest and its file
    failed = threading.Event()
    reports: dict[str, Path] = {}

    def save_manifest() -> None:
        with lock:
            _write_json(run_dir / "manifest.json", manifest)

    def one(i: int, src: Path, entry: dict) -> None:
        stem = src.stem
        if fail_fast and failed.is_set():
            entry["status"] = "skipped"
            return
        params = dict(plan[stem])
        if "run_dir" in notebook_parameters(src):
            params["run_dir"] = str(run_dir)
        executed = run_dir / "notebooks" / src.name
        progress(f"[{i}/{len(paths_)}] {stem} ...")
        entry.update(status="running", started=_now())
        save_manifest()
        t0 = time.perf_counter()
        stop = threading.Event()
        beat = threading.Thread(target=_heartbeat, args=(stem, t0, progress, stop), daemon=True)
        beat.start()
        failure = None
        try:
            _execute(src, executed, params, root)
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the run
            failure = _failure(stem, src, exc, executed)
            entry.update(status="failed", error=failure["line"],
                         failure={k: failure[k] for k in ("cell", "exception", "message", "sentence")})
            failed.set()
        else:
            entry["status"] = "ok"
        finally:
            stop.set()
            entry.update(ended=_now(), duration_s=round(time.perf_counter() - t0, 2))
        _collect_meta(run_dir, entry)
        if executed.exists():
            try:
                with lock:
                    reports[stem] = _write_report(run_dir, executed, entry, manifest,
                                                  failure["sentence"] if failure else None)
            except CRMError as exc:
                if failure is None:
                    entry.update(status="failed", error=f"notebook {stem}: {exc}")
                    failed.set()
                else:  # keep the notebook's own error; say why there is no report
                    progress(f"  {stem}: no report written: {exc}")
        save_manifest()
        progress(f"[{i}/{len(paths_)}] {stem} {entry['status']} in {entry['duration_s']:.1f} s"
                 + (f": {entry['failure']['sentence']}" if entry.get("failure") else ""))

    t_run = time.perf_counter()
    work = list(enumerate(zip(paths_, manifest["notebooks"], strict=True), start=1))
    if jobs == 1 or len(work) == 1:
        for i, (src, entry) in work:
            one(i, src, entry)
    else:
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="notebook") as pool:
            for fut in [pool.submit(one, i, src, entry) for i, (src, entry) in work]:
                fut.result()
    # failures in reading order
    failures = [m["error"] for m in manifest["notebooks"] if m["status"] == "failed"]
    html_files = [reports[p.stem] for p in paths_ if p.stem in reports]

    fps = {(m.get("data") or {}).get("fingerprint") for m in manifest["notebooks"] if m.get("data")}
    if len(fps) == 1:
        first = next(m["data"] for m in manifest["notebooks"] if m.get("data"))
        manifest["data"] = dict(first)
    elif fps:
        manifest["data"] = {"fingerprint": None, "note": "notebooks used different data; see each notebook"}
    if pdf:
        for stem, name in report.pdf_all(run_dir, html_files, progress).items():
            next(m for m in manifest["notebooks"] if m["name"] == stem)["pdf"] = name
    manifest.update(status="failed" if failures else "ok", ended=_now(),
                    duration_s=round(time.perf_counter() - t_run, 2))
    _write_json(run_dir / "manifest.json", manifest)
    report.write_index(run_dir, manifest)
    if failures:
        (run_dir / "FAILED").write_text("\n".join(failures) + "\n", encoding="utf-8")
        n_ok = sum(m["status"] == "ok" for m in manifest["notebooks"])
        progress(f"done in {manifest['duration_s']:.1f} s: {len(failures)} of {len(paths_)} notebooks "
                 f"failed, {n_ok} ok: {run_dir / 'index.html'}")
        err = NotebookFailed("\n".join(failures))
        err.failures = failures
        err.run_dir = run_dir
        raise err
    progress(f"done in {manifest['duration_s']:.1f} s: {run_dir / 'index.html'}")
    return run_dir


def _collect_meta(run_dir: Path, entry: dict) -> None:
    path = run_dir / "meta" / f"{entry['name']}.json"
    if not path.exists():
        return
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return
    for k in ("data", "headlines", "tables", "figures"):
        if meta.get(k):
            entry[k] = meta[k]
    sections = meta.get("sections")
    if isinstance(sections, list):
        entry["sections"] = [
            {"key": str(x.get("key", "")), "title": str(x.get("title") or x.get("key") or ""),
             "status": str(x.get("status", "")), "reason": str(x.get("reason") or "")}
            for x in sections if isinstance(x, dict)
        ]
    notes = meta.get("data_notes")
    if isinstance(notes, list):
        entry["data_notes"] = [str(n) for n in notes if str(n).strip()]


def _write_report(run_dir: Path, executed: Path, entry: dict, manifest: dict,
                  stopped: str | None = None) -> Path:
    try:
        nb = nbformat.read(executed, as_version=4)
    except (OSError, ValueError) as exc:
        raise CRMError(f"cannot read the executed notebook {executed}: {exc}") from None
    title = report.notebook_title(nb, entry["name"])
    params = entry["parameters"]
    period = {"M": "months", "W": "weeks"}.get(params.get("period"), params.get("period", ""))
    header = {"Analysis date (as of)": params.get("as_of", ""), "Period": period}
    if params.get("data_dir"):
        header["Data"] = Path(params["data_dir"]).name
    header = {k: v for k, v in header.items() if v not in ("", None)}
    fp = (entry.get("data") or {}).get("fingerprint") or ""
    footer = f"Run {manifest['run']} · notebook {entry['name']}" + (f" · data {fp[:12]}" if fp else "")
    if stopped is not None:
        nb = report.until_error(nb)
    text = report.notebook_html(nb, title, header, footer, notice=stopped)
    out = run_dir / f"{entry['name']}.html"
    out.write_text(text, encoding="utf-8")
    entry.update(title=title, report=out.name)
    return out

