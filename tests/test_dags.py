"""The DAGs folder: it imports cleanly and cheaply, and the nightly DAG keeps its policies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, timedelta
from pathlib import Path

import pytest

from stratify.airflow.env import WAREHOUSE_POOL

# Not imported from conftest: another folder's conftest.py may take that module name first.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
DAGS_FOLDER = PROJECT_ROOT / "dags"

DAG_ID = "nightly_stratification"
GROUP = "place"  # the mapped task group: one map index per place
STAGE_ORDER = [
    "start_run", "pull", "discover", "validate", "load", "link",
    "features", "costs", "rules", "score", "rank", "measure", "app_access", "publish", "finish",
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

    from stratify.airflow.callbacks import DEFAULT_CONFIG, config_path

    place_configs = runpy.run_path(str(DAGS_FOLDER / "nightly_stratification.py"))["place_configs"]
    from stratify.airflow.tasks import place_configs as moved

    assert place_configs is moved  # the DAG file re-exports the function that moved
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


DAG_FILES = sorted(p.name for p in DAGS_FOLDER.glob("*.py"))


@pytest.fixture(scope="module")
def parsed_alone() -> dict[str, subprocess.Popen]:
    """Each DAG file parsed in a fresh interpreter of its own, all started at once (each is seconds of imports)."""
    procs = {}
    for dag_file in DAG_FILES:
        code = (
            "import json, runpy, sys\n"
            f"runpy.run_path({str(DAGS_FOLDER / dag_file)!r})\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('pandas', 'duckdb', 'sklearn', 'great_expectations', 'stratify'))))\n"
        )
        env = dict(os.environ)  # tests/conftest.py has set the session's Airflow environment here
        procs[dag_file] = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=PROJECT_ROOT,
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    yield procs
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("dag_file", DAG_FILES)
def test_dag_files_import_nothing_heavy_at_parse_time(dag_file, parsed_alone):
    """Parsing must stay cheap: airflow.sdk, pendulum, the standard library, stratify.airflow.callbacks/_tasks only."""
    proc = parsed_alone[dag_file]
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-3000:]
    loaded = set(json.loads(stdout.strip().splitlines()[-1]))
    # numpy/pyarrow may be pulled in by airflow itself; the project's heavy stack must not be
    assert loaded <= {"stratify", "stratify.airflow", "stratify.airflow.callbacks", "stratify.airflow.tasks",
                      "stratify.run", "stratify.run.pipeline", "stratify.resources"}, loaded


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
    from datetime import date, datetime

    run_date = runpy.run_path(str(DAGS_FOLDER / "nightly_stratification.py"))["run_date"]
    summer_night = datetime(2026, 6, 30, 23, 30, tzinfo=UTC)  # 00:30 BST on 1 July
    winter_night = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 02:00 GMT
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


# --------------------------------------------------------------------------- thin DAG files, failures reach people


def test_every_task_body_is_one_call_into_stratify():
    """A DAG file's task bodies are one line each: `return airflow_tasks.<function>(...)`."""
    import ast

    for path in sorted(DAGS_FOLDER.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bodies = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)
                  and any(getattr(getattr(d, "func", d), "id", None) == "task" for d in n.decorator_list)]
        assert bodies, path.name
        for fn in bodies:
            stmts = [b for b in fn.body if not (isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant))]
            assert len(stmts) == 1 and isinstance(stmts[0], ast.Return), (path.name, fn.name)
            call = stmts[0].value
            assert isinstance(call, ast.Call) and ast.unparse(call.func).startswith("airflow_tasks."), (
                path.name, fn.name, ast.unparse(call))


def test_every_task_and_dag_has_the_failure_callbacks(dagbag):
    from stratify.airflow.callbacks import dag_failure_callback, task_failure_callback

    for dag_id in (DAG_ID, "train_wobbling_model", "retention"):
        d = dagbag.dags[dag_id]
        callbacks = d.on_failure_callback if isinstance(d.on_failure_callback, list) else [d.on_failure_callback]
        assert dag_failure_callback in callbacks, dag_id
        for t in d.tasks:
            assert task_failure_callback in list(t.on_failure_callback or []), (dag_id, t.task_id)


class _TI:
    """Just what the callback reads from a task instance."""

    def __init__(self, task_id, try_number=3, map_index=-1, run_id="manual__2026-11-21T02:00:00+00:00", xcom=None):
        self.task_id, self.try_number, self.map_index, self.run_id = task_id, try_number, map_index, run_id
        self.dag_id = DAG_ID
        self._xcom = xcom

    def xcom_pull(self, **_):
        return self._xcom


