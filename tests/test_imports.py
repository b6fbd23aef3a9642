"""Start-up cost: what a notebook's import cell loads, and the lazy public names that keep it small.

Issue 17: the package imports of a notebook cost 5x ``import pandas, numpy`` because every
subpackage imported every submodule and each submodule its model library at load time. The
heavy libraries are now imported where they are used; these tests check, in fresh interpreters,
that a notebook's package imports load none of them (a module-level ``import sklearn`` added
anywhere on those paths fails here), and that the public names still resolve as before.
Timings are in benchmarks/bench_startup.py, not here.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0*.ipynb"))
HEAVY = ("scipy.stats", "scipy.optimize", "sklearn", "lifelines", "statsmodels", "pandera", "matplotlib",
         "pyspark", "nbformat", "papermill")

def _package_imports(notebook: Path) -> str:
    cells = [c for c in json.loads(notebook.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
    src = "".join(cells[1]["source"])  # the cell after the parameters
    lines = src.splitlines()
    out = [
        "\n".join(lines[node.lineno - 1: node.end_lineno])
        for node in ast.parse(src).body
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("crm_research")
    ]
    assert out, f"{notebook.name}: no package import in its import cell"
    return "\n".join(out)


def _loaded(code: str) -> set[str]:
    probe = code + f"\nimport sys\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, check=True, capture_output=True, text=True)
    return {m for m in out.stdout.strip().split(",") if m}


def test_every_notebook_is_checked():
    assert [n.stem for n in NOTEBOOKS] == ["01_baseline", "02_segmentation", "03_journey", "04_attribution",
                                           "05_churn"]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebooks_package_imports_load_no_model_library(notebook):
    assert _loaded(_package_imports(notebook)) == set()


def test_the_runner_notebook_helpers_and_snapshot_reader_load_no_model_library():
    # what a kernel imports to read the run's snapshot (RunContext.load_data)
    assert _loaded("from crm_research import notebook as nb\nfrom crm_research.run import snapshot\n"
                   "from crm_research import data, needs, privacy, synthetic") == set()


def test_the_names_are_the_ones_their_modules_define():
    code = """
import importlib
out = {}
for pkg in ("data", "churn", "segments", "kpi", "journey", "attribution", "run"):
    mod = importlib.import_module("crm_research." + pkg)
    for name in mod.__all__:
        target = mod._EXPORTS[name]
        src, _, attr = target.partition(":")
        expected = getattr(importlib.import_module(src), attr) if attr else importlib.import_module(src)
        assert getattr(mod, name) is expected, (pkg, name)
    assert set(mod.__all__) <= set(mod._EXPORTS), pkg
    out[pkg] = len(mod.__all__)
print(out)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert eval(out.stdout) == {"data": 24, "churn": 64, "segments": 36, "kpi": 28, "journey": 36,
                                "attribution": 34, "run": 11}


def test_a_function_named_like_its_module_stays_the_function():
    # importing crm_research.data.load (the module) sets the package's attribute `load` in Python;
    # the function must win, as with the eager `from .load import load`
    code = """
import crm_research.data.load, crm_research.segments.rfm, crm_research.attribution.paths
import crm_research.attribution.bootstrap
from crm_research import attribution, data, kpi, segments
print(callable(data.load), callable(segments.rfm), callable(attribution.paths), callable(attribution.bootstrap),
      type(kpi.present).__name__, type(kpi.scans).__name__)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True", "True", "True", "module", "module"]


def test_star_import_and_unknown_names():
    from crm_research import churn

    ns: dict = {}
    exec("from crm_research.churn import *", ns)
    assert set(churn.__all__) <= set(ns)
    assert "BetaGeoModel" in dir(churn)
    with pytest.raises(AttributeError, match="has no attribute 'not_a_name'"):
        churn.not_a_name  # noqa: B018


def test_the_written_out_chi_square_median_is_scipys():
    from scipy import stats

    from crm_research.journey import friction_scan

    assert friction_scan._MEDIAN_CHI2_1 == float(stats.chi2.median(1))


def test_schemas_are_built_on_first_use_and_kept():
    from crm_research.data import schemas

    assert schemas.SCHEMAS is schemas.SCHEMAS
    assert list(schemas.SCHEMAS) == ["customers", "orders", "order_items", "events", "campaigns", "ad_spend",
                                     "tickets", "surveys", "subscriptions"]
    assert schemas.SCHEMAS["orders"].columns["amount"].checks[0].name == "out_of_range"
