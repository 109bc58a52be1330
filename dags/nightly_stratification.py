"""
# Nightly risk stratification

Every night at 02:00 (Europe/London) this DAG runs the `stratify` pipeline for
every place, one task per stage, in the order of `docs/architecture.md`:

`places` → for each place (a mapped task group `place`):
`start_run` → `pull` → `discover` → `validate` → `load` → `link` →
`features` → `rules` → `score` → `publish` → `finish`

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
from airflow.sdk import CronTriggerTimetable, Param, TriggerRule, chain, dag, get_current_context, task, task_group

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

PLACES_VARIABLE = "stratify_places"  # optional Airflow Variable: a JSON list of place YAMLs
# The UI names each map index after its place (set in the task's context once known; its number until then).
PLACE_LABEL = "{{ place_name | default(ti.map_index) }}"


def _label_place(place: str) -> None:
    """Name this task instance's map index after its place, so the Grid shows `wigan`, not `[0]`."""
    get_current_context()["place_name"] = place  # rendered into PLACE_LABEL after the task


def _run_stage(target: str, run: dict[str, Any]) -> dict[str, Any]:
    import importlib

    from airflow.sdk.exceptions import AirflowFailException

    from stratify.config import ConfigError
    from stratify.context import RunContext

    module, function = target.split(":")
    _label_place(str(run.get("place", "")))
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
    @task(task_id=task_id, map_index_template=PLACE_LABEL, doc_md=f"Calls `{target.replace(':', '.')}(cfg, ctx)`.")
    def stage(run: dict[str, Any]) -> dict[str, Any]:
        return _run_stage(target, run)

    return stage


def place_configs(configs: list[str] | None, config: str | None, variable: Any = None) -> list[str]:
    """The place YAMLs tonight's run covers, as absolute paths, each once.

    The `configs` param if it lists any; else the Airflow Variable
    `stratify_places` (a JSON list, so the scheduled run can cover many
    places without a code change); else the single place `config` (default
    `$STRATIFY_CONFIG`), as before many places were supported.
    """
    if isinstance(variable, str):  # one place given as a bare string
        variable = [variable]
    if variable is not None and not (isinstance(variable, list) and all(isinstance(v, str) for v in variable)):
        raise ValueError(f"the Airflow Variable {PLACES_VARIABLE} must be a JSON list of place YAML paths, "
                         f"e.g. [\"/srv/places/wigan.yaml\"]; it is a {type(variable).__name__}")
    chosen = [c for c in (configs or []) if c] or [c for c in (variable or []) if c] or [config or ""]
    return list(dict.fromkeys(str(config_path(c)) for c in chosen))


def _open_place_run(config: str) -> dict[str, Any]:
    """Open one place's stratify run for this Airflow run; a retry reopens the same run."""
    import hashlib

    from stratify.audit import start_run as open_run

    context = get_current_context()
    _label_place(config)  # until the configuration is read (an invalid one keeps its path as the label)
    cfg = load_config_or_fail(config)
    _label_place(cfg.place)
    as_of = as_of_from_context(context, cfg.timezone)
    # One stratify run per place per Airflow run (each place has its own warehouse and runs table).
    airflow_run = hashlib.sha256(context["dag_run"].run_id.encode()).hexdigest()[:12]
    ctx = open_run(cfg, as_of, run_id=f"{as_of:%Y%m%d}-af{airflow_run}")
    return {**ctx.to_dict(), "config": config}


def _close_place_run() -> dict[str, Any]:
    """Close this place's run: published/held if every stage of THIS map index succeeded, else failed."""
    from airflow.sdk.exceptions import AirflowFailException

    from stratify.audit import finish_run
    from stratify.context import RunContext

    ti = get_current_context()["ti"]
    group = ti.task_id.rsplit(".", 1)[0] + "." if "." in ti.task_id else ""
    mine = {"map_indexes": ti.map_index} if ti.map_index is not None and ti.map_index >= 0 else {}
    # Upstream results are pulled, not passed: after a failure they may not exist and this must still run.
    run = ti.xcom_pull(task_ids=f"{group}start_run", **mine)
    if not run:
        raise AirflowFailException("start_run failed: no run was opened for this place, nothing to close")
    _label_place(str(run.get("place", "")))
    published = ti.xcom_pull(task_ids=f"{group}publish", **mine)
    stage_ids = [f"{group}{name}" for name, _ in STAGES]
    states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id], task_ids=stage_ids,
                                map_index=mine.get("map_indexes")).get(ti.run_id, {})
    suffix = f"_{ti.map_index}" if mine else ""  # mapped task instances are keyed task_id_<map index>
    states = {t: str(getattr(states.get(t + suffix), "value", states.get(t + suffix))) for t in stage_ids}
    not_ok = {t.removeprefix(group): s for t, s in states.items() if s != "success"}
    cfg = load_config_or_fail(run["config"])
    ctx = RunContext.from_dict(run)
    if not_ok:
        first = next(name for name, _ in STAGES if name in not_ok)
        message = f"stage {first} failed (Airflow run {ti.run_id}); " + ", ".join(f"{t}={s}" for t, s in not_ok.items())
        finish_run(cfg, ctx, "failed", message)
        raise AirflowFailException(f"place {ctx.place}: run {ctx.run_id} recorded as failed: {message}")
    status = (published or {}).get("status")
    status = status if status in ("published", "held") else "published"
    return json_safe(finish_run(cfg, ctx, status, (published or {}).get("message", "")))


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
    default_args=DEFAULT_ARGS,
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
        from airflow.sdk import Variable
        from airflow.sdk.exceptions import AirflowFailException

        params = get_current_context()["params"]
        try:
            variable = None if params.get("configs") else Variable.get(PLACES_VARIABLE, default=None,
                                                                       deserialize_json=True)
            return place_configs(params.get("configs"), params.get("config"), variable)
        except ValueError as exc:  # includes a Variable that is not JSON: retrying cannot fix it
            raise AirflowFailException(f"places: {exc}") from exc

    @task_group(group_id="place")
    def place(config: str) -> None:
        """One place's stages; inside a map index each task waits only for its own place."""

        @task(map_index_template=PLACE_LABEL,
              doc_md="Opens the place's run (`stratify.audit.start_run`) and returns the run context.")
        def start_run(config: str) -> dict[str, Any]:
            return _open_place_run(config)

        @task(
            trigger_rule=TriggerRule.ALL_DONE,
            retries=0,
            map_index_template=PLACE_LABEL,
            doc_md="Closes the place's run (`stratify.audit.finish_run`): published/held, or failed if a stage failed.",
        )
        def finish() -> dict[str, Any]:
            return _close_place_run()

        run = start_run(config)
        chain(run, *[_stage_task(*s)(run) for s in STAGES], finish())

    place.expand(config=places())


nightly_stratification()
