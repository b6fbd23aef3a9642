"""Notebook names and parameters: resolved, merged and checked without starting a kernel."""

from __future__ import annotations

import ast
import difflib
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from crm_research import paths
from crm_research._nbformat import nbformat
from crm_research.errors import ParameterError

__all__ = ["Param", "RUNNER_SET", "resolve_notebooks", "notebook_parameters", "coerce", "check_as_of",
           "plan_parameters"]

RUNNER_SET = ("run_dir",)
"""Parameters the runner sets itself (the run folder)."""
_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}


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


_CLOCK_WORDS = {"now", "today"}  # pandas reads these from the wall clock


def check_as_of(value: Any) -> Any:
    """Check that ``value`` is a fixed analysis date (``2026-01-01``); return it unchanged.

    Words that read the wall clock (``now``, ``today``) are refused: a rerun must mean the
    same date.

    Raises
    ------
    ParameterError
        One line: the value and the expected form.
    """
    from crm_research.exprs import parse_as_of

    if isinstance(value, str) and value.strip().lower() in _CLOCK_WORDS:
        raise ParameterError(f"as_of={value!r} reads the clock: give a fixed date as YYYY-MM-DD, "
                             f"e.g. '2026-01-01', so a rerun means the same day")
    parse_as_of(value)
    return value


def _check_value(name: str, value: Any, notebook: str) -> None:
    from crm_research.notebook import check_period

    try:
        if name == "period":
            check_period(value)
        elif name == "as_of":
            check_as_of(value)
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
        YAML: top-level ``name: value`` apply to every notebook of the run declaring ``name``;
        ``<notebook>: {name: value}`` to that notebook only (its stem ``03_journey``, number
        ``"03"`` or name after the number). So one file serves several runs, a section of a
        project notebook outside this run and a parameter only such notebooks declare are
        passed over; a section naming no notebook and a parameter no notebook declares are
        errors.
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
        An unknown parameter or notebook (section), a value of the wrong type, a bad
        ``period`` or ``as_of`` (not a fixed date), or an attempt to set ``run_dir``.
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
        source = f"params file {params_file}"
        data = _read_params_file(params_file)
        project: list[Path] | None = None  # the project's notebooks, read only when needed

        def project_notebooks() -> list[Path]:
            nonlocal project
            if project is None:
                folder = paths.notebooks_dir()
                project = sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))
            return project

        sections: dict[str, dict] = {}
        for k, v in data.items():
            if any(k in declared[s] for s in stems):
                set_global(k, v, source)  # a parameter name wins over a notebook name
            elif notebook_of(k) is not None:
                if not isinstance(v, dict):
                    raise ParameterError(f"{source}: section {k!r} (notebook {notebook_of(k)}) must "
                                         f"hold parameter names and values, e.g. {k}: {{seed: 7}}")
                sections[k] = v
            elif _match_notebook(k, project_notebooks()) is not None:
                continue  # a section for a notebook that is not in this run
            elif isinstance(v, dict):
                listing = ", ".join(p.stem for p in project_notebooks()) or "none"
                raise ParameterError(f"{source}: section {k!r} names no notebook: use a notebook name "
                                     f"or its number ({listing})")
            elif any(k in notebook_parameters(p) for p in project_notebooks()):
                continue  # a parameter of notebooks that are not in this run
            else:
                set_global(k, v, source)  # raises: no notebook has it
        for k, v in sections.items():
            for name, value in v.items():
                set_one(notebook_of(k), str(name), value, source)
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

