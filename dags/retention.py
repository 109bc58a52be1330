"""
# Weekly retention

Every Sunday at 04:00 (Europe/London) this DAG removes what the place keeps
no longer (`stratify.retention.purge`), as `stratify purge` does:

- published runs (`<out>/runs/<run_id>/`) whose as-of date is more than
  `retention.runs_days` ago (default 400), never the one `latest` points at;
- archived deliveries whose delivery date is more than
  `retention.archive_days` ago (default 2555, seven years);
- quarantined files with their reasons, and staging folders left by failed or
  held runs, older than `retention.quarantine_days` (default 90).

Each removal is a row of the warehouse table `purges` (when, kind, path,
age, bytes, rule). The task holds the `stratify_warehouse` pool, so it never
runs beside the nightly run.

**Params**: `config` (the place YAML); `dry_run` (true = only list what
would be removed, in the task log).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import CronTriggerTimetable, Param, dag, task

from stratify.airflow import tasks as airflow_tasks
from stratify.airflow.callbacks import DEFAULT_ARGS, DEFAULT_CONFIG, LOCAL_TZ, dag_failure_callback


@dag(
    dag_id="retention",
    description="Weekly: remove runs, archived deliveries and quarantined files past their retention",
    schedule=CronTriggerTimetable("0 4 * * 0", timezone=LOCAL_TZ),
    start_date=pendulum.datetime(2026, 1, 1, tz=LOCAL_TZ),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args={**DEFAULT_ARGS, "retries": 1},  # with the failure callback: status.json + one log line
    on_failure_callback=dag_failure_callback,
    tags=["stratify", "weekly", "retention"],
    params={
        "config": Param(DEFAULT_CONFIG, type="string", minLength=1, description="Path to the place YAML"),
        "dry_run": Param(False, type="boolean", description="Only list what would be removed"),
    },
    doc_md=__doc__,
)
def retention():
    @task(doc_md="Calls `stratify.retention.purge(cfg)`; returns what was removed, by kind (counts and bytes).")
    def purge() -> dict[str, Any]:
        return airflow_tasks.purge_task()

    purge()


retention()