@pytest.fixture()
def place_cfg(tmp_path):
    from stratify.config import load_config

    (tmp_path / "neighbourhoods.csv").write_text("lsoa21,team\nE01000001,NT01\n", encoding="utf-8")
    path = tmp_path / "place.yaml"
    path.write_text("place: cbplace\nlanding: landing\nwarehouse: w.duckdb\nout: out\n"
                    "neighbourhoods: neighbourhoods.csv\n", encoding="utf-8")
    return load_config(path)


def _run_of(cfg, run_id="20261121-afabc"):
    return {"run_id": run_id, "place": cfg.place, "as_of": "2026-11-21", "config": str(cfg.path)}


def test_failure_callback_writes_status_with_stage_delivery_action_and_airflow_run(place_cfg, caplog):
    from stratify.airflow.callbacks import CONTEXT_RUN, task_failure_callback
    from stratify.ingest.read import DeliveryReadError
    from stratify.run.status import read_status

    try:
        try:
            raise DeliveryReadError(place_cfg.landing / "health" / "health_20261121.csv", "empty file (0 bytes)")
        except DeliveryReadError as inner:
            raise RuntimeError("validate could not read a delivery") from inner
    except RuntimeError as exc:
        error = exc
    context = {"ti": _TI("place.validate"), "run_id": "manual__2026-11-21T02:00:00+00:00", "exception": error,
               "params": {"configs": [], "config": "/elsewhere.yaml"}, CONTEXT_RUN: _run_of(place_cfg)}
    with caplog.at_level("ERROR", logger="stratify.airflow"):
        assert task_failure_callback(context) is None
    status = read_status(place_cfg)
    assert status["status"] == "failed" and status["stage"] == "validate"
    assert status["run_id"] == "20261121-afabc" and status["as_of"] == "2026-11-21"
    assert status["delivery"] == "health_20261121.csv"
    assert "validate" in status["message"] and "last good lists stay published" in status["action"]
    assert status["airflow"] == {"dag_id": DAG_ID, "run_id": "manual__2026-11-21T02:00:00+00:00",
                                 "task_id": "place.validate", "map_index": -1, "try_number": 3}
    (line,) = [r.getMessage() for r in caplog.records if r.name == "stratify.airflow"]
    for part in ("place cbplace", "stage validate", "delivery health_20261121.csv", "try 3", "What to do:",
                 str(place_cfg.out / "status.json")):
        assert part in line, (part, line)


def test_failure_callback_survives_a_context_missing_keys(place_cfg, caplog, monkeypatch):
    from stratify.airflow import callbacks
    from stratify.airflow.callbacks import task_failure_callback
    from stratify.run.status import read_status

    # The default place is this test's own: a context that names no place must not write its status
    # (it used to fall back to examples/place.yaml and rewrite the demo's data/demo/out/status.json).
    monkeypatch.setattr(callbacks, "DEFAULT_CONFIG", str(place_cfg.path))
    with caplog.at_level("ERROR", logger="stratify.airflow"):
        task_failure_callback({})  # nothing at all
        task_failure_callback({"ti": None, "exception": "not an exception", "params": None})
        task_failure_callback({"ti": _TI("place.load"), "params": {"configs": ["/gone.yaml"]}})
        task_failure_callback({"ti": _TI("train"), "params": {"config": str(place_cfg.path.parent / "nope.yaml")}})
    assert read_status(place_cfg) is None  # no place was known: nothing written anywhere
    lines = [r.getMessage() for r in caplog.records if r.name == "stratify.airflow"]
    assert len(lines) == 4 and all(line.startswith("stratify FAILED") for line in lines), lines
    assert "nope.yaml" in lines[-1]


def test_failure_callback_for_a_single_place_dag_uses_its_config_param(place_cfg):
    from stratify.airflow.callbacks import task_failure_callback
    from stratify.run.status import read_status

    task_failure_callback({"ti": _TI("train", try_number=2), "params": {"config": str(place_cfg.path)},
                           "exception": MemoryError("training ran out of memory")})
    status = read_status(place_cfg)
    assert (status["status"], status["stage"], status["run_id"]) == ("failed", "train", None)
    assert status["airflow"]["try_number"] == 2 and "MemoryError" in status["message"]


def test_failure_callback_leaves_the_status_of_an_active_run_alone(place_cfg):
    from stratify.airflow.callbacks import CONTEXT_RUN, task_failure_callback
    from stratify.run.lock import RunLocked
    from stratify.run.status import read_status, write_status

    write_status(place_cfg, "20261121T010000Z", "2026-11-21", "running", "load")
    locked = RunLocked("run 20261121T010000Z of place cbplace is active", {"run_id": "20261121T010000Z"})
    task_failure_callback({"ti": _TI("place.start_run"), "exception": locked, CONTEXT_RUN: _run_of(place_cfg)})
    task_failure_callback({"ti": _TI("purge"), "params": {"config": str(place_cfg.path)},
                           "exception": OSError("busy")})
    assert (read_status(place_cfg)["status"], read_status(place_cfg)["stage"]) == ("running", "load")


