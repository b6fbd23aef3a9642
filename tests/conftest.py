"""Shared test fixtures. Keep this file small and generic; topic fixtures live in their modules."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

SMALL_CUSTOMERS = 2_000
SMALL_SEED = 7

os.environ.setdefault(
    "PYSPARK_SUBMIT_ARGS",
    '--driver-java-options "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:CICompilerCount=1" pyspark-shell')
"""The local Spark JVMs of the tests (their sessions, and the kernels of tests/test_notebook_on_spark.py,
which inherit the variable) compile with the quick JIT only and collect garbage on one thread: the
queries of the tests are small, and the optimising compiler and parallel GC threads were half of
the JVMs' CPU time (measured: test_segments_spark + test_attribution_spark, JVM 57.6 -> 30.0 CPU s,
same results). A ``PYSPARK_SUBMIT_ARGS`` of your own is kept."""

SPARK = [
    pytest.mark.spark,
    pytest.mark.skipif(importlib.util.find_spec("pyspark") is None or shutil.which("java") is None,
                       reason="local Spark needs pyspark (the project's 'spark' extra) and Java 17"),
]
"""Marks of a test module that runs on local Spark: ``pytestmark = SPARK``."""


def assert_same_on_spark(spark, duck) -> None:
    """Spark's result equals DuckDB's exactly; only the numeric/temporal dtype may differ (e.g.
    int32 vs int64), never a value. Object columns are compared as they are."""
    import pandas as pd

    spark = spark.reset_index(drop=True)
    for col in duck.columns:
        if spark[col].dtype != duck[col].dtype and duck[col].dtype != object:
            spark[col] = spark[col].astype(duck[col].dtype)
    pd.testing.assert_frame_equal(spark, duck, check_exact=True)


@pytest.fixture(scope="session")
def small_company(tmp_path_factory) -> Path:
    """A small synthetic CRM company (2,000 contacts, seed 7) as parquet files, written once.

    Holds names, e-mail addresses and phone numbers, so privacy checks have something to catch.
    Under xdist, the one the controller wrote for every worker and the background runs.
    """
    import os

    from background import SHARED_ENV, shared_company
    from crm_research import synthetic

    if os.environ.get(SHARED_ENV):
        return shared_company(Path(os.environ[SHARED_ENV]))
    return synthetic.write(tmp_path_factory.mktemp("company") / "small", n_customers=SMALL_CUSTOMERS,
                           seed=SMALL_SEED)


@pytest.fixture(scope="session")
def postgres_server():
    """A throw-away PostgreSQL server (tests/pg_server.py); skips when none can be started."""
    import pg_server

    yield from pg_server.postgres_server_fixture()


@pytest.fixture(scope="session", autouse=True)
def _own_config_dir(tmp_path_factory):
    """Keys the tests create live in a throw-away configuration folder, never in ~/.config."""
    import os

    from crm_research import privacy  # noqa: F401 - the variable is read there

    folder = tmp_path_factory.mktemp("config")
    before = os.environ.get("CRM_RESEARCH_CONFIG_DIR")
    os.environ["CRM_RESEARCH_CONFIG_DIR"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("CRM_RESEARCH_CONFIG_DIR", None)
    else:
        os.environ["CRM_RESEARCH_CONFIG_DIR"] = before


def _xdist_controller(config) -> bool:
    """This process hands tests to pytest-xdist workers (``-n 2``) and runs none itself."""
    return bool(getattr(config.option, "numprocesses", None)) and not hasattr(config, "workerinput")


def pytest_configure(config):
    """Under xdist, the controller owns the background runs (tests/background.py)."""
    if not _xdist_controller(config):
        return
    import os
    import tempfile

    from background import SHARED_ENV, SharedRuns
    from crm_research import report

    shared = Path(tempfile.mkdtemp(prefix="crm-tests-"))
    os.environ[SHARED_ENV] = str(shared)  # the workers start after this and inherit it
    os.environ["CRM_RESEARCH_CONFIG_DIR"] = str(shared / "config")  # the runs' keys stay here
    config._crm_shared_runs = SharedRuns(shared, pdf=report.find_chromium() is not None)
    config._crm_shared_runs.start()


def pytest_unconfigure(config):
    runs = getattr(config, "_crm_shared_runs", None)
    if runs is not None:
        runs.stop()
        shutil.rmtree(runs.shared, ignore_errors=True)


FIRST = ["test_notebook_on_spark.py", "test_attribution_spark.py", "test_journey_spark.py",
         "test_segments_spark.py", "test_churn_survival.py", "test_needs_journey.py", "test_postgres.py",
         "test_engine_checks.py", "test_churn_classifier.py", "test_run_safety.py", "test_needs_churn.py",
         "test_mmm.py", "test_runner_partial.py"]
"""The longest test files (measured), started first under xdist, so that no worker is left with a
long file at the end while the other has finished."""

LAST = ["test_notebooks.py", "test_hostile.py", "test_notebooks_partial.py", "test_report_layout.py"]
"""Files that wait for the background runs (tests/background.py): last, when the runs are done."""


def _file_rank(item) -> int:
    name = item.path.name
    if name in FIRST:
        return FIRST.index(name)
    return len(FIRST) + 1 + LAST.index(name) if name in LAST else len(FIRST)


def pytest_collection_modifyitems(session, config, items):
    """The longest files first and the files reading the background runs last (a stable sort:
    each file's tests stay together, in their order); note whether a collected test waits for
    the background runs (see tests/background.py)."""
    items.sort(key=_file_rank)
    config._crm_background = any("background_runs" in getattr(item, "fixturenames", ()) for item in items)
    import os

    from background import SHARED_ENV

    if config._crm_background and hasattr(config, "workerinput") and os.environ.get(SHARED_ENV):
        (Path(os.environ[SHARED_ENV]) / "start").touch()  # the controller starts them now


SCOPES = {"test_postgres.py": "postgres", "test_engine_checks.py": "postgres"}
"""Test files that share a worker under xdist: one PostgreSQL server (the Spark files, every
``*_spark.py``, share one JVM); every other file is a scope of its own."""

SPARK_TESTS = {"tests/test_engine.py::test_same_aggregation_on_spark_and_duckdb"}
"""Spark tests in a file of other tests: they run on the worker of the Spark files, whose JVM is
up (a JVM of its own costs about 15 s of CPU)."""


if importlib.util.find_spec("xdist") is not None:  # a hook pytest only knows with xdist

    def pytest_xdist_make_scheduler(config, log):
        """Under xdist, each test file runs on one worker (its module fixtures are built once),
        the Spark tests together and the PostgreSQL files together."""
        from xdist.scheduler import LoadScopeScheduling

        config.option.loadscopereorder = False  # files in collection order (FIRST ... LAST), not by size

        class FileScheduling(LoadScopeScheduling):
            def _split_scope(self, nodeid: str) -> str:
                file = nodeid.split("::", 1)[0]
                name = file.rsplit("/", 1)[-1]
                spark = name.endswith("_spark.py") or nodeid.split("[", 1)[0] in SPARK_TESTS
                return "spark" if spark else SCOPES.get(name, file)

        return FileScheduling(config, log)


@pytest.fixture(scope="session")
def background_runs(small_company, _own_config_dir, tmp_path_factory):
    """The whole-notebook runs of tests/background.py, started once, early, in the background
    (under xdist: by the controller, read by every worker)."""
    import os

    from background import SHARED_ENV, RemoteRuns, Runs
    from crm_research import report

    if os.environ.get(SHARED_ENV):
        yield RemoteRuns(Path(os.environ[SHARED_ENV]))
        return
    pdf = report.find_chromium() is not None  # the PDFs are read with pypdfium2 (tests/layout.py)
    runs = Runs(tmp_path_factory.mktemp("background"), small_company, pdf=pdf)
    runs.start()
    yield runs
    runs.stop()


@pytest.fixture(scope="session", autouse=True)
def _start_background_runs(request):
    """Start the background runs with the first test, when the session has a test that needs them."""
    if getattr(request.config, "_crm_background", False):
        request.getfixturevalue("background_runs")


@pytest.fixture(autouse=True)
def _notebook_display_options():
    """``crm_research.notebook.setup`` sets pandas' display options for a notebook's kernel; a test
    that calls it in-process must not change how the tests after it print (the doctests compare
    printed frames: '1.00' against '1.0' when the float format leaks)."""
    import pandas as pd

    keys = ("display.max_rows", "styler.format.escape", "display.float_format")
    before = {k: pd.get_option(k) for k in keys}
    yield
    for k, v in before.items():
        pd.set_option(k, v)
