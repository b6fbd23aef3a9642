"""Execute the analysis notebooks into a new run folder, and compare two runs.

A run folder (``reports/run-YYYYmmdd-HHMMSS-<hash>``; never overwritten) holds::

    index.html             links to every report with its headline numbers
    <notebook>.html        one client report per notebook, without code (and .pdf with --pdf)
    tables/<name>.csv      key tables, ids pseudonymised, no personal columns
    figures/<name>.png
    notebooks/<nb>.ipynb   the executed notebooks (with code, for the analyst)
    manifest.json          parameters, data fingerprint, versions, git commit, timings, status
    meta/                  what each notebook recorded (headlines, tables, figures, data)
    FAILED                 only when notebooks failed: one line per failed notebook
    INCOMPLETE             only when the run was interrupted (SIGINT/SIGTERM) or aborted

No run folder holds the pseudonymisation key or anything to reverse pseudonyms with: the key
stays in the user's configuration folder (one per client engagement, ``--key acme``; see
:mod:`crm_research.privacy`) and the manifest records only its name and fingerprint.

A failing notebook does not stop the run (unless ``fail_fast``): the others still run, its
report ends at the failing cell under one plain sentence saying why, the index marks it failed
and :class:`~crm_research.errors.NotebookFailed` is raised once everything is written.

Parameters are merged per notebook, later sources winning: the notebook's ``parameters``
cell < the YAML params file (top-level keys apply to every notebook declaring them; a key
named after a notebook, ``03_journey`` or ``"03"``, holds that notebook's values) <
``data_dir`` < ``-p`` overrides (``NAME`` for every notebook declaring it, ``NOTEBOOK.NAME``
for one). Every name and value is checked before any kernel starts; ``as_of`` must be a fixed
date.

Before the run folder is made, the data of every notebook is loaded and validated and
``as_of`` is checked against its dates (:mod:`~crm_research.run.precheck`). SIGINT and SIGTERM
stop a run within seconds (no new notebook, kernels shut down, the folder marked
``interrupted`` and ``INCOMPLETE``; exit 130/143); a runner that died leaves a *stale* folder,
recognised by its manifest's pid, host and heartbeat (:mod:`~crm_research.run.lifecycle`).
:func:`compare_runs` refuses runs that did not finish well unless ``allow_incomplete``.

Modules: :mod:`~crm_research.run.params` (notebook names and parameters, checked without a
kernel), :mod:`~crm_research.run.precheck` (the data, before any kernel),
:mod:`~crm_research.run.execute` (papermill execution, reports, manifest),
:mod:`~crm_research.run.lifecycle` (signals, kernels, heartbeat, run states),
:mod:`~crm_research.run.compare` (two runs side by side),
:mod:`~crm_research.run.reidentify` (pseudonyms back to ids, on the consultant's machine),
:mod:`~crm_research.run.erasure` (``crm-research forget``: customers erased from every run folder)
and :mod:`~crm_research.run.retention` (``crm-research prune``: run folders older than their
retention). The manifest's ``record_of_processing`` says what personal data the run read, for
what purpose and legal basis, the consent rule and counts of its outreach lists, its outputs,
retention and erasures (see :func:`crm_research.privacy.processing_record`).
:mod:`~crm_research.run.snapshot` keeps the data the run checked, without personal columns and
outside the run folder, so that every notebook reads it instead of loading it again.
"""

from crm_research import _lazy

_EXPORTS = {
    "compare_runs": "crm_research.run.compare:compare_runs",
    "compare_table": "crm_research.run.compare:compare_table",
    "RunInterrupted": "crm_research.run.execute:RunInterrupted",
    "run_notebooks": "crm_research.run.execute:run_notebooks",
    "run_state": "crm_research.run.lifecycle:run_state",
    "Param": "crm_research.run.params:Param",
    "check_as_of": "crm_research.run.params:check_as_of",
    "coerce": "crm_research.run.params:coerce",
    "notebook_parameters": "crm_research.run.params:notebook_parameters",
    "plan_parameters": "crm_research.run.params:plan_parameters",
    "resolve_notebooks": "crm_research.run.params:resolve_notebooks",
}
"""Public name -> where it comes from; each module is imported on first use of one of its names
(:mod:`crm_research._lazy`), so importing a few names does not load every model library."""

__all__ = [
    "Param",
    "resolve_notebooks",
    "notebook_parameters",
    "coerce",
    "check_as_of",
    "plan_parameters",
    "run_notebooks",
    "RunInterrupted",
    "run_state",
    "compare_runs",
    "compare_table",
]

__getattr__, __dir__ = _lazy.install(__name__, _EXPORTS)
