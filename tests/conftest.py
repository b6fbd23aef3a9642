"""Shared test fixtures. Keep this file small and generic; topic fixtures live in their modules."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

SMALL_CUSTOMERS = 2_000
SMALL_SEED = 7

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
    """
    from crm_research import synthetic

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


def pytest_collection_modifyitems(session, config, items):
    """Note whether a collected test waits for the background runs (see tests/background.py)."""
    config._crm_background = any("background_runs" in getattr(item, "fixturenames", ()) for item in items)


@pytest.fixture(scope="session")
def background_runs(small_company, _own_config_dir, tmp_path_factory):
    """The whole-notebook runs of tests/background.py, started once, early, in the background."""
    from background import Runs
    from crm_research import report

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
