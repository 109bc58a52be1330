"""The bodies of the stratify DAGs' tasks: each DAG task is one call to a function here.

The DAG files stay thin (a decorator and one line per task) and cheap to
parse: this module imports only the standard library and
`stratify.airflow.callbacks` at module level; Airflow's task SDK, the stage
modules and the configuration loader are imported inside the functions,
when a task runs.

Each function records the place's configuration path and run context in its
Airflow context (`CONTEXT_CONFIG`, `CONTEXT_RUN`) as soon as it knows them,
so the failure callback (`airflow_support.task_failure_callback`) can write
that place's `status.json`.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import MutableMapping
from typing import Any

from stratify.airflow.callbacks import (
    CONTEXT_CONFIG,
    CONTEXT_RUN,
    StageFailed,
    as_of_from_context,
    config_path,
    explain,
    json_safe,
    load_config_or_fail,
)
from stratify.run.pipeline import STAGES

PLACES_VARIABLE = "stratify_places"  # optional Airflow Variable: a JSON list of place YAMLs
STAGE_OF_TARGET = {target: name for name, target in STAGES}
HELD_ACTION = "see the run's validation.html; the last good lists stay published"


def current_context() -> MutableMapping[str, Any]:
    """The running task's Airflow context; an empty dict outside a task (a test, a shell)."""
    try:
        from airflow.sdk import get_current_context

        return get_current_context()
    except Exception:  # noqa: BLE001 - no task is running: nothing to label or record
        return {}


def label_place(place: str) -> None:
    """Name this task instance's map index after its place, so the Grid shows `wigan`, not `[0]`."""
    current_context()["place_name"] = place  # rendered into the map_index_template after the task


def run_stage(target: str, run: dict[str, Any]) -> dict[str, Any]:
    """Run one stage (`module:function` of `pipeline.STAGES`) for the place's open run; its summary for XCom.

    A held publication is not an error. A configuration error fails the task
    at once (retrying cannot fix it); any other error is raised again as
    `StageFailed`, whose message names the place, stage, delivery and what
    to do, from the original error (so Airflow still retries it).
    """
    from airflow.sdk.exceptions import AirflowFailException

    from stratify.config import ConfigError
    from stratify.run.context import RunContext
    from stratify.run.status import write_status

    module, function = target.split(":")
    stage_name = STAGE_OF_TARGET.get(target, function)
    context = current_context()
    context[CONTEXT_RUN] = dict(run)
    label_place(str(run.get("place", "")))
    cfg = load_config_or_fail(run["config"])
    ctx = RunContext.from_dict(run)
    write_status(cfg, ctx.run_id, ctx.as_of, "running", stage_name)
    stage = getattr(importlib.import_module(module), function)
    held: tuple[type[BaseException], ...] = ()
    if module == "stratify.publish.stage":
        from stratify.publish.stage import PublishHeld

        held = (PublishHeld,)
    try:
        summary = stage(cfg, ctx)
    except held as exc:  # not an error: nothing is published and `latest` stays
        return {"status": "held", "message": str(exc)}
    except ConfigError as exc:  # retrying cannot fix the configuration
        raise AirflowFailException(str(_stage_failed(cfg, ctx.place, exc, stage_name))) from exc
    except Exception as exc:
        raise _stage_failed(cfg, ctx.place, exc, stage_name) from exc
    return json_safe(summary or {})


def _stage_failed(cfg, place: str, exc: BaseException, stage: str) -> StageFailed:
    """The error to raise for a failed stage: what failed (place, stage, delivery) and what to do."""
    try:
        message, action, delivery = explain(cfg, exc, stage)
    except Exception:  # noqa: BLE001 - explaining must never replace the error itself
        message, action, delivery = f"stage {stage} failed: {type(exc).__name__}: {exc}", "see the task log", None
    return StageFailed(place, stage, message, action, delivery)


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


def list_places() -> list[str]:
    """The `places` task: tonight's place YAMLs from the params, else the Variable (read only then)."""
    from airflow.sdk import Variable
    from airflow.sdk.exceptions import AirflowFailException

    params = current_context()["params"]
    try:
        variable = None if params.get("configs") else Variable.get(PLACES_VARIABLE, default=None,
                                                                   deserialize_json=True)
        return place_configs(params.get("configs"), params.get("config"), variable)
    except ValueError as exc:  # includes a Variable that is not JSON: retrying cannot fix it
        raise AirflowFailException(f"places: {exc}") from exc


def open_place_run(config: str) -> dict[str, Any]:
    """Open one place's stratify run for this Airflow run; a retry reopens the same run."""
    from stratify.run.audit import start_run as open_run

    context = current_context()
    context[CONTEXT_CONFIG] = config
    label_place(config)  # until the configuration is read (an invalid one keeps its path as the label)
    cfg = load_config_or_fail(config)
    label_place(cfg.place)
    as_of = as_of_from_context(context, cfg.timezone)
    # One stratify run per place per Airflow run (each place has its own warehouse and runs table).
    airflow_run = hashlib.sha256(context["dag_run"].run_id.encode()).hexdigest()[:12]
    ctx = open_run(cfg, as_of, run_id=f"{as_of:%Y%m%d}-af{airflow_run}")
    run = {**ctx.to_dict(), "config": config}
    context[CONTEXT_RUN] = run
    return run


