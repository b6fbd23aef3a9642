"""Execute the analysis notebooks into a new run folder, and compare two runs.

A run folder (``reports/run-YYYYmmdd-HHMMSS-<hash>``; never overwritten) holds::

    index.html             links to every report with its headline numbers
    <notebook>.html        one client report per notebook, without code (and .pdf with --pdf)
    tables/<name>.csv      key tables, ids pseudonymised, no personal columns
    figures/<name>.png
    notebooks/<nb>.ipynb   the executed notebooks (with code, for the analyst)
    manifest.json          parameters, data fingerprint, versions, git commit, timings, status
    meta/                  what each notebook recorded (headlines, tables, figures, data)
    private/               the run's pseudonymisation key (never share)
    FAILED                 only when a notebook failed: its one-line error

Parameters are merged per notebook, later sources winning: the notebook's ``parameters``
cell < the YAML params file (top-level keys apply to every notebook declaring them; a key
named after a notebook holds that notebook's values) < ``data_dir`` < ``-p`` overrides
(``NAME`` for every notebook declaring it, ``NOTEBOOK.NAME`` for one). Every name and value is
checked before any kernel starts.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import nbformat
import yaml

from crm_research import paths, report
from crm_research.errors import CRMError, NotebookFailed, ParameterError

__all__ = [
    "Param",
    "resolve_notebooks",
    "notebook_parameters",
    "coerce",
    "plan_parameters",
    "run_notebooks",
    "compare_runs",
]

KERNEL = "python3"
RUNNER_SET = ("run_dir",)
"""Parameters the runner sets itself (the run folder)."""
KEY_LIBS = ("crm-research", "pandas", "numpy", "scipy", "pyarrow", "duckdb", "ibis-framework",
            "pandera", "scikit-learn", "lifelines", "statsmodels", "matplotlib", "papermill",
            "nbconvert", "nbclient", "ipykernel")
HEARTBEAT_S = 30.0
_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}


def _noop(_msg: str) -> None:
    return None


# ---------------------------------------------------------------------------------------
# notebooks and their parameters
# ---------------------------------------------------------------------------------------


def resolve_notebooks(names: Sequence[str] | None = None, folder: Path | None = None) -> list[Path]:
    """Turn notebook names into paths, in the order given (default: all, in reading order).

    Parameters
    ----------
    names : sequence of str, optional
        Each a file name (``05_churn.ipynb``), a stem (``05_churn``), the part after the
        number (``churn``), a number (``"5"``) or a path to any ``.ipynb`` file.
    folder : Path, optional
        Notebook folder (default: ``notebooks/`` of the project).

    Returns
    -------
    list of Path

    Raises
    ------
    ParameterError
        A name matches no notebook, or several.
    """
    folder = folder or paths.notebooks_dir()
    available = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))
    if not names:
        if not available:
            raise ParameterError(f"no notebooks found in {folder}")
        return available
    out: list[Path] = []
    for name in names:
        path = _match_notebook(str(name), available)
        if path is None:
            p = Path(name).expanduser()
            if p.suffix == ".ipynb" and p.is_file():
                path = p.resolve()
        if path is None:
            listing = ", ".join(p.stem for p in available) or "none"
            raise ParameterError(f"no notebook {name!r}: use a number 1..{len(available)}, a name "
                                 f"({listing}) or a path to a .ipynb file")
        if path not in out:
            out.append(path)
    return out


def _match_notebook(name: str, available: list[Path]) -> Path | None:
    key = name.removesuffix(".ipynb")
    for p in available:
        if key == p.stem:
            return p
    if key.isdigit():
        hits = [p for p in available if p.stem.split("_", 1)[0].isdigit()
                and int(p.stem.split("_", 1)[0]) == int(key)]
        return hits[0] if len(hits) == 1 else None
    hits = [p for p in available if p.stem.split("_", 1)[-1] == key]
    return hits[0] if len(hits) == 1 else None


@dataclass(frozen=True)
class Param:
    """One parameter declared in a notebook's ``parameters`` cell.

    Attributes
    ----------
    name : str
    default : Any
        The default as a Python value (``None`` when it is not a literal; see ``literal``).
    literal : bool
        Whether the default is a plain literal (its type then drives coercion).
    help : str
        The comment after the assignment.
    """

    name: str
    default: Any
    literal: bool
    help: str


def notebook_parameters(path: Path) -> dict[str, Param]:
    """Read the parameters of a notebook's ``parameters`` cell without starting a kernel.

    Parameters
    ----------
    path : Path

    Returns
    -------
    dict of str to Param
        In declaration order.
    """
    import papermill

    try:
        found = papermill.inspect_notebook(str(path))
    except Exception as exc:  # papermill raises several types for unreadable notebooks
        raise ParameterError(f"cannot read the parameters of {path}: {exc}") from exc
    missed = [n for n in _assigned_names(path) if n not in found]
    if missed:
        raise ParameterError(
            f"{path.name}: papermill cannot read parameter(s) {', '.join(missed)} of the "
            f"parameters cell: write one `name = value  # comment` per line, without '=' in comments"
        )
    out = {}
    for name, info in found.items():
        try:
            default, literal = ast.literal_eval(info["default"]), True
        except (ValueError, SyntaxError):
            default, literal = None, False
        out[name] = Param(name, default, literal, info.get("help", ""))
    return out


def _assigned_names(path: Path) -> list[str]:
    """Names assigned at the top level of the notebook's ``parameters`` cell (via ``ast``)."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            try:
                tree = ast.parse(cell.source)
            except SyntaxError as exc:
                raise ParameterError(f"{path.name}: the parameters cell is not valid Python: {exc}") from None
            names = []
            for node in tree.body:
                targets = node.targets if isinstance(node, ast.Assign) else (
                    [node.target] if isinstance(node, ast.AnnAssign) else [])
                names += [t.id for t in targets if isinstance(t, ast.Name)]
            return names
    return []


