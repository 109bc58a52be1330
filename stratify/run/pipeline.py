"""The nightly pipeline without Airflow: the same stage functions, in the DAG's order.

`stratify run` and the tests call `run_pipeline`; the DAG in
`dags/nightly_stratification.py` calls the same functions one task each.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the DAG files import STAGES at parse time: keep this module light
    from stratify.config import PlaceConfig
    from stratify.run.context import RunContext

log = logging.getLogger(__name__)
# (stage name, "module:function"), in order. Imported lazily so that a command
# that needs one stage does not pay for importing GX or scikit-learn.
STAGES: tuple[tuple[str, str], ...] = (
    ("pull", "stratify.ingest.pull:pull_deliveries"),
    ("discover", "stratify.ingest.discover:discover_deliveries"),
    ("validate", "stratify.validate.stage:validate_deliveries"),
    ("load", "stratify.ingest.load:load_deliveries"),
    ("link", "stratify.link:link_persons"),
    ("features", "stratify.features.build:build_features"),
    ("costs", "stratify.costs.stage:cost_people"),
    ("rules", "stratify.rules:apply_rules"),
    ("score", "stratify.score:score_wobbling"),
    ("rank", "stratify.lists.stage:rank_lists"),
    ("measure", "stratify.measures.stage:measure_lists"),
    ("app_access", "stratify.access.app_log:copy_app_access"),
    ("publish", "stratify.publish.stage:publish_lists"),
)


def stage_function(name: str) -> Callable[[PlaceConfig, RunContext], dict]:
    """The function that runs one stage, by stage name."""
    target = dict(STAGES)[name]
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)


def run_pipeline(cfg: PlaceConfig, as_of: date) -> dict:
    """Run every stage for `as_of`; record the run as published, held or failed.

    A held run (e.g. the register was refused) publishes nothing and is not
    an error; any other failure is recorded (the `runs` row, `<out>/status.json`
    with the stage and what to do) and re-raised, and in both cases `latest`
    keeps pointing at the last good run. If even recording the failure fails
    (the warehouse is damaged or the disk is full), the run lock is still
    released and the original error is the one raised; the next run finds
    the run still `running` and closes it as failed, handing back what it
    archived but did not load (`stratify.run.audit.unclosed_runs`).
    """
    from stratify.publish.stage import PublishHeld
    from stratify.run.audit import finish_run, start_run
    from stratify.run.status import explain_failure, write_status

    ctx = start_run(cfg, as_of)
    results: dict[str, dict] = {"run_id": ctx.run_id, "as_of": as_of.isoformat(), "stages": {}, "seconds": {}}
    name = "start"
    try:
        from stratify.model.compat import check_promoted_model

        check_promoted_model(cfg)  # decided before the first stage: a model this install cannot use stops the night here
        for name, _ in STAGES:
            write_status(cfg, ctx.run_id, as_of, "running", name)
            t0 = time.perf_counter()
            results["stages"][name] = stage_function(name)(cfg, ctx)
            results["seconds"][name] = round(time.perf_counter() - t0, 3)
    except PublishHeld as exc:
        results["status"] = finish_run(cfg, ctx, "held", str(exc), stage="publish",
                                       action="see the run's validation.html; the last good lists stay published")["status"]
        results["message"] = str(exc)
        return results
    except BaseException as exc:
        message, action = explain_failure(cfg, exc, name)
        try:
            finish_run(cfg, ctx, "failed", message, stage=name, action=action)
        except Exception as second:  # keep the first error: it is the cause
            log.error("run %s: could not record the failure (%s: %s)", ctx.run_id, type(second).__name__, second)
        raise
    results["status"] = finish_run(cfg, ctx, "published")["status"]
    return results
