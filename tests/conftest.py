"""Airflow fixtures: a throw-away AIRFLOW_HOME for the whole test session.

Airflow reads its configuration when it is first imported, so the environment
is set here, at conftest import time, before any test module can import
airflow. The metadata database is a fresh SQLite file in a temporary folder,
migrated once per session by the `airflow_db` fixture; the DAGs folder is the
project's `dags/`, as in `make demo`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from stratify.airflow_env import WAREHOUSE_POOL, WAREHOUSE_POOL_DESCRIPTION, airflow_env

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DAGS_FOLDER = PROJECT_ROOT / "dags"

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="stratify-airflow-"))
AIRFLOW_TEST_ENV = {
    **airflow_env(PROJECT_ROOT, _AIRFLOW_HOME),
    "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
}
os.environ.update(AIRFLOW_TEST_ENV)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """The session's AIRFLOW_HOME (environment already set)."""
    return _AIRFLOW_HOME


@pytest.fixture(scope="session")
def airflow_db(airflow_home: Path) -> dict[str, float]:
    """A freshly reset metadata database with the warehouse pool; returns timings in seconds."""
    env = {**os.environ, **AIRFLOW_TEST_ENV}
    airflow = [sys.executable, "-m", "airflow"]
    t0 = time.perf_counter()
    subprocess.run([*airflow, "db", "reset", "--yes"], env=env, check=True, capture_output=True, text=True)
    reset_s = time.perf_counter() - t0
    subprocess.run(
        [*airflow, "pools", "set", WAREHOUSE_POOL, "1", WAREHOUSE_POOL_DESCRIPTION],
        env=env, check=True, capture_output=True, text=True,
    )
    return {"db_reset_s": reset_s}


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    """The project's DAGs folder, parsed once per session."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))
