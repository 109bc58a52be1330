"""The DAGs folder: it imports cleanly and cheaply, and the nightly DAG keeps its policies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest

from conftest import AIRFLOW_TEST_ENV, DAGS_FOLDER, PROJECT_ROOT
from stratify.airflow_env import WAREHOUSE_POOL

DAG_ID = "nightly_stratification"
TASK_ORDER = [
    "start_run", "pull", "discover", "validate", "load", "link",
    "features", "rules", "score", "publish", "finish",
]


@pytest.fixture(scope="module")
def dag(dagbag):
    assert DAG_ID in dagbag.dags, f"{DAG_ID} not found; import errors: {dagbag.import_errors}"
    return dagbag.dags[DAG_ID]


def test_dags_folder_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert dagbag.size() >= 1


def test_schedule_is_02_00_london_without_catchup(dag):
    from airflow.sdk import CronTriggerTimetable

    assert isinstance(dag.timetable, CronTriggerTimetable)
    assert dag.timetable.expression == "0 2 * * *"
    assert str(dag.timetable.timezone) == "Europe/London"
    assert dag.timezone.name == "Europe/London"
    assert dag.start_date.tzinfo is not None
    assert dag.catchup is False
    assert dag.max_active_runs == 1


def test_tags_docs_and_params(dag):
    assert "stratify" in dag.tags and "nightly" in dag.tags
    assert dag.doc_md and "Nightly risk stratification" in dag.doc_md
    assert set(dag.params.keys()) == {"config", "as_of"}
    assert dag.params["as_of"] == ""
    assert dag.params["config"].endswith(".yaml")


def test_tasks_retry_and_share_the_warehouse_pool(dag):
    for t in dag.tasks:
        assert t.pool == WAREHOUSE_POOL, t.task_id
        assert t.execution_timeout is not None, t.task_id
        if t.task_id != "finish":
            assert t.retries == 2, t.task_id
            assert timedelta(0) < t.retry_delay <= timedelta(minutes=5), t.task_id


def test_tasks_form_one_chain_in_stage_order(dag):
    assert sorted(dag.task_ids) == sorted(TASK_ORDER)
    for before, after in zip(TASK_ORDER, TASK_ORDER[1:]):
        assert after in dag.get_task(before).downstream_task_ids, f"{before} -> {after} missing"
    # every stage also reads the run context from start_run; nothing else crosses the chain
    for t in dag.tasks:
        idx = TASK_ORDER.index(t.task_id)
        allowed = {TASK_ORDER[idx - 1]} if idx else set()
        if t.task_id not in ("start_run", TASK_ORDER[1]):
            allowed.add("start_run")
        assert t.upstream_task_ids <= allowed, (t.task_id, t.upstream_task_ids)
    assert [t.task_id for t in dag.roots] == ["start_run"]
    assert [t.task_id for t in dag.leaves] == ["finish"]


def test_finish_runs_whatever_happened_upstream(dag):
    finish = dag.get_task("finish")
    assert str(getattr(finish.trigger_rule, "value", finish.trigger_rule)) == "all_done"
    assert finish.retries == 0


@pytest.mark.parametrize("dag_file", sorted(p.name for p in DAGS_FOLDER.glob("*.py")))
def test_dag_files_import_nothing_heavy_at_parse_time(dag_file):
    """Parsing must stay cheap: airflow.sdk, pendulum, the standard library and stratify.airflow_support only."""
    code = (
        "import json, runpy, sys\n"
        f"runpy.run_path({str(DAGS_FOLDER / dag_file)!r})\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pandas', 'duckdb', 'sklearn', 'great_expectations', 'stratify'))))\n"
    )
    env = {**os.environ, **AIRFLOW_TEST_ENV}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=PROJECT_ROOT, check=True, capture_output=True, text=True
    )
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    # numpy/pyarrow may be pulled in by airflow itself; the project's heavy stack must not be
    assert loaded <= {"stratify", "stratify.airflow_support", "stratify.pipeline"}, loaded


def test_training_dag_is_monthly_in_london_with_one_task(dagbag):
    from airflow.sdk import CronTriggerTimetable

    dag = dagbag.dags["train_wobbling_model"]
    assert isinstance(dag.timetable, CronTriggerTimetable)
    assert dag.timetable.expression == "0 3 1 * *" and str(dag.timetable.timezone) == "Europe/London"
    assert dag.catchup is False and dag.max_active_runs == 1
    assert [t.task_id for t in dag.tasks] == ["train"]
    assert dag.tasks[0].pool == WAREHOUSE_POOL and dag.tasks[0].retries == 1
    assert set(dag.params.keys()) == {"config", "as_of"}


def test_warehouse_pool_exists_in_the_test_database(airflow_db):
    from airflow.models.pool import Pool

    pool = Pool.get_pool(WAREHOUSE_POOL)
    assert pool is not None and pool.slots == 1


def test_default_as_of_is_the_runs_date_in_london():
    import runpy
    from datetime import date, datetime, timezone

    run_date = runpy.run_path(str(DAGS_FOLDER / "nightly_stratification.py"))["run_date"]
    summer_night = datetime(2026, 6, 30, 23, 30, tzinfo=timezone.utc)  # 00:30 BST on 1 July
    winter_night = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)  # 02:00 GMT
    assert run_date(summer_night, None) == date(2026, 7, 1)
    assert run_date(None, summer_night) == date(2026, 7, 1)  # manual run: no logical date
    assert run_date(winter_night, summer_night) == date(2026, 12, 1)  # the logical date wins
    assert isinstance(run_date(None, None), date)


def test_retention_dag_is_weekly_in_london_with_one_thin_task(dagbag):
    from airflow.sdk import CronTriggerTimetable

    dag = dagbag.dags["retention"]
    assert isinstance(dag.timetable, CronTriggerTimetable)
    assert dag.timetable.expression == "0 4 * * 0" and str(dag.timetable.timezone) == "Europe/London"
    assert dag.timezone.name == "Europe/London"
    assert dag.catchup is False and dag.max_active_runs == 1
    assert [t.task_id for t in dag.tasks] == ["purge"]
    assert dag.tasks[0].pool == WAREHOUSE_POOL and dag.tasks[0].execution_timeout is not None
    assert set(dag.params.keys()) == {"config", "dry_run"} and dag.params["dry_run"] is False
    assert "retention" in dag.tags and "Weekly retention" in dag.doc_md
