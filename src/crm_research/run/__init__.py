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
    FAILED                 only when notebooks failed: one line per failed notebook

A failing notebook does not stop the run (unless ``fail_fast``): the others still run, its
report ends at the failing cell under one plain sentence saying why, the index marks it failed
and :class:`~crm_research.errors.NotebookFailed` is raised once everything is written.

Parameters are merged per notebook, later sources winning: the notebook's ``parameters``
cell < the YAML params file (top-level keys apply to every notebook declaring them; a key
named after a notebook, ``03_journey`` or ``"03"``, holds that notebook's values) <
``data_dir`` < ``-p`` overrides (``NAME`` for every notebook declaring it, ``NOTEBOOK.NAME``
for one). Every name and value is checked before any kernel starts; ``as_of`` must be a fixed
date.

Modules: :mod:`~crm_research.run.params` (notebook names and parameters, checked without a
kernel), :mod:`~crm_research.run.execute` (papermill execution, reports, manifest) and
:mod:`~crm_research.run.compare` (two runs side by side).
"""

from crm_research.run.compare import compare_runs, compare_table
from crm_research.run.execute import run_notebooks
from crm_research.run.params import (
    Param,
    check_as_of,
    coerce,
    notebook_parameters,
    plan_parameters,
    resolve_notebooks,
)

__all__ = [
    "Param",
    "resolve_notebooks",
    "notebook_parameters",
    "coerce",
    "check_as_of",
    "plan_parameters",
    "run_notebooks",
    "compare_runs",
    "compare_table",
]
