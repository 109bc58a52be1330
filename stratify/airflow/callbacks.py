"""What every stratify DAG file shares: the place config path, the as-of date, plain-JSON summaries,
and the failure callbacks that tell people which place, stage and delivery failed and what to do.

Imported by `dags/*.py` at parse time, so it imports nothing heavier than
pendulum and the standard library; stratify's stage modules are imported
inside the task bodies (`stratify.airflow.tasks`) and callbacks that need them.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pendulum

from stratify.resources import PROJECT_ROOT

DEFAULT_CONFIG = os.environ.get("STRATIFY_CONFIG") or str(PROJECT_ROOT / "examples" / "place.yaml")
LOCAL_TZ = "Europe/London"
WAREHOUSE_POOL = "stratify_warehouse"
STRATIFY_QUEUE = "stratify"  # the Celery queue stratify's workers serve; the LocalExecutor ignores queues


def config_path(raw: str) -> Path:
    """The place YAML; a relative path is relative to the project folder."""
    path = Path(raw or DEFAULT_CONFIG).expanduser()
    return path if path.is_absolute() else (PROJECT_ROOT / path).resolve()


def run_date(logical_date, run_after, tz: str = LOCAL_TZ) -> date:
    """The run's date in the place's time zone: its logical date, else when it was triggered, else today.

    Manual and asset-triggered runs have no logical date; a scheduled run at
    02:00 London time has logical date = run_after = that night.
    """
    when = logical_date or run_after or pendulum.now("UTC")
    return pendulum.instance(when).in_timezone(tz).date()


def as_of_from_context(context: dict, cfg_timezone: str | None) -> date:
    """The `as_of` param if given, else the run's date in the place's time zone."""
    raw = context["params"].get("as_of")
    if raw:
        return date.fromisoformat(raw)
    dag_run = context["dag_run"]
    return run_date(dag_run.logical_date, dag_run.run_after, cfg_timezone or LOCAL_TZ)


def json_safe(value: Any) -> Any:
    """A summary as plain JSON types (dates, paths and numpy scalars become strings) for XCom."""
    return json.loads(json.dumps(value, default=str))


def load_config_or_fail(path: str | Path):
    """Load the place configuration; a configuration error fails the task without retries."""
    from airflow.sdk.exceptions import AirflowFailException

    from stratify.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        raise AirflowFailException(f"configuration {path}: {exc}") from exc


# --------------------------------------------------------------------------- failures reach people

# Keys a task body puts into its Airflow context, so that its failure callback knows the place and run.
CONTEXT_CONFIG = "stratify_config"  # the place YAML path, as soon as the task knows it
CONTEXT_RUN = "stratify_run"  # the run context dict (run_id, place, as_of, config) once opened

log = logging.getLogger("stratify.airflow")


class StageFailed(RuntimeError):  # a wrapper around the stage's StratifyError (its __cause__), not one itself
    """A stage task failed: the message says which place, stage and delivery, and what to do.

    Raised from the original error (kept as `__cause__`); an ordinary
    exception, so Airflow still retries it (a transient lock or network
    error may pass). `message`, `action` and `delivery` are for the callback.
    """

    def __init__(self, place: str, stage: str, message: str, action: str, delivery: str | None = None):
        self.place, self.stage, self.message, self.action, self.delivery = place, stage, message, action, delivery
        where = f" (delivery {delivery})" if delivery else ""
        super().__init__(f"place {place}: {message}{where}. What to do: {action}")


def explain(cfg, exc: BaseException, stage: str) -> tuple[str, str, str | None]:
    """(message, action, delivery file) for a failure: `status.explain_failure` on its real cause.

    An AirflowFailException or StageFailed raised by our own task bodies is
    unwrapped to the error it was raised from, so the action fits that error.
    """
    from stratify.run.status import explain_failure

    if isinstance(exc, StageFailed):
        return exc.message, exc.action, exc.delivery
    cause = exc
    while isinstance(cause, _wrappers()) and cause.__cause__ is not None:
        cause = cause.__cause__
    message, action = explain_failure(cfg, cause, stage)
    return message, action, delivery_named(cause)


def _wrappers() -> tuple[type[BaseException], ...]:
    """The exceptions our task bodies raise around a stage's own error: StageFailed and AirflowFailException."""
    try:
        from airflow.sdk.exceptions import AirflowFailException
    except ImportError:  # outside Airflow (the CLI, tests without it): only our own wrapper
        return (StageFailed,)
    return (StageFailed, AirflowFailException)


