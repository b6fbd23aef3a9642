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

Modules: :mod:`~crm_research.run.params` (notebook names and parameters, checked without a
kernel), :mod:`~crm_research.run.execute` (papermill execution, reports, manifest) and
:mod:`~crm_research.run.compare` (two runs side by side).
"""

from crm_research.run.compare import compare_runs, compare_table
from crm_research.run.execute import run_notebooks
from crm_research.run.params import (
    Param,
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
    "plan_parameters",
    "run_notebooks",
    "compare_runs",
    "compare_table",
]
