"""The DAGs folder: it imports cleanly and cheaply, and the nightly DAG keeps its policies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from stratify.airflow_env import WAREHOUSE_POOL

# Not imported from conftest: another folder's conftest.py may take that module name first.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
DAGS_FOLDER = PROJECT_ROOT / "dags"

DAG_ID = "nightly_stratification"
GROUP = "place"  # the mapped task group: one map index per place
STAGE_ORDER = [
    "start_run", "pull", "discover", "validate", "load", "link",
    "features", "rules", "score", "publish", "finish",
]
TASK_ORDER = [f"{GROUP}.{t}" for t in STAGE_ORDER]


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
    assert set(dag.params.keys()) == {"config", "configs", "as_of"}
    assert dag.params["as_of"] == ""
    assert dag.params["config"].endswith(".yaml")
    assert dag.params["configs"] == []


def test_tasks_retry_and_share_the_warehouse_pool(dag):
    for t in dag.tasks:
        assert t.execution_timeout is not None, t.task_id
        if t.task_id == "places":  # lists the places; opens no warehouse
            assert t.pool != WAREHOUSE_POOL and t.retries == 0
            continue
        assert t.pool == WAREHOUSE_POOL, t.task_id
        if t.task_id != f"{GROUP}.finish":
            assert t.retries == 2, t.task_id
            assert timedelta(0) < t.retry_delay <= timedelta(minutes=5), t.task_id


def test_tasks_form_one_chain_per_place_in_stage_order(dag):
    assert sorted(dag.task_ids) == sorted(["places", *TASK_ORDER])
    for before, after in zip(TASK_ORDER, TASK_ORDER[1:]):
        assert after in dag.get_task(before).downstream_task_ids, f"{before} -> {after} missing"
    # every stage also reads the run context from start_run; nothing else crosses the chain
    for task_id in TASK_ORDER:
        t = dag.get_task(task_id)
        idx = TASK_ORDER.index(task_id)
        allowed = {TASK_ORDER[idx - 1]} if idx else {"places"}
        if idx > 1:
            allowed.add(f"{GROUP}.start_run")
        assert t.upstream_task_ids <= allowed, (t.task_id, t.upstream_task_ids)
    assert [t.task_id for t in dag.roots] == ["places"]
    assert [t.task_id for t in dag.leaves] == [f"{GROUP}.finish"]


def test_the_place_group_is_mapped_over_the_places(dag):
    """A mapped task GROUP: inside one map index a task waits only for its own place's tasks.

    (A mapped task downstream of another mapped task outside a group would
    wait for every index, letting one place hold back the others.)
    """
    from airflow.sdk.definitions.taskgroup import MappedTaskGroup

    group = dag.task_group_dict[GROUP]
    assert isinstance(group, MappedTaskGroup)
    assert {t.task_id for t in group} == set(TASK_ORDER)
    for task_id in TASK_ORDER:
        assert dag.get_task(task_id).task_group is group, task_id
    assert dag.get_task("places").downstream_task_ids == {f"{GROUP}.start_run"}


def test_places_come_from_configs_else_the_variable_else_config():
    import runpy

    from stratify.airflow_support import DEFAULT_CONFIG, config_path

    place_configs = runpy.run_path(str(DAGS_FOLDER / "nightly_stratification.py"))["place_configs"]
    assert place_configs(["/p/a.yaml", "/p/b.yaml", "/p/a.yaml"], "/p/c.yaml", ["/p/v.yaml"]) == [
        "/p/a.yaml", "/p/b.yaml"]  # each place once, in the given order
    assert place_configs([], "/p/c.yaml", ["/p/v.yaml", "/p/w.yaml"]) == ["/p/v.yaml", "/p/w.yaml"]
    assert place_configs([], "/p/c.yaml", None) == ["/p/c.yaml"]
    assert place_configs(None, "", None) == [str(config_path(DEFAULT_CONFIG))]  # `config`'s default place
    assert place_configs(["examples/place.yaml"], "", None) == [str(PROJECT_ROOT / "examples" / "place.yaml")]
    assert place_configs([], "/p/c.yaml", "/p/v.yaml") == ["/p/v.yaml"]
    with pytest.raises(ValueError, match="stratify_places must be a JSON list of place YAML paths"):
        place_configs([], "/p/c.yaml", {"wigan": "/p/w.yaml"})


def test_finish_runs_whatever_happened_upstream(dag):
    finish = dag.get_task(f"{GROUP}.finish")
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
    env = dict(os.environ)  # tests/conftest.py has set the session's Airflow environment here
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