def _typename(default: Any) -> str:
    return "text or path" if default is None else type(default).__name__


def coerce(value: Any, param: Param, notebook: str) -> Any:
    """Convert ``value`` to the type of ``param``'s default.

    Strings (from ``-p``) are parsed: ``int`` and ``float`` by number syntax, ``bool`` from
    true/false/yes/no/1/0, lists and dicts as YAML. A ``None`` default accepts text or a path
    (``"none"``/``"null"`` give None). Values from YAML files are checked the same way.

    Parameters
    ----------
    value : Any
    param : Param
    notebook : str
        Notebook name, for the message.

    Returns
    -------
    Any

    Raises
    ------
    ParameterError
        Names the notebook, parameter, expected type and value given.
    """
    d = param.default

    def bad(extra: str = "") -> ParameterError:
        return ParameterError(f"{notebook}: parameter {param.name}={value!r} is not a valid "
                              f"{_typename(d)} (default {d!r}){extra}")

    if not param.literal:
        return str(value) if isinstance(value, os.PathLike) else value
    if value is None:
        if d is None:
            return None
        raise bad()
    if d is None:
        if isinstance(value, str | os.PathLike):
            s = str(value)
            return None if s.strip().lower() in ("none", "null") else s
        raise bad(": give a text or a path")
    if isinstance(d, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise bad(": use true or false")
    if isinstance(d, int):
        if isinstance(value, bool):
            raise bad()
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                raise bad(": give a whole number") from None
        raise bad()
    if isinstance(d, float):
        if isinstance(value, bool):
            raise bad()
        if isinstance(value, int | float):
            v = float(value)
        elif isinstance(value, str):
            try:
                v = float(value.strip())
            except ValueError:
                raise bad(": give a number") from None
        else:
            raise bad()
        if not math.isfinite(v):
            raise bad(": give a finite number")
        return v
    if isinstance(d, str):
        if isinstance(value, str):
            return value
        if isinstance(value, datetime | date):
            return value.isoformat()
        if isinstance(value, int | float | os.PathLike) and not isinstance(value, bool):
            return str(value)
        raise bad()
    if isinstance(d, list | tuple | dict):
        v = value
        if isinstance(value, str):
            try:
                v = yaml.safe_load(value)
            except yaml.YAMLError:
                raise bad(": give YAML, e.g. [1, 2]") from None
        want = dict if isinstance(d, dict) else (list, tuple)
        if not isinstance(v, want):
            raise bad()
        return list(v) if isinstance(d, list | tuple) else v
    return value


def _check_value(name: str, value: Any, notebook: str) -> None:
    from crm_research.notebook import check_period, parse_as_of

    try:
        if name == "period":
            check_period(value)
        elif name == "as_of":
            parse_as_of(value)
    except ParameterError as exc:
        raise ParameterError(f"{notebook}: {exc}") from None


def _unknown(name: str, notebook: str, params: dict[str, Param]) -> ParameterError:
    close = difflib.get_close_matches(name, list(params), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    listing = ", ".join(p for p in params if p not in RUNNER_SET) or "none"
    return ParameterError(f"notebook {notebook} has no parameter {name!r}{hint}; its parameters: {listing}")


def _read_params_file(path: Path) -> dict:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParameterError(f"params file {path} does not exist") from None
    except yaml.YAMLError as exc:
        raise ParameterError(f"params file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParameterError(f"params file {path}: expected a mapping of parameter names to values")
    return {str(k): v for k, v in data.items()}


def plan_parameters(
    notebooks: Sequence[Path],
    params_file: Path | None = None,
    overrides: Iterable[tuple[str, str]] = (),
    data_dir: Path | None = None,
) -> dict[str, dict[str, Any]]:
    """Merge and check the parameters of each notebook, without starting a kernel.

    Parameters
    ----------
    notebooks : sequence of Path
    params_file : Path, optional
        YAML: top-level ``name: value`` apply to every notebook declaring ``name``;
        ``<notebook>: {name: value}`` to one notebook (stem, number or name after the number).
    overrides : iterable of (str, str)
        ``(NAME, VALUE)`` or ``(NOTEBOOK.NAME, VALUE)``; values are parsed to the default's type.
    data_dir : Path, optional
        Sets ``data_dir`` of every notebook declaring it.

    Returns
    -------
    dict
        ``{notebook stem: {parameter: value}}``, every declared parameter present except
        those the runner sets (``run_dir``).

    Raises
    ------
    ParameterError
        An unknown parameter or notebook, a value of the wrong type, a bad ``period`` or
        ``as_of``, or an attempt to set ``run_dir``.
    """
    stems = [p.stem for p in notebooks]
    declared = {p.stem: notebook_parameters(p) for p in notebooks}
    values: dict[str, dict[str, Any]] = {s: {} for s in stems}

    def notebook_of(key: str) -> str | None:
        m = _match_notebook(key, list(notebooks))
        return m.stem if m is not None else None

    def set_global(name: str, value: Any, source: str) -> None:
        if name in RUNNER_SET:
            raise ParameterError(f"{name} is chosen by the runner ({source}): use --out for the "
                                 f"folder that holds the run folders")
        takers = [s for s in stems if name in declared[s]]
        if not takers:
            if len(stems) == 1:
                raise _unknown(name, stems[0], declared[stems[0]])
            raise ParameterError(f"no notebook of this run ({', '.join(stems)}) has a parameter "
                                 f"{name!r} ({source})")
        for s in takers:
            values[s][name] = coerce(value, declared[s][name], s)

    def set_one(stem: str, name: str, value: Any, source: str) -> None:
        if name in RUNNER_SET:
            raise ParameterError(f"{name} is chosen by the runner ({source}): use --out instead")
        if name not in declared[stem]:
            raise _unknown(name, stem, declared[stem])
        values[stem][name] = coerce(value, declared[stem][name], stem)

    if params_file is not None:
        data = _read_params_file(params_file)
        sections = {k: v for k, v in data.items() if isinstance(v, dict) and notebook_of(k)}
        for k, v in data.items():
            if k not in sections:
                set_global(k, v, f"params file {params_file}")
        for k, v in sections.items():
            for name, value in v.items():
                set_one(notebook_of(k), str(name), value, f"params file {params_file}")
    if data_dir is not None:
        if any("data_dir" in declared[s] for s in stems):
            set_global("data_dir", str(data_dir), "--data")
    for name, value in overrides:
        prefix, dot, rest = str(name).partition(".")
        if dot and rest:
            stem = notebook_of(prefix)
            if stem is None:
                raise ParameterError(f"-p {name}: no notebook {prefix!r} in this run ({', '.join(stems)})")
            set_one(stem, rest, value, f"-p {name}")
        else:
            set_global(str(name), value, f"-p {name}")

    plan = {}
    for s in stems:
        merged = {}
        for name, param in declared[s].items():
            if name in RUNNER_SET:
                continue
            v = values[s].get(name, param.default)
            if not param.literal and name not in values[s]:
                continue  # keep the notebook's own expression
            _check_value(name, v, s)
            merged[name] = v
        plan[s] = merged
    return plan


# ---------------------------------------------------------------------------------------
# the run folder
# ---------------------------------------------------------------------------------------


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


def _failure_line(stem: str, src: Path, exc: Exception, executed: Path) -> str:
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = " ".join(str(getattr(exc, "evalue", exc)).split())
    source = getattr(exc, "source", None)
    where = "while starting or running the kernel"
    if source is not None:
        cells = nbformat.read(src, as_version=4).cells
        idx = next((i for i, c in enumerate(cells) if c.source == source), None)
        first = next((ln.strip() for ln in source.splitlines() if ln.strip()), "")
        if len(first) > 60:
            first = first[:57] + "..."
        where = (f"in cell {idx + 1} `{first}`" if idx is not None
                 else "in the injected parameters cell")
    return f"notebook {stem} failed {where}: {ename}: {evalue} (executed notebook: {executed})"


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

    Returns
    -------
    Path
        The run folder.

    Raises
    ------
    ParameterError
        Unknown notebook or parameter, or a bad value; raised before any kernel starts.
    NotebookFailed
        A notebook raised. The one-line message names the notebook, the cell (counted from 1,
        with its first line) and the error; the run folder keeps the executed notebook up to
        the error, ``manifest.json`` has status ``failed`` and a ``FAILED`` file is written.
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
        "data": None, "pseudonym_key": "environment" if os.environ.get("CRM_RESEARCH_PSEUDO_KEY") else "run",
        "notebooks": [{"name": p.stem, "source": str(p), "parameters": plan[p.stem], "status": "pending"}
                      for p in paths_],
    }
    _write_json(run_dir / "manifest.json", manifest)
    progress(f"run folder {run_dir}")
    html_files: list[Path] = []
    failure: str | None = None
    t_run = time.perf_counter()
    for i, (src, entry) in enumerate(zip(paths_, manifest["notebooks"], strict=True), start=1):
        stem = src.stem
        if failure is not None:
            entry["status"] = "skipped"
            continue
        params = dict(plan[stem])
        if "run_dir" in notebook_parameters(src):
            params["run_dir"] = str(run_dir)
        executed = run_dir / "notebooks" / src.name
        progress(f"[{i}/{len(paths_)}] {stem} ...")
        entry.update(status="running", started=_now())
        _write_json(run_dir / "manifest.json", manifest)
        t0 = time.perf_counter()
        stop = threading.Event()
        beat = threading.Thread(target=_heartbeat, args=(stem, t0, progress, stop), daemon=True)
        beat.start()
        try:
            _execute(src, executed, params, root)
        except Exception as exc:  # noqa: BLE001 - every failure is reported as NotebookFailed
            failure = _failure_line(stem, src, exc, executed)
            entry.update(status="failed", error=failure)
        else:
            entry["status"] = "ok"
        finally:
            stop.set()
            entry.update(ended=_now(), duration_s=round(time.perf_counter() - t0, 2))
        _collect_meta(run_dir, entry)
        if entry["status"] == "ok":
            try:
                html_files.append(_write_report(run_dir, executed, entry, manifest))
            except CRMError as exc:
                failure = f"notebook {stem}: {exc}"
                entry.update(status="failed", error=failure)
        progress(f"[{i}/{len(paths_)}] {stem} {entry['status']} in {entry['duration_s']:.1f} s")

    fps = {(m.get("data") or {}).get("fingerprint") for m in manifest["notebooks"] if m.get("data")}
    if len(fps) == 1:
        first = next(m["data"] for m in manifest["notebooks"] if m.get("data"))
        manifest["data"] = dict(first)
    elif fps:
        manifest["data"] = {"fingerprint": None, "note": "notebooks used different data; see each notebook"}
    if pdf and failure is None:
        for stem, name in report.pdf_all(run_dir, html_files, progress).items():
            next(m for m in manifest["notebooks"] if m["name"] == stem)["pdf"] = name
    manifest.update(status="failed" if failure else "ok", ended=_now(),
                    duration_s=round(time.perf_counter() - t_run, 2))
    _write_json(run_dir / "manifest.json", manifest)
    report.write_index(run_dir, manifest)
    if failure is not None:
        (run_dir / "FAILED").write_text(failure + "\n", encoding="utf-8")
        raise NotebookFailed(failure)
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


def _write_report(run_dir: Path, executed: Path, entry: dict, manifest: dict) -> Path:
    nb = nbformat.read(executed, as_version=4)
    title = report.notebook_title(nb, entry["name"])
    params = entry["parameters"]
    period = {"M": "months", "W": "weeks"}.get(params.get("period"), params.get("period", ""))
    header = {"Analysis date (as of)": params.get("as_of", ""), "Period": period}
    if params.get("data_dir"):
        header["Data"] = Path(params["data_dir"]).name
    header = {k: v for k, v in header.items() if v not in ("", None)}
    fp = (entry.get("data") or {}).get("fingerprint") or ""
    footer = f"Run {manifest['run']} · notebook {entry['name']}" + (f" · data {fp[:12]}" if fp else "")
    text = report.notebook_html(nb, title, header, footer)
    out = run_dir / f"{entry['name']}.html"
    out.write_text(text, encoding="utf-8")
    entry.update(title=title, report=out.name)
    return out


# ---------------------------------------------------------------------------------------
# compare
# ---------------------------------------------------------------------------------------


def _run_folder(p: Path) -> Path:
    p = Path(p)
    if not p.exists() and not p.is_absolute():
        alt = paths.reports_dir() / p
        if alt.exists():
            p = alt
    if not (p / "tables").is_dir():
        raise CRMError(f"{p} is not a run folder (no tables/ inside): give a folder under reports/")
    return p


def _fmt(v: Any, column: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    if column.endswith(" change %"):
        return f"{v:+.1f}%"
    sign = "+" if column.endswith(" change") else ""
    if float(v).is_integer() and abs(v) < 1e15:
        return f"{int(v):{sign},}"
    if abs(v) >= 100:
        return f"{v:{sign},.1f}"
    return f"{v:{sign}.4g}"


def _markdown(df) -> str:
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        cells = [_fmt(v, c).replace("|", "\\|") for v, c in zip(row, cols, strict=True)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def compare_table(a, b):
    """Join two versions of one table on its non-numeric columns; numbers side by side.

    Parameters
    ----------
    a, b : DataFrame
        The table in run A and run B.

    Returns
    -------
    DataFrame
        Key columns, then per numeric column ``<col> A``, ``<col> B``, ``<col> change`` and
        ``<col> change %`` (relative to A; empty when A is 0). Rows present in one run only
        have empty values for the other. Without key columns, rows are matched by position.
    """
    import numpy as np
    import pandas as pd

    num = [c for c in a.columns if c in b.columns and pd.api.types.is_numeric_dtype(a[c])
           and pd.api.types.is_numeric_dtype(b[c]) and not pd.api.types.is_bool_dtype(a[c])]
    keys = [c for c in a.columns if c in b.columns and c not in num]
    left, right = a[keys + num].copy(), b[keys + num].copy()
    if not keys:
        left["row"], right["row"] = range(1, len(left) + 1), range(1, len(right) + 1)
        keys = ["row"]
    for k in keys:
        left[k], right[k] = left[k].astype(str), right[k].astype(str)
    m = left.merge(right, on=keys, how="outer", suffixes=(" A", " B"), sort=False)
    order = {tuple(r): i for i, r in enumerate(left[keys].itertuples(index=False))}
    extra = len(order)
    m["_o"] = [order.get(tuple(r), extra) for r in m[keys].itertuples(index=False)]
    m = m.sort_values("_o", kind="stable").drop(columns="_o").reset_index(drop=True)
    out = m[keys].copy()
    for c in num:
        va, vb = m[f"{c} A"].astype(float), m[f"{c} B"].astype(float)
        out[f"{c} A"], out[f"{c} B"] = va, vb
        out[f"{c} change"] = vb - va
        out[f"{c} change %"] = np.where(va != 0, (vb - va) / va.abs() * 100, np.nan)
    return out


def compare_runs(run_a: Path, run_b: Path, out: Path | None = None, max_rows: int = 40) -> str:
    """Put the tables of two runs side by side.

    Tables present in both runs are joined on their non-numeric columns (see
    :func:`compare_table`); tables present in only one run are listed. Pseudonymised ids
    only match across runs that used the same key (``CRM_RESEARCH_PSEUDO_KEY``).

    Parameters
    ----------
    run_a, run_b : Path
        Run folders (or their names under ``reports/``).
    out : Path, optional
        Folder to write ``comparison.md`` and one ``<table>.csv`` per common table.
    max_rows : int
        Rows shown per table in the text (the CSVs have all).

    Returns
    -------
    str
        The comparison as Markdown.
    """
    import pandas as pd

    from crm_research.notebook import write_csv

    a, b = _run_folder(run_a), _run_folder(run_b)
    ta = {p.stem: p for p in sorted((a / "tables").glob("*.csv"))}
    tb = {p.stem: p for p in sorted((b / "tables").glob("*.csv"))}
    common = [t for t in ta if t in tb]
    lines = [f"# Comparison of runs {a.name} (A) and {b.name} (B)", ""]
    results = {}
    for t in common:
        df = compare_table(pd.read_csv(ta[t]), pd.read_csv(tb[t]))
        results[t] = df
        lines += [f"## {t}", ""]
        lines.append(_markdown(df.head(max_rows)))
        if len(df) > max_rows:
            lines.append(f"\n... {len(df) - max_rows} more rows" + (f" in {t}.csv" if out else ""))
        lines.append("")
    only_a, only_b = [t for t in ta if t not in tb], [t for t in tb if t not in ta]
    if not common:
        lines += ["No table is present in both runs.", ""]
    if only_a:
        lines += [f"Only in A ({a.name}): " + ", ".join(only_a), ""]
    if only_b:
        lines += [f"Only in B ({b.name}): " + ", ".join(only_b), ""]
    text = "\n".join(lines).rstrip() + "\n"
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "comparison.md").write_text(text, encoding="utf-8")
        for t, df in results.items():
            write_csv(df, out / f"{t}.csv")
    return text
