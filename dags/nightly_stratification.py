"""
# Nightly risk stratification

Every night at 02:00 (Europe/London) this DAG runs the `stratify` pipeline for
one place, one task per stage, in the order of `docs/architecture.md`:

`start_run` → `pull` → `discover` → `validate` → `load` → `link` →
`features` → `rules` → `score` → `publish` → `finish`

Each task calls exactly one `stratify` function. Stages exchange data only
through the warehouse and the run's staging folder; XCom carries the small
run context (`run_id`, `place`, `as_of`, the configuration path) and each
stage's short summary.

**Params**

- `config`: the place YAML (default: `$STRATIFY_CONFIG`, else
  `examples/place.yaml` in the project).
- `as_of`: the snapshot date, `YYYY-MM-DD`. Empty means the run's date in the
  place's time zone (Europe/London): the logical date if the run has one,
  otherwise the time it was triggered. Manual runs have no logical date.

**Failures.** `finish` runs whatever happened upstream (`all_done`). If every
stage succeeded it closes the run as published (or held, if `publish` held the
lists back); otherwise it records the run as `failed` in the audit trail and
fails itself, so the DAG run is failed too. Publishing switches `latest` only
at its very end, so after a failure the previous lists stay published.

Configuration errors are not retried; other errors are retried twice.
Every task holds the one-slot pool `stratify_warehouse` (DuckDB allows one
writer per file); create it with
`airflow pools set stratify_warehouse 1 "stratify DuckDB warehouse"`.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import CronTriggerTimetable, Param, TriggerRule, chain, dag, get_current_context, task

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = os.environ.get("STRATIFY_CONFIG") or str(PROJECT_ROOT / "examples" / "place.yaml")
LOCAL_TZ = "Europe/London"
WAREHOUSE_POOL = "stratify_warehouse"

# (task_id, module, function): the stages between start_run and finish, in order.
STAGES: tuple[tuple[str, str, str], ...] = (
    ("pull", "stratify.pull", "pull_deliveries"),
    ("discover", "stratify.ingest", "discover_deliveries"),
    ("validate", "stratify.validate", "validate_deliveries"),
    ("load", "stratify.load", "load_deliveries"),
    ("link", "stratify.link", "link_persons"),
    ("features", "stratify.features", "build_features"),
    ("rules", "stratify.rules", "apply_rules"),
    ("score", "stratify.model", "score_wobbling"),
    ("publish", "stratify.publish", "publish_lists"),
)

default_args = {
    "owner": "stratify",
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "pool": WAREHOUSE_POOL,
    "execution_timeout": timedelta(hours=2),
}


def _config_path(raw: str) -> Path:
    """The place YAML; a relative path is relative to the project folder."""
    path = Path(raw or DEFAULT_CONFIG).expanduser()
    return path if path.is_absolute() else (PROJECT_ROOT / path).resolve()


def run_date(logical_date, run_after, tz: str = LOCAL_TZ):
    """The run's date in the place's time zone: its logical date, else when it was triggered, else today.

    Manual and asset-triggered runs have no logical date; a scheduled run at
    02:00 London time has logical date = run_after = that night.
    """
    when = logical_date or run_after or pendulum.now("UTC")
    return pendulum.instance(when).in_timezone(tz).date()


def _json_safe(value: Any) -> Any:
    """A stage summary as plain JSON types (dates, paths and numpy scalars become strings)."""
    import json

    return json.loads(json.dumps(value, default=str))


def _load_config(path: str):
    """Load the place configuration; a configuration error fails the task without retries."""
    from airflow.sdk.exceptions import AirflowFailException

    from stratify.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        raise AirflowFailException(f"configuration {path}: {exc}") from exc


def _run_stage(module: str, function: str, run: dict[str, Any]) -> dict[str, Any]:
    import importlib

    from airflow.sdk.exceptions import AirflowFailException

    from stratify.config import ConfigError
    from stratify.context import RunContext

    cfg = _load_config(run["config"])
    ctx = RunContext.from_dict(run)
    stage = getattr(importlib.import_module(module), function)
    held: tuple[type[BaseException], ...] = ()
    if module == "stratify.publish":
        from stratify.publish import PublishHeld

        held = (PublishHeld,)
    try:
        summary = stage(cfg, ctx)
    except held as exc:  # not an error: nothing is published and `latest` stays
        return {"status": "held", "message": str(exc)}
    except ConfigError as exc:  # retrying cannot fix the configuration
        raise AirflowFailException(f"{module}.{function}: {exc}") from exc
    return _json_safe(summary or {})


def _stage_task(task_id: str, module: str, function: str):
    @task(task_id=task_id, doc_md=f"Calls `{module}.{function}(cfg, ctx)`.")
    def stage(run: dict[str, Any]) -> dict[str, Any]:
        return _run_stage(module, function, run)

    return stage


@dag(
    dag_id="nightly_stratification",
    description="Nightly crisis and wobbling lists for each neighbourhood team",
    # 02:00 London time whatever the season; a trigger timetable (not a data
    # interval): the run's date is its as-of date unless `as_of` is given.
    schedule=CronTriggerTimetable("0 2 * * *", timezone=LOCAL_TZ),
    start_date=pendulum.datetime(2026, 1, 1, tz=LOCAL_TZ),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=8),
    default_args=default_args,
    tags=["stratify", "nightly", "risk-stratification"],
    params={
        "config": Param(DEFAULT_CONFIG, type="string", minLength=1, description="Path to the place YAML"),
        "as_of": Param(
            "",
            type="string",
            pattern=r"^(\d{4}-\d{2}-\d{2})?$",
            description="Snapshot date YYYY-MM-DD; empty = the run's date in Europe/London",
        ),
    },
    doc_md=__doc__,
)
def nightly_stratification():
    @task(doc_md="Opens the run (`stratify.audit.start_run`) and returns the run context.")
    def start_run() -> dict[str, Any]:
        from datetime import date

        from stratify.audit import start_run as open_run

        context = get_current_context()
        params = context["params"]
        config = str(_config_path(params.get("config") or ""))
        cfg = _load_config(config)
        if params.get("as_of"):
            as_of = date.fromisoformat(params["as_of"])
        else:
            dag_run = context["dag_run"]
            as_of = run_date(dag_run.logical_date, dag_run.run_after, cfg.timezone or LOCAL_TZ)
        ctx = open_run(cfg, as_of)
        return {**ctx.to_dict(), "config": config}

    @task(
        trigger_rule=TriggerRule.ALL_DONE,
        retries=0,
        doc_md="Closes the run (`stratify.audit.finish_run`): published/held, or failed if any stage failed.",
    )
    def finish() -> dict[str, Any]:
        # Upstream results are pulled rather than passed as arguments: after a
        # failure they may not exist, and this task must still run.
        from airflow.sdk.exceptions import AirflowFailException

        from stratify.audit import finish_run
        from stratify.context import RunContext

        ti = get_current_context()["ti"]
        run = ti.xcom_pull(task_ids="start_run")
        if not run:
            raise AirflowFailException("start_run failed: no run was opened, nothing to close")
        published = ti.xcom_pull(task_ids="publish")
        stage_ids = [s[0] for s in STAGES]
        states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id], task_ids=stage_ids).get(ti.run_id, {})
        states = {t: str(getattr(states.get(t), "value", states.get(t))) for t in stage_ids}
        not_ok = {t: s for t, s in states.items() if s != "success"}
        cfg = _load_config(run["config"])
        ctx = RunContext.from_dict(run)
        if not_ok:
            first = next(t for t in stage_ids if t in not_ok)
            message = f"stage {first} failed (Airflow run {ti.run_id}); " + ", ".join(
                f"{t}={s}" for t, s in not_ok.items()
            )
            finish_run(cfg, ctx, "failed", message)
            raise AirflowFailException(f"run {ctx.run_id} recorded as failed: {message}")
        status = (published or {}).get("status")
        status = status if status in ("published", "held") else "published"
        return _json_safe(finish_run(cfg, ctx, status, (published or {}).get("message", "")))

    run = start_run()
    chain(run, *[_stage_task(*s)(run) for s in STAGES], finish())


nightly_stratification()
