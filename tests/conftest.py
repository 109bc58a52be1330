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
import tempfile
import time
from pathlib import Path

import pytest

from checkout_guard import checkout_differences, checkout_state
from stratify.airflow.env import WAREHOUSE_POOL, WAREHOUSE_POOL_DESCRIPTION, airflow_env

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DAGS_FOLDER = PROJECT_ROOT / "dags"

# OMP_WAIT_POLICY=PASSIVE is set by `import stratify` (see stratify/__init__.py), above.

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="stratify-airflow-"))
AIRFLOW_TEST_ENV = {
    **airflow_env(PROJECT_ROOT, _AIRFLOW_HOME),
    "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
}
os.environ.update(AIRFLOW_TEST_ENV)


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


# --------------------------------------------------------------------------- the checkout stays as it was
#
# No test may write outside its temporary folders. The session records the
# checkout when it starts and compares when it ends (on the controller only,
# after every xdist worker is done): what `git status` lists (with each listed
# file's content) and every file under the folders the product writes into
# when run from the checkout (gitignored, so git does not see them). A
# difference fails the run and names the files (tests/checkout_guard.py).


def pytest_sessionstart(session: pytest.Session) -> None:
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        session.config.stash[_CHECKOUT_KEY] = checkout_state(PROJECT_ROOT)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before = session.config.stash.get(_CHECKOUT_KEY, None)
    if before is None:  # an xdist worker: the controller checks once all workers are done
        return
    changed = checkout_differences(before, checkout_state(PROJECT_ROOT))
    if changed:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = ("the tests changed the checkout (a test wrote outside its temporary folders):\n  "
                   + "\n  ".join(changed))
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_line(message, red=True, bold=True)
        else:
            print(message)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_CHECKOUT_KEY = pytest.StashKey[dict]()


# --------------------------------------------------------------------------- running on two workers
#
# `make test` runs `pytest -n 2 --dist loadgroup` (pytest-xdist). Each worker
# is its own process with its own AIRFLOW_HOME (above) and its own temporary
# folders. A group of tests always runs on one worker, so that a module's
# fixtures (and the fault suite's session place) are built once: one group
# per test file, except the fault suite (one group: its session place) and the
# modules that need the Airflow metadata database (one group: reset and parse
# once). xdist 3.8's own `loadgroup` marks node ids through an attribute that
# pytest 9.2 no longer reads, so the groups are made here, by a scheduler.

AIRFLOW_MODULES = {"test_dags.py", "test_e2e_dag.py", "test_many_places.py"}
# Seconds each slow group took on one idle core; the longest go first, so that
# neither worker is left with a long group at the end. Unlisted groups: 0.
GROUP_SECONDS = {"tests/test_airflow_ui.py": 300, "tests/test_celery_deployment.py": 200, "faults": 110, "airflow": 100, "tests/test_install.py": 40,
                 "tests/test_broken_deliveries.py": 70, "tests/test_bench.py": 50,
                 "tests/test_model.py": 45, "tests/test_lists.py": 30, "tests/test_report.py": 30,
                 "tests/test_validate.py": 25, "tests/test_encryption.py": 20,
                 "tests/test_app_browser.py": 60, "tests/test_impact.py": 20, "tests/test_costs.py": 20}


def xdist_group(nodeid: str) -> str:
    """The group of a test, from its node id: `faults`, `airflow`, or its file."""
    path = nodeid.split("::", 1)[0]
    if path.startswith("tests/faults/"):
        return "faults"
    return "airflow" if path.rsplit("/", 1)[-1] in AIRFLOW_MODULES else path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):  # on xdist workers: the longest groups first (stable otherwise)
        items.sort(key=lambda it: -GROUP_SECONDS.get(xdist_group(it.nodeid), 0))


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist (the test extra)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        """Whole groups (`xdist_group`) to one worker each, in collection order (longest first)."""

        def _split_scope(self, nodeid: str) -> str:
            return xdist_group(nodeid)

        def schedule(self) -> None:
            config.option.loadscopereorder = False  # keep the collection's order, not "most tests first"
            super().schedule()

    return GroupScheduling(config, log)


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """The session's AIRFLOW_HOME (environment already set)."""
    return _AIRFLOW_HOME


@pytest.fixture(scope="session")
def airflow_db(airflow_home: Path) -> dict[str, float]:
    """A freshly reset metadata database with the warehouse pool; returns timings in seconds.

    In this process (as `airflow db reset --yes` and `airflow pools set` do
    it), not through the command line: each of those commands is a Python
    start-up that imports Airflow again, seconds each, and the DAG tests
    import Airflow here anyway.
    """
    t0 = time.perf_counter()
    from airflow.models.pool import Pool
    from airflow.utils.db import resetdb

    resetdb()
    reset_s = time.perf_counter() - t0
    Pool.create_or_update_pool(name=WAREHOUSE_POOL, slots=1, description=WAREHOUSE_POOL_DESCRIPTION,
                               include_deferred=False)
    return {"db_reset_s": reset_s}


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    """The project's DAGs folder, parsed once per session."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))
