"""
# Monthly training of the wobbling model

On the first of each month at 03:00 (Europe/London) this DAG trains a new
wobbling model from the place's warehouse (`stratify.model.train.train_model`):
monthly snapshots of the history, a logistic-regression baseline against
gradient-boosted trees, a temporal split with a gap of one horizon,
calibration, evaluation on the untouched latest period with fairness by sex,
age band and ethnic group, and a model card (HTML, with the Algorithmic
Transparency Recording Standard fields) beside the saved model.

The new model replaces the promoted one only if it is not worse at each
team's capacity on the same held-out period and no fairness gap exceeds
`model.max_fairness_gap`; otherwise its card says why it was held back. The
nightly DAG always uses the promoted model and records its version.

A failed training writes the place's `<out>/status.json` (stage `train`,
what to do) unless a nightly run is running; the promoted model stays.

**Params**: `config` (the place YAML), `as_of` (`YYYY-MM-DD`; empty = the
run's date in Europe/London).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import CronTriggerTimetable, Param, dag, task

from stratify.airflow import tasks as airflow_tasks
from stratify.airflow.callbacks import DEFAULT_ARGS, DEFAULT_CONFIG, LOCAL_TZ, dag_failure_callback


@dag(
    dag_id="train_wobbling_model",
    description="Monthly: train, evaluate and (if not worse and fair) promote the wobbling model",
    schedule=CronTriggerTimetable("0 3 1 * *", timezone=LOCAL_TZ),
    start_date=pendulum.datetime(2026, 1, 1, tz=LOCAL_TZ),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=4),
    default_args={**DEFAULT_ARGS, "retries": 1},  # with the failure callback: status.json + one log line
    on_failure_callback=dag_failure_callback,
    tags=["stratify", "monthly", "model"],
    params={
        "config": Param(DEFAULT_CONFIG, type="string", minLength=1, description="Path to the place YAML"),
        "as_of": Param("", type="string", pattern=r"^(\d{4}-\d{2}-\d{2})?$",
                       description="Training date YYYY-MM-DD; empty = the run's date in Europe/London"),
    },
    doc_md=__doc__,
)
def train_wobbling_model():
    @task(doc_md="Calls `stratify.model.train.train_model(cfg, as_of)`; returns the version, decision and card path.")
    def train() -> dict[str, Any]:
        return airflow_tasks.train_model_task()

    train()


train_wobbling_model()