def close_place_run() -> dict[str, Any]:
    """Close this place's run: published/held if every stage of THIS map index succeeded, else failed.

    A failed run is recorded with the stage that failed first and, when that
    stage's failure callback has already explained it in status.json, the
    same message, delivery and action, so the file's final word names the
    stage that failed first, not `finish`.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from stratify.run.audit import finish_run
    from stratify.run.context import RunContext

    context = current_context()
    ti = context["ti"]
    group = ti.task_id.rsplit(".", 1)[0] + "." if "." in ti.task_id else ""
    mine = {"map_indexes": ti.map_index} if ti.map_index is not None and ti.map_index >= 0 else {}
    # Upstream results are pulled, not passed: after a failure they may not exist and this must still run.
    run = ti.xcom_pull(task_ids=f"{group}start_run", **mine)
    if not run:
        raise AirflowFailException("start_run failed: no run was opened for this place, nothing to close")
    context[CONTEXT_RUN] = run
    label_place(str(run.get("place", "")))
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
        message, action = record_failed_run(cfg, ctx, first, not_ok, ti.run_id, f"{group}{first}")
        raise AirflowFailException(f"place {ctx.place}: run {ctx.run_id} recorded as failed: {message}. "
                                   f"What to do: {action}")
    if (published or {}).get("status") == "held":  # as `stratify run` records a held run
        return json_safe(finish_run(cfg, ctx, "held", published.get("message", ""), stage="publish",
                                    action=HELD_ACTION))
    return json_safe(finish_run(cfg, ctx, "published", (published or {}).get("message", "")))


def record_failed_run(cfg, ctx, first: str, not_ok: dict[str, str], airflow_run_id: str,
                      task_id: str) -> tuple[str, str]:
    """Close the run as failed at stage `first`; (message, action) as recorded in `runs` and status.json.

    Reuses what the failed stage's callback wrote to status.json (its
    explained message, delivery, action and Airflow try) when it is there
    for this run and stage; otherwise says where the task log is.
    """
    from stratify.run.audit import finish_run
    from stratify.run.status import read_status, write_status

    prior = read_status(cfg) or {}
    explained = (prior.get("run_id") == ctx.run_id and prior.get("status") == "failed"
                 and prior.get("stage") == first and prior.get("message"))
    states = ", ".join(f"{t}={s}" for t, s in not_ok.items())
    if explained:
        message = f"{prior['message']} (Airflow run {airflow_run_id}; {states})"
        action = prior.get("action") or ""
    else:
        message = f"stage {first} failed (Airflow run {airflow_run_id}); {states}"
        action = (f"see the log of task {task_id} in Airflow run {airflow_run_id}; "
                  "the last good lists stay published")
    finish_run(cfg, ctx, "failed", message, stage=first, action=action)
    if explained and (prior.get("airflow") or prior.get("delivery")):  # keep the failed try's details
        write_status(cfg, ctx.run_id, ctx.as_of, "failed", first, message, action,
                     delivery=prior.get("delivery"), airflow=prior.get("airflow"))
    return message, action


def train_model_task() -> dict[str, Any]:
    """The monthly `train` task: `stratify.model.train.train_model` for the `config` place and `as_of`."""
    from airflow.sdk.exceptions import AirflowFailException

    from stratify.model.train import NoHistoryYet, train_model

    context = current_context()
    path = config_path(context["params"].get("config") or "")
    context[CONTEXT_CONFIG] = str(path)
    cfg = load_config_or_fail(path)
    try:
        result = train_model(cfg, as_of_from_context(context, cfg.timezone))
    except NoHistoryYet as exc:  # retrying cannot help: a night must load the deliveries first
        raise AirflowFailException(str(exc)) from exc
    return json_safe({k: result[k] for k in ("model_version", "promoted", "why", "path", "model_card")})


def purge_task() -> dict[str, Any]:
    """The weekly `purge` task: `stratify.retention.purge`; a dry run lists what it would remove in the log."""
    from stratify.retention import purge as purge_expired

    context = current_context()
    params = context["params"]
    path = config_path(params.get("config") or "")
    context[CONTEXT_CONFIG] = str(path)
    cfg = load_config_or_fail(path)
    summary = purge_expired(cfg, dry_run=bool(params.get("dry_run")))
    for item in summary.pop("would_remove", []):  # a list for the log, not for XCom
        print(f"would remove {item['kind']} {item['path']} ({item['age_days']} days, {item['bytes']} bytes)")
    return json_safe(summary)
