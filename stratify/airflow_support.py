"""What every stratify DAG file shares: the place config path, the as-of date, plain-JSON summaries.

Imported by `dags/*.py` at parse time, so it imports nothing heavier than
pendulum and the standard library; stratify's stage modules are imported
inside the task bodies that need them.
"""

from __future__ import annotations

import json
import os
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pendulum

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = os.environ.get("STRATIFY_CONFIG") or str(PROJECT_ROOT / "examples" / "place.yaml")
LOCAL_TZ = "Europe/London"
WAREHOUSE_POOL = "stratify_warehouse"

DEFAULT_ARGS = {
    "owner": "stratify",
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "pool": WAREHOUSE_POOL,  # DuckDB allows one writer per file: one slot
    "execution_timeout": timedelta(hours=2),
}


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