def delivery_named(exc: BaseException | None) -> str | None:
    """The delivery file a failure names (a DeliveryReadError's `file`), None if it names none."""
    seen = 0
    while exc is not None and seen < 20:
        file = getattr(exc, "file", None)
        if isinstance(file, (str, Path)) and str(file):
            return Path(file).name
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def _is_run_locked(exc: BaseException | None) -> bool:
    """Another run holds the place: its status file is its own, so a failure here must not overwrite it."""
    from stratify.errors import RunLocked, caused_by

    return caused_by(exc, RunLocked) is not None


def _airflow_details(context: Mapping[str, Any]) -> dict[str, Any]:
    """The Airflow run id, DAG, task, map index and try of the failed task instance (what is known)."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    return {
        "dag_id": getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", None),
        "run_id": context.get("run_id") or getattr(ti, "run_id", None) or getattr(dag_run, "run_id", None),
        "task_id": getattr(ti, "task_id", None) or getattr(context.get("task"), "task_id", None),
        "map_index": getattr(ti, "map_index", None),
        "try_number": getattr(ti, "try_number", None),
    }


def _place_config_of(context: Mapping[str, Any]) -> str | None:
    """The failed task's place YAML: what the task body recorded, else the DAG's single-place `config` param.

    A multi-place run (`configs`, or the Variable) never falls back to the
    `config` param: that could be another place's status file.
    """
    run = context.get(CONTEXT_RUN)
    if isinstance(run, Mapping) and run.get("config"):
        return str(run["config"])
    if context.get(CONTEXT_CONFIG):
        return str(context[CONTEXT_CONFIG])
    ti = context.get("ti") or context.get("task_instance")
    if "." in str(getattr(ti, "task_id", "") or ""):  # a task of the mapped place group: ask its start_run
        try:
            run = ti.xcom_pull(task_ids=ti.task_id.rsplit(".", 1)[0] + ".start_run", map_indexes=ti.map_index)
            if isinstance(run, Mapping) and run.get("config"):
                return str(run["config"])
        except Exception:  # noqa: BLE001 - the callback may run where XCom cannot be read
            return None
        return None
    params = context.get("params") or {}
    if "configs" in params:  # the many-places DAG: its `config` param may name another place
        return None
    if "config" not in params:  # no place named at all: never the default place's status file
        return None
    return str(config_path(params.get("config") or ""))


def task_failure_callback(context: Mapping[str, Any]) -> None:
    """Every task's `on_failure_callback`: the place's status.json says failed, and one log line says why.

    Runs after the task's last try failed. It never raises (Airflow would log
    the callback's error and people would read that instead of the real one).
    """
    try:
        report_task_failure(context)
    except Exception:  # noqa: BLE001 - a broken callback must not hide the task's own failure
        log.exception("stratify: the failure callback could not report this failure; see the error above it")


def report_task_failure(context: Mapping[str, Any]) -> dict[str, Any]:
    """Write the failed task's place status file (unless another run owns it) and log what to do.

    Returns what was reported (for tests and the log). The first failure of
    a place's run keeps the word: `finish` failing because an earlier stage
    failed does not replace that stage in the status file.
    """
    from stratify.config import ConfigError, load_config
    from stratify.run.status import read_status, status_path, write_status

    details = _airflow_details(context)
    task_id = str(details.get("task_id") or "unknown task")
    stage = task_id.rsplit(".", 1)[-1]
    exc = context.get("exception")
    exc = exc if isinstance(exc, BaseException) else None
    run = context.get(CONTEXT_RUN) if isinstance(context.get(CONTEXT_RUN), Mapping) else {}
    config = _place_config_of(context)
    cfg = None
    report: dict[str, Any] = {"place": run.get("place"), "stage": stage, "delivery": None, "status_file": None,
                              "airflow": details}
    if config:
        try:
            cfg = load_config(config)
        except (ConfigError, OSError) as bad:
            report["message"] = f"the configuration {config} cannot be read: {bad}"
            report["action"] = f"correct {config} and run again; the last good lists stay published"
    if cfg is not None:
        report["place"] = cfg.place
        if exc is not None:
            message, action, delivery = explain(cfg, exc, stage)
        else:
            message = f"stage {stage} failed without an error in this process (killed, timed out or marked failed)"
            action = "see the task's log in Airflow; the next run closes this one; the last good lists stay published"
            delivery = None
        report.update(message=message, action=action, delivery=delivery)
        current = read_status(cfg) or {}
        same_run = run.get("run_id") and current.get("run_id") == run.get("run_id")
        if _is_run_locked(exc):
            report["kept"] = "another run is active and owns the status file"
        elif stage == "finish" and same_run and current.get("status") == "failed" and current.get("stage"):
            report.update(stage=current["stage"], message=current.get("message"), action=current.get("action"),
                          delivery=current.get("delivery"), kept="the stage that failed first keeps the word")
        elif not run and current.get("status") == "running":
            report["kept"] = f"run {current.get('run_id')} is running and owns the status file"
        else:
            write_status(cfg, run.get("run_id"), run.get("as_of"), "failed", stage, message, action,
                         delivery=delivery, airflow=details)
        report["status_file"] = str(status_path(cfg))
    elif "message" not in report:
        report["message"] = f"stage {stage} failed: {type(exc).__name__ + ': ' if exc else ''}{exc or 'no error'}"
        report["action"] = "see the task's log in Airflow; the last good lists stay published"
    log.error("%s", failure_line(report))
    return report


def failure_line(report: Mapping[str, Any]) -> str:
    """One line for the task log: which place, stage and delivery failed, and what to do."""
    air = report.get("airflow") or {}
    parts = [f"stratify FAILED: place {report.get('place') or 'unknown (configuration not read)'}",
             f"stage {report.get('stage')}"]
    if report.get("delivery"):
        parts.append(f"delivery {report['delivery']}")
    parts.append(f"Airflow run {air.get('run_id')} try {air.get('try_number')}")
    line = ", ".join(parts) + f": {report.get('message')}. What to do: {report.get('action')}"
    if report.get("status_file"):
        line += f". Status: {report['status_file']}"
    return line


def dag_failure_callback(context: Mapping[str, Any]) -> None:
    """The DAG run's `on_failure_callback`: one line naming the run, why it failed and where each place says more.

    Runs in Airflow's DAG processor (or in `dag.test()`); never raises.
    """
    try:
        dag_id = getattr(context.get("dag"), "dag_id", None)
        ti = context.get("ti") or context.get("task_instance")
        last = f"; last task {ti.task_id}" if getattr(ti, "task_id", None) else ""
        log.error("stratify DAG %s run %s failed (%s%s): each place's <out>/status.json says which stage failed "
                  "first and what to do; the last good lists stay published",
                  dag_id, context.get("run_id"), context.get("reason") or "a task failed", last)
    except Exception:  # noqa: BLE001
        log.exception("stratify: the DAG failure callback could not report this failure")


# Every task of every stratify DAG: retried, in the warehouse pool, and its failure reported.
DEFAULT_ARGS = {
    "owner": "stratify",
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "pool": WAREHOUSE_POOL,  # DuckDB allows one writer per file: one slot
    "queue": STRATIFY_QUEUE,  # CeleryExecutor: only workers with the place folders (docs/deployment.md)
    "execution_timeout": timedelta(hours=2),
    "on_failure_callback": task_failure_callback,  # status.json + one log line; never raises
}
