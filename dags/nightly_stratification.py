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

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import CronTriggerTimetable, Param, TriggerRule, chain, dag, get_current_context, task

from stratify.airflow_support import (
    DEFAULT_ARGS,
    DEFAULT_CONFIG,
    LOCAL_TZ,
    as_of_from_context,
    config_path,
    json_safe,
    load_config_or_fail,
    run_date,  # noqa: F401  (re-exported: the as-of rule is tested through this file)
)
from stratify.pipeline import STAGES


def _run_stage(target: str, run: dict[str, Any]) -> dict[str, Any]:
    import importlib

    from airflow.sdk.exceptions import AirflowFailException

    from stratify.config import ConfigError
    from stratify.context import RunContext

    module, function = target.split(":")
    cfg = load_config_or_fail(run["config"])
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
    return json_safe(summary or {})


def _stage_task(task_id: str, target: str):
    @task(task_id=task_id, doc_md=f"Calls `{target.replace(':', '.')}(cfg, ctx)`.")
    def stage(run: dict[str, Any]) -> dict[str, Any]:
        return _run_stage(target, run)

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
    default_args=DEFAULT_ARGS,
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
        import hashlib

        from stratify.audit import start_run as open_run

        context = get_current_context()
        config = str(config_path(context["params"].get("config") or ""))
        cfg = load_config_or_fail(config)
        as_of = as_of_from_context(context, cfg.timezone)
        # One stratify run per Airflow run: a retry of this task reopens the same run.
        airflow_run = hashlib.sha256(context["dag_run"].run_id.encode()).hexdigest()[:12]
        ctx = open_run(cfg, as_of, run_id=f"{as_of:%Y%m%d}-af{airflow_run}")
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
        stage_ids = [name for name, _ in STAGES]
        states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id], task_ids=stage_ids).get(ti.run_id, {})
        states = {t: str(getattr(states.get(t), "value", states.get(t))) for t in stage_ids}
        not_ok = {t: s for t, s in states.items() if s != "success"}
        cfg = load_config_or_fail(run["config"])
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
        return json_safe(finish_run(cfg, ctx, status, (published or {}).get("message", "")))

    run = start_run()
    chain(run, *[_stage_task(*s)(run) for s in STAGES], finish())


nightly_stratification()