def test_finish_failing_after_a_stage_keeps_the_first_stage(place_cfg):
    from stratify.airflow.callbacks import CONTEXT_RUN, task_failure_callback
    from stratify.run.status import read_status

    run = _run_of(place_cfg)
    task_failure_callback({"ti": _TI("place.link"), "exception": PermissionError(13, "denied", "/srv/x"),
                           CONTEXT_RUN: run})
    task_failure_callback({"ti": _TI("place.finish", try_number=1), CONTEXT_RUN: run,
                           "exception": RuntimeError("place cbplace: run recorded as failed")})
    status = read_status(place_cfg)
    assert status["stage"] == "link" and status["airflow"]["task_id"] == "place.link"
    assert "/srv/x" in status["action"]


def test_a_failed_stage_raises_what_failed_and_what_to_do_and_is_retried(place_cfg, monkeypatch):
    """run_stage wraps a stage's error: place, stage and action in the message, the original as __cause__."""
    import sys
    import types

    from airflow.sdk.exceptions import AirflowFailException

    from stratify.airflow.callbacks import StageFailed
    from stratify.airflow.tasks import run_stage
    from stratify.config import ConfigError
    from stratify.run.status import read_status

    fake = types.ModuleType("fake_stage")

    def disk_full(cfg, ctx):
        raise OSError(28, "No space left on device", str(cfg.warehouse))

    def bad_config(cfg, ctx):
        raise ConfigError("rules[0].feature: unknown feature")

    fake.disk_full, fake.bad_config = disk_full, bad_config
    monkeypatch.setitem(sys.modules, "fake_stage", fake)
    with pytest.raises(StageFailed) as raised:
        run_stage("fake_stage:disk_full", _run_of(place_cfg))
    err = raised.value
    assert not isinstance(err, AirflowFailException)  # transient errors keep their retries
    assert isinstance(err.__cause__, OSError)
    assert str(err).startswith("place cbplace: stage disk_full failed: the disk is full")
    assert "What to do: free space on the disk" in str(err)
    assert read_status(place_cfg)["status"] == "running"  # the task said which stage it was running
    with pytest.raises(AirflowFailException, match="correct the named key") as raised:
        run_stage("fake_stage:bad_config", _run_of(place_cfg))
    assert isinstance(raised.value.__cause__, ConfigError)


def test_record_failed_run_keeps_the_callbacks_explanation(place_cfg):
    """`finish` after a failed stage: runs row and status.json name the first failed stage and its action."""
    from datetime import date

    from stratify.airflow.callbacks import CONTEXT_RUN, task_failure_callback
    from stratify.airflow.tasks import record_failed_run
    from stratify.run.audit import start_run
    from stratify.run.status import read_status
    from stratify.warehouse.database import connect

    ctx = start_run(place_cfg, date(2026, 11, 21), run_id="20261121-afabc")
    run = {**ctx.to_dict(), "config": str(place_cfg.path)}
    task_failure_callback({"ti": _TI("place.score", try_number=3), CONTEXT_RUN: run,
                           "exception": PermissionError(13, "denied", "/srv/models")})
    message, action = record_failed_run(place_cfg, ctx, "score", {"score": "failed", "publish": "upstream_failed"},
                                        "manual__x", "place.score")
    assert "stage score failed" in message and "publish=upstream_failed" in message and "/srv/models" in action
    status = read_status(place_cfg)
    assert (status["status"], status["stage"], status["action"]) == ("failed", "score", action)
    assert status["airflow"]["try_number"] == 3
    with connect(place_cfg, read_only=True) as con:
        assert con.execute("SELECT status, message FROM runs").fetchall() == [("failed", message)]
    # without the callback's word (it has not run yet): the stage still, and where the log is
    ctx2 = start_run(place_cfg, date(2026, 11, 22), run_id="20261122-afdef")
    message, action = record_failed_run(place_cfg, ctx2, "load", {"load": "failed"}, "manual__y", "place.load")
    assert read_status(place_cfg)["stage"] == "load" and "place.load" in action and "manual__y" in action


def test_dag_failure_callback_never_raises(caplog):
    from stratify.airflow.callbacks import dag_failure_callback

    with caplog.at_level("ERROR", logger="stratify.airflow"):
        dag_failure_callback({})
        dag_failure_callback({"dag": object(), "run_id": "r1", "reason": "task_failure", "ti": _TI("place.link")})
    lines = [r.getMessage() for r in caplog.records if r.name == "stratify.airflow"]
    assert len(lines) == 2 and "r1" in lines[1] and "place.link" in lines[1] and "status.json" in lines[1]
