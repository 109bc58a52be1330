"""
# Nightly risk stratification

Every night at 02:00 (Europe/London) this DAG runs the `stratify` pipeline for
every place, one task per stage, in the order of `docs/architecture.md`:

`places` → for each place (a mapped task group `place`):
`start_run` → `pull` → `discover` → `validate` → `load` → `link` →
`features` → `costs` → `rules` → `score` → `rank` → `measure` → `publish` → `finish`

Each task calls exactly one `stratify` function. Stages exchange data only
through the warehouse and the run's staging folder; XCom carries the small
run context (`run_id`, `place`, `as_of`, the configuration path) and each
stage's short summary. Each place has its own configuration, warehouse and
outputs; inside the group a task waits only for its own place's tasks (the
same map index), so a place that fails or is held holds back no other.

**Params**

- `configs`: the place YAMLs, one per place. Empty means the Airflow Variable
  `stratify_places` (a JSON list of YAML paths) if it is set, else `config`.
- `config`: one place YAML (default: `$STRATIFY_CONFIG`, else
  `examples/place.yaml` in the project); used when `configs` is empty.
- `as_of`: the snapshot date, `YYYY-MM-DD`. Empty means the run's date in the
  place's time zone (Europe/London): the logical date if the run has one,
  otherwise the time it was triggered. Manual runs have no logical date.

**Failures.** Each place's `finish` runs whatever happened upstream in that
place (`all_done`). If every stage of the place succeeded it closes the run
as published (or held, if `publish` held the lists back); otherwise it
records that place's run as `failed` in its audit trail and fails itself, so
the DAG run is failed too while the other places still publish. Publishing
switches `latest` only at its very end, so after a failure the previous lists
stay published.

When a task fails for good, its failure callback writes the place's
`<out>/status.json` (`failed`, the stage, the delivery it names, what to do,
the Airflow run id and try) and logs one line saying the same; `finish` keeps
the stage that failed first. A failing stage's own error says the place,
stage, delivery and what to do (docs/operations.md: "When a night fails").

Configuration errors are not retried; other errors are retried twice.
Every task that opens a warehouse holds the pool `stratify_warehouse` (DuckDB
allows one writer per file; a place's tasks run one after another). With one
slot the places run one at a time; give it as many slots as places may run at
once (`airflow pools set stratify_warehouse 4 "stratify DuckDB warehouses"`),
see docs/scaling.md.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import CronTriggerTimetable, Param, TriggerRule, chain, dag, task, task_group

from stratify.airflow import tasks as airflow_tasks
from stratify.airflow.callbacks import (
    DEFAULT_ARGS,
    DEFAULT_CONFIG,
    LOCAL_TZ,
    dag_failure_callback,
    run_date,  # noqa: F401  (re-exported: the as-of rule is tested through this file)
)
from stratify.airflow.tasks import place_configs  # noqa: F401  (re-exported for the tests)
from stratify.run.pipeline import STAGES

# The UI names each map index after its place (set in the task's context once known; its number until then).
PLACE_LABEL = "{{ place_name | default(ti.map_index) }}"


def _stage_task(task_id: str, target: str):
    @task(task_id=task_id, map_index_template=PLACE_LABEL, doc_md=f"Calls `{target.replace(':', '.')}(cfg, ctx)`.")
    def stage(run: dict[str, Any]) -> dict[str, Any]:
        return airflow_tasks.run_stage(target, run)

    return stage


@dag(
    dag_id="nightly_stratification",
    description="Nightly crisis and wobbling lists for each neighbourhood team, for every place",
    # 02:00 London time whatever the season; a trigger timetable (not a data
    # interval): the run's date is its as-of date unless `as_of` is given.
    schedule=CronTriggerTimetable("0 2 * * *", timezone=LOCAL_TZ),
    start_date=pendulum.datetime(2026, 1, 1, tz=LOCAL_TZ),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=8),
    default_args=DEFAULT_ARGS,  # every task: retries, the warehouse pool, the failure callback
    on_failure_callback=dag_failure_callback,
    tags=["stratify", "nightly", "risk-stratification"],
    params={
        "config": Param(DEFAULT_CONFIG, type="string", minLength=1,
                        description="Path to the place YAML (one place; used when `configs` is empty)"),
        "configs": Param([], type="array", items={"type": "string", "minLength": 1},
                         description="Paths to the place YAMLs, one per place; empty = the Variable "
                                     "stratify_places, else `config`"),
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
    @task(pool="default_pool", retries=0, doc_md="Lists tonight's places (`configs`, the Variable, or `config`).")
    def places() -> list[str]:
        return airflow_tasks.list_places()

    @task_group(group_id="place")
    def place(config: str) -> None:
        """One place's stages; inside a map index each task waits only for its own place."""

        @task(map_index_template=PLACE_LABEL,
              doc_md="Opens the place's run (`stratify.run.audit.start_run`) and returns the run context.")
        def start_run(config: str) -> dict[str, Any]:
            return airflow_tasks.open_place_run(config)

        @task(
            trigger_rule=TriggerRule.ALL_DONE,
            retries=0,
            map_index_template=PLACE_LABEL,
            doc_md="Closes the place's run (`stratify.run.audit.finish_run`): published/held, or failed if a stage failed.",
        )
        def finish() -> dict[str, Any]:
            return airflow_tasks.close_place_run()

        run = start_run(config)
        chain(run, *[_stage_task(*s)(run) for s in STAGES], finish())

    place.expand(config=places())


nightly_stratification()
